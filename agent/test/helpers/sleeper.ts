import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';

/**
 * A `sleep 30` holding `extraFds` open files (fds 3, 4, ...) beside stdio,
 * returned once it has exec'd sleep and settled in nanosleep (state S twice in
 * a row): until then the loader is still opening and closing files, so its fd
 * table is not yet what it will stay.
 */
export async function settledSleeper(extraFds = 0): Promise<ChildProcess & { pid: number }> {
  const fds = Array.from({ length: extraFds }, (_, i) => `${i + 3}</dev/null`).join(' ');
  const child = spawn('sh', ['-c', `${fds === '' ? '' : `exec ${fds}; `}exec sleep 30`], { stdio: 'ignore' });
  await once(child, 'spawn');
  const pid = child.pid ?? 0;
  let settled = 0;
  for (let i = 0; i < 300 && settled < 2; i++) {
    settled = readFileSync(`/proc/${pid}/stat`, 'utf8').includes('(sleep) S ') ? settled + 1 : 0;
    await delay(10);
  }
  assert.equal(settled, 2, 'the child settled in sleep');
  return Object.assign(child, { pid });
}
