import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { workerCommand, type WorkerLookup } from './worker-command.js';

/** A lookup where only `present` exists, recording what it was asked to compile. */
function lookup(present: string[]): WorkerLookup & { compiled: string[] } {
  const compiled: string[] = [];
  return {
    compiled,
    exists: (p) => present.includes(p),
    compile: (source) => {
      compiled.push(source);
      return '/repo/.cache/nvml-worker/system-monitor-nvml-0123';
    },
  };
}

describe('workerCommand', () => {
  it("from a release: libexec/system-monitor-nvml through the release's glibc loader and libraries", () => {
    const c = workerCommand({ script: '/opt/system-monitor/lib/ld-linux-x86-64.so.2', releaseHome: '/opt/system-monitor' }, lookup([]));
    assert.deepEqual(c, {
      command: '/opt/system-monitor/lib/ld-linux-x86-64.so.2',
      args: ['--library-path', '/opt/system-monitor/lib', '--argv0', 'system-monitor-nvml', '/opt/system-monitor/libexec/system-monitor-nvml'],
    });
  });

  it('from the esbuild bundle: the worker built beside it', () => {
    const l = lookup(['/app/dist/system-monitor-nvml']);
    assert.deepEqual(workerCommand({ script: '/app/dist/agent.cjs', releaseHome: null }, l), { command: '/app/dist/system-monitor-nvml', args: [] });
    assert.deepEqual(l.compiled, []);
  });

  it('from TypeScript source: compiled from agent/native/nvml-worker.c', () => {
    const l = lookup([]);
    const c = workerCommand({ script: '/repo/agent/src/main.ts', releaseHome: null }, l);
    assert.deepEqual(c, { command: '/repo/.cache/nvml-worker/system-monitor-nvml-0123', args: [] });
    assert.deepEqual(l.compiled, ['/repo/agent/native/nvml-worker.c']);
  });

  it('a bundle without its worker, or no program path: an error that says what to do', () => {
    assert.throws(() => workerCommand({ script: '/app/dist/agent.cjs', releaseHome: null }, lookup([])), /\/app\/dist\/system-monitor-nvml is missing: it is built with the agent \(npm run build\)/);
    assert.throws(() => workerCommand({ script: undefined, releaseHome: null }, lookup([])), /run the agent from its release directory/);
  });
});
