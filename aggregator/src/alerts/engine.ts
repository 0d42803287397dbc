import { createHash } from 'node:crypto';
import type { Payload } from '../../../shared/src/payload.js';
import type { Rule, RulesFile, Severity } from './rule-schema.js';
import { evaluateMetric, matchesContainer } from './metric.js';
import { changeLevel, downLevel, newInstance, step, thresholdLevel, type Instance, type Timing, type Transition } from './state.js';

/** Fleet status as the aggregator's fleet view reports it. */
export type { ContainerStatus } from '../../../shared/src/api.js';
import type { ContainerStatus } from '../../../shared/src/api.js';

/** Built-in rule id raised instead of container_down while Valkey is unreachable. */
export const VALKEY_RULE_ID = 'valkey_unreachable';

export function fingerprintOf(ruleId: string, container: string, instance: string | null): string {
  return createHash('sha256').update(`${ruleId}\0${container}\0${instance ?? ''}`).digest('hex').slice(0, 16);
}

/** Whether a step changed more than the observed value (what must reach Valkey promptly). */
function edgeChanged(a: Instance, b: Instance): boolean {
  return a.state !== b.state || a.severity !== b.severity || a.level !== b.level || a.active_at !== b.active_at
    || a.fired_at !== b.fired_at || a.resolved_at !== b.resolved_at || a.notified !== b.notified;
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
  /** Fingerprints per container, so per-sample work is O(that container), never O(fleet). */
  private readonly byContainer = new Map<string, Set<string>>();
  private valkeyUp = true;
  /** Instances whose state, level, severity, timestamps of an edge or ledger changed: persisted promptly. */
  private readonly dirty = new Set<string>();
  /** Instances where only the observed value moved (value, last_value, last_true_at): persisted lazily. */
  private readonly valueDirty = new Set<string>();
  /** Containers whose last-seen entry is new or changed its interval (prompt) or only moved in time (lazy). */
  private readonly seenDirty = new Set<string>();
  private readonly seenMoved = new Set<string>();
  /** Fingerprints per container (a SHA-256 per rule per sample and per tick showed in profiles). */
  private readonly fpCache = new Map<string, Map<string, string>>();
  /** Rules removed by a reload, kept to describe their last (resolved) notifications. */
  private readonly retired = new Map<string, Rule>();

  /** New instances refused because `maxInstances` were held. */
  refusedInstances = 0;

  constructor(
    rules: RulesFile,
    private readonly clock: () => number = Date.now,
    /** At most this many instances are held (at 10,000 containers and the default rules, a few thousand fire at worst). */
    readonly maxInstances = 100_000,
  ) {
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
    const down = new Set<string>();
    for (const i of list) {
      this.store(i);
      if (i.level !== null && this.rule(i.rule_id)?.kind === 'container_down') down.add(i.container);
    }
    const now = this.clock();
    for (const [name, { at, intervalMs }] of lastSeen) {
      if (this.seen.has(name)) continue;
      // Samples were not watched while this process was away: staleness restarts
      // now, except for a container already known to be down.
      this.seen.set(name, { at: down.has(name) ? at : now, intervalMs });
    }
  }

  /** Instances whose state changed since the last call (what a leader must persist promptly). */
  drainDirty(): Instance[] {
    const out = this.collect(this.dirty);
    for (const fp of this.dirty) this.valueDirty.delete(fp);
    this.dirty.clear();
    return out;
  }

  /** Instances where only the observed value moved since the last call (persisted in batches). */
  drainValueDirty(): Instance[] {
    const out = this.collect(this.valueDirty);
    this.valueDirty.clear();
    return out;
  }

  /** True when a change waits that should be persisted promptly (an edge, a new container). */
  hasUrgentChanges(): boolean {
    return this.dirty.size > 0 || this.seenDirty.size > 0;
  }

  private collect(fps: ReadonlySet<string>): Instance[] {
    const out: Instance[] = [];
    for (const fp of fps) {
      const i = this.instances.get(fp);
      if (i !== undefined) out.push(i);
    }
    return out;
  }

  all(): Instance[] {
    return [...this.instances.values()];
  }

  /** The instances of one container (any rule, any element). */
  ofContainer(name: string): Instance[] {
    return this.collect(this.byContainer.get(name) ?? new Set());
  }

  get(fingerprint: string): Instance | undefined {
    return this.instances.get(fingerprint);
  }

  /** Replaces one instance (the notifier records deliveries through this). */
  put(i: Instance): void {
    this.store(i);
    this.dirty.add(i.fingerprint);
  }

  /** Every container's last-seen entry (a copy). */
  lastSeen(): Map<string, Seen> {
    return new Map([...this.seen].map(([k, v]) => [k, { ...v }]));
  }

  /**
   * Last-seen entries changed since the last call: with `all`, also those that
   * only moved in time (they matter after a restart only for containers that
   * are down, so they can wait for a batch).
   */
  drainSeen(all: boolean): Map<string, Seen> {
    const out = new Map<string, Seen>();
    const take = (names: Set<string>): void => {
      for (const n of names) {
        const s = this.seen.get(n);
        if (s !== undefined) out.set(n, { ...s });
      }
      names.clear();
    };
    take(this.seenDirty);
    if (all) take(this.seenMoved);
    return out;
  }

  private markSeen(name: string, at: number, intervalMs: number): void {
    const s = this.seen.get(name);
    if (s === undefined || s.intervalMs !== intervalMs) {
      this.seen.set(name, { at, intervalMs });
      this.seenDirty.add(name);
      return;
    }
    s.at = at;
    this.seenMoved.add(name);
  }

  private fp(ruleId: string, container: string, element: string | null): string {
    let m = this.fpCache.get(container);
    if (m === undefined) {
      m = new Map();
      this.fpCache.set(container, m);
    }
    const k = element === null ? ruleId : `${ruleId}\0${element}`;
    let fp = m.get(k);
    if (fp === undefined) {
      fp = fingerprintOf(ruleId, container, element);
      m.set(k, fp);
    }
    return fp;
  }

  private store(i: Instance): void {
    this.instances.set(i.fingerprint, i);
    let set = this.byContainer.get(i.container);
    if (set === undefined) {
      set = new Set();
      this.byContainer.set(i.container, set);
    }
    set.add(i.fingerprint);
  }

  private forget(i: Instance): void {
    this.instances.delete(i.fingerprint);
    this.dirty.delete(i.fingerprint);
    this.valueDirty.delete(i.fingerprint);
    const set = this.byContainer.get(i.container);
    set?.delete(i.fingerprint);
    if (set?.size === 0) this.byContainer.delete(i.container);
  }

  private instanceFor(ruleId: string, container: string, element: string | null, now: number): Instance {
    const fp = this.fp(ruleId, container, element);
    return this.instances.get(fp) ?? newInstance(fp, ruleId, container, element, now);
  }

  private apply(i: Instance, timing: Timing, level: Severity | null, value: number | null, now: number, out: Transition[]): void {
    const { next, transition } = step(i, timing, level, value, now);
    const known = this.instances.has(next.fingerprint);
    // Instances that never left inactive are not kept (bounded memory).
    if (next.state === 'inactive' && transition === null && !known) return;
    // A hard cap whatever the inputs: a new instance beyond it is refused and counted.
    if (!known && this.instances.size >= this.maxInstances) {
      this.refusedInstances += 1;
      return;
    }
    this.store(next);
    if (!known || transition !== null || edgeChanged(i, next)) this.dirty.add(next.fingerprint);
    else this.valueDirty.add(next.fingerprint);
    if (transition !== null) out.push(transition);
  }

  onSample(p: Payload): Transition[] {
    const now = this.clock();
    const out: Transition[] = [];
    const name = p.container_name;
    this.markSeen(name, now, p.interval_seconds * 1000);
    if (p.status === 'exited') this.status.set(name, 'exited');
    else if (this.status.get(name) !== 'ok') this.status.set(name, 'ok');
    for (const rule of this.rules.rules) {
      if (!matchesContainer(name, rule.match)) continue;
      const timing = { forMs: rule.for, keepFiringForMs: rule.keep_firing_for };
      if (rule.kind === 'container_down') {
        const i = this.instances.get(this.fp(rule.id, name, null));
        if (i !== undefined) this.apply(i, timing, null, 0, now, out);
        continue;
      }
      const values = evaluateMetric(p, rule.metric);
      const perElement = rule.metric.includes('[]');
      const present = perElement ? new Set<string>() : null;
      for (const v of values) {
        const fp = this.fp(rule.id, name, v.instance);
        present?.add(fp);
        const known = this.instances.get(fp);
        // The common case, a healthy container that never alerted on this rule: no
        // instance exists and none would be kept (apply drops one that stays
        // inactive), so nothing is built for it. Change rules keep their
        // previous value, so they always go on.
        if (known === undefined && rule.kind === 'threshold' && thresholdLevel(rule, v.value, null) === null) continue;
        const i = known ?? newInstance(fp, rule.id, name, v.instance, now);
        const level = rule.kind === 'threshold' ? thresholdLevel(rule, v.value, i.level) : changeLevel(rule, v.value, i.last_value);
        this.apply(i, timing, level, v.value, now, out);
        // Change rules need the previous value even while inactive.
        if (rule.kind !== 'threshold' && v.value !== null) {
          const cur = this.instances.get(i.fingerprint);
          if (cur === undefined) {
            this.store({ ...i, last_value: v.value });
            this.dirty.add(i.fingerprint);
          } else if (cur.last_value !== v.value) {
            this.store({ ...cur, last_value: v.value });
            if (!this.dirty.has(i.fingerprint)) this.valueDirty.add(i.fingerprint);
          }
        }
      }
      // An element that disappeared (GPU removed) clears its alert (a scalar path always has its one value).
      if (present === null) continue;
      for (const i of this.ofContainer(name)) {
        if (i.rule_id === rule.id && !present.has(i.fingerprint) && i.state !== 'inactive') {
          this.apply(i, timing, null, i.value, now, out);
        }
      }
    }
    return out;
  }

  /** A fleet status change: re-evaluates that container only. */
  onContainerStatus(name: string, status: ContainerStatus): Transition[] {
    this.status.set(name, status);
    if (!this.seen.has(name) && status !== 'exited') this.markSeen(name, this.clock(), 5000);
    const now = this.clock();
    const out: Transition[] = [];
    this.evaluateDown(name, now, out);
    for (const i of this.ofContainer(name)) this.evaluateHeld(i, now, out);
    return out;
  }

  onValkeyUp(up: boolean): Transition[] {
    if (up === this.valkeyUp) return [];
    this.valkeyUp = up;
    const now = this.clock();
    const out: Transition[] = [];
    const i = this.instanceFor(VALKEY_RULE_ID, '', null, now);
    this.apply(i, { forMs: 0, keepFiringForMs: 0 }, up ? null : 'critical', null, now, out);
    // Samples could not arrive during the outage: the staleness clock restarts now.
    if (up) {
      for (const [name, s] of this.seen) {
        s.at = now;
        this.seenMoved.add(name);
      }
    }
    return out;
  }

  isDown(name: string): boolean {
    const st = this.status.get(name);
    if (st === 'stale' || st === 'offline') return true;
    // Direct lookups: scanning every instance here made each sample cost O(fleet).
    for (const rule of this.rules.rules) {
      if (rule.kind !== 'container_down') continue;
      const i = this.instances.get(this.fp(rule.id, name, null));
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
        this.seenDirty.delete(name);
        this.seenMoved.delete(name);
        this.fpCache.delete(name);
        containers.push(name);
      }
    }
    for (const [fp, i] of this.instances) {
      const idle = i.state === 'resolved' || i.state === 'inactive';
      if (idle && i.updated_at < cutoff) {
        this.forget(i);
        fingerprints.push(fp);
      }
    }
    return { fingerprints, containers };
  }

  /**
   * A container that left the registry: its last-seen entry and every
   * instance of it are dropped, without transitions (it is gone, not down).
   * Returns the dropped fingerprints (the leader deletes them from Valkey).
   */
  forgetContainer(name: string): string[] {
    this.seen.delete(name);
    this.status.delete(name);
    this.seenDirty.delete(name);
    this.seenMoved.delete(name);
    this.fpCache.delete(name);
    const gone = this.ofContainer(name);
    for (const i of gone) this.forget(i);
    return gone.map((i) => i.fingerprint);
  }

  /** Time-based edges: `for` elapsed, `keep_firing_for` expired, staleness. */
  tick(): Transition[] {
    const out: Transition[] = [];
    const steps = this.tickSteps(out);
    while (steps.next().done !== true) {
      // every step at once
    }
    return out;
  }

  /**
   * The same tick as steps (one container's staleness, or one instance's
   * time-based edges, each), transitions appended to `out`, so a caller can
   * spread it over event-loop turns: at 10,000 containers a whole tick is
   * tens of milliseconds. Between steps samples may arrive; Map iteration
   * sees entries added meanwhile and skips those deleted, and each instance
   * is read when its step comes.
   */
  *tickSteps(out: Transition[]): Generator<undefined, void, undefined> {
    const now = this.clock();
    for (const name of this.seen.keys()) {
      this.evaluateDown(name, now, out);
      yield;
    }
    // apply() only replaces existing keys here, which a Map iteration tolerates.
    for (const i of this.instances.values()) {
      this.evaluateHeld(i, now, out);
      yield;
    }
  }

  /** Every instance, lazily (for callers that walk them in steps). */
  instancesNow(): IterableIterator<Instance> {
    return this.instances.values();
  }

  /** Staleness of one container against the container_down rules. */
  private evaluateDown(name: string, now: number, out: Transition[]): void {
    const s = this.seen.get(name);
    if (!this.valkeyUp || s === undefined) return;
    for (const rule of this.rules.rules) {
      if (rule.kind !== 'container_down' || !matchesContainer(name, rule.match)) continue;
      const exited = this.status.get(name) === 'exited';
      const age = now - s.at;
      const level = exited ? null : downLevel(rule, age, s.intervalMs);
      // The common case, a healthy container with no down alert: nothing to step (no allocation per container per tick).
      if (level === null && !this.instances.has(this.fp(rule.id, name, null))) continue;
      const i = this.instanceFor(rule.id, name, null, now);
      this.apply(i, { forMs: rule.for, keepFiringForMs: rule.keep_firing_for }, level, Math.round(age / 1000), now, out);
    }
  }

  /** Time-based edges of a pending or firing metric alert (`for`, `keep_firing_for`). */
  private evaluateHeld(i: Instance, now: number, out: Transition[]): void {
    if (i.state !== 'pending' && i.state !== 'firing') return;
    const rule = this.rule(i.rule_id);
    if (rule === undefined || rule.kind === 'container_down' || !this.isCurrent(rule.id)) return;
    // A down container's alerts hold their state: no false "resolved".
    if (this.isDown(i.container)) return;
    // A change is an event seen in one sample; only a threshold level persists between samples.
    const level = rule.kind === 'threshold' ? i.level : null;
    this.apply(i, { forMs: rule.for, keepFiringForMs: rule.keep_firing_for }, level, i.value, now, out);
  }
}
