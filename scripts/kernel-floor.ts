/**
 * The peer of the tick benchmarks (`bench:agent`, `bench:host`): what the
 * kernel alone costs to hand over the files a running agent reads every
 * tick. The files are the agent's own kept descriptors (`/proc/PID/fd`),
 * which are exactly the cgroup and /proc files it re-reads each tick; the
 * few it opens anew each time (`cgroup.procs`, `/proc/self/stat`) and its
 * `statfs` are left out, so the figure is a lower bound. A small C program
 * (`kernel-floor.c`, built here with `cc`) reads them all the way the agent
 * does, round after round, with no parsing: agent ÷ floor is what the
 * runtime and the agent's own code add on top of the kernel.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readlinkSync } from 'node:fs';
import { z } from 'zod';
import { benchBinary } from './bench-c.js';

const FloorOutput = z.object({ files: z.number().int(), unreadable: z.number().int(), rounds: z.number().int(), gap_ms: z.number().int(), cpu_ns_per_round: z.number() });
export type KernelFloor = z.infer<typeof FloorOutput>;

/** Kernel files `pid` holds open: cgroupfs and procfs paths among its descriptors (sockets, pipes and its own executable left out). */
export function keptKernelFiles(pid: number): string[] {
  const out: string[] = [];
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    let target: string;
    try {
      target = readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue; // closed between the listing and the readlink
    }
    if (target.startsWith('/sys/fs/cgroup/') || /^\/proc\/\d+\//.test(target) || /^\/proc\/[a-z]+$/.test(target)) out.push(target);
  }
  return out;
}

/**
 * CPU the kernel takes to serve `files` once each (ns per round, median of
 * `repeats` runs of `rounds` rounds). Back to back (`gapMs` 0) the kernel's
 * data and the CPU's caches stay hot; with the agent's interval as `gapMs`
 * each round finds them as cold as the agent's tick does (~40 % dearer for
 * the host agent's files at 1 s on the 2-core test VM).
 */
export function kernelFloor(repo: string, files: readonly string[], rounds = 200, repeats = 3, gapMs = 0): KernelFloor {
  const bin = benchBinary(repo, 'kernel-floor');
  const runs: KernelFloor[] = [];
  for (let i = 0; i < repeats; i++) {
    const r = spawnSync(bin, [String(rounds), String(gapMs)], { input: `${files.join('\n')}\n`, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`kernel-floor failed (${r.status}): ${r.stderr}`);
    runs.push(FloorOutput.parse(JSON.parse(r.stdout)));
  }
  runs.sort((a, b) => a.cpu_ns_per_round - b.cpu_ns_per_round);
  const mid = runs[Math.floor(runs.length / 2)];
  if (mid === undefined) throw new Error('kernel-floor: no run');
  return mid;
}

/** The floor of the kernel files `pid` keeps open, back to back and at `intervalS` (5 rounds one interval apart). */
export function kernelFloors(repo: string, pid: number, intervalS: number): { hot: KernelFloor; atInterval: KernelFloor } {
  const kept = keptKernelFiles(pid);
  return { hot: kernelFloor(repo, kept), atInterval: kernelFloor(repo, kept, 5, 1, intervalS * 1000) };
}
