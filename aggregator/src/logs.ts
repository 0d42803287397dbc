import { getMany } from '../../shared/src/valkey-batch.js';
import type { ValkeyClient } from '../../shared/src/valkey.js';
import { LOG_INDEX_KEY } from '../../shared/src/keys.js';
import { siriusLogEntrySchema, type SiriusLogEntry } from '../../shared/src/sirius.js';

const PAGE = 500;
/** Index entries looked at per request at most, so one call is bounded however many logs exist. */
const MAX_SCANNED = 20_000;

/**
 * The newest `lines` log entries, newest first, for one container or all:
 * walks the log index from the newest score down (no `KEYS`), then reads the
 * entries. Expired or foreign values are skipped; levels come out in
 * SiriusScan's upper case whatever the writer used.
 */
export async function readNewestLogs(redis: ValkeyClient, container: string | null, lines: number): Promise<{ logs: SiriusLogEntry[]; skipped: number }> {
  const prefix = container === null ? 'system:logs:' : `system:logs:${container}:`;
  const keys: string[] = [];
  for (let offset = 0; keys.length < lines && offset < MAX_SCANNED; offset += PAGE) {
    const page = await redis.zrange(LOG_INDEX_KEY, '+inf', '-inf', 'BYSCORE', 'REV', 'LIMIT', offset, PAGE);
    for (const k of page) if (k.startsWith(prefix) && keys.length < lines * 2) keys.push(k);
    if (page.length < PAGE) break;
  }
  const logs: SiriusLogEntry[] = [];
  let skipped = 0;
  for (let i = 0; i < keys.length && logs.length < lines; i += PAGE) {
    const values = await getMany(redis, keys.slice(i, i + PAGE));
    for (const v of values) {
      if (logs.length >= lines) break;
      if (v === null) continue;
      let parsed: unknown;
      try {
        parsed = JSON.parse(v);
      } catch {
        skipped += 1;
        continue;
      }
      const r = siriusLogEntrySchema.safeParse(parsed);
      if (r.success) logs.push(r.data);
      else skipped += 1;
    }
  }
  return { logs, skipped };
}
