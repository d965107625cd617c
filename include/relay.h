/*
 * relay: the two-way pump after login.
 *
 * Bytes move between the two bufferevents without copying
 * (evbuffer_add_buffer).  A side whose partner has more than a bounded
 * amount queued stops being read until the partner drains (back-pressure),
 * so a slow client never makes postern hold a whole message.  When one side
 * ends, what it sent is delivered to the other before the session closes.
 */
#ifndef POSTERN_RELAY_H
#define POSTERN_RELAY_H

#include <stddef.h>

struct session;

/* Bytes queued toward one side before the other stops being read. */
#define RELAY_HIGH_WATER (256 * 1024)

/* Starts relaying s's client and backend; pending input is passed on. */
void relay_start(struct session *s);

/*
 * The direct relay (s->relay != NULL) owns the sockets: these take the
 * place of the bufferevent calls for it.  relay_client_write() queues
 * postern's own bytes for the client; relay_close_after_flush() closes the
 * backend, sends the client what is queued, then closes the session;
 * relay_free() lets go of the sockets and buffers (from session_close()).
 */
void relay_client_write(struct session *s, const void *data, size_t len);
void relay_close_after_flush(struct session *s);
void relay_free(struct session *s);

#endif
