#include "config.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "policy.h"
#include "pop3.h"
#include "protolog.h"
#include "session.h"
#include "sesslog.h"

/* Paths in these tests are short; GCC cannot know that. */
#pragma GCC diagnostic ignored "-Wformat-truncation"

#define MAXF 16

/* ms since the epoch of a UTC date and time. */
static int64_t
utc(int y, int mo, int d, int h, int mi, int s, int ms)
{
	struct tm tm = {0};

	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = s;
	return (int64_t)timegm(&tm) * 1000 + ms;
}

/*
 * Splits one CSV line (no line end) as Exchange writes it: quoted fields
 * with doubled quotes.  Returns the number of fields.
 */
static int
csv_split(const char *line, char f[MAXF][8192])
{
	const char *p = line;
	int n = 0;
	size_t k;

	for (;;) {
		cr_assert_lt(n, MAXF);
		k = 0;
		if (*p == '"') {
			p++;
			for (;;) {
				cr_assert_neq(*p, '\0', "unterminated quote");
				if (*p == '"' && p[1] == '"') {
					f[n][k++] = '"';
					p += 2;
				} else if (*p == '"') {
					p++;
					break;
				} else
					f[n][k++] = *p++;
			}
		} else
			while (*p != ',' && *p != '\0')
				f[n][k++] = *p++;
		f[n++][k] = '\0';
		if (*p != ',')
			break;
		p++;
	}
	return n;
}

/*
 * Parses an Exchange context ("K=V;K=\"V V\"") into ctx through the
 * builder.  A quoted value ends at a '"' before ';' or the end.
 */
static void
ctx_parse(const char *s, struct protolog_ctx *ctx)
{
	char val[4096];
	const char *eq, *end;
	int key;

	protolog_ctx_init(ctx);
	while (*s != '\0') {
		eq = strchr(s, '=');
		cr_assert_not_null(eq, "no '=' in %s", s);
		key = protolog_key_lookup(s, (size_t)(eq - s));
		cr_assert_geq(key, 0, "unknown key in %s", s);
		s = eq + 1;
		if (*s == '"') {
			s++;
			for (end = s; !(end[0] == '"' &&
					(end[1] == ';' || end[1] == '\0'));
			     end++)
				cr_assert_neq(*end, '\0');
			memcpy(val, s, (size_t)(end - s));
			val[end - s] = '\0';
			s = end + 1;
		} else {
			end = strchr(s, ';');
			if (end == NULL)
				end = s + strlen(s);
			memcpy(val, s, (size_t)(end - s));
			val[end - s] = '\0';
			s = end;
		}
		/* Msg accumulates in the builder: set it in one go here. */
		protolog_ctx_set(ctx, (enum protolog_key)key, NULL);
		protolog_ctx_set(ctx, (enum protolog_key)key, val);
		if (*s == ';')
			s++;
	}
}

static int64_t
parse_time(const char *s)
{
	int y, mo, d, h, mi, sec, ms;

	cr_assert_eq(sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &y, &mo, &d, &h,
			 &mi, &sec, &ms),
	    7, "bad time %s", s);
	return utc(y, mo, d, h, mi, sec, ms);
}

static void
replace_all(char *s, const char *from, const char *to)
{
	char tmp[8192], *p;
	size_t fl = strlen(from), tl = strlen(to);

	while ((p = strstr(s, from)) != NULL) {
		snprintf(tmp, sizeof(tmp), "%s", p + fl);
		memcpy(p, to, tl);
		strcpy(p + tl, tmp);
	}
}

static char fields[MAXF][8192];

/*
 * Every real row re-encoded by postern must come out byte for byte as
 * Exchange wrote it, but for 13 fields (2013's 12-field rows gain the
 * empty puid); user names keep their '\' as Exchange writes them.
 */
Test(protolog, real_rows_reencode_byte_identical)
{
	char dir[4096], path[8192], line[8192], expect[8192], out[16384];
	struct protolog_ctx ctx;
	struct protolog_row r;
	const char *src = getenv("POSTERN_SRCDIR");
	struct dirent *de;
	int nf, rows = 0, files = 0;
	size_t len;
	FILE *fp;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/tests/data/exchange-logs",
	    src ? src : "..");
	cr_assert_not_null(d = opendir(dir), "%s", dir);
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (len < 4 || strcmp(de->d_name + len - 4, ".log") != 0)
			continue;
		files++;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		cr_assert_not_null(fp = fopen(path, "r"));
		while (fgets(line, sizeof(line), fp) != NULL) {
			line[strcspn(line, "\r\n")] = '\0';
			if (line[0] == '#' || line[0] == '\0')
				continue;
			/*
			 * The posters of these rows replaced host names by
			 * "<CAS FQDN>"; a real name has no space, and
			 * Exchange quotes values with spaces.
			 */
			replace_all(line, "<CAS FQDN>", "cas.example.net");
			nf = csv_split(line, fields);
			/* A row the poster cut short: nothing to compare. */
			if (nf < 12)
				continue;
			cr_assert_leq(nf, 13);
			if (nf == 13)
				cr_assert_str_empty(fields[12]);
			memset(&r, 0, sizeof(r));
			r.time_ms = parse_time(fields[0]);
			r.session_id = strtoull(fields[1], NULL, 16);
			r.seq = (unsigned)strtoul(fields[2], NULL, 10);
			r.sip = fields[3];
			r.cip = fields[4];
			r.user = fields[5];
			r.duration_ms = strtoull(fields[6], NULL, 10);
			r.rqsize = strtoull(fields[7], NULL, 10);
			r.rpsize = strtoull(fields[8], NULL, 10);
			r.command = fields[9];
			r.params = fields[10];
			if (fields[11][0] != '\0') {
				ctx_parse(fields[11], &ctx);
				r.context = &ctx;
			}
			snprintf(expect, sizeof(expect), "%s%s\r\n", line,
			    nf == 12 ? "," : "");
			len = protolog_encode(&r, out, sizeof(out));
			cr_assert_eq(len, strlen(out));
			cr_assert_str_eq(out, expect, "from %s", de->d_name);
			rows++;
		}
		fclose(fp);
	}
	closedir(d);
	cr_assert_geq(files, 7);
	cr_assert_eq(rows, 36);
}

static const char *
enc(const struct protolog_row *r)
{
	static char out[65536];

	protolog_encode(r, out, sizeof(out));
	return out;
}

static struct protolog_row
base_row(void)
{
	struct protolog_row r = {0};

	r.time_ms = utc(2026, 1, 2, 3, 4, 5, 678);
	r.session_id = 0xe2;
	r.seq = 1;
	r.sip = "192.0.2.1:993";
	r.cip = "[2001:db8::1]:50000";
	r.duration_ms = 1;
	r.rqsize = 15;
	r.rpsize = 143;
	r.command = "capability";
	return r;
}

#define ROW_PREFIX                                                             \
	"2026-01-02T03:04:05.678Z,00000000000000E2,1,192.0.2.1:993,"           \
	"[2001:db8::1]:50000,"

Test(protolog, encode_plain_row)
{
	struct protolog_row r = base_row();

	cr_assert_str_eq(enc(&r), ROW_PREFIX ",1,15,143,capability,,,\r\n");
	r.session_id = UINT64_MAX;
	r.seq = 4294967295u;
	r.time_ms = 0;
	r.sip = r.cip = NULL;
	r.command = NULL;
	r.duration_ms = r.rqsize = r.rpsize = 0;
	cr_assert_str_eq(enc(&r), "1970-01-01T00:00:00.000Z,FFFFFFFFFFFFFFFF,"
				  "4294967295,,,,0,0,0,,,,\r\n");
}

Test(protolog, encode_quotes_commas_and_quotes_only)
{
	struct protolog_row r = base_row();

	r.command = "fetch";
	r.params = "1:* (FLAGS BODY[HEADER.FIELDS (FROM)])";
	cr_assert_str_eq(enc(&r), ROW_PREFIX ",1,15,143,fetch,"
					     "1:* (FLAGS BODY[HEADER.FIELDS "
					     "(FROM)]),,\r\n");
	r.params = "1,2 a";
	cr_assert_str_eq(enc(&r), ROW_PREFIX ",1,15,143,fetch,\"1,2 a\",,\r\n");
	r.params = "say \"hi\"";
	cr_assert_str_eq(enc(&r),
	    ROW_PREFIX ",1,15,143,fetch,\"say \"\"hi\"\"\",,\r\n");
	/* CR and LF are escaped, and do not by themselves cause quoting. */
	r.params = "a\r\nb";
	cr_assert_str_eq(enc(&r), ROW_PREFIX ",1,15,143,fetch,a\\r\\nb,,\r\n");
	r.params = "a\r\n,b\"";
	cr_assert_str_eq(enc(&r),
	    ROW_PREFIX ",1,15,143,fetch,\"a\\r\\n,b\"\"\",,\r\n");
	/* Semicolons and spaces are nothing special to CSV. */
	r.params = " PLAIN; x";
	cr_assert_str_eq(enc(&r), ROW_PREFIX ",1,15,143,fetch, PLAIN; x,,\r\n");
}

Test(protolog, encode_neutralises_client_formulas)
{
	static const char *bad[] = {"=1+1", "+1", "-1", "@SUM(A1)", "\tx"};
	struct protolog_row r = base_row();
	char expect[256];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		r.params = bad[i];
		snprintf(expect, sizeof(expect),
		    ROW_PREFIX ",1,15,143,capability,'%s,,\r\n", bad[i]);
		cr_assert_str_eq(enc(&r), expect);
	}
	r.params = NULL;
	r.user = "=HYPERLINK(\"x\")";
	cr_assert_str_eq(enc(&r),
	    ROW_PREFIX "\"'=HYPERLINK(\"\"x\"\")\",1,15,143,"
		       "capability,,,\r\n");
	r.user = NULL;
	r.command = "-x";
	cr_assert_str_eq(enc(&r), ROW_PREFIX ",1,15,143,'-x,,,\r\n");
	/* POP3 parameters keep their leading space: nothing to do. */
	r.command = "user";
	r.params = " =x";
	cr_assert_str_eq(enc(&r), ROW_PREFIX ",1,15,143,user, =x,,\r\n");
	/* Formula characters later in a value are left alone. */
	r.params = "a=b-c";
	cr_assert_str_eq(enc(&r), ROW_PREFIX ",1,15,143,user,a=b-c,,\r\n");
	/* postern's own -ERR inside R stays as Exchange writes it. */
	{
		struct protolog_ctx ctx;

		protolog_ctx_init(&ctx);
		protolog_ctx_set(&ctx, PROTOLOG_R, "-ERR [AUTH] Nope.");
		r.params = NULL;
		r.context = &ctx;
		cr_assert_str_eq(enc(&r), ROW_PREFIX ",1,15,143,user,,"
						     "\"R=\"\"-ERR [AUTH] "
						     "Nope.\"\"\",\r\n");
	}
}

Test(protolog, encode_user_as_exchange_writes_it)
{
	struct protolog_row r = base_row();

	/* Exchange keeps the backslash (tests/data/exchange-logs). */
	r.user = "DOMAIN\\user\\shared";
	cr_assert_str_eq(enc(&r),
	    ROW_PREFIX "DOMAIN\\user\\shared,1,15,143,capability,,,\r\n");
	r.user = "CORP\\dave,jr";
	cr_assert_str_eq(enc(&r),
	    ROW_PREFIX "\"CORP\\dave,jr\",1,15,143,capability,,,\r\n");
	r.user = "Doe, \"John\"";
	cr_assert_str_eq(enc(&r),
	    ROW_PREFIX "\"Doe, \"\"John\"\"\",1,15,143,capability,,,\r\n");
	r.user = "a\r\nb";
	cr_assert_str_eq(enc(&r),
	    ROW_PREFIX "a\\r\\nb,1,15,143,capability,,,\r\n");
}

/* The number of UTF-8 characters in s. */
static size_t
utf8_chars(const char *s, size_t len)
{
	size_t i, n = 0;

	for (i = 0; i < len; i++)
		n += ((unsigned char)s[i] & 0xc0) != 0x80;
	return n;
}

Test(protolog, encode_cuts_long_values_on_characters)
{
	struct protolog_row r = base_row();
	static char params[3 * 4000 + 1], user[600 * 2 + 1];
	char f[MAXF][8192];
	const char *out;
	size_t i;

	/* "€" is three bytes: the cut must not split one. */
	for (i = 0; i < 4000; i++)
		memcpy(params + 3 * i, "\xe2\x82\xac", 3);
	for (i = 0; i < 600; i++)
		memcpy(user + 2 * i, "\xc3\xa9", 2);
	r.params = params;
	r.user = user;
	out = enc(&r);
	{
		char line[65536];

		snprintf(line, sizeof(line), "%s", out);
		line[strlen(line) - 2] = '\0';
		cr_assert_eq(csv_split(line, f), 13);
	}
	cr_assert_eq(strlen(f[10]), 3 * PROTOLOG_PARAMS_MAX);
	cr_assert_eq(utf8_chars(f[10], strlen(f[10])), PROTOLOG_PARAMS_MAX);
	cr_assert_eq(strlen(f[5]), 2 * PROTOLOG_USER_MAX);
}

Test(protolog, encode_reports_full_length_when_cut)
{
	struct protolog_row r = base_row();
	char small[10], full[512];
	size_t n;

	n = protolog_encode(&r, full, sizeof(full));
	cr_assert_eq(n, strlen(full));
	cr_assert_eq(protolog_encode(&r, small, sizeof(small)), n);
	cr_assert_eq(strlen(small), sizeof(small) - 1);
	cr_assert_eq(memcmp(small, full, sizeof(small) - 1), 0);
	cr_assert_eq(protolog_encode(&r, NULL, 0), n);
}

/*
 * Whether s[0..len) is valid UTF-8, decoded code point by code point:
 * written apart from the encoder's own check so that the two can disagree.
 */
static bool
valid_utf8(const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0;

	while (i < len) {
		unsigned cp, min, n, k;

		if (u[i] < 0x80) {
			i++;
			continue;
		}
		if ((u[i] & 0xe0) == 0xc0)
			n = 2, cp = u[i] & 0x1f, min = 0x80;
		else if ((u[i] & 0xf0) == 0xe0)
			n = 3, cp = u[i] & 0x0f, min = 0x800;
		else if ((u[i] & 0xf8) == 0xf0)
			n = 4, cp = u[i] & 0x07, min = 0x10000;
		else
			return false;
		if (i + n > len)
			return false;
		for (k = 1; k < n; k++) {
			if ((u[i + k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (u[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += n;
	}
	return true;
}

/* Bad input and what a parameters field shows for it. */
static const char *const not_utf8[][2] = {
    {"a\x80z", "a\\x80z"}, /* lone continuation byte */
    {"\xbf\xbf", "\\xbf\\xbf"},
    {"\xc0\xaf", "\\xc0\\xaf"}, /* overlong "/" */
    {"\xc1\x81", "\\xc1\\x81"},
    {"\xe0\x80\xaf", "\\xe0\\x80\\xaf"}, /* overlong, three bytes */
    {"\xf0\x80\x80\xaf", "\\xf0\\x80\\x80\\xaf"},
    {"\xed\xa0\x80", "\\xed\\xa0\\x80"},          /* surrogate U+D800 */
    {"\xed\xbf\xbf", "\\xed\\xbf\\xbf"},          /* surrogate U+DFFF */
    {"\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80"}, /* above U+10FFFF */
    {"caf\xc3", "caf\\xc3"},                      /* truncated at the end */
    {"\xe2\x82z", "\\xe2\\x82z"},                 /* truncated before ASCII */
    {"\xf0\x9f\x98 x", "\\xf0\\x9f\\x98 x"},
    {"\xc3\xc3\xa9", "\\xc3\xc3\xa9"}, /* cut, then a whole "é" */
    {"\xff", "\\xff"},
    {"\xfe\xff", "\\xfe\\xff"},
    {"\xf8\x88\x80\x80\x80", "\\xf8\\x88\\x80\\x80\\x80"}, /* 5 bytes */
    {"x\x1b[2Jy", "x\\x1b[2Jy"}, /* a terminal escape */
    {"\x7f\x01", "\\x7f\\x01"},
};

Test(protolog, encode_escapes_bytes_that_are_not_utf8)
{
	struct protolog_row r = base_row();
	char expect[256];
	size_t i;

	for (i = 0; i < sizeof(not_utf8) / sizeof(not_utf8[0]); i++) {
		r.params = not_utf8[i][0];
		snprintf(expect, sizeof(expect),
		    ROW_PREFIX ",1,15,143,capability,%s,,\r\n", not_utf8[i][1]);
		cr_assert_str_eq(enc(&r), expect, "input %zu", i);
		cr_assert(valid_utf8(enc(&r), strlen(enc(&r))));
	}
}

Test(protolog, encode_escapes_every_client_field)
{
	struct protolog_row r = base_row();
	struct protolog_ctx ctx;

	protolog_ctx_init(&ctx);
	protolog_ctx_set(&ctx, PROTOLOG_CLIENTNAME, "Mutt\xff\x1b");
	protolog_ctx_set(&ctx, PROTOLOG_CLIENTVERSION, "2.2\xc0\xaf");
	r.user = "b\xe9r\\n";
	r.command = "x\x80";
	r.params = "\xed\xa0\x80";
	r.context = &ctx;
	cr_assert_str_eq(enc(&r),
	    ROW_PREFIX "b\\xe9r\\n,1,15,143,x\\x80,"
		       "\\xed\\xa0\\x80,"
		       "ClientName=Mutt\\xff\\x1b;"
		       "ClientVersion=2.2\\xc0\\xaf,\r\n");
}

Test(protolog, encode_keeps_valid_utf8)
{
	struct protolog_row r = base_row();
	struct protolog_ctx ctx;

	protolog_ctx_init(&ctx);
	protolog_ctx_set(&ctx, PROTOLOG_CLIENTNAME,
	    "K-9 \xe2\x80\x94 M\xc3\xa4il");
	r.user = "j\xc3\xbcrgen@b\xc3\xa9"
		 "b\xc3\xa9.example";
	r.command = "select";
	r.params =
	    "\"Entw\xc3\xbcrfe \xf0\x9f\x93\x81\" \xe2\x82\xac\x09\xef\xbf\xbf"
	    "\xf4\x8f\xbf\xbf\xc2\x80\xed\x9f\xbf\xee\x80\x80";
	r.context = &ctx;
	cr_assert_str_eq(enc(&r),
	    ROW_PREFIX "j\xc3\xbcrgen@b\xc3\xa9"
		       "b\xc3\xa9.example,1,15,143,"
		       "select,\"\"\"Entw\xc3\xbcrfe \xf0\x9f\x93\x81\"\" "
		       "\xe2\x82\xac\x09\xef\xbf\xbf\xf4\x8f\xbf\xbf\xc2\x80"
		       "\xed\x9f\xbf\xee\x80\x80\","
		       "\"ClientName=\"\"K-9 \xe2\x80\x94 M\xc3\xa4il\"\"\""
		       ",\r\n");
}

/*
 * A value of nothing but continuation bytes is still cut at the bound:
 * each byte that is not UTF-8 counts as a character.
 */
Test(protolog, encode_bounds_values_that_are_not_utf8)
{
	struct protolog_row r = base_row();
	static char user[1000 + 1], params[5000 + 1];
	char f[MAXF][8192];
	const char *out;
	size_t i;

	memset(user, 0x80, sizeof(user) - 1);
	r.user = user;
	out = enc(&r);
	cr_assert(valid_utf8(out, strlen(out)));
	{
		static char line[65536];

		snprintf(line, sizeof(line), "%s", out);
		line[strlen(line) - 2] = '\0';
		cr_assert_eq(csv_split(line, f), 13);
	}
	cr_assert_eq(strlen(f[5]), 4 * PROTOLOG_USER_MAX);
	for (i = 0; i < PROTOLOG_USER_MAX; i++)
		cr_assert_eq(memcmp(f[5] + 4 * i, "\\x80", 4), 0);
	/* The parameters' escaped form is longer than csv_split() takes. */
	memset(params, 0x80, sizeof(params) - 1);
	r.user = NULL;
	r.params = params;
	out = enc(&r);
	cr_assert(valid_utf8(out, strlen(out)));
	cr_assert_eq(strlen(out),
	    strlen(ROW_PREFIX ",1,15,143,capability,,,\r\n") +
		4 * PROTOLOG_PARAMS_MAX);
}

/* Random bytes always give valid UTF-8; random UTF-8 comes out as it is. */
Test(protolog, encode_output_is_always_utf8)
{
	struct protolog_row r = base_row();
	static const unsigned cps[] = {0x41, 0x7e, 0xe9, 0x7ff, 0x800, 0x20ac,
	    0xd7ff, 0xe000, 0xfffd, 0xffff, 0x10000, 0x1f600, 0x10ffff};
	char in[200], want[400];
	unsigned seed = 12345;
	const char *out;
	size_t i, n;
	int round;

	for (round = 0; round < 2000; round++) {
		n = (size_t)rand_r(&seed) % (sizeof(in) - 1);
		for (i = 0; i < n; i++)
			in[i] = (char)(rand_r(&seed) % 255 + 1);
		in[n] = '\0';
		r.params = in;
		out = enc(&r);
		cr_assert(valid_utf8(out, strlen(out)), "round %d", round);
	}
	for (round = 0; round < 500; round++) {
		size_t len = 0;

		n = (size_t)rand_r(&seed) % 40;
		for (i = 0; i < n; i++) {
			unsigned cp =
			    cps[rand_r(&seed) % (sizeof(cps) / sizeof(cps[0]))];

			if (cp < 0x80)
				in[len++] = (char)cp;
			else if (cp < 0x800) {
				in[len++] = (char)(0xc0 | cp >> 6);
				in[len++] = (char)(0x80 | (cp & 0x3f));
			} else if (cp < 0x10000) {
				in[len++] = (char)(0xe0 | cp >> 12);
				in[len++] = (char)(0x80 | (cp >> 6 & 0x3f));
				in[len++] = (char)(0x80 | (cp & 0x3f));
			} else {
				in[len++] = (char)(0xf0 | cp >> 18);
				in[len++] = (char)(0x80 | (cp >> 12 & 0x3f));
				in[len++] = (char)(0x80 | (cp >> 6 & 0x3f));
				in[len++] = (char)(0x80 | (cp & 0x3f));
			}
		}
		in[len] = '\0';
		r.params = in;
		snprintf(want, sizeof(want),
		    ROW_PREFIX ",1,15,143,capability,%s,,\r\n", in);
		cr_assert_str_eq(enc(&r), want, "round %d", round);
	}
}

Test(protolog, format_time)
{
	char b[25];

	protolog_format_time(utc(2026, 1, 2, 3, 4, 5, 678), b);
	cr_assert_str_eq(b, "2026-01-02T03:04:05.678Z");
	protolog_format_time(utc(2026, 1, 2, 3, 4, 5, 0), b);
	cr_assert_str_eq(b, "2026-01-02T03:04:05.000Z");
	protolog_format_time(utc(1999, 12, 31, 23, 59, 59, 999), b);
	cr_assert_str_eq(b, "1999-12-31T23:59:59.999Z");
	protolog_format_time(utc(2000, 1, 1, 0, 0, 0, 7), b);
	cr_assert_str_eq(b, "2000-01-01T00:00:00.007Z");
	protolog_format_time(utc(2024, 2, 29, 12, 0, 0, 50), b);
	cr_assert_str_eq(b, "2024-02-29T12:00:00.050Z");
}

Test(protolog, duration_rounds_down_but_not_to_zero)
{
	struct timespec a = {100, 999999999}, b;

	b = a;
	cr_assert_eq(protolog_duration(&a, &b), 0);
	b = (struct timespec){101, 0};
	cr_assert_eq(protolog_duration(&a, &b), 1);
	b = (struct timespec){101, 999998};
	cr_assert_eq(protolog_duration(&a, &b), 1);
	b = (struct timespec){101, 1999999};
	cr_assert_eq(protolog_duration(&a, &b), 2);
	b = (struct timespec){102, 0};
	cr_assert_eq(protolog_duration(&a, &b), 1000);
	b = (struct timespec){100, 0};
	cr_assert_eq(protolog_duration(&a, &b), 0);
}

static const char *
ctxs(const struct protolog_ctx *ctx)
{
	static char out[PROTOLOG_CONTEXT_STRMAX];

	cr_assert_lt(protolog_ctx_format(ctx, out, sizeof(out)), sizeof(out));
	return out;
}

Test(protolog, context_order_and_quoting)
{
	struct protolog_ctx c;

	protolog_ctx_init(&c);
	cr_assert_str_eq(ctxs(&c), "");
	protolog_ctx_set(&c, PROTOLOG_ERRMSG, "AuthFailed:LogonDenied");
	protolog_ctx_set(&c, PROTOLOG_MSG, "AuthFailed:LogonDenied,User: t");
	protolog_ctx_set(&c, PROTOLOG_R, "2 NO AUTHENTICATE failed.");
	cr_assert_str_eq(ctxs(&c),
	    "R=\"2 NO AUTHENTICATE failed.\";Msg=\"AuthFailed:LogonDenied,"
	    "User: t\";ErrMsg=AuthFailed:LogonDenied");
	protolog_ctx_set(&c, PROTOLOG_R, "ok");
	protolog_ctx_set(&c, PROTOLOG_MSG, NULL);
	protolog_ctx_set(&c, PROTOLOG_LOGINTYPEAUDIT, "WouldDeny:SecureLogin");
	protolog_ctx_set(&c, PROTOLOG_CLIENTNAME, "Thunderbird");
	protolog_ctx_set(&c, PROTOLOG_CLIENTVERSION, "115.3");
	protolog_ctx_set(&c, PROTOLOG_PEERIP, "10.0.0.5:41000");
	protolog_ctx_tls(&c, PROTOLOG_TLS_STARTTLS, "TLSv1.3");
	protolog_ctx_set(&c, PROTOLOG_REASON, "ProxyNotAuthenticated");
	/* ErrMsg last, as Exchange writes it, after postern's own keys. */
	cr_assert_str_eq(ctxs(&c),
	    "R=ok;Tls=STARTTLS:TLSv1.3;"
	    "ClientName=Thunderbird;ClientVersion=115.3;PeerIp=10.0.0.5:41000;"
	    "LoginTypeAudit=WouldDeny:SecureLogin;Reason=ProxyNotAuthenticated;"
	    "ErrMsg=AuthFailed:LogonDenied");
	protolog_ctx_init(&c);
	protolog_ctx_set(&c, PROTOLOG_CLIENTNAME, "a;b");
	protolog_ctx_set(&c, PROTOLOG_CLIENTVERSION, "");
	cr_assert_str_eq(ctxs(&c), "ClientName=\"a;b\";ClientVersion=");
}

Test(protolog, context_values_cannot_forge_keys)
{
	struct protolog_ctx c;

	protolog_ctx_init(&c);
	protolog_ctx_set(&c, PROTOLOG_CLIENTNAME, "x\";ErrMsg=\"none");
	cr_assert_str_eq(ctxs(&c), "ClientName=\"x\"\";ErrMsg=\"\"none\"");
}

Test(protolog, context_values_keep_their_quotes)
{
	struct protolog_ctx c;
	static char big[PROTOLOG_CONTEXT_MAX + 1];
	const char *out;
	size_t n, i, quotes = 0;
	int k;

	/* Outlook's ID version with quotes in it, as RFC 3501 decodes it. */
	protolog_ctx_init(&c);
	protolog_ctx_set(&c, PROTOLOG_CLIENTNAME, "Microsoft Outlook");
	protolog_ctx_set(&c, PROTOLOG_CLIENTVERSION, "16.0 \"x\"");
	cr_assert_str_eq(ctxs(&c), "ClientName=\"Microsoft Outlook\";"
				   "ClientVersion=\"16.0 \"\"x\"\"\"");
	/* A quote alone is enough to quote the value. */
	protolog_ctx_init(&c);
	protolog_ctx_set(&c, PROTOLOG_CLIENTVERSION, "\"");
	cr_assert_str_eq(ctxs(&c), "ClientVersion=\"\"\"\"");
	/* Values of nothing but quotes, filling every key: nothing is cut. */
	memset(big, '"', sizeof(big) - 1);
	protolog_ctx_init(&c);
	for (k = 0; k < PROTOLOG_NKEYS; k++)
		protolog_ctx_set(&c, (enum protolog_key)k, big);
	out = ctxs(&c);
	n = strlen(out);
	cr_assert_lt(n, PROTOLOG_CONTEXT_STRMAX - 1);
	/* Every value kept (the arena's room) is doubled and closed. */
	cr_assert_eq(strncmp(out, "R=\"\"\"", 5), 0);
	for (i = 0; out[i] != '\0'; i++)
		quotes += out[i] == '"';
	/* Four values of 1024 fill the arena; each is doubled and closed. */
	cr_assert_eq(quotes, 2 * PROTOLOG_CONTEXT_MAX + 2 * 4);
}

Test(protolog, context_proxy_and_tls)
{
	struct protolog_ctx c;

	protolog_ctx_init(&c);
	protolog_ctx_proxy(&c, "mail.example.net", "995", "SSL", true);
	cr_assert_str_eq(ctxs(&c), "Msg=\"Proxy:mail.example.net:995:SSL;"
				   "ProxySuccess\"");
	protolog_ctx_init(&c);
	protolog_ctx_set(&c, PROTOLOG_R,
	    "a1 NO [AUTHENTICATIONFAILED] "
	    "Authentication failed.");
	protolog_ctx_proxy(&c, "10.1.1.1", "143", "Plaintext", false);
	protolog_ctx_set(&c, PROTOLOG_ERRMSG, "ProxyNotAuthenticated");
	protolog_ctx_tls(&c, PROTOLOG_TLS_NONE, NULL);
	cr_assert_str_eq(ctxs(&c),
	    "R=\"a1 NO [AUTHENTICATIONFAILED] Authentication failed.\";"
	    "Msg=Proxy:10.1.1.1:143:Plaintext;Tls=none;"
	    "ErrMsg=ProxyNotAuthenticated");
	protolog_ctx_tls(&c, PROTOLOG_TLS_IMPLICIT, "TLSv1.2");
	cr_assert(strstr(ctxs(&c), ";Tls=implicit:TLSv1.2;") != NULL);
	cr_assert_str_eq(protolog_key_name(PROTOLOG_CAFEACTIVITYID),
	    "CafeActivityId");
	cr_assert_eq(protolog_key_lookup("ErrMsg", 6), PROTOLOG_ERRMSG);
	cr_assert_eq(protolog_key_lookup("errmsg", 6), -1);
	cr_assert_eq(protolog_key_lookup("ErrMs", 5), -1);
}

Test(protolog, context_is_bounded)
{
	static char big[5000];
	struct protolog_ctx c;
	const char *out;
	int k;

	memset(big, 'x', sizeof(big) - 1);
	/* A two-byte character across the value limit is not split. */
	memcpy(big + PROTOLOG_VALUE_MAX - 1, "\xc3\xa9", 2);
	protolog_ctx_init(&c);
	protolog_ctx_set(&c, PROTOLOG_R, big);
	out = ctxs(&c);
	cr_assert_eq(strlen(out), 2 + PROTOLOG_VALUE_MAX - 1);
	for (k = 0; k < PROTOLOG_NKEYS; k++)
		protolog_ctx_set(&c, (enum protolog_key)k, big);
	for (k = 0; k < 10; k++)
		protolog_ctx_set(&c, PROTOLOG_MSG, "more");
	out = ctxs(&c);
	cr_assert_leq(strlen(out), PROTOLOG_CONTEXT_STRMAX - 1);
	/* Every key is still there, in order, even if cut short. */
	cr_assert_eq(strncmp(out, "R=x", 3), 0);
	cr_assert(strstr(out, ";LoginTypeAudit=") != NULL);
}

Test(protolog, header_lines)
{
	char b[1024];
	size_t n;

	n = protolog_header("IMAP4", utc(2026, 11, 22, 9, 0, 0, 0), b,
	    sizeof(b));
	cr_assert_eq(n, strlen(b));
	cr_assert_str_eq(b,
	    "dateTime,sessionId,seqNumber,sIp,cIp,user,duration,rqsize,rpsize,"
	    "command,parameters,context,puid\r\n"
	    "#Software: postern " PACKAGE_VERSION "\r\n"
	    "#Version: 15.0.0.0\r\n"
	    "#Log-type: IMAP4 Log\r\n"
	    "#Date: 2026-11-22T09:00:00.000Z\r\n"
	    "#Fields: dateTime,sessionId,seqNumber,sIp,cIp,user,duration,"
	    "rqsize,rpsize,command,parameters,context,puid\r\n");
	protolog_header("POP3", 0, b, sizeof(b));
	cr_assert(strstr(b, "\r\n#Log-type: POP3 Log\r\n") != NULL);
}

/* Checks the date part and the period of a row written at ms. */
static void
check_period(enum protolog_rollover r, uint64_t quota, int64_t ms,
    const char *date, int64_t start, int64_t end)
{
	char d[16];
	int64_t s, e;

	protolog_period(r, quota, ms, d, &s, &e);
	cr_assert_str_eq(d, date);
	cr_assert_eq(s, start, "start %lld, not %lld", (long long)s,
	    (long long)start);
	cr_assert_eq(e, end, "end %lld, not %lld", (long long)e,
	    (long long)end);
	cr_assert(ms >= s && ms < e);
}

Test(protolog, period_hourly_and_daily)
{
	check_period(PROTOLOG_HOURLY, 0, utc(2026, 1, 2, 3, 4, 5, 678),
	    "2026010203", utc(2026, 1, 2, 3, 0, 0, 0),
	    utc(2026, 1, 2, 4, 0, 0, 0));
	check_period(PROTOLOG_HOURLY, 0, utc(2026, 12, 31, 23, 59, 59, 999),
	    "2026123123", utc(2026, 12, 31, 23, 0, 0, 0),
	    utc(2027, 1, 1, 0, 0, 0, 0));
	check_period(PROTOLOG_HOURLY, 0, utc(2027, 1, 1, 0, 0, 0, 0),
	    "2027010100", utc(2027, 1, 1, 0, 0, 0, 0),
	    utc(2027, 1, 1, 1, 0, 0, 0));
	check_period(PROTOLOG_DAILY, 0, utc(2026, 3, 14, 23, 59, 59, 999),
	    "20260314", utc(2026, 3, 14, 0, 0, 0, 0),
	    utc(2026, 3, 15, 0, 0, 0, 0));
	check_period(PROTOLOG_DAILY, 0, utc(2026, 3, 15, 0, 0, 0, 0),
	    "20260315", utc(2026, 3, 15, 0, 0, 0, 0),
	    utc(2026, 3, 16, 0, 0, 0, 0));
	/* A size quota dates files by the day whatever the rollover. */
	check_period(PROTOLOG_HOURLY, 1000, utc(2026, 3, 15, 7, 0, 0, 0),
	    "20260315", utc(2026, 3, 15, 0, 0, 0, 0),
	    utc(2026, 3, 16, 0, 0, 0, 0));
	check_period(PROTOLOG_MONTHLY, 1, utc(2026, 3, 15, 7, 0, 0, 0),
	    "20260315", utc(2026, 3, 15, 0, 0, 0, 0),
	    utc(2026, 3, 16, 0, 0, 0, 0));
}

Test(protolog, period_monthly)
{
	check_period(PROTOLOG_MONTHLY, 0, utc(2026, 1, 31, 23, 59, 59, 999),
	    "202601", utc(2026, 1, 1, 0, 0, 0, 0), utc(2026, 2, 1, 0, 0, 0, 0));
	check_period(PROTOLOG_MONTHLY, 0, utc(2026, 2, 1, 0, 0, 0, 0), "202602",
	    utc(2026, 2, 1, 0, 0, 0, 0), utc(2026, 3, 1, 0, 0, 0, 0));
	check_period(PROTOLOG_MONTHLY, 0, utc(2026, 12, 9, 0, 0, 0, 0),
	    "202612", utc(2026, 12, 1, 0, 0, 0, 0),
	    utc(2027, 1, 1, 0, 0, 0, 0));
}

/*
 * Weeks of the month run Sunday to Saturday and are cut by the month:
 * August 2026 begins on a Saturday, so its 1st is week 1 on its own and
 * its 30th and 31st make week 6.  February 2026 begins on a Sunday and
 * has exactly four weeks.
 */
Test(protolog, period_weekly)
{
	check_period(PROTOLOG_WEEKLY, 0, utc(2026, 8, 1, 12, 0, 0, 0),
	    "202608W1", utc(2026, 8, 1, 0, 0, 0, 0),
	    utc(2026, 8, 2, 0, 0, 0, 0));
	check_period(PROTOLOG_WEEKLY, 0, utc(2026, 8, 1, 23, 59, 59, 999),
	    "202608W1", utc(2026, 8, 1, 0, 0, 0, 0),
	    utc(2026, 8, 2, 0, 0, 0, 0));
	check_period(PROTOLOG_WEEKLY, 0, utc(2026, 8, 2, 0, 0, 0, 0),
	    "202608W2", utc(2026, 8, 2, 0, 0, 0, 0),
	    utc(2026, 8, 9, 0, 0, 0, 0));
	check_period(PROTOLOG_WEEKLY, 0, utc(2026, 8, 8, 23, 59, 59, 999),
	    "202608W2", utc(2026, 8, 2, 0, 0, 0, 0),
	    utc(2026, 8, 9, 0, 0, 0, 0));
	check_period(PROTOLOG_WEEKLY, 0, utc(2026, 8, 29, 10, 0, 0, 0),
	    "202608W5", utc(2026, 8, 23, 0, 0, 0, 0),
	    utc(2026, 8, 30, 0, 0, 0, 0));
	check_period(PROTOLOG_WEEKLY, 0, utc(2026, 8, 31, 23, 59, 59, 999),
	    "202608W6", utc(2026, 8, 30, 0, 0, 0, 0),
	    utc(2026, 9, 1, 0, 0, 0, 0));
	/* September 2026 begins on a Tuesday, inside a running week. */
	check_period(PROTOLOG_WEEKLY, 0, utc(2026, 9, 1, 0, 0, 0, 0),
	    "202609W1", utc(2026, 9, 1, 0, 0, 0, 0),
	    utc(2026, 9, 6, 0, 0, 0, 0));
	check_period(PROTOLOG_WEEKLY, 0, utc(2026, 2, 1, 0, 0, 0, 0),
	    "202602W1", utc(2026, 2, 1, 0, 0, 0, 0),
	    utc(2026, 2, 8, 0, 0, 0, 0));
	check_period(PROTOLOG_WEEKLY, 0, utc(2026, 2, 28, 23, 0, 0, 0),
	    "202602W4", utc(2026, 2, 22, 0, 0, 0, 0),
	    utc(2026, 3, 1, 0, 0, 0, 0));
	check_period(PROTOLOG_WEEKLY, 0, utc(2026, 12, 31, 0, 0, 0, 0),
	    "202612W5", utc(2026, 12, 27, 0, 0, 0, 0),
	    utc(2027, 1, 1, 0, 0, 0, 0));
}

/* Every ms of a period must map to it: walk a year hour by hour. */
Test(protolog, periods_tile_the_year)
{
	static const enum protolog_rollover all[] = {PROTOLOG_HOURLY,
	    PROTOLOG_DAILY, PROTOLOG_WEEKLY, PROTOLOG_MONTHLY};
	char d[16], prev[16];
	int64_t ms, s, e, ps, pe;
	size_t i;

	for (i = 0; i < 4; i++) {
		ms = utc(2026, 1, 1, 0, 0, 0, 0);
		protolog_period(all[i], 0, ms, prev, &ps, &pe);
		for (; ms < utc(2027, 1, 1, 0, 0, 0, 0); ms += 3600 * 1000) {
			protolog_period(all[i], 0, ms, d, &s, &e);
			cr_assert(ms >= s && ms < e);
			protolog_period(all[i], 0, e - 1, prev, &ps, &pe);
			cr_assert_str_eq(prev, d);
			protolog_period(all[i], 0, s, prev, &ps, &pe);
			cr_assert_str_eq(prev, d);
			protolog_period(all[i], 0, e, prev, &ps, &pe);
			cr_assert_str_neq(prev, d);
			cr_assert_eq(ps, e);
		}
	}
}

Test(protolog, file_names)
{
	char name[PROTOLOG_NAME_MAX], date[16];
	unsigned n;

	protolog_file_name("POP3", "2026010203", 1, name);
	cr_assert_str_eq(name, "POP32026010203-1.LOG");
	protolog_file_name("IMAP4", "202608W6", 12, name);
	cr_assert_str_eq(name, "IMAP4202608W6-12.LOG");
	cr_assert(protolog_name_match("IMAP4", name, date, &n));
	cr_assert_str_eq(date, "202608W6");
	cr_assert_eq(n, 12);
	cr_assert(protolog_name_match("POP3", "POP3202608-3.LOG", date, &n));
	cr_assert_str_eq(date, "202608");
	cr_assert_eq(n, 3);
	cr_assert(protolog_name_match("POP3", "POP320260801-1.LOG", 0, 0));
	cr_assert(
	    protolog_name_match("POP3", "POP32026080100-999999999.LOG", 0, 0));
}

Test(protolog, file_names_rejected)
{
	static const char *bad[] = {"POP3BE2026010203-1.LOG",
	    "IMAP42026010203-1.LOG", "pop32026010203-1.LOG",
	    "POP32026010203-1.log", "POP32026010203-.LOG",
	    "POP32026010203-1.LOG.gz", "POP32026010203-1.LOGx",
	    "POP3202601W7-1.LOG", "POP3202601W0-1.LOG", "POP32026010-1.LOG",
	    "POP3202601031-1.LOG", "POP320260102030-1.LOG",
	    "POP32026010203-1234567890.LOG", "POP32026010203_1.LOG",
	    "POP3-1.LOG", "POP32026010203-x.LOG", "POP32026010203-1", "POP3",
	    ""};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert(!protolog_name_match("POP3", bad[i], NULL, NULL),
		    "%s", bad[i]);
	cr_assert(!protolog_name_match("IMAP4", "POP32026010203-1.LOG", 0, 0));
	cr_assert(!protolog_name_match("IMAP4", "IMAP4BE20260102-1.LOG", 0, 0));
}

/* Files. */

static char tmpdir[4096];

static void
make_tmpdir(void)
{
	const char *t = getenv("TMPDIR");

	snprintf(tmpdir, sizeof(tmpdir), "%s/protolog.XXXXXX",
	    t && *t ? t : "/tmp");
	cr_assert_not_null(mkdtemp(tmpdir));
}

static void
rm_tree(const char *dir)
{
	char path[8192];
	struct dirent *de;
	struct stat st;
	DIR *d;

	if ((d = opendir(dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
			rm_tree(path);
		else
			unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

static void
drop_tmpdir(void)
{
	rm_tree(tmpdir);
}

/* The whole file at dir/name, NUL-terminated; NULL when missing. */
static char *
slurp(const char *dir, const char *name, size_t *len)
{
	char path[8192], *buf;
	struct stat st;
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((fp = fopen(path, "rb")) == NULL)
		return NULL;
	cr_assert_eq(fstat(fileno(fp), &st), 0);
	buf = malloc((size_t)st.st_size + 1);
	cr_assert_eq(fread(buf, 1, (size_t)st.st_size, fp), (size_t)st.st_size);
	buf[st.st_size] = '\0';
	fclose(fp);
	if (len)
		*len = (size_t)st.st_size;
	return buf;
}

static size_t
count(const char *hay, const char *needle)
{
	size_t n = 0;

	for (; (hay = strstr(hay, needle)) != NULL; hay++)
		n++;
	return n;
}

static void
conf_for(struct protolog_conf c[PROTO_COUNT], const char *pop3dir)
{
	protolog_conf_defaults(&c[PROTO_POP3], PROTO_POP3);
	protolog_conf_defaults(&c[PROTO_IMAP], PROTO_IMAP);
	c[PROTO_POP3].enabled = true;
	c[PROTO_POP3].directory = (char *)pop3dir;
	c[PROTO_POP3].file_age_limit_ms = 0;
}

static void
start(struct protolog_conf c[PROTO_COUNT], size_t qmax)
{
	char err[512] = "";

	cr_assert_eq(protolog_start(c, qmax, err, sizeof(err)), 0, "%s", err);
}

static void
submit_rows(int64_t ms, unsigned from, unsigned to)
{
	struct protolog_row r = base_row();
	struct protolog_ctx ctx;
	unsigned i;

	protolog_ctx_init(&ctx);
	protolog_ctx_set(&ctx, PROTOLOG_R, "ok");
	r.context = &ctx;
	r.time_ms = ms;
	r.command = "noop";
	for (i = from; i < to; i++) {
		r.seq = i;
		protolog_submit(PROTO_POP3, &r);
	}
}

/* Appends to buf the rows submit_rows() makes; returns their length. */
static size_t
expect_rows(char *buf, int64_t ms, unsigned from, unsigned to)
{
	struct protolog_row r = base_row();
	struct protolog_ctx ctx;
	size_t n = 0;
	unsigned i;

	protolog_ctx_init(&ctx);
	protolog_ctx_set(&ctx, PROTOLOG_R, "ok");
	r.context = &ctx;
	r.time_ms = ms;
	r.command = "noop";
	for (i = from; i < to; i++) {
		r.seq = i;
		n += protolog_encode(&r, buf + n, 1024);
	}
	return n;
}

/* The seq numbers of the rows in file text, in order, from first. */
static unsigned
check_seqs(const char *text, unsigned first)
{
	const char *p = text;
	unsigned seq = first, got;

	while ((p = strstr(p, "\r\n2026-")) != NULL) {
		p += 2;
		cr_assert_eq(sscanf(p, "%*[^,],%*[^,],%u,", &got), 1);
		cr_assert_eq(got, seq, "row %u where %u was due", got, seq);
		seq++;
	}
	return seq;
}

Test(protolog, header_written_once_and_restart_appends, .init = make_tmpdir,
    .fini = drop_tmpdir)
{
	struct protolog_conf c[PROTO_COUNT];
	char dir[8192], hdr[1024];
	int64_t t = utc(2026, 1, 2, 3, 4, 5, 678);
	struct protolog_stats st;
	size_t len;
	char *text;

	/* The directory does not exist yet: start-up creates it. */
	snprintf(dir, sizeof(dir), "%s/var/log/Pop3", tmpdir);
	conf_for(c, dir);
	start(c, 0);
	cr_assert(protolog_enabled(PROTO_POP3));
	cr_assert(!protolog_enabled(PROTO_IMAP));
	submit_rows(t, 0, 3);
	protolog_flush();
	text = slurp(dir, "POP32026010203-1.LOG", &len);
	cr_assert_not_null(text);
	protolog_header("POP3", t, hdr, sizeof(hdr));
	cr_assert_eq(strncmp(text, hdr, strlen(hdr)), 0);
	cr_assert_eq(check_seqs(text, 0), 3);
	free(text);
	submit_rows(t + 1000, 3, 5);
	protolog_stop();
	protolog_get_stats(&st);
	cr_assert_eq(st.rows_written, 5);
	cr_assert_eq(st.rows_dropped + st.rows_failed, 0);
	cr_assert_eq(st.files_opened, 1);

	/* A restart in the same hour appends, without a second header. */
	start(c, 0);
	submit_rows(t + 60000, 5, 7);
	protolog_stop();
	text = slurp(dir, "POP32026010203-1.LOG", &len);
	cr_assert_eq(count(text, "#Fields:"), 1);
	cr_assert_eq(count(text, "#Fields:"), 1);
	cr_assert_eq(check_seqs(text, 0), 7);
	{
		/* Byte for byte: the header, then the rows as encoded. */
		char expect[8192];
		size_t n = strlen(hdr);

		memcpy(expect, hdr, n);
		n += expect_rows(expect + n, t, 0, 3);
		n += expect_rows(expect + n, t + 1000, 3, 5);
		n += expect_rows(expect + n, t + 60000, 5, 7);
		cr_assert_eq(len, n);
		cr_assert_eq(memcmp(text, expect, n), 0);
	}
	/* UTF-8 without a byte-order mark. */
	cr_assert_eq(strncmp(text, "dateTime,", 9), 0);
	free(text);

	/* The next hour starts a new file. */
	start(c, 0);
	submit_rows(utc(2026, 1, 2, 4, 0, 0, 0), 7, 8);
	protolog_stop();
	text = slurp(dir, "POP32026010204-1.LOG", NULL);
	cr_assert_not_null(text);
	cr_assert_eq(count(text, "#Fields:"), 1);
	cr_assert_eq(check_seqs(text, 7), 8);
	free(text);
}

Test(protolog, file_without_header_never_gets_one, .init = make_tmpdir,
    .fini = drop_tmpdir)
{
	struct protolog_conf c[PROTO_COUNT];
	char path[8192], *text;
	FILE *fp;

	snprintf(path, sizeof(path), "%s/POP320260102-1.LOG", tmpdir);
	cr_assert_not_null(fp = fopen(path, "w"));
	fputs("something\r\n", fp);
	fclose(fp);
	conf_for(c, tmpdir);
	c[PROTO_POP3].rollover = PROTOLOG_DAILY;
	start(c, 0);
	submit_rows(utc(2026, 1, 2, 3, 4, 5, 678), 0, 1);
	protolog_stop();
	text = slurp(tmpdir, "POP320260102-1.LOG", NULL);
	cr_assert_eq(
	    strncmp(text, "something\r\n2026-01-02T03:04:05.678Z,", 36), 0);
	cr_assert_eq(count(text, "dateTime,"), 0);
	free(text);
}

static bool
file_exists(const char *dir, const char *name)
{
	char path[8192];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return access(path, F_OK) == 0;
}

Test(protolog, size_quota_numbers_files, .init = make_tmpdir,
    .fini = drop_tmpdir)
{
	struct protolog_conf c[PROTO_COUNT];
	int64_t t = utc(2026, 5, 6, 7, 8, 9, 10);
	char name[PROTOLOG_NAME_MAX], hdr[1024];
	size_t len, hlen, rowlen;
	unsigned n, seq = 0, files;
	char *text;

	hlen = protolog_header("POP3", t, hdr, sizeof(hdr));
	conf_for(c, tmpdir);
	c[PROTO_POP3].rollover = PROTOLOG_HOURLY;
	c[PROTO_POP3].per_file_size_quota = hlen + 500;
	start(c, 0);
	submit_rows(t, 0, 40);
	protolog_stop();
	for (n = 1;; n++) {
		protolog_file_name("POP3", "20260506", n, name);
		if ((text = slurp(tmpdir, name, &len)) == NULL)
			break;
		cr_assert_eq(count(text, "#Fields:"), 1, "%s", name);
		seq = check_seqs(text, seq);
		/* The last row is what may have taken the file over. */
		{
			const char *last = text + len - 2;

			while (last > text && last[-1] != '\n')
				last--;
			rowlen = len - (size_t)(last - text);
		}
		if (file_exists(tmpdir,
			(protolog_file_name("POP3", "20260506", n + 1, name),
			    name))) {
			cr_assert_geq(len, hlen + 500);
			cr_assert_lt(len - rowlen, hlen + 500);
		} else
			cr_assert_leq(len, hlen + 500 + rowlen);
		free(text);
	}
	files = n - 1;
	cr_assert_eq(seq, 40);
	cr_assert_geq(files, 3);

	/* After a restart the last file is filled up, then the next one. */
	start(c, 0);
	submit_rows(t + 3600 * 1000, 40, 80);
	protolog_stop();
	seq = 0;
	for (n = 1;; n++) {
		protolog_file_name("POP3", "20260506", n, name);
		if ((text = slurp(tmpdir, name, &len)) == NULL)
			break;
		cr_assert_eq(count(text, "#Fields:"), 1, "%s", name);
		seq = check_seqs(text, seq);
		free(text);
	}
	cr_assert_eq(seq, 80);
	cr_assert_gt(n - 1, files);
	/* A new day starts again at 1. */
	start(c, 0);
	submit_rows(utc(2026, 5, 7, 0, 0, 0, 0), 80, 81);
	protolog_stop();
	cr_assert(file_exists(tmpdir, "POP320260507-1.LOG"));
	cr_assert(!file_exists(tmpdir, "POP320260507-2.LOG"));
}

Test(protolog, reconfigure_moves_new_rows, .init = make_tmpdir,
    .fini = drop_tmpdir)
{
	struct protolog_conf c[PROTO_COUNT];
	char a[8192], b[8192], err[512], *text;
	int64_t t = utc(2026, 1, 2, 3, 4, 5, 678);

	snprintf(a, sizeof(a), "%s/a", tmpdir);
	snprintf(b, sizeof(b), "%s/b", tmpdir);
	conf_for(c, a);
	start(c, 0);
	submit_rows(t, 0, 2);
	c[PROTO_POP3].directory = b;
	c[PROTO_POP3].rollover = PROTOLOG_MONTHLY;
	c[PROTO_POP3].detail = PROTOLOG_DETAIL_PROXY;
	cr_assert_eq(protolog_reconfigure(c, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(protolog_detail(PROTO_POP3), PROTOLOG_DETAIL_PROXY);
	submit_rows(t, 2, 3);
	protolog_flush();
	text = slurp(a, "POP32026010203-1.LOG", NULL);
	cr_assert_eq(check_seqs(text, 0), 2);
	free(text);
	text = slurp(b, "POP3202601-1.LOG", NULL);
	cr_assert_not_null(text);
	cr_assert_eq(check_seqs(text, 2), 3);
	free(text);
	/* A directory that cannot be made changes nothing. */
	snprintf(a, sizeof(a), "%s/a/POP32026010203-1.LOG/sub", tmpdir);
	c[PROTO_POP3].directory = a;
	cr_assert_eq(protolog_reconfigure(c, err, sizeof(err)), -1);
	cr_assert(strstr(err, a) != NULL, "%s", err);
	c[PROTO_POP3].enabled = false;
	c[PROTO_POP3].directory = b;
	cr_assert_eq(protolog_reconfigure(c, err, sizeof(err)), 0);
	cr_assert(!protolog_enabled(PROTO_POP3));
	submit_rows(t, 3, 4);
	protolog_stop();
	text = slurp(b, "POP3202601-1.LOG", NULL);
	cr_assert_eq(check_seqs(text, 2), 3);
	free(text);
}

Test(protolog, start_refuses_unusable_directory, .init = make_tmpdir,
    .fini = drop_tmpdir)
{
	struct protolog_conf c[PROTO_COUNT];
	char file[8192], err[512] = "";
	FILE *fp;

	snprintf(file, sizeof(file), "%s/plain", tmpdir);
	cr_assert_not_null(fp = fopen(file, "w"));
	fclose(fp);
	conf_for(c, file);
	cr_assert_eq(protolog_start(c, 0, err, sizeof(err)), -1);
	cr_assert(strstr(err, "not a directory") != NULL, "%s", err);
	cr_assert(!protolog_enabled(PROTO_POP3));
	/* Not started: rows go nowhere, and stop and flush do nothing. */
	submit_rows(utc(2026, 1, 1, 0, 0, 0, 0), 0, 1);
	protolog_flush();
	protolog_stop();
}

/* Creates dir/name with size bytes, last written at ms. */
static void
touch(const char *dir, const char *name, size_t size, int64_t ms)
{
	char path[8192];
	struct timespec ts[2];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	cr_assert_not_null(fp = fopen(path, "w"), "%s", path);
	for (size_t i = 0; i < size; i++)
		fputc('x', fp);
	fclose(fp);
	ts[0].tv_sec = ts[1].tv_sec = (time_t)(ms / 1000);
	ts[0].tv_nsec = ts[1].tv_nsec = (long)(ms % 1000) * 1000000;
	cr_assert_eq(utimensat(AT_FDCWD, path, ts, 0), 0);
}

Test(protolog, retention_by_age_touches_only_log_files, .init = make_tmpdir,
    .fini = drop_tmpdir)
{
	int64_t now = utc(2026, 6, 1, 0, 0, 0, 0), day = 86400 * 1000;
	char other[8192], path[8192], link[8192];
	static const char *kept_old[] = {"POP3BE2026010203-1.LOG",
	    "IMAP42026010203-1.LOG", "POP32026010203-1.LOG.gz", "notes.txt",
	    "pop32026010203-1.log"};
	size_t i;

	for (i = 0; i < 5; i++)
		touch(tmpdir, kept_old[i], 10, now - 100 * day);
	touch(tmpdir, "POP32026010203-1.LOG", 10, now - 40 * day);
	touch(tmpdir, "POP3202601W1-1.LOG", 10, now - 31 * day);
	touch(tmpdir, "POP3202601-7.LOG", 10, now - 30 * day - 1);
	touch(tmpdir, "POP320260501-1.LOG", 10, now - 29 * day);
	touch(tmpdir, "POP32026053123-1.LOG", 10, now - 1000);
	/* The open file stays even when old. */
	touch(tmpdir, "POP320260101-2.LOG", 10, now - 90 * day);
	/* A link or a directory named like a log is not a log. */
	snprintf(other, sizeof(other), "%s/outside", tmpdir);
	cr_assert_eq(mkdir(other, 0700), 0);
	touch(other, "target", 10, now - 100 * day);
	snprintf(path, sizeof(path), "%s/target", other);
	snprintf(link, sizeof(link), "%s/POP32026010100-1.LOG", tmpdir);
	cr_assert_eq(symlink(path, link), 0);
	snprintf(path, sizeof(path), "%s/POP32026010101-1.LOG", tmpdir);
	cr_assert_eq(mkdir(path, 0700), 0);

	cr_assert_eq(protolog_retention(tmpdir, PROTO_POP3, 30 * (uint64_t)day,
			 0, now, "POP320260101-2.LOG"),
	    3);
	cr_assert(!file_exists(tmpdir, "POP32026010203-1.LOG"));
	cr_assert(!file_exists(tmpdir, "POP3202601W1-1.LOG"));
	cr_assert(!file_exists(tmpdir, "POP3202601-7.LOG"));
	cr_assert(file_exists(tmpdir, "POP320260501-1.LOG"));
	cr_assert(file_exists(tmpdir, "POP32026053123-1.LOG"));
	cr_assert(file_exists(tmpdir, "POP320260101-2.LOG"));
	for (i = 0; i < 5; i++)
		cr_assert(file_exists(tmpdir, kept_old[i]), "%s", kept_old[i]);
	cr_assert(file_exists(tmpdir, "POP32026010100-1.LOG"));
	cr_assert(file_exists(other, "target"));
	cr_assert(file_exists(tmpdir, "POP32026010101-1.LOG"));
	/* No limits: nothing to do. */
	cr_assert_eq(protolog_retention(tmpdir, PROTO_POP3, 0, 0, now, NULL),
	    0);
	cr_assert_eq(protolog_retention(other, PROTO_POP3, 1, 0, now, NULL), 0);
	cr_assert_eq(
	    protolog_retention("/nonexistent/x", PROTO_POP3, 1, 0, now, NULL),
	    -1);
}

Test(protolog, retention_by_size_oldest_first, .init = make_tmpdir,
    .fini = drop_tmpdir)
{
	int64_t now = utc(2026, 6, 1, 0, 0, 0, 0);

	/* Names out of date order: age is what counts, not the name. */
	touch(tmpdir, "IMAP42026053104-1.LOG", 100, now - 5000);
	touch(tmpdir, "IMAP42026053101-1.LOG", 100, now - 4000);
	touch(tmpdir, "IMAP4202605W6-1.LOG", 100, now - 3000);
	touch(tmpdir, "IMAP4202605-1.LOG", 100, now - 2000);
	touch(tmpdir, "IMAP42026053105-1.LOG", 100, now - 1000);
	touch(tmpdir, "POP32026053100-1.LOG", 1000, now - 9000);
	touch(tmpdir, "unrelated.dat", 1000, now - 9000);

	cr_assert_eq(protolog_retention(tmpdir, PROTO_IMAP, 0, 250, now,
			 "IMAP42026053101-1.LOG"),
	    3);
	cr_assert(!file_exists(tmpdir, "IMAP42026053104-1.LOG"));
	cr_assert(file_exists(tmpdir, "IMAP42026053101-1.LOG"));
	cr_assert(!file_exists(tmpdir, "IMAP4202605W6-1.LOG"));
	cr_assert(!file_exists(tmpdir, "IMAP4202605-1.LOG"));
	cr_assert(file_exists(tmpdir, "IMAP42026053105-1.LOG"));
	cr_assert(file_exists(tmpdir, "POP32026053100-1.LOG"));
	cr_assert(file_exists(tmpdir, "unrelated.dat"));
	/* Within the quota: nothing more. */
	cr_assert_eq(protolog_retention(tmpdir, PROTO_IMAP, 0, 200, now, NULL),
	    0);
}

Test(protolog, writer_applies_retention, .init = make_tmpdir,
    .fini = drop_tmpdir)
{
	struct protolog_conf c[PROTO_COUNT];
	int64_t now = protolog_now();
	struct protolog_stats st;

	touch(tmpdir, "POP32020010203-1.LOG", 10, now - 40LL * 86400 * 1000);
	touch(tmpdir, "POP32020010204-1.LOG", 10, now - 20LL * 86400 * 1000);
	conf_for(c, tmpdir);
	c[PROTO_POP3].file_age_limit_ms = PROTOLOG_AGE_LIMIT_DEFAULT_MS;
	start(c, 0);
	submit_rows(utc(2026, 1, 2, 3, 4, 5, 678), 0, 1);
	protolog_stop();
	protolog_get_stats(&st);
	cr_assert_eq(st.files_deleted, 1);
	cr_assert(!file_exists(tmpdir, "POP32020010203-1.LOG"));
	cr_assert(file_exists(tmpdir, "POP32020010204-1.LOG"));
	cr_assert(file_exists(tmpdir, "POP32026010203-1.LOG"));
}

/* Writer thread under load. */

#define THREADS 4
#define SESSIONS 16
#define ROWS_PER_THREAD 5000

static void *
submitter(void *arg)
{
	unsigned t = (unsigned)(uintptr_t)arg, seq[SESSIONS] = {0}, i, s;
	struct protolog_row r = base_row();
	struct protolog_ctx ctx;
	char params[64];

	protolog_ctx_init(&ctx);
	protolog_ctx_set(&ctx, PROTOLOG_R, "ok");
	r.context = &ctx;
	r.command = "fetch";
	r.params = params;
	for (i = 0; i < ROWS_PER_THREAD; i++) {
		s = (i * 7) % SESSIONS;
		r.session_id = t * 1000 + s;
		r.seq = seq[s]++;
		/* Rows of varied length, some quoted. */
		snprintf(params, sizeof(params), "%u (FLAGS%s)", i,
		    i % 3 ? "" : ",X");
		r.time_ms = utc(2026, 1, 2, 3, 0, 0, 0) + i;
		protolog_submit(PROTO_POP3, &r);
	}
	return NULL;
}

Test(protolog, writer_keeps_every_row_once_in_order, .init = make_tmpdir,
    .fini = drop_tmpdir)
{
	struct protolog_conf c[PROTO_COUNT];
	pthread_t th[THREADS];
	unsigned next[THREADS][SESSIONS] = {{0}}, sid, seq, rows = 0, t;
	struct protolog_stats st;
	char *text, *line, *save;

	conf_for(c, tmpdir);
	start(c, 0);
	for (t = 0; t < THREADS; t++)
		pthread_create(&th[t], NULL, submitter, (void *)(uintptr_t)t);
	for (t = 0; t < THREADS; t++)
		pthread_join(th[t], NULL);
	protolog_stop();
	protolog_get_stats(&st);
	cr_assert_eq(st.rows_written, THREADS * ROWS_PER_THREAD);
	cr_assert_eq(st.rows_dropped, 0);
	text = slurp(tmpdir, "POP32026010203-1.LOG", NULL);
	cr_assert_not_null(text);
	cr_assert_eq(count(text, "\r\n"), 6 + THREADS * ROWS_PER_THREAD);
	for (line = strtok_r(text, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "2026-", 5) != 0)
			continue;
		cr_assert_eq(line[strlen(line) - 1], '\r');
		cr_assert_eq(sscanf(line, "%*[^,],%x,%u,", &sid, &seq), 2);
		t = sid / 1000;
		cr_assert_lt(t, THREADS);
		cr_assert_lt(sid % 1000, SESSIONS);
		cr_assert_eq(seq, next[t][sid % 1000]++, "session %x", sid);
		rows++;
	}
	cr_assert_eq(rows, THREADS * ROWS_PER_THREAD);
	free(text);
}

struct fifo_reader {
	char path[8192];
	char *buf;
	size_t len;
};

static void *
fifo_read(void *arg)
{
	struct fifo_reader *fr = arg;
	char chunk[65536];
	ssize_t n;
	int fd;

	fd = open(fr->path, O_RDONLY);
	if (fd == -1)
		return NULL;
	while ((n = read(fd, chunk, sizeof(chunk))) > 0) {
		fr->buf = realloc(fr->buf, fr->len + (size_t)n + 1);
		memcpy(fr->buf + fr->len, chunk, (size_t)n);
		fr->len += (size_t)n;
		fr->buf[fr->len] = '\0';
	}
	close(fd);
	return NULL;
}

/*
 * A disk that stalls: the log file is a FIFO nobody reads yet, so the
 * writer hangs in open(2).  Submitting must go on without waiting, keep
 * rows up to the bound and count the rest as dropped; once the "disk"
 * moves again, the kept rows arrive in order.
 */
Test(protolog, stalled_disk_drops_rows_without_blocking, .init = make_tmpdir,
    .fini = drop_tmpdir)
{
	struct protolog_conf c[PROTO_COUNT];
	struct fifo_reader fr = {0};
	struct protolog_stats st;
	struct timespec a, b;
	pthread_t th;
	unsigned seq;

	snprintf(fr.path, sizeof(fr.path), "%s/POP32026010203-1.LOG", tmpdir);
	cr_assert_eq(mkfifo(fr.path, 0600), 0);
	conf_for(c, tmpdir);
	start(c, 8192);
	clock_gettime(CLOCK_MONOTONIC, &a);
	submit_rows(utc(2026, 1, 2, 3, 4, 5, 678), 0, 1);
	/* Let the writer take the first row (after gathering for a moment)
	 * and block on the FIFO. */
	usleep((PROTOLOG_GATHER_MS + 300) * 1000);
	submit_rows(utc(2026, 1, 2, 3, 4, 5, 678), 1, 2000);
	clock_gettime(CLOCK_MONOTONIC, &b);
	cr_assert_lt(protolog_duration(&a, &b), 2000);
	protolog_get_stats(&st);
	cr_assert_gt(st.rows_dropped, 1000);
	cr_assert_leq(st.queue_peak, 8192);
	cr_assert_eq(st.rows_written, 0);

	pthread_create(&th, NULL, fifo_read, &fr);
	protolog_stop();
	pthread_join(th, NULL);
	protolog_get_stats(&st);
	cr_assert_eq(st.rows_written + st.rows_dropped, 2000);
	cr_assert_gt(st.rows_written, 10);
	cr_assert_not_null(fr.buf);
	cr_assert_eq(count(fr.buf, "#Fields:"), 1);
	/* What was kept is the first rows, in order, whole. */
	seq = check_seqs(fr.buf, 0);
	cr_assert_eq(seq, st.rows_written);
	cr_assert_eq(count(fr.buf, "\r\n"), 6 + st.rows_written);
	free(fr.buf);
}

/*
 * Sums the "N rows lost since the last report" of every message in text,
 * and returns the last "M in all".
 */
static uint64_t
reported_lost(const char *text, uint64_t *sum)
{
	const char *p = text;
	unsigned long long n, all = 0;

	*sum = 0;
	while ((p = strstr(p, " rows lost since the last report, ")) != NULL) {
		const char *q = p;

		while (q > text && q[-1] >= '0' && q[-1] <= '9')
			q--;
		cr_assert(q < p, "no count before: %.60s", p);
		cr_assert_eq(sscanf(q,
				 "%llu rows lost since the last report, "
				 "%llu in all",
				 &n, &all),
		    2);
		*sum += n;
		p++;
	}
	return all;
}

/*
 * A file that cannot be written stands for a full disk without one: the
 * log files of two hours are links to /dev/full, which refuses every
 * write with ENOSPC.  Every row lost is counted, and the numbers in the
 * daemon log add up to them, messages at recovery and at exit included.
 */
Test(protolog, rows_lost_to_a_full_disk_are_counted_and_reported,
    .init = make_tmpdir, .fini = drop_tmpdir)
{
	struct protolog_conf c[PROTO_COUNT];
	struct protolog_stats st;
	char full1[8192], full2[8192], errpath[8192];
	int64_t t1 = utc(2026, 1, 2, 3, 4, 5, 678);
	int64_t t2 = utc(2026, 1, 2, 4, 4, 5, 678);
	int saved, fd;
	uint64_t sum, all;
	char *text;

	snprintf(full1, sizeof(full1), "%s/POP32026010203-1.LOG", tmpdir);
	snprintf(full2, sizeof(full2), "%s/POP32026010204-1.LOG", tmpdir);
	snprintf(errpath, sizeof(errpath), "%s/daemon.log", tmpdir);
	cr_assert_eq(symlink("/dev/full", full1), 0);
	cr_assert_eq(symlink("/dev/full", full2), 0);
	/* The daemon log (stderr) goes to a file the test reads. */
	fflush(stderr);
	saved = dup(2);
	fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert(saved >= 0 && fd >= 0);
	dup2(fd, 2);
	close(fd);

	conf_for(c, tmpdir);
	start(c, 0);
	submit_rows(t1, 0, 7); /* lost: the first hour's file is full */
	protolog_flush();
	cr_assert_eq(unlink(full1), 0);
	submit_rows(t1 + 1000, 7, 10); /* written: room again */
	protolog_flush();
	submit_rows(t2, 10, 15); /* lost: the next hour's file is full */
	protolog_flush();
	protolog_get_stats(&st);
	cr_assert_eq(st.rows_failed, 12);
	cr_assert_eq(st.rows_written, 3);
	protolog_stop();

	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	text = slurp(tmpdir, "daemon.log", NULL);
	cr_assert_not_null(text);
	all = reported_lost(text, &sum);
	cr_assert_eq(sum, 12, "reported %llu lost rows:\n%s",
	    (unsigned long long)sum, text);
	cr_assert_eq(all, 12, "%s", text);
	cr_assert_neq(strstr(text, "No space left on device"), NULL, "%s",
	    text);
	cr_assert_neq(strstr(text, "at exit: "), NULL, "%s", text);
	free(text);
	text = slurp(tmpdir, "POP32026010203-1.LOG", NULL);
	cr_assert_eq(check_seqs(text, 7), 10);
	free(text);
}

/*
 * The row of a login that login_type_mode = audit and an audit rule let
 * through: R=ok, no ErrMsg (log tools read it as a failure), the audit
 * verdicts in postern's keys.
 */
Test(protolog, audited_login_row, .init = make_tmpdir, .fini = drop_tmpdir)
{
	struct protolog_conf c[PROTO_COUNT];
	struct proto_conf pc = {
	    .login_type = LOGIN_SECURE_LOGIN,
	    .login_type_mode = LOGIN_MODE_AUDIT,
	    .backend_host = "127.0.0.1",
	    .backend_port = "110",
	    .backend_tls = BACKEND_TLS_NONE,
	};
	struct policy_decision d = {
	    .verdict = POLICY_OUTCOME_AUDIT,
	    .reason = POLICY_REASON_LOGIN_TYPE,
	    .audit_login_type = true,
	    .audit_rule = "old devices",
	};
	struct session s;
	char *text, *row, *end;
	struct dirent *de;
	DIR *dir;

	memset(&s, 0, sizeof(s));
	s.proto = &pop3_proto;
	s.pc = &pc;
	s.id = 0x2a;
	s.user = (char *)"olddevice";
	snprintf(s.local.str, sizeof(s.local.str), "127.0.0.1:110");
	snprintf(s.peer.str, sizeof(s.peer.str), "127.0.0.9:4000");
	conf_for(c, tmpdir);
	start(c, 0);
	sesslog_init(&s);
	cr_assert_not_null(s.log);
	sesslog_opened(&s);
	sesslog_begin(&s);
	sesslog_command(&s, "pass", " *****", 6);
	sesslog_policy(&s, &d);
	sesslog_wrote(&s, "+OK Logged in.\r\n", 16);
	sesslog_login(&s, LOGIN_OK);
	sesslog_close(&s);
	protolog_stop();

	cr_assert_not_null(dir = opendir(tmpdir));
	text = NULL;
	while ((de = readdir(dir)) != NULL)
		if (strncmp(de->d_name, "POP3", 4) == 0)
			text = slurp(tmpdir, de->d_name, NULL);
	closedir(dir);
	cr_assert_not_null(text);
	cr_assert_not_null(row = strstr(text, ",pass, *****,"), "%s", text);
	cr_assert_not_null(end = strstr(row, "\r\n"));
	*end = '\0';
	cr_expect(strstr(row, "R=ok;") != NULL, "%s", row);
	cr_expect(strstr(row, "ErrMsg") == NULL, "%s", row);
	cr_expect(strstr(row, ";LoginTypeAudit=WouldDeny:SecureLogin") != NULL,
	    "%s", row);
	cr_expect(strstr(row,
		      ";AccessRuleAudit=\"\"WouldDeny:old devices\"\"") != NULL,
	    "%s", row);
	free(text);
}

/* A directory the writer uses is held: another open of the lock conflicts. */
Test(protolog, directories_in_use_are_locked, .init = make_tmpdir,
    .fini = drop_tmpdir)
{
	struct protolog_conf c[PROTO_COUNT];
	char other[8192], err[512] = "";

	snprintf(other, sizeof(other), "%s/other", tmpdir);
	cr_assert_eq(mkdir(other, 0700), 0);
	cr_assert_eq(protolog_dir_in_use(tmpdir, err, sizeof(err)), 0);
	conf_for(c, tmpdir);
	/* Both protocols in one directory: locked once, no conflict. */
	c[PROTO_IMAP].enabled = true;
	c[PROTO_IMAP].directory = tmpdir;
	start(c, 0);
	cr_assert_eq(protolog_dir_in_use(tmpdir, err, sizeof(err)), 1);
	cr_expect(strstr(err, tmpdir) != NULL, "%s", err);
	cr_expect(strstr(err, "in use by another postern") != NULL, "%s", err);
	cr_assert_eq(protolog_dir_in_use(other, err, sizeof(err)), 0);

	/* A reload moves IMAP4 away; the shared one stays held. */
	c[PROTO_IMAP].directory = other;
	cr_assert_eq(protolog_reconfigure(c, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(protolog_dir_in_use(tmpdir, err, sizeof(err)), 1);
	cr_assert_eq(protolog_dir_in_use(other, err, sizeof(err)), 1);
	/* Switched off: released. */
	c[PROTO_IMAP].enabled = false;
	cr_assert_eq(protolog_reconfigure(c, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(protolog_dir_in_use(other, err, sizeof(err)), 0);
	protolog_stop();
	cr_assert_eq(protolog_dir_in_use(tmpdir, err, sizeof(err)), 0);
}

/* Pushes a command named by its number; the ring had room. */
static void
ring_push(struct sesslog_ring *r, unsigned k)
{
	struct sesslog_cmd *c;

	cr_assert(sesslog_ring_room(r), "no room for command %u", k);
	c = sesslog_ring_push(r);
	snprintf(c->key, sizeof(c->key), "t%u", k);
}

Test(sesslog_ring, one_command_at_a_time_takes_one_slot_while_it_waits)
{
	struct sesslog_ring r = {0};

	for (unsigned k = 0; k < 100; k++) {
		char want[16];

		ring_push(&r, k);
		cr_assert_eq(r.cap, 1);
		snprintf(want, sizeof(want), "t%u", k);
		cr_assert_str_eq(sesslog_ring_head(&r)->key, want);
		sesslog_ring_head(&r)->done = true;
		sesslog_ring_pop_done(&r);
		cr_assert_eq(r.n, 0);
		cr_assert_null(sesslog_ring_head(&r));
		cr_assert_null(r.more, "an empty ring kept its room");
	}
}

/* An idle session (its IDLE answered) has no command waiting: its ring
 * must cost no command's room. */
Test(sesslog_ring, an_empty_ring_holds_no_command_slot)
{
	cr_assert_lt(sizeof(struct sesslog_ring), sizeof(struct sesslog_cmd));
}

/* A command whose first bytes were taken was promised its slot: the
 * answers that empty the ring before the command is complete must not
 * take the room back. */
Test(sesslog_ring, promised_room_outlives_the_answers_before_the_push)
{
	struct sesslog_ring r = {0};
	struct sesslog_cmd *c;

	ring_push(&r, 1);
	cr_assert(sesslog_ring_room(&r)); /* the next command starts */
	sesslog_ring_head(&r)->done = true;
	sesslog_ring_pop_done(&r); /* t1 answered meanwhile */
	cr_assert_eq(r.n, 0);
	cr_assert_not_null(r.more, "the promised room was given back");
	c = sesslog_ring_push(&r);
	snprintf(c->key, sizeof(c->key), "t2");
	cr_assert_str_eq(sesslog_ring_head(&r)->key, "t2");
	c->done = true;
	sesslog_ring_pop_done(&r);
	cr_assert_null(r.more);
	sesslog_ring_free(&r);
}

Test(sesslog_ring, grows_in_order_to_the_limit_and_gives_the_room_back)
{
	struct sesslog_ring r = {0};
	char want[16];

	for (unsigned k = 0; k < SESSLOG_PENDING_MAX; k++) {
		ring_push(&r, k);
		/* Every command keeps its place across each growth. */
		for (unsigned i = 0; i <= k; i++) {
			snprintf(want, sizeof(want), "t%u", i);
			cr_assert_str_eq(sesslog_ring_at(&r, i)->key, want);
		}
	}
	cr_assert_eq(r.n, SESSLOG_PENDING_MAX);
	cr_assert_not(sesslog_ring_room(&r), "room beyond the limit");

	/* Out-of-order answers: the front goes only when it is answered. */
	sesslog_ring_at(&r, 1)->done = true;
	sesslog_ring_pop_done(&r);
	cr_assert_eq(r.n, SESSLOG_PENDING_MAX);
	sesslog_ring_at(&r, 0)->done = true;
	sesslog_ring_pop_done(&r);
	cr_assert_eq(r.n, SESSLOG_PENDING_MAX - 2);
	cr_assert_str_eq(sesslog_ring_head(&r)->key, "t2");

	/* Wrapped around: two more fit, in order after the rest. */
	ring_push(&r, 100);
	ring_push(&r, 101);
	cr_assert_not(sesslog_ring_room(&r));
	cr_assert_str_eq(sesslog_ring_at(&r, SESSLOG_PENDING_MAX - 2)->key,
	    "t100");
	cr_assert_str_eq(sesslog_ring_at(&r, SESSLOG_PENDING_MAX - 1)->key,
	    "t101");

	for (unsigned i = 0; i < r.n; i++)
		sesslog_ring_at(&r, i)->done = true;
	sesslog_ring_pop_done(&r);
	cr_assert_eq(r.n, 0);
	cr_assert_null(r.more, "the heap room was not given back");

	/* And it grows again from one slot. */
	ring_push(&r, 7);
	ring_push(&r, 8);
	cr_assert_str_eq(sesslog_ring_at(&r, 1)->key, "t8");
	sesslog_ring_free(&r);
	cr_assert_null(r.more);
	cr_assert_eq(r.n, 0);
}
