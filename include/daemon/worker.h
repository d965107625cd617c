/*
 * worker: one worker thread's data.  server.c creates and runs the
 * workers; their sessions, and the stats server's port on each (answering
 * /health and /sessions from the worker's own loop), read it on that
 * thread.  It is a header of its own so that those readers need not know
 * the server that runs the threads (server.h), which calls them.
 */
#ifndef POSTERN_WORKER_H
#define POSTERN_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
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
	unsigned probed_gen;       /* the last one probed (session_probe()) */
	atomic_uint beats;         /* wakes answered, for the watchdog */
	unsigned beats_seen;       /* the main thread's last look at beats */
	struct blockcache cache;   /* spare blocks of its sessions' sizes */
};

#endif
