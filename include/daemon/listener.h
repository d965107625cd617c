/*
 * listener: listening sockets.
 *
 * The main thread binds every binding once, while it still has the
 * privileges for ports below 1024, and every worker accepts on the same
 * socket from its own event loop.  The sockets are opened without
 * SO_REUSEPORT: with it, any other process of the same user could bind the
 * same addresses and silently take a share of the connections; without it,
 * a second instance on the same bindings fails to start with EADDRINUSE.
 */
#ifndef POSTERN_LISTENER_H
#define POSTERN_LISTENER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>

#include <event2/util.h>

#include "conf.h"
#include "netaddr.h"

struct event_base;
struct evconnlistener;
struct worker;

/*
 * The bound socket of one binding, shared by every worker.  Counted
 * references: one for each listener_set that lists it and one for each
 * worker's acceptor; the last to let go closes the socket, so that new
 * connections are refused from then on.
 */
struct listener {
	int fd;
	enum proto_id proto;
	bool implicit_tls;
	struct netaddr addr; /* as configured, for matching and messages */
	atomic_uint refs;
};

/*
 * Takes a socket accepted on l, in worker w's loop; owns fd from then on.
 * The daemon's (server.c) counts the connection for l and starts a
 * session: the listener itself knows neither, so that it stays below both.
 */
typedef void listener_accept_fn(struct worker *w, const struct listener *l,
    evutil_socket_t fd, const struct sockaddr *peer, socklen_t peerlen);

/* One worker's accepting on one shared listener. */
struct acceptor {
	struct listener *l;
	struct worker *worker;
	listener_accept_fn *accept;
	struct evconnlistener *ev;
	struct event *retry; /* re-enables accepting after EMFILE */
};

/* The listeners of one configuration, each holding a reference. */
struct listener_set {
	struct listener **l;
	size_t n;
};

/*
 * Binds and listens on every binding of every enabled protocol, once.  On
 * failure writes "path:line: cannot listen on ADDR: reason" to errout,
 * closes what it opened and returns -1.
 */
int listener_bind_all(const struct conf *c, struct listener_set *set,
    FILE *errout);

/*
 * For a reload: the listeners of c in set, taken from old where old has
 * the same address, protocol and kind (the socket is kept, and with it
 * the connections waiting in its queue), bound anew otherwise.  Listeners
 * of protocols that c disables stay (their clients are told so until a
 * restart).  Errors as listener_bind_all(); old is not changed.
 */
int listener_rebind(const struct conf *c, const struct listener_set *old,
    struct listener_set *set, FILE *errout);

/* Lets go of set's references and empties it. */
void listener_set_release(struct listener_set *set);

/* Whether set lists l. */
bool listener_set_has(const struct listener_set *set, const struct listener *l);

/*
 * For "postern -t": tries to bind every binding of every enabled protocol
 * and releases it at once.  Writes one "path:line: warning: cannot listen
 * on ADDR: reason" line to errout per binding that is in use (by another
 * process, such as a running postern) or not an address of this host, and
 * returns how many.
 */
int listener_probe(const struct conf *c, FILE *errout);

/*
 * Starts accepting on l in w's loop base, taking a reference; accepted
 * sockets go to accept.  Fills a; returns -1 on failure (a is then
 * empty).
 */
int listener_attach(struct listener *l, struct acceptor *a, struct worker *w,
    struct event_base *base, listener_accept_fn *accept);

/* Stops a's accepting and lets go of its reference.  From a's worker. */
void listener_detach(struct acceptor *a);

#endif
