/**
 * Per-second rates from cumulative counters with monotonic timestamps
 * (docs/measurement.md §0): the first reading has no baseline, a pair whose Δt is not
 * positive or shorter than half the interval is rejected (the older baseline
 * is kept), and a counter that goes down is a reset (new baseline, no rate).
 */

export interface RateResult {
  /** Per-second rate, or null when there is no valid pair yet. */
  rate: number | null;
  /** The counter went down since the previous reading. */
  reset: boolean;
}

export class CounterRate {
  private prevValue: number | null = null;
  private prevNs = 0n;
  /** How many resets were seen (container restart, interface re-created). */
  resets = 0;

  constructor(private readonly minDeltaNs: bigint) {}

  update(value: number, atNs: bigint): RateResult {
    const prev = this.prevValue;
    if (prev === null) {
      this.prevValue = value;
      this.prevNs = atNs;
      return { rate: null, reset: false };
    }
    const dtNs = atNs - this.prevNs;
    if (dtNs <= 0n || dtNs < this.minDeltaNs) {
      return { rate: null, reset: false };
    }
    this.prevValue = value;
    this.prevNs = atNs;
    if (value < prev) {
      this.resets += 1;
      return { rate: null, reset: true };
    }
    return { rate: safeDivide(value - prev, Number(dtNs) / 1e9), reset: false };
  }
}

/** Division that never yields NaN or Infinity: `null` when the result would not be finite. */
export function safeDivide(numerator: number, denominator: number): number | null {
  if (denominator === 0) return null;
  const q = numerator / denominator;
  return Number.isFinite(q) ? q : null;
}

/** Percentage `100 × part / whole` clamped to 0–100, or null when undefined. */
export function percentOf(part: number | null, whole: number | null): number | null {
  if (part === null || whole === null || whole <= 0) return null;
  const p = safeDivide(100 * part, whole);
  return p === null ? null : Math.min(100, Math.max(0, p));
}

/** A set of named counters sharing one minimum Δt; rates keyed by name. */
export class CounterRates {
  private readonly rates = new Map<string, CounterRate>();
  constructor(private readonly minDeltaNs: bigint) {}

  update(key: string, value: number, atNs: bigint): RateResult {
    let r = this.rates.get(key);
    if (r === undefined) {
      r = new CounterRate(this.minDeltaNs);
      this.rates.set(key, r);
    }
    return r.update(value, atNs);
  }

  /** Forgets counters not in `keep` (interfaces or devices that went away). */
  retain(keep: ReadonlySet<string>): void {
    for (const key of this.rates.keys()) if (!keep.has(key)) this.rates.delete(key);
  }

  get resets(): number {
    let n = 0;
    for (const r of this.rates.values()) n += r.resets;
    return n;
  }
}

/** Monotonic clock in nanoseconds. */
export function monoNs(): bigint {
  return process.hrtime.bigint();
}
