/*
 * routing: which backend a login goes to.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "groups.h"
#include "routing.h"
#include "strcopy.h"

bool
routing_needs_directory(const struct conf *c)
{
	return c->routing.ldap_route_attribute != NULL;
}

const struct route_value *
routing_value(const struct routing_conf *rc, const char *value)
{
	size_t i;

	for (i = 0; i < rc->nvalues; i++)
		if (strcasecmp(rc->values[i].value, value) == 0)
			return &rc->values[i];
	return NULL;
}

/*
 * The directory's say, after a silent map: the backend's index (nnamed
 * for the protocol's own), -1 when it says nothing (the next source
 * decides), or -2 when the login is refused.
 */
static int
choose_ldap(const struct routing_conf *rc, const struct group_list *gl,
    struct route *r)
{
	const struct route_value *rv = NULL;

	if (gl == NULL) {
		r->refused = ROUTE_REFUSED_NO_LOOKUP;
		return -2;
	}
	switch (gl->route_kind) {
	case GROUP_ROUTE_NONE:
		return -1;
	case GROUP_ROUTE_VALUE:
		rv = routing_value(rc, gl->route);
		break;
	case GROUP_ROUTE_BAD:
		break;
	}
	if (rv != NULL && rv->index >= 0) {
		r->ldap = ROUTE_LDAP_MAPPED;
		r->ldap_value = rv->value;
		return rv->index;
	}
	/* A value without a mapping, or values that are no route: another
	 * server than the directory's would show another mailbox. */
	if (rc->unmapped_route == ROUTING_UNMAPPED_REFUSE) {
		r->refused = ROUTE_REFUSED_UNMAPPED;
		return -2;
	}
	r->ldap = ROUTE_LDAP_UNMAPPED;
	return (int)rc->nnamed;
}

int
routing_choose(const struct conf *c, enum proto_id p, const char *user,
    const struct rule *rule, const struct group_list *gl, struct route *r)
{
	const struct routing_conf *rc = &c->routing;
	int v = -1;

	memset(r, 0, sizeof(*r));
	r->match = ROUTEMAP_NONE;
	/* A relayed NTLM or GSSAPI exchange is routed before its user is
	 * known (passthru.h): neither the map nor the directory can apply. */
	if (rc->map != NULL && user != NULL && user[0] != '\0')
		v = routemap_lookup(rc->map, user, &r->match, &r->line);
	if (v < 0 && rc->ldap_route_attribute != NULL && user != NULL &&
	    user[0] != '\0' && (v = choose_ldap(rc, gl, r)) == -2)
		return -1;
	if (v < 0 && rule != NULL && rule->route_index >= 0) {
		v = rule->route_index;
		r->rule = rule->name;
	}
	/* The last number stands for "default", the protocol's own. */
	if (v >= 0 && (size_t)v < rc->nnamed)
		r->backend = rc->named[v];
	else
		r->backend = rc->defaults[p];
	return 0;
}

void
routing_source(const struct route *r, char *buf, size_t len)
{
	size_t n;

	/* Every logged login names its route: no stdio but for a map's. */
	if (r->rule != NULL) {
		n = str_copy(buf, len, "rule:");
		str_copy(buf + n, len - n, r->rule);
	} else if (r->ldap == ROUTE_LDAP_MAPPED) {
		n = str_copy(buf, len, "ldap:");
		str_copy(buf + n, len - n,
		    r->ldap_value != NULL ? r->ldap_value : "(null)");
	} else if (r->ldap == ROUTE_LDAP_UNMAPPED)
		str_copy(buf, len, "ldap-unmapped");
	else if (r->match == ROUTEMAP_NONE)
		str_copy(buf, len, "default");
	else
		snprintf(buf, len, "map:%d:%s", r->line,
		    routemap_match_name(r->match));
}
