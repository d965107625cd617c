/*
 * relay: the two-way pump after login.
 *
 * The relay takes both sockets over and moves bytes itself (a plain
 * client socket with the event its conn registered at accept, conn.h;
 * the others from their bufferevents): one edge-triggered event per
 * socket, a buffer of at most RELAY_BUF_SIZE per direction that exists
 * only while bytes are in flight, recv/send or SSL_read/SSL_write until
 * the kernel says "later".
 * The protocol's guard and, when the protocol log frames commands, its
 * framer read the bytes in those buffers before they go on, and may hold
 * the client's back until the backend answered.  Only where the event
 * loop has no edge-triggered events with early close notices (a backend
 * other than epoll), or the buffers cannot be had, do the bufferevents
 * stay, with bytes moving between them without copying
 * (evbuffer_add_buffer).  Either way a side whose partner has a bounded
 * amount queued stops being read until the partner drains
 * (back-pressure), so a slow client never makes postern hold a whole
 * message.  When one side ends, what it sent is delivered to the other
 * before the session closes.
 */
#ifndef POSTERN_RELAY_H
#define POSTERN_RELAY_H

#include <stdbool.h>
#include <stddef.h>

struct session;

/* Bufferevent pump: bytes queued toward one side before the other stops
 * being read. */
#define RELAY_HIGH_WATER (256 * 1024)

/* Direct pump: bytes one direction holds at most (more only for what the
 * bufferevents held at the switch, or for postern's own last words). */
#define RELAY_BUF_SIZE (64 * 1024)

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

/*
 * Whether a line of postern's own written to s's client now would follow
 * a complete answer rather than land inside one (a literal, a RETR body).
 * false when that is not known: IMAP always reads the answers; POP3 only
 * while the protocol log frames the session's commands.
 */
bool relay_at_boundary(const struct session *s);

#endif
