/*
 * exlogname: protocol log file names and the dates in them.
 */
#include "config.h"

#include <string.h>
#include <strings.h>

#include "exlogname.h"
#include "exlogread.h"

#define DAY_MS (24 * 3600 * (int64_t)1000)

static const struct {
	const char *prefix;
	enum exlog_proto proto;
	bool backend;
} prefixes[] = {
    /* The back-end forms first: "POP3" is a prefix of "POP3BE". */
    {"POP3BE", EXLOG_PROTO_POP3, true},
    {"POP3", EXLOG_PROTO_POP3, false},
    {"IMAP4BE", EXLOG_PROTO_IMAP4, true},
    {"IMAP4", EXLOG_PROTO_IMAP4, false},
};

static int
month_days(int y, int m)
{
	static const int md[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30,
	    31};

	if (m == 2 && y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))
		return 29;
	return md[m - 1];
}

static int
num(const char *p, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++)
		v = v * 10 + (p[i] - '0');
	return v;
}

static int64_t
day_ms(int y, int m, int d)
{
	return exlog_days_from_civil(y, (unsigned)m, (unsigned)d) * DAY_MS;
}

int
exlog_name_parse(const char *name, struct exlog_name *out)
{
	const char *p = name, *date;
	size_t i, nd;
	int y, m;

	memset(out, 0, sizeof(*out));
	for (i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		size_t pl = strlen(prefixes[i].prefix);

		if (strncasecmp(p, prefixes[i].prefix, pl) == 0 &&
		    p[pl] >= '0' && p[pl] <= '9') {
			out->proto = prefixes[i].proto;
			out->backend = prefixes[i].backend;
			p += pl;
			break;
		}
	}
	if (out->proto == EXLOG_PROTO_UNKNOWN)
		return -1;
	date = p;
	for (nd = 0; p[nd] >= '0' && p[nd] <= '9'; nd++)
		;
	p += nd;
	if (nd != 10 && nd != 8 && nd != 6)
		return -1;
	y = num(date, 4);
	m = num(date + 4, 2);
	if (y < 1970 || m < 1 || m > 12)
		return -1;
	out->year = y;
	out->month = m;
	if (nd == 6 && (*p == 'W' || *p == 'w')) {
		int w = p[1] - '0', first, last;

		if (w < 1 || w > 6)
			return -1;
		p += 2;
		out->rollover = EXLOG_ROLL_WEEKLY;
		out->week = w;
		/* Week w holds days (w-1)*7+1-o .. w*7-o of the month, o
		 * being 0 to 6 by the weekday of the 1st. */
		first = (w - 1) * 7 - 5;
		last = w * 7;
		if (first < 1)
			first = 1;
		if (last > month_days(y, m))
			last = month_days(y, m);
		/* A week no calendar gives this month: say the whole month
		 * rather than drop the file. */
		if (first > last) {
			first = 1;
			last = month_days(y, m);
		}
		out->start_ms = day_ms(y, m, first);
		out->end_ms = day_ms(y, m, last) + DAY_MS;
	} else if (nd == 6) {
		out->rollover = EXLOG_ROLL_MONTHLY;
		out->start_ms = day_ms(y, m, 1);
		out->end_ms = day_ms(y, m, month_days(y, m)) + DAY_MS;
	} else {
		int d = num(date + 6, 2);

		if (d < 1 || d > month_days(y, m))
			return -1;
		out->day = d;
		out->start_ms = day_ms(y, m, d);
		out->end_ms = out->start_ms + DAY_MS;
		out->rollover = EXLOG_ROLL_DAILY;
		if (nd == 10) {
			int h = num(date + 8, 2);

			if (h > 23)
				return -1;
			out->rollover = EXLOG_ROLL_HOURLY;
			out->hour = h;
			out->start_ms += h * 3600 * (int64_t)1000;
			out->end_ms = out->start_ms + 3600 * (int64_t)1000;
		}
	}
	if (*p++ != '-' || *p < '0' || *p > '9')
		return -1;
	for (out->seq = 0; *p >= '0' && *p <= '9'; p++) {
		if (out->seq > 100000000)
			return -1;
		out->seq = out->seq * 10 + (unsigned long)(*p - '0');
	}
	if (strncasecmp(p, ".LOG", 4) != 0)
		return -1;
	p += 4;
	if (*p == '\0')
		return 0;
	if (strcasecmp(p, ".gz") == 0) {
		out->gzip = true;
		return 0;
	}
	return -1;
}
