/**
 * Compares the agent's GPU block with nvidia-smi, field by field, on a
 * machine with a real NVIDIA GPU:
 *
 *   npx tsx scripts/gpu-compare.ts [--library /path/libnvidia-ml.so.1] [--rounds 5]
 *
 * Each round reads the agent's block (through the same NVML worker process
 * the agent uses) and `nvidia-smi --query-gpu=...` right after it, matched by
 * UUID. Identity, memory and P-state must agree exactly (memory in MiB, as
 * nvidia-smi prints it); utilisation, power, temperature and clocks move
 * between two reads, so they must agree within a tolerance in the median
 * round. Prints a table; exits 0 when everything agrees, 1 on a mismatch, 2
 * when the comparison cannot run (no nvidia-smi, no GPU, NVML unusable).
 * Not part of `npm test`: the test machines have no GPU.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import type { Gpu } from '../shared/src/payload.js';
import { GpuRunner } from '../agent/src/gpu/runner.js';
import { workerCommand } from '../agent/src/gpu/worker-command.js';

const QUERY = 'uuid,name,memory.total,memory.used,utilization.gpu,temperature.gpu,power.draw,power.limit,clocks.sm,clocks.mem,pstate';
const MAIN = fileURLToPath(new URL('../agent/src/main.ts', import.meta.url));
const MiB = 1024 * 1024;

type SmiRow = Record<string, string>;

function fail(message: string, code = 2): never {
  process.stderr.write(`gpu-compare: ${message}\n`);
  process.exit(code);
}

function args(): { library: string | null; rounds: number } {
  const argv = process.argv.slice(2);
  let library: string | null = process.env.NVML_LIBRARY_PATH ?? null;
  let rounds = 5;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--library') library = argv[++i] ?? fail('--library needs a path');
    else if (a === '--rounds') rounds = Number(argv[++i]);
    else fail(`unknown argument ${a ?? ''} (usage: gpu-compare.ts [--library <path>] [--rounds <n>])`);
  }
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > 100) fail('--rounds must be a whole number from 1 to 100');
  return { library, rounds };
}

/** `nvidia-smi --format=csv,noheader,nounits` lines → rows keyed by the query's field names. */
function parseSmi(text: string): SmiRow[] {
  const fields = QUERY.split(',');
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((line) => {
      const values = line.split(',').map((v) => v.trim());
      if (values.length !== fields.length) fail(`nvidia-smi printed ${values.length} columns, expected ${fields.length}: ${line}`);
      return Object.fromEntries(fields.map((f, i) => [f, values[i] ?? '']));
    });
}

function querySmi(): SmiRow[] {
  const r = spawnSync('nvidia-smi', [`--query-gpu=${QUERY}`, '--format=csv,noheader,nounits'], { encoding: 'utf8', timeout: 30_000 });
  if (r.error !== undefined) {
    const code = (r.error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') fail('nvidia-smi not found on PATH: run this on a machine with the NVIDIA driver installed (and, in a container, NVIDIA_DRIVER_CAPABILITIES including "utility")');
    fail(`running nvidia-smi failed: ${r.error.message}`);
  }
  if (r.status !== 0) fail(`nvidia-smi exited with ${r.status}: ${r.stderr.trim() || r.stdout.trim()}`);
  return parseSmi(r.stdout);
}

/** nvidia-smi prints "[N/A]" or "[Not Supported]" where NVML has no value. */
function smiNumber(v: string | undefined): number | null {
  if (v === undefined || v.startsWith('[')) return null;
  const n = Number(v);
  return Number.isFinite(n) ? n : null;
}

interface Check {
  field: string;
  agent: (g: Gpu) => string | number | null;
  smi: (r: SmiRow) => string | number | null;
  /** Allowed absolute difference for a number (0 = exact). */
  tolerance: (smi: number) => number;
  noisy: boolean;
  rule: string;
}

const exact = (): number => 0;
const CHECKS: Check[] = [
  { field: 'name', agent: (g) => g.name, smi: (r) => r.name ?? null, tolerance: exact, noisy: false, rule: 'exact' },
  { field: 'memory.total (MiB)', agent: (g) => mib(g.memory_total_bytes), smi: (r) => smiNumber(r['memory.total']), tolerance: exact, noisy: false, rule: 'exact' },
  { field: 'memory.used (MiB)', agent: (g) => mib(g.memory_used_bytes), smi: (r) => smiNumber(r['memory.used']), tolerance: exact, noisy: false, rule: 'exact' },
  { field: 'pstate', agent: (g) => g.pstate, smi: (r) => (r.pstate?.startsWith('[') ? null : (r.pstate ?? null)), tolerance: exact, noisy: false, rule: 'exact' },
  { field: 'power.limit (W)', agent: (g) => g.power_limit_watts, smi: (r) => smiNumber(r['power.limit']), tolerance: () => 1, noisy: false, rule: '±1 W' },
  { field: 'utilization.gpu (%)', agent: (g) => g.utilization_percent, smi: (r) => smiNumber(r['utilization.gpu']), tolerance: () => 10, noisy: true, rule: '±10 points' },
  { field: 'temperature.gpu (C)', agent: (g) => g.temperature_c, smi: (r) => smiNumber(r['temperature.gpu']), tolerance: () => 2, noisy: true, rule: '±2 °C' },
  { field: 'power.draw (W)', agent: (g) => g.power_watts, smi: (r) => smiNumber(r['power.draw']), tolerance: (s) => Math.max(10, 0.1 * s), noisy: true, rule: '±max(10 W, 10%)' },
  { field: 'clocks.sm (MHz)', agent: (g) => g.clock_sm_mhz, smi: (r) => smiNumber(r['clocks.sm']), tolerance: (s) => Math.max(50, 0.1 * s), noisy: true, rule: '±max(50 MHz, 10%)' },
  { field: 'clocks.mem (MHz)', agent: (g) => g.clock_mem_mhz, smi: (r) => smiNumber(r['clocks.mem']), tolerance: (s) => Math.max(50, 0.1 * s), noisy: true, rule: '±max(50 MHz, 10%)' },
];

/** nvidia-smi's MiB are whole: bytes / 2^20, truncated. */
function mib(bytes: number | null): number | null {
  return bytes === null ? null : Math.floor(bytes / MiB);
}

function agrees(check: Check, a: string | number | null, s: string | number | null): boolean {
  if (a === null || s === null) return a === s;
  if (typeof a === 'number' && typeof s === 'number') return Math.abs(a - s) <= check.tolerance(s);
  return String(a) === String(s);
}

interface RoundResult {
  a: string | number | null;
  s: string | number | null;
  ok: boolean;
}

/** The round to show: for noisy fields the one with the median difference, else the first that disagrees. */
function shownRound(results: RoundResult[], noisy: boolean): RoundResult | undefined {
  if (!noisy) return results.find((x) => !x.ok) ?? results[0];
  const diff = (x: RoundResult): number => (typeof x.a === 'number' && typeof x.s === 'number' ? Math.abs(x.a - x.s) : Infinity);
  return [...results].sort((x, y) => diff(x) - diff(y))[Math.floor(results.length / 2)];
}

async function main(): Promise<void> {
  const { library, rounds } = args();
  querySmi(); // fails early, with the reason, where nvidia-smi is missing
  const runner = new GpuRunner({
    log: pino({ level: 'warn' }, pino.destination(2)),
    libraryPath: library,
    deadlineMs: 10_000,
    pidMap: { hostProc: null, procRoot: '/proc' },
    command: workerCommand({ script: MAIN, releaseHome: null }),
  });
  try {
    if (!(await runner.ready())) fail('the NVML worker did not start');
    // pairs[uuid][round] = [agent entry, nvidia-smi row]
    const pairs = new Map<string, [Gpu, SmiRow][]>();
    for (let round = 0; round < rounds; round++) {
      const block = await runner.collect();
      if (block.error !== null) fail(`the agent could not read NVML: ${block.error}`);
      const smi = querySmi();
      if (block.gpus.length === 0) fail('the agent found no GPU (no library, or no GPU visible): nothing to compare');
      for (const g of block.gpus.filter((x) => x.parent_uuid === null)) {
        const row = smi.find((r) => r.uuid === g.uuid);
        if (row === undefined) fail(`nvidia-smi does not list ${g.uuid} (it lists ${smi.map((r) => r.uuid).join(', ')})`, 1);
        const list = pairs.get(g.uuid) ?? [];
        list.push([g, row]);
        pairs.set(g.uuid, list);
      }
      await new Promise((r) => setTimeout(r, 200));
    }

    let mismatches = 0;
    const table: string[][] = [['gpu', 'field', 'agent', 'nvidia-smi', 'rule', 'result']];
    for (const [uuid, list] of pairs) {
      for (const check of CHECKS) {
        // Exact fields must agree in every round; noisy ones in at least the median round.
        const results: RoundResult[] = list.map(([g, r]) => ({ a: check.agent(g), s: check.smi(r), ok: agrees(check, check.agent(g), check.smi(r)) }));
        const ok = check.noisy ? results.filter((x) => x.ok).length * 2 >= results.length : results.every((x) => x.ok);
        const shown = shownRound(results, check.noisy);
        if (!ok) mismatches += 1;
        table.push([uuid.slice(0, 12), check.field, String(shown?.a ?? 'null'), String(shown?.s ?? 'null'), check.rule, ok ? 'ok' : 'MISMATCH']);
      }
    }
    const widths = table[0]?.map((_, i) => Math.max(...table.map((row) => (row[i] ?? '').length))) ?? [];
    for (const row of table) process.stdout.write(`${row.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ')}\n`);
    process.stdout.write(`\n${pairs.size} GPU(s), ${rounds} round(s): ${mismatches === 0 ? 'the agent agrees with nvidia-smi' : `${mismatches} mismatch(es)`}\n`);
    process.exitCode = mismatches === 0 ? 0 : 1;
  } finally {
    await runner.close();
  }
}

await main();
