import { readdirSync, readFileSync } from 'node:fs';

/**
 * CPU time of every thread of `pid`, in ns: the first field of each
 * thread's schedstat, the kernel's own per-thread accounting at nanosecond
 * resolution (what the benchmarks read for an agent's whole cost, all its
 * threads together).
 */
export function threadsCpuNs(pid: number): number {
  let ns = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // A thread that ended between the listing and the read.
    }
  }
  return ns;
}
