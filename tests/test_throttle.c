/*
 * Unit tests of the failed-login throttle, on a clock the tests pass in.
 */
#include "config.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "addrset.h"
#include "throttle.h"

static struct sockaddr_storage
v4(const char *a)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

	memset(&ss, 0, sizeof(ss));
	s4->sin_family = AF_INET;
	cr_assert_eq(inet_pton(AF_INET, a, &s4->sin_addr), 1);
	return ss;
}

static struct sockaddr_storage
v6(const char *a)
{
	struct sockaddr_storage ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

	memset(&ss, 0, sizeof(ss));
	s6->sin6_family = AF_INET6;
	cr_assert_eq(inet_pton(AF_INET6, a, &s6->sin6_addr), 1);
	return ss;
}

#define SA(ss) ((const struct sockaddr *)&(ss))

/* The defaults of throttle_conf.c, with limits a test can reach. */
static struct throttle_conf
conf(unsigned max_ip, unsigned max_user)
{
	struct throttle_conf tc = {
	    .enabled = true,
	    .failure_delay_ms = 2000,
	    .max_failures_per_ip = max_ip,
	    .max_failures_per_user = max_user,
	    .window_ms = 600000,
	    .ban_time_ms = 600000,
	    .max_entries = 100000,
	};
	return tc;
}

static struct throttle_result
fail(struct throttle *t, const struct throttle_limits *lim, const char *ip,
    const char *user, uint64_t now)
{
	struct sockaddr_storage ss = strchr(ip, ':') ? v6(ip) : v4(ip);
	struct throttle_result r;

	throttle_failed(t, lim, SA(ss), user, now, &r);
	return r;
}

static enum throttle_verdict
check(struct throttle *t, const struct throttle_limits *lim, const char *ip,
    const char *user, uint64_t now)
{
	struct sockaddr_storage ss = strchr(ip, ':') ? v6(ip) : v4(ip);
	struct throttle_result r;

	return throttle_check(t, lim, SA(ss), user, now, &r);
}

Test(throttle, delay_doubles_per_failure_up_to_the_cap)
{
	struct throttle *t = throttle_new();
	struct throttle_conf tc = conf(0, 0);
	struct throttle_limits lim = {&tc, 64};
	const unsigned want[] = {2000, 4000, 8000, 15000, 15000, 15000};

	cr_assert_not_null(t);
	for (unsigned i = 0; i < 6; i++) {
		struct throttle_result r =
		    fail(t, &lim, "192.0.2.1", "alice", 1000 + i);

		cr_assert_eq(r.delay_ms, want[i], "failure %u: %u ms", i + 1,
		    r.delay_ms);
		cr_assert_eq(r.ip_failures, i + 1);
		cr_assert_eq(r.verdict, THROTTLE_OK); /* no limits set */
	}
	cr_assert_eq(check(t, &lim, "192.0.2.1", "alice", 2000), THROTTLE_OK);
	/* A first delay above the cap is kept, never doubled. */
	cr_assert_eq(throttle_delay(20000, 1), 20000);
	cr_assert_eq(throttle_delay(20000, 5), 20000);
	cr_assert_eq(throttle_delay(100, 3), 400);
	/* No delay configured: none. */
	tc.failure_delay_ms = 0;
	cr_assert_eq(fail(t, &lim, "192.0.2.1", "alice", 3000).delay_ms, 0);
	throttle_free(t);
}

Test(throttle, backend_time_is_taken_off_the_delay)
{
	/* Dovecot's 2 s of a 4 s delay: postern adds the other 2 s. */
	cr_assert_eq(throttle_wait(4000, 2013), 1987);
	cr_assert_eq(throttle_wait(4000, 0), 4000);
	/* A backend as slow as the delay, or slower: no more waiting. */
	cr_assert_eq(throttle_wait(4000, 4000), 0);
	cr_assert_eq(throttle_wait(500, 2000), 0);
	cr_assert_eq(throttle_wait(500, UINT64_MAX), 0);
	cr_assert_eq(throttle_wait(0, 0), 0);
}

Test(throttle, address_banned_after_the_limit)
{
	struct throttle *t = throttle_new();
	struct throttle_conf tc = conf(3, 0);
	struct throttle_limits lim = {&tc, 64};
	struct throttle_result r;

	cr_assert_eq(fail(t, &lim, "192.0.2.1", "a", 0).verdict, THROTTLE_OK);
	cr_assert_eq(fail(t, &lim, "192.0.2.1", "b", 1).verdict, THROTTLE_OK);
	cr_assert_eq(check(t, &lim, "192.0.2.1", "c", 2), THROTTLE_OK);
	r = fail(t, &lim, "192.0.2.1", "c", 3);
	cr_assert_eq(r.verdict, THROTTLE_BANNED_IP);
	cr_assert(r.ban_started);
	cr_assert_eq(r.ban_left_ms, 600000);
	/* Every user from that address, none from another. */
	cr_assert_eq(check(t, &lim, "192.0.2.1", "zed", 4), THROTTLE_BANNED_IP);
	cr_assert_eq(check(t, &lim, "192.0.2.2", "a", 4), THROTTLE_OK);
	throttle_free(t);
}

Test(throttle, failures_older_than_the_window_are_forgotten)
{
	struct throttle *t = throttle_new();
	struct throttle_conf tc = conf(3, 0);
	struct throttle_limits lim = {&tc, 64};
	struct throttle_result r;

	tc.window_ms = 10000;
	fail(t, &lim, "192.0.2.1", "a", 0);
	fail(t, &lim, "192.0.2.1", "a", 9999);
	/* The window of the first failure is over: a new count begins. */
	r = fail(t, &lim, "192.0.2.1", "a", 10000);
	cr_assert_eq(r.ip_failures, 1);
	cr_assert_eq(r.delay_ms, 2000);
	cr_assert_eq(r.verdict, THROTTLE_OK);
	fail(t, &lim, "192.0.2.1", "a", 10001);
	cr_assert_eq(fail(t, &lim, "192.0.2.1", "a", 10002).verdict,
	    THROTTLE_BANNED_IP);
	throttle_free(t);
}

Test(throttle, ban_ends_after_ban_time_with_a_fresh_count)
{
	struct throttle *t = throttle_new();
	struct throttle_conf tc = conf(2, 0);
	struct throttle_limits lim = {&tc, 64};
	struct throttle_result r;

	tc.ban_time_ms = 60000;
	fail(t, &lim, "192.0.2.1", "a", 1000);
	fail(t, &lim, "192.0.2.1", "a", 2000);
	cr_assert_eq(check(t, &lim, "192.0.2.1", "a", 61999),
	    THROTTLE_BANNED_IP);
	cr_assert_eq(throttle_check(t, &lim, SA((struct sockaddr_storage){0}),
			 "a", 0, &r),
	    THROTTLE_OK);
	cr_assert_eq(check(t, &lim, "192.0.2.1", "a", 62000), THROTTLE_OK);
	/* The whole allowance again, not one failure from a new ban. */
	r = fail(t, &lim, "192.0.2.1", "a", 62001);
	cr_assert_eq(r.verdict, THROTTLE_OK);
	cr_assert_eq(r.ip_failures, 1);
	cr_assert_eq(fail(t, &lim, "192.0.2.1", "a", 62002).verdict,
	    THROTTLE_BANNED_IP);
	throttle_free(t);
}

Test(throttle, exempt_addresses_are_never_counted_delayed_or_refused)
{
	struct throttle *t = throttle_new();
	struct throttle_conf tc = conf(2, 2);
	struct throttle_limits lim = {&tc, 64};
	char err[128];

	tc.exempt_ips = addrset_new();
	cr_assert_not_null(tc.exempt_ips);
	cr_assert_eq(
	    addrset_add(tc.exempt_ips, "198.51.100.0/24", err, sizeof(err)), 0);
	addrset_finish(tc.exempt_ips);
	for (unsigned i = 0; i < 10; i++) {
		struct throttle_result r =
		    fail(t, &lim, "198.51.100.7", "alice", i);

		cr_assert_eq(r.delay_ms, 0);
		cr_assert_eq(r.verdict, THROTTLE_OK);
	}
	cr_assert_eq(throttle_entries(t), 0);
	/* A user banned by guesses from elsewhere is still served there. */
	fail(t, &lim, "192.0.2.1", "alice", 20);
	fail(t, &lim, "192.0.2.2", "alice", 21);
	cr_assert_eq(check(t, &lim, "192.0.2.3", "alice", 22),
	    THROTTLE_BANNED_USER);
	cr_assert_eq(check(t, &lim, "198.51.100.7", "alice", 22), THROTTLE_OK);
	addrset_free(tc.exempt_ips);
	throttle_free(t);
}

Test(throttle, user_banned_from_every_address_in_any_form)
{
	struct throttle *t = throttle_new();
	struct throttle_conf tc = conf(100, 3);
	struct throttle_limits lim = {&tc, 64};

	/* One guess per address, as a botnet would: the user's count. */
	cr_assert_eq(fail(t, &lim, "192.0.2.1", "alice", 0).verdict,
	    THROTTLE_OK);
	cr_assert_eq(fail(t, &lim, "192.0.2.2", "Alice@Example.COM", 1).verdict,
	    THROTTLE_OK);
	cr_assert_eq(fail(t, &lim, "192.0.2.3", "EXAMPLE\\ALICE", 2).verdict,
	    THROTTLE_BANNED_USER);
	cr_assert_eq(check(t, &lim, "203.0.113.9", "alice", 3),
	    THROTTLE_BANNED_USER);
	cr_assert_eq(check(t, &lim, "203.0.113.9", "aLiCe@other.example", 3),
	    THROTTLE_BANNED_USER);
	/* Neither the addresses nor other users. */
	cr_assert_eq(check(t, &lim, "192.0.2.1", "bob", 3), THROTTLE_OK);
	cr_assert_eq(check(t, &lim, "192.0.2.1", "alicia", 3), THROTTLE_OK);
	throttle_free(t);
}

Test(throttle, address_count_is_per_address_whatever_the_user)
{
	struct throttle *t = throttle_new();
	struct throttle_conf tc = conf(3, 100);
	struct throttle_limits lim = {&tc, 64};

	/* Password spraying: one guess per user from one address. */
	fail(t, &lim, "192.0.2.1", "u1", 0);
	fail(t, &lim, "192.0.2.1", "u2", 1);
	cr_assert_eq(fail(t, &lim, "192.0.2.1", "u3", 2).verdict,
	    THROTTLE_BANNED_IP);
	cr_assert_eq(check(t, &lim, "192.0.2.1", "u4", 3), THROTTLE_BANNED_IP);
	cr_assert_eq(check(t, &lim, "192.0.2.9", "u1", 3), THROTTLE_OK);
	throttle_free(t);
}

Test(throttle, ipv6_counts_per_prefix_and_mapped_ipv4_as_ipv4)
{
	struct throttle *t = throttle_new();
	struct throttle_conf tc = conf(3, 0);
	struct throttle_limits lim = {&tc, 64};

	fail(t, &lim, "2001:db8:1:2::1", "a", 0);
	fail(t, &lim, "2001:db8:1:2:ffff:ffff:ffff:ffff", "b", 1);
	cr_assert_eq(fail(t, &lim, "2001:db8:1:2:abcd::9", "c", 2).verdict,
	    THROTTLE_BANNED_IP);
	cr_assert_eq(check(t, &lim, "2001:db8:1:2::77", "d", 3),
	    THROTTLE_BANNED_IP);
	cr_assert_eq(check(t, &lim, "2001:db8:1:3::1", "d", 3), THROTTLE_OK);
	/* Per address with a /128 prefix. */
	lim.v6prefix = 128;
	cr_assert_eq(check(t, &lim, "2001:db8:1:2::77", "d", 3), THROTTLE_OK);
	/* ::ffff:192.0.2.1 is 192.0.2.1. */
	fail(t, &lim, "::ffff:192.0.2.1", "a", 4);
	fail(t, &lim, "192.0.2.1", "a", 5);
	cr_assert_eq(fail(t, &lim, "::ffff:192.0.2.1", "a", 6).verdict,
	    THROTTLE_BANNED_IP);
	cr_assert_eq(check(t, &lim, "192.0.2.1", "z", 7), THROTTLE_BANNED_IP);
	throttle_free(t);
}

Test(throttle, success_clears_the_users_failures_from_that_address_only)
{
	struct throttle *t = throttle_new();
	struct throttle_conf tc = conf(100, 100);
	struct throttle_limits lim = {&tc, 64};
	struct sockaddr_storage a = v4("192.0.2.1");
	struct throttle_result r;

	fail(t, &lim, "192.0.2.1", "alice", 0);
	fail(t, &lim, "192.0.2.1", "alice", 1);
	fail(t, &lim, "192.0.2.1", "bob", 2);
	fail(t, &lim, "192.0.2.1", "bob", 3);
	fail(t, &lim, "192.0.2.2", "alice", 4);
	throttle_succeeded(t, &lim, SA(a), "ALICE", 5);
	/* The address keeps bob's two, the user the one from elsewhere. */
	r = fail(t, &lim, "192.0.2.1", "carol", 6);
	cr_assert_eq(r.ip_failures, 3);
	r = fail(t, &lim, "192.0.2.3", "alice", 7);
	cr_assert_eq(r.user_failures, 2);
	cr_assert_eq(r.delay_ms, 4000);
	throttle_free(t);
}

Test(throttle, new_limits_apply_to_the_kept_counts)
{
	struct throttle *t = throttle_new();
	struct throttle_conf before = conf(10, 0), after = conf(3, 0);
	struct throttle_limits lim = {&before, 64};

	fail(t, &lim, "192.0.2.1", "a", 0);
	fail(t, &lim, "192.0.2.1", "a", 1);
	/* A reload: the same table, the new snapshot's limits. */
	lim.tc = &after;
	cr_assert_eq(fail(t, &lim, "192.0.2.1", "a", 2).verdict,
	    THROTTLE_BANNED_IP);
	throttle_free(t);
}

Test(throttle, table_stays_within_max_entries_oldest_first)
{
	struct throttle *t = throttle_new();
	struct throttle_conf tc = conf(5, 0);
	struct throttle_limits lim = {&tc, 64};
	struct sockaddr_storage ss;
	struct throttle_result r;
	char ip[32];

	tc.max_entries = 1000;
	/* 200,000 addresses in 10.0.0.0/8, one guess each. */
	for (unsigned i = 0; i < 200000; i++) {
		snprintf(ip, sizeof(ip), "10.%u.%u.%u", i >> 16,
		    (i >> 8) & 0xff, i & 0xff);
		ss = v4(ip);
		throttle_failed(t, &lim, SA(ss), "root", i, &r);
		cr_assert_leq(throttle_entries(t), 1000, "after %u: %zu", i,
		    throttle_entries(t));
	}
	cr_assert_eq(throttle_entries(t), 1000);
	/* The newest addresses are still counted, the first ones gone. */
	r = fail(t, &lim, "10.3.13.63", "root", 200000); /* i = 199999 */
	cr_assert_eq(r.ip_failures, 2);
	r = fail(t, &lim, "10.0.0.0", "root", 200001);
	cr_assert_eq(r.ip_failures, 1);
	/* A lower max_entries (a reload) takes effect at the next insert. */
	tc.max_entries = 100;
	fail(t, &lim, "192.0.2.1", "root", 200002);
	cr_assert_leq(throttle_entries(t), 100);
	throttle_free(t);
}

#define NTHREADS 6
#define NFAIL 2000

struct worker_arg {
	struct throttle *t;
	const struct throttle_limits *lim;
	pthread_barrier_t *start;
	unsigned id;
};

static void *
worker(void *p)
{
	struct worker_arg *a = p;
	struct sockaddr_storage same = v4("192.0.2.1"), own;
	struct throttle_result r;
	char ip[32];

	pthread_barrier_wait(a->start);
	for (unsigned i = 0; i < NFAIL; i++) {
		throttle_failed(a->t, a->lim, SA(same), "shared", 1, &r);
		/* And a spray of its own, to make the table evict. */
		snprintf(ip, sizeof(ip), "10.%u.%u.%u", a->id, i >> 8,
		    i & 0xff);
		own = v4(ip);
		throttle_failed(a->t, a->lim, SA(own), "u", 1, &r);
		throttle_check(a->t, a->lim, SA(own), "shared", 1, &r);
		if (i % 100 == 0)
			throttle_succeeded(a->t, a->lim, SA(own), "u", 1);
	}
	return NULL;
}

Test(throttle, counts_are_exact_across_threads)
{
	struct throttle *t = throttle_new();
	struct throttle_conf tc = conf(0, 0);
	struct throttle_limits lim = {&tc, 64};
	struct worker_arg args[NTHREADS];
	pthread_t th[NTHREADS];
	pthread_barrier_t start;
	struct throttle_result r;

	tc.max_entries = 500;
	pthread_barrier_init(&start, NULL, NTHREADS);
	for (unsigned i = 0; i < NTHREADS; i++) {
		args[i] = (struct worker_arg){t, &lim, &start, i};
		cr_assert_eq(pthread_create(&th[i], NULL, worker, &args[i]), 0);
	}
	for (unsigned i = 0; i < NTHREADS; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&start);
	cr_assert_leq(throttle_entries(t), 500);
	/* The shared address is touched by every call: never evicted, and
	 * no increment lost. */
	r = fail(t, &lim, "192.0.2.1", "shared", 2);
	cr_assert_eq(r.ip_failures, NTHREADS * NFAIL + 1);
	throttle_free(t);
}

/* A GSSAPI session has no user postern can see: only its address counts,
 * and the failures of many such sessions never ban an empty user. */
Test(throttle, failures_without_a_user_count_for_the_address_only)
{
	struct throttle *t = throttle_new();
	struct throttle_conf tc = conf(3, 2);
	struct throttle_limits lim = {&tc, 64};

	cr_assert_eq(fail(t, &lim, "192.0.2.1", "", 0).verdict, THROTTLE_OK);
	cr_assert_eq(fail(t, &lim, "192.0.2.2", "", 1).verdict, THROTTLE_OK);
	cr_assert_eq(fail(t, &lim, "192.0.2.3", "", 2).verdict, THROTTLE_OK);
	cr_assert_eq(check(t, &lim, "198.51.100.1", "", 3), THROTTLE_OK);
	cr_assert_eq(fail(t, &lim, "192.0.2.1", "", 3).verdict, THROTTLE_OK);
	cr_assert_eq(fail(t, &lim, "192.0.2.1", "", 4).verdict,
	    THROTTLE_BANNED_IP);
	cr_assert_eq(check(t, &lim, "192.0.2.1", "alice", 5),
	    THROTTLE_BANNED_IP);
	throttle_free(t);
}
