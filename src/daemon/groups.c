/*
 * groups: group lists and the groups file; the lookup service that reads
 * them is in groups_service.c.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "groups.h"
#include "username.h"

/* Longest group name or DN kept from any source. */
#define GROUP_NAME_MAX 1024

int
group_list_add(struct group_list *gl, const char *name)
{
	char **v, *s;

	if (gl->n == gl->cap) {
		size_t cap = gl->cap ? 2 * gl->cap : 8;

		if ((v = reallocarray(gl->v, cap, sizeof(*v))) == NULL)
			return -1;
		gl->v = v;
		gl->cap = cap;
	}
	if ((s = strdup(name)) == NULL)
		return -1;
	gl->v[gl->n++] = s;
	return 0;
}

void
group_list_clear(struct group_list *gl)
{
	size_t i;

	for (i = 0; i < gl->n; i++)
		free(gl->v[i]);
	free(gl->v);
	gl->v = NULL;
	gl->n = gl->cap = 0;
	free(gl->route);
	gl->route = NULL;
	gl->route_kind = GROUP_ROUTE_NONE;
}

/* Makes gl's route bad for the reason why (a constant text). */
static int
route_bad(struct group_list *gl, const char *why)
{
	char *s;

	if ((s = strdup(why)) == NULL)
		return -1;
	free(gl->route);
	gl->route = s;
	gl->route_kind = GROUP_ROUTE_BAD;
	return 0;
}

int
group_list_route_add(struct group_list *gl, const char *v, size_t len)
{
	size_t i;
	char *s;

	if (gl->route_kind == GROUP_ROUTE_BAD)
		return 0;
	if (len == 0)
		return route_bad(gl, "an empty value");
	if (len > GROUP_ROUTE_MAX)
		return route_bad(gl, "a value longer than 256 bytes");
	_Static_assert(GROUP_ROUTE_MAX == 256, "the text above says 256");
	for (i = 0; i < len; i++)
		if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
			return route_bad(gl,
			    "a value with control bytes (binary data?)");
	if (gl->route_kind == GROUP_ROUTE_VALUE) {
		if (strlen(gl->route) == len &&
		    strncasecmp(gl->route, v, len) == 0)
			return 0;
		return route_bad(gl, "several different values");
	}
	if ((s = strndup(v, len)) == NULL)
		return -1;
	gl->route = s;
	gl->route_kind = GROUP_ROUTE_VALUE;
	return 0;
}

int
group_list_route_copy(struct group_list *dst, const struct group_list *src)
{
	char *s = NULL;

	if (src->route != NULL && (s = strdup(src->route)) == NULL)
		return -1;
	free(dst->route);
	dst->route = s;
	dst->route_kind = src->route_kind;
	return 0;
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int
groups_dn_cn(const char *dn, char *buf, size_t len)
{
	const char *p = dn;
	size_t n = 0;
	int hi, lo;

	while (*p == ' ')
		p++;
	if (strncasecmp(p, "cn", 2) != 0)
		return -1;
	p += 2;
	while (*p == ' ')
		p++;
	if (*p++ != '=')
		return -1;
	while (*p == ' ')
		p++;
	/* RFC 4514 section 2.4: '\' escapes a special character or gives
	 * two hex digits; an unescaped ',' or '+' ends the value. */
	for (; *p != '\0' && *p != ',' && *p != '+'; p++) {
		char ch = *p;

		if (ch == '\\') {
			if (p[1] == '\0')
				return -1;
			if ((hi = hexval((unsigned char)p[1])) >= 0 &&
			    (lo = hexval((unsigned char)p[2])) >= 0) {
				ch = (char)(hi << 4 | lo);
				p += 2;
			} else
				ch = *++p;
		}
		if (n + 1 >= len)
			return -1;
		buf[n++] = ch;
	}
	while (n > 0 && buf[n - 1] == ' ' && (n < 2 || buf[n - 2] != '\\'))
		n--;
	buf[n] = '\0';
	return n == 0 ? -1 : 0;
}

bool
group_list_has(const struct group_list *gl, const char *name)
{
	char cn[GROUP_NAME_MAX];
	size_t i;

	for (i = 0; i < gl->n; i++) {
		if (strcasecmp(gl->v[i], name) == 0)
			return true;
		if (groups_dn_cn(gl->v[i], cn, sizeof(cn)) == 0 &&
		    strcasecmp(cn, name) == 0)
			return true;
	}
	return false;
}

/* Appends s[0..n) escaped per RFC 4515 section 3. */
static int
filter_escape(const char *s, size_t n, char *buf, size_t len, size_t *at)
{
	static const char hex[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '*' || ch == '(' || ch == ')' || ch == '\\' ||
		    ch == '\0') {
			if (*at + 3 >= len)
				return -1;
			buf[(*at)++] = '\\';
			buf[(*at)++] = hex[ch >> 4];
			buf[(*at)++] = hex[ch & 0xf];
		} else {
			if (*at + 1 >= len)
				return -1;
			buf[(*at)++] = (char)ch;
		}
	}
	return 0;
}

int
groups_ldap_filter(const char *filter, const char *user, char *buf, size_t len)
{
	const char *bare;
	size_t at = 0, blen;
	int rc;

	if (len == 0)
		return -1;
	bare = username_bare(user, &blen);
	for (; *filter != '\0'; filter++) {
		if (*filter != '%') {
			if (at + 1 >= len)
				return -1;
			buf[at++] = *filter;
			continue;
		}
		switch (*++filter) {
		case 'u':
			rc = filter_escape(bare, blen, buf, len, &at);
			break;
		case 'U':
			rc = filter_escape(user, strlen(user), buf, len, &at);
			break;
		case '%':
			rc = at + 1 >= len ? -1 : (buf[at++] = '%', 0);
			break;
		default:
			rc = -1;
		}
		if (rc == -1)
			return -1;
	}
	buf[at] = '\0';
	return 0;
}

/*
 * The groups file, parsed: group names, and a sorted index of members.
 * A member without '@' or '\' is indexed by itself and matched against a
 * login's user part; one with is matched against the whole login name.
 */
struct member {
	char *name; /* lower case */
	size_t group;
};

struct groups_file {
	char **groups; /* as first written */
	size_t ngroups, capgroups;
	struct member *members;
	size_t nmembers, capmembers;
};

void
groups_lower(char *s)
{
	for (; *s != '\0'; s++)
		*s = (char)tolower((unsigned char)*s);
}

static char *
trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
		*--e = '\0';
	return s;
}

static void gf_error(groups_file_error_fn *, void *, int, const char *, ...)
    __attribute__((format(printf, 4, 5)));

static void
gf_error(groups_file_error_fn *err, void *arg, int line, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	err(arg, line, msg);
}

/* The index of group name, added if new; (size_t)-1 when out of memory. */
static size_t
gf_group(struct groups_file *gf, const char *name)
{
	char **v;
	size_t i;

	for (i = 0; i < gf->ngroups; i++)
		if (strcasecmp(gf->groups[i], name) == 0)
			return i;
	if (gf->ngroups == gf->capgroups) {
		size_t cap = gf->capgroups ? 2 * gf->capgroups : 16;

		if ((v = reallocarray(gf->groups, cap, sizeof(*v))) == NULL)
			return (size_t)-1;
		gf->groups = v;
		gf->capgroups = cap;
	}
	if ((gf->groups[gf->ngroups] = strdup(name)) == NULL)
		return (size_t)-1;
	return gf->ngroups++;
}

static int
gf_member(struct groups_file *gf, const char *name, size_t group)
{
	struct member *v;

	if (gf->nmembers == gf->capmembers) {
		size_t cap = gf->capmembers ? 2 * gf->capmembers : 64;

		if ((v = reallocarray(gf->members, cap, sizeof(*v))) == NULL)
			return -1;
		gf->members = v;
		gf->capmembers = cap;
	}
	if ((gf->members[gf->nmembers].name = strdup(name)) == NULL)
		return -1;
	groups_lower(gf->members[gf->nmembers].name);
	gf->members[gf->nmembers++].group = group;
	return 0;
}

static int
member_cmp(const void *a, const void *b)
{
	const struct member *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c != 0)
		return c;
	return x->group < y->group ? -1 : x->group > y->group;
}

static bool
valid_member(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= ' ' || *s == 0x7f || *s == '*' ||
		    *s == ':')
			return false;
	return true;
}

/* Adds the comma-separated members of list to group; -1 on errors. */
static int
gf_members(struct groups_file *gf, char *list, size_t group, int line,
    groups_file_error_fn *err, void *arg, bool *oom)
{
	char *item, *save = NULL;
	int rc = 0;

	for (item = strtok_r(list, ",", &save); item != NULL;
	     item = strtok_r(NULL, ",", &save)) {
		item = trim(item);
		if (*item == '\0')
			continue;
		if (!valid_member(item)) {
			gf_error(err, arg, line,
			    "'%s' is not a user name (no blanks, '*' or ':')",
			    item);
			rc = -1;
			continue;
		}
		if (gf_member(gf, item, group) == -1) {
			*oom = true;
			return -1;
		}
	}
	return rc;
}

struct groups_file *
groups_file_load(const char *path, groups_file_error_fn *err, void *arg)
{
	struct groups_file *gf;
	char *buf = NULL, *line, *colon, *name;
	size_t cap = 0, i, n, group = (size_t)-1;
	bool failed = false, oom = false;
	ssize_t len;
	int lineno = 0;
	FILE *fp;

	if ((fp = fopen(path, "re")) == NULL) {
		gf_error(err, arg, 0, "cannot open: %s", strerror(errno));
		return NULL;
	}
	if ((gf = calloc(1, sizeof(*gf))) == NULL) {
		fclose(fp);
		err(arg, 0, "out of memory");
		return NULL;
	}
	while (!oom && (len = getline(&buf, &cap, fp)) != -1) {
		lineno++;
		if (memchr(buf, '\0', (size_t)len) != NULL) {
			gf_error(err, arg, lineno, "NUL byte in line");
			failed = true;
			continue;
		}
		buf[strcspn(buf, "\r\n")] = '\0';
		line = buf;
		if (lineno == 1 && strncmp(line, "\xEF\xBB\xBF", 3) == 0)
			line += 3;
		if (*trim(line) == '\0' || *trim(line) == '#' ||
		    *trim(line) == ';')
			continue;
		if (*line == ' ' || *line == '\t') {
			/* A continuation of the previous member list. */
			if (group == (size_t)-1) {
				gf_error(err, arg, lineno,
				    "indented line without a group line "
				    "before it");
				failed = true;
				continue;
			}
			if (gf_members(gf, line, group, lineno, err, arg,
				&oom) == -1)
				failed = true;
			continue;
		}
		group = (size_t)-1;
		if ((colon = strchr(line, ':')) == NULL) {
			gf_error(err, arg, lineno,
			    "expected 'Group Name: user, user, ...'");
			failed = true;
			continue;
		}
		*colon = '\0';
		name = trim(line);
		if (*name == '\0') {
			gf_error(err, arg, lineno,
			    "missing group name before ':'");
			failed = true;
			continue;
		}
		if (strlen(name) >= GROUP_NAME_MAX) {
			gf_error(err, arg, lineno, "group name is too long");
			failed = true;
			continue;
		}
		if ((group = gf_group(gf, name)) == (size_t)-1) {
			oom = true;
			break;
		}
		if (gf_members(gf, colon + 1, group, lineno, err, arg, &oom) ==
		    -1)
			failed = true;
	}
	if (ferror(fp)) {
		gf_error(err, arg, 0, "read error: %s", strerror(errno));
		failed = true;
	}
	fclose(fp);
	free(buf);
	if (oom) {
		err(arg, 0, "out of memory");
		failed = true;
	}
	if (failed) {
		groups_file_free(gf);
		return NULL;
	}
	qsort(gf->members, gf->nmembers, sizeof(*gf->members), member_cmp);
	/* Drop repeated (member, group) pairs. */
	for (n = 0, i = 0; i < gf->nmembers; i++) {
		if (n > 0 &&
		    member_cmp(&gf->members[n - 1], &gf->members[i]) == 0) {
			free(gf->members[i].name);
			continue;
		}
		gf->members[n++] = gf->members[i];
	}
	gf->nmembers = n;
	return gf;
}

bool
groups_file_has_group(const struct groups_file *gf, const char *name)
{
	size_t i;

	for (i = 0; i < gf->ngroups; i++)
		if (strcasecmp(gf->groups[i], name) == 0)
			return true;
	return false;
}

size_t
groups_file_count(const struct groups_file *gf)
{
	return gf->ngroups;
}

/* Appends the groups of the member called key (lower case). */
static int
gf_find(const struct groups_file *gf, const char *key, struct group_list *out)
{
	size_t lo = 0, hi = gf->nmembers, i;

	/* The first entry not below key. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(gf->members[mid].name, key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (i = lo; i < gf->nmembers && strcmp(gf->members[i].name, key) == 0;
	     i++) {
		const char *g = gf->groups[gf->members[i].group];

		if (!group_list_has(out, g) && group_list_add(out, g) == -1)
			return -1;
	}
	return 0;
}

int
groups_file_lookup(const struct groups_file *gf, const char *user,
    struct group_list *out)
{
	char key[512];
	const char *bare;
	size_t len;

	/* Members with '@' or '\' stand for the whole login name. */
	if (strpbrk(user, "@\\") != NULL &&
	    snprintf(key, sizeof(key), "%s", user) < (int)sizeof(key)) {
		groups_lower(key);
		if (gf_find(gf, key, out) == -1)
			return -1;
	}
	bare = username_bare(user, &len);
	if (len >= sizeof(key))
		return 0;
	memcpy(key, bare, len);
	key[len] = '\0';
	groups_lower(key);
	return gf_find(gf, key, out);
}

void
groups_file_free(struct groups_file *gf)
{
	size_t i;

	if (gf == NULL)
		return;
	for (i = 0; i < gf->ngroups; i++)
		free(gf->groups[i]);
	for (i = 0; i < gf->nmembers; i++)
		free(gf->members[i].name);
	free(gf->groups);
	free(gf->members);
	free(gf);
}
