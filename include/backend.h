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

struct session;

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

/* A short description of why the backend failed, for the daemon log. */
const char *backend_error(const struct session *s);

#endif
