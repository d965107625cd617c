/*
 * backend: the connection to the backend server and its login dialogue.
 */
#include "config.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include "backend.h"
#include "conn.h"
#include "linefmt.h"
#include "log.h"
#include "proxyproto.h"
#include "worker.h"
#include "session.h"
#include "tls.h"
#include "tls_resume.h"

static void backend_read_cb(struct conn *c, void *arg);
static void backend_event_cb(struct conn *c, short what, void *arg);
static void backend_next(struct session *s);

enum backend_tls
backend_tls_mode(const struct session *s)
{
	return s->route.backend != NULL ? s->route.backend->tls :
					  s->pc->backend_tls;
}

const struct backend_addr *
backend_current(const struct session *s)
{
	const struct backend_pool *pool;

	if (s->route.backend == NULL)
		return NULL;
	pool = &s->route.backend->pool[s->proto->id];
	return s->backend_at < pool->n ? &pool->v[s->backend_at] : NULL;
}

void
backend_addr_str(const struct backend_addr *a, char *buf, size_t len)
{
	snprintf(buf, len,
	    strchr(a->host, ':') ? "[%.256s]:%.16s" : "%.256s:%.16s", a->host,
	    a->port);
}

bool
backend_acquire(struct session *s)
{
	struct backend *b = (struct backend *)s->route.backend;
	unsigned n;

	if (s->backend_counted || b->max_connections == 0)
		return true;
	n = atomic_fetch_add_explicit(&b->sessions, 1, memory_order_relaxed);
	if (n >= b->max_connections) {
		atomic_fetch_sub_explicit(&b->sessions, 1,
		    memory_order_relaxed);
		return false;
	}
	s->backend_counted = true;
	return true;
}

void
backend_release(struct session *s)
{
	struct backend *b = (struct backend *)s->route.backend;

	if (!s->backend_counted)
		return;
	s->backend_counted = false;
	atomic_fetch_sub_explicit(&b->sessions, 1, memory_order_relaxed);
}

/* A PROXY header toward an implicit TLS backend precedes the handshake. */
static bool
backend_tls_after_header(const struct session *s)
{
	return backend_tls_mode(s) == BACKEND_TLS_IMPLICIT &&
	       s->pc->forward_client_address == FORWARD_PROXY;
}

/* What backend_error() says when a failure left no words of its own. */
static const char *const backend_failure_text[] = {
    [BACKEND_FAILURE_NONE] = "login dialogue failed",
    [BACKEND_FAILURE_INTERNAL] = "internal error",
    [BACKEND_FAILURE_CONNECT] = "connection failed",
    [BACKEND_FAILURE_TLS] = "TLS failed",
    [BACKEND_FAILURE_TIMEOUT] = "timed out",
    [BACKEND_FAILURE_CLOSED] = "the backend closed the connection during login",
    [BACKEND_FAILURE_PROTOCOL] = "unexpected answer during login",
};

const char *
backend_error(const struct session *s)
{
	if (s->backend_why != NULL)
		return s->backend_why;
	return backend_failure_text[s->backend_failure];
}

void
backend_set_failure(struct session *s, enum backend_failure type,
    const char *fmt, ...)
{
	va_list ap;
	char *why;

	va_start(ap, fmt);
	if (vasprintf(&why, fmt, ap) == -1)
		why = NULL; /* the type's own words serve */
	va_end(ap);
	free(s->backend_why);
	s->backend_why = why;
	s->backend_failure = type;
}

/* Forgets the failure of an earlier login of s. */
static void
backend_clear_failure(struct session *s)
{
	free(s->backend_why);
	s->backend_why = NULL;
	s->backend_failure = BACKEND_FAILURE_NONE;
}

void
backend_close(struct session *s)
{
	if (s->backend != NULL) {
		conn_free(s->backend);
		s->backend = NULL;
	}
}

/*
 * Every line of the login dialogue goes out through the two below; the
 * last one before the backend's verdict carries the credentials, and the
 * throttle counts the backend's own delay from then (throttle_wait()).
 */
void
backend_write(struct session *s, const void *data, size_t len)
{
	clock_gettime(CLOCK_MONOTONIC, &s->backend_sent);
	conn_write(s->backend, data, len);
}

void
backend_printf(struct session *s, const char *fmt, ...)
{
	struct linefmt f;
	va_list ap;
	bool ok;

	clock_gettime(CLOCK_MONOTONIC, &s->backend_sent);
	va_start(ap, fmt);
	ok = linefmt_v(&f, fmt, ap);
	va_end(ap);
	if (!ok)
		return;
	conn_write(s->backend, f.p, f.len);
	/* The line may hold a SASL response: no copy is left behind. */
	linefmt_done(&f, true);
}

/*
 * Puts TLS on the backend socket: after the backend's STARTTLS answer, or
 * for implicit TLS once a PROXY header has gone out in the clear.
 */
static int
backend_start_tls(struct session *s)
{
	SSL *ssl = tls_backend_new(s->route.backend, backend_current(s));

	if (ssl == NULL) {
		backend_set_failure(s, BACKEND_FAILURE_INTERNAL,
		    "cannot create a TLS session");
		return -1;
	}
	/* The conn owns ssl from here on, even if this fails. */
	if (conn_tls_start(s->backend, ssl, false) == -1) {
		backend_set_failure(s, BACKEND_FAILURE_INTERNAL,
		    "cannot start TLS");
		return -1;
	}
	conn_setcb(s->backend, backend_read_cb, backend_event_cb, s);
	conn_enable(s->backend, EV_READ | EV_WRITE);
	return 0;
}

enum backend_split
backend_line_split(const char *buf, size_t len, size_t max, size_t *linelen,
    size_t *eollen)
{
	const char *lf = memchr(buf, '\n', len);
	size_t n;

	if (lf == NULL)
		return len > max ? BACKEND_SPLIT_TOO_LONG : BACKEND_SPLIT_MORE;
	n = (size_t)(lf - buf);
	*eollen = 1;
	if (n > 0 && buf[n - 1] == '\r') {
		n--;
		*eollen = 2;
	}
	*linelen = n;
	return n > max ? BACKEND_SPLIT_TOO_LONG : BACKEND_SPLIT_LINE;
}

void
backend_skip(struct session *s, uint64_t n)
{
	s->backend_skip = n;
}

/* A dialogue that broke off without saying why broke the protocol. */
static enum backend_result
backend_classify(struct session *s, enum backend_result r)
{
	if (r == BACKEND_BROKEN && s->backend_failure == BACKEND_FAILURE_NONE)
		backend_set_failure(s, BACKEND_FAILURE_PROTOCOL,
		    "unexpected answer during login");
	return r;
}

enum backend_result
backend_input(struct session *s, struct evbuffer *in)
{
	size_t max = s->proto->backend_line_max;

	for (;;) {
		size_t have, want, linelen = 0, eollen = 0;
		struct backend_line line;
		enum backend_result r;
		const char *buf;

		if (s->backend_skip > 0) {
			have = evbuffer_get_length(in);
			want = have < s->backend_skip ? have :
							(size_t)s->backend_skip;
			evbuffer_drain(in, want);
			s->backend_skip -= want;
			if (s->backend_skip > 0)
				return BACKEND_MORE;
		}
		/* A line end within max + 2 bytes, or the line is too long:
		 * no more than that is made contiguous. */
		if ((have = evbuffer_get_length(in)) == 0)
			return BACKEND_MORE;
		want = have < max + 2 ? have : max + 2;
		buf = (const char *)evbuffer_pullup(in, (ev_ssize_t)want);
		switch (backend_line_split(buf, want, max, &linelen, &eollen)) {
		case BACKEND_SPLIT_MORE:
			return BACKEND_MORE;
		case BACKEND_SPLIT_TOO_LONG:
			return backend_classify(s, BACKEND_BROKEN);
		case BACKEND_SPLIT_LINE:
			break;
		}
		line.p = buf;
		line.len = linelen;
		line.after = have - (linelen + eollen);
		r = s->proto->backend_line(s, &line);
		evbuffer_drain(in, linelen + eollen);
		if (r != BACKEND_MORE)
			return backend_classify(s, r);
	}
}

/* Acts on what the protocol's login step said. */
static void
backend_step(struct session *s, enum backend_result r)
{
	switch (r) {
	case BACKEND_MORE:
		return;
	case BACKEND_STARTTLS:
		/* The protocol checked that no byte followed the backend's
		 * go-ahead; the rest of the stream belongs to OpenSSL. */
		if (backend_start_tls(s) == -1)
			session_backend_done(s, BACKEND_BROKEN);
		return;
	case BACKEND_BROKEN:
		session_backend_done(s, backend_classify(s, r));
		return;
	case BACKEND_LOGGED_IN:
	case BACKEND_AUTH_FAILED:
	case BACKEND_NO_MECH:
	case BACKEND_PROBED:
		session_backend_done(s, r);
		return;
	}
}

/* The PROXY header has left: implicit TLS starts now. */
static void
backend_header_sent_cb(struct conn *c, void *arg)
{
	struct session *s = arg;

	(void)c;
	if (s->state != SESSION_BACKEND)
		return;
	if (backend_start_tls(s) == -1)
		session_backend_done(s, BACKEND_BROKEN);
}

static void
backend_read_cb(struct conn *c, void *arg)
{
	struct session *s = arg;

	if (s->state != SESSION_BACKEND)
		return;
	backend_step(s, backend_input(s, conn_input(c)));
}

static void
backend_tls_error(struct session *s)
{
	SSL *ssl = conn_ssl(s->backend);
	unsigned long e = conn_ssl_error(s->backend);
	long v = ssl != NULL ? SSL_get_verify_result(ssl) : X509_V_OK;
	char buf[160];

	if (v != X509_V_OK)
		backend_set_failure(s, BACKEND_FAILURE_TLS,
		    "TLS certificate verification failed: %s",
		    X509_verify_cert_error_string(v));
	else if (e != 0 && ERR_GET_LIB(e) != 0) {
		ERR_error_string_n(e, buf, sizeof(buf));
		backend_set_failure(s, BACKEND_FAILURE_TLS, "TLS failed: %s",
		    buf);
	} else if (e != 0)
		/* No library: a system call failed, the peer went away. */
		backend_set_failure(s, BACKEND_FAILURE_TLS,
		    "TLS failed: the connection was closed or reset during "
		    "the handshake (is the port a TLS port?)");
	while (conn_ssl_error(s->backend) != 0)
		;
	if (ssl != NULL)
		tls_resume_handshake_failed(ssl);
}

/*
 * The backend's TLS handshake succeeded: reported to its session (which
 * counts it) and said in the debug log, as a resumption or a full
 * handshake.
 */
static void
backend_tls_up(struct session *s, SSL *ssl, const char *how)
{
	bool resumed = tls_resume_handshake_done(ssl);

	session_backend_tls_up(s, resumed);
	log_debug("%s: backend %s %s, %s", session_tag(s), how,
	    tls_version(ssl), resumed ? "resumed" : "full handshake");
}

static void
backend_event_cb(struct conn *c, short what, void *arg)
{
	struct session *s = arg;
	SSL *ssl;

	(void)c;
	if (s->state != SESSION_BACKEND)
		return;
	if (what & CONN_CONNECTED) {
		ssl = conn_ssl(s->backend);
		if (ssl == NULL) {
			/* TCP is up: the address did its part, and what
			 * fails from here on is not the address's. */
			s->backend_connected = true;
			backend_clear_failure(s);
		}
		/* TLS follows once the PROXY header is out. */
		if (ssl == NULL && backend_tls_after_header(s)) {
			conn_flush(s->backend, backend_header_sent_cb);
			return;
		}
		if (ssl == NULL &&
		    backend_tls_mode(s) == BACKEND_TLS_IMPLICIT) {
			if (backend_start_tls(s) == -1)
				session_backend_done(s, BACKEND_BROKEN);
			return;
		}
		if (ssl != NULL &&
		    backend_tls_mode(s) == BACKEND_TLS_STARTTLS) {
			backend_tls_up(s, ssl, "STARTTLS");
			backend_step(s, s->proto->backend_tls_done(s));
			return;
		}
		if (ssl != NULL)
			backend_tls_up(s, ssl, "TLS");
		s->proto->backend_start(s);
		return;
	}
	if (!s->backend_connected && (what & (CONN_ERROR | CONN_TIMEOUT))) {
		int err = EVUTIL_SOCKET_ERROR();

		if (what & CONN_TIMEOUT)
			backend_set_failure(s, BACKEND_FAILURE_CONNECT,
			    "no connection within connect_timeout (%u ms)",
			    s->route.backend->connect_timeout_ms);
		else
			backend_set_failure(s, BACKEND_FAILURE_CONNECT,
			    "connection failed: %s",
			    err != 0 ? strerror(err) : "error");
		backend_next(s);
		return;
	}
	if (what & CONN_ERROR) {
		int err = EVUTIL_SOCKET_ERROR();

		if (conn_ssl(s->backend) != NULL)
			backend_tls_error(s);
		if (s->backend_failure == BACKEND_FAILURE_NONE)
			backend_set_failure(s, BACKEND_FAILURE_CONNECT,
			    "connection failed: %s",
			    err != 0 ? strerror(err) : "error");
	} else if (what & CONN_EOF)
		backend_set_failure(s, BACKEND_FAILURE_CLOSED,
		    "the backend closed the connection during login");
	session_backend_done(s, BACKEND_BROKEN);
}

/* After the logout: what the backend says (a BYE, +OK) is not wanted. */
static void
backend_logout_read_cb(struct conn *c, void *arg)
{
	struct evbuffer *in = conn_input(c);

	(void)arg;
	evbuffer_drain(in, evbuffer_get_length(in));
}

static void
backend_logout_event_cb(struct conn *c, short what, void *arg)
{
	(void)c;
	if (what & (CONN_EOF | CONN_ERROR))
		session_backend_logged_out(arg);
}

void
backend_logout(struct session *s)
{
	struct evbuffer *in = conn_input(s->backend);

	/* Whatever followed the login's OK (capabilities, say). */
	evbuffer_drain(in, evbuffer_get_length(in));
	s->proto->backend_logout(s);
	conn_setcb(s->backend, backend_logout_read_cb, backend_logout_event_cb,
	    s);
	conn_enable(s->backend, EV_READ | EV_WRITE);
}

/*
 * Queues a PROXY v2 header naming the client (LOCAL for a probe, which
 * has none); -1 if it cannot be built.
 */
static int
backend_proxy_header(struct session *s)
{
	uint8_t hdr[PROXYPROTO_V2_BUILD_MAX];
	int n;

	n = proxyproto_build_v2(s->probe ? NULL :
					   (struct sockaddr *)&s->peer.sa,
	    (struct sockaddr *)&s->local.sa, hdr, sizeof(hdr));
	if (n == -1) {
		backend_set_failure(s, BACKEND_FAILURE_INTERNAL,
		    "cannot write a PROXY header for %s", s->peer.str);
		return -1;
	}
	conn_write(s->backend, hdr, (size_t)n);
	return 0;
}

/* Now, in ms of CLOCK_MONOTONIC: the clock of the marks. */
static uint64_t
backend_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * The address being tried failed to connect: passed over by every
 * session for the backend's down_time.  A dead address fails every
 * session alike, so its warning is limited per address and reason.  As
 * in nginx's upstreams, the only address of a pool is never passed over:
 * there is nothing else to try, and its return is seen at once.
 */
static void
backend_mark_down(struct session *s)
{
	struct backend_addr *a = (struct backend_addr *)backend_current(s);
	const struct backend *b = s->route.backend;
	char addr[300], key[LOG_LIMIT_KEY_MAX];

	if (b->pool[s->proto->id].n < 2)
		return;
	atomic_store_explicit(&a->down_until_ms,
	    backend_now_ms() + b->down_time_ms, memory_order_relaxed);
	backend_addr_str(a, addr, sizeof(addr));
	snprintf(key, sizeof(key), "address down %.40s %.80s: %.60s", b->name,
	    addr, backend_error(s));
	log_limited(LOGLEVEL_WARNING, key,
	    "%s: backend %s address %s: %s; passed over for %u ms",
	    session_tag(s), b->name, addr, backend_error(s), b->down_time_ms);
}

/* Starts connecting to the address being tried; -1 if it cannot start. */
static int
backend_connect_addr(struct session *s)
{
	const struct backend_addr *a = backend_current(s);
	const struct backend *b = s->route.backend;
	struct event_base *base = s->worker->base;
	char addr[300];
	int fd, on = 1;

	s->backend_connected = false;
	if (log_enabled(LOGLEVEL_DEBUG)) {
		backend_addr_str(a, addr, sizeof(addr));
		log_debug("%s: backend %s: connecting to %s", session_tag(s),
		    b->name, addr);
	}
	fd = socket(a->addr.ss_family,
	    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		backend_set_failure(s, BACKEND_FAILURE_INTERNAL, "socket: %s",
		    strerror(errno));
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
	/*
	 * TCP first, TLS (implicit) once it is up, so that an address that
	 * does not answer is told from a TLS handshake that fails.
	 */
	s->backend =
	    conn_connect_new(base, fd, (const struct sockaddr *)&a->addr,
		a->addrlen, b->connect_timeout_ms);
	if (s->backend == NULL) {
		backend_set_failure(s,
		    errno == ENOMEM ? BACKEND_FAILURE_INTERNAL :
				      BACKEND_FAILURE_CONNECT,
		    "connect: %s", strerror(errno));
		close(fd);
		return -1;
	}
	conn_setcb(s->backend, backend_read_cb, backend_event_cb, s);
	conn_enable(s->backend, EV_READ | EV_WRITE);
	/* The header is the first thing on the wire, sent once connected. */
	if (s->pc->forward_client_address == FORWARD_PROXY &&
	    backend_proxy_header(s) == -1) {
		backend_close(s);
		return -1;
	}
	return 0;
}

/*
 * Tries the addresses from s->backend_at on that are not marked down;
 * -1 when none is left, with the last failure recorded.
 */
static int
backend_try(struct session *s)
{
	const struct backend_pool *pool = &s->route.backend->pool[s->proto->id];
	uint64_t now = backend_now_ms();

	for (; s->backend_at < pool->n; s->backend_at++) {
		if (atomic_load_explicit(&pool->v[s->backend_at].down_until_ms,
			memory_order_relaxed) > now)
			continue;
		if (backend_connect_addr(s) == 0)
			return 0;
		if (s->backend_failure == BACKEND_FAILURE_CONNECT)
			backend_mark_down(s);
		else /* postern's own trouble, not the address's */
			return -1;
	}
	/* Nothing tried at all: every address failed a moment ago. */
	if (s->backend_failure == BACKEND_FAILURE_NONE)
		backend_set_failure(s, BACKEND_FAILURE_CONNECT,
		    "every %s address of backend %s is down (each failed "
		    "to connect within its down_time, %u ms)",
		    s->proto->section, s->route.backend->name,
		    s->route.backend->down_time_ms);
	/* The session tells of the backend, not of an address. */
	if (pool->n > 0)
		s->backend_at = pool->n - 1;
	return -1;
}

/* The address being tried could not be reached: on to the next one. */
static void
backend_next(struct session *s)
{
	backend_mark_down(s);
	backend_close(s);
	s->backend_at++;
	if (backend_try(s) == -1)
		session_backend_done(s, BACKEND_BROKEN);
}

int
backend_connect(struct session *s)
{
	backend_clear_failure(s);
	s->backend_skip = 0;
	s->backend_tried = true;
	s->backend_at = 0;
	return backend_try(s);
}
