import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { payloadSchema, type Gpu } from '../../shared/src/payload.js';
import { createCollectors } from '../src/collectors/index.js';
import { GpuRunner, type GpuCollection, type GpuRunnerOptions } from '../src/gpu/runner.js';
import { workerCommand } from '../src/gpu/worker-command.js';
import { Sampler } from '../src/sampler.js';
import { FakeClock, NO_CGROUP, testEnv } from './helpers/env.js';
import { buildFakeNvml, FakeNvmlDir, twoGpuConfig, type FakeConfig, type FakeVariant } from './helpers/fake-nvml.js';
import { makeTree } from './helpers/tree.js';

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));
/** The agent's NVML worker as it finds it from source: the C program compiled from agent/native/. */
const WORKER = workerCommand({ script: MAIN, releaseHome: null });
const UUID0 = 'GPU-00000000-1111-2222-3333-444444444444';
const UUID1 = 'GPU-99999999-8888-7777-6666-555555555555';
const silent = pino({ level: 'silent' });

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Log lines a test can read back. */
function capturingLogger(): { log: pino.Logger; lines: { level: number; msg: string }[] } {
  const lines: { level: number; msg: string }[] = [];
  const log = pino({ level: 'info' }, { write: (s: string) => lines.push(JSON.parse(s) as { level: number; msg: string }) });
  return { log, lines };
}

interface Rig {
  fake: FakeNvmlDir;
  runner: GpuRunner;
  /** Stops the worker; the fake's files stay for assertions until the test ends. */
  close(): Promise<void>;
}

/** A GpuRunner with the agent's NVML worker (agent/native/nvml-worker.c), against the fake library. */
async function rig(config: FakeConfig, opts: { variant?: FakeVariant; runner?: Partial<GpuRunnerOptions> } = {}): Promise<Rig> {
  const fake = new FakeNvmlDir(config);
  const runner = new GpuRunner({
    log: silent,
    libraryPath: buildFakeNvml(opts.variant),
    deadlineMs: 5000,
    pidMap: { hostProc: null, procRoot: '/nonexistent-proc' },
    command: WORKER,
    env: { ...process.env, ...fake.env() },
    retryBaseMs: 150,
    retryMaxMs: 1000,
    respawnBaseMs: 150,
    ...opts.runner,
  });
  assert.equal(await runner.ready(), true, 'the NVML worker should start');
  rigs.push(fake);
  return {
    fake,
    runner,
    close: async () => {
      await runner.close();
    },
  };
}

function byUuid(c: GpuCollection, uuid: string): Gpu {
  const g = c.gpus.find((x) => x.uuid === uuid);
  assert.ok(g, `GPU ${uuid} missing from ${JSON.stringify(c.gpus.map((x) => x.uuid))}`);
  return g;
}

/** Every successful init has its shutdown once the worker has exited cleanly. */
function assertBalanced(fake: FakeNvmlDir): void {
  const inits = fake.count('nvmlInit_v2', { rc: 0 });
  assert.ok(inits >= 1, 'NVML was initialised');
  assert.equal(fake.count('nvmlShutdown', { rc: 0 }), inits, 'every nvmlInit_v2 has its nvmlShutdown');
  assert.equal(fake.count('nvmlShutdown', { rc: 1 }), 0, 'no shutdown without init');
}

const rigs: FakeNvmlDir[] = [];
after(() => {
  for (const f of rigs) f.remove();
});

before(() => {
  for (const v of ['current', 'old-driver', 'stride32'] as const) buildFakeNvml(v);
});

describe('GPU metrics through the fake libnvidia-ml', () => {
  it('two healthy GPUs: every field from the fake config, converted to payload units, identity read once per init', async () => {
    const cfg = twoGpuConfig();
    const host = makeTree({
      '4242/status': 'Name:\tpython\nNSpid:\t4242\t17\n',
      '4242/stat': `4242 (python) S ${Array.from({ length: 18 }, () => '0').join(' ')} 5000 0 100\n`,
    });
    const own = makeTree({ '17/stat': `17 (python) S ${Array.from({ length: 18 }, () => '0').join(' ')} 5000 0 100\n` });
    const r = await rig(cfg, { runner: { pidMap: { hostProc: host.root, procRoot: own.root } } });
    try {
      let c = await r.runner.collect();
      for (let i = 0; i < 2; i++) c = await r.runner.collect();
      assert.equal(c.error, null);
      assert.equal(c.gpus.length, 2);
      const g = byUuid(c, UUID0);
      assert.equal(g.index, 0);
      assert.equal(g.name, cfg['gpu.0.name']);
      assert.equal(g.pci_bus_id, cfg['gpu.0.pci_bus_id']);
      assert.equal(g.driver_version, cfg.driver_version);
      assert.equal(g.cuda_driver_version, '12.4');
      assert.equal(g.compute_capability, '9.0');
      assert.equal(g.utilization_percent, cfg['gpu.0.util_gpu']);
      assert.equal(g.memory_utilization_percent, cfg['gpu.0.util_mem']);
      assert.equal(g.memory_total_bytes, cfg['gpu.0.mem_total']);
      assert.equal(g.memory_used_bytes, cfg['gpu.0.mem_used']);
      assert.equal(g.memory_reserved_bytes, cfg['gpu.0.mem_reserved']);
      assert.equal(g.temperature_c, cfg['gpu.0.temp_c']);
      assert.equal(g.power_watts, Number(cfg['gpu.0.power_mw']) / 1000);
      assert.equal(g.power_limit_watts, Number(cfg['gpu.0.power_limit_mw']) / 1000);
      assert.equal(g.energy_joules, Number(cfg['gpu.0.energy_mj']) / 1000);
      assert.equal(g.fan_percent, cfg['gpu.0.fan_pct']);
      assert.equal(g.clock_sm_mhz, cfg['gpu.0.clock_sm']);
      assert.equal(g.clock_mem_mhz, cfg['gpu.0.clock_mem']);
      assert.equal(g.clock_graphics_mhz, cfg['gpu.0.clock_graphics']);
      assert.equal(g.clock_max_sm_mhz, cfg['gpu.0.max_clock_sm']);
      assert.equal(g.pcie_tx_bytes_per_sec, Number(cfg['gpu.0.pcie_tx_kbps']) * 1024);
      assert.equal(g.pcie_rx_bytes_per_sec, Number(cfg['gpu.0.pcie_rx_kbps']) * 1024);
      assert.equal(g.encoder_percent, cfg['gpu.0.enc_pct']);
      assert.equal(g.decoder_percent, cfg['gpu.0.dec_pct']);
      assert.equal(g.pstate, 'P0');
      assert.deepEqual(g.clocks_event_reasons, ['gpu_idle', 'sw_power_cap'], 'event_reasons 0x5 = idle | sw power cap');
      assert.equal(g.ecc_corrected, cfg['gpu.0.ecc_corrected']);
      assert.equal(g.ecc_uncorrected, cfg['gpu.0.ecc_uncorrected']);
      assert.equal(g.mig_mode, 'disabled');
      assert.equal(g.health, 'ok');
      assert.deepEqual(g.unsupported, []);
      // 4242 maps to container pid 17 through HOST_PROC; 4343 is not in the host /proc fixture.
      assert.deepEqual(g.processes, [
        { pid: 17, pid_namespace: 'container', used_memory_bytes: 1073741824 },
        { pid: 4343, pid_namespace: 'host', used_memory_bytes: null },
      ]);
      const g1 = byUuid(c, UUID1);
      assert.equal(g1.index, 1);
      assert.equal(g1.utilization_percent, cfg['gpu.1.util_gpu']);
      assert.equal(g1.power_watts, Number(cfg['gpu.1.power_mw']) / 1000);
      assert.deepEqual(g1.processes, []);
      // Static identity: name/UUID/max clocks once per init, not on each of the 3 collections.
      assert.equal(r.fake.count('nvmlInit_v2'), 1);
      assert.equal(r.fake.count('nvmlDeviceGetName'), 2);
      assert.equal(r.fake.count('nvmlDeviceGetMaxClockInfo'), 2);
      assert.equal(r.fake.count('nvmlDeviceGetPowerUsage'), 6);
      // Values changed between collections are picked up without a restart.
      r.fake.write({ ...cfg, 'gpu.0.power_mw': 123000 });
      assert.equal(byUuid(await r.runner.collect(), UUID0).power_watts, 123);
      await r.close();
      assertBalanced(r.fake);
    } finally {
      await r.close();
      host.remove();
      own.remove();
    }
  });

  it('fan not supported: null, named in unsupported and unavailable, and not polled again', async () => {
    const cfg = twoGpuConfig();
    delete cfg['gpu.0.fan_pct'];
    cfg['gpu.1.fan_pct'] = 'ERR_NOT_SUPPORTED';
    // A board without MIG (GeForce): the mode is not supported and MIG devices are never enumerated.
    delete cfg['gpu.1.mig_mode'];
    const r = await rig(cfg);
    try {
      let c = await r.runner.collect();
      for (let i = 0; i < 3; i++) c = await r.runner.collect();
      for (const uuid of [UUID0, UUID1]) {
        const g = byUuid(c, uuid);
        assert.equal(g.fan_percent, null);
        assert.deepEqual(g.unsupported, g.index === 1 ? ['fan_percent', 'mig_mode'] : ['fan_percent']);
        assert.match(c.unavailable[`gpus.${uuid}.fan_percent`] ?? '', /NOT_SUPPORTED from nvmlDeviceGetFanSpeed/);
        assert.equal(g.temperature_c, cfg[`gpu.${g.index}.temp_c`], 'the other metrics keep coming');
      }
      assert.equal(r.fake.count('nvmlDeviceGetFanSpeed', { gpu: 0 }), 1, 'asked once in 4 collections');
      assert.equal(r.fake.count('nvmlDeviceGetFanSpeed', { gpu: 1 }), 1);
      assert.equal(r.fake.count('nvmlDeviceGetTemperatureV', { gpu: 0 }), 4);
      assert.equal(r.fake.count('nvmlDeviceGetMigMode', { gpu: 1 }), 1);
      assert.equal(r.fake.count('nvmlDeviceGetMaxMigDeviceCount'), 0);
    } finally {
      await r.close();
    }
  });

  it('one GPU lost: marked lost, the other keeps reporting; re-init rebuilds handles and balances init/shutdown', async () => {
    const cfg: FakeConfig = { ...twoGpuConfig(), 'gpu.0.lost_after_calls': 40 };
    const r = await rig(cfg, { runner: { lostRetryMs: 300 } });
    try {
      let c = await r.runner.collect();
      assert.equal(byUuid(c, UUID0).health, 'ok');
      c = await r.runner.collect();
      const lost = byUuid(c, UUID0);
      assert.equal(lost.health, 'lost');
      assert.equal(lost.name, cfg['gpu.0.name'], 'a lost GPU keeps its identity');
      assert.equal(lost.power_watts, null);
      assert.match(c.unavailable[`gpus.${UUID0}`] ?? '', /GPU_IS_LOST/);
      const ok = byUuid(c, UUID1);
      assert.equal(ok.health, 'ok');
      assert.equal(ok.power_watts, Number(cfg['gpu.1.power_mw']) / 1000);
      assert.equal(c.error, null, 'a lost GPU is not a failed block');
      // The fake brings a lost GPU back after re-init; the agent re-inits after lostRetryMs.
      r.fake.write(twoGpuConfig());
      await sleep(400);
      c = await r.runner.collect();
      assert.equal(byUuid(c, UUID0).health, 'ok');
      assert.equal(byUuid(c, UUID0).power_watts, 250);
      assert.equal(r.fake.count('nvmlInit_v2', { rc: 0 }), 2);
      // Stale handles would be INVALID_ARGUMENT in the fake: none were used.
      assert.equal(r.fake.calls().filter((x) => x.rc === 2).length, 0);
      await r.close();
      assertBalanced(r.fake);
    } finally {
      await r.close();
    }
  });

  it('driver not loaded: block unavailable with a hint, then recovered without restarting the worker', async () => {
    const cfg = { ...twoGpuConfig(), init_rc: 'ERR_DRIVER_NOT_LOADED' };
    const r = await rig(cfg);
    try {
      const pid = r.runner.workerPid;
      let c = await r.runner.collect();
      assert.deepEqual(c.gpus, []);
      assert.match(c.unavailable.gpus ?? '', /DRIVER_NOT_LOADED/);
      assert.match(c.unavailable.gpus ?? '', /modprobe nvidia/);
      assert.notEqual(c.error, null);
      // Retried with backoff, not on every tick: an immediate second collection does not call init.
      c = await r.runner.collect();
      assert.equal(r.fake.count('nvmlInit_v2'), 1);
      r.fake.write(twoGpuConfig());
      await sleep(400);
      c = await r.runner.collect();
      assert.equal(c.error, null);
      assert.equal(c.gpus.length, 2);
      assert.equal(byUuid(c, UUID0).power_watts, 250);
      assert.equal(r.runner.workerPid, pid, 'the same worker recovered');
      await r.close();
      assertBalanced(r.fake);
    } finally {
      await r.close();
    }
  });

  it('driver/library version mismatch: the hint says to reload the module or reboot', async () => {
    const r = await rig({ ...twoGpuConfig(), init_rc: 'ERR_LIB_RM_VERSION_MISMATCH' });
    try {
      const c = await r.runner.collect();
      assert.deepEqual(c.gpus, []);
      assert.match(c.unavailable.gpus ?? '', /LIB_RM_VERSION_MISMATCH/);
      assert.match(c.unavailable.gpus ?? '', /driver was upgraded.*reload the nvidia kernel module or reboot/);
    } finally {
      await r.close();
    }
  });

  it('a hung NVML call is killed at the deadline, the rest of the sample is on time, the worker is respawned', async () => {
    const cfg = twoGpuConfig();
    const deadlineMs = 700;
    const r = await rig(cfg, { runner: { deadlineMs, respawnBaseMs: 200 } });
    try {
      const clock = new FakeClock();
      const env = testEnv({ clock: clock.read, cgroup: NO_CGROUP, procRoot: '/proc' });
      const sampler = new Sampler(env, createCollectors(env), { containerName: 'gpu-test', version: 't', log: silent, gpu: r.runner });
      const first = payloadSchema.parse(await sampler.sample());
      assert.equal(first.gpus.length, 2);
      const firstPid = r.runner.workerPid;

      r.fake.write({ ...cfg, 'delay_ms.nvmlDeviceGetPowerUsage': 60000 });
      const t0 = performance.now();
      const hung = payloadSchema.parse(await sampler.sample());
      const took = performance.now() - t0;
      assert.ok(took < deadlineMs + 500, `the sample took ${took.toFixed(0)} ms with a ${deadlineMs} ms GPU deadline`);
      assert.match(hung.unavailable.gpus ?? '', new RegExp(`NVML call timed out after ${deadlineMs} ms`));
      assert.equal(hung.agent.collectors.gpu?.ok, false);
      assert.deepEqual(hung.gpus.map((g) => [g.uuid, g.health]), [[UUID0, 'unavailable'], [UUID1, 'unavailable']]);
      assert.equal(hung.gpus[0]?.power_watts, null);
      assert.notEqual(hung.process_count, null, 'the other collectors are in the sample');
      assert.equal(hung.agent.collectors.processes?.ok, true);

      // During the backoff no worker is started and the answer is immediate.
      const t1 = performance.now();
      const backoff = await r.runner.collect();
      assert.ok(performance.now() - t1 < 100);
      assert.match(backoff.unavailable.gpus ?? '', /worker restarts in \d+ ms/);

      r.fake.write(cfg);
      await sleep(300);
      assert.equal(await r.runner.ready(), true);
      const back = payloadSchema.parse(await sampler.sample());
      assert.equal(back.gpus.length, 2);
      assert.equal(back.gpus[0]?.health, 'ok');
      assert.notEqual(r.runner.workerPid, firstPid, 'a new worker');
      const initPids = new Set(r.fake.calls().filter((x) => x.symbol === 'nvmlInit_v2').map((x) => x.pid));
      assert.equal(initPids.size, 2, 'NVML was initialised by two worker processes');
    } finally {
      await r.close();
    }
  });

  it('old driver: v1 memory, GetTemperature, throttle reasons and _v2 processes are used', async () => {
    const cfg = twoGpuConfig();
    const r = await rig(cfg, { variant: 'old-driver' });
    try {
      const c = await r.runner.collect();
      const g = byUuid(c, UUID0);
      // v1 folds reserved memory into used.
      assert.equal(g.memory_used_bytes, Number(cfg['gpu.0.mem_used']) + Number(cfg['gpu.0.mem_reserved']));
      assert.equal(g.memory_reserved_bytes, null);
      assert.equal(g.memory_total_bytes, cfg['gpu.0.mem_total']);
      assert.equal(g.temperature_c, cfg['gpu.0.temp_c']);
      assert.deepEqual(g.clocks_event_reasons, ['gpu_idle', 'sw_power_cap']);
      assert.deepEqual(g.processes?.map((p) => p.pid), [4242, 4343]);
      assert.ok(r.fake.count('nvmlDeviceGetMemoryInfo') > 0);
      assert.ok(r.fake.count('nvmlDeviceGetTemperature') > 0);
      assert.ok(r.fake.count('nvmlDeviceGetCurrentClocksThrottleReasons') > 0);
      assert.ok(r.fake.count('nvmlDeviceGetComputeRunningProcesses_v2') > 0);
    } finally {
      await r.close();
    }
  });

  it('a driver that refuses our struct versions: memory and temperature fall back to the v1 calls', async () => {
    const cfg: FakeConfig = {
      ...twoGpuConfig(),
      'rc.nvmlDeviceGetMemoryInfo_v2': 'ERR_ARGUMENT_VERSION_MISMATCH',
      'rc.nvmlDeviceGetTemperatureV': 'ERR_ARGUMENT_VERSION_MISMATCH',
    };
    const r = await rig(cfg);
    try {
      const g = byUuid(await r.runner.collect(), UUID1);
      assert.equal(g.temperature_c, cfg['gpu.1.temp_c']);
      assert.equal(g.memory_used_bytes, Number(cfg['gpu.1.mem_used']) + Number(cfg['gpu.1.mem_reserved']));
      assert.equal(g.memory_total_bytes, cfg['gpu.1.mem_total']);
      assert.deepEqual(g.unsupported, []);
    } finally {
      await r.close();
    }
  });

  it('drivers 535.43-535.86: 32-byte process entries are decoded at 32 bytes', async () => {
    const cfg = { ...twoGpuConfig(), 'gpu.0.procs': '4242:1073741824,4343:2147483648,4444:NA' };
    const r = await rig(cfg, { variant: 'stride32' });
    try {
      const g = byUuid(await r.runner.collect(), UUID0);
      assert.deepEqual(g.processes, [
        { pid: 4242, pid_namespace: 'host', used_memory_bytes: 1073741824 },
        { pid: 4343, pid_namespace: 'host', used_memory_bytes: 2147483648 },
        { pid: 4444, pid_namespace: 'host', used_memory_bytes: null },
      ]);
    } finally {
      await r.close();
    }
  });

  it('energy above 2^53 mJ and NA process memory survive JSON and the schema', async () => {
    const energyMj = 2n ** 53n * 1000n + 7n;
    const r = await rig({ ...twoGpuConfig(), 'gpu.0.energy_mj': energyMj });
    try {
      const c = await r.runner.collect();
      const g = byUuid(c, UUID0);
      assert.equal(typeof g.energy_joules, 'number');
      assert.ok(Math.abs((g.energy_joules ?? 0) - 2 ** 53) < 2 ** 53 * 1e-12, `energy ${g.energy_joules} J`);
      assert.equal(g.processes?.[1]?.used_memory_bytes, null);
      const text = JSON.stringify(c.gpus);
      assert.doesNotThrow(() => JSON.parse(text));
    } finally {
      await r.close();
    }
  });

  it('MIG: each MIG device is its own entry; the parent utilisation is not supported', async () => {
    const cfg = twoGpuConfig();
    delete cfg['gpu.0.util_gpu'];
    const mig = {
      'gpu.0.mig_mode': 1,
      'gpu.0.mig_count': 2,
      'gpu.0.mig_max': 7,
      'gpu.0.mig.0.uuid': 'MIG-aaaaaaaa-0000-0000-0000-000000000001',
      'gpu.0.mig.0.name': 'NVIDIA H100 80GB HBM3 MIG 3g.40gb',
      'gpu.0.mig.0.mem_total': 42949672960,
      'gpu.0.mig.0.mem_used': 1073741824,
      'gpu.0.mig.1.uuid': 'MIG-aaaaaaaa-0000-0000-0000-000000000002',
      'gpu.0.mig.1.name': 'NVIDIA H100 80GB HBM3 MIG 3g.40gb',
      'gpu.0.mig.1.mem_total': 42949672960,
      'gpu.0.mig.1.mem_used': 2147483648,
    };
    const r = await rig({ ...cfg, ...mig });
    try {
      await r.runner.collect();
      const c = await r.runner.collect();
      assert.deepEqual(c.gpus.map((g) => g.uuid), [UUID0, mig['gpu.0.mig.0.uuid'], mig['gpu.0.mig.1.uuid'], UUID1]);
      const parent = byUuid(c, UUID0);
      assert.equal(parent.mig_mode, 'enabled');
      assert.equal(parent.utilization_percent, null);
      assert.ok(parent.unsupported.includes('utilization_percent'));
      const m1 = byUuid(c, mig['gpu.0.mig.1.uuid']);
      assert.equal(m1.parent_uuid, UUID0);
      assert.equal(m1.index, 0);
      assert.equal(m1.pci_bus_id, cfg['gpu.0.pci_bus_id']);
      assert.equal(m1.memory_total_bytes, mig['gpu.0.mig.1.mem_total']);
      assert.equal(m1.memory_used_bytes, mig['gpu.0.mig.1.mem_used']);
      assert.ok(m1.unsupported.includes('power_watts'));
      assert.equal(r.fake.count('nvmlDeviceGetPowerUsage', { gpu: 0 }), 2 + 2, 'parent twice, each MIG device once (then cached)');
    } finally {
      await r.close();
    }
  });

  it('a worker that breaks the protocol is killed at once and the reason published', async () => {
    const runner = new GpuRunner({
      log: silent,
      libraryPath: null,
      deadlineMs: 5000,
      pidMap: { hostProc: null, procRoot: '/proc' },
      command: { command: process.execPath, args: ['-e', 'process.stdout.write("hello\\n"); setInterval(() => {}, 1000)'] },
    });
    try {
      const t0 = performance.now();
      const c = await runner.collect();
      assert.ok(performance.now() - t0 < 4000, 'not held until the deadline');
      assert.match(c.unavailable.gpus ?? '', /not JSON: "hello"/);
      assert.equal(runner.workerPid, null);
    } finally {
      await runner.close();
    }
  });

  it('deferStart: the first collection answers empty without a worker; once started, the worker has the last word', async () => {
    const config = twoGpuConfig();
    const fake = new FakeNvmlDir(config);
    rigs.push(fake);
    const runner = new GpuRunner({
      log: silent,
      libraryPath: buildFakeNvml(),
      deadlineMs: 5000,
      pidMap: { hostProc: null, procRoot: '/nonexistent-proc' },
      command: WORKER,
      env: { ...process.env, ...fake.env() },
      deferStart: true,
    });
    try {
      const t0 = performance.now();
      const first = await runner.collect();
      assert.ok(performance.now() - t0 < 50, 'answered at once');
      assert.deepEqual(first, { gpus: [], unavailable: {}, error: null, ms: 0 });
      assert.equal(runner.workerPid, null, 'no worker was started for it');
      runner.start();
      assert.equal(await runner.ready(), true);
      const second = await runner.collect();
      assert.deepEqual(second.gpus.map((g) => g.uuid), [String(config['gpu.0.uuid']), String(config['gpu.1.uuid'])]);
    } finally {
      await runner.close();
    }
  });

  it('deferStart: until the worker has loaded every collection answers at once; a worker that dies ends the presumption', async () => {
    const runner = new GpuRunner({
      log: silent,
      libraryPath: null,
      deadlineMs: 400,
      pidMap: { hostProc: null, procRoot: '/proc' },
      // A worker that never says it is ready (a start that hangs).
      command: { command: process.execPath, args: ['-e', 'setInterval(() => {}, 1000)'] },
      deferStart: true,
      respawnBaseMs: 60_000,
    });
    try {
      assert.deepEqual((await runner.collect()).gpus, []);
      assert.equal(runner.workerPid, null, 'not started for the first collection');
      const t0 = performance.now();
      const second = await runner.collect();
      assert.ok(performance.now() - t0 < 400, 'not held until the deadline by the starting worker');
      assert.deepEqual(second, { gpus: [], unavailable: {}, error: null, ms: 0 });
      const pid = runner.workerPid;
      assert.ok(pid !== null, 'the second collection started the worker');
      process.kill(pid, 'SIGKILL');
      for (let i = 0; i < 100 && isAlive(pid); i++) await sleep(20);
      await sleep(100);
      const third = await runner.collect();
      assert.match(third.unavailable.gpus ?? '', /NVML worker exited \(SIGKILL\)/);
      assert.equal(third.error, third.unavailable.gpus);
    } finally {
      await runner.close();
    }
  });

  it('no worker program (a bundle without it, no compiler from source): gpus is empty, one warning with the reason, doctor says why', async () => {
    const { log, lines } = capturingLogger();
    const why = 'the NVML worker /app/dist/system-monitor-nvml is missing: it is built with the agent (npm run build)';
    let asked = 0;
    const runner = new GpuRunner({
      log,
      libraryPath: null,
      deadlineMs: 5000,
      pidMap: { hostProc: null, procRoot: '/proc' },
      command: () => {
        asked += 1;
        throw new Error(why);
      },
    });
    try {
      for (let i = 0; i < 3; i++) {
        const c = await runner.collect();
        assert.deepEqual([c.gpus, c.unavailable, c.error], [[], {}, null]);
      }
      assert.equal(asked, 1, 'looked for once');
      assert.equal(runner.workerPid, null);
      const warned = lines.filter((l) => /NVML/.test(l.msg));
      assert.deepEqual(warned.map((l) => [l.level, l.msg]), [[40, 'no NVML worker program: GPU metrics disabled']]);
      assert.deepEqual(await runner.diagnose(), { status: 'failed', reason: why, hint: null });
    } finally {
      await runner.close();
    }
  });

  it('no library at all: gpus is empty, one info line, no worker left running', async () => {
    const { log, lines } = capturingLogger();
    const runner = new GpuRunner({
      log,
      libraryPath: '/nonexistent/libnvidia-ml.so.1',
      deadlineMs: 5000,
      pidMap: { hostProc: null, procRoot: '/proc' },
      command: WORKER,
    });
    try {
      assert.equal(await runner.ready(), true);
      for (let i = 0; i < 3; i++) {
        const c = await runner.collect();
        assert.deepEqual(c.gpus, []);
        assert.deepEqual(c.unavailable, {});
        assert.equal(c.error, null);
      }
      await sleep(200);
      assert.equal(runner.workerPid, null);
      const nvmlLines = lines.filter((l) => /NVIDIA|NVML|GPU/.test(l.msg));
      assert.equal(nvmlLines.length, 1, JSON.stringify(lines));
      assert.equal(nvmlLines[0]?.level, 30, 'info, not an error');
    } finally {
      await runner.close();
    }
  });
});

