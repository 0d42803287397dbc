import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readdirSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { RecordingReport } from '../../test/helpers/report.js';
import { settledSleeper } from '../../test/helpers/sleeper.js';
import { fixedTick } from '../../test/helpers/tick.js';
import { testEnv } from '../../test/helpers/env.js';
import { makeTree } from '../../test/helpers/tree.js';
import { createProcessesCollector } from './processes.js';
import type { AgentEnv } from './types.js';
import { isProcfs } from './processes-fds.js';

function ownFds(): number {
  // The listing's own directory descriptor is in the list; it is the same one each time.
  return readdirSync('/proc/self/fd').length;
}

const procEnv = (): AgentEnv => testEnv({ procRoot: '/proc', sysRoot: '/sys', clock: () => process.hrtime.bigint() });

describe('per-process files kept between ticks (real /proc)', () => {
  it('procfs is recognised, a fixture tree is not', () => {
    assert.equal(isProcfs('/proc'), true);
    const tree = makeTree();
    try {
      assert.equal(isProcfs(tree.path('.')), false);
    } finally {
      tree.remove();
    }
  });

  it('counts the same fds as reading by path, and leaves its own kept descriptors out of the agent\'s count', async () => {
    const children = [await settledSleeper(3), await settledSleeper(3)];
    try {
      const pids = [process.pid, ...children.map((c) => c.pid)];
      // Read by path first, while nothing is kept: the container's fds as they are.
      const byPath = createProcessesCollector(procEnv(), { keepPidFiles: false }).collect(fixedTick({ pids }), new RecordingReport());
      const before = ownFds();
      const kept = createProcessesCollector(procEnv(), { keepPidFiles: true });
      for (let i = 0; i < 3; i++) {
        const b = kept.collect(fixedTick({ pids }), new RecordingReport());
        assert.equal(b.fds, byPath.fds, `tick ${i + 1}: kept descriptors are not counted`);
        assert.equal(b.threads, byPath.threads);
        assert.equal(b.fds_unreadable_pids, 0);
        assert.equal(b.top.find((p) => p.pid === children[0]?.pid)?.name, 'sleep');
      }
      assert.ok(ownFds() > before, 'descriptors are kept between ticks');
      // A tick without them closes what was kept; past the cap the rest are read by path, with the same result.
      kept.collect(fixedTick({ pids: [] }), new RecordingReport());
      assert.equal(ownFds(), before);
      const capped = createProcessesCollector(procEnv(), { keepPidFiles: true, maxKeptProcesses: 1 }).collect(fixedTick({ pids }), new RecordingReport());
      assert.equal(capped.fds, byPath.fds);
    } finally {
      for (const c of children) c.kill('SIGKILL');
    }
  });

  it('a process that exits: its kept files fail, it counts as gone, and its descriptors are closed', async () => {
    const child = await settledSleeper(3);
    const before = ownFds();
    const c = createProcessesCollector(procEnv(), { keepPidFiles: true });
    after(() => child.kill('SIGKILL'));
    const first = c.collect(fixedTick({ pids: [child.pid] }), new RecordingReport());
    assert.equal(first.count, 1);
    assert.equal(first.fds_unreadable_pids, 0);
    assert.ok(ownFds() > before);
    child.kill('SIGKILL');
    await once(child, 'exit');
    // Still listed (a tick whose cgroup.procs was read before the exit): the kept read fails, the path is gone too.
    const gone = c.collect(fixedTick({ pids: [child.pid] }), new RecordingReport());
    assert.equal(gone.fds_unreadable_pids, 1);
    assert.deepEqual(gone.top, []);
    assert.equal(ownFds(), before, 'the stale descriptors were closed at once');
    const next = c.collect(fixedTick({ pids: [] }), new RecordingReport());
    assert.equal(next.count, 0);
    assert.equal(ownFds(), before);
  });
});
