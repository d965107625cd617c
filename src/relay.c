/*
 * relay: the two-way pump after login.
 *
 * The shape is libevent's le-proxy: move the whole input buffer to the
 * partner's output, and when the partner has RELAY_HIGH_WATER bytes queued,
 * stop reading until its write callback reports that half has drained.
 */
#include "config.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "backend.h"
#include "relay.h"
#include "session.h"

/* How long a half-closed session waits for the other side to finish. */
#define RELAY_LINGER_MS 5000

static void relay_client_read_cb(struct bufferevent *bev, void *arg);
static void relay_backend_read_cb(struct bufferevent *bev, void *arg);
static void relay_client_write_cb(struct bufferevent *bev, void *arg);
static void relay_backend_write_cb(struct bufferevent *bev, void *arg);
static void relay_client_event_cb(struct bufferevent *bev, short what,
    void *arg);
static void relay_backend_event_cb(struct bufferevent *bev, short what,
    void *arg);

/* Moves what src has read to dst; returns the byte count. */
static size_t
relay_move(struct bufferevent *src, struct bufferevent *dst)
{
	struct evbuffer *in = bufferevent_get_input(src);
	size_t n = evbuffer_get_length(in);

	if (n > 0)
		evbuffer_add_buffer(bufferevent_get_output(dst), in);
	return n;
}

/* Pauses reading src while dst has too much queued. */
static void
relay_throttle(struct bufferevent *src, struct bufferevent *dst,
    bufferevent_data_cb dst_write_cb, struct session *s,
    bufferevent_data_cb dst_read_cb, bufferevent_event_cb dst_event_cb)
{
	if (evbuffer_get_length(bufferevent_get_output(dst)) <
	    RELAY_HIGH_WATER)
		return;
	bufferevent_disable(src, EV_READ);
	bufferevent_setwatermark(dst, EV_WRITE, RELAY_HIGH_WATER / 2,
	    RELAY_HIGH_WATER);
	bufferevent_setcb(dst, dst_read_cb, dst_write_cb, dst_event_cb, s);
}

static void
relay_client_read_cb(struct bufferevent *bev, void *arg)
{
	struct session *s = arg;

	(void)bev;
	session_touch(s);
	s->bytes_in += relay_move(s->client, s->backend);
	relay_throttle(s->client, s->backend, relay_backend_write_cb, s,
	    relay_backend_read_cb, relay_backend_event_cb);
}

static void
relay_backend_read_cb(struct bufferevent *bev, void *arg)
{
	struct session *s = arg;

	(void)bev;
	session_touch(s);
	s->bytes_out += relay_move(s->backend, s->client);
	relay_throttle(s->backend, s->client, relay_client_write_cb, s,
	    relay_client_read_cb, relay_client_event_cb);
}

/* The client drained below the low mark: read the backend again. */
static void
relay_client_write_cb(struct bufferevent *bev, void *arg)
{
	struct session *s = arg;

	bufferevent_setcb(bev, relay_client_read_cb, NULL,
	    relay_client_event_cb, s);
	bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
	if (s->backend != NULL && !s->backend_eof)
		bufferevent_enable(s->backend, EV_READ);
}

/* The backend drained below the low mark: read the client again. */
static void
relay_backend_write_cb(struct bufferevent *bev, void *arg)
{
	struct session *s = arg;

	bufferevent_setcb(bev, relay_backend_read_cb, NULL,
	    relay_backend_event_cb, s);
	bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
	if (!s->client_eof)
		bufferevent_enable(s->client, EV_READ);
}

/* The backend is gone: give the client what it sent, then close. */
static void
relay_backend_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct session *s = arg;

	(void)bev;
	s->bytes_out += relay_move(s->backend, s->client);
	s->backend_eof = true;
	session_close_after_flush(s, (what & BEV_EVENT_ERROR) ?
		"backend connection error" : "backend closed the connection");
}

/*
 * The client is gone or half-closed: its last bytes (a QUIT, say) still
 * reach the backend, and the backend's answer still reaches a client that
 * only shut down its sending side.
 */
static void
relay_client_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct session *s = arg;

	(void)bev;
	if (what & BEV_EVENT_ERROR) {
		session_close(s, "client connection error");
		return;
	}
	s->bytes_in += relay_move(s->client, s->backend);
	s->client_eof = true;
	bufferevent_disable(s->client, EV_READ);
	session_set_timeout(s, RELAY_LINGER_MS);
}

void
relay_start(struct session *s)
{
	session_set_state(s, SESSION_RELAY);
	bufferevent_setcb(s->client, relay_client_read_cb, NULL,
	    relay_client_event_cb, s);
	bufferevent_setcb(s->backend, relay_backend_read_cb, NULL,
	    relay_backend_event_cb, s);
	bufferevent_enable(s->client, EV_READ | EV_WRITE);
	bufferevent_enable(s->backend, EV_READ | EV_WRITE);
	session_set_timeout(s, s->pc->auth_timeout_ms);
	/* Whatever either side sent during the login goes on now. */
	if (evbuffer_get_length(bufferevent_get_input(s->client)) > 0)
		relay_client_read_cb(s->client, s);
	if (s->backend != NULL &&
	    evbuffer_get_length(bufferevent_get_input(s->backend)) > 0)
		relay_backend_read_cb(s->backend, s);
}
