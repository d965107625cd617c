/*
 * Unit tests of the groups module: group lists and DN matching, LDAP
 * filter escaping, the groups file, and the lookup service (delivery on
 * the event loop, cache, cancellation, failures, the back-off from a
 * directory that is down) with a fake directory and with unreachable or
 * silent LDAP servers.
 */
#include "config.h"

#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <event2/event.h>

#include "conf.h"
#include "groups.h"
#include "tmpdir_fixture.h"

static void
setup(void)
{
	signal(SIGPIPE, SIG_IGN);
	tmpdir_make("test_groups");
}

TestSuite(groups, .init = setup, .fini = tmpdir_remove);

static struct group_list
list_of(const char *const *names)
{
	struct group_list gl = {0};

	for (; *names != NULL; names++)
		cr_assert_eq(group_list_add(&gl, *names), 0);
	return gl;
}

Test(groups, dn_cn)
{
	static const struct {
		const char *dn, *cn;
	} cases[] = {
	    {"CN=POP3 Access,OU=Groups,DC=example,DC=org", "POP3 Access"},
	    {"cn=imap,dc=x", "imap"},
	    {" cn = spaced ,dc=x", "spaced"},
	    {"CN=Smith\\, John,OU=x", "Smith, John"},
	    {"CN=a\\2Cb,DC=x", "a,b"},
	    {"CN=multi+UID=x,DC=y", "multi"},
	    {"CN=end\\", NULL},
	    {"OU=Groups,DC=x", NULL},
	    {"CNAME=x", NULL},
	    {"CN=,DC=x", NULL},
	    {"plain name", NULL},
	};
	char buf[64];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = groups_dn_cn(cases[i].dn, buf, sizeof(buf));

		if (cases[i].cn == NULL)
			cr_expect_eq(rc, -1, "%s", cases[i].dn);
		else {
			cr_expect_eq(rc, 0, "%s", cases[i].dn);
			cr_expect_str_eq(buf, cases[i].cn);
		}
	}
	/* Too long for the buffer: refused, not cut. */
	cr_expect_eq(groups_dn_cn("CN=abcdefgh,DC=x", buf, 5), -1);
}

Test(groups, list_matching)
{
	static const char *const names[] = {
	    "CN=POP3 Access,OU=Groups,DC=example,DC=org", "Helpdesk",
	    "OU=Staff,DC=example,DC=org", NULL};
	struct group_list gl = list_of(names);

	cr_expect(group_list_has(&gl, "POP3 Access"));
	cr_expect(group_list_has(&gl, "pop3 access"));
	cr_expect(group_list_has(&gl, "cn=pop3 access,ou=groups,dc=example,"
				      "dc=org"));
	cr_expect(group_list_has(&gl, "HELPDESK"));
	cr_expect_not(group_list_has(&gl, "POP3"));
	cr_expect_not(group_list_has(&gl, "Groups"));
	/* Only the first RDN counts, and only when it is a CN. */
	cr_expect_not(group_list_has(&gl, "Staff"));
	cr_expect_not(group_list_has(&gl, "CN=POP3 Access,DC=other"));
	group_list_clear(&gl);
	cr_expect_eq(gl.n, 0);
	cr_expect_not(group_list_has(&gl, "Helpdesk"));
}

Test(groups, filter_escaping)
{
	char buf[256];

	cr_expect_eq(groups_ldap_filter("(sAMAccountName=%u)", "alice", buf,
			 sizeof(buf)),
	    0);
	cr_expect_str_eq(buf, "(sAMAccountName=alice)");
	cr_expect_eq(groups_ldap_filter("(sAMAccountName=%u)", "EXAMPLE\\bob",
			 buf, sizeof(buf)),
	    0);
	cr_expect_str_eq(buf, "(sAMAccountName=bob)");
	cr_expect_eq(groups_ldap_filter("(userPrincipalName=%U)",
			 "bob@example.org", buf, sizeof(buf)),
	    0);
	cr_expect_str_eq(buf, "(userPrincipalName=bob@example.org)");
	/* RFC 4515: * ( ) \ are escaped as \2a \28 \29 \5c. */
	cr_expect_eq(groups_ldap_filter("(&(uid=%u)(x=%U))", "*)(uid=*", buf,
			 sizeof(buf)),
	    0);
	cr_expect_str_eq(buf, "(&(uid=\\2a\\29\\28uid=\\2a)(x=\\2a\\29\\28uid="
			      "\\2a))");
	cr_expect_eq(groups_ldap_filter("(cn=%U)", "DOM\\a*", buf, sizeof(buf)),
	    0);
	cr_expect_str_eq(buf, "(cn=DOM\\5ca\\2a)");
	cr_expect_eq(groups_ldap_filter("(x=100%%%u)", "u", buf, sizeof(buf)),
	    0);
	cr_expect_str_eq(buf, "(x=100%u)");
	/* Non-ASCII UTF-8 goes through as it is. */
	cr_expect_eq(
	    groups_ldap_filter("(uid=%u)", "j\xc3\xb6rg", buf, sizeof(buf)), 0);
	cr_expect_str_eq(buf, "(uid=j\xc3\xb6rg)");
	/* Unknown sequences and overflow are refused. */
	cr_expect_eq(groups_ldap_filter("(uid=%s)", "u", buf, sizeof(buf)), -1);
	cr_expect_eq(groups_ldap_filter("(uid=%", "u", buf, sizeof(buf)), -1);
	cr_expect_eq(groups_ldap_filter("(uid=%u)", "abc", buf, 9), -1);
	cr_expect_eq(groups_ldap_filter("(uid=%u)", "abc", buf, 10), 0);
	cr_expect_eq(groups_ldap_filter("(uid=%u)", "a*", buf, 10), -1);
	cr_expect_eq(groups_ldap_filter("(uid=%u)", "a*", buf, 11), 0);
	cr_expect_str_eq(buf, "(uid=a\\2a)");
}

static void
write_groups(const char *text)
{
	char p[PATH_MAX];
	FILE *fp;

	snprintf(p, sizeof(p), "%s/groups", tmpdir);
	cr_assert_not_null(fp = fopen(p, "w"));
	fputs(text, fp);
	cr_assert_eq(fclose(fp), 0);
}

static char errors[2048];

static void
collect(void *arg, int line, const char *msg)
{
	size_t n = strlen(errors);

	(void)arg;
	snprintf(errors + n, sizeof(errors) - n, "%d: %s\n", line, msg);
}

static struct groups_file *
load_groups(const char *text)
{
	char p[PATH_MAX];

	errors[0] = '\0';
	write_groups(text);
	snprintf(p, sizeof(p), "%s/groups", tmpdir);
	return groups_file_load(p, collect, NULL);
}

/* The groups of user as "a,b" in file order of first mention. */
static const char *
file_groups(const struct groups_file *gf, const char *user)
{
	static char out[256];
	struct group_list gl = {0};
	size_t i, n = 0;

	out[0] = '\0';
	cr_assert_eq(groups_file_lookup(gf, user, &gl), 0);
	for (i = 0; i < gl.n; i++)
		n += (size_t)snprintf(out + n, sizeof(out) - n, "%s%s",
		    i ? "," : "", gl.v[i]);
	group_list_clear(&gl);
	return out;
}

Test(groups, file_parsing_and_lookup)
{
	struct groups_file *gf =
	    load_groups("\xEF\xBB\xBF# POP3 and IMAP access\n"
			"POP3 Access: alice, Bob,\n"
			"    carol@example.org,\n"
			"\tEXAMPLE\\dave\n"
			"; another comment\n"
			"\n"
			"IMAP Access : alice\r\n"
			"pop3 access: erin, alice\n"
			"Empty:\n");

	cr_assert_not_null(gf, "%s", errors);
	cr_expect_eq(groups_file_count(gf), 3);
	cr_expect(groups_file_has_group(gf, "POP3 ACCESS"));
	cr_expect(groups_file_has_group(gf, "empty"));
	cr_expect_not(groups_file_has_group(gf, "Nope"));
	cr_expect_str_eq(file_groups(gf, "alice"), "POP3 Access,IMAP Access");
	cr_expect_str_eq(file_groups(gf, "ALICE@example.org"),
	    "POP3 Access,IMAP Access");
	cr_expect_str_eq(file_groups(gf, "OTHER\\Alice"),
	    "POP3 Access,IMAP Access");
	cr_expect_str_eq(file_groups(gf, "bob"), "POP3 Access");
	cr_expect_str_eq(file_groups(gf, "erin"), "POP3 Access");
	/* Qualified members match only the whole login name. */
	cr_expect_str_eq(file_groups(gf, "carol@EXAMPLE.org"), "POP3 Access");
	cr_expect_str_eq(file_groups(gf, "carol"), "");
	cr_expect_str_eq(file_groups(gf, "carol@other.org"), "");
	cr_expect_str_eq(file_groups(gf, "example\\DAVE"), "POP3 Access");
	cr_expect_str_eq(file_groups(gf, "dave"), "");
	cr_expect_str_eq(file_groups(gf, "nobody"), "");
	cr_expect_str_eq(file_groups(gf, "alic"), "");
	groups_file_free(gf);
}

Test(groups, file_errors)
{
	char p[PATH_MAX];

	cr_expect_null(load_groups("  indented: first\n"
				   "G: ok\n"
				   "no separator\n"
				   " : x\n"
				   "H: a*, b:c, d\x01x\n"));
	cr_expect_str_eq(errors,
	    "1: indented line without a group line before it\n"
	    "3: expected 'Group Name: user, user, ...'\n"
	    "4: indented line without a group line before it\n"
	    "5: 'a*' is not a user name (no blanks, '*' or ':')\n"
	    "5: 'b:c' is not a user name (no blanks, '*' or ':')\n"
	    "5: 'd\x01x' is not a user name (no blanks, '*' or ':')\n");
	errors[0] = '\0';
	snprintf(p, sizeof(p), "%s/none", tmpdir);
	cr_expect_null(groups_file_load(p, collect, NULL));
	cr_expect_str_eq(errors, "0: cannot open: No such file or directory\n");
}

/* A configuration snapshot made by hand, as conf_load() would. */
static struct conf *
make_conf(const char *uri, unsigned timeout_ms, unsigned ttl_ms)
{
	static uint64_t serial = 1000;
	struct conf *c = calloc(1, sizeof(*c));

	cr_assert_not_null(c);
	atomic_init(&c->refs, 1);
	c->path = strdup("test");
	c->serial = ++serial;
	c->groups.ldap_uri = uri ? strdup(uri) : NULL;
	c->groups.ldap_base = strdup("dc=example,dc=org");
	c->groups.ldap_user_filter = strdup("(uid=%u)");
	c->groups.ldap_group_attribute = strdup("memberOf");
	c->groups.ldap_starttls = true;
	c->groups.ldap_tls_verify = true;
	c->groups.ldap_timeout_ms = timeout_ms;
	c->groups.ldap_threads = 2;
	c->groups.cache_ttl_ms = ttl_ms;
	return c;
}

/* The fake directory: counts calls, can block, can fail. */
static pthread_mutex_t fake_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t fake_cv = PTHREAD_COND_INITIALIZER;
static int fake_calls, fake_running;
static bool fake_block, fake_fail, fake_down;

/* What the fake directory holds in the route attribute. */
static char fake_route[64] = "mbx1";

static int
fake_source(const struct groups_conf *gc, uint64_t serial, const char *user,
    struct group_list *out, char *err, size_t errlen)
{
	(void)gc;
	(void)serial;
	pthread_mutex_lock(&fake_mu);
	fake_calls++;
	fake_running++;
	pthread_cond_broadcast(&fake_cv);
	while (fake_block)
		pthread_cond_wait(&fake_cv, &fake_mu);
	fake_running--;
	pthread_mutex_unlock(&fake_mu);
	if (fake_fail) {
		snprintf(err, errlen, "fake directory is down");
		return -1;
	}
	if (fake_down) {
		snprintf(err, errlen, "fake directory is unreachable");
		return GROUPS_SOURCE_DOWN;
	}
	group_list_add(out, "CN=Dir Group,DC=example,DC=org");
	if (strcmp(user, "alice") == 0)
		group_list_add(out, "CN=IMAP Access,DC=example,DC=org");
	/* The route attribute, read in the same search. */
	if (gc->route_attribute != NULL)
		group_list_route_add(out, fake_route, strlen(fake_route));
	return 0;
}

static void
fake_reset(void)
{
	pthread_mutex_lock(&fake_mu);
	fake_calls = fake_running = 0;
	fake_block = fake_fail = fake_down = false;
	pthread_mutex_unlock(&fake_mu);
}

static void
fake_release(void)
{
	pthread_mutex_lock(&fake_mu);
	fake_block = false;
	pthread_cond_broadcast(&fake_cv);
	pthread_mutex_unlock(&fake_mu);
}

/* Waits until n queries are inside the fake directory at once. */
static void
fake_wait_running(int n)
{
	pthread_mutex_lock(&fake_mu);
	while (fake_running < n)
		pthread_cond_wait(&fake_cv, &fake_mu);
	pthread_mutex_unlock(&fake_mu);
}

static uint64_t fake_now = 1000000;

static uint64_t
fake_clock(void)
{
	return __atomic_load_n(&fake_now, __ATOMIC_SEQ_CST);
}

struct answer {
	int calls;
	enum groups_status st;
	char groups[512];
	char err[256];
	char route[64]; /* "kind:value" of the route attribute */
	pthread_t thread;
};

static void
on_answer(enum groups_status st, const struct group_list *gl, const char *err,
    void *arg)
{
	struct answer *a = arg;
	size_t i, n = 0;

	a->calls++;
	a->st = st;
	a->thread = pthread_self();
	a->groups[0] = a->err[0] = '\0';
	cr_assert((st == GROUPS_OK) == (gl != NULL));
	cr_assert((st == GROUPS_OK) == (err == NULL));
	for (i = 0; gl != NULL && i < gl->n; i++)
		n += (size_t)snprintf(a->groups + n, sizeof(a->groups) - n,
		    "%s%s", i ? ";" : "", gl->v[i]);
	if (err != NULL)
		snprintf(a->err, sizeof(a->err), "%s", err);
	if (gl != NULL)
		snprintf(a->route, sizeof(a->route), "%d:%s", gl->route_kind,
		    gl->route != NULL ? gl->route : "");
}

/* Runs base until every answer has arrived or ms have passed. */
static void
run_until(struct event_base *base, struct answer *a, size_t n, unsigned ms)
{
	struct timespec start, now;
	size_t i, done;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		for (done = 0, i = 0; i < n; i++)
			done += a[i].calls > 0;
		if (done == n)
			return;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((now.tv_sec - start.tv_sec) * 1000 +
			(now.tv_nsec - start.tv_nsec) / 1000000 >
		    (long)ms)
			return;
		event_base_loop(base, EVLOOP_NONBLOCK);
		usleep(1000);
	}
}

/* Runs base for ms, whatever happens. */
static void
run_for(struct event_base *base, unsigned ms)
{
	struct answer none = {0};

	run_until(base, &none, 1, ms);
}

Test(groups, file_only_answers_from_the_loop)
{
	struct event_base *base = event_base_new();
	struct conf *c = make_conf(NULL, 1000, 0);
	struct answer a = {0};
	struct groups *g;
	struct groups_port *port;
	char p[PATH_MAX];

	write_groups("POP3 Access: alice\n");
	snprintf(p, sizeof(p), "%s/groups", tmpdir);
	c->groups.file = strdup(p);
	c->groups.file_groups = groups_file_load(p, collect, NULL);
	cr_assert_not_null(c->groups.file_groups);
	cr_assert_not_null(g = groups_new(c));
	groups_set_source(g, fake_source);
	fake_reset();
	cr_assert_not_null(port = groups_port_new(g, base));
	cr_assert_not_null(groups_lookup(port, c, "alice", on_answer, &a));
	/* Never from inside groups_lookup(). */
	cr_expect_eq(a.calls, 0);
	run_until(base, &a, 1, 2000);
	cr_expect_eq(a.calls, 1);
	cr_expect_eq(a.st, GROUPS_OK);
	cr_expect_str_eq(a.groups, "POP3 Access");
	cr_expect(pthread_equal(a.thread, pthread_self()));
	cr_expect_eq(fake_calls, 0, "no directory is configured");
	groups_port_free(port);
	groups_free(g);
	conf_unref(c);
	event_base_free(base);
}

Test(groups, directory_and_cache_ttl)
{
	struct event_base *base = event_base_new();
	struct conf *c = make_conf("ldap://unused", 1000, 60000);
	struct conf *c2 = make_conf("ldap://unused", 1000, 60000);
	struct answer a[5] = {{0}};
	struct groups *g;
	struct groups_port *port;
	char p[PATH_MAX];

	write_groups("POP3 Access: alice\n");
	snprintf(p, sizeof(p), "%s/groups", tmpdir);
	c->groups.file_groups = groups_file_load(p, collect, NULL);
	cr_assert_not_null(g = groups_new(c));
	groups_set_source(g, fake_source);
	groups_set_clock(g, fake_clock);
	fake_reset();
	cr_assert_not_null(port = groups_port_new(g, base));

	/* The file's groups and the directory's together. */
	cr_assert_not_null(groups_lookup(port, c, "alice", on_answer, &a[0]));
	run_until(base, a, 1, 2000);
	cr_expect_eq(a[0].st, GROUPS_OK);
	cr_expect_str_eq(a[0].groups,
	    "POP3 Access;CN=Dir Group,DC=example,"
	    "DC=org;CN=IMAP Access,DC=example,DC=org");
	cr_expect(pthread_equal(a[0].thread, pthread_self()));
	cr_expect_eq(fake_calls, 1);

	/* Within the TTL: from the cache, case of the name ignored. */
	__atomic_add_fetch(&fake_now, 59000, __ATOMIC_SEQ_CST);
	cr_assert_not_null(groups_lookup(port, c, "ALICE", on_answer, &a[1]));
	run_until(base, &a[1], 1, 2000);
	cr_expect_str_eq(a[1].groups, a[0].groups);
	cr_expect_eq(fake_calls, 1);

	/* Another snapshot (a reload) does not use the old entries. */
	cr_assert_not_null(groups_lookup(port, c2, "alice", on_answer, &a[2]));
	run_until(base, &a[2], 1, 2000);
	cr_expect_eq(fake_calls, 2);
	cr_expect_str_eq(a[2].groups, "CN=Dir Group,DC=example,DC=org;"
				      "CN=IMAP Access,DC=example,DC=org");

	/* Past the TTL: asked again. */
	__atomic_add_fetch(&fake_now, 2000, __ATOMIC_SEQ_CST);
	cr_assert_not_null(groups_lookup(port, c, "alice", on_answer, &a[3]));
	run_until(base, &a[3], 1, 2000);
	cr_expect_eq(a[3].st, GROUPS_OK);
	cr_expect_eq(fake_calls, 3);

	/* A failure is a temporary failure, never cached, never an allow. */
	fake_fail = true;
	cr_assert_not_null(groups_lookup(port, c, "bob", on_answer, &a[4]));
	run_until(base, &a[4], 1, 2000);
	cr_expect_eq(a[4].st, GROUPS_TEMPFAIL);
	cr_expect_str_eq(a[4].err, "fake directory is down");
	memset(&a[4], 0, sizeof(a[4]));
	fake_fail = false;
	cr_assert_not_null(groups_lookup(port, c, "bob", on_answer, &a[4]));
	run_until(base, &a[4], 1, 2000);
	cr_expect_eq(a[4].st, GROUPS_OK);
	cr_expect_eq(fake_calls, 5);

	groups_port_free(port);
	groups_free(g);
	conf_unref(c);
	conf_unref(c2);
	event_base_free(base);
}

Test(groups, no_cache_with_zero_ttl)
{
	struct event_base *base = event_base_new();
	struct conf *c = make_conf("ldap://unused", 1000, 0);
	struct answer a[2] = {{0}};
	struct groups *g = groups_new(c);
	struct groups_port *port;

	groups_set_source(g, fake_source);
	fake_reset();
	cr_assert_not_null(port = groups_port_new(g, base));
	groups_lookup(port, c, "alice", on_answer, &a[0]);
	run_until(base, a, 1, 2000);
	groups_lookup(port, c, "alice", on_answer, &a[1]);
	run_until(base, &a[1], 1, 2000);
	cr_expect_eq(fake_calls, 2);
	groups_port_free(port);
	groups_free(g);
	conf_unref(c);
	event_base_free(base);
}

Test(groups, cancel_never_calls_back)
{
	struct event_base *base = event_base_new();
	struct conf *c = make_conf("ldap://unused", 5000, 0);
	struct answer a[5] = {{0}};
	struct groups_req *r[5];
	struct groups *g = groups_new(c); /* two threads */
	struct groups_port *port;

	groups_set_source(g, fake_source);
	fake_reset();
	fake_block = true;
	cr_assert_not_null(port = groups_port_new(g, base));
	/* Two run (and block), the third waits in the queue. */
	r[0] = groups_lookup(port, c, "u0", on_answer, &a[0]);
	r[1] = groups_lookup(port, c, "u1", on_answer, &a[1]);
	fake_wait_running(2);
	r[2] = groups_lookup(port, c, "u2", on_answer, &a[2]);
	groups_cancel(r[0]); /* running */
	groups_cancel(r[2]); /* queued */
	groups_cancel(NULL);
	fake_release();
	run_until(base, &a[1], 1, 2000);
	run_for(base, 100);
	cr_expect_eq(a[0].calls, 0);
	cr_expect_eq(a[1].calls, 1);
	cr_expect_eq(a[2].calls, 0);
	cr_expect_eq(fake_calls, 2, "the queued request was never run");

	/* Finished but not yet delivered: still never called. */
	r[3] = groups_lookup(port, c, "u3", on_answer, &a[3]);
	pthread_mutex_lock(&fake_mu);
	while (fake_calls < 3)
		pthread_cond_wait(&fake_cv, &fake_mu);
	pthread_mutex_unlock(&fake_mu);
	usleep(50000);
	groups_cancel(r[3]);
	run_for(base, 100);
	cr_expect_eq(a[3].calls, 0);

	/* Freeing the port drops what is pending on it. */
	fake_block = true;
	groups_lookup(port, c, "u4", on_answer, &a[4]);
	fake_wait_running(1);
	groups_port_free(port);
	fake_release();
	groups_free(g);
	cr_expect_eq(a[4].calls, 0);
	conf_unref(c);
	event_base_free(base);
}

Test(groups, two_ports_two_threads)
{
	struct event_base *b1 = event_base_new(), *b2 = event_base_new();
	struct conf *c = make_conf("ldap://unused", 1000, 0);
	struct groups *g = groups_new(c);
	struct groups_port *p1, *p2;
	struct answer a1 = {0}, a2 = {0};

	groups_set_source(g, fake_source);
	fake_reset();
	p1 = groups_port_new(g, b1);
	p2 = groups_port_new(g, b2);
	groups_lookup(p1, c, "alice", on_answer, &a1);
	groups_lookup(p2, c, "bob", on_answer, &a2);
	run_until(b2, &a2, 1, 2000);
	cr_expect_eq(a2.calls, 1);
	cr_expect_eq(a1.calls, 0, "answered on the other port's loop");
	run_until(b1, &a1, 1, 2000);
	cr_expect_eq(a1.calls, 1);
	cr_expect_str_eq(a2.groups, "CN=Dir Group,DC=example,DC=org");
	groups_port_free(p1);
	groups_port_free(p2);
	groups_free(g);
	conf_unref(c);
	event_base_free(b1);
	event_base_free(b2);
}

/* --- a directory that is down: the back-off ------------------------- */

Test(groups, backoff_pauses_double_up_to_the_cap)
{
	struct groups_backoff b = {0};
	uint64_t t = 5000;
	unsigned expect = GROUPS_BACKOFF_MIN_MS;
	int i;

	cr_assert_eq(groups_backoff_start(&b, t), GROUPS_BACKOFF_ASK);
	cr_assert_eq(groups_backoff_end(&b, t, GROUPS_BACKOFF_ASK, false),
	    GROUPS_BACKOFF_DOWN);
	cr_assert_eq(b.delay_ms, 1000);
	cr_assert_eq(b.since, 5000);
	for (i = 0; i < 10; i++) {
		/* Nobody asks before the pause is over... */
		cr_assert_eq(groups_backoff_start(&b, t + expect - 1),
		    GROUPS_BACKOFF_FAIL);
		/* ...then one lookup does, and fails again. */
		t += expect;
		cr_assert_eq(groups_backoff_start(&b, t), GROUPS_BACKOFF_PROBE);
		cr_assert_eq(
		    groups_backoff_end(&b, t, GROUPS_BACKOFF_PROBE, false),
		    GROUPS_BACKOFF_SAME);
		expect = expect * 2 > GROUPS_BACKOFF_MAX_MS ?
			     GROUPS_BACKOFF_MAX_MS :
			     expect * 2;
		cr_assert_eq(b.delay_ms, expect, "after probe %d", i);
		cr_assert_eq(b.retry_at, t + expect);
	}
	cr_assert_eq(b.delay_ms, 60000, "capped");
	/* Every failure counted: the first, 10 fast ones, 10 probes. */
	cr_assert_eq(b.failed, 21);
}

Test(groups, backoff_one_probe_at_a_time)
{
	struct groups_backoff b = {0};

	groups_backoff_end(&b, 0, GROUPS_BACKOFF_ASK, false);
	cr_assert_eq(groups_backoff_start(&b, 1000), GROUPS_BACKOFF_PROBE);
	/* While the probe waits for the directory (up to ldap_timeout),
	 * the others fail at once. */
	cr_assert_eq(groups_backoff_start(&b, 1001), GROUPS_BACKOFF_FAIL);
	cr_assert_eq(groups_backoff_start(&b, 9000), GROUPS_BACKOFF_FAIL);
	/* A probe that timed out counts as a failed one. */
	cr_assert_eq(groups_backoff_end(&b, 9000, GROUPS_BACKOFF_PROBE, false),
	    GROUPS_BACKOFF_SAME);
	cr_assert_eq(b.retry_at, 11000);
	cr_assert_eq(groups_backoff_start(&b, 10999), GROUPS_BACKOFF_FAIL);
	cr_assert_eq(groups_backoff_start(&b, 11000), GROUPS_BACKOFF_PROBE);
	cr_assert_eq(groups_backoff_start(&b, 11000), GROUPS_BACKOFF_FAIL);
}

Test(groups, backoff_only_the_probe_lengthens_the_pause)
{
	struct groups_backoff b = {0};
	int i;

	/* Four lookups were under way when the directory went away: the
	 * first failure starts the outage, the others only count. */
	for (i = 0; i < 4; i++)
		cr_assert_eq(groups_backoff_start(&b, 0), GROUPS_BACKOFF_ASK);
	cr_assert_eq(groups_backoff_end(&b, 100, GROUPS_BACKOFF_ASK, false),
	    GROUPS_BACKOFF_DOWN);
	for (i = 0; i < 3; i++)
		cr_assert_eq(
		    groups_backoff_end(&b, 200, GROUPS_BACKOFF_ASK, false),
		    GROUPS_BACKOFF_SAME);
	cr_assert_eq(b.delay_ms, 1000);
	cr_assert_eq(b.retry_at, 1100);
	cr_assert_eq(b.failed, 4);
}

Test(groups, backoff_an_answer_ends_the_outage)
{
	struct groups_backoff b = {0};
	enum groups_backoff_go go;

	cr_assert_eq(groups_backoff_end(&b, 0, GROUPS_BACKOFF_ASK, true),
	    GROUPS_BACKOFF_SAME);
	groups_backoff_end(&b, 1000, GROUPS_BACKOFF_ASK, false);
	groups_backoff_start(&b, 1500);
	groups_backoff_start(&b, 1600);
	cr_assert_eq(go = groups_backoff_start(&b, 2000), GROUPS_BACKOFF_PROBE);
	/* Any answer, even a refusal, means the directory is there. */
	cr_assert_eq(groups_backoff_end(&b, 2050, go, true), GROUPS_BACKOFF_UP);
	cr_assert_eq(b.since, 1000, "the outage is still described");
	cr_assert_eq(b.failed, 3);
	cr_assert_eq(groups_backoff_start(&b, 2051), GROUPS_BACKOFF_ASK);
	/* The next outage starts from the shortest pause again. */
	cr_assert_eq(groups_backoff_end(&b, 3000, GROUPS_BACKOFF_ASK, false),
	    GROUPS_BACKOFF_DOWN);
	cr_assert_eq(b.delay_ms, 1000);
	cr_assert_eq(b.failed, 1);
	cr_assert_eq(b.since, 3000);
}

/* Looks user up on port and returns its answer. */
static struct answer
lookup_now(struct event_base *base, struct groups_port *port, struct conf *c,
    const char *user)
{
	struct answer a = {0};

	cr_assert_not_null(groups_lookup(port, c, user, on_answer, &a));
	run_until(base, &a, 1, 5000);
	cr_assert_eq(a.calls, 1);
	return a;
}

Test(groups, directory_down_fails_fast_with_one_probe)
{
	struct event_base *base = event_base_new();
	struct conf *c = make_conf("ldap://unused", 1000, 0);
	struct groups *g;
	struct groups_port *port;
	struct answer a, held = {0};
	int i;

	cr_assert_not_null(g = groups_new(c));
	groups_set_source(g, fake_source);
	groups_set_clock(g, fake_clock);
	fake_reset();
	fake_down = true;
	cr_assert_not_null(port = groups_port_new(g, base));
	a = lookup_now(base, port, c, "alice");
	cr_expect_eq(a.st, GROUPS_TEMPFAIL);
	cr_expect_str_eq(a.err, "fake directory is unreachable");
	/* The directory is not asked again during the pause, and no answer
	 * is an allow. */
	for (i = 0; i < 20; i++) {
		a = lookup_now(base, port, c, "alice");
		cr_expect_eq(a.st, GROUPS_TEMPFAIL);
		cr_expect_str_eq(a.err, "directory unreachable, lookups fail "
					"at once until it answers again");
	}
	cr_expect_eq(fake_calls, 1);
	/* After the pause, one lookup asks while the others fail fast. */
	__atomic_add_fetch(&fake_now, GROUPS_BACKOFF_MIN_MS, __ATOMIC_SEQ_CST);
	fake_block = true;
	cr_assert_not_null(groups_lookup(port, c, "bob", on_answer, &held));
	fake_wait_running(1);
	for (i = 0; i < 5; i++)
		cr_expect_eq(lookup_now(base, port, c, "carol").st,
		    GROUPS_TEMPFAIL);
	cr_expect_eq(fake_calls, 2);
	/* The directory is back as the probe asks it. */
	fake_down = false;
	fake_release();
	run_until(base, &held, 1, 5000);
	cr_expect_eq(held.st, GROUPS_OK);
	cr_expect_eq(lookup_now(base, port, c, "alice").st, GROUPS_OK);
	cr_expect_eq(fake_calls, 3);
	groups_port_free(port);
	groups_free(g);
	conf_unref(c);
	event_base_free(base);
}

/* A reload that points ldap_uri elsewhere does not inherit the pause. */
Test(groups, backoff_is_per_directory)
{
	struct event_base *base = event_base_new();
	struct conf *c = make_conf("ldap://down", 1000, 0);
	struct conf *c2 = make_conf("ldap://other", 1000, 0);
	struct groups *g;
	struct groups_port *port;

	cr_assert_not_null(g = groups_new(c));
	groups_set_source(g, fake_source);
	groups_set_clock(g, fake_clock);
	fake_reset();
	fake_down = true;
	cr_assert_not_null(port = groups_port_new(g, base));
	lookup_now(base, port, c, "alice");
	lookup_now(base, port, c, "alice");
	cr_expect_eq(fake_calls, 1);
	fake_down = false;
	cr_expect_eq(lookup_now(base, port, c2, "alice").st, GROUPS_OK);
	cr_expect_eq(fake_calls, 2);
	cr_expect_eq(lookup_now(base, port, c, "alice").st, GROUPS_TEMPFAIL);
	cr_expect_eq(fake_calls, 2);
	groups_port_free(port);
	groups_free(g);
	conf_unref(c);
	conf_unref(c2);
	event_base_free(base);
}

static long
elapsed_ms(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - start->tv_sec) * 1000 +
	       (now.tv_nsec - start->tv_nsec) / 1000000;
}

/* A real LDAP lookup against uri; the answer within about timeout_ms. */
static void
ldap_expect_tempfail(const char *uri, unsigned timeout_ms)
{
	struct event_base *base = event_base_new();
	struct conf *c = make_conf(uri, timeout_ms, 60000);
	struct groups *g = groups_new(c);
	struct groups_port *port = groups_port_new(g, base);
	struct answer a = {0};
	struct timespec start;

	clock_gettime(CLOCK_MONOTONIC, &start);
	cr_assert_not_null(groups_lookup(port, c, "alice", on_answer, &a));
	run_until(base, &a, 1, timeout_ms * 4 + 2000);
	cr_expect_eq(a.calls, 1);
	cr_expect_eq(a.st, GROUPS_TEMPFAIL);
	cr_expect_neq(a.err[0], '\0');
	cr_expect_leq(elapsed_ms(&start), (long)timeout_ms * 3 + 500, "%s",
	    a.err);
	groups_port_free(port);
	groups_free(g);
	conf_unref(c);
	event_base_free(base);
}

Test(groups, ldap_unreachable_is_tempfail)
{
	ldap_expect_tempfail("ldap://127.0.0.1:1", 500);
	ldap_expect_tempfail("ldaps://127.0.0.1:1", 500);
}

Test(groups, ldap_silent_server_is_tempfail)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	char uri[64];
	int fd;

	/* Listens but never answers: the TCP connection succeeds, the
	 * StartTLS request waits for ever. */
	cr_assert_neq(fd = socket(AF_INET, SOCK_STREAM, 0), -1);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	cr_assert_eq(listen(fd, 8), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	snprintf(uri, sizeof(uri), "ldap://127.0.0.1:%u", ntohs(sin.sin_port));
	ldap_expect_tempfail(uri, 700);
	close(fd);
}

/* A loopback listener that counts the connections made to it, and
 * either closes each at once or holds it without a word. */
struct counter {
	int fd;
	bool hang_up;
	atomic_int accepted;
	int held[64];
	int nheld;
	pthread_t thread;
	char uri[64];
};

static void *
counter_main(void *arg)
{
	struct counter *ct = arg;
	int fd;

	while ((fd = accept(ct->fd, NULL, NULL)) != -1) {
		atomic_fetch_add(&ct->accepted, 1);
		if (ct->hang_up ||
		    ct->nheld == (int)(sizeof(ct->held) / sizeof(ct->held[0])))
			close(fd);
		else
			ct->held[ct->nheld++] = fd;
	}
	return NULL;
}

static void
counter_start(struct counter *ct, bool hang_up)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);

	memset(ct, 0, sizeof(*ct));
	ct->hang_up = hang_up;
	cr_assert_neq(ct->fd = socket(AF_INET, SOCK_STREAM, 0), -1);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(ct->fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	cr_assert_eq(listen(ct->fd, 64), 0);
	cr_assert_eq(getsockname(ct->fd, (struct sockaddr *)&sin, &len), 0);
	snprintf(ct->uri, sizeof(ct->uri), "ldap://127.0.0.1:%u",
	    ntohs(sin.sin_port));
	cr_assert_eq(pthread_create(&ct->thread, NULL, counter_main, ct), 0);
}

static void
counter_stop(struct counter *ct)
{
	int i;

	/* Wakes the accept() up with an error. */
	shutdown(ct->fd, SHUT_RDWR);
	pthread_join(ct->thread, NULL);
	close(ct->fd);
	for (i = 0; i < ct->nheld; i++)
		close(ct->held[i]);
}

/* Lookups one after the other against ct's directory; each answer must
 * be a temporary failure within max_ms. */
static void
ldap_lookups(struct counter *ct, unsigned timeout_ms, int n, long max_ms)
{
	struct event_base *base = event_base_new();
	struct conf *c = make_conf(ct->uri, timeout_ms, 60000);
	struct groups *g = groups_new(c);
	struct groups_port *port = groups_port_new(g, base);
	struct timespec start;
	struct answer a;
	int i;

	for (i = 0; i < n; i++) {
		clock_gettime(CLOCK_MONOTONIC, &start);
		memset(&a, 0, sizeof(a));
		cr_assert_not_null(
		    groups_lookup(port, c, "alice", on_answer, &a));
		run_until(base, &a, 1, timeout_ms * 4 + 2000);
		cr_assert_eq(a.calls, 1);
		cr_expect_eq(a.st, GROUPS_TEMPFAIL);
		cr_expect_leq(elapsed_ms(&start),
		    i == 0 ? (long)timeout_ms * 3 + 500 : max_ms,
		    "lookup %d: %s", i, a.err);
	}
	groups_port_free(port);
	groups_free(g);
	conf_unref(c);
	event_base_free(base);
}

Test(groups, ldap_server_that_hangs_up_is_asked_once_per_pause)
{
	struct counter ct;

	counter_start(&ct, true);
	ldap_lookups(&ct, 2000, 10, 200);
	counter_stop(&ct);
	cr_expect_eq(atomic_load(&ct.accepted), 1);
}

/* A frozen directory (connections accepted, nothing answered): after the
 * first timeout, lookups fail at once instead of each waiting. */
Test(groups, ldap_silent_server_backs_off_after_a_timeout)
{
	struct counter ct;

	counter_start(&ct, false);
	ldap_lookups(&ct, 500, 5, 200);
	counter_stop(&ct);
	cr_expect_eq(atomic_load(&ct.accepted), 1);
}

/*
 * Against a real slapd, started by tests/slapd.sh, which sets these
 * variables; skipped when run on their own.
 */
static bool slapd_down_test;

static const char *
slapd_env(const char *name)
{
	const char *v = getenv(name);

	if (getenv("POSTERN_TEST_LDAP_URI") == NULL)
		tmpdir_skip("no slapd: run through tests/slapd.sh");
	if (getenv("POSTERN_TEST_SLAPD_DOWN") != NULL && !slapd_down_test)
		tmpdir_skip("slapd is stopped for this run");
	cr_assert_not_null(v, "%s is not set", name);
	return v;
}

static struct conf *
slapd_conf(const char *uri, const char *ca, enum ldap_nested nested)
{
	struct conf *c = make_conf(uri, 3000, 60000);
	char pw[64];
	FILE *fp;

	cr_assert_not_null(
	    fp = fopen(slapd_env("POSTERN_TEST_LDAP_PWFILE"), "r"));
	cr_assert_not_null(fgets(pw, sizeof(pw), fp));
	fclose(fp);
	pw[strcspn(pw, "\n")] = '\0';
	c->groups.ldap_bind_dn = strdup("cn=admin,dc=example,dc=org");
	c->groups.ldap_bind_password = strdup(pw);
	c->groups.ldap_ca_file = ca ? strdup(ca) : NULL;
	c->groups.ldap_nested = nested;
	return c;
}

/* Looks user up through a whole service; the answer lands in *a. */
static void
slapd_lookup(struct conf *c, const char *user, struct answer *a,
    uint64_t (*clock)(void))
{
	static struct groups *g;
	static struct event_base *base;
	static struct groups_port *port;

	memset(a, 0, sizeof(*a));
	if (c == NULL) {
		/* Tear down the service kept between calls. */
		groups_port_free(port);
		groups_free(g);
		if (base != NULL)
			event_base_free(base);
		g = NULL;
		port = NULL;
		base = NULL;
		return;
	}
	if (g == NULL) {
		cr_assert_not_null(base = event_base_new());
		cr_assert_not_null(g = groups_new(c));
		cr_assert_not_null(port = groups_port_new(g, base));
	}
	if (clock != NULL)
		groups_set_clock(g, clock);
	cr_assert_not_null(groups_lookup(port, c, user, on_answer, a));
	run_until(base, a, 1, 15000);
	cr_assert_eq(a->calls, 1, "no answer for %s", user);
}

static bool
answer_has(const struct answer *a, const char *group)
{
	struct group_list gl = {0};
	char *copy = strdup(a->groups), *save = NULL, *t;
	bool has;

	for (t = strtok_r(copy, ";", &save); t != NULL;
	     t = strtok_r(NULL, ";", &save))
		group_list_add(&gl, t);
	has = group_list_has(&gl, group);
	group_list_clear(&gl);
	free(copy);
	return has;
}

Test(groups, slapd_starttls_memberof_and_nesting)
{
	const char *uri = slapd_env("POSTERN_TEST_LDAP_URI");
	const char *ca = slapd_env("POSTERN_TEST_LDAP_CA");
	struct conf *c = slapd_conf(uri, ca, LDAP_NESTED_NO);
	struct conf *w = slapd_conf(uri, ca, LDAP_NESTED_WALK);
	struct answer a;

	slapd_lookup(c, "alice", &a, NULL);
	cr_expect_eq(a.st, GROUPS_OK, "%s", a.err);
	cr_expect(answer_has(&a, "POP3 Access"), "%s", a.groups);
	cr_expect(answer_has(&a, "imap access"), "%s", a.groups);
	cr_expect(answer_has(&a, "cn=POP3 Access,ou=groups,dc=example,dc=org"));
	/* The user part of the other login forms. */
	slapd_lookup(c, "EXAMPLE\\alice", &a, NULL);
	cr_expect(answer_has(&a, "POP3 Access"), "%s", a.groups);
	slapd_lookup(c, "alice@example.org", &a, NULL);
	cr_expect(answer_has(&a, "POP3 Access"), "%s", a.groups);

	/* carol is in Staff, and Staff in IMAP Access. */
	slapd_lookup(c, "carol", &a, NULL);
	cr_expect_eq(a.st, GROUPS_OK, "%s", a.err);
	cr_expect(answer_has(&a, "Staff"), "%s", a.groups);
	cr_expect_not(answer_has(&a, "IMAP Access"), "%s", a.groups);
	slapd_lookup(w, "carol", &a, NULL);
	cr_expect_eq(a.st, GROUPS_OK, "%s", a.err);
	cr_expect(answer_has(&a, "Staff"), "%s", a.groups);
	cr_expect(answer_has(&a, "IMAP Access"), "%s", a.groups);

	/* Filter metacharacters are escaped: "*" is no one, not everyone. */
	slapd_lookup(c, "*", &a, NULL);
	cr_expect_eq(a.st, GROUPS_OK, "%s", a.err);
	cr_expect_str_eq(a.groups, "");
	slapd_lookup(c, "al*", &a, NULL);
	cr_expect_str_eq(a.groups, "");
	slapd_lookup(c, "nobody", &a, NULL);
	cr_expect_eq(a.st, GROUPS_OK, "%s", a.err);
	cr_expect_str_eq(a.groups, "");
	/* Two entries for one name: refused, not guessed. */
	slapd_lookup(c, "twin", &a, NULL);
	cr_expect_eq(a.st, GROUPS_TEMPFAIL);
	cr_expect_not_null(strstr(a.err, "more than one"), "%s", a.err);

	slapd_lookup(NULL, NULL, &a, NULL);
	conf_unref(c);
	conf_unref(w);
}

Test(groups, slapd_ldaps)
{
	struct conf *c = slapd_conf(slapd_env("POSTERN_TEST_LDAPS_URI"),
	    slapd_env("POSTERN_TEST_LDAP_CA"), LDAP_NESTED_NO);
	struct answer a;

	/* alice: the cache test takes bob out of the group. */
	slapd_lookup(c, "alice", &a, NULL);
	cr_expect_eq(a.st, GROUPS_OK, "%s", a.err);
	cr_expect(answer_has(&a, "POP3 Access"), "%s", a.groups);
	slapd_lookup(NULL, NULL, &a, NULL);
	conf_unref(c);
}

Test(groups, slapd_unverified_certificate_is_tempfail)
{
	const char *other = slapd_env("POSTERN_TEST_LDAP_OTHER_CA");
	struct conf *c = slapd_conf(slapd_env("POSTERN_TEST_LDAP_URI"), other,
	    LDAP_NESTED_NO);
	struct conf *s = slapd_conf(slapd_env("POSTERN_TEST_LDAPS_URI"), other,
	    LDAP_NESTED_NO);
	struct answer a;

	slapd_lookup(c, "alice", &a, NULL);
	cr_expect_eq(a.st, GROUPS_TEMPFAIL);
	cr_expect_not_null(strstr(a.err, "StartTLS"), "%s", a.err);
	slapd_lookup(s, "alice", &a, NULL);
	cr_expect_eq(a.st, GROUPS_TEMPFAIL);
	slapd_lookup(NULL, NULL, &a, NULL);
	conf_unref(c);
	conf_unref(s);
}

Test(groups, slapd_bad_bind_is_tempfail)
{
	struct conf *c = slapd_conf(slapd_env("POSTERN_TEST_LDAP_URI"),
	    slapd_env("POSTERN_TEST_LDAP_CA"), LDAP_NESTED_NO);
	struct answer a;

	free(c->groups.ldap_bind_password);
	c->groups.ldap_bind_password = strdup("wrong");
	slapd_lookup(c, "alice", &a, NULL);
	cr_expect_eq(a.st, GROUPS_TEMPFAIL);
	cr_expect_not_null(strstr(a.err, "bind"), "%s", a.err);
	cr_expect_null(strstr(a.err, "wrong"), "the password is in: %s", a.err);
	slapd_lookup(NULL, NULL, &a, NULL);
	conf_unref(c);
}

Test(groups, slapd_cache_expiry_sees_membership_change)
{
	struct conf *c = slapd_conf(slapd_env("POSTERN_TEST_LDAP_URI"),
	    slapd_env("POSTERN_TEST_LDAP_CA"), LDAP_NESTED_NO);
	const char *modify = slapd_env("POSTERN_TEST_LDAP_MODIFY");
	char ldif[PATH_MAX], *cmd;
	struct answer a;
	FILE *fp;

	slapd_lookup(c, "bob", &a, fake_clock);
	cr_expect(answer_has(&a, "POP3 Access"), "%s", a.groups);

	snprintf(ldif, sizeof(ldif), "%s/change.ldif", tmpdir);
	cr_assert_not_null(fp = fopen(ldif, "w"));
	fputs("dn: cn=POP3 Access,ou=groups,dc=example,dc=org\n"
	      "changetype: modify\n"
	      "delete: member\n"
	      "member: uid=bob,ou=people,dc=example,dc=org\n",
	    fp);
	fclose(fp);
	cr_assert_neq(asprintf(&cmd, "%s -f %s >/dev/null", modify, ldif), -1);
	cr_assert_eq(system(cmd), 0, "%s", cmd);
	free(cmd);
	unlink(ldif);

	/* Still cached within the TTL... */
	__atomic_add_fetch(&fake_now, 30000, __ATOMIC_SEQ_CST);
	slapd_lookup(c, "bob", &a, fake_clock);
	cr_expect(answer_has(&a, "POP3 Access"), "%s", a.groups);
	/* ...and looked up again after it. */
	__atomic_add_fetch(&fake_now, 31000, __ATOMIC_SEQ_CST);
	slapd_lookup(c, "bob", &a, fake_clock);
	cr_expect_eq(a.st, GROUPS_OK, "%s", a.err);
	cr_expect_not(answer_has(&a, "POP3 Access"), "%s", a.groups);
	slapd_lookup(NULL, NULL, &a, NULL);
	conf_unref(c);
}

/* Run by slapd.sh after it stopped slapd. */
Test(groups, slapd_down_is_tempfail)
{
	struct conf *c;
	struct answer a;

	if (getenv("POSTERN_TEST_SLAPD_DOWN") == NULL)
		tmpdir_skip("slapd.sh runs this once slapd is stopped");
	slapd_down_test = true;
	c = slapd_conf(slapd_env("POSTERN_TEST_LDAP_URI"),
	    slapd_env("POSTERN_TEST_LDAP_CA"), LDAP_NESTED_NO);
	slapd_lookup(c, "alice", &a, NULL);
	cr_expect_eq(a.st, GROUPS_TEMPFAIL);
	slapd_lookup(NULL, NULL, &a, NULL);
	conf_unref(c);
}

Test(groups, the_route_attribute_rides_with_the_groups_and_is_cached)
{
	struct event_base *base = event_base_new();
	struct conf *c = make_conf("ldap://unused", 1000, 60000);
	struct answer a[3] = {{0}};
	struct groups *g;
	struct groups_port *port;

	c->groups.route_attribute = "msExchHomeServerName";
	snprintf(fake_route, sizeof(fake_route), "exch2010-mbx1");
	cr_assert_not_null(g = groups_new(c));
	groups_set_source(g, fake_source);
	groups_set_clock(g, fake_clock);
	fake_reset();
	cr_assert_not_null(port = groups_port_new(g, base));
	cr_assert_not_null(groups_lookup(port, c, "alice", on_answer, &a[0]));
	run_until(base, a, 1, 2000);
	cr_expect_eq(a[0].st, GROUPS_OK);
	cr_expect_str_eq(a[0].route, "1:exch2010-mbx1");
	cr_expect_eq(fake_calls, 1);
	/* The directory changes; the cache answers until its time is up. */
	snprintf(fake_route, sizeof(fake_route), "exch2016-mbx1");
	__atomic_add_fetch(&fake_now, 59000, __ATOMIC_SEQ_CST);
	cr_assert_not_null(groups_lookup(port, c, "alice", on_answer, &a[1]));
	run_until(base, &a[1], 1, 2000);
	cr_expect_str_eq(a[1].route, "1:exch2010-mbx1");
	cr_expect_eq(fake_calls, 1, "one search per login, none for the route");
	__atomic_add_fetch(&fake_now, 2000, __ATOMIC_SEQ_CST);
	cr_assert_not_null(groups_lookup(port, c, "alice", on_answer, &a[2]));
	run_until(base, &a[2], 1, 2000);
	cr_expect_str_eq(a[2].route, "1:exch2016-mbx1");
	cr_expect_eq(fake_calls, 2);
	groups_port_free(port);
	groups_free(g);
	conf_unref(c);
	event_base_free(base);
	snprintf(fake_route, sizeof(fake_route), "mbx1");
}
