/*
 * stats_http: the statistics and health server, on a thread of its own.
 *
 * libevent's HTTP server (evhttp) runs on a base that only this thread
 * touches.  /metrics reads the workers' counters directly (stats.c says
 * why that is race-free).  /health and /sessions need what only a worker
 * may look at (its acceptors, its session list): the thread posts a
 * request to each worker's port (a queue under a mutex and an eventfd
 * read by the worker's own loop, as groups.h delivers its answers) and
 * waits, a bounded time, for the answers.  A worker that does not answer
 * in time is named as not answering; its late answer is dropped.
 */
#include "config.h"

/* Before libevent's keyvalq_struct.h, which hides TAILQ_ENTRY after it. */
#include <sys/queue.h>

#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/crypto.h>

#include "addrset.h"
#include "backend.h"
#include "conf.h"
#include "listener.h"
#include "log.h"
#include "netaddr.h"
#include "proto.h"
#include "session.h"
#include "stats.h"
#include "stats_http.h"
#include "worker.h"

/* How long a worker has to answer: a loop that takes longer is stuck. */
#define STATS_WORKER_WAIT_MS 1000
/* Requests a port holds; a worker that has this many unanswered ones is
 * not answering anyway. */
#define PORT_QUEUE 8
/* An HTTP client that does not finish its request in this time goes. */
#define STATS_HTTP_TIMEOUT_S 10

enum gather_kind { GATHER_PING, GATHER_SESSIONS };

/* One worker's answer to a gather. */
struct answer {
	bool answered;
	char *text; /* JSON: listeners down (ping) or sessions */
	size_t len;
	size_t listeners; /* ping: the acceptors it has */
};

/* A question to every worker; freed by whoever lets go last. */
struct gather {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned refs;
	unsigned pending;
	enum gather_kind kind;
	unsigned n;
	struct answer *a;
};

/*
 * Where a worker takes questions (one per worker, for the whole run).
 * Questions wait in it from the start: a worker whose loop is not yet
 * reading them answers as soon as it is, which /health right after the
 * start needs.
 */
struct port {
	pthread_mutex_t mu;
	int efd;
	struct event *ev; /* the worker's */
	struct worker *w;
	bool closed; /* its worker stopped, or cannot read it */
	struct gather *q[PORT_QUEUE];
	size_t nq;
};

static struct {
	int fd; /* bound by stats_bind(); -1: no server */
	pthread_t thread;
	bool running;
	struct event_base *base;
	struct evhttp *http;
	int stop_fd;
	struct event *stop_ev;

	pthread_mutex_t mu; /* guards conf */
	struct conf *conf;  /* allowed_ips and the token of the last load */

	struct port *ports;
	unsigned nports;
} srv = {.fd = -1, .stop_fd = -1, .mu = PTHREAD_MUTEX_INITIALIZER};

static void
gather_unref(struct gather *g)
{
	unsigned left;

	pthread_mutex_lock(&g->mu);
	left = --g->refs;
	pthread_mutex_unlock(&g->mu);
	if (left > 0)
		return;
	for (unsigned i = 0; i < g->n; i++)
		free(g->a[i].text);
	free(g->a);
	pthread_mutex_destroy(&g->mu);
	pthread_cond_destroy(&g->cv);
	free(g);
}

static void
gather_answer(struct gather *g, unsigned i, char *text, size_t len,
    size_t listeners)
{
	pthread_mutex_lock(&g->mu);
	if (i < g->n && !g->a[i].answered) {
		g->a[i].answered = true;
		g->a[i].text = text;
		g->a[i].len = len;
		g->a[i].listeners = listeners;
		text = NULL;
		g->pending--;
		pthread_cond_signal(&g->cv);
	}
	pthread_mutex_unlock(&g->mu);
	free(text);
}

/* An evbuffer's contents as a string of its own; NULL if empty. */
static char *
buf_take(struct evbuffer *b, size_t *len)
{
	char *s;

	*len = evbuffer_get_length(b);
	if (*len == 0 || (s = malloc(*len + 1)) == NULL) {
		*len = 0;
		return NULL;
	}
	evbuffer_remove(b, s, *len);
	s[*len] = '\0';
	return s;
}

/* On the worker's thread: are its acceptors taking connections? */
static void
answer_ping(struct worker *w, struct gather *g)
{
	struct evbuffer *b = evbuffer_new();
	size_t len = 0, down = 0;
	char *text = NULL;

	for (size_t i = 0; b != NULL && i < w->nacceptors; i++) {
		struct acceptor *a = w->acceptors[i];
		int on = 0;
		socklen_t olen = sizeof(on);
		const char *why = NULL;

		/* A socket that was shut down no longer listens, though
		 * its descriptor is still there. */
		if (getsockopt(a->l->fd, SOL_SOCKET, SO_ACCEPTCONN, &on,
			&olen) == -1 ||
		    !on)
			why = "not listening";
		else if (a->retry != NULL && evtimer_pending(a->retry, NULL))
			why = "accepting paused (out of descriptors)";
		if (why == NULL)
			continue;
		evbuffer_add_printf(b, "%s{\"protocol\":\"%s\",\"listener\":",
		    down++ > 0 ? "," : "", proto_get(a->l->proto)->section);
		stats_json_str(b, a->l->addr.str, strlen(a->l->addr.str));
		evbuffer_add_printf(b, ",\"tls\":\"%s\",\"why\":\"%s\"}",
		    a->l->implicit_tls ? "implicit" : "plain", why);
	}
	if (b != NULL) {
		text = buf_take(b, &len);
		evbuffer_free(b);
	}
	gather_answer(g, w->index, text, len, w->nacceptors);
}

static const char *const tls_mode_names[] = {
    [SESSION_TLS_NONE] = "none",
    [SESSION_TLS_STARTTLS] = "starttls",
    [SESSION_TLS_IMPLICIT] = "implicit",
};

static const char *const state_names[] = {
    [SESSION_PROXY] = "proxy",
    [SESSION_TLS_ACCEPT] = "tls",
    [SESSION_PREAUTH] = "preauth",
    [SESSION_STARTTLS] = "starttls",
    [SESSION_BACKEND] = "login",
    [SESSION_RELAY] = "relay",
    [SESSION_CLOSING] = "closing",
};

/* One session as a JSON object, on its worker's thread. */
static void
session_json(struct evbuffer *b, const struct session *s)
{
	const struct backend_addr *a;
	char when[32], backend[300];
	struct tm tm;
	time_t t = s->started.tv_sec;

	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	evbuffer_add_printf(b, "{\"id\":\"%016llX\",\"worker\":%u,\"user\":",
	    (unsigned long long)s->id, s->worker->index);
	if (s->user != NULL)
		stats_json_str(b, s->user, strlen(s->user));
	else
		evbuffer_add(b, "null", 4);
	evbuffer_add(b, ",\"client\":", 10);
	stats_json_str(b, s->peer.str, strlen(s->peer.str));
	evbuffer_add_printf(b,
	    ",\"protocol\":\"%s\",\"state\":\"%s\",\"tls\":\"%s\","
	    "\"tls_version\":",
	    s->proto->section, state_names[s->state], tls_mode_names[s->tls]);
	if (s->tls_version != NULL)
		stats_json_str(b, s->tls_version, strlen(s->tls_version));
	else
		evbuffer_add(b, "null", 4);
	evbuffer_add(b, ",\"backend\":", 11);
	if (s->backend_tried && (a = backend_current(s)) != NULL) {
		backend_addr_str(a, backend, sizeof(backend));
		stats_json_str(b, backend, strlen(backend));
	} else
		evbuffer_add(b, "null", 4);
	evbuffer_add_printf(b,
	    ",\"started\":\"%s\",\"started_unix\":%lld,\"bytes_in\":%llu,"
	    "\"bytes_out\":%llu}",
	    when, (long long)t, (unsigned long long)s->bytes_in,
	    (unsigned long long)s->bytes_out);
}

static void
answer_sessions(struct worker *w, struct gather *g)
{
	struct evbuffer *b = evbuffer_new();
	const struct session *s;
	size_t len = 0;
	char *text = NULL;
	bool first = true;

	if (b != NULL) {
		TAILQ_FOREACH(s, &w->sessions, entry)
		{
			if (s->probe) /* postern's own, no client's */
				continue;
			if (!first)
				evbuffer_add(b, ",", 1);
			first = false;
			session_json(b, s);
		}
		text = buf_take(b, &len);
		evbuffer_free(b);
	}
	gather_answer(g, w->index, text, len, 0);
}

/* The worker's side of its port. */
static void
port_cb(evutil_socket_t fd, short what, void *arg)
{
	struct port *p = arg;
	struct gather *q[PORT_QUEUE];
	size_t n;
	uint64_t v;

	(void)what;
	if (read(fd, &v, sizeof(v)) != sizeof(v))
		return;
	pthread_mutex_lock(&p->mu);
	n = p->nq;
	memcpy(q, p->q, n * sizeof(q[0]));
	p->nq = 0;
	pthread_mutex_unlock(&p->mu);
	for (size_t i = 0; i < n; i++) {
		if (q[i]->kind == GATHER_PING)
			answer_ping(p->w, q[i]);
		else
			answer_sessions(p->w, q[i]);
		gather_unref(q[i]);
	}
}

void
stats_worker_attach(struct worker *w)
{
	struct port *p;
	char name[16];

	/* /health names workers by number: top -H and /proc show which
	 * thread that is. */
	snprintf(name, sizeof(name), "postern-w%u", w->index % 100000);
	pthread_setname_np(pthread_self(), name);
	if (srv.ports == NULL || w->index >= srv.nports)
		return;
	p = &srv.ports[w->index];
	p->w = w;
	p->ev = event_new(w->base, p->efd, EV_READ | EV_PERSIST, port_cb, p);
	if (p->ev == NULL || event_add(p->ev, NULL) == -1) {
		log_warnx("worker %u: cannot answer the stats server: /health "
			  "will name it as not answering",
		    w->index);
		stats_worker_detach(w);
	}
}

void
stats_worker_detach(struct worker *w)
{
	struct gather *q[PORT_QUEUE];
	struct port *p;
	size_t n;

	if (srv.ports == NULL || w->index >= srv.nports)
		return;
	p = &srv.ports[w->index];
	pthread_mutex_lock(&p->mu);
	p->closed = true;
	n = p->nq;
	memcpy(q, p->q, n * sizeof(q[0]));
	p->nq = 0;
	pthread_mutex_unlock(&p->mu);
	for (size_t i = 0; i < n; i++)
		gather_unref(q[i]);
	if (p->ev != NULL)
		event_free(p->ev);
	p->ev = NULL;
}

/*
 * Asks every worker and waits until all have answered or the time is up.
 * Returns the gather (stats_gather_end() it), or NULL when out of memory.
 */
static struct gather *
gather_run(enum gather_kind kind)
{
	struct gather *g = calloc(1, sizeof(*g));
	pthread_condattr_t ca;
	struct timespec until;
	uint64_t one = 1;

	if (g == NULL || (g->a = calloc(srv.nports ? srv.nports : 1,
			      sizeof(*g->a))) == NULL) {
		free(g);
		return NULL;
	}
	pthread_mutex_init(&g->mu, NULL);
	/* The wait is a time-out: a clock set back must not stretch it. */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&g->cv, &ca);
	pthread_condattr_destroy(&ca);
	g->kind = kind;
	g->n = srv.nports;
	g->refs = 1;
	for (unsigned i = 0; i < srv.nports; i++) {
		struct port *p = &srv.ports[i];
		bool posted = false;

		pthread_mutex_lock(&g->mu);
		g->refs++;
		g->pending++;
		pthread_mutex_unlock(&g->mu);
		pthread_mutex_lock(&p->mu);
		if (!p->closed && p->nq < PORT_QUEUE) {
			p->q[p->nq++] = g;
			posted = true;
		}
		pthread_mutex_unlock(&p->mu);
		if (posted && write(p->efd, &one, sizeof(one)) != sizeof(one))
			log_warn("stats: cannot wake worker %u", i);
		if (!posted) {
			/* Never to be answered: not waited for. */
			pthread_mutex_lock(&g->mu);
			g->refs--;
			g->pending--;
			pthread_mutex_unlock(&g->mu);
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += STATS_WORKER_WAIT_MS / 1000;
	until.tv_nsec += (long)(STATS_WORKER_WAIT_MS % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&g->mu);
	while (g->pending > 0)
		if (pthread_cond_timedwait(&g->cv, &g->mu, &until) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&g->mu);
	return g;
}

/* The workers that did not answer, as a JSON array. */
static bool
gather_missing(struct gather *g, struct evbuffer *b)
{
	bool any = false;

	evbuffer_add(b, "[", 1);
	pthread_mutex_lock(&g->mu);
	for (unsigned i = 0; i < g->n; i++)
		if (!g->a[i].answered) {
			evbuffer_add_printf(b, "%s%u", any ? "," : "", i);
			any = true;
		}
	pthread_mutex_unlock(&g->mu);
	evbuffer_add(b, "]", 1);
	return any;
}

static void
reply(struct evhttp_request *req, int code, const char *reason,
    const char *type, struct evbuffer *body)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);

	evhttp_add_header(h, "Content-Type", type);
	evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_send_reply(req, code, reason, body);
}

static void
serve_metrics(struct evhttp_request *req, struct evbuffer *b)
{
	struct stats_totals *t = malloc(sizeof(*t));

	if (t == NULL || stats_totals_get(t) == -1) {
		free(t);
		evhttp_send_error(req, HTTP_INTERNAL, "Out of memory");
		return;
	}
	stats_format_metrics(t, b);
	stats_totals_free(t);
	free(t);
	reply(req, HTTP_OK, "OK", "text/plain; version=0.0.4; charset=utf-8",
	    b);
}

static void
serve_health(struct evhttp_request *req, struct evbuffer *b)
{
	struct gather *g = gather_run(GATHER_PING);
	struct evbuffer *missing = evbuffer_new();
	bool down = false, silent;
	size_t listeners = 0;

	if (g == NULL || missing == NULL) {
		if (g != NULL)
			gather_unref(g);
		if (missing != NULL)
			evbuffer_free(missing);
		evhttp_send_error(req, HTTP_INTERNAL, "Out of memory");
		return;
	}
	silent = gather_missing(g, missing);
	pthread_mutex_lock(&g->mu);
	for (unsigned i = 0; i < g->n; i++) {
		if (g->a[i].answered && g->a[i].listeners > listeners)
			listeners = g->a[i].listeners;
		down = down || (g->a[i].answered && g->a[i].text != NULL);
	}
	evbuffer_add_printf(b,
	    "{\"status\":\"%s\",\"workers\":%u,\"listeners\":%zu,"
	    "\"workers_not_answering\":",
	    down || silent ? "unhealthy" : "ok", g->n, listeners);
	evbuffer_add_buffer(b, missing);
	evbuffer_add(b, ",\"listeners_down\":[", 19);
	{
		bool first = true;

		/* Every worker sees the shared sockets: each one once. */
		for (unsigned i = 0; i < g->n; i++) {
			if (!g->a[i].answered || g->a[i].text == NULL)
				continue;
			if (!first)
				evbuffer_add(b, ",", 1);
			evbuffer_add_printf(b, "{\"worker\":%u,\"acceptors\":[",
			    i);
			evbuffer_add(b, g->a[i].text, g->a[i].len);
			evbuffer_add(b, "]}", 2);
			first = false;
		}
	}
	pthread_mutex_unlock(&g->mu);
	evbuffer_add(b, "]}\n", 3);
	evbuffer_free(missing);
	gather_unref(g);
	if (down || silent)
		reply(req, HTTP_SERVUNAVAIL, "Service Unavailable",
		    "application/json", b);
	else
		reply(req, HTTP_OK, "OK", "application/json", b);
}

static void
serve_sessions(struct evhttp_request *req, struct evbuffer *b)
{
	struct gather *g = gather_run(GATHER_SESSIONS);
	bool first = true;

	if (g == NULL) {
		evhttp_send_error(req, HTTP_INTERNAL, "Out of memory");
		return;
	}
	evbuffer_add(b, "{\"sessions\":[", 13);
	pthread_mutex_lock(&g->mu);
	for (unsigned i = 0; i < g->n; i++) {
		if (!g->a[i].answered || g->a[i].text == NULL)
			continue;
		if (!first)
			evbuffer_add(b, ",", 1);
		evbuffer_add(b, g->a[i].text, g->a[i].len);
		first = false;
	}
	pthread_mutex_unlock(&g->mu);
	evbuffer_add(b, "],\"workers_not_answering\":", 26);
	gather_missing(g, b);
	evbuffer_add(b, "}\n", 2);
	gather_unref(g);
	reply(req, HTTP_OK, "OK", "application/json", b);
}

/* Whether the request carries the token: constant time, never logged. */
static bool
token_ok(struct evhttp_request *req, const char *token)
{
	const char *h = evhttp_find_header(
	    evhttp_request_get_input_headers(req), "Authorization");
	size_t tlen = strlen(token), hlen;

	if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
		return false;
	h += 7;
	while (*h == ' ')
		h++;
	hlen = strlen(h);
	while (hlen > 0 && h[hlen - 1] == ' ')
		hlen--;
	return hlen == tlen && CRYPTO_memcmp(h, token, tlen) == 0;
}

static void
request_cb(struct evhttp_request *req, void *arg)
{
	struct evhttp_connection *con = evhttp_request_get_connection(req);
	const struct sockaddr *peer = evhttp_connection_get_addr(con);
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	struct evbuffer *b;
	struct conf *c;
	bool allowed, authorized;
	char who[NETADDR_STRLEN];

	(void)arg;
	pthread_mutex_lock(&srv.mu);
	c = conf_ref(srv.conf);
	pthread_mutex_unlock(&srv.mu);
	allowed = peer != NULL && addrset_contains(c->stats.allowed_ips, peer);
	authorized = c->stats.token == NULL || token_ok(req, c->stats.token);
	conf_unref(c);
	if (!allowed) {
		if (peer != NULL)
			netaddr_format(peer, who, sizeof(who));
		else
			snprintf(who, sizeof(who), "?");
		log_limited(LOGLEVEL_NOTICE, "stats: refused a client",
		    "stats: %s not in [stats] allowed_ips: refused", who);
		evhttp_send_error(req, 403, "Forbidden");
		return;
	}
	if (!authorized) {
		/* evhttp_send_error() would drop the header RFC 6750 asks
		 * for: a body of our own. */
		if ((b = evbuffer_new()) == NULL) {
			evhttp_send_error(req, HTTP_INTERNAL, "Out of memory");
			return;
		}
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "WWW-Authenticate", "Bearer realm=\"postern\"");
		evbuffer_add_printf(b, "a bearer token is needed\n");
		reply(req, 401, "Unauthorized", "text/plain", b);
		evbuffer_free(b);
		return;
	}
	if ((b = evbuffer_new()) == NULL) {
		evhttp_send_error(req, HTTP_INTERNAL, "Out of memory");
		return;
	}
	if (path != NULL && strcmp(path, "/metrics") == 0)
		serve_metrics(req, b);
	else if (path != NULL && strcmp(path, "/health") == 0)
		serve_health(req, b);
	else if (path != NULL && strcmp(path, "/sessions") == 0)
		serve_sessions(req, b);
	else
		evhttp_send_error(req, HTTP_NOTFOUND, "Not Found");
	evbuffer_free(b);
}

static void
stop_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	event_base_loopbreak(srv.base);
}

static void *
stats_main(void *arg)
{
	sigset_t all;

	(void)arg;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	pthread_setname_np(pthread_self(), "postern-stats");
	event_base_dispatch(srv.base);
	return NULL;
}

/*
 * The bufferevent of each HTTP connection, one that closes its socket
 * itself.  evhttp's own (libevent 2.1) does not: evhttp closes the socket
 * right after freeing it, and inside a callback the bufferevent's freeing,
 * and so the deletion of its events, is deferred to later in the loop.
 * That epoll_ctl(DEL) then reached a closed descriptor, whose number
 * another thread may have had again by then (a worker's backend socket,
 * the configuration file at a reload).  Closed by the bufferevent, the
 * socket goes after its events.
 */
static struct bufferevent *
stats_bev_new(struct event_base *base, void *arg)
{
	(void)arg;
	return bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
}

int
stats_bind(const struct conf *c, FILE *errout)
{
	const struct stats_conf *sc = &c->stats;
	char addr[NETADDR_STRLEN];
	int fd, on = 1;

	if (sc->listen == NULL)
		return 0;
	fd = socket(sc->addr.ss_family,
	    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == -1 ||
	    (sc->addr.ss_family == AF_INET6 &&
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)) ==
		    -1) ||
	    bind(fd, (const struct sockaddr *)&sc->addr, sc->addrlen) == -1 ||
	    listen(fd, 16) == -1) {
		fprintf(errout,
		    "%s:%d: [stats] listen: cannot listen on %s: %s\n", c->path,
		    sc->listen_line,
		    netaddr_format((const struct sockaddr *)&sc->addr, addr,
			sizeof(addr)),
		    strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	srv.fd = fd;
	return 0;
}

int
stats_start(struct conf *c, unsigned nworkers)
{
	struct event_config *cfg;

	if (srv.fd == -1)
		return 0;
	if (stats_counters_init(nworkers) == -1)
		goto oom;
	if ((srv.ports = calloc(nworkers, sizeof(*srv.ports))) == NULL)
		goto oom;
	srv.nports = nworkers;
	for (unsigned i = 0; i < nworkers; i++) {
		pthread_mutex_init(&srv.ports[i].mu, NULL);
		srv.ports[i].efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (srv.ports[i].efd == -1) {
			log_warn("stats: eventfd");
			return -1;
		}
	}
	srv.conf = conf_ref(c);
	if ((cfg = event_config_new()) == NULL)
		goto oom;
	event_config_set_flag(cfg, EVENT_BASE_FLAG_NOLOCK);
	srv.base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	if (srv.base == NULL || (srv.http = evhttp_new(srv.base)) == NULL)
		goto oom;
	evhttp_set_allowed_methods(srv.http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_timeout(srv.http, STATS_HTTP_TIMEOUT_S);
	evhttp_set_max_headers_size(srv.http, 8192);
	evhttp_set_max_body_size(srv.http, 0);
	evhttp_set_gencb(srv.http, request_cb, NULL);
	evhttp_set_bevcb(srv.http, stats_bev_new, NULL);
	if (evhttp_accept_socket(srv.http, srv.fd) == -1) {
		log_error("stats: cannot serve on %s", c->stats.listen);
		return -1;
	}
	srv.fd = -1; /* evhttp's now */
	if ((srv.stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1 ||
	    (srv.stop_ev = event_new(srv.base, srv.stop_fd, EV_READ, stop_cb,
		 NULL)) == NULL ||
	    event_add(srv.stop_ev, NULL) == -1) {
		log_warn("stats: cannot set up the server");
		return -1;
	}
	if (pthread_create(&srv.thread, NULL, stats_main, NULL) != 0) {
		log_error("stats: cannot start the server thread");
		return -1;
	}
	srv.running = true;
	log_info("stats: serving /metrics, /health and /sessions on %s",
	    c->stats.listen);
	return 0;
oom:
	log_error("stats: out of memory");
	return -1;
}

void
stats_reload(const struct conf *old, struct conf *c)
{
	struct conf *prev;

	if ((old->stats.listen == NULL) != (c->stats.listen == NULL) ||
	    (c->stats.listen != NULL &&
		strcmp(old->stats.listen, c->stats.listen) != 0))
		log_warnx("reload: [stats] listen changed; it takes effect "
			  "only after a restart");
	if (srv.conf == NULL)
		return;
	pthread_mutex_lock(&srv.mu);
	prev = srv.conf;
	srv.conf = conf_ref(c);
	pthread_mutex_unlock(&srv.mu);
	conf_unref(prev);
}

void
stats_stop(void)
{
	uint64_t one = 1;

	if (!srv.running)
		return;
	if (write(srv.stop_fd, &one, sizeof(one)) != sizeof(one))
		log_warn("stats: cannot stop the server thread");
	pthread_join(srv.thread, NULL);
	srv.running = false;
}

void
stats_free(void)
{
	if (srv.http != NULL)
		evhttp_free(srv.http);
	srv.http = NULL;
	if (srv.stop_ev != NULL)
		event_free(srv.stop_ev);
	srv.stop_ev = NULL;
	if (srv.base != NULL)
		event_base_free(srv.base);
	srv.base = NULL;
	if (srv.stop_fd != -1)
		close(srv.stop_fd);
	srv.stop_fd = -1;
	if (srv.fd != -1)
		close(srv.fd);
	srv.fd = -1;
	for (unsigned i = 0; i < srv.nports; i++) {
		if (srv.ports[i].efd != -1)
			close(srv.ports[i].efd);
		pthread_mutex_destroy(&srv.ports[i].mu);
	}
	free(srv.ports);
	srv.ports = NULL;
	srv.nports = 0;
	conf_unref(srv.conf);
	srv.conf = NULL;
	stats_counters_free();
}
