import { setTimeout as sleep } from 'node:timers/promises';
import { createHash } from 'node:crypto';

/**
 * Webhook delivery in the Alertmanager v4 shape, so receivers written for
 * Alertmanager work unchanged. Retries with exponential backoff and full
 * jitter on network errors, 5xx and 429 (honouring Retry-After), never on
 * other 4xx (the request itself is wrong); every attempt has its own timeout.
 */

export interface AmAlert {
  status: 'firing' | 'resolved';
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  generatorURL: string;
  fingerprint: string;
}

export interface AmPayload {
  version: '4';
  groupKey: string;
  truncatedAlerts: number;
  status: 'firing' | 'resolved';
  receiver: string;
  groupLabels: Record<string, string>;
  commonLabels: Record<string, string>;
  commonAnnotations: Record<string, string>;
  externalURL: string;
  alerts: AmAlert[];
}

/** Alertmanager writes the zero time for "not ended". */
export const ZERO_TIME = '0001-01-01T00:00:00Z';

export function alertmanagerPayload(alert: AmAlert, receiver: string, externalURL: string): AmPayload {
  return {
    version: '4',
    groupKey: `{}:{alertname="${alert.labels.alertname ?? ''}",fingerprint="${alert.fingerprint}"}`,
    truncatedAlerts: 0,
    status: alert.status,
    receiver,
    groupLabels: { alertname: alert.labels.alertname ?? '' },
    commonLabels: alert.labels,
    commonAnnotations: alert.annotations,
    externalURL,
    alerts: [alert],
  };
}

/** Stable across replicas: the same notification always carries the same key. */
export function idempotencyKey(fingerprint: string, status: string, startsAt: string, extra = ''): string {
  return createHash('sha256').update(`${fingerprint}\0${status}\0${startsAt}\0${extra}`).digest('hex').slice(0, 32);
}

export const IDEMPOTENCY_HEADER = 'Idempotency-Key';

export interface DeliveryOptions {
  attempts?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  timeoutMs?: number;
  /** [0,1) source for jitter; injected so tests can pin it. */
  random?: () => number;
  /** Checked before every attempt: a replica that lost leadership stops retrying. */
  shouldContinue?: () => boolean;
}

export interface DeliveryResult {
  ok: boolean;
  attempts: number;
  status: number | null;
  error: string | null;
}

/** Retry-After as seconds or an HTTP date, in ms; null when absent or unreadable. */
export function parseRetryAfter(v: string | null, now = Date.now()): number | null {
  if (v === null || v.trim() === '') return null;
  if (/^\d+$/.test(v.trim())) return Number(v.trim()) * 1000;
  const t = Date.parse(v);
  return Number.isNaN(t) ? null : Math.max(0, t - now);
}

export function retryable(status: number): boolean {
  return status >= 500 || status === 429;
}

export async function deliver(url: string, body: unknown, key: string, opts: DeliveryOptions = {}): Promise<DeliveryResult> {
  const attempts = opts.attempts ?? 5;
  const base = opts.baseDelayMs ?? 500;
  const max = opts.maxDelayMs ?? 30_000;
  const random = opts.random ?? Math.random;
  const text = JSON.stringify(body);
  let last: DeliveryResult = { ok: false, attempts: 0, status: null, error: 'not attempted' };
  for (let n = 1; n <= attempts; n++) {
    if (opts.shouldContinue !== undefined && !opts.shouldContinue()) return { ...last, error: `stopped before attempt ${n}: ${last.error ?? ''}` };
    let retryAfter: number | null = null;
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', [IDEMPOTENCY_HEADER]: key },
        body: text,
        signal: AbortSignal.timeout(opts.timeoutMs ?? 10_000),
      });
      await res.arrayBuffer().catch(() => undefined);
      if (res.ok) return { ok: true, attempts: n, status: res.status, error: null };
      last = { ok: false, attempts: n, status: res.status, error: `HTTP ${res.status} from ${url}` };
      if (!retryable(res.status)) return { ...last, error: `${last.error ?? ''} (not retried: the receiver rejected the request)` };
      retryAfter = parseRetryAfter(res.headers.get('retry-after'));
    } catch (err) {
      const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : '';
      last = { ok: false, attempts: n, status: null, error: `${err instanceof Error ? err.message : String(err)}${cause} (POST ${url})` };
    }
    if (n === attempts) break;
    const backoff = Math.min(max, base * 2 ** (n - 1));
    const wait = retryAfter !== null ? Math.min(max, retryAfter) : backoff / 2 + random() * (backoff / 2);
    await sleep(wait);
  }
  return { ...last, error: `${last.error ?? ''} (gave up after ${attempts} attempts)` };
}
