/*
 * listener: listening sockets.
 *
 * The main thread binds every binding once per worker (SO_REUSEPORT) while
 * it still has the privileges for ports below 1024; each worker then
 * accepts on its own copies, so the kernel spreads connections and no
 * accept lock exists.
 */
#ifndef POSTERN_LISTENER_H
#define POSTERN_LISTENER_H

#include <stdbool.h>
#include <stdio.h>

#include "conf.h"
#include "netaddr.h"

struct event_base;
struct evconnlistener;
struct worker;

/* One bound socket of one binding, owned by one worker. */
struct listener {
	int fd;
	enum proto_id proto;
	bool implicit_tls;
	struct netaddr addr;
	struct evconnlistener *ev; /* set by listener_attach() */
	struct event *retry;	   /* re-enables accepting after EMFILE */
	struct worker *worker;
};

/* The sockets of every enabled binding, nworkers copies of each. */
struct listener_set {
	struct listener *l;
	size_t n;
};

/*
 * Binds and listens on every binding of every enabled protocol, nworkers
 * times.  On failure writes "path:line: cannot listen on ADDR: reason" to
 * errout, closes what it opened and returns -1.
 */
int listener_bind_all(const struct conf *c, unsigned nworkers,
    struct listener_set *set, FILE *errout);

/* Starts accepting on l in base; accepted sockets go to session_accept(). */
int listener_attach(struct listener *l, struct worker *w,
    struct event_base *base);

/* Stops accepting on l and closes its socket. */
void listener_close(struct listener *l);

/* Whether the bindings of a and b (enabled protocols only) are the same. */
bool listener_same_bindings(const struct conf *a, const struct conf *b);

#endif
