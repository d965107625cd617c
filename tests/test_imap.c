/*
 * Unit tests of the IMAP4 parser half: pre-auth commands with every kind of
 * value, literals and their limits, SASL lines, backend lines, capability
 * lists and quoting.
 */
#include "config.h"

#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "blockcache.h"
#include "imap.h"
#include "imap_internal.h"
#include "protolog.h"
#include "session_fixture.h"
#include "sesslog.h"
#include "worker.h"

#define MAX_LINE 1024
#define LIT_MAX 1024
#define STORE_CAP (MAX_LINE + 2 * LIT_MAX)
#define OUT_MAX 8

/* What one parser result looked like, copied out of the parser. */
struct outcome {
	enum imap_parse_result r;
	char tag[IMAP_TAG_MAX + 1];
	char name[24];
	enum imap_verb cmd;
	size_t nargs;
	enum imap_value_type type[IMAP_ARGS_MAX];
	size_t len[IMAP_ARGS_MAX];
	char data[IMAP_ARGS_MAX][256];
	enum imap_error error;
	bool fatal;
};

struct run {
	struct outcome out[OUT_MAX];
	size_t n;
	size_t consumed; /* bytes consumed until the last result */
};

static void
record(struct run *run, const struct imap_parser *p, enum imap_parse_result r)
{
	struct outcome *o;

	cr_assert_lt(run->n, OUT_MAX, "too many results");
	o = &run->out[run->n++];
	memset(o, 0, sizeof(*o));
	o->r = r;
	if (r == IMAP_PARSE_LITERAL_WAIT)
		return;
	memcpy(o->tag, p->cmd.tag, sizeof(o->tag));
	memcpy(o->name, p->cmd.name, sizeof(o->name));
	o->cmd = p->cmd.cmd;
	o->nargs = p->cmd.nargs;
	o->error = p->cmd.error;
	o->fatal = p->cmd.fatal;
	for (size_t i = 0; i < p->cmd.nargs; i++) {
		const struct imap_value *v = &p->cmd.args[i];

		o->type[i] = v->type;
		o->len[i] = v->len;
		if (v->type != IMAP_VAL_LIST) {
			cr_assert_eq(v->data[v->len], '\0',
			    "value %zu is not NUL-terminated", i);
			memcpy(o->data[i], v->data,
			    v->len < 255 ? v->len : 255);
		}
	}
}

/*
 * Feeds input in chunks of the given size, answering every LITERAL_WAIT at
 * once the way imap.c does, and records each result.
 */
static void
feed_store(const char *in, size_t len, size_t chunk, size_t max_line,
    char *store, size_t cap, void (*check)(const char *, size_t),
    struct run *run)
{
	struct imap_parser p;
	size_t pos = 0;

	memset(run, 0, sizeof(*run));
	cr_assert_eq(imap_parser_init(&p, max_line, LIT_MAX, store, cap), 0);
	while (pos < len) {
		size_t n = len - pos < chunk ? len - pos : chunk;

		while (n > 0) {
			size_t used = 0;
			enum imap_parse_result r;

			r = imap_parse(&p, in + pos, n, &used);
			if (check != NULL)
				check(store, cap);
			cr_assert(used <= n);
			cr_assert(used > 0 || r != IMAP_PARSE_NEED_MORE,
			    "no progress at %zu", pos);
			pos += used;
			n -= used;
			if (r == IMAP_PARSE_NEED_MORE)
				continue;
			record(run, &p, r);
			run->consumed = pos;
			if (r == IMAP_PARSE_LITERAL_WAIT)
				imap_parser_literal_accept(&p);
			if (r == IMAP_PARSE_INVALID && p.cmd.fatal)
				return;
		}
	}
}

static void
feed(const char *in, size_t len, size_t chunk, size_t max_line, struct run *run)
{
	static char store[STORE_CAP];

	feed_store(in, len, chunk, max_line, store, sizeof(store), NULL, run);
}

static void
assert_same(const struct run *a, const struct run *b, size_t chunk)
{
	cr_assert_eq(a->n, b->n, "chunk %zu: %zu results, whole: %zu", chunk,
	    b->n, a->n);
	cr_assert_eq(a->consumed, b->consumed, "chunk %zu: consumed differs",
	    chunk);
	for (size_t i = 0; i < a->n; i++) {
		const struct outcome *x = &a->out[i], *y = &b->out[i];

		cr_assert_eq(x->r, y->r, "chunk %zu result %zu", chunk, i);
		cr_assert_str_eq(x->tag, y->tag);
		cr_assert_eq(x->cmd, y->cmd);
		cr_assert_eq(x->nargs, y->nargs);
		cr_assert_eq(x->error, y->error);
		cr_assert_eq(x->fatal, y->fatal);
		for (size_t k = 0; k < x->nargs; k++) {
			cr_assert_eq(x->type[k], y->type[k]);
			cr_assert_eq(x->len[k], y->len[k]);
			cr_assert(memcmp(x->data[k], y->data[k], 256) == 0,
			    "chunk %zu: value %zu differs", chunk, k);
		}
	}
}

/*
 * Parses input whole, then in chunks of every size from one byte up (so
 * that every byte is a split point at least once), and checks that every
 * way gives the same results.
 */
static void
parse_all_ways_n(const char *in, size_t len, size_t max_line, struct run *out)
{
	static struct run r;

	feed(in, len, len, max_line, out);
	for (size_t chunk = 1; chunk < len; chunk++) {
		feed(in, len, chunk, max_line, &r);
		assert_same(out, &r, chunk);
	}
}

static void
parse_all_ways(const char *in, struct run *out)
{
	parse_all_ways_n(in, strlen(in), MAX_LINE, out);
}

static void
assert_value(const struct outcome *o, size_t i, enum imap_value_type type,
    const char *data)
{
	cr_assert_lt(i, o->nargs, "value %zu missing (nargs %zu)", i, o->nargs);
	cr_assert_eq(o->type[i], type, "value %zu type %d, want %d", i,
	    o->type[i], type);
	cr_assert_eq(o->len[i], strlen(data), "value %zu length", i);
	cr_assert(memcmp(o->data[i], data, strlen(data)) == 0,
	    "value %zu is '%s', want '%s'", i, o->data[i], data);
}

Test(imap, capability_command)
{
	static struct run run;

	parse_all_ways("a1 CAPABILITY\r\n", &run);
	cr_assert_eq(run.n, 1);
	cr_assert_eq(run.out[0].r, IMAP_PARSE_COMMAND);
	cr_assert_str_eq(run.out[0].tag, "a1");
	cr_assert_eq(run.out[0].cmd, IMAP_CMD_CAPABILITY);
	cr_assert_eq(run.out[0].nargs, 0);
	cr_assert_eq(run.consumed, 15);
}

Test(imap, command_names_any_case_and_bare_lf)
{
	static struct run run;

	parse_all_ways("x starttls\nY Logout\r\nz1.2 NoOp\r\n", &run);
	cr_assert_eq(run.n, 3);
	cr_assert_eq(run.out[0].cmd, IMAP_CMD_STARTTLS);
	cr_assert_eq(run.out[1].cmd, IMAP_CMD_LOGOUT);
	cr_assert_eq(run.out[2].cmd, IMAP_CMD_NOOP);
	cr_assert_str_eq(run.out[2].tag, "z1.2");
	cr_assert_str_eq(run.out[1].name, "LOGOUT");
}

Test(imap, unknown_command_is_other_with_its_arguments)
{
	static struct run run;

	parse_all_ways("7 SELECT INBOX\r\n8 UID FETCH 1:* (FLAGS)\r\n", &run);
	cr_assert_eq(run.n, 2);
	cr_assert_eq(run.out[0].r, IMAP_PARSE_COMMAND);
	cr_assert_eq(run.out[0].cmd, IMAP_CMD_OTHER);
	cr_assert_str_eq(run.out[0].name, "SELECT");
	assert_value(&run.out[0], 0, IMAP_VAL_ATOM, "INBOX");
	cr_assert_eq(run.out[1].cmd, IMAP_CMD_OTHER);
	assert_value(&run.out[1], 1, IMAP_VAL_ATOM, "1:*");
	cr_assert_eq(run.out[1].type[2], IMAP_VAL_LIST);
	cr_assert_eq(run.out[1].len[2], 1);
}

Test(imap, login_with_atoms)
{
	static struct run run;

	parse_all_ways("a LOGIN alice s3cr]t\r\n", &run);
	cr_assert_eq(run.n, 1);
	cr_assert_eq(run.out[0].cmd, IMAP_CMD_LOGIN);
	cr_assert_eq(run.out[0].nargs, 2);
	assert_value(&run.out[0], 0, IMAP_VAL_ATOM, "alice");
	assert_value(&run.out[0], 1, IMAP_VAL_ATOM, "s3cr]t");
}

Test(imap, login_with_quoted_strings_and_escapes)
{
	static struct run run;

	parse_all_ways("a LOGIN \"al\\\"ice\" \"pa\\\\ss word\"\r\n", &run);
	cr_assert_eq(run.n, 1);
	cr_assert_eq(run.out[0].r, IMAP_PARSE_COMMAND);
	assert_value(&run.out[0], 0, IMAP_VAL_QUOTED, "al\"ice");
	assert_value(&run.out[0], 1, IMAP_VAL_QUOTED, "pa\\ss word");
}

Test(imap, quoted_string_keeps_utf8)
{
	static struct run run;

	parse_all_ways("a LOGIN \"j\xc3\xb6rg\" \"\"\r\n", &run);
	cr_assert_eq(run.out[0].r, IMAP_PARSE_COMMAND);
	assert_value(&run.out[0], 0, IMAP_VAL_QUOTED, "j\xc3\xb6rg");
	assert_value(&run.out[0], 1, IMAP_VAL_QUOTED, "");
}

Test(imap, bad_escape_in_quoted_string)
{
	static struct run run;

	parse_all_ways("a LOGIN \"a\\b\" x\r\nb NOOP\r\n", &run);
	cr_assert_eq(run.n, 2);
	cr_assert_eq(run.out[0].r, IMAP_PARSE_INVALID);
	cr_assert_eq(run.out[0].error, IMAP_ERR_SYNTAX);
	cr_assert_str_eq(run.out[0].tag, "a");
	cr_assert_not(run.out[0].fatal);
	cr_assert_eq(run.out[1].r, IMAP_PARSE_COMMAND);
	cr_assert_eq(run.out[1].cmd, IMAP_CMD_NOOP);
}

Test(imap, unterminated_quoted_string_ends_at_line_end)
{
	static struct run run;

	parse_all_ways("a LOGIN \"abc\r\nb NOOP\r\n", &run);
	cr_assert_eq(run.n, 2);
	cr_assert_eq(run.out[0].r, IMAP_PARSE_INVALID);
	cr_assert_eq(run.out[0].error, IMAP_ERR_SYNTAX);
	cr_assert_eq(run.out[1].cmd, IMAP_CMD_NOOP);
}

Test(imap, synchronising_literals_wait_for_the_go_ahead)
{
	static struct run run;

	parse_all_ways("a LOGIN {5}\r\nalice {6}\r\nsecret\r\n", &run);
	cr_assert_eq(run.n, 3);
	cr_assert_eq(run.out[0].r, IMAP_PARSE_LITERAL_WAIT);
	cr_assert_eq(run.out[1].r, IMAP_PARSE_LITERAL_WAIT);
	cr_assert_eq(run.out[2].r, IMAP_PARSE_COMMAND);
	assert_value(&run.out[2], 0, IMAP_VAL_LITERAL, "alice");
	assert_value(&run.out[2], 1, IMAP_VAL_LITERAL, "secret");
}

Test(imap, literal_wait_comes_before_the_literal_bytes_are_read)
{
	static char store[STORE_CAP];
	struct imap_parser p;
	const char *in = "a LOGIN {5}\r\nalice x\r\n";
	size_t used;

	cr_assert_eq(
	    imap_parser_init(&p, MAX_LINE, LIT_MAX, store, sizeof(store)), 0);
	cr_assert_eq(imap_parse(&p, in, strlen(in), &used),
	    IMAP_PARSE_LITERAL_WAIT);
	/* Nothing after the header is taken before the "+" is sent. */
	cr_assert_eq(used, 13);
	imap_parser_literal_accept(&p);
	cr_assert_eq(imap_parse(&p, in + used, strlen(in) - used, &used),
	    IMAP_PARSE_COMMAND);
	cr_assert_eq(p.cmd.nargs, 2);
	cr_assert_str_eq(p.cmd.args[0].data, "alice");
}

Test(imap, non_synchronising_literals)
{
	static struct run run;

	parse_all_ways("a LOGIN {5+}\r\nalice {6-}\r\nsecret\r\n", &run);
	cr_assert_eq(run.n, 1);
	cr_assert_eq(run.out[0].r, IMAP_PARSE_COMMAND);
	assert_value(&run.out[0], 0, IMAP_VAL_LITERAL, "alice");
	assert_value(&run.out[0], 1, IMAP_VAL_LITERAL, "secret");
}

Test(imap, literal_bytes_are_taken_verbatim)
{
	static struct run run;
	const char in[] = "a LOGIN {7+}\r\nx\r\ny\0z\" p\r\n";

	parse_all_ways_n(in, sizeof(in) - 1, MAX_LINE, &run);
	cr_assert_eq(run.n, 1);
	cr_assert_eq(run.out[0].r, IMAP_PARSE_COMMAND);
	cr_assert_eq(run.out[0].len[0], 7);
	cr_assert(memcmp(run.out[0].data[0], "x\r\ny\0z\"", 7) == 0);
	assert_value(&run.out[0], 1, IMAP_VAL_ATOM, "p");
}

Test(imap, empty_literal)
{
	static struct run run;

	parse_all_ways("a LOGIN alice {0}\r\n\r\n", &run);
	cr_assert_eq(run.n, 2);
	cr_assert_eq(run.out[0].r, IMAP_PARSE_LITERAL_WAIT);
	cr_assert_eq(run.out[1].r, IMAP_PARSE_COMMAND);
	assert_value(&run.out[1], 1, IMAP_VAL_LITERAL, "");
}

Test(imap, synchronising_literal_over_the_limit_is_refused_before_plus)
{
	static struct run run;

	parse_all_ways("a LOGIN {1025}\r\nb NOOP\r\n", &run);
	cr_assert_eq(run.n, 2);
	cr_assert_eq(run.out[0].r, IMAP_PARSE_INVALID);
	cr_assert_eq(run.out[0].error, IMAP_ERR_LITERAL_TOO_BIG);
	cr_assert_not(run.out[0].fatal);
	cr_assert_str_eq(run.out[0].tag, "a");
	cr_assert_eq(run.out[1].r, IMAP_PARSE_COMMAND);
	cr_assert_eq(run.out[1].cmd, IMAP_CMD_NOOP);
}

Test(imap, literal_at_the_limit_is_accepted)
{
	static struct run run;
	static char in[LIT_MAX + 64];
	int n;

	n = snprintf(in, sizeof(in), "a LOGIN u {%d+}\r\n", LIT_MAX);
	memset(in + n, 'p', LIT_MAX);
	memcpy(in + n + LIT_MAX, "\r\n", 3);
	feed(in, strlen(in), strlen(in), MAX_LINE, &run);
	cr_assert_eq(run.n, 1);
	cr_assert_eq(run.out[0].r, IMAP_PARSE_COMMAND);
	cr_assert_eq(run.out[0].len[1], LIT_MAX);
}

Test(imap, non_synchronising_literal_over_the_limit_is_fatal)
{
	static struct run run;

	parse_all_ways("a LOGIN {99999+}\r\nxxxx", &run);
	cr_assert_eq(run.n, 1);
	cr_assert_eq(run.out[0].r, IMAP_PARSE_INVALID);
	cr_assert_eq(run.out[0].error, IMAP_ERR_LITERAL_TOO_BIG);
	cr_assert(run.out[0].fatal);
	cr_assert_eq(run.consumed, 18);
}

Test(imap, literal_size_must_be_a_32_bit_number)
{
	static struct run run;

	parse_all_ways("a LOGIN {99999999999}\r\nb NOOP\r\n", &run);
	cr_assert_eq(run.out[0].r, IMAP_PARSE_INVALID);
	cr_assert_eq(run.out[0].error, IMAP_ERR_SYNTAX);
	cr_assert_eq(run.out[1].cmd, IMAP_CMD_NOOP);
	parse_all_ways("a LOGIN {}\r\nb LOGIN {+}\r\n", &run);
	cr_assert_eq(run.n, 2);
	cr_assert_eq(run.out[0].error, IMAP_ERR_SYNTAX);
	cr_assert_eq(run.out[1].error, IMAP_ERR_SYNTAX);
}

Test(imap, tags_of_every_valid_form_are_kept)
{
	static struct run run;

	parse_all_ways("A0001 NOOP\r\n]x.7-_!#$&' NOOP\r\n", &run);
	cr_assert_eq(run.n, 2);
	cr_assert_str_eq(run.out[0].tag, "A0001");
	cr_assert_str_eq(run.out[1].tag, "]x.7-_!#$&'");
	cr_assert_eq(run.out[1].r, IMAP_PARSE_COMMAND);
}

Test(imap, invalid_tags)
{
	static const char *const bad[] = {"* NOOP\r\n", "+a NOOP\r\n",
	    "a+b NOOP\r\n", "a\"b NOOP\r\n", "(x NOOP\r\n", " NOOP\r\n",
	    "a%b NOOP\r\n", "a{1} NOOP\r\n"};
	static struct run run;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		parse_all_ways(bad[i], &run);
		cr_assert_eq(run.n, 1, "%s", bad[i]);
		cr_assert_eq(run.out[0].r, IMAP_PARSE_INVALID, "%s", bad[i]);
		cr_assert_eq(run.out[0].error, IMAP_ERR_TAG, "%s", bad[i]);
		cr_assert_str_eq(run.out[0].tag, "", "%s", bad[i]);
	}
}

Test(imap, tag_length_limit)
{
	static struct run run;
	char in[IMAP_TAG_MAX + 16];

	memset(in, 't', IMAP_TAG_MAX);
	strcpy(in + IMAP_TAG_MAX, " NOOP\r\n");
	parse_all_ways(in, &run);
	cr_assert_eq(run.out[0].r, IMAP_PARSE_COMMAND);
	cr_assert_eq(strlen(run.out[0].tag), IMAP_TAG_MAX);

	memset(in, 't', IMAP_TAG_MAX + 1);
	strcpy(in + IMAP_TAG_MAX + 1, " NOOP\r\n");
	parse_all_ways(in, &run);
	cr_assert_eq(run.out[0].r, IMAP_PARSE_INVALID);
	cr_assert_eq(run.out[0].error, IMAP_ERR_TAG);
	cr_assert_str_eq(run.out[0].tag, "");
}

Test(imap, tag_without_command)
{
	static struct run run;

	parse_all_ways("a1\r\na2 \r\na3 N@OP\r\n", &run);
	cr_assert_eq(run.n, 3);
	for (size_t i = 0; i < 3; i++) {
		cr_assert_eq(run.out[i].r, IMAP_PARSE_INVALID);
		cr_assert_eq(run.out[i].error, IMAP_ERR_COMMAND);
	}
	cr_assert_str_eq(run.out[2].tag, "a3");
}

Test(imap, empty_line)
{
	static struct run run;

	parse_all_ways("\r\na NOOP\r\n", &run);
	cr_assert_eq(run.n, 2);
	cr_assert_eq(run.out[0].r, IMAP_PARSE_INVALID);
	cr_assert_eq(run.out[0].error, IMAP_ERR_EMPTY);
	cr_assert_eq(run.out[1].cmd, IMAP_CMD_NOOP);
}

Test(imap, overlong_line_is_fatal_without_reading_on)
{
	static struct run run;
	static char in[4096];

	memcpy(in, "a LOGIN ", 8);
	memset(in + 8, 'x', sizeof(in) - 9);
	feed(in, sizeof(in) - 1, 100, 1024, &run);
	cr_assert_eq(run.n, 1);
	cr_assert_eq(run.out[0].r, IMAP_PARSE_INVALID);
	cr_assert_eq(run.out[0].error, IMAP_ERR_TOO_LONG);
	cr_assert(run.out[0].fatal);
	cr_assert_eq(run.consumed, 1025);
}

Test(imap, line_at_the_limit_is_accepted)
{
	static struct run run;
	static char in[1024 + 1];

	/* "a LOGIN u " + password + CRLF is exactly 1024 bytes. */
	memcpy(in, "a LOGIN u ", 10);
	memset(in + 10, 'p', 1024 - 12);
	memcpy(in + 1022, "\r\n", 3);
	feed(in, 1024, 1024, 1024, &run);
	cr_assert_eq(run.out[0].r, IMAP_PARSE_COMMAND);
	cr_assert_eq(run.out[0].len[1], 1024 - 12);
	feed(in, 1024, 1024, 1023, &run);
	cr_assert_eq(run.out[0].r, IMAP_PARSE_INVALID);
	cr_assert(run.out[0].fatal);
}

Test(imap, literal_data_does_not_count_against_the_line)
{
	static struct run run;
	static char in[2048];
	int n;

	/* The line outside the literal is short; the literal is long. */
	n = snprintf(in, sizeof(in), "a LOGIN u {900+}\r\n");
	memset(in + n, 'p', 900);
	memcpy(in + n + 900, "\r\n", 3);
	feed(in, strlen(in), 64, 100, &run);
	cr_assert_eq(run.out[0].r, IMAP_PARSE_COMMAND);
	cr_assert_eq(run.out[0].len[1], 900);
}

Test(imap, id_with_field_value_list)
{
	static struct run run;

	parse_all_ways("i1 ID (\"name\" \"Thunderbird\" \"version\" "
		       "\"115.3.1\")\r\n",
	    &run);
	cr_assert_eq(run.n, 1);
	cr_assert_eq(run.out[0].cmd, IMAP_CMD_ID);
	cr_assert_eq(run.out[0].nargs, 5);
	cr_assert_eq(run.out[0].type[0], IMAP_VAL_LIST);
	cr_assert_eq(run.out[0].len[0], 4);
	assert_value(&run.out[0], 1, IMAP_VAL_QUOTED, "name");
	assert_value(&run.out[0], 2, IMAP_VAL_QUOTED, "Thunderbird");
	assert_value(&run.out[0], 4, IMAP_VAL_QUOTED, "115.3.1");
}

Test(imap, id_nil_and_nil_values)
{
	static struct run run;

	parse_all_ways("i1 ID NIL\r\ni2 ID (\"name\" NIL)\r\n", &run);
	cr_assert_eq(run.n, 2);
	assert_value(&run.out[0], 0, IMAP_VAL_NIL, "NIL");
	assert_value(&run.out[1], 2, IMAP_VAL_NIL, "NIL");
	/* A quoted "NIL" is a string, not NIL. */
	parse_all_ways("i3 LOGIN \"NIL\" x\r\n", &run);
	assert_value(&run.out[0], 0, IMAP_VAL_QUOTED, "NIL");
}

Test(imap, nested_and_empty_lists)
{
	static struct run run;

	parse_all_ways("a X () (b (c d) e) f\r\n", &run);
	cr_assert_eq(run.out[0].r, IMAP_PARSE_COMMAND);
	cr_assert_eq(run.out[0].nargs, 8);
	cr_assert_eq(run.out[0].type[0], IMAP_VAL_LIST);
	cr_assert_eq(run.out[0].len[0], 0);
	cr_assert_eq(run.out[0].type[1], IMAP_VAL_LIST);
	cr_assert_eq(run.out[0].len[1], 5);
	cr_assert_eq(run.out[0].type[3], IMAP_VAL_LIST);
	cr_assert_eq(run.out[0].len[3], 2);
	assert_value(&run.out[0], 7, IMAP_VAL_ATOM, "f");
}

Test(imap, unbalanced_lists)
{
	static const char *const bad[] = {"a X (b\r\n", "a X b)\r\n",
	    "a X ((b)\r\n", "a X (b )\r\n", "a X ( b)\r\n", "a X (\r\n",
	    "a X ((((((x))))))\r\n", "a X \"b\"c\r\n"};
	static struct run run;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		parse_all_ways(bad[i], &run);
		cr_assert_eq(run.n, 1, "%s", bad[i]);
		cr_assert_eq(run.out[0].r, IMAP_PARSE_INVALID, "%s", bad[i]);
		cr_assert_eq(run.out[0].error, IMAP_ERR_SYNTAX, "%s", bad[i]);
		cr_assert_str_eq(run.out[0].tag, "a");
	}
}

Test(imap, too_many_arguments)
{
	static char in[512];
	static struct run run;
	size_t n = 0;

	n += (size_t)snprintf(in, sizeof(in), "a X");
	for (int i = 0; i < IMAP_ARGS_MAX + 1; i++)
		n += (size_t)snprintf(in + n, sizeof(in) - n, " %d", i % 10);
	snprintf(in + n, sizeof(in) - n, "\r\nb NOOP\r\n");
	parse_all_ways(in, &run);
	cr_assert_eq(run.n, 2);
	cr_assert_eq(run.out[0].r, IMAP_PARSE_INVALID);
	cr_assert_eq(run.out[0].error, IMAP_ERR_TOO_MANY_ARGS);
	cr_assert_eq(run.out[1].cmd, IMAP_CMD_NOOP);
}

Test(imap, authenticate_with_initial_response)
{
	static struct run run;

	parse_all_ways("a AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==\r\n", &run);
	cr_assert_eq(run.out[0].cmd, IMAP_CMD_AUTHENTICATE);
	assert_value(&run.out[0], 0, IMAP_VAL_ATOM, "PLAIN");
	assert_value(&run.out[0], 1, IMAP_VAL_ATOM, "AGFsaWNlAHNlY3JldA==");
}

Test(imap, trailing_space_is_tolerated)
{
	static struct run run;

	parse_all_ways("a NOOP \r\nb LOGIN x y \r\n", &run);
	cr_assert_eq(run.n, 2);
	cr_assert_eq(run.out[0].r, IMAP_PARSE_COMMAND);
	cr_assert_eq(run.out[1].r, IMAP_PARSE_COMMAND);
	cr_assert_eq(run.out[1].nargs, 2);
}

Test(imap, control_characters_are_syntax_errors)
{
	static struct run run;
	const char in[] = "a LOGIN al\0ce x\r\nb LOGIN \"a\tb\" c\r\n";

	parse_all_ways_n(in, sizeof(in) - 1, MAX_LINE, &run);
	cr_assert_eq(run.n, 2);
	cr_assert_eq(run.out[0].r, IMAP_PARSE_INVALID);
	/* A tab inside a quoted string is text, as Dovecot takes it. */
	cr_assert_eq(run.out[1].r, IMAP_PARSE_COMMAND);
}

Test(imap, reset_forgets_a_partial_command)
{
	static char store[STORE_CAP];
	struct imap_parser p;
	size_t used;

	cr_assert_eq(
	    imap_parser_init(&p, MAX_LINE, LIT_MAX, store, sizeof(store)), 0);
	cr_assert_eq(imap_parse(&p, "a LOGIN \"ali", 12, &used),
	    IMAP_PARSE_NEED_MORE);
	imap_parser_reset(&p);
	cr_assert_eq(imap_parse(&p, "b NOOP\r\n", 8, &used),
	    IMAP_PARSE_COMMAND);
	cr_assert_str_eq(p.cmd.tag, "b");
	cr_assert_eq(p.cmd.cmd, IMAP_CMD_NOOP);
}

Test(imap, init_refuses_a_small_store)
{
	static char store[100];
	struct imap_parser p;

	cr_assert_eq(imap_parser_init(&p, 1024, 1024, store, sizeof(store)),
	    -1);
}

/* --- the store's bounds ------------------------------------------------- */

/*
 * The store under test sits between two guard regions of a known byte, so
 * that a write past either end shows even without a sanitizer.
 */
#define GUARD 512
#define GUARD_BYTE 0xa5

static char *
guarded_store(size_t cap)
{
	unsigned char *mem = malloc(cap + 2 * GUARD);

	cr_assert_not_null(mem);
	memset(mem, GUARD_BYTE, cap + 2 * GUARD);
	return (char *)mem + GUARD;
}

static void
guards_intact(const char *store, size_t cap)
{
	const unsigned char *lo = (const unsigned char *)store - GUARD;
	const unsigned char *hi = (const unsigned char *)store + cap;

	for (size_t i = 0; i < GUARD; i++) {
		/* One assertion per failure only: this runs after every call.
		 */
		if (lo[i] != GUARD_BYTE)
			cr_assert_fail("written %zu bytes before the store",
			    GUARD - i);
		if (hi[i] != GUARD_BYTE)
			cr_assert_fail(
			    "written %zu bytes past the store of %zu", i + 1,
			    cap);
	}
}

static void
guarded_free(char *store)
{
	free(store - GUARD);
}

/*
 * "a X", then literals ({n+} when nonsync, else {n}) of at most LIT_MAX
 * bytes that fill a store of cap bytes, NULs included, up to spare bytes
 * before its end, then ntail copies of " " tail, then CRLF.  Returns the
 * length.
 */
static size_t
fill_then(char *out, size_t outcap, size_t cap, size_t spare, bool nonsync,
    const char *tail, int ntail)
{
	size_t n, used = 0;

	n = (size_t)snprintf(out, outcap, "a X");
	while (cap - used >= spare + 1) {
		size_t lit = cap - used - spare - 1;

		if (lit > LIT_MAX)
			lit = LIT_MAX;
		n += (size_t)snprintf(out + n, outcap - n, " {%zu%s}\r\n", lit,
		    nonsync ? "+" : "");
		cr_assert_lt(n + lit, outcap);
		memset(out + n, 'L', lit);
		n += lit;
		used += lit + 1;
	}
	for (int i = 0; i < ntail; i++)
		n += (size_t)snprintf(out + n, outcap - n, " %s", tail);
	n += (size_t)snprintf(out + n, outcap - n, "\r\n");
	cr_assert_lt(n, outcap);
	return n;
}

/*
 * Feeds in at the given chunk sizes (0 meaning every size) into a guarded
 * store of cap bytes; the command must be refused as too long, fatally,
 * without a byte written outside the store.
 */
static void
refused_within_store(const char *in, size_t len, size_t max_line, size_t cap,
    const size_t *chunks)
{
	static struct run run;
	char *store = guarded_store(cap);
	size_t chunk;

	for (size_t k = 0; chunks[k] != 0 || k == 0; k++) {
		chunk = chunks[k] != 0 ? chunks[k] : len;
		feed_store(in, len, chunk, max_line, store, cap, guards_intact,
		    &run);
		cr_assert_gt(run.n, 0, "chunk %zu: no result", chunk);
		cr_assert_eq(run.out[run.n - 1].r, IMAP_PARSE_INVALID,
		    "chunk %zu: result %d", chunk, run.out[run.n - 1].r);
		cr_assert_eq(run.out[run.n - 1].error, IMAP_ERR_TOO_LONG,
		    "chunk %zu: error %d", chunk, run.out[run.n - 1].error);
		cr_assert(run.out[run.n - 1].fatal, "chunk %zu", chunk);
		cr_assert_str_eq(run.out[run.n - 1].tag, "a");
		if (chunks[k] == 0)
			break;
	}
	guarded_free(store);
}

/* Every chunk size from 1 to len. */
static void
refused_within_store_every_split(const char *in, size_t len, size_t max_line,
    size_t cap)
{
	size_t chunks[2] = {0, 0};

	for (size_t c = 1; c <= len; c++) {
		chunks[0] = c;
		refused_within_store(in, len, max_line, cap, chunks);
	}
}

Test(imap, empty_strings_after_literals_stay_inside_the_store)
{
	static char in[STORE_CAP + 1024];
	size_t len;

	/* The store filled by literals to its last byte; each "" still
	 * needs a byte for its NUL. */
	len = fill_then(in, sizeof(in), STORE_CAP, 1, true, "\"\"", 52);
	refused_within_store_every_split(in, len, MAX_LINE, STORE_CAP);
	len = fill_then(in, sizeof(in), STORE_CAP, 1, false, "\"\"", 52);
	refused_within_store_every_split(in, len, MAX_LINE, STORE_CAP);
}

Test(imap, every_kind_of_value_after_a_full_store_is_refused)
{
	static const char *const tails[] = {"\"\"", "\"x\"", "\"\\\\\"", "a",
	    "NIL", "{0+}\r\n", "{1+}\r\nz", "(\"\")"};
	static char in[STORE_CAP + 1024];

	for (size_t t = 0; t < sizeof(tails) / sizeof(tails[0]); t++) {
		size_t len =
		    fill_then(in, sizeof(in), STORE_CAP, 1, true, tails[t], 3);

		refused_within_store_every_split(in, len, MAX_LINE, STORE_CAP);
	}
}

Test(imap, the_reported_overflow_at_the_daemon_default_size)
{
	/* max_command_size 10240, literals of up to 1024 bytes: eleven
	 * {1024+}, one {1011+} and 52 "" wrote 51 bytes past the store. */
	enum { LINE = 10240, CAP = LINE + 2 * LIT_MAX };
	static const size_t chunks[] = {1, 2, 3, 5, 7, 64, 1000, 1025, 4096, 0};
	static char in[CAP + 1024];
	size_t len = fill_then(in, sizeof(in), CAP, 1, true, "\"\"", 52);

	cr_assert_not_null(strstr(in, "{1011+}"));
	refused_within_store(in, len, LINE, CAP, chunks);
}

Test(imap, a_literal_may_fill_the_store_exactly)
{
	static char in[STORE_CAP + 1024];
	static struct run run;
	char *store = guarded_store(STORE_CAP);
	/* The last literal's NUL is the store's last byte. */
	size_t len = fill_then(in, sizeof(in), STORE_CAP, 0, true, "", 0);

	feed_store(in, len, len, MAX_LINE, store, STORE_CAP, guards_intact,
	    &run);
	cr_assert_eq(run.n, 1);
	cr_assert_eq(run.out[0].r, IMAP_PARSE_COMMAND);
	guarded_free(store);
}

Test(imap, synchronising_literal_without_room_is_refused_before_plus)
{
	static char in[STORE_CAP + 1024];
	static struct run run;
	char *store = guarded_store(STORE_CAP);
	size_t len = fill_then(in, sizeof(in), STORE_CAP, 1, true, "{5}", 1);

	memcpy(in + len, "b NOOP\r\n", 9);
	len += 8;
	feed_store(in, len, len, MAX_LINE, store, STORE_CAP, guards_intact,
	    &run);
	cr_assert_eq(run.n, 2);
	cr_assert_eq(run.out[0].r, IMAP_PARSE_INVALID);
	cr_assert_eq(run.out[0].error, IMAP_ERR_TOO_LONG);
	cr_assert_not(run.out[0].fatal);
	cr_assert_eq(run.out[1].r, IMAP_PARSE_COMMAND);
	cr_assert_eq(run.out[1].cmd, IMAP_CMD_NOOP);
	guarded_free(store);
}

/* --- SASL lines --------------------------------------------------------- */

static enum imap_parse_result
sasl_whole(struct imap_parser *p, const char *in, size_t *used)
{
	return imap_parse_sasl(p, in, strlen(in), used);
}

Test(imap, sasl_response_line)
{
	static char store[STORE_CAP];
	struct imap_parser p;
	const char *in = "AGFsaWNlAHNlY3JldA==\r\nz NOOP\r\n";
	size_t used, total = 0;
	enum imap_parse_result r = IMAP_PARSE_NEED_MORE;

	cr_assert_eq(
	    imap_parser_init(&p, MAX_LINE, LIT_MAX, store, sizeof(store)), 0);
	/* Byte by byte, then the next command with the command parser. */
	while (r == IMAP_PARSE_NEED_MORE) {
		r = imap_parse_sasl(&p, in + total, 1, &used);
		total += used;
	}
	cr_assert_eq(r, IMAP_PARSE_SASL_RESPONSE);
	cr_assert_eq(total, 22);
	cr_assert_str_eq(p.cmd.args[0].data, "AGFsaWNlAHNlY3JldA==");
	cr_assert_eq(p.cmd.args[0].len, 20);
	cr_assert_eq(imap_parse(&p, in + total, strlen(in) - total, &used),
	    IMAP_PARSE_COMMAND);
	cr_assert_eq(p.cmd.cmd, IMAP_CMD_NOOP);
}

Test(imap, sasl_cancel_and_garbage)
{
	static char store[STORE_CAP];
	struct imap_parser p;
	size_t used;

	cr_assert_eq(
	    imap_parser_init(&p, MAX_LINE, LIT_MAX, store, sizeof(store)), 0);
	cr_assert_eq(sasl_whole(&p, "*\r\n", &used), IMAP_PARSE_SASL_CANCEL);
	cr_assert_eq(sasl_whole(&p, "a NOOP\r\n", &used), IMAP_PARSE_INVALID);
	cr_assert_eq(p.cmd.error, IMAP_ERR_BAD_BASE64);
	cr_assert_not(p.cmd.fatal);
	cr_assert_eq(sasl_whole(&p, "YQ\r==\r\n", &used), IMAP_PARSE_INVALID);
	cr_assert_eq(sasl_whole(&p, "\r\n", &used), IMAP_PARSE_SASL_RESPONSE);
	cr_assert_eq(p.cmd.args[0].len, 0);
}

Test(imap, sasl_line_may_hold_the_longest_plain_response)
{
	static char store[STORE_CAP];
	static char in[4096];
	struct imap_parser p;
	size_t used;

	/* max_command_size at its minimum still lets a long PLAIN through. */
	cr_assert_eq(imap_parser_init(&p, 1024, LIT_MAX, store, sizeof(store)),
	    0);
	memset(in, 'Q', 2048);
	memcpy(in + 2048, "\r\n", 3);
	cr_assert_eq(sasl_whole(&p, in, &used), IMAP_PARSE_SASL_RESPONSE);
	cr_assert_eq(p.cmd.args[0].len, 2048);
	memset(in, 'Q', 3000);
	memcpy(in + 3000, "\r\n", 3);
	cr_assert_eq(sasl_whole(&p, in, &used), IMAP_PARSE_INVALID);
	cr_assert(p.cmd.fatal);
	cr_assert_eq(p.cmd.error, IMAP_ERR_TOO_LONG);
}

/* --- after a refused AUTHENTICATE -------------------------------------- */

/*
 * Feeds in to imap_parse_refused() in chunks of the given size up to its
 * first result other than NEED_MORE and LITERAL_WAIT; *pos is how far.
 */
static enum imap_parse_result
refused_chunks(struct imap_parser *p, const char *in, size_t len, size_t chunk,
    size_t *pos)
{
	*pos = 0;
	while (*pos < len) {
		size_t n = len - *pos < chunk ? len - *pos : chunk, used = 0;
		enum imap_parse_result r;

		r = imap_parse_refused(p, in + *pos, n, &used);
		cr_assert(used <= n);
		*pos += used;
		if (r == IMAP_PARSE_LITERAL_WAIT) {
			imap_parser_literal_accept(p);
			continue;
		}
		if (r != IMAP_PARSE_NEED_MORE)
			return r;
	}
	return IMAP_PARSE_NEED_MORE;
}

static bool
store_holds(const char *store, size_t cap, const char *what)
{
	size_t n = strlen(what);

	for (size_t i = 0; i + n <= cap; i++)
		if (memcmp(store + i, what, n) == 0)
			return true;
	return false;
}

Test(imap, refused_sasl_response_is_discarded_and_wiped)
{
	static const char *const lines[] = {
	    "AGFsaWNlAHNlY3JldA==", /* PLAIN: alice, secret */
	    "AGFsaWNlAHNlY3JldA",   /* unpadded */
	    "dXNlcjpzZWNyZXQ=",     /* not PLAIN */
	    "user:secret",          /* not base64 at all */
	    "*",                    /* a cancel */
	    "",                     /* an empty response */
	    "sec+ret sec/ret",      /* a space, but no tag before it */
	    "secret\rsecret",       /* a CR inside */
	};
	static char store[STORE_CAP];
	static char in[256];

	for (size_t k = 0; k < sizeof(lines) / sizeof(lines[0]); k++) {
		size_t len = (size_t)snprintf(in, sizeof(in),
		    "%s\r\nb NOOP\r\n", lines[k]);
		size_t line = strlen(lines[k]) + 2;

		for (size_t chunk = 1; chunk <= len; chunk++) {
			struct imap_parser p;
			size_t pos, used;

			memset(store, 0, sizeof(store));
			cr_assert_eq(imap_parser_init(&p, MAX_LINE, LIT_MAX,
					 store, sizeof(store)),
			    0);
			cr_assert_eq(refused_chunks(&p, in, len, chunk, &pos),
			    IMAP_PARSE_SASL_DISCARD, "line %zu chunk %zu", k,
			    chunk);
			cr_assert_eq(pos, line, "line %zu chunk %zu", k, chunk);
			cr_assert_eq(p.cmd.nargs, 0);
			cr_assert_str_eq(p.cmd.tag, "");
			cr_assert_not(store_holds(store, sizeof(store), "ec"),
			    "line %zu: the response stays in the store", k);
			/* The next command is parsed as usual. */
			cr_assert_eq(imap_parse(&p, in + pos, len - pos, &used),
			    IMAP_PARSE_COMMAND);
			cr_assert_str_eq(p.cmd.tag, "b");
			cr_assert_eq(p.cmd.cmd, IMAP_CMD_NOOP);
		}
	}
}

Test(imap, refused_then_a_command_is_a_command)
{
	static char store[STORE_CAP];
	static const char in[] = "a2 LOGIN {5+}\r\nalice {6}\r\nsecret\r\n";
	size_t len = sizeof(in) - 1;

	for (size_t chunk = 1; chunk <= len; chunk++) {
		struct imap_parser p;
		size_t pos;

		cr_assert_eq(imap_parser_init(&p, MAX_LINE, LIT_MAX, store,
				 sizeof(store)),
		    0);
		cr_assert_eq(refused_chunks(&p, in, len, chunk, &pos),
		    IMAP_PARSE_COMMAND, "chunk %zu", chunk);
		cr_assert_eq(pos, len);
		cr_assert_str_eq(p.cmd.tag, "a2");
		cr_assert_eq(p.cmd.cmd, IMAP_CMD_LOGIN);
		cr_assert_eq(p.cmd.nargs, 2);
		cr_assert_str_eq(p.cmd.args[0].data, "alice");
		cr_assert_str_eq(p.cmd.args[1].data, "secret");
	}
}

Test(imap, refused_then_a_bad_command_keeps_its_tag)
{
	static char store[STORE_CAP];
	struct imap_parser p;
	size_t pos;

	cr_assert_eq(
	    imap_parser_init(&p, MAX_LINE, LIT_MAX, store, sizeof(store)), 0);
	cr_assert_eq(refused_chunks(&p, "t1 (\r\n", 7, 7, &pos),
	    IMAP_PARSE_INVALID);
	cr_assert_str_eq(p.cmd.tag, "t1");
	cr_assert_not(p.cmd.fatal);
	cr_assert(p.handover);
}

Test(imap, refused_overlong_response_is_fatal_and_untagged)
{
	static char store[STORE_CAP];
	static char in[4096];
	struct imap_parser p;
	size_t pos;

	cr_assert_eq(
	    imap_parser_init(&p, MAX_LINE, LIT_MAX, store, sizeof(store)), 0);
	memset(in, 'Q', 3000);
	memcpy(in + 3000, "\r\n", 3);
	cr_assert_eq(refused_chunks(&p, in, 3002, 3002, &pos),
	    IMAP_PARSE_INVALID);
	cr_assert(p.cmd.fatal);
	cr_assert_eq(p.cmd.error, IMAP_ERR_TOO_LONG);
	cr_assert_str_eq(p.cmd.tag, "");
}

/* --- ID values for the logs ------------------------------------------- */

static void
assert_id_value(const char *in, size_t len, size_t cap, const char *want)
{
	char out[80];

	cr_assert_leq(cap, sizeof(out) - 8);
	memset(out, 'Z', sizeof(out));
	imap_id_value(in, len, out, cap);
	if (cap > 0)
		cr_assert_str_eq(out, want);
	for (size_t i = cap; i < sizeof(out); i++)
		cr_assert_eq(out[i], 'Z', "written at %zu, cap %zu", i, cap);
}

Test(imap, id_value_control_characters_become_question_marks)
{
	assert_id_value("Thunderbird", 11, 64, "Thunderbird");
	/* A literal may carry line ends and NULs. */
	assert_id_value("a\r\nX<5>b\0c\x7f\t", 12, 64, "a??X<5>b?c??");
	assert_id_value("", 0, 64, "");
}

Test(imap, id_value_is_cut_on_a_character_boundary)
{
	static char in[80];

	memset(in, 'x', 70);
	assert_id_value(in, 70, 64,
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxx");
	/* "\xc3\xa9" would end at byte 64: no room for the NUL, so it
	 * goes whole, never its first byte alone. */
	memset(in, 'x', 62);
	memcpy(in + 62, "\xc3\xa9", 2);
	assert_id_value(in, 64, 64,
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxx");
	assert_id_value(in + 1, 63, 64,
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxx\xc3\xa9");
	assert_id_value("\xf0\x9f\x98\x80!", 5, 5, "\xf0\x9f\x98\x80");
	assert_id_value("\xf0\x9f\x98\x80!", 5, 4, "");
	assert_id_value("abc", 3, 1, "");
	assert_id_value("abc", 3, 0, NULL);
}

Test(imap, id_value_bytes_that_are_not_utf8_become_question_marks)
{
	assert_id_value("\xc3", 1, 64, "?");                /* cut short */
	assert_id_value("\xc0\xaf", 2, 64, "??");           /* overlong */
	assert_id_value("\xe0\x80\xaf", 3, 64, "???");      /* overlong */
	assert_id_value("\xed\xa0\x80", 3, 64, "???");      /* surrogate */
	assert_id_value("\xf4\x90\x80\x80", 4, 64, "????"); /* > U+10FFFF */
	assert_id_value("\xff\xe2\x82\xac", 4, 64, "?\xe2\x82\xac");
}

Test(imap, error_texts_are_fixed_strings)
{
	for (int e = IMAP_ERR_NONE; e <= IMAP_ERR_BAD_BASE64; e++) {
		const char *t = imap_error_text((enum imap_error)e);

		cr_assert_not_null(t);
		cr_assert_gt(strlen(t), 5);
		cr_assert_null(strchr(t, '%'));
		cr_assert_null(strchr(t, '\n'));
	}
}

/* --- backend lines ------------------------------------------------------ */

static int
resp(const char *line, struct imap_response *r)
{
	return imap_response_parse(line, strlen(line), r);
}

static bool
span_is(struct imap_span s, const char *want)
{
	return s.len == strlen(want) && memcmp(s.p, want, s.len) == 0;
}

Test(imap, greeting_with_capabilities)
{
	struct imap_response r;

	cr_assert_eq(resp("* OK [CAPABILITY IMAP4rev1 SASL-IR STARTTLS "
			  "AUTH=PLAIN] Dovecot ready.",
			 &r),
	    0);
	cr_assert_eq(r.kind, IMAP_RESP_UNTAGGED);
	cr_assert_eq(r.status, IMAP_STATUS_OK);
	cr_assert(r.has_caps);
	cr_assert(span_is(r.code, "CAPABILITY"));
	cr_assert(span_is(r.caps, "IMAP4rev1 SASL-IR STARTTLS AUTH=PLAIN"));
	cr_assert(span_is(r.text, "Dovecot ready."));
	cr_assert_not(r.has_literal);
}

Test(imap, exchange_greeting)
{
	struct imap_response r;

	cr_assert_eq(resp("* OK The Microsoft Exchange IMAP4 service is "
			  "ready.",
			 &r),
	    0);
	cr_assert_eq(r.status, IMAP_STATUS_OK);
	cr_assert_not(r.has_caps);
	cr_assert_eq(r.code.len, 0);
	cr_assert(
	    span_is(r.text, "The Microsoft Exchange IMAP4 service is ready."));
}

Test(imap, tagged_answers_with_codes)
{
	struct imap_response r;

	cr_assert_eq(resp("A2 NO [UNAVAILABLE] Try again later", &r), 0);
	cr_assert_eq(r.kind, IMAP_RESP_TAGGED);
	cr_assert_eq(r.status, IMAP_STATUS_NO);
	cr_assert(span_is(r.tag, "A2"));
	cr_assert(span_is(r.code, "UNAVAILABLE"));
	cr_assert(span_is(r.text, "Try again later"));

	cr_assert_eq(resp("A2 ok [CAPABILITY IMAP4rev1 IDLE] Logged in", &r),
	    0);
	cr_assert_eq(r.status, IMAP_STATUS_OK);
	cr_assert(r.has_caps);
	cr_assert(span_is(r.caps, "IMAP4rev1 IDLE"));

	cr_assert_eq(resp("A1 OK", &r), 0);
	cr_assert_eq(r.status, IMAP_STATUS_OK);
	cr_assert_eq(r.text.len, 0);

	cr_assert_eq(resp("A1 BAD [CAPABILITY] x", &r), 0);
	cr_assert(r.has_caps);
	cr_assert_eq(r.caps.len, 0);
}

Test(imap, untagged_capability_and_data)
{
	struct imap_response r;

	cr_assert_eq(resp("* CAPABILITY IMAP4rev1 LITERAL+ AUTH=PLAIN", &r), 0);
	cr_assert_eq(r.kind, IMAP_RESP_UNTAGGED);
	cr_assert_eq(r.status, IMAP_STATUS_NONE);
	cr_assert(r.has_caps);
	cr_assert(span_is(r.caps, "IMAP4rev1 LITERAL+ AUTH=PLAIN"));

	cr_assert_eq(resp("* 3 EXISTS", &r), 0);
	cr_assert_eq(r.status, IMAP_STATUS_NONE);
	cr_assert_not(r.has_caps);
	cr_assert_eq(resp("* BYE shutting down", &r), 0);
	cr_assert_eq(r.status, IMAP_STATUS_BYE);
}

Test(imap, continuation_lines)
{
	struct imap_response r;

	cr_assert_eq(resp("+ ", &r), 0);
	cr_assert_eq(r.kind, IMAP_RESP_CONTINUATION);
	cr_assert_eq(resp("+", &r), 0);
	cr_assert_eq(r.kind, IMAP_RESP_CONTINUATION);
	cr_assert_eq(resp("+ VXNlcm5hbWU6", &r), 0);
	cr_assert(span_is(r.text, "VXNlcm5hbWU6"));
}

Test(imap, trailing_literal_is_announced)
{
	struct imap_response r;

	cr_assert_eq(resp("* ID (\"name\" {7}", &r), 0);
	cr_assert(r.has_literal);
	cr_assert_eq(r.literal, 7);
	cr_assert_eq(resp("* 1 FETCH (BODY[] {5242880}", &r), 0);
	cr_assert_eq(r.literal, 5242880);
	cr_assert_eq(resp("* OK {x}", &r), 0);
	cr_assert_not(r.has_literal);
	cr_assert_eq(resp("* OK }", &r), 0);
	cr_assert_not(r.has_literal);
}

Test(imap, fragments_and_broken_lines)
{
	struct imap_response r;

	cr_assert_eq(resp(")", &r), 0);
	cr_assert_eq(r.kind, IMAP_RESP_FRAGMENT);
	cr_assert_eq(resp(" \"version\" \"2.3\")", &r), 0);
	cr_assert_eq(r.kind, IMAP_RESP_FRAGMENT);
	cr_assert_eq(resp("", &r), 0);
	cr_assert_eq(r.kind, IMAP_RESP_FRAGMENT);
	cr_assert_eq(resp("A1 WHAT is this", &r), -1);
	cr_assert_eq(resp("A1 PREAUTH", &r), -1);
	cr_assert_eq(imap_response_parse("* OK\0x", 6, &r), -1);
}

/* --- capability lists --------------------------------------------------- */

Test(imap, caps_has_matches_whole_words_in_any_case)
{
	const char *c = "IMAP4rev1 auth=plain AUTH=PLAINX SASL-IR";

	cr_assert(imap_caps_has(c, strlen(c), "AUTH=PLAIN"));
	cr_assert(imap_caps_has(c, strlen(c), "sasl-ir"));
	cr_assert_not(imap_caps_has(c, strlen(c), "AUTH=PLAI"));
	cr_assert_not(imap_caps_has(c, strlen(c), "STARTTLS"));
	cr_assert_not(imap_caps_has(c, 0, "IMAP4rev1"));
	/* The span ends where it says, not at a NUL. */
	cr_assert_not(imap_caps_has(c, 9, "auth=plain"));
}

/* One pass says what imap_caps_has() says of each name it knows. */
Test(imap, caps_scan_agrees_with_caps_has)
{
	static const struct {
		const char *name;
		unsigned bit;
	} names[] = {
	    {"STARTTLS", IMAP_CAP_STARTTLS},
	    {"LOGINDISABLED", IMAP_CAP_LOGINDISABLED},
	    {"AUTH=PLAIN", IMAP_CAP_AUTH_PLAIN},
	    {"SASL-IR", IMAP_CAP_SASL_IR},
	    {"LITERAL+", IMAP_CAP_LITERAL_PLUS},
	    {"ID", IMAP_CAP_ID},
	};
	const char *lists[] = {
	    "",
	    "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ "
	    "STARTTLS AUTH=PLAIN",
	    "IMAP4rev1 starttls logindisabled id",
	    "IMAP4rev1 AUTH=PLAINX IDX LITERAL+X SASL-IRX STARTTLS2 I D",
	    "  ID   SASL-IR  ",
	    "AUTH=PLAIN LITERAL+",
	};

	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
		size_t len = strlen(lists[i]);
		unsigned bits = imap_caps_scan(lists[i], len);

		for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++)
			cr_assert_eq(!!(bits & names[k].bit),
			    imap_caps_has(lists[i], len, names[k].name),
			    "%s in \"%s\"", names[k].name, lists[i]);
	}
	/* The span ends where it says, not at a NUL. */
	cr_assert_eq(imap_caps_scan("ID STARTTLS", 2), IMAP_CAP_ID);
}

Test(imap, caps_filter_drops_what_cannot_be_relayed)
{
	const char *c = "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE "
			"STARTTLS LOGINDISABLED AUTH=PLAIN auth=login "
			"COMPRESS=DEFLATE UNAUTHENTICATE LITERAL+ MOVE "
			"literal- LITERAL+X";
	char out[256];

	cr_assert_eq(imap_caps_filter(c, strlen(c), out, sizeof(out)), 0);
	cr_assert_str_eq(out, "IMAP4rev1 ID ENABLE IDLE MOVE LITERAL+X");
	cr_assert_eq(imap_caps_filter(c, strlen(c), out, 10), -1);
	cr_assert_eq(imap_caps_filter("STARTTLS", 8, out, sizeof(out)), 0);
	cr_assert_str_eq(out, "");
	/* Any case; a word only as long as a prefix's start, or one letter
	 * short of a name, is another capability and stays. */
	c = "sasl-ir Login-Referrals unauthenticate starttls LOGINdisabled "
	    "Auth=XOAUTH2 compress=deflate AUTH AUTHX COMPRESS SASL STARTTL "
	    "LITERAL UNSELECT CHILDREN LIST-STATUS";
	cr_assert_eq(imap_caps_filter(c, strlen(c), out, sizeof(out)), 0);
	cr_assert_str_eq(out, "AUTH AUTHX COMPRESS SASL STARTTL LITERAL "
			      "UNSELECT CHILDREN LIST-STATUS");
	/* A NUL in a backend's list ends a word as a space does, in the
	 * filter and in the scan alike. */
	{
		static const char z[] = "IMAP4rev1\0STARTTLS IDLE\0\0ID";
		size_t zl = sizeof(z) - 1;

		cr_assert_eq(imap_caps_filter(z, zl, out, sizeof(out)), 0);
		cr_assert_str_eq(out, "IMAP4rev1 IDLE ID");
		cr_assert_eq(imap_caps_scan(z, zl),
		    IMAP_CAP_STARTTLS | IMAP_CAP_ID);
	}
}

Test(imap, preauth_caps_follow_the_policy)
{
	char out[256];

	cr_assert_eq(imap_caps_preauth(false, true, false, out, sizeof(out)),
	    0);
	cr_assert_str_eq(out, "IMAP4rev1 ID STARTTLS LOGINDISABLED");
	cr_assert_eq(imap_caps_preauth(true, true, true, out, sizeof(out)), 0);
	cr_assert_str_eq(out, "IMAP4rev1 ID SASL-IR AUTH=PLAIN AUTH=LOGIN");
	cr_assert_eq(imap_caps_preauth(false, true, true, out, sizeof(out)), 0);
	cr_assert(strstr(out, "STARTTLS") != NULL);
	cr_assert(strstr(out, "AUTH=PLAIN") != NULL);
	cr_assert(strstr(out, "LOGINDISABLED") == NULL);
	cr_assert_eq(imap_caps_preauth(false, false, true, out, sizeof(out)),
	    0);
	cr_assert(strstr(out, "STARTTLS") == NULL);
	cr_assert_eq(imap_caps_preauth(false, true, false, out, 10), -1);
	/* 35 characters: they fit with their NUL, not without. */
	cr_assert_eq(imap_caps_preauth(false, true, false, out, 36), 0);
	cr_assert_str_eq(out, "IMAP4rev1 ID STARTTLS LOGINDISABLED");
	cr_assert_eq(imap_caps_preauth(false, true, false, out, 35), -1);
	cr_assert_eq(imap_caps_preauth(false, true, false, out, 0), -1);
}

/* --- quoting for the backend ------------------------------------------- */

Test(imap, quote_astring)
{
	char out[64];
	size_t n;

	cr_assert_eq(imap_quote_astring("alice", 5, out, sizeof(out), &n), 0);
	cr_assert_str_eq(out, "\"alice\"");
	cr_assert_eq(n, 7);
	cr_assert_eq(imap_quote_astring("a\"b\\c d", 7, out, sizeof(out), &n),
	    0);
	cr_assert_str_eq(out, "\"a\\\"b\\\\c d\"");
	cr_assert_eq(n, 11);
	cr_assert_eq(imap_quote_astring("", 0, out, sizeof(out), &n), 0);
	cr_assert_str_eq(out, "\"\"");
	cr_assert_eq(imap_quote_astring("j\xc3\xb6rg", 5, out, sizeof(out), &n),
	    1);
	cr_assert_eq(imap_quote_astring("a\tb", 3, out, sizeof(out), &n), 1);
	cr_assert_eq(imap_quote_astring("abcdef", 6, out, 8, &n), -1);
	cr_assert_eq(imap_quote_astring("abcdef", 6, out, 9, &n), 0);
}

/* A quoted value read back by the parser is the value that was quoted. */
Test(imap, quote_then_parse_round_trip)
{
	static const char *const vals[] = {"p\"a\\s\"s", "\\\\", "\"", "a b"};
	static struct run run;
	char q[64], line[160];
	size_t n;

	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		cr_assert_eq(imap_quote_astring(vals[i], strlen(vals[i]), q,
				 sizeof(q), &n),
		    0);
		snprintf(line, sizeof(line), "a LOGIN u %s\r\n", q);
		parse_all_ways(line, &run);
		assert_value(&run.out[0], 1, IMAP_VAL_QUOTED, vals[i]);
	}
}

/* --- after login: the readers, fed at every split ------------------------ */

/* One reader result, as the tests compare them. */
struct frame_ev {
	enum imap_frame kind;
	char tag[IMAP_TAG_MAX + 1];
	char verb[IMAP_VERB_MAX];
	char params[IMAP_PARAMS_KEPT + 8];
	uint64_t bytes; /* client: the command's; server: up to the event */
	enum imap_status status;
};

#define EV_MAX 32
#define SIM_MAX 2048

/* One step of a session: bytes the client sends or the server answers. */
struct step {
	char dir; /* 'C' or 'S' */
	const char *text;
};

/*
 * A session as the relay runs it: the client sends everything at once
 * (the worst case), the reader takes what it may; a server step is
 * answered only once the client bytes before it went through.
 */
struct sim {
	struct frame_ev ev[EV_MAX];
	size_t nev;
	char client[SIM_MAX];
	size_t clen, passed;
	char server[SIM_MAX];
	size_t slen, sfed;
	size_t refused, hidden;
	/* A non-synchronising literal's header: where it starts, and its
	 * "+" or "-" (0: none). */
	size_t hdr, plus;
};

static void
sim_event(struct sim *o, enum imap_frame r, const struct imap_cframe *f)
{
	struct frame_ev *e;

	cr_assert_lt(o->nev, EV_MAX);
	e = &o->ev[o->nev++];
	e->kind = r;
	snprintf(e->tag, sizeof(e->tag), "%s", f->tag);
	snprintf(e->verb, sizeof(e->verb), "%s", f->verb);
	snprintf(e->params, sizeof(e->params), "%s", f->params);
	e->bytes = f->bytes;
}

/* The end of the next call's span: at most chunk bytes, never past cut. */
static size_t
sim_end(size_t at, size_t len, size_t cut, size_t chunk)
{
	size_t end = len;

	if (at < cut && cut < end)
		end = cut;
	if (end - at > chunk)
		end = at + chunk;
	return end;
}

static void
sim_run(const struct step *st, size_t n, size_t ccut, size_t scut, size_t chunk,
    struct sim *o)
{
	struct imap_cframe f;
	struct imap_sframe g;
	size_t need[16], send[16], ns = 0;
	bool ended = false;

	memset(o, 0, sizeof(*o));
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(st[i].text);

		if (st[i].dir == 'C') {
			cr_assert_lt(o->clen + l, SIM_MAX);
			memcpy(o->client + o->clen, st[i].text, l);
			o->clen += l;
		} else {
			cr_assert_lt(o->slen + l, SIM_MAX);
			cr_assert_lt(ns, 16);
			memcpy(o->server + o->slen, st[i].text, l);
			o->slen += l;
			need[ns] = o->clen;
			send[ns++] = o->slen;
		}
	}
	imap_cframe_init(&f);
	imap_sframe_init(&g);
	for (;;) {
		bool progress = false;
		size_t avail = 0;

		while (o->passed < o->clen && !ended) {
			size_t end = sim_end(o->passed, o->clen, ccut, chunk),
			       c;
			enum imap_frame r = imap_cframe_feed(&f,
			    o->client + o->passed, end - o->passed, &c);

			cr_assert_leq(c, end - o->passed);
			o->passed += c;
			progress = progress || c > 0;
			if (r == IMAP_FRAME_HOLD)
				break;
			if (r == IMAP_FRAME_MORE) {
				cr_assert_eq(o->passed, end);
				continue;
			}
			sim_event(o, r, &f);
			if (r == IMAP_FRAME_REFUSED) {
				/* It says so again, and takes nothing. */
				cr_assert_eq(imap_cframe_feed(&f,
						 o->client + o->passed,
						 o->clen - o->passed, &c),
				    IMAP_FRAME_REFUSED);
				cr_assert_eq(c, 0);
				ended = true;
			}
		}
		for (size_t k = 0; k < ns && need[k] <= o->passed; k++)
			avail = send[k];
		while (o->sfed < avail) {
			size_t end = sim_end(o->sfed, avail, scut, chunk), c;
			enum imap_frame r = imap_sframe_feed(&g,
			    o->server + o->sfed, end - o->sfed, &c);

			cr_assert_leq(c, end - o->sfed);
			o->sfed += c;
			progress = true;
			if (r == IMAP_FRAME_MORE)
				continue;
			if (imap_cframe_answer(&f, r, g.tag) ==
			    IMAP_FRAME_COMMAND)
				sim_event(o, IMAP_FRAME_COMMAND, &f);
		}
		if (!progress)
			break;
	}
	o->refused = f.refused;
	o->hidden = g.hidden;
}

/*
 * The reference reading, written plainly over whole lines: where a line
 * ends in a literal header at a string's start, the server's answers say
 * whether literal data follows ("+") or a new command (the tagged
 * answer); after IDLE, "+" makes the next line the IDLE's end.  Server
 * steps here hold no literals, and tags are unique.
 */
struct ref_server {
	const char *lines[32];
	size_t n, at;
};

/* The next server line that is "+" or tagged with tag: '+', 't' or 0. */
static char
ref_answer(struct ref_server *rs, const char *tag)
{
	size_t tl = strlen(tag);

	while (rs->at < rs->n) {
		const char *l = rs->lines[rs->at++];

		if (l[0] == '+')
			return '+';
		if (strncmp(l, tag, tl) == 0 && l[tl] == ' ')
			return 't';
	}
	return 0;
}

/*
 * Whether buf[a..e) ends in a literal header at a string's start outside
 * quoted strings: its size in *n, the position of a "+" or "-" in *plus
 * (or 0), where the header starts in *hdr.
 */
static bool
ref_literal(const char *buf, size_t a, size_t e, uint64_t *n, size_t *plus,
    size_t *hdr)
{
	size_t p = e, q = 0;

	*plus = 0;
	if (p <= a || buf[p - 1] != '}')
		return false;
	p--;
	if (p > a && (buf[p - 1] == '+' || buf[p - 1] == '-'))
		*plus = --p;
	while (p > a && buf[p - 1] >= '0' && buf[p - 1] <= '9')
		p--;
	if (p == a || buf[p - 1] != '{' || p == (*plus != 0 ? *plus : e - 1))
		return false;
	*n = strtoull(buf + p, NULL, 10);
	p--;
	if (p > a && buf[p - 1] == '~')
		p--;
	*hdr = p;
	for (size_t i = a; i < p; i++) {
		if (buf[i] == '\\' && q % 2 == 1)
			i++;
		else if (buf[i] == '"')
			q++;
	}
	if (q % 2 == 1)
		return false;
	return p == a || strchr(" ()\"", buf[p - 1]) != NULL;
}

static void
ref_run(const struct step *st, size_t n, struct sim *o)
{
	struct ref_server rs = {.n = 0};
	static char sbuf[SIM_MAX];
	char idletag[IMAP_TAG_MAX + 1] = "";
	size_t pos = 0, sl = 0;
	bool idling = false;

	memset(o, 0, sizeof(*o));
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(st[i].text);
		char *b = st[i].dir == 'C' ? o->client + o->clen : sbuf + sl;

		memcpy(b, st[i].text, l + 1);
		if (st[i].dir == 'C') {
			o->clen += l;
			continue;
		}
		sl += l + 1;
		for (char *line = strtok(b, "\n"); line != NULL;
		     line = strtok(NULL, "\n"))
			rs.lines[rs.n++] = line;
	}
	while (pos < o->clen) {
		char *nl = memchr(o->client + pos, '\n', o->clen - pos);
		size_t start = pos, e, a;
		struct frame_ev *ev = &o->ev[o->nev];
		char *sp;

		if (nl == NULL)
			break;
		memset(ev, 0, sizeof(*ev));
		if (idling) {
			idling = false;
			ev->kind = IMAP_FRAME_DONE;
			snprintf(ev->tag, sizeof(ev->tag), "%s", idletag);
			snprintf(ev->verb, sizeof(ev->verb), "done");
			pos = (size_t)(nl - o->client) + 1;
			ev->bytes = pos - start;
			o->nev++;
			continue;
		}
		ev->kind = IMAP_FRAME_COMMAND;
		e = (size_t)(nl - o->client);
		if (e > pos && o->client[e - 1] == '\r')
			e--;
		sp = memchr(o->client + pos, ' ', e - pos);
		a = sp != NULL ? (size_t)(sp - o->client) : e;
		snprintf(ev->tag, sizeof(ev->tag), "%.*s", (int)(a - pos),
		    o->client + pos);
		if (sp != NULL) {
			size_t v = a + 1, w = v;

			while (w < e && o->client[w] != ' ')
				w++;
			for (size_t i = v; i < w && i - v + 1 < IMAP_VERB_MAX;
			     i++)
				ev->verb[i - v] =
				    (char)tolower((unsigned char)o->client[i]);
			if (strcmp(ev->verb, "compress") == 0 &&
			    (o->client[w] == ' ' || o->client[w] == '\r')) {
				o->client[w] = 'X';
				o->refused++;
			}
			if (strcmp(ev->verb, "uid") == 0 && w < e) {
				size_t x = w + 1;

				w = x;
				while (w < e && o->client[w] != ' ')
					w++;
				snprintf(ev->verb + 3, IMAP_VERB_MAX - 3,
				    "+%.*s", (int)(w - x), o->client + x);
				for (char *c = ev->verb; *c != '\0'; c++)
					*c = (char)tolower((unsigned char)*c);
			}
			a = w < e ? w + 1 : e;
		}
		for (;;) {
			uint64_t lit;
			size_t plus, hdr;
			bool is_lit =
			    strcmp(ev->verb, "idle") != 0 &&
			    ref_literal(o->client, a, e, &lit, &plus, &hdr);

			if (is_lit && plus != 0) {
				/* The session ends: nothing from the header
				 * on is sent. */
				ev->kind = IMAP_FRAME_REFUSED;
				ev->bytes = plus + 1 - start;
				o->nev++;
				o->hdr = hdr;
				o->plus = plus;
				o->clen = hdr;
				return;
			}
			pos = (size_t)(nl - o->client) + 1;
			if (!is_lit || ref_answer(&rs, ev->tag) != '+')
				break;
			/* Literal data, then the line goes on. */
			a = pos + lit;
			nl = memchr(o->client + a, '\n', o->clen - a);
			if (nl == NULL) {
				pos = o->clen + 1;
				break;
			}
			e = (size_t)(nl - o->client);
			if (e > a && o->client[e - 1] == '\r')
				e--;
		}
		if (pos > o->clen)
			break;
		ev->bytes = pos - start;
		o->nev++;
		if (strcmp(ev->verb, "idle") == 0 &&
		    ref_answer(&rs, ev->tag) == '+') {
			idling = true;
			snprintf(idletag, sizeof(idletag), "%s", ev->tag);
		}
	}
}

/* Checks a reader run against the reference reading of the same steps;
 * passed: how far the reader should have let the client's bytes go. */
static void
sim_matches(const struct sim *got, const struct sim *want, size_t passed,
    const char *how)
{
	cr_assert_eq(got->nev, want->nev, "%s: %zu events, want %zu", how,
	    got->nev, want->nev);
	for (size_t i = 0; i < want->nev; i++) {
		cr_assert_eq(got->ev[i].kind, want->ev[i].kind, "%s: ev %zu",
		    how, i);
		cr_assert_str_eq(got->ev[i].tag, want->ev[i].tag, "%s: ev %zu",
		    how, i);
		cr_assert_str_eq(got->ev[i].verb, want->ev[i].verb,
		    "%s: ev %zu", how, i);
		cr_assert_eq(got->ev[i].bytes, want->ev[i].bytes,
		    "%s: ev %zu bytes", how, i);
	}
	cr_assert_eq(got->passed, passed, "%s: %zu of %zu bytes passed", how,
	    got->passed, passed);
	cr_assert(memcmp(got->client, want->client, want->clen) == 0,
	    "%s: sent '%.*s', want '%.*s'", how, (int)got->clen, got->client,
	    (int)want->clen, want->client);
	cr_assert_eq(got->refused, want->refused, "%s", how);
}

/*
 * How far the client's bytes go when they come cut at cut (0: whole):
 * before a refused header, all; with one, up to its start, or, when the
 * header began in an earlier span (already sent, an unfinished line the
 * closed connection never completes), up to the span that holds its "+".
 */
static size_t
sim_passed(const struct sim *want, size_t cut)
{
	if (want->plus == 0)
		return want->clen;
	if (cut > want->hdr && cut <= want->plus)
		return cut;
	return want->hdr;
}

/*
 * Runs the steps through the readers byte by byte, whole, and cut once at
 * every client and every server byte, each against the reference.
 */
static void
sim_all_ways(const struct step *st, size_t n, struct sim *want)
{
	static struct sim got;
	char how[64];

	ref_run(st, n, want);
	sim_run(st, n, 0, 0, 1, &got);
	sim_matches(&got, want, want->plus != 0 ? want->plus : want->clen,
	    "byte by byte");
	for (size_t cut = 0; cut <= got.clen; cut++) {
		snprintf(how, sizeof(how), "client cut at %zu", cut);
		sim_run(st, n, cut, 0, SIZE_MAX, &got);
		sim_matches(&got, want, sim_passed(want, cut), how);
	}
	for (size_t cut = 0; cut <= got.slen; cut++) {
		snprintf(how, sizeof(how), "server cut at %zu", cut);
		sim_run(st, n, 0, cut, SIZE_MAX, &got);
		sim_matches(&got, want, sim_passed(want, 0), how);
	}
}

/* Whether the reference sent what a test spells out too. */
static void
expect_sent(const struct sim *want, const char *sent)
{
	cr_assert_eq(want->clen, strlen(sent));
	cr_assert(memcmp(want->client, sent, want->clen) == 0, "sent '%.*s'",
	    (int)want->clen, want->client);
}

Test(imap, brace_inside_an_atom_is_no_literal)
{
	/* Dovecot answered OK to the NOOP and began compression. */
	static const struct step st[] = {
	    {'C', "b NOOP x{20}\r\n"},
	    {'C', "c COMPRESS DEFLATE\r\n"},
	    {'S', "b OK NOOP completed.\r\n"},
	    {'C', "d SELECT INBOX\r\n"},
	    {'S', "c BAD Unknown command.\r\nd OK Select completed.\r\n"},
	};
	struct sim want;

	sim_all_ways(st, 5, &want);
	expect_sent(&want, "b NOOP x{20}\r\nc COMPRESSXDEFLATE\r\n"
			   "d SELECT INBOX\r\n");
	cr_assert_eq(want.nev, 3);
	cr_assert_str_eq(want.ev[1].verb, "compress");
}

Test(imap, refused_synchronising_literal_is_followed_by_commands)
{
	/* The server never said "+": the bytes after the header are
	 * commands, and none of them is swallowed as literal data. */
	static const struct step ok[] = {
	    {'C', "b NOOP {20}\r\n"},
	    {'S', "b OK NOOP completed.\r\n"},
	    {'C', "c COMPRESS DEFLATE\r\n"},
	    {'C', "d CREATE hidden\r\n"},
	    {'S', "c BAD Unknown command.\r\n"},
	    {'C', "e DELETE hidden\r\n"},
	    {'S', "d OK Create completed.\r\ne OK Delete completed.\r\n"},
	};
	static const struct step bad[] = {
	    {'C', "b FOO {18}\r\n"},
	    {'S', "b BAD Error in IMAP command FOO: Unknown command.\r\n"},
	    {'C', "d CREATE hidden\r\ne DELETE hidden\r\n"},
	    {'C', "c compress deflate\r\n"},
	    {'S', "d OK\r\ne OK\r\nc BAD\r\n"},
	};
	struct sim want;

	sim_all_ways(ok, 7, &want);
	expect_sent(&want, "b NOOP {20}\r\nc COMPRESSXDEFLATE\r\n"
			   "d CREATE hidden\r\ne DELETE hidden\r\n");
	cr_assert_eq(want.nev, 4);
	cr_assert_str_eq(want.ev[2].verb, "create");
	cr_assert_str_eq(want.ev[3].verb, "delete");
	sim_all_ways(bad, 5, &want);
	cr_assert_eq(want.nev, 4);
	cr_assert_eq(want.refused, 1);
}

Test(imap, accepted_synchronising_literal_is_data)
{
	/* The literal holds a COMPRESS line: data, left alone. */
	static const struct step st[] = {
	    {'C', "a APPEND INBOX (\\Seen) {20}\r\n"},
	    {'S', "+ OK\r\n"},
	    {'C', "c COMPRESS DEFLATE\r\n {0}\r\n"},
	    {'S', "+ OK\r\n"},
	    {'C', " ~{3}\r\n"},
	    {'S', "+ OK\r\n"},
	    {'C', "xyz\r\nd COMPRESS DEFLATE\r\n"},
	    {'S', "a OK Append completed.\r\nd BAD\r\n"},
	};
	struct sim want;

	sim_all_ways(st, 8, &want);
	expect_sent(&want, "a APPEND INBOX (\\Seen) {20}\r\n"
			   "c COMPRESS DEFLATE\r\n {0}\r\n ~{3}\r\nxyz\r\n"
			   "d COMPRESSXDEFLATE\r\n");
	cr_assert_eq(want.nev, 2);
	cr_assert_str_eq(want.ev[0].verb, "append");
}

/* One refused header: the event, and what of the client's bytes went. */
static void
expect_refused(const struct step *st, size_t n, const char *sent, size_t nev,
    const char *tag, const char *verb)
{
	struct sim want;

	sim_all_ways(st, n, &want);
	expect_sent(&want, sent);
	cr_assert_eq(want.nev, nev);
	cr_assert_eq(want.ev[nev - 1].kind, IMAP_FRAME_REFUSED);
	cr_assert_str_eq(want.ev[nev - 1].tag, tag);
	cr_assert_str_eq(want.ev[nev - 1].verb, verb);
}

Test(imap, non_synchronising_literals_end_the_reading)
{
	/* RFC 7888 LITERAL+ and LITERAL-: Dovecot ends a NOOP before its
	 * arguments and runs the literal's bytes as commands, and an
	 * APPEND's refused header would have it run the message's lines:
	 * nothing from the header on may go, at any split. */
	static const struct step noop[] = {
	    {'C', "b NOOP {20+}\r\nc COMPRESS DEFLATE\r\n"},
	};
	static const struct step append[] = {
	    {'C', "z NOOP\r\n"},
	    {'S', "z OK NOOP completed.\r\n"},
	    {'C', "a APPEND INBOX {16+}\r\nx DELETE INBOX\r\n\r\n"},
	};
	static const struct step minus[] = {
	    {'C', "s SELECT {5-}\r\nINBOX\r\n"},
	};
	static const struct step tilde[] = {
	    {'C', "a APPEND INBOX ~{3+}\r\nxyz\r\n"},
	};
	/* After a synchronising literal's data, a string may start. */
	static const struct step after[] = {
	    {'C', "a APPEND INBOX {3}\r\n"},
	    {'S', "+ OK\r\n"},
	    {'C', "abc {12+}\r\nc CREATE Evil\r\n"},
	};

	expect_refused(noop, 1, "b NOOP ", 1, "b", "noop");
	expect_refused(append, 3, "z NOOP\r\na APPEND INBOX ", 2, "a",
	    "append");
	expect_refused(minus, 1, "s SELECT ", 1, "s", "select");
	expect_refused(tilde, 1, "a APPEND INBOX ", 1, "a", "append");
	expect_refused(after, 3, "a APPEND INBOX {3}\r\nabc ", 1, "a",
	    "append");
}

Test(imap, refused_literal_keeps_its_command_for_the_row)
{
	struct imap_cframe f;
	char buf[] = "t2 APPEND INBOX (\\Seen) {99+}\r\nx DELETE INBOX\r\n";
	size_t n;

	imap_cframe_init(&f);
	cr_assert_eq(imap_cframe_feed(&f, buf, strlen(buf), &n),
	    IMAP_FRAME_REFUSED);
	cr_assert_eq(n, strlen("t2 APPEND INBOX (\\Seen) "));
	cr_assert_str_eq(f.tag, "t2");
	cr_assert_str_eq(f.verb, "append");
	cr_assert_str_eq(f.params, "INBOX (\\Seen) {99+");
	/* Nothing of the buffer was changed: none of it goes on anyway. */
	cr_assert_str_eq(buf,
	    "t2 APPEND INBOX (\\Seen) {99+}\r\nx DELETE INBOX\r\n");
}

Test(imap, non_synchronising_header_as_text_is_no_literal)
{
	/* Inside an atom or a quoted string "{20+}" is text, as the server
	 * reads it: the commands go on. */
	static const struct step st[] = {
	    {'C', "b NOOP x{20+}\r\n"},
	    {'S', "b OK NOOP completed.\r\n"},
	    {'C', "c SEARCH SUBJECT \"{20+}\"\r\n"},
	    {'S', "c OK Search completed.\r\n"},
	    {'C', "d SEARCH SUBJECT \"a\\\"{20+}\"\r\n"},
	    {'S', "d OK Search completed.\r\n"},
	};
	struct sim want;

	sim_all_ways(st, 6, &want);
	expect_sent(&want, "b NOOP x{20+}\r\nc SEARCH SUBJECT \"{20+}\"\r\n"
			   "d SEARCH SUBJECT \"a\\\"{20+}\"\r\n");
	cr_assert_eq(want.nev, 3);
	for (size_t i = 0; i < 3; i++)
		cr_assert_eq(want.ev[i].kind, IMAP_FRAME_COMMAND);
}

Test(imap, idle_and_its_end_at_every_split)
{
	static const struct step st[] = {
	    {'C', "a1 IDLE\r\n"},
	    {'S', "+ idling\r\n"},
	    {'C', "DONE\r\n"},
	    {'S', "* 4 EXISTS\r\na1 OK Idle completed.\r\n"},
	    /* Refused: the next line is a command. */
	    {'C', "a2 IDLE\r\n"},
	    {'S', "a2 NO Not now.\r\n"},
	    {'C', "DONE COMPRESS DEFLATE\r\n"},
	    {'S', "DONE BAD\r\n"},
	    /* Pipelined: the server's "+" makes the next line the IDLE's
	     * end, whatever it says (Dovecot answers BAD Expected DONE). */
	    {'C', "a3 IDLE\r\n"},
	    {'S', "+ idling\r\n"},
	    {'C', "c COMPRESS DEFLATE\r\n"},
	    {'S', "a3 BAD Expected DONE.\r\n"},
	    {'C', "z compress deflate\r\n"},
	    {'S', "z BAD\r\n"},
	};
	struct sim want;

	sim_all_ways(st, 14, &want);
	expect_sent(&want, "a1 IDLE\r\nDONE\r\na2 IDLE\r\n"
			   "DONE COMPRESSXDEFLATE\r\n"
			   "a3 IDLE\r\nc COMPRESS DEFLATE\r\n"
			   "z compressXdeflate\r\n");
	cr_assert_eq(want.nev, 7);
	cr_assert_eq(want.ev[1].kind, IMAP_FRAME_DONE);
	cr_assert_str_eq(want.ev[1].tag, "a1");
	cr_assert_eq(want.ev[5].kind, IMAP_FRAME_DONE);
	cr_assert_str_eq(want.ev[5].tag, "a3");
}

Test(imap, compress_in_any_dress)
{
	static const struct step st[] = {
	    {'C', "a NOOP\r\nz CoMpReSs DEFLATE\r\nb UID FETCH 1 FLAGS\r\n"
		  "y COMPRESS\r\nx LIST \"\" \"x {3}\"\r\nw COMPRESS x\r\n"},
	    {'S', "a OK\r\nz BAD\r\nb OK\r\ny BAD\r\nx OK\r\nw BAD\r\n"},
	    /* After a literal of a command still going on. */
	    {'C', "v LOGIN {3}\r\n"},
	    {'S', "+ OK\r\n"},
	    {'C', "bob pw\r\nu COMPRESS DEFLATE\r\n"},
	    {'S', "v BAD\r\nu BAD\r\n"},
	};
	struct sim want;

	sim_all_ways(st, 6, &want);
	expect_sent(&want,
	    "a NOOP\r\nz CoMpReSsXDEFLATE\r\nb UID FETCH 1 FLAGS\r\n"
	    "y COMPRESSX\nx LIST \"\" \"x {3}\"\r\nw COMPRESSXx\r\n"
	    "v LOGIN {3}\r\nbob pw\r\nu COMPRESSXDEFLATE\r\n");
	cr_assert_eq(want.refused, 4);
	cr_assert_eq(want.nev, 8);
}

Test(imap, an_answer_to_an_earlier_command_of_the_same_tag_ends_no_hold)
{
	/* The first "b OK" answers the NOOP: the APPEND's literal is still
	 * to be accepted, and its bytes are data. */
	static const struct step st[] = {
	    {'C', "b NOOP\r\nb APPEND INBOX {17}\r\n"},
	    {'S', "b OK NOOP completed.\r\n"},
	    {'S', "+ OK\r\n"},
	    {'C', "zz X {99999999}\r\n\r\nc COMPRESS DEFLATE\r\n"},
	    {'S', "b OK Append completed.\r\nc BAD\r\n"},
	};
	static const struct step refused[] = {
	    {'C', "b NOOP\r\nb APPEND INBOX {16}\r\n"},
	    {'S', "b OK NOOP completed.\r\n"},
	    {'S', "b NO [OVERQUOTA] Quota exceeded.\r\n"},
	    {'C', "c COMPRESS DEFLATE\r\n"},
	    {'S', "c BAD\r\n"},
	};
	/* An 8-bit tag, which Dovecot takes: its answer counts too. */
	static const struct step tag8[] = {
	    {'C', "\xe9 NOOP\r\nb NOOP\r\nb APPEND INBOX {17}\r\n"},
	    {'S', "\xe9 OK NOOP completed.\r\nb OK NOOP completed.\r\n"},
	    {'S', "+ OK\r\n"},
	    {'C', "zz X {99999999}\r\n\r\nc COMPRESS DEFLATE\r\n"},
	    {'S', "b OK Append completed.\r\nc BAD\r\n"},
	};
	static struct sim got;

	for (size_t chunk = 1; chunk <= 64; chunk += 63) {
		sim_run(tag8, 5, 0, 0, chunk, &got);
		cr_assert_eq(got.nev, 4);
		cr_assert_str_eq(got.ev[2].verb, "append");
		cr_assert_str_eq(got.ev[3].verb, "compress");
		cr_assert_eq(got.passed, got.clen);

		sim_run(st, 5, 0, 0, chunk, &got);
		cr_assert_eq(got.nev, 3);
		cr_assert_str_eq(got.ev[1].verb, "append");
		cr_assert_eq(got.ev[1].bytes, 21 + 17 + 2);
		cr_assert_str_eq(got.ev[2].verb, "compress");
		cr_assert_eq(got.refused, 1);
		cr_assert_eq(got.passed, got.clen);

		sim_run(refused, 5, 0, 0, chunk, &got);
		cr_assert_eq(got.nev, 3);
		cr_assert_str_eq(got.ev[1].verb, "append");
		cr_assert_str_eq(got.ev[2].verb, "compress");
		cr_assert_eq(got.refused, 1);
	}
}

Test(imap, a_held_line_waits_without_an_answer)
{
	struct imap_cframe f;
	char in[] = "b NOOP {20}\r\nc COMPRESS DEFLATE\r\n";
	size_t c;

	imap_cframe_init(&f);
	cr_assert_eq(imap_cframe_feed(&f, in, sizeof(in) - 1, &c),
	    IMAP_FRAME_HOLD);
	cr_assert_eq(c, 13);
	/* Untagged data and other tags change nothing. */
	cr_assert_eq(imap_cframe_answer(&f, IMAP_FRAME_TAGGED, "a"),
	    IMAP_FRAME_MORE);
	cr_assert_eq(imap_cframe_feed(&f, in + c, sizeof(in) - 1 - c, &c),
	    IMAP_FRAME_HOLD);
	cr_assert_eq(c, 0);
	cr_assert_eq(imap_cframe_answer(&f, IMAP_FRAME_TAGGED, "b"),
	    IMAP_FRAME_COMMAND);
	cr_assert_str_eq(f.verb, "noop");
	cr_assert_eq(f.bytes, 13);
	cr_assert_eq(imap_cframe_feed(&f, in + 13, sizeof(in) - 14, &c),
	    IMAP_FRAME_COMMAND);
	cr_assert_str_eq(f.verb, "compress");
	cr_assert_eq(in[23], 'X');
}

Test(imap, client_commands_keep_their_parameters)
{
	/* UID commands, LOGIN masked, AUTHENTICATE's mechanism only. */
	static const struct step st[] = {
	    {'C', "a2 UID FETCH 1:* (FLAGS)\r\n"},
	    {'C', "a4 LOGIN {4}\r\n"},
	    {'S', "+ OK\r\n"},
	    {'C', "user {6}\r\n"},
	    {'S', "+ OK\r\n"},
	    {'C', "secret\r\n"},
	    {'C', "a5 AUTHENTICATE PLAIN AHVzZXIAc2VjcmV0\r\na6 NOOP\n"},
	};
	static struct sim got;

	for (size_t chunk = 1; chunk <= 64; chunk += 63) {
		sim_run(st, 7, 0, 0, chunk, &got);
		cr_assert_eq(got.nev, 4);
		cr_expect_str_eq(got.ev[0].verb, "uid+fetch");
		cr_expect_str_eq(got.ev[0].params, "1:* (FLAGS)");
		cr_expect_str_eq(got.ev[1].verb, "login");
		cr_expect_str_eq(got.ev[1].params, "*****");
		cr_expect_eq(got.ev[1].bytes, 14 + 10 + 6 + 2);
		cr_expect_str_eq(got.ev[2].params, "PLAIN *****");
		cr_expect_eq(got.ev[3].bytes, 8);
		for (size_t i = 0; i < got.nev; i++) {
			cr_expect_null(strstr(got.ev[i].params, "secret"));
			cr_expect_null(strstr(got.ev[i].params, "AHVz"));
		}
	}
}

/* Feeds in to a server reader in two parts; returns the events. */
static size_t
sframe_split(char *in, size_t len, size_t split, struct frame_ev *ev,
    size_t max)
{
	struct imap_sframe f;
	size_t off = 0, c, n = 0, cuts[2] = {split, len};

	imap_sframe_init(&f);
	for (int k = 0; k < 2; k++)
		while (off < cuts[k]) {
			enum imap_frame r =
			    imap_sframe_feed(&f, in + off, cuts[k] - off, &c);

			cr_assert_leq(c, cuts[k] - off);
			off += c;
			if (r == IMAP_FRAME_MORE) {
				cr_assert_eq(off, cuts[k]);
				continue;
			}
			cr_assert_lt(n, max);
			ev[n].kind = r;
			ev[n].bytes = off;
			if (r == IMAP_FRAME_TAGGED) {
				snprintf(ev[n].tag, sizeof(ev[n].tag), "%s",
				    f.tag);
				snprintf(ev[n].params, sizeof(ev[n].params),
				    "%s", f.line);
				ev[n].status = f.status;
			}
			n++;
		}
	return n;
}

Test(imap, server_answers_with_literals_at_every_split)
{
	/* A FETCH literal holding lines that look like tagged answers and
	 * continuations, and a literal that ends in "{3}" itself. */
	static const char a1[] = "* 1 FETCH (UID 7 BODY[] {34}\r\n"
				 "a1 OK fake\r\n+ fake\r\nx {3}\r\n)\r\n"
				 "* 2 EXISTS\r\n"
				 "a1 OK [READ-WRITE] FETCH done.\r\n";
	static const char a2[] = "+ Ready for literal data\r\n";
	static const char a3[] = "a2 NO [TRYCREATE] No such mailbox\n";
	/* Status responses and tagged answers announce no literal. */
	static const char a4[] = "* BYE x {5}\r\na3 BAD Error in IMAP command "
				 "{5}\r\n";
	static const char a5[] = "* 3 FETCH (BINARY[] ~{4}\r\n"
				 "a4 OK)\r\n* 4 FETCH (X x{4}\r\n+ go\r\n";
	char in[512];
	size_t len;
	struct frame_ev ev[8];

	len =
	    (size_t)snprintf(in, sizeof(in), "%s%s%s%s%s", a1, a2, a3, a4, a5);
	for (size_t split = 0; split <= len; split++) {
		size_t n = sframe_split(in, len, split, ev, 8);

		cr_assert_eq(n, 5, "split at %zu: %zu events", split, n);
		cr_expect_eq(ev[0].kind, IMAP_FRAME_TAGGED);
		cr_expect_str_eq(ev[0].tag, "a1");
		cr_expect_eq(ev[0].status, IMAP_STATUS_OK);
		cr_expect_eq(ev[0].bytes, strlen(a1));
		cr_expect_eq(ev[1].kind, IMAP_FRAME_CONTINUATION);
		cr_expect_eq(ev[1].bytes, strlen(a1) + strlen(a2));
		cr_expect_eq(ev[2].kind, IMAP_FRAME_TAGGED);
		cr_expect_eq(ev[2].status, IMAP_STATUS_NO);
		cr_expect_str_eq(ev[2].params,
		    "a2 NO [TRYCREATE] No such mailbox");
		cr_expect_eq(ev[3].status, IMAP_STATUS_BAD);
		cr_expect_str_eq(ev[3].tag, "a3");
		cr_expect_eq(ev[3].bytes, len - strlen(a5));
		/* "x{4}" is inside an atom: the "+ go" is an answer. */
		cr_expect_eq(ev[4].kind, IMAP_FRAME_CONTINUATION);
		cr_expect_eq(ev[4].bytes, len);
	}
}

/* Runs the server reader over in at every pair of cuts; checks want. */
static void
server_all_ways(const char *in, const char *want, size_t count)
{
	static char buf[4096];
	size_t len = strlen(in);

	cr_assert_eq(strlen(want), len);
	cr_assert_lt(len, sizeof(buf));
	for (size_t a = 0; a <= len; a++) {
		for (size_t b = a; b <= len; b++) {
			struct imap_sframe f;
			size_t cuts[3] = {a, b, len}, off = 0, c;

			memcpy(buf, in, len);
			imap_sframe_init(&f);
			for (int k = 0; k < 3; k++)
				while (off < cuts[k]) {
					(void)imap_sframe_feed(&f, buf + off,
					    cuts[k] - off, &c);
					off += c;
				}
			cr_assert(memcmp(buf, want, len) == 0,
			    "split %zu/%zu: got '%.*s'", a, b, (int)len, buf);
			cr_assert_eq(f.hidden, count, "split %zu/%zu", a, b);
		}
	}
}

Test(imap, capability_lines_offer_no_compression_and_no_literal_plus)
{
	server_all_ways("* CAPABILITY IMAP4rev1 COMPRESS=DEFLATE LITERAL+ "
			"IDLE\r\n",
	    "* CAPABILITY IMAP4rev1 COMPRESS-DEFLATE LITERALX IDLE\r\n", 2);
	server_all_ways(
	    "* OK [CAPABILITY IMAP4rev1 compress=deflate] ready\r\n"
	    "a OK [CAPABILITY IMAP4rev1 COMPRESS=DEFLATE literal-] done\r\n",
	    "* OK [CAPABILITY IMAP4rev1 compress-deflate] ready\r\n"
	    "a OK [CAPABILITY IMAP4rev1 COMPRESS-DEFLATE literalX] done\r\n",
	    3);
	/* Not a capability list, or not at a word's start. */
	server_all_ways(
	    "* OK COMPRESS=DEFLATE\r\n* CAPABILITY XCOMPRESS=DEFLATE "
	    "XLITERAL+\r\n* OK [ALERT] COMPRESS=DEFLATE\r\n",
	    "* OK COMPRESS=DEFLATE\r\n* CAPABILITY XCOMPRESS=DEFLATE "
	    "XLITERAL+\r\n* OK [ALERT] COMPRESS=DEFLATE\r\n",
	    0);
	/* Inside literal data: message text, left alone. */
	server_all_ways("* 1 FETCH (BODY[] {42}\r\n"
			"* CAPABILITY IMAP4rev1 COMPRESS=DEFLATE\r\n)\r\n"
			"a OK done\r\n* CAPABILITY COMPRESS=DEFLATE\r\n",
	    "* 1 FETCH (BODY[] {42}\r\n"
	    "* CAPABILITY IMAP4rev1 COMPRESS=DEFLATE\r\n)\r\n"
	    "a OK done\r\n* CAPABILITY COMPRESS-DEFLATE\r\n",
	    1);
}

/*
 * Feeds buf[from..to) to the client's reader; the server accepts every
 * literal ("+") the reader holds for.
 */
static void
reader_feed_accepting(struct imap_cframe *f, char *buf, size_t from, size_t to)
{
	while (from < to) {
		size_t c;

		if (imap_cframe_feed(f, buf + from, to - from, &c) ==
		    IMAP_FRAME_HOLD)
			(void)imap_cframe_answer(f, IMAP_FRAME_CONTINUATION,
			    NULL);
		from += c;
	}
}

/* Whether the client's reader finds LOGOUT the last line of in, split
 * at every pair of points the same way. */
static bool
guard_logout(const char *in)
{
	static char buf[512];
	size_t len = strlen(in);
	bool first = false;

	cr_assert_lt(len, sizeof(buf));
	for (size_t a = 0; a <= len; a++) {
		for (size_t b = a; b <= len; b++) {
			struct imap_cframe f;

			memcpy(buf, in, len);
			imap_cframe_init(&f);
			reader_feed_accepting(&f, buf, 0, a);
			reader_feed_accepting(&f, buf, a, b);
			reader_feed_accepting(&f, buf, b, len);
			if (a == 0 && b == 0)
				first = f.logout;
			cr_assert_eq(f.logout, first, "split %zu/%zu of '%s'",
			    a, b, in);
		}
	}
	return first;
}

Test(imap, guard_knows_a_final_logout)
{
	cr_assert(guard_logout("a LOGOUT\r\n"));
	cr_assert(guard_logout("a1 NOOP\r\na2 logout\r\n"));
	cr_assert(guard_logout("a1 NOOP\r\na2 Logout\n"));
	/* The last complete line counts: the backend closes after it. */
	cr_assert(guard_logout("a LOGOUT\r\nb NO"));
	/* Not finished, not alone, or not the last line. */
	cr_assert(!guard_logout("a LOGOUT"));
	cr_assert(!guard_logout("a LOGOUT\r"));
	cr_assert(!guard_logout("a LOGOUTX\r\n"));
	cr_assert(!guard_logout("a LOGOUT x\r\n"));
	cr_assert(!guard_logout("a LOGOUT\r\nb NOOP\r\n"));
	cr_assert(!guard_logout("a LOGIN x y\r\n"));
	cr_assert(!guard_logout("LOGOUT\r\n"));
	/* Literal data is no command, whatever its bytes say; the line
	 * the literal belongs to goes on after it. */
	cr_assert(!guard_logout("a APPEND INBOX {10}\r\nb LOGOUT\r\n"));
	cr_assert(guard_logout("a APPEND INBOX {10}\r\nb LOGOUT\r\n\r\n"
			       "c LOGOUT\r\n"));
}

/* Byte by byte through answers: where postern may add a line of its own. */
Test(imap, sframe_boundary_only_between_answer_lines)
{
	char in[] = "* 1 FETCH (BODY[] {14}\r\n* BYE inside\r\n)\r\n"
		    "+ go\r\na OK done\r\n";
	/* Offsets after which a boundary is reported: the end of each
	 * line that is not followed by a literal. */
	const size_t at[] = {strlen("* 1 FETCH (BODY[] {14}\r\n* BYE inside"
				    "\r\n)\r\n"),
	    strlen("* 1 FETCH (BODY[] {14}\r\n* BYE inside\r\n)\r\n+ go\r\n"),
	    strlen(in)};
	struct imap_sframe f;
	size_t len = strlen(in), k = 0;

	imap_sframe_init(&f);
	cr_assert(imap_sframe_at_boundary(&f));
	for (size_t i = 0; i < len; i++) {
		size_t c;
		bool want;

		imap_sframe_feed(&f, in + i, 1, &c);
		cr_assert_eq(c, 1);
		want = k < 3 && i + 1 == at[k];
		if (want)
			k++;
		cr_assert_eq(imap_sframe_at_boundary(&f), want,
		    "after %zu bytes", i + 1);
	}
	cr_assert_eq(k, 3);
}

/*
 * used_max bounds every byte the parser ever wrote into its store: the
 * session cleanses only that much when it ends (imap_preauth_free()), so
 * a byte written beyond it would be a password left in freed memory.
 */
Test(imap, used_max_covers_every_byte_written)
{
	static char store[STORE_CAP];
	struct imap_parser p;
	const char *cmds[] = {
	    "a LOGIN {5+}\r\nalice {26+}\r\na-long-password-0123456789\r\n",
	    "b NOOP\r\n",
	    "c LOGIN bob \"short\"\r\n",
	};
	size_t most = 0;

	memset(store, 0, sizeof(store));
	cr_assert_eq(
	    imap_parser_init(&p, MAX_LINE, LIT_MAX, store, sizeof(store)), 0);
	cr_assert_eq(p.used_max, 0);
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		size_t off = 0, len = strlen(cmds[i]), used;

		while (off < len) {
			enum imap_parse_result r =
			    imap_parse(&p, cmds[i] + off, len - off, &used);

			off += used;
			if (p.used > most)
				most = p.used;
			if (r == IMAP_PARSE_COMMAND)
				break;
			cr_assert_eq(r, IMAP_PARSE_NEED_MORE, "command %zu: %d",
			    i, r);
		}
		cr_assert_geq(p.used_max, most);
	}
	/* The first command's values are the longest: the mark stays. */
	cr_assert_geq(p.used_max,
	    strlen("alice") + 1 + strlen("a-long-password-0123456789") + 1);
	for (size_t k = p.used_max; k < sizeof(store); k++)
		cr_assert_eq(store[k], 0, "byte %zu written past used_max %zu",
		    k, p.used_max);
	cr_assert_leq(p.used_max, sizeof(store));
}

/* The login's tag, user name and ID values are dead once the relay's
 * readers start: an idle session must not hold both. */
Test(imap_session, login_fields_share_room_with_the_readers)
{
	size_t both = sizeof(struct session) + sizeof(struct imap_cframe) +
		      sizeof(struct imap_sframe) + IMAP_TAG_MAX + SASL_USER_MAX;

	cr_assert_lt(sizeof(struct imap_session), both);
}

/* --- the readers rest between commands ------------------------------ */

/*
 * An idle session keeps only what the next command depends on: the
 * readers (both well over a hundred bytes) are not part of it.
 */
Test(imap_session, an_idle_session_holds_no_reader)
{
	size_t own = sizeof(struct imap_session) - sizeof(struct session);

	cr_assert_lt(own, sizeof(struct imap_sframe), "%zu bytes", own);
	cr_assert_lt(own, sizeof(struct imap_cframe), "%zu bytes", own);
}

/*
 * One reading of a session's steps by the pure readers, the client's
 * bytes all sent at once and a server step sent once the client's bytes
 * before it went through (as sim_run()), cut where cut says; with rest,
 * the client's reader rests and wakes wherever it may, between any two
 * calls.  The events and the bytes passed (COMPRESS changed) are out.
 */
struct rest_run {
	char out[SIM_MAX]; /* the client's bytes as passed on */
	size_t passed;
	char ev[64][IMAP_TAG_MAX + IMAP_VERB_MAX + IMAP_PARAMS_KEPT + 64];
	size_t nev;
	size_t rests;
};

static void
rest_event(struct rest_run *o, const char *what, const struct imap_cframe *f)
{
	cr_assert_lt(o->nev, 64);
	snprintf(o->ev[o->nev++], sizeof(o->ev[0]), "%s %s %s [%s] %llu", what,
	    f->tag, f->verb, f->params, (unsigned long long)f->bytes);
}

static void
rest_maybe(struct imap_cframe *f, bool rest, struct rest_run *o)
{
	struct imap_cframe_rest r;

	if (!rest || !imap_cframe_can_rest(f))
		return;
	/* What a woken reader starts from is only what was kept. */
	memset(&r, 0xa5, sizeof(r));
	imap_cframe_rest(f, &r);
	memset(f, 0x5a, sizeof(*f));
	imap_cframe_wake(f, &r);
	o->rests++;
}

/*
 * The two streams of a script: the client's bytes and the server's; for
 * each server line, how many client bytes come before it (need) and where
 * it ends (send).  Returns the number of server lines.
 */
static size_t
steps_streams(const struct step *st, size_t n, char *client, size_t *clen,
    char *server, size_t *slen, size_t *need, size_t *send)
{
	size_t ns = 0;

	*clen = *slen = 0;
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(st[i].text);

		if (st[i].dir == 'C') {
			cr_assert_leq(*clen + l, SIM_MAX);
			memcpy(client + *clen, st[i].text, l);
			*clen += l;
		} else {
			cr_assert_leq(*slen + l, SIM_MAX);
			cr_assert_lt(ns, 16);
			memcpy(server + *slen, st[i].text, l);
			*slen += l;
			need[ns] = *clen;
			send[ns++] = *slen;
		}
	}
	return ns;
}

static void
rest_sim(const struct step *st, size_t n, size_t ccut, size_t scut,
    size_t chunk, bool rest, struct rest_run *o)
{
	static char client[SIM_MAX], server[SIM_MAX];
	size_t clen = 0, slen = 0, sfed = 0, need[16], send[16], ns = 0;
	struct imap_cframe f;
	struct imap_sframe g;

	memset(o, 0, sizeof(*o));
	ns = steps_streams(st, n, client, &clen, server, &slen, need, send);
	imap_cframe_init(&f);
	imap_sframe_init(&g);
	for (;;) {
		bool progress = false;
		size_t avail = 0;

		while (o->passed < clen) {
			size_t end = sim_end(o->passed, clen, ccut, chunk), c;
			enum imap_frame r;

			rest_maybe(&f, rest, o);
			r = imap_cframe_feed(&f, client + o->passed,
			    end - o->passed, &c);
			memcpy(o->out + o->passed, client + o->passed, c);
			o->passed += c;
			progress = progress || c > 0;
			if (r == IMAP_FRAME_HOLD)
				break;
			cr_assert_neq(r, IMAP_FRAME_REFUSED);
			if (r != IMAP_FRAME_MORE)
				rest_event(o, r == IMAP_FRAME_DONE ? "D" : "C",
				    &f);
		}
		rest_maybe(&f, rest, o);
		for (size_t k = 0; k < ns && need[k] <= o->passed; k++)
			avail = send[k];
		while (sfed < avail) {
			size_t end = sim_end(sfed, avail, scut, chunk), c;
			enum imap_frame r =
			    imap_sframe_feed(&g, server + sfed, end - sfed, &c);

			sfed += c;
			progress = true;
			if (r == IMAP_FRAME_MORE)
				continue;
			if (imap_cframe_answer(&f, r, g.tag) ==
			    IMAP_FRAME_COMMAND)
				rest_event(o, "C", &f);
			rest_maybe(&f, rest, o);
		}
		if (!progress)
			break;
	}
	cr_assert_eq(o->passed, clen);
	cr_assert_eq(sfed, slen);
}

/* A session with every kind of state the client's reader carries. */
static const struct step rest_steps[] = {
    {'C', "a1 SELECT INBOX\r\n"},
    {'S', "* 2 EXISTS\r\n* FLAGS (\\Seen)\r\na1 OK [READ-WRITE] done\r\n"},
    {'C', "a2 APPEND INBOX {11}\r\n"},
    {'S', "+ go ahead\r\n"},
    {'C', "hello world\r\n"},
    {'S', "a2 OK APPEND done\r\n"},
    {'C', "a3 IDLE\r\n"},
    {'S', "+ idling\r\n"},
    {'S', "* 3 EXISTS\r\n"},
    {'C', "DONE\r\n"},
    {'S', "a3 OK IDLE done\r\n"},
    {'C', "a4 NOOP\r\na5 UID FETCH 1 (BODY[])\r\na6 LOGIN {5}\r\n"},
    {'S', "a4 OK NOOP\r\n* 1 FETCH (UID 1 BODY[] {8}\r\nab\r\ncd\r\n)\r\n"
	  "a5 OK fetched\r\n"},
    {'S', "a6 NO [ALREADYAUTHENTICATED] no\r\n"},
    {'C', "a7 COMPRESS DEFLATE\r\n"},
    {'S', "a7 BAD unknown command\r\n"},
    {'C', "a8 IDLE\r\n"},
    {'S', "a8 NO not now\r\n"},
    {'C', "a9 IDLE\r\n"},
    {'S', "+ idling\r\n"},
    {'C', "x DELETE INBOX\r\n"},
    {'S', "a9 BAD expected DONE\r\n"},
    {'C', "b1 LOGOUT\r\n"},
    {'S', "* BYE bye\r\nb1 OK bye\r\n"},
};

static void
rest_expect_same(const struct rest_run *got, const struct rest_run *want,
    const char *how, size_t at)
{
	cr_assert_eq(got->passed, want->passed, "%s %zu", how, at);
	cr_assert_eq(memcmp(got->out, want->out, want->passed), 0, "%s %zu",
	    how, at);
	cr_assert_eq(got->nev, want->nev, "%s %zu", how, at);
	for (size_t i = 0; i < want->nev; i++)
		cr_assert_str_eq(got->ev[i], want->ev[i], "%s %zu", how, at);
}

/*
 * A reader that rested and woke wherever it could reads exactly as the
 * one that stayed, whatever the reads' cuts: a command split across
 * reads, a literal in progress, an IDLE held and in progress, pipelined
 * commands, a refused literal, COMPRESS.
 */
Test(imap_frame, a_rested_reader_reads_on_as_one_that_stayed)
{
	static struct rest_run whole, cut;
	size_t n = sizeof(rest_steps) / sizeof(rest_steps[0]), clen = 0,
	       slen = 0;

	for (size_t i = 0; i < n; i++)
		*(rest_steps[i].dir == 'C' ? &clen : &slen) +=
		    strlen(rest_steps[i].text);
	rest_sim(rest_steps, n, SIZE_MAX, SIZE_MAX, SIZE_MAX, false, &whole);
	/* The reference reads the session right. */
	cr_assert_eq(whole.nev, 12);
	cr_assert_str_eq(whole.ev[3], "D a3 done [] 6");
	cr_assert_str_eq(whole.ev[6], "C a6 login [*****] 14");
	cr_assert_str_eq(whole.ev[10], "D a9 done [x DELETE INBOX] 16");
	cr_assert_neq(memmem(whole.out, whole.passed, "COMPRESSX", 9), NULL);

	rest_sim(rest_steps, n, SIZE_MAX, SIZE_MAX, SIZE_MAX, true, &cut);
	rest_expect_same(&cut, &whole, "whole", 0);
	cr_assert_gt(cut.rests, 0);
	rest_sim(rest_steps, n, SIZE_MAX, SIZE_MAX, 1, true, &cut);
	rest_expect_same(&cut, &whole, "byte by byte", 0);
	for (size_t k = 0; k <= clen; k++) {
		rest_sim(rest_steps, n, k, SIZE_MAX, SIZE_MAX, true, &cut);
		rest_expect_same(&cut, &whole, "client cut at", k);
	}
	for (size_t k = 0; k <= slen; k++) {
		rest_sim(rest_steps, n, SIZE_MAX, k, SIZE_MAX, true, &cut);
		rest_expect_same(&cut, &whole, "server cut at", k);
	}
}

/* Only a reader between commands with no literal's line held rests. */
Test(imap_frame, a_reader_rests_only_between_commands)
{
	static char cmd[] = "a1 APPEND x {3}\r\n", idle[] = "a2 IDLE\r\n",
		    part[] = "a3 NO";
	struct imap_cframe f;
	size_t c;

	imap_cframe_init(&f);
	cr_assert(imap_cframe_can_rest(&f));
	cr_assert_eq(imap_cframe_feed(&f, cmd, 5, &c), IMAP_FRAME_MORE);
	cr_assert_not(imap_cframe_can_rest(&f));
	cr_assert_eq(imap_cframe_feed(&f, cmd + 5, sizeof(cmd) - 6, &c),
	    IMAP_FRAME_HOLD);
	cr_assert_not(imap_cframe_can_rest(&f)); /* the literal's "+" */
	(void)imap_cframe_answer(&f, IMAP_FRAME_CONTINUATION, NULL);
	cr_assert_eq(imap_cframe_feed(&f, (char *)"abc\r\n", 5, &c),
	    IMAP_FRAME_COMMAND);
	cr_assert(imap_cframe_can_rest(&f));
	(void)imap_cframe_answer(&f, IMAP_FRAME_TAGGED, "a1");
	cr_assert_eq(imap_cframe_feed(&f, idle, sizeof(idle) - 1, &c),
	    IMAP_FRAME_COMMAND);
	cr_assert(imap_cframe_can_rest(&f)); /* waiting for its "+" */
	(void)imap_cframe_answer(&f, IMAP_FRAME_CONTINUATION, NULL);
	cr_assert(imap_cframe_can_rest(&f)); /* in IDLE */
	cr_assert_eq(imap_cframe_feed(&f, part, 2, &c), IMAP_FRAME_MORE);
	cr_assert_not(imap_cframe_can_rest(&f)); /* its end under way */
}

/* --- the same through the relay's guard, with the protocol log -------- */

static char rest_dir[4096];

static void
rest_dir_make(void)
{
	const char *t = getenv("TMPDIR");

	snprintf(rest_dir, sizeof(rest_dir), "%s/imaprest.XXXXXX",
	    t != NULL && *t != '\0' ? t : "/tmp");
	cr_assert_not_null(mkdtemp(rest_dir));
}

static void
rest_dir_drop(void)
{
	char path[8192];
	struct dirent *de;
	DIR *d;

	if ((d = opendir(rest_dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", rest_dir, de->d_name);
		unlink(path);
	}
	closedir(d);
	rmdir(rest_dir);
}

static void
rest_log_start(void)
{
	struct protolog_conf c[PROTO_COUNT];
	char err[512] = "";

	protolog_conf_defaults(&c[PROTO_POP3], PROTO_POP3);
	protolog_conf_defaults(&c[PROTO_IMAP], PROTO_IMAP);
	c[PROTO_POP3].enabled = false;
	c[PROTO_IMAP].enabled = true;
	c[PROTO_IMAP].directory = rest_dir;
	c[PROTO_IMAP].file_age_limit_ms = 0;
	cr_assert_eq(protolog_start(c, 0, err, sizeof(err)), 0, "%s", err);
}

/* A logged-in IMAP session of a worker, its readers resting. */
static struct session *
rest_session(struct event_base *base, struct worker *w,
    const struct proto_conf *pc, uint64_t id)
{
	struct session *s = fixture_session(&imap_proto, base, pc);

	s->id = id;
	s->worker = w;
	s->state = SESSION_RELAY;
	sesslog_init(s);
	cr_assert_not_null(s->log);
	sesslog_opened(s);
	imap_relay_readers_start(s);
	cr_assert_eq(imap_proto.relay_log_start(s), 0);
	s->log_framed = true;
	return s;
}

/*
 * rest_sim() through the guard of a real session (rows to the protocol
 * log): each call may wake the readers and put them back.  The client's
 * bytes as passed on are in o.
 */
static void
rest_relay(struct session *s, const struct step *st, size_t n, size_t ccut,
    size_t scut, size_t chunk, struct rest_run *o)
{
	static char client[SIM_MAX], server[SIM_MAX];
	size_t clen = 0, slen = 0, sfed = 0, need[16], send[16], ns = 0;
	bool end = false;

	memset(o, 0, sizeof(*o));
	ns = steps_streams(st, n, client, &clen, server, &slen, need, send);
	for (;;) {
		bool progress = false;
		size_t avail = 0;

		while (o->passed < clen) {
			size_t end_at = sim_end(o->passed, clen, ccut, chunk),
			       c = imap_proto.relay_guard(s, true,
				   client + o->passed, end_at - o->passed,
				   &end);

			cr_assert_not(end);
			memcpy(o->out + o->passed, client + o->passed, c);
			o->passed += c;
			progress = progress || c > 0;
			if (o->passed < end_at)
				break;
		}
		for (size_t k = 0; k < ns && need[k] <= o->passed; k++)
			avail = send[k];
		while (sfed < avail) {
			size_t end_at = sim_end(sfed, avail, scut, chunk);

			cr_assert_eq(imap_proto.relay_guard(s, false,
					 server + sfed, end_at - sfed, &end),
			    end_at - sfed);
			sfed = end_at;
			progress = true;
		}
		if (!progress)
			break;
	}
	cr_assert_eq(o->passed, clen);
	cr_assert_eq(sfed, slen);
}

/* One CSV field of a row at *p; moves *p past it and its comma. */
static void
rest_field(const char **p, char *out, size_t cap)
{
	size_t k = 0;

	if (**p == '"') {
		for ((*p)++; **p != '\0'; (*p)++) {
			if (**p == '"' && (*p)[1] == '"')
				(*p)++;
			else if (**p == '"') {
				(*p)++;
				break;
			}
			if (k + 1 < cap)
				out[k++] = **p;
		}
	} else
		for (; **p != ',' && **p != '\r' && **p != '\0'; (*p)++)
			if (k + 1 < cap)
				out[k++] = **p;
	out[k] = '\0';
	if (**p == ',')
		(*p)++;
}

/*
 * The rows of sessions first to first + n - 1 in the log's text, without
 * the fields that depend on the clock (dateTime, duration), one per line:
 * rows[id - first].  One pass over the text, which is long.
 */
static char **
rest_rows(const char *text, uint64_t first, size_t n)
{
	char **rows = calloc(n, sizeof(*rows)), f[13][2048];
	size_t *len = calloc(n, sizeof(*len));

	cr_assert_not_null(rows);
	cr_assert_not_null(len);
	for (size_t i = 0; i < n; i++)
		cr_assert_not_null(rows[i] = calloc(1, 1 << 14));
	for (const char *l = text; *l != '\0';) {
		const char *p = l, *next = strchr(l, '\n');
		unsigned long long id;
		char *end;

		/* Rows begin with their date; the header's lines do not. */
		if (isdigit((unsigned char)*l)) {
			for (int i = 0; i < 13; i++)
				rest_field(&p, f[i], sizeof(f[i]));
			id = strtoull(f[1], &end, 16);
			cr_assert(*end == '\0' && end != f[1], "%s", f[1]);
			if (id >= first && id - first < n) {
				size_t k = (size_t)(id - first);

				len[k] += (size_t)snprintf(rows[k] + len[k],
				    (1 << 14) - len[k],
				    "%s|%s|%s|%s|%s|%s|%s|%s|%s\n", f[2], f[3],
				    f[4], f[5], f[7], f[8], f[9], f[10], f[11]);
				cr_assert_lt(len[k], 1 << 14);
			}
		}
		if (next == NULL)
			break;
		l = next + 1;
	}
	free(len);
	return rows;
}

static void
rest_rows_free(char **rows, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(rows[i]);
	free(rows);
}

/* The whole log of rest_dir (one file: a test's rows are of one hour). */
static char *
rest_log_text(void)
{
	char path[8192], *text = NULL;
	struct dirent *de;
	DIR *d;

	cr_assert_not_null(d = opendir(rest_dir));
	while ((de = readdir(d)) != NULL) {
		FILE *fp;
		long len;

		if (strstr(de->d_name, ".LOG") == NULL)
			continue;
		snprintf(path, sizeof(path), "%s/%s", rest_dir, de->d_name);
		cr_assert_null(text, "more than one log file");
		cr_assert_not_null(fp = fopen(path, "rb"));
		fseek(fp, 0, SEEK_END);
		len = ftell(fp);
		rewind(fp);
		cr_assert_not_null(text = malloc((size_t)len + 1));
		cr_assert_eq(fread(text, 1, (size_t)len, fp), (size_t)len);
		text[len] = '\0';
		fclose(fp);
	}
	closedir(d);
	cr_assert_not_null(text);
	return text;
}

/*
 * Through the relay's guard, with a row per command: a session whose
 * reads are cut at every byte of either direction (so that the readers
 * go back to the cache and come again at every boundary the cut makes)
 * passes the same bytes and writes the same rows as the uncut one, and
 * its readers rest when it ends between commands.
 */
Test(imap_relay, rows_of_a_session_cut_anywhere_are_those_of_the_whole,
    .init = rest_dir_make, .fini = rest_dir_drop)
{
	size_t n = sizeof(rest_steps) / sizeof(rest_steps[0]), clen = 0,
	       slen = 0, runs = 0;
	struct event_base *base = event_base_new();
	struct worker *w = calloc(1, sizeof(*w));
	struct proto_conf pc;
	static struct rest_run whole, cut;
	char *text, *want, **rows;

	cr_assert_not_null(base);
	cr_assert_not_null(w);
	memset(&pc, 0, sizeof(pc));
	for (size_t i = 0; i < n; i++)
		*(rest_steps[i].dir == 'C' ? &clen : &slen) +=
		    strlen(rest_steps[i].text);
	rest_log_start();
	for (size_t k = 0; k <= clen + slen + 1; k++) {
		struct session *s = rest_session(base, w, &pc, 0x100 + k);
		bool client = k > 0 && k <= clen;

		if (k == 0)
			rest_relay(s, rest_steps, n, SIZE_MAX, SIZE_MAX,
			    SIZE_MAX, &whole);
		else if (k == clen + slen + 1)
			rest_relay(s, rest_steps, n, SIZE_MAX, SIZE_MAX, 1,
			    &cut);
		else
			rest_relay(s, rest_steps, n, client ? k : SIZE_MAX,
			    client ? SIZE_MAX : k - clen, SIZE_MAX, &cut);
		cr_assert_null(I(s)->rd, "run %zu: the readers did not rest",
		    k);
		if (k > 0)
			rest_expect_same(&cut, &whole, "run", k);
		sesslog_close(s);
		fixture_session_free(s);
		runs++;
	}
	protolog_stop();
	text = rest_log_text();
	rows = rest_rows(text, 0x100, runs);
	want = rows[0];
	/* The reference: one row per command, the IDLE's at its "+". */
	/* The reference: one row per command, the IDLE's at its "+", each
	 * with the bytes of its command and of its answer. */
	cr_assert_str_eq(want,
	    "0|127.0.0.1:143|127.0.0.1:40000||0|0|OpenSession||Tls=none\n"
	    "1|127.0.0.1:143|127.0.0.1:40000||17|54|select|INBOX|R=ok;Tls=none\n"
	    "2|127.0.0.1:143|127.0.0.1:40000||35|31|append|INBOX {11}|R=ok;Tls=none\n"
	    "3|127.0.0.1:143|127.0.0.1:40000||9|10|idle||R=ok;Tls=none\n"
	    "4|127.0.0.1:143|127.0.0.1:40000||6|29|done||R=ok;Tls=none\n"
	    "5|127.0.0.1:143|127.0.0.1:40000||9|12|noop||R=ok;Tls=none\n"
	    "6|127.0.0.1:143|127.0.0.1:40000||25|55|uid+fetch|1 (BODY[])|R=ok;Tls=none\n"
	    "7|127.0.0.1:143|127.0.0.1:40000||14|33|login|*****|R=\"a6 NO [ALREADYAUTHENTICATED] no\";Tls=none\n"
	    "8|127.0.0.1:143|127.0.0.1:40000||21|24|compress|DEFLATE|R=\"a7 BAD unknown command\";Tls=none\n"
	    "9|127.0.0.1:143|127.0.0.1:40000||9|15|idle||R=\"a8 NO not now\";Tls=none\n"
	    "10|127.0.0.1:143|127.0.0.1:40000||9|10|idle||R=ok;Tls=none\n"
	    "11|127.0.0.1:143|127.0.0.1:40000||16|22|done|x DELETE INBOX|R=\"a9 BAD expected DONE\";Tls=none\n"
	    "12|127.0.0.1:143|127.0.0.1:40000||11|22|logout||R=ok;Tls=none\n"
	    "13|127.0.0.1:143|127.0.0.1:40000||0|0|CloseSession||Tls=none\n");
	for (size_t k = 1; k < runs; k++)
		cr_assert_str_eq(rows[k], want, "run %zu", k);
	rest_rows_free(rows, runs);
	free(text);
	blockcache_clear(&w->cache);
	free(w);
	event_base_free(base);
}

/*
 * The readers go back to the worker's blocks at a boundary, an idle
 * session in IDLE keeps its IDLE's tag and count without them, and the
 * next bytes take the block back.
 */
Test(imap_relay, the_readers_go_back_to_the_cache_at_a_boundary,
    .init = rest_dir_make, .fini = rest_dir_drop)
{
	struct event_base *base = event_base_new();
	struct worker *w = calloc(1, sizeof(*w));
	struct proto_conf pc;
	struct session *s;
	struct imap_readers *rd;
	char cmd[] = "a1 SELECT INBOX\r\n",
	     ok[] = "* 1 EXISTS\r\na1 OK done\r\n", idle[] = "a2 IDLE\r\n",
	     plus[] = "+ idling\r\n", done[] = "DONE\r\n";
	bool end = false;
	unsigned kept = 0;

	cr_assert_not_null(base);
	cr_assert_not_null(w);
	memset(&pc, 0, sizeof(pc));
	rest_log_start();
	s = rest_session(base, w, &pc, 7);
	cr_assert_null(I(s)->rd);

	/* Half a command: the readers stay. */
	cr_assert_eq(imap_proto.relay_guard(s, true, cmd, 5, &end), 5);
	cr_assert_not_null(rd = I(s)->rd);
	cr_assert_eq(
	    imap_proto.relay_guard(s, true, cmd + 5, sizeof(cmd) - 6, &end),
	    sizeof(cmd) - 6);
	/* Complete, but its answer is to come: a boundary all the same. */
	cr_assert_null(I(s)->rd);
	cr_assert_eq(I(s)->rest.pending, 1);
	/* Half an answer line: in place again. */
	cr_assert_eq(imap_proto.relay_guard(s, false, ok, 14, &end), 14);
	cr_assert_not_null(I(s)->rd);
	cr_assert_eq(
	    imap_proto.relay_guard(s, false, ok + 14, sizeof(ok) - 15, &end),
	    sizeof(ok) - 15);
	cr_assert_null(I(s)->rd);
	cr_assert_eq(I(s)->rest.pending, 0);
	for (unsigned i = 0; i < BLOCKCACHE_SIZES; i++)
		if (w->cache.cls[i].size == sizeof(struct imap_readers))
			kept += w->cache.cls[i].n;
	if (!BLOCKCACHE_SANITIZED) {
		cr_assert_eq(kept, 1, "the block is not in the cache");
		cr_assert_eq(w->cache.cls[0].block[0], rd);
	}

	/* IDLE: at its "+" the session holds the IDLE's tag, nothing else. */
	cr_assert_eq(
	    imap_proto.relay_guard(s, true, idle, sizeof(idle) - 1, &end),
	    sizeof(idle) - 1);
	cr_assert_eq(
	    imap_proto.relay_guard(s, false, plus, sizeof(plus) - 1, &end),
	    sizeof(plus) - 1);
	cr_assert_null(I(s)->rd);
	cr_assert(I(s)->rest.idling);
	cr_assert_eq(I(s)->rest.pending, 1);
	cr_assert_str_eq(I(s)->rest.holdtag, "a2");
	/* Its end takes the block back, and rests again once read. */
	cr_assert_eq(imap_proto.relay_guard(s, true, done, 2, &end), 2);
	if (!BLOCKCACHE_SANITIZED)
		cr_assert_eq(I(s)->rd, rd);
	cr_assert_eq(
	    imap_proto.relay_guard(s, true, done + 2, sizeof(done) - 3, &end),
	    sizeof(done) - 3);
	cr_assert_null(I(s)->rd);
	cr_assert_not(I(s)->rest.idling);
	cr_assert_not(end);
	sesslog_close(s);
	fixture_session_free(s);
	protolog_stop();
	blockcache_clear(&w->cache);
	free(w);
	event_base_free(base);
}

/*
 * What IMAP ID said is on the rows of the session's whole, cut to its
 * bounds, forgotten when cleared (STARTTLS), and nothing when never said.
 */
Test(sesslog, client_id_on_the_session_rows, .init = rest_dir_make,
    .fini = rest_dir_drop)
{
	struct event_base *base = event_base_new();
	struct proto_conf pc;
	char longname[100], *text, **rows, want[256];
	struct session *s;

	cr_assert_not_null(base);
	memset(&pc, 0, sizeof(pc));
	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	rest_log_start();
	for (uint64_t id = 1; id <= 4; id++) {
		s = rest_session(base, NULL, &pc, id);
		if (id == 1)
			sesslog_client_id(s, "Thunderbird", "115.1");
		else if (id == 2)
			sesslog_client_id(s, "", "2.0");
		else if (id == 3)
			sesslog_client_id(s, longname, longname);
		else {
			sesslog_client_id(s, "Mutt", "2");
			sesslog_client_id(s, NULL, NULL);
		}
		sesslog_close(s);
		fixture_session_free(s);
	}
	protolog_stop();
	text = rest_log_text();
	rows = rest_rows(text, 1, 4);
	cr_expect_not_null(strstr(rows[0], "|CloseSession||Tls=none;"
					   "ClientName=Thunderbird;"
					   "ClientVersion=115.1\n"),
	    "%s", rows[0]);
	cr_expect_not_null(
	    strstr(rows[1], "|CloseSession||Tls=none;ClientVersion=2.0\n"),
	    "%s", rows[1]);
	snprintf(want, sizeof(want),
	    "|CloseSession||Tls=none;ClientName=%.63s;ClientVersion=%.31s\n",
	    longname, longname);
	cr_expect_not_null(strstr(rows[2], want), "%s", rows[2]);
	cr_expect_not_null(strstr(rows[3], "|CloseSession||Tls=none\n"), "%s",
	    rows[3]);
	rest_rows_free(rows, 4);
	free(text);
	event_base_free(base);
}
