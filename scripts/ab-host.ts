/**
 * `tsx scripts/ab-host.ts N SECONDS A.cjs B.cjs ...`: several builds of the
 * host agent side by side on the same N simulated containers (bench:host's
 * kernel cgroups), under the release's V8 flags and Node 26 when
 * NODE26 names it, each publishing to its own redis-server database; CPU
 * of all threads over the same window after a warm-up. Side by side, so
 * the machine's load weighs on each alike: for comparing builds, not for
 * absolute figures (bench:host gives those). `FILE@--flag,--flag` adds V8
 * flags for one of them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, RedisServer } from '../agent/test/helpers/redis-server.js';
import { makeCgroup, makeParentCgroup, type BenchCgroup } from './bench-cgroup.js';
import { threadsCpuNs } from './thread-cpu.js';


async function main(): Promise<void> {
  const [nArg, secArg, ...bundles] = process.argv.slice(2);
  const n = Number(nArg ?? '100');
  const seconds = Number(secArg ?? '20');
  const node = process.env.NODE26 ?? process.execPath;
  const port = await freePort();
  const server = new RedisServer(port);
  await server.start();
  const parent = `smhost-ab-${process.pid}`;
  const removeParent = makeParentCgroup(parent);
  const kids: BenchCgroup[] = [];
  const procs: ChildProcess[] = [];
  try {
    for (let i = 0; i < n; i++) kids.push(await makeCgroup(`${parent}/c${i}`, 1));
    for (const [i, b] of bundles.entries()) {
      const env = { PATH: '/usr/bin:/bin', INTERVAL_SECONDS: '1', VALKEY_URL: `redis://127.0.0.1:${port}/${i}`, LOG_LEVEL: 'warn' };
      // `bundle@--flag,--flag` adds V8 flags for that one.
      const [file = b, flags = ''] = b.split('@');
      procs.push(spawn(node, ['--lite-mode', '--no-memory-reducer', ...flags.split(',').filter((f) => f !== ''), file, 'host', '--cgroup-parent', `/${parent}`], { stdio: ['ignore', 'ignore', 'inherit'], env }));
    }
    await sleep(8000);
    const cpu0 = procs.map((p) => threadsCpuNs(p.pid ?? 0));
    await sleep(seconds * 1000);
    const cpu1 = procs.map((p) => threadsCpuNs(p.pid ?? 0));
    const rss = procs.map((p) => Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${p.pid ?? 0}/status`, 'utf8'))?.[1] ?? NaN) / 1024);
    bundles.forEach((b, i) => {
      process.stdout.write(`${b}: ${((((cpu1[i] ?? 0) - (cpu0[i] ?? 0)) / 1e6) / seconds).toFixed(1)} ms CPU per second (1 tick/s), VmRSS ${rss[i]?.toFixed(1)} MB\n`);
    });
  } finally {
    for (const p of procs) p.kill('SIGKILL');
    for (const k of kids.reverse()) await k.cleanup();
    await removeParent();
    await server.stop();
  }
}

void main();
