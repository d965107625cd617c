/*
 * sesslog: the protocol-log rows of one session.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blockcache.h"
#include "conf.h"
#include "log.h"
#include "policy.h"
#include "protolog.h"
#include "session.h"
#include "sesslog.h"
#include "strcopy.h"

static void
sesslog_now(struct timespec *ts)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
}

void
sesslog_init(struct session *s)
{
	struct sesslog *l;

	if (!protolog_enabled(s->proto->id))
		return;
	if ((l = calloc(1, sizeof(*l))) == NULL)
		return; /* the session goes on, unlogged */
	l->detail = protolog_detail(s->proto->id);
	sesslog_now(&l->opened);
	s->log = l;
}

/* The keys every row carries. */
static void
sesslog_ctx_common(const struct session *s, struct protolog_ctx *ctx)
{
	enum protolog_tls t =
	    s->tls == SESSION_TLS_IMPLICIT ? PROTOLOG_TLS_IMPLICIT :
	    s->tls == SESSION_TLS_STARTTLS ? PROTOLOG_TLS_STARTTLS :
					     PROTOLOG_TLS_NONE;

	protolog_ctx_tls(ctx, t, s->log->tls_version);
}

/* The keys of the rows that describe the session as a whole. */
static void
sesslog_ctx_client(const struct session *s, struct protolog_ctx *ctx)
{
	const struct sesslog *l = s->log;

	if (l->client_id != NULL) {
		const char *version = l->client_id + strlen(l->client_id) + 1;

		if (l->client_id[0] != '\0')
			protolog_ctx_set(ctx, PROTOLOG_CLIENTNAME,
			    l->client_id);
		if (version[0] != '\0')
			protolog_ctx_set(ctx, PROTOLOG_CLIENTVERSION, version);
	}
	if (s->tcp_peer != NULL)
		protolog_ctx_set(ctx, PROTOLOG_PEERIP, s->tcp_peer->str);
}

static void
sesslog_submit(struct session *s, const char *cmd, const char *params,
    uint64_t duration, uint64_t rq, uint64_t rp, const struct protolog_ctx *ctx)
{
	struct protolog_row row = {
	    .session_id = s->id,
	    .seq = s->log->seq++,
	    .sip = s->local.str,
	    .cip = s->peer.str,
	    .user = s->user,
	    .duration_ms = duration,
	    .rqsize = rq,
	    .rpsize = rp,
	    .command = cmd,
	    .params = params,
	    .context = ctx,
	};

	protolog_submit(s->proto->id, &row);
}

void
sesslog_opened(struct session *s)
{
	struct sesslog *l = s->log;
	struct protolog_ctx ctx;
	struct timespec now;

	if (l == NULL || l->seq > 0)
		return;
	sesslog_now(&now);
	protolog_ctx_init(&ctx);
	sesslog_ctx_common(s, &ctx);
	sesslog_ctx_client(s, &ctx);
	sesslog_submit(s, "OpenSession", NULL,
	    protolog_duration(&l->opened, &now), 0, l->rp, &ctx);
	l->rp = 0;
}

void
sesslog_begin(struct session *s)
{
	struct sesslog *l = s->log;

	if (l == NULL || l->open)
		return;
	if (l->row == NULL && (l->row = blockcache_get(session_cache(s),
				   sizeof(*l->row))) == NULL) {
		log_limited(LOGLEVEL_WARNING, "protocol log: out of memory",
		    "%s: out of memory: a row of this session is not logged",
		    session_tag(s));
		return;
	}
	l->open = true;
	l->rp = 0;
	l->row->rq = 0;
	l->row->cmd[0] = '\0';
	l->row->params[0] = '\0';
	l->row->status_seen = false;
	l->row->logon_denied = false;
	l->row->errmsg = l->row->msg = l->row->audit = l->row->reason = NULL;
	l->row->rule_audit[0] = '\0';
	sesslog_now(&l->row->t0);
}

void
sesslog_rq(struct session *s, size_t n)
{
	/* The open row's; bytes before it belong to no row (sesslog_begin()
	 * starts its count). */
	if (s->log != NULL && s->log->open)
		s->log->row->rq += n;
}

void
sesslog_command(struct session *s, const char *cmd, const char *params,
    size_t paramslen)
{
	struct sesslog *l = s->log;

	if (l == NULL)
		return;
	if (!l->open)
		sesslog_begin(s);
	if (!l->open || l->row->cmd[0] != '\0')
		return; /* no memory, or a SASL line of a command named */
	str_copy(l->row->cmd, sizeof(l->row->cmd), cmd);
	if (paramslen > PROTOLOG_PARAMS_MAX)
		paramslen = PROTOLOG_PARAMS_MAX;
	memcpy(l->row->params, params, paramslen);
	l->row->params[paramslen] = '\0';
}

void
sesslog_invalid(struct session *s, const char *line, size_t len)
{
	char params[32];
	size_t w = 0;
	bool word = true;

	if (s->log == NULL)
		return;
	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	while (w < len && line[w] != ' ')
		w++;
	for (size_t i = 0; i < w; i++)
		if (!((line[i] >= 'a' && line[i] <= 'z') ||
			(line[i] >= 'A' && line[i] <= 'Z')))
			word = false;
	/* A base64 blob can be letters only; its length gives it away. */
	if (w == 0 || w > 16 || (w >= 8 && w % 4 == 0))
		word = false;
	snprintf(params, sizeof(params), "%.*s%s%s", word ? (int)w : 0, line,
	    word && w < len && line[w] == ' ' ? " " : "",
	    !word || (w < len && line[w] == ' ') ? "*****" : "");
	if (len == 0)
		params[0] = '\0';
	sesslog_command(s, "InvalidCommand", params, strlen(params));
}

const char *
sesslog_audit_verdict(const struct proto_conf *pc)
{
	return pc->login_type == LOGIN_PLAINTEXT_AUTHENTICATION ?
		   "WouldDeny:PlainTextAuthentication" :
		   "WouldDeny:SecureLogin";
}

/* R of an answer: "ok", or the line itself when it is a failure. */
static void
sesslog_ctx_r(const struct session *s, struct protolog_ctx *ctx,
    const char *line)
{
	if (s->proto->answer_ok(line, strlen(line)))
		protolog_ctx_set(ctx, PROTOLOG_R, "ok");
	else
		protolog_ctx_set(ctx, PROTOLOG_R, line);
}

/* "SSL", "TLS" or "Plaintext": how postern talks to s's backend. */
static const char *
sesslog_backend_enc(const struct session *s)
{
	switch (backend_tls_mode(s)) {
	case BACKEND_TLS_IMPLICIT:
		return "SSL";
	case BACKEND_TLS_STARTTLS:
		return "TLS";
	case BACKEND_TLS_NONE:
		break;
	}
	return "Plaintext";
}

/* Msg=Proxy:<host>:<port>:<enc>, the address of the backend used. */
static void
sesslog_ctx_proxy(const struct session *s, struct protolog_ctx *ctx,
    const char *enc, bool success)
{
	const struct backend_addr *a = backend_current(s);

	if (a != NULL)
		protolog_ctx_proxy(ctx, a->host, a->port, enc, success);
	else
		protolog_ctx_proxy(ctx,
		    s->pc->backend_host != NULL ? s->pc->backend_host : "-",
		    s->pc->backend_port != NULL ? s->pc->backend_port : "-",
		    enc, success);
}

/* Backend=<name>;Route=<source>: which backend and why (routing.h). */
static void
sesslog_ctx_route(const struct session *s, struct protolog_ctx *ctx)
{
	char src[ROUTE_SOURCE_MAX];

	if (s->route.backend == NULL)
		return;
	routing_source(&s->route, src, sizeof(src));
	protolog_ctx_set(ctx, PROTOLOG_BACKEND, s->route.backend->name);
	protolog_ctx_set(ctx, PROTOLOG_ROUTE, src);
}

/*
 * Writes the open row.  A login row also says which backend the session
 * was proxied to (Msg, as Exchange's front end writes it) and who the
 * client is; enc is NULL for other rows.
 */
static void
sesslog_end_with(struct session *s, const char *enc, bool success)
{
	struct sesslog *l = s->log;
	struct protolog_ctx ctx;
	struct timespec now;

	if (l == NULL || !l->open)
		return;
	l->open = false;
	if (l->row->cmd[0] == '\0')
		return; /* bytes of a command that never completed */
	sesslog_now(&now);
	protolog_ctx_init(&ctx);
	if (l->row->status_seen)
		sesslog_ctx_r(s, &ctx, l->row->status);
	if (enc != NULL)
		sesslog_ctx_proxy(s, &ctx, enc, success);
	if (l->row->msg != NULL)
		protolog_ctx_set(&ctx, PROTOLOG_MSG, l->row->msg);
	if (l->row->logon_denied) {
		/*
		 * Exchange's own words for a refused login, which tools that
		 * watch Exchange for password guessing (CrowdSec's
		 * exchange-bf) look for; postern's reason goes to a key of its
		 * own, since ErrMsg must stay exactly this and last.
		 */
		protolog_ctx_setf(&ctx, PROTOLOG_MSG,
		    "AuthFailed:LogonDenied,User: %s",
		    s->user != NULL ? s->user : "");
		protolog_ctx_set(&ctx, PROTOLOG_REASON, l->row->errmsg);
		protolog_ctx_set(&ctx, PROTOLOG_ERRMSG,
		    "AuthFailed:LogonDenied");
	} else if (l->row->errmsg != NULL) {
		if (l->row->reason != NULL)
			protolog_ctx_set(&ctx, PROTOLOG_REASON, l->row->reason);
		protolog_ctx_set(&ctx, PROTOLOG_ERRMSG, l->row->errmsg);
	}
	sesslog_ctx_common(s, &ctx);
	if (enc != NULL || strcmp(l->row->cmd, "id") == 0)
		sesslog_ctx_client(s, &ctx);
	if (enc != NULL)
		sesslog_ctx_route(s, &ctx);
	if (l->row->audit != NULL)
		protolog_ctx_set(&ctx, PROTOLOG_LOGINTYPEAUDIT, l->row->audit);
	if (l->row->rule_audit[0] != '\0')
		protolog_ctx_set(&ctx, PROTOLOG_ACCESSRULEAUDIT,
		    l->row->rule_audit);
	sesslog_submit(s, l->row->cmd, l->row->params,
	    protolog_duration(&l->row->t0, &now), l->row->rq, l->rp, &ctx);
	l->row->cmd[0] = '\0';
}

void
sesslog_end(struct session *s)
{
	sesslog_end_with(s, NULL, false);
}

void
sesslog_error(struct session *s, const char *errmsg)
{
	/* Only an open row has one: sesslog_begin() clears them all. */
	if (s->log != NULL && s->log->open)
		s->log->row->errmsg = errmsg;
}

void
sesslog_msg(struct session *s, const char *msg)
{
	if (s->log != NULL && s->log->open)
		s->log->row->msg = msg;
}

void
sesslog_audit(struct session *s, const char *verdict)
{
	if (s->log != NULL && s->log->open)
		s->log->row->audit = verdict;
}

void
sesslog_policy(struct session *s, const struct policy_decision *d)
{
	struct sesslog *l = s->log;

	if (l == NULL || !l->open)
		return;
	if (d->audit_login_type)
		l->row->audit = sesslog_audit_verdict(s->pc);
	else if (d->login_type_exempt)
		l->row->audit = "Exempt";
	/* Room for the longest rule name: sesslog.h. */
	if (d->audit_rule != NULL)
		snprintf(l->row->rule_audit, sizeof(l->row->rule_audit),
		    "WouldDeny:%s", d->audit_rule);
}

void
sesslog_close_error(struct session *s, const char *errmsg)
{
	if (s->log != NULL && s->log->close_err == NULL)
		s->log->close_err = errmsg;
}

void
sesslog_close_msg(struct session *s, const char *msg)
{
	if (s->log != NULL)
		s->log->close_msg = msg;
}

void
sesslog_client_id(struct session *s, const char *name, const char *version)
{
	struct sesslog *l = s->log;

	size_t nl, vl;

	if (l == NULL)
		return;
	free(l->client_id);
	l->client_id = NULL;
	nl = name != NULL ? strnlen(name, SESSLOG_CLIENT_NAME_MAX) : 0;
	vl = version != NULL ? strnlen(version, SESSLOG_CLIENT_VERSION_MAX) : 0;
	if (nl == 0 && vl == 0)
		return;
	/* Out of memory, the rows go without it. */
	if ((l->client_id = malloc(nl + 1 + vl + 1)) == NULL)
		return;
	if (nl > 0)
		memcpy(l->client_id, name, nl);
	l->client_id[nl] = '\0';
	if (vl > 0)
		memcpy(l->client_id + nl + 1, version, vl);
	l->client_id[nl + 1 + vl] = '\0';
}

void
sesslog_tls(struct session *s, const char *version)
{
	if (s->log != NULL)
		s->log->tls_version = version;
}

void
sesslog_login(struct session *s, enum login_result r)
{
	struct sesslog *l = s->log;
	const char *enc;

	if (l == NULL || !l->open)
		return;
	enc = sesslog_backend_enc(s);
	switch (r) {
	case LOGIN_OK:
		break;
	case LOGIN_FAILED:
		l->row->errmsg = "ProxyNotAuthenticated";
		l->row->logon_denied = true;
		break;
	case LOGIN_TEMPFAIL:
		if (l->row->errmsg == NULL)
			l->row->errmsg = "BackendUnavailable";
		break;
	case LOGIN_IN_USE:
		/* Decided before any backend was asked: no Proxy message. */
		l->row->errmsg = "UserConnectionLimitReached";
		sesslog_end_with(s, NULL, false);
		return;
	case LOGIN_DENIED:
	case LOGIN_PRIVACY:
	case LOGIN_TRY_LATER:
		/* The policy decided; its reason was set with
		 * sesslog_error(). */
		if (l->row->errmsg == NULL)
			l->row->errmsg = r == LOGIN_TRY_LATER ?
					     "GroupLookupFailed" :
					     "AccessDenied";
		/*
		 * Refused for who the user is: a failed login like a wrong
		 * password, so that guessing against refused accounts is seen
		 * too.  A refusal for the connection's protection
		 * (LoginTypeDenied) or a failed group lookup is no guess.
		 */
		l->row->logon_denied = r == LOGIN_DENIED;
		sesslog_end_with(s, NULL, false);
		return;
	}
	sesslog_end_with(s, enc, r == LOGIN_OK);
	/* Rows after login come from the protocol's framing. */
	if (r == LOGIN_OK) {
		blockcache_put(session_cache(s), l->row, sizeof(*l->row));
		l->row = NULL;
	}
}

/*
 * Not Exchange's failed login (AuthFailed:LogonDenied): no password was
 * checked, and a tool that counts those rows to ban an address would
 * otherwise count the refusals of an address it already banned.  A
 * fail2ban filter or a report looks for ErrMsg=Throttled.
 */
void
sesslog_throttled(struct session *s, const char *reason)
{
	struct sesslog *l = s->log;

	if (l == NULL || !l->open)
		return;
	l->row->errmsg = "Throttled";
	l->row->reason = reason;
	sesslog_end_with(s, NULL, false);
}

/* Keeps the first status line of what the session writes for a row. */
void
sesslog_wrote(struct session *s, const char *data, size_t len)
{
	struct sesslog *l = s->log;

	l->rp += len;
	if (!l->open)
		return;
	while (!l->row->status_seen && len > 0) {
		const char *lf = memchr(data, '\n', len);
		size_t n = lf != NULL ? (size_t)(lf - data) : len;

		/* Untagged data and continuations are not the outcome. */
		if (!(n >= 2 && (data[0] == '*' || data[0] == '+') &&
			data[1] == ' ')) {
			if (n > 0 && data[n - 1] == '\r')
				n--;
			if (n >= sizeof(l->row->status))
				n = sizeof(l->row->status) - 1;
			memcpy(l->row->status, data, n);
			l->row->status[n] = '\0';
			l->row->status_seen = true;
		}
		if (lf == NULL)
			break;
		len -= (size_t)(lf - data) + 1;
		data = lf + 1;
	}
}

void
sesslog_row(struct session *s, const struct sesslog_cmd *c, uint64_t rp,
    const char *r)
{
	struct protolog_ctx ctx;
	struct timespec now;

	sesslog_now(&now);
	protolog_ctx_init(&ctx);
	if (r != NULL)
		protolog_ctx_set(&ctx, PROTOLOG_R, r);
	sesslog_ctx_common(s, &ctx);
	sesslog_submit(s, c->cmd, c->params, protolog_duration(&c->t0, &now),
	    c->rq, rp, &ctx);
}

bool
sesslog_ring_room(struct sesslog_ring *r)
{
	unsigned have = r->more == NULL ? 0 : r->cap, cap;
	struct sesslog_cmd *more;

	if (r->n < have) {
		r->promised = true;
		return true;
	}
	if (have >= SESSLOG_PENDING_MAX)
		return false;
	cap = have == 0 ? 1 : have * 2;
	if (cap > SESSLOG_PENDING_MAX)
		cap = SESSLOG_PENDING_MAX;
	more = malloc(cap * sizeof(*more));
	if (more == NULL)
		return false;
	/* The waiting commands move in order to the front. */
	for (unsigned i = 0; i < r->n; i++)
		more[i] = *sesslog_ring_at(r, i);
	free(r->more);
	r->more = more;
	r->cap = cap;
	r->head = 0;
	r->promised = true;
	return true;
}

struct sesslog_cmd *
sesslog_ring_push(struct sesslog_ring *r)
{
	struct sesslog_cmd *c = sesslog_ring_at(r, r->n);

	r->n++;
	r->promised = false;
	c->done = false;
	c->flags = 0;
	c->key[0] = c->cmd[0] = c->params[0] = '\0';
	return c;
}

void
sesslog_ring_pop_done(struct sesslog_ring *r)
{
	while (r->n > 0 && sesslog_ring_at(r, 0)->done) {
		r->head = (r->head + 1) % r->cap;
		r->n--;
	}
	/* Every command answered: the room goes back, unless a command
	 * being read was promised it. */
	if (r->n == 0 && !r->promised)
		sesslog_ring_free(r);
}

void
sesslog_ring_free(struct sesslog_ring *r)
{
	free(r->more);
	r->more = NULL;
	r->cap = 0;
	r->head = r->n = 0;
	r->promised = false;
}

/* Exchange's front-end row: the bytes relayed since the last one. */
static void
sesslog_proxy_row(struct session *s)
{
	struct sesslog *l = s->log;
	struct protolog_ctx ctx;
	const struct backend_addr *a = backend_current(s);
	char params[PROTOLOG_VALUE_MAX];

	snprintf(params, sizeof(params), "%s:%s:%s",
	    a != NULL ? a->host : s->pc->backend_host,
	    a != NULL ? a->port : s->pc->backend_port, sesslog_backend_enc(s));
	protolog_ctx_init(&ctx);
	sesslog_ctx_common(s, &ctx);
	sesslog_submit(s, "proxy", params, 0, l->proxy_in, l->proxy_out, &ctx);
	l->proxy_in = l->proxy_out = 0;
	sesslog_now(&l->proxy_last);
}

void
sesslog_proxy(struct session *s, uint64_t in, uint64_t out)
{
	struct sesslog *l = s->log;
	struct timespec now;

	l->proxy_in += in;
	l->proxy_out += out;
	if (l->proxy_last.tv_sec == 0) {
		/* The first bytes after login start the period. */
		sesslog_now(&l->proxy_last);
		return;
	}
	sesslog_now(&now);
	if (protolog_duration(&l->proxy_last, &now) >=
	    PROTOLOG_PROXY_INTERVAL_MS)
		sesslog_proxy_row(s);
}

void
sesslog_close(struct session *s)
{
	struct sesslog *l = s->log;
	struct protolog_ctx ctx;

	if (l == NULL)
		return;
	if (l->seq == 0)
		sesslog_opened(s); /* closed before its greeting */
	sesslog_end(s);
	if (l->relay != NULL && s->proto->relay_log_end != NULL)
		s->proto->relay_log_end(s);
	if (l->proxy_in != 0 || l->proxy_out != 0)
		sesslog_proxy_row(s);
	protolog_ctx_init(&ctx);
	if (l->close_msg != NULL)
		protolog_ctx_set(&ctx, PROTOLOG_MSG, l->close_msg);
	if (l->close_err != NULL)
		protolog_ctx_set(&ctx, PROTOLOG_ERRMSG, l->close_err);
	sesslog_ctx_common(s, &ctx);
	sesslog_ctx_client(s, &ctx);
	sesslog_submit(s, "CloseSession", NULL, 0, 0, 0, &ctx);
	s->log = NULL;
	blockcache_put(session_cache(s), l->row, sizeof(*l->row));
	free(l->client_id);
	free(l);
}
