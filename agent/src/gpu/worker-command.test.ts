import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mappedLibraryPath, nvmlLibraryCandidates } from './library-path.js';
import { workerCommand } from './worker-command.js';

describe('workerCommand', () => {
  it('from TypeScript source re-runs the script with the tsx loader flags, minus test and debugger flags', () => {
    const c = workerCommand({
      execPath: '/usr/bin/node',
      execArgv: ['--import', 'tsx', '--inspect=9229', '--test-reporter=spec'],
      script: '/app/agent/src/main.ts',
      sea: false,
      releaseHome: null,
    });
    assert.deepEqual(c, { command: '/usr/bin/node', args: ['--import', 'tsx', '/app/agent/src/main.ts', '__nvml-worker'] });
  });

  it('from an esbuild bundle re-runs the bundle', () => {
    const c = workerCommand({ execPath: '/usr/local/bin/node', execArgv: [], script: '/app/system-monitor.cjs', sea: false, releaseHome: null });
    assert.deepEqual(c, { command: '/usr/local/bin/node', args: ['/app/system-monitor.cjs', '__nvml-worker'] });
  });

  it('from a single executable runs the binary itself with no script', () => {
    const c = workerCommand({ execPath: '/usr/local/bin/system-monitor', execArgv: [], script: '/usr/local/bin/system-monitor', sea: true, releaseHome: null });
    assert.deepEqual(c, { command: '/usr/local/bin/system-monitor', args: ['__nvml-worker'] });
  });

  it("from a release runs the release's launcher, not execPath (the release's glibc loader)", () => {
    const c = workerCommand({
      execPath: '/opt/system-monitor/lib/ld-linux-x86-64.so.2',
      execArgv: [],
      script: '/opt/system-monitor/lib/ld-linux-x86-64.so.2',
      sea: true,
      releaseHome: '/opt/system-monitor',
    });
    assert.deepEqual(c, { command: '/opt/system-monitor/system-monitor', args: ['__nvml-worker'] });
  });
});

describe('NVML library search', () => {
  it('an explicit path is the only candidate; otherwise the soname, then the driver directories', () => {
    assert.deepEqual(nvmlLibraryCandidates('/opt/nv/libnvidia-ml.so.1'), ['/opt/nv/libnvidia-ml.so.1']);
    const d = nvmlLibraryCandidates(null);
    assert.equal(d[0], 'libnvidia-ml.so.1');
    assert.ok(d.includes('/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1'));
    assert.ok(d.includes('/run/nvidia/driver/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1'));
    assert.ok(d.includes('/usr/lib/wsl/lib/libnvidia-ml.so.1'));
    // Where the NVIDIA Container Toolkit mounts it in images without a multiarch directory (Alpine).
    assert.ok(d.includes('/usr/lib/libnvidia-ml.so.1'));
  });

  it("LD_LIBRARY_PATH's directories are searched too (the release's loader ignores that variable), after the soname", () => {
    const d = nvmlLibraryCandidates(null, '/usr/local/nvidia/lib64::relative/dir:/usr/local/nvidia/lib64');
    assert.equal(d[0], 'libnvidia-ml.so.1');
    assert.equal(d[1], '/usr/local/nvidia/lib64/libnvidia-ml.so.1');
    assert.equal(d.filter((p) => p.startsWith('/usr/local/nvidia/lib64/')).length, 1);
    assert.ok(!d.some((p) => p.startsWith('relative')), 'relative directories are not searched');
  });

  it('finds what a bare soname resolved to in /proc/self/maps', () => {
    const maps = [
      '7f0000000000-7f0000001000 r--p 00000000 08:01 123 /usr/lib/x86_64-linux-gnu/libc.so.6',
      '7f0000002000-7f0000003000 r-xp 00001000 08:01 456 /usr/lib/x86_64-linux-gnu/libnvidia-ml.so.550.54.15',
    ].join('\n');
    assert.equal(mappedLibraryPath(maps), '/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.550.54.15');
    assert.equal(mappedLibraryPath('7f0-7f1 r--p 0 0:0 0 [vdso]'), null);
  });
});
