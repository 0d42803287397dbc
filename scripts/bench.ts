/**
 * `npm run bench`: CPU cost of one agent sample (no GPU) on this machine,
 * against systeminformation's equivalent calls measured in the same run.
 * Reports medians and the ratio; results go in BENCHMARKS.md.
 *
 * CPU is counted for this process *and* its waited-for children
 * (/proc/self/stat cutime+cstime), because systeminformation spawns `df`,
 * `ps` and friends; leaving those out would flatter it.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { availableParallelism } from 'node:os';
import { pino } from 'pino';
import si from 'systeminformation';
import { buildAgentEnv } from '../agent/src/agent-env.js';
import { createCollectors } from '../agent/src/collectors/index.js';
import { loadAgentConfig } from '../agent/src/config.js';
import { readText } from '../agent/src/fsread/read-text.js';
import { Sampler } from '../agent/src/sampler.js';

const USER_HZ = 100;

function childCpuUs(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 16 and 17 (cutime, cstime) are at index 13 and 14 after the comm.
  return ((Number(fields[13]) + Number(fields[14])) / USER_HZ) * 1e6;
}

/** This process's CPU, plus its children's for peers that spawn tools. */
function cpuUs(children: boolean): number {
  const u = process.cpuUsage();
  return u.user + u.system + (children ? childCpuUs() : 0);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? 0;
}

/**
 * Children's CPU is read from /proc/self/stat, which itself costs ~25 µs; it
 * is only counted for a peer that spawns processes (the agent spawns none),
 * so the agent's figure does not include the measuring.
 */
async function measure(label: string, n: number, fn: () => Promise<unknown>, children = false): Promise<number[]> {
  for (let i = 0; i < Math.min(20, n); i++) await fn();
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const c0 = cpuUs(children);
    await fn();
    out.push(cpuUs(children) - c0);
  }
  process.stderr.write(`${label}: ${n} runs\n`);
  return out;
}

/**
 * A container-sized cgroup to measure: v1 hierarchies (and the cgroup2 tree)
 * holding three idle processes, like a small service. Needs root; without it
 * the agent's own cgroup is measured and the report says so.
 */
function makeBenchCgroup(): { path: string; cleanup: () => void } | null {
  const name = `sm-bench-${process.pid}`;
  const roots = ['cpu', 'cpuacct', 'memory', 'blkio', 'pids', 'unified'].map((c) => `/sys/fs/cgroup/${c}`).filter((r) => existsSync(join(r, 'cgroup.procs')));
  if (process.getuid?.() !== 0 || roots.length === 0) return null;
  const dirs = roots.map((r) => join(r, name));
  for (const d of dirs) mkdirSync(d);
  const children = [0, 1, 2].map(() => {
    const joins = dirs.map((d) => `echo $$ > ${d}/cgroup.procs`).join(' && ');
    return spawn('sh', ['-c', `${joins} && exec sleep 600`], { stdio: 'ignore' });
  });
  return {
    path: `/${name}`,
    cleanup: () => {
      for (const c of children) c.kill('SIGKILL');
      const until = Date.now() + 5000;
      for (const d of dirs.reverse()) {
        for (;;) {
          try {
            rmdirSync(d);
            break;
          } catch {
            if (Date.now() > until) break;
            spawnSync('sleep', ['0.05']);
          }
        }
      }
    },
  };
}

async function main(): Promise<void> {
  const samples = Number(process.argv[2] ?? 400);
  const siRuns = Number(process.argv[3] ?? 40);
  const bench = makeBenchCgroup();
  try {
    if (bench !== null) await new Promise((r) => setTimeout(r, 300));
    await run(samples, siRuns, bench?.path);
  } finally {
    bench?.cleanup();
  }
}

async function run(samples: number, siRuns: number, cgroupPath: string | undefined): Promise<void> {
  const config = loadAgentConfig({ logLevel: 'silent', cgroupPath }, { ...process.env, CONTAINER_NAME: 'bench' });
  const env = buildAgentEnv(config);
  const sampler = new Sampler(env, createCollectors(env), { containerName: 'bench', version: 'bench', log: pino({ level: 'silent' }) });

  const perCollector = new Map<string, number[]>();
  const agent = await measure('agent sample', samples, async () => {
    const p = await sampler.sample();
    for (const [k, v] of Object.entries(p.agent.collectors)) perCollector.set(k, [...(perCollector.get(k) ?? []), v.ms * 1000]);
  });
  const last = await sampler.sample();

  // The files a sample reads on this host, read alone: the floor any agent pays.
  const files = [
    ...Object.values(last.cgroup.paths).flatMap((d) => ['cpu.stat', 'memory.stat', 'cgroup.procs'].map((f) => `${d}/${f}`)),
    '/proc/net/dev',
    '/proc/loadavg',
    '/proc/uptime',
    '/proc/self/stat',
  ].filter((f) => {
    try {
      readText(f);
      return true;
    } catch {
      return false;
    }
  });
  const raw = await measure('raw reads', samples, () => {
    for (const f of files) readText(f);
    return Promise.resolve();
  });

  const sys = await measure('systeminformation', siRuns, () =>
    Promise.all([si.currentLoad(), si.mem(), si.networkStats('*'), si.fsSize(), si.processes(), si.disksIO()]),
    true,
  );

  const a = median(agent);
  const s = median(sys);
  const report = {
    machine: { cpus: availableParallelism(), node: process.version, cgroup_mode: env.cgroup.mode },
    measured_cgroup: cgroupPath ?? "the agent's own cgroup (not root: no test cgroup made)",
    agent_sample_cpu_us: { median: a, p90: pct(agent, 90), runs: samples, processes: last.process_count },
    agent_collector_wall_us_median: Object.fromEntries([...perCollector].map(([k, v]) => [k, Math.round(median(v))])),
    raw_file_reads_cpu_us: { median: median(raw), files: files.length },
    systeminformation_cpu_us: { median: s, p90: pct(sys, 90), runs: siRuns },
    ratio_systeminformation_over_agent: s / a,
    target: 'agent median <= 500 us CPU; ratio >= 10',
    pass: a <= 500 && s / a >= 10,
  };
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
