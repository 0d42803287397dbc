import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseCgroupMounts, unescapeMountPath } from './parse-mountinfo.js';
import { ParseError } from './values.js';

describe('parseCgroupMounts', () => {
  it('finds cgroup2 and v1 controller mounts and ignores named and other filesystems', () => {
    const text = [
      '22 1 0:21 / / rw,relatime - overlay overlay rw,lowerdir=/a',
      '31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755',
      '32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:7 - cgroup cgroup rw,cpu,cpuacct',
      '40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd',
      '41 31 0:38 / /sys/fs/cgroup/unified rw,relatime shared:9 master:2 - cgroup2 cgroup2 rw,nsdelegate',
      '',
    ].join('\n');
    assert.deepEqual(parseCgroupMounts(text), [
      { version: 1, root: '/', mountPoint: '/sys/fs/cgroup/cpu,cpuacct', controllers: ['cpu', 'cpuacct'] },
      { version: 2, root: '/', mountPoint: '/sys/fs/cgroup/unified', controllers: [] },
    ]);
  });

  it('keeps the mount root of a bind-mounted subtree (Docker on v1)', () => {
    const text = '28 25 0:31 /docker/abc /sys/fs/cgroup/memory ro,nosuid master:17 - cgroup cgroup rw,memory\n';
    assert.deepEqual(parseCgroupMounts(text), [
      { version: 1, root: '/docker/abc', mountPoint: '/sys/fs/cgroup/memory', controllers: ['memory'] },
    ]);
  });

  it('unescapes octal sequences in paths', () => {
    const text = '25 22 0:26 /a\\040b /sys/fs/cgroup\\011x rw - cgroup2 cgroup2 rw\n';
    const [m] = parseCgroupMounts(text);
    assert.equal(m?.root, '/a b');
    assert.equal(m?.mountPoint, '/sys/fs/cgroup\tx');
  });

  it('rejects a line without the separator', () => {
    assert.throws(() => parseCgroupMounts('25 22 0:26 / /sys/fs/cgroup rw cgroup2\n'), ParseError);
  });
});

describe('unescapeMountPath', () => {
  it('turns \\134 into a backslash and \\012 into a newline', () => {
    assert.equal(unescapeMountPath('a\\134b\\012c'), 'a\\b\nc');
  });
});
