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
#include "log.h"
#include "relay.h"
#include "session.h"
#include "sesslog.h"

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

/*
 * Lets the protocol's guard see the first n bytes of in, where they lie,
 * once each, before they move on.
 */
static void
relay_guard(struct session *s, struct evbuffer *in, size_t n,
    bool from_client)
{
	struct evbuffer_iovec v[16];
	struct evbuffer_ptr at;
	size_t done = 0;

	if (s->proto->relay_guard == NULL)
		return;
	while (done < n) {
		int k;

		evbuffer_ptr_set(in, &at, done, EVBUFFER_PTR_SET);
		k = evbuffer_peek(in, (ev_ssize_t)(n - done), &at, v, 16);
		if (k <= 0)
			break;
		if (k > 16)
			k = 16;
		for (int i = 0; i < k && done < n; i++) {
			size_t len = v[i].iov_len;

			if (len > n - done)
				len = n - done;
			s->proto->relay_guard(s, from_client, v[i].iov_base,
			    len);
			done += len;
		}
	}
}

/* Moves what src has read to dst; returns the byte count. */
static size_t
relay_move(struct session *s, struct bufferevent *src,
    struct bufferevent *dst, bool from_client)
{
	struct evbuffer *in = bufferevent_get_input(src);
	size_t n = evbuffer_get_length(in);

	if (n > 0) {
		relay_guard(s, in, n, from_client);
		evbuffer_add_buffer(bufferevent_get_output(dst), in);
	}
	return n;
}

/*
 * protolog with log_detail = commands: the protocol's framer looks at
 * src's bytes where they lie (evbuffer_peek, nothing copied) before they
 * move on.  The framer may take fewer than all of them when the commands
 * waiting for answers fill its ring; the rest stays in src's input, and
 * src is not read again until an answer made room (s->log_stalled).
 */
static size_t
relay_move_framed(struct session *s, struct bufferevent *src,
    struct bufferevent *dst, bool from_client)
{
	struct evbuffer *in = bufferevent_get_input(src);
	struct evbuffer *out = bufferevent_get_output(dst);
	size_t total = evbuffer_get_length(in), taken = 0;
	struct evbuffer_iovec v[16];
	struct evbuffer_ptr at;
	bool stalled = false;

	while (taken < total && !stalled) {
		int n;

		if (taken == 0)
			n = evbuffer_peek(in, -1, NULL, v, 16);
		else {
			evbuffer_ptr_set(in, &at, taken, EVBUFFER_PTR_SET);
			n = evbuffer_peek(in, -1, &at, v, 16);
		}
		if (n > 16)
			n = 16;
		for (int i = 0; i < n && !stalled; i++) {
			size_t k = v[i].iov_len;

			if (from_client) {
				k = s->proto->relay_log_client(s,
				    v[i].iov_base, v[i].iov_len);
				stalled = k < v[i].iov_len;
			} else
				s->proto->relay_log_backend(s, v[i].iov_base,
				    v[i].iov_len);
			taken += k;
		}
		if (n <= 0)
			break;
	}
	if (from_client)
		s->log_stalled = stalled;
	relay_guard(s, in, taken, from_client);
	if (taken == total)
		evbuffer_add_buffer(out, in);
	else if (taken > 0)
		evbuffer_remove_buffer(in, out, taken);
	return taken;
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

/* Moves the client's bytes on, through the framer when there is one. */
static void
relay_client_move(struct session *s)
{
	size_t n;

	if (!s->log_framed) {
		n = relay_move(s, s->client, s->backend, true);
		s->bytes_in += n;
		if (s->log != NULL && n > 0)
			sesslog_proxy(s, n, 0);
		return;
	}
	s->bytes_in += relay_move_framed(s, s->client, s->backend, true);
	if (s->log_stalled)
		bufferevent_disable(s->client, EV_READ);
}

static void
relay_client_read_cb(struct bufferevent *bev, void *arg)
{
	struct session *s = arg;

	(void)bev;
	session_touch(s);
	relay_client_move(s);
	relay_throttle(s->client, s->backend, relay_backend_write_cb, s,
	    relay_backend_read_cb, relay_backend_event_cb);
}

/* Moves the backend's bytes on; answers may let waiting commands go. */
static void
relay_backend_move(struct session *s)
{
	size_t n;

	if (!s->log_framed) {
		n = relay_move(s, s->backend, s->client, false);
		s->bytes_out += n;
		if (s->log != NULL && n > 0)
			sesslog_proxy(s, 0, n);
		return;
	}
	s->bytes_out += relay_move_framed(s, s->backend, s->client, false);
	if (s->log_stalled && !s->client_eof) {
		relay_client_move(s);
		if (!s->log_stalled && evbuffer_get_length(bufferevent_get_output(
					   s->backend)) < RELAY_HIGH_WATER)
			bufferevent_enable(s->client, EV_READ);
	}
}

static void
relay_backend_read_cb(struct bufferevent *bev, void *arg)
{
	struct session *s = arg;

	(void)bev;
	session_touch(s);
	relay_backend_move(s);
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
	if (!s->client_eof && !s->log_stalled)
		bufferevent_enable(s->client, EV_READ);
}

/* The backend is gone: give the client what it sent, then close. */
static void
relay_backend_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct session *s = arg;

	(void)bev;
	relay_backend_move(s);
	s->backend_eof = true;
	if (what & BEV_EVENT_ERROR)
		sesslog_close_error(s, "BackendConnectionLost");
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
	relay_client_move(s);
	/* What a full ring held back goes on unlogged: nothing will be
	 * read after it. */
	s->bytes_in += relay_move(s, s->client, s->backend, true);
	s->client_eof = true;
	bufferevent_disable(s->client, EV_READ);
	session_set_timeout(s, RELAY_LINGER_MS);
}

void
relay_start(struct session *s)
{
	session_set_state(s, SESSION_RELAY);
	/* Without a row per command the pump never looks at the bytes. */
	if (sesslog_commands(s->log)) {
		if (s->proto->relay_log_start(s) == 0)
			s->log_framed = true;
		else
			log_warnx("%s: out of memory: the commands of this "
				  "session are not logged",
			    session_tag(s));
	}
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
