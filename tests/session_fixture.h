/*
 * A session without sockets, shared by the unit tests of the login steps
 * (test_session.c) and of the backend login dialogues
 * (test_backend_login.c).  Its client and backend are conns over
 * bufferevents on no socket that are never enabled: what postern writes to them
 * stays in their output buffers for the test to read.  Include after Criterion.
 */
#ifndef POSTERN_TESTS_SESSION_FIXTURE_H
#define POSTERN_TESTS_SESSION_FIXTURE_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "conn.h"
#include "netaddr.h"
#include "session.h"

/* libevent keeps the front of an output buffer frozen for its own
 * writer: thawed, so that the test can take what was written. */
static inline struct bufferevent *
fixture_sink(struct event_base *base)
{
	struct bufferevent *bev = bufferevent_socket_new(base, -1, 0);

	cr_assert_not_null(bev);
	bufferevent_disable(bev, EV_READ | EV_WRITE);
	evbuffer_unfreeze(bufferevent_get_output(bev), 1);
	return bev;
}

static inline void
fixture_loopback(struct netaddr *na, uint16_t port)
{
	struct sockaddr_in sin;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	netaddr_set(na, (struct sockaddr *)&sin, sizeof(sin));
}

/* A session of protocol p from 127.0.0.1:40000 to 127.0.0.1:143, with a
 * client and no backend. */
static inline struct session *
fixture_session(const struct proto *p, struct event_base *base,
    const struct proto_conf *pc)
{
	struct session *s = calloc(1, p->session_size);

	cr_assert_not_null(s);
	s->proto = p;
	s->pc = pc;
	s->fd = -1;
	fixture_loopback(&s->peer, 40000);
	fixture_loopback(&s->local, 143);
	s->client = conn_bufferevent_new(fixture_sink(base));
	cr_assert_not_null(s->client);
	return s;
}

static inline void
fixture_session_free(struct session *s)
{
	if (s->proto->free != NULL)
		s->proto->free(s);
	session_login_clear(s);
	conn_free(s->client);
	if (s->backend != NULL)
		conn_free(s->backend);
	free(s->user);
	free(s->backend_why);
	free(s);
}

/* Takes what postern queued on out since the last look and compares it. */
static inline void
fixture_expect_buffer(struct evbuffer *out, const char *want)
{
	size_t n = evbuffer_get_length(out);
	char *got = malloc(n + 1);

	cr_assert_not_null(got);
	evbuffer_remove(out, got, n);
	got[n] = '\0';
	cr_expect_str_eq(got, want);
	free(got);
}

/* fixture_expect_buffer() on the output of the client (a conn) or of the
 * backend (a bufferevent). */
#define fixture_expect_sent(x, want)                                           \
	fixture_expect_buffer(_Generic((x), struct conn *                      \
				       : conn_output, struct bufferevent *     \
				       : bufferevent_get_output)(x),           \
	    (want))

#endif
