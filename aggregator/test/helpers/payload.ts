import { payloadSchema, SCHEMA_VERSION, type Gpu, type Payload } from '../../../shared/src/payload.js';

/** Overrides for a sample; nested blocks are merged one level deep. */
export interface SampleOverrides {
  name?: string;
  timestamp?: string;
  memory_percent?: number | null;
  cpu_percent?: number | null;
  disk_percent?: number | null;
  uptime_seconds?: number | null;
  interval_seconds?: number;
  throttled_percent?: number | null;
  oom_kills_total?: number | null;
  memory_limit_bytes?: number | null;
  working_set_bytes?: number | null;
  cores_used?: number | null;
  limit_cores?: number | null;
  gpus?: { uuid: string; temperature_c: number | null; memory_used_bytes?: number; memory_total_bytes?: number }[];
}

function gpu(g: NonNullable<SampleOverrides['gpus']>[number], index: number): Gpu {
  return {
    index, uuid: g.uuid, name: 'Test GPU', parent_uuid: null, pci_bus_id: null, driver_version: null,
    cuda_driver_version: null, compute_capability: null, utilization_percent: 10, memory_utilization_percent: 5,
    memory_total_bytes: g.memory_total_bytes ?? 16e9, memory_used_bytes: g.memory_used_bytes ?? 1e9,
    memory_reserved_bytes: null, temperature_c: g.temperature_c, power_watts: null, power_limit_watts: null,
    energy_joules: null, fan_percent: null, clock_sm_mhz: null, clock_mem_mhz: null, clock_graphics_mhz: null,
    clock_max_sm_mhz: null, pcie_tx_bytes_per_sec: null, pcie_rx_bytes_per_sec: null, encoder_percent: null,
    decoder_percent: null, pstate: null, clocks_event_reasons: null, ecc_corrected: null, ecc_uncorrected: null,
    mig_mode: null, processes: null, health: 'ok', unsupported: [],
  };
}

/** A complete, schema-valid sample (validated with payloadSchema, so a fixture can never drift from the contract). */
export function makePayload(o: SampleOverrides = {}): Payload {
  const limit = o.memory_limit_bytes === undefined ? 1_000_000_000 : o.memory_limit_bytes;
  const ws = o.working_set_bytes === undefined ? 400_000_000 : o.working_set_bytes;
  const raw: Payload = {
    container_name: o.name ?? 'web-1',
    timestamp: o.timestamp ?? '2026-01-01T00:00:00.000Z',
    cpu_percent: o.cpu_percent === undefined ? 10 : o.cpu_percent,
    memory_usage_bytes: 450_000_000,
    memory_percent: o.memory_percent === undefined ? 40 : o.memory_percent,
    network_rx_bytes: 0, network_tx_bytes: 0, disk_read_bytes: 0, disk_write_bytes: 0,
    disk_usage_bytes: 10, disk_total_bytes: 100,
    disk_percent: o.disk_percent === undefined ? 10 : o.disk_percent,
    process_count: 3, file_descriptors: 10, load_average_1m: 0.1, load_average_5m: 0.1, load_average_15m: 0.1,
    uptime_seconds: o.uptime_seconds === undefined ? 1000 : o.uptime_seconds,
    status: 'running',
    schema_version: SCHEMA_VERSION,
    host: { hostname: 'h', cpus: 8, memory_total_bytes: 16_000_000_000 },
    interval_seconds: o.interval_seconds ?? 5,
    seq: 1,
    cgroup: { mode: 'v2', paths: {}, scope: 'container', source: 'private-namespace' },
    cpu: {
      cores_used: o.cores_used === undefined ? 0.5 : o.cores_used,
      user_cores: null, system_cores: null,
      limit_cores: o.limit_cores === undefined ? 2 : o.limit_cores,
      limit_source: 'cpu.max', percent_of_limit: null, docker_percent: null,
      throttled_percent: o.throttled_percent === undefined ? 0 : o.throttled_percent,
      usage_seconds_total: null, user_seconds_total: null, system_seconds_total: null,
      throttled_periods_total: null, periods_total: null, throttled_seconds_total: null,
    },
    memory: {
      usage_bytes: 450_000_000, working_set_bytes: ws, anon_bytes: null, file_bytes: null, shmem_bytes: null,
      kernel_bytes: null, inactive_file_bytes: null, swap_bytes: null, peak_bytes: null, peak_source: null,
      limit_bytes: limit, limit_source: limit === null ? null : 'memory.max', high_bytes: null, percent: null,
      working_set_percent: null, oom_events_total: null,
      oom_kills_total: o.oom_kills_total === undefined ? 0 : o.oom_kills_total,
      major_faults_total: null, major_faults_per_sec: null,
    },
    io: null, pids: null, pressure: null, network: null, processes: null, system: null, disk: null,
    gpus: (o.gpus ?? []).map(gpu),
    unavailable: {},
    agent: { version: 't', pid: 1, rss_bytes: 1, cpu_seconds: 0, collect_ms: 1, skipped_ticks: 0, collectors: {}, publish: null },
  };
  return payloadSchema.parse(raw);
}
