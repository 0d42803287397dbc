import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import type { PressureBlock, PressureLine } from '../../../shared/src/payload.js';
import { RecordingReport } from '../../test/helpers/report.js';
import { fixedTick } from '../../test/helpers/tick.js';
import { makeTree, type TempTree } from '../../test/helpers/tree.js';
import type { CgroupLocation, Hierarchy } from '../cgroup/location.js';
import { FileReadError } from '../fsread/read-text.js';
import { classifyPressureReadError, createPressureCollector } from './pressure.js';
import type { AgentEnv } from './types.js';

const S = 1_000_000_000n;
const trees: TempTree[] = [];
afterEach(() => {
  for (const t of trees.splice(0)) t.remove();
});

const psi = (someAvg10: string, someTotal: number, full: [string, number] | null): string =>
  `some avg10=${someAvg10} avg60=0.00 avg300=0.00 total=${someTotal}\n` +
  (full === null ? '' : `full avg10=${full[0]} avg60=0.00 avg300=0.00 total=${full[1]}\n`);

function harness(files: Record<string, string>, opts: { pureV1?: boolean } = {}) {
  const tree = makeTree(files);
  trees.push(tree);
  const dir = tree.path('cg');
  const unified: Hierarchy = { version: 2, mount: dir, dir };
  const v1: Hierarchy = { version: 1, mount: tree.path('cpu'), dir: tree.path('cpu') };
  const cgroup: CgroupLocation = {
    mode: opts.pureV1 === true ? 'v1' : 'v2',
    scope: 'container',
    source: 'override',
    unified: opts.pureV1 === true ? null : unified,
    controllers: opts.pureV1 === true ? { cpu: v1 } : { cpu: unified },
    v2Controllers: null,
    notes: [],
  };
  let now = 50n * S;
  const env: AgentEnv = {
    procRoot: tree.path('proc'),
    sysRoot: tree.path('sys'),
    cgroup,
    intervalMs: 5000,
    minRateDeltaNs: (5n * S) / 2n,
    diskPaths: ['/'],
    clock: () => now,
  };
  const collector = createPressureCollector(env);
  return {
    tree,
    advance(ns: bigint) {
      now += ns;
    },
    collect(): { block: PressureBlock; report: RecordingReport } {
      const report = new RecordingReport();
      const block = collector.collect(fixedTick(), report);
      assert.ok(!(block instanceof Promise));
      return { block, report };
    },
  };
}

/** Reads one line without letting an earlier assertion narrow the block's type. */
function line(b: PressureBlock, r: 'cpu' | 'memory' | 'io', k: 'some' | 'full'): PressureLine | null {
  return b[r]?.[k] ?? null;
}

describe('pressure collector', () => {
  it('reports avg10, totals and the exact interval share 100 × Δtotal / Δt', () => {
    const h = harness({
      'cg/cpu.pressure': psi('1.50', 123_456, ['0.50', 23_456]),
      'cg/memory.pressure': psi('0.00', 1000, ['0.00', 500]),
      'cg/io.pressure': psi('2.00', 654_321, ['1.00', 321_000]),
    });
    const first = h.collect().block;
    assert.equal(line(first, 'cpu', 'some')?.avg10, 1.5);
    assert.equal(line(first, 'cpu', 'some')?.total_seconds, 123_456 / 1e6);
    assert.equal(line(first, 'cpu', 'some')?.interval_percent, null, 'no baseline on the first sample');
    h.tree.write('cg/cpu.pressure', psi('1.50', 123_456 + 500_000, ['0.50', 23_456 + 125_000]));
    h.tree.write('cg/io.pressure', psi('2.00', 654_321 + 1_000_000, ['1.00', 321_000]));
    h.advance(4n * S);
    const { block, report } = h.collect();
    assert.equal(line(block, 'cpu', 'some')?.interval_percent, (100 * 500_000) / 4e6);
    assert.equal(line(block, 'cpu', 'full')?.interval_percent, (100 * 125_000) / 4e6);
    assert.equal(line(block, 'io', 'some')?.interval_percent, (100 * 1_000_000) / 4e6);
    assert.equal(line(block, 'io', 'full')?.interval_percent, 0);
    assert.equal(line(block, 'memory', 'some')?.interval_percent, 0);
    assert.equal(line(block, 'io', 'full')?.avg10, 1);
    assert.equal(line(block, 'io', 'some')?.total_seconds, (654_321 + 1_000_000) / 1e6);
    assert.equal(report.failedFields.size + report.unsupportedFields.size, 0);
  });

  it('clamps the interval share to 100 and gives no share across a reset', () => {
    const h = harness({
      'cg/cpu.pressure': psi('0.00', 1_000_000, null),
      'cg/memory.pressure': psi('0.00', 9_000_000, null),
      'cg/io.pressure': psi('0.00', 0, null),
    });
    h.collect();
    // 6 s of stall in a 5 s interval (rounding between the kernel's clock and ours).
    h.tree.write('cg/cpu.pressure', psi('0.00', 1_000_000 + 6_000_000, null));
    h.tree.write('cg/memory.pressure', psi('0.00', 10, null));
    h.advance(5n * S);
    const { block } = h.collect();
    assert.equal(line(block, 'cpu', 'some')?.interval_percent, 100);
    assert.equal(line(block, 'memory', 'some')?.interval_percent, null);
  });

  it('a kernel without a cpu "full" line gives full null with a note', () => {
    const h = harness({
      'cg/cpu.pressure': psi('3.00', 2_000_000, null),
      'cg/memory.pressure': psi('0.00', 0, ['0.00', 0]),
      'cg/io.pressure': psi('0.00', 0, ['0.00', 0]),
    });
    const { block, report } = h.collect();
    assert.equal(block.cpu?.full, null);
    assert.equal(line(block, 'cpu', 'some')?.avg10, 3);
    assert.match(report.unsupportedFields.get('cpu.full') ?? '', /no "full" line/);
    assert.notEqual(block.memory?.full, null);
  });

  it('a missing file nulls that resource only, as unsupported with the file named', () => {
    const h = harness({ 'cg/cpu.pressure': psi('1.00', 1, ['0.00', 0]), 'cg/io.pressure': psi('0.00', 0, ['0.00', 0]) });
    const { block, report } = h.collect();
    assert.equal(block.memory, null);
    assert.match(report.unsupportedFields.get('memory') ?? '', /memory\.pressure missing/);
    assert.equal(line(block, 'cpu', 'some')?.avg10, 1);
    assert.notEqual(block.io, null);
    assert.equal(report.failedFields.size, 0);
  });

  it('a malformed file fails that resource only', () => {
    const h = harness({
      'cg/cpu.pressure': 'some avg10=x\n',
      'cg/memory.pressure': psi('0.00', 0, ['0.00', 0]),
      'cg/io.pressure': psi('0.00', 0, ['0.00', 0]),
    });
    const { block, report } = h.collect();
    assert.equal(block.cpu, null);
    assert.match(report.failedFields.get('cpu') ?? '', /cpu\.pressure/);
    assert.notEqual(block.memory, null);
  });

  it('pure cgroup v1: every resource null, each with the reason', () => {
    const h = harness({ 'cg/cpu.pressure': psi('1.00', 1, null) }, { pureV1: true });
    const { block, report } = h.collect();
    assert.deepEqual(block, { cpu: null, memory: null, io: null });
    for (const r of ['cpu', 'memory', 'io']) assert.equal(report.unsupportedFields.get(r), 'cgroup v1 has no per-cgroup PSI');
  });
});

describe('classifyPressureReadError', () => {
  it('EOPNOTSUPP / ENOTSUP (psi=0) are unsupported, naming the boot option', () => {
    for (const code of ['EOPNOTSUPP', 'ENOTSUP']) {
      const v = classifyPressureReadError(new FileReadError('/cg/io.pressure', code, null), '/cg/io.pressure');
      if (v.kind !== 'unsupported') assert.fail(`${code} should be unsupported`);
      assert.ok(v.reason.includes(code) && v.reason.includes('psi=0'), v.reason);
    }
  });

  it('a missing file is unsupported; other errors are failures', () => {
    assert.equal(classifyPressureReadError(new FileReadError('/p', 'ENOENT', null), '/p').kind, 'unsupported');
    const denied = new FileReadError('/p', 'EACCES', null);
    assert.deepEqual(classifyPressureReadError(denied, '/p'), { kind: 'failed', error: denied });
    const other = new Error('boom');
    assert.deepEqual(classifyPressureReadError(other, '/p'), { kind: 'failed', error: other });
  });
});
