import { readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import { droppable, openLibc, parseSmaps } from '../../agent/src/release-pages.js';

/**
 * Giving back the aggregator's resident file pages that it does not use
 * (BENCHMARKS.md, issue #15: "File pages touched at start-up").
 *
 * Starting Node maps in ~45 MB of its own binary and libraries: the start-up
 * snapshot and its deserialiser, bootstrap code, built-in tables, compile
 * paths of the bundle. They stay resident for the life of the process, so
 * they count in its RSS (and its container's), whether or not they are read
 * again. At 10,000 containers that was a fifth of the aggregator's RSS.
 *
 * `madvise(MADV_DONTNEED)` on a clean, private, read-only file mapping only
 * removes this process's page-table entries: the page stays in the page
 * cache, and touching it again maps it back in with the same contents (a
 * minor fault). The mappings are chosen as the agent chooses them
 * (`agent/src/release-pages.ts`): a file's, not writable, not shared, with
 * no anonymous (copy-on-write) page, which leaves out .data, .bss and the
 * RELRO pages. What the aggregator keeps running faults back within seconds
 * (~11 MB); the rest stays out.
 *
 * Unlike the agent, it does not drop files from the page cache (Node's binary
 * in the image is shared with anything else run from it) and does not call
 * malloc_trim (it gave back ~3 MB, for 30 ms of this thread under load, and
 * the heap grows back to the same size).
 */

const MADV_DONTNEED = 4;

export interface FilePageRelease {
  /** Mappings advised. */
  mappings: number;
  /** Resident kB of those mappings before the call. */
  releasedKb: number;
  /** madvise calls that failed (the pages of those mappings stay resident). */
  failed: number;
  /** This thread's time spent in the madvise calls, ms. */
  ms: number;
}

/** The one libc call this needs; `openLibc` from the agent's module by default. */
export type OpenMadvise = () => Promise<{ madvise: (addr: bigint, length: bigint, advice: number) => number }>;

/**
 * Drops this process's clean file-backed pages (Linux only; null elsewhere,
 * or when libc cannot be opened: then nothing was done and the process runs
 * as before). `/proc/self/smaps` is read off this thread; only the madvise
 * calls (tens, microseconds each) run on it.
 */
export async function releaseFilePages(open: OpenMadvise = openLibc): Promise<FilePageRelease | null> {
  if (process.platform !== 'linux') return null;
  let libc: Awaited<ReturnType<OpenMadvise>>;
  try {
    libc = await open();
  } catch {
    return null;
  }
  const targets = droppable(parseSmaps(await readFile('/proc/self/smaps', 'utf8')));
  const result: FilePageRelease = { mappings: targets.length, releasedKb: 0, failed: 0, ms: 0 };
  const t0 = performance.now();
  for (const m of targets) {
    if (libc.madvise(m.start, m.end - m.start, MADV_DONTNEED) === 0) result.releasedKb += m.rssKb;
    else result.failed++;
  }
  result.ms = performance.now() - t0;
  return result;
}

export interface ScheduledRelease {
  stop(): void;
  /** Settles after the release ran (with its result), or when stopped first (null). */
  readonly done: Promise<FilePageRelease | null>;
}

/**
 * Runs `release` once, `delayMs` after `ready()` first reads true (checked
 * every `checkMs`): by then the first full sync and the steady-state paths
 * have run, so what is released is what start-up alone touched. Logs the
 * result at info, a failure to open libc at debug.
 */
export function releaseFilePagesWhenReady(
  ready: () => boolean,
  log: Pick<Logger, 'debug' | 'info' | 'warn'>,
  opts: { delayMs?: number; checkMs?: number; release?: () => Promise<FilePageRelease | null> } = {},
): ScheduledRelease {
  const { delayMs = 10_000, checkMs = 1000, release = () => releaseFilePages() } = opts;
  let timer: NodeJS.Timeout | null = null;
  let settle: (r: FilePageRelease | null) => void = () => undefined;
  const done = new Promise<FilePageRelease | null>((resolve) => {
    settle = resolve;
  });
  const run = (): void => {
    timer = null;
    release().then(
      (r) => {
        if (r === null) log.debug('start-up file pages kept: libc could not be opened (not Linux/glibc, or koffi missing)');
        else log.info({ mappings: r.mappings, released_kb: r.releasedKb, failed: r.failed, ms: Math.round(r.ms * 10) / 10 }, 'start-up file pages released');
        settle(r);
      },
      (err: unknown) => {
        log.warn({ err: err instanceof Error ? err.message : String(err) }, 'start-up file pages kept: the release failed; the aggregator runs as before with a larger RSS');
        settle(null);
      },
    );
  };
  const check = (): void => {
    timer = ready() ? setTimeout(run, delayMs) : setTimeout(check, checkMs);
  };
  check();
  return {
    stop() {
      if (timer !== null) clearTimeout(timer);
      timer = null;
      settle(null);
    },
    done,
  };
}
