import type { ValkeyClient } from '../../../shared/src/valkey.js';
import { z } from 'zod';
import { ALERTS_EVENTS_KEY, ALERTS_STATE_KEY } from '../../../shared/src/keys.js';
import type { Logger } from '../../../shared/src/log.js';
import { severitySchema } from './rule-schema.js';
import type { Seen } from './engine.js';
import { alertStateSchema, instanceSchema, type Instance, type Transition } from './state.js';

/** Hash fields for container last-seen times share the hash with instances (fingerprints are hex). */
const SEEN_PREFIX = 'seen:';

/** A save that failed in part; `historyWritten` says whether its transitions reached the stream. */
export class SaveError extends Error {
  constructor(cause: unknown, readonly historyWritten: boolean) {
    super(cause instanceof Error ? cause.message : String(cause), { cause });
  }
}

/** Hash fields per HSET command. */
const HSET_CHUNK = 1000;

/** A pipeline resolves even when its commands fail; surface the first error. */
function failOnError(results: [Error | null, unknown][] | null): void {
  const err = results?.find(([e]) => e !== null)?.[0];
  if (err !== undefined && err !== null) throw err;
}

const transitionFields = ['kind', 'fingerprint', 'rule_id', 'container', 'instance', 'from', 'to', 'severity', 'previous_severity', 'value', 'at'] as const;

const optSeverity = z.union([z.literal('').transform(() => null), severitySchema]);
const transitionSchema = z.object({
  kind: z.enum(['pending', 'firing', 'severity', 'resolved', 'inactive']),
  fingerprint: z.string().min(1),
  rule_id: z.string().min(1),
  container: z.string(),
  instance: z.string().transform((v) => (v === '' ? null : v)),
  from: alertStateSchema,
  to: alertStateSchema,
  severity: optSeverity,
  previous_severity: optSeverity,
  value: z.string().transform((v) => (v === '' ? null : Number(v))).pipe(z.number().nullable()),
  at: z.string().regex(/^\d+$/).transform(Number),
});

export interface Loaded {
  instances: Instance[];
  lastSeen: Map<string, Seen>;
  /** Fields that did not parse; logged and left in place (nothing is deleted on a bad read). */
  corrupt: string[];
}

/**
 * Alert state in Valkey: one hash field per instance (JSON) so a restarted or
 * newly elected aggregator continues pending countdowns and knows what was
 * already notified; every transition goes to a capped stream for history.
 * Hash and stream are written with separate commands (they may sit in
 * different cluster slots).
 */
export class AlertStatePersistence {
  constructor(
    private readonly redis: ValkeyClient,
    private readonly opts: { eventsMaxLen?: number; log?: Logger } = {},
  ) {}

  async load(): Promise<Loaded> {
    const raw = await this.redis.hgetall(ALERTS_STATE_KEY);
    const out: Loaded = { instances: [], lastSeen: new Map(), corrupt: [] };
    for (const [field, value] of Object.entries(raw)) {
      if (field.startsWith(SEEN_PREFIX)) {
        const m = /^(\d+):(\d+)$/.exec(value);
        if (m !== null) out.lastSeen.set(field.slice(SEEN_PREFIX.length), { at: Number(m[1]), intervalMs: Number(m[2]) });
        else out.corrupt.push(field);
        continue;
      }
      let json: unknown;
      try {
        json = JSON.parse(value);
      } catch {
        json = undefined;
      }
      const parsed = instanceSchema.safeParse(json);
      if (parsed.success && parsed.data.fingerprint === field) out.instances.push(parsed.data);
      else out.corrupt.push(field);
    }
    if (out.corrupt.length > 0) {
      this.opts.log?.warn({ key: ALERTS_STATE_KEY, fields: out.corrupt }, 'ignoring alert state fields that do not parse (left in place)');
    }
    return out;
  }

  /**
   * Writes instances (immutable snapshots) and last-seen times in bounded
   * HSETs, serialising one chunk per event-loop turn: a large fleet's batch
   * (20,000 instances) in one go blocked the loop for ~60 ms and one huge
   * command would stall Valkey for everyone.
   */
  async save(changed: readonly Instance[], transitions: readonly Transition[], lastSeen?: ReadonlyMap<string, Seen>): Promise<void> {
    const jobs: Promise<unknown>[] = [];
    // Marked handled at once: a failure while later chunks are still being
    // built must not surface as an unhandled rejection (Promise.all reports it).
    const track = (job: Promise<unknown>): void => {
      job.catch(() => undefined);
      jobs.push(job);
    };
    const seen = lastSeen === undefined ? [] : [...lastSeen].map(([name, s]) => [`${SEEN_PREFIX}${name}`, `${s.at}:${s.intervalMs}`]);
    for (let i = 0; i < changed.length; i += HSET_CHUNK) {
      if (i > 0) await new Promise((r) => setImmediate(r));
      const args: string[] = [];
      for (const inst of changed.slice(i, i + HSET_CHUNK)) args.push(inst.fingerprint, JSON.stringify(inst));
      track(this.redis.hset(ALERTS_STATE_KEY, ...args));
    }
    for (let i = 0; i < seen.length; i += HSET_CHUNK) track(this.redis.hset(ALERTS_STATE_KEY, ...seen.slice(i, i + HSET_CHUNK).flat()));
    let history: Promise<unknown> = Promise.resolve();
    if (transitions.length > 0) {
      const p = this.redis.pipeline();
      for (const t of transitions) {
        const flat = transitionFields.flatMap((f) => {
          const v = t[f];
          return [f, v === null ? '' : String(v)];
        });
        p.xadd(ALERTS_EVENTS_KEY, 'MAXLEN', '~', String(this.opts.eventsMaxLen ?? 10_000), '*', ...flat);
      }
      history = p.exec().then(failOnError);
      track(history);
    }
    const results = await Promise.allSettled(jobs);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed !== undefined) {
      const historyWritten = await history.then(() => true, () => false);
      throw new SaveError(failed.reason, historyWritten);
    }
  }

  async remove(fingerprints: readonly string[], containers: readonly string[] = []): Promise<void> {
    const fields = [...fingerprints, ...containers.map((c) => `${SEEN_PREFIX}${c}`)];
    if (fields.length > 0) await this.redis.hdel(ALERTS_STATE_KEY, ...fields);
  }

  /** Newest transitions first; entries that do not parse are skipped and counted. */
  async history(count: number): Promise<{ transitions: Transition[]; corrupt: number }> {
    const entries = await this.redis.xrevrange(ALERTS_EVENTS_KEY, '+', '-', 'COUNT', count);
    const transitions: Transition[] = [];
    let corrupt = 0;
    for (const [, flat] of entries) {
      const obj: Record<string, string> = {};
      for (let i = 0; i + 1 < flat.length; i += 2) obj[flat[i] ?? ''] = flat[i + 1] ?? '';
      const r = transitionSchema.safeParse(obj);
      if (r.success) transitions.push(r.data);
      else corrupt += 1;
    }
    return { transitions, corrupt };
  }
}
