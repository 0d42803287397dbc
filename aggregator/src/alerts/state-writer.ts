import type { Logger } from '../../../shared/src/log.js';
import type { AlertEngine, Seen } from './engine.js';
import { SaveError, type AlertStatePersistence } from './persist.js';
import type { Instance, Transition } from './state.js';

export interface StateWriterOptions {
  clock: () => number;
  /** True while this replica may write (leader that has adopted the persisted state). */
  leading: () => boolean;
  log?: Logger;
  /** How often changes of observed values alone are written (default 10 s). */
  valueFlushMs?: number;
}

/**
 * The leader's writes of alert state to Valkey: state edges, new containers
 * and transitions in one coalesced batch per event-loop turn, observed values
 * every `valueFlushMs`, a full rewrite after a takeover or a failed write;
 * and, on takeover, the merge of what the previous leader persisted. A
 * follower keeps no write backlog.
 */
export class AlertStateWriter {
  private persisting: Promise<void> = Promise.resolve();
  /** Transitions waiting for the next flush (kept in order for the history stream). */
  private pendingTransitions: Transition[] = [];
  private flushScheduled = false;
  /** The next flush rewrites everything (after becoming leader, or after a failed write). */
  private fullPending = false;
  private lastValueFlush = 0;

  constructor(
    private readonly engine: AlertEngine,
    private readonly persistence: AlertStatePersistence,
    private readonly opts: StateWriterOptions,
  ) {}

  /** Queues transitions for the history stream and schedules a flush when something urgent changed. */
  record(ts: readonly Transition[]): void {
    if (!this.opts.leading()) {
      this.discardChanges();
      return;
    }
    this.pendingTransitions.push(...ts);
    if (ts.length > 0 || this.fullPending || this.engine.hasUrgentChanges()) this.scheduleFlush();
  }

  /** Writes observed values when `valueFlushMs` has passed since the last such write. */
  flushValuesIfDue(): void {
    if (this.opts.clock() - this.lastValueFlush >= (this.opts.valueFlushMs ?? 10_000)) this.flush(true);
  }

  /** After a takeover: merge what Valkey holds, then rewrite everything. */
  async adopt(): Promise<void> {
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

  /** The next flush rewrites everything. */
  markFull(): void {
    this.fullPending = true;
  }

  /** Deletes forgotten instances and containers (queued behind earlier writes; a failure is logged). */
  remove(fingerprints: readonly string[], containers: readonly string[], what: string): void {
    this.persisting = this.persisting
      .then(() => this.persistence.remove(fingerprints, containers))
      .catch((err: unknown) => {
        this.opts.log?.warn({ err: err instanceof Error ? err.message : String(err), containers: containers.slice(0, 10) }, `could not delete ${what}`);
      });
  }

  /** Resolves when the writes queued so far have finished. */
  async idle(): Promise<void> {
    await this.persisting;
  }

  /** A follower keeps no write backlog; it rewrites everything if it becomes leader. */
  discardChanges(): void {
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
  flush(values: boolean): void {
    this.flushScheduled = false;
    if (!this.opts.leading()) {
      this.discardChanges();
      return;
    }
    // Taken first: the full rewrite below clears the change sets, transitions included.
    const ts = this.pendingTransitions;
    this.pendingTransitions = [];
    const full = this.fullPending;
    this.fullPending = false;
    if (values || full) this.lastValueFlush = this.opts.clock();
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
}
