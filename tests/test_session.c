/*
 * Unit tests of the session module's own stores: the copy of a login's
 * credentials.
 */
#include "config.h"

#include <string.h>

#include <criterion/criterion.h>

#include "sasl.h"
#include "session.h"

static char user[SASL_USER_MAX + 2], pass[SASL_PASS_MAX + 2];

static void
fill(void)
{
	memset(user, 'u', sizeof(user));
	memset(pass, 'p', sizeof(pass));
}

Test(session, login_values_at_their_longest_are_kept)
{
	struct session s;

	memset(&s, 0, sizeof(s));
	fill();
	cr_assert_eq(session_login_set(&s, user, SASL_USER_MAX, pass,
			 SASL_PASS_MAX),
	    0);
	cr_assert_not_null(s.login);
	cr_assert_eq(s.login->userlen, SASL_USER_MAX);
	cr_assert_eq(s.login->passlen, SASL_PASS_MAX);
	cr_assert_eq(strlen(s.login->user), SASL_USER_MAX);
	cr_assert_eq(strlen(s.login->pass), SASL_PASS_MAX);
	session_login_clear(&s);
	cr_assert_null(s.login);
}

Test(session, login_values_that_do_not_fit_are_refused)
{
	struct session s;

	memset(&s, 0, sizeof(s));
	fill();
	cr_assert_eq(session_login_set(&s, user, SASL_USER_MAX + 1, pass, 1),
	    -1);
	cr_assert_null(s.login);
	cr_assert_eq(session_login_set(&s, user, 1, pass, SASL_PASS_MAX + 1),
	    -1);
	cr_assert_null(s.login);
}

Test(session, a_new_login_replaces_the_last)
{
	struct session s;

	memset(&s, 0, sizeof(s));
	cr_assert_eq(session_login_set(&s, "alice", 5, "secret", 6), 0);
	cr_assert_eq(session_login_set(&s, "bob", 3, "pw", 2), 0);
	cr_assert_str_eq(s.login->user, "bob");
	cr_assert_str_eq(s.login->pass, "pw");
	cr_assert_eq(s.login->passlen, 2);
	session_login_clear(&s);
}

/* 2026-12-06T19:52:46Z, the restart of the field report. */
#define T0_MS 1796586766000ULL

Test(session, ids_of_a_later_start_are_above_every_earlier_id)
{
	/* A run that opened 2^21 sessions per millisecond for a second. */
	uint64_t used = (1ULL << 21) * 1000;
	uint64_t first = session_id_seed(T0_MS, 0xffffffffU);
	uint64_t next = session_id_seed(T0_MS + 1000, 0);

	cr_assert(first + used < next, "%016llX + %llu >= %016llX",
	    (unsigned long long)first, (unsigned long long)used,
	    (unsigned long long)next);
	/* A restart one millisecond later, with the worst random parts. */
	cr_assert(session_id_seed(T0_MS, 0xffffffffU) <
	    session_id_seed(T0_MS + 1, 0));
}

Test(session, ids_of_starts_in_one_millisecond_differ_by_randomness)
{
	cr_assert_neq(session_id_seed(T0_MS, 1), session_id_seed(T0_MS, 2));
	cr_assert_eq(session_id_seed(T0_MS, 1), session_id_seed(T0_MS, 1));
}

Test(session, ids_are_far_from_the_old_count_and_fit_until_2159)
{
	/* The old ids counted from 1: a new run is nowhere near them. */
	cr_assert_gt(session_id_seed(T0_MS, 0), 1ULL << 40);
	/* 2159-01-01: the clock still fits above the count bits. */
	cr_assert_gt(session_id_seed(5964278400000ULL, 0),
	    session_id_seed(5964278399999ULL, 0));
}
