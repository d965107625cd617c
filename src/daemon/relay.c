/*
 * relay: the two-way pump after login.
 *
 * Two pumps.  The direct one (below) serves every session where it can:
 * it reads and writes the sockets itself, framed sessions included.  The
 * bufferevent one has libevent's le-proxy shape: move the whole input
 * buffer to the partner's output, and when the partner has
 * RELAY_HIGH_WATER bytes queued, stop reading until its write callback
 * reports that half has drained.  It serves where the direct one cannot
 * start (no edge-triggered events with early close notices, or no memory
 * for its buffers).
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_struct.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "backend.h"
#include "conn.h"
#include "log.h"
#include "relay.h"
#include "blockcache.h"
#include "worker.h"
#include "session.h"
#include "sesslog.h"
#include "tls.h"

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

/* The bufferevents the bufferevent pump moves bytes through. */
static struct bufferevent *
relay_cbev(const struct session *s)
{
	return s->client != NULL ? conn_bufferevent(s->client) : NULL;
}

static struct bufferevent *
relay_bbev(const struct session *s)
{
	return s->backend != NULL ? conn_bufferevent(s->backend) : NULL;
}

/* Whether the protocol reads the relayed bytes: a guard, or the log. */
static bool
relay_reads(const struct session *s)
{
	return s->proto->relay_guard != NULL || s->log_framed;
}

/*
 * Lets the protocol read buf[0..len) before it goes on: the log's framer
 * (when the protocol has one of its own), then the guard.  Returns how
 * many bytes may go on now; from the client, the rest waits for the
 * backend's bytes, or, once the guard set s->guard_end, never goes on.
 */
static size_t
relay_read_bytes(struct session *s, bool from_client, char *buf, size_t len)
{
	const struct proto *p = s->proto;
	size_t k = len;

	if (from_client && s->guard_end)
		return 0;
	if (s->log_framed && from_client && p->relay_log_client != NULL)
		k = p->relay_log_client(s, buf, len);
	else if (s->log_framed && !from_client && p->relay_log_backend != NULL)
		p->relay_log_backend(s, buf, len);
	if (p->relay_guard != NULL)
		k = p->relay_guard(s, from_client, buf, k, &s->guard_end);
	return k;
}

/*
 * The guard refused the client's next bytes (s->guard_end): the session
 * ends through the protocol, which knows why.  Returns whether it did;
 * the session may be freed then.
 */
static bool
relay_guard_ended(struct session *s)
{
	if (!s->guard_end)
		return false;
	s->proto->relay_guard_end(s);
	return true;
}

/*
 * Moves what src has read to dst; returns the byte count.  When the
 * protocol reads the bytes, it sees them where they lie (evbuffer_peek,
 * nothing copied) before they move on, and may take fewer than all of
 * them (a line waiting for the backend's answer, a full ring of commands
 * waiting for theirs): the rest stays in src's input, and src is not read
 * again until the backend's bytes let it go on (s->log_stalled).
 */
static size_t
relay_move(struct session *s, struct bufferevent *src, struct bufferevent *dst,
    bool from_client)
{
	struct evbuffer *in = bufferevent_get_input(src);
	struct evbuffer *out = bufferevent_get_output(dst);
	size_t total = evbuffer_get_length(in), taken = 0;
	struct evbuffer_iovec v[16];
	struct evbuffer_ptr at;
	bool stalled = false;

	if (!relay_reads(s)) {
		evbuffer_add_buffer(out, in);
		return total;
	}
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
			size_t k = relay_read_bytes(s, from_client,
			    v[i].iov_base, v[i].iov_len);

			stalled = k < v[i].iov_len;
			taken += k;
		}
		if (n <= 0)
			break;
	}
	if (from_client)
		s->log_stalled = stalled;
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
	if (evbuffer_get_length(bufferevent_get_output(dst)) < RELAY_HIGH_WATER)
		return;
	bufferevent_disable(src, EV_READ);
	bufferevent_setwatermark(dst, EV_WRITE, RELAY_HIGH_WATER / 2,
	    RELAY_HIGH_WATER);
	bufferevent_setcb(dst, dst_read_cb, dst_write_cb, dst_event_cb, s);
}

/* Moves the client's bytes on, as far as the protocol's reading lets. */
static void
relay_client_move(struct session *s)
{
	size_t n = relay_move(s, relay_cbev(s), relay_bbev(s), true);

	s->bytes_in += n;
	stats_relayed(&s->stats, n, 0);
	if (s->log != NULL && !s->log_framed && n > 0)
		sesslog_proxy(s, n, 0);
	if (s->log_stalled)
		bufferevent_disable(relay_cbev(s), EV_READ);
}

static void
relay_client_read_cb(struct bufferevent *bev, void *arg)
{
	struct session *s = arg;

	(void)bev;
	session_touch(s);
	relay_client_move(s);
	if (relay_guard_ended(s))
		return;
	relay_throttle(relay_cbev(s), relay_bbev(s), relay_backend_write_cb, s,
	    relay_backend_read_cb, relay_backend_event_cb);
}

/*
 * Moves the backend's bytes on; answers may let the client's go on.
 * Returns false when the guard ended the session (it may be freed).
 */
static bool
relay_backend_move(struct session *s)
{
	size_t n = relay_move(s, relay_bbev(s), relay_cbev(s), false);

	s->bytes_out += n;
	stats_relayed(&s->stats, 0, n);
	if (s->log != NULL && !s->log_framed && n > 0)
		sesslog_proxy(s, 0, n);
	/* Held bytes go on even after the client's end: they were sent. */
	if (s->log_stalled) {
		relay_client_move(s);
		if (relay_guard_ended(s))
			return false;
		if (!s->log_stalled && !s->client_eof &&
		    evbuffer_get_length(bufferevent_get_output(relay_bbev(s))) <
			RELAY_HIGH_WATER)
			bufferevent_enable(relay_cbev(s), EV_READ);
	}
	return true;
}

static void
relay_backend_read_cb(struct bufferevent *bev, void *arg)
{
	struct session *s = arg;

	(void)bev;
	session_touch(s);
	if (!relay_backend_move(s))
		return;
	relay_throttle(relay_bbev(s), relay_cbev(s), relay_client_write_cb, s,
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
		bufferevent_enable(relay_bbev(s), EV_READ);
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
		bufferevent_enable(relay_cbev(s), EV_READ);
}

/* The backend is gone: give the client what it sent, then close. */
static void
relay_backend_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct session *s = arg;

	(void)bev;
	if (!relay_backend_move(s))
		return;
	s->backend_eof = true;
	session_backend_gone(s, (what & BEV_EVENT_ERROR) != 0);
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
	/* What the reading holds back waits for the backend's answers:
	 * it never goes on unread. */
	relay_client_move(s);
	if (relay_guard_ended(s))
		return;
	s->client_eof = true;
	bufferevent_disable(relay_cbev(s), EV_READ);
	session_set_timeout(s, RELAY_LINGER_MS);
}

/*
 * The direct relay.  A bufferevent costs, per chunk, an ioctl(FIONREAD),
 * a readv, two epoll_ctl calls to switch its write event on and off, a
 * writev and a return to epoll_wait.  Here each socket has one
 * edge-triggered event for both directions, registered once, and a
 * callback moves bytes through a fixed buffer per direction until the
 * source says EAGAIN or the buffer is full (which is the back-pressure:
 * the source is not read until its partner took some).  The buffers exist
 * only while bytes are in flight, so an idle session holds none.
 *
 * Because epoll reports edges, the sides remember what was last said:
 * "readable" until a read finds nothing, "writable" until a write finds
 * the socket full.  OpenSSL may need the opposite readiness (a read that
 * must write, a write that must read); the want_* flags say which one the
 * next attempt waits for.
 */

/* Bytes moved by one callback before other sessions get their turn. */
#define RELAY_BUDGET (1024 * 1024)

enum { RELAY_CLIENT, RELAY_BACKEND };

struct relay_side {
	/* The side's conn (a plain one, conn.h), which still owns the
	 * socket, the SSL and the event; the relay has the event's edges
	 * (conn_handover()). */
	struct conn *conn;
	struct event *ev;
	struct relay *r;
	evutil_socket_t fd; /* -1 once closed */
	SSL *ssl;           /* the conn's; NULL for a plain socket */
	bool goodbye;       /* a close_notify is sent when closing (client) */
	bool readable;
	bool writable;
	bool read_wants_write; /* SSL_read said WANT_WRITE */
	bool write_wants_read; /* SSL_write said WANT_READ */
	bool peer_closed;      /* the peer's FIN is in (EV_CLOSED) */
	bool eof;              /* nothing more will be read */
	bool error;            /* a read or write failed */
};

/* Bytes read from one side, waiting to be written to the other. */
struct relay_buf {
	char *data;
	size_t off;    /* first byte not yet written */
	size_t framed; /* end of the bytes the protocol read: may go */
	size_t len;    /* end of the bytes read */
	size_t cap;
};

struct relay {
	struct session *s;
	struct relay_side side[2];
	struct relay_buf buf[2]; /* buf[i] holds what side i sent */
	bool closing;      /* the backend is gone: flush to the client, close */
	bool framing;      /* the protocol log frames commands (log_framed) */
	bool stalled;      /* the reading stopped short: the client waits */
	bool lingering;    /* the client is gone: its last bytes go on */
	bool backend_shut; /* ... and then the backend was told so */
};

static void relay_direct_cb(evutil_socket_t fd, short what, void *arg);

static size_t
relay_buf_room(const struct relay_buf *b)
{
	return b->cap - b->len;
}

/* The worker's spare blocks: a buffer per direction and round trip. */
static struct blockcache *
relay_cache(const struct relay *r)
{
	return session_cache(r->s);
}

/* Lets go of b's memory: one of the usual size is kept for reuse. */
static void
relay_buf_drop(struct relay *r, struct relay_buf *b)
{
	if (b->cap == RELAY_BUF_SIZE)
		blockcache_put(relay_cache(r), b->data, b->cap);
	else
		free(b->data);
	memset(b, 0, sizeof(*b));
}

/* Makes room at the tail; false when out of memory. */
static bool
relay_buf_reserve(struct relay *r, struct relay_buf *b, size_t want)
{
	if (b->data == NULL) {
		size_t cap = want > RELAY_BUF_SIZE ? want : RELAY_BUF_SIZE;

		if ((b->data = blockcache_get(relay_cache(r), cap)) == NULL)
			return false;
		b->cap = cap;
		b->off = b->len = b->framed = 0;
		return true;
	}
	/* OpenSSL takes a moved retry buffer: the contexts set
	 * SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER. */
	if (b->off > 0 && relay_buf_room(b) < want) {
		memmove(b->data, b->data + b->off, b->len - b->off);
		b->len -= b->off;
		b->framed = b->framed > b->off ? b->framed - b->off : 0;
		b->off = 0;
	}
	if (relay_buf_room(b) < want) {
		char *p = realloc(b->data, b->len + want);

		if (p == NULL)
			return false;
		b->data = p;
		b->cap = b->len + want;
	}
	return true;
}

/* An empty buffer goes back to the allocator: idle sessions hold none. */
static void
relay_buf_release(struct relay *r, struct relay_buf *b)
{
	if (b->data != NULL && b->off == b->len)
		relay_buf_drop(r, b);
}

/* Takes over what a buffer still holds; false when out of memory. */
static bool
relay_buf_take(struct relay *r, struct relay_buf *b, struct evbuffer *from)
{
	size_t n = evbuffer_get_length(from);
	int got;

	if (n == 0)
		return true;
	if (!relay_buf_reserve(r, b, n))
		return false;
	got = evbuffer_remove(from, b->data + b->len, n);
	if (got != (int)n)
		return false;
	b->len += n;
	return true;
}

/* Reads from side into b; returns the byte count, 0 when nothing came. */
static size_t
relay_read(struct relay_side *side, struct relay_buf *b)
{
	size_t room = relay_buf_room(b);
	ssize_t n;
	int err;

	if (side->ssl == NULL) {
		do
			n = recv(side->fd, b->data + b->len, room, 0);
		while (n == -1 && errno == EINTR);
		if (n > 0) {
			b->len += (size_t)n;
			/* A short read emptied the socket: the next bytes
			 * bring a new edge.  A FIN that came with them
			 * brings none, but epoll said so (EV_CLOSED). */
			if ((size_t)n < room && !side->peer_closed)
				side->readable = false;
			return (size_t)n;
		}
		if (n == 0)
			side->eof = true;
		else if (errno == EAGAIN || errno == EWOULDBLOCK)
			side->readable = false;
		else
			side->error = true;
		return 0;
	}
	ERR_clear_error();
	n = SSL_read(side->ssl, b->data + b->len,
	    room > INT_MAX ? INT_MAX : (int)room);
	if (n > 0) {
		b->len += (size_t)n;
		side->read_wants_write = false;
		return (size_t)n;
	}
	switch (err = SSL_get_error(side->ssl, (int)n)) {
	case SSL_ERROR_WANT_READ:
		side->readable = false;
		side->read_wants_write = false;
		break;
	case SSL_ERROR_WANT_WRITE:
		side->writable = false;
		side->read_wants_write = true;
		break;
	default:
		if (tls_read_eof(err, (int)n))
			side->eof = true;
		else
			side->error = true;
		ERR_clear_error();
		break;
	}
	return 0;
}

/* Writes b's bytes to side; returns the byte count. */
static size_t
relay_write(struct relay_side *side, struct relay_buf *b, size_t end)
{
	size_t want = end - b->off;
	ssize_t n;

	if (side->ssl == NULL) {
		do
			n = send(side->fd, b->data + b->off, want,
			    MSG_NOSIGNAL);
		while (n == -1 && errno == EINTR);
		if (n >= 0) {
			b->off += (size_t)n;
			if ((size_t)n < want)
				side->writable = false;
			return (size_t)n;
		}
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			side->writable = false;
		else
			side->error = true;
		return 0;
	}
	ERR_clear_error();
	n = SSL_write(side->ssl, b->data + b->off,
	    want > INT_MAX ? INT_MAX : (int)want);
	if (n > 0) {
		b->off += (size_t)n;
		side->write_wants_read = false;
		return (size_t)n;
	}
	switch (SSL_get_error(side->ssl, (int)n)) {
	case SSL_ERROR_WANT_WRITE:
		side->writable = false;
		side->write_wants_read = false;
		break;
	case SSL_ERROR_WANT_READ:
		side->readable = false;
		side->write_wants_read = true;
		break;
	default:
		side->error = true;
		ERR_clear_error();
		break;
	}
	return 0;
}

static bool
relay_can_read(const struct relay_side *side)
{
	if (side->fd == -1 || side->eof || side->error)
		return false;
	return side->read_wants_write ? side->writable : side->readable;
}

static bool
relay_can_write(const struct relay_side *side)
{
	if (side->fd == -1 || side->error)
		return false;
	return side->write_wants_read ? side->readable : side->writable;
}

/*
 * Stops watching a side and lets go of its socket and SSL, with its conn.
 * The client hears a close_notify first, one try, never waited for, as
 * session_close() says it.
 */
static void
relay_side_close(struct relay_side *side)
{
	if (side->fd == -1)
		return;
	if (side->ssl != NULL && side->goodbye &&
	    SSL_is_init_finished(side->ssl)) {
		ERR_clear_error();
		(void)SSL_shutdown(side->ssl);
		ERR_clear_error();
	}
	/* Its one registration ends with it, and its SSL. */
	conn_free(side->conn);
	side->conn = NULL;
	side->ssl = NULL;
	side->fd = -1;
}

/*
 * Moves bytes one way until neither end can go on; returns the bytes read.
 * from == to never happens: the two sides are distinct.
 */
/*
 * The protocol reads the bytes in the buffer (its guard, the protocol
 * log's framer), in order, before they may be written.  From the client
 * it may stop short (a line waiting for the backend's answer, a full ring
 * of commands waiting for theirs): the rest, and the client's reads, wait
 * until bytes from the backend let them go on.
 */
static void
relay_frame(struct relay *r, int from)
{
	struct session *s = r->s;
	struct relay_buf *b = &r->buf[from];

	if (b->framed >= b->len)
		return;
	if (!relay_reads(s)) {
		b->framed = b->len;
		return;
	}
	b->framed += relay_read_bytes(s, from == RELAY_CLIENT,
	    b->data + b->framed, b->len - b->framed);
	if (from == RELAY_CLIENT)
		r->stalled = b->framed < b->len;
	else if (r->stalled)
		relay_frame(r, RELAY_CLIENT);
}

static size_t
relay_direction(struct relay *r, int from, size_t budget)
{
	struct relay_side *src = &r->side[from], *dst = &r->side[!from];
	struct relay_buf *b = &r->buf[from];
	size_t total = 0;

	for (;;) {
		bool moved = false;
		size_t end;

		/* Answers may have made room for waiting commands. */
		relay_frame(r, from);
		end = b->framed;
		if (b->off < end && relay_can_write(dst)) {
			if (relay_write(dst, b, end) > 0)
				moved = true;
			if (b->off == b->len)
				b->off = b->len = b->framed = 0;
		}
		if (total < budget && relay_can_read(src) &&
		    !(from == RELAY_CLIENT && (r->closing || r->stalled)) &&
		    (b->len - b->off) < RELAY_BUF_SIZE) {
			size_t n;

			if (b->data == NULL &&
			    !relay_buf_reserve(r, b, RELAY_BUF_SIZE)) {
				src->error = true;
				break;
			}
			/* Full, and all but a quarter written: moving the
			 * rest to the front costs less than waiting for all
			 * of it to leave.  Moving more (half the buffer, as
			 * it once did) copied about half the bytes of a TLS
			 * bulk fetch a second time, and the reads that
			 * followed had half the room. */
			if (relay_buf_room(b) == 0 &&
			    b->len - b->off <= b->cap / 4) {
				memmove(b->data, b->data + b->off,
				    b->len - b->off);
				b->len -= b->off;
				b->framed -= b->off;
				b->off = 0;
			}
			if (relay_buf_room(b) > 0 &&
			    (n = relay_read(src, b)) > 0) {
				total += n;
				moved = true;
			}
		}
		if (!moved)
			break;
	}
	return total;
}

/* The backend is gone: what it sent still reaches the client. */
static void
relay_backend_gone(struct relay *r)
{
	struct session *s = r->s;
	struct relay_side *b = &r->side[RELAY_BACKEND];

	s->backend_eof = true;
	session_backend_gone(s, b->error);
}

/*
 * Moves bytes both ways, then acts on an end of either side.  The session
 * may be closed on return.
 */
static void
relay_pump(struct relay *r)
{
	struct session *s = r->s;
	size_t in, out, budget = RELAY_BUDGET;
	bool again = false;

	for (;;) {
		in = relay_direction(r, RELAY_CLIENT, budget);
		out = relay_direction(r, RELAY_BACKEND, budget);
		if (in == 0 && out == 0)
			break;
		s->bytes_in += in;
		s->bytes_out += out;
		stats_relayed(&s->stats, in, out);
		if (s->log != NULL && !r->framing)
			sesslog_proxy(s, in, out);
		session_touch(s);
		if (in + out >= budget) {
			/* Other sessions get their turn; the edges that
			 * were seen are remembered in the flags. */
			again = true;
			break;
		}
		budget -= in + out;
	}
	relay_buf_release(r, &r->buf[RELAY_CLIENT]);
	relay_buf_release(r, &r->buf[RELAY_BACKEND]);

	if (r->side[RELAY_CLIENT].error) {
		session_close(s, "client connection error");
		return;
	}
	if (!r->closing && relay_guard_ended(s))
		return;
	if (r->closing) {
		if (r->buf[RELAY_BACKEND].data == NULL) {
			session_close(s, NULL);
			return;
		}
	} else if (r->side[RELAY_BACKEND].eof || r->side[RELAY_BACKEND].error) {
		relay_backend_gone(r);
		return;
	} else if (r->side[RELAY_CLIENT].eof && !r->lingering) {
		/* The client's last bytes (a QUIT, say) still reach the
		 * backend, and the backend's answer still reaches a
		 * client that only shut down its sending side. */
		r->lingering = true;
		s->client_eof = true;
		session_set_timeout(s, RELAY_LINGER_MS);
	}
	/*
	 * Once the client's last bytes are out, the backend hears of the
	 * end as the client would have told it directly: it answers what
	 * it still has and closes, instead of holding its session until
	 * the linger time is over.
	 */
	if (r->lingering && !r->backend_shut &&
	    r->buf[RELAY_CLIENT].data == NULL) {
		struct relay_side *b = &r->side[RELAY_BACKEND];

		r->backend_shut = true;
		if (b->ssl != NULL) {
			ERR_clear_error();
			(void)SSL_shutdown(b->ssl);
			ERR_clear_error();
		} else if (b->fd != -1)
			(void)shutdown(b->fd, SHUT_WR);
	}
	if (again)
		event_active(r->side[RELAY_CLIENT].ev, 0, 1);
}

static void
relay_direct_cb(evutil_socket_t fd, short what, void *arg)
{
	struct relay_side *side = arg;

	(void)fd;
	if (what & EV_READ)
		side->readable = true;
	if (what & EV_WRITE)
		side->writable = true;
	if (what & EV_CLOSED)
		side->readable = side->peer_closed = true;
	relay_pump(side->r);
}

/*
 * Takes side i's socket from its conn (*cp, set to NULL once taken): the
 * registered event is taken over as it is (conn_handover()), with the SSL
 * if there is one: no epoll_ctl at the hand-over, and the edges the conn
 * saw while the login ran are kept.
 */
static void
relay_side_take(struct relay *r, int i, struct conn **cp)
{
	struct relay_side *side = &r->side[i];
	struct conn *c = *cp;

	side->r = r;
	side->goodbye = i == RELAY_CLIENT;
	side->conn = c;
	side->fd = conn_fd(c);
	side->ssl = conn_ssl(c);
	side->writable = true;
	side->ev = conn_handover(c, relay_direct_cb, side, &side->readable,
	    &side->peer_closed);
	*cp = NULL;
}

/* Switches s to the direct relay; -1 (nothing changed) when it cannot. */
static int
relay_direct_start(struct session *s)
{
	struct relay *r;
	size_t in, out;

	/* Plain conns have edges and early FINs (epoll's, the default on
	 * Linux); with another libevent backend the conns are bufferevents
	 * and the bufferevent pump serves. */
	if (s->client == NULL || s->backend == NULL ||
	    conn_bufferevent(s->client) != NULL ||
	    conn_bufferevent(s->backend) != NULL ||
	    (r = calloc(1, sizeof(*r))) == NULL)
		return -1;
	r->s = s;
	in = evbuffer_get_length(conn_input(s->client));
	out = evbuffer_get_length(conn_input(s->backend));
	/* What the buffers hold goes first: the login answer queued for the
	 * client, then whatever either side sent after the login.  A client
	 * that pipelined more than the buffer gets a larger one once. */
	if (!relay_buf_take(r, &r->buf[RELAY_BACKEND],
		conn_output(s->client)) ||
	    !relay_buf_take(r, &r->buf[RELAY_BACKEND],
		conn_input(s->backend)) ||
	    !relay_buf_take(r, &r->buf[RELAY_CLIENT],
		conn_output(s->backend)) ||
	    !relay_buf_take(r, &r->buf[RELAY_CLIENT], conn_input(s->client))) {
		/* Nothing was lost: a failed take leaves its source alone,
		 * and what moved goes back in order. */
		for (int i = 0; i < 2; i++) {
			struct relay_buf *b = &r->buf[i];
			struct evbuffer *to = conn_output(
			    i == RELAY_CLIENT ? s->backend : s->client);

			if (b->len > 0)
				evbuffer_prepend(to, b->data, b->len);
			relay_buf_drop(r, b);
		}
		free(r);
		return -1;
	}
	/* Relayed bytes, as the bufferevent pump would have counted. */
	s->bytes_in += in;
	s->bytes_out += out;
	stats_relayed(&s->stats, in, out);
	r->framing = s->log_framed;
	/* What postern itself queued (the login answer, its own commands
	 * to the backend) is not relayed: the reading starts after it, with
	 * the bytes either side sent after the login. */
	r->buf[RELAY_BACKEND].framed = r->buf[RELAY_BACKEND].len - out;
	r->buf[RELAY_CLIENT].framed = r->buf[RELAY_CLIENT].len - in;
	relay_frame(r, RELAY_CLIENT);
	relay_frame(r, RELAY_BACKEND);
	if (!r->framing && s->log != NULL && in + out > 0)
		sesslog_proxy(s, in, out);
	relay_side_take(r, RELAY_CLIENT, &s->client);
	relay_side_take(r, RELAY_BACKEND, &s->backend);
	s->relay = r;
	/* The first round runs from the loop, not inside the backend's
	 * callback that ended the login. */
	for (int i = 0; i < 2; i++)
		event_active(r->side[i].ev,
		    r->side[i].readable ? EV_READ | EV_WRITE : EV_WRITE, 1);
	return 0;
}

void
relay_client_write(struct session *s, const void *data, size_t len)
{
	struct relay *r = s->relay;
	struct relay_buf *b = &r->buf[RELAY_BACKEND];

	if (len == 0 || r->side[RELAY_CLIENT].fd == -1 ||
	    !relay_buf_reserve(r, b, len))
		return;
	memcpy(b->data + b->len, data, len);
	b->len += len;
	event_active(r->side[RELAY_CLIENT].ev, EV_WRITE, 1);
}

void
relay_close_after_flush(struct session *s)
{
	struct relay *r = s->relay;

	relay_side_close(&r->side[RELAY_BACKEND]);
	backend_close(s);
	r->closing = true;
	session_set_state(s, SESSION_CLOSING);
	/* Reads stop: the client's bytes have nowhere to go. */
	relay_buf_drop(r, &r->buf[RELAY_CLIENT]);
	if (r->buf[RELAY_BACKEND].data == NULL) {
		session_close(s, NULL);
		return;
	}
	session_set_timeout(s, RELAY_LINGER_MS);
	event_active(r->side[RELAY_CLIENT].ev, EV_WRITE, 1);
}

bool
relay_at_boundary(const struct session *s)
{
	const struct relay *r = s->relay;

	if (!relay_reads(s) || s->proto->relay_at_boundary == NULL)
		return false;
	/* Bytes received but not read yet would come before postern's. */
	if (r != NULL &&
	    r->buf[RELAY_BACKEND].framed < r->buf[RELAY_BACKEND].len)
		return false;
	return s->proto->relay_at_boundary(s);
}

void
relay_free(struct session *s)
{
	struct relay *r = s->relay;

	if (r == NULL)
		return;
	relay_side_close(&r->side[RELAY_CLIENT]);
	relay_side_close(&r->side[RELAY_BACKEND]);
	relay_buf_drop(r, &r->buf[RELAY_CLIENT]);
	relay_buf_drop(r, &r->buf[RELAY_BACKEND]);
	free(r);
	s->relay = NULL;
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
	session_set_timeout(s, s->pc->auth_timeout_ms);
	if (relay_direct_start(s) == 0)
		return;
	/* A plain client conn has no bufferevent for the pump below; it
	 * exists only where the direct pump can run, so only memory is
	 * short here. */
	if (relay_cbev(s) == NULL || relay_bbev(s) == NULL) {
		session_close(s, "out of memory");
		return;
	}
	bufferevent_setcb(relay_cbev(s), relay_client_read_cb, NULL,
	    relay_client_event_cb, s);
	bufferevent_setcb(relay_bbev(s), relay_backend_read_cb, NULL,
	    relay_backend_event_cb, s);
	bufferevent_enable(relay_cbev(s), EV_READ | EV_WRITE);
	bufferevent_enable(relay_bbev(s), EV_READ | EV_WRITE);
	/* Whatever either side sent during the login goes on now. */
	if (evbuffer_get_length(conn_input(s->client)) > 0)
		relay_client_read_cb(relay_cbev(s), s);
	if (s->backend != NULL &&
	    evbuffer_get_length(conn_input(s->backend)) > 0)
		relay_backend_read_cb(relay_bbev(s), s);
}
