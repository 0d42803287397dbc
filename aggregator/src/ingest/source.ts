import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { CONTAINERS_KEY, METRICS_CHANNEL, metricsKey } from '../../../shared/src/keys.js';
import { ioredisOptions } from '../../../shared/src/valkey.js';
import type { IngestEvent, IngestSettings } from './protocol.js';
import { parseSample, sampleIdentity } from './sample.js';

/** Identity recorded for a key that was missing, so a poll does not resend the same null. */
const GONE = '∅';

/** Samples per message to the main thread, by size (UTF-16 code units; samples are ASCII). */
const MAX_BATCH_CHARS = 64 * 1024;

type Checked = { kind: 'same' } | { kind: 'invalid' } | { kind: 'changed'; raw: string | null };
const SAME: Checked = { kind: 'same' };
const INVALID: Checked = { kind: 'invalid' };

/**
 * Everything the fleet view reads from Valkey: the registry, the latest
 * samples (chunked MGET) and the pub/sub channel, each value validated with
 * the payload schema. It runs on its own thread (`worker.ts`): JSON parsing,
 * validation and the RESP decoding of ~2,000 samples a second at 10,000
 * containers were two thirds of the aggregator's main-thread time, and
 * every request waited behind them. What it emits is only what changed.
 */
export class IngestSource {
  private cmd: Redis | null = null;
  private sub: Redis | null = null;
  private pollTimer: NodeJS.Timeout | null = null;
  private polling: Promise<void> | null = null;
  /** `sampleIdentity` of the value last emitted for each container (GONE for a missing key). */
  private readonly sent = new Map<string, string>();
  private readonly warnedKeys = new Set<string>();
  private pending: string[] = [];
  private pendingInvalid = 0;
  private pendingBytes = 0;
  private flushScheduled = false;
  private up: boolean | null = null;

  constructor(
    private readonly settings: IngestSettings,
    private readonly emit: (e: IngestEvent) => void,
    private readonly log: Logger,
  ) {}

  start(): void {
    const common = {
      ...ioredisOptions(this.settings.valkey),
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      connectTimeout: 2000,
      retryStrategy: (attempt: number) => Math.round(Math.min(2000, 100 * 2 ** Math.min(attempt, 10)) * (0.5 + Math.random() * 0.5)),
    };
    this.cmd = new Redis({ ...common, commandTimeout: 5000 });
    this.sub = new Redis({ ...common, autoResubscribe: false });
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
    this.sub.on('ready', () => {
      // Resubscribe by hand after each reconnect, then re-sync: messages sent while away are lost.
      this.sub?.subscribe(METRICS_CHANNEL).then(() => this.poll(), () => undefined);
    });
    this.sub.on('message', (_channel: string, raw: string) => {
      this.onMessage(raw);
    });
    this.cmd.connect().catch(() => undefined);
    this.sub.connect().catch(() => undefined);
    this.pollTimer = setInterval(() => void this.poll(), this.settings.pollMs);
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
    const parsed = parseSample(raw);
    if (!parsed.ok) {
      this.invalid(METRICS_CHANNEL, parsed.error);
      this.pendingInvalid += 1;
    } else {
      const id = sampleIdentity(raw);
      if (id !== null) this.sent.set(parsed.payload.container_name, id);
      this.pending.push(raw);
      this.pendingBytes += raw.length;
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
    if (this.pending.length === 0 && this.pendingInvalid === 0) return;
    const raws = this.pending;
    const invalid = this.pendingInvalid;
    this.pending = [];
    this.pendingInvalid = 0;
    this.pendingBytes = 0;
    this.emit({ type: 'samples', raws, invalid });
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
      for (let i = 0; i + 1 < flat.length; i += 2) {
        names.push(flat[i] ?? '');
        scores.push(Number(flat[i + 1]));
      }
      // Samples emitted before the registry must reach the main thread first (it adds unknown containers from them).
      this.flush();
      this.emit({ type: 'poll-registry', names, scores });
      const live = new Set(names);
      for (const n of this.sent.keys()) if (!live.has(n)) this.sent.delete(n);
      const chunk = this.settings.chunk;
      for (let i = 0; i < names.length; i += chunk) {
        const part = names.slice(i, i + chunk);
        busy += performance.now() - mark;
        const values = await cmd.mget(part.map(metricsKey));
        mark = performance.now();
        const outNames: string[] = [];
        const outRaws: (string | null)[] = [];
        let invalid = 0;
        part.forEach((name, j) => {
          const r = this.check(name, values[j] ?? null);
          if (r.kind === 'invalid') invalid += 1;
          else if (r.kind === 'changed') {
            outNames.push(name);
            outRaws.push(r.raw);
          }
        });
        this.flush();
        if (outNames.length > 0 || invalid > 0) this.emit({ type: 'poll-values', names: outNames, raws: outRaws, invalid });
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
      return { kind: 'changed', raw: null };
    }
    const id = sampleIdentity(raw);
    if (id !== null && id === this.sent.get(name)) return SAME;
    const key = metricsKey(name);
    const parsed = parseSample(raw);
    if (!parsed.ok) {
      this.invalid(key, parsed.error);
      return INVALID;
    }
    if (parsed.payload.container_name !== name) {
      this.invalid(key, `container_name "${parsed.payload.container_name}" does not match the key`);
      return INVALID;
    }
    this.warnedKeys.delete(key);
    if (id !== null) this.sent.set(name, id);
    else this.sent.delete(name);
    return { kind: 'changed', raw };
  }

  private invalid(where: string, error: string): void {
    if (this.warnedKeys.has(where)) return;
    this.warnedKeys.add(where);
    this.log.warn({ key: where, error }, 'skipping a value that is not a valid sample');
  }

  private noteValkey(up: boolean, err?: unknown): void {
    if (this.up === up) return;
    this.up = up;
    this.emit({ type: 'valkey', up, error: err instanceof Error ? err.message : null });
  }
}
