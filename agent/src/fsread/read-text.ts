import { closeSync, openSync, readSync } from 'node:fs';

/**
 * Synchronous reads of small kernel files (procfs, sysfs, cgroupfs).
 *
 * Measured on the target machine: `fs.readFileSync` costs ~28 µs CPU per proc
 * file and `fs.promises.readFile` ~220 µs, while open/pread/close into one
 * reused buffer costs ~24 µs. Kernel pseudo-files are generated in memory and
 * never block on a disk, so sync reads are safe on the event loop and keep the
 * agent's cost inside the container it measures small.
 */

const CHUNK = 64 * 1024;
let buffer = Buffer.allocUnsafe(CHUNK);

/** A failed read with the path and the errno code kept for callers and notes. */
export class FileReadError extends Error {
  readonly path: string;
  readonly code: string;
  constructor(path: string, code: string, cause: unknown) {
    super(`reading ${path}: ${code}`, { cause });
    this.name = 'FileReadError';
    this.path = path;
    this.code = code;
  }

  /** The file does not exist: the kernel or controller does not provide it here. */
  get missing(): boolean {
    return this.code === 'ENOENT' || this.code === 'ENOTDIR';
  }

  /** Reading is refused by the kernel: PSI disabled (`psi=0`) or an unsupported feature. */
  get unsupported(): boolean {
    return this.code === 'EOPNOTSUPP' || this.code === 'ENOTSUP' || this.code === 'EINVAL';
  }
}

function errnoCode(err: unknown): string {
  if (typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string') {
    return err.code;
  }
  return 'EIO';
}

/**
 * Open descriptors kept between ticks. Opening a cgroupfs/procfs file costs
 * more than reading it (path walk through kernfs): profiling a sample showed
 * open+close at ~25 % of the agent's CPU. Kernel pseudo-files regenerate
 * their content on every read from offset 0, so a kept fd read with pread(0)
 * returns fresh values. A read that fails on a kept fd (cgroup removed:
 * ENODEV; process gone: ESRCH) evicts it and the file is opened anew once.
 * The cache is bounded (least recently used evicted) so PID churn cannot grow
 * it; the kept fds are the agent's own and appear in the container's count.
 */
const MAX_KEPT_FDS = 64;
let maxKept = MAX_KEPT_FDS;
const kept = new Map<string, number>();

/**
 * Raises (or lowers) the bound on kept descriptors. The host agent reads the
 * files of every container on the host each tick: with the sidecar's 64 the
 * cache would evict before every read and each would cost an open and a
 * close on top.
 */
export function setKeptFileLimit(n: number): void {
  maxKept = Math.max(1, Math.floor(n));
  while (kept.size > maxKept) {
    const oldest = kept.keys().next();
    if (oldest.done === true) break;
    dropKept(oldest.value);
  }
}

function openKept(path: string): number {
  const fd = kept.get(path);
  if (fd !== undefined) {
    // Re-insert to mark as most recently used.
    kept.delete(path);
    kept.set(path, fd);
    return fd;
  }
  let opened: number;
  try {
    opened = openSync(path, 'r');
  } catch (err) {
    throw new FileReadError(path, errnoCode(err), err);
  }
  kept.set(path, opened);
  if (kept.size > maxKept) {
    const oldest = kept.keys().next();
    if (oldest.done !== true) dropKept(oldest.value);
  }
  return opened;
}

function dropKept(path: string): void {
  const fd = kept.get(path);
  if (fd === undefined) return;
  kept.delete(path);
  try {
    closeSync(fd);
  } catch {
    // Already invalid: nothing to release.
  }
}

/** Closes the kept descriptors of files under `dir` (a container that is gone: its cgroup, its processes). */
export function closeKeptUnder(dir: string): void {
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  for (const path of [...kept.keys()]) if (path.startsWith(prefix)) dropKept(path);
}

/** Closes every kept descriptor (tests, shutdown). */
export function closeKeptFiles(): void {
  for (const path of [...kept.keys()]) dropKept(path);
}

function readFd(fd: number): string {
  let length = 0;
  for (;;) {
    if (length === buffer.length) {
      const bigger = Buffer.allocUnsafe(buffer.length * 2);
      buffer.copy(bigger, 0, 0, length);
      buffer = bigger;
    }
    const want = buffer.length - length;
    const n = readSync(fd, buffer, length, want, length);
    length += n;
    // seq_file and sysfs fill the whole user buffer unless they reach the
    // end, so a short read is EOF: skip the extra read() that returns 0.
    if (n < want) break;
  }
  return buffer.toString('utf8', 0, length);
}

/**
 * Only procfs and sysfs (cgroupfs is mounted under /sys) regenerate content
 * on each read and fail a stale fd loudly; a regular file replaced on disk
 * would keep serving the old inode. Fixture trees and other regular files are
 * therefore opened per read.
 */
function keepable(path: string): boolean {
  return path.startsWith('/proc/') || path.startsWith('/sys/');
}

function readOnce(path: string): string {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    throw new FileReadError(path, errnoCode(err), err);
  }
  try {
    return readFd(fd);
  } catch (err) {
    throw new FileReadError(path, errnoCode(err), err);
  } finally {
    closeSync(fd);
  }
}

/**
 * Reads a whole file with open/read/close and keeps nothing: for per-process
 * files (`/proc/<pid>/stat`), whose number grows with the container. Kept
 * descriptors for them would push the cgroup's own files out of the bounded
 * cache in a container of more than a few dozen processes, and every one of
 * them would count in the container's `file_descriptors`. Throws
 * {@link FileReadError}.
 */
export function readTextFresh(path: string): string {
  return readOnce(path);
}

/**
 * Reads a whole kernel file through a descriptor its caller keeps (pread from
 * offset 0: procfs regenerates the content). Throws {@link FileReadError}
 * naming `path`.
 */
export function readDescriptor(fd: number, path: string): string {
  try {
    return readFd(fd);
  } catch (err) {
    throw new FileReadError(path, errnoCode(err), err);
  }
}

/** Reads a whole file as UTF-8 (kernel files through a kept descriptor). Throws {@link FileReadError}. */
export function readText(path: string): string {
  if (!keepable(path)) return readOnce(path);
  const wasKept = kept.has(path);
  const fd = openKept(path);
  try {
    return readFd(fd);
  } catch (err) {
    dropKept(path);
    if (!wasKept) throw new FileReadError(path, errnoCode(err), err);
  }
  // The kept fd went stale (cgroup re-created, pid reused): one fresh open.
  const fresh = openKept(path);
  try {
    return readFd(fresh);
  } catch (err) {
    dropKept(path);
    throw new FileReadError(path, errnoCode(err), err);
  }
}

/** Like {@link readText} but returns `null` when the file does not exist. */
export function readTextIfExists(path: string): string | null {
  try {
    return readText(path);
  } catch (err) {
    if (err instanceof FileReadError && err.missing) return null;
    throw err;
  }
}
