import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { parseHistoryRow } from '../../shared/src/history.js';
import { CONTAINERS_KEY, LOG_INDEX_KEY, METRICS_CHANNEL, historyKey, metricsKey } from '../../shared/src/keys.js';
import { payloadSchema, siriusFieldNames } from '../../shared/src/payload.js';
import { AgentProcess, REPO, fixtureEnv } from './helpers/agent-process.js';
import { freePort, RedisServer } from './helpers/redis-server.js';

const FIXTURE_MEMORY_CURRENT = Number(readFileSync(join(REPO, 'agent/test/fixtures/docker-v2/sys/fs/cgroup/memory.current'), 'utf8').trim());

function agentEnv(name: string, port: number, extra: Record<string, string> = {}): Record<string, string> {
  return { ...fixtureEnv('docker-v2'), CONTAINER_NAME: name, INTERVAL_SECONDS: '1', VALKEY_URL: `redis://127.0.0.1:${port}`, ...extra };
}

async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | null>): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe().catch(() => null);
    if (v !== null) return v;
    if (Date.now() > until) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(50);
  }
}

describe('agent publishing to a real redis-server', () => {
  let server: RedisServer;
  let redis: Redis;
  const agents: AgentProcess[] = [];

  before(async () => {
    server = new RedisServer(await freePort());
    await server.start();
    redis = new Redis({ port: server.port, host: '127.0.0.1', lazyConnect: true });
    await redis.connect();
  });

  after(async () => {
    for (const a of agents) await a.stop();
    redis.disconnect();
    await server.stop();
  });

  function start(name: string, extra: Record<string, string> = {}): AgentProcess {
    const a = new AgentProcess([], agentEnv(name, server.port, extra));
    agents.push(a);
    return a;
  }

  it('every tick: the Sirius key with a ttl, the registry, a history entry, a pub/sub message, and a "started" log entry', async () => {
    const sub = new Redis({ port: server.port, host: '127.0.0.1' });
    const messages: string[] = [];
    await sub.subscribe(METRICS_CHANNEL);
    sub.on('message', (_ch: string, m: string) => messages.push(m));
    const t0 = Date.now();
    const a = start('pub-basic');
    try {
      await waitFor('two published samples', 15_000, () => Promise.resolve(messages.length >= 2 ? true : null));
      const raw = await redis.get(metricsKey('pub-basic'));
      assert.ok(raw !== null, 'the metrics key exists');
      const sample = payloadSchema.parse(JSON.parse(raw));
      assert.equal(sample.container_name, 'pub-basic', 'container_name equals the key suffix');
      assert.equal(sample.status, 'running');
      assert.equal(sample.memory_usage_bytes, FIXTURE_MEMORY_CURRENT);
      assert.deepEqual(Object.keys(JSON.parse(raw) as object).slice(0, 19), [...siriusFieldNames], 'the 19 Sirius fields come first, in order');
      const ttl = await redis.ttl(metricsKey('pub-basic'));
      assert.ok(ttl > 0 && ttl <= 15, `ttl is max(15, 3 × 1 s) = 15, got ${ttl}`);

      const score = Number(await redis.zscore(CONTAINERS_KEY, 'pub-basic'));
      assert.ok(score >= t0 && score <= Date.now(), `registry score ${score} is a recent unix ms`);

      const entries = await redis.xrangeBuffer(historyKey('pub-basic'), '-', '+');
      assert.ok(entries.length >= 1, 'history has entries');
      const last = entries.at(-1);
      assert.ok(last);
      const h = parseHistoryRow(last[1]);
      assert.equal(h.memory_bytes, FIXTURE_MEMORY_CURRENT);
      assert.ok(h.ts !== null && h.ts >= t0);

      const published = payloadSchema.parse(JSON.parse(messages[messages.length - 1] ?? ''));
      assert.equal(published.container_name, 'pub-basic');
      assert.ok(published.agent.publish !== null && published.agent.publish.published_total >= 1, 'agent.publish reports its own health');

      const logKeys = await redis.zrange(LOG_INDEX_KEY, '0', '-1');
      const mine = logKeys.filter((k) => k.startsWith('system:logs:pub-basic:'));
      assert.equal(mine.length, 1, `exactly one log entry (started), got ${mine.join(', ')}`);
      const key = mine[0] ?? '';
      assert.match(key, /^system:logs:pub-basic:\d{19}$/, 'the key ends in unix nanoseconds');
      const entry = JSON.parse((await redis.get(key)) ?? '{}') as Record<string, unknown>;
      assert.deepEqual(Object.keys(entry), ['container_name', 'timestamp', 'level', 'message']);
      assert.equal(entry.container_name, 'pub-basic');
      assert.match(String(entry.message), /started/);
      assert.equal(entry.level, 'INFO', 'levels in upper case, as SiriusScan\'s Go agent wrote them');
      const logTtl = await redis.ttl(key);
      assert.ok(logTtl > 86_000 && logTtl <= 86_400, `log ttl is 24 h, got ${logTtl}`);
      assert.ok(a.alive);
    } finally {
      sub.disconnect();
    }
  });

  it('the first sample is written, not skipped while the first connection comes up (no NVML here: nothing waits for the worker)', async () => {
    const sub = new Redis({ port: server.port, host: '127.0.0.1' });
    const messages: string[] = [];
    await sub.subscribe(METRICS_CHANNEL);
    sub.on('message', (_ch: string, m: string) => messages.push(m));
    start('pub-first');
    try {
      const firstRaw = await waitFor('the first sample', 15_000, () => Promise.resolve(messages.find((m) => m.includes('"pub-first"')) ?? null));
      const first = payloadSchema.parse(JSON.parse(firstRaw));
      assert.equal(first.agent.publish?.skipped_total, 0, 'no sample was skipped before the first one written');
      assert.equal(first.agent.publish.published_total, 0, 'it is the very first sample');
      assert.deepEqual(first.gpus, []);
      assert.equal(first.agent.collectors.gpu?.ok, true);
    } finally {
      sub.disconnect();
    }
  });

  it('doctor reads the running agent\'s own publishing health from its key', async () => {
    start('pub-doctor');
    const raw = await waitFor('the key', 15_000, () => redis.get(metricsKey('pub-doctor')));
    const pub = payloadSchema.parse(JSON.parse(raw)).agent.publish;
    assert.ok(pub !== null);
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'agent/src/main.ts', 'doctor', '--json'], {
      cwd: REPO,
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '', ...fixtureEnv('docker-v2'), CONTAINER_NAME: 'pub-doctor', VALKEY_URL: `redis://127.0.0.1:${server.port}` },
    });
    assert.equal(r.status, 0, r.stderr);
    const report = JSON.parse(r.stdout) as { valkey: { status: string; details: string[] } };
    assert.equal(report.valkey.status, 'ok');
    const line = report.valkey.details.find((d) => d.startsWith('last sample under system:metrics:pub-doctor'));
    assert.ok(line, report.valkey.details.join('\n'));
    assert.match(line, /status running, agent pid \d+; published \d+, skipped \d+, last error none/);
  });

  it('a published payload decodes under the Go consumer\'s strict rules', async () => {
    start('pub-go');
    // The first sample has no rates yet (null, which Go decodes as zero); from
    // the second on, the fixture gives every field a value, and each must have Go's type.
    const raw = await waitFor('a second sample', 15_000, async () => {
      const v = await redis.get(metricsKey('pub-go'));
      return v !== null && payloadSchema.parse(JSON.parse(v)).seq >= 2 ? v : null;
    });
    assertGoDecodable(raw);
  });

  it('METRICS_TTL_SECONDS and HISTORY_LENGTH are honoured', async () => {
    start('pub-ttl', { METRICS_TTL_SECONDS: '40', HISTORY_LENGTH: '3' });
    await waitFor('5 history entries written', 15_000, async () => {
      const info = (await redis.xinfo('STREAM', historyKey('pub-ttl'))) as unknown[];
      const added = Number(info[info.indexOf('entries-added') + 1]);
      return added >= 5 ? true : null;
    });
    const ttl = await redis.ttl(metricsKey('pub-ttl'));
    assert.ok(ttl > 30 && ttl <= 40, `ttl ${ttl}`);
    // MAXLEN ~ trims by whole macro nodes, so the stream stays near, not exactly at, 3;
    // with 100-entry nodes that is at most one node.
    assert.ok((await redis.xlen(historyKey('pub-ttl'))) <= 100);
  });

  it('SIGTERM: one final write with status "exited" and a short ttl, then exit 0 within 2 s', async () => {
    const a = start('pub-term', { METRICS_TTL_SECONDS: '120' });
    await waitFor('the key', 15_000, () => redis.get(metricsKey('pub-term')));
    const t0 = Date.now();
    a.signal('SIGTERM');
    const { code } = await a.exited(5000);
    const took = Date.now() - t0;
    assert.equal(code, 0);
    assert.ok(took < 2000, `exited in ${took} ms`);
    const final = payloadSchema.parse(JSON.parse((await redis.get(metricsKey('pub-term'))) ?? '{}'));
    assert.equal(final.status, 'exited');
    const ttl = await redis.ttl(metricsKey('pub-term'));
    assert.ok(ttl > 0 && ttl <= 60, `the exited sample has a short ttl (${ttl} s, normal 120 s)`);
    const logs = await redis.zrange(LOG_INDEX_KEY, '0', '-1');
    const msgs = await Promise.all(logs.filter((k) => k.startsWith('system:logs:pub-term:')).map((k) => redis.get(k)));
    assert.ok(msgs.some((m) => m?.includes('stopping (SIGTERM)')), 'a "stopping" log entry was written');
  });

  it('a second signal exits at once, even while the final write hangs', async () => {
    const port = await freePort();
    const frozen = new RedisServer(port);
    await frozen.start();
    const a = new AgentProcess([], agentEnv('pub-twice', port));
    agents.push(a);
    try {
      await a.waitForLog(/Valkey connected/, 15_000);
      frozen.pause();
      a.signal('SIGINT');
      await a.waitForLog(/stopping: writing the final sample/, 3000);
      await sleep(100);
      const t0 = Date.now();
      a.signal('SIGINT');
      const { code } = await a.exited(3000);
      assert.equal(code, 130, 'exit code 128 + SIGINT');
      assert.ok(Date.now() - t0 < 500, `second signal exited in ${Date.now() - t0} ms`);
    } finally {
      frozen.resume();
      await frozen.stop();
    }
  });
});

/**
 * What SiriusScan's Go consumer does with `encoding/json` into its struct: the
 * 19 names present; int64/int fields must be JSON integers (no fraction, no
 * exponent: `json: cannot unmarshal number 1.5 into Go struct field`);
 * float64 fields numbers; `timestamp` and `status` strings. Checked on the
 * raw text so a `1e+21` cannot hide behind JSON.parse.
 */
function assertGoDecodable(raw: string): void {
  const doc = JSON.parse(raw) as Record<string, unknown>;
  const ints = ['memory_usage_bytes', 'network_rx_bytes', 'network_tx_bytes', 'disk_read_bytes', 'disk_write_bytes', 'disk_usage_bytes', 'disk_total_bytes', 'process_count', 'file_descriptors', 'uptime_seconds'];
  const floats = ['cpu_percent', 'memory_percent', 'disk_percent', 'load_average_1m', 'load_average_5m', 'load_average_15m'];
  for (const f of siriusFieldNames) assert.ok(f in doc, `field ${f} present`);
  for (const f of ints) {
    const v = doc[f];
    assert.ok(typeof v === 'number' && Number.isInteger(v), `${f} is an integer (got ${JSON.stringify(v)})`);
    const m = new RegExp(`"${f}":(-?[0-9.eE+]+)[,}]`).exec(raw);
    assert.ok(m?.[1] !== undefined && /^-?\d+$/.test(m[1]), `${f} is written as a plain integer literal (got ${m?.[1]})`);
  }
  for (const f of floats) {
    const v = doc[f];
    assert.ok(typeof v === 'number' && Number.isFinite(v), `${f} is a finite number (got ${JSON.stringify(v)})`);
  }
  assert.equal(typeof doc.container_name, 'string');
  assert.equal(typeof doc.status, 'string');
  assert.ok(typeof doc.timestamp === 'string' && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(doc.timestamp), 'timestamp is RFC 3339');
  assert.doesNotMatch(raw, /NaN|Infinity/);
}
