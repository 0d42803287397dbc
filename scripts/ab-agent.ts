/**
 * `tsx scripts/ab-agent.ts N SECONDS WINDOWS BIN...`: several builds of the
 * sidecar side by side, each in its own cgroup of N sleeping processes (as
 * bench:agent makes them) at a 1 s interval, publishing to one
 * redis-server; CPU of all threads per tick over WINDOWS windows of SECONDS
 * after a settling time (SETTLE ms, default 15000), with each one's page
 * faults. Side by side, so the machine's load and V8's occasional full
 * collections weigh on each alike: for comparing builds, not for absolute
 * figures (bench:agent gives those). The host-mode counterpart is ab-host.ts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
/** Minor and major page faults so far (fields 10 and 12 of the stat line). */
const faults = (pid: number): string => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return `minflt ${f[7]} majflt ${f[9]}`;
};
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, RedisServer } from '../agent/test/helpers/redis-server.js';
import { makeCgroup, type BenchCgroup } from './bench-cgroup.js';
import { threadsCpuNs } from './thread-cpu.js';
const [nArg, winArg, windowsArg, ...bins] = process.argv.slice(2);
if (bins.length === 0) throw new Error('usage: tsx scripts/ab-agent.ts N SECONDS WINDOWS BIN...');
const n = Number(nArg), win = Number(winArg), windows = Number(windowsArg);
const server = new RedisServer(await freePort());
await server.start();
const cgs: BenchCgroup[] = [];
const procs: ChildProcess[] = [];
try {
  for (const [i, bin] of bins.entries()) {
    const cg = await makeCgroup(`smsteady-${process.pid}-${i}`, n);
    cgs.push(cg);
    const joins = cg.dirs.map((d) => `echo $$ > ${d}/cgroup.procs`).join(' && ');
    procs.push(spawn('sh', ['-c', `${joins} && exec "$0"`, bin], { stdio: 'ignore', env: { PATH: '/usr/bin:/bin', CONTAINER_NAME: `steady-${i}`, INTERVAL_SECONDS: '1', VALKEY_URL: `redis://127.0.0.1:${server.port}`, LOG_LEVEL: 'warn' } }));
  }
  await sleep(Number(process.env.SETTLE ?? 15000));
  for (let w = 0; w < windows; w++) {
    const c0 = procs.map((p) => threadsCpuNs(p.pid ?? 0));
    await sleep(win * 1000);
    const c1 = procs.map((p) => threadsCpuNs(p.pid ?? 0));
    console.log(`window ${w + 1}: ` + bins.map((b, i) => `${b.split('/').slice(-3)[0]} ${(((c1[i] ?? 0) - (c0[i] ?? 0)) / 1e6 / win).toFixed(2)} ms/tick, ${faults(procs[i]?.pid ?? 0)}`).join(' | '));
  }
} finally {
  for (const p of procs) p.kill('SIGKILL');
  await sleep(300);
  for (const c of cgs) await c.cleanup();
  await server.stop();
}
