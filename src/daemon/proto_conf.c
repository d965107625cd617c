/*
 * proto_conf: the protocol sections, [pop3] and [imap], one per
 * descriptor, with the defaults each descriptor carries.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <ctype.h>
#include <net/if.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conf.h"
#include "conf_table.h"
#include "proto.h"
#include "saslmech.h"

#define BANNER_MAX 200
#define LIMIT_MAX 1000000
/* "[address%scope]:port" and its NUL, with room to spare. */
#define BINDING_STRLEN 80

/* The binding lists of one protocol, before they are joined. */
struct blist {
	struct binding *v;
	size_t n, cap;
	bool tls;      /* ssl_bindings */
	bool replaced; /* the first occurrence replaced the default */
};

/* While a file is read. */
struct proto_load {
	struct blist lists[PROTO_COUNT][2]; /* plain, TLS */
	bool bad_bindings[PROTO_COUNT];     /* a binding was refused */
};

static const struct conf_enum login_types[] = {
    {"PlainTextLogin", LOGIN_PLAINTEXT_LOGIN},
    {"PlainTextAuthentication", LOGIN_PLAINTEXT_AUTHENTICATION},
    {"SecureLogin", LOGIN_SECURE_LOGIN}, {NULL, 0}};

static const struct conf_enum login_modes[] = {{"enforce", LOGIN_MODE_ENFORCE},
    {"audit", LOGIN_MODE_AUDIT}, {NULL, 0}};

static const struct conf_enum backend_tls_modes[] = {{"none", BACKEND_TLS_NONE},
    {"starttls", BACKEND_TLS_STARTTLS}, {"implicit", BACKEND_TLS_IMPLICIT},
    {NULL, 0}};

static const struct conf_enum forward_modes[] = {{"none", FORWARD_NONE},
    {"id", FORWARD_ID}, {"xclient", FORWARD_XCLIENT}, {"proxy", FORWARD_PROXY},
    {NULL, 0}};

const char *
conf_proto_name(enum proto_id p)
{
	return proto_name(p);
}

/* The section being read is protocol p's: its state and descriptor. */
static struct proto_load *
load_state(struct conf_loader *l)
{
	return conf_state(l, &proto_conf_module);
}

static void
fmt_binding(const struct binding *b, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN + 1 + IF_NAMESIZE], serv[8];

	if (getnameinfo((const struct sockaddr *)&b->addr, b->addrlen, host,
		sizeof(host), serv, sizeof(serv),
		NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
		snprintf(buf, len, "?");
		return;
	}
	if (b->addr.ss_family == AF_INET6)
		snprintf(buf, len, "[%s]:%s", host, serv);
	else
		snprintf(buf, len, "%s:%s", host, serv);
}

static bool
binding_equal(const struct binding *a, const struct binding *b)
{
	const struct sockaddr_in *a4, *b4;
	const struct sockaddr_in6 *a6, *b6;

	if (a->addr.ss_family != b->addr.ss_family)
		return false;
	if (a->addr.ss_family == AF_INET) {
		a4 = (const struct sockaddr_in *)&a->addr;
		b4 = (const struct sockaddr_in *)&b->addr;
		return a4->sin_port == b4->sin_port &&
		       a4->sin_addr.s_addr == b4->sin_addr.s_addr;
	}
	a6 = (const struct sockaddr_in6 *)&a->addr;
	b6 = (const struct sockaddr_in6 *)&b->addr;
	return a6->sin6_port == b6->sin6_port &&
	       a6->sin6_scope_id == b6->sin6_scope_id &&
	       memcmp(&a6->sin6_addr, &b6->sin6_addr, sizeof(a6->sin6_addr)) ==
		   0;
}

/*
 * The error for an unbracketed item with more than one ':' (colon is the
 * last): the bracket hint only for what is an IPv6 address, with or
 * without a port after it.
 */
static void
binding_colons_error(const char *s, const char *colon, char *err, size_t errlen)
{
	char host[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
	struct in6_addr a6;
	size_t hlen = (size_t)(colon - s);

	host[0] = '\0';
	if (hlen < sizeof(host)) {
		memcpy(host, s, hlen);
		host[hlen] = '\0';
	}
	/* "::1:995" is an address too; a port is required, so read it so. */
	if (host[0] != '\0' && colon[1] != '\0' &&
	    strspn(colon + 1, "0123456789") == strlen(colon + 1) &&
	    inet_pton(AF_INET6, host, &a6) == 1)
		snprintf(err, errlen,
		    "'%s': an IPv6 address needs brackets, as in [%s]:%s", s,
		    host, colon + 1);
	else if (inet_pton(AF_INET6, s, &a6) == 1)
		snprintf(err, errlen,
		    "'%s': an IPv6 address needs brackets and a port, as in "
		    "[%s]:110",
		    s, s);
	else
		snprintf(err, errlen,
		    "'%s' is not address:port or [IPv6]:port (numeric, as in "
		    "0.0.0.0:110 or [::]:110)",
		    s);
}

/*
 * Parses "a.b.c.d:port" or "[v6]:port" into b.  Numeric only: a listening
 * address that depends on DNS at start-up is a configuration bug.
 */
static int
parse_binding(const char *s, struct binding *b, char *err, size_t errlen)
{
	struct addrinfo hints, *ai;
	char host[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
	const char *orig = s, *colon, *end;
	unsigned port;
	size_t hlen;
	bool v6;

	if (s[0] == '*') {
		colon = strrchr(s, ':');
		snprintf(err, errlen,
		    "'%s': wildcard address not accepted; use 0.0.0.0%s and "
		    "[::]%s",
		    s, colon ? colon : ":port", colon ? colon : ":port");
		return -1;
	}
	/* Blanks inside an item: bindings written as a space-separated list. */
	if (strpbrk(s, " \t") != NULL) {
		snprintf(err, errlen,
		    "'%s': one address:port or [IPv6]:port per item; separate "
		    "bindings with commas, as in [::]:110, 0.0.0.0:110",
		    s);
		return -1;
	}
	v6 = s[0] == '[';
	if (v6) {
		if ((end = strchr(s, ']')) == NULL) {
			snprintf(err, errlen, "'%s': missing ']'", s);
			return -1;
		}
		if (end[1] != ':') {
			snprintf(err, errlen,
			    "'%s': missing port (write [address]:port)", s);
			return -1;
		}
		colon = end + 1;
		s++;
		hlen = (size_t)(end - s);
	} else {
		if ((colon = strrchr(s, ':')) == NULL) {
			snprintf(err, errlen,
			    "'%s': missing port (write address:port)", s);
			return -1;
		}
		if (memchr(s, ':', (size_t)(colon - s)) != NULL) {
			binding_colons_error(s, colon, err, errlen);
			return -1;
		}
		hlen = (size_t)(colon - s);
	}
	if (conf_parse_port(colon + 1, &port) == -1) {
		snprintf(err, errlen, "'%s': port must be 1-65535", orig);
		return -1;
	}
	if (hlen == 0 || hlen >= sizeof(host)) {
		snprintf(err, errlen, "'%s': not a numeric %s address", orig,
		    v6 ? "IPv6" : "IPv4");
		return -1;
	}
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = v6 ? AF_INET6 : AF_INET;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
	if (getaddrinfo(host, colon + 1, &hints, &ai) != 0) {
		snprintf(err, errlen, "'%s': not a numeric %s address", orig,
		    v6 ? "IPv6" : "IPv4");
		return -1;
	}
	memset(b, 0, sizeof(*b));
	memcpy(&b->addr, ai->ai_addr, ai->ai_addrlen);
	b->addrlen = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

static int
blist_push(struct conf_loader *l, struct blist *bl, const struct binding *b)
{
	struct binding *v;

	if (bl->n == bl->cap) {
		size_t cap = bl->cap ? 2 * bl->cap : 4;

		if ((v = reallocarray(bl->v, cap, sizeof(*v))) == NULL) {
			conf_oom(l);
			return -1;
		}
		bl->v = v;
		bl->cap = cap;
	}
	bl->v[bl->n++] = *b;
	return 0;
}

static int
p_cmdsize(struct conf_loader *l, const struct conf_key *k, const char *v,
    void *dst)
{
	const struct proto *d = proto_get(conf_instance(l));
	uint64_t n;

	if (conf_parse_size(v, &n) == -1) {
		conf_key_error(l, k,
		    "'%s' is not a size (bytes, or with k/M/G)", v);
		return -1;
	}
	if (n < d->command_size_min || n > d->command_size_max) {
		conf_key_error(l, k, "%s is out of range (%zu-%zu)", v,
		    d->command_size_min, d->command_size_max);
		return -1;
	}
	*(size_t *)dst = (size_t)n;
	return 0;
}

static int
p_banner(struct conf_loader *l, const struct conf_key *k, const char *v,
    void *dst)
{
	const char *p;

	if (*v == '\0') {
		conf_key_error(l, k, "must not be empty");
		return -1;
	}
	if (strlen(v) > BANNER_MAX) {
		conf_key_error(l, k, "longer than %d characters", BANNER_MAX);
		return -1;
	}
	/* The banner goes out verbatim in the greeting line. */
	for (p = v; *p != '\0'; p++) {
		if (*p < 0x20 || *p > 0x7e) {
			conf_key_error(l, k,
			    "must be printable ASCII (no control or non-ASCII "
			    "characters)");
			return -1;
		}
	}
	return conf_key_string(l, k, v, dst);
}

static int
p_backend(struct conf_loader *l, const struct conf_key *k, const char *v,
    void *dst)
{
	struct proto_conf *pc = dst;
	struct in6_addr a6;
	const char *port = NULL, *end, *colon;
	char host[256], pbuf[8];
	unsigned portnum;
	size_t hlen;

	free(pc->backend_value);
	if ((pc->backend_value = conf_strdup(l, v)) == NULL)
		return -1;
	/* A list where one server is expected: say so, not a syntax detail. */
	if (strpbrk(v, ", \t") != NULL) {
		conf_key_error(l, k,
		    "'%s': one server only, as host, host:port or "
		    "[IPv6]:port",
		    v);
		return -1;
	}
	if (v[0] == '[') {
		if ((end = strchr(v, ']')) == NULL) {
			conf_key_error(l, k, "'%s': missing ']'", v);
			return -1;
		}
		if (end[1] == ':')
			port = end + 2;
		else if (end[1] != '\0') {
			conf_key_error(l, k, "'%s': expected ':port' after ']'",
			    v);
			return -1;
		}
		hlen = (size_t)(end - v - 1);
		if (hlen >= sizeof(host))
			hlen = sizeof(host) - 1;
		memcpy(host, v + 1, hlen);
		host[hlen] = '\0';
		if (inet_pton(AF_INET6, host, &a6) != 1) {
			conf_key_error(l, k, "'%s' is not an IPv6 address",
			    host);
			return -1;
		}
	} else {
		colon = strchr(v, ':');
		if (colon != NULL && strchr(colon + 1, ':') != NULL) {
			colon = strrchr(v, ':');
			hlen = (size_t)(colon - v);
			if (hlen < sizeof(host)) {
				memcpy(host, v, hlen);
				host[hlen] = '\0';
			}
			if (inet_pton(AF_INET6, v, &a6) == 1)
				conf_key_error(l, k,
				    "'%s': an IPv6 address needs brackets, as "
				    "in [%s] or [%s]:%s",
				    v, v, v,
				    proto_get(conf_instance(l))
					->default_backend_port);
			else if (hlen < sizeof(host) &&
				 inet_pton(AF_INET6, host, &a6) == 1)
				conf_key_error(l, k,
				    "'%s': an IPv6 address needs brackets, as "
				    "in [%s]:%s",
				    v, host, colon + 1);
			else
				conf_key_error(l, k,
				    "'%s' is not host, host:port or "
				    "[IPv6]:port",
				    v);
			return -1;
		}
		hlen = colon ? (size_t)(colon - v) : strlen(v);
		if (hlen >= sizeof(host))
			hlen = sizeof(host) - 1;
		memcpy(host, v, hlen);
		host[hlen] = '\0';
		if (colon != NULL)
			port = colon + 1;
		/* Not a host, but maybe a [backend "<name>"]: the routing
		 * module looks for one (routing_conf.c). */
		if (!conf_valid_hostname(host) && colon == NULL &&
		    strspn(v,
			"abcdefghijklmnopqrstuvwxyz"
			"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") == strlen(v))
			return 0;
		if (!conf_valid_hostname(host)) {
			conf_key_error(l, k,
			    "'%s' is not a host name or address", host);
			return -1;
		}
	}
	if (port != NULL) {
		if (conf_parse_port(port, &portnum) == -1) {
			conf_key_error(l, k, "'%s': port must be 1-65535", v);
			return -1;
		}
		snprintf(pbuf, sizeof(pbuf), "%u", portnum);
		port = pbuf;
	} else
		port = proto_get(conf_instance(l))->default_backend_port;
	if ((pc->backend_host = conf_strdup(l, host)) == NULL ||
	    (pc->backend_port = conf_strdup(l, port)) == NULL)
		return -1;
	return 0;
}

/* One item of a binding list into the list (dst). */
static int
binding_item(struct conf_loader *l, const struct conf_key *k, const char *s,
    void *dst)
{
	struct blist *bl = dst;
	char err[320];
	struct binding b;

	if (parse_binding(s, &b, err, sizeof(err)) == -1) {
		conf_key_error(l, k, "%s", err);
		load_state(l)->bad_bindings[conf_instance(l)] = true;
		return -1;
	}
	b.implicit_tls = bl->tls;
	b.line = conf_lineno(l);
	return blist_push(l, bl, &b);
}

/* tls: ssl_bindings rather than unencrypted_or_tls_bindings. */
static int
bindings(struct conf_loader *l, const struct conf_key *k, const char *v,
    bool tls)
{
	struct blist *bl = &load_state(l)->lists[conf_instance(l)][tls ? 1 : 0];

	if (!bl->replaced) {
		bl->n = 0;
		bl->replaced = true;
	}
	bl->tls = tls;
	return conf_for_items(l, k, v, "binding ", binding_item, bl);
}

static int
p_plain_bindings(struct conf_loader *l, const struct conf_key *k, const char *v,
    void *dst)
{
	(void)dst;
	return bindings(l, k, v, false);
}

static int
p_ssl_bindings(struct conf_loader *l, const struct conf_key *k, const char *v,
    void *dst)
{
	(void)dst;
	return bindings(l, k, v, true);
}

/*
 * passthrough_mechanisms: names separated by blanks or commas, added to
 * what earlier lines gave.  PLAIN and LOGIN are postern's own, and a
 * mechanism whose user postern cannot see yet is refused by name; an
 * unknown name is answered with the names saslmech.c knows.
 */
static int
p_passthru(struct conf_loader *l, const struct conf_key *k, const char *v,
    void *dst)
{
	unsigned *set = dst;
	int rc = 0;

	while (*v != '\0') {
		const struct saslmech *m;
		size_t n;

		while (*v == ' ' || *v == '\t' || *v == ',')
			v++;
		for (n = 0;
		     v[n] != '\0' && v[n] != ' ' && v[n] != '\t' && v[n] != ',';
		     n++)
			;
		if (n == 0)
			break;
		m = saslmech_by_name(v, n);
		if (m == NULL && n == 5 &&
		    (strncasecmp(v, "PLAIN", 5) == 0 ||
			strncasecmp(v, "LOGIN", 5) == 0)) {
			conf_key_error(l, k,
			    "%.*s is postern's own mechanism and is never "
			    "relayed",
			    (int)n, v);
			rc = -1;
		} else if (m == NULL) {
			char known[128];

			/* ", XOAUTH2, ...": the table's names. */
			if (saslmech_list(SASLMECH_ALL, ", ", known,
				sizeof(known)) == -1)
				known[0] = known[1] = '\0';
			conf_key_error(l, k,
			    "unknown mechanism '%.*s' (known: %s; PLAIN and "
			    "LOGIN are postern's own)",
			    (int)(n > 40 ? 40 : n), v, known + 2);
			rc = -1;
		} else if (!m->available) {
			conf_key_error(l, k,
			    "%s cannot be relayed yet: postern cannot see its "
			    "user to apply the access policy",
			    m->name);
			rc = -1;
		} else
			*set |= 1u << m->id;
		v += n;
	}
	return rc;
}

#define PO(f) offsetof(struct proto_conf, f)

static const struct conf_key keys[] = {
    {"enabled", conf_key_bool, PO(enabled), 0, 0, 0, NULL},
    {"unencrypted_or_tls_bindings", p_plain_bindings, 0, 0, 0, CONF_LIST, NULL},
    {"ssl_bindings", p_ssl_bindings, 0, 0, 0, CONF_LIST, NULL},
    {"banner", p_banner, PO(banner), 0, 0, 0, NULL},
    {"login_type", conf_key_enum, PO(login_type), 0, 0, 0, login_types},
    {"login_type_mode", conf_key_enum, PO(login_type_mode), 0, 0, 0,
	login_modes},
    {"backend", p_backend, 0, 0, 0, 0, NULL},
    {"backend_tls", conf_key_enum, PO(backend_tls), 0, 0, 0, backend_tls_modes},
    {"backend_ca_file", conf_key_cafile, PO(backend_ca_file), 0, 0, 0, NULL},
    {"backend_server_name", conf_key_hostname, PO(backend_server_name), 0, 0, 0,
	NULL},
    {"backend_verify", conf_key_bool, PO(backend_verify), 0, 0, 0, NULL},
    {"backend_timeout", conf_key_duration, PO(backend_timeout_ms), CONF_SEC_MS,
	CONF_HOUR_MS, 0, NULL},
    {"forward_client_address", conf_key_enum, PO(forward_client_address), 0, 0,
	0, forward_modes},
    {"max_connections", conf_key_uint, PO(max_connections), 0, LIMIT_MAX,
	CONF_UNLIMITED, NULL},
    {"max_connection_from_single_ip", conf_key_uint,
	PO(max_connection_from_single_ip), 0, LIMIT_MAX, CONF_UNLIMITED, NULL},
    {"max_connections_per_user", conf_key_uint, PO(max_connections_per_user), 0,
	LIMIT_MAX, CONF_UNLIMITED, NULL},
    {"pre_authenticated_connection_timeout", conf_key_duration,
	PO(pre_auth_timeout_ms), CONF_SEC_MS, CONF_HOUR_MS, 0, NULL},
    {"pre_authenticated_total_timeout", conf_key_duration,
	PO(pre_auth_total_ms), CONF_SEC_MS, CONF_HOUR_MS, 0, NULL},
    {"ipv6_prefix_length", conf_key_uint, PO(ipv6_prefix_length), 1, 128, 0,
	NULL},
    {"authenticated_connection_timeout", conf_key_duration, PO(auth_timeout_ms),
	CONF_SEC_MS, CONF_DAY_MS, 0, NULL},
    {"max_command_size", p_cmdsize, PO(max_command_size), 0, 0, 0, NULL},
    {"max_bad_commands", conf_key_uint, PO(max_bad_commands), 1, 1000, 0, NULL},
    {"max_login_attempts", conf_key_uint, PO(max_login_attempts), 1, 100, 0,
	NULL},
    {"passthrough_mechanisms", p_passthru, PO(passthru_mechs), 0, 0, CONF_LIST,
	NULL},
};

static const char *
section_name(unsigned i)
{
	return proto_get((enum proto_id)i)->section;
}

static void *
proto_conf_base(struct conf *c, unsigned inst)
{
	return &c->proto[inst];
}

static const struct conf_section sections[] = {
    {"protocol", PROTO_COUNT, section_name, NULL}};

static const struct conf_table tables[] = {
    {"protocol", proto_conf_base, keys, sizeof(keys) / sizeof(keys[0])}};

static int
proto_defaults(struct conf_loader *l, struct conf *c)
{
	struct proto_load *st = load_state(l);
	char err[320];
	struct binding b;
	struct proto_conf *pc;
	const char *p, *e;
	char item[64];
	int i, t;

	for (i = 0; i < PROTO_COUNT; i++) {
		const struct proto *d = proto_get(i);

		pc = &c->proto[i];
		pc->enabled = true;
		if ((pc->banner = conf_strdup(l, d->default_banner)) == NULL)
			return -1;
		pc->login_type = LOGIN_SECURE_LOGIN;
		pc->login_type_mode = LOGIN_MODE_ENFORCE;
		pc->backend_tls = BACKEND_TLS_NONE;
		pc->backend_verify = true;
		pc->backend_timeout_ms = 30 * CONF_SEC_MS;
		pc->max_connections_per_user = 16;
		pc->pre_auth_timeout_ms = CONF_MIN_MS;
		pc->pre_auth_total_ms = 3 * CONF_MIN_MS;
		pc->ipv6_prefix_length = 64;
		pc->auth_timeout_ms = 30 * CONF_MIN_MS;
		pc->max_command_size = d->command_size_default;
		pc->max_bad_commands = 10;
		pc->max_login_attempts = 3;
		for (t = 0; t < 2; t++) {
			for (p = t ? d->default_ssl_bindings :
				     d->default_bindings;
			     p != NULL; p = e ? e + 1 : NULL) {
				while (*p == ' ')
					p++;
				e = strchr(p, ',');
				snprintf(item, sizeof(item), "%.*s",
				    (int)(e ? (size_t)(e - p) : strlen(p)), p);
				if (parse_binding(item, &b, err, sizeof(err)) ==
				    -1) {
					conf_error(l, 0, "default binding %s",
					    err);
					return -1;
				}
				b.implicit_tls = t == 1;
				if (blist_push(l, &st->lists[i][t], &b) == -1)
					return -1;
			}
		}
	}
	return 0;
}

/* Joins the plain and TLS binding lists of each protocol. */
static int
join_bindings(struct conf_loader *l, struct conf *c)
{
	struct proto_load *st = load_state(l);
	struct proto_conf *pc;
	struct blist *pl, *tl;
	int i;

	for (i = 0; i < PROTO_COUNT; i++) {
		pc = &c->proto[i];
		pl = &st->lists[i][0];
		tl = &st->lists[i][1];
		pc->nbindings = pl->n + tl->n;
		if (pc->nbindings == 0)
			continue;
		pc->bindings = calloc(pc->nbindings, sizeof(*pc->bindings));
		if (pc->bindings == NULL) {
			conf_oom(l);
			return -1;
		}
		if (pl->n)
			memcpy(pc->bindings, pl->v, pl->n * sizeof(*pl->v));
		if (tl->n)
			memcpy(pc->bindings + pl->n, tl->v,
			    tl->n * sizeof(*tl->v));
	}
	return 0;
}

static const char *
binding_key(const struct binding *b)
{
	return b->implicit_tls ? "ssl_bindings" : "unencrypted_or_tls_bindings";
}

/* One binding of an enabled protocol, for the duplicate check. */
struct bref {
	const struct binding *b;
	int p;
};

/* Reports second as a repeat of first, at second's line. */
static void
duplicate_binding(struct conf_loader *l, const struct bref *first,
    const struct bref *second)
{
	char addr[BINDING_STRLEN];
	int line = second->b->line;

	if (line == 0)
		line = conf_section_line(l, "protocol", (unsigned)second->p);
	fmt_binding(second->b, addr, sizeof(addr));
	if (first->b->line != 0)
		conf_error(l, line,
		    "[%s] %s: duplicate binding %s (first at line %d, [%s] %s)",
		    section_name((unsigned)second->p), binding_key(second->b),
		    addr, first->b->line, section_name((unsigned)first->p),
		    binding_key(first->b));
	else
		conf_error(l, line,
		    "[%s] %s: duplicate binding %s (also the default of [%s] "
		    "%s)",
		    section_name((unsigned)second->p), binding_key(second->b),
		    addr, section_name((unsigned)first->p),
		    binding_key(first->b));
}

/* Two enabled protocols, or two lines, must not listen on one address. */
static void
check_duplicate_bindings(struct conf_loader *l, const struct conf *c)
{
	const struct proto_conf *pc;
	struct bref *v;
	size_t n = 0, x, y;
	int i;

	for (i = 0; i < PROTO_COUNT; i++)
		n += c->proto[i].nbindings;
	if ((v = calloc(n + 1, sizeof(*v))) == NULL) {
		conf_oom(l);
		return;
	}
	n = 0;
	for (i = 0; i < PROTO_COUNT; i++) {
		pc = &c->proto[i];
		for (x = 0; pc->enabled && x < pc->nbindings; x++) {
			v[n].b = &pc->bindings[x];
			v[n++].p = i;
		}
	}
	for (x = 0; x < n; x++) {
		for (y = x + 1; y < n; y++) {
			if (!binding_equal(v[x].b, v[y].b))
				continue;
			/* Report at the later line: defaults are line 0. */
			if (v[x].b->line > v[y].b->line)
				duplicate_binding(l, &v[y], &v[x]);
			else
				duplicate_binding(l, &v[x], &v[y]);
		}
	}
	free(v);
}

/*
 * Whether some enabled protocol needs postern's own certificate: implicit
 * TLS listeners do, and so does any login type that requires STARTTLS.
 */
static bool
tls_needed(const struct conf_loader *l, const struct conf *c, int *line,
    char *why, size_t len)
{
	const struct proto_conf *pc;
	const char *sec;
	size_t x;
	int i;

	for (i = 0; i < PROTO_COUNT; i++) {
		pc = &c->proto[i];
		sec = section_name((unsigned)i);
		if (!pc->enabled)
			continue;
		for (x = 0; x < pc->nbindings; x++) {
			if (!pc->bindings[x].implicit_tls)
				continue;
			*line = pc->bindings[x].line;
			if (*line == 0)
				*line = conf_section_line(l, "protocol",
				    (unsigned)i);
			snprintf(why, len,
			    "[%s] listens for implicit TLS (ssl_bindings)",
			    sec);
			return true;
		}
		if (pc->login_type != LOGIN_PLAINTEXT_LOGIN) {
			*line = conf_key_line(l, "protocol", (unsigned)i,
			    "login_type");
			if (*line == 0)
				*line = conf_section_line(l, "protocol",
				    (unsigned)i);
			snprintf(why, len, "[%s] login_type %s needs STARTTLS",
			    sec,
			    conf_enum_name(login_types, (int)pc->login_type));
			return true;
		}
	}
	return false;
}

/*
 * A forward_client_address mode that protocol p does not speak: the
 * message names the protocol that does (its section's name in capitals)
 * and p's own mode.
 */
static void
check_forward_mode(struct conf_loader *l, const struct conf *c, int p)
{
	const struct proto *d = proto_get(p), *other = NULL;
	enum forward_addr m = c->proto[p].forward_client_address;
	const struct conf_enum *own = NULL, *e;
	char name[16];
	size_t i;
	int q;

	if (d->forward_modes & (1u << m))
		return;
	for (q = 0; q < PROTO_COUNT && other == NULL; q++)
		if (proto_get(q)->forward_modes & (1u << m))
			other = proto_get(q);
	for (e = forward_modes; e->name != NULL && own == NULL; e++)
		if (e->value != FORWARD_NONE && e->value != FORWARD_PROXY &&
		    (d->forward_modes & (1u << e->value)))
			own = e;
	for (i = 0;
	     other != NULL && other->section[i] != '\0' && i + 1 < sizeof(name);
	     i++)
		name[i] = (char)toupper((unsigned char)other->section[i]);
	name[i] = '\0';
	conf_error(l,
	    conf_key_line(l, "protocol", (unsigned)p, "forward_client_address"),
	    "[%s] forward_client_address = %s is for %s only (use %s%s"
	    "proxy here)",
	    d->section, conf_enum_name(forward_modes, (int)m),
	    other != NULL ? name : "no protocol", own ? own->name : "",
	    own ? " or " : "");
}

static void
proto_check(struct conf_loader *l, struct conf *c)
{
	struct proto_load *st = load_state(l);
	struct proto_conf *pc;
	const char *sec;
	char why[128], list[64];
	size_t n;
	int i, line;

	if (join_bindings(l, c) == -1)
		return;
	for (i = 0; i < PROTO_COUNT; i++) {
		pc = &c->proto[i];
		sec = section_name((unsigned)i);
		if (conf_section_line(l, "protocol", (unsigned)i) == 0)
			pc->enabled = false;
		if (pc->backend_host != NULL &&
		    pc->backend_server_name == NULL &&
		    (pc->backend_server_name =
			    conf_strdup(l, pc->backend_host)) == NULL)
			return;
		if (!pc->enabled)
			continue;
		check_forward_mode(l, c, i);
		if (conf_key_line(l, "protocol", (unsigned)i, "backend") == 0)
			conf_error(l,
			    conf_section_line(l, "protocol", (unsigned)i),
			    "[%s] backend is required (host, host:port or "
			    "[address]:port of the server to proxy to), or "
			    "set enabled = no",
			    sec);
		if (pc->nbindings == 0 && !st->bad_bindings[i]) {
			line = conf_key_line(l, "protocol", (unsigned)i,
			    "ssl_bindings");
			if (conf_key_line(l, "protocol", (unsigned)i,
				"unencrypted_or_tls_bindings") > line)
				line = conf_key_line(l, "protocol", (unsigned)i,
				    "unencrypted_or_tls_bindings");
			conf_error(l, line,
			    "[%s] has no bindings: set "
			    "unencrypted_or_tls_bindings or ssl_bindings, or "
			    "enabled = no",
			    sec);
		}
	}
	for (i = 0; i < PROTO_COUNT && !c->proto[i].enabled; i++)
		;
	if (i == PROTO_COUNT) {
		for (i = 0, n = 0; i < PROTO_COUNT && n < sizeof(list); i++)
			n += (size_t)snprintf(list + n, sizeof(list) - n,
			    "%s[%s]", i == 0 ? "" : " or ",
			    section_name((unsigned)i));
		conf_error(l, 0,
		    "no protocol is enabled (a %s section enables its "
		    "protocol unless it says enabled = no)",
		    list);
	}
	check_duplicate_bindings(l, c);
	/* postern's own certificate is the protocols' need. */
	if (c->tls.certificate == NULL && c->tls.private_key == NULL &&
	    tls_needed(l, c, &line, why, sizeof(why)))
		conf_error(l, line,
		    "[tls] certificate and private_key are required: %s", why);
}

static void
proto_load_end(struct conf_loader *l)
{
	struct proto_load *st = load_state(l);
	int i, t;

	for (i = 0; i < PROTO_COUNT; i++)
		for (t = 0; t < 2; t++)
			free(st->lists[i][t].v);
}

static void
proto_free(struct conf *c)
{
	struct proto_conf *pc;
	int i;

	for (i = 0; i < PROTO_COUNT; i++) {
		pc = &c->proto[i];
		free(pc->bindings);
		free(pc->banner);
		free(pc->backend_value);
		free(pc->backend_host);
		free(pc->backend_port);
		free(pc->backend_ca_file);
		free(pc->backend_server_name);
	}
}

/* The bindings of one kind, as the binding keys read them. */
static void
dump_bindings(struct conf_dump *d, const char *name,
    const struct proto_conf *pc, bool tls)
{
	char addr[BINDING_STRLEN];
	FILE *fp;
	size_t i;

	if ((fp = conf_dump_list(d, name, false)) == NULL)
		return;
	for (i = 0; i < pc->nbindings; i++) {
		if (pc->bindings[i].implicit_tls != tls)
			continue;
		fmt_binding(&pc->bindings[i], addr, sizeof(addr));
		fprintf(fp, "%s\n", addr);
	}
	conf_dump_list_end(d, fp);
}

/* The rows named as Get-PopSettings names them, then postern's own. */
static void
proto_dump(const struct conf *c, unsigned p, struct conf_dump *d)
{
	const struct proto_conf *pc = &c->proto[p];

	conf_dump_str(d, "ProtocolName", proto_name((enum proto_id)p));
	conf_dump_bool(d, "Enabled", pc->enabled);
	dump_bindings(d, "UnencryptedOrTLSBindings", pc, false);
	dump_bindings(d, "SSLBindings", pc, true);
	conf_dump_str(d, "Banner", pc->banner);
	conf_dump_str(d, "LoginType",
	    conf_enum_name(login_types, (int)pc->login_type));
	conf_dump_str(d, "LoginTypeMode",
	    conf_enum_name(login_modes, (int)pc->login_type_mode));
	/* The access policy's keys of the section (policy_conf.c). */
	conf_dump_addrset(d, "LoginTypeExemptIps", pc->login_type_exempt_ips);
	conf_dump_str(d, "RequiredGroup", pc->required_group);
	/* A [backend "<name>"], or "default": the host and port below. */
	conf_dump_str(d, "Backend",
	    c->routing.defaults[p] != NULL ? c->routing.defaults[p]->name :
					     NULL);
	/* In brackets if IPv6, so that the backend key reads it back. */
	conf_dump_set(d, "ProxyTargetHost",
	    pc->backend_host && strchr(pc->backend_host, ':') ? "[%s]" : "%s",
	    pc->backend_host ? pc->backend_host : "");
	conf_dump_str(d, "ProxyTargetPort", pc->backend_port);
	conf_dump_str(d, "BackendTls",
	    conf_enum_name(backend_tls_modes, (int)pc->backend_tls));
	conf_dump_str(d, "BackendCaFile", pc->backend_ca_file);
	conf_dump_str(d, "BackendServerName", pc->backend_server_name);
	conf_dump_bool(d, "BackendVerify", pc->backend_verify);
	conf_dump_str(d, "ForwardClientAddress",
	    conf_enum_name(forward_modes, (int)pc->forward_client_address));
	conf_fmt_timespan(pc->backend_timeout_ms,
	    conf_dump_row(d, "BackendTimeout"), CONF_DUMP_VALUE);
	conf_fmt_limit(pc->max_connections, conf_dump_row(d, "MaxConnections"),
	    CONF_DUMP_VALUE);
	conf_fmt_limit(pc->max_connection_from_single_ip,
	    conf_dump_row(d, "MaxConnectionFromSingleIP"), CONF_DUMP_VALUE);
	conf_dump_set(d, "IPv6PrefixLength", "%u", pc->ipv6_prefix_length);
	conf_fmt_limit(pc->max_connections_per_user,
	    conf_dump_row(d, "MaxConnectionsPerUser"), CONF_DUMP_VALUE);
	conf_fmt_timespan(pc->pre_auth_timeout_ms,
	    conf_dump_row(d, "PreAuthenticatedConnectionTimeout"),
	    CONF_DUMP_VALUE);
	conf_fmt_timespan(pc->pre_auth_total_ms,
	    conf_dump_row(d, "PreAuthenticatedTotalTimeout"), CONF_DUMP_VALUE);
	conf_fmt_timespan(pc->auth_timeout_ms,
	    conf_dump_row(d, "AuthenticatedConnectionTimeout"),
	    CONF_DUMP_VALUE);
	conf_dump_set(d, "MaxCommandSize", "%zu", pc->max_command_size);
	conf_dump_set(d, "MaxBadCommands", "%u", pc->max_bad_commands);
	conf_dump_set(d, "MaxLoginAttempts", "%u", pc->max_login_attempts);
	{
		char mechs[128];

		if (saslmech_list(pc->passthru_mechs, " ", mechs,
			sizeof(mechs)) == -1)
			mechs[0] = '\0';
		conf_dump_str(d, "PassthroughMechanisms",
		    mechs[0] != '\0' ? mechs + 1 : "");
	}
}

const struct conf_module proto_conf_module = {
    .name = "proto",
    .sections = sections,
    .nsections = 1,
    .tables = tables,
    .ntables = 1,
    .state_size = sizeof(struct proto_load),
    .defaults = proto_defaults,
    .check = proto_check,
    .load_end = proto_load_end,
    .free = proto_free,
    .dump = proto_dump,
};
