// How the NVML worker (agent/native/nvml-worker.c) is compiled: by
// scripts/build.mjs into the release and beside the bundle, and on first use
// when the agent runs from its TypeScript source (agent/src/gpu/source-worker.ts).
// Plain JavaScript, because scripts/build.mjs runs without tsx.
import { execFileSync } from 'node:child_process';

/** The worker program's file name (release: libexec/, bundle: beside dist/agent.cjs). */
export const NVML_WORKER_NAME = 'system-monitor-nvml';

/** cc arguments: a glibc program; libdl for dlopen on glibc before 2.34, libm for pow/ceil. */
export function nvmlWorkerCcArgs(source, out) {
  return ['-std=gnu11', '-O2', '-s', '-Wall', '-Wextra', '-Werror', '-o', out, source, '-ldl', '-lm'];
}

/** Compiles source into out with the machine's cc; throws with the compiler's output or the advice to install one. */
export function compileNvmlWorker(source, out) {
  try {
    execFileSync('cc', nvmlWorkerCcArgs(source, out), { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    if (err.code === 'ENOENT') {
      throw new Error(`the NVML worker is compiled from ${source} with cc, which was not found: install a C compiler (Debian: gcc and libc6-dev)`);
    }
    throw new Error(`compiling the NVML worker from ${source} failed: ${err.stderr?.toString() || err.message}`);
  }
}
