/*
 * policy: decisions about whether a login may go on.
 */
#include "config.h"

#include "policy.h"

enum policy_verdict
policy_cleartext_login(const struct proto_conf *pc, bool tls_active)
{
	if (tls_active || pc->login_type == LOGIN_PLAINTEXT_LOGIN)
		return POLICY_ALLOW;
	return pc->login_type_mode == LOGIN_MODE_AUDIT ? POLICY_AUDIT :
							 POLICY_DENY;
}

bool
policy_advertise_cleartext(const struct proto_conf *pc, bool tls_active)
{
	/* In audit mode the capabilities stay what they were before the
	 * policy existed, so that the audit changes no client's behaviour. */
	return policy_cleartext_login(pc, tls_active) != POLICY_DENY;
}
