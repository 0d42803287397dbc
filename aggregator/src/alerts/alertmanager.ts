import { z } from 'zod';
import { ConfigError } from '../../../shared/src/config.js';
import type { Logger } from '../../../shared/src/log.js';
import type { AlertEngine } from './engine.js';
import type { Instance } from './state.js';
import { alertView, iso } from './view.js';
import { scrubUrl, webhookTarget, WebhookUrlError, type WebhookTarget } from './webhook-url.js';

/**
 * Alertmanager as the notification engine, fed the way Prometheus feeds it:
 * the leader POSTs `/api/v2/alerts` (a JSON array) with every firing alert
 * again every `resendMs` (Prometheus' `--rules.alert.resend-delay`, 1 min),
 * `endsAt` set 4 resend intervals ahead so Alertmanager keeps it between
 * sends and resolves it by itself if the aggregator goes away; a resolved
 * alert is sent at once with `endsAt` = when it resolved, and again at each
 * resend for 15 minutes (Prometheus' resolvedRetention), so an Alertmanager
 * that was down or restarted still learns it. A failed POST is retried
 * after `retryMs` until it lands: an outage loses nothing.
 */

/** Alertmanager API v2 `postableAlert`. */
export interface PostableAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  generatorURL: string;
}

export interface AlertmanagerOptions {
  /** Base URLs (`http://am:9093`, or with a path prefix); `/api/v2/alerts` is appended. */
  urls: string[];
  clock?: () => number;
  log?: Logger;
  /** Re-send interval of firing alerts (default 60 s). */
  resendMs?: number;
  /** Wait after a failed POST before trying that Alertmanager again (default min(resendMs, 10 s)). */
  retryMs?: number;
  timeoutMs?: number;
  externalUrl?: string;
}

/** How long a resolved alert keeps being sent (Prometheus: 15 min). */
export const RESOLVED_RETENTION_MS = 15 * 60_000;

/** Alertmanager's error answer: a JSON string or `{message}` (swagger); anything else is shown cut short. */
const amErrorSchema = z.union([z.string().max(2000), z.object({ message: z.string().max(2000) }).transform((o) => o.message)]);

/** Label names Alertmanager accepts; others would make it refuse the whole batch. */
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

function cleanLabels(labels: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(labels)) {
    const name = LABEL_NAME.test(k) ? k : k.replace(/[^a-zA-Z0-9_]/g, '_').replace(/^([0-9])/, '_$1');
    // An empty value means "no such label" to Alertmanager.
    if (v !== '' && name !== '') out[name] = v;
  }
  return out;
}

/** `ALERTMANAGER_URL`: one or more base URLs, comma-separated; a bad one is a ConfigError naming it (redacted). */
export function parseAlertmanagerUrls(raw: string | undefined): string[] {
  if (raw === undefined || raw.trim() === '') return [];
  const out: string[] = [];
  for (const part of raw.split(',').map((s) => s.trim()).filter((s) => s !== '')) {
    try {
      webhookTarget(part);
    } catch (err) {
      const why = err instanceof WebhookUrlError ? err.message.replace(/^webhook URL/, 'URL') : 'not a URL';
      throw new ConfigError(`ALERTMANAGER_URL: ${why}; expected http(s)://host:9093, comma-separated for several`);
    }
    out.push(part);
  }
  return out;
}

/** `ALERTMANAGER_RESEND_SECONDS` (default 60): how often firing alerts are sent again. */
export function parseResendSeconds(raw: string | undefined): number {
  if (raw === undefined || raw.trim() === '') return 60;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 1 || n > 3600) throw new ConfigError(`ALERTMANAGER_RESEND_SECONDS: "${raw.slice(0, 50)}" must be a number of seconds from 1 to 3600`);
  return n;
}

interface Target {
  raw: string;
  target: WebhookTarget;
  /** fingerprint → when this Alertmanager last accepted it (ms), and the labels it had then. */
  sent: Map<string, { at: number; labels: string; labelSet: Record<string, string> }>;
  /** Label sets this Alertmanager holds that changed since (a severity change): sent once more, ended. */
  ended: Map<string, PostableAlert>;
  /** No POST before this (after a failure). */
  notBefore: number;
  busy: boolean;
  /** The last POST failed (logged once per outage). */
  down: boolean;
}

export class AlertmanagerSender {
  private readonly targets: Target[];
  private readonly clock: () => number;
  /** Firing instances and recently resolved ones: all that may still be owed to Alertmanager. */
  private readonly tracked = new Set<string>();

  constructor(
    private readonly engine: AlertEngine,
    private readonly opts: AlertmanagerOptions,
  ) {
    this.clock = opts.clock ?? Date.now;
    this.targets = opts.urls.map((raw) => {
      const target = webhookTarget(raw);
      const base = target.url.replace(/\/+$/, '');
      return { raw, target: { ...target, url: `${base}/api/v2/alerts` }, sent: new Map(), ended: new Map(), notBefore: 0, busy: false, down: false };
    });
  }

  get enabled(): boolean {
    return this.targets.length > 0;
  }

  /** Watches an instance that changed (fired, resolved); it is sent on the next `sync`. */
  track(fingerprint: string): void {
    if (this.enabled) this.tracked.add(fingerprint);
  }

  /** After a takeover: everything firing or recently resolved is owed again (a restart re-sends too, as Prometheus does). */
  trackAll(): void {
    if (!this.enabled) return;
    for (const i of this.engine.all()) if (i.state === 'firing' || i.state === 'resolved') this.tracked.add(i.fingerprint);
    for (const t of this.targets) t.sent.clear();
  }

  /** Forgets what was sent (leadership lost: a later takeover re-sends everything). */
  reset(): void {
    this.tracked.clear();
    for (const t of this.targets) t.sent.clear();
  }

  /**
   * Posts what is due to each Alertmanager: alerts never sent there, changed
   * since, or last sent `resendMs` ago. `muted` ones (silenced here) are left
   * out; Alertmanager lets them expire at their `endsAt`.
   */
  async sync(muted: (i: Instance) => boolean = () => false): Promise<void> {
    if (!this.enabled) return;
    const now = this.clock();
    const resendMs = this.opts.resendMs ?? 60_000;
    const alerts = new Map<string, { alert: PostableAlert; changedAt: number; labels: string }>();
    for (const fp of this.tracked) {
      const i = this.engine.get(fp);
      const keep = i !== undefined && (i.state === 'firing' || (i.state === 'resolved' && i.resolved_at !== null && now - i.resolved_at <= RESOLVED_RETENTION_MS));
      if (!keep) {
        this.tracked.delete(fp);
        for (const t of this.targets) t.sent.delete(fp);
        continue;
      }
      if (muted(i)) continue;
      const alert = this.postable(i, now, resendMs);
      alerts.set(fp, { alert, changedAt: i.state === 'resolved' ? (i.resolved_at ?? 0) : (i.fired_at ?? 0), labels: JSON.stringify(alert.labels) });
    }
    await Promise.all(
      this.targets.map(async (t) => {
        if (t.busy || t.notBefore > now) return;
        // [fingerprint or ended key, alert, its labels as JSON ('' for an ended set)]
        const due: [string, PostableAlert, string][] = [];
        for (const [fp, a] of alerts) {
          const last = t.sent.get(fp);
          if (last !== undefined && last.labels !== a.labels) {
            // Labels are an alert's identity in Alertmanager: end the old set now, or it would linger and later "resolve".
            t.ended.set(`${fp}\n${last.labels}`, { ...a.alert, labels: last.labelSet, endsAt: iso(now) });
          }
          if (last === undefined || last.at < a.changedAt || last.labels !== a.labels || now - last.at >= resendMs) due.push([fp, a.alert, a.labels]);
        }
        for (const [key, alert] of t.ended) due.push([key, alert, '']);
        if (due.length === 0) return;
        t.busy = true;
        try {
          await this.post(t, due, now);
        } finally {
          t.busy = false;
        }
      }),
    );
  }

  private postable(i: Instance, now: number, resendMs: number): PostableAlert {
    const v = alertView(this.engine, i);
    const resolved = i.state === 'resolved' && i.resolved_at !== null;
    return {
      labels: cleanLabels(v.labels),
      annotations: cleanLabels(v.annotations),
      startsAt: iso(i.fired_at ?? i.updated_at),
      // Firing: valid for 4 resends, as Prometheus does, so a missed send or two does not resolve it.
      endsAt: resolved ? iso(i.resolved_at ?? now) : iso(now + 4 * resendMs),
      generatorURL: `${this.opts.externalUrl ?? ''}/api/v1/alerts`,
    };
  }

  private async post(t: Target, due: [string, PostableAlert, string][], now: number): Promise<void> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (t.target.authorization !== null) headers.authorization = t.target.authorization;
    let problem: string;
    try {
      const res = await fetch(t.target.url, {
        method: 'POST',
        headers,
        body: JSON.stringify(due.map(([, a]) => a)),
        redirect: 'manual',
        signal: AbortSignal.timeout(this.opts.timeoutMs ?? 10_000),
      });
      const text = await res.text().catch(() => '');
      if (res.ok) {
        for (const [key, alert, labels] of due) {
          if (labels === '') t.ended.delete(key);
          else t.sent.set(key, { at: now, labels, labelSet: alert.labels });
        }
        if (t.down) this.opts.log?.info({ alertmanager: t.target.redacted, alerts: due.length }, 'Alertmanager reachable again; alerts sent');
        t.down = false;
        return;
      }
      let detail = text.slice(0, 300);
      try {
        const parsed = amErrorSchema.safeParse(JSON.parse(text));
        if (parsed.success) detail = parsed.data;
      } catch {
        // not JSON: the text, cut short
      }
      problem = `HTTP ${res.status}${res.status >= 300 && res.status < 400 ? ' (redirect not followed: point ALERTMANAGER_URL at the final address)' : ''}: ${detail}`;
    } catch (err) {
      const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : '';
      problem = scrubUrl(`${err instanceof Error ? err.message : String(err)}${cause}`, t.raw);
    }
    t.notBefore = this.clock() + (this.opts.retryMs ?? Math.min(this.opts.resendMs ?? 60_000, 10_000));
    if (!t.down) {
      this.opts.log?.warn({ alertmanager: t.target.redacted, alerts: due.length, err: problem }, 'could not post alerts to Alertmanager; retrying until it answers (nothing is dropped)');
    }
    t.down = true;
  }
}

/** The Alertmanager settings from the environment (`ALERTMANAGER_URL`, `ALERTMANAGER_RESEND_SECONDS`); throws ConfigError. */
export function alertmanagerFromEnv(env: NodeJS.ProcessEnv): { urls: string[]; resendMs: number } {
  return { urls: parseAlertmanagerUrls(env.ALERTMANAGER_URL), resendMs: parseResendSeconds(env.ALERTMANAGER_RESEND_SECONDS) * 1000 };
}
