/**
 * `tsx scripts/profile-host.ts [N] [seconds] [outdir]`: `--cpu-prof` of the
 * host agent (dist/agent.cjs under the release's V8 flags) for N simulated
 * containers on real kernel cgroups, as bench:host makes them.
 */
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, RedisServer } from '../agent/test/helpers/redis-server.js';
import { makeCgroup, makeParentCgroup, type BenchCgroup } from './bench-cgroup.js';


async function main(): Promise<void> {
  const n = Number(process.argv[2] ?? '100');
  const seconds = Number(process.argv[3] ?? '20');
  const out = process.argv[4] ?? '/tmp/hostprof';
  const port = await freePort();
  const server = new RedisServer(port);
  await server.start();
  const parent = `smhost-prof-${process.pid}`;
  const removeParent = makeParentCgroup(parent);
  const kids: BenchCgroup[] = [];
  try {
    for (let i = 0; i < n; i++) kids.push(await makeCgroup(`${parent}/c${i}`, 1));
    const env = { PATH: '/usr/bin:/bin', INTERVAL_SECONDS: '1', VALKEY_URL: `redis://127.0.0.1:${port}`, LOG_LEVEL: 'warn' };
    const p = spawn(process.execPath, ['--lite-mode', '--no-memory-reducer', '--cpu-prof', '--cpu-prof-interval', '200', '--cpu-prof-dir', out, 'dist/agent.cjs', 'host', '--cgroup-parent', `/${parent}`], { stdio: 'inherit', env });
    await sleep(seconds * 1000);
    p.kill('SIGTERM');
    await new Promise((r) => p.once('exit', r));
  } finally {
    for (const k of kids.reverse()) await k.cleanup();
    await removeParent();
    await server.stop();
  }
}

void main();
