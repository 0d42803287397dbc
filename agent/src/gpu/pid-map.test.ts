import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { makeTree } from '../../test/helpers/tree.js';
import { mapGpuProcess, parseNsPid } from './pid-map.js';

/** A stat line with `starttime` (field 22) set. */
function stat(pid: number, comm: string, starttime: number): string {
  const fields = ['S', ...Array.from({ length: 18 }, () => '0'), String(starttime), '0', '100'];
  return `${pid} (${comm}) ${fields.join(' ')}\n`;
}

describe('parseNsPid', () => {
  it('reads the PID in every namespace, outermost first', () => {
    assert.deepEqual(parseNsPid('Name:\tpython\nNSpid:\t4242\t17\nNSpgid:\t4242\t17\n'), [4242, 17]);
    assert.deepEqual(parseNsPid('NSpid:\t1\n'), [1]);
    assert.equal(parseNsPid('Name:\tx\nPid:\t5\n'), null);
    assert.equal(parseNsPid('NSpid:\t\n'), null);
  });
});

describe('mapGpuProcess', () => {
  it('without HOST_PROC keeps the host PID and says so, and never reads the container /proc', () => {
    // The container /proc has an unrelated pid 4242: it must not be used.
    const own = makeTree({ '4242/stat': stat(4242, 'unrelated', 1) });
    try {
      assert.deepEqual(mapGpuProcess(4242, { hostProc: null, procRoot: own.root }), { pid: 4242, pid_namespace: 'host' });
    } finally {
      own.remove();
    }
  });

  it('maps a host PID to the container PID through NSpid when the start times agree', () => {
    const host = makeTree({
      '4242/status': 'Name:\tpython\nNSpid:\t4242\t17\n',
      '4242/stat': stat(4242, 'python', 987654),
      '5555/status': 'Name:\tother\nNSpid:\t5555\t17\n',
      '5555/stat': stat(5555, 'other', 111),
      '6666/status': 'Name:\thostproc\nNSpid:\t6666\n',
      '6666/stat': stat(6666, 'hostproc', 222),
    });
    const own = makeTree({ '17/stat': stat(17, 'python', 987654) });
    try {
      const opts = { hostProc: host.root, procRoot: own.root };
      assert.deepEqual(mapGpuProcess(4242, opts), { pid: 17, pid_namespace: 'container' });
      // Another container's pid 17: same number inside its namespace, different process.
      assert.deepEqual(mapGpuProcess(5555, opts), { pid: 5555, pid_namespace: 'host' });
      // A host process: its only NSpid is the host PID, which is not looked up as ours.
      assert.deepEqual(mapGpuProcess(6666, opts), { pid: 6666, pid_namespace: 'host' });
      // Gone from the host /proc by now.
      assert.deepEqual(mapGpuProcess(7777, opts), { pid: 7777, pid_namespace: 'host' });
    } finally {
      host.remove();
      own.remove();
    }
  });
});
