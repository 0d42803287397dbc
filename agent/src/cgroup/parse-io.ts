import { countToken, ParseError, parseBigIntToken } from './values.js';

/**
 * Block I/O counter files: cgroup v2 `io.stat` and cgroup v1
 * `blkio.throttle.io_service_bytes[_recursive]` / `io_serviced[_recursive]`.
 * Devices are keyed by their `MAJ:MIN` id as the kernel prints it.
 */

/** One device's read and write counters (bytes or operations). */
export interface ReadWrite {
  read: number;
  write: number;
}

/** Per-device counters from one file, keyed by `MAJ:MIN`. */
export type DeviceCounters = Map<string, ReadWrite>;

/** What a v2 `io.stat` holds: bytes and operations per device. */
export interface IoStat {
  bytes: DeviceCounters;
  ops: DeviceCounters;
}

const DEVICE_ID = /^\d+:\d+$/;

/**
 * v2 `io.stat`: `MAJ:MIN rbytes=.. wbytes=.. rios=.. wios=.. dbytes=.. dios=..`.
 * Keys come in any order and newer kernels add more (`cost.*`, `io.latency`
 * fields with non-integer values), so only the four we use are validated.
 * A device line may carry no keys at all (the kernel prints the device before
 * its stats); absent keys are 0.
 */
export function parseIoStat(text: string, what: string): IoStat {
  const bytes: DeviceCounters = new Map();
  const ops: DeviceCounters = new Map();
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const tokens = (lines[i] ?? '').trim().split(/\s+/);
    const device = tokens[0] ?? '';
    if (device === '') continue;
    const where = (): string => `${what} line ${i + 1}`;
    if (!DEVICE_ID.test(device)) {
      throw new ParseError(`${where()}: expected MAJ:MIN, got ${JSON.stringify(device.slice(0, 40))}`);
    }
    const b: ReadWrite = { read: 0, write: 0 };
    const o: ReadWrite = { read: 0, write: 0 };
    for (let t = 1; t < tokens.length; t++) {
      const token = tokens[t] ?? '';
      const eq = token.indexOf('=');
      if (eq <= 0) throw new ParseError(`${where()}: expected key=value, got ${JSON.stringify(token.slice(0, 40))}`);
      const key = token.slice(0, eq);
      const target = KEY_TARGETS[key];
      if (target === undefined) continue;
      const value = countToken(token.slice(eq + 1), () => `${where()} ${key}`);
      const pair = target[0] === 'bytes' ? b : o;
      pair[target[1]] = value;
    }
    bytes.set(device, b);
    ops.set(device, o);
  }
  return { bytes, ops };
}

const KEY_TARGETS: Partial<Record<string, readonly ['bytes' | 'ops', keyof ReadWrite]>> = {
  rbytes: ['bytes', 'read'],
  wbytes: ['bytes', 'write'],
  rios: ['ops', 'read'],
  wios: ['ops', 'write'],
};

/**
 * v1 `blkio.throttle.io_service_bytes` / `io_serviced` (and `_recursive`):
 * `MAJ:MIN Read|Write|Sync|Async|Discard|Total N` lines and a final `Total N`
 * without a device. Only Read and Write are used (Sync/Async split the same
 * I/O another way, Total is their sum). An empty file means no I/O recorded.
 */
export function parseBlkioThrottle(text: string, what: string): DeviceCounters {
  const out: DeviceCounters = new Map();
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] ?? '').trim();
    if (line === '') continue;
    const where = `${what} line ${i + 1}`;
    const tokens = line.split(/\s+/);
    if (tokens.length === 2 && tokens[0] === 'Total') {
      parseBigIntToken(tokens[1] ?? '', where);
      continue;
    }
    const [device = '', op = '', value = ''] = tokens;
    if (tokens.length !== 3 || !DEVICE_ID.test(device)) {
      throw new ParseError(`${where}: expected "MAJ:MIN Op N" or "Total N", got ${JSON.stringify(line.slice(0, 60))}`);
    }
    const n = countToken(value, () => `${where} ${op}`);
    let pair = out.get(device);
    if (pair === undefined) {
      pair = { read: 0, write: 0 };
      out.set(device, pair);
    }
    if (op === 'Read') pair.read = n;
    else if (op === 'Write') pair.write = n;
  }
  return out;
}

/** Orders `MAJ:MIN` ids numerically (major, then minor). */
export function compareDeviceIds(a: string, b: string): number {
  const [aMaj = 0, aMin = 0] = a.split(':').map(Number);
  const [bMaj = 0, bMin = 0] = b.split(':').map(Number);
  return aMaj - bMaj || aMin - bMin;
}
