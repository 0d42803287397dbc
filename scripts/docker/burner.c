/*
 * A static CPU burner, the main command of test containers (built by
 * burnerBinary() in stand-ins.ts with musl-gcc -static, so it runs in any
 * image, the empty one included).
 *
 *   burner [--threads N] [--term-exit CODE] [--exit-after-ms MS]
 *
 * Spins N threads (default 1) at 100 % CPU. Once the signal handlers are in
 * place and the threads started it writes "ready\n", so a test knows when a
 * signal will be reported rather than kill it. HUP, INT, QUIT, USR1, USR2,
 * WINCH and TERM only set a flag; the spin loop of the main thread notices it
 * and writes "signal NAME\n" with write(2) (no stdio buffering). After TERM it
 * exits with CODE (default 143, 128 + SIGTERM). With --exit-after-ms it exits
 * 0 after MS milliseconds. Bad arguments: a usage line on stderr, exit 2.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const struct {
	int sig;
	const char *name;
} handled[] = {
	{SIGHUP, "HUP"},   {SIGINT, "INT"},   {SIGQUIT, "QUIT"}, {SIGUSR1, "USR1"},
	{SIGUSR2, "USR2"}, {SIGWINCH, "WINCH"}, {SIGTERM, "TERM"},
};
#define NHANDLED (sizeof handled / sizeof handled[0])

static volatile sig_atomic_t pending[NHANDLED];
static volatile sig_atomic_t any_pending;

static void on_signal(int sig)
{
	for (size_t i = 0; i < NHANDLED; i++) {
		if (handled[i].sig == sig) {
			pending[i] = 1;
			any_pending = 1;
		}
	}
}

static void say(const char *a, const char *b)
{
	char line[64];
	size_t n = strlen(a), m = strlen(b);
	if (n + m + 1 > sizeof line)
		return;
	memcpy(line, a, n);
	memcpy(line + n, b, m);
	line[n + m] = '\n';
	for (size_t off = 0; off < n + m + 1;) {
		ssize_t w = write(STDOUT_FILENO, line + off, n + m + 1 - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		off += (size_t)w;
	}
}

static void usage(void)
{
	static const char text[] =
		"usage: burner [--threads N] [--term-exit CODE] [--exit-after-ms MS] [--hold-mb MB]\n";
	ssize_t ignored = write(STDERR_FILENO, text, sizeof text - 1);
	(void)ignored;
	_exit(2);
}

static long number(const char *s, long min, long max)
{
	char *end;
	errno = 0;
	long v = s ? strtol(s, &end, 10) : 0;
	if (!s || errno || end == s || *end || v < min || v > max)
		usage();
	return v;
}

static void burn(void)
{
	static volatile unsigned long sink;
	for (unsigned i = 0; i < 1000000; i++)
		sink = sink + i;
}

static void *spin(void *arg)
{
	(void)arg;
	for (;;)
		burn();
	return NULL;
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int main(int argc, char **argv)
{
	long threads = 1, term_exit = 128 + SIGTERM, exit_after_ms = -1, hold_mb = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--threads"))
			threads = number(argv[++i], 1, 1024);
		else if (!strcmp(argv[i], "--term-exit"))
			term_exit = number(argv[++i], 0, 255);
		else if (!strcmp(argv[i], "--exit-after-ms"))
			exit_after_ms = number(argv[++i], 0, 1L << 40);
		else if (!strcmp(argv[i], "--hold-mb"))
			hold_mb = number(argv[++i], 0, 1L << 20);
		else
			usage();
	}

	/* Memory written once and held: a container whose usage is large beside
	 * the memory cgroup's per-CPU charge batches (64 pages), as real ones are. */
	if (hold_mb > 0) {
		static volatile char *held;
		size_t bytes = (size_t)hold_mb << 20;
		held = malloc(bytes);
		if (held == NULL) {
			say("burner: cannot allocate --hold-mb", "");
			return 1;
		}
		memset((char *)held, 1, bytes);
	}

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	for (size_t i = 0; i < NHANDLED; i++)
		sigaction(handled[i].sig, &sa, NULL);

	/* The extra threads block the handled signals, so the main thread runs
	 * the handler and its next loop turn reports the signal. */
	sigset_t mask, old;
	sigemptyset(&mask);
	for (size_t i = 0; i < NHANDLED; i++)
		sigaddset(&mask, handled[i].sig);
	pthread_sigmask(SIG_BLOCK, &mask, &old);
	for (long t = 1; t < threads; t++) {
		pthread_t id;
		if (pthread_create(&id, NULL, spin, NULL) != 0) {
			say("burner: cannot start thread", "");
			return 1;
		}
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);

	long long deadline = exit_after_ms >= 0 ? now_ms() + exit_after_ms : -1;
	say("ready", "");
	for (;;) {
		burn();
		if (any_pending) {
			any_pending = 0;
			for (size_t i = 0; i < NHANDLED; i++) {
				if (!pending[i])
					continue;
				pending[i] = 0;
				say("signal ", handled[i].name);
				if (handled[i].sig == SIGTERM)
					_exit((int)term_exit);
			}
		}
		if (deadline >= 0 && now_ms() >= deadline)
			_exit(0);
	}
}
