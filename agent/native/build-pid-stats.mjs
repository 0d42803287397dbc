// How the per-process reader (agent/native/pid-stats.c) is compiled: by
// scripts/build.mjs into the release's lib/ and beside the bundle, and on
// first use when the agent runs from its TypeScript source
// (agent/src/procfs/native-pid-stats.ts). Plain JavaScript, because
// scripts/build.mjs runs without tsx.
import { execFileSync } from 'node:child_process';

/** The shared library's file name (release: lib/, bundle: beside dist/agent.cjs). */
export const PID_STATS_LIB_NAME = 'system-monitor-pid-stats.so';

/** cc arguments: a position-independent shared library that needs only libc. */
export function pidStatsCcArgs(source, out) {
  return ['-std=gnu11', '-O2', '-s', '-shared', '-fPIC', '-Wall', '-Wextra', '-Werror', '-o', out, source];
}

/** Compiles source into out with the machine's cc; throws with the compiler's output or the advice to install one. */
export function compilePidStats(source, out) {
  try {
    execFileSync('cc', pidStatsCcArgs(source, out), { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    if (err.code === 'ENOENT') {
      throw new Error(`the per-process reader is compiled from ${source} with cc, which was not found: install a C compiler (Debian: gcc and libc6-dev)`);
    }
    throw new Error(`compiling the per-process reader from ${source} failed: ${err.stderr?.toString() || err.message}`);
  }
}
