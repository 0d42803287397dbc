import { randomUUID } from 'node:crypto';
import type { ValkeyClient } from '../../../shared/src/valkey.js';
import { z } from 'zod';
import type { Logger } from '../../../shared/src/log.js';
import type { Instance } from './state.js';

/** Hash of silences (field: id, value: JSON), next to the alert state; every replica reads it. */
export const ALERTS_SILENCES_KEY = 'system:alerts:silences';
/** Hash of acknowledgements (field: instance fingerprint, value: JSON). */
export const ALERTS_ACKS_KEY = 'system:alerts:acks';

const name = z.string().min(1).max(253);
const ms = z.number().int().nonnegative();

/** A silence as stored and shown: read back from Valkey it is untrusted, so it is parsed with this. */
export const silenceSchema = z
  .object({
    id: z.string().regex(/^[0-9a-f-]{36}$/),
    rule_id: name.nullable(),
    container: name.nullable(),
    comment: z.string().max(1000),
    created_by: z.string().min(1).max(200),
    created_at: ms,
    ends_at: ms,
    /** Set when it was expired early. */
    expired_at: ms.nullable(),
    expired_by: z.string().max(200).nullable(),
  })
  .refine((s) => s.rule_id !== null || s.container !== null, { message: 'a silence names a rule, a container or both' });
export type Silence = z.infer<typeof silenceSchema>;

/** An acknowledgement of one firing episode (`fired_at`): a new episode is not acknowledged. */
export const ackSchema = z.object({
  fingerprint: z.string().regex(/^[0-9a-f]{1,64}$/),
  fired_at: ms,
  by: z.string().min(1).max(200),
  at: ms,
  comment: z.string().max(1000),
});
export type Ack = z.infer<typeof ackSchema>;

/** How much later than an acknowledgement another replica may have seen the episode begin. */
const ACK_SLACK_MS = 5000;

/** Expired silences are kept this long (shown, then deleted). */
const KEEP_EXPIRED_MS = 24 * 3_600_000;

function parseJson<T extends z.ZodType>(schema: T, text: string): z.output<T> | null {
  try {
    const r = schema.safeParse(JSON.parse(text));
    return r.success ? r.data : null;
  } catch {
    return null;
  }
}

export function silenceActive(s: Silence, now: number): boolean {
  return s.expired_at === null && now < s.ends_at;
}

export function silenceMatches(s: Silence, i: Pick<Instance, 'rule_id' | 'container'>): boolean {
  return (s.rule_id === null || s.rule_id === i.rule_id) && (s.container === null || s.container === i.container);
}

/**
 * Silences and acknowledgements, kept in Valkey so they survive restarts and
 * replica changes. Any replica may write (the admin route lands on one of
 * them); every replica re-reads both hashes every `refreshMs`, so all agree
 * within that. Entries that do not parse are logged once and ignored.
 */
export class SilenceStore {
  private silences = new Map<string, Silence>();
  private acks = new Map<string, Ack>();
  private readonly clock: () => number;
  private readonly warned = new Set<string>();
  private lastRefresh = -Infinity;
  private refreshing: Promise<void> | null = null;
  private readFailing = false;

  constructor(
    private readonly redis: ValkeyClient,
    private readonly opts: { clock?: () => number; log?: Logger; refreshMs?: number } = {},
  ) {
    this.clock = opts.clock ?? Date.now;
  }

  /** Re-reads both hashes when `refreshMs` (default 2 s) has passed; errors are logged, the last view kept. */
  refreshIfDue(): void {
    if (this.refreshing !== null || this.clock() - this.lastRefresh < (this.opts.refreshMs ?? 2000)) return;
    this.lastRefresh = this.clock();
    this.refreshing = this.refresh()
      .then(() => {
        this.readFailing = false;
      })
      .catch((err: unknown) => {
        // Once per outage: while Valkey is away this fails every refresh.
        if (!this.readFailing) this.opts.log?.warn({ err: err instanceof Error ? err.message : String(err) }, 'could not read silences; keeping the last ones read until Valkey answers');
        this.readFailing = true;
      })
      .finally(() => {
        this.refreshing = null;
      });
  }

  async refresh(): Promise<void> {
    const [rawS, rawA] = await Promise.all([this.redis.hgetall(ALERTS_SILENCES_KEY), this.redis.hgetall(ALERTS_ACKS_KEY)]);
    const silences = new Map<string, Silence>();
    const stale: string[] = [];
    const now = this.clock();
    for (const [field, text] of Object.entries(rawS)) {
      const s = parseJson(silenceSchema, text);
      if (s === null || s.id !== field) {
        this.warnOnce(ALERTS_SILENCES_KEY, field);
        continue;
      }
      if (!silenceActive(s, now) && now - (s.expired_at ?? s.ends_at) > KEEP_EXPIRED_MS) stale.push(field);
      else silences.set(field, s);
    }
    const acks = new Map<string, Ack>();
    for (const [field, text] of Object.entries(rawA)) {
      const a = parseJson(ackSchema, text);
      if (a === null || a.fingerprint !== field) this.warnOnce(ALERTS_ACKS_KEY, field);
      else acks.set(field, a);
    }
    this.silences = silences;
    this.acks = acks;
    if (stale.length > 0) await this.redis.hdel(ALERTS_SILENCES_KEY, ...stale);
  }

  private warnOnce(key: string, field: string): void {
    if (this.warned.has(`${key}\n${field}`) || this.warned.size > 1000) return;
    this.warned.add(`${key}\n${field}`);
    this.opts.log?.warn({ key, field: field.slice(0, 100) }, 'ignoring a silence or acknowledgement that does not parse (left in place; delete it with HDEL)');
  }

  list(): Silence[] {
    return [...this.silences.values()].sort((a, b) => b.created_at - a.created_at);
  }

  /** Ids of the active silences that match the instance. */
  silencedBy(i: Pick<Instance, 'rule_id' | 'container'>): string[] {
    const now = this.clock();
    const out: string[] = [];
    for (const s of this.silences.values()) if (silenceActive(s, now) && silenceMatches(s, i)) out.push(s.id);
    return out;
  }

  /**
   * The acknowledgement of the instance's current firing episode, if any: one
   * made after the episode began. Each replica evaluates on its own, so its
   * `fired_at` may be a moment later than the acknowledging replica's; a
   * slack of ACK_SLACK_MS allows for that (a new episode starts only after a
   * resolve and the rule's `for`, so it is not mistaken for the old one).
   */
  ackOf(i: Pick<Instance, 'fingerprint' | 'fired_at' | 'state'>): Ack | null {
    const a = this.acks.get(i.fingerprint);
    if (a === undefined || i.state !== 'firing' || i.fired_at === null) return null;
    return i.fired_at === a.fired_at || i.fired_at <= a.at + ACK_SLACK_MS ? a : null;
  }

  async create(input: { rule_id: string | null; container: string | null; durationMs: number; comment: string; by: string }): Promise<Silence> {
    const now = this.clock();
    const s = silenceSchema.parse({
      id: randomUUID(), rule_id: input.rule_id, container: input.container, comment: input.comment, created_by: input.by,
      created_at: now, ends_at: now + input.durationMs, expired_at: null, expired_by: null,
    });
    await this.redis.hset(ALERTS_SILENCES_KEY, s.id, JSON.stringify(s));
    this.silences.set(s.id, s);
    return s;
  }

  /** Ends a silence now; null when no such silence is known. */
  async expire(id: string, by: string): Promise<Silence | null> {
    await this.refresh();
    const s = this.silences.get(id);
    if (s === undefined) return null;
    if (!silenceActive(s, this.clock())) return s;
    const e: Silence = { ...s, expired_at: this.clock(), expired_by: by };
    await this.redis.hset(ALERTS_SILENCES_KEY, id, JSON.stringify(e));
    this.silences.set(id, e);
    return e;
  }

  async acknowledge(i: Pick<Instance, 'fingerprint' | 'fired_at'>, by: string, comment: string): Promise<Ack> {
    const a = ackSchema.parse({ fingerprint: i.fingerprint, fired_at: i.fired_at, by, at: this.clock(), comment });
    await this.redis.hset(ALERTS_ACKS_KEY, a.fingerprint, JSON.stringify(a));
    this.acks.set(a.fingerprint, a);
    return a;
  }

  /** Drops acknowledgements of instances that are gone (called with the fingerprints the engine forgot). */
  async forget(fingerprints: readonly string[]): Promise<void> {
    const known = fingerprints.filter((f) => this.acks.delete(f));
    if (known.length > 0) await this.redis.hdel(ALERTS_ACKS_KEY, ...known);
  }
}
