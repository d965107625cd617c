/*
 * imap: the session half of the IMAP4 module (RFC 9051 and RFC 3501
 * clients, RFC 2595 STARTTLS, RFC 4959 SASL-IR, RFC 2971 ID, RFC 5530
 * response codes).
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/buffer.h>
#include <openssl/crypto.h>

#include "backend.h"
#include "conn.h"
#include "imap.h"
#include "imap_internal.h"
#include "log.h"
#include "passthru.h"
#include "policy.h"
#include "sasl.h"
#include "session.h"
#include "blockcache.h"
#include "sesslog.h"
#include "strcopy.h"

/* Longest literal accepted before login: a password at its longest. */
#define IMAP_PREAUTH_LITERAL_MAX SASL_PASS_MAX

/* Longest backend line postern reads during the login dialogue. */
#define IMAP_BACKEND_LINE_MAX 16384

/* Longest capability list passed on to the client after login. */
#define IMAP_CAPS_MAX 2048

/* Room for a tagged BAD answer's text. */
#define IMAP_ANSWER_MAX 512

static void
imap_reply(struct session *s, const char *line)
{
	session_write(s, line, strlen(line));
}

static bool
imap_tls_active(const struct session *s)
{
	return s->tls != SESSION_TLS_NONE;
}

static int
imap_preauth_alloc(struct session *s)
{
	struct imap_session *is = I(s);
	/* Room for a LOGIN with two literals at their longest.  A command
	 * may announce more literal bytes than that (up to IMAP_ARGS_MAX
	 * literals): the parser checks every write against cap and refuses
	 * what does not fit. */
	size_t cap = s->pc->max_command_size + 2 * IMAP_PREAUTH_LITERAL_MAX;

	if ((is->pre = blockcache_get(session_cache(s),
		 sizeof(*is->pre) + cap)) == NULL)
		return -1;
	if (imap_parser_init(&is->pre->parser, s->pc->max_command_size,
		IMAP_PREAUTH_LITERAL_MAX, is->pre->store, cap) == -1) {
		blockcache_put(session_cache(s), is->pre,
		    sizeof(*is->pre) + cap);
		is->pre = NULL;
		return -1;
	}
	/* A block from the cache holds what the last session left there
	 * (its secrets cleansed): nothing of it may be read as this one's. */
	is->pre->userlen = 0;
	is->pre->user[0] = '\0';
	is->pre->client_name[0] = is->pre->client_version[0] = '\0';
	return 0;
}

static void
imap_preauth_free(struct session *s)
{
	struct imap_session *is = I(s);

	if (is->pre != NULL) {
		size_t size = sizeof(*is->pre) + is->pre->parser.cap;

		/* The store may have held the password of a LOGIN and user
		 * the name of an AUTHENTICATE: both are cleansed, the store as
		 * far as it was ever written (a whole 12 KiB store was 6% of
		 * the instructions of a login).  The rest (the parser's
		 * state, the ID values) holds no secret, and
		 * imap_preauth_alloc() does not let the next session read it:
		 * clearing the 2 KiB was 2% of a logged login. */
		explicit_bzero(is->pre->user, sizeof(is->pre->user));
		explicit_bzero(is->pre->store, is->pre->parser.used_max);
		blockcache_put(session_cache(s), is->pre, size);
		is->pre = NULL;
	}
}

static void
imap_caps(struct session *s, char *out, size_t cap)
{
	bool tls = imap_tls_active(s);
	bool cleartext = policy_advertise_cleartext_to(s->pc, tls,
	    (struct sockaddr *)&s->peer.sa);
	unsigned relayed = passthru_advertised(s);
	char more[128];
	size_t n;

	if (imap_caps_preauth(tls, session_tls_available(s), cleartext, out,
		cap) == -1) {
		snprintf(out, cap, "IMAP4rev1");
		return;
	}
	/* The relayed mechanisms take an initial response as PLAIN does
	 * (RFC 4959), which spares a round trip to the backend. */
	if (relayed == 0 ||
	    saslmech_list(relayed, " AUTH=", more, sizeof(more)) == -1)
		return;
	n = strlen(out);
	snprintf(out + n, cap - n, "%s%s", cleartext ? "" : " SASL-IR", more);
}

static void
imap_greet(struct session *s)
{
	char caps[512];

	if (imap_preauth_alloc(s) == -1) {
		imap_reply(s, "* BYE [UNAVAILABLE] Internal error.\r\n");
		session_close_after_flush(s, "out of memory");
		return;
	}
	imap_caps(s, caps, sizeof(caps));
	session_printf(s, "* OK [CAPABILITY %s] %s\r\n", caps, s->pc->banner);
}

/* RFC 2595 section 3.1: nothing learnt before TLS survives it. */
static void
imap_tls_reset(struct session *s)
{
	struct imap_session *is = I(s);

	imap_parser_reset(&is->pre->parser);
	is->cstate = IMAP_C_COMMAND;
	is->pre->client_name[0] = is->pre->client_version[0] = '\0';
	sesslog_client_id(s, NULL, NULL);
}

static void
imap_bye(struct session *s, enum bye_reason reason)
{
	static const char *const text[] = {
	    [BYE_SHUTDOWN] = "* BYE [UNAVAILABLE] Server shutting down.\r\n",
	    [BYE_TIMEOUT] = "* BYE Disconnected for inactivity.\r\n",
	    [BYE_TOO_MANY_CONN] = "* BYE [UNAVAILABLE] Too many "
				  "connections, try again later.\r\n",
	    [BYE_TOO_MANY_ERRORS] = "* BYE Too many invalid commands.\r\n",
	    [BYE_BACKEND] = "* BYE [UNAVAILABLE] Server temporarily "
			    "unavailable.\r\n",
	    [BYE_INTERNAL] = "* BYE [UNAVAILABLE] Internal error.\r\n",
	    [BYE_DISABLED] = "* BYE [UNAVAILABLE] Service disabled.\r\n",
	    [BYE_DENIED] = "* BYE Access denied.\r\n",
	    [BYE_LOGIN_TIME] = "* BYE Disconnected: too long without "
			       "logging in.\r\n",
	    [BYE_UNRELAYABLE] = "* BYE [ALERT] LITERAL+ is not available "
				"after login.\r\n",
	};

	imap_reply(s, text[reason]);
}

/* A tagged answer; the tag is the client's, never a format. */
static void
imap_tagged(struct session *s, const char *tag, const char *text)
{
	session_printf(s, "%s %s\r\n", tag[0] != '\0' ? tag : "*", text);
}

static int
imap_bad(struct session *s, const char *tag, const char *text)
{
	imap_tagged(s, tag, text);
	return session_bad_command(s);
}

static void
imap_cleartext_refused(struct session *s, const char *tag)
{
	imap_tagged(s, tag,
	    "NO [PRIVACYREQUIRED] Plaintext authentication "
	    "disallowed on non-secure (SSL/TLS) connections.");
}

/*
 * The login's answer goes to tag; the client is back to commands, and the
 * user name of an AUTHENTICATE LOGIN is the session's now.
 */
static void
imap_login_begin(struct session *s, const char *tag)
{
	struct imap_session *is = I(s);

	/* After a SASL continuation the tag is already is->tag. */
	if (tag != is->tag)
		str_copy(is->tag, sizeof(is->tag), tag);
	is->cstate = IMAP_C_COMMAND;
	if (is->pre != NULL)
		OPENSSL_cleanse(is->pre->user, sizeof(is->pre->user));
}

static int
imap_cmd_login(struct session *s, const struct imap_command *cmd)
{
	const char *tag = cmd->tag;

	if (!session_cleartext_ok(s, tag, true))
		return session_bad_command(s);
	if (cmd->nargs != 2 || cmd->args[0].type == IMAP_VAL_LIST ||
	    cmd->args[1].type == IMAP_VAL_LIST)
		return imap_bad(s, tag, "BAD Invalid arguments.");
	if (sasl_check_plain_value(SASL_FIELD_USER, cmd->args[0].data,
		cmd->args[0].len) != SASL_OK ||
	    sasl_check_plain_value(SASL_FIELD_PASS, cmd->args[1].data,
		cmd->args[1].len) != SASL_OK) {
		imap_tagged(s, tag,
		    "NO [AUTHENTICATIONFAILED] Authentication failed.");
		return session_bad_command(s);
	}
	session_set_user(s, cmd->args[0].data, cmd->args[0].len);
	return session_login(s, tag, cmd->args[0].data, cmd->args[0].len,
	    cmd->args[1].data, cmd->args[1].len);
}

static void
imap_auth_failed(struct session *s, const char *tag)
{
	I(s)->cstate = IMAP_C_COMMAND;
	imap_tagged(s, tag, "NO [AUTHENTICATIONFAILED] Authentication failed.");
}

static int imap_sasl_line(struct session *s, const char *b64, size_t len);

/*
 * An AUTHENTICATE refused before its exchange began.  Without an initial
 * response, a client that does not wait for the "+" sends its response
 * line anyway (RFC 9051 section 6.2.2): that line must be read as part of
 * the refused command, never answered, echoed or logged as a command of
 * its own, since it holds the credentials.
 */
static int
imap_auth_refused(struct session *s, bool has_ir)
{
	if (!has_ir)
		I(s)->cstate = IMAP_C_REFUSED;
	return session_bad_command(s);
}

static int
imap_cmd_authenticate(struct session *s, const struct imap_command *cmd)
{
	struct imap_session *is = I(s);
	const char *tag = cmd->tag, *mech;
	const struct saslmech *m;
	bool plain, has_ir;

	/* RFC 4959: "=" is an empty initial response. */
	has_ir = cmd->nargs >= 2 &&
		 !(cmd->args[1].len == 1 && cmd->args[1].data[0] == '=');
	if (cmd->nargs < 1 || cmd->nargs > 2 ||
	    cmd->args[0].type != IMAP_VAL_ATOM) {
		imap_tagged(s, tag, "BAD Invalid arguments.");
		return imap_auth_refused(s, has_ir);
	}
	mech = cmd->args[0].data;
	plain = strcasecmp(mech, "PLAIN") == 0;
	if (!plain && strcasecmp(mech, "LOGIN") != 0 &&
	    (m = passthru_mech(s, mech, strlen(mech))) != NULL) {
		/* A bearer token in the initial response has been sent in
		 * the clear already. */
		if (!session_mech_login_type_ok(s, tag,
			has_ir && m->sends_secret, m->sends_secret))
			return imap_auth_refused(s, has_ir);
		return passthru_start(s, tag, m,
		    cmd->nargs >= 2 ? cmd->args[1].data : NULL,
		    cmd->nargs >= 2 ? cmd->args[1].len : 0);
	}
	if (!plain && strcasecmp(mech, "LOGIN") != 0) {
		imap_tagged(s, tag,
		    "NO [CANNOT] Unsupported authentication mechanism.");
		return imap_auth_refused(s, has_ir);
	}
	if (!session_cleartext_ok(s, tag, plain && has_ir))
		return imap_auth_refused(s, has_ir);
	str_copy(is->tag, sizeof(is->tag), tag);
	if (plain) {
		if (has_ir)
			return session_login_plain(s, tag, cmd->args[1].data,
			    cmd->args[1].len);
		is->cstate = IMAP_C_PLAIN;
		imap_reply(s, "+ \r\n");
		return 0;
	}
	is->cstate = IMAP_C_LOGIN_USER;
	if (has_ir)
		return imap_sasl_line(s, cmd->args[1].data, cmd->args[1].len);
	session_printf(s, "+ %s\r\n", SASL_LOGIN_PROMPT_USER);
	return 0;
}

/* One AUTHENTICATE continuation line (base64, already checked). */
static int
imap_sasl_line(struct session *s, const char *b64, size_t len)
{
	struct imap_session *is = I(s);
	int rc;

	switch (is->cstate) {
	case IMAP_C_PLAIN:
		return session_login_plain(s, is->tag, b64, len);
	case IMAP_C_LOGIN_USER:
		rc = session_login_user(s, is->tag, b64, len, is->pre->user,
		    sizeof(is->pre->user), &is->pre->userlen);
		/* After a refused user name the password line may be on its
		 * way. */
		is->cstate = rc == 1 ? IMAP_C_LOGIN_PASS : IMAP_C_REFUSED;
		return rc == 1 ? 0 : rc;
	case IMAP_C_LOGIN_PASS:
		return session_login_pass(s, is->tag, b64, len, is->pre->user,
		    is->pre->userlen);
	case IMAP_C_COMMAND:
	case IMAP_C_REFUSED:
		break;
	}
	return 0;
}

/* Keeps the client's name and version from ID for the logs. */
static void
imap_cmd_id(struct session *s, const struct imap_command *cmd)
{
	struct imap_session *is = I(s);

	if (cmd->nargs >= 1 && cmd->args[0].type == IMAP_VAL_LIST) {
		size_t n = cmd->args[0].len;

		for (size_t i = 1; i + 1 <= n && i + 1 < cmd->nargs; i += 2) {
			const struct imap_value *k = &cmd->args[i];
			const struct imap_value *v = &cmd->args[i + 1];

			if (v->type == IMAP_VAL_NIL || v->type == IMAP_VAL_LIST)
				continue;
			if (strcasecmp(k->data, "name") == 0)
				imap_id_value(v->data, v->len,
				    is->pre->client_name,
				    sizeof(is->pre->client_name));
			else if (strcasecmp(k->data, "version") == 0)
				imap_id_value(v->data, v->len,
				    is->pre->client_version,
				    sizeof(is->pre->client_version));
		}
	}
	if (is->pre->client_name[0] != '\0')
		log_debug("%s: client says it is %s %s", session_tag(s),
		    is->pre->client_name, is->pre->client_version);
	sesslog_client_id(s, is->pre->client_name, is->pre->client_version);
	imap_reply(s,
	    "* ID (\"name\" \"postern\" \"version\" \"" PACKAGE_VERSION
	    "\")\r\n");
	imap_tagged(s, cmd->tag, "OK ID completed.");
}

static void
imap_starttls_refused(struct session *s, const char *tag, bool active)
{
	imap_tagged(s, tag,
	    active ? "BAD TLS is already active." : "BAD Unknown command.");
}

static void
imap_starttls_go_ahead(struct session *s, const char *tag)
{
	imap_tagged(s, tag, "OK Begin TLS negotiation now.");
}

static int
imap_command(struct session *s, const struct imap_command *cmd)
{
	char caps[512];

	switch (cmd->cmd) {
	case IMAP_CMD_CAPABILITY:
		imap_caps(s, caps, sizeof(caps));
		session_printf(s, "* CAPABILITY %s\r\n", caps);
		imap_tagged(s, cmd->tag,
		    "OK Pre-login capabilities listed, "
		    "post-login capabilities have more.");
		return 0;
	case IMAP_CMD_NOOP:
		imap_tagged(s, cmd->tag, "OK NOOP completed.");
		return 0;
	case IMAP_CMD_LOGOUT:
		imap_reply(s, "* BYE Logging out.\r\n");
		imap_tagged(s, cmd->tag, "OK Logout completed.");
		session_close_after_flush(s, "client logged out before login");
		return -1;
	case IMAP_CMD_STARTTLS:
		return session_starttls(s, cmd->tag);
	case IMAP_CMD_ID:
		imap_cmd_id(s, cmd);
		return 0;
	case IMAP_CMD_LOGIN:
		return imap_cmd_login(s, cmd);
	case IMAP_CMD_AUTHENTICATE:
		return imap_cmd_authenticate(s, cmd);
	case IMAP_CMD_ENABLE:
		/* RFC 9051 section 6.3.1: valid in the authenticated state
		 * only. */
		return imap_bad(s, cmd->tag,
		    "BAD ENABLE is not allowed before "
		    "login.");
	case IMAP_CMD_OTHER:
		break;
	}
	return imap_bad(s, cmd->tag,
	    "BAD Unknown command, or not allowed "
	    "before login.");
}

/*
 * Appends a quoted string to out[n..cap) with RFC 3501's escapes put back
 * (section 4.3: '\\' and '"' are written with a '\\'), so that the row shows
 * the value as the client sent it.  Returns the new length, which stops
 * short of cap.
 */
static size_t
imap_log_quoted(char *out, size_t n, size_t cap, const char *sep, const char *v)
{
	size_t need = strlen(sep) + 2;

	for (const char *c = v; *c != '\0'; c++)
		need += *c == '"' || *c == '\\' ? 2 : 1;
	if (n + need >= cap)
		return cap; /* cut: the caller stops */
	n += (size_t)snprintf(out + n, cap - n, "%s\"", sep);
	for (; *v != '\0'; v++) {
		if (*v == '"' || *v == '\\')
			out[n++] = '\\';
		out[n++] = *v;
	}
	out[n++] = '"';
	out[n] = '\0';
	return n;
}

/* Writes the values of a command as IMAP would, literals as "{n}". */
static void
imap_log_args(const struct imap_command *cmd, size_t from, char *out,
    size_t cap)
{
	size_t open[IMAP_LIST_DEPTH_MAX + 1], depth = 0, n = 0;
	bool fresh = true; /* no space before the next value */

	out[0] = '\0';
	for (size_t i = from; i < cmd->nargs && n < cap; i++) {
		const struct imap_value *v = &cmd->args[i];
		const char *sep = fresh ? "" : " ";

		/* Every list still open counts this value as one of its own. */
		for (size_t d = 0; d < depth; d++)
			open[d]--;
		switch (v->type) {
		case IMAP_VAL_LIST:
			n += (size_t)snprintf(out + n, cap - n, "%s(", sep);
			fresh = true;
			if (depth <= IMAP_LIST_DEPTH_MAX)
				open[depth++] = v->len;
			break;
		case IMAP_VAL_QUOTED:
			n = imap_log_quoted(out, n, cap, sep, v->data);
			fresh = false;
			break;
		case IMAP_VAL_LITERAL:
			n += (size_t)snprintf(out + n, cap - n, "%s{%zu}", sep,
			    v->len);
			fresh = false;
			break;
		default:
			n += (size_t)snprintf(out + n, cap - n, "%s%s", sep,
			    v->data);
			fresh = false;
			break;
		}
		while (depth > 0 && open[depth - 1] == 0 && n < cap) {
			n += (size_t)snprintf(out + n, cap - n, ")");
			depth--;
			fresh = false;
		}
	}
}

/*
 * Names the row of a pre-auth command: LOGIN shows the user and "*****",
 * AUTHENTICATE the mechanism, a command postern does not know nothing.
 */
static void
imap_log_command(struct session *s, const struct imap_command *cmd)
{
	char name[sizeof(cmd->name)], params[PROTOLOG_PARAMS_MAX + 1];
	size_t i;

	if (s->log == NULL)
		return;
	for (i = 0; cmd->name[i] != '\0'; i++)
		name[i] = (char)tolower((unsigned char)cmd->name[i]);
	name[i] = '\0';
	params[0] = '\0';
	switch (cmd->cmd) {
	case IMAP_CMD_LOGIN:
		if (cmd->nargs >= 1 && cmd->args[0].type != IMAP_VAL_LIST) {
			size_t n =
			    str_copy(params, sizeof(params), cmd->args[0].data);

			str_copy(params + n, sizeof(params) - n, " *****");
		}
		break;
	case IMAP_CMD_AUTHENTICATE:
		if (cmd->nargs >= 1 && cmd->args[0].type == IMAP_VAL_ATOM)
			str_copy(params, sizeof(params), cmd->args[0].data);
		break;
	case IMAP_CMD_OTHER:
		if (cmd->nargs > 0)
			str_copy(params, sizeof(params), "*****");
		break;
	default:
		imap_log_args(cmd, 0, params, sizeof(params));
		break;
	}
	sesslog_command(s, name, params, strlen(params));
}

static int
imap_client_input(struct session *s)
{
	struct imap_session *is = I(s);
	struct evbuffer *in = conn_input(s->client);
	struct imap_parser *p = &is->pre->parser;

	/* A relayed SASL exchange reads its lines itself (passthru.h). */
	while (s->state == SESSION_PREAUTH && s->pt == NULL) {
		struct evbuffer_iovec v;
		enum imap_parse_result r;
		size_t consumed = 0;
		char text[IMAP_ANSWER_MAX];
		int rc = 0;

		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1 || v.iov_len == 0)
			return 0;
		sesslog_begin(s);
		if (is->cstate == IMAP_C_COMMAND)
			r = imap_parse(p, v.iov_base, v.iov_len, &consumed);
		else if (is->cstate == IMAP_C_REFUSED)
			r = imap_parse_refused(p, v.iov_base, v.iov_len,
			    &consumed);
		else
			r = imap_parse_sasl(p, v.iov_base, v.iov_len,
			    &consumed);
		/* SASL lines hold credentials: the parser has its copy, and
		 * the input buffer keeps none (as pop3.c does). */
		if (is->cstate != IMAP_C_COMMAND)
			OPENSSL_cleanse(v.iov_base, consumed);
		evbuffer_drain(in, consumed);
		sesslog_rq(s, consumed);
		/* A line with a tag ends the refused exchange. */
		if (is->cstate == IMAP_C_REFUSED &&
		    (r == IMAP_PARSE_COMMAND ||
			(r == IMAP_PARSE_INVALID && p->handover)))
			is->cstate = IMAP_C_COMMAND;
		switch (r) {
		case IMAP_PARSE_NEED_MORE:
			continue;
		case IMAP_PARSE_LITERAL_WAIT:
			imap_parser_literal_accept(p);
			imap_reply(s, "+ Ready for literal data.\r\n");
			continue;
		case IMAP_PARSE_SASL_DISCARD:
			/* Its row says only that it came; no answer, since
			 * the AUTHENTICATE it belongs to had its own. */
			log_info("%s: discarded a SASL response sent after a "
				 "refused AUTHENTICATE",
			    session_tag(s));
			sesslog_command(s, "InvalidCommand", "*****", 5);
			sesslog_error(s, "SaslResponseAfterRefusal");
			rc = session_bad_command(s);
			break;
		case IMAP_PARSE_INVALID:
			snprintf(text, sizeof(text), "BAD %s",
			    imap_error_text(p->cmd.error));
			if (p->cmd.error == IMAP_ERR_LITERAL_TOO_BIG)
				snprintf(text, sizeof(text), "BAD [TOOBIG] %s",
				    imap_error_text(p->cmd.error));
			if (is->cstate == IMAP_C_COMMAND)
				sesslog_invalid(s, p->cmd.name,
				    strlen(p->cmd.name));
			if (p->cmd.fatal) {
				if (p->cmd.error == IMAP_ERR_TOO_LONG)
					sesslog_close_error(s,
					    "CommandTooLong");
				imap_tagged(s, p->cmd.tag, text);
				imap_bye(s, BYE_TOO_MANY_ERRORS);
				session_close_after_flush(s,
				    imap_error_text(p->cmd.error));
				return -1;
			}
			if (is->cstate != IMAP_C_COMMAND) {
				/* After a user name, as in imap_sasl_line(). */
				is->cstate = is->cstate == IMAP_C_LOGIN_USER ?
						 IMAP_C_REFUSED :
						 IMAP_C_COMMAND;
				imap_tagged(s, is->tag,
				    "BAD Invalid SASL "
				    "response.");
				rc = session_bad_command(s);
			} else if (p->cmd.cmd == IMAP_CMD_AUTHENTICATE) {
				imap_tagged(s, p->cmd.tag, text);
				rc = imap_auth_refused(s, false);
			} else
				rc = imap_bad(s, p->cmd.tag, text);
			break;
		case IMAP_PARSE_SASL_CANCEL:
			is->cstate = IMAP_C_COMMAND;
			imap_tagged(s, is->tag,
			    "BAD Authentication cancelled.");
			break;
		case IMAP_PARSE_SASL_RESPONSE:
			rc = imap_sasl_line(s, p->cmd.args[0].data,
			    p->cmd.args[0].len);
			break;
		case IMAP_PARSE_COMMAND:
			imap_log_command(s, &p->cmd);
			rc = imap_command(s, &p->cmd);
			break;
		}
		if (rc == -1)
			return -1;
		/* A login waits for the backend, AUTHENTICATE for the
		 * client's SASL lines: their row ends with the answer. */
		if (s->state != SESSION_BACKEND && s->pt == NULL &&
		    (is->cstate == IMAP_C_COMMAND ||
			is->cstate == IMAP_C_REFUSED))
			sesslog_end(s);
	}
	return 0;
}

/* --- the backend login -------------------------------------------------- */

static void
imap_backend_start(struct session *s)
{
	struct imap_session *is = I(s);

	is->bstate = IMAP_B_GREETING;
	is->have_caps = false;
	is->id_done = false;
}

/*
 * Hands the client's address to the backend in an ID command, the way
 * Dovecot (login_trusted_networks) and others take it from a trusted
 * proxy, so that their logs, rate limits and fail2ban see the client.
 * The client's own ID was answered by postern and never reaches the
 * backend, so no x-originating-* field of the client's is passed on.
 */
static bool
imap_backend_id(struct session *s)
{
	struct imap_session *is = I(s);
	char peer[NETADDR_STRLEN], local[NETADDR_STRLEN];

	is->id_done = true;
	if (!is->backend_id) {
		log_notice("%s: forward_client_address is id but the backend "
			   "does not offer ID: the client address is not "
			   "forwarded",
		    session_tag(s));
		return false;
	}
	backend_printf(s,
	    "A3 ID (\"x-originating-ip\" \"%s\" \"x-originating-port\" \"%u\" "
	    "\"x-connected-ip\" \"%s\" \"x-connected-port\" \"%u\" "
	    "\"x-session-id\" \"postern-%016llx\")\r\n",
	    netaddr_host((struct sockaddr *)&s->peer.sa, peer, sizeof(peer)),
	    netaddr_port((struct sockaddr *)&s->peer.sa),
	    netaddr_host((struct sockaddr *)&s->local.sa, local, sizeof(local)),
	    netaddr_port((struct sockaddr *)&s->local.sa),
	    (unsigned long long)s->id);
	is->bstate = IMAP_B_ID;
	return true;
}

static void
imap_backend_caps(struct imap_session *is, const struct imap_response *r)
{
	const char *c = r->caps.p;
	size_t n = r->caps.len;

	unsigned bits = imap_caps_scan(c, n);

	is->have_caps = true;
	is->backend_starttls = bits & IMAP_CAP_STARTTLS;
	is->backend_logindisabled = bits & IMAP_CAP_LOGINDISABLED;
	is->backend_plain = bits & IMAP_CAP_AUTH_PLAIN;
	is->backend_saslir = bits & IMAP_CAP_SASL_IR;
	is->backend_literalplus = bits & IMAP_CAP_LITERAL_PLUS;
	is->backend_id = bits & IMAP_CAP_ID;
	/* Read only where mechanisms are relayed: every login passes here. */
	is->backend_mechs =
	    is->s.pc->passthru_mechs != 0 ? saslmech_imap_caps(c, n) : 0;
}

/* Sends LOGIN with each value quoted, or as a literal where it must be. */
static enum backend_result
imap_backend_send_login(struct session *s)
{
	struct imap_session *is = I(s);
	const struct session_login *l = s->login;
	char quser[2 * SASL_USER_MAX + 3], qpass[2 * SASL_PASS_MAX + 3];
	size_t qulen, qplen;
	int ru, rp;

	ru = imap_quote_astring(l->user, l->userlen, quser, sizeof(quser),
	    &qulen);
	rp = imap_quote_astring(l->pass, l->passlen, qpass, sizeof(qpass),
	    &qplen);
	if (ru == -1 || rp == -1)
		return BACKEND_BROKEN;
	if (ru == 0 && rp == 0) {
		backend_printf(s, "A2 LOGIN %s %s\r\n", quser, qpass);
		OPENSSL_cleanse(qpass, sizeof(qpass));
		is->bstate = IMAP_B_LOGIN;
		return BACKEND_MORE;
	}
	OPENSSL_cleanse(qpass, sizeof(qpass));
	/* 8-bit values go as literals; LITERAL+ spares a round trip. */
	if (!is->backend_literalplus) {
		backend_printf(s, "A2 LOGIN {%zu}\r\n", l->userlen);
		is->bstate = IMAP_B_LITERAL_CONT;
		return BACKEND_MORE;
	}
	backend_printf(s, "A2 LOGIN {%zu+}\r\n", l->userlen);
	backend_write(s, l->user, l->userlen);
	backend_printf(s, " {%zu+}\r\n", l->passlen);
	backend_write(s, l->pass, l->passlen);
	backend_write(s, "\r\n", 2);
	is->bstate = IMAP_B_LOGIN;
	return BACKEND_MORE;
}

/*
 * Starts the relayed exchange: the mechanism, with the client's first
 * message as its initial response when the backend takes one.
 */
static enum backend_result
imap_backend_passthru(struct session *s)
{
	struct imap_session *is = I(s);
	const char *name, *first;
	size_t flen;

	if (!passthru_backend_begin(s, is->backend_mechs, &name, &first, &flen))
		return BACKEND_NO_MECH;
	is->bstate = IMAP_B_PASSTHRU;
	if (!is->backend_saslir) {
		backend_printf(s, "A2 AUTHENTICATE %s\r\n", name);
		return BACKEND_MORE;
	}
	backend_printf(s, "A2 AUTHENTICATE %s %s\r\n", name,
	    flen > 0 ? first : "=");
	passthru_first_sent(s);
	return BACKEND_MORE;
}

static enum backend_result
imap_backend_login(struct session *s)
{
	struct imap_session *is = I(s);
	char b64[SASL_PLAIN_B64_MAX + 1];

	if (!is->have_caps) {
		backend_printf(s, "A0 CAPABILITY\r\n");
		is->bstate = IMAP_B_CAPABILITY;
		return BACKEND_MORE;
	}
	if (backend_tls_mode(s) == BACKEND_TLS_STARTTLS &&
	    !is->backend_tls_up) {
		if (!is->backend_starttls) {
			log_warnx("%s: backend_tls is starttls but the "
				  "backend does not offer STARTTLS",
			    session_tag(s));
			return BACKEND_BROKEN;
		}
		backend_printf(s, "A1 STARTTLS\r\n");
		is->bstate = IMAP_B_STARTTLS;
		return BACKEND_MORE;
	}
	/* What it offers now, after TLS, is what clients may be offered;
	 * a probe has learned what it came for. */
	if (passthru_backend_offers(s, is->backend_mechs))
		return BACKEND_PROBED;
	if (s->pc->forward_client_address == FORWARD_ID && !is->id_done &&
	    imap_backend_id(s))
		return BACKEND_MORE;
	if (s->pt != NULL)
		return imap_backend_passthru(s);
	if (is->backend_plain) {
		if (sasl_plain_encode(s->login->user, s->login->pass, b64,
			sizeof(b64)) == -1)
			return BACKEND_BROKEN;
		if (is->backend_saslir) {
			backend_printf(s, "A2 AUTHENTICATE PLAIN %s\r\n", b64);
			is->bstate = IMAP_B_LOGIN;
		} else {
			backend_printf(s, "A2 AUTHENTICATE PLAIN\r\n");
			is->bstate = IMAP_B_AUTH_CONT;
		}
		explicit_bzero(b64, strlen(b64));
		return BACKEND_MORE;
	}
	/* RFC 9051 section 6.2.3: LOGIN must not be sent then. */
	if (is->backend_logindisabled) {
		log_warnx("%s: the backend advertises LOGINDISABLED and no "
			  "AUTH=PLAIN: cannot log in",
		    session_tag(s));
		return BACKEND_BROKEN;
	}
	return imap_backend_send_login(s);
}

static bool
imap_code_is(const struct imap_response *r, const char *code)
{
	return r->code.len == strlen(code) &&
	       strncasecmp(r->code.p, code, r->code.len) == 0;
}

/* The tagged answer to the login. */
static enum backend_result
imap_backend_final(struct session *s, const struct imap_response *r)
{
	struct imap_session *is = I(s);
	char caps[IMAP_CAPS_MAX];
	bool system;

	switch (r->status) {
	case IMAP_STATUS_OK:
		free(is->caps);
		is->caps = NULL;
		if (r->has_caps && imap_caps_filter(r->caps.p, r->caps.len,
				       caps, sizeof(caps)) != -1)
			is->caps = strdup(caps);
		return BACKEND_LOGGED_IN;
	case IMAP_STATUS_NO:
		/* RFC 5530 codes that are not about the credentials reach the
		 * client as the backend said them. */
		system = imap_code_is(r, "UNAVAILABLE") ||
			 imap_code_is(r, "INUSE") || imap_code_is(r, "LIMIT") ||
			 imap_code_is(r, "SERVERBUG");
		free(is->answer);
		is->answer = NULL;
		if (system &&
		    asprintf(&is->answer, "NO [%.*s] %.*s", (int)r->code.len,
			r->code.p, (int)r->text.len, r->text.p) == -1)
			is->answer = NULL;
		return BACKEND_AUTH_FAILED;
	default:
		return BACKEND_BROKEN;
	}
}

static enum backend_result
imap_backend_line(struct session *s, const struct backend_line *line)
{
	struct imap_session *is = I(s);
	struct imap_response r;

	if (imap_response_parse(line->p, line->len, &r) == -1)
		return BACKEND_BROKEN;
	if (r.has_literal)
		backend_skip(s, r.literal);
	/* The capabilities count until the login is sent (the login's
	 * answer has its own, for the client: imap_backend_final()). */
	if (r.has_caps &&
	    (is->bstate == IMAP_B_GREETING || is->bstate == IMAP_B_CAPABILITY))
		imap_backend_caps(is, &r);
	switch (is->bstate) {
	case IMAP_B_GREETING:
		if (r.kind != IMAP_RESP_UNTAGGED || r.status != IMAP_STATUS_OK)
			return BACKEND_BROKEN;
		return imap_backend_login(s);
	case IMAP_B_CAPABILITY:
		if (r.kind != IMAP_RESP_TAGGED)
			return BACKEND_MORE;
		if (r.status != IMAP_STATUS_OK || !is->have_caps)
			return BACKEND_BROKEN;
		return imap_backend_login(s);
	case IMAP_B_STARTTLS:
		if (r.kind != IMAP_RESP_TAGGED)
			return BACKEND_MORE;
		if (r.status != IMAP_STATUS_OK)
			return BACKEND_BROKEN;
		/* RFC 2595 section 3.1: no byte may follow the go-ahead in
		 * cleartext. */
		if (line->after > 0)
			return BACKEND_BROKEN;
		return BACKEND_STARTTLS;
	case IMAP_B_ID:
		if (r.kind != IMAP_RESP_TAGGED)
			return BACKEND_MORE;
		if (r.status != IMAP_STATUS_OK)
			log_notice("%s: the backend refused ID: the client "
				   "address is not forwarded",
			    session_tag(s));
		return imap_backend_login(s);
	case IMAP_B_AUTH_CONT:
		if (r.kind == IMAP_RESP_CONTINUATION) {
			char b64[SASL_PLAIN_B64_MAX + 1];

			if (sasl_plain_encode(s->login->user, s->login->pass,
				b64, sizeof(b64)) == -1)
				return BACKEND_BROKEN;
			backend_printf(s, "%s\r\n", b64);
			explicit_bzero(b64, strlen(b64));
			is->bstate = IMAP_B_LOGIN;
			return BACKEND_MORE;
		}
		if (r.kind == IMAP_RESP_TAGGED)
			return imap_backend_final(s, &r);
		return BACKEND_MORE;
	case IMAP_B_LITERAL_CONT:
		if (r.kind == IMAP_RESP_CONTINUATION) {
			const struct session_login *l = s->login;

			/* The password goes as a literal too, but only once
			 * the backend has said "+" to it. */
			backend_write(s, l->user, l->userlen);
			backend_printf(s, " {%zu}\r\n", l->passlen);
			is->bstate = IMAP_B_LOGIN;
			backend_skip(s, 0);
			return BACKEND_MORE;
		}
		if (r.kind == IMAP_RESP_TAGGED)
			return imap_backend_final(s, &r);
		return BACKEND_MORE;
	case IMAP_B_PASSTHRU:
		if (r.kind == IMAP_RESP_CONTINUATION) {
			const char *d = line->p + 1;
			size_t dl = line->len - 1;

			if (dl > 0 && d[0] == ' ') {
				d++;
				dl--;
			}
			passthru_challenge(s, d, dl);
			return BACKEND_MORE;
		}
		if (r.kind != IMAP_RESP_TAGGED)
			return BACKEND_MORE;
		/* A BAD (a response the backend could not read, or the
		 * answer to "*") ends the exchange as a NO does. */
		if (r.status == IMAP_STATUS_BAD) {
			free(is->answer);
			is->answer = NULL;
			return BACKEND_AUTH_FAILED;
		}
		return imap_backend_final(s, &r);
	case IMAP_B_LOGIN:
		if (r.kind == IMAP_RESP_CONTINUATION) {
			/* The "+" for a LOGIN password literal. */
			backend_write(s, s->login->pass, s->login->passlen);
			backend_write(s, "\r\n", 2);
			return BACKEND_MORE;
		}
		if (r.kind == IMAP_RESP_TAGGED)
			return imap_backend_final(s, &r);
		return BACKEND_MORE;
	}
	return BACKEND_BROKEN;
}

static enum backend_result
imap_backend_tls_done(struct session *s)
{
	struct imap_session *is = I(s);

	/* RFC 2595 section 3.1: ask again; what was said before is void. */
	is->backend_tls_up = true;
	is->have_caps = false;
	return imap_backend_login(s);
}

static void
imap_backend_logout(struct session *s)
{
	backend_printf(s, "A3 LOGOUT\r\n");
}

static void
imap_login_answer(struct session *s, enum login_result r)
{
	struct imap_session *is = I(s);
	const char *tag = is->tag;

	switch (r) {
	case LOGIN_OK:
		if (is->caps != NULL)
			session_printf(s,
			    "%s OK [CAPABILITY %s] Logged in.\r\n", tag,
			    is->caps);
		else
			session_printf(s, "%s OK Logged in.\r\n", tag);
		imap_preauth_free(s);
		imap_relay_readers_start(s);
		break;
	case LOGIN_FAILED:
		if (is->answer != NULL)
			session_printf(s, "%s %s\r\n", tag, is->answer);
		else
			imap_tagged(s, tag,
			    "NO [AUTHENTICATIONFAILED] "
			    "Authentication failed.");
		break;
	case LOGIN_TEMPFAIL:
		imap_tagged(s, tag,
		    "NO [UNAVAILABLE] Server temporarily "
		    "unavailable, try again later.");
		break;
	case LOGIN_IN_USE:
		imap_tagged(s, tag,
		    "NO [LIMIT] Too many connections for this "
		    "user.");
		break;
	case LOGIN_DENIED:
		/* Never which rule or group: that is for the logs. */
		imap_tagged(s, tag, "NO [AUTHORIZATIONFAILED] Access denied.");
		break;
	case LOGIN_PRIVACY:
		imap_tagged(s, tag,
		    "NO [PRIVACYREQUIRED] Plaintext "
		    "authentication disallowed on non-secure "
		    "(SSL/TLS) connections.");
		break;
	case LOGIN_TRY_LATER:
		imap_tagged(s, tag,
		    "NO [UNAVAILABLE] Temporary failure, try "
		    "again later.");
		break;
	}
	free(is->caps);
	is->caps = NULL;
	free(is->answer);
	is->answer = NULL;
}

static void
imap_free(struct session *s)
{
	struct imap_session *is = I(s);

	imap_preauth_free(s);
	imap_relay_readers_free(s);
	free(is->caps);
	free(is->answer);
}

static void
imap_sasl_answer(struct session *s, const char *tag, enum session_sasl_answer a)
{
	static const char *const text[] = {
	    [SASL_ANSWER_UNSUPPORTED] = "NO [CANNOT] Unsupported "
					"authentication mechanism.",
	    [SASL_ANSWER_CANCELLED] = "BAD Authentication cancelled.",
	    [SASL_ANSWER_NO_USER] = "NO [AUTHENTICATIONFAILED] The SASL "
				    "message names no user, which this "
				    "server requires.",
	    [SASL_ANSWER_MALFORMED] = "BAD Invalid SASL response.",
	    [SASL_ANSWER_TOO_LONG] = "BAD SASL response too long.",
	};

	I(s)->cstate = IMAP_C_COMMAND;
	imap_tagged(s, tag != NULL ? tag : I(s)->tag, text[a]);
}

static const struct session_login_ops imap_login_ops = {
    .starttls_name = "STARTTLS",
    .auth_name = "AUTHENTICATE",
    .login_name = "LOGIN",
    .auth_failed = imap_auth_failed,
    .cleartext_refused_log = NULL,
    .cleartext_refused = imap_cleartext_refused,
    .starttls_refused = imap_starttls_refused,
    .starttls_go_ahead = imap_starttls_go_ahead,
    .login_begin = imap_login_begin,
    .sasl_answer = imap_sasl_answer,
};

const struct proto imap_proto = {
    .id = PROTO_IMAP,
    .name = "IMAP4",
    .section = "imap",
    .default_bindings = "[::]:143, 0.0.0.0:143",
    .default_ssl_bindings = "[::]:993, 0.0.0.0:993",
    .default_banner = "IMAP4 server ready.",
    .default_backend_port = "1993",
    .command_size_min = 1024,
    .command_size_max = 16384,
    .command_size_default = 10240,
    .forward_modes =
	1u << FORWARD_NONE | 1u << FORWARD_ID | 1u << FORWARD_PROXY,
    .log_directory = "/var/log/postern/Imap4",
    .session_size = sizeof(struct imap_session),
    .greet = imap_greet,
    .client_input = imap_client_input,
    .tls_reset = imap_tls_reset,
    .bye = imap_bye,
    .backend_start = imap_backend_start,
    .backend_line = imap_backend_line,
    .backend_line_max = IMAP_BACKEND_LINE_MAX,
    .backend_tls_done = imap_backend_tls_done,
    .backend_logout = imap_backend_logout,
    .login_answer = imap_login_answer,
    .login_ops = &imap_login_ops,
    .free = imap_free,
    .answer_ok = imap_answer_ok,
    .relay_log_start = imap_relay_log_start,
    .relay_at_boundary = imap_relay_at_boundary,
    .relay_log_end = imap_relay_log_end,
    .relay_guard = imap_relay_guard,
    .relay_guard_end = imap_relay_guard_end,
};
