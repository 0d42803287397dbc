import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { LOG_INDEX_KEY, logKey, metricsKey } from '../../shared/src/keys.js';
import { siriusHealthSchema, siriusLogsSchema, siriusResourcesSchema } from '../../shared/src/sirius.js';
import { AgentProcess, REPO, fixtureEnv } from '../../agent/test/helpers/agent-process.js';
import { freePort, RedisServer } from '../../agent/test/helpers/redis-server.js';
import { until } from '../../agent/test/helpers/until.js';

/**
 * SiriusScan's UI (sirius-ui) against the aggregator: real agents, a real
 * redis-server, and the aggregator started exactly as the README's section
 * "Pointing SiriusScan's UI at the aggregator" says. Requests are made the
 * way the UI's code makes them (its health check sends `Content-Type:
 * application/json` on a GET, which browsers preflight; its restart button
 * POSTs JSON), and every answer is parsed with the shapes the UI reads.
 */

interface ReadmeSetup {
  /** `NAME=value` settings on the aggregator's line. */
  env: Record<string, string>;
  /** The command on that line after the settings. */
  command: string;
  /** The UI's `NEXT_PUBLIC_SIRIUS_API_URL`. */
  apiUrl: URL;
}

function readmeSetup(): ReadmeSetup {
  const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
  const start = readme.indexOf("### Pointing SiriusScan's UI at the aggregator");
  assert.ok(start >= 0, 'the README has the section "Pointing SiriusScan\'s UI at the aggregator"');
  const block = /```sh\n([\s\S]*?)```/.exec(readme.slice(start))?.[1];
  assert.ok(block !== undefined, 'the section has a sh block');
  const lines = block.split('\n').filter((l) => l.trim() !== '' && !l.trim().startsWith('#'));
  const agg = lines.find((l) => /\bnpm run aggregator\b/.test(l));
  const ui = lines.find((l) => l.startsWith('NEXT_PUBLIC_SIRIUS_API_URL='));
  assert.ok(agg !== undefined && ui !== undefined, `the block has the aggregator's line and the UI's setting:\n${block}`);
  const m = /^((?:[A-Z_]+=\S+\s+)+)(.+)$/.exec(agg);
  assert.ok(m?.[1] !== undefined && m[2] !== undefined, `the aggregator line sets its variables before the command: ${agg}`);
  const env = Object.fromEntries(m[1].trim().split(/\s+/).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
  return { env, command: m[2].trim(), apiUrl: new URL(ui.slice('NEXT_PUBLIC_SIRIUS_API_URL='.length)) };
}

/** The README's command, run through a shell in the repository as a user would; the whole process group is stopped after. */
class ShellProcess {
  readonly child: ChildProcess;
  out = '';
  constructor(command: string, env: Record<string, string>) {
    this.child = spawn('sh', ['-c', command], { cwd: REPO, env: { ...process.env, ...env }, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout?.setEncoding('utf8').on('data', (d: string) => (this.out += d));
    this.child.stderr?.setEncoding('utf8').on('data', (d: string) => (this.out += d));
  }

  said(re: RegExp): string[] {
    return this.out.split('\n').filter((l) => re.test(l));
  }

  stop(): void {
    if (this.child.pid !== undefined && this.child.exitCode === null) {
      try {
        process.kill(-this.child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}

async function waitHealthz(base: string, what: () => string): Promise<void> {
  await until(
    `the aggregator at ${base} to answer /healthz (it said:\n${what()})`,
    async () => ((await fetch(`${base}/healthz`).catch(() => null))?.ok === true ? true : null),
    60_000,
    200,
  );
}

describe("SiriusScan's UI against the aggregator", () => {
  let server: RedisServer;
  let redis: Redis;
  let agg: ShellProcess;
  let base: string;
  let origin: string;
  const agents: AgentProcess[] = [];
  const startAgent = (name: string, extra: Record<string, string> = {}) => {
    const a = new AgentProcess([], { ...fixtureEnv('docker-v2'), CONTAINER_NAME: name, INTERVAL_SECONDS: '1', VALKEY_URL: `redis://127.0.0.1:${server.port}`, ...extra });
    agents.push(a);
    return a;
  };

  before(async () => {
    server = new RedisServer(await freePort());
    await server.start();
    redis = new Redis({ port: server.port, lazyConnect: true });
    await redis.connect();
    const setup = readmeSetup();
    const cors = setup.env.CORS_ORIGINS;
    assert.ok(cors !== undefined, 'the README sets CORS_ORIGINS');
    origin = cors.split(',')[0] ?? '';
    assert.equal(setup.apiUrl.port, '8080', "the UI's API URL in the README points at the aggregator's default port");
    // Only where to find this test's Valkey and a free port are added to what the README says.
    const port = await freePort();
    agg = new ShellProcess(setup.command, { ...setup.env, PORT: String(port), VALKEY_URL: `redis://127.0.0.1:${server.port}`, INTERVAL_SECONDS: '1', LOG_LEVEL: 'info' });
    base = `http://127.0.0.1:${port}`;
    startAgent('sirius-api');
    startAgent('sirius-ui', { METRICS_TTL_SECONDS: '4' });
    await waitHealthz(base, () => agg.out);
  });

  after(async () => {
    for (const a of agents) await a.stop();
    agg.stop();
    redis.disconnect();
    await server.stop();
  });

  /** The UI's health check: a GET with `Content-Type: application/json`, preceded by the browser's preflight. */
  async function uiHealthCheck() {
    const pre = await fetch(`${base}/api/v1/system/health`, {
      method: 'OPTIONS',
      headers: { Origin: origin, 'Access-Control-Request-Method': 'GET', 'Access-Control-Request-Headers': 'content-type' },
    });
    assert.equal(pre.status, 204, 'the preflight succeeds');
    assert.equal(pre.headers.get('access-control-allow-origin'), origin);
    assert.ok((pre.headers.get('access-control-allow-headers') ?? '').toLowerCase().split(/,\s*/).includes('content-type'), 'Content-Type is allowed');
    assert.ok((pre.headers.get('access-control-allow-methods') ?? '').split(/,\s*/).includes('GET'));
    const r = await fetch(`${base}/api/v1/system/health`, { headers: { Origin: origin, 'Content-Type': 'application/json' } });
    assert.equal(r.headers.get('access-control-allow-origin'), origin, 'the browser may read the answer');
    // The UI reads the body of a 200 and of a 503 alike (healthCheckService.checkSystemHealth).
    assert.ok(r.status === 200 || r.status === 503, `200 or 503, got ${r.status}`);
    return { status: r.status, body: siriusHealthSchema.parse(await r.json()) };
  }

  it('README setup: preflight and GET from the UI\'s origin succeed; health lists every container up, healthy, HTTP 200', async () => {
    const h = await until('both containers up in /api/v1/system/health', async () => {
      const x = await uiHealthCheck();
      return x.body.services['sirius-api']?.status === 'up' && x.body.services['sirius-ui']?.status === 'up' ? x : null;
    }, 20_000, 250);
    assert.equal(h.status, 200);
    assert.equal(h.body.status, 'healthy');
    assert.equal(h.body.overall, 'healthy');
    assert.deepEqual(Object.keys(h.body.services).sort(), ['sirius-api', 'sirius-ui']);
    // The resources GET the UI sends without a preflight (no custom header).
    const r = await fetch(`${base}/api/v1/system/resources`, { headers: { Origin: origin } });
    assert.equal(r.headers.get('access-control-allow-origin'), origin);
    const body = siriusResourcesSchema.parse(await r.json());
    const live = body.containers.find((c) => c.name === 'sirius-api');
    const sample = JSON.parse((await redis.get(metricsKey('sirius-api'))) ?? '{}') as { memory_usage_bytes: number };
    const mib = sample.memory_usage_bytes / 1024 ** 2;
    assert.equal(live?.memory_usage, `${mib.toFixed(1)}MB`, 'memory as SiriusScan formats it (the fixture holds tens of MiB)');
  });

  it('log levels: the agent writes them upper case; an older agent\'s lower-case entry is served upper case', async () => {
    const started = await until('the agent\'s "started" entry', async () => {
      const keys = (await redis.zrange(LOG_INDEX_KEY, '0', '-1')).filter((k) => k.startsWith('system:logs:sirius-api:'));
      const raw = keys.length > 0 ? await redis.get(keys[0] ?? '') : null;
      return raw === null ? null : (JSON.parse(raw) as { level: string; message: string });
    }, 10_000);
    assert.equal(started.level, 'INFO');
    const now = Date.now();
    const key = logKey('old-agent', BigInt(now) * 1_000_000n);
    await redis.set(key, JSON.stringify({ container_name: 'old-agent', timestamp: new Date(now).toISOString(), level: 'warn', message: 'written by an older agent' }), 'EX', 60);
    await redis.zadd(LOG_INDEX_KEY, now, key);
    const r = await fetch(`${base}/api/v1/system/logs?container=all&lines=50`, { headers: { Origin: origin } });
    assert.equal(r.headers.get('access-control-allow-origin'), origin);
    const logs = siriusLogsSchema.parse(await r.json());
    assert.equal(logs.logs.find((l) => l.container_name === 'old-agent')?.level, 'WARN');
    assert.ok(logs.logs.length >= 2);
    for (const l of logs.logs) assert.equal(l.level, l.level.toUpperCase(), `upper case: ${l.level}`);
  });

  it('the restart button: preflight allowed, 501 JSON saying the aggregator does not control containers; bad bodies are 4xx', async () => {
    const pre = await fetch(`${base}/api/v1/admin/command`, {
      method: 'OPTIONS',
      headers: { Origin: origin, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type' },
    });
    assert.equal(pre.status, 204);
    assert.ok((pre.headers.get('access-control-allow-methods') ?? '').split(/,\s*/).includes('POST'));
    const post = (body: string, type = 'application/json') =>
      fetch(`${base}/api/v1/admin/command`, { method: 'POST', headers: { Origin: origin, 'Content-Type': type }, body });
    const r = await post(JSON.stringify({ action: 'restart', container_name: 'sirius-api' }));
    assert.equal(r.status, 501);
    assert.equal(r.headers.get('access-control-allow-origin'), origin, 'the UI can read the message');
    const body = (await r.json()) as { error: string };
    assert.match(body.error, /does not control containers/);
    assert.match(body.error, /"restart" for "sirius-api"/);
    const bad: [string, string, number, RegExp][] = [
      ['{not json', 'application/json', 400, /not valid JSON/],
      [JSON.stringify({ action: 'restart' }), 'application/json', 400, /body field container_name/],
      ['action=restart', 'application/x-www-form-urlencoded', 415, /must be JSON/],
      [JSON.stringify({ action: 'restart', container_name: 'x'.repeat(20_000) }), 'application/json', 413, /larger than/],
    ];
    for (const [b, type, status, re] of bad) {
      const x = await post(b, type);
      assert.equal(x.status, status, `${type} ${b.slice(0, 40)}`);
      assert.match(((await x.json()) as { error: string }).error, re);
    }
    const get = await fetch(`${base}/api/v1/admin/command`);
    assert.equal(get.status, 405);
    assert.equal(get.headers.get('allow'), 'POST, OPTIONS');
    assert.ok((await fetch(`${base}/healthz`)).ok, 'the server carries on');
  });

  it('a clean stop: exited in health (down, 503) and in the resources table, still exited with zeros after the key expired', async () => {
    const ui = agents[1];
    assert.ok(ui !== undefined);
    ui.signal('SIGTERM');
    await ui.exited(10_000);
    const exitedAt = await until('sirius-ui exited in health', async () => {
      const h = await uiHealthCheck();
      const s = h.body.services['sirius-ui'];
      return h.status === 503 && s?.status === 'down' && /^exited at /.test(s.message ?? '') ? s : null;
    }, 10_000, 200);
    assert.equal((await until('sirius-ui key gone', async () => ((await redis.exists(metricsKey('sirius-ui'))) === 0 ? true : null), 15_000, 250)), true);
    // The aggregator's poll notices the key is gone within an interval or two.
    await new Promise((r) => setTimeout(r, 2500));
    const r = siriusResourcesSchema.parse(await (await fetch(`${base}/api/v1/system/resources`)).json());
    const row = r.containers.find((c) => c.name === 'sirius-ui');
    assert.deepEqual(row && [row.status, row.cpu_percent, row.memory_usage, row.process_count, row.uptime], ['exited', 0, '0B', 0, '0s']);
    const own = (await (await fetch(`${base}/api/v1/containers/sirius-ui`)).json()) as { status: string; sample: unknown };
    assert.deepEqual([own.status, own.sample], ['exited', null], 'our own API agrees: exited, no sample left');
    const h = await uiHealthCheck();
    assert.equal(h.status, 503);
    assert.equal(h.body.overall, 'degraded');
    assert.equal(h.body.services['sirius-ui']?.message, exitedAt.message, 'the same exit time after the key expired');
    assert.equal(h.body.services['sirius-api']?.status, 'up');
  });
});

describe('the aggregator without CORS_ORIGINS, and with tokens', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'sirius-ui-'));
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('a browser origin is refused (no CORS headers, preflight 403) and logged once with the setting that would allow it; health needs a token like every route', async () => {
    const vport = await freePort();
    const server = new RedisServer(vport);
    await server.start();
    const tokens = join(dir, 'tokens.json');
    writeFileSync(tokens, JSON.stringify({ tokens: [{ token: 'sirius-ui-test-token-0123456789', role: 'viewer' }] }));
    const port = await freePort();
    const agg = new AgentProcess([], { PORT: String(port), INTERVAL_SECONDS: '1', VALKEY_URL: `redis://127.0.0.1:${vport}`, AUTH_TOKENS_FILE: tokens }, 'aggregator/src/main.ts');
    const base = `http://127.0.0.1:${port}`;
    try {
      await agg.waitForLog(/aggregator listening/, 20_000);
      const auth = { Authorization: 'Bearer sirius-ui-test-token-0123456789' };
      for (let i = 0; i < 3; i++) {
        const r = await fetch(`${base}/api/v1/system/health`, { headers: { Origin: 'http://localhost:3000', ...auth } });
        assert.equal(r.headers.get('access-control-allow-origin'), null);
        siriusHealthSchema.parse(await r.json());
      }
      const pre = await fetch(`${base}/api/v1/system/health`, { method: 'OPTIONS', headers: { Origin: 'http://localhost:3000', 'Access-Control-Request-Method': 'GET' } });
      assert.equal(pre.status, 403);
      assert.equal(pre.headers.get('access-control-allow-origin'), null);
      assert.match(((await pre.json()) as { error: string }).error, /CORS_ORIGINS/);
      await until('the refusal log line', () => (agg.said(/refused a browser request/).length > 0 ? true : null), 5000, 50);
      const lines = agg.said(/refused a browser request from origin http:\/\/localhost:3000/);
      assert.equal(lines.length, 1, 'logged once');
      assert.match(lines[0]?.msg ?? '', /set CORS_ORIGINS=http:\/\/localhost:3000/);
      const noToken = await fetch(`${base}/api/v1/system/health`);
      assert.equal(noToken.status, 401);
      const noTokenPost = await fetch(`${base}/api/v1/admin/command`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' });
      assert.equal(noTokenPost.status, 401);
    } finally {
      await agg.stop();
      await server.stop();
    }
  });
});
