import { readFileSync } from 'node:fs';
import * as koffi from 'koffi';
import { mappedLibraryPath } from './library-path.js';
import { NvmlCode } from './nvml-codes.js';

/*
 * Every out-parameter is passed as a Buffer (`void *`) and decoded in
 * decode.ts, so the layouts live in one tested place. `nvmlDevice_t` is an
 * opaque pointer; it travels as `uintptr_t`, which is the same register on
 * LP64 and keeps a handle a plain value the reader can drop on re-init.
 */
const H = 'uintptr_t';
const P = 'void *';

const SYMBOLS = {
  nvmlInit_v2: ['int', []],
  nvmlShutdown: ['int', []],
  nvmlErrorString: ['const char *', ['int']],
  nvmlSystemGetDriverVersion: ['int', [P, 'uint']],
  nvmlSystemGetNVMLVersion: ['int', [P, 'uint']],
  nvmlSystemGetCudaDriverVersion_v2: ['int', [P]],
  nvmlSystemGetCudaDriverVersion: ['int', [P]],
  nvmlDeviceGetCount_v2: ['int', [P]],
  nvmlDeviceGetHandleByIndex_v2: ['int', ['uint', P]],
  nvmlDeviceGetName: ['int', [H, P, 'uint']],
  nvmlDeviceGetUUID: ['int', [H, P, 'uint']],
  nvmlDeviceGetPciInfo_v3: ['int', [H, P]],
  nvmlDeviceGetCudaComputeCapability: ['int', [H, P, P]],
  nvmlDeviceGetUtilizationRates: ['int', [H, P]],
  nvmlDeviceGetMemoryInfo_v2: ['int', [H, P]],
  nvmlDeviceGetMemoryInfo: ['int', [H, P]],
  nvmlDeviceGetTemperatureV: ['int', [H, P]],
  nvmlDeviceGetTemperature: ['int', [H, 'int', P]],
  nvmlDeviceGetPowerUsage: ['int', [H, P]],
  nvmlDeviceGetEnforcedPowerLimit: ['int', [H, P]],
  nvmlDeviceGetTotalEnergyConsumption: ['int', [H, P]],
  nvmlDeviceGetFanSpeed: ['int', [H, P]],
  nvmlDeviceGetClockInfo: ['int', [H, 'int', P]],
  nvmlDeviceGetMaxClockInfo: ['int', [H, 'int', P]],
  nvmlDeviceGetPcieThroughput: ['int', [H, 'int', P]],
  nvmlDeviceGetEncoderUtilization: ['int', [H, P, P]],
  nvmlDeviceGetDecoderUtilization: ['int', [H, P, P]],
  nvmlDeviceGetPerformanceState: ['int', [H, P]],
  nvmlDeviceGetCurrentClocksEventReasons: ['int', [H, P]],
  nvmlDeviceGetCurrentClocksThrottleReasons: ['int', [H, P]],
  nvmlDeviceGetTotalEccErrors: ['int', [H, 'int', 'int', P]],
  nvmlDeviceGetMigMode: ['int', [H, P, P]],
  nvmlDeviceGetMaxMigDeviceCount: ['int', [H, P]],
  nvmlDeviceGetMigDeviceHandleByIndex: ['int', [H, 'uint', P]],
  nvmlDeviceGetComputeRunningProcesses_v3: ['int', [H, P, P]],
  nvmlDeviceGetComputeRunningProcesses_v2: ['int', [H, P, P]],
  // Only looked up, never called: together they identify the 32-byte process stride.
  nvmlDeviceGetConfComputeMemSizeInfo: ['int', [H, P]],
  nvmlDeviceGetRunningProcessDetailList: ['int', [H, P]],
} as const satisfies Record<string, readonly [string, readonly string[]]>;

export type NvmlSymbol = keyof typeof SYMBOLS;

/** Without these NVML is useless: a library lacking one is refused. */
const CRITICAL: readonly NvmlSymbol[] = [
  'nvmlInit_v2',
  'nvmlShutdown',
  'nvmlErrorString',
  'nvmlDeviceGetCount_v2',
  'nvmlDeviceGetHandleByIndex_v2',
  'nvmlDeviceGetName',
  'nvmlDeviceGetUUID',
];

export type NvmlArg = number | bigint | Buffer | null;
type BoundFunction = (...args: NvmlArg[]) => unknown;

/** The loaded library: calls by symbol name, each returning the `nvmlReturn_t`. */
export interface NvmlApi {
  /** The file the library was loaded from. */
  readonly path: string;
  has(symbol: NvmlSymbol): boolean;
  /** Calls a bound symbol; a symbol the library lacks answers FUNCTION_NOT_FOUND. */
  call(symbol: NvmlSymbol, ...args: NvmlArg[]): number;
  errorString(code: number): string;
}

export class NvmlLoadError extends Error {
  constructor(
    message: string,
    readonly searched: string[],
  ) {
    super(message);
    this.name = 'NvmlLoadError';
  }
}

class KoffiNvml implements NvmlApi {
  constructor(
    readonly path: string,
    private readonly fns: ReadonlyMap<NvmlSymbol, BoundFunction>,
  ) {}

  has(symbol: NvmlSymbol): boolean {
    return this.fns.has(symbol);
  }

  call(symbol: NvmlSymbol, ...args: NvmlArg[]): number {
    const fn = this.fns.get(symbol);
    if (fn === undefined) return NvmlCode.FUNCTION_NOT_FOUND;
    const rc = fn(...args);
    return typeof rc === 'number' ? rc : NvmlCode.UNKNOWN;
  }

  errorString(code: number): string {
    const fn = this.fns.get('nvmlErrorString');
    const s = fn === undefined ? null : fn(code);
    return typeof s === 'string' ? s : `error ${code}`;
  }
}

function bind(lib: koffi.LibraryHandle): Map<NvmlSymbol, BoundFunction> {
  const fns = new Map<NvmlSymbol, BoundFunction>();
  for (const [name, [result, params]] of Object.entries(SYMBOLS) as [NvmlSymbol, readonly [string, readonly string[]]][]) {
    try {
      const fn: BoundFunction = lib.func(name, result, [...params]);
      fns.set(name, fn);
    } catch {
      // koffi: "Cannot find function ... in shared library": an older driver; optional symbols fall back.
    }
  }
  return fns;
}

/** What a bare soname resolved to; without /proc the name it was loaded by is the best answer. */
function resolvedPath(soname: string): string {
  try {
    return mappedLibraryPath(readFileSync('/proc/self/maps', 'utf8')) ?? soname;
  } catch {
    return soname;
  }
}

/**
 * Loads the first candidate that dlopen accepts and binds its symbols.
 * Throws NvmlLoadError when none loads or the one that loads lacks a
 * critical symbol.
 */
export function openNvml(candidates: readonly string[]): NvmlApi {
  const errors: string[] = [];
  for (const candidate of candidates) {
    let lib: koffi.LibraryHandle;
    try {
      lib = koffi.load(candidate);
    } catch (err) {
      errors.push(`${candidate}: ${err instanceof Error ? err.message : String(err)}`);
      continue;
    }
    const fns = bind(lib);
    const missing = CRITICAL.filter((s) => !fns.has(s));
    if (missing.length > 0) {
      lib.unload();
      throw new NvmlLoadError(`${candidate} lacks ${missing.join(', ')}: not a usable NVIDIA management library`, [...candidates]);
    }
    return new KoffiNvml(candidate.startsWith('/') ? candidate : resolvedPath(candidate), fns);
  }
  throw new NvmlLoadError(`no NVIDIA management library could be loaded (${errors.join('; ')})`, [...candidates]);
}
