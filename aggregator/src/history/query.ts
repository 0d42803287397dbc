import type { ValkeyClient } from '../../../shared/src/valkey.js';
import { z } from 'zod';
import { parseHistoryRow, type HistoryFieldName } from '../../../shared/src/history.js';
import { historyKey, rollupKey } from '../../../shared/src/keys.js';
import { parseRollupEntry } from './bucket-codec.js';
import { describeError, type HistoryRejectKind, type HistoryRejects } from './rejects.js';
import { resolutions, rolledFields, type RolledField, type Stats } from './rollup.js';

const units: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** ISO-8601 time, unix milliseconds, or a relative `-15m` / `-2h` (before now). */
/** 275760-09-13, the last time a JavaScript Date can hold: later (or before 1970) is not a stream id Valkey takes. */
const MAX_TIME_MS = 8.64e15;

function timeParam(now: number): z.ZodType<number, string> {
  return z.string().trim().transform((v, ctx) => {
    const rel = /^-(\d+)(s|m|h|d)$/.exec(v);
    if (rel !== null) return now - Number(rel[1]) * (units[rel[2] ?? 's'] ?? 1000);
    if (/^\d{10,13}$/.test(v)) return Number(v);
    if (/^\d{4}-\d{2}-\d{2}T/.test(v)) {
      const t = Date.parse(v);
      if (!Number.isNaN(t)) return t;
    }
    ctx.addIssue({ code: 'custom', message: 'must be an ISO-8601 time, unix milliseconds, or relative like -15m' });
    return z.NEVER;
  }).pipe(z.number().min(0, 'must not be before 1970-01-01').max(MAX_TIME_MS, 'must not be after the year 275760'));
}

const fieldList = z
  .string()
  .transform((v) => v.split(',').map((f) => f.trim()).filter((f) => f !== ''))
  .pipe(z.array(z.enum(rolledFields, { error: (i) => `unknown field ${JSON.stringify(i.input)} (known: ${rolledFields.join(', ')})` })).min(1, 'must name at least one field'));

export const MAX_POINTS = 5000;

export function historyQuerySchema(now: number) {
  return z
    .object({
      since: timeParam(now).optional(),
      until: timeParam(now).optional(),
      resolution: z.enum(['raw', '1m', '5m'], { error: 'must be raw, 1m or 5m' }).default('raw'),
      fields: fieldList.optional(),
    })
    .strict()
    .transform((q) => {
      const until = q.until ?? now;
      return { since: q.since ?? Math.max(0, until - 3_600_000), until, resolution: q.resolution, fields: q.fields ?? [...rolledFields] };
    })
    .refine((q) => q.since < q.until, { message: 'since must be before until', path: ['since'] });
}

export type HistoryQuery = z.output<ReturnType<typeof historyQuerySchema>>;

/** Query-string parameters → a validated query, or one message naming the bad parameter. */
export function parseHistoryQuery(params: Record<string, string | undefined>, now: number): { ok: true; query: HistoryQuery } | { ok: false; error: string } {
  const defined = Object.fromEntries(Object.entries(params).filter(([, v]) => v !== undefined));
  const r = historyQuerySchema(now).safeParse(defined);
  if (r.success) return { ok: true, query: r.data };
  const issue = r.error.issues[0];
  const name = issue?.path.join('.') || 'query';
  return { ok: false, error: `${name}: ${issue?.message ?? 'invalid'}` };
}

export interface RawPoint {
  ts: number;
  values: Partial<Record<HistoryFieldName, number | null>>;
}
export interface RollupPoint {
  ts: number;
  n: number;
  values: Partial<Record<RolledField, Stats | null>>;
}
export type HistoryResult =
  | { resolution: 'raw'; points: RawPoint[]; corrupt: number; truncated: boolean }
  | { resolution: '1m' | '5m'; points: RollupPoint[]; corrupt: number; truncated: boolean };

/** A key of the wrong type (something else wrote there): refused and counted like a bad entry, answered as no data. */
async function readStream<T>(read: () => Promise<T[]>, key: string, kind: HistoryRejectKind, rejects: HistoryRejects | undefined): Promise<T[]> {
  try {
    return await read();
  } catch (err) {
    if (!(err instanceof Error && /WRONGTYPE/.test(err.message))) throw err;
    rejects?.note(kind, key, '-', 'the key holds another type than a stream');
    return [];
  }
}

/** Points for charts: raw from the agent's stream, 1m/5m from the leader's rollups. Refused entries are skipped, counted in `corrupt` and noted in `rejects`. */
export async function queryHistory(redis: ValkeyClient, container: string, q: HistoryQuery, rejects?: HistoryRejects): Promise<HistoryResult> {
  let corrupt = 0;
  if (q.resolution === 'raw') {
    const key = historyKey(container);
    const rows = await readStream(() => redis.xrangeBuffer(key, String(q.since), String(q.until), 'COUNT', MAX_POINTS), key, 'raw', rejects);
    const points: RawPoint[] = [];
    for (const [idBytes, flat] of rows) {
      const id = idBytes.toString('latin1');
      try {
        const e = parseHistoryRow(flat);
        const values: RawPoint['values'] = {};
        for (const f of q.fields) values[f] = e[f];
        points.push({ ts: e.ts ?? Number(id.split('-')[0]), values });
      } catch (err) {
        corrupt += 1;
        rejects?.note('raw', key, id, describeError(err));
      }
    }
    return { resolution: 'raw', points, corrupt, truncated: rows.length === MAX_POINTS };
  }
  const key = rollupKey(q.resolution, container);
  const rows = await readStream(() => redis.xrangeBuffer(key, String(q.since), String(q.until), 'COUNT', MAX_POINTS), key, 'rollup', rejects);
  const points: RollupPoint[] = [];
  for (const [id, flat] of rows) {
    try {
      const b = parseRollupEntry(id, flat, resolutions[q.resolution].ms);
      const values: RollupPoint['values'] = {};
      for (const f of q.fields) values[f] = b.fields[f] ?? null;
      points.push({ ts: b.start, n: b.n, values });
    } catch (err) {
      corrupt += 1;
      rejects?.note('rollup', key, id.toString('latin1'), describeError(err));
    }
  }
  return { resolution: q.resolution, points, corrupt, truncated: rows.length === MAX_POINTS };
}
