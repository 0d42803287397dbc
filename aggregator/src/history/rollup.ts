import { z } from 'zod';
import { historyFieldNames, type HistoryEntry, type HistoryFieldName } from '../../../shared/src/history.js';

/**
 * Pure rollups of the agent's history entries into fixed buckets with
 * min/avg/max per field. Stream layout of one rollup entry: `ts` (bucket
 * start, unix ms), `n` (raw entries in it), then `<field>_min`, `_avg`,
 * `_max` ("" when the field had no value in the bucket).
 */

export const resolutions = {
  '1m': { ms: 60_000, retentionMs: 24 * 3_600_000 },
  '5m': { ms: 300_000, retentionMs: 7 * 24 * 3_600_000 },
} as const;
export type Resolution = keyof typeof resolutions;

/** Stream length that holds the retention window (`XADD MAXLEN ~`). */
export function maxEntries(res: Resolution): number {
  return resolutions[res].retentionMs / resolutions[res].ms;
}

export const rolledFields = historyFieldNames.filter((f): f is Exclude<HistoryFieldName, 'ts'> => f !== 'ts');
export type RolledField = (typeof rolledFields)[number];

export interface Stats {
  min: number;
  avg: number;
  max: number;
}

export interface Bucket {
  start: number;
  n: number;
  fields: Partial<Record<RolledField, Stats>>;
}

/** Groups entries (with a `ts`) into buckets of `ms`, oldest first; entries without ts are skipped. */
export function rollup(entries: readonly HistoryEntry[], ms: number): Bucket[] {
  const acc = new Map<number, { n: number; sums: Map<RolledField, { min: number; max: number; sum: number; k: number }> }>();
  for (const e of entries) {
    if (e.ts === null) continue;
    const start = Math.floor(e.ts / ms) * ms;
    let b = acc.get(start);
    if (b === undefined) {
      b = { n: 0, sums: new Map() };
      acc.set(start, b);
    }
    b.n += 1;
    for (const f of rolledFields) {
      const v = e[f];
      if (v === null) continue;
      const s = b.sums.get(f);
      if (s === undefined) b.sums.set(f, { min: v, max: v, sum: v, k: 1 });
      else {
        s.min = Math.min(s.min, v);
        s.max = Math.max(s.max, v);
        s.sum += v;
        s.k += 1;
      }
    }
  }
  return [...acc.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([start, b]) => {
      const fields: Partial<Record<RolledField, Stats>> = {};
      for (const [f, s] of b.sums) fields[f] = { min: s.min, avg: s.sum / s.k, max: s.max };
      return { start, n: b.n, fields };
    });
}

/** 7 significant digits: a relative error under 1e-6, far below what a chart shows. */
function compact(v: number): string {
  return String(Number(v.toPrecision(7)));
}

/**
 * Flat field/value list for `XADD`, min/avg/max to 7 significant digits
 * (integers below 10^7, such as counts and percents' whole parts, stay
 * exact): with 17-digit doubles the rollup streams, 3,456 entries a
 * container, took 28 % more Valkey memory (scripts/history-cost.ts).
 */
export function bucketFields(b: Bucket): string[] {
  const out = ['ts', String(b.start), 'n', String(b.n)];
  for (const f of rolledFields) {
    const s = b.fields[f];
    out.push(`${f}_min`, s === undefined ? '' : compact(s.min), `${f}_avg`, s === undefined ? '' : compact(s.avg), `${f}_max`, s === undefined ? '' : compact(s.max));
  }
  return out;
}

const num = z.string().regex(/^-?\d+(\.\d+)?(e[-+]?\d+)?$/i, 'must be a decimal number').transform(Number);
const intText = z.string().regex(/^\d+$/, 'must be a whole number').transform(Number);

/** Parses one rollup entry; throws a ZodError on a malformed one. */
export function parseBucket(flat: readonly string[]): Bucket {
  const obj = new Map<string, string>();
  for (let i = 0; i + 1 < flat.length; i += 2) obj.set(flat[i] ?? '', flat[i + 1] ?? '');
  const start = intText.parse(obj.get('ts'));
  const n = intText.parse(obj.get('n'));
  const fields: Partial<Record<RolledField, Stats>> = {};
  for (const f of rolledFields) {
    const min = obj.get(`${f}_min`);
    if (min === undefined || min === '') continue;
    fields[f] = { min: num.parse(min), avg: num.parse(obj.get(`${f}_avg`)), max: num.parse(obj.get(`${f}_max`)) };
  }
  return { start, n, fields };
}
