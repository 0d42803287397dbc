import type { Tick } from '../../src/collectors/types.js';

/** A Tick with fixed values, for collector unit tests. */
export function fixedTick(opts: { hostCpus?: number; memTotal?: number | null; pids?: number[] } = {}): Tick {
  return {
    hostCpus: () => opts.hostCpus ?? 4,
    hostMemTotal: () => (opts.memTotal === undefined ? 8 * 1024 ** 3 : opts.memTotal),
    containerPids: () => opts.pids ?? [],
  };
}
