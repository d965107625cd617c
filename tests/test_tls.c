/*
 * tls: the relay's socket BIO and the hand-over of an SSL from a TLS
 * bufferevent, on a socket pair.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/ssl.h>

#include "tls.h"

static int sv[2];

static void
setup(void)
{
	tls_init();
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv),
	    0);
}

static void
teardown(void)
{
	close(sv[0]);
	close(sv[1]);
}

static bool
fd_open(int fd)
{
	return fcntl(fd, F_GETFD) != -1;
}

TestSuite(tls, .init = setup, .fini = teardown);

Test(tls, sockbio_reads_writes_and_never_tells_its_descriptor)
{
	BIO *b = tls_sockbio_new(sv[0]);
	char buf[16];

	cr_assert_not_null(b);
	cr_assert_eq(BIO_get_fd(b, NULL), -1);
	cr_assert_eq(BIO_write(b, "hello", 5), 5);
	cr_assert_eq(read(sv[1], buf, sizeof(buf)), 5);
	cr_assert_eq(memcmp(buf, "hello", 5), 0);
	/* Nothing to read: a retry, not an error or an end. */
	cr_assert_eq(BIO_read(b, buf, sizeof(buf)), -1);
	cr_assert(BIO_should_retry(b));
	cr_assert(BIO_should_read(b));
	cr_assert_eq(BIO_eof(b), 0);
	cr_assert_eq(write(sv[1], "abc", 3), 3);
	cr_assert_eq(BIO_read(b, buf, sizeof(buf)), 3);
	cr_assert_not(BIO_should_retry(b));
	cr_assert_eq(memcmp(buf, "abc", 3), 0);
	/* The peer's end is an end of file. */
	cr_assert_eq(shutdown(sv[1], SHUT_WR), 0);
	cr_assert_eq(BIO_read(b, buf, sizeof(buf)), 0);
	cr_assert_not(BIO_should_retry(b));
	cr_assert_eq(BIO_eof(b), 1);
	/* A full socket: the write is to be retried. */
	{
		static char big[1 << 16];
		int n;

		while ((n = BIO_write(b, big, sizeof(big))) > 0)
			;
		cr_assert_eq(n, -1);
		cr_assert(BIO_should_retry(b));
		cr_assert(BIO_should_write(b));
	}
	BIO_free(b);
	cr_assert(fd_open(sv[0]), "freeing the BIO closed the socket");
}

/* A TLS bufferevent as the session makes one, in the open state (no
 * handshake is needed to test who frees what). */
static struct bufferevent *
tls_bev(struct event_base *base, SSL_CTX *ctx, SSL **sslp)
{
	SSL *ssl = SSL_new(ctx);
	struct bufferevent *bev;

	cr_assert_not_null(ssl);
	bev = bufferevent_openssl_socket_new(base, sv[0], ssl,
	    BUFFEREVENT_SSL_OPEN, BEV_OPT_CLOSE_ON_FREE);
	cr_assert_not_null(bev);
	*sslp = ssl;
	return bev;
}

Test(tls, released_bufferevent_leaves_socket_and_ssl_to_the_caller)
{
	struct event_base *base = event_base_new();
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	SSL *ssl;
	struct bufferevent *bev;
	char c;

	cr_assert_not_null(base);
	cr_assert_not_null(ctx);
	bev = tls_bev(base, ctx, &ssl);
	cr_assert_eq(tls_bufferevent_release(bev, sv[0]), 0);
	/* libevent finishes freeing from the loop. */
	for (int i = 0; i < 3; i++)
		event_base_loop(base, EVLOOP_NONBLOCK);
	cr_assert(fd_open(sv[0]), "the socket was closed");
	/* The SSL lives on, on the socket, with the caller's reference. */
	cr_assert_eq(BIO_get_fd(SSL_get_rbio(ssl), NULL), -1);
	cr_assert_eq(BIO_write(SSL_get_wbio(ssl), "x", 1), 1);
	cr_assert_eq(read(sv[1], &c, 1), 1);
	cr_assert_eq(c, 'x');
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	event_base_free(base);
}

/* What the hand-over is for: without it, libevent's free closes the
 * socket under the relay. */
Test(tls, plain_free_of_a_tls_bufferevent_closes_the_socket)
{
	struct event_base *base = event_base_new();
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	SSL *ssl;
	struct bufferevent *bev;

	bev = tls_bev(base, ctx, &ssl);
	bufferevent_free(bev);
	for (int i = 0; i < 3; i++)
		event_base_loop(base, EVLOOP_NONBLOCK);
	cr_assert_not(fd_open(sv[0]));
	sv[0] = open("/dev/null", O_RDONLY); /* for teardown's close() */
	SSL_CTX_free(ctx);
	event_base_free(base);
}
