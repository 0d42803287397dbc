import { existsSync, realpathSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/** The release's entry point, at the top of the release directory. */
export const LAUNCHER = 'system-monitor';

/**
 * The release directory, from the real path of the running program: the
 * launcher starts the agent through the release's own glibc loader
 * (lib/ld-linux-x86-64.so.2, which is then what /proc/self/exe and
 * process.execPath name), and a glibc host may run libexec/system-monitor-node
 * directly. Anything else (Node running a bundle or the TypeScript source) is
 * not a release: null.
 */
export function releaseHomeOf(exe: string): string | null {
  const name = basename(exe);
  const parent = basename(dirname(exe));
  if ((name === 'ld-linux-x86-64.so.2' && parent === 'lib') || (name === 'system-monitor-node' && parent === 'libexec')) {
    return dirname(dirname(exe));
  }
  return null;
}

/** The release directory this process runs from, or null (checked: the launcher is there). */
export function releaseHome(execPath: string = process.execPath): string | null {
  let exe: string;
  try {
    exe = realpathSync(execPath);
  } catch {
    return null;
  }
  const home = releaseHomeOf(exe);
  return home !== null && existsSync(join(home, LAUNCHER)) ? home : null;
}
