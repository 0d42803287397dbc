import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseProcCgroup } from './parse-proc-cgroup.js';
import { ParseError } from './values.js';

describe('parseProcCgroup', () => {
  it('parses v1 and v2 lines, dropping name= hierarchies from controller lists', () => {
    const text = '9:name=systemd:/\n4:memory:/process_api/x\n1:cpu,cpuacct:/docker/abc\n0::/\n';
    assert.deepEqual(parseProcCgroup(text), [
      { hierarchyId: 9, controllers: [], path: '/' },
      { hierarchyId: 4, controllers: ['memory'], path: '/process_api/x' },
      { hierarchyId: 1, controllers: ['cpu', 'cpuacct'], path: '/docker/abc' },
      { hierarchyId: 0, controllers: [], path: '/' },
    ]);
  });

  it('splits on the first two colons only: the path may contain colons', () => {
    const [e] = parseProcCgroup('0::/kubepods/pod:1/cri-containerd:abc\n');
    assert.equal(e?.path, '/kubepods/pod:1/cri-containerd:abc');
  });

  it('strips a trailing " (deleted)"', () => {
    const [e] = parseProcCgroup('0::/system.slice/gone.scope (deleted)\n');
    assert.equal(e?.path, '/system.slice/gone.scope');
  });

  it('rejects malformed lines with the line number', () => {
    assert.throws(() => parseProcCgroup('0::/\nbogus\n'), (err: unknown) => err instanceof ParseError && /line 2/.test(err.message));
    assert.throws(() => parseProcCgroup('x::/\n'), ParseError);
    assert.throws(() => parseProcCgroup('0::relative\n'), ParseError);
  });
});
