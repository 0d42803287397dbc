import { describe, it, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { RedisServer, freePort } from '../../agent/test/helpers/redis-server.js';
import { ALERTS_EVENTS_KEY, ALERTS_STATE_KEY } from '../../shared/src/keys.js';
import { AlertService } from '../src/alerts/service.js';
import { AlertStatePersistence } from '../src/alerts/persist.js';
import { fingerprintOf } from '../src/alerts/engine.js';
import { rulesFileSchema } from '../src/alerts/rule-schema.js';
import { makePayload } from './helpers/payload.js';
import { Receiver } from './helpers/receiver.js';

describe('alert state in a real redis-server', () => {
  let server: RedisServer;
  let redis: Redis;
  let rx: Receiver;
  let t = 5_000_000;
  const clock = (): number => t;

  before(async () => {
    const port = await freePort();
    server = new RedisServer(port);
    await server.start();
    redis = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 1 });
    rx = new Receiver(() => 200);
    await rx.start();
  });
  after(async () => {
    redis.disconnect();
    await rx.stop();
    await server.stop();
  });
  beforeEach(async () => {
    await redis.flushall();
    rx.requests.length = 0;
  });

  const rules = (): ReturnType<typeof rulesFileSchema.parse> => rulesFileSchema.parse({
    notify: { webhooks: [rx.url], repeat_interval: '1h' },
    rules: [{ id: 'mem', name: 'Memory', metric: 'memory_percent', warn: 90, for: '10s' }],
  });
  const service = async (extra: { valueFlushMs?: number } = {}): Promise<AlertService> => {
    const s = new AlertService({ redis, rules: rules(), isLeader: () => true, clock, delivery: { baseDelayMs: 10 }, ...extra });
    await s.start();
    await s.onLeadership(true);
    return s;
  };

  it('a restart keeps a pending countdown and does not re-send a firing notification', async () => {
    const a = await service();
    a.onSample(makePayload({ memory_percent: 95 }));
    await a.idle();
    t += 6000;
    a.tick();
    await a.stop();

    const b = await service();
    const fp = fingerprintOf('mem', 'web-1', null);
    assert.equal(b.engine.get(fp)?.state, 'pending');
    assert.equal(b.engine.get(fp)?.active_at, 5_000_000, 'countdown start survived the restart');
    t += 4000;
    assert.deepEqual(b.tick().map((x) => x.kind), ['firing'], '10 s after the first sample, not 10 s after the restart');
    await b.idle();
    assert.equal(rx.successes().length, 1);
    await b.stop();

    const c = await service();
    c.tick();
    c.onSample(makePayload({ memory_percent: 96 }));
    await c.idle();
    assert.equal(rx.successes().length, 1, 'no second firing notification after another restart');
    const hist = await c.history(10);
    assert.deepEqual(hist.transitions.map((x) => x.kind), ['firing', 'pending'], 'newest first');
    t += 1000;
    c.onSample(makePayload({ memory_percent: 10 }));
    await c.idle();
    const sent = rx.successes().map((r) => (r.body as { status: string }).status);
    assert.deepEqual(sent, ['firing', 'resolved']);
    await c.stop();
  });

  it('corrupt state fields are reported and left in place; the rest loads', async () => {
    const a = await service();
    a.onSample(makePayload({ memory_percent: 95 }));
    await a.stop();
    await redis.hset(ALERTS_STATE_KEY, 'deadbeef', '{not json', 'cafe', JSON.stringify({ fingerprint: 'cafe', state: 'exploded' }), 'seen:x', 'yesterday');
    await redis.xadd(ALERTS_EVENTS_KEY, '*', 'kind', 'weird');
    const p = new AlertStatePersistence(redis);
    const loaded = await p.load();
    assert.deepEqual(loaded.corrupt.sort(), ['cafe', 'deadbeef', 'seen:x']);
    assert.deepEqual(loaded.instances.map((i) => i.fingerprint), [fingerprintOf('mem', 'web-1', null)]);
    assert.equal(await redis.hget(ALERTS_STATE_KEY, 'deadbeef'), '{not json', 'nothing deleted');
    const h = await p.history(10);
    assert.equal(h.corrupt, 1);
    assert.equal(h.transitions.length, 1);
  });

  it('only a leader writes state', async () => {
    const s = new AlertService({ redis, rules: rules(), isLeader: () => false, clock });
    await s.start();
    await s.onLeadership(false);
    s.onSample(makePayload({ memory_percent: 95 }));
    await s.idle();
    assert.equal(await redis.exists(ALERTS_STATE_KEY), 0);
    assert.equal(s.active().length, 1, 'a follower still evaluates and serves reads');
  });

  const stored = async (fp: string): Promise<{ state: string; value: number | null } | null> => {
    const raw = await redis.hget(ALERTS_STATE_KEY, fp);
    return raw === null ? null : (JSON.parse(raw) as { state: string; value: number | null });
  };
  /** Lets queued flushes (one per event-loop turn) reach redis-server. */
  const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 100));

  it('edges are written at once, values that only moved in one batch per valueFlushMs', async () => {
    const s = await service({ valueFlushMs: 10_000 });
    const fp = fingerprintOf('mem', 'web-1', null);
    s.onSample(makePayload({ memory_percent: 95 }));
    await settle();
    const first = await stored(fp);
    assert.equal(first?.state, 'pending');
    assert.equal(first.value, 95);
    t += 1000;
    s.onSample(makePayload({ memory_percent: 96 }));
    s.tick();
    await settle();
    assert.equal((await stored(fp))?.value, 95, 'a moved value waits for the batch');
    t += 10_000;
    s.tick();
    await settle();
    const now = await stored(fp);
    assert.equal(now?.state, 'firing', 'the firing edge was written');
    assert.equal(now.value, 96, 'the batch carried the moved value');
    await s.stop();
  });

  it('a failed write is not lost: the next flush rewrites everything', async () => {
    const s = await service();
    await s.idle();
    await redis.set(ALERTS_STATE_KEY, 'not a hash');
    const fp = fingerprintOf('mem', 'web-1', null);
    s.onSample(makePayload({ memory_percent: 95 }));
    await settle();
    assert.equal(await redis.type(ALERTS_STATE_KEY), 'string', 'HSET failed against the wrong type');
    await redis.del(ALERTS_STATE_KEY);
    t += 1000;
    s.tick();
    await settle();
    assert.equal((await stored(fp))?.state, 'pending', 'the pending edge of the failed batch arrived later');
    t += 10_000;
    s.tick();
    await s.idle();
    const hist = await s.history(10);
    assert.deepEqual(hist.transitions.map((x) => x.kind), ['firing', 'pending'], 'the failed batch\'s transition reached the history too, in order');
    await s.stop();
  });

  it('transitions survive a failed history write and a full rewrite, once each and in order', async () => {
    const s = await service();
    await s.idle();
    // The history stream's key holds the wrong type: the pending transition cannot be written.
    await redis.set(ALERTS_EVENTS_KEY, 'not a stream');
    const fp = fingerprintOf('mem', 'web-1', null);
    s.onSample(makePayload({ memory_percent: 95 }));
    await settle();
    await redis.del(ALERTS_EVENTS_KEY);
    // The next flush is a full rewrite that also carries the new firing transition.
    t += 10_000;
    s.tick();
    await settle();
    assert.equal((await stored(fp))?.state, 'firing');
    const hist = await s.history(10);
    assert.deepEqual(hist.transitions.map((x) => x.kind), ['firing', 'pending']);
    await s.stop();
  });
  it('a sliced tick gives the same edges and notifications as tick(), spread over several event-loop turns', async () => {
    const s = await service();
    for (let n = 0; n < 3000; n++) s.onSample(makePayload({ name: `big-${n}`, memory_percent: n < 2 ? 95 : 10 }));
    await s.idle();
    t += 11_000;
    let turns = 0;
    let counting = true;
    const count = (): void => {
      turns += 1;
      if (counting) setImmediate(count);
    };
    setImmediate(count);
    // 0 ms slices: a turn after every 64 steps (3,000 containers, then their instances).
    const ts = await s.tickSliced(0);
    counting = false;
    assert.deepEqual(ts.filter((x) => x.rule_id === 'mem').map((x) => `${x.container}:${x.kind}`).sort(), ['big-0:firing', 'big-1:firing']);
    // ~47 slices of 64 steps; the counter starts one turn late.
    assert.ok(turns >= Math.floor(3000 / 64) - 1, `yielded between slices (${turns} turns)`);
    // A second call while one runs is a no-op, not a second pass.
    const [x, y] = await Promise.all([s.tickSliced(1), s.tickSliced(1)]);
    assert.deepEqual(y, []);
    assert.deepEqual(x, []);
    await s.idle();
    const deadline = Date.now() + 5000;
    while (rx.requests.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const fired = rx.requests.flatMap((r) => (r.body as { alerts: { labels: Record<string, string> }[] }).alerts.map((a) => a.labels.container));
    assert.deepEqual(fired.sort(), ['big-0', 'big-1'], 'the notification pass ran in slices too');
    await s.stop();
  });
});
