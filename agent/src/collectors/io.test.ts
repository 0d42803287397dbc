import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { afterEach, describe, it } from 'node:test';
import type { IoBlock } from '../../../shared/src/payload.js';
import { RecordingReport } from '../../test/helpers/report.js';
import { fixedTick } from '../../test/helpers/tick.js';
import { makeTree, type TempTree } from '../../test/helpers/tree.js';
import type { CgroupLocation, Hierarchy } from '../cgroup/location.js';
import { createIoCollector } from './io.js';
import { createPidsCollector } from './pids.js';
import type { AgentEnv } from './types.js';

const S = 1_000_000_000n;
const MIN_DELTA = 2n * S + S / 2n;

interface Harness {
  tree: TempTree;
  env: AgentEnv;
  advance(ns: bigint): void;
  collect(): { block: IoBlock; report: RecordingReport };
}

const trees: TempTree[] = [];
afterEach(() => {
  for (const t of trees.splice(0)) t.remove();
});

function harness(version: 1 | 2, files: Record<string, string>, opts: { v2Controllers?: string[]; noBlkio?: boolean } = {}): Harness {
  const tree = makeTree(files);
  trees.push(tree);
  const dir = tree.path('cg');
  const h: Hierarchy = { version, mount: dir, dir };
  const cgroup: CgroupLocation = {
    mode: version === 2 ? 'v2' : 'v1',
    scope: 'container',
    source: 'override',
    unified: version === 2 ? h : null,
    controllers: opts.noBlkio === true ? {} : { blkio: h, pids: h },
    v2Controllers: version === 2 ? new Set(opts.v2Controllers ?? ['cpu', 'memory', 'io', 'pids']) : null,
    notes: [],
  };
  let now = 1_000n * S;
  const env: AgentEnv = {
    procRoot: tree.path('proc'),
    sysRoot: tree.path('sys'),
    cgroup,
    intervalMs: 5000,
    minRateDeltaNs: MIN_DELTA,
    diskPaths: ['/'],
    clock: () => now,
  };
  const collector = createIoCollector(env);
  return {
    tree,
    env,
    advance(ns) {
      now += ns;
    },
    collect() {
      const report = new RecordingReport();
      const block = collector.collect(fixedTick(), report);
      assert.ok(!(block instanceof Promise));
      return { block, report };
    },
  };
}

/** sysfs for a device-mapper device `upper` stacked on the block device `name` (`MAJ:MIN` `lower`). */
function stack(upper: string, name: string, lower: string): Record<string, string> {
  return { [`sys/dev/block/${upper}/slaves/${name}`]: '', [`sys/class/block/${name}/dev`]: `${lower}\n` };
}

const ioLine = (dev: string, rb: number, wb: number, ri: number, wi: number): string =>
  `${dev} rbytes=${rb} wbytes=${wb} rios=${ri} wios=${wi} dbytes=0 dios=0\n`;

describe('io collector, cgroup v2', () => {
  it('counts a dm device stacked on a listed disk once, and lists it as skipped', () => {
    const sda = [1_048_576, 2_097_152, 64, 128] as const;
    const sdb = [4096, 8192, 1, 2] as const;
    const h = harness(2, {
      'cg/io.stat': ioLine('8:0', ...sda) + ioLine('253:0', ...sda) + ioLine('8:16', ...sdb),
      ...stack('253:0', 'sda', '8:0'),
    });
    const { block, report } = h.collect();
    assert.equal(block.read_bytes_total, sda[0] + sdb[0]);
    assert.equal(block.write_bytes_total, sda[1] + sdb[1]);
    assert.equal(block.read_ops_total, sda[2] + sdb[2]);
    assert.equal(block.write_ops_total, sda[3] + sdb[3]);
    assert.deepEqual(block.skipped_stacked, ['253:0']);
    assert.deepEqual(block.devices, [
      { device: '8:0', read_bytes_total: sda[0], write_bytes_total: sda[1], read_ops_total: sda[2], write_ops_total: sda[3] },
      { device: '8:16', read_bytes_total: sdb[0], write_bytes_total: sdb[1], read_ops_total: sdb[2], write_ops_total: sdb[3] },
    ]);
    assert.equal(block.read_bytes_per_sec, null, 'first sample has no rate');
    assert.equal(report.failedFields.size + report.unsupportedFields.size, 0);
  });

  it('keeps a stacked device whose lower devices are not listed', () => {
    const h = harness(2, {
      'cg/io.stat': ioLine('8:0', 100, 200, 1, 2) + ioLine('253:1', 300, 400, 3, 4),
      ...stack('253:1', 'sdc', '8:32'),
    });
    const { block } = h.collect();
    assert.equal(block.read_bytes_total, 100 + 300);
    assert.deepEqual(block.skipped_stacked, []);
    assert.deepEqual(block.devices.map((d) => d.device), ['8:0', '253:1']);
  });

  it('follows a stack through a layer that is not listed (dm on md on sda)', () => {
    const h = harness(2, {
      'cg/io.stat': ioLine('253:2', 500, 0, 5, 0) + ioLine('8:0', 500, 0, 5, 0),
      ...stack('253:2', 'md0', '9:0'),
      ...stack('9:0', 'sda', '8:0'),
    });
    const { block } = h.collect();
    assert.equal(block.read_bytes_total, 500);
    assert.deepEqual(block.skipped_stacked, ['253:2']);
  });

  it('rates per second over two collects with the measured Δt', () => {
    const h = harness(2, { 'cg/io.stat': ioLine('8:0', 1000, 2000, 10, 20) + ioLine('8:16', 0, 500, 0, 5) });
    h.collect();
    h.tree.write('cg/io.stat', ioLine('8:0', 1000 + 6000, 2000 + 3000, 10 + 7, 20 + 9) + ioLine('8:16', 250, 500, 1, 5));
    h.advance(5_003_000_000n);
    const { block } = h.collect();
    const dt = 5.003;
    assert.equal(block.read_bytes_per_sec, 6000 / dt + 250 / dt);
    assert.equal(block.write_bytes_per_sec, 3000 / dt + 0 / dt);
    assert.equal(block.read_ops_per_sec, 7 / dt + 1 / dt);
    assert.equal(block.write_ops_per_sec, 9 / dt + 0 / dt);
    assert.equal(block.read_bytes_total, 7000 + 250);
  });

  it('a device that disappears does not look like a reset, and a new device counts from zero', () => {
    const h = harness(2, { 'cg/io.stat': ioLine('8:0', 1000, 0, 1, 0) + ioLine('8:16', 900_000, 0, 90, 0) });
    h.collect();
    // 8:16 is gone (its total would drop the sum by 900000), 8:0 grew by 4000, 8:32 is new.
    h.tree.write('cg/io.stat', ioLine('8:0', 5000, 0, 5, 0) + ioLine('8:32', 2500, 0, 2, 0));
    h.advance(5n * S);
    const { block } = h.collect();
    assert.equal(block.read_bytes_total, 5000 + 2500);
    assert.equal(block.read_bytes_per_sec, 4000 / 5 + 2500 / 5);
    assert.equal(block.read_ops_per_sec, 4 / 5 + 2 / 5);
  });

  it('a counter that goes down is a reset: no rate for that pair, then rates resume', () => {
    const h = harness(2, { 'cg/io.stat': ioLine('8:0', 10_000, 10_000, 10, 10) });
    h.collect();
    h.tree.write('cg/io.stat', ioLine('8:0', 3000, 12_000, 3, 12));
    h.advance(5n * S);
    const second = h.collect().block;
    assert.equal(second.read_bytes_per_sec, null);
    assert.equal(second.read_ops_per_sec, null);
    assert.equal(second.write_bytes_per_sec, 2000 / 5, 'the other counter is unaffected');
    assert.equal(second.read_bytes_total, 3000);
    h.tree.write('cg/io.stat', ioLine('8:0', 8000, 12_000, 8, 12));
    h.advance(5n * S);
    const third = h.collect().block;
    assert.equal(third.read_bytes_per_sec, (8000 - 3000) / 5);
  });

  it('rejects a pair closer than half the interval', () => {
    const h = harness(2, { 'cg/io.stat': ioLine('8:0', 0, 0, 0, 0) });
    h.collect();
    h.tree.write('cg/io.stat', ioLine('8:0', 100, 0, 1, 0));
    h.advance(S);
    assert.equal(h.collect().block.read_bytes_per_sec, null);
    h.advance(4n * S);
    assert.equal(h.collect().block.read_bytes_per_sec, 100 / 5, 'measured from the older baseline');
  });

  it('an empty io.stat means no I/O: zero totals, zero rates once there is a baseline', () => {
    const h = harness(2, { 'cg/io.stat': '' });
    const first = h.collect().block;
    assert.equal(first.read_bytes_total, 0);
    assert.equal(first.read_bytes_per_sec, null);
    h.advance(5n * S);
    const second = h.collect().block;
    assert.equal(second.read_bytes_per_sec, 0);
    assert.equal(second.write_ops_per_sec, 0);
    assert.deepEqual(second.devices, []);
  });

  it('ignores unknown keys and accepts a device line without keys', () => {
    const h = harness(2, { 'cg/io.stat': '8:0 rbytes=10 wbytes=20 rios=1 wios=2 cost.vrate=99.50 newkey=7\n8:16\n' });
    const { block, report } = h.collect();
    assert.equal(block.read_bytes_total, 10);
    assert.deepEqual(block.devices.map((d) => d.device), ['8:0', '8:16']);
    assert.equal(report.failedFields.size, 0);
  });

  it('a malformed io.stat nulls the io fields and reports them; the collector does not throw', () => {
    const h = harness(2, { 'cg/io.stat': '8:0 rbytes=10\nnot-a-device rbytes=1\n', 'cg/pids.current': '4\n', 'cg/pids.max': 'max\n' });
    const { block, report } = h.collect();
    assert.equal(block.read_bytes_total, null);
    assert.equal(block.write_ops_total, null);
    assert.equal(block.read_bytes_per_sec, null);
    assert.deepEqual(block.devices, []);
    assert.match(report.failedFields.get('read_bytes_total') ?? '', /io\.stat line 2/);
    assert.ok(report.failedFields.has('write_ops_per_sec'));
    const pids = createPidsCollector(h.env).collect(fixedTick(), new RecordingReport());
    assert.deepEqual(pids, { current: 4, max: null }, 'another collector on the same cgroup is unaffected');
  });

  it('missing io.stat with the io controller not enabled is unsupported, with the reason', () => {
    const h = harness(2, {}, { v2Controllers: ['cpu', 'memory'] });
    const { block, report } = h.collect();
    assert.equal(block.read_bytes_total, null);
    assert.match(report.unsupportedFields.get('read_bytes_total') ?? '', /io\.stat missing .*io controller is not enabled/);
    assert.equal(report.failedFields.size, 0);
  });

  it('missing io.stat with the io controller listed is unsupported too, never a failure', () => {
    const h = harness(2, { 'cg/cgroup.procs': '' });
    const { block, report } = h.collect();
    assert.equal(block.read_ops_total, null);
    assert.match(report.unsupportedFields.get('read_ops_total') ?? '', /io\.stat missing .*host root cgroup/);
    assert.equal(report.failedFields.size, 0);
  });

  it('no blkio/io controller at all is unsupported', () => {
    const h = harness(2, {}, { noBlkio: true });
    const { block, report } = h.collect();
    assert.equal(block.write_bytes_total, null);
    assert.match(report.unsupportedFields.get('write_bytes_total') ?? '', /no cgroup blkio\/io controller/);
  });

  it('caches the stack topology for 60 s, but looks up a device it has not seen at once', () => {
    const h = harness(2, { 'cg/io.stat': ioLine('8:0', 10, 0, 1, 0) + ioLine('253:0', 10, 0, 1, 0), ...stack('253:0', 'sda', '8:0') });
    assert.deepEqual(h.collect().block.skipped_stacked, ['253:0']);
    rmSync(h.tree.path('sys/dev/block/253:0'), { recursive: true });
    h.tree.write('cg/io.stat', ioLine('8:0', 10, 0, 1, 0) + ioLine('253:0', 10, 0, 1, 0) + ioLine('253:5', 7, 0, 1, 0) + ioLine('8:16', 7, 0, 1, 0));
    for (const [k, v] of Object.entries(stack('253:5', 'sdb', '8:16'))) h.tree.write(k, v);
    h.advance(30n * S);
    const cached = h.collect().block;
    assert.deepEqual(cached.skipped_stacked, ['253:0', '253:5'], '253:0 from the cache, 253:5 looked up when first seen');
    h.advance(31n * S);
    const refreshed = h.collect().block;
    assert.deepEqual(refreshed.skipped_stacked, ['253:5'], 'after 60 s the removed stack is re-read');
    assert.equal(refreshed.read_bytes_total, 10 + 10 + 7);
  });
});

const v1Bytes = (dev: string, r: number, w: number): string =>
  `${dev} Read ${r}\n${dev} Write ${w}\n${dev} Sync ${w}\n${dev} Async ${r}\n${dev} Discard 0\n${dev} Total ${r + w}\nTotal ${r + w}\n`;

describe('io collector, cgroup v1', () => {
  it('prefers the _recursive throttle files (child cgroups included) over the cgroup-only ones', () => {
    const h = harness(1, {
      'cg/blkio.throttle.io_service_bytes_recursive': v1Bytes('8:0', 4_096_000, 8_192_000),
      'cg/blkio.throttle.io_serviced_recursive': v1Bytes('8:0', 1000, 2000),
      'cg/blkio.throttle.io_service_bytes': v1Bytes('8:0', 1, 1),
      'cg/blkio.throttle.io_serviced': v1Bytes('8:0', 1, 1),
    });
    const { block, report } = h.collect();
    assert.equal(block.read_bytes_total, 4_096_000);
    assert.equal(block.write_bytes_total, 8_192_000);
    assert.equal(block.read_ops_total, 1000);
    assert.equal(block.write_ops_total, 2000);
    assert.equal(report.failedFields.size + report.unsupportedFields.size, 0);
  });

  it('falls back to the non-recursive files, with rates', () => {
    const h = harness(1, {
      'cg/blkio.throttle.io_service_bytes': v1Bytes('8:0', 100, 200),
      'cg/blkio.throttle.io_serviced': v1Bytes('8:0', 1, 2),
    });
    assert.equal(h.collect().block.read_bytes_total, 100);
    h.tree.write('cg/blkio.throttle.io_service_bytes', v1Bytes('8:0', 100 + 5000, 200 + 10_000));
    h.advance(5n * S);
    const { block } = h.collect();
    assert.equal(block.read_bytes_per_sec, 5000 / 5);
    assert.equal(block.write_bytes_per_sec, 10_000 / 5);
    assert.equal(block.read_ops_per_sec, 0);
  });

  it('empty throttle files (no I/O recorded) give zero totals, not null', () => {
    const h = harness(1, { 'cg/blkio.throttle.io_service_bytes_recursive': '', 'cg/blkio.throttle.io_serviced_recursive': 'Total 0\n' });
    const { block, report } = h.collect();
    assert.deepEqual(
      [block.read_bytes_total, block.write_bytes_total, block.read_ops_total, block.write_ops_total],
      [0, 0, 0, 0],
    );
    assert.equal(report.unsupportedFields.size, 0);
  });

  it('missing throttle files are unsupported and leave the totals null', () => {
    const h = harness(1, { 'cg/cgroup.procs': '' });
    const { block, report } = h.collect();
    assert.equal(block.read_bytes_total, null);
    assert.equal(block.read_ops_total, null);
    assert.match(report.unsupportedFields.get('read_bytes_total') ?? '', /io_service_bytes_recursive and .* missing/);
    assert.match(report.unsupportedFields.get('read_ops_total') ?? '', /io_serviced_recursive and .* missing/);
    assert.equal(report.failedFields.size, 0);
  });

  it('a malformed ops file loses only the ops fields and the device rows', () => {
    const h = harness(1, {
      'cg/blkio.throttle.io_service_bytes_recursive': v1Bytes('8:0', 300, 400),
      'cg/blkio.throttle.io_serviced_recursive': '8:0 Read lots\n',
    });
    const { block, report } = h.collect();
    assert.equal(block.read_bytes_total, 300);
    assert.equal(block.write_bytes_total, 400);
    assert.equal(block.read_ops_total, null);
    assert.deepEqual(block.devices, []);
    assert.ok(report.failedFields.has('read_ops_total'));
    assert.ok(report.failedFields.has('devices'));
    assert.ok(!report.failedFields.has('read_bytes_total'));
  });

  it('skips stacked devices in v1 files too', () => {
    const h = harness(1, {
      'cg/blkio.throttle.io_service_bytes_recursive': v1Bytes('8:0', 300, 400).replace(/^Total.*\n/m, '') + v1Bytes('253:0', 300, 400),
      'cg/blkio.throttle.io_serviced_recursive': v1Bytes('8:0', 3, 4),
      ...stack('253:0', 'sda', '8:0'),
    });
    const { block } = h.collect();
    assert.equal(block.read_bytes_total, 300);
    assert.deepEqual(block.skipped_stacked, ['253:0']);
    assert.deepEqual(block.devices.map((d) => d.device), ['8:0']);
  });
});
