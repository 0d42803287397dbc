import { z } from 'zod';
import { alertStateSchema, type AlertState } from '../../../shared/src/api.js';
import { severitySchema, type Severity, type ThresholdRule, type ChangeRule, type DownRule } from './rule-schema.js';

/**
 * The pure per-instance state machine (rule × container × GPU):
 * inactive → pending (`for`) → firing → resolved, with severity changes while
 * firing and `keep_firing_for` debounce. No I/O and no clock: `now` is passed
 * in, so tests drive every edge deterministically.
 */

export { alertStateSchema, type AlertState };

const ms = z.number().int().nonnegative();

export const notifiedSchema = z.object({
  status: z.enum(['firing', 'resolved']),
  severity: severitySchema,
  fired_at: ms,
  at: ms,
});
export type Notified = z.infer<typeof notifiedSchema>;

/** What is persisted per instance (one hash field, JSON). */
export const instanceSchema = z.object({
  fingerprint: z.string().min(1),
  rule_id: z.string().min(1),
  container: z.string(),
  /** GPU uuid (or other array element) for `gpus[]` rules; null otherwise. */
  instance: z.string().nullable(),
  state: alertStateSchema,
  severity: severitySchema.nullable(),
  value: z.number().nullable(),
  /** When the condition began (pending start). */
  active_at: ms.nullable(),
  /** When it started firing (Alertmanager `startsAt`). */
  fired_at: ms.nullable(),
  last_true_at: ms.nullable(),
  resolved_at: ms.nullable(),
  /** The last observed level; `tick` re-applies it for time-based edges. */
  level: severitySchema.nullable(),
  /** Previous value, for increase/decrease rules. */
  last_value: z.number().nullable(),
  /** The last notification delivered for this instance (the exactly-once ledger). */
  notified: notifiedSchema.nullable(),
  updated_at: ms,
});
export type Instance = z.infer<typeof instanceSchema>;

export type TransitionKind = 'pending' | 'firing' | 'severity' | 'resolved' | 'inactive';

export interface Transition {
  kind: TransitionKind;
  fingerprint: string;
  rule_id: string;
  container: string;
  instance: string | null;
  from: AlertState;
  to: AlertState;
  severity: Severity | null;
  previous_severity: Severity | null;
  value: number | null;
  at: number;
}

export function newInstance(fingerprint: string, ruleId: string, container: string, instance: string | null, now: number): Instance {
  return {
    fingerprint, rule_id: ruleId, container, instance, state: 'inactive', severity: null, value: null,
    active_at: null, fired_at: null, last_true_at: null, resolved_at: null, level: null, last_value: null,
    notified: null, updated_at: now,
  };
}

const rank: Record<Severity, number> = { warning: 1, critical: 2 };

function passes(cmp: ThresholdRule['comparator'], v: number, t: number): boolean {
  switch (cmp) {
    case '>': return v > t;
    case '>=': return v >= t;
    case '<': return v < t;
    case '<=': return v <= t;
  }
}

/**
 * Level for a threshold rule with hysteresis: entering a level needs the
 * threshold; a level already held clears only past its `clear` value. A null
 * value (metric unavailable) is no level.
 */
export function thresholdLevel(rule: ThresholdRule, value: number | null, held: Severity | null): Severity | null {
  if (value === null) return null;
  const holds = (lvl: 'warn' | 'crit', sev: Severity): boolean => {
    const t = rule[lvl];
    if (t === undefined) return false;
    if (passes(rule.comparator, value, t)) return true;
    const c = rule.clear[lvl];
    return held !== null && rank[held] >= rank[sev] && c !== undefined && passes(rule.comparator, value, c);
  };
  if (holds('crit', 'critical')) return 'critical';
  if (holds('warn', 'warning')) return 'warning';
  // Critical-only rule: hysteresis on crit covers warning too.
  return null;
}

/** Level for a change rule: the counter went up (`increase`) or the gauge went down (`decrease`). */
export function changeLevel(rule: ChangeRule, value: number | null, previous: number | null): Severity | null {
  if (value === null || previous === null) return null;
  const changed = rule.kind === 'increase' ? value > previous : value < previous;
  return changed ? rule.severity : null;
}

/** Level for container_down from the time since the last sample. */
export function downLevel(rule: DownRule, ageMs: number, intervalMs: number): Severity | null {
  if (ageMs >= rule.critical_intervals * intervalMs) return 'critical';
  if (ageMs >= rule.stale_intervals * intervalMs) return 'warning';
  return null;
}

export interface Timing {
  forMs: number;
  keepFiringForMs: number;
}

/** One step: the next state and the transition it made, if any. */
export function step(s: Instance, timing: Timing, level: Severity | null, value: number | null, now: number): { next: Instance; transition: Transition | null } {
  const n: Instance = { ...s, level, value: value ?? s.value, updated_at: now };
  let kind: TransitionKind | null = null;
  if (level !== null) {
    n.last_true_at = now;
    if (s.state === 'inactive' || s.state === 'resolved') {
      n.active_at = now;
      n.resolved_at = null;
      n.severity = level;
      if (timing.forMs <= 0) {
        n.state = 'firing';
        n.fired_at = now;
        kind = 'firing';
      } else {
        n.state = 'pending';
        n.fired_at = null;
        kind = 'pending';
      }
    } else if (s.state === 'pending') {
      n.severity = level;
      if (now - (s.active_at ?? now) >= timing.forMs) {
        n.state = 'firing';
        n.fired_at = now;
        kind = 'firing';
      }
    } else if (level !== s.severity) {
      n.severity = level;
      kind = 'severity';
    }
  } else if (s.state === 'pending') {
    n.state = 'inactive';
    n.active_at = null;
    n.severity = null;
    kind = 'inactive';
  } else if (s.state === 'firing') {
    const lastTrue = s.last_true_at ?? now;
    if (now - lastTrue >= timing.keepFiringForMs) {
      n.state = 'resolved';
      n.resolved_at = now;
      kind = 'resolved';
    }
  }
  const transition: Transition | null = kind === null ? null : {
    kind, fingerprint: n.fingerprint, rule_id: n.rule_id, container: n.container, instance: n.instance,
    from: s.state, to: n.state, severity: n.severity, previous_severity: s.severity, value: n.value, at: now,
  };
  return { next: n, transition };
}
