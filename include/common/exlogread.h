/*
 * exlogread: a streaming reader for Exchange-format POP3/IMAP4 protocol logs
 * (docs: protocol-log.md), the files Exchange 2013-2019 and postern write.
 *
 * The reader is pure and resumable: it is handed bytes in blocks of any
 * size, keeps the part of a line that crosses a block boundary, and hands
 * back one row at a time as spans pointing into the caller's block (or into
 * its own buffers).  It never writes into the caller's bytes (a file can
 * be mapped read-only) and never allocates per row or per field.
 *
 * It skips '#' lines, repeated field-name lines and empty lines anywhere,
 * accepts LF or CRLF line ends and 12-field (Exchange 2013) or 13-field
 * (2016/2019, postern) rows, and undoes CSV quoting ("" inside a quoted
 * field).  A row with too few or too many fields, a broken quote or an
 * absurd length is handed back as EXLOG_BAD with its line number: the
 * caller counts it and goes on.
 */
#ifndef POSTERN_EXLOGREAD_H
#define POSTERN_EXLOGREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The columns of a row, in file order. */
enum exlog_field {
	EXLOG_DATETIME,
	EXLOG_SESSIONID,
	EXLOG_SEQNUMBER,
	EXLOG_SIP,
	EXLOG_CIP,
	EXLOG_USER,
	EXLOG_DURATION,
	EXLOG_RQSIZE,
	EXLOG_RPSIZE,
	EXLOG_COMMAND,
	EXLOG_PARAMETERS,
	EXLOG_CONTEXT,
	EXLOG_PUID,
	EXLOG_FIELDS
};

/* Exchange 2013 writes no puid column. */
#define EXLOG_MIN_FIELDS 12

/*
 * Lines longer than this are malformed: real rows are bounded (parameters
 * are cut at 2048 characters), and the bound keeps a file without line
 * ends from growing the carry buffer without limit.
 */
#define EXLOG_LINE_MAX (64 * 1024)

/* What the log says it is, from its "#Log-type:" line. */
enum exlog_logtype { EXLOG_TYPE_UNKNOWN, EXLOG_TYPE_POP3, EXLOG_TYPE_IMAP4 };

/* The result of one call to exlog_read() or exlog_finish(). */
enum exlog_result {
	EXLOG_NEED_MORE, /* the block is used up; feed the next one */
	EXLOG_ROW,       /* *row holds a well-formed row */
	EXLOG_BAD        /* *row holds a malformed line; see row->bad */
};

/* Why a line is malformed. */
enum exlog_bad {
	EXLOG_BAD_NONE,
	EXLOG_BAD_FIELDS,  /* fewer than 12 or more than 13 fields */
	EXLOG_BAD_QUOTE,   /* a quoted field not closed, or text after it */
	EXLOG_BAD_TOOLONG, /* longer than EXLOG_LINE_MAX */
	EXLOG_BAD_TIME     /* set by callers that reject the dateTime field */
};

/* One field: not NUL-terminated, quoting undone. */
struct exlog_span {
	const char *p;
	size_t len;
};

/*
 * One row.  The spans stay valid until the next call on the reader; fields
 * beyond nfields are empty.
 */
struct exlog_row {
	struct exlog_span f[EXLOG_FIELDS];
	int nfields;
	uint64_t line; /* 1-based line number in the input */
	enum exlog_bad bad;
};

/* Reader state; set up with exlog_reader_init(), freed with
 * exlog_reader_free(). */
struct exlog_reader {
	char *carry; /* the start of a line that crossed a block boundary */
	size_t carry_len;
	char *scratch;              /* fields with doubled quotes, undone */
	uint64_t line;              /* lines completed so far */
	bool discarding;            /* inside an overlong line */
	enum exlog_logtype logtype; /* from the last "#Log-type:" line */
	uint64_t comments; /* '#', field-name and empty lines skipped */
	int scanner;       /* the line scanner exlog_reader_init() chose */
};

/*
 * Prepares a reader for the start of a file; allocates its carry and
 * scratch buffers (a line at its longest each) once, and picks the
 * fastest line scanner the CPU has.  Returns 0, or -1 when out of memory.
 */
int exlog_reader_init(struct exlog_reader *r);

/* Frees the buffers; the reader may be initialised again. */
void exlog_reader_free(struct exlog_reader *r);

/*
 * Reads the next row from buf[0..len).  *used is set to the number of bytes
 * consumed; the caller passes the rest again (buf + *used) after handling
 * the row, and the next block once EXLOG_NEED_MORE says the block is used
 * up.
 */
enum exlog_result exlog_read(struct exlog_reader *r, const char *buf,
    size_t len, size_t *used, struct exlog_row *row);

/*
 * Call at the end of the input: hands back a last line without a line end
 * (EXLOG_ROW or EXLOG_BAD), or EXLOG_NEED_MORE when there is none.
 */
enum exlog_result exlog_finish(struct exlog_reader *r, struct exlog_row *row);

/*
 * Parses dateTime ("2023-01-09T13:16:59.348Z"; the fraction may have 0 to
 * 7 digits) into milliseconds since the epoch; returns 0 or -1.
 */
int exlog_time(const char *p, size_t len, int64_t *ms);

/* Days since 1970-01-01 of a proleptic Gregorian date (no checks). */
int64_t exlog_days_from_civil(int y, unsigned m, unsigned d);

/*
 * Writes a value with Exchange's "\r" and "\n" escapes decoded into out
 * (cap bytes, always NUL-terminated when cap > 0); returns the decoded
 * length before any cut.  Only for fields where the escapes are meant:
 * Exchange 2013 writes user names with raw backslashes ("domain\rob").
 */
size_t exlog_unescape(const char *p, size_t len, char *out, size_t cap);

/*
 * Finds the value of key in a context field ("R=ok;Msg=...") and returns
 * it without its surrounding quotes; returns true when the key is there.
 * Keys compare case-insensitively.  A quote inside a quoted value is
 * doubled (postern writes it so); the span keeps it doubled: see
 * exlog_context_value().
 */
bool exlog_context_get(const char *ctx, size_t len, const char *key,
    struct exlog_span *value);

/*
 * Copies a value found by exlog_context_get() to out (cap bytes, NUL
 * included) with its doubled quotes made single; returns its length.
 */
size_t exlog_context_value(const struct exlog_span *v, char *out, size_t cap);

/*
 * For tests only: makes the readers initialised from now on use one line
 * scanner, "avx2", "sse2" or "scalar" (NULL: the best the CPU has, the
 * default), so that every one can be tested on any machine.  Returns -1,
 * changing nothing, when the scanner is not built in or the CPU lacks it.
 */
int exlog_scanner_force(const char *name);

/* For tests only: the name of the line scanner a reader uses. */
const char *exlog_scanner_name(const struct exlog_reader *r);

/*
 * The login mechanisms a row can name.  Only these names are ever shown:
 * a log row may carry more than the mechanism (a careless writer's SASL
 * initial response, a continuation line where the verb should be), and a
 * fixed list cannot repeat a token or an NTLM response.  The order is the
 * order reports list them in.
 */
enum exlog_mech {
	EXLOG_MECH_NONE,  /* not a login row */
	EXLOG_MECH_USER,  /* POP3 USER and PASS */
	EXLOG_MECH_LOGIN, /* IMAP LOGIN, or SASL LOGIN: the password as is */
	EXLOG_MECH_PLAIN,
	EXLOG_MECH_APOP,
	EXLOG_MECH_CRAM_MD5,
	EXLOG_MECH_DIGEST_MD5,
	EXLOG_MECH_SCRAM_SHA_1,
	EXLOG_MECH_SCRAM_SHA_256,
	EXLOG_MECH_EXTERNAL,
	EXLOG_MECH_NTLM,
	EXLOG_MECH_GSSAPI,
	EXLOG_MECH_XOAUTH2,
	EXLOG_MECH_OAUTHBEARER,
	EXLOG_MECH_OTHER, /* a name not in this list, or no name */
	EXLOG_MECH_COUNT
};

/*
 * The mechanism of a login row from its command and parameters: POP3
 * "pass" (USER/PASS), "apop", "auth" with the mechanism as the first word
 * of the parameters (" PLAIN", POP3 keeps the leading space), IMAP
 * "login" and "authenticate" ("NTLM").  Names compare case-insensitively
 * and only as a whole word.  EXLOG_MECH_NONE for any other row, and for
 * POP3's bare "auth" (the list of mechanisms, no login).
 */
enum exlog_mech exlog_mechanism(const struct exlog_span *command,
    const struct exlog_span *params);

/* The name of a mechanism ("NTLM", "USER", "other"); "" for none. */
const char *exlog_mech_name(enum exlog_mech m);

/* A short English name for a bad-row reason. */
const char *exlog_bad_name(enum exlog_bad bad);

#endif /* POSTERN_EXLOGREAD_H */
