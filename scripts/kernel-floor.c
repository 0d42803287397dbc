/*
 * The kernel's own cost of what an agent reads every tick: the peer the tick
 * benchmarks measure the agent against (scripts/kernel-floor.ts). Reads a
 * list of paths on stdin (the kernel files the running agent keeps open),
 * opens each once, then for ROUNDS rounds re-reads every regular file from
 * offset 0 with pread (as the agent does through its kept descriptors) and
 * fstat()s every directory (the agent counts a process's fds by the size of
 * its kept /proc/PID/fd). Prints one JSON object: the files, the rounds, and
 * this process's CPU time per round (CLOCK_PROCESS_CPUTIME_ID, ns), which is
 * nearly all system time: no parsing, no allocation, one syscall per file.
 *
 * With GAP_MS, it sleeps that long between rounds, as an agent does between
 * ticks: the kernel's data and the CPU's caches are then as cold as the
 * agent finds them, which costs several times the back-to-back figure.
 *
 * Usage: kernel-floor ROUNDS [GAP_MS] < paths
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_FILES 65536

static long long cpu_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

int main(int argc, char **argv) {
  int rounds = argc > 1 ? atoi(argv[1]) : 0;
  int gap_ms = argc > 2 ? atoi(argv[2]) : 0;
  if (rounds <= 0 || gap_ms < 0) {
    fprintf(stderr, "usage: kernel-floor ROUNDS [GAP_MS] < paths (ROUNDS > 0, GAP_MS >= 0)\n");
    return 2;
  }
  struct timespec gap = { gap_ms / 1000, (long)(gap_ms % 1000) * 1000000L };
  static int fds[MAX_FILES];
  static unsigned char is_dir[MAX_FILES];
  int n = 0, unreadable = 0;
  char line[4096];
  while (n < MAX_FILES && fgets(line, sizeof line, stdin) != NULL) {
    line[strcspn(line, "\n")] = '\0';
    if (line[0] == '\0') continue;
    int fd = open(line, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      unreadable++;
      continue;
    }
    struct stat st;
    is_dir[n] = fstat(fd, &st) == 0 && S_ISDIR(st.st_mode);
    fds[n++] = fd;
  }
  static char buf[65536];
  struct stat st;
  long long spent = 0;
  for (int r = 0; r < rounds; r++) {
    if (gap_ms > 0) nanosleep(&gap, NULL);
    long long t0 = cpu_ns();
    for (int i = 0; i < n; i++) {
      if (is_dir[i]) {
        if (fstat(fds[i], &st) != 0) unreadable++;
      } else if (pread(fds[i], buf, sizeof buf, 0) < 0) {
        unreadable++;
      }
    }
    spent += cpu_ns() - t0;
  }
  printf("{\"files\":%d,\"unreadable\":%d,\"rounds\":%d,\"gap_ms\":%d,\"cpu_ns_per_round\":%lld}\n", n, unreadable, rounds, gap_ms, spent / rounds);
  return 0;
}
