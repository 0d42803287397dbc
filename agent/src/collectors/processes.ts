import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { endianness } from 'node:os';
import { join } from '../fsread/join.js';
import type { LoadAverage, ProcessesBlock, TopProcess } from '../../../shared/src/payload.js';
import { FileReadError, readTextFresh } from '../fsread/read-text.js';
import { parseAuxvPageSize, parsePidStat, parseStatState, USER_HZ, type PidStat } from '../procfs/parse-pid-stat.js';
import { CounterRate } from '../rate.js';
import { fdCountMethod, isProcfs, type FdCountMethod } from './processes-fds.js';
import type { NativePidStats } from '../procfs/native-pid-stats.js';
import { PS, PS_FIELDS } from '../procfs/pid-stats-layout.js';
import { MAX_KEPT_PROCESSES, PidFileReader, type PidFiles } from './pid-files.js';
import type { AgentEnv, Collector, CollectorReport, Tick } from './types.js';

export { countFds, fdCountMethod, kernelAtLeast, type FdCountMethod } from './processes-fds.js';

/** Processes listed in `top`. */
export const TOP_N = 5;

/**
 * At most this many per-thread stat files are read per tick for the load
 * count. Each read costs ~20 µs of CPU (measured), so a container with
 * thousands of threads would otherwise cost tens of milliseconds per tick;
 * past the cap each process's main-thread state
 * (from its own stat line, already read) stands for the process, so the
 * R/D count is then a lower bound.
 */
export const MAX_TASKS_PER_TICK = 4096;

/** Decay periods of the kernel's 1, 5 and 15 minute load averages, in seconds. */
const LOAD_PERIODS = { load1: 60, load5: 300, load15: 900 } as const;

/**
 * One step of the kernel's load average (`kernel/sched/loadavg.c`):
 * `load = load·e + n·(1 − e)` with `e = exp(−dt/period)`. The kernel runs it
 * every 5 s with fixed-point constants; we use the measured `dt`, so a late
 * tick decays by exactly the time that passed. After `t` seconds of a
 * constant `n` from 0 the result is `n·(1 − exp(−t/period))`.
 */
export function decayLoad(prev: LoadAverage, active: number, dtSeconds: number): LoadAverage {
  const step = (load: number, period: number): number => {
    const e = Math.exp(-dtSeconds / period);
    return load * e + active * (1 - e);
  };
  return {
    load1: step(prev.load1, LOAD_PERIODS.load1),
    load5: step(prev.load5, LOAD_PERIODS.load5),
    load15: step(prev.load15, LOAD_PERIODS.load15),
  };
}

/**
 * Why a per-pid file could not be read. `gone`: the process exited between
 * listing and reading (ENOENT, or ESRCH from a dying task). `denied`: the
 * kernel refuses (EACCES/EPERM — another user's fd table without
 * CAP_SYS_PTRACE, a YAMA ptrace scope, or an LSM). Either is counted, never
 * fatal; anything else is a real failure.
 */
export function classifyPidError(err: unknown): 'gone' | 'denied' | 'other' {
  const code = err instanceof FileReadError ? err.code : typeof err === 'object' && err !== null && 'code' in err ? err.code : undefined;
  if (code === 'ENOENT' || code === 'ESRCH') return 'gone';
  if (code === 'EACCES' || code === 'EPERM') return 'denied';
  return 'other';
}

/**
 * The kernel's page size from the auxiliary vector of this process (the same
 * kernel runs every process we read). Falls back to 4096 only where no
 * `/proc/self/auxv` exists at all, which is not Linux.
 */
export function systemPageSize(): number {
  const wordBytes = ['arm', 'ia32', 'mips', 'mipsel', 'ppc', 's390'].includes(process.arch) ? 4 : 8;
  try {
    return parseAuxvPageSize(readFileSync('/proc/self/auxv'), wordBytes, endianness() === 'LE') ?? 4096;
  } catch {
    return 4096;
  }
}

/** Our own pid as numbered in `procRoot`'s PID namespace, or null (fixture trees, no `self` link). */
function ownPid(procRoot: string): number | null {
  try {
    const pid = Number(readlinkSync(join(procRoot, 'self')));
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

/**
 * What the collector keeps per pid while the process lives: the paths of its
 * files (made once, not joined every tick), its start time (with the pid,
 * its identity: a pid the kernel hands out again has another start time and
 * is a new process, with a new CPU baseline) and that baseline. Its name is
 * not kept: `exec` keeps the pid and start time but changes the name, and
 * the name comes with the stat line read each tick for the CPU times anyway.
 */
interface KnownProcess extends PidFiles {
  taskPath: string;
  starttime: number;
  cpu: CounterRate;
  /** The last tick that listed it; older entries are dropped. */
  seenTick: number;
}

/** One-letter strings by character code, so a native row's state costs no allocation. */
const STATE_LETTERS = new Map<number, string>();
function stateLetter(code: number): string {
  let s = STATE_LETTERS.get(code);
  if (s === undefined) {
    s = String.fromCharCode(code);
    STATE_LETTERS.set(code, s);
  }
  return s;
}

/**
 * Orders `top`: most cores first (no rate yet last), then rss, then pid.
 * Negative when a process with these figures goes before `b`; taking the
 * figures, not an entry, lets most processes be ranked without making one.
 */
function rankBefore(cores: number | null, rss: number, pid: number, b: TopProcess): number {
  return (b.cores ?? -1) - (cores ?? -1) || b.rss_bytes - rss || pid - b.pid;
}

/** Whether a process with these figures belongs in `top` (sorted, at most `n` long). */
function entersTop(top: readonly TopProcess[], n: number, cores: number | null, rss: number, pid: number): boolean {
  const last = top[top.length - 1];
  return top.length < n || last === undefined || rankBefore(cores, rss, pid, last) < 0;
}

/** Puts `p`, which {@link entersTop}, into `top` in order, dropping the last when it is full: n comparisons at most, no sort of every process. */
function insertTop(top: TopProcess[], p: TopProcess, n: number): void {
  if (top.length === n) top.pop();
  let i = top.length;
  while (i > 0) {
    const prev = top[i - 1];
    if (prev === undefined || rankBefore(p.cores, p.rss_bytes, p.pid, prev) >= 0) break;
    i--;
  }
  top.splice(i, 0, p);
}

export interface ProcessesOptions {
  /** Bytes per page for `rss` (tests pin it; default {@link systemPageSize}). */
  pageSize?: number;
  /**
   * Per-thread stat reads per tick (default {@link MAX_TASKS_PER_TICK}, the
   * agent's `LOAD_TASK_READS`); 0 counts every process by its main thread only.
   */
  maxTasksPerTick?: number;
  /** How fds are counted (default: {@link fdCountMethod} for this kernel). */
  fdCount?: FdCountMethod;
  /** Keep per-process descriptors between ticks (default: when procRoot is procfs; pid-files.ts). */
  keepPidFiles?: boolean;
  /** Processes whose files are kept at most (default {@link MAX_KEPT_PROCESSES}). */
  maxKeptProcesses?: number;
  /**
   * A reader shared with other collectors (host mode: one per host, so the
   * cap on kept descriptors holds for the agent, not per container). Its
   * `held` count is then the host agent's, so it is never subtracted from a
   * container's fds unless the agent itself is in that container.
   */
  files?: PidFileReader;
  /** The native per-process reader for this collector's own {@link PidFileReader} (ignored with `files`, which has its own); absent: JavaScript. */
  native?: NativePidStats | null;
}

/** Synchronous (proc files are read with sync reads), which tests rely on. */
export interface ProcessesCollector extends Collector<'processes'> {
  collect(tick: Tick, report: CollectorReport): ProcessesBlock;
}

/**
 * The container's processes (`tick.containerPids()`, from the cgroup
 * subtree): count, threads, open fds summed over every process (the Go agent
 * counted only its own), the top processes by CPU over the last interval,
 * and a container load average from the container's own R/D tasks
 * (`/proc/loadavg` is host-wide).
 */
export function createProcessesCollector(env: AgentEnv, opts: ProcessesOptions = {}): ProcessesCollector {
  const pageSize = opts.pageSize ?? systemPageSize();
  const maxTasks = opts.maxTasksPerTick ?? env.loadTaskReads ?? MAX_TASKS_PER_TICK;
  const self = ownPid(env.procRoot);
  const files =
    opts.files ?? new PidFileReader(opts.keepPidFiles ?? isProcfs(env.procRoot), opts.fdCount ?? fdCountMethod(env.procRoot), opts.maxKeptProcesses ?? MAX_KEPT_PROCESSES, opts.native ?? null);
  const known = new Map<number, KnownProcess>();
  let tickNo = 0;
  const entryOf = (pid: number): KnownProcess => {
    let k = known.get(pid);
    if (k === undefined) {
      const dir = join(env.procRoot, String(pid));
      k = { statPath: join(dir, 'stat'), fdPath: join(dir, 'fd'), statFd: null, fdDirFd: null, taskPath: join(dir, 'task'), starttime: -1, cpu: new CounterRate(env.minRateDeltaNs), seenTick: tickNo };
      known.set(pid, k);
    }
    k.seenTick = tickNo;
    return k;
  };
  // Like the kernel, the average starts from 0 and converges with the 1, 5
  // and 15 minute time constants; it is published from the second sample on,
  // when a measured interval exists.
  let load: LoadAverage = { load1: 0, load5: 0, load15: 0 };
  let loadAtNs: bigint | null = null;

  /** R and D tasks of one process; `budget` is what is left of MAX_TASKS_PER_TICK. */
  function countActive(pid: number, taskPath: string, state: string, numThreads: number, budget: number): { running: number; blocked: number; tasksRead: number } {
    const out = { running: 0, blocked: 0, tasksRead: 0 };
    const add = (state: string): void => {
      if (state === 'R') out.running += 1;
      else if (state === 'D') out.blocked += 1;
    };
    // The agent itself is left out: its reading thread is always R while it
    // looks, and its helper threads run because it samples. Counting the
    // observer would add load the kernel's average never sees (and reading
    // its dozen threads would cost more than the rest of the sample).
    if (pid === self) return out;
    if (numThreads <= 1 || numThreads > budget || budget <= 0) {
      add(state);
      return out;
    }
    let tids: string[];
    try {
      tids = readdirSync(taskPath);
    } catch {
      // Gone since its stat line was read: the main thread's state is the best we have.
      add(state);
      return out;
    }
    for (const tid of tids) {
      if (out.tasksRead >= budget) break;
      out.tasksRead += 1;
      const path = join(taskPath, tid, 'stat');
      try {
        add(parseStatState(readTextFresh(path), path));
      } catch (err) {
        if (classifyPidError(err) === 'gone') continue;
        throw err;
      }
    }
    return out;
  }

  return {
    name: 'processes',
    close(): void {
      for (const proc of known.values()) files.release(proc);
      known.clear();
    },
    collect(tick: Tick, report: CollectorReport): ProcessesBlock {
      const pids = tick.containerPids();
      const now = env.clock();
      tickNo += 1;
      const top: TopProcess[] = [];
      let threads = 0;
      let fds = 0;
      let fdsUnreadable = 0;
      let fdsError: unknown = null;
      let statError: unknown = null;
      let running = 0;
      let blocked = 0;
      let budget = maxTasks;

      const procs = pids.map(entryOf);
      // One native call reads every kept process (pid-files.ts); the clock after it stands for all of them.
      const batched = files.readKept(procs);
      const batchAt = batched ? env.clock() : 0n;
      const rows = files.rows;
      for (let i = 0; i < pids.length; i++) {
        const pid = pids[i] ?? 0;
        const proc = procs[i];
        if (proc === undefined) continue;
        const row = batched ? (files.rowOf[i] ?? -1) : -1;
        const r = row * PS_FIELDS;
        let state: string;
        let cpuTicks: number;
        let numThreads: number;
        let starttime: number;
        let rssPages: number;
        let comm: string | null = null;
        let at: bigint;
        let fdCount = -1;
        if (row >= 0 && rows[r + PS.STATUS] === 0) {
          state = stateLetter(rows[r + PS.STATE] ?? 0);
          cpuTicks = (rows[r + PS.UTIME] ?? 0) + (rows[r + PS.STIME] ?? 0);
          numThreads = rows[r + PS.THREADS] ?? 0;
          starttime = rows[r + PS.START] ?? 0;
          rssPages = rows[r + PS.RSS] ?? 0;
          fdCount = rows[r + PS.FDS] ?? -1;
          at = batchAt;
        } else {
          let st: PidStat;
          try {
            const text = files.readStat(proc);
            at = env.clock();
            st = parsePidStat(text, proc.statPath);
          } catch (err) {
            if (classifyPidError(err) === 'gone') {
              fdsUnreadable += 1;
              continue;
            }
            statError ??= err;
            continue;
          }
          state = st.state;
          cpuTicks = st.utime + st.stime;
          numThreads = st.numThreads;
          starttime = st.starttime;
          rssPages = st.rssPages;
          comm = st.comm;
        }

        try {
          // A count the native read could not take (no kept directory, or its fstat failed) is taken here, which says why.
          const n = fdCount >= 0 ? fdCount : files.countFds(proc);
          // Our own table holds the descriptors kept for reading the others: they are the observer's, not the container's.
          fds += pid === self ? n - files.held : n;
        } catch (err) {
          fdsUnreadable += 1;
          if (classifyPidError(err) === 'other') fdsError ??= err;
        }

        threads += numThreads;
        if (proc.starttime !== starttime) {
          // First seen, or the pid was recycled: a new process, a new baseline.
          proc.starttime = starttime;
          proc.cpu = new CounterRate(env.minRateDeltaNs);
        }
        const ticksPerSec = proc.cpu.update(cpuTicks, at).rate;
        const cores = ticksPerSec === null ? null : ticksPerSec / USER_HZ;
        const rss = rssPages * pageSize;
        // Most processes do not make the top: compared before an entry (or a name) is made for them.
        if (entersTop(top, TOP_N, cores, rss, pid)) insertTop(top, { pid, name: comm ?? files.commOf(row), cores, rss_bytes: rss, threads: numThreads }, TOP_N);

        if (statError === null && (pid === self || numThreads <= 1 || budget <= 0)) {
          // Counted by the stat line just read (or not at all, for the agent): no per-thread reads, nothing to allocate.
          if (pid !== self) {
            if (state === 'R') running += 1;
            else if (state === 'D') blocked += 1;
          }
          budget -= 1;
        } else if (statError === null) {
          try {
            const c = countActive(pid, proc.taskPath, state, numThreads, budget);
            running += c.running;
            blocked += c.blocked;
            budget -= Math.max(1, c.tasksRead);
          } catch (err) {
            statError = err;
          }
        }
      }
      for (const [pid, proc] of known) {
        if (proc.seenTick === tickNo) continue;
        files.release(proc);
        known.delete(pid);
      }

      if (fdsError !== null) report.failed('fds', fdsError);
      let loadOut: LoadAverage | null = null;
      if (statError === null) {
        if (loadAtNs !== null && now > loadAtNs) {
          load = decayLoad(load, running + blocked, Number(now - loadAtNs) / 1e9);
          loadOut = load;
        }
        loadAtNs = now;
      } else {
        for (const f of ['threads', 'load_average', 'running_tasks', 'uninterruptible_tasks']) report.failed(f, statError);
      }

      return {
        count: pids.length,
        threads: statError === null ? threads : null,
        fds: fdsError === null ? fds : null,
        fds_unreadable_pids: fdsUnreadable,
        top,
        load_average: loadOut,
        running_tasks: statError === null ? running : null,
        uninterruptible_tasks: statError === null ? blocked : null,
      };
    },
  };
}
