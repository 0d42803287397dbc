import { join as pathJoin } from 'node:path';

/**
 * `path.join` with its results remembered. The collectors join the same
 * directory and file names every tick; path.join normalises each result
 * character by character in JavaScript, which in the single binary (lite
 * mode, and code run once a second is never optimised anyway) was ~13 % of a
 * tick's CPU (BENCHMARKS.md, issue #7). The result is always path.join's.
 * Per-PID paths come and go, so the memory is dropped whenever it gets large.
 * The key is what path.join itself normalises (its non-empty parts joined by
 * "/"), so two calls with the same key always have the same answer.
 */
const MAX_ENTRIES = 2048;
let maxEntries = MAX_ENTRIES;
const memo = new Map<string, string>();

/**
 * The host agent joins the paths of every container each tick: with the
 * sidecar's bound the memory would be dropped within each tick and nearly
 * every join computed again.
 */
export function setJoinMemoLimit(n: number): void {
  maxEntries = Math.max(1, Math.floor(n));
  if (memo.size >= maxEntries) memo.clear();
}

export function join(...parts: string[]): string {
  const key = parts.filter((p) => p !== '').join('/');
  let joined = memo.get(key);
  if (joined === undefined) {
    joined = pathJoin(...parts);
    if (memo.size >= maxEntries) memo.clear();
    memo.set(key, joined);
  }
  return joined;
}
