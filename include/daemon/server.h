/*
 * server: the running daemon: worker threads, the current configuration
 * snapshot, reload and shutdown.
 */
#ifndef POSTERN_SERVER_H
#define POSTERN_SERVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/queue.h>

#include "blockcache.h"
#include "conf.h"
#include "listener.h"

struct event;
struct event_base;
struct groups_port;
struct session;

TAILQ_HEAD(session_list, session);

/* One worker thread: its event loop, its listeners, its sessions. */
struct worker {
	unsigned index;
	pthread_t thread;
	struct event_base *base;
	struct event *notify; /* woken by the main thread through notify_fd */
	int notify_fd;        /* eventfd */
	struct acceptor **acceptors; /* one per shared listener */
	size_t nacceptors;
	unsigned listeners_gen; /* of the listener set it accepts on */
	struct session_list sessions;
	unsigned nsessions;
	atomic_bool stopping;
	bool grace_over;
	struct event *grace;
	struct conf *conf;         /* this worker's reference to the snapshot */
	struct groups_port *gport; /* where group lookups answer; may be NULL */
	atomic_uint conf_gen;      /* generation of the snapshot it holds */
	atomic_uint beats;         /* wakes answered, for the watchdog */
	unsigned beats_seen;       /* the main thread's last look at beats */
	struct blockcache cache;   /* spare blocks of its sessions' sizes */
};

/*
 * Resolves every enabled protocol's backend address into c (blocking:
 * call from the main thread only).  Writes "path: message" lines to errout
 * and returns -1 on failure.
 */
int server_prepare(struct conf *c, FILE *errout);

/*
 * protolog: checks that this process may write the protocol-log directory
 * of every protocol that logs, creating missing ones.  Writes
 * "path:line: message" lines to errout and returns -1 on failure.
 */
int server_protolog_check(const struct conf *c, FILE *errout);

/*
 * For "postern -t": writes a line to errout for each protocol-log
 * directory another running postern holds, and returns how many.
 */
int server_protolog_probe(const struct conf *c, FILE *errout);

/*
 * Runs the daemon on the bound listeners until SIGTERM/SIGINT: starts the
 * workers and the protocol-log writer, handles SIGHUP, and returns the
 * exit status.  Takes over c and set.
 */
int server_run(struct conf *c, struct listener_set *set);

/* A new reference to the current snapshot, for a new session on w. */
struct conf *server_conf(struct worker *w);

/* Called by session_close(): the worker lost a session. */
void server_session_gone(struct worker *w);

/* Adds s to w's list of sessions. */
void server_session_add(struct worker *w, struct session *s);

struct conf_module;

/* The configuration of the [postern] section. */
extern const struct conf_module server_conf_module;

#endif
