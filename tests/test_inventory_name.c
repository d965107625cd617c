#include "config.h"

#include <criterion/criterion.h>
#include <string.h>

#include "exlogname.h"
#include "exlogread.h"

#define H_MS (3600 * (int64_t)1000)
#define D_MS (24 * H_MS)

static int64_t
at(const char *iso)
{
	int64_t ms;

	cr_assert_eq(exlog_time(iso, strlen(iso), &ms), 0, "%s", iso);
	return ms;
}

Test(exlogname, hourly_daily_weekly_monthly)
{
	struct exlog_name n;

	cr_assert_eq(exlog_name_parse("IMAP42026112209-1.LOG", &n), 0);
	cr_assert_eq(n.proto, EXLOG_PROTO_IMAP4);
	cr_assert_not(n.backend);
	cr_assert_eq(n.rollover, EXLOG_ROLL_HOURLY);
	cr_assert_eq(n.seq, 1);
	cr_assert_eq(n.start_ms, at("2026-11-22T09:00:00Z"));
	cr_assert_eq(n.end_ms, n.start_ms + H_MS);

	cr_assert_eq(exlog_name_parse("POP320261122-12.LOG", &n), 0);
	cr_assert_eq(n.proto, EXLOG_PROTO_POP3);
	cr_assert_eq(n.rollover, EXLOG_ROLL_DAILY);
	cr_assert_eq(n.seq, 12);
	cr_assert_eq(n.start_ms, at("2026-11-22T00:00:00Z"));
	cr_assert_eq(n.end_ms, at("2026-11-23T00:00:00Z"));

	cr_assert_eq(exlog_name_parse("IMAP4202402-3.LOG", &n), 0);
	cr_assert_eq(n.rollover, EXLOG_ROLL_MONTHLY);
	cr_assert_eq(n.start_ms, at("2024-02-01T00:00:00Z"));
	cr_assert_eq(n.end_ms, at("2024-03-01T00:00:00Z")); /* leap year */

	cr_assert_eq(exlog_name_parse("POP3202611W1-1.LOG", &n), 0);
	cr_assert_eq(n.rollover, EXLOG_ROLL_WEEKLY);
	cr_assert_eq(n.week, 1);
	/* Week 1 is at most days 1..7, whatever day weeks start on. */
	cr_assert_eq(n.start_ms, at("2026-11-01T00:00:00Z"));
	cr_assert_eq(n.end_ms, at("2026-11-08T00:00:00Z"));
	cr_assert_eq(exlog_name_parse("POP3202611W3-1.LOG", &n), 0);
	/* Week 3 holds days 9..21 at the widest. */
	cr_assert_eq(n.start_ms, at("2026-11-09T00:00:00Z"));
	cr_assert_eq(n.end_ms, at("2026-11-22T00:00:00Z"));
	cr_assert_eq(exlog_name_parse("POP3202603w6-1.LOG", &n), 0);
	/* Week 6 of a 31-day month: the 30th and 31st at most. */
	cr_assert_eq(n.start_ms, at("2026-03-30T00:00:00Z"));
	cr_assert_eq(n.end_ms, at("2026-04-01T00:00:00Z"));
	cr_assert_eq(exlog_name_parse("POP3202602W6-1.LOG", &n), 0);
	/* No week 6 in a February of 28 days: the whole month, to be safe. */
	cr_assert_eq(n.start_ms, at("2026-02-01T00:00:00Z"));
	cr_assert_eq(n.end_ms, at("2026-03-01T00:00:00Z"));
}

Test(exlogname, backend_prefixes_case_and_gzip)
{
	struct exlog_name n;

	cr_assert_eq(exlog_name_parse("POP3BE2026112209-1.LOG", &n), 0);
	cr_assert_eq(n.proto, EXLOG_PROTO_POP3);
	cr_assert(n.backend);
	cr_assert_eq(exlog_name_parse("IMAP4BE20261122-2.LOG", &n), 0);
	cr_assert_eq(n.proto, EXLOG_PROTO_IMAP4);
	cr_assert(n.backend);
	cr_assert_eq(n.rollover, EXLOG_ROLL_DAILY);
	cr_assert_eq(exlog_name_parse("imap4be202611W2-1.log", &n), 0);
	cr_assert(n.backend);
	cr_assert_eq(n.rollover, EXLOG_ROLL_WEEKLY);
	cr_assert_eq(exlog_name_parse("Pop3202611-1.Log", &n), 0);
	cr_assert_eq(n.rollover, EXLOG_ROLL_MONTHLY);
	cr_assert_not(n.gzip);
	cr_assert_eq(exlog_name_parse("IMAP42026112209-1.LOG.gz", &n), 0);
	cr_assert(n.gzip);
	cr_assert_eq(exlog_name_parse("IMAP42026112209-1.LOG.GZ", &n), 0);
	cr_assert(n.gzip);
}

Test(exlogname, rejects_other_names)
{
	static const char *bad[] = {"IMAP42026112209-1.LOG.bak",
	    "IMAP42026112209.LOG", "IMAP42026112209-.LOG",
	    "IMAP42026112209-1.TXT", "IMAP4202611220-1.LOG", /* 9 digits */
	    "IMAP420261122091-1.LOG",                        /* 11 digits */
	    "IMAP42026132209-1.LOG",                         /* month 13 */
	    "IMAP42026022909-1.LOG", /* 29 February 2026 */
	    "IMAP42026112224-1.LOG", /* hour 24 */
	    "IMAP4202611W7-1.LOG", "IMAP4202611W0-1.LOG", "IMAP4202611W-1.LOG",
	    "SMTP2026112209-1.LOG", "POP3XX2026112209-1.LOG",
	    "POP2026112209-1.LOG", "IMAP2026112209-1.LOG",
	    "xIMAP42026112209-1.LOG", "IMAP4-1.LOG", "POP3BE-1.LOG", ""};
	struct exlog_name n;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(exlog_name_parse(bad[i], &n), -1, "%s", bad[i]);
}
