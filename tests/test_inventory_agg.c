#include "config.h"

#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "inventory.h"
#include "inventory_fixture.h"
#include "inventory_testutil.h"
#include "invreport.h"

static const char *const servers[] = {"ex1", "ex2"};

static struct inv_options
opts(enum inv_by by)
{
	struct inv_options o = {.since_ms = INT64_MIN,
	    .until_ms = INT64_MAX,
	    .protocols = INV_POP3 | INV_IMAP4,
	    .by = by,
	    .servers = servers,
	    .nservers = 2};

	return o;
}

static int64_t
at(const char *iso)
{
	int64_t ms;

	cr_assert_eq(exlog_time(iso, strlen(iso), &ms), 0);
	return ms;
}

/* The fixture, POP3 from server ex1 and IMAP4 from ex2, finished. */
static struct inventory *
fixture(struct inv_options o)
{
	struct inventory *inv = inventory_new(&o);

	cr_assert_not_null(inv);
	inv_add_text(inv, "ex1/" FX_POP3_NAME, 0, EXLOG_PROTO_POP3, fx_pop3);
	inv_add_text(inv, "ex2/" FX_IMAP_NAME, 1, EXLOG_PROTO_IMAP4, fx_imap);
	cr_assert_eq(inventory_finish(inv), 0);
	return inv;
}

Test(inventory, by_client_tls_kinds_and_would_break)
{
	struct inventory *inv = fixture(opts(INV_BY_CLIENT));
	const struct inv_record *const *recs;
	const struct inv_record *r;
	size_t n = inventory_records(inv, &recs);

	cr_assert_eq(n, 6);
	/* Would-break first, most cleartext logins first. */
	cr_assert_str_eq(recs[0]->key, "192.0.2.10");
	cr_assert_str_eq(recs[1]->key, "198.51.100.7");
	for (size_t i = 2; i < n; i++)
		cr_assert_not(inv_record_would_break(recs[i]), "%s",
		    recs[i]->key);

	r = recs[0];
	cr_assert_eq(r->protocols, INV_POP3 | INV_IMAP4);
	cr_assert_eq(r->sessions, 3);
	cr_assert_eq(r->logins_ok, 3);
	cr_assert_eq(r->cleartext_ok, 2); /* POP3 on 110 and IMAP4 on 143 */
	cr_assert_eq(r->implicit_ok, 1);  /* POP3 on 995 */
	cr_assert_eq(r->starttls_ok, 0);
	cr_assert_eq(r->nports, 3);
	cr_assert_eq(r->ports[0], 110);
	cr_assert_eq(r->ports[1], 143);
	cr_assert_eq(r->ports[2], 995);
	cr_assert_eq(r->pop3_dele_sessions, 1);
	cr_assert_eq(r->pop3_leave_sessions, 1);
	/* alice and ALICE are one user. */
	cr_assert_eq(r->nrelated, 1);
	cr_assert_str_eq(r->related[0], "alice");
	cr_assert_eq(r->first_ms, at("2026-03-01T10:00:00.000Z"));
	cr_assert_eq(r->last_ms, at("2026-03-02T12:00:00.300Z"));
	cr_assert_eq(r->servers[0], 3u); /* ex1 and ex2 */

	r = find_rec(inv, "192.0.2.20", NULL);
	cr_assert_not_null(r);
	cr_assert_eq(r->starttls_ok, 1);
	cr_assert_eq(r->cleartext_ok, 0);
	cr_assert_eq(r->pop3_dele_sessions, 0);
	cr_assert_eq(r->pop3_leave_sessions, 1);
	cr_assert_eq(r->servers[0], 1u);

	r = find_rec(inv, "192.0.2.30", NULL);
	cr_assert_not_null(r);
	cr_assert_eq(r->logins_ok, 0);
	cr_assert_eq(r->logins_failed, 1);
	cr_assert_eq(r->cleartext_failed, 1);
	cr_assert_not(inv_record_would_break(r));
	cr_assert_eq(r->pop3_leave_sessions, 0);

	r = find_rec(inv, "198.51.100.7", NULL);
	cr_assert_eq(r->cleartext_ok, 1);
	cr_assert_eq(r->implicit_ok, 1);

	/* postern's Tls key wins over the port number. */
	r = find_rec(inv, "198.51.100.8", NULL);
	cr_assert_not_null(r);
	cr_assert_eq(r->implicit_ok, 1);
	cr_assert_eq(r->cleartext_ok, 0);
	cr_assert_eq(r->ports[0], 10993);
	cr_assert_eq(r->sessions, 1); /* counted at the end of the file */

	/* The brackets and port of an IPv6 client address go. */
	r = find_rec(inv, "2001:db8::5", NULL);
	cr_assert_not_null(r);
	cr_assert_eq(r->starttls_ok, 1);
	inventory_free(inv);
}

Test(inventory, summary_totals)
{
	struct inventory *inv = fixture(opts(INV_BY_CLIENT));
	const struct inv_summary *s = inventory_summary(inv);

	cr_assert_eq(s->files, 2);
	cr_assert_eq(s->rows, 20 + 18);
	cr_assert_eq(s->rows_bad, 0);
	cr_assert_eq(s->sessions, 9);
	cr_assert_eq(s->proto[INV_PROTO_POP3].sessions, 4);
	cr_assert_eq(s->proto[INV_PROTO_IMAP4].sessions, 5);
	cr_assert_eq(s->proto[INV_PROTO_POP3].logins_ok, 3);
	cr_assert_eq(s->proto[INV_PROTO_POP3].logins_failed, 1);
	cr_assert_eq(s->proto[INV_PROTO_POP3].cleartext_ok, 1);
	cr_assert_eq(s->proto[INV_PROTO_IMAP4].cleartext_ok, 2);
	cr_assert_eq(s->proto[INV_PROTO_POP3].clients, 3);
	cr_assert_eq(s->proto[INV_PROTO_IMAP4].clients, 4);
	cr_assert_eq(s->clients, 6);
	cr_assert_eq(s->clients_would_break, 2);
	cr_assert_eq(s->users, 6);
	cr_assert_eq(s->users_would_break, 2);
	cr_assert_eq(s->first_ms, at("2026-03-01T10:00:00.000Z"));
	cr_assert_eq(s->last_ms, at("2026-03-02T12:00:00.300Z"));
	{
		const struct inv_day *d;

		cr_assert_eq(inventory_days(inv, &d), 2);
		cr_assert_eq(d[0].day, at("2026-03-01T00:00:00Z") / 86400000);
		cr_assert_eq(d[0].sessions[INV_PROTO_POP3], 4);
		cr_assert_eq(d[0].sessions[INV_PROTO_IMAP4], 0);
		cr_assert_eq(d[1].sessions[INV_PROTO_IMAP4], 5);
	}
	inventory_free(inv);
}

Test(inventory, by_user_client_user_and_software)
{
	struct inventory *inv = fixture(opts(INV_BY_USER));
	const struct inv_record *r = find_rec(inv, "alice", NULL);

	cr_assert_not_null(r);
	cr_assert_eq(r->sessions, 3);
	cr_assert_eq(r->protocols, INV_POP3 | INV_IMAP4);
	cr_assert_eq(r->nrelated, 1);
	cr_assert_str_eq(r->related[0], "192.0.2.10");
	cr_assert_null(find_rec(inv, "ALICE", NULL));
	r = find_rec(inv, "carol", NULL);
	cr_assert_eq(r->sessions, 2);
	cr_assert(inv_record_would_break(r));
	inventory_free(inv);

	inv = fixture(opts(INV_BY_CLIENT_USER));
	r = find_rec(inv, "192.0.2.10", "alice");
	cr_assert_not_null(r);
	cr_assert_eq(r->sessions, 3);
	r = find_rec(inv, "198.51.100.7", "carol");
	cr_assert_eq(r->sessions, 2);
	cr_assert_eq(inventory_summary(inv)->records, 6);
	inventory_free(inv);

	inv = fixture(opts(INV_BY_SOFTWARE));
	r = find_rec(inv, "Thunderbird 115.3", NULL);
	cr_assert_not_null(r);
	cr_assert_eq(r->sessions, 2);
	cr_assert_eq(r->nrelated, 1);
	cr_assert_str_eq(r->related[0], "198.51.100.7");
	cr_assert(inv_record_would_break(r));
	r = find_rec(inv, "(none)", NULL);
	cr_assert_eq(r->sessions, 7);
	cr_assert_eq(r->nrelated, 5);
	inventory_free(inv);
}

Test(inventory, protocol_filter)
{
	struct inv_options o = opts(INV_BY_CLIENT);
	struct inventory *inv;

	o.protocols = INV_IMAP4;
	inv = fixture(o);
	cr_assert_eq(inventory_summary(inv)->sessions, 5);
	cr_assert_eq(inventory_summary(inv)->proto[INV_PROTO_POP3].sessions, 0);
	cr_assert_null(find_rec(inv, "192.0.2.20", NULL));
	cr_assert_eq(find_rec(inv, "192.0.2.10", NULL)->protocols, INV_IMAP4);
	inventory_free(inv);
}

Test(inventory, since_and_until_filter_rows_and_skip_files_by_name)
{
	struct inv_options o = opts(INV_BY_CLIENT);
	struct inventory *inv;
	struct exlog_name nm;

	o.since_ms = at("2026-03-02T00:00:00Z");
	inv = fixture(o);
	cr_assert_eq(inventory_summary(inv)->rows_filtered, 20);
	cr_assert_eq(inventory_summary(inv)->sessions, 5);
	cr_assert_null(find_rec(inv, "192.0.2.20", NULL));
	cr_assert_eq(find_rec(inv, "192.0.2.10", NULL)->sessions, 1);
	cr_assert_eq(exlog_name_parse(FX_POP3_NAME, &nm), 0);
	cr_assert(inventory_skip_name(inv, &nm));
	cr_assert_eq(exlog_name_parse(FX_IMAP_NAME, &nm), 0);
	cr_assert_not(inventory_skip_name(inv, &nm));
	inventory_free(inv);

	o = opts(INV_BY_CLIENT);
	o.until_ms = at("2026-03-01T11:00:00.300Z");
	inv = fixture(o);
	/* Sessions 01 and 03 whole, 02 up to its STLS and USER rows. */
	cr_assert_eq(inventory_summary(inv)->sessions, 3);
	cr_assert_eq(find_rec(inv, "192.0.2.20", NULL)->logins_ok, 0);
	cr_assert_eq(inventory_summary(inv)->last_ms,
	    at("2026-03-01T11:00:00.250Z"));
	cr_assert_eq(exlog_name_parse(FX_IMAP_NAME, &nm), 0);
	cr_assert(inventory_skip_name(inv, &nm));
	inventory_free(inv);
}

Test(inventory, parse_when)
{
	int64_t now = at("2026-03-10T12:00:00Z"), v;

	cr_assert_eq(inventory_parse_when("30d", now, false, &v), 0);
	cr_assert_eq(v, at("2026-02-08T12:00:00Z"));
	cr_assert_eq(inventory_parse_when("12h", now, false, &v), 0);
	cr_assert_eq(v, at("2026-03-10T00:00:00Z"));
	cr_assert_eq(inventory_parse_when("1w", now, false, &v), 0);
	cr_assert_eq(v, at("2026-03-03T12:00:00Z"));
	cr_assert_eq(inventory_parse_when("90m", now, false, &v), 0);
	cr_assert_eq(v, at("2026-03-10T10:30:00Z"));
	cr_assert_eq(inventory_parse_when("2026-03-01", now, false, &v), 0);
	cr_assert_eq(v, at("2026-03-01T00:00:00Z"));
	/* As an end, a bare date takes in the whole day. */
	cr_assert_eq(inventory_parse_when("2026-03-01", now, true, &v), 0);
	cr_assert_eq(v, at("2026-03-02T00:00:00Z"));
	cr_assert_eq(inventory_parse_when("2026-03-01T08:30", now, true, &v),
	    0);
	cr_assert_eq(v, at("2026-03-01T08:30:00Z"));
	cr_assert_eq(
	    inventory_parse_when("2026-03-01T08:30:15Z", now, false, &v), 0);
	cr_assert_eq(v, at("2026-03-01T08:30:15Z"));
	cr_assert_eq(inventory_parse_when("30", now, false, &v), -1);
	cr_assert_eq(inventory_parse_when("d", now, false, &v), -1);
	cr_assert_eq(inventory_parse_when("3x", now, false, &v), -1);
	cr_assert_eq(inventory_parse_when("2026-02-30", now, false, &v), -1);
	cr_assert_eq(inventory_parse_when("yesterday", now, false, &v), -1);
	cr_assert_eq(inventory_parse_when("99999999999999999d", now, false, &v),
	    -1);
}

static char *
json_of(const struct inventory *inv)
{
	struct invreport_options ro = {.format = INVREPORT_JSON,
	    .now_ms = 0,
	    .version = "test"};
	char *buf = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&buf, &len);

	cr_assert_not_null(fp);
	cr_assert_eq(invreport_write(fp, inv, &ro), 0);
	fclose(fp);
	return buf;
}

Test(inventory, merging_two_inventories_equals_reading_both)
{
	static const enum inv_by bys[] = {INV_BY_CLIENT, INV_BY_USER,
	    INV_BY_CLIENT_USER, INV_BY_SOFTWARE, INV_BY_BACKEND,
	    INV_BY_BACKEND_USER};

	for (size_t b = 0; b < sizeof(bys) / sizeof(bys[0]); b++) {
		struct inv_options o = opts(bys[b]);
		struct inventory *one = fixture(o);
		struct inventory *x = inventory_new(&o), *y = inventory_new(&o);
		char *j1, *j2;

		inv_add_text(x, "ex1/" FX_POP3_NAME, 0, EXLOG_PROTO_POP3,
		    fx_pop3);
		inv_add_text(y, "ex2/" FX_IMAP_NAME, 1, EXLOG_PROTO_IMAP4,
		    fx_imap);
		cr_assert_eq(inventory_merge(x, y), 0);
		cr_assert_eq(inventory_finish(x), 0);
		j1 = json_of(one);
		j2 = json_of(x);
		cr_assert_str_eq(j1, j2);
		free(j1);
		free(j2);
		inventory_free(one);
		inventory_free(x);
		inventory_free(y);
	}
}

Test(inventory, repeated_rows_counted_once_and_restarts)
{
	struct inv_options o = opts(INV_BY_CLIENT);
	struct inventory *inv = inventory_new(&o);
	const char *t =
	    "2026-03-01T10:00:00.000Z,01,0,10.0.0.1:143,192.0.2.1:1,,1,0,1,OpenSession,,,\n"
	    "2026-03-01T10:00:00.100Z,01,1,10.0.0.1:143,192.0.2.1:1,u,1,1,1,login,u *****,R=ok,\n"
	    "2026-03-01T10:00:00.100Z,01,1,10.0.0.1:143,192.0.2.1:1,u,1,1,1,login,u *****,R=ok,\n"
	    "2026-03-01T10:00:00.100Z,01,1,10.0.0.1:143,192.0.2.1:1,u,1,1,1,login,u *****,R=ok,\n"
	    /* The server restarted: session ids begin again. */
	    "2026-03-01T11:00:00.000Z,01,0,10.0.0.1:143,192.0.2.2:1,,1,0,1,OpenSession,,,\n"
	    "2026-03-01T11:00:00.100Z,01,1,10.0.0.1:143,192.0.2.2:1,v,1,1,1,login,v *****,R=ok,\n"
	    "2026-03-01T11:00:00.200Z,01,2,10.0.0.1:143,192.0.2.2:1,v,1,1,1,CloseSession,,,\n";
	const struct inv_file_info *files;

	inv_add_text(inv, "x.log", 0, EXLOG_PROTO_UNKNOWN, t);
	cr_assert_eq(inventory_finish(inv), 0);
	cr_assert_eq(inventory_summary(inv)->rows_repeated, 2);
	cr_assert_eq(inventory_summary(inv)->sessions, 2);
	cr_assert_eq(find_rec(inv, "192.0.2.1", NULL)->logins_ok, 1);
	cr_assert_eq(find_rec(inv, "192.0.2.1", NULL)->cleartext_ok, 1);
	cr_assert_eq(find_rec(inv, "192.0.2.2", NULL)->logins_ok, 1);
	/* Port 143 and the verbs say IMAP4 when the name does not. */
	cr_assert_eq(find_rec(inv, "192.0.2.2", NULL)->protocols, INV_IMAP4);
	cr_assert_eq(inventory_files(inv, &files), 1);
	cr_assert_eq(files[0].repeated, 2);
	inventory_free(inv);
}

Test(inventory, real_samples_give_sessions_and_failed_logins)
{
	static const char *names[] = {"crowdsecurity-hub__exchange-imap-bf.log",
	    "crowdsecurity-hub__exchange-pop-bf.log",
	    "msqa-112837__IMAP4-frontend-Exchange2013.log",
	    "msqa-1156767__IMAP4-frontend-Exchange2013CU23.log"};
	struct inv_options o = opts(INV_BY_CLIENT);
	struct inventory *inv = inventory_new(&o);
	const struct inv_record *r;
	const struct inv_bad_row *bad;
	const struct inv_file_info *files;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char path[4096], *text;
		size_t len;

		snprintf(path, sizeof(path), "%s/%s", samples_dir(), names[i]);
		text = slurp(path, &len);
		inv_add_text(inv, path, 0, EXLOG_PROTO_UNKNOWN, text);
		free(text);
	}
	cr_assert_eq(inventory_finish(inv), 0);
	/* Brute force from .212: one IMAP4 session on 143 (a row repeated 7
	 * times) and one POP3 session on 110 (8 times), refused, no TLS. */
	r = find_rec(inv, "192.168.9.212", NULL);
	cr_assert_not_null(r);
	cr_assert_eq(r->protocols, INV_POP3 | INV_IMAP4);
	cr_assert_eq(r->sessions, 2);
	cr_assert_eq(r->logins_failed, 2);
	cr_assert_eq(r->cleartext_failed, 2);
	cr_assert_eq(r->logins_ok, 0);
	cr_assert_eq(inventory_summary(inv)->rows_repeated, 6 + 7);
	/* Exchange 2013: the health mailbox probe, refused by the proxy. */
	r = find_rec(inv, "127.0.0.1", NULL);
	cr_assert_eq(r->sessions, 3);
	cr_assert_eq(r->logins_failed, 1);
	cr_assert_eq(r->protocols, INV_IMAP4);
	/* The truncated row is counted with its file and line. */
	cr_assert_eq(inventory_summary(inv)->rows_bad, 1);
	cr_assert_eq(inventory_bad_rows(inv, &bad), 1);
	inventory_files(inv, &files);
	cr_assert_not_null(strstr(files[bad[0].file].path, "msqa-112837"));
	cr_assert_eq(bad[0].line, 4);
	cr_assert_eq(bad[0].why, EXLOG_BAD_FIELDS);
	r = find_rec(inv, "90.187.51.145", NULL);
	cr_assert_eq(r->logins_failed, 1);
	cr_assert_eq(r->implicit_ok + r->cleartext_ok, 0);
	inventory_free(inv);
}

Test(inventory, bad_time_is_a_malformed_row)
{
	struct inv_options o = opts(INV_BY_CLIENT);
	struct inventory *inv = inventory_new(&o);
	const struct inv_bad_row *bad;

	inv_add_text(inv, "x.log", 0, EXLOG_PROTO_IMAP4,
	    "yesterday,01,0,10.0.0.1:143,192.0.2.1:1,,1,0,1,OpenSession,,,\n"
	    "2026-03-01T10:00:00.000Z,01,0,10.0.0.1:143,192.0.2.1:1,,1,0,1,OpenSession,,,\n");
	cr_assert_eq(inventory_finish(inv), 0);
	cr_assert_eq(inventory_summary(inv)->rows_bad, 1);
	cr_assert_eq(inventory_summary(inv)->rows, 1);
	cr_assert_eq(inventory_bad_rows(inv, &bad), 1);
	cr_assert_eq(bad[0].why, EXLOG_BAD_TIME);
	cr_assert_eq(bad[0].line, 1);
	inventory_free(inv);
}

Test(inventory, postern_context_keys)
{
	struct inv_options o = opts(INV_BY_SOFTWARE);
	struct inventory *inv = inventory_new(&o);
	const struct inv_record *r;

	/* As postern writes them: Tls with STARTTLS in capitals and the TLS
	 * version, the IMAP ID in ClientName and ClientVersion; the key wins
	 * over what the port would say. */
	inv_add_text(inv, "IMAP42026030108-1.LOG", 0, EXLOG_PROTO_IMAP4,
	    "2026-03-01T08:00:00.000Z,01,0,10.0.0.1:143,192.0.2.1:1,,1,0,1,OpenSession,,Tls=none,\n"
	    "2026-03-01T08:00:00.100Z,01,1,10.0.0.1:143,192.0.2.1:1,,1,1,1,starttls,,R=ok;Tls=none,\n"
	    "2026-03-01T08:00:00.200Z,01,2,10.0.0.1:143,192.0.2.1:1,,1,1,1,id,NIL,R=ok;Tls=STARTTLS:TLSv1.3;ClientName=Evolution;ClientVersion=3.46,\n"
	    "2026-03-01T08:00:00.300Z,01,3,10.0.0.1:143,192.0.2.1:1,u,1,1,1,login,u *****,\"R=ok;Msg=\"\"Proxy:b:143:Plaintext;ProxySuccess\"\";Tls=STARTTLS:TLSv1.3;ClientName=Evolution;ClientVersion=3.46\",\n"
	    "2026-03-01T08:00:01.000Z,02,0,10.0.0.1:993,192.0.2.2:1,,1,0,1,OpenSession,,Tls=none,\n"
	    "2026-03-01T08:00:01.100Z,02,1,10.0.0.1:993,192.0.2.2:1,v,1,1,1,login,v *****,R=ok;Tls=none;LoginTypeAudit=WouldDeny:SecureLogin,\n");
	cr_assert_eq(inventory_finish(inv), 0);
	r = find_rec(inv, "Evolution 3.46", NULL);
	cr_assert_not_null(r);
	cr_assert_eq(r->starttls_ok, 1);
	cr_assert_eq(r->cleartext_ok, 0);
	r = find_rec(inv, "(none)", NULL);
	cr_assert_not_null(r);
	cr_assert_eq(r->cleartext_ok, 1);
	cr_assert_eq(r->implicit_ok, 0);
	inventory_free(inv);
}

/* Row step (0 open, 1 login, 2 close) of the session id. */
static void
session_row(FILE *fp, int step, const char *id)
{
	switch (step) {
	case 0:
		fprintf(fp,
		    "2026-03-01T10:00:00.000Z,%s,0,10.0.0.1:143,"
		    "192.0.2.9:1,,1,0,1,OpenSession,,,\n",
		    id);
		break;
	case 1:
		fprintf(fp,
		    "2026-03-01T10:00:01.000Z,%s,1,10.0.0.1:143,"
		    "192.0.2.9:1,u,1,1,1,login,u *****,R=ok,\n",
		    id);
		break;
	default:
		fprintf(fp,
		    "2026-03-01T10:00:02.000Z,%s,2,10.0.0.1:143,"
		    "192.0.2.9:1,,1,0,1,CloseSession,,,\n",
		    id);
		break;
	}
}

/*
 * Session ids of 16 hex digits: each digit position tells sessions
 * apart, letters in either case are the same digit, and an id with a
 * byte that is no hex digit is still one session of its own.
 */
Test(inventory, session_ids_of_sixteen_hex_digits)
{
	struct inv_options o = opts(INV_BY_CLIENT);
	struct inventory *inv = inventory_new(&o);
	static const char digits[] = "0123456789abcdefABCDEF";
	char *t = NULL;
	size_t tl = 0;
	FILE *fp = open_memstream(&t, &tl);
	int n = 0;

	cr_assert_not_null(fp);
	/* One session per position and digit, all open at once: 16 x 15
	 * ids and the all-zero one.  Two ids read as one would make a
	 * row look repeated.  The rows after the first write the letters
	 * in the other case: A-F and a-f are the same digits. */
	for (int step = 0; step < 3; step++)
		for (int pos = 0; pos < 16; pos++)
			for (int d = pos == 0 ? 0 : 1; d < 16; d++) {
				char id[17];

				memset(id, '0', 16);
				id[16] = '\0';
				id[pos] =
				    digits[d < 10 || step == 0 ? d : d + 6];
				session_row(fp, step, id);
				n += step == 0;
			}
	/* Not hex: still a session, not merged with 0000000000000000. */
	session_row(fp, 0, "000000000000000G");
	session_row(fp, 1, "000000000000000G");
	fclose(fp);
	inv_add_text(inv, "x.log", 0, EXLOG_PROTO_UNKNOWN, t);
	cr_assert_eq(inventory_finish(inv), 0);
	cr_assert_eq(n, 241);
	cr_assert_eq(inventory_summary(inv)->rows_repeated, 0);
	cr_assert_eq(inventory_summary(inv)->sessions, 242);
	cr_assert_eq(find_rec(inv, "192.0.2.9", NULL)->logins_ok, 242);
	inventory_free(inv);
	free(t);
}

/*
 * Many sessions open at once and ended in another order than they began:
 * every one is counted once, whether it ended with a CloseSession or only
 * with the end of the file.
 */
Test(inventory, many_interleaved_sessions_each_counted_once)
{
	struct inv_options o = opts(INV_BY_CLIENT_USER);
	struct inventory *inv = inventory_new(&o);
	char *t = NULL;
	size_t tl = 0;
	FILE *fp = open_memstream(&t, &tl);
	const struct inv_record *r;
	char user[16];

	cr_assert_not_null(fp);
	for (int i = 0; i < 100; i++)
		fprintf(fp,
		    "2026-03-01T10:00:00.000Z,%016X,0,10.0.0.1:995,"
		    "192.0.2.%d:1,,1,0,1,OpenSession,,,\n"
		    "2026-03-01T10:00:01.000Z,%016X,1,10.0.0.1:995,"
		    "192.0.2.%d:1,user%d,1,1,1,pass, *****,R=ok,\n",
		    i + 1, i % 7, i + 1, i % 7, i % 3);
	/* Closed backwards; every fifth never closed. */
	for (int i = 99; i >= 0; i--)
		if (i % 5 != 0)
			fprintf(fp,
			    "2026-03-01T10:00:02.000Z,%016X,2,10.0.0.1:995,"
			    "192.0.2.%d:1,,1,0,1,CloseSession,,,\n",
			    i + 1, i % 7);
	fclose(fp);
	inv_add_text(inv, "x.log", 0, EXLOG_PROTO_POP3, t);
	cr_assert_eq(inventory_finish(inv), 0);
	cr_assert_eq(inventory_summary(inv)->sessions, 100);
	for (int c = 0; c < 7; c++)
		for (int u = 0; u < 3; u++) {
			char cip[16];
			uint64_t want = 0;

			for (int i = 0; i < 100; i++)
				want += i % 7 == c && i % 3 == u;
			snprintf(cip, sizeof(cip), "192.0.2.%d", c);
			snprintf(user, sizeof(user), "user%d", u);
			r = find_rec(inv, cip, user);
			if (want == 0) {
				cr_assert_null(r);
				continue;
			}
			cr_assert_not_null(r, "%s %s", cip, user);
			cr_assert_eq(r->sessions, want, "%s %s", cip, user);
			cr_assert_eq(r->logins_ok, want);
			cr_assert_eq(r->implicit_ok, want);
		}
	inventory_free(inv);
	free(t);
}

/*
 * Files are listed in path order whatever order they were read in (threads
 * finish them in any order), and each malformed row still names its own
 * file, the rows in file and line order.
 */
Test(inventory, files_and_bad_rows_in_path_order)
{
	struct inv_options o = opts(INV_BY_CLIENT);
	struct inventory *inv = inventory_new(&o);
	static const char ok[] = "2026-03-01T10:00:00.000Z,01,0,10.0.0.1:143,"
				 "192.0.2.1:1,,1,0,1,OpenSession,,,\n";
	static const char bad[] = "yesterday,01,0,10.0.0.1:143,"
				  "192.0.2.1:1,,1,0,1,OpenSession,,,\n";
	const struct inv_file_info *files;
	const struct inv_bad_row *b;
	char c[512], a[512];

	snprintf(c, sizeof(c), "%s%s%s", ok, ok, bad);  /* line 3 */
	snprintf(a, sizeof(a), "%s%s%s", bad, ok, bad); /* lines 1, 3 */
	inv_add_text(inv, "logs/c.log", 0, EXLOG_PROTO_IMAP4, c);
	inv_add_text(inv, "logs/b.log", 1, EXLOG_PROTO_IMAP4, ok);
	inv_add_text(inv, "logs/a.log", 0, EXLOG_PROTO_IMAP4, a);
	cr_assert_eq(inventory_finish(inv), 0);
	cr_assert_eq(inventory_files(inv, &files), 3);
	cr_assert_str_eq(files[0].path, "logs/a.log");
	cr_assert_str_eq(files[1].path, "logs/b.log");
	cr_assert_str_eq(files[2].path, "logs/c.log");
	cr_assert_eq(files[0].bad, 2);
	cr_assert_eq(files[1].server, 1);
	cr_assert_eq(files[2].rows, 2);
	cr_assert_eq(inventory_bad_rows(inv, &b), 3);
	cr_assert_str_eq(files[b[0].file].path, "logs/a.log");
	cr_assert_eq(b[0].line, 1);
	cr_assert_str_eq(files[b[1].file].path, "logs/a.log");
	cr_assert_eq(b[1].line, 3);
	cr_assert_str_eq(files[b[2].file].path, "logs/c.log");
	cr_assert_eq(b[2].line, 3);
	inventory_free(inv);
}

/*
 * The software's name, from IMAP ID or from postern's ClientName and
 * ClientVersion keys alike: at most 64 bytes of the name and 48 of the
 * version, a NIL version left out, control characters shown as '?'.
 */
Test(inventory, software_names_clamped_and_cleaned)
{
	struct inv_options o = opts(INV_BY_SOFTWARE);
	struct inventory *inv = inventory_new(&o);
	char name[100], ver[80], want[200], t[2048];

	memset(name, 'N', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	memset(ver, 'v', sizeof(ver) - 1);
	ver[sizeof(ver) - 1] = '\0';
	snprintf(t, sizeof(t),
	    /* IMAP ID: an overlong name and version. */
	    "2026-03-01T08:00:00.000Z,01,0,10.0.0.1:143,192.0.2.1:1,,1,0,1,OpenSession,,,\n"
	    "2026-03-01T08:00:00.100Z,01,1,10.0.0.1:143,192.0.2.1:1,,1,1,1,id,"
	    "(\"name\" \"%s\" \"version\" \"%s\"),R=ok,\n"
	    "2026-03-01T08:00:00.200Z,01,2,10.0.0.1:143,192.0.2.1:1,u,1,1,1,login,u *****,R=ok,\n"
	    /* IMAP ID: a NIL version. */
	    "2026-03-01T08:00:01.000Z,02,0,10.0.0.1:143,192.0.2.2:1,,1,0,1,OpenSession,,,\n"
	    "2026-03-01T08:00:01.100Z,02,1,10.0.0.1:143,192.0.2.2:1,,1,1,1,id,"
	    "(\"name\" \"Scanner\" \"version\" NIL),R=ok,\n"
	    "2026-03-01T08:00:01.200Z,02,2,10.0.0.1:143,192.0.2.2:1,v,1,1,1,login,v *****,R=ok,\n"
	    /* postern's keys: a raw control byte in the name (as a log
	     * written elsewhere may hold) and an overlong version. */
	    "2026-03-01T08:00:02.000Z,03,0,10.0.0.1:143,192.0.2.3:1,,1,0,1,OpenSession,,,\n"
	    "2026-03-01T08:00:02.200Z,03,1,10.0.0.1:143,192.0.2.3:1,w,1,1,1,login,w *****,"
	    "R=ok;ClientName=Mail\x01"
	    "App;ClientVersion=%s,\n",
	    name, ver, ver);
	inv_add_text(inv, "IMAP42026030108-1.LOG", 0, EXLOG_PROTO_IMAP4, t);
	cr_assert_eq(inventory_finish(inv), 0);
	snprintf(want, sizeof(want), "%.64s %.48s", name, ver);
	cr_assert_not_null(find_rec(inv, want, NULL), "%s", want);
	cr_assert_not_null(find_rec(inv, "Scanner", NULL));
	snprintf(want, sizeof(want), "Mail?App %.48s", ver);
	cr_assert_not_null(find_rec(inv, want, NULL), "%s", want);
	cr_assert_eq(inventory_summary(inv)->records, 3);
	inventory_free(inv);
}

Test(inventory, user_patterns)
{
	static const struct {
		const char *pattern, *user;
		bool match;
	} cases[] = {
	    {"HealthMailbox*", "HealthMailboxab28d88", true},
	    {"healthmailbox*", "HEALTHMAILBOX1", true},
	    {"HealthMailbox*", "xHealthMailbox1", false},
	    {"HealthMailbox*", "HealthMailbo", false},
	    {"*Mailbox*", "HealthMailbox1", true},
	    {"*\\HealthMailbox*", "CONTOSO\\healthmailbox7", true},
	    {"*@partner.example", "x@PARTNER.Example", true},
	    {"*@partner.example", "x@partner.example.org", false},
	    {"a*b*c", "aXbYc", true},
	    {"a*b*c", "aXbYcZ", false},
	    {"a*b*c", "abbbcc", true},
	    {"a**", "a", true},
	    {"*", "anyone", true},
	    {"alice", "ALICE", true},
	    {"alice", "alice2", false},
	    {"alice", "alic", false},
	    {"a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		cr_expect_eq(inventory_user_match(cases[i].pattern,
				 cases[i].user, strlen(cases[i].user)),
		    cases[i].match, "'%s' against '%s'", cases[i].pattern,
		    cases[i].user);
	/* Only len bytes of the name count. */
	cr_expect(inventory_user_match("bob", "bobby", 3));
	cr_expect_not(inventory_user_match("bob*y", "bobby", 4));
}

/*
 * Sessions of excluded users (any case, '*' patterns) are left out of
 * every count and record, and counted as excluded.
 */
Test(inventory, excluded_users_left_out)
{
	static const char *const ex[] = {"ALICE", "c*"};
	struct inv_options o = opts(INV_BY_USER);
	struct inventory *inv;
	const struct inv_summary *s;
	const struct inv_record *const *recs;
	size_t n;

	o.exclude_users = ex;
	o.nexclude_users = 2;
	inv = fixture(o);
	s = inventory_summary(inv);
	n = inventory_records(inv, &recs);
	/* alice twice on POP3, ALICE and carol twice on IMAP4. */
	cr_expect_eq(s->sessions_excluded, 5);
	cr_expect_eq(s->sessions, 4);
	cr_expect_eq(s->proto[INV_PROTO_POP3].sessions, 2);
	cr_expect_eq(s->proto[INV_PROTO_IMAP4].sessions, 2);
	cr_expect_eq(s->users, 4);
	cr_expect_eq(s->users_would_break, 0);
	cr_assert_eq(n, 4);
	for (size_t i = 0; i < n; i++) {
		cr_expect(strcasecmp(recs[i]->key, "alice") != 0, "%s",
		    recs[i]->key);
		cr_expect(strcmp(recs[i]->key, "carol") != 0);
	}
	{
		const struct inv_day *d;

		cr_assert_eq(inventory_days(inv, &d), 2);
		cr_expect_eq(d[0].sessions[INV_PROTO_POP3], 2);
		cr_expect_eq(d[1].sessions[INV_PROTO_IMAP4], 2);
	}
	inventory_free(inv);
}

/*
 * Rows as postern writes what a client sent that is not UTF-8
 * (postern-log(5)): "\xNN" in the user, the parameters and the context
 * values, next to a name in UTF-8 written as it is.  Every row reads; the
 * escaped name and the UTF-8 one are two users.
 */
Test(inventory, rows_with_escaped_bytes_read_whole)
{
	struct inv_options o = opts(INV_BY_USER);
	struct inventory *inv = inventory_new(&o);
	static const char t[] =
	    "2026-03-01T08:00:00.000Z,01,0,10.0.0.1:143,192.0.2.1:1,,1,0,1,OpenSession,,Tls=none,\n"
	    "2026-03-01T08:00:00.100Z,01,1,10.0.0.1:143,192.0.2.1:1,,1,1,1,id,"
	    "(\"name\" \"Mutt\\xf5\\x80\" \"version\" \"2\"),"
	    "R=ok;ClientName=Mutt\\xf5\\x80;ClientVersion=2,\n"
	    "2026-03-01T08:00:00.200Z,01,2,10.0.0.1:143,192.0.2.1:1,b\\xe9a\\x80\\xc0\\xaf,1,1,1,login,"
	    "b\\xe9a\\x80\\xc0\\xaf *****,R=ok,\n"
	    "2026-03-01T08:00:00.300Z,01,3,10.0.0.1:143,192.0.2.1:1,b\\xe9a\\x80\\xc0\\xaf,1,1,1,select,"
	    "\"\"\"Entw\xc3\xbcrfe\\xfe\\x1b[1m\"\"\",R=ok,\n"
	    "2026-03-01T08:00:00.400Z,01,4,10.0.0.1:143,192.0.2.1:1,b\\xe9a\\x80\\xc0\\xaf,1,1,1,CloseSession,,,\n"
	    "2026-03-01T08:00:01.000Z,02,0,10.0.0.1:143,192.0.2.2:1,,1,0,1,OpenSession,,Tls=none,\n"
	    "2026-03-01T08:00:01.100Z,02,1,10.0.0.1:143,192.0.2.2:1,b\xc3\xa9"
	    "a,1,1,1,login,"
	    "b\xc3\xa9"
	    "a *****,R=ok,\n";
	const struct inv_record *r;

	inv_add_text(inv, "IMAP42026030108-1.LOG", 0, EXLOG_PROTO_IMAP4, t);
	cr_assert_eq(inventory_finish(inv), 0);
	cr_assert_eq(inventory_summary(inv)->rows, 7);
	cr_assert_eq(inventory_summary(inv)->rows_bad, 0);
	r = find_rec(inv, "b\\xe9a\\x80\\xc0\\xaf", NULL);
	cr_assert_not_null(r);
	cr_assert_eq(r->sessions, 1);
	r = find_rec(inv,
	    "b\xc3\xa9"
	    "a",
	    NULL);
	cr_assert_not_null(r);
	cr_assert_eq(r->sessions, 1);
	inventory_free(inv);

	o = opts(INV_BY_SOFTWARE);
	inv = inventory_new(&o);
	inv_add_text(inv, "IMAP42026030108-1.LOG", 0, EXLOG_PROTO_IMAP4, t);
	cr_assert_eq(inventory_finish(inv), 0);
	cr_assert_not_null(find_rec(inv, "Mutt\\xf5\\x80 2", NULL));
	inventory_free(inv);
}

/* postern's logs of a migration: the routed IMAP4 and POP3 files (ex1),
 * and a file from before routing (ex2). */
static struct inventory *
routed(struct inv_options o)
{
	struct inventory *inv = inventory_new(&o);

	cr_assert_not_null(inv);
	inv_add_text(inv, "ex1/" FX_ROUTED_IMAP_NAME, 0, EXLOG_PROTO_IMAP4,
	    fx_routed_imap);
	inv_add_text(inv, "ex1/" FX_ROUTED_POP3_NAME, 0, EXLOG_PROTO_POP3,
	    fx_routed_pop3);
	cr_assert_eq(inventory_finish(inv), 0);
	return inv;
}

static bool
sample_has(const char *const *sample, const char *name)
{
	for (int i = 0; i < INV_SAMPLES && sample[i] != NULL; i++)
		if (strcmp(sample[i], name) == 0)
			return true;
	return false;
}

Test(inventory, by_backend_from_the_backend_key)
{
	struct inventory *inv = routed(opts(INV_BY_BACKEND));
	const struct inv_summary *sum = inventory_summary(inv);
	const struct inv_record *const *recs;
	const struct inv_record *r;
	size_t n = inventory_records(inv, &recs);

	/* One line per backend; would-break first, then by sessions. */
	cr_assert_eq(n, 3);
	cr_assert_str_eq(recs[0]->key, "new");
	cr_assert_str_eq(recs[1]->key, "old");
	cr_assert_str_eq(recs[2]->key, "default");
	cr_assert_null(recs[0]->key2);

	/* amy twice from one address (once as AMY), ben over POP3. */
	r = recs[0];
	cr_assert_eq(r->sessions, 3);
	cr_assert_eq(r->protocols, INV_POP3 | INV_IMAP4);
	cr_assert_eq(r->logins_ok, 3);
	cr_assert_eq(r->cleartext_ok, 2);
	cr_assert_eq(r->implicit_ok, 1);
	cr_assert(inv_record_would_break(r));
	cr_assert_eq(r->nrelated, 2, "users %llu",
	    (unsigned long long)r->nrelated);
	cr_assert(sample_has(r->related, "amy"));
	cr_assert(sample_has(r->related, "ben@example.net"));
	cr_assert_eq(r->nrelated2, 2);
	cr_assert_str_eq(r->related2[0], "192.0.2.40");
	cr_assert_str_eq(r->related2[1], "192.0.2.45");
	cr_assert_eq(r->first_ms, at("2026-03-04T08:00:00.000Z"));
	cr_assert_eq(r->last_ms, at("2026-03-04T13:00:00.200Z"));

	/* dan from two addresses over both protocols; the refused login
	 * went to the backend too. */
	r = recs[1];
	cr_assert_eq(r->sessions, 3);
	cr_assert_eq(r->logins_ok, 3);
	cr_assert_eq(r->logins_failed, 1);
	cr_assert_eq(r->cleartext_ok, 1);
	cr_assert_eq(r->cleartext_failed, 0);
	cr_assert_eq(r->implicit_ok, 1);
	cr_assert_eq(r->starttls_ok, 1);
	cr_assert_eq(r->pop3_dele_sessions, 1);
	cr_assert_eq(r->nrelated, 1);
	cr_assert_str_eq(r->related[0], "dan");
	cr_assert_eq(r->nrelated2, 2);
	cr_assert_str_eq(r->related2[0], "192.0.2.41");
	cr_assert_str_eq(r->related2[1], "192.0.2.42");
	cr_assert_eq(r->nports, 3); /* 110, 143, 993 */

	r = recs[2];
	cr_assert_eq(r->sessions, 1);
	cr_assert_eq(r->protocols, INV_POP3);
	cr_assert_str_eq(r->related[0], "cat");

	/* The session refused by an access rule and the one that never
	 * logged in reached no backend: in the summary, not in a line. */
	cr_assert_eq(sum->sessions, 9);
	cr_assert_eq(sum->sessions_no_backend, 2);
	cr_assert_eq(sum->records, 3);
	cr_assert_eq(sum->clients, 7);
	cr_assert_eq(sum->users, 5); /* amy, ben, cat, dan, eve */
	inventory_free(inv);
}

Test(inventory, by_backend_and_user_pairs)
{
	struct inventory *inv = routed(opts(INV_BY_BACKEND_USER));
	const struct inv_record *r;

	cr_assert_eq(inventory_summary(inv)->records, 4);
	r = find_rec(inv, "new", "amy");
	cr_assert_not_null(r);
	cr_assert_eq(r->sessions, 2);
	cr_assert_eq(r->cleartext_ok, 2);
	cr_assert_eq(r->nrelated, 1); /* the clients, one address */
	cr_assert_str_eq(r->related[0], "192.0.2.40");
	cr_assert_eq(r->nrelated2, 0);
	cr_assert_null(find_rec(inv, "new", "AMY"));
	r = find_rec(inv, "old", "dan");
	cr_assert_not_null(r);
	cr_assert_eq(r->sessions, 3);
	cr_assert_eq(r->protocols, INV_POP3 | INV_IMAP4);
	cr_assert_eq(r->nrelated, 2);
	cr_assert_not_null(find_rec(inv, "new", "ben@example.net"));
	cr_assert_not_null(find_rec(inv, "default", "cat"));
	cr_assert_null(find_rec(inv, "", "eve"));
	inventory_free(inv);
}

/*
 * Logs written before routing name no backend: the address of
 * Msg=Proxy:<host>:<port>:<enc> stands for it, an IPv6 host in brackets.
 */
Test(inventory, by_backend_of_older_logs_is_the_proxy_address)
{
	struct inv_options o = opts(INV_BY_BACKEND);
	struct inventory *inv = inventory_new(&o);
	const struct inv_record *r;

	inv_add_text(inv, "ex2/" FX_OLD_POSTERN_NAME, 1, EXLOG_PROTO_IMAP4,
	    fx_old_postern_imap);
	cr_assert_eq(inventory_finish(inv), 0);
	cr_assert_eq(inventory_summary(inv)->records, 2);
	r = find_rec(inv, "mail.example.org:143", NULL);
	cr_assert_not_null(r);
	cr_assert_eq(r->cleartext_ok, 1);
	cr_assert_str_eq(r->related[0], "carol");
	cr_assert_str_eq(r->related2[0], "198.51.100.20");
	r = find_rec(inv, "[2001:db8::25]:993", NULL);
	cr_assert_not_null(r);
	cr_assert_eq(r->implicit_ok, 1);
	/* frank was refused by postern itself (LoginTypeDenied). */
	cr_assert_eq(inventory_summary(inv)->sessions_no_backend, 1);
	cr_assert_eq(inventory_summary(inv)->sessions, 3);
	inventory_free(inv);
}

/*
 * Exchange names a backend only where its front end proxied a login
 * (Msg=Proxy:...); its other logins, refused or not, went somewhere the
 * log does not say.
 */
Test(inventory, by_backend_of_exchange_logs)
{
	struct inventory *inv = fixture(opts(INV_BY_BACKEND));
	const struct inv_record *r;
	char path[4096], *text;
	size_t len;

	r = find_rec(inv, "mail:110", NULL);
	cr_assert_not_null(r);
	cr_assert_eq(r->sessions, 1);
	cr_assert_str_eq(r->related[0], "alice");
	r = find_rec(inv, INV_BACKEND_UNKNOWN, NULL);
	cr_assert_not_null(r);
	/* Every fixture session but alice's first logs in somewhere. */
	cr_assert_eq(r->sessions, 8);
	cr_assert_eq(r->logins_failed, 1); /* mallory */
	cr_assert_eq(inventory_summary(inv)->records, 2);
	cr_assert_eq(inventory_summary(inv)->sessions_no_backend, 0);
	inventory_free(inv);

	/* A real Exchange 2013 front end: the probe's refused login names
	 * the back end it was proxied to; sessions without a login do not
	 * count. */
	struct inv_options o = opts(INV_BY_BACKEND);

	inv = inventory_new(&o);
	snprintf(path, sizeof(path), "%s/%s", samples_dir(),
	    "msqa-1156767__IMAP4-frontend-Exchange2013CU23.log");
	text = slurp(path, &len);
	inv_add_text(inv, path, 0, EXLOG_PROTO_UNKNOWN, text);
	free(text);
	cr_assert_eq(inventory_finish(inv), 0);
	r = find_rec(inv, "<CAS FQDN>:1993", NULL);
	cr_assert_not_null(r);
	cr_assert_eq(r->logins_failed, r->sessions);
	cr_assert_geq(r->sessions, 1);
	cr_assert_eq(inventory_summary(inv)->sessions,
	    r->sessions + inventory_summary(inv)->sessions_no_backend);
	inventory_free(inv);
}

/* What a Msg=Proxy value gives, and what it does not. */
Test(inventory, by_backend_msg_proxy_forms)
{
	static const struct {
		const char *ctx, *want; /* want NULL: no backend */
	} cases[] = {
	    {"\"R=ok;Msg=\"\"Proxy:b1:143:Plaintext;ProxySuccess\"\"\"",
		"b1:143"},
	    {"\"R=ok;Msg=\"\"Proxy:[2001:db8::1]:993:SSL;ProxySuccess\"\"\"",
		"[2001:db8::1]:993"},
	    {"R=ok;Msg=Proxy:::1:143:TLS", "[::1]:143"},
	    /* The key wins over the address. */
	    {"\"R=ok;Msg=\"\"Proxy:b1:143:Plaintext\"\";Backend=new\"", "new"},
	    /* Another message first, then the proxy's. */
	    {"\"R=ok;Msg=\"\"Hello;Proxy:b2:110:TLS\"\"\"", "b2:110"},
	    /* Not an address: a success without one is (unknown). */
	    {"R=ok;Msg=ProxySuccess", INV_BACKEND_UNKNOWN},
	    {"R=ok;Msg=Proxy:b1:port:SSL", INV_BACKEND_UNKNOWN},
	    {"R=ok;Msg=Proxy::143:SSL", INV_BACKEND_UNKNOWN},
	    {"R=ok;Msg=Proxy:b1:1234567:SSL", INV_BACKEND_UNKNOWN},
	    {"R=ok;Backend=", INV_BACKEND_UNKNOWN},
	    /* postern's refusal (the Tls key) reached no backend. */
	    {"R=no;Tls=none;ErrMsg=Throttled", NULL},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct inv_options o = opts(INV_BY_BACKEND);
		struct inventory *inv = inventory_new(&o);
		const struct inv_record *const *recs;
		char text[512];

		snprintf(text, sizeof(text),
		    "2026-03-01T08:00:00.000Z,01,0,10.0.0.1:143,192.0.2.1:1,,1,0,1,OpenSession,,,\n"
		    "2026-03-01T08:00:00.100Z,01,1,10.0.0.1:143,192.0.2.1:1,u,1,1,1,login,u *****,%s,\n",
		    cases[i].ctx);
		inv_add_text(inv, "IMAP42026030108-1.LOG", 0, EXLOG_PROTO_IMAP4,
		    text);
		cr_assert_eq(inventory_finish(inv), 0);
		if (cases[i].want == NULL) {
			cr_assert_eq(inventory_records(inv, &recs), 0, "%s",
			    cases[i].ctx);
			cr_assert_eq(
			    inventory_summary(inv)->sessions_no_backend, 1);
		} else {
			cr_assert_eq(inventory_records(inv, &recs), 1, "%s",
			    cases[i].ctx);
			cr_assert_str_eq(recs[0]->key, cases[i].want, "%s",
			    cases[i].ctx);
		}
		inventory_free(inv);
	}
}

Test(inventory, parse_by_names)
{
	enum inv_by by;

	cr_assert_eq(inventory_parse_by("backend", &by), 0);
	cr_assert_eq(by, INV_BY_BACKEND);
	cr_assert_eq(inventory_parse_by("backend,user", &by), 0);
	cr_assert_eq(by, INV_BY_BACKEND_USER);
	cr_assert_eq(inventory_parse_by("user,backend", &by), 0);
	cr_assert_eq(by, INV_BY_BACKEND_USER);
	cr_assert_eq(inventory_parse_by("backend,client", &by), -1);
	cr_assert_eq(inventory_parse_by("Backend", &by), -1);
}

/* ---- login mechanisms and login types ---- */

/* The mechanism logs of tests/inventory_fixture.h, finished. */
static struct inventory *
mech_fixture(enum inv_by by, enum inv_login_type lt)
{
	struct inv_options o = opts(by);
	struct inventory *inv;

	o.login_type = lt;
	inv = inventory_new(&o);
	cr_assert_not_null(inv);
	inv_add_text(inv, "ex1/" FX_MECH_IMAP_NAME, 0, EXLOG_PROTO_IMAP4,
	    fx_mech_imap);
	inv_add_text(inv, "ex1/" FX_MECH_POP3_NAME, 0, EXLOG_PROTO_POP3,
	    fx_mech_pop3);
	cr_assert_eq(inventory_finish(inv), 0);
	return inv;
}

static unsigned
mbit(enum exlog_mech m)
{
	return 1u << m;
}

Test(inventory, mechanism_per_client_and_user)
{
	struct inventory *inv = mech_fixture(INV_BY_CLIENT, INV_LOGIN_SECURE);
	const struct inv_record *r;
	char buf[128];

	/* Three NTLM rows, one login: the challenge row and the step row
	 * have no outcome. */
	r = find_rec(inv, "192.0.2.51", NULL);
	cr_assert_not_null(r);
	cr_assert_eq(r->mechanisms, mbit(EXLOG_MECH_NTLM));
	cr_assert_eq(r->sessions, 1);
	cr_assert_eq(r->logins_ok, 1);
	cr_assert_eq(r->logins_failed, 0);
	cr_assert_eq(r->cleartext_ok, 1);
	cr_assert_eq(r->cleartext_password_ok, 0);
	cr_assert_str_eq(r->related[0], "ntlmuser");

	r = find_rec(inv, "192.0.2.52", NULL);
	cr_assert_eq(r->mechanisms, mbit(EXLOG_MECH_GSSAPI));
	cr_assert_eq(r->cleartext_password_ok, 0);
	r = find_rec(inv, "192.0.2.53", NULL);
	cr_assert_eq(r->mechanisms, mbit(EXLOG_MECH_XOAUTH2));
	cr_assert_eq(r->cleartext_password_ok, 1);
	r = find_rec(inv, "192.0.2.54", NULL);
	cr_assert_eq(r->mechanisms, mbit(EXLOG_MECH_OAUTHBEARER));
	cr_assert_eq(r->starttls_ok, 1);
	cr_assert_eq(r->cleartext_password_ok, 0);
	r = find_rec(inv, "192.0.2.55", NULL);
	cr_assert_eq(r->mechanisms, mbit(EXLOG_MECH_PLAIN));
	cr_assert_eq(r->implicit_ok, 1);
	r = find_rec(inv, "192.0.2.56", NULL);
	cr_assert_eq(r->mechanisms, mbit(EXLOG_MECH_LOGIN));
	cr_assert_eq(r->cleartext_password_ok, 1);
	/* A refused NTLM, then PLAIN: both are the client's mechanisms,
	 * only the PLAIN login counts against PlainTextAuthentication. */
	r = find_rec(inv, "192.0.2.57", NULL);
	cr_assert_eq(r->mechanisms,
	    mbit(EXLOG_MECH_NTLM) | mbit(EXLOG_MECH_PLAIN));
	cr_assert_eq(r->logins_failed, 1);
	cr_assert_eq(r->logins_ok, 1);
	cr_assert_eq(r->cleartext_password_ok, 1);
	inv_mechanisms_text(r->mechanisms, buf, sizeof(buf), '+');
	cr_assert_str_eq(buf, "PLAIN+NTLM");

	/* postern's POP3 rows: " NTLM" with its space, Tls keys. */
	r = find_rec(inv, "192.0.2.61", NULL);
	cr_assert_eq(r->mechanisms, mbit(EXLOG_MECH_NTLM));
	cr_assert_eq(r->cleartext_ok, 1);
	cr_assert_eq(r->cleartext_password_ok, 0);
	r = find_rec(inv, "192.0.2.62", NULL);
	cr_assert_eq(r->mechanisms, mbit(EXLOG_MECH_XOAUTH2));
	cr_assert_eq(r->cleartext_password_ok, 1);
	r = find_rec(inv, "192.0.2.63", NULL);
	cr_assert_eq(r->mechanisms, mbit(EXLOG_MECH_GSSAPI));
	cr_assert_eq(r->implicit_ok, 1);
	r = find_rec(inv, "192.0.2.64", NULL);
	cr_assert_eq(r->mechanisms, mbit(EXLOG_MECH_USER));
	cr_assert_eq(r->cleartext_password_ok, 1);
	r = find_rec(inv, "192.0.2.65", NULL);
	cr_assert_eq(r->mechanisms, mbit(EXLOG_MECH_NTLM));
	cr_assert_eq(r->logins_failed, 1);
	cr_assert_eq(r->cleartext_failed, 1);
	inv_mechanisms_text(0, buf, sizeof(buf), '+');
	cr_assert_str_eq(buf, "-");
	inventory_free(inv);

	/* The same by user. */
	inv = mech_fixture(INV_BY_USER, INV_LOGIN_SECURE);
	r = find_rec(inv, "ntlmuser", NULL);
	cr_assert_not_null(r);
	cr_assert_eq(r->mechanisms, mbit(EXLOG_MECH_NTLM));
	r = find_rec(inv, "oapop", NULL);
	cr_assert_eq(r->mechanisms, mbit(EXLOG_MECH_XOAUTH2));
	inventory_free(inv);
}

/* The clients that break under a login type, as a sorted list. */
static void
breakers(const struct inventory *inv, enum inv_login_type lt, char *buf,
    size_t cap)
{
	const struct inv_record *const *recs;
	size_t n = inventory_records(inv, &recs), o = 0;
	bool seen_ok = false;

	buf[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (!inv_would_break(recs[i], lt)) {
			seen_ok = true;
			continue;
		}
		/* The ones that would break are listed first. */
		cr_assert_not(seen_ok, "%s after one that would not break",
		    recs[i]->key);
		o += (size_t)snprintf(buf + o, cap - o, "%s%s", o ? " " : "",
		    recs[i]->key + strlen("192.0.2."));
	}
}

Test(inventory, would_break_under_each_login_type)
{
	static const struct {
		enum inv_login_type lt;
		const char *breaks;
		uint64_t clients;
	} c[] = {
	    /* Every login without TLS. */
	    {INV_LOGIN_SECURE, "51 52 53 56 57 61 62 64", 8},
	    /* NTLM and GSSAPI without TLS keep working; bearer tokens are
	     * passwords. */
	    {INV_LOGIN_PLAINTEXT_AUTH, "53 56 57 62 64", 5},
	    {INV_LOGIN_PLAINTEXT_LOGIN, "", 0},
	};

	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		struct inventory *inv = mech_fixture(INV_BY_CLIENT, c[i].lt);
		const struct inv_summary *s = inventory_summary(inv);
		char got[256], sorted[256] = "";
		const char *keys[16];
		size_t nk = 0;
		char *save = NULL, *w;

		breakers(inv, c[i].lt, got, sizeof(got));
		/* The order is by logins refused, then sessions: compare
		 * as sets. */
		for (w = strtok_r(got, " ", &save); w != NULL;
		     w = strtok_r(NULL, " ", &save))
			keys[nk++] = w;
		for (size_t a = 0; a < nk; a++)
			for (size_t b = a + 1; b < nk; b++)
				if (strcmp(keys[b], keys[a]) < 0) {
					const char *t = keys[a];

					keys[a] = keys[b];
					keys[b] = t;
				}
		for (size_t a = 0, o = 0; a < nk; a++)
			o += (size_t)snprintf(sorted + o, sizeof(sorted) - o,
			    "%s%s", a ? " " : "", keys[a]);
		cr_assert_str_eq(sorted, c[i].breaks, "%s",
		    inv_login_type_name(c[i].lt));
		cr_assert_eq(s->clients_would_break, c[i].clients, "%s",
		    inv_login_type_name(c[i].lt));
		cr_assert_eq(s->users_would_break, c[i].clients);
		cr_assert_eq(s->records_would_break, c[i].clients);
		inventory_free(inv);
	}
}

Test(inventory, by_mechanism)
{
	struct inventory *inv =
	    mech_fixture(INV_BY_MECHANISM, INV_LOGIN_PLAINTEXT_AUTH);
	const struct inv_record *r;

	/* A session counts under the mechanism of its last login: 57's
	 * refused NTLM is not an NTLM session. */
	r = find_rec(inv, "NTLM", NULL);
	cr_assert_not_null(r);
	cr_assert_eq(r->sessions, 3); /* 51, 61, 65 */
	cr_assert_eq(r->logins_ok, 2);
	cr_assert_eq(r->logins_failed, 1);
	cr_assert_eq(r->nrelated, 3);  /* users */
	cr_assert_eq(r->nrelated2, 3); /* clients */
	cr_assert_str_eq(r->related2[0], "192.0.2.51");
	cr_assert_not(inv_would_break(r, INV_LOGIN_PLAINTEXT_AUTH));
	cr_assert(inv_would_break(r, INV_LOGIN_SECURE));
	r = find_rec(inv, "PLAIN", NULL);
	cr_assert_eq(r->sessions, 2); /* 55, 57 */
	cr_assert(inv_would_break(r, INV_LOGIN_PLAINTEXT_AUTH));
	r = find_rec(inv, "XOAUTH2", NULL);
	cr_assert_eq(r->sessions, 2);
	cr_assert(inv_would_break(r, INV_LOGIN_PLAINTEXT_AUTH));
	r = find_rec(inv, "GSSAPI", NULL);
	cr_assert_eq(r->sessions, 2);
	cr_assert_not(inv_would_break(r, INV_LOGIN_PLAINTEXT_AUTH));
	cr_assert_not_null(find_rec(inv, "OAUTHBEARER", NULL));
	cr_assert_not_null(find_rec(inv, "USER", NULL));
	cr_assert_not_null(find_rec(inv, "LOGIN", NULL));
	cr_assert_eq(inventory_summary(inv)->records, 7);
	inventory_free(inv);

	/* Sessions without a login have a line of their own. */
	inv = fixture(opts(INV_BY_MECHANISM));
	cr_assert_not_null(find_rec(inv, "USER", NULL));
	inventory_free(inv);
	inv = routed(opts(INV_BY_MECHANISM));
	r = find_rec(inv, INV_MECH_NONE_KEY, NULL);
	cr_assert_not_null(r);
	cr_assert_eq(r->sessions, 1);
	cr_assert_eq(r->logins_ok + r->logins_failed, 0);
	inventory_free(inv);
}

Test(inventory, login_type_and_by_names)
{
	enum inv_login_type lt;
	enum inv_by by;

	cr_assert_eq(inventory_parse_login_type("SecureLogin", &lt), 0);
	cr_assert_eq(lt, INV_LOGIN_SECURE);
	cr_assert_eq(inventory_parse_login_type("plaintextauthentication", &lt),
	    0);
	cr_assert_eq(lt, INV_LOGIN_PLAINTEXT_AUTH);
	cr_assert_eq(inventory_parse_login_type("PlainTextLogin", &lt), 0);
	cr_assert_eq(lt, INV_LOGIN_PLAINTEXT_LOGIN);
	cr_assert_eq(inventory_parse_login_type("Secure", &lt), -1);
	cr_assert_eq(inventory_parse_login_type("", &lt), -1);
	cr_assert_str_eq(inv_login_type_name(INV_LOGIN_PLAINTEXT_AUTH),
	    "PlainTextAuthentication");
	cr_assert_eq(inventory_parse_by("mechanism", &by), 0);
	cr_assert_eq(by, INV_BY_MECHANISM);
	/* Only NTLM and GSSAPI keep the password off the wire. */
	for (int m = EXLOG_MECH_NONE + 1; m < EXLOG_MECH_COUNT; m++)
		cr_assert_eq(inv_mech_plaintextauth_refuses((enum exlog_mech)m),
		    m != EXLOG_MECH_NTLM && m != EXLOG_MECH_GSSAPI, "%s",
		    exlog_mech_name((enum exlog_mech)m));
}

Test(inventory, sasl_data_in_names_is_withheld)
{
	struct inv_options o = opts(INV_BY_CLIENT_USER);
	struct inventory *inv = inventory_new(&o);
	const struct inv_record *const *recs;
	size_t n;

	inv_add_text(inv, "ex1/" FX_MECH_SECRETS_NAME, 0, EXLOG_PROTO_IMAP4,
	    fx_mech_secrets);
	cr_assert_eq(inventory_finish(inv), 0);
	n = inventory_records(inv, &recs);
	cr_assert_eq(n, 3);
	for (size_t i = 0; i < n; i++) {
		cr_assert_null(strstr(recs[i]->key, "TlRMTVNT"));
		cr_assert_null(strstr(recs[i]->key2, "dXNlcj1"));
		cr_assert_null(strstr(recs[i]->key2, "TlRMTVNT"));
		cr_assert_null(strstr(recs[i]->key2, "Bearer"));
	}
	cr_assert_not_null(find_rec(inv, "192.0.2.71", "(withheld)"));
	cr_assert_not_null(find_rec(inv, "192.0.2.72", "(withheld)"));
	cr_assert_not_null(find_rec(inv, "(withheld)", "(withheld)"));
	/* The mechanism is still read: only its first word counts. */
	cr_assert_eq(find_rec(inv, "192.0.2.71", NULL)->mechanisms,
	    mbit(EXLOG_MECH_XOAUTH2));
	cr_assert_eq(find_rec(inv, "192.0.2.72", NULL)->mechanisms,
	    mbit(EXLOG_MECH_NTLM));
	cr_assert_eq(find_rec(inv, "192.0.2.72", NULL)->logins_ok, 1);
	inventory_free(inv);
}

/* Real names stay as they are, however long or odd. */
Test(inventory, ordinary_names_are_not_withheld)
{
	static const char rows[] = FX_HEADER(
	    "IMAP4") "2026-03-07T08:00:00.000Z,0000000000000081,0,10.0.0.1:993,[2001:db8::81]:1,,1,0,53,OpenSession,,,\r\n"
		     "2026-03-07T08:00:00.100Z,0000000000000081,1,10.0.0.1:993,[2001:db8::81]:1,HealthMailboxab28d8826ea8428d805c5e21cdff9077,1,1,1,login,x *****,R=ok,\r\n"
		     "2026-03-07T08:00:00.200Z,0000000000000082,0,10.0.0.1:993,192.0.2.82:1,,1,0,53,OpenSession,,,\r\n"
		     "2026-03-07T08:00:00.300Z,0000000000000082,1,10.0.0.1:993,192.0.2.82:1,domain/Some.Body@sub.example.org,1,1,1,login,x *****,R=ok,\r\n";
	struct inv_options o = opts(INV_BY_USER);
	struct inventory *inv = inventory_new(&o);

	inv_add_text(inv, "ex1/IMAP420260307-1.LOG", 0, EXLOG_PROTO_IMAP4,
	    rows);
	cr_assert_eq(inventory_finish(inv), 0);
	cr_assert_not_null(find_rec(inv,
	    "HealthMailboxab28d8826ea8428d805c5e21cdff9077", NULL));
	cr_assert_not_null(
	    find_rec(inv, "domain/Some.Body@sub.example.org", NULL));
	inventory_free(inv);
}

/*
 * The steps of a SASL exchange are no logins, whatever the challenge
 * happens to begin with: base64 may begin with "NO", and a server may
 * send a bare "+ OK"-looking challenge.  Rows in the shape of
 * crowdsecurity-hub__exchange-imap-logs.log, mechanism and R changed.
 */
Test(inventory, sasl_steps_are_not_logins)
{
	static const char rows[] = FX_HEADER(
	    "IMAP4") "2026-03-08T08:00:00.000Z,0000000000000091,0,10.0.0.1:143,192.0.2.91:1,,1,0,53,OpenSession,,,\r\n"
		     "2026-03-08T08:00:00.100Z,0000000000000091,1,10.0.0.1:143,192.0.2.91:1,,1,20,40,authenticate,GSSAPI,\"R=\"\"+ NOxyzw==\"\"\",\r\n"
		     "2026-03-08T08:00:00.200Z,0000000000000091,2,10.0.0.1:143,192.0.2.91:1,,1,20,40,authenticate,GSSAPI,\"R=\"\"+ OK\"\"\",\r\n"
		     "2026-03-08T08:00:00.300Z,0000000000000091,3,10.0.0.1:143,192.0.2.91:1,,1,20,40,authenticate,GSSAPI,R=+,\r\n"
		     "2026-03-08T08:00:00.400Z,0000000000000091,4,10.0.0.1:143,192.0.2.91:1,krb,1,20,40,authenticate,GSSAPI,\"R=\"\"5 OK AUTHENTICATE completed.\"\"\",\r\n"
		     "2026-03-08T08:00:00.500Z,0000000000000091,5,10.0.0.1:143,192.0.2.91:1,krb,0,0,0,CloseSession,,,\r\n";
	struct inv_options o = opts(INV_BY_CLIENT);
	struct inventory *inv = inventory_new(&o);
	const struct inv_record *r;

	inv_add_text(inv, "ex1/IMAP420260308-1.LOG", 0, EXLOG_PROTO_IMAP4,
	    rows);
	cr_assert_eq(inventory_finish(inv), 0);
	r = find_rec(inv, "192.0.2.91", NULL);
	cr_assert_not_null(r);
	cr_assert_eq(r->logins_ok, 1);
	cr_assert_eq(r->logins_failed, 0);
	cr_assert_eq(r->cleartext_failed, 0);
	cr_assert_eq(r->mechanisms, mbit(EXLOG_MECH_GSSAPI));
	inventory_free(inv);
}
