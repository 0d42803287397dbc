import type { Gpu } from '../../../shared/src/payload.js';
import {
  clocksEventReasonNames,
  decodeMemoryV1,
  decodeMemoryV2,
  decodeProcesses,
  decodeTemperatureV1,
  MEMORY_V1_SIZE,
  memoryV2Buffer,
  PROCESS_INFO_SIZE,
  PROCESS_INFO_SIZE_535,
  pstateName,
  temperatureV1Buffer,
  u64ToNumber,
  type MemoryInfo,
} from './decode.js';
import { NVML_SUCCESS, NvmlCode } from './nvml-codes.js';
import type { NvmlApi, NvmlSymbol } from './nvml-lib.js';

/** The per-tick NVML readings of one device, each with the payload fields it fills. */

/** `nvmlClockType_t`, `nvmlPcieUtilCounter_t`, `nvmlMemoryErrorType_t`, `nvmlEccCounterType_t`. */
export const CLOCK = { graphics: 0, sm: 1, mem: 2 } as const;
const PCIE = { tx: 0, rx: 1 } as const;
const ECC = { corrected: 0, uncorrected: 1, volatile: 0 } as const;

export type MetricField = Exclude<keyof Gpu, 'index' | 'uuid' | 'name' | 'parent_uuid' | 'health' | 'unsupported'>;
type Values = Partial<Pick<Gpu, MetricField>>;
type Failure = { ok: false; symbol: NvmlSymbol; code: number };
export type Outcome = { ok: true; values: Values } | Failure;

export interface Metric {
  fields: MetricField[];
  read: () => Outcome;
}

/** The device being read, as the metrics need it. */
export interface MetricTarget {
  handle: bigint;
  uuid: string;
  isMig: boolean;
  /** From the identity read at init; bounds the process-list sanity check. */
  memoryTotal: number | null;
  /** Entry size of `_v3` process lists on this driver. */
  processStride: number;
}

export const METRIC_FIELDS: readonly MetricField[] = [
  'pci_bus_id',
  'driver_version',
  'cuda_driver_version',
  'compute_capability',
  'utilization_percent',
  'memory_utilization_percent',
  'memory_total_bytes',
  'memory_used_bytes',
  'memory_reserved_bytes',
  'temperature_c',
  'power_watts',
  'power_limit_watts',
  'energy_joules',
  'fan_percent',
  'clock_sm_mhz',
  'clock_mem_mhz',
  'clock_graphics_mhz',
  'clock_max_sm_mhz',
  'pcie_tx_bytes_per_sec',
  'pcie_rx_bytes_per_sec',
  'encoder_percent',
  'decoder_percent',
  'pstate',
  'clocks_event_reasons',
  'ecc_corrected',
  'ecc_uncorrected',
  'mig_mode',
  'processes',
];

/** `_v2` (with reserved memory) where the driver has it and accepts our struct version, else the v1 call. */
export function readMemory(api: NvmlApi, handle: bigint): { ok: true; memory: MemoryInfo } | Failure {
  if (api.has('nvmlDeviceGetMemoryInfo_v2')) {
    const buf = memoryV2Buffer();
    const code = api.call('nvmlDeviceGetMemoryInfo_v2', handle, buf);
    if (code === NVML_SUCCESS) return { ok: true, memory: decodeMemoryV2(buf) };
    if (code !== NvmlCode.ARGUMENT_VERSION_MISMATCH) return { ok: false, symbol: 'nvmlDeviceGetMemoryInfo_v2', code };
  }
  const buf = Buffer.alloc(MEMORY_V1_SIZE);
  const code = api.call('nvmlDeviceGetMemoryInfo', handle, buf);
  return code === NVML_SUCCESS ? { ok: true, memory: decodeMemoryV1(buf) } : { ok: false, symbol: 'nvmlDeviceGetMemoryInfo', code };
}

/** Every per-tick reading of one device, as (fields it fills, how to read them). */
export function deviceMetrics(api: NvmlApi, dev: MetricTarget, reasons: Record<string, string>): Metric[] {
const h = dev.handle;
  const call = (symbol: NvmlSymbol, args: (number | Buffer)[], values: () => Values): Outcome => {
    const code = api.call(symbol, h, ...args);
    return code === NVML_SUCCESS ? { ok: true, values: values() } : { ok: false, symbol, code };
  };
  const u32 = (symbol: NvmlSymbol, pre: number[], toValues: (v: number) => Values): Outcome => {
    const buf = Buffer.alloc(4);
    return call(symbol, [...pre, buf], () => toValues(buf.readUInt32LE(0)));
  };
  const u64 = (symbol: NvmlSymbol, pre: number[], toValues: (v: bigint) => Values): Outcome => {
    const buf = Buffer.alloc(8);
    return call(symbol, [...pre, buf], () => toValues(buf.readBigUInt64LE(0)));
  };
  const pick = (primary: NvmlSymbol, fallback: NvmlSymbol): NvmlSymbol => (api.has(primary) ? primary : fallback);
  const list: { fields: MetricField[]; read: () => Outcome }[] = [
    {
      fields: ['utilization_percent', 'memory_utilization_percent'],
      read: () => {
        const buf = Buffer.alloc(8);
        return call('nvmlDeviceGetUtilizationRates', [buf], () => ({
          utilization_percent: buf.readUInt32LE(0),
          memory_utilization_percent: buf.readUInt32LE(4),
        }));
      },
    },
    {
      fields: ['memory_used_bytes', 'memory_reserved_bytes'],
      read: () => {
        const r = readMemory(api, h);
        if (!r.ok) return r;
        return {
          ok: true,
          values: { memory_used_bytes: r.memory.used, memory_reserved_bytes: r.memory.reserved, memory_total_bytes: dev.memoryTotal ?? r.memory.total },
        };
      },
    },
    {
      fields: ['temperature_c'],
      read: () => {
        // A driver that knows a newer struct version than ours answers ARGUMENT_VERSION_MISMATCH: use the old call.
        if (api.has('nvmlDeviceGetTemperatureV')) {
          const buf = temperatureV1Buffer();
          const r = call('nvmlDeviceGetTemperatureV', [buf], () => ({ temperature_c: decodeTemperatureV1(buf) }));
          if (r.ok || r.code !== NvmlCode.ARGUMENT_VERSION_MISMATCH) return r;
        }
        return u32('nvmlDeviceGetTemperature', [0], (v) => ({ temperature_c: v }));
      },
    },
    { fields: ['power_watts'], read: () => u32('nvmlDeviceGetPowerUsage', [], (mw) => ({ power_watts: mw / 1000 })) },
    { fields: ['power_limit_watts'], read: () => u32('nvmlDeviceGetEnforcedPowerLimit', [], (mw) => ({ power_limit_watts: mw / 1000 })) },
    { fields: ['energy_joules'], read: () => u64('nvmlDeviceGetTotalEnergyConsumption', [], (mj) => ({ energy_joules: u64ToNumber(mj) / 1000 })) },
    { fields: ['fan_percent'], read: () => u32('nvmlDeviceGetFanSpeed', [], (v) => ({ fan_percent: v })) },
    { fields: ['clock_sm_mhz'], read: () => u32('nvmlDeviceGetClockInfo', [CLOCK.sm], (v) => ({ clock_sm_mhz: v })) },
    { fields: ['clock_mem_mhz'], read: () => u32('nvmlDeviceGetClockInfo', [CLOCK.mem], (v) => ({ clock_mem_mhz: v })) },
    { fields: ['clock_graphics_mhz'], read: () => u32('nvmlDeviceGetClockInfo', [CLOCK.graphics], (v) => ({ clock_graphics_mhz: v })) },
    // NVML's "KB" here is 1024 bytes.
    { fields: ['pcie_tx_bytes_per_sec'], read: () => u32('nvmlDeviceGetPcieThroughput', [PCIE.tx], (kb) => ({ pcie_tx_bytes_per_sec: kb * 1024 })) },
    { fields: ['pcie_rx_bytes_per_sec'], read: () => u32('nvmlDeviceGetPcieThroughput', [PCIE.rx], (kb) => ({ pcie_rx_bytes_per_sec: kb * 1024 })) },
    {
      fields: ['encoder_percent'],
      read: () => {
        const buf = Buffer.alloc(4);
        return call('nvmlDeviceGetEncoderUtilization', [buf, Buffer.alloc(4)], () => ({ encoder_percent: buf.readUInt32LE(0) }));
      },
    },
    {
      fields: ['decoder_percent'],
      read: () => {
        const buf = Buffer.alloc(4);
        return call('nvmlDeviceGetDecoderUtilization', [buf, Buffer.alloc(4)], () => ({ decoder_percent: buf.readUInt32LE(0) }));
      },
    },
    {
      fields: ['pstate'],
      read: () => {
        const buf = Buffer.alloc(4);
        return call('nvmlDeviceGetPerformanceState', [buf], () => ({ pstate: pstateName(buf.readInt32LE(0)) }));
      },
    },
    {
      fields: ['clocks_event_reasons'],
      read: () =>
        u64(pick('nvmlDeviceGetCurrentClocksEventReasons', 'nvmlDeviceGetCurrentClocksThrottleReasons'), [], (bits) => ({
          clocks_event_reasons: clocksEventReasonNames(bits),
        })),
    },
    { fields: ['ecc_corrected'], read: () => u64('nvmlDeviceGetTotalEccErrors', [ECC.corrected, ECC.volatile], (v) => ({ ecc_corrected: u64ToNumber(v) })) },
    { fields: ['ecc_uncorrected'], read: () => u64('nvmlDeviceGetTotalEccErrors', [ECC.uncorrected, ECC.volatile], (v) => ({ ecc_uncorrected: u64ToNumber(v) })) },
    { fields: ['processes'], read: () => readProcesses(api, dev, reasons) },
  ];
  if (dev.isMig) return list;
  list.push({
    fields: ['mig_mode'],
    read: () => {
      const cur = Buffer.alloc(4);
      return call('nvmlDeviceGetMigMode', [cur, Buffer.alloc(4)], () => ({ mig_mode: cur.readUInt32LE(0) === 1 ? 'enabled' : 'disabled' }));
    },
  });
  return list;
}

/**
 * The compute process list: ask for the count, then read into a buffer of
 * 32-byte slots (room for either layout) and decode at the detected stride.
 */
function readProcesses(api: NvmlApi, dev: MetricTarget, reasons: Record<string, string>): Outcome {
  const symbol = api.has('nvmlDeviceGetComputeRunningProcesses_v3') ? 'nvmlDeviceGetComputeRunningProcesses_v3' : 'nvmlDeviceGetComputeRunningProcesses_v2';
  const stride = symbol === 'nvmlDeviceGetComputeRunningProcesses_v3' ? dev.processStride : PROCESS_INFO_SIZE;
  const count = Buffer.alloc(4);
  let code = api.call(symbol, dev.handle, count, null);
  // Processes come and go between the two calls: retry a few times with room to spare.
  for (let attempt = 0; attempt < 3 && code === NvmlCode.INSUFFICIENT_SIZE; attempt++) {
    const capacity = count.readUInt32LE(0) + 8;
    const buf = Buffer.alloc(capacity * PROCESS_INFO_SIZE_535);
    count.writeUInt32LE(capacity, 0);
    code = api.call(symbol, dev.handle, count, buf);
    if (code !== NVML_SUCCESS) continue;
    const decoded = decodeProcesses(buf, count.readUInt32LE(0), stride, dev.memoryTotal);
    if (!decoded.ok) {
      reasons[`gpus.${dev.uuid}.processes`] = `process list dropped: ${decoded.reason}`;
      return { ok: true, values: { processes: null } };
    }
    return {
      ok: true,
      values: { processes: decoded.processes.map((p) => ({ pid: p.pid, pid_namespace: 'host', used_memory_bytes: p.usedMemoryBytes })) },
    };
  }
  if (code === NVML_SUCCESS) return { ok: true, values: { processes: [] } };
  return { ok: false, symbol, code };
}
