import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { SCHEMA_VERSION, type CollectorStatus, type Payload, type PublishStatus } from '../../shared/src/payload.js';
import type { CgroupLocation } from './cgroup/location.js';
import type { AgentEnv, Blocks, Collector, CollectorName, CollectorReport, Tick } from './collectors/types.js';
import type { GpuCollection } from './gpu/runner.js';
import { siriusFields } from './sirius.js';
import { TickSource } from './tick.js';

export type AnyCollector = { [K in CollectorName]: Collector<K> }[CollectorName];

type MaybeBlocks = { [K in CollectorName]: Blocks[K] | null };

export interface SamplerOptions {
  containerName: string;
  version: string;
  log: Logger;
  /** Publishing health for `agent.publish`; absent for samples that are not published (`once`). */
  publishStatus?: () => PublishStatus;
  /** Real events worth a Sirius log entry (a collector failing or recovering). */
  onEvent?: (level: 'info' | 'warn', message: string) => void;
  /** Where `gpus[]` comes from (the NVML worker); absent means no GPU block (`gpus: []`). */
  gpu?: GpuSource;
  /** `host.hostname`: the container's own (host mode knows it from outside); default this process's. */
  hostname?: string;
}

/** Answers within its own deadline, so awaiting it never makes the sample late. */
export interface GpuSource {
  collect(): Promise<GpuCollection>;
}

function describeError(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

/** Collects what one collector says about its null fields during one run. */
class RunReport implements CollectorReport {
  readonly unsupportedFields: [string, string][] = [];
  readonly failedFields: [string, string][] = [];
  constructor(private readonly prefix: string) {}

  unsupported(field: string, reason: string): void {
    this.unsupportedFields.push([`${this.prefix}.${field}`, reason]);
  }

  failed(field: string, error: unknown): void {
    this.failedFields.push([`${this.prefix}.${field}`, describeError(error)]);
  }

  get errorText(): string | null {
    return this.failedFields.length === 0 ? null : this.failedFields.map(([f, m]) => `${f}: ${m}`).join('; ');
  }
}

/**
 * One sample = every collector run once, each timed and failure-isolated: a
 * collector that throws loses only its own block, and its error and duration
 * are published in `agent.collectors` (the node_exporter model).
 */
export class Sampler {
  private seq = 0;
  private readonly ticks: TickSource;
  private readonly host: string;
  /** Last state per collector, so a failure and its recovery are logged once each. */
  private readonly lastOk = new Map<CollectorName, boolean>();
  private readonly reportedUnsupported = new Set<string>();
  /** `cgroup` of every sample: the location is fixed for the sampler's life, so it is built once, not every tick. */
  private readonly cgroupBlock: Payload['cgroup'];
  skippedTicks = 0;

  constructor(
    private readonly env: AgentEnv,
    private readonly collectors: readonly AnyCollector[],
    private readonly opts: SamplerOptions,
  ) {
    this.ticks = new TickSource(env, opts.log);
    this.host = opts.hostname ?? hostname();
    this.cgroupBlock = { mode: env.cgroup.mode, paths: cgroupPaths(env.cgroup), scope: env.cgroup.scope, source: env.cgroup.source };
  }

  get cgroup(): CgroupLocation {
    return this.env.cgroup;
  }

  /** Releases what the collectors keep open (host mode, when the container is gone). */
  close(): void {
    for (const c of this.collectors) c.close?.();
  }

  async sample(): Promise<Payload> {
    const started = this.env.clock();
    const tick = this.ticks.next();
    const blocks: MaybeBlocks = {
      cpu: null,
      memory: null,
      io: null,
      pids: null,
      pressure: null,
      network: null,
      processes: null,
      system: null,
      disk: null,
    };
    const statuses: Record<string, CollectorStatus> = {};
    const unavailable: Record<string, string> = {};
    const timestamp = new Date().toISOString();
    // Started first: the worker reads NVML while the collectors below run here.
    const gpuPending = this.opts.gpu?.collect().catch((err: unknown): GpuCollection => {
      const error = describeError(err);
      return { gpus: [], unavailable: { gpus: `collector failed: ${error}` }, error, ms: 0 };
    });

    for (const c of this.collectors) {
      const report = new RunReport(c.name);
      const t0 = this.env.clock();
      let error: string | null = null;
      try {
        const pending = runCollector(c, blocks, tick, report);
        if (pending !== undefined) await pending;
      } catch (err) {
        error = describeError(err);
        unavailable[c.name] = `collector failed: ${error}`;
      }
      const ms = Number(this.env.clock() - t0) / 1e6;
      for (const [field, reason] of report.unsupportedFields) unavailable[field] = reason;
      for (const [field, reason] of report.failedFields) unavailable[field] = reason;
      error ??= report.errorText;
      statuses[c.name] = { ms: round3(ms), ok: error === null, error };
      this.noteState(c.name, error, report);
    }

    const gpu = await gpuPending;
    if (gpu !== undefined) {
      Object.assign(unavailable, gpu.unavailable);
      statuses.gpu = { ms: round3(gpu.ms), ok: gpu.error === null, error: gpu.error };
    }

    const collectMs = Number(this.env.clock() - started) / 1e6;
    const cpu = process.cpuUsage();
    const memTotal = tick.hostMemTotal();
    this.seq += 1;
    return {
      container_name: this.opts.containerName,
      timestamp,
      ...siriusFields(blocks),
      status: 'running',
      schema_version: SCHEMA_VERSION,
      host: { hostname: this.host, cpus: tick.hostCpus(), memory_total_bytes: memTotal },
      interval_seconds: this.env.intervalMs / 1000,
      seq: this.seq,
      cgroup: this.cgroupBlock,
      ...blocks,
      gpus: gpu?.gpus ?? [],
      unavailable,
      agent: {
        version: this.opts.version,
        pid: process.pid,
        rss_bytes: process.memoryUsage.rss(),
        cpu_seconds: (cpu.user + cpu.system) / 1e6,
        collect_ms: round3(collectMs),
        skipped_ticks: this.skippedTicks,
        collectors: statuses,
        publish: this.opts.publishStatus?.() ?? null,
      },
    };
  }

  /** Logs a collector's failure and recovery once each, and each unsupported field once. */
  private noteState(name: CollectorName, error: string | null, report: RunReport): void {
    const ok = error === null;
    const before = this.lastOk.get(name);
    if (before !== ok) {
      if (!ok) {
        this.opts.log.warn({ collector: name, error }, 'collector failing');
        this.opts.onEvent?.('warn', `collector ${name} failing: ${error}`);
      } else if (before === false) {
        this.opts.log.info({ collector: name }, 'collector recovered');
        this.opts.onEvent?.('info', `collector ${name} recovered`);
      }
      this.lastOk.set(name, ok);
    }
    for (const [field, reason] of report.unsupportedFields) {
      if (this.reportedUnsupported.has(field)) continue;
      this.reportedUnsupported.add(field);
      this.opts.log.info({ field, reason }, 'metric not available on this platform');
    }
  }
}

/**
 * Stores a collector's block under its own name; the generic keeps name and
 * block type tied. Most collectors answer synchronously: their block is
 * stored at once, and a promise (to await) is returned only for one that
 * answers with a promise, so a tick does not pay an await per collector.
 */
function runCollector<K extends CollectorName>(c: Collector<K>, blocks: MaybeBlocks, tick: Tick, report: CollectorReport): Promise<void> | undefined {
  const out = c.collect(tick, report);
  if (out instanceof Promise) {
    return out.then((block) => {
      blocks[c.name] = block;
    });
  }
  blocks[c.name] = out;
  return undefined;
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

function cgroupPaths(loc: CgroupLocation): Record<string, string> {
  const out: Record<string, string> = {};
  if (loc.unified) out.unified = loc.unified.dir;
  for (const [name, h] of Object.entries(loc.controllers)) {
    if (h.version === 1) out[name] = h.dir;
  }
  return out;
}

export type { AgentEnv };
