import type { SiriusHealth, SiriusServiceHealth } from '../../shared/src/sirius.js';
import type { ContainerView } from './fleet/fleet.js';

export interface HealthContext {
  /** Unix ms of the answer. */
  nowMs: number;
  /** The agents' interval when a sample does not carry its own. */
  defaultIntervalS: number;
  version: string;
  /** Why the fleet view itself cannot be trusted now (Valkey unreachable, first sync not done); null when it can. */
  viewProblem: string | null;
}

const iso = (ms: number): string => new Date(ms).toISOString();
const seconds = (ms: number): string => `${Math.max(0, Math.round(ms / 1000))} s`;

/**
 * One container as a SiriusScan service: `up` while its samples are fresh,
 * otherwise `down` with the reason. `timestamp` is when the evidence was
 * made (the latest sample, else the last registry write).
 */
export function serviceHealth(c: ContainerView, ctx: Pick<HealthContext, 'nowMs' | 'defaultIntervalS'>): SiriusServiceHealth {
  const d = c.digest;
  const sampleMs = d === null ? null : d.timestamp_ms;
  const evidenceMs = sampleMs !== null && Number.isFinite(sampleMs) ? sampleMs : c.last_seen_ms;
  const timestamp = iso(evidenceMs);
  const intervalS = d !== null && d.interval_seconds > 0 ? d.interval_seconds : ctx.defaultIntervalS;
  switch (c.status) {
    case 'ok':
      return { status: 'up', message: `sampled ${seconds(ctx.nowMs - evidenceMs)} ago (every ${intervalS} s)`, timestamp };
    case 'stale':
      return { status: 'down', message: `stale since ${timestamp}: no sample for ${seconds(ctx.nowMs - evidenceMs)} (expected every ${intervalS} s)`, timestamp };
    case 'exited': {
      const at = iso(c.exited_at_ms ?? evidenceMs);
      return { status: 'down', message: `exited at ${at} (the agent wrote its final sample on a clean stop)`, timestamp: at };
    }
    case 'offline':
      return c.last_seen_ms > 0
        ? { status: 'down', message: `offline: no valid sample since ${iso(c.last_seen_ms)} (its key expired without a final sample: the container or its agent stopped without a clean exit)`, timestamp }
        : { status: 'down', message: 'offline: registered but never published a valid sample', timestamp };
  }
}

/**
 * SiriusScan's `GET /api/v1/system/health`: one service per container in
 * the fleet, `healthy` when every one is up (HTTP 200), else `degraded`
 * (HTTP 503). A view that cannot be trusted (Valkey unreachable) is
 * degraded whatever it holds, with the reason in `error`.
 */
export function siriusHealth(list: readonly ContainerView[], ctx: HealthContext): { httpStatus: 200 | 503; body: SiriusHealth } {
  // fromEntries defines own properties, so a container named `__proto__` is an entry, not a prototype.
  const services = Object.fromEntries(list.map((c) => [c.name, serviceHealth(c, ctx)]));
  const allUp = list.every((c) => c.status === 'ok');
  const overall = allUp && ctx.viewProblem === null ? 'healthy' : 'degraded';
  const body: SiriusHealth = {
    status: overall,
    timestamp: iso(ctx.nowMs),
    service: 'system-monitor-aggregator',
    version: ctx.version,
    services,
    overall,
    ...(ctx.viewProblem === null ? {} : { error: ctx.viewProblem }),
  };
  return { httpStatus: overall === 'healthy' ? 200 : 503, body };
}
