/*
 * stats: the counters, their labels, and their text for /metrics.
 *
 * See stats.h for who writes what.  A worker's counters are written by
 * that worker alone, with relaxed atomic loads and stores (no locked
 * instruction); the HTTP thread's relaxed loads of them are then free of
 * data races, and a sum may be a few increments behind, which a scrape
 * never notices.
 */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>

#include "backend.h"
#include "listener.h"
#include "log.h"
#include "policy.h"
#include "proto.h"
#include "protolog.h"
#include "stats.h"
#include "utf8.h"
#include "worker.h"

typedef _Atomic uint64_t counter;

/* A rule's name is never cut in /metrics. */
_Static_assert(sizeof(((struct stats_totals *)0)->rule[0].name) >
		   POLICY_RULE_NAME_MAX,
    "room for a rule's name");

const uint64_t stats_bucket_us[STATS_NBUCKETS] = {1000, 2500, 5000, 10000,
    25000, 50000, 100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000};

/* One worker's counters; its thread is the only writer. */
struct stats_worker {
	counter sessions;
	counter connections;
	counter l_conn[STATS_MAX_LISTENERS];
	counter l_active[STATS_MAX_LISTENERS];
	counter logins[PROTO_COUNT][STATS_LOGIN_N];
	counter refused[PROTO_COUNT][STATS_REFUSED_N];
	counter conn_refused[PROTO_COUNT][STATS_CONN_N];
	counter audits[PROTO_COUNT][STATS_AUDIT_N];
	counter tls_ok[PROTO_COUNT][STATS_TLS_N];
	counter tls_failed[PROTO_COUNT][STATS_TLS_N];
	counter bytes_in[PROTO_COUNT];
	counter bytes_out[PROTO_COUNT];
	counter rule_refused[STATS_MAX_RULES];
	counter b_connects[STATS_MAX_BACKENDS];
	counter b_tls[STATS_MAX_BACKENDS][2]; /* full, resumed */
	counter b_failures[STATS_MAX_BACKENDS][STATS_BACKEND_FAILURES];
	counter b_bucket[STATS_MAX_BACKENDS][STATS_NBUCKETS + 1];
	counter b_sum[STATS_MAX_BACKENDS];
	counter b_count[STATS_MAX_BACKENDS];

	/* The worker's own, never read by another thread. */
	uint16_t accepting; /* the listener whose connection is accepted */
} __attribute__((aligned(64)));

/* What threads other than the workers count: shared, atomic additions. */
static struct {
	counter ok, failed, down;
	counter hits, misses;
	counter bucket[STATS_NBUCKETS + 1];
	counter sum, count;
} ldap;

static struct stats_worker *sws; /* NULL: not counting */
static unsigned nsws;
static atomic_bool ldap_counting;

/*
 * A table of labels: slots handed out once and never taken back, so that
 * a counter keeps its label for the life of the process.  Readers scan
 * the first n without a lock (n is published after the slot is written);
 * a new label is added under the lock.  The last slot is "other", for
 * labels beyond the table's room.
 */
struct label {
	char name[300];
	int proto;
	bool flag;
};

struct label_table {
	pthread_mutex_t mu;
	atomic_size_t n;
	size_t cap;
	struct label *v;
};

static struct label listener_v[STATS_MAX_LISTENERS];
static struct label backend_v[STATS_MAX_BACKENDS];
static struct label rule_v[STATS_MAX_RULES];
static struct label_table listeners = {PTHREAD_MUTEX_INITIALIZER, 0,
    STATS_MAX_LISTENERS, listener_v};
static struct label_table backends = {PTHREAD_MUTEX_INITIALIZER, 0,
    STATS_MAX_BACKENDS, backend_v};
static struct label_table rules = {PTHREAD_MUTEX_INITIALIZER, 0,
    STATS_MAX_RULES, rule_v};

static bool
label_is(const struct label *lb, const char *name, int proto, bool flag)
{
	return lb->proto == proto && lb->flag == flag &&
	       strncmp(lb->name, name, sizeof(lb->name) - 1) == 0;
}

static uint16_t
label_slot(struct label_table *t, const char *name, int proto, bool flag)
{
	size_t n = atomic_load_explicit(&t->n, memory_order_acquire), i;

	for (i = 0; i < n; i++)
		if (label_is(&t->v[i], name, proto, flag))
			return (uint16_t)i;
	pthread_mutex_lock(&t->mu);
	n = atomic_load_explicit(&t->n, memory_order_relaxed);
	for (i = 0; i < n; i++)
		if (label_is(&t->v[i], name, proto, flag))
			break;
	if (i == n && n < t->cap - 1) {
		snprintf(t->v[n].name, sizeof(t->v[n].name), "%s", name);
		t->v[n].proto = proto;
		t->v[n].flag = flag;
		atomic_store_explicit(&t->n, n + 1, memory_order_release);
	} else if (i == n)
		i = t->cap - 1;
	pthread_mutex_unlock(&t->mu);
	return (uint16_t)i;
}

/* The owner's increment: a plain add, since no other thread writes. */
static inline void
bump(counter *c, uint64_t n)
{
	atomic_store_explicit(c,
	    atomic_load_explicit(c, memory_order_relaxed) + n,
	    memory_order_relaxed);
}

static inline uint64_t
rd(counter *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

static inline struct stats_worker *
sw_of(const struct worker *w)
{
	return sws != NULL && w->index < nsws ? &sws[w->index] : NULL;
}

uint64_t
stats_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static unsigned
bucket_of(uint64_t us)
{
	unsigned b = 0;

	while (b < STATS_NBUCKETS && us > stats_bucket_us[b])
		b++;
	return b;
}

int
stats_counters_init(unsigned nworkers)
{
	size_t size = (size_t)nworkers * sizeof(struct stats_worker);

	/* sizeof is a multiple of the alignment, as aligned_alloc wants. */
	if ((sws = aligned_alloc(64, size)) == NULL)
		return -1;
	memset(sws, 0, size);
	nsws = nworkers;
	snprintf(listener_v[STATS_MAX_LISTENERS - 1].name,
	    sizeof(listener_v[0].name), "other");
	snprintf(backend_v[STATS_MAX_BACKENDS - 1].name,
	    sizeof(backend_v[0].name), "other");
	snprintf(rule_v[STATS_MAX_RULES - 1].name, sizeof(rule_v[0].name),
	    "other");
	atomic_store(&ldap_counting, true);
	return 0;
}

void
stats_counters_free(void)
{
	atomic_store(&ldap_counting, false);
	free(sws);
	sws = NULL;
	nsws = 0;
}

void
stats_accepted(struct worker *w, const struct listener *l)
{
	struct stats_worker *sw = sw_of(w);

	if (sw == NULL)
		return;
	sw->accepting =
	    label_slot(&listeners, l->addr.str, l->proto, l->implicit_tls);
	bump(&sw->connections, 1);
	bump(&sw->l_conn[sw->accepting], 1);
}

/* The counters of the worker ss's session runs on; NULL when off. */
static struct stats_worker *
sw_at(const struct stats_sess *ss)
{
	return ss->counted && sws != NULL && ss->worker < nsws ?
		   &sws[ss->worker] :
		   NULL;
}

void
stats_session_open(struct stats_sess *ss, const struct worker *w,
    unsigned proto)
{
	struct stats_worker *sw = sw_of(w);

	if (sw == NULL || proto >= PROTO_COUNT)
		return;
	ss->worker = (uint16_t)w->index;
	ss->proto = (uint8_t)proto;
	ss->listener = sw->accepting;
	ss->counted = ss->open = true;
	bump(&sw->sessions, 1);
	bump(&sw->l_active[ss->listener], 1);
}

void
stats_session_close(struct stats_sess *ss)
{
	struct stats_worker *sw = sw_at(ss);

	if (sw == NULL || !ss->open)
		return;
	ss->open = false;
	/* Unsigned wrap-around: minus one. */
	bump(&sw->sessions, UINT64_MAX);
	bump(&sw->l_active[ss->listener], UINT64_MAX);
}

void
stats_tls_done(struct stats_sess *ss, bool implicit, bool ok)
{
	struct stats_worker *sw = sw_at(ss);
	enum stats_tls_mode m =
	    implicit ? STATS_TLS_IMPLICIT : STATS_TLS_STARTTLS;

	if (sw == NULL)
		return;
	if (ok)
		bump(&sw->tls_ok[ss->proto][m], 1);
	else
		bump(&sw->tls_failed[ss->proto][m], 1);
}

static void
rule_refused(struct stats_worker *sw, const char *rule)
{
	if (rule != NULL)
		bump(&sw->rule_refused[label_slot(&rules, rule, 0, false)], 1);
}

void
stats_conn_refused(struct stats_sess *ss, enum stats_conn_refusal r,
    const char *rule)
{
	struct stats_worker *sw = sw_at(ss);

	if (sw == NULL)
		return;
	bump(&sw->conn_refused[ss->proto][r], 1);
	rule_refused(sw, rule);
}

void
stats_conn_limit(struct stats_sess *ss, bool total)
{
	stats_conn_refused(ss,
	    total ? STATS_CONN_MAX_CONNECTIONS : STATS_CONN_PER_IP, NULL);
}

void
stats_refused(struct stats_sess *ss, enum stats_refusal r)
{
	struct stats_worker *sw = sw_at(ss);

	if (sw != NULL)
		bump(&sw->refused[ss->proto][r], 1);
}

void
stats_policy(struct stats_sess *ss, const struct policy_decision *d)
{
	struct stats_worker *sw = sw_at(ss);
	unsigned p = ss->proto;

	if (sw == NULL)
		return;
	if (d->verdict == POLICY_OUTCOME_DENY) {
		switch (d->reason) {
		case POLICY_REASON_LOGIN_TYPE:
			bump(&sw->refused[p][STATS_REFUSED_LOGIN_TYPE], 1);
			break;
		case POLICY_REASON_NOT_IN_GROUP:
			bump(&sw->refused[p][STATS_REFUSED_GROUP], 1);
			break;
		default:
			bump(&sw->refused[p][STATS_REFUSED_RULE], 1);
			rule_refused(sw, d->name);
			break;
		}
	} else if (d->verdict == POLICY_OUTCOME_TEMPFAIL)
		bump(&sw->refused[p][STATS_REFUSED_NO_GROUPS], 1);
	if (d->audit_login_type)
		bump(&sw->audits[p][STATS_AUDIT_LOGIN_TYPE], 1);
	if (d->audit_rule != NULL)
		bump(&sw->audits[p][STATS_AUDIT_RULE], 1);
}

void
stats_backend_start(struct stats_sess *ss)
{
	if (sw_at(ss) != NULL)
		ss->backend_t0 = stats_now_us();
}

void
stats_backend_done(struct stats_sess *ss, const char *backend, int r,
    int failure)
{
	struct stats_worker *sw = sw_at(ss);
	unsigned p = ss->proto;
	unsigned b;
	uint64_t us;

	if (sw == NULL)
		return;
	if (ss->backend_t0 == 0) {
		/* No backend asked: the group lookup failed or took too
		 * long, and the client is told to try later. */
		if (r == BACKEND_BROKEN)
			bump(&sw->logins[p][STATS_LOGIN_TEMPFAIL], 1);
		return;
	}
	us = stats_now_us() - ss->backend_t0;
	ss->backend_t0 = 0;
	b = label_slot(&backends, backend, 0, false);
	bump(&sw->b_connects[b], 1);
	switch (r) {
	case BACKEND_LOGGED_IN:
	case BACKEND_AUTH_FAILED:
		bump(&sw->b_bucket[b][bucket_of(us)], 1);
		bump(&sw->b_sum[b], us);
		bump(&sw->b_count[b], 1);
		if (r == BACKEND_AUTH_FAILED)
			bump(&sw->logins[p][STATS_LOGIN_FAILED], 1);
		break;
	default:
		if (failure >= 0 && failure < STATS_BACKEND_FAILURES)
			bump(&sw->b_failures[b][failure], 1);
		bump(&sw->logins[p][STATS_LOGIN_TEMPFAIL], 1);
		break;
	}
}

void
stats_backend_tls(struct stats_sess *ss, const char *backend, bool resumed)
{
	struct stats_worker *sw = sw_at(ss);

	if (sw != NULL)
		bump(&sw->b_tls[label_slot(&backends, backend, 0, false)]
			       [resumed ? 1 : 0],
		    1);
}

void
stats_login_ok(struct stats_sess *ss)
{
	struct stats_worker *sw = sw_at(ss);

	if (sw != NULL)
		bump(&sw->logins[ss->proto][STATS_LOGIN_OK], 1);
}

void
stats_relayed(struct stats_sess *ss, uint64_t in, uint64_t out)
{
	struct stats_worker *sw = sw_at(ss);

	if (sw == NULL)
		return;
	bump(&sw->bytes_in[ss->proto], in);
	bump(&sw->bytes_out[ss->proto], out);
}

static inline void
add(counter *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

void
stats_ldap_cache(bool hit)
{
	if (!atomic_load_explicit(&ldap_counting, memory_order_relaxed))
		return;
	add(hit ? &ldap.hits : &ldap.misses, 1);
}

void
stats_ldap_query(enum stats_ldap_result res, uint64_t us)
{
	if (!atomic_load_explicit(&ldap_counting, memory_order_relaxed))
		return;
	add(res == STATS_LDAP_OK   ? &ldap.ok :
	    res == STATS_LDAP_DOWN ? &ldap.down :
				     &ldap.failed,
	    1);
	add(&ldap.bucket[bucket_of(us)], 1);
	add(&ldap.sum, us);
	add(&ldap.count, 1);
}

/* Reading. */

static size_t
labels_copy(struct label_table *t, size_t *n)
{
	size_t have = atomic_load_explicit(&t->n, memory_order_acquire);

	/* The "other" slot is shown once the table is full. */
	*n = have == t->cap - 1 ? t->cap : have;
	return have;
}

/* A label into a field of its own size (a rule's name may be cut). */
static void
name_copy(char *dst, size_t cap, const char *src)
{
	size_t n = strnlen(src, cap - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

int
stats_totals_get(struct stats_totals *t)
{
	size_t nl, nb, nr, i;
	struct protolog_stats pst;

	memset(t, 0, sizeof(*t));
	if (sws == NULL)
		return 0;
	t->nworkers = nsws;
	t->worker_sessions = calloc(nsws, sizeof(uint64_t));
	t->worker_connections = calloc(nsws, sizeof(uint64_t));
	if (t->worker_sessions == NULL || t->worker_connections == NULL) {
		stats_totals_free(t);
		return -1;
	}
	labels_copy(&listeners, &nl);
	labels_copy(&backends, &nb);
	labels_copy(&rules, &nr);
	t->nlisteners = nl;
	t->nbackends = nb;
	t->nrules = nr;
	for (i = 0; i < nl; i++) {
		t->listener[i].proto = (enum proto_id)listener_v[i].proto;
		t->listener[i].implicit_tls = listener_v[i].flag;
		name_copy(t->listener[i].addr, sizeof(t->listener[i].addr),
		    listener_v[i].name);
	}
	for (i = 0; i < nb; i++)
		name_copy(t->backend[i].addr, sizeof(t->backend[i].addr),
		    backend_v[i].name);
	for (i = 0; i < nr; i++)
		name_copy(t->rule[i].name, sizeof(t->rule[i].name),
		    rule_v[i].name);
	for (unsigned w = 0; w < nsws; w++) {
		struct stats_worker *sw = &sws[w];

		t->worker_sessions[w] = rd(&sw->sessions);
		t->worker_connections[w] = rd(&sw->connections);
		for (i = 0; i < nl; i++) {
			t->listener[i].connections += rd(&sw->l_conn[i]);
			t->listener[i].active += rd(&sw->l_active[i]);
		}
		for (int p = 0; p < PROTO_COUNT; p++) {
			for (i = 0; i < STATS_LOGIN_N; i++)
				t->logins[p][i] += rd(&sw->logins[p][i]);
			for (i = 0; i < STATS_REFUSED_N; i++)
				t->refused[p][i] += rd(&sw->refused[p][i]);
			for (i = 0; i < STATS_CONN_N; i++)
				t->conn_refused[p][i] +=
				    rd(&sw->conn_refused[p][i]);
			for (i = 0; i < STATS_AUDIT_N; i++)
				t->audits[p][i] += rd(&sw->audits[p][i]);
			for (i = 0; i < STATS_TLS_N; i++) {
				t->tls_ok[p][i] += rd(&sw->tls_ok[p][i]);
				t->tls_failed[p][i] +=
				    rd(&sw->tls_failed[p][i]);
			}
			t->bytes_in[p] += rd(&sw->bytes_in[p]);
			t->bytes_out[p] += rd(&sw->bytes_out[p]);
		}
		for (i = 0; i < nr; i++)
			t->rule[i].refused += rd(&sw->rule_refused[i]);
		for (i = 0; i < nb; i++) {
			t->backend[i].connects += rd(&sw->b_connects[i]);
			t->backend[i].tls_full += rd(&sw->b_tls[i][0]);
			t->backend[i].tls_resumed += rd(&sw->b_tls[i][1]);
			for (size_t f = 0; f < STATS_BACKEND_FAILURES; f++)
				t->backend[i].failures[f] +=
				    rd(&sw->b_failures[i][f]);
			for (size_t k = 0; k <= STATS_NBUCKETS; k++)
				t->backend[i].login.bucket[k] +=
				    rd(&sw->b_bucket[i][k]);
			t->backend[i].login.sum_us += rd(&sw->b_sum[i]);
			t->backend[i].login.count += rd(&sw->b_count[i]);
		}
	}
	t->ldap_lookups_ok = rd(&ldap.ok);
	t->ldap_lookups_failed = rd(&ldap.failed);
	t->ldap_lookups_down = rd(&ldap.down);
	t->ldap_cache_hits = rd(&ldap.hits);
	t->ldap_cache_misses = rd(&ldap.misses);
	for (i = 0; i <= STATS_NBUCKETS; i++)
		t->ldap_latency.bucket[i] = rd(&ldap.bucket[i]);
	t->ldap_latency.sum_us = rd(&ldap.sum);
	t->ldap_latency.count = rd(&ldap.count);
	protolog_get_stats(&pst);
	t->protolog_written = pst.rows_written;
	t->protolog_dropped = pst.rows_dropped;
	t->protolog_failed = pst.rows_failed;
	return 0;
}

void
stats_totals_free(struct stats_totals *t)
{
	free(t->worker_sessions);
	free(t->worker_connections);
	t->worker_sessions = t->worker_connections = NULL;
}

/* The text format. */

void
stats_prom_escape(struct evbuffer *out, const char *s, bool label)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t len = strlen(s), i = 0, n;

	while (i < len) {
		if (u[i] == '\\')
			evbuffer_add(out, "\\\\", 2);
		else if (u[i] == '\n')
			evbuffer_add(out, "\\n", 2);
		else if (u[i] == '"' && label)
			evbuffer_add(out, "\\\"", 2);
		else if ((n = utf8_seq_len(u + i, len - i)) == 0)
			evbuffer_add(out, "\xef\xbf\xbd", 3); /* U+FFFD */
		else {
			evbuffer_add(out, s + i, n);
			i += n;
			continue;
		}
		i++;
	}
}

static void
family(struct evbuffer *o, const char *name, const char *type, const char *help)
{
	evbuffer_add_printf(o, "# HELP %s ", name);
	stats_prom_escape(o, help, false);
	evbuffer_add_printf(o, "\n# TYPE %s %s\n", name, type);
}

/*
 * One sample: name, then labels from lab (name, value pairs ending with
 * NULL), then the value as written in val.
 */
static void
sample_text(struct evbuffer *o, const char *name, const char *const *lab,
    const char *val)
{
	evbuffer_add_printf(o, "%s", name);
	for (size_t i = 0; lab != NULL && lab[i] != NULL; i += 2) {
		evbuffer_add_printf(o, "%s%s=\"", i == 0 ? "{" : ",", lab[i]);
		stats_prom_escape(o, lab[i + 1], true);
		evbuffer_add(o, "\"", 1);
	}
	if (lab != NULL && lab[0] != NULL)
		evbuffer_add(o, "}", 1);
	evbuffer_add_printf(o, " %s\n", val);
}

static void
sample(struct evbuffer *o, const char *name, const char *const *lab, uint64_t v)
{
	char val[24];

	snprintf(val, sizeof(val), "%llu", (unsigned long long)v);
	sample_text(o, name, lab, val);
}

/* Microseconds as seconds, without trailing zeros: "0.0025", "10". */
static void
fmt_seconds(uint64_t us, char *buf, size_t len)
{
	size_t n;

	snprintf(buf, len, "%llu.%06llu", (unsigned long long)(us / 1000000),
	    (unsigned long long)(us % 1000000));
	n = strlen(buf);
	while (n > 0 && buf[n - 1] == '0')
		buf[--n] = '\0';
	if (n > 0 && buf[n - 1] == '.')
		buf[--n] = '\0';
}

/* A histogram's samples; lab holds room for one more pair ("le"). */
static void
histogram(struct evbuffer *o, const char *name, const char **lab, size_t nlab,
    const struct stats_hist *h)
{
	char n[160], le[32];
	uint64_t cum = 0;

	snprintf(n, sizeof(n), "%s_bucket", name);
	for (size_t b = 0; b <= STATS_NBUCKETS; b++) {
		cum += h->bucket[b];
		if (b < STATS_NBUCKETS)
			fmt_seconds(stats_bucket_us[b], le, sizeof(le));
		else
			snprintf(le, sizeof(le), "+Inf");
		lab[nlab] = "le";
		lab[nlab + 1] = le;
		lab[nlab + 2] = NULL;
		sample(o, n, lab, cum);
	}
	lab[nlab] = NULL;
	snprintf(n, sizeof(n), "%s_sum", name);
	fmt_seconds(h->sum_us, le, sizeof(le));
	if (strcmp(le, "0") == 0)
		snprintf(le, sizeof(le), "0");
	sample_text(o, n, lab, le);
	snprintf(n, sizeof(n), "%s_count", name);
	sample(o, n, lab, h->count);
}

static const char *const login_names[STATS_LOGIN_N] = {"ok", "failed",
    "tempfail"};
static const char *const refusal_names[STATS_REFUSED_N] = {"login_type", "rule",
    "group", "groups_unknown", "user_limit", "throttle"};
static const char *const conn_names[STATS_CONN_N] = {"max_connections",
    "max_connection_from_single_ip", "rule"};
static const char *const audit_names[STATS_AUDIT_N] = {"login_type", "rule"};
static const char *const tls_names[STATS_TLS_N] = {"implicit", "starttls"};
static const char *const failure_names[STATS_BACKEND_FAILURES] = {"other",
    "internal", "connect", "tls", "timeout", "closed", "protocol"};

static const char *
pname(int p)
{
	return proto_get((enum proto_id)p)->section;
}

/* A family of counters per protocol and one more label. */
static void
per_proto(struct evbuffer *o, const char *name, const char *help,
    const char *label, const char *const *names, size_t n,
    const uint64_t *v /* [PROTO_COUNT][n] */)
{
	family(o, name, "counter", help);
	for (int p = 0; p < PROTO_COUNT; p++)
		for (size_t i = 0; i < n; i++) {
			const char *lab[] = {"protocol", pname(p), label,
			    names[i], NULL};

			sample(o, name, lab, v[(size_t)p * n + i]);
		}
}

void
stats_format_metrics(const struct stats_totals *t, struct evbuffer *o)
{
	char wbuf[16];
	size_t i;

	family(o, "postern_connections_total", "counter",
	    "Connections accepted, by listener.");
	for (i = 0; i < t->nlisteners; i++) {
		const char *lab[] = {"protocol", pname(t->listener[i].proto),
		    "listener", t->listener[i].addr, "tls",
		    t->listener[i].implicit_tls ? "implicit" : "plain", NULL};

		sample(o, "postern_connections_total", lab,
		    t->listener[i].connections);
	}
	family(o, "postern_sessions_active", "gauge",
	    "Sessions open now, by the listener they came in on.");
	for (i = 0; i < t->nlisteners; i++) {
		const char *lab[] = {"protocol", pname(t->listener[i].proto),
		    "listener", t->listener[i].addr, "tls",
		    t->listener[i].implicit_tls ? "implicit" : "plain", NULL};

		sample(o, "postern_sessions_active", lab,
		    t->listener[i].active);
	}
	family(o, "postern_worker_sessions_active", "gauge",
	    "Sessions open now, by worker thread.");
	for (unsigned w = 0; w < t->nworkers; w++) {
		const char *lab[] = {"worker", wbuf, NULL};

		snprintf(wbuf, sizeof(wbuf), "%u", w);
		sample(o, "postern_worker_sessions_active", lab,
		    t->worker_sessions[w]);
	}
	family(o, "postern_worker_connections_total", "counter",
	    "Connections accepted, by worker thread.");
	for (unsigned w = 0; w < t->nworkers; w++) {
		const char *lab[] = {"worker", wbuf, NULL};

		snprintf(wbuf, sizeof(wbuf), "%u", w);
		sample(o, "postern_worker_connections_total", lab,
		    t->worker_connections[w]);
	}
	per_proto(o, "postern_connections_refused_total",
	    "Connections refused before the greeting, by reason.", "reason",
	    conn_names, STATS_CONN_N, &t->conn_refused[0][0]);
	per_proto(o, "postern_logins_total",
	    "Logins postern let through to the backend, by result: ok "
	    "(relayed), failed (the backend refused the password), tempfail "
	    "(no answer could be had).",
	    "result", login_names, STATS_LOGIN_N, &t->logins[0][0]);
	per_proto(o, "postern_logins_refused_total",
	    "Logins refused by postern without asking the backend, by reason.",
	    "reason", refusal_names, STATS_REFUSED_N, &t->refused[0][0]);
	family(o, "postern_rule_refusals_total", "counter",
	    "Connections and logins refused by an access rule, by rule.");
	for (i = 0; i < t->nrules; i++) {
		const char *lab[] = {"rule", t->rule[i].name, NULL};

		sample(o, "postern_rule_refusals_total", lab,
		    t->rule[i].refused);
	}
	per_proto(o, "postern_audits_total",
	    "Logins an audit would have refused, by what would have refused "
	    "them.",
	    "kind", audit_names, STATS_AUDIT_N, &t->audits[0][0]);
	per_proto(o, "postern_tls_handshakes_total",
	    "Client TLS handshakes completed, by mode.", "mode", tls_names,
	    STATS_TLS_N, &t->tls_ok[0][0]);
	per_proto(o, "postern_tls_handshake_failures_total",
	    "Client TLS handshakes that failed or timed out, by mode.", "mode",
	    tls_names, STATS_TLS_N, &t->tls_failed[0][0]);
	family(o, "postern_relayed_bytes_total", "counter",
	    "Bytes relayed after the login, by direction.");
	for (int p = 0; p < PROTO_COUNT; p++) {
		const char *in[] = {"protocol", pname(p), "direction",
		    "client_to_backend", NULL};
		const char *out[] = {"protocol", pname(p), "direction",
		    "backend_to_client", NULL};

		sample(o, "postern_relayed_bytes_total", in, t->bytes_in[p]);
		sample(o, "postern_relayed_bytes_total", out, t->bytes_out[p]);
	}
	family(o, "postern_backend_connects_total", "counter",
	    "Backend logins started, by backend address.");
	for (i = 0; i < t->nbackends; i++) {
		const char *lab[] = {"backend", t->backend[i].addr, NULL};

		sample(o, "postern_backend_connects_total", lab,
		    t->backend[i].connects);
	}
	family(o, "postern_backend_tls_handshakes_total", "counter",
	    "Backend TLS handshakes completed, by backend address and whether "
	    "an earlier session was resumed.");
	for (i = 0; i < t->nbackends; i++) {
		const char *full[] = {"backend", t->backend[i].addr, "resumed",
		    "no", NULL};
		const char *res[] = {"backend", t->backend[i].addr, "resumed",
		    "yes", NULL};

		if (t->backend[i].tls_full + t->backend[i].tls_resumed == 0)
			continue;
		sample(o, "postern_backend_tls_handshakes_total", full,
		    t->backend[i].tls_full);
		sample(o, "postern_backend_tls_handshakes_total", res,
		    t->backend[i].tls_resumed);
	}
	family(o, "postern_backend_failures_total", "counter",
	    "Backend logins that failed without an answer to the password, "
	    "by backend address and reason.");
	for (i = 0; i < t->nbackends; i++)
		for (size_t f = 0; f < STATS_BACKEND_FAILURES; f++) {
			const char *lab[] = {"backend", t->backend[i].addr,
			    "reason", failure_names[f], NULL};

			sample(o, "postern_backend_failures_total", lab,
			    t->backend[i].failures[f]);
		}
	family(o, "postern_backend_login_duration_seconds", "histogram",
	    "Time from the backend connection's start to the backend's answer "
	    "to the password.");
	for (i = 0; i < t->nbackends; i++) {
		const char *lab[6] = {"backend", t->backend[i].addr, NULL};

		histogram(o, "postern_backend_login_duration_seconds", lab, 2,
		    &t->backend[i].login);
	}
	family(o, "postern_ldap_lookups_total", "counter",
	    "Directory queries for a user's groups, by result.");
	{
		const char *ok[] = {"result", "ok", NULL};
		const char *err[] = {"result", "error", NULL};
		const char *down[] = {"result", "unreachable", NULL};

		sample(o, "postern_ldap_lookups_total", ok, t->ldap_lookups_ok);
		sample(o, "postern_ldap_lookups_total", err,
		    t->ldap_lookups_failed);
		sample(o, "postern_ldap_lookups_total", down,
		    t->ldap_lookups_down);
	}
	family(o, "postern_ldap_cache_hits_total", "counter",
	    "Group lookups answered from the cache.");
	sample(o, "postern_ldap_cache_hits_total", NULL, t->ldap_cache_hits);
	family(o, "postern_ldap_cache_misses_total", "counter",
	    "Group lookups that had to ask the directory.");
	sample(o, "postern_ldap_cache_misses_total", NULL,
	    t->ldap_cache_misses);
	family(o, "postern_ldap_lookup_duration_seconds", "histogram",
	    "Time a directory query took.");
	{
		const char *lab[3] = {NULL};

		histogram(o, "postern_ldap_lookup_duration_seconds", lab, 0,
		    &t->ldap_latency);
	}
	family(o, "postern_protolog_rows_written_total", "counter",
	    "Protocol-log rows written.");
	sample(o, "postern_protolog_rows_written_total", NULL,
	    t->protolog_written);
	family(o, "postern_protolog_rows_lost_total", "counter",
	    "Protocol-log rows lost, by reason.");
	{
		const char *full[] = {"reason", "queue_full", NULL};
		const char *werr[] = {"reason", "write_error", NULL};

		sample(o, "postern_protolog_rows_lost_total", full,
		    t->protolog_dropped);
		sample(o, "postern_protolog_rows_lost_total", werr,
		    t->protolog_failed);
	}
}

void
stats_json_str(struct evbuffer *out, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, n;
	char esc[8];

	evbuffer_add(out, "\"", 1);
	while (i < len) {
		switch (u[i]) {
		case '"':
			evbuffer_add(out, "\\\"", 2);
			i++;
			continue;
		case '\\':
			evbuffer_add(out, "\\\\", 2);
			i++;
			continue;
		case '\n':
			evbuffer_add(out, "\\n", 2);
			i++;
			continue;
		case '\r':
			evbuffer_add(out, "\\r", 2);
			i++;
			continue;
		case '\t':
			evbuffer_add(out, "\\t", 2);
			i++;
			continue;
		default:
			break;
		}
		if (u[i] < 0x20 || u[i] == 0x7f) {
			snprintf(esc, sizeof(esc), "\\u%04x", u[i]);
			evbuffer_add(out, esc, 6);
			i++;
			continue;
		}
		if ((n = utf8_seq_len(u + i, len - i)) == 0) {
			esc[0] = '\\';
			esc[1] = '\\';
			esc[2] = 'x';
			esc[3] = hex[u[i] >> 4];
			esc[4] = hex[u[i] & 0xf];
			evbuffer_add(out, esc, 5);
			i++;
			continue;
		}
		evbuffer_add(out, s + i, n);
		i += n;
	}
	evbuffer_add(out, "\"", 1);
}
