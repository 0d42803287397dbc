import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from './fsread/join.js';
import type { CgroupLocation, Hierarchy } from './cgroup/location.js';
import { readText, readTextFresh } from './fsread/read-text.js';

/**
 * The hierarchy whose `cgroup.procs` lists the container's processes. v1
 * hierarchies can differ per controller; pids/memory are the ones that are
 * set up per container by every runtime.
 */
export function processHierarchy(loc: CgroupLocation): Hierarchy | null {
  const c = loc.controllers;
  const candidates = [c.pids, c.memory, c.cpu, c.cpuacct, loc.unified].filter((h): h is Hierarchy => h !== undefined && h !== null);
  // A runtime may create the container's cgroup in only some v1 hierarchies.
  return candidates.find((h) => existsSync(join(h.dir, 'cgroup.procs'))) ?? candidates[0] ?? null;
}

/**
 * True when this process runs in a PID namespace of its own (a container's):
 * `NSpid:` in /proc/self/status lists one PID per nested namespace level.
 * Then /proc lists exactly the container's processes.
 */
export function inOwnPidNamespace(procRoot: string): boolean {
  const status = readText(join(procRoot, 'self/status'));
  const line = status.split('\n').find((l) => l.startsWith('NSpid:'));
  return line !== undefined && line.trim().split(/\s+/).length > 2;
}

/**
 * PIDs of every process in the cgroup and its descendants (Docker puts
 * processes in a child such as `/init` when it needs the namespace root to
 * have no processes of its own), each once. PIDs are as seen from our PID
 * namespace; tasks outside it read as 0 and are dropped. The kernel does not
 * promise a pid once: cgroup v1's `cgroup.procs` is built from the tasks'
 * thread-group ids "not guaranteed to be sorted or free of duplicates", and
 * a process moving between two cgroups of the subtree while we walk it can
 * show up in both.
 *
 * `cgroup.procs` is opened anew for every read, never kept open like the
 * other cgroup files: on cgroup v1 the kernel builds the list once per open
 * file and serves it again to a later read from offset 0 as long as that
 * read comes within a second of the previous one, so a descriptor read every
 * second (the 1 s interval) kept returning the list of the first read, with
 * processes long gone (host mode counted 6 where the sidecar counted 5,
 * issue #18). A fresh open always builds a fresh list, in every namespace,
 * so the sidecar and host mode count by the same rule: the processes in the
 * cgroup at that moment.
 */
export function readCgroupPids(dir: string): number[] {
  const pids = new Set<number>();
  collect(dir, pids);
  return [...pids];
}

function collect(dir: string, out: Set<number>): void {
  const text = readTextFresh(join(dir, 'cgroup.procs'));
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const pid = Number(line);
    if (Number.isInteger(pid) && pid > 0) out.add(pid);
  }
  // A directory's link count is 2 plus its subdirectories on cgroupfs (kernfs
  // keeps it so) and on the usual disk and memory filesystems: at exactly 2
  // there is no child cgroup, and one stat replaces listing every control
  // file of the cgroup. Filesystems that do not count (btrfs says 1) are listed.
  if (statSync(dir).nlink === 2) return;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) collect(join(dir, entry.name), out);
  }
}

/** Numeric entries of `/proc`: every process visible in our PID namespace. */
export function readProcPids(procRoot: string): number[] {
  const pids: number[] = [];
  for (const name of readdirSync(procRoot)) {
    const c = name.charCodeAt(0);
    if (c < 48 || c > 57) continue;
    const pid = Number(name);
    if (Number.isInteger(pid) && pid > 0) pids.push(pid);
  }
  return pids;
}
