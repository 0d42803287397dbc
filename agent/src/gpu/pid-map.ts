import { join } from 'node:path';
import type { GpuProcess } from '../../../shared/src/payload.js';
import { readTextIfExists } from '../fsread/read-text.js';
import { parsePidStat } from '../procfs/parse-pid-stat.js';

/**
 * The `NSpid:` line of /proc/<pid>/status: the PID in each nested PID
 * namespace, outermost first. Null when the kernel has no such line (< 4.1).
 */
export function parseNsPid(status: string): number[] | null {
  const line = status.split('\n').find((l) => l.startsWith('NSpid:'));
  if (line === undefined) return null;
  const pids = line
    .slice('NSpid:'.length)
    .trim()
    .split(/\s+/)
    .map(Number);
  return pids.length > 0 && pids.every((p) => Number.isSafeInteger(p) && p > 0) ? pids : null;
}

export interface PidMapOptions {
  /** Where the host's /proc is mounted (HOST_PROC), or null when it is not. */
  hostProc: string | null;
  /** This container's /proc. */
  procRoot: string;
}

function starttime(path: string): number | null {
  try {
    const text = readTextIfExists(path);
    return text === null ? null : parsePidStat(text, path).starttime;
  } catch {
    return null;
  }
}

/**
 * NVML reports host PIDs. Looking one up in the container's /proc would find
 * an unrelated process (or none), so a host PID is only turned into a
 * container PID through the host's /proc: the innermost `NSpid:` value is the
 * candidate, and it is accepted only when the container's process with that
 * number started at the same boot-relative time (field 22 of stat is the same
 * in every namespace) — otherwise the process belongs to another container or
 * the host and keeps its host PID, labelled as such.
 */
export function mapGpuProcess(hostPid: number, opts: PidMapOptions): Pick<GpuProcess, 'pid' | 'pid_namespace'> {
  const host = { pid: hostPid, pid_namespace: 'host' } as const;
  if (opts.hostProc === null) return host;
  let status: string | null;
  try {
    status = readTextIfExists(join(opts.hostProc, String(hostPid), 'status'));
  } catch {
    return host;
  }
  const nspids = status === null ? null : parseNsPid(status);
  const inner = nspids?.at(-1);
  if (inner === undefined) return host;
  const hostStart = starttime(join(opts.hostProc, String(hostPid), 'stat'));
  const ownStart = starttime(join(opts.procRoot, String(inner), 'stat'));
  if (hostStart === null || ownStart === null || hostStart !== ownStart) return host;
  return { pid: inner, pid_namespace: 'container' };
}
