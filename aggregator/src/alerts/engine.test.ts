import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AlertEngine, fingerprintOf, VALKEY_RULE_ID } from './engine.js';
import { rulesFileSchema } from './rule-schema.js';
import { makePayload, type SampleOverrides } from '../../test/helpers/payload.js';
import type { Transition } from './state.js';

/** A manual clock: tests move time explicitly. */
function clock(start = 1_000_000): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => { t += ms; } };
}

const rules = rulesFileSchema.parse({
  rules: [
    { id: 'mem', name: 'Memory', metric: 'memory_percent', warn: 90, crit: 97, clear: { warn: 85, crit: 95 }, for: '2s' },
    { id: 'thr', name: 'Throttle', metric: 'cpu.throttled_percent', warn: 25, for: 0, keep_firing_for: '3s' },
    { id: 'gpu_t', name: 'GPU temp', metric: 'gpus[].temperature_c', warn: 85, for: '1s', match: ['gpu-*'] },
    { id: 'oom', name: 'OOM', kind: 'increase', metric: 'memory.oom_kills_total' },
    { id: 'restart', name: 'Restarted', kind: 'decrease', metric: 'uptime_seconds', severity: 'warning' },
    { id: 'down', name: 'Down', kind: 'container_down', stale_intervals: 3, critical_intervals: 10 },
  ],
});

function kinds(ts: Transition[], rule: string): string[] {
  return ts.filter((t) => t.rule_id === rule).map((t) => `${t.kind}:${t.severity ?? '-'}`);
}

function setup(): { e: AlertEngine; c: ReturnType<typeof clock>; feed: (o: SampleOverrides) => Transition[] } {
  const c = clock();
  const e = new AlertEngine(rules, c.now);
  return { e, c, feed: (o) => e.onSample(makePayload(o)) };
}

describe('AlertEngine threshold rules', () => {
  it('inactive → pending → firing after `for`, then resolved', () => {
    const { e, c, feed } = setup();
    assert.deepEqual(kinds(feed({ memory_percent: 92 }), 'mem'), ['pending:warning']);
    c.advance(1000);
    assert.deepEqual(kinds(e.tick(), 'mem'), []);
    c.advance(1000);
    assert.deepEqual(kinds(e.tick(), 'mem'), ['firing:warning']);
    const fp = fingerprintOf('mem', 'web-1', null);
    assert.equal(e.get(fp)?.fired_at, 1_002_000);
    assert.equal(e.get(fp)?.active_at, 1_000_000);
    c.advance(1000);
    assert.deepEqual(kinds(feed({ memory_percent: 50 }), 'mem'), ['resolved:warning']);
    assert.equal(e.get(fp)?.state, 'resolved');
  });

  it('a pending alert that clears goes back to inactive without firing', () => {
    const { c, feed } = setup();
    feed({ memory_percent: 92 });
    c.advance(1000);
    assert.deepEqual(kinds(feed({ memory_percent: 40 }), 'mem'), ['inactive:-']);
  });

  it('hysteresis: warning holds until below clear.warn, critical until below clear.crit', () => {
    const { c, feed } = setup();
    feed({ memory_percent: 98 });
    c.advance(2000);
    assert.deepEqual(kinds(feed({ memory_percent: 98 }), 'mem'), ['firing:critical']);
    c.advance(1000);
    assert.deepEqual(kinds(feed({ memory_percent: 96 }), 'mem'), [], 'between crit 97 and clear 95: still critical');
    assert.deepEqual(kinds(feed({ memory_percent: 94 }), 'mem'), ['severity:warning'], 'below clear.crit: down to warning');
    assert.deepEqual(kinds(feed({ memory_percent: 88 }), 'mem'), [], 'between warn 90 and clear 85: still warning');
    assert.deepEqual(kinds(feed({ memory_percent: 97.5 }), 'mem'), ['severity:critical']);
    assert.deepEqual(kinds(feed({ memory_percent: 84 }), 'mem'), ['resolved:critical']);
    assert.deepEqual(kinds(feed({ memory_percent: 88 }), 'mem'), [], 'a fresh episode needs warn (90), not clear (85)');
  });

  it('keep_firing_for debounces a flapping value', () => {
    const { e, c, feed } = setup();
    assert.deepEqual(kinds(feed({ throttled_percent: 30 }), 'thr'), ['firing:warning']);
    c.advance(1000);
    assert.deepEqual(kinds(feed({ throttled_percent: 5 }), 'thr'), []);
    c.advance(1000);
    assert.deepEqual(kinds(feed({ throttled_percent: 30 }), 'thr'), []);
    c.advance(2999);
    assert.deepEqual(kinds(feed({ throttled_percent: 5 }), 'thr'), []);
    c.advance(1);
    assert.deepEqual(kinds(e.tick(), 'thr'), ['resolved:warning']);
  });

  it('GPU rules make one instance per uuid and honour match globs', () => {
    const { c, e } = setup();
    const gpus = [{ uuid: 'GPU-a', temperature_c: 90 }, { uuid: 'GPU-b', temperature_c: 60 }];
    assert.deepEqual(kinds(e.onSample(makePayload({ name: 'web-1', gpus })), 'gpu_t'), [], 'web-1 does not match gpu-*');
    const t = e.onSample(makePayload({ name: 'gpu-1', gpus })).filter((x) => x.rule_id === 'gpu_t');
    assert.deepEqual(t.map((x) => [x.instance, x.kind]), [['GPU-a', 'pending']]);
    c.advance(1000);
    e.onSample(makePayload({ name: 'gpu-1', gpus: [{ uuid: 'GPU-a', temperature_c: 91 }, { uuid: 'GPU-b', temperature_c: 95 }] }));
    assert.equal(e.get(fingerprintOf('gpu_t', 'gpu-1', 'GPU-a'))?.state, 'firing');
    assert.equal(e.get(fingerprintOf('gpu_t', 'gpu-1', 'GPU-b'))?.state, 'pending');
    // GPU-a removed from the container: its alert resolves.
    const gone = e.onSample(makePayload({ name: 'gpu-1', gpus: [{ uuid: 'GPU-b', temperature_c: 95 }] }));
    assert.deepEqual(gone.filter((x) => x.instance === 'GPU-a').map((x) => x.kind), ['resolved']);
  });
});

describe('AlertEngine change rules', () => {
  it('an OOM kill fires at once and resolves on the next sample without one', () => {
    const { c, feed } = setup();
    assert.deepEqual(kinds(feed({ oom_kills_total: 2 }), 'oom'), [], 'first sample: no previous value');
    c.advance(5000);
    assert.deepEqual(kinds(feed({ oom_kills_total: 3 }), 'oom'), ['firing:critical']);
    c.advance(5000);
    assert.deepEqual(kinds(feed({ oom_kills_total: 3 }), 'oom'), ['resolved:critical']);
  });

  it('uptime going down is a restart', () => {
    const { c, feed } = setup();
    feed({ uptime_seconds: 500 });
    c.advance(5000);
    assert.deepEqual(kinds(feed({ uptime_seconds: 505 }), 'restart'), []);
    c.advance(5000);
    assert.deepEqual(kinds(feed({ uptime_seconds: 3 }), 'restart'), ['firing:warning']);
  });
});

describe('AlertEngine container_down and Valkey outages', () => {
  it('warning after 3 intervals, critical after 10, resolved by the next sample', () => {
    const { e, c, feed } = setup();
    feed({ interval_seconds: 1 });
    c.advance(2999);
    assert.deepEqual(kinds(e.tick(), 'down'), []);
    c.advance(1);
    assert.deepEqual(kinds(e.tick(), 'down'), ['firing:warning']);
    c.advance(7000);
    assert.deepEqual(kinds(e.tick(), 'down'), ['severity:critical']);
    assert.deepEqual(kinds(feed({ interval_seconds: 1 }), 'down'), ['resolved:critical']);
  });

  it('while a container is down its other alerts hold their state', () => {
    const { e, c, feed } = setup();
    feed({ interval_seconds: 1, throttled_percent: 30 });
    assert.equal(e.get(fingerprintOf('thr', 'web-1', null))?.state, 'firing');
    c.advance(3000);
    const t = e.tick();
    assert.deepEqual(kinds(t, 'down'), ['firing:warning']);
    assert.deepEqual(kinds(t, 'thr'), [], 'keep_firing_for (3 s) passed but the container is down: held');
    c.advance(60_000);
    assert.deepEqual(kinds(e.tick(), 'thr'), []);
    assert.equal(e.get(fingerprintOf('thr', 'web-1', null))?.state, 'firing');
  });

  it('fleet status stale/offline also holds alerts; exited clears container_down', () => {
    const { e, c, feed } = setup();
    feed({ interval_seconds: 1, throttled_percent: 30 });
    e.onContainerStatus('web-1', 'offline');
    c.advance(5000);
    assert.deepEqual(kinds(e.tick(), 'thr'), []);
    e.onContainerStatus('web-1', 'exited');
    const t = e.tick();
    assert.ok(!kinds(t, 'down').some((k) => k.startsWith('firing')));
  });

  it('a Valkey outage fires one valkey_unreachable and suspends container_down', () => {
    const { e, c, feed } = setup();
    feed({ name: 'a', interval_seconds: 1 });
    feed({ name: 'b', interval_seconds: 1 });
    assert.deepEqual(kinds(e.onValkeyUp(false), VALKEY_RULE_ID), ['firing:critical']);
    c.advance(20_000);
    assert.deepEqual(kinds(e.tick(), 'down'), [], 'no container_down during the outage');
    assert.deepEqual(kinds(e.onValkeyUp(true), VALKEY_RULE_ID), ['resolved:critical']);
    c.advance(2000);
    assert.deepEqual(kinds(e.tick(), 'down'), [], 'staleness restarts when Valkey is back');
    c.advance(1000);
    assert.deepEqual(kinds(e.tick(), 'down'), ['firing:warning', 'firing:warning']);
  });
});

describe('AlertEngine.prune', () => {
  it('forgets resolved instances and unseen containers after the retention, keeps firing ones', () => {
    const { e, c, feed } = setup();
    feed({ name: 'a', memory_percent: 95, throttled_percent: 30 });
    c.advance(2000);
    feed({ name: 'a', memory_percent: 95, throttled_percent: 5 });
    c.advance(3000);
    e.tick();
    const thr = fingerprintOf('thr', 'a', null);
    const mem = fingerprintOf('mem', 'a', null);
    assert.equal(e.get(thr)?.state, 'resolved');
    assert.equal(e.get(mem)?.state, 'firing');
    assert.deepEqual(e.prune(10_000), { fingerprints: [], containers: [] }, 'nothing is old enough yet');
    c.advance(10_001);
    const gone = e.prune(10_000);
    assert.ok(gone.fingerprints.includes(thr));
    assert.ok(!gone.fingerprints.includes(mem), 'a firing alert is never forgotten');
    assert.deepEqual(gone.containers, ['a']);
    assert.equal(e.get(thr), undefined);
  });
});

describe('AlertEngine.setRules', () => {
  it('alerts of a removed rule resolve at once; the rules that stay keep their state', () => {
    const { e, c, feed } = setup();
    feed({ memory_percent: 95, throttled_percent: 30 });
    c.advance(2000);
    e.tick();
    assert.equal(e.get(fingerprintOf('mem', 'web-1', null))?.state, 'firing');
    const kept = { ...rules, rules: rules.rules.filter((r) => r.id !== 'thr') };
    const t = e.setRules(kept);
    assert.deepEqual(t.map((x) => `${x.rule_id}:${x.kind}`), ['thr:resolved']);
    assert.equal(e.get(fingerprintOf('mem', 'web-1', null))?.state, 'firing');
    assert.equal(e.rule('thr')?.name, 'Throttle', 'the removed rule still describes its last notification');
    c.advance(1000);
    assert.deepEqual(kinds(feed({ throttled_percent: 30 }), 'thr'), [], 'a removed rule is not evaluated');
  });
});

describe('AlertEngine change tracking (what the leader writes, and when)', () => {
  it('an edge is an urgent change; a value that only moved is a lazy one', () => {
    const { e, c, feed } = setup();
    const fp = fingerprintOf('mem', 'web-1', null);
    feed({ memory_percent: 92 });
    assert.ok(e.drainDirty().some((i) => i.fingerprint === fp), 'pending is urgent');
    e.drainValueDirty();
    c.advance(500);
    feed({ memory_percent: 93 });
    assert.ok(!e.drainDirty().some((i) => i.fingerprint === fp), 'same state, new value: not urgent');
    const lazy = e.drainValueDirty().find((i) => i.fingerprint === fp);
    assert.equal(lazy?.value, 93);
    c.advance(1500);
    e.tick();
    assert.equal(e.drainDirty().find((i) => i.fingerprint === fp)?.state, 'firing');
  });

  it('a new container is urgent; its later samples only move last-seen lazily', () => {
    const { e, c, feed } = setup();
    feed({ name: 'a', memory_percent: 10 });
    assert.deepEqual([...e.drainSeen(false).keys()], ['a']);
    c.advance(1000);
    feed({ name: 'a', memory_percent: 10 });
    assert.equal(e.drainSeen(false).size, 0);
    assert.equal(e.drainSeen(true).get('a')?.at, 1_001_000);
    feed({ name: 'a', memory_percent: 10, interval_seconds: 10 });
    assert.equal(e.drainSeen(false).get('a')?.intervalMs, 10_000, 'a new interval is urgent');
  });

  it('a status change re-evaluates that container only', () => {
    const { e, c, feed } = setup();
    feed({ name: 'a' });
    feed({ name: 'b' });
    c.advance(16_000);
    const ts = e.onContainerStatus('a', 'stale');
    assert.deepEqual(ts.map((t) => `${t.container}:${t.rule_id}:${t.kind}`), ['a:down:firing']);
    assert.deepEqual(e.tick().map((t) => `${t.container}:${t.kind}`), ['b:firing']);
  });

  it('the per-container index follows prune', () => {
    const { e, c, feed } = setup();
    feed({ name: 'a', memory_percent: 99 });
    c.advance(100);
    feed({ name: 'a', memory_percent: 10 });
    assert.ok(e.ofContainer('a').some((i) => i.rule_id === 'mem'));
    c.advance(25 * 3600_000);
    const gone = e.prune(24 * 3600_000);
    assert.ok(gone.fingerprints.includes(fingerprintOf('mem', 'a', null)));
    assert.ok(!e.ofContainer('a').some((i) => i.rule_id === 'mem'));
  });
});

describe('AlertEngine at fleet scale', () => {
  it('a healthy sample keeps no threshold instance; change rules keep their previous value', () => {
    const { e, feed } = setup();
    feed({ name: 'calm', memory_percent: 10, throttled_percent: 0, uptime_seconds: 100 });
    const kept = e.ofContainer('calm').map((i) => i.rule_id).sort();
    // mem and thr are healthy (nothing kept); oom and restart hold last_value; down has no instance until stale.
    assert.deepEqual(kept, ['oom', 'restart']);
    assert.equal(e.ofContainer('calm').find((i) => i.rule_id === 'restart')?.last_value, 100);
  });

  it('tickSteps is tick() in steps: one per container and per instance, the same transitions', () => {
    const twins = [setup(), setup()];
    for (const { feed } of twins) {
      for (let n = 0; n < 300; n++) feed({ name: `c-${n}`, interval_seconds: n % 2 === 0 ? 1 : 5, memory_percent: n % 3 === 0 ? 95 : 10, uptime_seconds: 50 });
    }
    for (const { c } of twins) c.advance(4000);
    const [a, b] = twins;
    assert.ok(a !== undefined && b !== undefined);
    const whole = a.e.tick();
    const out: Transition[] = [];
    const steps = b.e.tickSteps(out);
    let count = 0;
    while (steps.next().done !== true) count += 1;
    // 300 containers, then each instance (pending mem, oom, restart, and the down ones the first pass made).
    assert.equal(count, 300 + b.e.all().length);
    const key = (t: Transition): string => `${t.fingerprint}:${t.kind}:${t.severity ?? '-'}`;
    assert.deepEqual(out.map(key), whole.map(key));
    // After 4 s: the 150 on a 1 s interval are down (3 intervals); of the 100 high-memory ones the 50
    // on a 5 s interval went firing after `for`, the 50 down ones hold their pending state.
    assert.equal(kinds(out, 'down').length, 150);
    assert.equal(kinds(out, 'mem').filter((k) => k === 'firing:warning').length, 50);
  });
});
