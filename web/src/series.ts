/**
 * A sliding window of time-aligned columns for a chart: column 0 is unix
 * seconds, the rest are values (null = gap). The arrays are reused and
 * trimmed in batches, so a long stream costs no per-event allocation and
 * memory stays bounded by `capacity`.
 */
export class SeriesBuffer {
  readonly columns: (number | null)[][];

  constructor(
    readonly width: number,
    readonly capacity: number,
  ) {
    this.columns = Array.from({ length: width + 1 }, () => []);
  }

  get length(): number {
    return this.columns[0]?.length ?? 0;
  }

  get lastTime(): number | null {
    const xs = this.columns[0] ?? [];
    return xs.length === 0 ? null : (xs[xs.length - 1] ?? null);
  }

  /** Appends one point; a time not after the last point is ignored (a replayed event). */
  push(t: number, values: readonly (number | null | undefined)[]): boolean {
    const last = this.lastTime;
    if (last !== null && t <= last) return false;
    this.columns[0]?.push(t);
    for (let i = 0; i < this.width; i++) {
      const v = values[i];
      this.columns[i + 1]?.push(typeof v === 'number' && Number.isFinite(v) ? v : null);
    }
    // Trim a quarter at a time: amortised O(1) per push instead of a shift per push.
    if (this.length > this.capacity + Math.max(1, Math.floor(this.capacity / 4))) {
      const drop = this.length - this.capacity;
      for (const c of this.columns) c.splice(0, drop);
    }
    return true;
  }

  /** Replaces the contents (a history fetch); keeps the same arrays. */
  replace(times: readonly number[], cols: readonly (readonly (number | null)[])[]): void {
    const start = Math.max(0, times.length - this.capacity);
    for (const c of this.columns) c.length = 0;
    for (let j = start; j < times.length; j++) {
      this.columns[0]?.push(times[j] ?? 0);
      for (let i = 0; i < this.width; i++) this.columns[i + 1]?.push(cols[i]?.[j] ?? null);
    }
  }

  /** Drops points older than `t`. */
  dropBefore(t: number): void {
    const xs = this.columns[0] ?? [];
    let k = 0;
    while (k < xs.length && (xs[k] ?? 0) < t) k += 1;
    if (k > 0) for (const c of this.columns) c.splice(0, k);
  }
}
