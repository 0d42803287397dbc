import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { makeTree } from '../test/helpers/tree.js';
import { inOwnPidNamespace, processHierarchy, readCgroupPids, readProcPids } from './container-pids.js';
import type { CgroupLocation } from './cgroup/location.js';

describe('container PIDs', () => {
  it('walks the cgroup subtree (Docker puts processes in a child such as /init) and drops 0 entries', () => {
    const t = makeTree({
      'cg/cgroup.procs': '',
      'cg/init/cgroup.procs': '1\n7\n0\n',
      'cg/init/worker/cgroup.procs': '12\n',
    });
    try {
      assert.deepEqual(readCgroupPids(t.path('cg')).sort((a, b) => a - b), [1, 7, 12]);
    } finally {
      t.remove();
    }
  });

  it('counts a pid listed twice once: twice in one cgroup.procs, or in two cgroups of the subtree', () => {
    const t = makeTree({
      'cg/cgroup.procs': '7\n12\n7\n',
      'cg/init/cgroup.procs': '12\n30\n',
    });
    try {
      assert.deepEqual(readCgroupPids(t.path('cg')).sort((a, b) => a - b), [7, 12, 30]);
    } finally {
      t.remove();
    }
  });

  it('uses /proc only when NSpid shows a PID namespace of our own', () => {
    const t = makeTree({
      'own/self/status': 'Name:\tnode\nNSpid:\t4242\t17\n',
      'host/self/status': 'Name:\tnode\nNSpid:\t4242\n',
      'own/1/stat': '',
      'own/17/stat': '',
      'own/self/x': '',
    });
    try {
      assert.equal(inOwnPidNamespace(t.path('own')), true);
      assert.equal(inOwnPidNamespace(t.path('host')), false);
      assert.deepEqual(readProcPids(t.path('own')).sort((a, b) => a - b), [1, 17]);
    } finally {
      t.remove();
    }
  });

  it('prefers a hierarchy where the container cgroup exists', () => {
    const t = makeTree({ 'memory/app/cgroup.procs': '1\n' });
    try {
      const loc: CgroupLocation = {
        mode: 'v1',
        scope: 'container',
        source: 'override',
        unified: null,
        controllers: {
          pids: { version: 1, mount: t.path('pids'), dir: t.path('pids/app') },
          memory: { version: 1, mount: t.path('memory'), dir: t.path('memory/app') },
        },
        v2Controllers: null,
        notes: [],
      };
      assert.equal(processHierarchy(loc)?.dir, t.path('memory/app'));
    } finally {
      t.remove();
    }
  });
});
