import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { makeTree } from '../../test/helpers/tree.js';
import { locateCgroup } from './locate.js';

const FIXTURES = fileURLToPath(new URL('../../test/fixtures/', import.meta.url));

function locateFixture(name: string, cgroupPath?: string) {
  const root = join(FIXTURES, name);
  const cg = join(root, 'sys/fs/cgroup');
  return { cg, loc: locateCgroup({ procRoot: join(root, 'proc'), cgroupRoot: cg, cgroupPath }) };
}

describe('locateCgroup on fixture trees', () => {
  it('Docker on v2 with a private namespace: the namespace root is the container', () => {
    const { cg, loc } = locateFixture('docker-v2');
    assert.equal(loc.mode, 'v2');
    assert.equal(loc.scope, 'container');
    assert.equal(loc.source, 'private-namespace');
    assert.deepEqual(loc.unified, { version: 2, mount: cg, dir: cg });
    assert.equal(loc.controllers.memory, loc.unified);
    assert.equal(loc.controllers.blkio, loc.unified);
    assert.deepEqual([...(loc.v2Controllers ?? [])].sort(), ['cpu', 'cpuset', 'hugetlb', 'io', 'memory', 'misc', 'pids', 'rdma']);
  });

  it('private namespace with the agent in /init: still the namespace root, with a note', () => {
    const { cg, loc } = locateFixture('docker-v2-init');
    assert.equal(loc.unified?.dir, cg);
    assert.equal(loc.source, 'private-namespace');
    assert.ok(loc.notes.some((n) => n.includes('/init')), loc.notes.join('\n'));
  });

  it('Docker on v1: each hierarchy is mounted at the container subtree; co-mounted cpu,cpuacct share one', () => {
    const { cg, loc } = locateFixture('docker-v1');
    assert.equal(loc.mode, 'v1');
    assert.equal(loc.unified, null);
    assert.equal(loc.controllers.cpu?.dir, join(cg, 'cpu,cpuacct'));
    assert.equal(loc.controllers.cpuacct, loc.controllers.cpu);
    assert.equal(loc.controllers.memory?.dir, join(cg, 'memory'));
    assert.equal(loc.controllers.memory?.version, 1);
    assert.equal(loc.controllers.pids?.dir, join(cg, 'pids'));
    assert.equal(loc.scope, 'container');
    assert.equal(loc.source, 'host-namespace');
  });

  it('hybrid: v1 controllers win, the controller-less cgroup2 tree is kept for PSI', () => {
    const { cg, loc } = locateFixture('hybrid');
    const leaf = 'system.slice/docker-abc.scope';
    assert.equal(loc.mode, 'hybrid');
    assert.equal(loc.controllers.cpu?.dir, join(cg, 'cpu', leaf));
    assert.equal(loc.controllers.cpu?.version, 1);
    assert.equal(loc.controllers.memory?.dir, join(cg, 'memory', leaf));
    assert.equal(loc.controllers.cpuset?.dir, join(cg, 'cpuset'), 'cpuset line says "/"');
    assert.deepEqual(loc.unified, { version: 2, mount: join(cg, 'unified'), dir: join(cg, 'unified', leaf) });
    assert.equal(loc.scope, 'container');
  });

  it('host cgroup namespace: the resolved leaf', () => {
    const { cg, loc } = locateFixture('host-leaf');
    assert.equal(loc.unified?.dir, join(cg, 'system.slice/docker-abc.scope'));
    assert.equal(loc.source, 'host-namespace');
    assert.equal(loc.scope, 'container');
  });

  it('an explicit cgroup path wins over detection', () => {
    const { cg, loc } = locateFixture('host-leaf', '/system.slice');
    assert.equal(loc.unified?.dir, join(cg, 'system.slice'));
    assert.equal(loc.source, 'override');
  });

  it('an override cannot escape the hierarchy with ..', () => {
    const { cg, loc } = locateFixture('host-leaf', '/../../etc');
    assert.equal(loc.unified?.dir, join(cg, 'etc'));
  });

  it('rootless: no controllers delegated, noted for doctor', () => {
    const { loc } = locateFixture('rootless');
    assert.equal(loc.mode, 'v2');
    assert.equal(loc.v2Controllers?.size, 0);
    assert.ok(loc.notes.some((n) => n.includes('controllers not enabled') && n.includes('memory')), loc.notes.join('\n'));
  });
});

describe('locateCgroup edge cases', () => {
  it('the host root cgroup is reported as host scope', () => {
    const t = makeTree({
      'proc/self/cgroup': '0::/\n',
      'proc/self/mountinfo': '25 22 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n',
      'cg/cgroup.controllers': 'cpu memory\n',
      'cg/cpu.stat': 'usage_usec 1\n',
    });
    try {
      const loc = locateCgroup({ procRoot: t.path('proc'), cgroupRoot: t.path('cg') });
      assert.equal(loc.scope, 'host');
      assert.equal(loc.source, 'host-namespace');
      assert.ok(loc.notes.some((n) => n.includes('host')));
    } finally {
      t.remove();
    }
  });

  it('without mountinfo the layout under the cgroup root is probed', () => {
    const t = makeTree({
      'proc/self/cgroup': '0::/app\n',
      'cg/cgroup.controllers': 'cpu memory\n',
      'cg/app/cgroup.type': 'domain\n',
    });
    try {
      const loc = locateCgroup({ procRoot: t.path('proc'), cgroupRoot: t.path('cg') });
      assert.equal(loc.mode, 'v2');
      assert.equal(loc.unified?.dir, t.path('cg/app'));
      assert.ok(loc.notes.some((n) => n.includes('mountinfo missing')));
    } finally {
      t.remove();
    }
  });

  it('probes co-mounted v1 hierarchies once', () => {
    const t = makeTree({
      'proc/self/cgroup': '3:cpu,cpuacct:/\n2:memory:/\n',
      'cg/cpu,cpuacct/cgroup.procs': '',
      'cg/memory/cgroup.procs': '',
    });
    try {
      const loc = locateCgroup({ procRoot: t.path('proc'), cgroupRoot: t.path('cg') });
      assert.equal(loc.mode, 'v1');
      assert.equal(loc.controllers.cpu?.dir, t.path('cg/cpu,cpuacct'));
      assert.equal(loc.controllers.cpuacct?.dir, t.path('cg/cpu,cpuacct'));
      assert.equal(loc.controllers.memory?.dir, t.path('cg/memory'));
    } finally {
      t.remove();
    }
  });

  it('a cgroup outside the mounted subtree falls back to the mount point with a note', () => {
    const t = makeTree({
      'proc/self/cgroup': '0::/other/place\n',
      'proc/self/mountinfo': '25 22 0:26 /docker/abc /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n',
      'cg/cgroup.type': 'domain\n',
    });
    try {
      const loc = locateCgroup({ procRoot: t.path('proc'), cgroupRoot: t.path('cg') });
      assert.equal(loc.unified?.dir, t.path('cg'));
      assert.ok(loc.notes.some((n) => n.includes('outside the subtree')));
    } finally {
      t.remove();
    }
  });

  it('no cgroups at all: mode none, not an exception', () => {
    const t = makeTree({ 'proc/self/mountinfo': '22 1 0:21 / / rw - ext4 /dev/vda rw\n', 'cg/.empty': '' });
    try {
      const loc = locateCgroup({ procRoot: t.path('proc'), cgroupRoot: t.path('cg') });
      assert.equal(loc.mode, 'none');
      assert.deepEqual(loc.controllers, {});
    } finally {
      t.remove();
    }
  });
});
