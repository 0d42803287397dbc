/**
 * `nvmlReturn_t` codes (nvml.h 13.x) and what the agent does about each
 * class of failure (docs/gpu.md, decision 3).
 */
export const NVML_SUCCESS = 0;

export const nvmlCodeNames: Readonly<Record<number, string>> = {
  0: 'SUCCESS',
  1: 'UNINITIALIZED',
  2: 'INVALID_ARGUMENT',
  3: 'NOT_SUPPORTED',
  4: 'NO_PERMISSION',
  5: 'ALREADY_INITIALIZED',
  6: 'NOT_FOUND',
  7: 'INSUFFICIENT_SIZE',
  8: 'INSUFFICIENT_POWER',
  9: 'DRIVER_NOT_LOADED',
  10: 'TIMEOUT',
  11: 'IRQ_ISSUE',
  12: 'LIBRARY_NOT_FOUND',
  13: 'FUNCTION_NOT_FOUND',
  14: 'CORRUPTED_INFOROM',
  15: 'GPU_IS_LOST',
  16: 'RESET_REQUIRED',
  17: 'OPERATING_SYSTEM',
  18: 'LIB_RM_VERSION_MISMATCH',
  19: 'IN_USE',
  20: 'MEMORY',
  21: 'NO_DATA',
  25: 'ARGUMENT_VERSION_MISMATCH',
  999: 'UNKNOWN',
};

export const NvmlCode = {
  UNINITIALIZED: 1,
  INVALID_ARGUMENT: 2,
  NOT_SUPPORTED: 3,
  NO_PERMISSION: 4,
  NOT_FOUND: 6,
  INSUFFICIENT_SIZE: 7,
  DRIVER_NOT_LOADED: 9,
  LIBRARY_NOT_FOUND: 12,
  FUNCTION_NOT_FOUND: 13,
  GPU_IS_LOST: 15,
  RESET_REQUIRED: 16,
  LIB_RM_VERSION_MISMATCH: 18,
  ARGUMENT_VERSION_MISMATCH: 25,
  UNKNOWN: 999,
} as const;

/**
 * - `unsupported`: this metric on this GPU will not work: cache it, stop polling.
 * - `device`: this GPU is gone (fell off the bus, needs a reset); others carry on.
 * - `driver`: NVML as a whole is unusable: GPU block unavailable, retry with backoff.
 * - `uninitialized`: NVML lost its init state: re-initialise now.
 * - `transient`: this reading failed; try again next tick.
 */
export type NvmlErrorClass = 'unsupported' | 'device' | 'driver' | 'uninitialized' | 'transient';

export function classifyNvmlCode(code: number): NvmlErrorClass {
  switch (code) {
    case NvmlCode.NOT_SUPPORTED:
    case NvmlCode.NO_PERMISSION:
    case NvmlCode.FUNCTION_NOT_FOUND:
    case NvmlCode.ARGUMENT_VERSION_MISMATCH:
      return 'unsupported';
    case NvmlCode.GPU_IS_LOST:
    case NvmlCode.RESET_REQUIRED:
      return 'device';
    case NvmlCode.DRIVER_NOT_LOADED:
    case NvmlCode.LIB_RM_VERSION_MISMATCH:
    case NvmlCode.LIBRARY_NOT_FOUND:
    case NvmlCode.UNKNOWN:
      return 'driver';
    case NvmlCode.UNINITIALIZED:
      return 'uninitialized';
    default:
      return 'transient';
  }
}

export function nvmlCodeName(code: number): string {
  return `NVML_ERROR_${nvmlCodeNames[code] ?? `CODE_${code}`}`;
}

/** What an operator should do about a driver-class failure. */
export function operatorHint(code: number): string {
  switch (code) {
    case NvmlCode.LIB_RM_VERSION_MISMATCH:
      return 'the NVIDIA driver was upgraded but the old kernel module is still loaded: reload the nvidia kernel module or reboot';
    case NvmlCode.DRIVER_NOT_LOADED:
      return 'the NVIDIA kernel driver is not loaded: load it (modprobe nvidia) and run the container with the GPU exposed (--gpus, NVIDIA_DRIVER_CAPABILITIES including "utility")';
    case NvmlCode.LIBRARY_NOT_FOUND:
      return 'libnvidia-ml.so.1 could not load its driver components: check the NVIDIA driver installation';
    default:
      return 'NVML failed without a specific cause: check the NVIDIA driver (nvidia-smi) and the kernel log';
  }
}

/** A failed NVML call, with the symbol that failed. */
export class NvmlError extends Error {
  readonly errorClass: NvmlErrorClass;
  constructor(
    readonly symbol: string,
    readonly code: number,
    readonly detail: string,
  ) {
    super(`${symbol}: ${nvmlCodeName(code)} (${detail})`);
    this.name = 'NvmlError';
    this.errorClass = classifyNvmlCode(code);
  }
}
