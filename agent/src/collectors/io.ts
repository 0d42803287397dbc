import { readdirSync } from 'node:fs';
import { join } from '../fsread/join.js';
import type { IoBlock, IoDevice } from '../../../shared/src/payload.js';
import type { Hierarchy } from '../cgroup/location.js';
import { compareDeviceIds, parseBlkioThrottle, parseIoStat, type DeviceCounters } from '../cgroup/parse-io.js';
import { readText, readTextIfExists } from '../fsread/read-text.js';
import { CounterRates } from '../rate.js';
import type { AgentEnv, Collector, CollectorReport } from './types.js';

/**
 * Block I/O of the container (docs/measurement.md §4): cumulative read/write bytes and
 * operations summed over its devices, per-second rates, and the per-device
 * detail. Stacked devices (device-mapper, md) are left out when the devices
 * below them are listed too, so each byte is counted once.
 */

const TOPOLOGY_REFRESH_NS = 60_000_000_000n;
/** Deepest stack followed (dm on md on a partition is 3); guards against a sysfs loop. */
const MAX_STACK_DEPTH = 8;

type Group = 'bytes' | 'ops';
const GROUP_FIELDS: Record<Group, readonly (keyof IoBlock)[]> = {
  bytes: ['read_bytes_total', 'write_bytes_total', 'read_bytes_per_sec', 'write_bytes_per_sec'],
  ops: ['read_ops_total', 'write_ops_total', 'read_ops_per_sec', 'write_ops_per_sec'],
};

/** One file's counters and when they were read, or why there are none. */
type Reading =
  | { ok: true; counters: DeviceCounters; atNs: bigint }
  | { ok: false; unsupported: string }
  | { ok: false; error: unknown };

/**
 * Which block devices sit on which (`/sys/dev/block/MAJ:MIN/slaves/*`). The
 * stack only changes when an admin builds one, so it is read once per device
 * and dropped every minute; a device not seen before is looked up at once.
 */
export class BlockTopology {
  private readonly lowers = new Map<string, readonly string[]>();
  private loadedAt: bigint | null = null;

  constructor(
    private readonly sysRoot: string,
    private readonly clock: () => bigint,
  ) {}

  /**
   * The listed devices that are stacked on other listed devices, directly or
   * through an unlisted layer (dm on md on sda with md absent).
   */
  stackedAmong(devices: ReadonlySet<string>): Set<string> {
    const now = this.clock();
    if (this.loadedAt === null || now - this.loadedAt >= TOPOLOGY_REFRESH_NS || now < this.loadedAt) {
      this.lowers.clear();
      this.loadedAt = now;
    }
    const stacked = new Set<string>();
    for (const device of devices) {
      if (this.anyLowerListed(device, devices, 0)) stacked.add(device);
    }
    return stacked;
  }

  private anyLowerListed(device: string, listed: ReadonlySet<string>, depth: number): boolean {
    if (depth >= MAX_STACK_DEPTH) return false;
    for (const lower of this.lowersOf(device)) {
      if (lower === device) continue;
      if (listed.has(lower) || this.anyLowerListed(lower, listed, depth + 1)) return true;
    }
    return false;
  }

  /** The `MAJ:MIN` ids below a device; none when sysfs does not show it (not stacked, or /sys not visible). */
  lowersOf(device: string): readonly string[] {
    const cached = this.lowers.get(device);
    if (cached !== undefined) return cached;
    const found: string[] = [];
    let names: string[] = [];
    try {
      names = readdirSync(join(this.sysRoot, 'dev/block', device, 'slaves'));
    } catch {
      // No slaves directory: a plain disk or partition, or a device sysfs does not show.
    }
    for (const name of names) {
      try {
        const id = readText(join(this.sysRoot, 'class/block', name, 'dev')).trim();
        if (/^\d+:\d+$/.test(id)) found.push(id);
      } catch {
        // An unreadable lower is treated as unlisted: the upper device stays counted.
      }
    }
    this.lowers.set(device, found);
    return found;
  }
}

/**
 * Per-device rates for one counter group. Rates are kept per device and
 * summed, not taken on the summed total: when a device disappears from the
 * file (unplugged, its cgroup state freed) the total drops and would read as
 * a counter reset, and when one device disappears while another grows the
 * drop would silently eat the other's growth. Per device, a vanished device
 * just leaves the sum.
 *
 * A device that appears between two readings started from zero after the
 * earlier one (the kernel creates its counters on the cgroup's first I/O to
 * it), so it gets a zero baseline at that earlier reading rather than
 * leaving its first interval out of the rate.
 */
class GroupRates {
  private readonly rates: CounterRates;
  private prev: { devices: ReadonlySet<string>; atNs: bigint } | null = null;

  constructor(minDeltaNs: bigint) {
    this.rates = new CounterRates(minDeltaNs);
  }

  /** Summed read and write rates over `counted`; null without a valid pair or when a counted device reset. */
  update(counters: DeviceCounters, counted: readonly string[], atNs: bigint): { read: number | null; write: number | null } {
    const prev = this.prev;
    const perDevice = new Map<string, { read: number | null; write: number | null }>();
    for (const [device, value] of counters) {
      if (prev !== null && !prev.devices.has(device)) {
        this.rates.update(`${device} r`, 0, prev.atNs);
        this.rates.update(`${device} w`, 0, prev.atNs);
      }
      perDevice.set(device, {
        read: this.rates.update(`${device} r`, value.read, atNs).rate,
        write: this.rates.update(`${device} w`, value.write, atNs).rate,
      });
    }
    // A constant counter: its rate is 0 exactly when this reading pairs validly
    // with a baseline, which is what an empty device list needs.
    const pairValid = this.rates.update('', 0, atNs).rate !== null;
    const keep = new Set<string>(['']);
    for (const device of counters.keys()) keep.add(`${device} r`).add(`${device} w`);
    this.rates.retain(keep);
    this.prev = { devices: new Set(counters.keys()), atNs };

    if (!pairValid) return { read: null, write: null };
    let read: number | null = 0;
    let write: number | null = 0;
    for (const device of counted) {
      // A device absent from this file (listed only in the other v1 file) did no such I/O.
      const r = perDevice.get(device) ?? { read: 0, write: 0 };
      read = read === null || r.read === null ? null : read + r.read;
      write = write === null || r.write === null ? null : write + r.write;
    }
    return { read, write };
  }
}

export function createIoCollector(env: AgentEnv): Collector<'io'> {
  const topology = new BlockTopology(env.sysRoot, env.clock);
  const rates: Record<Group, GroupRates> = {
    bytes: new GroupRates(env.minRateDeltaNs),
    ops: new GroupRates(env.minRateDeltaNs),
  };
  const v1Files = new V1Files();

  return {
    name: 'io',
    collect(_tick, report) {
      const h = env.cgroup.controllers.blkio;
      if (h === undefined) {
        const reason = 'no cgroup blkio/io controller found (no v1 blkio hierarchy mounted and no cgroup2)';
        for (const f of [...GROUP_FIELDS.bytes, ...GROUP_FIELDS.ops]) report.unsupported(f, reason);
        return emptyBlock();
      }
      const readings = h.version === 2 ? readV2(h, env) : v1Files.read(h, env.clock);
      return buildBlock(readings, topology, rates, report);
    },
  };
}

function emptyBlock(): IoBlock {
  return {
    read_bytes_total: null,
    write_bytes_total: null,
    read_ops_total: null,
    write_ops_total: null,
    read_bytes_per_sec: null,
    write_bytes_per_sec: null,
    read_ops_per_sec: null,
    write_ops_per_sec: null,
    devices: [],
    skipped_stacked: [],
  };
}

function readV2(h: Hierarchy, env: AgentEnv): Record<Group, Reading> {
  const path = join(h.dir, 'io.stat');
  const enabled = env.cgroup.v2Controllers;
  // Not enabled means no io.stat; skipping the open saves the ~25 µs a failed one costs every tick.
  if (enabled !== null && !enabled.has('io')) {
    return both({
      ok: false,
      unsupported: `io.stat missing under ${h.dir}: the io controller is not enabled for this cgroup (not delegated, or rootless)`,
    });
  }
  let text: string | null;
  try {
    text = readTextIfExists(path);
  } catch (err) {
    return both({ ok: false, error: err });
  }
  const atNs = env.clock();
  if (text === null) {
    return both({ ok: false, unsupported: `io.stat missing under ${h.dir} (host root cgroup, or a kernel without the io controller)` });
  }
  try {
    const stat = parseIoStat(text, path);
    return { bytes: { ok: true, counters: stat.bytes, atNs }, ops: { ok: true, counters: stat.ops, atNs } };
  } catch (err) {
    return both({ ok: false, error: err });
  }
}

function both(r: Reading): Record<Group, Reading> {
  return { bytes: r, ops: r };
}

/**
 * v1 reads the `_recursive` throttle files, which include child cgroups (what
 * docker stats uses); kernels or setups without them fall back to the
 * cgroup's own files. The file that worked is remembered so later ticks read
 * one file each.
 */
class V1Files {
  private readonly chosen: Record<Group, string | null> = { bytes: null, ops: null };

  read(h: Hierarchy, clock: () => bigint): Record<Group, Reading> {
    return {
      bytes: this.readGroup('bytes', h, 'blkio.throttle.io_service_bytes', clock),
      ops: this.readGroup('ops', h, 'blkio.throttle.io_serviced', clock),
    };
  }

  private readGroup(group: Group, h: Hierarchy, base: string, clock: () => bigint): Reading {
    const preferred = this.chosen[group];
    const candidates = [join(h.dir, `${base}_recursive`), join(h.dir, base)];
    if (preferred !== null) candidates.unshift(preferred);
    for (const path of candidates) {
      let text: string | null;
      try {
        text = readTextIfExists(path);
      } catch (err) {
        return { ok: false, error: err };
      }
      if (text === null) continue;
      const atNs = clock();
      this.chosen[group] = path;
      try {
        return { ok: true, counters: parseBlkioThrottle(text, path), atNs };
      } catch (err) {
        return { ok: false, error: err };
      }
    }
    this.chosen[group] = null;
    return {
      ok: false,
      unsupported: `${base}_recursive and ${base} missing under ${h.dir} (blkio throttle statistics not available on this kernel)`,
    };
  }
}

function buildBlock(
  readings: Record<Group, Reading>,
  topology: BlockTopology,
  rates: Record<Group, GroupRates>,
  report: CollectorReport,
): IoBlock {
  const block = emptyBlock();
  const listed = new Set<string>();
  for (const r of [readings.bytes, readings.ops]) if (r.ok) for (const d of r.counters.keys()) listed.add(d);
  const stacked = topology.stackedAmong(listed);
  const counted = [...listed].filter((d) => !stacked.has(d)).sort(compareDeviceIds);
  block.skipped_stacked = [...stacked].sort(compareDeviceIds);

  const sums: Record<Group, DeviceCounters | null> = { bytes: null, ops: null };
  for (const group of ['bytes', 'ops'] as const) {
    const r = readings[group];
    if (!r.ok) {
      for (const f of GROUP_FIELDS[group]) {
        if ('unsupported' in r) report.unsupported(f, r.unsupported);
        else report.failed(f, r.error);
      }
      continue;
    }
    sums[group] = r.counters;
    let read = 0;
    let write = 0;
    for (const device of counted) {
      read += r.counters.get(device)?.read ?? 0;
      write += r.counters.get(device)?.write ?? 0;
    }
    const rate = rates[group].update(r.counters, counted, r.atNs);
    if (group === 'bytes') {
      block.read_bytes_total = read;
      block.write_bytes_total = write;
      block.read_bytes_per_sec = rate.read;
      block.write_bytes_per_sec = rate.write;
    } else {
      block.read_ops_total = read;
      block.write_ops_total = write;
      block.read_ops_per_sec = rate.read;
      block.write_ops_per_sec = rate.write;
    }
  }

  const { bytes, ops } = sums;
  if (bytes !== null && ops !== null) {
    block.devices = counted.map(
      (device): IoDevice => ({
        device,
        read_bytes_total: bytes.get(device)?.read ?? 0,
        write_bytes_total: bytes.get(device)?.write ?? 0,
        read_ops_total: ops.get(device)?.read ?? 0,
        write_ops_total: ops.get(device)?.write ?? 0,
      }),
    );
  } else {
    // Each device row needs both files.
    const bad = readings.bytes.ok ? readings.ops : readings.bytes;
    if (!bad.ok) {
      if ('unsupported' in bad) report.unsupported('devices', bad.unsupported);
      else report.failed('devices', bad.error);
    }
  }
  return block;
}
