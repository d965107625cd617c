/*
 * imap_frame: the relay readers of the IMAP4 module, one for each
 * direction after login.
 *
 * Like the pre-login parser (imap_parse.c) they are pure, resumable byte
 * machines, but they run on every relayed byte for the whole session and
 * share nothing with it.  The compression guard lives here, inside the
 * client's reader, because it must read the stream exactly as the
 * protocol log does.
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "imap.h"

/* --- after login: one reading of each direction ------------------------- */

/*
 * The client's stream is read once, by one machine, for the protocol log
 * and for the compression guard alike.  Where a literal is and whether its
 * bytes are literal data is decided as the server decides it:
 *
 * - A literal header "{n}" (or "~{n}", RFC 3516 literal8) counts only where
 *   a string may start: after a space, "(" or ")", after a quoted string or
 *   literal data (the server's parser needs no space there), never inside
 *   an atom ("x{20}") or a quoted string.
 * - A synchronising literal is literal data only once the server answered
 *   "+" (RFC 9051 section 7.5); a server that refused the command first
 *   (tagged NO/BAD, or OK from a command that never reads its arguments,
 *   as Dovecot's NOOP) reads the next bytes as a new command.  The reader
 *   stops after such a line (IMAP_FRAME_HOLD) until the answer came.
 * - A non-synchronising literal (RFC 7888 "{n+}", LITERAL+ and LITERAL-,
 *   and "{n-}" alike) cannot wait for an answer: its data follows at once,
 *   and a server that ended the command early (Dovecot does, for NOOP, an
 *   unknown command, CHECK or "~{n+}" outside APPEND) runs that data as
 *   commands.  Nor can the header be made invalid and the data passed on:
 *   the server would then run the data (an APPEND's message lines) as
 *   commands.  postern does not offer LITERAL+ or LITERAL- after login;
 *   the reader stops at such a header (IMAP_FRAME_REFUSED), nothing from
 *   the header on is relayed, and the session ends.
 * - After IDLE (RFC 2177) the server's "+" makes the next line the end of
 *   the IDLE, whatever it says; a tagged answer makes it a command.
 */

/* Where a client command is. */
enum {
	IMAP_CF_TAG,
	IMAP_CF_VERB,
	IMAP_CF_VERB2, /* the command after "UID " */
	IMAP_CF_ARGS,
	IMAP_CF_QUOTED,
	IMAP_CF_QESC, /* after a backslash in a quoted string */
	IMAP_CF_LITERAL,
	IMAP_CF_HOLD,   /* waiting for the server's answer */
	IMAP_CF_IDLE,   /* the line that ends an IDLE */
	IMAP_CF_REFUSED /* after a non-synchronising literal: nothing more */
};

/* Where a literal header is. */
enum {
	IMAP_LIT_NONE,
	IMAP_LIT_TILDE,  /* "~" where a string may start */
	IMAP_LIT_OPEN,   /* "{" */
	IMAP_LIT_DIGITS, /* "{1" */
	IMAP_LIT_CLOSED, /* "{1}" */
	IMAP_LIT_CR      /* "{1}\r" */
};

/* What a held line waits for. */
enum {
	IMAP_HOLD_NONE,
	IMAP_HOLD_LITERAL, /* "+": literal data; tagged: a new command */
	IMAP_HOLD_IDLE     /* "+": the IDLE's end; tagged: a new command */
};

/* How much of a command's parameters its row may show. */
enum {
	IMAP_MASK_NONE,
	IMAP_MASK_ALL,       /* LOGIN: the password */
	IMAP_MASK_AFTER_WORD /* AUTHENTICATE: an initial response */
};

void
imap_cframe_init(struct imap_cframe *f)
{
	memset(f, 0, sizeof(*f));
	f->state = IMAP_CF_TAG;
}

/* Starts a new command, keeping what outlives one (holds, counts). */
static void
imap_cframe_next(struct imap_cframe *f)
{
	if (f->hold == IMAP_HOLD_IDLE)
		f->state = IMAP_CF_HOLD;
	else
		f->state = f->idling ? IMAP_CF_IDLE : IMAP_CF_TAG;
	f->lit = IMAP_LIT_NONE;
	f->litn = f->litleft = 0;
	f->sstart = f->counted = false;
	f->mask = IMAP_MASK_NONE;
	f->masked = false;
	f->done = false;
	f->taglen = f->verblen = f->paramslen = 0;
	f->bytes = 0;
	f->tag[0] = f->verb[0] = f->params[0] = '\0';
}

static void
imap_cframe_verb_char(struct imap_cframe *f, char c)
{
	if (f->verblen + 1 < sizeof(f->verb))
		f->verb[f->verblen++] = (char)tolower((unsigned char)c);
	f->verb[f->verblen] = '\0';
}

/* The command name is complete: decide what its parameters may show. */
static void
imap_cframe_args_start(struct imap_cframe *f)
{
	f->state = IMAP_CF_ARGS;
	f->sstart = true;
	if (strcmp(f->verb, "login") == 0)
		f->mask = IMAP_MASK_ALL;
	else if (strcmp(f->verb, "authenticate") == 0)
		f->mask = IMAP_MASK_AFTER_WORD;
}

static void
imap_cframe_param_char(struct imap_cframe *f, char c)
{
	if (c == '\r')
		return;
	if (f->mask == IMAP_MASK_ALL ||
	    (f->mask == IMAP_MASK_AFTER_WORD && c == ' ' && f->paramslen > 0)) {
		f->mask = IMAP_MASK_ALL;
		f->masked = true;
		return;
	}
	if (f->paramslen < IMAP_PARAMS_KEPT)
		f->params[f->paramslen++] = c;
}

/*
 * The end of the command name at *p (a space or CR).  RFC 4978
 * compression would hide the rest of the session from the log and from
 * this reader: the byte after COMPRESS becomes "X", so that the server
 * answers an unknown command with a tagged BAD in its place in the
 * stream, and the client goes on uncompressed as RFC 4978 lets it.
 */
static void
imap_cframe_verb_end(struct imap_cframe *f, char *p)
{
	if (strcmp(f->verb, "compress") == 0) {
		*p = 'X';
		f->refused++;
	}
}

/*
 * Counts a command the server will answer with a tagged line.  A line
 * without a tag gets an untagged BAD.  One whose tag the server finds
 * invalid is counted all the same: a count too high only makes a refused
 * literal wait longer, a count too low could take an earlier command's
 * answer for the held one's.
 */
static void
imap_cframe_count(struct imap_cframe *f)
{
	if (f->counted)
		return;
	f->counted = true;
	if (f->taglen > 0)
		f->pending++;
}

/* What one byte of the arguments was. */
enum {
	IMAP_ARG_TEXT,   /* nothing to note */
	IMAP_ARG_HEADER, /* the first byte of a literal header ("{" or "~") */
	IMAP_ARG_NONSYNC /* the "+" or "-" of a non-synchronising header */
};

/*
 * One byte of the arguments outside quoted strings and literal data, c:
 * follows literal headers and where a string may start.
 */
static int
imap_cframe_arg(struct imap_cframe *f, char c)
{
	switch (f->lit) {
	case IMAP_LIT_TILDE:
		if (c == '{') {
			f->lit = IMAP_LIT_OPEN;
			f->litn = 0;
			return IMAP_ARG_TEXT;
		}
		break;
	case IMAP_LIT_OPEN:
	case IMAP_LIT_DIGITS:
		if (c >= '0' && c <= '9') {
			/* A count no server takes is text. */
			if (f->litn > (UINT64_MAX - 9) / 10)
				break;
			f->litn = f->litn * 10 + (uint64_t)(c - '0');
			f->lit = IMAP_LIT_DIGITS;
			return IMAP_ARG_TEXT;
		}
		if (f->lit == IMAP_LIT_DIGITS && c == '}') {
			f->lit = IMAP_LIT_CLOSED;
			return IMAP_ARG_TEXT;
		}
		/* RFC 7888 "{n+}" (and "{n-}", which no server should take
		 * but which costs nothing to refuse): see above. */
		if (f->lit == IMAP_LIT_DIGITS && (c == '+' || c == '-'))
			return IMAP_ARG_NONSYNC;
		break;
	case IMAP_LIT_CLOSED:
		if (c == '\r') {
			f->lit = IMAP_LIT_CR;
			return IMAP_ARG_TEXT;
		}
		break;
	default:
		break;
	}
	f->lit = IMAP_LIT_NONE;
	if (f->sstart) {
		f->sstart = false;
		if (c == '"') {
			f->state = IMAP_CF_QUOTED;
			return IMAP_ARG_TEXT;
		}
		if (c == '{') {
			f->lit = IMAP_LIT_OPEN;
			f->litn = 0;
			return IMAP_ARG_HEADER;
		}
		if (c == '~') {
			f->lit = IMAP_LIT_TILDE;
			return IMAP_ARG_HEADER;
		}
	}
	f->sstart = c == ' ' || c == '(' || c == ')';
	return IMAP_ARG_TEXT;
}

/*
 * A non-synchronising literal's header: the command ends here, unrelayed
 * from its header on, and so does the reading.  Its row keeps what came
 * before, the header included.
 */
static enum imap_frame
imap_cframe_refuse(struct imap_cframe *f)
{
	imap_cframe_count(f);
	f->params[f->paramslen] = '\0';
	f->state = IMAP_CF_REFUSED;
	f->lit = IMAP_LIT_NONE;
	f->done = false;
	return IMAP_FRAME_REFUSED;
}

/* The line ended and no literal follows: the command is complete. */
static enum imap_frame
imap_cframe_complete(struct imap_cframe *f)
{
	f->params[f->paramslen] = '\0';
	if (f->masked)
		snprintf(f->params + f->paramslen,
		    sizeof(f->params) - f->paramslen, "%s*****",
		    f->paramslen > 0 ? " " : "");
	f->done = true;
	f->state = IMAP_CF_TAG;
	return IMAP_FRAME_COMMAND;
}

/* A line ended (its LF was the last byte taken). */
static enum imap_frame
imap_cframe_eol(struct imap_cframe *f)
{
	bool header = f->state == IMAP_CF_ARGS &&
		      (f->lit == IMAP_LIT_CLOSED || f->lit == IMAP_LIT_CR);

	imap_cframe_count(f);
	f->logout = f->state == IMAP_CF_VERB && strcmp(f->verb, "logout") == 0;
	f->lit = IMAP_LIT_NONE;
	/* RFC 2177: the server's answer says what the next line is. */
	if (strcmp(f->verb, "idle") == 0) {
		f->hold = IMAP_HOLD_IDLE;
		f->held_answered = false;
		memcpy(f->holdtag, f->tag, sizeof(f->holdtag));
		return imap_cframe_complete(f);
	}
	if (header) {
		f->hold = IMAP_HOLD_LITERAL;
		f->held_answered = false;
		memcpy(f->holdtag, f->tag, sizeof(f->holdtag));
		f->state = IMAP_CF_HOLD;
		return IMAP_FRAME_HOLD;
	}
	return imap_cframe_complete(f);
}

/* The line after an accepted IDLE is complete: it ended the IDLE. */
static enum imap_frame
imap_cframe_idle_end(struct imap_cframe *f)
{
	bool done;

	f->params[f->paramslen] = '\0';
	done = strcasecmp(f->params, "DONE") == 0;
	f->idling = false;
	f->logout = false;
	f->done = true;
	f->state = IMAP_CF_TAG;
	/* RFC 2177: DONE ends the IDLE, whose tag its answer has; any
	 * other line ends it too, with a BAD, and is kept for the row. */
	memcpy(f->tag, f->holdtag, sizeof(f->tag));
	f->taglen = strlen(f->tag);
	snprintf(f->verb, sizeof(f->verb), "done");
	if (done) {
		f->params[0] = '\0';
		f->paramslen = 0;
	}
	return IMAP_FRAME_DONE;
}

enum imap_frame
imap_cframe_feed(struct imap_cframe *f, char *buf, size_t len, size_t *consumed)
{
	size_t i = 0, header = 0;

	if (f->done)
		imap_cframe_next(f);
	while (i < len || f->state == IMAP_CF_HOLD ||
	       f->state == IMAP_CF_REFUSED) {
		char c;

		switch (f->state) {
		case IMAP_CF_HOLD:
			*consumed = i;
			return IMAP_FRAME_HOLD;
		case IMAP_CF_REFUSED:
			*consumed = 0;
			return IMAP_FRAME_REFUSED;
		case IMAP_CF_LITERAL: {
			/* Skipped by count: literal data is never looked at. */
			uint64_t n =
			    len - i < f->litleft ? len - i : f->litleft;

			i += (size_t)n;
			f->bytes += n;
			f->litleft -= n;
			if (f->litleft == 0) {
				f->state = IMAP_CF_ARGS;
				f->sstart = true;
			}
			continue;
		}
		default:
			break;
		}
		c = buf[i++];
		f->bytes++;
		if (c == '\n') {
			*consumed = i;
			if (f->state == IMAP_CF_IDLE)
				return imap_cframe_idle_end(f);
			return imap_cframe_eol(f);
		}
		switch (f->state) {
		case IMAP_CF_TAG:
			if (c == ' ')
				f->state = IMAP_CF_VERB;
			else if (c != '\r' && f->taglen < IMAP_TAG_MAX) {
				f->tag[f->taglen++] = c;
				f->tag[f->taglen] = '\0';
			}
			break;
		case IMAP_CF_VERB:
		case IMAP_CF_VERB2:
			if (c == ' ' || c == '\r') {
				imap_cframe_verb_end(f, buf + i - 1);
				if (c == '\r')
					break;
				if (f->state == IMAP_CF_VERB &&
				    strcmp(f->verb, "uid") == 0) {
					imap_cframe_verb_char(f, '+');
					f->state = IMAP_CF_VERB2;
				} else
					imap_cframe_args_start(f);
				break;
			}
			imap_cframe_verb_char(f, c);
			break;
		case IMAP_CF_ARGS:
			imap_cframe_param_char(f, c);
			switch (imap_cframe_arg(f, c)) {
			case IMAP_ARG_HEADER:
				header = i - 1;
				break;
			case IMAP_ARG_NONSYNC:
				/* The header's start, or what of it is in
				 * buf: the bytes before it may go on. */
				*consumed = header;
				return imap_cframe_refuse(f);
			default:
				break;
			}
			break;
		case IMAP_CF_QUOTED:
			imap_cframe_param_char(f, c);
			if (c == '\\')
				f->state = IMAP_CF_QESC;
			else if (c == '"') {
				f->state = IMAP_CF_ARGS;
				f->sstart = true;
			}
			break;
		case IMAP_CF_QESC:
			imap_cframe_param_char(f, c);
			f->state = IMAP_CF_QUOTED;
			break;
		default: /* IMAP_CF_IDLE */
			imap_cframe_param_char(f, c);
			break;
		}
	}
	*consumed = len;
	return IMAP_FRAME_MORE;
}

enum imap_frame
imap_cframe_answer(struct imap_cframe *f, enum imap_frame kind, const char *tag)
{
	if (kind == IMAP_FRAME_CONTINUATION) {
		/* Only the held command can have asked: nothing was sent
		 * after it. */
		if (f->hold == IMAP_HOLD_LITERAL) {
			f->hold = IMAP_HOLD_NONE;
			f->litleft = f->litn;
			f->state = IMAP_CF_LITERAL;
			if (f->litleft == 0) {
				f->state = IMAP_CF_ARGS;
				f->sstart = true;
			}
		} else if (f->hold == IMAP_HOLD_IDLE) {
			f->hold = IMAP_HOLD_NONE;
			f->idling = true;
			if (f->state == IMAP_CF_HOLD)
				f->state = IMAP_CF_IDLE;
		}
		return IMAP_FRAME_MORE;
	}
	if (kind != IMAP_FRAME_TAGGED)
		return IMAP_FRAME_MORE;
	if (f->pending > 0)
		f->pending--;
	if (f->hold == IMAP_HOLD_NONE)
		return IMAP_FRAME_MORE;
	if (tag != NULL && strcmp(tag, f->holdtag) == 0)
		f->held_answered = true;
	/*
	 * The held command was answered without "+".  With commands sent
	 * before it still unanswered, an answer with its tag may belong to
	 * an earlier command of the same tag: the held one counts as
	 * answered only once nothing else is outstanding.
	 */
	if (!f->held_answered || f->pending > 0)
		return IMAP_FRAME_MORE;
	if (f->hold == IMAP_HOLD_IDLE) {
		f->hold = IMAP_HOLD_NONE;
		if (f->state == IMAP_CF_HOLD)
			f->state = IMAP_CF_TAG;
		return IMAP_FRAME_MORE;
	}
	/* The literal was refused: its line was the whole command. */
	f->hold = IMAP_HOLD_NONE;
	return imap_cframe_complete(f);
}

bool
imap_cframe_between(const struct imap_cframe *f)
{
	return f->done || f->bytes == 0;
}

bool
imap_cframe_can_rest(const struct imap_cframe *f)
{
	/*
	 * A line held for a literal's "+" keeps its tag, verb, parameters
	 * and count until the answer decides what it was; a refused reader
	 * never reads on.  Every other state between commands is made from
	 * hold and idling by imap_cframe_next().
	 */
	return imap_cframe_between(f) && f->state != IMAP_CF_REFUSED &&
	       f->hold != IMAP_HOLD_LITERAL;
}

void
imap_cframe_rest(const struct imap_cframe *f, struct imap_cframe_rest *r)
{
	r->pending = f->pending;
	r->hold = (unsigned char)f->hold;
	r->held_answered = f->held_answered;
	r->idling = f->idling;
	r->logout = f->logout;
	memcpy(r->holdtag, f->holdtag, sizeof(r->holdtag));
}

void
imap_cframe_wake(struct imap_cframe *f, const struct imap_cframe_rest *r)
{
	imap_cframe_init(f);
	f->pending = r->pending;
	f->hold = r->hold;
	f->held_answered = r->held_answered;
	f->idling = r->idling;
	f->logout = r->logout;
	memcpy(f->holdtag, r->holdtag, sizeof(f->holdtag));
	f->holdtag[IMAP_TAG_MAX] = '\0';
	/* As after a result: the next feed starts the next command from
	 * hold and idling (a held IDLE, an IDLE's end, or a command), and
	 * an answer meanwhile finds the same states a resting reader had. */
	f->done = true;
}

/* The kinds of server lines. */
enum {
	IMAP_SL_START, /* nothing of the line seen yet */
	IMAP_SL_UNTAGGED,
	IMAP_SL_CONTINUATION,
	IMAP_SL_TAGGED
};

/* Where in a server line the reader is. */
enum {
	IMAP_SH_TAG,   /* the tag, or "*" */
	IMAP_SH_WORD,  /* the first word after it */
	IMAP_SH_CODE0, /* after a status word: "[" may follow */
	IMAP_SH_CODE,  /* the response code's name */
	IMAP_SH_CAPS,  /* a capability list */
	IMAP_SH_BODY,  /* the rest, up to the line's end */
	IMAP_SH_LITERAL
};

void
imap_sframe_init(struct imap_sframe *f)
{
	memset(f, 0, sizeof(*f));
	f->kind = IMAP_SL_START;
}

/*
 * Whether t[0..n), the end of an untagged line before its LF, is a literal
 * header "{n}" with an optional CR, where a string may start (after a
 * space or "(", optionally with the "~" of literal8); whole says t holds
 * everything since the line or the last literal began.
 */
static bool
imap_tail_literal(const char *t, size_t n, bool whole, uint64_t *lit)
{
	size_t i, end = n;

	if (end > 0 && t[end - 1] == '\r')
		end--;
	if (end < 3 || t[end - 1] != '}')
		return false;
	i = end - 1;
	while (i > 0 && t[i - 1] >= '0' && t[i - 1] <= '9')
		i--;
	if (i == end - 1 || i == 0 || t[i - 1] != '{')
		return false;
	*lit = 0;
	for (size_t k = i; k < end - 1; k++) {
		if (*lit > (UINT64_MAX - 9) / 10)
			return false;
		*lit = *lit * 10 + (uint64_t)(t[k] - '0');
	}
	i--; /* the '{' */
	if (i > 0 && t[i - 1] == '~')
		i--;
	if (i == 0)
		return whole;
	return t[i - 1] == ' ' || t[i - 1] == '(';
}

/* Keeps the last IMAP_TAIL_KEPT bytes of the line seen so far. */
static void
imap_sframe_tail(struct imap_sframe *f, const char *seg, size_t n)
{
	if (n >= IMAP_TAIL_KEPT) {
		memcpy(f->tail, seg + n - IMAP_TAIL_KEPT, IMAP_TAIL_KEPT);
		f->whole = f->whole && f->taillen == 0 && n == IMAP_TAIL_KEPT;
		f->taillen = IMAP_TAIL_KEPT;
		return;
	}
	if (f->taillen + n > IMAP_TAIL_KEPT) {
		size_t drop = f->taillen + n - IMAP_TAIL_KEPT;

		memmove(f->tail, f->tail + drop, f->taillen - drop);
		f->taillen -= drop;
		f->whole = false;
	}
	memcpy(f->tail + f->taillen, seg, n);
	f->taillen += n;
}

/* Keeps n bytes of the line: the tail, and a tagged line's start. */
static void
imap_sframe_keep(struct imap_sframe *f, const char *p, size_t n)
{
	if (f->kind == IMAP_SL_TAGGED && f->linelen < IMAP_LINE_KEPT) {
		size_t k = IMAP_LINE_KEPT - f->linelen;

		k = k < n ? k : n;
		memcpy(f->line + f->linelen, p, k);
		f->linelen += k;
	}
	imap_sframe_tail(f, p, n);
}

/* A tagged line is complete: its tag and status word. */
static void
imap_sframe_tagged(struct imap_sframe *f)
{
	const char *sp, *w;
	size_t tl, wl;

	if (f->linelen > 0 && f->line[f->linelen - 1] == '\r')
		f->linelen--;
	f->line[f->linelen] = '\0';
	sp = memchr(f->line, ' ', f->linelen);
	tl = sp != NULL ? (size_t)(sp - f->line) : f->linelen;
	if (tl > IMAP_TAG_MAX)
		tl = IMAP_TAG_MAX;
	memcpy(f->tag, f->line, tl);
	f->tag[tl] = '\0';
	f->status = IMAP_STATUS_NONE;
	if (sp == NULL)
		return;
	w = sp + 1;
	for (wl = 0; w + wl < f->line + f->linelen && w[wl] != ' '; wl++)
		;
	if (wl == 2 && strncasecmp(w, "OK", 2) == 0)
		f->status = IMAP_STATUS_OK;
	else if (wl == 2 && strncasecmp(w, "NO", 2) == 0)
		f->status = IMAP_STATUS_NO;
	else if (wl == 3 && strncasecmp(w, "BAD", 3) == 0)
		f->status = IMAP_STATUS_BAD;
}

/* Whether the word collected so far is w (a string literal). */
#define imap_sframe_word_is(f, w)                                              \
	((f)->wlen == sizeof(w) - 1 && memcmp((f)->word, w, sizeof(w) - 1) == 0)

/*
 * One byte of a capability list at *p.  What postern cannot relay while
 * it reads the session is made unknown to the client, keeping the byte
 * count: "COMPRESS=" becomes "COMPRESS-" (RFC 4978), "LITERAL+" and
 * "LITERAL-" become "LITERALX" (RFC 7888, see above).
 */
static void
imap_sframe_cap(struct imap_sframe *f, char *p)
{
	static const char *const words[] = {"COMPRESS=", "LITERAL+"};
	unsigned char c = (unsigned char)*p;

	if (c == ' ') {
		f->k = 0;
		return;
	}
	if (c == ']') {
		f->head = IMAP_SH_BODY;
		return;
	}
	if (f->k == SIZE_MAX || c == '\r')
		return;
	if (f->k == 0)
		f->cap = toupper(c) == 'C' ? 0 : 1;
	{
		const char *w = words[f->cap];
		unsigned char want = (unsigned char)w[f->k];
		bool last = w[f->k + 1] == '\0';

		if (toupper(c) != want && !(last && f->cap == 1 && c == '-')) {
			f->k = SIZE_MAX; /* not this word */
			return;
		}
		if (!last) {
			f->k++;
			return;
		}
		*p = f->cap == 0 ? '-' : 'X';
		f->hidden++;
		f->k = SIZE_MAX;
	}
}

/* One byte at the start of a line, before its body (c is not LF). */
static void
imap_sframe_head(struct imap_sframe *f, char *p)
{
	unsigned char c = (unsigned char)*p;

	switch (f->head) {
	case IMAP_SH_TAG:
		if (c == ' ') {
			f->head = IMAP_SH_WORD;
			f->wlen = 0;
		}
		return;
	case IMAP_SH_WORD:
	case IMAP_SH_CODE:
		if (c != ' ' && c != '\r' && c != ']') {
			if (f->wlen < sizeof(f->word))
				f->word[f->wlen++] = (char)toupper(c);
			else
				f->wlen = sizeof(f->word) + 1; /* no word */
			return;
		}
		if (f->head == IMAP_SH_CODE) {
			f->head = IMAP_SH_BODY;
			if (c == ' ' && imap_sframe_word_is(f, "CAPABILITY")) {
				f->head = IMAP_SH_CAPS;
				f->k = 0;
			}
			return;
		}
		/* RFC 9051 section 7.1: status responses carry text, never
		 * a literal; the capability list neither. */
		if (imap_sframe_word_is(f, "OK") ||
		    imap_sframe_word_is(f, "NO") ||
		    imap_sframe_word_is(f, "BAD") ||
		    imap_sframe_word_is(f, "BYE") ||
		    imap_sframe_word_is(f, "PREAUTH")) {
			f->head = c == ' ' ? IMAP_SH_CODE0 : IMAP_SH_BODY;
			return;
		}
		f->head = IMAP_SH_BODY;
		if (f->kind != IMAP_SL_UNTAGGED)
			return;
		if (imap_sframe_word_is(f, "CAPABILITY")) {
			if (c == ' ') {
				f->head = IMAP_SH_CAPS;
				f->k = 0;
			}
			return;
		}
		f->lits = true;
		return;
	case IMAP_SH_CODE0:
		f->head = IMAP_SH_BODY;
		if (c == '[') {
			f->head = IMAP_SH_CODE;
			f->wlen = 0;
		}
		return;
	case IMAP_SH_CAPS:
		imap_sframe_cap(f, p);
		return;
	default:
		return;
	}
}

/* A server line's LF was taken: what it completed. */
static enum imap_frame
imap_sframe_eol(struct imap_sframe *f)
{
	uint64_t lit;
	int kind = f->kind;

	if (f->lits && imap_tail_literal(f->tail, f->taillen, f->whole, &lit)) {
		/* The response goes on after the literal. */
		f->taillen = 0;
		f->whole = true;
		f->head = IMAP_SH_BODY;
		if (lit > 0) {
			f->litleft = lit;
			f->head = IMAP_SH_LITERAL;
		}
		return IMAP_FRAME_MORE;
	}
	f->kind = IMAP_SL_START;
	switch (kind) {
	case IMAP_SL_TAGGED:
		imap_sframe_tagged(f);
		f->done = true;
		return IMAP_FRAME_TAGGED;
	case IMAP_SL_CONTINUATION:
		f->done = true;
		return IMAP_FRAME_CONTINUATION;
	default:
		return IMAP_FRAME_MORE;
	}
}

enum imap_frame
imap_sframe_feed(struct imap_sframe *f, char *buf, size_t len, size_t *consumed)
{
	size_t i = 0;

	if (f->done) {
		f->done = false;
		f->linelen = 0;
	}
	while (i < len) {
		enum imap_frame r;

		if (f->head == IMAP_SH_LITERAL && f->kind != IMAP_SL_START) {
			uint64_t n =
			    len - i < f->litleft ? len - i : f->litleft;

			i += (size_t)n;
			f->litleft -= n;
			if (f->litleft == 0)
				f->head = IMAP_SH_BODY;
			continue;
		}
		if (f->kind == IMAP_SL_START) {
			f->kind = buf[i] == '*' ? IMAP_SL_UNTAGGED :
				  buf[i] == '+' ? IMAP_SL_CONTINUATION :
						  IMAP_SL_TAGGED;
			f->head = f->kind == IMAP_SL_CONTINUATION ?
				      IMAP_SH_BODY :
				      IMAP_SH_TAG;
			f->lits = false;
			f->linelen = 0;
			f->taillen = 0;
			f->whole = true;
		}
		if (f->head == IMAP_SH_BODY) {
			const char *lf = memchr(buf + i, '\n', len - i);
			size_t seg =
			    lf != NULL ? (size_t)(lf - (buf + i)) : len - i;

			imap_sframe_keep(f, buf + i, seg);
			i += seg;
			if (lf == NULL)
				break;
		} else if (buf[i] != '\n') {
			/* The line's head, a byte at a time, kept in one go
			 * (imap_sframe_head() may rewrite a byte first). */
			size_t start = i;

			do
				imap_sframe_head(f, buf + i++);
			while (i < len && buf[i] != '\n' &&
			       f->head != IMAP_SH_BODY);
			imap_sframe_keep(f, buf + start, i - start);
			continue;
		}
		i++; /* the LF */
		r = imap_sframe_eol(f);
		if (r != IMAP_FRAME_MORE) {
			*consumed = i;
			return r;
		}
	}
	*consumed = len;
	return IMAP_FRAME_MORE;
}

bool
imap_sframe_at_boundary(const struct imap_sframe *f)
{
	/* A literal belongs to the line that announced it: the line's
	 * kind is kept until the line ends after it. */
	return f->kind == IMAP_SL_START;
}
