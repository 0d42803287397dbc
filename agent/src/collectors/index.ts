import type { AnyCollector } from '../sampler.js';
import type { AgentEnv } from './types.js';
import { createCpuCollector } from './cpu.js';
import { createDiskCollector } from './disk.js';
import { createIoCollector } from './io.js';
import { createMemoryCollector } from './memory.js';
import { createNetworkCollector } from './network.js';
import { createPidsCollector } from './pids.js';
import { createPressureCollector } from './pressure.js';
import { createProcessesCollector, type ProcessesOptions } from './processes.js';
import { createSystemCollector } from './system.js';

/** Every collector, in the order they run within a sample. */
export function createCollectors(env: AgentEnv, opts: { processes?: ProcessesOptions } = {}): AnyCollector[] {
  return [
    createCpuCollector(env),
    createMemoryCollector(env),
    createIoCollector(env),
    createPidsCollector(env),
    createPressureCollector(env),
    createNetworkCollector(env),
    createProcessesCollector(env, opts.processes),
    createSystemCollector(env),
    createDiskCollector(env),
  ];
}
