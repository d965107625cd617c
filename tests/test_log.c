/*
 * Unit tests of the daemon log's escaping, of the UTF-8 recogniser behind
 * it and of its limiter of repeated messages.
 */
#include "config.h"

#include <pthread.h>
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
	cr_assert_eq(seq("\xc2\x80"), 2);          /* U+0080 */
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
	cr_assert_eq(seq("\x80"), 0); /* lone continuation */
	cr_assert_eq(seq("\xbf\x80"), 0);
	cr_assert_eq(seq("\xc0\xaf"), 0); /* overlong '/' */
	cr_assert_eq(seq("\xc1\xbf"), 0);
	cr_assert_eq(seq("\xe0\x80\xaf"), 0); /* overlong, 3 bytes */
	cr_assert_eq(seq("\xe0\x9f\xbf"), 0);
	cr_assert_eq(seq("\xf0\x80\x80\xaf"), 0); /* overlong, 4 bytes */
	cr_assert_eq(seq("\xf0\x8f\xbf\xbf"), 0);
	cr_assert_eq(seq("\xed\xa0\x80"), 0);     /* surrogate U+D800 */
	cr_assert_eq(seq("\xed\xbf\xbf"), 0);     /* surrogate U+DFFF */
	cr_assert_eq(seq("\xf4\x90\x80\x80"), 0); /* U+110000 */
	cr_assert_eq(seq("\xf5\x80\x80\x80"), 0);
	cr_assert_eq(seq("\xfe"), 0);
	cr_assert_eq(seq("\xff"), 0);
	cr_assert_eq(seq("\xc3"), 0); /* cut short */
	cr_assert_eq(seq("\xe2\x82"), 0);
	cr_assert_eq(seq("\xf0\x9f\x98"), 0);
	cr_assert_eq(seq("\xc3(("), 0); /* not a continuation */
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

/* --- repeated messages: log_limit ------------------------------------ */

struct report {
	int calls;
	char key[LOG_LIMIT_KEY_MAX];
	int level;
	unsigned long n;
	unsigned span;
};

static void
on_report(void *arg, const char *key, int level, unsigned long n, unsigned span)
{
	struct report *r = arg;

	r->calls++;
	snprintf(r->key, sizeof(r->key), "%s", key);
	r->level = level;
	r->n = n;
	r->span = span;
}

Test(log_limit, one_message_per_key_and_interval_with_the_count)
{
	struct log_limit *ll = log_limit_new(10000, 8);
	unsigned long n;
	unsigned span;
	int i;

	cr_assert_not_null(ll);
	cr_assert(log_limit_check(ll, "backend down", 4, 1000, &n, &span));
	cr_assert_eq(n, 0);
	for (i = 0; i < 5; i++)
		cr_assert_not(log_limit_check(ll, "backend down", 4,
		    1000 + 1999 * (unsigned)i, &n, &span));
	/* One millisecond short of the interval: still held back. */
	cr_assert_not(log_limit_check(ll, "backend down", 4, 10999, &n, &span));
	cr_assert(log_limit_check(ll, "backend down", 4, 11000, &n, &span));
	cr_assert_eq(n, 6);
	cr_assert_eq(span, 10);
	/* The count starts again with the line just let through. */
	cr_assert_not(log_limit_check(ll, "backend down", 4, 12000, &n, &span));
	cr_assert(log_limit_check(ll, "backend down", 4, 40000, &n, &span));
	cr_assert_eq(n, 1);
	cr_assert_eq(span, 29);
	/* A message after a quiet spell has nothing to report. */
	cr_assert(log_limit_check(ll, "backend down", 4, 90000, &n, &span));
	cr_assert_eq(n, 0);
	log_limit_free(ll);
}

Test(log_limit, keys_are_limited_each_on_their_own)
{
	struct log_limit *ll = log_limit_new(10000, 8);
	unsigned long n;
	unsigned span;

	cr_assert(log_limit_check(ll, "backend a: refused", 4, 0, &n, &span));
	cr_assert(log_limit_check(ll, "backend a: timeout", 4, 1, &n, &span));
	cr_assert(log_limit_check(ll, "backend b: refused", 4, 2, &n, &span));
	cr_assert_not(
	    log_limit_check(ll, "backend a: refused", 4, 3, &n, &span));
	cr_assert_not(
	    log_limit_check(ll, "backend a: refused", 4, 4, &n, &span));
	cr_assert_not(
	    log_limit_check(ll, "backend b: refused", 4, 5, &n, &span));
	/* A key that starts like another is another. */
	cr_assert(log_limit_check(ll, "backend a: refusedX", 4, 6, &n, &span));
	cr_assert(
	    log_limit_check(ll, "backend a: refused", 4, 10000, &n, &span));
	cr_assert_eq(n, 2);
	cr_assert(
	    log_limit_check(ll, "backend b: refused", 4, 10002, &n, &span));
	cr_assert_eq(n, 1);
	cr_assert(
	    log_limit_check(ll, "backend a: timeout", 4, 10003, &n, &span));
	cr_assert_eq(n, 0);
	log_limit_free(ll);
}

Test(log_limit, counts_are_reported_when_due_and_at_exit)
{
	struct log_limit *ll = log_limit_new(10000, 8);
	struct report r = {0};
	unsigned long n;
	unsigned span;
	int i;

	cr_assert(log_limit_check(ll, "quiet", 4, 0, &n, &span));
	cr_assert(log_limit_check(ll, "loud", 5, 0, &n, &span));
	for (i = 1; i <= 3; i++)
		cr_assert_not(
		    log_limit_check(ll, "loud", 5, (unsigned)i, &n, &span));
	/* Nothing is due before the interval ends. */
	log_limit_report(ll, 9999, false, on_report, &r);
	cr_assert_eq(r.calls, 0);
	log_limit_report(ll, 12000, false, on_report, &r);
	cr_assert_eq(r.calls, 1, "only the key with a count");
	cr_assert_str_eq(r.key, "loud");
	cr_assert_eq(r.level, 5);
	cr_assert_eq(r.n, 3);
	cr_assert_eq(r.span, 12);
	/* Reported counts are not reported again, and the report starts a
	 * new interval. */
	memset(&r, 0, sizeof(r));
	log_limit_report(ll, 30000, false, on_report, &r);
	cr_assert_eq(r.calls, 0);
	cr_assert_not(log_limit_check(ll, "loud", 5, 12001, &n, &span));
	/* At exit every count goes out, due or not. */
	log_limit_report(ll, 12500, false, on_report, &r);
	cr_assert_eq(r.calls, 0);
	log_limit_report(ll, 12500, true, on_report, &r);
	cr_assert_eq(r.calls, 1);
	cr_assert_eq(r.n, 1);
	cr_assert_eq(r.span, 1, "at least a second");
	log_limit_free(ll);
}

Test(log_limit, keys_beyond_the_table_share_the_last_slot)
{
	/* Two slots of its own, one shared. */
	struct log_limit *ll = log_limit_new(10000, 3);
	struct report r = {0};
	unsigned long n;
	unsigned span;

	cr_assert(log_limit_check(ll, "a", 4, 0, &n, &span));
	cr_assert(log_limit_check(ll, "b", 4, 0, &n, &span));
	cr_assert_not(log_limit_check(ll, "a", 4, 1, &n, &span));
	cr_assert(log_limit_check(ll, "c", 4, 1, &n, &span));
	/* d finds no room either: held back with c, and counted. */
	cr_assert_not(log_limit_check(ll, "d", 4, 2, &n, &span));
	cr_assert_not(log_limit_check(ll, "e", 4, 3, &n, &span));
	log_limit_report(ll, 3, true, on_report, &r);
	cr_assert_eq(r.calls, 2);
	cr_assert_str_eq(r.key, "other repeated messages");
	cr_assert_eq(r.n, 2);
	/* A slot whose key was quiet for an interval goes to a new key. */
	cr_assert(log_limit_check(ll, "f", 4, 20000, &n, &span));
	cr_assert_not(log_limit_check(ll, "f", 4, 20001, &n, &span));
	cr_assert(log_limit_check(ll, "g", 4, 20002, &n, &span));
	cr_assert_not(log_limit_check(ll, "g", 4, 20003, &n, &span));
	memset(&r, 0, sizeof(r));
	log_limit_report(ll, 20004, true, on_report, &r);
	cr_assert_eq(r.calls, 2, "f and g each in a slot of their own");
	log_limit_free(ll);
}

#define RACE_THREADS 8
#define RACE_CALLS 5000

struct race {
	struct log_limit *ll;
	unsigned long allowed;
};

static void *
race_main(void *arg)
{
	struct race *rc = arg;
	unsigned long n;
	unsigned span;
	int i;

	for (i = 0; i < RACE_CALLS; i++)
		if (log_limit_check(rc->ll, "same", 4, 5000, &n, &span))
			rc->allowed++;
	return NULL;
}

/* Workers are threads: every message is either written or counted. */
Test(log_limit, counts_are_exact_across_threads)
{
	struct log_limit *ll = log_limit_new(10000, 4);
	struct race rc[RACE_THREADS];
	pthread_t t[RACE_THREADS];
	struct report r = {0};
	unsigned long allowed = 0;
	int i;

	for (i = 0; i < RACE_THREADS; i++) {
		rc[i].ll = ll;
		rc[i].allowed = 0;
		cr_assert_eq(pthread_create(&t[i], NULL, race_main, &rc[i]), 0);
	}
	for (i = 0; i < RACE_THREADS; i++) {
		pthread_join(t[i], NULL);
		allowed += rc[i].allowed;
	}
	cr_assert_eq(allowed, 1);
	log_limit_report(ll, 5000, true, on_report, &r);
	cr_assert_eq(r.n, RACE_THREADS * RACE_CALLS - 1);
	log_limit_free(ll);
}

/* The process's limiter writes the count after the key's next line or at
 * exit, in the words the manual gives. */
Test(log_limit, limited_messages_and_their_count_on_stderr,
    .init = cr_redirect_stderr)
{
	int i;

	log_init(LOGLEVEL_INFO, false);
	for (i = 0; i < 4; i++)
		log_limited(LOGLEVEL_WARNING, "backend x: refused",
		    "IMAP4 %d: backend x: refused", i);
	log_limited(LOGLEVEL_WARNING, "other", "other %s", "message");
	/* Below the threshold: neither written nor counted. */
	log_limited(LOGLEVEL_DEBUG, "backend x: refused", "debug");
	log_limit_flush(false);
	log_limit_flush(true);
	log_limit_flush(true);
	fflush(stderr);
	cr_assert_stderr_eq_str(
	    "<4>IMAP4 0: backend x: refused\n"
	    "<4>other message\n"
	    "<4>backend x: refused (3 similar messages suppressed in the "
	    "last 1 s)\n");
}
