import { EventEmitter } from 'node:events';
import type { Redis } from 'ioredis';
import type { Logger } from '../../../shared/src/log.js';
import type { Payload } from '../../../shared/src/payload.js';
import { AlertEngine, fingerprintOf, VALKEY_RULE_ID, type ContainerStatus, type Seen } from './engine.js';
import { formatValue, renderTemplate } from './metric.js';
import { dueNotification, type Due } from './notify-policy.js';
import { AlertStatePersistence, SaveError } from './persist.js';
import type { NotifySettings, RulesFile, Severity } from './rule-schema.js';
import type { AlertState, Instance, Transition } from './state.js';
import { redactUrl } from './webhook-url.js';
import { alertmanagerPayload, deliver, idempotencyKey, ZERO_TIME, type AmAlert, type DeliveryOptions } from './webhook.js';

export interface AlertServiceOptions {
  redis: Redis;
  rules: RulesFile;
  /** Only the leader persists state and sends webhooks (LeaderElector.isLeader). */
  isLeader: () => boolean;
  clock?: () => number;
  log?: Logger;
  /** Base URL of this aggregator, for `externalURL` / `generatorURL`. */
  externalUrl?: string;
  receiver?: string;
  delivery?: DeliveryOptions;
  eventsMaxLen?: number;
  /** Wait before retrying a notification whose every webhook failed. */
  failedRetryMs?: number;
  /** Resolved instances and unseen containers are forgotten after this long (default 24 h). */
  retentionMs?: number;
  /**
   * How often changes of observed values alone (not of alert state) are
   * written (default 10 s). Edges, new containers and the delivery ledger are
   * written at once.
   */
  valueFlushMs?: number;
  /** Webhook deliveries in flight at once (default MAX_CONCURRENT_DELIVERIES); the rest wait for a later tick. */
  maxConcurrentDeliveries?: number;
}

/** An alert as `GET /api/v1/alerts` shows it. */
export interface ActiveAlert {
  fingerprint: string;
  rule_id: string;
  name: string;
  container: string;
  gpu: string | null;
  state: AlertState;
  severity: Severity | null;
  value: number | null;
  since: string;
  fired_at: string | null;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

export interface DeliveryRecord {
  fingerprint: string;
  reason: Due['reason'];
  /** Redacted (scheme://host[:port] and a fingerprint, see webhook-url.ts): never the secret parts. */
  url: string;
  ok: boolean;
  attempts: number;
  error: string | null;
}

const iso = (ms: number): string => new Date(ms).toISOString();

/** Webhook deliveries in flight at once, by default. */
export const MAX_CONCURRENT_DELIVERIES = 32;

/**
 * Alerting for the aggregator: every replica evaluates (so all serve
 * `active()` and SSE `transition` events); the leader also persists state and
 * delivers webhooks. Delivery is at-least-once with a stable idempotency key,
 * and the ledger (`notified`) is written to Valkey right after each success,
 * so a successor neither re-sends nor forgets a notification.
 */
/** Runs steps until done, yielding the event loop (setImmediate) whenever `sliceMs` have passed. */
async function runSliced(steps: Iterator<undefined>, sliceMs: number): Promise<void> {
  for (;;) {
    const end = performance.now() + sliceMs;
    for (let n = 0; ; n++) {
      if (steps.next().done === true) return;
      // The clock is read every 64 steps: a step is ~1 µs, a clock read a fair part of that.
      if ((n & 63) === 63 && performance.now() >= end) break;
    }
    await new Promise<void>((resolve) => {
      setImmediate(resolve);
    });
  }
}

export class AlertService extends EventEmitter<{ transition: [Transition]; delivery: [DeliveryRecord] }> {
  readonly engine: AlertEngine;
  private readonly persistence: AlertStatePersistence;
  private readonly clock: () => number;
  private persisting: Promise<void> = Promise.resolve();
  /** Transitions waiting for the next flush (kept in order for the history stream). */
  private pendingTransitions: Transition[] = [];
  private flushScheduled = false;
  /** The next flush rewrites everything (after becoming leader, or after a failed write). */
  private fullPending = false;
  private lastValueFlush = 0;
  private lastPrune = 0;
  /** A sliced tick is running. */
  private ticking = false;
  /** This replica led when Valkey went away: it sends the valkey_unreachable notifications. */
  private outageSender = false;
  private readonly inFlight = new Map<string, Promise<void>>();
  private readonly retryAt = new Map<string, number>();
  /** Idempotency keys of notifications every webhook refused for good; cleared by setRules. */
  private readonly gaveUp = new Set<string>();
  /** False until this replica, as leader, has merged the persisted ledger. */
  private adopted = false;
  private stopped = false;

  constructor(private readonly opts: AlertServiceOptions) {
    super();
    this.clock = opts.clock ?? Date.now;
    this.engine = new AlertEngine(opts.rules, this.clock);
    this.persistence = new AlertStatePersistence(opts.redis, { eventsMaxLen: opts.eventsMaxLen, log: opts.log });
  }

  /** Restores persisted state: pending countdowns continue, firing alerts are not re-sent. */
  async start(): Promise<void> {
    const loaded = await this.persistence.load();
    this.engine.restore(loaded.instances, loaded.lastSeen);
    this.engine.drainDirty();
  }

  setRules(rules: RulesFile): Transition[] {
    // New rules may fix a webhook that failed for good: those notifications get another try.
    this.gaveUp.clear();
    return this.after(this.engine.setRules(rules));
  }

  onSample(p: Payload): Transition[] {
    return this.after(this.engine.onSample(p));
  }

  onContainerStatus(name: string, status: ContainerStatus): Transition[] {
    return this.after(this.engine.onContainerStatus(name, status));
  }

  /**
   * Valkey connection state. There is no leader lock while Valkey is away, so
   * the replica that led when it went away (its lease had not lapsed yet) is
   * the one that notifies valkey_unreachable, firing and resolved.
   */
  onValkeyUp(up: boolean): Transition[] {
    if (!up && this.leading()) this.outageSender = true;
    const ts = this.after(this.engine.onValkeyUp(up));
    this.reconcileOutage();
    return ts;
  }

  tick(): Transition[] {
    const ts = this.after(this.engine.tick());
    this.reconcile();
    return this.finishTick(ts);
  }

  /**
   * tick() spread over event-loop turns of at most `sliceMs` each (the
   * staleness pass and the notification pass walk every container and
   * instance: tens of milliseconds at 10,000 containers, which a request
   * arriving behind them would wait for). A tick still running when the
   * next is due makes that one a no-op.
   */
  async tickSliced(sliceMs: number): Promise<Transition[]> {
    if (this.ticking) return [];
    this.ticking = true;
    try {
      const out: Transition[] = [];
      await runSliced(this.engine.tickSteps(out), sliceMs);
      const ts = this.after(out);
      if (this.leading()) await runSliced(this.reconcileSteps(this.clock()), sliceMs);
      return this.finishTick(ts);
    } finally {
      this.ticking = false;
    }
  }

  private *reconcileSteps(now: number): Generator<undefined, void, undefined> {
    for (const i of this.engine.instancesNow()) {
      if (!this.leading()) return;
      this.startDue(i, now);
      yield;
    }
  }

  private finishTick(ts: Transition[]): Transition[] {
    this.reconcileOutage();
    if (this.clock() - this.lastValueFlush >= (this.opts.valueFlushMs ?? 10_000)) this.flush(true);
    // Pruning walks every instance; retention is hours, so once a minute is plenty.
    if (this.clock() - this.lastPrune < 60_000) return ts;
    this.lastPrune = this.clock();
    const gone = this.engine.prune(this.opts.retentionMs ?? 86_400_000);
    if (this.leading() && (gone.fingerprints.length > 0 || gone.containers.length > 0)) {
      this.persisting = this.persisting
        .then(() => this.persistence.remove(gone.fingerprints, gone.containers))
        .catch((err: unknown) => {
          this.opts.log?.warn({ err: err instanceof Error ? err.message : String(err) }, 'could not delete forgotten alert state');
        });
    }
    return ts;
  }

  /** A container left the registry: forget it (no alert, no "resolved"), here and, on the leader, in Valkey. */
  forgetContainer(name: string): void {
    const fingerprints = this.engine.forgetContainer(name);
    if (!this.leading()) return;
    this.persisting = this.persisting
      .then(() => this.persistence.remove(fingerprints, [name]))
      .catch((err: unknown) => {
        this.opts.log?.warn({ err: err instanceof Error ? err.message : String(err), container: name }, 'could not delete a forgotten container\'s alert state');
      });
  }

  /** Call when LeaderElector emits `change`. */
  async onLeadership(leader: boolean): Promise<void> {
    if (!leader) {
      this.adopted = false;
      return;
    }
    await this.adoptPersisted();
    this.adopted = true;
    this.fullPending = true;
    this.flush(true);
    this.reconcile();
  }

  active(): ActiveAlert[] {
    return this.engine
      .all()
      .filter((i) => i.state === 'pending' || i.state === 'firing')
      .map((i) => this.view(i));
  }

  async history(count = 100): Promise<{ transitions: Transition[]; corrupt: number }> {
    return this.persistence.history(count);
  }

  /** Resolves when persistence and deliveries started so far have finished (tests, shutdown). */
  async idle(): Promise<void> {
    this.flush(true);
    for (;;) {
      const pending = [this.persisting, ...this.inFlight.values()];
      await Promise.all(pending);
      if (this.inFlight.size === 0) {
        await this.persisting;
        return;
      }
    }
  }

  async stop(): Promise<void> {
    this.flush(true);
    this.stopped = true;
    await this.idle();
  }

  /**
   * Per-sample path: O(this sample's instances), never O(fleet). State changes
   * are written in one coalesced batch per event-loop turn; deliveries are
   * checked only for instances that made a transition (`tick` checks all,
   * for repeats and retries).
   */
  private after(ts: Transition[]): Transition[] {
    for (const t of ts) this.emit('transition', t);
    if (this.leading()) {
      this.pendingTransitions.push(...ts);
      if (ts.length > 0 || this.fullPending || this.engine.hasUrgentChanges()) this.scheduleFlush();
      for (const t of ts) this.reconcileOne(t.fingerprint);
    } else {
      this.discardChanges();
    }
    return ts;
  }

  private leading(): boolean {
    return !this.stopped && this.adopted && this.opts.isLeader();
  }

  /** A follower keeps no write backlog; it rewrites everything if it becomes leader. */
  private discardChanges(): void {
    this.engine.drainDirty();
    this.engine.drainValueDirty();
    this.engine.drainSeen(true);
    this.pendingTransitions = [];
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flush(false);
    });
  }

  /**
   * Writes what changed since the last flush: state edges, new containers
   * and transitions always; with `values`, also instances and last-seen
   * times whose observed value alone moved. The snapshot is taken now, the
   * write is queued behind the previous one (so order holds).
   */
  private flush(values: boolean): void {
    this.flushScheduled = false;
    if (!this.leading()) {
      this.discardChanges();
      return;
    }
    // Taken first: the full rewrite below clears the change sets, transitions included.
    const ts = this.pendingTransitions;
    this.pendingTransitions = [];
    const full = this.fullPending;
    this.fullPending = false;
    if (values || full) this.lastValueFlush = this.clock();
    let changed: Instance[];
    let seen: Map<string, Seen>;
    if (full) {
      this.discardChanges();
      changed = this.engine.all();
      seen = this.engine.lastSeen();
    } else {
      changed = this.engine.drainDirty();
      if (values) changed.push(...this.engine.drainValueDirty());
      seen = this.engine.drainSeen(values);
    }
    if (changed.length === 0 && ts.length === 0 && seen.size === 0) return;
    this.persisting = this.persisting
      .then(() => this.persistence.save(changed, ts, seen))
      .catch((err: unknown) => {
        // What this batch carried is gone from the change sets: rewrite everything
        // next time, and put its transitions back for the history stream.
        this.fullPending = true;
        if (!(err instanceof SaveError && err.historyWritten)) this.pendingTransitions = [...ts, ...this.pendingTransitions];
        this.opts.log?.warn({ err: err instanceof Error ? err.message : String(err) }, 'could not persist alert state; everything is written again on the next flush');
      });
  }

  private async adoptPersisted(): Promise<void> {
    const loaded = await this.persistence.load();
    for (const p of loaded.instances) {
      const l = this.engine.get(p.fingerprint);
      if (l === undefined) {
        this.engine.put(p);
        continue;
      }
      const m: Instance = { ...l };
      if (p.notified !== null && (l.notified === null || p.notified.at > l.notified.at)) m.notified = p.notified;
      // The same episode seen by two replicas: keep the start the previous leader announced.
      if (l.fired_at !== null && p.fired_at !== null && p.fired_at <= (l.resolved_at ?? Infinity) && l.fired_at <= (p.resolved_at ?? Infinity)) {
        m.fired_at = p.fired_at;
      }
      if (l.state === 'pending' && p.state === 'pending' && p.active_at !== null && l.active_at !== null && p.active_at < l.active_at) m.active_at = p.active_at;
      this.engine.put(m);
    }
  }

  private notifyFor(i: Instance): NotifySettings | undefined {
    const rules = this.engine.currentRules();
    return this.engine.rule(i.rule_id)?.notify ?? rules.notify;
  }

  /** Starts every notification that is due (repeats, retries, after a takeover). */
  private reconcile(): void {
    if (!this.leading()) return;
    const now = this.clock();
    for (const i of this.engine.all()) this.startDue(i, now);
  }

  /** The outage sender's valkey_unreachable notifications, sent whether or not it still leads. */
  private reconcileOutage(): void {
    if (!this.outageSender || this.stopped) return;
    const i = this.engine.get(fingerprintOf(VALKEY_RULE_ID, '', null));
    if (i === undefined) return;
    const notify = this.notifyFor(i);
    const due = notify === undefined ? null : dueNotification(i, notify, this.clock());
    if (due === null && i.state !== 'firing' && !this.inFlight.has(i.fingerprint)) {
      // Resolved and nothing more owed: the outage is over for this replica.
      this.outageSender = false;
      return;
    }
    if (!this.leading()) this.startDue(i, this.clock());
  }

  private mayNotify(i: Instance): boolean {
    return this.leading() || (i.rule_id === VALKEY_RULE_ID && this.outageSender && !this.stopped);
  }

  private reconcileOne(fingerprint: string): void {
    const i = this.engine.get(fingerprint);
    if (i !== undefined && this.mayNotify(i)) this.startDue(i, this.clock());
  }

  private startDue(i: Instance, now: number): void {
    if (this.inFlight.has(i.fingerprint) || (this.retryAt.get(i.fingerprint) ?? 0) > now) return;
    // Bounded sockets and memory however many alerts fire at once; the rest start on a later tick.
    if (this.inFlight.size >= (this.opts.maxConcurrentDeliveries ?? MAX_CONCURRENT_DELIVERIES)) return;
    const notify = this.notifyFor(i);
    if (notify === undefined || notify.webhooks.length === 0) return;
    const due = dueNotification(i, notify, now);
    if (due === null) return;
    const job = this.send(i, due, notify).finally(() => {
      this.inFlight.delete(i.fingerprint);
      // The instance may have moved on while this was sent (resolved meanwhile).
      this.reconcileOne(i.fingerprint);
    });
    this.inFlight.set(i.fingerprint, job);
  }

  private async send(i: Instance, due: Due, notify: NotifySettings): Promise<void> {
    const v = this.view(i);
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
    if (this.gaveUp.has(key)) {
      this.retryAt.set(i.fingerprint, this.clock() + (this.opts.failedRetryMs ?? 60_000));
      return;
    }
    let delivered = false;
    let permanent = true;
    for (const raw of notify.webhooks) {
      const r = await deliver(raw, body, key, { ...this.opts.delivery, shouldContinue: () => this.mayNotify(i) });
      const url = redactUrl(raw);
      this.emit('delivery', { fingerprint: i.fingerprint, reason: due.reason, url, ok: r.ok, attempts: r.attempts, error: r.error });
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
      this.retryAt.set(i.fingerprint, this.clock() + (this.opts.failedRetryMs ?? 60_000));
      return;
    }
    this.retryAt.delete(i.fingerprint);
    const cur = this.engine.get(i.fingerprint) ?? i;
    this.engine.put({ ...cur, notified: { status: due.status, severity: i.severity ?? 'warning', fired_at: firedAt, at: this.clock() } });
    // The ledger is written at once: a successor must not send this again.
    this.flush(false);
  }

  private view(i: Instance): ActiveAlert {
    const rule = this.engine.rule(i.rule_id);
    const name = i.rule_id === VALKEY_RULE_ID ? 'Valkey unreachable' : rule?.name ?? i.rule_id;
    const vars: Record<string, string> = { container: i.container, value: formatValue(i.value), gpu: i.instance ?? '', rule: name };
    const labels: Record<string, string> = { alertname: i.rule_id, severity: i.severity ?? 'none', ...(rule?.labels ?? {}) };
    if (i.container !== '') labels.container = i.container;
    if (i.instance !== null) labels.gpu = i.instance;
    const annotations: Record<string, string> = { summary: name };
    for (const [k, t] of Object.entries(rule?.annotations ?? {})) annotations[k] = renderTemplate(t, vars);
    if (i.rule_id === VALKEY_RULE_ID) annotations.summary = 'the aggregator cannot reach Valkey; container_down is suspended';
    return {
      fingerprint: i.fingerprint, rule_id: i.rule_id, name, container: i.container, gpu: i.instance, state: i.state,
      severity: i.severity, value: i.value, since: iso(i.active_at ?? i.updated_at), fired_at: i.fired_at === null ? null : iso(i.fired_at),
      labels, annotations,
    };
  }
}
