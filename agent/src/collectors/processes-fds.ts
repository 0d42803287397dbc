import { statfsSync, statSync, readdirSync } from 'node:fs';
import { release } from 'node:os';
import { join } from '../fsread/join.js';

/** `statfs(2)` f_type of procfs. */
const PROC_SUPER_MAGIC = 0x9fa0;

/** How a process's open files are counted: `stat` of its fd directory, or listing it. */
export type FdCountMethod = 'stat' | 'list';

/** True when a kernel release string (`uname -r`, `6.18.0-1-amd64`) is at least major.minor. */
export function kernelAtLeast(kernelRelease: string, major: number, minor: number): boolean {
  const m = /^(\d+)\.(\d+)/.exec(kernelRelease);
  if (m === null) return false;
  const [maj, min] = [Number(m[1]), Number(m[2])];
  return maj > major || (maj === major && min >= minor);
}

/**
 * Since Linux 6.2, `stat()` of `/proc/<pid>/fd` reports the number of open
 * fds as the directory's size (the kernel counts the set bits of the fd
 * table): one stat instead of listing every fd (which costs more with every
 * fd a process holds: servers with thousands of sockets). Older kernels
 * report 0 there, so the stat is used only on procfs of a 6.2+ kernel whose
 * size for our own (never empty) fd table is not 0; a tree that is not procfs
 * (test fixtures) is always listed.
 */
export function fdCountMethod(procRoot: string, kernelRelease: string = release()): FdCountMethod {
  if (!kernelAtLeast(kernelRelease, 6, 2)) return 'list';
  try {
    return isProcfs(procRoot) && statSync(join(procRoot, 'self', 'fd')).size > 0 ? 'stat' : 'list';
  } catch {
    return 'list';
  }
}

/** True when `dir` is a mounted procfs (not a fixture tree of regular files). */
export function isProcfs(dir: string): boolean {
  try {
    return statfsSync(dir).type === PROC_SUPER_MAGIC;
  } catch {
    return false;
  }
}

/** Open fds of the process whose fd directory is `dir`. */
export function countFds(dir: string, method: FdCountMethod): number {
  return method === 'stat' ? statSync(dir).size : readdirSync(dir).length;
}
