/*
 * imap_internal: the IMAP4 session's layout, shared by imap.c (before
 * login: the client's commands and the backend login) and imap_relay.c
 * (after login: the compression guard and a protocol-log row per
 * command).  Nothing outside those two files includes this header.
 */
#ifndef POSTERN_IMAP_INTERNAL_H
#define POSTERN_IMAP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "imap.h"
#include "sasl.h"
#include "session.h"

/* Where the client is before login. */
enum imap_client_state {
	IMAP_C_COMMAND,    /* reading commands */
	IMAP_C_PLAIN,      /* AUTHENTICATE PLAIN, waiting for the response */
	IMAP_C_LOGIN_USER, /* AUTHENTICATE LOGIN, waiting for the name */
	IMAP_C_LOGIN_PASS, /* AUTHENTICATE LOGIN, waiting for the password */
	IMAP_C_REFUSED     /* after a refused AUTHENTICATE: its response
			      may follow anyway (imap_parse_refused()) */
};

/* Where the backend login is. */
enum imap_backend_state {
	IMAP_B_GREETING,
	IMAP_B_CAPABILITY,
	IMAP_B_STARTTLS,
	IMAP_B_ID,           /* forwarding the client address with ID */
	IMAP_B_AUTH_CONT,    /* AUTHENTICATE PLAIN sent without SASL-IR */
	IMAP_B_LITERAL_CONT, /* LOGIN with a synchronising literal */
	IMAP_B_LOGIN,        /* waiting for the tagged answer of the login */
	IMAP_B_PASSTHRU      /* relaying a SASL exchange (passthru.h) */
};

/* What only exists before login; freed when the relay starts. */
struct imap_preauth {
	char user[SASL_USER_MAX + 1];
	size_t userlen;
	char client_name[64];
	char client_version[32];
	struct imap_parser parser;
	char store[];
};

/*
 * After login: the one reading of each direction, for the guard and the
 * protocol log.  It is in place only while bytes are being read; between
 * them, when both readers stand between commands and answer lines, it
 * goes back to the worker's blocks and the session keeps the little the
 * next command depends on (struct imap_cframe_rest): an idle session in
 * IDLE holds no reader.
 */
struct imap_readers {
	struct imap_cframe cf;
	struct imap_sframe sf;
};

struct imap_session {
	struct session s; /* first: the generic session */
	struct imap_preauth *pre;
	enum imap_client_state cstate;
	enum imap_backend_state bstate;
	bool backend_tls_up;
	bool backend_saslir;
	bool backend_plain;
	bool backend_logindisabled;
	bool backend_literalplus;
	bool backend_starttls;
	bool backend_id;
	bool id_done; /* the client address was offered, or could not be */
	bool have_caps;
	bool readers_lost;      /* out of memory for the readers: the session
				   ends (imap_relay_guard_end()) */
	unsigned backend_mechs; /* relayed SASL mechanisms it offers */
	char *caps;             /* post-login capabilities for the client */
	char *answer;           /* backend's refusal passed on, with its code */
	struct imap_readers *rd; /* NULL while the readers rest */
	/*
	 * The login's tag is read last by its answer, before the readers
	 * start (imap_relay_readers_start()); what resting readers keep
	 * takes its room afterwards.
	 */
	union {
		char tag[IMAP_TAG_MAX + 1];   /* of the client's login */
		struct imap_cframe_rest rest; /* after login, while resting */
	};
};

#define I(s) ((struct imap_session *)(s))

/* After login (imap_relay.c), the descriptor's relay hooks. */
bool imap_answer_ok(const char *line, size_t len);
/* The login succeeded: the readers start, resting, before the first
 * relayed byte. */
void imap_relay_readers_start(struct session *s);
/* Gives back the readers, if in place (the session ends). */
void imap_relay_readers_free(struct session *s);
int imap_relay_log_start(struct session *s);
bool imap_relay_at_boundary(const struct session *s);
void imap_relay_log_end(struct session *s);
size_t imap_relay_guard(struct session *s, bool from_client, char *buf,
    size_t len, bool *end);
void imap_relay_guard_end(struct session *s);

#endif
