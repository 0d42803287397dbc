import type { ValkeyClient } from '../../../shared/src/valkey.js';
import { z } from 'zod';
import { legacyRollupKey, rollupKey } from '../../../shared/src/keys.js';
import type { Logger } from '../../../shared/src/log.js';
import { BUCKET_FIELD, encodeBucket } from './bucket-codec.js';
import { describeError, type HistoryRejects } from './rejects.js';
import { maxEntries, resolutions, rolledFields, type Bucket, type Resolution, type RolledField, type Stats } from './rollup.js';

/**
 * The rollups of releases before the packed format: `system:rollup:<res>:<name>`,
 * one stream entry per bucket with fields `ts`, `n` and `<field>_min`,
 * `_avg`, `_max` as decimal text ("" for no value). An upgraded leader moves
 * them once into the packed stream, so a chart keeps its past week, and
 * deletes the old key (which would otherwise never be trimmed again).
 */

const num = z.string().regex(/^-?\d+(\.\d+)?(e[-+]?\d+)?$/i, 'must be a decimal number').transform(Number).pipe(z.number());
const intText = z.string().regex(/^\d{1,16}$/, 'must be a whole number').transform(Number);

/** Parses one entry of the old layout; throws on a malformed one. */
export function parseLegacyBucket(flat: readonly string[]): Bucket {
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

export interface MigrationResult {
  moved: number;
  refused: number;
}

/**
 * Moves `container`'s old-layout rollups into the packed streams when those
 * do not exist yet (a stream only takes entries after its last one, so old
 * buckets cannot go behind new ones), then deletes the old keys. Entries that
 * do not parse are refused and counted, never moved.
 */
export async function migrateLegacyRollups(redis: ValkeyClient, container: string, rejects: HistoryRejects, log?: Logger): Promise<MigrationResult> {
  const out: MigrationResult = { moved: 0, refused: 0 };
  for (const r of Object.keys(resolutions) as Resolution[]) {
    const oldKey = legacyRollupKey(r, container);
    if ((await redis.exists(oldKey)) === 0) continue;
    const newKey = rollupKey(r, container);
    const before = { ...out };
    if ((await redis.exists(newKey)) === 0 && (await redis.type(oldKey)) === 'stream') {
      const p = redis.pipeline();
      let last = -Infinity;
      // The newest buckets the new stream keeps, at most (a foreign writer may have made the old stream any length).
      const rows = (await redis.xrevrange(oldKey, '+', '-', 'COUNT', maxEntries(r))).reverse();
      for (const [id, flat] of rows) {
        try {
          const b = parseLegacyBucket(flat);
          if (b.start % resolutions[r].ms !== 0 || b.start <= last || b.n < 1) throw new Error(`bucket start ${b.start} is not a new ${r} boundary, or it holds no samples`);
          const { bytes } = encodeBucket(b);
          p.xadd(newKey, 'MAXLEN', '~', String(maxEntries(r)), `${b.start}-1`, BUCKET_FIELD, bytes);
          last = b.start;
          out.moved += 1;
        } catch (err) {
          out.refused += 1;
          rejects.note('legacy_rollup', oldKey, id, describeError(err));
        }
      }
      await p.exec();
    }
    await redis.del(oldKey);
    log?.info({ container, resolution: r, moved: out.moved - before.moved, refused: out.refused - before.refused }, 'moved rollups of the previous format into the packed stream and deleted the old key');
  }
  return out;
}
