import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { makeTree } from '../../test/helpers/tree.js';
import { closeKeptFiles, FileReadError, readText, readTextIfExists } from './read-text.js';

const V2_ROOT = '/sys/fs/cgroup/unified';

describe('readText', () => {
  it('reads regular files fresh each time, including a file replaced by a new inode', () => {
    const t = makeTree({ 'a.txt': 'one\n' });
    try {
      assert.equal(readText(t.path('a.txt')), 'one\n');
      t.remove();
      mkdirSync(t.root, { recursive: true });
      writeFileSync(t.path('a.txt'), 'two\n');
      assert.equal(readText(t.path('a.txt')), 'two\n');
    } finally {
      t.remove();
    }
  });

  it('reads files larger than its initial 64 KiB buffer', () => {
    const big = 'x'.repeat(200_000);
    const t = makeTree({ 'big': big });
    try {
      assert.equal(readText(t.path('big')), big);
    } finally {
      t.remove();
    }
  });

  it('classifies a missing file and returns null from readTextIfExists', () => {
    assert.throws(() => readText('/nonexistent/file'), (e: unknown) => e instanceof FileReadError && e.missing && e.message.includes('/nonexistent/file'));
    assert.equal(readTextIfExists('/nonexistent/file'), null);
  });

  it('kept kernel descriptors return fresh content on every read', () => {
    // /proc/self/stat changes with every read (utime, our own state); compare to the kernel's own read.
    const a = readText('/proc/self/stat');
    const fromKernel = readFileSync('/proc/self/stat', 'utf8');
    assert.equal(a.split(' ')[0], fromKernel.split(' ')[0]);
    const uptime1 = Number(readText('/proc/uptime').split(' ')[0]);
    const until = Date.now() + 30;
    while (Date.now() < until) {
      // let the clock move
    }
    const uptime2 = Number(readText('/proc/uptime').split(' ')[0]);
    assert.ok(uptime2 > uptime1, `uptime through a kept fd must advance: ${uptime1} -> ${uptime2}`);
  });

  it('a kept descriptor of a removed cgroup is dropped and the file reported missing (needs root and cgroup2 at /sys/fs/cgroup/unified)', () => {
    if (process.getuid?.() !== 0) throw new Error('this test needs root to create a cgroup');
    const dir = join(V2_ROOT, `sm-readtext-${process.pid}`);
    mkdirSync(dir);
    try {
      assert.match(readText(join(dir, 'cpu.stat')), /usage_usec/);
    } finally {
      rmdirSync(dir);
    }
    assert.throws(() => readText(join(dir, 'cpu.stat')), (e: unknown) => e instanceof FileReadError && e.missing);
    mkdirSync(dir);
    try {
      assert.match(readText(join(dir, 'cpu.stat')), /usage_usec 0/, 're-created cgroup is read anew');
    } finally {
      rmdirSync(dir);
      closeKeptFiles();
    }
  });
});
