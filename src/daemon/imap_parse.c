/*
 * imap_parse: the pure half of the IMAP4 module.
 *
 * The pre-auth parser is a byte machine in the style of nginx's mail
 * parsers: its whole state lives in struct imap_parser, so a command may
 * arrive split anywhere, and it copies the values it keeps into a store the
 * caller owns, so the caller may drain its input buffer at once.
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "imap.h"
#include "sasl.h"

/* Longest SASL line: a PLAIN response at its longest, and its CRLF. */
#define IMAP_SASL_LINE_MAX (SASL_PLAIN_B64_MAX + 2)

static const struct {
	const char *name;
	enum imap_verb verb;
} imap_verbs[] = {
    {"CAPABILITY", IMAP_CMD_CAPABILITY},
    {"NOOP", IMAP_CMD_NOOP},
    {"LOGOUT", IMAP_CMD_LOGOUT},
    {"STARTTLS", IMAP_CMD_STARTTLS},
    {"ID", IMAP_CMD_ID},
    {"LOGIN", IMAP_CMD_LOGIN},
    {"AUTHENTICATE", IMAP_CMD_AUTHENTICATE},
    {"ENABLE", IMAP_CMD_ENABLE},
};

/*
 * RFC 9051 section 9: a tag is astring characters except "+"; that is,
 * CHAR above space without "(" ")" "{" "%" "*" "\"" "\\" and "+".
 */
static bool
imap_is_tag_char(unsigned char c)
{
	if (c <= 0x20 || c >= 0x7f)
		return false;
	return strchr("(){%*\"\\+", c) == NULL;
}

/*
 * Atoms of any argument: ASTRING-CHAR plus the list wildcards and the
 * backslash of flags, so that a command postern refuses is still framed
 * right.  The values postern reads (user names, mechanisms, base64) only
 * use characters every definition shares.
 */
static bool
imap_is_atom_char(unsigned char c)
{
	if (c <= 0x20 || c >= 0x7f)
		return false;
	return strchr("(){\"", c) == NULL;
}

static void
imap_cmd_start(struct imap_parser *p)
{
	struct imap_command *cmd = &p->cmd;

	p->state = IMAP_S_START;
	p->used = 0;
	p->line = 0;
	p->taglen = p->namelen = 0;
	p->nametoolong = false;
	p->depth = 0;
	p->litlen = p->litleft = 0;
	p->done = false;
	p->handover = false;
	cmd->tag[0] = '\0';
	cmd->name[0] = '\0';
	cmd->cmd = IMAP_CMD_OTHER;
	cmd->nargs = 0;
	cmd->error = IMAP_ERR_NONE;
	cmd->fatal = false;
}

int
imap_parser_init(struct imap_parser *p, size_t max_line, size_t literal_max,
    char *store, size_t cap)
{
	memset(p, 0, sizeof(*p));
	if (cap < max_line + 1 || cap < IMAP_SASL_LINE_MAX + 1)
		return -1;
	p->max_line = max_line;
	p->literal_max = literal_max;
	p->store = store;
	p->cap = cap;
	imap_cmd_start(p);
	return 0;
}

void
imap_parser_reset(struct imap_parser *p)
{
	imap_cmd_start(p);
}

void
imap_parser_literal_accept(struct imap_parser *p)
{
	if (p->state == IMAP_S_LITWAIT)
		p->state = IMAP_S_LITDATA;
}

/* Ends the command with a result the caller reads from p->cmd. */
static enum imap_parse_result
imap_finish(struct imap_parser *p, enum imap_parse_result r)
{
	p->done = true;
	if (r == IMAP_PARSE_INVALID)
		p->cmd.nargs = 0;
	return r;
}

/* A refusal after which the connection cannot go on in step. */
static enum imap_parse_result
imap_fatal(struct imap_parser *p, enum imap_error err)
{
	p->cmd.error = err;
	p->cmd.fatal = true;
	return imap_finish(p, IMAP_PARSE_INVALID);
}

/*
 * A bad command: the rest of its line is skipped, then it is answered.  c
 * is the byte that broke it; a line end ends the command at once.
 */
static enum imap_parse_result
imap_fail(struct imap_parser *p, enum imap_error err, unsigned char c)
{
	if (p->cmd.error == IMAP_ERR_NONE)
		p->cmd.error = err;
	if (c == '\n')
		return imap_finish(p, IMAP_PARSE_INVALID);
	p->state = IMAP_S_SKIP;
	return IMAP_PARSE_NEED_MORE;
}

/* Starts a value of the given type; -1 if there is no room for another. */
static int
imap_value_begin(struct imap_parser *p, enum imap_value_type type)
{
	struct imap_value *v;

	if (p->cmd.nargs == IMAP_ARGS_MAX)
		return -1;
	v = &p->cmd.args[p->cmd.nargs];
	v->type = type;
	v->data = p->store + p->used;
	v->len = 0;
	p->value_start = p->used;
	return 0;
}

/*
 * Every byte the pre-auth parser keeps goes through here, the NUL that ends
 * a value included: a write that does not fit is refused, whatever room the
 * caller thought there was.  A command's values may outgrow any store
 * sized in advance (64 values, each up to a literal long), so the store's
 * size is a budget that this check enforces, not an estimate to trust.
 */
static int
imap_store(struct imap_parser *p, const void *src, size_t n)
{
	if (n > p->cap - p->used)
		return -1;
	memcpy(p->store + p->used, src, n);
	p->used += n;
	if (p->used > p->used_max)
		p->used_max = p->used;
	return 0;
}

/* Appends a byte to the current value; -1 when the store is full. */
static int
imap_put(struct imap_parser *p, unsigned char c)
{
	return imap_store(p, &c, 1);
}

/* Ends the current value with its NUL; -1 when the store is full. */
static int
imap_value_end(struct imap_parser *p)
{
	struct imap_value *v;

	if (p->cmd.nargs >= IMAP_ARGS_MAX)
		return -1;
	v = &p->cmd.args[p->cmd.nargs];
	v->len = p->used - p->value_start;
	if (imap_store(p, "", 1) == -1)
		return -1;
	if (v->type == IMAP_VAL_ATOM && v->len == 3 &&
	    strcasecmp(v->data, "NIL") == 0)
		v->type = IMAP_VAL_NIL;
	p->cmd.nargs++;
	return 0;
}

static void
imap_name_end(struct imap_parser *p)
{
	struct imap_command *cmd = &p->cmd;

	cmd->cmd = IMAP_CMD_OTHER;
	if (p->nametoolong) {
		cmd->name[0] = '\0';
		return;
	}
	cmd->name[p->namelen] = '\0';
	for (size_t i = 0; i < sizeof(imap_verbs) / sizeof(imap_verbs[0]); i++)
		if (strcmp(cmd->name, imap_verbs[i].name) == 0) {
			cmd->cmd = imap_verbs[i].verb;
			break;
		}
}

/* The end of a command line: complete unless a list is still open. */
static enum imap_parse_result
imap_line_end(struct imap_parser *p, unsigned char c)
{
	if (p->depth > 0)
		return imap_fail(p, IMAP_ERR_SYNTAX, c);
	if (c == '\r') {
		p->state = IMAP_S_CR;
		return IMAP_PARSE_NEED_MORE;
	}
	return imap_finish(p, IMAP_PARSE_COMMAND);
}

/* The line end after "{n}": decides whether the literal may come. */
static enum imap_parse_result
imap_literal_header(struct imap_parser *p)
{
	/* The literal's bytes and their NUL. */
	bool room =
	    p->cmd.nargs < IMAP_ARGS_MAX && p->litlen < p->cap - p->used;

	if (p->litlen > p->literal_max || !room) {
		/* A non-synchronising literal is on its way already: the
		 * bytes cannot be told apart from commands any more. */
		if (p->litnonsync)
			return imap_fatal(p, p->litlen > p->literal_max ?
						 IMAP_ERR_LITERAL_TOO_BIG :
						 IMAP_ERR_TOO_LONG);
		if (p->litlen > p->literal_max)
			p->cmd.error = IMAP_ERR_LITERAL_TOO_BIG;
		else if (p->cmd.nargs == IMAP_ARGS_MAX)
			p->cmd.error = IMAP_ERR_TOO_MANY_ARGS;
		else
			p->cmd.error = IMAP_ERR_TOO_LONG;
		/* RFC 9051 section 7.5: a BAD instead of "+" ends the
		 * command; the client sends nothing more of it. */
		return imap_finish(p, IMAP_PARSE_INVALID);
	}
	(void)imap_value_begin(p, IMAP_VAL_LITERAL);
	p->litleft = p->litlen;
	if (p->litnonsync) {
		p->state = IMAP_S_LITDATA;
		return IMAP_PARSE_NEED_MORE;
	}
	p->state = IMAP_S_LITWAIT;
	return IMAP_PARSE_LITERAL_WAIT;
}

/* One byte outside literal data. */
static enum imap_parse_result
imap_step(struct imap_parser *p, unsigned char c)
{
	struct imap_command *cmd = &p->cmd;

again:
	switch (p->state) {
	case IMAP_S_START:
	case IMAP_S_TAG:
		if (imap_is_tag_char(c)) {
			p->state = IMAP_S_TAG;
			if (p->taglen == IMAP_TAG_MAX) {
				cmd->tag[0] = '\0';
				return imap_fail(p, IMAP_ERR_TAG, c);
			}
			cmd->tag[p->taglen++] = (char)c;
			return IMAP_PARSE_NEED_MORE;
		}
		cmd->tag[p->taglen] = '\0';
		if (p->state == IMAP_S_START && (c == '\r' || c == '\n'))
			return imap_fail(p, IMAP_ERR_EMPTY, c);
		if (p->taglen > 0 && c == ' ') {
			p->state = IMAP_S_NAME;
			return IMAP_PARSE_NEED_MORE;
		}
		if (p->taglen > 0 && (c == '\r' || c == '\n'))
			return imap_fail(p, IMAP_ERR_COMMAND, c);
		cmd->tag[0] = '\0';
		return imap_fail(p, IMAP_ERR_TAG, c);

	case IMAP_S_NAME:
		if (isalnum(c) || c == '-' || c == '_' || c == '.') {
			if (p->namelen + 1 >= sizeof(cmd->name))
				p->nametoolong = true;
			else
				cmd->name[p->namelen++] = (char)toupper(c);
			return IMAP_PARSE_NEED_MORE;
		}
		if (p->namelen == 0 || (c != ' ' && c != '\r' && c != '\n'))
			return imap_fail(p, IMAP_ERR_COMMAND, c);
		imap_name_end(p);
		if (c == ' ') {
			p->state = IMAP_S_ARG;
			return IMAP_PARSE_NEED_MORE;
		}
		return imap_line_end(p, c);

	case IMAP_S_ARG:
		switch (c) {
		case '"':
			if (imap_value_begin(p, IMAP_VAL_QUOTED) == -1)
				return imap_fail(p, IMAP_ERR_TOO_MANY_ARGS, c);
			p->state = IMAP_S_QUOTED;
			return IMAP_PARSE_NEED_MORE;
		case '{':
			p->litlen = 0;
			p->litdigits = p->litnonsync = false;
			p->state = IMAP_S_LITLEN;
			return IMAP_PARSE_NEED_MORE;
		case '(':
			if (p->depth == IMAP_LIST_DEPTH_MAX)
				return imap_fail(p, IMAP_ERR_SYNTAX, c);
			if (imap_value_begin(p, IMAP_VAL_LIST) == -1)
				return imap_fail(p, IMAP_ERR_TOO_MANY_ARGS, c);
			cmd->args[cmd->nargs].data = "(";
			p->open[p->depth++] = cmd->nargs++;
			return IMAP_PARSE_NEED_MORE;
		case ')':
			/* Only an empty list "()" closes right after "(". */
			if (p->depth == 0 ||
			    p->open[p->depth - 1] + 1 != cmd->nargs)
				return imap_fail(p, IMAP_ERR_SYNTAX, c);
			p->state = IMAP_S_AFTER_ARG;
			goto again;
		case '\r':
		case '\n':
			/* A space before the line end: tolerated, as many
			 * servers do, unless a list waits for its value. */
			if (p->depth > 0 &&
			    p->open[p->depth - 1] + 1 == cmd->nargs)
				return imap_fail(p, IMAP_ERR_SYNTAX, c);
			return imap_line_end(p, c);
		default:
			if (!imap_is_atom_char(c))
				return imap_fail(p, IMAP_ERR_SYNTAX, c);
			if (imap_value_begin(p, IMAP_VAL_ATOM) == -1)
				return imap_fail(p, IMAP_ERR_TOO_MANY_ARGS, c);
			p->state = IMAP_S_ATOM;
			goto again;
		}

	case IMAP_S_ATOM:
		/* ')' may end an atom inside a list. */
		if (imap_is_atom_char(c) && c != ')') {
			if (imap_put(p, c) == -1)
				return imap_fatal(p, IMAP_ERR_TOO_LONG);
			return IMAP_PARSE_NEED_MORE;
		}
		if (imap_value_end(p) == -1)
			return imap_fatal(p, IMAP_ERR_TOO_LONG);
		p->state = IMAP_S_AFTER_ARG;
		goto again;

	case IMAP_S_AFTER_ARG:
		switch (c) {
		case ' ':
			p->state = IMAP_S_ARG;
			return IMAP_PARSE_NEED_MORE;
		case ')': {
			size_t open;

			if (p->depth == 0)
				return imap_fail(p, IMAP_ERR_SYNTAX, c);
			open = p->open[--p->depth];
			cmd->args[open].len = cmd->nargs - open - 1;
			return IMAP_PARSE_NEED_MORE;
		}
		case '\r':
		case '\n':
			return imap_line_end(p, c);
		default:
			return imap_fail(p, IMAP_ERR_SYNTAX, c);
		}

	case IMAP_S_QUOTED:
		switch (c) {
		case '\\':
			p->state = IMAP_S_QUOTED_ESC;
			return IMAP_PARSE_NEED_MORE;
		case '"':
			if (imap_value_end(p) == -1)
				return imap_fatal(p, IMAP_ERR_TOO_LONG);
			p->state = IMAP_S_AFTER_ARG;
			return IMAP_PARSE_NEED_MORE;
		case '\r':
		case '\n':
		case '\0':
			return imap_fail(p, IMAP_ERR_SYNTAX, c);
		default:
			if (imap_put(p, c) == -1)
				return imap_fatal(p, IMAP_ERR_TOO_LONG);
			return IMAP_PARSE_NEED_MORE;
		}

	case IMAP_S_QUOTED_ESC:
		/* RFC 9051 section 4.3: only '"' and '\' are escaped. */
		if (c != '"' && c != '\\')
			return imap_fail(p, IMAP_ERR_SYNTAX, c);
		if (imap_put(p, c) == -1)
			return imap_fatal(p, IMAP_ERR_TOO_LONG);
		p->state = IMAP_S_QUOTED;
		return IMAP_PARSE_NEED_MORE;

	case IMAP_S_LITLEN:
		if (c >= '0' && c <= '9') {
			p->litlen = p->litlen * 10 + (uint64_t)(c - '0');
			p->litdigits = true;
			/* RFC 9051 section 9: number is 32 bits. */
			if (p->litlen > 0xffffffffu)
				return imap_fail(p, IMAP_ERR_SYNTAX, c);
			return IMAP_PARSE_NEED_MORE;
		}
		if (!p->litdigits)
			return imap_fail(p, IMAP_ERR_SYNTAX, c);
		if (c == '+' || c == '-') {
			/* RFC 7888: LITERAL+ and LITERAL-. */
			p->litnonsync = true;
			p->state = IMAP_S_LITEND;
			return IMAP_PARSE_NEED_MORE;
		}
		if (c != '}')
			return imap_fail(p, IMAP_ERR_SYNTAX, c);
		p->state = IMAP_S_LITCR;
		return IMAP_PARSE_NEED_MORE;

	case IMAP_S_LITEND:
		if (c != '}')
			return imap_fail(p, IMAP_ERR_SYNTAX, c);
		p->state = IMAP_S_LITCR;
		return IMAP_PARSE_NEED_MORE;

	case IMAP_S_LITCR:
		if (c == '\r') {
			p->state = IMAP_S_LITLF;
			return IMAP_PARSE_NEED_MORE;
		}
		if (c == '\n')
			return imap_literal_header(p);
		return imap_fail(p, IMAP_ERR_SYNTAX, c);

	case IMAP_S_LITLF:
		if (c != '\n')
			return imap_fail(p, IMAP_ERR_SYNTAX, c);
		return imap_literal_header(p);

	case IMAP_S_CR:
		if (c != '\n')
			return imap_fail(p, IMAP_ERR_SYNTAX, c);
		return imap_finish(p, IMAP_PARSE_COMMAND);

	case IMAP_S_SKIP:
		if (c == '\n')
			return imap_finish(p, IMAP_PARSE_INVALID);
		return IMAP_PARSE_NEED_MORE;

	case IMAP_S_LITWAIT:
	case IMAP_S_LITDATA:
	case IMAP_S_SASL:
	case IMAP_S_SASL_CR:
		break;
	}
	/* Not reached: imap_parse() handles these states itself. */
	return imap_fatal(p, IMAP_ERR_SYNTAX);
}

enum imap_parse_result
imap_parse(struct imap_parser *p, const char *buf, size_t len, size_t *consumed)
{
	enum imap_parse_result r = IMAP_PARSE_NEED_MORE;
	size_t i = 0;

	if (p->done || p->state == IMAP_S_SASL || p->state == IMAP_S_SASL_CR)
		imap_cmd_start(p);
	/* Bytes after a LITERAL_WAIT mean the "+" went out. */
	imap_parser_literal_accept(p);
	while (i < len) {
		if (p->state == IMAP_S_LITDATA) {
			size_t n = len - i;

			if (n > p->litleft)
				n = (size_t)p->litleft;
			if (imap_store(p, buf + i, n) == -1) {
				r = imap_fatal(p, IMAP_ERR_TOO_LONG);
				break;
			}
			p->litleft -= n;
			i += n;
			if (p->litleft == 0) {
				if (imap_value_end(p) == -1) {
					r = imap_fatal(p, IMAP_ERR_TOO_LONG);
					break;
				}
				p->state = IMAP_S_AFTER_ARG;
			}
			continue;
		}
		/* max_command_size counts every byte but literal data. */
		if (++p->line > p->max_line) {
			i++;
			r = imap_fatal(p, IMAP_ERR_TOO_LONG);
			break;
		}
		r = imap_step(p, (unsigned char)buf[i++]);
		if (r != IMAP_PARSE_NEED_MORE)
			break;
	}
	/* A zero-length literal is complete as soon as it is accepted. */
	if (r == IMAP_PARSE_NEED_MORE && p->state == IMAP_S_LITDATA &&
	    p->litleft == 0) {
		if (imap_value_end(p) == -1)
			r = imap_fatal(p, IMAP_ERR_TOO_LONG);
		else
			p->state = IMAP_S_AFTER_ARG;
	}
	*consumed = i;
	return r;
}

static bool
imap_is_base64(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!isalnum(c) && c != '+' && c != '/' && c != '=')
			return false;
	}
	return true;
}

/*
 * The line so far, up to a space, as a tag: the command parser takes over
 * with it (see imap_parse_refused()).  A base64 line holds no space.
 */
static bool
imap_sasl_handover(struct imap_parser *p)
{
	struct imap_command *cmd = &p->cmd;

	if (cmd->error != IMAP_ERR_NONE || p->state != IMAP_S_SASL ||
	    p->used == 0 || p->used > IMAP_TAG_MAX)
		return false;
	for (size_t k = 0; k < p->used; k++)
		if (!imap_is_tag_char((unsigned char)p->store[k]))
			return false;
	memcpy(cmd->tag, p->store, p->used);
	cmd->tag[p->used] = '\0';
	p->taglen = p->used;
	memset(p->store, 0, p->used);
	p->used = 0;
	p->state = IMAP_S_NAME;
	p->handover = true;
	return true;
}

/*
 * One SASL line.  With command_may_follow, a tag and a space hand the line
 * over to the command parser: IMAP_PARSE_NEED_MORE with p->handover set
 * and *consumed just past the space.
 */
static enum imap_parse_result
imap_sasl_step(struct imap_parser *p, const char *buf, size_t len,
    size_t *consumed, bool command_may_follow)
{
	struct imap_command *cmd = &p->cmd;
	size_t i = 0, max = p->max_line;

	if (max < IMAP_SASL_LINE_MAX)
		max = IMAP_SASL_LINE_MAX;
	if (p->done ||
	    (p->state != IMAP_S_SASL && p->state != IMAP_S_SASL_CR)) {
		imap_cmd_start(p);
		p->state = IMAP_S_SASL;
		(void)imap_value_begin(p, IMAP_VAL_ATOM);
	}
	while (i < len) {
		unsigned char c = (unsigned char)buf[i++];

		if (++p->line > max) {
			*consumed = i;
			return imap_fatal(p, IMAP_ERR_TOO_LONG);
		}
		if (c == '\n') {
			*consumed = i;
			if (imap_value_end(p) == -1)
				return imap_fatal(p, IMAP_ERR_TOO_LONG);
			if (cmd->args[0].len == 1 &&
			    cmd->args[0].data[0] == '*')
				return imap_finish(p, IMAP_PARSE_SASL_CANCEL);
			if (cmd->error != IMAP_ERR_NONE ||
			    !imap_is_base64(cmd->args[0].data,
				cmd->args[0].len)) {
				cmd->error = IMAP_ERR_BAD_BASE64;
				return imap_finish(p, IMAP_PARSE_INVALID);
			}
			return imap_finish(p, IMAP_PARSE_SASL_RESPONSE);
		}
		if (c == ' ' && command_may_follow && imap_sasl_handover(p)) {
			*consumed = i;
			return IMAP_PARSE_NEED_MORE;
		}
		if (p->state == IMAP_S_SASL_CR) {
			/* A CR inside the line. */
			cmd->error = IMAP_ERR_BAD_BASE64;
			p->state = IMAP_S_SASL;
		}
		if (c == '\r') {
			p->state = IMAP_S_SASL_CR;
			continue;
		}
		if (imap_put(p, c) == -1) {
			*consumed = i;
			return imap_fatal(p, IMAP_ERR_TOO_LONG);
		}
	}
	*consumed = i;
	return IMAP_PARSE_NEED_MORE;
}

enum imap_parse_result
imap_parse_sasl(struct imap_parser *p, const char *buf, size_t len,
    size_t *consumed)
{
	return imap_sasl_step(p, buf, len, consumed, false);
}

enum imap_parse_result
imap_parse_refused(struct imap_parser *p, const char *buf, size_t len,
    size_t *consumed)
{
	enum imap_parse_result r;
	size_t i = 0, n = 0;

	if (p->handover && !p->done)
		return imap_parse(p, buf, len, consumed);
	r = imap_sasl_step(p, buf, len, &i, true);
	if (r == IMAP_PARSE_NEED_MORE && p->handover) {
		r = imap_parse(p, buf + i, len - i, &n);
		*consumed = i + n;
		return r;
	}
	*consumed = i;
	switch (r) {
	case IMAP_PARSE_SASL_RESPONSE:
	case IMAP_PARSE_SASL_CANCEL:
	case IMAP_PARSE_INVALID:
		if (p->cmd.fatal)
			break;
		/* The credentials of a refused exchange are not kept. */
		memset(p->store, 0, p->used);
		p->used = 0;
		p->cmd.nargs = 0;
		p->cmd.error = IMAP_ERR_NONE;
		return IMAP_PARSE_SASL_DISCARD;
	default:
		break;
	}
	return r;
}

const char *
imap_error_text(enum imap_error err)
{
	switch (err) {
	case IMAP_ERR_NONE:
		break;
	case IMAP_ERR_EMPTY:
		return "Empty command line.";
	case IMAP_ERR_TAG:
		return "Error in IMAP command: invalid tag.";
	case IMAP_ERR_COMMAND:
		return "Error in IMAP command: missing or invalid command name.";
	case IMAP_ERR_SYNTAX:
		return "Error in IMAP command: invalid arguments.";
	case IMAP_ERR_TOO_MANY_ARGS:
		return "Error in IMAP command: too many arguments.";
	case IMAP_ERR_TOO_LONG:
		return "Command line too long.";
	case IMAP_ERR_LITERAL_TOO_BIG:
		return "Literal too big before login.";
	case IMAP_ERR_BAD_BASE64:
		return "Invalid base64 in SASL response.";
	}
	return "Error in IMAP command.";
}

/* --- backend lines ------------------------------------------------------ */

static bool
imap_word_is(const char *p, size_t len, const char *word)
{
	return strlen(word) == len && strncasecmp(p, word, len) == 0;
}

/* The length of the word at p[0..len), up to a space or stop. */
static size_t
imap_word(const char *p, size_t len, char stop)
{
	size_t n = 0;

	while (n < len && p[n] != ' ' && p[n] != stop)
		n++;
	return n;
}

/* resp-text (RFC 9051 section 9): an optional "[code ...]" and text. */
static void
imap_resp_text(const char *p, size_t len, struct imap_response *r)
{
	if (len > 0 && p[0] == '[') {
		const char *end = memchr(p, ']', len);
		size_t n;

		if (end != NULL) {
			const char *c = p + 1;
			size_t clen = (size_t)(end - c);

			n = imap_word(c, clen, ']');
			r->code.p = c;
			r->code.len = n;
			if (imap_word_is(c, n, "CAPABILITY")) {
				r->has_caps = true;
				r->caps.p = c + n + (n < clen ? 1 : 0);
				r->caps.len = (size_t)(end - r->caps.p);
			}
			len -= (size_t)(end + 1 - p);
			p = end + 1;
			if (len > 0 && p[0] == ' ') {
				p++;
				len--;
			}
		}
	}
	r->text.p = p;
	r->text.len = len;
}

static enum imap_status
imap_status_word(const char *p, size_t n)
{
	if (imap_word_is(p, n, "OK"))
		return IMAP_STATUS_OK;
	if (imap_word_is(p, n, "NO"))
		return IMAP_STATUS_NO;
	if (imap_word_is(p, n, "BAD"))
		return IMAP_STATUS_BAD;
	if (imap_word_is(p, n, "PREAUTH"))
		return IMAP_STATUS_PREAUTH;
	if (imap_word_is(p, n, "BYE"))
		return IMAP_STATUS_BYE;
	return IMAP_STATUS_NONE;
}

/* A trailing "{n}" announces n bytes of literal after the line end. */
static void
imap_trailing_literal(const char *line, size_t len, struct imap_response *r)
{
	size_t i;
	uint64_t n = 0;

	if (len < 3 || line[len - 1] != '}')
		return;
	for (i = len - 1; i > 0 && line[i - 1] >= '0' && line[i - 1] <= '9';
	     i--)
		;
	if (i == len - 1 || i == 0 || line[i - 1] != '{' || len - 1 - i > 10)
		return;
	for (size_t k = i; k < len - 1; k++)
		n = n * 10 + (uint64_t)(line[k] - '0');
	r->has_literal = true;
	r->literal = n;
}

int
imap_response_parse(const char *line, size_t len, struct imap_response *r)
{
	const char *p;
	size_t n, rest;

	memset(r, 0, sizeof(*r));
	if (memchr(line, '\0', len) != NULL)
		return -1;
	imap_trailing_literal(line, len, r);
	if (len >= 1 && line[0] == '+' && (len == 1 || line[1] == ' ')) {
		r->kind = IMAP_RESP_CONTINUATION;
		r->text.p = line + (len > 1 ? 2 : 1);
		r->text.len = len > 1 ? len - 2 : 0;
		return 0;
	}
	if (len >= 2 && line[0] == '*' && line[1] == ' ') {
		r->kind = IMAP_RESP_UNTAGGED;
		p = line + 2;
		rest = len - 2;
		n = imap_word(p, rest, '\0');
		r->status = imap_status_word(p, n);
		if (r->status != IMAP_STATUS_NONE) {
			if (n < rest)
				n++;
			imap_resp_text(p + n, rest - n, r);
		} else if (imap_word_is(p, n, "CAPABILITY")) {
			r->has_caps = true;
			r->caps.p = p + n + (n < rest ? 1 : 0);
			r->caps.len = rest - (size_t)(r->caps.p - p);
		}
		return 0;
	}
	/* A tag, one space, a status word: else the tail of a literal line. */
	for (n = 0; n < len && imap_is_tag_char((unsigned char)line[n]); n++)
		;
	if (n == 0 || n == len || line[n] != ' ') {
		r->kind = IMAP_RESP_FRAGMENT;
		return 0;
	}
	r->kind = IMAP_RESP_TAGGED;
	r->tag.p = line;
	r->tag.len = n;
	p = line + n + 1;
	rest = len - n - 1;
	n = imap_word(p, rest, '\0');
	r->status = imap_status_word(p, n);
	if (r->status == IMAP_STATUS_NONE || r->status == IMAP_STATUS_PREAUTH)
		return -1;
	if (n < rest)
		n++;
	imap_resp_text(p + n, rest - n, r);
	return 0;
}

/* --- capability lists --------------------------------------------------- */

bool
imap_caps_has(const char *caps, size_t len, const char *name)
{
	size_t i = 0;

	while (i < len) {
		size_t n = imap_word(caps + i, len - i, '\0');

		if (imap_word_is(caps + i, n, name))
			return true;
		i += n + 1;
	}
	return false;
}

/*
 * The length of the capability at p[0..len): up to a space, or a NUL where
 * the list holds one (nul; a backend's line may).  memchr() finds the
 * space in a few instructions where a loop takes several a byte, and a
 * login reads a list of some 40 words twice.
 */
static size_t
imap_cap_word(const char *p, size_t len, bool nul)
{
	const char *sp;

	if (nul)
		return imap_word(p, len, '\0');
	sp = memchr(p, ' ', len);
	return sp != NULL ? (size_t)(sp - p) : len;
}

/* A capability to look for: the word, or (prefix) any word that starts so. */
struct imap_cap_name {
	const char *name;
	size_t len;
	bool prefix;
	unsigned bit; /* imap_caps_scan()'s IMAP_CAP_* */
};

#define IMAP_CAP_NAME(w, prefix, bit)                                          \
	{                                                                      \
		w, sizeof(w) - 1, prefix, bit                                  \
	}

/* The entry of names[0..count) that the word c[0..n) is, in any case;
 * NULL when none. */
static const struct imap_cap_name *
imap_cap_find(const struct imap_cap_name *names, size_t count, const char *c,
    size_t n)
{
	for (size_t i = 0; i < count; i++)
		if ((names[i].prefix ? n >= names[i].len : n == names[i].len) &&
		    (c[0] | 0x20) == (names[i].name[0] | 0x20) &&
		    strncasecmp(c, names[i].name, names[i].len) == 0)
			return &names[i];
	return NULL;
}

unsigned
imap_caps_scan(const char *caps, size_t len)
{
	static const struct imap_cap_name known[] = {
	    IMAP_CAP_NAME("STARTTLS", false, IMAP_CAP_STARTTLS),
	    IMAP_CAP_NAME("LOGINDISABLED", false, IMAP_CAP_LOGINDISABLED),
	    IMAP_CAP_NAME("AUTH=PLAIN", false, IMAP_CAP_AUTH_PLAIN),
	    IMAP_CAP_NAME("SASL-IR", false, IMAP_CAP_SASL_IR),
	    IMAP_CAP_NAME("LITERAL+", false, IMAP_CAP_LITERAL_PLUS),
	    IMAP_CAP_NAME("ID", false, IMAP_CAP_ID),
	};
	unsigned bits = 0;
	size_t i = 0;
	bool nul = memchr(caps, '\0', len) != NULL;

	while (i < len) {
		size_t n = imap_cap_word(caps + i, len - i, nul);
		const struct imap_cap_name *k = imap_cap_find(known,
		    sizeof(known) / sizeof(known[0]), caps + i, n);

		if (k != NULL)
			bits |= k->bit;
		i += n + 1;
	}
	return bits;
}

static bool
imap_cap_relayable(const char *c, size_t n)
{
	/* LITERAL+ and LITERAL-: the readers after login refuse "{n+}". */
	static const struct imap_cap_name drop[] = {
	    IMAP_CAP_NAME("STARTTLS", false, 0),
	    IMAP_CAP_NAME("LOGINDISABLED", false, 0),
	    IMAP_CAP_NAME("SASL-IR", false, 0),
	    IMAP_CAP_NAME("LOGIN-REFERRALS", false, 0),
	    IMAP_CAP_NAME("UNAUTHENTICATE", false, 0),
	    IMAP_CAP_NAME("LITERAL+", false, 0),
	    IMAP_CAP_NAME("LITERAL-", false, 0),
	    IMAP_CAP_NAME("AUTH=", true, 0),
	    IMAP_CAP_NAME("COMPRESS=", true, 0),
	};

	/* A word that does not start as one of those goes at once (most of
	 * a server's list, at every login). */
	if (n == 0)
		return true;
	switch (c[0] | 0x20) {
	case 's':
	case 'l':
	case 'u':
	case 'a':
	case 'c':
		break;
	default:
		return true;
	}
	return imap_cap_find(drop, sizeof(drop) / sizeof(drop[0]), c, n) ==
	       NULL;
}

int
imap_caps_filter(const char *caps, size_t len, char *out, size_t cap)
{
	size_t i = 0, o = 0;
	bool nul = memchr(caps, '\0', len) != NULL;

	if (cap == 0)
		return -1;
	while (i < len) {
		size_t n = imap_cap_word(caps + i, len - i, nul);

		if (n > 0 && imap_cap_relayable(caps + i, n)) {
			if (o + (o > 0) + n + 1 > cap)
				return -1;
			if (o > 0)
				out[o++] = ' ';
			memcpy(out + o, caps + i, n);
			o += n;
		}
		i += n + 1;
	}
	out[o] = '\0';
	return 0;
}

int
imap_caps_preauth(bool tls_active, bool tls_available, bool cleartext_ok,
    char *out, size_t cap)
{
	const char *words[] = {"IMAP4rev1 ID",
	    !tls_active && tls_available ? " STARTTLS" : "",
	    cleartext_ok ? " SASL-IR AUTH=PLAIN AUTH=LOGIN" : " LOGINDISABLED"};
	size_t n = 0;

	/* Only IMAP4rev1: the backend decides after login what it speaks,
	 * and its own list reaches the client with the login's answer.  No
	 * LITERAL+ (RFC 7888), though the parser takes "{n+}": a client
	 * that kept this list would use it after login, where it ends the
	 * session (see the client's reader below). */
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		size_t len = strlen(words[i]);

		if (cap - n <= len)
			return -1;
		memcpy(out + n, words[i], len + 1);
		n += len;
	}
	return 0;
}

int
imap_quote_astring(const char *val, size_t len, char *out, size_t cap,
    size_t *outlen)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)val[i];

		/* Quoted strings are 7-bit without UTF8=ACCEPT (RFC 9051
		 * section 4.3): anything else goes as a literal. */
		if (c < 0x20 || c >= 0x7f)
			return 1;
	}
	if (cap < 3)
		return -1;
	out[o++] = '"';
	for (size_t i = 0; i < len; i++) {
		bool esc = val[i] == '"' || val[i] == '\\';

		/* Room for this character, the closing quote and the NUL. */
		if (o + (esc ? 2 : 1) + 2 > cap)
			return -1;
		if (esc)
			out[o++] = '\\';
		out[o++] = val[i];
	}
	if (o + 2 > cap)
		return -1;
	out[o++] = '"';
	out[o] = '\0';
	*outlen = o;
	return 0;
}

/*
 * The length of the valid UTF-8 character at s[0..len), or 0 (RFC 3629
 * section 4: no overlong forms, no surrogates, nothing above U+10FFFF).
 */
static size_t
imap_utf8_char(const unsigned char *s, size_t len)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n;

	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3;
		if (s[0] == 0xe0)
			lo = 0xa0;
		else if (s[0] == 0xed)
			hi = 0x9f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		if (s[0] == 0xf0)
			lo = 0x90;
		else if (s[0] == 0xf4)
			hi = 0x8f;
	} else
		return 0;
	if (len < n || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t k = 2; k < n; k++)
		if (s[k] < 0x80 || s[k] > 0xbf)
			return 0;
	return n;
}

void
imap_id_value(const char *val, size_t len, char *out, size_t cap)
{
	const unsigned char *v = (const unsigned char *)val;
	size_t i = 0, o = 0;

	if (cap == 0)
		return;
	while (i < len) {
		size_t n = v[i] >= 0x80 ? imap_utf8_char(v + i, len - i) : 1;
		bool ok =
		    n > 0 && (v[i] >= 0x80 || (v[i] >= 0x20 && v[i] != 0x7f));

		if (!ok)
			n = 1;
		/* Room for the character and the NUL: a character is
		 * never cut in two. */
		if (n + 1 > cap - o)
			break;
		if (ok)
			memcpy(out + o, v + i, n);
		else
			out[o] = '?';
		o += ok ? n : 1;
		i += n;
	}
	out[o] = '\0';
}
