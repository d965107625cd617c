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

Test(connlimit, per_address_limit_counts_and_releases)
{
	struct sockaddr_storage a = v4("192.0.2.1"), b = v4("192.0.2.2");
	const struct sockaddr *sa = (struct sockaddr *)&a;

	connlimit_init();
	cr_assert_eq(connlimit_acquire_ip(PROTO_POP3, sa, 0, 2), CONNLIMIT_OK);
	cr_assert_eq(connlimit_acquire_ip(PROTO_POP3, sa, 0, 2), CONNLIMIT_OK);
	cr_assert_eq(connlimit_acquire_ip(PROTO_POP3, sa, 0, 2), CONNLIMIT_IP);
	/* Another address and another protocol count apart. */
	cr_assert_eq(connlimit_acquire_ip(PROTO_POP3, (struct sockaddr *)&b,
			 0, 2),
	    CONNLIMIT_OK);
	cr_assert_eq(connlimit_acquire_ip(PROTO_IMAP, sa, 0, 2), CONNLIMIT_OK);
	cr_assert_eq(connlimit_total(PROTO_POP3), 3);
	connlimit_release_ip(PROTO_POP3, sa);
	cr_assert_eq(connlimit_acquire_ip(PROTO_POP3, sa, 0, 2), CONNLIMIT_OK);
}

Test(connlimit, total_limit)
{
	struct sockaddr_storage a = v4("198.51.100.1"), b = v4("198.51.100.2");

	connlimit_init();
	cr_assert_eq(connlimit_acquire_ip(PROTO_IMAP, (struct sockaddr *)&a,
			 2, 0),
	    CONNLIMIT_OK);
	cr_assert_eq(connlimit_acquire_ip(PROTO_IMAP, (struct sockaddr *)&b,
			 2, 0),
	    CONNLIMIT_OK);
	cr_assert_eq(connlimit_acquire_ip(PROTO_IMAP, (struct sockaddr *)&b,
			 2, 0),
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
