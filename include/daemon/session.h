/*
 * session: one client connection, from accept to close.
 *
 * The session owns the client socket, the backend socket once there is one,
 * the timer, the configuration snapshot it started with and its places in
 * the connection counters.  It takes the login steps that are the same
 * for every protocol (the login type, the credential hand-off, STARTTLS),
 * with the protocol's words (struct session_login_ops).  Everything that
 * ends a session goes through session_close(); a callback returns right
 * after calling it.
 *
 * One kind has no client: a probe (session_probe()) that goes through the
 * protocol's login dialogue with the default backend only to learn what
 * it offers, then logs out.  Its client is NULL and its probe flag set;
 * the steps that would answer a client (session_goodbye(), the end of the
 * backend login) close it instead.
 */
#ifndef POSTERN_SESSION_H
#define POSTERN_SESSION_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/event.h>
#include <event2/event_struct.h>
#include <event2/util.h>

#include "backend.h"
#include "conf.h"
#include "netaddr.h"
#include "proto.h"
#include "routing.h"
#include "sasl.h"
#include "stats.h"

struct bufferevent;
struct conn;
struct groups_req;
struct passthru;
struct proxy_wait;
struct relay;
struct sesslog;
struct worker;

/* Where a session is in its life; changed only by session_set_state(). */
enum session_state {
	SESSION_PROXY,      /* reading a trusted proxy's PROXY header */
	SESSION_TLS_ACCEPT, /* implicit TLS handshake before the greeting */
	SESSION_PREAUTH,    /* greeting sent, reading pre-auth commands */
	SESSION_STARTTLS,   /* STLS/STARTTLS answered, client handshake */
	SESSION_BACKEND,    /* logging in to the backend */
	SESSION_RELAY,      /* relaying both ways */
	SESSION_CLOSING     /* flushing a last answer, then closing */
};

/* The TLS state of the client connection. */
enum session_tls {
	SESSION_TLS_NONE,
	SESSION_TLS_STARTTLS,
	SESSION_TLS_IMPLICIT
};

/* Credentials held between the client's login and the backend's answer. */
struct session_login {
	char user[SASL_USER_MAX + 1];
	char pass[SASL_PASS_MAX + 1];
	size_t userlen;
	size_t passlen;
};

/*
 * A client connection; protocol modules embed it as their first member.
 * Held by every open session, idle ones included: the flags are kept
 * together at the end, so that padding costs no room.
 */
struct session {
	TAILQ_ENTRY(session) entry; /* in the worker's list */
	struct worker *worker;
	const struct proto *proto;
	struct conf *conf; /* the snapshot this session started with */
	const struct proto_conf *pc; /* conf->proto[proto->id] */
	uint64_t id;
	enum session_state state;
	enum session_tls tls;

	struct conn *client;  /* the client socket before the relay (conn.h) */
	struct conn *backend; /* the backend socket before the relay */
	struct relay *relay;  /* the direct relay, which took both sockets */
	evutil_socket_t fd;   /* the client socket until a conn owns it */

	struct netaddr local;     /* the address the client connected to */
	struct netaddr peer;      /* the client (after a trusted PROXY hop) */
	struct netaddr *tcp_peer; /* the proxy, when a PROXY header named
				     another client; else NULL */
	struct proxy_wait *pw;    /* while in SESSION_PROXY */

	struct event timer;
	struct timeval last_active;    /* for the idle timeouts */
	struct timeval login_deadline; /* pre_authenticated_total_timeout
					  after the accept */
	unsigned timeout_ms;           /* idle limit of the current state */

	unsigned bad_commands;
	unsigned failed_logins;
	enum backend_failure backend_failure; /* why the backend login failed */
	char *user; /* login name once known (for logs and counters) */
	struct session_login *login;

	struct timeval started;  /* the accept, for the summary's duration */
	const char *mech;        /* the last login's SASL mechanism, or
				    login_ops->login_name; NULL: none yet */
	const char *tls_version; /* the client's, once negotiated */
	struct route route;      /* the login's backend (routing.h); its
				    backend is NULL before the first login */
	size_t backend_at;       /* the address of its pool being tried */

	uint64_t bytes_in;  /* relayed client -> backend */
	uint64_t bytes_out; /* relayed backend -> client */

	struct sesslog *log;     /* protocol-log rows; NULL when not logged */
	struct groups_req *greq; /* a group lookup for the login, pending */
	char *policy_err;        /* the policy's reason, for the log rows */
	struct event
	    *throttle_wait;    /* the failure answer's delay (throttle.h) */
	char *backend_why;     /* why the backend login failed, in words
				  (backend_error()); NULL: none */
	uint64_t backend_skip; /* literal bytes of the backend to pass over
				  (backend_skip()) */
	/* When postern last wrote to the backend's login dialogue
	 * (CLOCK_MONOTONIC): the credentials, once their answer comes. */
	struct timespec backend_sent;
	struct stats_sess stats; /* its counters' labels (stats.h) */
	struct passthru *pt;     /* a relayed SASL exchange (passthru.h) */

	bool implicit_tls;   /* accepted on an ssl binding */
	bool user_counted;   /* holds a max_connections_per_user slot */
	bool backend_logout; /* waiting for a refused backend session to
				end (backend_logout()) */
	bool ip_counted;
	bool mech_sasl;         /* mech came in login_ops->auth_name */
	bool backend_tried;     /* a backend connection was started */
	bool backend_connected; /* TCP is up to route's backend_at */
	bool backend_counted;   /* holds one of its max_connections */
	bool summarized;        /* the summary line is written */
	bool client_eof;
	bool backend_eof;
	bool client_logout; /* the client's last command was LOGOUT or QUIT */
	bool saw_input;     /* the client has sent its first bytes */
	bool log_framed;    /* the relay frames commands for the log */
	bool log_stalled;   /* ... and waits for answers to read more */
	bool guard_end;     /* the relay's guard ended the session */
	bool denied;        /* an access rule refused it at connect */
	bool disabled;      /* its protocol was disabled by a reload */
	bool probe;         /* no client: asks the default backend what
			       it offers (session_probe()) */
};

/* The answers of a relayed SASL exchange that postern gives itself. */
enum session_sasl_answer {
	SASL_ANSWER_UNSUPPORTED, /* the mechanism is not offered */
	SASL_ANSWER_CANCELLED,   /* the client cancelled with "*" */
	SASL_ANSWER_NO_USER,     /* the message names no user */
	SASL_ANSWER_MALFORMED,   /* not a message of the mechanism */
	SASL_ANSWER_TOO_LONG     /* a line over the mechanism's bound */
};

/*
 * What a protocol says at the steps of the login that the session module
 * takes for every protocol (the login type, the credential hand-off,
 * STARTTLS): its wording and framing only, as Dovecot's client_vfuncs.
 * ref is the protocol's own reference to the command being answered (the
 * IMAP tag; NULL for POP3), passed through untouched.
 */
struct session_login_ops {
	/* The client's TLS command, for the daemon log: "STLS". */
	const char *starttls_name;
	/* The client's SASL command, for the daemon log: "AUTH". */
	const char *auth_name;
	/* The client's plain login command, for the summary line: "USER". */
	const char *login_name;
	/* Logged when login_type refuses a login before the client sent a
	 * password; NULL: nothing is logged then. */
	const char *cleartext_refused_log;
	/* Answers a login that login_type refuses without TLS. */
	void (*cleartext_refused)(struct session *s, const char *ref);
	/* Answers STLS/STARTTLS when TLS is active already (active) or not
	 * configured. */
	void (
	    *starttls_refused)(struct session *s, const char *ref, bool active);
	/* Answers a SASL response whose credentials cannot be read; the
	 * protocol forgets the exchange (the caller counts a bad command). */
	void (*auth_failed)(struct session *s, const char *ref);
	/* Queues the go-ahead for the client's TLS handshake. */
	void (*starttls_go_ahead)(struct session *s, const char *ref);
	/* The credentials are in s->login and the backend login starts:
	 * the protocol forgets its own copies and notes ref for its answer. */
	void (*login_begin)(struct session *s, const char *ref);
	/* Answers a relayed SASL exchange that ends without a verdict of
	 * the backend (passthru.h). */
	void (*sasl_answer)(struct session *s, const char *ref,
	    enum session_sasl_answer a);
};

/*
 * Session ids are unique across restarts and instances: they count up
 * from a start taken from the wall clock, milliseconds since 2020 in the
 * high 42 bits, with a random start in the lower half of the low 22 bits.
 * A run that started at t ms has used ids below (now + 1) << 22 as long
 * as it opened fewer than 2^21 sessions per millisecond, so a later run's
 * first id is above every id of an earlier one; the random part keeps two
 * instances started in the same millisecond apart.  Only a wall clock set
 * back across a restart can bring old ids again.  The 42 bits last until
 * the year 2159; then the count wraps to 0 like any unsigned counter.
 */
#define SESSION_ID_COUNT_BITS 22

/* The first session id of a run started at now_ms with randomness rnd. */
uint64_t session_id_seed(uint64_t now_ms, uint32_t rnd);

/* Seeds the session ids from the clock and getrandom(2); once, at start. */
void session_ids_init(void);

/*
 * Starts a session for an accepted socket on the calling worker (the
 * worker's accept callback, after stats_accepted()).  Takes ownership of
 * fd (closed on any failure).  local is the socket's own address when the
 * caller knows it (a listener bound to one address); NULL: the kernel is
 * asked (getsockname).
 */
void session_accept(struct worker *w, enum proto_id proto, bool implicit_tls,
    evutil_socket_t fd, const struct sockaddr *peer, socklen_t peerlen,
    const struct netaddr *local);

/*
 * Asks the default backend of protocol proto in the worker's current
 * snapshot which relayed SASL mechanisms it offers (passthru.h), when
 * passthrough_mechanisms is set: a session without a client that goes
 * through the protocol's own login dialogue (greeting, TLS, capabilities;
 * no ID or XCLIENT, a PROXY header of kind LOCAL) and logs out once it has
 * seen them.  Clients are then offered only what the backend offers from
 * the first one on.  A probe that fails changes nothing (the configured
 * list stands until a login sees the backend's).  Said in the daemon log.
 */
void session_probe(struct worker *w, enum proto_id proto);

/*
 * The single teardown path: frees everything the session holds.  reason
 * (may be NULL) goes to the daemon log.  The session must not be used
 * afterwards.
 */
void session_close(struct session *s, const char *reason);

/*
 * Writes src to dst (cap bytes, NUL-terminated when cap > 0) as one
 * key=value value of the summary line: as is, or between double quotes
 * (a '"' inside becoming '?') when empty or holding a space, '"', '=' or
 * ';'.  A value that does not fit is cut, its closing quote kept.
 * Returns the bytes written, the NUL excluded.
 */
size_t session_summary_value(char *dst, size_t cap, const char *src);

/*
 * Sends what is in the client's output buffer, then closes.  Reads stop at
 * once; a timer bounds the wait.
 */
void session_close_after_flush(struct session *s, const char *reason);

/*
 * The backend ended a relayed session (error: with a connection error):
 * says why, for the logs, and closes after the client has what the
 * backend sent.  A close that follows the client's LOGOUT or QUIT, or its
 * end of the connection, is the client's doing, not the backend's.
 */
void session_backend_gone(struct session *s, bool error);

/*
 * Ends s on postern's own initiative: writes the protocol's goodbye for
 * reason, except into a relayed stream that is not at an answer boundary
 * (relay_at_boundary()), then closes after the flush.  Every goodbye that
 * may meet a relayed stream goes through here.
 */
void session_goodbye(struct session *s, enum bye_reason reason,
    const char *why);

/* Changes state; logs old -> new at debug level. */
void session_set_state(struct session *s, enum session_state st);

/* Queues bytes for the client. */
void session_write(struct session *s, const void *data, size_t len);

/* Queues a formatted line for the client; fmt is never client data. */
void session_printf(struct session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * Answers the client's STLS/STARTTLS (its line already taken from the
 * input buffer) and starts the TLS handshake.  Refuses it, as a bad
 * command, when TLS is active already or not configured.  Any byte after
 * the command was sent before the client could have seen the go-ahead: a
 * man in the middle injecting commands that would run inside the TLS
 * session (CVE-2011-0411, RFC 2595 section 3.1), so the session ends
 * there without an answer.  ref is passed to the protocol's ops.  Returns
 * -1 after closing the session.
 */
int session_starttls(struct session *s, const char *ref);

/* Whether a server certificate is configured, so STLS/STARTTLS may be offered.
 */
bool session_tls_available(const struct session *s);

/*
 * Counts a bad command; past max_bad_commands it says goodbye and closes,
 * returning -1.
 */
int session_bad_command(struct session *s);

/*
 * Applies login_type to a login before its credentials are used.  Returns
 * true when the login may go on; otherwise the client has the protocol's
 * refusal (ops->cleartext_refused) and the caller counts a bad command.
 * sent_password says whether the client has already sent its password in
 * the clear, which the logs must record.
 */
bool session_cleartext_ok(struct session *s, const char *ref,
    bool sent_password);

/*
 * session_cleartext_ok() for a step that a later step of the same login
 * checks again (POP3's USER before PASS): it refuses alike, but an audit
 * (login_type_mode = audit) is noted by the later step alone, so that the
 * daemon log has one notice per login.
 */
bool session_cleartext_first_step_ok(struct session *s, const char *ref);

/*
 * session_cleartext_ok() for a relayed SASL mechanism: one that sends no
 * reusable secret (sends_secret false: NTLM, GSSAPI) is allowed without
 * TLS under PlainTextAuthentication, and refused only under SecureLogin.
 */
bool session_mech_login_type_ok(struct session *s, const char *ref,
    bool sent_password, bool sends_secret);

/*
 * The relayed exchange's first client message named the user (already in
 * s->user and s->login): applies the throttle and the access policy to
 * that user, then routes the login and opens the backend's session, as
 * session_login() does for a password.  Returns -1 after closing the
 * session.
 */
int session_login_passthru(struct session *s);

/*
 * A relayed exchange's later message named the user (NTLM's Type 3,
 * which passthru holds back): applies the throttle and the access policy
 * (with the groups it needs) to user, then forwards that message, or
 * cancels the exchange at the backend and refuses the login.  Returns -1
 * after closing the session.
 */
int session_login_late(struct session *s, const char *user);

/*
 * The credential hand-off: copies the user name and password into
 * s->login (the caller wipes its own copies), lets the protocol forget
 * what it kept of them (ops->login_begin), and starts the backend login.
 * Client reads pause until the protocol's login_answer has been sent.
 * Returns -1 after closing the session.
 */
int session_login(struct session *s, const char *ref, const char *user,
    size_t userlen, const char *pass, size_t passlen);

/*
 * Decodes a SASL PLAIN response (RFC 4616) and hands its credentials on
 * as session_login() does, wiping the decoded copy; a response that
 * cannot be read is refused (ops->auth_failed) and counted as a bad
 * command.  Returns -1 after closing the session.
 */
int session_login_plain(struct session *s, const char *ref, const char *b64,
    size_t len);

/*
 * The first response of a SASL LOGIN exchange, the user name (base64):
 * decoded into user[0..cap) with its length in *userlen, for the protocol
 * to keep until the password comes, named to the logs, and answered with
 * the password prompt.  A response that cannot be decoded (or does not
 * fit) is refused as session_login_plain() refuses one.  Returns 1 when
 * the name was kept, 0 when it was refused, -1 after closing the session.
 */
int session_login_user(struct session *s, const char *ref, const char *b64,
    size_t len, char *user, size_t cap, size_t *userlen);

/*
 * The second response of a SASL LOGIN exchange, the password (base64):
 * hands it on with user as session_login() does, wiping the decoded copy,
 * or refuses it as session_login_plain() does.  Returns -1 after closing
 * the session.
 */
int session_login_pass(struct session *s, const char *ref, const char *b64,
    size_t len, const char *user, size_t userlen);

/* Called by the backend module when the backend login ended. */
void session_backend_done(struct session *s, enum backend_result r);

/*
 * Called by the backend module when its TLS handshake succeeded, resumed
 * or full: counted for the statistics.
 */
void session_backend_tls_up(struct session *s, bool resumed);

/*
 * Called by the backend module when a backend session ended with
 * backend_logout() has closed; the client may send commands again.
 */
void session_backend_logged_out(struct session *s);

/*
 * The login name the client gave (USER, LOGIN, a SASL identity), for the
 * daemon log and the user column of protocol-log rows; before the login
 * itself is tried.
 */
void session_set_user(struct session *s, const char *name, size_t len);

/*
 * Keeps copies of the user name and password (which hold no NUL) in a new
 * s->login, NUL-terminated, replacing any earlier one.  Returns 0, or -1
 * when memory is short or a value does not fit in struct session_login.
 */
int session_login_set(struct session *s, const char *user, size_t userlen,
    const char *pass, size_t passlen);

/* Discards credentials, wiping the password. */
void session_login_clear(struct session *s);

/* Marks activity, pushing the idle deadline back. */
void session_touch(struct session *s);

/* Starts the idle timer of the current state: ms without activity ends it. */
void session_set_timeout(struct session *s, unsigned ms);

/* The worker's spare blocks (blockcache.h); NULL outside a worker. */
struct blockcache *session_cache(const struct session *s);

/* A short text for the daemon log: "POP3 0000000000000001 192.0.2.1:5555". */
const char *session_tag(const struct session *s);

#endif
