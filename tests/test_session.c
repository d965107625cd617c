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
