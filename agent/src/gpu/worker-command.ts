import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { NVML_WORKER_NAME } from '../../native/build-worker.mjs';
import { releaseHome } from '../release/home.js';
import { sourceWorker } from './source-worker.js';

export interface WorkerCommand {
  command: string;
  args: string[];
}

export interface SelfFacts {
  /** process.argv[1]: the TypeScript entry under tsx, the bundle, or the single executable itself. */
  script: string | undefined;
  /** The release directory when running from one. */
  releaseHome: string | null;
}

export interface WorkerLookup {
  exists: (path: string) => boolean;
  /** Compiles the C source when running from TypeScript (source-worker.ts). */
  compile: (source: string) => string;
}

/**
 * How the agent starts its NVML worker, the C program agent/native/nvml-worker.c
 * (docs/gpu.md, decision 2):
 * - from a release, libexec/system-monitor-nvml through the release's own
 *   glibc loader and libraries, as the launcher starts the agent, so it runs
 *   in musl-only and empty images too;
 * - beside the program otherwise (the bundle's dist/system-monitor-nvml, built with it);
 * - from TypeScript source, compiled from agent/native/ on first use.
 * Throws when none applies, with what to do.
 */
export function workerCommand(self: SelfFacts, lookup: WorkerLookup = { exists: existsSync, compile: sourceWorker }): WorkerCommand {
  if (self.releaseHome !== null) {
    const lib = join(self.releaseHome, 'lib');
    return { command: join(lib, 'ld-linux-x86-64.so.2'), args: ['--library-path', lib, '--argv0', NVML_WORKER_NAME, join(self.releaseHome, 'libexec', NVML_WORKER_NAME)] };
  }
  if (self.script === undefined) throw new Error(`the NVML worker (${NVML_WORKER_NAME}) cannot be found without the program's path: run the agent from its release directory`);
  const beside = join(dirname(self.script), NVML_WORKER_NAME);
  if (lookup.exists(beside)) return { command: beside, args: [] };
  if (self.script.endsWith('.ts')) return { command: lookup.compile(join(dirname(self.script), '..', 'native', 'nvml-worker.c')), args: [] };
  throw new Error(`the NVML worker ${beside} is missing: it is built with the agent (npm run build); run the agent from its release directory`);
}

export function selfWorkerCommand(): WorkerCommand {
  return workerCommand({ script: process.argv[1], releaseHome: releaseHome() });
}
