import type { Cluster } from 'ioredis';
import type { Logger } from 'pino';
import { isContainerName } from '../../../shared/src/container-name.js';
import { LogOnce } from '../../../shared/src/log-once.js';
import { CONTAINERS_KEY, METRICS_CHANNEL, metricsKey } from '../../../shared/src/keys.js';
import { getMany } from '../../../shared/src/valkey-batch.js';
import { createValkeyClient, isCluster, type ValkeyClient } from '../../../shared/src/valkey.js';
import { packSample } from './pack.js';
import type { IngestEvent, IngestSettings, Rejected } from './protocol.js';
import { parseSample, sampleIdentity, type RejectReason } from './sample.js';

/** Identity recorded for a key that was missing, so a poll does not resend the same null. */
const GONE = '∅';

/** Samples per message to the main thread, by size (UTF-16 code units; samples are ASCII). */
const MAX_BATCH_CHARS = 64 * 1024;

type Checked = { kind: 'same' } | { kind: 'invalid'; reason: RejectReason } | { kind: 'changed'; raw: string | null; packed: Uint8Array | null };
const SAME: Checked = { kind: 'same' };

/** A registry score further ahead than this is not a write time (clock skew between hosts is seconds). */
const MAX_FUTURE_SCORE_MS = 3_600_000;
/** (where, reason) pairs remembered for log-once; beyond this, rejections are counted but not logged one by one. */
const MAX_WARNED = 10_000;

function count(r: Rejected, reason: RejectReason): void {
  r[reason] = (r[reason] ?? 0) + 1;
}

/**
 * Everything the fleet view reads from Valkey: the registry, the latest
 * samples (chunked MGET) and the pub/sub channel, each value validated with
 * the payload schema. It runs on its own thread (`worker.ts`): JSON parsing,
 * validation and the RESP decoding of ~2,000 samples a second at 10,000
 * containers were two thirds of the aggregator's main-thread time, and
 * every request waited behind them. What it emits is only what changed.
 */
export class IngestSource {
  private cmd: ValkeyClient | null = null;
  private sub: ValkeyClient | null = null;
  private pollTimer: NodeJS.Timeout | null = null;
  private polling: Promise<void> | null = null;
  /** `sampleIdentity` of the value last emitted for each container (GONE for a missing key). */
  private readonly sent = new Map<string, string>();
  private readonly warned: LogOnce;
  private pending: string[] = [];
  private pendingPacked: Uint8Array[] = [];
  private pendingRejected: Rejected = {};
  private pendingBytes = 0;
  /** Names in the registry at the last poll: only they are taken from pub/sub. */
  private registered = new Set<string>();
  private flushScheduled = false;
  private up: boolean | null = null;

  constructor(
    private readonly settings: IngestSettings,
    private readonly emit: (e: IngestEvent) => void,
    private readonly log: Logger,
  ) {
    this.warned = new LogOnce(MAX_WARNED, () => {
      log.warn({ remembered: MAX_WARNED }, 'refused values from more places than are logged one by one; see system_monitor_rejected_values_total');
    });
  }

  start(): void {
    const valkey = this.settings.valkey;
    const common = {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      connectTimeout: 2000,
      retryStrategy: (attempt: number) => Math.round(Math.min(2000, 100 * 2 ** Math.min(attempt, 10)) * (0.5 + Math.random() * 0.5)),
    };
    this.cmd = createValkeyClient(valkey, { ...common, commandTimeout: 5000 });
    this.sub = createValkeyClient(valkey, { ...common, autoResubscribe: false }, { shardedSubscribers: true });
    for (const c of [this.cmd, this.sub]) {
      c.on('error', (err: unknown) => {
        this.noteValkey(false, err);
      });
    }
    this.cmd.on('ready', () => {
      this.noteValkey(true);
      void this.poll();
    });
    this.cmd.on('close', () => {
      this.noteValkey(false);
    });
    if (isCluster(this.sub)) this.subscribeSharded(this.sub);
    else {
      const sub = this.sub;
      sub.on('ready', () => {
        // Resubscribe by hand after each reconnect, then re-sync: messages sent while away are lost.
        sub.subscribe(METRICS_CHANNEL).then(() => this.poll(), () => undefined);
      });
      sub.on('message', (_channel: string, raw: string) => {
        this.onMessage(raw);
      });
    }
    this.cmd.connect().catch(() => undefined);
    this.sub.connect().catch(() => undefined);
    this.pollTimer = setInterval(() => void this.poll(), this.settings.pollMs);
  }

  /**
   * A cluster's agents SPUBLISH, so the channel lives on the master owning
   * its slot. The cluster client keeps the SSUBSCRIBE itself, moving it to
   * whichever master owns the slot after a failover; each time it had to
   * make a new subscriber connection, messages may have been lost meanwhile,
   * so a re-sync follows once the subscriptions are back.
   */
  private subscribeSharded(sub: Cluster): void {
    let subscribed = false;
    let resync = false;
    // A cluster client says 'ready' once, not after each node's reconnect: a
    // first SSUBSCRIBE that fails (a slot still moving) is tried again here.
    const subscribe = (): void => {
      if (subscribed || sub.status === 'end') return;
      sub.ssubscribe(METRICS_CHANNEL).then(
        () => {
          subscribed = true;
          return this.poll();
        },
        () => {
          setTimeout(subscribe, 1000).unref();
        },
      );
    };
    sub.on('ready', subscribe);
    sub.on('+subscriber', () => {
      resync = true;
    });
    sub.on('subscribersReady', () => {
      if (!resync) return;
      resync = false;
      void this.poll();
    });
    sub.on('smessage', (_channel: string, raw: string) => {
      this.onMessage(raw);
    });
  }

  async stop(): Promise<void> {
    if (this.pollTimer) clearInterval(this.pollTimer);
    await this.polling;
    this.flush();
    this.cmd?.disconnect();
    this.sub?.disconnect();
  }

  /** Full re-sync; concurrent callers share one run. */
  poll(): Promise<void> {
    this.polling ??= this.doPoll().finally(() => {
      this.polling = null;
    });
    return this.polling;
  }

  private onMessage(raw: string): void {
    const parsed = parseSample(raw, this.settings.maxSampleBytes);
    if (!parsed.ok) {
      this.invalid(`${METRICS_CHANNEL} (pub/sub)`, parsed.reason, parsed.error);
      count(this.pendingRejected, parsed.reason);
    } else if (!this.registered.has(parsed.payload.container_name)) {
      // Not (yet) in the registry: the agent adds itself before it publishes, so
      // the next poll takes a real container's sample; a made-up name never gets in.
      count(this.pendingRejected, 'unregistered');
    } else {
      const id = sampleIdentity(raw);
      if (id !== null) this.sent.set(parsed.payload.container_name, id);
      this.pending.push(parsed.json);
      this.pendingPacked.push(packSample(parsed.json));
      this.pendingBytes += parsed.json.length;
    }
    // One message per turn of this thread's event loop (a socket read holds
    // many samples), and at most ~64 kB per message: the main thread applies
    // one message per turn, so requests and socket writes get turns between.
    if (this.pendingBytes >= MAX_BATCH_CHARS) {
      this.flush();
      return;
    }
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    if (this.pending.length === 0 && Object.keys(this.pendingRejected).length === 0) return;
    const raws = this.pending;
    const packed = this.pendingPacked;
    const rejected = this.pendingRejected;
    this.pending = [];
    this.pendingPacked = [];
    this.pendingRejected = {};
    this.pendingBytes = 0;
    this.emit({ type: 'samples', raws, packed, rejected });
  }

  private async doPoll(): Promise<void> {
    const cmd = this.cmd;
    if (cmd?.status !== 'ready') return;
    const t0 = performance.now();
    let busy = 0;
    let mark = 0;
    try {
      const cutoff = Date.now() - this.settings.retentionMs;
      await cmd.zremrangebyscore(CONTAINERS_KEY, '-inf', `(${cutoff}`);
      const flat = await cmd.zrangebyscore(CONTAINERS_KEY, cutoff, '+inf', 'WITHSCORES');
      mark = performance.now();
      const names: string[] = [];
      const scores: number[] = [];
      const rejectedEntries: Rejected = {};
      const latest = Date.now() + MAX_FUTURE_SCORE_MS;
      for (let i = 0; i + 1 < flat.length; i += 2) {
        const name = flat[i] ?? '';
        const score = Number(flat[i + 1]);
        if (!isContainerName(name)) {
          count(rejectedEntries, 'bad_name');
          this.invalid(`${CONTAINERS_KEY} entry ${JSON.stringify(name.slice(0, 100))}`, 'bad_name', 'not a container name (empty, over 200 characters, or with whitespace, ":" or glob characters)');
        } else if (!Number.isFinite(score) || score > latest) {
          count(rejectedEntries, 'bad_score');
          this.invalid(`${CONTAINERS_KEY} entry ${name}`, 'bad_score', `score ${flat[i + 1] ?? '?'} is not a recent unix time in ms`);
        } else {
          names.push(name);
          scores.push(score);
        }
      }
      // Samples emitted before the registry must reach the main thread first (it adds unknown containers from them).
      this.flush();
      this.emit({ type: 'poll-registry', names, scores, rejected: rejectedEntries });
      const live = new Set(names);
      this.registered = live;
      for (const n of this.sent.keys()) if (!live.has(n)) this.sent.delete(n);
      const chunk = this.settings.chunk;
      for (let i = 0; i < names.length; i += chunk) {
        const part = names.slice(i, i + chunk);
        busy += performance.now() - mark;
        const values = await getMany(cmd, part.map(metricsKey));
        mark = performance.now();
        const outNames: string[] = [];
        const outRaws: (string | null)[] = [];
        const outPacked: (Uint8Array | null)[] = [];
        const rejected: Rejected = {};
        part.forEach((name, j) => {
          const r = this.check(name, values[j] ?? null);
          if (r.kind === 'invalid') count(rejected, r.reason);
          else if (r.kind === 'changed') {
            outNames.push(name);
            outRaws.push(r.raw);
            outPacked.push(r.packed);
          }
        });
        this.flush();
        if (outNames.length > 0 || Object.keys(rejected).length > 0) this.emit({ type: 'poll-values', names: outNames, raws: outRaws, packed: outPacked, rejected });
      }
      busy += performance.now() - mark;
      this.emit({ type: 'poll-done', wallMs: performance.now() - t0, busyMs: busy });
    } catch (err) {
      const error = err instanceof Error ? err.message : String(err);
      this.log.warn({ err: error }, 'fleet poll failed; keeping the last view');
      this.emit({ type: 'poll-failed', error, wallMs: performance.now() - t0 });
    }
  }

  /** A polled value: unchanged since last emitted, invalid, or changed (raw null: the key is gone). */
  private check(name: string, raw: string | null): Checked {
    if (raw === null) {
      if (this.sent.get(name) === GONE) return SAME;
      this.sent.set(name, GONE);
      return { kind: 'changed', raw: null, packed: null };
    }
    const id = sampleIdentity(raw);
    if (id !== null && id === this.sent.get(name)) return SAME;
    const key = metricsKey(name);
    const parsed = parseSample(raw, this.settings.maxSampleBytes);
    if (!parsed.ok) {
      this.invalid(key, parsed.reason, parsed.error);
      return { kind: 'invalid', reason: parsed.reason };
    }
    if (parsed.payload.container_name !== name) {
      this.invalid(key, 'name_mismatch', `container_name "${parsed.payload.container_name}" does not match the key`);
      return { kind: 'invalid', reason: 'name_mismatch' };
    }
    if (id !== null) this.sent.set(name, id);
    else this.sent.delete(name);
    return { kind: 'changed', raw: parsed.json, packed: packSample(parsed.json) };
  }

  /** Logs a refused value once per place and reason (a bounded memory of what was logged). */
  private invalid(where: string, reason: RejectReason, error: string): void {
    if (!this.warned.first(`${where}\0${reason}`)) return;
    this.log.warn({ key: where, reason, error }, 'skipping a value that is not a valid sample');
  }

  private noteValkey(up: boolean, err?: unknown): void {
    if (this.up === up) return;
    this.up = up;
    this.emit({ type: 'valkey', up, error: err instanceof Error ? err.message : null });
  }
}
