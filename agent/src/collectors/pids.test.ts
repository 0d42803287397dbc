import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import type { PidsBlock } from '../../../shared/src/payload.js';
import { RecordingReport } from '../../test/helpers/report.js';
import { fixedTick } from '../../test/helpers/tick.js';
import { makeTree, type TempTree } from '../../test/helpers/tree.js';
import type { CgroupLocation, Hierarchy } from '../cgroup/location.js';
import { createPidsCollector } from './pids.js';
import type { AgentEnv } from './types.js';

const trees: TempTree[] = [];
afterEach(() => {
  for (const t of trees.splice(0)) t.remove();
});

function collect(
  files: Record<string, string>,
  opts: { version?: 1 | 2; v2Controllers?: string[]; noPids?: boolean } = {},
): { block: PidsBlock; report: RecordingReport } {
  const tree = makeTree(files);
  trees.push(tree);
  const version = opts.version ?? 2;
  const h: Hierarchy = { version, mount: tree.path('cg'), dir: tree.path('cg') };
  const cgroup: CgroupLocation = {
    mode: version === 2 ? 'v2' : 'v1',
    scope: 'container',
    source: 'override',
    unified: version === 2 ? h : null,
    controllers: opts.noPids === true ? {} : { pids: h },
    v2Controllers: version === 2 ? new Set(opts.v2Controllers ?? ['cpu', 'memory', 'io', 'pids']) : null,
    notes: [],
  };
  const env: AgentEnv = {
    procRoot: tree.path('proc'),
    sysRoot: tree.path('sys'),
    cgroup,
    intervalMs: 5000,
    minRateDeltaNs: 2_500_000_000n,
    diskPaths: ['/'],
    clock: () => 0n,
  };
  const report = new RecordingReport();
  const block = createPidsCollector(env).collect(fixedTick(), report);
  assert.ok(!(block instanceof Promise));
  return { block, report };
}

describe('pids collector', () => {
  it('reads pids.current and pids.max', () => {
    const { block, report } = collect({ 'cg/pids.current': '9\n', 'cg/pids.max': '512\n' });
    assert.deepEqual(block, { current: 9, max: 512 });
    assert.equal(report.failedFields.size + report.unsupportedFields.size, 0);
  });

  it('"max" is unlimited: null, without a note', () => {
    const { block, report } = collect({ 'cg/pids.current': '6\n', 'cg/pids.max': 'max\n' }, { version: 1 });
    assert.deepEqual(block, { current: 6, max: null });
    assert.equal(report.unsupportedFields.size, 0);
  });

  it('controller not enabled on v2: both null, unsupported with the reason', () => {
    const { block, report } = collect({ 'cg/cgroup.procs': '' }, { v2Controllers: ['cpu', 'memory'] });
    assert.deepEqual(block, { current: null, max: null });
    assert.match(report.unsupportedFields.get('current') ?? '', /pids\.current missing .*not enabled/);
    assert.match(report.unsupportedFields.get('max') ?? '', /pids\.max missing/);
    assert.equal(report.failedFields.size, 0);
  });

  it('files missing although the controller is listed (host root cgroup): unsupported', () => {
    const { block, report } = collect({ 'cg/cgroup.procs': '' });
    assert.deepEqual(block, { current: null, max: null });
    assert.match(report.unsupportedFields.get('current') ?? '', /pids\.current missing .*host root cgroup/);
    assert.equal(report.failedFields.size, 0);
  });

  it('no pids hierarchy mounted: unsupported', () => {
    const { block, report } = collect({}, { version: 1, noPids: true });
    assert.deepEqual(block, { current: null, max: null });
    assert.match(report.unsupportedFields.get('current') ?? '', /no pids controller/);
  });

  it('a malformed pids.current fails only current', () => {
    const { block, report } = collect({ 'cg/pids.current': 'lots\n', 'cg/pids.max': '100\n' });
    assert.deepEqual(block, { current: null, max: 100 });
    assert.match(report.failedFields.get('current') ?? '', /pids\.current/);
  });
});
