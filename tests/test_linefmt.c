/*
 * linefmt: a dialogue line fits the stack's room or goes to the heap,
 * whole either way; the room's edge; cleansing after use.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "linefmt.h"

static bool fmt(struct linefmt *f, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

static bool
fmt(struct linefmt *f, const char *format, ...)
{
	va_list ap;
	bool ok;

	va_start(ap, format);
	ok = linefmt_v(f, format, ap);
	va_end(ap);
	return ok;
}

Test(linefmt, a_short_line_stays_on_the_stack)
{
	struct linefmt f;

	cr_assert(fmt(&f, "a%d OK %s\r\n", 1, "done"));
	cr_assert_eq(f.p, f.buf);
	cr_assert_eq(f.len, strlen("a1 OK done\r\n"));
	cr_assert_str_eq(f.p, "a1 OK done\r\n");
	linefmt_done(&f, false);
}

Test(linefmt, the_room_edge_and_a_longer_line_are_whole)
{
	size_t room = sizeof(((struct linefmt *)0)->buf);
	size_t sizes[] = {room - 2, room - 1, room, room + 1, 3 * room};

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		struct linefmt f;
		char *arg = malloc(sizes[i] + 1);

		cr_assert_not_null(arg);
		for (size_t k = 0; k < sizes[i]; k++)
			arg[k] = (char)('a' + k % 26);
		arg[sizes[i]] = '\0';
		cr_assert(fmt(&f, "%s\n", arg));
		cr_assert_eq(f.len, sizes[i] + 1, "size %zu", sizes[i]);
		cr_assert_eq(memcmp(f.p, arg, sizes[i]), 0);
		cr_assert_eq(f.p[sizes[i]], '\n');
		/* The stack holds a line of room - 1 bytes and its NUL. */
		cr_assert_eq(f.p == f.buf, sizes[i] + 1 < room, "size %zu",
		    sizes[i]);
		linefmt_done(&f, true);
		cr_assert_eq(f.p, f.buf);
		cr_assert_eq(f.len, 0);
		free(arg);
	}
}

Test(linefmt, cleansing_leaves_no_copy_on_the_stack)
{
	struct linefmt f;

	cr_assert(fmt(&f, "AUTH PLAIN %s\r\n", "AGJvYgBzZWNyZXQ="));
	linefmt_done(&f, true);
	cr_assert_null(memmem(f.buf, sizeof(f.buf), "AGJvYgBz", 8));
}

/* The directives formatted without stdio give vsnprintf's bytes. */
Test(linefmt, every_directive_as_snprintf_writes_it)
{
	struct linefmt f;
	char want[256];
	const char *volatile none = NULL;
	const char *word = "postern";

	cr_assert(fmt(&f, "%d %d %d %u %u %zu %zu %%%s%%", 0, -7, INT_MIN, 0u,
	    UINT_MAX, (size_t)0, SIZE_MAX, "x"));
	snprintf(want, sizeof(want), "%d %d %d %u %u %zu %zu %%%s%%", 0, -7,
	    INT_MIN, 0u, UINT_MAX, (size_t)0, SIZE_MAX, "x");
	cr_assert_str_eq(f.p, want);
	cr_assert_eq(f.len, strlen(want));
	linefmt_done(&f, false);

	cr_assert(fmt(&f, "[%.*s|%.*s|%.*s]", 3, word, 0, word, -1, word));
	cr_assert_str_eq(f.p, "[pos||postern]");
	linefmt_done(&f, false);

	cr_assert(fmt(&f, "%s.", none));
	cr_assert_str_eq(f.p, "(null).");
	linefmt_done(&f, false);

	/* Another directive goes to vsnprintf, whole. */
	cr_assert(fmt(&f, "%s %016llx %s", "a", 0x1234ULL, "b"));
	cr_assert_str_eq(f.p, "a 0000000000001234 b");
	cr_assert_eq(f.len, strlen(f.p));
	linefmt_done(&f, false);

	/* Empty and literal-only lines. */
	cr_assert(fmt(&f, "%s", ""));
	cr_assert_eq(f.len, 0);
	cr_assert_str_eq(f.p, "");
	linefmt_done(&f, false);
	cr_assert(fmt(&f, "+OK\r\n"));
	cr_assert_str_eq(f.p, "+OK\r\n");
	linefmt_done(&f, false);
}
