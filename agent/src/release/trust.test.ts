import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { assertTrustedCode, trustProblem, type FileFacts } from './trust.js';

const file = (over: Partial<FileFacts>): FileFacts => ({ uid: 0, mode: 0o100644, symlink: false, regular: true, directory: false, ...over });
const dir = (over: Partial<FileFacts>): FileFacts => ({ uid: 0, mode: 0o040755, symlink: false, regular: false, directory: true, ...over });

describe('trustProblem', () => {
  it("accepts a file or directory owned by root or by this process's user and writable only by its owner", () => {
    assert.equal(trustProblem(file({}), 1000, 'file'), null);
    assert.equal(trustProblem(file({ uid: 1000, mode: 0o100755 }), 1000, 'file'), null);
    assert.equal(trustProblem(dir({}), 0, 'directory'), null);
  });

  it('names each reason to refuse', () => {
    assert.equal(trustProblem(file({ symlink: true }), 0, 'file'), 'it is a symbolic link');
    assert.equal(trustProblem(dir({}), 0, 'file'), 'it is not a regular file');
    assert.equal(trustProblem(file({}), 0, 'directory'), 'it is not a directory');
    assert.equal(trustProblem(file({ uid: 1000 }), 0, 'file'), "it is owned by uid 1000, neither root nor this process's user (0)");
    assert.equal(trustProblem(file({ mode: 0o100664 }), 0, 'file'), 'it is writable by its group (mode 664)');
    assert.equal(trustProblem(dir({ mode: 0o041777 }), 0, 'directory'), 'it is writable by everyone (mode 1777)');
  });
});

describe('assertTrustedCode', () => {
  it('checks the file and every directory up to the release, and names the first that fails', () => {
    const top = mkdtempSync(join(tmpdir(), 'trust-'));
    try {
      chmodSync(top, 0o755);
      mkdirSync(join(top, 'lib'), { mode: 0o755 });
      writeFileSync(join(top, 'lib/x.node'), '', { mode: 0o644 });
      const euid = process.geteuid?.() ?? 0;
      assertTrustedCode(join(top, 'lib/x.node'), top, euid);
      chmodSync(join(top, 'lib'), 0o777);
      assert.throws(() => { assertTrustedCode(join(top, 'lib/x.node'), top, euid); }, new RegExp(`${join(top, 'lib')} is not trusted because it is writable by everyone`));
      chmodSync(join(top, 'lib'), 0o755);
      rmSync(join(top, 'lib/x.node'));
      writeFileSync(join(top, 'real.node'), '', { mode: 0o644 });
      symlinkSync(join(top, 'real.node'), join(top, 'lib/x.node'));
      assert.throws(() => { assertTrustedCode(join(top, 'lib/x.node'), top, euid); }, /x\.node is not trusted because it is a symbolic link/);
      assert.throws(() => { assertTrustedCode(join(top, 'lib/missing.node'), top, euid); }, /missing\.node is not trusted because it cannot be read \(ENOENT/);
    } finally {
      rmSync(top, { recursive: true, force: true });
    }
  });
});
