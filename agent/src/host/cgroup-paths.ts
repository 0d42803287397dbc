import { posix } from 'node:path';

/** How Docker names container cgroups (`docker info`'s CgroupDriver). */
export type CgroupDriver = 'cgroupfs' | 'systemd';

/**
 * A systemd slice unit's path in the cgroup tree: each `-` in the name is a
 * level, so `user-1000.slice` is `/user.slice/user-1000.slice`; `-.slice`
 * is the root.
 */
export function slicePath(slice: string): string {
  if (!slice.endsWith('.slice')) throw new Error(`${JSON.stringify(slice)} is not a systemd slice name (must end in .slice)`);
  const base = slice.slice(0, -'.slice'.length);
  if (base === '-' || base === '') return '/';
  const parts = base.split('-');
  if (parts.some((p) => p === '')) throw new Error(`${JSON.stringify(slice)}: a slice name has no empty part between dashes`);
  const levels: string[] = [];
  for (let i = 1; i <= parts.length; i++) levels.push(`${parts.slice(0, i).join('-')}.slice`);
  return `/${levels.join('/')}`;
}

/**
 * The cgroup path (inside every hierarchy) Docker gives a container, from
 * its id, the engine's driver and the container's `--cgroup-parent`:
 * cgroupfs puts it at `<parent or /docker>/<id>`, systemd in a scope unit
 * `docker-<id>.scope` under `<parent slice or system.slice>`. The host agent
 * uses this when the container's own `/proc/<pid>/cgroup` cannot be read.
 */
export function dockerCgroupPath(id: string, driver: CgroupDriver, cgroupParent: string | null | undefined): string {
  const parent = cgroupParent ?? '';
  if (driver === 'systemd') {
    // With systemd a parent is a slice; Docker also accepts "slice:prefix:name".
    const slice = parent === '' ? 'system.slice' : (parent.split(':')[0] ?? 'system.slice');
    return posix.join(slicePath(slice), `docker-${id}.scope`);
  }
  return posix.join('/', parent === '' ? '/docker' : parent, id);
}

/** A container id in a cgroup directory name: `<id>` (cgroupfs), `docker-<id>.scope` (systemd), `libpod-<id>.scope`, `cri-containerd-<id>.scope`. */
export function idFromCgroupDir(name: string): string | null {
  const m = /^(?:[a-z-]+-)?([0-9a-f]{64})(?:\.scope)?$/.exec(name);
  return m?.[1] ?? null;
}
