import { locateCgroup } from './cgroup/locate.js';
import type { CgroupLocation } from './cgroup/location.js';
import type { AgentEnv } from './collectors/types.js';
import type { AgentConfig } from './config.js';
import { monoNs } from './rate.js';

/** Locates the cgroup and fixes the environment every collector reads from. */
export function buildAgentEnv(config: AgentConfig, overrides: { intervalMs?: number } = {}): AgentEnv {
  return envFor(config, locateCgroup({ procRoot: config.procRoot, cgroupRoot: config.cgroupRoot, cgroupPath: config.cgroupPath }), overrides);
}

/** The environment for a cgroup already located (the host agent locates each container's). */
export function envFor(config: AgentConfig, cgroup: CgroupLocation, overrides: { intervalMs?: number } = {}): AgentEnv {
  const intervalMs = overrides.intervalMs ?? config.intervalMs;
  return {
    procRoot: config.procRoot,
    sysRoot: config.sysRoot,
    cgroup,
    intervalMs,
    minRateDeltaNs: BigInt(Math.round(intervalMs * 1e6 * 0.5)),
    diskPaths: config.diskPaths,
    clock: monoNs,
    loadTaskReads: config.loadTaskReads,
  };
}
