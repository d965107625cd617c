/*
 * conn: a session's client socket before the relay (conn.h says the shape).
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <openssl/err.h>

#include "conn.h"
#include "tls.h"

/* Room asked of the input buffer for one recv(): pre-login lines are
 * short, and a larger read only costs a larger block. */
#define CONN_READ_SIZE 4096

/* Bytes read by one callback before other sessions get their turn. */
#define CONN_READ_BUDGET (64 * 1024)

/* Buffer pieces sent by one sendmsg(). */
#define CONN_IOV 16

/* Bytes given to one SSL_write(): a record's worth. */
#define CONN_TLS_CHUNK 16384

struct conn {
	struct bufferevent *bev; /* the bufferevent kind; NULL: plain */
	struct event ev;         /* the plain kind's one registration */
	evutil_socket_t fd;
	int connect_err; /* connect() said at once that it failed; after
			    the connect, the error of the last failed read */
	struct evbuffer *in;
	struct evbuffer *out;
	conn_data_cb readcb;
	conn_event_cb eventcb;
	conn_data_cb flushed; /* conn_flush()'s callback, pending */
	void *arg;
	event_callback_fn io_cb; /* the relay's, after conn_handover() */
	void *io_arg;
	/* A plain conn's TLS (conn_tls_start()), on the same registration,
	 * and the first OpenSSL error of its failure (conn_ssl_error()). */
	SSL *ssl;
	unsigned long ssl_err;
	bool reading;        /* conn_enable(EV_READ) */
	bool readable;       /* an edge came; no read found the socket empty */
	bool writable;       /* no write found the socket full since an edge */
	bool peer_closed;    /* the peer's FIN is in (EV_CLOSED) */
	bool trigger;        /* conn_trigger_read() */
	bool connecting;     /* conn_connect_new(): not yet connected */
	bool connect_ok;     /* ... and its edge said "writable" alone */
	bool error;          /* a read or write failed: to be reported */
	bool reported;       /* ... and it was */
	bool handshaking;    /* the TLS handshake is under way */
	bool hs_wants_write; /* ... and waits for room, not for bytes */
	bool read_wants_write; /* SSL_read() said WANT_WRITE */
	bool write_wants_read; /* SSL_write() said WANT_READ */
	bool tls_eof;          /* SSL_read() said the stream ended */
};

bool
conn_plain_supported(struct event_base *base)
{
	return (event_base_get_features(base) &
		   (EV_FEATURE_ET | EV_FEATURE_EARLY_CLOSE)) ==
	       (EV_FEATURE_ET | EV_FEATURE_EARLY_CLOSE);
}

/* Runs the conn's work from the loop, soon; no syscall. */
static void
conn_schedule(struct conn *c)
{
	event_active(&c->ev, 0, 1);
}

/*
 * Sends what is queued until the kernel takes no more.  A failure is
 * noted in c->error for the caller to report.
 */
static void conn_tls_send(struct conn *c);

static void
conn_send(struct conn *c)
{
	if (c->ssl != NULL) {
		conn_tls_send(c);
		return;
	}
	while (c->writable && !c->error) {
		struct evbuffer_iovec v[CONN_IOV];
		struct iovec iov[CONN_IOV];
		struct msghdr mh;
		size_t want = 0;
		ssize_t n;
		int k = evbuffer_peek(c->out, -1, NULL, v, CONN_IOV);

		if (k <= 0)
			return;
		if (k > CONN_IOV)
			k = CONN_IOV;
		for (int i = 0; i < k; i++) {
			iov[i].iov_base = v[i].iov_base;
			iov[i].iov_len = v[i].iov_len;
			want += v[i].iov_len;
		}
		memset(&mh, 0, sizeof(mh));
		mh.msg_iov = iov;
		mh.msg_iovlen = (size_t)k;
		do
			n = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
		while (n == -1 && errno == EINTR);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				c->writable = false;
			else
				c->error = true;
			return;
		}
		evbuffer_drain(c->out, (size_t)n);
		/* The kernel took less: its buffer is full, and the next
		 * room comes with an edge. */
		if ((size_t)n < want)
			c->writable = false;
	}
}

/*
 * TLS on a plain conn.  OpenSSL works on the socket through postern's
 * socket BIO (tls_sockbio_new()) and the conn's one registration stays:
 * an edge-triggered event says "readable" and "writable", and OpenSSL's
 * WANT_READ and WANT_WRITE say which of the two the next try waits for.
 * A read may have to write first (a post-handshake message) and a write
 * read first; the two *_wants_* flags say so.  Starting TLS costs no
 * epoll_ctl, and the relay takes the event over with the SSL
 * (conn_handover()), as it does a plain socket's.
 */

/* Whether the next read (or write) may go on now. */
static bool
conn_can_read(const struct conn *c)
{
	return c->read_wants_write ? c->writable : c->readable;
}

static bool
conn_can_write(const struct conn *c)
{
	return c->write_wants_read ? c->readable : c->writable;
}

/*
 * Keeps what OpenSSL said of a failure for conn_ssl_error(): the first
 * error of its queue, its cause; a system call's failure with nothing in
 * the queue is SSL_ERROR_SYSCALL itself (no library), as libevent's TLS
 * bufferevent says it.  One error, not the queue: every conn of every
 * idle session carries the room.
 */
static void
conn_tls_fail(struct conn *c, int err)
{
	unsigned long e = ERR_get_error();

	if (e == 0 && err == SSL_ERROR_SYSCALL)
		e = (unsigned long)err;
	if (c->ssl_err == 0)
		c->ssl_err = e;
	ERR_clear_error();
	c->error = true;
}

/* Sends what is queued through OpenSSL until the kernel takes no more. */
static void
conn_tls_send(struct conn *c)
{
	while (!c->handshaking && conn_can_write(c) && !c->error) {
		size_t len = evbuffer_get_length(c->out);
		unsigned char *p;
		int n, err;

		if (len == 0)
			return;
		/* The front of the queue, never shorter than a try that
		 * said WANT_WRITE: the queue only grows at its tail. */
		if (len > CONN_TLS_CHUNK)
			len = CONN_TLS_CHUNK;
		if ((p = evbuffer_pullup(c->out, (ev_ssize_t)len)) == NULL) {
			c->error = true;
			return;
		}
		ERR_clear_error();
		n = SSL_write(c->ssl, p, (int)len);
		if (n > 0) {
			c->write_wants_read = false;
			evbuffer_drain(c->out, (size_t)n);
			continue;
		}
		switch (err = SSL_get_error(c->ssl, n)) {
		case SSL_ERROR_WANT_WRITE:
			c->writable = false;
			c->write_wants_read = false;
			return;
		case SSL_ERROR_WANT_READ:
			c->readable = false;
			c->write_wants_read = true;
			return;
		default:
			conn_tls_fail(c, err);
			return;
		}
	}
}

/*
 * Sends data through OpenSSL at once when nothing waits before it; what
 * is left is queued.  Returns the bytes sent; a failure is noted in
 * c->error.
 */
static size_t
conn_tls_write_now(struct conn *c, const char *p, size_t len)
{
	size_t done = 0;

	if (c->handshaking || !conn_can_write(c) ||
	    evbuffer_get_length(c->out) > 0)
		return 0;
	while (done < len) {
		size_t want = len - done;
		int n, err;

		ERR_clear_error();
		n = SSL_write(c->ssl, p + done,
		    want > INT_MAX ? INT_MAX : (int)want);
		if (n > 0) {
			c->write_wants_read = false;
			done += (size_t)n;
			continue;
		}
		err = SSL_get_error(c->ssl, n);
		if (err == SSL_ERROR_WANT_WRITE)
			c->writable = false;
		else if (err == SSL_ERROR_WANT_READ) {
			c->readable = false;
			c->write_wants_read = true;
		} else
			conn_tls_fail(c, err);
		break;
	}
	return done;
}

/* Reads what OpenSSL has until the socket is empty or the budget spent. */
static size_t
conn_tls_read(struct conn *c, bool *eof)
{
	size_t total = 0;

	/* OpenSSL may not say it twice (a close without close_notify is
	 * a fatal error to it); the socket's end is, as for a plain read. */
	*eof = c->tls_eof;
	while (!c->tls_eof && total < CONN_READ_BUDGET) {
		struct evbuffer_iovec v;
		int n, err;

		if (evbuffer_reserve_space(c->in, CONN_READ_SIZE, &v, 1) < 1) {
			c->error = true;
			break;
		}
		ERR_clear_error();
		n = SSL_read(c->ssl, v.iov_base,
		    v.iov_len > INT_MAX ? INT_MAX : (int)v.iov_len);
		if (n > 0) {
			v.iov_len = (size_t)n;
			evbuffer_commit_space(c->in, &v, 1);
			total += (size_t)n;
			c->read_wants_write = false;
			continue;
		}
		evbuffer_commit_space(c->in, &v, 0);
		switch (err = SSL_get_error(c->ssl, n)) {
		case SSL_ERROR_WANT_READ:
			c->readable = false;
			c->read_wants_write = false;
			break;
		case SSL_ERROR_WANT_WRITE:
			c->writable = false;
			c->read_wants_write = true;
			break;
		default:
			if (tls_read_eof(err, n)) {
				*eof = c->tls_eof = true;
				ERR_clear_error();
			} else
				conn_tls_fail(c, err);
			break;
		}
		break;
	}
	return total;
}

/*
 * One step of the handshake, when the readiness it waits for is there:
 * CONN_CONNECTED once done (what was written meanwhile goes out first),
 * CONN_ERROR when it fails.  An end of the stream in the middle is a
 * failure too.  As conn_run(), it calls at most one callback, last.
 */
static void
conn_tls_handshake(struct conn *c)
{
	int n, err;

	if (c->hs_wants_write ? !c->writable : !c->readable)
		return;
	ERR_clear_error();
	n = SSL_do_handshake(c->ssl);
	if (n == 1) {
		c->handshaking = false;
		c->hs_wants_write = false;
		conn_tls_send(c);
		if (c->error) {
			c->reported = true;
			if (c->eventcb != NULL)
				c->eventcb(c, CONN_ERROR, c->arg);
			return;
		}
		/* A record that came with the handshake's last flight
		 * brings no edge of its own. */
		if (c->reading)
			conn_schedule(c);
		if (c->eventcb != NULL)
			c->eventcb(c, CONN_CONNECTED, c->arg);
		return;
	}
	switch (err = SSL_get_error(c->ssl, n)) {
	case SSL_ERROR_WANT_READ:
		c->readable = false;
		c->hs_wants_write = false;
		return;
	case SSL_ERROR_WANT_WRITE:
		c->writable = false;
		c->hs_wants_write = true;
		return;
	default:
		conn_tls_fail(c, err);
		c->reported = true;
		if (c->eventcb != NULL)
			c->eventcb(c, CONN_ERROR, c->arg);
		return;
	}
}

/*
 * Reads until the kernel has no more, the budget is spent, or the stream
 * ends.  Returns the bytes read; *eof says the peer ended it.
 */
static size_t
conn_read(struct conn *c, bool *eof)
{
	size_t total = 0;
	int err;

	if (c->ssl != NULL)
		return conn_tls_read(c, eof);
	*eof = false;
	while (total < CONN_READ_BUDGET) {
		struct evbuffer_iovec v;
		size_t room;
		ssize_t n;

		if (evbuffer_reserve_space(c->in, CONN_READ_SIZE, &v, 1) < 1) {
			c->error = true;
			break;
		}
		room = v.iov_len;
		do
			n = recv(c->fd, v.iov_base, room, 0);
		while (n == -1 && errno == EINTR);
		err = errno;
		if (n > 0) {
			v.iov_len = (size_t)n;
			evbuffer_commit_space(c->in, &v, 1);
			total += (size_t)n;
			/* A short read emptied the socket: the next bytes
			 * bring a new edge.  A FIN that came with them brings
			 * none, but epoll said so (EV_CLOSED), and the next
			 * read finds it. */
			if ((size_t)n < room && !c->peer_closed) {
				c->readable = false;
				break;
			}
			continue;
		}
		evbuffer_commit_space(c->in, &v, 0);
		if (n == 0)
			*eof = true;
		else if (err == EAGAIN || err == EWOULDBLOCK)
			c->readable = false;
		else {
			c->error = true;
			c->connect_err = err;
			errno = err;
		}
		break;
	}
	return total;
}

/*
 * The connect came to an end (an edge, or connect() said so at once):
 * CONN_CONNECTED once what was queued meanwhile (a PROXY header) is sent,
 * or CONN_ERROR with errno saying why.
 */
static void
conn_connect_end(struct conn *c)
{
	socklen_t len = sizeof(int);
	int err = c->connect_err;

	if (err == 0 && !c->writable)
		return; /* no edge yet */
	/* An edge that said "writable" alone is a connect that succeeded
	 * (conn_event_cb_()).  Readable too is either a failure or a
	 * greeting that came with the connect's edge: the read that would
	 * come next tells (a failed connect's error is what recv() returns),
	 * so that SO_ERROR is never asked, as nginx's mail proxy asks it
	 * not.  What was read waits for reading to start. */
	if (err == 0 && !c->connect_ok && c->readable) {
		bool eof;

		if (conn_read(c, &eof) > 0)
			c->trigger = true;
		if (eof)
			c->readable = true; /* the next read finds it again */
		if (c->error) {
			err = c->connect_err;
			c->error = false;
		}
	} else if (err == 0 && !c->connect_ok &&
		   getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		err = errno;
	c->connecting = false;
	event_remove_timer(&c->ev);
	if (err == 0) {
		conn_send(c);
		err = c->error ? errno : 0;
	}
	if (err != 0) {
		c->error = c->reported = true;
		if (c->eventcb != NULL) {
			errno = err;
			c->eventcb(c, CONN_ERROR, c->arg);
		}
		return;
	}
	/* The greeting may have come with the connect's edge. */
	if (c->readable || c->trigger || evbuffer_get_length(c->out) > 0)
		conn_schedule(c);
	if (c->eventcb != NULL)
		c->eventcb(c, CONN_CONNECTED, c->arg);
}

/*
 * One turn of a plain conn: send what is queued, report a failure, end a
 * flush, then read.  At most one callback is called, as the last thing
 * done, since it may free c; work left for later is scheduled first.
 */
static void
conn_run(struct conn *c)
{
	conn_data_cb done;
	size_t got;
	bool eof;

	if (c->connecting) {
		conn_connect_end(c);
		return;
	}
	if (c->handshaking && !c->error) {
		conn_tls_handshake(c);
		return;
	}
	if (conn_can_write(c) && evbuffer_get_length(c->out) > 0)
		conn_send(c);
	if (c->error) {
		if (c->reported || c->eventcb == NULL)
			return;
		c->reported = true;
		c->eventcb(c, CONN_ERROR, c->arg);
		return;
	}
	if (c->flushed != NULL) {
		if (evbuffer_get_length(c->out) > 0)
			return;
		done = c->flushed;
		c->flushed = NULL;
		done(c, c->arg);
		return;
	}
	if (!c->reading)
		return;
	if (c->trigger) {
		c->trigger = false;
		if (conn_can_read(c))
			conn_schedule(c);
		if (evbuffer_get_length(c->in) > 0 && c->readcb != NULL) {
			c->readcb(c, c->arg);
			return;
		}
	}
	if (!conn_can_read(c))
		return;
	got = conn_read(c, &eof);
	if (got > 0) {
		/* The end, a failure or the rest of the bytes are seen on
		 * the next turn, unless reading has paused by then. */
		if (eof || c->error || conn_can_read(c))
			conn_schedule(c);
		if (c->readcb != NULL)
			c->readcb(c, c->arg);
		return;
	}
	if (c->error) {
		c->reported = true;
		if (c->eventcb != NULL)
			c->eventcb(c, CONN_ERROR, c->arg);
		return;
	}
	if (eof && c->eventcb != NULL)
		c->eventcb(c, CONN_EOF, c->arg);
}

static void
conn_event_cb_(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	/* A failed connect comes as EPOLLERR, which libevent reports as
	 * readable and writable: an edge that says "writable" alone is a
	 * connect that succeeded.  Readable and writable together may be
	 * either (the greeting came with the connect's edge), and
	 * conn_connect_end()'s read says which. */
	if (c->connecting && (what & (EV_READ | EV_WRITE)) == EV_WRITE)
		c->connect_ok = true;
	if (what & EV_READ)
		c->readable = true;
	if (what & EV_WRITE)
		c->writable = true;
	if (what & EV_CLOSED)
		c->readable = c->peer_closed = true;
	if (c->io_cb != NULL) {
		c->io_cb(fd, what, c->io_arg);
		return;
	}
	if ((what & EV_TIMEOUT) && c->connecting) {
		c->connecting = false;
		event_remove_timer(&c->ev);
		c->error = c->reported = true;
		if (c->eventcb != NULL)
			c->eventcb(c, CONN_TIMEOUT, c->arg);
		return;
	}
	conn_run(c);
}

static void
conn_bev_read_cb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;

	(void)bev;
	if (c->readcb != NULL)
		c->readcb(c, c->arg);
}

static void
conn_bev_write_cb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	conn_data_cb done = c->flushed;

	if (done == NULL ||
	    evbuffer_get_length(bufferevent_get_output(bev)) > 0)
		return;
	c->flushed = NULL;
	done(c, c->arg);
}

static void
conn_bev_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;

	/* libevent timed the connect with the write timeout. */
	if (c->connecting && (what & BEV_EVENT_CONNECTED)) {
		c->connecting = false;
		bufferevent_set_timeouts(bev, NULL, NULL);
	}
	if (c->eventcb != NULL)
		c->eventcb(c, what, c->arg);
}

struct conn *
conn_bufferevent_new(struct bufferevent *bev)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->bev = bev;
	c->fd = -1;
	bufferevent_setcb(bev, conn_bev_read_cb, conn_bev_write_cb,
	    conn_bev_event_cb, c);
	return c;
}

/* A plain conn on fd, its event assigned; added by the caller. */
static struct conn *
conn_plain_new(struct event_base *base, evutil_socket_t fd)
{
	struct conn *c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->fd = fd;
	c->in = evbuffer_new();
	c->out = evbuffer_new();
	if (c->in == NULL || c->out == NULL ||
	    event_assign(&c->ev, base, fd,
		EV_READ | EV_WRITE | EV_CLOSED | EV_ET | EV_PERSIST,
		conn_event_cb_, c) == -1) {
		if (c->in != NULL)
			evbuffer_free(c->in);
		if (c->out != NULL)
			evbuffer_free(c->out);
		free(c);
		return NULL;
	}
	return c;
}

/* Frees a plain conn whose event was never added; fd stays open. */
static void
conn_plain_unmake(struct conn *c)
{
	evbuffer_free(c->in);
	evbuffer_free(c->out);
	free(c);
}

struct conn *
conn_connect_new(struct event_base *base, evutil_socket_t fd,
    const struct sockaddr *sa, socklen_t salen, unsigned timeout_ms)
{
	struct timeval tv;
	struct conn *c;
	int r;

	tv.tv_sec = (time_t)(timeout_ms / 1000);
	tv.tv_usec = (suseconds_t)(timeout_ms % 1000) * 1000;
	if (!conn_plain_supported(base)) {
		struct bufferevent *bev =
		    bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);

		if (bev == NULL) {
			errno = ENOMEM;
			return NULL;
		}
		if ((c = conn_bufferevent_new(bev)) == NULL) {
			bufferevent_setfd(bev, -1);
			bufferevent_free(bev);
			errno = ENOMEM;
			return NULL;
		}
		c->connecting = true;
		bufferevent_enable(bev, EV_READ | EV_WRITE);
		bufferevent_set_timeouts(bev, NULL, &tv);
		if (bufferevent_socket_connect(bev, sa, (int)salen) == -1) {
			r = errno;
			bufferevent_setfd(bev, -1);
			conn_free(c);
			errno = r;
			return NULL;
		}
		return c;
	}
	if ((c = conn_plain_new(base, fd)) == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	do
		r = connect(fd, sa, salen);
	while (r == -1 && errno == EINTR);
	/* A refusal that comes at once is reported from the loop, as a
	 * later one would be (as libevent does). */
	if (r == -1 && errno != EINPROGRESS && errno != ECONNREFUSED) {
		r = errno;
		conn_plain_unmake(c);
		errno = r;
		return NULL;
	}
	if (r == -1 && errno == ECONNREFUSED)
		c->connect_err = ECONNREFUSED;
	c->connecting = true;
	/* Registered after connect(), so that the first edge is the
	 * connect's own; the timeout bounds the connect only. */
	if (event_add(&c->ev, &tv) == -1) {
		conn_plain_unmake(c);
		errno = ENOMEM;
		return NULL;
	}
	if (r == 0 || c->connect_err != 0) {
		c->writable = c->connect_ok = r == 0;
		conn_schedule(c);
	}
	return c;
}

struct conn *
conn_socket_new(struct event_base *base, evutil_socket_t fd)
{
	struct conn *c;

	if (!conn_plain_supported(base)) {
		struct bufferevent *bev =
		    bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);

		if (bev == NULL)
			return NULL;
		if ((c = conn_bufferevent_new(bev)) == NULL) {
			/* The caller closes fd. */
			bufferevent_setfd(bev, -1);
			bufferevent_free(bev);
		}
		return c;
	}
	if ((c = conn_plain_new(base, fd)) == NULL)
		return NULL;
	if (event_add(&c->ev, NULL) == -1) {
		conn_plain_unmake(c);
		return NULL;
	}
	/* An accepted or connected socket has room: the first answer goes
	 * out without waiting for the edge that says so. */
	c->writable = true;
	return c;
}

static void
conn_plain_drop(struct conn *c)
{
	event_del(&c->ev);
	if (c->in != NULL)
		evbuffer_free(c->in);
	if (c->out != NULL)
		evbuffer_free(c->out);
}

void
conn_free(struct conn *c)
{
	if (c == NULL)
		return;
	if (c->bev != NULL)
		bufferevent_free(c->bev);
	else {
		conn_plain_drop(c);
		SSL_free(c->ssl);
		close(c->fd);
	}
	free(c);
}

void
conn_setcb(struct conn *c, conn_data_cb readcb, conn_event_cb eventcb,
    void *arg)
{
	c->readcb = readcb;
	c->eventcb = eventcb;
	c->arg = arg;
	if (c->bev != NULL)
		bufferevent_setcb(c->bev, conn_bev_read_cb, conn_bev_write_cb,
		    conn_bev_event_cb, c);
}

void
conn_enable(struct conn *c, short events)
{
	if (c->bev != NULL) {
		bufferevent_enable(c->bev, events);
		return;
	}
	if (!(events & EV_READ) || c->reading)
		return;
	c->reading = true;
	/* An edge that came while reading was paused is not repeated; what
	 * the connect's end read is in the buffer (trigger). */
	if (conn_can_read(c) || c->trigger)
		conn_schedule(c);
}

void
conn_disable(struct conn *c, short events)
{
	if (c->bev != NULL)
		bufferevent_disable(c->bev, events);
	else if (events & EV_READ)
		c->reading = false;
}

void
conn_trigger_read(struct conn *c)
{
	if (c->bev != NULL) {
		bufferevent_trigger(c->bev, EV_READ,
		    BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
		return;
	}
	c->trigger = true;
	conn_schedule(c);
}

struct evbuffer *
conn_input(struct conn *c)
{
	return c->bev != NULL ? bufferevent_get_input(c->bev) : c->in;
}

struct evbuffer *
conn_output(struct conn *c)
{
	return c->bev != NULL ? bufferevent_get_output(c->bev) : c->out;
}

size_t
conn_output_length(struct conn *c)
{
	return evbuffer_get_length(conn_output(c));
}

void
conn_write(struct conn *c, const void *data, size_t len)
{
	const char *p = data;
	ssize_t n;

	if (c->bev != NULL) {
		bufferevent_write(c->bev, data, len);
		return;
	}
	if (c->error || len == 0)
		return;
	if (c->ssl != NULL) {
		size_t sent = conn_tls_write_now(c, p, len);

		p += sent;
		len -= sent;
		if (c->error) {
			conn_schedule(c);
			return;
		}
		if (len == 0)
			return;
	} else if (c->writable && !c->connecting &&
		   evbuffer_get_length(c->out) == 0) {
		/* Sent at once when nothing waits before it, as nginx does:
		 * an answer costs one send() and no change to the
		 * registration. */
		do
			n = send(c->fd, p, len, MSG_NOSIGNAL);
		while (n == -1 && errno == EINTR);
		if (n == (ssize_t)len)
			return;
		if (n >= 0) {
			p += n;
			len -= (size_t)n;
			c->writable = false;
		} else if (errno == EAGAIN || errno == EWOULDBLOCK)
			c->writable = false;
		else {
			/* Reported from the loop: the caller goes on. */
			c->error = true;
			conn_schedule(c);
			return;
		}
	}
	if (evbuffer_add(c->out, p, len) == -1) {
		c->error = true;
		conn_schedule(c);
	}
}

void
conn_flush(struct conn *c, conn_data_cb done)
{
	c->flushed = done;
	if (c->bev != NULL) {
		bufferevent_disable(c->bev, EV_READ);
		bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
		bufferevent_setcb(c->bev, NULL, conn_bev_write_cb,
		    conn_bev_event_cb, c);
		bufferevent_enable(c->bev, EV_WRITE);
		if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
			bufferevent_trigger(c->bev, EV_WRITE,
			    BEV_TRIG_IGNORE_WATERMARKS |
				BEV_TRIG_DEFER_CALLBACKS);
		return;
	}
	c->reading = false;
	conn_schedule(c);
}

SSL *
conn_ssl(struct conn *c)
{
	return c->bev != NULL ? bufferevent_openssl_get_ssl(c->bev) : c->ssl;
}

unsigned long
conn_ssl_error(struct conn *c)
{
	unsigned long e;

	if (c->bev != NULL)
		return bufferevent_get_openssl_error(c->bev);
	e = c->ssl_err;
	c->ssl_err = 0;
	return e;
}

/*
 * The bufferevent kind: a TLS bufferevent takes the socket over from the
 * plain one.  Made first, so that a failure leaves the conn as it was
 * (libevent has freed ssl then).
 */
static int
conn_bev_tls_start(struct conn *c, SSL *ssl, bool server)
{
	struct bufferevent *bev;

	bev = bufferevent_openssl_socket_new(bufferevent_get_base(c->bev),
	    bufferevent_getfd(c->bev), ssl,
	    server ? BUFFEREVENT_SSL_ACCEPTING : BUFFEREVENT_SSL_CONNECTING,
	    BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL)
		return -1;
	/* A peer that closes without close_notify ends the stream: IMAP
	 * and POP3 frame their own data, so this is no truncation. */
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	bufferevent_setfd(c->bev, -1);
	bufferevent_free(c->bev);
	c->bev = bev;
	bufferevent_setcb(bev, conn_bev_read_cb, conn_bev_write_cb,
	    conn_bev_event_cb, c);
	return 0;
}

int
conn_tls_start(struct conn *c, SSL *ssl, bool server)
{
	BIO *bio;

	if (c->bev != NULL)
		return conn_bev_tls_start(c, ssl, server);
	if ((bio = tls_sockbio_new(c->fd)) == NULL) {
		SSL_free(ssl);
		return -1;
	}
	SSL_set_bio(ssl, bio, bio);
	if (server)
		SSL_set_accept_state(ssl);
	else
		SSL_set_connect_state(ssl);
	c->ssl = ssl;
	c->handshaking = true;
	/* A server waits for the ClientHello; a client sends its own. */
	c->hs_wants_write = !server;
	c->read_wants_write = c->write_wants_read = false;
	conn_schedule(c);
	return 0;
}

struct bufferevent *
conn_bufferevent(struct conn *c)
{
	return c->bev;
}

evutil_socket_t
conn_fd(const struct conn *c)
{
	return c->fd;
}

struct event *
conn_handover(struct conn *c, event_callback_fn cb, void *arg, bool *readable,
    bool *peer_closed)
{
	c->io_cb = cb;
	c->io_arg = arg;
	c->reading = false;
	c->flushed = NULL;
	c->readcb = NULL;
	c->eventcb = NULL;
	/* OpenSSL may hold a record it has read, which no edge announces. */
	*readable = c->readable || c->ssl != NULL;
	*peer_closed = c->peer_closed;
	/* The relay took what they held: an idle session keeps no buffer. */
	evbuffer_free(c->in);
	evbuffer_free(c->out);
	c->in = c->out = NULL;
	return &c->ev;
}
