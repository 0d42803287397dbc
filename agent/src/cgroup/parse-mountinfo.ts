import { ParseError } from './values.js';

/** One cgroup mount from `/proc/self/mountinfo`. */
export interface CgroupMount {
  version: 1 | 2;
  /** Path of the mounted subtree inside the hierarchy (`/` unless a subtree was bind-mounted). */
  root: string;
  mountPoint: string;
  /** v1 controllers from the super options (`cpu`, `cpuacct`, ...); `name=` hierarchies excluded. */
  controllers: string[];
}

/** The kernel escapes space, tab, newline and backslash in mountinfo paths as `\ooo` octal. */
export function unescapeMountPath(path: string): string {
  return path.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

const V1_NON_CONTROLLER_OPTIONS = new Set(['rw', 'ro', 'noprefix', 'clone_children', 'xattr', 'cpuset_v2_mode', 'favordynmods']);

/**
 * Parses `/proc/self/mountinfo` and returns the cgroup and cgroup2 mounts.
 * Format (proc(5)): `id parent maj:min root mountpoint options [optional...] - fstype source superoptions`.
 * The optional fields vary in number, so the line is split at the ` - ` separator.
 */
export function parseCgroupMounts(text: string): CgroupMount[] {
  const mounts: CgroupMount[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line === undefined || line.trim() === '') continue;
    const sep = line.indexOf(' - ');
    if (sep < 0) throw new ParseError(`mountinfo line ${i + 1}: no " - " separator`);
    const left = line.slice(0, sep).split(' ');
    const right = line.slice(sep + 3).split(' ');
    const fstype = right[0];
    if (fstype !== 'cgroup' && fstype !== 'cgroup2') continue;
    const root = left[3];
    const mountPoint = left[4];
    if (root === undefined || mountPoint === undefined) {
      throw new ParseError(`mountinfo line ${i + 1}: expected at least 5 fields before " - "`);
    }
    let controllers: string[] = [];
    if (fstype === 'cgroup') {
      const superOptions = right[2] ?? '';
      controllers = superOptions
        .split(',')
        .filter((o) => o !== '' && !o.includes('=') && !V1_NON_CONTROLLER_OPTIONS.has(o));
      // A v1 mount with no real controller (name=systemd) carries nothing we read.
      if (controllers.length === 0) continue;
    }
    mounts.push({
      version: fstype === 'cgroup2' ? 2 : 1,
      root: unescapeMountPath(root),
      mountPoint: unescapeMountPath(mountPoint),
      controllers,
    });
  }
  return mounts;
}
