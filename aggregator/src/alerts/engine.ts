import { createHash } from 'node:crypto';
import type { Payload } from '../../../shared/src/payload.js';
import type { DownRule, Rule, RulesFile, Severity } from './rule-schema.js';
import { evaluateMetric, matchesContainer } from './metric.js';
import { changeLevel, downLevel, newInstance, step, thresholdLevel, type Instance, type Timing, type Transition } from './state.js';

/** Fleet status as the aggregator's fleet view reports it. */
export type ContainerStatus = 'ok' | 'stale' | 'offline' | 'exited';

/** Built-in rule id raised instead of container_down while Valkey is unreachable. */
export const VALKEY_RULE_ID = 'valkey_unreachable';

export function fingerprintOf(ruleId: string, container: string, instance: string | null): string {
  return createHash('sha256').update(`${ruleId}\0${container}\0${instance ?? ''}`).digest('hex').slice(0, 16);
}

export interface Seen {
  at: number;
  intervalMs: number;
}

/**
 * Evaluates rules over samples and fleet status, holding one Instance per
 * (rule, container, element). Deterministic: every method takes `now` from
 * the injected clock, and returns the transitions it made.
 */
export class AlertEngine {
  private rules: RulesFile;
  private readonly instances = new Map<string, Instance>();
  private readonly seen = new Map<string, Seen>();
  private readonly status = new Map<string, ContainerStatus>();
  private valkeyUp = true;
  private readonly dirty = new Set<string>();
  /** Rules removed by a reload, kept to describe their last (resolved) notifications. */
  private readonly retired = new Map<string, Rule>();

  constructor(rules: RulesFile, private readonly clock: () => number = Date.now) {
    this.rules = rules;
  }

  /**
   * Replaces the rules. Alerts of a rule that is gone resolve now (so their
   * receivers get a resolved message rather than silence); the old rule is
   * kept only to describe and route those last notifications.
   */
  setRules(rules: RulesFile): Transition[] {
    const now = this.clock();
    const out: Transition[] = [];
    for (const r of this.rules.rules) this.retired.set(r.id, r);
    this.rules = rules;
    for (const r of rules.rules) this.retired.delete(r.id);
    for (const i of [...this.instances.values()]) {
      if (!this.retired.has(i.rule_id) || (i.state !== 'pending' && i.state !== 'firing')) continue;
      this.apply(i, { forMs: 0, keepFiringForMs: 0 }, null, i.value, now, out);
    }
    return out;
  }

  private isCurrent(ruleId: string): boolean {
    return ruleId === VALKEY_RULE_ID || this.rules.rules.some((r) => r.id === ruleId);
  }

  currentRules(): RulesFile {
    return this.rules;
  }

  rule(id: string): Rule | undefined {
    return this.rules.rules.find((r) => r.id === id) ?? this.retired.get(id);
  }

  /** Restores persisted instances (on start, or when this replica becomes leader). */
  restore(list: readonly Instance[], lastSeen: ReadonlyMap<string, Seen> = new Map()): void {
    for (const i of list) this.instances.set(i.fingerprint, i);
    const now = this.clock();
    for (const [name, { at, intervalMs }] of lastSeen) {
      if (this.seen.has(name)) continue;
      // Samples were not watched while this process was away: staleness restarts
      // now, except for a container already known to be down.
      const down = list.some((i) => i.container === name && i.level !== null && this.rule(i.rule_id)?.kind === 'container_down');
      this.seen.set(name, { at: down ? at : now, intervalMs });
    }
  }

  /** Instances changed since the last call (what a leader must persist). */
  drainDirty(): Instance[] {
    const out: Instance[] = [];
    for (const fp of this.dirty) {
      const i = this.instances.get(fp);
      if (i !== undefined) out.push(i);
    }
    this.dirty.clear();
    return out;
  }

  all(): Instance[] {
    return [...this.instances.values()];
  }

  get(fingerprint: string): Instance | undefined {
    return this.instances.get(fingerprint);
  }

  /** Replaces one instance (the notifier records deliveries through this). */
  put(i: Instance): void {
    this.instances.set(i.fingerprint, i);
    this.dirty.add(i.fingerprint);
  }

  lastSeen(): Map<string, Seen> {
    return new Map([...this.seen].map(([k, v]) => [k, { ...v }]));
  }

  private instanceFor(ruleId: string, container: string, element: string | null, now: number): Instance {
    const fp = fingerprintOf(ruleId, container, element);
    return this.instances.get(fp) ?? newInstance(fp, ruleId, container, element, now);
  }

  private apply(i: Instance, timing: Timing, level: Severity | null, value: number | null, now: number, out: Transition[]): void {
    const { next, transition } = step(i, timing, level, value, now);
    // Instances that never left inactive are not kept (bounded memory).
    if (next.state === 'inactive' && transition === null && !this.instances.has(next.fingerprint)) return;
    this.instances.set(next.fingerprint, next);
    this.dirty.add(next.fingerprint);
    if (transition !== null) out.push(transition);
  }

  onSample(p: Payload): Transition[] {
    const now = this.clock();
    const out: Transition[] = [];
    const name = p.container_name;
    this.seen.set(name, { at: now, intervalMs: p.interval_seconds * 1000 });
    if (p.status === 'exited') this.status.set(name, 'exited');
    else if (this.status.get(name) !== 'ok') this.status.set(name, 'ok');
    for (const rule of this.rules.rules) {
      if (!matchesContainer(name, rule.match)) continue;
      const timing = { forMs: rule.for, keepFiringForMs: rule.keep_firing_for };
      if (rule.kind === 'container_down') {
        const i = this.instances.get(fingerprintOf(rule.id, name, null));
        if (i !== undefined) this.apply(i, timing, null, 0, now, out);
        continue;
      }
      const values = evaluateMetric(p, rule.metric);
      const present = new Set<string>();
      for (const v of values) {
        const i = this.instanceFor(rule.id, name, v.instance, now);
        present.add(i.fingerprint);
        const level = rule.kind === 'threshold' ? thresholdLevel(rule, v.value, i.level) : changeLevel(rule, v.value, i.last_value);
        this.apply(i, timing, level, v.value, now, out);
        // Change rules need the previous value even while inactive.
        if (rule.kind !== 'threshold' && v.value !== null) {
          const cur = this.instances.get(i.fingerprint) ?? i;
          this.instances.set(i.fingerprint, { ...cur, last_value: v.value });
          this.dirty.add(i.fingerprint);
        }
      }
      // An element that disappeared (GPU removed) clears its alert.
      for (const i of this.instances.values()) {
        if (i.rule_id === rule.id && i.container === name && !present.has(i.fingerprint) && i.state !== 'inactive') {
          this.apply(i, timing, null, i.value, now, out);
        }
      }
    }
    return out;
  }

  onContainerStatus(name: string, status: ContainerStatus): Transition[] {
    this.status.set(name, status);
    if (!this.seen.has(name) && status !== 'exited') this.seen.set(name, { at: this.clock(), intervalMs: 5000 });
    return this.tick();
  }

  onValkeyUp(up: boolean): Transition[] {
    if (up === this.valkeyUp) return [];
    this.valkeyUp = up;
    const now = this.clock();
    const out: Transition[] = [];
    const i = this.instanceFor(VALKEY_RULE_ID, '', null, now);
    this.apply(i, { forMs: 0, keepFiringForMs: 0 }, up ? null : 'critical', null, now, out);
    // Samples could not arrive during the outage: the staleness clock restarts now.
    if (up) for (const s of this.seen.values()) s.at = now;
    return out;
  }

  isDown(name: string): boolean {
    const st = this.status.get(name);
    if (st === 'stale' || st === 'offline') return true;
    // Direct lookups: scanning every instance here made each sample cost O(fleet).
    for (const rule of this.rules.rules) {
      if (rule.kind !== 'container_down') continue;
      const i = this.instances.get(fingerprintOf(rule.id, name, null));
      if (i !== undefined && i.level !== null) return true;
    }
    return false;
  }

  /**
   * Forgets what no longer matters, so memory stays bounded by the live fleet:
   * resolved or inactive instances untouched for `retentionMs`, and containers
   * not seen for that long (pruned from the registry). Returns the removed
   * fingerprints and container names (the leader deletes them from Valkey too).
   */
  prune(retentionMs: number): { fingerprints: string[]; containers: string[] } {
    const cutoff = this.clock() - retentionMs;
    const fingerprints: string[] = [];
    const containers: string[] = [];
    for (const [name, s] of this.seen) {
      if (s.at < cutoff) {
        this.seen.delete(name);
        this.status.delete(name);
        containers.push(name);
      }
    }
    for (const [fp, i] of this.instances) {
      const idle = i.state === 'resolved' || i.state === 'inactive';
      if (idle && i.updated_at < cutoff) {
        this.instances.delete(fp);
        this.dirty.delete(fp);
        fingerprints.push(fp);
      }
    }
    return { fingerprints, containers };
  }

  /** Time-based edges: `for` elapsed, `keep_firing_for` expired, staleness. */
  tick(): Transition[] {
    const now = this.clock();
    const out: Transition[] = [];
    const downRules = this.rules.rules.filter((r): r is DownRule => r.kind === 'container_down');
    if (this.valkeyUp) {
      for (const [name, s] of this.seen) {
        for (const rule of downRules) {
          if (!matchesContainer(name, rule.match)) continue;
          const exited = this.status.get(name) === 'exited';
          const age = now - s.at;
          const level = exited ? null : downLevel(rule, age, s.intervalMs);
          const i = this.instanceFor(rule.id, name, null, now);
          this.apply(i, { forMs: rule.for, keepFiringForMs: rule.keep_firing_for }, level, Math.round(age / 1000), now, out);
        }
      }
    }
    for (const i of [...this.instances.values()]) {
      const rule = this.rule(i.rule_id);
      if (rule === undefined || rule.kind === 'container_down' || !this.isCurrent(rule.id)) continue;
      // A down container's alerts hold their state: no false "resolved".
      if (this.isDown(i.container)) continue;
      if (i.state === 'pending' || i.state === 'firing') {
        // A change is an event seen in one sample; only a threshold level persists between samples.
        const level = rule.kind === 'threshold' ? i.level : null;
        this.apply(i, { forMs: rule.for, keepFiringForMs: rule.keep_firing_for }, level, i.value, now, out);
      }
    }
    return out;
  }
}
