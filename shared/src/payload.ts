import { z } from 'zod';
import { containerNameSchema } from './container-name.js';

/**
 * The wire contract written to `system:metrics:<name>` and read back by the
 * aggregator. The 19 SiriusScan fields stay flat at the top with their exact
 * names and JSON types; everything richer lives in nested objects beside them
 * (a Go consumer ignores unknown fields).
 *
 * Integer fields are safe integers (zod 4's `.int()` rejects anything outside
 * ±2^53, so `1e+21` can never be produced). A metric the platform cannot
 * provide is `null` and its reason is listed in `unavailable`; Go decodes a
 * JSON `null` into an int64/float64 field as "no value" without failing the
 * document, so the Sirius consumer still decodes it.
 */

export const SCHEMA_VERSION = 1;

/** Non-negative safe integer (byte counts, counters). */
const count = z.number().int().nonnegative();
/** Finite non-negative number (rates, cores, seconds). */
const gauge = z.number().nonnegative();
/** Percentage on a 0–100 scale. */
const percent = z.number().min(0).max(100);
/** Percentage that may exceed 100 (docker-style CPU: percent of one core). */
const percentOpen = z.number().nonnegative();

/*
 * Bounds on everything a sample may hold. A sample is read by the aggregator
 * from a store any container can write to, so no string, list or map is
 * unbounded; the limits sit far above what an agent writes (a few KiB per
 * sample) so that a real sample is never refused.
 */
/** Names and identifiers: interface, device, process, GPU, version strings. */
const name = z.string().max(256);
/** Paths (PATH_MAX). */
const path = z.string().max(4096);
/** Free text: error messages, reasons. */
const text = z.string().max(16_384);
/** A map with string keys and at most `max` entries. */
function dict<T extends z.ZodType>(value: T, max: number) {
  return z.record(z.string().max(256), value).refine((o) => Object.keys(o).length <= max, `must have at most ${max} entries`);
}

export const siriusIntegerFields = [
  'memory_usage_bytes',
  'network_rx_bytes',
  'network_tx_bytes',
  'disk_read_bytes',
  'disk_write_bytes',
  'disk_usage_bytes',
  'disk_total_bytes',
  'process_count',
  'file_descriptors',
  'uptime_seconds',
] as const;

export const siriusNumberFields = [
  'cpu_percent',
  'memory_percent',
  'disk_percent',
  'load_average_1m',
  'load_average_5m',
  'load_average_15m',
] as const;

/** The 19 SiriusScan fields in the Go agent's order. */
export const siriusFieldNames = [
  'container_name',
  'timestamp',
  'cpu_percent',
  'memory_usage_bytes',
  'memory_percent',
  'network_rx_bytes',
  'network_tx_bytes',
  'disk_read_bytes',
  'disk_write_bytes',
  'disk_usage_bytes',
  'disk_total_bytes',
  'disk_percent',
  'process_count',
  'file_descriptors',
  'load_average_1m',
  'load_average_5m',
  'load_average_15m',
  'uptime_seconds',
  'status',
] as const;

export const cgroupModeSchema = z.enum(['v2', 'v1', 'hybrid', 'none']);
export type CgroupMode = z.infer<typeof cgroupModeSchema>;

export const cgroupInfoSchema = z.object({
  mode: cgroupModeSchema,
  /** Directory read for each controller family (v1 has one per hierarchy). */
  paths: dict(path, 64),
  /** `container`: a container's cgroup; `host`: the host root (host-level numbers). */
  scope: z.enum(['container', 'host']),
  /** How the directory was chosen. */
  source: z.enum(['private-namespace', 'host-namespace', 'override', 'none']),
});

export const cpuLimitSourceSchema = z.enum(['cpu.max', 'ancestor', 'cpuset', 'host']);

export const cpuSchema = z.object({
  cores_used: gauge.nullable(),
  user_cores: gauge.nullable(),
  system_cores: gauge.nullable(),
  limit_cores: gauge.nullable(),
  limit_source: cpuLimitSourceSchema.nullable(),
  /** 100 × cores_used / limit_cores, not clamped (Sirius `cpu_percent` is the clamped copy). */
  percent_of_limit: percentOpen.nullable(),
  /** `docker stats` style: percent of one core, may exceed 100. */
  docker_percent: percentOpen.nullable(),
  throttled_percent: percent.nullable(),
  usage_seconds_total: gauge.nullable(),
  user_seconds_total: gauge.nullable(),
  system_seconds_total: gauge.nullable(),
  throttled_periods_total: count.nullable(),
  periods_total: count.nullable(),
  throttled_seconds_total: gauge.nullable(),
});

export const memoryLimitSourceSchema = z.enum(['memory.max', 'ancestor', 'hierarchical_memory_limit', 'host']);

export const memorySchema = z.object({
  usage_bytes: count.nullable(),
  working_set_bytes: count.nullable(),
  anon_bytes: count.nullable(),
  file_bytes: count.nullable(),
  shmem_bytes: count.nullable(),
  kernel_bytes: count.nullable(),
  inactive_file_bytes: count.nullable(),
  swap_bytes: count.nullable(),
  peak_bytes: count.nullable(),
  peak_source: z.enum(['kernel', 'agent']).nullable(),
  limit_bytes: count.nullable(),
  limit_source: memoryLimitSourceSchema.nullable(),
  high_bytes: count.nullable(),
  percent: percent.nullable(),
  working_set_percent: percent.nullable(),
  oom_events_total: count.nullable(),
  oom_kills_total: count.nullable(),
  major_faults_total: count.nullable(),
  major_faults_per_sec: gauge.nullable(),
});

export const ioDeviceSchema = z.object({
  device: name,
  read_bytes_total: count,
  write_bytes_total: count,
  read_ops_total: count,
  write_ops_total: count,
});

export const ioSchema = z.object({
  read_bytes_total: count.nullable(),
  write_bytes_total: count.nullable(),
  read_ops_total: count.nullable(),
  write_ops_total: count.nullable(),
  read_bytes_per_sec: gauge.nullable(),
  write_bytes_per_sec: gauge.nullable(),
  read_ops_per_sec: gauge.nullable(),
  write_ops_per_sec: gauge.nullable(),
  devices: z.array(ioDeviceSchema).max(1024),
  /** Stacked devices (dm, md) left out because their lower devices are counted. */
  skipped_stacked: z.array(name).max(1024),
});

export const pidsSchema = z.object({
  current: count.nullable(),
  /** `null` when unlimited. */
  max: count.nullable(),
});

export const pressureLineSchema = z.object({
  avg10: percent,
  /** Exact share of the last interval: 100 × Δtotal / Δt. */
  interval_percent: percent.nullable(),
  total_seconds: gauge,
});
export const pressureResourceSchema = z.object({
  some: pressureLineSchema.nullable(),
  full: pressureLineSchema.nullable(),
});
export const pressureSchema = z.object({
  cpu: pressureResourceSchema.nullable(),
  memory: pressureResourceSchema.nullable(),
  io: pressureResourceSchema.nullable(),
});

export const networkInterfaceSchema = z.object({
  name: name,
  rx_bytes_total: count,
  tx_bytes_total: count,
  rx_packets_total: count,
  tx_packets_total: count,
  rx_errors_total: count,
  tx_errors_total: count,
  rx_dropped_total: count,
  tx_dropped_total: count,
  rx_bytes_per_sec: gauge.nullable(),
  tx_bytes_per_sec: gauge.nullable(),
});

export const networkSchema = z.object({
  /** `host` when the host's interfaces are visible (host networking). */
  scope: z.enum(['container', 'host']),
  rx_bytes_total: count,
  tx_bytes_total: count,
  rx_packets_total: count,
  tx_packets_total: count,
  rx_bytes_per_sec: gauge.nullable(),
  tx_bytes_per_sec: gauge.nullable(),
  interfaces: z.array(networkInterfaceSchema).max(1024),
});

export const topProcessSchema = z.object({
  pid: z.number().int().positive(),
  name: name,
  /** Cores used over the last interval (null on the first sample for this pid). */
  cores: gauge.nullable(),
  rss_bytes: count,
  threads: count,
});

export const loadAverageSchema = z.object({
  load1: gauge,
  load5: gauge,
  load15: gauge,
});

export const processesSchema = z.object({
  count: count,
  threads: count.nullable(),
  /** Sum of open fds over the container's processes that could be read. */
  fds: count.nullable(),
  /** Processes whose fd table could not be read (permission denied or gone). */
  fds_unreadable_pids: count,
  top: z.array(topProcessSchema).max(100),
  /** Container load average from its own R/D tasks with the kernel's decay. */
  load_average: loadAverageSchema.nullable(),
  running_tasks: count.nullable(),
  uninterruptible_tasks: count.nullable(),
});

export const systemSchema = z.object({
  uptime_seconds: count.nullable(),
  uptime_source: z.enum(['pid1', 'oldest-pid']).nullable(),
  /** The Sirius load fields are host-wide (`/proc/loadavg`); kept here labelled as such. */
  host_load_average: loadAverageSchema.nullable(),
  host_uptime_seconds: gauge.nullable(),
});

export const diskMountSchema = z.object({
  path: path,
  total_bytes: count,
  used_bytes: count,
  available_bytes: count,
  /** used / total, as the Sirius field. */
  percent: percent,
  inodes_total: count,
  inodes_used: count,
});

export const diskSchema = z.object({
  mounts: z.array(diskMountSchema).max(256),
});

export const collectorStatusSchema = z.object({
  ms: gauge,
  ok: z.boolean(),
  error: text.nullable(),
});

export const publishStatusSchema = z.object({
  /** Samples written to Valkey since the agent started. */
  published_total: count,
  /** Samples not written (Valkey not ready or the write failed); only the newest is ever kept. */
  skipped_total: count,
  /** Whether the client is connected and ready now. */
  connected: z.boolean(),
  last_error: text.nullable(),
  /** ISO time of the last successful write, null before the first one. */
  last_success: z.iso.datetime({ offset: true }).nullable(),
});

export const agentSchema = z.object({
  version: name,
  pid: z.number().int().positive(),
  rss_bytes: count,
  cpu_seconds: gauge,
  collect_ms: gauge,
  skipped_ticks: count,
  collectors: dict(collectorStatusSchema, 64),
  /** Publishing health; null when the sample was not made to be published (`once`). */
  publish: publishStatusSchema.nullable(),
});

export const gpuProcessSchema = z.object({
  pid: z.number().int().positive(),
  /**
   * `container`: the PID inside this container (mapped from the host PID
   * through `HOST_PROC`); `host`: the host PID NVML reports, which must not
   * be looked up in the container's own /proc.
   */
  pid_namespace: z.enum(['container', 'host']),
  /** Null when the driver cannot say (no privileges, MIG). */
  used_memory_bytes: count.nullable(),
});

export const gpuHealthSchema = z.enum(['ok', 'lost', 'unavailable']);

/**
 * One GPU, or one MIG device (UUID `MIG-...`, `parent_uuid` set). Identity is
 * the UUID; `index` is the NVML index, a label only (it is renumbered inside
 * containers). Field meaning follows nvidia-smi / DCGM; NVML's units are
 * converted (mW → W, mJ → J, KB/s → bytes/s). A metric the board does not
 * support is null and named in `unsupported`.
 */
export const gpuSchema = z.object({
  index: count,
  uuid: name.min(1),
  name: name,
  parent_uuid: name.nullable(),
  pci_bus_id: name.nullable(),
  driver_version: name.nullable(),
  cuda_driver_version: name.nullable(),
  compute_capability: name.nullable(),
  utilization_percent: percent.nullable(),
  memory_utilization_percent: percent.nullable(),
  memory_total_bytes: count.nullable(),
  memory_used_bytes: count.nullable(),
  memory_reserved_bytes: count.nullable(),
  temperature_c: z.number().int().nullable(),
  power_watts: gauge.nullable(),
  power_limit_watts: gauge.nullable(),
  /** Since the driver was loaded. */
  energy_joules: gauge.nullable(),
  /** Percent of maximum fan speed; may exceed 100. */
  fan_percent: percentOpen.nullable(),
  clock_sm_mhz: count.nullable(),
  clock_mem_mhz: count.nullable(),
  clock_graphics_mhz: count.nullable(),
  clock_max_sm_mhz: count.nullable(),
  /** NVML samples PCIe throughput over a 20 ms window. */
  pcie_tx_bytes_per_sec: gauge.nullable(),
  pcie_rx_bytes_per_sec: gauge.nullable(),
  encoder_percent: percent.nullable(),
  decoder_percent: percent.nullable(),
  pstate: z.string().regex(/^P\d{1,2}$/).nullable(),
  /** Why clocks are held down (`sw_power_cap`, `hw_thermal_slowdown`, ...); empty when they are not. */
  clocks_event_reasons: z.array(name).max(64).nullable(),
  /** Volatile ECC error counts (since the driver was loaded). */
  ecc_corrected: count.nullable(),
  ecc_uncorrected: count.nullable(),
  mig_mode: z.enum(['enabled', 'disabled']).nullable(),
  processes: z.array(gpuProcessSchema).max(4096).nullable(),
  health: gpuHealthSchema,
  /** Fields this board does not provide (null above), read once and not polled again. */
  unsupported: z.array(name).max(256),
  /**
   * Host mode only (a sidecar cannot see other containers): whether this
   * container has the GPU to itself. On a shared GPU the device-wide usage
   * figures are null (the reason is in `unavailable`), `memory_used_bytes`
   * is this container's processes' sum, and `shared_with` names the other
   * monitored containers on it; `other_processes` counts processes on it
   * that belong to no monitored container.
   */
  sharing: z
    .object({
      mode: z.enum(['exclusive', 'shared']),
      shared_with: z.array(containerNameSchema).max(1024),
      other_processes: count,
    })
    .optional(),
});

export const payloadSchema = z.object({
  // --- SiriusScan fields (flat, exact names and types) ---
  container_name: containerNameSchema,
  timestamp: z.iso.datetime({ offset: true }),
  cpu_percent: percent.nullable(),
  memory_usage_bytes: count.nullable(),
  memory_percent: percent.nullable(),
  network_rx_bytes: count.nullable(),
  network_tx_bytes: count.nullable(),
  disk_read_bytes: count.nullable(),
  disk_write_bytes: count.nullable(),
  disk_usage_bytes: count.nullable(),
  disk_total_bytes: count.nullable(),
  disk_percent: percent.nullable(),
  process_count: count.nullable(),
  file_descriptors: count.nullable(),
  load_average_1m: gauge.nullable(),
  load_average_5m: gauge.nullable(),
  load_average_15m: gauge.nullable(),
  uptime_seconds: count.nullable(),
  status: z.enum(['running', 'exited']),
  // --- richer detail ---
  schema_version: z.literal(SCHEMA_VERSION),
  host: z.object({ hostname: name, cpus: count, memory_total_bytes: count.nullable() }),
  interval_seconds: z.number().positive(),
  seq: count,
  cgroup: cgroupInfoSchema,
  cpu: cpuSchema.nullable(),
  memory: memorySchema.nullable(),
  io: ioSchema.nullable(),
  pids: pidsSchema.nullable(),
  pressure: pressureSchema.nullable(),
  network: networkSchema.nullable(),
  processes: processesSchema.nullable(),
  system: systemSchema.nullable(),
  disk: diskSchema.nullable(),
  gpus: z.array(gpuSchema).max(64),
  /** Field path → why it is null (not supported here, or the read failed). */
  unavailable: dict(text, 1024),
  agent: agentSchema,
});

export type Payload = z.infer<typeof payloadSchema>;
export type CpuBlock = z.infer<typeof cpuSchema>;
export type MemoryBlock = z.infer<typeof memorySchema>;
export type IoBlock = z.infer<typeof ioSchema>;
export type IoDevice = z.infer<typeof ioDeviceSchema>;
export type PidsBlock = z.infer<typeof pidsSchema>;
export type PressureBlock = z.infer<typeof pressureSchema>;
export type PressureResource = z.infer<typeof pressureResourceSchema>;
export type PressureLine = z.infer<typeof pressureLineSchema>;
export type NetworkBlock = z.infer<typeof networkSchema>;
export type NetworkInterface = z.infer<typeof networkInterfaceSchema>;
export type ProcessesBlock = z.infer<typeof processesSchema>;
export type TopProcess = z.infer<typeof topProcessSchema>;
export type LoadAverage = z.infer<typeof loadAverageSchema>;
export type SystemBlock = z.infer<typeof systemSchema>;
export type DiskBlock = z.infer<typeof diskSchema>;
export type DiskMount = z.infer<typeof diskMountSchema>;
export type Gpu = z.infer<typeof gpuSchema>;
export type GpuProcess = z.infer<typeof gpuProcessSchema>;
export type GpuHealth = z.infer<typeof gpuHealthSchema>;
export type AgentBlock = z.infer<typeof agentSchema>;
export type PublishStatus = z.infer<typeof publishStatusSchema>;
export type CollectorStatus = z.infer<typeof collectorStatusSchema>;
export type CgroupInfo = z.infer<typeof cgroupInfoSchema>;
export type CpuLimitSource = z.infer<typeof cpuLimitSourceSchema>;
export type MemoryLimitSource = z.infer<typeof memoryLimitSourceSchema>;
