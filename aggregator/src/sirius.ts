import type { Payload } from '../../shared/src/payload.js';
import type { ContainerView } from './fleet.js';

/**
 * The shapes SiriusScan's UI reads from `GET /api/v1/system/resources` and
 * `/api/v1/system/logs` (its sirius-ui `/system-monitor` page), so that UI can
 * point here unchanged.
 */

const UNITS = ['B', 'KB', 'MB', 'GB', 'TB'] as const;

/** Base 1024, one decimal, unit without a space (`1.5GB`, `512.0MB`); zero is `0B`. */
export function formatBytes(n: number | null): string {
  if (n === null || !Number.isFinite(n) || n <= 0) return '0B';
  let v = n;
  let u = 0;
  while (v >= 1024 && u < UNITS.length - 1) {
    v /= 1024;
    u += 1;
  }
  return u === 0 ? `${Math.round(v)}B` : `${v.toFixed(1)}${UNITS[u] ?? 'TB'}`;
}

/** `45s`, `3m 20s`, `2h 5m`, `4d 3h`. */
export function formatUptime(seconds: number | null): string {
  const s = seconds === null || !Number.isFinite(seconds) || seconds < 0 ? 0 : Math.floor(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86_400)}d ${Math.floor((s % 86_400) / 3600)}h`;
}

export interface SiriusContainerRow {
  name: string;
  cpu_percent: number;
  memory_usage: string;
  memory_percent: number;
  network_io: string;
  block_io: string;
  disk_usage: string;
  disk_percent: number;
  process_count: number;
  file_descriptors: number;
  load_average_1m: number;
  load_average_5m: number;
  load_average_15m: number;
  uptime: string;
  status: string;
}

const num = (v: number | null | undefined): number => (v === null || v === undefined || !Number.isFinite(v) ? 0 : v);

export function siriusRow(c: ContainerView): SiriusContainerRow {
  const p: Payload | null = c.status === 'offline' ? null : c.sample;
  if (p === null) {
    return {
      name: c.name,
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
      status: 'unknown',
    };
  }
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
export function fleetTotals(containers: ContainerView[]): FleetTotals {
  const t: FleetTotals = { cores_used: 0, cores_limit: 0, memory_bytes: 0, memory_limit_bytes: 0 };
  for (const c of containers) {
    if (c.status !== 'ok' || c.sample === null) continue;
    t.cores_used += num(c.sample.cpu?.cores_used);
    t.cores_limit += num(c.sample.cpu?.limit_cores);
    t.memory_bytes += num(c.sample.memory_usage_bytes);
    t.memory_limit_bytes += num(c.sample.memory?.limit_bytes);
  }
  return t;
}

/**
 * `summary{}` with SiriusScan's field names but meaningful values: the
 * original summed per-container percentages; here `total_cpu_percent` is
 * fleet cores used over fleet core limits and `total_memory_percent` bytes
 * used over the sum of memory limits (live containers only).
 */
export function siriusSummary(containers: ContainerView[], rows: SiriusContainerRow[]) {
  const t = fleetTotals(containers);
  return {
    total_containers: rows.length,
    running_containers: rows.filter((r) => r.status === 'running').length,
    total_cpu_percent: t.cores_limit > 0 ? (100 * t.cores_used) / t.cores_limit : 0,
    total_memory_usage: formatBytes(t.memory_bytes),
    total_memory_percent: t.memory_limit_bytes > 0 ? (100 * t.memory_bytes) / t.memory_limit_bytes : 0,
  };
}
