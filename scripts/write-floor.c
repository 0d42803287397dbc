/*
 * The least a compiled agent pays per tick besides the kernel's reads: wake
 * up once per interval, write one tick's Valkey commands (encoded once, read
 * from stdin) on a plain TCP socket and wait for all their replies. The peer
 * of write-floor.mjs, which does the same in the release's Node runtime;
 * scripts/write-floor.ts runs both (see there for how the benches use them).
 *
 * CPU is this process's own (CLOCK_PROCESS_CPUTIME_ID) from the end of the
 * warm-up ticks to the end of the last tick, so each tick's wake-up counts.
 * It does not serialise the payloads (write-floor.mjs does): in C that is a
 * small part of a tick, so this floor stays a lower bound without it.
 * Replies are counted by a small RESP scanner (simple strings, errors,
 * integers, bulk strings, arrays); error replies are counted and reported.
 *
 * Usage: write-floor PORT INTERVAL_MS TICKS WARMUP REPLIES < commands
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_DEPTH 32

static long long cpu_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

/* A streaming RESP reply counter: feed it bytes, it counts complete top-level replies. */
struct scanner {
  int in_line;          /* inside a header line (after its type byte) */
  char type;            /* the line's type byte */
  long long num;        /* the line's number (bulk length, array count) */
  int neg;              /* the number was negative */
  long long skip;       /* bulk bytes (and CRLF) still to skip */
  int depth;            /* open arrays */
  long long left[MAX_DEPTH];
  long long replies;
  long long errors;
};

static void element_done(struct scanner *s) {
  while (s->depth > 0) {
    if (--s->left[s->depth - 1] > 0) return;
    s->depth--;
  }
  s->replies++;
}

/* Returns -1 on a byte that is not RESP. */
static int scan(struct scanner *s, const char *p, size_t n) {
  for (size_t i = 0; i < n; i++) {
    char c = p[i];
    if (s->skip > 0) {
      if (--s->skip == 0) element_done(s);
      continue;
    }
    if (!s->in_line) {
      if (strchr("+-:$*", c) == NULL) return -1;
      s->in_line = 1;
      s->type = c;
      s->num = 0;
      s->neg = 0;
      continue;
    }
    if (c == '\n') {
      s->in_line = 0;
      long long v = s->neg ? -s->num : s->num;
      if (s->type == '-') s->errors++;
      if (s->type == '$' && v >= 0) {
        s->skip = v + 2;
      } else if (s->type == '*' && v > 0) {
        if (s->depth == MAX_DEPTH) return -1;
        s->left[s->depth++] = v;
      } else {
        element_done(s);
      }
      continue;
    }
    if (s->type == '$' || s->type == '*') {
      if (c == '-') s->neg = 1;
      else if (c >= '0' && c <= '9') s->num = s->num * 10 + (c - '0');
    }
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: write-floor PORT INTERVAL_MS TICKS WARMUP REPLIES < commands\n");
    return 2;
  }
  int port = atoi(argv[1]), interval_ms = atoi(argv[2]), ticks = atoi(argv[3]), warmup = atoi(argv[4]);
  long long replies = atoll(argv[5]);
  if (port <= 0 || interval_ms < 0 || ticks <= 0 || warmup < 0 || replies <= 0) {
    fprintf(stderr, "write-floor: PORT, TICKS and REPLIES must be positive, INTERVAL_MS and WARMUP not negative\n");
    return 2;
  }
  size_t cap = 1 << 20, len = 0;
  char *cmds = malloc(cap);
  for (;;) {
    if (cmds == NULL) {
      fprintf(stderr, "write-floor: out of memory\n");
      return 1;
    }
    ssize_t r = read(0, cmds + len, cap - len);
    if (r < 0) {
      perror("write-floor: stdin");
      return 1;
    }
    if (r == 0) break;
    len += (size_t)r;
    if (len == cap) cmds = realloc(cmds, cap *= 2);
  }
  if (len == 0) {
    fprintf(stderr, "write-floor: no commands on stdin\n");
    return 2;
  }
  int sock = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in addr = {0};
  addr.sin_family = AF_INET;
  addr.sin_port = htons((unsigned short)port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (sock < 0 || connect(sock, (struct sockaddr *)&addr, sizeof addr) != 0) {
    fprintf(stderr, "write-floor: cannot connect to 127.0.0.1:%d\n", port);
    return 1;
  }
  int one = 1;
  setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct timespec gap = {interval_ms / 1000, (long)(interval_ms % 1000) * 1000000L};
  struct scanner s;
  memset(&s, 0, sizeof s);
  static char buf[65536];
  long long t0 = 0;
  for (int t = 0; t < warmup + ticks; t++) {
    if (t == warmup) t0 = cpu_ns();
    if (interval_ms > 0) nanosleep(&gap, NULL);
    for (size_t off = 0; off < len;) {
      ssize_t w = write(sock, cmds + off, len - off);
      if (w <= 0) {
        perror("write-floor: write");
        return 1;
      }
      off += (size_t)w;
    }
    long long want = s.replies + replies;
    while (s.replies < want) {
      ssize_t r = read(sock, buf, sizeof buf);
      if (r <= 0) {
        fprintf(stderr, "write-floor: the server closed the connection\n");
        return 1;
      }
      if (scan(&s, buf, (size_t)r) != 0) {
        fprintf(stderr, "write-floor: the server's reply is not RESP\n");
        return 1;
      }
    }
    if (s.replies != want) {
      fprintf(stderr, "write-floor: %lld replies where %lld commands were sent\n", s.replies, want);
      return 1;
    }
  }
  long long spent = cpu_ns() - t0;
  printf("{\"runtime\":\"c\",\"ticks\":%d,\"interval_ms\":%d,\"bytes_per_tick\":%zu,\"replies_per_tick\":%lld,\"json_chars_per_tick\":0,\"errors\":%lld,\"cpu_ns_per_tick\":%lld}\n", ticks, interval_ms, len,
         replies, s.errors, spent / ticks);
  return 0;
}
