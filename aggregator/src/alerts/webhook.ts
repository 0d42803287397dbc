import { setTimeout as sleep } from 'node:timers/promises';
import { createHash } from 'node:crypto';
import { locationHost, redactUrl, scrubUrl, webhookTarget, WebhookUrlError, type WebhookTarget } from './webhook-url.js';

/**
 * Webhook delivery in the Alertmanager v4 shape, so receivers written for
 * Alertmanager work unchanged. Retries with exponential backoff and full
 * jitter on network errors, timeouts, 5xx, 408 and 429 (honouring
 * Retry-After); never on other 4xx, redirects, bad URLs or TLS certificate
 * errors (they cannot succeed); every attempt has its own timeout.
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
  /** Why it failed, with the URL redacted (see webhook-url.ts); null on success. */
  error: string | null;
  /** The failure cannot go away by retrying (4xx, redirect, bad URL, TLS certificate): it was not retried. */
  permanent: boolean;
}

/** Retry-After as seconds or an HTTP date, in ms; null when absent or unreadable. */
export function parseRetryAfter(v: string | null, now = Date.now()): number | null {
  if (v === null || v.trim() === '') return null;
  if (/^\d+$/.test(v.trim())) return Number(v.trim()) * 1000;
  const t = Date.parse(v);
  return Number.isNaN(t) ? null : Math.max(0, t - now);
}

/** 5xx, 408 (request timeout) and 429 (rate limited) may succeed later; any other status will not. */
export function retryable(status: number): boolean {
  return status >= 500 || status === 429 || status === 408;
}

/** TLS certificate failures (untrusted, self-signed, expired, wrong name): retrying cannot fix them. */
const CERT_ERROR = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|INVALID_CA|HOSTNAME_MISMATCH|PATH_LENGTH_EXCEEDED|INVALID_PURPOSE/;

function errorCode(err: unknown): string {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    if ('code' in e && typeof e.code === 'string') return e.code;
  }
  return '';
}

/** An answer that is not 2xx: what to report and whether to try again. */
function failedAnswer(res: Response, target: WebhookTarget): { error: string; permanent: boolean } {
  const at = `from ${target.redacted}`;
  if (res.status >= 300 && res.status < 400) {
    const to = locationHost(res.headers.get('location'), target.url);
    return { error: `HTTP ${res.status} ${at}: redirect to ${to} not followed (not retried: point the webhook at the final URL)`, permanent: true };
  }
  if (!retryable(res.status)) return { error: `HTTP ${res.status} ${at} (not retried: the receiver rejected the request)`, permanent: true };
  return { error: `HTTP ${res.status} ${at}`, permanent: false };
}

function failedRequest(err: unknown, target: WebhookTarget, raw: string): { error: string; permanent: boolean } {
  const message = err instanceof Error ? err.message : String(err);
  const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : '';
  const code = errorCode(err);
  const permanent = CERT_ERROR.test(code);
  const advice = permanent ? ' (not retried: TLS certificate rejected; fix the certificate or the URL)' : '';
  return { error: `${scrubUrl(`${message}${cause}`, raw)} (POST ${target.redacted})${advice}`, permanent };
}

/**
 * POSTs `body` to `url` as JSON. Redirects are not followed (a 3xx is a failed
 * delivery: following one re-posts the alert to wherever the receiver points).
 * Retries only what may succeed later (network errors, timeouts, 5xx, 408,
 * 429); every error message has the URL redacted.
 */
export async function deliver(url: string, body: unknown, key: string, opts: DeliveryOptions = {}): Promise<DeliveryResult> {
  let target: WebhookTarget;
  try {
    target = webhookTarget(url);
  } catch (err) {
    const error = err instanceof WebhookUrlError ? err.message : redactUrl(url);
    return { ok: false, attempts: 0, status: null, error: `${error} (not retried)`, permanent: true };
  }
  const attempts = opts.attempts ?? 5;
  const base = opts.baseDelayMs ?? 500;
  const max = opts.maxDelayMs ?? 30_000;
  const random = opts.random ?? Math.random;
  const text = JSON.stringify(body);
  const headers: Record<string, string> = { 'content-type': 'application/json', [IDEMPOTENCY_HEADER]: key };
  if (target.authorization !== null) headers.authorization = target.authorization;
  let last: DeliveryResult = { ok: false, attempts: 0, status: null, error: 'not attempted', permanent: false };
  for (let n = 1; n <= attempts; n++) {
    if (opts.shouldContinue !== undefined && !opts.shouldContinue()) return { ...last, error: `stopped before attempt ${n}: ${last.error ?? ''}` };
    let retryAfter: number | null = null;
    try {
      const res = await fetch(target.url, {
        method: 'POST',
        headers,
        body: text,
        redirect: 'manual',
        signal: AbortSignal.timeout(opts.timeoutMs ?? 10_000),
      });
      await res.arrayBuffer().catch(() => undefined);
      if (res.ok) return { ok: true, attempts: n, status: res.status, error: null, permanent: false };
      const f = failedAnswer(res, target);
      last = { ok: false, attempts: n, status: res.status, ...f };
      if (f.permanent) return last;
      retryAfter = parseRetryAfter(res.headers.get('retry-after'));
    } catch (err) {
      last = { ok: false, attempts: n, status: null, ...failedRequest(err, target, url) };
      if (last.permanent) return last;
    }
    if (n === attempts) break;
    const backoff = Math.min(max, base * 2 ** (n - 1));
    const wait = retryAfter !== null ? Math.min(max, retryAfter) : backoff / 2 + random() * (backoff / 2);
    await sleep(wait);
  }
  return { ...last, error: `${last.error ?? ''} (gave up after ${attempts} attempts)` };
}
