/*
 * sesslog: the protocol-log rows of one session.
 *
 * Before login the protocol module tells sesslog where each command
 * begins, what it is and how many bytes it took; what the session writes
 * to the client is counted here (session_write()), and the first status
 * line of the answer becomes the row's R.  A command that logs in stays
 * open until the backend answered (sesslog_login()).  After login the
 * protocol's framers report commands and answers through the ring of
 * commands waiting for their answer and sesslog_row(), or, with
 * log_detail = proxy, the relay reports bytes to sesslog_proxy().
 * session_close() ends it all with sesslog_close(): the open row, the
 * commands still waiting, then CloseSession.
 *
 * Nothing here touches a file: rows go to protolog_submit().
 */
#ifndef POSTERN_SESSLOG_H
#define POSTERN_SESSLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "policy.h"
#include "proto.h"
#include "protolog.h"

struct policy_decision;
struct session;

/* Commands relayed after login that may wait for their answers at once. */
#define SESSLOG_PENDING_MAX 16
/* Room for what the protocol keeps of a relayed command's parameters. */
#define SESSLOG_PARAMS_KEPT 272
/* Room for an IMAP tag. */
#define SESSLOG_KEY_MAX 72

/* A command relayed after login, waiting for its answer. */
struct sesslog_cmd {
	struct timespec t0; /* when its last byte was relayed */
	uint64_t rq;        /* its bytes */
	unsigned flags;     /* the protocol's own */
	bool done;          /* answered (IMAP answers may come out of order) */
	char key[SESSLOG_KEY_MAX]; /* IMAP: the tag */
	char cmd[32];
	char params[SESSLOG_PARAMS_KEPT];
};

/*
 * The commands waiting for their answers, oldest first.  The ring takes
 * room on the heap only while a command waits: one slot for the usual
 * one command out at a time, doubling up to SESSLOG_PENDING_MAX while a
 * client pipelines, and all given back once every command is answered.
 * An idle session has none waiting (its IDLE's row is written at the
 * server's "+"), so it holds no slot at all.
 * Zeroed is empty; sesslog_ring_free() gives the heap room back.
 */
struct sesslog_ring {
	unsigned head, n;
	unsigned cap;             /* slots in more */
	bool promised;            /* room was said to be there (see
				     sesslog_ring_room()) and not taken yet */
	struct sesslog_cmd *more; /* NULL, or cap slots */
};

/* A session's logging state; NULL in struct session when it logs nothing. */
struct sesslog {
	enum protolog_detail detail;
	unsigned seq;
	struct timespec opened; /* accept */
	bool open;              /* a command row is under way (row is set) */
	uint64_t rp; /* bytes written for the open row, or before the first */
	const char *close_err; /* ErrMsg of CloseSession */
	const char *close_msg; /* Msg of CloseSession */
	const char *tls_version;
	uint64_t proxy_in,
	    proxy_out; /* log_detail = proxy: since the last row */
	struct timespec proxy_last;
	void *relay;              /* the protocol's framing state after login */
	struct sesslog_open *row; /* before login; see below */
	/* What IMAP ID said, "name\0version\0", on the heap only when it
	 * said something: most sessions never do, and every row of the
	 * session's whole needs it, so it lasts as long as the session. */
	char *client_id;
};

/* The most of an ID name and of a version that the rows keep. */
#define SESSLOG_CLIENT_NAME_MAX 63
#define SESSLOG_CLIENT_VERSION_MAX 31

/*
 * What a row written before login is built of: the command, its
 * parameters and the answer's status line.  Taken at the first such row
 * and given back once the login succeeded, after which rows come from the
 * protocol's framing (struct sesslog_cmd): a logged session holds it only
 * while it has not logged in.
 */
struct sesslog_open {
	struct timespec t0; /* when the command began */
	uint64_t rq;        /* its bytes */
	const char *errmsg; /* ErrMsg */
	const char *reason; /* Reason (throttled) */
	const char *msg;    /* Msg */
	const char *audit;  /* LoginTypeAudit */
	bool logon_denied;  /* a refused login */
	bool status_seen;   /* status[] holds the answer's status line */
	/* AccessRuleAudit of the open row ("WouldDeny:<rule>"), or "". */
	char rule_audit[sizeof("WouldDeny:") + POLICY_RULE_NAME_MAX];
	char cmd[32];
	char status[256];
	char params[PROTOLOG_PARAMS_MAX + 1];
};

/* Starts logging s when its protocol's log is on (at accept). */
void sesslog_init(struct session *s);

/* Writes OpenSession: the greeting was queued (after TLS if implicit). */
void sesslog_opened(struct session *s);

/* A command begins (its first bytes are being read); opens a row. */
void sesslog_begin(struct session *s);

/* n more bytes of the open row's command were read. */
void sesslog_rq(struct session *s, size_t n);

/* Names the open row: the verb and its masked parameters (not NUL-ended). */
void sesslog_command(struct session *s, const char *cmd, const char *params,
    size_t paramslen);

/* Writes the open row if it was named; forgets it either way. */
void sesslog_end(struct session *s);

/*
 * Names the open row InvalidCommand, with only the first word of line
 * (when it looks like a command name) and "*****" for the rest: a line
 * that is no command may be a password or SASL data sent at the wrong
 * time.
 */
void sesslog_invalid(struct session *s, const char *line, size_t len);

/* The login-type audit verdict for pc: what enforcing would have done. */
const char *sesslog_audit_verdict(const struct proto_conf *pc);

/* ErrMsg, Msg and LoginTypeAudit of the open row (string constants). */
void sesslog_error(struct session *s, const char *errmsg);
void sesslog_msg(struct session *s, const char *msg);
void sesslog_audit(struct session *s, const char *verdict);

/*
 * The audits of the access policy's login decision d for the open row:
 * LoginTypeAudit (WouldDeny:<login_type>, or Exempt) and AccessRuleAudit
 * (WouldDeny:<rule>).  The refusal, if any, goes in with sesslog_error().
 */
void sesslog_policy(struct session *s, const struct policy_decision *d);

/* Why postern ended the session, for CloseSession; the first one stays. */
void sesslog_close_error(struct session *s, const char *errmsg);

/* How a session ended that postern did not end, for CloseSession's Msg. */
void sesslog_close_msg(struct session *s, const char *msg);

/* What the client said it is (IMAP ID); NULL or "" for nothing. */
void sesslog_client_id(struct session *s, const char *name,
    const char *version);

/* The TLS handshake with the client is done. */
void sesslog_tls(struct session *s, const char *version);

/* The client has its login answer: ends the row of the login command. */
void sesslog_login(struct session *s, enum login_result r);

/*
 * The client has a failure answer to a login that the throttle refused
 * without asking the backend: ends its row with ErrMsg=Throttled and
 * reason (a string constant) as its Reason.
 */
void sesslog_throttled(struct session *s, const char *reason);

/* Bytes queued for the client by the session itself (before login). */
void sesslog_wrote(struct session *s, const char *data, size_t len);

/* The last rows of s; frees the logging state. */
void sesslog_close(struct session *s);

/*
 * After login: writes the row of c, answered with rp bytes; r is the R
 * value ("ok", or the failed answer's line), NULL for none.
 */
void sesslog_row(struct session *s, const struct sesslog_cmd *c, uint64_t rp,
    const char *r);

/*
 * Whether r has room for one more command, making it when it can: false
 * when SESSLOG_PENDING_MAX wait already, or when no memory could be had
 * (then the command waits, unrelayed, for an answer to make room or for
 * the session's timeout: no command is relayed without its row).  Room
 * said to be there stays until the next sesslog_ring_push(), whatever
 * is answered meanwhile: a command is pushed only once complete, and
 * answers may empty the ring while its bytes come.
 */
bool sesslog_ring_room(struct sesslog_ring *r);

/* The i-th waiting command, oldest first. */
static inline struct sesslog_cmd *
sesslog_ring_at(struct sesslog_ring *r, unsigned i)
{
	return &r->more[(r->head + i) % r->cap];
}

/* The oldest waiting command, or NULL. */
static inline struct sesslog_cmd *
sesslog_ring_head(struct sesslog_ring *r)
{
	return r->n == 0 ? NULL : sesslog_ring_at(r, 0);
}

/* A new slot at the end; the caller checked sesslog_ring_room(). */
struct sesslog_cmd *sesslog_ring_push(struct sesslog_ring *r);

/* Drops the answered commands at the front; once none waits and no room
 * is promised, gives the heap room back. */
void sesslog_ring_pop_done(struct sesslog_ring *r);

/* Gives back r's heap room; r is empty afterwards. */
void sesslog_ring_free(struct sesslog_ring *r);

/* log_detail = proxy: bytes relayed; writes a proxy row every 30 s. */
void sesslog_proxy(struct session *s, uint64_t in, uint64_t out);

/* Whether s logs a row per command after login. */
static inline bool
sesslog_commands(const struct sesslog *l)
{
	return l != NULL && l->detail == PROTOLOG_DETAIL_COMMANDS;
}

#endif
