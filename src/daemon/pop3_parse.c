/*
 * pop3_parse: the pure half of the POP3 module.
 */
#include "config.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "pop3.h"

static const struct {
	const char *name;
	enum pop3_verb verb;
} pop3_verbs[] = {
    {"user", POP3_CMD_USER},
    {"pass", POP3_CMD_PASS},
    {"auth", POP3_CMD_AUTH},
    {"capa", POP3_CMD_CAPA},
    {"stls", POP3_CMD_STLS},
    {"quit", POP3_CMD_QUIT},
    {"noop", POP3_CMD_NOOP},
    {"apop", POP3_CMD_APOP},
    {"stat", POP3_CMD_STAT},
    {"list", POP3_CMD_LIST},
    {"retr", POP3_CMD_RETR},
    {"dele", POP3_CMD_DELE},
    {"rset", POP3_CMD_RSET},
    {"top", POP3_CMD_TOP},
    {"uidl", POP3_CMD_UIDL},
    {"xclient", POP3_CMD_XCLIENT},
};

enum pop3_parse_result
pop3_parse(const char *buf, size_t len, size_t max, struct pop3_command *cmd)
{
	const char *lf, *end, *p;
	size_t vlen, scan = len < max ? len : max;

	memset(cmd, 0, sizeof(*cmd));
	if ((lf = memchr(buf, '\n', scan)) == NULL)
		return len >= max ? POP3_TOO_LONG : POP3_NEED_MORE;
	cmd->linelen = (size_t)(lf - buf) + 1;
	end = lf;
	if (end > buf && end[-1] == '\r')
		end--;
	if (end == buf) {
		cmd->empty = true;
		return POP3_COMMAND;
	}
	/* RFC 1939 section 3: keywords are separated from arguments by a
	 * single space; keywords are three or four characters (XCLIENT is
	 * the one longer extension a client might try). */
	for (p = buf; p < end && *p != ' '; p++)
		;
	vlen = (size_t)(p - buf);
	if (vlen < sizeof(cmd->name)) {
		for (size_t i = 0; i < vlen; i++)
			cmd->name[i] = (char)tolower((unsigned char)buf[i]);
		cmd->name[vlen] = '\0';
		for (size_t i = 0;
		     i < sizeof(pop3_verbs) / sizeof(pop3_verbs[0]); i++)
			if (strcmp(cmd->name, pop3_verbs[i].name) == 0) {
				cmd->verb = pop3_verbs[i].verb;
				break;
			}
	}
	if (p < end) {
		cmd->arg = p + 1;
		cmd->arglen = (size_t)(end - p - 1);
	} else {
		cmd->arg = end;
		cmd->arglen = 0;
	}
	return POP3_COMMAND;
}

bool
pop3_line_is_command(const struct pop3_command *cmd, const char *buf)
{
	if (cmd->empty)
		return false;
	return cmd->verb != POP3_CMD_OTHER ||
	       memchr(buf, ' ', cmd->linelen) != NULL;
}

enum pop3_status
pop3_status(const char *line, size_t len)
{
	if (len >= 3 && memcmp(line, "+OK", 3) == 0 &&
	    (len == 3 || line[3] == ' '))
		return POP3_STATUS_OK;
	if (len >= 4 && memcmp(line, "-ERR", 4) == 0 &&
	    (len == 4 || line[4] == ' '))
		return POP3_STATUS_ERR;
	if (len >= 1 && line[0] == '+' && (len == 1 || line[1] == ' '))
		return POP3_STATUS_CONT;
	return POP3_STATUS_BAD;
}

bool
pop3_err_is_system(const char *line, size_t len)
{
	static const char *const codes[] = {"[SYS/TEMP]", "[SYS/PERM]",
	    "[IN-USE]"};

	if (len < 5 || memcmp(line, "-ERR ", 5) != 0)
		return false;
	line += 5;
	len -= 5;
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		size_t n = strlen(codes[i]);

		if (len >= n && strncasecmp(line, codes[i], n) == 0)
			return true;
	}
	return false;
}

/* Whether word (case-insensitive) is one of the blank-separated tokens. */
static bool
pop3_has_token(const char *s, size_t len, const char *word)
{
	size_t wl = strlen(word), i = 0;

	while (i < len) {
		size_t j = i;

		while (j < len && s[j] != ' ')
			j++;
		if (j - i == wl && strncasecmp(s + i, word, wl) == 0)
			return true;
		i = j + 1;
	}
	return false;
}

void
pop3_capa_line(struct pop3_capa *capa, const char *line, size_t len)
{
	size_t kl;

	for (kl = 0; kl < len && line[kl] != ' '; kl++)
		;
	if (kl == 4 && strncasecmp(line, "STLS", 4) == 0)
		capa->stls = true;
	else if (kl == 4 && strncasecmp(line, "USER", 4) == 0)
		capa->user = true;
	else if (kl == 7 && strncasecmp(line, "XCLIENT", 7) == 0)
		capa->xclient = true;
	else if (kl == 4 && strncasecmp(line, "SASL", 4) == 0 && kl < len &&
		 pop3_has_token(line + kl + 1, len - kl - 1, "PLAIN"))
		capa->sasl_plain = true;
}

bool
pop3_greeting_xclient(const char *line, size_t len)
{
	static const char code[] = "[XCLIENT]";
	size_t n = sizeof(code) - 1;

	if (pop3_status(line, len) != POP3_STATUS_OK)
		return false;
	/* A compare only where a '[' is: a greeting is some 20 bytes, and
	 * every login reads one. */
	for (const char *p = line, *end = line + len;
	     (p = memchr(p, '[', (size_t)(end - p))) != NULL; p++)
		if ((size_t)(end - p) >= n && strncasecmp(p, code, n) == 0)
			return true;
	return false;
}

/* --- after login: framing for the protocol log --------------------------- */

void
pop3_lines_init(struct pop3_lines *l)
{
	l->len = 0;
	l->kept = 0;
	l->done = false;
}

enum pop3_frame
pop3_lines_feed(struct pop3_lines *l, const char *buf, size_t len,
    size_t *consumed)
{
	const char *lf = memchr(buf, '\n', len);
	size_t take = lf != NULL ? (size_t)(lf - buf) + 1 : len, room;

	if (l->done)
		pop3_lines_init(l);
	room = POP3_LINE_KEPT - l->kept;
	memcpy(l->buf + l->kept, buf, take < room ? take : room);
	l->kept += take < room ? take : room;
	l->len += take;
	*consumed = take;
	if (lf == NULL)
		return POP3_FRAME_MORE;
	/* A line cut short still ends in LF, so that pop3_parse() takes
	 * what was kept of it. */
	if (l->buf[l->kept - 1] != '\n')
		l->buf[l->kept++] = '\n';
	l->done = true;
	return POP3_FRAME_LINE;
}

bool
pop3_multiline(const struct pop3_command *cmd)
{
	switch (cmd->verb) {
	case POP3_CMD_RETR:
	case POP3_CMD_TOP:
	case POP3_CMD_CAPA:
		return true;
	case POP3_CMD_LIST:
	case POP3_CMD_UIDL:
	case POP3_CMD_AUTH:
		return cmd->arglen == 0;
	default:
		return false;
	}
}

/* Where an answer is. */
enum {
	POP3_A_STATUS, /* in the status line */
	POP3_A_BOL,    /* at the start of a line of a multi-line answer */
	POP3_A_LINE,   /* inside such a line */
	POP3_A_DOT,    /* after a "." that starts a line */
	POP3_A_DOTCR,  /* after ".\r" at the start of a line */
	POP3_A_DONE
};

void
pop3_answer_start(struct pop3_answer *a, bool multiline)
{
	a->state = POP3_A_STATUS;
	a->multiline = multiline;
	a->ok = false;
	a->statuslen = 0;
	a->status[0] = '\0';
}

enum pop3_frame
pop3_answer_feed(struct pop3_answer *a, const char *buf, size_t len,
    size_t *consumed)
{
	size_t i = 0;
	const char *lf;

	while (i < len) {
		switch (a->state) {
		case POP3_A_STATUS: {
			size_t take, room = POP3_STATUS_KEPT - a->statuslen;

			lf = memchr(buf + i, '\n', len - i);
			take = lf != NULL ? (size_t)(lf - (buf + i)) : len - i;
			if (take > room)
				take = room;
			memcpy(a->status + a->statuslen, buf + i, take);
			a->statuslen += take;
			if (lf == NULL) {
				i = len;
				break;
			}
			i = (size_t)(lf - buf) + 1;
			if (a->statuslen > 0 &&
			    a->status[a->statuslen - 1] == '\r')
				a->statuslen--;
			a->status[a->statuslen] = '\0';
			a->ok = pop3_status(a->status, a->statuslen) ==
				POP3_STATUS_OK;
			if (!a->ok || !a->multiline) {
				a->state = POP3_A_DONE;
				*consumed = i;
				return POP3_FRAME_ANSWER;
			}
			a->state = POP3_A_BOL;
			break;
		}
		case POP3_A_BOL:
			a->state = buf[i] == '.' ? POP3_A_DOT : POP3_A_LINE;
			if (buf[i] == '\n')
				a->state = POP3_A_BOL;
			i++;
			break;
		case POP3_A_LINE:
			/* The body: one memchr per line, nothing copied. */
			lf = memchr(buf + i, '\n', len - i);
			if (lf == NULL) {
				i = len;
				break;
			}
			i = (size_t)(lf - buf) + 1;
			a->state = POP3_A_BOL;
			break;
		case POP3_A_DOT:
			if (buf[i] == '\n') {
				*consumed = i + 1;
				a->state = POP3_A_DONE;
				return POP3_FRAME_ANSWER;
			}
			/* "..": a dot-stuffed line of data. */
			a->state = buf[i] == '\r' ? POP3_A_DOTCR : POP3_A_LINE;
			i++;
			break;
		case POP3_A_DOTCR:
			if (buf[i] == '\n') {
				*consumed = i + 1;
				a->state = POP3_A_DONE;
				return POP3_FRAME_ANSWER;
			}
			/* ".\r" and more: an odd line of data. */
			a->state = POP3_A_LINE;
			i++;
			break;
		case POP3_A_DONE:
		default:
			*consumed = 0;
			return POP3_FRAME_ANSWER;
		}
	}
	*consumed = len;
	return POP3_FRAME_MORE;
}

void
pop3_quitwatch_feed(struct pop3_quitwatch *w, const char *buf, size_t len)
{
	static const char quit[] = "QUIT";

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)buf[i];

		if (c == '\n') {
			w->quit = !w->other && w->k >= 4;
			w->k = 0;
			w->other = false;
		} else if (w->other)
			continue;
		else if (w->k < 4 && toupper(c) == (unsigned char)quit[w->k])
			w->k++;
		else if (w->k == 4 && c == '\r')
			w->k = 5;
		else
			w->other = true;
	}
}
