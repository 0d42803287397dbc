import { existsSync } from 'node:fs';
import type { Logger } from 'pino';
import { dirname, join } from 'node:path';
import { compilePidStats, PID_STATS_LIB_NAME, pidStatsCcArgs } from '../../native/build-pid-stats.mjs';
import { compileCached } from '../release/compile-cached.js';
import { releaseHome } from '../release/home.js';
import { importKoffi } from '../release/koffi-native.js';
import { assertTrustedCode } from '../release/trust.js';
import { PS_ABI, PS_COMM_SLOT, PS_FIELDS } from './pid-stats-layout.js';

/** The library's calls (pointers are typed arrays, read and written in place). */
export interface NativePidStats {
  /** Where it was loaded from. */
  readonly path: string;
  /** Reads n processes through kept descriptors (stat fd; fd directory fd or -1) into rows and comms; returns how many parsed. */
  read(n: number, statFds: Int32Array, dirFds: Int32Array, rows: Float64Array, comms: Uint8Array): number;
  /** Parses one stat line of `len` bytes into row and comm (the same parser `read` uses); returns row[STATUS]. */
  parse(line: Uint8Array, len: number, row: Float64Array, comm: Uint8Array): number;
}

export interface PidStatsLookup {
  /** The release directory when running from one. */
  releaseHome: string | null;
  /** process.argv[1]: the TypeScript entry under tsx, or the bundle. */
  script: string | undefined;
  exists: (path: string) => boolean;
  /** Compiles the C source when running from TypeScript. */
  compile: (source: string) => string;
}

/** The library compiled from a checkout's agent/native/pid-stats.c (the tests, an agent run by tsx). */
export function compilePidStatsSource(source: string): string {
  return compileCached({ source, name: PID_STATS_LIB_NAME, ccArgs: pidStatsCcArgs, compile: compilePidStats });
}

/**
 * Where the library is: the release's lib/ (checked like any native code
 * it loads), beside the bundle, or compiled from agent/native/ when the agent
 * runs from its TypeScript source. Throws with what to do when none applies.
 */
export function pidStatsLibraryPath(self: PidStatsLookup): string {
  if (self.releaseHome !== null) {
    const file = join(self.releaseHome, 'lib', PID_STATS_LIB_NAME);
    assertTrustedCode(file, self.releaseHome);
    return file;
  }
  if (self.script === undefined) throw new Error(`${PID_STATS_LIB_NAME} cannot be found without the program's path`);
  if (self.script.endsWith('.ts')) return self.compile(join(dirname(self.script), '..', 'native', 'pid-stats.c'));
  const beside = join(dirname(self.script), PID_STATS_LIB_NAME);
  if (self.exists(beside)) return beside;
  throw new Error(`${beside} is missing: it is built with the agent (npm run build)`);
}

/** The library for this process (see {@link pidStatsLibraryPath}). */
export function selfPidStatsPath(): string {
  return pidStatsLibraryPath({ releaseHome: releaseHome(), script: process.argv[1], exists: existsSync, compile: compilePidStatsSource });
}

/**
 * Loads the library through koffi and checks that its row layout is the one
 * this code reads. Throws with the reason (no library, refused by the trust
 * check, another layout, koffi not loadable).
 */
export async function loadNativePidStats(path: string = selfPidStatsPath()): Promise<NativePidStats> {
  const koffi = await importKoffi();
  let lib: ReturnType<typeof koffi.load>;
  try {
    lib = koffi.load(path);
  } catch (err) {
    throw new Error(`${path}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  const abi = lib.func('int sm_pid_stats_abi(void)') as () => number;
  const fields = lib.func('int sm_pid_stats_fields(void)') as () => number;
  const slot = lib.func('int sm_pid_stats_comm_slot(void)') as () => number;
  if (abi() !== PS_ABI || fields() !== PS_FIELDS || slot() !== PS_COMM_SLOT) {
    throw new Error(`${path} has row layout ${abi()} (${fields()} fields, comm ${slot()} bytes), this agent reads layout ${PS_ABI} (${PS_FIELDS}, ${PS_COMM_SLOT}): it is from another build; rebuild (npm run build)`);
  }
  const read = lib.func('int sm_pid_stats(int n, const int32_t *stat_fds, const int32_t *dir_fds, _Inout_ double *rows, _Inout_ uint8_t *comms)') as NativePidStats['read'];
  const parse = lib.func('int sm_parse_pid_stat(const uint8_t *buf, int len, _Inout_ double *row, _Inout_ uint8_t *comm)') as NativePidStats['parse'];
  return { path, read, parse };
}

/**
 * The library for this process, or null with a warning: the agent then reads
 * each process in JavaScript, with the same values at more CPU per process.
 */
export async function nativePidStatsOrNull(log: Pick<Logger, 'warn'>): Promise<NativePidStats | null> {
  try {
    return await loadNativePidStats();
  } catch (err) {
    log.warn({ err }, 'per-process files are read in JavaScript: the native reader could not be loaded (same values, ~20 µs more CPU per process and tick)');
    return null;
  }
}
