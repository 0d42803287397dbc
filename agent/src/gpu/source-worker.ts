import { compileNvmlWorker, NVML_WORKER_NAME, nvmlWorkerCcArgs } from '../../native/build-worker.mjs';
import { compileCached } from '../release/compile-cached.js';

/**
 * The NVML worker for an agent that runs from its TypeScript source (tsx,
 * the tests): compiled from agent/native/nvml-worker.c on first use into the
 * checkout's .cache/, the same program the release ships. Throws when it
 * cannot be compiled (no cc).
 */
export function sourceWorker(source: string): string {
  return compileCached({ source, name: NVML_WORKER_NAME, ccArgs: nvmlWorkerCcArgs, compile: compileNvmlWorker });
}
