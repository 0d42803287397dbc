import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { RedisServer, freePort } from '../../agent/test/helpers/redis-server.js';
import { CONTAINERS_KEY, METRICS_CHANNEL, metricsKey } from '../../shared/src/keys.js';
import { valkeyConfigFromEnv } from '../../shared/src/valkey.js';
import type { IngestEvent, IngestSettings } from '../src/ingest/protocol.js';
import { DEFAULT_MAX_SAMPLE_BYTES } from '../src/ingest/sample.js';
import { IngestSource } from '../src/ingest/source.js';
import { IngestThread } from '../src/ingest/thread.js';
import { makePayload } from './helpers/payload.js';

const silent = pino({ level: 'silent' });

/** Collects what an ingest source emits, so a test can wait for a kind of event. */
class Events {
  readonly all: IngestEvent[] = [];
  push = (e: IngestEvent): void => {
    this.all.push(e);
  };
  of<T extends IngestEvent['type']>(type: T): Extract<IngestEvent, { type: T }>[] {
    return this.all.filter((e): e is Extract<IngestEvent, { type: T }> => e.type === type);
  }
  async until(pred: () => boolean, what: string, ms = 5000): Promise<void> {
    const end = Date.now() + ms;
    while (!pred()) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}; got ${this.all.map((e) => e.type).join(',')}`);
      await sleep(20);
    }
  }
}

/** A sample's JSON as an object (null stays null): texts are compared by content. */
function parsed(raw: string | null | undefined): unknown {
  return raw === null || raw === undefined ? null : JSON.parse(raw);
}

describe('fleet ingest (reads, validation and change detection off the main thread)', () => {
  let server: RedisServer;
  let redis: Redis;
  let settings: IngestSettings;
  before(async () => {
    server = new RedisServer(await freePort());
    await server.start();
    redis = new Redis({ port: server.port, host: '127.0.0.1' });
    // A poll interval far beyond the test: every re-sync here is asked for.
    settings = { valkey: valkeyConfigFromEnv({ VALKEY_URL: `redis://127.0.0.1:${server.port}` }), retentionMs: 86_400_000, pollMs: 3_600_000, chunk: 2, logLevel: 'silent', maxSampleBytes: DEFAULT_MAX_SAMPLE_BYTES };
  });
  after(async () => {
    redis.disconnect();
    await server.stop();
  });

  const seed = async (name: string, seq: number): Promise<string> => {
    const raw = JSON.stringify({ ...makePayload({ name }), seq });
    await redis.set(metricsKey(name), raw);
    await redis.zadd(CONTAINERS_KEY, Date.now(), name);
    return raw;
  };

  it('a re-sync sends the registry, then only values that changed since the last one, in chunks; a key that expired is sent once as null', async () => {
    await redis.flushall();
    const raws = await Promise.all(['a', 'b', 'c'].map((n, i) => seed(n, i + 1)));
    await redis.zadd(CONTAINERS_KEY, Date.now(), 'junk');
    await redis.set(metricsKey('junk'), '{"not":"a sample"}');
    const ev = new Events();
    const src = new IngestSource(settings, ev.push, silent);
    src.start();
    try {
      // The connection and the subscription each ask for a re-sync (one or two run).
      await ev.until(() => ev.of('poll-done').length >= 1, 'the first re-sync');
      await src.poll();
      assert.deepEqual([...(ev.of('poll-registry')[0]?.names ?? [])].sort(), ['a', 'b', 'c', 'junk']);
      const first = ev.of('poll-values');
      // What is sent is re-serialised from the validated object: the same sample, not necessarily the same text.
      const sent = new Map(first.flatMap((m) => m.names.map((n, i) => [n, parsed(m.raws[i])] as const)));
      assert.deepEqual(sent, new Map([['a', parsed(raws[0])], ['b', parsed(raws[1])], ['c', parsed(raws[2])]]));
      // 4 names in chunks of 2: the first re-sync sent two messages, later ones only junk's count (it is never sent).
      assert.equal(first.filter((m) => m.names.length > 0).length, 2);
      assert.equal(first.reduce((s, m) => s + (m.rejected.schema ?? 0), 0), ev.of('poll-done').length);

      // Nothing changed: the second re-sync sends the registry and no values (junk is counted again).
      const before = ev.all.length;
      await src.poll();
      const second = ev.all.slice(before);
      assert.deepEqual(second.filter((e) => e.type === 'poll-values').flatMap((e) => (e.type === 'poll-values' ? e.names : [])), []);

      // b gets a new sample, c's key disappears.
      const b2 = await seed('b', 99);
      await redis.del(metricsKey('c'));
      const mark = ev.all.length;
      await src.poll();
      const third = ev.all.slice(mark).filter((e) => e.type === 'poll-values');
      const changed = new Map(third.flatMap((e) => (e.type === 'poll-values' ? e.names.map((n, i) => [n, parsed(e.raws[i])] as const) : [])));
      assert.deepEqual(changed, new Map([['b', parsed(b2)], ['c', null]]));
      // ...and the null is not repeated.
      const mark2 = ev.all.length;
      await src.poll();
      assert.equal(ev.all.slice(mark2).filter((e) => e.type === 'poll-values' && e.names.length > 0).length, 0);
    } finally {
      await src.stop();
    }
  });

  it('pub/sub samples are validated: valid ones arrive in order, batched by size; invalid ones are counted', async () => {
    await redis.flushall();
    await redis.zadd(CONTAINERS_KEY, Date.now(), 'flood');
    const ev = new Events();
    const src = new IngestSource(settings, ev.push, silent);
    src.start();
    const pub = new Redis({ port: server.port, host: '127.0.0.1' });
    try {
      await ev.until(() => ev.of('poll-done').length >= 1, 'the first re-sync');
      // The subscription is in place once its own re-sync has run.
      await sleep(300);
      // ~5 kB each with padding: 60 of them are ~300 kB, more than one 64 kB batch.
      const pad = 'x'.repeat(5000);
      const p = pub.pipeline();
      const sent: number[] = [];
      for (let i = 1; i <= 60; i++) {
        p.publish(METRICS_CHANNEL, JSON.stringify({ ...makePayload({ name: 'flood' }), seq: i, unavailable: { pad } }));
        sent.push(i);
        if (i % 20 === 0) p.publish(METRICS_CHANNEL, 'garbage');
      }
      await p.exec();
      await ev.until(() => ev.of('samples').reduce((n, e) => n + e.raws.length, 0) === 60, '60 samples');
      const batches = ev.of('samples');
      const seqs = batches.flatMap((e) => e.raws.map((r) => (JSON.parse(r) as { seq: number }).seq));
      assert.deepEqual(seqs, sent);
      assert.equal(batches.reduce((n, e) => n + (e.rejected.not_json ?? 0), 0), 3);
      assert.ok(batches.length >= 4, `batched by size (${batches.length} messages for ~300 kB)`);
      for (const b of batches) assert.ok(b.raws.reduce((n, r) => n + r.length, 0) < 64 * 1024 + 6000, 'no batch much over 64 kB');
    } finally {
      pub.disconnect();
      await src.stop();
    }
  });

  it('the ingest thread delivers the same events from a worker, and is started again when it dies', async () => {
    await redis.flushall();
    const raw = await seed('t-1', 7);
    const ev = new Events();
    const t = new IngestThread(settings, ev.push, silent);
    t.start();
    try {
      await ev.until(() => ev.of('poll-done').length >= 1, 'a re-sync from the worker', 20_000);
      assert.deepEqual(ev.of('poll-values').flatMap((e) => e.raws), [raw]);
    } finally {
      await t.stop();
    }
    // A thread that cannot start (here: a log level pino refuses) is restarted with backoff, and says why.
    const broken = new Events();
    const bad = new IngestThread({ ...settings, logLevel: 'nonsense' as IngestSettings['logLevel'] }, broken.push, silent);
    bad.start();
    try {
      await broken.until(() => bad.restarts >= 2, 'two restarts', 20_000);
      const downs = broken.of('valkey').filter((e) => !e.up);
      assert.ok(downs.length >= 2 && downs.every((e) => /ingest thread exited/.test(e.error ?? '')), 'each death reported as the ingest link down');
    } finally {
      await bad.stop();
    }
  });
});
