import { LogOnce } from '../../../shared/src/log-once.js';
import type { Logger } from '../../../shared/src/log.js';

/** Which history a refused entry was in: the agent's raw stream, a rollup stream, or a pre-upgrade rollup being moved. */
export const HISTORY_REJECT_KINDS = ['raw', 'rollup', 'legacy_rollup'] as const;
export type HistoryRejectKind = (typeof HISTORY_REJECT_KINDS)[number];

/**
 * Counts history entries that were refused (malformed, a format this
 * aggregator does not read, out of range) and logs the first refusal per key,
 * with a bound on the keys remembered: any client of the shared Valkey can
 * write there, and a flood of bad entries must not become a flood of log lines.
 */
export class HistoryRejects {
  private readonly counts: Record<HistoryRejectKind, number> = { raw: 0, rollup: 0, legacy_rollup: 0 };
  private readonly once: LogOnce;

  constructor(private readonly log?: Logger) {
    this.once = new LogOnce(1000, () => {
      this.log?.warn('more than 1000 history keys held refused entries; further ones are counted (system_monitor_history_rejected_total) but not logged');
    });
  }

  /** One refused entry `id` of `key`. */
  note(kind: HistoryRejectKind, key: string, id: string, reason: string): void {
    this.counts[kind] += 1;
    if (this.once.first(key)) {
      this.log?.warn({ key, id, reason }, 'refusing a history entry that is not in a format this aggregator writes; it is skipped (check which client writes this key; logged once per key, counted in system_monitor_history_rejected_total)');
    }
  }

  get totals(): Readonly<Record<HistoryRejectKind, number>> {
    return { ...this.counts };
  }
}

/** The message of a parse failure, short enough for a log line (zod's messages list every issue). */
export function describeError(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.length > 300 ? `${msg.slice(0, 300)}…` : msg;
}
