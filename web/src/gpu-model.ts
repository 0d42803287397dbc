import type { Gpu } from '../../shared/src/payload.js';
import { extremes, type Extremes } from './compare.js';
import { percentOf } from './format.js';

/** A GPU as the page shows it: the board and the container that reported it. */
export interface GpuEntry {
  id: string;
  container: string;
  /** The reporting container's status: a stale container's GPU figures are its last known ones. */
  status: string;
  gpu: Gpu;
}

export const COMPARE_METRICS = ['utilization', 'memory_used_percent', 'temperature', 'power', 'power_percent', 'clock_sm', 'fan'] as const;
export type CompareMetric = (typeof COMPARE_METRICS)[number];

export const COMPARE_LABELS: Record<CompareMetric, string> = {
  utilization: 'Utilization %',
  memory_used_percent: 'Memory used %',
  temperature: 'Temperature °C',
  power: 'Power W',
  power_percent: 'Power % of limit',
  clock_sm: 'SM clock MHz',
  fan: 'Fan %',
};

export function compareValues(g: Gpu): Record<CompareMetric, number | null> {
  return {
    utilization: g.utilization_percent,
    memory_used_percent: percentOf(g.memory_used_bytes, g.memory_total_bytes),
    temperature: g.temperature_c,
    power: g.power_watts,
    power_percent: percentOf(g.power_watts, g.power_limit_watts),
    clock_sm: g.clock_sm_mhz,
    fan: g.fan_percent,
  };
}

/** Highest/lowest of each compare metric across the GPUs. */
export function compareGpus(entries: readonly GpuEntry[]): Record<CompareMetric, Extremes> {
  return extremes(
    entries.map((e) => ({ id: e.id, values: compareValues(e.gpu) })),
    COMPARE_METRICS,
  );
}
