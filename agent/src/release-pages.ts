import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';

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
 */

const MADV_DONTNEED = 4;

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

export interface ReleaseResult {
  mappings: number;
  /** Resident kB of those mappings before the release (some fault back in at once). */
  releasedKb: number;
  failed: number;
}

interface Libc {
  madvise: (addr: bigint, length: bigint, advice: number) => number;
  mallocTrim: ((pad: number) => number) | null;
}

async function openLibc(): Promise<Libc> {
  const koffi = await import('koffi');
  const libc = koffi.load('libc.so.6');
  // uintptr_t rather than void *: the address is a number we computed, and the register is the same.
  const madvise = libc.func('int madvise(uintptr_t addr, size_t length, int advice)') as Libc['madvise'];
  let mallocTrim: Libc['mallocTrim'] = null;
  try {
    mallocTrim = libc.func('int malloc_trim(size_t pad)') as (pad: number) => number;
  } catch {
    // Not glibc: nothing to trim.
  }
  return { madvise, mallocTrim };
}

/**
 * Drops this process's clean file-backed pages (and gives glibc's free heap
 * back with malloc_trim). Linux only; any failure is logged and ignored: the
 * agent works the same, only with the larger RSS. `log` is null in the NVML
 * worker, whose stdout is its protocol.
 */
export async function releaseStartupPages(log: Pick<Logger, 'debug' | 'info'> | null): Promise<ReleaseResult | null> {
  if (process.platform !== 'linux') return null;
  let libc: Libc;
  try {
    libc = await openLibc();
  } catch (err) {
    log?.debug({ err }, 'start-up pages kept: libc could not be opened');
    return null;
  }
  const targets = droppable(parseSmaps(readFileSync('/proc/self/smaps', 'utf8')));
  const result: ReleaseResult = { mappings: targets.length, releasedKb: 0, failed: 0 };
  for (const m of targets) {
    if (libc.madvise(m.start, m.end - m.start, MADV_DONTNEED) === 0) result.releasedKb += m.rssKb;
    else result.failed++;
  }
  libc.mallocTrim?.(0);
  log?.info({ mappings: result.mappings, released_kb: result.releasedKb, failed: result.failed }, 'start-up pages released');
  return result;
}
