import { ParseError, parseBigIntToken, toSafeNumber } from '../cgroup/values.js';

/**
 * Clock ticks per second of the times in `/proc/<pid>/stat` (`USER_HZ`,
 * what `sysconf(_SC_CLK_TCK)` returns). The kernel fixes it at 100 on every
 * architecture Node runs on (it is independent of the kernel's `CONFIG_HZ`).
 */
export const USER_HZ = 100;

/** The fields of `/proc/<pid>/stat` the agent uses. */
export interface PidStat {
  pid: number;
  /** Executable name as the kernel keeps it (≤ 15 bytes, may contain spaces and parentheses). */
  comm: string;
  /** One letter: R running, S sleeping, D uninterruptible, Z zombie, T stopped, I idle, ... */
  state: string;
  /** User CPU time in clock ticks (field 14). */
  utime: number;
  /** System CPU time in clock ticks (field 15). */
  stime: number;
  /** Field 20. */
  numThreads: number;
  /** Start time in clock ticks after boot (field 22). */
  starttime: number;
  /** Resident set size in pages (field 24). */
  rssPages: number;
}

/**
 * Splits a stat line into the part inside the parentheses (comm) and the
 * fields after it. comm is whatever the process set with `prctl(PR_SET_NAME)`
 * and may itself contain `) ` — `(my (weird) proc)` — so the comm ends at the
 * LAST `)` of the line; nothing after it can contain one.
 */
function splitStat(text: string, what: string): { pid: string; comm: string; rest: string } {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) throw new ParseError(`${what}: no "(comm)" in ${JSON.stringify(text.slice(0, 60))}`);
  return { pid: text.slice(0, open).trim(), comm: text.slice(open + 1, close), rest: text.slice(close + 1).trim() };
}

/** Field number n (1-based, as in proc(5)) from the fields after comm, which start at field 3. */
function field(rest: string[], n: number, what: string): string {
  const v = rest[n - 3];
  if (v === undefined) throw new ParseError(`${what}: only ${rest.length + 2} fields, field ${n} missing`);
  return v;
}

/** Up to 15 digits: always a safe integer, so Number() is exact and BigInt is not needed. */
const SHORT_UNSIGNED = /^\d{1,15}$/;

function unsigned(rest: string[], n: number, what: string): number {
  const token = field(rest, n, what);
  // The common case, read for every process on every tick: no BigInt.
  if (SHORT_UNSIGNED.test(token)) return Number(token);
  const w = `${what} field ${n}`;
  const v = parseBigIntToken(token, w);
  if (v < 0n) throw new ParseError(`${w}: negative value ${v}`);
  return toSafeNumber(v, w);
}

/** `/proc/<pid>/stat` → the fields the agent uses. `what` names the file in errors. */
export function parsePidStat(text: string, what = 'stat'): PidStat {
  const { pid, comm, rest: restText } = splitStat(text, what);
  // Fields 3 to 24 are all it reads: the 28 after them are not split off.
  const rest = restText.split(' ', 22);
  const state = field(rest, 3, what);
  if (!/^[A-Za-z]$/.test(state)) throw new ParseError(`${what}: bad state ${JSON.stringify(state)}`);
  // rss is a signed long in the kernel; a transient negative value is treated as 0.
  const rssToken = field(rest, 24, what);
  let rssPages: number;
  if (SHORT_UNSIGNED.test(rssToken)) rssPages = Number(rssToken);
  else {
    const rss = parseBigIntToken(rssToken, `${what} field 24`);
    rssPages = rss < 0n ? 0 : toSafeNumber(rss, `${what} field 24`);
  }
  return {
    pid: SHORT_UNSIGNED.test(pid) ? Number(pid) : toSafeNumber(parseBigIntToken(pid, `${what} pid`), `${what} pid`),
    comm,
    state,
    utime: unsigned(rest, 14, what),
    stime: unsigned(rest, 15, what),
    numThreads: unsigned(rest, 20, what),
    starttime: unsigned(rest, 22, what),
    rssPages,
  };
}

/** Just the state letter (field 3) of a stat line: what the per-thread load count needs. */
export function parseStatState(text: string, what = 'stat'): string {
  const close = text.lastIndexOf(')');
  const state = close < 0 ? '' : text.charAt(close + 2);
  if (!/^[A-Za-z]$/.test(state) || text.charAt(close + 1) !== ' ') {
    throw new ParseError(`${what}: no state after "(comm)" in ${JSON.stringify(text.slice(0, 60))}`);
  }
  return state;
}

export interface LoadAvg {
  load1: number;
  load5: number;
  load15: number;
  /** Runnable tasks host-wide (the "2" of "2/345"). */
  running: number;
  /** Tasks host-wide (the "345"). */
  total: number;
}

/** `/proc/loadavg`: `0.52 0.58 0.59 2/345 12345`. */
export function parseLoadavg(text: string): LoadAvg {
  const m = /^\s*(\d+(?:\.\d+)?)\s+(\d+(?:\.\d+)?)\s+(\d+(?:\.\d+)?)\s+(\d+)\/(\d+)(?:\s|$)/.exec(text);
  if (m === null) throw new ParseError(`/proc/loadavg: unexpected format ${JSON.stringify(text.slice(0, 60))}`);
  return {
    load1: Number(m[1]),
    load5: Number(m[2]),
    load15: Number(m[3]),
    running: Number(m[4]),
    total: Number(m[5]),
  };
}

export interface Uptime {
  /** Seconds since boot (CLOCK_BOOTTIME, includes suspend). */
  uptime: number;
  /** Idle seconds summed over CPUs. */
  idle: number;
}

/** `/proc/uptime`: `12345.67 24000.00`. */
export function parseUptime(text: string): Uptime {
  const m = /^\s*(\d+(?:\.\d+)?)\s+(\d+(?:\.\d+)?)\s*$/.exec(text);
  if (m === null) throw new ParseError(`/proc/uptime: unexpected format ${JSON.stringify(text.slice(0, 60))}`);
  return { uptime: Number(m[1]), idle: Number(m[2]) };
}

/** `AT_PAGESZ` from `<elf.h>`: the auxv entry carrying the system page size. */
const AT_PAGESZ = 6n;
const AT_NULL = 0n;

/**
 * The page size from `/proc/self/auxv` (the ELF auxiliary vector: pairs of
 * native-endian unsigned words, ended by AT_NULL). This is where libc's
 * `getpagesize()` gets it; Node exposes no call for it, and arm64 and ppc64
 * kernels often use 16 or 64 KiB pages, so 4096 cannot be assumed.
 * Returns null when the vector has no AT_PAGESZ entry.
 */
export function parseAuxvPageSize(buf: Uint8Array, wordBytes: 4 | 8, littleEndian: boolean): number | null {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const word = (off: number): bigint =>
    wordBytes === 8 ? view.getBigUint64(off, littleEndian) : BigInt(view.getUint32(off, littleEndian));
  for (let off = 0; off + 2 * wordBytes <= buf.byteLength; off += 2 * wordBytes) {
    const type = word(off);
    if (type === AT_NULL) break;
    if (type === AT_PAGESZ) {
      const size = word(off + wordBytes);
      return size > 0n && size <= 1n << 30n ? Number(size) : null;
    }
  }
  return null;
}
