import { chmodSync, copyFileSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';

export interface InstallResult {
  files: number;
  bytes: number;
}

/**
 * Copies the release directory `home` into `target` (made if missing), each
 * file through a temporary name and a rename: a running agent in another
 * container keeps the file it mapped, and a half-copied file is never seen
 * under its real name. Modes are kept. Files of an older release that this
 * one does not hold are left alone.
 */
export function installRelease(home: string, target: string): InstallResult {
  const result: InstallResult = { files: 0, bytes: 0 };
  const copyDir = (from: string, to: string): void => {
    mkdirSync(to, { recursive: true, mode: 0o755 });
    for (const name of readdirSync(from)) {
      const src = join(from, name);
      const dst = join(to, name);
      const st = statSync(src);
      if (st.isDirectory()) {
        copyDir(src, dst);
        continue;
      }
      const tmp = `${dst}.install-${process.pid}`;
      try {
        copyFileSync(src, tmp);
        chmodSync(tmp, st.mode & 0o7777);
        renameSync(tmp, dst);
      } catch (err) {
        rmSync(tmp, { force: true });
        throw new Error(`installing ${src} as ${dst}: ${err instanceof Error ? err.message : String(err)}`);
      }
      result.files++;
      result.bytes += st.size;
    }
  };
  copyDir(home, target);
  return result;
}
