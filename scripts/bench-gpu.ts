/**
 * `npm run bench:gpu -- [ticks] [--bin FILE]... [--env K=V]...`: the whole agent's memory
 * with GPUs (issue #17), measured with the fake NVML library the tests build
 * (agent/test/helpers/fake-nvml.ts, two boards with every metric).
 *
 * The release's agent (`dist/system-monitor/system-monitor`, or each `--bin`)
 * runs at `INTERVAL_SECONDS=1` with `NVML_LIBRARY_PATH` naming the fake,
 * inside a cgroup of its own beside 20 sleeping processes (as bench:agent's
 * middle size, scripts/bench-cgroup.ts), publishing to a local redis-server. After `ticks` published samples that
 * carry both GPUs, the agent and its NVML worker (the agent's child, the C
 * program libexec/system-monitor-nvml) are read:
 * VmRSS (with RssAnon and RssFile) from `/proc/PID/status` and Pss from
 * `/proc/PID/smaps_rollup` (file pages both processes map counted once, split
 * between them), and the CPU of all threads of both per tick.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { METRICS_CHANNEL } from '../shared/src/keys.js';
import { buildFakeNvml, FakeNvmlDir, twoGpuConfig } from '../agent/test/helpers/fake-nvml.js';
import { freePort, RedisServer } from '../agent/test/helpers/redis-server.js';
import { threadsCpuNs } from './thread-cpu.js';
import { makeCgroup, type BenchCgroup } from './bench-cgroup.js';

/** Ordinary processes beside the agent in its cgroup, as in bench:agent's middle size. */
const PROCESSES = 20;

interface Memory {
  vmrss_mb: number;
  rss_anon_mb: number;
  rss_file_mb: number;
  pss_mb: number;
}

function mb(kb: number): number {
  return Number((kb / 1024).toFixed(1));
}

function memoryOf(pid: number): Memory {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string, text: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN);
  const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  return { vmrss_mb: mb(kb('VmRSS', status)), rss_anon_mb: mb(kb('RssAnon', status)), rss_file_mb: mb(kb('RssFile', status)), pss_mb: mb(kb('Pss', rollup)) };
}

/** Direct children of `pid` (the NVML worker), from every thread's `children` list. */
function childrenOf(pid: number): number[] {
  const out = new Set<number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    for (const c of readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').split(' ')) if (c.trim() !== '') out.add(Number(c));
  }
  return [...out];
}

async function measure(bin: string, cg: BenchCgroup, port: number, sub: Redis, ticks: number, tag: string, extraEnv: Record<string, string>): Promise<Record<string, unknown>> {
  const lib = buildFakeNvml();
  const fake = new FakeNvmlDir(twoGpuConfig());
  const name = `bench-gpu-${tag}`;
  const joins = cg.dirs.map((d) => `echo $$ > ${d}/cgroup.procs`).join(' && ');
  let seen = 0;
  let withGpus = 0;
  sub.on('message', (_ch: string, msg: string) => {
    const p = JSON.parse(msg) as { container_name?: string; gpus?: unknown[] };
    if (p.container_name !== name) return;
    seen += 1;
    if ((p.gpus?.length ?? 0) === 2) withGpus += 1;
  });
  const agent = spawn('sh', ['-c', `${joins} && exec "$0"`, bin], {
    stdio: 'ignore',
    env: { PATH: '/usr/bin:/bin', CONTAINER_NAME: name, INTERVAL_SECONDS: '1', VALKEY_URL: `redis://127.0.0.1:${port}`, LOG_LEVEL: 'warn', NVML_LIBRARY_PATH: lib, ...fake.env(), ...extraEnv },
  });
  try {
    const pid = agent.pid ?? 0;
    const until = Date.now() + (ticks + 30) * 1000;
    while (withGpus < ticks) {
      if (Date.now() > until) throw new Error(`${bin}: ${seen} samples, ${withGpus} with both GPUs after ${ticks + 30} s`);
      await sleep(100);
    }
    const worker = childrenOf(pid)[0];
    if (worker === undefined) throw new Error(`${bin}: no NVML worker process`);
    const main0 = threadsCpuNs(pid);
    const worker0 = threadsCpuNs(worker);
    const at = withGpus;
    while (withGpus < at + 10) await sleep(50);
    const mainNs = threadsCpuNs(pid) - main0;
    const workerNs = threadsCpuNs(worker) - worker0;
    const perTick = (ns: number): number => Math.round(ns / 1e3 / (withGpus - at));
    const main = memoryOf(pid);
    const w = memoryOf(worker);
    return {
      bin,
      samples_with_gpus: withGpus,
      main,
      worker: w,
      whole_vmrss_mb: Number((main.vmrss_mb + w.vmrss_mb).toFixed(1)),
      whole_pss_mb: Number((main.pss_mb + w.pss_mb).toFixed(1)),
      cpu_per_tick_us: { main: perTick(mainNs), worker: perTick(workerNs), both: perTick(mainNs + workerNs) },
    };
  } finally {
    agent.kill('SIGKILL');
    await new Promise((r) => agent.once('exit', r));
    fake.remove();
  }
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const bins: string[] = [];
  const extraEnv: Record<string, string> = {};
  let ticks = 15;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--bin') bins.push(argv[++i] ?? '');
    else if (argv[i] === '--env') {
      const [k = '', ...v] = (argv[++i] ?? '').split('=');
      extraEnv[k] = v.join('=');
    } else ticks = Number(argv[i]);
  }
  if (bins.length === 0) bins.push(join(process.cwd(), 'dist/system-monitor/system-monitor'));
  for (const b of bins) if (!existsSync(b)) throw new Error(`${b} is missing: run \`npm run build\` first`);
  const server = new RedisServer(await freePort());
  await server.start();
  const sub = new Redis({ port: server.port, host: '127.0.0.1' });
  await sub.subscribe(METRICS_CHANNEL);
  const rows: Record<string, unknown>[] = [];
  const cg = await makeCgroup(`sm-bench-gpu-${process.pid}`, PROCESSES);
  try {
    for (const [i, bin] of bins.entries()) rows.push({ ...(await measure(bin, cg, server.port, sub, ticks, String(i), extraEnv)), env: extraEnv });
  } finally {
    await cg.cleanup();
    sub.disconnect();
    await server.stop();
  }
  process.stdout.write(`${JSON.stringify({ method: `agent + NVML worker with the fake NVML (2 GPUs), INTERVAL_SECONDS=1, in a cgroup with ${PROCESSES} sleeping processes, read after ${ticks} samples with both GPUs; CPU over the next 10`, results: rows, target: 'whole agent with GPUs <= 64 MB RSS' }, null, 2)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
