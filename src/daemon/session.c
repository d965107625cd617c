/*
 * session: one client connection, from accept to close.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "addrset.h"
#include "backend.h"
#include "conn.h"
#include "connlimit.h"
#include "groups.h"
#include "linefmt.h"
#include "log.h"
#include "passthru.h"
#include "policy.h"
#include "proxyproto.h"
#include "relay.h"
#include "server.h"
#include "session.h"
#include "session_internal.h"
#include "sesslog.h"
#include "strcopy.h"
#include "tls.h"

/*
 * How long a connection from a trusted proxy may take to send its PROXY
 * header.  HAProxy sends it with the connection; a client that connects
 * from a trusted address without one (a health check, an administrator on
 * the balancer host) is served as itself after this wait.
 */
#define SESSION_PROXY_WAIT_MS 2000

/* The PROXY header read so far from a trusted proxy. */
struct proxy_wait {
	struct event *ev;
	size_t len;
	uint8_t buf[PROXYPROTO_MAX_HEADER];
};

static atomic_uint_fast64_t session_next_id = 1;

/* 2020-01-01T00:00:00Z: the session id's clock starts here. */
#define SESSION_ID_EPOCH_MS 1577836800000ULL

uint64_t
session_id_seed(uint64_t now_ms, uint32_t rnd)
{
	uint64_t ms =
	    now_ms > SESSION_ID_EPOCH_MS ? now_ms - SESSION_ID_EPOCH_MS : 0;

	return (ms << SESSION_ID_COUNT_BITS) |
	       (rnd & ((1U << (SESSION_ID_COUNT_BITS - 1)) - 1));
}

void
session_ids_init(void)
{
	struct timespec ts;
	uint32_t rnd = 0;

	clock_gettime(CLOCK_REALTIME, &ts);
	/* Without entropy the clock alone still orders restarts. */
	if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != sizeof(rnd))
		rnd = 0;
	atomic_store(&session_next_id,
	    session_id_seed((uint64_t)ts.tv_sec * 1000 +
				(uint64_t)ts.tv_nsec / 1000000,
		rnd));
}

static const char *const state_names[] = {
    [SESSION_PROXY] = "proxy",
    [SESSION_TLS_ACCEPT] = "tls-accept",
    [SESSION_PREAUTH] = "preauth",
    [SESSION_STARTTLS] = "starttls",
    [SESSION_BACKEND] = "backend",
    [SESSION_RELAY] = "relay",
    [SESSION_CLOSING] = "closing",
};

static void session_read_cb(struct conn *c, void *arg);
static void session_event_cb(struct conn *c, short what, void *arg);
static void session_start(struct session *s);
static void session_proxy_end(struct session *s);

struct blockcache *
session_cache(const struct session *s)
{
	return s->worker != NULL ? &s->worker->cache : NULL;
}

const char *
session_tag(const struct session *s)
{
	static _Thread_local char buf[128];

	snprintf(buf, sizeof(buf), "%s %016llX %s", s->proto->name,
	    (unsigned long long)s->id, s->peer.str);
	return buf;
}

void
session_set_state(struct session *s, enum session_state st)
{
	if (log_enabled(LOGLEVEL_DEBUG))
		log_debug("%s: %s -> %s", session_tag(s), state_names[s->state],
		    state_names[st]);
	s->state = st;
}

void
session_touch(struct session *s)
{
	event_base_gettimeofday_cached(s->worker->base, &s->last_active);
}

/*
 * The states before login in which a client, not the backend, is awaited:
 * pre_authenticated_total_timeout bounds them together.  The
 * idle timeout alone would let a client that sends a byte now and then
 * hold its connection (and a place in the limits) forever.
 */
static bool
session_before_login(const struct session *s)
{
	switch (s->state) {
	case SESSION_PROXY:
	case SESSION_TLS_ACCEPT:
	case SESSION_PREAUTH:
	case SESSION_STARTTLS:
		return true;
	case SESSION_BACKEND:
	case SESSION_RELAY:
	case SESSION_CLOSING:
		break;
	}
	return false;
}

/* Milliseconds from now to the login deadline; negative once past. */
static long long
session_login_left(const struct session *s, const struct timeval *now)
{
	struct timeval d;

	timersub(&s->login_deadline, now, &d);
	return (long long)d.tv_sec * 1000 + d.tv_usec / 1000;
}

static void
session_timer_arm(struct session *s, long long ms)
{
	struct timeval tv;

	if (ms < 0)
		ms = 0;
	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	evtimer_add(&s->timer, &tv);
}

/*
 * One timer per session, armed once per state: activity only records the
 * time, and the timer re-arms itself for the rest of the period when it
 * finds the session was active.  That keeps the relay's hot path free of
 * timer re-insertions.  Before login it also wakes for the login deadline.
 */
void
session_set_timeout(struct session *s, unsigned ms)
{
	long long left = ms;

	session_touch(s);
	s->timeout_ms = ms;
	if (session_before_login(s)) {
		long long l = session_login_left(s, &s->last_active);

		if (l < left)
			left = l;
	}
	session_timer_arm(s, left);
}

/* pre_authenticated_total_timeout has passed without a login. */
static void
session_login_time_up(struct session *s)
{
	sesslog_close_error(s, "PreAuthTimeLimit");
	if (s->state != SESSION_PREAUTH) {
		/* In a handshake or a PROXY header a line of the protocol
		 * would not be understood. */
		session_close(s, "no login within the total pre-login time");
		return;
	}
	s->proto->bye(s, BYE_LOGIN_TIME);
	session_close_after_flush(s, "no login within the total pre-login "
				     "time");
}

static void
session_timeout(struct session *s)
{
	switch (s->state) {
	case SESSION_PROXY:
		if (s->pw->len > 0) {
			sesslog_close_error(s, "InvalidProxyHeader");
			session_close(s, "incomplete PROXY protocol header");
			return;
		}
		session_proxy_end(s);
		session_start(s);
		return;
	case SESSION_PREAUTH:
		sesslog_close_error(s, "PreAuthTimeout");
		s->proto->bye(s, BYE_TIMEOUT);
		session_close_after_flush(s, "pre-auth timeout");
		return;
	case SESSION_BACKEND:
		if (s->backend_logout) {
			/* The client has its answer; the backend that does
			 * not hang up after the logout is simply dropped. */
			session_backend_logged_out(s);
			return;
		}
		sesslog_error(s, "ProxyTimeout");
		if (s->greq != NULL)
			backend_set_failure(s, BACKEND_FAILURE_TIMEOUT,
			    "the user's group lookup took longer than "
			    "backend_timeout (%u ms)",
			    s->pc->backend_timeout_ms);
		else
			backend_set_failure(s, BACKEND_FAILURE_TIMEOUT,
			    "no login within backend_timeout (%u ms)",
			    s->pc->backend_timeout_ms);
		session_backend_done(s, BACKEND_BROKEN);
		return;
	case SESSION_RELAY:
		sesslog_close_error(s, "IdleTimeout");
		session_goodbye(s, BYE_TIMEOUT, "authenticated idle timeout");
		return;
	case SESSION_TLS_ACCEPT:
	case SESSION_STARTTLS:
		sesslog_close_error(s, "TlsHandshakeTimeout");
		session_close(s, "TLS handshake timeout");
		return;
	case SESSION_CLOSING:
		session_close(s, "timeout while flushing the last answer");
		return;
	}
}

static void
session_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;
	struct timeval now, idle;
	long long idle_ms, left;

	(void)fd;
	(void)what;
	event_base_gettimeofday_cached(s->worker->base, &now);
	timersub(&now, &s->last_active, &idle);
	idle_ms = (long long)idle.tv_sec * 1000 + idle.tv_usec / 1000;
	left = (long long)s->timeout_ms - idle_ms;
	if (session_before_login(s)) {
		long long l = session_login_left(s, &now);

		if (l <= 0) {
			session_login_time_up(s);
			return;
		}
		if (left > 0 && l < left)
			left = l;
	}
	if (left > 0) {
		session_timer_arm(s, left);
		return;
	}
	session_timeout(s);
}

void
session_write(struct session *s, const void *data, size_t len)
{
	if (s->relay != NULL)
		relay_client_write(s, data, len);
	else if (s->client != NULL)
		conn_write(s->client, data, len);
	else
		return;
	if (s->log != NULL)
		sesslog_wrote(s, data, len);
}

void
session_printf(struct session *s, const char *fmt, ...)
{
	struct linefmt f;
	va_list ap;
	bool ok;

	if (s->client == NULL && s->relay == NULL)
		return;
	/* Formatted here rather than into the buffer, so that the protocol
	 * log sees the answer too. */
	va_start(ap, fmt);
	ok = linefmt_v(&f, fmt, ap);
	va_end(ap);
	if (!ok)
		return;
	session_write(s, f.p, f.len);
	linefmt_done(&f, false);
}

void
session_set_user(struct session *s, const char *name, size_t len)
{
	char *u = malloc(len + 1);

	if (u == NULL)
		return;
	/* Control bytes as '?', as session_printable() does. */
	for (size_t i = 0; i < len; i++)
		u[i] = iscntrl((unsigned char)name[i]) ? '?' : name[i];
	u[len] = '\0';
	free(s->user);
	s->user = u;
}

bool
session_tls_available(const struct session *s)
{
	return s->conf->server_ssl_ctx[s->proto->id] != NULL;
}

int
session_login_set(struct session *s, const char *user, size_t userlen,
    const char *pass, size_t passlen)
{
	struct session_login *l;

	/* Each value and its NUL must fit: the protocol modules check the
	 * lengths first, and the copy checks them again where it writes. */
	if (userlen >= sizeof(l->user) || passlen >= sizeof(l->pass))
		return -1;
	if ((l = calloc(1, sizeof(*l))) == NULL)
		return -1;
	memcpy(l->user, user, userlen);
	l->userlen = userlen;
	memcpy(l->pass, pass, passlen);
	l->passlen = passlen;
	session_login_clear(s);
	s->login = l;
	return 0;
}

void
session_login_clear(struct session *s)
{
	if (s->login != NULL) {
		explicit_bzero(s->login, sizeof(*s->login));
		free(s->login);
		s->login = NULL;
	}
}

/*
 * Cancels every answer that could still come for s: the group lookup, the
 * backend connection (its connect, TLS handshake and login dialogue) and
 * the wait for a PROXY header.  Both ways of closing start here, so that a
 * closing session takes no callback but those of its last flush: an answer
 * that came anyway would find the login's credentials gone and the
 * session's state no longer the one that asked.
 */
static void
session_cancel_pending(struct session *s)
{
	groups_cancel(s->greq);
	s->greq = NULL;
	session_proxy_end(s);
	if (s->throttle_wait != NULL) {
		event_free(s->throttle_wait);
		s->throttle_wait = NULL;
	}
	/* The relay lets go of the backend itself, its event before the
	 * socket. */
	if (s->relay == NULL)
		backend_close(s);
}

size_t
session_summary_value(char *dst, size_t cap, const char *src)
{
	size_t n = 0;
	bool quote = *src == '\0' || strpbrk(src, " \"=;") != NULL;

	if (cap == 0)
		return 0;
	/* Room for both quotes and the NUL; a value cut short keeps its
	 * closing quote, so that the fields after it still parse. */
	if (quote && cap >= 3)
		dst[n++] = '"';
	for (; *src != '\0' && n + (quote ? 2 : 1) < cap; src++)
		dst[n++] = *src == '"' ? '?' : *src;
	if (quote && n > 0)
		dst[n++] = '"';
	dst[n] = '\0';
	return n;
}

/*
 * The one line a session leaves at its end, as Dovecot's "Disconnected":
 * why, then key=value fields that fail2ban and grep can pick out, each
 * "-" where it does not apply (no login yet, no TLS, no backend).  Only
 * the user name comes from the client; it is quoted when it holds a
 * space, '"', '=' or ';', and the log escapes the rest on its way out.
 */
static void
session_summary(struct session *s, const char *verb, const char *reason)
{
	char user[SASL_USER_MAX + 3], mech[64], backend[300];
	struct timeval now, d;
	const struct backend_addr *a = backend_current(s);

	s->summarized = true;
	/* Every session ends here: nothing is formatted for a line that
	 * the log level drops. */
	if (!log_enabled(LOGLEVEL_INFO))
		return;
	if (s->user != NULL)
		session_summary_value(user, sizeof(user), s->user);
	else
		snprintf(user, sizeof(user), "-");
	if (s->mech == NULL)
		snprintf(mech, sizeof(mech), "-");
	else if (s->mech_sasl)
		snprintf(mech, sizeof(mech), "%s:%s",
		    s->proto->login_ops->auth_name, s->mech);
	else
		snprintf(mech, sizeof(mech), "%s", s->mech);
	if (!s->backend_tried || a == NULL)
		snprintf(backend, sizeof(backend), "-");
	else
		backend_addr_str(a, backend, sizeof(backend));
	event_base_gettimeofday_cached(s->worker->base, &now);
	timersub(&now, &s->started, &d);
	if (d.tv_sec < 0)
		d.tv_sec = d.tv_usec = 0;
	log_info("%s: %s: %s; user=%s client=%s proto=%s tls=%s backend=%s "
		 "mech=%s duration=%lld.%03lds in=%llu out=%llu",
	    session_tag(s), verb, reason, user, s->peer.str, s->proto->name,
	    s->tls_version != NULL ? s->tls_version : "-", backend, mech,
	    (long long)d.tv_sec, (long)(d.tv_usec / 1000),
	    (unsigned long long)s->bytes_in, (unsigned long long)s->bytes_out);
}

void
session_close(struct session *s, const char *reason)
{
	/* After a "closing" summary, only why the flush ended. */
	if (reason != NULL && s->summarized && log_enabled(LOGLEVEL_INFO))
		log_info("%s: closed: %s", session_tag(s), reason);
	else if (reason != NULL)
		session_summary(s, "closed", reason);
	/* A handshake that ends with the session (an error, the client's
	 * close, a time-out) failed. */
	if (s->state == SESSION_TLS_ACCEPT || s->state == SESSION_STARTTLS)
		stats_tls_done(&s->stats, s->state == SESSION_TLS_ACCEPT,
		    false);
	stats_session_close(&s->stats);
	sesslog_close(s);
	evtimer_del(&s->timer);
	relay_free(s);
	session_cancel_pending(s);
	if (s->client != NULL) {
		SSL *ssl = conn_ssl(s->client);

		/* A close_notify, so that the client can tell an orderly end
		 * from a truncation; one try, never waited for. */
		if (ssl != NULL && SSL_is_init_finished(ssl))
			SSL_shutdown(ssl);
		conn_free(s->client);
	}
	if (s->fd != -1)
		close(s->fd);
	backend_release(s);
	if (s->user_counted)
		connlimit_release_user(s->proto->id, s->user);
	if (s->ip_counted)
		connlimit_release_ip(s->proto->id,
		    (struct sockaddr *)&s->peer.sa, s->pc->ipv6_prefix_length);
	session_login_clear(s);
	passthru_free(s);
	if (s->proto->free != NULL)
		s->proto->free(s);
	free(s->user);
	free(s->tcp_peer);
	free(s->policy_err);
	free(s->backend_why);
	TAILQ_REMOVE(&s->worker->sessions, s, entry);
	server_session_gone(s->worker);
	conf_unref(s->conf);
	blockcache_put(&s->worker->cache, s, s->proto->session_size);
}

static void
session_flushed_cb(struct conn *c, void *arg)
{
	struct session *s = arg;

	(void)c;
	session_close(s, NULL);
}

void
session_goodbye(struct session *s, enum bye_reason reason, const char *why)
{
	/* A probe has nobody to tell. */
	if (s->probe) {
		session_close(s, NULL);
		return;
	}
	/* Inside a relayed answer the goodbye would become part of it (a
	 * client would store a message with postern's line in the middle);
	 * an answer cut without a word is at least seen as cut. */
	if (s->state != SESSION_RELAY || relay_at_boundary(s))
		s->proto->bye(s, reason);
	session_close_after_flush(s, why);
}

static void
session_flush_event_cb(struct conn *c, short what, void *arg)
{
	(void)c;
	(void)what;
	session_close(arg, NULL);
}

void
session_close_after_flush(struct session *s, const char *reason)
{
	if (reason != NULL)
		session_summary(s, "closing", reason);
	/* The answer that ends the session is queued: its row is done. */
	sesslog_end(s);
	session_cancel_pending(s);
	session_login_clear(s);
	if (s->relay != NULL) {
		relay_close_after_flush(s);
		return;
	}
	if (s->client == NULL) {
		session_close(s, NULL);
		return;
	}
	/* Even with nothing left to send (a plain conn sends at once), the
	 * close comes from the loop: the caller, deep in a command's
	 * handling, may still write its protocol's state after the answer
	 * that ended the session. */
	session_set_state(s, SESSION_CLOSING);
	conn_setcb(s->client, NULL, session_flush_event_cb, s);
	conn_flush(s->client, session_flushed_cb);
	session_set_timeout(s, SESSION_FLUSH_MS);
}

void
session_backend_gone(struct session *s, bool error)
{
	const char *reason;

	if (error) {
		sesslog_close_error(s, "BackendConnectionLost");
		reason = "backend connection error";
	} else if (s->client_logout) {
		sesslog_close_msg(s, "ClientLogout");
		reason = "client logged out";
	} else if (s->client_eof) {
		/* The relay passed the client's end on, and the backend
		 * closed in turn. */
		sesslog_close_msg(s, "ClientDisconnected");
		reason = "client closed the connection";
	} else {
		sesslog_close_msg(s, "BackendClosed");
		reason = "backend closed the connection";
	}
	session_close_after_flush(s, reason);
}

int
session_bad_command(struct session *s)
{
	if (++s->bad_commands < s->pc->max_bad_commands)
		return 0;
	sesslog_close_error(s, "TooManyBadCommands");
	s->proto->bye(s, BYE_TOO_MANY_ERRORS);
	session_close_after_flush(s, "too many bad commands");
	return -1;
}

static void
session_greet(struct session *s)
{
	session_set_state(s, SESSION_PREAUTH);
	conn_setcb(s->client, session_read_cb, session_event_cb, s);
	if (s->disabled) {
		/* Its ports stay open until a restart: a client hears why
		 * instead of a bare close it would retry at once. */
		sesslog_opened(s);
		s->proto->bye(s, BYE_DISABLED);
		session_close_after_flush(s, "protocol disabled");
		return;
	}
	if (s->denied) {
		/* The protocol's goodbye instead of its greeting, before
		 * the client could send a password. */
		sesslog_opened(s);
		s->proto->bye(s, BYE_DENIED);
		session_close_after_flush(s, "refused by an access rule");
		return;
	}
	s->proto->greet(s);
	sesslog_opened(s);
	conn_enable(s->client, EV_READ | EV_WRITE);
	session_set_timeout(s, s->pc->pre_auth_timeout_ms);
}

/*
 * A PROXY header where none is expected: from an address not in
 * trusted_proxies, or a second one.  Believing it would let anyone choose
 * the address that limits, rules and logs see.
 */
static bool
session_unexpected_proxy_header(struct session *s)
{
	static const uint8_t v2sig[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
	    0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};
	struct evbuffer *in = conn_input(s->client);
	size_t len = evbuffer_get_length(in);
	const uint8_t *p;

	if (len < 6)
		return false;
	p = evbuffer_pullup(in, len < 12 ? (ev_ssize_t)len : 12);
	if (memcmp(p, "PROXY ", 6) != 0 &&
	    memcmp(p, v2sig, len < 12 ? len : 12) != 0)
		return false;
	log_warnx("%s: PROXY protocol header from an address that is not in "
		  "trusted_proxies",
	    session_tag(s));
	sesslog_close_error(s, "UntrustedProxyHeader");
	session_close(s, "untrusted PROXY protocol header");
	return true;
}

static void
session_read_cb(struct conn *c, void *arg)
{
	struct session *s = arg;

	(void)c;
	session_touch(s);
	if (!s->saw_input) {
		s->saw_input = true;
		if (session_unexpected_proxy_header(s))
			return;
	}
	/* A relayed SASL exchange reads its own lines (passthru.h). */
	if (passthru_client_turn(s))
		passthru_client_input(s);
	else if (s->state == SESSION_PREAUTH && s->pt == NULL)
		s->proto->client_input(s);
}

static void
session_log_tls_error(struct session *s, const char *what)
{
	unsigned long e;
	char buf[256];

	while ((e = conn_ssl_error(s->client)) != 0) {
		ERR_error_string_n(e, buf, sizeof(buf));
		log_info("%s: %s: %s", session_tag(s), what, buf);
	}
}

static void
session_event_cb(struct conn *c, short what, void *arg)
{
	struct session *s = arg;

	(void)c;
	if (what & CONN_CONNECTED) {
		SSL *ssl = conn_ssl(s->client);

		s->tls_version = tls_version(ssl);
		sesslog_tls(s, s->tls_version);
		stats_tls_done(&s->stats, s->state == SESSION_TLS_ACCEPT, true);
		if (s->state == SESSION_TLS_ACCEPT) {
			s->tls = SESSION_TLS_IMPLICIT;
			log_debug("%s: TLS %s", session_tag(s),
			    tls_version(ssl));
			session_greet(s);
		} else if (s->state == SESSION_STARTTLS) {
			s->tls = SESSION_TLS_STARTTLS;
			log_debug("%s: STARTTLS %s", session_tag(s),
			    tls_version(ssl));
			s->proto->tls_reset(s);
			session_set_state(s, SESSION_PREAUTH);
			conn_enable(s->client, EV_READ | EV_WRITE);
			session_set_timeout(s, s->pc->pre_auth_timeout_ms);
		}
		return;
	}
	if (what & CONN_ERROR) {
		if (s->state == SESSION_TLS_ACCEPT ||
		    s->state == SESSION_STARTTLS) {
			session_log_tls_error(s, "TLS handshake failed");
			sesslog_close_error(s, "TlsHandshakeFailed");
			session_close(s, "TLS handshake failed");
		} else
			session_close(s, "client connection error");
		return;
	}
	if (what & CONN_EOF) {
		session_close(s, "client closed the connection");
		return;
	}
}

/*
 * Puts the client's conn under TLS, postern being the server, read
 * through the session's callbacks (not yet enabled): the same socket and
 * registration, cleartext before it or not (conn.h).  Returns -1 after
 * closing the session; no_ssl is the daemon log's reason when no TLS
 * session can be made.
 */
static int
session_tls_accept(struct session *s, const char *no_ssl)
{
	SSL *ssl = tls_server_new(s->conf, s->proto->id);

	if (ssl == NULL) {
		session_close(s, no_ssl);
		return -1;
	}
	/* The conn owns ssl from here on, even if this fails. */
	if (conn_tls_start(s->client, ssl, true) == -1) {
		session_close(s, "cannot start TLS");
		return -1;
	}
	conn_setcb(s->client, session_read_cb, session_event_cb, s);
	return 0;
}

/* The "go ahead" answer has left: switch the socket to TLS. */
static void
session_starttls_flushed_cb(struct conn *c, void *arg)
{
	struct session *s = arg;

	(void)c;
	if (session_tls_accept(s, "cannot create a TLS session") == -1)
		return;
	conn_enable(s->client, EV_READ | EV_WRITE);
}

int
session_starttls(struct session *s, const char *ref)
{
	const struct session_login_ops *ops = s->proto->login_ops;
	size_t after = evbuffer_get_length(conn_input(s->client));
	char why[64];

	if (s->tls != SESSION_TLS_NONE || !session_tls_available(s)) {
		ops->starttls_refused(s, ref, s->tls != SESSION_TLS_NONE);
		return session_bad_command(s);
	}
	/* Bytes after the command were sent before the client could have
	 * seen the go-ahead: commands injected by a man in the middle,
	 * which would run inside the TLS session (CVE-2011-0411). */
	if (after > 0) {
		log_warnx("%s: %s injection attempt: %zu bytes after %s",
		    session_tag(s), ops->starttls_name, after,
		    ops->starttls_name);
		sesslog_error(s, "StartTlsInjection");
		sesslog_close_error(s, "StartTlsInjection");
		snprintf(why, sizeof(why), "%s command injection",
		    ops->starttls_name);
		session_close(s, why);
		return -1;
	}
	ops->starttls_go_ahead(s, ref);
	session_set_state(s, SESSION_STARTTLS);
	/* Nothing more is read in cleartext: the next bytes the client
	 * sends must be its TLS ClientHello, read by OpenSSL. */
	conn_setcb(s->client, NULL, session_event_cb, s);
	conn_flush(s->client, session_starttls_flushed_cb);
	return 0;
}

void
session_policy_reason(struct session *s, const char *msg)
{
	free(s->policy_err);
	s->policy_err = msg[0] != '\0' ? strdup(msg) : NULL;
	if (s->policy_err != NULL)
		sesslog_error(s, s->policy_err);
}

/*
 * The access rules that need no user, decided before the greeting.
 * Returns false when the client is refused; it then gets the protocol's
 * goodbye instead of the greeting (after the handshake on implicit TLS).
 */
static bool
session_policy_connect(struct session *s)
{
	struct policy_facts f = {
	    .proto = s->proto->id,
	    .client = (struct sockaddr *)&s->peer.sa,
	    .tls = s->implicit_tls,
	};
	struct policy_decision d;
	char msg[256];

	if (policy_connect(s->conf, &f, &d) != POLICY_OUTCOME_DENY)
		return true;
	policy_errmsg(&d, msg, sizeof(msg));
	log_notice("%s: refused at connect: %s", session_tag(s), msg);
	stats_conn_refused(&s->stats, STATS_CONN_RULE, d.name);
	session_policy_reason(s, msg);
	sesslog_close_error(s, s->policy_err);
	return false;
}

/* The connection's client is known: limits, then TLS or the greeting. */
static void
session_start(struct session *s)
{
	struct worker *w = s->worker;
	enum connlimit_result r;
	evutil_socket_t fd = s->fd;

	r = connlimit_acquire_ip(s->proto->id, (struct sockaddr *)&s->peer.sa,
	    s->pc->ipv6_prefix_length, s->pc->max_connections,
	    s->pc->max_connection_from_single_ip);
	s->ip_counted = r == CONNLIMIT_OK;
	if (r != CONNLIMIT_OK) {
		stats_conn_limit(&s->stats, r == CONNLIMIT_TOTAL);
		sesslog_close_error(s, "ConnectionLimitReached");
		log_notice("%s: refused: %s reached", session_tag(s),
		    r == CONNLIMIT_TOTAL ? "max_connections" :
					   "max_connection_from_single_ip");
		/* Saying so over implicit TLS would cost a handshake per
		 * refused connection, the opposite of what a limit is for. */
		if (s->implicit_tls) {
			session_close(s, NULL);
			return;
		}
		s->client = conn_socket_new(w->base, fd);
		if (s->client == NULL) {
			session_close(s, NULL);
			return;
		}
		s->fd = -1;
		s->proto->bye(s, BYE_TOO_MANY_CONN);
		session_close_after_flush(s, NULL);
		return;
	}
	log_debug("%s: connected to %s", session_tag(s), s->local.str);
	s->denied = !session_policy_connect(s);

	/* The snapshot holds TLS contexts for enabled protocols only: a
	 * disabled one cannot say why over implicit TLS. */
	if (s->implicit_tls && s->disabled) {
		session_close(s, "protocol disabled");
		return;
	}
	/* One registration from here to the close (conn.h), TLS or not:
	 * the relay takes it over after the login. */
	s->client = conn_socket_new(w->base, fd);
	if (s->client == NULL) {
		session_close(s, "out of memory");
		return;
	}
	s->fd = -1;
	if (s->implicit_tls) {
		if (session_tls_accept(s, "no TLS context") == -1)
			return;
		session_set_state(s, SESSION_TLS_ACCEPT);
		conn_enable(s->client, EV_READ | EV_WRITE);
		session_set_timeout(s, s->pc->pre_auth_timeout_ms);
		return;
	}
	session_greet(s);
}

static void
session_proxy_end(struct session *s)
{
	if (s->pw != NULL) {
		event_free(s->pw->ev);
		free(s->pw);
		s->pw = NULL;
	}
}

/* Takes what a complete header says about the client. */
static int
session_proxy_apply(struct session *s, const struct proxyproto_result *res)
{
	if (res->local) {
		/* A health check of the proxy itself, or a family postern
		 * does not route: the TCP peer stays the client. */
		log_debug("%s: PROXY v%d header without a client address",
		    session_tag(s), res->version);
		return 0;
	}
	if ((s->tcp_peer = malloc(sizeof(*s->tcp_peer))) == NULL)
		return -1;
	*s->tcp_peer = s->peer;
	netaddr_set(&s->peer, (const struct sockaddr *)&res->src,
	    res->src.ss_family == AF_INET ? sizeof(struct sockaddr_in) :
					    sizeof(struct sockaddr_in6));
	netaddr_set(&s->local, (const struct sockaddr *)&res->dst,
	    res->dst.ss_family == AF_INET ? sizeof(struct sockaddr_in) :
					    sizeof(struct sockaddr_in6));
	log_debug("%s: PROXY v%d header from %s", session_tag(s), res->version,
	    s->tcp_peer->str);
	return 0;
}

/*
 * Reads a trusted proxy's header without taking a byte beyond it: what
 * follows belongs to TLS or to the protocol.  Bytes are peeked, and only
 * those that are certainly part of the header are read.
 */
static void
session_proxy_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;
	struct proxy_wait *pw = s->pw;
	struct proxyproto_result res;
	size_t total, take;
	bool done = false;
	ssize_t n;

	(void)what;
	n = recv(fd, pw->buf + pw->len, sizeof(pw->buf) - pw->len, MSG_PEEK);
	if (n == 0) {
		session_close(s, "the client closed the connection before "
				 "its PROXY header");
		return;
	}
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return;
		session_close(s, "client connection error");
		return;
	}
	total = pw->len + (size_t)n;
	switch (proxyproto_parse(pw->buf, total, &res)) {
	case PROXYPROTO_NEED_MORE:
		take = (size_t)n;
		break;
	case PROXYPROTO_DONE:
		take = res.consumed - pw->len;
		done = true;
		break;
	case PROXYPROTO_INVALID:
	default:
		if (pw->len == 0 && res.error == PROXYPROTO_ERR_SIGNATURE) {
			/* No header: the trusted host is the client. */
			session_proxy_end(s);
			session_start(s);
			return;
		}
		log_warnx("%s: invalid PROXY protocol header: %s",
		    session_tag(s), proxyproto_strerror(res.error));
		sesslog_close_error(s, "InvalidProxyHeader");
		session_close(s, "invalid PROXY protocol header");
		return;
	}
	/* The bytes were peeked, so they are there to be read. */
	if (recv(fd, pw->buf + pw->len, take, 0) != (ssize_t)take) {
		session_close(s, "client connection error");
		return;
	}
	pw->len += take;
	if (!done)
		return;
	session_proxy_end(s);
	if (session_proxy_apply(s, &res) == -1) {
		session_close(s, "out of memory");
		return;
	}
	session_start(s);
}

static void
session_proxy_wait(struct session *s)
{
	if ((s->pw = calloc(1, sizeof(*s->pw))) == NULL ||
	    (s->pw->ev = event_new(s->worker->base, s->fd, EV_READ | EV_PERSIST,
		 session_proxy_read_cb, s)) == NULL) {
		free(s->pw);
		s->pw = NULL;
		session_close(s, "out of memory");
		return;
	}
	session_set_state(s, SESSION_PROXY);
	event_add(s->pw->ev, NULL);
	session_set_timeout(s, SESSION_PROXY_WAIT_MS);
}

/*
 * A new session of protocol p on w under snapshot c (whose reference it
 * takes), in the worker's list; NULL when out of memory (c is then
 * released).
 */
static struct session *
session_new(struct worker *w, const struct proto *p, struct conf *c)
{
	struct session *s;

	if ((s = blockcache_get(&w->cache, p->session_size)) == NULL) {
		conf_unref(c);
		return NULL;
	}
	memset(s, 0, p->session_size);
	s->worker = w;
	s->proto = p;
	s->conf = c;
	s->pc = &c->proto[p->id];
	s->id = atomic_fetch_add(&session_next_id, 1);
	s->fd = -1;
	s->disabled = !c->proto[p->id].enabled;
	s->state = SESSION_PREAUTH;
	evtimer_assign(&s->timer, w->base, session_timer_cb, s);
	event_base_gettimeofday_cached(w->base, &s->started);
	server_session_add(w, s);
	return s;
}

void
session_accept(struct worker *w, enum proto_id proto, bool implicit_tls,
    evutil_socket_t fd, const struct sockaddr *peer, socklen_t peerlen,
    const struct netaddr *local)
{
	const struct proto *p = proto_get(proto);
	struct sockaddr_storage sa;
	socklen_t salen = sizeof(sa);
	struct conf *c;
	struct session *s;

	c = server_conf(w);
	if (p == NULL) {
		conf_unref(c);
		close(fd);
		return;
	}
	if ((s = session_new(w, p, c)) == NULL) {
		log_warnx("out of memory: connection refused");
		close(fd);
		return;
	}
	s->fd = fd;
	s->implicit_tls = implicit_tls;
	netaddr_set(&s->peer, peer, peerlen);
	if (local != NULL)
		s->local = *local;
	else if (getsockname(fd, (struct sockaddr *)&sa, &salen) == 0)
		netaddr_set(&s->local, (struct sockaddr *)&sa, salen);
	s->login_deadline = s->started;
	s->login_deadline.tv_sec += s->pc->pre_auth_total_ms / 1000;
	s->login_deadline.tv_usec += (s->pc->pre_auth_total_ms % 1000) * 1000;
	if (s->login_deadline.tv_usec >= 1000000) {
		s->login_deadline.tv_sec++;
		s->login_deadline.tv_usec -= 1000000;
	}
	stats_session_open(&s->stats, w, s->proto->id);
	sesslog_init(s);

	if (c->trusted_proxies != NULL && addrset_contains(c->trusted_proxies,
					      (struct sockaddr *)&s->peer.sa))
		session_proxy_wait(s);
	else
		session_start(s);
}

void
session_probe(struct worker *w, enum proto_id proto)
{
	const struct proto *p = proto_get(proto);
	struct conf *c = server_conf(w);
	const struct backend *b;
	struct session *s;

	b = p != NULL ? c->routing.defaults[proto] : NULL;
	if (b == NULL || !c->proto[proto].enabled ||
	    c->proto[proto].passthru_mechs == 0) {
		conf_unref(c);
		return;
	}
	if ((s = session_new(w, p, c)) == NULL) {
		log_warnx("out of memory: %s backend %s not asked for its SASL "
			  "mechanisms",
		    proto_name(proto), b->name);
		return;
	}
	/* Neither counted nor logged as a client's session: its only
	 * line is the one that says what it learned. */
	s->probe = true;
	str_copy(s->peer.str, sizeof(s->peer.str), "probe");
	s->route.backend = b;
	session_set_state(s, SESSION_BACKEND);
	session_set_timeout(s, s->pc->backend_timeout_ms);
	if (backend_connect(s) == -1)
		session_backend_done(s, BACKEND_BROKEN);
}
