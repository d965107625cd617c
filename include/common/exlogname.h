/*
 * exlogname: the names of Exchange-format protocol log files,
 * (POP3BE|POP3|IMAP4BE|IMAP4)<date>-<N>.LOG, case-insensitive, optionally
 * followed by ".gz", and the span of time the rows of such a file lie in.
 *
 * The date has one of the four rollover forms: hourly yyyyMMddHH, daily
 * yyyyMMdd (also the form of size-quota files), weekly yyyyMMWw (week of
 * the month, 1 to 6) and monthly yyyyMM, all UTC.
 */
#ifndef POSTERN_EXLOGNAME_H
#define POSTERN_EXLOGNAME_H

#include <stdbool.h>
#include <stdint.h>

/* The protocol a log file is for. */
enum exlog_proto { EXLOG_PROTO_UNKNOWN, EXLOG_PROTO_POP3, EXLOG_PROTO_IMAP4 };

/* The rollover form of the date in a name. */
enum exlog_rollover {
	EXLOG_ROLL_HOURLY,
	EXLOG_ROLL_DAILY,
	EXLOG_ROLL_WEEKLY,
	EXLOG_ROLL_MONTHLY
};

/* What a file name says. */
struct exlog_name {
	enum exlog_proto proto;
	bool backend; /* POP3BE / IMAP4BE: written by an Exchange back end */
	bool gzip;    /* ends in ".gz" */
	enum exlog_rollover rollover;
	int year, month, day, hour, week; /* as far as the form has them */
	unsigned long seq;                /* the N after the date */
	/*
	 * Every row of the file lies in [start_ms, end_ms).  For weekly
	 * files the span is widened to every day that week w could hold,
	 * whichever day the week starts on, so that no file is skipped by
	 * mistake.
	 */
	int64_t start_ms, end_ms;
};

/*
 * Parses a file name (the last path component only).  Returns 0 and fills
 * in *out when the name is a protocol log's name, -1 when it is not.
 */
int exlog_name_parse(const char *name, struct exlog_name *out);

#endif /* POSTERN_EXLOGNAME_H */
