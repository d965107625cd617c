/*
 * conn: a session's socket (the client's, the backend's) until the relay
 * takes it, with an input and an output buffer.
 *
 * Two implementations under one interface.  A plain socket is postern's
 * own, the shape nginx's mail proxy has: one edge-triggered event
 * (EV_READ|EV_WRITE|EV_CLOSED|EV_ET|EV_PERSIST) assigned and added once,
 * at accept or right after connect(), and deleted once, at close; reads are
 * recv() into the input buffer until the kernel has no more (no FIONREAD);
 * writes are tried at once with send() and only what the kernel did not take is
 * queued, to go on the next write edge.  Because epoll reports edges, the conn
 * remembers "readable" (until a read finds the socket empty) and
 * "writable" (until a write finds it full): an edge that comes while
 * reading is paused (the backend login runs) is kept, and reading goes
 * on from it when resumed.  Pausing, resuming and queueing cost no
 * epoll_ctl.  The relay's direct pump takes the same registered event
 * over at the hand-over (conn_handover()): the event's callback is the
 * conn's, which passes every later edge on, so the socket is never
 * registered twice.
 *
 * A TLS socket (implicit TLS, or after STARTTLS, either side), and every
 * socket where the event loop has no edge-triggered events with early
 * close notices, is a bufferevent underneath (bufferevent_openssl does
 * the TLS), and the calls map one to one onto bufferevent calls.  The
 * session, login, backend and protocol code talk to the interface only; the
 * relay asks which kind it has (conn_bufferevent()) to take the socket over.
 */
#ifndef POSTERN_CONN_H
#define POSTERN_CONN_H

#include <stdbool.h>
#include <stddef.h>

#include <sys/socket.h>

#include <event2/event.h>
#include <event2/util.h>
#include <openssl/ssl.h>

struct bufferevent;
struct evbuffer;
struct conn;

/* What the event callback is told: the bufferevent's BEV_EVENT_* bits. */
#define CONN_EOF 0x10     /* BEV_EVENT_EOF */
#define CONN_ERROR 0x20   /* BEV_EVENT_ERROR */
#define CONN_TIMEOUT 0x40 /* BEV_EVENT_TIMEOUT: the connect's */
#define CONN_CONNECTED                                                         \
	0x80 /* BEV_EVENT_CONNECTED: a connect, a TLS                          \
		handshake */

typedef void (*conn_data_cb)(struct conn *c, void *arg);
typedef void (*conn_event_cb)(struct conn *c, short what, void *arg);

/*
 * A conn for the plain socket fd on base, owning fd (closed with the
 * conn).  Reading starts paused.  A bufferevent one where base has no
 * edge-triggered events with early close notices.  NULL when memory is
 * short; fd is left open then.
 */
struct conn *conn_socket_new(struct event_base *base, evutil_socket_t fd);

/*
 * A conn for the socket fd, connecting to sa: CONN_CONNECTED, or
 * CONN_ERROR (errno says why) or CONN_TIMEOUT after timeout_ms, come to
 * the event callback from the loop; what is written meanwhile is sent
 * once connected.  Reading starts paused.  NULL, with errno, when
 * connect() fails at once for a reason other than a refusal, or memory is
 * short; fd is left open then.
 */
struct conn *conn_connect_new(struct event_base *base, evutil_socket_t fd,
    const struct sockaddr *sa, socklen_t salen, unsigned timeout_ms);

/* A conn over bev, which it owns (freed with the conn); NULL when memory
 * is short (bev is not freed then). */
struct conn *conn_bufferevent_new(struct bufferevent *bev);

/* Frees c, closing its socket (a plain one's event deleted first). */
void conn_free(struct conn *c);

/*
 * Frees a bufferevent conn whose bufferevent is freed already (the relay
 * took its socket and SSL; tls_bufferevent_release()).
 */
void conn_free_shell(struct conn *c);

/*
 * Frees a plain c without closing its socket, which is returned (for a
 * TLS handshake on it).  Bytes still in its buffers are dropped.
 */
evutil_socket_t conn_release(struct conn *c);

/*
 * The callbacks: readcb when new input is in, eventcb for CONN_EOF,
 * CONN_ERROR or CONN_CONNECTED.  Each may free c; the conn does not touch
 * it after a callback returns.
 */
void conn_setcb(struct conn *c, conn_data_cb readcb, conn_event_cb eventcb,
    void *arg);

/*
 * Starts (conn_enable) or stops (conn_disable) reading (EV_READ); EV_WRITE
 * matters only to a bufferevent (a plain conn always writes).  A plain
 * conn resumed after an edge came reads at once (from the loop).
 */
void conn_enable(struct conn *c, short events);
void conn_disable(struct conn *c, short events);

/* Calls readcb from the loop, soon, for input already in the buffer. */
void conn_trigger_read(struct conn *c);

/* The input buffer: the protocol reads and drains it. */
struct evbuffer *conn_input(struct conn *c);

/* Bytes queued for the peer and not yet taken by the kernel. */
size_t conn_output_length(struct conn *c);

/*
 * The output buffer, for the relay to take what is queued.  A
 * bufferevent's is frozen at the front (only the bufferevent drains it).
 */
struct evbuffer *conn_output(struct conn *c);

/* Sends data (a plain conn: now, as far as the kernel takes it). */
void conn_write(struct conn *c, const void *data, size_t len);

/*
 * Stops reading; calls done (from the loop, never from inside this call)
 * once every queued byte is with the kernel.  A failure on the way goes to
 * eventcb instead.
 */
void conn_flush(struct conn *c, conn_data_cb done);

/* The SSL of a TLS conn; NULL for a plain one. */
SSL *conn_ssl(struct conn *c);

/* The next OpenSSL error of a TLS conn's bufferevent; 0 when none. */
unsigned long conn_ssl_error(struct conn *c);

/* The bufferevent under c; NULL for a plain conn. */
struct bufferevent *conn_bufferevent(struct conn *c);

/* A plain conn's socket. */
evutil_socket_t conn_fd(const struct conn *c);

/*
 * Hands a plain conn's registered event to the relay's direct pump: from
 * here on its edges go to cb(fd, what, arg) (what as libevent says it)
 * and the conn neither reads nor writes.  *readable and *peer_closed say
 * what edges came that the conn did not act on.  Returns the event, for
 * event_active(); conn_free() still deletes it and closes the socket.
 */
struct event *conn_handover(struct conn *c, event_callback_fn cb, void *arg,
    bool *readable, bool *peer_closed);

/*
 * Whether the plain kind is used on base (edge-triggered events with
 * early close notices), for the tests.
 */
bool conn_plain_supported(struct event_base *base);

#endif
