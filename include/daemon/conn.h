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
 * TLS (implicit TLS, or after STARTTLS, either side) is the plain conn's
 * too (conn_tls_start()): OpenSSL works on the socket under the same
 * registration, and the relay takes the SSL with the event.  A TLS login
 * thus costs the epoll_ctl calls of a plain one: one at the start, one at
 * the close, for each socket.
 *
 * Every socket where the event loop has no edge-triggered events with
 * early close notices is a bufferevent underneath (bufferevent_openssl
 * does its TLS), and the calls map one to one onto bufferevent calls.  The
 * session, login, backend and protocol code talk to the interface only; the
 * relay asks which kind it has (conn_bufferevent()): its direct pump takes
 * plain conns over, and bufferevents stay with the bufferevent pump.
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

/*
 * Puts c under TLS with ssl (a server's when server, else a client's),
 * which it owns from here on, even when this fails.  The handshake runs
 * from the loop, before any read: CONN_CONNECTED comes to the event
 * callback once it is done, CONN_ERROR if it fails (an end of the stream
 * in the middle included; conn_ssl_error() says why).  What is written
 * meanwhile goes out after it.  Nothing may wait in the output buffer when
 * it starts: the caller flushes first (STARTTLS).  -1 when memory is
 * short; c is as it was then.
 */
int conn_tls_start(struct conn *c, SSL *ssl, bool server);

/* The SSL of a TLS conn; NULL for a plain one. */
SSL *conn_ssl(struct conn *c);

/*
 * The next OpenSSL error kept from a TLS conn's failure; 0 when none.  A
 * system call's failure with no OpenSSL error is SSL_ERROR_SYSCALL itself
 * (ERR_GET_LIB() 0).
 */
unsigned long conn_ssl_error(struct conn *c);

/* The bufferevent under c; NULL for a plain conn. */
struct bufferevent *conn_bufferevent(struct conn *c);

/* A plain conn's socket. */
evutil_socket_t conn_fd(const struct conn *c);

/*
 * Hands a plain conn's registered event to the relay's direct pump: from
 * here on its edges go to cb(fd, what, arg) (what as libevent says it)
 * and the conn neither reads nor writes.  *readable and *peer_closed say
 * what edges came that the conn did not act on (a TLS conn's is always
 * readable: OpenSSL may hold a record).  Returns the event, for
 * event_active(); conn_free() still deletes it, frees the SSL and closes
 * the socket.
 */
struct event *conn_handover(struct conn *c, event_callback_fn cb, void *arg,
    bool *readable, bool *peer_closed);

/*
 * Whether the plain kind is used on base (edge-triggered events with
 * early close notices), for the tests.
 */
bool conn_plain_supported(struct event_base *base);

#endif
