/*
 * policy: decisions about whether a connection or a login may go on.
 *
 * Rules are matched in three-valued logic: a condition is true, false, or
 * unknown when it needs a fact not yet known (the user at connect time,
 * the groups when they were not looked up).  A rule applies when every
 * condition it sets is true and no exception it sets is true; it is
 * passed over as soon as one condition is false or one exception true,
 * whatever the unknown facts would say.
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "addrset.h"
#include "policy.h"
#include "username.h"
#include "wildmatch.h"

enum tri { T_FALSE, T_TRUE, T_UNKNOWN };

/* Which facts may be used. */
enum stage { STAGE_CONNECT, STAGE_LOGIN };

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

enum policy_verdict
policy_login_type(const struct proto_conf *pc, bool tls_active,
    const struct sockaddr *client, bool *exempt)
{
	return policy_mech_login_type(pc, tls_active, client, true, exempt);
}

enum policy_verdict
policy_mech_login_type(const struct proto_conf *pc, bool tls_active,
    const struct sockaddr *client, bool sends_secret, bool *exempt)
{
	enum policy_verdict v = policy_cleartext_login(pc, tls_active);

	/* A challenge-response exchange gives a listener nothing to log in
	 * with: that is what PlainTextAuthentication allows without TLS. */
	if (!sends_secret && pc->login_type == LOGIN_PLAINTEXT_AUTHENTICATION)
		v = POLICY_ALLOW;

	if (exempt != NULL)
		*exempt = false;
	if (v == POLICY_ALLOW || client == NULL ||
	    pc->login_type_exempt_ips == NULL ||
	    !addrset_contains(pc->login_type_exempt_ips, client))
		return v;
	if (exempt != NULL)
		*exempt = true;
	return POLICY_ALLOW;
}

bool
policy_advertise_cleartext_to(const struct proto_conf *pc, bool tls_active,
    const struct sockaddr *client)
{
	return policy_login_type(pc, tls_active, client, NULL) != POLICY_DENY;
}

bool
policy_user_match(const char *pattern, const char *user)
{
	const char *bare;
	size_t len;

	if (strpbrk(pattern, "@\\") != NULL)
		return wildmatch(pattern, user, strlen(user));
	bare = username_bare(user, &len);
	return wildmatch(pattern, bare, len);
}

/*
 * The truth of the conditions set in m, ANDed (all) or ORed (any).  An
 * unset condition is skipped.  *groups_unknown is set when the answer is
 * unknown because of the groups.
 */
static enum tri
eval_match(const struct rule_match *m, const struct policy_facts *f,
    enum stage st, bool all, bool *groups_unknown)
{
	enum tri parts[5], r;
	size_t np = 0, i;
	bool hit;

	*groups_unknown = false;
	if (m->protocols != 0)
		parts[np++] =
		    (m->protocols & (1u << f->proto)) ? T_TRUE : T_FALSE;
	if (m->client_ips != NULL)
		parts[np++] =
		    f->client != NULL &&
			    addrset_contains(m->client_ips, f->client) ?
			T_TRUE :
			T_FALSE;
	if (m->usernames.n != 0) {
		if (st == STAGE_CONNECT || f->user == NULL)
			parts[np++] = T_UNKNOWN;
		else {
			for (hit = false, i = 0; !hit && i < m->usernames.n;
			     i++)
				hit = policy_user_match(m->usernames.v[i],
				    f->user);
			parts[np++] = hit ? T_TRUE : T_FALSE;
		}
	}
	if (m->authentication != 0) {
		/* A relayed NTLM or GSSAPI exchange without TLS sends no
		 * cleartext credentials: it is neither kind. */
		unsigned how = f->tls       ? RULE_AUTH_TLS :
			       f->no_secret ? 0u :
					      RULE_AUTH_CLEARTEXT_WITHOUT_TLS;

		if (st == STAGE_CONNECT)
			parts[np++] = T_UNKNOWN;
		else
			parts[np++] =
			    (m->authentication & how) ? T_TRUE : T_FALSE;
	}
	if (m->member_of.n != 0) {
		/* Without a user no lookup can tell: unknown, but not for
		 * the want of groups. */
		if (st == STAGE_CONNECT || f->user == NULL)
			parts[np++] = T_UNKNOWN;
		else if (f->groups == NULL) {
			parts[np++] = T_UNKNOWN;
			*groups_unknown = true;
		} else {
			for (hit = false, i = 0; !hit && i < m->member_of.n;
			     i++)
				hit = group_list_has(f->groups,
				    m->member_of.v[i]);
			parts[np++] = hit ? T_TRUE : T_FALSE;
		}
	}
	/* Kleene logic: a decisive part wins over unknown ones. */
	r = all ? T_TRUE : T_FALSE;
	for (i = 0; i < np; i++) {
		if (parts[i] == (all ? T_FALSE : T_TRUE))
			return parts[i];
		if (parts[i] == T_UNKNOWN)
			r = T_UNKNOWN;
	}
	if (r != T_UNKNOWN)
		*groups_unknown = false;
	return r;
}

/* Whether rule applies to f; T_UNKNOWN when it depends on unknown facts. */
static enum tri
rule_applies(const struct rule *rule, const struct policy_facts *f,
    enum stage st, bool *groups_unknown)
{
	enum tri c, e;
	bool gc, ge;

	c = eval_match(&rule->cond, f, st, true, &gc);
	if (c == T_FALSE) {
		*groups_unknown = false;
		return T_FALSE;
	}
	e = eval_match(&rule->except, f, st, false, &ge);
	if (e == T_TRUE) {
		*groups_unknown = false;
		return T_FALSE;
	}
	if (c == T_TRUE && e == T_FALSE) {
		*groups_unknown = false;
		return T_TRUE;
	}
	*groups_unknown = (c == T_UNKNOWN && gc) || (e == T_UNKNOWN && ge);
	return T_UNKNOWN;
}

static void
decision_init(struct policy_decision *d)
{
	memset(d, 0, sizeof(*d));
	d->verdict = POLICY_OUTCOME_ALLOW;
	d->reason = POLICY_REASON_NONE;
}

static void
decide(struct policy_decision *d, enum policy_outcome v, enum policy_reason r,
    const char *name)
{
	d->verdict = v;
	d->reason = r;
	d->name = name;
}

enum policy_outcome
policy_connect(const struct conf *c, const struct policy_facts *f,
    struct policy_decision *d)
{
	const struct rule *rule;
	bool gu;
	size_t i;

	decision_init(d);
	for (i = 0; i < c->nrules; i++) {
		rule = &c->rules[i];
		if (!rule->enabled)
			continue;
		switch (rule_applies(rule, f, STAGE_CONNECT, &gu)) {
		case T_FALSE:
			continue;
		case T_UNKNOWN:
			d->pending = true;
			return d->verdict;
		case T_TRUE:
			break;
		}
		if (rule->action == RULE_DENY)
			decide(d, POLICY_OUTCOME_DENY, POLICY_REASON_RULE,
			    rule->name);
		else if (rule->action == RULE_AUDIT) {
			decide(d, POLICY_OUTCOME_AUDIT, POLICY_REASON_RULE,
			    rule->name);
			d->audit_rule = rule->name;
		} else
			decide(d, POLICY_OUTCOME_ALLOW, POLICY_REASON_RULE,
			    rule->name);
		return d->verdict;
	}
	return d->verdict;
}

/* The access rules at login; false when they refused or could not tell. */
static bool
login_rules(const struct conf *c, const struct policy_facts *f,
    struct policy_decision *d)
{
	const struct rule *rule;
	bool gu;
	size_t i;

	for (i = 0; i < c->nrules; i++) {
		rule = &c->rules[i];
		if (!rule->enabled)
			continue;
		switch (rule_applies(rule, f, STAGE_LOGIN, &gu)) {
		case T_FALSE:
			continue;
		case T_UNKNOWN:
			/* At login, the groups or (a relayed exchange's) user
			 * are unknown.  A rule that may apply decides for
			 * or against the user, never without it. */
			if (gu)
				decide(d, POLICY_OUTCOME_TEMPFAIL,
				    POLICY_REASON_NO_GROUPS, NULL);
			else
				decide(d, POLICY_OUTCOME_DENY,
				    POLICY_REASON_NO_USER, rule->name);
			return false;
		case T_TRUE:
			break;
		}
		switch (rule->action) {
		case RULE_DENY:
			decide(d, POLICY_OUTCOME_DENY, POLICY_REASON_RULE,
			    rule->name);
			return false;
		case RULE_AUDIT:
			d->audit_rule = rule->name;
			if (d->verdict != POLICY_OUTCOME_AUDIT)
				decide(d, POLICY_OUTCOME_AUDIT,
				    POLICY_REASON_RULE, rule->name);
			return true;
		case RULE_ALLOW:
			if (rule->route != NULL)
				d->route_rule = rule;
			if (d->verdict == POLICY_OUTCOME_ALLOW)
				decide(d, POLICY_OUTCOME_ALLOW,
				    POLICY_REASON_RULE, rule->name);
			return true;
		}
	}
	return true;
}

enum policy_outcome
policy_login(const struct conf *c, const struct policy_facts *f,
    struct policy_decision *d)
{
	const struct proto_conf *pc = &c->proto[f->proto];
	enum policy_verdict lt;
	bool exempt;

	decision_init(d);
	lt = policy_mech_login_type(pc, f->tls, f->client, !f->no_secret,
	    &exempt);
	d->login_type_exempt = exempt;
	if (lt == POLICY_DENY) {
		decide(d, POLICY_OUTCOME_DENY, POLICY_REASON_LOGIN_TYPE, NULL);
		return d->verdict;
	}
	if (lt == POLICY_AUDIT) {
		d->audit_login_type = true;
		decide(d, POLICY_OUTCOME_AUDIT, POLICY_REASON_LOGIN_TYPE, NULL);
	}
	if (!login_rules(c, f, d))
		return d->verdict;
	if (pc->required_group != NULL) {
		if (f->user == NULL) {
			if (!(f->user_hidden && pc->gssapi_without_group))
				decide(d, POLICY_OUTCOME_DENY,
				    POLICY_REASON_NO_USER, pc->required_group);
		} else if (f->groups == NULL)
			decide(d, POLICY_OUTCOME_TEMPFAIL,
			    POLICY_REASON_NO_GROUPS, pc->required_group);
		else if (!group_list_has(f->groups, pc->required_group))
			decide(d, POLICY_OUTCOME_DENY,
			    POLICY_REASON_NOT_IN_GROUP, pc->required_group);
	}
	return d->verdict;
}

bool
policy_needs_groups(const struct conf *c, const struct policy_facts *f)
{
	struct policy_facts nf = *f;
	struct policy_decision d;

	nf.groups = NULL;
	policy_login(c, &nf, &d);
	return d.reason == POLICY_REASON_NO_GROUPS;
}

/* Appends one ';'-separated item; output is cut at len, NUL-terminated. */
static void
append(char *buf, size_t len, size_t *n, const char *a, const char *b)
{
	int w;

	if (*n >= len)
		return;
	w = snprintf(buf + *n, len - *n, "%s%s%s", *n ? ";" : "", a,
	    b ? b : "");
	if (w > 0)
		*n += (size_t)w;
}

/* The refusal part of policy_errmsg(); *n is the length written. */
static void
refusal(const struct policy_decision *d, char *buf, size_t len, size_t *n)
{
	buf[0] = '\0';
	if (d->verdict == POLICY_OUTCOME_DENY) {
		switch (d->reason) {
		case POLICY_REASON_RULE:
			append(buf, len, n, "AccessRuleDenied:", d->name);
			break;
		case POLICY_REASON_NOT_IN_GROUP:
			append(buf, len, n, "NotInGroup:", d->name);
			break;
		case POLICY_REASON_LOGIN_TYPE:
			append(buf, len, n, "LoginTypeDenied", NULL);
			break;
		case POLICY_REASON_NO_USER:
			append(buf, len, n, "UserUnknown:", d->name);
			break;
		default:
			break;
		}
	} else if (d->verdict == POLICY_OUTCOME_TEMPFAIL)
		append(buf, len, n, "GroupLookupFailed", NULL);
}

const char *
policy_refusal(const struct policy_decision *d, char *buf, size_t len)
{
	size_t n = 0;

	if (len > 0)
		refusal(d, buf, len, &n);
	return buf;
}

const char *
policy_errmsg(const struct policy_decision *d, char *buf, size_t len)
{
	size_t n = 0;

	if (len == 0)
		return buf;
	refusal(d, buf, len, &n);
	if (d->audit_login_type)
		append(buf, len, &n, "AuditLoginTypeDenied", NULL);
	if (d->audit_rule != NULL)
		append(buf, len, &n, "AuditAccessRuleDenied:", d->audit_rule);
	if (d->login_type_exempt)
		append(buf, len, &n, "LoginTypeExempt", NULL);
	return buf;
}

const char *
policy_outcome_name(enum policy_outcome v)
{
	switch (v) {
	case POLICY_OUTCOME_ALLOW:
		return "allow";
	case POLICY_OUTCOME_DENY:
		return "deny";
	case POLICY_OUTCOME_AUDIT:
		return "audit";
	case POLICY_OUTCOME_TEMPFAIL:
		return "tempfail";
	}
	return "?";
}
