import { ParseError } from './values.js';

/** One line of `/proc/<pid>/cgroup`. */
export interface ProcCgroupEntry {
  hierarchyId: number;
  /** v1 controllers of that hierarchy; empty for the v2 entry (`0::/path`). */
  controllers: string[];
  path: string;
}

const DELETED_SUFFIX = ' (deleted)';

/**
 * Parses `/proc/<pid>/cgroup`: `hierarchy-ID:controller-list:cgroup-path`. The
 * path may itself contain colons, so only the first two split the line. A
 * cgroup removed while the process still sits in it is shown with a
 * trailing ` (deleted)`, which is not part of the path.
 */
export function parseProcCgroup(text: string): ProcCgroupEntry[] {
  const out: ProcCgroupEntry[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line === undefined || line.trim() === '') continue;
    const first = line.indexOf(':');
    const second = first < 0 ? -1 : line.indexOf(':', first + 1);
    if (first < 0 || second < 0) throw new ParseError(`/proc/self/cgroup line ${i + 1}: expected "id:controllers:path"`);
    const idText = line.slice(0, first);
    if (!/^\d+$/.test(idText)) throw new ParseError(`/proc/self/cgroup line ${i + 1}: bad hierarchy id ${JSON.stringify(idText)}`);
    let path = line.slice(second + 1);
    if (path.endsWith(DELETED_SUFFIX)) path = path.slice(0, -DELETED_SUFFIX.length);
    if (!path.startsWith('/')) throw new ParseError(`/proc/self/cgroup line ${i + 1}: path must be absolute, got ${JSON.stringify(path)}`);
    const list = line.slice(first + 1, second);
    out.push({
      hierarchyId: Number(idText),
      controllers: list === '' ? [] : list.split(',').filter((c) => !c.startsWith('name=')),
      path,
    });
  }
  return out;
}
