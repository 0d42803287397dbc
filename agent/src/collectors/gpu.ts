import type { Logger } from 'pino';
import type { AgentConfig } from '../config.js';
import { nvmlMayBeFound } from '../gpu/library-visible.js';
import { GpuRunner, type GpuRunnerOptions } from '../gpu/runner.js';

/**
 * The GPU block's source: NVML read by the agent's own worker process
 * (agent/src/gpu/). Unlike the other collectors it is asynchronous and
 * bounded by a deadline, so the Sampler starts it before the others and
 * awaits it last. The worker is started here so its start-up is not inside
 * the first sample; `close()` it when sampling ends.
 *
 * With `deferWhenAbsent` (the `run` command) and no NVML library visible on
 * this host, the worker is not started here: the first sample is published
 * without waiting for it (its GPU block would be empty anyway), and the
 * caller starts it after that publish so it can confirm.
 */
export function createGpuSource(config: AgentConfig, log: Logger, overrides: Partial<GpuRunnerOptions> = {}, opts: { deferWhenAbsent?: boolean } = {}): GpuRunner {
  const deferStart =
    opts.deferWhenAbsent === true && !nvmlMayBeFound({ explicit: config.nvmlLibraryPath, ldLibraryPath: (overrides.env ?? process.env).LD_LIBRARY_PATH });
  const runner = new GpuRunner({
    log,
    libraryPath: config.nvmlLibraryPath,
    deadlineMs: config.gpuDeadlineMs,
    pidMap: { hostProc: config.hostProc, procRoot: config.procRoot },
    deferStart,
    ...overrides,
  });
  if (!deferStart) runner.start();
  return runner;
}
