import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import * as koffi from 'koffi';
import { buildFakeNvml, FakeNvmlDir, twoGpuConfig } from './helpers/fake-nvml.js';

/*
 * The test double must keep NVML's contract, or the agent's tests prove
 * nothing. These calls go through a koffi binding in this process (the fake
 * reads FAKE_NVML_CONFIG at call time); the agent itself calls NVML from its
 * C worker (agent/native/nvml-worker.c).
 */
const fake = new FakeNvmlDir({ ...twoGpuConfig(), 'gpu.0.procs': '100:1,200:2,300:3' });
process.env.FAKE_NVML_CONFIG = fake.configPath;
process.env.FAKE_NVML_LOG = fake.logPath;

/** nvmlReturn_t codes used here (nvml.h). */
const NvmlCode = { UNINITIALIZED: 1, INVALID_ARGUMENT: 2, NOT_SUPPORTED: 3, NO_PERMISSION: 4, INSUFFICIENT_SIZE: 7, ARGUMENT_VERSION_MISMATCH: 25, UNKNOWN: 999 } as const;

type Arg = number | bigint | Buffer | null;
/** Every out-parameter a Buffer and every handle a uintptr_t, as the fake's callers pass them. */
const SIGNATURES: Record<string, [string, string[]]> = {
  nvmlInit_v2: ['int', []],
  nvmlShutdown: ['int', []],
  nvmlErrorString: ['const char *', ['int']],
  nvmlDeviceGetCount_v2: ['int', ['void *']],
  nvmlDeviceGetHandleByIndex_v2: ['int', ['uint', 'void *']],
  nvmlDeviceGetName: ['int', ['uintptr_t', 'void *', 'uint']],
  nvmlDeviceGetPowerUsage: ['int', ['uintptr_t', 'void *']],
  nvmlDeviceGetFanSpeed: ['int', ['uintptr_t', 'void *']],
  nvmlDeviceGetTemperature: ['int', ['uintptr_t', 'int', 'void *']],
  nvmlDeviceGetMemoryInfo_v2: ['int', ['uintptr_t', 'void *']],
  nvmlDeviceGetComputeRunningProcesses_v3: ['int', ['uintptr_t', 'void *', 'void *']],
};
const lib = koffi.load(buildFakeNvml());
const fns = new Map(Object.entries(SIGNATURES).map(([name, [ret, params]]) => [name, lib.func(name, ret, params) as (...a: Arg[]) => unknown]));
const api = {
  call(symbol: string, ...args: Arg[]): number {
    const fn = fns.get(symbol);
    assert.ok(fn, `${symbol} is bound`);
    return fn(...args) as number;
  },
  errorString: (code: number): string => fns.get('nvmlErrorString')?.(code) as string,
};
after(() => {
  fake.remove();
});

/** A zeroed nvmlMemory_v2_t with its version field (sizeof | 2 << 24). */
function memoryV2Buffer(): Buffer {
  const buf = Buffer.alloc(40);
  buf.writeUInt32LE(0x02000028, 0);
  return buf;
}

function handle(index: number): bigint {
  const out = Buffer.alloc(8);
  assert.equal(api.call('nvmlDeviceGetHandleByIndex_v2', index, out), 0);
  return out.readBigUInt64LE(0);
}

describe('fake libnvidia-ml contract', () => {
  it('exports the current ABI and names its error codes', () => {
    assert.equal(api.errorString(NvmlCode.NOT_SUPPORTED), 'NOT_SUPPORTED');
  });

  it('is UNINITIALIZED before init and after the last of two ref-counted shutdowns; stale handles are refused', () => {
    const count = Buffer.alloc(4);
    assert.equal(api.call('nvmlDeviceGetCount_v2', count), NvmlCode.UNINITIALIZED);
    assert.equal(api.call('nvmlInit_v2'), 0);
    assert.equal(api.call('nvmlInit_v2'), 0);
    const h = handle(0);
    assert.equal(api.call('nvmlShutdown'), 0);
    assert.equal(api.call('nvmlDeviceGetCount_v2', count), 0, 'still initialised once');
    assert.equal(count.readUInt32LE(0), 2);
    assert.equal(api.call('nvmlShutdown'), 0);
    assert.equal(api.call('nvmlDeviceGetCount_v2', count), NvmlCode.UNINITIALIZED);
    assert.equal(api.call('nvmlShutdown'), NvmlCode.UNINITIALIZED);
    assert.equal(api.call('nvmlInit_v2'), 0);
    const power = Buffer.alloc(4);
    assert.equal(api.call('nvmlDeviceGetPowerUsage', h, power), NvmlCode.INVALID_ARGUMENT, 'a handle from the previous init cycle');
    assert.equal(api.call('nvmlDeviceGetPowerUsage', 0x1234n, power), NvmlCode.INVALID_ARGUMENT, 'a foreign handle');
    assert.equal(api.call('nvmlDeviceGetPowerUsage', handle(0), power), 0);
    assert.equal(power.readUInt32LE(0), 250000);
    assert.equal(api.call('nvmlShutdown'), 0);
  });

  it('answers INSUFFICIENT_SIZE for short buffers and the process-count query, ARGUMENT_VERSION_MISMATCH for a wrong version', () => {
    assert.equal(api.call('nvmlInit_v2'), 0);
    try {
      const h = handle(0);
      assert.equal(api.call('nvmlDeviceGetName', h, Buffer.alloc(4), 4), NvmlCode.INSUFFICIENT_SIZE);
      const count = Buffer.alloc(4);
      assert.equal(api.call('nvmlDeviceGetComputeRunningProcesses_v3', h, count, null), NvmlCode.INSUFFICIENT_SIZE);
      assert.equal(count.readUInt32LE(0), 3);
      count.writeUInt32LE(2, 0);
      assert.equal(api.call('nvmlDeviceGetComputeRunningProcesses_v3', h, count, Buffer.alloc(64)), NvmlCode.INSUFFICIENT_SIZE);
      const mem = memoryV2Buffer();
      assert.equal(api.call('nvmlDeviceGetMemoryInfo_v2', h, mem), 0);
      mem.writeUInt32LE(0x01000028, 0);
      assert.equal(api.call('nvmlDeviceGetMemoryInfo_v2', h, mem), NvmlCode.ARGUMENT_VERSION_MISMATCH);
    } finally {
      api.call('nvmlShutdown');
    }
  });

  it('forces codes with rc.<symbol>[.<gpu>] and ERR_ values, and reports missing keys as NOT_SUPPORTED', () => {
    fake.write({ ...twoGpuConfig(), 'rc.nvmlDeviceGetPowerUsage.1': 'ERR_NO_PERMISSION', 'gpu.0.temp_c': 'ERR_UNKNOWN' });
    assert.equal(api.call('nvmlInit_v2'), 0);
    try {
      const out = Buffer.alloc(4);
      assert.equal(api.call('nvmlDeviceGetPowerUsage', handle(0), out), 0);
      assert.equal(api.call('nvmlDeviceGetPowerUsage', handle(1), out), NvmlCode.NO_PERMISSION);
      assert.equal(api.call('nvmlDeviceGetTemperature', handle(0), 0, out), NvmlCode.UNKNOWN);
      const noFan = twoGpuConfig();
      delete noFan['gpu.0.fan_pct'];
      fake.write({ ...noFan, 'rc.nvmlDeviceGetPowerUsage.1': 'ERR_NO_PERMISSION', 'gpu.0.temp_c': 'ERR_UNKNOWN' });
      assert.equal(api.call('nvmlDeviceGetFanSpeed', handle(0), out), NvmlCode.NOT_SUPPORTED);
      assert.equal(api.call('nvmlDeviceGetFanSpeed', handle(1), out), 0);
    } finally {
      api.call('nvmlShutdown');
    }
    const inits = fake.count('nvmlInit_v2', { rc: 0 });
    assert.equal(fake.count('nvmlShutdown', { rc: 0 }), inits);
  });
});
