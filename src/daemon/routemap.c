/*
 * routemap: the routing map file, parsed into a hash table.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "routemap.h"
#include "sasl.h"
#include "username.h"
#include "utf8.h"

/* One line's route; key is in lower case, "@domain" for a domain. */
struct entry {
	char *key;
	int value;
	int line;
};

struct routemap {
	struct entry *v;
	size_t n, cap;
	uint32_t *slots; /* entry index + 1, 0 when free; a power of 2 */
	size_t nslots;
	int any_value; /* the "*" route, -1 when none */
	int any_line;
};

static void map_error(routemap_error_fn *, void *, int, const char *, ...)
    __attribute__((format(printf, 4, 5)));

static void
map_error(routemap_error_fn *err, void *arg, int line, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	err(arg, line, msg);
}

/* FNV-1a, 64 bits, over a key already in lower case. */
static uint64_t
key_hash(const char *s, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* The slot of key, holding its entry or free where it would go. */
static size_t
slot_find(const struct routemap *m, const char *key, size_t len)
{
	size_t mask = m->nslots - 1, i = (size_t)key_hash(key, len) & mask;
	const struct entry *e;

	/* Linear probing; the table is never more than half full. */
	for (;; i = (i + 1) & mask) {
		if (m->slots[i] == 0)
			return i;
		e = &m->v[m->slots[i] - 1];
		if (strncmp(e->key, key, len) == 0 && e->key[len] == '\0')
			return i;
	}
}

/* Doubles the table; -1 when out of memory. */
static int
slots_grow(struct routemap *m)
{
	size_t n = m->nslots ? 2 * m->nslots : 64, i, j;
	uint32_t *old = m->slots;
	size_t oldn = m->nslots;

	if ((m->slots = calloc(n, sizeof(*m->slots))) == NULL) {
		m->slots = old;
		return -1;
	}
	m->nslots = n;
	for (i = 0; i < oldn; i++) {
		if (old[i] == 0)
			continue;
		j = slot_find(m, m->v[old[i] - 1].key,
		    strlen(m->v[old[i] - 1].key));
		m->slots[j] = old[i];
	}
	free(old);
	return 0;
}

/* Adds key (lower case) with value; -1 when out of memory. */
static int
map_add(struct routemap *m, const char *key, int value, int line)
{
	struct entry *v;
	size_t s;

	if (m->n == UINT32_MAX - 1)
		return -1;
	if (2 * (m->n + 1) > m->nslots && slots_grow(m) == -1)
		return -1;
	if (m->n == m->cap) {
		size_t cap = m->cap ? 2 * m->cap : 64;

		if ((v = reallocarray(m->v, cap, sizeof(*v))) == NULL)
			return -1;
		m->v = v;
		m->cap = cap;
	}
	s = slot_find(m, key, strlen(key));
	if ((m->v[m->n].key = strdup(key)) == NULL)
		return -1;
	m->v[m->n].value = value;
	m->v[m->n].line = line;
	m->slots[s] = (uint32_t)++m->n;
	return 0;
}

/* The entry of key (lower case, len bytes), or NULL. */
static const struct entry *
map_find(const struct routemap *m, const char *key, size_t len)
{
	size_t s;

	if (m->nslots == 0)
		return NULL;
	s = slot_find(m, key, len);
	return m->slots[s] != 0 ? &m->v[m->slots[s] - 1] : NULL;
}

/*
 * What is wrong with the bytes of a line, or NULL: a route names users
 * and backends in printable text, so a control byte or bytes that are
 * not UTF-8 are a damaged or wrong file, not a name.
 */
static const char *
line_bytes(const char *p, size_t len, char *why, size_t whylen)
{
	size_t i, n;

	for (i = 0; i < len; i += n) {
		unsigned char c = (unsigned char)p[i];

		if (c == '\0')
			return "NUL byte in line";
		if (c == 0x7f || (c < 0x20 && c != '\t')) {
			snprintf(why, whylen,
			    "control character (byte 0x%02x) in line", c);
			return why;
		}
		if ((n = utf8_seq_len((const unsigned char *)p + i, len - i)) ==
		    0) {
			snprintf(why, whylen,
			    "byte 0x%02x at column %zu is not UTF-8 (a binary "
			    "file?)",
			    c, i + 1);
			return why;
		}
	}
	return NULL;
}

/*
 * Checks the user form of a line and writes its key (lower case) to key
 * (SASL_USER_MAX + 2 bytes).  Returns the kind of entry, or ROUTEMAP_NONE
 * after writing why not to why.
 */
static enum routemap_match
user_form(const char *u, char *key, char *why, size_t whylen)
{
	const char *bs = strchr(u, '\\'), *at = strrchr(u, '@');
	size_t len = strlen(u), i;

	if (strcmp(u, "*") == 0) {
		strcpy(key, "*");
		return ROUTEMAP_ANY;
	}
	if (strchr(u, '*') != NULL) {
		snprintf(why, whylen,
		    "'%s': '*' stands alone, for everybody else; a route "
		    "names one user or one @domain",
		    u);
		return ROUTEMAP_NONE;
	}
	if (len > SASL_USER_MAX) {
		snprintf(why, whylen,
		    "'%.40s...' is longer than a login name can be (%d "
		    "bytes)",
		    u, SASL_USER_MAX);
		return ROUTEMAP_NONE;
	}
	if (u[0] == '@' && (u[1] == '\0' || strpbrk(u + 1, "@\\") != NULL)) {
		snprintf(why, whylen,
		    "'%s': a domain route is '@' and the domain, as in "
		    "@example.org",
		    u);
		return ROUTEMAP_NONE;
	}
	if (bs != NULL && (bs == u || bs[1] == '\0' || strchr(bs + 1, '\\'))) {
		snprintf(why, whylen,
		    "'%s': expected DOMAIN\\user, one '\\' between two names",
		    u);
		return ROUTEMAP_NONE;
	}
	if (bs == NULL && at != NULL && u[0] != '@' &&
	    (at == u || at[1] == '\0')) {
		snprintf(why, whylen,
		    "'%s': expected user@domain, a name on each side of '@'",
		    u);
		return ROUTEMAP_NONE;
	}
	for (i = 0; i <= len; i++)
		key[i] = (char)tolower((unsigned char)u[i]);
	if (u[0] == '@')
		return ROUTEMAP_DOMAIN;
	return bs != NULL || at != NULL ? ROUTEMAP_USER : ROUTEMAP_BARE;
}

/* The next blank-separated field of *sp, NUL-terminated, or NULL. */
static char *
field(char **sp)
{
	char *s = *sp, *start;

	while (*s == ' ' || *s == '\t')
		s++;
	if (*s == '\0') {
		*sp = s;
		return NULL;
	}
	start = s;
	while (*s != '\0' && *s != ' ' && *s != '\t')
		s++;
	if (*s != '\0')
		*s++ = '\0';
	*sp = s;
	return start;
}

/*
 * One line (NUL-terminated, its end cut) into m.  Returns 0, -1 after a
 * reported problem, -2 when out of memory.
 */
static int
parse_line(struct routemap *m, char *line, int lineno,
    routemap_resolve_fn *resolve, routemap_error_fn *err, void *arg)
{
	char key[SASL_USER_MAX + 2], why[320], *s = line, *user, *name, *more;
	const struct entry *e;
	enum routemap_match kind;
	int value;

	if ((user = field(&s)) == NULL || user[0] == '#')
		return 0;
	if ((name = field(&s)) == NULL) {
		map_error(err, arg, lineno,
		    "expected 'user backend': no backend after '%.300s'", user);
		return -1;
	}
	/* A comment may follow the route, after a blank. */
	if ((more = field(&s)) != NULL && more[0] != '#') {
		map_error(err, arg, lineno,
		    "expected 'user backend': '%.200s' after the backend "
		    "(one route a line)",
		    more);
		return -1;
	}
	if ((kind = user_form(user, key, why, sizeof(why))) == ROUTEMAP_NONE) {
		map_error(err, arg, lineno, "%s", why);
		return -1;
	}
	value = resolve(arg, name, lineno);
	if (value == -1) {
		map_error(err, arg, lineno, "unknown backend '%.200s'", name);
		return -1;
	}
	if (value < 0)
		return -1;
	if (kind == ROUTEMAP_ANY) {
		if (m->any_value != -1) {
			map_error(err, arg, lineno,
			    "'*' is listed twice (first at line %d)",
			    m->any_line);
			return -1;
		}
		m->any_value = value;
		m->any_line = lineno;
		return 0;
	}
	if ((e = map_find(m, key, strlen(key))) != NULL) {
		map_error(err, arg, lineno,
		    "'%s' is listed twice (first at line %d)", user, e->line);
		return -1;
	}
	return map_add(m, key, value, lineno) == -1 ? -2 : 0;
}

struct routemap *
routemap_parse(const char *buf, size_t len, routemap_resolve_fn *resolve,
    routemap_error_fn *err, void *arg)
{
	char line[ROUTEMAP_LINE_MAX + 1], why[128];
	const char *p = buf, *end = buf + len, *nl, *bad;
	struct routemap *m;
	bool failed = false;
	size_t n;
	int lineno = 0, rc;

	if ((m = calloc(1, sizeof(*m))) == NULL) {
		err(arg, 0, "out of memory");
		return NULL;
	}
	m->any_value = -1;
	for (; p < end; p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		n = (size_t)(nl - p);
		lineno++;
		if (n > 0 && p[n - 1] == '\r')
			n--;
		if (lineno == 1 && n >= 3 &&
		    memcmp(p, "\xEF\xBB\xBF", 3) == 0) {
			p += 3;
			n -= 3;
		}
		if (n > ROUTEMAP_LINE_MAX) {
			map_error(err, arg, lineno,
			    "line too long (at most %d characters)",
			    ROUTEMAP_LINE_MAX);
			failed = true;
			continue;
		}
		if ((bad = line_bytes(p, n, why, sizeof(why))) != NULL) {
			map_error(err, arg, lineno, "%s", bad);
			failed = true;
			continue;
		}
		memcpy(line, p, n);
		line[n] = '\0';
		if ((rc = parse_line(m, line, lineno, resolve, err, arg)) ==
		    -2) {
			err(arg, 0, "out of memory");
			failed = true;
			break;
		}
		if (rc == -1)
			failed = true;
	}
	if (failed) {
		routemap_free(m);
		return NULL;
	}
	return m;
}

struct routemap *
routemap_load(const char *path, routemap_resolve_fn *resolve,
    routemap_error_fn *err, void *arg)
{
	struct routemap *m = NULL;
	size_t len = 0, cap = 64 * 1024, got;
	char *buf, *v;
	FILE *fp;

	if ((fp = fopen(path, "re")) == NULL) {
		map_error(err, arg, 0, "cannot open: %s", strerror(errno));
		return NULL;
	}
	if ((buf = malloc(cap)) == NULL)
		goto oom;
	for (;;) {
		if (len == cap) {
			if (cap > ROUTEMAP_FILE_MAX) {
				map_error(err, arg, 0,
				    "larger than %u bytes: not a map file?",
				    ROUTEMAP_FILE_MAX);
				goto out;
			}
			if ((v = realloc(buf, 2 * cap)) == NULL)
				goto oom;
			buf = v;
			cap *= 2;
		}
		got = fread(buf + len, 1, cap - len, fp);
		len += got;
		if (got == 0)
			break;
	}
	if (ferror(fp)) {
		map_error(err, arg, 0, "read error: %s", strerror(errno));
		goto out;
	}
	if (len > ROUTEMAP_FILE_MAX) {
		map_error(err, arg, 0, "larger than %u bytes: not a map file?",
		    ROUTEMAP_FILE_MAX);
		goto out;
	}
	m = routemap_parse(buf, len, resolve, err, arg);
	goto out;
oom:
	err(arg, 0, "out of memory");
out:
	free(buf);
	fclose(fp);
	return m;
}

/* Writes s[0..len) in lower case to key (cap bytes); -1 if too long. */
static int
lower_key(char *key, size_t cap, const char *s, size_t len)
{
	size_t i;

	if (len + 1 > cap)
		return -1;
	for (i = 0; i < len; i++)
		key[i] = (char)tolower((unsigned char)s[i]);
	key[len] = '\0';
	return 0;
}

int
routemap_lookup(const struct routemap *m, const char *user,
    enum routemap_match *match, int *line)
{
	char key[SASL_USER_MAX + 3];
	const struct entry *e = NULL;
	enum routemap_match kind = ROUTEMAP_NONE;
	const char *bare, *at;
	size_t len;

	if (strpbrk(user, "@\\") != NULL &&
	    lower_key(key, sizeof(key), user, strlen(user)) == 0 &&
	    (e = map_find(m, key, strlen(key))) != NULL)
		kind = ROUTEMAP_USER;
	if (e == NULL) {
		bare = username_bare(user, &len);
		/* A user part with '@' or '\' is no bare entry's. */
		if (memchr(bare, '@', len) == NULL &&
		    memchr(bare, '\\', len) == NULL &&
		    lower_key(key, sizeof(key), bare, len) == 0 &&
		    (e = map_find(m, key, len)) != NULL)
			kind = ROUTEMAP_BARE;
	}
	/* DOMAIN\user names a Windows domain, not a mail domain. */
	if (e == NULL && strchr(user, '\\') == NULL &&
	    (at = strrchr(user, '@')) != NULL && at[1] != '\0' &&
	    lower_key(key, sizeof(key), at, strlen(at)) == 0 &&
	    (e = map_find(m, key, strlen(key))) != NULL)
		kind = ROUTEMAP_DOMAIN;
	if (e == NULL && m->any_value != -1) {
		if (match != NULL)
			*match = ROUTEMAP_ANY;
		if (line != NULL)
			*line = m->any_line;
		return m->any_value;
	}
	if (match != NULL)
		*match = kind;
	if (line != NULL)
		*line = e != NULL ? e->line : 0;
	return e != NULL ? e->value : -1;
}

size_t
routemap_count(const struct routemap *m)
{
	return m->n + (m->any_value != -1);
}

const char *
routemap_match_name(enum routemap_match match)
{
	switch (match) {
	case ROUTEMAP_USER:
		return "user";
	case ROUTEMAP_BARE:
		return "user-part";
	case ROUTEMAP_DOMAIN:
		return "domain";
	case ROUTEMAP_ANY:
		return "any";
	case ROUTEMAP_NONE:
		break;
	}
	return "default";
}

void
routemap_free(struct routemap *m)
{
	size_t i;

	if (m == NULL)
		return;
	for (i = 0; i < m->n; i++)
		free(m->v[i].key);
	free(m->v);
	free(m->slots);
	free(m);
}
