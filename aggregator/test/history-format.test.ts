import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { AgentProcess } from '../../agent/test/helpers/agent-process.js';
import { freePort, RedisServer } from '../../agent/test/helpers/redis-server.js';
import { until } from '../../agent/test/helpers/until.js';
import { historyFields } from '../../shared/src/history.js';
import { CONTAINERS_KEY, historyKey, legacyRollupKey, metricsKey, rollupKey } from '../../shared/src/keys.js';
import { BUCKET_FIELD, encodeBucket } from '../src/history/bucket-codec.js';
import { parseHistoryQuery, queryHistory, type HistoryQuery } from '../src/history/query.js';
import { HistoryRejects } from '../src/history/rejects.js';
import { migrateLegacyRollups } from '../src/history/rollup-migration.js';
import { RollupWriter } from '../src/history/rollup-writer.js';
import { makePayload } from './helpers/payload.js';

const T0 = 1_767_225_600_000; // 2026-01-01T00:00:00Z, a 5-minute boundary

/** A pino logger whose lines the test can read. */
function capturedLog(): { log: pino.Logger; lines: { level: number; msg: string; key?: string; reason?: string }[] } {
  const lines: { level: number; msg: string }[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n')) if (l !== '') lines.push(JSON.parse(l) as { level: number; msg: string });
      done();
    },
  });
  return { log: pino({ level: 'info' }, sink), lines };
}

/** One bucket of the layout releases before format 1 wrote: named decimal fields, "" for no value. */
function legacyEntry(start: number, n: number, cpu: [number, number, number] | null): string[] {
  const out = ['ts', String(start), 'n', String(n)];
  out.push('cpu_percent_min', cpu === null ? '' : String(cpu[0]), 'cpu_percent_avg', cpu === null ? '' : String(cpu[1]), 'cpu_percent_max', cpu === null ? '' : String(cpu[2]));
  out.push('memory_bytes_min', '100', 'memory_bytes_avg', '150.5', 'memory_bytes_max', '200');
  return out;
}

describe('rollup storage format: upgrade from the old layout, hostile entries', () => {
  let server: RedisServer;
  let redis: Redis;
  before(async () => {
    server = new RedisServer(await freePort());
    await server.start();
    redis = new Redis({ port: server.port, host: '127.0.0.1', maxRetriesPerRequest: 1 });
  });
  after(async () => {
    redis.disconnect();
    await server.stop();
  });

  const q = (params: Record<string, string>): HistoryQuery => {
    const r = parseHistoryQuery(params, T0 + 86_400_000);
    if (!r.ok) throw new Error(r.error);
    return r.query;
  };

  it('an upgraded leader moves old-layout rollups into the packed stream, refuses what does not parse, and deletes the old key', async () => {
    const old1m = legacyRollupKey('1m', 'old-1');
    await redis.xadd(old1m, `${T0}-1`, ...legacyEntry(T0, 12, [10, 20.5, 30]));
    await redis.xadd(old1m, `${T0 + 60_000}-1`, ...legacyEntry(T0 + 60_000, 12, null));
    await redis.xadd(old1m, `${T0 + 120_000}-1`, 'ts', String(T0 + 120_000), 'n', 'twelve');
    await redis.xadd(old1m, `${T0 + 180_000}-1`, ...legacyEntry(T0 + 185_000, 12, [1, 2, 3])); // not on a minute
    await redis.xadd(legacyRollupKey('5m', 'old-1'), `${T0}-1`, ...legacyEntry(T0, 60, [5, 6, 7]));
    // Raw history after the old buckets: the writer goes on from the last moved bucket.
    for (let i = 0; i < 12; i++) {
      const ts = T0 + 240_000 + i * 5000;
      await redis.xadd(historyKey('old-1'), `${ts}-0`, ...historyFields(makePayload({ name: 'old-1', cpu_percent: 40 + i }), ts));
    }
    const { log, lines } = capturedLog();
    const rejects = new HistoryRejects(log);
    const w = new RollupWriter(redis, { clock: () => T0 + 320_000, log, rejects });
    const r = await w.roll('old-1');
    assert.equal(r.written, 1, 'the minute from the raw history, after the moved buckets');
    assert.equal(await redis.exists(old1m, legacyRollupKey('5m', 'old-1')), 0, 'old keys deleted');
    assert.equal(rejects.totals.legacy_rollup, 2, 'the entry with n "twelve" and the one off the minute');
    assert.equal(lines.filter((l) => /refusing a history entry/.test(l.msg)).length, 1, 'logged once for the key');

    const m1 = await queryHistory(redis, 'old-1', q({ since: String(T0), until: String(T0 + 600_000), resolution: '1m', fields: 'cpu_percent,memory_bytes' }));
    assert.equal(m1.corrupt, 0);
    assert.deepEqual(m1.points.map((p) => p.ts), [T0, T0 + 60_000, T0 + 240_000]);
    assert.deepEqual(m1.points[0]?.values, { cpu_percent: { min: 10, avg: 20.5, max: 30 }, memory_bytes: { min: 100, avg: 151, max: 200 } }, 'bytes to the whole byte');
    assert.equal(m1.points[1]?.values.cpu_percent, null);
    assert.deepEqual(m1.points[2]?.values.cpu_percent, { min: 40, avg: 45.5, max: 51 });
    const m5 = await queryHistory(redis, 'old-1', q({ since: String(T0), until: String(T0 + 600_000), resolution: '5m', fields: 'cpu_percent' }));
    assert.deepEqual(m5.points, [{ ts: T0, n: 60, values: { cpu_percent: { min: 5, avg: 6, max: 7 } } }]);
  });

  it('when the packed stream already exists, old-layout keys are deleted without moving (a stream cannot take older entries)', async () => {
    await redis.xadd(rollupKey('1m', 'both-1'), `${T0 + 600_000}-1`, BUCKET_FIELD, encodeBucket({ start: T0 + 600_000, n: 1, fields: {} }).bytes);
    await redis.xadd(legacyRollupKey('1m', 'both-1'), `${T0}-1`, ...legacyEntry(T0, 12, [1, 2, 3]));
    const w = new RollupWriter(redis, { clock: () => T0 + 700_000 });
    await w.roll('both-1');
    assert.equal(await redis.exists(legacyRollupKey('1m', 'both-1')), 0);
    assert.equal(await redis.xlen(rollupKey('1m', 'both-1')), 1);
  });

  it('moves at most the buckets the new stream keeps, the newest ones (an old stream of any length cannot flood the leader)', async () => {
    const p = redis.pipeline();
    for (let k = 0; k < 1445; k++) p.xadd(legacyRollupKey('1m', 'long-1'), `${T0 + k * 60_000}-1`, ...legacyEntry(T0 + k * 60_000, 1, [k, k, k]));
    await p.exec();
    const r = await migrateLegacyRollups(redis, 'long-1', new HistoryRejects());
    assert.deepEqual(r, { moved: 1440, refused: 0 });
    const first = await redis.xrangeBuffer(rollupKey('1m', 'long-1'), '-', '+', 'COUNT', 1);
    assert.equal(first[0]?.[0].toString(), `${T0 + 5 * 60_000}-1`, 'the 5 oldest were left behind');
  });

  it('hostile entries in a rollup stream are skipped, counted and logged once; good ones still answer', async () => {
    const key = rollupKey('1m', 'web-9');
    const good = (start: number, cpu: number): Buffer => encodeBucket({ start, n: 12, fields: { cpu_percent: { min: cpu, avg: cpu, max: cpu } } }).bytes;
    await redis.xadd(key, `${T0}-1`, BUCKET_FIELD, good(T0, 11));
    await redis.xadd(key, `${T0 + 60_000}-1`, BUCKET_FIELD, Buffer.from([2, 12, 1, 0, 0, 2, 0, 0])); // a future format version
    await redis.xadd(key, `${T0 + 120_000}-1`, BUCKET_FIELD, Buffer.from('not packed at all'));
    await redis.xadd(key, `${T0 + 125_000}-1`, BUCKET_FIELD, good(T0 + 125_000, 1)); // off the minute
    await redis.xadd(key, `${T0 + 180_000}-1`, ...legacyEntry(T0 + 180_000, 12, [1, 2, 3])); // the old layout under the new name
    await redis.xadd(key, `${T0 + 240_000}-1`, BUCKET_FIELD, Buffer.concat([good(T0 + 240_000, 3), Buffer.from([0])])); // trailing byte
    await redis.xadd(key, `${T0 + 300_000}-1`, BUCKET_FIELD, good(T0 + 300_000, 22));
    const { log, lines } = capturedLog();
    const rejects = new HistoryRejects(log);
    const res = await queryHistory(redis, 'web-9', q({ since: String(T0), until: String(T0 + 600_000), resolution: '1m', fields: 'cpu_percent' }), rejects);
    assert.deepEqual(res.points, [
      { ts: T0, n: 12, values: { cpu_percent: { min: 11, avg: 11, max: 11 } } },
      { ts: T0 + 300_000, n: 12, values: { cpu_percent: { min: 22, avg: 22, max: 22 } } },
    ]);
    assert.equal(res.corrupt, 5);
    assert.equal(rejects.totals.rollup, 5);
    const warned = lines.filter((l) => /refusing a history entry/.test(l.msg));
    assert.equal(warned.length, 1);
    assert.equal(warned[0]?.key, key);
    assert.match(warned[0]?.reason ?? '', /format version 2 is not one this program reads/);
    // Asked again: counted again, not logged again.
    await queryHistory(redis, 'web-9', q({ since: String(T0), until: String(T0 + 600_000), resolution: '1m' }), rejects);
    assert.equal(rejects.totals.rollup, 10);
    assert.equal(lines.filter((l) => /refusing a history entry/.test(l.msg)).length, 1);
  });

  it('a rollup or history key of another type answers as no data, counted', async () => {
    await redis.set(rollupKey('5m', 'odd-1'), 'a string');
    await redis.hset(historyKey('odd-1'), 'a', 'hash');
    const rejects = new HistoryRejects();
    const r5 = await queryHistory(redis, 'odd-1', q({ since: String(T0), until: String(T0 + 600_000), resolution: '5m' }), rejects);
    const raw = await queryHistory(redis, 'odd-1', q({ since: String(T0), until: String(T0 + 600_000) }), rejects);
    assert.deepEqual([r5.points, raw.points], [[], []]);
    assert.deepEqual(rejects.totals, { raw: 1, rollup: 1, legacy_rollup: 0 });
  });
});

describe('the aggregator process with hostile rollup entries', () => {
  let server: RedisServer;
  let redis: Redis;
  let agg: AgentProcess;
  let base = '';
  before(async () => {
    server = new RedisServer(await freePort());
    await server.start();
    redis = new Redis({ port: server.port, host: '127.0.0.1' });
    const now = Date.now();
    await redis.set(metricsKey('web-1'), JSON.stringify(makePayload({ name: 'web-1', timestamp: new Date(now).toISOString() })), 'EX', 600);
    await redis.zadd(CONTAINERS_KEY, now, 'web-1');
    const start = Math.floor(now / 60_000) * 60_000 - 600_000;
    await redis.xadd(rollupKey('1m', 'web-1'), `${start}-1`, BUCKET_FIELD, encodeBucket({ start, n: 12, fields: { cpu_percent: { min: 1, avg: 2, max: 3 } } }).bytes);
    await redis.xadd(rollupKey('1m', 'web-1'), `${start + 60_000}-1`, BUCKET_FIELD, Buffer.from([1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]));
    await redis.xadd(rollupKey('1m', 'web-1'), `${start + 120_000}-1`, 'b', Buffer.from([1, 1, 0xff, 0xff, 0xff]));
    const port = await freePort();
    agg = new AgentProcess([], { PORT: String(port), VALKEY_URL: `redis://127.0.0.1:${server.port}`, LOG_LEVEL: 'info' }, 'aggregator/src/main.ts');
    await agg.waitForLog(/aggregator listening/, 20_000);
    base = `http://127.0.0.1:${port}`;
    await until('web-1 listed', async () => ((await fetch(`${base}/api/v1/containers/web-1`)).status === 200 ? true : null), 10_000);
  });
  after(async () => {
    await agg.stop();
    redis.disconnect();
    await server.stop();
  });

  it('answers with the good bucket, counts the refused ones in /metrics, logs them, and stays up', async () => {
    const r = await fetch(`${base}/api/v1/containers/web-1/history?since=-1h&resolution=1m&fields=cpu_percent`);
    assert.equal(r.status, 200);
    const body = (await r.json()) as { points: { values: { cpu_percent: unknown } }[]; corrupt: number };
    assert.deepEqual(body.points.map((p) => p.values.cpu_percent), [{ min: 1, avg: 2, max: 3 }]);
    assert.equal(body.corrupt, 2);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    assert.match(metrics, /^system_monitor_history_rejected_total\{history="rollup"\} 2$/m);
    assert.ok(agg.said(/refusing a history entry/).length === 1, 'one log line for the key');
    assert.ok(agg.alive);
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
  });
});
