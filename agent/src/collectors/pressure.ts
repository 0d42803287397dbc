import { join } from '../fsread/join.js';
import type { PressureBlock, PressureLine, PressureResource } from '../../../shared/src/payload.js';
import { parsePressure, type PressureFigures } from '../cgroup/parse-pressure.js';
import { FileReadError, readText } from '../fsread/read-text.js';
import { CounterRates, percentOf } from '../rate.js';
import type { AgentEnv, Collector, CollectorReport } from './types.js';

/**
 * Pressure stall information (docs/measurement.md §5) for cpu, memory and io. PSI
 * exists only in the cgroup2 tree, so hybrid hosts read it from the unified
 * hierarchy even though their controllers are v1. Beside the kernel's avg10
 * the block carries the exact share of the last interval, 100 × Δtotal / Δt.
 */

const RESOURCES = ['cpu', 'memory', 'io'] as const;
type Resource = (typeof RESOURCES)[number];

/** How a failed read of a `*.pressure` file is reported. */
export type PressureReadVerdict = { kind: 'unsupported'; reason: string } | { kind: 'failed'; error: unknown };

/**
 * A missing file or a read the kernel refuses is the platform saying "no PSI"
 * (a kernel built with CONFIG_PSI but booted with psi=0 keeps the files and
 * answers EOPNOTSUPP); anything else is a failure.
 */
export function classifyPressureReadError(err: unknown, path: string): PressureReadVerdict {
  if (err instanceof FileReadError && err.missing) {
    return {
      kind: 'unsupported',
      reason: `${path} missing (kernel < 4.20 or built without CONFIG_PSI, or PSI switched off for this cgroup)`,
    };
  }
  if (err instanceof FileReadError && err.unsupported) {
    return { kind: 'unsupported', reason: `${path}: ${err.code} (PSI disabled: psi=0 boot option)` };
  }
  return { kind: 'failed', error: err };
}

export function createPressureCollector(env: AgentEnv): Collector<'pressure'> {
  const rates = new CounterRates(env.minRateDeltaNs);

  function line(figures: PressureFigures, key: string, atNs: bigint): PressureLine {
    // µs of stall per second of wall time; 1e6 µs/s is 100 %.
    const stallUsPerSec = rates.update(key, figures.totalUs, atNs).rate;
    return {
      avg10: Math.min(100, Math.max(0, figures.avg10)),
      interval_percent: percentOf(stallUsPerSec, 1e6),
      total_seconds: figures.totalUs / 1e6,
    };
  }

  function readResource(dir: string, resource: Resource, report: CollectorReport): PressureResource | null {
    const path = join(dir, `${resource}.pressure`);
    let text: string;
    try {
      text = readText(path);
    } catch (err) {
      const verdict = classifyPressureReadError(err, path);
      if (verdict.kind === 'unsupported') report.unsupported(resource, verdict.reason);
      else report.failed(resource, verdict.error);
      return null;
    }
    const atNs = env.clock();
    try {
      const psi = parsePressure(text, path);
      if (psi.full === null) {
        report.unsupported(`${resource}.full`, `no "full" line in ${path} (cpu: kernel < 5.13)`);
      }
      return {
        some: line(psi.some, `${resource} some`, atNs),
        full: psi.full === null ? null : line(psi.full, `${resource} full`, atNs),
      };
    } catch (err) {
      report.failed(resource, err);
      return null;
    }
  }

  return {
    name: 'pressure',
    collect(_tick, report) {
      const unified = env.cgroup.unified;
      if (unified === null) {
        for (const r of RESOURCES) report.unsupported(r, 'cgroup v1 has no per-cgroup PSI');
        return { cpu: null, memory: null, io: null };
      }
      const block: PressureBlock = { cpu: null, memory: null, io: null };
      for (const r of RESOURCES) block[r] = readResource(unified.dir, r, report);
      return block;
    },
  };
}
