/*
 * proto: the protocol descriptor.
 *
 * Every protocol module (pop3, imap) fills in one struct proto; the rest of
 * the daemon never asks which protocol a session speaks, it calls through
 * the descriptor.  A protocol's per-session state is a struct that begins
 * with struct session, allocated with proto->session_size bytes.
 */
#ifndef POSTERN_PROTO_H
#define POSTERN_PROTO_H

#include <stdbool.h>
#include <stddef.h>

#include "conf.h"

struct backend_line;
struct session;
struct session_login_ops;

/* Why the daemon ends a session on its own; the protocol picks the words. */
enum bye_reason {
	BYE_SHUTDOWN,        /* the daemon is stopping */
	BYE_TIMEOUT,         /* pre-auth or authenticated idle timeout */
	BYE_TOO_MANY_CONN,   /* a connection limit was reached at connect */
	BYE_TOO_MANY_ERRORS, /* max_bad_commands or max_login_attempts */
	BYE_BACKEND,         /* the backend is unreachable or broke off */
	BYE_INTERNAL,        /* out of memory or a similar local failure */
	BYE_DISABLED,        /* the protocol was disabled by a reload */
	BYE_DENIED,          /* an access rule refused the client at connect */
	BYE_LOGIN_TIME,      /* no login in pre_authenticated_total_timeout */
	BYE_UNRELAYABLE      /* the client sent what may not reach the backend
				(IMAP: a non-synchronising literal after login) */
};

/* Outcome of a backend login step, as the protocol reports it. */
enum backend_result {
	BACKEND_MORE,        /* keep reading the backend */
	BACKEND_STARTTLS,    /* start the TLS handshake with the backend now */
	BACKEND_LOGGED_IN,   /* login accepted: relay from now on */
	BACKEND_AUTH_FAILED, /* the backend refused the credentials */
	BACKEND_BROKEN,      /* protocol violation or unusable backend */
	BACKEND_NO_MECH,     /* it does not offer the relayed SASL
				mechanism (passthru.h) */
	BACKEND_PROBED       /* a probe (session_probe()) has seen what
				it offers: log out */
};

/* How a login ended, for the protocol's answer to the client. */
enum login_result {
	LOGIN_OK,       /* the backend accepted: relay from now on */
	LOGIN_FAILED,   /* the backend refused the credentials */
	LOGIN_TEMPFAIL, /* the backend is unreachable or broke off */
	LOGIN_IN_USE,   /* max_connections_per_user reached */
	LOGIN_DENIED,   /* an access rule or required_group refused it */
	LOGIN_PRIVACY,  /* the login type refused it (no TLS) */
	LOGIN_TRY_LATER /* the groups could not be looked up: try later */
};

/* What a protocol module provides to the rest of the daemon. */
struct proto {
	enum proto_id id;
	const char *name;    /* "POP3", "IMAP4" */
	size_t session_size; /* size of the protocol's session struct */

	/* Sends the greeting; the session is in SESSION_PREAUTH afterwards. */
	void (*greet)(struct session *s);

	/*
	 * Handles the client's bytes before login (pre-auth commands, the
	 * SASL dialogue).  Consumes from the client's input buffer; returns
	 * -1 after it has called session_close().
	 */
	int (*client_input)(struct session *s);

	/* Forgets all pre-TLS state once the client's TLS handshake is done. */
	void (*tls_reset)(struct session *s);

	/* Writes the protocol's goodbye for reason (no close). */
	void (*bye)(struct session *s, enum bye_reason reason);

	/* Backend connected (TCP, or TLS for implicit TLS): reset its state. */
	void (*backend_start)(struct session *s);

	/*
	 * Drives the backend login with one complete line the backend sent
	 * (see backend_input()); lines over backend_line_max bytes end the
	 * login before they get here.
	 */
	enum backend_result (
	    *backend_line)(struct session *s, const struct backend_line *line);
	size_t backend_line_max;

	/* Backend TLS (after STARTTLS) is up: continue the login. */
	enum backend_result (*backend_tls_done)(struct session *s);

	/*
	 * Queues the command that ends a backend session which logged in
	 * but may not be used (QUIT, LOGOUT), so that the backend sees an
	 * orderly end rather than a dropped connection.
	 */
	void (*backend_logout)(struct session *s);

	/* Tells the client how its login ended. */
	void (*login_answer)(struct session *s, enum login_result r);

	/* The protocol's words at the login steps the session takes. */
	const struct session_login_ops *login_ops;

	/* Frees what the protocol allocated for s; NULL if nothing. */
	void (*free)(struct session *s);

	/* protolog: whether an answer's status line (without its end) is a
	 * success, which the log writes as R=ok. */
	bool (*answer_ok)(const char *line, size_t len);

	/*
	 * protolog, after login with log_detail = commands.  Prepares the
	 * framing of s's relayed bytes; returns -1 when out of memory.
	 */
	int (*relay_log_start)(struct session *s);

	/*
	 * Frames bytes from the client and returns how many it took: fewer
	 * than len when the commands waiting for their answers fill the
	 * ring, and the rest must wait for answers.  NULL when relay_guard
	 * frames the log itself.
	 */
	size_t (
	    *relay_log_client)(struct session *s, const char *buf, size_t len);

	/* Frames bytes from the backend, writing rows of answered commands;
	 * NULL when relay_guard frames the log itself. */
	void (
	    *relay_log_backend)(struct session *s, const char *buf, size_t len);

	/* Writes the rows of commands still waiting; frees the framing. */
	void (*relay_log_end)(struct session *s);

	/*
	 * Reads every relayed byte, in order, once, before it is sent on,
	 * and may change bytes in place (never their number): what the
	 * protocol must not let through while postern follows the session,
	 * such as IMAP's COMPRESS, and what it must know of, such as the
	 * client's logout (s->client_logout).  It sees the bytes after
	 * relay_log_client/relay_log_backend took them.  A guard that may
	 * hold bytes back frames the log itself (s->log_framed, with those
	 * two NULL), so that one reading serves both and no byte is read
	 * twice.
	 * Returns how many of the client's bytes may go on now: the rest
	 * waits until bytes from the backend were read (an answer the
	 * reading needs, or room in the log's ring); from the backend,
	 * always len.  NULL: the bytes pass untouched.
	 * Sets *end when the client's bytes after those taken must never
	 * reach the backend (IMAP's non-synchronising literals): the relay
	 * passes the bytes taken, reads no more and calls relay_guard_end.
	 */
	size_t (*relay_guard)(struct session *s, bool from_client, char *buf,
	    size_t len, bool *end);

	/*
	 * Ends s after relay_guard set *end, with the logs' reasons, through
	 * session_goodbye() (a goodbye only between answers, then the
	 * session's one teardown).  NULL when relay_guard never sets *end.
	 */
	void (*relay_guard_end)(struct session *s);

	/*
	 * After login: whether the backend's bytes the protocol has read
	 * so far end where a line of postern's own may follow, with no
	 * answer line, literal (IMAP) or multi-line answer (POP3)
	 * unfinished.  false when it does not read them.  NULL: never.
	 */
	bool (*relay_at_boundary)(const struct session *s);

	/*
	 * Configuration: the protocol's section of the file and its
	 * defaults, which are Exchange's (Get-PopSettings, Get-ImapSettings).
	 */
	const char *section;              /* "pop3": [pop3], and rules' name */
	const char *default_bindings;     /* unencrypted_or_tls_bindings */
	const char *default_ssl_bindings; /* ssl_bindings */
	const char *default_banner;
	const char *default_backend_port; /* Exchange's ProxyTargetPort */
	size_t command_size_min;          /* MaxCommandSize range, bytes */
	size_t command_size_max;
	size_t command_size_default;
	/* The forward_client_address values it supports: bits 1u << mode. */
	unsigned forward_modes;
	const char *log_directory; /* log_file_location */
};

/* The descriptor of protocol p, or NULL for a protocol not built in. */
const struct proto *proto_get(enum proto_id p);

/* Protocol p's name as Exchange gives it ("POP3", "IMAP4"), or "?". */
const char *proto_name(enum proto_id p);

struct conf_module;

/* The protocol sections, [pop3] and [imap] (proto_conf.c). */
extern const struct conf_module proto_conf_module;

/*
 * The descriptors, each defined by its protocol's module (pop3.c, imap.c);
 * declared here so that the table (proto.c) needs no protocol's header:
 * the protocols use the session, which uses this module.
 */
extern const struct proto pop3_proto;
extern const struct proto imap_proto;

#endif
