import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** A native part the release ships prebuilt, compiled here when the agent runs from its TypeScript source. */
export interface NativeSource {
  /** The C file, agent/native/<name>.c. */
  source: string;
  /** The file name it is built to (the release's name for it). */
  name: string;
  /** The compiler's arguments for (source, out), part of the cache key. */
  ccArgs: (source: string, out: string) => string[];
  /** Compiles source into out; throws with the compiler's message. */
  compile: (source: string, out: string) => void;
}

/**
 * A native part for an agent that runs from its TypeScript source (tsx, the
 * tests): compiled on first use into the checkout's .cache/<name>/<hash>/, by
 * a hash of the source and the compiler arguments (so an edit is rebuilt),
 * the same code the release ships. Throws when it cannot be compiled (no cc).
 */
export function compileCached(part: NativeSource): string {
  const dir = join(dirname(part.source), '..', '..', '.cache', part.name);
  const hash = createHash('sha256')
    .update(readFileSync(part.source))
    .update(part.ccArgs('SRC', 'OUT').join(' '))
    .digest('hex')
    .slice(0, 16);
  const out = join(dir, hash, part.name);
  if (existsSync(out)) return out;
  mkdirSync(dirname(out), { recursive: true });
  // Test files run in parallel: each compiles to its own name and renames, so no one uses a half-written file.
  const tmp = `${out}.${process.pid}.tmp`;
  try {
    part.compile(part.source, tmp);
    renameSync(tmp, out);
  } finally {
    rmSync(tmp, { force: true });
  }
  return out;
}
