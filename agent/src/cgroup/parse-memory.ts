import { keyedCount, parseKeyedFile, toSafeNumber, UNLIMITED_THRESHOLD } from './values.js';

/**
 * Memory file parsers. v2 and v1 name the same quantities differently in
 * `memory.stat`; both are mapped onto one view here. The v1 `total_*` keys
 * are the hierarchical ones (this cgroup plus its children), which is what v2
 * reports under the plain names.
 */

/** A limit as the kernel states it: absent, unlimited, or a byte count. */
export type StatLimit = { kind: 'absent' } | { kind: 'unlimited' } | { kind: 'bytes'; bytes: number };

export interface MemoryStatView {
  anon: number | null;
  /** Page cache, including shmem/tmpfs on both versions. */
  file: number | null;
  shmem: number | null;
  /** v2 only (kernel ≥ 5.18); v1 has it in memory.kmem.usage_in_bytes. */
  kernel: number | null;
  inactiveFile: number | null;
  majorFaults: number | null;
  /** v1's effective limit (the smallest over the ancestors); always absent on v2. */
  hierarchicalLimit: StatLimit;
}

const V2_KEYS = { anon: 'anon', file: 'file', shmem: 'shmem', inactiveFile: 'inactive_file', majorFaults: 'pgmajfault' };
const V1_KEYS = {
  anon: 'total_rss',
  file: 'total_cache',
  shmem: 'total_shmem',
  inactiveFile: 'total_inactive_file',
  majorFaults: 'total_pgmajfault',
};

/**
 * `memory.stat` → the keys the agent publishes. Negative values clamp to 0
 * (per-CPU stat batching can make a v1 or v2 counter briefly negative).
 */
const V2_WANTED: ReadonlySet<string> = new Set([...Object.values(V2_KEYS), 'kernel']);
const V1_WANTED: ReadonlySet<string> = new Set([...Object.values(V1_KEYS), 'hierarchical_memory_limit']);

export function parseMemoryStat(text: string, version: 1 | 2): MemoryStatView {
  const m = parseKeyedFile(text, version === 2 ? V2_WANTED : V1_WANTED);
  const keys = version === 2 ? V2_KEYS : V1_KEYS;
  return {
    anon: keyedCount(m, keys.anon, 'memory.stat'),
    file: keyedCount(m, keys.file, 'memory.stat'),
    shmem: keyedCount(m, keys.shmem, 'memory.stat'),
    kernel: version === 2 ? keyedCount(m, 'kernel', 'memory.stat') : null,
    inactiveFile: keyedCount(m, keys.inactiveFile, 'memory.stat'),
    majorFaults: keyedCount(m, keys.majorFaults, 'memory.stat'),
    hierarchicalLimit: version === 1 ? statLimit(m.get('hierarchical_memory_limit')) : { kind: 'absent' },
  };
}

/**
 * v1 reports "no limit" as PAGE_COUNTER_MAX × page size (9223372036854771712
 * with 4 KiB pages), above 2^53: test the BigInt before converting.
 */
function statLimit(v: bigint | undefined): StatLimit {
  if (v === undefined) return { kind: 'absent' };
  if (v < 0n || v > UNLIMITED_THRESHOLD) return { kind: 'unlimited' };
  return { kind: 'bytes', bytes: toSafeNumber(v, 'memory.stat hierarchical_memory_limit') };
}

/** v2 `memory.events` (hierarchical; `memory.events.local` would be this cgroup only). */
export function parseMemoryEvents(text: string): { oom: number | null; oomKill: number | null } {
  const m = parseKeyedFile(text);
  return { oom: keyedCount(m, 'oom', 'memory.events'), oomKill: keyedCount(m, 'oom_kill', 'memory.events') };
}

/** v1 `memory.oom_control`: `oom_kill` appeared in kernel 4.13. */
export function parseOomControl(text: string): { oomKill: number | null } {
  return { oomKill: keyedCount(parseKeyedFile(text), 'oom_kill', 'memory.oom_control') };
}

/** Host-wide memory from `/proc/meminfo` (bytes by key, see procfs/parse-meminfo). */
export interface HostMemoryView {
  total: number | null;
  /** MemTotal − MemAvailable: what the kernel could not hand out without swapping. */
  used: number | null;
  anon: number | null;
  /** `Cached`: page cache including shmem, as v2's `file`. */
  file: number | null;
  shmem: number | null;
  inactiveFile: number | null;
  swap: number | null;
}

export function hostMemoryView(meminfo: ReadonlyMap<string, number>): HostMemoryView {
  const get = (k: string): number | null => meminfo.get(k) ?? null;
  const total = get('MemTotal');
  const available = get('MemAvailable');
  const swapTotal = get('SwapTotal');
  const swapFree = get('SwapFree');
  return {
    total,
    used: total === null || available === null ? null : Math.max(0, total - available),
    anon: get('AnonPages'),
    file: get('Cached'),
    shmem: get('Shmem'),
    inactiveFile: get('Inactive(file)'),
    swap: swapTotal === null || swapFree === null ? null : Math.max(0, swapTotal - swapFree),
  };
}

/** `/proc/vmstat` host-wide counters the memory block uses at the host root. */
export function parseVmstat(text: string): { majorFaults: number | null; oomKill: number | null } {
  const m = parseKeyedFile(text);
  return { majorFaults: keyedCount(m, 'pgmajfault', 'vmstat'), oomKill: keyedCount(m, 'oom_kill', 'vmstat') };
}
