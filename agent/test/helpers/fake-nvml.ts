import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SOURCE = fileURLToPath(new URL('../fake-nvml/fake-nvml.c', import.meta.url));

/** Build variants of the fake (docs/gpu.md: same source, -D flags imitate older drivers). */
export const FAKE_VARIANTS = {
  current: [],
  'old-driver': ['-DFAKE_OLD_DRIVER'],
  stride32: ['-DFAKE_STRIDE32'],
} as const;
export type FakeVariant = keyof typeof FAKE_VARIANTS;

/**
 * Compiles the fake libnvidia-ml.so.1 with the machine's `cc` into a temp
 * directory (cached by source and flags) and returns its path.
 */
export function buildFakeNvml(variant: FakeVariant = 'current'): string {
  const flags = [...FAKE_VARIANTS[variant]];
  const source = readFileSync(SOURCE);
  const hash = createHash('sha256').update(source).update(flags.join(' ')).digest('hex').slice(0, 16);
  const dir = join(tmpdir(), `fake-nvml-${hash}`);
  const lib = join(dir, 'libnvidia-ml.so.1');
  if (existsSync(lib)) return lib;
  mkdirSync(dir, { recursive: true });
  const tmp = `${lib}.${process.pid}.tmp`;
  try {
    execFileSync('cc', ['-shared', '-fPIC', '-O1', '-Wall', '-Wextra', '-Werror', '-fvisibility=hidden', ...flags, '-Wl,-soname,libnvidia-ml.so.1', '-o', tmp, SOURCE], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (err) {
    const e = err as { code?: string; stderr?: Buffer };
    if (e.code === 'ENOENT') throw new Error('the GPU tests need a C compiler: install gcc and libc6-dev (cc not found)');
    throw new Error(`compiling ${SOURCE} failed: ${e.stderr?.toString() ?? String(err)}`);
  }
  renameSync(tmp, lib);
  return lib;
}

export type FakeConfig = Record<string, string | number | bigint>;

/** A scratch directory with the config file and call log one fake instance uses. */
export class FakeNvmlDir {
  readonly dir = mkdtempSync(join(tmpdir(), 'fake-nvml-run-'));
  readonly configPath = join(this.dir, 'nvml.conf');
  readonly logPath = join(this.dir, 'calls.log');

  constructor(config: FakeConfig) {
    this.write(config);
  }

  /** Replaces the config atomically (a new inode, so the fake sees the change at once). */
  write(config: FakeConfig): void {
    const text = Object.entries(config)
      .map(([k, v]) => `${k} = ${String(v)}\n`)
      .join('');
    const tmp = `${this.configPath}.tmp`;
    writeFileSync(tmp, text);
    renameSync(tmp, this.configPath);
  }

  /** Environment for a process that loads the fake. */
  env(): Record<string, string> {
    return { FAKE_NVML_CONFIG: this.configPath, FAKE_NVML_LOG: this.logPath };
  }

  calls(): FakeCall[] {
    if (!existsSync(this.logPath)) return [];
    return readFileSync(this.logPath, 'utf8')
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => {
        const [pid, symbol, gpu, rc] = l.split(' ');
        return { pid: Number(pid), symbol: symbol ?? '', gpu: gpu === '-' || gpu === undefined ? null : Number(gpu), rc: Number(rc) };
      });
  }

  /** Calls of one symbol (optionally on one GPU). */
  count(symbol: string, opts: { gpu?: number; rc?: number } = {}): number {
    return this.calls().filter((c) => c.symbol === symbol && (opts.gpu === undefined || c.gpu === opts.gpu) && (opts.rc === undefined || c.rc === opts.rc)).length;
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface FakeCall {
  pid: number;
  symbol: string;
  gpu: number | null;
  rc: number;
}

/** Two healthy boards with every metric the fake knows; tests override single keys. */
export function twoGpuConfig(): FakeConfig {
  const gpu = (i: number, over: FakeConfig): FakeConfig =>
    Object.fromEntries(Object.entries(over).map(([k, v]) => [`gpu.${i}.${k}`, v]));
  const common = {
    util_gpu: 37,
    util_mem: 12,
    mem_total: 85899345920,
    mem_used: 21474836480,
    mem_reserved: 536870912,
    temp_c: 54,
    power_mw: 250000,
    power_limit_mw: 700000,
    energy_mj: 123456789,
    fan_pct: 41,
    clock_sm: 1755,
    clock_mem: 2619,
    clock_graphics: 1740,
    max_clock_sm: 1980,
    max_clock_graphics: 1980,
    pcie_tx_kbps: 1000,
    pcie_rx_kbps: 2500,
    enc_pct: 3,
    dec_pct: 4,
    pstate: 0,
    event_reasons: '0x5',
    ecc_corrected: 2,
    ecc_uncorrected: 0,
    mig_mode: 0,
    compute_capability: '9.0',
  };
  return {
    device_count: 2,
    driver_version: '550.54.15',
    nvml_version: '12.550.54.15',
    cuda_driver_version: 12040,
    ...gpu(0, { ...common, uuid: 'GPU-00000000-1111-2222-3333-444444444444', name: 'NVIDIA H100 80GB HBM3', pci_bus_id: '00000000:3B:00.0', procs: '4242:1073741824,4343:NA' }),
    ...gpu(1, {
      ...common,
      uuid: 'GPU-99999999-8888-7777-6666-555555555555',
      name: 'NVIDIA H100 80GB HBM3',
      pci_bus_id: '00000000:86:00.0',
      util_gpu: 81,
      power_mw: 412345,
      temp_c: 61,
      procs: '',
    }),
  };
}
