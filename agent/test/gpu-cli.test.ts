import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { payloadSchema } from '../../shared/src/payload.js';
import type { DoctorReport } from '../src/doctor.js';
import { compileNvmlWorker, NVML_WORKER_NAME } from '../native/build-worker.mjs';
import { buildFakeNvml, FakeNvmlDir, twoGpuConfig } from './helpers/fake-nvml.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const FIXTURE = join(REPO, 'agent/test/fixtures/docker-v2');
const fixtureFlags = ['--cgroup-root', join(FIXTURE, 'sys/fs/cgroup'), '--proc-root', join(FIXTURE, 'proc'), '--sys-root', join(FIXTURE, 'sys')];
// Inside the repo so the bundle resolves koffi (a native module, kept external) from node_modules.
const BUNDLE_DIR = join(REPO, 'dist', `gpu-cli-test-${process.pid}`);
const BUNDLE = join(BUNDLE_DIR, 'system-monitor.cjs');

function run(cmd: string[], env: Record<string, string>) {
  const r = spawnSync(process.execPath, cmd, {
    cwd: REPO,
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', CONTAINER_NAME: 'gpu-cli', ...env },
    timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('GPU block through the CLI', () => {
  const fake = { dir: null as FakeNvmlDir | null, lib: '' };
  before(async () => {
    fake.lib = buildFakeNvml();
    const cfg = twoGpuConfig();
    delete cfg['gpu.1.fan_pct'];
    fake.dir = new FakeNvmlDir(cfg);
    mkdirSync(BUNDLE_DIR, { recursive: true });
    await build({
      entryPoints: [join(REPO, 'agent/src/main.ts')],
      bundle: true,
      platform: 'node',
      format: 'cjs',
      target: 'node20',
      external: ['koffi'],
      outfile: BUNDLE,
      logLevel: 'error',
    });
    // As scripts/build.mjs does: the bundle finds its NVML worker beside itself.
    compileNvmlWorker(join(REPO, 'agent/native/nvml-worker.c'), join(BUNDLE_DIR, NVML_WORKER_NAME));
  });
  after(() => {
    fake.dir?.remove();
    rmSync(BUNDLE_DIR, { recursive: true, force: true });
  });

  it('doctor reports the library path, driver and NVML versions, GPUs and unsupported metrics per GPU', () => {
    const env = { ...(fake.dir?.env() ?? {}), NVML_LIBRARY_PATH: fake.lib };
    const r = run(['--import', 'tsx', 'agent/src/main.ts', 'doctor', '--json', '--no-valkey', ...fixtureFlags], env);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const report = JSON.parse(r.stdout) as DoctorReport;
    assert.equal(report.nvml.status, 'ok');
    assert.equal(report.gpus?.library_path, fake.lib);
    assert.equal(report.gpus?.driver_version, '550.54.15');
    assert.equal(report.gpus?.nvml_version, '12.550.54.15');
    assert.equal(report.gpus?.cuda_driver_version, '12.4');
    assert.deepEqual(report.gpus?.devices.map((d) => [d.index, d.uuid, d.unsupported]), [
      [0, 'GPU-00000000-1111-2222-3333-444444444444', []],
      [1, 'GPU-99999999-8888-7777-6666-555555555555', ['fan_percent']],
    ]);
    const text = run(['--import', 'tsx', 'agent/src/main.ts', 'doctor', '--no-valkey', ...fixtureFlags], env);
    assert.match(text.stdout, new RegExp(`nvml: {3}\\[ok\\] library ${fake.lib.replace(/[.]/g, '\\.')}`));
    assert.match(text.stdout, /driver 550\.54\.15, NVML 12\.550\.54\.15, CUDA 12\.4/);
    assert.match(text.stdout, /2 GPUs seen/);
    assert.match(text.stdout, /GPU 1 NVIDIA H100 80GB HBM3 GPU-9999.*not supported: fan_percent/);
  });

  it('doctor without a library says GPU metrics will be empty, and the agent can still work', () => {
    const r = run(['--import', 'tsx', 'agent/src/main.ts', 'doctor', '--json', '--no-valkey', ...fixtureFlags], { NVML_LIBRARY_PATH: '/nonexistent/libnvidia-ml.so.1' });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const report = JSON.parse(r.stdout) as DoctorReport;
    assert.equal(report.nvml.status, 'unsupported');
    assert.match(report.nvml.details.join('\n'), /GPU metrics will be empty/);
    assert.equal(report.gpus, null);
  });

  it('the esbuild bundle starts the NVML worker built beside it and fills gpus[]', () => {
    const env = { ...(fake.dir?.env() ?? {}), NVML_LIBRARY_PATH: fake.lib };
    const before = fake.dir?.calls().length ?? 0;
    const r = run([BUNDLE, 'once', '--interval', '2', ...fixtureFlags], env);
    assert.equal(r.code, 0, r.stderr);
    const sample = payloadSchema.parse(JSON.parse(r.stdout));
    assert.deepEqual(sample.gpus.map((g) => g.uuid), ['GPU-00000000-1111-2222-3333-444444444444', 'GPU-99999999-8888-7777-6666-555555555555']);
    assert.equal(sample.gpus[0]?.power_watts, 250);
    assert.equal(sample.agent.collectors.gpu?.ok, true);
    const initPids = new Set((fake.dir?.calls() ?? []).slice(before).filter((c) => c.symbol === 'nvmlInit_v2').map((c) => c.pid));
    assert.equal(initPids.size, 1, 'NVML was loaded by one worker process');
  });
});
