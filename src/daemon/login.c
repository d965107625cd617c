/*
 * login: the one login path of both protocols, from the credentials a
 * protocol module has read to the relay (or the refusal): the login type,
 * the throttle, the access policy and the groups it needs, the backend
 * login, max_connections_per_user and the answer.  The protocol modules
 * supply only their wording and framing (struct session_login_ops); the
 * session's life around it (I/O, timers, TLS, teardown) is in session.c.
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "backend.h"
#include "conn.h"
#include "connlimit.h"
#include "groups.h"
#include "log.h"
#include "passthru.h"
#include "policy.h"
#include "relay.h"
#include "sasl.h"
#include "saslmech.h"
#include "server.h"
#include "session.h"
#include "session_internal.h"
#include "sesslog.h"
#include "throttle.h"

/*
 * A user name for the logs and the policy: control bytes become '?'.
 * Bytes from 0x80 up are kept, so that a name in UTF-8 ("jürgen") stays
 * itself for the access rules and in both logs; each log's writer escapes
 * whatever is not well-formed UTF-8.
 */
static char *
session_printable(const char *in, size_t len)
{
	char *out = malloc(len + 1);

	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < len; i++)
		out[i] = iscntrl((unsigned char)in[i]) ? '?' : in[i];
	out[len] = '\0';
	return out;
}

/* Back to reading commands after a refused login. */
static void
session_resume_preauth(struct session *s)
{
	passthru_free(s);
	session_set_state(s, SESSION_PREAUTH);
	conn_enable(s->client, EV_READ);
	session_set_timeout(s, s->pc->pre_auth_timeout_ms);
}

/*
 * Tells the client its login was refused before any backend was asked.
 * Returns -1 when that was the last attempt and the session is closing.
 */
static int
session_login_refused(struct session *s, enum login_result r)
{
	passthru_free(s);
	session_login_clear(s);
	s->proto->login_answer(s, r);
	sesslog_login(s, r);
	/* "Try later" is not the client's fault. */
	if (r != LOGIN_TRY_LATER &&
	    ++s->failed_logins >= s->pc->max_login_attempts) {
		sesslog_close_error(s, "TooManyFailedLogins");
		s->proto->bye(s, BYE_TOO_MANY_ERRORS);
		session_close_after_flush(s, "too many failed logins");
		return -1;
	}
	return 0;
}

/* The shared throttle table and this session's limits; false when off. */
static bool
session_throttle(const struct session *s, struct throttle **t,
    struct throttle_limits *lim)
{
	if (!s->conf->throttle.enabled || (*t = throttle_shared()) == NULL)
		return false;
	lim->tc = &s->conf->throttle;
	lim->v6prefix = s->pc->ipv6_prefix_length;
	return true;
}

static uint64_t
session_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * Whether the throttle bans the client's address (*ip) or s->user; a ban
 * is logged and counted.
 */
static bool
session_throttle_banned(struct session *s, bool *ip)
{
	struct throttle *t;
	struct throttle_limits lim;
	struct throttle_result res;
	enum throttle_verdict v;

	if (!session_throttle(s, &t, &lim))
		return false;
	v = throttle_check(t, &lim, (struct sockaddr *)&s->peer.sa, s->user,
	    session_now_ms(), &res);
	if (v == THROTTLE_OK)
		return false;
	*ip = v == THROTTLE_BANNED_IP;
	/* A line for every refused attempt, as for every failure the
	 * backend answers: the address in its tag is what fail2ban and
	 * an administrator look for.  (The backend and directory warnings
	 * are limited instead: an outage would repeat them per session.) */
	log_notice("%s: user %s: throttled: %s banned for another %llu s",
	    session_tag(s), s->user,
	    *ip ? "the client's address is" : "the user is",
	    (unsigned long long)(res.ban_left_ms + 999) / 1000);
	stats_refused(&s->stats, STATS_REFUSED_THROTTLE);
	return true;
}

/*
 * Answers a throttled login as a wrong password; why is the protocol
 * log's reason ("ClientBanned", "UserBanned").  -1: the session closes.
 */
static int
session_throttle_refuse(struct session *s, const char *why)
{
	passthru_free(s);
	session_login_clear(s);
	s->proto->login_answer(s, LOGIN_FAILED);
	sesslog_throttled(s, why);
	if (++s->failed_logins >= s->pc->max_login_attempts) {
		sesslog_close_error(s, "TooManyFailedLogins");
		s->proto->bye(s, BYE_TOO_MANY_ERRORS);
		session_close_after_flush(s, "too many failed logins");
		return -1;
	}
	return 1;
}

/*
 * Refuses a login from a banned address or for a banned user without
 * asking the backend: the answer is the one a wrong password gets, so
 * that a guesser learns nothing, and its guesses are never checked.
 * Returns 0 when the login may go on, 1 when it was refused and the
 * client may send commands, -1 when the session is closing.
 */
static int
session_throttle_check(struct session *s)
{
	bool ip = false;

	if (!session_throttle_banned(s, &ip))
		return 0;
	return session_throttle_refuse(s, ip ? "ClientBanned" : "UserBanned");
}

/*
 * Chooses the login's backend: the user is known and allowed, and no
 * credential has left yet.  The route comes from the configuration and
 * the directory only, never from what the client sent beyond its user
 * name.  False when there is none for now; the login is then refused as
 * a temporary failure, never sent to a server the directory did not name.
 */
static bool
session_route_choose(struct session *s, const struct rule *rule,
    const struct group_list *groups)
{
	const char *attr = s->conf->routing.ldap_route_attribute;
	char what[GROUP_ROUTE_MAX + 128], key[LOG_LIMIT_KEY_MAX];

	backend_release(s);
	if (routing_choose(s->conf, s->proto->id, s->login->user, rule, groups,
		&s->route) == 0 &&
	    s->route.ldap != ROUTE_LDAP_UNMAPPED)
		return true;
	if (s->route.refused == ROUTE_REFUSED_NO_LOOKUP) {
		log_limited(LOGLEVEL_WARNING,
		    "no route: directory lookup failed",
		    "%s: user %s: no route: the directory lookup for %s "
		    "failed; login refused for now",
		    session_tag(s), s->user, attr);
		return false;
	}
	/* The directory answered (groups is set), with no usable route. */
	if (groups->route_kind == GROUP_ROUTE_VALUE)
		snprintf(what, sizeof(what), "%s '%s' is not in [route_values]",
		    attr, groups->route);
	else
		snprintf(what, sizeof(what), "%s has %s", attr, groups->route);
	if (s->route.backend != NULL) {
		log_notice("%s: user %s: %s: the protocol's backend "
			   "(unmapped_route = default)",
		    session_tag(s), s->user, what);
		return true;
	}
	/* A directory value nobody mapped fails every login of its users
	 * alike: limited per value. */
	snprintf(key, sizeof(key), "no route: %.180s", what);
	log_limited(LOGLEVEL_WARNING, key,
	    "%s: user %s: no route: %s; login refused for now "
	    "(unmapped_route = refuse)",
	    session_tag(s), s->user, what);
	sesslog_error(s, "RouteUnmapped");
	return false;
}

/* Takes the chosen backend's connection slot. */
static bool
session_route(struct session *s)
{
	char src[ROUTE_SOURCE_MAX];

	/* Every login passes here: nothing is formatted for a line that
	 * the log level drops. */
	if (log_enabled(LOGLEVEL_DEBUG)) {
		routing_source(&s->route, src, sizeof(src));
		log_debug("%s: user %s: backend %s (route %s)", session_tag(s),
		    s->user, s->route.backend->name, src);
	}
	if (backend_acquire(s))
		return true;
	backend_set_failure(s, BACKEND_FAILURE_CONNECT,
	    "max_connections (%u) reached", s->route.backend->max_connections);
	return false;
}

/*
 * The login goes on to the backend.  max_connections_per_user is not
 * looked at yet: see session_user_slot().
 */
static int
session_login_go(struct session *s)
{
	session_set_state(s, SESSION_BACKEND);
	conn_disable(s->client, EV_READ);
	session_set_timeout(s, s->pc->backend_timeout_ms);
	stats_backend_start(&s->stats);
	if (!session_route(s)) {
		session_backend_done(s, BACKEND_BROKEN);
		return -1;
	}
	if (backend_connect(s) == -1) {
		session_backend_done(s, BACKEND_BROKEN);
		return -1;
	}
	return 0;
}

static void
session_login_facts(struct session *s, struct policy_facts *f)
{
	memset(f, 0, sizeof(*f));
	f->proto = s->proto->id;
	f->client = (struct sockaddr *)&s->peer.sa;
	f->tls = s->tls != SESSION_TLS_NONE;
	f->user = s->login->user;
	f->no_secret =
	    passthru_current(s) != NULL && !passthru_current(s)->sends_secret;
}

/* Logs, records and counts the access policy's decision d on s. */
static void
session_policy_note(struct session *s, const struct policy_decision *d)
{
	char msg[256];

	policy_errmsg(d, msg, sizeof(msg));
	if (msg[0] != '\0')
		log_notice("%s: user %s: %s", session_tag(s),
		    s->user[0] != '\0' ? s->user : "(not named)", msg);
	session_policy_reason(s, policy_refusal(d, msg, sizeof(msg)));
	sesslog_policy(s, d);
	stats_policy(&s->stats, d);
}

/* The answer to a login that the decision d refuses. */
static enum login_result
session_policy_answer(const struct policy_decision *d)
{
	if (d->verdict == POLICY_OUTCOME_TEMPFAIL)
		return LOGIN_TRY_LATER;
	return d->reason == POLICY_REASON_LOGIN_TYPE ? LOGIN_PRIVACY :
						       LOGIN_DENIED;
}

/*
 * Whether the access policy's decision d lets the login go on; logged,
 * recorded and counted either way.
 */
static bool
session_policy_allows(struct session *s, const struct policy_decision *d)
{
	session_policy_note(s, d);
	switch (d->verdict) {
	case POLICY_OUTCOME_AUDIT:
	case POLICY_OUTCOME_ALLOW:
		return true;
	case POLICY_OUTCOME_DENY:
	case POLICY_OUTCOME_TEMPFAIL:
		break;
	}
	return false;
}

/*
 * The access policy's decision on the login's user, with what is known of
 * the user's groups (NULL: not needed, or the lookup failed), in d: true
 * when it lets the login go on.
 */
static bool
session_login_policy(struct session *s, const struct group_list *groups,
    struct policy_decision *d)
{
	struct policy_facts f;

	session_login_facts(s, &f);
	f.groups = groups;
	policy_login(s->conf, &f, d);
	return session_policy_allows(s, d);
}

/*
 * An allowed login goes on to the backend that rule (NULL: none), the
 * map, the directory or the default names.  Returns -1 when the session
 * is closing, answered when the client was told to try later, 0 when the
 * backend login started.
 */
static int
session_login_routed(struct session *s, const struct rule *rule,
    const struct group_list *groups, int answered)
{
	/* No route for now is a temporary failure, whatever the rules
	 * allowed: never another server (routing.h). */
	if (!session_route_choose(s, rule, groups))
		return session_login_refused(s, LOGIN_TRY_LATER) == -1 ?
			   -1 :
			   answered;
	return session_login_go(s);
}

/*
 * The login-time decision with what is known of the user's groups (NULL:
 * not needed, or the lookup failed).  Returns -1 when the session is
 * closing, 1 when the client was answered and may try again, 0 when the
 * backend login started.
 */
static int
session_login_decide(struct session *s, const struct group_list *groups)
{
	struct policy_decision d;

	if (session_login_policy(s, groups, &d))
		return session_login_routed(s, d.route_rule, groups, 1);
	return session_login_refused(s, session_policy_answer(&d)) == -1 ? -1 :
									   1;
}

/*
 * The decision on the user that a relayed exchange named late (NTLM's
 * Type 3), which waits in passthru: it goes to the backend, or the
 * backend is told "*" instead (passthru_late_refuse()).
 */
static void
session_late_decide(struct session *s, const struct group_list *groups)
{
	struct policy_decision d;

	if (session_login_policy(s, groups, &d))
		passthru_late_forward(s);
	else
		passthru_late_refuse(s, session_policy_answer(&d), NULL);
}

/* The groups of the user are known, or cannot be. */
static void
session_groups_cb(enum groups_status st, const struct group_list *gl,
    const char *err, void *arg)
{
	struct session *s = arg;
	int rc;

	s->greq = NULL;
	if (st != GROUPS_OK) {
		char key[LOG_LIMIT_KEY_MAX];

		/* A directory outage fails every login alike: limited. */
		snprintf(key, sizeof(key), "group lookup failed: %s",
		    err != NULL ? err : "unknown");
		log_limited(LOGLEVEL_WARNING, key,
		    "%s: user %s: group lookup failed: %s", session_tag(s),
		    s->user, err != NULL ? err : "unknown");
	}
	if (passthru_late_pending(s)) {
		session_late_decide(s, st == GROUPS_OK ? gl : NULL);
		return;
	}
	rc = session_login_decide(s, st == GROUPS_OK ? gl : NULL);
	if (rc != 1)
		return;
	session_resume_preauth(s);
	/* The client may have sent more while its groups were looked up. */
	if (evbuffer_get_length(conn_input(s->client)) > 0)
		s->proto->client_input(s);
}

static bool session_login_type_ok(struct session *s, const char *ref,
    bool sent_password, bool sends_secret, bool note_audit);

bool
session_cleartext_ok(struct session *s, const char *ref, bool sent_password)
{
	return session_login_type_ok(s, ref, sent_password, true, true);
}

bool
session_cleartext_first_step_ok(struct session *s, const char *ref)
{
	return session_login_type_ok(s, ref, false, true, false);
}

bool
session_mech_login_type_ok(struct session *s, const char *ref,
    bool sent_password, bool sends_secret)
{
	return session_login_type_ok(s, ref, sent_password, sends_secret, true);
}

static bool
session_login_type_ok(struct session *s, const char *ref, bool sent_password,
    bool sends_secret, bool note_audit)
{
	const struct session_login_ops *ops = s->proto->login_ops;
	bool exempt = false;

	switch (policy_mech_login_type(s->pc, s->tls != SESSION_TLS_NONE,
	    (struct sockaddr *)&s->peer.sa, sends_secret, &exempt)) {
	case POLICY_ALLOW:
		if (exempt && note_audit)
			log_info("%s: cleartext login without TLS allowed by "
				 "login_type_exempt_ips",
			    session_tag(s));
		return true;
	case POLICY_AUDIT:
		if (!note_audit)
			return true;
		log_notice("%s: audit: cleartext login without TLS would be "
			   "refused by login_type",
		    session_tag(s));
		sesslog_audit(s, sesslog_audit_verdict(s->pc));
		/* Counted once per login, with the login's policy decision
		 * (stats_policy()): this check runs on every command that
		 * carries a part of it. */
		return true;
	case POLICY_DENY:
		break;
	}
	stats_refused(&s->stats, STATS_REFUSED_LOGIN_TYPE);
	sesslog_error(s, "LoginTypeDenied");
	if (sent_password) {
		log_notice("%s: refused a cleartext login without TLS; the "
			   "client sent its password in the clear",
		    session_tag(s));
		sesslog_msg(s, "ClearTextPasswordRefused");
	} else if (ops->cleartext_refused_log != NULL)
		log_info("%s: %s", session_tag(s), ops->cleartext_refused_log);
	ops->cleartext_refused(s, ref);
	return false;
}

/*
 * Asks the policy (and the groups it needs) about the login in s->login;
 * the backend login follows when it allows it.
 */
static int
session_login_check(struct session *s)
{
	struct policy_facts f;

	/* An earlier login's route is not this one's. */
	backend_release(s);
	memset(&s->route, 0, sizeof(s->route));
	s->backend_at = 0;
	free(s->user);
	s->user = session_printable(s->login->user, s->login->userlen);
	if (s->user == NULL) {
		s->proto->bye(s, BYE_INTERNAL);
		session_close_after_flush(s, "out of memory");
		return -1;
	}
	switch (session_throttle_check(s)) {
	case 0:
		break;
	case 1:
		return 0;
	default:
		return -1;
	}
	session_login_facts(s, &f);
	if (!policy_needs_groups(s->conf, &f) &&
	    !routing_needs_directory(s->conf))
		/* Called from the protocol's input loop, which goes on
		 * reading commands after a refusal. */
		return session_login_decide(s, NULL) == -1 ? -1 : 0;
	/* Client reads wait for the answer; backend_timeout bounds it. */
	session_set_state(s, SESSION_BACKEND);
	conn_disable(s->client, EV_READ);
	session_set_timeout(s, s->pc->backend_timeout_ms);
	if (s->worker->gport != NULL)
		s->greq = groups_lookup(s->worker->gport, s->conf,
		    s->login->user, session_groups_cb, s);
	if (s->greq == NULL) {
		log_limited(LOGLEVEL_WARNING, "cannot look up groups",
		    "%s: user %s: cannot look up groups", session_tag(s),
		    s->user);
		if (session_login_refused(s, LOGIN_TRY_LATER) == -1)
			return -1;
		session_resume_preauth(s);
	}
	return 0;
}

/*
 * A relayed exchange whose first message names nobody (NTLM, GSSAPI):
 * the backend must be chosen before the user is known, so only rules
 * that need no user can route it (else: the protocol's default backend).
 * NTLM's user is checked when its Type 3 comes (session_login_late());
 * GSSAPI's never is, so its session passes only rules that need none.
 */
static int
session_login_nouser(struct session *s)
{
	const struct saslmech *m = passthru_current(s);
	struct policy_facts f;
	struct policy_decision d;

	backend_release(s);
	memset(&s->route, 0, sizeof(s->route));
	s->backend_at = 0;
	switch (session_throttle_check(s)) {
	case 0:
		break;
	case 1:
		return 0;
	default:
		return -1;
	}
	session_login_facts(s, &f);
	f.user = NULL;
	f.user_hidden = m->user_at == SASLMECH_USER_AT_NONE;
	policy_login(s->conf, &f, &d);
	if (m->user_at == SASLMECH_USER_AT_LAST &&
	    (d.verdict == POLICY_OUTCOME_ALLOW ||
		(d.verdict == POLICY_OUTCOME_DENY &&
		    d.reason == POLICY_REASON_NO_USER))) {
		/* Decided (and recorded) on the Type 3's user; a rule that
		 * needs the user routes nothing here.  Without a user
		 * neither the map nor the directory applies (routing.h):
		 * choosing cannot fail, but a refusal would be answered. */
		return session_login_routed(s,
		    d.verdict == POLICY_OUTCOME_ALLOW ? d.route_rule : NULL,
		    NULL, 0);
	}
	if (session_policy_allows(s, &d))
		return session_login_routed(s, d.route_rule, NULL, 0);
	return session_login_refused(s, session_policy_answer(&d)) == -1 ? -1 :
									   0;
}

int
session_login_passthru(struct session *s)
{
	const struct saslmech *m = passthru_current(s);

	if (m != NULL && m->user_at != SASLMECH_USER_AT_FIRST)
		return session_login_nouser(s);
	return session_login_check(s);
}

int
session_login_late(struct session *s, const char *user)
{
	size_t ulen = strlen(user);
	struct policy_facts f;
	bool ip = false;
	char *u;

	if (session_login_set(s, user, ulen, "", 0) == -1 ||
	    (u = session_printable(user, ulen)) == NULL) {
		s->proto->bye(s, BYE_INTERNAL);
		session_close_after_flush(s, "out of memory");
		return -1;
	}
	free(s->user);
	s->user = u;
	if (session_throttle_banned(s, &ip)) {
		passthru_late_refuse(s, LOGIN_FAILED,
		    ip ? "ClientBanned" : "UserBanned");
		return 0;
	}
	session_login_facts(s, &f);
	if (!policy_needs_groups(s->conf, &f)) {
		session_late_decide(s, NULL);
		return 0;
	}
	/* The backend waits for the Type 3 meanwhile; backend_timeout
	 * bounds both. */
	if (s->worker->gport != NULL)
		s->greq = groups_lookup(s->worker->gport, s->conf,
		    s->login->user, session_groups_cb, s);
	if (s->greq == NULL) {
		log_limited(LOGLEVEL_WARNING, "cannot look up groups",
		    "%s: user %s: cannot look up groups", session_tag(s),
		    s->user);
		passthru_late_refuse(s, LOGIN_TRY_LATER, NULL);
	}
	return 0;
}

/* A login with its way (mech), which the summary line names. */
static int
session_login_as(struct session *s, const char *ref, const char *user,
    size_t userlen, const char *pass, size_t passlen, const char *mech,
    bool sasl)
{
	s->mech = mech;
	s->mech_sasl = sasl;
	if (session_login_set(s, user, userlen, pass, passlen) == -1) {
		s->proto->bye(s, BYE_INTERNAL);
		session_close_after_flush(s, "cannot keep the credentials");
		return -1;
	}
	s->proto->login_ops->login_begin(s, ref);
	return session_login_check(s);
}

int
session_login(struct session *s, const char *ref, const char *user,
    size_t userlen, const char *pass, size_t passlen)
{
	return session_login_as(s, ref, user, userlen, pass, passlen,
	    s->proto->login_ops->login_name, false);
}

/* A SASL response whose credentials cannot be read: a bad command. */
static int
session_auth_refused(struct session *s, const char *ref,
    struct sasl_creds *creds)
{
	sasl_creds_clear(creds);
	s->proto->login_ops->auth_failed(s, ref);
	return session_bad_command(s);
}

int
session_login_plain(struct session *s, const char *ref, const char *b64,
    size_t len)
{
	struct sasl_creds creds;
	enum sasl_error err;
	int rc;

	err = sasl_plain_decode(b64, len, &creds);
	if (err != SASL_OK) {
		log_info("%s: %s PLAIN refused: %s", session_tag(s),
		    s->proto->login_ops->auth_name, sasl_strerror(err));
		return session_auth_refused(s, ref, &creds);
	}
	rc = session_login_as(s, ref, creds.user, strlen(creds.user),
	    creds.pass, strlen(creds.pass), "PLAIN", true);
	sasl_creds_clear(&creds);
	return rc;
}

int
session_login_user(struct session *s, const char *ref, const char *b64,
    size_t len, char *user, size_t cap, size_t *userlen)
{
	struct sasl_creds creds;
	size_t n;

	if (sasl_login_decode(b64, len, SASL_FIELD_USER, &creds) != SASL_OK ||
	    (n = strlen(creds.user)) >= cap)
		return session_auth_refused(s, ref, &creds) == -1 ? -1 : 0;
	memcpy(user, creds.user, n + 1);
	*userlen = n;
	sasl_creds_clear(&creds);
	session_set_user(s, user, n);
	session_printf(s, "+ %s\r\n", SASL_LOGIN_PROMPT_PASS);
	return 1;
}

int
session_login_pass(struct session *s, const char *ref, const char *b64,
    size_t len, const char *user, size_t userlen)
{
	struct sasl_creds creds;
	int rc;

	if (sasl_login_decode(b64, len, SASL_FIELD_PASS, &creds) != SASL_OK)
		return session_auth_refused(s, ref, &creds);
	rc = session_login_as(s, ref, user, userlen, creds.pass,
	    strlen(creds.pass), "LOGIN", true);
	sasl_creds_clear(&creds);
	return rc;
}

/*
 * Takes one of the user's max_connections_per_user slots once the backend
 * has accepted the password, never before: a slot held by a login still
 * being checked would let anyone who knows the name fill them all with
 * wrong passwords (the backend delays each failure) and lock the user
 * out.  Check and take are one step under connlimit's lock, so two logins
 * accepted at once cannot both get the last slot.  Over the limit, the
 * client is told so and the backend session is logged out politely;
 * returns false then.
 */
static bool
session_user_slot(struct session *s)
{
	/* A GSSAPI session's user is the backend's secret: no count. */
	if (s->user[0] == '\0')
		return true;
	if (connlimit_acquire_user(s->proto->id, s->user,
		s->pc->max_connections_per_user) == CONNLIMIT_OK) {
		s->user_counted = true;
		return true;
	}
	log_notice("%s: user %s: max_connections_per_user (%u) reached",
	    session_tag(s), s->user, s->pc->max_connections_per_user);
	stats_refused(&s->stats, STATS_REFUSED_USER_LIMIT);
	session_login_clear(s);
	s->proto->login_answer(s, LOGIN_IN_USE);
	sesslog_login(s, LOGIN_IN_USE);
	s->backend_logout = true;
	session_set_timeout(s, SESSION_FLUSH_MS);
	backend_logout(s);
	return false;
}

/*
 * The backend's label for the counters: the address of its pool that the
 * login ended on, as the summary line names it; the backend's name when
 * none was tried (its max_connections was reached).
 */
static void
session_backend_label(const struct session *s, char *buf, size_t size)
{
	const struct backend_addr *a = backend_current(s);

	if (a != NULL)
		backend_addr_str(a, buf, size);
	else
		snprintf(buf, size, "%s",
		    s->route.backend != NULL ? s->route.backend->name : "-");
}

void
session_backend_tls_up(struct session *s, bool resumed)
{
	char label[300];

	if (!s->stats.counted)
		return;
	session_backend_label(s, label, sizeof(label));
	stats_backend_tls(&s->stats, label, resumed);
}

void
session_backend_logged_out(struct session *s)
{
	s->backend_logout = false;
	backend_close(s);
	backend_release(s);
	if (s->probe) {
		session_close(s, NULL);
		return;
	}
	session_resume_preauth(s);
	/* The client may have sent more while the backend logged out. */
	if (evbuffer_get_length(conn_input(s->client)) > 0)
		s->proto->client_input(s);
}

/*
 * A backend that is down fails every login alike: its warning is limited
 * per backend and reason (the protocol log still has every session).
 */
static void
session_backend_warn(struct session *s)
{
	const struct backend_addr *a = backend_current(s);
	char key[LOG_LIMIT_KEY_MAX], addr[300] = "-";
	char src[ROUTE_SOURCE_MAX];

	/* Before a route: the wait was for the user's groups. */
	if (s->route.backend == NULL) {
		snprintf(key, sizeof(key), "login: %.80s", backend_error(s));
		log_limited(LOGLEVEL_WARNING, key, "%s: user %s: %s",
		    session_tag(s), s->user, backend_error(s));
		return;
	}
	if (a != NULL)
		backend_addr_str(a, addr, sizeof(addr));
	routing_source(&s->route, src, sizeof(src));
	/* The key is also the text of the count at exit. */
	snprintf(key, sizeof(key), "backend %.60s: %.80s (backend %.30s)", addr,
	    backend_error(s), s->route.backend->name);
	/* No other backend is tried: it would hold another mailbox.  A
	 * configuration without names reads as it did before them. */
	if (s->route.backend->implicit && s->route.match == ROUTEMAP_NONE &&
	    s->route.rule == NULL)
		log_limited(LOGLEVEL_WARNING, key, "%s: backend %s: %s",
		    session_tag(s), addr, backend_error(s));
	else
		log_limited(LOGLEVEL_WARNING, key,
		    "%s: backend %s: %s (user %s: backend %s, route %s)",
		    session_tag(s), addr, backend_error(s), s->user,
		    s->route.backend->name, src);
}

/* "backend old 192.0.2.7:1993, route map:3:user", for the daemon log. */
static void
session_route_str(const struct session *s, char *buf, size_t len)
{
	const struct backend_addr *a = backend_current(s);
	char addr[300] = "-", src[ROUTE_SOURCE_MAX];

	if (a != NULL)
		backend_addr_str(a, addr, sizeof(addr));
	routing_source(&s->route, src, sizeof(src));
	snprintf(buf, len, "backend %s %s, route %s", s->route.backend->name,
	    addr, src);
}

/* The answer to a password the backend refused. */
static void
session_auth_failed(struct session *s)
{
	s->proto->login_answer(s, LOGIN_FAILED);
	sesslog_login(s, LOGIN_FAILED);
	if (++s->failed_logins >= s->pc->max_login_attempts) {
		sesslog_close_error(s, "TooManyFailedLogins");
		s->proto->bye(s, BYE_TOO_MANY_ERRORS);
		session_close_after_flush(s, "too many failed logins");
		return;
	}
	session_resume_preauth(s);
	/* The client may have sent more while the backend was busy with
	 * the login. */
	if (evbuffer_get_length(conn_input(s->client)) > 0)
		s->proto->client_input(s);
}

static void
session_throttle_wait_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;

	(void)fd;
	(void)what;
	event_free(s->throttle_wait);
	s->throttle_wait = NULL;
	session_auth_failed(s);
}

/*
 * Counts the refused password against the client's address and the user
 * and holds the answer back for the throttle's delay, during which the
 * session reads nothing and stays in SESSION_BACKEND (a close meanwhile
 * frees the timer in session_cancel_pending()).  Returns true when the
 * answer waits, false when it is due now.
 */
static bool
session_throttle_failed(struct session *s)
{
	struct throttle *t;
	struct throttle_limits lim;
	struct throttle_result res;
	struct timeval tv;
	uint64_t took;
	unsigned wait;

	session_login_clear(s);
	if (!session_throttle(s, &t, &lim)) {
		log_info("%s: user %s: login refused by the backend",
		    session_tag(s), s->user);
		return false;
	}
	throttle_failed(t, &lim, (struct sockaddr *)&s->peer.sa, s->user,
	    session_now_ms(), &res);
	/* The backend's own delay of the failure counts as part of ours. */
	took =
	    session_now_ms() - ((uint64_t)s->backend_sent.tv_sec * 1000 +
				   (uint64_t)s->backend_sent.tv_nsec / 1000000);
	wait = throttle_wait(res.delay_ms, took);
	log_info("%s: user %s: login refused by the backend (failures in "
		 "the window: %u from the address, %u of the user; answer "
		 "in %u ms: the backend took %llu, postern waits %u)",
	    session_tag(s), s->user, res.ip_failures, res.user_failures,
	    res.delay_ms > took ? res.delay_ms : (unsigned)took,
	    (unsigned long long)took, wait);
	/* Once per ban, after max_failures lines of failures: not limited,
	 * so that every ban can be found in the log. */
	if (res.ban_started)
		log_notice(
		    "%s: user %s: too many failed logins: %s refused for %u s",
		    session_tag(s), s->user,
		    res.verdict == THROTTLE_BANNED_IP ? "the client's address" :
							"the user",
		    lim.tc->ban_time_ms / 1000);
	if (wait == 0)
		return false;
	s->throttle_wait =
	    evtimer_new(s->worker->base, session_throttle_wait_cb, s);
	if (s->throttle_wait == NULL)
		return false; /* answered at once: no worse than no throttle */
	tv.tv_sec = (time_t)(wait / 1000);
	tv.tv_usec = (suseconds_t)(wait % 1000) * 1000;
	evtimer_add(s->throttle_wait, &tv);
	/* The session timer only guards against a lost wake-up now. */
	session_set_timeout(s, wait + SESSION_FLUSH_MS);
	return true;
}

/*
 * How a probe (session_probe()) ended: with what the backend offers
 * noted (passthru_backend_offers()), or with nothing learned.
 */
static void
session_probe_done(struct session *s, enum backend_result r)
{
	if (r == BACKEND_PROBED) {
		passthru_probe_report(s);
		s->backend_logout = true;
		session_set_timeout(s, SESSION_FLUSH_MS);
		backend_logout(s);
		return;
	}
	log_warnx("%s: cannot ask %s backend %s which SASL mechanisms it "
		  "offers: %s; passthrough_mechanisms are advertised as "
		  "configured until a login sees them",
	    session_tag(s), s->proto->section, s->route.backend->name,
	    r == BACKEND_BROKEN ? backend_error(s) : "unexpected answer");
	session_close(s, NULL);
}

void
session_backend_done(struct session *s, enum backend_result r)
{
	char route[400];
	struct throttle *t;
	struct throttle_limits lim;
	bool cancelled = passthru_cancelled(s);
	enum login_result refused;
	const char *throttled;

	if (s->probe) {
		session_probe_done(s, r);
		return;
	}
	if (passthru_late_refused(s, &refused, &throttled)) {
		/* The backend answered the "*" that stood for a refused
		 * Type 3 (or failed meanwhile): postern's refusal is the
		 * client's answer, whatever the backend said. */
		s->stats.backend_t0 = 0;
		backend_close(s);
		backend_release(s);
		if ((throttled != NULL ?
			    session_throttle_refuse(s, throttled) :
			    session_login_refused(s, refused)) == -1)
			return;
		session_resume_preauth(s);
		if (evbuffer_get_length(conn_input(s->client)) > 0)
			s->proto->client_input(s);
		return;
	}
	passthru_free(s);
	/* Neither a verdict on credentials nor a backend failure: not
	 * timed or counted as either. */
	if (r == BACKEND_NO_MECH || (r == BACKEND_AUTH_FAILED && cancelled))
		s->stats.backend_t0 = 0;
	if (r == BACKEND_NO_MECH) {
		log_notice("%s: user %s: the backend does not offer %s %s",
		    session_tag(s), s->user, s->proto->login_ops->auth_name,
		    s->mech);
		backend_close(s);
		backend_release(s);
		session_login_clear(s);
		s->proto->login_ops->sasl_answer(s, NULL,
		    SASL_ANSWER_UNSUPPORTED);
		sesslog_error(s, "UnsupportedMechanism");
		sesslog_end(s);
		if (session_bad_command(s) == -1)
			return;
		session_resume_preauth(s);
		if (evbuffer_get_length(conn_input(s->client)) > 0)
			s->proto->client_input(s);
		return;
	}
	if (r == BACKEND_AUTH_FAILED && cancelled) {
		/* The client's "*" ended it: no failed password. */
		backend_close(s);
		backend_release(s);
		session_login_clear(s);
		s->proto->login_ops->sasl_answer(s, NULL,
		    SASL_ANSWER_CANCELLED);
		sesslog_end(s);
		session_resume_preauth(s);
		if (evbuffer_get_length(conn_input(s->client)) > 0)
			s->proto->client_input(s);
		return;
	}
	if (s->stats.counted) {
		char label[300];

		session_backend_label(s, label, sizeof(label));
		stats_backend_done(&s->stats, label, (int)r,
		    (int)s->backend_failure);
	}
	switch (r) {
	case BACKEND_LOGGED_IN:
		/* The password was right, whatever the limits say next. */
		if (session_throttle(s, &t, &lim))
			throttle_succeeded(t, &lim,
			    (struct sockaddr *)&s->peer.sa, s->user,
			    session_now_ms());
		if (!session_user_slot(s))
			return;
		if (log_enabled(LOGLEVEL_INFO)) {
			session_route_str(s, route, sizeof(route));
			log_info("%s: user %s logged in (%s)", session_tag(s),
			    s->user, route);
		}
		stats_login_ok(&s->stats);
		session_login_clear(s);
		s->proto->login_answer(s, LOGIN_OK);
		sesslog_login(s, LOGIN_OK);
		relay_start(s);
		return;
	case BACKEND_AUTH_FAILED:
		backend_close(s);
		backend_release(s);
		if (session_throttle_failed(s))
			return;
		session_auth_failed(s);
		return;
	default:
		session_backend_warn(s);
		s->proto->login_answer(s, LOGIN_TEMPFAIL);
		sesslog_login(s, LOGIN_TEMPFAIL);
		sesslog_close_error(s, "BackendUnavailable");
		session_close_after_flush(s, "backend unavailable");
		return;
	}
}
