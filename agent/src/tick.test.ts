import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { pino } from 'pino';
import { createProcessesCollector } from './collectors/processes.js';
import { createSystemCollector } from './collectors/system.js';
import { TickSource } from './tick.js';
import { FakeClock, testEnv, v2Location } from '../test/helpers/env.js';
import { RecordingReport } from '../test/helpers/report.js';
import { makeTree, type TempTree } from '../test/helpers/tree.js';

const trees: TempTree[] = [];
after(() => {
  for (const t of trees) t.remove();
});

/** A stat line: pid, comm, state S, start time `start`, one thread, the rest 0. */
function stat(pid: number, comm: string, start: number): string {
  const f: (string | number)[] = [pid, `(${comm})`, 'S'];
  for (let n = 4; n <= 52; n++) f.push(0);
  f[19] = 1;
  f[21] = start;
  return `${f.join(' ')}\n`;
}

describe('TickSource: a pid the kernel lists twice', () => {
  it('is one process for every collector: count, fds and the oldest process', () => {
    // cgroup.procs lists 7 twice (v1 builds it from thread-group ids, not free of duplicates) and 12 again in a child cgroup.
    const tree = makeTree({
      'cg/cgroup.procs': '7\n12\n7\n',
      'cg/init/cgroup.procs': '12\n',
      'proc/7/stat': stat(7, 'app', 500),
      'proc/7/fd/0': '',
      'proc/7/fd/1': '',
      'proc/7/fd/2': '',
      'proc/12/stat': stat(12, 'helper', 900),
      'proc/12/fd/0': '',
      'proc/uptime': '100.00 150.00\n',
      'proc/loadavg': '0.10 0.20 0.30 1/100 12\n',
    });
    trees.push(tree);
    const clock = new FakeClock();
    const env = testEnv({ procRoot: tree.path('proc'), cgroup: v2Location(tree.path('cg'), ''), clock: clock.read });
    const tick = new TickSource(env, pino({ level: 'silent' })).next();
    assert.deepEqual([...tick.containerPids()].sort((a, b) => a - b), [7, 12]);
    const processes = createProcessesCollector(env, { pageSize: 4096 }).collect(tick, new RecordingReport());
    assert.equal(processes.count, 2);
    assert.equal(processes.fds, 3 + 1, 'the fixture holds 3 fds for pid 7 and 1 for pid 12');
    assert.equal(processes.threads, 2);
    assert.equal(processes.top.length, 2);
    const system = createSystemCollector(env).collect(tick, new RecordingReport());
    // Oldest process is 7 (start 500 ticks = 5 s after boot); uptime 100 s.
    assert.equal(system.uptime_seconds, 100 - 5);
  });
});
