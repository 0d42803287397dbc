import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { compileNvmlWorker, NVML_WORKER_NAME, nvmlWorkerCcArgs } from '../../native/build-worker.mjs';

/**
 * The NVML worker for an agent that runs from its TypeScript source (tsx,
 * the tests): compiled from agent/native/nvml-worker.c on first use into the
 * checkout's .cache/ (named by a hash of the source and the compiler
 * arguments, so an edit is rebuilt), the same program the release ships.
 * Throws when it cannot be compiled (no cc).
 */
export function sourceWorker(source: string): string {
  const dir = join(dirname(source), '..', '..', '.cache', 'nvml-worker');
  const hash = createHash('sha256')
    .update(readFileSync(source))
    .update(nvmlWorkerCcArgs('SRC', 'OUT').join(' '))
    .digest('hex')
    .slice(0, 16);
  const out = join(dir, `${NVML_WORKER_NAME}-${hash}`);
  if (existsSync(out)) return out;
  mkdirSync(dir, { recursive: true });
  // Test files run in parallel: each compiles to its own name and renames, so no one runs a half-written file.
  const tmp = `${out}.${process.pid}.tmp`;
  try {
    compileNvmlWorker(source, tmp);
    renameSync(tmp, out);
  } finally {
    rmSync(tmp, { force: true });
  }
  return out;
}
