/*
 * tests/tsanrun/runner.c - the runner behind the headers of tests/tsanrun,
 * linked into the unit test programs instead of libcriterion when the
 * build is configured with --enable-tsan (criterion.h says why).
 *
 * Each test (each element of a parameterized test) runs in a forked child,
 * as under Criterion, so that one test's state, threads and crash never
 * reach another.  In the child: the suite's .init then the test's, the
 * test, the test's .fini then the suite's; a failed cr_assert ends the
 * phase it is in, a failed cr_expect only marks the test.  The child tells
 * its verdict through a pipe; the parent also wants its exit status to be
 * 0, which is how ThreadSanitizer's reports (exitcode 66) fail a test that
 * asserted nothing wrong.  The program exits 0 when no test failed, as
 * Criterion's does, so automake counts it the same way.
 *
 * Usage: test_x [--filter SUITE/NAME-PATTERN] [--jobs N]  (as Criterion's;
 * the pattern is fnmatch's, the tests run one at a time)
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/redirect.h>

static struct tsanrun_test **tests;
static size_t ntests;
static struct tsanrun_suite **suites;
static size_t nsuites;

/* The reports: a copy of the original stderr, unbuffered, not captured. */
static FILE *out;

/* The child's state. */
static char current_name[256];
static pthread_t main_thread;
static jmp_buf phase_jmp;
static bool in_phase;
static atomic_bool failed;
static int verdict_fd = -1;
static pid_t child_pid;
static FILE *captured;

static void
oom(void)
{
	fputs("tsanrun: out of memory\n", stderr);
	exit(99);
}

void
tsanrun_register_test(struct tsanrun_test *t)
{
	struct tsanrun_test **n;

	n = realloc(tests, (ntests + 1) * sizeof(*tests));
	if (n == NULL)
		oom();
	tests = n;
	tests[ntests++] = t;
}

void
tsanrun_register_suite(struct tsanrun_suite *s)
{
	struct tsanrun_suite **n;

	n = realloc(suites, (nsuites + 1) * sizeof(*suites));
	if (n == NULL)
		oom();
	suites = n;
	suites[nsuites++] = s;
}

static const struct criterion_test_extra_data *
suite_data(const char *name)
{
	for (size_t i = 0; i < nsuites; i++)
		if (strcmp(suites[i]->name, name) == 0)
			return &suites[i]->data;
	return NULL;
}

/* The formats of the macros start with a space (criterion.h). */
static void
print_message(const char *fmt, va_list ap)
{
	char msg[4096];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (msg[0] == ' ' && msg[1] != '\0')
		fprintf(out, ": %s", msg + 1);
	fputc('\n', out);
}

/* Only the test's process speaks for it, not one the test forked. */
static void
send_verdict(char v)
{
	if (getpid() != child_pid || write(verdict_fd, &v, 1) != 1)
		exit(1);
}

/* A failed cr_assert: the test's thread unwinds to the end of the phase. */
static void __attribute__((noreturn)) abort_test(void)
{
	if (getpid() == child_pid &&
	    pthread_equal(pthread_self(), main_thread) && in_phase)
		longjmp(phase_jmp, 1);
	/* A thread the test started cannot unwind the test's thread. */
	fprintf(out, "  %s: fatal failure outside the test's thread\n",
	    current_name);
	send_verdict('f');
	exit(1);
}

void
tsanrun_fail(bool fatal, const char *file, int line, const char *expr,
    const char *fmt, ...)
{
	va_list ap;

	fprintf(out, "  %s:%d: %s failed: %s", file, line,
	    fatal ? "assertion" : "expectation", expr);
	va_start(ap, fmt);
	print_message(fmt, ap);
	va_end(ap);
	atomic_store(&failed, true);
	if (fatal)
		abort_test();
}

void
tsanrun_str(bool fatal, bool want_equal, const char *a, const char *b,
    const char *file, int line, const char *expr, const char *fmt, ...)
{
	va_list ap;
	bool equal;

	if (a == NULL || b == NULL)
		equal = a == b;
	else
		equal = strcmp(a, b) == 0;
	if (equal == want_equal)
		return;
	fprintf(out, "  %s:%d: %s failed: %s", file, line,
	    fatal ? "assertion" : "expectation", expr);
	va_start(ap, fmt);
	print_message(fmt, ap);
	va_end(ap);
	fprintf(out, "    left:  \"%s\"\n    right: \"%s\"\n",
	    a != NULL ? a : "(null)", b != NULL ? b : "(null)");
	atomic_store(&failed, true);
	if (fatal)
		abort_test();
}

void
tsanrun_skip(const char *fmt, ...)
{
	va_list ap;

	fprintf(out, "  %s: skipped", current_name);
	va_start(ap, fmt);
	print_message(fmt, ap);
	va_end(ap);
	/* As Criterion: the test ends here, without its .fini. */
	send_verdict('s');
	exit(0);
}

void
tsanrun_log(const char *level, const char *fmt, ...)
{
	va_list ap;

	fprintf(out, "  [%s] ", level);
	va_start(ap, fmt);
	vfprintf(out, fmt, ap);
	va_end(ap);
	fputc('\n', out);
}

void
cr_redirect_stderr(void)
{
	captured = tmpfile();
	if (captured == NULL || fflush(stderr) != 0 ||
	    dup2(fileno(captured), STDERR_FILENO) == -1) {
		fprintf(out, "  cr_redirect_stderr: %s\n", strerror(errno));
		exit(1);
	}
}

char *
tsanrun_captured_stderr(void)
{
	struct stat st;
	char *buf;
	ssize_t n;

	fflush(stderr);
	if (captured == NULL || fstat(fileno(captured), &st) == -1)
		return NULL;
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL)
		oom();
	n = pread(fileno(captured), buf, (size_t)st.st_size, 0);
	if (n < 0)
		n = 0;
	buf[n] = '\0';
	return buf;
}

/*
 * One phase of the child: returns false when a fatal check ended it.  The
 * state that crosses the longjmp lives in statics, not in locals.
 */
static bool
run_phase(void (*a)(void), void (*b)(void), void (*p)(void *), void *param)
{
	if (setjmp(phase_jmp) != 0) {
		in_phase = false;
		return false;
	}
	in_phase = true;
	if (a != NULL)
		a();
	if (b != NULL)
		b();
	if (p != NULL)
		p(param);
	in_phase = false;
	return true;
}

static void __attribute__((noreturn))
run_child(const struct tsanrun_test *t, void *param)
{
	const struct criterion_test_extra_data *sd = suite_data(t->suite);

	child_pid = getpid();
	main_thread = pthread_self();
	if (!run_phase(sd != NULL ? sd->init : NULL, t->data.init, NULL,
		NULL)) {
		/* Criterion aborts when the set-up fails: no test, no .fini. */
		fprintf(out, "  %s: set-up failed\n", current_name);
		send_verdict('f');
		exit(1);
	}
	if (t->fn != NULL)
		run_phase(t->fn, NULL, NULL, NULL);
	else
		run_phase(NULL, NULL, t->pfn, param);
	run_phase(t->data.fini, sd != NULL ? sd->fini : NULL, NULL, NULL);
	send_verdict(atomic_load(&failed) ? 'f' : 'p');
	exit(atomic_load(&failed) ? 1 : 0);
}

enum result { PASSED, FAILED, SKIPPED };

static enum result
run_one(const struct tsanrun_test *t, void *param)
{
	int fds[2], status;
	char v = 0;
	pid_t pid;

	if (pipe(fds) == -1 || fcntl(fds[0], F_SETFD, FD_CLOEXEC) == -1 ||
	    fcntl(fds[1], F_SETFD, FD_CLOEXEC) == -1) {
		fprintf(out, "tsanrun: pipe: %s\n", strerror(errno));
		exit(99);
	}
	fflush(NULL);
	pid = fork();
	if (pid == -1) {
		fprintf(out, "tsanrun: fork: %s\n", strerror(errno));
		exit(99);
	}
	if (pid == 0) {
		close(fds[0]);
		verdict_fd = fds[1];
		run_child(t, param);
	}
	close(fds[1]);
	while (waitpid(pid, &status, 0) == -1)
		if (errno != EINTR) {
			fprintf(out, "tsanrun: waitpid: %s\n", strerror(errno));
			exit(99);
		}
	/*
	 * A process the test forked may still hold the pipe: read what is
	 * there without waiting for its end.
	 */
	fcntl(fds[0], F_SETFL, O_NONBLOCK);
	if (read(fds[0], &v, 1) != 1)
		v = 0;
	close(fds[0]);

	if (WIFSIGNALED(status)) {
		fprintf(out, "  %s: crashed: %s\n", current_name,
		    strsignal(WTERMSIG(status)));
		return FAILED;
	}
	/* A failed check has told its own story. */
	if (v == 'f' && WEXITSTATUS(status) == 1)
		return FAILED;
	if (WEXITSTATUS(status) != 0) {
		fprintf(out, "  %s: exit status %d%s\n", current_name,
		    WEXITSTATUS(status),
		    WEXITSTATUS(status) == 66 ? " (a ThreadSanitizer report)" :
						"");
		return FAILED;
	}
	if (v == 'p')
		return PASSED;
	if (v == 's')
		return SKIPPED;
	if (v != 'f')
		fprintf(out, "  %s: exited before the end of the test\n",
		    current_name);
	return FAILED;
}

static int
by_name(const void *a, const void *b)
{
	const struct tsanrun_test *x = *(struct tsanrun_test *const *)a;
	const struct tsanrun_test *y = *(struct tsanrun_test *const *)b;
	int c = strcmp(x->suite, y->suite);

	return c != 0 ? c : strcmp(x->name, y->name);
}

static void
count(enum result r, unsigned *n)
{
	static const char *const word[] = {"PASS", "FAIL", "SKIP"};

	fprintf(out, "[%s] %s\n", word[r], current_name);
	n[r]++;
}

int
main(int argc, char **argv)
{
	const char *filter = NULL;
	unsigned n[3] = {0, 0, 0};
	int fd;

	/* Criterion's spellings; the tests run one after the other anyway. */
	for (int i = 1; i < argc; i++) {
		if (strncmp(argv[i], "--filter=", 9) == 0)
			filter = argv[i] + 9;
		else if (strcmp(argv[i], "--filter") == 0 && i + 1 < argc)
			filter = argv[++i];
		else if (strncmp(argv[i], "--jobs=", 7) == 0 ||
			 strncmp(argv[i], "-j", 2) == 0)
			continue;
		else if (strcmp(argv[i], "--jobs") == 0 && i + 1 < argc)
			i++;
		else {
			fprintf(stderr,
			    "usage: %s [--filter PATTERN] [--jobs N]\n",
			    argv[0]);
			return 99;
		}
	}
	fd = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
	if (fd == -1 || (out = fdopen(fd, "w")) == NULL) {
		perror("tsanrun: stderr");
		return 99;
	}
	setvbuf(out, NULL, _IONBF, 0);
	if (ntests > 0)
		qsort(tests, ntests, sizeof(*tests), by_name);

	for (size_t i = 0; i < ntests; i++) {
		const struct tsanrun_test *t = tests[i];
		struct criterion_test_params p = {0};

		snprintf(current_name, sizeof(current_name), "%s/%s", t->suite,
		    t->name);
		if (filter != NULL && fnmatch(filter, current_name, 0) != 0)
			continue;
		if (t->params == NULL) {
			count(run_one(t, NULL), n);
			continue;
		}
		p = t->params();
		for (size_t k = 0; k < p.length; k++) {
			snprintf(current_name, sizeof(current_name),
			    "%s/%s[%zu]", t->suite, t->name, k);
			count(run_one(t, (char *)p.params + k * p.size), n);
		}
		if (p.cleanup != NULL)
			p.cleanup(&p);
	}
	fprintf(out,
	    "[====] Synthesis: Tested: %u | Passing: %u | Failing: %u | "
	    "Skipped: %u\n",
	    n[PASSED] + n[FAILED] + n[SKIPPED], n[PASSED], n[FAILED],
	    n[SKIPPED]);
	return n[FAILED] > 0 ? 1 : 0;
}
