import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { memoryV2Buffer } from '../src/gpu/decode.js';
import { NvmlCode } from '../src/gpu/nvml-codes.js';
import { openNvml } from '../src/gpu/nvml-lib.js';
import { buildFakeNvml, FakeNvmlDir, twoGpuConfig } from './helpers/fake-nvml.js';

/*
 * The test double must keep NVML's contract, or the agent's tests prove
 * nothing. These calls go through the agent's own koffi binding, in this
 * process (the fake reads FAKE_NVML_CONFIG at call time).
 */
const fake = new FakeNvmlDir({ ...twoGpuConfig(), 'gpu.0.procs': '100:1,200:2,300:3' });
process.env.FAKE_NVML_CONFIG = fake.configPath;
process.env.FAKE_NVML_LOG = fake.logPath;
const api = openNvml([buildFakeNvml()]);
after(() => {
  fake.remove();
});

function handle(index: number): bigint {
  const out = Buffer.alloc(8);
  assert.equal(api.call('nvmlDeviceGetHandleByIndex_v2', index, out), 0);
  return out.readBigUInt64LE(0);
}

describe('fake libnvidia-ml contract', () => {
  it('binds every symbol of the current ABI and reports the path it loaded', () => {
    assert.equal(api.path, buildFakeNvml());
    assert.ok(api.has('nvmlDeviceGetComputeRunningProcesses_v3'));
    assert.ok(api.has('nvmlDeviceGetMemoryInfo_v2'));
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
