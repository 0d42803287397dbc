import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { NVML_SEARCH_DIRS, NVML_SONAME } from './library-path.js';

/** Where the dynamic loader looks for a bare soname when the cache does not name it (glibc's trusted directories). */
const LOADER_DEFAULT_DIRS = ['/lib', '/usr/lib', '/lib64', '/usr/lib64', '/lib/x86_64-linux-gnu', '/lib/aarch64-linux-gnu'];

export interface VisibilityOptions {
  /** NVML_LIBRARY_PATH, or null for the default search. */
  explicit: string | null;
  /** LD_LIBRARY_PATH of the process that will dlopen (the worker's environment). */
  ldLibraryPath: string | undefined;
  /** Filesystem root the loader paths are read under ("/" except in tests). */
  root?: string;
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function cacheNames(cacheFile: string, soname: string): boolean {
  try {
    return readFileSync(cacheFile).includes(soname, 0, 'latin1');
  } catch {
    return false;
  }
}

/**
 * Whether the NVML worker could find libnvidia-ml here, judged from files
 * alone (no dlopen, so no koffi in the agent): an explicit path, the file in
 * an LD_LIBRARY_PATH, driver or loader directory, or its soname in
 * /etc/ld.so.cache. False means the worker would report "no library"; the
 * agent then publishes its first sample without waiting for the worker to
 * start, and starts it afterwards to confirm.
 */
export function nvmlMayBeFound(opts: VisibilityOptions): boolean {
  if (opts.explicit !== null) return true;
  const root = opts.root ?? '/';
  const under = (p: string): string => join(root, p);
  const ldDirs = (opts.ldLibraryPath ?? '').split(':').filter((d) => d !== '');
  // LD_LIBRARY_PATH is used as given (relative entries are the worker's cwd, which is ours).
  if (ldDirs.some((d) => isFile(join(opts.root === undefined ? d : under(d), NVML_SONAME)))) return true;
  if ([...NVML_SEARCH_DIRS, ...LOADER_DEFAULT_DIRS].some((d) => isFile(under(join(d, NVML_SONAME))))) return true;
  return cacheNames(under('/etc/ld.so.cache'), NVML_SONAME);
}
