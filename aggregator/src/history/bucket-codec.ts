import type { Bucket, RolledField, Stats } from './rollup.js';

/**
 * The packed form of one rollup bucket (format 1, docs/history-format.md):
 * a version byte, the sample count, a bitmap of the fields present, then per
 * present field three integers in fixed point (value × the field's scale,
 * rounded): the minimum (zigzag varint), avg − min and max − avg (varints).
 * About 6 bytes a field instead of ~19 for the named, decimal stream fields it
 * replaces (scripts/history-cost.ts).
 *
 * Everything read back is hostile (any client of the shared Valkey can write
 * there): `decodeBucket` checks every length, bound and order and throws a
 * BucketFormatError naming what is wrong; it never returns a partial bucket.
 */

export const BUCKET_FORMAT_VERSION = 1;

/**
 * The fields of format 1, in bitmap order, with their fixed-point scale
 * (1 / resolution): percents to 0.01, cores to 0.0001, bytes and byte rates
 * to whole units, the process count's average to 0.01. A field added to the
 * history later needs a new format version (the codec test checks that every
 * rolled field is listed).
 */
export const FORMAT_1_FIELDS: readonly (readonly [RolledField, number])[] = [
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
];

const BITMAP_BYTES = Math.ceil(FORMAT_1_FIELDS.length / 8);
/** A bucket holds at most this many raw samples (a week at 1 sample/ms would be absurd; this only bounds hostile input). */
export const MAX_BUCKET_SAMPLES = 1_000_000;
/** 7 bytes of 7 bits = 49 bits … an 8th byte reaches 56 bits, past 2^53: more is never written. */
const MAX_VARINT_BYTES = 8;

export class BucketFormatError extends Error {
  override readonly name = 'BucketFormatError';
}

/** Why a field's value could not be packed (the writer leaves the field out and says so). */
export interface Unencodable {
  field: RolledField;
  value: number;
}

function pushVarint(out: number[], v: number): void {
  // v is a non-negative safe integer; division, not bit shifts (those are 32-bit).
  let x = v;
  while (x >= 0x80) {
    out.push((x % 0x80) | 0x80);
    x = Math.floor(x / 0x80);
  }
  out.push(x);
}

const zigzag = (v: number): number => (v < 0 ? -2 * v - 1 : 2 * v);
const unzigzag = (z: number): number => (z % 2 === 1 ? -(z + 1) / 2 : z / 2);

/**
 * Packs a bucket. Fields whose scaled value is not a safe integer (NaN,
 * infinities, beyond ±2^53) cannot be represented: they are left out and
 * returned in `dropped`, so the caller can log them.
 */
export function encodeBucket(b: Bucket): { bytes: Buffer; dropped: Unencodable[] } {
  if (!Number.isSafeInteger(b.n) || b.n < 1 || b.n > MAX_BUCKET_SAMPLES) throw new RangeError(`bucket sample count ${b.n} is outside 1..${MAX_BUCKET_SAMPLES}`);
  const bitmap = new Uint8Array(BITMAP_BYTES);
  const body: number[] = [];
  const dropped: Unencodable[] = [];
  FORMAT_1_FIELDS.forEach(([field, scale], i) => {
    const s = b.fields[field];
    if (s === undefined) return;
    const min = Math.round(s.min * scale);
    const max = Math.round(s.max * scale);
    // The mean lies between min and max; rounding and float sums can only nudge it past them by a unit.
    const avg = Math.min(max, Math.max(min, Math.round(s.avg * scale)));
    const bad = [min, max, avg, zigzag(min), max - min].some((v) => !Number.isSafeInteger(v)) || min > max;
    if (bad) {
      dropped.push({ field, value: [s.min, s.avg, s.max].find((v) => !Number.isSafeInteger(Math.round(v * scale))) ?? s.max });
      return;
    }
    bitmap[i >> 3] = (bitmap[i >> 3] ?? 0) | (1 << (i & 7));
    pushVarint(body, zigzag(min));
    pushVarint(body, avg - min);
    pushVarint(body, max - avg);
  });
  const head: number[] = [BUCKET_FORMAT_VERSION];
  pushVarint(head, b.n);
  return { bytes: Buffer.concat([Buffer.from(head), bitmap, Buffer.from(body)]), dropped };
}

class Reader {
  private at = 0;
  constructor(private readonly buf: Uint8Array) {}

  get done(): boolean {
    return this.at >= this.buf.length;
  }

  byte(what: string): number {
    const b = this.buf[this.at];
    if (b === undefined) throw new BucketFormatError(`ends early at byte ${this.at}, reading ${what}`);
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
        if (!Number.isSafeInteger(v)) throw new BucketFormatError(`${what} at byte ${this.at} is beyond 2^53`);
        return v;
      }
      mul *= 0x80;
    }
    throw new BucketFormatError(`${what} at byte ${this.at} is longer than ${MAX_VARINT_BYTES} bytes`);
  }
}

/** Unpacks a bucket starting at `start` (the stream ID); throws a BucketFormatError on anything malformed. */
export function decodeBucket(start: number, bytes: Uint8Array): Bucket {
  const r = new Reader(bytes);
  const version = r.byte('the format version');
  if (version !== BUCKET_FORMAT_VERSION) throw new BucketFormatError(`format version ${version} is not one this aggregator reads (it reads ${BUCKET_FORMAT_VERSION})`);
  const n = r.varint('the sample count');
  if (n < 1 || n > MAX_BUCKET_SAMPLES) throw new BucketFormatError(`sample count ${n} is outside 1..${MAX_BUCKET_SAMPLES}`);
  const bitmap: number[] = [];
  for (let i = 0; i < BITMAP_BYTES; i++) bitmap.push(r.byte('the field bitmap'));
  const fields: Partial<Record<RolledField, Stats>> = {};
  for (let i = 0; i < BITMAP_BYTES * 8; i++) {
    if ((((bitmap[i >> 3] ?? 0) >> (i & 7)) & 1) === 0) continue;
    const spec = FORMAT_1_FIELDS[i];
    if (spec === undefined) throw new BucketFormatError(`field bit ${i} is set, but format ${BUCKET_FORMAT_VERSION} has ${FORMAT_1_FIELDS.length} fields`);
    const [field, scale] = spec;
    const min = unzigzag(r.varint(`${field} min`));
    const avg = min + r.varint(`${field} avg - min`);
    const max = avg + r.varint(`${field} max - avg`);
    if (!Number.isSafeInteger(max)) throw new BucketFormatError(`${field} max is beyond 2^53`);
    fields[field] = { min: min / scale, avg: avg / scale, max: max / scale };
  }
  if (!r.done) throw new BucketFormatError(`${bytes.length} bytes, but the bucket ends before the last`);
  return { start, n, fields };
}

/** The one field of a rollup stream entry (its value is the packed bucket). */
export const BUCKET_FIELD = 'b';

/**
 * One entry of a rollup stream as ioredis returns it with `xrangeBuffer`:
 * the ID's milliseconds are the bucket start (a multiple of `bucketMs`) and
 * the only field is `b`. Throws a BucketFormatError otherwise.
 */
export function parseRollupEntry(id: Buffer | string, flat: readonly Buffer[], bucketMs: number): Bucket {
  const m = /^(\d{1,16})-\d{1,20}$/.exec(id.toString('latin1'));
  const start = m === null ? NaN : Number(m[1]);
  if (!Number.isSafeInteger(start)) throw new BucketFormatError(`stream ID ${JSON.stringify(id.toString('latin1').slice(0, 40))} is not <unix ms>-<seq>`);
  if (start % bucketMs !== 0) throw new BucketFormatError(`bucket start ${start} is not a multiple of ${bucketMs} ms`);
  const [name, value, ...rest] = flat;
  if (flat.length !== 2 || name === undefined || value === undefined || rest.length > 0 || name.toString('latin1') !== BUCKET_FIELD) {
    throw new BucketFormatError(`expected one field "${BUCKET_FIELD}", found ${Math.floor(flat.length / 2)} field(s)${name === undefined ? '' : ` starting with ${JSON.stringify(name.toString('latin1').slice(0, 40))}`}`);
  }
  return decodeBucket(start, value);
}
