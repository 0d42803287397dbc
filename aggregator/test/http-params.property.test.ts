import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { CONTAINERS_KEY, historyKey, metricsKey } from '../../shared/src/keys.js';
import { AgentProcess } from '../../agent/test/helpers/agent-process.js';
import { freePort, RedisServer } from '../../agent/test/helpers/redis-server.js';
import { makePayload } from './helpers/payload.js';

/**
 * Random values for every query parameter of every GET route, against a
 * real aggregator and redis-server: never a 5xx (except the documented 503s),
 * and every non-2xx answer is JSON with an `error`.
 */

/** Each GET route, its path (`:name` filled in by the property) and its query parameters. */
const ROUTES: { path: string; params: string[]; documented503?: boolean; valid?: Record<string, string> }[] = [
  { path: '/healthz', params: [] },
  { path: '/readyz', params: [], documented503: true },
  { path: '/metrics', params: [] },
  { path: '/api/v1/containers', params: ['status', 'include'] },
  { path: '/api/v1/containers/:name', params: [] },
  { path: '/api/v1/containers/:name/history', params: ['since', 'until', 'resolution', 'fields'], documented503: true },
  { path: '/api/v1/alerts', params: [] },
  { path: '/api/v1/alerts/history', params: ['count'], documented503: true },
  { path: '/api/v1/capacity', params: ['container', 'cpu_cores', 'memory_bytes', 'buffer'], documented503: true, valid: { container: 'web-1', cpu_cores: '1' } },
  { path: '/api/v1/gpus', params: [] },
  { path: '/api/v1/events', params: ['container', 'types', 'token', 'lastEventId'] },
  { path: '/api/v1/system/resources', params: [] },
  { path: '/api/v1/system/logs', params: ['container', 'lines'], documented503: true },
  { path: '/api/v1/system/health', params: [], documented503: true },
];

const units = fc.constantFrom('s', 'm', 'h', 'd', 'ms', 'y', '');
/** Values a parameter might be given: numbers at and past every bound, times, lists, and any text. */
const value = fc.oneof(
  fc.string(),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.integer().map(String),
  fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n }).map(String),
  fc.double().map(String),
  fc.tuple(fc.oneof(fc.nat().map(BigInt), fc.bigInt({ min: 0n, max: 10n ** 25n })), units).map(([n, u]) => `-${n}${u}`),
  fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
  fc.constantFrom('', '0', '-0', '1', '-1', '0.2', '0.99999999999999999999', '1e309', '1e-400', 'NaN', 'Infinity', '-99999999999999d', '9'.repeat(400),
    '+275760-09-13T00:00:00.001Z', '0000-01-01T00:00:00Z', 'raw', '1m', '5m', 'cpu_percent', 'sample', 'ok', 'web-1', 'all', ',', 'sample,status,alert'),
);

describe('every GET route under random parameters (fast-check, real aggregator)', () => {
  let server: RedisServer;
  let redis: Redis;
  let agg: AgentProcess;
  let base = '';

  before(async () => {
    server = new RedisServer(await freePort());
    await server.start();
    redis = new Redis({ port: server.port, host: '127.0.0.1' });
    const now = Date.now();
    await redis.zadd(CONTAINERS_KEY, now, 'web-1');
    await redis.set(metricsKey('web-1'), JSON.stringify(makePayload({ name: 'web-1', timestamp: new Date(now).toISOString() })), 'EX', 600);
    await redis.xadd(historyKey('web-1'), '*', 'ts', String(now), 'cpu_percent', '10');
    const port = await freePort();
    agg = new AgentProcess([], { PORT: String(port), INTERVAL_SECONDS: '1', VALKEY_URL: `redis://127.0.0.1:${server.port}`, LOG_LEVEL: 'info' }, 'aggregator/src/main.ts');
    await agg.waitForLog(/aggregator listening/, 30_000);
    base = `http://127.0.0.1:${port}`;
    for (const t0 = Date.now(); (await fetch(`${base}/readyz`)).status !== 200; ) {
      assert.ok(Date.now() - t0 < 20_000, 'the aggregator did not become ready');
      await new Promise((r) => setTimeout(r, 100));
    }
  });

  after(async () => {
    await agg.stop();
    redis.disconnect();
    await server.stop();
  });

  for (const r of ROUTES) {
    it(`GET ${r.path}`, async () => {
      // One parameter random and the rest valid (a bad one ends the parse before the next is read), or any mix of them;
      // now and then one stray parameter too.
      const valid = r.valid ?? {};
      const one = r.params.length === 0 ? fc.constant(valid) : fc.tuple(fc.constantFrom(...r.params), value).map(([p, v]) => ({ ...valid, [p]: v }));
      const mix = fc.record(Object.fromEntries(r.params.map((p) => [p, value])), { requiredKeys: [] });
      const stray = fc.oneof({ arbitrary: fc.constant(null), weight: 9 }, { arbitrary: fc.tuple(fc.string({ maxLength: 8 }), value), weight: 1 });
      const query = fc.tuple(fc.oneof({ arbitrary: one, weight: 3 }, { arbitrary: mix, weight: 1 }), stray).map(([o, x]) => (x === null ? o : { ...o, [x[0]]: x[1] }));
      const name = fc.oneof({ arbitrary: fc.constant('web-1'), weight: 4 }, { arbitrary: fc.string({ minLength: 1, maxLength: 300 }), weight: 1 });
      await fc.assert(
        fc.asyncProperty(query, name, async (q, n) => {
          const params = new URLSearchParams();
          for (const [k, v] of Object.entries(q)) if (v !== undefined) params.set(k, v);
          const url = `${base}${r.path.replace(':name', encodeURIComponent(n))}?${params.toString()}`;
          const ctrl = new AbortController();
          const res = await fetch(url, { signal: ctrl.signal });
          try {
            if (res.status < 300) return;
            const text = await res.text();
            const is503 = res.status === 503 && r.documented503 === true;
            assert.ok(res.status < 500 || is503, `${url}: ${res.status} ${text}`);
            const body = JSON.parse(text) as { error?: unknown; status?: unknown };
            // SiriusScan's health shape: 503 "degraded" names each service's problem, not one error.
            if (r.path === '/api/v1/system/health' && body.status === 'degraded') return;
            assert.equal(typeof body.error, 'string', `${url}: ${res.status} without an error message`);
          } finally {
            ctrl.abort();
          }
        }),
        { numRuns: r.params.length > 0 ? 300 : 30 },
      );
    });
  }

  it('the two inputs that gave 500 are 400s naming the parameter', async () => {
    const history = await fetch(`${base}/api/v1/containers/web-1/history?since=-99999999999999d`);
    assert.equal(history.status, 400);
    assert.match(((await history.json()) as { error: string }).error, /^bad query parameter since: must not be before 1970/);
    const capacity = await fetch(`${base}/api/v1/capacity?container=web-1&cpu_cores=1&buffer=0.99999999999999999999`);
    assert.equal(capacity.status, 400);
    assert.match(((await capacity.json()) as { error: string }).error, /^bad query parameter buffer: buffer must be below 1/);
  });
});
