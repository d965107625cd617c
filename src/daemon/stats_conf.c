/*
 * stats_conf: the [stats] section, the statistics and health server.
 *
 * Off unless listen is set.  Only loopback clients may ask by default:
 * /sessions names users and their addresses, which a monitoring host on
 * another machine should be let see on purpose, with allowed_ips and
 * preferably a token.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "addrset.h"
#include "conf.h"
#include "conf_table.h"
#include "stats_conf.h"

/* A bearer token longer than this is no token but a mistake. */
#define STATS_TOKEN_MAX 512

/*
 * "a.b.c.d:port" or "[v6]:port", numeric: a listening address that
 * depends on DNS at start-up is a configuration bug.
 */
static int
p_listen(struct conf_loader *l, const struct conf_key *k, const char *v,
    void *dst)
{
	struct stats_conf *sc = &conf_loader_conf(l)->stats;
	char host[INET6_ADDRSTRLEN + 1];
	const char *colon, *h = v;
	size_t hlen;
	unsigned port;
	bool v6 = v[0] == '[';

	memset(&sc->addr, 0, sizeof(sc->addr));
	sc->addrlen = 0;
	if (v[0] == '\0') /* listen = : no server */
		return conf_key_string(l, k, v, dst);
	if (v6) {
		const char *end = strchr(v, ']');

		if (end == NULL || end[1] != ':')
			goto bad;
		h = v + 1;
		hlen = (size_t)(end - h);
		colon = end + 1;
	} else {
		if ((colon = strrchr(v, ':')) == NULL ||
		    memchr(v, ':', (size_t)(colon - v)) != NULL)
			goto bad;
		hlen = (size_t)(colon - v);
	}
	if (hlen == 0 || hlen >= sizeof(host))
		goto bad;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	if (conf_parse_port(colon + 1, &port) == -1) {
		conf_key_error(l, k, "'%s': port must be 1-65535", v);
		return -1;
	}
	if (v6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&sc->addr;

		if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1)
			goto bad;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		sc->addrlen = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&sc->addr;

		if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
			goto bad;
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		sc->addrlen = sizeof(*s4);
	}
	sc->listen_line = conf_lineno(l);
	return conf_key_string(l, k, v, dst);
bad:
	conf_key_error(l, k,
	    "'%s' is not address:port or [IPv6]:port (numeric, as in "
	    "127.0.0.1:9190 or [::1]:9190)",
	    v);
	return -1;
}

static void
token_clear(struct stats_conf *sc)
{
	if (sc->token != NULL) {
		OPENSSL_cleanse(sc->token, strlen(sc->token));
		free(sc->token);
	}
	sc->token = NULL;
}

/*
 * The token is the file's first line, read at every load (a reload reads
 * it again, as the user postern runs as).  It goes into an HTTP header,
 * so it is visible ASCII without blanks.
 */
static int
p_token_file(struct conf_loader *l, const struct conf_key *k, const char *v,
    void *dst)
{
	struct stats_conf *sc = &conf_loader_conf(l)->stats;
	char buf[STATS_TOKEN_MAX + 2];
	size_t n, i;
	FILE *fp;

	token_clear(sc);
	if (v[0] == '\0')
		return conf_key_string(l, k, v, dst);
	if (v[0] != '/') {
		conf_key_error(l, k, "'%s' is not an absolute path", v);
		return -1;
	}
	if ((fp = fopen(v, "re")) == NULL) {
		conf_key_error(l, k, "cannot read '%s': %s", v,
		    strerror(errno));
		return -1;
	}
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	n = strlen(buf);
	for (i = 0; i < n && buf[i] > 0x20 && buf[i] < 0x7f; i++)
		;
	if (n == 0 || i != n || n > STATS_TOKEN_MAX) {
		conf_key_error(l, k,
		    n == 0 ? "'%s' is empty: no token on its first line" :
		    i != n ? "'%s': the token on its first line holds a "
			     "blank or a byte that is not visible ASCII" :
			     "'%s': the token is longer than 512 bytes",
		    v);
		OPENSSL_cleanse(buf, sizeof(buf));
		return -1;
	}
	sc->token = conf_strdup(l, buf);
	OPENSSL_cleanse(buf, sizeof(buf));
	if (sc->token == NULL)
		return -1;
	return conf_key_string(l, k, v, dst);
}

#define SO(f) offsetof(struct stats_conf, f)

static const struct conf_key keys[] = {
    {"listen", p_listen, SO(listen), 0, 0, 0, NULL},
    {"allowed_ips", conf_key_addrset, SO(allowed_ips), 0, 0, CONF_LIST, NULL},
    {"token_file", p_token_file, SO(token_file), 0, 0, 0, NULL},
};

static void *
stats_base(struct conf *c, unsigned inst)
{
	(void)inst;
	return &c->stats;
}

static const struct conf_section sections[] = {{"stats", 1, NULL, NULL}};

static const struct conf_table tables[] = {
    {"stats", stats_base, keys, sizeof(keys) / sizeof(keys[0])}};

static int
stats_defaults(struct conf_loader *l, struct conf *c)
{
	(void)l;
	memset(&c->stats, 0, sizeof(c->stats));
	return 0;
}

/* Without allowed_ips, loopback only. */
static void
stats_check_conf(struct conf_loader *l, struct conf *c)
{
	struct stats_conf *sc = &c->stats;
	char err[128];

	if (sc->allowed_ips == NULL) {
		if ((sc->allowed_ips = addrset_new()) == NULL ||
		    addrset_add(sc->allowed_ips, "127.0.0.0/8", err,
			sizeof(err)) == -1 ||
		    addrset_add(sc->allowed_ips, "::1", err, sizeof(err)) ==
			-1) {
			conf_oom(l);
			return;
		}
	}
	addrset_finish(sc->allowed_ips);
}

static void
stats_free_conf(struct conf *c)
{
	token_clear(&c->stats);
	free(c->stats.listen);
	free(c->stats.token_file);
	addrset_free(c->stats.allowed_ips);
}

static void
stats_dump(const struct conf *c, unsigned inst, struct conf_dump *d)
{
	const struct stats_conf *sc = &c->stats;

	(void)inst;
	conf_dump_str(d, "StatsListen", sc->listen);
	conf_dump_addrset(d, "StatsAllowedIPs", sc->allowed_ips);
	/* The file's name only: the token never reaches any output. */
	conf_dump_str(d, "StatsTokenFile", sc->token_file);
}

const struct conf_module stats_conf_module = {
    .name = "stats",
    .sections = sections,
    .nsections = 1,
    .tables = tables,
    .ntables = 1,
    .state_size = 0,
    .defaults = stats_defaults,
    .check = stats_check_conf,
    .free = stats_free_conf,
    .dump = stats_dump,
};
