/*
 * The backend login dialogues of both protocols, driven without a server:
 * scripted backend answers go through the backend module's line reader
 * (backend_input()) to the protocol's dialogue, and the tests check what
 * postern sends, how the login ends, and how a failure is classified.
 * Every script is also fed in small pieces, down to one byte at a time,
 * since a backend's answers arrive however TCP cuts them.  A relayed
 * SASL exchange starts from the client's command instead, through
 * postern's own login path, before its backend dialogue is played.
 */
#include "config.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "backend.h"
#include "blockcache.h"
#include "conf.h"
#include "imap.h"
#include "passthru.h"
#include "pop3.h"
#include "routing_conf.h"
#include "saslmech.h"
#include "session.h"
#include "session_fixture.h"
#include "worker.h"

static struct event_base *base;
static struct proto_conf pc;
static struct evbuffer *in; /* what the backend sent, not yet read */

static void
setup(void)
{
	cr_assert_not_null(base = event_base_new());
	cr_assert_not_null(in = evbuffer_new());
	memset(&pc, 0, sizeof(pc));
	pc.backend_tls = BACKEND_TLS_NONE;
	pc.forward_client_address = FORWARD_NONE;
}

static void
teardown(void)
{
	evbuffer_free(in);
	event_base_free(base);
}

TestSuite(backend_login, .init = setup, .fini = teardown);

/* A session of protocol p whose client gave user and pass (with tag). */
static struct session *
login_session(const struct proto *p, const char *tag, const char *user,
    const char *pass)
{
	struct session *s = fixture_session(p, base, &pc);

	s->id = 0x1234;
	s->state = SESSION_BACKEND;
	s->backend = conn_bufferevent_new(fixture_sink(base));
	cr_assert_eq(
	    session_login_set(s, user, strlen(user), pass, strlen(pass)), 0);
	p->login_ops->login_begin(s, tag);
	p->backend_start(s);
	return s;
}

/* The backend sends bytes in one piece. */
static enum backend_result
feed(struct session *s, const char *bytes, size_t len)
{
	evbuffer_add(in, bytes, len);
	return backend_input(s, in);
}

static enum backend_result
feeds(struct session *s, const char *bytes)
{
	return feed(s, bytes, strlen(bytes));
}

/* One answer of the backend, what postern says to it, and the outcome. */
struct step {
	const char *from_backend;
	const char *to_backend;
	enum backend_result r;
};

/*
 * Plays steps[] with each answer cut into pieces of chunk bytes (0: in
 * one piece): every piece but the last must leave the dialogue waiting,
 * and nothing may be sent before the answer is complete.
 */
static struct session *
play(const struct proto *p, const struct step *steps, size_t n, size_t chunk)
{
	struct session *s = login_session(p, "a1", "alice", "secret");

	for (size_t i = 0; i < n; i++) {
		const char *b = steps[i].from_backend;
		size_t len = strlen(b), off = 0;
		enum backend_result r = BACKEND_MORE;

		while (off < len) {
			size_t k =
			    chunk == 0 || len - off < chunk ? len - off : chunk;

			if (off + k < len) {
				cr_assert_eq(feed(s, b + off, k), BACKEND_MORE,
				    "step %zu, chunk %zu at %zu", i, chunk,
				    off);
				cr_assert_eq(evbuffer_get_length(
						 conn_output(s->backend)),
				    0, "step %zu sent early", i);
			} else
				r = feed(s, b + off, k);
			off += k;
		}
		cr_assert_eq(r, steps[i].r, "step %zu, chunk %zu: %d", i, chunk,
		    r);
		fixture_expect_sent(s->backend, steps[i].to_backend);
	}
	return s;
}

/* Plays steps[] whole and in every piece size up to 7 bytes. */
static void
play_all_ways(const struct proto *p, const struct step *steps, size_t n)
{
	static const size_t chunks[] = {0, 1, 2, 3, 5, 7};

	for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
		struct session *s = play(p, steps, n, chunks[c]);

		cr_expect_eq(s->backend_failure, BACKEND_FAILURE_NONE);
		fixture_session_free(s);
		evbuffer_drain(in, evbuffer_get_length(in));
	}
}

#define NSTEPS(a) (sizeof(a) / sizeof((a)[0]))

static void
expect_protocol_failure(struct session *s)
{
	cr_expect_eq(s->backend_failure, BACKEND_FAILURE_PROTOCOL);
	cr_expect_str_eq(backend_error(s), "unexpected answer during login");
}

/* --- POP3 -------------------------------------------------------------- */

/* base64("\0alice\0secret"), RFC 4616. */
#define PLAIN_ALICE "AGFsaWNlAHNlY3JldA=="

Test(backend_login, pop3_sasl_plain_when_offered)
{
	static const struct step steps[] = {
	    {"+OK Dovecot ready.\r\n", "CAPA\r\n", BACKEND_MORE},
	    {"+OK\r\nTOP\r\nUSER\r\nSASL PLAIN LOGIN\r\n.\r\n",
		"AUTH PLAIN " PLAIN_ALICE "\r\n", BACKEND_MORE},
	    {"+OK Logged in.\r\n", "", BACKEND_LOGGED_IN},
	};
	struct session *s;

	play_all_ways(&pop3_proto, steps, NSTEPS(steps));
	s = play(&pop3_proto, steps, NSTEPS(steps), 0);
	/* The backend's own +OK reaches the client. */
	s->proto->login_answer(s, LOGIN_OK);
	fixture_expect_sent(s->client, "+OK Logged in.\r\n");
	fixture_session_free(s);
}

Test(backend_login, pop3_user_pass_without_sasl)
{
	static const struct step steps[] = {
	    {"+OK ready\r\n", "CAPA\r\n", BACKEND_MORE},
	    {"+OK\r\nUSER\r\n.\r\n", "USER alice\r\n", BACKEND_MORE},
	    {"+OK\r\n", "PASS secret\r\n", BACKEND_MORE},
	    {"-ERR [AUTH] Authentication failed.\r\n", "", BACKEND_AUTH_FAILED},
	};
	struct session *s;

	play_all_ways(&pop3_proto, steps, NSTEPS(steps));
	s = play(&pop3_proto, steps, NSTEPS(steps), 0);
	s->proto->login_answer(s, LOGIN_FAILED);
	fixture_expect_sent(s->client,
	    "-ERR [AUTH] Authentication failed.\r\n");
	fixture_session_free(s);
}

Test(backend_login, pop3_without_capa_uses_user_pass)
{
	static const struct step steps[] = {
	    {"+OK ready\r\n", "CAPA\r\n", BACKEND_MORE},
	    {"-ERR unknown command\r\n", "USER alice\r\n", BACKEND_MORE},
	    {"-ERR no such user\r\n", "", BACKEND_AUTH_FAILED},
	};

	play_all_ways(&pop3_proto, steps, NSTEPS(steps));
}

Test(backend_login, pop3_system_error_reaches_the_client)
{
	static const struct step steps[] = {
	    {"+OK ready\r\n", "CAPA\r\n", BACKEND_MORE},
	    {"+OK\r\n.\r\n", "USER alice\r\n", BACKEND_MORE},
	    {"+OK\r\n", "PASS secret\r\n", BACKEND_MORE},
	    {"-ERR [IN-USE] Mailbox locked by another session\r\n", "",
		BACKEND_AUTH_FAILED},
	};
	struct session *s = play(&pop3_proto, steps, NSTEPS(steps), 0);

	s->proto->login_answer(s, LOGIN_FAILED);
	fixture_expect_sent(s->client,
	    "-ERR [IN-USE] Mailbox locked by another session\r\n");
	fixture_session_free(s);
}

Test(backend_login, pop3_all_answers_in_one_read)
{
	struct session *s = login_session(&pop3_proto, NULL, "alice", "secret");

	/* Greeting and CAPA answer together: the dialogue goes on from
	 * the one read without waiting for more. */
	cr_assert_eq(feeds(s, "+OK ready\r\n+OK\r\nSASL PLAIN\r\n.\r\n"),
	    BACKEND_MORE);
	fixture_expect_sent(s->backend,
	    "CAPA\r\nAUTH PLAIN " PLAIN_ALICE "\r\n");
	fixture_session_free(s);
}

Test(backend_login, pop3_bare_lf_and_inner_cr)
{
	struct session *s = login_session(&pop3_proto, NULL, "alice", "secret");

	cr_assert_eq(feeds(s, "+OK a\rb\n"), BACKEND_MORE);
	fixture_expect_sent(s->backend, "CAPA\r\n");
	cr_assert_eq(feeds(s, "+OK\n.\n"), BACKEND_MORE);
	fixture_expect_sent(s->backend, "USER alice\r\n");
	fixture_session_free(s);
}

Test(backend_login, pop3_refused_greeting_is_a_protocol_failure)
{
	struct session *s = login_session(&pop3_proto, NULL, "alice", "secret");

	cr_assert_eq(feeds(s, "-ERR go away\r\n"), BACKEND_BROKEN);
	fixture_expect_sent(s->backend, "");
	expect_protocol_failure(s);
	fixture_session_free(s);
}

Test(backend_login, pop3_starttls)
{
	static const struct step steps[] = {
	    {"+OK ready\r\n", "CAPA\r\n", BACKEND_MORE},
	    {"+OK\r\nSTLS\r\nUSER\r\n.\r\n", "STLS\r\n", BACKEND_MORE},
	    {"+OK Begin TLS negotiation now.\r\n", "", BACKEND_STARTTLS},
	};
	struct session *s;

	pc.backend_tls = BACKEND_TLS_STARTTLS;
	play_all_ways(&pop3_proto, steps, NSTEPS(steps));
	s = play(&pop3_proto, steps, NSTEPS(steps), 0);
	/* RFC 2595 section 4: what was learnt before TLS is asked again. */
	cr_assert_eq(s->proto->backend_tls_done(s), BACKEND_MORE);
	fixture_expect_sent(s->backend, "CAPA\r\n");
	cr_assert_eq(feeds(s, "+OK\r\nSASL PLAIN\r\n.\r\n"), BACKEND_MORE);
	fixture_expect_sent(s->backend, "AUTH PLAIN " PLAIN_ALICE "\r\n");
	fixture_session_free(s);
}

Test(backend_login, pop3_bytes_after_the_stls_answer_are_refused)
{
	struct session *s = login_session(&pop3_proto, NULL, "alice", "secret");

	pc.backend_tls = BACKEND_TLS_STARTTLS;
	cr_assert_eq(feeds(s, "+OK ready\r\n+OK\r\nSTLS\r\n.\r\n"),
	    BACKEND_MORE);
	fixture_expect_sent(s->backend, "CAPA\r\nSTLS\r\n");
	cr_assert_eq(feeds(s, "+OK go\r\n+OK injected\r\n"), BACKEND_BROKEN);
	expect_protocol_failure(s);
	fixture_session_free(s);
}

Test(backend_login, pop3_starttls_not_offered)
{
	struct session *s = login_session(&pop3_proto, NULL, "alice", "secret");

	pc.backend_tls = BACKEND_TLS_STARTTLS;
	cr_assert_eq(feeds(s, "+OK ready\r\n"), BACKEND_MORE);
	cr_assert_eq(feeds(s, "+OK\r\nUSER\r\n.\r\n"), BACKEND_BROKEN);
	/* Never the credentials over cleartext. */
	fixture_expect_sent(s->backend, "CAPA\r\n");
	expect_protocol_failure(s);
	fixture_session_free(s);
}

Test(backend_login, pop3_xclient_from_the_greeting)
{
	static const struct step steps[] = {
	    {"+OK [XCLIENT] ready\r\n", "CAPA\r\n", BACKEND_MORE},
	    {"+OK\r\nUSER\r\n.\r\n",
		"XCLIENT ADDR=127.0.0.1 PORT=40000 "
		"SESSION=postern-0000000000001234\r\n",
		BACKEND_MORE},
	    {"+OK\r\n", "USER alice\r\n", BACKEND_MORE},
	    {"+OK\r\n", "PASS secret\r\n", BACKEND_MORE},
	    {"+OK Logged in.\r\n", "", BACKEND_LOGGED_IN},
	};

	pc.forward_client_address = FORWARD_XCLIENT;
	play_all_ways(&pop3_proto, steps, NSTEPS(steps));
}

Test(backend_login, pop3_refused_xclient_goes_on)
{
	static const struct step steps[] = {
	    {"+OK ready\r\n", "CAPA\r\n", BACKEND_MORE},
	    {"+OK\r\nXCLIENT\r\n.\r\n",
		"XCLIENT ADDR=127.0.0.1 PORT=40000 "
		"SESSION=postern-0000000000001234\r\n",
		BACKEND_MORE},
	    {"-ERR not trusted\r\n", "USER alice\r\n", BACKEND_MORE},
	};

	pc.forward_client_address = FORWARD_XCLIENT;
	play_all_ways(&pop3_proto, steps, NSTEPS(steps));
}

/* A greeting line of len bytes in all, its end included. */
static char *
long_line(size_t len, const char *start, const char *end)
{
	char *p = malloc(len + 1);
	size_t sl = strlen(start), el = strlen(end);

	cr_assert_not_null(p);
	memset(p, 'x', len);
	memcpy(p, start, sl);
	memcpy(p + len - el, end, el);
	p[len] = '\0';
	return p;
}

Test(backend_login, pop3_line_limit)
{
	size_t max = pop3_proto.backend_line_max;
	struct session *s = login_session(&pop3_proto, NULL, "alice", "secret");
	char *line = long_line(max + 2, "+OK ", "\r\n");

	/* A line of exactly the limit is read. */
	cr_assert_eq(feeds(s, line), BACKEND_MORE);
	fixture_expect_sent(s->backend, "CAPA\r\n");
	free(line);
	fixture_session_free(s);

	/* One byte more is not, with its end or without. */
	s = login_session(&pop3_proto, NULL, "alice", "secret");
	line = long_line(max + 3, "+OK ", "\r\n");
	cr_assert_eq(feeds(s, line), BACKEND_BROKEN);
	expect_protocol_failure(s);
	free(line);
	fixture_session_free(s);
	evbuffer_drain(in, evbuffer_get_length(in));

	s = login_session(&pop3_proto, NULL, "alice", "secret");
	line = long_line(max, "+OK ", "");
	cr_assert_eq(feeds(s, line), BACKEND_MORE);
	cr_assert_eq(feeds(s, "x"), BACKEND_BROKEN);
	fixture_expect_sent(s->backend, "");
	expect_protocol_failure(s);
	free(line);
	fixture_session_free(s);
}

/* --- IMAP4 ------------------------------------------------------------- */

Test(backend_login, imap_sasl_ir_from_the_greeting)
{
	static const struct step steps[] = {
	    {"* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN] ready\r\n",
		"A2 AUTHENTICATE PLAIN " PLAIN_ALICE "\r\n", BACKEND_MORE},
	    {"A2 OK [CAPABILITY IMAP4rev1 IDLE STARTTLS] Logged in\r\n", "",
		BACKEND_LOGGED_IN},
	};
	struct session *s;

	play_all_ways(&imap_proto, steps, NSTEPS(steps));
	s = play(&imap_proto, steps, NSTEPS(steps), 0);
	/* The client's own tag, and the capabilities it may use. */
	s->proto->login_answer(s, LOGIN_OK);
	fixture_expect_sent(s->client,
	    "a1 OK [CAPABILITY IMAP4rev1 IDLE] Logged in.\r\n");
	fixture_session_free(s);
}

Test(backend_login, imap_capability_asked_then_plain_continuation)
{
	static const struct step steps[] = {
	    {"* OK ready\r\n", "A0 CAPABILITY\r\n", BACKEND_MORE},
	    {"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\nA0 OK done\r\n",
		"A2 AUTHENTICATE PLAIN\r\n", BACKEND_MORE},
	    {"+ \r\n", PLAIN_ALICE "\r\n", BACKEND_MORE},
	    {"A2 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n", "",
		BACKEND_AUTH_FAILED},
	};
	struct session *s;

	play_all_ways(&imap_proto, steps, NSTEPS(steps));
	s = play(&imap_proto, steps, NSTEPS(steps), 0);
	s->proto->login_answer(s, LOGIN_FAILED);
	fixture_expect_sent(s->client,
	    "a1 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n");
	fixture_session_free(s);
}

Test(backend_login, imap_login_quoted_and_system_refusal)
{
	static const struct step steps[] = {
	    {"* OK [CAPABILITY IMAP4rev1] ready\r\n",
		"A2 LOGIN \"alice\" \"secret\"\r\n", BACKEND_MORE},
	    {"* BYE going down\r\nA2 NO [UNAVAILABLE] Try later\r\n", "",
		BACKEND_AUTH_FAILED},
	};
	struct session *s;

	play_all_ways(&imap_proto, steps, NSTEPS(steps));
	s = play(&imap_proto, steps, NSTEPS(steps), 0);
	/* RFC 5530: not about the credentials, so the client hears it. */
	s->proto->login_answer(s, LOGIN_FAILED);
	fixture_expect_sent(s->client, "a1 NO [UNAVAILABLE] Try later\r\n");
	fixture_session_free(s);
}

Test(backend_login, imap_login_literals_wait_for_the_continuation)
{
	struct session *s =
	    login_session(&imap_proto, "a1", "j\xc3\xbcrgen", "secret");

	cr_assert_eq(feeds(s, "* OK [CAPABILITY IMAP4rev1] ready\r\n"),
	    BACKEND_MORE);
	fixture_expect_sent(s->backend, "A2 LOGIN {7}\r\n");
	cr_assert_eq(feeds(s, "+ go\r\n"), BACKEND_MORE);
	fixture_expect_sent(s->backend, "j\xc3\xbcrgen {6}\r\n");
	cr_assert_eq(feeds(s, "+ go\r\n"), BACKEND_MORE);
	fixture_expect_sent(s->backend, "secret\r\n");
	cr_assert_eq(feeds(s, "A2 OK done\r\n"), BACKEND_LOGGED_IN);
	fixture_session_free(s);
}

Test(backend_login, imap_login_literal_plus)
{
	struct session *s =
	    login_session(&imap_proto, "a1", "j\xc3\xbcrgen", "secret");

	cr_assert_eq(feeds(s, "* OK [CAPABILITY IMAP4rev1 LITERAL+] ready\r\n"),
	    BACKEND_MORE);
	fixture_expect_sent(s->backend,
	    "A2 LOGIN {7+}\r\nj\xc3\xbcrgen {6+}\r\nsecret\r\n");
	fixture_session_free(s);
}

Test(backend_login, imap_literal_data_is_not_read_as_lines)
{
	/* The literal holds what looks like the tagged answer: only the
	 * real one after it may go on with the login. */
	static const struct step steps[] = {
	    {"* OK ready\r\n", "A0 CAPABILITY\r\n", BACKEND_MORE},
	    {"* CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR\r\n"
	     "* XFOO {12}\r\nA0 OK fake\r\n)\r\n",
		"", BACKEND_MORE},
	    {"A0 OK done\r\n", "A2 AUTHENTICATE PLAIN " PLAIN_ALICE "\r\n",
		BACKEND_MORE},
	};

	play_all_ways(&imap_proto, steps, NSTEPS(steps));
}

Test(backend_login, imap_starttls)
{
	static const struct step steps[] = {
	    {"* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] ready\r\n",
		"A1 STARTTLS\r\n", BACKEND_MORE},
	    {"A1 OK Begin TLS negotiation now.\r\n", "", BACKEND_STARTTLS},
	};
	struct session *s;

	pc.backend_tls = BACKEND_TLS_STARTTLS;
	play_all_ways(&imap_proto, steps, NSTEPS(steps));
	s = play(&imap_proto, steps, NSTEPS(steps), 0);
	/* RFC 2595 section 3.1: the capabilities are asked again. */
	cr_assert_eq(s->proto->backend_tls_done(s), BACKEND_MORE);
	fixture_expect_sent(s->backend, "A0 CAPABILITY\r\n");
	fixture_session_free(s);
}

Test(backend_login, imap_bytes_after_the_starttls_answer_are_refused)
{
	struct session *s = login_session(&imap_proto, "a1", "alice", "secret");

	pc.backend_tls = BACKEND_TLS_STARTTLS;
	cr_assert_eq(feeds(s, "* OK [CAPABILITY IMAP4rev1 STARTTLS] hi\r\n"),
	    BACKEND_MORE);
	fixture_expect_sent(s->backend, "A1 STARTTLS\r\n");
	cr_assert_eq(feeds(s, "A1 OK go\r\n* OK injected\r\n"), BACKEND_BROKEN);
	expect_protocol_failure(s);
	fixture_session_free(s);
}

Test(backend_login, imap_starttls_not_offered)
{
	struct session *s = login_session(&imap_proto, "a1", "alice", "secret");

	pc.backend_tls = BACKEND_TLS_STARTTLS;
	cr_assert_eq(feeds(s, "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] hi\r\n"),
	    BACKEND_BROKEN);
	fixture_expect_sent(s->backend, "");
	expect_protocol_failure(s);
	fixture_session_free(s);
}

Test(backend_login, imap_logindisabled_without_plain)
{
	struct session *s = login_session(&imap_proto, "a1", "alice", "secret");

	cr_assert_eq(feeds(s, "* OK [CAPABILITY IMAP4rev1 LOGINDISABLED] "
			      "hi\r\n"),
	    BACKEND_BROKEN);
	/* RFC 9051 section 6.2.3: no LOGIN then. */
	fixture_expect_sent(s->backend, "");
	expect_protocol_failure(s);
	fixture_session_free(s);
}

Test(backend_login, imap_id_forwards_the_client_address)
{
	static const struct step steps[] = {
	    {"* OK [CAPABILITY IMAP4rev1 ID AUTH=PLAIN SASL-IR] hi\r\n",
		"A3 ID (\"x-originating-ip\" \"127.0.0.1\" "
		"\"x-originating-port\" \"40000\" \"x-connected-ip\" "
		"\"127.0.0.1\" \"x-connected-port\" \"143\" "
		"\"x-session-id\" \"postern-0000000000001234\")\r\n",
		BACKEND_MORE},
	    {"* ID NIL\r\nA3 NO not now\r\n",
		"A2 AUTHENTICATE PLAIN " PLAIN_ALICE "\r\n", BACKEND_MORE},
	};

	pc.forward_client_address = FORWARD_ID;
	play_all_ways(&imap_proto, steps, NSTEPS(steps));
}

Test(backend_login, imap_bad_greetings_are_protocol_failures)
{
	static const char *const bad[] = {
	    "* BYE go away\r\n",
	    "* NO not today\r\n",
	    "A1 OK early\r\n",
	    "+ what\r\n",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct session *s =
		    login_session(&imap_proto, "a1", "alice", "secret");

		cr_assert_eq(feeds(s, bad[i]), BACKEND_BROKEN, "%s", bad[i]);
		fixture_expect_sent(s->backend, "");
		expect_protocol_failure(s);
		fixture_session_free(s);
		evbuffer_drain(in, evbuffer_get_length(in));
	}
}

Test(backend_login, imap_nul_in_a_line_is_a_protocol_failure)
{
	struct session *s = login_session(&imap_proto, "a1", "alice", "secret");

	cr_assert_eq(feed(s, "* OK a\0b\r\n", 10), BACKEND_BROKEN);
	expect_protocol_failure(s);
	fixture_session_free(s);
}

Test(backend_login, imap_line_limit)
{
	size_t max = imap_proto.backend_line_max;
	struct session *s = login_session(&imap_proto, "a1", "alice", "secret");
	char *line = long_line(max + 2, "* OK ", "\r\n");

	cr_assert_eq(feeds(s, line), BACKEND_MORE);
	fixture_expect_sent(s->backend, "A0 CAPABILITY\r\n");
	free(line);
	fixture_session_free(s);

	s = login_session(&imap_proto, "a1", "alice", "secret");
	line = long_line(max + 3, "* OK ", "\r\n");
	cr_assert_eq(feeds(s, line), BACKEND_BROKEN);
	fixture_expect_sent(s->backend, "");
	expect_protocol_failure(s);
	free(line);
	fixture_session_free(s);
}

/* --- IMAP4, a relayed mechanism ---------------------------------------- */

/* base64("user=alice\1auth=Bearer t\1\1"), an XOAUTH2 first message. */
#define XOAUTH2_ALICE "dXNlcj1hbGljZQFhdXRoPUJlYXJlciB0AQE="

static void
no_timeout(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

/*
 * An IMAP client that sent "a1 AUTHENTICATE XOAUTH2 <ir>", taken through
 * postern's own login path (user hook, policy, route) to the default
 * backend, whose dialogue the test then plays: the connection goes to a
 * loopback listener nobody accepts on, and is swapped for a sink.
 */
struct relayed {
	struct worker w;
	struct conf conf;
	struct backend b;
	struct backend_addr a;
	char port[8];
	int lfd;
	struct session *s;
};

static void
relayed_start(struct relayed *r)
{
	static const char cmd[] =
	    "a1 AUTHENTICATE XOAUTH2 " XOAUTH2_ALICE "\r\n";
	struct sockaddr_in *sin = (struct sockaddr_in *)&r->a.addr;
	socklen_t len = sizeof(*sin);
	struct session *s;

	memset(r, 0, sizeof(*r));
	pc.login_type = LOGIN_PLAINTEXT_LOGIN;
	pc.max_bad_commands = 10;
	pc.max_login_attempts = 3;
	pc.passthru_mechs = 1u << SASLMECH_XOAUTH2;
	pc.max_command_size = 10240;
	pc.banner = "ready";
	r->lfd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_neq(r->lfd, -1);
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(r->lfd, (struct sockaddr *)sin, len), 0);
	cr_assert_eq(listen(r->lfd, 1), 0);
	cr_assert_eq(getsockname(r->lfd, (struct sockaddr *)sin, &len), 0);
	r->a.addrlen = len;
	r->a.host = "127.0.0.1";
	snprintf(r->port, sizeof(r->port), "%u", ntohs(sin->sin_port));
	r->a.port = r->port;
	r->b.name = "default";
	r->b.pool[PROTO_IMAP].v = &r->a;
	r->b.pool[PROTO_IMAP].n = 1;
	r->b.tls = BACKEND_TLS_NONE;
	r->conf.routing.defaults[PROTO_IMAP] = &r->b;
	r->w.base = base;
	r->s = s = fixture_session(&imap_proto, base, &pc);
	s->id = 0x1234;
	s->worker = &r->w;
	s->conf = &r->conf;
	s->state = SESSION_PREAUTH;
	evtimer_assign(&s->timer, base, no_timeout, s);
	imap_proto.greet(s);
	fixture_expect_sent(s->client,
	    "* OK [CAPABILITY IMAP4rev1 ID SASL-IR AUTH=PLAIN AUTH=LOGIN "
	    "AUTH=XOAUTH2] ready\r\n");
	/* What the client sent, where its reader would have put it. */
	evbuffer_unfreeze(conn_input(s->client), 0);
	cr_assert_eq(evbuffer_add(conn_input(s->client), cmd, sizeof(cmd) - 1),
	    0);
	cr_assert_eq(imap_proto.client_input(s), 0);
	/* The user was read from the message, and nothing went to the
	 * client: postern is connecting to the backend. */
	cr_assert_eq(s->state, SESSION_BACKEND);
	cr_assert_str_eq(s->user, "alice");
	fixture_expect_sent(s->client, "");
	cr_assert_not_null(s->backend);
	conn_free(s->backend);
	s->backend = conn_bufferevent_new(fixture_sink(base));
	imap_proto.backend_start(s);
}

static void
relayed_end(struct relayed *r)
{
	evtimer_del(&r->s->timer);
	passthru_free(r->s);
	fixture_session_free(r->s);
	blockcache_clear(&r->w.cache); /* where the session's blocks went */
	close(r->lfd);
}

Test(backend_login, imap_relayed_initial_response_after_the_continuation)
{
	struct relayed r;
	struct session *s;

	relayed_start(&r);
	s = r.s;
	/* No SASL-IR: the mechanism alone, the message at the "+". */
	cr_assert_eq(feeds(s, "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN "
			      "AUTH=XOAUTH2] ready\r\n"),
	    BACKEND_MORE);
	fixture_expect_sent(s->backend, "A2 AUTHENTICATE XOAUTH2\r\n");
	cr_assert_eq(feeds(s, "+ \r\n"), BACKEND_MORE);
	fixture_expect_sent(s->backend, XOAUTH2_ALICE "\r\n");
	/* The backend's "+" was postern's to answer, not the client's. */
	fixture_expect_sent(s->client, "");
	cr_assert_eq(feeds(s, "A2 OK Logged in\r\n"), BACKEND_LOGGED_IN);
	relayed_end(&r);
}

Test(backend_login, imap_relayed_initial_response_with_sasl_ir)
{
	struct relayed r;
	struct session *s;

	relayed_start(&r);
	s = r.s;
	cr_assert_eq(feeds(s, "* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN "
			      "AUTH=XOAUTH2] ready\r\n"),
	    BACKEND_MORE);
	fixture_expect_sent(s->backend,
	    "A2 AUTHENTICATE XOAUTH2 " XOAUTH2_ALICE "\r\n");
	/* A challenge now is the backend's (an error), for the client. */
	cr_assert_eq(feeds(s, "+ eyJzdGF0dXMiOiI0MDEifQ==\r\n"), BACKEND_MORE);
	fixture_expect_sent(s->backend, "");
	fixture_expect_sent(s->client, "+ eyJzdGF0dXMiOiI0MDEifQ==\r\n");
	relayed_end(&r);
}
