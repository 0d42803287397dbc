import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** Extra fds each bench process holds beside stdio. */
export const EXTRA_FDS = 3;

export interface BenchCgroup {
  path: string;
  dirs: string[];
  procs: ChildProcess[];
  cleanup: () => Promise<void>;
}

/** A cgroup (v1 hierarchies the agent reads, and cgroup2) holding `n` sleeping processes with a few fds each. */
export async function makeCgroup(name: string, n: number): Promise<BenchCgroup> {
  const roots = ['cpu', 'cpuacct', 'memory', 'blkio', 'pids', 'unified'].map((c) => `/sys/fs/cgroup/${c}`).filter((r) => existsSync(join(r, 'cgroup.procs')));
  if (process.getuid?.() !== 0 || roots.length === 0) throw new Error('bench:agent makes cgroups: run it as root on a machine with cgroupfs mounted');
  const dirs = roots.map((r) => join(r, name));
  for (const d of dirs) mkdirSync(d);
  const joins = dirs.map((d) => `echo $$ > ${d}/cgroup.procs`).join(' && ');
  const fds = Array.from({ length: EXTRA_FDS }, (_, i) => `${i + 3}</dev/null`).join(' ');
  const procs = Array.from({ length: n }, () => spawn('sh', ['-c', `${joins} && exec ${fds} && exec sleep 3600`], { stdio: 'ignore' }));
  const first = dirs[0] ?? '';
  const until = Date.now() + 10_000;
  while (readFileSync(join(first, 'cgroup.procs'), 'utf8').split('\n').filter((l) => l !== '').length < n) {
    if (Date.now() > until) throw new Error(`the ${n} bench processes did not join ${first}`);
    await sleep(20);
  }
  return {
    path: `/${name}`,
    dirs,
    procs,
    cleanup: async () => {
      for (const p of procs) p.kill('SIGKILL');
      const stop = Date.now() + 10_000;
      for (const d of [...dirs].reverse()) {
        for (;;) {
          try {
            rmdirSync(d);
            break;
          } catch {
            if (Date.now() > stop) break;
            await sleep(50);
          }
        }
      }
    },
  };
}

/** The hierarchies a host-mode bench makes its parent cgroup in: the v1 controllers the agent reads, and cgroup2. */
export const HOST_BENCH_ROOTS = ['cpu', 'cpuacct', 'memory', 'blkio', 'pids', 'unified'].map((c) => `/sys/fs/cgroup/${c}`).filter((r) => existsSync(join(r, 'cgroup.procs')));

/** Makes `parent` in every one of {@link HOST_BENCH_ROOTS}; the returned function removes it (once its children are gone). */
export function makeParentCgroup(parent: string): () => Promise<void> {
  for (const r of HOST_BENCH_ROOTS) mkdirSync(join(r, parent));
  return async () => {
    for (const r of HOST_BENCH_ROOTS) {
      for (let i = 0; i < 100; i++) {
        try {
          rmdirSync(join(r, parent));
          break;
        } catch {
          await sleep(50);
        }
      }
    }
  };
}
