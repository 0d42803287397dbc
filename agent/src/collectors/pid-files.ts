import { closeSync, constants, fstatSync, openSync } from 'node:fs';
import { FileReadError, readDescriptor, readTextFresh } from '../fsread/read-text.js';
import type { NativePidStats } from '../procfs/native-pid-stats.js';
import { PS, PS_COMM_SLOT, PS_FIELDS } from '../procfs/pid-stats-layout.js';
import { countFds, type FdCountMethod } from './processes-fds.js';

/**
 * Processes whose two per-tick files are read through kept descriptors
 * (`stat` by pread, the fd directory by fstat); past this the rest are opened
 * and closed each tick. Two descriptors each, so at most 512 of the agent's
 * own, far below any usual RLIMIT_NOFILE.
 */
export const MAX_KEPT_PROCESSES = 256;

/** The per-tick files of one process, with the descriptors kept for them (null: not kept). */
export interface PidFiles {
  statPath: string;
  fdPath: string;
  statFd: number | null;
  fdDirFd: number | null;
}

/**
 * Reads `/proc/<pid>/stat` and counts `/proc/<pid>/fd` each tick. Opening a
 * procfs file walks its path every time (about half of an open/read/close,
 * measured: ~11 µs against ~5 µs for a pread of a kept descriptor in the
 * release's runtime), so on real procfs the two files of up to
 * {@link MAX_KEPT_PROCESSES} processes stay open while the process lives.
 * A kept descriptor belongs to the task it was opened for: once that process
 * exits every read of it fails (ESRCH/ENOENT) even if the pid is handed out
 * again, so a stale descriptor is closed and the path opened anew once, and a
 * recycled pid is never read through its predecessor's files. Fixture trees
 * (regular files a test may replace) are never kept.
 */
export class PidFileReader {
  /** Descriptors this reader holds now. */
  held = 0;
  /** The last {@link readKept}'s row of procs[i] in {@link rows}, or -1 (not kept: read by path). */
  rowOf = new Int32Array(0);
  /** The last {@link readKept}'s results, one row of PS columns per kept process. */
  rows = new Float64Array(0);
  /** comm bytes of row r at r × PS_COMM_SLOT. */
  comms = new Uint8Array(0);
  private statFds = new Int32Array(0);
  private dirFds = new Int32Array(0);

  /**
   * `native`: the per-process reader of agent/native/pid-stats.c, which reads
   * the kept descriptors of a whole container in one call ({@link readKept});
   * null reads each process in JavaScript.
   */
  constructor(
    private readonly keep: boolean,
    private readonly fdMethod: FdCountMethod,
    private readonly maxKept: number = MAX_KEPT_PROCESSES,
    private native: NativePidStats | null = null,
  ) {}

  /** Reads through `native` from the next tick on (the sidecar loads it after its first sample, off the start-up path). */
  useNative(native: NativePidStats | null): void {
    this.native = native;
  }

  /**
   * Reads the stat line and fd count of every process of `procs` whose files
   * are kept, in one native call: procs[i]'s row is {@link rowOf}[i]. False
   * when there is no native reader or nothing is kept (fixture trees):
   * nothing was read. A process with no row, or a row whose status is not 0
   * (gone, or a line not in the kernel's layout), is for {@link readStat} to
   * read again, which reports why. The rows are bounded by the kept
   * processes (maxKept), however many the container has.
   */
  readKept(procs: readonly PidFiles[]): boolean {
    if (this.native === null || !this.keep) return false;
    const n = procs.length;
    if (this.rowOf.length < n) this.rowOf = new Int32Array(Math.max(n, this.rowOf.length * 2, 16));
    let kept = 0;
    for (const f of procs) if (f.statFd !== null) kept++;
    if (this.statFds.length < kept) {
      const cap = Math.min(Math.max(kept, this.statFds.length * 2, 16), Math.max(kept, this.maxKept));
      this.statFds = new Int32Array(cap);
      this.dirFds = new Int32Array(cap);
      this.rows = new Float64Array(cap * PS_FIELDS);
      this.comms = new Uint8Array(cap * PS_COMM_SLOT);
    }
    let r = 0;
    for (let i = 0; i < n; i++) {
      const f = procs[i];
      if (f === undefined || f.statFd === null) {
        this.rowOf[i] = -1;
        continue;
      }
      this.statFds[r] = f.statFd;
      this.dirFds[r] = f.fdDirFd ?? -1;
      this.rowOf[i] = r++;
    }
    this.native.read(r, this.statFds, this.dirFds, this.rows, this.comms);
    return true;
  }

  /** Row r's comm from the last {@link readKept}, decoded as the whole line would be (UTF-8; comm is between ASCII bytes). */
  commOf(r: number): string {
    const start = r * PS_COMM_SLOT;
    return Buffer.from(this.comms.buffer, this.comms.byteOffset + start, this.rows[r * PS_FIELDS + PS.COMM_LEN] ?? 0).toString('utf8');
  }

  /** The stat line. Throws {@link FileReadError} (ENOENT/ESRCH when the process is gone). */
  readStat(f: PidFiles): string {
    if (f.statFd !== null) {
      try {
        return readDescriptor(f.statFd, f.statPath);
      } catch {
        // The process it was opened for has exited: the pid may be someone else's now.
        this.release(f);
      }
    }
    if (!this.keep || this.held + 2 > this.maxKept * 2) return readTextFresh(f.statPath);
    let fd: number;
    try {
      fd = openSync(f.statPath, 'r');
    } catch (err) {
      throw new FileReadError(f.statPath, codeOf(err), err);
    }
    f.statFd = fd;
    this.held += 1;
    if (this.fdMethod === 'stat') {
      try {
        f.fdDirFd = openSync(f.fdPath, constants.O_RDONLY | constants.O_DIRECTORY);
        this.held += 1;
      } catch {
        // Not readable (another user's fd table): counted per tick by path, which reports why.
      }
    }
    return readDescriptor(fd, f.statPath);
  }

  /** Open fds of the process; throws as `stat`/`readdir` would. */
  countFds(f: PidFiles): number {
    if (f.fdDirFd !== null) return fstatSync(f.fdDirFd).size;
    return countFds(f.fdPath, this.fdMethod);
  }

  /** Closes what is kept for a process (gone, or its files went stale). */
  release(f: PidFiles): void {
    for (const fd of [f.statFd, f.fdDirFd]) {
      if (fd === null) continue;
      this.held -= 1;
      try {
        closeSync(fd);
      } catch {
        // Already invalid: nothing to release.
      }
    }
    f.statFd = null;
    f.fdDirFd = null;
  }
}

function codeOf(err: unknown): string {
  return typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string' ? err.code : 'EIO';
}
