/**
 * The building blocks of the packed history formats (docs/history-format.md):
 * the fields of format 1 with their fixed-point scales, LEB128 varints with
 * zigzag for signed values, and a bounds-checked reader. The agent packs raw
 * samples with them (history.ts), the aggregator its rollup buckets
 * (aggregator/src/history/bucket-codec.ts).
 *
 * Every packed value starts with a format version byte, so a reader meeting a
 * version it does not know refuses the entry by name instead of misreading it.
 */

export const HISTORY_FORMAT_VERSION = 1;

/**
 * The numeric history fields of format 1, in bitmap order, with their
 * fixed-point scale (1 / resolution): percents to 0.01, cores to 0.0001,
 * bytes and byte rates to whole units, the process count to 0.01 (rollups
 * average it). Changing this list or a scale needs a new format version.
 */
export const FORMAT_1_FIELDS = [
  ['cpu_percent', 100],
  ['cpu_cores', 10_000],
  ['cpu_limit_cores', 10_000],
  ['memory_bytes', 1],
  ['memory_percent', 100],
  ['memory_working_set_bytes', 1],
  ['memory_limit_bytes', 1],
  ['rx_bytes_per_sec', 1],
  ['tx_bytes_per_sec', 1],
  ['read_bytes_per_sec', 1],
  ['write_bytes_per_sec', 1],
  ['process_count', 100],
  ['disk_percent', 100],
  ['gpu_util_percent', 100],
  ['gpu_memory_used_bytes', 1],
  ['cpu_throttled_percent', 100],
  ['psi_cpu_some_avg10', 100],
  ['psi_memory_some_avg10', 100],
  ['psi_io_some_avg10', 100],
] as const;

export type FieldSpec = (typeof FORMAT_1_FIELDS)[number];
export type PackedField = FieldSpec[0];

/** Bytes of the bitmap saying which fields a value holds. */
export const BITMAP_BYTES = Math.ceil(FORMAT_1_FIELDS.length / 8);

/** 8 bytes of 7 bits reach 2^56, past 2^53: no value written is longer. */
const MAX_VARINT_BYTES = 8;

export class HistoryFormatError extends Error {
  override readonly name = 'HistoryFormatError';
}

/** Appends `v`, a non-negative safe integer (division, not bit shifts: those are 32-bit). */
export function pushVarint(out: number[], v: number): void {
  let x = v;
  while (x >= 0x80) {
    out.push((x % 0x80) | 0x80);
    x = Math.floor(x / 0x80);
  }
  out.push(x);
}

export const zigzag = (v: number): number => (v < 0 ? -2 * v - 1 : 2 * v);
export const unzigzag = (z: number): number => (z % 2 === 1 ? -(z + 1) / 2 : z / 2);

/** `v` in the field's fixed point, or null when that is not a safe integer (NaN, infinite, beyond ±2^53 / 2). */
export function toFixed(v: number, scale: number): number | null {
  const x = Math.round(v * scale);
  return Number.isSafeInteger(zigzag(x)) ? x : null;
}

/** Reads a packed value front to back; every read past the end or out of bounds throws a HistoryFormatError naming what was read. */
export class PackedReader {
  private at = 0;
  constructor(private readonly buf: Uint8Array) {}

  get done(): boolean {
    return this.at >= this.buf.length;
  }

  byte(what: string): number {
    const b = this.buf[this.at];
    if (b === undefined) throw new HistoryFormatError(`ends early at byte ${this.at}, reading ${what}`);
    this.at += 1;
    return b;
  }

  varint(what: string): number {
    let v = 0;
    let mul = 1;
    for (let i = 0; i < MAX_VARINT_BYTES; i++) {
      const b = this.byte(what);
      v += (b & 0x7f) * mul;
      if ((b & 0x80) === 0) {
        if (!Number.isSafeInteger(v)) throw new HistoryFormatError(`${what} at byte ${this.at} is beyond 2^53`);
        return v;
      }
      mul *= 0x80;
    }
    throw new HistoryFormatError(`${what} at byte ${this.at} is longer than ${MAX_VARINT_BYTES} bytes`);
  }

  /** The version byte, refused unless it is `HISTORY_FORMAT_VERSION`. */
  version(): void {
    const v = this.byte('the format version');
    if (v !== HISTORY_FORMAT_VERSION) throw new HistoryFormatError(`format version ${v} is not one this program reads (it reads ${HISTORY_FORMAT_VERSION})`);
  }

  /** The field bitmap: the fields present with their scales, in order; a bit past the last field is refused. */
  fields(): FieldSpec[] {
    const present: FieldSpec[] = [];
    for (let i = 0; i < BITMAP_BYTES; i++) {
      const b = this.byte('the field bitmap');
      for (let bit = 0; bit < 8; bit++) {
        if (((b >> bit) & 1) === 0) continue;
        const idx = i * 8 + bit;
        const spec = FORMAT_1_FIELDS[idx];
        if (spec === undefined) throw new HistoryFormatError(`field bit ${idx} is set, but format ${HISTORY_FORMAT_VERSION} has ${FORMAT_1_FIELDS.length} fields`);
        present.push(spec);
      }
    }
    return present;
  }

  /** Refuses bytes left after the value. */
  end(): void {
    if (!this.done) throw new HistoryFormatError(`${this.buf.length} bytes, but the value ends at byte ${this.at}`);
  }
}

/** A bitmap with the given field indexes set. */
export function bitmapOf(indexes: readonly number[]): Uint8Array {
  const bitmap = new Uint8Array(BITMAP_BYTES);
  for (const i of indexes) bitmap[i >> 3] = (bitmap[i >> 3] ?? 0) | (1 << (i & 7));
  return bitmap;
}
