import type { SiriusResourceRow } from '../../shared/src/sirius.js';
import type { ContainerView } from './fleet/fleet.js';

/**
 * The shapes SiriusScan's UI reads from `GET /api/v1/system/resources` and
 * `/api/v1/system/logs` (its sirius-ui `/system-monitor` page), so that UI can
 * point here unchanged.
 */

const UNITS = ['B', 'KB', 'MB', 'GB', 'TB'] as const;

/**
 * Bytes as SiriusScan's API formats them (Go: divide by 1024 while ≥ 1024, up
 * to TB, then `%.1f` and the unit): `512.0B`, `1.5KB`, `512.0MB`; exactly zero
 * is `0B`. Go's `%.1f` rounds the exact binary value and breaks ties to even
 * (1280 B = 1.25 KB → `1.2KB`), where JavaScript's `toFixed` breaks them up,
 * so the rounding is done here in integers. Go's fields are integers: a
 * fractional count is rounded to whole bytes first; missing, negative or
 * non-finite counts (which a Go consumer decodes as 0) are `0B`.
 */
export function formatBytes(n: number | null): string {
  if (n === null || !Number.isFinite(n) || n <= 0) return '0B';
  const whole = Math.round(n);
  if (whole === 0) return '0B';
  let u = 0;
  for (let v = whole; v >= 1024 && u < UNITS.length - 1; v /= 1024) u += 1;
  return `${tenthsHalfEven(BigInt(whole), 1024n ** BigInt(u))}${UNITS[u] ?? 'TB'}`;
}

/** `num / den` with one decimal, rounded to nearest, ties to even (num, den > 0). */
function tenthsHalfEven(num: bigint, den: bigint): string {
  let q = (num * 10n) / den;
  const twiceRest = 2n * ((num * 10n) % den);
  if (twiceRest > den || (twiceRest === den && q % 2n === 1n)) q += 1n;
  return `${q / 10n}.${q % 10n}`;
}

/** `45s`, `3m 20s`, `2h 5m`, `4d 3h`. */
export function formatUptime(seconds: number | null): string {
  const s = seconds === null || !Number.isFinite(seconds) || seconds < 0 ? 0 : Math.floor(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86_400)}d ${Math.floor((s % 86_400) / 3600)}h`;
}

const num = (v: number | null | undefined): number => (v === null || v === undefined || !Number.isFinite(v) ? 0 : v);

/** A row with nothing measured: zeros, `0B`, `0s`. */
function emptyRow(name: string, status: string): SiriusResourceRow {
  return {
    name,
    cpu_percent: 0,
    memory_usage: '0B',
    memory_percent: 0,
    network_io: '0B / 0B',
    block_io: '0B / 0B',
    disk_usage: '0B / 0B',
    disk_percent: 0,
    process_count: 0,
    file_descriptors: 0,
    load_average_1m: 0,
    load_average_5m: 0,
    load_average_15m: 0,
    uptime: '0s',
    status,
  };
}

/**
 * One container as SiriusScan's resources table shows it. A container that
 * stopped cleanly stays `exited` (with zeros) after its key expires, for as
 * long as the fleet remembers it; `unknown` is kept for a container whose
 * state nobody knows (its key expired without a final sample).
 */
export function siriusRow(c: ContainerView): SiriusResourceRow {
  const p = c.status === 'offline' ? null : c.digest;
  if (p === null) return emptyRow(c.name, c.status === 'exited' ? 'exited' : 'unknown');
  return {
    name: c.name,
    cpu_percent: num(p.cpu_percent),
    memory_usage: formatBytes(p.memory_usage_bytes),
    memory_percent: num(p.memory_percent),
    network_io: `${formatBytes(p.network_rx_bytes)} / ${formatBytes(p.network_tx_bytes)}`,
    block_io: `${formatBytes(p.disk_read_bytes)} / ${formatBytes(p.disk_write_bytes)}`,
    disk_usage: `${formatBytes(p.disk_usage_bytes)} / ${formatBytes(p.disk_total_bytes)}`,
    disk_percent: num(p.disk_percent),
    process_count: num(p.process_count),
    file_descriptors: num(p.file_descriptors),
    load_average_1m: num(p.load_average_1m),
    load_average_5m: num(p.load_average_5m),
    load_average_15m: num(p.load_average_15m),
    uptime: formatUptime(p.uptime_seconds),
    // A stale sample is not "running": the UI must not show a dead container as alive.
    status: c.status === 'ok' ? p.status : c.status,
  };
}

export interface FleetTotals {
  cores_used: number;
  cores_limit: number;
  memory_bytes: number;
  memory_limit_bytes: number;
}

/** Sums over containers with a live sample; limits use each container's effective limit. */
export function fleetTotals(containers: readonly ContainerView[]): FleetTotals {
  const t: FleetTotals = { cores_used: 0, cores_limit: 0, memory_bytes: 0, memory_limit_bytes: 0 };
  for (const c of containers) {
    const d = c.digest;
    if (c.status !== 'ok' || d === null) continue;
    t.cores_used += num(d.cores_used);
    t.cores_limit += num(d.limit_cores);
    t.memory_bytes += num(d.memory_usage_bytes);
    t.memory_limit_bytes += num(d.memory_limit_bytes);
  }
  return t;
}

/**
 * `summary{}` with SiriusScan's field names but meaningful values: the
 * original summed per-container percentages; here `total_cpu_percent` is
 * fleet cores used over fleet core limits and `total_memory_percent` bytes
 * used over the sum of memory limits (live containers only).
 */
export function siriusSummary(containers: readonly ContainerView[], rows: SiriusResourceRow[]) {
  const t = fleetTotals(containers);
  return {
    total_containers: rows.length,
    running_containers: rows.filter((r) => r.status === 'running').length,
    total_cpu_percent: t.cores_limit > 0 ? (100 * t.cores_used) / t.cores_limit : 0,
    total_memory_usage: formatBytes(t.memory_bytes),
    total_memory_percent: t.memory_limit_bytes > 0 ? (100 * t.memory_bytes) / t.memory_limit_bytes : 0,
  };
}
