/*
 * conn: the plain client socket's reads and writes on one edge-triggered
 * event, on a socket pair: input pipelined before reading starts, input
 * that comes byte by byte, an edge that comes while reading is paused,
 * the end of the stream after data, answers the peer does not read
 * (queued, then flushed in order), a peer that is gone, the hand-over
 * of the registered event, connects (what was queued goes first; a
 * refusal and a timeout reported from the loop), and TLS on the conn.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "conn.h"
#include "testcert.h"
#include "tls.h"

static struct event_base *base;
static int sv[2]; /* sv[0]: the conn's; sv[1]: the peer's */
static struct conn *c;

/* What the callbacks saw. */
static char got[1 << 18];
static size_t gotlen;
static int reads, eofs, errors, flushes;
static bool pause_on_read;

static void
setup(void)
{
	cr_assert_not_null(base = event_base_new());
	if (!conn_plain_supported(base))
		cr_skip_test("no edge-triggered events here");
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	cr_assert_eq(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
	gotlen = 0;
	reads = eofs = errors = flushes = 0;
	pause_on_read = false;
}

static void
teardown(void)
{
	if (c != NULL)
		conn_free(c);
	c = NULL;
	close(sv[1]);
	event_base_free(base);
}

static void
read_cb(struct conn *cn, void *arg)
{
	struct evbuffer *in = conn_input(cn);
	size_t n = evbuffer_get_length(in);

	(void)arg;
	reads++;
	cr_assert_leq(gotlen + n, sizeof(got));
	evbuffer_remove(in, got + gotlen, n);
	gotlen += n;
	if (pause_on_read)
		conn_disable(cn, EV_READ);
}

static void
event_cb(struct conn *cn, short what, void *arg)
{
	(void)cn;
	(void)arg;
	if (what & CONN_EOF)
		eofs++;
	if (what & CONN_ERROR)
		errors++;
}

static void
flushed_cb(struct conn *cn, void *arg)
{
	(void)cn;
	(void)arg;
	flushes++;
}

/* Runs the loop until nothing is left to do now. */
static void
run(void)
{
	for (int i = 0; i < 8; i++)
		event_base_loop(base, EVLOOP_NONBLOCK);
}

static void
start(void)
{
	c = conn_socket_new(base, sv[0]);
	cr_assert_not_null(c);
	conn_setcb(c, read_cb, event_cb, NULL);
}

static void
peer_send(const char *s)
{
	cr_assert_eq(send(sv[1], s, strlen(s), 0), (ssize_t)strlen(s));
}

TestSuite(conn, .init = setup, .fini = teardown);

Test(conn, reads_commands_pipelined_before_reading_starts)
{
	const char *cmds = "a1 CAPABILITY\r\na2 NOOP\r\na3 LOGOUT\r\n";

	peer_send(cmds);
	start();
	run();
	cr_assert_eq(reads, 0, "read before conn_enable(EV_READ)");
	conn_enable(c, EV_READ);
	run();
	cr_assert_eq(gotlen, strlen(cmds));
	cr_assert(memcmp(got, cmds, strlen(cmds)) == 0);
}

Test(conn, reads_a_command_sent_byte_by_byte)
{
	const char *cmd = "a1 LOGIN user pass\r\n";

	start();
	conn_enable(c, EV_READ);
	run();
	for (const char *p = cmd; *p != '\0'; p++) {
		cr_assert_eq(send(sv[1], p, 1, 0), 1);
		run();
		cr_assert_eq(gotlen, (size_t)(p - cmd) + 1, "byte %zu not read",
		    (size_t)(p - cmd));
	}
	cr_assert(memcmp(got, cmd, strlen(cmd)) == 0);
}

Test(conn, an_edge_while_paused_is_read_on_resume)
{
	start();
	conn_enable(c, EV_READ);
	pause_on_read = true;
	peer_send("a1 LOGIN u p\r\n");
	run();
	cr_assert_eq(reads, 1);
	/* Reading is paused (the backend login runs): the next command's
	 * edge comes and goes unread. */
	peer_send("a2 SELECT INBOX\r\n");
	run();
	cr_assert_eq(reads, 1);
	cr_assert_eq(gotlen, 14);
	/* No new edge comes: the one seen is remembered. */
	pause_on_read = false;
	conn_enable(c, EV_READ);
	run();
	cr_assert_eq(reads, 2);
	cr_assert_eq(gotlen, 31);
	cr_assert(memcmp(got + 14, "a2 SELECT INBOX\r\n", 17) == 0);
}

Test(conn, data_then_the_end_of_the_stream)
{
	start();
	conn_enable(c, EV_READ);
	peer_send("QUIT\r\n");
	cr_assert_eq(shutdown(sv[1], SHUT_WR), 0);
	run();
	cr_assert_eq(gotlen, 6);
	cr_assert_eq(eofs, 1, "the end after the data was not reported");
	cr_assert_eq(errors, 0);
}

Test(conn, a_trigger_reads_what_is_buffered)
{
	start();
	conn_enable(c, EV_READ);
	pause_on_read = true;
	peer_send("x\r\n");
	run();
	cr_assert_eq(reads, 1);
	/* Put back, as a protocol that waits for more would leave it. */
	evbuffer_add(conn_input(c), "y", 1);
	pause_on_read = false;
	conn_enable(c, EV_READ);
	run();
	cr_assert_eq(reads, 1, "a read callback without new bytes");
	conn_trigger_read(c);
	cr_assert_eq(reads, 1, "the trigger called back from inside");
	run();
	cr_assert_eq(reads, 2);
	cr_assert_eq(got[gotlen - 1], 'y');
}

/*
 * The peer writes commands and does not read the answers: they queue
 * once the socket is full, reading goes on meanwhile, and everything
 * arrives in order once the peer reads.
 */
Test(conn, answers_to_a_peer_that_does_not_read_queue_and_flush_in_order)
{
	static char answer[100];
	size_t total = 0, rcvd = 0;
	unsigned char *all;
	int sndbuf = 4096;

	cr_assert_eq(
	    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)),
	    0);
	start();
	conn_enable(c, EV_READ);
	for (int i = 0; i < 4000; i++) {
		int n = snprintf(answer, sizeof(answer),
		    "* %06d an answer the peer does not read yet\r\n", i);

		conn_write(c, answer, (size_t)n);
		total += (size_t)n;
		if (i % 500 == 0) {
			peer_send("a NOOP\r\n");
			run();
		}
	}
	cr_assert_gt(conn_output_length(c), 0, "the kernel took it all");
	cr_assert_eq(gotlen, 8 * 8, "reads stopped while answers queued");
	cr_assert_eq(errors, 0);
	conn_flush(c, flushed_cb);
	cr_assert_eq(flushes, 0, "the flush called back from inside");
	all = malloc(total);
	cr_assert_not_null(all);
	while (rcvd < total) {
		ssize_t n = recv(sv[1], all + rcvd, total - rcvd, MSG_DONTWAIT);

		if (n > 0)
			rcvd += (size_t)n;
		else
			cr_assert(n == -1 && errno == EAGAIN);
		run();
	}
	run();
	cr_assert_eq(flushes, 1);
	cr_assert_eq(conn_output_length(c), 0);
	for (int i = 0, off = 0; i < 4000; i++) {
		int n = snprintf(answer, sizeof(answer),
		    "* %06d an answer the peer does not read yet\r\n", i);

		cr_assert(memcmp(all + off, answer, (size_t)n) == 0,
		    "answer %d out of order", i);
		off += n;
	}
	free(all);
}

Test(conn, a_flush_of_nothing_calls_back_from_the_loop)
{
	start();
	conn_write(c, "+OK\r\n", 5);
	conn_flush(c, flushed_cb);
	cr_assert_eq(flushes, 0);
	run();
	cr_assert_eq(flushes, 1);
}

Test(conn, writing_to_a_gone_peer_is_an_error_not_a_signal)
{
	start();
	conn_enable(c, EV_READ);
	close(sv[1]);
	sv[1] = open("/dev/null", O_RDONLY);
	/* The first write may still be taken; a later one fails (EPIPE,
	 * which MSG_NOSIGNAL keeps from being SIGPIPE). */
	conn_write(c, "* BYE\r\n", 7);
	conn_write(c, "* BYE\r\n", 7);
	run();
	cr_assert_eq(eofs + errors, 1, "the end was not reported once");
}

static int handed;
static short handed_what;

static void
io_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)arg;
	handed++;
	handed_what |= what;
}

Test(conn, the_relay_takes_over_the_registered_event)
{
	struct event *ev;
	bool readable, closed;
	char buf[16];

	start();
	conn_enable(c, EV_READ);
	pause_on_read = true;
	peer_send("a1 LOGIN u p\r\n");
	run();
	peer_send("a2 NOOP\r\n");
	run();
	handed = 0;
	handed_what = 0;
	ev = conn_handover(c, io_cb, NULL, &readable, &closed);
	cr_assert_not_null(ev);
	cr_assert(readable, "the edge seen during the login was lost");
	cr_assert_not(closed);
	cr_assert(event_pending(ev, EV_READ | EV_WRITE, NULL),
	    "the event is no longer registered");
	/* Its edges go to the new owner, which reads the socket itself. */
	cr_assert_eq(recv(sv[0], buf, sizeof(buf), 0), 9);
	peer_send("a3 NOOP\r\n");
	run();
	cr_assert_geq(handed, 1);
	cr_assert(handed_what & EV_READ);
	cr_assert_eq(reads, 1, "the conn read after the hand-over");
}

/* A listening socket on 127.0.0.1 with room for backlog pending
 * connections; its address in *sin. */
static int
listener(struct sockaddr_in *sin, int backlog)
{
	socklen_t len = sizeof(*sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	cr_assert_neq(fd, -1);
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(fd, (struct sockaddr *)sin, sizeof(*sin)), 0);
	cr_assert_eq(listen(fd, backlog), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)sin, &len), 0);
	return fd;
}

static int connects, timeouts;
static int connect_errno;

static void
connect_event_cb(struct conn *cn, short what, void *arg)
{
	(void)cn;
	(void)arg;
	if (what & CONN_CONNECTED)
		connects++;
	if (what & CONN_ERROR) {
		errors++;
		connect_errno = errno;
	}
	if (what & CONN_TIMEOUT)
		timeouts++;
	if (what & CONN_EOF)
		eofs++;
}

static int
tcp_socket(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);

	cr_assert_neq(fd, -1);
	return fd;
}

/* Runs the loop every 10 ms, at most n times, while cond holds. */
#define RUN_WHILE(n, cond)                                                     \
	for (int turn_ = 0; turn_ < (n) && (cond); turn_++) {                  \
		run();                                                         \
		usleep(10000);                                                 \
	}

/* Fills the accept queue of the listener at sin (backlog 0) with the
 * four connects of fill, so that a further connect's SYN is dropped. */
static void
fill_accept_queue(const struct sockaddr_in *sin, int fill[4])
{
	for (int i = 0; i < 4; i++) {
		fill[i] = tcp_socket();
		(void)connect(fill[i], (const struct sockaddr *)sin,
		    sizeof(*sin));
	}
	usleep(100000);
}

Test(conn, a_connect_sends_what_was_queued_then_reads)
{
	struct sockaddr_in sin;
	int l = listener(&sin, 4), peer;
	char buf[64];

	connects = timeouts = 0;
	c = conn_connect_new(base, tcp_socket(), (struct sockaddr *)&sin,
	    sizeof(sin), 5000);
	cr_assert_not_null(c);
	conn_setcb(c, read_cb, connect_event_cb, NULL);
	conn_enable(c, EV_READ);
	/* A PROXY header goes out first, once connected. */
	conn_write(c, "HEADER\r\n", 8);
	cr_assert_eq(connects, 0, "connected from inside the call");
	peer = accept(l, NULL, NULL);
	cr_assert_neq(peer, -1);
	RUN_WHILE(50, connects == 0);
	cr_assert_eq(connects, 1);
	cr_assert_eq(errors, 0);
	run();
	cr_assert_eq(recv(peer, buf, sizeof(buf), 0), 8);
	cr_assert(memcmp(buf, "HEADER\r\n", 8) == 0);
	cr_assert_eq(send(peer, "* OK\r\n", 6, 0), 6);
	RUN_WHILE(50, gotlen < 6);
	cr_assert_eq(gotlen, 6);
	cr_assert_eq(timeouts, 0,
	    "the connect's timer fired after the connect");
	close(peer);
	close(l);
}

Test(conn, a_greeting_that_comes_with_the_connect_is_read_once_reading_starts)
{
	struct sockaddr_in sin;
	int l = listener(&sin, 4), peer;

	connects = timeouts = 0;
	c = conn_connect_new(base, tcp_socket(), (struct sockaddr *)&sin,
	    sizeof(sin), 5000);
	cr_assert_not_null(c);
	conn_setcb(c, read_cb, connect_event_cb, NULL);
	/* The server answers before the loop has seen the connect's edge:
	 * the edge says readable and writable at once. */
	peer = accept(l, NULL, NULL);
	cr_assert_neq(peer, -1);
	cr_assert_eq(send(peer, "* OK hi\r\n", 9, 0), 9);
	usleep(50000);
	RUN_WHILE(50, connects == 0);
	cr_assert_eq(connects, 1);
	cr_assert_eq(errors, 0);
	run();
	cr_assert_eq(gotlen, 0, "read before reading was enabled");
	conn_enable(c, EV_READ);
	RUN_WHILE(50, gotlen < 9);
	cr_assert_eq(gotlen, 9);
	cr_assert(memcmp(got, "* OK hi\r\n", 9) == 0);
	/* The end after it is seen as well. */
	close(peer);
	RUN_WHILE(50, eofs == 0);
	cr_assert_eq(eofs, 1);
	close(l);
}

Test(conn, a_refused_connect_is_an_error_from_the_loop)
{
	struct sockaddr_in sin;
	int l = listener(&sin, 1);

	/* The port is free again: nothing listens there. */
	close(l);
	connects = 0;
	connect_errno = 0;
	c = conn_connect_new(base, tcp_socket(), (struct sockaddr *)&sin,
	    sizeof(sin), 5000);
	cr_assert_not_null(c);
	conn_setcb(c, read_cb, connect_event_cb, NULL);
	conn_write(c, "HEADER\r\n", 8);
	cr_assert_eq(errors, 0, "reported from inside the call");
	RUN_WHILE(50, errors == 0);
	cr_assert_eq(errors, 1);
	cr_assert_eq(connects, 0);
	cr_assert_eq(connect_errno, ECONNREFUSED, "errno %d", connect_errno);
}

Test(conn, a_connect_refused_after_it_started_is_an_error)
{
	struct sockaddr_in sin;
	int l = listener(&sin, 0), fill[4];

	/* The SYN is dropped by a full accept queue, the connect waits; the
	 * listener closes, and the SYN's retransmission (after about a
	 * second) gets a reset: the refusal comes as an error edge, not at
	 * connect(). */
	fill_accept_queue(&sin, fill);
	connects = timeouts = 0;
	connect_errno = 0;
	c = conn_connect_new(base, tcp_socket(), (struct sockaddr *)&sin,
	    sizeof(sin), 10000);
	cr_assert_not_null(c);
	conn_setcb(c, read_cb, connect_event_cb, NULL);
	run();
	cr_assert_eq(connects + errors, 0, "the connect did not wait");
	close(l);
	RUN_WHILE(500, errors == 0 && connects == 0);
	cr_assert_eq(connects, 0, "a refused connect was reported as made");
	cr_assert_eq(errors, 1);
	cr_assert_eq(connect_errno, ECONNREFUSED, "errno %d", connect_errno);
	cr_assert_eq(timeouts, 0);
	for (int i = 0; i < 4; i++)
		close(fill[i]);
}

Test(conn, a_connect_that_gets_no_answer_times_out)
{
	struct sockaddr_in sin;
	int l = listener(&sin, 0), fill[4];

	/* A full accept queue drops new SYNs: the connect hangs. */
	fill_accept_queue(&sin, fill);
	connects = timeouts = 0;
	c = conn_connect_new(base, tcp_socket(), (struct sockaddr *)&sin,
	    sizeof(sin), 200);
	cr_assert_not_null(c);
	conn_setcb(c, read_cb, connect_event_cb, NULL);
	RUN_WHILE(100, timeouts == 0 && connects == 0);
	cr_assert_eq(connects, 0, "connected past a full accept queue");
	cr_assert_eq(timeouts, 1, "no timeout");
	cr_assert_eq(errors, 0);
	for (int i = 0; i < 4; i++)
		close(fill[i]);
	close(l);
}

/* --- TLS on the conn ------------------------------------------------------ */

/*
 * The conn's own TLS (conn_tls_start()) against an SSL the test drives on
 * the other end of the pair, both ways round, on the plain kind and on
 * the bufferevent kind; a key and certificate made in memory.
 */
static SSL_CTX *sctx, *cctx;
static SSL *peer;
static int connected;

/* libevent's allocator, made to fail on demand (the bufferevent kind's
 * failure to start TLS); Criterion runs each test in a process of its
 * own. */
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

static SSL_CTX *
server_ctx(void)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	X509 *x;

	cr_assert_not_null(k);
	cr_assert_not_null(ctx);
	x = testcert_new(k);
	testcert_sign(x, k);
	cr_assert_eq(SSL_CTX_use_certificate(ctx, x), 1);
	cr_assert_eq(SSL_CTX_use_PrivateKey(ctx, k), 1);
	X509_free(x);
	EVP_PKEY_free(k);
	return ctx;
}

/* The modes postern's contexts set (tls.c), which the conn relies on,
 * and read-ahead. */
static void
ctx_modes(SSL_CTX *ctx)
{
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS |
				  SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
				  SSL_MODE_ENABLE_PARTIAL_WRITE);
	SSL_CTX_set_read_ahead(ctx, 1);
}

static void
tls_setup_on(struct event_base *b)
{
	tls_init();
	base = b;
	cr_assert_not_null(base);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv),
	    0);
	gotlen = 0;
	reads = eofs = errors = flushes = connected = 0;
	pause_on_read = false;
	sctx = server_ctx();
	cr_assert_not_null(cctx = SSL_CTX_new(TLS_client_method()));
	ctx_modes(sctx);
	ctx_modes(cctx);
	peer = NULL;
}

static void
tls_setup(void)
{
	tls_setup_on(event_base_new());
	if (!conn_plain_supported(base))
		cr_skip_test("no edge-triggered events here");
}

/* The bufferevent kind: an event loop without epoll. */
static void
bev_setup(void)
{
	struct event_config *cfg;

	event_set_mem_functions(test_malloc, test_realloc, free);
	cr_assert_not_null(cfg = event_config_new());
	event_config_avoid_method(cfg, "epoll");
	tls_setup_on(event_base_new_with_config(cfg));
	event_config_free(cfg);
	cr_assert_not(conn_plain_supported(base));
}

static void
tls_teardown(void)
{
	if (c != NULL)
		conn_free(c);
	c = NULL;
	SSL_free(peer);
	close(sv[1]);
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
	event_base_free(base);
}

static void
tls_event_cb(struct conn *cn, short what, void *arg)
{
	(void)cn;
	(void)arg;
	if (what & CONN_CONNECTED)
		connected++;
	if (what & CONN_EOF)
		eofs++;
	if (what & CONN_ERROR)
		errors++;
}

/* The test's end of the pair, a client (or a server) of the conn. */
static void
peer_start(bool server)
{
	cr_assert_not_null(peer = SSL_new(server ? sctx : cctx));
	cr_assert_eq(SSL_set_fd(peer, sv[1]), 1);
	if (server)
		SSL_set_accept_state(peer);
	else
		SSL_set_connect_state(peer);
}

/* Both ends' handshakes, turn by turn, until both are done. */
static void
handshake(void)
{
	int done = 0;

	for (int i = 0; i < 100 && !(done == 1 && connected == 1); i++) {
		if (done != 1)
			done = SSL_do_handshake(peer);
		run();
	}
	cr_assert_eq(done, 1, "the peer's handshake did not end");
	cr_assert_eq(connected, 1, "the conn's handshake did not end");
	cr_assert_eq(errors, 0);
}

/* A conn on sv[0] under TLS, postern's side being server. */
static void
tls_start(bool server)
{
	c = conn_socket_new(base, sv[0]);
	cr_assert_not_null(c);
	conn_setcb(c, read_cb, tls_event_cb, NULL);
	cr_assert_eq(conn_tls_start(c, SSL_new(server ? sctx : cctx), server),
	    0);
	conn_enable(c, EV_READ | EV_WRITE);
	peer_start(!server);
}

/* What the peer reads now, appended to buf (of room cap) at *len. */
static void
peer_read(char *buf, size_t cap, size_t *len)
{
	int n;

	while (*len < cap &&
	       (n = SSL_read(peer, buf + *len, (int)(cap - *len))) > 0)
		*len += (size_t)n;
}

static void
peer_write(const char *s)
{
	cr_assert_eq(SSL_write(peer, s, (int)strlen(s)), (int)strlen(s));
}

/* Lines both ways once the handshake is done, postern being either side. */
static void
lines_both_ways(void)
{
	char buf[64];
	size_t len = 0;

	peer_write("a1 NOOP\r\n");
	run();
	cr_assert_eq(gotlen, 9);
	cr_assert_eq(memcmp(got, "a1 NOOP\r\n", 9), 0);
	conn_write(c, "a1 OK\r\n", 7);
	if (conn_bufferevent(c) == NULL)
		cr_assert_eq(conn_output_length(c), 0, "not sent at once");
	run();
	peer_read(buf, sizeof(buf), &len);
	cr_assert_eq(len, 7);
	cr_assert_eq(memcmp(buf, "a1 OK\r\n", 7), 0);
}

TestSuite(tls, .init = tls_setup, .fini = tls_teardown);

Test(tls, a_server_handshake_then_lines_both_ways)
{
	tls_start(true);
	handshake();
	cr_assert_not_null(conn_ssl(c));
	lines_both_ways();
}

Test(tls, a_client_handshake_then_lines_both_ways)
{
	tls_start(false);
	handshake();
	lines_both_ways();
}

Test(tls, what_is_written_during_the_handshake_goes_out_after_it)
{
	char buf[64];
	size_t len = 0;

	tls_start(true);
	conn_write(c, "* OK hello\r\n", 12);
	cr_assert_eq(conn_output_length(c), 12);
	handshake();
	peer_read(buf, sizeof(buf), &len);
	cr_assert_eq(len, 12);
	cr_assert_eq(memcmp(buf, "* OK hello\r\n", 12), 0);
}

Test(tls, starttls_on_the_same_conn)
{
	char buf[8];

	start();
	conn_enable(c, EV_READ);
	peer_send("a STARTTLS\r\n");
	run();
	cr_assert_eq(gotlen, 12);
	conn_write(c, "a OK go\r\n", 9);
	conn_setcb(c, NULL, tls_event_cb, NULL);
	conn_flush(c, flushed_cb);
	run();
	cr_assert_eq(flushes, 1);
	cr_assert_eq(recv(sv[1], buf, sizeof(buf), 0), 8);
	cr_assert_eq(recv(sv[1], buf, sizeof(buf), 0), 1);
	cr_assert_eq(conn_tls_start(c, SSL_new(sctx), true), 0);
	conn_setcb(c, read_cb, tls_event_cb, NULL);
	conn_enable(c, EV_READ);
	gotlen = 0;
	peer_start(false);
	handshake();
	lines_both_ways();
}

Test(tls, a_large_answer_to_a_peer_that_does_not_read_goes_out_whole)
{
	static char big[1 << 20], back[1 << 20];
	size_t len = 0;

	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char)('a' + i % 23);
	tls_start(true);
	handshake();
	/* More than the socket holds: the rest is queued, and the write
	 * that said WANT_WRITE is retried from the queue's front. */
	conn_write(c, big, sizeof(big));
	cr_assert_gt(conn_output_length(c), 0);
	conn_flush(c, flushed_cb);
	for (int i = 0; i < 10000 && len < sizeof(back); i++) {
		peer_read(back, sizeof(back), &len);
		run();
	}
	cr_assert_eq(errors, 0);
	cr_assert_eq(len, sizeof(big));
	cr_assert_eq(memcmp(back, big, sizeof(big)), 0);
	cr_assert_eq(flushes, 1);
	cr_assert_eq(conn_output_length(c), 0);
}

Test(tls, a_large_command_is_read_whole)
{
	static char big[60000]; /* three records and more; got holds it */
	size_t off = 0;

	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char)('A' + i % 19);
	tls_start(true);
	handshake();
	for (int i = 0; i < 10000 && gotlen < sizeof(big); i++) {
		int n;

		if (off < sizeof(big) && (n = SSL_write(peer, big + off,
					      (int)(sizeof(big) - off))) > 0)
			off += (size_t)n;
		run();
	}
	cr_assert_eq(gotlen, sizeof(big));
	cr_assert_eq(memcmp(got, big, sizeof(big)), 0);
}

Test(tls, what_was_read_ahead_while_paused_is_read_on_resume)
{
	static char big[150000];
	size_t off = 0;
	int n;

	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char)('a' + i % 17);
	tls_start(true);
	handshake();
	while (off < sizeof(big) &&
	       (n = SSL_write(peer, big + off, (int)(sizeof(big) - off))) > 0)
		off += (size_t)n;
	cr_assert_eq(off, sizeof(big), "the socket pair took less");
	/* One callback reads a budget's worth, and reading pauses there,
	 * with records in the socket or in OpenSSL's read-ahead. */
	pause_on_read = true;
	run();
	cr_assert_eq(reads, 1);
	cr_assert_lt(gotlen, sizeof(big));
	pause_on_read = false;
	/* No edge comes for bytes already there: the resume reads them. */
	conn_enable(c, EV_READ);
	run();
	cr_assert_eq(gotlen, sizeof(big));
	cr_assert_eq(memcmp(got, big, sizeof(big)), 0);
}

Test(tls, bytes_that_are_no_client_hello_fail_with_a_reason)
{
	unsigned long e;

	tls_start(true);
	peer_send("GET / HTTP/1.0\r\n\r\n");
	run();
	cr_assert_eq(errors, 1);
	cr_assert_eq(connected, 0);
	e = conn_ssl_error(c);
	cr_assert_eq(ERR_GET_LIB(e), ERR_LIB_SSL, "error %lx", e);
}

Test(tls, an_end_in_the_middle_of_the_handshake_is_an_error)
{
	tls_start(true);
	cr_assert_eq(shutdown(sv[1], SHUT_WR), 0);
	run();
	cr_assert_eq(errors, 1);
	cr_assert_eq(eofs, 0);
	cr_assert_eq(connected, 0);
	cr_assert_neq(conn_ssl_error(c), 0);
}

Test(tls, the_peer_closing_after_the_handshake_is_the_end)
{
	tls_start(true);
	handshake();
	peer_write("last\r\n");
	/* No close_notify: IMAP and POP3 frame their own data. */
	cr_assert_eq(shutdown(sv[1], SHUT_WR), 0);
	run();
	cr_assert_eq(gotlen, 6);
	cr_assert_eq(eofs, 1);
	cr_assert_eq(errors, 0);
}

Test(tls, a_close_notify_is_the_end)
{
	tls_start(true);
	handshake();
	cr_assert_geq(SSL_shutdown(peer), 0);
	run();
	cr_assert_eq(eofs, 1);
	cr_assert_eq(errors, 0);
}

Test(tls, the_relay_takes_the_ssl_with_the_event)
{
	struct event *ev;
	bool readable = false, closed = true;

	tls_start(true);
	handshake();
	ev = conn_handover(c, io_cb, NULL, &readable, &closed);
	cr_assert_not_null(ev);
	/* OpenSSL may hold a record no edge announces. */
	cr_assert(readable);
	cr_assert_not(closed);
	cr_assert_not_null(conn_ssl(c));
}

TestSuite(tls_bev, .init = bev_setup, .fini = tls_teardown);

Test(tls_bev, a_server_handshake_then_lines_both_ways)
{
	tls_start(true);
	cr_assert_not_null(conn_bufferevent(c));
	handshake();
	cr_assert_not_null(conn_ssl(c));
	lines_both_ways();
}

Test(tls_bev, a_failed_start_leaves_the_socket_to_the_conn)
{
	c = conn_socket_new(base, sv[0]);
	cr_assert_not_null(c);
	fail_alloc = true;
	cr_assert_eq(conn_tls_start(c, SSL_new(sctx), true), -1);
	fail_alloc = false;
	/* libevent freed the SSL (a leak or a double free shows under the
	 * sanitizers); the conn still has the socket, and closes it. */
	cr_assert(fcntl(sv[0], F_GETFD) != -1, "the socket was closed");
	conn_free(c);
	c = NULL;
	run();
	cr_assert(fcntl(sv[0], F_GETFD) == -1, "the socket leaked");
}
