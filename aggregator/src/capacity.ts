import { z } from 'zod';
import type { Payload } from '../../shared/src/payload.js';

/**
 * The resource-admission check apps ask before starting work: would a task
 * needing this much CPU / memory fit in the container, keeping a safety
 * buffer (a share of the limit that must stay free)?
 */

const positive = (what: string): z.ZodType<number, string> =>
  z.string().trim().regex(/^\d+(\.\d+)?(e\d+)?$/i, `${what} must be a positive number`).transform(Number).pipe(z.number().positive(`${what} must be above 0`));

export const capacityQuerySchema = z
  .object({
    container: z.string({ error: 'container is required' }).min(1, 'container is required'),
    cpu_cores: positive('cpu_cores').optional(),
    memory_bytes: positive('memory_bytes').pipe(z.number().int('memory_bytes must be a whole number')).optional(),
    // 0.99999999999999999999 rounds to 1 as a double: checked after the conversion.
    buffer: z.string().trim().regex(/^0(\.\d+)?$/, 'buffer must be a fraction from 0 to below 1 (0.2 = 20 %)').transform(Number).pipe(z.number().lt(1, 'buffer must be below 1 (0.2 = 20 %)')).optional(),
  })
  .strict()
  .refine((q) => q.cpu_cores !== undefined || q.memory_bytes !== undefined, { message: 'give cpu_cores and/or memory_bytes', path: ['cpu_cores'] });
export type CapacityQuery = z.output<typeof capacityQuerySchema>;

export function parseCapacityQuery(params: Record<string, string | undefined>): { ok: true; query: CapacityQuery } | { ok: false; error: string } {
  const defined = Object.fromEntries(Object.entries(params).filter(([, v]) => v !== undefined));
  const r = capacityQuerySchema.safeParse(defined);
  if (r.success) return { ok: true, query: r.data };
  return { ok: false, error: r.error.issues[0]?.message ?? 'invalid query' };
}

export interface ResourceAnswer {
  fits: boolean;
  requested: number;
  limit: number | null;
  used: number | null;
  available: number | null;
  would_leave: number | null;
  minimum: number | null;
  reason: string;
}

export interface CapacityAnswer {
  container: string;
  fits: boolean;
  buffer: number;
  sample_timestamp: string;
  cpu: ResourceAnswer | null;
  memory: ResourceAnswer | null;
  reason: string;
}

export interface CapacityOptions {
  /** Share of the limit that must stay free (default 0.2). */
  buffer?: number;
  now?: number;
  /** A sample older than this cannot answer (default 3 intervals). */
  maxAgeMs?: number;
}

const round2 = (v: number): string => String(Math.round(v * 100) / 100);
const gb = (b: number): string => `${round2(b / 1e9)} GB`;
const cores = (c: number): string => `${round2(c)} cores`;

function answer(requested: number, limit: number | null, used: number | null, buffer: number, fmt: (v: number) => string, what: string): ResourceAnswer {
  if (limit === null || used === null) {
    const missing = limit === null ? `${what} limit` : `${what} usage`;
    return { fits: false, requested, limit, used, available: null, would_leave: null, minimum: null, reason: `${missing} unknown in the latest sample, cannot tell` };
  }
  const available = Math.max(0, limit - used);
  const wouldLeave = available - requested;
  const minimum = buffer * limit;
  const fits = wouldLeave >= minimum;
  const reason = `needs ${fmt(requested)}, ${fmt(available)} available, would leave ${fmt(wouldLeave)} (minimum ${fmt(minimum)})`;
  return { fits, requested, limit, used, available, would_leave: wouldLeave, minimum, reason };
}

export function checkCapacity(p: Payload, req: { cpu_cores?: number; memory_bytes?: number }, opts: CapacityOptions = {}): CapacityAnswer {
  const buffer = opts.buffer ?? 0.2;
  if (!(buffer >= 0 && buffer < 1)) throw new RangeError(`capacity buffer must be from 0 to below 1 (got ${buffer})`);
  const base = { container: p.container_name, buffer, sample_timestamp: p.timestamp };
  const now = opts.now ?? Date.now();
  const age = now - Date.parse(p.timestamp);
  const maxAge = opts.maxAgeMs ?? 3 * p.interval_seconds * 1000;
  if (p.status !== 'running' || age > maxAge) {
    const why = p.status !== 'running' ? `container ${p.container_name} has exited` : `latest sample of ${p.container_name} is ${Math.round(age / 1000)} s old`;
    return { ...base, fits: false, cpu: null, memory: null, reason: `${why}, cannot tell` };
  }
  const cpu = req.cpu_cores === undefined ? null : answer(req.cpu_cores, p.cpu?.limit_cores ?? null, p.cpu?.cores_used ?? null, buffer, cores, 'CPU');
  const memUsed = p.memory?.working_set_bytes ?? p.memory?.usage_bytes ?? p.memory_usage_bytes;
  const memory = req.memory_bytes === undefined ? null : answer(req.memory_bytes, p.memory?.limit_bytes ?? p.host.memory_total_bytes, memUsed, buffer, gb, 'memory');
  const parts = [cpu === null ? null : `CPU: ${cpu.reason}`, memory === null ? null : `memory: ${memory.reason}`].filter((s): s is string => s !== null);
  const fits = (cpu?.fits ?? true) && (memory?.fits ?? true);
  return { ...base, fits, cpu, memory, reason: `${fits ? 'fits' : 'does not fit'}: ${parts.join('; ')}` };
}
