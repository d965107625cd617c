/*
 * Tests of the routing module: the [backend "<name>"] sections, the
 * protocols' backend key (a name or, as before, host:port), [routing]
 * with its map file, every error with its line, the dump, and the
 * choice of a login's backend.
 */
#include "config.h"

#include <sys/stat.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "conf.h"
#include "groups.h"
#include "policy.h"
#include "routing.h"
#include "tmpdir_fixture.h"

static void
setup(void)
{
	tmpdir_make("test_routing");
}

TestSuite(routing, .init = setup, .fini = tmpdir_remove);

static const char *
write_file(const char *name, const char *content)
{
	return tmpdir_write(name, content, strlen(content));
}

/* Loads content; *errs gets what conf_load wrote. */
static struct conf *
load(const char *content, char **errs)
{
	const char *path = write_file("t.ini", content);
	struct conf *c;
	size_t len;
	FILE *err = open_memstream(errs, &len);

	cr_assert_not_null(err);
	c = conf_load(path, err);
	fclose(err);
	return c;
}

static struct conf *
load_ok(const char *content)
{
	char *errs;
	struct conf *c = load(content, &errs);

	cr_assert_str_empty(errs, "unexpected errors:\n%s", errs);
	cr_assert_not_null(c);
	free(errs);
	return c;
}

/*
 * Asserts that content fails with exactly the expected lines, each
 * written without the file name (":3: message"); "@MAP@" in them stands
 * for the map file's path.
 */
static void
expect_errors(const char *content, const char *expected)
{
	char *errs, want[8192], *w = want;
	const char *path = tpath("t.ini"), *map = tpath("routes"), *p, *nl, *m;
	struct conf *c;

	for (p = expected; *p != '\0'; p = nl + 1) {
		nl = strchr(p, '\n');
		cr_assert_not_null(nl);
		w += sprintf(w, "%s", path);
		for (; p < nl; p++) {
			if ((m = strstr(p, "@MAP@")) == p) {
				w += sprintf(w, "%s", map);
				p += 4;
			} else
				*w++ = *p;
		}
		*w++ = '\n';
	}
	*w = '\0';
	c = load(content, &errs);
	cr_expect_null(c);
	cr_expect_str_eq(errs, want, "for input:\n%s\ngot:\n%s\nwanted:\n%s",
	    content, errs, want);
	conf_unref(c);
	free(errs);
}

/* Both protocols on free-form ports with no TLS needed (lines 1-8). */
#define PROTOS(pop3_backend, imap_backend)                                     \
	"[pop3]\nbackend = " pop3_backend "\nlogin_type = PlainTextLogin\n"    \
	"ssl_bindings =\n"                                                     \
	"[imap]\nbackend = " imap_backend "\nlogin_type = PlainTextLogin\n"    \
	"ssl_bindings =\n"

/* Two backends (lines 9-17). */
#define BACKENDS                                                               \
	"[backend \"old\"]\n"                                                  \
	"pop3 = old1.example.org old2.example.org:1110\n"                      \
	"imap = old.example.org\n"                                             \
	"connect_timeout = 3s\n"                                               \
	"down_time = 1m\n"                                                     \
	"[backend \"New\"]\n"                                                  \
	"pop3 = [2001:db8::1]:995, 192.0.2.7\n"                                \
	"imap = new.example.org:993\n"                                         \
	"tls = implicit\n"

static void
expect_pool(const struct backend *b, enum proto_id p, const char *want)
{
	char got[512];
	size_t i, n = 0;

	got[0] = '\0';
	for (i = 0; i < b->pool[p].n; i++)
		n += (size_t)snprintf(got + n, sizeof(got) - n, "%s%s/%s/%d",
		    i ? " " : "", b->pool[p].v[i].host, b->pool[p].v[i].port,
		    b->pool[p].v[i].line);
	cr_expect_str_eq(got, want);
}

Test(routing, named_backends_and_their_pools)
{
	struct conf *c = load_ok(PROTOS("old", "NEW") BACKENDS);
	const struct routing_conf *rc = &c->routing;

	cr_assert_eq(rc->nnamed, 2);
	cr_expect_str_eq(rc->named[0]->name, "old");
	cr_expect_eq(rc->named[0]->line, 9);
	expect_pool(rc->named[0], PROTO_POP3,
	    "old1.example.org/1995/10 old2.example.org/1110/10");
	expect_pool(rc->named[0], PROTO_IMAP, "old.example.org/1993/11");
	cr_expect_eq(rc->named[0]->connect_timeout_ms, 3000);
	cr_expect_eq(rc->named[0]->down_time_ms, 60000);
	cr_expect_eq(rc->named[0]->tls, BACKEND_TLS_NONE);
	cr_expect(rc->named[0]->verify);
	expect_pool(rc->named[1], PROTO_POP3,
	    "2001:db8::1/995/15 192.0.2.7/1995/15");
	cr_expect_eq(rc->named[1]->tls, BACKEND_TLS_IMPLICIT);
	/* Names are compared without case. */
	cr_expect_eq(rc->defaults[PROTO_POP3], rc->named[0]);
	cr_expect_eq(rc->defaults[PROTO_IMAP], rc->named[1]);
	cr_expect_null(rc->implicit[PROTO_POP3]);
	conf_unref(c);
}

Test(routing, host_port_is_an_implicit_default_backend)
{
	struct conf *c = load_ok(
	    "[pop3]\nbackend = mail.example.org:1110\n"
	    "login_type = PlainTextLogin\nssl_bindings =\n"
	    "backend_tls = starttls\nbackend_verify = no\n"
	    "backend_server_name = pop.example.org\nbackend_timeout = 20s\n"
	    "[imap]\nenabled = no\n");
	const struct backend *b = c->routing.defaults[PROTO_POP3];

	cr_assert_not_null(b);
	cr_expect(b->implicit);
	cr_expect_eq(c->routing.implicit[PROTO_POP3], b);
	cr_expect_str_eq(b->name, "default");
	cr_expect_eq(b->line, 2);
	expect_pool(b, PROTO_POP3, "mail.example.org/1110/2");
	cr_expect_eq(b->pool[PROTO_IMAP].n, 0);
	cr_expect_eq(b->tls, BACKEND_TLS_STARTTLS);
	cr_expect_not(b->verify);
	cr_expect_str_eq(b->server_name, "pop.example.org");
	cr_expect_eq(b->connect_timeout_ms, 20000);
	conf_unref(c);
}

Test(routing, a_host_that_is_also_a_backend_name_is_the_backend)
{
	/* "old" would resolve as a host name, but the section wins. */
	struct conf *c = load_ok(PROTOS("old", "old.example.org") BACKENDS);

	cr_expect_eq(c->routing.defaults[PROTO_POP3], c->routing.named[0]);
	cr_expect(c->routing.defaults[PROTO_IMAP]->implicit);
	conf_unref(c);
}

Test(routing, section_errors)
{
	expect_errors(
	    PROTOS("mail.example.org",
		"mail.example.org") "[backend \"old\"]\npop3 = a.example.org\n"
				    "[backend \"OLD\"]\n"
				    "[backend \"default\"]\n"
				    "[backend \"a b\"]\n"
				    "[backend \"\"]\n"
				    "[backend old]\n"
				    "[backend \"empty\"]\n"
				    "tls = starttls\n",
	    ":11: duplicate section [backend \"OLD\"] (first at line 9)\n"
	    ":12: [backend \"default\"]: the name 'default' is the protocols' "
	    "own backend = host:port; choose another\n"
	    ":13: [backend \"a b\"]: a backend name has 1-64 letters, digits, "
	    "'-', '_' or '.'\n"
	    ":14: [backend \"\"]: a backend name has 1-64 letters, digits, "
	    "'-', '_' or '.'\n"
	    ":15: expected [backend \"<name>\"], the name in double quotes\n"
	    ":16: [backend \"empty\"] has no addresses: set pop3 or imap\n");
}

Test(routing, key_errors)
{
	expect_errors(
	    PROTOS("mail.example.org",
		"mail.example.org") "[backend \"x\"]\n"
				    "pop3 = a.example.org a.example.org:1995\n"
				    "imap = [2001:db8::1 2001:db8::2:143 b.example.org:0\n"
				    "imap = bad!host.example.org\n"
				    "tls = sometimes\n"
				    "connect_timeout = 0\n"
				    "max_connections = many\n"
				    "ca_file = /nonexistent/ca.pem\n"
				    "colour = blue\n"
				    "down_time = 500ms\n",
	    ":10: [backend \"x\"] pop3: 'a.example.org:1995' is listed twice "
	    "(first at line 10)\n"
	    ":11: [backend \"x\"] imap: '[2001:db8::1': missing ']'\n"
	    ":11: [backend \"x\"] imap: '2001:db8::2:143': an IPv6 address "
	    "needs brackets, as in [2001:db8::1]:143\n"
	    ":11: [backend \"x\"] imap: 'b.example.org:0': port must be "
	    "1-65535\n"
	    ":12: [backend \"x\"] imap: 'bad!host.example.org' is not host, "
	    "host:port or [IPv6]:port\n"
	    ":13: [backend \"x\"] tls: 'sometimes' is not one of none, "
	    "starttls, implicit\n"
	    ":14: [backend \"x\"] connect_timeout: 0 is out of range (1s-1h)\n"
	    ":15: [backend \"x\"] max_connections: 'many' is not a number (0 "
	    "or 'unlimited': no limit)\n"
	    ":16: [backend \"x\"] ca_file: cannot open '/nonexistent/ca.pem': "
	    "No such file or directory\n"
	    ":17: unknown key 'colour' in [backend \"x\"]\n"
	    ":18: [backend \"x\"] down_time: 500ms is out of range (1s-24h)\n");
}

Test(routing, protocol_backend_errors)
{
	/* A name without a section, a backend without the protocol's
	 * addresses, and keys that are for host:port only. */
	expect_errors("[pop3]\nbackend = old..server\nlogin_type = "
		      "PlainTextLogin\nssl_bindings =\n"
		      "[imap]\nbackend = popper\nlogin_type = PlainTextLogin\n"
		      "ssl_bindings =\nbackend_tls = starttls\n"
		      "backend_verify = no\n"
		      "[backend \"popper\"]\npop3 = pop.example.org\n",
	    ":2: [pop3] backend: 'old..server' is neither a [backend "
	    "\"old..server\"] section nor a host name\n"
	    ":6: [imap] backend = popper: [backend \"popper\"] (line 11) has "
	    "no imap addresses\n"
	    ":9: [imap] backend_tls is for backend = host:port; backend "
	    "popper has the settings of its [backend \"popper\"] section "
	    "(line 11)\n"
	    ":10: [imap] backend_verify is for backend = host:port; backend "
	    "popper has the settings of its [backend \"popper\"] section "
	    "(line 11)\n");
}

Test(routing, tls_settings_without_tls)
{
	expect_errors(
	    PROTOS("x",
		"x") "[backend \"x\"]\npop3 = a.example.org\nimap = a.example.org\n"
		     "server_name = mail.example.org\n",
	    ":12: [backend \"x\"] server_name is set but tls is none\n");
}

/* The configuration with a map file (line 18). */
#define WITH_MAP PROTOS("old", "old") BACKENDS "[routing]\nmap_file = %s\n"

static struct conf *
load_map(const char *map, char **errs)
{
	char ini[4096];

	snprintf(ini, sizeof(ini), WITH_MAP, write_file("routes", map));
	return load(ini, errs);
}

Test(routing, map_file_routes)
{
	char *errs;
	struct conf *c = load_map("# moving to new\n"
				  "alice@example.org new\n"
				  "@example.net NEW\n"
				  "carol default\n"
				  "* old\n",
	    &errs);
	struct route r;
	char src[64];

	cr_assert_not_null(c, "%s", errs);
	free(errs);
	routing_choose(c, PROTO_IMAP, "Alice@example.org", NULL, NULL, &r);
	cr_expect_eq(r.backend, c->routing.named[1]);
	routing_source(&r, src, sizeof(src));
	cr_expect_str_eq(src, "map:2:user");
	routing_choose(c, PROTO_POP3, "bob@example.net", NULL, NULL, &r);
	cr_expect_eq(r.backend, c->routing.named[1]);
	routing_source(&r, src, sizeof(src));
	cr_expect_str_eq(src, "map:3:domain");
	/* "default" is the protocol's own backend. */
	routing_choose(c, PROTO_POP3, "carol", NULL, NULL, &r);
	cr_expect_eq(r.backend, c->routing.defaults[PROTO_POP3]);
	routing_choose(c, PROTO_POP3, "dave", NULL, NULL, &r);
	cr_expect_eq(r.backend, c->routing.named[0]);
	routing_source(&r, src, sizeof(src));
	cr_expect_str_eq(src, "map:5:any");
	conf_unref(c);
}

Test(routing, without_a_map_every_login_goes_to_the_default)
{
	struct conf *c = load_ok(PROTOS("old", "new") BACKENDS);
	struct route r;
	char src[64];

	routing_choose(c, PROTO_IMAP, "alice", NULL, NULL, &r);
	cr_expect_eq(r.backend, c->routing.named[1]);
	cr_expect_eq(r.match, ROUTEMAP_NONE);
	routing_source(&r, src, sizeof(src));
	cr_expect_str_eq(src, "default");
	conf_unref(c);
}

Test(routing, map_file_errors_name_the_map_and_its_line)
{
	char *errs;
	struct conf *c = load_map("alice new\n"
				  "bob nowhere\n"
				  "ALICE old\n"
				  "carol\n",
	    &errs);
	char want[4096];
	const char *ini = tpath("t.ini"), *map = tpath("routes");

	snprintf(want, sizeof(want),
	    "%s:19: [routing] map_file: %s:2: unknown backend 'nowhere'\n"
	    "%s:19: [routing] map_file: %s:3: 'ALICE' is listed twice (first "
	    "at line 1)\n"
	    "%s:19: [routing] map_file: %s:4: expected 'user backend': no "
	    "backend after 'carol'\n",
	    ini, map, ini, map, ini, map);
	cr_expect_null(c);
	cr_expect_str_eq(errs, want);
	free(errs);
}

Test(routing, a_route_to_a_backend_without_the_protocol)
{
	char ini[4096], *errs;
	struct conf *c;

	snprintf(ini, sizeof(ini),
	    PROTOS("old", "old") BACKENDS
	    "[backend \"imaponly\"]\nimap = i.example.org\n"
	    "[routing]\nmap_file = %s\n",
	    write_file("routes", "alice imaponly\nbob imaponly\n"));
	c = load(ini, &errs);
	cr_expect_null(c);
	/* Told once, at the first line that routes there. */
	cr_expect_not_null(strstr(errs,
	    ":1: backend 'imaponly' has no pop3 addresses, and [pop3] is "
	    "enabled (set pop3 in [backend \"imaponly\"], line 18)\n"));
	cr_expect_eq(strstr(errs, ":2: "), NULL, "%s", errs);
	free(errs);
}

Test(routing, a_missing_map_file)
{
	expect_errors(PROTOS("old", "old") BACKENDS
	    "[routing]\nmap_file = /nonexistent/routes\n",
	    ":19: [routing] map_file: /nonexistent/routes: cannot open: No "
	    "such file or directory\n");
}

Test(routing, dump_lists_every_backend)
{
	char ini[4096], *dump;
	size_t len;
	struct conf *c;
	FILE *fp;

	snprintf(ini, sizeof(ini),
	    PROTOS("old", "imap.example.org:143") BACKENDS
	    "[routing]\nmap_file = %s\n",
	    write_file("routes", "alice new\n* old\n"));
	c = load_ok(ini);
	fp = open_memstream(&dump, &len);
	cr_assert_not_null(fp);
	conf_dump(c, fp);
	fclose(fp);
	cr_expect_not_null(strstr(dump,
			       "BackendName    : old\n"
			       "Pop3Addresses  : old1.example.org:1995 "
			       "old2.example.org:1110\n"
			       "Imap4Addresses : old.example.org:1993\n"
			       "Tls            : none\n"
			       "CaFile         :\n"
			       "Verify         : True\n"
			       "TlsServerName  :\n"
			       "TlsResumption  : True\n"
			       "ConnectTimeout : 00:00:03\n"
			       "DownTime       : 00:01:00\n"
			       "MaxConnections : unlimited\n"
			       "DefaultForPOP3 : True\n\n"),
	    "%s", dump);
	cr_expect_not_null(strstr(dump, "BackendName    : New\n"
					"Pop3Addresses  : [2001:db8::1]:995 "
					"192.0.2.7:1995\n"
					"Imap4Addresses : new.example.org:993\n"
					"Tls            : implicit\n"),
	    "%s", dump);
	/* The protocol's own host:port, with its backend_* keys. */
	cr_expect_not_null(strstr(dump,
			       "BackendName     : default\n"
			       "DefinedBy       : [imap] backend\n"
			       "Pop3Addresses   :\n"
			       "Imap4Addresses  : imap.example.org:143\n"
			       "Tls             : none\n"
			       "CaFile          :\n"
			       "Verify          : True\n"
			       "TlsServerName   : imap.example.org\n"
			       "TlsResumption   : True\n"
			       "ConnectTimeout  : 00:00:30\n"),
	    "%s", dump);
	cr_expect_not_null(strstr(dump, "RoutingMapFile    : "), "%s", dump);
	cr_expect_not_null(strstr(dump, "RoutingMapEntries : 2\n"), "%s", dump);
	free(dump);
	conf_unref(c);
}

/* The route of user's IMAP login over TLS, with its source. */
static const struct backend *
route_of(const struct conf *c, const char *user, char *src, size_t len)
{
	struct policy_facts f = {.proto = PROTO_IMAP,
	    .tls = true,
	    .user = user};
	struct policy_decision d;
	struct route r;

	cr_assert_eq(policy_login(c, &f, &d), POLICY_OUTCOME_ALLOW, "%s", user);
	cr_assert_eq(
	    routing_choose(c, PROTO_IMAP, user, d.route_rule, NULL, &r), 0);
	routing_source(&r, src, len);
	return r.backend;
}

Test(routing, an_allow_rule_routes_where_the_map_is_silent)
{
	char ini[4096], src[ROUTE_SOURCE_MAX];
	char *errs;
	struct conf *c;

	snprintf(ini, sizeof(ini),
	    WITH_MAP "[rule \"wave3\"]\npriority = 10\naction = allow\n"
		     "usernames = alice, carol\nroute = new\n"
		     "[rule \"stay\"]\npriority = 20\naction = allow\n"
		     "usernames = erin\nroute = default\n",
	    write_file("routes", "# exceptions to the waves\nalice old\n"));
	c = load(ini, &errs);
	cr_assert_not_null(c, "%s", errs);
	free(errs);
	/* The map names single users: it wins over the rule. */
	cr_expect_eq(route_of(c, "alice", src, sizeof(src)),
	    c->routing.named[0]);
	cr_expect_str_eq(src, "map:2:user-part");
	cr_expect_eq(route_of(c, "carol@example.org", src, sizeof(src)),
	    c->routing.named[1]);
	cr_expect_str_eq(src, "rule:wave3");
	cr_expect_eq(route_of(c, "erin", src, sizeof(src)),
	    c->routing.defaults[PROTO_IMAP]);
	cr_expect_str_eq(src, "rule:stay");
	/* No rule applies: the protocol's own backend. */
	cr_expect_eq(route_of(c, "frank", src, sizeof(src)),
	    c->routing.defaults[PROTO_IMAP]);
	cr_expect_str_eq(src, "default");
	conf_unref(c);
}

Test(routing, a_rule_route_must_name_a_backend_of_an_allow_rule)
{
	expect_errors(PROTOS("old", "old") BACKENDS
	    "[rule \"a\"]\npriority = 1\naction = allow\nroute = nowhere\n"
	    "[rule \"b\"]\npriority = 2\naction = deny\nroute = New\n"
	    "[rule \"c\"]\npriority = 3\naction = audit\nroute = old\n",
	    ":21: [rule \"a\"] route: no [backend \"nowhere\"] section (nor "
	    "\"default\", the protocol's own backend)\n"
	    ":25: [rule \"b\"] route: only an allow rule routes (action is "
	    "deny)\n"
	    ":29: [rule \"c\"] route: only an allow rule routes (action is "
	    "audit)\n");
}

Test(routing, a_rule_route_needs_the_addresses_of_its_protocols)
{
	struct conf *c;

	expect_errors(PROTOS("old", "old") BACKENDS
	    "[backend \"popper\"]\npop3 = pop.example.org\n"
	    "[rule \"c\"]\npriority = 1\naction = allow\nroute = popper\n",
	    ":23: [rule \"c\"] route: backend 'popper' has no imap "
	    "addresses, and the rule lets imap logins through (set imap in "
	    "[backend \"popper\"], line 18, or protocols in the rule)\n");
	/* A rule for POP3 alone may route there. */
	c = load_ok(PROTOS("old", "old") BACKENDS
	    "[backend \"popper\"]\npop3 = pop.example.org\n"
	    "[rule \"c\"]\npriority = 1\naction = allow\nroute = popper\n"
	    "protocols = pop3\n");
	cr_expect_eq(c->rules[0].route_index, 2);
	conf_unref(c);
}

/* Lines 18-22: the directory, to read the route attribute from. */
#define LDAP_GROUPS                                                              \
	"[groups]\nldap_uri = ldap://127.0.0.1\nldap_base = dc=example,dc=org\n" \
	"ldap_user_filter = (uid=%%u)\nldap_group_attribute = memberOf\n"

/* Lines 23-25, then [route_values] at 26, its lines from 27 on. */
#define LDAP_ROUTING(unmapped)                                                 \
	PROTOS("old", "old")                                                   \
	BACKENDS LDAP_GROUPS                                                   \
	    "[routing]\nldap_route_attribute = "                               \
	    "msExchHomeServerName\nunmapped_route = " unmapped                 \
	    "\n[route_values]\n"

static const char EXCH2010[] =
    "/o=Example/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/"
    "cn=Configuration/cn=Servers/cn=EXCH2010-MBX1";

Test(routing, route_values_are_read_as_written)
{
	char ini[4096];
	struct conf *c;

	snprintf(ini, sizeof(ini),
	    LDAP_ROUTING("default") "exch2010-mbx2 = New\n"
				    "%s = old ; the first wave's server\n"
				    "site:berlin: default\n",
	    EXCH2010);
	c = load_ok(ini);
	cr_assert_eq(c->routing.nvalues, 3);
	cr_expect_str_eq(c->routing.ldap_route_attribute,
	    "msExchHomeServerName");
	/* The groups' search asks for it too. */
	cr_expect_eq(c->groups.route_attribute,
	    c->routing.ldap_route_attribute);
	cr_expect_eq(c->routing.unmapped_route, ROUTING_UNMAPPED_DEFAULT);
	cr_expect_str_eq(c->routing.values[0].value, "exch2010-mbx2");
	cr_expect_eq(c->routing.values[0].index, 1);
	cr_expect_eq(c->routing.values[0].line, 27);
	/* '=' in the value: the last one separates, the comment is not
	 * part of the backend. */
	cr_expect_str_eq(c->routing.values[1].value, EXCH2010);
	cr_expect_eq(c->routing.values[1].index, 0);
	cr_expect_str_eq(c->routing.values[2].value, "site:berlin");
	cr_expect_eq(c->routing.values[2].index, (int)c->routing.nnamed);
	cr_expect_eq(routing_value(&c->routing, "EXCH2010-MBX2"),
	    &c->routing.values[0]);
	cr_expect_null(routing_value(&c->routing, "exch2010-mbx"));
	conf_unref(c);
	/* refuse is the default. */
	c = load_ok(PROTOS("old", "old") BACKENDS LDAP_GROUPS
	    "[routing]\nldap_route_attribute = l\n[route_values]\nBerlin = "
	    "New\n");
	cr_expect_eq(c->routing.unmapped_route, ROUTING_UNMAPPED_REFUSE);
	conf_unref(c);
}

Test(routing, route_values_errors_have_their_lines)
{
	char ini[4096];

	snprintf(ini, sizeof(ini),
	    LDAP_ROUTING(
		"refuse") "mbx1 = old\n"
			  "MBX1 = New\n"
			  "mbx2 = nowhere\n"
			  "= old\n"
			  "mbx3 = not a name\n"
			  "mbx4 = popper\n"
			  "[backend \"popper\"]\npop3 = pop.example.org\n");
	expect_errors(ini,
	    ":28: [route_values] 'MBX1' is listed twice (first at line 27)\n"
	    ":29: [route_values] mbx2: unknown backend 'nowhere'\n"
	    ":30: [route_values]: a value has 1-256 characters\n"
	    ":31: [route_values] mbx3: 'not a name' is not a backend name\n"
	    ":32: [route_values] mbx4: backend 'popper' has no imap "
	    "addresses, and [imap] is enabled (set imap in [backend "
	    "\"popper\"], line 33)\n");
}

Test(routing, ldap_route_attribute_needs_the_directory)
{
	/* No ldap_uri: nothing would read the attribute. */
	expect_errors(PROTOS("old", "old") BACKENDS
	    "[routing]\nldap_route_attribute = l\n[route_values]\nx = old\n",
	    ":19: [routing] ldap_route_attribute: the attribute is read with "
	    "the user's groups from the directory, and [groups] has no "
	    "ldap_uri\n");
	/* Values nothing reads, and an attribute with no values. */
	expect_errors(PROTOS("old", "old") BACKENDS "[route_values]\nx = old\n",
	    ":19: [route_values] is read only with [routing] "
	    "ldap_route_attribute\n");
	expect_errors(PROTOS("old", "old") BACKENDS LDAP_GROUPS
	    "[routing]\nldap_route_attribute = l\n",
	    ":24: [routing] ldap_route_attribute: [route_values] maps no value "
	    "to a backend\n");
	expect_errors(PROTOS("old", "old") BACKENDS LDAP_GROUPS
	    "[routing]\nldap_route_attribute = (uid=*)\nunmapped_route = "
	    "maybe\n",
	    ":24: [routing] ldap_route_attribute: '(uid=*)' is not an LDAP "
	    "attribute name (letters, digits and '-', starting with a "
	    "letter, or a numeric OID)\n"
	    ":25: [routing] unmapped_route: 'maybe' is not one of refuse, "
	    "default\n");
}

/* A lookup's answer with the route attribute's values v (n of them). */
static void
answer(struct group_list *gl, const char *const *v, size_t n)
{
	size_t i;

	group_list_clear(gl);
	for (i = 0; i < n; i++)
		cr_assert_eq(group_list_route_add(gl, v[i], strlen(v[i])), 0);
}

Test(routing, sources_in_order_map_directory_rule_default)
{
	char ini[4096], src[ROUTE_SOURCE_MAX];
	static const char *const mbx2[] = {"EXCH2010-MBX2"};
	struct group_list gl = {0};
	struct policy_facts f = {.proto = PROTO_IMAP, .tls = true};
	struct policy_decision d;
	struct route r;
	struct conf *c;

	snprintf(ini, sizeof(ini),
	    PROTOS("old", "old") BACKENDS LDAP_GROUPS
	    "[routing]\nldap_route_attribute = msExchHomeServerName\n"
	    "map_file = %s\n[route_values]\nexch2010-mbx2 = New\n"
	    "[rule \"wave\"]\npriority = 1\naction = allow\nroute = old\n",
	    write_file("routes", "alice old\n"));
	c = load_ok(ini);
	answer(&gl, mbx2, 1);
	f.user = "alice";
	f.groups = &gl;
	cr_assert_eq(policy_login(c, &f, &d), POLICY_OUTCOME_ALLOW);
	/* The map names the user: it wins over the directory. */
	cr_assert_eq(
	    routing_choose(c, PROTO_IMAP, "alice", d.route_rule, &gl, &r), 0);
	cr_expect_eq(r.backend, c->routing.named[0]);
	routing_source(&r, src, sizeof(src));
	cr_expect_str_eq(src, "map:1:user-part");
	/* The directory's value wins over the rule. */
	cr_assert_eq(
	    routing_choose(c, PROTO_IMAP, "bob", d.route_rule, &gl, &r), 0);
	cr_expect_eq(r.backend, c->routing.named[1]);
	routing_source(&r, src, sizeof(src));
	cr_expect_str_eq(src, "ldap:exch2010-mbx2");
	/* No attribute: the rule's route. */
	group_list_clear(&gl);
	cr_assert_eq(
	    routing_choose(c, PROTO_IMAP, "bob", d.route_rule, &gl, &r), 0);
	cr_expect_eq(r.backend, c->routing.named[0]);
	routing_source(&r, src, sizeof(src));
	cr_expect_str_eq(src, "rule:wave");
	/* Neither: the protocol's own. */
	cr_assert_eq(routing_choose(c, PROTO_IMAP, "bob", NULL, &gl, &r), 0);
	cr_expect_eq(r.backend, c->routing.defaults[PROTO_IMAP]);
	routing_source(&r, src, sizeof(src));
	cr_expect_str_eq(src, "default");
	/* No lookup: the map still decides for its users, nobody else is
	 * routed by guess. */
	cr_expect_eq(routing_choose(c, PROTO_IMAP, "alice", NULL, NULL, &r), 0);
	cr_expect_eq(
	    routing_choose(c, PROTO_IMAP, "bob", d.route_rule, NULL, &r), -1);
	cr_expect_eq(r.refused, ROUTE_REFUSED_NO_LOOKUP);
	cr_expect_null(r.backend);
	conf_unref(c);
}

Test(routing, an_unmapped_value_follows_unmapped_route)
{
	static const char *const unknown[] = {"exch2003-mbx9"};
	static const char *const two[] = {"exch2010-mbx2", "exch2010-mbx3"};
	static const char *const same[] = {"exch2010-mbx2", "EXCH2010-mbx2"};
	static const char *const *answers[] = {unknown, two};
	char src[ROUTE_SOURCE_MAX];
	struct group_list gl = {0};
	struct route r;
	struct conf *c;
	size_t i;

	c = load_ok(LDAP_ROUTING("refuse") "exch2010-mbx2 = New\n"
					   "exch2010-mbx3 = old\n");
	for (i = 0; i < 2; i++) {
		answer(&gl, answers[i], i == 0 ? 1 : 2);
		cr_expect_eq(
		    routing_choose(c, PROTO_POP3, "bob", NULL, &gl, &r), -1,
		    "answer %zu", i);
		cr_expect_eq(r.refused, ROUTE_REFUSED_UNMAPPED);
		cr_expect_null(r.backend);
	}
	/* The same value twice, but for case: one route. */
	answer(&gl, same, 2);
	cr_expect_eq(routing_choose(c, PROTO_POP3, "bob", NULL, &gl, &r), 0);
	cr_expect_eq(r.backend, c->routing.named[1]);
	conf_unref(c);
	c = load_ok(LDAP_ROUTING("default") "exch2010-mbx2 = New\n"
					    "exch2010-mbx3 = old\n");
	for (i = 0; i < 2; i++) {
		answer(&gl, answers[i], i == 0 ? 1 : 2);
		cr_expect_eq(
		    routing_choose(c, PROTO_POP3, "bob", NULL, &gl, &r), 0);
		cr_expect_eq(r.backend, c->routing.defaults[PROTO_POP3]);
		cr_expect_eq(r.ldap, ROUTE_LDAP_UNMAPPED);
		routing_source(&r, src, sizeof(src));
		cr_expect_str_eq(src, "ldap-unmapped");
	}
	group_list_clear(&gl);
	conf_unref(c);
}

Test(routing, bad_directory_values_are_no_route)
{
	struct group_list gl = {0};
	char big[GROUP_ROUTE_MAX + 2];

	cr_assert_eq(group_list_route_add(&gl, "mbx1", 4), 0);
	cr_expect_eq(gl.route_kind, GROUP_ROUTE_VALUE);
	cr_expect_str_eq(gl.route, "mbx1");
	cr_assert_eq(group_list_route_add(&gl, "MBX1", 4), 0);
	cr_expect_eq(gl.route_kind, GROUP_ROUTE_VALUE);
	cr_assert_eq(group_list_route_add(&gl, "mbx2", 4), 0);
	cr_expect_eq(gl.route_kind, GROUP_ROUTE_BAD);
	cr_expect_str_eq(gl.route, "several different values");
	/* Nothing later undoes it. */
	group_list_clear(&gl);
	cr_assert_eq(group_list_route_add(&gl, "mb\0x1", 5), 0);
	cr_expect_eq(gl.route_kind, GROUP_ROUTE_BAD);
	cr_expect_str_eq(gl.route, "a value with control bytes (binary data?)");
	cr_assert_eq(group_list_route_add(&gl, "mbx1", 4), 0);
	cr_expect_eq(gl.route_kind, GROUP_ROUTE_BAD);
	/* A value cut at the NUL would have matched "mb". */
	group_list_clear(&gl);
	cr_assert_eq(group_list_route_add(&gl, "mbx1\r\n", 6), 0);
	cr_expect_eq(gl.route_kind, GROUP_ROUTE_BAD);
	group_list_clear(&gl);
	memset(big, 'a', sizeof(big));
	cr_assert_eq(group_list_route_add(&gl, big, GROUP_ROUTE_MAX), 0);
	cr_expect_eq(gl.route_kind, GROUP_ROUTE_VALUE);
	group_list_clear(&gl);
	cr_assert_eq(group_list_route_add(&gl, big, GROUP_ROUTE_MAX + 1), 0);
	cr_expect_eq(gl.route_kind, GROUP_ROUTE_BAD);
	cr_expect_str_eq(gl.route, "a value longer than 256 bytes");
	group_list_clear(&gl);
	cr_assert_eq(group_list_route_add(&gl, "", 0), 0);
	cr_expect_eq(gl.route_kind, GROUP_ROUTE_BAD);
	/* Bytes past ASCII are a name in UTF-8, kept. */
	group_list_clear(&gl);
	cr_assert_eq(group_list_route_add(&gl, "z\xc3\xbcrich", 7), 0);
	cr_expect_eq(gl.route_kind, GROUP_ROUTE_VALUE);
	group_list_clear(&gl);
	cr_expect_null(gl.route);
	cr_expect_eq(gl.route_kind, GROUP_ROUTE_NONE);
}

Test(routing, dump_shows_the_directory_routes)
{
	char *dump;
	size_t len;
	struct conf *c;
	FILE *fp;

	c = load_ok(LDAP_ROUTING("default") "mbx2 = New\nmbx3 = old\n");
	fp = open_memstream(&dump, &len);
	cr_assert_not_null(fp);
	conf_dump(c, fp);
	fclose(fp);
	cr_expect_not_null(strstr(dump, "RoutingLdapAttribute : "
					"msExchHomeServerName\n"
					"UnmappedRoute        : default\n"
					"RouteValues          : mbx2 = New\n"
					"RouteValues          : mbx3 = old\n"),
	    "%s", dump);
	free(dump);
	conf_unref(c);
}
