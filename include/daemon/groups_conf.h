/*
 * groups_conf: the [groups] section, the group sources
 * (groups_conf.c reads it, groups.h looks groups up).
 */
#ifndef POSTERN_GROUPS_CONF_H
#define POSTERN_GROUPS_CONF_H

#include <stdbool.h>

struct groups_file;

/* How nested group memberships are found in the directory. */
enum ldap_nested {
	LDAP_NESTED_NO,       /* the group attribute's values only */
	LDAP_NESTED_IN_CHAIN, /* AD's LDAP_MATCHING_RULE_IN_CHAIN search */
	LDAP_NESTED_WALK      /* follow the groups' own group attribute */
};

/* The [groups] section. */
struct groups_conf {
	char *file;                      /* groups file, NULL: none */
	struct groups_file *file_groups; /* its contents, read at load */

	char *ldap_uri; /* NULL: no directory */
	char *ldap_ca_file;
	bool ldap_starttls; /* for ldap:// URIs */
	bool ldap_tls_verify;
	char *ldap_bind_dn; /* NULL: anonymous */
	char *ldap_bind_password_file;
	char *ldap_bind_password; /* read at load; never logged or dumped */
	char *ldap_base;
	char *ldap_user_filter;
	char *ldap_group_attribute;
	enum ldap_nested ldap_nested;
	unsigned
	    ldap_timeout_ms;   /* a whole lookup, connect and bind included */
	unsigned ldap_threads; /* lookup threads; not changed by a reload */
	unsigned cache_ttl_ms; /* 0: no caching */
	/* [routing] ldap_route_attribute, read with the groups (set by
	 * routing_conf.c, owned by the routing settings); NULL: none. */
	const char *route_attribute;
};

#endif
