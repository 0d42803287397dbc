import { join } from '../fsread/join.js';
import type { CpuBlock, CpuLimitSource } from '../../../shared/src/payload.js';
import { ancestorsOf, type Hierarchy } from '../cgroup/location.js';
import {
  parseCfsQuota,
  parseCpuacctStat,
  parseCpuacctUsage,
  parseCpuMax,
  parseCpuStatV1,
  parseCpuStatV2,
  quotaCores,
  type CpuThrottling,
  type CpuUsage,
} from '../cgroup/parse-cpu.js';
import { parseCpuListCount } from '../cgroup/values.js';
import { AbsentFiles, withPath } from '../fsread/absent-files.js';
import { readTextIfExists } from '../fsread/read-text.js';
import { CounterRates, percentOf, safeDivide } from '../rate.js';
import type { AgentEnv, Collector, CollectorReport, Tick } from './types.js';

type CpuField = keyof CpuBlock;

const USAGE_FIELDS: readonly CpuField[] = [
  'cores_used',
  'percent_of_limit',
  'docker_percent',
  'usage_seconds_total',
];
const USER_FIELDS: readonly CpuField[] = ['user_cores', 'user_seconds_total'];
const SYSTEM_FIELDS: readonly CpuField[] = ['system_cores', 'system_seconds_total'];
const THROTTLING_FIELDS: readonly CpuField[] = [
  'throttled_percent',
  'periods_total',
  'throttled_periods_total',
  'throttled_seconds_total',
];
const LIMIT_FIELDS: readonly CpuField[] = ['limit_cores', 'limit_source', 'percent_of_limit'];

interface CpuLimit {
  cores: number;
  source: CpuLimitSource;
}

interface Timed<T> {
  value: T;
  atNs: bigint;
}

type StatResult =
  | { kind: 'ok'; path: string; value: CpuUsage & CpuThrottling; atNs: bigint }
  | { kind: 'missing'; path: string }
  | { kind: 'failed'; error: unknown };

const noUsage: CpuUsage = { usageUs: null, userUs: null, systemUs: null };
const noThrottling: CpuThrottling = { periods: null, throttledPeriods: null, throttledUs: null };

function unsupported(report: CollectorReport, fields: readonly CpuField[], reason: string): void {
  for (const f of fields) report.unsupported(f, reason);
}

function failed(report: CollectorReport, fields: readonly CpuField[], err: unknown): void {
  for (const f of fields) report.failed(f, err);
}

/** `throttled_percent` = 100 × Δnr_throttled / Δnr_periods between consecutive readings. */
class ThrottleRatio {
  private prev: { periods: number; throttled: number } | null = null;

  update(periods: number, throttled: number): number | null {
    const prev = this.prev;
    this.prev = { periods, throttled };
    if (prev === null) return null;
    const dPeriods = periods - prev.periods;
    const dThrottled = throttled - prev.throttled;
    // Either counter going down is a reset (the cgroup was re-created): no figure this time.
    if (dPeriods < 0 || dThrottled < 0) return null;
    // The period timer only runs while the cgroup has runnable tasks: no period
    // elapsed means the cgroup was idle, and an idle cgroup is not throttled.
    if (dPeriods === 0) return 0;
    return percentOf(dThrottled, dPeriods);
  }
}

/**
 * CPU usage, limit and throttling (docs/measurement.md §2). Usage comes from the
 * cpuacct hierarchy on v1 and `cpu.stat` on v2; quota and throttling from the
 * cpu hierarchy (on v1 these may be separate mounts, or co-mounted as
 * `cpu,cpuacct`). Limits are re-read every tick because `docker update`
 * changes them on a running container.
 */
class CpuCollector implements Collector<'cpu'> {
  readonly name = 'cpu';
  private readonly usageH: Hierarchy | null;
  private readonly cpuH: Hierarchy | null;
  private readonly cpusetH: Hierarchy | null;
  /** The cpu hierarchy's directories from the cgroup up to the mount, nearest first. */
  private readonly quotaDirs: readonly string[];
  private readonly rates: CounterRates;
  private readonly throttle = new ThrottleRatio();
  private readonly absent: AbsentFiles;

  constructor(private readonly env: AgentEnv) {
    const c = env.cgroup.controllers;
    this.cpuH = c.cpu ?? null;
    this.usageH = c.cpuacct ?? c.cpu ?? null;
    this.cpusetH = c.cpuset ?? null;
    this.quotaDirs = this.cpuH === null ? [] : ancestorsOf(this.cpuH);
    this.rates = new CounterRates(env.minRateDeltaNs);
    this.absent = new AbsentFiles(env.clock);
  }

  collect(tick: Tick, report: CollectorReport): CpuBlock {
    const { usage, throttling } = this.readCounters(report);
    const limit = this.readLimit(tick, report);

    const coresOf = (key: string, us: number | null, at: bigint): number | null => {
      if (us === null) return null;
      const rate = this.rates.update(key, us, at).rate;
      return rate === null ? null : rate / 1e6;
    };
    const cores = coresOf('usage', usage.value.usageUs, usage.atNs);
    const user = coresOf('user', usage.value.userUs, usage.atNs);
    const system = coresOf('system', usage.value.systemUs, usage.atNs);

    const { periods, throttledPeriods, throttledUs } = throttling;
    const throttledPercent =
      periods === null || throttledPeriods === null ? null : this.throttle.update(periods, throttledPeriods);

    const percentOfLimit = cores === null || limit === null ? null : safeDivide(100 * cores, limit.cores);
    const seconds = (us: number | null): number | null => (us === null ? null : us / 1e6);
    return {
      cores_used: cores,
      user_cores: user,
      system_cores: system,
      limit_cores: limit?.cores ?? null,
      limit_source: limit?.source ?? null,
      percent_of_limit: percentOfLimit,
      docker_percent: cores === null ? null : 100 * cores,
      throttled_percent: throttledPercent,
      usage_seconds_total: seconds(usage.value.usageUs),
      user_seconds_total: seconds(usage.value.userUs),
      system_seconds_total: seconds(usage.value.systemUs),
      throttled_periods_total: throttledPeriods,
      periods_total: periods,
      throttled_seconds_total: seconds(throttledUs),
    };
  }

  /** Reads usage and throttling counters; what cannot be read is reported and left null. */
  private readCounters(report: CollectorReport): { usage: Timed<CpuUsage>; throttling: CpuThrottling } {
    const usageH = this.usageH;
    const cpuH = this.cpuH;
    let usage: Timed<CpuUsage> = { value: noUsage, atNs: 0n };
    let throttling = noThrottling;
    // On v2 usage and throttling share one cpu.stat: read it once.
    let v2: { dir: string; result: StatResult } | null = null;
    const v2Stat = (h: Hierarchy): StatResult => {
      if (v2?.dir !== h.dir) v2 = { dir: h.dir, result: this.readV2Stat(h) };
      return v2.result;
    };

    if (usageH === null) {
      unsupported(report, [...USAGE_FIELDS, ...USER_FIELDS, ...SYSTEM_FIELDS], 'no cpu or cpuacct cgroup hierarchy found');
    } else if (usageH.version === 1) {
      usage = this.readV1Usage(usageH, report);
    } else {
      const r = v2Stat(usageH);
      const fields = [...USAGE_FIELDS, ...USER_FIELDS, ...SYSTEM_FIELDS];
      if (r.kind === 'missing') unsupported(report, fields, `${r.path} missing (cgroup v2 CPU accounting needs kernel >= 4.15)`);
      else if (r.kind === 'failed') failed(report, fields, r.error);
      else {
        usage = { value: r.value, atNs: r.atNs };
        if (r.value.usageUs === null) unsupported(report, USAGE_FIELDS, `${r.path} has no usage_usec`);
        if (r.value.userUs === null) unsupported(report, USER_FIELDS, `${r.path} has no user_usec`);
        if (r.value.systemUs === null) unsupported(report, SYSTEM_FIELDS, `${r.path} has no system_usec`);
      }
    }

    if (cpuH === null) {
      unsupported(report, THROTTLING_FIELDS, 'no cpu cgroup hierarchy found');
    } else if (cpuH.version === 1) {
      throttling = this.readV1Throttling(cpuH, report);
    } else {
      const r = v2Stat(cpuH);
      if (r.kind === 'missing') unsupported(report, THROTTLING_FIELDS, `${r.path} missing`);
      else if (r.kind === 'failed') failed(report, THROTTLING_FIELDS, r.error);
      else throttling = this.checkThrottling(r.value, cpuH, report);
    }
    return { usage, throttling };
  }

  private readV2Stat(h: Hierarchy): StatResult {
    const path = join(h.dir, 'cpu.stat');
    try {
      const text = readTextIfExists(path);
      const atNs = this.env.clock();
      if (text === null) return { kind: 'missing', path };
      return { kind: 'ok', path, value: parseCpuStatV2(text), atNs };
    } catch (err) {
      return { kind: 'failed', error: withPath(path, err) };
    }
  }

  /** v2 throttling keys exist only where the cpu controller is enabled. */
  private checkThrottling(t: CpuThrottling, h: Hierarchy, report: CollectorReport): CpuThrottling {
    if (t.periods !== null && t.throttledPeriods !== null && t.throttledUs !== null) return t;
    let reason: string;
    if (this.env.cgroup.scope === 'host') {
      reason = 'the host root cgroup has no CPU bandwidth control (its cpu.stat has no nr_periods)';
    } else if (this.env.cgroup.v2Controllers?.has('cpu') === false) {
      reason = `cpu controller not enabled for ${h.dir} (cgroup.controllers lacks "cpu"), so cpu.stat has no throttling counters`;
    } else {
      reason = `${join(h.dir, 'cpu.stat')} has no nr_periods/nr_throttled/throttled_usec (cpu controller not enabled)`;
    }
    const out = { ...t };
    if (t.periods === null || t.throttledPeriods === null) {
      unsupported(report, ['throttled_percent', 'periods_total', 'throttled_periods_total'], reason);
      out.periods = null;
      out.throttledPeriods = null;
    }
    if (t.throttledUs === null) unsupported(report, ['throttled_seconds_total'], reason);
    return out;
  }

  private readV1Usage(h: Hierarchy, report: CollectorReport): Timed<CpuUsage> {
    const usagePath = join(h.dir, 'cpuacct.usage');
    const statPath = join(h.dir, 'cpuacct.stat');
    let usageUs: number | null = null;
    let userUs: number | null = null;
    let systemUs: number | null = null;
    let atNs = 0n;
    try {
      const text = readTextIfExists(usagePath);
      atNs = this.env.clock();
      if (text === null) unsupported(report, USAGE_FIELDS, `${usagePath} missing (cpuacct controller not available)`);
      else usageUs = parseCpuacctUsage(text);
    } catch (err) {
      failed(report, USAGE_FIELDS, withPath(usagePath, err));
    }
    try {
      const text = readTextIfExists(statPath);
      if (atNs === 0n) atNs = this.env.clock();
      if (text === null) {
        unsupported(report, [...USER_FIELDS, ...SYSTEM_FIELDS], `${statPath} missing (cpuacct controller not available)`);
      } else {
        ({ userUs, systemUs } = parseCpuacctStat(text));
        if (userUs === null) unsupported(report, USER_FIELDS, `${statPath} has no user line`);
        if (systemUs === null) unsupported(report, SYSTEM_FIELDS, `${statPath} has no system line`);
      }
    } catch (err) {
      failed(report, [...USER_FIELDS, ...SYSTEM_FIELDS], withPath(statPath, err));
    }
    return { value: { usageUs, userUs, systemUs }, atNs };
  }

  private readV1Throttling(h: Hierarchy, report: CollectorReport): CpuThrottling {
    const path = join(h.dir, 'cpu.stat');
    try {
      const text = readTextIfExists(path);
      if (text === null) {
        unsupported(report, THROTTLING_FIELDS, `${path} missing (cpu controller not mounted for this cgroup)`);
        return noThrottling;
      }
      const t = parseCpuStatV1(text);
      const reason = `${path} has no throttling counters (kernel built without CONFIG_CFS_BANDWIDTH)`;
      if (t.periods === null || t.throttledPeriods === null) {
        unsupported(report, ['throttled_percent', 'periods_total', 'throttled_periods_total'], reason);
        return { periods: null, throttledPeriods: null, throttledUs: t.throttledUs };
      }
      if (t.throttledUs === null) unsupported(report, ['throttled_seconds_total'], reason);
      return t;
    } catch (err) {
      failed(report, THROTTLING_FIELDS, withPath(path, err));
      return noThrottling;
    }
  }

  /**
   * The smallest of: the CFS quota over the cgroup and its ancestors, the
   * cpuset size, and the host's CPUs. On a tie the more specific source is
   * named (a quota over a cpuset, the host over a cpuset that holds every CPU).
   */
  private readLimit(tick: Tick, report: CollectorReport): CpuLimit | null {
    const host: CpuLimit = { cores: tick.hostCpus(), source: 'host' };
    // At the host root nothing bounds the CPUs but the machine itself.
    if (this.env.cgroup.scope === 'host') return host;
    let quota: CpuLimit | null;
    let cpuset: CpuLimit | null;
    try {
      quota = this.readQuota();
      cpuset = this.readCpuset();
    } catch (err) {
      failed(report, LIMIT_FIELDS, err);
      return null;
    }
    let best = quota ?? host;
    for (const c of [host, cpuset]) if (c !== null && c.cores < best.cores) best = c;
    return best;
  }

  /** Throws with the path on a malformed file; a missing file means no quota at that level. */
  private readQuota(): CpuLimit | null {
    const h = this.cpuH;
    if (h === null) return null;
    let best: CpuLimit | null = null;
    for (const [i, dir] of this.quotaDirs.entries()) {
      const cores = h.version === 2 ? readV2Quota(dir, this.absent) : readV1Quota(dir, this.absent);
      // Strictly smaller: on a tie the cgroup's own setting is the one named.
      if (cores !== null && (best === null || cores < best.cores)) {
        best = { cores, source: i === 0 ? 'cpu.max' : 'ancestor' };
      }
    }
    return best;
  }

  private readCpuset(): CpuLimit | null {
    const h = this.cpusetH;
    if (h === null) return null;
    // v2's effective list already reflects the ancestors; v1 enforces a child's
    // cpuset.cpus to be a subset of its parent's, so the own directory suffices.
    const path = join(h.dir, h.version === 2 ? 'cpuset.cpus.effective' : 'cpuset.cpus');
    // Often absent (a runtime that made no cpuset cgroup): probed once a minute, not every tick.
    const text = this.absent.read(path);
    if (text === null) return null;
    let n: number;
    try {
      n = parseCpuListCount(text, path);
    } catch (err) {
      throw withPath(path, err);
    }
    // An empty set only occurs on a v1 cpuset nobody configured (it cannot hold tasks): no bound.
    return n > 0 ? { cores: n, source: 'cpuset' } : null;
  }
}

function readV2Quota(dir: string, absent: AbsentFiles): number | null {
  const path = join(dir, 'cpu.max');
  const text = absent.read(path);
  if (text === null) return null;
  try {
    return quotaCores(parseCpuMax(text));
  } catch (err) {
    throw withPath(path, err);
  }
}

function readV1Quota(dir: string, absent: AbsentFiles): number | null {
  const quotaPath = join(dir, 'cpu.cfs_quota_us');
  const quotaText = absent.read(quotaPath);
  // -1 is by far the common case (every level without a quota): skip reading the period then.
  if (quotaText === null || quotaText.trim() === '-1') return null;
  const periodPath = join(dir, 'cpu.cfs_period_us');
  const periodText = readTextIfExists(periodPath);
  if (periodText === null) return null;
  try {
    return quotaCores(parseCfsQuota(quotaText, periodText));
  } catch (err) {
    throw withPath(dir, err);
  }
}

export function createCpuCollector(env: AgentEnv): Collector<'cpu'> {
  return new CpuCollector(env);
}
