/*
 * The per-process part of the agent's tick in one call: for every process
 * whose files the agent keeps open, pread its /proc/<pid>/stat, take the
 * seven fields the processes collector uses, and fstat its /proc/<pid>/fd
 * (whose size is its number of open files on Linux >= 6.2).
 *
 * Loaded by the agent through koffi (agent/src/procfs/native-pid-stats.ts).
 * Doing this in JavaScript costs ~20 us of CPU per process in the release's
 * interpreter-only runtime, against ~3 us of kernel work; here it is the
 * kernel's work plus a few hundred nanoseconds of parsing.
 *
 * Only lines in the kernel's own layout are parsed here:
 *   "<pid> (<comm>) <state> <f4> ... <f24> ..."
 * with single spaces, a one-letter state and fields 14, 15, 20, 22 of 1-15
 * digits (field 24, rss, may be negative: read as 0). Anything else
 * (longer numbers, another separator, a truncated line) is answered with
 * PS_NOT_KERNEL_LAYOUT and the agent reads that process through its
 * JavaScript parser, which accepts more and says what is wrong. So every
 * value given here is the one the JavaScript parser would give for the
 * same line (agent/test/native-pid-stats.test.ts checks that).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The layout of one process's row of doubles; native-pid-stats.ts mirrors it. */
enum {
  PS_STATUS,   /* 0: parsed; > 0: errno of the read; PS_NOT_KERNEL_LAYOUT */
  PS_STATE,    /* the state letter's character code */
  PS_UTIME,    /* field 14, clock ticks */
  PS_STIME,    /* field 15, clock ticks */
  PS_THREADS,  /* field 20 */
  PS_START,    /* field 22, clock ticks after boot */
  PS_RSS,      /* field 24, pages (negative read as 0) */
  PS_FDS,      /* size of the fd directory; -1 when not asked (no descriptor) */
  PS_FDS_ERRNO,/* errno of that fstat, 0 when it worked */
  PS_COMM_LEN, /* bytes of comm in this process's comm slot */
  PS_FIELDS
};

#define PS_NOT_KERNEL_LAYOUT (-1)
/* Bytes of comm kept per process: the kernel's longest (a workqueue worker's name) is 64 with its NUL. */
#define PS_COMM_SLOT 64
/* Raised whenever the row layout above changes, so a stale library is refused. */
#define PS_ABI 1

int sm_pid_stats_abi(void) { return PS_ABI; }
int sm_pid_stats_fields(void) { return PS_FIELDS; }
int sm_pid_stats_comm_slot(void) { return PS_COMM_SLOT; }

/*
 * 1 to 15 digits at *p (always exact in a double), ending before a space or
 * at the end of the line (its last byte, or a final newline): what the
 * JavaScript parser takes as a field after trimming the line and splitting
 * it at spaces.
 */
static int digits(const uint8_t **p, const uint8_t *end, double *out) {
  const uint8_t *s = *p;
  uint64_t v = 0;
  int n = 0;
  while (s < end && *s >= '0' && *s <= '9') {
    if (++n > 15) return -1;
    v = v * 10 + (uint64_t)(*s - '0');
    s++;
  }
  if (n == 0 || (s < end && *s != ' ' && !(*s == '\n' && s + 1 == end))) return -1;
  *out = (double)v;
  *p = s;
  return 0;
}

/* One stat line into row (PS_FIELDS doubles) and comm (PS_COMM_SLOT bytes); returns row[PS_STATUS]. */
int sm_parse_pid_stat(const uint8_t *buf, int len, double *row, uint8_t *comm) {
  row[PS_STATUS] = PS_NOT_KERNEL_LAYOUT;
  if (len <= 0) return PS_NOT_KERNEL_LAYOUT;
  const uint8_t *end = buf + len;
  const uint8_t *open = memchr(buf, '(', (size_t)len);
  const uint8_t *close = memrchr(buf, ')', (size_t)len);
  if (open == NULL || close == NULL || close < open || open < buf + 2 || open[-1] != ' ') return PS_NOT_KERNEL_LAYOUT;
  /* The pid: digits only, then the one space before "(". */
  for (const uint8_t *s = buf; s < open - 1; s++)
    if (*s < '0' || *s > '9' || s - buf >= 15) return PS_NOT_KERNEL_LAYOUT;
  size_t commLen = (size_t)(close - open - 1);
  if (commLen > PS_COMM_SLOT || end - close < 4 || close[1] != ' ') return PS_NOT_KERNEL_LAYOUT;
  uint8_t state = close[2];
  if (!((state >= 'A' && state <= 'Z') || (state >= 'a' && state <= 'z'))) return PS_NOT_KERNEL_LAYOUT;
  const uint8_t *p = close + 3; /* the space before field 4 */
  double rssDigits = 0;
  for (int field = 4; field <= 24; field++) {
    if (p >= end || *p != ' ') return PS_NOT_KERNEL_LAYOUT;
    p++;
    int bad = 0;
    switch (field) {
      case 14: bad = digits(&p, end, &row[PS_UTIME]); break;
      case 15: bad = digits(&p, end, &row[PS_STIME]); break;
      case 20: bad = digits(&p, end, &row[PS_THREADS]); break;
      case 22: bad = digits(&p, end, &row[PS_START]); break;
      case 24:
        if (p < end && *p == '-') {
          p++;
          bad = digits(&p, end, &rssDigits);
          row[PS_RSS] = 0;
        } else {
          bad = digits(&p, end, &row[PS_RSS]);
        }
        break;
      default:
        while (p < end && *p != ' ' && *p != '\n') p++;
    }
    if (bad) return PS_NOT_KERNEL_LAYOUT;
  }
  memcpy(comm, open + 1, commLen);
  row[PS_COMM_LEN] = (double)commLen;
  row[PS_STATE] = state;
  row[PS_STATUS] = 0;
  return 0;
}

/*
 * n processes: stat_fds[i] a descriptor of /proc/<pid>/stat or -1 (not
 * kept: answered EBADF without a call), dir_fds[i] one of /proc/<pid>/fd
 * or -1. rows: n * PS_FIELDS doubles; comms: n * PS_COMM_SLOT bytes.
 * Returns how many rows have PS_STATUS 0.
 */
int sm_pid_stats(int n, const int32_t *stat_fds, const int32_t *dir_fds, double *rows, uint8_t *comms) {
  /* A stat line is ~300 bytes and at most ~1.1 KB: a full buffer means it is not one. */
  uint8_t buf[4096];
  int ok = 0;
  for (int i = 0; i < n; i++) {
    double *row = rows + (size_t)i * PS_FIELDS;
    row[PS_FDS] = -1;
    row[PS_FDS_ERRNO] = 0;
    if (stat_fds[i] < 0) {
      /* Not kept (first seen, or past the cap): the agent opens it by path. */
      row[PS_STATUS] = EBADF;
      continue;
    }
    ssize_t len = pread(stat_fds[i], buf, sizeof buf, 0);
    if (len < 0) {
      row[PS_STATUS] = errno > 0 ? errno : EIO;
      continue;
    }
    if ((size_t)len == sizeof buf || sm_parse_pid_stat(buf, (int)len, row, comms + (size_t)i * PS_COMM_SLOT) != 0) {
      row[PS_STATUS] = PS_NOT_KERNEL_LAYOUT;
      continue;
    }
    ok++;
    if (dir_fds[i] >= 0) {
      struct stat sb;
      if (fstat(dir_fds[i], &sb) == 0) row[PS_FDS] = (double)sb.st_size;
      else row[PS_FDS_ERRNO] = errno > 0 ? errno : EIO;
    }
  }
  return ok;
}
