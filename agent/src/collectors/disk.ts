import { statfs as statfsAsync } from 'node:fs/promises';
import { statfsSync, type BigIntStatsFs } from 'node:fs';
import type { DiskBlock, DiskMount } from '../../../shared/src/payload.js';
import { toSafeNumber } from '../cgroup/values.js';
import { percentOf } from '../rate.js';
import { join } from '../fsread/join.js';
import { memberPid, type AgentEnv, type Collector, type CollectorReport, type Tick } from './types.js';

/** A statfs that has not answered by then is reported failed for this tick. */
export const STATFS_DEADLINE_MS = 1000;

export interface DiskOptions {
  deadlineMs?: number;
  /** Injected in tests to simulate a hung mount. */
  statfs?: (path: string) => Promise<BigIntStatsFs>;
}

class StatfsTimeout extends Error {
  constructor(path: string, ms: number, stillPending: boolean) {
    super(
      stillPending
        ? `statfs ${path}: an earlier call has not returned (hung mount?); not asking again until it does`
        : `statfs ${path}: no answer within ${ms} ms (hung network mount?)`,
    );
    this.name = 'StatfsTimeout';
  }
}

/**
 * Filesystem usage of each configured mount point (`/` first: the Sirius
 * fields) from one `statfs(2)` per path: constant cost, unlike the Go agent,
 * which walked all of `/` every 5 s inside the container it measured and
 * divided by a made-up 10 GiB.
 *
 * statfs runs on libuv's thread pool (4 threads by default). A hung NFS or
 * FUSE mount never answers, so each call is raced against a deadline; and
 * while a call for a path is still outstanding no new one is issued for it,
 * so a hung mount holds at most one pool thread instead of one per tick.
 */
export function createDiskCollector(env: AgentEnv, opts: DiskOptions = {}): Collector<'disk'> {
  const deadlineMs = opts.deadlineMs ?? STATFS_DEADLINE_MS;
  const statfs = opts.statfs ?? ((path: string) => statfsAsync(path, { bigint: true }));
  const pending = new Set<string>();

  /**
   * Where `path` of the container is: itself for the sidecar; in host mode
   * the same path under `/proc/<pid>/root`, the container's root as one of
   * its processes sees it (statfs there answers for the container's mount).
   */
  function located(path: string, tick: Tick): string {
    const view = env.container;
    if (view === undefined) return path;
    const pid = memberPid(view, tick.containerPids());
    if (pid === null) throw new Error(`the container has no process to reach ${path} through`);
    return join(env.procRoot, String(pid), 'root', path);
  }

  async function statWithDeadline(mountPath: string, tick: Tick): Promise<BigIntStatsFs> {
    const path = located(mountPath, tick);
    // `/` is the container's own root (a local overlay or block device): it
    // cannot hang on a network server, and a direct statfs(2) costs ~5 µs
    // against ~70 µs for the thread-pool round trip. Only configured extra
    // paths, which may be NFS or FUSE, need the deadline.
    if (mountPath === '/' && opts.statfs === undefined) return statfsSync(path, { bigint: true });
    if (pending.has(path)) throw new StatfsTimeout(path, deadlineMs, true);
    pending.add(path);
    const call = statfs(path).finally(() => pending.delete(path));
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        reject(new StatfsTimeout(path, deadlineMs, false));
      }, deadlineMs);
    });
    // The losing call keeps running; its late result or error is dropped.
    call.catch(() => undefined);
    try {
      return await Promise.race([call, deadline]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * With only `/` (the default) and no injected statfs every call is a direct
   * statfs(2): the block is made synchronously, without the promises and
   * microtask turns of the deadline path, which cost more than the call.
   */
  const direct = opts.statfs === undefined && env.diskPaths.every((p) => p === '/');

  function statDirect(tick: Tick): PromiseSettledResult<BigIntStatsFs>[] {
    return env.diskPaths.map((p): PromiseSettledResult<BigIntStatsFs> => {
      try {
        return { status: 'fulfilled', value: statfsSync(located(p, tick), { bigint: true }) };
      } catch (err) {
        return { status: 'rejected', reason: err };
      }
    });
  }

  function toBlock(results: PromiseSettledResult<BigIntStatsFs>[], report: CollectorReport): DiskBlock {
    const mounts: DiskMount[] = [];
    results.forEach((r, i) => {
      const path = env.diskPaths[i] ?? '';
      const field = `mounts[${path}]`;
      if (r.status === 'rejected') {
        report.failed(field, r.reason);
        return;
      }
      let m: DiskMount | null;
      try {
        m = toMount(path, r.value);
      } catch (err) {
        report.failed(field, err);
        return;
      }
      if (m === null) report.unsupported(field, `statfs ${path} reports 0 blocks (a pseudo filesystem has no capacity)`);
      else mounts.push(m);
    });
    return { mounts };
  }

  return {
    name: 'disk',
    collect(tick, report: CollectorReport): DiskBlock | Promise<DiskBlock> {
      if (direct) return toBlock(statDirect(tick), report);
      return Promise.allSettled(env.diskPaths.map((p) => statWithDeadline(p, tick))).then((results) => toBlock(results, report));
    },
  };
}

/**
 * `df`'s arithmetic: total = f_blocks, used = f_blocks − f_bfree, available
 * to unprivileged users = f_bavail (root's reserve is in neither used nor
 * available, so used + available < total on ext4). Node exposes f_bsize
 * only; Linux filesystems report f_frsize equal to it. BigInt because
 * blocks × bsize exceeds 2^53 on filesystems above 8 PiB.
 */
export function toMount(path: string, s: BigIntStatsFs): DiskMount | null {
  if (s.blocks <= 0n) return null;
  const what = `statfs ${path}`;
  const bytes = (blocks: bigint): number => toSafeNumber(blocks * s.bsize, what);
  const total = bytes(s.blocks);
  const used = bytes(s.blocks > s.bfree ? s.blocks - s.bfree : 0n);
  return {
    path,
    total_bytes: total,
    used_bytes: used,
    available_bytes: bytes(s.bavail),
    percent: percentOf(used, total) ?? 0,
    inodes_total: toSafeNumber(s.files, what),
    inodes_used: toSafeNumber(s.files > s.ffree ? s.files - s.ffree : 0n, what),
  };
}
