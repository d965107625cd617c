/*
 * pop3: the POP3 protocol module (RFC 1939, RFC 2449 CAPA, RFC 2595 STLS,
 * RFC 5034 AUTH, RFC 3206 response codes).
 *
 * The parser half (pop3_parse.c) is pure: it looks at bytes and never at
 * sockets.  The session half (pop3.c) answers pre-auth commands, speaks
 * the backend login dialogue one line at a time (the backend module reads
 * the lines), runs the relay's guard and the protocol log's rows after
 * login on the parser half's framers, and fills in the protocol
 * descriptor; the login steps both protocols share (login type,
 * credential hand-off, STLS) are the session module's, with POP3's words
 * from pop3.c.
 */
#ifndef POSTERN_POP3_H
#define POSTERN_POP3_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

/* Outcome of looking at the start of the client's buffered bytes. */
enum pop3_parse_result {
	POP3_NEED_MORE, /* no complete line yet, and not too long yet */
	POP3_COMMAND,   /* a complete command line */
	POP3_TOO_LONG   /* no line end within the command size limit */
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
	char name[8];    /* the verb in lower case, "" if over 4 letters */
	const char *arg; /* after the verb and one space, without CRLF */
	size_t arglen;
	size_t linelen; /* bytes of the whole line including its end */
	bool empty;     /* an empty line */
};

/*
 * Looks for one command line at the start of buf[0..len).  A line ends in
 * LF, with or without CR before it; it may be at most max bytes long
 * including its end.  The function keeps no state: call it again with the
 * longer span when it says POP3_NEED_MORE.
 */
enum pop3_parse_result pop3_parse(const char *buf, size_t len, size_t max,
    struct pop3_command *cmd);

/*
 * After a refused AUTH: whether a line (as pop3_parse() cut it out of
 * buf) is a command rather than the response a client that did not wait
 * for the "+" sent anyway.  A base64 response has no space and is no
 * command name: a PLAIN response is at least 8 characters long, and no
 * user name a LOGIN response may hold encodes to one.
 */
bool pop3_line_is_command(const struct pop3_command *cmd, const char *buf);

/* The status of a server answer line. */
enum pop3_status {
	POP3_STATUS_OK,
	POP3_STATUS_ERR,
	POP3_STATUS_CONT, /* "+ " SASL continuation */
	POP3_STATUS_BAD   /* anything else */
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

/*
 * After login: the framing that cuts the relayed bytes into commands and
 * answers for the protocol log.  Both framers are resumable byte machines
 * over whatever spans the relay hands them; they copy the start of a line
 * at most, never a message.
 */

/* What a framer found in the bytes it was given. */
enum pop3_frame {
	POP3_FRAME_MORE,  /* every byte consumed, nothing complete yet */
	POP3_FRAME_LINE,  /* a client line is complete */
	POP3_FRAME_ANSWER /* a server answer is complete */
};

/* Room for the start of a client line: enough for any POP3 command. */
#define POP3_LINE_KEPT 256

/* The client's lines after login. */
struct pop3_lines {
	uint64_t len;                 /* bytes of the current line so far */
	size_t kept;                  /* bytes of it in buf */
	bool done;                    /* buf holds a whole line */
	char buf[POP3_LINE_KEPT + 1]; /* a longer line is cut and ends in LF */
};

/* Prepares l for the first line. */
void pop3_lines_init(struct pop3_lines *l);

/*
 * Consumes buf[0..len) up to the end of one line; *consumed says how far.
 * After POP3_FRAME_LINE, l->buf[0..l->kept) is the start of the line,
 * always ending in LF, for pop3_parse(), and l->len its full size.
 */
enum pop3_frame pop3_lines_feed(struct pop3_lines *l, const char *buf,
    size_t len, size_t *consumed);

/*
 * Whether a +OK answer to cmd is multi-line (RFC 1939, RFC 2449): RETR,
 * TOP, CAPA, and LIST, UIDL or AUTH without an argument.
 */
bool pop3_multiline(const struct pop3_command *cmd);

/* Room for the start of a status line, for the log. */
#define POP3_STATUS_KEPT 200

/* A server answer after login. */
struct pop3_answer {
	int state;
	bool multiline;   /* a +OK answer has lines up to "." */
	bool ok;          /* the status was +OK */
	size_t statuslen; /* of status, without the line end */
	char status[POP3_STATUS_KEPT + 1];
};

/* Prepares a for the answer to a command (see pop3_multiline()). */
void pop3_answer_start(struct pop3_answer *a, bool multiline);

/*
 * Consumes buf[0..len) up to the end of the answer; *consumed says how
 * far.  A multi-line answer ends with the line "." (RFC 1939 section 3);
 * a line that starts with ".." is dot-stuffed data.  Only the status line
 * is copied, and only its first POP3_STATUS_KEPT bytes.
 */
enum pop3_frame pop3_answer_feed(struct pop3_answer *a, const char *buf,
    size_t len, size_t *consumed);

/*
 * Follows the client's bytes after login for its goodbye: quit says
 * whether the last complete line was QUIT (RFC 1939 section 6), so that a
 * backend's close that follows is known for the end the client asked for.
 */
struct pop3_quitwatch {
	unsigned k; /* characters of "QUIT" matched, 5 after its CR */
	bool other; /* the line is something else */
	bool quit;
};

/* Takes buf[0..len) of the client's stream; state carries across calls. */
void pop3_quitwatch_feed(struct pop3_quitwatch *w, const char *buf, size_t len);

#endif
