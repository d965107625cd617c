/*
 * server: worker threads, the current snapshot, reload and shutdown.
 *
 * libevent runs here without evthread locking: every event_base belongs to
 * exactly one thread, and the main thread reaches a worker only through the
 * worker's eventfd, so no libevent object is ever shared between threads.
 */
#include "config.h"

#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <event2/event.h>

#include "connlimit.h"
#include "listener.h"
#include "groups.h"
#include "log.h"
#include "privsep.h"
#include "proto.h"
#include "protolog.h"
#include "reloadctl.h"
#include "sdnotify.h"
#include "server.h"
#include "session.h"
#include "sesslog.h"
#include "stats.h"
#include "stats_http.h"
#include "tls.h"
#include "tls_resume.h"

static pthread_mutex_t current_lock = PTHREAD_MUTEX_INITIALIZER;
static struct conf *current;
static atomic_uint current_gen = 1;
/* The listeners of current (with current_lock), and their generation. */
static struct listener_set listeners;
static unsigned listeners_gen = 1;

/*
 * The grace time of the stop under way, as the main thread read it from
 * the current snapshot when the signal came: a worker's own snapshot is
 * only as new as its last accepted connection.
 */
static atomic_uint stop_grace_ms;

static struct worker *workers;
static struct groups *groups_svc;
static unsigned nworkers;

/* Where "postern -R" asks for a reload (reloadctl.h); the main thread's. */
static int reload_fd = -1;
static struct event *reload_ev;

/*
 * Resolves the addresses of b's pool for protocol p; where says which
 * section configured them, for messages.
 */
static int
server_resolve(const struct conf *c, struct backend *b, int p, FILE *errout)
{
	struct backend_pool *pool = &b->pool[p];
	struct addrinfo hints, *res;
	int rc;

	for (size_t i = 0; i < pool->n; i++) {
		struct backend_addr *a = &pool->v[i];

		memset(&hints, 0, sizeof(hints));
		hints.ai_socktype = SOCK_STREAM;
		hints.ai_flags = AI_ADDRCONFIG;
		rc = getaddrinfo(a->host, a->port, &hints, &res);
		if (rc != 0) {
			if (b->implicit)
				fprintf(errout,
				    "%s:%d: [%s] backend %s: cannot resolve: "
				    "%s%s\n",
				    c->path, a->line, proto_get(p)->section,
				    a->host, gai_strerror(rc),
				    strchr(a->host, '.') == NULL ?
					" (and there is no [backend] section "
					"of that name)" :
					"");
			else
				fprintf(errout,
				    "%s:%d: [backend \"%s\"] %s %s: cannot "
				    "resolve: %s\n",
				    c->path, a->line, b->name,
				    proto_get(p)->section, a->host,
				    gai_strerror(rc));
			return -1;
		}
		/* The first address: a pool lists each server it tries. */
		memcpy(&a->addr, res->ai_addr, res->ai_addrlen);
		a->addrlen = res->ai_addrlen;
		freeaddrinfo(res);
	}
	return 0;
}

int
server_prepare(struct conf *c, FILE *errout)
{
	for (int p = 0; p < PROTO_COUNT; p++) {
		if (!c->proto[p].enabled)
			continue;
		if (c->routing.implicit[p] != NULL &&
		    server_resolve(c, c->routing.implicit[p], p, errout) == -1)
			return -1;
		for (size_t i = 0; i < c->routing.nnamed; i++)
			if (server_resolve(c, c->routing.named[i], p, errout) ==
			    -1)
				return -1;
	}
	return 0;
}

int
server_protolog_check(const struct conf *c, FILE *errout)
{
	struct protolog_conf pl[PROTO_COUNT];
	char err[512];
	int rc = 0;

	conf_protolog(c, pl);
	for (int p = 0; p < PROTO_COUNT; p++) {
		if (!pl[p].enabled ||
		    protolog_check_dir(pl[p].directory, err, sizeof(err)) == 0)
			continue;
		fprintf(errout, "%s:%d: [%s] log_file_location: %s\n", c->path,
		    c->proto[p].log_line, proto_get(p)->section, err);
		rc = -1;
	}
	return rc;
}

int
server_protolog_probe(const struct conf *c, FILE *errout)
{
	struct protolog_conf pl[PROTO_COUNT];
	char err[512];
	int n = 0;

	conf_protolog(c, pl);
	for (int p = 0; p < PROTO_COUNT; p++) {
		/* A directory shared by both protocols is told once. */
		if (!pl[p].enabled ||
		    (p > 0 && pl[p - 1].enabled &&
			strcmp(pl[p - 1].directory, pl[p].directory) == 0))
			continue;
		if (protolog_dir_in_use(pl[p].directory, err, sizeof(err))) {
			fprintf(errout, "%s:%d: [%s] log_file_location: %s\n",
			    c->path, c->proto[p].log_line,
			    proto_get(p)->section, err);
			n++;
		}
	}
	return n;
}

/* Starts the writer thread; every protocol may be switched on by reload. */
static int
server_protolog_start(const struct conf *c)
{
	struct protolog_conf pl[PROTO_COUNT];
	char err[512];

	conf_protolog(c, pl);
	if (protolog_start(pl, 0, err, sizeof(err)) == -1) {
		log_error("%s: %s", c->path, err);
		return -1;
	}
	for (int p = 0; p < PROTO_COUNT; p++)
		if (pl[p].enabled)
			log_info("%s protocol log in %s", proto_name(p),
			    pl[p].directory);
	return 0;
}

struct conf *
server_conf(struct worker *w)
{
	unsigned gen = atomic_load(&current_gen);

	if (atomic_load(&w->conf_gen) != gen) {
		struct conf *old = w->conf;

		pthread_mutex_lock(&current_lock);
		w->conf = conf_ref(current);
		gen = atomic_load(&current_gen);
		pthread_mutex_unlock(&current_lock);
		atomic_store(&w->conf_gen, gen);
		conf_unref(old);
		/* Backend TLS sessions of settings the reload changed. */
		tls_resume_prune(w->conf);
	}
	return conf_ref(w->conf);
}

void
server_session_add(struct worker *w, struct session *s)
{
	TAILQ_INSERT_TAIL(&w->sessions, s, entry);
	w->nsessions++;
}

void
server_session_gone(struct worker *w)
{
	w->nsessions--;
	if (atomic_load(&w->stopping) && w->nsessions == 0)
		event_base_loopbreak(w->base);
}

/* A connection accepted on l: counted for l, then a session on w. */
static void
worker_accept(struct worker *w, const struct listener *l, evutil_socket_t fd,
    const struct sockaddr *peer, socklen_t peerlen)
{
	stats_accepted(w, l);
	/* A listener bound to one address is every connection's local
	 * address: no getsockname per login (nginx makes none either). */
	session_accept(w, l->proto, l->implicit_tls, fd, peer, peerlen,
	    netaddr_is_any(&l->addr) ? NULL : &l->addr);
}

static void
worker_stop_listening(struct worker *w)
{
	for (size_t i = 0; i < w->nacceptors; i++) {
		listener_detach(w->acceptors[i]);
		free(w->acceptors[i]);
	}
	w->nacceptors = 0;
}

/*
 * A reload changed the listeners: stop accepting on those that are gone,
 * start on the new ones, keep the others (and their queued connections).
 */
static void
worker_sync_listeners(struct worker *w)
{
	struct acceptor **acc;
	size_t n = 0;

	pthread_mutex_lock(&current_lock);
	if (w->listeners_gen == listeners_gen) {
		pthread_mutex_unlock(&current_lock);
		return;
	}
	acc = calloc(listeners.n + w->nacceptors + 1, sizeof(*acc));
	if (acc == NULL) {
		pthread_mutex_unlock(&current_lock);
		log_warnx("worker %u: out of memory: listeners not changed",
		    w->index);
		return;
	}
	for (size_t i = 0; i < w->nacceptors; i++) {
		if (listener_set_has(&listeners, w->acceptors[i]->l)) {
			acc[n++] = w->acceptors[i];
			continue;
		}
		listener_detach(w->acceptors[i]);
		free(w->acceptors[i]);
	}
	for (size_t i = 0; i < listeners.n; i++) {
		struct acceptor *a;
		bool have = false;

		for (size_t k = 0; k < n && !have; k++)
			have = acc[k]->l == listeners.l[i];
		if (have)
			continue;
		if ((a = malloc(sizeof(*a))) == NULL ||
		    listener_attach(listeners.l[i], a, w, w->base,
			worker_accept) == -1) {
			free(a);
			log_warnx("worker %u: cannot accept on %s", w->index,
			    listeners.l[i]->addr.str);
			continue;
		}
		acc[n++] = a;
	}
	w->listeners_gen = listeners_gen;
	pthread_mutex_unlock(&current_lock);
	free(w->acceptors);
	w->acceptors = acc;
	w->nacceptors = n;
}

/*
 * Worker 0 asks the default backends of each new snapshot (at start and
 * after each reload) which relayed SASL mechanisms they offer, so that
 * the first client is offered only those (session_probe()).
 */
static void
worker_probe(struct worker *w)
{
	struct conf *c;
	unsigned gen;

	if (w->index != 0 || atomic_load(&w->stopping))
		return;
	c = server_conf(w);
	gen = atomic_load(&w->conf_gen);
	conf_unref(c);
	if (gen == w->probed_gen)
		return;
	w->probed_gen = gen;
	for (int p = 0; p < PROTO_COUNT; p++)
		session_probe(w, (enum proto_id)p);
}

/* The grace time is over: tell every remaining client goodbye. */
static void
worker_grace_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	struct session *s, *next;

	(void)fd;
	(void)what;
	w->grace_over = true;
	/* glibc's sys/queue.h has no TAILQ_FOREACH_SAFE. */
	for (s = TAILQ_FIRST(&w->sessions); s != NULL; s = next) {
		next = TAILQ_NEXT(s, entry);
		if (s->state == SESSION_CLOSING)
			continue;
		sesslog_close_error(s, "ServerShutdown");
		session_goodbye(s, BYE_SHUTDOWN, "shutdown");
	}
}

static void
worker_notify_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	struct session *s, *next;
	uint64_t v;
	struct timeval tv;
	unsigned ms;

	(void)what;
	if (read(fd, &v, sizeof(v)) != sizeof(v))
		return;
	atomic_fetch_add(&w->beats, 1);
	if (!atomic_load(&w->stopping)) {
		worker_sync_listeners(w);
		worker_probe(w);
		return;
	}
	if (w->grace != NULL)
		return;
	worker_stop_listening(w);
	if (w->nsessions == 0) {
		event_base_loopbreak(w->base);
		return;
	}
	/* Clients that have not logged in lose nothing by going now;
	 * relayed sessions get the grace time to finish; a probe has no
	 * client to wait for. */
	for (s = TAILQ_FIRST(&w->sessions); s != NULL; s = next) {
		next = TAILQ_NEXT(s, entry);
		if (s->state == SESSION_PREAUTH || s->probe) {
			sesslog_close_error(s, "ServerShutdown");
			session_goodbye(s, BYE_SHUTDOWN, "shutdown");
		}
	}
	ms = atomic_load(&stop_grace_ms);
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	w->grace = evtimer_new(w->base, worker_grace_cb, w);
	if (w->grace != NULL)
		evtimer_add(w->grace, &tv);
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	sigset_t all;

	/* Signals belong to the main thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	/* Group lookups answer on the worker's own loop (groups.h). */
	if ((w->gport = groups_port_new(groups_svc, w->base)) == NULL)
		log_warnx("worker %u: cannot receive group lookups: logins "
			  "that need groups will be told to try later",
		    w->index);
	stats_worker_attach(w);
	worker_probe(w);
	event_base_dispatch(w->base);
	stats_worker_detach(w);
	/* After the loop: sessions still open (a flush that never ended)
	 * are torn down here, in their own thread. */
	while (!TAILQ_EMPTY(&w->sessions)) {
		sesslog_close_error(TAILQ_FIRST(&w->sessions),
		    "ServerShutdown");
		session_close(TAILQ_FIRST(&w->sessions), "shutdown");
	}
	/* A bufferevent freed from its own callback is finalized, and its
	 * socket closed, by a later turn of the loop: give it that turn, so
	 * that clients told goodbye see their connection end now rather
	 * than when the last worker is done. */
	event_base_loop(w->base, EVLOOP_NONBLOCK);
	groups_port_free(w->gport);
	w->gport = NULL;
	blockcache_clear(&w->cache);
	return NULL;
}

static int
worker_setup(struct worker *w, unsigned index, struct listener_set *set)
{
	struct event_config *cfg;

	memset(w, 0, sizeof(*w));
	w->index = index;
	TAILQ_INIT(&w->sessions);
	w->notify_fd = -1;
	if ((cfg = event_config_new()) == NULL)
		return -1;
	event_config_set_flag(cfg, EVENT_BASE_FLAG_NOLOCK);
	/*
	 * Not EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST, though it halves the
	 * epoll_ctl calls of a login: it defers a deleted event's
	 * epoll_ctl to the next turn of the loop, and the listening sockets
	 * are shared by the workers, so the last worker to let one go may
	 * close it while another's deletion is still pending.  That
	 * deletion then reaches a closed descriptor, or one already reused
	 * for a new connection (ThreadSanitizer reported the race at every
	 * shutdown and reload).
	 */
	w->base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	if (w->base == NULL)
		return -1;
	w->notify_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->notify_fd == -1)
		return -1;
	w->notify = event_new(w->base, w->notify_fd, EV_READ | EV_PERSIST,
	    worker_notify_cb, w);
	if (w->notify == NULL || event_add(w->notify, NULL) == -1)
		return -1;
	w->acceptors = calloc(set->n ? set->n : 1, sizeof(*w->acceptors));
	if (w->acceptors == NULL)
		return -1;
	/* Every worker accepts on every shared socket: whichever loop
	 * wakes first takes the connection, the others see EAGAIN. */
	for (size_t i = 0; i < set->n; i++) {
		struct acceptor *a = malloc(sizeof(*a));

		if (a == NULL || listener_attach(set->l[i], a, w, w->base,
				     worker_accept) == -1) {
			free(a);
			return -1;
		}
		w->acceptors[w->nacceptors++] = a;
	}
	w->listeners_gen = listeners_gen;
	return 0;
}

static void
worker_wake(struct worker *w)
{
	uint64_t one = 1;

	if (write(w->notify_fd, &one, sizeof(one)) != sizeof(one))
		log_warn("cannot wake worker %u", w->index);
}

static bool
same_string(const char *a, const char *b)
{
	return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/*
 * Settings read once at start-up.  Everything else takes effect at the
 * reload: per-session settings for the sessions that start afterwards,
 * log_level, syslog and the protocol log at once, shutdown_timeout at the
 * next stop.
 */
static void
server_reload_restart_only(const struct conf *old, const struct conf *c)
{
	const char *changed[4];
	size_t n = 0;

	if (old->workers != c->workers)
		changed[n++] = "[postern] workers";
	if (!same_string(old->user, c->user))
		changed[n++] = "[postern] user";
	if (!same_string(old->pid_file, c->pid_file))
		changed[n++] = "[postern] pid_file";
	if (old->groups.ldap_threads != c->groups.ldap_threads)
		changed[n++] = "[groups] ldap_threads";
	for (size_t i = 0; i < n; i++)
		log_warnx("reload: %s changed; it takes effect only after a "
			  "restart",
		    changed[i]);
}

/* The daemon log says which addresses a reload opened and closed. */
static void
server_log_listeners(const struct listener_set *old,
    const struct listener_set *set)
{
	for (size_t i = 0; i < set->n; i++)
		if (!listener_set_has(old, set->l[i]))
			log_notice("reload: %s listening on %s",
			    proto_name(set->l[i]->proto), set->l[i]->addr.str);
	for (size_t i = 0; i < old->n; i++)
		if (!listener_set_has(set, old->l[i]))
			log_notice("reload: %s no longer listening on %s",
			    proto_name(old->l[i]->proto), old->l[i]->addr.str);
}

/*
 * The certificates and keys as the privileged helper read them, into
 * *files; NULL when there is no helper or it read nothing, and the files
 * are then opened as the user postern runs as (the log says why).
 */
static void
server_reload_files(struct privsep_files **files)
{
	char err[512];

	*files = NULL;
	if (!privsep_running())
		return;
	if (privsep_fetch(files, err, sizeof(err)) == -1) {
		log_warnx("reload: %s; reading the certificates and keys as "
			  "user %s",
		    err, current->user != NULL ? current->user : "?");
		return;
	}
	if ((*files)->refused != NULL) {
		log_warnx("reload: the privileged helper reads no key: %s; "
			  "reading the certificates and keys as user %s",
		    (*files)->refused,
		    current->user != NULL ? current->user : "?");
		privsep_files_free(*files);
		*files = NULL;
	}
}

/*
 * Reads the file again; a broken one is refused and the old one kept.
 * Returns 0 when the new configuration was taken, -1 when it was refused;
 * then *why, when why is not NULL, holds the reasons, one per line (free
 * it), or NULL.
 */
static int
server_reload(char **why)
{
	char *errs = NULL;
	size_t errlen = 0;
	FILE *mem;
	struct conf *c = NULL, *old;
	struct listener_set set = {0}, oldset;
	struct privsep_files *files = NULL;

	if (why != NULL)
		*why = NULL;
	if ((mem = open_memstream(&errs, &errlen)) == NULL) {
		log_warn("reload: open_memstream");
		return -1;
	}
	server_reload_files(&files);
	tls_conf_use_files(files);
	c = conf_load(current->path, mem);
	tls_conf_use_files(NULL);
	privsep_files_free(files);
	/* Privileges are gone: a new port below 1024 cannot be bound, and
	 * the reload is refused with that reason. */
	if (c != NULL &&
	    (tls_conf_setup(c, mem) == -1 || server_prepare(c, mem) == -1 ||
		server_protolog_check(c, mem) == -1 ||
		listener_rebind(c, &listeners, &set, mem) == -1)) {
		conf_unref(c);
		c = NULL;
	}
	if (c != NULL) {
		struct protolog_conf pl[PROTO_COUNT];
		char err[512];

		/* Last: once it succeeds, new rows follow the new settings. */
		conf_protolog(c, pl);
		if (protolog_reconfigure(pl, err, sizeof(err)) == -1) {
			fprintf(mem, "%s: %s\n", c->path, err);
			conf_unref(c);
			c = NULL;
			listener_set_release(&set);
		}
	}
	fclose(mem);
	if (c == NULL) {
		char *line, *save = NULL;

		if (why != NULL)
			*why = strdup(errs);
		for (line = strtok_r(errs, "\n", &save); line != NULL;
		     line = strtok_r(NULL, "\n", &save))
			log_error("reload: %s", line);
		log_error("reload: configuration refused; still running "
			  "with the previous one");
		free(errs);
		return -1;
	}
	free(errs);
	server_reload_restart_only(current, c);
	stats_reload(current, c);
	for (int p = 0; p < PROTO_COUNT; p++)
		if (current->proto[p].enabled && !c->proto[p].enabled)
			log_warnx(
			    "reload: %s disabled: new connections "
			    "are told so and closed until a restart closes "
			    "its ports",
			    proto_name(p));
	log_init(c->log_level, c->syslog);
	server_log_listeners(&listeners, &set);
	pthread_mutex_lock(&current_lock);
	old = current;
	current = c;
	atomic_fetch_add(&current_gen, 1);
	oldset = listeners;
	listeners = set;
	listeners_gen++;
	pthread_mutex_unlock(&current_lock);
	conf_unref(old);
	/* Sockets no worker accepts on any more close with the last one. */
	listener_set_release(&oldset);
	for (unsigned i = 0; i < nworkers; i++)
		worker_wake(&workers[i]);
	log_notice("reload: configuration %s loaded", c->path);
	return 0;
}

/* What systemctl status shows while postern serves. */
static void
server_ready(const char *what)
{
	char status[256];

	snprintf(status, sizeof(status),
	    "%s: %zu listening address%s, %u "
	    "worker%s",
	    what, listeners.n, listeners.n == 1 ? "" : "es", nworkers,
	    nworkers == 1 ? "" : "s");
	sdnotify_ready(status);
}

/*
 * A reload, whoever asked for it.  systemd is told RELOADING=1 first and
 * READY=1 after, also when the file is refused: the daemon then still
 * serves, with the previous configuration, and STATUS= says so.
 */
static int
server_reload_notify(char **why)
{
	int rc;

	sdnotify_reloading();
	rc = server_reload(why);
	server_ready(rc == 0 ?
			 "Configuration reloaded" :
			 "Reload refused (see the log), running the previous "
			 "configuration");
	return rc;
}

/* "postern -R": a reload whose outcome the asking process learns. */
static void
server_reload_request_cb(evutil_socket_t lfd, short what, void *arg)
{
	char denied[256], *why = NULL;
	int fd, rc;

	(void)what;
	(void)arg;
	if ((fd = reloadctl_accept(lfd, denied, sizeof(denied))) == -1) {
		if (denied[0] != '\0')
			log_warnx("%s", denied);
		return;
	}
	log_notice("reload asked for by postern -R");
	rc = server_reload_notify(&why);
	reloadctl_answer(fd, rc == 0,
	    rc == 0     ? NULL :
	    why != NULL ? why :
			  "(the reasons are in the daemon log)\n");
	free(why);
}

/* Stops taking reload requests (at stop: a request then fails at once). */
static void
server_reload_close(void)
{
	if (reload_ev != NULL)
		event_free(reload_ev);
	reload_ev = NULL;
	if (reload_fd != -1)
		close(reload_fd);
	reload_fd = -1;
}

/*
 * The watchdog: WATCHDOG=1 only when every worker has answered the wake of
 * the previous turn, so that a worker stuck in a loop gets the daemon
 * restarted rather than serving half its connections.
 */
static void
server_watchdog_cb(evutil_socket_t fd, short what, void *arg)
{
	bool alive = true;

	(void)fd;
	(void)what;
	(void)arg;
	for (unsigned i = 0; i < nworkers; i++) {
		unsigned b = atomic_load(&workers[i].beats);

		if (b == workers[i].beats_seen) {
			alive = false;
			log_warnx("worker %u does not answer: no watchdog "
				  "keep-alive this turn",
			    i);
		}
		workers[i].beats_seen = b;
	}
	if (alive)
		sdnotify_watchdog();
	for (unsigned i = 0; i < nworkers; i++)
		worker_wake(&workers[i]);
}

static void
server_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct event_base *base = arg;

	(void)what;
	if (sig == SIGHUP) {
		server_reload_notify(NULL);
		return;
	}
	log_notice("received signal %d: stopping (grace time %u ms)", (int)sig,
	    current->shutdown_timeout_ms);
	{
		char status[128];

		snprintf(status, sizeof(status),
		    "Stopping: open sessions "
		    "have %u ms to finish",
		    current->shutdown_timeout_ms);
		sdnotify_stopping(status);
	}
	server_reload_close();
	atomic_store(&stop_grace_ms, current->shutdown_timeout_ms);
	/* The last worker to stop accepting closes each socket. */
	pthread_mutex_lock(&current_lock);
	listener_set_release(&listeners);
	listeners_gen++;
	pthread_mutex_unlock(&current_lock);
	for (unsigned i = 0; i < nworkers; i++) {
		atomic_store(&workers[i].stopping, true);
		worker_wake(&workers[i]);
	}
	event_base_loopbreak(base);
}

/* The counts of repeated warnings held back, once their interval ends
 * (log_limited()): a storm that stops still gets its count written. */
static void
server_log_limit_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	log_limit_flush(false);
}

int
server_run(struct conf *c, struct listener_set *set)
{
	struct event_base *base;
	struct event *sig[3], *limit_ev, *watchdog = NULL;
	struct timeval second = {1, 0};
	int signals[3] = {SIGTERM, SIGINT, SIGHUP};
	int status = 0;
	unsigned started = 0;
	uint64_t wd_usec;

	current = c;
	listeners = *set;
	nworkers = c->workers;
	connlimit_init();
	session_ids_init();
	signal(SIGPIPE, SIG_IGN);
	if ((base = event_base_new()) == NULL)
		fatalx("cannot create the main event loop");
	for (int i = 0; i < 3; i++) {
		sig[i] = evsignal_new(base, signals[i], server_signal_cb, base);
		if (sig[i] == NULL || event_add(sig[i], NULL) == -1)
			fatalx("cannot handle signal %d", signals[i]);
	}
	if (server_protolog_start(c) == -1)
		return 1;
	limit_ev = event_new(base, -1, EV_PERSIST, server_log_limit_cb, NULL);
	if (limit_ev == NULL || event_add(limit_ev, &second) == -1)
		fatalx("cannot start the log timer");
	/* Without it SIGHUP still reloads; only "postern -R" cannot ask. */
	if ((reload_fd = reloadctl_listen()) == -1)
		log_warn("cannot take reload requests (postern -R)");
	else if ((reload_ev = event_new(base, reload_fd, EV_READ | EV_PERSIST,
		      server_reload_request_cb, NULL)) == NULL ||
		 event_add(reload_ev, NULL) == -1)
		fatalx("cannot listen for reload requests");
	if ((groups_svc = groups_new(c)) == NULL)
		fatalx("out of memory");
	if ((workers = calloc(nworkers, sizeof(*workers))) == NULL)
		fatalx("out of memory");
	for (unsigned i = 0; i < nworkers; i++) {
		if (worker_setup(&workers[i], i, &listeners) == -1)
			fatal("cannot set up worker %u", i);
		workers[i].conf = conf_ref(c);
		atomic_store(&workers[i].conf_gen, atomic_load(&current_gen));
	}
	if (stats_start(c, nworkers) == -1)
		fatalx("cannot start the stats server");
	for (unsigned i = 0; i < nworkers; i++) {
		if (pthread_create(&workers[i].thread, NULL, worker_main,
			&workers[i]) != 0) {
			log_error("cannot start worker %u", i);
			status = 1;
			break;
		}
		started++;
	}
	/* A third of the interval: one turn may pass without every worker's
	 * answer and the next keep-alive still be in time. */
	if (started == nworkers && (wd_usec = sdnotify_watchdog_usec()) > 0) {
		struct timeval tv;

		wd_usec /= 3;
		tv.tv_sec = (time_t)(wd_usec / 1000000);
		tv.tv_usec = (suseconds_t)(wd_usec % 1000000);
		watchdog =
		    event_new(base, -1, EV_PERSIST, server_watchdog_cb, NULL);
		if (watchdog == NULL || event_add(watchdog, &tv) == -1)
			fatalx("cannot set up the watchdog timer");
		log_info("systemd watchdog: keep-alive every %llu ms",
		    (unsigned long long)wd_usec / 1000);
		/* The first turn's question. */
		for (unsigned i = 0; i < nworkers; i++)
			worker_wake(&workers[i]);
	}
	if (started == nworkers) {
		log_notice("postern %s started: %u worker%s", PACKAGE_VERSION,
		    nworkers, nworkers == 1 ? "" : "s");
		server_ready("Serving");
		event_base_dispatch(base);
	} else {
		for (unsigned i = 0; i < started; i++) {
			atomic_store(&workers[i].stopping, true);
			worker_wake(&workers[i]);
		}
	}
	stats_stop();
	for (unsigned i = 0; i < started; i++)
		pthread_join(workers[i].thread, NULL);
	for (unsigned i = 0; i < nworkers; i++) {
		struct worker *w = &workers[i];

		worker_stop_listening(w);
		if (w->grace != NULL)
			event_free(w->grace);
		if (w->notify != NULL)
			event_free(w->notify);
		if (w->notify_fd != -1)
			close(w->notify_fd);
		free(w->acceptors);
		conf_unref(w->conf);
		if (w->base != NULL)
			event_base_free(w->base);
	}
	free(workers);
	listener_set_release(&listeners);
	for (int i = 0; i < 3; i++)
		event_free(sig[i]);
	event_free(limit_ev);
	if (watchdog != NULL)
		event_free(watchdog);
	server_reload_close();
	event_base_free(base);
	/* Every port is gone with its worker. */
	groups_free(groups_svc);
	groups_svc = NULL;
	stats_free();
	/* Every session is closed: their last rows are queued. */
	protolog_stop();
	conf_unref(current);
	current = NULL;
	log_limit_flush(true);
	log_notice("postern stopped");
	return status;
}
