import { join } from 'node:path';
import { LAUNCHER, releaseHome } from '../release/home.js';
import { NVML_WORKER_COMMAND } from './protocol.js';

export interface WorkerCommand {
  command: string;
  args: string[];
}

export interface SelfFacts {
  execPath: string;
  execArgv: readonly string[];
  /** process.argv[1]: the script (TypeScript entry under tsx, or the bundle). */
  script: string | undefined;
  /** Running as a Node single-executable application. */
  sea: boolean;
  /**
   * The release directory when running from one. Its program is then started
   * through the release's own glibc loader, which is what execPath names: the
   * worker must be started through the release's launcher instead.
   */
  releaseHome: string | null;
}

/** Debugger and test-runner flags must not be inherited: a second inspector would fight for the port. */
const NOT_INHERITED = /^--(inspect|debug|test|watch)/;

/**
 * How the agent starts itself as its NVML worker. From a release, through its
 * launcher; a single executable elsewhere has no script (the program is the
 * binary); otherwise the same Node runs the same
 * script with the same loader flags (tsx's `--import`/`--require` from source,
 * nothing extra for the esbuild bundle).
 */
export function workerCommand(self: SelfFacts): WorkerCommand {
  if (self.releaseHome !== null) return { command: join(self.releaseHome, LAUNCHER), args: [NVML_WORKER_COMMAND] };
  if (self.sea || self.script === undefined) return { command: self.execPath, args: [NVML_WORKER_COMMAND] };
  return { command: self.execPath, args: [...self.execArgv.filter((a) => !NOT_INHERITED.test(a)), self.script, NVML_WORKER_COMMAND] };
}

function isSea(): boolean {
  try {
    const sea = process.getBuiltinModule('node:sea') as { isSea?: () => boolean } | undefined;
    return sea?.isSea?.() ?? false;
  } catch {
    return false;
  }
}

export function selfWorkerCommand(): WorkerCommand {
  return workerCommand({ execPath: process.execPath, execArgv: process.execArgv, script: process.argv[1], sea: isSea(), releaseHome: releaseHome() });
}
