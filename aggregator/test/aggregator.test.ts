import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import parsePrometheus from 'parse-prometheus-text-format';
import { CONTAINERS_KEY, METRICS_CHANNEL, logKey, LOG_INDEX_KEY, metricsKey } from '../../shared/src/keys.js';
import { payloadSchema, type Payload } from '../../shared/src/payload.js';
import { AgentProcess, REPO, fixtureEnv } from '../../agent/test/helpers/agent-process.js';
import { freePort, RedisServer } from '../../agent/test/helpers/redis-server.js';

/**
 * The aggregator as a real process against a real redis-server, fed by real
 * agent processes (fixture trees, 1 s interval) and, where a test needs many
 * or broken values, by values written with redis commands.
 */

interface Agg {
  proc: AgentProcess;
  base: string;
}

async function startAggregator(valkeyPort: number, extra: Record<string, string> = {}): Promise<Agg> {
  const port = await freePort();
  const proc = new AgentProcess([], { PORT: String(port), INTERVAL_SECONDS: '1', VALKEY_URL: `redis://127.0.0.1:${valkeyPort}`, ...extra }, 'aggregator/src/main.ts');
  await proc.waitForLog(/aggregator listening/, 20_000);
  return { proc, base: `http://127.0.0.1:${port}` };
}

async function getJson(url: string, init?: RequestInit): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const r = await fetch(url, init);
  const body = (await r.json()) as Record<string, unknown>;
  return { status: r.status, body, headers: r.headers };
}

interface ListedContainer {
  name: string;
  status: string;
  sample: Payload | null;
}

async function containers(base: string): Promise<ListedContainer[]> {
  const { body } = await getJson(`${base}/api/v1/containers?include=sample`);
  return body.containers as ListedContainer[];
}

async function waitStatus(base: string, name: string, status: string, timeoutMs: number): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    const c = (await containers(base)).find((x) => x.name === name);
    if (c?.status === status) return Date.now() - t0;
    if (Date.now() - t0 > timeoutMs) throw new Error(`${name} did not become ${status} within ${timeoutMs} ms (is ${c?.status ?? 'unknown'})`);
    await sleep(100);
  }
}

/** Reads an SSE stream, collecting events until `stop()`. */
class SseReader {
  readonly events: { id: number; event: string; data: string }[] = [];
  private readonly ctrl = new AbortController();
  readonly done: Promise<void>;
  retry: number | null = null;
  constructor(url: string, headers: Record<string, string> = {}) {
    this.done = (async () => {
      try {
        const r = await fetch(url, { headers, signal: this.ctrl.signal });
        assert.equal(r.headers.get('content-type'), 'text/event-stream; charset=utf-8');
        assert.equal(r.headers.get('x-accel-buffering'), 'no');
        const reader = r.body?.getReader();
        if (!reader) return;
        const dec = new TextDecoder();
        let buf = '';
        for (;;) {
          const { value, done } = (await reader.read()) as { value?: Uint8Array; done: boolean };
          if (done) return;
          buf += dec.decode(value, { stream: true });
          let i: number;
          while ((i = buf.indexOf('\n\n')) >= 0) {
            const frame = buf.slice(0, i);
            buf = buf.slice(i + 2);
            const f: Record<string, string> = {};
            for (const line of frame.split('\n')) {
              const c = line.indexOf(':');
              if (c > 0) f[line.slice(0, c)] = line.slice(c + 2);
            }
            if (f.retry !== undefined) this.retry = Number(f.retry);
            if (f.id !== undefined) this.events.push({ id: Number(f.id), event: f.event ?? '', data: f.data ?? '' });
          }
        }
      } catch (err) {
        if (!(err instanceof Error && err.name === 'AbortError')) throw err;
      }
    })();
  }
  stop(): void {
    this.ctrl.abort();
  }
  async waitFor(pred: (e: SseReader['events'][number]) => boolean, n: number, timeoutMs: number): Promise<void> {
    const t = Date.now() + timeoutMs;
    while (this.events.filter(pred).length < n) {
      if (Date.now() > t) throw new Error(`SSE: fewer than ${n} matching events within ${timeoutMs} ms (have ${this.events.length})`);
      await sleep(50);
    }
  }
}

describe('aggregator', () => {
  let server: RedisServer;
  let redis: Redis;
  let agg: Agg;
  const procs: AgentProcess[] = [];
  let dir: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'agg-'));
    server = new RedisServer(await freePort());
    await server.start();
    redis = new Redis({ port: server.port, host: '127.0.0.1' });
    agg = await startAggregator(server.port);
    procs.push(agg.proc);
  });

  after(async () => {
    for (const p of procs) await p.stop();
    redis.disconnect();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  function agent(name: string, extra: Record<string, string> = {}): AgentProcess {
    const a = new AgentProcess([], { ...fixtureEnv('docker-v2'), CONTAINER_NAME: name, INTERVAL_SECONDS: '1', VALKEY_URL: `redis://127.0.0.1:${server.port}`, ...extra });
    procs.push(a);
    return a;
  }

  it('status transitions with real agents: ok → stale → ok, ok → stale → offline → ok, and exited on SIGTERM', async () => {
    const events = new SseReader(`${agg.base}/api/v1/events?types=status&container=st-a,st-b`);
    const a = agent('st-a');
    const b = agent('st-b', { METRICS_TTL_SECONDS: '4' });
    await waitStatus(agg.base, 'st-a', 'ok', 20_000);
    await waitStatus(agg.base, 'st-b', 'ok', 20_000);

    a.signal('SIGSTOP');
    await waitStatus(agg.base, 'st-a', 'stale', 6000);
    a.signal('SIGCONT');
    await waitStatus(agg.base, 'st-a', 'ok', 6000);

    await b.stop();
    await waitStatus(agg.base, 'st-b', 'stale', 6000);
    await waitStatus(agg.base, 'st-b', 'offline', 10_000);
    agent('st-b', { METRICS_TTL_SECONDS: '4' });
    await waitStatus(agg.base, 'st-b', 'ok', 20_000);

    a.signal('SIGTERM');
    await waitStatus(agg.base, 'st-a', 'exited', 6000);

    await events.waitFor((e) => e.event === 'status' && e.data.includes('"to":"exited"'), 1, 3000);
    events.stop();
    const seen = events.events.map((e) => JSON.parse(e.data) as { container: string; from: string; to: string });
    const path = (n: string) => seen.filter((s) => s.container === n).map((s) => `${s.from}>${s.to}`);
    assert.deepEqual(path('st-a'), ['ok>stale', 'stale>ok', 'ok>exited']);
    assert.deepEqual(path('st-b'), ['ok>stale', 'stale>offline', 'offline>ok']);
  });

  it('REST: one container, 404 JSON for unknown names, the fleet summary, GPUs list', async () => {
    agent('rest-a');
    await waitStatus(agg.base, 'rest-a', 'ok', 20_000);
    const one = await getJson(`${agg.base}/api/v1/containers/rest-a`);
    assert.equal(one.status, 200);
    const sample = payloadSchema.parse(one.body.sample);
    assert.equal(sample.container_name, 'rest-a');
    const missing = await getJson(`${agg.base}/api/v1/containers/nope`);
    assert.equal(missing.status, 404);
    assert.match(String(missing.body.error), /no container named "nope"/);
    const list = await getJson(`${agg.base}/api/v1/containers?include=sample`);
    const summary = list.body.summary as { total: number; by_status: Record<string, number>; memory: { used_bytes: number } };
    const listed = list.body.containers as ListedContainer[];
    assert.equal(summary.total, listed.length);
    const okMem = listed.filter((c) => c.status === 'ok').reduce((s, c) => s + (c.sample?.memory_usage_bytes ?? 0), 0);
    assert.equal(summary.memory.used_bytes, okMem, 'fleet memory = sum over live containers');
    const compact = (await getJson(`${agg.base}/api/v1/containers?status=ok`)).body.containers as Record<string, unknown>[];
    const row = compact.find((c) => c.name === 'rest-a');
    assert.equal(row?.sample, undefined, 'the plain list carries headline figures, not whole samples');
    assert.equal(typeof row?.memory_bytes, 'number');
    assert.ok(compact.every((c) => c.status === 'ok'), '?status= filters');
    const gpus = await getJson(`${agg.base}/api/v1/gpus`);
    assert.deepEqual(gpus.body.gpus, [], 'no GPUs in the fixture');
  });

  it('SSE: ids, retry hint, replay of exactly the missed events on Last-Event-ID', async () => {
    agent('sse-a');
    const steady = new SseReader(`${agg.base}/api/v1/events?types=sample&container=sse-a`);
    const first = new SseReader(`${agg.base}/api/v1/events?types=sample&container=sse-a`);
    await first.waitFor(() => true, 2, 20_000);
    first.stop();
    const lastId = first.events.at(-1)?.id ?? 0;
    assert.equal(first.retry, 2000);
    await steady.waitFor((e) => e.id > lastId, 3, 10_000);
    const resumed = new SseReader(`${agg.base}/api/v1/events?types=sample&container=sse-a`, { 'Last-Event-ID': String(lastId) });
    await sleep(300);
    const upTo = resumed.events[0]?.id;
    assert.ok(upTo !== undefined);
    const expected = steady.events.filter((e) => e.id > lastId && e.id <= (steady.events.at(-1)?.id ?? 0)).map((e) => e.id);
    const got = resumed.events.map((e) => e.id).slice(0, expected.length);
    assert.deepEqual(got, expected, 'the replay is exactly what the steady client got after lastId');
    for (const e of resumed.events) assert.equal(payloadSchema.parse(JSON.parse(e.data)).container_name, 'sse-a');
    steady.stop();
    resumed.stop();
  });

  it('SSE: a client that stops reading is dropped while another keeps receiving', async () => {
    const raw = await redis.get(metricsKey('sse-a'));
    assert.ok(raw !== null);
    const base = JSON.parse(raw) as Payload;
    // Only containers in the registry are taken from pub/sub: register first, as an agent does.
    await redis.zadd(CONTAINERS_KEY, Date.now(), 'flood');
    const t0 = Date.now();
    while (!(await containers(agg.base)).some((c) => c.name === 'flood')) {
      if (Date.now() - t0 > 10_000) throw new Error('flood was not listed 10 s after it was registered');
      await sleep(100);
    }
    await sleep(1200);
    const url = new URL(`${agg.base}/api/v1/events?types=sample&container=flood`);
    const slow = connect(Number(url.port), '127.0.0.1');
    let slowClosed = false;
    slow.on('close', () => {
      slowClosed = true;
    });
    slow.on('error', () => undefined);
    await new Promise<void>((r) => slow.once('connect', () => { r(); }));
    slow.write(`GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
    slow.pause();
    const good = new SseReader(url.toString());
    await sleep(200);
    const big = { ...base, container_name: 'flood', unavailable: { pad1: 'x'.repeat(10_000), pad2: 'x'.repeat(10_000) } };
    const pub = new Redis({ port: server.port, host: '127.0.0.1' });
    // 24 MB in all, far past the 1 MiB a client may fall behind, at 20 MB/s: two and a half times the byte rate
    // of 10,000 containers' samples, which a reading client keeps up with even on a loaded machine (at 100 MB/s,
    // 20 ms between bursts, the reading client itself was dropped now and then at load average 5 and above).
    const n = 1200;
    for (let i = 0; i < n; i += 100) {
      const p = pub.pipeline();
      for (let j = i; j < i + 100; j++) p.publish(METRICS_CHANNEL, JSON.stringify({ ...big, seq: j + 1 }));
      await p.exec();
      await sleep(100);
    }
    pub.disconnect();
    await good.waitFor(() => true, n, 20_000);
    good.stop();
    const metrics = await (await fetch(`${agg.base}/metrics`)).text();
    assert.match(metrics, /^system_monitor_sse_dropped_clients_total [1-9]\d*$/m);
    slow.resume();
    await sleep(500);
    assert.ok(slowClosed, 'the slow client was disconnected');
  });

  it('/metrics: Prometheus text format 0.0.4 with cAdvisor names, agent_up, no timestamps', async () => {
    await waitStatus(agg.base, 'rest-a', 'ok', 10_000);
    const r = await fetch(`${agg.base}/metrics`);
    assert.equal(r.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
    const text = await r.text();
    const fams = parsePrometheus(text);
    const byName = new Map(fams.map((f) => [f.name, f]));
    for (const n of ['container_cpu_usage_seconds_total', 'container_memory_working_set_bytes', 'container_memory_usage_bytes', 'container_network_receive_bytes_total', 'container_spec_memory_limit_bytes', 'agent_up', 'system_monitor_valkey_up', 'system_monitor_event_loop_delay_seconds']) {
      assert.ok(byName.has(n), `${n} present`);
    }
    const rss = Number(byName.get('process_resident_memory_bytes')?.metrics[0]?.value);
    const procRss = agg.proc.rssBytes();
    assert.ok(Math.abs(rss - procRss) < 0.2 * procRss, `process_resident_memory_bytes ${rss} vs /proc VmRSS ${procRss}`);
    const up = byName.get('agent_up')?.metrics ?? [];
    assert.equal(up.find((m) => m.labels?.container === 'rest-a')?.value, '1');
    const exitedUp = up.find((m) => m.labels?.container === 'st-a');
    assert.equal(exitedUp?.value, '0', 'an exited container reports agent_up 0');
    const usage = byName.get('container_memory_usage_bytes')?.metrics ?? [];
    assert.ok(!usage.some((m) => m.labels?.container === 'st-a'), "a dead container's series are dropped");
    const sample = payloadSchema.parse(JSON.parse((await redis.get(metricsKey('rest-a'))) ?? '{}'));
    assert.equal(Number(usage.find((m) => m.labels?.container === 'rest-a')?.value), sample.memory_usage_bytes);
    for (const line of text.split('\n')) {
      if (line === '' || line.startsWith('#')) continue;
      assert.match(line, /^[a-zA-Z_:][\w:]*(\{.*\})? -?[\d.e+-]+$/, `one value, no timestamp: ${line}`);
    }
  });

  it('Sirius routes: the exact shapes SiriusScan\'s UI reads, logs newest first', async () => {
    const { body } = await getJson(`${agg.base}/api/v1/system/resources`);
    assert.deepEqual(Object.keys(body).sort(), ['containers', 'message', 'summary', 'timestamp']);
    const rows = body.containers as Record<string, unknown>[];
    const keys = ['name', 'cpu_percent', 'memory_usage', 'memory_percent', 'network_io', 'block_io', 'disk_usage', 'disk_percent', 'process_count', 'file_descriptors', 'load_average_1m', 'load_average_5m', 'load_average_15m', 'uptime', 'status'];
    for (const row of rows) {
      assert.deepEqual(Object.keys(row), keys);
      assert.match(String(row.memory_usage), /^(0B|\d+B|\d+\.\dKB|\d+\.\dMB|\d+\.\dGB|\d+\.\dTB)$/);
      assert.match(String(row.network_io), /^\S+ \/ \S+$/);
      assert.match(String(row.uptime), /^(\d+s|\d+m \d+s|\d+h \d+m|\d+d \d+h)$/);
      for (const k of ['cpu_percent', 'memory_percent', 'disk_percent', 'load_average_1m']) assert.equal(typeof row[k], 'number');
    }
    const live = rows.find((r) => r.name === 'rest-a');
    const sample = payloadSchema.parse(JSON.parse((await redis.get(metricsKey('rest-a'))) ?? '{}'));
    assert.equal(live?.memory_usage, `${((sample.memory_usage_bytes ?? 0) / 1048576).toFixed(1)}MB`);
    assert.equal(live?.status, 'running');
    const summary = body.summary as Record<string, unknown>;
    assert.deepEqual(Object.keys(summary), ['total_containers', 'running_containers', 'total_cpu_percent', 'total_memory_usage', 'total_memory_percent']);
    assert.equal(summary.running_containers, rows.filter((r) => r.status === 'running').length);

    // Logs: write entries with known times; the newest come first, per container too.
    const now = Date.now();
    for (let i = 0; i < 5; i++) {
      const key = logKey('logs-x', BigInt(now + i) * 1_000_000n);
      await redis.set(key, JSON.stringify({ container_name: 'logs-x', timestamp: new Date(now + i).toISOString(), level: 'info', message: `m${i}` }), 'EX', 60);
      await redis.zadd(LOG_INDEX_KEY, now + i, key);
    }
    const logs = await getJson(`${agg.base}/api/v1/system/logs?container=logs-x&lines=3`);
    assert.deepEqual(Object.keys(logs.body), ['message', 'timestamp', 'container', 'lines', 'logs', 'summary']);
    assert.deepEqual((logs.body.logs as { message: string }[]).map((l) => l.message), ['m4', 'm3', 'm2']);
    assert.deepEqual(logs.body.summary, { total_logs: 3, containers: ['logs-x'] });
  });

  it('garbage and a wrong schema version under system:metrics:* are skipped and counted; the list still works', async () => {
    const good = JSON.parse((await redis.get(metricsKey('rest-a'))) ?? '{}') as Record<string, unknown>;
    await redis.set(metricsKey('junk'), 'definitely {not json');
    await redis.set(metricsKey('v99'), JSON.stringify({ ...good, container_name: 'v99', schema_version: 99 }));
    await redis.set(metricsKey('liar'), JSON.stringify({ ...good, container_name: 'someone-else' }));
    await redis.zadd(CONTAINERS_KEY, Date.now(), 'junk', Date.now(), 'v99', Date.now(), 'liar');
    await sleep(2500);
    const list = await containers(agg.base);
    for (const n of ['junk', 'v99', 'liar']) assert.equal(list.find((c) => c.name === n)?.sample, null, `${n} has no sample`);
    assert.equal(list.find((c) => c.name === 'rest-a')?.status, 'ok', 'valid containers unaffected');
    const m = await (await fetch(`${agg.base}/metrics`)).text();
    const invalid = Number(/^system_monitor_invalid_payloads_total (\d+)$/m.exec(m)?.[1]);
    assert.ok(invalid >= 3, `invalid payloads counted (${invalid})`);
    const warned = agg.proc.said(/not a valid sample/).filter((l) => String(l.key).endsWith(':junk'));
    assert.equal(warned.length, 1, 'logged once per key, not every poll');
  });

  it('bad query params, unknown routes, bad methods and oversized headers get 4xx JSON; the server carries on', async () => {
    const cases: [string, number, RegExp][] = [
      ['/api/v1/system/logs?lines=abc', 400, /query parameter lines/],
      ['/api/v1/system/logs?lines=100000', 400, /at most 1000/],
      ['/api/v1/events?types=bogus', 400, /query parameter types/],
      ['/api/v1/containers?status=zombie', 400, /query parameter status/],
      ['/api/v1/containers?foo=1', 400, /Unrecognized key/],
      ['/api/v1/nothing', 404, /no route/],
      ['/api/v1/containers/%E0%A4%A', 400, /percent-encoding/],
    ];
    for (const [path, status, re] of cases) {
      const r = await getJson(`${agg.base}${path}`);
      assert.equal(r.status, status, path);
      assert.match(String(r.body.error), re, path);
    }
    const post = await getJson(`${agg.base}/api/v1/containers`, { method: 'POST' });
    assert.equal(post.status, 405);
    const huge = await rawRequest(agg.base, `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(40_000)}\r\n\r\n`);
    assert.match(huge, /^HTTP\/1\.1 431 /);
    assert.match(huge, /"error":"request headers too large"/);
    assert.equal((await getJson(`${agg.base}/healthz`)).status, 200, 'still serving');
  });

  it('two more replicas serve the same fleet view and the same sample events', async () => {
    const b = await startAggregator(server.port);
    const c = await startAggregator(server.port);
    procs.push(b.proc, c.proc);
    // Replicas converge within a poll; a status can flip between two reads, so compare until they agree.
    // A container whose key expired after a clean stop is `exited` to a replica
    // that saw the exited sample and `offline` to one that started later (the
    // key, and with it the exit, is gone): both say "not running, no sample".
    let views: string[] = [];
    const deadline = Date.now() + 10_000;
    do {
      await sleep(500);
      const rows = await Promise.all([agg, b, c].map((x) => containers(x.base)));
      const names = [...new Set(rows.flat().map((y) => y.name))];
      const keys = await Promise.all(names.map(async (n) => [n, await redis.exists(metricsKey(n))] as const));
      const gone = new Set(keys.filter(([, e]) => e === 0).map(([n]) => n));
      views = rows.map((list) => list.map((y) => `${y.name}:${gone.has(y.name) && y.status === 'exited' ? 'offline' : y.status}`).join(','));
    } while ((views[1] !== views[0] || views[2] !== views[0]) && Date.now() < deadline);
    assert.notEqual(views[0], '', 'the fleet is not empty');
    assert.equal(views[1], views[0]);
    assert.equal(views[2], views[0]);
    const readers = [agg, b, c].map((x) => new SseReader(`${x.base}/api/v1/events?types=sample&container=rest-a`));
    await Promise.all(readers.map((r) => r.waitFor(() => true, 2, 10_000)));
    for (const r of readers) r.stop();
    const seqs = readers.map((r) => new Set(r.events.map((e) => payloadSchema.parse(JSON.parse(e.data)).seq)));
    const common = [...(seqs[0] ?? [])].filter((s) => seqs.every((set) => set.has(s)));
    assert.ok(common.length >= 1, 'the same samples reached every replica');
  });

  it('auth: tokens file, 401 JSON without a token, Bearer or ?token= on events, /healthz open; a bad file is refused', async () => {
    const file = join(dir, 'tokens.json');
    writeFileSync(file, JSON.stringify({ tokens: [{ token: 'viewer-token-0123456789', role: 'viewer' }] }));
    const s = await startAggregator(server.port, { AUTH_TOKENS_FILE: file });
    procs.push(s.proc);
    assert.equal((await getJson(`${s.base}/api/v1/containers`)).status, 401);
    assert.equal((await fetch(`${s.base}/metrics`)).status, 401);
    assert.equal((await getJson(`${s.base}/api/v1/containers`, { headers: { Authorization: 'Bearer viewer-token-0123456789' } })).status, 200);
    assert.equal((await getJson(`${s.base}/api/v1/containers?token=viewer-token-0123456789`)).status, 401, '?token= only on the events route');
    assert.equal((await getJson(`${s.base}/healthz`)).status, 200);
    const ev = await fetch(`${s.base}/api/v1/events?token=viewer-token-0123456789`);
    assert.equal(ev.status, 200);
    await ev.body?.cancel();

    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ tokens: [{ token: 'short', role: 'root' }] }));
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'aggregator/src/main.ts'], { cwd: REPO, encoding: 'utf8', env: { PATH: process.env.PATH ?? '', AUTH_TOKENS_FILE: bad, PORT: '0' } });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--auth-tokens-file .*bad\.json: tokens\.0\.token: tokens must be at least 16 characters/);
  });
});

describe('aggregator CORS', () => {
  it('off by default; with CORS_ORIGINS only the listed origins get the header', async () => {
    const vport = await freePort();
    const plain = await startAggregator(vport);
    const listed = await startAggregator(vport, { CORS_ORIGINS: 'https://ui.example' });
    try {
      const h = { Origin: 'https://ui.example' };
      assert.equal((await fetch(`${plain.base}/healthz`, { headers: h })).headers.get('access-control-allow-origin'), null);
      assert.equal((await fetch(`${listed.base}/healthz`, { headers: h })).headers.get('access-control-allow-origin'), 'https://ui.example');
      assert.equal((await fetch(`${listed.base}/healthz`, { headers: { Origin: 'https://evil.example' } })).headers.get('access-control-allow-origin'), null);
      const pre = await fetch(`${listed.base}/api/v1/containers`, { method: 'OPTIONS', headers: h });
      assert.equal(pre.status, 204);
      assert.match(pre.headers.get('access-control-allow-headers') ?? '', /Authorization/);
    } finally {
      await plain.proc.stop();
      await listed.proc.stop();
    }
  });
});

describe('aggregator without Valkey', () => {
  it('starts, serves /healthz, /readyz says why, and recovers when Valkey appears', async () => {
    const vport = await freePort();
    const agg = await startAggregator(vport);
    try {
      assert.equal((await getJson(`${agg.base}/healthz`)).status, 200);
      const notReady = await getJson(`${agg.base}/readyz`);
      assert.equal(notReady.status, 503);
      assert.match(String(notReady.body.error), /Valkey is not reachable/);
      const s = new RedisServer(vport);
      await s.start();
      try {
        const t0 = Date.now();
        while ((await getJson(`${agg.base}/readyz`)).status !== 200) {
          if (Date.now() - t0 > 8000) throw new Error('not ready 8 s after Valkey appeared');
          await sleep(100);
        }
        assert.ok(agg.proc.alive);
      } finally {
        await s.stop();
      }
    } finally {
      await agg.proc.stop();
    }
  });
});

function rawRequest(base: string, text: string): Promise<string> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const s = connect(Number(u.port), '127.0.0.1');
    let out = '';
    s.on('data', (d) => (out += d.toString()));
    s.on('end', () => { resolve(out); });
    s.on('close', () => { resolve(out); });
    s.on('error', reject);
    s.write(text);
  });
}

