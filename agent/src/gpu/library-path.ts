import { join } from 'node:path';

export const NVML_SONAME = 'libnvidia-ml.so.1';

/** Where driver packages and the NVIDIA Container Toolkit put the library (docs/gpu.md, decision 4). */
export const NVML_SEARCH_DIRS = [
  '/usr/lib/x86_64-linux-gnu',
  '/usr/lib/aarch64-linux-gnu',
  '/usr/lib64',
  '/run/nvidia/driver/usr/lib/x86_64-linux-gnu',
  '/usr/lib/wsl/lib',
  // Images with no multiarch directory (Alpine, busybox): the toolkit mounts it here.
  '/usr/lib',
  '/lib64',
  '/lib',
];

/**
 * Paths to try, in order: an explicit `NVML_LIBRARY_PATH` alone (an operator
 * who names a file wants that file, not a silent fallback), else the bare
 * soname (the normal dlopen search), the absolute directories of
 * `LD_LIBRARY_PATH` (CUDA images put the driver's libraries there, and the
 * release's own loader runs with its library path instead of that variable),
 * then the driver directories.
 */
export function nvmlLibraryCandidates(explicit: string | null, ldLibraryPath: string = process.env.LD_LIBRARY_PATH ?? ''): string[] {
  if (explicit !== null) return [explicit];
  const fromEnv = ldLibraryPath.split(':').filter((d) => d.startsWith('/'));
  const dirs = [...new Set([...fromEnv, ...NVML_SEARCH_DIRS])];
  return [NVML_SONAME, ...dirs.map((d) => join(d, NVML_SONAME))];
}

/** The NVML file mapped into this process, from `/proc/self/maps` text (what a bare soname resolved to). */
export function mappedLibraryPath(maps: string): string | null {
  for (const line of maps.split('\n')) {
    const slash = line.indexOf('/');
    if (slash === -1) continue;
    const path = line.slice(slash).trim();
    if (path.slice(path.lastIndexOf('/') + 1).startsWith('libnvidia-ml.so')) return path;
  }
  return null;
}
