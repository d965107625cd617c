#include "config.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inventory.h"
#include "inventory_fixture.h"
#include "inventory_testutil.h"
#include "invreport.h"

static const char *const servers[] = {"ex1", "ex2"};

static struct inventory *
fixture(enum inv_by by, const char *extra_imap)
{
	struct inv_options o = {.since_ms = INT64_MIN,
	    .until_ms = INT64_MAX,
	    .protocols = INV_POP3 | INV_IMAP4,
	    .by = by,
	    .servers = servers,
	    .nservers = 2};
	struct inventory *inv = inventory_new(&o);

	cr_assert_not_null(inv);
	inv_add_text(inv, "ex1/" FX_POP3_NAME, 0, EXLOG_PROTO_POP3, fx_pop3);
	inv_add_text(inv, "ex2/" FX_IMAP_NAME, 1, EXLOG_PROTO_IMAP4, fx_imap);
	if (extra_imap != NULL)
		inv_add_text(inv, "ex2/IMAP420260303-1.LOG", 1,
		    EXLOG_PROTO_IMAP4, extra_imap);
	cr_assert_eq(inventory_finish(inv), 0);
	return inv;
}

static char *
report(const struct inventory *inv, enum invreport_format f, unsigned width)
{
	struct invreport_options ro = {.format = f,
	    .width = width,
	    .now_ms = 1772539200000LL,
	    .version = "0.1.0"};
	char *buf = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&buf, &len);

	cr_assert_not_null(fp);
	cr_assert_eq(invreport_write(fp, inv, &ro), 0);
	fclose(fp);
	return buf;
}

Test(invreport, csv_exact_rows_by_client)
{
	struct inventory *inv = fixture(INV_BY_CLIENT, NULL);
	char *csv = report(inv, INVREPORT_CSV, 0);

	cr_assert_str_eq(csv,
	    "would_break,client,protocols,ports,sessions,logins_ok,logins_failed,"
	    "cleartext_logins,cleartext_failed,implicit_tls_logins,"
	    "starttls_logins,pop3_dele_sessions,pop3_leave_sessions,first_seen,"
	    "last_seen,users,users_sample,servers,mechanisms,"
	    "cleartext_password_logins,would_break_securelogin,"
	    "would_break_plaintextauthentication\r\n"
	    "yes,192.0.2.10,pop3+imap4,110;143;995,3,3,0,2,0,1,0,1,1,"
	    "2026-03-01T10:00:00Z,2026-03-02T12:00:00Z,1,alice,ex1;ex2,"
	    "USER+LOGIN,2,yes,yes\r\n"
	    "yes,198.51.100.7,imap4,143;993,2,2,0,1,0,1,0,0,0,"
	    "2026-03-02T08:00:00Z,2026-03-02T09:00:00Z,1,carol,ex2,"
	    "LOGIN,1,yes,yes\r\n"
	    "no,192.0.2.20,pop3,110,1,1,0,0,0,0,1,0,1,"
	    "2026-03-01T11:00:00Z,2026-03-01T11:00:00Z,1,bob,ex1,"
	    "USER,0,no,no\r\n"
	    "no,192.0.2.30,pop3,110,1,0,1,0,1,0,0,0,0,"
	    "2026-03-01T12:00:00Z,2026-03-01T12:00:01Z,1,mallory,ex1,"
	    "USER,0,no,no\r\n"
	    "no,198.51.100.8,imap4,10993,1,1,0,0,0,1,0,0,0,"
	    "2026-03-02T10:00:00Z,2026-03-02T10:00:00Z,1,dave,ex2,"
	    "LOGIN,0,no,no\r\n"
	    "no,2001:db8::5,imap4,143,1,1,0,0,0,0,1,0,0,"
	    "2026-03-02T11:00:00Z,2026-03-02T11:00:00Z,1,erin,ex2,"
	    "PLAIN,0,no,no\r\n");
	free(csv);
	inventory_free(inv);
}

/* A user name chosen by an attacker, in a row of its own session. */
static const char evil[] =
    "2026-03-03T08:00:00.000Z,0000000000000001,0,10.0.0.1:143,203.0.113.9:1,,1,0,60,OpenSession,,,\r\n"
    "2026-03-03T08:00:00.100Z,0000000000000001,1,10.0.0.1:143,203.0.113.9:1,\"=HYPERLINK(\"\"x\"\"),<script>alert(1)</script>\",9,30,40,login,x *****,R=ok,\r\n"
    "2026-03-03T08:00:00.200Z,0000000000000002,0,10.0.0.1:143,203.0.113.9:2,,1,0,60,OpenSession,,,\r\n"
    "2026-03-03T08:00:00.300Z,0000000000000002,1,10.0.0.1:143,203.0.113.9:2,ctl\x01\x1b[2J\xff,9,30,40,login,x *****,R=no,\r\n";

Test(invreport, csv_by_user_quotes_and_defuses_formulas)
{
	struct inventory *inv = fixture(INV_BY_USER, evil);
	char *csv = report(inv, INVREPORT_CSV, 0);

	cr_assert_eq(strncmp(csv, "would_break,user,protocols,", 27), 0);
	cr_assert_not_null(
	    strstr(csv, ",clients,clients_sample,servers,"
			"mechanisms,cleartext_password_logins,"
			"would_break_securelogin,"
			"would_break_plaintextauthentication\r\n"));
	cr_assert_not_null(
	    strstr(csv,
		"yes,\"'=HYPERLINK(\"\"x\"\"),<script>alert(1)</script>\",imap4,143,1,1,0,1,"),
	    "%s", csv);
	free(csv);
	inventory_free(inv);
	inv = fixture(INV_BY_CLIENT_USER, NULL);
	csv = report(inv, INVREPORT_CSV, 0);
	cr_assert_eq(strncmp(csv, "would_break,client,user,protocols,", 34), 0);
	cr_assert_not_null(strstr(csv, "\r\nyes,192.0.2.10,alice,pop3+imap4,"));
	cr_assert_null(strstr(csv, "_sample"));
	free(csv);
	inventory_free(inv);
}

Test(invreport, json_keys_and_escaping)
{
	struct inventory *inv = fixture(INV_BY_USER, evil);
	char *js = report(inv, INVREPORT_JSON, 0);
	static const char *keys[] = {"\"schema\": 1",
	    "\"program\": \"postern-inventory\"", "\"version\": \"0.1.0\"",
	    "\"generated\": \"2026-03-03T12:00:00Z\"", "\"by\": \"user\"",
	    "\"filter\": {\"since\": null, \"until\": null, "
	    "\"protocols\": [\"pop3\",\"imap4\"], \"exclude_users\": []}",
	    "\"sessions_excluded\": 0", "\"summary\": {\"files\": 3, ",
	    "\"rows_malformed\": 0", "\"rows_repeated\": 0",
	    "\"clients_would_break\": 3",
	    "\"pop3\": {\"sessions\": 4, \"clients\": 3, \"users\": 3, "
	    "\"logins_ok\": 3, \"logins_failed\": 1, \"cleartext_logins\": 1}",
	    "\"records\": [", "\"days\": [", "\"files\": [",
	    "\"malformed_rows\": [",
	    "{\"would_break\": true, \"user\": \"alice\", \"protocols\": "
	    "[\"pop3\",\"imap4\"], \"ports\": [110,143,995], \"sessions\": 3, "
	    "\"logins_ok\": 3, \"logins_failed\": 0, \"cleartext_logins\": 2, "
	    "\"cleartext_failed\": 0, \"implicit_tls_logins\": 1, "
	    "\"starttls_logins\": 0, \"pop3_dele_sessions\": 1, "
	    "\"pop3_leave_sessions\": 1, \"first_seen\": "
	    "\"2026-03-01T10:00:00Z\", "
	    "\"last_seen\": \"2026-03-02T12:00:00Z\", \"clients\": 1, "
	    "\"clients_sample\": [\"192.0.2.10\"], \"servers\": "
	    "[\"ex1\",\"ex2\"], \"mechanisms\": [\"USER\",\"LOGIN\"], "
	    "\"cleartext_password_logins\": 2, \"would_break_under\": "
	    "{\"SecureLogin\": true, \"PlainTextAuthentication\": true, "
	    "\"PlainTextLogin\": false}}",
	    "\"login_type\": \"SecureLogin\"",
	    "{\"date\": \"2026-03-01\", \"pop3\": 4, \"imap4\": 0}",
	    "{\"path\": \"ex1/POP320260301-1.LOG\", \"server\": \"ex1\", "
	    "\"rows\": 20",
	    /* control characters and bytes that are not UTF-8 */
	    "\"user\": \"ctl\\u0001\\u001b[2J\\ufffd\"",
	    "\"user\": \"=HYPERLINK(\\\"x\\\"),<script>alert(1)</script>\""};

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		cr_assert_not_null(strstr(js, keys[i]), "missing %s in %s",
		    keys[i], js);
	for (const char *p = js; *p != '\0'; p++)
		cr_assert((unsigned char)*p >= 0x20 || *p == '\n',
		    "raw control byte");
	free(js);
	inventory_free(inv);
}

Test(invreport, html_self_contained_with_chart_and_escaped)
{
	struct inventory *inv = fixture(INV_BY_USER, evil);
	char *html = report(inv, INVREPORT_HTML, 0);
	const char *wb, *all, *p;
	int scripts = 0;

	cr_assert_eq(strncmp(html, "<!DOCTYPE html>", 15), 0);
	/* Nothing fetched from anywhere. */
	cr_assert_null(strstr(html, "http://"));
	cr_assert_null(strstr(html, "https://"));
	cr_assert_null(strstr(html, "src="));
	cr_assert_null(strstr(html, "<link"));
	cr_assert_null(strstr(html, "@import"));
	cr_assert_not_null(strstr(html, "<svg"));
	cr_assert_not_null(strstr(html, "<rect class=\"pop3\""));
	cr_assert_not_null(strstr(html, "<rect class=\"imap4\""));
	cr_assert_not_null(strstr(html, "id=\"summary\""));
	/* The would-break list comes before the full table. */
	wb = strstr(html, "id=\"would-break\"");
	all = strstr(html, "id=\"inventory\"");
	cr_assert_not_null(wb);
	cr_assert_not_null(all);
	cr_assert_lt(wb, all);
	cr_assert_not_null(strstr(wb, "would break</span></td><td>alice</td>"));
	/* Client text is escaped: the only script is the page's own. */
	for (p = html; (p = strstr(p, "<script")) != NULL; p++)
		scripts++;
	cr_assert_eq(scripts, 1);
	cr_assert_not_null(
	    strstr(html, "&lt;script&gt;alert(1)&lt;/script&gt;"));
	cr_assert_null(strstr(html, "\x1b"));
	cr_assert_not_null(strstr(html, "</html>\n"));
	free(html);
	inventory_free(inv);
}

Test(invreport, table_fits_the_width_and_marks_would_break)
{
	struct inventory *inv = fixture(INV_BY_CLIENT, evil);
	unsigned widths[] = {0, 200, 120, 80, 60};

	for (size_t w = 0; w < sizeof(widths) / sizeof(widths[0]); w++) {
		char *t = report(inv, INVREPORT_TABLE, widths[w]);
		char *line, *save = NULL;
		bool marked = false, head = false, table = false;

		for (line = strtok_r(t, "\n", &save); line != NULL;
		     line = strtok_r(NULL, "\n", &save)) {
			size_t chars = 0;

			for (const char *c = line; *c; c++)
				chars += ((unsigned char)*c & 0xc0) != 0x80;
			if (strncmp(line, "!  CLIENT", 9) == 0)
				head = table = true;
			/* The summary lines fit 80 columns; the table fits
			 * whatever it is given. */
			if (widths[w] > 0 && (table || widths[w] >= 80))
				cr_assert_leq(chars, widths[w],
				    "width %u: [%s]", widths[w], line);
			if (strncmp(line, "!  192.0.2.10 ", 14) == 0)
				marked = true;
			cr_assert_null(strchr(line, '\x1b'));
		}
		cr_assert(head, "width %u", widths[w]);
		cr_assert(marked, "width %u", widths[w]);
		free(t);
	}
	inventory_free(inv);
}

/* The routed logs of a migration (tests/inventory_fixture.h), server ex1. */
static struct inventory *
routed(enum inv_by by)
{
	struct inv_options o = {.since_ms = INT64_MIN,
	    .until_ms = INT64_MAX,
	    .protocols = INV_POP3 | INV_IMAP4,
	    .by = by,
	    .servers = servers,
	    .nservers = 2};
	struct inventory *inv = inventory_new(&o);

	cr_assert_not_null(inv);
	inv_add_text(inv, "ex1/" FX_ROUTED_IMAP_NAME, 0, EXLOG_PROTO_IMAP4,
	    fx_routed_imap);
	inv_add_text(inv, "ex1/" FX_ROUTED_POP3_NAME, 0, EXLOG_PROTO_POP3,
	    fx_routed_pop3);
	cr_assert_eq(inventory_finish(inv), 0);
	return inv;
}

Test(invreport, csv_exact_rows_by_backend)
{
	struct inventory *inv = routed(INV_BY_BACKEND);
	char *csv = report(inv, INVREPORT_CSV, 0);

	cr_assert_str_eq(csv,
	    "would_break,backend,protocols,ports,sessions,logins_ok,"
	    "logins_failed,cleartext_logins,cleartext_failed,"
	    "implicit_tls_logins,starttls_logins,pop3_dele_sessions,"
	    "pop3_leave_sessions,first_seen,last_seen,users,users_sample,"
	    "clients,clients_sample,servers,mechanisms,"
	    "cleartext_password_logins,would_break_securelogin,"
	    "would_break_plaintextauthentication\r\n"
	    "yes,new,pop3+imap4,143;995,3,3,0,2,0,1,0,0,1,"
	    "2026-03-04T08:00:00Z,2026-03-04T13:00:00Z,2,amy;ben@example.net,"
	    "2,192.0.2.40;192.0.2.45,ex1,USER+LOGIN,2,yes,yes\r\n"
	    "yes,old,pop3+imap4,110;143;993,3,3,1,1,0,1,1,1,0,"
	    "2026-03-04T08:00:00Z,2026-03-04T10:00:00Z,1,dan,"
	    "2,192.0.2.41;192.0.2.42,ex1,USER+LOGIN,1,yes,yes\r\n"
	    "yes,default,pop3,110,1,1,0,1,0,0,0,0,1,"
	    "2026-03-04T10:00:00Z,2026-03-04T10:00:00Z,1,cat,1,192.0.2.46,"
	    "ex1,USER,1,yes,yes\r\n");
	free(csv);
	inventory_free(inv);

	inv = routed(INV_BY_BACKEND_USER);
	csv = report(inv, INVREPORT_CSV, 0);
	cr_assert_eq(strncmp(csv, "would_break,backend,user,protocols,", 35), 0,
	    "%s", csv);
	cr_assert_not_null(strstr(csv,
			       ",first_seen,last_seen,clients,clients_sample,"
			       "servers,mechanisms,"),
	    "%s", csv);
	cr_assert_not_null(strstr(csv,
			       "\r\nyes,new,amy,imap4,143,2,2,0,2,0,0,0,0,0,"
			       "2026-03-04T08:00:00Z,2026-03-04T13:00:00Z,1,"
			       "192.0.2.40,ex1,LOGIN,2,yes,yes\r\n"),
	    "%s", csv);
	cr_assert_not_null(strstr(csv, "\r\nyes,old,dan,pop3+imap4,"), "%s",
	    csv);
	free(csv);
	inventory_free(inv);
}

Test(invreport, by_backend_table_json_and_html)
{
	struct inventory *inv = routed(INV_BY_BACKEND);
	char *t = report(inv, INVREPORT_TABLE, 0);
	char *js = report(inv, INVREPORT_JSON, 0);
	char *html = report(inv, INVREPORT_HTML, 0);
	const char *head;

	head = strstr(t, "\n!  BACKEND ");
	cr_assert_not_null(head, "%s", t);
	cr_assert_not_null(strstr(head, "  USERS "), "%s", t);
	cr_assert_not_null(strstr(head, "  CLIENTS "), "%s", t);
	cr_assert_not_null(strstr(t, "\n!  new "), "%s", t);
	cr_assert_not_null(strstr(t, " 2 amy,ben@example.net "), "%s", t);
	cr_assert_not_null(strstr(t, " 2 192.0.2.40,192.0.2.45 "), "%s", t);
	cr_assert_not_null(strstr(t, "Without a backend: 2 sessions"), "%s", t);

	cr_assert_not_null(strstr(js, "\"by\": \"backend\""), "%s", js);
	cr_assert_not_null(strstr(js, "\"sessions_without_backend\": 2, "
				      "\"first_seen\": "),
	    "%s", js);
	cr_assert_not_null(strstr(js,
			       "{\"would_break\": true, \"backend\": \"old\", "
			       "\"protocols\": [\"pop3\",\"imap4\"], "
			       "\"ports\": [110,143,993], \"sessions\": 3, "
			       "\"logins_ok\": 3, \"logins_failed\": 1, "
			       "\"cleartext_logins\": 1, "
			       "\"cleartext_failed\": 0, "
			       "\"implicit_tls_logins\": 1, "
			       "\"starttls_logins\": 1, "
			       "\"pop3_dele_sessions\": 1, "
			       "\"pop3_leave_sessions\": 0, "
			       "\"first_seen\": \"2026-03-04T08:00:00Z\", "
			       "\"last_seen\": \"2026-03-04T10:00:00Z\", "
			       "\"users\": 1, \"users_sample\": [\"dan\"], "
			       "\"clients\": 2, \"clients_sample\": "
			       "[\"192.0.2.41\",\"192.0.2.42\"], "
			       "\"servers\": [\"ex1\"], "
			       "\"mechanisms\": [\"USER\",\"LOGIN\"], "
			       "\"cleartext_password_logins\": 1, "
			       "\"would_break_under\": {\"SecureLogin\": true, "
			       "\"PlainTextAuthentication\": true, "
			       "\"PlainTextLogin\": false}}"),
	    "%s", js);

	cr_assert_not_null(strstr(html, "<th>!</th><th>Backend</th>"
					"<th>Protocols</th>"),
	    "%s", html);
	cr_assert_not_null(strstr(html, "<th data-num=\"1\">Users</th>"
					"<th data-num=\"1\">Clients</th>"
					"<th>Servers</th>"),
	    "%s", html);
	cr_assert_not_null(strstr(html, "<td data-v=\"2\">2 amy, "
					"ben@example.net</td>"
					"<td data-v=\"2\">2 192.0.2.40, "
					"192.0.2.45</td>"),
	    "%s", html);
	cr_assert_not_null(strstr(html, "<th>Without a backend</th>"), "%s",
	    html);
	free(t);
	free(js);
	free(html);
	inventory_free(inv);

	/* On a narrow terminal the users outlast the TLS columns. */
	inv = routed(INV_BY_BACKEND);
	for (unsigned w = 60; w <= 100; w += 20) {
		char *line, *save = NULL;
		bool table = false;

		t = report(inv, INVREPORT_TABLE, w);
		for (line = strtok_r(t, "\n", &save); line != NULL;
		     line = strtok_r(NULL, "\n", &save)) {
			if (strncmp(line, "!  BACKEND", 10) == 0) {
				table = true;
				cr_assert_eq(strstr(line, "USERS") != NULL,
				    w >= 80, "width %u: %s", w, line);
				cr_assert_null(strstr(line, "TLS/STLS"),
				    "width %u: %s", w, line);
			}
			if (table)
				cr_assert_leq(strlen(line), w, "width %u: %s",
				    w, line);
		}
		cr_assert(table, "width %u", w);
		free(t);
	}
	inventory_free(inv);

	/* The other reports say nothing of backends. */
	inv = fixture(INV_BY_CLIENT, NULL);
	js = report(inv, INVREPORT_JSON, 0);
	t = report(inv, INVREPORT_TABLE, 0);
	cr_assert_null(strstr(js, "backend"));
	cr_assert_null(strstr(t, "backend"));
	free(js);
	free(t);
	inventory_free(inv);
}

Test(invreport, format_names)
{
	enum invreport_format f;

	cr_assert_eq(invreport_parse_format("csv", &f), 0);
	cr_assert_eq(f, INVREPORT_CSV);
	cr_assert_eq(invreport_parse_format("HTML", &f), 0);
	cr_assert_eq(f, INVREPORT_HTML);
	cr_assert_eq(invreport_parse_format("xml", &f), -1);
}

/* An inventory of n IMAP4 sessions on one day and n / 3 on the next. */
static struct inventory *
sessions_inventory(unsigned n)
{
	struct inv_options o = {.since_ms = INT64_MIN,
	    .until_ms = INT64_MAX,
	    .protocols = INV_POP3 | INV_IMAP4,
	    .by = INV_BY_CLIENT,
	    .servers = servers,
	    .nservers = 1};
	struct inventory *inv = inventory_new(&o);
	char *text = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&text, &len);

	cr_assert_not_null(inv);
	cr_assert_not_null(fp);
	fputs(FX_HEADER("IMAP4"), fp);
	for (unsigned i = 0; i < n + n / 3; i++) {
		int day = i < n ? 2 : 3;

		fprintf(fp,
		    "2026-03-0%dT08:00:00.000Z,%016X,0,10.0.0.1:993,"
		    "198.51.100.7:50001,,1,0,60,OpenSession,,,\r\n"
		    "2026-03-0%dT08:00:01.000Z,%016X,1,10.0.0.1:993,"
		    "198.51.100.7:50001,,0,0,0,CloseSession,,,\r\n",
		    day, i + 1, day, i + 1);
	}
	cr_assert_eq(fclose(fp), 0);
	inv_add_text(inv, "ex1/IMAP420260302-1.LOG", 0, EXLOG_PROTO_IMAP4,
	    text);
	free(text);
	cr_assert_eq(inventory_finish(inv), 0);
	return inv;
}

/*
 * The chart's grid lines stand at whole, round steps (1, 2 or 5 times a
 * power of ten) from 0 to the first line at or above the highest bar, at
 * most five steps, and the bars are drawn to the same scale.
 */
Test(invreport, chart_grid_at_round_steps)
{
	static const unsigned counts[] = {1, 2, 3, 4, 6, 7, 9, 10, 11, 13, 23,
	    48, 99, 101, 250, 1234};

	for (size_t c = 0; c < sizeof(counts) / sizeof(counts[0]); c++) {
		unsigned n = counts[c];
		struct inventory *inv = sessions_inventory(n);
		char *html = report(inv, INVREPORT_HTML, 0), *chart, *p;
		double y[16], bar_y = -1, bar_h = -1;
		unsigned long long v[16], step, mag;
		size_t k = 0;

		chart = strstr(html, "<svg id=\"chart\"");
		cr_assert_not_null(chart);
		for (p = chart;
		     (p = strstr(p, "stroke=\"#ddd\"/><text")) != NULL; p++) {
			const char *q = strstr(p, "text-anchor=\"end\">");
			char *e;

			cr_assert_lt(k, 16, "n=%u: too many grid lines", n);
			cr_assert_eq(
			    sscanf(strstr(p, "y=\"") + 3, "%lf", &y[k]), 1);
			y[k] -= 4; /* the label sits 4 below its line */
			v[k] = strtoull(q + 18, &e, 10);
			cr_assert_eq(*e, '<',
			    "n=%u: label '%.12s' is not whole", n, q + 18);
			k++;
		}
		cr_assert_geq(k, 2, "n=%u", n);
		step = v[1] - v[0];
		cr_expect_eq(v[0], 0, "n=%u", n);
		for (size_t i = 1; i < k; i++)
			cr_expect_eq(v[i] - v[i - 1], step,
			    "n=%u: grid %llu after %llu, step %llu", n, v[i],
			    v[i - 1], step);
		for (mag = 1; step / mag >= 10 && step % (mag * 10) == 0;
		     mag *= 10)
			;
		cr_expect(step == mag || step == 2 * mag || step == 5 * mag,
		    "n=%u: step %llu is not 1, 2 or 5 x 10^k", n, step);
		cr_expect(v[k - 1] >= n && v[k - 1] - step < n,
		    "n=%u: top line %llu", n, v[k - 1]);
		cr_expect_leq(k - 1, 5, "n=%u: %zu steps", n, k - 1);
		/* The highest bar reaches n on the lines' scale. */
		p = strstr(chart, "<rect class=\"imap4\"");
		cr_assert_not_null(p);
		cr_assert_eq(sscanf(strstr(p, " y=\"") + 4, "%lf", &bar_y), 1);
		cr_assert_eq(sscanf(strstr(p, "height=\"") + 8, "%lf", &bar_h),
		    1);
		cr_expect(fabs(bar_y - (y[0] + (y[k - 1] - y[0]) * n /
						   (double)v[k - 1])) < 0.1,
		    "n=%u: bar top at %.2f", n, bar_y);
		cr_expect(fabs(bar_y + bar_h - y[0]) < 0.1, "n=%u", n);
		free(html);
		inventory_free(inv);
	}
}

/* ---- login mechanisms ---- */

static struct inventory *
mech_inv(enum inv_by by, enum inv_login_type lt, bool secrets)
{
	struct inv_options o = {.since_ms = INT64_MIN,
	    .until_ms = INT64_MAX,
	    .protocols = INV_POP3 | INV_IMAP4,
	    .by = by,
	    .servers = servers,
	    .nservers = 2,
	    .login_type = lt};
	struct inventory *inv = inventory_new(&o);

	cr_assert_not_null(inv);
	inv_add_text(inv, "ex1/" FX_MECH_IMAP_NAME, 0, EXLOG_PROTO_IMAP4,
	    fx_mech_imap);
	inv_add_text(inv, "ex1/" FX_MECH_POP3_NAME, 0, EXLOG_PROTO_POP3,
	    fx_mech_pop3);
	if (secrets)
		inv_add_text(inv, "ex1/" FX_MECH_SECRETS_NAME, 0,
		    EXLOG_PROTO_IMAP4, fx_mech_secrets);
	cr_assert_eq(inventory_finish(inv), 0);
	return inv;
}

Test(invreport, mechanisms_in_every_format)
{
	struct inventory *inv =
	    mech_inv(INV_BY_CLIENT, INV_LOGIN_PLAINTEXT_AUTH, false);
	char *csv = report(inv, INVREPORT_CSV, 0);
	char *js = report(inv, INVREPORT_JSON, 0);
	char *t = report(inv, INVREPORT_TABLE, 0);
	char *html = report(inv, INVREPORT_HTML, 0);

	/* would_break follows --login-type; the two columns at the end
	 * say it for both login types that refuse anything. */
	cr_assert_not_null(strstr(csv,
			       "\r\nno,192.0.2.51,imap4,143,1,1,0,1,0,0,0,0,0,"
			       "2026-03-05T08:00:00Z,2026-03-05T08:00:00Z,1,"
			       "ntlmuser,ex1,NTLM,0,yes,no\r\n"),
	    "%s", csv);
	cr_assert_not_null(strstr(csv,
			       "\r\nyes,192.0.2.53,imap4,143,1,1,0,1,0,0,0,0,0,"
			       "2026-03-05T08:20:00Z,2026-03-05T08:20:00Z,1,"
			       "oauser,ex1,XOAUTH2,1,yes,yes\r\n"),
	    "%s", csv);
	cr_assert_not_null(strstr(csv, ",ex1,PLAIN+NTLM,1,yes,yes\r\n"), "%s",
	    csv);

	cr_assert_not_null(
	    strstr(js, "\"login_type\": \"PlainTextAuthentication\""), "%s",
	    js);
	cr_assert_not_null(strstr(js, "{\"would_break\": false, \"client\": "
				      "\"192.0.2.61\""),
	    "%s", js);
	cr_assert_not_null(strstr(js,
			       "\"mechanisms\": [\"NTLM\"], "
			       "\"cleartext_password_logins\": 0, "
			       "\"would_break_under\": {\"SecureLogin\": "
			       "true, \"PlainTextAuthentication\": "
			       "false, \"PlainTextLogin\": false}}"),
	    "%s", js);
	cr_assert_not_null(strstr(js, "\"clients_would_break\": 5, "), "%s",
	    js);

	cr_assert_not_null(
	    strstr(t, "Would break under PlainTextAuthentication: 5 of 12 "
		      "clients"),
	    "%s", t);
	cr_assert_not_null(strstr(t, "  MECH  "), "%s", t);
	cr_assert_not_null(strstr(t, " PLAIN+NTLM "), "%s", t);
	cr_assert_not_null(strstr(t, "\n   192.0.2.51 "), "%s", t);

	cr_assert_not_null(
	    strstr(html, "<th>Protocols</th><th>Mechanisms</th>"), "%s", html);
	cr_assert_not_null(strstr(html, "<td>imap4</td><td>PLAIN NTLM</td>"),
	    "%s", html);
	cr_assert_not_null(
	    strstr(html, "<h2>Would break under PlainTextAuthentication (5)"),
	    "%s", html);
	free(csv);
	free(js);
	free(t);
	free(html);
	inventory_free(inv);

	/* By mechanism: one line per mechanism, with users and clients. */
	inv = mech_inv(INV_BY_MECHANISM, INV_LOGIN_SECURE, false);
	csv = report(inv, INVREPORT_CSV, 0);
	cr_assert_eq(strncmp(csv, "would_break,mechanism,protocols,", 32), 0,
	    "%s", csv);
	cr_assert_not_null(strstr(csv, ",users,users_sample,clients,"
				       "clients_sample,servers,mechanisms,"),
	    "%s", csv);
	cr_assert_not_null(
	    strstr(csv, "\r\nyes,NTLM,pop3+imap4,110;143,3,2,1,"), "%s", csv);
	js = report(inv, INVREPORT_JSON, 0);
	cr_assert_not_null(strstr(js, "\"by\": \"mechanism\""), "%s", js);
	cr_assert_not_null(strstr(js, "\"mechanism\": \"GSSAPI\""), "%s", js);
	free(csv);
	free(js);
	inventory_free(inv);
}

/* Every word of the secrets in tests/inventory_fixture.h. */
static void
assert_no_secret(const char *out, const char *what)
{
	static const char *const secret[] = {FX_SECRET_B64, FX_SECRET_NTLM,
	    FX_SECRET_BEARER, "dXNlcj1", "TlRMTVNTUA", "Bearer", "ya29",
	    "auth="};

	for (size_t i = 0; i < sizeof(secret) / sizeof(secret[0]); i++)
		cr_assert_null(strstr(out, secret[i]), "%s shows %s:\n%s", what,
		    secret[i], out);
}

Test(invreport, no_secret_of_a_malformed_row_is_shown)
{
	static const enum inv_by bys[] = {INV_BY_CLIENT, INV_BY_USER,
	    INV_BY_CLIENT_USER, INV_BY_SOFTWARE, INV_BY_BACKEND,
	    INV_BY_BACKEND_USER, INV_BY_MECHANISM};
	static const enum invreport_format fmts[] = {INVREPORT_TABLE,
	    INVREPORT_CSV, INVREPORT_JSON, INVREPORT_HTML};

	for (size_t b = 0; b < sizeof(bys) / sizeof(bys[0]); b++) {
		struct inventory *inv =
		    mech_inv(bys[b], INV_LOGIN_SECURE, true);

		for (size_t f = 0; f < sizeof(fmts) / sizeof(fmts[0]); f++) {
			char *out = report(inv, fmts[f], 0);
			char what[64];

			snprintf(what, sizeof(what), "by %d format %d",
			    (int)bys[b], (int)fmts[f]);
			assert_no_secret(out, what);
			free(out);
		}
		inventory_free(inv);
	}
}
