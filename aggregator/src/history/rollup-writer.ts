import type { Redis } from 'ioredis';
import { historyKey, rollupKey } from '../../../shared/src/keys.js';
import { parseHistoryEntry, type HistoryEntry } from '../../../shared/src/history.js';
import type { Logger } from '../../../shared/src/log.js';
import { bucketFields, maxEntries, resolutions, rollup, type Resolution } from './rollup.js';

export interface RollupResult {
  written: number;
  /** Raw entries that did not parse (skipped, left in the stream). */
  corrupt: number;
}

/**
 * Writes complete 1-minute and 5-minute buckets from `system:history:<name>`
 * to `system:rollup:<res>:<name>` (leader only). Each entry's stream ID is
 * its bucket start, so Valkey itself refuses a bucket written twice (a second
 * writer or a re-run after a crash adds nothing).
 */
export class RollupWriter {
  constructor(
    private readonly redis: Redis,
    private readonly opts: { clock?: () => number; graceMs?: number; log?: Logger } = {},
  ) {}

  async roll(container: string): Promise<RollupResult> {
    const now = (this.opts.clock ?? Date.now)();
    const grace = this.opts.graceMs ?? 10_000;
    const out: RollupResult = { written: 0, corrupt: 0 };
    const res = Object.keys(resolutions) as Resolution[];
    const after = new Map<Resolution, number>();
    for (const r of res) {
      const last = await this.redis.xrevrange(rollupKey(r, container), '+', '-', 'COUNT', 1);
      const id = last[0]?.[0];
      after.set(r, id === undefined ? -Infinity : Number(id.split('-')[0]));
    }
    // Read only what no rollup covers yet; stream IDs are Valkey's clock, the
    // entries' ts the agent's, so allow a minute of skew.
    const from = Math.min(...after.values()) + resolutions['1m'].ms - 60_000;
    const raw = await this.redis.xrange(historyKey(container), Number.isFinite(from) && from > 0 ? String(from) : '-', '+');
    const entries: HistoryEntry[] = [];
    for (const [, flat] of raw) {
      try {
        entries.push(parseHistoryEntry(flat));
      } catch {
        out.corrupt += 1;
      }
    }
    if (out.corrupt > 0) this.opts.log?.warn({ container, corrupt: out.corrupt }, 'skipping history entries that do not parse');
    for (const r of res) {
      const { ms } = resolutions[r];
      const key = rollupKey(r, container);
      const lastStart = after.get(r) ?? -Infinity;
      // Only buckets that can no longer receive samples (late ones get `grace`).
      const complete = Math.floor((now - grace) / ms) * ms;
      const buckets = rollup(entries, ms).filter((b) => b.start > lastStart && b.start + ms <= complete);
      for (const b of buckets) {
        try {
          await this.redis.xadd(key, 'MAXLEN', '~', String(maxEntries(r)), `${b.start}-1`, ...bucketFields(b));
          out.written += 1;
        } catch (err) {
          // Another writer got there first: that bucket already exists.
          if (!(err instanceof Error && /equal or smaller/i.test(err.message))) throw err;
        }
      }
    }
    return out;
  }
}
