/*
 * backend: the connection to the backend server and its login dialogue.
 *
 * The protocol module speaks the dialogue (proto->backend_input); this
 * module owns the socket: connecting with a deadline, implicit TLS or the
 * upgrade after STARTTLS, certificate verification, and reporting the end
 * of the login through session_backend_done().
 */
#ifndef POSTERN_BACKEND_H
#define POSTERN_BACKEND_H

#include <stddef.h>

#include <event2/util.h>
#include <openssl/ssl.h>

struct bufferevent;
struct event_base;
struct session;

/*
 * Why a backend login failed, kept per session (two sessions of one
 * worker may fail at once, each for its own reason).  The type says what
 * went wrong; the text (backend_error()) says it for the daemon log.
 */
enum backend_failure {
	BACKEND_FAILURE_NONE,
	BACKEND_FAILURE_INTERNAL, /* postern could not set the connection up */
	BACKEND_FAILURE_CONNECT,  /* no TCP connection */
	BACKEND_FAILURE_TLS,	  /* the TLS handshake or certificate failed */
	BACKEND_FAILURE_TIMEOUT,  /* no login within backend_timeout */
	BACKEND_FAILURE_CLOSED,	  /* the backend closed during the login */
	BACKEND_FAILURE_PROTOCOL  /* an answer the login cannot go on from */
};

/*
 * Starts connecting s to its backend.  Returns -1 when it could not even
 * start (the caller answers the client); otherwise the outcome arrives
 * later through session_backend_done().
 */
int backend_connect(struct session *s);

/*
 * Ends a backend session that logged in but is not to be used: sends the
 * protocol's logout and waits for the backend to close, reading and
 * dropping what it says.  session_backend_logged_out() follows once it
 * has closed or failed; the caller bounds the wait with its timer.
 */
void backend_logout(struct session *s);

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

/*
 * A TLS bufferevent connecting on socket fd with ssl, owning both from the
 * call on: when it cannot be made, both are gone as well (libevent 2.1
 * frees ssl, this closes fd).
 */
struct bufferevent *backend_tls_socket_new(struct event_base *base,
    evutil_socket_t fd, SSL *ssl);

#endif
