/*
 * Unit tests of the POP3 parser: command lines, server answers, CAPA.
 */
#include "config.h"

#include <string.h>

#include <criterion/criterion.h>

#include "pop3.h"

/*
 * Feeds input the way bytes arrive from a socket, one more byte each time,
 * and checks that the parser asks for more until the line is whole, then
 * gives the same answer as for the whole input at once.
 */
static enum pop3_parse_result
feed_every_split(const char *input, size_t max, struct pop3_command *out)
{
	size_t len = strlen(input);
	enum pop3_parse_result whole, r = POP3_NEED_MORE;
	struct pop3_command cmd;
	size_t n;

	whole = pop3_parse(input, len, max, out);
	for (n = 0; n <= len; n++) {
		r = pop3_parse(input, n, max, &cmd);
		if (r != POP3_NEED_MORE)
			break;
	}
	cr_assert_eq(r, whole, "split at %zu gives %d, whole gives %d", n, r,
	    whole);
	if (r == POP3_COMMAND) {
		cr_assert_eq(n, out->linelen, "complete at %zu, line is %zu", n,
		    out->linelen);
		cr_assert_eq(cmd.verb, out->verb);
		cr_assert_eq(cmd.arglen, out->arglen);
	}
	return whole;
}

Test(pop3, user_command_with_argument)
{
	struct pop3_command cmd;

	cr_assert_eq(feed_every_split("USER alice\r\n", 512, &cmd),
	    POP3_COMMAND);
	cr_assert_eq(cmd.verb, POP3_CMD_USER);
	cr_assert_str_eq(cmd.name, "user");
	cr_assert_eq(cmd.arglen, 5);
	cr_assert(memcmp(cmd.arg, "alice", 5) == 0);
	cr_assert_eq(cmd.linelen, 12);
}

Test(pop3, verbs_are_case_insensitive)
{
	struct pop3_command cmd;

	cr_assert_eq(feed_every_split("cApA\r\n", 512, &cmd), POP3_COMMAND);
	cr_assert_eq(cmd.verb, POP3_CMD_CAPA);
	cr_assert_eq(cmd.arglen, 0);
	cr_assert_eq(feed_every_split("stls\r\n", 512, &cmd), POP3_COMMAND);
	cr_assert_eq(cmd.verb, POP3_CMD_STLS);
}

Test(pop3, bare_lf_ends_a_line)
{
	struct pop3_command cmd;

	cr_assert_eq(feed_every_split("QUIT\n", 512, &cmd), POP3_COMMAND);
	cr_assert_eq(cmd.verb, POP3_CMD_QUIT);
	cr_assert_eq(cmd.linelen, 5);
}

Test(pop3, password_keeps_spaces)
{
	struct pop3_command cmd;

	cr_assert_eq(feed_every_split("PASS  two  spaces \r\n", 512, &cmd),
	    POP3_COMMAND);
	cr_assert_eq(cmd.verb, POP3_CMD_PASS);
	cr_assert_eq(cmd.arglen, 13);
	cr_assert(memcmp(cmd.arg, " two  spaces ", 13) == 0);
}

Test(pop3, auth_with_initial_response)
{
	struct pop3_command cmd;

	cr_assert_eq(
	    feed_every_split("AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n", 512, &cmd),
	    POP3_COMMAND);
	cr_assert_eq(cmd.verb, POP3_CMD_AUTH);
	cr_assert_eq(cmd.arglen, strlen("PLAIN AGFsaWNlAHNlY3JldA=="));
}

Test(pop3, unknown_and_long_verbs_are_other)
{
	struct pop3_command cmd;

	cr_assert_eq(feed_every_split("FOOBARBAZ x\r\n", 512, &cmd),
	    POP3_COMMAND);
	cr_assert_eq(cmd.verb, POP3_CMD_OTHER);
	cr_assert_str_eq(cmd.name, "");
	cr_assert_eq(feed_every_split("HELO\r\n", 512, &cmd), POP3_COMMAND);
	cr_assert_eq(cmd.verb, POP3_CMD_OTHER);
	cr_assert_str_eq(cmd.name, "helo");
	cr_assert_eq(feed_every_split("XCLIENT ADDR=1.2.3.4\r\n", 512, &cmd),
	    POP3_COMMAND);
	cr_assert_eq(cmd.verb, POP3_CMD_XCLIENT);
}

Test(pop3, empty_line)
{
	struct pop3_command cmd;

	cr_assert_eq(feed_every_split("\r\n", 512, &cmd), POP3_COMMAND);
	cr_assert(cmd.empty);
	cr_assert_eq(cmd.linelen, 2);
}

Test(pop3, line_at_the_limit_and_over_it)
{
	char line[64];
	struct pop3_command cmd;

	/* 40 bytes including CRLF: exactly the limit. */
	memset(line, 'a', sizeof(line));
	memcpy(line, "USER ", 5);
	memcpy(line + 38, "\r\n", 3);
	cr_assert_eq(feed_every_split(line, 40, &cmd), POP3_COMMAND);
	cr_assert_eq(cmd.linelen, 40);
	/* One more byte before the line end: too long. */
	memset(line, 'a', sizeof(line));
	memcpy(line, "USER ", 5);
	memcpy(line + 39, "\r\n", 3);
	cr_assert_eq(pop3_parse(line, strlen(line), 40, &cmd), POP3_TOO_LONG);
	/* Too long is known before the line end arrives. */
	cr_assert_eq(pop3_parse(line, 40, 40, &cmd), POP3_TOO_LONG);
	cr_assert_eq(pop3_parse(line, 39, 40, &cmd), POP3_NEED_MORE);
}

Test(pop3, pipelined_lines_are_seen_one_at_a_time)
{
	const char *in = "STLS\r\nUSER x\r\n";
	struct pop3_command cmd;

	cr_assert_eq(pop3_parse(in, strlen(in), 512, &cmd), POP3_COMMAND);
	cr_assert_eq(cmd.verb, POP3_CMD_STLS);
	cr_assert_eq(cmd.linelen, 6);
	cr_assert_eq(pop3_parse(in + 6, strlen(in) - 6, 512, &cmd),
	    POP3_COMMAND);
	cr_assert_eq(cmd.verb, POP3_CMD_USER);
}

Test(pop3, after_a_refused_auth_responses_are_no_commands)
{
	static const char *const responses[] = {
	    "AGFsaWNlAHNlY3JldA==\r\n", /* PLAIN: alice, secret */
	    "AGFsaWNlAHNlY3JldA\r\n",   /* unpadded, letters only */
	    "AHUAcHc\r\n",              /* short, letters only */
	    "YWxpY2U=\n",               /* LOGIN: alice */
	    "user:secret\r\n",
	    "*\r\n",
	    "\r\n",
	    "=\r\n",
	};
	static const char *const commands[] = {
	    "CAPA\r\n",
	    "quit\r\n",
	    "STLS\r\n",
	    "AUTH\r\n",
	    "AUTH PLAIN\r\n",
	    "USER alice\r\n",
	    "XYZ abc\r\n",
	    "NOOP\n",
	};
	struct pop3_command cmd;

	for (size_t i = 0; i < sizeof(responses) / sizeof(responses[0]); i++) {
		cr_assert_eq(feed_every_split(responses[i], 512, &cmd),
		    POP3_COMMAND);
		cr_assert_not(pop3_line_is_command(&cmd, responses[i]), "%s",
		    responses[i]);
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		cr_assert_eq(feed_every_split(commands[i], 512, &cmd),
		    POP3_COMMAND);
		cr_assert(pop3_line_is_command(&cmd, commands[i]), "%s",
		    commands[i]);
	}
}

Test(pop3, status_lines)
{
	cr_assert_eq(pop3_status("+OK", 3), POP3_STATUS_OK);
	cr_assert_eq(pop3_status("+OK Logged in.", 14), POP3_STATUS_OK);
	cr_assert_eq(pop3_status("-ERR", 4), POP3_STATUS_ERR);
	cr_assert_eq(pop3_status("-ERR [AUTH] no", 14), POP3_STATUS_ERR);
	cr_assert_eq(pop3_status("+ ", 2), POP3_STATUS_CONT);
	cr_assert_eq(pop3_status("+", 1), POP3_STATUS_CONT);
	cr_assert_eq(pop3_status("+OKAY", 5), POP3_STATUS_BAD);
	cr_assert_eq(pop3_status("-ERROR", 6), POP3_STATUS_BAD);
	cr_assert_eq(pop3_status("* OK", 4), POP3_STATUS_BAD);
	cr_assert_eq(pop3_status("", 0), POP3_STATUS_BAD);
}

Test(pop3, system_error_codes_are_recognised)
{
	const char *temp = "-ERR [SYS/TEMP] try later";
	const char *inuse = "-ERR [in-use] locked";
	const char *auth = "-ERR [AUTH] Authentication failed.";
	const char *plain = "-ERR Authentication failed.";

	cr_assert(pop3_err_is_system(temp, strlen(temp)));
	cr_assert(pop3_err_is_system(inuse, strlen(inuse)));
	cr_assert_not(pop3_err_is_system(auth, strlen(auth)));
	cr_assert_not(pop3_err_is_system(plain, strlen(plain)));
}

Test(pop3, capa_lines)
{
	struct pop3_capa capa;
	const char *lines[] = {"TOP", "UIDL", "RESP-CODES", "STLS", "USER",
	    "SASL LOGIN PLAIN", "XCLIENT"};

	memset(&capa, 0, sizeof(capa));
	pop3_capa_line(&capa, "SASL LOGIN", 10);
	cr_assert_not(capa.sasl_plain);
	pop3_capa_line(&capa, "SASL PLAINX", 11);
	cr_assert_not(capa.sasl_plain);
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		pop3_capa_line(&capa, lines[i], strlen(lines[i]));
	cr_assert(capa.stls);
	cr_assert(capa.user);
	cr_assert(capa.sasl_plain);
	cr_assert(capa.xclient);
}

Test(pop3, greeting_announces_xclient)
{
	const char *dovecot = "+OK [XCLIENT] Dovecot (Debian) ready.";
	const char *plain = "+OK Dovecot ready.";
	const char *err = "-ERR [XCLIENT] no";
	const char *late = "+OK ready [xclient]";

	cr_assert(pop3_greeting_xclient(dovecot, strlen(dovecot)));
	cr_assert_not(pop3_greeting_xclient(plain, strlen(plain)));
	cr_assert_not(pop3_greeting_xclient(err, strlen(err)));
	cr_assert(pop3_greeting_xclient(late, strlen(late)));
	/* The span ends where it says. */
	cr_assert_not(pop3_greeting_xclient(dovecot, 10));
	cr_assert(pop3_greeting_xclient(dovecot, 13));
	cr_assert_not(pop3_greeting_xclient(dovecot, 12));
	/* A '[' that starts no code, and the code after it. */
	{
		const char *two = "+OK [x [[XCLIENT]";
		const char *end = "+OK ready [";

		cr_assert(pop3_greeting_xclient(two, strlen(two)));
		cr_assert_not(pop3_greeting_xclient(end, strlen(end)));
	}
}

/* --- after login: the framers, fed at every split ------------------------ */

/*
 * Feeds in[0..len) to a fresh answer framer in two parts, split at split,
 * and returns how many bytes ended the answer (0: not ended).
 */
static size_t
answer_split(struct pop3_answer *a, bool multiline, const char *in, size_t len,
    size_t split)
{
	size_t off = 0, c, end = 0;
	size_t cuts[2] = {split, len};

	pop3_answer_start(a, multiline);
	for (int k = 0; k < 2 && end == 0; k++) {
		while (off < cuts[k]) {
			enum pop3_frame r =
			    pop3_answer_feed(a, in + off, cuts[k] - off, &c);

			cr_assert_leq(c, cuts[k] - off);
			off += c;
			if (r == POP3_FRAME_ANSWER) {
				end = off;
				break;
			}
			cr_assert_eq(off, cuts[k], "MORE left bytes unused");
		}
	}
	return end;
}

Test(pop3, multiline_answer_ends_at_the_dot_line_at_every_split)
{
	/* Dot-stuffed lines, a line that is only "..", a dot inside a line
	 * and a ".x" line: none of them ends the answer. */
	static const char ans[] = "+OK 120 octets\r\n"
				  "From: a@example.org\r\n"
				  "\r\n"
				  "..\r\n"
				  "...leading dots\r\n"
				  "a line with a . in it\r\n"
				  ".\r\r\n"
				  "end\r\n"
				  ".\r\n";
	static const char next[] = "+OK next\r\n";
	char in[sizeof(ans) + sizeof(next)];
	size_t alen = sizeof(ans) - 1, len;
	struct pop3_answer a;

	memcpy(in, ans, alen);
	memcpy(in + alen, next, sizeof(next));
	len = alen + sizeof(next) - 1;
	for (size_t split = 0; split <= len; split++) {
		cr_assert_eq(answer_split(&a, true, in, len, split), alen,
		    "split at %zu", split);
		cr_expect(a.ok);
		cr_expect_str_eq(a.status, "+OK 120 octets");
	}
}

Test(pop3, terminating_dot_split_across_reads)
{
	static const char in[] = "+OK\r\nx\r\n.\r\n";
	struct pop3_answer a;
	size_t c;

	/* "\r\n" | "." | "\r" | "\n", one read each. */
	pop3_answer_start(&a, true);
	cr_assert_eq(pop3_answer_feed(&a, in, 8, &c), POP3_FRAME_MORE);
	cr_assert_eq(c, 8);
	cr_assert_eq(pop3_answer_feed(&a, in + 8, 1, &c), POP3_FRAME_MORE);
	cr_assert_eq(pop3_answer_feed(&a, in + 9, 1, &c), POP3_FRAME_MORE);
	cr_assert_eq(pop3_answer_feed(&a, in + 10, 1, &c), POP3_FRAME_ANSWER);
	cr_assert_eq(c, 1);
}

Test(pop3, error_to_a_multiline_command_is_one_line)
{
	static const char in[] = "-ERR no such message\r\n+OK\r\n";

	for (size_t split = 0; split < sizeof(in); split++) {
		struct pop3_answer a;

		cr_assert_eq(answer_split(&a, true, in, sizeof(in) - 1, split),
		    22, "split at %zu", split);
		cr_expect_not(a.ok);
		cr_expect_str_eq(a.status, "-ERR no such message");
	}
}

Test(pop3, single_line_answer_and_bare_lf)
{
	static const char in[] = "+OK 2 320\n.\r\n";
	struct pop3_answer a;

	for (size_t split = 0; split < sizeof(in); split++) {
		cr_assert_eq(answer_split(&a, false, in, sizeof(in) - 1, split),
		    10);
		cr_expect(a.ok);
		cr_expect_str_eq(a.status, "+OK 2 320");
	}
	/* Multi-line with bare LF line ends, as some servers send. */
	cr_assert_eq(answer_split(&a, true, "+OK\n1 2\n.\n", 10, 4), 10);
}

Test(pop3, long_status_line_is_cut_but_framed)
{
	char in[600];
	struct pop3_answer a;
	size_t c;

	memset(in, 'x', sizeof(in));
	memcpy(in, "-ERR ", 5);
	memcpy(in + sizeof(in) - 2, "\r\n", 2);
	pop3_answer_start(&a, false);
	cr_assert_eq(pop3_answer_feed(&a, in, sizeof(in), &c),
	    POP3_FRAME_ANSWER);
	cr_assert_eq(c, sizeof(in));
	cr_expect_eq(a.statuslen, POP3_STATUS_KEPT);
	cr_expect_not(a.ok);
}

Test(pop3, multiline_commands)
{
	static const struct {
		const char *line;
		bool multi;
	} cases[] = {{"RETR 1\r\n", true}, {"TOP 1 10\r\n", true},
	    {"CAPA\r\n", true}, {"LIST\r\n", true}, {"LIST 3\r\n", false},
	    {"UIDL\r\n", true}, {"UIDL 3\r\n", false}, {"STAT\r\n", false},
	    {"DELE 1\r\n", false}, {"QUIT\r\n", false}, {"NOOP\r\n", false},
	    {"XTND XLST\r\n", false}};
	struct pop3_command cmd;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cr_assert_eq(
		    pop3_parse(cases[i].line, strlen(cases[i].line), 512, &cmd),
		    POP3_COMMAND);
		cr_expect_eq(pop3_multiline(&cmd), cases[i].multi, "%s",
		    cases[i].line);
	}
}

Test(pop3, client_lines_at_every_split)
{
	static const char in[] = "RETR 1\r\nDELE 1\r\nQUIT\r\n";
	static const char *const want[] = {"RETR 1\r\n", "DELE 1\r\n",
	    "QUIT\r\n"};
	size_t len = sizeof(in) - 1;

	for (size_t split = 0; split <= len; split++) {
		struct pop3_lines l;
		size_t off = 0, c, n = 0, cuts[2] = {split, len};

		pop3_lines_init(&l);
		for (int k = 0; k < 2; k++)
			while (off < cuts[k]) {
				if (pop3_lines_feed(&l, in + off, cuts[k] - off,
					&c) == POP3_FRAME_LINE) {
					cr_assert_lt(n, 3);
					cr_expect_eq(l.len, strlen(want[n]));
					cr_expect_eq(l.kept, l.len);
					cr_expect_eq(
					    memcmp(l.buf, want[n], l.kept), 0);
					n++;
				}
				off += c;
			}
		cr_expect_eq(n, 3, "split at %zu", split);
	}
}

Test(pop3, long_client_line_is_cut_and_still_parses)
{
	char in[1000];
	struct pop3_lines l;
	struct pop3_command cmd;
	size_t c;

	memset(in, 'a', sizeof(in));
	memcpy(in, "TOP ", 4);
	memcpy(in + sizeof(in) - 2, "\r\n", 2);
	pop3_lines_init(&l);
	cr_assert_eq(pop3_lines_feed(&l, in, 300, &c), POP3_FRAME_MORE);
	cr_assert_eq(pop3_lines_feed(&l, in + 300, sizeof(in) - 300, &c),
	    POP3_FRAME_LINE);
	cr_expect_eq(l.len, sizeof(in));
	cr_expect_eq(l.kept, POP3_LINE_KEPT + 1);
	cr_assert_eq(pop3_parse(l.buf, l.kept, sizeof(l.buf), &cmd),
	    POP3_COMMAND);
	cr_expect_eq(cmd.verb, POP3_CMD_TOP);
}

/* Whether the watch sees in as ending with QUIT, split at every pair of
 * points the same way. */
static bool
quit_seen(const char *in)
{
	size_t len = strlen(in);
	bool first = false;

	for (size_t a = 0; a <= len; a++) {
		for (size_t b = a; b <= len; b++) {
			struct pop3_quitwatch w;

			memset(&w, 0, sizeof(w));
			pop3_quitwatch_feed(&w, in, a);
			pop3_quitwatch_feed(&w, in + a, b - a);
			pop3_quitwatch_feed(&w, in + b, len - b);
			if (a == 0 && b == 0)
				first = w.quit;
			cr_assert_eq(w.quit, first, "split %zu/%zu of '%s'", a,
			    b, in);
		}
	}
	return first;
}

Test(pop3, quitwatch_knows_a_final_quit)
{
	cr_assert(quit_seen("QUIT\r\n"));
	cr_assert(quit_seen("STAT\r\nquit\r\n"));
	cr_assert(quit_seen("RETR 1\r\nQuit\n"));
	cr_assert(!quit_seen("QUIT"));
	cr_assert(!quit_seen("QUIT\r"));
	cr_assert(!quit_seen("QUITX\r\n"));
	cr_assert(!quit_seen("QUIT now\r\n"));
	cr_assert(!quit_seen("XQUIT\r\n"));
	cr_assert(!quit_seen("QUIT\r\nNOOP\r\n"));
	/* The last complete line counts: the backend closes after it. */
	cr_assert(quit_seen("QUIT\r\nNO"));
	cr_assert(!quit_seen("QUI\r\n"));
}
