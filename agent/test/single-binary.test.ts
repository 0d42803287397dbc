import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { metricsKey } from '../../shared/src/keys.js';
import { payloadSchema } from '../../shared/src/payload.js';
import { VERSION } from '../../shared/src/version.js';
import { REPO, fixtureEnv } from './helpers/agent-process.js';
import { buildFakeNvml, FakeNvmlDir, twoGpuConfig } from './helpers/fake-nvml.js';
import { freePort, RedisServer } from './helpers/redis-server.js';

/**
 * The single executable built by `npm run build`, run the way a container
 * without Node runs it: copied alone into an empty directory, empty PATH, no
 * node_modules anywhere near it.
 */
describe('dist/system-monitor (single executable)', () => {
  let dir: string;
  let bin: string;

  before(() => {
    const built = spawnSync(process.execPath, ['scripts/build.mjs'], { cwd: REPO, encoding: 'utf8', timeout: 240_000 });
    assert.equal(built.status, 0, `npm run build failed:\n${built.stdout}${built.stderr}`);
    dir = mkdtempSync(join(tmpdir(), 'sea-'));
    bin = join(dir, 'system-monitor');
    copyFileSync(join(REPO, 'dist/system-monitor'), bin);
  });

  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  function runBin(args: string[], env: Record<string, string>) {
    return spawnSync(bin, args, { cwd: dir, encoding: 'utf8', env: { PATH: '', ...env }, timeout: 30_000 });
  }

  it('--version prints the agent version and the LTS Node inside, with no Node on PATH', () => {
    const r = runBin(['--version'], {});
    assert.equal(r.status, 0, r.stderr);
    const buildScript = readFileSync(join(REPO, 'scripts/build.mjs'), 'utf8');
    const node = /SEA_NODE_VERSION = '([\d.]+)'/.exec(buildScript)?.[1];
    assert.equal(r.stdout.trim(), `${VERSION} (node v${node ?? '?'})`);
  });

  it('once: a full sample, with GPUs read through koffi and the NVML worker from inside the binary', () => {
    const config = twoGpuConfig();
    const fake = new FakeNvmlDir(config);
    try {
      const r = runBin(['once', '--interval', '1'], { ...fixtureEnv('docker-v2'), ...fake.env(), NVML_LIBRARY_PATH: buildFakeNvml(), CONTAINER_NAME: 'sea-once' });
      assert.equal(r.status, 0, r.stderr);
      const sample = payloadSchema.parse(JSON.parse(r.stdout));
      assert.equal(sample.container_name, 'sea-once');
      const memCurrent = Number(readFileSync(join(REPO, 'agent/test/fixtures/docker-v2/sys/fs/cgroup/memory.current'), 'utf8'));
      assert.equal(sample.memory_usage_bytes, memCurrent);
      assert.deepEqual(
        sample.gpus.map((g) => g.uuid),
        [config['gpu.0.uuid'], config['gpu.1.uuid']].map(String),
      );
      assert.equal(sample.gpus[0]?.memory_used_bytes, Number(config['gpu.0.mem_used']));
    } finally {
      fake.remove();
    }
  });

  it('run: the agent and its NVML worker release their start-up pages after the third tick and keep publishing samples, GPUs included', async () => {
    const config = twoGpuConfig();
    const fake = new FakeNvmlDir(config);
    const server = new RedisServer(await freePort());
    await server.start();
    const r = new Redis({ port: server.port, host: '127.0.0.1' });
    const child = spawn(bin, [], {
      cwd: dir,
      env: { PATH: '', ...fixtureEnv('docker-v2'), ...fake.env(), NVML_LIBRARY_PATH: buildFakeNvml(), CONTAINER_NAME: 'sea-pages', INTERVAL_SECONDS: '1', VALKEY_URL: `redis://127.0.0.1:${server.port}` },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const rssFileKb = (pid: number): number => Number(/^RssFile:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);
    // The NVML worker: the agent's child process, started after the first publish.
    const workerPid = (): number => Number(readFileSync(`/proc/${child.pid ?? 0}/task/${child.pid ?? 0}/children`, 'utf8').trim().split(' ')[0] || NaN);
    try {
      let before = NaN;
      for (let i = 0; i < 100 && Number.isNaN(before); i++) {
        // Read while the first sample is out and the release (after the third) is not yet due.
        if ((await r.get(metricsKey('sea-pages'))) !== null) before = rssFileKb(child.pid ?? 0);
        else await sleep(50);
      }
      for (let i = 0; i < 100 && !out.includes('start-up pages released'); i++) await sleep(100);
      const line = out.split('\n').find((l) => l.includes('start-up pages released'));
      assert.ok(line !== undefined, `no release logged:\n${out}`);
      const logged = JSON.parse(line) as { released_kb: number; failed: number };
      assert.equal(logged.failed, 0);
      // The V8 start-up snapshot alone is ~9 MB of the binary's pages.
      assert.ok(logged.released_kb > 8192, line);
      const t0 = Date.now();
      // The worker releases after its own third collection, within a tick of the agent; allow a loaded machine 8 s.
      let after = NaN;
      let workerAfter = NaN;
      for (let i = 0; i < 32; i++) {
        await sleep(250);
        after = rssFileKb(child.pid ?? 0);
        workerAfter = rssFileKb(workerPid());
        if (i >= 8 && before - after > 8192 && before - workerAfter > 8192) break;
      }
      assert.ok(before - after > 8192, `RssFile ${before} kB before the release, ${after} kB after it`);
      // Unreleased, the worker (the same binary, plus koffi and NVML) maps at least what the agent did before its release.
      assert.ok(before - workerAfter > 8192, `NVML worker RssFile ${workerAfter} kB after its release, agent ${before} kB before its own`);
      const sample = payloadSchema.parse(JSON.parse((await r.get(metricsKey('sea-pages'))) ?? '{}'));
      assert.ok(Date.parse(sample.timestamp) > t0, `a sample written after the release (${sample.timestamp})`);
      assert.equal(sample.status, 'running');
      assert.deepEqual(
        sample.gpus.map((g) => g.uuid),
        [config['gpu.0.uuid'], config['gpu.1.uuid']].map(String),
      );
    } finally {
      child.kill('SIGKILL');
      r.disconnect();
      await server.stop();
      fake.remove();
    }
  });

  it('run: publishes to Valkey and writes "exited" on SIGTERM', async () => {
    const server = new RedisServer(await freePort());
    await server.start();
    const r = new Redis({ port: server.port, host: '127.0.0.1' });
    const child = spawn(bin, [], {
      cwd: dir,
      env: { PATH: '', ...fixtureEnv('docker-v2'), CONTAINER_NAME: 'sea-run', INTERVAL_SECONDS: '1', VALKEY_URL: `redis://127.0.0.1:${server.port}` },
      stdio: 'ignore',
    });
    try {
      let raw: string | null = null;
      for (let i = 0; i < 100 && raw === null; i++) {
        raw = await r.get(metricsKey('sea-run'));
        if (raw === null) await sleep(100);
      }
      assert.ok(raw !== null, 'the binary published a sample');
      assert.equal(payloadSchema.parse(JSON.parse(raw)).status, 'running');
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      assert.equal(await exited, 0);
      assert.equal(payloadSchema.parse(JSON.parse((await r.get(metricsKey('sea-run'))) ?? '{}')).status, 'exited');
    } finally {
      child.kill('SIGKILL');
      r.disconnect();
      await server.stop();
    }
  });
});
