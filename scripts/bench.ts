/**
 * `npm run bench:agent -- [ticks] [siRounds] [--sizes 1,20,200] [--interval S] [--warmup N] [--bin FILE]...`:
 * what one tick of the built agent costs inside a real cgroup holding 1, 20
 * and 200 ordinary processes, against systeminformation's equivalent
 * collection measured in the same run with the same processes present.
 *
 * For each size a cgroup is made in every v1 hierarchy the agent reads (and
 * the cgroup2 tree), filled with `sleep` processes that each hold three
 * extra fds, and the release's agent (`dist/system-monitor/system-monitor`
 * from `npm run build`; `--bin` names another build, and may be given more
 * than once to measure builds alternately in one run) is started inside it
 * at a 1 s interval (`--interval` sets another, e.g. the default 5 s), publishing to a local redis-server. After a warm-up
 * (the start-up pages are released at the third tick) the CPU of every
 * thread of the agent (`/proc/PID/task/TID/schedstat`, the kernel's own
 * per-thread accounting in ns) is read at a published sample and again
 * `seconds` samples later: whole tick, collection and publish together.
 * `seq` in the samples counts the ticks, so a skipped tick cannot flatter
 * the figure. VmRSS is read at the end.
 *
 * The peer: systeminformation's `currentLoad, mem, networkStats('*'),
 * fsSize, processes, disksIO` (what it needs for the same fields), run by a
 * Node child in a cgroup of its own, timed as that cgroup's CPU (it spawns
 * `ps` and `df`, which the cgroup counts exactly). The kernel floor: the CPU
 * of one read of every kernel file the agent keeps open (kernel-floor.ts).
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Redis } from 'ioredis';
import { METRICS_CHANNEL } from '../shared/src/keys.js';
import { freePort, RedisServer } from '../agent/test/helpers/redis-server.js';
import { payloadSchema, type Payload } from '../shared/src/payload.js';
import { kernelFloors } from './kernel-floor.js';
import { leastTicks, tickCommands, writeFloors, type WriteFloor } from './write-floor.js';
import { threadsCpuNs } from './thread-cpu.js';
import { EXTRA_FDS, makeCgroup, type BenchCgroup } from './bench-cgroup.js';

const REPO = process.cwd();
/** Ticks before the measurement: the start-up pages are released at the third; `--warmup` sets more (steady state of a JIT build). */
const DEFAULT_WARMUP_TICKS = 6;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
}

function vmRssMb(pid: number): number {
  const kb = Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);
  return Number((kb / 1024).toFixed(1));
}

interface TickFigures {
  bin: string;
  processes_in_cgroup: number;
  fds_in_cgroup: number | null;
  ticks: number;
  cpu_per_tick_us: number;
  collect_ms_median: number;
  processes_collector_ms_median: number;
  vmrss_mb: number;
  /** The peer: the kernel's CPU for one read of every file the agent keeps open (kernel-floor.ts). */
  kernel_floor_files: number;
  kernel_floor_us: number;
  /** The last published sample, for the write floors. */
  last: { name: string; payload: Payload };
  /** The same files read once per interval (5 rounds), ns per round. */
  kernel_floor_at_interval_ns: number;
}

/** Samples of one container name as they are published. */
function samplesOf(sub: Redis, name: string): { next: () => Promise<Record<string, unknown>> } {
  const queue: Record<string, unknown>[] = [];
  let wake: (() => void) | null = null;
  sub.on('message', (_ch: string, msg: string) => {
    const p = JSON.parse(msg) as Record<string, unknown>;
    if (p.container_name !== name) return;
    queue.push(p);
    wake?.();
  });
  return {
    next: async () => {
      const until = Date.now() + 20_000;
      while (queue.length === 0) {
        if (Date.now() > until) throw new Error(`no sample from ${name} for 20 s`);
        await new Promise<void>((r) => {
          wake = r;
          setTimeout(r, 1000);
        });
      }
      return queue.shift() ?? {};
    },
  };
}

function num(v: unknown): number {
  return typeof v === 'number' ? v : NaN;
}

async function measureAgent(bin: string, cg: BenchCgroup, port: number, sub: Redis, seconds: number, intervalSeconds: number, warmup: number, tag: string): Promise<TickFigures> {
  const name = `bench-${tag}`;
  const samples = samplesOf(sub, name);
  const joins = cg.dirs.map((d) => `echo $$ > ${d}/cgroup.procs`).join(' && ');
  const agent = spawn('sh', ['-c', `${joins} && exec "$0"`, bin], {
    stdio: 'ignore',
    env: { PATH: '/usr/bin:/bin', CONTAINER_NAME: name, INTERVAL_SECONDS: String(intervalSeconds), VALKEY_URL: `redis://127.0.0.1:${port}`, LOG_LEVEL: 'warn' },
  });
  try {
    const pid = agent.pid ?? 0;
    for (let i = 0; i < warmup; i++) await samples.next();
    const first = await samples.next();
    const cpu0 = threadsCpuNs(pid);
    const collect: number[] = [];
    const proc: number[] = [];
    let last = first;
    for (let i = 0; i < seconds; i++) {
      last = await samples.next();
      const a = last.agent as { collect_ms?: number; collectors?: Record<string, { ms?: number }> } | undefined;
      collect.push(num(a?.collect_ms));
      proc.push(num(a?.collectors?.processes?.ms));
    }
    const cpu1 = threadsCpuNs(pid);
    const ticks = num(last.seq) - num(first.seq);
    const { hot: floor, atInterval: coldFloor } = kernelFloors(REPO, pid, intervalSeconds);
    return {
      bin,
      processes_in_cgroup: num(last.process_count),
      fds_in_cgroup: typeof last.file_descriptors === 'number' ? last.file_descriptors : null,
      ticks,
      cpu_per_tick_us: Math.round((cpu1 - cpu0) / 1e3 / ticks),
      collect_ms_median: Number(median(collect).toFixed(3)),
      processes_collector_ms_median: Number(median(proc).toFixed(3)),
      vmrss_mb: vmRssMb(pid),
      kernel_floor_files: floor.files,
      kernel_floor_us: Math.round(floor.cpu_ns_per_round / 1e3),
      kernel_floor_at_interval_ns: coldFloor.cpu_ns_per_round,
      last: { name, payload: payloadSchema.parse(last) },
    };
  } finally {
    agent.kill('SIGKILL');
    await new Promise((r) => agent.once('exit', r));
  }
}

/**
 * systeminformation's collection, run `rounds` times by a Node child in a
 * cgroup of its own: its CPU is the cgroup's (`cpuacct.usage`, or
 * `usage_usec` of cgroup2's `cpu.stat`), which counts the `ps` and `df` it
 * spawns to the nanosecond even after they have exited. (A parent's
 * `cutime` counts children in 10 ms clock ticks, too coarse for a `df`.)
 * One call before the measurement loads its modules. CPU per round, µs.
 */
async function measureSystemInformation(rounds: number): Promise<number> {
  const cg = await makeCgroup(`sm-bench-si-${process.pid}`, 0);
  try {
    const acct = cg.dirs.find((d) => d.includes('/cpuacct/'));
    const unified = cg.dirs.find((d) => d.includes('/unified/'));
    const usageNs = (): number => {
      if (acct !== undefined) return Number(readFileSync(join(acct, 'cpuacct.usage'), 'utf8'));
      if (unified !== undefined) return Number(/^usage_usec (\d+)$/m.exec(readFileSync(join(unified, 'cpu.stat'), 'utf8'))?.[1] ?? NaN) * 1e3;
      throw new Error('bench:agent measures systeminformation by its cgroup CPU: no cpuacct or cgroup2 hierarchy here');
    };
    const script = [
      "const m = await import('systeminformation'); const si = m.default ?? m;",
      "const call = () => Promise.all([si.currentLoad(), si.mem(), si.networkStats('*'), si.fsSize(), si.processes(), si.disksIO()]);",
      'await call();',
      "process.stdout.write('ready\\n');",
      "process.stdin.once('data', async () => { for (let i = 0; i < Number(process.argv[1]); i++) await call(); process.stdout.write('done\\n'); });",
    ].join('\n');
    const joins = cg.dirs.map((d) => `echo $$ > ${d}/cgroup.procs`).join(' && ');
    const child = spawn('sh', ['-c', `${joins} && exec "$0" --input-type=module -e "$1" "$2"`, process.execPath, script, String(rounds)], { cwd: REPO, stdio: ['pipe', 'pipe', 'inherit'] });
    try {
      const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
      const line = async (want: string): Promise<void> => {
        for (;;) {
          const next = await lines.next();
          if (next.done === true) throw new Error(`systeminformation child: ended before "${want}" (exit ${child.exitCode})`);
          if (next.value === want) return;
        }
      };
      await line('ready');
      const c0 = usageNs();
      child.stdin.write('go\n');
      await line('done');
      return Math.round((usageNs() - c0) / 1e3 / rounds);
    } finally {
      child.kill('SIGKILL');
      if (child.exitCode === null && child.signalCode === null) await new Promise((r) => child.once('exit', r));
    }
  } finally {
    await cg.cleanup();
  }
}

function parseArgs(argv: string[]): { seconds: number; siRounds: number; sizes: number[]; bins: string[]; interval: number; warmup: number } {
  const bins: string[] = [];
  const plain: string[] = [];
  let sizes = [1, 20, 200];
  let interval = 1;
  let warmup = DEFAULT_WARMUP_TICKS;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? '';
    if (a === '--bin') bins.push(argv[++i] ?? '');
    else if (a === '--sizes') sizes = (argv[++i] ?? '').split(',').map(Number);
    else if (a === '--interval') interval = Number(argv[++i] ?? 1);
    else if (a === '--warmup') warmup = Number(argv[++i] ?? DEFAULT_WARMUP_TICKS);
    else plain.push(a);
  }
  if (bins.length === 0) bins.push(join(REPO, 'dist/system-monitor/system-monitor'));
  for (const b of bins) if (!existsSync(b)) throw new Error(`${b} is missing: run \`npm run build\` first`);
  if (!Number.isInteger(warmup) || warmup < 3) throw new Error(`--warmup: at least 3 ticks (the start-up pages are released at the third), got ${warmup}`);
  return { seconds: Number(plain[0] ?? 20), siRounds: Number(plain[1] ?? 10), sizes, bins, interval, warmup };
}

async function main(): Promise<void> {
  const { seconds, siRounds, sizes, bins, interval, warmup } = parseArgs(process.argv.slice(2));
  const server = new RedisServer(await freePort());
  await server.start();
  const sub = new Redis({ port: server.port, host: '127.0.0.1' });
  await sub.subscribe(METRICS_CHANNEL);
  const rows: (TickFigures & { size: number; systeminformation_cpu_us: number; floors: { node: WriteFloor; c: WriteFloor } })[] = [];
  try {
    for (const size of sizes) {
      const cg = await makeCgroup(`sm-bench-${process.pid}-${size}`, size);
      try {
        const siUs = await measureSystemInformation(siRounds);
        const measured: TickFigures[] = [];
        for (const [i, bin] of bins.entries()) {
          process.stderr.write(`size ${size}, ${bin}\n`);
          measured.push(await measureAgent(bin, cg, server.port, sub, seconds, interval, warmup, `${size}-${i}`));
        }
        // The write floors send the first build's last sample, once per interval, after the agents have stopped.
        const sample = measured[0]?.last;
        if (sample === undefined) throw new Error('no agent measured');
        process.stderr.write(`size ${size}, write floors\n`);
        const floors = await writeFloors(REPO, { port: server.port, intervalMs: interval * 1000, ticks: seconds, commands: tickCommands([sample], Date.now()), payloads: [sample.payload] });
        for (const m of measured) {
          rows.push({ size, ...m, systeminformation_cpu_us: siUs, floors });
        }
      } finally {
        await cg.cleanup();
      }
    }
  } finally {
    sub.disconnect();
    await server.stop();
  }

  const byBin = bins.map((bin) => {
    const mine = rows.filter((r) => r.bin === bin);
    const at = (n: number): (typeof rows)[number] | undefined => mine.find((r) => r.size === n);
    const small = at(20);
    const big = at(200);
    const perProcess = small !== undefined && big !== undefined ? Number(((big.cpu_per_tick_us - small.cpu_per_tick_us) / (big.size - small.size)).toFixed(1)) : null;
    return {
      bin,
      sizes: mine.map((r) => {
        // The least a whole tick can cost: it must read (the kernel's part at the interval) and wake and write (the write floor), in the release's Node or in C.
        const least = leastTicks(r.kernel_floor_at_interval_ns, r.floors);
        return {
        ordinary_processes: r.size,
        processes_counted: r.processes_in_cgroup,
        fds_counted: r.fds_in_cgroup,
        ticks: r.ticks,
        cpu_per_tick_us: r.cpu_per_tick_us,
        collect_ms_median: r.collect_ms_median,
        processes_collector_ms_median: r.processes_collector_ms_median,
        vmrss_mb: r.vmrss_mb,
        kernel_floor_files: r.kernel_floor_files,
        kernel_floor_us: r.kernel_floor_us,
        whole_tick_over_kernel_floor: Number((r.cpu_per_tick_us / r.kernel_floor_us).toFixed(1)),
        kernel_floor_at_interval_us: Math.round(r.kernel_floor_at_interval_ns / 1e3),
        whole_tick_over_kernel_floor_at_interval: Number(((r.cpu_per_tick_us * 1e3) / r.kernel_floor_at_interval_ns).toFixed(1)),
        write_floor_node_us: Math.round(r.floors.node.cpu_ns_per_tick / 1e3),
        write_floor_c_us: Math.round(r.floors.c.cpu_ns_per_tick / 1e3),
        least_tick_node_us: Math.round(least.node / 1e3),
        least_tick_c_us: Math.round(least.c / 1e3),
        whole_tick_over_least_tick_node: Number(((r.cpu_per_tick_us * 1e3) / least.node).toFixed(1)),
        systeminformation_cpu_us: r.systeminformation_cpu_us,
        ratio_systeminformation_over_whole_tick: Number((r.systeminformation_cpu_us / r.cpu_per_tick_us).toFixed(1)),
        // The issue's own comparison: collection against collection (ours is the sampler's wall time, all synchronous reads and parsing on one thread).
        ratio_systeminformation_over_collect: Number((r.systeminformation_cpu_us / 1e3 / r.collect_ms_median).toFixed(1)),
        };
      }),
      extra_us_per_process_20_to_200: perProcess,
    };
  });
  process.stdout.write(
    `${JSON.stringify(
      {
        machine: { node: process.version, load_average: readFileSync('/proc/loadavg', 'utf8').trim() },
        method: `agent at INTERVAL_SECONDS=${interval} in a cgroup with N sleeping processes (${EXTRA_FDS} extra fds each); CPU of all its threads over ${seconds} published ticks after ${warmup} warm-up ticks; kernel floor: CPU of one pread (fstat for a directory) of every kernel file the agent keeps open, by scripts/kernel-floor.c, back to back and (at_interval) 5 rounds one interval apart; write floors: CPU per tick of waking once per interval and writing the last sample's commands (encoded once) on a plain socket, awaiting the replies, ${seconds} ticks, by scripts/write-floor.mjs in the release's Node and flags (which also JSON.stringify()s the sample each tick) and by scripts/write-floor.c; least_tick = kernel floor at the interval + write floor; systeminformation: mean CPU of ${siRounds} rounds by its cgroup, children included`,
        results: byBin,
        targets: '<= 1000 us per tick at 20 processes; <= 15 us per extra process; VmRSS <= 48 MB; systeminformation >= 10x our collection',
      },
      null,
      2,
    )}\n`,
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
