/*
 * backend: failure reasons kept per session, and the cutting of the
 * backend's bytes into lines.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "session.h"

Test(backend, failure_reasons_are_per_session)
{
	struct session a, b;

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	cr_assert_str_eq(backend_error(&a), "login dialogue failed");
	backend_set_failure(&a, BACKEND_FAILURE_TIMEOUT,
	    "no login within %u ms", 1000u);
	backend_set_failure(&b, BACKEND_FAILURE_CLOSED, "closed");
	cr_assert_eq(a.backend_failure, BACKEND_FAILURE_TIMEOUT);
	cr_assert_str_eq(backend_error(&a), "no login within 1000 ms");
	cr_assert_eq(b.backend_failure, BACKEND_FAILURE_CLOSED);
	cr_assert_str_eq(backend_error(&b), "closed");
	/* A later failure of the same session replaces the earlier one. */
	backend_set_failure(&a, BACKEND_FAILURE_PROTOCOL, "bad answer");
	cr_assert_str_eq(backend_error(&a), "bad answer");
	cr_assert_str_eq(backend_error(&b), "closed");
	free(a.backend_why);
	free(b.backend_why);
}

/* backend_line_split() on b, a string, with a limit of max. */
static enum backend_split
split(const char *b, size_t max, size_t *linelen, size_t *eollen)
{
	*linelen = *eollen = 99;
	return backend_line_split(b, strlen(b), max, linelen, eollen);
}

Test(backend, line_split_ends)
{
	size_t n, e;

	cr_assert_eq(split("+OK hi\r\nmore", 100, &n, &e), BACKEND_SPLIT_LINE);
	cr_assert_eq(n, 6);
	cr_assert_eq(e, 2);
	/* A bare LF ends a line too; a CR elsewhere belongs to the line. */
	cr_assert_eq(split("a\rb\n", 100, &n, &e), BACKEND_SPLIT_LINE);
	cr_assert_eq(n, 3);
	cr_assert_eq(e, 1);
	cr_assert_eq(split("a\r\r\n", 100, &n, &e), BACKEND_SPLIT_LINE);
	cr_assert_eq(n, 2);
	cr_assert_eq(e, 2);
	cr_assert_eq(split("\r\n", 100, &n, &e), BACKEND_SPLIT_LINE);
	cr_assert_eq(n, 0);
	cr_assert_eq(e, 2);
	/* Not yet: no LF, even after a CR. */
	cr_assert_eq(split("+OK hi\r", 100, &n, &e), BACKEND_SPLIT_MORE);
	cr_assert_eq(split("", 100, &n, &e), BACKEND_SPLIT_MORE);
}

Test(backend, line_split_limit)
{
	size_t n, e;

	/* max bytes before the end are a line; one more is too long. */
	cr_assert_eq(split("abcd\r\n", 4, &n, &e), BACKEND_SPLIT_LINE);
	cr_assert_eq(n, 4);
	cr_assert_eq(split("abcde\r\n", 4, &n, &e), BACKEND_SPLIT_TOO_LONG);
	cr_assert_eq(split("abcde\n", 4, &n, &e), BACKEND_SPLIT_TOO_LONG);
	/* Without an end: waiting up to max bytes, then too long. */
	cr_assert_eq(split("abcd", 4, &n, &e), BACKEND_SPLIT_MORE);
	cr_assert_eq(split("abcde", 4, &n, &e), BACKEND_SPLIT_TOO_LONG);
}
