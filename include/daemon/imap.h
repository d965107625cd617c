/*
 * imap: the IMAP4 protocol module (RFC 9051 and RFC 3501 clients, RFC 2595
 * STARTTLS, RFC 4959 SASL-IR, RFC 7888 LITERAL+, RFC 2971 ID, RFC 5530
 * response codes).
 *
 * The parser half is pure: imap_parse.c holds a resumable byte machine over
 * the client's bytes before login, a classifier for the backend's answer
 * lines, and the capability lists; imap_frame.c the relay readers of each
 * direction after login (protocol log and compression guard).  It never
 * looks at a socket or writes a log.
 * The session half (imap.c) answers the pre-auth commands, speaks the
 * backend login dialogue one line at a time (the backend module reads the
 * lines) and fills in the protocol descriptor; the login steps both
 * protocols share (login type, credential hand-off, STARTTLS) are the
 * session module's, with IMAP's words from imap.c.  After login,
 * imap_relay.c runs the relay's guard and the protocol log's rows on
 * imap_frame.c's readers (sharing imap.c's layout: imap_internal.h).
 */
#ifndef POSTERN_IMAP_H
#define POSTERN_IMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

/* Longest tag kept; a longer one is a syntax error answered untagged. */
#define IMAP_TAG_MAX 64

/* Most values in one pre-auth command; a list counts as one value plus its
 * members.  RFC 2971 allows 30 ID field-value pairs: 1 + 60 fit. */
#define IMAP_ARGS_MAX 64

/* Deepest list nesting accepted before login. */
#define IMAP_LIST_DEPTH_MAX 4

/* Outcome of feeding client bytes to the parser. */
enum imap_parse_result {
	IMAP_PARSE_NEED_MORE,    /* everything consumed, command not complete */
	IMAP_PARSE_LITERAL_WAIT, /* a synchronising literal may be sent: answer
				    "+", call imap_parser_literal_accept() */
	IMAP_PARSE_COMMAND,      /* a complete command in parser->cmd */
	IMAP_PARSE_INVALID, /* a bad command line, consumed; see cmd.error */
	IMAP_PARSE_SASL_RESPONSE, /* a SASL line in cmd.args[0] */
	IMAP_PARSE_SASL_CANCEL,   /* the client sent "*" (RFC 9051 6.2.2) */
	IMAP_PARSE_SASL_DISCARD   /* imap_parse_refused(): a line of the
				     refused exchange, consumed and wiped */
};

/* The commands postern answers before login; the rest is IMAP_CMD_OTHER. */
enum imap_verb {
	IMAP_CMD_OTHER,
	IMAP_CMD_CAPABILITY,
	IMAP_CMD_NOOP,
	IMAP_CMD_LOGOUT,
	IMAP_CMD_STARTTLS,
	IMAP_CMD_ID,
	IMAP_CMD_LOGIN,
	IMAP_CMD_AUTHENTICATE,
	IMAP_CMD_ENABLE
};

/* Why a command line was refused. */
enum imap_error {
	IMAP_ERR_NONE,
	IMAP_ERR_EMPTY,           /* an empty line */
	IMAP_ERR_TAG,             /* missing, invalid or overlong tag */
	IMAP_ERR_COMMAND,         /* missing or invalid command name */
	IMAP_ERR_SYNTAX,          /* an argument breaks the grammar */
	IMAP_ERR_TOO_MANY_ARGS,   /* more than IMAP_ARGS_MAX values */
	IMAP_ERR_TOO_LONG,        /* the line passed max_command_size */
	IMAP_ERR_LITERAL_TOO_BIG, /* a literal over the pre-auth limit */
	IMAP_ERR_BAD_BASE64       /* a SASL line that is not base64 */
};

/* The kind of one argument value. */
enum imap_value_type {
	IMAP_VAL_ATOM,    /* includes astring characters such as ']' */
	IMAP_VAL_QUOTED,  /* a quoted string, unescaped */
	IMAP_VAL_LITERAL, /* a literal's bytes */
	IMAP_VAL_NIL,     /* the atom NIL; data is "NIL" */
	IMAP_VAL_LIST     /* "(": len is the number of values that follow
			     and belong to it, nested ones included */
};

/*
 * One value.  data points into the parser's store and is NUL-terminated
 * (a literal may hold a NUL of its own: len is authoritative).
 */
struct imap_value {
	enum imap_value_type type;
	const char *data;
	size_t len;
};

/* One parsed command; valid until the next call into the parser. */
struct imap_command {
	char tag[IMAP_TAG_MAX + 1]; /* "" when no valid tag was read */
	char name[24];              /* upper case; "" if invalid or overlong */
	enum imap_verb cmd;
	struct imap_value args[IMAP_ARGS_MAX];
	size_t nargs;
	enum imap_error error; /* with IMAP_PARSE_INVALID */
	bool fatal;            /* the connection cannot go on after it */
};

/* The parser's internal states; callers only zero or reset them. */
enum imap_parser_state {
	IMAP_S_START,
	IMAP_S_TAG,
	IMAP_S_NAME,
	IMAP_S_ARG,
	IMAP_S_AFTER_ARG,
	IMAP_S_ATOM,
	IMAP_S_QUOTED,
	IMAP_S_QUOTED_ESC,
	IMAP_S_LITLEN,
	IMAP_S_LITEND,
	IMAP_S_LITCR,
	IMAP_S_LITLF,
	IMAP_S_LITWAIT,
	IMAP_S_LITDATA,
	IMAP_S_CR,
	IMAP_S_SKIP,
	IMAP_S_SASL,
	IMAP_S_SASL_CR
};

/*
 * A resumable pre-auth parser.  The caller owns the store, which holds a
 * command's values with their NULs.  Every write into it is checked: a
 * command whose values do not fit is refused (IMAP_ERR_TOO_LONG, fatal;
 * before the "+" for a synchronising literal).  max_line + 2 * literal_max
 * bytes hold a LOGIN with two literals at their longest.
 */
struct imap_parser {
	enum imap_parser_state state;
	size_t max_line;    /* max_command_size: bytes outside literals */
	size_t literal_max; /* longest literal before login */
	char *store;
	size_t cap;
	size_t used;     /* bytes of store in use */
	size_t used_max; /* the most ever in use: what may hold a secret */
	size_t line;     /* bytes of this command outside literals */
	size_t taglen, namelen;
	size_t value_start; /* where the current value began in store */
	uint64_t litlen;    /* announced size of the current literal */
	uint64_t litleft;   /* literal bytes still to come */
	bool litnonsync;    /* {n+} or {n-} */
	bool litdigits;     /* at least one digit seen */
	bool nametoolong;   /* the command name did not fit in cmd.name */
	size_t open[IMAP_LIST_DEPTH_MAX]; /* args index of each open list */
	size_t depth;
	bool done;     /* the last result is still in cmd: start afresh */
	bool handover; /* imap_parse_refused(): the line is a command */
	struct imap_command cmd;
};

/*
 * Prepares p to parse commands whose lines are at most max_line bytes
 * (outside literals) with literals of at most literal_max bytes, values
 * kept in store[0..cap).  Returns 0, or -1 if cap is too small.
 */
int imap_parser_init(struct imap_parser *p, size_t max_line, size_t literal_max,
    char *store, size_t cap);

/* Forgets any partial command (after STARTTLS, or before a new one). */
void imap_parser_reset(struct imap_parser *p);

/*
 * Consumes bytes of buf[0..len) and says what they completed; *consumed is
 * set to how many were used (the rest belongs to the next call).  After
 * IMAP_PARSE_COMMAND or IMAP_PARSE_INVALID the result is in p->cmd until
 * the next call.
 */
enum imap_parse_result imap_parse(struct imap_parser *p, const char *buf,
    size_t len, size_t *consumed);

/* After IMAP_PARSE_LITERAL_WAIT: the "+" was sent, the literal may come. */
void imap_parser_literal_accept(struct imap_parser *p);

/*
 * Like imap_parse(), for one line of an AUTHENTICATE exchange: base64 in
 * cmd.args[0], or "*" to cancel.  The line may be as long as the larger of
 * max_line and a PLAIN response at its longest.
 */
enum imap_parse_result imap_parse_sasl(struct imap_parser *p, const char *buf,
    size_t len, size_t *consumed);

/*
 * After a refused AUTHENTICATE: a client that did not wait for the "+"
 * (RFC 9051 section 6.2.2) may have sent its response line anyway, and
 * that line holds its credentials.  A line that starts with a tag and a
 * space is a command, parsed and returned as imap_parse() would; any
 * other line cannot be one and is taken as the refused exchange's
 * response: IMAP_PARSE_SASL_DISCARD, with its bytes wiped from the store
 * and nothing of it in cmd, or IMAP_PARSE_INVALID (fatal, untagged) when
 * it is longer than a SASL line may be.
 */
enum imap_parse_result imap_parse_refused(struct imap_parser *p,
    const char *buf, size_t len, size_t *consumed);

/* A fixed English text for err, to follow "BAD"; never client data. */
const char *imap_error_text(enum imap_error err);

/* The kind of a backend line. */
enum imap_response_kind {
	IMAP_RESP_TAGGED,       /* "<tag> OK|NO|BAD ..." */
	IMAP_RESP_UNTAGGED,     /* "* ..." */
	IMAP_RESP_CONTINUATION, /* "+ ..." */
	IMAP_RESP_FRAGMENT      /* the rest of a line after a literal */
};

/* The status word of a response, if it has one. */
enum imap_status {
	IMAP_STATUS_NONE, /* untagged data such as "* CAPABILITY ..." */
	IMAP_STATUS_OK,
	IMAP_STATUS_NO,
	IMAP_STATUS_BAD,
	IMAP_STATUS_PREAUTH,
	IMAP_STATUS_BYE
};

/* A span of the line being classified. */
struct imap_span {
	const char *p;
	size_t len;
};

/* One backend line, pointing into it. */
struct imap_response {
	enum imap_response_kind kind;
	enum imap_status status;
	struct imap_span tag; /* tagged responses only */
	struct imap_span
	    code; /* the response code's name, e.g. "UNAVAILABLE" */
	struct imap_span text; /* the human-readable text */
	struct imap_span caps; /* the capability list, space-separated */
	bool has_caps;         /* "* CAPABILITY ..." or "[CAPABILITY ...]" */
	bool has_literal;      /* the line ends in "{n}": n bytes follow */
	uint64_t literal;
};

/*
 * Classifies one backend line (without CRLF).  A line that starts like no
 * response is IMAP_RESP_FRAGMENT: it is what follows a literal.  Returns 0,
 * or -1 when the line cannot be IMAP: a NUL in it, or a tag followed by no
 * status word.
 */
int imap_response_parse(const char *line, size_t len, struct imap_response *r);

/* Whether the space-separated list caps[0..len) holds name (any case). */
bool imap_caps_has(const char *caps, size_t len, const char *name);

/* The capabilities of a backend that its login dialogue depends on. */
enum imap_cap_bit {
	IMAP_CAP_STARTTLS = 1u << 0,
	IMAP_CAP_LOGINDISABLED = 1u << 1,
	IMAP_CAP_AUTH_PLAIN = 1u << 2,
	IMAP_CAP_SASL_IR = 1u << 3,
	IMAP_CAP_LITERAL_PLUS = 1u << 4,
	IMAP_CAP_ID = 1u << 5
};

/*
 * Which of those the list caps[0..len) holds (any case), in one pass: a
 * bit of enum imap_cap_bit for each, as imap_caps_has() would say.
 */
unsigned imap_caps_scan(const char *caps, size_t len);

/*
 * Copies the backend's post-login capabilities into out without what
 * postern cannot relay while it follows the session: STARTTLS,
 * LOGINDISABLED, AUTH=, SASL-IR, LOGIN-REFERRALS, UNAUTHENTICATE (RFC 8437),
 * COMPRESS= (RFC 4978: compression would hide the commands), LITERAL+ and
 * LITERAL- (RFC 7888: see the readers below).  Returns 0, or -1 if out is
 * too small.
 */
int imap_caps_filter(const char *caps, size_t len, char *out, size_t cap);

/*
 * Writes postern's pre-auth capability list: STARTTLS when TLS is not
 * active but available, and LOGINDISABLED instead of AUTH=PLAIN AUTH=LOGIN
 * SASL-IR when cleartext login is not allowed.  Returns 0, or -1 if out is
 * too small.
 */
int imap_caps_preauth(bool tls_active, bool tls_available, bool cleartext_ok,
    char *out, size_t cap);

/*
 * Writes val[0..len) as an IMAP quoted string into out.  Returns 0, 1 when
 * the value must go as a literal instead (8-bit or control bytes), or -1 if
 * out is too small.  *outlen is set on 0.
 */
int imap_quote_astring(const char *val, size_t len, char *out, size_t cap,
    size_t *outlen);

/*
 * Copies an ID field value (RFC 2971) into out[0..cap) for the logs: cut
 * to fit on a UTF-8 character boundary, and with '?' for each control
 * character (a literal may hold CR, LF or NUL, which would forge lines in
 * the daemon log) and each byte that is not UTF-8.  Always NUL-terminates
 * when cap > 0.
 */
void imap_id_value(const char *val, size_t len, char *out, size_t cap);

/*
 * After login: one reading of each direction, for the protocol log and for
 * the compression guard alike (they cannot disagree: they are the same
 * reading).  Both readers are resumable byte machines over whatever spans
 * the relay hands them, and change bytes in place, never their number.
 * Literal data is skipped by its count, never copied or looked into; only
 * the start of a client command and of a tagged answer is kept.
 *
 * The client's reader follows the protocol as the server does:
 * - a literal header "{n}" or "~{n}" counts only where a string may start
 *   (after a space, "(", ")", a quoted string or literal data), never
 *   inside an atom ("x{20}") or a quoted string;
 * - a synchronising literal's bytes are literal data only after the
 *   server's "+" (RFC 9051 section 7.5): after the line that announces one,
 *   and after an IDLE (RFC 2177), the reader stops (IMAP_FRAME_HOLD) and
 *   the relay holds the client's further bytes until the server answered,
 *   with "+" or with the command's tagged answer (then they are a new
 *   command);
 * - a non-synchronising literal (RFC 7888 "{n+}", and "{n-}") cannot be
 *   held: a server that ends the command before its arguments (Dovecot's
 *   NOOP, an unknown command) runs the literal's bytes as commands, and a
 *   header made invalid would have the server run them (an APPEND's
 *   message) as commands too.  The reader stops at its header
 *   (IMAP_FRAME_REFUSED): the session ends there; LITERAL+ and LITERAL-
 *   are not offered after login;
 * - COMPRESS (RFC 4978) has the byte after its name changed to "X"
 *   ("z COMPRESS DEFLATE" becomes "z COMPRESSXDEFLATE"), so that the
 *   server answers it with a tagged BAD in its place in the stream and the
 *   client goes on uncompressed, as RFC 4978 lets it.
 * The server's reader finds tagged answers and continuation requests, and
 * makes COMPRESS=, LITERAL+ and LITERAL- unknown in capability lists.
 */

/* What a reader found in the bytes it was given. */
enum imap_frame {
	IMAP_FRAME_MORE,         /* every byte consumed, nothing complete yet */
	IMAP_FRAME_COMMAND,      /* a client command is complete */
	IMAP_FRAME_DONE,         /* the client's line that ends an IDLE */
	IMAP_FRAME_HOLD,         /* client: the bytes after *consumed wait for
				    the server's answer (imap_cframe_answer) */
	IMAP_FRAME_TAGGED,       /* a tagged server answer is complete */
	IMAP_FRAME_CONTINUATION, /* a server "+" line is complete */
	IMAP_FRAME_REFUSED       /* client: a non-synchronising literal; the
				    bytes before *consumed (the header's
				    start) may go on, none after: the session
				    must end.  Every later feed says so again,
				    consuming nothing. */
};

/* Room for the parameters of a command, for its row. */
#define IMAP_PARAMS_KEPT 256
/* Room for a command name in lower case, "uid+fetch" included. */
#define IMAP_VERB_MAX 32
/* Room for the start of a tagged answer, for its row. */
#define IMAP_LINE_KEPT 200
/* Enough of a line's end to hold " ~{18446744073709551615}\r". */
#define IMAP_TAIL_KEPT 32

/* The client's commands after login. */
struct imap_cframe {
	int state;
	int lit;            /* where a literal header is */
	uint64_t litn;      /* its n so far */
	uint64_t litleft;   /* literal bytes still to skip */
	bool sstart;        /* a string may start at the next byte */
	int hold;           /* what the held line waits for */
	bool held_answered; /* a tagged answer with the held tag came */
	bool idling;        /* the server accepted an IDLE: its end comes */
	bool counted;       /* this command is in pending */
	bool logout;        /* the last complete line was "tag LOGOUT": the
			       backend's close that follows is the one the
			       client asked for */
	uint64_t pending;   /* commands sent whose tagged answer is to come */
	int mask;           /* how much of the parameters may be kept */
	bool masked;        /* some was left out */
	bool done;          /* the last result is still here */
	size_t refused;     /* COMPRESS commands made unknown, so far */
	size_t taglen, verblen, paramslen;
	uint64_t bytes; /* of the command, literals included */
	/* After IMAP_FRAME_COMMAND or IMAP_FRAME_DONE: */
	char tag[IMAP_TAG_MAX + 1];        /* for DONE, the tag of the IDLE */
	char verb[IMAP_VERB_MAX];          /* "fetch", "uid+fetch", "done" */
	char params[IMAP_PARAMS_KEPT + 8]; /* after the name; LOGIN masked;
					      for DONE, a line that was not
					      DONE */
	char holdtag[IMAP_TAG_MAX + 1];    /* of the held command or IDLE */
};

/* Prepares f for the first command. */
void imap_cframe_init(struct imap_cframe *f);

/*
 * Consumes buf[0..len) up to the end of one command (its line, with the
 * literals it announces and the lines that follow them) or up to a hold;
 * *consumed says how far, and the bytes up to there may be sent on.
 * LOGIN's parameters become "*****" and AUTHENTICATE's keep only the
 * mechanism.  COMPRESS is changed in buf as said above.  After
 * IMAP_FRAME_REFUSED the command's tag, verb and parameters (up to the
 * header's "+") are kept, as after IMAP_FRAME_COMMAND.
 */
enum imap_frame imap_cframe_feed(struct imap_cframe *f, char *buf, size_t len,
    size_t *consumed);

/*
 * Tells f of a server answer (IMAP_FRAME_TAGGED with its tag, or
 * IMAP_FRAME_CONTINUATION), which may end a hold.  Returns
 * IMAP_FRAME_COMMAND when the answer refused a held literal: the held
 * command is complete, as after imap_cframe_feed(); else IMAP_FRAME_MORE.
 */
enum imap_frame imap_cframe_answer(struct imap_cframe *f, enum imap_frame kind,
    const char *tag);

/* Whether f is between commands: nothing of the next one read yet. */
bool imap_cframe_between(const struct imap_cframe *f);

/*
 * What the client's reader carries from one command to the next: the
 * commands still to be answered, and a held IDLE's tag and state.  Zeroed
 * is a reader before the first command.  An idle session keeps only this
 * (imap_cframe_rest()) and gets a whole reader back when bytes come
 * (imap_cframe_wake()).
 */
struct imap_cframe_rest {
	uint64_t pending;
	unsigned char hold;
	bool held_answered;
	bool idling;
	bool logout;
	char holdtag[IMAP_TAG_MAX + 1];
};

/*
 * Whether f may rest: between commands, holding no line back for a
 * literal's "+" (an IDLE waiting for its "+" may rest: its line is
 * complete) and not refused.
 */
bool imap_cframe_can_rest(const struct imap_cframe *f);

/* Keeps in r what f carries to the next command; f may then go. */
void imap_cframe_rest(const struct imap_cframe *f, struct imap_cframe_rest *r);

/*
 * Prepares f to read on from r exactly as the reader that rested would
 * have, with its COMPRESS count (refused) started afresh.  The last
 * command's tag, verb and parameters are not kept: they are read as soon
 * as a result is returned.
 */
void imap_cframe_wake(struct imap_cframe *f, const struct imap_cframe_rest *r);

/* The server's answers after login. */
struct imap_sframe {
	int kind;      /* of the current line */
	int head;      /* where in the line */
	bool lits;     /* the line may announce a literal */
	bool whole;    /* tail holds the line since it (or a literal)
			  began */
	size_t k;      /* characters of a capability matched */
	int cap;       /* which capability */
	size_t wlen;   /* of word */
	char word[12]; /* the first word or the code's name, upper case */
	uint64_t litleft;
	size_t taillen;
	char tail[IMAP_TAIL_KEPT];
	bool done;
	size_t hidden; /* capabilities made unknown, so far */
	/* After IMAP_FRAME_TAGGED: the tag, the status, the line's start. */
	char tag[IMAP_TAG_MAX + 1];
	enum imap_status status;
	size_t linelen;
	char line[IMAP_LINE_KEPT + 1];
};

/* Prepares f for the first answer line. */
void imap_sframe_init(struct imap_sframe *f);

/*
 * Consumes buf[0..len) up to the end of one tagged answer or continuation
 * line; untagged lines (and the literals they announce) pass without a
 * result.  A literal is announced only by an untagged response that is no
 * status or capability response, where a string may start.  *consumed
 * says how far.
 */
enum imap_frame imap_sframe_feed(struct imap_sframe *f, char *buf, size_t len,
    size_t *consumed);

/*
 * Whether f stands between two answer lines: not inside a line nor inside
 * a literal, so that an untagged line of postern's own (RFC 9051 section
 * 7.1.5, BYE) may be written there.  The server's reader carries nothing
 * from one line to the next but its count of hidden capabilities: there
 * it may go, and imap_sframe_init() gives one that reads on alike.
 */
bool imap_sframe_at_boundary(const struct imap_sframe *f);

#endif
