import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { payloadSchema } from '../../shared/src/payload.js';
import { freePort, RedisServer } from './helpers/redis-server.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const FIXTURE = join(REPO, 'agent/test/fixtures/docker-v2');
const fixtureFlags = ['--cgroup-root', join(FIXTURE, 'sys/fs/cgroup'), '--proc-root', join(FIXTURE, 'proc'), '--sys-root', join(FIXTURE, 'sys')];

function agent(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'agent/src/main.ts', ...args], {
    cwd: REPO,
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', ...env },
    timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('system-monitor CLI', () => {
  it('once prints one valid sample with real rates, logs only on stderr', () => {
    const r = agent(['once', '--interval', '1', ...fixtureFlags], { CONTAINER_NAME: 'cli-test' });
    assert.equal(r.code, 0, r.stderr);
    const sample = payloadSchema.parse(JSON.parse(r.stdout));
    assert.equal(sample.container_name, 'cli-test');
    assert.equal(sample.interval_seconds, 1);
    assert.equal(sample.seq, 2, 'the printed sample is the second read');
    assert.equal(sample.memory_usage_bytes, 268435456);
    assert.equal(sample.cpu?.cores_used, 0, 'fixture counters do not move between the two reads');
  });

  it('once warns on stderr when CONTAINER_NAME is missing and uses the hostname', () => {
    const r = agent(['once', '--interval', '1', ...fixtureFlags]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /CONTAINER_NAME not set/);
  });

  for (const cmd of [[], ['once'], ['doctor']]) {
    it(`--help works for "${cmd.join(' ') || 'system-monitor'}"`, () => {
      const r = agent([...cmd, '--help']);
      assert.equal(r.code, 0);
      assert.match(r.stdout, /Usage: system-monitor/);
    });
  }

  it('a bad flag is a short error, not a stack trace', () => {
    const r = agent(['once', '--bogus']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /unknown option '--bogus'/);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  });

  it('a bad env value is one line naming the variable', () => {
    const r = agent(['once'], { INTERVAL_SECONDS: 'soon' });
    assert.equal(r.code, 2);
    assert.equal(r.stderr.trim(), 'system-monitor: INTERVAL_SECONDS: must be a number from 1 to 3600 (got "soon")');
  });
});

describe('system-monitor doctor', () => {
  const redis = { server: null as RedisServer | null, port: 0 };
  before(async () => {
    redis.port = await freePort();
    redis.server = new RedisServer(redis.port);
    await redis.server.start();
  });
  after(async () => {
    await redis.server?.stop();
  });

  it('reports each collector and a reachable Valkey, exit 0', () => {
    const r = agent(['doctor', '--json', ...fixtureFlags], { VALKEY_PORT: String(redis.port), VALKEY_HOST: '127.0.0.1', CONTAINER_NAME: 'd' });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const report: unknown = JSON.parse(r.stdout);
    assert.ok(typeof report === 'object' && report !== null && 'collectors' in report && 'valkey' in report && 'cgroup' in report);
    const { collectors, valkey, cgroup, process_reader } = report as { collectors: Record<string, { status: string }>; valkey: { status: string }; cgroup: { mode: string }; process_reader: string };
    assert.equal(valkey.status, 'ok');
    // Run from the TypeScript source: the reader is compiled from agent/native/ on first use.
    assert.match(process_reader, /^per-process files read by \S+\/system-monitor-pid-stats\.so$/);
    assert.equal(cgroup.mode, 'v2');
    assert.deepEqual(Object.keys(collectors).sort(), ['cpu', 'disk', 'gpu', 'io', 'memory', 'network', 'pids', 'pressure', 'processes', 'system']);
    assert.equal(collectors.memory?.status, 'ok');
  });

  it('unreachable Valkey: exit 1 with advice naming the setting', async () => {
    const closed = await freePort();
    const r = agent(['doctor', ...fixtureFlags], { VALKEY_PORT: String(closed), CONTAINER_NAME: 'd' });
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stdout, /valkey: \[FAIL\]/);
    assert.match(r.stdout, /VALKEY_HOST\/VALKEY_PORT/);
  });

  it('rootless fixture: unsupported controllers are "partly", not failures', () => {
    const root = join(REPO, 'agent/test/fixtures/rootless');
    const r = agent(['doctor', '--no-valkey', '--cgroup-root', join(root, 'sys/fs/cgroup'), '--proc-root', join(root, 'proc'), '--sys-root', join(root, 'sys')], { CONTAINER_NAME: 'd' });
    assert.equal(r.code, 0, r.stdout);
    assert.match(r.stdout, /\[partly\] memory/);
    assert.match(r.stdout, /controllers not enabled/);
  });
});
