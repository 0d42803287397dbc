import type { ValkeyClient } from '../../../shared/src/valkey.js';
import { historyKey, rollupKey } from '../../../shared/src/keys.js';
import { parseHistoryRow, type HistoryEntry } from '../../../shared/src/history.js';
import type { Logger } from '../../../shared/src/log.js';
import { BUCKET_FIELD, encodeBucket } from './bucket-codec.js';
import { describeError, HistoryRejects } from './rejects.js';
import { migrateLegacyRollups } from './rollup-migration.js';
import { maxEntries, resolutions, rollup, type Resolution } from './rollup.js';

export interface RollupResult {
  written: number;
  /** Raw entries that did not parse (skipped, left in the stream). */
  corrupt: number;
}

/** Containers whose old-layout rollups were looked for, remembered up to this many (then the set starts again). */
const MIGRATION_MEMORY = 100_000;

/**
 * Writes complete 1-minute and 5-minute buckets from `system:history:<name>`
 * to the rollup streams (leader only), packed (bucket-codec.ts). Each entry's
 * stream ID is its bucket start, so Valkey itself refuses a bucket written
 * twice (a second writer or a re-run after a crash adds nothing). The first
 * time this process rolls a container it moves rollups of the previous layout
 * (rollup-migration.ts).
 */
export class RollupWriter {
  private readonly rejects: HistoryRejects;
  private readonly migrated = new Set<string>();

  constructor(
    private readonly redis: ValkeyClient,
    private readonly opts: { clock?: () => number; graceMs?: number; log?: Logger; rejects?: HistoryRejects } = {},
  ) {
    this.rejects = opts.rejects ?? new HistoryRejects(opts.log);
  }

  async roll(container: string): Promise<RollupResult> {
    if (!this.migrated.has(container)) {
      if (this.migrated.size >= MIGRATION_MEMORY) this.migrated.clear();
      await migrateLegacyRollups(this.redis, container, this.rejects, this.opts.log);
      this.migrated.add(container);
    }
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
    const raw = await this.redis.xrangeBuffer(historyKey(container), Number.isFinite(from) && from > 0 ? String(from) : '-', '+');
    const entries: HistoryEntry[] = [];
    for (const [id, flat] of raw) {
      try {
        entries.push(parseHistoryRow(flat));
      } catch (err) {
        out.corrupt += 1;
        this.rejects.note('raw', historyKey(container), id.toString('latin1'), describeError(err));
      }
    }
    for (const r of res) {
      const { ms } = resolutions[r];
      const key = rollupKey(r, container);
      const lastStart = after.get(r) ?? -Infinity;
      // Only buckets that can no longer receive samples (late ones get `grace`).
      const complete = Math.floor((now - grace) / ms) * ms;
      const buckets = rollup(entries, ms).filter((b) => b.start > lastStart && b.start + ms <= complete);
      for (const b of buckets) {
        const { bytes, dropped } = encodeBucket(b);
        for (const d of dropped) this.rejects.note('raw', historyKey(container), String(b.start), `${d.field} ${d.value} cannot be stored in a rollup (beyond 2^53 in its unit); left out of the ${r} bucket`);
        try {
          await this.redis.xadd(key, 'MAXLEN', '~', String(maxEntries(r)), `${b.start}-1`, BUCKET_FIELD, bytes);
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
