/*
 * Unit tests of the connection counters.
 */
#include "config.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <string.h>

#include <criterion/criterion.h>

#include "connlimit.h"

static struct sockaddr_storage
v4(const char *a)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

	memset(&ss, 0, sizeof(ss));
	s4->sin_family = AF_INET;
	inet_pton(AF_INET, a, &s4->sin_addr);
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

static enum connlimit_result
take6(const char *a, unsigned prefix, unsigned max)
{
	struct sockaddr_storage ss = v6(a);

	return connlimit_acquire_ip(PROTO_IMAP, (struct sockaddr *)&ss, prefix,
	    0, max);
}

static void
give6(const char *a, unsigned prefix)
{
	struct sockaddr_storage ss = v6(a);

	connlimit_release_ip(PROTO_IMAP, (struct sockaddr *)&ss, prefix);
}

Test(connlimit, ipv6_clients_count_per_64_by_default)
{
	connlimit_init();
	cr_assert_eq(take6("2001:db8:1:2::1", 64, 2), CONNLIMIT_OK);
	cr_assert_eq(take6("2001:db8:1:2:ffff:ffff:ffff:fffe", 64, 2),
	    CONNLIMIT_OK);
	/* A third address of the same /64 is the same client. */
	cr_assert_eq(take6("2001:db8:1:2:abcd::9", 64, 2), CONNLIMIT_IP);
	/* The next /64 is another client. */
	cr_assert_eq(take6("2001:db8:1:3::1", 64, 2), CONNLIMIT_OK);
	/* A release by any address of the network frees its place. */
	give6("2001:db8:1:2:1234::", 64);
	cr_assert_eq(take6("2001:db8:1:2:abcd::9", 64, 2), CONNLIMIT_OK);
	give6("2001:db8:1:2::", 64);
	give6("2001:db8:1:2::", 64);
	give6("2001:db8:1:3::1", 64);
	cr_assert_eq(connlimit_total(PROTO_IMAP), 0);
}

Test(connlimit, ipv6_prefix_length_is_honoured_to_the_bit)
{
	connlimit_init();
	/* /56: the low byte of the fourth group is host part. */
	cr_assert_eq(take6("2001:db8:0:1200::1", 56, 1), CONNLIMIT_OK);
	cr_assert_eq(take6("2001:db8:0:12ff::1", 56, 1), CONNLIMIT_IP);
	cr_assert_eq(take6("2001:db8:0:1300::1", 56, 1), CONNLIMIT_OK);
	/* /61: a prefix inside a byte (0x10-0x17 share it, 0x18 not). */
	cr_assert_eq(take6("2001:db8:0:10::1", 61, 1), CONNLIMIT_OK);
	cr_assert_eq(take6("2001:db8:0:17::1", 61, 1), CONNLIMIT_IP);
	cr_assert_eq(take6("2001:db8:0:18::1", 61, 1), CONNLIMIT_OK);
	/* /128: every address on its own. */
	cr_assert_eq(take6("2001:db8::1", 128, 1), CONNLIMIT_OK);
	cr_assert_eq(take6("2001:db8::2", 128, 1), CONNLIMIT_OK);
	cr_assert_eq(take6("2001:db8::1", 128, 1), CONNLIMIT_IP);
	/* /1: half the address space is one client. */
	cr_assert_eq(take6("4000::1", 1, 1), CONNLIMIT_OK);
	cr_assert_eq(take6("7fff::1", 1, 1), CONNLIMIT_IP);
	cr_assert_eq(take6("8000::1", 1, 1), CONNLIMIT_OK);
}

Test(connlimit, ipv4_stays_per_address_also_when_mapped)
{
	struct sockaddr_storage a = v4("203.0.113.7"), b = v4("203.0.113.8");

	connlimit_init();
	cr_assert_eq(
	    connlimit_acquire_ip(PROTO_POP3, (struct sockaddr *)&a, 1, 0, 1),
	    CONNLIMIT_OK);
	/* The prefix is for IPv6 only: the neighbour is another client. */
	cr_assert_eq(
	    connlimit_acquire_ip(PROTO_POP3, (struct sockaddr *)&b, 1, 0, 1),
	    CONNLIMIT_OK);
	/* The same IPv4 client written as an IPv4-mapped IPv6 address. */
	a = v6("::ffff:203.0.113.7");
	cr_assert_eq(
	    connlimit_acquire_ip(PROTO_POP3, (struct sockaddr *)&a, 64, 0, 1),
	    CONNLIMIT_IP);
	a = v6("::ffff:203.0.113.9");
	cr_assert_eq(
	    connlimit_acquire_ip(PROTO_POP3, (struct sockaddr *)&a, 64, 0, 1),
	    CONNLIMIT_OK);
}

Test(connlimit, per_address_limit_counts_and_releases)
{
	struct sockaddr_storage a = v4("192.0.2.1"), b = v4("192.0.2.2");
	const struct sockaddr *sa = (struct sockaddr *)&a;

	connlimit_init();
	cr_assert_eq(connlimit_acquire_ip(PROTO_POP3, sa, 64, 0, 2),
	    CONNLIMIT_OK);
	cr_assert_eq(connlimit_acquire_ip(PROTO_POP3, sa, 64, 0, 2),
	    CONNLIMIT_OK);
	cr_assert_eq(connlimit_acquire_ip(PROTO_POP3, sa, 64, 0, 2),
	    CONNLIMIT_IP);
	/* Another address and another protocol count apart. */
	cr_assert_eq(
	    connlimit_acquire_ip(PROTO_POP3, (struct sockaddr *)&b, 64, 0, 2),
	    CONNLIMIT_OK);
	cr_assert_eq(connlimit_acquire_ip(PROTO_IMAP, sa, 64, 0, 2),
	    CONNLIMIT_OK);
	cr_assert_eq(connlimit_total(PROTO_POP3), 3);
	connlimit_release_ip(PROTO_POP3, sa, 64);
	cr_assert_eq(connlimit_acquire_ip(PROTO_POP3, sa, 64, 0, 2),
	    CONNLIMIT_OK);
}

Test(connlimit, total_limit)
{
	struct sockaddr_storage a = v4("198.51.100.1"), b = v4("198.51.100.2");

	connlimit_init();
	cr_assert_eq(
	    connlimit_acquire_ip(PROTO_IMAP, (struct sockaddr *)&a, 64, 2, 0),
	    CONNLIMIT_OK);
	cr_assert_eq(
	    connlimit_acquire_ip(PROTO_IMAP, (struct sockaddr *)&b, 64, 2, 0),
	    CONNLIMIT_OK);
	cr_assert_eq(
	    connlimit_acquire_ip(PROTO_IMAP, (struct sockaddr *)&b, 64, 2, 0),
	    CONNLIMIT_TOTAL);
	cr_assert_eq(connlimit_total(PROTO_IMAP), 2);
}

Test(connlimit, users_compare_case_insensitively)
{
	cr_assert_eq(connlimit_acquire_user(PROTO_POP3, "Alice", 1),
	    CONNLIMIT_OK);
	cr_assert_eq(connlimit_acquire_user(PROTO_POP3, "aLICE", 1),
	    CONNLIMIT_USER);
	cr_assert_eq(connlimit_acquire_user(PROTO_IMAP, "alice", 1),
	    CONNLIMIT_OK);
	connlimit_release_user(PROTO_POP3, "ALICE");
	cr_assert_eq(connlimit_acquire_user(PROTO_POP3, "alice", 1),
	    CONNLIMIT_OK);
	/* 0 means no limit. */
	for (int i = 0; i < 100; i++)
		cr_assert_eq(connlimit_acquire_user(PROTO_POP3, "bob", 0),
		    CONNLIMIT_OK);
}

/* Logins of one user accepted at the same moment on different workers. */
struct racer {
	pthread_barrier_t *start;
	unsigned got;
};

static void *
race_for_slots(void *arg)
{
	struct racer *r = arg;

	pthread_barrier_wait(r->start);
	for (int i = 0; i < 1000; i++)
		if (connlimit_acquire_user(PROTO_IMAP, "racer", 5) ==
		    CONNLIMIT_OK)
			r->got++;
	return NULL;
}

Test(connlimit, concurrent_logins_never_pass_the_user_limit)
{
	enum { N = 8 };
	pthread_barrier_t start;
	pthread_t t[N];
	struct racer r[N];
	unsigned total = 0;

	cr_assert_eq(pthread_barrier_init(&start, NULL, N), 0);
	for (int i = 0; i < N; i++) {
		r[i] = (struct racer){.start = &start};
		cr_assert_eq(pthread_create(&t[i], NULL, race_for_slots, &r[i]),
		    0);
	}
	for (int i = 0; i < N; i++) {
		pthread_join(t[i], NULL);
		total += r[i].got;
	}
	pthread_barrier_destroy(&start);
	cr_assert_eq(total, 5);
	for (unsigned i = 0; i < total; i++)
		connlimit_release_user(PROTO_IMAP, "racer");
	cr_assert_eq(connlimit_acquire_user(PROTO_IMAP, "racer", 1),
	    CONNLIMIT_OK);
}
