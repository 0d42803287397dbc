import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { RedisServer, freePort } from '../../agent/test/helpers/redis-server.js';
import { historyFields, textHistoryFields } from '../../shared/src/history.js';
import { historyKey, rollupKey } from '../../shared/src/keys.js';
import { RollupWriter } from '../src/history/rollup-writer.js';
import { parseHistoryQuery, queryHistory, type HistoryQuery } from '../src/history/query.js';
import { makePayload } from './helpers/payload.js';

const T0 = 1_767_225_600_000; // 2026-01-01T00:00:00Z, a 5-minute boundary

describe('history rollups and queries against a real redis-server', () => {
  let server: RedisServer;
  let redis: Redis;
  before(async () => {
    const port = await freePort();
    server = new RedisServer(port);
    await server.start();
    redis = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 1 });
    // 10 minutes at 5 s: memory_percent = minute index * 5 + (sample in minute), cpu alternating 20/40.
    for (let i = 0; i < 120; i++) {
      if (i === 1) await redis.xadd(historyKey('web-1'), `${T0 + 1}-0`, 'ts', 'garbage');
      const ts = T0 + i * 5000;
      const p = makePayload({ name: 'web-1', memory_percent: Math.floor(i / 12) * 5 + (i % 12), cpu_percent: i % 2 === 0 ? 20 : 40, throttled_percent: i % 12 });
      // Minutes 3 and 4 come from older agents writing the text layout; minute 4's agent
      // predates throttling and PSI, so its entries lack those fields. The rest is packed.
      const text = textHistoryFields(p, ts);
      const minute = Math.floor(i / 12);
      const fields = minute === 4 ? text.slice(0, text.indexOf('cpu_throttled_percent')) : minute === 3 ? text : historyFields(p, ts);
      await redis.xadd(historyKey('web-1'), `${ts}-0`, ...fields);
    }
  });
  after(async () => {
    redis.disconnect();
    await server.stop();
  });

  const q = (params: Record<string, string>): HistoryQuery => {
    const r = parseHistoryQuery(params, T0 + 3_600_000);
    if (!r.ok) throw new Error(r.error);
    return r.query;
  };

  it('writes only complete buckets, once', async () => {
    const w = new RollupWriter(redis, { clock: () => T0 + 10 * 60_000 + 20_000, graceMs: 10_000 });
    const r = await w.roll('web-1');
    assert.equal(r.corrupt, 1);
    assert.equal(r.written, 10 + 2, 'ten 1 m buckets and two 5 m buckets');
    assert.equal(await redis.xlen(rollupKey('1m', 'web-1')), 10);
    assert.equal((await w.roll('web-1')).written, 0, 'a second run adds nothing');
    // A late replica that starts from scratch cannot write a bucket again either.
    const again = new RollupWriter(redis, { clock: () => T0 + 10 * 60_000 + 20_000 });
    assert.equal((await again.roll('web-1')).written, 0);
  });

  it('returns 1 m points with min/avg/max computed from the fixture', async () => {
    const res = await queryHistory(redis, 'web-1', q({ since: String(T0), until: String(T0 + 600_000), resolution: '1m', fields: 'memory_percent,cpu_percent' }));
    assert.equal(res.resolution, '1m');
    assert.equal(res.points.length, 10);
    const third = res.points[2];
    assert.equal(third?.ts, T0 + 120_000);
    assert.equal(third?.n, 12);
    assert.deepEqual(third?.values.memory_percent, { min: 10, avg: 10 + 5.5, max: 21 });
    assert.deepEqual(third?.values.cpu_percent, { min: 20, avg: 30, max: 40 });
    assert.deepEqual(Object.keys(third?.values ?? {}).sort(), ['cpu_percent', 'memory_percent']);
    const five = await queryHistory(redis, 'web-1', q({ since: new Date(T0).toISOString(), until: String(T0 + 600_000), resolution: '5m', fields: 'memory_percent' }));
    assert.equal(five.points.length, 2);
    assert.deepEqual(five.points[1]?.values.memory_percent, { min: 25, avg: (25 + 30 + 35 + 40 + 45) / 5 + 5.5, max: 45 + 11 });
  });

  it('throttling comes back from the history; an older agent\'s entries read as no value', async () => {
    const res = await queryHistory(redis, 'web-1', q({ since: String(T0), until: String(T0 + 600_000), resolution: '1m', fields: 'cpu_throttled_percent,psi_cpu_some_avg10' }));
    assert.deepEqual(res.points[2]?.values.cpu_throttled_percent, { min: 0, avg: 5.5, max: 11 });
    assert.equal(res.points[4]?.values.cpu_throttled_percent, null, 'minute 4 was written without the field');
    const raw = await queryHistory(redis, 'web-1', q({ since: String(T0 + 240_000), until: String(T0 + 244_999), fields: 'cpu_throttled_percent' }));
    assert.deepEqual(raw.points, [{ ts: T0 + 240_000, values: { cpu_throttled_percent: null } }]);
  });

  it('returns raw points in a window and skips corrupt entries', async () => {
    const res = await queryHistory(redis, 'web-1', q({ since: String(T0), until: String(T0 + 59_999), fields: 'memory_percent' }));
    assert.equal(res.resolution, 'raw');
    assert.equal(res.points.length, 12);
    assert.equal(res.corrupt, 1);
    assert.deepEqual(res.points[3], { ts: T0 + 15_000, values: { memory_percent: 3 } });
  });

  it('rejects bad parameters with a message naming them', () => {
    const now = T0;
    const err = (p: Record<string, string | undefined>): string => {
      const r = parseHistoryQuery(p, now);
      return r.ok ? 'ok' : r.error;
    };
    assert.match(err({ resolution: '10s' }), /^resolution: must be raw, 1m or 5m/);
    assert.match(err({ since: 'yesterday' }), /^since: must be an ISO-8601 time, unix milliseconds, or relative like -15m/);
    assert.match(err({ fields: 'memory_percent,bogus' }), /^fields\.1: unknown field "bogus"/);
    assert.match(err({ since: '-1h', until: '-2h' }), /^since: since must be before until/);
    assert.match(err({ limit: '3' }), /limit/);
    assert.equal(err({ since: '-15m', resolution: undefined }), 'ok');
  });
});
