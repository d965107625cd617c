/*
 * invreport: the four output formats of postern-inventory.
 */
#include "config.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "invreport.h"

int
invreport_parse_format(const char *s, enum invreport_format *out)
{
	static const struct {
		const char *name;
		enum invreport_format f;
	} names[] = {{"table", INVREPORT_TABLE}, {"csv", INVREPORT_CSV},
	    {"json", INVREPORT_JSON}, {"html", INVREPORT_HTML}};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcasecmp(s, names[i].name) == 0) {
			*out = names[i].f;
			return 0;
		}
	return -1;
}

/* What the key column and the related column are called. */
static const char *
key_name(enum inv_by by)
{
	switch (by) {
	case INV_BY_CLIENT:
	case INV_BY_CLIENT_USER:
		return "client";
	case INV_BY_USER:
		return "user";
	case INV_BY_SOFTWARE:
		return "software";
	case INV_BY_BACKEND:
	case INV_BY_BACKEND_USER:
		return "backend";
	case INV_BY_MECHANISM:
		return "mechanism";
	}
	return "key";
}

/* Whether a record's key2 is the user (the pairs' reports). */
static bool
by_pair(enum inv_by by)
{
	return by == INV_BY_CLIENT_USER || by == INV_BY_BACKEND_USER;
}

static bool
by_backend(enum inv_by by)
{
	return by == INV_BY_BACKEND || by == INV_BY_BACKEND_USER;
}

/* Whether the report is keyed by what a session used, not who it was. */
static bool
by_means(enum inv_by by)
{
	return by_backend(by) || by == INV_BY_MECHANISM;
}

/* The login type the report's "would break" is about. */
static enum inv_login_type
login_type(const struct inventory *inv)
{
	return inventory_options(inv)->login_type;
}

static bool
would_break(const struct inventory *inv, const struct inv_record *r)
{
	return inv_would_break(r, login_type(inv));
}

static const char *
related_name(enum inv_by by)
{
	switch (by) {
	case INV_BY_CLIENT:
	case INV_BY_BACKEND:
	case INV_BY_MECHANISM:
		return "users";
	case INV_BY_USER:
	case INV_BY_SOFTWARE:
	case INV_BY_BACKEND_USER:
		return "clients";
	case INV_BY_CLIENT_USER:
		break;
	}
	return NULL;
}

/* What the second related column (inv_record.related2) counts. */
static const char *
related2_name(enum inv_by by)
{
	return by == INV_BY_BACKEND || by == INV_BY_MECHANISM ? "clients" :
								NULL;
}

/* The display form of a key: the empty user is a session without login. */
static const char *
shown(const char *s)
{
	return s == NULL || *s == '\0' ? "(no login)" : s;
}

static void
ports_text(const struct inv_record *r, char *buf, size_t cap, char sep)
{
	size_t n = 0;

	buf[0] = '\0';
	for (unsigned i = 0; i < r->nports && n < cap; i++)
		n += (size_t)snprintf(buf + n, cap - n, "%s%u",
		    i ? (char[]){sep, 0} : "", r->ports[i]);
	if (r->ports_more && n < cap)
		snprintf(buf + n, cap - n, "%c...", sep);
}

/* Server names of a record joined by sep, into buf. */
static void
servers_text(const struct inventory *inv, const struct inv_record *r, char *buf,
    size_t cap, const char *sep)
{
	const struct inv_options *o = inventory_options(inv);
	size_t n = 0;
	bool first = true;

	buf[0] = '\0';
	for (size_t i = 0; i < o->nservers && n < cap; i++) {
		if ((r->servers[i / 64] >> (i % 64) & 1) == 0)
			continue;
		n += (size_t)snprintf(buf + n, cap - n, "%s%s",
		    first ? "" : sep, o->servers[i]);
		first = false;
	}
}

/* A sample of related names (related or related2) joined by sep. */
static void
sample_text(const char *const *sample, uint64_t count, char *buf, size_t cap,
    const char *sep)
{
	size_t n = 0;

	buf[0] = '\0';
	for (int i = 0; i < INV_SAMPLES && sample[i] != NULL && n < cap; i++)
		n += (size_t)snprintf(buf + n, cap - n, "%s%s", i ? sep : "",
		    sample[i]);
	if (count > INV_SAMPLES && n < cap)
		snprintf(buf + n, cap - n, "%s...", sep);
}

static void
related_text(const struct inv_record *r, char *buf, size_t cap, const char *sep)
{
	sample_text(r->related, r->nrelated, buf, cap, sep);
}

static void
related2_text(const struct inv_record *r, char *buf, size_t cap,
    const char *sep)
{
	sample_text(r->related2, r->nrelated2, buf, cap, sep);
}

static void
pop3_text(const struct inv_record *r, char *buf, size_t cap)
{
	if (!(r->protocols & INV_POP3) ||
	    (r->pop3_dele_sessions == 0 && r->pop3_leave_sessions == 0))
		snprintf(buf, cap, "-");
	else
		snprintf(buf, cap, "dele:%" PRIu64 " leave:%" PRIu64,
		    r->pop3_dele_sessions, r->pop3_leave_sessions);
}

/* ---- table ---- */

enum col {
	C_MARK,
	C_KEY,
	C_KEY2,
	C_PROTO,
	C_MECH,
	C_SESS,
	C_OK,
	C_FAIL,
	C_NOTLS,
	C_TLS,
	C_LAST,
	C_REL,
	C_REL2,
	C_POP3,
	C_PORTS,
	C_FIRST,
	C_SERVERS,
	C_N
};

static const char *const col_head[C_N] = {"!", "CLIENT", "USER", "PROTO",
    "MECH", "SESS", "OK", "FAIL", "NO-TLS", "TLS/STLS", "LAST SEEN", "USERS",
    "CLIENTS", "POP3", "PORTS", "FIRST SEEN", "SERVERS"};

/* Columns dropped first when the terminal is narrow. */
static const enum col drop_order[] = {C_SERVERS, C_FIRST, C_PORTS, C_POP3,
    C_REL2, C_REL, C_MECH, C_TLS, C_FAIL, C_LAST};

/* By backend, who is still on a backend is the point of the report. */
static const enum col drop_order_backend[] = {C_SERVERS, C_FIRST, C_PORTS,
    C_POP3, C_MECH, C_TLS, C_FAIL, C_LAST, C_REL2, C_REL};
_Static_assert(sizeof(drop_order) == sizeof(drop_order_backend),
    "both drop orders drop the same columns");

/* Width in characters of UTF-8 text (continuation bytes take none). */
static size_t
text_width(const char *s)
{
	size_t w = 0;

	for (; *s != '\0'; s++)
		w += ((unsigned char)*s & 0xc0) != 0x80;
	return w;
}

/* Copies s for a terminal: control characters become '?', and the text
 * is cut to at most w characters with '~' marking the cut. */
static void
term_text(const char *s, char *buf, size_t cap, size_t w)
{
	size_t n = 0, chars = 0, total = text_width(s);

	for (; *s != '\0' && n + 5 < cap; s++) {
		unsigned char c = (unsigned char)*s;
		bool cont = (c & 0xc0) == 0x80;

		if (!cont) {
			if (chars + 1 == w && total > w) {
				buf[n++] = '~';
				break;
			}
			if (chars == w)
				break;
			chars++;
		}
		buf[n++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
	}
	buf[n] = '\0';
}

static void
cell(const struct inventory *inv, const struct inv_record *r, enum col c,
    char *buf, size_t cap)
{
	char t[256];

	switch (c) {
	case C_MARK:
		snprintf(buf, cap, "%s", would_break(inv, r) ? "!" : "");
		break;
	case C_KEY:
		term_text(shown(r->key), buf, cap, 200);
		break;
	case C_KEY2:
		term_text(shown(r->key2), buf, cap, 200);
		break;
	case C_PROTO:
		snprintf(buf, cap, "%s", inv_protocols_name(r->protocols));
		break;
	case C_MECH:
		inv_mechanisms_text(r->mechanisms, buf, cap, '+');
		break;
	case C_SESS:
		snprintf(buf, cap, "%" PRIu64, r->sessions);
		break;
	case C_OK:
		snprintf(buf, cap, "%" PRIu64, r->logins_ok);
		break;
	case C_FAIL:
		snprintf(buf, cap, "%" PRIu64, r->logins_failed);
		break;
	case C_NOTLS:
		snprintf(buf, cap, "%" PRIu64, r->cleartext_ok);
		break;
	case C_TLS:
		snprintf(buf, cap, "%" PRIu64 "/%" PRIu64, r->implicit_ok,
		    r->starttls_ok);
		break;
	case C_LAST:
		inv_format_time(r->last_ms, buf, cap);
		break;
	case C_FIRST:
		inv_format_time(r->first_ms, buf, cap);
		break;
	case C_REL:
	case C_REL2: {
		uint64_t count = c == C_REL ? r->nrelated : r->nrelated2;

		if (c == C_REL)
			related_text(r, t, sizeof(t), ",");
		else
			related2_text(r, t, sizeof(t), ",");
		if (count == 0)
			snprintf(buf, cap, "0");
		else {
			char sample[64];

			term_text(t, sample, sizeof(sample), 40);
			snprintf(buf, cap, "%" PRIu64 " %s", count, sample);
		}
		break;
	}
	case C_POP3:
		pop3_text(r, buf, cap);
		break;
	case C_PORTS:
		ports_text(r, buf, cap, ',');
		break;
	case C_SERVERS:
		servers_text(inv, r, t, sizeof(t), ",");
		term_text(t, buf, cap, 60);
		break;
	case C_N:
		buf[0] = '\0';
		break;
	}
}

static bool
col_numeric(enum col c)
{
	return c == C_SESS || c == C_OK || c == C_FAIL || c == C_NOTLS ||
	       c == C_TLS;
}

static void
write_summary_text(FILE *out, const struct inventory *inv)
{
	const struct inv_summary *s = inventory_summary(inv);
	char a[32], b[32];
	static const char *const pn[INV_NPROTO] = {"POP3 ", "IMAP4"};

	fprintf(out,
	    "Files: %" PRIu64 " read, %" PRIu64 " skipped by date, %" PRIu64
	    " unreadable\n",
	    s->files, s->files_skipped, s->files_failed);
	fprintf(out,
	    "Rows: %" PRIu64 " read, %" PRIu64 " malformed, %" PRIu64
	    " repeated, %" PRIu64 " outside the time range\n",
	    s->rows, s->rows_bad, s->rows_repeated, s->rows_filtered);
	if (inventory_options(inv)->nexclude_users > 0)
		fprintf(out, "Excluded users: %" PRIu64 " sessions left out\n",
		    s->sessions_excluded);
	inv_format_time(s->first_ms, a, sizeof(a));
	inv_format_time(s->last_ms, b, sizeof(b));
	fprintf(out, "Time span: %s .. %s\n", a, b);
	for (int p = 0; p < INV_NPROTO; p++)
		fprintf(out,
		    "%s  %" PRIu64 " sessions, %" PRIu64 " clients, %" PRIu64
		    " users, %" PRIu64 " logins ok, %" PRIu64
		    " failed, %" PRIu64 " without TLS\n",
		    pn[p], s->proto[p].sessions, s->proto[p].clients,
		    s->proto[p].users, s->proto[p].logins_ok,
		    s->proto[p].logins_failed, s->proto[p].cleartext_ok);
	fprintf(out,
	    "Would break under %s: %" PRIu64 " of %" PRIu64 " clients, %" PRIu64
	    " of %" PRIu64 " users (marked !)\n",
	    inv_login_type_name(login_type(inv)), s->clients_would_break,
	    s->clients, s->users_would_break, s->users);
	if (by_backend(inventory_options(inv)->by))
		fprintf(out,
		    "Without a backend: %" PRIu64
		    " sessions (no login, or refused before one), not listed\n",
		    s->sessions_no_backend);
	fputc('\n', out);
}

static int
write_table(FILE *out, const struct inventory *inv,
    const struct invreport_options *o)
{
	const struct inv_record *const *recs;
	size_t n = inventory_records(inv, &recs), w[C_N], total;
	enum inv_by by = inventory_options(inv)->by;
	const enum col *drop = by_means(by) ? drop_order_backend : drop_order;
	bool on[C_N];
	char buf[512];
	int c, lastc;

	write_summary_text(out, inv);
	for (c = 0; c < C_N; c++) {
		on[c] = true;
		w[c] = strlen(col_head[c]);
	}
	on[C_KEY2] = by_pair(by);
	on[C_REL] = related_name(by) != NULL;
	on[C_REL2] = related2_name(by) != NULL;
	on[C_POP3] = (inventory_options(inv)->protocols & INV_POP3) != 0;
	for (size_t i = 0; i < n; i++)
		for (c = 0; c < C_N; c++) {
			if (!on[c])
				continue;
			cell(inv, recs[i], (enum col)c, buf, sizeof(buf));
			if (text_width(buf) > w[c])
				w[c] = text_width(buf);
		}
	/* Fit the terminal: drop the least useful columns, then narrow
	 * the key columns, never below 15 characters. */
	for (size_t d = 0;; d++) {
		total = 0;
		for (c = 0; c < C_N; c++)
			if (on[c])
				total += w[c] + 2;
		if (o->width == 0 || total <= o->width ||
		    d == sizeof(drop_order) / sizeof(drop_order[0]))
			break;
		on[drop[d]] = false;
	}
	while (o->width > 0 && total > o->width) {
		int k = on[C_KEY2] && w[C_KEY2] > w[C_KEY] ? C_KEY2 : C_KEY;

		if (w[k] <= 15)
			break;
		w[k]--;
		total--;
	}
	for (c = C_N - 1; c > 0 && !on[c]; c--)
		;
	lastc = c;
	for (int row = -1; row < (int)n; row++) {
		const char *sep = "";

		for (c = 0; c < C_N; c++) {
			char t[512];
			const char *h = col_head[c];
			size_t tw;

			if (!on[c])
				continue;
			if (row < 0) {
				if (c == C_KEY)
					h = key_name(by);
				else if (c == C_REL)
					h = related_name(by);
				snprintf(buf, sizeof(buf), "%s", h);
				if (c == C_KEY || c == C_REL)
					for (char *u = buf; *u != '\0'; u++)
						*u = (char)toupper(
						    (unsigned char)*u);
			} else
				cell(inv, recs[row], (enum col)c, buf,
				    sizeof(buf));
			term_text(buf, t, sizeof(t), w[c]);
			tw = text_width(t);
			if (col_numeric((enum col)c) && row >= 0)
				fprintf(out, "%s%*s%s", sep, (int)(w[c] - tw),
				    "", t);
			else if (c == lastc)
				fprintf(out, "%s%s", sep, t);
			else
				fprintf(out, "%s%s%*s", sep, t,
				    (int)(w[c] - tw), "");
			sep = "  ";
		}
		fputc('\n', out);
	}
	if (n == 0)
		fprintf(out, "(no sessions)\n");
	return 0;
}

/* ---- CSV ---- */

/* RFC 4180 quoting; a text value that a spreadsheet would run as a
 * formula gets a leading apostrophe (values come from clients). */
static void
csv_text(FILE *out, const char *s)
{
	bool quote = strpbrk(s, ",\"\r\n") != NULL;

	if (quote)
		fputc('"', out);
	if (*s == '=' || *s == '+' || *s == '-' || *s == '@' || *s == '\t' ||
	    *s == '\r')
		fputc('\'', out);
	for (; *s != '\0'; s++) {
		if (*s == '"')
			fputc('"', out);
		fputc(*s, out);
	}
	if (quote)
		fputc('"', out);
}

static int
write_csv(FILE *out, const struct inventory *inv)
{
	const struct inv_record *const *recs;
	size_t n = inventory_records(inv, &recs);
	enum inv_by by = inventory_options(inv)->by;
	const char *rel = related_name(by), *rel2 = related2_name(by);
	char buf[1024];

	fprintf(out,
	    "would_break,%s%s,protocols,ports,sessions,logins_ok,"
	    "logins_failed,cleartext_logins,cleartext_failed,"
	    "implicit_tls_logins,starttls_logins,pop3_dele_sessions,"
	    "pop3_leave_sessions,first_seen,last_seen",
	    key_name(by), by_pair(by) ? ",user" : "");
	if (rel != NULL)
		fprintf(out, ",%s,%s_sample", rel, rel);
	if (rel2 != NULL)
		fprintf(out, ",%s,%s_sample", rel2, rel2);
	/* Columns added later come last: scripts take columns by position. */
	fprintf(out, ",servers,mechanisms,cleartext_password_logins,"
		     "would_break_securelogin,"
		     "would_break_plaintextauthentication\r\n");
	for (size_t i = 0; i < n; i++) {
		const struct inv_record *r = recs[i];
		char a[32], b[32];

		fprintf(out, "%s,", would_break(inv, r) ? "yes" : "no");
		csv_text(out, r->key);
		if (by_pair(by)) {
			fputc(',', out);
			csv_text(out, r->key2);
		}
		ports_text(r, buf, sizeof(buf), ';');
		inv_format_time(r->first_ms, a, sizeof(a));
		inv_format_time(r->last_ms, b, sizeof(b));
		fprintf(out,
		    ",%s,%s,%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64
		    ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64
		    ",%s,%s",
		    inv_protocols_name(r->protocols), buf, r->sessions,
		    r->logins_ok, r->logins_failed, r->cleartext_ok,
		    r->cleartext_failed, r->implicit_ok, r->starttls_ok,
		    r->pop3_dele_sessions, r->pop3_leave_sessions, a, b);
		if (rel != NULL) {
			related_text(r, buf, sizeof(buf), ";");
			fprintf(out, ",%" PRIu64 ",", r->nrelated);
			csv_text(out, buf);
		}
		if (rel2 != NULL) {
			related2_text(r, buf, sizeof(buf), ";");
			fprintf(out, ",%" PRIu64 ",", r->nrelated2);
			csv_text(out, buf);
		}
		fputc(',', out);
		servers_text(inv, r, buf, sizeof(buf), ";");
		csv_text(out, buf);
		inv_mechanisms_text(r->mechanisms, buf, sizeof(buf), '+');
		fprintf(out, ",%s,%" PRIu64 ",%s,%s\r\n", buf,
		    r->cleartext_password_ok,
		    inv_would_break(r, INV_LOGIN_SECURE) ? "yes" : "no",
		    inv_would_break(r, INV_LOGIN_PLAINTEXT_AUTH) ? "yes" :
								   "no");
	}
	return 0;
}

/* ---- JSON ---- */

/* Length of the valid UTF-8 sequence at s, or 0. */
static size_t
utf8_len(const unsigned char *s)
{
	size_t n, i;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0)
		n = 2, cp = s[0] & 0x1f;
	else if ((s[0] & 0xf0) == 0xe0)
		n = 3, cp = s[0] & 0x0f;
	else if ((s[0] & 0xf8) == 0xf0)
		n = 4, cp = s[0] & 0x07;
	else
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) ||
	    (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/* A JSON string; bytes that are not UTF-8 become U+FFFD. */
static void
json_str(FILE *out, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	fputc('"', out);
	if (p == NULL)
		p = (const unsigned char *)"";
	while (*p != '\0') {
		const unsigned char *q = p;
		size_t n;

		/* Plain printable ASCII, most of a report, goes in runs. */
		while (*q >= 0x20 && *q < 0x7f && *q != '"' && *q != '\\')
			q++;
		if (q > p) {
			fwrite(p, 1, (size_t)(q - p), out);
			p = q;
			continue;
		}
		if (*p == '"' || *p == '\\') {
			fputc('\\', out);
			fputc(*p++, out);
		} else if (*p < 0x20 || *p == 0x7f) {
			fprintf(out, "\\u%04x", *p++);
		} else if ((n = utf8_len(p)) == 0) {
			fputs("\\ufffd", out);
			p++;
		} else {
			fwrite(p, 1, n, out);
			p += n;
		}
	}
	fputc('"', out);
}

static void
json_time(FILE *out, int64_t ms)
{
	char b[32];

	if (ms == INT64_MAX || ms == INT64_MIN) {
		fputs("null", out);
		return;
	}
	inv_format_time(ms, b, sizeof(b));
	json_str(out, b);
}

static const char *
by_name(enum inv_by by)
{
	switch (by) {
	case INV_BY_CLIENT:
		return "client";
	case INV_BY_USER:
		return "user";
	case INV_BY_CLIENT_USER:
		return "client,user";
	case INV_BY_SOFTWARE:
		return "software";
	case INV_BY_BACKEND:
		return "backend";
	case INV_BY_BACKEND_USER:
		return "backend,user";
	case INV_BY_MECHANISM:
		return "mechanism";
	}
	return "?";
}

static void
json_protocols(FILE *out, unsigned p)
{
	fprintf(out, "[%s%s%s]", p & INV_POP3 ? "\"pop3\"" : "",
	    (p & INV_POP3) && (p & INV_IMAP4) ? "," : "",
	    p & INV_IMAP4 ? "\"imap4\"" : "");
}

static int
write_json(FILE *out, const struct inventory *inv,
    const struct invreport_options *o)
{
	const struct inv_options *io = inventory_options(inv);
	const struct inv_summary *s = inventory_summary(inv);
	const struct inv_record *const *recs;
	const struct inv_day *days;
	const struct inv_file_info *files;
	const struct inv_bad_row *bad;
	size_t n = inventory_records(inv, &recs),
	       nd = inventory_days(inv, &days);
	size_t nf = inventory_files(inv, &files),
	       nb = inventory_bad_rows(inv, &bad);
	const char *rel = related_name(io->by), *rel2 = related2_name(io->by);
	static const char *const pn[INV_NPROTO] = {"pop3", "imap4"};

	fprintf(out,
	    "{\n\"schema\": %d,\n\"program\": \"postern-inventory\",\n",
	    INVREPORT_JSON_SCHEMA);
	fputs("\"version\": ", out);
	json_str(out, o->version);
	fputs(",\n\"generated\": ", out);
	json_time(out, o->now_ms);
	fprintf(out,
	    ",\n\"by\": \"%s\",\n\"login_type\": \"%s\",\n"
	    "\"filter\": {\"since\": ",
	    by_name(io->by), inv_login_type_name(io->login_type));
	json_time(out, io->since_ms);
	fputs(", \"until\": ", out);
	json_time(out, io->until_ms);
	fputs(", \"protocols\": ", out);
	json_protocols(out, io->protocols);
	fputs(", \"exclude_users\": [", out);
	for (size_t i = 0; i < io->nexclude_users; i++) {
		fputs(i ? "," : "", out);
		json_str(out, io->exclude_users[i]);
	}
	fputs("]},\n\"summary\": {", out);
	fprintf(out,
	    "\"files\": %" PRIu64 ", \"files_skipped\": %" PRIu64
	    ", \"files_failed\": %" PRIu64 ", \"bytes\": %" PRIu64
	    ", \"rows\": %" PRIu64 ", \"rows_malformed\": %" PRIu64
	    ", \"rows_repeated\": %" PRIu64
	    ", \"rows_outside_time_range\": %" PRIu64 ", \"sessions\": %" PRIu64
	    ", \"sessions_excluded\": %" PRIu64,
	    s->files, s->files_skipped, s->files_failed, s->bytes, s->rows,
	    s->rows_bad, s->rows_repeated, s->rows_filtered, s->sessions,
	    s->sessions_excluded);
	if (by_backend(io->by))
		fprintf(out, ", \"sessions_without_backend\": %" PRIu64,
		    s->sessions_no_backend);
	fputs(", \"first_seen\": ", out);
	json_time(out, s->first_ms);
	fputs(", \"last_seen\": ", out);
	json_time(out, s->last_ms);
	fprintf(out,
	    ", \"clients\": %" PRIu64 ", \"clients_would_break\": %" PRIu64
	    ", \"users\": %" PRIu64 ", \"users_would_break\": %" PRIu64
	    ", \"records\": %" PRIu64 ", \"records_would_break\": %" PRIu64
	    ", \"protocols\": {",
	    s->clients, s->clients_would_break, s->users, s->users_would_break,
	    s->records, s->records_would_break);
	for (int p = 0; p < INV_NPROTO; p++)
		fprintf(out,
		    "%s\"%s\": {\"sessions\": %" PRIu64
		    ", \"clients\": %" PRIu64 ", \"users\": %" PRIu64
		    ", \"logins_ok\": %" PRIu64 ", \"logins_failed\": %" PRIu64
		    ", \"cleartext_logins\": %" PRIu64 "}",
		    p ? ", " : "", pn[p], s->proto[p].sessions,
		    s->proto[p].clients, s->proto[p].users,
		    s->proto[p].logins_ok, s->proto[p].logins_failed,
		    s->proto[p].cleartext_ok);
	fputs("}},\n\"records\": [", out);
	for (size_t i = 0; i < n; i++) {
		const struct inv_record *r = recs[i];
		bool first = true;

		fprintf(out, "%s\n{\"would_break\": %s, \"%s\": ", i ? "," : "",
		    would_break(inv, r) ? "true" : "false", key_name(io->by));
		json_str(out, r->key);
		if (by_pair(io->by)) {
			fputs(", \"user\": ", out);
			json_str(out, r->key2);
		}
		fputs(", \"protocols\": ", out);
		json_protocols(out, r->protocols);
		fputs(", \"ports\": [", out);
		for (unsigned k = 0; k < r->nports; k++)
			fprintf(out, "%s%u", k ? "," : "", r->ports[k]);
		fprintf(out,
		    "], \"sessions\": %" PRIu64 ", \"logins_ok\": %" PRIu64
		    ", \"logins_failed\": %" PRIu64
		    ", \"cleartext_logins\": %" PRIu64
		    ", \"cleartext_failed\": %" PRIu64
		    ", \"implicit_tls_logins\": %" PRIu64
		    ", \"starttls_logins\": %" PRIu64
		    ", \"pop3_dele_sessions\": %" PRIu64
		    ", \"pop3_leave_sessions\": %" PRIu64 ", \"first_seen\": ",
		    r->sessions, r->logins_ok, r->logins_failed,
		    r->cleartext_ok, r->cleartext_failed, r->implicit_ok,
		    r->starttls_ok, r->pop3_dele_sessions,
		    r->pop3_leave_sessions);
		json_time(out, r->first_ms);
		fputs(", \"last_seen\": ", out);
		json_time(out, r->last_ms);
		if (rel != NULL) {
			fprintf(out, ", \"%s\": %" PRIu64 ", \"%s_sample\": [",
			    rel, r->nrelated, rel);
			for (int k = 0; k < INV_SAMPLES && r->related[k]; k++) {
				if (k)
					fputc(',', out);
				json_str(out, r->related[k]);
			}
			fputc(']', out);
		}
		if (rel2 != NULL) {
			fprintf(out, ", \"%s\": %" PRIu64 ", \"%s_sample\": [",
			    rel2, r->nrelated2, rel2);
			for (int k = 0; k < INV_SAMPLES && r->related2[k];
			     k++) {
				if (k)
					fputc(',', out);
				json_str(out, r->related2[k]);
			}
			fputc(']', out);
		}
		fputs(", \"servers\": [", out);
		for (size_t k = 0; k < io->nservers; k++)
			if (r->servers[k / 64] >> (k % 64) & 1) {
				if (!first)
					fputc(',', out);
				json_str(out, io->servers[k]);
				first = false;
			}
		fputs("], \"mechanisms\": [", out);
		first = true;
		for (int m = EXLOG_MECH_NONE + 1; m < EXLOG_MECH_COUNT; m++)
			if (r->mechanisms >> m & 1) {
				fprintf(out, "%s\"%s\"", first ? "" : ",",
				    exlog_mech_name((enum exlog_mech)m));
				first = false;
			}
		fprintf(out,
		    "], \"cleartext_password_logins\": %" PRIu64
		    ", \"would_break_under\": {",
		    r->cleartext_password_ok);
		for (int t = 0; t < INV_LOGIN_TYPES; t++)
			fprintf(out, "%s\"%s\": %s", t ? ", " : "",
			    inv_login_type_name((enum inv_login_type)t),
			    inv_would_break(r, (enum inv_login_type)t) ?
				"true" :
				"false");
		fputs("}}", out);
	}
	fputs("\n],\n\"days\": [", out);
	for (size_t i = 0; i < nd; i++) {
		char d[16];

		inv_format_day(days[i].day, d, sizeof(d));
		fprintf(out,
		    "%s\n{\"date\": \"%s\", \"pop3\": %" PRIu64
		    ", \"imap4\": %" PRIu64 "}",
		    i ? "," : "", d, days[i].sessions[INV_PROTO_POP3],
		    days[i].sessions[INV_PROTO_IMAP4]);
	}
	fputs("\n],\n\"files\": [", out);
	for (size_t i = 0; i < nf; i++) {
		fprintf(out, "%s\n{\"path\": ", i ? "," : "");
		json_str(out, files[i].path);
		fputs(", \"server\": ", out);
		json_str(out, files[i].server < io->nservers ?
				  io->servers[files[i].server] :
				  "");
		fprintf(out,
		    ", \"rows\": %" PRIu64 ", \"rows_malformed\": %" PRIu64
		    ", \"rows_repeated\": %" PRIu64
		    ", \"skipped\": %s, \"failed\": %s}",
		    files[i].rows, files[i].bad, files[i].repeated,
		    files[i].skipped ? "true" : "false",
		    files[i].failed ? "true" : "false");
	}
	fputs("\n],\n\"malformed_rows\": [", out);
	for (size_t i = 0; i < nb; i++) {
		fprintf(out, "%s\n{\"file\": ", i ? "," : "");
		json_str(out, files[bad[i].file].path);
		fprintf(out, ", \"line\": %" PRIu64 ", \"reason\": \"%s\"}",
		    bad[i].line, exlog_bad_name(bad[i].why));
	}
	fputs("\n]\n}\n", out);
	return 0;
}

/* ---- HTML ---- */

static void
html_text(FILE *out, const char *s)
{
	const unsigned char *p = (const unsigned char *)(s != NULL ? s : "");

	while (*p != '\0') {
		size_t n;

		switch (*p) {
		case '<':
			fputs("&lt;", out);
			break;
		case '>':
			fputs("&gt;", out);
			break;
		case '&':
			fputs("&amp;", out);
			break;
		case '"':
			fputs("&quot;", out);
			break;
		case '\'':
			fputs("&#39;", out);
			break;
		default:
			if (*p < 0x20 || *p == 0x7f) {
				fputs("&#xfffd;", out);
				break;
			}
			if ((n = utf8_len(p)) == 0) {
				fputs("&#xfffd;", out);
				break;
			}
			fwrite(p, 1, n, out);
			p += n;
			continue;
		}
		p++;
	}
}

static const char html_style[] =
    "body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}"
    "h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.5em}"
    "table{border-collapse:collapse;font-size:.9em}"
    "th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left}"
    "td.n{text-align:right}th{background:#eee}"
    "table.sortable th{cursor:pointer}"
    "tr.wb td{background:#fde2e1}"
    ".badge{background:#c62828;color:#fff;border-radius:3px;padding:0 .3em;"
    "font-size:.8em}"
    ".meta{color:#555}svg text{font-size:11px;fill:#333}"
    /* A wide table scrolls inside its box; the page never does. */
    ".scroll{overflow-x:auto;max-width:100%}"
    "svg{max-width:100%;height:auto}";

/* Click a header to sort by it; again to reverse.  Cells carry data-v
 * for a sort value when their text is not it. */
static const char html_script[] =
    "(function(){\n"
    "var t=document.getElementById('inventory');if(!t)return;\n"
    "var hs=t.tHead.rows[0].cells;\n"
    "for(var i=0;i<hs.length;i++)(function(c){var asc=false;\n"
    "hs[c].addEventListener('click',function(){asc=!asc;\n"
    "var b=t.tBodies[0],rs=Array.prototype.slice.call(b.rows);\n"
    "var num=hs[c].getAttribute('data-num')==='1';\n"
    "rs.sort(function(x,y){\n"
    "var a=x.cells[c].getAttribute('data-v')||x.cells[c].textContent;\n"
    "var d=y.cells[c].getAttribute('data-v')||y.cells[c].textContent;\n"
    "var r=num?(parseFloat(a)-parseFloat(d)):a.localeCompare(d);\n"
    "return asc?r:-r;});\n"
    "rs.forEach(function(r){b.appendChild(r);});});})(i);\n"
    "t.setAttribute('data-sortable','ready');\n"
    "})();\n";

/*
 * The step between grid lines: the smallest of 1, 2 and 5 times a power
 * of ten that covers max in at most five steps, so that every line stands
 * at a round, whole number of sessions.
 */
static uint64_t
axis_step(uint64_t max)
{
	static const unsigned mult[] = {1, 2, 5};
	uint64_t mag = 1, step;

	for (;;) {
		for (size_t i = 0; i < sizeof(mult) / sizeof(mult[0]); i++) {
			step = mult[i] * mag;
			if (max / step + (max % step != 0) <= 5)
				return step;
		}
		if (mag > UINT64_MAX / 100)
			return step;
		mag *= 10;
	}
}

static void
html_chart(FILE *out, const struct inventory *inv)
{
	const struct inv_day *days;
	size_t nd = inventory_days(inv, &days), i;
	uint64_t max = 1, step, top;
	const int W = 860, H = 260, L = 50, B = 40, T = 20, R = 10;
	double slot, bw;
	static const char *const color[INV_NPROTO] = {"#1f77b4", "#ff7f0e"};
	static const char *const pn[INV_NPROTO] = {"POP3", "IMAP4"};

	if (nd == 0) {
		fputs("<p>No sessions.</p>\n", out);
		return;
	}
	for (i = 0; i < nd; i++)
		for (int p = 0; p < INV_NPROTO; p++)
			if (days[i].sessions[p] > max)
				max = days[i].sessions[p];
	step = axis_step(max);
	top = (max / step + (max % step != 0)) * step;
	slot = (double)(W - L - R) / (double)nd;
	bw = slot * 0.4;
	fprintf(out,
	    "<svg id=\"chart\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
	    "role=\"img\" aria-label=\"Sessions per day per protocol\">\n",
	    W, H, W, H);
	/* The axis goes up to the grid line at or above the highest bar. */
	for (uint64_t v = 0; v <= top; v += step) {
		double y =
		    T + (double)(H - T - B) * (1.0 - (double)v / (double)top);

		fprintf(out,
		    "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" "
		    "stroke=\"#ddd\"/><text x=\"%d\" y=\"%.1f\" "
		    "text-anchor=\"end\">%" PRIu64 "</text>\n",
		    L, y, W - R, y, L - 4, y + 4, v);
	}
	for (i = 0; i < nd; i++) {
		char d[16];
		double x = L + slot * (double)i + slot * 0.1;

		inv_format_day(days[i].day, d, sizeof(d));
		for (int p = 0; p < INV_NPROTO; p++) {
			double h = (double)(H - T - B) *
				   (double)days[i].sessions[p] / (double)top;

			fprintf(out,
			    "<rect class=\"%s\" x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" "
			    "height=\"%.2f\" fill=\"%s\"><title>%s %s: %" PRIu64
			    " sessions</title></rect>\n",
			    p ? "imap4" : "pop3", x + bw * p, H - B - h, bw, h,
			    color[p], d, pn[p], days[i].sessions[p]);
		}
		/* About ten date labels, whatever the number of days. */
		if (i % ((nd + 9) / 10) == 0)
			fprintf(out,
			    "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>\n",
			    x + bw, H - B + 15, d);
	}
	for (int p = 0; p < INV_NPROTO; p++)
		fprintf(out,
		    "<rect x=\"%d\" y=\"%d\" width=\"10\" height=\"10\" fill=\"%s\"/>"
		    "<text x=\"%d\" y=\"%d\">%s</text>\n",
		    L + 10 + p * 80, H - 12, color[p], L + 24 + p * 80, H - 3,
		    pn[p]);
	fputs("</svg>\n", out);
}

static void
html_row(FILE *out, const struct inventory *inv, const struct inv_record *r,
    enum inv_by by)
{
	char buf[1024], a[32], b[32];

	fprintf(out, "<tr%s><td>%s</td><td>",
	    would_break(inv, r) ? " class=\"wb\"" : "",
	    would_break(inv, r) ? "<span class=\"badge\">would break</span>" :
				  "");
	html_text(out, shown(r->key));
	fputs("</td>", out);
	if (by_pair(by)) {
		fputs("<td>", out);
		html_text(out, shown(r->key2));
		fputs("</td>", out);
	}
	inv_mechanisms_text(r->mechanisms, buf, sizeof(buf), ' ');
	fprintf(out, "<td>%s</td><td>%s</td>", inv_protocols_name(r->protocols),
	    buf);
	ports_text(r, buf, sizeof(buf), ',');
	inv_format_time(r->first_ms, a, sizeof(a));
	inv_format_time(r->last_ms, b, sizeof(b));
	fprintf(out,
	    "<td>%s</td><td class=\"n\">%" PRIu64
	    "</td><td class=\"n\">%" PRIu64 "</td><td class=\"n\">%" PRIu64
	    "</td><td class=\"n\">%" PRIu64 "</td><td class=\"n\">%" PRIu64
	    "</td><td class=\"n\">%" PRIu64 "</td>",
	    buf, r->sessions, r->logins_ok, r->logins_failed, r->cleartext_ok,
	    r->implicit_ok, r->starttls_ok);
	pop3_text(r, buf, sizeof(buf));
	fprintf(out, "<td>%s</td><td>%s</td><td>%s</td>", buf, a, b);
	if (related_name(by) != NULL) {
		related_text(r, buf, sizeof(buf), ", ");
		fprintf(out, "<td data-v=\"%" PRIu64 "\">%" PRIu64 " ",
		    r->nrelated, r->nrelated);
		html_text(out, buf);
		fputs("</td>", out);
	}
	if (related2_name(by) != NULL) {
		related2_text(r, buf, sizeof(buf), ", ");
		fprintf(out, "<td data-v=\"%" PRIu64 "\">%" PRIu64 " ",
		    r->nrelated2, r->nrelated2);
		html_text(out, buf);
		fputs("</td>", out);
	}
	servers_text(inv, r, buf, sizeof(buf), ", ");
	fputs("<td>", out);
	html_text(out, buf);
	fputs("</td></tr>\n", out);
}

static void
html_head_row(FILE *out, enum inv_by by)
{
	const char *rel = related_name(by);

	fputs("<tr><th>!</th><th>", out);
	fputs(by == INV_BY_USER      ? "User" :
	      by == INV_BY_SOFTWARE  ? "Software" :
	      by_backend(by)         ? "Backend" :
	      by == INV_BY_MECHANISM ? "Mechanism" :
				       "Client",
	    out);
	fputs("</th>", out);
	if (by_pair(by))
		fputs("<th>User</th>", out);
	fputs(
	    "<th>Protocols</th><th>Mechanisms</th><th>Ports</th><th data-num=\"1\">Sessions</th>"
	    "<th data-num=\"1\">Logins ok</th><th data-num=\"1\">Failed</th>"
	    "<th data-num=\"1\">Without TLS</th>"
	    "<th data-num=\"1\">Implicit TLS</th><th data-num=\"1\">STARTTLS</th>"
	    "<th>POP3 mail</th><th>First seen</th><th>Last seen</th>",
	    out);
	if (rel != NULL)
		fprintf(out, "<th data-num=\"1\">%s</th>",
		    strcmp(rel, "users") == 0 ? "Users" : "Clients");
	if (related2_name(by) != NULL)
		fputs("<th data-num=\"1\">Clients</th>", out);
	fputs("<th>Servers</th></tr>\n", out);
}

static int
write_html(FILE *out, const struct inventory *inv,
    const struct invreport_options *o)
{
	const struct inv_options *io = inventory_options(inv);
	const struct inv_summary *s = inventory_summary(inv);
	const struct inv_record *const *recs;
	size_t n = inventory_records(inv, &recs);
	char a[32], b[32];
	static const char *const pn[INV_NPROTO] = {"POP3", "IMAP4"};

	fprintf(out,
	    "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n"
	    "<meta charset=\"utf-8\">\n"
	    "<title>POP3 and IMAP4 inventory</title>\n<style>%s</style>\n"
	    "</head>\n<body>\n<h1>POP3 and IMAP4 inventory</h1>\n",
	    html_style);
	inv_format_time(o->now_ms, a, sizeof(a));
	fprintf(out, "<p class=\"meta\">Generated %s by postern-inventory ", a);
	html_text(out, o->version);
	fprintf(out, ", by %s.</p>\n", by_name(io->by));
	fputs("<section id=\"summary\">\n<h2>Summary</h2>\n"
	      "<div class=\"scroll\">\n<table>\n",
	    out);
	inv_format_time(s->first_ms, a, sizeof(a));
	inv_format_time(s->last_ms, b, sizeof(b));
	fprintf(out,
	    "<tr><th>Time span</th><td colspan=\"6\">%s .. %s</td></tr>\n"
	    "<tr><th>Input</th><td colspan=\"6\">%" PRIu64
	    " files read, %" PRIu64 " skipped by date, %" PRIu64
	    " unreadable; %" PRIu64 " rows read, %" PRIu64
	    " malformed, %" PRIu64 " repeated, %" PRIu64
	    " outside the time range</td></tr>\n"
	    "<tr><th>Would break under %s</th><td colspan=\"6\">"
	    "<strong>%" PRIu64 "</strong> of %" PRIu64 " clients, %" PRIu64
	    " of %" PRIu64 " users</td></tr>\n"
	    "<tr><th>Protocol</th><th>Sessions</th><th>Clients</th><th>Users</th>"
	    "<th>Logins ok</th><th>Failed</th><th>Without TLS</th></tr>\n",
	    a, b, s->files, s->files_skipped, s->files_failed, s->rows,
	    s->rows_bad, s->rows_repeated, s->rows_filtered,
	    inv_login_type_name(io->login_type), s->clients_would_break,
	    s->clients, s->users_would_break, s->users);
	if (io->nexclude_users > 0) {
		fputs("<tr><th>Excluded users</th><td colspan=\"6\">", out);
		for (size_t i = 0; i < io->nexclude_users; i++) {
			fputs(i ? ", " : "", out);
			html_text(out, io->exclude_users[i]);
		}
		fprintf(out, ": %" PRIu64 " sessions left out</td></tr>\n",
		    s->sessions_excluded);
	}
	if (by_backend(io->by))
		fprintf(out,
		    "<tr><th>Without a backend</th><td colspan=\"6\">%" PRIu64
		    " sessions (no login, or refused before one), not "
		    "listed</td></tr>\n",
		    s->sessions_no_backend);
	for (int p = 0; p < INV_NPROTO; p++)
		fprintf(out,
		    "<tr><th>%s</th><td class=\"n\">%" PRIu64
		    "</td><td class=\"n\">%" PRIu64
		    "</td><td class=\"n\">%" PRIu64
		    "</td><td class=\"n\">%" PRIu64
		    "</td><td class=\"n\">%" PRIu64
		    "</td><td class=\"n\">%" PRIu64 "</td></tr>\n",
		    pn[p], s->proto[p].sessions, s->proto[p].clients,
		    s->proto[p].users, s->proto[p].logins_ok,
		    s->proto[p].logins_failed, s->proto[p].cleartext_ok);
	fputs("</table>\n</div>\n</section>\n", out);

	fprintf(out,
	    "<section id=\"would-break\">\n<h2>Would break under %s "
	    "(%" PRIu64 ")</h2>\n<p>%s</p>\n",
	    inv_login_type_name(io->login_type), s->records_would_break,
	    io->login_type == INV_LOGIN_SECURE ?
		"These logged in successfully without TLS: a server that "
		"refuses cleartext login without TLS refuses them." :
	    io->login_type == INV_LOGIN_PLAINTEXT_AUTH ?
		"These logged in successfully without TLS with a password "
		"or a bearer token: a server that allows only NTLM and "
		"GSSAPI without TLS refuses them." :
		"A server that allows every login without TLS refuses none.");
	if (s->records_would_break == 0)
		fputs("<p>None.</p>\n", out);
	else {
		fputs("<div class=\"scroll\">\n<table>\n<thead>", out);
		html_head_row(out, io->by);
		fputs("</thead>\n<tbody>\n", out);
		for (size_t i = 0; i < n && would_break(inv, recs[i]); i++)
			html_row(out, inv, recs[i], io->by);
		fputs("</tbody>\n</table>\n</div>\n", out);
	}
	fputs("</section>\n<section id=\"sessions-per-day\">\n"
	      "<h2>Sessions per day</h2>\n",
	    out);
	html_chart(out, inv);
	fputs(
	    "</section>\n<section id=\"all\">\n<h2>All (click a column to sort)"
	    "</h2>\n<div class=\"scroll\">\n"
	    "<table id=\"inventory\" class=\"sortable\">\n<thead>",
	    out);
	html_head_row(out, io->by);
	fputs("</thead>\n<tbody>\n", out);
	for (size_t i = 0; i < n; i++)
		html_row(out, inv, recs[i], io->by);
	fprintf(out,
	    "</tbody>\n</table>\n</div>\n</section>\n"
	    "<script>\n%s</script>\n"
	    "</body>\n</html>\n",
	    html_script);
	return 0;
}

int
invreport_write(FILE *out, const struct inventory *inv,
    const struct invreport_options *o)
{
	int rc = -1;

	switch (o->format) {
	case INVREPORT_TABLE:
		rc = write_table(out, inv, o);
		break;
	case INVREPORT_CSV:
		rc = write_csv(out, inv);
		break;
	case INVREPORT_JSON:
		rc = write_json(out, inv, o);
		break;
	case INVREPORT_HTML:
		rc = write_html(out, inv, o);
		break;
	}
	if (fflush(out) != 0 || ferror(out))
		return -1;
	return rc;
}
