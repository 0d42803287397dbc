import type { Payload } from '../../../shared/src/payload.js';

/** SiriusScan's flat fields, kept as they are in the sample. */
type FlatFields = Pick<
  Payload,
  | 'timestamp' | 'cpu_percent' | 'memory_usage_bytes' | 'memory_percent' | 'network_rx_bytes' | 'network_tx_bytes'
  | 'disk_read_bytes' | 'disk_write_bytes' | 'disk_usage_bytes' | 'disk_total_bytes' | 'disk_percent' | 'process_count'
  | 'file_descriptors' | 'load_average_1m' | 'load_average_5m' | 'load_average_15m' | 'uptime_seconds' | 'status'
  | 'interval_seconds' | 'seq'
>;

/**
 * What the fleet keeps of a container's latest sample as an object: the
 * figures its status, the list rows, the fleet totals and SiriusScan's
 * table read. The rest of the sample is kept packed (its JSON deflated) and parsed
 * only when a route asks for it (see `FleetEntry`): 10,000 parsed samples
 * held for five seconds each were most of the aggregator's heap.
 */
export interface SampleDigest extends FlatFields {
  /** `timestamp` as unix ms. */
  readonly timestamp_ms: number;
  readonly agent_pid: number;
  readonly cores_used: number | null;
  readonly limit_cores: number | null;
  readonly memory_limit_bytes: number | null;
  readonly gpu_count: number;
}

export function digestOf(p: Payload): SampleDigest {
  return {
    timestamp: p.timestamp,
    timestamp_ms: Date.parse(p.timestamp),
    cpu_percent: p.cpu_percent,
    memory_usage_bytes: p.memory_usage_bytes,
    memory_percent: p.memory_percent,
    network_rx_bytes: p.network_rx_bytes,
    network_tx_bytes: p.network_tx_bytes,
    disk_read_bytes: p.disk_read_bytes,
    disk_write_bytes: p.disk_write_bytes,
    disk_usage_bytes: p.disk_usage_bytes,
    disk_total_bytes: p.disk_total_bytes,
    disk_percent: p.disk_percent,
    process_count: p.process_count,
    file_descriptors: p.file_descriptors,
    load_average_1m: p.load_average_1m,
    load_average_5m: p.load_average_5m,
    load_average_15m: p.load_average_15m,
    uptime_seconds: p.uptime_seconds,
    status: p.status,
    interval_seconds: p.interval_seconds,
    seq: p.seq,
    agent_pid: p.agent.pid,
    cores_used: p.cpu?.cores_used ?? null,
    limit_cores: p.cpu?.limit_cores ?? null,
    memory_limit_bytes: p.memory?.limit_bytes ?? null,
    gpu_count: p.gpus.length,
  };
}
