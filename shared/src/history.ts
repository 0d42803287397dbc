import { z } from 'zod';
import { bitmapOf, FORMAT_1_FIELDS, HISTORY_FORMAT_VERSION, HistoryFormatError, PackedReader, pushVarint, toFixed, unzigzag, zigzag } from './history-codec.js';
import type { Payload } from './payload.js';

/**
 * One entry of `system:history:<name>`: a compact set of the numbers charts
 * and rollups need, not the whole payload (720 full payloads per container
 * would cost megabytes per container in Valkey). Agents write it packed, one
 * field `p` (format 1, docs/history-format.md); agents before that wrote one
 * stream field per number as decimal text, "" for no value, which readers
 * still take (`parseHistoryRow`).
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

/** The figures of one sample, by history field (null: no value). */
function sampleFigures(p: Payload): Record<Exclude<HistoryFieldName, 'ts'>, number | null | undefined> {
  const gpu = gpuFigures(p);
  return {
    cpu_percent: p.cpu_percent,
    cpu_cores: p.cpu?.cores_used,
    cpu_limit_cores: p.cpu?.limit_cores,
    memory_bytes: p.memory_usage_bytes,
    memory_percent: p.memory_percent,
    memory_working_set_bytes: p.memory?.working_set_bytes,
    memory_limit_bytes: p.memory?.limit_bytes,
    rx_bytes_per_sec: p.network?.rx_bytes_per_sec,
    tx_bytes_per_sec: p.network?.tx_bytes_per_sec,
    read_bytes_per_sec: p.io?.read_bytes_per_sec,
    write_bytes_per_sec: p.io?.write_bytes_per_sec,
    process_count: p.process_count,
    disk_percent: p.disk_percent,
    gpu_util_percent: gpu.util,
    gpu_memory_used_bytes: gpu.mem,
    cpu_throttled_percent: p.cpu?.throttled_percent,
    psi_cpu_some_avg10: p.pressure?.cpu?.some?.avg10,
    psi_memory_some_avg10: p.pressure?.memory?.some?.avg10,
    psi_io_some_avg10: p.pressure?.io?.some?.avg10,
  };
}

/** The one field of a packed history entry. */
export const PACKED_HISTORY_FIELD = 'p';

/**
 * The field/value pair for `XADD`: format 1, a version byte, the sample time
 * (unix ms, varint), a bitmap of the fields present, then each present
 * field's value in its fixed point as a zigzag varint. A value with no
 * fixed-point form (NaN, infinite, beyond 2^52 in its unit) is stored as no value.
 */
export function historyFields(p: Payload, unixMs: number): [string, Buffer] {
  const figures = sampleFigures(p);
  const present: number[] = [];
  const body: number[] = [];
  FORMAT_1_FIELDS.forEach(([field, scale], i) => {
    const v = figures[field];
    const x = v === null || v === undefined ? null : toFixed(v, scale);
    if (x === null) return;
    present.push(i);
    pushVarint(body, zigzag(x));
  });
  const head: number[] = [HISTORY_FORMAT_VERSION];
  pushVarint(head, Math.max(0, Math.round(unixMs)));
  return [PACKED_HISTORY_FIELD, Buffer.concat([Buffer.from(head), bitmapOf(present), Buffer.from(body)])];
}

/** Unpacks a format 1 history value; throws a HistoryFormatError on anything malformed. */
export function decodeHistoryValue(bytes: Uint8Array): HistoryEntry {
  const r = new PackedReader(bytes);
  r.version();
  const entry = Object.fromEntries(historyFieldNames.map((n) => [n, null])) as HistoryEntry;
  entry.ts = r.varint('the sample time');
  for (const [field, scale] of r.fields()) entry[field] = unzigzag(r.varint(field)) / scale;
  r.end();
  return entry;
}

/**
 * One stream entry as `xrangeBuffer` returns it: the packed layout (one
 * field `p`) or the text layout of older agents. Throws (a HistoryFormatError
 * or a ZodError) on a malformed entry.
 */
export function parseHistoryRow(flat: readonly Buffer[]): HistoryEntry {
  const [name, value] = flat;
  if (flat.length === 2 && value !== undefined && name?.length === 1 && name.toString('latin1') === PACKED_HISTORY_FIELD) return decodeHistoryValue(value);
  if (flat.length === 2 && name !== undefined && !historyFieldNames.some((n) => name.toString('latin1') === n)) {
    throw new HistoryFormatError(`a one-field entry named ${JSON.stringify(name.toString('latin1').slice(0, 40))} is neither format 1 ("${PACKED_HISTORY_FIELD}") nor the text layout`);
  }
  return parseHistoryEntry(flat.map((b) => b.toString()));
}

/** Field/value list in the text layout agents before format 1 wrote (tests stand in for such agents with it), in historyFieldNames order. */
export function textHistoryFields(p: Payload, unixMs: number): string[] {
  const figures = sampleFigures(p);
  return historyFieldNames.flatMap((n) => [n, n === 'ts' ? String(unixMs) : num(figures[n])]);
}

/** Parses an entry of the text layout (field/value strings). */
function parseHistoryEntry(flat: readonly string[]): HistoryEntry {
  const obj: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) obj[flat[i] as string] = flat[i + 1] as string;
  return historyEntrySchema.parse(obj);
}
