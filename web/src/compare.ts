/** Highest and lowest value of each metric across a set of items (the GPU compare view). */

export interface Extremes {
  /** Ids holding the highest value (ties all marked); empty when fewer than two distinct values. */
  high: string[];
  low: string[];
}

export function extremes<M extends string>(items: { id: string; values: Partial<Record<M, number | null>> }[], metrics: readonly M[]): Record<M, Extremes> {
  const out = {} as Record<M, Extremes>;
  for (const m of metrics) {
    let hi = -Infinity;
    let lo = Infinity;
    for (const it of items) {
      const v = it.values[m];
      if (typeof v !== 'number' || !Number.isFinite(v)) continue;
      if (v > hi) hi = v;
      if (v < lo) lo = v;
    }
    if (!(hi > lo)) {
      out[m] = { high: [], low: [] };
      continue;
    }
    out[m] = {
      high: items.filter((it) => it.values[m] === hi).map((it) => it.id),
      low: items.filter((it) => it.values[m] === lo).map((it) => it.id),
    };
  }
  return out;
}
