import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, posix } from 'node:path';
import type { CgroupMode } from '../../../shared/src/payload.js';
import { readText, readTextIfExists } from '../fsread/read-text.js';
import { controllerNames, type CgroupLocation, type ControllerName, type Hierarchy } from './location.js';
import { parseCgroupMounts, type CgroupMount } from './parse-mountinfo.js';
import { parseProcCgroup, type ProcCgroupEntry } from './parse-proc-cgroup.js';

/** The conventional mount root of cgroup hierarchies. */
export const DEFAULT_CGROUP_ROOT = '/sys/fs/cgroup';

export interface LocateOptions {
  /** Where `/proc` is (fixtures, host-mounted proc). */
  procRoot: string;
  /** Where the hierarchies are mounted; mount points under `/sys/fs/cgroup` are re-based here. */
  cgroupRoot: string;
  /** The cgroup's path inside every hierarchy; skips detection when set. */
  cgroupPath?: string | undefined;
  /**
   * Host mode: locate the cgroup of this process (a pid in `procRoot`'s
   * numbering) instead of our own. Its `/proc/<pid>/cgroup` paths are taken
   * as they are, so this needs the host's cgroup namespace: a path outside a
   * mounted hierarchy is an error, not a fallback to the mount point.
   */
  pid?: number;
}

/** The process's cgroup lies outside what this agent can see (host mode in a private cgroup namespace). */
export class CgroupOutsideError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CgroupOutsideError';
  }
}

/** v2 names for the v1 controllers we read. */
const V2_NAME: Record<ControllerName, string> = {
  cpu: 'cpu',
  cpuacct: 'cpu',
  cpuset: 'cpuset',
  memory: 'memory',
  blkio: 'io',
  pids: 'pids',
};

/** A hierarchy as seen by this process: where it is mounted and our path in it. */
interface Seen {
  mount: CgroupMount;
  /** Our cgroup path as `/proc/self/cgroup` lists it. */
  path: string;
}

/**
 * Finds the directories to read for the container this process runs in
 * (docs/measurement.md §1). Throws only when `/proc/self/cgroup` or mountinfo exist
 * but cannot be parsed; a machine without cgroups gives mode `none`.
 */
export function locateCgroup(opts: LocateOptions): CgroupLocation {
  const notes: string[] = [];
  const entries = readProcCgroup(opts.procRoot, opts.pid, notes);
  let mounts = readMounts(opts, notes);
  if (mounts.length === 0) mounts = probeLayout(opts.cgroupRoot, notes);
  // Another process's cgroup is read in a whole hierarchy: where the host
  // agent (in a container) also has its own subtree mounted, the host's full
  // tree (root "/") is the one to use.
  if (opts.pid !== undefined) mounts = [...mounts].sort((a, b) => Number(b.root === '/') - Number(a.root === '/'));

  const unifiedEntry = entries.find((e) => e.hierarchyId === 0);
  const unifiedMount = mounts.find((m) => m.version === 2);
  const v1Mounts = mounts.filter((m) => m.version === 1);
  const mode: CgroupMode =
    unifiedMount && v1Mounts.length > 0 ? 'hybrid' : unifiedMount ? 'v2' : v1Mounts.length > 0 ? 'v1' : 'none';

  if (mode === 'none') {
    notes.push(`no cgroup hierarchy found in ${join(opts.procRoot, 'self/mountinfo')} or under ${opts.cgroupRoot}`);
    return { mode, scope: 'host', source: 'none', unified: null, controllers: {}, v2Controllers: null, notes };
  }

  // Set by resolve(): any hierarchy seen through a private cgroup namespace.
  const seenVia = { privateNamespace: false };
  const resolve = (seen: Seen): Hierarchy => {
    const r = opts.pid === undefined ? resolveDir(seen, opts.cgroupPath, notes) : resolveOther(seen, opts.pid);
    if (r.privateNamespace) seenVia.privateNamespace = true;
    return r.hierarchy;
  };

  const unified = unifiedMount ? resolve({ mount: unifiedMount, path: unifiedEntry?.path ?? '/' }) : null;
  const controllers: Partial<Record<ControllerName, Hierarchy>> = {};
  const byMount = new Map<CgroupMount, Hierarchy>();
  for (const name of controllerNames) {
    const mount = v1Mounts.find((m) => m.controllers.includes(name));
    if (mount) {
      let h = byMount.get(mount);
      if (h === undefined) {
        const entry = entries.find((e) => e.hierarchyId !== 0 && e.controllers.includes(name));
        h = resolve({ mount, path: entry?.path ?? '/' });
        byMount.set(mount, h);
      }
      controllers[name] = h;
    } else if (unified) {
      controllers[name] = unified;
    }
  }

  const v2Controllers = unified ? readV2Controllers(unified.dir) : null;
  if (unified && v2Controllers !== null && mode === 'v2') {
    const missing = controllerNames.map((c) => V2_NAME[c]).filter((c, i, a) => a.indexOf(c) === i && !v2Controllers.has(c));
    if (missing.length > 0) {
      notes.push(
        `controllers not enabled for ${unified.dir}: ${missing.join(', ')} (rootless or not delegated; their metrics are null)`,
      );
    }
  }

  const primary = controllers.memory ?? unified ?? controllers.cpu;
  const scope = primary !== undefined && isHostRoot(primary) ? 'host' : 'container';
  if (scope === 'host') {
    notes.push(`${primary?.dir ?? '?'} is the host's root cgroup: the agent is not in a container cgroup, numbers are host-level`);
  }
  const source = opts.cgroupPath !== undefined && opts.pid === undefined ? 'override' : seenVia.privateNamespace ? 'private-namespace' : 'host-namespace';
  return { mode, scope, source, unified, controllers, v2Controllers, notes };
}

function readProcCgroup(procRoot: string, pid: number | undefined, notes: string[]): ProcCgroupEntry[] {
  const path = join(procRoot, pid === undefined ? 'self' : String(pid), 'cgroup');
  const text = readTextIfExists(path);
  if (text === null) {
    if (pid !== undefined) throw new CgroupOutsideError(`${path} missing: process ${pid} is gone`);
    notes.push(`${path} missing: assuming the root path in every hierarchy`);
    return [];
  }
  return parseProcCgroup(text);
}

function readMounts(opts: LocateOptions, notes: string[]): CgroupMount[] {
  const path = join(opts.procRoot, 'self/mountinfo');
  const text = readTextIfExists(path);
  if (text === null) {
    notes.push(`${path} missing: probing ${opts.cgroupRoot} for hierarchies`);
    return [];
  }
  const mounts = parseCgroupMounts(text);
  if (opts.cgroupRoot === DEFAULT_CGROUP_ROOT) return mounts;
  // CGROUP_ROOT relocates the standard mount root (fixture trees, a host's
  // /sys/fs/cgroup mounted elsewhere); mounts outside it are left alone.
  return mounts.map((m) => ({ ...m, mountPoint: rebase(m.mountPoint, opts.cgroupRoot) }));
}

function rebase(mountPoint: string, cgroupRoot: string): string {
  if (mountPoint === DEFAULT_CGROUP_ROOT) return cgroupRoot;
  if (mountPoint.startsWith(`${DEFAULT_CGROUP_ROOT}/`)) return join(cgroupRoot, mountPoint.slice(DEFAULT_CGROUP_ROOT.length));
  return mountPoint;
}

/** Without mountinfo: `<root>/cgroup.controllers` means v2 there; v1 controllers are subdirectories. */
function probeLayout(root: string, notes: string[]): CgroupMount[] {
  if (existsSync(join(root, 'cgroup.controllers'))) {
    return [{ version: 2, root: '/', mountPoint: root, controllers: [] }];
  }
  const mounts: CgroupMount[] = [];
  let names: string[];
  try {
    names = readdirSync(root);
  } catch (err) {
    notes.push(`cannot list ${root}: ${String(err)}`);
    return mounts;
  }
  for (const name of names) {
    const dir = join(root, name);
    if (name === 'unified' && existsSync(join(dir, 'cgroup.controllers'))) {
      mounts.push({ version: 2, root: '/', mountPoint: dir, controllers: [] });
      continue;
    }
    // Co-mounted hierarchies appear as `cpu,cpuacct` with `cpu` and `cpuacct` symlinks to it.
    const controllers = name.split(',').filter((c) => (controllerNames as readonly string[]).includes(c));
    if (controllers.length === 0 || !isDirectory(dir) || mounts.some((m) => realSame(m.mountPoint, dir))) continue;
    mounts.push({ version: 1, root: '/', mountPoint: dir, controllers });
  }
  return mounts;
}

function isDirectory(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function realSame(a: string, b: string): boolean {
  try {
    const sa = statSync(a);
    const sb = statSync(b);
    return sa.ino === sb.ino && sa.dev === sb.dev;
  } catch {
    return false;
  }
}

/**
 * Chooses the directory for one hierarchy. With a private cgroup namespace
 * (Docker's default on v2) the namespace root *is* the container, even when
 * the agent sits in a child such as `/init`; a namespace root that is not the
 * host root is recognised by having `cgroup.type` (v2) or lacking the
 * root-only `cgroup.sane_behavior` (v1).
 */
function resolveDir(
  seen: Seen,
  override: string | undefined,
  notes: string[],
): { hierarchy: Hierarchy; privateNamespace: boolean } {
  const { mount } = seen;
  const version = mount.version;
  const mk = (dir: string): Hierarchy => ({ version, mount: mount.mountPoint, dir });
  if (override !== undefined) {
    return { hierarchy: mk(joinInside(mount.mountPoint, override)), privateNamespace: false };
  }
  const rel = posix.relative(mount.root, seen.path);
  if (rel.startsWith('..')) {
    notes.push(
      `cgroup ${seen.path} is outside the subtree mounted at ${mount.mountPoint} (root ${mount.root}); using the mount point`,
    );
    return { hierarchy: mk(mount.mountPoint), privateNamespace: false };
  }
  const mountIsHostRoot = isHostRoot(mk(mount.mountPoint));
  if (rel === '') return { hierarchy: mk(mount.mountPoint), privateNamespace: seen.path === '/' && !mountIsHostRoot };
  if (!mountIsHostRoot) {
    notes.push(
      `agent runs in ${seen.path} below the namespace root ${mount.mountPoint}; measuring the namespace root (the container)`,
    );
    return { hierarchy: mk(mount.mountPoint), privateNamespace: true };
  }
  return { hierarchy: mk(joinInside(mount.mountPoint, rel)), privateNamespace: false };
}

/** Another process's directory in one hierarchy, as its `/proc/<pid>/cgroup` names it. */
function resolveOther(seen: Seen, pid: number): { hierarchy: Hierarchy; privateNamespace: boolean } {
  const { mount } = seen;
  const rel = posix.relative(mount.root, seen.path);
  if (rel.startsWith('..') || seen.path.startsWith('/..')) {
    throw new CgroupOutsideError(
      `process ${pid} is in cgroup ${seen.path}, outside the hierarchy mounted at ${mount.mountPoint}: run the host agent in the host's cgroup namespace (docker run --cgroupns host; compose: cgroup: host)`,
    );
  }
  return { hierarchy: { version: mount.version, mount: mount.mountPoint, dir: joinInside(mount.mountPoint, rel) }, privateNamespace: false };
}

/** Joins a cgroup path under a mount point without letting `..` escape it. */
function joinInside(mountPoint: string, cgroupPath: string): string {
  const normal = posix.normalize(`/${cgroupPath}`);
  return normal === '/' ? mountPoint : join(mountPoint, normal);
}

/** The host's root cgroup: v2 roots have no `cgroup.type`; only v1 roots have `cgroup.sane_behavior`. */
export function isHostRoot(h: Hierarchy): boolean {
  if (h.version === 2) return !existsSync(join(h.dir, 'cgroup.type'));
  return existsSync(join(h.dir, 'cgroup.sane_behavior'));
}

function readV2Controllers(dir: string): ReadonlySet<string> | null {
  try {
    return new Set(readText(join(dir, 'cgroup.controllers')).trim().split(/\s+/).filter(Boolean));
  } catch {
    return null;
  }
}
