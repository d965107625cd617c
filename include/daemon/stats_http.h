/*
 * stats_http: the HTTP server of [stats] (libevent's evhttp, a thread of
 * its own) that serves the counters of stats.h as /metrics, and /health
 * and /sessions, which each worker answers from its own loop.  A module
 * apart from the counters: it reads the workers' sessions, and the
 * counters are called from below the session (groups, backend), so that
 * they must know nothing of it.
 */
#ifndef POSTERN_STATS_HTTP_H
#define POSTERN_STATS_HTTP_H

#include <stdio.h>

struct conf;
struct worker;

/*
 * Binds [stats] listen of c, if set, while the privileges allow any port.
 * Writes "path:line: [stats] listen: cannot listen on ...: reason" to
 * errout and returns -1 on failure.
 */
int stats_bind(const struct conf *c, FILE *errout);

/*
 * Starts counting for nworkers workers and, when stats_bind() bound a
 * socket, the HTTP thread.  Before the workers start.  Returns -1 (after
 * logging why) on failure.
 */
int stats_start(struct conf *c, unsigned nworkers);

/* A reload took c: its allowed_ips and token apply to the next request. */
void stats_reload(const struct conf *old, struct conf *c);

/* Stops the HTTP thread.  Before the workers are joined. */
void stats_stop(void);

/* Frees the counters, after the workers are gone. */
void stats_free(void);

/*
 * From worker w's thread, before its loop runs and after it ended.  The
 * worker's own loop answers /health and /sessions (stats_http.c), reading
 * its acceptors and sessions (worker.h) on its thread, so that the HTTP
 * thread never touches them.
 */
void stats_worker_attach(struct worker *w);
void stats_worker_detach(struct worker *w);

#endif /* POSTERN_STATS_HTTP_H */
