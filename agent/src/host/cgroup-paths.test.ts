import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { dockerCgroupPath, idFromCgroupDir, slicePath } from './cgroup-paths.js';

const ID = 'a'.repeat(40) + '0123456789abcdef01234567';

describe('Docker cgroup paths', () => {
  it('systemd slices: each dash a level, -.slice the root', () => {
    assert.equal(slicePath('system.slice'), '/system.slice');
    assert.equal(slicePath('user-1000.slice'), '/user.slice/user-1000.slice');
    assert.equal(slicePath('a-b-c.slice'), '/a.slice/a-b.slice/a-b-c.slice');
    assert.equal(slicePath('-.slice'), '/');
    assert.throws(() => slicePath('docker'), /not a systemd slice/);
    assert.throws(() => slicePath('a--b.slice'), /empty part/);
  });

  it('cgroupfs: <parent or /docker>/<id>; systemd: docker-<id>.scope in the parent slice or system.slice', () => {
    assert.equal(dockerCgroupPath(ID, 'cgroupfs', ''), `/docker/${ID}`);
    assert.equal(dockerCgroupPath(ID, 'cgroupfs', null), `/docker/${ID}`);
    assert.equal(dockerCgroupPath(ID, 'cgroupfs', '/batch/jobs'), `/batch/jobs/${ID}`);
    assert.equal(dockerCgroupPath(ID, 'systemd', ''), `/system.slice/docker-${ID}.scope`);
    assert.equal(dockerCgroupPath(ID, 'systemd', 'batch-gpu.slice'), `/batch.slice/batch-gpu.slice/docker-${ID}.scope`);
  });

  it('container ids in directory names', () => {
    assert.equal(idFromCgroupDir(ID), ID);
    assert.equal(idFromCgroupDir(`docker-${ID}.scope`), ID);
    assert.equal(idFromCgroupDir(`cri-containerd-${ID}.scope`), ID);
    assert.equal(idFromCgroupDir('init.scope'), null);
    assert.equal(idFromCgroupDir(ID.slice(1)), null);
  });
});
