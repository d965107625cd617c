/*
 * Unit tests of the daemon log's escaping and of the UTF-8 recogniser
 * behind it.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/redirect.h>

#include "log.h"
#include "utf8.h"

static size_t
seq(const char *s)
{
	return utf8_seq_len((const unsigned char *)s, strlen(s));
}

Test(utf8, accepts_every_length_and_the_edges)
{
	cr_assert_eq(seq("a"), 1);
	cr_assert_eq(seq("\x7f"), 1);
	cr_assert_eq(seq("\xc2\x80"), 2);         /* U+0080 */
	cr_assert_eq(seq("\xc3\xa9t\xc3\xa9"), 2); /* é */
	cr_assert_eq(seq("\xdf\xbf"), 2);          /* U+07FF */
	cr_assert_eq(seq("\xe0\xa0\x80"), 3);      /* U+0800 */
	cr_assert_eq(seq("\xed\x9f\xbf"), 3);      /* U+D7FF */
	cr_assert_eq(seq("\xee\x80\x80"), 3);      /* U+E000 */
	cr_assert_eq(seq("\xef\xbf\xbd"), 3);      /* U+FFFD */
	cr_assert_eq(seq("\xf0\x90\x80\x80"), 4);  /* U+10000 */
	cr_assert_eq(seq("\xf0\x9f\x98\x80"), 4);  /* an emoji */
	cr_assert_eq(seq("\xf4\x8f\xbf\xbf"), 4);  /* U+10FFFF */
}

Test(utf8, refuses_what_rfc3629_forbids)
{
	cr_assert_eq(seq("\x80"), 0);             /* lone continuation */
	cr_assert_eq(seq("\xbf\x80"), 0);
	cr_assert_eq(seq("\xc0\xaf"), 0);         /* overlong '/' */
	cr_assert_eq(seq("\xc1\xbf"), 0);
	cr_assert_eq(seq("\xe0\x80\xaf"), 0);     /* overlong, 3 bytes */
	cr_assert_eq(seq("\xe0\x9f\xbf"), 0);
	cr_assert_eq(seq("\xf0\x80\x80\xaf"), 0); /* overlong, 4 bytes */
	cr_assert_eq(seq("\xf0\x8f\xbf\xbf"), 0);
	cr_assert_eq(seq("\xed\xa0\x80"), 0);     /* surrogate U+D800 */
	cr_assert_eq(seq("\xed\xbf\xbf"), 0);     /* surrogate U+DFFF */
	cr_assert_eq(seq("\xf4\x90\x80\x80"), 0); /* U+110000 */
	cr_assert_eq(seq("\xf5\x80\x80\x80"), 0);
	cr_assert_eq(seq("\xfe"), 0);
	cr_assert_eq(seq("\xff"), 0);
	cr_assert_eq(seq("\xc3"), 0);             /* cut short */
	cr_assert_eq(seq("\xe2\x82"), 0);
	cr_assert_eq(seq("\xf0\x9f\x98"), 0);
	cr_assert_eq(seq("\xc3(("), 0);           /* not a continuation */
	cr_assert_eq(seq("\xe2\x28\xa1"), 0);
	cr_assert_eq(seq("\xe2\x82\x28"), 0);
	cr_assert_eq(seq("\xf0\x9f\x28\x80"), 0);
}

static const char *
esc(const char *s, size_t len)
{
	static char out[256];

	log_escape(out, sizeof(out), s, len);
	return out;
}

Test(log, escape_leaves_text_and_utf8_alone)
{
	const char *s = "user j\xc3\xbcrgen@example.org: Thunderbird "
			"\xe2\x80\x94 115.0 \xf0\x9f\x93\xa7 (\"q\") ? ~";

	cr_assert_str_eq(esc(s, strlen(s)), s);
}

Test(log, escape_shows_controls_del_backslash_and_bad_bytes)
{
	cr_assert_str_eq(esc("a\r\nb", 4), "a\\x0d\\x0ab");
	cr_assert_str_eq(esc("a\tb", 3), "a\\x09b");
	cr_assert_str_eq(esc("\x1b[2J\x1b]0;x\x07", 10),
	    "\\x1b[2J\\x1b]0;x\\x07");
	cr_assert_str_eq(esc("a\0b", 3), "a\\x00b");
	cr_assert_str_eq(esc("\x7f", 1), "\\x7f");
	cr_assert_str_eq(esc("dom\\user", 8), "dom\\x5cuser");
	/* A forged escape cannot be told from a real one. */
	cr_assert_str_eq(esc("\\x0a", 4), "\\x5cx0a");
	cr_assert_str_eq(esc("\xff\xfe", 2), "\\xff\\xfe");
	cr_assert_str_eq(esc("\xc0\xaf", 2), "\\xc0\\xaf");
	cr_assert_str_eq(esc("\xed\xa0\x80", 3), "\\xed\\xa0\\x80");
	cr_assert_str_eq(esc("caf\xc3", 4), "caf\\xc3");
	cr_assert_str_eq(esc("\x80\xc3\xa9", 3), "\\x80\xc3\xa9");
	/* C1 controls are valid UTF-8 (U+0080 to U+009F) and pass. */
	cr_assert_str_eq(esc("\xc2\x9b", 2), "\xc2\x9b");
}

Test(log, escape_never_cuts_an_escape_or_a_character)
{
	char out[8];

	cr_assert_eq(log_escape(out, sizeof(out), "ab\ncd", 5), 7);
	cr_assert_str_eq(out, "ab\\x0ac");
	cr_assert_eq(log_escape(out, sizeof(out), "abcdef\xc3\xa9", 8), 6);
	cr_assert_str_eq(out, "abcdef");
	cr_assert_eq(log_escape(out, 4, "\n", 1), 0);
	cr_assert_str_eq(out, "");
	cr_assert_eq(log_escape(out, 5, "\n", 1), 4);
	cr_assert_str_eq(out, "\\x0a");
	cr_assert_eq(log_escape(out, 6, "\n\n", 2), 4);
	cr_assert_str_eq(out, "\\x0a");
}

Test(log, escape_fits_four_bytes_per_byte)
{
	char in[64], out[4 * sizeof(in) + 1];

	memset(in, '\n', sizeof(in));
	cr_assert_eq(log_escape(out, sizeof(out), in, sizeof(in)),
	    4 * sizeof(in));
}

/*
 * The sink itself escapes: a caller that passes a client's text as an
 * argument cannot forge a line.
 */
Test(log, messages_are_escaped_on_their_way_out, .init = cr_redirect_stderr)
{
	log_init(LOGLEVEL_DEBUG, false);
	log_debug("client says it is %s %s", "Evil\r\n<3>forged line",
	    "\x1b[31m1.0\xff");
	log_info("user %s logged in", "j\xc3\xbcrgen");
	fflush(stderr);
	cr_assert_stderr_eq_str(
	    "<7>client says it is Evil\\x0d\\x0a<3>forged line "
	    "\\x1b[31m1.0\\xff\n"
	    "<6>user j\xc3\xbcrgen logged in\n");
}

Test(log, threshold_applies_after_init)
{
	log_init(LOGLEVEL_NOTICE, false);
	cr_assert(log_enabled(LOGLEVEL_NOTICE));
	cr_assert(!log_enabled(LOGLEVEL_INFO));
	log_init(LOGLEVEL_DEBUG, false);
	cr_assert(log_enabled(LOGLEVEL_DEBUG));
}
