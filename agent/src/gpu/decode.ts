/**
 * Pure decoders for the buffers NVML fills (LP64 layouts from nvml.h 13.x).
 * Every 64-bit field is read as a BigInt and normalised here, so nothing
 * downstream ever holds a BigInt (JSON.stringify throws on one).
 */

/** Size of `nvmlPciInfo_t` (v3): busIdLegacy[16], 5 × uint, busId[32]. */
export const PCI_INFO_SIZE = 68;
/** Size of `nvmlMemory_t`: total, free, used. */
export const MEMORY_V1_SIZE = 24;
/** Size of `nvmlMemory_v2_t`: version (+4 pad), total, reserved, free, used. */
export const MEMORY_V2_SIZE = 40;
/** `nvmlMemory_v2` = sizeof(nvmlMemory_v2_t) | 2 << 24. */
export const MEMORY_V2_VERSION = 0x02000028;
/** Size of `nvmlTemperature_v1_t`: version, sensorType, temperature. */
export const TEMPERATURE_V1_SIZE = 12;
export const TEMPERATURE_V1_VERSION = 0x0100000c;
/** Size of `nvmlProcessInfo_t` (v2/v3): pid (+pad), usedGpuMemory, gpuInstanceId, computeInstanceId. */
export const PROCESS_INFO_SIZE = 24;
/** Entry size written by drivers 535.43–535.86 for `_v3` (extra usedGpuCcProtectedMemory). */
export const PROCESS_INFO_SIZE_535 = 32;
/** `usedGpuMemory` when the driver cannot say (NVML_VALUE_NOT_AVAILABLE). */
const NOT_AVAILABLE_U64 = 0xffffffffffffffffn;
/** Linux's PID_MAX_LIMIT: a decoded pid above it means a wrong layout. */
const PID_MAX_LIMIT = 4_194_304;

/**
 * A u64 as a JS number. Exact up to 2^53; above it (energy counters, unlimited
 * markers) the nearest double, which is what a JSON consumer would see anyway.
 */
export function u64ToNumber(v: bigint | number): number {
  return typeof v === 'number' ? v : Number(v);
}

/** A NUL-terminated C string from a fixed buffer. */
export function cString(buf: Buffer, offset = 0, length = buf.length - offset): string {
  const end = buf.indexOf(0, offset);
  const stop = end === -1 || end > offset + length ? offset + length : end;
  return buf.toString('utf8', offset, stop);
}

export interface MemoryInfo {
  total: number;
  used: number;
  free: number;
  /** Null from the v1 call, which folds reserved memory into `used`. */
  reserved: number | null;
}

export function decodeMemoryV1(buf: Buffer): MemoryInfo {
  return {
    total: u64ToNumber(buf.readBigUInt64LE(0)),
    free: u64ToNumber(buf.readBigUInt64LE(8)),
    used: u64ToNumber(buf.readBigUInt64LE(16)),
    reserved: null,
  };
}

export function decodeMemoryV2(buf: Buffer): MemoryInfo {
  return {
    total: u64ToNumber(buf.readBigUInt64LE(8)),
    reserved: u64ToNumber(buf.readBigUInt64LE(16)),
    free: u64ToNumber(buf.readBigUInt64LE(24)),
    used: u64ToNumber(buf.readBigUInt64LE(32)),
  };
}

/** A zeroed `nvmlMemory_v2_t` with its version field set, ready to pass in. */
export function memoryV2Buffer(): Buffer {
  const buf = Buffer.alloc(MEMORY_V2_SIZE);
  buf.writeUInt32LE(MEMORY_V2_VERSION, 0);
  return buf;
}

/** A `nvmlTemperature_v1_t` asking for the GPU die sensor (sensorType 0). */
export function temperatureV1Buffer(): Buffer {
  const buf = Buffer.alloc(TEMPERATURE_V1_SIZE);
  buf.writeUInt32LE(TEMPERATURE_V1_VERSION, 0);
  return buf;
}

export function decodeTemperatureV1(buf: Buffer): number {
  return buf.readInt32LE(8);
}

/** `busId` (the 32-byte domain:bus:device.function form), else the legacy 16-byte one. */
export function decodePciBusId(buf: Buffer): string | null {
  const id = cString(buf, 36, 32) || cString(buf, 0, 16);
  return id === '' ? null : id;
}

export interface ProcessEntry {
  pid: number;
  /** Null when the driver reports NVML_VALUE_NOT_AVAILABLE (e.g. without privileges, or under MIG). */
  usedMemoryBytes: number | null;
}

export type ProcessDecode = { ok: true; processes: ProcessEntry[] } | { ok: false; reason: string };

/**
 * Decodes `count` process entries at `stride` bytes. Entries are sanity-checked
 * (pid in 1..PID_MAX_LIMIT, memory within the board's total): one bad entry
 * means the layout guess was wrong, and the whole list is dropped rather than
 * published as garbage.
 */
export function decodeProcesses(buf: Buffer, count: number, stride: number, memoryTotal: number | null): ProcessDecode {
  if (count * stride > buf.length) return { ok: false, reason: `${count} entries of ${stride} bytes do not fit a ${buf.length}-byte buffer` };
  const out: ProcessEntry[] = [];
  for (let i = 0; i < count; i++) {
    const at = i * stride;
    const pid = buf.readUInt32LE(at);
    const raw = buf.readBigUInt64LE(at + 8);
    if (pid < 1 || pid > PID_MAX_LIMIT) return { ok: false, reason: `entry ${i} has pid ${pid}, outside 1..${PID_MAX_LIMIT} (wrong entry size?)` };
    const used = raw === NOT_AVAILABLE_U64 ? null : u64ToNumber(raw);
    if (used !== null && memoryTotal !== null && used > memoryTotal) {
      return { ok: false, reason: `entry ${i} (pid ${pid}) uses ${used} bytes, more than the board's ${memoryTotal} (wrong entry size?)` };
    }
    out.push({ pid, usedMemoryBytes: used });
  }
  return { ok: true, processes: out };
}

/**
 * Entry size to decode `_v3` process lists with. Drivers 535.43–535.86 wrote
 * 32-byte entries without a version bump; they are the ones that have
 * `nvmlDeviceGetConfComputeMemSizeInfo` but not yet
 * `nvmlDeviceGetRunningProcessDetailList` (added with the fix).
 */
export function processStride(symbols: { v3: boolean; confComputeMemSizeInfo: boolean; runningProcessDetailList: boolean }): number {
  return symbols.v3 && symbols.confComputeMemSizeInfo && !symbols.runningProcessDetailList ? PROCESS_INFO_SIZE_535 : PROCESS_INFO_SIZE;
}

/** `nvmlClocksEventReasons` bits, named as nvidia-smi names them (snake_case). */
const EVENT_REASONS: readonly [bigint, string][] = [
  [0x1n, 'gpu_idle'],
  [0x2n, 'applications_clocks_setting'],
  [0x4n, 'sw_power_cap'],
  [0x8n, 'hw_slowdown'],
  [0x10n, 'sync_boost'],
  [0x20n, 'sw_thermal_slowdown'],
  [0x40n, 'hw_thermal_slowdown'],
  [0x80n, 'hw_power_brake_slowdown'],
  [0x100n, 'display_clock_setting'],
];

export function clocksEventReasonNames(bits: bigint): string[] {
  const names: string[] = [];
  let rest = bits;
  for (const [bit, name] of EVENT_REASONS) {
    if ((bits & bit) !== 0n) names.push(name);
    rest &= ~bit;
  }
  for (let bit = 1n; rest !== 0n; bit <<= 1n) {
    if ((rest & bit) !== 0n) {
      names.push(`unknown_0x${bit.toString(16)}`);
      rest &= ~bit;
    }
  }
  return names;
}

/** `nvmlPstates_t`: 0..15 are P0..P15, 32 is "unknown". */
export function pstateName(v: number): string | null {
  return Number.isInteger(v) && v >= 0 && v <= 15 ? `P${v}` : null;
}

/** `nvmlSystemGetCudaDriverVersion` gives 1000 × major + 10 × minor (12040 → "12.4"). */
export function cudaVersionText(v: number): string | null {
  if (!Number.isInteger(v) || v <= 0) return null;
  return `${Math.floor(v / 1000)}.${Math.floor((v % 1000) / 10)}`;
}
