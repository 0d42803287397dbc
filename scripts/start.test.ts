import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { z } from 'zod';
import { freePort, RedisServer } from '../agent/test/helpers/redis-server.js';
import { metricsKey } from '../shared/src/keys.js';
import { payloadSchema } from '../shared/src/payload.js';

const REPO = new URL('../', import.meta.url).pathname;
const NAME = `local-${hostname()}`;

/** Every process whose parent chain leads to `root`, from /proc (pid → command line). */
function descendants(root: number): Map<number, string> {
  const parent = new Map<number, number>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parent.set(Number(d), ppid);
    } catch {
      // exited while we looked
    }
  }
  const out = new Map<number, string>();
  for (const pid of parent.keys()) {
    for (let p = parent.get(pid); p !== undefined && p > 1; p = parent.get(p)) {
      if (p === root) {
        let cmd = '';
        try {
          cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
        } catch {
          // exited
        }
        out.set(pid, cmd);
        break;
      }
    }
  }
  return out;
}

function cmdsHaveAggregator(kids: Map<number, string>): boolean {
  return [...kids.values()].some((c) => c.includes('aggregator/src/main.ts'));
}

function alive(pid: number): boolean {
  try {
    // A zombie still has /proc/<pid>; state Z counts as gone (it holds nothing).
    return !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

class Start {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  constructor(cmd: string, args: string[], env: Record<string, string>) {
    // Its own process group, so the test can send SIGINT to the group as a terminal's Ctrl-C does.
    this.child = spawn(cmd, args, { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    this.child.stdout?.setEncoding('utf8').on('data', (d: string) => (this.stdout += d));
    this.child.stderr?.setEncoding('utf8').on('data', (d: string) => (this.stderr += d));
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        resolve({ code, signal });
      });
    });
  }
  async waitOutput(re: RegExp, ms: number): Promise<void> {
    const until = Date.now() + ms;
    while (!re.test(this.stdout)) {
      if (this.child.exitCode !== null || Date.now() > until) assert.fail(`no ${re} in the output:\n${this.stdout}\n--- stderr\n${this.stderr.slice(-3000)}`);
      await sleep(100);
    }
  }
}

const baseEnv = (): Record<string, string> => ({ PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', INTERVAL_SECONDS: '1', LOG_LEVEL: 'warn' });

async function waitKey(port: number, key: string, ms: number): Promise<string> {
  const r = new Redis(port, '127.0.0.1', { maxRetriesPerRequest: 0, lazyConnect: true });
  try {
    await r.connect();
    const until = Date.now() + ms;
    for (;;) {
      const v = await r.get(key);
      if (v !== null) return v;
      if (Date.now() > until) assert.fail(`${key} did not appear on port ${port} within ${ms} ms`);
      await sleep(200);
    }
  } finally {
    r.disconnect();
  }
}

describe('npm start', () => {
  const started: Start[] = [];
  after(() => {
    for (const s of started) {
      try {
        if (s.child.pid !== undefined) process.kill(-s.child.pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  });

  it('starts Valkey on the given port and an agent named local-<hostname>; Ctrl-C stops every child and removes the data', async () => {
    const port = await freePort();
    // The aggregator (once it exists) gets a free port too: 8080 may be taken on a shared machine.
    const webPort = await freePort();
    const env = baseEnv();
    const s = new Start('npm', ['start', '--', '--valkey-port', String(port), '--port', String(webPort)], env);
    started.push(s);
    await s.waitOutput(/^try:\n.*\n/m, 60_000);
    const raw = await waitKey(port, metricsKey(NAME), 15_000);
    const sample = payloadSchema.parse(JSON.parse(raw));
    assert.equal(sample.container_name, NAME);
    assert.equal(sample.status, 'running');

    const out = s.stdout;
    assert.ok(out.includes(`  redis-cli -p ${port} get system:metrics:${NAME}\n`), out);
    assert.match(out, new RegExp(`valkey +redis://127\\.0\\.0\\.1:${port} +\\((redis|valkey)-server, temporary data in (\\S+)\\)`));
    const dataDir = /temporary data in (\S+)\)/.exec(out)?.[1] ?? '';
    assert.ok(existsSync(dataDir), `${dataDir} exists while running`);
    if (existsSync(join(REPO, 'aggregator/src/main.ts'))) {
      assert.ok(out.includes(`  dashboard    http://127.0.0.1:${webPort}/\n`), out);
      assert.ok(out.includes(`  api          http://127.0.0.1:${webPort}/api/v1/containers\n`), out);
      assert.ok(cmdsHaveAggregator(descendants(s.child.pid ?? 0)), 'the aggregator runs');
    } else {
      assert.match(out, /aggregator +not started: aggregator\/src\/main\.ts is not in this checkout/);
    }

    const pid = s.child.pid ?? assert.fail('no pid');
    const kids = descendants(pid);
    const cmds = [...kids.values()];
    assert.ok(cmds.some((c) => /(redis|valkey)-server .*:?\d*/.test(c) && c.includes(String(port))), cmds.join('\n'));
    assert.ok(cmds.some((c) => c.includes('agent/src/main.ts run')), cmds.join('\n'));

    process.kill(-pid, 'SIGINT');
    const exit = await Promise.race([s.exited, sleep(20_000).then(() => null)]);
    assert.ok(exit !== null, `npm start did not exit within 20 s of SIGINT:\n${s.stderr.slice(-2000)}`);
    assert.match(s.stdout, /stopped; the temporary Valkey data is removed/);
    for (let i = 0; i < 50 && [...kids.keys()].some(alive); i++) await sleep(100);
    const left = [...kids].filter(([p]) => alive(p));
    assert.deepEqual(left, [], 'every child is gone');
    assert.equal(existsSync(dataDir), false, `${dataDir} is removed`);
  });

  it('starts the aggregator with the Valkey and port given, prints its URLs and stops it', async () => {
    const port = await freePort();
    const webPort = await freePort();
    const env = { ...baseEnv(), SYSTEM_MONITOR_AGGREGATOR_MAIN: 'scripts/fixtures/fake-aggregator.ts', CONTAINER_NAME: 'quickstart-agg' };
    const s = new Start(process.execPath, ['scripts/start.mjs', '--valkey-port', String(port), '--port', String(webPort)], env);
    started.push(s);
    await s.waitOutput(/^try:\n.*\n/m, 60_000);
    for (const [label, path] of [['dashboard', '/'], ['api', '/api/v1/containers'], ['health', '/healthz']] as const) {
      assert.ok(s.stdout.includes(`  ${label.padEnd(13)}http://127.0.0.1:${webPort}${path}\n`), `${label} in\n${s.stdout}`);
    }
    const health = z.object({ ok: z.literal(true), valkey: z.string() }).parse(await (await fetch(`http://127.0.0.1:${webPort}/healthz`)).json());
    assert.equal(health.valkey, `redis://127.0.0.1:${port}`);
    const pid = s.child.pid ?? assert.fail('no pid');
    const kids = descendants(pid);
    assert.ok([...kids.values()].some((c) => c.includes('scripts/fixtures/fake-aggregator.ts --port')), [...kids.values()].join('\n'));
    process.kill(pid, 'SIGTERM');
    assert.equal((await s.exited).code, 0, s.stderr.slice(-2000));
    assert.deepEqual([...kids].filter(([p]) => alive(p)), [], 'every child is gone');
    await assert.rejects(fetch(`http://127.0.0.1:${webPort}/healthz`), 'the aggregator port is closed');
  });

  it('uses an existing Valkey from VALKEY_URL and starts none', async () => {
    const server = new RedisServer(await freePort());
    await server.start();
    try {
      const url = `redis://127.0.0.1:${server.port}`;
      const s = new Start(process.execPath, ['scripts/start.mjs'], { ...baseEnv(), VALKEY_URL: url, CONTAINER_NAME: 'quickstart-existing' });
      started.push(s);
      await s.waitOutput(/^try:\n.*\n/m, 60_000);
      await waitKey(server.port, metricsKey('quickstart-existing'), 15_000);
      assert.ok(s.stdout.includes(`  redis-cli -u ${url} get system:metrics:quickstart-existing\n`), s.stdout);
      assert.match(s.stdout, /\(existing server\)/);
      const pid = s.child.pid ?? assert.fail('no pid');
      const cmds = [...descendants(pid).values()];
      assert.ok(!cmds.some((c) => /(redis|valkey)-server/.test(c)), `no server started: ${cmds.join('\n')}`);
      process.kill(pid, 'SIGTERM');
      const exit = await s.exited;
      assert.equal(exit.code, 0, s.stderr.slice(-2000));
    } finally {
      await server.stop();
    }
  });

  it('refuses a bad option before starting anything', () => {
    const r = spawnSync(process.execPath, ['scripts/start.mjs', '--valkey-port', 'nope'], { cwd: REPO, encoding: 'utf8', env: baseEnv() });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /^start: --valkey-port: must be a whole number from 1 to 65535 \(got "nope"\)$/m);
    assert.doesNotMatch(r.stdout, /running/);
  });

  it('says what to install when no server is on PATH and it cannot install one', () => {
    const empty = mkdtempSync(join(tmpdir(), 'start-nopath-'));
    try {
      const r = spawnSync(process.execPath, ['scripts/start.mjs'], { cwd: REPO, encoding: 'utf8', env: { ...baseEnv(), PATH: empty } });
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, /neither valkey-server nor redis-server is on PATH\. Install one \(sudo apt-get install redis-server\), or .*VALKEY_URL/);
      assert.doesNotMatch(r.stdout, /running/);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
