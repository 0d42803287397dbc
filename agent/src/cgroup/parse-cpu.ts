import { keyedCount, parseBigIntToken, parseKeyedFile, parseLimit, ParseError, toCount } from './values.js';

/**
 * CPU file parsers for cgroup v2 and v1. Every time value is returned in
 * microseconds: v2 counts in µs natively, and v1's nanosecond counters would
 * pass 2^53 after ~104 days of CPU time (a day and a half on a 64-core host
 * root), while µs stay exact for ~285 years of CPU time.
 */

/** A CFS bandwidth setting; `quotaUs` null means no quota. */
export interface CpuQuota {
  quotaUs: number | null;
  periodUs: number;
}

function parsePeriod(token: string, what: string): number {
  const period = toCount(parseBigIntToken(token, what), what);
  // The kernel refuses periods under 1 ms, so 0 can only be a corrupt read.
  if (period <= 0) throw new ParseError(`${what}: period must be positive, got ${token}`);
  return period;
}

function parseQuota(token: string, what: string): number | null {
  const quota = parseLimit(token, what);
  // Likewise a quota of 0 would mean "no CPU at all", which the kernel refuses.
  if (quota === 0) throw new ParseError(`${what}: quota must be positive, got ${token}`);
  return quota;
}

/** v2 `cpu.max`: `"<quota|max> <period>"`. */
export function parseCpuMax(text: string): CpuQuota {
  const parts = text.trim().split(/\s+/);
  const [quota, period] = parts;
  if (parts.length !== 2 || quota === undefined || period === undefined) {
    throw new ParseError(`cpu.max: expected "<quota|max> <period>", got ${JSON.stringify(text.trim().slice(0, 60))}`);
  }
  return { quotaUs: parseQuota(quota, 'cpu.max quota'), periodUs: parsePeriod(period, 'cpu.max period') };
}

/** v1 `cpu.cfs_quota_us` (`-1` = none) and `cpu.cfs_period_us`. */
export function parseCfsQuota(quotaText: string, periodText: string): CpuQuota {
  return {
    quotaUs: parseQuota(quotaText.trim(), 'cpu.cfs_quota_us'),
    periodUs: parsePeriod(periodText.trim(), 'cpu.cfs_period_us'),
  };
}

/** Cores a quota allows (fractional stays fractional), or null without a quota. */
export function quotaCores(q: CpuQuota): number | null {
  return q.quotaUs === null ? null : q.quotaUs / q.periodUs;
}

/** Throttling counters; each is null when the file lacks its key. */
export interface CpuThrottling {
  periods: number | null;
  throttledPeriods: number | null;
  throttledUs: number | null;
}

/** Usage counters in µs; each is null when the source lacks it. */
export interface CpuUsage {
  usageUs: number | null;
  userUs: number | null;
  systemUs: number | null;
}

/**
 * v2 `cpu.stat`. `usage_usec`, `user_usec` and `system_usec` are always
 * there; the throttling keys only when the cpu controller is enabled for the
 * cgroup (never at the root).
 */
export function parseCpuStatV2(text: string): CpuUsage & CpuThrottling {
  const m = parseKeyedFile(text);
  return {
    usageUs: keyedCount(m, 'usage_usec', 'cpu.stat'),
    userUs: keyedCount(m, 'user_usec', 'cpu.stat'),
    systemUs: keyedCount(m, 'system_usec', 'cpu.stat'),
    periods: keyedCount(m, 'nr_periods', 'cpu.stat'),
    throttledPeriods: keyedCount(m, 'nr_throttled', 'cpu.stat'),
    throttledUs: keyedCount(m, 'throttled_usec', 'cpu.stat'),
  };
}

function nsToUs(ns: bigint, what: string): number {
  return toCount(ns / 1000n, what);
}

/** v1 cpu-controller `cpu.stat`: `throttled_time` is in ns. */
export function parseCpuStatV1(text: string): CpuThrottling {
  const m = parseKeyedFile(text);
  const throttledNs = m.get('throttled_time');
  return {
    periods: keyedCount(m, 'nr_periods', 'cpu.stat'),
    throttledPeriods: keyedCount(m, 'nr_throttled', 'cpu.stat'),
    throttledUs: throttledNs === undefined ? null : nsToUs(throttledNs, 'cpu.stat throttled_time'),
  };
}

/** v1 `cpuacct.usage`: total CPU time in ns → µs. */
export function parseCpuacctUsage(text: string): number {
  return nsToUs(parseBigIntToken(text.trim(), 'cpuacct.usage'), 'cpuacct.usage');
}

/** USER_HZ is 100 on every Linux ABI the agent runs on (it is fixed for userspace, unlike CONFIG_HZ). */
export const USER_HZ = 100;
const US_PER_TICK = 1_000_000 / USER_HZ;

/** v1 `cpuacct.stat`: `user` and `system` in USER_HZ ticks → µs. */
export function parseCpuacctStat(text: string): { userUs: number | null; systemUs: number | null } {
  const m = parseKeyedFile(text);
  const user = keyedCount(m, 'user', 'cpuacct.stat');
  const system = keyedCount(m, 'system', 'cpuacct.stat');
  return {
    userUs: user === null ? null : user * US_PER_TICK,
    systemUs: system === null ? null : system * US_PER_TICK,
  };
}
