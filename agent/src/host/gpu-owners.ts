import { join } from 'node:path';
import type { CgroupLocation, Hierarchy } from '../cgroup/location.js';
import { parseProcCgroup } from '../cgroup/parse-proc-cgroup.js';
import { readTextFresh } from '../fsread/read-text.js';
import { parseNsPid } from '../gpu/pid-map.js';
import type { ProcessOwner } from './gpu-attribution.js';

/** A container's cgroup path inside its hierarchies (`/docker/<id>`), from where its directories are. */
export function cgroupPathsOf(loc: CgroupLocation): string[] {
  const hs: Hierarchy[] = [...Object.values(loc.controllers), ...(loc.unified ? [loc.unified] : [])];
  return [...new Set(hs.map((h) => h.dir.slice(h.mount.length) || '/'))];
}

/**
 * Finds which monitored container a host PID belongs to: its
 * `/proc/<pid>/cgroup` paths (and their ancestors, for processes in a child
 * cgroup such as Docker's `/init`) looked up among the containers' cgroup
 * paths; and its PID in the container's namespace (innermost `NSpid`).
 */
export class ProcessOwners {
  private readonly byPath = new Map<string, string>();

  constructor(private readonly procRoot: string) {}

  set(holders: readonly { id: string; cgroup: CgroupLocation }[]): void {
    this.byPath.clear();
    for (const h of holders) for (const p of cgroupPathsOf(h.cgroup)) if (p !== '/') this.byPath.set(p, h.id);
  }

  ownerOf(hostPid: number): ProcessOwner {
    let holderId: string | null = null;
    try {
      const entries = parseProcCgroup(readTextFresh(join(this.procRoot, String(hostPid), 'cgroup')));
      for (const e of entries) {
        for (let p = e.path; holderId === null && p.length > 1; p = p.slice(0, p.lastIndexOf('/')) || '/') {
          holderId = this.byPath.get(p) ?? null;
        }
        if (holderId !== null) break;
      }
    } catch {
      return { holderId: null, nsPid: null };
    }
    let nsPid: number | null = null;
    try {
      const ns = parseNsPid(readTextFresh(join(this.procRoot, String(hostPid), 'status')));
      nsPid = ns === null || ns.length < 2 ? null : (ns.at(-1) ?? null);
    } catch {
      nsPid = null;
    }
    return { holderId, nsPid };
  }
}
