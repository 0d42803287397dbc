import type { Payload } from '../../../shared/src/payload.js';
import type { Rejected } from '../ingest/protocol.js';
import { REJECT_REASONS } from '../ingest/sample.js';
import type { ContainerView } from '../fleet/fleet.js';
import { HISTORY_REJECT_KINDS, type HistoryRejectKind } from '../history/rejects.js';
import type { LoopLag } from '../loop-lag.js';

/** Prometheus 3 refuses a scrape without an exact, known content type. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

type Labels = Record<string, string>;

/** Collects samples per metric family so HELP/TYPE are written once, families in a stable order. */
class Exposition {
  private readonly families = new Map<string, { help: string; type: 'gauge' | 'counter'; lines: string[] }>();

  add(name: string, type: 'gauge' | 'counter', help: string, labels: Labels, value: number | null | undefined): void {
    if (value === null || value === undefined || !Number.isFinite(value)) return;
    let f = this.families.get(name);
    if (!f) {
      f = { help, type, lines: [] };
      this.families.set(name, f);
    }
    f.lines.push(`${name}${formatLabels(labels)} ${String(value)}`);
  }

  render(): string {
    let out = '';
    for (const [name, f] of this.families) {
      out += `# HELP ${name} ${f.help}\n# TYPE ${name} ${f.type}\n${f.lines.join('\n')}\n`;
    }
    return out;
  }
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function formatLabels(l: Labels): string {
  const parts = Object.entries(l).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}


const MIB = 1024 * 1024;

function containerSeries(x: Exposition, p: Payload): void {
  const c = { container: p.container_name };
  const cpu = p.cpu;
  x.add('container_cpu_usage_seconds_total', 'counter', 'Cumulative CPU time consumed (cgroup usage), seconds.', c, cpu?.usage_seconds_total);
  x.add('container_cpu_user_seconds_total', 'counter', 'Cumulative user CPU time, seconds.', c, cpu?.user_seconds_total);
  x.add('container_cpu_system_seconds_total', 'counter', 'Cumulative system CPU time, seconds.', c, cpu?.system_seconds_total);
  x.add('container_cpu_cfs_periods_total', 'counter', 'Number of elapsed enforcement periods.', c, cpu?.periods_total);
  x.add('container_cpu_cfs_throttled_periods_total', 'counter', 'Number of throttled periods.', c, cpu?.throttled_periods_total);
  x.add('container_cpu_cfs_throttled_seconds_total', 'counter', 'Total time throttled, seconds (summed over CPUs).', c, cpu?.throttled_seconds_total);
  x.add('container_spec_cpu_limit_cores', 'gauge', 'Effective CPU limit in cores (quota, ancestor, cpuset or host).', c, cpu?.limit_cores);
  const m = p.memory;
  x.add('container_memory_usage_bytes', 'gauge', 'Current memory usage (memory.current / usage_in_bytes), bytes.', c, p.memory_usage_bytes);
  x.add('container_memory_working_set_bytes', 'gauge', 'Working set: usage minus inactive file cache, bytes.', c, m?.working_set_bytes);
  x.add('container_memory_rss', 'gauge', 'Anonymous memory, bytes.', c, m?.anon_bytes);
  x.add('container_memory_cache', 'gauge', 'Page cache memory, bytes.', c, m?.file_bytes);
  x.add('container_memory_swap', 'gauge', 'Swap usage, bytes.', c, m?.swap_bytes);
  x.add('container_memory_max_usage_bytes', 'gauge', 'Peak memory usage, bytes.', c, m?.peak_bytes);
  x.add('container_spec_memory_limit_bytes', 'gauge', 'Effective memory limit, bytes.', c, m?.limit_bytes);
  x.add('container_oom_events_total', 'counter', 'OOM kills in the container.', c, m?.oom_kills_total);
  x.add('container_memory_major_page_faults_total', 'counter', 'Major page faults.', c, m?.major_faults_total);
  for (const i of p.network?.interfaces ?? []) {
    const l = { ...c, interface: i.name };
    x.add('container_network_receive_bytes_total', 'counter', 'Bytes received.', l, i.rx_bytes_total);
    x.add('container_network_transmit_bytes_total', 'counter', 'Bytes transmitted.', l, i.tx_bytes_total);
    x.add('container_network_receive_packets_total', 'counter', 'Packets received.', l, i.rx_packets_total);
    x.add('container_network_transmit_packets_total', 'counter', 'Packets transmitted.', l, i.tx_packets_total);
    x.add('container_network_receive_errors_total', 'counter', 'Receive errors.', l, i.rx_errors_total);
    x.add('container_network_transmit_errors_total', 'counter', 'Transmit errors.', l, i.tx_errors_total);
    x.add('container_network_receive_packets_dropped_total', 'counter', 'Received packets dropped.', l, i.rx_dropped_total);
    x.add('container_network_transmit_packets_dropped_total', 'counter', 'Transmitted packets dropped.', l, i.tx_dropped_total);
  }
  for (const d of p.io?.devices ?? []) {
    const l = { ...c, device: d.device };
    x.add('container_fs_reads_bytes_total', 'counter', 'Bytes read from block devices.', l, d.read_bytes_total);
    x.add('container_fs_writes_bytes_total', 'counter', 'Bytes written to block devices.', l, d.write_bytes_total);
    x.add('container_fs_reads_total', 'counter', 'Completed block reads.', l, d.read_ops_total);
    x.add('container_fs_writes_total', 'counter', 'Completed block writes.', l, d.write_ops_total);
  }
  for (const mnt of p.disk?.mounts ?? []) {
    const l = { ...c, mountpoint: mnt.path };
    x.add('container_fs_usage_bytes', 'gauge', 'Filesystem bytes used (statfs).', l, mnt.used_bytes);
    x.add('container_fs_limit_bytes', 'gauge', 'Filesystem size (statfs).', l, mnt.total_bytes);
    x.add('container_fs_inodes_total', 'gauge', 'Inodes on the filesystem.', l, mnt.inodes_total);
  }
  x.add('container_processes', 'gauge', 'Processes in the container.', c, p.process_count);
  x.add('container_threads', 'gauge', 'Threads in the container.', c, p.processes?.threads);
  x.add('container_file_descriptors', 'gauge', 'Open file descriptors of the container processes.', c, p.file_descriptors);
  x.add('container_threads_max', 'gauge', 'pids.max of the cgroup (absent when unlimited).', c, p.pids?.max);
  if (p.uptime_seconds !== null) {
    x.add('container_start_time_seconds', 'gauge', 'Start time of the container since unix epoch, seconds.', c, Math.round(Date.parse(p.timestamp) / 1000 - p.uptime_seconds));
  }
  for (const res of ['cpu', 'memory', 'io'] as const) {
    const r = p.pressure?.[res];
    x.add(`container_pressure_${res}_waiting_seconds_total`, 'counter', `PSI "some": time at least one task waited on ${res}, seconds.`, c, r?.some?.total_seconds);
    x.add(`container_pressure_${res}_stalled_seconds_total`, 'counter', `PSI "full": time all tasks stalled on ${res}, seconds.`, c, r?.full?.total_seconds);
  }
  for (const g of p.gpus) {
    const l = { container: p.container_name, gpu: String(g.index), UUID: g.uuid, modelName: g.name, Hostname: p.host.hostname };
    x.add('DCGM_FI_DEV_GPU_UTIL', 'gauge', 'GPU utilization (in %).', l, g.utilization_percent);
    x.add('DCGM_FI_DEV_MEM_COPY_UTIL', 'gauge', 'Memory utilization (in %).', l, g.memory_utilization_percent);
    x.add('DCGM_FI_DEV_FB_USED', 'gauge', 'Framebuffer memory used (in MiB).', l, g.memory_used_bytes === null ? null : g.memory_used_bytes / MIB);
    const free = g.memory_total_bytes === null || g.memory_used_bytes === null ? null : (g.memory_total_bytes - g.memory_used_bytes - (g.memory_reserved_bytes ?? 0)) / MIB;
    x.add('DCGM_FI_DEV_FB_FREE', 'gauge', 'Framebuffer memory free (in MiB).', l, free === null ? null : Math.max(0, free));
    x.add('DCGM_FI_DEV_GPU_TEMP', 'gauge', 'GPU temperature (in C).', l, g.temperature_c);
    x.add('DCGM_FI_DEV_POWER_USAGE', 'gauge', 'Power draw (in W).', l, g.power_watts);
    x.add('DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION', 'counter', 'Total energy consumption since boot (in mJ).', l, g.energy_joules === null ? null : g.energy_joules * 1000);
    x.add('DCGM_FI_DEV_SM_CLOCK', 'gauge', 'SM clock frequency (in MHz).', l, g.clock_sm_mhz);
    x.add('DCGM_FI_DEV_MEM_CLOCK', 'gauge', 'Memory clock frequency (in MHz).', l, g.clock_mem_mhz);
    x.add('DCGM_FI_DEV_ENC_UTIL', 'gauge', 'Encoder utilization (in %).', l, g.encoder_percent);
    x.add('DCGM_FI_DEV_DEC_UTIL', 'gauge', 'Decoder utilization (in %).', l, g.decoder_percent);
    x.add('DCGM_FI_DEV_ECC_SBE_VOL_TOTAL', 'counter', 'Total number of single-bit volatile ECC errors.', l, g.ecc_corrected);
    x.add('DCGM_FI_DEV_ECC_DBE_VOL_TOTAL', 'counter', 'Total number of double-bit volatile ECC errors.', l, g.ecc_uncorrected);
  }
}

export interface AggregatorMetrics {
  valkeyUp: boolean;
  pollSeconds: number | null;
  pollLoopSeconds: number | null;
  /** Busy time of the ingest thread in the last re-sync. */
  pollIngestSeconds?: number | null;
  /** Times the ingest thread died and was started again. */
  ingestRestartsTotal?: number;
  ingestDroppedSamplesTotal?: number;
  pollsTotal: number;
  pollErrorsTotal: number;
  invalidPayloadsTotal: number;
  /** Every value or registry entry refused, by reason. */
  rejectedByReason?: Rejected;
  samplesReceivedTotal: number;
  sseClients: number;
  sseDroppedTotal: number;
  sseEventsTotal: number;
  /** Event-loop delay of the aggregator (recent window), when monitored. */
  loopLag?: LoopLag | null;
  /** History entries refused, by which history they were in. */
  historyRejected?: Readonly<Record<HistoryRejectKind, number>>;
}

/**
 * The exposition: cAdvisor names for containers, dcgm-exporter names and
 * units for GPUs, `agent_up`, and the aggregator's own health. No
 * timestamps; only live (`ok`) containers have series, so a stale container's
 * series disappear and its `agent_up` is 0.
 */
export async function renderMetrics(containers: readonly ContainerView[], own: AggregatorMetrics, sliceMs = 5): Promise<string> {
  const x = new Exposition();
  for (const c of containers) {
    x.add('agent_up', 'gauge', '1 when the container\'s agent published a fresh sample, else 0.', { container: c.name }, c.status === 'ok' ? 1 : 0);
  }
  // The fleet keeps each sample as JSON and parses it on demand (~30 µs): at 10,000
  // containers that is a few hundred ms, done in slices so requests and events get turns between.
  let sliceStart = performance.now();
  for (const c of containers) {
    if (performance.now() - sliceStart > sliceMs) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      sliceStart = performance.now();
    }
    if (c.status !== 'ok') continue;
    const p = c.sample();
    if (p !== null) containerSeries(x, p);
  }
  const byStatus = new Map<string, number>([['ok', 0], ['stale', 0], ['offline', 0], ['exited', 0]]);
  for (const c of containers) byStatus.set(c.status, (byStatus.get(c.status) ?? 0) + 1);
  for (const [status, n] of byStatus) x.add('system_monitor_containers', 'gauge', 'Known containers by status.', { status }, n);
  x.add('system_monitor_valkey_up', 'gauge', '1 when the aggregator\'s Valkey connection is ready.', {}, own.valkeyUp ? 1 : 0);
  x.add('system_monitor_poll_duration_seconds', 'gauge', 'Duration of the last full fleet re-sync.', {}, own.pollSeconds);
  x.add('system_monitor_poll_event_loop_seconds', 'gauge', 'Main event-loop time the last re-sync used (applying what changed; reading and validating run on the ingest thread).', {}, own.pollLoopSeconds);
  x.add('system_monitor_poll_ingest_seconds', 'gauge', 'Busy time of the ingest thread in the last re-sync (decoding and validating, not waiting on Valkey).', {}, own.pollIngestSeconds ?? null);
  x.add('system_monitor_ingest_restarts_total', 'counter', 'Times the fleet ingest thread died and was started again.', {}, own.ingestRestartsTotal ?? 0);
  x.add('system_monitor_ingest_dropped_samples_total', 'counter', 'Live samples dropped because the main thread fell behind the ingest thread by more than its backlog bound (an overloaded machine); the next samples and the re-sync replace them.', {}, own.ingestDroppedSamplesTotal ?? 0);
  x.add('system_monitor_polls_total', 'counter', 'Full fleet re-syncs done.', {}, own.pollsTotal);
  x.add('system_monitor_poll_errors_total', 'counter', 'Fleet re-syncs that failed.', {}, own.pollErrorsTotal);
  x.add('system_monitor_invalid_payloads_total', 'counter', 'Values in Valkey that were not valid samples (skipped).', {}, own.invalidPayloadsTotal);
  for (const reason of REJECT_REASONS) {
    x.add('system_monitor_rejected_values_total', 'counter', 'Values read from Valkey that were refused, by reason (too_large, not_json, schema, name_mismatch, bad_name, bad_score, unregistered).', { reason }, own.rejectedByReason?.[reason] ?? 0);
  }
  for (const kind of HISTORY_REJECT_KINDS) {
    x.add('system_monitor_history_rejected_total', 'counter', 'History entries read from Valkey that were refused (malformed or in a format this aggregator does not read), by history: raw, rollup, legacy_rollup.', { history: kind }, own.historyRejected?.[kind] ?? 0);
  }
  x.add('system_monitor_samples_received_total', 'counter', 'Samples received on the pub/sub channel.', {}, own.samplesReceivedTotal);
  x.add('system_monitor_sse_clients', 'gauge', 'Connected Server-Sent Events clients.', {}, own.sseClients);
  x.add('system_monitor_sse_dropped_clients_total', 'counter', 'SSE clients disconnected for falling behind.', {}, own.sseDroppedTotal);
  x.add('system_monitor_sse_events_total', 'counter', 'SSE events sent.', {}, own.sseEventsTotal);
  // The standard process metrics (Prometheus client conventions), so dashboards for any exporter work.
  const mem = process.memoryUsage();
  const cpu = process.cpuUsage();
  x.add('process_cpu_seconds_total', 'counter', 'Total user and system CPU time of the aggregator, seconds.', {}, (cpu.user + cpu.system) / 1e6);
  x.add('process_resident_memory_bytes', 'gauge', 'Resident memory of the aggregator, bytes.', {}, mem.rss);
  x.add('process_start_time_seconds', 'gauge', 'Start time of the aggregator since the Unix epoch, seconds.', {}, Math.round((Date.now() - process.uptime() * 1000) / 1000));
  x.add('nodejs_heap_size_used_bytes', 'gauge', 'V8 heap in use, bytes.', {}, mem.heapUsed);
  x.add('nodejs_heap_size_total_bytes', 'gauge', 'V8 heap allocated, bytes.', {}, mem.heapTotal);
  const lag = own.loopLag;
  if (lag !== null && lag !== undefined) {
    const help = 'Event-loop delay of the aggregator over the last 30-60 s, seconds (how long work waits behind other work).';
    x.add('system_monitor_event_loop_delay_seconds', 'gauge', help, { quantile: '0.5' }, lag.p50_ms / 1000);
    x.add('system_monitor_event_loop_delay_seconds', 'gauge', help, { quantile: '0.99' }, lag.p99_ms / 1000);
    x.add('system_monitor_event_loop_delay_seconds', 'gauge', help, { quantile: '1' }, lag.max_ms / 1000);
  }
  return x.render();
}
