import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { REPO } from './helpers/agent-process.js';

/**
 * `once` closes the NVML runner before it prints its sample. A worker that
 * neither became ready nor exited when asked (a slow start under load, or a
 * hang) is killed after a second, and the runner waits for its exit; the
 * worker's process handle is unreferenced so it never keeps the agent alive,
 * and a wait on it alone let the event loop run dry: the process exited 0
 * without printing (seen under load in cli.test.ts, "once prints one valid
 * sample").
 */
const script = `
const { GpuRunner } = await import('./agent/src/gpu/runner.ts');
const { default: pino } = await import('pino');
const runner = new GpuRunner({
  log: pino({ level: 'silent' }),
  libraryPath: null,
  deadlineMs: 200,
  pidMap: { hostProc: null, procRoot: '/nonexistent-proc' },
  // Never ready, and deaf to the shutdown request and the closed stdin.
  command: { command: 'sleep', args: ['30'] },
});
runner.start();
await runner.close();
process.stdout.write('closed\\n');
`;

describe('GpuRunner.close', () => {
  it('waits for a worker it had to kill without letting the process exit first', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: REPO, encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'closed\n', `stderr: ${r.stderr}`);
  });
});
