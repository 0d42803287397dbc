import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { NVML_SEARCH_DIRS, NVML_SONAME } from '../src/gpu/library-path.js';
import { workerMessageSchema, type ReaderResult, type WorkerMessage } from '../src/gpu/protocol.js';
import { workerCommand } from '../src/gpu/worker-command.js';
import { nvmlWorkerCcArgs } from '../native/build-worker.mjs';
import { buildFakeNvml, FakeNvmlDir, twoGpuConfig, type FakeConfig, type FakeVariant } from './helpers/fake-nvml.js';

/*
 * The NVML worker program (agent/native/nvml-worker.c) on its own, spoken to
 * over its line protocol: library search, what it answers without a usable
 * library, and requests it must refuse. What it reads from NVML is covered
 * through the agent's runner in gpu-nvml.test.ts.
 */
const WORKER = workerCommand({ script: fileURLToPath(new URL('../src/main.ts', import.meta.url)), releaseHome: null });
const fakes: FakeNvmlDir[] = [];
after(() => {
  for (const f of fakes) f.remove();
});

const config = (libraryPath: string | null): string => JSON.stringify({ op: 'config', library_path: libraryPath, retry_base_ms: 100, retry_max_ms: 1000, lost_retry_ms: 1000 });

/** Sends the lines, closes stdin, and returns the validated messages and stderr. */
function talk(lines: string[], env: Record<string, string> = {}): { messages: WorkerMessage[]; stderr: string; status: number | null } {
  const r = spawnSync(WORKER.command, WORKER.args, { input: lines.map((l) => `${l}\n`).join(''), env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'utf8', timeout: 10_000 });
  const messages = r.stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => workerMessageSchema.parse(JSON.parse(l)));
  return { messages, stderr: r.stderr, status: r.status };
}

function result(m: WorkerMessage | undefined): ReaderResult {
  assert.ok(m?.type === 'result', JSON.stringify(m));
  return m.result;
}

describe('the NVML worker program', () => {
  it('without NVML_LIBRARY_PATH searches the soname, the absolute LD_LIBRARY_PATH directories, then the driver directories', () => {
    const { messages } = talk([config(null), JSON.stringify({ op: 'collect', id: 1 })], { LD_LIBRARY_PATH: '/usr/local/nvidia/lib64::relative/dir:/usr/local/nvidia/lib64:/usr/lib' });
    assert.equal(messages[0]?.type, 'ready');
    const r = result(messages[1]);
    assert.equal(r.status, 'no-library', 'no libnvidia-ml.so.1 on the test machine');
    if (r.status !== 'no-library') return;
    const dirs = [...new Set(['/usr/local/nvidia/lib64', '/usr/lib', ...NVML_SEARCH_DIRS])];
    assert.deepEqual(r.searched, [NVML_SONAME, ...dirs.map((d) => `${d}/${NVML_SONAME}`)]);
    assert.match(r.reason, /^no NVIDIA management library could be loaded \(libnvidia-ml\.so\.1: Failed to load shared library: .*No such file or directory; \/usr\/local\/nvidia\/lib64\/libnvidia-ml\.so\.1: /);
  });

  it('an explicit path is the only candidate, and a missing file says so', () => {
    const r = result(talk([config('/nonexistent/libnvidia-ml.so.1'), JSON.stringify({ op: 'collect', id: 7 })]).messages[1]);
    assert.deepEqual(r, {
      status: 'no-library',
      reason: 'no NVIDIA management library could be loaded (/nonexistent/libnvidia-ml.so.1: Failed to load shared library: cannot open shared object file: No such file or directory)',
      searched: ['/nonexistent/libnvidia-ml.so.1'],
    });
  });

  it('refuses a library without the NVML entry points, naming the ones it lacks', () => {
    const libm = spawnSync('cc', ['-print-file-name=libm.so.6'], { encoding: 'utf8' }).stdout.trim();
    const r = result(talk([config(libm), JSON.stringify({ op: 'collect', id: 1 })]).messages[1]);
    assert.equal(r.status, 'no-library');
    if (r.status !== 'no-library') return;
    assert.equal(
      r.reason,
      `${libm} lacks nvmlInit_v2, nvmlShutdown, nvmlErrorString, nvmlDeviceGetCount_v2, nvmlDeviceGetHandleByIndex_v2, nvmlDeviceGetName, nvmlDeviceGetUUID: not a usable NVIDIA management library`,
    );
  });

  it('reports the file a bare soname resolved to, and shuts NVML down when its stdin closes', () => {
    const lib = buildFakeNvml();
    const fake = new FakeNvmlDir(twoGpuConfig());
    fakes.push(fake);
    const { messages, status } = talk([config(null), JSON.stringify({ op: 'collect', id: 3 })], { ...fake.env(), LD_LIBRARY_PATH: dirname(lib) });
    const r = result(messages[1]);
    assert.equal(r.status, 'ok', JSON.stringify(r));
    if (r.status !== 'ok') return;
    assert.equal(r.info.library_path, realpathSync(lib));
    assert.equal(r.gpus.length, 2);
    assert.equal(status, 0);
    assert.equal(fake.count('nvmlInit_v2', { rc: 0 }), 1);
    assert.equal(fake.count('nvmlShutdown', { rc: 0 }), 1, 'shut down at end of input');
  });

  it('says why it ignores a bad request and answers the next one; a collection before the configuration fails', () => {
    const { messages, stderr } = talk([
      JSON.stringify({ op: 'collect', id: 1 }),
      'not json',
      JSON.stringify({ op: 'launch' }),
      JSON.stringify({ op: 'collect' }),
      JSON.stringify({ op: 'config', library_path: null, retry_base_ms: -1, retry_max_ms: 1, lost_retry_ms: 1 }),
      config('/nonexistent/libnvidia-ml.so.1'),
      JSON.stringify({ op: 'collect', id: 2 }),
      JSON.stringify({ op: 'shutdown' }),
      JSON.stringify({ op: 'collect', id: 3 }),
    ]);
    assert.deepEqual(result(messages[0]), { status: 'failed', reason: 'NVML worker got a request before its configuration', hint: null, retry_in_ms: null });
    assert.equal(messages[1]?.type, 'ready');
    assert.equal(result(messages[2]).status, 'no-library');
    assert.equal(messages.length, 3, 'nothing after shutdown');
    const lines = stderr.split('\n').filter((l) => l !== '');
    assert.deepEqual(
      lines.map((l) => /^nvml worker: bad request (".*"): (.*)$/.exec(l)?.slice(1)),
      [
        ['"not json"', 'not a JSON object'],
        ['"{\\"op\\":\\"launch\\"}"', 'op must be config, collect or shutdown'],
        ['"{\\"op\\":\\"collect\\"}"', 'collect needs an integer id'],
        [JSON.stringify(JSON.stringify({ op: 'config', library_path: null, retry_base_ms: -1, retry_max_ms: 1, lost_retry_ms: 1 })), 'config needs library_path (string or null) and retry_base_ms, retry_max_ms, lost_retry_ms (whole ms)'],
      ],
    );
  });

  it('runs clean under AddressSanitizer and UBSan through every kind of collection, re-initialising NVML on each', () => {
    const dir = mkdtempSync(join(tmpdir(), 'nvml-worker-asan-'));
    try {
      const source = fileURLToPath(new URL('../native/nvml-worker.c', import.meta.url));
      const exe = join(dir, 'worker');
      const cc = spawnSync('cc', ['-g', '-fsanitize=address,undefined', '-fno-sanitize-recover=undefined', '-fno-omit-frame-pointer', ...nvmlWorkerCcArgs(source, exe).filter((a) => a !== '-s')], { encoding: 'utf8' });
      assert.equal(cc.status, 0, `cc with sanitizers (gcc's libasan and libubsan): ${cc.stderr}`);
      const base = twoGpuConfig();
      const mig: FakeConfig = {
        ...base,
        'gpu.0.mig_mode': 1,
        'gpu.0.mig_count': 2,
        'gpu.0.mig_max': 7,
        'gpu.0.mig.0.uuid': 'MIG-a1',
        'gpu.0.mig.0.name': 'MIG 3g.40gb',
        'gpu.0.mig.0.mem_total': 42949672960,
        'gpu.0.mig.1.uuid': 'MIG-a2',
        'gpu.0.mig.1.name': 'MIG 3g.40gb',
        'gpu.0.mig.1.mem_total': 42949672960,
      };
      const scenarios: [string, FakeConfig, FakeVariant][] = [
        ['healthy', base, 'current'],
        ['MIG', mig, 'current'],
        ['a GPU lost', { ...base, 'gpu.1.lost_after_calls': 3 }, 'current'],
        ['transient and unsupported fields', { ...base, 'gpu.0.power_mw': 'ERR_TIMEOUT', 'gpu.1.fan_pct': 'ERR_NOT_SUPPORTED' }, 'current'],
        ['a process list of the wrong layout', { ...base, 'gpu.0.procs': '4242:99999999999999999' }, 'current'],
        ['NVML uninitialised mid-collection', { ...base, 'rc.nvmlDeviceGetPowerUsage': 'ERR_UNINITIALIZED' }, 'current'],
        ['driver not loaded', { ...base, init_rc: 'ERR_DRIVER_NOT_LOADED' }, 'current'],
        ['an old driver', base, 'old-driver'],
        ['32-byte process entries', base, 'stride32'],
      ];
      for (const [what, cfg, variant] of scenarios) {
        const fake = new FakeNvmlDir(cfg);
        fakes.push(fake);
        // No backoff and an immediate re-init after a lost GPU: every collection can start and end an init cycle.
        const lines = [JSON.stringify({ op: 'config', library_path: buildFakeNvml(variant), retry_base_ms: 0, retry_max_ms: 0, lost_retry_ms: 0 })];
        for (let id = 0; id < 10; id++) lines.push(JSON.stringify({ op: 'collect', id }));
        const r = spawnSync(exe, [], { input: lines.map((l) => `${l}\n`).join(''), env: { ...fake.env(), ASAN_OPTIONS: 'detect_leaks=1:exitcode=86' }, encoding: 'utf8', timeout: 30_000 });
        assert.equal(r.status, 0, `${what}: exit ${r.status}\n${r.stderr}`);
        assert.doesNotMatch(r.stderr, /AddressSanitizer|LeakSanitizer|runtime error/, what);
        assert.equal(r.stdout.split('\n').filter((l) => l !== '').length, 11, `${what}: ready and 10 results`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
