/*
 * testrule: "postern test-rule", the access policy and the routing asked
 * about one login from the command line.
 */
#include "config.h"

#include <getopt.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/event.h>

#include "conf.h"
#include "groups.h"
#include "policy.h"
#include "proto.h"
#include "routing.h"
#include "testrule.h"
#include "tls.h"

/* The answer of the one group lookup, copied out of the callback. */
struct lookup {
	struct event_base *base;
	bool done;
	enum groups_status st;
	struct group_list gl;
	char err[256];
};

static void
usage(FILE *err, const char *default_conf)
{
	fprintf(err,
	    "usage: postern test-rule [-c FILE] --protocol imap|pop3 "
	    "--client ADDRESS [--user NAME] [--tls]\n"
	    "  -c FILE          configuration file (default %s)\n"
	    "  --protocol P     the protocol of the connection\n"
	    "  --client ADDR    the client's IP address\n"
	    "  --user NAME      the login name; without it, only the "
	    "connect-time rules\n"
	    "  --tls            TLS is active when the client logs in\n"
	    "exit status: 0 allowed (or audited), 1 denied, 2 error\n",
	    default_conf);
}

/* A numeric IPv4 or IPv6 address into ss; -1 when it is none. */
static int
parse_client(const char *s, struct sockaddr_storage *ss)
{
	struct addrinfo hints, *ai;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_flags = AI_NUMERICHOST;
	if (getaddrinfo(s, NULL, &hints, &ai) != 0)
		return -1;
	memset(ss, 0, sizeof(*ss));
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	freeaddrinfo(ai);
	return 0;
}

static void
lookup_cb(enum groups_status st, const struct group_list *gl, const char *err,
    void *arg)
{
	struct lookup *lk = arg;
	bool oom = false;
	size_t i;

	lk->done = true;
	lk->st = st;
	if (err != NULL)
		snprintf(lk->err, sizeof(lk->err), "%s", err);
	for (i = 0; st == GROUPS_OK && gl != NULL && i < gl->n && !oom; i++)
		oom = group_list_add(&lk->gl, gl->v[i]) == -1;
	if (oom || (st == GROUPS_OK && gl != NULL &&
		       group_list_route_copy(&lk->gl, gl) == -1)) {
		lk->st = GROUPS_TEMPFAIL;
		snprintf(lk->err, sizeof(lk->err), "out of memory");
	}
	event_base_loopbreak(lk->base);
}

/*
 * The groups of user, through the daemon's own lookup service (groups
 * file and directory alike), waited for: a command may block, an event
 * loop may not, so the service is given a loop of its own to answer on.
 */
static int
lookup_groups(struct conf *c, const char *user, struct lookup *lk, FILE *err)
{
	struct groups *g = NULL;
	struct groups_port *port = NULL;
	int rc = -1;

	if ((lk->base = event_base_new()) == NULL ||
	    (g = groups_new(c)) == NULL ||
	    (port = groups_port_new(g, lk->base)) == NULL) {
		fprintf(err, "postern: test-rule: cannot start the group "
			     "lookup\n");
		goto out;
	}
	if (groups_lookup(port, c, user, lookup_cb, lk) == NULL) {
		fprintf(err, "postern: test-rule: cannot look up groups: out "
			     "of memory\n");
		goto out;
	}
	while (!lk->done)
		if (event_base_dispatch(lk->base) == -1)
			break;
	if (!lk->done)
		fprintf(err, "postern: test-rule: the group lookup did not "
			     "answer\n");
	else if (lk->st != GROUPS_OK)
		fprintf(err,
		    "postern: test-rule: group lookup for %s failed: "
		    "%s\n",
		    user, lk->err[0] != '\0' ? lk->err : "unknown");
	else
		rc = 0;
out:
	groups_port_free(port);
	groups_free(g);
	if (lk->base != NULL)
		event_base_free(lk->base);
	lk->base = NULL;
	return rc;
}

static const struct rule *
find_rule(const struct conf *c, const char *name)
{
	size_t i;

	for (i = 0; name != NULL && i < c->nrules; i++)
		if (c->rules[i].name == name)
			return &c->rules[i];
	return NULL;
}

/* What decided, in words: the "by" line. */
static void
describe(const struct conf *c, enum proto_id p, const struct policy_decision *d,
    bool at_connect, FILE *out)
{
	const char *sec = proto_get(p)->section;
	const char *name = d->name != NULL ? d->name : "?";
	const struct rule *r;

	fprintf(out, "%-10s ", "by");
	switch (d->reason) {
	case POLICY_REASON_NONE:
		fprintf(out, "no rule applies: allowed by default\n");
		return;
	case POLICY_REASON_RULE:
		r = find_rule(c, d->name);
		fprintf(out, "rule \"%s\"", name);
		if (r != NULL)
			fprintf(out, " (line %d, priority %u)", r->line,
			    r->priority);
		fprintf(out, "%s\n",
		    at_connect ? ", at connect time, before any login" : "");
		return;
	case POLICY_REASON_LOGIN_TYPE:
		fprintf(out,
		    "[%s] login_type: a cleartext login without TLS%s\n", sec,
		    d->verdict == POLICY_OUTCOME_AUDIT ?
			" would be refused (audit mode)" :
			" is refused (try --tls)");
		return;
	case POLICY_REASON_NO_USER:
		fprintf(out,
		    "\"%s\" needs the user, whom a relayed NTLM or GSSAPI "
		    "exchange has not named\n",
		    name);
		return;
	case POLICY_REASON_NOT_IN_GROUP:
		fprintf(out,
		    "[%s] required_group \"%s\": the user is not a "
		    "member\n",
		    sec, name);
		return;
	case POLICY_REASON_NO_GROUPS:
		fprintf(out, "the user's groups are needed but unknown\n");
		return;
	}
	fprintf(out, "?\n");
}

static void
print_groups(const struct group_list *gl, bool looked_up, FILE *out)
{
	size_t i;

	fprintf(out, "%-10s ", "groups");
	if (!looked_up)
		fprintf(out, "not looked up (no rule on the way needs them)\n");
	else if (gl->n == 0)
		fprintf(out, "none\n");
	else
		for (i = 0; i < gl->n; i++)
			fprintf(out, "%s%s", gl->v[i],
			    i + 1 < gl->n ? "; " : "\n");
}

/* What the directory said of the route attribute: the "ldap" line. */
static void
print_ldap(const struct conf *c, const struct group_list *gl, FILE *out)
{
	const struct route_value *rv;

	fprintf(out, "%-10s %s: ", "ldap", c->routing.ldap_route_attribute);
	switch (gl->route_kind) {
	case GROUP_ROUTE_NONE:
		fprintf(out, "none (the next source decides)\n");
		return;
	case GROUP_ROUTE_BAD:
		fprintf(out, "no route: %s\n", gl->route);
		return;
	case GROUP_ROUTE_VALUE:
		break;
	}
	rv = routing_value(&c->routing, gl->route);
	fprintf(out, "'%s' ", gl->route);
	if (rv != NULL)
		fprintf(out, "([route_values] line %d: %s)\n", rv->line,
		    rv->name);
	else
		fprintf(out, "(not in [route_values])\n");
}

/* The verdict as an exit status; also prints the verdict's lines. */
static int
report(const struct conf *c, enum proto_id p, const struct policy_decision *d,
    bool at_connect, FILE *out)
{
	char msg[512];

	fprintf(out, "%-10s %s\n", "decision", policy_outcome_name(d->verdict));
	describe(c, p, d, at_connect, out);
	policy_errmsg(d, msg, sizeof(msg));
	if (msg[0] != '\0')
		fprintf(out, "%-10s %s\n", "log", msg);
	switch (d->verdict) {
	case POLICY_OUTCOME_ALLOW:
	case POLICY_OUTCOME_AUDIT:
		return TESTRULE_ALLOW;
	case POLICY_OUTCOME_DENY:
		return TESTRULE_DENY;
	case POLICY_OUTCOME_TEMPFAIL:
		break;
	}
	return TESTRULE_ERROR;
}

static int
decide(struct conf *c, enum proto_id p, const struct sockaddr *client,
    const char *user, bool tls, FILE *out, FILE *err)
{
	struct policy_facts f;
	struct policy_decision d;
	struct lookup lk;
	struct route r;
	char src[ROUTE_SOURCE_MAX];
	bool need;
	int rc;

	memset(&f, 0, sizeof(f));
	memset(&lk, 0, sizeof(lk));
	f.proto = p;
	f.client = client;
	f.tls = tls;
	/* A rule that refuses at connect time does so before any login. */
	policy_connect(c, &f, &d);
	if (user == NULL && d.pending) {
		fprintf(out, "%-10s %s\n", "decision",
		    "undecided until the login");
		fprintf(out, "%-10s %s\n", "by",
		    "a rule also looks at the user, groups or TLS: give --user");
		return TESTRULE_ALLOW;
	}
	if (d.verdict == POLICY_OUTCOME_DENY || user == NULL)
		return report(c, p, &d, true, out);
	f.user = user;
	/* The daemon asks the directory for the route with the groups. */
	need = policy_needs_groups(c, &f) || routing_needs_directory(c);
	if (need && lookup_groups(c, user, &lk, err) == -1) {
		group_list_clear(&lk.gl);
		return TESTRULE_ERROR;
	}
	f.groups = need ? &lk.gl : NULL;
	print_groups(&lk.gl, need, out);
	if (routing_needs_directory(c))
		print_ldap(c, &lk.gl, out);
	policy_login(c, &f, &d);
	rc = report(c, p, &d, false, out);
	if (rc == TESTRULE_ALLOW &&
	    routing_choose(c, p, user, d.route_rule, f.groups, &r) == -1) {
		fprintf(out, "%-10s none: %s\n", "backend",
		    r.refused == ROUTE_REFUSED_UNMAPPED ?
			"the directory's value names no backend in "
			"[route_values] and unmapped_route = refuse: the login "
			"would be refused for now" :
			"the directory lookup failed");
		rc = TESTRULE_ERROR;
	}
	group_list_clear(&lk.gl);
	if (rc != TESTRULE_ALLOW)
		return rc;
	routing_source(&r, src, sizeof(src));
	fprintf(out, "%-10s %s", "backend", r.backend->name);
	if (r.backend->pool[p].n > 0)
		fprintf(out, " (%s port %s)", r.backend->pool[p].v[0].host,
		    r.backend->pool[p].v[0].port);
	fprintf(out, "\n");
	fprintf(out, "%-10s %s\n", "route", src);
	return rc;
}

int
testrule_main(int argc, char *argv[], const char *default_conf, FILE *out,
    FILE *err)
{
	static const struct option opts[] = {
	    {"protocol", required_argument, NULL, 'p'},
	    {"client", required_argument, NULL, 'a'},
	    {"user", required_argument, NULL, 'u'},
	    {"tls", no_argument, NULL, 's'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *path = default_conf, *proto = NULL, *client = NULL;
	const char *user = NULL;
	struct sockaddr_storage ss;
	struct conf *c;
	enum proto_id p = PROTO_COUNT;
	bool tls = false;
	char host[128];
	int ch, rc, i;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'p':
			proto = optarg;
			break;
		case 'a':
			client = optarg;
			break;
		case 'u':
			user = optarg;
			break;
		case 's':
			tls = true;
			break;
		case 'h':
			usage(out, default_conf);
			return 0;
		default:
			usage(err, default_conf);
			return TESTRULE_ERROR;
		}
	}
	if (optind != argc || proto == NULL || client == NULL) {
		usage(err, default_conf);
		return TESTRULE_ERROR;
	}
	for (i = 0; i < PROTO_COUNT; i++)
		if (strcasecmp(proto, proto_get((enum proto_id)i)->section) ==
			0 ||
		    strcasecmp(proto, proto_name((enum proto_id)i)) == 0)
			p = (enum proto_id)i;
	if (p == PROTO_COUNT) {
		fprintf(err,
		    "postern: test-rule: --protocol %s: not imap or pop3\n",
		    proto);
		return TESTRULE_ERROR;
	}
	if (parse_client(client, &ss) == -1) {
		fprintf(err,
		    "postern: test-rule: --client %s: not an IP address\n",
		    client);
		return TESTRULE_ERROR;
	}
	if (user != NULL && *user == '\0') {
		fprintf(err, "postern: test-rule: --user: empty name\n");
		return TESTRULE_ERROR;
	}
	tls_init();
	if ((c = conf_load(path, err)) == NULL)
		return TESTRULE_ERROR;
	if (!c->proto[p].enabled) {
		fprintf(err, "postern: test-rule: %s: [%s] is not enabled\n",
		    path, proto_get(p)->section);
		conf_unref(c);
		return TESTRULE_ERROR;
	}
	snprintf(host, sizeof(host), "%s", client);
	fprintf(out, "%-10s %s\n", "protocol", proto_get(p)->section);
	fprintf(out, "%-10s %s\n", "client", host);
	fprintf(out, "%-10s %s\n", "user", user != NULL ? user : "-");
	fprintf(out, "%-10s %s\n", "tls", tls ? "yes" : "no");
	rc = decide(c, p, (struct sockaddr *)&ss, user, tls, out, err);
	conf_unref(c);
	return rc;
}
