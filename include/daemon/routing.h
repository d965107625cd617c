/*
 * routing: which backend a login goes to.
 *
 * Routing happens once a login's user name is known and the access
 * policy has let it through, before any credential reaches a backend:
 * the map file's entry for the user (routemap.h) if there is one, else
 * the protocol's own backend.  A route never changes during a session
 * and never falls back to another backend: another backend holds
 * another mailbox, and a user shown an empty one would act on it.
 */
#ifndef POSTERN_ROUTING_H
#define POSTERN_ROUTING_H

#include "conf.h"
#include "routemap.h"

struct conf_module;

/* A login's route. */
struct route {
	const struct backend *backend;
	enum routemap_match match; /* ROUTEMAP_NONE: the protocol's own */
	int line;                  /* of the map's entry; 0 for none */
};

/*
 * The route of user (the login name as the client gave it) for protocol
 * p in snapshot c.  Always fills r: without a map entry the backend is
 * the protocol's own.
 */
void routing_choose(const struct conf *c, enum proto_id p, const char *user,
    struct route *r);

/*
 * Where r came from, for the logs: "map:<line>:<kind>" (the kind as
 * routemap_match_name() names it) or "default".
 */
void routing_source(const struct route *r, char *buf, size_t len);

/* The configuration of [backend "<name>"] and [routing] (routing_conf.c). */
extern const struct conf_module routing_conf_module;

#endif
