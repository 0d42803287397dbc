import type { LevelWithSilent, Logger } from 'pino';
import type { Payload } from '../../../shared/src/payload.js';
import { createValkeyClient, describeValkey, type ValkeyClient, type ValkeyConfig } from '../../../shared/src/valkey.js';
import type { IngestEvent, Rejected } from '../ingest/protocol.js';
import { DEFAULT_MAX_SAMPLE_BYTES, type RejectReason } from '../ingest/sample.js';
import { IngestThread } from '../ingest/thread.js';
import { FleetEntry, type ContainerView } from './entry.js';
import { IngestBacklog } from './backlog.js';

export type { ContainerView } from './entry.js';

export type { ContainerStatus } from '../../../shared/src/api.js';
import type { ContainerStatus } from '../../../shared/src/api.js';

/** Where a sample came from: the pub/sub channel, or a poll that found a value the channel had not delivered. */
export type SampleOrigin = 'live' | 'poll';

/**
 * What the fleet tells its subscribers, in order: a new sample (validated,
 * with its JSON re-serialised from the validated object), a status change
 * (`from` null the first time), or a container that left the registry.
 */
export type FleetEvent =
  | { type: 'sample'; origin: SampleOrigin; payload: Payload; json: string }
  | { type: 'status'; container: string; from: ContainerStatus | null; to: ContainerStatus }
  | { type: 'removed'; container: string };

export interface FleetOptions {
  valkey: ValkeyConfig;
  intervalMs: number;
  retentionMs: number;
  pollMs: number;
  log: Logger;
  /** Level of the ingest thread's own log lines (invalid values, failed polls). */
  logLevel: LevelWithSilent;
  now?: () => number;
  /** MGET chunk size (default 200); each chunk reaches this thread as its own message, applied in its own turn. */
  chunk?: number;
  /** Byte cap of one value before parsing (default 256 KiB). */
  maxSampleBytes?: number;
  /** Bound of the ingest events waiting for this thread (default 32 MiB); past it the oldest live samples are dropped and counted. */
  maxBacklogBytes?: number;
}

export interface FleetStats {
  polls_total: number;
  poll_errors_total: number;
  /** Wall time of the last re-sync, Valkey round trips included. */
  last_poll_ms: number | null;
  /** Main event-loop time the last re-sync used (applying its changes; reading and validating ran on the ingest thread). */
  last_poll_loop_ms: number | null;
  /** The ingest thread's busy time in the last re-sync (decoding, validating). */
  last_poll_ingest_ms: number | null;
  /** Metric values refused (too large, not JSON, not a sample, under another container's key). */
  invalid_payloads_total: number;
  /** Every refusal by reason, registry entries and unregistered pub/sub samples included. */
  rejected_by_reason: Rejected;
  samples_received_total: number;
  /** Times the ingest thread died and was started again. */
  ingest_restarts_total: number;
  /** Live samples dropped because this thread fell behind the ingest thread by more than the backlog bound. */
  ingest_dropped_samples_total: number;
}

type Listener = (e: FleetEvent) => void;

/** The ingest backlog's default bound: a few seconds of a 10,000-container fleet's samples. */
const DEFAULT_MAX_BACKLOG_BYTES = 32 * 1024 * 1024;

/** Refusals that are values under `system:metrics:*` (not registry entries, not unregistered names). */
const VALUE_REASONS: ReadonlySet<RejectReason> = new Set(['too_large', 'not_json', 'schema', 'name_mismatch']);

/**
 * The live view of every container: the registry (sorted set) plus chunked
 * MGET of the latest samples, kept current between polls by the pub/sub
 * channel. Pub/sub is fire-and-forget, so a periodic poll stays the source of
 * truth and runs again after every reconnect. Nothing read from Valkey is
 * trusted: a foreign or corrupt value is skipped, counted and logged once per
 * key. The reading and validating run on an ingest thread (`ingest/`), which
 * sends only valid samples and what changed; this thread applies them.
 */
export class Fleet {
  private readonly entries = new Map<string, FleetEntry>();
  /** Entries in name order; rebuilt only when a container is added or removed. */
  private sorted: FleetEntry[] | null = null;
  private readonly now: () => number;
  /** This thread's own connection: reads outside the fleet view (logs, history) and `valkeyUp`. */
  private cmd: ValkeyClient | null = null;
  private ingest: IngestThread | null = null;
  private ingestUp = false;
  private readonly backlog: IngestBacklog;
  private draining = false;
  private statusTimer: NodeJS.Timeout | null = null;
  private synced = false;
  /** Main-thread time spent on the re-sync in progress. */
  private pollLoopMs = 0;
  /** Containers whose status was already emitted once (the first emission has no `from`). */
  private readonly announced = new Set<string>();
  private readonly listeners: Listener[] = [];
  private valkeyWasUp: boolean | null = null;
  readonly stats: FleetStats = {
    polls_total: 0, poll_errors_total: 0, last_poll_ms: null, last_poll_loop_ms: null, last_poll_ingest_ms: null,
    invalid_payloads_total: 0, rejected_by_reason: {}, samples_received_total: 0, ingest_restarts_total: 0,
    ingest_dropped_samples_total: 0,
  };

  constructor(private readonly opts: FleetOptions) {
    this.now = opts.now ?? Date.now;
    this.backlog = new IngestBacklog(opts.maxBacklogBytes ?? DEFAULT_MAX_BACKLOG_BYTES);
  }

  /** Every event, in order. A listener that throws is logged; the others and the fleet carry on. */
  subscribe(fn: Listener): void {
    this.listeners.push(fn);
  }

  /** Samples only; `json` is re-serialised from the validated object (one line, no unknown fields). */
  onSample(fn: (p: Payload, json: string, origin: SampleOrigin) => void): void {
    this.subscribe((e) => {
      if (e.type === 'sample') fn(e.payload, e.json, e.origin);
    });
  }

  onStatus(fn: (name: string, from: ContainerStatus | null, to: ContainerStatus) => void): void {
    this.subscribe((e) => {
      if (e.type === 'status') fn(e.container, e.from, e.to);
    });
  }

  /** A container left the registry (pruned, or deleted by someone): it is forgotten, not "down". */
  onRemove(fn: (name: string) => void): void {
    this.subscribe((e) => {
      if (e.type === 'removed') fn(e.container);
    });
  }

  start(): void {
    this.cmd = createValkeyClient(this.opts.valkey, {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      connectTimeout: 2000,
      commandTimeout: 2000,
      retryStrategy: (attempt: number) => Math.round(Math.min(2000, 100 * 2 ** Math.min(attempt, 10)) * (0.5 + Math.random() * 0.5)),
    });
    this.cmd.on('error', (err: unknown) => {
      this.noteValkey(false, err);
    });
    this.cmd.on('ready', () => {
      this.noteValkey(true);
      this.ingest?.poll();
    });
    this.cmd.on('close', () => {
      this.noteValkey(false);
    });
    this.cmd.connect().catch(() => undefined);
    const settings = {
      valkey: this.opts.valkey,
      retentionMs: this.opts.retentionMs,
      pollMs: this.opts.pollMs,
      chunk: this.opts.chunk ?? 200,
      logLevel: this.opts.logLevel,
      maxSampleBytes: this.opts.maxSampleBytes ?? DEFAULT_MAX_SAMPLE_BYTES,
    };
    const onEvent = (e: IngestEvent): void => {
      this.enqueue(e);
    };
    this.ingest = new IngestThread(settings, onEvent, this.opts.log);
    this.ingest.start();
    this.statusTimer = setInterval(() => {
      this.refreshStatuses();
    }, 1000);
  }

  async stop(): Promise<void> {
    if (this.statusTimer) clearInterval(this.statusTimer);
    await this.ingest?.stop();
    this.cmd?.disconnect();
  }

  /** Valkey answering (on both threads) and at least one full sync done. */
  get ready(): boolean {
    return this.valkeyUp && this.ingestUp && this.synced;
  }

  /** The command connection, for reads outside the fleet view (logs); null before start. */
  get client(): ValkeyClient | null {
    return this.cmd;
  }

  get valkeyUp(): boolean {
    return this.cmd?.status === 'ready';
  }

  get size(): number {
    return this.entries.size;
  }

  /** Every container in name order: the fleet's own entries, not copies (rebuilt only when one is added or removed). */
  list(): readonly ContainerView[] {
    // Code-unit order: localeCompare costs ~1 µs a comparison, which a 10,000-row sort per request notices.
    this.sorted ??= [...this.entries.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return this.sorted;
  }

  get(name: string): ContainerView | null {
    return this.entries.get(name) ?? null;
  }

  /**
   * Events from the ingest thread are applied one per turn of this event
   * loop (setImmediate), in order: a thread's messages are otherwise all
   * delivered in one go, and a burst would hold back requests and starve SSE
   * sockets of the turns in which they drain.
   */
  private enqueue(e: IngestEvent): void {
    this.backlog.push(e);
    this.stats.ingest_dropped_samples_total = this.backlog.droppedSamples;
    if (this.draining) return;
    this.draining = true;
    setImmediate(() => {
      this.drainOne();
    });
  }

  private drainOne(): void {
    const e = this.backlog.shift();
    if (e !== undefined) this.apply(e);
    if (this.backlog.length === 0) {
      this.draining = false;
      return;
    }
    setImmediate(() => {
      this.drainOne();
    });
  }

  private apply(e: IngestEvent): void {
    const t0 = performance.now();
    switch (e.type) {
      case 'samples':
        this.countRejected(e.rejected);
        e.raws.forEach((raw, i) => {
          const packed = e.packed[i];
          if (packed !== undefined) this.onMessage(raw, packed);
        });
        return;
      case 'poll-registry':
        this.pollLoopMs = 0;
        this.countRejected(e.rejected);
        this.applyRegistry(e.names, e.scores);
        break;
      case 'poll-values':
        this.countRejected(e.rejected);
        e.names.forEach((name, i) => {
          this.applyValue(name, e.raws[i] ?? null, e.packed[i] ?? null);
        });
        break;
      case 'poll-done':
        this.synced = true;
        this.stats.polls_total += 1;
        this.refreshStatuses();
        this.stats.last_poll_ms = e.wallMs;
        this.stats.last_poll_ingest_ms = e.busyMs;
        this.stats.last_poll_loop_ms = this.pollLoopMs + (performance.now() - t0);
        return;
      case 'poll-failed':
        this.stats.poll_errors_total += 1;
        this.stats.last_poll_ms = e.wallMs;
        return;
      case 'valkey':
        this.ingestUp = e.up;
        this.stats.ingest_restarts_total = this.ingest?.restarts ?? 0;
        return;
    }
    this.pollLoopMs += performance.now() - t0;
  }

  private countRejected(r: Rejected): void {
    for (const [reason, n] of Object.entries(r) as [RejectReason, number][]) {
      this.stats.rejected_by_reason[reason] = (this.stats.rejected_by_reason[reason] ?? 0) + n;
      if (VALUE_REASONS.has(reason)) this.stats.invalid_payloads_total += n;
    }
  }

  private applyRegistry(names: string[], scores: number[]): void {
    const seen = new Set(names);
    for (const name of [...this.entries.keys()]) if (!seen.has(name)) this.remove(name);
    names.forEach((name, i) => {
      const score = scores[i] ?? 0;
      const e = this.entries.get(name);
      if (e) e.last_seen_ms = Math.max(e.last_seen_ms, score);
      else this.add(new FleetEntry(name, score));
    });
  }

  /**
   * A polled value that differs from the last one the ingest thread sent
   * (already validated there, so parsing cannot fail: the type is the
   * schema's). null: the key is gone. A new sample found this way is an
   * event like a live one (origin `poll`): the channel is fire-and-forget.
   */
  private applyValue(name: string, raw: string | null, packed: Uint8Array | null): void {
    let e = this.entries.get(name);
    if (!e) {
      e = new FleetEntry(name, 0);
      this.add(e);
    }
    if (raw === null || packed === null) {
      e.drop();
      return;
    }
    this.take(e, JSON.parse(raw) as Payload, raw, packed, 'poll');
  }

  /**
   * A valid sample from pub/sub (validated with the payload schema on the
   * ingest thread, which forwards only names in the registry). A name this
   * view does not hold was removed meanwhile: ignored until the registry has it.
   */
  private onMessage(raw: string, packed: Uint8Array): void {
    const p = JSON.parse(raw) as Payload;
    this.stats.samples_received_total += 1;
    const e = this.entries.get(p.container_name);
    if (e === undefined) return;
    e.last_seen_ms = Math.max(e.last_seen_ms, this.now());
    this.take(e, p, raw, packed, 'live');
  }

  /**
   * A new latest sample: status, then the event; a clean stop's time
   * outlives the key. The same agent's sample is taken once and never
   * replaced by an older one (a poll and the channel can deliver one sample
   * twice, in either order).
   */
  private take(e: FleetEntry, p: Payload, json: string, packed: Uint8Array, origin: SampleOrigin): void {
    const held = e.digest;
    const t = Date.parse(p.timestamp);
    if (held !== null && held.agent_pid === p.agent.pid && held.seq >= p.seq && held.timestamp_ms >= t) return;
    e.hold(p, packed);
    e.exited_at_ms = p.status === 'exited' ? (Number.isFinite(t) ? t : e.last_seen_ms) : null;
    this.setStatus(e, this.statusOf(e));
    this.emit({ type: 'sample', origin, payload: p, json });
  }

  /** Calls every listener; one that throws is logged and does not stop the others or the drain loop. */
  private emit(ev: FleetEvent): void {
    for (const fn of this.listeners) {
      try {
        fn(ev);
      } catch (err) {
        this.opts.log.error({ err: err instanceof Error ? err.message : String(err), event: ev.type }, 'a fleet listener failed; carrying on');
      }
    }
  }

  private add(e: FleetEntry): void {
    this.entries.set(e.name, e);
    this.sorted = null;
  }

  private remove(name: string): void {
    if (!this.entries.delete(name)) return;
    this.sorted = null;
    this.announced.delete(name);
    this.emit({ type: 'removed', container: name });
  }

  private statusOf(e: FleetEntry): ContainerStatus {
    const d = e.digest;
    if (d === null) return e.exited_at_ms !== null ? 'exited' : 'offline';
    if (d.status === 'exited') return 'exited';
    const intervalMs = d.interval_seconds * 1000 || this.opts.intervalMs;
    const age = this.now() - d.timestamp_ms;
    return age > 2 * intervalMs ? 'stale' : 'ok';
  }

  private refreshStatuses(): void {
    for (const e of this.entries.values()) this.setStatus(e, this.statusOf(e));
  }

  private setStatus(e: FleetEntry, to: ContainerStatus): void {
    if (e.status === to && this.announced.has(e.name)) return;
    const from = this.announced.has(e.name) ? e.status : null;
    e.status = to;
    this.announced.add(e.name);
    this.emit({ type: 'status', container: e.name, from, to });
  }

  private noteValkey(up: boolean, err?: unknown): void {
    if (this.valkeyWasUp === up) return;
    this.valkeyWasUp = up;
    const where = describeValkey(this.opts.valkey);
    if (up) this.opts.log.info({ valkey: where }, 'Valkey connected; fleet view live');
    else this.opts.log.warn({ valkey: where, err: err instanceof Error ? err.message : undefined }, 'Valkey unreachable; serving the last fleet view, retrying');
  }
}
