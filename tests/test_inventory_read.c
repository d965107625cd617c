#include "config.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exlogread.h"
#include "inventory_testutil.h"

/* Rows as the one-piece reading gives them must come out the same for
 * every split of the input, and when it is fed one byte at a time. */
static char *
check_splits(const char *text, size_t len)
{
	char *whole = read_text(text, len, len, 0, NULL);

	for (size_t k = 0; k <= len; k++) {
		char *part = read_text(text, len, k, 0, NULL);

		cr_assert_str_eq(part, whole, "split at byte %zu differs", k);
		free(part);
	}
	{
		char *bytes = read_text(text, len, 0, 1, NULL);

		cr_assert_str_eq(bytes, whole);
		free(bytes);
	}
	return whole;
}

static size_t
count_prefix(const char *s, const char *prefix)
{
	size_t n = 0, pl = strlen(prefix);

	for (const char *p = s; p != NULL && *p != '\0';) {
		if (strncmp(p, prefix, pl) == 0)
			n++;
		p = strchr(p, '\n');
		if (p != NULL)
			p++;
	}
	return n;
}

static char *
sample(const char *name, size_t *len)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/%s", samples_dir(), name);
	return slurp(path, len);
}

Test(exlogread, every_real_sample_reads_the_same_split_at_every_byte)
{
	DIR *d = opendir(samples_dir());
	struct dirent *de;
	int files = 0;

	cr_assert_not_null(d);
	while ((de = readdir(d)) != NULL) {
		size_t len, nl = 0;
		char path[4096], *text, *rows;

		if (strstr(de->d_name, ".log") == NULL)
			continue;
		snprintf(path, sizeof(path), "%s/%s", samples_dir(), de->d_name);
		text = slurp(path, &len);
		rows = check_splits(text, len);
		/* Every line is either a row (good or bad) or a comment. */
		for (size_t i = 0; i < len; i++)
			nl += text[i] == '\n';
		if (len > 0 && text[len - 1] != '\n')
			nl++;
		cr_assert_eq(count_prefix(rows, "ROW ") + count_prefix(rows, "BAD ") +
			count_prefix(text, "#"),
		    nl, "%s", de->d_name);
		free(rows);
		free(text);
		files++;
	}
	closedir(d);
	cr_assert_geq(files, 7);
}

Test(exlogread, real_samples_row_counts_and_the_truncated_row)
{
	static const struct {
		const char *name;
		size_t rows, bad;
	} want[] = {
	    {"crowdsecurity-hub__exchange-imap-bf.log", 7, 0},
	    {"crowdsecurity-hub__exchange-imap-logs.log", 1, 0},
	    {"crowdsecurity-hub__exchange-pop-bf.log", 8, 0},
	    {"crowdsecurity-hub__exchange-pop-logs.log", 1, 0},
	    {"crowdsecurity-hub__parser-comment-examples.log", 2, 0},
	    {"msqa-112837__IMAP4-frontend-Exchange2013.log", 3, 1},
	    {"msqa-1156767__IMAP4-frontend-Exchange2013CU23.log", 14, 0},
	};

	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		size_t len;
		char *text = sample(want[i].name, &len);
		char *rows = read_text(text, len, len, 0, NULL);

		cr_assert_eq(count_prefix(rows, "ROW "), want[i].rows, "%s: %s",
		    want[i].name, rows);
		cr_assert_eq(count_prefix(rows, "BAD "), want[i].bad, "%s",
		    want[i].name);
		free(rows);
		free(text);
	}
	{
		size_t len;
		char *text = sample("msqa-112837__IMAP4-frontend-Exchange2013.log", &len);
		char *rows = read_text(text, len, len, 0, NULL);
		char want_bad[32];

		/* The poster cut the last row short: 11 fields on line 4. */
		snprintf(want_bad, sizeof(want_bad), "BAD 4 %d\n", EXLOG_BAD_FIELDS);
		cr_assert_not_null(strstr(rows, want_bad), "%s", rows);
		free(rows);
		free(text);
	}
}

Test(exlogread, real_rows_fields_and_quoting)
{
	size_t len;
	char *text = sample("crowdsecurity-hub__exchange-pop-logs.log", &len);
	char *rows = read_text(text, len, len, 0, NULL);

	/* 13 fields, the last (puid) empty; parameters keep their space;
	 * the doubled quotes of the context are undone. */
	cr_assert_str_eq(rows,
	    "ROW 1 13:|2022-07-20T21:23:48.514Z|0000000000000005|1|"
	    "192.168.9.241:110|192.168.9.212:55576|testuser|193|21|69|auth| PLAIN|"
	    "R=\"-ERR Authentication failure: unknown user name or bad password.\";"
	    "Msg=\"AuthFailed:LogonDenied,User: testuser\";"
	    "ErrMsg=AuthFailed:LogonDenied|\n");
	free(rows);
	free(text);
	text = sample("msqa-1156767__IMAP4-frontend-Exchange2013CU23.log", &len);
	rows = read_text(text, len, len, 0, NULL);
	/* Exchange 2013: 12 fields. */
	cr_assert_not_null(strstr(rows,
	    "ROW 3 12:|2023-01-09T13:16:59.473Z|00000000000000E2|2|"
	    "192.168.3.212:993|192.168.3.212:22162|<username>|122|41|23|login|"
	    "<username@keyman  .local> *****|R=\"aXSV NO LOGIN failed.\";"
	    "Msg=Proxy:<CAS FQDN>:1993:SSL;ErrMsg=ProxyNotAuthenticated\n"));
	free(rows);
	free(text);
}

static const char header[] =
    "dateTime,sessionId,seqNumber,sIp,cIp,user,duration,rqsize,rpsize,"
    "command,parameters,context,puid\r\n"
    "#Software: Microsoft Exchange Server\r\n"
    "#Version: 15.0.0.0\r\n"
    "#Log-type: POP3 Log\r\n"
    "#Date: 2026-11-22T09:00:00.000Z\r\n"
    "#Fields: dateTime,sessionId,seqNumber,sIp,cIp,user,duration,rqsize,"
    "rpsize,command,parameters,context,puid\r\n";

Test(exlogread, header_block_skipped_anywhere_and_log_type_read)
{
	char text[4096];
	char *rows;
	enum exlog_logtype lt;

	snprintf(text, sizeof(text),
	    "%s"
	    "2026-11-22T09:00:01.000Z,01,0,10.0.0.1:110,10.0.0.2:5000,,1,0,40,"
	    "OpenSession,,,\r\n"
	    "%s"
	    "2026-11-22T09:00:02.000Z,01,1,10.0.0.1:110,10.0.0.2:5000,,1,6,20,"
	    "capa,,R=ok,\r\n"
	    "\r\n",
	    header, header);
	rows = read_text(text, strlen(text), strlen(text), 0, &lt);
	cr_assert_eq(lt, EXLOG_TYPE_POP3);
	cr_assert_str_eq(rows,
	    "ROW 7 13:|2026-11-22T09:00:01.000Z|01|0|10.0.0.1:110|10.0.0.2:5000||"
	    "1|0|40|OpenSession|||\n"
	    "ROW 14 13:|2026-11-22T09:00:02.000Z|01|1|10.0.0.1:110|10.0.0.2:5000||"
	    "1|6|20|capa||R=ok|\n");
	free(rows);
	free(check_splits(text, strlen(text)));
}

Test(exlogread, crlf_and_lf_give_the_same_rows)
{
	const char *lf = "2026-01-01T00:00:00.000Z,1,0,a:1,b:2,u,1,2,3,c,p,R=ok,\n"
			 "2026-01-01T00:00:00.000Z,1,1,a:1,b:2,u,1,2,3,d,p,R=ok\n";
	const char *crlf = "2026-01-01T00:00:00.000Z,1,0,a:1,b:2,u,1,2,3,c,p,R=ok,\r\n"
			   "2026-01-01T00:00:00.000Z,1,1,a:1,b:2,u,1,2,3,d,p,R=ok\r\n";
	char *a = read_text(lf, strlen(lf), strlen(lf), 0, NULL);
	char *b = check_splits(crlf, strlen(crlf));

	cr_assert_str_eq(a, b);
	cr_assert_eq(count_prefix(a, "ROW "), 2);
	cr_assert_not_null(strstr(a, "ROW 1 13:"));
	cr_assert_not_null(strstr(a, "ROW 2 12:"));
	free(a);
	free(b);
}

Test(exlogread, field_counts_other_than_12_or_13_are_bad_not_fatal)
{
	const char *t = "2026-01-01T00:00:00.000Z,1,0,a,b,u,1,2,3,c,p\n" /* 11 */
			"2026-01-01T00:00:00.000Z,1,0,a,b,u,1,2,3,c,p,x,y,z\n" /* 14 */
			"2026-01-01T00:00:00.000Z,1,0,a,b,u,1,2,3,c,p,x,\n";   /* 13 */
	char *rows = check_splits(t, strlen(t));
	char want[128];

	snprintf(want, sizeof(want), "BAD 1 %d\nBAD 2 %d\nROW 3 13:",
	    EXLOG_BAD_FIELDS, EXLOG_BAD_FIELDS);
	cr_assert_eq(strncmp(rows, want, strlen(want)), 0, "%s", rows);
	free(rows);
}

Test(exlogread, quoting_edge_cases)
{
	const char *t =
	    /* doubled quotes, a comma inside, an empty quoted field */
	    "T,1,0,a,b,\"dom,ain\",1,2,3,login,\"say \"\"hi\"\"\",\"\",\n"
	    /* a field that is only a doubled quote, and quotes at the end */
	    "T,1,0,a,b,u,1,2,3,c,\"\"\"\",\"R=\"\"x\"\"\"\n"
	    /* escaped CR and LF are two characters and do not end the row */
	    "T,1,0,a,b,u,1,2,3,c,line1\\r\\nline2,\"a,\\nb\",\n"
	    /* a quote never closed: bad, and the next line still reads */
	    "T,1,0,a,b,u,1,2,3,c,\"open,ctx,\n"
	    /* text after a closing quote */
	    "T,1,0,a,b,u,1,2,3,c,\"x\"y,ctx,\n"
	    /* a stray quote inside an unquoted field is kept */
	    "T,1,0,a,b,u,1,2,3,c,5\" disk,ctx,\n";
	char *rows = check_splits(t, strlen(t));
	char want[1024];

	snprintf(want, sizeof(want),
	    "ROW 1 13:|T|1|0|a|b|dom,ain|1|2|3|login|say \"hi\"||\n"
	    "ROW 2 12:|T|1|0|a|b|u|1|2|3|c|\"|R=\"x\"\n"
	    "ROW 3 13:|T|1|0|a|b|u|1|2|3|c|line1\\r\\nline2|a,\\nb|\n"
	    "BAD 4 %d\n"
	    "BAD 5 %d\n"
	    "ROW 6 13:|T|1|0|a|b|u|1|2|3|c|5\" disk|ctx|\n",
	    EXLOG_BAD_QUOTE, EXLOG_BAD_QUOTE);
	cr_assert_str_eq(rows, want);
	free(rows);
}

Test(exlogread, utf8_bom_and_no_final_newline)
{
	const char *t = "\xef\xbb\xbf"
			"dateTime,sessionId,seqNumber,sIp,cIp,user,duration,rqsize,"
			"rpsize,command,parameters,context,puid\n"
			"T,1,0,a,b,u,1,2,3,c,p,x,";
	char *rows = check_splits(t, strlen(t));

	cr_assert_str_eq(rows, "ROW 2 13:|T|1|0|a|b|u|1|2|3|c|p|x|\n");
	free(rows);
}

Test(exlogread, overlong_line_is_bad_and_reading_goes_on)
{
	size_t big = EXLOG_LINE_MAX + 100, i;
	char *t = malloc(big + 200);
	char *rows;
	char want[128];

	memcpy(t, "T,1,0,a,b,u,1,2,3,c,", 20);
	for (i = 20; i < big; i++)
		t[i] = 'x';
	strcpy(t + big, "\nT,1,1,a,b,u,1,2,3,c,p,x,\n");
	snprintf(want, sizeof(want), "BAD 1 %d\nROW 2 13:|T|1|1|a|b|u|1|2|3|c|p|x|\n",
	    EXLOG_BAD_TOOLONG);
	/* Whole, split inside the long line, and in 1000-byte pieces. */
	rows = read_text(t, strlen(t), strlen(t), 0, NULL);
	cr_assert_str_eq(rows, want);
	free(rows);
	rows = read_text(t, strlen(t), 5000, 0, NULL);
	cr_assert_str_eq(rows, want);
	free(rows);
	rows = read_text(t, strlen(t), 0, 1000, NULL);
	cr_assert_str_eq(rows, want);
	free(rows);
	/* Without a final line end too. */
	t[big] = '\0';
	rows = read_text(t, strlen(t), 0, 4096, NULL);
	snprintf(want, sizeof(want), "BAD 1 %d\n", EXLOG_BAD_TOOLONG);
	cr_assert_str_eq(rows, want);
	free(rows);
	free(t);
}

Test(exlogread, unescape_decodes_cr_and_lf_only)
{
	char out[32];

	cr_assert_eq(exlog_unescape("a\\r\\nb\\t\\", 9, out, sizeof(out)), 7);
	cr_assert_str_eq(out, "a\r\nb\\t\\");
	/* Cut to the buffer, still terminated, full length returned. */
	cr_assert_eq(exlog_unescape("abcdef", 6, out, 4), 6);
	cr_assert_str_eq(out, "abc");
}

Test(exlogread, time_parsing)
{
	int64_t ms;

	cr_assert_eq(exlog_time("1970-01-01T00:00:00.000Z", 24, &ms), 0);
	cr_assert_eq(ms, 0);
	cr_assert_eq(exlog_time("2023-01-09T13:16:59.348Z", 24, &ms), 0);
	cr_assert_eq(ms, 1673270219348LL);
	cr_assert_eq(exlog_time("2024-02-29T23:59:59Z", 20, &ms), 0);
	cr_assert_eq(ms, 1709251199000LL);
	cr_assert_eq(exlog_time("2024-02-29T23:59:59.1234567Z", 28, &ms), 0);
	cr_assert_eq(ms, 1709251199123LL);
	cr_assert_eq(exlog_time("2023-02-29T00:00:00.000Z", 24, &ms), -1);
	cr_assert_eq(exlog_time("2023-13-01T00:00:00.000Z", 24, &ms), -1);
	cr_assert_eq(exlog_time("2023-01-01T24:00:00.000Z", 24, &ms), -1);
	cr_assert_eq(exlog_time("2023-01-01 00:00:00.000Z", 24, &ms), -1);
	cr_assert_eq(exlog_time("2023-01-01T00:00:00.000", 23, &ms), -1);
	cr_assert_eq(exlog_time("2023-01-01T00:00:00.Z", 21, &ms), -1);
	cr_assert_eq(exlog_time("2023-0a-01T00:00:00.000Z", 24, &ms), -1);
}

Test(exlogread, context_values)
{
	const char *ctx = "R=\"a1 NO [AUTHENTICATIONFAILED] failed.\";"
			  "Msg=\"Proxy:h:993:SSL;ProxySuccess\";ErrMsg=AuthFailed;"
			  "Tls=starttls:TLSv1.3;Empty=;Flag";
	struct exlog_span v;

	cr_assert(exlog_context_get(ctx, strlen(ctx), "R", &v));
	cr_assert_eq(v.len, strlen("a1 NO [AUTHENTICATIONFAILED] failed."));
	cr_assert_eq(strncmp(v.p, "a1 NO", 5), 0);
	cr_assert(exlog_context_get(ctx, strlen(ctx), "msg", &v));
	cr_assert_eq(v.len, strlen("Proxy:h:993:SSL;ProxySuccess"));
	cr_assert(exlog_context_get(ctx, strlen(ctx), "ErrMsg", &v));
	cr_assert_eq(v.len, strlen("AuthFailed"));
	cr_assert(exlog_context_get(ctx, strlen(ctx), "Tls", &v));
	cr_assert_eq(strncmp(v.p, "starttls:TLSv1.3", v.len), 0);
	cr_assert(exlog_context_get(ctx, strlen(ctx), "Empty", &v));
	cr_assert_eq(v.len, 0);
	cr_assert_not(exlog_context_get(ctx, strlen(ctx), "Flag", &v));
	cr_assert_not(exlog_context_get(ctx, strlen(ctx), "ProxySuccess", &v));
	cr_assert_not(exlog_context_get("", 0, "R", &v));
}
