import { existsSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Where the NVIDIA management library would be loaded from (NVML.md §4):
 * `NVML_LIBRARY_PATH` first, then the usual driver directories. This only
 * looks for the file; loading and querying it belongs to the GPU collector.
 */
export const NVML_SEARCH_DIRS = [
  '/usr/lib/x86_64-linux-gnu',
  '/usr/lib/aarch64-linux-gnu',
  '/usr/lib64',
  '/run/nvidia/driver/usr/lib/x86_64-linux-gnu',
  '/usr/lib/wsl/lib',
];

export interface NvmlProbe {
  found: string | null;
  searched: string[];
}

export function probeNvmlLibrary(env: NodeJS.ProcessEnv = process.env): NvmlProbe {
  const explicit = env.NVML_LIBRARY_PATH?.trim();
  const candidates = explicit ? [explicit] : NVML_SEARCH_DIRS.map((d) => join(d, 'libnvidia-ml.so.1'));
  return { found: candidates.find((p) => existsSync(p)) ?? null, searched: candidates };
}
