/*
 * server: the running daemon: worker threads, the current configuration
 * snapshot, reload and shutdown.  A worker's data is worker.h's; the
 * functions below that take a worker are its sessions' registration,
 * called on the worker's own thread.
 */
#ifndef POSTERN_SERVER_H
#define POSTERN_SERVER_H

#include <stdio.h>

#include "conf.h"
#include "listener.h"
#include "worker.h"

struct session;

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

/*
 * A new reference to the current snapshot, for a new session on w.  The
 * worker refreshes its own reference only when a reload has made another
 * snapshot current, so that a session takes the snapshot's lock only then.
 */
struct conf *server_conf(struct worker *w);

/*
 * Called by session_close(): the worker lost a session.  A stopping
 * worker's loop ends with its last session.
 */
void server_session_gone(struct worker *w);

/* Adds s to w's list of sessions. */
void server_session_add(struct worker *w, struct session *s);

struct conf_module;

/* The configuration of the [postern] section. */
extern const struct conf_module server_conf_module;

#endif
