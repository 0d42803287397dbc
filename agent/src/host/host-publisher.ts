import type { Logger } from 'pino';
import type { Payload, PublishStatus } from '../../../shared/src/payload.js';
import { execBatch, type BatchCommand, type BatchResult } from '../../../shared/src/valkey-batch.js';
import { createValkeyClient, describeValkey, isCluster, type ValkeyClient, type ValkeyConfig } from '../../../shared/src/valkey.js';
import { classifyValkeyError, isTransient, reconnectDelayMs, settledWithin, type ValkeyProblem } from '../valkey-errors.js';
import { sampleCommands, type PendingLog } from '../sample-commands.js';

export interface HostPublisherOptions {
  valkey: ValkeyConfig;
  /** `SET .. EX` of each metrics key. */
  ttlSeconds: number;
  /** `XADD .. MAXLEN ~` of each history stream. */
  historyLength: number;
  /** Expiry of Sirius log keys (and of their index entries). */
  logTtlSeconds: number;
  /** Deadline for one tick's write; a server that does not answer in time has its connection replaced. */
  commandTimeoutMs: number;
  log: Logger;
  /** Wall clock in unix ms (tests fix it). */
  now?: () => number;
}

/** Events kept per container while Valkey is away, as the sidecar keeps them. */
const MAX_PENDING_EVENTS = 32;

/**
 * One container's share of the host agent's Valkey connection: the counters,
 * errors and pending log entries its sidecar's Publisher would keep, so its
 * `agent.publish` block and its log entries say what they would say there.
 */
export class ContainerFeed {
  published = 0;
  skipped = 0;
  lastError: string | null = null;
  lastSuccess: string | null = null;
  /** The container-specific problem last logged (a refused key), so it is logged once. */
  problem: string | null = null;
  pending: PendingLog[] = [];
  droppedEvents = 0;
  finalSent = false;
  private lastNanos = 0n;

  constructor(
    readonly name: string,
    private readonly owner: HostPublisher,
  ) {}

  status(): PublishStatus {
    return {
      published_total: this.published,
      skipped_total: this.skipped,
      connected: this.owner.connected,
      last_error: this.lastError,
      last_success: this.lastSuccess,
    };
  }

  /** Records an event as a Sirius log entry of this container, written with its next successful sample. */
  event(level: PendingLog['level'], message: string): void {
    const unixMs = this.owner.now();
    let nanos = BigInt(unixMs) * 1_000_000n;
    if (nanos <= this.lastNanos) nanos = this.lastNanos + 1n;
    this.lastNanos = nanos;
    this.pending.push({ level, message, unixMs, unixNanos: nanos });
    if (this.pending.length > MAX_PENDING_EVENTS) {
      this.pending.shift();
      this.droppedEvents += 1;
    }
  }

  /** Puts events of a write that failed back in front of newer ones. */
  requeue(events: PendingLog[]): void {
    this.pending = [...events, ...this.pending].slice(-MAX_PENDING_EVENTS);
  }
}

/** One container's part of a tick's write. */
export interface FeedSample {
  feed: ContainerFeed;
  payload: Payload;
}

/**
 * Every monitored container's samples on ONE Valkey connection, in one
 * pipeline per tick (the sidecar's Publisher, publish.ts, is its
 * one-container case): each container's keys, ttls, registry entry, history
 * entry, channel message and log entries are exactly those its own sidecar
 * would write (sample-commands.ts), but the host pays for one connection and
 * one round trip instead of one per container. On a cluster the commands go
 * through `execBatch`, whose auto-pipelining makes one pipeline per node.
 * As with the sidecar, nothing is queued while Valkey is away: a tick that
 * cannot be written is skipped and counted for each container, and their
 * log entries wait for the next write. A command that fails fails only its
 * container's sample (its metrics `SET`) or side write; the others' stand.
 */
export class HostPublisher {
  private readonly client: ValkeyClient;
  private readonly publishCommand: 'publish' | 'spublish';
  readonly now: () => number;
  private readonly feeds = new Set<ContainerFeed>();
  /** The connection problem last logged, so a repeating error is logged once. */
  private problem: ValkeyProblem | null = null;
  private everReady = false;
  private lostAt: number | null = null;
  private closed = false;
  private firstAttempt: Promise<void> | null = null;
  private readonly deadline: Deadline;

  constructor(private readonly opts: HostPublisherOptions) {
    this.now = opts.now ?? Date.now;
    this.deadline = new Deadline(opts.commandTimeoutMs);
    const cluster = opts.valkey.cluster !== null;
    this.publishCommand = cluster ? 'spublish' : 'publish';
    this.client = createValkeyClient(
      opts.valkey,
      {
        lazyConnect: true,
        enableOfflineQueue: false,
        // A sample that failed is skipped and counted; the next tick sends a fresh
        // one. ioredis must not replay the old one after a reconnect (it would land
        // after newer data, and samples counted as skipped would be stored twice).
        maxRetriesPerRequest: 0,
        autoResendUnfulfilledCommands: false,
        // No per-command timeout: ioredis would arm a timer for each command
        // (~170 µs of CPU per sidecar tick under lite mode, measured by
        // scripts/bench-publish.ts); each write has one deadline of its own.
        // A cluster's node connections do get one: a frozen node there is not
        // replaced by dropping the whole client (batchFailed), so its commands
        // must not wait forever.
        ...(cluster ? { commandTimeout: opts.commandTimeoutMs } : {}),
        connectTimeout: Math.max(1000, opts.commandTimeoutMs),
        keepAlive: 10_000,
        autoResubscribe: false,
        retryStrategy: (attempt) => (this.closed ? null : reconnectDelayMs(attempt, this.problem?.kind ?? null)),
        sentinelRetryStrategy: (attempt) => (this.closed ? null : reconnectDelayMs(attempt, this.problem?.kind ?? null)),
      },
      // While a master is down a cluster client retries its commands every
      // 100 ms: stop about when the write's deadline does, so a skipped
      // sample does not land later than the next one.
      { maxRedirections: Math.max(3, Math.floor(opts.commandTimeoutMs / 100)) },
    );
    this.client.on('error', (err: unknown) => {
      this.connectionProblem(classifyValkeyError(err, opts.valkey));
    });
    this.client.on('ready', () => {
      this.onReady();
    });
    this.client.on('close', () => {
      this.onLost();
    });
  }

  get connected(): boolean {
    return this.client.status === 'ready';
  }

  /** Starts connecting; never throws (an unreachable Valkey is retried in the background). */
  start(): void {
    this.firstAttempt = new Promise<void>((resolve) => {
      const settle = (): void => {
        for (const ev of ['ready', 'error', 'close'] as const) this.client.off(ev, settle);
        resolve();
      };
      for (const ev of ['ready', 'error', 'close'] as const) this.client.on(ev, settle);
    });
    this.client.connect().catch(() => undefined);
  }

  /** A container to publish for; `drop` it when the container is gone. */
  feed(name: string): ContainerFeed {
    const f = new ContainerFeed(name, this);
    this.feeds.add(f);
    return f;
  }

  drop(feed: ContainerFeed): void {
    this.feeds.delete(feed);
  }

  /** One tick: every container's sample in one pipeline. Returns, per sample, whether it was written. */
  async publishAll(samples: readonly FeedSample[]): Promise<boolean[]> {
    // After its final write no tick may overwrite a container's "exited" sample.
    const writes = samples.map((s) => ({ ...s, skip: s.feed.finalSent }));
    const live = writes.filter((w) => !w.skip);
    const done = await this.write(live.map((w) => ({ feed: w.feed, payload: w.payload, ttlSeconds: this.opts.ttlSeconds, history: true })));
    let i = 0;
    return writes.map((w) => (w.skip ? false : (done[i++] ?? false)));
  }

  /** A container's last write (it stopped): `status: "exited"` with a short ttl, no history entry. */
  async publishFinal(feed: ContainerFeed, payload: Payload, ttlSeconds: number): Promise<boolean> {
    feed.finalSent = true;
    const [ok] = await this.write([{ feed, payload, ttlSeconds, history: false }]);
    return ok ?? false;
  }

  private async write(items: { feed: ContainerFeed; payload: Payload; ttlSeconds: number; history: boolean }[]): Promise<boolean[]> {
    if (items.length === 0) return [];
    // The first samples are ready before the first connection: wait for that
    // attempt (bounded by the deadline), as the sidecar does.
    if (!this.connected && !this.everReady && this.firstAttempt !== null) await settledWithin(this.firstAttempt, this.opts.commandTimeoutMs);
    if (!this.connected) {
      for (const it of items) it.feed.skipped += 1;
      return items.map(() => false);
    }
    const nowMs = this.now();
    const all: BatchCommand[] = [];
    const parts = items.map((it) => {
      const events = it.feed.pending;
      it.feed.pending = [];
      const cmds = sampleCommands({
        name: it.feed.name,
        payload: it.payload,
        ttlSeconds: it.ttlSeconds,
        history: it.history,
        historyLength: this.opts.historyLength,
        logTtlSeconds: this.opts.logTtlSeconds,
        publishCommand: this.publishCommand,
        nowMs,
        events,
      });
      const start = all.length;
      for (const c of cmds) all.push(c);
      return { feed: it.feed, events, start, end: all.length };
    });
    let results: BatchResult;
    try {
      results = await this.deadline.race(execBatch(this.client, all));
    } catch (err) {
      this.batchFailed(err, parts);
      return parts.map(() => false);
    }
    const success = new Date(nowMs).toISOString();
    return parts.map((p) => this.settle(p.feed, p.events, results.slice(p.start, p.end), success));
  }

  /** One container's replies: its SET decides whether its sample counts; a failed side write is noted. */
  private settle(feed: ContainerFeed, events: PendingLog[], results: BatchResult, success: string): boolean {
    const first = results[0];
    const setError = first === undefined ? new Error('no reply to the metrics SET') : first[0];
    if (setError !== null) {
      feed.skipped += 1;
      feed.requeue(events);
      this.feedProblem(feed, setError);
      return false;
    }
    feed.published += 1;
    feed.lastSuccess = success;
    const sideError = results.find(([err]) => err !== null)?.[0] ?? null;
    if (sideError !== null) {
      this.feedProblem(feed, sideError);
    } else {
      feed.lastError = null;
      feed.problem = null;
    }
    return true;
  }

  /** A container's own command failed (its key refused, a foreign key of the wrong type): logged once per message. */
  private feedProblem(feed: ContainerFeed, err: Error): void {
    const problem = classifyValkeyError(err, this.opts.valkey);
    feed.lastError = problem.message;
    if (feed.problem === problem.message) return;
    feed.problem = problem.message;
    this.opts.log.error({ valkey: describeValkey(this.opts.valkey), kind: problem.kind, container: feed.name }, problem.message);
  }

  /** The whole write failed (timeout, connection lost): every sample in it is skipped, their events kept. */
  private batchFailed(err: unknown, parts: { feed: ContainerFeed; events: PendingLog[] }[]): void {
    const problem = classifyValkeyError(err, this.opts.valkey);
    for (const p of parts) {
      p.feed.skipped += 1;
      p.feed.requeue(p.events);
    }
    this.connectionProblem(problem);
    if (problem.kind === 'timeout' && this.client.status === 'ready' && !isCluster(this.client)) {
      // A stopped or wedged server keeps the TCP connection open: replace it
      // (a cluster client is left to its node connections' own deadlines).
      this.opts.log.warn({ valkey: describeValkey(this.opts.valkey) }, 'Valkey did not answer; replacing the connection');
      this.client.disconnect(true);
    }
  }

  private connectionProblem(problem: ValkeyProblem): void {
    for (const f of this.feeds) f.lastError = problem.message;
    if (this.problem?.message === problem.message) return;
    const kindChanged = this.problem?.kind !== problem.kind;
    this.problem = problem;
    if (kindChanged || !isTransient(problem.kind)) {
      this.opts.log.error({ valkey: describeValkey(this.opts.valkey), kind: problem.kind }, problem.message);
    }
  }

  private onReady(): void {
    const where = describeValkey(this.opts.valkey);
    if (!this.everReady) {
      this.everReady = true;
      this.opts.log.info({ valkey: where }, 'Valkey connected; publishing');
    } else if (this.lostAt !== null) {
      const s = ((this.now() - this.lostAt) / 1000).toFixed(1);
      this.opts.log.info({ valkey: where, outage_seconds: Number(s) }, 'Valkey back; publishing again');
      const lostIso = new Date(this.lostAt).toISOString();
      for (const f of this.feeds) f.event('warn', `Valkey connection lost at ${lostIso}, back after ${s} s (${f.skipped} samples skipped so far)`);
    }
    for (const f of this.feeds) {
      if (f.droppedEvents === 0) continue;
      f.event('warn', `${f.droppedEvents} log events were dropped while Valkey was unreachable`);
      f.droppedEvents = 0;
    }
    this.lostAt = null;
    this.problem = null;
  }

  private onLost(): void {
    if (this.closed || !this.everReady || this.lostAt !== null) return;
    this.lostAt = this.now();
    this.opts.log.warn({ valkey: describeValkey(this.opts.valkey) }, 'Valkey connection lost; sampling goes on, samples are skipped until it is back');
  }

  /** Closes the connection: QUIT when it answers quickly, else drop it. */
  async close(timeoutMs = 300): Promise<void> {
    this.closed = true;
    this.deadline.stop();
    if (this.client.status === 'ready') {
      await Promise.race([this.client.quit().catch(() => undefined), new Promise((r) => setTimeout(r, timeoutMs).unref())]);
    }
    this.client.disconnect(false);
  }
}

/**
 * The write's deadline on one timer, re-armed per write (a timer per
 * command costs more than the bookkeeping it guards, publish.ts). Writes of
 * one publisher may overlap (a container's final sample during a tick), so
 * each keeps its own rejecter and the timer fails the oldest still open.
 */
class Deadline {
  private readonly open = new Map<number, { at: number; reject: (err: Error) => void }>();
  private next = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly ms: number) {
    this.timer = setTimeout(() => {
      this.expire();
    }, ms);
    this.timer.unref();
  }

  private expire(): void {
    const now = performance.now();
    for (const [id, w] of this.open) {
      if (now - w.at < this.ms - 1) continue;
      this.open.delete(id);
      w.reject(new Error(`Command timed out after ${this.ms} ms`));
    }
    if (this.open.size > 0) this.timer.refresh();
  }

  async race<T>(p: Promise<T>): Promise<T> {
    const id = this.next++;
    const expired = new Promise<never>((_, reject) => {
      this.open.set(id, { at: performance.now(), reject });
    });
    this.timer.refresh();
    try {
      return await Promise.race([p, expired]);
    } finally {
      this.open.delete(id);
    }
  }

  stop(): void {
    clearTimeout(this.timer);
  }
}
