import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, symlinkSync } from 'node:fs';
import { endianness } from 'node:os';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { processesSchema } from '../../../shared/src/payload.js';
import { FileReadError } from '../fsread/read-text.js';
import { parseAuxvPageSize } from '../procfs/parse-pid-stat.js';
import { RecordingReport } from '../../test/helpers/report.js';
import { settledSleeper } from '../../test/helpers/sleeper.js';
import { fixedTick } from '../../test/helpers/tick.js';
import { testEnv } from '../../test/helpers/env.js';
import { makeTree, type TempTree } from '../../test/helpers/tree.js';
import type { AgentEnv } from './types.js';
import { classifyPidError, countFds, createProcessesCollector, decayLoad, fdCountMethod, kernelAtLeast, systemPageSize } from './processes.js';

const SECOND = 1_000_000_000n;
const PAGE = 4096;

interface Proc {
  comm: string;
  state?: string;
  utime?: number;
  stime?: number;
  threads?: number;
  start?: number;
  rss?: number;
}

/** A /proc/<pid>/stat line with the given values at their proc(5) field numbers. */
function stat(pid: number, p: Proc): string {
  const f: (string | number)[] = [pid, `(${p.comm})`];
  for (let n = 3; n <= 52; n++) f.push(0);
  f[2] = p.state ?? 'S';
  f[13] = p.utime ?? 0;
  f[14] = p.stime ?? 0;
  f[19] = p.threads ?? 1;
  f[21] = p.start ?? 1000;
  f[23] = p.rss ?? 100;
  return `${f.join(' ')}\n`;
}

const trees: TempTree[] = [];
after(() => {
  for (const t of trees) t.remove();
});

function setup(): { tree: TempTree; env: AgentEnv; advance: (ns: bigint) => void; put: (pid: number, p: Proc, fds?: number) => void } {
  const tree = makeTree();
  trees.push(tree);
  let now = 10n * SECOND;
  const env = testEnv({ procRoot: tree.path('proc'), sysRoot: tree.path('sys'), clock: () => now });
  const put = (pid: number, p: Proc, fds?: number): void => {
    tree.write(`proc/${pid}/stat`, stat(pid, p));
    if (fds !== undefined) {
      mkdirSync(tree.path(`proc/${pid}/fd`), { recursive: true });
      for (let i = 0; i < fds; i++) tree.write(`proc/${pid}/fd/${i}`, '');
    }
  };
  return {
    tree,
    env,
    put,
    advance: (ns) => {
      now += ns;
    },
  };
}

describe('processes collector', () => {
  it('counts processes, threads and fds; a pid without fd dir or gone is counted unreadable', () => {
    const { env, put } = setup();
    put(1, { comm: 'init', threads: 1 }, 4);
    put(7, { comm: 'my (weird) proc', threads: 3 }, 3);
    put(12, { comm: 'sh', threads: 1 }, 2);
    put(20, { comm: 'nofd', threads: 2 });
    const report = new RecordingReport();
    const b = createProcessesCollector(env, { pageSize: PAGE }).collect(fixedTick({ pids: [1, 7, 12, 20, 99] }), report);
    processesSchema.parse(b);
    assert.equal(b.count, 5);
    assert.equal(b.threads, 1 + 3 + 1 + 2, 'pid 99 vanished: no threads');
    assert.equal(b.fds, 4 + 3 + 2);
    assert.equal(b.fds_unreadable_pids, 2, 'pid 20 (no fd dir) and pid 99 (gone)');
    assert.equal(report.failedFields.size, 0);
    assert.ok(b.top.some((p) => p.pid === 7 && p.name === 'my (weird) proc'));
  });

  it('an fd table that fails for another reason nulls fds and says why', () => {
    const { tree, env, put } = setup();
    put(1, { comm: 'init' }, 2);
    put(5, { comm: 'odd' });
    tree.write('proc/5/fd', 'not a directory');
    const report = new RecordingReport();
    const b = createProcessesCollector(env, { pageSize: PAGE }).collect(fixedTick({ pids: [1, 5] }), report);
    assert.equal(b.fds, null);
    assert.match(report.failedFields.get('fds') ?? '', /ENOTDIR.*proc\/5\/fd/);
    assert.equal(b.threads, 2, 'the rest of the block is still produced');
  });

  it('top: by cores over the measured interval, rss from pages, pid reuse and gone pids forget their baseline', () => {
    const { env, advance, put } = setup();
    const procs: [number, Proc][] = [
      [1, { comm: 'init', utime: 100, rss: 10 }],
      [2, { comm: 'a', utime: 100, rss: 20 }],
      [3, { comm: 'b', utime: 100, rss: 30 }],
      [4, { comm: 'c', utime: 100, rss: 40 }],
      [5, { comm: 'd', utime: 100, rss: 50 }],
      [6, { comm: 'e', utime: 100, rss: 60 }],
      [7, { comm: 'reused', utime: 100, rss: 70, start: 500 }],
    ];
    for (const [pid, p] of procs) put(pid, p, 1);
    const c = createProcessesCollector(env, { pageSize: PAGE });
    const first = c.collect(fixedTick({ pids: [1, 2, 3, 4, 5, 6, 7] }), new RecordingReport());
    assert.deepEqual(
      first.top.map((p) => [p.pid, p.cores]),
      [
        [7, null],
        [6, null],
        [5, null],
        [4, null],
        [3, null],
      ],
      'first sample: no rates; largest rss first',
    );
    assert.equal(first.top[0]?.rss_bytes, 70 * PAGE);

    put(1, { comm: 'init', utime: 100 + 50, stime: 25, rss: 10 });
    put(2, { comm: 'a', utime: 100 + 300, rss: 20 });
    put(3, { comm: 'b', utime: 100 + 1, rss: 30 });
    put(7, { comm: 'reused', utime: 100 + 900, rss: 70, start: 800 });
    advance(5n * SECOND);
    const second = c.collect(fixedTick({ pids: [1, 2, 3, 4, 5, 6, 7] }), new RecordingReport());
    assert.deepEqual(
      second.top.map((p) => [p.pid, p.cores]),
      [
        [2, 300 / 5 / 100],
        [1, 75 / 5 / 100],
        [3, 1 / 5 / 100],
        [6, 0],
        [5, 0],
      ],
      'pid 7 has a new start time: a different process, no rate yet',
    );

    // Pid 2 disappears for a tick; when it is back its old baseline is gone.
    advance(5n * SECOND);
    c.collect(fixedTick({ pids: [1, 3, 4, 5, 6, 7] }), new RecordingReport());
    put(2, { comm: 'a', utime: 100 + 300 + 1000, rss: 20 });
    advance(5n * SECOND);
    const fourth = c.collect(fixedTick({ pids: [1, 2, 3, 4, 5, 6, 7] }), new RecordingReport());
    assert.equal(fourth.top.find((p) => p.pid === 2)?.cores ?? null, null);
  });

  it('top is the first five of every process ordered by cores, then rss, then pid, whatever the order and ties', () => {
    const small = fc.integer({ min: 0, max: 3 });
    fc.assert(
      fc.property(fc.uniqueArray(fc.record({ pid: fc.integer({ min: 1, max: 60 }), cpu: small, rss: small }), { selector: (p) => p.pid, maxLength: 12 }), (list) => {
        const { env, advance, put } = setup();
        for (const p of list) put(p.pid, { comm: `p${p.pid}`, utime: 100, rss: p.rss });
        const c = createProcessesCollector(env, { pageSize: PAGE });
        const pids = list.map((p) => p.pid);
        c.collect(fixedTick({ pids }), new RecordingReport());
        for (const p of list) put(p.pid, { comm: `p${p.pid}`, utime: 100 + p.cpu * 100, rss: p.rss });
        advance(5n * SECOND);
        const got = c.collect(fixedTick({ pids }), new RecordingReport()).top.map((p) => p.pid);
        const want = [...list].sort((a, b) => b.cpu - a.cpu || b.rss - a.rss || a.pid - b.pid).slice(0, 5).map((p) => p.pid);
        assert.deepEqual(got, want);
      }),
      { numRuns: 60 },
    );
  });

  it('a recycled pid is a new process: its own name, no rate against the old one, then a rate from its own baseline', () => {
    const { env, advance, put } = setup();
    put(40, { comm: 'old', utime: 1000, start: 300 }, 1);
    const c = createProcessesCollector(env, { pageSize: PAGE });
    c.collect(fixedTick({ pids: [40] }), new RecordingReport());
    // The old process exits and the kernel hands pid 40 to a new one (later start time, fewer CPU ticks).
    put(40, { comm: 'new', utime: 10, start: 4000 }, 1);
    advance(5n * SECOND);
    const recycled = c.collect(fixedTick({ pids: [40] }), new RecordingReport());
    assert.deepEqual(recycled.top.map((p) => [p.name, p.cores]), [['new', null]]);
    put(40, { comm: 'new', utime: 10 + 250, start: 4000 }, 1);
    advance(5n * SECOND);
    const next = c.collect(fixedTick({ pids: [40] }), new RecordingReport());
    assert.deepEqual(next.top.map((p) => [p.name, p.cores]), [['new', 250 / 5 / 100]]);
  });

  it('exec keeps pid and start time: the same process, under its new name', () => {
    const { env, advance, put } = setup();
    put(41, { comm: 'sh', utime: 100, start: 300 }, 1);
    const c = createProcessesCollector(env, { pageSize: PAGE });
    c.collect(fixedTick({ pids: [41] }), new RecordingReport());
    put(41, { comm: 'sleep', utime: 150, start: 300 }, 1);
    advance(5n * SECOND);
    const b = c.collect(fixedTick({ pids: [41] }), new RecordingReport());
    assert.deepEqual(b.top.map((p) => [p.name, p.cores]), [['sleep', 50 / 5 / 100]]);
  });

  it('with no task reads allowed (LOAD_TASK_READS=0) each process counts by its main thread', () => {
    const { env, put, tree } = setup();
    put(50, { comm: 'multi', state: 'S', threads: 3 }, 1);
    for (const [tid, state] of [[50, 'S'], [51, 'R'], [52, 'R']] as const) tree.write(`proc/50/task/${tid}/stat`, stat(tid, { comm: 'multi', state }));
    const all = createProcessesCollector(env, { pageSize: PAGE }).collect(fixedTick({ pids: [50] }), new RecordingReport());
    assert.equal(all.running_tasks, 2, 'two of its threads run');
    const none = createProcessesCollector(env, { pageSize: PAGE, maxTasksPerTick: 0 }).collect(fixedTick({ pids: [50] }), new RecordingReport());
    assert.equal(none.running_tasks, 0, 'its main thread sleeps');
  });

  it('running and uninterruptible tasks, per thread for multi-threaded processes', () => {
    const { tree, env, advance, put } = setup();
    put(1, { comm: 'init', state: 'R', threads: 1 });
    put(2, { comm: 'sleeper', state: 'S', threads: 1 });
    put(3, { comm: 'disk', state: 'D', threads: 1 });
    put(4, { comm: 'zombie', state: 'Z', threads: 1 });
    // Main thread sleeps, two workers run, one is in D.
    put(10, { comm: 'java', state: 'S', threads: 4 });
    tree.write('proc/10/task/10/stat', stat(10, { comm: 'java', state: 'S' }));
    tree.write('proc/10/task/11/stat', stat(11, { comm: 'worker (1)', state: 'R' }));
    tree.write('proc/10/task/12/stat', stat(12, { comm: 'worker (2)', state: 'R' }));
    tree.write('proc/10/task/13/stat', stat(13, { comm: 'io', state: 'D' }));
    const pids = [1, 2, 3, 4, 10];
    const c = createProcessesCollector(env, { pageSize: PAGE });
    const first = c.collect(fixedTick({ pids }), new RecordingReport());
    const running = 1 + 2;
    const blocked = 1 + 1;
    assert.equal(first.running_tasks, running);
    assert.equal(first.uninterruptible_tasks, blocked);
    assert.equal(first.load_average, null, 'no interval yet');
    advance(5n * SECOND);
    const second = c.collect(fixedTick({ pids }), new RecordingReport());
    const n = running + blocked;
    assert.deepEqual(second.load_average, {
      load1: n * (1 - Math.exp(-5 / 60)),
      load5: n * (1 - Math.exp(-5 / 300)),
      load15: n * (1 - Math.exp(-5 / 900)),
    });
    advance(4_800_000_000n);
    const third = c.collect(fixedTick({ pids }), new RecordingReport());
    const l1 = third.load_average?.load1 ?? NaN;
    assert.ok(Math.abs(l1 - n * (1 - Math.exp(-9.8 / 60))) < 1e-12, `load1 ${l1} after 9.8 s of ${n} active tasks`);
  });

  it('past the per-tick task cap a process counts by its main thread', () => {
    const { tree, env, put } = setup();
    put(1, { comm: 'init', state: 'R', threads: 1 });
    put(10, { comm: 'big', state: 'S', threads: 3 });
    for (const tid of [10, 11, 12]) tree.write(`proc/10/task/${tid}/stat`, stat(tid, { comm: 'big', state: 'R' }));
    const capped = createProcessesCollector(env, { pageSize: PAGE, maxTasksPerTick: 2 }).collect(fixedTick({ pids: [1, 10] }), new RecordingReport());
    assert.equal(capped.running_tasks, 1, 'init only: pid 10 has 3 threads, 1 task of budget left, main thread sleeps');
    const full = createProcessesCollector(env, { pageSize: PAGE }).collect(fixedTick({ pids: [1, 10] }), new RecordingReport());
    assert.equal(full.running_tasks, 1 + 3);
  });

  it('the agent itself is left out of the R/D count (the observer is always running)', () => {
    const { tree, env, put } = setup();
    put(10, { comm: 'node', state: 'R', threads: 2 }, 1);
    symlinkSync('10', tree.path('proc/self'));
    tree.write('proc/10/task/10/stat', stat(10, { comm: 'node', state: 'R' }));
    tree.write('proc/10/task/11/stat', stat(11, { comm: 'libuv-worker', state: 'D' }));
    put(20, { comm: 'app', state: 'R', threads: 1 }, 1);
    const b = createProcessesCollector(env, { pageSize: PAGE }).collect(fixedTick({ pids: [10, 20] }), new RecordingReport());
    assert.equal(b.running_tasks, 1, 'pid 20 only');
    assert.equal(b.uninterruptible_tasks, 0);
    assert.equal(b.threads, 2 + 1, 'still counted as threads');
    assert.equal(b.fds, 2, 'and its fds');
  });

  it('a malformed stat line nulls the fields that come from it, not the block', () => {
    const { tree, env, put } = setup();
    put(1, { comm: 'init' }, 2);
    tree.write('proc/2/stat', '2 (broken');
    const report = new RecordingReport();
    const b = createProcessesCollector(env, { pageSize: PAGE }).collect(fixedTick({ pids: [1, 2] }), report);
    assert.equal(b.count, 2);
    assert.equal(b.fds, 2);
    assert.equal(b.threads, null);
    assert.equal(b.running_tasks, null);
    assert.equal(b.load_average, null);
    assert.match(report.failedFields.get('threads') ?? '', /proc\/2\/stat/);
  });

  it('real /proc: the fd count of a sleeping child equals its listed fd table', async () => {
    const child = await settledSleeper();
    try {
      const pid = child.pid;
      const listed = readdirSync(`/proc/${pid}/fd`).length;
      const env: AgentEnv = { ...setup().env, procRoot: '/proc' };
      const b = createProcessesCollector(env).collect(fixedTick({ pids: [pid] }), new RecordingReport());
      assert.ok(listed >= 3, 'stdin, stdout, stderr and whatever the test runner leaves inheritable');
      assert.equal(b.fds, listed);
      assert.equal(b.top[0]?.name, 'sleep');
      assert.equal(b.running_tasks, 0, 'sleep sleeps');
    } finally {
      child.kill();
    }
  });

  it('reads the real /proc for this process', () => {
    const env: AgentEnv = { ...setup().env, procRoot: '/proc' };
    const b = createProcessesCollector(env).collect(fixedTick({ pids: [process.pid] }), new RecordingReport());
    const before = Number(/^Threads:\s+(\d+)/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1]);
    assert.equal(b.count, 1);
    assert.equal(b.fds_unreadable_pids, 0);
    assert.ok(b.fds !== null && b.fds >= 3, `fds ${b.fds}`);
    assert.ok(b.threads !== null && Math.abs(b.threads - before) <= 2, `threads ${b.threads} vs ${before}`);
    assert.equal(b.top[0]?.pid, process.pid);
  });
});

describe('decayLoad', () => {
  it('matches the closed form n·(1 − exp(−t/T)) after a constant n from 0, for irregular steps', () => {
    const n = 3;
    let load = { load1: 0, load5: 0, load15: 0 };
    let t = 0;
    const steps = [5, 5, 4.7, 5.3, 10, 0.5, 5, 60, 5, 123.4];
    for (const dt of steps) {
      load = decayLoad(load, n, dt);
      t += dt;
      for (const [key, T] of [
        ['load1', 60],
        ['load5', 300],
        ['load15', 900],
      ] as const) {
        const expected = n * (1 - Math.exp(-t / T));
        assert.ok(Math.abs(load[key] - expected) < 1e-9, `${key} after ${t} s: ${load[key]} vs ${expected}`);
      }
    }
  });

  it('with no active tasks decays as exp(−t/T)', () => {
    const l = decayLoad({ load1: 2, load5: 2, load15: 2 }, 0, 60);
    assert.ok(Math.abs(l.load1 - 2 * Math.exp(-1)) < 1e-12);
    assert.ok(Math.abs(l.load5 - 2 * Math.exp(-60 / 300)) < 1e-12);
    assert.ok(Math.abs(l.load15 - 2 * Math.exp(-60 / 900)) < 1e-12);
  });
});

describe('classifyPidError', () => {
  const errno = (code: string): NodeJS.ErrnoException => Object.assign(new Error(code), { code });
  it('gone, denied or a real failure', () => {
    assert.equal(classifyPidError(errno('ENOENT')), 'gone');
    assert.equal(classifyPidError(errno('ESRCH')), 'gone');
    assert.equal(classifyPidError(errno('EACCES')), 'denied');
    assert.equal(classifyPidError(errno('EPERM')), 'denied');
    assert.equal(classifyPidError(new FileReadError('/proc/9/fd', 'EACCES', null)), 'denied');
    assert.equal(classifyPidError(new FileReadError('/proc/9/stat', 'ENOENT', null)), 'gone');
    assert.equal(classifyPidError(errno('EMFILE')), 'other');
    assert.equal(classifyPidError(new Error('no code')), 'other');
  });
});

describe('fd counting', () => {
  const osrelease = readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();

  it('kernelAtLeast compares major.minor of a release string', () => {
    assert.equal(kernelAtLeast('6.2.0', 6, 2), true);
    assert.equal(kernelAtLeast('6.18.0-1-amd64', 6, 2), true);
    assert.equal(kernelAtLeast('7.0', 6, 2), true);
    assert.equal(kernelAtLeast('6.1.120-cloud', 6, 2), false);
    assert.equal(kernelAtLeast('5.15.0', 6, 2), false);
    assert.equal(kernelAtLeast('garbage', 6, 2), false);
  });

  it('stat on procfs of a kernel >= 6.2, listing on an older kernel or a fixture tree', () => {
    assert.equal(fdCountMethod('/proc'), kernelAtLeast(osrelease, 6, 2) ? 'stat' : 'list', `kernel ${osrelease}`);
    assert.equal(fdCountMethod('/proc', '6.1.0'), 'list', 'a 6.1 kernel reports 0 as the size: list');
    assert.equal(fdCountMethod('/proc', '5.10.0-28-amd64'), 'list');
    const tree = makeTree({ 'proc/self/fd/0': '' });
    trees.push(tree);
    assert.equal(fdCountMethod(tree.path('proc'), '6.18.0'), 'list', 'a fixture tree is listed, its directory size means nothing');
  });

  it('both methods give the kernel\'s own count for a real process with a known number of open files', async () => {
    // The child opens 7 more files than the 3 standard ones; the count is checked against its fd table listed here.
    const child = await settledSleeper(7);
    try {
      const pid = child.pid;
      // The kernel's fd table, listed here: stdin, stdout, stderr, fds 3-9, and whatever the test runner leaves inheritable.
      const listed = readdirSync(`/proc/${pid}/fd`).length;
      assert.ok(listed >= 10, `listed ${listed}`);
      assert.equal(countFds(`/proc/${pid}/fd`, 'list'), listed);
      if (kernelAtLeast(osrelease, 6, 2)) assert.equal(countFds(`/proc/${pid}/fd`, 'stat'), listed);
      for (const method of ['stat', 'list'] as const) {
        if (method === 'stat' && !kernelAtLeast(osrelease, 6, 2)) continue;
        const env: AgentEnv = { ...setup().env, procRoot: '/proc' };
        const b = createProcessesCollector(env, { fdCount: method }).collect(fixedTick({ pids: [pid] }), new RecordingReport());
        assert.equal(b.fds, listed, `fds by ${method}`);
      }
    } finally {
      child.kill();
    }
  });
});

describe('systemPageSize', () => {
  it('is the AT_PAGESZ of this process', () => {
    assert.equal(systemPageSize(), parseAuxvPageSize(readFileSync('/proc/self/auxv'), 8, endianness() === 'LE'));
  });
});
