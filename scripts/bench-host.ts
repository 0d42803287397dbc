/**
 * `npm run bench:host -- [ticks] [--sizes 10,100] [--interval S] [--bin FILE] [--docker]`:
 * what one host agent (`system-monitor host`, cgroup-only mode) costs for N
 * containers, beside what one sidecar costs for one of them, in the same run.
 *
 * For each size N a parent cgroup is made in every v1 hierarchy the agent
 * reads (and the cgroup2 tree) with N children, each holding one `sleep`
 * process with three extra fds: N simulated containers on real kernel
 * cgroups. The host agent runs outside them (`--cgroup-parent` names the
 * parent); a sidecar runs inside the first child (`--cgroup-path`). Both
 * publish to a local redis-server. After the warm-up ticks the CPU of every
 * thread of each process (`/proc/PID/task/TID/schedstat`) is read at a
 * published sample and again `ticks` samples later (`seq` counts the ticks),
 * and VmRSS at the end. The peer, measured in the same run: the kernel's
 * own CPU for one read of every file the host agent keeps open
 * (`kernel-floor.ts`), so `host_over_kernel_floor` is what the runtime and
 * the agent's code add to the kernel. The write floors (write-floor.ts),
 * measured after the agents stop: a tick that only wakes and writes the N
 * containers' last samples' commands on a plain socket, in the release's
 * Node (serialising the samples too) and in C; with the kernel floor at the
 * interval they give the least a host tick can cost in each runtime. The target (issue #18) is, at 100 containers,
 * RSS ≤ 60 MB and CPU per tick ≤ 1 ms + 0.1 ms per container.
 *
 * `--bin` defaults to the release (`dist/system-monitor/system-monitor`,
 * `npm run build`); both agents run the same build.
 *
 * `--docker` measures real containers instead: N containers of the musl
 * stand-in image (`system-monitor-test/musl`, made here when missing, as
 * `npm run test:docker` makes it) running `sleep`, each in its own network namespace on
 * Docker's default bridge, found by the host agent through the engine's
 * socket. No sidecar runs beside it in this mode.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { METRICS_CHANNEL, metricsKey } from '../shared/src/keys.js';
import { payloadSchema, type Payload } from '../shared/src/payload.js';
import { freePort, RedisServer } from '../agent/test/helpers/redis-server.js';
import { HOST_BENCH_ROOTS as ROOTS, makeCgroup, makeParentCgroup, type BenchCgroup } from './bench-cgroup.js';
import { docker, MUSL_STAND_IN } from './docker-cli.js';
import { ensureStandIns } from './docker/stand-ins.js';
import { kernelFloors } from './kernel-floor.js';
import { leastTicks, tickCommands, writeFloors } from './write-floor.js';
import { threadsCpuNs } from './thread-cpu.js';

const WARMUP_TICKS = 6;

function vmRssMb(pid: number): number {
  const kb = Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);
  return Number((kb / 1024).toFixed(1));
}

/** Published samples of one key name, in order. */
function samplesOf(sub: Redis, name: string): () => Promise<{ seq: number; collect_ms: number }> {
  const queue: { seq: number; collect_ms: number }[] = [];
  sub.on('message', (_ch: string, msg: string) => {
    const p = JSON.parse(msg) as { container_name?: string; seq?: number; agent?: { collect_ms?: number } };
    if (p.container_name === name) queue.push({ seq: p.seq ?? NaN, collect_ms: p.agent?.collect_ms ?? NaN });
  });
  return async () => {
    const until = Date.now() + 60_000;
    while (queue.length === 0) {
      if (Date.now() > until) throw new Error(`no sample of ${name} for 60 s`);
      await sleep(20);
    }
    return queue.shift() ?? { seq: NaN, collect_ms: NaN };
  };
}

interface Figures {
  ticks: number;
  cpu_per_tick_ms: number;
  vmrss_mb: number;
  collect_ms_last: number;
}

async function measure(proc: ChildProcess, next: () => Promise<{ seq: number; collect_ms: number }>, ticks: number): Promise<Figures> {
  const pid = proc.pid ?? 0;
  for (let i = 0; i < WARMUP_TICKS; i++) await next();
  const first = await next();
  const cpu0 = threadsCpuNs(pid);
  let last = first;
  for (let i = 0; i < ticks; i++) last = await next();
  const cpu1 = threadsCpuNs(pid);
  const n = last.seq - first.seq;
  return { ticks: n, cpu_per_tick_ms: Number(((cpu1 - cpu0) / 1e6 / n).toFixed(3)), vmrss_mb: vmRssMb(pid), collect_ms_last: last.collect_ms };
}

async function stop(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  p.kill('SIGKILL');
  await new Promise((r) => p.once('exit', r));
}

/**
 * A row's host-agent figures, and the kernel floor of the files it keeps
 * open (read once each, nothing else): back to back, and once per interval
 * (5 rounds), as cold as the agent finds them.
 */
function hostRow(n: number, h: Figures, hostPid: number, intervalS: number): { row: Record<string, unknown>; kernelAtIntervalNs: number } {
  const { hot: floor, atInterval } = kernelFloors(process.cwd(), hostPid, intervalS);
  const floorMs = floor.cpu_ns_per_round / 1e6;
  const coldMs = atInterval.cpu_ns_per_round / 1e6;
  const row = {
    containers: n,
    host_cpu_per_tick_ms: h.cpu_per_tick_ms,
    host_cpu_target_ms: 1 + 0.1 * n,
    host_cpu_per_container_ms: Number((h.cpu_per_tick_ms / n).toFixed(3)),
    host_vmrss_mb: h.vmrss_mb,
    kernel_floor_files: floor.files,
    kernel_floor_ms: Number(floorMs.toFixed(3)),
    host_over_kernel_floor: Number((h.cpu_per_tick_ms / floorMs).toFixed(1)),
    kernel_floor_at_interval_ms: Number(coldMs.toFixed(3)),
    host_over_kernel_floor_at_interval: Number((h.cpu_per_tick_ms / coldMs).toFixed(1)),
    host_ticks: h.ticks,
  };
  return { row, kernelAtIntervalNs: atInterval.cpu_ns_per_round };
}

/**
 * The write floors of one host tick: the N containers' last samples (as the
 * host agent left them in Valkey) written once per interval, after the
 * agents have stopped; and the least a host tick can cost in each runtime.
 */
async function withWriteFloors(row: Record<string, unknown>, kernelAtIntervalNs: number, port: number, names: readonly string[], intervalS: number, ticks: number): Promise<Record<string, unknown>> {
  const client = new Redis({ port, host: '127.0.0.1', lazyConnect: true });
  await client.connect();
  let samples: { name: string; payload: Payload }[];
  try {
    const values = await client.mget(names.map(metricsKey));
    samples = values.map((v, i) => {
      if (v === null) throw new Error(`write floors: no sample of ${names[i] ?? '?'} in Valkey`);
      return { name: names[i] ?? '', payload: payloadSchema.parse(JSON.parse(v)) };
    });
  } finally {
    client.disconnect();
  }
  const floors = await writeFloors(process.cwd(), { port, intervalMs: intervalS * 1000, ticks, commands: tickCommands(samples, Date.now()), payloads: samples.map((x) => x.payload) });
  const least = leastTicks(kernelAtIntervalNs, floors);
  const ms = (ns: number): number => Number((ns / 1e6).toFixed(3));
  return {
    ...row,
    write_floor_bytes: floors.node.bytes_per_tick,
    write_floor_node_ms: ms(floors.node.cpu_ns_per_tick),
    write_floor_c_ms: ms(floors.c.cpu_ns_per_tick),
    least_tick_node_ms: ms(least.node),
    least_tick_c_ms: ms(least.c),
    host_over_least_tick_node: Number(((Number(row.host_cpu_per_tick_ms) * 1e6) / least.node).toFixed(1)),
  };
}

/** The host agent over N real containers; containers are removed whatever happens. */
async function measureDocker(bin: string, n: number, ticks: number, env: Record<string, string>, sub: Redis, port: number): Promise<Record<string, unknown>> {
  await ensureStandIns();
  const prefix = `smhost-bench-${process.pid}-${n}`;
  const names = Array.from({ length: n }, (_, i) => `${prefix}-${i}`);
  let host: ChildProcess | null = null;
  try {
    for (const name of names) docker('run', '-d', '--name', name, MUSL_STAND_IN, 'sleep', '3600');
    host = spawn(bin, ['host'], { stdio: ['ignore', 'ignore', 'inherit'], env });
    const h = await measure(host, samplesOf(sub, names[n - 1] ?? ''), ticks);
    const intervalS = Number(env.INTERVAL_SECONDS ?? '1');
    const { row, kernelAtIntervalNs } = hostRow(n, h, host.pid ?? 0, intervalS);
    await stop(host);
    return await withWriteFloors({ ...row, discovery: 'docker' }, kernelAtIntervalNs, port, names, intervalS, ticks);
  } finally {
    if (host !== null) await stop(host);
    spawnSync('docker', ['rm', '-f', ...names], { encoding: 'utf8' });
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const dockerMode = args.includes('--docker');
  if (dockerMode) args.splice(args.indexOf('--docker'), 1);
  const opt = (name: string): string | undefined => {
    const i = args.indexOf(name);
    if (i < 0) return undefined;
    const v = args[i + 1];
    args.splice(i, 2);
    return v;
  };
  const sizes = (opt('--sizes') ?? '10,100').split(',').map(Number);
  const interval = Number(opt('--interval') ?? '1');
  const bin = opt('--bin') ?? join(process.cwd(), 'dist/system-monitor/system-monitor');
  const ticks = Number(args[0] ?? '10');
  if (!existsSync(bin)) throw new Error(`${bin} not found: run npm run build first, or name a build with --bin`);
  if (process.getuid?.() !== 0 || ROOTS.length === 0) throw new Error('bench:host makes cgroups: run it as root on a machine with cgroupfs mounted');

  const port = await freePort();
  const server = new RedisServer(port);
  await server.start();
  const sub = new Redis({ port, host: '127.0.0.1' });
  await sub.subscribe(METRICS_CHANNEL);
  const env = { PATH: '/usr/bin:/bin', INTERVAL_SECONDS: String(interval), VALKEY_URL: `redis://127.0.0.1:${port}`, LOG_LEVEL: 'warn' };
  const rows: Record<string, unknown>[] = [];
  try {
    for (const n of sizes) {
      if (dockerMode) {
        rows.push(await measureDocker(bin, n, ticks, env, sub, port));
        process.stderr.write(`${JSON.stringify(rows[rows.length - 1])}\n`);
        continue;
      }
      const parent = `smhost-bench-${process.pid}-${n}`;
      const removeParent = makeParentCgroup(parent);
      const kids: BenchCgroup[] = [];
      const procs: ChildProcess[] = [];
      try {
        for (let i = 0; i < n; i++) kids.push(await makeCgroup(`${parent}/c${i}`, 1));
        const host = spawn(bin, ['host', '--cgroup-parent', `/${parent}`], { stdio: ['ignore', 'ignore', 'inherit'], env });
        procs.push(host);
        const first = kids[0];
        if (first === undefined) throw new Error('no container');
        const joins = first.dirs.map((d) => `echo $$ > ${d}/cgroup.procs`).join(' && ');
        const sidecar = spawn('sh', ['-c', `${joins} && exec "$0" run --container-name smhost-bench-sidecar`, bin], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...env, CGROUP_PATH: `/${parent}/c0` } });
        procs.push(sidecar);
        const [h, s] = await Promise.all([measure(host, samplesOf(sub, `c${n - 1}`), ticks), measure(sidecar, samplesOf(sub, 'smhost-bench-sidecar'), ticks)]);
        const { row: hostFigures, kernelAtIntervalNs } = hostRow(n, h, host.pid ?? 0, interval);
        const row = {
          ...hostFigures,
          sidecar_cpu_per_tick_ms: s.cpu_per_tick_ms,
          sidecar_vmrss_mb: s.vmrss_mb,
          n_sidecars_cpu_ms: Number((s.cpu_per_tick_ms * n).toFixed(1)),
          n_sidecars_rss_mb: Number((s.vmrss_mb * n).toFixed(0)),
        };
        for (const p of procs) await stop(p);
        rows.push(await withWriteFloors(row, kernelAtIntervalNs, port, Array.from({ length: n }, (_, i) => `c${i}`), interval, ticks));
        process.stderr.write(`${JSON.stringify(rows[rows.length - 1])}\n`);
      } finally {
        for (const p of procs) await stop(p);
        for (const k of kids.reverse()) await k.cleanup();
        await removeParent();
      }
    }
  } finally {
    sub.disconnect();
    await server.stop();
  }
  process.stdout.write(`${JSON.stringify({ bin, interval_s: interval, ticks, method: `${dockerMode ? `host agent (Docker discovery) over N real containers of ${MUSL_STAND_IN} running sleep, each in its own network namespace` : 'host agent (cgroup-only, N children of one cgroup, one sleep each) and a sidecar in the first child, same build, same run'}; CPU of all threads over ${ticks} published ticks after ${WARMUP_TICKS} warm-up ticks; kernel floor: CPU of one pread (fstat for a directory) of every kernel file the host agent keeps open, by scripts/kernel-floor.c, median of 3 × 200 rounds back to back, and 5 rounds one interval apart; write floors: CPU per tick of waking once per interval and writing the N containers' last samples' commands (encoded once) on a plain socket, awaiting the replies, by scripts/write-floor.mjs in the release's Node and flags (which also JSON.stringify()s the samples each tick) and by scripts/write-floor.c; least_tick = kernel floor at the interval + write floor`, rows }, null, 2)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:host: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
