/*
 * conf: the configuration engine.  It reads the file, hands each key's
 * value to the parser its module's table names, collects the errors with
 * their lines and prints them sorted, and counts the snapshot's
 * references; the modules' tables (conf_table.h, listed in
 * conf_modules.c) say what the sections and keys are.  The shared value
 * parsers are in conf_value.c, the settings dump in conf_dump.c.
 *
 * The distro inih reads lines into a 200-byte buffer and does not tell the
 * handler which line it is on.  Our reader hands inih one line at a time,
 * so the handler (which runs right after the reader returned its line, for
 * continuation lines too) knows the line number, and the reader sees every
 * line whole, so it can refuse the ones inih would silently cut in two.
 * The reader also classifies each line the way inih will, because inih
 * reports syntax errors and section headers only as one line number.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "conf.h"
#include "conf_table.h"

/* What inih will make of a line; see conf_classify(). */
enum line_kind {
	LINE_BLANK, /* empty, comment, or replaced after an error */
	LINE_SECTION,
	LINE_PAIR,
	LINE_CONTINUATION,
	LINE_BAD
};

/* One key of a kind of section, from whichever module's table. */
struct kind_key {
	const struct conf_table *t;
	const struct conf_key *k;
};

/* A kind of section, with the keys every module gives it. */
struct kind {
	const struct conf_section *sec;
	struct kind_key *keys;
	size_t nkeys;
};

/* One section of the file: a fixed one, or a labelled one once opened. */
struct inst {
	size_t kind;
	unsigned index;
	int line;       /* of its header, 0 while absent */
	int *seen;      /* line of each key's first setting, by kind key */
	char label[96]; /* its name in messages: "pop3", "rule \"x\"" */
};

/* Where the reader is: a section, or one of these. */
#define CUR_NONE ((size_t)-1)    /* before the first section header */
#define CUR_UNKNOWN ((size_t)-2) /* a section already reported */

struct conf_error {
	int line; /* 0: about the file as a whole */
	size_t seq;
	char *msg;
};

struct conf_loader {
	FILE *fp;
	const char *path;
	struct conf *c;

	char *buf; /* getline's buffer */
	size_t bufsize;
	int lineno;
	const char *line; /* in buf: the line being read, whole */
	enum line_kind kind;
	bool prev_name;    /* inih's prev_name is set */
	bool prev_ignored; /* continuations of the last key are ignored */
	size_t cur;        /* index into insts, or CUR_* */
	bool read_failed;

	struct kind *kinds;
	size_t nkinds;
	struct inst *insts;
	size_t ninsts, instcap;
	void **states; /* each module's scratch, by conf_modules[] index */

	struct conf_error *errs;
	size_t nerrs, errcap;
	bool oom;
};

static void conf_verror(struct conf_loader *, int, const char *, va_list)
    __attribute__((format(printf, 3, 0)));

static void
conf_verror(struct conf_loader *l, int line, const char *fmt, va_list ap)

{
	struct conf_error *e;
	va_list ap2;
	char *msg;
	int n;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0 || (msg = malloc((size_t)n + 1)) == NULL) {
		l->oom = true;
		return;
	}
	vsnprintf(msg, (size_t)n + 1, fmt, ap);
	if (l->nerrs == l->errcap) {
		size_t cap = l->errcap ? 2 * l->errcap : 16;

		e = reallocarray(l->errs, cap, sizeof(*e));
		if (e == NULL) {
			free(msg);
			l->oom = true;
			return;
		}
		l->errs = e;
		l->errcap = cap;
	}
	e = &l->errs[l->nerrs];
	e->line = line;
	e->seq = l->nerrs++;
	e->msg = msg;
}

void
conf_error(struct conf_loader *l, int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	conf_verror(l, line, fmt, ap);
	va_end(ap);
}

/* The current section's name for messages: "pop3", "rule \"x\"". */
static const char *
sec_name(const struct conf_loader *l)
{
	return l->insts[l->cur].label;
}

void
conf_key_error(struct conf_loader *l, const struct conf_key *k, const char *fmt,
    ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	conf_error(l, l->lineno, "[%s] %s: %s", sec_name(l), k->name, msg);
}

bool
conf_has_error_at(const struct conf_loader *l, int line)
{
	size_t i;

	for (i = 0; i < l->nerrs; i++)
		if (l->errs[i].line == line)
			return true;
	return false;
}

static int
error_cmp(const void *a, const void *b)
{
	const struct conf_error *x = a, *y = b;

	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

void
conf_oom(struct conf_loader *l)
{
	l->oom = true;
}

char *
conf_strdup(struct conf_loader *l, const char *s)
{
	char *p;

	if ((p = strdup(s)) == NULL)
		l->oom = true;
	return p;
}

struct conf *
conf_loader_conf(struct conf_loader *l)
{
	return l->c;
}

int
conf_lineno(const struct conf_loader *l)
{
	return l->lineno;
}

const char *
conf_line(const struct conf_loader *l)
{
	return l->line != NULL ? l->line : "";
}

const char *
conf_section_label(struct conf_loader *l, const char *rest, const char *section,
    const char *what, size_t *len)
{
	const char *p = rest, *q;

	while (*p == ' ' || *p == '\t')
		p++;
	if (*p != '"' || (q = strchr(p + 1, '"')) == NULL ||
	    q[1 + strspn(q + 1, " \t")] != '\0') {
		conf_error(l, l->lineno,
		    "expected [%s \"<%s>\"], the name in double quotes",
		    section, what);
		return NULL;
	}
	*len = (size_t)(q - p - 1);
	return p + 1;
}

unsigned
conf_instance(const struct conf_loader *l)
{
	return l->cur < l->ninsts ? l->insts[l->cur].index : 0;
}

void *
conf_state(struct conf_loader *l, const struct conf_module *m)
{
	size_t i;

	for (i = 0; i < conf_nmodules; i++)
		if (conf_modules[i] == m)
			return l->states[i];
	return NULL;
}

static const struct inst *
find_inst(const struct conf_loader *l, const char *section, unsigned inst)
{
	size_t i;

	for (i = 0; i < l->ninsts; i++)
		if (l->insts[i].index == inst &&
		    strcmp(l->kinds[l->insts[i].kind].sec->name, section) == 0)
			return &l->insts[i];
	return NULL;
}

int
conf_section_line(const struct conf_loader *l, const char *section,
    unsigned inst)
{
	const struct inst *in = find_inst(l, section, inst);

	return in != NULL ? in->line : 0;
}

int
conf_key_line(const struct conf_loader *l, const char *section, unsigned inst,
    const char *key)
{
	const struct inst *in = find_inst(l, section, inst);
	const struct kind *kd;
	size_t i;

	if (in == NULL)
		return 0;
	kd = &l->kinds[in->kind];
	for (i = 0; i < kd->nkeys; i++)
		if (strcmp(kd->keys[i].k->name, key) == 0)
			return in->seen[i];
	return 0;
}

/* Lower case, without '_', '-' and blanks: LoginType matches login_type. */
static void
normalize(const char *s, char *out, size_t len)
{
	size_t n = 0;

	for (; *s != '\0' && n + 1 < len; s++)
		if (*s != '_' && *s != '-' && *s != ' ' && *s != '\t')
			out[n++] = (char)tolower((unsigned char)*s);
	out[n] = '\0';
}

static size_t
edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i, j, prev, tmp, best;
	size_t row[64];

	if (la >= 64 || lb >= 64)
		return 64;
	for (j = 0; j <= lb; j++)
		row[j] = j;
	for (i = 1; i <= la; i++) {
		prev = row[0];
		row[0] = i;
		for (j = 1; j <= lb; j++) {
			tmp = row[j];
			best = prev + (a[i - 1] != b[j - 1]);
			if (row[j] + 1 < best)
				best = row[j] + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			prev = tmp;
		}
	}
	return row[lb];
}

/*
 * The candidate that word is a trivial misspelling of: the same once case
 * and separators are ignored, or at most two edits away from exactly one
 * candidate.  NULL when there is no such single candidate.
 */
static const char *
suggest(const char *word, const char *const *cands, size_t n)
{
	char w[128], c[128];
	const char *best = NULL;
	size_t i, d, bestd = 3;
	bool tie = false;

	normalize(word, w, sizeof(w));
	if (strlen(w) < 3)
		return NULL;
	for (i = 0; i < n; i++) {
		normalize(cands[i], c, sizeof(c));
		if (strcmp(w, c) == 0)
			return cands[i];
	}
	for (i = 0; i < n; i++) {
		normalize(cands[i], c, sizeof(c));
		/* The distance is at least the difference in length. */
		if (strlen(w) > strlen(c) + bestd ||
		    strlen(c) > strlen(w) + bestd)
			continue;
		d = edit_distance(w, c);
		if (d < bestd) {
			bestd = d;
			best = cands[i];
			tie = false;
		} else if (d == bestd)
			tie = true;
	}
	return tie ? NULL : best;
}

/*
 * Lists the sections for messages, in the order of the modules: "[postern],
 * [tls], [pop3], [imap], [groups] or [rule \"<name>\"]".
 */
static void
sections_list(const struct conf_loader *l, char *buf, size_t len)
{
	const char *items[32];
	char labelled[8][64];
	size_t n = 0, nl = 0, i, k, at = 0;

	for (k = 0; k < l->nkinds; k++) {
		const struct conf_section *s = l->kinds[k].sec;

		if (s->open != NULL) {
			if (nl == sizeof(labelled) / sizeof(labelled[0]))
				continue;
			snprintf(labelled[nl], sizeof(labelled[nl]),
			    "%s \"<name>\"", s->name);
			if (n < sizeof(items) / sizeof(items[0]))
				items[n++] = labelled[nl++];
			continue;
		}
		for (i = 0; i < l->ninsts; i++)
			if (l->insts[i].kind == k &&
			    n < sizeof(items) / sizeof(items[0]))
				items[n++] = l->insts[i].label;
	}
	buf[0] = '\0';
	for (i = 0; i < n && at < len; i++)
		at += (size_t)snprintf(buf + at, len - at, "%s[%s]",
		    i == 0     ? "" :
		    i + 1 == n ? " or " :
				 ", ",
		    items[i]);
}

/* Where the keys of kind k belong, for messages: "[pop3] and [imap]". */
static void
kind_where(const struct conf_loader *l, size_t k, char *buf, size_t len)
{
	const struct conf_section *s = l->kinds[k].sec;
	size_t i, n = 0, at = 0, m = 0;

	if (s->open != NULL) {
		snprintf(buf, len, "[%s \"<name>\"] sections", s->name);
		return;
	}
	for (i = 0; i < l->ninsts; i++)
		if (l->insts[i].kind == k)
			n++;
	buf[0] = '\0';
	for (i = 0; i < l->ninsts && at < len; i++) {
		if (l->insts[i].kind != k)
			continue;
		at += (size_t)snprintf(buf + at, len - at, "%s[%s]",
		    m == 0     ? "" :
		    m + 1 == n ? " and " :
				 ", ",
		    l->insts[i].label);
		m++;
	}
}

static void
unknown_key(struct conf_loader *l, const char *name)
{
	const struct kind *cur = &l->kinds[l->insts[l->cur].kind];
	const char **cands, *s;
	char where[256];
	size_t i, k, n = 0;
	bool found = false;

	if (*name == '\0') {
		conf_error(l, l->lineno, "missing key name before '='");
		return;
	}
	/* The last section kind that has the key, in the modules' order. */
	for (k = 0; k < l->nkinds; k++) {
		if (&l->kinds[k] == cur)
			continue;
		for (i = 0; i < l->kinds[k].nkeys; i++) {
			if (strcmp(l->kinds[k].keys[i].k->name, name) == 0) {
				kind_where(l, k, where, sizeof(where));
				found = true;
			}
		}
	}
	if (found) {
		conf_error(l, l->lineno,
		    "unknown key '%s' in [%s] (it belongs in %s)", name,
		    sec_name(l), where);
		return;
	}
	if ((cands = calloc(cur->nkeys + 1, sizeof(*cands))) == NULL) {
		l->oom = true;
		return;
	}
	for (i = 0; i < cur->nkeys; i++)
		cands[n++] = cur->keys[i].k->name;
	if ((s = suggest(name, cands, n)) != NULL)
		conf_error(l, l->lineno,
		    "unknown key '%s' in [%s]; did you mean '%s'?", name,
		    sec_name(l), s);
	else
		conf_error(l, l->lineno, "unknown key '%s' in [%s]", name,
		    sec_name(l));
	free(cands);
}

static int
conf_handler(void *user, const char *section, const char *name,
    const char *value)
{
	struct conf_loader *l = user;
	const struct kind_key *kk;
	const struct kind *kd;
	struct inst *in;
	char list[256];
	size_t i, j;
	int *seen;

	(void)section; /* the reader tracks sections, unshortened */
	if (l->kind == LINE_CONTINUATION && l->prev_ignored)
		return 1;
	l->prev_ignored = true;
	if (l->cur == CUR_UNKNOWN)
		return 1;
	if (l->cur == CUR_NONE) {
		sections_list(l, list, sizeof(list));
		conf_error(l, l->lineno, "key '%s' is outside any section (%s)",
		    name, list);
		return 1;
	}
	in = &l->insts[l->cur];
	kd = &l->kinds[in->kind];
	for (i = 0; i < kd->nkeys; i++)
		if (strcmp(kd->keys[i].k->name, name) == 0)
			break;
	/* A section of the file's own keys takes the others. */
	for (j = 0; i == kd->nkeys && j < kd->nkeys; j++)
		if (kd->keys[j].k->flags & CONF_ANYKEY)
			i = j;
	if (i == kd->nkeys) {
		unknown_key(l, name);
		return 1;
	}
	kk = &kd->keys[i];
	seen = &in->seen[i];
	if (l->kind == LINE_CONTINUATION && !(kk->k->flags & CONF_LIST)) {
		conf_error(l, l->lineno,
		    "[%s] %s takes one value: is this line indented by "
		    "mistake?",
		    sec_name(l), kk->k->name);
		return 1;
	}
	if (*seen != 0 && !(kk->k->flags & (CONF_LIST | CONF_ANYKEY))) {
		conf_error(l, l->lineno,
		    "duplicate key '%s' (first set at line %d)", name, *seen);
		return 1;
	}
	if (*seen == 0)
		*seen = l->lineno;
	l->prev_ignored = false;
	kk->k->parse(l, kk->k, value,
	    (char *)kk->t->base(l->c, in->index) + kk->k->offset);
	return 1;
}

static char *
lskip(char *s)
{
	while (*s != '\0' && isspace((unsigned char)*s))
		s++;
	return s;
}

static void
rstrip(char *s)
{
	size_t n = strlen(s);

	while (n > 0 && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
}

/* inih's scan: up to one of chars or an inline ';' comment after a blank. */
static char *
find_chars_or_comment(char *s, const char *chars)
{
	bool was_space = false;

	while (*s != '\0' && (chars == NULL || strchr(chars, *s) == NULL) &&
	       !(was_space && *s == ';')) {
		was_space = isspace((unsigned char)*s);
		s++;
	}
	return s;
}

/* A new section of kind k; returns its index in insts, or CUR_UNKNOWN. */
static size_t
inst_add(struct conf_loader *l, size_t k, unsigned index, const char *label)
{
	struct inst *v, *in;

	if (l->ninsts == l->instcap) {
		size_t cap = l->instcap ? 2 * l->instcap : 16;

		if ((v = reallocarray(l->insts, cap, sizeof(*v))) == NULL) {
			l->oom = true;
			return CUR_UNKNOWN;
		}
		l->insts = v;
		l->instcap = cap;
	}
	in = &l->insts[l->ninsts];
	memset(in, 0, sizeof(*in));
	in->kind = k;
	in->index = index;
	snprintf(in->label, sizeof(in->label), "%s", label);
	if ((in->seen = calloc(l->kinds[k].nkeys + 1, sizeof(int))) == NULL) {
		l->oom = true;
		return CUR_UNKNOWN;
	}
	return l->ninsts++;
}

static void
section_header(struct conf_loader *l, const char *name)
{
	const char **cands, *s;
	char label[96], list[256];
	size_t i, k, n = 0, len;
	int idx;

	l->prev_name = false;
	for (k = 0; k < l->nkinds; k++) {
		const struct conf_section *sec = l->kinds[k].sec;

		len = strlen(sec->name);
		if (sec->open == NULL || strncmp(name, sec->name, len) != 0 ||
		    (name[len] != ' ' && name[len] != '\t' && name[len] != '"'))
			continue;
		l->cur = CUR_UNKNOWN;
		if ((idx = sec->open(l, name + len, label, sizeof(label))) >= 0)
			l->cur = inst_add(l, k, (unsigned)idx, label);
		return;
	}
	for (i = 0; i < l->ninsts; i++)
		if (l->kinds[l->insts[i].kind].sec->open == NULL &&
		    strcmp(name, l->insts[i].label) == 0)
			break;
	if (i == l->ninsts) {
		l->cur = CUR_UNKNOWN;
		if ((cands = calloc(l->ninsts + 1, sizeof(*cands))) == NULL) {
			l->oom = true;
			return;
		}
		for (i = 0; i < l->ninsts; i++)
			if (l->kinds[l->insts[i].kind].sec->open == NULL)
				cands[n++] = l->insts[i].label;
		s = suggest(name, cands, n);
		if (s != NULL)
			conf_error(l, l->lineno,
			    "unknown section [%s]; did you mean [%s]?", name,
			    s);
		else {
			sections_list(l, list, sizeof(list));
			conf_error(l, l->lineno,
			    "unknown section [%s] (expected %s)", name, list);
		}
		free(cands);
		return;
	}
	l->cur = i;
	if (l->insts[i].line != 0)
		conf_error(l, l->lineno,
		    "duplicate section [%s] (first at line %d)", name,
		    l->insts[i].line);
	else
		l->insts[i].line = l->lineno;
}

/*
 * Decides what inih will do with the line, as inih's own loop does (with
 * multi-line values and ';' inline comments, its defaults), so that section
 * headers and syntax errors are seen with their line numbers.
 */
static void
conf_classify(struct conf_loader *l, const char *line)
{
	char *copy, *s, *end, *rest;

	if ((copy = strdup(line)) == NULL) {
		l->oom = true;
		l->kind = LINE_BAD;
		return;
	}
	rstrip(copy);
	s = lskip(copy);
	if (*s == '\0' || *s == ';' || *s == '#') {
		l->kind = LINE_BLANK;
	} else if (l->prev_name && s > copy) {
		l->kind = LINE_CONTINUATION;
	} else if (*s == '[') {
		end = find_chars_or_comment(s + 1, "]");
		if (*end != ']') {
			l->kind = LINE_BAD;
			conf_error(l, l->lineno,
			    "section header without closing ']'");
			free(copy);
			return;
		}
		*end = '\0';
		l->kind = LINE_SECTION;
		section_header(l, s + 1);
		rest = lskip(end + 1);
		if (*rest != '\0' && !(*rest == ';' && rest > end + 1))
			conf_error(l, l->lineno,
			    "unexpected text after section header: '%s'", rest);
	} else {
		end = find_chars_or_comment(s, "=:");
		if (*end == '=' || *end == ':') {
			l->kind = LINE_PAIR;
			*end = '\0';
			rstrip(s);
			l->prev_name = *s != '\0';
		} else {
			l->kind = LINE_BAD;
			conf_error(l, l->lineno,
			    "expected 'key = value', a [section] or a comment");
		}
	}
	free(copy);
}

/* inih's reader: one whole line at a time, see the top of this file. */
static char *
conf_reader(char *str, int num, void *stream)
{
	struct conf_loader *l = stream;
	char *line, *s;
	ssize_t n;
	size_t len;

	l->line = NULL;
	if (num < 2)
		return NULL;
	errno = 0;
	if ((n = getline(&l->buf, &l->bufsize, l->fp)) == -1) {
		if (ferror(l->fp)) {
			conf_error(l, 0, "read error: %s", strerror(errno));
			l->read_failed = true;
		}
		return NULL;
	}
	l->lineno++;
	line = l->buf;
	len = (size_t)n;
	if (len > 0 && line[len - 1] == '\n')
		line[--len] = '\0';
	if (len > 0 && line[len - 1] == '\r')
		line[--len] = '\0';
	if (l->lineno == 1 && len >= 3 &&
	    memcmp(line, "\xEF\xBB\xBF", 3) == 0) {
		line += 3;
		len -= 3;
	}
	str[0] = '\0';
	l->kind = LINE_BAD;
	if (memchr(line, '\0', len) != NULL) {
		conf_error(l, l->lineno, "NUL byte in line");
		return str;
	}
	if (len > (size_t)num - 1) {
		/* A long comment is harmless: inih sees an empty line. */
		s = lskip(line);
		if (*s == '\0' || *s == ';' || *s == '#')
			l->kind = LINE_BLANK;
		else
			conf_error(l, l->lineno,
			    "line too long (at most %d characters); split a "
			    "list over repeated keys or continuation lines",
			    num - 1);
		return str;
	}
	memcpy(str, line, len + 1);
	l->line = line;
	conf_classify(l, str);
	if (l->kind == LINE_BAD)
		str[0] = '\0';
	return str;
}

static void
conf_report(struct conf_loader *l, FILE *errout)
{
	size_t i;

	if (l->oom)
		conf_error(l, 0, "out of memory");
	qsort(l->errs, l->nerrs, sizeof(*l->errs), error_cmp);
	for (i = 0; i < l->nerrs; i++) {
		if (errout == NULL)
			continue;
		if (l->errs[i].line > 0)
			fprintf(errout, "%s:%d: %s\n", l->path, l->errs[i].line,
			    l->errs[i].msg);
		else
			fprintf(errout, "%s: %s\n", l->path, l->errs[i].msg);
	}
}

/*
 * The kinds of section and their keys, from every module's tables, and
 * the sections that exist without a header in the file (fixed ones).
 */
static int
loader_setup(struct conf_loader *l)
{
	const struct conf_module *m;
	const struct conf_table *t;
	struct kind *kd;
	size_t i, j, k, x, n = 0;
	unsigned u;

	for (i = 0; i < conf_nmodules; i++)
		n += conf_modules[i]->nsections;
	if ((l->kinds = calloc(n + 1, sizeof(*l->kinds))) == NULL ||
	    (l->states = calloc(conf_nmodules, sizeof(void *))) == NULL)
		goto oom;
	for (i = 0; i < conf_nmodules; i++) {
		m = conf_modules[i];
		if (m->state_size != 0 &&
		    (l->states[i] = calloc(1, m->state_size)) == NULL)
			goto oom;
		for (j = 0; j < m->nsections; j++)
			l->kinds[l->nkinds++].sec = &m->sections[j];
	}
	for (k = 0; k < l->nkinds; k++) {
		kd = &l->kinds[k];
		for (n = 0, i = 0; i < conf_nmodules; i++)
			for (j = 0; j < conf_modules[i]->ntables; j++)
				if (strcmp(conf_modules[i]->tables[j].section,
					kd->sec->name) == 0)
					n += conf_modules[i]->tables[j].nkeys;
		if ((kd->keys = calloc(n + 1, sizeof(*kd->keys))) == NULL)
			goto oom;
		for (i = 0; i < conf_nmodules; i++) {
			for (j = 0; j < conf_modules[i]->ntables; j++) {
				t = &conf_modules[i]->tables[j];
				if (strcmp(t->section, kd->sec->name) != 0)
					continue;
				for (x = 0; x < t->nkeys; x++) {
					kd->keys[kd->nkeys].t = t;
					kd->keys[kd->nkeys++].k = &t->keys[x];
				}
			}
		}
		if (kd->sec->open != NULL)
			continue;
		if (kd->sec->instance_name == NULL) {
			if (inst_add(l, k, 0, kd->sec->name) == CUR_UNKNOWN)
				return -1;
			continue;
		}
		for (u = 0; u < kd->sec->count; u++)
			if (inst_add(l, k, u, kd->sec->instance_name(u)) ==
			    CUR_UNKNOWN)
				return -1;
	}
	return 0;
oom:
	l->oom = true;
	return -1;
}

static void
loader_free(struct conf_loader *l)
{
	size_t i;

	for (i = 0; l->states != NULL && i < conf_nmodules; i++) {
		if (l->states[i] != NULL && conf_modules[i]->load_end != NULL)
			conf_modules[i]->load_end(l);
		free(l->states[i]);
	}
	free(l->states);
	for (i = 0; i < l->nkinds; i++)
		free(l->kinds[i].keys);
	free(l->kinds);
	for (i = 0; i < l->ninsts; i++)
		free(l->insts[i].seen);
	free(l->insts);
	for (i = 0; i < l->nerrs; i++)
		free(l->errs[i].msg);
	free(l->errs);
	free(l->buf);
}

static void
conf_free(struct conf *c)
{
	size_t i;

	for (i = 0; i < conf_nmodules; i++)
		if (conf_modules[i]->free != NULL)
			conf_modules[i]->free(c);
	free(c->path);
	free(c);
}

struct conf *
conf_load(const char *path, FILE *errout)
{
	struct conf_loader l;
	struct conf *c;
	size_t i;
	int rc;

	memset(&l, 0, sizeof(l));
	l.path = path;
	l.cur = CUR_NONE;
	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->path = strdup(path)) == NULL) {
		free(c);
		if (errout != NULL)
			fprintf(errout, "%s: out of memory\n", path);
		return NULL;
	}
	atomic_init(&c->refs, 1);
	l.c = c;
	if (loader_setup(&l) == -1)
		goto done;
	if ((l.fp = fopen(path, "r")) == NULL) {
		conf_error(&l, 0, "cannot open: %s", strerror(errno));
		goto done;
	}
	for (i = 0; i < conf_nmodules; i++)
		if (conf_modules[i]->defaults != NULL &&
		    conf_modules[i]->defaults(&l, c) == -1)
			goto done;
	rc = ini_parse_stream(conf_reader, &l, conf_handler, &l);
	/* Our classification should have caught it; never let one pass. */
	if (rc > 0 && !conf_has_error_at(&l, rc))
		conf_error(&l, rc, "syntax error");
	else if (rc == -2)
		l.oom = true;
	if (l.read_failed || l.oom)
		goto done;
	for (i = 0; i < conf_nmodules && !l.oom; i++)
		if (conf_modules[i]->check != NULL)
			conf_modules[i]->check(&l, c);
done:
	if (l.fp != NULL)
		fclose(l.fp);
	if (l.nerrs != 0 || l.oom) {
		conf_report(&l, errout);
		conf_free(c);
		c = NULL;
	}
	loader_free(&l);
	return c;
}

struct conf *
conf_ref(struct conf *c)
{
	atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
	return c;
}

void
conf_unref(struct conf *c)
{
	if (c == NULL)
		return;
	/* Release and acquire in one, so the freeing thread sees every other
	 * holder's last use of the snapshot.  Not a relaxed decrement and a
	 * separate acquire fence: ThreadSanitizer does not model fences and
	 * would report the free as a race with the last reader. */
	if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1)
		return;
	conf_free(c);
}
