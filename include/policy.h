/*
 * policy: decisions about whether a login may go on.
 *
 * Pure functions from the facts of a connection to a verdict; callers do
 * the answering and the logging.
 */
#ifndef POSTERN_POLICY_H
#define POSTERN_POLICY_H

#include <stdbool.h>

#include "conf.h"

/* A verdict: go on, refuse, or go on while recording a would-be refusal. */
enum policy_verdict {
	POLICY_ALLOW,
	POLICY_DENY,
	POLICY_AUDIT
};

/*
 * May cleartext credentials (USER/PASS, LOGIN, SASL PLAIN or LOGIN) be
 * used on a connection whose TLS state is tls_active?  Under
 * PlainTextAuthentication the answer is the same as under SecureLogin,
 * because postern offers no mechanism that is not cleartext.
 */
enum policy_verdict policy_cleartext_login(const struct proto_conf *pc,
    bool tls_active);

/* Whether the mechanisms that send cleartext credentials are advertised. */
bool policy_advertise_cleartext(const struct proto_conf *pc, bool tls_active);

#endif
