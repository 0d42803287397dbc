import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { readCgroupPids } from '../src/container-pids.js';
import { requireKernelCgroups, TestCgroup, uniqueName, V1_ROOT, V2_ROOT } from './helpers/kernel-cgroups.js';

/** A `sleep` started inside the cgroup's hierarchies (a shell joins them, then execs). */
async function sleeperIn(cg: TestCgroup): Promise<ChildProcess> {
  const joins = cg.dirs.map((d) => `echo $$ > '${d}/cgroup.procs'`).join(' && ');
  const child = spawn('sh', ['-c', `${joins} && exec sleep 600`], { stdio: 'ignore' });
  cg.children.push(child);
  await new Promise<void>((resolve, reject) => {
    child.once('error', reject);
    child.once('spawn', () => {
      resolve();
    });
  });
  return child;
}

async function killed(child: ChildProcess): Promise<void> {
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
}

/**
 * Issue #18: host mode counted a process more than the sidecar in the same
 * container. On cgroup v1 the kernel serves a descriptor of `cgroup.procs`
 * that is read again within a second the list it built for the first read;
 * the agents read every second through kept descriptors, so the list could
 * stay the one of an early tick for good. Each read must see the processes
 * there now, on both versions.
 */
for (const version of ['v1', 'v2'] as const) {
  describe(`cgroup.procs read every 300 ms on cgroup ${version}: each read lists the processes there now`, () => {
    let cg: TestCgroup;
    let dir: string;

    before(() => {
      requireKernelCgroups(version === 'v1' ? { v1: ['pids'], v2: false } : { v1: [], v2: true });
      const root = version === 'v1' ? join(V1_ROOT, 'pids') : V2_ROOT;
      cg = new TestCgroup(uniqueName(`sm-procs-${version}`), [root]);
      dir = cg.dir(root);
    });

    after(async () => {
      await cg.remove();
    });

    it('a process that exited is gone from the next read, one that started is in it', async () => {
      const [a, b] = [await sleeperIn(cg), await sleeperIn(cg)];
      const pidA = a.pid ?? 0;
      const pidB = b.pid ?? 0;
      // Wait until both shells have joined (they write their pid, then exec sleep).
      for (let i = 0; i < 100 && readCgroupPids(dir).length < 2; i++) await sleep(20);
      // Reads closer together than a second, as at a 1 s interval.
      for (let i = 0; i < 3; i++) {
        assert.deepEqual(readCgroupPids(dir).sort((x, y) => x - y), [pidA, pidB].sort((x, y) => x - y));
        await sleep(300);
      }
      await killed(a);
      assert.deepEqual(readCgroupPids(dir), [pidB], 'the killed process is not listed');
      await sleep(300);
      const c = await sleeperIn(cg);
      for (let i = 0; i < 100 && !readCgroupPids(dir).includes(c.pid ?? 0); i++) await sleep(20);
      await sleep(300);
      assert.deepEqual(readCgroupPids(dir).sort((x, y) => x - y), [pidB, c.pid ?? 0].sort((x, y) => x - y));
    });
  });
}

/**
 * The subtree walk lists a cgroup's children only when its link count says
 * it has any (2 + subdirectories on cgroupfs): a child made after a first
 * read, and a grandchild, must still be found.
 */
for (const version of ['v1', 'v2'] as const) {
  describe(`cgroup ${version}: processes in child cgroups, made before and after a read, are listed`, () => {
    let top: TestCgroup;
    const nested: TestCgroup[] = [];
    let root: string;

    before(() => {
      requireKernelCgroups(version === 'v1' ? { v1: ['pids'], v2: false } : { v1: [], v2: true });
      root = version === 'v1' ? join(V1_ROOT, 'pids') : V2_ROOT;
      top = new TestCgroup(uniqueName(`sm-nest-${version}`), [root]);
    });

    after(async () => {
      for (const c of nested.reverse()) await c.remove();
      await top.remove();
    });

    it('a leaf read alone, then a child and a grandchild added under it', async () => {
      const dir = top.dir(root);
      const a = await sleeperIn(top);
      for (let i = 0; i < 100 && readCgroupPids(dir).length < 1; i++) await sleep(20);
      assert.deepEqual(readCgroupPids(dir), [a.pid ?? 0]);
      // On v2 a cgroup with processes cannot enable controllers for children, but plain child directories are allowed.
      const child = new TestCgroup(`${top.name}/init`, [root]);
      nested.push(child);
      const grandchild = new TestCgroup(`${top.name}/init/worker`, [root]);
      nested.push(grandchild);
      const b = await sleeperIn(child);
      const c = await sleeperIn(grandchild);
      const want = [a.pid ?? 0, b.pid ?? 0, c.pid ?? 0].sort((x, y) => x - y);
      for (let i = 0; i < 100 && readCgroupPids(dir).length < 3; i++) await sleep(20);
      assert.deepEqual(readCgroupPids(dir).sort((x, y) => x - y), want);
    });
  });
}
