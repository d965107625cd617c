#include "config.h"

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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
		snprintf(path, sizeof(path), "%s/%s", samples_dir(),
		    de->d_name);
		text = slurp(path, &len);
		rows = check_splits(text, len);
		/* Every line is either a row (good or bad) or a comment. */
		for (size_t i = 0; i < len; i++)
			nl += text[i] == '\n';
		if (len > 0 && text[len - 1] != '\n')
			nl++;
		cr_assert_eq(count_prefix(rows, "ROW ") +
				 count_prefix(rows, "BAD ") +
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
		char *text = sample(
		    "msqa-112837__IMAP4-frontend-Exchange2013.log", &len);
		char *rows = read_text(text, len, len, 0, NULL);
		char want_bad[32];

		/* The poster cut the last row short: 11 fields on line 4. */
		snprintf(want_bad, sizeof(want_bad), "BAD 4 %d\n",
		    EXLOG_BAD_FIELDS);
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
	text =
	    sample("msqa-1156767__IMAP4-frontend-Exchange2013CU23.log", &len);
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
	const char *lf =
	    "2026-01-01T00:00:00.000Z,1,0,a:1,b:2,u,1,2,3,c,p,R=ok,\n"
	    "2026-01-01T00:00:00.000Z,1,1,a:1,b:2,u,1,2,3,d,p,R=ok\n";
	const char *crlf =
	    "2026-01-01T00:00:00.000Z,1,0,a:1,b:2,u,1,2,3,c,p,R=ok,\r\n"
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
	const char *t =
	    "2026-01-01T00:00:00.000Z,1,0,a,b,u,1,2,3,c,p\n"       /* 11 */
	    "2026-01-01T00:00:00.000Z,1,0,a,b,u,1,2,3,c,p,x,y,z\n" /* 14 */
	    "2026-01-01T00:00:00.000Z,1,0,a,b,u,1,2,3,c,p,x,\n";   /* 13 */
	char *rows = check_splits(t, strlen(t));
	char want[128];

	snprintf(want, sizeof(want),
	    "BAD 1 %d\nBAD 2 %d\nROW 3 13:", EXLOG_BAD_FIELDS,
	    EXLOG_BAD_FIELDS);
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
	const char *t =
	    "\xef\xbb\xbf"
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
	snprintf(want, sizeof(want),
	    "BAD 1 %d\nROW 2 13:|T|1|1|a|b|u|1|2|3|c|p|x|\n",
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

Test(exlogread, context_values_with_quotes)
{
	/* What postern writes for an ID version 16.0 "x" (quotes doubled). */
	const char *ctx = "ClientName=\"Microsoft Outlook\";"
			  "ClientVersion=\"16.0 \"\"x\"\"\";ErrMsg=\"\"\"\"";
	struct exlog_span v;
	char out[32];

	cr_assert(exlog_context_get(ctx, strlen(ctx), "ClientVersion", &v));
	cr_assert_eq(exlog_context_value(&v, out, sizeof(out)), 8);
	cr_assert_str_eq(out, "16.0 \"x\"");
	cr_assert(exlog_context_get(ctx, strlen(ctx), "ErrMsg", &v));
	cr_assert_eq(exlog_context_value(&v, out, sizeof(out)), 1);
	cr_assert_str_eq(out, "\"");
	/* A short buffer cuts, never overruns. */
	cr_assert(exlog_context_get(ctx, strlen(ctx), "ClientName", &v));
	cr_assert_eq(exlog_context_value(&v, out, 5), 4);
	cr_assert_str_eq(out, "Micr");
}

Test(exlogread, context_values)
{
	const char *ctx =
	    "R=\"a1 NO [AUTHENTICATIONFAILED] failed.\";"
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

/*
 * The line scanners.  Every one (AVX2, SSE2, a byte at a time) is checked
 * against a reference reader written for clarity alone, a line and a byte
 * at a time, over generated lines: commas, quotes and line ends at every
 * offset of a 16-, 32- or 64-byte step, and every input fed split at every
 * byte so that lines cross block boundaries.
 */

/* The parameter of a test: names, not pointers, which would not survive
 * Criterion's running each test in a process of its own. */
struct scanner {
	char name[8];
};

static struct scanner scanners[] = {{"avx2"}, {"sse2"}, {"scalar"}};

/* Makes the readers of this test use the named scanner. */
static void
use_scanner(const char *name)
{
	struct exlog_reader r;

	if (exlog_scanner_force(name) < 0) {
		cr_assert_str_neq(name, "scalar", "no scalar scanner");
#if defined(__x86_64__) && defined(__GNUC__)
		/* SSE2 is part of x86-64; only AVX2 may be missing. */
		cr_assert(strcmp(name, "avx2") == 0 &&
			      !__builtin_cpu_supports("avx2"),
		    "scanner %s not available", name);
#endif
		cr_skip_test("no %s scanner on this CPU", name);
	}
	cr_assert_eq(exlog_reader_init(&r), 0);
	cr_assert_str_eq(exlog_scanner_name(&r), name);
	exlog_reader_free(&r);
}

/* One line (no LF) as the reference sees it; appends the result to sb. */
static void
ref_line(struct strbuf *sb, unsigned long long ln, const char *s, size_t len)
{
	struct strbuf fields = {0};
	enum exlog_bad bad = EXLOG_BAD_NONE;
	size_t i = 0;
	int n = 0;
	char tmp[64];

	if (len > 0 && s[len - 1] == '\r')
		len--;
	if (ln == 1 && len >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0) {
		s += 3;
		len -= 3;
	}
	if (len == 0 || s[0] == '#' ||
	    (len >= 9 && strncasecmp(s, "dateTime,", 9) == 0))
		return;
	sb_str(&fields, "");
	if (len > EXLOG_LINE_MAX)
		bad = EXLOG_BAD_TOOLONG;
	while (bad == EXLOG_BAD_NONE) {
		if (n == EXLOG_FIELDS) {
			bad = EXLOG_BAD_FIELDS;
			break;
		}
		sb_str(&fields, "|");
		if (i < len && s[i] == '"') {
			/* Quoted: up to a quote that is not doubled. */
			for (i++;; i++) {
				if (i == len) {
					bad = EXLOG_BAD_QUOTE;
					break;
				}
				if (s[i] == '"' && i + 1 < len &&
				    s[i + 1] == '"')
					i++;
				else if (s[i] == '"')
					break;
				sb_add(&fields, s + i, 1);
			}
			if (bad != EXLOG_BAD_NONE)
				break;
			i++;
			if (i < len && s[i] != ',') {
				bad = EXLOG_BAD_QUOTE;
				break;
			}
		} else {
			for (; i < len && s[i] != ','; i++)
				sb_add(&fields, s + i, 1);
		}
		n++;
		if (i == len)
			break;
		i++;
	}
	if (bad == EXLOG_BAD_NONE && n < EXLOG_MIN_FIELDS)
		bad = EXLOG_BAD_FIELDS;
	if (bad != EXLOG_BAD_NONE)
		snprintf(tmp, sizeof(tmp), "BAD %llu %d\n", ln, (int)bad);
	else
		snprintf(tmp, sizeof(tmp), "ROW %llu %d:", ln, n);
	sb_str(sb, tmp);
	if (bad == EXLOG_BAD_NONE) {
		sb_add(sb, fields.p, fields.len);
		sb_str(sb, "\n");
	}
	free(fields.p);
}

/* The reference reader: what read_text() must give for text. */
static char *
ref_read(const char *text, size_t len)
{
	struct strbuf sb = {0};
	unsigned long long ln = 0;
	size_t start = 0;

	sb_str(&sb, "");
	for (size_t i = 0; i < len; i++) {
		if (text[i] != '\n')
			continue;
		ref_line(&sb, ++ln, text + start, i - start);
		start = i + 1;
	}
	if (start < len)
		ref_line(&sb, ++ln, text + start, len - start);
	return sb.p;
}

/* Checks the reader against the reference, whole and, when splits, split
 * at every byte and fed a byte at a time. */
static void
check_ref(const char *text, size_t len, bool splits)
{
	char *want = ref_read(text, len);
	char *got = read_text(text, len, len, 0, NULL);

	cr_assert_str_eq(got, want, "input:\n%.*s", (int)len, text);
	free(got);
	if (splits) {
		for (size_t k = 1; k < len; k++) {
			got = read_text(text, len, k, 0, NULL);
			cr_assert_str_eq(got, want, "split at %zu of:\n%.*s", k,
			    (int)len, text);
			free(got);
		}
		got = read_text(text, len, 0, 1, NULL);
		cr_assert_str_eq(got, want);
		free(got);
	}
	free(want);
}

/* A fixed generator, so that a failure can be replayed. */
static uint32_t
rnd(uint64_t *st)
{
	*st ^= *st << 13;
	*st ^= *st >> 7;
	*st ^= *st << 17;
	return (uint32_t)(*st >> 16);
}

static size_t
below(uint64_t *st, size_t n)
{
	return rnd(st) % n;
}

/* Appends a field of 0 to 80 characters: plain mostly, sometimes quoted
 * (with commas and doubled quotes inside), with a stray quote, or with
 * broken quoting. */
static void
gen_field(struct strbuf *sb, uint64_t *st)
{
	static const char plain[] = "abcXYZ0189:.;=-_ @\\<>[]*";
	size_t len = below(st, 81), kind = below(st, 12);

	if (kind == 0 || kind == 1) {
		sb_str(sb, "\"");
		for (size_t i = 0; i < len; i++) {
			size_t c = below(st, 12);

			if (c == 0)
				sb_str(sb, ",");
			else if (c == 1)
				sb_str(sb, "\"\"");
			else
				sb_add(sb, plain + below(st, sizeof(plain) - 1),
				    1);
		}
		if (kind == 1 && below(st, 4) == 0)
			return; /* never closed */
		sb_str(sb, "\"");
		if (kind == 1 && below(st, 4) == 0)
			sb_str(sb, "x"); /* text after the closing quote */
		return;
	}
	for (size_t i = 0; i < len; i++) {
		if (kind == 2 && i > 0 && below(st, 16) == 0)
			sb_str(sb, "\"");
		else if (below(st, 200) == 0)
			sb_str(sb, "\r");
		else
			sb_add(sb, plain + below(st, sizeof(plain) - 1), 1);
	}
}

/* Appends a line: a row of 12 or 13 fields mostly, else one of the
 * lines the reader skips or rejects, ended by LF or CRLF. */
static void
gen_line(struct strbuf *sb, uint64_t *st, bool quotes)
{
	size_t kind = below(st, 40), nf;

	switch (kind) {
	case 0:
		sb_str(sb, "#Log-type: POP3 Log");
		break;
	case 1:
		sb_str(sb, "dateTime,sessionId,seqNumber");
		break;
	case 2:
		break; /* empty */
	case 3:
		sb_str(sb, "d,1,2,3,4,5,6,7,8,9,10,11"); /* a row after all */
		break;
	default:
		/* Too few or too many fields, with quotes half the time
		 * (a quote stops the fast path before it counts commas). */
		nf = kind < 8 ? 1 + below(st, 20) : 12 + below(st, 2);
		quotes = quotes && (kind >= 8 || below(st, 2) == 0);
		for (size_t i = 0; i < nf; i++) {
			if (i > 0)
				sb_str(sb, ",");
			if (quotes)
				gen_field(sb, st);
			else {
				size_t len = below(st, 81);

				for (size_t j = 0; j < len; j++)
					sb_add(sb, "abcdefgh" + below(st, 8),
					    1);
			}
		}
	}
	sb_str(sb, below(st, 2) ? "\r\n" : "\n");
}

ParameterizedTestParameters(exlogscan, random_lines_split_at_every_byte)
{
	return cr_make_param_array(struct scanner, scanners, 3);
}

ParameterizedTest(const struct scanner *sc, exlogscan,
    random_lines_split_at_every_byte)
{
	use_scanner(sc->name);
	for (uint64_t seed = 1; seed <= 80; seed++) {
		struct strbuf sb = {0};
		uint64_t st = seed * 0x9e3779b97f4a7c15ULL;

		sb_str(&sb, seed % 5 == 0 ? "\xef\xbb\xbf" : "");
		while (sb.len < 400)
			gen_line(&sb, &st, seed % 4 != 0);
		/* Sometimes without the last line end. */
		if (seed % 3 == 0)
			sb.len -= sb.p[sb.len - 2] == '\r' ? 2 : 1;
		check_ref(sb.p, sb.len, true);
		free(sb.p);
	}
}

ParameterizedTestParameters(exlogscan, many_random_lines_in_pieces)
{
	return cr_make_param_array(struct scanner, scanners, 3);
}

ParameterizedTest(const struct scanner *sc, exlogscan,
    many_random_lines_in_pieces)
{
	static const size_t steps[] = {7, 31, 32, 33, 63, 64, 65, 1000, 4096};
	struct strbuf sb = {0};
	uint64_t st = 42;
	char *want;

	use_scanner(sc->name);
	sb_str(&sb, "");
	while (sb.len < 300 * 1000)
		gen_line(&sb, &st, true);
	want = ref_read(sb.p, sb.len);
	cr_assert_geq(strlen(want), 100 * 1000);
	{
		char *got = read_text(sb.p, sb.len, sb.len, 0, NULL);

		cr_assert_str_eq(got, want);
		free(got);
	}
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		char *got = read_text(sb.p, sb.len, 0, steps[i], NULL);

		cr_assert_str_eq(got, want, "in pieces of %zu", steps[i]);
		free(got);
	}
	free(want);
	free(sb.p);
}

ParameterizedTestParameters(exlogscan, line_ends_and_commas_at_every_offset)
{
	return cr_make_param_array(struct scanner, scanners, 3);
}

ParameterizedTest(const struct scanner *sc, exlogscan,
    line_ends_and_commas_at_every_offset)
{
	use_scanner(sc->name);
	/* Lines of 22 to 213 bytes, starting at every offset of a 64-byte
	 * step (after a comment line of the right length); the first field
	 * takes up the length, which moves every comma after it. */
	for (size_t llen = 0; llen <= 190; llen++) {
		for (size_t pad = 0; pad < 64; pad++) {
			struct strbuf sb = {0};

			sb_str(&sb, "#");
			for (size_t i = 0; i < pad; i++)
				sb_str(&sb, "-");
			sb_str(&sb, "\n");
			/* 13 fields, 12, 13 with CRLF, 14 and 17. */
			static const char *const rest[] = {
			    ",a,b,c,d,e,f,g,h,i,j,,", ",a,b,c,d,e,f,g,h,i,j,k",
			    ",a,b,c,d,e,f,g,h,i,j,,",
			    ",a,b,c,d,e,f,g,h,i,j,k,l,",
			    ",a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p"};

			for (int l = 0; l < 5; l++) {
				size_t first = llen + (l == 1);

				for (size_t i = 0; i < first; i++)
					sb_str(&sb, "f");
				sb_str(&sb, rest[l]);
				sb_str(&sb, l == 2 ? "\r\n" : "\n");
			}
			check_ref(sb.p, sb.len, pad % 16 == 0 && llen % 8 == 0);
			free(sb.p);
		}
	}
}

ParameterizedTestParameters(exlogscan, a_quote_at_every_offset)
{
	return cr_make_param_array(struct scanner, scanners, 3);
}

ParameterizedTest(const struct scanner *sc, exlogscan, a_quote_at_every_offset)
{
	static const char row[] =
	    "2026-03-02T15:00:00.010Z,0000004000000004,3,192.0.2.1:995,"
	    "10.0.10.11:57747,user02940@example.org,8,15,20,pass, *****,"
	    "R=ok;Msg=Proxy:mbx01.example.org:995:SSL;ProxySuccess,";
	size_t rl = sizeof(row) - 1;

	use_scanner(sc->name);
	for (size_t k = 0; k < rl; k++) {
		for (int how = 0; how < 3; how++) {
			struct strbuf sb = {0};
			char line[sizeof(row) + 2];

			/* A quote in place of byte k, two there (a field that
			 * may be quoted now), and one put in before it. */
			memcpy(line, row, rl + 1);
			if (how == 0)
				line[k] = '"';
			else if (how == 1 && k + 1 < rl)
				line[k] = line[k + 1] = '"';
			else {
				memmove(line + k + 1, line + k, rl - k + 1);
				line[k] = '"';
			}
			sb_str(&sb, "#\n");
			sb_str(&sb, line);
			sb_str(&sb, "\r\n");
			sb_str(&sb, row);
			sb_str(&sb, "\n");
			sb_str(&sb, line);
			check_ref(sb.p, sb.len, k % 8 == (size_t)how);
			free(sb.p);
		}
	}
}

ParameterizedTestParameters(exlogscan, real_samples_match_the_reference)
{
	return cr_make_param_array(struct scanner, scanners, 3);
}

ParameterizedTest(const struct scanner *sc, exlogscan,
    real_samples_match_the_reference)
{
	DIR *d = opendir(samples_dir());
	struct dirent *de;
	int files = 0;

	use_scanner(sc->name);
	cr_assert_not_null(d);
	while ((de = readdir(d)) != NULL) {
		char path[4096], *text;
		size_t len;

		if (strstr(de->d_name, ".log") == NULL)
			continue;
		snprintf(path, sizeof(path), "%s/%s", samples_dir(),
		    de->d_name);
		text = slurp(path, &len);
		check_ref(text, len, true);
		free(text);
		files++;
	}
	closedir(d);
	cr_assert_geq(files, 7);
}

ParameterizedTestParameters(exlogscan, long_lines_at_the_limit)
{
	return cr_make_param_array(struct scanner, scanners, 3);
}

ParameterizedTest(const struct scanner *sc, exlogscan, long_lines_at_the_limit)
{
	static const char *const tails[] = {",b,c,d,e,f,g,h,i,j,k,l",
	    ",b,c,d,e,f,g,h,i,j,k,l,m,n", ",b,c,d,e,f,g,h,i,j,k,\"l\"",
	    ",b,c,\"d", ""};
	size_t big = EXLOG_LINE_MAX + 2;
	char *t = malloc(2 * big + 200);

	use_scanner(sc->name);
	cr_assert_not_null(t);
	/* Lines of EXLOG_LINE_MAX - 1 to + 1 bytes, with and without a CR
	 * (which does not count), read in one block, and split inside and
	 * next to them. */
	for (size_t i = 0; i < 2 * sizeof(tails) / sizeof(tails[0]); i++) {
		for (size_t llen = EXLOG_LINE_MAX - 1;
		     llen <= EXLOG_LINE_MAX + 1; llen++) {
			const char *tail = tails[i / 2];
			size_t tl = strlen(tail), len = 0;
			size_t cuts[] = {1, 2, 1000, llen - 1, llen, llen + 1,
			    llen + 2, llen + 3, llen + 5};

			memcpy(t, "#\n", 2);
			len = 2;
			memset(t + len, 'a', llen - tl);
			memcpy(t + len + llen - tl, tail, tl);
			len += llen;
			if (i % 2 == 1)
				t[len++] = '\r';
			memcpy(t + len, "\nT,1,0,a,b,u,1,2,3,c,p,x,\n", 26);
			len += 26;
			check_ref(t, len, false);
			for (size_t c = 0; c < sizeof(cuts) / sizeof(cuts[0]);
			     c++) {
				char *want = ref_read(t, len);
				char *got = read_text(t, len, cuts[c], 0, NULL);

				cr_assert_str_eq(got, want,
				    "tail %zu, length %zu, cut %zu", i, llen,
				    cuts[c]);
				free(got);
				free(want);
			}
			/* Without the line end, as the last line. */
			check_ref(t, 2 + llen, false);
		}
	}
	free(t);
}

Test(exlogscan, the_default_is_the_best_the_cpu_has)
{
	struct exlog_reader r;
#if defined(__x86_64__) && defined(__GNUC__)
	const char *best = __builtin_cpu_supports("avx2") ? "avx2" : "sse2";
#else
	const char *best = "scalar";
#endif

	cr_assert_eq(exlog_reader_init(&r), 0);
	cr_assert_str_eq(exlog_scanner_name(&r), best);
	exlog_reader_free(&r);
	/* An unknown name changes nothing; NULL goes back to the best. */
	cr_assert_eq(exlog_scanner_force("scalar"), 0);
	cr_assert_eq(exlog_scanner_force("mmx"), -1);
	cr_assert_eq(exlog_reader_init(&r), 0);
	cr_assert_str_eq(exlog_scanner_name(&r), "scalar");
	exlog_reader_free(&r);
	cr_assert_eq(exlog_scanner_force(NULL), 0);
	cr_assert_eq(exlog_reader_init(&r), 0);
	cr_assert_str_eq(exlog_scanner_name(&r), best);
	exlog_reader_free(&r);
}

/* ---- login mechanisms ---- */

/*
 * The mechanism of every row of a log text, one "<command>=<mechanism>"
 * per row (the mechanism's name, "-" for none), read through the real
 * reader so that quoting and field splitting are those of the files.
 */
static char *
mechanisms_of(const char *text)
{
	struct exlog_reader r;
	struct exlog_row row;
	struct strbuf sb = {0};
	size_t len = strlen(text), off = 0, used;
	char *copy = strdup(text);
	enum exlog_result res;

	cr_assert_not_null(copy);
	cr_assert_eq(exlog_reader_init(&r), 0);
	sb_str(&sb, "");
	for (bool done = false; !done;) {
		if (off < len) {
			res =
			    exlog_read(&r, copy + off, len - off, &used, &row);
			off += used;
		} else {
			res = exlog_finish(&r, &row);
			done = true;
		}
		if (res == EXLOG_ROW) {
			enum exlog_mech m = exlog_mechanism(
			    &row.f[EXLOG_COMMAND], &row.f[EXLOG_PARAMETERS]);

			sb_add(&sb, row.f[EXLOG_COMMAND].p,
			    row.f[EXLOG_COMMAND].len);
			sb_str(&sb, "=");
			sb_str(&sb,
			    m == EXLOG_MECH_NONE ? "-" : exlog_mech_name(m));
			sb_str(&sb, "\n");
		}
	}
	exlog_reader_free(&r);
	free(copy);
	return sb.p;
}

Test(exlogread, mechanism_of_real_exchange_rows)
{
	size_t len;
	char *text, *m;

	/* IMAP AUTHENTICATE: the mechanism alone, no leading space. */
	text = sample("crowdsecurity-hub__exchange-imap-logs.log", &len);
	m = mechanisms_of(text);
	cr_assert_str_eq(m, "authenticate=PLAIN\n");
	free(m);
	free(text);
	/* POP3 AUTH: the parameters keep their leading space. */
	text = sample("crowdsecurity-hub__exchange-pop-logs.log", &len);
	m = mechanisms_of(text);
	cr_assert_str_eq(m, "auth=PLAIN\n");
	free(m);
	free(text);
	/* IMAP LOGIN, and the rows around it that are no login. */
	text =
	    sample("msqa-1156767__IMAP4-frontend-Exchange2013CU23.log", &len);
	m = mechanisms_of(text);
	cr_assert_eq(strncmp(m,
			 "OpenSession=-\ncapability=-\nlogin=LOGIN\n"
			 "CloseSession=-\n",
			 52),
	    0, "%s", m);
	free(m);
	free(text);
}

/*
 * Rows in the shapes of the real ones above (the crowdsecurity-hub IMAP
 * and POP3 rows for authenticate and auth, the fixture's USER/PASS) with
 * the mechanism changed, and postern's own rows, which are the same.
 */
Test(exlogread, mechanism_of_each_row_form)
{
	static const struct {
		const char *cmd, *params;
		enum exlog_mech want;
	} c[] = {
	    {"authenticate", "NTLM", EXLOG_MECH_NTLM},
	    {"authenticate", "GSSAPI", EXLOG_MECH_GSSAPI},
	    {"authenticate", "XOAUTH2", EXLOG_MECH_XOAUTH2},
	    {"authenticate", "OAUTHBEARER", EXLOG_MECH_OAUTHBEARER},
	    {"authenticate", "PLAIN", EXLOG_MECH_PLAIN},
	    {"authenticate", "LOGIN", EXLOG_MECH_LOGIN},
	    {"authenticate", "ntlm", EXLOG_MECH_NTLM},
	    {"authenticate", "CRAM-MD5", EXLOG_MECH_CRAM_MD5},
	    {"authenticate", "SCRAM-SHA-256", EXLOG_MECH_SCRAM_SHA_256},
	    {"auth", " NTLM", EXLOG_MECH_NTLM},
	    {"auth", " GSSAPI", EXLOG_MECH_GSSAPI},
	    {"auth", " XOAUTH2", EXLOG_MECH_XOAUTH2},
	    {"auth", " PLAIN", EXLOG_MECH_PLAIN},
	    {"auth", "PLAIN", EXLOG_MECH_PLAIN},
	    {"pass", " *****", EXLOG_MECH_USER},
	    {"apop", " bob *****", EXLOG_MECH_APOP},
	    {"login", "carol *****", EXLOG_MECH_LOGIN},
	    {"login", "", EXLOG_MECH_LOGIN},
	    /* An initial response that should not have been logged: only
	     * the first word counts. */
	    {"authenticate", "XOAUTH2 dXNlcj1ib2IBYXV0aD1CZWFyZXIgeAEB",
		EXLOG_MECH_XOAUTH2},
	    {"auth", " PLAIN AGJvYgBzZWNyZXQ=", EXLOG_MECH_PLAIN},
	    /* Not a name of the list, whole words only. */
	    {"authenticate", "NTLMX", EXLOG_MECH_OTHER},
	    {"authenticate", "NTL", EXLOG_MECH_OTHER},
	    {"authenticate", "SCRAM-SHA-256-PLUS", EXLOG_MECH_OTHER},
	    {"authenticate", "USER", EXLOG_MECH_OTHER},
	    {"authenticate", "APOP", EXLOG_MECH_OTHER},
	    {"authenticate",
		"TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAGAbEdAAAADw==",
		EXLOG_MECH_OTHER},
	    {"authenticate", "", EXLOG_MECH_OTHER},
	    /* POP3's bare AUTH lists the mechanisms: no login. */
	    {"auth", "", EXLOG_MECH_NONE},
	    {"auth", "   ", EXLOG_MECH_NONE},
	    {"user", " bob", EXLOG_MECH_NONE},
	    {"capability", "", EXLOG_MECH_NONE},
	    {"InvalidCommand", "NTLM *****", EXLOG_MECH_NONE},
	    {"TlRMTVNTUAADAAAAGAAYAEgAAAA", "", EXLOG_MECH_NONE},
	};

	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		struct exlog_span cmd = {c[i].cmd, strlen(c[i].cmd)};
		struct exlog_span par = {c[i].params, strlen(c[i].params)};
		enum exlog_mech m = exlog_mechanism(&cmd, &par);

		cr_assert_eq(m, c[i].want, "%s,%s: %s, wanted %s", c[i].cmd,
		    c[i].params, exlog_mech_name(m),
		    exlog_mech_name(c[i].want));
	}
}

Test(exlogread, mechanism_names_are_a_fixed_list)
{
	cr_assert_str_eq(exlog_mech_name(EXLOG_MECH_NONE), "");
	cr_assert_str_eq(exlog_mech_name(EXLOG_MECH_USER), "USER");
	cr_assert_str_eq(exlog_mech_name(EXLOG_MECH_NTLM), "NTLM");
	cr_assert_str_eq(exlog_mech_name(EXLOG_MECH_OAUTHBEARER),
	    "OAUTHBEARER");
	cr_assert_str_eq(exlog_mech_name(EXLOG_MECH_OTHER), "other");
	cr_assert_str_eq(exlog_mech_name(EXLOG_MECH_COUNT), "");
	for (int m = EXLOG_MECH_NONE + 1; m < EXLOG_MECH_COUNT; m++)
		cr_assert_gt(strlen(exlog_mech_name((enum exlog_mech)m)), 0);
}
