// The row layout shared with agent/native/pid-stats.c, apart from the code that loads the library.

/**
 * Columns of one process's row of doubles filled by agent/native/pid-stats.c
 * (its enum, in the same order; the library's field count is checked at load).
 */
export const PS = {
  /** 0: parsed; > 0: errno of the read; {@link PS_NOT_KERNEL_LAYOUT}. */
  STATUS: 0,
  /** The state letter's character code. */
  STATE: 1,
  UTIME: 2,
  STIME: 3,
  THREADS: 4,
  START: 5,
  /** Pages; a negative field is 0. */
  RSS: 6,
  /** Size of the fd directory (open files on Linux ≥ 6.2); -1 when it has no kept descriptor. */
  FDS: 7,
  /** errno of the fd directory's fstat, 0 when it worked. */
  FDS_ERRNO: 8,
  COMM_LEN: 9,
} as const;
export const PS_FIELDS = 10;
/** Bytes of comm per process. */
export const PS_COMM_SLOT = 64;
/** The line is not in the kernel's own layout: the JavaScript parser reads that process. */
export const PS_NOT_KERNEL_LAYOUT = -1;
/** The row layout's version; a library built from another is refused. */
export const PS_ABI = 1;
