import assert from 'node:assert/strict';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { memorySchema, type MemoryBlock } from '../../../shared/src/payload.js';
import type { CgroupLocation, Hierarchy } from '../cgroup/location.js';
import { makeTree, type TempTree } from '../../test/helpers/tree.js';
import { assertClose } from '../../test/helpers/assert-close.js';
import { FakeClock, v2Location } from '../../test/helpers/env.js';
import { RecordingReport } from '../../test/helpers/report.js';
import { fixedTick } from '../../test/helpers/tick.js';
import { createMemoryCollector } from './memory.js';
import type { AgentEnv, Tick } from './types.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const INTERVAL_MS = 5000;
const SEC = 1_000_000_000n;
const V1_UNLIMITED = '9223372036854771712';

function env(cgroup: CgroupLocation, clock: FakeClock, procRoot = '/nonexistent-proc'): AgentEnv {
  return {
    procRoot,
    sysRoot: '/nonexistent-sys',
    cgroup,
    intervalMs: INTERVAL_MS,
    minRateDeltaNs: BigInt(INTERVAL_MS * 1e6 * 0.5),
    diskPaths: ['/'],
    clock: clock.read,
  };
}

function v1Location(mount: string, rel: string): CgroupLocation {
  const memory: Hierarchy = { version: 1, mount, dir: join(mount, rel) };
  return { mode: 'v1', scope: 'container', source: 'override', unified: null, controllers: { memory }, v2Controllers: null, notes: [] };
}

function v2Stat(s: { anon: number; file: number; shmem: number; kernel?: number; inactiveFile: number | string; pgmajfault: number }): string {
  return (
    `anon ${s.anon}\nfile ${s.file}\n` +
    (s.kernel === undefined ? '' : `kernel ${s.kernel}\n`) +
    `kernel_stack 65536\nsock 0\nshmem ${s.shmem}\nfile_mapped 0\ninactive_anon 0\nactive_anon ${s.anon}\n` +
    `inactive_file ${s.inactiveFile}\nactive_file 0\nunevictable 0\npgfault 100\npgmajfault ${s.pgmajfault}\n`
  );
}

/** A complete v2 container directory; `over` replaces or adds files, `omit` leaves some out. */
function v2Files(dir: string, over: Record<string, string> = {}, omit: string[] = []): Record<string, string> {
  const files: Record<string, string> = {
    'memory.current': `${300 * MiB}\n`,
    'memory.stat': v2Stat({ anon: 200 * MiB, file: 90 * MiB, shmem: 4 * MiB, kernel: 10 * MiB, inactiveFile: 60 * MiB, pgmajfault: 42 }),
    'memory.max': `${512 * MiB}\n`,
    'memory.high': 'max\n',
    'memory.swap.current': `${8 * MiB}\n`,
    'memory.peak': `${400 * MiB}\n`,
    'memory.events': 'low 0\nhigh 0\nmax 17\noom 2\noom_kill 1\noom_group_kill 0\n',
    ...over,
  };
  return Object.fromEntries(Object.entries(files).filter(([k]) => !omit.includes(k)).map(([k, v]) => [join(dir, k), v]));
}

function collect(c: ReturnType<typeof createMemoryCollector>, tick: Tick, report = new RecordingReport()): MemoryBlock {
  const block = c.collect(tick, report);
  assert.ok(!(block instanceof Promise));
  memorySchema.parse(block);
  return block;
}

let tree: TempTree | null = null;
afterEach(() => {
  tree?.remove();
  tree = null;
});

describe('memory collector, cgroup v2', () => {
  it('container with its own memory.max: usage, working set, percentages, breakdown, events', () => {
    tree = makeTree(v2Files('cg'));
    const report = new RecordingReport();
    const b = collect(createMemoryCollector(env(v2Location(tree.root, 'cg'), new FakeClock())), fixedTick({ memTotal: 8 * GiB }), report);
    const usage = 300 * MiB;
    const ws = usage - 60 * MiB;
    const limit = 512 * MiB;
    assert.deepEqual(b, {
      usage_bytes: usage,
      working_set_bytes: ws,
      anon_bytes: 200 * MiB,
      file_bytes: 90 * MiB,
      shmem_bytes: 4 * MiB,
      kernel_bytes: 10 * MiB,
      inactive_file_bytes: 60 * MiB,
      swap_bytes: 8 * MiB,
      peak_bytes: 400 * MiB,
      peak_source: 'kernel',
      limit_bytes: limit,
      limit_source: 'memory.max',
      high_bytes: null,
      percent: (100 * usage) / limit,
      working_set_percent: (100 * ws) / limit,
      oom_events_total: 2,
      oom_kills_total: 1,
      major_faults_total: 42,
      major_faults_per_sec: null,
    });
    assert.equal(report.unsupportedFields.size + report.failedFields.size, 0, [...report.unsupportedFields].join('; '));
  });

  it('limit only on a parent: the smallest memory.max up to the mount, source "ancestor"', () => {
    tree = makeTree({
      'kubepods/memory.max': `${256 * MiB}\n`,
      ...v2Files('kubepods/pod/ctr', { 'memory.current': `${180 * MiB}\n`, 'memory.max': 'max\n', 'memory.high': `${200 * MiB}\n` }),
    });
    const c = createMemoryCollector(env(v2Location(tree.root, 'kubepods/pod/ctr'), new FakeClock()));
    const b = collect(c, fixedTick({ memTotal: 8 * GiB }));
    assert.equal(b.limit_bytes, 256 * MiB);
    assert.equal(b.limit_source, 'ancestor');
    assert.equal(b.high_bytes, 200 * MiB);
    assertClose(b.percent, (100 * 180 * MiB) / (256 * MiB), 'percent');

    // The own limit wins when it is smaller; on a tie the own file is named.
    tree.write('kubepods/pod/ctr/memory.max', `${256 * MiB}\n`);
    assert.equal(collect(c, fixedTick({ memTotal: 8 * GiB })).limit_source, 'memory.max');
  });

  it('no limit, or a limit above MemTotal: the host MemTotal, source "host"', () => {
    tree = makeTree(v2Files('cg', { 'memory.max': 'max\n' }));
    const c = createMemoryCollector(env(v2Location(tree.root, 'cg'), new FakeClock()));
    const b = collect(c, fixedTick({ memTotal: 4 * GiB }));
    assert.equal(b.limit_bytes, 4 * GiB);
    assert.equal(b.limit_source, 'host');
    assertClose(b.percent, (100 * 300 * MiB) / (4 * GiB), 'percent');
    tree.write('cg/memory.max', `${16 * GiB}\n`);
    assert.deepEqual(pickLimit(collect(c, fixedTick({ memTotal: 4 * GiB }))), { limit_bytes: 4 * GiB, limit_source: 'host' });
  });

  it('no limit and MemTotal unknown: limit fields null with a reason', () => {
    tree = makeTree(v2Files('cg', { 'memory.max': 'max\n' }));
    const report = new RecordingReport();
    const b = collect(createMemoryCollector(env(v2Location(tree.root, 'cg'), new FakeClock())), fixedTick({ memTotal: null }), report);
    assert.deepEqual(pickLimit(b), { limit_bytes: null, limit_source: null });
    assert.equal(b.percent, null);
    assert.match(report.unsupportedFields.get('limit_bytes') ?? '', /MemTotal/);
  });

  it('a negative memory.stat value clamps to 0 (working set = usage)', () => {
    tree = makeTree(v2Files('cg', { 'memory.stat': v2Stat({ anon: 1, file: 2, shmem: 0, kernel: 3, inactiveFile: -4096, pgmajfault: 0 }) }));
    const b = collect(createMemoryCollector(env(v2Location(tree.root, 'cg'), new FakeClock())), fixedTick());
    assert.equal(b.inactive_file_bytes, 0);
    assert.equal(b.working_set_bytes, 300 * MiB);
  });

  it('inactive_file above usage: working set is 0, not negative', () => {
    tree = makeTree(v2Files('cg', { 'memory.current': `${10 * MiB}\n` }));
    const b = collect(createMemoryCollector(env(v2Location(tree.root, 'cg'), new FakeClock())), fixedTick());
    assert.equal(b.working_set_bytes, 0);
  });

  it('missing memory.peak (kernel < 5.19): the agent keeps a running maximum of usage', () => {
    tree = makeTree(v2Files('cg', {}, ['memory.peak']));
    const c = createMemoryCollector(env(v2Location(tree.root, 'cg'), new FakeClock()));
    const report = new RecordingReport();
    const sizes = [100 * MiB, 350 * MiB, 200 * MiB];
    let max = 0;
    for (const size of sizes) {
      tree.write('cg/memory.current', `${size}\n`);
      const b = collect(c, fixedTick(), report);
      max = Math.max(max, size);
      assert.equal(b.peak_bytes, max);
      assert.equal(b.peak_source, 'agent');
    }
    assert.equal(report.failedFields.size, 0);
  });

  it('major faults per second over two collects, and null after a counter reset', () => {
    tree = makeTree(v2Files('cg'));
    const clock = new FakeClock();
    const c = createMemoryCollector(env(v2Location(tree.root, 'cg'), clock));
    const stat = (pgmajfault: number): string => v2Stat({ anon: 1, file: 1, shmem: 0, kernel: 1, inactiveFile: 0, pgmajfault });
    tree.write('cg/memory.stat', stat(1000));
    assert.equal(collect(c, fixedTick()).major_faults_per_sec, null);

    tree.write('cg/memory.stat', stat(1000 + 2501));
    clock.advance(5_002_000_000n);
    const b = collect(c, fixedTick());
    assertClose(b.major_faults_per_sec, 2501 / 5.002, 'major_faults_per_sec');
    assert.equal(b.major_faults_total, 3501);

    tree.write('cg/memory.stat', stat(7));
    clock.advance(5n * SEC);
    const reset = collect(c, fixedTick());
    assert.equal(reset.major_faults_per_sec, null);
    assert.equal(reset.major_faults_total, 7);
  });

  it('missing files: each field is unsupported with a reason naming the file; the rest is produced', () => {
    const over = {
      'memory.stat': v2Stat({ anon: 5, file: 6, shmem: 7, inactiveFile: 0, pgmajfault: 0 }),
      'memory.events': 'low 0\nhigh 0\nmax 0\noom 0\n',
    };
    tree = makeTree(v2Files('cg', over, ['memory.swap.current']));
    const report = new RecordingReport();
    const b = collect(createMemoryCollector(env(v2Location(tree.root, 'cg'), new FakeClock())), fixedTick(), report);
    assert.equal(b.swap_bytes, null);
    assert.equal(b.kernel_bytes, null, 'no kernel key: null, not a sum of kernel_stack/slab/...');
    assert.equal(b.oom_kills_total, null);
    assert.equal(b.oom_events_total, 0);
    assert.equal(b.usage_bytes, 300 * MiB);
    assert.equal(b.limit_bytes, 512 * MiB);
    assert.ok(report.unsupportedFields.get('swap_bytes')?.includes(join(tree.root, 'cg', 'memory.swap.current')));
    assert.match(report.unsupportedFields.get('kernel_bytes') ?? '', /5\.18/);
    assert.match(report.unsupportedFields.get('oom_kills_total') ?? '', /oom_kill/);
    assert.equal(report.failedFields.size, 0);
  });

  it('memory controller not enabled: usage unsupported, reason points at cgroup.controllers', () => {
    tree = makeTree({ 'cg/cgroup.procs': '1\n' });
    const report = new RecordingReport();
    const loc = v2Location(tree.root, 'cg', { v2Controllers: ['cpu', 'pids'] });
    const b = collect(createMemoryCollector(env(loc, new FakeClock())), fixedTick({ memTotal: 2 * GiB }), report);
    assert.equal(b.usage_bytes, null);
    assert.equal(b.percent, null);
    assert.equal(b.peak_bytes, null);
    assert.deepEqual(pickLimit(b), { limit_bytes: 2 * GiB, limit_source: 'host' });
    for (const f of ['usage_bytes', 'percent', 'working_set_bytes', 'anon_bytes', 'major_faults_total', 'oom_kills_total']) {
      assert.match(report.unsupportedFields.get(f) ?? '', /cgroup\.controllers lacks "memory"/, f);
    }
    assert.ok(report.unsupportedFields.has('peak_bytes'));
  });

  it('malformed memory.max: only the limit fields are null and failed; the rest is produced', () => {
    tree = makeTree(v2Files('cg', { 'memory.max': 'lots\n' }));
    const report = new RecordingReport();
    const b = collect(createMemoryCollector(env(v2Location(tree.root, 'cg'), new FakeClock())), fixedTick(), report);
    assert.deepEqual(pickLimit(b), { limit_bytes: null, limit_source: null });
    assert.equal(b.percent, null);
    assert.equal(b.working_set_percent, null);
    assert.equal(b.usage_bytes, 300 * MiB);
    assert.equal(b.working_set_bytes, 240 * MiB);
    assert.ok(report.failedFields.get('limit_bytes')?.includes(join(tree.root, 'cg', 'memory.max')));
    assert.deepEqual([...report.failedFields.keys()].sort(), ['limit_bytes', 'limit_source', 'percent', 'working_set_percent']);
  });

  it('host root scope (no memory.current): /proc/meminfo and /proc/vmstat, labelled host', () => {
    const kB = 1024;
    tree = makeTree({
      'cgroup/cgroup.procs': '1\n',
      'proc/meminfo':
        'MemTotal:       16000000 kB\nMemFree:         2000000 kB\nMemAvailable:   10000000 kB\nBuffers:          100000 kB\n' +
        'Cached:          5000000 kB\nSwapCached:            0 kB\nInactive(file):  2500000 kB\nSwapTotal:       1000000 kB\n' +
        'SwapFree:         750000 kB\nAnonPages:       3000000 kB\nShmem:            200000 kB\n',
      'proc/vmstat': 'nr_free_pages 500000\npgmajfault 900\noom_kill 3\n',
    });
    const clock = new FakeClock();
    const loc = v2Location(tree.path('cgroup'), '', { scope: 'host' });
    const c = createMemoryCollector(env(loc, clock, tree.path('proc')));
    const report = new RecordingReport();
    const b = collect(c, fixedTick({ memTotal: 16_000_000 * kB }), report);
    const used = (16_000_000 - 10_000_000) * kB;
    assert.equal(b.usage_bytes, used);
    assert.equal(b.working_set_bytes, used, 'MemAvailable already excludes reclaimable cache');
    assert.deepEqual(pickLimit(b), { limit_bytes: 16_000_000 * kB, limit_source: 'host' });
    assertClose(b.percent, (100 * used) / (16_000_000 * kB), 'percent');
    assert.equal(b.anon_bytes, 3_000_000 * kB);
    assert.equal(b.file_bytes, 5_000_000 * kB);
    assert.equal(b.shmem_bytes, 200_000 * kB);
    assert.equal(b.inactive_file_bytes, 2_500_000 * kB);
    assert.equal(b.swap_bytes, (1_000_000 - 750_000) * kB);
    assert.equal(b.peak_source, 'agent');
    assert.equal(b.major_faults_total, 900);
    assert.equal(b.oom_kills_total, 3);
    assert.equal(b.kernel_bytes, null);
    assert.equal(b.oom_events_total, null);
    for (const f of ['kernel_bytes', 'high_bytes', 'oom_events_total']) assert.match(report.unsupportedFields.get(f) ?? '', /host root/, f);
    assert.equal(report.failedFields.size, 0);

    tree.write('proc/vmstat', 'nr_free_pages 500000\npgmajfault 1400\noom_kill 3\n');
    clock.advance(5n * SEC);
    assertClose(collect(c, fixedTick({ memTotal: 16_000_000 * kB })).major_faults_per_sec, 500 / 5, 'host major faults rate');
  });
});

describe('memory collector, cgroup v1', () => {
  const v1StatText = (limit: string, inactiveFile = 30 * MiB): string =>
    `cache ${10 * MiB}\nrss ${20 * MiB}\nshmem 0\npgmajfault 1\ninactive_file 0\n` +
    `hierarchical_memory_limit ${limit}\nhierarchical_memsw_limit ${V1_UNLIMITED}\n` +
    `total_cache ${80 * MiB}\ntotal_rss ${120 * MiB}\ntotal_shmem ${2 * MiB}\ntotal_pgmajfault 3528\n` +
    `total_inactive_file ${inactiveFile}\ntotal_active_file ${50 * MiB}\n`;
  const v1Files = (over: Record<string, string> = {}, omit: string[] = []): Record<string, string> => {
    const files: Record<string, string> = {
      'memory.usage_in_bytes': `${210 * MiB}\n`,
      'memory.limit_in_bytes': `${256 * MiB}\n`,
      'memory.stat': v1StatText(String(256 * MiB)),
      'memory.memsw.usage_in_bytes': `${215 * MiB}\n`,
      'memory.max_usage_in_bytes': `${230 * MiB}\n`,
      'memory.kmem.usage_in_bytes': `${6 * MiB}\n`,
      'memory.oom_control': 'oom_kill_disable 0\nunder_oom 0\noom_kill 4\n',
      ...over,
    };
    return Object.fromEntries(Object.entries(files).filter(([k]) => !omit.includes(k)).map(([k, v]) => [join('memory/docker/abc', k), v]));
  };

  it('container with hierarchical_memory_limit: total_* keys, memsw swap, kernel peak, kmem, oom_kill', () => {
    tree = makeTree(v1Files());
    const report = new RecordingReport();
    const loc = v1Location(tree.path('memory'), 'docker/abc');
    const b = collect(createMemoryCollector(env(loc, new FakeClock())), fixedTick({ memTotal: 8 * GiB }), report);
    const usage = 210 * MiB;
    const ws = usage - 30 * MiB;
    const limit = 256 * MiB;
    assert.deepEqual(b, {
      usage_bytes: usage,
      working_set_bytes: ws,
      anon_bytes: 120 * MiB,
      file_bytes: 80 * MiB,
      shmem_bytes: 2 * MiB,
      kernel_bytes: 6 * MiB,
      inactive_file_bytes: 30 * MiB,
      swap_bytes: 215 * MiB - usage,
      peak_bytes: 230 * MiB,
      peak_source: 'kernel',
      limit_bytes: limit,
      limit_source: 'hierarchical_memory_limit',
      high_bytes: null,
      percent: (100 * usage) / limit,
      working_set_percent: (100 * ws) / limit,
      oom_events_total: null,
      oom_kills_total: 4,
      major_faults_total: 3528,
      major_faults_per_sec: null,
    });
    assert.deepEqual([...report.unsupportedFields.keys()].sort(), ['high_bytes', 'oom_events_total']);
    assert.equal(report.failedFields.size, 0);
  });

  it('the unlimited value 9223372036854771712 means the host MemTotal, source "host"', () => {
    tree = makeTree(v1Files({ 'memory.stat': v1StatText(V1_UNLIMITED), 'memory.limit_in_bytes': `${V1_UNLIMITED}\n` }));
    const loc = v1Location(tree.path('memory'), 'docker/abc');
    const b = collect(createMemoryCollector(env(loc, new FakeClock())), fixedTick({ memTotal: 3 * GiB }));
    assert.deepEqual(pickLimit(b), { limit_bytes: 3 * GiB, limit_source: 'host' });
    assertClose(b.percent, (100 * 210 * MiB) / (3 * GiB), 'percent');
  });

  it('no swap accounting and no kmem: swap and kernel unsupported with the file and the cause', () => {
    tree = makeTree(v1Files({}, ['memory.memsw.usage_in_bytes', 'memory.kmem.usage_in_bytes', 'memory.max_usage_in_bytes']));
    const report = new RecordingReport();
    const loc = v1Location(tree.path('memory'), 'docker/abc');
    const b = collect(createMemoryCollector(env(loc, new FakeClock())), fixedTick(), report);
    assert.equal(b.swap_bytes, null);
    assert.equal(b.kernel_bytes, null);
    assert.equal(b.peak_source, 'agent');
    assert.equal(b.peak_bytes, 210 * MiB);
    assert.match(report.unsupportedFields.get('swap_bytes') ?? '', /memory\.memsw\.usage_in_bytes missing \(swap accounting off/);
    assert.match(report.unsupportedFields.get('kernel_bytes') ?? '', /memory\.kmem\.usage_in_bytes missing/);
  });
});

function pickLimit(b: MemoryBlock): { limit_bytes: number | null; limit_source: string | null } {
  return { limit_bytes: b.limit_bytes, limit_source: b.limit_source };
}
