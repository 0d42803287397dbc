import { dirname } from 'node:path';
import type { CgroupMode } from '../../../shared/src/payload.js';

/** v1 controller names; on v2 all of them map to the one unified hierarchy (`blkio` is v2's `io`). */
export const controllerNames = ['cpu', 'cpuacct', 'cpuset', 'memory', 'blkio', 'pids'] as const;
export type ControllerName = (typeof controllerNames)[number];

/** Where one controller (or the unified tree) is read for this container. */
export interface Hierarchy {
  version: 1 | 2;
  /** Mount point of the hierarchy (the highest directory we may walk up to). */
  mount: string;
  /** The container's cgroup directory inside that mount. */
  dir: string;
}

export interface CgroupLocation {
  mode: CgroupMode;
  /** `host`: the directory found is the host root cgroup (the agent is not in a container cgroup). */
  scope: 'container' | 'host';
  source: 'private-namespace' | 'host-namespace' | 'override' | 'none';
  /** The cgroup2 hierarchy for this process, if mounted (PSI lives here even on hybrid hosts). */
  unified: Hierarchy | null;
  /** Per controller: a v1 hierarchy listing it wins over v2 (docs/measurement.md §1). */
  controllers: Partial<Record<ControllerName, Hierarchy>>;
  /** Controllers enabled in the unified cgroup (`cgroup.controllers`), when v2 is in use. */
  v2Controllers: ReadonlySet<string> | null;
  /** Human-readable notes on how the location was chosen (doctor prints these). */
  notes: string[];
}

/** `dir` and every ancestor up to and including the hierarchy's mount point, nearest first. */
export function ancestorsOf(h: Hierarchy): string[] {
  const out: string[] = [];
  let cur = h.dir;
  for (;;) {
    out.push(cur);
    if (cur === h.mount || cur.length <= h.mount.length) break;
    const parent = dirname(cur);
    if (parent === cur) break;
    cur = parent;
  }
  return out;
}
