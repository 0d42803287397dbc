export const NVML_SONAME = 'libnvidia-ml.so.1';

/**
 * Where driver packages and the NVIDIA Container Toolkit put the library
 * (docs/gpu.md, decision 4). The NVML worker (agent/native/nvml-worker.c)
 * searches the same list, in this order; agent/test/nvml-worker.test.ts
 * checks that the two agree.
 */
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
