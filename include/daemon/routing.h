/*
 * routing: which backend a login goes to.
 *
 * Routing happens once a login's user name is known and the access
 * policy has let it through, before any credential reaches a backend.
 * The first source that names a backend wins: the map file's entry for
 * the user (routemap.h), then the route of the allow rule that let the
 * login through ([rule] route, so that a rule on a group moves the whole
 * group), then the protocol's own backend.  The map comes first because
 * it names single users: an exception to a group's move is a map line.
 * A route never changes during a session and never falls back to another
 * backend: another backend holds another mailbox, and a user shown an
 * empty one would act on it.
 */
#ifndef POSTERN_ROUTING_H
#define POSTERN_ROUTING_H

#include "conf.h"
#include "routemap.h"

struct conf_module;

/* Room for routing_source()'s text: "rule:" and the longest rule name. */
#define ROUTE_SOURCE_MAX 96

/* A login's route. */
struct route {
	const struct backend *backend;
	enum routemap_match match; /* ROUTEMAP_NONE: the protocol's own */
	int line;                  /* of the map's entry; 0 for none */
	const char *rule; /* the access rule that routed (its name, in the
			     snapshot); NULL when it did not */
};

/*
 * The route of user (the login name as the client gave it) for protocol
 * p in snapshot c; rule is the policy decision's route_rule (may be
 * NULL).  Always fills r: without a map entry or a rule's route the
 * backend is the protocol's own.
 */
void routing_choose(const struct conf *c, enum proto_id p, const char *user,
    const struct rule *rule, struct route *r);

/*
 * Where r came from, for the logs: "map:<line>:<kind>" (the kind as
 * routemap_match_name() names it), "rule:<name>" or "default".
 */
void routing_source(const struct route *r, char *buf, size_t len);

/* The configuration of [backend "<name>"] and [routing] (routing_conf.c). */
extern const struct conf_module routing_conf_module;

#endif
