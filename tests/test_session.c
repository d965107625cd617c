/*
 * Unit tests of the session module's own stores (the copy of a login's
 * credentials, the session ids) and of the login steps it takes for both
 * protocols with their words: the login type, SASL responses that cannot
 * be read, STARTTLS that cannot be started.
 */
#include "config.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "imap.h"
#include "log.h"
#include "pop3.h"
#include "sasl.h"
#include "session.h"
#include "session_fixture.h"

static char user[SASL_USER_MAX + 2], pass[SASL_PASS_MAX + 2];

static void
fill(void)
{
	memset(user, 'u', sizeof(user));
	memset(pass, 'p', sizeof(pass));
}

Test(session, login_values_at_their_longest_are_kept)
{
	struct session s;

	memset(&s, 0, sizeof(s));
	fill();
	cr_assert_eq(
	    session_login_set(&s, user, SASL_USER_MAX, pass, SASL_PASS_MAX), 0);
	cr_assert_not_null(s.login);
	cr_assert_eq(s.login->userlen, SASL_USER_MAX);
	cr_assert_eq(s.login->passlen, SASL_PASS_MAX);
	cr_assert_eq(strlen(s.login->user), SASL_USER_MAX);
	cr_assert_eq(strlen(s.login->pass), SASL_PASS_MAX);
	session_login_clear(&s);
	cr_assert_null(s.login);
}

Test(session, login_values_that_do_not_fit_are_refused)
{
	struct session s;

	memset(&s, 0, sizeof(s));
	fill();
	cr_assert_eq(session_login_set(&s, user, SASL_USER_MAX + 1, pass, 1),
	    -1);
	cr_assert_null(s.login);
	cr_assert_eq(session_login_set(&s, user, 1, pass, SASL_PASS_MAX + 1),
	    -1);
	cr_assert_null(s.login);
}

Test(session, a_new_login_replaces_the_last)
{
	struct session s;

	memset(&s, 0, sizeof(s));
	cr_assert_eq(session_login_set(&s, "alice", 5, "secret", 6), 0);
	cr_assert_eq(session_login_set(&s, "bob", 3, "pw", 2), 0);
	cr_assert_str_eq(s.login->user, "bob");
	cr_assert_str_eq(s.login->pass, "pw");
	cr_assert_eq(s.login->passlen, 2);
	session_login_clear(&s);
}

/* 2026-12-06T19:52:46Z, the restart of the field report. */
#define T0_MS 1796586766000ULL

Test(session, ids_of_a_later_start_are_above_every_earlier_id)
{
	/* A run that opened 2^21 sessions per millisecond for a second. */
	uint64_t used = (1ULL << 21) * 1000;
	uint64_t first = session_id_seed(T0_MS, 0xffffffffU);
	uint64_t next = session_id_seed(T0_MS + 1000, 0);

	cr_assert(first + used < next, "%016llX + %llu >= %016llX",
	    (unsigned long long)first, (unsigned long long)used,
	    (unsigned long long)next);
	/* A restart one millisecond later, with the worst random parts. */
	cr_assert(session_id_seed(T0_MS, 0xffffffffU) <
		  session_id_seed(T0_MS + 1, 0));
}

Test(session, ids_of_starts_in_one_millisecond_differ_by_randomness)
{
	cr_assert_neq(session_id_seed(T0_MS, 1), session_id_seed(T0_MS, 2));
	cr_assert_eq(session_id_seed(T0_MS, 1), session_id_seed(T0_MS, 1));
}

Test(session, ids_are_far_from_the_old_count_and_fit_until_2159)
{
	/* The old ids counted from 1: a new run is nowhere near them. */
	cr_assert_gt(session_id_seed(T0_MS, 0), 1ULL << 40);
	/* 2159-01-01: the clock still fits above the count bits. */
	cr_assert_gt(session_id_seed(5964278400000ULL, 0),
	    session_id_seed(5964278399999ULL, 0));
}

/* --- the login steps, with each protocol's words ---------------------- */

static struct event_base *base;
static struct proto_conf pc;
static struct conf conf; /* no TLS context: STARTTLS is not offered */

static void
login_setup(void)
{
	cr_assert_not_null(base = event_base_new());
	memset(&pc, 0, sizeof(pc));
	memset(&conf, 0, sizeof(conf));
	pc.login_type = LOGIN_SECURE_LOGIN;
	pc.login_type_mode = LOGIN_MODE_ENFORCE;
	pc.max_bad_commands = 10;
}

static void
login_teardown(void)
{
	event_base_free(base);
}

TestSuite(session_login, .init = login_setup, .fini = login_teardown);

/* A client of protocol p, before login. */
static struct session *
client(const struct proto *p)
{
	struct session *s = fixture_session(p, base, &pc);

	s->conf = &conf;
	s->state = SESSION_PREAUTH;
	return s;
}

/* What postern answered the client since the last look. */
static void
expect_answer(struct session *s, const char *want)
{
	fixture_expect_sent(s->client, want);
}

Test(session_login, login_type_refuses_cleartext_in_each_protocols_words)
{
	struct session *p = client(&pop3_proto), *i = client(&imap_proto);

	cr_assert_not(session_cleartext_ok(p, NULL, true));
	expect_answer(p, "-ERR [AUTH] Plaintext authentication disallowed on "
			 "non-secure (SSL/TLS) connections.\r\n");
	cr_assert_not(session_cleartext_ok(i, "a7", false));
	expect_answer(i, "a7 NO [PRIVACYREQUIRED] Plaintext authentication "
			 "disallowed on non-secure (SSL/TLS) connections.\r\n");
	fixture_session_free(p);
	fixture_session_free(i);
}

Test(session_login, login_type_lets_tls_and_audit_through_silently)
{
	struct session *s = client(&imap_proto);

	s->tls = SESSION_TLS_STARTTLS;
	cr_assert(session_cleartext_ok(s, "a1", true));
	s->tls = SESSION_TLS_NONE;
	pc.login_type_mode = LOGIN_MODE_AUDIT;
	cr_assert(session_cleartext_ok(s, "a1", true));
	pc.login_type_mode = LOGIN_MODE_ENFORCE;
	pc.login_type = LOGIN_PLAINTEXT_LOGIN;
	cr_assert(session_cleartext_ok(s, "a1", true));
	expect_answer(s, "");
	cr_assert_eq(s->bad_commands, 0);
	fixture_session_free(s);
}

Test(session_login, unreadable_sasl_responses_are_bad_commands)
{
	struct session *p = client(&pop3_proto), *i = client(&imap_proto);

	cr_assert_eq(session_login_plain(p, NULL, "!!!!", 4), 0);
	expect_answer(p, "-ERR [AUTH] Authentication failed.\r\n");
	cr_assert_eq(session_login_pass(p, NULL, "%", 1, "alice", 5), 0);
	expect_answer(p, "-ERR [AUTH] Authentication failed.\r\n");
	cr_assert_eq(p->bad_commands, 2);
	cr_assert_null(p->login);
	cr_assert_eq(session_login_plain(i, "x1", "!!!!", 4), 0);
	expect_answer(i, "x1 NO [AUTHENTICATIONFAILED] Authentication "
			 "failed.\r\n");
	cr_assert_eq(i->bad_commands, 1);
	fixture_session_free(p);
	fixture_session_free(i);
}

Test(session_login, sasl_login_user_name_is_kept_and_the_password_asked)
{
	struct session *s = client(&pop3_proto);
	char name[SASL_USER_MAX + 1];
	size_t userlen = 0;

	/* base64("alice") */
	cr_assert_eq(session_login_user(s, NULL, "YWxpY2U=", 8, name,
			 sizeof(name), &userlen),
	    1);
	cr_assert_eq(userlen, 5);
	cr_assert_str_eq(name, "alice");
	cr_assert_str_eq(s->user, "alice");
	expect_answer(s, "+ UGFzc3dvcmQ6\r\n");
	/* A store too small for the name: refused, never overrun. */
	cr_assert_eq(
	    session_login_user(s, NULL, "YWxpY2U=", 8, name, 5, &userlen), 0);
	expect_answer(s, "-ERR [AUTH] Authentication failed.\r\n");
	cr_assert_eq(s->bad_commands, 1);
	fixture_session_free(s);
}

Test(session_login, starttls_refused_when_active_or_not_configured)
{
	struct session *p = client(&pop3_proto), *i = client(&imap_proto);

	cr_assert_eq(session_starttls(p, NULL), 0);
	expect_answer(p, "-ERR Unknown command.\r\n");
	p->tls = SESSION_TLS_IMPLICIT;
	cr_assert_eq(session_starttls(p, NULL), 0);
	expect_answer(p, "-ERR TLS is already active.\r\n");
	cr_assert_eq(p->bad_commands, 2);
	cr_assert_eq(p->state, SESSION_PREAUTH);
	cr_assert_eq(session_starttls(i, "s1"), 0);
	expect_answer(i, "s1 BAD Unknown command.\r\n");
	i->tls = SESSION_TLS_STARTTLS;
	cr_assert_eq(session_starttls(i, "s2"), 0);
	expect_answer(i, "s2 BAD TLS is already active.\r\n");
	fixture_session_free(p);
	fixture_session_free(i);
}

/*
 * The daemon log says what it said when each protocol wrote these steps
 * itself, in each protocol's words.
 */
Test(session_log, login_steps_write_the_same_daemon_log_lines,
    .init = cr_redirect_stderr)
{
	struct session *p, *i;
	char want[1024];

	login_setup();
	log_init(LOGLEVEL_INFO, false);
	p = client(&pop3_proto);
	i = client(&imap_proto);
	cr_assert_not(session_cleartext_ok(p, NULL, false));
	cr_assert_not(session_cleartext_ok(i, "a1", false));
	cr_assert_not(session_cleartext_ok(i, "a2", true));
	pc.login_type_mode = LOGIN_MODE_AUDIT;
	cr_assert(session_cleartext_ok(p, NULL, true));
	cr_assert_eq(session_login_plain(p, NULL, "!!!!", 4), 0);
	cr_assert_eq(session_login_plain(i, "a3", "!!!!", 4), 0);
	fflush(stderr);
	snprintf(want, sizeof(want),
	    "<6>POP3 0000000000000000 127.0.0.1:40000: refused USER without "
	    "TLS\n"
	    "<5>IMAP4 0000000000000000 127.0.0.1:40000: refused a cleartext "
	    "login without TLS; the client sent its password in the clear\n"
	    "<5>POP3 0000000000000000 127.0.0.1:40000: audit: cleartext login "
	    "without TLS would be refused by login_type\n"
	    "<6>POP3 0000000000000000 127.0.0.1:40000: AUTH PLAIN refused: "
	    "%s\n"
	    "<6>IMAP4 0000000000000000 127.0.0.1:40000: AUTHENTICATE PLAIN "
	    "refused: %s\n",
	    sasl_strerror(SASL_ERR_BASE64), sasl_strerror(SASL_ERR_BASE64));
	cr_assert_stderr_eq_str(want);
	fixture_session_free(p);
	fixture_session_free(i);
	login_teardown();
}

Test(session_summary, plain_value_is_kept_as_is)
{
	char buf[16];

	cr_assert_eq(session_summary_value(buf, sizeof(buf), "alice"), 5);
	cr_assert_str_eq(buf, "alice");
}

Test(session_summary, value_with_separators_is_quoted)
{
	char buf[32];

	cr_assert_eq(session_summary_value(buf, sizeof(buf), "a b"), 5);
	cr_assert_str_eq(buf, "\"a b\"");
	session_summary_value(buf, sizeof(buf), "x=1;\"y\"");
	cr_assert_str_eq(buf, "\"x=1;?y?\"");
	cr_assert_eq(session_summary_value(buf, sizeof(buf), ""), 2);
	cr_assert_str_eq(buf, "\"\"");
}

Test(session_summary, value_cut_short_keeps_its_closing_quote)
{
	char buf[6], tiny[2] = "z";

	/* Six bytes: both quotes, three characters and the NUL. */
	cr_assert_eq(session_summary_value(buf, sizeof(buf), "a bcdef"), 5);
	cr_assert_str_eq(buf, "\"a b\"");
	cr_assert_eq(session_summary_value(buf, 3, "xyz abc"), 2);
	cr_assert_str_eq(buf, "\"\"");
	cr_assert_eq(session_summary_value(tiny, sizeof(tiny), "a b"), 0);
	cr_assert_str_eq(tiny, "");
	cr_assert_eq(session_summary_value(buf, 3, "xyz"), 2);
	cr_assert_str_eq(buf, "xy");
	cr_assert_eq(session_summary_value(buf, 0, "xyz"), 0);
}

/* --- netaddr ------------------------------------------------------------ */

/*
 * A session holds two addresses: room for IPv6 at most, which is all
 * postern accepts, connects from or takes from a PROXY header.
 */
Test(netaddr, holds_an_ipv6_address_and_its_text_at_most)
{
	cr_assert_leq(sizeof(struct netaddr),
	    sizeof(struct sockaddr_in6) + sizeof(socklen_t) + NETADDR_STRLEN);
}

Test(netaddr, keeps_ipv4_and_ipv6_and_unmaps_v4_in_v6)
{
	struct sockaddr_in6 s6;
	struct netaddr na;

	memset(&s6, 0, sizeof(s6));
	s6.sin6_family = AF_INET6;
	s6.sin6_port = htons(993);
	cr_assert_eq(inet_pton(AF_INET6, "2001:db8::1", &s6.sin6_addr), 1);
	netaddr_set(&na, (struct sockaddr *)&s6, sizeof(s6));
	cr_assert_eq(na.len, sizeof(struct sockaddr_in6));
	cr_assert_str_eq(na.str, "[2001:db8::1]:993");
	cr_assert_eq(memcmp(&na.sa, &s6, sizeof(s6)), 0);

	cr_assert_eq(inet_pton(AF_INET6, "::ffff:192.0.2.7", &s6.sin6_addr), 1);
	netaddr_set(&na, (struct sockaddr *)&s6, sizeof(s6));
	cr_assert_eq(na.len, sizeof(struct sockaddr_in));
	cr_assert_eq(((struct sockaddr *)&na.sa)->sa_family, AF_INET);
	cr_assert_str_eq(na.str, "192.0.2.7:993");

	fixture_loopback(&na, 143);
	cr_assert_eq(na.len, sizeof(struct sockaddr_in));
	cr_assert_str_eq(na.str, "127.0.0.1:143");
}

/*
 * Anything else (a family postern never uses, or an address shorter than
 * its family's) is stored as nothing: no byte beyond the room is written
 * and none beyond the caller's length is read.
 */
Test(netaddr, other_families_and_short_addresses_are_unknown)
{
	struct sockaddr_un un;
	struct sockaddr_in6 s6;
	struct netaddr na;

	memset(&un, 'x', sizeof(un));
	un.sun_family = AF_UNIX;
	netaddr_set(&na, (struct sockaddr *)&un, sizeof(un));
	cr_assert_eq(na.len, 0);
	cr_assert_eq(((struct sockaddr *)&na.sa)->sa_family, AF_UNSPEC);
	cr_assert_str_eq(na.str, "unknown");

	memset(&s6, 0, sizeof(s6));
	s6.sin6_family = AF_INET6;
	netaddr_set(&na, (struct sockaddr *)&s6, sizeof(s6) - 1);
	cr_assert_eq(na.len, 0);
	cr_assert_str_eq(na.str, "unknown");
}

/* A listener bound to the wildcard address cannot name a connection's
 * local address; any other can (session_accept() asks the kernel only for
 * the first). */
Test(netaddr, only_the_wildcard_addresses_are_any)
{
	/* A mapped address is stored unmapped: ::ffff:0.0.0.0 is 0.0.0.0. */
	static const char *const any[] = {"0.0.0.0", "::", "::ffff:0.0.0.0"};
	static const char *const one[] = {"127.0.0.1", "192.0.2.1", "::1",
	    "2001:db8::1"};
	struct sockaddr_storage ss;
	struct netaddr na;

	for (size_t i = 0; i < 3 + 4; i++) {
		const char *a = i < 3 ? any[i] : one[i - 3];
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		socklen_t len;

		memset(&ss, 0, sizeof(ss));
		if (inet_pton(AF_INET, a, &s4->sin_addr) == 1) {
			s4->sin_family = AF_INET;
			s4->sin_port = htons(143);
			len = sizeof(*s4);
		} else {
			cr_assert_eq(inet_pton(AF_INET6, a, &s6->sin6_addr), 1);
			s6->sin6_family = AF_INET6;
			s6->sin6_port = htons(143);
			len = sizeof(*s6);
		}
		netaddr_set(&na, (struct sockaddr *)&ss, len);
		cr_expect_eq(netaddr_is_any(&na), i < 3, "%s", a);
	}
	memset(&na, 0, sizeof(na));
	cr_expect_not(netaddr_is_any(&na), "an unknown address");
}

/* IPv4 text without inet_ntop(): the same bytes, at every digit count. */
Test(netaddr, ipv4_text_as_inet_ntop_writes_it)
{
	static const unsigned char octets[] = {0, 1, 9, 10, 99, 100, 199, 255};
	struct sockaddr_in s4;
	char want[INET_ADDRSTRLEN], host[INET_ADDRSTRLEN], full[64];
	struct netaddr na;
	size_t n = sizeof(octets);

	memset(&s4, 0, sizeof(s4));
	s4.sin_family = AF_INET;
	s4.sin_port = htons(65535);
	for (size_t i = 0; i < n * n * n * n; i++) {
		unsigned char *b = (unsigned char *)&s4.sin_addr.s_addr;

		b[0] = octets[i % n];
		b[1] = octets[i / n % n];
		b[2] = octets[i / (n * n) % n];
		b[3] = octets[i / (n * n * n)];
		inet_ntop(AF_INET, &s4.sin_addr, want, sizeof(want));
		netaddr_host((struct sockaddr *)&s4, host, sizeof(host));
		cr_assert_str_eq(host, want);
		netaddr_set(&na, (struct sockaddr *)&s4, sizeof(s4));
		snprintf(full, sizeof(full), "%s:65535", want);
		cr_assert_str_eq(na.str, full);
	}
}
