/**
 * `npm run bench`: CPU cost of one agent sample (no GPU) on this machine,
 * against systeminformation's equivalent calls measured in the same run.
 * Reports medians and the ratio; results go in BENCHMARKS.md.
 *
 * CPU is counted for this process *and* its waited-for children
 * (/proc/self/stat cutime+cstime), because systeminformation spawns `df`,
 * `ps` and friends; leaving those out would flatter it.
 */
import { readFileSync } from 'node:fs';
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

function cpuUs(): number {
  const u = process.cpuUsage();
  return u.user + u.system + childCpuUs();
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

async function measure(label: string, n: number, fn: () => Promise<unknown>): Promise<number[]> {
  for (let i = 0; i < Math.min(20, n); i++) await fn();
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const c0 = cpuUs();
    await fn();
    out.push(cpuUs() - c0);
  }
  process.stderr.write(`${label}: ${n} runs\n`);
  return out;
}

async function main(): Promise<void> {
  const samples = Number(process.argv[2] ?? 400);
  const siRuns = Number(process.argv[3] ?? 40);
  const config = loadAgentConfig({ logLevel: 'silent' }, { ...process.env, CONTAINER_NAME: 'bench' });
  const env = buildAgentEnv(config);
  const sampler = new Sampler(env, createCollectors(env), { containerName: 'bench', version: 'bench', log: pino({ level: 'silent' }) });

  const agent = await measure('agent sample', samples, () => sampler.sample());
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
  );

  const a = median(agent);
  const s = median(sys);
  const report = {
    machine: { cpus: availableParallelism(), node: process.version, cgroup_mode: env.cgroup.mode },
    agent_sample_cpu_us: { median: a, p90: pct(agent, 90), runs: samples, processes: last.process_count },
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
