import { join } from '../fsread/join.js';
import type { MemoryBlock, MemoryLimitSource } from '../../../shared/src/payload.js';
import { ancestorsOf, type Hierarchy } from '../cgroup/location.js';
import {
  hostMemoryView,
  parseMemoryEvents,
  parseMemoryStat,
  parseOomControl,
  parseVmstat,
  type MemoryStatView,
} from '../cgroup/parse-memory.js';
import { parseLimit, parseSingleCount } from '../cgroup/values.js';
import { AbsentFiles, withPath } from '../fsread/absent-files.js';
import { readTextIfExists } from '../fsread/read-text.js';
import { parseMeminfo } from '../procfs/parse-meminfo.js';
import { CounterRate, percentOf } from '../rate.js';
import type { AgentEnv, Collector, CollectorReport, Tick } from './types.js';

type MemoryField = keyof MemoryBlock;

const LIMIT_FIELDS: readonly MemoryField[] = ['limit_bytes', 'limit_source', 'percent', 'working_set_percent'];
const FAULT_FIELDS: readonly MemoryField[] = ['major_faults_total', 'major_faults_per_sec'];
/** Fields that need the usage file. */
const USAGE_FIELDS: readonly MemoryField[] = ['usage_bytes', 'working_set_bytes', 'percent', 'working_set_percent'];
/** Fields that come from memory.stat. */
const STAT_FIELDS: readonly MemoryField[] = [
  'anon_bytes',
  'file_bytes',
  'shmem_bytes',
  'inactive_file_bytes',
  'working_set_bytes',
  'working_set_percent',
  ...FAULT_FIELDS,
];

/** A limit found in the cgroup files: `null` bytes means none is set. */
interface FoundLimit {
  bytes: number | null;
  source: MemoryLimitSource;
}

/** What one tick read, before the derived fields are computed. */
interface Readings {
  usage: number | null;
  /** Given directly at the host root, where usage already excludes reclaimable cache. */
  workingSet?: number | null;
  stat: MemoryStatView | null;
  /** `undefined`: the limit could not be determined (already reported). */
  limit: FoundLimit | undefined;
  high: number | null;
  swap: number | null;
  peak: number | null;
  /** The kernel provides no peak here: use the agent's running maximum. */
  peakFromAgent: boolean;
  kernel: number | null;
  oomEvents: number | null;
  oomKills: number | null;
  majorFaults: number | null;
  majorFaultsAtNs: bigint;
}

function emptyReadings(): Readings {
  return {
    usage: null,
    stat: null,
    limit: undefined,
    high: null,
    swap: null,
    peak: null,
    peakFromAgent: false,
    kernel: null,
    oomEvents: null,
    oomKills: null,
    majorFaults: null,
    majorFaultsAtNs: 0n,
  };
}

/** One collect's report, taking several fields at once, plus the read-or-report pattern. */
class Notes {
  constructor(private readonly report: CollectorReport) {}

  unsupported(fields: readonly MemoryField[], reason: string): void {
    for (const f of fields) this.report.unsupported(f, reason);
  }

  failed(fields: readonly MemoryField[], err: unknown): void {
    for (const f of fields) this.report.failed(f, err);
  }

  /**
   * Reads and parses one file. Missing → the fields are unsupported with
   * `missingReason`; unreadable or malformed → the fields failed. Either way null.
   */
  read<T>(path: string, parse: (text: string) => T, fields: readonly MemoryField[], missingReason: string): T | null {
    try {
      const text = readTextIfExists(path);
      if (text === null) {
        this.unsupported(fields, missingReason);
        return null;
      }
      return parse(text);
    } catch (err) {
      this.failed(fields, withPath(path, err));
      return null;
    }
  }
}

/**
 * Memory usage, limit and events (docs/measurement.md §3), from cgroup v2 or v1, or
 * from `/proc/meminfo` when the agent sits in the v2 host root cgroup (which
 * has no `memory.current`).
 */
class MemoryCollector implements Collector<'memory'> {
  readonly name = 'memory';
  private readonly h: Hierarchy | null;
  /** The memory hierarchy's directories from the cgroup up to the mount, nearest first. */
  private readonly limitDirs: readonly string[];
  private readonly faults: CounterRate;
  private runningPeak: number | null = null;
  private readonly absent: AbsentFiles;

  constructor(private readonly env: AgentEnv) {
    this.h = env.cgroup.controllers.memory ?? null;
    this.limitDirs = this.h === null ? [] : ancestorsOf(this.h);
    this.faults = new CounterRate(env.minRateDeltaNs);
    this.absent = new AbsentFiles(env.clock);
  }

  collect(tick: Tick, report: CollectorReport): MemoryBlock {
    const n = new Notes(report);
    const h = this.h;
    let r: Readings;
    if (this.env.cgroup.scope === 'host' && (h === null || h.version === 2)) r = this.readHost(n);
    else if (h === null) r = readNothing(n);
    else if (h.version === 2) r = this.readV2(h, n);
    else r = this.readV1(h, n);
    return this.derive(r, tick, n);
  }

  /** Why a v2 memory file is missing: usually the memory controller is not enabled for the cgroup. */
  private v2Missing(h: Hierarchy, file: string): string {
    if (this.env.cgroup.v2Controllers?.has('memory') === false) {
      return `${join(h.dir, file)} missing: memory controller not enabled for this cgroup (cgroup.controllers lacks "memory")`;
    }
    return `${join(h.dir, file)} missing (memory controller not enabled)`;
  }

  // --- cgroup v2 ---

  private readV2(h: Hierarchy, n: Notes): Readings {
    const r = emptyReadings();
    const file = (name: string): string => join(h.dir, name);
    const count = (name: string) => (t: string): number => parseSingleCount(t, name);

    r.usage = n.read(file('memory.current'), count('memory.current'), USAGE_FIELDS, this.v2Missing(h, 'memory.current'));
    const statPath = file('memory.stat');
    r.stat = n.read(statPath, (t) => parseMemoryStat(t, 2), [...STAT_FIELDS, 'kernel_bytes'], this.v2Missing(h, 'memory.stat'));
    r.majorFaultsAtNs = this.env.clock();
    if (r.stat !== null) {
      reportAbsentStatKeys(r.stat, statPath, n);
      if (r.stat.kernel === null) n.unsupported(['kernel_bytes'], `${statPath} has no "kernel" key (kernel < 5.18)`);
      r.kernel = r.stat.kernel;
      r.majorFaults = r.stat.majorFaults;
    }
    r.limit = this.readV2Limit(n);
    // "max" and a missing file both give null; only the missing file is worth a note.
    r.high = n.read(file('memory.high'), (t) => parseLimit(t, 'memory.high'), ['high_bytes'], this.v2Missing(h, 'memory.high'));
    r.swap = n.read(
      file('memory.swap.current'),
      count('memory.swap.current'),
      ['swap_bytes'],
      `${file('memory.swap.current')} missing (swap accounting off: kernel without CONFIG_MEMCG_SWAP, or swapaccount=0)`,
    );
    // memory.peak arrived in kernel 5.19; without it the agent tracks its own maximum.
    readPeak(r, file('memory.peak'), n);

    // memory.events counts the whole subtree, so an OOM kill in a child cgroup
    // (e.g. Docker's nested /init) is still the container's.
    const eventsPath = file('memory.events');
    const oomFields: readonly MemoryField[] = ['oom_events_total', 'oom_kills_total'];
    const events = n.read(eventsPath, parseMemoryEvents, oomFields, this.v2Missing(h, 'memory.events'));
    if (events !== null) {
      if (events.oom === null) n.unsupported(['oom_events_total'], `${eventsPath} has no "oom" key`);
      if (events.oomKill === null) n.unsupported(['oom_kills_total'], `${eventsPath} has no "oom_kill" key (kernel < 4.13)`);
      r.oomEvents = events.oom;
      r.oomKills = events.oomKill;
    }
    return r;
  }

  /**
   * Limits often sit on a parent slice (Kubernetes pods, systemd units), so
   * take the smallest `memory.max` from the cgroup up to the mount point.
   */
  private readV2Limit(n: Notes): FoundLimit | undefined {
    let best: FoundLimit = { bytes: null, source: 'memory.max' };
    for (const [i, dir] of this.limitDirs.entries()) {
      const path = join(dir, 'memory.max');
      let bytes: number | null;
      try {
        const text = this.absent.read(path);
        // The root has no memory.max, and a cgroup without the controller enabled neither.
        if (text === null) continue;
        bytes = parseLimit(text, 'memory.max');
      } catch (err) {
        n.failed(LIMIT_FIELDS, withPath(path, err));
        return undefined;
      }
      if (bytes !== null && (best.bytes === null || bytes < best.bytes)) {
        best = { bytes, source: i === 0 ? 'memory.max' : 'ancestor' };
      }
    }
    return best;
  }

  // --- cgroup v1 ---

  private readV1(h: Hierarchy, n: Notes): Readings {
    const r = emptyReadings();
    const file = (name: string): string => join(h.dir, name);
    const count = (name: string) => (t: string): number => parseSingleCount(t, name);
    const noController = (name: string): string => `${file(name)} missing (memory controller not mounted for this cgroup)`;

    const usageFile = 'memory.usage_in_bytes';
    r.usage = n.read(file(usageFile), count(usageFile), USAGE_FIELDS, noController(usageFile));
    const statPath = file('memory.stat');
    r.stat = n.read(statPath, (t) => parseMemoryStat(t, 1), [...STAT_FIELDS, ...LIMIT_FIELDS], noController('memory.stat'));
    r.majorFaultsAtNs = this.env.clock();
    if (r.stat !== null) {
      reportAbsentStatKeys(r.stat, statPath, n);
      r.majorFaults = r.stat.majorFaults;
      // hierarchical_memory_limit is the smallest limit_in_bytes of the cgroup
      // and its ancestors: the kernel already did the walk.
      const hl = r.stat.hierarchicalLimit;
      if (hl.kind === 'absent') n.unsupported(LIMIT_FIELDS, `${statPath} has no hierarchical_memory_limit`);
      else r.limit = { bytes: hl.kind === 'bytes' ? hl.bytes : null, source: 'hierarchical_memory_limit' };
    }

    n.unsupported(['high_bytes'], 'cgroup v1 has no memory.high (soft_limit_in_bytes means something else)');

    const memswPath = file('memory.memsw.usage_in_bytes');
    const memswMissing = `${memswPath} missing (swap accounting off: boot with swapaccount=1)`;
    const memsw = n.read(memswPath, count('memory.memsw.usage_in_bytes'), ['swap_bytes'], memswMissing);
    if (memsw !== null) {
      // memsw counts memory + swap; the two files are read a moment apart, so clamp.
      if (r.usage === null) n.unsupported(['swap_bytes'], `swap is ${memswPath} minus memory usage, which is unavailable`);
      else r.swap = Math.max(0, memsw - r.usage);
    }

    readPeak(r, file('memory.max_usage_in_bytes'), n);

    const kmemPath = file('memory.kmem.usage_in_bytes');
    const kmemMissing = `${kmemPath} missing (kernel built without CONFIG_MEMCG_KMEM)`;
    r.kernel = n.read(kmemPath, count('memory.kmem.usage_in_bytes'), ['kernel_bytes'], kmemMissing);

    // v1 counts kills in memory.oom_control but has no counter of OOM events.
    n.unsupported(['oom_events_total'], 'cgroup v1 has no OOM event counter (memory.oom_control only counts kills)');
    const oomPath = file('memory.oom_control');
    const oom = n.read(oomPath, parseOomControl, ['oom_kills_total'], noController('memory.oom_control'));
    if (oom !== null) {
      if (oom.oomKill === null) n.unsupported(['oom_kills_total'], `${oomPath} has no oom_kill line (kernel < 4.13)`);
      r.oomKills = oom.oomKill;
    }
    return r;
  }

  // --- host root (no memory.current) ---

  private readHost(n: Notes): Readings {
    const r = emptyReadings();
    const meminfoPath = join(this.env.procRoot, 'meminfo');
    const hostFields: readonly MemoryField[] = [
      ...USAGE_FIELDS,
      ...LIMIT_FIELDS,
      'anon_bytes',
      'file_bytes',
      'shmem_bytes',
      'inactive_file_bytes',
      'swap_bytes',
    ];
    const view = n.read(meminfoPath, (t) => hostMemoryView(parseMeminfo(t)), hostFields, `${meminfoPath} missing`);
    if (view !== null) {
      const absent = (field: MemoryField, key: string): void => {
        n.unsupported([field], `${meminfoPath} has no ${key} line`);
      };
      if (view.used === null) {
        for (const f of USAGE_FIELDS) absent(f, 'MemTotal or MemAvailable (kernel < 3.14)');
      }
      if (view.anon === null) absent('anon_bytes', 'AnonPages');
      if (view.file === null) absent('file_bytes', 'Cached');
      if (view.shmem === null) absent('shmem_bytes', 'Shmem');
      if (view.inactiveFile === null) absent('inactive_file_bytes', 'Inactive(file)');
      if (view.swap === null) absent('swap_bytes', 'SwapTotal or SwapFree');
      r.usage = view.used;
      // MemAvailable already leaves out reclaimable cache, so MemTotal − MemAvailable
      // is the working set; subtracting inactive_file again would count it twice.
      r.workingSet = view.used;
      r.stat = {
        anon: view.anon,
        file: view.file,
        shmem: view.shmem,
        kernel: null,
        inactiveFile: view.inactiveFile,
        majorFaults: null,
        hierarchicalLimit: { kind: 'absent' },
      };
      r.swap = view.swap;
      r.limit = { bytes: null, source: 'host' };
    }
    const scope = 'the agent is in the host root cgroup, which';
    n.unsupported(['kernel_bytes'], `${scope} has no kernel-memory counter (/proc/meminfo splits it over several lines)`);
    n.unsupported(['high_bytes'], `${scope} has no memory.high`);
    n.unsupported(['oom_events_total'], `${scope} has no memory.events`);
    r.peakFromAgent = true;

    const vmstatPath = join(this.env.procRoot, 'vmstat');
    const vm = n.read(vmstatPath, parseVmstat, [...FAULT_FIELDS, 'oom_kills_total'], `${vmstatPath} missing`);
    r.majorFaultsAtNs = this.env.clock();
    if (vm !== null) {
      if (vm.majorFaults === null) n.unsupported(FAULT_FIELDS, `${vmstatPath} has no pgmajfault line`);
      if (vm.oomKill === null) n.unsupported(['oom_kills_total'], `${vmstatPath} has no oom_kill line (kernel < 4.13)`);
      r.majorFaults = vm.majorFaults;
      r.oomKills = vm.oomKill;
    }
    return r;
  }

  // --- derived fields ---

  private derive(r: Readings, tick: Tick, n: Notes): MemoryBlock {
    const usage = r.usage;
    const inactiveFile = r.stat?.inactiveFile ?? null;
    let workingSet = r.workingSet;
    if (workingSet === undefined) workingSet = usage === null || inactiveFile === null ? null : Math.max(0, usage - inactiveFile);

    if (usage !== null) this.runningPeak = Math.max(this.runningPeak ?? 0, usage);
    let peak = r.peak;
    let peakSource: 'kernel' | 'agent' | null = r.peak === null ? null : 'kernel';
    if (r.peakFromAgent) {
      if (this.runningPeak === null) {
        n.unsupported(['peak_bytes', 'peak_source'], 'no kernel peak file here and no usage reading yet to track one');
      } else {
        peak = this.runningPeak;
        peakSource = 'agent';
      }
    }

    const limit = r.limit === undefined ? null : this.effectiveLimit(r.limit, tick, n);

    const faultsPerSec = r.majorFaults === null ? null : this.faults.update(r.majorFaults, r.majorFaultsAtNs).rate;

    return {
      usage_bytes: usage,
      working_set_bytes: workingSet,
      anon_bytes: r.stat?.anon ?? null,
      file_bytes: r.stat?.file ?? null,
      shmem_bytes: r.stat?.shmem ?? null,
      kernel_bytes: r.kernel,
      inactive_file_bytes: inactiveFile,
      swap_bytes: r.swap,
      peak_bytes: peak,
      peak_source: peakSource,
      limit_bytes: limit?.bytes ?? null,
      limit_source: limit?.source ?? null,
      high_bytes: r.high,
      percent: limit === null ? null : percentOf(usage, limit.bytes),
      working_set_percent: limit === null ? null : percentOf(workingSet, limit.bytes),
      oom_events_total: r.oomEvents,
      oom_kills_total: r.oomKills,
      major_faults_total: r.majorFaults,
      major_faults_per_sec: faultsPerSec,
    };
  }

  /** No limit, or one above the machine's memory, means the host's MemTotal is the real bound. */
  private effectiveLimit(found: FoundLimit, tick: Tick, n: Notes): { bytes: number; source: MemoryLimitSource } | null {
    const hostTotal = tick.hostMemTotal();
    if (found.bytes !== null && (hostTotal === null || found.bytes <= hostTotal)) {
      return { bytes: found.bytes, source: found.source };
    }
    if (hostTotal === null) {
      const meminfo = join(this.env.procRoot, 'meminfo');
      n.unsupported(LIMIT_FIELDS, `no memory limit set and the host MemTotal is unknown (${meminfo} unreadable)`);
      return null;
    }
    return { bytes: hostTotal, source: 'host' };
  }
}

/** The kernel's peak file, or a note that the agent must keep its own running maximum. */
function readPeak(r: Readings, path: string, n: Notes): void {
  try {
    const text = readTextIfExists(path);
    if (text === null) r.peakFromAgent = true;
    else r.peak = parseSingleCount(text, path);
  } catch (err) {
    n.failed(['peak_bytes', 'peak_source'], withPath(path, err));
  }
}

function reportAbsentStatKeys(s: MemoryStatView, path: string, n: Notes): void {
  const absent = (fields: readonly MemoryField[], key: string): void => {
    n.unsupported(fields, `${path} has no ${key} key`);
  };
  if (s.anon === null) absent(['anon_bytes'], 'anon/total_rss');
  if (s.file === null) absent(['file_bytes'], 'file/total_cache');
  if (s.shmem === null) absent(['shmem_bytes'], 'shmem/total_shmem');
  if (s.inactiveFile === null) {
    absent(['inactive_file_bytes', 'working_set_bytes', 'working_set_percent'], 'inactive_file/total_inactive_file');
  }
  if (s.majorFaults === null) absent(FAULT_FIELDS, 'pgmajfault/total_pgmajfault');
}

function readNothing(n: Notes): Readings {
  n.unsupported(allFields, 'no memory cgroup hierarchy found for this process');
  return emptyReadings();
}

const allFields: readonly MemoryField[] = [
  'usage_bytes',
  'working_set_bytes',
  'anon_bytes',
  'file_bytes',
  'shmem_bytes',
  'kernel_bytes',
  'inactive_file_bytes',
  'swap_bytes',
  'peak_bytes',
  'peak_source',
  'limit_bytes',
  'limit_source',
  'high_bytes',
  'percent',
  'working_set_percent',
  'oom_events_total',
  'oom_kills_total',
  'major_faults_total',
  'major_faults_per_sec',
];

export function createMemoryCollector(env: AgentEnv): Collector<'memory'> {
  return new MemoryCollector(env);
}
