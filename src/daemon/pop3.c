/*
 * pop3: the session half of the POP3 module.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/buffer.h>
#include <openssl/crypto.h>

#include "backend.h"
#include "conn.h"
#include "log.h"
#include "passthru.h"
#include "policy.h"
#include "pop3.h"
#include "sasl.h"
#include "session.h"
#include "sesslog.h"
#include "strcopy.h"

/* Longest SASL response line: a PLAIN message at its longest, CRLF. */
#define POP3_SASL_LINE_MAX (SASL_PLAIN_B64_MAX + 2)

/*
 * Longest AUTH line when mechanisms are relayed: the longest relayed
 * response (saslmech.h) as an initial response.  RFC 5034 section 4 asks
 * clients to keep AUTH within 255 octets and send a longer response after
 * the "+", but the bearer tokens of some clients come in one line.
 */
#define POP3_AUTH_LINE_MAX (16384 + 64)

/* RFC 5034 section 4: the longest AUTH line a server must take. */
#define POP3_AUTH_IR_LINE_MAX 255

/* Longest backend line postern accepts during the login dialogue. */
#define POP3_BACKEND_LINE_MAX 4096

/* Where the client is in the authorization state. */
enum pop3_client_state {
	POP3_C_IDLE,
	POP3_C_USER,       /* USER accepted, PASS expected */
	POP3_C_PLAIN,      /* AUTH PLAIN, waiting for the response */
	POP3_C_LOGIN_USER, /* AUTH LOGIN, waiting for the user name */
	POP3_C_LOGIN_PASS, /* AUTH LOGIN, waiting for the password */
	POP3_C_REFUSED     /* after a refused AUTH: its response may
			      follow anyway (pop3_line_is_command()) */
};

/* Where the backend login is. */
enum pop3_backend_state {
	POP3_B_GREETING,
	POP3_B_CAPA_STATUS,
	POP3_B_CAPA_LINES,
	POP3_B_STLS,
	POP3_B_XCLIENT,
	POP3_B_USER,
	POP3_B_PASS,
	POP3_B_AUTH,
	POP3_B_PASSTHRU /* relaying a SASL exchange (passthru.h) */
};

struct pop3_session {
	struct session s; /* first: the generic session */
	enum pop3_client_state cstate;
	enum pop3_backend_state bstate;
	struct pop3_capa capa;
	unsigned mechs; /* relayed SASL mechanisms the backend offers */
	bool backend_tls_up;
	bool xclient_done; /* the client address was offered, or could not be */
	bool greeting_xclient; /* "+OK [XCLIENT]" */
	/* The name from USER or AUTH LOGIN, until the password comes. */
	char user[256];
	size_t userlen;
	/* The backend's final answer, passed on to the client. */
	char answer[512];
	struct pop3_quitwatch quit; /* after login: the client's goodbye */
};

#define P(s) ((struct pop3_session *)(s))

static int pop3_sasl_line(struct session *s, const char *line, size_t len);

static void
pop3_reply(struct session *s, const char *line)
{
	session_write(s, line, strlen(line));
}

static bool
pop3_tls_active(const struct session *s)
{
	return s->tls != SESSION_TLS_NONE;
}

static void
pop3_greet(struct session *s)
{
	session_printf(s, "+OK %s\r\n", s->pc->banner);
}

static void
pop3_forget_user(struct pop3_session *ps)
{
	memset(ps->user, 0, sizeof(ps->user));
	ps->userlen = 0;
	ps->cstate = POP3_C_IDLE;
}

/* RFC 2595 section 4: after STLS the client must discard what it knew. */
static void
pop3_tls_reset(struct session *s)
{
	pop3_forget_user(P(s));
}

static void
pop3_bye(struct session *s, enum bye_reason reason)
{
	static const char *const text[] = {
	    [BYE_SHUTDOWN] = "-ERR [SYS/TEMP] Server shutting down.\r\n",
	    [BYE_TIMEOUT] = "-ERR Disconnected for inactivity.\r\n",
	    [BYE_TOO_MANY_CONN] = "-ERR [SYS/TEMP] Too many connections, "
				  "try again later.\r\n",
	    [BYE_TOO_MANY_ERRORS] = "-ERR Too many bad commands.\r\n",
	    [BYE_BACKEND] = "-ERR [SYS/TEMP] Server temporarily "
			    "unavailable.\r\n",
	    [BYE_INTERNAL] = "-ERR [SYS/TEMP] Internal error.\r\n",
	    [BYE_DISABLED] = "-ERR [SYS/PERM] Service disabled.\r\n",
	    [BYE_DENIED] = "-ERR [AUTH] Access denied.\r\n",
	    [BYE_LOGIN_TIME] = "-ERR Disconnected: too long without "
			       "logging in.\r\n",
	    /* No POP3 command is refused this way; for completeness. */
	    [BYE_UNRELAYABLE] = "-ERR Command not relayed.\r\n",
	};

	pop3_reply(s, text[reason]);
}

/* The relayed mechanisms to advertise, each after a space; "" for none. */
static void
pop3_relayed(struct session *s, char *out, size_t cap)
{
	if (saslmech_list(passthru_advertised(s), " ", out, cap) == -1)
		out[0] = '\0';
}

static void
pop3_capa(struct session *s)
{
	bool tls = pop3_tls_active(s);
	char more[128];

	pop3_relayed(s, more, sizeof(more));
	pop3_reply(s, "+OK Capability list follows\r\n"
		      "TOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\n");
	if (policy_advertise_cleartext_to(s->pc, tls,
		(struct sockaddr *)&s->peer.sa))
		session_printf(s, "USER\r\nSASL PLAIN LOGIN%s\r\n", more);
	else if (more[0] != '\0')
		session_printf(s, "SASL%s\r\n", more);
	if (!tls && session_tls_available(s))
		pop3_reply(s, "STLS\r\n");
	pop3_reply(s, "IMPLEMENTATION postern\r\n.\r\n");
}

/* The refused login's user name is forgotten with it. */
static void
pop3_cleartext_refused(struct session *s, const char *ref)
{
	(void)ref;
	pop3_forget_user(P(s));
	pop3_reply(s, "-ERR [AUTH] Plaintext authentication disallowed on "
		      "non-secure (SSL/TLS) connections.\r\n");
}

/* The credentials are the session's now: the user name kept for PASS or
 * for the second line of AUTH LOGIN is not needed any more. */
static void
pop3_login_begin(struct session *s, const char *ref)
{
	(void)ref;
	pop3_forget_user(P(s));
}

/* A refused login attempt: counted like a bad command. */
static int
pop3_auth_error(struct session *s, const char *answer)
{
	pop3_forget_user(P(s));
	pop3_reply(s, answer);
	return session_bad_command(s);
}

static int
pop3_cmd_user(struct session *s, const struct pop3_command *cmd)
{
	struct pop3_session *ps = P(s);

	if (!session_cleartext_first_step_ok(s, NULL))
		return session_bad_command(s);
	if (sasl_check_plain_value(SASL_FIELD_USER, cmd->arg, cmd->arglen) !=
	    SASL_OK)
		return pop3_auth_error(s, "-ERR Invalid user name.\r\n");
	memcpy(ps->user, cmd->arg, cmd->arglen);
	ps->user[cmd->arglen] = '\0';
	ps->userlen = cmd->arglen;
	ps->cstate = POP3_C_USER;
	session_set_user(s, cmd->arg, cmd->arglen);
	pop3_reply(s, "+OK\r\n");
	return 0;
}

static int
pop3_cmd_pass(struct session *s, const struct pop3_command *cmd)
{
	struct pop3_session *ps = P(s);

	if (!session_cleartext_ok(s, NULL, true))
		return session_bad_command(s);
	if (ps->cstate != POP3_C_USER)
		return pop3_auth_error(s, "-ERR No user name given.\r\n");
	if (sasl_check_plain_value(SASL_FIELD_PASS, cmd->arg, cmd->arglen) !=
	    SASL_OK)
		return pop3_auth_error(s, "-ERR [AUTH] Authentication "
					  "failed.\r\n");
	return session_login(s, NULL, ps->user, ps->userlen, cmd->arg,
	    cmd->arglen);
}

static void
pop3_auth_failed(struct session *s, const char *ref)
{
	(void)ref;
	pop3_forget_user(P(s));
	pop3_reply(s, "-ERR [AUTH] Authentication failed.\r\n");
}

/*
 * An AUTH refused before its exchange began.  Without an initial
 * response, a client that does not wait for the "+" sends its response
 * line anyway (RFC 5034 section 4): that line holds the credentials and
 * must be read as part of the refused command, never run or logged as a
 * command of its own.
 */
static int
pop3_auth_refused(struct session *s, bool has_ir)
{
	if (!has_ir)
		P(s)->cstate = POP3_C_REFUSED;
	return session_bad_command(s);
}

static int
pop3_cmd_auth(struct session *s, const struct pop3_command *cmd)
{
	struct pop3_session *ps = P(s);
	const char *mech = cmd->arg, *ir = NULL, *sp;
	size_t mechlen = cmd->arglen, irlen = 0;
	const struct saslmech *m;

	if (cmd->arglen == 0) {
		unsigned relayed = passthru_advertised(s);

		/* The mechanism list some clients ask for before CAPA. */
		pop3_reply(s, "+OK\r\n");
		if (policy_advertise_cleartext_to(s->pc, pop3_tls_active(s),
			(struct sockaddr *)&s->peer.sa))
			pop3_reply(s, "PLAIN\r\nLOGIN\r\n");
		for (unsigned i = 0; i < SASLMECH_COUNT; i++)
			if (relayed & (1u << i))
				session_printf(s, "%s\r\n",
				    saslmech_get((enum saslmech_id)i)->name);
		pop3_reply(s, ".\r\n");
		return 0;
	}
	if ((sp = memchr(mech, ' ', mechlen)) != NULL) {
		ir = sp + 1;
		irlen = (size_t)(mech + mechlen - ir);
		mechlen = (size_t)(sp - mech);
	}
	if ((m = passthru_mech(s, mech, mechlen)) != NULL) {
		/* A bearer token in the initial response has been sent in
		 * the clear already. */
		if (!session_mech_login_type_ok(s, NULL,
			ir != NULL && m->sends_secret, m->sends_secret))
			return pop3_auth_refused(s, ir != NULL);
		return passthru_start(s, NULL, m, ir, irlen);
	}
	if (!((mechlen == 5 && strncasecmp(mech, "PLAIN", 5) == 0) ||
		(mechlen == 5 && strncasecmp(mech, "LOGIN", 5) == 0))) {
		pop3_reply(s, "-ERR Unsupported authentication mechanism.\r\n");
		return pop3_auth_refused(s, ir != NULL);
	}
	/* An initial response to PLAIN holds the password. */
	if (!session_cleartext_ok(s, NULL,
		ir != NULL && mech[0] != 'L' && mech[0] != 'l'))
		return pop3_auth_refused(s, ir != NULL);
	if (mech[0] == 'P' || mech[0] == 'p') {
		/* RFC 5034 section 4: "=" is an empty initial response. */
		if (ir != NULL && !(irlen == 1 && ir[0] == '='))
			return session_login_plain(s, NULL, ir, irlen);
		ps->cstate = POP3_C_PLAIN;
		pop3_reply(s, "+ \r\n");
		return 0;
	}
	if (ir != NULL && !(irlen == 1 && ir[0] == '=')) {
		ps->cstate = POP3_C_LOGIN_USER;
		return pop3_sasl_line(s, ir, irlen);
	}
	ps->cstate = POP3_C_LOGIN_USER;
	session_printf(s, "+ %s\r\n", SASL_LOGIN_PROMPT_USER);
	return 0;
}

/* One line of a SASL exchange (after "+ "). */
static int
pop3_sasl_line(struct session *s, const char *line, size_t len)
{
	struct pop3_session *ps = P(s);
	int rc;

	if (sasl_is_cancel(line, len)) {
		pop3_forget_user(ps);
		pop3_reply(s, "-ERR Authentication cancelled.\r\n");
		return 0;
	}
	switch (ps->cstate) {
	case POP3_C_PLAIN:
		ps->cstate = POP3_C_IDLE;
		return session_login_plain(s, NULL, line, len);
	case POP3_C_LOGIN_USER:
		rc = session_login_user(s, NULL, line, len, ps->user,
		    sizeof(ps->user), &ps->userlen);
		/* After a refused user name the password line may be on its
		 * way. */
		ps->cstate = rc == 1 ? POP3_C_LOGIN_PASS : POP3_C_REFUSED;
		return rc == 1 ? 0 : rc;
	case POP3_C_LOGIN_PASS:
		return session_login_pass(s, NULL, line, len, ps->user,
		    ps->userlen);
	default:
		return 0;
	}
}

static void
pop3_starttls_refused(struct session *s, const char *ref, bool active)
{
	(void)ref;
	pop3_reply(s, active ? "-ERR TLS is already active.\r\n" :
			       "-ERR Unknown command.\r\n");
}

static void
pop3_starttls_go_ahead(struct session *s, const char *ref)
{
	(void)ref;
	pop3_reply(s, "+OK Begin TLS negotiation now.\r\n");
}

/*
 * Runs one complete command other than STLS and SASL lines, which need the
 * input buffer themselves; returns -1 if the session is gone.
 */
static int
pop3_command(struct session *s, const struct pop3_command *cmd)
{
	switch (cmd->verb) {
	case POP3_CMD_CAPA:
		pop3_capa(s);
		return 0;
	case POP3_CMD_USER:
		return pop3_cmd_user(s, cmd);
	case POP3_CMD_PASS:
		return pop3_cmd_pass(s, cmd);
	case POP3_CMD_AUTH:
		return pop3_cmd_auth(s, cmd);
	case POP3_CMD_QUIT:
		pop3_reply(s, "+OK Logging out.\r\n");
		session_close_after_flush(s, "client quit before login");
		return -1;
	case POP3_CMD_OTHER:
		pop3_reply(s, "-ERR Unknown command.\r\n");
		return session_bad_command(s);
	default:
		/* RFC 1939: transaction commands in the authorization
		 * state are errors, as are APOP and a client's XCLIENT. */
		pop3_reply(s, "-ERR [AUTH] Not logged in.\r\n");
		return session_bad_command(s);
	}
}

/*
 * A command's name and parameters for its row, masked: a password never,
 * a SASL mechanism without its initial response.  POP3 parameters keep
 * their leading space, as Exchange writes them (" PLAIN").
 */
static bool
pop3_log_params(const struct pop3_command *cmd, char *out, size_t cap)
{
	size_t n = cmd->arglen;
	const char *sp;

	out[0] = '\0';
	if (cmd->empty || cmd->name[0] == '\0')
		return false;
	for (const char *p = cmd->name; *p != '\0'; p++)
		if (*p < 'a' || *p > 'z')
			return false;
	switch (cmd->verb) {
	case POP3_CMD_PASS:
		str_copy(out, cap, " *****");
		return true;
	case POP3_CMD_AUTH:
	case POP3_CMD_APOP:
		/* The mechanism, or APOP's user name; not what follows. */
		if ((sp = memchr(cmd->arg, ' ', n)) != NULL)
			n = (size_t)(sp - cmd->arg);
		if (cap > 1) {
			size_t k = 1 + str_copyn(out + 1, cap - 1, cmd->arg, n);

			out[0] = ' ';
			if (cmd->verb == POP3_CMD_APOP)
				str_copy(out + k, cap - k, " *****");
		}
		return true;
	default:
		if (n > 0 && cap > 1) {
			out[0] = ' ';
			str_copyn(out + 1, cap - 1, cmd->arg, n);
		}
		return true;
	}
}

/* Names the row of a command line that starts at line. */
static void
pop3_log_command(struct session *s, const struct pop3_command *cmd,
    const char *line)
{
	char params[POP3_LINE_KEPT + 8];

	if (s->log == NULL)
		return;
	if (cmd->verb == POP3_CMD_OTHER ||
	    !pop3_log_params(cmd, params, sizeof(params))) {
		sesslog_invalid(s, line, cmd->linelen);
		return;
	}
	sesslog_command(s, cmd->name, params, strlen(params));
}

static int
pop3_client_input(struct session *s)
{
	struct evbuffer *in = conn_input(s->client);
	struct pop3_session *ps = P(s);

	/* A relayed SASL exchange reads its lines itself (passthru.h). */
	while (s->state == SESSION_PREAUTH && s->pt == NULL) {
		size_t avail = evbuffer_get_length(in), want;
		struct pop3_command cmd;
		enum pop3_parse_result r;
		const char *buf;
		/* SASL lines are not commands but may be longer: the
		 * base64 of a long PLAIN response. */
		size_t max =
		    ps->cstate == POP3_C_IDLE || ps->cstate == POP3_C_USER ?
			s->pc->max_command_size :
			POP3_SASL_LINE_MAX;
		bool refused = ps->cstate == POP3_C_REFUSED;
		int rc;

		if (avail == 0)
			return 0;
		if (ps->cstate == POP3_C_IDLE && s->pc->passthru_mechs != 0 &&
		    avail >= 5 &&
		    strncasecmp((const char *)evbuffer_pullup(in, 5), "AUTH ",
			5) == 0)
			max = POP3_AUTH_LINE_MAX;
		want = avail < max ? avail : max;
		buf = (const char *)evbuffer_pullup(in, (ev_ssize_t)want);
		r = pop3_parse(buf, want, max, &cmd);
		if (r == POP3_NEED_MORE)
			return 0;
		if (refused && r == POP3_COMMAND &&
		    pop3_line_is_command(&cmd, buf)) {
			/* A command ends the refused exchange. */
			ps->cstate = POP3_C_IDLE;
			refused = false;
			if (cmd.linelen > s->pc->max_command_size)
				r = POP3_TOO_LONG;
		}
		if (r == POP3_TOO_LONG) {
			sesslog_close_error(s, "CommandTooLong");
			pop3_reply(s, "-ERR Command line too long.\r\n");
			session_close_after_flush(s, "command line too long");
			return -1;
		}
		/* A SASL line belongs to the row of its AUTH. */
		sesslog_begin(s);
		sesslog_rq(s, cmd.linelen);
		if (refused) {
			/* Its row says only that it came; no answer, since
			 * the AUTH it belongs to had its own. */
			OPENSSL_cleanse(
			    evbuffer_pullup(in, (ev_ssize_t)cmd.linelen),
			    cmd.linelen);
			evbuffer_drain(in, cmd.linelen);
			log_info("%s: discarded a SASL response sent after a "
				 "refused AUTH",
			    session_tag(s));
			sesslog_command(s, "InvalidCommand", "*****", 5);
			sesslog_error(s, "SaslResponseAfterRefusal");
			rc = session_bad_command(s);
		} else if (ps->cstate == POP3_C_PLAIN ||
			   ps->cstate == POP3_C_LOGIN_USER ||
			   ps->cstate == POP3_C_LOGIN_PASS) {
			/* The whole line is the SASL response. */
			size_t l = cmd.linelen - 1;
			char line[POP3_SASL_LINE_MAX];

			if (l > 0 && buf[l - 1] == '\r')
				l--;
			memcpy(line, buf, l);
			evbuffer_drain(in, cmd.linelen);
			rc = pop3_sasl_line(s, line, l);
			OPENSSL_cleanse(line, l);
		} else {
			/* The command points into the buffer: run it before
			 * draining, except STLS, which must see the buffer
			 * without its own line. */
			pop3_log_command(s, &cmd, buf);
			if (cmd.verb == POP3_CMD_STLS) {
				evbuffer_drain(in, cmd.linelen);
				rc = session_starttls(s, NULL);
			} else if (cmd.empty) {
				evbuffer_drain(in, cmd.linelen);
				pop3_reply(s, "-ERR Unknown command.\r\n");
				rc = session_bad_command(s);
			} else {
				size_t linelen = cmd.linelen;
				bool secret = cmd.verb == POP3_CMD_PASS ||
					      cmd.verb == POP3_CMD_AUTH;

				rc = pop3_command(s, &cmd);
				if (rc == -1)
					return -1;
				if (secret)
					OPENSSL_cleanse(
					    evbuffer_pullup(in, linelen),
					    linelen);
				evbuffer_drain(in, linelen);
			}
		}
		if (rc == -1)
			return -1;
		/* A login waits for the backend, a SASL exchange for the
		 * client: their row ends with the login's answer. */
		if (s->state != SESSION_BACKEND && s->pt == NULL &&
		    ps->cstate != POP3_C_PLAIN &&
		    ps->cstate != POP3_C_LOGIN_USER &&
		    ps->cstate != POP3_C_LOGIN_PASS)
			sesslog_end(s);
	}
	return 0;
}

/* --- the backend login -------------------------------------------------- */

static void
pop3_backend_start(struct session *s)
{
	struct pop3_session *ps = P(s);

	ps->bstate = POP3_B_GREETING;
	ps->xclient_done = ps->greeting_xclient = false;
	memset(&ps->capa, 0, sizeof(ps->capa));
	ps->mechs = 0;
}

/*
 * Hands the client's address to the backend the way Dovecot's pop3-login
 * takes it from hosts in its login_trusted_networks, so that its logs,
 * rate limits and fail2ban see the client rather than postern.
 */
static bool
pop3_backend_xclient(struct session *s)
{
	struct pop3_session *ps = P(s);
	char host[NETADDR_STRLEN];

	ps->xclient_done = true;
	if (!ps->capa.xclient && !ps->greeting_xclient) {
		log_notice("%s: forward_client_address is xclient but the "
			   "backend does not offer XCLIENT to postern (is "
			   "postern in its trusted networks?): the client "
			   "address is not forwarded",
		    session_tag(s));
		return false;
	}
	backend_printf(s, "XCLIENT ADDR=%s PORT=%u SESSION=postern-%016llx\r\n",
	    netaddr_host((struct sockaddr *)&s->peer.sa, host, sizeof(host)),
	    netaddr_port((struct sockaddr *)&s->peer.sa),
	    (unsigned long long)s->id);
	ps->bstate = POP3_B_XCLIENT;
	return true;
}

/*
 * Starts the relayed exchange: the mechanism, with the client's first
 * message as its initial response when the line stays within RFC 5034's
 * 255 octets, else after the backend's "+".
 */
static enum backend_result
pop3_backend_passthru(struct session *s)
{
	struct pop3_session *ps = P(s);
	const char *name, *first;
	size_t flen;

	if (!passthru_backend_begin(s, ps->mechs, &name, &first, &flen))
		return BACKEND_NO_MECH;
	ps->bstate = POP3_B_PASSTHRU;
	if (strlen("AUTH ") + strlen(name) + 1 + (flen > 0 ? flen : 1) + 2 >
	    POP3_AUTH_IR_LINE_MAX) {
		backend_printf(s, "AUTH %s\r\n", name);
		return BACKEND_MORE;
	}
	backend_printf(s, "AUTH %s %s\r\n", name, flen > 0 ? first : "=");
	passthru_first_sent(s);
	return BACKEND_MORE;
}

/* Sends the credentials the best way the backend offers. */
static enum backend_result
pop3_backend_login(struct session *s)
{
	struct pop3_session *ps = P(s);
	char b64[POP3_SASL_LINE_MAX];

	if (backend_tls_mode(s) == BACKEND_TLS_STARTTLS &&
	    !ps->backend_tls_up) {
		if (!ps->capa.stls) {
			log_warnx("%s: backend_tls is starttls but the "
				  "backend does not offer STLS",
			    session_tag(s));
			return BACKEND_BROKEN;
		}
		backend_printf(s, "STLS\r\n");
		ps->bstate = POP3_B_STLS;
		return BACKEND_MORE;
	}
	/* What it offers now, after TLS, is what clients may be offered;
	 * a probe has learned what it came for. */
	if (passthru_backend_offers(s, ps->mechs))
		return BACKEND_PROBED;
	if (s->pc->forward_client_address == FORWARD_XCLIENT &&
	    !ps->xclient_done && pop3_backend_xclient(s))
		return BACKEND_MORE;
	if (s->pt != NULL)
		return pop3_backend_passthru(s);
	if (ps->capa.sasl_plain &&
	    sasl_plain_encode(s->login->user, s->login->pass, b64,
		sizeof(b64)) != -1) {
		backend_printf(s, "AUTH PLAIN %s\r\n", b64);
		explicit_bzero(b64, strlen(b64));
		ps->bstate = POP3_B_AUTH;
		return BACKEND_MORE;
	}
	backend_printf(s, "USER %s\r\n", s->login->user);
	ps->bstate = POP3_B_USER;
	return BACKEND_MORE;
}

static enum backend_result
pop3_backend_final(struct session *s, const char *line, size_t len)
{
	struct pop3_session *ps = P(s);

	switch (pop3_status(line, len)) {
	case POP3_STATUS_OK:
		str_copyn(ps->answer, sizeof(ps->answer), line, len);
		return BACKEND_LOGGED_IN;
	case POP3_STATUS_ERR:
		/* Kept only when it is not about the credentials: then the
		 * client sees the backend's own reason (mailbox in use). */
		if (pop3_err_is_system(line, len))
			str_copyn(ps->answer, sizeof(ps->answer), line, len);
		else
			ps->answer[0] = '\0';
		return BACKEND_AUTH_FAILED;
	default:
		return BACKEND_BROKEN;
	}
}

static enum backend_result
pop3_backend_line(struct session *s, const struct backend_line *l)
{
	struct pop3_session *ps = P(s);
	const char *line = l->p;
	size_t len = l->len;
	enum pop3_status st = pop3_status(line, len);

	switch (ps->bstate) {
	case POP3_B_GREETING:
		if (st != POP3_STATUS_OK)
			return BACKEND_BROKEN;
		ps->greeting_xclient = pop3_greeting_xclient(line, len);
		backend_printf(s, "CAPA\r\n");
		ps->bstate = POP3_B_CAPA_STATUS;
		return BACKEND_MORE;
	case POP3_B_CAPA_STATUS:
		if (st == POP3_STATUS_OK) {
			ps->bstate = POP3_B_CAPA_LINES;
			return BACKEND_MORE;
		}
		if (st != POP3_STATUS_ERR)
			return BACKEND_BROKEN;
		/* A backend without CAPA: USER/PASS it is. */
		return pop3_backend_login(s);
	case POP3_B_CAPA_LINES:
		if (len == 1 && line[0] == '.')
			return pop3_backend_login(s);
		pop3_capa_line(&ps->capa, line, len);
		if (s->pc->passthru_mechs != 0)
			ps->mechs |= saslmech_pop3_capa(line, len);
		return BACKEND_MORE;
	case POP3_B_STLS:
		if (st != POP3_STATUS_OK)
			return BACKEND_BROKEN;
		/* Bytes after the go-ahead would be read as if they came
		 * over TLS: refuse them (RFC 2595 section 4). */
		if (l->after > 0)
			return BACKEND_BROKEN;
		return BACKEND_STARTTLS;
	case POP3_B_XCLIENT:
		if (st == POP3_STATUS_ERR)
			log_notice("%s: the backend refused XCLIENT: the "
				   "client address is not forwarded",
			    session_tag(s));
		else if (st != POP3_STATUS_OK)
			return BACKEND_BROKEN;
		return pop3_backend_login(s);
	case POP3_B_USER:
		if (st == POP3_STATUS_ERR)
			return pop3_backend_final(s, line, len);
		if (st != POP3_STATUS_OK)
			return BACKEND_BROKEN;
		backend_printf(s, "PASS %s\r\n", s->login->pass);
		ps->bstate = POP3_B_PASS;
		return BACKEND_MORE;
	case POP3_B_PASS:
	case POP3_B_AUTH:
		return pop3_backend_final(s, line, len);
	case POP3_B_PASSTHRU:
		if (st == POP3_STATUS_CONT) {
			size_t skip = len > 1 ? 2 : 1;

			passthru_challenge(s, line + skip, len - skip);
			return BACKEND_MORE;
		}
		return pop3_backend_final(s, line, len);
	}
	return BACKEND_BROKEN;
}

static enum backend_result
pop3_backend_tls_done(struct session *s)
{
	struct pop3_session *ps = P(s);

	/* RFC 2595 section 4: capabilities learnt before TLS are void. */
	ps->backend_tls_up = true;
	memset(&ps->capa, 0, sizeof(ps->capa));
	ps->mechs = 0;
	backend_printf(s, "CAPA\r\n");
	ps->bstate = POP3_B_CAPA_STATUS;
	return BACKEND_MORE;
}

static void
pop3_backend_logout(struct session *s)
{
	backend_printf(s, "QUIT\r\n");
}

static void
pop3_login_answer(struct session *s, enum login_result r)
{
	struct pop3_session *ps = P(s);

	switch (r) {
	case LOGIN_OK:
		session_printf(s, "%s\r\n", ps->answer);
		break;
	case LOGIN_FAILED:
		if (ps->answer[0] != '\0')
			session_printf(s, "%s\r\n", ps->answer);
		else
			pop3_reply(s, "-ERR [AUTH] Authentication failed.\r\n");
		break;
	case LOGIN_TEMPFAIL:
		pop3_reply(s, "-ERR [SYS/TEMP] Server temporarily unavailable, "
			      "try again later.\r\n");
		break;
	case LOGIN_IN_USE:
		pop3_reply(s, "-ERR [IN-USE] Too many connections for this "
			      "user.\r\n");
		break;
	case LOGIN_DENIED:
	case LOGIN_PRIVACY:
		/* Never which rule or group: that is for the logs. */
		pop3_reply(s, "-ERR [AUTH] Access denied.\r\n");
		break;
	case LOGIN_TRY_LATER:
		pop3_reply(s, "-ERR [SYS/TEMP] Temporary failure, try again "
			      "later.\r\n");
		break;
	}
	ps->answer[0] = '\0';
}

/* --- after login: a row per command ------------------------------------ */

/* The answer to this command has lines up to ".". */
#define POP3_LOG_MULTILINE 0x1u

/* The framing of a logged-in session. */
struct pop3_relaylog {
	struct pop3_lines lines;
	struct pop3_answer answer;
	bool answering; /* answer is the head command's */
	uint64_t rp;    /* bytes of that answer so far */
	struct sesslog_ring ring;
};

static bool
pop3_answer_ok(const char *line, size_t len)
{
	return pop3_status(line, len) == POP3_STATUS_OK;
}

static int
pop3_relay_log_start(struct session *s)
{
	struct pop3_relaylog *rl = calloc(1, sizeof(*rl));

	if (rl == NULL)
		return -1;
	pop3_lines_init(&rl->lines);
	s->log->relay = rl;
	return 0;
}

/* A client line is complete: it waits for its answer in the ring. */
static void
pop3_relay_log_line(struct pop3_relaylog *rl)
{
	struct pop3_command cmd;
	struct sesslog_cmd *c = sesslog_ring_push(&rl->ring);

	clock_gettime(CLOCK_MONOTONIC, &c->t0);
	c->rq = rl->lines.len;
	if (pop3_parse(rl->lines.buf, rl->lines.kept, sizeof(rl->lines.buf),
		&cmd) != POP3_COMMAND ||
	    !pop3_log_params(&cmd, c->params, sizeof(c->params)))
		str_copy(c->cmd, sizeof(c->cmd), "InvalidCommand");
	else {
		str_copy(c->cmd, sizeof(c->cmd), cmd.name);
		if (pop3_multiline(&cmd))
			c->flags |= POP3_LOG_MULTILINE;
	}
	/* The line may have held a password (PASS after login). */
	OPENSSL_cleanse(rl->lines.buf, rl->lines.kept);
}

static size_t
pop3_relay_log_client(struct session *s, const char *buf, size_t len)
{
	struct pop3_relaylog *rl = s->log->relay;
	size_t off = 0, n;

	while (off < len) {
		/* Full: the next command waits until answers make room. */
		if ((rl->lines.done || rl->lines.len == 0) &&
		    !sesslog_ring_room(&rl->ring))
			break;
		if (pop3_lines_feed(&rl->lines, buf + off, len - off, &n) ==
		    POP3_FRAME_LINE)
			pop3_relay_log_line(rl);
		off += n;
	}
	return off;
}

static void
pop3_relay_log_backend(struct session *s, const char *buf, size_t len)
{
	struct pop3_relaylog *rl = s->log->relay;
	size_t off = 0, n;

	while (off < len) {
		struct sesslog_cmd *c = sesslog_ring_head(&rl->ring);

		/* POP3 servers speak only when spoken to (RFC 1939). */
		if (c == NULL)
			return;
		if (!rl->answering) {
			pop3_answer_start(&rl->answer,
			    (c->flags & POP3_LOG_MULTILINE) != 0);
			rl->answering = true;
			rl->rp = 0;
		}
		if (pop3_answer_feed(&rl->answer, buf + off, len - off, &n) ==
		    POP3_FRAME_ANSWER) {
			rl->rp += n;
			sesslog_row(s, c, rl->rp,
			    rl->answer.ok ? "ok" : rl->answer.status);
			c->done = true;
			sesslog_ring_pop_done(&rl->ring);
			rl->answering = false;
		} else
			rl->rp += n;
		off += n;
	}
}

/*
 * Between answers, a line of postern's own is read as the answer to the
 * next command, if any; inside one (a RETR body above all) it would be
 * taken for message text.
 */
static bool
pop3_relay_at_boundary(const struct session *s)
{
	const struct pop3_relaylog *rl;

	/* Without the log's framing nothing reads the answers. */
	if (!s->log_framed || s->log == NULL || s->log->relay == NULL)
		return false;
	rl = s->log->relay;
	return !rl->answering;
}

static void
pop3_relay_log_end(struct session *s)
{
	struct pop3_relaylog *rl = s->log->relay;

	/* Commands the session ended before they were answered. */
	for (unsigned i = 0; i < rl->ring.n; i++)
		sesslog_row(s, sesslog_ring_at(&rl->ring, i),
		    i == 0 && rl->answering ? rl->rp : 0, NULL);
	explicit_bzero(&rl->lines, sizeof(rl->lines));
	sesslog_ring_free(&rl->ring);
	free(rl);
	s->log->relay = NULL;
}

/* Nothing is changed: the client's QUIT is only looked for. */
static size_t
pop3_relay_guard(struct session *s, bool from_client, char *buf, size_t len,
    bool *end)
{
	struct pop3_session *ps = P(s);

	(void)end;
	if (!from_client)
		return len;
	pop3_quitwatch_feed(&ps->quit, buf, len);
	s->client_logout = ps->quit.quit;
	return len;
}

static void
pop3_sasl_answer(struct session *s, const char *ref, enum session_sasl_answer a)
{
	static const char *const text[] = {
	    [SASL_ANSWER_UNSUPPORTED] = "-ERR Unsupported authentication "
					"mechanism.\r\n",
	    [SASL_ANSWER_CANCELLED] = "-ERR Authentication cancelled.\r\n",
	    [SASL_ANSWER_NO_USER] = "-ERR [AUTH] The SASL message names no "
				    "user, which this server requires.\r\n",
	    [SASL_ANSWER_MALFORMED] = "-ERR Invalid SASL response.\r\n",
	    [SASL_ANSWER_TOO_LONG] = "-ERR SASL response too long.\r\n",
	};

	(void)ref;
	pop3_forget_user(P(s));
	pop3_reply(s, text[a]);
}

static const struct session_login_ops pop3_login_ops = {
    .starttls_name = "STLS",
    .auth_name = "AUTH",
    .login_name = "USER",
    .auth_failed = pop3_auth_failed,
    .cleartext_refused_log = "refused USER without TLS",
    .cleartext_refused = pop3_cleartext_refused,
    .starttls_refused = pop3_starttls_refused,
    .starttls_go_ahead = pop3_starttls_go_ahead,
    .login_begin = pop3_login_begin,
    .sasl_answer = pop3_sasl_answer,
};

const struct proto pop3_proto = {
    .id = PROTO_POP3,
    .name = "POP3",
    .section = "pop3",
    .default_bindings = "[::]:110, 0.0.0.0:110",
    .default_ssl_bindings = "[::]:995, 0.0.0.0:995",
    .default_banner = "POP3 server ready.",
    .default_backend_port = "1995",
    .command_size_min = 40,
    .command_size_max = 1024,
    .command_size_default = 512,
    .forward_modes =
	1u << FORWARD_NONE | 1u << FORWARD_XCLIENT | 1u << FORWARD_PROXY,
    .log_directory = "/var/log/postern/Pop3",
    .session_size = sizeof(struct pop3_session),
    .greet = pop3_greet,
    .client_input = pop3_client_input,
    .tls_reset = pop3_tls_reset,
    .bye = pop3_bye,
    .backend_start = pop3_backend_start,
    .backend_line = pop3_backend_line,
    .backend_line_max = POP3_BACKEND_LINE_MAX,
    .backend_tls_done = pop3_backend_tls_done,
    .backend_logout = pop3_backend_logout,
    .login_answer = pop3_login_answer,
    .login_ops = &pop3_login_ops,
    .answer_ok = pop3_answer_ok,
    .relay_log_start = pop3_relay_log_start,
    .relay_log_client = pop3_relay_log_client,
    .relay_log_backend = pop3_relay_log_backend,
    .relay_log_end = pop3_relay_log_end,
    .relay_guard = pop3_relay_guard,
    .relay_at_boundary = pop3_relay_at_boundary,
};
