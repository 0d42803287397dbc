import { locateCgroup } from './cgroup/locate.js';
import type { AgentEnv } from './collectors/types.js';
import type { AgentConfig } from './config.js';
import { monoNs } from './rate.js';

/** Locates the cgroup and fixes the environment every collector reads from. */
export function buildAgentEnv(config: AgentConfig, overrides: { intervalMs?: number } = {}): AgentEnv {
  const intervalMs = overrides.intervalMs ?? config.intervalMs;
  return {
    procRoot: config.procRoot,
    sysRoot: config.sysRoot,
    cgroup: locateCgroup({ procRoot: config.procRoot, cgroupRoot: config.cgroupRoot, cgroupPath: config.cgroupPath }),
    intervalMs,
    minRateDeltaNs: BigInt(Math.round(intervalMs * 1e6 * 0.5)),
    diskPaths: config.diskPaths,
    clock: monoNs,
    loadTaskReads: config.loadTaskReads,
  };
}
