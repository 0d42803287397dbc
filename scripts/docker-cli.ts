import { spawnSync } from 'node:child_process';

/** The musl-only stand-in image (busybox `sleep`, no libc of its own) that the Docker benchmarks run; made by `ensureStandIns`. */
export const MUSL_STAND_IN = 'system-monitor-test/musl:latest';

/** Runs the docker CLI; its trimmed stdout, or an error with its stderr. */
export function docker(...args: string[]): string {
  const r = spawnSync('docker', args, { encoding: 'utf8' });
  if (r.error !== undefined || r.status !== 0) throw new Error(`docker ${args.join(' ')} failed: ${r.error?.message ?? r.stderr.trim()}`);
  return r.stdout.trim();
}
