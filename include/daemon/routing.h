/*
 * routing: which backend a login goes to.
 *
 * Routing happens once a login's user name is known and the access
 * policy has let it through, before any credential reaches a backend.
 * The first source that names a backend wins: the map file's entry for
 * the user (routemap.h), then the value of the user's directory entry's
 * [routing] ldap_route_attribute looked up in [route_values] (read in the
 * same search as the groups, groups.h), then the route of the allow rule
 * that let the login through ([rule] route, so that a rule on a group
 * moves the whole group), then the protocol's own backend.  The map comes
 * first because it names single users: an exception to a group's move or
 * to what the directory says is a map line.
 * A route never changes during a session and never falls back to another
 * backend: another backend holds another mailbox, and a user shown an
 * empty one would act on it.
 */
#ifndef POSTERN_ROUTING_H
#define POSTERN_ROUTING_H

#include "conf.h"
#include "routemap.h"

struct conf_module;
struct group_list;

/*
 * Room for routing_source()'s text: "ldap:" and the longest
 * [route_values] value, or "rule:" and the longest rule name.
 */
#define ROUTE_SOURCE_MAX 272

/* What the directory's route attribute did for a login. */
enum route_ldap {
	ROUTE_LDAP_NONE,    /* nothing: another source decided */
	ROUTE_LDAP_MAPPED,  /* its value is in [route_values] */
	ROUTE_LDAP_UNMAPPED /* it names no route; unmapped_route = default */
};

/* Why a login has no route (routing_choose() returned -1). */
enum route_refusal {
	ROUTE_REFUSED_NONE,
	/* The route attribute is configured, the map is silent, and the
	 * directory lookup failed: the user's server is unknown. */
	ROUTE_REFUSED_NO_LOOKUP,
	/* The attribute names no route and unmapped_route = refuse. */
	ROUTE_REFUSED_UNMAPPED
};

/* A login's route. */
struct route {
	const struct backend *backend;
	enum routemap_match match; /* ROUTEMAP_NONE: the protocol's own */
	int line;                  /* of the map's entry; 0 for none */
	enum route_ldap ldap;
	/* ROUTE_LDAP_MAPPED: the [route_values] value as configured (in
	 * the snapshot), never the directory's own bytes. */
	const char *ldap_value;
	const char *rule; /* the access rule that routed (its name, in the
			     snapshot); NULL when it did not */
	enum route_refusal refused;
};

/* Whether logins under c need the user's directory entry to be routed. */
bool routing_needs_directory(const struct conf *c);

/*
 * The route of user (the login name as the client gave it) for protocol
 * p in snapshot c; rule is the policy decision's route_rule (may be
 * NULL); gl is the user's lookup (groups.h), with the route attribute
 * when one is configured, or NULL when there was none or it failed.
 * Returns 0 with r filled (without a map entry, directory value or
 * rule's route, the backend is the protocol's own), or -1 when the login
 * must be refused for now: r->refused says why, r->backend is NULL.
 */
int routing_choose(const struct conf *c, enum proto_id p, const char *user,
    const struct rule *rule, const struct group_list *gl, struct route *r);

/*
 * Where r came from, for the logs: "map:<line>:<kind>" (the kind as
 * routemap_match_name() names it), "ldap:<value>" (as [route_values]
 * writes it), "ldap-unmapped" (unmapped_route = default sent it to the
 * protocol's own backend), "rule:<name>" or "default".
 */
void routing_source(const struct route *r, char *buf, size_t len);

/* The [route_values] entry for value (case-insensitive), or NULL. */
const struct route_value *routing_value(const struct routing_conf *rc,
    const char *value);

/* The configuration of [backend "<name>"] and [routing] (routing_conf.c). */
extern const struct conf_module routing_conf_module;

#endif
