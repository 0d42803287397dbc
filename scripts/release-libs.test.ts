import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { libraryPaths, parseLdd } from './release-libs.mjs';

// ldd's output for Node 26's official binary on Debian bookworm (glibc 2.36).
const LDD = `	linux-vdso.so.1 (0x00007ffd8a5f2000)
	libatomic.so.1 => /lib/x86_64-linux-gnu/libatomic.so.1 (0x00007f85239e3000)
	libdl.so.2 => /lib/x86_64-linux-gnu/libdl.so.2 (0x00007f85239de000)
	libstdc++.so.6 => /lib/x86_64-linux-gnu/libstdc++.so.6 (0x00007f8523600000)
	libm.so.6 => /lib/x86_64-linux-gnu/libm.so.6 (0x00007f85238fe000)
	libgcc_s.so.1 => /lib/x86_64-linux-gnu/libgcc_s.so.1 (0x00007f85238de000)
	libpthread.so.0 => /lib/x86_64-linux-gnu/libpthread.so.0 (0x00007f85238d7000)
	libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f852341e000)
	/lib64/ld-linux-x86-64.so.2 (0x00007f8523a00000)
`;

describe('release libraries', () => {
  it('takes every resolved library and the interpreter from ldd, not the vDSO', () => {
    const { libs, interpreter } = parseLdd(LDD);
    assert.equal(interpreter, '/lib64/ld-linux-x86-64.so.2');
    assert.deepEqual(Object.keys(libs).sort(), ['libatomic.so.1', 'libc.so.6', 'libdl.so.2', 'libgcc_s.so.1', 'libm.so.6', 'libpthread.so.0', 'libstdc++.so.6']);
    assert.equal(libs['libstdc++.so.6'], '/lib/x86_64-linux-gnu/libstdc++.so.6');
  });

  it("adds NVML's glibc libraries the program does not link (librt) from libc's directory", () => {
    const seen: string[] = [];
    const paths = libraryPaths(LDD, (p) => {
      seen.push(p);
      return true;
    });
    assert.equal(paths['librt.so.1'], '/lib/x86_64-linux-gnu/librt.so.1');
    assert.equal(paths['ld-linux-x86-64.so.2'], '/lib64/ld-linux-x86-64.so.2');
    assert.deepEqual(seen, ['/lib/x86_64-linux-gnu/librt.so.1']);
    assert.throws(() => libraryPaths(LDD, () => false), /librt\.so\.1 is missing on the build machine \(Debian package libc6\)/);
  });

  it('refuses an unresolved library and a program with no interpreter, naming them', () => {
    assert.throws(() => parseLdd(`${LDD}\tlibfoo.so.3 => not found\n`), /libfoo\.so\.3 not found on the build machine/);
    assert.throws(() => parseLdd('\tstatically linked\n'), /no program interpreter/);
  });
});
