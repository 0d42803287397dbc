/**
 * Fixed-deadline ticker (docs/measurement.md §0.2): tick k is due at `t0 + k × interval`
 * on the monotonic clock, so the cadence never drifts by the time a tick
 * takes. A tick that would run more than half an interval after its deadline
 * (event loop blocked, slow collection) is skipped and counted; missed ticks
 * are never fired in a burst.
 */

export interface TickInfo {
  /** Index of the deadline this tick belongs to (0 = start). */
  index: number;
  /** How late the tick started, in ms. */
  lateMs: number;
}

export interface TickerOptions {
  intervalMs: number;
  clock: () => bigint;
  onTick: (info: TickInfo) => Promise<void>;
  onSkip?: (skipped: number) => void;
}

export class DeadlineTicker {
  private readonly intervalNs: bigint;
  private t0 = 0n;
  private index = 0;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private stopped = true;
  skipped = 0;

  constructor(private readonly opts: TickerOptions) {
    this.intervalNs = BigInt(Math.round(opts.intervalMs * 1e6));
  }

  /** Runs the first tick now, then one per deadline. */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.t0 = this.opts.clock();
    this.index = 0;
    this.fire(0);
  }

  /** Stops scheduling and waits for a tick in progress to finish. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
  }

  private deadline(index: number): bigint {
    return this.t0 + BigInt(index) * this.intervalNs;
  }

  private fire(index: number): void {
    if (this.stopped) return;
    const now = this.opts.clock();
    const late = now - this.deadline(index);
    if (late < 0n) {
      // Timers may fire a little early after ms rounding: wait out the rest.
      this.arm(index, now);
      return;
    }
    if (late * 2n > this.intervalNs) {
      this.skip(1);
      this.scheduleAfter(index, now);
      return;
    }
    this.index = index;
    const run = this.opts
      .onTick({ index, lateMs: Number(late) / 1e6 })
      .catch(() => undefined)
      .finally(() => {
        this.running = null;
        this.scheduleAfter(index, this.opts.clock());
      });
    this.running = run;
  }

  /** Picks the next deadline after `index` that is still ahead (or just due) at `now`. */
  private scheduleAfter(index: number, now: bigint): void {
    if (this.stopped) return;
    let next = index + 1;
    const elapsed = now - this.t0;
    const due = Number(elapsed / this.intervalNs);
    if (due >= next + 1 || (due === next && (elapsed % this.intervalNs) * 2n > this.intervalNs)) {
      // Deadlines passed while the tick ran: skip them, never burst.
      const target = due + 1;
      this.skip(target - next);
      next = target;
    }
    this.arm(next, now);
  }

  private arm(index: number, now: bigint): void {
    const waitMs = Math.max(0, Math.ceil(Number(this.deadline(index) - now) / 1e6));
    this.timer = setTimeout(() => {
      this.timer = null;
      this.fire(index);
    }, waitMs);
  }

  private skip(n: number): void {
    if (n <= 0) return;
    this.skipped += n;
    this.opts.onSkip?.(n);
  }

  get currentIndex(): number {
    return this.index;
  }
}
