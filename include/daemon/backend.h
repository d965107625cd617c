/*
 * backend: the connection to the backend server and its login dialogue.
 *
 * This module owns the socket: connecting with a deadline, implicit TLS or
 * the upgrade after STARTTLS, certificate verification, cutting what the
 * backend says into lines, and reporting the end of the login through
 * session_backend_done().  The protocol module speaks the dialogue one
 * complete line at a time (proto->backend_line), so that the dialogue
 * can be driven without a server.
 */
#ifndef POSTERN_BACKEND_H
#define POSTERN_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include <event2/util.h>
#include <openssl/ssl.h>

#include "proto.h"

struct bufferevent;
struct event_base;
struct evbuffer;
struct session;

/* What backend_line_split() found at the start of the bytes. */
enum backend_split {
	BACKEND_SPLIT_MORE,    /* no line end yet, and not too long yet */
	BACKEND_SPLIT_LINE,    /* a complete line */
	BACKEND_SPLIT_TOO_LONG /* a line over the limit */
};

/*
 * Looks for one line of the backend at the start of buf[0..len).  A line
 * ends in LF, with or without a CR before it; a CR elsewhere is part of
 * the line.  After BACKEND_SPLIT_LINE, *linelen is the line's length
 * without its end and *eollen the end's (1 or 2).  A line longer than max
 * bytes without its end is BACKEND_SPLIT_TOO_LONG, as are more than max
 * bytes without a line end.  Keeps no state and looks at nothing but buf.
 */
enum backend_split backend_line_split(const char *buf, size_t len, size_t max,
    size_t *linelen, size_t *eollen);

/* One complete line of the backend's login dialogue. */
struct backend_line {
	const char *p; /* the line without its end; not NUL-terminated */
	size_t len;
	size_t after; /* bytes the backend sent after the line's end */
};

/*
 * Hands the complete lines in "in" (the backend's bytes) one by one to
 * s->proto->backend_line(), draining each after the protocol saw it,
 * until it answers something other than BACKEND_MORE or no line is
 * complete.  A line over s->proto->backend_line_max ends the login.  A
 * BACKEND_BROKEN without a recorded reason is recorded as
 * BACKEND_FAILURE_PROTOCOL.
 */
enum backend_result backend_input(struct session *s, struct evbuffer *in);

/*
 * From a protocol's backend_line(): the n bytes that follow the current
 * line are data (an IMAP literal), passed over rather than read as lines;
 * 0 cancels.
 */
void backend_skip(struct session *s, uint64_t n);

/*
 * Why a backend login failed, kept per session (two sessions of one
 * worker may fail at once, each for its own reason).  The type says what
 * went wrong; the text (backend_error()) says it for the daemon log.
 */
enum backend_failure {
	BACKEND_FAILURE_NONE,
	BACKEND_FAILURE_INTERNAL, /* postern could not set the connection up */
	BACKEND_FAILURE_CONNECT,  /* no TCP connection */
	BACKEND_FAILURE_TLS,      /* the TLS handshake or certificate failed */
	BACKEND_FAILURE_TIMEOUT,  /* no login within backend_timeout */
	BACKEND_FAILURE_CLOSED,   /* the backend closed during the login */
	BACKEND_FAILURE_PROTOCOL  /* an answer the login cannot go on from */
};

/*
 * Starts connecting s to its routed backend (s->route): the addresses of
 * its pool for s's protocol in order, passing over those marked down.  An
 * address that refuses the connection or does not answer within the
 * backend's connect_timeout is marked down for its down_time, and the
 * next one is tried; a failure after the TCP connection (TLS, the login
 * dialogue) is not the address's and tries no other.  Returns -1 when no
 * address could be tried (the caller answers the client); otherwise the
 * outcome arrives later through session_backend_done().
 */
int backend_connect(struct session *s);

/*
 * Ends a backend session that logged in but is not to be used: sends the
 * protocol's logout and waits for the backend to close, reading and
 * dropping what it says.  session_backend_logged_out() follows once it
 * has closed or failed; the caller bounds the wait with its timer.
 */
void backend_logout(struct session *s);

/*
 * How s talks to its backend: the routed backend's tls, or for a session
 * not routed yet the protocol's backend_tls.
 */
enum backend_tls backend_tls_mode(const struct session *s);

/*
 * The address of its backend that s is connected or connecting to, or
 * NULL before any.
 */
const struct backend_addr *backend_current(const struct session *s);

/* Writes a as "host:port" or "[IPv6]:port" into buf. */
void backend_addr_str(const struct backend_addr *a, char *buf, size_t len);

/*
 * Takes one of the routed backend's max_connections for s; false when
 * they are all taken (nothing is taken then).  backend_release() gives
 * it back, as session_close() does.
 */
bool backend_acquire(struct session *s);
void backend_release(struct session *s);

/* Closes the backend connection of s, if there is one. */
void backend_close(struct session *s);

/* Queues bytes for the backend. */
void backend_write(struct session *s, const void *data, size_t len);

/* Queues a formatted line for the backend; fmt is never client data. */
void backend_printf(struct session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * Records why the backend login of s failed, replacing what was recorded;
 * backend_connect() starts each login with none.
 */
void backend_set_failure(struct session *s, enum backend_failure type,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* A short description of why the backend of s failed, for the daemon log. */
const char *backend_error(const struct session *s);

#endif
