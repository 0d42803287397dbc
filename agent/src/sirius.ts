import type { Payload } from '../../shared/src/payload.js';
import type { Blocks } from './collectors/types.js';

export type SiriusFields = Pick<
  Payload,
  | 'cpu_percent'
  | 'memory_usage_bytes'
  | 'memory_percent'
  | 'network_rx_bytes'
  | 'network_tx_bytes'
  | 'disk_read_bytes'
  | 'disk_write_bytes'
  | 'disk_usage_bytes'
  | 'disk_total_bytes'
  | 'disk_percent'
  | 'process_count'
  | 'file_descriptors'
  | 'load_average_1m'
  | 'load_average_5m'
  | 'load_average_15m'
  | 'uptime_seconds'
>;

type Nullable<T> = { [K in keyof T]: T[K] | null };

/**
 * The flat SiriusScan fields, derived from the nested blocks so each number
 * has one source. A block that is null (its collector failed) makes its
 * fields null, never a made-up value.
 */
export function siriusFields(b: Nullable<Blocks>): SiriusFields {
  const rootDisk = b.disk?.mounts.find((m) => m.path === '/') ?? b.disk?.mounts[0] ?? null;
  const pct = b.cpu?.percent_of_limit ?? null;
  return {
    // Percent of what the container may use; the Go consumer colours 0–100.
    cpu_percent: pct === null ? null : Math.min(100, pct),
    memory_usage_bytes: b.memory?.usage_bytes ?? null,
    memory_percent: b.memory?.percent ?? null,
    network_rx_bytes: b.network?.rx_bytes_total ?? null,
    network_tx_bytes: b.network?.tx_bytes_total ?? null,
    disk_read_bytes: b.io?.read_bytes_total ?? null,
    disk_write_bytes: b.io?.write_bytes_total ?? null,
    disk_usage_bytes: rootDisk?.used_bytes ?? null,
    disk_total_bytes: rootDisk?.total_bytes ?? null,
    disk_percent: rootDisk?.percent ?? null,
    process_count: b.processes?.count ?? null,
    file_descriptors: b.processes?.fds ?? null,
    // /proc/loadavg is host-wide; kept for compatibility and labelled in system.host_load_average.
    load_average_1m: b.system?.host_load_average?.load1 ?? null,
    load_average_5m: b.system?.host_load_average?.load5 ?? null,
    load_average_15m: b.system?.host_load_average?.load15 ?? null,
    uptime_seconds: b.system?.uptime_seconds ?? null,
  };
}
