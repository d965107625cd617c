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
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include "backend.h"
#include "log.h"
#include "proxyproto.h"
#include "server.h"
#include "session.h"
#include "tls.h"

static void backend_read_cb(struct bufferevent *bev, void *arg);
static void backend_event_cb(struct bufferevent *bev, short what, void *arg);

/* A PROXY header toward an implicit TLS backend precedes the handshake. */
static bool
backend_tls_after_header(const struct proto_conf *pc)
{
	return pc->backend_tls == BACKEND_TLS_IMPLICIT &&
	    pc->forward_client_address == FORWARD_PROXY;
}

/* The last failure, per thread: only one session runs at a time on one. */
static _Thread_local char backend_why[256];

const char *
backend_error(const struct session *s)
{
	(void)s;
	return backend_why[0] != '\0' ? backend_why : "login dialogue failed";
}

static void
backend_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
backend_fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(backend_why, sizeof(backend_why), fmt, ap);
	va_end(ap);
}

void
backend_close(struct session *s)
{
	if (s->backend != NULL) {
		bufferevent_free(s->backend);
		s->backend = NULL;
	}
}

void
backend_write(struct session *s, const void *data, size_t len)
{
	bufferevent_write(s->backend, data, len);
}

void
backend_printf(struct session *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	evbuffer_add_vprintf(bufferevent_get_output(s->backend), fmt, ap);
	va_end(ap);
}

/*
 * Puts TLS on the backend socket: after the backend's STARTTLS answer, or
 * for implicit TLS once a PROXY header has gone out in the clear.
 */
static int
backend_start_tls(struct session *s)
{
	evutil_socket_t fd = bufferevent_getfd(s->backend);
	SSL *ssl;

	/* Detached first: the cleartext bufferevent must neither close the
	 * socket nor, freed later by libevent, unregister it. */
	bufferevent_setfd(s->backend, -1);
	bufferevent_free(s->backend);
	s->backend = NULL;
	if ((ssl = tls_backend_new(s->pc)) == NULL) {
		close(fd);
		backend_fail("cannot create a TLS session");
		return -1;
	}
	s->backend = bufferevent_openssl_socket_new(s->worker->base, fd, ssl,
	    BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
	if (s->backend == NULL) {
		backend_fail("cannot start TLS");
		return -1;
	}
	/* A peer that closes without close_notify ends the stream: IMAP
	 * and POP3 frame their own data, so this is no truncation. */
	bufferevent_openssl_set_allow_dirty_shutdown(s->backend, 1);
	bufferevent_setcb(s->backend, backend_read_cb, NULL, backend_event_cb,
	    s);
	bufferevent_enable(s->backend, EV_READ | EV_WRITE);
	return 0;
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
		if (backend_why[0] == '\0')
			backend_fail("unexpected answer during login");
		session_backend_done(s, r);
		return;
	case BACKEND_LOGGED_IN:
	case BACKEND_AUTH_FAILED:
		session_backend_done(s, r);
		return;
	}
}

/* The PROXY header has left: implicit TLS starts now. */
static void
backend_header_sent_cb(struct bufferevent *bev, void *arg)
{
	struct session *s = arg;

	(void)bev;
	if (s->state != SESSION_BACKEND)
		return;
	if (backend_start_tls(s) == -1)
		session_backend_done(s, BACKEND_BROKEN);
}

static void
backend_read_cb(struct bufferevent *bev, void *arg)
{
	struct session *s = arg;

	(void)bev;
	if (s->state != SESSION_BACKEND)
		return;
	backend_step(s, s->proto->backend_input(s));
}

static void
backend_tls_error(struct session *s)
{
	SSL *ssl = bufferevent_openssl_get_ssl(s->backend);
	unsigned long e = bufferevent_get_openssl_error(s->backend);
	long v = ssl != NULL ? SSL_get_verify_result(ssl) : X509_V_OK;
	char buf[160];

	if (v != X509_V_OK)
		backend_fail("TLS certificate verification failed: %s",
		    X509_verify_cert_error_string(v));
	else if (e != 0 && ERR_GET_LIB(e) != 0) {
		ERR_error_string_n(e, buf, sizeof(buf));
		backend_fail("TLS failed: %s", buf);
	} else if (e != 0)
		/* No library: a system call failed, the peer went away. */
		backend_fail("TLS failed: the connection was closed or reset "
			     "during the handshake (is the port a TLS port?)");
	while (bufferevent_get_openssl_error(s->backend) != 0)
		;
}

static void
backend_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct session *s = arg;
	SSL *ssl;

	(void)bev;
	if (s->state != SESSION_BACKEND)
		return;
	if (what & BEV_EVENT_CONNECTED) {
		ssl = bufferevent_openssl_get_ssl(s->backend);
		/* TCP is up; TLS follows once the PROXY header is out. */
		if (ssl == NULL && backend_tls_after_header(s->pc))
			return;
		if (ssl != NULL && s->pc->backend_tls == BACKEND_TLS_STARTTLS) {
			log_debug("%s: backend STARTTLS %s", session_tag(s),
			    tls_version(ssl));
			backend_step(s, s->proto->backend_tls_done(s));
			return;
		}
		if (ssl != NULL)
			log_debug("%s: backend TLS %s", session_tag(s),
			    tls_version(ssl));
		s->proto->backend_start(s);
		return;
	}
	if (what & BEV_EVENT_ERROR) {
		int err = EVUTIL_SOCKET_ERROR();

		if (bufferevent_openssl_get_ssl(s->backend) != NULL)
			backend_tls_error(s);
		if (backend_why[0] == '\0')
			backend_fail("connection failed: %s",
			    err != 0 ? strerror(err) : "error");
	} else if (what & BEV_EVENT_EOF)
		backend_fail("the backend closed the connection during login");
	session_backend_done(s, BACKEND_BROKEN);
}

/* After the logout: what the backend says (a BYE, +OK) is not wanted. */
static void
backend_logout_read_cb(struct bufferevent *bev, void *arg)
{
	struct evbuffer *in = bufferevent_get_input(bev);

	(void)arg;
	evbuffer_drain(in, evbuffer_get_length(in));
}

static void
backend_logout_event_cb(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		session_backend_logged_out(arg);
}

void
backend_logout(struct session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->backend);

	/* Whatever followed the login's OK (capabilities, say). */
	evbuffer_drain(in, evbuffer_get_length(in));
	s->proto->backend_logout(s);
	bufferevent_setcb(s->backend, backend_logout_read_cb, NULL,
	    backend_logout_event_cb, s);
	bufferevent_enable(s->backend, EV_READ | EV_WRITE);
}

/* Queues a PROXY v2 header naming the client; -1 if it cannot be built. */
static int
backend_proxy_header(struct session *s)
{
	uint8_t hdr[PROXYPROTO_V2_BUILD_MAX];
	int n;

	n = proxyproto_build_v2((struct sockaddr *)&s->peer.sa,
	    (struct sockaddr *)&s->local.sa, hdr, sizeof(hdr));
	if (n == -1) {
		backend_fail("cannot write a PROXY header for %s",
		    s->peer.str);
		return -1;
	}
	bufferevent_write(s->backend, hdr, (size_t)n);
	return 0;
}

int
backend_connect(struct session *s)
{
	const struct proto_conf *pc = s->pc;
	struct event_base *base = s->worker->base;
	int fd, on = 1;

	backend_why[0] = '\0';
	fd = socket(pc->backend_addr.ss_family,
	    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		backend_fail("socket: %s", strerror(errno));
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
	if (pc->backend_tls == BACKEND_TLS_IMPLICIT &&
	    !backend_tls_after_header(pc)) {
		SSL *ssl = tls_backend_new(pc);

		if (ssl == NULL) {
			close(fd);
			backend_fail("cannot create a TLS session");
			return -1;
		}
		s->backend = bufferevent_openssl_socket_new(base, fd, ssl,
		    BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
		if (s->backend == NULL) {
			close(fd);
			backend_fail("cannot start TLS");
			return -1;
		}
		bufferevent_openssl_set_allow_dirty_shutdown(s->backend, 1);
	} else {
		s->backend = bufferevent_socket_new(base, fd,
		    BEV_OPT_CLOSE_ON_FREE);
		if (s->backend == NULL) {
			close(fd);
			backend_fail("out of memory");
			return -1;
		}
	}
	bufferevent_setcb(s->backend, backend_read_cb,
	    backend_tls_after_header(pc) ? backend_header_sent_cb : NULL,
	    backend_event_cb, s);
	bufferevent_enable(s->backend, EV_READ | EV_WRITE);
	/* The header is the first thing on the wire, sent once connected. */
	if (pc->forward_client_address == FORWARD_PROXY &&
	    backend_proxy_header(s) == -1) {
		backend_close(s);
		return -1;
	}
	if (bufferevent_socket_connect(s->backend,
	    (struct sockaddr *)&pc->backend_addr, pc->backend_addrlen) == -1) {
		backend_fail("connect: %s", strerror(errno));
		backend_close(s);
		return -1;
	}
	return 0;
}
