/*
 * routing: which backend a login goes to.
 */
#include "config.h"

#include <stdio.h>

#include "routing.h"

void
routing_choose(const struct conf *c, enum proto_id p, const char *user,
    const struct rule *rule, struct route *r)
{
	const struct routing_conf *rc = &c->routing;
	int v = -1;

	r->match = ROUTEMAP_NONE;
	r->line = 0;
	r->rule = NULL;
	if (rc->map != NULL)
		v = routemap_lookup(rc->map, user, &r->match, &r->line);
	if (v < 0 && rule != NULL && rule->route_index >= 0) {
		v = rule->route_index;
		r->rule = rule->name;
	}
	/* The last number stands for "default", the protocol's own. */
	if (v >= 0 && (size_t)v < rc->nnamed)
		r->backend = rc->named[v];
	else
		r->backend = rc->defaults[p];
}

void
routing_source(const struct route *r, char *buf, size_t len)
{
	if (r->rule != NULL)
		snprintf(buf, len, "rule:%s", r->rule);
	else if (r->match == ROUTEMAP_NONE)
		snprintf(buf, len, "default");
	else
		snprintf(buf, len, "map:%d:%s", r->line,
		    routemap_match_name(r->match));
}
