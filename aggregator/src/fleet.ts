import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { CONTAINERS_KEY, METRICS_CHANNEL, metricsKey } from '../../shared/src/keys.js';
import { payloadSchema, type Payload } from '../../shared/src/payload.js';
import { describeValkey, ioredisOptions, type ValkeyConfig } from '../../shared/src/valkey.js';

export type ContainerStatus = 'ok' | 'stale' | 'offline' | 'exited';

export interface ContainerView {
  name: string;
  status: ContainerStatus;
  /** Registry score: when the agent last wrote, unix ms. */
  last_seen_ms: number;
  sample: Payload | null;
}

export type ParsedSample = { ok: true; payload: Payload } | { ok: false; error: string };

/** Validates one value read from Valkey against the wire contract. Never throws. */
export function parseSample(raw: string): ParsedSample {
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return { ok: false, error: 'not JSON' };
  }
  const r = payloadSchema.safeParse(json);
  if (r.success) return { ok: true, payload: r.data };
  const issue = r.error.issues[0];
  return { ok: false, error: issue ? `${issue.path.join('.') || '(root)'}: ${issue.message}` : 'invalid' };
}

/**
 * What identifies a sample without parsing it: its length, `timestamp` and
 * `seq`, found with native string search (~1 µs for a 4 kB value). A poll
 * re-reads every value, and parsing or hashing 10,000 of them each time cost
 * hundreds of milliseconds; keeping each raw string instead cost a third of
 * the live heap.
 */
export function sampleIdentity(raw: string): string | null {
  const t = raw.indexOf('"timestamp":"');
  const q = raw.indexOf('"seq":');
  if (t < 0 || q < 0) return null;
  const tEnd = raw.indexOf('"', t + 13);
  let qEnd = q + 6;
  while (qEnd < raw.length && raw.charCodeAt(qEnd) >= 48 && raw.charCodeAt(qEnd) <= 57) qEnd++;
  if (tEnd < 0 || tEnd - t > 60 || qEnd === q + 6) return null;
  // Numbers, not slices: a sliced string would keep the whole raw value alive.
  const ms = Date.parse(raw.slice(t + 13, tEnd));
  const seq = Number(raw.slice(q + 6, qEnd));
  return Number.isFinite(ms) ? `${raw.length}|${ms}|${seq}` : null;
}

export interface FleetOptions {
  valkey: ValkeyConfig;
  intervalMs: number;
  retentionMs: number;
  pollMs: number;
  log: Logger;
  now?: () => number;
  /** MGET chunk size (default 200); the event loop is yielded between chunks, so no stretch blocks it for long. */
  chunk?: number;
}

interface Entry {
  name: string;
  lastSeenMs: number;
  sample: Payload | null;
  /** `sampleIdentity` of the raw JSON of `sample`, so a poll does not parse an unchanged value again. */
  rawId: string | null;
  status: ContainerStatus;
}

export interface FleetStats {
  polls_total: number;
  poll_errors_total: number;
  last_poll_ms: number | null;
  /** Event-loop busy time during the last poll (its cost to everything else the process serves). */
  last_poll_loop_ms: number | null;
  invalid_payloads_total: number;
  samples_received_total: number;
}

/** `raw` is the sample's JSON exactly as published, so it can be forwarded without re-serialising. */
type SampleListener = (p: Payload, raw: string) => void;
type StatusListener = (name: string, from: ContainerStatus | null, to: ContainerStatus) => void;

/**
 * The live view of every container: the registry (sorted set) plus chunked
 * MGET of the latest samples, kept current between polls by the pub/sub
 * channel. Pub/sub is fire-and-forget, so a periodic poll stays the source of
 * truth and runs again after every reconnect. Nothing read from Valkey is
 * trusted: a foreign or corrupt value is skipped, counted and logged once per key.
 */
export class Fleet {
  private readonly entries = new Map<string, Entry>();
  /** Entries in name order; rebuilt only when a container is added or removed. */
  private sorted: Entry[] | null = null;
  private readonly now: () => number;
  private cmd: Redis | null = null;
  private sub: Redis | null = null;
  private pollTimer: NodeJS.Timeout | null = null;
  private statusTimer: NodeJS.Timeout | null = null;
  private polling: Promise<void> | null = null;
  private synced = false;
  private readonly warnedKeys = new Set<string>();
  /** Containers whose status was already emitted once (the first emission has no `from`). */
  private readonly announced = new Set<string>();
  private readonly sampleListeners: SampleListener[] = [];
  private readonly statusListeners: StatusListener[] = [];
  private valkeyWasUp: boolean | null = null;
  readonly stats: FleetStats = { polls_total: 0, poll_errors_total: 0, last_poll_ms: null, last_poll_loop_ms: null, invalid_payloads_total: 0, samples_received_total: 0 };

  constructor(private readonly opts: FleetOptions) {
    this.now = opts.now ?? Date.now;
  }

  onSample(fn: SampleListener): void {
    this.sampleListeners.push(fn);
  }

  onStatus(fn: StatusListener): void {
    this.statusListeners.push(fn);
  }

  start(): void {
    const common = {
      ...ioredisOptions(this.opts.valkey),
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      connectTimeout: 2000,
      retryStrategy: (attempt: number) => Math.round(Math.min(2000, 100 * 2 ** Math.min(attempt, 10)) * (0.5 + Math.random() * 0.5)),
    };
    this.cmd = new Redis({ ...common, commandTimeout: 2000 });
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
    this.pollTimer = setInterval(() => void this.poll(), this.opts.pollMs);
    this.statusTimer = setInterval(() => {
      this.refreshStatuses();
    }, 1000);
  }

  async stop(): Promise<void> {
    if (this.pollTimer) clearInterval(this.pollTimer);
    if (this.statusTimer) clearInterval(this.statusTimer);
    await this.polling;
    this.cmd?.disconnect();
    this.sub?.disconnect();
  }

  /** Valkey answering and at least one full sync done. */
  get ready(): boolean {
    return this.valkeyUp && this.synced;
  }

  /** The command connection, for reads outside the fleet view (logs); null before start. */
  get client(): Redis | null {
    return this.cmd;
  }

  get valkeyUp(): boolean {
    return this.cmd?.status === 'ready';
  }

  get size(): number {
    return this.entries.size;
  }

  list(): ContainerView[] {
    // Code-unit order: localeCompare costs ~1 µs a comparison, which a 10,000-row sort per request notices.
    this.sorted ??= [...this.entries.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return this.sorted.map((e) => this.view(e));
  }

  get(name: string): ContainerView | null {
    const e = this.entries.get(name);
    return e ? this.view(e) : null;
  }

  private view(e: Entry): ContainerView {
    return { name: e.name, status: e.status, last_seen_ms: e.lastSeenMs, sample: e.sample };
  }

  /** Full re-sync; concurrent callers share one run. */
  poll(): Promise<void> {
    this.polling ??= this.doPoll().finally(() => {
      this.polling = null;
    });
    return this.polling;
  }

  private async doPoll(): Promise<void> {
    const cmd = this.cmd;
    if (cmd?.status !== 'ready') return;
    const t0 = performance.now();
    // The poll's own event-loop time: the synchronous stretches between awaits.
    let busy = 0;
    let mark = 0;
    try {
      const now = this.now();
      const cutoff = now - this.opts.retentionMs;
      await cmd.zremrangebyscore(CONTAINERS_KEY, '-inf', `(${cutoff}`);
      const flat = await cmd.zrangebyscore(CONTAINERS_KEY, cutoff, '+inf', 'WITHSCORES');
      mark = performance.now();
      const seen = new Map<string, number>();
      for (let i = 0; i + 1 < flat.length; i += 2) seen.set(flat[i] ?? '', Number(flat[i + 1]));
      for (const name of [...this.entries.keys()]) if (!seen.has(name)) this.remove(name);
      const names = [...seen.keys()];
      const chunk = this.opts.chunk ?? 200;
      for (let i = 0; i < names.length; i += chunk) {
        const part = names.slice(i, i + chunk);
        busy += performance.now() - mark;
        const values = await cmd.mget(part.map(metricsKey));
        mark = performance.now();
        part.forEach((name, j) => {
          this.applyValue(name, seen.get(name) ?? 0, values[j] ?? null);
        });
      }
      this.synced = true;
      this.stats.polls_total += 1;
      this.refreshStatuses();
      busy += performance.now() - mark;
    } catch (err) {
      this.stats.poll_errors_total += 1;
      this.opts.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'fleet poll failed; keeping the last view');
    } finally {
      this.stats.last_poll_ms = performance.now() - t0;
      this.stats.last_poll_loop_ms = busy;
    }
  }

  private applyValue(name: string, lastSeenMs: number, raw: string | null): void {
    let e = this.entries.get(name);
    if (!e) {
      e = { name, lastSeenMs, sample: null, rawId: null, status: 'offline' };
      this.add(e);
    }
    e.lastSeenMs = Math.max(e.lastSeenMs, lastSeenMs);
    if (raw === null) {
      e.sample = null;
      e.rawId = null;
      return;
    }
    const id = sampleIdentity(raw);
    if (id !== null && id === e.rawId) return;
    const key = metricsKey(name);
    const parsed = parseSample(raw);
    if (!parsed.ok) {
      this.invalid(key, parsed.error);
      return;
    }
    if (parsed.payload.container_name !== name) {
      this.invalid(key, `container_name "${parsed.payload.container_name}" does not match the key`);
      return;
    }
    this.warnedKeys.delete(key);
    e.sample = parsed.payload;
    e.rawId = id;
  }

  private onMessage(raw: string): void {
    const parsed = parseSample(raw);
    if (!parsed.ok) {
      this.invalid(METRICS_CHANNEL, parsed.error);
      return;
    }
    const p = parsed.payload;
    this.stats.samples_received_total += 1;
    const e = this.entries.get(p.container_name);
    if (e) {
      if (e.sample !== null && e.sample.seq > p.seq && e.sample.agent.pid === p.agent.pid) return;
      e.sample = p;
      e.rawId = sampleIdentity(raw);
      e.lastSeenMs = Math.max(e.lastSeenMs, this.now());
    } else {
      this.add({ name: p.container_name, lastSeenMs: this.now(), sample: p, rawId: sampleIdentity(raw), status: 'offline' });
    }
    const entry = this.entries.get(p.container_name);
    if (entry) this.setStatus(entry, this.statusOf(entry));
    for (const fn of this.sampleListeners) fn(p, raw);
  }

  private add(e: Entry): void {
    this.entries.set(e.name, e);
    this.sorted = null;
  }

  private remove(name: string): void {
    if (this.entries.delete(name)) this.sorted = null;
  }

  private invalid(where: string, error: string): void {
    this.stats.invalid_payloads_total += 1;
    if (this.warnedKeys.has(where)) return;
    this.warnedKeys.add(where);
    this.opts.log.warn({ key: where, error }, 'skipping a value that is not a valid sample');
  }

  private statusOf(e: Entry): ContainerStatus {
    if (e.sample === null) return e.status === 'exited' ? 'exited' : 'offline';
    if (e.sample.status === 'exited') return 'exited';
    const intervalMs = e.sample.interval_seconds * 1000 || this.opts.intervalMs;
    const age = this.now() - Date.parse(e.sample.timestamp);
    return age > 2 * intervalMs ? 'stale' : 'ok';
  }

  private refreshStatuses(): void {
    for (const e of this.entries.values()) this.setStatus(e, this.statusOf(e));
  }

  private setStatus(e: Entry, to: ContainerStatus): void {
    if (e.status === to && this.announced.has(e.name)) return;
    const from = this.announced.has(e.name) ? e.status : null;
    e.status = to;
    this.announced.add(e.name);
    for (const fn of this.statusListeners) fn(e.name, from, to);
  }

  private noteValkey(up: boolean, err?: unknown): void {
    if (this.valkeyWasUp === up) return;
    this.valkeyWasUp = up;
    const where = describeValkey(this.opts.valkey);
    if (up) this.opts.log.info({ valkey: where }, 'Valkey connected; fleet view live');
    else this.opts.log.warn({ valkey: where, err: err instanceof Error ? err.message : undefined }, 'Valkey unreachable; serving the last fleet view, retrying');
  }
}
