/*
 * stats: what the daemon has done, counted for /metrics; the HTTP server
 * that serves it with /health and /sessions is stats_http.h.
 *
 * Counting costs a few plain additions on the login path: each worker
 * owns one block of counters (struct stats_worker, cache-line aligned so
 * that no two workers write the same line) and is its only writer.  The
 * counters are C11 atomics written with memory_order_relaxed loads and
 * stores, which compile to ordinary moves on every architecture postern
 * runs on, so that the HTTP thread may read them at any time, without a
 * lock and without a data race, and sum them at each scrape.  What other
 * threads count (the LDAP pool) goes into one shared block with relaxed
 * atomic additions.  The labels the counters carry (listeners, backends,
 * rule names) are slots of append-only tables that a worker reads without
 * a lock; a new name takes a lock once.
 *
 * When [stats] listen is not set at start-up, nothing is counted: every
 * call below returns at its first test.
 */
#ifndef POSTERN_STATS_H
#define POSTERN_STATS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "proto_id.h"

struct conf;
struct evbuffer;
struct listener;
struct policy_decision;
struct session;
struct worker;

/*
 * What a session keeps for its counters (in struct session): everything
 * the counting below needs, so that the counters never read the session
 * (the session calls them; they know nothing of it).
 */
struct stats_sess {
	uint16_t worker;     /* index of the worker it runs on */
	uint16_t listener;   /* slot of the listener it came in on */
	uint8_t proto;       /* enum proto_id */
	bool counted;        /* the worker counts (stats are on) */
	bool open;           /* counted in the active sessions */
	uint64_t backend_t0; /* us, monotonic: the backend login's start; 0:
				none under way */
};

/* A login's end as the client sees it, when postern let it through. */
enum stats_login {
	STATS_LOGIN_OK,       /* logged in, relaying */
	STATS_LOGIN_FAILED,   /* the backend refused the password */
	STATS_LOGIN_TEMPFAIL, /* the backend could not be reached or asked */
	STATS_LOGIN_N
};

/* Why postern refused a login without asking the backend. */
enum stats_refusal {
	STATS_REFUSED_LOGIN_TYPE, /* cleartext login without TLS */
	STATS_REFUSED_RULE,       /* an access rule (its name is counted too) */
	STATS_REFUSED_GROUP,      /* not in the protocol's required_group */
	STATS_REFUSED_NO_GROUPS,  /* groups needed but not known: try later */
	STATS_REFUSED_USER_LIMIT, /* max_connections_per_user */
	STATS_REFUSED_THROTTLE,   /* the address or the user is banned */
	STATS_REFUSED_N
};

/* Why a connection was refused before its greeting. */
enum stats_conn_refusal {
	STATS_CONN_MAX_CONNECTIONS, /* max_connections */
	STATS_CONN_PER_IP,          /* max_connection_from_single_ip */
	STATS_CONN_RULE,            /* an access rule at connect */
	STATS_CONN_N
};

/* What an audit would have refused. */
enum stats_audit { STATS_AUDIT_LOGIN_TYPE, STATS_AUDIT_RULE, STATS_AUDIT_N };

/* The client's TLS: implicit on an ssl binding, or after STARTTLS. */
enum stats_tls_mode { STATS_TLS_IMPLICIT, STATS_TLS_STARTTLS, STATS_TLS_N };

/* Backend failures by kind: enum backend_failure's values (backend.h). */
#define STATS_BACKEND_FAILURES 7

/* Label tables: the slots they may hold; the last one is "other". */
#define STATS_MAX_LISTENERS 32
#define STATS_MAX_BACKENDS 16
#define STATS_MAX_RULES 64

/* Latency buckets (upper bounds in us) of the histograms. */
#define STATS_NBUCKETS 13
extern const uint64_t stats_bucket_us[STATS_NBUCKETS];

/* A histogram: counts per bucket (not cumulative), sum and count. */
struct stats_hist {
	uint64_t bucket[STATS_NBUCKETS + 1]; /* the last: above every bound */
	uint64_t sum_us;
	uint64_t count;
};

/*
 * Everything /metrics shows, summed over the workers: what the formatter
 * reads (and what the unit tests fill in by hand).
 */
struct stats_totals {
	unsigned nworkers;
	uint64_t *worker_sessions;    /* [nworkers]: open now */
	uint64_t *worker_connections; /* [nworkers]: accepted */

	size_t nlisteners;
	struct {
		enum proto_id proto;
		bool implicit_tls;
		char addr[64];
		uint64_t connections;
		uint64_t active;
	} listener[STATS_MAX_LISTENERS];

	uint64_t logins[PROTO_COUNT][STATS_LOGIN_N];
	uint64_t refused[PROTO_COUNT][STATS_REFUSED_N];
	uint64_t conn_refused[PROTO_COUNT][STATS_CONN_N];
	uint64_t audits[PROTO_COUNT][STATS_AUDIT_N];
	uint64_t tls_ok[PROTO_COUNT][STATS_TLS_N];
	uint64_t tls_failed[PROTO_COUNT][STATS_TLS_N];
	uint64_t bytes_in[PROTO_COUNT];  /* client to backend */
	uint64_t bytes_out[PROTO_COUNT]; /* backend to client */

	size_t nrules;
	struct {
		char name[128];
		uint64_t refused;
	} rule[STATS_MAX_RULES];

	size_t nbackends;
	struct {
		char addr[300];
		uint64_t connects;
		uint64_t tls_full, tls_resumed; /* backend TLS handshakes */
		uint64_t failures[STATS_BACKEND_FAILURES];
		struct stats_hist login;
	} backend[STATS_MAX_BACKENDS];

	uint64_t ldap_lookups_ok, ldap_lookups_failed, ldap_lookups_down;
	uint64_t ldap_cache_hits, ldap_cache_misses;
	struct stats_hist ldap_latency;

	uint64_t protolog_written, protolog_dropped, protolog_failed;
};

/* For stats_http.c: the counters of nworkers workers, and their end. */
int stats_counters_init(unsigned nworkers);
void stats_counters_free(void);

/* --- Counting (the workers; each from the session's own thread) ----- */

/*
 * A connection accepted on l, in w's loop, about to become a session:
 * called right before session_accept(), whose stats_session_open() counts
 * the session under the listener noted here.
 */
void stats_accepted(struct worker *w, const struct listener *l);

/*
 * The session of the connection just accepted on w, of protocol proto
 * (enum proto_id): ss is set up for the calls below and the session
 * counted as active; and its end.
 */
void stats_session_open(struct stats_sess *ss, const struct worker *w,
    unsigned proto);
void stats_session_close(struct stats_sess *ss);

/* The client's TLS handshake ended (ok: it succeeded), implicit TLS or
 * STARTTLS; a session that closes during its handshake has it counted as
 * failed first. */
void stats_tls_done(struct stats_sess *ss, bool implicit, bool ok);

/* A connection refused before its greeting; rule: the rule's name. */
void stats_conn_refused(struct stats_sess *ss, enum stats_conn_refusal r,
    const char *rule);

/* A connection over max_connections (total) or the per-address limit. */
void stats_conn_limit(struct stats_sess *ss, bool total);

/* A login refused by postern (login type, user limit, throttle). */
void stats_refused(struct stats_sess *ss, enum stats_refusal r);

/* The login-time policy decision: refusals and audits it holds. */
void stats_policy(struct stats_sess *ss, const struct policy_decision *d);

/* The backend login starts (before backend_connect()). */
void stats_backend_start(struct stats_sess *ss);

/*
 * The backend login ended with r (enum backend_result, backend.h), and
 * failure (enum backend_failure) when it failed otherwise than by a
 * refused password; backend: its label, the address of its pool that the
 * login ended on (the summary line's name for it).
 */
void stats_backend_done(struct stats_sess *ss, const char *backend, int r,
    int failure);

/* The backend's TLS handshake succeeded; resumed: an earlier session. */
void stats_backend_tls(struct stats_sess *ss, const char *backend,
    bool resumed);

/* A login went through: the client is relayed. */
void stats_login_ok(struct stats_sess *ss);

/* Bytes relayed: in from the client to the backend, out the other way. */
void stats_relayed(struct stats_sess *ss, uint64_t in, uint64_t out);

/* --- Counting (any thread) ------------------------------------------- */

/* A group lookup found the user's directory groups cached, or not. */
void stats_ldap_cache(bool hit);

/* How a directory query ended, as the counters sort it. */
enum stats_ldap_result {
	STATS_LDAP_OK,
	STATS_LDAP_DOWN,   /* not asked: the directory is known unreachable */
	STATS_LDAP_FAILED, /* asked, and it failed */
};

/* A directory query ended with res after us. */
void stats_ldap_query(enum stats_ldap_result res, uint64_t us);

/* Monotonic microseconds. */
uint64_t stats_now_us(void);

/* --- Reading --------------------------------------------------------- */

/*
 * Sums every worker's counters into t (t's worker arrays are allocated:
 * stats_totals_free()).  Any thread.  Returns -1 when out of memory.
 */
int stats_totals_get(struct stats_totals *t);
void stats_totals_free(struct stats_totals *t);

/* Writes t in the Prometheus text format, version 0.0.4, to out. */
void stats_format_metrics(const struct stats_totals *t, struct evbuffer *out);

/*
 * Writes a label value or a HELP text escaped as the text format wants:
 * '\' as "\\", a newline as "\n", and for a label value '"' as "\"".
 * Bytes that are not well-formed UTF-8 become U+FFFD, which the format's
 * readers require of label values.
 */
void stats_prom_escape(struct evbuffer *out, const char *s, bool label);

/*
 * Writes s[0..len) as a JSON string, quotes included: '"', '\' and the
 * control characters escaped (RFC 8259 section 7), well-formed UTF-8 as
 * it is, and each byte that is not as the text "\xNN" (its backslash
 * escaped), the form the daemon log gives such bytes.
 */
void stats_json_str(struct evbuffer *out, const char *s, size_t len);

/* --- The command line (postern who, postern stats) ------------------- */

/*
 * "postern who" or "postern stats" (argv[0]) with its options: asks the
 * running daemon's stats listener and prints what it says.  Returns the
 * exit status.
 */
int stats_cli_main(int argc, char *argv[]);

#endif
