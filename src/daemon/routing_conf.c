/*
 * routing_conf: the [backend "<name>"] sections, the [routing] section
 * with its map file, and what the protocols' backend key names.
 *
 * A protocol's backend key names either a [backend "<name>"] section or,
 * as before there were names, one server as host[:port]; that one
 * becomes the protocol's implicit backend, "default", with the
 * protocol's backend_tls, backend_ca_file, backend_server_name,
 * backend_verify and backend_timeout, so that every earlier
 * configuration file still means what it meant.
 */
#include "config.h"

#include <arpa/inet.h>
#include <openssl/ssl.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conf.h"
#include "conf_table.h"
#include "groups.h"
#include "proto.h"
#include "routemap.h"
#include "routing.h"

#define LIMIT_MAX 1000000
/* The implicit backend's: as long as the whole login may take. */
#define DOWN_TIME_DEFAULT (10 * CONF_SEC_MS)
#define CONNECT_TIMEOUT_DEFAULT (10 * CONF_SEC_MS)
/* Room for a host name and a port, written as "[host]:port". */
#define HOSTPORT_MAX 300

static const struct conf_enum tls_modes[] = {{"none", BACKEND_TLS_NONE},
    {"starttls", BACKEND_TLS_STARTTLS}, {"implicit", BACKEND_TLS_IMPLICIT},
    {NULL, 0}};

/* The routing settings of the file being read. */
static struct routing_conf *
routing_of(struct conf_loader *l)
{
	return &conf_loader_conf(l)->routing;
}

/* While a file is read: which backends lack a protocol, told once. */
struct routing_load {
	bool *told; /* [named index * PROTO_COUNT + protocol] */
	size_t ntold;
};

/*
 * One "host", "host:port" or "[IPv6]:port" into a, the port defaulting
 * to proto's backend port.  Writes why not to err.
 */
static int
parse_hostport(const char *s, const char *defport, struct backend_addr *a,
    char *err, size_t errlen)
{
	char host[256], pbuf[8];
	const char *port = NULL, *end, *colon;
	struct in6_addr a6;
	unsigned portnum;
	size_t hlen;

	if (s[0] == '[') {
		if ((end = strchr(s, ']')) == NULL) {
			snprintf(err, errlen, "'%s': missing ']'", s);
			return -1;
		}
		if (end[1] == ':')
			port = end + 2;
		else if (end[1] != '\0') {
			snprintf(err, errlen,
			    "'%s': expected ':port' after ']'", s);
			return -1;
		}
		hlen = (size_t)(end - s - 1);
		if (hlen >= sizeof(host) ||
		    (memcpy(host, s + 1, hlen), host[hlen] = '\0',
			inet_pton(AF_INET6, host, &a6) != 1)) {
			snprintf(err, errlen, "'%s': not an IPv6 address", s);
			return -1;
		}
	} else {
		colon = strchr(s, ':');
		if (colon != NULL && strchr(colon + 1, ':') != NULL) {
			snprintf(err, errlen,
			    "'%s': an IPv6 address needs brackets, as in "
			    "[2001:db8::1]:143",
			    s);
			return -1;
		}
		hlen = colon ? (size_t)(colon - s) : strlen(s);
		if (hlen >= sizeof(host)) {
			snprintf(err, errlen, "'%.40s...': host name too long",
			    s);
			return -1;
		}
		memcpy(host, s, hlen);
		host[hlen] = '\0';
		if (!conf_valid_hostname(host)) {
			snprintf(err, errlen,
			    "'%s' is not host, host:port or [IPv6]:port", s);
			return -1;
		}
		if (colon != NULL)
			port = colon + 1;
	}
	if (port != NULL) {
		if (conf_parse_port(port, &portnum) == -1) {
			snprintf(err, errlen, "'%s': port must be 1-65535", s);
			return -1;
		}
		snprintf(pbuf, sizeof(pbuf), "%u", portnum);
		port = pbuf;
	} else
		port = defport;
	memset(a, 0, sizeof(*a));
	if ((a->host = strdup(host)) == NULL ||
	    (a->port = strdup(port)) == NULL) {
		free(a->host);
		a->host = NULL;
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

static void
addr_free(struct backend_addr *a)
{
	free(a->host);
	free(a->port);
}

/*
 * pop3 = / imap = of a [backend "<name>"]: addresses separated by blanks
 * or commas, appended to the protocol's pool (dst).
 */
static int
p_addrs(struct conf_loader *l, const struct conf_key *k, const char *v,
    void *dst)
{
	struct backend_pool *pool = dst;
	const struct proto *d = NULL;
	struct backend_addr a, *nv;
	char item[HOSTPORT_MAX], err[HOSTPORT_MAX + 80];
	const char *p = v, *e;
	size_t len, i;
	int rc = 0;

	for (i = 0; i < PROTO_COUNT; i++)
		if (strcmp(proto_get((enum proto_id)i)->section, k->name) == 0)
			d = proto_get((enum proto_id)i);
	for (;;) {
		p += strspn(p, " \t,");
		if (*p == '\0')
			break;
		len = strcspn(p, " \t,");
		e = p + len;
		if (len >= sizeof(item)) {
			conf_key_error(l, k, "'%.40s...' is too long", p);
			rc = -1;
			p = e;
			continue;
		}
		memcpy(item, p, len);
		item[len] = '\0';
		p = e;
		if (parse_hostport(item, d->default_backend_port, &a, err,
			sizeof(err)) == -1) {
			conf_key_error(l, k, "%s", err);
			rc = -1;
			continue;
		}
		a.line = conf_lineno(l);
		for (i = 0; i < pool->n; i++) {
			if (strcasecmp(pool->v[i].host, a.host) == 0 &&
			    strcmp(pool->v[i].port, a.port) == 0)
				break;
		}
		if (i < pool->n) {
			conf_key_error(l, k,
			    "'%s' is listed twice (first at line %d)", item,
			    pool->v[i].line);
			addr_free(&a);
			rc = -1;
			continue;
		}
		if ((nv = reallocarray(pool->v, pool->n + 1, sizeof(*nv))) ==
		    NULL) {
			addr_free(&a);
			conf_oom(l);
			return -1;
		}
		pool->v = nv;
		pool->v[pool->n++] = a;
	}
	return rc;
}

/* Letters, digits, '-', '_' and '.': a name that needs no quoting. */
static bool
valid_name(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > BACKEND_NAME_MAX)
		return false;
	for (i = 0; i < len; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-' &&
		    s[i] != '_' && s[i] != '.')
			return false;
	return true;
}

static void
backend_free(struct backend *b)
{
	size_t i, p;

	if (b == NULL)
		return;
	for (p = 0; p < PROTO_COUNT; p++) {
		for (i = 0; i < b->pool[p].n; i++)
			addr_free(&b->pool[p].v[i]);
		free(b->pool[p].v);
	}
	free(b->name);
	free(b->ca_file);
	free(b->server_name);
	SSL_CTX_free(b->ssl_ctx);
	free(b);
}

static struct backend *
backend_new(struct conf_loader *l, const char *name, size_t len)
{
	struct backend *b;

	if ((b = calloc(1, sizeof(*b))) == NULL ||
	    (b->name = strndup(name, len)) == NULL) {
		free(b);
		conf_oom(l);
		return NULL;
	}
	b->tls = BACKEND_TLS_NONE;
	b->verify = true;
	b->tls_session_cache = true;
	b->connect_timeout_ms = CONNECT_TIMEOUT_DEFAULT;
	b->down_time_ms = DOWN_TIME_DEFAULT;
	atomic_init(&b->sessions, 0);
	return b;
}

/* A [backend "<name>"] header; rest is what follows "backend". */
static int
backend_open(struct conf_loader *l, const char *rest, char *label, size_t size)
{
	struct routing_conf *rc = routing_of(l);
	struct backend **v, *b;
	const char *p;
	size_t len, i;

	if ((p = conf_section_label(l, rest, "backend", "name", &len)) == NULL)
		return -1;
	if (!valid_name(p, len)) {
		conf_error(l, conf_lineno(l),
		    "[backend \"%.*s\"]: a backend name has 1-%d letters, "
		    "digits, '-', '_' or '.'",
		    (int)(len > 80 ? 80 : len), p, BACKEND_NAME_MAX);
		return -1;
	}
	if (len == strlen(BACKEND_DEFAULT_NAME) &&
	    strncasecmp(p, BACKEND_DEFAULT_NAME, len) == 0) {
		conf_error(l, conf_lineno(l),
		    "[backend \"%.*s\"]: the name '%s' is the protocols' own "
		    "backend = host:port; choose another",
		    (int)len, p, BACKEND_DEFAULT_NAME);
		return -1;
	}
	for (i = 0; i < rc->nnamed; i++) {
		if (strlen(rc->named[i]->name) == len &&
		    strncasecmp(rc->named[i]->name, p, len) == 0) {
			conf_error(l, conf_lineno(l),
			    "duplicate section [backend \"%.*s\"] (first at "
			    "line %d)",
			    (int)len, p, rc->named[i]->line);
			return -1;
		}
	}
	if ((v = reallocarray(rc->named, rc->nnamed + 1, sizeof(*v))) == NULL) {
		conf_oom(l);
		return -1;
	}
	rc->named = v;
	if ((b = backend_new(l, p, len)) == NULL)
		return -1;
	b->line = conf_lineno(l);
	rc->named[rc->nnamed] = b;
	snprintf(label, size, "backend \"%s\"", b->name);
	return (int)rc->nnamed++;
}

/*
 * The protocol rows come first and take their names from the descriptors
 * (routing_defaults()), so that a new protocol needs no row here.
 */
#define BO(f) offsetof(struct backend, f)

static struct conf_key backend_keys[] = {
    {NULL, p_addrs, 0, 0, 0, CONF_LIST, NULL},
    {NULL, p_addrs, 0, 0, 0, CONF_LIST, NULL},
    {"tls", conf_key_enum, BO(tls), 0, 0, 0, tls_modes},
    {"ca_file", conf_key_cafile, BO(ca_file), 0, 0, 0, NULL},
    {"verify", conf_key_bool, BO(verify), 0, 0, 0, NULL},
    {"server_name", conf_key_hostname, BO(server_name), 0, 0, 0, NULL},
    {"tls_session_cache", conf_key_bool, BO(tls_session_cache), 0, 0, 0, NULL},
    {"connect_timeout", conf_key_duration, BO(connect_timeout_ms), CONF_SEC_MS,
	CONF_HOUR_MS, 0, NULL},
    {"down_time", conf_key_duration, BO(down_time_ms), CONF_SEC_MS, CONF_DAY_MS,
	0, NULL},
    {"max_connections", conf_key_uint, BO(max_connections), 0, LIMIT_MAX,
	CONF_UNLIMITED, NULL},
};

_Static_assert(PROTO_COUNT == 2, "one address row per protocol");

static void *
backend_base(struct conf *c, unsigned inst)
{
	return c->routing.named[inst];
}

/*
 * ldap_route_attribute: an attribute description of RFC 4512 section
 * 2.5, a name or a numeric OID, with options (";binary").
 */
static int
p_attribute(struct conf_loader *l, const struct conf_key *k, const char *v,
    void *dst)
{
	char **out = dst;
	size_t i, len = strlen(v);
	bool oid = isdigit((unsigned char)v[0]), ok = len > 0 && len <= 128;

	for (i = 0; ok && i < len && v[i] != ';'; i++)
		ok = oid ? isdigit((unsigned char)v[i]) ||
			       (v[i] == '.' && i > 0 && v[i - 1] != '.') :
			   isalpha((unsigned char)v[i]) ||
			       (i > 0 && (isdigit((unsigned char)v[i]) ||
					     v[i] == '-'));
	for (; ok && i < len; i++)
		ok = isalnum((unsigned char)v[i]) || v[i] == '-' ||
		     (v[i] == ';' && i + 1 < len && v[i + 1] != ';');
	if (!ok) {
		conf_key_error(l, k,
		    "'%.80s' is not an LDAP attribute name (letters, digits "
		    "and '-', starting with a letter, or a numeric OID)",
		    v);
		return -1;
	}
	free(*out);
	return (*out = conf_strdup(l, v)) == NULL ? -1 : 0;
}

static const struct conf_enum unmapped_modes[] = {
    {"refuse", ROUTING_UNMAPPED_REFUSE}, {"default", ROUTING_UNMAPPED_DEFAULT},
    {NULL, 0}};

/* s[0..len) without blanks at either end. */
static const char *
trim(const char *s, size_t *len)
{
	while (*len > 0 && (*s == ' ' || *s == '\t'))
		s++, (*len)--;
	while (*len > 0 && (s[*len - 1] == ' ' || s[*len - 1] == '\t'))
		(*len)--;
	return s;
}

/*
 * A line of [route_values], "value = backend", read from the line as
 * written: a directory value such as msExchHomeServerName's
 * "/o=Org/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=
 * Configuration/cn=Servers/cn=MBX1" holds '=', where inih would cut it.
 * A backend name holds no '=' or ':', so the last of them separates; a
 * ';' after a blank starts a comment, as everywhere in the file.
 */
static int
p_route_value(struct conf_loader *l, const struct conf_key *k, const char *v,
    void *dst)
{
	struct routing_conf *rc = dst;
	const char *line = conf_line(l), *end, *sep = NULL, *p, *val, *name;
	struct route_value *nv;
	size_t vlen, nlen, i;

	(void)k;
	(void)v;
	for (end = line; *end != '\0'; end++)
		if (*end == ';' && end > line &&
		    (end[-1] == ' ' || end[-1] == '\t'))
			break;
	for (p = line; p < end; p++)
		if (*p == '=' || *p == ':')
			sep = p;
	if (sep == NULL) {
		conf_error(l, conf_lineno(l),
		    "[route_values]: expected 'value = backend'");
		return -1;
	}
	vlen = (size_t)(sep - line);
	val = trim(line, &vlen);
	nlen = (size_t)(end - sep - 1);
	name = trim(sep + 1, &nlen);
	if (vlen == 0 || vlen > GROUP_ROUTE_MAX) {
		conf_error(l, conf_lineno(l),
		    "[route_values]: a value has 1-%d characters",
		    GROUP_ROUTE_MAX);
		return -1;
	}
	if (!valid_name(name, nlen)) {
		conf_error(l, conf_lineno(l),
		    "[route_values] %.*s: '%.*s' is not a backend name",
		    (int)vlen, val, (int)(nlen > 80 ? 80 : nlen), name);
		return -1;
	}
	for (i = 0; i < rc->nvalues; i++) {
		if (strlen(rc->values[i].value) == vlen &&
		    strncasecmp(rc->values[i].value, val, vlen) == 0) {
			conf_error(l, conf_lineno(l),
			    "[route_values] '%.*s' is listed twice (first at "
			    "line %d)",
			    (int)vlen, val, rc->values[i].line);
			return -1;
		}
	}
	if ((nv = reallocarray(rc->values, rc->nvalues + 1, sizeof(*nv))) ==
	    NULL) {
		conf_oom(l);
		return -1;
	}
	rc->values = nv;
	nv = &rc->values[rc->nvalues];
	memset(nv, 0, sizeof(*nv));
	nv->line = conf_lineno(l);
	nv->index = -1;
	if ((nv->value = strndup(val, vlen)) == NULL ||
	    (nv->name = strndup(name, nlen)) == NULL) {
		free(nv->value);
		conf_oom(l);
		return -1;
	}
	rc->nvalues++;
	return 0;
}

#define RO(f) offsetof(struct routing_conf, f)

static const struct conf_key routing_keys[] = {
    {"map_file", conf_key_abspath, RO(map_file), 0, 0, 0, NULL},
    {"ldap_route_attribute", p_attribute, RO(ldap_route_attribute), 0, 0, 0,
	NULL},
    {"unmapped_route", conf_key_enum, RO(unmapped_route), 0, 0, 0,
	unmapped_modes},
};

/* Every key of [route_values] is a directory value of its own. */
static const struct conf_key value_keys[] = {
    {"<value>", p_route_value, 0, 0, 0, CONF_ANYKEY, NULL},
};

static void *
routing_base(struct conf *c, unsigned inst)
{
	(void)inst;
	return &c->routing;
}

static const struct conf_section sections[] = {
    {"backend", 0, NULL, backend_open}, {"routing", 1, NULL, NULL},
    {"route_values", 1, NULL, NULL}};

static const struct conf_table tables[] = {
    {"backend", backend_base, backend_keys,
	sizeof(backend_keys) / sizeof(backend_keys[0])},
    {"routing", routing_base, routing_keys,
	sizeof(routing_keys) / sizeof(routing_keys[0])},
    {"route_values", routing_base, value_keys,
	sizeof(value_keys) / sizeof(value_keys[0])}};

/*
 * The dump's row names per protocol, "Pop3Addresses" and "DefaultForPOP3"
 * from the descriptors' names (the dump keeps the pointers).
 */
static char addr_rows[PROTO_COUNT][32], default_rows[PROTO_COUNT][32];

static int
routing_defaults(struct conf_loader *l, struct conf *c)
{
	unsigned p;
	size_t i;

	(void)l;
	c->routing.unmapped_route = ROUTING_UNMAPPED_REFUSE;
	/* Only the main thread reads configuration files. */
	for (p = 0; p < PROTO_COUNT; p++) {
		const char *name = proto_get((enum proto_id)p)->name;

		backend_keys[p].name = proto_get((enum proto_id)p)->section;
		backend_keys[p].offset =
		    BO(pool) + p * sizeof(struct backend_pool);
		snprintf(addr_rows[p], sizeof(addr_rows[p]), "%c", name[0]);
		for (i = 1; name[i] != '\0' && i + 1 < sizeof(addr_rows[p]);
		     i++)
			addr_rows[p][i] = (char)tolower((unsigned char)name[i]);
		snprintf(addr_rows[p] + i, sizeof(addr_rows[p]) - i,
		    "Addresses");
		snprintf(default_rows[p], sizeof(default_rows[p]),
		    "DefaultFor%s", name);
	}
	return 0;
}

/* The named backend called name (case-insensitive), or NULL. */
static struct backend *
find_named(const struct routing_conf *rc, const char *name, size_t *index)
{
	size_t i;

	for (i = 0; i < rc->nnamed; i++) {
		if (strcasecmp(rc->named[i]->name, name) == 0) {
			if (index != NULL)
				*index = i;
			return rc->named[i];
		}
	}
	return NULL;
}

/* The keys of a protocol that describe its implicit backend only. */
static const char *const implicit_keys[] = {"backend_tls", "backend_ca_file",
    "backend_server_name", "backend_verify"};

/*
 * Protocol p's backend: the named one its backend key names, or an
 * implicit one built from its backend_* keys.
 */
static void
check_protocol(struct conf_loader *l, struct conf *c, unsigned p)
{
	struct routing_conf *rc = &c->routing;
	struct proto_conf *pc = &c->proto[p];
	const char *sec = proto_get((enum proto_id)p)->section;
	int line = conf_key_line(l, "protocol", p, "backend");
	struct backend *b;
	size_t i;

	/* Unset (proto_check() said it is required) or already refused. */
	if (pc->backend_value == NULL || conf_has_error_at(l, line))
		return;
	if ((b = find_named(rc, pc->backend_value, NULL)) != NULL) {
		rc->defaults[p] = b;
		if (pc->enabled && b->pool[p].n == 0)
			conf_error(l, line,
			    "[%s] backend = %s: [backend \"%s\"] (line %d) has "
			    "no %s addresses",
			    sec, pc->backend_value, b->name, b->line, sec);
		/*
		 * The protocol's ProxyTargetHost and ProxyTargetPort (-T) are
		 * the backend's first address; the name checked is its own.
		 */
		free(pc->backend_host);
		free(pc->backend_port);
		free(pc->backend_server_name);
		pc->backend_host = pc->backend_port = NULL;
		pc->backend_server_name = NULL;
		if (b->pool[p].n > 0 &&
		    ((pc->backend_host =
			     conf_strdup(l, b->pool[p].v[0].host)) == NULL ||
			(pc->backend_port =
				conf_strdup(l, b->pool[p].v[0].port)) == NULL))
			return;
		for (i = 0; i < sizeof(implicit_keys) / sizeof(*implicit_keys);
		     i++) {
			int kl =
			    conf_key_line(l, "protocol", p, implicit_keys[i]);

			if (kl != 0)
				conf_error(l, kl,
				    "[%s] %s is for backend = host:port; "
				    "backend %s has the settings of its "
				    "[backend \"%s\"] section (line %d)",
				    sec, implicit_keys[i], b->name, b->name,
				    b->line);
		}
		return;
	}
	if (pc->backend_host == NULL) {
		conf_error(l, line,
		    "[%s] backend: '%s' is neither a [backend \"%s\"] "
		    "section nor a host name",
		    sec, pc->backend_value, pc->backend_value);
		return;
	}
	if ((b = backend_new(l, BACKEND_DEFAULT_NAME,
		 strlen(BACKEND_DEFAULT_NAME))) == NULL)
		return;
	rc->implicit[p] = rc->defaults[p] = b;
	b->implicit = true;
	b->line = line;
	b->tls = pc->backend_tls;
	b->verify = pc->backend_verify;
	b->connect_timeout_ms = pc->backend_timeout_ms;
	if ((pc->backend_ca_file != NULL &&
		(b->ca_file = conf_strdup(l, pc->backend_ca_file)) == NULL) ||
	    (pc->backend_server_name != NULL &&
		(b->server_name = conf_strdup(l, pc->backend_server_name)) ==
		    NULL))
		return;
	if ((b->pool[p].v = calloc(1, sizeof(*b->pool[p].v))) == NULL ||
	    (b->pool[p].v[0].host = conf_strdup(l, pc->backend_host)) == NULL ||
	    (b->pool[p].v[0].port = conf_strdup(l, pc->backend_port)) == NULL) {
		conf_oom(l);
		return;
	}
	b->pool[p].v[0].line = line;
	b->pool[p].n = 1;
}

/* The map file's problems, at the line of map_file. */
struct map_errors {
	struct conf_loader *l;
	struct conf *c;
};

static void
map_error(void *arg, int line, const char *msg)
{
	struct map_errors *me = arg;
	const struct routing_conf *rc = &me->c->routing;

	if (line > 0)
		conf_error(me->l, rc->map_file_line,
		    "[routing] map_file: %s:%d: %s", rc->map_file, line, msg);
	else
		conf_error(me->l, rc->map_file_line,
		    "[routing] map_file: %s: %s", rc->map_file, msg);
}

/*
 * A map line's backend: its index, or nnamed for "default".  A backend
 * that lacks the addresses of an enabled protocol is refused at the
 * first line that routes to it: a user sent there could not log in.
 */
static int
map_resolve(void *arg, const char *name, int line)
{
	struct map_errors *me = arg;
	struct routing_load *st = conf_state(me->l, &routing_conf_module);
	const struct routing_conf *rc = &me->c->routing;
	char msg[256];
	size_t i;
	bool bad = false;
	unsigned p;

	if (strcasecmp(name, BACKEND_DEFAULT_NAME) == 0)
		return (int)rc->nnamed;
	if (find_named(rc, name, &i) == NULL)
		return -1;
	for (p = 0; p < PROTO_COUNT; p++) {
		if (!me->c->proto[p].enabled || rc->named[i]->pool[p].n > 0)
			continue;
		bad = true;
		if (st->told[i * PROTO_COUNT + p])
			continue;
		st->told[i * PROTO_COUNT + p] = true;
		snprintf(msg, sizeof(msg),
		    "backend '%s' has no %s addresses, and [%s] is enabled "
		    "(set %s in [backend \"%s\"], line %d)",
		    name, proto_get((enum proto_id)p)->section,
		    proto_get((enum proto_id)p)->section,
		    proto_get((enum proto_id)p)->section, rc->named[i]->name,
		    rc->named[i]->line);
		map_error(me, line, msg);
	}
	return bad ? -2 : (int)i;
}

/*
 * [routing] ldap_route_attribute and [route_values]: the directory must
 * be there to ask, and every value must lead to a backend a user can
 * log in to.
 */
static void
check_values(struct conf_loader *l, struct conf *c)
{
	struct routing_conf *rc = &c->routing;
	int line = conf_key_line(l, "routing", 0, "ldap_route_attribute");
	struct route_value *rv;
	size_t i, b;
	unsigned p;

	if (rc->ldap_route_attribute == NULL) {
		if (rc->nvalues > 0)
			conf_error(l, rc->values[0].line,
			    "[route_values] is read only with [routing] "
			    "ldap_route_attribute");
		return;
	}
	if (c->groups.ldap_uri == NULL)
		conf_error(l, line,
		    "[routing] ldap_route_attribute: the attribute is read "
		    "with the user's groups from the directory, and [groups] "
		    "has no ldap_uri");
	else if (rc->nvalues == 0)
		conf_error(l, line,
		    "[routing] ldap_route_attribute: [route_values] maps no "
		    "value to a backend");
	c->groups.route_attribute = rc->ldap_route_attribute;
	for (i = 0; i < rc->nvalues; i++) {
		rv = &rc->values[i];
		if (strcasecmp(rv->name, BACKEND_DEFAULT_NAME) == 0) {
			rv->index = (int)rc->nnamed;
			continue;
		}
		if (find_named(rc, rv->name, &b) == NULL) {
			conf_error(l, rv->line,
			    "[route_values] %s: unknown backend '%s'",
			    rv->value, rv->name);
			continue;
		}
		for (p = 0; p < PROTO_COUNT; p++)
			if (c->proto[p].enabled && rc->named[b]->pool[p].n == 0)
				break;
		if (p < PROTO_COUNT) {
			conf_error(l, rv->line,
			    "[route_values] %s: backend '%s' has no %s "
			    "addresses, and [%s] is enabled (set %s in "
			    "[backend \"%s\"], line %d)",
			    rv->value, rv->name,
			    proto_get((enum proto_id)p)->section,
			    proto_get((enum proto_id)p)->section,
			    proto_get((enum proto_id)p)->section,
			    rc->named[b]->name, rc->named[b]->line);
			continue;
		}
		rv->index = (int)b;
	}
}

static void
routing_check(struct conf_loader *l, struct conf *c)
{
	struct routing_conf *rc = &c->routing;
	struct routing_load *st = conf_state(l, &routing_conf_module);
	struct map_errors me = {l, c};
	struct backend *b;
	size_t i;
	unsigned p;

	for (i = 0; i < rc->nnamed; i++) {
		b = rc->named[i];
		for (p = 0; p < PROTO_COUNT && b->pool[p].n == 0; p++)
			;
		if (p == PROTO_COUNT)
			conf_error(l, b->line,
			    "[backend \"%s\"] has no addresses: set %s or %s",
			    b->name, proto_get(0)->section,
			    proto_get(1)->section);
		if (b->tls == BACKEND_TLS_NONE &&
		    (b->ca_file != NULL || b->server_name != NULL))
			conf_error(l,
			    conf_key_line(l, "backend", (unsigned)i,
				b->ca_file != NULL ? "ca_file" : "server_name"),
			    "[backend \"%s\"] %s is set but tls is none",
			    b->name,
			    b->ca_file != NULL ? "ca_file" : "server_name");
	}
	for (p = 0; p < PROTO_COUNT; p++)
		check_protocol(l, c, p);
	check_values(l, c);
	rc->map_file_line = conf_key_line(l, "routing", 0, "map_file");
	if (rc->map_file == NULL)
		return;
	st->ntold = rc->nnamed * PROTO_COUNT;
	if ((st->told = calloc(st->ntold + 1, sizeof(*st->told))) == NULL) {
		conf_oom(l);
		return;
	}
	rc->map = routemap_load(rc->map_file, map_resolve, map_error, &me);
}

static void
routing_load_end(struct conf_loader *l)
{
	struct routing_load *st = conf_state(l, &routing_conf_module);

	free(st->told);
}

static void
routing_free(struct conf *c)
{
	struct routing_conf *rc = &c->routing;
	size_t i;

	for (i = 0; i < rc->nnamed; i++)
		backend_free(rc->named[i]);
	free(rc->named);
	for (i = 0; i < PROTO_COUNT; i++)
		backend_free(rc->implicit[i]);
	free(rc->map_file);
	routemap_free(rc->map);
	free(rc->ldap_route_attribute);
	for (i = 0; i < rc->nvalues; i++) {
		free(rc->values[i].value);
		free(rc->values[i].name);
	}
	free(rc->values);
}

/* A pool as the key reads it: "host:port host:port". */
static void
dump_pool(struct conf_dump *d, const char *name, const struct backend_pool *bp)
{
	char *v = conf_dump_row(d, name);
	size_t at = 0, i;

	for (i = 0; i < bp->n && at < CONF_DUMP_VALUE; i++)
		at += (size_t)snprintf(v + at, CONF_DUMP_VALUE - at,
		    strchr(bp->v[i].host, ':') ? "%s[%s]:%s" : "%s%s:%s",
		    i ? " " : "", bp->v[i].host, bp->v[i].port);
}

/* One backend's block, the rows named as Get-PopSettings would. */
static void
dump_backend(const struct conf *c, const struct backend *b, struct conf_dump *d)
{
	unsigned p;

	conf_dump_str(d, "BackendName", b->name);
	if (b->implicit) {
		for (p = 0; p < PROTO_COUNT && c->routing.implicit[p] != b; p++)
			;
		conf_dump_set(d, "DefinedBy", "[%s] backend",
		    proto_get((enum proto_id)p)->section);
	}
	for (p = 0; p < PROTO_COUNT; p++)
		dump_pool(d, addr_rows[p], &b->pool[p]);
	conf_dump_str(d, "Tls", conf_enum_name(tls_modes, (int)b->tls));
	conf_dump_str(d, "CaFile", b->ca_file);
	conf_dump_bool(d, "Verify", b->verify);
	conf_dump_str(d, "TlsServerName", b->server_name);
	conf_dump_bool(d, "TlsResumption", b->tls_session_cache);
	conf_fmt_timespan(b->connect_timeout_ms,
	    conf_dump_row(d, "ConnectTimeout"), CONF_DUMP_VALUE);
	conf_fmt_timespan(b->down_time_ms, conf_dump_row(d, "DownTime"),
	    CONF_DUMP_VALUE);
	conf_fmt_limit(b->max_connections, conf_dump_row(d, "MaxConnections"),
	    CONF_DUMP_VALUE);
	for (p = 0; p < PROTO_COUNT; p++) {
		if (c->routing.defaults[p] != b || !c->proto[p].enabled)
			continue;
		conf_dump_bool(d, default_rows[p], true);
	}
}

/*
 * Each backend in a block of its own, the named ones first, then the
 * [routing] blocks (the map, the directory); the caller ends the last.
 */
static void
routing_dump(const struct conf *c, unsigned inst, struct conf_dump *d)
{
	const struct routing_conf *rc = &c->routing;
	unsigned p;
	size_t i;
	FILE *fp;

	(void)inst;
	for (i = 0; i < rc->nnamed; i++) {
		dump_backend(c, rc->named[i], d);
		conf_dump_block(d);
	}
	for (p = 0; p < PROTO_COUNT; p++) {
		if (rc->implicit[p] == NULL || !c->proto[p].enabled)
			continue;
		dump_backend(c, rc->implicit[p], d);
		conf_dump_block(d);
	}
	conf_dump_str(d, "RoutingMapFile", rc->map_file);
	conf_dump_set(d, "RoutingMapEntries", "%zu",
	    rc->map != NULL ? routemap_count(rc->map) : (size_t)0);
	/* The directory's routes, when set: a block of their own. */
	if (rc->ldap_route_attribute == NULL)
		return;
	conf_dump_block(d);
	conf_dump_str(d, "RoutingLdapAttribute", rc->ldap_route_attribute);
	conf_dump_str(d, "UnmappedRoute",
	    conf_enum_name(unmapped_modes, rc->unmapped_route));
	if ((fp = conf_dump_list(d, "RouteValues", true)) == NULL)
		return;
	for (i = 0; i < rc->nvalues; i++)
		fprintf(fp, "%s = %s\n", rc->values[i].value,
		    rc->values[i].name);
	conf_dump_list_end(d, fp);
}

const struct conf_module routing_conf_module = {
    .name = "routing",
    .sections = sections,
    .nsections = 3,
    .tables = tables,
    .ntables = 3,
    .state_size = sizeof(struct routing_load),
    .defaults = routing_defaults,
    .check = routing_check,
    .load_end = routing_load_end,
    .free = routing_free,
    .dump = routing_dump,
};
