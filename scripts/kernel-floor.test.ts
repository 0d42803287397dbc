import assert from 'node:assert/strict';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { kernelFloor, keptKernelFiles } from './kernel-floor.js';

const repo = process.cwd();

test('keptKernelFiles lists the procfs and cgroupfs files a process holds open, and nothing else', () => {
  const stat = openSync(`/proc/${process.pid}/stat`, 'r');
  const loadavg = openSync('/proc/loadavg', 'r');
  const plain = openSync(`${repo}/package.json`, 'r');
  try {
    const files = keptKernelFiles(process.pid);
    assert.ok(files.includes(`/proc/${process.pid}/stat`), `own stat file missing from ${JSON.stringify(files)}`);
    assert.ok(files.includes('/proc/loadavg'));
    assert.ok(!files.some((f) => f.endsWith('package.json')), 'a regular file is not a kernel file');
    assert.ok(!files.some((f) => f.startsWith('socket:') || f.startsWith('pipe:') || f.startsWith('anon_inode:')));
  } finally {
    for (const fd of [stat, loadavg, plain]) closeSync(fd);
  }
});

test('kernelFloor reads every readable file, counts the ones it cannot open, and times a round', () => {
  // A cgroup file this machine has (v1 or v2), a procfs file and a procfs directory (fstat'd, as the agent does with /proc/PID/fd).
  const cgroupFile = ['/sys/fs/cgroup/memory/memory.usage_in_bytes', '/sys/fs/cgroup/cgroup.procs', '/sys/fs/cgroup/unified/cgroup.procs'].find((p) => {
    try {
      readFileSync(p);
      return true;
    } catch {
      return false;
    }
  });
  assert.ok(cgroupFile !== undefined, 'no readable cgroup file: this test needs cgroupfs mounted at /sys/fs/cgroup');
  const floor = kernelFloor(repo, [cgroupFile, '/proc/self/stat', `/proc/${process.pid}/fd`, '/proc/no-such-file-here'], 20, 1);
  assert.equal(floor.files, 3);
  assert.equal(floor.unreadable, 1, 'the missing path is counted, not read');
  assert.equal(floor.rounds, 20);
  assert.ok(floor.cpu_ns_per_round > 0, `cpu per round ${floor.cpu_ns_per_round}`);
  // Three syscalls cannot take a whole millisecond of CPU per round.
  assert.ok(floor.cpu_ns_per_round < 1e6, `cpu per round ${floor.cpu_ns_per_round} ns`);
  assert.equal(floor.gap_ms, 0);
});

test('kernelFloor with a gap sleeps between rounds and counts only the reads', () => {
  const started = Date.now();
  const floor = kernelFloor(repo, ['/proc/self/stat', `/proc/${process.pid}/fd`], 4, 1, 60);
  const elapsed = Date.now() - started;
  assert.equal(floor.gap_ms, 60);
  assert.equal(floor.rounds, 4);
  assert.ok(elapsed >= 4 * 60, `4 rounds 60 ms apart took ${elapsed} ms`);
  // The sleeps are not CPU: two syscalls a round stay far below a millisecond.
  assert.ok(floor.cpu_ns_per_round > 0 && floor.cpu_ns_per_round < 1e6, `cpu per round ${floor.cpu_ns_per_round} ns`);
});
