/*
 * backend: who owns the socket and the SSL when the backend's TLS
 * bufferevent cannot be made, failure reasons kept per session, and the
 * cutting of the backend's bytes into lines.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <openssl/ssl.h>

#include "backend.h"
#include "session.h"
#include "tls.h"

/*
 * libevent's allocator, made to fail on demand: the only way to have
 * bufferevent_openssl_socket_new() fail as it can in production (out of
 * memory).  Installed before libevent allocates anything; Criterion runs
 * each test in a process of its own.
 */
static bool fail_alloc;

static void *
test_malloc(size_t n)
{
	return fail_alloc ? NULL : malloc(n);
}

static void *
test_realloc(void *p, size_t n)
{
	return fail_alloc ? NULL : realloc(p, n);
}

static bool
fd_open(int fd)
{
	return fcntl(fd, F_GETFD) != -1 || errno != EBADF;
}

static struct event_base *base;
static SSL_CTX *ctx;
static int sv[2];

static void
setup(void)
{
	event_set_mem_functions(test_malloc, test_realloc, free);
	tls_init();
	cr_assert_not_null(base = event_base_new());
	cr_assert_not_null(ctx = SSL_CTX_new(TLS_client_method()));
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv),
	    0);
}

static void
teardown(void)
{
	close(sv[1]);
	SSL_CTX_free(ctx);
	event_base_free(base);
}

TestSuite(backend, .init = setup, .fini = teardown);

Test(backend, tls_socket_failure_closes_the_socket)
{
	SSL *ssl = SSL_new(ctx);

	cr_assert_not_null(ssl);
	fail_alloc = true;
	cr_assert_null(backend_tls_socket_new(base, sv[0], ssl));
	fail_alloc = false;
	/* libevent freed ssl (a leak or a double free shows under the
	 * sanitizers); the socket is gone too. */
	cr_assert(!fd_open(sv[0]), "the backend socket leaked");
}

Test(backend, tls_socket_owns_the_socket_once_made)
{
	SSL *ssl = SSL_new(ctx);
	struct bufferevent *bev;

	cr_assert_not_null(ssl);
	cr_assert_not_null(bev = backend_tls_socket_new(base, sv[0], ssl));
	cr_assert_eq(bufferevent_getfd(bev), sv[0]);
	cr_assert(fd_open(sv[0]));
	bufferevent_free(bev);
	/* The free may be finished by a turn of the loop. */
	event_base_loop(base, EVLOOP_NONBLOCK);
	cr_assert(!fd_open(sv[0]));
}

Test(backend, failure_reasons_are_per_session)
{
	struct session a, b;

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	close(sv[0]);
	cr_assert_str_eq(backend_error(&a), "login dialogue failed");
	backend_set_failure(&a, BACKEND_FAILURE_TIMEOUT,
	    "no login within %u ms", 1000u);
	backend_set_failure(&b, BACKEND_FAILURE_CLOSED, "closed");
	cr_assert_eq(a.backend_failure, BACKEND_FAILURE_TIMEOUT);
	cr_assert_str_eq(backend_error(&a), "no login within 1000 ms");
	cr_assert_eq(b.backend_failure, BACKEND_FAILURE_CLOSED);
	cr_assert_str_eq(backend_error(&b), "closed");
	/* A later failure of the same session replaces the earlier one. */
	backend_set_failure(&a, BACKEND_FAILURE_PROTOCOL, "bad answer");
	cr_assert_str_eq(backend_error(&a), "bad answer");
	cr_assert_str_eq(backend_error(&b), "closed");
	free(a.backend_why);
	free(b.backend_why);
}

/* backend_line_split() on b, a string, with a limit of max. */
static enum backend_split
split(const char *b, size_t max, size_t *linelen, size_t *eollen)
{
	*linelen = *eollen = 99;
	return backend_line_split(b, strlen(b), max, linelen, eollen);
}

Test(backend, line_split_ends)
{
	size_t n, e;

	close(sv[0]);
	cr_assert_eq(split("+OK hi\r\nmore", 100, &n, &e), BACKEND_SPLIT_LINE);
	cr_assert_eq(n, 6);
	cr_assert_eq(e, 2);
	/* A bare LF ends a line too; a CR elsewhere belongs to the line. */
	cr_assert_eq(split("a\rb\n", 100, &n, &e), BACKEND_SPLIT_LINE);
	cr_assert_eq(n, 3);
	cr_assert_eq(e, 1);
	cr_assert_eq(split("a\r\r\n", 100, &n, &e), BACKEND_SPLIT_LINE);
	cr_assert_eq(n, 2);
	cr_assert_eq(e, 2);
	cr_assert_eq(split("\r\n", 100, &n, &e), BACKEND_SPLIT_LINE);
	cr_assert_eq(n, 0);
	cr_assert_eq(e, 2);
	/* Not yet: no LF, even after a CR. */
	cr_assert_eq(split("+OK hi\r", 100, &n, &e), BACKEND_SPLIT_MORE);
	cr_assert_eq(split("", 100, &n, &e), BACKEND_SPLIT_MORE);
}

Test(backend, line_split_limit)
{
	size_t n, e;

	close(sv[0]);
	/* max bytes before the end are a line; one more is too long. */
	cr_assert_eq(split("abcd\r\n", 4, &n, &e), BACKEND_SPLIT_LINE);
	cr_assert_eq(n, 4);
	cr_assert_eq(split("abcde\r\n", 4, &n, &e), BACKEND_SPLIT_TOO_LONG);
	cr_assert_eq(split("abcde\n", 4, &n, &e), BACKEND_SPLIT_TOO_LONG);
	/* Without an end: waiting up to max bytes, then too long. */
	cr_assert_eq(split("abcd", 4, &n, &e), BACKEND_SPLIT_MORE);
	cr_assert_eq(split("abcde", 4, &n, &e), BACKEND_SPLIT_TOO_LONG);
}
