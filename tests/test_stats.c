/*
 * Tests of the stats module: the text of /metrics, its escaping, the
 * JSON strings of /sessions, and counting while another thread reads.
 */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <event2/buffer.h>

#include "proto.h"
#include "server.h"
#include "session.h"
#include "stats.h"

/* The evbuffer's text, NUL-terminated (free it). */
static char *
text_of(struct evbuffer *b)
{
	size_t n = evbuffer_get_length(b);
	char *s = malloc(n + 1);

	cr_assert_not_null(s);
	evbuffer_remove(b, s, n);
	s[n] = '\0';
	return s;
}

static char *
json(const char *s, size_t len)
{
	struct evbuffer *b = evbuffer_new();
	char *t;

	cr_assert_not_null(b);
	stats_json_str(b, s, len);
	t = text_of(b);
	evbuffer_free(b);
	return t;
}

static char *
prom(const char *s, bool label)
{
	struct evbuffer *b = evbuffer_new();
	char *t;

	cr_assert_not_null(b);
	stats_prom_escape(b, s, label);
	t = text_of(b);
	evbuffer_free(b);
	return t;
}

#define EXPECT_JSON(in, len, want)                                             \
	do {                                                                   \
		char *got_ = json((in), (len));                                \
		cr_expect_str_eq(got_, (want), "json of %s", #in);             \
		free(got_);                                                    \
	} while (0)

Test(stats, json_escapes_quotes_backslashes_and_controls)
{
	EXPECT_JSON("alice", 5, "\"alice\"");
	EXPECT_JSON("", 0, "\"\"");
	EXPECT_JSON("a\"b", 3, "\"a\\\"b\"");
	EXPECT_JSON("EXAMPLE\\bob", 11, "\"EXAMPLE\\\\bob\"");
	EXPECT_JSON("a\nb\rc\td", 7, "\"a\\nb\\rc\\td\"");
	EXPECT_JSON("\x01\x1b[31m\x7f", 7, "\"\\u0001\\u001b[31m\\u007f\"");
	/* A NUL inside the given length is a control byte like the others. */
	EXPECT_JSON("a\0b", 3, "\"a\\u0000b\"");
}

Test(stats, json_keeps_utf8_and_marks_other_bytes)
{
	EXPECT_JSON("j\xc3\xbcrgen", 7, "\"j\xc3\xbcrgen\"");
	EXPECT_JSON("\xe2\x82\xac\xf0\x9f\x93\xa7", 7,
	    "\"\xe2\x82\xac\xf0\x9f\x93\xa7\"");
	/* Latin-1, a lone continuation byte, an overlong '/', a surrogate,
	 * a sequence cut short: each byte as the text \xNN. */
	EXPECT_JSON("j\xfcrgen", 6, "\"j\\\\xfcrgen\"");
	EXPECT_JSON("\x80", 1, "\"\\\\x80\"");
	EXPECT_JSON("\xc0\xaf", 2, "\"\\\\xc0\\\\xaf\"");
	EXPECT_JSON("\xed\xa0\x80", 3, "\"\\\\xed\\\\xa0\\\\x80\"");
	EXPECT_JSON("a\xe2\x82", 3, "\"a\\\\xe2\\\\x82\"");
}

Test(stats, prometheus_label_escaping)
{
	char *t;

	t = prom("a\\b\"c\nd", true);
	cr_expect_str_eq(t, "a\\\\b\\\"c\\nd");
	free(t);
	/* HELP text: quotes stay. */
	t = prom("a\\b\"c\nd", false);
	cr_expect_str_eq(t, "a\\\\b\"c\\nd");
	free(t);
	/* Label values must be UTF-8: other bytes become U+FFFD. */
	t = prom("r\xfc"
		 "le\xe2\x82\xac",
	    true);
	cr_expect_str_eq(t, "r\xef\xbf\xbdle\xe2\x82\xac");
	free(t);
}

/* The totals below, as /metrics writes them. */
static char *
metrics(struct stats_totals *t)
{
	struct evbuffer *b = evbuffer_new();
	char *s;

	cr_assert_not_null(b);
	stats_format_metrics(t, b);
	s = text_of(b);
	evbuffer_free(b);
	return s;
}

static struct stats_totals *
totals(void)
{
	static uint64_t ws[2] = {3, 1}, wc[2] = {10, 7};
	struct stats_totals *t = calloc(1, sizeof(*t));

	cr_assert_not_null(t);
	t->nworkers = 2;
	t->worker_sessions = ws;
	t->worker_connections = wc;
	t->nlisteners = 2;
	t->listener[0].proto = PROTO_IMAP;
	snprintf(t->listener[0].addr, sizeof(t->listener[0].addr),
	    "127.0.0.1:143");
	t->listener[0].connections = 12;
	t->listener[0].active = 4;
	t->listener[1].proto = PROTO_POP3;
	t->listener[1].implicit_tls = true;
	snprintf(t->listener[1].addr, sizeof(t->listener[1].addr), "[::1]:995");
	t->listener[1].connections = 5;
	t->logins[PROTO_IMAP][STATS_LOGIN_OK] = 9;
	t->logins[PROTO_IMAP][STATS_LOGIN_FAILED] = 2;
	t->refused[PROTO_POP3][STATS_REFUSED_THROTTLE] = 6;
	t->nrules = 1;
	snprintf(t->rule[0].name, sizeof(t->rule[0].name),
	    "no \"guests\"\\\nplease");
	t->rule[0].refused = 4;
	t->nbackends = 1;
	snprintf(t->backend[0].addr, sizeof(t->backend[0].addr),
	    "mail.example.org:143");
	t->backend[0].connects = 11;
	t->backend[0].failures[2] = 1;                  /* connect */
	t->backend[0].login.bucket[0] = 3;              /* up to 1 ms */
	t->backend[0].login.bucket[3] = 5;              /* 5-10 ms */
	t->backend[0].login.bucket[STATS_NBUCKETS] = 2; /* above 10 s */
	t->backend[0].login.sum_us = 25000123;
	t->backend[0].login.count = 10;
	t->protolog_written = 77;
	t->protolog_dropped = 1;
	return t;
}

Test(stats, metrics_families_exact_text)
{
	struct stats_totals *t = totals();
	char *s = metrics(t);

	cr_expect_not_null(
	    strstr(s,
		"# HELP postern_connections_total Connections accepted, by "
		"listener.\n"
		"# TYPE postern_connections_total counter\n"
		"postern_connections_total{protocol=\"imap\",listener=\"127.0.0.1:"
		"143\",tls=\"plain\"} 12\n"
		"postern_connections_total{protocol=\"pop3\",listener=\"[::1]:995\","
		"tls=\"implicit\"} 5\n"
		"# HELP postern_sessions_active "),
	    "%s", s);
	cr_expect_not_null(
	    strstr(s, "# TYPE postern_worker_sessions_active gauge\n"
		      "postern_worker_sessions_active{worker=\"0\"} 3\n"
		      "postern_worker_sessions_active{worker=\"1\"} 1\n"),
	    "%s", s);
	cr_expect_not_null(
	    strstr(s,
		"# TYPE postern_logins_total counter\n"
		"postern_logins_total{protocol=\"pop3\",result=\"ok\"} 0\n"
		"postern_logins_total{protocol=\"pop3\",result=\"failed\"} 0\n"
		"postern_logins_total{protocol=\"pop3\",result=\"tempfail\"} 0\n"
		"postern_logins_total{protocol=\"imap\",result=\"ok\"} 9\n"
		"postern_logins_total{protocol=\"imap\",result=\"failed\"} 2\n"
		"postern_logins_total{protocol=\"imap\",result=\"tempfail\"} 0\n"),
	    "%s", s);
	cr_expect_not_null(
	    strstr(s, "postern_logins_refused_total{protocol=\"pop3\",reason="
		      "\"throttle\"} 6\n"),
	    "%s", s);
	cr_expect_not_null(
	    strstr(s,
		"# TYPE postern_rule_refusals_total counter\n"
		"postern_rule_refusals_total{rule=\"no \\\"guests\\\"\\\\\\n"
		"please\"} 4\n"),
	    "%s", s);
	cr_expect_not_null(
	    strstr(s,
		"# TYPE postern_backend_login_duration_seconds histogram\n"
		"postern_backend_login_duration_seconds_bucket{backend=\"mail."
		"example.org:143\",le=\"0.001\"} 3\n"
		"postern_backend_login_duration_seconds_bucket{backend=\"mail."
		"example.org:143\",le=\"0.0025\"} 3\n"
		"postern_backend_login_duration_seconds_bucket{backend=\"mail."
		"example.org:143\",le=\"0.005\"} 3\n"
		"postern_backend_login_duration_seconds_bucket{backend=\"mail."
		"example.org:143\",le=\"0.01\"} 8\n"),
	    "%s", s);
	cr_expect_not_null(
	    strstr(s,
		"postern_backend_login_duration_seconds_bucket{backend=\"mail."
		"example.org:143\",le=\"10\"} 8\n"
		"postern_backend_login_duration_seconds_bucket{backend=\"mail."
		"example.org:143\",le=\"+Inf\"} 10\n"
		"postern_backend_login_duration_seconds_sum{backend=\"mail."
		"example.org:143\"} 25.000123\n"
		"postern_backend_login_duration_seconds_count{backend=\"mail."
		"example.org:143\"} 10\n"),
	    "%s", s);
	cr_expect_not_null(
	    strstr(s,
		"postern_backend_failures_total{backend=\"mail.example.org:143\","
		"reason=\"connect\"} 1\n"),
	    "%s", s);
	cr_expect_not_null(strstr(s,
			       "# TYPE postern_ldap_cache_hits_total counter\n"
			       "postern_ldap_cache_hits_total 0\n"),
	    "%s", s);
	cr_expect_not_null(
	    strstr(s,
		"postern_ldap_lookup_duration_seconds_bucket{le=\"+Inf\"} 0\n"
		"postern_ldap_lookup_duration_seconds_sum 0\n"
		"postern_ldap_lookup_duration_seconds_count 0\n"),
	    "%s", s);
	cr_expect_not_null(
	    strstr(s,
		"postern_protolog_rows_written_total 77\n"
		"# HELP postern_protolog_rows_lost_total Protocol-log rows lost, "
		"by reason.\n"
		"# TYPE postern_protolog_rows_lost_total counter\n"
		"postern_protolog_rows_lost_total{reason=\"queue_full\"} 1\n"
		"postern_protolog_rows_lost_total{reason=\"write_error\"} 0\n"),
	    "%s", s);
	free(s);
	free(t);
}

/*
 * Every sample follows the HELP and TYPE of its family, named as the
 * family or, for a histogram, with _bucket, _sum or _count after it.
 */
Test(stats, metrics_every_sample_has_its_family)
{
	struct stats_totals *t = totals();
	char *s = metrics(t), *line, *save = NULL;
	char family[128] = "", type[32] = "", help[128] = "";
	unsigned samples = 0;

	for (line = strtok_r(s, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		size_t n, flen = strlen(family);
		const char *rest;
		bool ok;

		if (strncmp(line, "# HELP ", 7) == 0) {
			n = strcspn(line + 7, " ");
			snprintf(help, sizeof(help), "%.*s", (int)n, line + 7);
			continue;
		}
		if (strncmp(line, "# TYPE ", 7) == 0) {
			n = strcspn(line + 7, " ");
			snprintf(family, sizeof(family), "%.*s", (int)n,
			    line + 7);
			snprintf(type, sizeof(type), "%s", line + 8 + n);
			cr_expect_str_eq(help, family, "HELP before TYPE");
			cr_expect(strncmp(family, "postern_", 8) == 0, "%s",
			    family);
			cr_expect(strcmp(type, "counter") != 0 ||
				      strcmp(family + strlen(family) - 6,
					  "_total") == 0,
			    "counter %s without _total", family);
			continue;
		}
		n = strcspn(line, "{ ");
		rest = line + flen;
		ok = flen > 0 && strncmp(line, family, flen) == 0 &&
		     (n == flen ||
			 (strcmp(type, "histogram") == 0 &&
			     ((n == flen + 7 &&
				  strncmp(rest, "_bucket", 7) == 0) ||
				 (n == flen + 4 &&
				     strncmp(rest, "_sum", 4) == 0) ||
				 (n == flen + 6 &&
				     strncmp(rest, "_count", 6) == 0))));
		cr_expect(ok, "sample '%s' outside its family '%s'", line,
		    family);
		samples++;
	}
	cr_expect_gt(samples, 50);
	free(s);
	free(t);
}

/*
 * Two workers count while another thread sums: the sum ends exact, and
 * under ThreadSanitizer (tests/tsanrun) the reads across threads must
 * raise no report.
 */
#define COUNTS 200000

struct counting {
	struct worker w;
	struct stats_sess s;
};

static void *
count_logins(void *arg)
{
	struct counting *c = arg;

	for (int i = 0; i < COUNTS; i++) {
		stats_login_ok(&c->s);
		stats_relayed(&c->s, 3, 5);
	}
	return NULL;
}

Test(stats, counters_summed_while_workers_count)
{
	static struct counting c[2];
	struct stats_totals *t = calloc(1, sizeof(*t));
	pthread_t th[2];
	uint64_t last = 0;

	cr_assert_not_null(t);
	cr_assert_eq(stats_counters_init(2), 0);
	for (unsigned i = 0; i < 2; i++) {
		c[i].w.index = i;
		stats_session_open(&c[i].s, &c[i].w, PROTO_IMAP);
	}
	for (unsigned i = 0; i < 2; i++)
		cr_assert_eq(pthread_create(&th[i], NULL, count_logins, &c[i]),
		    0);
	/* Sums taken meanwhile only grow. */
	for (int k = 0; k < 50; k++) {
		cr_assert_eq(stats_totals_get(t), 0);
		cr_expect_geq(t->logins[PROTO_IMAP][STATS_LOGIN_OK], last);
		last = t->logins[PROTO_IMAP][STATS_LOGIN_OK];
		stats_totals_free(t);
	}
	for (unsigned i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	cr_assert_eq(stats_totals_get(t), 0);
	cr_expect_eq(t->logins[PROTO_IMAP][STATS_LOGIN_OK], 2 * COUNTS);
	cr_expect_eq(t->bytes_in[PROTO_IMAP], 2 * 3 * (uint64_t)COUNTS);
	cr_expect_eq(t->bytes_out[PROTO_IMAP], 2 * 5 * (uint64_t)COUNTS);
	cr_expect_eq(t->logins[PROTO_POP3][STATS_LOGIN_OK], 0);
	stats_totals_free(t);
	free(t);
	stats_counters_free();
}
