import { z } from 'zod';
import type { Payload } from './payload.js';

/**
 * One entry of `system:history:<name>`: a compact set of the numbers charts
 * and rollups need, not the whole payload (720 full payloads per container
 * would cost megabytes per container in Valkey). Stream fields are strings;
 * an empty string is "no value" (the payload had null).
 */
/** A stream value: a decimal number, or "" for no value. */
const field = z
  .union([z.literal('').transform(() => null), z.string().regex(/^-?\d+(\.\d+)?(e[-+]?\d+)?$/i, 'must be a decimal number').transform(Number)])
  .optional()
  .transform((v) => v ?? null);

export const historyEntrySchema = z.object({
  ts: field,
  cpu_percent: field,
  cpu_cores: field,
  cpu_limit_cores: field,
  memory_bytes: field,
  memory_percent: field,
  memory_working_set_bytes: field,
  memory_limit_bytes: field,
  rx_bytes_per_sec: field,
  tx_bytes_per_sec: field,
  read_bytes_per_sec: field,
  write_bytes_per_sec: field,
  process_count: field,
  disk_percent: field,
  gpu_util_percent: field,
  gpu_memory_used_bytes: field,
  // Added after the first release: entries written by older agents lack them (read as null).
  cpu_throttled_percent: field,
  psi_cpu_some_avg10: field,
  psi_memory_some_avg10: field,
  psi_io_some_avg10: field,
});

export const historyFieldNames = historyEntrySchema.keyof().options;
export type HistoryFieldName = (typeof historyFieldNames)[number];
export type HistoryEntry = z.output<typeof historyEntrySchema>;

function num(v: number | null | undefined): string {
  return v === null || v === undefined || !Number.isFinite(v) ? '' : String(v);
}

/** GPU figures from the loosely typed gpus[] entries: mean utilisation, summed memory. */
function gpuFigures(p: Payload): { util: number | null; mem: number | null } {
  let utilSum = 0;
  let utilN = 0;
  let mem = 0;
  let memN = 0;
  for (const g of p.gpus) {
    const u = (g as Record<string, unknown>).utilization_percent;
    const m = (g as Record<string, unknown>).memory_used_bytes;
    if (typeof u === 'number') {
      utilSum += u;
      utilN += 1;
    }
    if (typeof m === 'number') {
      mem += m;
      memN += 1;
    }
  }
  return { util: utilN === 0 ? null : utilSum / utilN, mem: memN === 0 ? null : mem };
}

/** Flat field/value list for `XADD`, in historyFieldNames order. */
export function historyFields(p: Payload, unixMs: number): string[] {
  const gpu = gpuFigures(p);
  const values: Record<HistoryFieldName, string> = {
    ts: String(unixMs),
    cpu_percent: num(p.cpu_percent),
    cpu_cores: num(p.cpu?.cores_used),
    cpu_limit_cores: num(p.cpu?.limit_cores),
    memory_bytes: num(p.memory_usage_bytes),
    memory_percent: num(p.memory_percent),
    memory_working_set_bytes: num(p.memory?.working_set_bytes),
    memory_limit_bytes: num(p.memory?.limit_bytes),
    rx_bytes_per_sec: num(p.network?.rx_bytes_per_sec),
    tx_bytes_per_sec: num(p.network?.tx_bytes_per_sec),
    read_bytes_per_sec: num(p.io?.read_bytes_per_sec),
    write_bytes_per_sec: num(p.io?.write_bytes_per_sec),
    process_count: num(p.process_count),
    disk_percent: num(p.disk_percent),
    gpu_util_percent: num(gpu.util),
    gpu_memory_used_bytes: num(gpu.mem),
    cpu_throttled_percent: num(p.cpu?.throttled_percent),
    psi_cpu_some_avg10: num(p.pressure?.cpu?.some?.avg10),
    psi_memory_some_avg10: num(p.pressure?.memory?.some?.avg10),
    psi_io_some_avg10: num(p.pressure?.io?.some?.avg10),
  };
  return historyFieldNames.flatMap((n) => [n, values[n]]);
}

/** Parses the field/value array ioredis returns for one stream entry. */
export function parseHistoryEntry(flat: readonly string[]): HistoryEntry {
  const obj: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) obj[flat[i] as string] = flat[i + 1] as string;
  return historyEntrySchema.parse(obj);
}
