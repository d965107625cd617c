/*
 * passthru: SASL pass-through between the client and the routed backend.
 */
#include "config.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <openssl/crypto.h>

#include "backend.h"
#include "conn.h"
#include "log.h"
#include "passthru.h"
#include "policy.h"
#include "routing_conf.h"
#include "sasl.h"
#include "session.h"
#include "sesslog.h"

/* Room for the protocol's reference to the command (an IMAP tag). */
#define PASSTHRU_REF_MAX 128

struct passthru {
	const struct saslmech *mech;
	char ref[PASSTHRU_REF_MAX];
	bool has_ref;
	/* The first client message (base64, "" when empty) until it went to
	 * the backend; NULL before the client sent it. */
	char *first;
	bool first_sent;
	bool client_turn; /* a client line is awaited */
	bool cancelled;   /* the client sent "*" */
	unsigned msgs;    /* client messages read so far */
	/* The message that named the user late, base64, until the policy
	 * has decided on it; NULL otherwise. */
	char *held;
	bool named;   /* a late message has named the user */
	bool refused; /* the policy refused it: "*" went instead */
	enum login_result refused_as;
	const char *throttled;
};

const struct saslmech *
passthru_mech(const struct session *s, const char *mech, size_t len)
{
	const struct saslmech *m = saslmech_by_name(mech, len);

	if (m == NULL || !(s->pc->passthru_mechs & (1u << m->id)))
		return NULL;
	return m;
}

unsigned
passthru_advertised(const struct session *s)
{
	const struct backend *b = s->conf->routing.defaults[s->proto->id];
	unsigned set = s->pc->passthru_mechs, seen, out = 0;
	bool tls = s->tls != SESSION_TLS_NONE;

	if (set == 0)
		return 0;
	/* Until a login dialogue has shown what the backend offers, the
	 * configured list stands: a client that picks a mechanism the
	 * backend lacks is told it is not supported, and from then on it
	 * is not advertised. */
	seen = b != NULL ?
		   atomic_load_explicit(
		       &((struct backend *)b)->sasl_offered[s->proto->id],
		       memory_order_relaxed) :
		   0;
	if (seen & BACKEND_MECHS_SEEN)
		set &= seen;
	for (unsigned i = 0; i < SASLMECH_COUNT; i++) {
		const struct saslmech *m = saslmech_get((enum saslmech_id)i);

		if ((set & (1u << i)) &&
		    policy_mech_login_type(s->pc, tls,
			(const struct sockaddr *)&s->peer.sa, m->sends_secret,
			NULL) != POLICY_DENY)
			out |= 1u << i;
	}
	return out;
}

bool
passthru_backend_offers(struct session *s, unsigned offered)
{
	struct backend *b = (struct backend *)s->route.backend;

	if (b == NULL)
		return false;
	atomic_store_explicit(&b->sasl_offered[s->proto->id],
	    (offered & SASLMECH_ALL) | BACKEND_MECHS_SEEN,
	    memory_order_relaxed);
	return s->probe;
}

void
passthru_probe_report(const struct session *s)
{
	const struct backend *b = s->route.backend;
	unsigned set = s->pc->passthru_mechs, seen;
	char offered[128], missing[128];

	seen = atomic_load_explicit(
		   &((struct backend *)b)->sasl_offered[s->proto->id],
		   memory_order_relaxed) &
	       SASLMECH_ALL;
	if (saslmech_list(set & seen, " ", offered, sizeof(offered)) == -1)
		offered[0] = '\0';
	if (saslmech_list(set & ~seen, " ", missing, sizeof(missing)) == -1)
		missing[0] = '\0';
	if (missing[0] == '\0') {
		log_info("%s: %s backend %s offers every mechanism of "
			 "passthrough_mechanisms:%s",
		    session_tag(s), s->proto->section, b->name, offered);
		return;
	}
	/* Said once per start and reload: a setting to look at. */
	log_notice("%s: %s backend %s does not offer%s of "
		   "passthrough_mechanisms: not advertised to clients "
		   "(offered:%s)",
	    session_tag(s), s->proto->section, b->name, missing,
	    offered[0] != '\0' ? offered : " none");
}

static void
passthru_wipe_first(struct passthru *pt)
{
	if (pt->first != NULL) {
		OPENSSL_cleanse(pt->first, strlen(pt->first));
		free(pt->first);
		pt->first = NULL;
	}
}

static void
passthru_wipe_held(struct passthru *pt)
{
	if (pt->held != NULL) {
		OPENSSL_cleanse(pt->held, strlen(pt->held));
		free(pt->held);
		pt->held = NULL;
	}
}

void
passthru_free(struct session *s)
{
	if (s->pt == NULL)
		return;
	passthru_wipe_first(s->pt);
	passthru_wipe_held(s->pt);
	free(s->pt);
	s->pt = NULL;
}

bool
passthru_client_turn(const struct session *s)
{
	return s->pt != NULL && s->pt->client_turn;
}

bool
passthru_cancelled(const struct session *s)
{
	return s->pt != NULL && s->pt->cancelled;
}

const struct saslmech *
passthru_current(const struct session *s)
{
	return s->pt != NULL ? s->pt->mech : NULL;
}

/*
 * Ends the exchange with postern's own answer a.  Before the backend
 * was involved the client simply stays in the pre-login state; during
 * the exchange the backend's half-done session is dropped, so that the
 * refused message never reaches it.  A cancellation is the client's
 * right; anything else counts as a bad command.  Returns -1 after
 * closing the session.
 */
static int
passthru_refuse(struct session *s, enum session_sasl_answer a)
{
	char ref[PASSTHRU_REF_MAX];
	bool has_ref = s->pt->has_ref;

	snprintf(ref, sizeof(ref), "%s", s->pt->ref);
	passthru_free(s);
	if (s->state == SESSION_BACKEND) {
		backend_close(s);
		backend_release(s);
		session_login_clear(s);
	}
	s->proto->login_ops->sasl_answer(s, has_ref ? ref : NULL, a);
	if (a == SASL_ANSWER_TOO_LONG) {
		sesslog_close_error(s, "CommandTooLong");
		session_close_after_flush(s, "SASL response line too long");
		return -1;
	}
	if (s->state == SESSION_BACKEND) {
		sesslog_end(s);
		session_set_state(s, SESSION_PREAUTH);
		conn_enable(s->client, EV_READ);
		session_set_timeout(s, s->pc->pre_auth_timeout_ms);
	}
	return a == SASL_ANSWER_CANCELLED ? 0 : session_bad_command(s);
}

/*
 * Decodes one client message (base64, strictly) and shows it to the
 * mechanism's user hook as message n.
 */
static enum saslmech_user
passthru_look(struct session *s, const char *b64, size_t len, unsigned n,
    char *user, const char **why)
{
	const struct saslmech *m = s->pt->mech;
	size_t cap = len / 4 * 3 + 1, mlen;
	unsigned char *msg;
	enum saslmech_user r;

	*why = NULL;
	user[0] = '\0';
	if ((msg = malloc(cap)) == NULL) {
		*why = "out of memory";
		return SASLMECH_USER_MALFORMED;
	}
	if (sasl_b64_decode(b64, len, msg, cap, &mlen) == -1) {
		free(msg);
		*why = "not base64";
		return SASLMECH_USER_MALFORMED;
	}
	r = m->user != NULL ? m->user(msg, mlen, n, user, why) :
			      SASLMECH_USER_NONE;
	OPENSSL_cleanse(msg, cap);
	free(msg);
	return r;
}

/* What the daemon log and the protocol log say of a refused message. */
static int
passthru_bad_message(struct session *s, enum saslmech_user r, const char *why)
{
	const char *mech = s->pt->mech->name;

	if (r == SASLMECH_USER_MISSING) {
		log_notice("%s: %s %s refused: %s; postern applies its access "
			   "policy to the user and cannot without one",
		    session_tag(s), s->proto->login_ops->auth_name, mech,
		    why != NULL ? why : "no user");
		sesslog_error(s, "SaslNoUser");
		return passthru_refuse(s, SASL_ANSWER_NO_USER);
	}
	log_info("%s: %s %s refused: malformed message: %s", session_tag(s),
	    s->proto->login_ops->auth_name, mech,
	    why != NULL ? why : "unknown");
	sesslog_error(s, "SaslMalformed");
	return passthru_refuse(s, SASL_ANSWER_MALFORMED);
}

/*
 * The first client message: who the user is decides whether and where
 * the exchange goes.  ir: it came as the command's initial response, in
 * which "=" stands for an empty one (RFC 4959, RFC 5034).
 */
static int
passthru_first(struct session *s, const char *b64, size_t len, bool ir)
{
	struct passthru *pt = s->pt;
	char user[SASLMECH_USER_MAX + 1];
	const char *why;
	enum saslmech_user r;
	size_t ulen;

	if (sasl_is_cancel(b64, len))
		return passthru_refuse(s, SASL_ANSWER_CANCELLED);
	if (len > pt->mech->line_max)
		return passthru_refuse(s, SASL_ANSWER_TOO_LONG);
	if (ir && len == 1 && b64[0] == '=')
		len = 0;
	pt->msgs = 1;
	r = passthru_look(s, b64, len, 0, user, &why);
	if (r == SASLMECH_USER_NONE &&
	    pt->mech->user_at == SASLMECH_USER_AT_FIRST) {
		r = SASLMECH_USER_MISSING;
		why = "the first message names no user";
	}
	if (r == SASLMECH_USER_NONE) {
		/* Routed before the user is known (session_login_late()). */
		user[0] = '\0';
		r = SASLMECH_USER_FOUND;
	}
	if (r != SASLMECH_USER_FOUND)
		return passthru_bad_message(s, r, why);
	if ((pt->first = malloc(len + 1)) == NULL) {
		s->proto->bye(s, BYE_INTERNAL);
		session_close_after_flush(s, "out of memory");
		return -1;
	}
	memcpy(pt->first, b64, len);
	pt->first[len] = '\0';
	ulen = strlen(user);
	session_set_user(s, user, ulen);
	/* No password: the token stays in pt->first, and only the backend
	 * gets it. */
	if (session_login_set(s, user, ulen, "", 0) == -1) {
		s->proto->bye(s, BYE_INTERNAL);
		session_close_after_flush(s, "cannot keep the user name");
		return -1;
	}
	s->proto->login_ops->login_begin(s, pt->has_ref ? pt->ref : NULL);
	return session_login_passthru(s);
}

int
passthru_start(struct session *s, const char *ref, const struct saslmech *m,
    const char *ir, size_t irlen)
{
	struct passthru *pt;

	passthru_free(s);
	if ((pt = calloc(1, sizeof(*pt))) == NULL) {
		s->proto->bye(s, BYE_INTERNAL);
		session_close_after_flush(s, "out of memory");
		return -1;
	}
	pt->mech = m;
	if (ref != NULL) {
		snprintf(pt->ref, sizeof(pt->ref), "%s", ref);
		pt->has_ref = true;
	}
	s->pt = pt;
	s->mech = m->name;
	s->mech_sasl = true;
	if (ir != NULL)
		return passthru_first(s, ir, irlen, true);
	/* Every relayed mechanism is client-first: postern asks for the
	 * first message itself, so that it knows the user before it
	 * chooses a backend. */
	session_printf(s, "+ \r\n");
	pt->client_turn = true;
	return 0;
}

/* A client message during the exchange, on its way to the backend. */
static int
passthru_next(struct session *s, const char *b64, size_t len)
{
	struct passthru *pt = s->pt;
	char user[SASLMECH_USER_MAX + 1];
	const char *why;
	enum saslmech_user r;

	if (sasl_is_cancel(b64, len)) {
		/* The backend answers the cancellation; its answer ends the
		 * exchange (session_backend_done()). */
		pt->cancelled = true;
		backend_printf(s, "*\r\n");
		return 0;
	}
	r = passthru_look(s, b64, len, pt->msgs++, user, &why);
	if (r == SASLMECH_USER_FOUND &&
	    pt->mech->user_at == SASLMECH_USER_AT_LAST && !pt->named) {
		/* Held back until the policy has decided on its user. */
		pt->named = true;
		if ((pt->held = malloc(len + 1)) == NULL) {
			s->proto->bye(s, BYE_INTERNAL);
			session_close_after_flush(s, "out of memory");
			return -1;
		}
		memcpy(pt->held, b64, len);
		pt->held[len] = '\0';
		return session_login_late(s, user);
	}
	if (r == SASLMECH_USER_FOUND) {
		/* A user named after the backend was chosen would need the
		 * policy in the middle of the exchange: not for these
		 * mechanisms, whose later messages name nobody. */
		r = SASLMECH_USER_MALFORMED;
		why = "a user named after the first message";
	}
	if (r != SASLMECH_USER_NONE)
		return passthru_bad_message(s, r, why);
	backend_printf(s, "%.*s\r\n", (int)len, b64);
	return 0;
}

void
passthru_client_input(struct session *s)
{
	struct evbuffer *in = conn_input(s->client);
	struct passthru *pt = s->pt;
	size_t max = pt->mech->line_max, have, want, n = 0, eol = 0;
	bool first = pt->msgs == 0;
	char *buf, *line;
	int rc;

	if (!pt->client_turn || (have = evbuffer_get_length(in)) == 0)
		return;
	want = have < max + 2 ? have : max + 2;
	buf = (char *)evbuffer_pullup(in, (ev_ssize_t)want);
	switch (backend_line_split(buf, want, max, &n, &eol)) {
	case BACKEND_SPLIT_MORE:
		return;
	case BACKEND_SPLIT_TOO_LONG:
		OPENSSL_cleanse(buf, want);
		evbuffer_drain(in, want);
		sesslog_rq(s, want);
		log_info("%s: %s %s: a SASL response over %zu bytes",
		    session_tag(s), s->proto->login_ops->auth_name,
		    pt->mech->name, max);
		(void)passthru_refuse(s, SASL_ANSWER_TOO_LONG);
		return;
	case BACKEND_SPLIT_LINE:
		break;
	}
	if ((line = malloc(n + 1)) == NULL) {
		s->proto->bye(s, BYE_INTERNAL);
		session_close_after_flush(s, "out of memory");
		return;
	}
	memcpy(line, buf, n);
	line[n] = '\0';
	/* The input buffer keeps no copy of a secret. */
	OPENSSL_cleanse(buf, n + eol);
	evbuffer_drain(in, n + eol);
	sesslog_rq(s, n + eol);
	pt->client_turn = false;
	if (first)
		rc = passthru_first(s, line, n, false);
	else {
		/* Back-pressure: nothing more is read until the backend's
		 * next challenge. */
		conn_disable(s->client, EV_READ);
		rc = passthru_next(s, line, n);
	}
	OPENSSL_cleanse(line, n);
	free(line);
	if (rc == -1)
		return;
	/* Refused without a backend: the client is back to commands, and
	 * its row has its answer. */
	if (s->state == SESSION_PREAUTH && s->pt == NULL) {
		sesslog_end(s);
		if (evbuffer_get_length(in) > 0)
			s->proto->client_input(s);
	}
}

bool
passthru_backend_begin(struct session *s, unsigned offered, const char **name,
    const char **first, size_t *firstlen)
{
	struct passthru *pt = s->pt;

	if (!(offered & (1u << pt->mech->id)))
		return false;
	*name = pt->mech->name;
	*first = pt->first != NULL ? pt->first : "";
	*firstlen = strlen(*first);
	return true;
}

void
passthru_first_sent(struct session *s)
{
	s->pt->first_sent = true;
	passthru_wipe_first(s->pt);
}

void
passthru_challenge(struct session *s, const char *data, size_t len)
{
	struct passthru *pt = s->pt;

	if (!pt->first_sent) {
		backend_printf(s, "%s\r\n", pt->first != NULL ? pt->first : "");
		passthru_first_sent(s);
		return;
	}
	session_printf(s, "+ %.*s\r\n", (int)len, data);
	pt->client_turn = true;
	conn_enable(s->client, EV_READ);
	/* Called from the backend's reader: a line the client sent early
	 * is read in a callback of its own, never from inside this one. */
	if (evbuffer_get_length(conn_input(s->client)) > 0)
		conn_trigger_read(s->client);
}

bool
passthru_late_pending(const struct session *s)
{
	return s->pt != NULL && s->pt->held != NULL;
}

void
passthru_late_forward(struct session *s)
{
	struct passthru *pt = s->pt;

	backend_printf(s, "%s\r\n", pt->held);
	passthru_wipe_held(pt);
}

void
passthru_late_refuse(struct session *s, enum login_result r,
    const char *throttled)
{
	struct passthru *pt = s->pt;

	passthru_wipe_held(pt);
	pt->refused = true;
	pt->refused_as = r;
	pt->throttled = throttled;
	log_info("%s: user %s: %s %s: the exchange is cancelled at the "
		 "backend; the message that names the user is not sent",
	    session_tag(s), s->user, s->proto->login_ops->auth_name,
	    pt->mech->name);
	/* RFC 4954 section 4, RFC 3501 section 6.2.2, RFC 5034 section 4:
	 * "*" ends the exchange; the backend's answer to it comes to
	 * session_backend_done(). */
	backend_printf(s, "*\r\n");
}

bool
passthru_late_refused(const struct session *s, enum login_result *r,
    const char **throttled)
{
	if (s->pt == NULL || !s->pt->refused)
		return false;
	*r = s->pt->refused_as;
	*throttled = s->pt->throttled;
	return true;
}
