/*
 * Unit tests of the policy module: the login type with its exemptions
 * and audit mode, the access rules at connect and at login, the required
 * group, and user name patterns.  Configurations are loaded from text
 * with conf_load(), so the rules are the ones the parser builds.
 */
#include "config.h"

#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "addrset.h"
#include "policy.h"
#include "username.h"
#include "tmpdir_fixture.h"

static void
setup(void)
{
	tmpdir_make("test_policy");
}

TestSuite(policy, .init = setup, .fini = tmpdir_remove);

static struct proto_conf
pc_with(enum login_type t, enum login_type_mode m)
{
	struct proto_conf pc = {0};

	pc.login_type = t;
	pc.login_type_mode = m;
	return pc;
}

/* Both protocols on, no certificate needed, cleartext allowed. */
#define BASE_POP3                                                              \
	"[pop3]\nbackend = mail.example.org\nlogin_type = PlainTextLogin\n"    \
	"ssl_bindings =\n"
#define BASE_IMAP                                                              \
	"[imap]\nbackend = mail.example.org\nlogin_type = PlainTextLogin\n"    \
	"ssl_bindings =\n"

static void
write_file(const char *name, const char *text)
{
	tmpdir_write(name, text, strlen(text));
}

/* A groups file in the test directory, and [groups] naming it. */
static char *
groups_section(void)
{
	static char buf[PATH_MAX + 64];

	write_file("groups", "POP3 Access: alice, EXAMPLE\\bob\n"
			     "IMAP Access: alice, carol@example.org\n"
			     "Scanners: scanner\n");
	snprintf(buf, sizeof(buf), "[groups]\nfile = %s/groups\n", tmpdir);
	return buf;
}

/*
 * Loads the base sections, pop3keys added to [pop3], a groups file, then
 * text; asserts that there are no errors.
 */
static struct conf *
load_with(const char *pop3keys, const char *text)
{
	char p[PATH_MAX], *all, *errs = NULL;
	size_t elen;
	struct conf *c;
	FILE *err;

	cr_assert_neq(asprintf(&all, "%s%s%s%s%s", BASE_POP3, pop3keys,
			  BASE_IMAP, groups_section(), text),
	    -1);
	write_file("t.ini", all);
	snprintf(p, sizeof(p), "%s/t.ini", tmpdir);
	cr_assert_not_null(err = open_memstream(&errs, &elen));
	c = conf_load(p, err);
	fclose(err);
	cr_assert_not_null(c, "errors:\n%s\nin:\n%s", errs, all);
	free(errs);
	free(all);
	return c;
}

static struct conf *
load(const char *text)
{
	return load_with("", text);
}

/* A socket address for a numeric address, from a small ring of buffers. */
static const struct sockaddr *
addr(const char *s)
{
	static struct sockaddr_storage ring[8];
	static int i;
	struct sockaddr_storage *ss = &ring[i++ % 8];
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, s, &s4->sin_addr) == 1)
		s4->sin_family = AF_INET;
	else {
		cr_assert_eq(inet_pton(AF_INET6, s, &s6->sin6_addr), 1, "%s",
		    s);
		s6->sin6_family = AF_INET6;
	}
	return (const struct sockaddr *)ss;
}

static struct policy_facts
facts(enum proto_id p, const char *ip, bool tls, const char *user,
    const struct group_list *gl)
{
	struct policy_facts f = {p, ip ? addr(ip) : NULL, tls, user, gl, false,
	    false};

	return f;
}

/* A relayed GSSAPI login: no secret sent, and no user to come. */
static struct policy_facts
gssapi_facts(enum proto_id p, const char *ip, bool tls)
{
	struct policy_facts f = facts(p, ip, tls, NULL, NULL);

	f.no_secret = f.user_hidden = true;
	return f;
}

/* The login decision as "verdict errmsg", e.g. "deny AccessRuleDenied:x". */
static const char *
login(const struct conf *c, struct policy_facts f)
{
	static char out[512];
	struct policy_decision d;
	char msg[256];

	policy_login(c, &f, &d);
	snprintf(out, sizeof(out), "%s %s", policy_outcome_name(d.verdict),
	    policy_errmsg(&d, msg, sizeof(msg)));
	return out;
}

static const char *
connect_(const struct conf *c, struct policy_facts f)
{
	static char out[512];
	struct policy_decision d;
	char msg[256];

	policy_connect(c, &f, &d);
	snprintf(out, sizeof(out), "%s %s%s", policy_outcome_name(d.verdict),
	    policy_errmsg(&d, msg, sizeof(msg)), d.pending ? " pending" : "");
	return out;
}

static struct group_list
groups_of(const char *csv)
{
	struct group_list gl = {0};
	char *copy = strdup(csv), *save = NULL, *t;

	for (t = strtok_r(copy, ",", &save); t != NULL;
	     t = strtok_r(NULL, ",", &save))
		cr_assert_eq(group_list_add(&gl, t), 0);
	free(copy);
	return gl;
}

Test(policy, plaintext_login_allows_cleartext_everywhere)
{
	struct proto_conf pc =
	    pc_with(LOGIN_PLAINTEXT_LOGIN, LOGIN_MODE_ENFORCE);

	cr_assert_eq(policy_cleartext_login(&pc, false), POLICY_ALLOW);
	cr_assert_eq(policy_cleartext_login(&pc, true), POLICY_ALLOW);
	cr_assert(policy_advertise_cleartext(&pc, false));
}

Test(policy, secure_login_refuses_cleartext_without_tls)
{
	struct proto_conf pc = pc_with(LOGIN_SECURE_LOGIN, LOGIN_MODE_ENFORCE);

	cr_assert_eq(policy_cleartext_login(&pc, false), POLICY_DENY);
	cr_assert_eq(policy_cleartext_login(&pc, true), POLICY_ALLOW);
	cr_assert_not(policy_advertise_cleartext(&pc, false));
	cr_assert(policy_advertise_cleartext(&pc, true));
}

Test(policy, plaintext_authentication_behaves_like_secure_login)
{
	struct proto_conf pc =
	    pc_with(LOGIN_PLAINTEXT_AUTHENTICATION, LOGIN_MODE_ENFORCE);

	cr_assert_eq(policy_cleartext_login(&pc, false), POLICY_DENY);
	cr_assert_eq(policy_cleartext_login(&pc, true), POLICY_ALLOW);
}

/*
 * Exchange's PlainTextAuthentication: without TLS, a mechanism that
 * sends no reusable secret (NTLM, GSSAPI) is allowed; a bearer token or a
 * password is not.  SecureLogin refuses both, PlainTextLogin neither.
 */
Test(policy, challenge_response_mechanisms_and_the_login_types)
{
	struct proto_conf pta =
	    pc_with(LOGIN_PLAINTEXT_AUTHENTICATION, LOGIN_MODE_ENFORCE);
	struct proto_conf sl = pc_with(LOGIN_SECURE_LOGIN, LOGIN_MODE_ENFORCE);
	struct proto_conf ptl =
	    pc_with(LOGIN_PLAINTEXT_LOGIN, LOGIN_MODE_ENFORCE);
	struct proto_conf sla = pc_with(LOGIN_SECURE_LOGIN, LOGIN_MODE_AUDIT);

	cr_assert_eq(policy_mech_login_type(&pta, false, NULL, false, NULL),
	    POLICY_ALLOW);
	cr_assert_eq(policy_mech_login_type(&pta, false, NULL, true, NULL),
	    POLICY_DENY);
	cr_assert_eq(policy_mech_login_type(&sl, false, NULL, false, NULL),
	    POLICY_DENY);
	cr_assert_eq(policy_mech_login_type(&sl, false, NULL, true, NULL),
	    POLICY_DENY);
	cr_assert_eq(policy_mech_login_type(&sl, true, NULL, false, NULL),
	    POLICY_ALLOW);
	cr_assert_eq(policy_mech_login_type(&ptl, false, NULL, true, NULL),
	    POLICY_ALLOW);
	cr_assert_eq(policy_mech_login_type(&sla, false, NULL, false, NULL),
	    POLICY_AUDIT);
	/* A password login is what it always was. */
	cr_assert_eq(policy_login_type(&pta, false, NULL, NULL), POLICY_DENY);
}

/* The login decision knows the mechanism through facts.no_secret. */
Test(policy, login_decision_allows_ntlm_without_tls_under_plaintext_auth)
{
	struct conf *c = load("");
	struct policy_facts f =
	    facts(PROTO_POP3, "192.0.2.1", false, "bob", NULL);

	/* Set here: the loader wants a certificate for it. */
	c->proto[PROTO_POP3].login_type = LOGIN_PLAINTEXT_AUTHENTICATION;

	cr_assert_str_eq(login(c, f), "deny LoginTypeDenied");
	f.no_secret = true;
	cr_assert_str_eq(login(c, f), "allow ");
	conf_unref(c);
}

Test(policy, audit_mode_lets_through_and_marks)
{
	struct proto_conf pc = pc_with(LOGIN_SECURE_LOGIN, LOGIN_MODE_AUDIT);

	cr_assert_eq(policy_cleartext_login(&pc, false), POLICY_AUDIT);
	cr_assert_eq(policy_cleartext_login(&pc, true), POLICY_ALLOW);
	/* Audit changes no client's behaviour: capabilities stay. */
	cr_assert(policy_advertise_cleartext(&pc, false));
}

Test(policy, login_type_exemptions)
{
	struct conf *c = load("[rule \"x\"]\npriority = 1\naction = allow\n");
	struct proto_conf *pc = &c->proto[PROTO_POP3];
	struct addrset *set = addrset_new();
	char err[128];
	bool exempt = true;

	cr_assert_eq(addrset_add(set, "192.0.2.0/28", err, sizeof(err)), 0);
	cr_assert_eq(addrset_add(set, "2001:db8::5", err, sizeof(err)), 0);
	addrset_finish(set);
	pc->login_type_exempt_ips = set;
	pc->login_type = LOGIN_SECURE_LOGIN;

	/* Enforce: the exempt range passes and says so, others do not. */
	cr_expect_eq(policy_login_type(pc, false, addr("192.0.2.15"), &exempt),
	    POLICY_ALLOW);
	cr_expect(exempt);
	cr_expect_eq(policy_login_type(pc, false, addr("192.0.2.16"), &exempt),
	    POLICY_DENY);
	cr_expect_not(exempt);
	cr_expect_eq(
	    policy_login_type(pc, false, addr("::ffff:192.0.2.1"), &exempt),
	    POLICY_ALLOW);
	cr_expect_eq(policy_login_type(pc, false, NULL, &exempt), POLICY_DENY);
	/* Over TLS the exemption is not used, so not reported. */
	cr_expect_eq(policy_login_type(pc, true, addr("192.0.2.1"), &exempt),
	    POLICY_ALLOW);
	cr_expect_not(exempt);
	cr_expect(
	    policy_advertise_cleartext_to(pc, false, addr("2001:db8::5")));
	cr_expect_not(
	    policy_advertise_cleartext_to(pc, false, addr("2001:db8::6")));

	cr_expect_str_eq(
	    login(c, facts(PROTO_POP3, "192.0.2.3", false, "a", NULL)),
	    "allow LoginTypeExempt");
	cr_expect_str_eq(
	    login(c, facts(PROTO_POP3, "192.0.2.99", false, "a", NULL)),
	    "deny LoginTypeDenied");
	cr_expect_str_eq(
	    login(c, facts(PROTO_POP3, "192.0.2.99", true, "a", NULL)),
	    "allow ");

	/* Audit: the exempt address is not audited, the others are. */
	pc->login_type_mode = LOGIN_MODE_AUDIT;
	cr_expect_str_eq(
	    login(c, facts(PROTO_POP3, "192.0.2.3", false, "a", NULL)),
	    "allow LoginTypeExempt");
	cr_expect_str_eq(
	    login(c, facts(PROTO_POP3, "192.0.2.99", false, "a", NULL)),
	    "audit AuditLoginTypeDenied");
	/* IMAP has no such setting: PlainTextLogin. */
	cr_expect_str_eq(
	    login(c, facts(PROTO_IMAP, "192.0.2.99", false, "a", NULL)),
	    "allow ");
	conf_unref(c);
}

Test(policy, exemption_from_configuration)
{
	struct conf *c = load_with("login_type_exempt_ips = 192.0.2.7,\n"
				   "    2001:db8::/64\n"
				   "login_type_exempt_ips = 198.51.100.1-"
				   "198.51.100.9\n",
	    "");
	struct proto_conf *pc = &c->proto[PROTO_POP3];
	bool exempt;

	pc->login_type = LOGIN_SECURE_LOGIN;
	cr_expect_eq(addrset_count(pc->login_type_exempt_ips), 3);
	cr_expect_eq(
	    policy_login_type(pc, false, addr("198.51.100.9"), &exempt),
	    POLICY_ALLOW);
	cr_expect(exempt);
	cr_expect_eq(
	    policy_login_type(pc, false, addr("2001:db8::1:2"), &exempt),
	    POLICY_ALLOW);
	cr_expect_eq(
	    policy_login_type(pc, false, addr("2001:db8:0:1::"), &exempt),
	    POLICY_DENY);
	cr_expect_null(c->proto[PROTO_IMAP].login_type_exempt_ips);
	conf_unref(c);
}

Test(policy, no_rules_allow)
{
	struct conf *c = load("");
	struct policy_decision d;
	struct policy_facts f =
	    facts(PROTO_IMAP, "10.1.2.3", false, NULL, NULL);

	cr_expect_eq(policy_connect(c, &f, &d), POLICY_OUTCOME_ALLOW);
	cr_expect_eq(d.reason, POLICY_REASON_NONE);
	cr_expect_not(d.pending);
	f.user = "alice";
	cr_expect_eq(policy_login(c, &f, &d), POLICY_OUTCOME_ALLOW);
	cr_expect_eq(d.reason, POLICY_REASON_NONE);
	cr_expect_null(d.name);
	cr_expect_not(policy_needs_groups(c, &f));
	conf_unref(c);
}

Test(policy, priority_order_not_file_order)
{
	struct conf *c = load("[rule \"late\"]\npriority = 20\naction = allow\n"
			      "[rule \"early\"]\npriority = 10\naction = deny\n"
			      "client_ips = 10.0.0.0/8\n");

	cr_expect_str_eq(
	    connect_(c, facts(PROTO_POP3, "10.9.9.9", false, NULL, NULL)),
	    "deny AccessRuleDenied:early");
	cr_expect_str_eq(
	    connect_(c, facts(PROTO_POP3, "11.0.0.1", false, NULL, NULL)),
	    "allow ");
	cr_expect_str_eq(c->rules[0].name, "early");
	conf_unref(c);
}

Test(policy, conditions_and_values_or)
{
	struct conf *c = load("[rule \"r\"]\npriority = 1\naction = deny\n"
			      "protocols = pop3\n"
			      "client_ips = 192.0.2.1, 198.51.100.0/24\n"
			      "usernames = alice, bob\n");

	/* All three conditions hold: denied. */
	cr_expect_str_eq(
	    login(c, facts(PROTO_POP3, "192.0.2.1", true, "bob", NULL)),
	    "deny AccessRuleDenied:r");
	cr_expect_str_eq(
	    login(c, facts(PROTO_POP3, "198.51.100.200", true, "alice", NULL)),
	    "deny AccessRuleDenied:r");
	/* Any one fails: the rule does not apply. */
	cr_expect_str_eq(
	    login(c, facts(PROTO_IMAP, "192.0.2.1", true, "bob", NULL)),
	    "allow ");
	cr_expect_str_eq(
	    login(c, facts(PROTO_POP3, "192.0.2.2", true, "bob", NULL)),
	    "allow ");
	cr_expect_str_eq(
	    login(c, facts(PROTO_POP3, "192.0.2.1", true, "carol", NULL)),
	    "allow ");
	conf_unref(c);
}

Test(policy, exception_skips_to_next_rule)
{
	/* "Deny everyone outside 10.0.0.0/8 except the scanner." */
	struct conf *c = load("[rule \"outside\"]\npriority = 10\n"
			      "action = deny\n"
			      "except_client_ips = 10.0.0.0/8, 192.0.2.10\n"
			      "[rule \"scanner-audit\"]\npriority = 20\n"
			      "action = audit\nclient_ips = 192.0.2.10\n");

	cr_expect_str_eq(
	    connect_(c, facts(PROTO_IMAP, "203.0.113.5", false, NULL, NULL)),
	    "deny AccessRuleDenied:outside");
	cr_expect_str_eq(
	    connect_(c, facts(PROTO_IMAP, "10.200.1.1", false, NULL, NULL)),
	    "allow ");
	/* Skipped by its exception, the scanner meets the next rule. */
	cr_expect_str_eq(
	    connect_(c, facts(PROTO_IMAP, "192.0.2.10", false, NULL, NULL)),
	    "audit AuditAccessRuleDenied:scanner-audit");
	cr_expect_str_eq(
	    login(c, facts(PROTO_IMAP, "192.0.2.10", false, "x", NULL)),
	    "audit AuditAccessRuleDenied:scanner-audit");
	conf_unref(c);
}

Test(policy, first_applicable_rule_decides)
{
	struct conf *c = load("[rule \"allow-alice\"]\npriority = 1\n"
			      "action = allow\nusernames = alice\n"
			      "[rule \"deny-all\"]\npriority = 2\n"
			      "action = deny\n");

	cr_expect_str_eq(
	    login(c, facts(PROTO_POP3, "10.0.0.1", true, "alice", NULL)),
	    "allow ");
	cr_expect_str_eq(
	    login(c, facts(PROTO_POP3, "10.0.0.1", true, "bob", NULL)),
	    "deny AccessRuleDenied:deny-all");

	/* At connect the user is unknown: the allow rule could apply, so
	 * the deny rule after it must wait for the login. */
	cr_expect_str_eq(
	    connect_(c, facts(PROTO_POP3, "10.0.0.1", false, NULL, NULL)),
	    "allow  pending");
	conf_unref(c);
}

Test(policy, connect_time_split)
{
	struct conf *c = load("[rule \"vip\"]\npriority = 1\naction = allow\n"
			      "client_ips = 10.0.0.0/8\nusernames = boss\n"
			      "[rule \"block\"]\npriority = 2\naction = deny\n"
			      "client_ips = 203.0.113.0/24\n"
			      "[rule \"users\"]\npriority = 3\naction = deny\n"
			      "usernames = guest*\n");
	struct policy_decision d;
	struct policy_facts f;

	/* The user rule's address condition fails: passed over at connect,
	 * and the address rule decides before any password is sent. */
	f = facts(PROTO_IMAP, "203.0.113.9", false, NULL, NULL);
	cr_expect_eq(policy_connect(c, &f, &d), POLICY_OUTCOME_DENY);
	cr_expect_eq(d.reason, POLICY_REASON_RULE);
	cr_expect_str_eq(d.name, "block");
	/* Its address condition holds: the decision waits. */
	f = facts(PROTO_IMAP, "10.0.0.1", false, NULL, NULL);
	cr_expect_eq(policy_connect(c, &f, &d), POLICY_OUTCOME_ALLOW);
	cr_expect(d.pending);
	/* A user rule with no address condition stops nothing before it. */
	f = facts(PROTO_IMAP, "198.51.100.1", false, NULL, NULL);
	cr_expect_eq(policy_connect(c, &f, &d), POLICY_OUTCOME_ALLOW);
	cr_expect(d.pending);
	/* The user given at connect is ignored. */
	f = facts(PROTO_IMAP, "198.51.100.1", false, "guest1", NULL);
	cr_expect_eq(policy_connect(c, &f, &d), POLICY_OUTCOME_ALLOW);
	cr_expect_str_eq(login(c, f), "deny AccessRuleDenied:users");
	cr_expect_str_eq(
	    login(c, facts(PROTO_IMAP, "10.0.0.1", false, "boss", NULL)),
	    "allow ");
	conf_unref(c);
}

Test(policy, disabled_rule_is_skipped)
{
	struct conf *c = load("[rule \"off\"]\npriority = 1\naction = deny\n"
			      "enabled = no\n");

	cr_expect_str_eq(
	    connect_(c, facts(PROTO_POP3, "10.0.0.1", false, NULL, NULL)),
	    "allow ");
	cr_expect_str_eq(
	    login(c, facts(PROTO_POP3, "10.0.0.1", false, "u", NULL)),
	    "allow ");
	conf_unref(c);
}

Test(policy, address_forms)
{
	static const struct {
		const char *ip;
		bool in;
	} cases[] = {
	    {"10.0.0.0", true},
	    {"10.255.255.255", true},
	    {"9.255.255.255", false},
	    {"11.0.0.0", false},
	    {"::ffff:10.1.1.1", true},
	    {"192.0.2.10", true},
	    {"192.0.2.20", true},
	    {"192.0.2.9", false},
	    {"192.0.2.21", false},
	    {"2001:db8::", true},
	    {"2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", true},
	    {"2001:db9::", false},
	    {"fe80::1", true},
	    {"fe80::2", false},
	    {"2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", false},
	};
	struct conf *c = load("[rule \"r\"]\npriority = 1\naction = deny\n"
			      "client_ips = 10.0.0.0/8,\n"
			      "    192.0.2.10-192.0.2.20\n"
			      "client_ips = 2001:db8::/32, fe80::1\n");
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		cr_expect_str_eq(connect_(c, facts(PROTO_POP3, cases[i].ip,
						 false, NULL, NULL)),
		    cases[i].in ? "deny AccessRuleDenied:r" : "allow ", "%s",
		    cases[i].ip);
	/* No address known: the condition does not hold. */
	cr_expect_str_eq(
	    connect_(c, facts(PROTO_POP3, NULL, false, NULL, NULL)), "allow ");
	conf_unref(c);
}

Test(policy, many_ranges_stay_sorted)
{
	char *text;
	struct conf *c;
	size_t n = 0;
	int i;

	/* 2000 disjoint /24s over repeated keys: one binary search. */
	text = malloc(64 * 2100);
	n += (size_t)sprintf(text, "[rule \"many\"]\npriority = 1\n"
				   "action = deny\n");
	for (i = 0; i < 2000; i++)
		n += (size_t)sprintf(text + n, "client_ips = 10.%d.%d.0/24\n",
		    i / 100, (i % 100) * 2);
	c = load(text);
	cr_expect_eq(addrset_count(c->rules[0].cond.client_ips), 2000);
	cr_expect_str_eq(
	    connect_(c, facts(PROTO_POP3, "10.19.198.77", false, NULL, NULL)),
	    "deny AccessRuleDenied:many");
	cr_expect_str_eq(
	    connect_(c, facts(PROTO_POP3, "10.19.199.77", false, NULL, NULL)),
	    "allow ");
	free(text);
	conf_unref(c);
}

Test(policy, user_patterns)
{
	static const struct {
		const char *pattern, *user;
		bool match;
	} cases[] = {
	    {"alice", "alice", true},
	    {"alice", "ALICE", true},
	    {"alice", "alice@example.org", true},
	    {"alice", "EXAMPLE\\alice", true},
	    {"alice", "alice2", false},
	    {"alice", "malice", false},
	    {"ali*", "Alice@example.org", true},
	    {"*ce", "EXAMPLE\\alice", true},
	    {"a*c*e", "abcde", true},
	    {"a*c*e", "abcd", false},
	    {"*", "anyone@anywhere", true},
	    {"*", "", true},
	    {"*@example.org", "bob@EXAMPLE.org", true},
	    {"*@example.org", "bob@example.org.evil", false},
	    {"*@example.org", "bob", false},
	    {"*@example.org", "EXAMPLE\\bob", false},
	    {"EXAMPLE\\*", "example\\bob", true},
	    {"EXAMPLE\\*", "bob@example", false},
	    {"bob@example.org", "bob@example.org", true},
	    {"bob@example.org", "bob", false},
	    {"svc-*", "svc-scan@corp.example", true},
	    {"**x**", "x", true},
	    {"a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false},
	    /* The user part of user@a@b is "user@a". */
	    {"user", "user@a@b", false},
	    {"user@a", "user@a@b", false},
	    {"user@a*", "user@a@b", true},
	};
	size_t i, len;
	const char *bare;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		cr_expect_eq(policy_user_match(cases[i].pattern, cases[i].user),
		    cases[i].match, "%s vs %s", cases[i].pattern,
		    cases[i].user);
	bare = username_bare("DOM\\u@x", &len);
	cr_expect_eq(len, 3);
	cr_expect_eq(strncmp(bare, "u@x", len), 0);
	bare = username_bare("u@x@y", &len);
	cr_expect_eq(len, 3);
	cr_expect_eq(strncmp(bare, "u@x", len), 0);
}

Test(policy, usernames_and_exceptions)
{
	struct conf *c = load("[rule \"r\"]\npriority = 5\naction = deny\n"
			      "usernames = *@partner.example\n"
			      "except_usernames = boss@*\n");

	cr_expect_str_eq(login(c, facts(PROTO_POP3, "10.0.0.1", true,
				      "joe@partner.example", NULL)),
	    "deny AccessRuleDenied:r");
	cr_expect_str_eq(login(c, facts(PROTO_POP3, "10.0.0.1", true,
				      "boss@partner.example", NULL)),
	    "allow ");
	cr_expect_str_eq(login(c, facts(PROTO_POP3, "10.0.0.1", true,
				      "joe@example.org", NULL)),
	    "allow ");
	conf_unref(c);
}

Test(policy, authentication_condition)
{
	struct conf *c = load("[rule \"clear\"]\npriority = 1\naction = deny\n"
			      "authentication = cleartext_without_tls\n"
			      "except_client_ips = 127.0.0.1\n"
			      "[rule \"tls\"]\npriority = 2\naction = audit\n"
			      "authentication = tls\nprotocols = imap\n");

	cr_expect_str_eq(
	    login(c, facts(PROTO_POP3, "10.0.0.1", false, "u", NULL)),
	    "deny AccessRuleDenied:clear");
	cr_expect_str_eq(
	    login(c, facts(PROTO_POP3, "127.0.0.1", false, "u", NULL)),
	    "allow ");
	cr_expect_str_eq(
	    login(c, facts(PROTO_POP3, "10.0.0.1", true, "u", NULL)), "allow ");
	cr_expect_str_eq(
	    login(c, facts(PROTO_IMAP, "10.0.0.1", true, "u", NULL)),
	    "audit AuditAccessRuleDenied:tls");
	/* The authentication is known only at login. */
	cr_expect_str_eq(
	    connect_(c, facts(PROTO_POP3, "10.0.0.1", false, NULL, NULL)),
	    "allow  pending");
	/* Its exception holds and the other rule is for IMAP: no rule
	 * can apply to this POP3 client, decided at once. */
	cr_expect_str_eq(
	    connect_(c, facts(PROTO_POP3, "127.0.0.1", false, NULL, NULL)),
	    "allow ");
	cr_expect_str_eq(
	    connect_(c, facts(PROTO_IMAP, "127.0.0.1", false, NULL, NULL)),
	    "allow  pending");
	conf_unref(c);
}

Test(policy, member_of_needs_groups)
{
	struct conf *c = load("[rule \"pop-only-members\"]\npriority = 1\n"
			      "action = deny\nprotocols = pop3\n"
			      "except_member_of = POP3 Access\n"
			      "[rule \"scanners\"]\npriority = 2\n"
			      "action = audit\nmember_of = Scanners\n"
			      "member_of = IMAP Access\n");
	struct group_list pop = groups_of("CN=POP3 Access,OU=G,DC=example");
	struct group_list none = {0}, scan = groups_of("scanners");
	struct policy_facts f;

	f = facts(PROTO_POP3, "10.0.0.1", true, "alice", NULL);
	cr_expect(policy_needs_groups(c, &f));
	cr_expect_str_eq(login(c, f), "tempfail GroupLookupFailed");
	f.groups = &pop;
	cr_expect_str_eq(login(c, f), "allow ");
	f.groups = &none;
	cr_expect_str_eq(login(c, f), "deny AccessRuleDenied:pop-only-members");
	f = facts(PROTO_IMAP, "10.0.0.1", true, "alice", &scan);
	cr_expect_str_eq(login(c, f), "audit AuditAccessRuleDenied:scanners");
	f.groups = &none;
	cr_expect_str_eq(login(c, f), "allow ");
	/* The member_of rules wait for the login at connect. */
	cr_expect_str_eq(
	    connect_(c, facts(PROTO_POP3, "10.0.0.1", false, NULL, NULL)),
	    "allow  pending");
	group_list_clear(&pop);
	group_list_clear(&scan);
	conf_unref(c);
}

Test(policy, groups_not_needed_when_decided_before)
{
	struct conf *c = load("[rule \"net\"]\npriority = 1\naction = deny\n"
			      "client_ips = 203.0.113.0/24\n"
			      "[rule \"grp\"]\npriority = 2\naction = deny\n"
			      "member_of = Scanners\n");
	struct policy_facts f;

	f = facts(PROTO_POP3, "203.0.113.1", true, "u", NULL);
	cr_expect_not(policy_needs_groups(c, &f));
	cr_expect_str_eq(login(c, f), "deny AccessRuleDenied:net");
	f = facts(PROTO_POP3, "10.0.0.1", true, "u", NULL);
	cr_expect(policy_needs_groups(c, &f));
	/* A refusing login type is decided before the groups are needed. */
	c->proto[PROTO_POP3].login_type = LOGIN_SECURE_LOGIN;
	f.tls = false;
	cr_expect_not(policy_needs_groups(c, &f));
	cr_expect_str_eq(login(c, f), "deny LoginTypeDenied");
	conf_unref(c);
}

Test(policy, required_group)
{
	struct conf *c = load_with("required_group = pop3 access\n", "");
	struct group_list pop = groups_of("CN=POP3 Access\\, EU,DC=x");
	struct group_list both = groups_of("Other,CN=POP3 Access,DC=x");
	struct policy_decision d;
	struct policy_facts f;

	f = facts(PROTO_POP3, "10.0.0.1", true, "alice", NULL);
	cr_expect(policy_needs_groups(c, &f));
	cr_expect_eq(policy_login(c, &f, &d), POLICY_OUTCOME_TEMPFAIL);
	cr_expect_eq(d.reason, POLICY_REASON_NO_GROUPS);
	f.groups = &pop; /* "POP3 Access, EU" is another group */
	cr_expect_eq(policy_login(c, &f, &d), POLICY_OUTCOME_DENY);
	cr_expect_eq(d.reason, POLICY_REASON_NOT_IN_GROUP);
	cr_expect_str_eq(d.name, "pop3 access");
	cr_expect_str_eq(login(c, f), "deny NotInGroup:pop3 access");
	f.groups = &both;
	cr_expect_str_eq(login(c, f), "allow ");
	/* IMAP requires nothing. */
	f = facts(PROTO_IMAP, "10.0.0.1", true, "alice", NULL);
	cr_expect_not(policy_needs_groups(c, &f));
	cr_expect_str_eq(login(c, f), "allow ");
	group_list_clear(&pop);
	group_list_clear(&both);
	conf_unref(c);
}

Test(policy, audits_combine_with_refusals)
{
	struct conf *c = load("[rule \"watch\"]\npriority = 1\naction = audit\n"
			      "usernames = old*\n"
			      "[rule \"never\"]\npriority = 2\naction = deny\n"
			      "usernames = bad\n");
	struct group_list none = {0};

	c->proto[PROTO_POP3].login_type = LOGIN_SECURE_LOGIN;
	c->proto[PROTO_POP3].login_type_mode = LOGIN_MODE_AUDIT;
	cr_expect_str_eq(
	    login(c, facts(PROTO_POP3, "10.0.0.1", false, "olddevice", NULL)),
	    "audit AuditLoginTypeDenied;AuditAccessRuleDenied:watch");
	cr_expect_str_eq(
	    login(c, facts(PROTO_POP3, "10.0.0.1", false, "bad", NULL)),
	    "deny AccessRuleDenied:never;AuditLoginTypeDenied");
	cr_assert_not_null(
	    c->proto[PROTO_POP3].required_group = strdup("Scanners"));
	cr_expect_str_eq(
	    login(c, facts(PROTO_POP3, "10.0.0.1", true, "olddevice", &none)),
	    "deny NotInGroup:Scanners;AuditAccessRuleDenied:watch");
	conf_unref(c);
}

/* ErrMsg is for failures: an allowed or audited login has no refusal. */
Test(policy, refusal_leaves_audits_and_exemptions_out)
{
	struct conf *c = load("[rule \"watch\"]\npriority = 1\naction = audit\n"
			      "usernames = old*\n"
			      "[rule \"never\"]\npriority = 2\naction = deny\n"
			      "usernames = bad\n");
	struct policy_facts f;
	struct policy_decision d;
	char buf[256];

	c->proto[PROTO_POP3].login_type = LOGIN_SECURE_LOGIN;
	c->proto[PROTO_POP3].login_type_mode = LOGIN_MODE_AUDIT;
	f = facts(PROTO_POP3, "10.0.0.1", false, "olddevice", NULL);
	cr_assert_eq(policy_login(c, &f, &d), POLICY_OUTCOME_AUDIT);
	cr_expect(d.audit_login_type);
	cr_expect_str_eq(d.audit_rule, "watch");
	cr_expect_str_eq(policy_refusal(&d, buf, sizeof(buf)), "");
	f = facts(PROTO_POP3, "10.0.0.1", false, "bad", NULL);
	cr_assert_eq(policy_login(c, &f, &d), POLICY_OUTCOME_DENY);
	cr_expect_str_eq(policy_refusal(&d, buf, sizeof(buf)),
	    "AccessRuleDenied:never");
	conf_unref(c);

	memset(&d, 0, sizeof(d));
	d.verdict = POLICY_OUTCOME_ALLOW;
	d.login_type_exempt = true;
	cr_expect_str_eq(policy_refusal(&d, buf, sizeof(buf)), "");
	d.verdict = POLICY_OUTCOME_TEMPFAIL;
	cr_expect_str_eq(policy_refusal(&d, buf, 4), "Gro");
}

Test(policy, errmsg_truncates_safely)
{
	struct policy_decision d = {0};
	char buf[8];

	d.verdict = POLICY_OUTCOME_DENY;
	d.reason = POLICY_REASON_RULE;
	d.name = "a-very-long-rule-name";
	d.login_type_exempt = true;
	policy_errmsg(&d, buf, sizeof(buf));
	cr_expect_str_eq(buf, "AccessR");
	cr_expect_str_eq(policy_outcome_name(POLICY_OUTCOME_TEMPFAIL),
	    "tempfail");
}

/* The route_rule of the login decision for user with groups csv. */
static const struct rule *
route_rule(const struct conf *c, const char *user, const char *csv)
{
	struct group_list gl = groups_of(csv);
	struct policy_facts f = facts(PROTO_IMAP, "10.0.0.1", true, user, &gl);
	struct policy_decision d;

	policy_login(c, &f, &d);
	group_list_clear(&gl);
	return d.route_rule;
}

Test(policy, the_allow_rule_that_decides_gives_its_route)
{
	struct conf *c = load("[rule \"wave\"]\npriority = 10\naction = allow\n"
			      "member_of = IMAP Access\nroute = default\n"
			      "[rule \"rest\"]\npriority = 20\naction = allow\n"
			      "usernames = alice, dave\n");

	cr_assert_eq(c->rules[0].route_index, (int)c->routing.nnamed);
	cr_expect_eq(c->rules[1].route_index, -1);
	cr_expect_eq(route_rule(c, "alice", "IMAP Access"), &c->rules[0]);
	/* Another rule decides: its lack of a route is what counts. */
	cr_expect_null(route_rule(c, "dave", "Scanners"));
	cr_expect_null(route_rule(c, "erin", "Scanners"));
	conf_unref(c);
}

/*
 * A relayed NTLM exchange before its Type 3, or GSSAPI: no user.  A rule
 * that needs one decides nothing without it; rules that need none still
 * decide, and route.
 */
Test(policy, rules_without_the_user)
{
	struct conf *c = load("[rule \"net\"]\npriority = 1\naction = deny\n"
			      "client_ips = 203.0.113.0/24\n"
			      "[rule \"lan\"]\npriority = 2\naction = allow\n"
			      "client_ips = 10.1.0.0/16\n"
			      "[rule \"no mallory\"]\npriority = 3\n"
			      "action = deny\nusernames = mallory\n"
			      "[rule \"grp\"]\npriority = 4\naction = deny\n"
			      "member_of = Scanners\n");
	struct policy_decision d;
	struct policy_facts f;

	f = facts(PROTO_POP3, "203.0.113.1", true, NULL, NULL);
	cr_expect_str_eq(login(c, f), "deny AccessRuleDenied:net");
	f = facts(PROTO_POP3, "10.1.2.3", true, NULL, NULL);
	cr_expect_str_eq(login(c, f), "allow ");
	f = facts(PROTO_POP3, "10.0.0.1", true, NULL, NULL);
	cr_expect_eq(policy_login(c, &f, &d), POLICY_OUTCOME_DENY);
	cr_expect_eq(d.reason, POLICY_REASON_NO_USER);
	cr_expect_str_eq(login(c, f), "deny UserUnknown:no mallory");
	/* No group lookup can help without a user. */
	cr_expect_not(policy_needs_groups(c, &f));
	conf_unref(c);
	c = load("[rule \"grp\"]\npriority = 1\naction = deny\n"
		 "member_of = Scanners\n");
	f = facts(PROTO_POP3, "10.0.0.1", true, NULL, NULL);
	cr_expect_not(policy_needs_groups(c, &f));
	cr_expect_str_eq(login(c, f), "deny UserUnknown:grp");
	conf_unref(c);
}

/*
 * The way the client logs in is known without the user: a rule on
 * authentication decides a GSSAPI session (no user, none to come) alone,
 * and with client_ips; one that also needs the user cannot.
 */
Test(policy, authentication_rules_without_the_user)
{
	struct conf *c = load("[rule \"tls only\"]\npriority = 1\n"
			      "action = deny\nexcept_authentication = tls\n"
			      "except_client_ips = 10.1.0.0/16\n"
			      "[rule \"lan over tls\"]\npriority = 2\n"
			      "action = allow\nauthentication = tls\n"
			      "client_ips = 10.1.0.0/16\nprotocols = imap\n"
			      "route = new\n"
			      "[rule \"named\"]\npriority = 3\naction = deny\n"
			      "authentication = tls\nusernames = mallory\n"
			      "[backend \"new\"]\nimap = 192.0.2.7:143\n");
	struct policy_decision d;
	struct policy_facts f;

	/* GSSAPI without TLS, from outside the exception: refused. */
	f = gssapi_facts(PROTO_IMAP, "203.0.113.1", false);
	cr_expect_str_eq(login(c, f), "deny AccessRuleDenied:tls only");
	/* From the LAN over TLS: allowed and routed by the second rule. */
	f = gssapi_facts(PROTO_IMAP, "10.1.2.3", true);
	cr_expect_eq(policy_login(c, &f, &d), POLICY_OUTCOME_ALLOW);
	cr_assert_not_null(d.route_rule);
	cr_expect_str_eq(d.route_rule->name, "lan over tls");
	/* Over TLS from elsewhere: the third rule needs the user. */
	f = gssapi_facts(PROTO_IMAP, "203.0.113.1", true);
	cr_expect_eq(policy_login(c, &f, &d), POLICY_OUTCOME_DENY);
	cr_expect_eq(d.reason, POLICY_REASON_NO_USER);
	cr_expect_str_eq(login(c, f), "deny UserUnknown:named");
	/* From the LAN without TLS no rule applies. */
	f = gssapi_facts(PROTO_IMAP, "10.1.2.3", false);
	cr_expect_str_eq(login(c, f), "allow ");
	conf_unref(c);
}

Test(policy, ntlm_without_tls_sends_no_cleartext_credentials)
{
	struct conf *c = load("[rule \"no cleartext\"]\npriority = 1\n"
			      "action = deny\n"
			      "authentication = cleartext_without_tls\n");
	struct policy_facts f;

	/* PLAIN without TLS: cleartext credentials, refused. */
	f = facts(PROTO_IMAP, "203.0.113.1", false, "alice", NULL);
	cr_expect_str_eq(login(c, f), "deny AccessRuleDenied:no cleartext");
	/* NTLM without TLS sends none: the rule does not apply. */
	f.no_secret = true;
	cr_expect_str_eq(login(c, f), "allow ");
	/* Nor to GSSAPI, which names no user. */
	f = gssapi_facts(PROTO_IMAP, "203.0.113.1", false);
	cr_expect_str_eq(login(c, f), "allow ");
	conf_unref(c);
}

Test(policy, required_group_without_the_user)
{
	struct conf *c = load_with("required_group = pop3 access\n", "");
	struct policy_facts f;

	/* NTLM before its Type 3 (the user will come), and GSSAPI. */
	f = facts(PROTO_POP3, "10.0.0.1", true, NULL, NULL);
	cr_expect_str_eq(login(c, f), "deny UserUnknown:pop3 access");
	f.user_hidden = true;
	cr_expect_str_eq(login(c, f), "deny UserUnknown:pop3 access");
	conf_unref(c);
	c = load_with("required_group = pop3 access\n"
		      "gssapi_without_group = allow\n",
	    "");
	f = facts(PROTO_POP3, "10.0.0.1", true, NULL, NULL);
	f.user_hidden = true;
	cr_expect_str_eq(login(c, f), "allow ");
	/* Only for GSSAPI: NTLM's user is checked when it comes. */
	f.user_hidden = false;
	cr_expect_str_eq(login(c, f), "deny UserUnknown:pop3 access");
	/* A named user still needs the group. */
	f = facts(PROTO_POP3, "10.0.0.1", true, "alice", NULL);
	cr_expect_str_eq(login(c, f), "tempfail GroupLookupFailed");
	conf_unref(c);
}
