import { z } from 'zod';
import { AlertActionError, type AlertService } from '../alerts/service.js';
import { HttpError, jsonBody, noQuery, postRoute, query, route, sendJson, type Route } from './router.js';

/** Longest silence: a forgotten one should not hide alerts for ever. */
const MAX_SILENCE_MS = 30 * 86_400_000;

/** `90s`, `15m`, `2h`, `7d`, or a number of seconds. */
const durationSchema = z
  .union([z.number(), z.string()])
  .transform((v, ctx) => {
    const m = typeof v === 'number' ? [String(v), String(v), 's'] : /^(\d+(?:\.\d+)?)\s*(s|m|h|d)?$/.exec(v.trim());
    const n = m === null ? NaN : Number(m[1]);
    const unit = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[(m?.[2] ?? 's') as 's' | 'm' | 'h' | 'd'];
    const ms = n * unit;
    if (!Number.isFinite(ms) || ms < 1000 || ms > MAX_SILENCE_MS) {
      ctx.addIssue({ code: 'custom', message: 'must be a duration from 1s to 30d, like "2h", "30m" or a number of seconds' });
      return z.NEVER;
    }
    return Math.round(ms);
  });

const nameField = z.string().trim().min(1).max(253);

const silenceBody = z
  .strictObject({
    rule_id: nameField.optional(),
    container: nameField.optional(),
    duration: durationSchema,
    comment: z.string().trim().min(1, 'say why (it is shown to everyone)').max(1000),
  })
  .refine((b) => b.rule_id !== undefined || b.container !== undefined, { message: 'give rule_id, container or both (a silence of everything is not allowed)' });

const ackBody = z.strictObject({ comment: z.string().trim().max(1000).default('') });

function service(alerts: AlertService | undefined): AlertService {
  if (alerts === undefined) throw new HttpError(503, 'alerting is not enabled in this aggregator');
  return alerts;
}

async function act<T>(f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (err) {
    if (err instanceof AlertActionError) throw new HttpError(err.status, err.message);
    // Silences and acknowledgements live in Valkey: without it nothing can be recorded.
    throw new HttpError(503, `could not record it in Valkey (${err instanceof Error ? err.message : String(err)}); try again when Valkey is reachable`);
  }
}

/**
 * Silences and acknowledgements: anyone with a token reads them; creating a
 * silence, expiring one and acknowledging a firing alert need an admin token
 * (its name is recorded as who did it).
 */
export function alertRoutes(alerts: AlertService | undefined): Route[] {
  return [
    // What this token may do (the dashboard shows the admin buttons from it); role null when no tokens are configured.
    route('/api/v1/whoami', 'bearer', ({ res, url, who }) => {
      query(url, noQuery);
      sendJson(res, 200, { role: who?.role ?? null, name: who?.name ?? null });
    }),
    route('/api/v1/silences', 'bearer', ({ res, url }) => {
      query(url, noQuery);
      sendJson(res, 200, { silences: service(alerts).silences.list() });
    }),
    postRoute('/api/v1/silences', 'admin', async ({ req, res, who }) => {
      const a = service(alerts);
      const b = await jsonBody(req, silenceBody);
      const s = await act(() => a.silence({ rule_id: b.rule_id ?? null, container: b.container ?? null, durationMs: b.duration, comment: b.comment, by: who?.name ?? 'admin' }));
      sendJson(res, 201, { silence: s });
    }),
    postRoute('/api/v1/silences/:id/expire', 'admin', async ({ res, params, who }) => {
      const a = service(alerts);
      const s = await act(() => a.expireSilence(params.id ?? '', who?.name ?? 'admin'));
      sendJson(res, 200, { silence: s });
    }),
    postRoute('/api/v1/alerts/:fingerprint/ack', 'admin', async ({ req, res, params, who }) => {
      const a = service(alerts);
      const b = req.headers['content-length'] === '0' || req.headers['content-type'] === undefined ? { comment: '' } : await jsonBody(req, ackBody);
      const ack = await act(() => a.acknowledge(params.fingerprint ?? '', who?.name ?? 'admin', b.comment));
      sendJson(res, 200, { acknowledged: { ...ack, at: new Date(ack.at).toISOString() } });
    }),
  ];
}

const alertHistoryQuery = z.strictObject({
  count: z
    .string()
    .regex(/^\d+$/, 'must be a whole number from 1 to 10000')
    .transform(Number)
    .pipe(z.number().int().min(1, 'must be at least 1').max(10_000, 'must be at most 10000'))
    .default(100),
});

/** The alerts firing or pending now, and the history of transitions. */
export function alertListRoutes(alerts: AlertService | undefined, valkeyUp: () => boolean): Route[] {
  return [
    route('/api/v1/alerts', 'bearer', ({ res, url }) => {
      query(url, noQuery);
      if (alerts === undefined) throw new HttpError(503, 'alerting is not enabled in this aggregator');
      sendJson(res, 200, { alerts: alerts.active() });
    }),
    route('/api/v1/alerts/history', 'bearer', async ({ res, url }) => {
      const q = query(url, alertHistoryQuery);
      if (alerts === undefined) throw new HttpError(503, 'alerting is not enabled in this aggregator');
      if (!valkeyUp()) throw new HttpError(503, 'Valkey is not reachable; alert history cannot be read now');
      sendJson(res, 200, await alerts.history(q.count));
    }),
  ];
}
