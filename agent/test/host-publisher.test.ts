import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Cluster, Redis } from 'ioredis';
import { pino } from 'pino';
import { CONTAINERS_KEY, LOG_INDEX_KEY, METRICS_CHANNEL, historyKey, metricsKey } from '../../shared/src/keys.js';
import type { Payload } from '../../shared/src/payload.js';
import { valkeyConfigFromEnv, type ValkeyConfig } from '../../shared/src/valkey.js';
import { makePayload } from '../../aggregator/test/helpers/payload.js';
import { HostPublisher } from '../src/host/host-publisher.js';
import { Publisher } from '../src/publish.js';
import { RedisCluster } from './helpers/redis-cluster.js';
import { freePort, RedisServer } from './helpers/redis-server.js';

const log = pino({ level: 'silent' });
const NOW = Date.parse('2026-12-06T12:00:00.000Z');
const OPTS = { ttlSeconds: 17, historyLength: 50, logTtlSeconds: 3600, commandTimeoutMs: 1000, log, now: () => NOW };

function payloadOf(name: string, seq: number): Payload {
  return { ...makePayload({ name, cpu_percent: 12.5 + seq, memory_percent: 40 }), seq };
}

/** Everything in one database, stream entry ids left out (the server stamps them). */
async function dump(port: number, db: number): Promise<Record<string, unknown>> {
  const c = new Redis({ port, host: '127.0.0.1', db });
  try {
    const out: Record<string, unknown> = {};
    for (const key of (await c.keys('*')).sort()) {
      const type = await c.type(key);
      const expiresAt = Number(await c.call('PEXPIRETIME', key));
      let value: unknown;
      if (type === 'string') value = await c.get(key);
      else if (type === 'zset') value = await c.zrange(key, '0', '-1', 'WITHSCORES');
      else if (type === 'stream') value = (await c.xrangeBuffer(key, '-', '+')).map(([, fields]) => fields.map((f) => f.toString('base64')));
      else value = `unexpected ${type}`;
      out[key] = { type, expiresAt, value };
    }
    return out;
  } finally {
    c.disconnect();
  }
}

describe('host publisher: one connection and one pipeline for every container, on a real redis-server', () => {
  let server: RedisServer;
  let port: number;
  const cfg = (db: number, extra: Record<string, string> = {}): ValkeyConfig => valkeyConfigFromEnv({ VALKEY_URL: `redis://127.0.0.1:${port}/${db}`, ...extra });

  before(async () => {
    port = await freePort();
    server = new RedisServer(port);
    await server.start();
  });

  after(async () => {
    await server.stop();
  });

  it("every container's keys, ttls, registry entry, history entry, log entries and channel message equal what its sidecar writes", async () => {
    const names = ['web-1', 'db', 'worker-3'];
    const sub = new Redis({ port, host: '127.0.0.1' });
    const messages: string[] = [];
    sub.on('message', (_ch: string, m: string) => messages.push(m));
    await sub.subscribe(METRICS_CHANNEL);
    // The sidecars: one Publisher each, database 1.
    for (const [i, name] of names.entries()) {
      const p = new Publisher({ ...OPTS, valkey: cfg(1), containerName: name });
      p.event('info', `started ${name}`);
      p.start();
      assert.equal(await p.publish(payloadOf(name, i)), true);
      await p.close();
    }
    // The host agent: one HostPublisher, database 2.
    const hp = new HostPublisher({ ...OPTS, valkey: cfg(2) });
    hp.start();
    const feeds = names.map((n) => hp.feed(n));
    for (const f of feeds) f.event('info', `started ${f.name}`);
    assert.deepEqual(await hp.publishAll(feeds.map((feed, i) => ({ feed, payload: payloadOf(feed.name, i) }))), [true, true, true]);
    await hp.close();
    await sleep(100);
    sub.disconnect();

    const [sidecars, host] = [await dump(port, 1), await dump(port, 2)];
    const withoutExpiry = (d: Record<string, unknown>): Record<string, unknown> => Object.fromEntries(Object.entries(d).map(([k, v]) => [k, { ...(v as object), expiresAt: undefined }]));
    assert.deepEqual(withoutExpiry(host), withoutExpiry(sidecars));
    // The same ttls: written a few ms apart, so they expire a few ms apart (-1 for keys without one).
    for (const [k, v] of Object.entries(host)) {
      const a = (v as { expiresAt: number }).expiresAt;
      const b = (sidecars[k] as { expiresAt: number }).expiresAt;
      assert.ok(a === b || (a > 0 && b > 0 && Math.abs(a - b) < 1000), `${k} expires at ${a} (host) vs ${b} (sidecar)`);
    }
    // What the comparison covers: each container's four kinds of key, the registry and the log index.
    assert.equal(Object.keys(host).length, names.length * 3 + 2, Object.keys(host).join(' '));
    const metricsExpiry = (host[metricsKey('db')] as { expiresAt: number }).expiresAt - Date.now();
    assert.ok(metricsExpiry > 15_000 && metricsExpiry <= 17_000, `metrics key expires in ${metricsExpiry} ms`);
    assert.ok(host[historyKey('worker-3')] !== undefined && host[CONTAINERS_KEY] !== undefined && host[LOG_INDEX_KEY] !== undefined);
    // The channel carried each sample twice, once from each, the same JSON.
    assert.equal(messages.length, 6);
    const count = new Map<string, number>();
    for (const m of messages) count.set(m, (count.get(m) ?? 0) + 1);
    assert.deepEqual([...count.values()], [2, 2, 2]);
    for (const f of feeds) {
      const s = f.status();
      assert.equal(s.published_total, 1);
      assert.equal(s.skipped_total, 0);
      assert.equal(s.last_error, null);
      assert.equal(s.last_success, new Date(NOW).toISOString());
    }
  });

  it("a container whose SET is refused loses its own sample only: the others' writes stand, its log entry waits for the next write", async () => {
    const admin = new Redis({ port, host: '127.0.0.1' });
    // May write everything but the metrics key of "blocked".
    const keys = ['~system:metrics:ok-*', '~system:containers', '~system:history:*', '~system:logs:*', '~system:logindex'];
    await admin.call('ACL', 'SETUSER', 'hostagent', 'on', '>pw', 'resetkeys', ...keys, 'resetchannels', '&*', '+@all');
    await admin.select(3);
    // And a foreign value where one container's history stream goes: its XADD fails, its sample does not.
    await admin.set(historyKey('ok-side'), 'not a stream');
    const hp = new HostPublisher({ ...OPTS, valkey: cfg(3, { VALKEY_URL: `redis://hostagent:pw@127.0.0.1:${port}/3` }) });
    hp.start();
    const feeds = ['ok-1', 'blocked', 'ok-side', 'ok-2'].map((n) => hp.feed(n));
    for (const f of feeds) f.event('info', `hello ${f.name}`);
    const written = await hp.publishAll(feeds.map((feed, i) => ({ feed, payload: payloadOf(feed.name, i) })));
    assert.deepEqual(written, [true, false, true, true]);
    for (const n of ['ok-1', 'ok-side', 'ok-2']) assert.equal((JSON.parse((await admin.get(metricsKey(n))) ?? '{}') as { container_name?: string }).container_name, n);
    assert.equal(await admin.get(metricsKey('blocked')), null);
    const [ok1, blocked, side, ok2] = feeds.map((f) => f.status());
    assert.equal(blocked?.skipped_total, 1);
    assert.equal(blocked?.published_total, 0);
    assert.match(blocked?.last_error ?? '', /NOPERM/);
    assert.equal(side?.published_total, 1);
    assert.match(side?.last_error ?? '', /WRONGTYPE/);
    for (const s of [ok1, ok2]) assert.deepEqual([s?.published_total, s?.last_error], [1, null]);
    // Log entries: written for the others; the blocked container's is kept for its next write, as its
    // sidecar's Publisher keeps the events of a sample whose SET failed.
    const logKeysOf = async (name: string): Promise<string[]> => (await admin.zrange(LOG_INDEX_KEY, '0', '-1')).filter((k) => k.startsWith(`system:logs:${name}:`));
    for (const n of ['ok-1', 'ok-side', 'ok-2']) assert.equal((await logKeysOf(n)).length, 1, n);
    assert.deepEqual(feeds[1]?.pending.map((e) => e.message), ['hello blocked']);
    // Allowed again: its sample and the held log entry are written with the next tick.
    await admin.call('ACL', 'SETUSER', 'hostagent', '~system:metrics:*');
    assert.deepEqual(await hp.publishAll(feeds.map((feed, i) => ({ feed, payload: payloadOf(feed.name, i + 10) }))), [true, true, true, true]);
    assert.equal((JSON.parse((await admin.get(metricsKey('blocked'))) ?? '{}') as { seq?: number }).seq, 11);
    assert.ok((await logKeysOf('blocked')).length >= 1);
    assert.deepEqual([feeds[1]?.pending.length, feeds[1]?.status().last_error], [0, null]);
    await hp.close();
    admin.disconnect();
  });

  it('Valkey away: every container skips the tick and keeps its log entries; back: they are written, with the outage noted for each', async () => {
    const hp = new HostPublisher({ ...OPTS, valkey: cfg(4), now: Date.now });
    hp.start();
    const feeds = ['a', 'b'].map((n) => hp.feed(n));
    assert.deepEqual(await hp.publishAll(feeds.map((feed, i) => ({ feed, payload: payloadOf(feed.name, i) }))), [true, true]);
    await server.stop();
    for (const f of feeds) f.event('warn', 'during the outage');
    await sleep(200);
    assert.deepEqual(await hp.publishAll(feeds.map((feed, i) => ({ feed, payload: payloadOf(feed.name, i) }))), [false, false]);
    for (const f of feeds) assert.deepEqual([f.status().skipped_total, f.status().connected, f.pending.length], [1, false, 1]);
    await server.start();
    const c = new Redis({ port, host: '127.0.0.1', db: 4 });
    const t0 = Date.now();
    while (!hp.connected && Date.now() - t0 < 10_000) await sleep(50);
    assert.deepEqual(await hp.publishAll(feeds.map((feed, i) => ({ feed, payload: payloadOf(feed.name, i + 1) }))), [true, true]);
    const entries = await Promise.all((await c.zrange(LOG_INDEX_KEY, '0', '-1')).map(async (k) => JSON.parse((await c.get(k)) ?? '{}') as { container_name: string; message: string }));
    for (const name of ['a', 'b']) {
      const mine = entries.filter((e) => e.container_name === name).map((e) => e.message);
      assert.ok(mine.includes('during the outage'), mine.join(' | '));
      assert.ok(mine.some((m) => /^Valkey connection lost at .*, back after .* s \(1 samples skipped so far\)$/.test(m)), mine.join(' | '));
    }
    c.disconnect();
    await hp.close();
  });
});

describe('host publisher on a 3-master cluster: the tick\'s commands split per node', () => {
  const cluster = new RedisCluster(3);

  before(async () => {
    await cluster.start();
  });

  after(async () => {
    await cluster.stop();
  });

  it("30 containers in one write: each one's keys on its own slot's master, each value the sample as JSON", async () => {
    const valkey = valkeyConfigFromEnv({ VALKEY_CLUSTER_NODES: cluster.seeds });
    const hp = new HostPublisher({ ...OPTS, valkey });
    hp.start();
    const feeds = Array.from({ length: 30 }, (_, i) => hp.feed(`svc-${i}`));
    const payloads = feeds.map((f, i) => payloadOf(f.name, i));
    assert.deepEqual(await hp.publishAll(feeds.map((feed, i) => ({ feed, payload: payloads[i] ?? payloadOf(feed.name, i) }))), feeds.map(() => true));
    const c = new Cluster([{ host: '127.0.0.1', port: cluster.ports[0] ?? 0 }]);
    try {
      for (const [i, f] of feeds.entries()) {
        assert.equal(await c.get(metricsKey(f.name)), JSON.stringify(payloads[i]));
        assert.equal(await c.xlen(historyKey(f.name)), 1);
      }
      assert.equal(await c.zcard(CONTAINERS_KEY), 30);
      // The metrics keys are spread over every master, so the write did cross nodes.
      const masters = new Set(await Promise.all(feeds.map((f) => cluster.masterOf(metricsKey(f.name), cluster.ports[0] ?? 0))));
      assert.equal(masters.size, 3);
    } finally {
      c.disconnect();
      await hp.close();
    }
  });
});
