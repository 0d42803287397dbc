import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  clocksEventReasonNames,
  cudaVersionText,
  decodeMemoryV1,
  decodeMemoryV2,
  decodePciBusId,
  decodeProcesses,
  memoryV2Buffer,
  processStride,
  pstateName,
  u64ToNumber,
} from './decode.js';

/** Process entries as a driver writes them: pid, pad, usedGpuMemory, gi, ci (+ 8 more bytes at stride 32). */
function processBuffer(entries: [number, bigint][], stride: number, slots = entries.length): Buffer {
  const buf = Buffer.alloc(slots * 32);
  entries.forEach(([pid, mem], i) => {
    const at = i * stride;
    buf.writeUInt32LE(pid, at);
    buf.writeBigUInt64LE(mem, at + 8);
    buf.writeUInt32LE(0xffffffff, at + 16);
    buf.writeUInt32LE(0xffffffff, at + 20);
  });
  return buf;
}

const GiB = 1024n ** 3n;
const NA = 2n ** 64n - 1n;

describe('decodeProcesses', () => {
  it('decodes 24-byte entries and turns NVML_VALUE_NOT_AVAILABLE into null', () => {
    const r = decodeProcesses(processBuffer([[4242, GiB], [4343, NA]], 24), 2, 24, 80 * 2 ** 30);
    assert.deepEqual(r, { ok: true, processes: [{ pid: 4242, usedMemoryBytes: 2 ** 30 }, { pid: 4343, usedMemoryBytes: null }] });
  });

  it('decodes the 32-byte entries of drivers 535.43-535.86 at their stride', () => {
    const r = decodeProcesses(processBuffer([[4242, GiB], [4343, 2n * GiB]], 32), 2, 32, 80 * 2 ** 30);
    assert.deepEqual(r, { ok: true, processes: [{ pid: 4242, usedMemoryBytes: 2 ** 30 }, { pid: 4343, usedMemoryBytes: 2 ** 31 }] });
  });

  it('drops the whole list when 32-byte entries are read at 24 bytes, instead of publishing garbage', () => {
    const r = decodeProcesses(processBuffer([[4242, GiB], [4343, GiB]], 32), 2, 24, 80 * 2 ** 30);
    assert.equal(r.ok, false);
    assert.match(r.ok ? '' : r.reason, /entry 1 has pid 0/);
  });

  it('refuses memory above the board total and counts that do not fit the buffer', () => {
    const big = decodeProcesses(processBuffer([[7, 100n * GiB]], 24), 1, 24, 80 * 2 ** 30);
    assert.equal(big.ok, false);
    const over = decodeProcesses(Buffer.alloc(48), 3, 24, null);
    assert.equal(over.ok, false);
  });
});

describe('processStride', () => {
  it('is 32 only for the 535.43-535.86 symbol set', () => {
    assert.equal(processStride({ v3: true, confComputeMemSizeInfo: true, runningProcessDetailList: false }), 32);
    assert.equal(processStride({ v3: true, confComputeMemSizeInfo: true, runningProcessDetailList: true }), 24);
    assert.equal(processStride({ v3: true, confComputeMemSizeInfo: false, runningProcessDetailList: false }), 24);
    assert.equal(processStride({ v3: false, confComputeMemSizeInfo: true, runningProcessDetailList: false }), 24);
  });
});

describe('memory structs', () => {
  it('v2 carries its version word and reserved memory at the documented offsets', () => {
    const buf = memoryV2Buffer();
    assert.equal(buf.length, 40);
    assert.equal(buf.readUInt32LE(0), 0x02000028);
    buf.writeBigUInt64LE(80n * GiB, 8);
    buf.writeBigUInt64LE(GiB / 2n, 16);
    buf.writeBigUInt64LE(59n * GiB + GiB / 2n, 24);
    buf.writeBigUInt64LE(20n * GiB, 32);
    assert.deepEqual(decodeMemoryV2(buf), { total: 80 * 2 ** 30, reserved: 2 ** 29, free: 59.5 * 2 ** 30, used: 20 * 2 ** 30 });
  });

  it('v1 is total, free, used with no reserved figure', () => {
    const buf = Buffer.alloc(24);
    buf.writeBigUInt64LE(16n * GiB, 0);
    buf.writeBigUInt64LE(10n * GiB, 8);
    buf.writeBigUInt64LE(6n * GiB, 16);
    assert.deepEqual(decodeMemoryV1(buf), { total: 16 * 2 ** 30, free: 10 * 2 ** 30, used: 6 * 2 ** 30, reserved: null });
  });
});

describe('small decoders', () => {
  it('u64ToNumber never returns a BigInt, also above 2^53', () => {
    const v = u64ToNumber(2n ** 53n * 1000n + 7n);
    assert.equal(typeof v, 'number');
    assert.equal(JSON.stringify({ v }), `{"v":${2 ** 53 * 1000}}`);
  });

  it('names clock event reason bits, unknown bits included', () => {
    assert.deepEqual(clocksEventReasonNames(0x0n), []);
    assert.deepEqual(clocksEventReasonNames(0x1n | 0x4n | 0x40n), ['gpu_idle', 'sw_power_cap', 'hw_thermal_slowdown']);
    assert.deepEqual(clocksEventReasonNames(0x1000n), ['unknown_0x1000']);
  });

  it('pstate 32 is unknown, 0..15 are P-states', () => {
    assert.equal(pstateName(0), 'P0');
    assert.equal(pstateName(8), 'P8');
    assert.equal(pstateName(32), null);
  });

  it('CUDA driver version 12040 is 12.4, 11080 is 11.8', () => {
    assert.equal(cudaVersionText(12040), '12.4');
    assert.equal(cudaVersionText(11080), '11.8');
    assert.equal(cudaVersionText(0), null);
  });

  it('PCI bus id comes from busId, falling back to the legacy field', () => {
    const buf = Buffer.alloc(68);
    buf.write('0000:3b:00.0', 0);
    assert.equal(decodePciBusId(buf), '0000:3b:00.0');
    buf.write('00000000:3B:00.0', 36);
    assert.equal(decodePciBusId(buf), '00000000:3B:00.0');
    assert.equal(decodePciBusId(Buffer.alloc(68)), null);
  });
});
