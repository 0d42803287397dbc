import { readTextIfExists } from './read-text.js';

/**
 * Optional files (limits on ancestors, cpuset of a runtime that made none)
 * that were missing are probed again only once a minute: the root cgroup never
 * has a limit file (on v2 with `--cgroupns=host` it is part of every walk), and
 * a failed open costs ~20 µs, more than reading a file that exists. A file
 * that appears is picked up within that minute.
 */
const ABSENT_RECHECK_NS = 60_000_000_000n;

export class AbsentFiles {
  private readonly until = new Map<string, bigint>();
  constructor(private readonly clock: () => bigint) {}

  read(path: string): string | null {
    const now = this.clock();
    const until = this.until.get(path);
    if (until !== undefined && now < until) return null;
    const text = readTextIfExists(path);
    if (text === null) this.until.set(path, now + ABSENT_RECHECK_NS);
    else if (until !== undefined) this.until.delete(path);
    return text;
  }
}

/** Parse errors do not know the path; add it so the note says which file was bad. */
export function withPath(path: string, err: unknown): unknown {
  if (err instanceof Error && !err.message.includes(path)) return new Error(`${path}: ${err.message}`, { cause: err });
  return err;
}
