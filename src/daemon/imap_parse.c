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
	bool room = p->cmd.nargs < IMAP_ARGS_MAX &&
	    p->litlen < p->cap - p->used;

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
imap_parse(struct imap_parser *p, const char *buf, size_t len,
    size_t *consumed)
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
	if (p->done || (p->state != IMAP_S_SASL && p->state != IMAP_S_SASL_CR)) {
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
			if (cmd->args[0].len == 1 && cmd->args[0].data[0] == '*')
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

static bool
imap_cap_relayable(const char *c, size_t n)
{
	/* LITERAL+ and LITERAL-: the readers after login refuse "{n+}". */
	static const char *const drop[] = {"STARTTLS", "LOGINDISABLED",
	    "SASL-IR", "LOGIN-REFERRALS", "UNAUTHENTICATE", "LITERAL+",
	    "LITERAL-"};

	for (size_t i = 0; i < sizeof(drop) / sizeof(drop[0]); i++)
		if (imap_word_is(c, n, drop[i]))
			return false;
	if (n >= 5 && strncasecmp(c, "AUTH=", 5) == 0)
		return false;
	if (n >= 9 && strncasecmp(c, "COMPRESS=", 9) == 0)
		return false;
	return true;
}

int
imap_caps_filter(const char *caps, size_t len, char *out, size_t cap)
{
	size_t i = 0, o = 0;

	if (cap == 0)
		return -1;
	while (i < len) {
		size_t n = imap_word(caps + i, len - i, '\0');

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
	int n;

	/* Only IMAP4rev1: the backend decides after login what it speaks,
	 * and its own list reaches the client with the login's answer.  No
	 * LITERAL+ (RFC 7888), though the parser takes "{n+}": a client
	 * that kept this list would use it after login, where it ends the
	 * session (see the client's reader below). */
	n = snprintf(out, cap, "IMAP4rev1 ID%s%s",
	    !tls_active && tls_available ? " STARTTLS" : "",
	    cleartext_ok ? " SASL-IR AUTH=PLAIN AUTH=LOGIN" : " LOGINDISABLED");
	return n < 0 || (size_t)n >= cap ? -1 : 0;
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
		bool ok = n > 0 && (v[i] >= 0x80 || (v[i] >= 0x20 && v[i] != 0x7f));

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
	IMAP_CF_QESC,	/* after a backslash in a quoted string */
	IMAP_CF_LITERAL,
	IMAP_CF_HOLD,	/* waiting for the server's answer */
	IMAP_CF_IDLE,	/* the line that ends an IDLE */
	IMAP_CF_REFUSED /* after a non-synchronising literal: nothing more */
};

/* Where a literal header is. */
enum {
	IMAP_LIT_NONE,
	IMAP_LIT_TILDE,	 /* "~" where a string may start */
	IMAP_LIT_OPEN,	 /* "{" */
	IMAP_LIT_DIGITS, /* "{1" */
	IMAP_LIT_CLOSED, /* "{1}" */
	IMAP_LIT_CR	 /* "{1}\r" */
};

/* What a held line waits for. */
enum {
	IMAP_HOLD_NONE,
	IMAP_HOLD_LITERAL, /* "+": literal data; tagged: a new command */
	IMAP_HOLD_IDLE	   /* "+": the IDLE's end; tagged: a new command */
};

/* How much of a command's parameters its row may show. */
enum {
	IMAP_MASK_NONE,
	IMAP_MASK_ALL,	     /* LOGIN: the password */
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
	    (f->mask == IMAP_MASK_AFTER_WORD && c == ' ' &&
		f->paramslen > 0)) {
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
	IMAP_ARG_TEXT,	 /* nothing to note */
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
imap_cframe_feed(struct imap_cframe *f, char *buf, size_t len,
    size_t *consumed)
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
			uint64_t n = len - i < f->litleft ? len - i : f->litleft;

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
imap_cframe_answer(struct imap_cframe *f, enum imap_frame kind,
    const char *tag)
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

/* Whether the word collected so far is w. */
static bool
imap_sframe_word_is(const struct imap_sframe *f, const char *w)
{
	return f->wlen == strlen(w) && memcmp(f->word, w, f->wlen) == 0;
}

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

	if (f->lits &&
	    imap_tail_literal(f->tail, f->taillen, f->whole, &lit)) {
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
imap_sframe_feed(struct imap_sframe *f, char *buf, size_t len,
    size_t *consumed)
{
	size_t i = 0;

	if (f->done) {
		f->done = false;
		f->linelen = 0;
	}
	while (i < len) {
		enum imap_frame r;

		if (f->head == IMAP_SH_LITERAL && f->kind != IMAP_SL_START) {
			uint64_t n = len - i < f->litleft ? len - i : f->litleft;

			i += (size_t)n;
			f->litleft -= n;
			if (f->litleft == 0)
				f->head = IMAP_SH_BODY;
			continue;
		}
		if (f->kind == IMAP_SL_START) {
			f->kind = buf[i] == '*' ? IMAP_SL_UNTAGGED :
			    buf[i] == '+'	    ? IMAP_SL_CONTINUATION :
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
			size_t seg = lf != NULL ? (size_t)(lf - (buf + i)) :
						  len - i;

			imap_sframe_keep(f, buf + i, seg);
			i += seg;
			if (lf == NULL)
				break;
		} else if (buf[i] != '\n') {
			imap_sframe_head(f, buf + i);
			imap_sframe_keep(f, buf + i, 1);
			i++;
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
