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
 * Two-part joins (nearly every call: a directory and a file name), looked up
 * by the two strings themselves: no key string is built per call, and the
 * callers pass the same string objects every tick, whose hashes V8 keeps.
 * Host mode made ~50 joins per container per tick, and building the key
 * was most of their cost.
 */
const memo2 = new Map<string, Map<string, string>>();
let memo2Size = 0;

/**
 * The host agent joins the paths of every container each tick: with the
 * sidecar's bound the memory would be dropped within each tick and nearly
 * every join computed again.
 */
export function setJoinMemoLimit(n: number): void {
  maxEntries = Math.max(1, Math.floor(n));
  if (memo.size >= maxEntries) memo.clear();
  if (memo2Size >= maxEntries) clearMemo2();
}

function clearMemo2(): void {
  memo2.clear();
  memo2Size = 0;
}

export function join(...parts: string[]): string {
  if (parts.length === 2) return join2(parts[0] ?? '', parts[1] ?? '');
  const key = parts.filter((p) => p !== '').join('/');
  let joined = memo.get(key);
  if (joined === undefined) {
    joined = pathJoin(...parts);
    if (memo.size >= maxEntries) memo.clear();
    memo.set(key, joined);
  }
  return joined;
}

function join2(dir: string, name: string): string {
  let byName = memo2.get(dir);
  const known = byName?.get(name);
  if (known !== undefined) return known;
  const joined = pathJoin(dir, name);
  if (memo2Size >= maxEntries) {
    clearMemo2();
    byName = undefined;
  }
  if (byName === undefined) {
    byName = new Map();
    memo2.set(dir, byName);
  }
  byName.set(name, joined);
  memo2Size += 1;
  return joined;
}
