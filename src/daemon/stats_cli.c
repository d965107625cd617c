/*
 * stats_cli: "postern who" and "postern stats", for a person at a
 * terminal: ask the running daemon's stats server (HTTP/1.0 over TCP,
 * a small blocking client) and print its answer in aligned columns.
 *
 * What the server sends comes from clients (user names): every byte that
 * would move the terminal (control characters, escape sequences) is
 * printed as '?'.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conf.h"
#include "netaddr.h"
#include "stats.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif
#define CLI_DEFAULT_CONF SYSCONFDIR "/postern/postern.ini"
#define CLI_TIMEOUT_MS 5000
#define CLI_MAX_ANSWER (64u * 1024 * 1024)

/* Waits for fd to be ready for events; -1 on time-out or error. */
static int
cli_wait(int fd, short events)
{
	struct pollfd p = {.fd = fd, .events = events};
	int n;

	while ((n = poll(&p, 1, CLI_TIMEOUT_MS)) == -1 && errno == EINTR)
		;
	if (n == 0)
		errno = ETIMEDOUT;
	return n == 1 ? 0 : -1;
}

/*
 * GET path from the server of c; the answer's body in *body (free it).
 * Returns the HTTP status, or -1 after saying why on stderr.
 */
static int
cli_get(const struct conf *c, const char *path, char **body, size_t *blen)
{
	struct sockaddr_storage to = c->stats.addr;
	char addr[NETADDR_STRLEN], req[1024], *buf = NULL, *p;
	size_t len = 0, cap = 0;
	int fd, status, err;
	socklen_t elen = sizeof(err);
	ssize_t n;

	/* A wildcard listen address is reached on loopback. */
	if (to.ss_family == AF_INET &&
	    ((struct sockaddr_in *)&to)->sin_addr.s_addr == INADDR_ANY)
		((struct sockaddr_in *)&to)->sin_addr.s_addr =
		    htonl(INADDR_LOOPBACK);
	else if (to.ss_family == AF_INET6 &&
		 IN6_IS_ADDR_UNSPECIFIED(
		     &((struct sockaddr_in6 *)&to)->sin6_addr))
		((struct sockaddr_in6 *)&to)->sin6_addr = in6addr_loopback;
	netaddr_format((struct sockaddr *)&to, addr, sizeof(addr));
	snprintf(req, sizeof(req),
	    "GET %s HTTP/1.0\r\nHost: postern\r\n%s%s%sConnection: "
	    "close\r\n\r\n",
	    path, c->stats.token != NULL ? "Authorization: Bearer " : "",
	    c->stats.token != NULL ? c->stats.token : "",
	    c->stats.token != NULL ? "\r\n" : "");
	fd =
	    socket(to.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		goto fail;
	if (connect(fd, (struct sockaddr *)&to, c->stats.addrlen) == -1) {
		if (errno != EINPROGRESS || cli_wait(fd, POLLOUT) == -1)
			goto fail;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) == -1)
			goto fail;
		if (err != 0) {
			errno = err;
			goto fail;
		}
	}
	for (size_t off = 0, rlen = strlen(req); off < rlen;) {
		if (cli_wait(fd, POLLOUT) == -1)
			goto fail;
		if ((n = send(fd, req + off, rlen - off, MSG_NOSIGNAL)) == -1) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			goto fail;
		}
		off += (size_t)n;
	}
	for (;;) {
		if (len + 4096 + 1 > cap) {
			char *nb;

			if (cap >= CLI_MAX_ANSWER) {
				errno = EFBIG;
				goto fail;
			}
			cap = cap ? cap * 2 : 65536;
			if ((nb = realloc(buf, cap)) == NULL)
				goto fail;
			buf = nb;
		}
		if (cli_wait(fd, POLLIN) == -1)
			goto fail;
		if ((n = recv(fd, buf + len, cap - len - 1, 0)) == -1) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			goto fail;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1 ||
	    (p = strstr(buf, "\r\n\r\n")) == NULL) {
		fprintf(stderr,
		    "postern: %s: the stats server at %s sent no "
		    "HTTP answer\n",
		    c->path, addr);
		free(buf);
		return -1;
	}
	p += 4;
	*blen = len - (size_t)(p - buf);
	memmove(buf, p, *blen + 1);
	*body = buf;
	return status;
fail:
	fprintf(stderr,
	    "postern: %s: cannot ask the stats server at %s ([stats] "
	    "listen): %s; is postern running?\n",
	    c->path, addr, strerror(errno));
	if (fd != -1)
		close(fd);
	free(buf);
	return -1;
}

/* --- A JSON reader for the server's own answers --------------------- */

enum jtype { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };

struct jv {
	enum jtype type;
	char *str; /* J_STR, J_NUM (as written), J_BOOL */
	size_t n;
	char **keys;  /* J_OBJ */
	struct jv *v; /* J_ARR, J_OBJ */
};

static void
jv_free(struct jv *j)
{
	free(j->str);
	for (size_t i = 0; i < j->n; i++) {
		if (j->keys != NULL)
			free(j->keys[i]);
		jv_free(&j->v[i]);
	}
	free(j->keys);
	free(j->v);
}

static void
skip_ws(const char **p)
{
	while (**p == ' ' || **p == '\n' || **p == '\r' || **p == '\t')
		(*p)++;
}

static void
put_utf8(char *o, size_t *n, unsigned long cp)
{
	if (cp < 0x80)
		o[(*n)++] = (char)cp;
	else if (cp < 0x800) {
		o[(*n)++] = (char)(0xc0 | (cp >> 6));
		o[(*n)++] = (char)(0x80 | (cp & 0x3f));
	} else if (cp < 0x10000) {
		o[(*n)++] = (char)(0xe0 | (cp >> 12));
		o[(*n)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
		o[(*n)++] = (char)(0x80 | (cp & 0x3f));
	} else {
		o[(*n)++] = (char)(0xf0 | (cp >> 18));
		o[(*n)++] = (char)(0x80 | ((cp >> 12) & 0x3f));
		o[(*n)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
		o[(*n)++] = (char)(0x80 | (cp & 0x3f));
	}
}

static int
hex4(const char *p, unsigned long *v)
{
	char buf[5], *end;

	memcpy(buf, p, 4);
	buf[4] = '\0';
	if (strspn(buf, "0123456789abcdefABCDEF") != 4)
		return -1;
	*v = strtoul(buf, &end, 16);
	return 0;
}

static char *
parse_str(const char **p)
{
	const char *s = *p + 1;
	size_t cap = strlen(s) + 1, n = 0;
	char *o = malloc(cap);
	unsigned long cp, lo;

	if (o == NULL)
		return NULL;
	while (*s != '"') {
		if (*s == '\0')
			goto bad;
		if (*s != '\\') {
			o[n++] = *s++;
			continue;
		}
		s++;
		switch (*s) {
		case '"':
		case '\\':
		case '/':
			o[n++] = *s++;
			continue;
		case 'n':
			o[n++] = '\n';
			s++;
			continue;
		case 'r':
			o[n++] = '\r';
			s++;
			continue;
		case 't':
			o[n++] = '\t';
			s++;
			continue;
		case 'b':
			o[n++] = '\b';
			s++;
			continue;
		case 'f':
			o[n++] = '\f';
			s++;
			continue;
		case 'u':
			if (hex4(s + 1, &cp) == -1)
				goto bad;
			s += 5;
			if (cp >= 0xd800 && cp < 0xdc00 && s[0] == '\\' &&
			    s[1] == 'u' && hex4(s + 2, &lo) == 0 &&
			    lo >= 0xdc00 && lo < 0xe000) {
				cp = 0x10000 + ((cp - 0xd800) << 10) +
				     (lo - 0xdc00);
				s += 6;
			}
			put_utf8(o, &n, cp);
			continue;
		default:
			goto bad;
		}
	}
	o[n] = '\0';
	*p = s + 1;
	return o;
bad:
	free(o);
	return NULL;
}

static int parse_value(const char **p, struct jv *j, int depth);

static int
parse_items(const char **p, struct jv *j, bool obj, int depth)
{
	char close = obj ? '}' : ']';

	(*p)++;
	skip_ws(p);
	if (**p == close) {
		(*p)++;
		return 0;
	}
	for (;;) {
		struct jv *nv = realloc(j->v, (j->n + 1) * sizeof(*nv));

		if (nv == NULL)
			return -1;
		j->v = nv;
		memset(&j->v[j->n], 0, sizeof(j->v[0]));
		if (obj) {
			char **nk = realloc(j->keys, (j->n + 1) * sizeof(*nk));

			if (nk == NULL)
				return -1;
			j->keys = nk;
			j->keys[j->n] = NULL;
			skip_ws(p);
			if (**p != '"' ||
			    (j->keys[j->n] = parse_str(p)) == NULL)
				goto grown;
			skip_ws(p);
			if (**p != ':')
				goto grown;
			(*p)++;
		}
		if (parse_value(p, &j->v[j->n], depth + 1) == -1)
			goto grown;
		j->n++;
		skip_ws(p);
		if (**p == ',') {
			(*p)++;
			continue;
		}
		if (**p != close)
			return -1;
		(*p)++;
		return 0;
	}
grown:
	/* The item being read is freed with the rest. */
	j->n++;
	return -1;
}

static int
parse_value(const char **p, struct jv *j, int depth)
{
	size_t n;

	if (depth > 16)
		return -1;
	skip_ws(p);
	switch (**p) {
	case '{':
		j->type = J_OBJ;
		return parse_items(p, j, true, depth);
	case '[':
		j->type = J_ARR;
		return parse_items(p, j, false, depth);
	case '"':
		j->type = J_STR;
		return (j->str = parse_str(p)) == NULL ? -1 : 0;
	case 'n':
		if (strncmp(*p, "null", 4) != 0)
			return -1;
		*p += 4;
		j->type = J_NULL;
		return 0;
	case 't':
	case 'f':
		n = **p == 't' ? 4 : 5;
		if (strncmp(*p, n == 4 ? "true" : "false", n) != 0)
			return -1;
		j->type = J_BOOL;
		j->str = strndup(*p, n);
		*p += n;
		return j->str == NULL ? -1 : 0;
	default:
		n = strspn(*p, "-+0123456789.eE");
		if (n == 0)
			return -1;
		j->type = J_NUM;
		j->str = strndup(*p, n);
		*p += n;
		return j->str == NULL ? -1 : 0;
	}
}

static const struct jv *
jv_get(const struct jv *o, const char *key)
{
	if (o->type != J_OBJ)
		return NULL;
	for (size_t i = 0; i < o->n; i++)
		if (strcmp(o->keys[i], key) == 0)
			return &o->v[i];
	return NULL;
}

/* --- Columns --------------------------------------------------------- */

struct table {
	size_t ncols, nrows;
	char **cell; /* nrows * ncols, row 0 the header */
};

/* A copy of s safe for a terminal: control bytes as '?'. */
static char *
printable(const char *s)
{
	char *o = strdup(s != NULL ? s : "-");

	for (char *p = o; p != NULL && *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return o;
}

/* Characters on the screen: UTF-8 continuation bytes take no room. */
static size_t
width(const char *s)
{
	size_t w = 0;

	for (; *s != '\0'; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			w++;
	return w;
}

static int
table_add(struct table *t, const char *const *cells)
{
	char **nc = realloc(t->cell, (t->nrows + 1) * t->ncols * sizeof(*nc));

	if (nc == NULL)
		return -1;
	t->cell = nc;
	for (size_t i = 0; i < t->ncols; i++)
		if ((nc[t->nrows * t->ncols + i] = printable(cells[i])) == NULL)
			return -1;
	t->nrows++;
	return 0;
}

/* Prints the table; columns flagged in right are right-aligned. */
static void
table_print(struct table *t, const bool *right)
{
	size_t *w = calloc(t->ncols, sizeof(*w));

	if (w == NULL)
		return;
	for (size_t r = 0; r < t->nrows; r++)
		for (size_t c = 0; c < t->ncols; c++) {
			size_t cw = width(t->cell[r * t->ncols + c]);

			if (cw > w[c])
				w[c] = cw;
		}
	for (size_t r = 0; r < t->nrows; r++) {
		for (size_t c = 0; c < t->ncols; c++) {
			const char *s = t->cell[r * t->ncols + c];
			size_t pad = w[c] - width(s);
			bool last = c + 1 == t->ncols;

			if (right[c])
				printf("%*s%s", (int)pad, "", s);
			else
				printf("%s%*s", s, last ? 0 : (int)pad, "");
			if (!last)
				printf("  ");
		}
		printf("\n");
	}
	free(w);
}

static void
table_free(struct table *t)
{
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cell[i]);
	free(t->cell);
}

static const char *
jv_text(const struct jv *o, const char *key)
{
	const struct jv *v = jv_get(o, key);

	return v != NULL && v->str != NULL ? v->str : "-";
}

static int
cli_who(const struct conf *c, const char *body)
{
	static const char *const head[] = {"USER", "CLIENT", "PROTO", "TLS",
	    "BACKEND", "STATE", "STARTED", "IN", "OUT"};
	static const bool right[] = {false, false, false, false, false, false,
	    false, true, true};
	struct table t = {.ncols = 9};
	struct jv root = {0};
	const struct jv *list, *missing;
	const char *p = body;
	int rc = 0;

	if (parse_value(&p, &root, 0) == -1 ||
	    (list = jv_get(&root, "sessions")) == NULL || list->type != J_ARR) {
		fprintf(stderr,
		    "postern: %s: the stats server's /sessions "
		    "answer cannot be read\n",
		    c->path);
		jv_free(&root);
		return 1;
	}
	table_add(&t, head);
	for (size_t i = 0; i < list->n; i++) {
		const struct jv *s = &list->v[i];
		char started[32];
		const char *row[9];

		/* "2026-12-07T04:10:00Z" as "2026-12-07 04:10:00". */
		snprintf(started, sizeof(started), "%s", jv_text(s, "started"));
		if (strlen(started) == 20) {
			started[10] = ' ';
			started[19] = '\0';
		}
		row[0] = jv_text(s, "user");
		row[1] = jv_text(s, "client");
		row[2] = jv_text(s, "protocol");
		row[3] = jv_text(s, "tls");
		row[4] = jv_text(s, "backend");
		row[5] = jv_text(s, "state");
		row[6] = started;
		row[7] = jv_text(s, "bytes_in");
		row[8] = jv_text(s, "bytes_out");
		if (table_add(&t, row) == -1) {
			fprintf(stderr, "postern: out of memory\n");
			rc = 1;
			break;
		}
	}
	table_print(&t, right);
	printf("%zu session%s\n", list->n, list->n == 1 ? "" : "s");
	missing = jv_get(&root, "workers_not_answering");
	if (missing != NULL && missing->type == J_ARR && missing->n > 0) {
		fprintf(stderr,
		    "postern: %zu worker%s did not answer: the list is "
		    "incomplete\n",
		    missing->n, missing->n == 1 ? "" : "s");
		rc = 1;
	}
	table_free(&t);
	jv_free(&root);
	return rc;
}

/* The text format's samples as rows: metric, labels, value. */
static int
cli_stats(const struct conf *c, char *body)
{
	static const char *const head[] = {"METRIC", "LABELS", "VALUE"};
	static const bool right[] = {false, false, true};
	struct table t = {.ncols = 3};
	char *line, *save = NULL;

	(void)c;
	table_add(&t, head);
	for (line = strtok_r(body, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		char *brace, *sp, *name = line, *labels = "", *value;
		const char *row[3];

		if (line[0] == '#' || line[0] == '\0')
			continue;
		if ((sp = strrchr(line, ' ')) == NULL)
			continue;
		*sp = '\0';
		value = sp + 1;
		if ((brace = strchr(line, '{')) != NULL) {
			*brace = '\0';
			labels = brace + 1;
			if (labels[0] != '\0' &&
			    labels[strlen(labels) - 1] == '}')
				labels[strlen(labels) - 1] = '\0';
		}
		/* The buckets are for graphs; a person reads sum and count. */
		if (strlen(name) > 7 &&
		    strcmp(name + strlen(name) - 7, "_bucket") == 0)
			continue;
		row[0] = name;
		row[1] = labels;
		row[2] = value;
		if (table_add(&t, row) == -1) {
			fprintf(stderr, "postern: out of memory\n");
			table_free(&t);
			return 1;
		}
	}
	table_print(&t, right);
	table_free(&t);
	return 0;
}

static int
cli_usage(const char *cmd)
{
	fprintf(stderr, "usage: postern %s [-c FILE]\n", cmd);
	return 2;
}

int
stats_cli_main(int argc, char *argv[])
{
	const char *path = CLI_DEFAULT_CONF, *cmd = argv[0];
	bool who = strcmp(cmd, "who") == 0;
	struct conf *c;
	char *body = NULL;
	size_t blen = 0;
	int i, status, rc;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
			path = argv[++i];
		else
			return cli_usage(cmd);
	}
	if ((c = conf_load(path, stderr)) == NULL)
		return 1;
	if (c->stats.listen == NULL) {
		fprintf(stderr,
		    "postern: %s: [stats] listen is not set: the daemon "
		    "serves no statistics to ask\n",
		    path);
		conf_unref(c);
		return 1;
	}
	status = cli_get(c, who ? "/sessions" : "/metrics", &body, &blen);
	if (status == -1) {
		conf_unref(c);
		return 1;
	}
	if (status != 200) {
		fprintf(stderr,
		    "postern: %s: the stats server at %s answered %d%s\n", path,
		    c->stats.listen, status,
		    status == 401 ? " (the token of [stats] token_file is not "
				    "the daemon's?)" :
		    status == 403 ? " (this address is not in [stats] "
				    "allowed_ips)" :
				    "");
		free(body);
		conf_unref(c);
		return 1;
	}
	rc = who ? cli_who(c, body) : cli_stats(c, body);
	free(body);
	conf_unref(c);
	return rc;
}
