import type { Logger } from '../../../shared/src/log.js';
import { fingerprintOf, VALKEY_RULE_ID, type AlertEngine } from './engine.js';
import { dueNotification, type Due } from './notify-policy.js';
import type { NotifySettings } from './rule-schema.js';
import type { Instance } from './state.js';
import { alertView, iso } from './view.js';
import { redactUrl } from './webhook-url.js';
import { alertmanagerPayload, deliver, idempotencyKey, ZERO_TIME, type AmAlert, type DeliveryOptions } from './webhook.js';

export interface DeliveryRecord {
  fingerprint: string;
  reason: Due['reason'];
  /** Redacted (scheme://host[:port] and a fingerprint, see webhook-url.ts): never the secret parts. */
  url: string;
  ok: boolean;
  attempts: number;
  error: string | null;
}

/** Webhook deliveries in flight at once, by default. */
export const MAX_CONCURRENT_DELIVERIES = 32;

export interface NotifierOptions {
  clock: () => number;
  /** True while this replica leads (and has adopted the persisted ledger). */
  leading: () => boolean;
  /** True once the service is stopped: nothing new starts. */
  stopped: () => boolean;
  /** A delivery succeeded and the ledger (`notified`) changed: write it at once. */
  onLedger: () => void;
  onDelivery: (r: DeliveryRecord) => void;
  /** True when the notification due must not be sent now (silenced, or a repeat of an acknowledged alert). */
  muted?: (i: Instance, due: Due) => boolean;
  log?: Logger;
  externalUrl?: string;
  receiver?: string;
  delivery?: DeliveryOptions;
  /** Wait before retrying a notification whose every webhook failed. */
  failedRetryMs?: number;
  maxConcurrentDeliveries?: number;
}

/**
 * Decides which webhook notifications are due and delivers them:
 * at-least-once with a stable idempotency key, a bounded number in flight,
 * a wait before retrying what failed, and no retry of what cannot succeed
 * until the rules change. The replica that led when Valkey went away (the
 * outage sender) sends the valkey_unreachable notifications.
 */
export class Notifier {
  private readonly inFlight = new Map<string, Promise<void>>();
  private readonly retryAt = new Map<string, number>();
  /** Idempotency keys of notifications every webhook refused for good; cleared by forgiveFailures. */
  private readonly gaveUp = new Set<string>();
  /** This replica led when Valkey went away: it sends the valkey_unreachable notifications. */
  private outageSender = false;

  constructor(
    private readonly engine: AlertEngine,
    private readonly opts: NotifierOptions,
  ) {}

  /** New rules may fix a webhook that failed for good: those notifications get another try. */
  forgiveFailures(): void {
    this.gaveUp.clear();
  }

  /** Call before the engine learns Valkey is down. */
  onValkeyDown(): void {
    if (this.opts.leading()) this.outageSender = true;
  }

  /** Deliveries in flight now (tests, shutdown). */
  pending(): Promise<void>[] {
    return [...this.inFlight.values()];
  }

  get busy(): boolean {
    return this.inFlight.size > 0;
  }

  /** Starts every notification that is due (repeats, retries, after a takeover). */
  reconcile(): void {
    if (!this.opts.leading()) return;
    const now = this.opts.clock();
    for (const i of this.engine.all()) this.startDue(i, now);
  }

  *reconcileSteps(now: number): Generator<undefined, void, undefined> {
    for (const i of this.engine.instancesNow()) {
      if (!this.opts.leading()) return;
      this.startDue(i, now);
      yield;
    }
  }

  /** The outage sender's valkey_unreachable notifications, sent whether or not it still leads. */
  reconcileOutage(): void {
    if (!this.outageSender || this.opts.stopped()) return;
    const i = this.engine.get(fingerprintOf(VALKEY_RULE_ID, '', null));
    if (i === undefined) return;
    const notify = this.notifyFor(i);
    const due = notify === undefined ? null : dueNotification(i, notify, this.opts.clock());
    if (due === null && i.state !== 'firing' && !this.inFlight.has(i.fingerprint)) {
      // Resolved and nothing more owed: the outage is over for this replica.
      this.outageSender = false;
      return;
    }
    if (!this.opts.leading()) this.startDue(i, this.opts.clock());
  }

  reconcileOne(fingerprint: string): void {
    const i = this.engine.get(fingerprint);
    if (i !== undefined && this.mayNotify(i)) this.startDue(i, this.opts.clock());
  }

  private mayNotify(i: Instance): boolean {
    return this.opts.leading() || (i.rule_id === VALKEY_RULE_ID && this.outageSender && !this.opts.stopped());
  }

  private notifyFor(i: Instance): NotifySettings | undefined {
    return this.engine.rule(i.rule_id)?.notify ?? this.engine.currentRules().notify;
  }

  private startDue(i: Instance, now: number): void {
    if (this.inFlight.has(i.fingerprint) || (this.retryAt.get(i.fingerprint) ?? 0) > now) return;
    // Bounded sockets and memory however many alerts fire at once; the rest start on a later tick.
    if (this.inFlight.size >= (this.opts.maxConcurrentDeliveries ?? MAX_CONCURRENT_DELIVERIES)) return;
    const notify = this.notifyFor(i);
    if (notify === undefined || notify.webhooks.length === 0) return;
    const due = dueNotification(i, notify, now);
    if (due === null) return;
    if (this.opts.muted?.(i, due) === true) return;
    const job = this.send(i, due, notify).finally(() => {
      this.inFlight.delete(i.fingerprint);
      // The instance may have moved on while this was sent (resolved meanwhile).
      this.reconcileOne(i.fingerprint);
    });
    this.inFlight.set(i.fingerprint, job);
  }

  private async send(i: Instance, due: Due, notify: NotifySettings): Promise<void> {
    const v = alertView(this.engine, i);
    const firedAt = i.fired_at ?? i.updated_at;
    const startsAt = iso(firedAt);
    const alert: AmAlert = {
      status: due.status,
      labels: v.labels,
      annotations: v.annotations,
      startsAt,
      endsAt: due.status === 'resolved' && i.resolved_at !== null ? iso(i.resolved_at) : ZERO_TIME,
      generatorURL: `${this.opts.externalUrl ?? ''}/api/v1/alerts`,
      fingerprint: i.fingerprint,
    };
    const body = alertmanagerPayload(alert, this.opts.receiver ?? 'system-monitor', this.opts.externalUrl ?? '');
    const key = idempotencyKey(i.fingerprint, due.status, startsAt, due.keyExtra);
    const retryMs = this.opts.failedRetryMs ?? 60_000;
    if (this.gaveUp.has(key)) {
      this.retryAt.set(i.fingerprint, this.opts.clock() + retryMs);
      return;
    }
    let delivered = false;
    let permanent = true;
    for (const raw of notify.webhooks) {
      const r = await deliver(raw, body, key, { ...this.opts.delivery, shouldContinue: () => this.mayNotify(i) });
      const url = redactUrl(raw);
      this.opts.onDelivery({ fingerprint: i.fingerprint, reason: due.reason, url, ok: r.ok, attempts: r.attempts, error: r.error });
      if (r.ok) delivered = true;
      else this.opts.log?.warn({ fingerprint: i.fingerprint, url, status: r.status, permanent: r.permanent, err: r.error }, 'webhook not delivered');
      permanent &&= !r.ok && r.permanent;
    }
    if (!delivered) {
      // A failure that cannot succeed (4xx, redirect, bad URL, TLS certificate) is not sent again until the rules change.
      if (permanent) {
        if (this.gaveUp.size >= 10_000) this.gaveUp.clear();
        this.gaveUp.add(key);
      }
      this.retryAt.set(i.fingerprint, this.opts.clock() + retryMs);
      return;
    }
    this.retryAt.delete(i.fingerprint);
    const cur = this.engine.get(i.fingerprint) ?? i;
    this.engine.put({ ...cur, notified: { status: due.status, severity: i.severity ?? 'warning', fired_at: firedAt, at: this.opts.clock() } });
    // The ledger is written at once: a successor must not send this again.
    this.opts.onLedger();
  }
}
