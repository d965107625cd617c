/*
 * pop3: the POP3 protocol module (RFC 1939, RFC 2449 CAPA, RFC 2595 STLS,
 * RFC 5034 AUTH, RFC 3206 response codes).
 *
 * The parser half (pop3_parse.c) is pure: it looks at bytes and never at
 * sockets.  The session half (pop3.c) answers pre-auth commands, logs in
 * to the backend and fills in the protocol descriptor.
 */
#ifndef POSTERN_POP3_H
#define POSTERN_POP3_H

#include <stdbool.h>
#include <stddef.h>

#include "proto.h"

/* Outcome of looking at the start of the client's buffered bytes. */
enum pop3_parse_result {
	POP3_NEED_MORE, /* no complete line yet, and not too long yet */
	POP3_COMMAND,	/* a complete command line */
	POP3_TOO_LONG	/* no line end within the command size limit */
};

/* The commands postern knows; everything else is POP3_CMD_OTHER. */
enum pop3_verb {
	POP3_CMD_OTHER,
	POP3_CMD_USER,
	POP3_CMD_PASS,
	POP3_CMD_AUTH,
	POP3_CMD_CAPA,
	POP3_CMD_STLS,
	POP3_CMD_QUIT,
	POP3_CMD_NOOP,
	POP3_CMD_APOP,
	POP3_CMD_STAT,
	POP3_CMD_LIST,
	POP3_CMD_RETR,
	POP3_CMD_DELE,
	POP3_CMD_RSET,
	POP3_CMD_TOP,
	POP3_CMD_UIDL,
	POP3_CMD_XCLIENT
};

/* One command line, pointing into the caller's bytes. */
struct pop3_command {
	enum pop3_verb verb;
	char name[8];	 /* the verb in lower case, "" if over 4 letters */
	const char *arg; /* after the verb and one space, without CRLF */
	size_t arglen;
	size_t linelen; /* bytes of the whole line including its end */
	bool empty;	/* an empty line */
};

/*
 * Looks for one command line at the start of buf[0..len).  A line ends in
 * LF, with or without CR before it; it may be at most max bytes long
 * including its end.  The function keeps no state: call it again with the
 * longer span when it says POP3_NEED_MORE.
 */
enum pop3_parse_result pop3_parse(const char *buf, size_t len, size_t max,
    struct pop3_command *cmd);

/* The status of a server answer line. */
enum pop3_status {
	POP3_STATUS_OK,
	POP3_STATUS_ERR,
	POP3_STATUS_CONT, /* "+ " SASL continuation */
	POP3_STATUS_BAD	  /* anything else */
};

/* Classifies a server answer line (without its line end). */
enum pop3_status pop3_status(const char *line, size_t len);

/*
 * Whether an -ERR line carries one of RFC 3206's codes that are not about
 * the credentials ([SYS/TEMP], [SYS/PERM], [IN-USE]), so that the answer is
 * passed on rather than turned into an authentication failure.
 */
bool pop3_err_is_system(const char *line, size_t len);

/* Capabilities of a backend, from its CAPA answer. */
struct pop3_capa {
	bool stls;
	bool user;
	bool sasl_plain;
	bool xclient;
};

/* Notes what one line of a CAPA answer (without its line end) offers. */
void pop3_capa_line(struct pop3_capa *capa, const char *line, size_t len);

/*
 * Whether a backend greeting (without its line end) says the server takes
 * XCLIENT from postern: Dovecot announces it to its trusted networks as a
 * response code, "+OK [XCLIENT] ...", not in CAPA.
 */
bool pop3_greeting_xclient(const char *line, size_t len);

/* The POP3 protocol descriptor. */
extern const struct proto pop3_proto;

#endif
