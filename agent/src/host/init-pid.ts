import { join } from 'node:path';
import type { ContainerView } from '../collectors/types.js';
import { readTextFresh } from '../fsread/read-text.js';
import { parseNsPid } from '../gpu/pid-map.js';

/** After a scan found no PID 1 (the container shares a PID namespace), scan again at most this often. */
const RESCAN_NS = 60_000_000_000n;

/**
 * The container's PID 1 seen from the host. A pid the engine named (Docker's
 * State.Pid) is used while it lives; otherwise the process whose innermost
 * `NSpid` is 1 is looked for among the container's processes and kept while
 * it lives (one scan of their status files when it is gone).
 */
export class InitPidFinder implements ContainerView {
  private found: number | null;

  constructor(
    private readonly procRoot: string,
    known: number | null,
    private readonly clock: () => bigint,
  ) {
    this.found = known !== null && known > 0 ? known : null;
  }

  private lastScanAt: bigint | null = null;

  initPid(pids: readonly number[]): number | null {
    if (this.found !== null && pids.includes(this.found)) return this.found;
    const now = this.clock();
    if (this.lastScanAt !== null && now - this.lastScanAt < RESCAN_NS && this.found === null) return null;
    this.lastScanAt = now;
    this.found = null;
    for (const pid of pids) {
      let status: string;
      try {
        status = readTextFresh(join(this.procRoot, String(pid), 'status'));
      } catch {
        continue;
      }
      const ns = parseNsPid(status);
      if (ns !== null && ns.length > 1 && ns.at(-1) === 1) {
        this.found = pid;
        break;
      }
    }
    return this.found;
  }
}
