import assert from 'node:assert/strict';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { cpuSchema, type CpuBlock } from '../../../shared/src/payload.js';
import { controllerNames, type CgroupLocation } from '../cgroup/location.js';
import { makeTree, type TempTree } from '../../test/helpers/tree.js';
import { assertClose } from '../../test/helpers/assert-close.js';
import { FakeClock, v2Location } from '../../test/helpers/env.js';
import { RecordingReport } from '../../test/helpers/report.js';
import { fixedTick } from '../../test/helpers/tick.js';
import { createCpuCollector } from './cpu.js';
import type { AgentEnv, Tick } from './types.js';

const INTERVAL_MS = 5000;
const SEC = 1_000_000_000n;

function env(cgroup: CgroupLocation, clock: FakeClock): AgentEnv {
  return {
    procRoot: '/nonexistent-proc',
    sysRoot: '/nonexistent-sys',
    cgroup,
    intervalMs: INTERVAL_MS,
    minRateDeltaNs: BigInt(INTERVAL_MS * 1e6 * 0.5),
    diskPaths: ['/'],
    clock: clock.read,
  };
}

/** A v1 location with one mount per named hierarchy (`{ cpu: 'cpu', cpuacct: 'cpuacct' }` or co-mounted). */
function v1Location(root: string, rel: string, mounts: Record<string, string>): CgroupLocation {
  const controllers: CgroupLocation['controllers'] = {};
  for (const c of controllerNames) {
    const m = mounts[c];
    if (m !== undefined) controllers[c] = { version: 1, mount: join(root, m), dir: join(root, m, rel) };
  }
  return { mode: 'v1', scope: 'container', source: 'override', unified: null, controllers, v2Controllers: null, notes: [] };
}

function v2CpuStat(c: { usage: number; user: number; system: number; periods?: number; throttled?: number; throttledUs?: number }): string {
  let s = `usage_usec ${c.usage}\nuser_usec ${c.user}\nsystem_usec ${c.system}\nnice_usec 0\ncore_sched.force_idle_usec 0\n`;
  if (c.periods !== undefined) {
    s += `nr_periods ${c.periods}\nnr_throttled ${c.throttled ?? 0}\nthrottled_usec ${c.throttledUs ?? 0}\nnr_bursts 0\nburst_usec 0\n`;
  }
  return s;
}

/** Runs a collect and checks the block against the wire schema (no NaN, no negatives). */
function collect(c: ReturnType<typeof createCpuCollector>, tick: Tick, report = new RecordingReport()): CpuBlock {
  const block = c.collect(tick, report);
  assert.ok(!(block instanceof Promise));
  cpuSchema.parse(block);
  return block;
}

let tree: TempTree | null = null;
afterEach(() => {
  tree?.remove();
  tree = null;
});

describe('cpu collector, cgroup v2', () => {
  it('container with its own cpu.max: cores, percent of limit, docker percent, throttling (METRICS §2 example)', () => {
    tree = makeTree({
      'cg/cpu.max': '200000 100000\n',
      'cg/cpu.stat': v2CpuStat({ usage: 1_000_000, user: 600_000, system: 400_000, periods: 1000, throttled: 100, throttledUs: 2_000_000 }),
    });
    const clock = new FakeClock();
    const c = createCpuCollector(env(v2Location(tree.root, 'cg'), clock));
    const tick = fixedTick({ hostCpus: 8 });

    const first = collect(c, tick);
    assert.equal(first.cores_used, null, 'first sample has no baseline');
    assert.equal(first.throttled_percent, null);
    assert.equal(first.percent_of_limit, null);
    assert.equal(first.limit_cores, 2);
    assert.equal(first.limit_source, 'cpu.max');
    assert.equal(first.usage_seconds_total, 1_000_000 / 1e6);
    assert.equal(first.periods_total, 1000);

    tree.write(
      'cg/cpu.stat',
      v2CpuStat({ usage: 1_000_000 + 7_506_000, user: 600_000 + 5_003_000, system: 400_000 + 2_001_200, periods: 1050, throttled: 110, throttledUs: 2_750_000 }),
    );
    clock.advance(5_003_000_000n);
    const report = new RecordingReport();
    const b = collect(c, tick, report);
    const dt = 5.003;
    const cores = 7_506_000 / 1e6 / dt;
    assertClose(b.cores_used, cores, 'cores_used');
    assertClose(b.user_cores, 5_003_000 / 1e6 / dt, 'user_cores');
    assertClose(b.system_cores, 2_001_200 / 1e6 / dt, 'system_cores');
    assertClose(b.percent_of_limit, (100 * cores) / 2, 'percent_of_limit');
    assertClose(b.docker_percent, 100 * cores, 'docker_percent');
    assert.ok(Math.abs((b.percent_of_limit ?? 0) - 75) < 0.1, 'about 75 % of a 2-CPU limit, as docs/measurement.md §2 says');
    assertClose(b.throttled_percent, (100 * (110 - 100)) / (1050 - 1000), 'throttled_percent');
    assert.equal(b.usage_seconds_total, (1_000_000 + 7_506_000) / 1e6);
    assert.equal(b.user_seconds_total, (600_000 + 5_003_000) / 1e6);
    assert.equal(b.system_seconds_total, (400_000 + 2_001_200) / 1e6);
    assert.equal(b.throttled_periods_total, 110);
    assert.equal(b.periods_total, 1050);
    assert.equal(b.throttled_seconds_total, 2_750_000 / 1e6);
    assert.equal(report.unsupportedFields.size, 0, [...report.unsupportedFields].join('; '));
    assert.equal(report.failedFields.size, 0);
  });

  it('limit only on a parent: smallest quota up to the mount, source "ancestor"', () => {
    tree = makeTree({
      'parent/cpu.max': '150000 100000\n',
      'parent/child/cpu.max': 'max 100000\n',
      'parent/child/cpu.stat': v2CpuStat({ usage: 0, user: 0, system: 0, periods: 0 }),
    });
    const c = createCpuCollector(env(v2Location(tree.root, 'parent/child'), new FakeClock()));
    const b = collect(c, fixedTick({ hostCpus: 8 }));
    assert.equal(b.limit_cores, 150_000 / 100_000);
    assert.equal(b.limit_source, 'ancestor');

    // The cgroup's own quota wins when it is the smaller one.
    tree.write('parent/child/cpu.max', '50000 100000\n');
    const b2 = collect(c, fixedTick({ hostCpus: 8 }));
    assert.equal(b2.limit_cores, 0.5);
    assert.equal(b2.limit_source, 'cpu.max');
  });

  it('fractional quota 0.25 stays 0.25 and the percentage uses it', () => {
    tree = makeTree({
      'cg/cpu.max': '25000 100000\n',
      'cg/cpu.stat': v2CpuStat({ usage: 10_000_000, user: 0, system: 0, periods: 10 }),
    });
    const clock = new FakeClock();
    const c = createCpuCollector(env(v2Location(tree.root, 'cg'), clock));
    collect(c, fixedTick());
    tree.write('cg/cpu.stat', v2CpuStat({ usage: 10_000_000 + 1_000_000, user: 0, system: 0, periods: 60 }));
    clock.advance(5n * SEC);
    const b = collect(c, fixedTick());
    assert.equal(b.limit_cores, 0.25);
    const cores = 1_000_000 / 1e6 / 5;
    assertClose(b.cores_used, cores, 'cores_used');
    assertClose(b.percent_of_limit, (100 * cores) / 0.25, 'percent_of_limit');
  });

  it('cpuset-limited: "0-1" with no quota is 2 CPUs, source "cpuset"', () => {
    tree = makeTree({
      'cg/cpu.max': 'max 100000\n',
      'cg/cpuset.cpus.effective': '0-1\n',
      'cg/cpu.stat': v2CpuStat({ usage: 0, user: 0, system: 0, periods: 0 }),
    });
    const c = createCpuCollector(env(v2Location(tree.root, 'cg'), new FakeClock()));
    const b = collect(c, fixedTick({ hostCpus: 16 }));
    assert.equal(b.limit_cores, 2);
    assert.equal(b.limit_source, 'cpuset');

    // A quota smaller than the cpuset wins; a cpuset holding every CPU is named "host".
    tree.write('cg/cpu.max', '150000 100000\n');
    assert.deepEqual(pick(collect(c, fixedTick({ hostCpus: 16 }))), { limit_cores: 1.5, limit_source: 'cpu.max' });
    tree.write('cg/cpu.max', 'max 100000\n');
    tree.write('cg/cpuset.cpus.effective', '0-15\n');
    assert.deepEqual(pick(collect(c, fixedTick({ hostCpus: 16 }))), { limit_cores: 16, limit_source: 'host' });
  });

  it('re-reads the limit every tick (docker update changes it live)', () => {
    tree = makeTree({ 'cg/cpu.max': '100000 100000\n', 'cg/cpu.stat': v2CpuStat({ usage: 0, user: 0, system: 0, periods: 0 }) });
    const c = createCpuCollector(env(v2Location(tree.root, 'cg'), new FakeClock()));
    assert.equal(collect(c, fixedTick()).limit_cores, 1);
    tree.write('cg/cpu.max', '300000 100000\n');
    assert.equal(collect(c, fixedTick()).limit_cores, 3);
    tree.write('cg/cpu.max', 'max 100000\n');
    assert.deepEqual(pick(collect(c, fixedTick({ hostCpus: 6 }))), { limit_cores: 6, limit_source: 'host' });
  });

  it('an ancestor without cpu.max is probed again after a minute, not every tick', () => {
    tree = makeTree({ 'p/c/cpu.max': 'max 100000\n', 'p/c/cpu.stat': v2CpuStat({ usage: 0, user: 0, system: 0 }) });
    const clock = new FakeClock();
    const c = createCpuCollector(env(v2Location(tree.root, 'p/c'), clock));
    assert.equal(collect(c, fixedTick({ hostCpus: 4 })).limit_source, 'host');
    tree.write('p/cpu.max', '100000 100000\n');
    clock.advance(5n * SEC);
    assert.equal(collect(c, fixedTick({ hostCpus: 4 })).limit_source, 'host', 'not re-probed within the minute');
    clock.advance(60n * SEC);
    assert.deepEqual(pick(collect(c, fixedTick({ hostCpus: 4 }))), { limit_cores: 1, limit_source: 'ancestor' });
  });

  it('counter reset: usage going down gives null rates (never negative), then a new baseline', () => {
    tree = makeTree({ 'cg/cpu.stat': v2CpuStat({ usage: 50_000_000, user: 30_000_000, system: 20_000_000, periods: 500, throttled: 50 }) });
    const clock = new FakeClock();
    const c = createCpuCollector(env(v2Location(tree.root, 'cg'), clock));
    collect(c, fixedTick());

    tree.write('cg/cpu.stat', v2CpuStat({ usage: 2_000_000, user: 1_000_000, system: 1_000_000, periods: 20, throttled: 1 }));
    clock.advance(5n * SEC);
    const b = collect(c, fixedTick());
    assert.equal(b.cores_used, null);
    assert.equal(b.user_cores, null);
    assert.equal(b.system_cores, null);
    assert.equal(b.docker_percent, null);
    assert.equal(b.throttled_percent, null);
    assert.equal(b.usage_seconds_total, 2_000_000 / 1e6, 'the cumulative value is still published');

    tree.write('cg/cpu.stat', v2CpuStat({ usage: 2_000_000 + 2_500_000, user: 1_000_000, system: 1_000_000, periods: 70, throttled: 6 }));
    clock.advance(5n * SEC);
    const b2 = collect(c, fixedTick());
    assertClose(b2.cores_used, 2_500_000 / 1e6 / 5, 'cores_used after the reset');
    assertClose(b2.throttled_percent, (100 * (6 - 1)) / (70 - 20), 'throttled_percent after the reset');
  });

  it('no CFS period elapsed (idle cgroup): throttled_percent is 0', () => {
    tree = makeTree({ 'cg/cpu.stat': v2CpuStat({ usage: 5, user: 3, system: 2, periods: 40, throttled: 4 }) });
    const clock = new FakeClock();
    const c = createCpuCollector(env(v2Location(tree.root, 'cg'), clock));
    collect(c, fixedTick());
    clock.advance(5n * SEC);
    const b = collect(c, fixedTick());
    assert.equal(b.throttled_percent, 0);
    assert.equal(b.cores_used, 0);
  });

  it('a pair closer than half the interval gives no rate', () => {
    tree = makeTree({ 'cg/cpu.stat': v2CpuStat({ usage: 0, user: 0, system: 0 }) });
    const clock = new FakeClock();
    const c = createCpuCollector(env(v2Location(tree.root, 'cg'), clock));
    collect(c, fixedTick());
    tree.write('cg/cpu.stat', v2CpuStat({ usage: 1_000_000, user: 0, system: 0 }));
    clock.advance(1n * SEC);
    assert.equal(collect(c, fixedTick()).cores_used, null);
  });

  it('malformed cpu.max: only the limit fields are null, report.failed names the file, the rest is produced', () => {
    tree = makeTree({
      'cg/cpu.max': 'garbage\n',
      'cg/cpu.stat': v2CpuStat({ usage: 1_000_000, user: 0, system: 0, periods: 10, throttled: 0 }),
    });
    const clock = new FakeClock();
    const c = createCpuCollector(env(v2Location(tree.root, 'cg'), clock));
    collect(c, fixedTick());
    tree.write('cg/cpu.stat', v2CpuStat({ usage: 3_000_000, user: 0, system: 0, periods: 20, throttled: 5 }));
    clock.advance(4n * SEC);
    const report = new RecordingReport();
    const b = collect(c, fixedTick(), report);
    assert.equal(b.limit_cores, null);
    assert.equal(b.limit_source, null);
    assert.equal(b.percent_of_limit, null);
    assertClose(b.cores_used, 2_000_000 / 1e6 / 4, 'cores_used');
    assertClose(b.docker_percent, (100 * 2_000_000) / 1e6 / 4, 'docker_percent');
    assertClose(b.throttled_percent, (100 * 5) / 10, 'throttled_percent');
    const msg = report.failedFields.get('limit_cores');
    assert.ok(msg?.includes(join(tree.root, 'cg', 'cpu.max')), `failure names the file: ${msg}`);
    assert.deepEqual([...report.failedFields.keys()].sort(), ['limit_cores', 'limit_source', 'percent_of_limit']);
  });

  it('malformed ancestor cpu.max also fails the limit', () => {
    tree = makeTree({ 'p/cpu.max': '100000\n', 'p/c/cpu.stat': v2CpuStat({ usage: 0, user: 0, system: 0 }) });
    const report = new RecordingReport();
    const b = collect(createCpuCollector(env(v2Location(tree.root, 'p/c'), new FakeClock())), fixedTick(), report);
    assert.equal(b.limit_cores, null);
    assert.ok(report.failedFields.get('limit_cores')?.includes(join(tree.root, 'p', 'cpu.max')));
  });

  it('missing cpu.stat: usage fields unsupported with a reason naming the file; the limit is still produced', () => {
    tree = makeTree({ 'cg/cpu.max': '100000 100000\n' });
    const report = new RecordingReport();
    const b = collect(createCpuCollector(env(v2Location(tree.root, 'cg'), new FakeClock())), fixedTick(), report);
    assert.equal(b.cores_used, null);
    assert.equal(b.usage_seconds_total, null);
    assert.equal(b.limit_cores, 1);
    for (const f of ['cores_used', 'user_cores', 'system_cores', 'usage_seconds_total', 'throttled_percent', 'periods_total']) {
      assert.ok(report.unsupportedFields.get(f)?.includes(join(tree.root, 'cg', 'cpu.stat')), `${f}: ${report.unsupportedFields.get(f)}`);
    }
    assert.equal(report.failedFields.size, 0);
  });

  it('cpu controller not enabled: throttling unsupported, reason points at cgroup.controllers', () => {
    tree = makeTree({ 'cg/cpu.stat': v2CpuStat({ usage: 1, user: 1, system: 0 }) });
    const report = new RecordingReport();
    const loc = v2Location(tree.root, 'cg', { v2Controllers: ['memory', 'pids'] });
    const b = collect(createCpuCollector(env(loc, new FakeClock())), fixedTick({ hostCpus: 3 }), report);
    assert.equal(b.throttled_percent, null);
    assert.equal(b.periods_total, null);
    assert.equal(b.throttled_seconds_total, null);
    assert.equal(b.usage_seconds_total, 1 / 1e6);
    assert.deepEqual(pick(b), { limit_cores: 3, limit_source: 'host' });
    assert.match(report.unsupportedFields.get('throttled_percent') ?? '', /cgroup\.controllers/);
    assert.match(report.unsupportedFields.get('throttled_seconds_total') ?? '', /cgroup\.controllers/);
  });

  it('host root scope: cpu.stat without cpu.max, limit is the host, throttling unsupported', () => {
    tree = makeTree({ 'cpu.stat': v2CpuStat({ usage: 100, user: 60, system: 40 }), 'cpuset.cpus.effective': '0-3\n' });
    const report = new RecordingReport();
    const loc = v2Location(tree.root, '', { scope: 'host' });
    const b = collect(createCpuCollector(env(loc, new FakeClock())), fixedTick({ hostCpus: 4 }), report);
    assert.deepEqual(pick(b), { limit_cores: 4, limit_source: 'host' });
    assert.equal(b.usage_seconds_total, 100 / 1e6);
    assert.match(report.unsupportedFields.get('throttled_percent') ?? '', /host root/);
  });
});

describe('cpu collector, cgroup v1', () => {
  const V1_CPU_STAT = (periods: number, throttled: number, throttledNs: number): string =>
    `nr_periods ${periods}\nnr_throttled ${throttled}\nthrottled_time ${throttledNs}\nnr_bursts 0\nburst_time 0\n`;

  it('separate cpu and cpuacct mounts: usage from cpuacct (ns, USER_HZ ticks), quota and throttling from cpu', () => {
    tree = makeTree({
      'cpu/docker/abc/cpu.cfs_quota_us': '50000\n',
      'cpu/docker/abc/cpu.cfs_period_us': '100000\n',
      'cpu/docker/abc/cpu.stat': V1_CPU_STAT(100, 20, 3_000_000_000),
      'cpu/docker/cpu.cfs_quota_us': '-1\n',
      'cpu/docker/cpu.cfs_period_us': '100000\n',
      'cpu/cpu.cfs_quota_us': '-1\n',
      'cpu/cpu.cfs_period_us': '100000\n',
      'cpuacct/docker/abc/cpuacct.usage': '244946608013\n',
      'cpuacct/docker/abc/cpuacct.stat': 'user 18568\nsystem 5926\n',
      'cpuset/docker/abc/cpuset.cpus': '0-3\n',
    });
    const clock = new FakeClock();
    const loc = v1Location(tree.root, 'docker/abc', { cpu: 'cpu', cpuacct: 'cpuacct', cpuset: 'cpuset' });
    const c = createCpuCollector(env(loc, clock));
    const first = collect(c, fixedTick({ hostCpus: 8 }));
    assert.deepEqual(pick(first), { limit_cores: 0.5, limit_source: 'cpu.max' });
    assert.equal(first.usage_seconds_total, Math.trunc(244946608013 / 1000) / 1e6);
    assert.equal(first.user_seconds_total, 18568 / 100);
    assert.equal(first.throttled_seconds_total, 3_000_000_000 / 1e9);

    tree.write('cpuacct/docker/abc/cpuacct.usage', `${244946608013 + 2_500_000_000}\n`);
    tree.write('cpuacct/docker/abc/cpuacct.stat', `user ${18568 + 200}\nsystem ${5926 + 50}\n`);
    tree.write('cpu/docker/abc/cpu.stat', V1_CPU_STAT(150, 60, 5_000_000_000));
    clock.advance(5n * SEC);
    const report = new RecordingReport();
    const b = collect(c, fixedTick({ hostCpus: 8 }), report);
    // cpuacct.usage is truncated to whole µs, so compare the ns delta through that.
    const usageDeltaUs = Math.trunc((244946608013 + 2_500_000_000) / 1000) - Math.trunc(244946608013 / 1000);
    const cores = usageDeltaUs / 1e6 / 5;
    assertClose(b.cores_used, cores, 'cores_used');
    assertClose(b.cores_used, 0.5, 'cores_used ≈ 0.5');
    assertClose(b.user_cores, 200 / 100 / 5, 'user_cores');
    assertClose(b.system_cores, 50 / 100 / 5, 'system_cores');
    assertClose(b.percent_of_limit, (100 * cores) / 0.5, 'percent_of_limit');
    assertClose(b.throttled_percent, (100 * (60 - 20)) / (150 - 100), 'throttled_percent');
    assert.equal(b.throttled_seconds_total, 5_000_000_000 / 1e9);
    assert.equal(b.periods_total, 150);
    assert.equal(report.unsupportedFields.size + report.failedFields.size, 0);
  });

  it('co-mounted cpu,cpuacct with the quota on an ancestor and a v1 cpuset', () => {
    tree = makeTree({
      'cpu,cpuacct/kubepods/cpu.cfs_quota_us': '300000\n',
      'cpu,cpuacct/kubepods/cpu.cfs_period_us': '100000\n',
      'cpu,cpuacct/kubepods/pod1/cpu.cfs_quota_us': '-1\n',
      'cpu,cpuacct/kubepods/pod1/cpu.cfs_period_us': '100000\n',
      'cpu,cpuacct/kubepods/pod1/cpu.stat': V1_CPU_STAT(0, 0, 0),
      'cpu,cpuacct/kubepods/pod1/cpuacct.usage': '0\n',
      'cpu,cpuacct/kubepods/pod1/cpuacct.stat': 'user 0\nsystem 0\n',
      'cpuset/kubepods/pod1/cpuset.cpus': '0-1,4\n',
    });
    const loc = v1Location(tree.root, 'kubepods/pod1', { cpu: 'cpu,cpuacct', cpuacct: 'cpu,cpuacct', cpuset: 'cpuset' });
    const c = createCpuCollector(env(loc, new FakeClock()));
    assert.deepEqual(pick(collect(c, fixedTick({ hostCpus: 8 }))), { limit_cores: 3, limit_source: 'ancestor' });
    tree.write('cpuset/kubepods/pod1/cpuset.cpus', '0\n');
    assert.deepEqual(pick(collect(c, fixedTick({ hostCpus: 8 }))), { limit_cores: 1, limit_source: 'cpuset' });
  });

  it('missing cpuacct files: usage unsupported with the file named; throttling still read', () => {
    tree = makeTree({
      'cpu/cg/cpu.cfs_quota_us': '-1\n',
      'cpu/cg/cpu.cfs_period_us': '100000\n',
      'cpu/cg/cpu.stat': V1_CPU_STAT(5, 1, 100),
    });
    const report = new RecordingReport();
    const loc = v1Location(tree.root, 'cg', { cpu: 'cpu', cpuacct: 'cpuacct' });
    const b = collect(createCpuCollector(env(loc, new FakeClock())), fixedTick({ hostCpus: 2 }), report);
    assert.equal(b.cores_used, null);
    assert.equal(b.periods_total, 5);
    assert.deepEqual(pick(b), { limit_cores: 2, limit_source: 'host' });
    assert.ok(report.unsupportedFields.get('cores_used')?.includes(join(tree.root, 'cpuacct', 'cg', 'cpuacct.usage')));
    assert.ok(report.unsupportedFields.get('user_cores')?.includes(join(tree.root, 'cpuacct', 'cg', 'cpuacct.stat')));
  });
});

function pick(b: CpuBlock): { limit_cores: number | null; limit_source: string | null } {
  return { limit_cores: b.limit_cores, limit_source: b.limit_source };
}
