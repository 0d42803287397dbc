import { historyFieldNames, type HistoryEntry, type HistoryFieldName } from '../../../shared/src/history.js';

/**
 * Pure rollups of the agent's history entries into fixed buckets with
 * min/avg/max per field. How a bucket is stored: bucket-codec.ts.
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
