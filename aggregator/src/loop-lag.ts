import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';

export interface LoopLag {
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
}

/**
 * Event-loop delay over a sliding window (reset every `windowMs`): how long a
 * request or an SSE event can wait behind other work in this process. Reported
 * in /readyz and /metrics, so a slow response can be told apart from a slow
 * machine or network.
 */
export class LoopLagMonitor {
  private readonly h: IntervalHistogram;
  private last: LoopLag = { p50_ms: 0, p99_ms: 0, max_ms: 0 };
  private readonly timer: NodeJS.Timeout;

  constructor(windowMs = 30_000) {
    this.h = monitorEventLoopDelay({ resolution: 10 });
    this.h.enable();
    this.timer = setInterval(() => {
      this.last = this.read();
      this.h.reset();
    }, windowMs);
    this.timer.unref();
  }

  /** The larger of the current and the previous window, so a reading never covers only a few ms. */
  current(): LoopLag {
    const now = this.read();
    return { p50_ms: Math.max(now.p50_ms, this.last.p50_ms), p99_ms: Math.max(now.p99_ms, this.last.p99_ms), max_ms: Math.max(now.max_ms, this.last.max_ms) };
  }

  stop(): void {
    clearInterval(this.timer);
    this.h.disable();
  }

  private read(): LoopLag {
    // The histogram counts the sampling resolution itself; subtract it so an idle loop reads ~0.
    const ms = (ns: number): number => Math.max(0, Math.round((ns / 1e6 - 10) * 10) / 10);
    if (this.h.count === 0) return { p50_ms: 0, p99_ms: 0, max_ms: 0 };
    return { p50_ms: ms(this.h.percentile(50)), p99_ms: ms(this.h.percentile(99)), max_ms: ms(this.h.max) };
  }
}
