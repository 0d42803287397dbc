import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { RedisServer, freePort } from '../../agent/test/helpers/redis-server.js';
import { AlertService } from '../src/alerts/service.js';
import { LeaderElector } from '../src/alerts/leader.js';
import { rulesFileSchema } from '../src/alerts/rule-schema.js';
import { makePayload } from './helpers/payload.js';
import { Receiver } from './helpers/receiver.js';

interface Pipeline {
  redis: Redis;
  elector: LeaderElector;
  service: AlertService;
}

async function waitFor(what: string, ms: number, probe: () => boolean): Promise<void> {
  const t0 = Date.now();
  while (Date.now() - t0 < ms) {
    if (probe()) return;
    await sleep(20);
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}`);
}

/** A redis-server and a webhook receiver per suite; the suite's replicas are stopped after it. */
function replicaFixture(plan: (n: number) => number): { server: () => RedisServer; port: () => number; rx: () => Receiver; pipelines: Pipeline[] } {
  let server: RedisServer | null = null;
  let rx: Receiver | null = null;
  let port = 0;
  const pipelines: Pipeline[] = [];
  before(async () => {
    port = await freePort();
    server = new RedisServer(port);
    await server.start();
    rx = new Receiver(plan);
    await rx.start();
  });
  after(async () => {
    for (const p of pipelines) {
      await p.elector.stop();
      await p.service.stop();
      p.redis.disconnect();
    }
    await rx?.stop();
    await server?.stop();
  });
  const need = <T>(v: T | null, what: string): T => {
    if (v === null) throw new Error(`${what} not started (before() did not run)`);
    return v;
  };
  return { server: () => need(server, 'redis-server'), port: () => port, rx: () => need(rx, 'receiver'), pipelines };
}

describe('three aggregators, one leader, exactly-once webhooks', () => {
  // Two 503s, then accept everything.
  const fx = replicaFixture((n) => (n < 2 ? 503 : 200));
  const pipelines = fx.pipelines;

  it('delivers firing once through two 503s, and resolved once after the leader is killed mid-alert', async () => {
    const rx = fx.rx();
    const port = fx.port();
    const rules = rulesFileSchema.parse({
      notify: { webhooks: [rx.url], send_resolved: true },
      rules: [{ id: 'thr', name: 'Throttled', metric: 'cpu.throttled_percent', warn: 25 }],
    });
    for (let i = 0; i < 3; i++) {
      const redis = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 1, commandTimeout: 500 });
      redis.on('error', () => undefined);
      const elector = new LeaderElector(redis, { id: `agg-${i}`, ttlMs: 1500, renewMs: 300 });
      const service = new AlertService({ redis, rules, isLeader: () => elector.isLeader(), delivery: { baseDelayMs: 50, timeoutMs: 1000 } });
      await service.start();
      elector.on('change', (l) => void service.onLeadership(l));
      elector.start();
      pipelines.push({ redis, elector, service });
    }
    await waitFor('a leader', 3000, () => pipelines.some((p) => p.elector.isLeader()));
    const feed = (list: Pipeline[], throttled: number): void => {
      for (const p of list) p.service.onSample(makePayload({ throttled_percent: throttled }));
    };
    feed(pipelines, 40);
    await waitFor('the firing delivery', 5000, () => rx.successes().length >= 1);
    await sleep(800);
    for (const p of pipelines) await p.service.idle();
    assert.equal(rx.requests.length, 3, 'two 503s and one success, from the leader only');
    assert.equal(rx.successes().length, 1);
    const keys = new Set(rx.requests.map((r) => r.headers['idempotency-key']));
    assert.equal(keys.size, 1, 'retries carry the same idempotency key');

    // Kill the leader mid-alert: its connection dies and it gets no more samples.
    const leader = pipelines.find((p) => p.elector.isLeader());
    assert.ok(leader !== undefined);
    leader.redis.disconnect();
    const rest = pipelines.filter((p) => p !== leader);
    feed(rest, 5);
    await waitFor('the resolved delivery', 6000, () => rx.successes().length >= 2);
    await sleep(1000);
    for (const p of rest) await p.service.idle();
    const statuses = rx.successes().map((r) => (r.body as { status: string }).status);
    assert.deepEqual(statuses, ['firing', 'resolved'], 'firing once, resolved once');
    const [firing, resolved] = rx.successes().map((r) => r.body as { alerts: { startsAt: string; endsAt: string; fingerprint: string }[] });
    assert.equal(resolved?.alerts[0]?.startsAt, firing?.alerts[0]?.startsAt, 'the successor announces the same startsAt');
    assert.equal(resolved?.alerts[0]?.fingerprint, firing?.alerts[0]?.fingerprint);
    assert.notEqual(resolved?.alerts[0]?.endsAt, '0001-01-01T00:00:00Z');
    assert.equal(rest.filter((p) => p.elector.isLeader()).length, 1);
  });
});

describe('Valkey itself unreachable: one valkey_unreachable notification from three replicas', () => {
  // Two 503s first: with 1 s backoff the success comes after the old leader's lease has lapsed.
  const fx = replicaFixture((n) => (n < 2 ? 503 : 200));
  const pipelines = fx.pipelines;

  it('the replica that led when Valkey went away sends firing once, and resolved once when it is back', async () => {
    const rx = fx.rx();
    const port = fx.port();
    const server = fx.server();
    const rules = rulesFileSchema.parse({ notify: { webhooks: [rx.url], send_resolved: true }, rules: [] });
    for (let i = 0; i < 3; i++) {
      // Wired as aggregator/src/main.ts wires its alert connection.
      const redis = new Redis({ port, host: '127.0.0.1', enableOfflineQueue: false, maxRetriesPerRequest: 1, commandTimeout: 500, retryStrategy: () => 200 });
      redis.on('error', () => undefined);
      const elector = new LeaderElector(redis, { id: `out-${i}`, ttlMs: 1500, renewMs: 300 });
      const service = new AlertService({ redis, rules, isLeader: () => elector.isLeader(), externalUrl: `http://replica-${i}`, delivery: { baseDelayMs: 1000, timeoutMs: 1000 } });
      await new Promise((r) => redis.once('ready', r));
      await service.start();
      elector.on('change', (l) => void service.onLeadership(l));
      redis.on('ready', () => service.onValkeyUp(true));
      redis.on('close', () => service.onValkeyUp(false));
      elector.start();
      pipelines.push({ redis, elector, service });
    }
    await waitFor('a leader', 3000, () => pipelines.some((p) => p.elector.isLeader()));
    await sleep(500);
    const leaderAtOutage = pipelines.findIndex((p) => p.elector.isLeader());
    await server.stop();
    await waitFor('the firing notification', 8000, () => rx.successes().length >= 1);
    assert.ok(pipelines.every((p) => !p.elector.isLeader()), 'no replica leads while Valkey is away');
    for (let k = 0; k < 10; k++) {
      for (const p of pipelines) p.service.tick();
      await sleep(200);
    }
    assert.equal(pipelines.filter((p) => p.service.active().some((a) => a.rule_id === 'valkey_unreachable' && a.state === 'firing')).length, 3, 'every replica shows the alert');
    assert.deepEqual(rx.successes().map((r) => (r.body as { status: string; commonLabels: Record<string, string> }).commonLabels.alertname), ['valkey_unreachable']);
    assert.equal(rx.requests.length, 3, 'two 503s and one success');
    const from = (r: { body: unknown }): string => (r.body as { externalURL: string }).externalURL;
    assert.deepEqual(rx.requests.map(from), Array(3).fill(`http://replica-${leaderAtOutage}`), 'all from the replica that led');

    await server.start();
    await waitFor('the resolved notification', 8000, () => rx.successes().length >= 2);
    for (let k = 0; k < 10; k++) {
      for (const p of pipelines) p.service.tick();
      await sleep(200);
    }
    for (const p of pipelines) await p.service.idle();
    const statuses = rx.successes().map((r) => (r.body as { status: string }).status);
    assert.deepEqual(statuses, ['firing', 'resolved']);
    assert.equal(rx.requests.length, 4);
    assert.equal(from(rx.successes()[1] ?? { body: {} }), `http://replica-${leaderAtOutage}`, 'resolved comes from the replica that sent firing');
  });
});
