import { availableParallelism } from 'node:os';
import { join } from './fsread/join.js';
import type { Logger } from 'pino';
import { parseCpuListCount } from './cgroup/values.js';
import type { Hierarchy } from './cgroup/location.js';
import type { AgentEnv, Tick } from './collectors/types.js';
import { inOwnPidNamespace, processHierarchy, readCgroupPids, readProcPids } from './container-pids.js';
import { readText } from './fsread/read-text.js';
import { memTotalBytes } from './procfs/parse-meminfo.js';

/** Host facts change rarely (CPU/memory hotplug); re-read them once a minute. */
const HOST_FACTS_TTL_NS = 60_000_000_000n;

/**
 * Creates the per-tick shared reads. Host facts are cached across ticks;
 * the process list is read at most once per tick.
 */
export class TickSource {
  private cpus: { value: number; at: bigint } | null = null;
  private memTotal: { value: number | null; at: bigint } | null = null;
  private pidsWarned = false;
  private readonly pidHierarchy: Hierarchy | null;

  constructor(
    private readonly env: AgentEnv,
    private readonly log: Logger,
  ) {
    this.pidHierarchy = processHierarchy(env.cgroup);
  }

  next(): Tick {
    let pids: number[] | null = null;
    return {
      hostCpus: () => this.hostCpus(),
      hostMemTotal: () => this.hostMemTotal(),
      containerPids: () => (pids ??= this.readPids()),
    };
  }

  hostCpus(): number {
    const now = this.env.clock();
    if (this.cpus !== null && now - this.cpus.at < HOST_FACTS_TTL_NS) return this.cpus.value;
    let value: number;
    try {
      value = parseCpuListCount(readText(join(this.env.sysRoot, 'devices/system/cpu/online')), 'cpu/online');
      if (value <= 0) value = availableParallelism();
    } catch {
      value = availableParallelism();
    }
    this.cpus = { value, at: now };
    return value;
  }

  hostMemTotal(): number | null {
    const now = this.env.clock();
    if (this.memTotal !== null && now - this.memTotal.at < HOST_FACTS_TTL_NS) return this.memTotal.value;
    let value: number | null;
    try {
      value = memTotalBytes(readText(join(this.env.procRoot, 'meminfo')));
    } catch (err) {
      this.log.warn({ err }, 'cannot read host MemTotal; memory limits fall back to null');
      value = null;
    }
    this.memTotal = { value, at: now };
    return value;
  }

  private readPids(): number[] {
    const h = this.pidHierarchy;
    // At the host root every process is "in the container": list /proc instead
    // of walking the whole host cgroup tree.
    if (h === null || this.env.cgroup.scope === 'host') return readProcPids(this.env.procRoot);
    try {
      return readCgroupPids(h.dir);
    } catch (err) {
      // /proc stands in only when it shows the container's processes alone.
      if (!inOwnPidNamespace(this.env.procRoot)) {
        throw new Error(`cannot list the container's processes from ${h.dir}/cgroup.procs and /proc is the host's`, { cause: err });
      }
      if (!this.pidsWarned) {
        this.pidsWarned = true;
        this.log.warn({ err, dir: h.dir }, 'cannot read cgroup.procs; counting processes from /proc (own PID namespace)');
      }
      return readProcPids(this.env.procRoot);
    }
  }
}
