import type { CgroupLocation } from '../cgroup/location.js';

/** One container the host agent monitors, as discovery found it. */
export interface ContainerTarget {
  /** Stable identity: the Docker id, or the cgroup directory in cgroup-only mode. */
  id: string;
  /** Its key name (system:metrics:<name>). */
  name: string;
  /** `host.hostname` in its samples: what the container's own `hostname()` answers. */
  hostname: string;
  cgroup: CgroupLocation;
  /** Host PID of its first process when the engine said (Docker's State.Pid); else found by PID namespace. */
  initPid: number | null;
  /** GPUs the engine assigned it (UUIDs or indices; `all`), from its device requests or NVIDIA_VISIBLE_DEVICES. */
  gpus: GpuAssignment;
}

export type GpuAssignment = { all: true } | { all: false; ids: string[] };

/** What a discovery reports. `removed` carries why (the engine event, or the cgroup vanishing). */
export interface DiscoveryHandlers {
  added(target: ContainerTarget): void;
  removed(id: string, reason: string): void;
}

export interface Discovery {
  /** Human-readable source for logs (`docker /var/run/docker.sock`, `cgroup /sys/fs/cgroup/memory/docker`). */
  readonly describe: string;
  /** Finds what runs now and starts watching. Throws when the source cannot be read at all. */
  start(handlers: DiscoveryHandlers): Promise<void>;
  /** Called before each tick: picks up what events may have missed. */
  refresh(): Promise<void>;
  close(): void;
}
