import type { Logger } from 'pino';
import type { AgentConfig } from '../config.js';
import { GpuRunner, type GpuRunnerOptions } from '../gpu/runner.js';

/**
 * The GPU block's source: NVML read by the agent's own worker process
 * (agent/src/gpu/). Unlike the other collectors it is asynchronous and
 * bounded by a deadline, so the Sampler starts it before the others and
 * awaits it last. The worker is started here so its start-up is not inside
 * the first sample; `close()` it when sampling ends.
 */
export function createGpuSource(config: AgentConfig, log: Logger, overrides: Partial<GpuRunnerOptions> = {}): GpuRunner {
  const runner = new GpuRunner({
    log,
    libraryPath: config.nvmlLibraryPath,
    deadlineMs: config.gpuDeadlineMs,
    pidMap: { hostProc: config.hostProc, procRoot: config.procRoot },
    ...overrides,
  });
  runner.start();
  return runner;
}
