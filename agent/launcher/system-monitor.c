/*
 * The release's entry point, `system-monitor/system-monitor`: a static
 * program (musl, no shared libraries) so that it runs in any x86-64 Linux
 * userland — glibc of any version, musl only (Alpine), or an image that holds
 * nothing but the release directory.
 *
 * The agent itself is a Node single executable (libexec/system-monitor-node),
 * a glibc program that needs libstdc++, libgcc_s and libatomic. The release
 * ships those and glibc's own loader in lib/, and this program starts the
 * agent through that loader with lib/ as the only library path:
 *
 *   lib/ld-linux-x86-64.so.2 --library-path lib --argv0 ARGV0
 *       libexec/system-monitor-node ARGS...
 *
 * so nothing is taken from the image (the image's ld.so.cache is only
 * consulted for libraries the release does not hold, such as the
 * libnvidia-ml.so.1 the NVIDIA Container Toolkit mounts). LD_PRELOAD and
 * LD_AUDIT are dropped for the agent: they name the image's libraries, built
 * against the image's libc.
 *
 * `system-monitor wrap [--] COMMAND [ARGS...]` is start-with-monitor.sh for
 * images without a shell: it runs COMMAND (stdin, stdout, stderr and the
 * environment untouched) with the agent beside it, restarts an agent that
 * dies (1, 2, 4 ... s, at most SYSTEM_MONITOR_MAX_BACKOFF, default 60),
 * forwards TERM, INT, HUP, QUIT, USR1, USR2 and WINCH to COMMAND and dies of
 * none of them, reaps orphans (it is usually PID 1), and when COMMAND exits
 * stops the agent with one SIGTERM (its final "exited" sample), SIGKILL
 * after 5 s, and exits with COMMAND's status (128+N for signal N).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static const char PROG[] = "system-monitor";
static char home[PATH_MAX];

__attribute__((format(printf, 1, 2))) static void say(const char *fmt, ...) {
  char line[PATH_MAX + 256];
  int len = snprintf(line, sizeof line, "%s: ", PROG);
  if (len < 0) return;
  va_list ap;
  va_start(ap, fmt);
  int more = vsnprintf(line + len, sizeof line - (size_t)len, fmt, ap);
  va_end(ap);
  if (more < 0) return;
  len += more;
  if ((size_t)len >= sizeof line - 1) len = (int)sizeof line - 2;
  line[len++] = '\n';
  ssize_t ignored = write(2, line, (size_t)len);
  (void)ignored;
}

/* The release directory: where this program's file really is (symlinks resolved). */
static int find_home(const char *argv0) {
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n > 0) {
    self[n] = '\0';
  } else if (argv0 == NULL || strchr(argv0, '/') == NULL || realpath(argv0, self) == NULL) {
    say("cannot find its own file (/proc is not mounted and argv[0] '%s' is not a path); run it by its full path", argv0 ? argv0 : "");
    return -1;
  }
  char *slash = strrchr(self, '/');
  if (slash == NULL) return -1;
  if (slash == self) slash[1] = '\0';
  else *slash = '\0';
  memcpy(home, self, strlen(self) + 1);
  return 0;
}

static int dropped(const char *entry) {
  return strncmp(entry, "LD_PRELOAD=", 11) == 0 || strncmp(entry, "LD_AUDIT=", 9) == 0;
}

/* Replaces this process with the agent (never returns but on failure). */
static void exec_agent(const char *argv0, int argc, char **args) {
  /* home is shorter than PATH_MAX; the suffixes fit in the extra 64 bytes. */
  static char loader[PATH_MAX + 64], libdir[PATH_MAX + 64], program[PATH_MAX + 64];
  snprintf(loader, sizeof loader, "%.4095s/lib/ld-linux-x86-64.so.2", home);
  snprintf(libdir, sizeof libdir, "%.4095s/lib", home);
  snprintf(program, sizeof program, "%.4095s/libexec/system-monitor-node", home);

  char **argv = calloc((size_t)argc + 8, sizeof *argv);
  size_t envc = 0;
  while (environ[envc] != NULL) envc++;
  char **envp = calloc(envc + 1, sizeof *envp);
  if (argv == NULL || envp == NULL) {
    say("out of memory");
    return;
  }
  size_t e = 0;
  for (size_t i = 0; i < envc; i++) {
    if (!dropped(environ[i])) envp[e++] = environ[i];
  }
  int a = 0;
  argv[a++] = loader;
  argv[a++] = "--library-path";
  argv[a++] = libdir;
  argv[a++] = "--argv0";
  argv[a++] = (char *)argv0;
  argv[a++] = program;
  for (int i = 0; i < argc; i++) argv[a++] = args[i];
  argv[a] = NULL;
  execve(loader, argv, envp);
  say("cannot start the agent through %s: %s (is the release directory complete?)", loader, strerror(errno));
}

/* ---- wrap: the main command with the agent beside it ---- */

static const int FORWARDED[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH};
#define N_FORWARDED (sizeof FORWARDED / sizeof FORWARDED[0])

static void on_signal(int sig) { (void)sig; }

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int status_code(int st) {
  if (WIFEXITED(st)) return WEXITSTATUS(st);
  if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
  return 1;
}

static sigset_t original_mask;

/* In a child: the signal state the parent had before it blocked everything. */
static void child_signals(void) {
  struct sigaction dfl;
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  for (size_t i = 0; i < N_FORWARDED; i++) sigaction(FORWARDED[i], &dfl, NULL);
  sigaction(SIGCHLD, &dfl, NULL);
  sigprocmask(SIG_SETMASK, &original_mask, NULL);
}

static pid_t start_agent(const char *argv0) {
  pid_t pid = fork();
  if (pid != 0) return pid;
  child_signals();
  int null = open("/dev/null", O_RDONLY);
  if (null >= 0) {
    dup2(null, 0);
    if (null != 0) close(null);
  } else {
    close(0);
  }
  const char *log = getenv("SYSTEM_MONITOR_LOG");
  int out = 2;
  if (log != NULL && log[0] != '\0') {
    out = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (out < 0) {
      say("cannot open SYSTEM_MONITOR_LOG %s (%s); agent output goes to stderr", log, strerror(errno));
      out = 2;
    }
  }
  dup2(out, 1);
  if (out != 2) dup2(out, 2);
  exec_agent(argv0, 0, NULL);
  _exit(127);
}

static long max_backoff(void) {
  const char *v = getenv("SYSTEM_MONITOR_MAX_BACKOFF");
  if (v == NULL || v[0] == '\0') return 60;
  char *end = NULL;
  long n = strtol(v, &end, 10);
  if (*end != '\0' || n < 0 || n > 86400) {
    say("SYSTEM_MONITOR_MAX_BACKOFF must be a whole number of seconds (got '%s'); using 60", v);
    return 60;
  }
  return n < 1 ? 1 : n;
}

static int wrap(const char *argv0, int argc, char **args) {
  if (argc > 0 && strcmp(args[0], "--") == 0) {
    args++;
    argc--;
  }
  if (argc == 0) {
    say("usage: %s wrap [--] <main command> [args...]", argv0);
    return 64;
  }
  const char *disable = getenv("SYSTEM_MONITOR_DISABLE");
  if (disable != NULL && strcmp(disable, "1") == 0) {
    execvp(args[0], args);
    int err = errno;
    say("cannot run %s: %s", args[0], strerror(err));
    return err == ENOENT ? 127 : 126;
  }

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigset_t waited;
  sigemptyset(&waited);
  sigaddset(&waited, SIGCHLD);
  sigaction(SIGCHLD, &sa, NULL);
  for (size_t i = 0; i < N_FORWARDED; i++) {
    sigaddset(&waited, FORWARDED[i]);
    /* A handler, not only a blocked signal: PID 1 is sent nothing it has no handler for. */
    sigaction(FORWARDED[i], &sa, NULL);
  }
  sigprocmask(SIG_BLOCK, &waited, &original_mask);

  pid_t main_pid = fork();
  if (main_pid < 0) {
    say("cannot fork: %s", strerror(errno));
    return 126;
  }
  if (main_pid == 0) {
    child_signals();
    execvp(args[0], args);
    int err = errno;
    say("cannot run the main command %s: %s", args[0], strerror(err));
    _exit(err == ENOENT ? 127 : 126);
  }

  long limit = max_backoff();
  long delay = 1;
  pid_t agent = start_agent(argv0);
  double agent_started = now_s();
  double restart_at = 0;   /* > 0: the agent is down and restarts then */
  double kill_at = 0;      /* > 0: the main command is gone, the agent was told to stop */
  int main_status = -1;

  for (;;) {
    double now = now_s();
    double until = restart_at > 0 ? restart_at : kill_at > 0 ? kill_at : now + 3600;
    double wait_s = until - now;
    if (wait_s < 0) wait_s = 0;
    struct timespec timeout = {(time_t)wait_s, (long)((wait_s - (double)(time_t)wait_s) * 1e9)};
    siginfo_t info;
    int sig = sigtimedwait(&waited, &info, &timeout);
    if (sig < 0 && errno != EAGAIN && errno != EINTR) {
      say("sigtimedwait failed: %s", strerror(errno));
    }
    if (sig > 0 && sig != SIGCHLD) {
      if (main_status < 0) kill(main_pid, sig);
      continue;
    }
    if (sig == SIGCHLD) {
      int st;
      pid_t pid;
      while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
        if (pid == main_pid) {
          main_status = status_code(st);
          restart_at = 0;
          if (agent > 0) {
            kill(agent, SIGTERM);
            kill_at = now_s() + 5;
          }
        } else if (pid == agent) {
          agent = 0;
          if (main_status >= 0) continue;
          long ran = (long)(now_s() - agent_started);
          if (ran >= 60) delay = 1;
          char what[64];
          snprintf(what, sizeof what, "%s %d", WIFSIGNALED(st) ? "signal" : "status", WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
          say("agent exited with %s; restarting in %ld s", what, delay);
          restart_at = now_s() + (double)delay;
          delay = delay * 2 > limit ? limit : delay * 2;
        }
        /* Any other pid: an orphan this PID 1 adopted, now reaped. */
      }
    }
    if (main_status >= 0 && agent == 0) return main_status;
    now = now_s();
    if (kill_at > 0 && now >= kill_at && agent > 0) {
      kill(agent, SIGKILL);
      kill_at = 0;
    }
    if (restart_at > 0 && now >= restart_at && main_status < 0) {
      restart_at = 0;
      agent = start_agent(argv0);
      agent_started = now_s();
    }
  }
}

int main(int argc, char **argv) {
  const char *argv0 = argc > 0 ? argv[0] : PROG;
  if (find_home(argv0) != 0) return 127;
  if (argc > 1 && strcmp(argv[1], "wrap") == 0) return wrap(argv0, argc - 2, argv + 2);
  exec_agent(argv0, argc > 1 ? argc - 1 : 0, argv + 1);
  return 127;
}
