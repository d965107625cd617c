/*
 * policy: decisions about whether a connection or a login may go on.
 *
 * Pure functions from the facts of a connection to a verdict; callers do
 * the answering and the logging.  Nothing here blocks, allocates or logs.
 *
 * How a session uses it (s->conf is the session's snapshot):
 *
 * 1. After accept (and the PROXY header, if any), before the greeting:
 *      facts = {proto, client address, tls = implicit TLS, user = NULL,
 *               groups = NULL};
 *      policy_connect(conf, &facts, &d);
 *    POLICY_OUTCOME_DENY: log "AccessRuleDenied:<d.name>", send the protocol's
 *    goodbye (IMAP "* BYE", POP3 "-ERR") and close.  Anything else: go on;
 *    audits are reported again at login, log them there only.
 *
 * 2. On a login (LOGIN, USER+PASS, AUTHENTICATE), credentials in hand:
 *      facts.user = the login name; facts.tls = TLS active now;
 *      if (policy_needs_groups(conf, &facts))
 *              groups_lookup(...) and wait for its callback (see groups.h);
 *              GROUPS_OK: facts.groups = gl; GROUPS_TEMPFAIL: NULL;
 *      policy_login(conf, &facts, &d);
 *    and then, by d.verdict:
 *      POLICY_OUTCOME_ALLOW, _AUDIT: go on to the backend; for AUDIT, write
 *        policy_errmsg() into the log row and the daemon log;
 *      POLICY_OUTCOME_DENY: d.reason LOGIN_TYPE: IMAP "NO [PRIVACYREQUIRED]",
 *        POP3 "-ERR [AUTH]"; RULE or NOT_IN_GROUP: IMAP
 *        "NO [AUTHORIZATIONFAILED]", POP3 "-ERR [AUTH]"; a failed login
 *        attempt; the answer never names the rule or group;
 *      POLICY_OUTCOME_TEMPFAIL (groups needed but unknown): IMAP "NO
 * [UNAVAILABLE]", POP3 "-ERR [SYS/TEMP]"; never an allow; and in every case log
 * policy_errmsg() when it is not empty (it also reports the use of a login-type
 * exemption).
 *
 * Before the password is sent (POP3 USER, capabilities), use
 * policy_login_type() and policy_advertise_cleartext_to(), which know the
 * login_type_exempt_ips of the client.
 */
#ifndef POSTERN_POLICY_H
#define POSTERN_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "conf.h"
#include "groups.h"

/* The longest name of a [rule "NAME"] section, in bytes. */
#define POLICY_RULE_NAME_MAX 64

/* The login type's verdict: go on, refuse, or go on while recording a
 * would-be refusal. */
enum policy_verdict { POLICY_ALLOW, POLICY_DENY, POLICY_AUDIT };

/*
 * The verdict of a decision: the three above, and "refuse for now"
 * because the groups needed could not be looked up.
 */
enum policy_outcome {
	POLICY_OUTCOME_ALLOW,
	POLICY_OUTCOME_DENY,
	POLICY_OUTCOME_AUDIT,
	POLICY_OUTCOME_TEMPFAIL
};

/* What produced a verdict. */
enum policy_reason {
	POLICY_REASON_NONE,         /* no rule applied: allowed by default */
	POLICY_REASON_RULE,         /* the rule d.name applied */
	POLICY_REASON_LOGIN_TYPE,   /* cleartext login without TLS */
	POLICY_REASON_NOT_IN_GROUP, /* not a member of required_group d.name */
	POLICY_REASON_NO_GROUPS,    /* groups needed, facts.groups is NULL */
	POLICY_REASON_NO_USER       /* the rule or required_group d.name
				       needs the user, whom a relayed SASL
				       exchange has not named (yet) */
};

/* What is known about a connection or a login. */
struct policy_facts {
	enum proto_id proto;
	const struct sockaddr *client; /* the client's address; may be NULL */
	bool tls;                      /* TLS is active on the client side */
	const char *user; /* login name; NULL at connect time, and at login
			     while a relayed SASL exchange has not named
			     the user (NTLM before its Type 3, GSSAPI) */
	const struct group_list *groups; /* user's groups; NULL: unknown */
	bool
	    no_secret;    /* a relayed mechanism that sends no reusable
			     secret (NTLM, GSSAPI): see policy_mech_login_type() */
	bool user_hidden; /* no message will name the user (GSSAPI): see
			     gssapi_without_group */
};

/*
 * A decision.  reason and name say what decided: for DENY and TEMPFAIL
 * the refusal; for AUDIT the first would-be refusal; for ALLOW the allow
 * rule that applied, if any.  name points into the snapshot.
 */
struct policy_decision {
	enum policy_outcome verdict;
	enum policy_reason reason;
	const char *name; /* rule or group name, or NULL */

	bool pending;           /* connect: a rule waits for the login */
	bool login_type_exempt; /* login_type_exempt_ips let it through */
	bool audit_login_type;  /* audit mode: login type would refuse */
	const char *audit_rule; /* an audit rule applied: its name */
	/* The allow rule that let the login through, when it has a route
	 * (routing_choose()); NULL otherwise. */
	const struct rule *route_rule;
};

/*
 * May cleartext credentials (USER/PASS, LOGIN, SASL PLAIN or LOGIN) be
 * used on a connection whose TLS state is tls_active?  Under
 * PlainTextAuthentication the answer is the same as under SecureLogin,
 * because postern offers no mechanism that is not cleartext.  Knows no
 * exemption; see policy_login_type().
 */
enum policy_verdict policy_cleartext_login(const struct proto_conf *pc,
    bool tls_active);

/* Whether the mechanisms that send cleartext credentials are advertised. */
bool policy_advertise_cleartext(const struct proto_conf *pc, bool tls_active);

/*
 * policy_cleartext_login() for the client at client (may be NULL): an
 * address in login_type_exempt_ips gets POLICY_ALLOW where the login type
 * would refuse or audit, and *exempt (if not NULL) is set so that the
 * caller logs the use of the exemption.
 */
enum policy_verdict policy_login_type(const struct proto_conf *pc,
    bool tls_active, const struct sockaddr *client, bool *exempt);

/*
 * policy_login_type() for a login whose mechanism sends a reusable
 * secret in the clear (sends_secret: a password, a bearer token) or not
 * (NTLM, GSSAPI).  Exchange's PlainTextAuthentication refuses only the
 * former without TLS; SecureLogin refuses both; PlainTextLogin neither.
 */
enum policy_verdict policy_mech_login_type(const struct proto_conf *pc,
    bool tls_active, const struct sockaddr *client, bool sends_secret,
    bool *exempt);

/* policy_advertise_cleartext() for the client at client (may be NULL). */
bool policy_advertise_cleartext_to(const struct proto_conf *pc, bool tls_active,
    const struct sockaddr *client);

/*
 * The connect-time decision: the access rules, in priority order, as far
 * as they can be decided without a login.  A rule whose protocol and
 * address conditions hold but that also looks at the user, the groups or
 * the authentication stops the evaluation (d->pending, verdict ALLOW): a
 * later rule must not decide before it, since the first applicable rule
 * decides.  facts->user and facts->groups are ignored.  Returns
 * d->verdict.
 */
enum policy_outcome policy_connect(const struct conf *c,
    const struct policy_facts *f, struct policy_decision *d);

/*
 * The login-time decision, in this order: the login type (with audit
 * mode and login_type_exempt_ips), then the access rules (the first that
 * applies decides; none: allowed; audit: allowed and reported), then the
 * protocol's required_group.  A rule's member_of or the required group
 * with facts->groups NULL gives POLICY_OUTCOME_TEMPFAIL
 * (POLICY_REASON_NO_GROUPS). Returns d->verdict.
 */
enum policy_outcome policy_login(const struct conf *c,
    const struct policy_facts *f, struct policy_decision *d);

/*
 * Whether policy_login() would need the groups of facts->user for these
 * facts (facts->groups is ignored).  False when the login type refuses
 * first or no rule or requirement on the way looks at groups.
 */
bool policy_needs_groups(const struct conf *c, const struct policy_facts *f);

/*
 * The decision in words for the daemon log: the refusal first
 * ("AccessRuleDenied:<rule>", "NotInGroup:<group>", "LoginTypeDenied",
 * "GroupLookupFailed"), then the audits ("AuditLoginTypeDenied",
 * "AuditAccessRuleDenied:<rule>"), then "LoginTypeExempt", joined with
 * ';'.  Empty for a plain allow.  Returns buf.
 */
const char *policy_errmsg(const struct policy_decision *d, char *buf,
    size_t len);

/*
 * The refusal alone, for a protocol-log row's ErrMsg: empty unless the
 * login was refused or could not be decided.  Log tools read ErrMsg as a
 * failure, so the audits and the exemption, on logins that go through,
 * are written in keys of their own (sesslog_policy()).  Returns buf.
 */
const char *policy_refusal(const struct policy_decision *d, char *buf,
    size_t len);

/* "allow", "deny", "audit" or "tempfail". */
const char *policy_outcome_name(enum policy_outcome v);

/*
 * User name patterns, on the forms of a login name (username.h).
 * A pattern with '@' or '\' is matched against the whole login name, any
 * other pattern against the user part only: "alice" matches "alice",
 * "Alice@example.org" and "EXAMPLE\alice"; "*@example.org" matches only
 * names written with that domain; "EXAMPLE\*" only EXAMPLE\ names.  '*'
 * matches any run of characters, possibly empty; case is ignored (ASCII).
 */
bool policy_user_match(const char *pattern, const char *user);

struct conf_module;

/*
 * The configuration of the [rule "<name>"] sections and the protocols'
 * access keys (policy_conf.c).
 */
extern const struct conf_module policy_conf_module;

#endif
