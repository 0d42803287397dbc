import assert from 'node:assert/strict';
import { symlinkSync } from 'node:fs';
import { describe, it } from 'node:test';
import { makeTree } from '../../test/helpers/tree.js';
import { nvmlMayBeFound } from './library-visible.js';

describe('nvmlMayBeFound (is there an NVML for the worker to load?)', () => {
  it('an explicit NVML_LIBRARY_PATH is always left to the worker, even when the file is missing', () => {
    const t = makeTree();
    try {
      assert.equal(nvmlMayBeFound({ explicit: '/nonexistent/libnvidia-ml.so.1', ldLibraryPath: undefined, root: t.root }), true);
    } finally {
      t.remove();
    }
  });

  it('nothing anywhere: not found', () => {
    const t = makeTree({ 'etc/ld.so.cache': 'ld.so-1.7.0\0libc.so.6\0/lib/x86_64-linux-gnu/libc.so.6\0', 'usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1.bak': '' });
    try {
      assert.equal(nvmlMayBeFound({ explicit: null, ldLibraryPath: '/opt/cuda/lib', root: t.root }), false);
    } finally {
      t.remove();
    }
  });

  it('finds the soname in the loader cache', () => {
    const t = makeTree({ 'etc/ld.so.cache': 'ld.so-1.7.0\0libnvidia-ml.so.1\0/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1\0' });
    try {
      assert.equal(nvmlMayBeFound({ explicit: null, ldLibraryPath: undefined, root: t.root }), true);
    } finally {
      t.remove();
    }
  });

  it('finds the library in a driver directory through the usual version symlink', () => {
    const t = makeTree({ 'run/nvidia/driver/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.550.54.15': 'ELF' });
    try {
      symlinkSync('libnvidia-ml.so.550.54.15', t.path('run/nvidia/driver/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1'));
      assert.equal(nvmlMayBeFound({ explicit: null, ldLibraryPath: undefined, root: t.root }), true);
    } finally {
      t.remove();
    }
  });

  it('finds it in an LD_LIBRARY_PATH entry, and not through a dangling symlink or a directory of that name', () => {
    const t = makeTree({ 'opt/nv/lib/libnvidia-ml.so.1': 'ELF' });
    try {
      assert.equal(nvmlMayBeFound({ explicit: null, ldLibraryPath: '/usr/local/x::/opt/nv/lib', root: t.root }), true);
      t.write('usr/lib64/libnvidia-ml.so.1/keep', '');
      symlinkSync('/nonexistent', t.path('opt/libnvidia-ml.so.1'));
      assert.equal(nvmlMayBeFound({ explicit: null, ldLibraryPath: '/opt', root: t.root }), false);
    } finally {
      t.remove();
    }
  });
});
