import { join } from '../fsread/join.js';
import type { LoadAverage, SystemBlock } from '../../../shared/src/payload.js';
import { readText } from '../fsread/read-text.js';
import { parseLoadavg, parsePidStat, parseUptime, USER_HZ } from '../procfs/parse-pid-stat.js';
import { classifyPidError } from './processes.js';
import type { AgentEnv, Collector, CollectorReport, Tick } from './types.js';

interface Origin {
  pid: number;
  /** Clock ticks after boot (`/proc/<pid>/stat` field 22). */
  starttime: number;
  source: 'pid1' | 'oldest-pid';
}

/** Synchronous (proc files are read with sync reads), which tests rely on. */
export interface SystemCollector extends Collector<'system'> {
  collect(tick: Tick, report: CollectorReport): SystemBlock;
}

/**
 * Container uptime, and the host's load and uptime under their own names.
 *
 * The container started when its first process did: `/proc/uptime` minus PID
 * 1's start time (both count from boot). When PID 1 is not in the container
 * (shared PID namespace, or the agent reading the host's /proc) the oldest
 * process of the cgroup stands in for it. The Go agent published its own
 * process's uptime instead.
 */
export function createSystemCollector(env: AgentEnv): SystemCollector {
  // While the oldest process lives nothing can become older than it, so it
  // is re-checked with one read per tick (its start time also catches a
  // reused pid) and the whole list is scanned only when it is gone.
  let origin: Origin | null = null;

  function startOf(pid: number): number | null {
    const path = join(env.procRoot, String(pid), 'stat');
    try {
      return parsePidStat(readText(path), path).starttime;
    } catch (err) {
      if (classifyPidError(err) === 'gone') return null;
      throw err;
    }
  }

  function findOrigin(pids: readonly number[]): Origin | null {
    // The sidecar sees the container's PID 1 as pid 1; the host agent knows its host pid.
    const init = env.container === undefined ? (pids.includes(1) ? 1 : null) : env.container.initPid(pids);
    if (init !== null) {
      const start = startOf(init);
      return start === null ? null : { pid: init, starttime: start, source: 'pid1' };
    }
    if (origin !== null && origin.source === 'oldest-pid' && pids.includes(origin.pid) && startOf(origin.pid) === origin.starttime) {
      return origin;
    }
    let best: Origin | null = null;
    for (const pid of pids) {
      const start = startOf(pid);
      if (start !== null && (best === null || start < best.starttime)) best = { pid, starttime: start, source: 'oldest-pid' };
    }
    return best;
  }

  return {
    name: 'system',
    collect(tick: Tick, report: CollectorReport): SystemBlock {
      let hostUptime: number | null = null;
      try {
        hostUptime = parseUptime(readText(join(env.procRoot, 'uptime'))).uptime;
      } catch (err) {
        report.failed('host_uptime_seconds', err);
      }

      let hostLoad: LoadAverage | null = null;
      try {
        const l = parseLoadavg(readText(join(env.procRoot, 'loadavg')));
        hostLoad = { load1: l.load1, load5: l.load5, load15: l.load15 };
      } catch (err) {
        report.failed('host_load_average', err);
      }

      let uptime: number | null = null;
      let source: Origin['source'] | null = null;
      if (hostUptime === null) {
        report.failed('uptime_seconds', new Error(`container uptime needs ${join(env.procRoot, 'uptime')}`));
      } else {
        try {
          origin = findOrigin(tick.containerPids());
          if (origin === null) {
            report.unsupported('uptime_seconds', 'no process of the container could be read');
          } else {
            // Start time is sampled on the same boot clock as /proc/uptime; the
            // clamp only guards a process that started within the last tick.
            uptime = Math.max(0, Math.floor(hostUptime - origin.starttime / USER_HZ));
            source = origin.source;
          }
        } catch (err) {
          origin = null;
          report.failed('uptime_seconds', err);
        }
      }

      return {
        uptime_seconds: uptime,
        uptime_source: source,
        host_load_average: hostLoad,
        host_uptime_seconds: hostUptime,
      };
    },
  };
}
