import { EventEmitter } from 'node:events';
import type { ListedAlert } from '../../../shared/src/api.js';
import type { ValkeyClient } from '../../../shared/src/valkey.js';
import type { Logger } from '../../../shared/src/log.js';
import type { Payload } from '../../../shared/src/payload.js';
import { AlertmanagerSender } from './alertmanager.js';
import { AlertEngine, type ContainerStatus } from './engine.js';
import { Notifier, type DeliveryRecord } from './notifier.js';
import { AlertStatePersistence } from './persist.js';
import type { RulesFile } from './rule-schema.js';
import type { Transition } from './state.js';
import { AlertStateWriter } from './state-writer.js';
import { SilenceStore, type Ack, type Silence } from './silences.js';
import { alertView } from './view.js';
import type { DeliveryOptions } from './webhook.js';

export type { ActiveAlert } from './view.js';

export type { ListedAlert } from '../../../shared/src/api.js';

/** A request about alerts that cannot be done (unknown id, alert not firing); `status` is the HTTP answer. */
export class AlertActionError extends Error {
  constructor(
    readonly status: 404 | 409,
    message: string,
  ) {
    super(message);
  }
}
export { MAX_CONCURRENT_DELIVERIES, type DeliveryRecord } from './notifier.js';

export interface AlertServiceOptions {
  redis: ValkeyClient;
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
  /** Alertmanagers the leader posts alerts to (`ALERTMANAGER_URL`); none by default. */
  alertmanager?: { urls: string[]; resendMs?: number; retryMs?: number };
}

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

/**
 * Alerting for the aggregator, the coordinator of its parts: every replica
 * evaluates (AlertEngine, so all serve `active()` and SSE `transition`
 * events); the leader also writes state to Valkey (AlertStateWriter) and
 * delivers webhooks (Notifier). Delivery is at-least-once with a stable
 * idempotency key, and the ledger (`notified`) is written to Valkey right
 * after each success, so a successor neither re-sends nor forgets a
 * notification.
 */
export class AlertService extends EventEmitter<{ transition: [Transition]; delivery: [DeliveryRecord] }> {
  readonly engine: AlertEngine;
  private readonly persistence: AlertStatePersistence;
  private readonly writer: AlertStateWriter;
  private readonly notifier: Notifier;
  private readonly alertmanager: AlertmanagerSender;
  readonly silences: SilenceStore;
  private amSync: Promise<void> = Promise.resolve();
  private amScheduled = false;
  /** A sync is in flight: the next tick's waits (a slow Alertmanager never queues up syncs). */
  private amRunning = false;
  private readonly clock: () => number;
  private lastPrune = 0;
  /** A sliced tick is running. */
  private ticking = false;
  /** False until this replica, as leader, has merged the persisted ledger. */
  private adopted = false;
  private stopped = false;

  constructor(private readonly opts: AlertServiceOptions) {
    super();
    this.clock = opts.clock ?? Date.now;
    this.engine = new AlertEngine(opts.rules, this.clock);
    this.persistence = new AlertStatePersistence(opts.redis, { eventsMaxLen: opts.eventsMaxLen, log: opts.log });
    const leading = (): boolean => this.leading();
    this.silences = new SilenceStore(opts.redis, { clock: this.clock, log: opts.log });
    this.writer = new AlertStateWriter(this.engine, this.persistence, { clock: this.clock, leading, log: opts.log, valueFlushMs: opts.valueFlushMs });
    this.notifier = new Notifier(this.engine, {
      clock: this.clock,
      leading,
      stopped: () => this.stopped,
      onLedger: () => {
        this.writer.flush(false);
      },
      onDelivery: (r) => this.emit('delivery', r),
      muted: (i, due) => this.silences.silencedBy(i).length > 0 || (due.reason === 'repeat' && this.silences.ackOf(i) !== null),
      log: opts.log,
      externalUrl: opts.externalUrl,
      receiver: opts.receiver,
      delivery: opts.delivery,
      failedRetryMs: opts.failedRetryMs,
      maxConcurrentDeliveries: opts.maxConcurrentDeliveries,
    });
    this.alertmanager = new AlertmanagerSender(this.engine, {
      urls: opts.alertmanager?.urls ?? [],
      resendMs: opts.alertmanager?.resendMs,
      retryMs: opts.alertmanager?.retryMs,
      clock: this.clock,
      log: opts.log,
      externalUrl: opts.externalUrl,
    });
  }

  /** Restores persisted state: pending countdowns continue, firing alerts are not re-sent. */
  async start(): Promise<void> {
    // Silences first: a restored firing alert is listed with its marks from the start.
    const [loaded] = await Promise.all([this.persistence.load(), this.silences.refresh()]);
    this.engine.restore(loaded.instances, loaded.lastSeen);
    this.engine.drainDirty();
  }

  setRules(rules: RulesFile): Transition[] {
    this.notifier.forgiveFailures();
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
    if (!up) this.notifier.onValkeyDown();
    const ts = this.after(this.engine.onValkeyUp(up));
    this.notifier.reconcileOutage();
    return ts;
  }

  tick(): Transition[] {
    this.silences.refreshIfDue();
    const ts = this.after(this.engine.tick());
    this.notifier.reconcile();
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
    this.silences.refreshIfDue();
    try {
      const out: Transition[] = [];
      await runSliced(this.engine.tickSteps(out), sliceMs);
      const ts = this.after(out);
      if (this.leading()) await runSliced(this.notifier.reconcileSteps(this.clock()), sliceMs);
      return this.finishTick(ts);
    } finally {
      this.ticking = false;
    }
  }

  private finishTick(ts: Transition[]): Transition[] {
    this.notifier.reconcileOutage();
    this.syncAlertmanager();
    this.writer.flushValuesIfDue();
    // Pruning walks every instance; retention is hours, so once a minute is plenty.
    if (this.clock() - this.lastPrune < 60_000) return ts;
    this.lastPrune = this.clock();
    const gone = this.engine.prune(this.opts.retentionMs ?? 86_400_000);
    if (this.leading() && (gone.fingerprints.length > 0 || gone.containers.length > 0)) {
      this.writer.remove(gone.fingerprints, gone.containers, 'forgotten alert state');
      this.forgetAcks(gone.fingerprints);
    }
    return ts;
  }

  /** A container left the registry: forget it (no alert, no "resolved"), here and, on the leader, in Valkey. */
  forgetContainer(name: string): void {
    const fingerprints = this.engine.forgetContainer(name);
    if (!this.leading()) return;
    this.writer.remove(fingerprints, [name], "a forgotten container's alert state");
    this.forgetAcks(fingerprints);
  }

  private forgetAcks(fingerprints: readonly string[]): void {
    this.silences.forget(fingerprints).catch((err: unknown) => {
      this.opts.log?.warn({ err: err instanceof Error ? err.message : String(err) }, 'could not delete acknowledgements of forgotten alerts');
    });
  }

  /** Call when LeaderElector emits `change`. */
  async onLeadership(leader: boolean): Promise<void> {
    if (!leader) {
      this.adopted = false;
      this.alertmanager.reset();
      return;
    }
    await this.writer.adopt();
    this.adopted = true;
    this.writer.markFull();
    this.writer.flush(true);
    this.notifier.reconcile();
    this.alertmanager.trackAll();
    this.scheduleAlertmanager();
  }

  active(): ListedAlert[] {
    return this.engine
      .all()
      .filter((i) => i.state === 'pending' || i.state === 'firing')
      .map((i) => {
        const ack = this.silences.ackOf(i);
        return {
          ...alertView(this.engine, i),
          silenced_by: this.silences.silencedBy(i),
          acknowledged: ack === null ? null : { by: ack.by, at: new Date(ack.at).toISOString(), comment: ack.comment },
        };
      });
  }

  /** Silences by rule and/or container for `durationMs`; alerts they match stay listed, marked, and send nothing. */
  async silence(input: { rule_id: string | null; container: string | null; durationMs: number; comment: string; by: string }): Promise<Silence> {
    return this.silences.create(input);
  }

  async expireSilence(id: string, by: string): Promise<Silence> {
    const s = await this.silences.expire(id, by);
    if (s === null) throw new AlertActionError(404, `no silence with id "${id}" (list them with GET /api/v1/silences)`);
    // Whatever it held back is owed now.
    this.notifier.reconcile();
    return s;
  }

  /** Acknowledges a firing alert's current episode: it is marked, and its repeat notifications stop. */
  async acknowledge(fingerprint: string, by: string, comment: string): Promise<Ack> {
    const i = this.engine.get(fingerprint);
    if (i === undefined) throw new AlertActionError(404, `no alert with fingerprint "${fingerprint}" (see GET /api/v1/alerts)`);
    if (i.state !== 'firing' || i.fired_at === null) throw new AlertActionError(409, `alert ${fingerprint} is ${i.state}, not firing: only a firing alert can be acknowledged`);
    return this.silences.acknowledge(i, by, comment);
  }

  async history(count = 100): Promise<{ transitions: Transition[]; corrupt: number }> {
    return this.persistence.history(count);
  }

  /** Resolves when persistence and deliveries started so far have finished (tests, shutdown). */
  async idle(): Promise<void> {
    this.writer.flush(true);
    for (;;) {
      await Promise.all([this.writer.idle(), this.amSync, ...this.notifier.pending()]);
      if (!this.notifier.busy) {
        await this.writer.idle();
        return;
      }
    }
  }

  async stop(): Promise<void> {
    this.writer.flush(true);
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
    this.writer.record(ts);
    if (!this.leading()) return ts;
    for (const t of ts) {
      this.notifier.reconcileOne(t.fingerprint);
      if (t.to === 'firing' || t.to === 'resolved') this.alertmanager.track(t.fingerprint);
    }
    if (ts.length > 0) this.scheduleAlertmanager();
    return ts;
  }

  /** Transitions reach Alertmanager in one POST per event-loop turn, not one per alert. */
  private scheduleAlertmanager(): void {
    if (!this.alertmanager.enabled || this.amScheduled) return;
    this.amScheduled = true;
    setImmediate(() => {
      this.amScheduled = false;
      this.syncAlertmanager();
    });
  }

  /** Sends what Alertmanager is owed (new, changed, or due for its resend); one sync at a time. */
  private syncAlertmanager(): void {
    if (!this.alertmanager.enabled || !this.leading() || this.amRunning) return;
    this.amRunning = true;
    this.amSync = this.alertmanager
      .sync((i) => this.silences.silencedBy(i).length > 0)
      .catch((err: unknown) => {
        this.opts.log?.warn({ err: err instanceof Error ? err.message : String(err) }, 'Alertmanager sync failed; it is tried again on the next tick');
      })
      .finally(() => {
        this.amRunning = false;
      });
  }

  private leading(): boolean {
    return !this.stopped && this.adopted && this.opts.isLeader();
  }
}
