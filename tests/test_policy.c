/*
 * Unit tests of the login-type policy.
 */
#include "config.h"

#include <criterion/criterion.h>

#include "policy.h"

static struct proto_conf
pc_with(enum login_type t, enum login_type_mode m)
{
	struct proto_conf pc = {0};

	pc.login_type = t;
	pc.login_type_mode = m;
	return pc;
}

Test(policy, plaintext_login_allows_cleartext_everywhere)
{
	struct proto_conf pc = pc_with(LOGIN_PLAINTEXT_LOGIN,
	    LOGIN_MODE_ENFORCE);

	cr_assert_eq(policy_cleartext_login(&pc, false), POLICY_ALLOW);
	cr_assert_eq(policy_cleartext_login(&pc, true), POLICY_ALLOW);
	cr_assert(policy_advertise_cleartext(&pc, false));
}

Test(policy, secure_login_refuses_cleartext_without_tls)
{
	struct proto_conf pc = pc_with(LOGIN_SECURE_LOGIN,
	    LOGIN_MODE_ENFORCE);

	cr_assert_eq(policy_cleartext_login(&pc, false), POLICY_DENY);
	cr_assert_eq(policy_cleartext_login(&pc, true), POLICY_ALLOW);
	cr_assert_not(policy_advertise_cleartext(&pc, false));
	cr_assert(policy_advertise_cleartext(&pc, true));
}

Test(policy, plaintext_authentication_behaves_like_secure_login)
{
	struct proto_conf pc = pc_with(LOGIN_PLAINTEXT_AUTHENTICATION,
	    LOGIN_MODE_ENFORCE);

	cr_assert_eq(policy_cleartext_login(&pc, false), POLICY_DENY);
	cr_assert_eq(policy_cleartext_login(&pc, true), POLICY_ALLOW);
}

Test(policy, audit_mode_lets_through_and_marks)
{
	struct proto_conf pc = pc_with(LOGIN_SECURE_LOGIN, LOGIN_MODE_AUDIT);

	cr_assert_eq(policy_cleartext_login(&pc, false), POLICY_AUDIT);
	cr_assert_eq(policy_cleartext_login(&pc, true), POLICY_ALLOW);
	/* Audit changes no client's behaviour: capabilities stay. */
	cr_assert(policy_advertise_cleartext(&pc, false));
}
