import type {
  CpuBlock,
  DiskBlock,
  IoBlock,
  MemoryBlock,
  NetworkBlock,
  PidsBlock,
  PressureBlock,
  ProcessesBlock,
  SystemBlock,
} from '../../../shared/src/payload.js';
import type { CgroupLocation } from '../cgroup/location.js';

/** The nested payload block each collector produces, by collector name. */
export interface Blocks {
  cpu: CpuBlock;
  memory: MemoryBlock;
  io: IoBlock;
  pids: PidsBlock;
  pressure: PressureBlock;
  network: NetworkBlock;
  processes: ProcessesBlock;
  system: SystemBlock;
  disk: DiskBlock;
}
export type CollectorName = keyof Blocks;

/**
 * How a collector explains a `null` field. Field names are relative to the
 * collector's block (`peak_bytes` in the memory collector becomes
 * `memory.peak_bytes` in the payload's `unavailable` map).
 */
export interface CollectorReport {
  /** The platform does not provide this (missing file, controller not enabled, old kernel). */
  unsupported(field: string, reason: string): void;
  /** Reading or parsing failed: the field is null and the collector is reported as not ok. */
  failed(field: string, error: unknown): void;
}

/** Static facts about the machine and configuration, fixed for the agent's lifetime. */
export interface AgentEnv {
  procRoot: string;
  sysRoot: string;
  cgroup: CgroupLocation;
  intervalMs: number;
  /** Pairs closer together than this give no rate (half the interval, docs/measurement.md §0.3). */
  minRateDeltaNs: bigint;
  /** Mount points for the disk collector; the first is the one in the Sirius fields (`/`). */
  diskPaths: string[];
  /** Monotonic clock in ns (`process.hrtime.bigint`); tests inject a fake one. */
  clock: () => bigint;
  /** Per-thread stat reads per tick for the load count (LOAD_TASK_READS; absent: the default). */
  loadTaskReads?: number;
  /**
   * Host mode: the container is read from outside, through the host's
   * `procRoot`. Absent for the sidecar, which reads its own views (`/proc/net/dev`,
   * `statfs("/")`, PID 1).
   */
  container?: ContainerView;
}

/** How the host agent sees one container's own namespaces through the host's /proc. */
export interface ContainerView {
  /**
   * The pid (in `procRoot`'s numbering) of the container's first process,
   * its PID 1, when known and among `pids`; else null.
   */
  initPid(pids: readonly number[]): number | null;
}

/**
 * A process of the container to look through (its network namespace, its
 * root filesystem): the container's PID 1 while it lives, else the first
 * process listed. Null when the container has no process.
 */
export function memberPid(view: ContainerView, pids: readonly number[]): number | null {
  return view.initPid(pids) ?? pids[0] ?? null;
}

/** Data read once per tick and shared by several collectors. */
export interface Tick {
  /** Host CPUs online (`/sys/devices/system/cpu/online`, else Node's count). */
  hostCpus(): number;
  /** Host `MemTotal` in bytes, or null if `/proc/meminfo` cannot be read. */
  hostMemTotal(): number | null;
  /** PIDs of the container's processes (cgroup subtree), read once per tick. */
  containerPids(): number[];
}

export interface Collector<K extends CollectorName> {
  readonly name: K;
  collect(tick: Tick, report: CollectorReport): Blocks[K] | Promise<Blocks[K]>;
  /** Releases what it keeps between ticks (host mode: the container is gone). */
  close?(): void;
}
