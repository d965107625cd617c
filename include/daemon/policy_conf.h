/*
 * policy_conf: the access rules, [rule "<name>"] sections
 * (policy_conf.c reads them, policy.h evaluates them).
 */
#ifndef POSTERN_POLICY_CONF_H
#define POSTERN_POLICY_CONF_H

#include <stdbool.h>
#include <stddef.h>

struct addrset;

/* What an access rule does when it applies. */
enum rule_action {
	RULE_ALLOW,
	RULE_DENY,
	RULE_AUDIT /* allow, but report that the rule would have denied */
};

/* Bits of the authentication condition. */
#define RULE_AUTH_CLEARTEXT_WITHOUT_TLS                                        \
	0x1u /* cleartext credentials without TLS (not NTLM, GSSAPI) */
#define RULE_AUTH_TLS 0x2u /* a login over TLS */

/* A list of strings (user name patterns, group names). */
struct strlist {
	char **v;
	size_t n;
};

/*
 * The conditions of a rule, or its exceptions.  An unset condition is
 * empty (0, NULL or n == 0) and matches everything for a condition, nothing
 * for an exception.
 */
struct rule_match {
	unsigned protocols;         /* bit (1u << proto_id) */
	struct addrset *client_ips; /* finished set */
	struct strlist usernames;   /* patterns, see policy_user_match() */
	struct strlist member_of;   /* group names */
	unsigned authentication;    /* RULE_AUTH_* bits */
};

/* One access rule. */
struct rule {
	char *name;
	int line; /* of its section header */
	unsigned priority;
	enum rule_action action;
	bool enabled;
	struct rule_match cond;   /* all set conditions must match */
	struct rule_match except; /* any matching exception skips the rule */
	/*
	 * route = NAME of an allow rule: the backend of the logins it
	 * lets through, unless the map file names one (routing.h).
	 */
	char *route;     /* as written; NULL: the rule does not route */
	int route_index; /* in routing.named; routing.nnamed: the
			    protocol's own backend; -1: none */
};

#endif
