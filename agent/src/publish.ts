import type { Logger } from 'pino';
import type { Payload, PublishStatus } from '../../shared/src/payload.js';
import { execBatch } from '../../shared/src/valkey-batch.js';
import { createValkeyClient, describeValkey, isCluster, type ValkeyClient, type ValkeyConfig } from '../../shared/src/valkey.js';
import { sampleCommands, type PendingLog } from './sample-commands.js';
import { classifyValkeyError, isTransient, reconnectDelayMs, settledWithin, type ValkeyProblem } from './valkey-errors.js';

export interface PublisherOptions {
  valkey: ValkeyConfig;
  containerName: string;
  /** `SET .. EX` of the metrics key. */
  ttlSeconds: number;
  /** `XADD .. MAXLEN ~` of the history stream. */
  historyLength: number;
  /** Expiry of Sirius log keys (and of their index entries). */
  logTtlSeconds: number;
  /** Deadline for each command; a server that does not answer in time has its connection replaced. */
  commandTimeoutMs: number;
  log: Logger;
  /** Wall clock in unix ms (tests fix it). */
  now?: () => number;
}

export type LogLevel = 'info' | 'warn' | 'error';

/** Events kept while Valkey is away; older ones are dropped (and counted) beyond this. */
const MAX_PENDING_EVENTS = 32;

/**
 * Writes each sample to Valkey in one round trip and keeps nothing else:
 * while Valkey is unreachable a sample is skipped, never queued (ioredis'
 * offline queue is off, each command has a deadline), so memory stays flat
 * however long the outage lasts. State changes (connected, lost, back, each
 * distinct error) are logged once, and become Sirius log entries written
 * once Valkey is back.
 */
export class Publisher {
  private readonly client: ValkeyClient;
  /** A cluster takes the sample on the sharded channel (SPUBLISH): plain PUBLISH is copied to every node. */
  private readonly publishCommand: 'publish' | 'spublish';
  private readonly now: () => number;
  private published = 0;
  private skipped = 0;
  private lastError: string | null = null;
  private lastSuccess: string | null = null;
  /** The problem last logged, so a repeating error is logged once. */
  private problem: ValkeyProblem | null = null;
  private everReady = false;
  private lostAt: number | null = null;
  private pending: PendingLog[] = [];
  private droppedEvents = 0;
  private lastNanos = 0n;
  private closed = false;
  private finalSent = false;
  /** Settles when the first connection attempt has succeeded or failed. */
  private firstAttempt: Promise<void> | null = null;
  private readonly deadline: Deadline;

  constructor(private readonly opts: PublisherOptions) {
    this.now = opts.now ?? Date.now;
    this.deadline = new Deadline(opts.commandTimeoutMs);
    const cluster = opts.valkey.cluster !== null;
    this.publishCommand = cluster ? 'spublish' : 'publish';
    this.client = createValkeyClient(opts.valkey, {
      lazyConnect: true,
      enableOfflineQueue: false,
      // A sample that failed is skipped and counted; the next tick sends a fresh
      // one. ioredis must not replay the old one after a reconnect (it would land
      // after newer data, and samples counted as skipped would be stored twice).
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      // No per-command timeout: ioredis would arm a timer for each of the
      // tick's four commands (~170 µs of CPU per tick under lite mode,
      // measured by scripts/bench-publish.ts); the pipeline has one deadline
      // of its own in write(). A cluster's node connections do get one: a
      // frozen node there is not replaced by dropping the whole client (see
      // failed()), so its commands must not wait forever.
      ...(cluster ? { commandTimeout: opts.commandTimeoutMs } : {}),
      connectTimeout: Math.max(1000, opts.commandTimeoutMs),
      keepAlive: 10_000,
      autoResubscribe: false,
      retryStrategy: (attempt) => (this.closed ? null : reconnectDelayMs(attempt, this.problem?.kind ?? null)),
      sentinelRetryStrategy: (attempt) => (this.closed ? null : reconnectDelayMs(attempt, this.problem?.kind ?? null)),
    }, {
      // While a master is down a cluster client retries its commands every
      // 100 ms: stop about when the write's deadline does, so a skipped
      // sample does not land later than the next one.
      maxRedirections: Math.max(3, Math.floor(opts.commandTimeoutMs / 100)),
    });
    this.client.on('error', (err: unknown) => {
      this.noteProblem(classifyValkeyError(err, opts.valkey));
    });
    this.client.on('ready', () => {
      this.onReady();
    });
    this.client.on('close', () => {
      this.onLost();
    });
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

  get connected(): boolean {
    return this.client.status === 'ready';
  }

  status(): PublishStatus {
    return {
      published_total: this.published,
      skipped_total: this.skipped,
      connected: this.connected,
      last_error: this.lastError,
      last_success: this.lastSuccess,
    };
  }

  /** Records a real event as a Sirius log entry, written with the next successful publish. */
  event(level: LogLevel, message: string): void {
    const unixMs = this.now();
    let nanos = BigInt(unixMs) * 1_000_000n;
    if (nanos <= this.lastNanos) nanos = this.lastNanos + 1n;
    this.lastNanos = nanos;
    this.pending.push({ level, message, unixMs, unixNanos: nanos });
    if (this.pending.length > MAX_PENDING_EVENTS) {
      this.pending.shift();
      this.droppedEvents += 1;
    }
  }

  /** One round trip: latest sample, registry, history, pub/sub, and pending log entries. Returns whether the sample was written. */
  async publish(payload: Payload): Promise<boolean> {
    // After the final write no tick may overwrite the "exited" sample (a slow
    // tick can still be finishing while the agent stops).
    if (this.finalSent) return false;
    return this.write(payload, this.opts.ttlSeconds, true);
  }

  /** The last write on a clean stop: `status: "exited"` with a short ttl, no history entry. */
  async publishFinal(payload: Payload, ttlSeconds: number): Promise<boolean> {
    this.finalSent = true;
    return this.write(payload, ttlSeconds, false);
  }

  private async write(payload: Payload, ttlSeconds: number, history: boolean): Promise<boolean> {
    // The first sample is ready a few ms after start, usually before the first
    // connection: wait for that attempt (bounded by the command deadline)
    // instead of skipping the sample. Later outages are never waited for.
    if (!this.connected && !this.everReady && this.firstAttempt !== null) await settledWithin(this.firstAttempt, this.opts.commandTimeoutMs);
    if (!this.connected) {
      this.skipped += 1;
      return false;
    }
    const nowMs = this.now();
    const events = this.pending;
    this.pending = [];
    // The sample's SET first: its result decides whether the sample counts as written.
    const cmds = sampleCommands({
      name: this.opts.containerName,
      payload,
      ttlSeconds,
      history,
      historyLength: this.opts.historyLength,
      logTtlSeconds: this.opts.logTtlSeconds,
      publishCommand: this.publishCommand,
      nowMs,
      events,
    });
    let results: [Error | null, unknown][];
    try {
      results = await this.deadline.race(execBatch(this.client, cmds));
    } catch (err) {
      return this.failed(err, events);
    }
    const firstError = results.find(([err]) => err !== null)?.[0] ?? null;
    const setError = results[0]?.[0] ?? null;
    if (setError !== null) return this.failed(setError, events);
    this.published += 1;
    this.lastSuccess = new Date(nowMs).toISOString();
    if (firstError !== null) {
      // The sample is stored; a side write failed (e.g. a foreign key of the wrong type). Say so once.
      this.noteProblem(classifyValkeyError(firstError, this.opts.valkey));
    } else {
      this.lastError = null;
      this.problem = null;
    }
    return true;
  }

  private failed(err: unknown, events: PendingLog[]): false {
    this.skipped += 1;
    // Nothing is lost but the sample itself; events go back for the next write.
    this.pending = [...events, ...this.pending].slice(-MAX_PENDING_EVENTS);
    const problem = classifyValkeyError(err, this.opts.valkey);
    this.noteProblem(problem);
    if (problem.kind === 'timeout' && this.client.status === 'ready' && !isCluster(this.client)) {
      // A stopped or wedged server keeps the TCP connection open: replace it
      // rather than keep sending into it. A cluster client is left alone: one
      // slow node must not cut the agent off the others, its node connections
      // time out by themselves and it follows a failover on its own.
      this.opts.log.warn({ valkey: describeValkey(this.opts.valkey) }, 'Valkey did not answer; replacing the connection');
      this.client.disconnect(true);
    }
    return false;
  }

  private noteProblem(problem: ValkeyProblem): void {
    this.lastError = problem.message;
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
      this.event('warn', `Valkey connection lost at ${new Date(this.lostAt).toISOString()}, back after ${s} s (${this.skipped} samples skipped so far)`);
    }
    if (this.droppedEvents > 0) {
      this.event('warn', `${this.droppedEvents} log events were dropped while Valkey was unreachable`);
      this.droppedEvents = 0;
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
 * One deadline at a time, on one timer made once and re-armed with
 * `refresh()` for each write: making and clearing a timer per write (or
 * ioredis' per-command timers) costs more CPU than the write's own
 * bookkeeping under lite mode (scripts/bench-publish.ts).
 */
class Deadline {
  private reject: ((err: Error) => void) | null = null;
  private readonly timer: NodeJS.Timeout;

  constructor(ms: number) {
    this.timer = setTimeout(() => {
      this.reject?.(new Error(`Command timed out after ${ms} ms`));
      this.reject = null;
    }, ms);
    this.timer.unref();
  }

  /** `p`, or a "Command timed out" error (classified as a timeout, like ioredis' own) after the deadline. */
  async race<T>(p: Promise<T>): Promise<T> {
    const expired = new Promise<never>((_, reject) => {
      this.reject = reject;
    });
    this.timer.refresh();
    try {
      return await Promise.race([p, expired]);
    } finally {
      this.reject = null;
    }
  }

  stop(): void {
    clearTimeout(this.timer);
  }
}
