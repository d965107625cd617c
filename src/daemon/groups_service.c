/*
 * groups_service: the lookup service of the groups module (thread pool,
 * cache, delivery to the workers' event loops); group lists and the
 * groups file it reads are in groups.c.
 */
#include "config.h"

#include <sys/eventfd.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "conf.h"
#include "groups.h"
#include "log.h"
#include "stats.h"

/* Cache entries at most; beyond that, answers are not cached. */
#define CACHE_MAX 100000
#define CACHE_BUCKETS 4096
/* Directories whose outages are followed at once (ldap_uri may change on
 * reload while sessions of the old settings still log in). */
#define OUTAGE_URIS 4

/*
 * The service.  One mutex guards the pool queue, every request's state
 * and every port's queue; another guards the cache.  Lookups happen once
 * per login, so neither is contended.
 */
enum req_state {
	REQ_QUEUED,  /* in g->queue, waiting for a pool thread */
	REQ_RUNNING, /* a pool thread works on it */
	REQ_DONE     /* in port->done, waiting for the port's event */
};

struct groups_req {
	struct groups_req *next;
	struct groups_port *port;
	struct conf *conf;
	char *user;
	groups_cb *cb;
	void *arg;
	enum req_state state;
	bool cancelled; /* cancelled while running: the thread frees it */
	bool need_ldap;
	uint64_t deadline; /* ms: give up instead of starting after this */
	enum groups_status status;
	struct group_list gl;
	char err[256];
};

struct groups_port {
	struct groups *g;
	struct event_base *base;
	struct event *ev;
	int efd;
	struct groups_req *done, **done_tail;
	struct groups_port *next;
};

struct cache_entry {
	struct cache_entry *next;
	uint64_t serial;
	uint64_t expires;
	char *user; /* lower case */
	struct group_list gl;
};

/* The back-off state of one ldap_uri. */
struct outage {
	char *uri;
	uint64_t used; /* ms: last lookup, to reuse the oldest entry */
	struct groups_backoff b;
};

struct groups {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct groups_req *queue, **queue_tail;
	size_t nqueued;
	bool stopping;
	pthread_t *threads;
	struct groups_req **running; /* per thread, what it works on */
	unsigned nthreads, started, idle;
	struct groups_port *ports;

	pthread_mutex_t cache_mu;
	struct cache_entry *buckets[CACHE_BUCKETS];
	size_t ncache;

	groups_source_fn *source;
	uint64_t (*now_ms)(void);

	struct outage outages[OUTAGE_URIS]; /* under mu */
};

static uint64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct groups *
groups_new(const struct conf *c)
{
	struct groups *g;

	if ((g = calloc(1, sizeof(*g))) == NULL)
		return NULL;
	g->nthreads = c->groups.ldap_threads ? c->groups.ldap_threads : 1;
	if ((g->threads = calloc(g->nthreads, sizeof(*g->threads))) == NULL ||
	    (g->running = calloc(g->nthreads, sizeof(*g->running))) == NULL) {
		free(g->threads);
		free(g);
		return NULL;
	}
	pthread_mutex_init(&g->mu, NULL);
	pthread_cond_init(&g->cv, NULL);
	pthread_mutex_init(&g->cache_mu, NULL);
	g->queue_tail = &g->queue;
	g->source = groups_ldap_query;
	g->now_ms = mono_ms;
	return g;
}

void
groups_set_source(struct groups *g, groups_source_fn *fn)
{
	g->source = fn;
}

void
groups_set_clock(struct groups *g, uint64_t (*now_ms)(void))
{
	g->now_ms = now_ms;
}

static void
req_free(struct groups_req *r)
{
	group_list_clear(&r->gl);
	conf_unref(r->conf);
	free(r->user);
	free(r);
}

static unsigned
cache_hash(const char *s)
{
	unsigned h = 2166136261u;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h % CACHE_BUCKETS;
}

static void
cache_entry_free(struct cache_entry *e)
{
	group_list_clear(&e->gl);
	free(e->user);
	free(e);
}

/* Copies the fresh cached groups of key into out; true on a hit. */
static bool
cache_get(struct groups *g, uint64_t serial, const char *key,
    struct group_list *out, bool *oom)
{
	struct cache_entry *e;
	uint64_t now = g->now_ms();
	bool hit = false;
	size_t i;

	pthread_mutex_lock(&g->cache_mu);
	for (e = g->buckets[cache_hash(key)]; e != NULL; e = e->next) {
		if (e->serial != serial || strcmp(e->user, key) != 0 ||
		    now >= e->expires)
			continue;
		hit = true;
		for (i = 0; i < e->gl.n; i++)
			if (group_list_add(out, e->gl.v[i]) == -1) {
				*oom = true;
				break;
			}
		if (group_list_route_copy(out, &e->gl) == -1)
			*oom = true;
		break;
	}
	pthread_mutex_unlock(&g->cache_mu);
	return hit;
}

/* Stores gl for key, dropping expired entries of its bucket on the way. */
static void
cache_put(struct groups *g, uint64_t serial, unsigned ttl, const char *key,
    const struct group_list *gl)
{
	struct cache_entry *e, **pp;
	uint64_t now = g->now_ms();
	unsigned h = cache_hash(key);
	size_t i;

	if (ttl == 0 || (e = calloc(1, sizeof(*e))) == NULL)
		return;
	if ((e->user = strdup(key)) == NULL)
		goto fail;
	for (i = 0; i < gl->n; i++)
		if (group_list_add(&e->gl, gl->v[i]) == -1)
			goto fail;
	if (group_list_route_copy(&e->gl, gl) == -1)
		goto fail;
	e->serial = serial;
	e->expires = now + ttl;
	pthread_mutex_lock(&g->cache_mu);
	for (pp = &g->buckets[h]; *pp != NULL;) {
		struct cache_entry *o = *pp;

		if (now >= o->expires ||
		    (o->serial == serial && strcmp(o->user, key) == 0)) {
			*pp = o->next;
			cache_entry_free(o);
			g->ncache--;
		} else
			pp = &o->next;
	}
	if (g->ncache >= CACHE_MAX) {
		pthread_mutex_unlock(&g->cache_mu);
		goto fail;
	}
	e->next = g->buckets[h];
	g->buckets[h] = e;
	g->ncache++;
	pthread_mutex_unlock(&g->cache_mu);
	return;
fail:
	cache_entry_free(e);
}

/* Hands a finished request to its port; called with g->mu held. */
static void
post_locked(struct groups_req *r)
{
	struct groups_port *port = r->port;
	uint64_t one = 1;
	ssize_t n;

	r->state = REQ_DONE;
	r->next = NULL;
	*port->done_tail = r;
	port->done_tail = &r->next;
	/* An eventfd counter only fails to take 1 when it is near 2^64. */
	do
		n = write(port->efd, &one, sizeof(one));
	while (n == -1 && errno == EINTR);
}

enum groups_backoff_go
groups_backoff_start(struct groups_backoff *b, uint64_t now)
{
	if (!b->down)
		return GROUPS_BACKOFF_ASK;
	if (b->probing || now < b->retry_at) {
		b->failed++;
		return GROUPS_BACKOFF_FAIL;
	}
	b->probing = true;
	return GROUPS_BACKOFF_PROBE;
}

enum groups_backoff_change
groups_backoff_end(struct groups_backoff *b, uint64_t now,
    enum groups_backoff_go go, bool reachable)
{
	if (go == GROUPS_BACKOFF_PROBE)
		b->probing = false;
	if (reachable) {
		if (!b->down)
			return GROUPS_BACKOFF_SAME;
		/* Whichever lookup got an answer, probe or one that started
		 * before the outage was noticed: the directory is back. */
		b->down = false;
		b->probing = false;
		return GROUPS_BACKOFF_UP;
	}
	if (!b->down) {
		b->down = true;
		b->probing = false;
		b->since = now;
		b->delay_ms = GROUPS_BACKOFF_MIN_MS;
		b->retry_at = now + b->delay_ms;
		b->failed = 1;
		return GROUPS_BACKOFF_DOWN;
	}
	b->failed++;
	/* Only the probe's failure says the pause was too short: lookups
	 * that were under way when the outage began fail too, and must not
	 * each double it. */
	if (go == GROUPS_BACKOFF_PROBE) {
		b->delay_ms = b->delay_ms >= GROUPS_BACKOFF_MAX_MS / 2 ?
				  GROUPS_BACKOFF_MAX_MS :
				  2 * b->delay_ms;
		b->retry_at = now + b->delay_ms;
	}
	return GROUPS_BACKOFF_SAME;
}

/* Whether entry a is better to reuse than entry b. */
static bool
outage_before(const struct outage *a, const struct outage *b)
{
	if ((a->uri == NULL) != (b->uri == NULL))
		return a->uri == NULL;
	if (a->b.down != b->b.down)
		return !a->b.down;
	return a->used < b->used;
}

/*
 * The back-off state of uri: its own, else a free entry, else the least
 * recently used one, preferring one that is not down.  NULL when out of
 * memory: the lookup then asks the directory as without back-off.
 * Called with g->mu held.
 */
static struct groups_backoff *
outage_get_locked(struct groups *g, const char *uri, uint64_t now)
{
	struct outage *o, *pick = NULL;
	char *copy;
	size_t i;

	for (i = 0; i < OUTAGE_URIS; i++) {
		o = &g->outages[i];
		if (o->uri != NULL && strcmp(o->uri, uri) == 0) {
			o->used = now;
			return &o->b;
		}
		if (pick == NULL || outage_before(o, pick))
			pick = o;
	}
	if ((copy = strdup(uri)) == NULL)
		return NULL;
	free(pick->uri);
	memset(pick, 0, sizeof(*pick));
	pick->uri = copy;
	pick->used = now;
	return &pick->b;
}

/* Asks the source, unless the directory is down; logs an outage's start
 * and end.  Returns what the source returned. */
static int
ask_source(struct groups *g, struct groups_req *r, struct group_list *found)
{
	const struct groups_conf *gc = &r->conf->groups;
	struct groups_backoff *b, copy = {0};
	enum groups_backoff_go go = GROUPS_BACKOFF_ASK;
	enum groups_backoff_change change = GROUPS_BACKOFF_SAME;
	uint64_t now = g->now_ms(), t0;
	int rc;

	pthread_mutex_lock(&g->mu);
	if ((b = outage_get_locked(g, gc->ldap_uri, now)) != NULL)
		go = groups_backoff_start(b, now);
	pthread_mutex_unlock(&g->mu);
	if (go == GROUPS_BACKOFF_FAIL) {
		/* Constant wording: the session's warning about it is
		 * limited per distinct text (log_limited()). */
		snprintf(r->err, sizeof(r->err),
		    "directory unreachable, lookups fail at once until it "
		    "answers again");
		return GROUPS_SOURCE_DOWN;
	}
	t0 = stats_now_us();
	rc = g->source(gc, r->conf->serial, r->user, found, r->err,
	    sizeof(r->err));
	stats_ldap_query(rc == 0                  ? STATS_LDAP_OK :
			 rc == GROUPS_SOURCE_DOWN ? STATS_LDAP_DOWN :
						    STATS_LDAP_FAILED,
	    stats_now_us() - t0);
	now = g->now_ms();
	pthread_mutex_lock(&g->mu);
	if ((b = outage_get_locked(g, gc->ldap_uri, now)) != NULL) {
		change =
		    groups_backoff_end(b, now, go, rc != GROUPS_SOURCE_DOWN);
		copy = *b;
	}
	pthread_mutex_unlock(&g->mu);
	switch (change) {
	case GROUPS_BACKOFF_DOWN:
		log_warnx("LDAP server %s unreachable: %s; failing lookups "
			  "fast for %u s",
		    gc->ldap_uri, r->err, copy.delay_ms / 1000);
		break;
	case GROUPS_BACKOFF_UP:
		log_notice("LDAP server %s reachable again after %llu s; %lu "
			   "lookup%s failed meanwhile",
		    gc->ldap_uri,
		    (unsigned long long)((now - copy.since + 500) / 1000),
		    copy.failed, copy.failed == 1 ? "" : "s");
		break;
	case GROUPS_BACKOFF_SAME:
		if (go == GROUPS_BACKOFF_PROBE && rc == GROUPS_SOURCE_DOWN)
			log_debug("LDAP server %s still unreachable: %s; "
				  "failing lookups fast for %u s",
			    gc->ldap_uri, r->err, copy.delay_ms / 1000);
		break;
	}
	return rc;
}

static void
run_query(struct groups *g, struct groups_req *r)
{
	const struct groups_conf *gc = &r->conf->groups;
	struct group_list found = {0};
	char key[512];
	bool oom = false;
	size_t i;

	if (g->now_ms() > r->deadline) {
		r->status = GROUPS_TEMPFAIL;
		snprintf(r->err, sizeof(r->err),
		    "directory lookup waited longer than ldap_timeout");
		return;
	}
	if (ask_source(g, r, &found) != 0) {
		r->status = GROUPS_TEMPFAIL;
		group_list_clear(&found);
		return;
	}
	snprintf(key, sizeof(key), "%s", r->user);
	groups_lower(key);
	cache_put(g, r->conf->serial, gc->cache_ttl_ms, key, &found);
	for (i = 0; i < found.n && !oom; i++)
		oom = group_list_add(&r->gl, found.v[i]) == -1;
	if (oom || group_list_route_copy(&r->gl, &found) == -1) {
		r->status = GROUPS_TEMPFAIL;
		snprintf(r->err, sizeof(r->err), "out of memory");
	}
	group_list_clear(&found);
}

struct pool_arg {
	struct groups *g;
	unsigned index;
};

static void *
pool_main(void *arg)
{
	struct groups *g = ((struct pool_arg *)arg)->g;
	unsigned self = ((struct pool_arg *)arg)->index;
	struct groups_req *r;

	free(arg);
	pthread_mutex_lock(&g->mu);
	for (;;) {
		g->idle++;
		while (g->queue == NULL && !g->stopping)
			pthread_cond_wait(&g->cv, &g->mu);
		g->idle--;
		if (g->queue == NULL)
			break;
		r = g->queue;
		if ((g->queue = r->next) == NULL)
			g->queue_tail = &g->queue;
		g->nqueued--;
		r->state = REQ_RUNNING;
		g->running[self] = r;
		pthread_mutex_unlock(&g->mu);

		run_query(g, r);

		pthread_mutex_lock(&g->mu);
		g->running[self] = NULL;
		if (r->cancelled)
			req_free(r);
		else
			post_locked(r);
	}
	pthread_mutex_unlock(&g->mu);
	groups_ldap_thread_end();
	return NULL;
}

/* Starts one more pool thread while there are fewer than allowed and
 * requests wait; called with g->mu held. */
static void
pool_grow_locked(struct groups *g)
{
	struct pool_arg *pa;

	if (g->started >= g->nthreads || (pa = malloc(sizeof(*pa))) == NULL)
		return;
	pa->g = g;
	pa->index = g->started;
	if (pthread_create(&g->threads[g->started], NULL, pool_main, pa) != 0) {
		free(pa);
		return;
	}
	g->started++;
}

static void
port_cb(evutil_socket_t fd, short what, void *arg)
{
	struct groups_port *port = arg;
	struct groups *g = port->g;
	struct groups_req *list, *r;
	uint64_t count;

	(void)what;
	if (read(fd, &count, sizeof(count)) == -1 && errno != EAGAIN)
		return;
	for (;;) {
		/* One at a time: a callback may cancel other requests. */
		pthread_mutex_lock(&g->mu);
		list = port->done;
		if (list != NULL && (port->done = list->next) == NULL)
			port->done_tail = &port->done;
		pthread_mutex_unlock(&g->mu);
		if ((r = list) == NULL)
			break;
		r->cb(r->status, r->status == GROUPS_OK ? &r->gl : NULL,
		    r->status == GROUPS_OK ? NULL : r->err, r->arg);
		req_free(r);
	}
}

struct groups_port *
groups_port_new(struct groups *g, struct event_base *base)
{
	struct groups_port *port;

	if ((port = calloc(1, sizeof(*port))) == NULL)
		return NULL;
	port->g = g;
	port->base = base;
	port->done_tail = &port->done;
	if ((port->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1) {
		free(port);
		return NULL;
	}
	port->ev =
	    event_new(base, port->efd, EV_READ | EV_PERSIST, port_cb, port);
	if (port->ev == NULL || event_add(port->ev, NULL) == -1) {
		if (port->ev != NULL)
			event_free(port->ev);
		close(port->efd);
		free(port);
		return NULL;
	}
	pthread_mutex_lock(&g->mu);
	port->next = g->ports;
	g->ports = port;
	pthread_mutex_unlock(&g->mu);
	return port;
}

/* Cancels r; called with g->mu held. */
static void
cancel_locked(struct groups_req *r)
{
	struct groups *g = r->port->g;
	struct groups_req **pp;

	switch (r->state) {
	case REQ_QUEUED:
		for (pp = &g->queue; *pp != r; pp = &(*pp)->next)
			;
		if ((*pp = r->next) == NULL)
			g->queue_tail = pp;
		g->nqueued--;
		req_free(r);
		break;
	case REQ_RUNNING:
		/* The thread cannot be interrupted; it frees r when done. */
		r->cancelled = true;
		break;
	case REQ_DONE:
		for (pp = &r->port->done; *pp != r; pp = &(*pp)->next)
			;
		if ((*pp = r->next) == NULL)
			r->port->done_tail = pp;
		req_free(r);
		break;
	}
}

void
groups_cancel(struct groups_req *r)
{
	struct groups *g;

	if (r == NULL)
		return;
	g = r->port->g;
	pthread_mutex_lock(&g->mu);
	cancel_locked(r);
	pthread_mutex_unlock(&g->mu);
}

void
groups_port_free(struct groups_port *port)
{
	struct groups *g;
	struct groups_req *r, *next, **pp;
	struct groups_port **ps;
	unsigned i;

	if (port == NULL)
		return;
	g = port->g;
	pthread_mutex_lock(&g->mu);
	for (pp = &g->queue; *pp != NULL;) {
		r = *pp;
		if (r->port == port) {
			*pp = r->next;
			g->nqueued--;
			req_free(r);
		} else
			pp = &r->next;
	}
	g->queue_tail = pp;
	/* A running request would be posted to this port: the thread frees
	 * it instead. */
	for (i = 0; i < g->started; i++)
		if (g->running[i] != NULL && g->running[i]->port == port)
			g->running[i]->cancelled = true;
	for (r = port->done; r != NULL; r = next) {
		next = r->next;
		req_free(r);
	}
	port->done = NULL;
	for (ps = &g->ports; *ps != port; ps = &(*ps)->next)
		;
	*ps = port->next;
	pthread_mutex_unlock(&g->mu);
	event_free(port->ev);
	close(port->efd);
	free(port);
}

struct groups_req *
groups_lookup(struct groups_port *port, struct conf *c, const char *user,
    groups_cb *cb, void *arg)
{
	struct groups *g = port->g;
	const struct groups_conf *gc = &c->groups;
	struct groups_req *r;
	char key[512];
	bool oom = false;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	if ((r->user = strdup(user)) == NULL) {
		free(r);
		return NULL;
	}
	r->port = port;
	r->conf = conf_ref(c);
	r->cb = cb;
	r->arg = arg;
	r->status = GROUPS_OK;
	if (gc->file_groups != NULL &&
	    groups_file_lookup(gc->file_groups, user, &r->gl) == -1)
		oom = true;
	if (gc->ldap_uri != NULL && !oom) {
		snprintf(key, sizeof(key), "%s", user);
		groups_lower(key);
		r->need_ldap = !cache_get(g, c->serial, key, &r->gl, &oom);
		stats_ldap_cache(!r->need_ldap);
	}
	if (oom) {
		req_free(r);
		return NULL;
	}
	pthread_mutex_lock(&g->mu);
	/* A new thread only when the idle ones are all spoken for. */
	if (r->need_ldap && g->nqueued + 1 > g->idle)
		pool_grow_locked(g);
	if (r->need_ldap && g->started == 0) {
		r->status = GROUPS_TEMPFAIL;
		snprintf(r->err, sizeof(r->err),
		    "cannot start a directory lookup thread");
		r->need_ldap = false;
	}
	if (r->need_ldap) {
		r->deadline = g->now_ms() + gc->ldap_timeout_ms;
		r->state = REQ_QUEUED;
		*g->queue_tail = r;
		g->queue_tail = &r->next;
		g->nqueued++;
		pthread_cond_signal(&g->cv);
	} else
		post_locked(r);
	pthread_mutex_unlock(&g->mu);
	return r;
}

void
groups_free(struct groups *g)
{
	struct cache_entry *e, *next;
	struct groups_req *r;
	unsigned i;
	size_t b;

	if (g == NULL)
		return;
	pthread_mutex_lock(&g->mu);
	g->stopping = true;
	while ((r = g->queue) != NULL) {
		g->queue = r->next;
		req_free(r);
	}
	g->queue_tail = &g->queue;
	g->nqueued = 0;
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mu);
	for (i = 0; i < g->started; i++)
		pthread_join(g->threads[i], NULL);
	for (i = 0; i < OUTAGE_URIS; i++) {
		struct outage *o = &g->outages[i];
		uint64_t secs = (g->now_ms() - o->b.since + 500) / 1000;

		if (o->uri != NULL && o->b.down)
			log_notice(
			    "LDAP server %s still unreachable at exit, "
			    "after %llu s; %lu lookup%s failed meanwhile",
			    o->uri, (unsigned long long)secs, o->b.failed,
			    o->b.failed == 1 ? "" : "s");
		free(o->uri);
	}
	for (b = 0; b < CACHE_BUCKETS; b++)
		for (e = g->buckets[b]; e != NULL; e = next) {
			next = e->next;
			cache_entry_free(e);
		}
	pthread_mutex_destroy(&g->mu);
	pthread_cond_destroy(&g->cv);
	pthread_mutex_destroy(&g->cache_mu);
	free(g->threads);
	free(g->running);
	free(g);
}
