/*
 * Tests of the routemap module: the five user forms, the lookup order,
 * case, every error with its line, and lookups among 10,000 entries.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "routemap.h"

/* Backends "old" = 0, "new" = 1, "third" = 2; "refused" is refused. */
static int
resolve(void *arg, const char *name, int line)
{
	static const char *const names[] = {"old", "new", "third"};
	size_t i;

	(void)arg;
	(void)line;
	for (i = 0; i < 3; i++)
		if (strcmp(name, names[i]) == 0)
			return (int)i;
	if (strcmp(name, "refused") == 0)
		return -2;
	return -1;
}

/* The errors, one "line: message\n" each. */
static char errs[8192];

static void
collect(void *arg, int line, const char *msg)
{
	size_t n = strlen(errs);

	(void)arg;
	snprintf(errs + n, sizeof(errs) - n, "%d: %s\n", line, msg);
}

static struct routemap *
parse_ok(const char *text)
{
	struct routemap *m;

	errs[0] = '\0';
	m = routemap_parse(text, strlen(text), resolve, collect, NULL);
	cr_assert_not_null(m, "unexpected errors:\n%s", errs);
	cr_assert_str_empty(errs);
	return m;
}

static void
expect_errors_len(const char *text, size_t len, const char *want)
{
	struct routemap *m;

	errs[0] = '\0';
	m = routemap_parse(text, len, resolve, collect, NULL);
	cr_expect_null(m, "accepted:\n%s", text);
	cr_expect_str_eq(errs, want, "for:\n%s\ngot:\n%s\nwanted:\n%s", text,
	    errs, want);
	routemap_free(m);
}

static void
expect_errors(const char *text, const char *want)
{
	expect_errors_len(text, strlen(text), want);
}

/* Asserts user's route: backend number (-1: none), kind and line. */
static void
expect_route(const struct routemap *m, const char *user, int value,
    enum routemap_match kind, int line)
{
	enum routemap_match got_kind = (enum routemap_match) - 1;
	int got_line = -1, v;

	v = routemap_lookup(m, user, &got_kind, &got_line);
	cr_expect_eq(v, value, "%s: backend %d, wanted %d", user, v, value);
	cr_expect_eq(got_kind, kind, "%s: kind %s, wanted %s", user,
	    routemap_match_name(got_kind), routemap_match_name(kind));
	cr_expect_eq(got_line, line, "%s: line %d, wanted %d", user, got_line,
	    line);
}

Test(routemap, the_five_forms)
{
	struct routemap *m = parse_ok("# moved first\n"
				      "alice@example.org  new\n"
				      "EXAMPLE\\bob       new\n"
				      "carol              new\n"
				      "@example.net       third\n"
				      "*                  old\n");

	cr_expect_eq(routemap_count(m), 5);
	expect_route(m, "alice@example.org", 1, ROUTEMAP_USER, 2);
	expect_route(m, "EXAMPLE\\bob", 1, ROUTEMAP_USER, 3);
	expect_route(m, "carol", 1, ROUTEMAP_BARE, 4);
	expect_route(m, "dave@example.net", 2, ROUTEMAP_DOMAIN, 5);
	expect_route(m, "erin", 0, ROUTEMAP_ANY, 6);
	routemap_free(m);
}

Test(routemap, whole_names_are_matched_whole)
{
	struct routemap *m = parse_ok("alice@example.org new\n"
				      "EXAMPLE\\bob new\n");

	/* The user part alone, or another form, is another user. */
	expect_route(m, "alice", -1, ROUTEMAP_NONE, 0);
	expect_route(m, "alice@example.net", -1, ROUTEMAP_NONE, 0);
	expect_route(m, "EXAMPLE\\alice", -1, ROUTEMAP_NONE, 0);
	expect_route(m, "bob", -1, ROUTEMAP_NONE, 0);
	expect_route(m, "bob@example.org", -1, ROUTEMAP_NONE, 0);
	expect_route(m, "OTHER\\bob", -1, ROUTEMAP_NONE, 0);
	routemap_free(m);
}

Test(routemap, a_bare_name_is_the_user_part_of_every_form)
{
	struct routemap *m = parse_ok("carol new\n");

	expect_route(m, "carol", 1, ROUTEMAP_BARE, 1);
	expect_route(m, "carol@example.org", 1, ROUTEMAP_BARE, 1);
	expect_route(m, "EXAMPLE\\carol", 1, ROUTEMAP_BARE, 1);
	expect_route(m, "carolyn", -1, ROUTEMAP_NONE, 0);
	expect_route(m, "carol.x@example.org", -1, ROUTEMAP_NONE, 0);
	routemap_free(m);
}

Test(routemap, case_is_ignored)
{
	struct routemap *m = parse_ok("Alice@Example.ORG new\n"
				      "example\\BOB new\n"
				      "CAROL new\n"
				      "@EXAMPLE.net third\n");

	expect_route(m, "ALICE@example.org", 1, ROUTEMAP_USER, 1);
	expect_route(m, "Example\\Bob", 1, ROUTEMAP_USER, 2);
	expect_route(m, "carol@x.org", 1, ROUTEMAP_BARE, 3);
	expect_route(m, "dave@Example.Net", 2, ROUTEMAP_DOMAIN, 4);
	routemap_free(m);
}

Test(routemap, the_most_precise_entry_wins_whatever_the_order)
{
	/* Wildcard and domain first in the file, the users after. */
	struct routemap *m = parse_ok("*                 old\n"
				      "@example.org      third\n"
				      "carol             new\n"
				      "alice@example.org new\n"
				      "alice             third\n");

	expect_route(m, "alice@example.org", 1, ROUTEMAP_USER, 4);
	expect_route(m, "alice", 2, ROUTEMAP_BARE, 5);
	expect_route(m, "alice@example.net", 2, ROUTEMAP_BARE, 5);
	expect_route(m, "carol@example.org", 1, ROUTEMAP_BARE, 3);
	expect_route(m, "dave@example.org", 2, ROUTEMAP_DOMAIN, 2);
	expect_route(m, "dave@example.net", 0, ROUTEMAP_ANY, 1);
	/* DOMAIN\user has a Windows domain, not a mail domain. */
	expect_route(m, "example.org\\dave", 0, ROUTEMAP_ANY, 1);
	expect_route(m, "", 0, ROUTEMAP_ANY, 1);
	routemap_free(m);
}

Test(routemap, without_a_wildcard_unlisted_users_have_no_route)
{
	struct routemap *m = parse_ok("@example.org new\n");

	expect_route(m, "dave@example.net", -1, ROUTEMAP_NONE, 0);
	expect_route(m, "dave", -1, ROUTEMAP_NONE, 0);
	expect_route(m, "dave@", -1, ROUTEMAP_NONE, 0);
	routemap_free(m);
}

Test(routemap, comments_blanks_crlf_and_a_bom)
{
	struct routemap *m = parse_ok("\xEF\xBB\xBF# routes\r\n"
				      "\r\n"
				      "   \t  \n"
				      "  # indented comment\n"
				      "\talice\tnew\t# moved on Monday\r\n"
				      "bob new");

	cr_expect_eq(routemap_count(m), 2);
	expect_route(m, "alice", 1, ROUTEMAP_BARE, 5);
	expect_route(m, "bob", 1, ROUTEMAP_BARE, 6);
	routemap_free(m);
}

Test(routemap, an_empty_map_routes_nobody)
{
	struct routemap *m = parse_ok("");

	cr_expect_eq(routemap_count(m), 0);
	expect_route(m, "alice", -1, ROUTEMAP_NONE, 0);
	routemap_free(m);
}

Test(routemap, utf8_names)
{
	struct routemap *m = parse_ok("j\xC3\xBCrgen@example.org new\n");

	expect_route(m, "j\xC3\xBCrgen@EXAMPLE.org", 1, ROUTEMAP_USER, 1);
	routemap_free(m);
}

Test(routemap, unknown_and_refused_backends)
{
	expect_errors("alice new\nbob nowhere\n* Old\ncarol refused\n",
	    "2: unknown backend 'nowhere'\n"
	    "3: unknown backend 'Old'\n");
	/* A backend the caller refused: it said why itself. */
	expect_errors("carol refused\n", "");
}

Test(routemap, a_user_listed_twice)
{
	expect_errors("alice new\n"
		      "bob new\n"
		      "ALICE old\n"
		      "alice@example.org new\n"
		      "Alice@example.ORG new\n"
		      "@example.org new\n"
		      "@Example.org old\n"
		      "* old\n"
		      "* new\n",
	    "3: 'ALICE' is listed twice (first at line 1)\n"
	    "5: 'Alice@example.ORG' is listed twice (first at line 4)\n"
	    "7: '@Example.org' is listed twice (first at line 6)\n"
	    "9: '*' is listed twice (first at line 8)\n");
}

Test(routemap, lines_that_are_not_routes)
{
	expect_errors("alice\n"
		      "bob new old\n"
		      "@ new\n"
		      "@a@b new\n"
		      "\\bob new\n"
		      "EX\\ new\n"
		      "A\\B\\c new\n"
		      "@example.org\\x new\n"
		      "alice@ new\n"
		      "@x new\n"
		      "a*b new\n"
		      "*@example.org new\n",
	    "1: expected 'user backend': no backend after 'alice'\n"
	    "2: expected 'user backend': 'old' after the backend (one route "
	    "a line)\n"
	    "3: '@': a domain route is '@' and the domain, as in "
	    "@example.org\n"
	    "4: '@a@b': a domain route is '@' and the domain, as in "
	    "@example.org\n"
	    "5: '\\bob': expected DOMAIN\\user, one '\\' between two names\n"
	    "6: 'EX\\': expected DOMAIN\\user, one '\\' between two names\n"
	    "7: 'A\\B\\c': expected DOMAIN\\user, one '\\' between two names\n"
	    "8: '@example.org\\x': a domain route is '@' and the domain, as "
	    "in @example.org\n"
	    "9: 'alice@': expected user@domain, a name on each side of '@'\n"
	    "11: 'a*b': '*' stands alone, for everybody else; a route names "
	    "one user or one @domain\n"
	    "12: '*@example.org': '*' stands alone, for everybody else; a "
	    "route names one user or one @domain\n");
}

Test(routemap, a_line_too_long)
{
	char *text = malloc(4 * ROUTEMAP_LINE_MAX);
	size_t n;

	cr_assert_not_null(text);
	n = (size_t)sprintf(text, "alice new\n");
	memset(text + n, 'x', ROUTEMAP_LINE_MAX - 4);
	n += ROUTEMAP_LINE_MAX - 4;
	n += (size_t)sprintf(text + n, " new\n");
	/* Exactly the limit: a name too long for a login, but a line. */
	expect_errors_len(text, n,
	    "2: 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...' is longer than "
	    "a login name can be (255 bytes)\n");
	n +=
	    (size_t)sprintf(text + n, "y%*s new\n", ROUTEMAP_LINE_MAX - 4, "z");
	n += (size_t)sprintf(text + n, "bob nowhere\n");
	expect_errors_len(text, n,
	    "2: 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...' is longer than "
	    "a login name can be (255 bytes)\n"
	    "3: line too long (at most 1024 characters)\n"
	    "4: unknown backend 'nowhere'\n");
	free(text);
}

Test(routemap, binary_bytes)
{
	static const char nul[] = "alice new\nb\0b new\n";

	expect_errors_len(nul, sizeof(nul) - 1, "2: NUL byte in line\n");
	expect_errors("alice new\x01\n"
		      "bob\x7f new\n"
		      "carol\xff new\n"
		      "dave \xC3\x28\n"
		      "erin\r\r new\n",
	    "1: control character (byte 0x01) in line\n"
	    "2: control character (byte 0x7f) in line\n"
	    "3: byte 0xff at column 6 is not UTF-8 (a binary file?)\n"
	    "4: byte 0xc3 at column 6 is not UTF-8 (a binary file?)\n"
	    "5: control character (byte 0x0d) in line\n");
}

Test(routemap, every_input_split_is_refused_or_parsed)
{
	/* Random bytes never crash the parser nor pass as a map with a
	 * control byte in it. */
	unsigned seed = 12345;
	char buf[512];
	size_t i, n;
	int round;

	for (round = 0; round < 2000; round++) {
		struct routemap *m;

		n = (size_t)(rand_r(&seed) % sizeof(buf));
		for (i = 0; i < n; i++) {
			int r = rand_r(&seed) % 10;

			buf[i] = r < 5 ? "abn@\\*# \n"[rand_r(&seed) % 9] :
				 r < 9 ? "newold"[rand_r(&seed) % 6] :
					 (char)(rand_r(&seed) & 0xff);
		}
		errs[0] = '\0';
		m = routemap_parse(buf, n, resolve, collect, NULL);
		cr_assert(m != NULL || errs[0] != '\0');
		if (m != NULL)
			(void)routemap_lookup(m, "a@b", NULL, NULL);
		routemap_free(m);
	}
}

Test(routemap, ten_thousand_entries)
{
	char *text, user[64];
	size_t cap = 10000 * 48 + 64, n = 0;
	struct routemap *m;
	int i, round;

	text = malloc(cap);
	cr_assert_not_null(text);
	for (i = 0; i < 10000; i++)
		n += (size_t)snprintf(text + n, cap - n,
		    "user%05d@example.org %s\n", i, i % 3 == 0 ? "new" : "old");
	n += (size_t)snprintf(text + n, cap - n, "* third\n");
	errs[0] = '\0';
	m = routemap_parse(text, n, resolve, collect, NULL);
	cr_assert_not_null(m, "%s", errs);
	cr_expect_eq(routemap_count(m), 10001);
	for (i = 0; i < 10000; i++) {
		snprintf(user, sizeof(user), "USER%05d@example.org", i);
		expect_route(m, user, i % 3 == 0 ? 1 : 0, ROUTEMAP_USER, i + 1);
	}
	expect_route(m, "user10000@example.org", 2, ROUTEMAP_ANY, 10001);
	/* Names that are not in the map fall to "*", near misses too. */
	for (round = 0; round < 2000; round++) {
		snprintf(user, sizeof(user), "user%05d@example.org",
		    10000 + round);
		expect_route(m, user, 2, ROUTEMAP_ANY, 10001);
	}
	expect_route(m, "user0000@example.org", 2, ROUTEMAP_ANY, 10001);
	expect_route(m, "user000000@example.org", 2, ROUTEMAP_ANY, 10001);
	routemap_free(m);
	free(text);
}

Test(routemap, load_reads_a_file_and_says_when_it_cannot)
{
	char path[] = "/tmp/test_routemap.XXXXXX";
	struct routemap *m;
	int fd = mkstemp(path);
	static const char text[] = "alice new\nbob nowhere\n";

	cr_assert_neq(fd, -1);
	cr_assert_eq(write(fd, text, sizeof(text) - 1),
	    (ssize_t)(sizeof(text) - 1));
	close(fd);
	errs[0] = '\0';
	m = routemap_load(path, resolve, collect, NULL);
	cr_expect_null(m);
	cr_expect_str_eq(errs, "2: unknown backend 'nowhere'\n");
	unlink(path);
	errs[0] = '\0';
	m = routemap_load(path, resolve, collect, NULL);
	cr_expect_null(m);
	cr_expect_str_eq(errs, "0: cannot open: No such file or directory\n");
}
