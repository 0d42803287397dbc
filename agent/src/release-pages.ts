import { closeSync, openSync, readFileSync } from 'node:fs';
import { sep } from 'node:path';
import type { Logger } from 'pino';
import { releaseHome } from './release/home.js';
import { importKoffi } from './release/koffi-native.js';

/**
 * Releasing the file-backed pages the agent touched only while starting
 * (BENCHMARKS.md, issue #7). Starting maps in pages of the binary that are
 * never read again: the V8 start-up snapshot in the SEA note (~9.4 MB, read
 * once when V8 deserialises it), the snapshot deserialiser and bootstrap code
 * in .text, Node's built-in tables in .rodata, libc/libstdc++ start-up code.
 * They stay in RSS for the life of the process. `madvise(MADV_DONTNEED)` on a
 * clean private file mapping only drops this process's page-table entries:
 * the pages stay in the page cache and fault back in from it (a minor fault)
 * if they are ever touched again, so the contents cannot change. It is only
 * applied where that holds: mappings of a file that are not writable, not
 * shared and hold no anonymous (copy-on-write) pages, which excludes .data,
 * .bss and the RELRO pages the loader wrote before making them read-only.
 *
 * The page cache is a second, larger cost (docs/measurement.md, "What the
 * agent costs its container"): a page fault on a file mapping reads the
 * 128 KiB around the page ("read-around"), so starting the 121 MiB binary,
 * whose start-up touches pages all over .text, .rodata and the snapshot,
 * brings ~100 MiB of it into the page cache, all charged to the memory
 * cgroup of the container that read it first. So the same release also marks
 * the release's own mappings `MADV_RANDOM` (a later fault reads the one page
 * it needs, no read-around) and asks the kernel to drop the release's files
 * from the page cache (`posix_fadvise(POSIX_FADV_DONTNEED)`): pages that no
 * process maps any more are freed and uncharged, pages still mapped (by this
 * agent, another agent or the NVML worker sharing the release) are kept.
 * Measured (BENCHMARKS.md, issue #17): the binary's cached pages fall from
 * ~100 MiB to ~40 MiB. What stays is mostly .text around the code that runs
 * while the drop is made (the cache holds it in large folios, kept whole
 * while any page of them is mapped); it is clean and on the inactive list,
 * so it is the first memory the kernel reclaims.
 */

const MADV_RANDOM = 1;
const MADV_DONTNEED = 4;
const POSIX_FADV_DONTNEED = 4;

export interface Mapping {
  start: bigint;
  end: bigint;
  perms: string;
  path: string;
  rssKb: number;
  anonymousKb: number;
}

const HEADER = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) \S+ \S+ \S+\s*(.*)$/;

/** The mappings of a `/proc/PID/smaps` text, with their Rss and Anonymous sizes. */
export function parseSmaps(text: string): Mapping[] {
  const out: Mapping[] = [];
  let current: Mapping | undefined;
  for (const line of text.split('\n')) {
    const h = HEADER.exec(line);
    if (h !== null) {
      current = { start: BigInt(`0x${h[1] ?? '0'}`), end: BigInt(`0x${h[2] ?? '0'}`), perms: h[3] ?? '', path: h[4] ?? '', rssKb: 0, anonymousKb: 0 };
      out.push(current);
      continue;
    }
    if (current === undefined) continue;
    if (line.startsWith('Rss:')) current.rssKb = Number(/(\d+)/.exec(line)?.[1] ?? 0);
    else if (line.startsWith('Anonymous:')) current.anonymousKb = Number(/(\d+)/.exec(line)?.[1] ?? 0);
  }
  return out;
}

/**
 * Mappings whose resident pages can be dropped without losing anything: a
 * file's pages mapped private and read-only (`r--p`, `r-xp`), with no
 * anonymous page among them (a written private page is the only copy).
 */
export function droppable(mappings: readonly Mapping[]): Mapping[] {
  return mappings.filter(
    (m) => m.path.startsWith('/') && !m.path.endsWith(' (deleted)') && m.perms[1] === '-' && m.perms[3] === 'p' && m.anonymousKb === 0 && m.rssKb > 0,
  );
}

/**
 * The files of `home` (the release directory) among the mappings, once each:
 * the files whose page cache the agent may drop. Files outside the release
 * (the image's libc, locale archives) are other programs' to keep.
 */
export function releaseFiles(mappings: readonly Mapping[], home: string | null): string[] {
  if (home === null) return [];
  const prefix = home.endsWith(sep) ? home : home + sep;
  return [...new Set(mappings.filter((m) => m.path.startsWith(prefix)).map((m) => m.path))];
}

export interface ReleaseResult {
  mappings: number;
  /** Resident kB of those mappings before the release (some fault back in at once). */
  releasedKb: number;
  /** Release files whose unmapped pages were dropped from the page cache. */
  filesUncached: number;
  failed: number;
}

interface Libc {
  madvise: (addr: bigint, length: bigint, advice: number) => number;
  fadvise: (fd: number, offset: bigint, length: bigint, advice: number) => number;
  mallocTrim: ((pad: number) => number) | null;
}

/**
 * `posix_fadvise(POSIX_FADV_DONTNEED)` on a whole file: the kernel frees its
 * clean pages that no process maps (returns false when the file cannot be
 * opened or the call fails).
 */
export function dropFromPageCache(libc: Pick<Libc, 'fadvise'>, path: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return false;
  }
  try {
    return libc.fadvise(fd, 0n, 0n, POSIX_FADV_DONTNEED) === 0;
  } finally {
    closeSync(fd);
  }
}

export async function openLibc(): Promise<Libc> {
  const koffi = await importKoffi();
  const libc = koffi.load('libc.so.6');
  // uintptr_t rather than void *: the address is a number we computed, and the register is the same.
  const madvise = libc.func('int madvise(uintptr_t addr, size_t length, int advice)') as Libc['madvise'];
  // off_t is 64-bit on every 64-bit glibc target; posix_fadvise returns the error number instead of setting errno.
  const fadvise = libc.func('int posix_fadvise(int fd, int64_t offset, int64_t len, int advice)') as Libc['fadvise'];
  let mallocTrim: Libc['mallocTrim'] = null;
  try {
    mallocTrim = libc.func('int malloc_trim(size_t pad)') as (pad: number) => number;
  } catch {
    // Not glibc: nothing to trim.
  }
  return { madvise, fadvise, mallocTrim };
}

/**
 * Drops the release's files from the page cache again, without touching this
 * process's mappings: run a few ticks after {@link releaseStartupPages}, it
 * frees what came back into the cache in between and is no longer mapped
 * (null where libc cannot be opened).
 */
export async function dropReleaseCache(home: string | null = releaseHome()): Promise<number | null> {
  if (process.platform !== 'linux' || home === null) return null;
  let libc: Libc;
  try {
    libc = await openLibc();
  } catch {
    return null;
  }
  let dropped = 0;
  for (const f of releaseFiles(parseSmaps(readFileSync('/proc/self/smaps', 'utf8')), home)) if (dropFromPageCache(libc, f)) dropped++;
  return dropped;
}

/**
 * Drops this process's clean file-backed pages (and gives glibc's free heap
 * back with malloc_trim), then the release's unmapped pages from the page
 * cache. Linux only; any failure is logged and ignored: the agent works the
 * same, only with the larger RSS and charge. `log` null logs nothing.
 * `home` is the release directory
 * whose files may leave the page cache (default: the one this process runs
 * from; null outside a release).
 */
export async function releaseStartupPages(log: Pick<Logger, 'warn' | 'info'> | null, home: string | null = releaseHome()): Promise<ReleaseResult | null> {
  if (process.platform !== 'linux') return null;
  let libc: Libc;
  try {
    libc = await openLibc();
  } catch (err) {
    // Seen by users: a release whose koffi module is refused (owner, mode, symlink) says why here.
    log?.warn({ err }, 'start-up pages kept: libc could not be opened through koffi (the agent works the same, with a larger RSS and page-cache charge)');
    return null;
  }
  const targets = droppable(parseSmaps(readFileSync('/proc/self/smaps', 'utf8')));
  const files = new Set(releaseFiles(targets, home));
  const result: ReleaseResult = { mappings: targets.length, releasedKb: 0, filesUncached: 0, failed: 0 };
  for (const m of targets) {
    const length = m.end - m.start;
    // Random access first, so what faults back in after the drop comes one page at a time.
    if (files.has(m.path) && libc.madvise(m.start, length, MADV_RANDOM) !== 0) result.failed++;
    if (libc.madvise(m.start, length, MADV_DONTNEED) === 0) result.releasedKb += m.rssKb;
    else result.failed++;
  }
  for (const f of files) {
    if (dropFromPageCache(libc, f)) result.filesUncached++;
    else result.failed++;
  }
  libc.mallocTrim?.(0);
  log?.info({ mappings: result.mappings, released_kb: result.releasedKb, files_uncached: result.filesUncached, failed: result.failed }, 'start-up pages released');
  return result;
}
