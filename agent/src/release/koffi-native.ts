import type * as Koffi from 'koffi';
import { join } from 'node:path';
import { releaseHome } from './home.js';
import { assertTrustedCode } from './trust.js';

/**
 * koffi's native module in the release (lib/koffi.node), after checking that
 * nobody but its owner could have replaced it; throws with the reason when
 * the program does not run from a release or the check fails.
 */
export function releaseKoffiPath(): string {
  const home = releaseHome();
  if (home === null) {
    throw new Error(
      `koffi's native module (needed for the page release) comes from the release directory, and ${process.execPath} is not inside one: unpack system-monitor-linux-x64.tar.gz whole and run system-monitor/system-monitor`,
    );
  }
  const file = join(home, 'lib', 'koffi.node');
  assertTrustedCode(file, home);
  return file;
}

/**
 * koffi's native module inside the single executable (scripts/build.mjs
 * resolves `@koromix/koffi-linux-x64` here): only the copy the release itself
 * holds. Nothing is written or loaded from a temporary directory, so a
 * read-only root filesystem or a missing TMPDIR changes nothing.
 */
export function loadReleaseKoffi(): unknown {
  const mod = { exports: {} };
  process.dlopen(mod, releaseKoffiPath());
  return mod.exports;
}

/**
 * koffi itself, for the agent's native calls. In a release its native module
 * is checked first: koffi reports any failure to load that module with one
 * generic message, which would hide the reason (owner, mode, symlink) from
 * the user.
 */
export async function importKoffi(): Promise<typeof Koffi> {
  if (releaseHome() !== null) releaseKoffiPath();
  return import('koffi');
}
