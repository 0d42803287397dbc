import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { RedisServer, freePort } from '../../agent/test/helpers/redis-server.js';
import { isContainerName } from '../../shared/src/container-name.js';
import { CONTAINERS_KEY, METRICS_CHANNEL, metricsKey } from '../../shared/src/keys.js';
import { payloadSchema } from '../../shared/src/payload.js';
import { valkeyConfigFromEnv } from '../../shared/src/valkey.js';
import type { IngestEvent } from '../src/ingest/protocol.js';
import { IngestSource } from '../src/ingest/source.js';
import { makePayload } from './helpers/payload.js';

/**
 * The ingest path end to end, under generated input: values SET under
 * system:metrics:*, registry entries with generated names and scores, and
 * messages on the channel, against a real redis-server. Whatever comes in,
 * the source never throws, and everything it emits is a valid, registered,
 * one-line sample under its own name.
 */

const valid = makePayload({ name: 'base' });

/** A value that may be a valid sample, a damaged one, or anything at all. */
const value = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 300 }),
  fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)),
  fc.record({ key: fc.constantFrom(...Object.keys(valid)), v: fc.jsonValue({ maxDepth: 3 }) }).map(({ key, v }) => JSON.stringify({ ...valid, [key]: v })),
  fc.constant(JSON.stringify(valid, null, 2)),
);
const name = fc.oneof(fc.constantFrom('p-a', 'p-b', 'base'), fc.string({ unit: 'binary', minLength: 1, maxLength: 12 }));
const score = fc.oneof(fc.constant(String(Date.now())), fc.constantFrom('+inf', '-inf', String(Date.now() + 1e12)), fc.integer().map(String));

describe('ingest path under generated input (fast-check, real redis-server)', () => {
  let server: RedisServer;
  let redis: Redis;
  before(async () => {
    server = new RedisServer(await freePort());
    await server.start();
    redis = new Redis({ port: server.port, host: '127.0.0.1' });
  });
  after(async () => {
    redis.disconnect();
    await server.stop();
  });

  it('never throws; emits only valid, registered, one-line samples under their own names', async () => {
    const events: IngestEvent[] = [];
    const settings = { valkey: valkeyConfigFromEnv({ VALKEY_URL: `redis://127.0.0.1:${server.port}` }), retentionMs: 86_400_000, pollMs: 3_600_000, chunk: 7, logLevel: 'silent' as const, maxSampleBytes: 8 * 1024 };
    const src = new IngestSource(settings, (e) => events.push(e), pino({ level: 'silent' }));
    src.start();
    try {
      await src.poll();
      await fc.assert(
        fc.asyncProperty(fc.array(fc.tuple(name, score, value, fc.boolean()), { minLength: 1, maxLength: 8 }), async (writes) => {
          await redis.flushall();
          for (const [n, s, v] of writes) {
            await redis.zadd(CONTAINERS_KEY, s, n);
            await redis.set(metricsKey(n), v);
          }
          // What the source emits from here on is judged against this registry (the channel is filtered by the last poll's).
          await src.poll();
          events.length = 0;
          await src.poll();
          for (const [, , v, twice] of writes) {
            await redis.publish(METRICS_CHANNEL, v);
            if (twice) await redis.publish(METRICS_CHANNEL, v);
          }
          await sleep(30);
          await src.poll();
          const registered = new Set(events.flatMap((e) => (e.type === 'poll-registry' ? e.names : [])));
          for (const n of registered) assert.ok(isContainerName(n), `registry name ${JSON.stringify(n)} follows the rule`);
          const emitted = events.flatMap((e) => (e.type === 'samples' ? e.raws.map((r) => ({ r, key: null })) : e.type === 'poll-values' ? e.raws.map((r, i) => ({ r, key: e.names[i] ?? null })) : []));
          for (const { r, key } of emitted) {
            if (r === null) continue;
            assert.ok(!r.includes('\n'), 'one line');
            const p = payloadSchema.parse(JSON.parse(r));
            assert.ok(registered.has(p.container_name), `${p.container_name} is registered`);
            if (key !== null) assert.equal(p.container_name, key, 'under its own key');
          }
          // And nothing valid is lost: a valid sample published for a registered name comes through.
          if (registered.has('base') && writes.some(([, , v]) => v === JSON.stringify(valid) || v === JSON.stringify(valid, null, 2))) {
            assert.ok(emitted.some(({ r }) => r !== null && (JSON.parse(r) as { container_name: string }).container_name === 'base'), 'the valid sample for base was taken');
          }
        }),
        { numRuns: 60 },
      );
    } finally {
      await src.stop();
    }
  });
});
