import { bitmapOf, FORMAT_1_FIELDS, HISTORY_FORMAT_VERSION, HistoryFormatError, PackedReader, pushVarint, toFixed, unzigzag, zigzag } from '../../../shared/src/history-codec.js';
import type { Bucket, RolledField, Stats } from './rollup.js';

/**
 * The packed form of one rollup bucket (format 1, docs/history-format.md):
 * a version byte, the sample count, a bitmap of the fields present, then per
 * present field three integers in the field's fixed point
 * (shared/src/history-codec.ts): the minimum (zigzag varint), avg − min and
 * max − avg (varints). About 7 bytes a field instead of ~19 for the named,
 * decimal stream fields it replaces (scripts/history-cost.ts).
 *
 * Everything read back is hostile (any client of the shared Valkey can write
 * there): `decodeBucket` checks every length, bound and order and throws a
 * HistoryFormatError naming what is wrong; it never returns a partial bucket.
 */

/** A bucket holds at most this many raw samples (only bounds hostile input). */
export const MAX_BUCKET_SAMPLES = 1_000_000;

/** A value that could not be packed (the writer leaves the field out and says so). */
export interface Unencodable {
  field: RolledField;
  value: number;
}

/**
 * Packs a bucket. Fields whose scaled value is not a safe integer (NaN,
 * infinities, beyond 2^52) cannot be represented: they are left out and
 * returned in `dropped`, so the caller can log them.
 */
export function encodeBucket(b: Bucket): { bytes: Buffer; dropped: Unencodable[] } {
  if (!Number.isSafeInteger(b.n) || b.n < 1 || b.n > MAX_BUCKET_SAMPLES) throw new RangeError(`bucket sample count ${b.n} is outside 1..${MAX_BUCKET_SAMPLES}`);
  const present: number[] = [];
  const body: number[] = [];
  const dropped: Unencodable[] = [];
  FORMAT_1_FIELDS.forEach(([field, scale], i) => {
    const s = b.fields[field];
    if (s === undefined) return;
    const min = toFixed(s.min, scale);
    const max = toFixed(s.max, scale);
    const avg = toFixed(s.avg, scale);
    if (min === null || max === null || avg === null || min > max || !Number.isSafeInteger(max - min)) {
      dropped.push({ field, value: [s.min, s.avg, s.max].find((v) => toFixed(v, scale) === null) ?? s.max });
      return;
    }
    // The mean lies between min and max; rounding and float sums can only nudge it past them by a unit.
    const mid = Math.min(max, Math.max(min, avg));
    present.push(i);
    pushVarint(body, zigzag(min));
    pushVarint(body, mid - min);
    pushVarint(body, max - mid);
  });
  const head: number[] = [HISTORY_FORMAT_VERSION];
  pushVarint(head, b.n);
  return { bytes: Buffer.concat([Buffer.from(head), bitmapOf(present), Buffer.from(body)]), dropped };
}

/** Unpacks a bucket starting at `start` (the stream ID); throws a HistoryFormatError on anything malformed. */
export function decodeBucket(start: number, bytes: Uint8Array): Bucket {
  const r = new PackedReader(bytes);
  r.version();
  const n = r.varint('the sample count');
  if (n < 1 || n > MAX_BUCKET_SAMPLES) throw new HistoryFormatError(`sample count ${n} is outside 1..${MAX_BUCKET_SAMPLES}`);
  const fields: Partial<Record<RolledField, Stats>> = {};
  for (const [field, scale] of r.fields()) {
    const min = unzigzag(r.varint(`${field} min`));
    const avg = min + r.varint(`${field} avg - min`);
    const max = avg + r.varint(`${field} max - avg`);
    if (!Number.isSafeInteger(max)) throw new HistoryFormatError(`${field} max is beyond 2^53`);
    fields[field] = { min: min / scale, avg: avg / scale, max: max / scale };
  }
  r.end();
  return { start, n, fields };
}

/** The one field of a rollup stream entry (its value is the packed bucket). */
export const BUCKET_FIELD = 'b';

/**
 * One entry of a rollup stream as ioredis returns it with `xrangeBuffer`:
 * the ID's milliseconds are the bucket start (a multiple of `bucketMs`) and
 * the only field is `b`. Throws a HistoryFormatError otherwise.
 */
export function parseRollupEntry(id: Buffer | string, flat: readonly Buffer[], bucketMs: number): Bucket {
  const m = /^(\d{1,16})-\d{1,20}$/.exec(id.toString('latin1'));
  const start = m === null ? NaN : Number(m[1]);
  if (!Number.isSafeInteger(start)) throw new HistoryFormatError(`stream ID ${JSON.stringify(id.toString('latin1').slice(0, 40))} is not <unix ms>-<seq>`);
  if (start % bucketMs !== 0) throw new HistoryFormatError(`bucket start ${start} is not a multiple of ${bucketMs} ms`);
  const [name, value, ...rest] = flat;
  if (flat.length !== 2 || name === undefined || value === undefined || rest.length > 0 || name.toString('latin1') !== BUCKET_FIELD) {
    throw new HistoryFormatError(`expected one field "${BUCKET_FIELD}", found ${Math.floor(flat.length / 2)} field(s)${name === undefined ? '' : ` starting with ${JSON.stringify(name.toString('latin1').slice(0, 40))}`}`);
  }
  return decodeBucket(start, value);
}
