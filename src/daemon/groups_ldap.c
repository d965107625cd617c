/*
 * groups_ldap: the directory query of the groups service, with OpenLDAP's
 * libldap.  Runs only in the service's pool threads (see groups.h): the
 * synchronous calls are fine there, each bounded by what is left of
 * ldap_timeout.  Each thread keeps one bound connection and reuses it
 * while the configuration snapshot is the same.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <ldap.h>

#include "conf.h"
#include "groups.h"

/* Most groups kept for one user: bounds the walk of nested groups. */
#define LDAP_GROUPS_MAX 1000
#define FILTER_MAX 2048

/* AD's LDAP_MATCHING_RULE_IN_CHAIN: transitive membership in one search. */
#define IN_CHAIN_OID "1.2.840.113556.1.4.1941"

struct ldconn {
	LDAP *ld;
	uint64_t serial;
};

static _Thread_local struct ldconn conn;

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* What is left until deadline, at least 1 ms; -1 when it has passed. */
static int
remaining(uint64_t deadline, struct timeval *tv)
{
	uint64_t now = now_ms(), left;

	if (now >= deadline)
		return -1;
	left = deadline - now;
	tv->tv_sec = (time_t)(left / 1000);
	tv->tv_usec = (suseconds_t)(left % 1000 * 1000);
	return 0;
}

static void
conn_close(void)
{
	if (conn.ld != NULL)
		ldap_unbind_ext_s(conn.ld, NULL, NULL);
	conn.ld = NULL;
	conn.serial = 0;
}

void
groups_ldap_thread_end(void)
{
	conn_close();
}

/* "what: LDAP's reason (server's message)" into err. */
static void
ld_error(LDAP *ld, int rc, const char *what, char *err, size_t errlen)
{
	char *diag = NULL;

	if (ld != NULL)
		ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diag);
	if (diag != NULL && *diag != '\0')
		snprintf(err, errlen, "%s: %s (%s)", what, ldap_err2string(rc),
		    diag);
	else
		snprintf(err, errlen, "%s: %s", what, ldap_err2string(rc));
	ldap_memfree(diag);
}

/* Whether rc says the connection is gone, so a fresh one may succeed. */
static bool
conn_lost(int rc)
{
	return rc == LDAP_SERVER_DOWN || rc == LDAP_CONNECT_ERROR ||
	       rc == LDAP_UNAVAILABLE;
}

/* Whether rc says the directory could not be reached or did not answer
 * in time, as opposed to an answer (a refused bind, a bad filter). */
static bool
unreachable(int rc)
{
	return rc == LDAP_TIMEOUT || conn_lost(rc);
}

/* Opens and binds conn; returns an LDAP result code. */
static int
conn_open(const struct groups_conf *gc, uint64_t deadline, char *err,
    size_t errlen)
{
	struct berval cred;
	struct timeval tv;
	LDAP *ld = NULL;
	int rc, v3 = LDAP_VERSION3, zero = 0, req;

	conn_close();
	if ((rc = ldap_initialize(&ld, gc->ldap_uri)) != LDAP_SUCCESS) {
		ld_error(NULL, rc, "ldap_uri", err, errlen);
		return rc;
	}
	if (remaining(deadline, &tv) == -1)
		goto timeout;
	req =
	    gc->ldap_tls_verify ? LDAP_OPT_X_TLS_DEMAND : LDAP_OPT_X_TLS_NEVER;
	/* AD answers searches at a domain's root with referrals; following
	 * them would bind anonymously elsewhere. */
	if (ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &v3) != 0 ||
	    ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF) != 0 ||
	    ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &tv) != 0 ||
	    ldap_set_option(ld, LDAP_OPT_TIMEOUT, &tv) != 0 ||
	    ldap_set_option(ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &req) != 0 ||
	    (gc->ldap_ca_file != NULL &&
		ldap_set_option(ld, LDAP_OPT_X_TLS_CACERTFILE,
		    gc->ldap_ca_file) != 0) ||
	    ldap_set_option(ld, LDAP_OPT_X_TLS_NEWCTX, &zero) != 0) {
		snprintf(err, errlen, "cannot set up the LDAP connection");
		rc = LDAP_LOCAL_ERROR;
		goto fail;
	}
	if (gc->ldap_starttls && strncasecmp(gc->ldap_uri, "ldap://", 7) == 0 &&
	    (rc = ldap_start_tls_s(ld, NULL, NULL)) != LDAP_SUCCESS) {
		ld_error(ld, rc, "StartTLS", err, errlen);
		goto fail;
	}
	if (gc->ldap_bind_dn != NULL) {
		if (remaining(deadline, &tv) == -1)
			goto timeout;
		ldap_set_option(ld, LDAP_OPT_TIMEOUT, &tv);
		cred.bv_val = gc->ldap_bind_password;
		cred.bv_len =
		    gc->ldap_bind_password ? strlen(gc->ldap_bind_password) : 0;
		rc = ldap_sasl_bind_s(ld, gc->ldap_bind_dn, LDAP_SASL_SIMPLE,
		    &cred, NULL, NULL, NULL);
		if (rc != LDAP_SUCCESS) {
			ld_error(ld, rc, "bind", err, errlen);
			goto fail;
		}
	}
	conn.ld = ld;
	return LDAP_SUCCESS;
timeout:
	snprintf(err, errlen, "directory did not answer within ldap_timeout");
	rc = LDAP_TIMEOUT;
fail:
	ldap_unbind_ext_s(ld, NULL, NULL);
	return rc;
}

static bool
has_ci(const struct group_list *gl, const char *s)
{
	size_t i;

	for (i = 0; i < gl->n; i++)
		if (strcasecmp(gl->v[i], s) == 0)
			return true;
	return false;
}

/* Adds the values of attr of entry e that are not in out yet. */
static int
add_values(LDAP *ld, LDAPMessage *e, const char *attr, struct group_list *out)
{
	struct berval **vals;
	char buf[1024];
	size_t i;
	int rc = 0;

	if ((vals = ldap_get_values_len(ld, e, attr)) == NULL)
		return 0;
	for (i = 0; vals[i] != NULL && out->n < LDAP_GROUPS_MAX; i++) {
		if (vals[i]->bv_len >= sizeof(buf) ||
		    memchr(vals[i]->bv_val, '\0', vals[i]->bv_len) != NULL)
			continue;
		memcpy(buf, vals[i]->bv_val, vals[i]->bv_len);
		buf[vals[i]->bv_len] = '\0';
		if (!has_ci(out, buf) && group_list_add(out, buf) == -1) {
			rc = -1;
			break;
		}
	}
	ldap_value_free_len(vals);
	return rc;
}

/* The route attribute's values of entry e into out (groups.h). */
static int
add_route(LDAP *ld, LDAPMessage *e, const char *attr, struct group_list *out)
{
	struct berval **vals;
	size_t i;
	int rc = 0;

	if ((vals = ldap_get_values_len(ld, e, attr)) == NULL)
		return 0;
	/* Past the second different value the answer cannot change. */
	for (i = 0; vals[i] != NULL && out->route_kind != GROUP_ROUTE_BAD;
	     i++) {
		if (group_list_route_add(out, vals[i]->bv_val,
			vals[i]->bv_len) == -1) {
			rc = -1;
			break;
		}
	}
	ldap_value_free_len(vals);
	return rc;
}

/*
 * One search; *res must be freed by the caller whatever is returned.
 * Returns an LDAP result code, LDAP_TIMEOUT when the deadline passed.
 */
static int
search(const char *base, int scope, const char *filter, char **attrs,
    int sizelimit, uint64_t deadline, LDAPMessage **res)
{
	struct timeval tv;

	*res = NULL;
	if (remaining(deadline, &tv) == -1)
		return LDAP_TIMEOUT;
	return ldap_search_ext_s(conn.ld, base, scope, filter, attrs, 0, NULL,
	    NULL, &tv, sizelimit, res);
}

/* Escapes a DN as an RFC 4515 assertion value. */
static int
escape_value(const char *s, char *buf, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = 0;

	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '*' || ch == '(' || ch == ')' || ch == '\\') {
			if (n + 3 >= len)
				return -1;
			buf[n++] = '\\';
			buf[n++] = hex[ch >> 4];
			buf[n++] = hex[ch & 0xf];
		} else {
			if (n + 1 >= len)
				return -1;
			buf[n++] = (char)ch;
		}
	}
	buf[n] = '\0';
	return 0;
}

static int
nested_in_chain(const struct groups_conf *gc, const char *userdn,
    uint64_t deadline, struct group_list *out, char *err, size_t errlen)
{
	char esc[FILTER_MAX], filter[FILTER_MAX + 64], *dn;
	char *attrs[] = {LDAP_NO_ATTRS, NULL};
	LDAPMessage *res, *e;
	int rc;

	if (escape_value(userdn, esc, sizeof(esc)) == -1) {
		snprintf(err, errlen, "user DN too long");
		return LDAP_OTHER;
	}
	snprintf(filter, sizeof(filter), "(member:" IN_CHAIN_OID ":=%s)", esc);
	rc = search(gc->ldap_base, LDAP_SCOPE_SUBTREE, filter, attrs, 0,
	    deadline, &res);
	if (rc == LDAP_SUCCESS || rc == LDAP_SIZELIMIT_EXCEEDED) {
		for (e = ldap_first_entry(conn.ld, res); e != NULL;
		     e = ldap_next_entry(conn.ld, e)) {
			if ((dn = ldap_get_dn(conn.ld, e)) == NULL)
				continue;
			if (out->n < LDAP_GROUPS_MAX && !has_ci(out, dn) &&
			    group_list_add(out, dn) == -1)
				rc = LDAP_NO_MEMORY;
			ldap_memfree(dn);
		}
		if (rc == LDAP_SIZELIMIT_EXCEEDED)
			rc = LDAP_SUCCESS;
	}
	if (rc != LDAP_SUCCESS)
		ld_error(conn.ld, rc, "nested group search", err, errlen);
	ldap_msgfree(res);
	return rc;
}

/* Reads the group attribute of every group found, breadth first. */
static int
nested_walk(const struct groups_conf *gc, uint64_t deadline,
    struct group_list *out, char *err, size_t errlen)
{
	char *attrs[] = {gc->ldap_group_attribute, NULL};
	char dn[1024];
	LDAPMessage *res, *e;
	size_t i;
	int rc = LDAP_SUCCESS;

	for (i = 0; i < out->n && rc == LDAP_SUCCESS; i++) {
		snprintf(dn, sizeof(dn), "%s", out->v[i]);
		rc = search(dn, LDAP_SCOPE_BASE, "(objectClass=*)", attrs, 0,
		    deadline, &res);
		if (rc == LDAP_SUCCESS) {
			e = ldap_first_entry(conn.ld, res);
			if (e != NULL &&
			    add_values(conn.ld, e, gc->ldap_group_attribute,
				out) == -1)
				rc = LDAP_NO_MEMORY;
		} else if (rc == LDAP_NO_SUCH_OBJECT ||
			   rc == LDAP_INVALID_DN_SYNTAX ||
			   rc == LDAP_INSUFFICIENT_ACCESS) {
			/* A value that names no readable group: a leaf. */
			rc = LDAP_SUCCESS;
		}
		ldap_msgfree(res);
	}
	if (rc != LDAP_SUCCESS)
		ld_error(conn.ld, rc, "nested group walk", err, errlen);
	return rc;
}

/* The whole query on the current connection; an LDAP result code. */
static int
query(const struct groups_conf *gc, const char *user, uint64_t deadline,
    struct group_list *out, char *err, size_t errlen)
{
	/* The route rides on the groups' search: one query per login. */
	char filter[FILTER_MAX], *attrs[] = {gc->ldap_group_attribute,
				     (char *)gc->route_attribute, NULL};
	LDAPMessage *res, *e;
	char *dn = NULL;
	int rc, n;

	if (groups_ldap_filter(gc->ldap_user_filter, user, filter,
		sizeof(filter)) == -1) {
		snprintf(err, errlen, "user name too long for the filter");
		return LDAP_FILTER_ERROR;
	}
	/* Two entries at most: more than one is an ambiguous filter. */
	rc = search(gc->ldap_base, LDAP_SCOPE_SUBTREE, filter, attrs, 2,
	    deadline, &res);
	if (rc == LDAP_SIZELIMIT_EXCEEDED) {
		snprintf(err, errlen,
		    "ldap_user_filter matches more than one entry");
		ldap_msgfree(res);
		return rc;
	}
	if (rc != LDAP_SUCCESS) {
		ld_error(conn.ld, rc, "user search", err, errlen);
		ldap_msgfree(res);
		return rc;
	}
	n = ldap_count_entries(conn.ld, res);
	if (n > 1) {
		snprintf(err, errlen,
		    "ldap_user_filter matches more than one entry");
		ldap_msgfree(res);
		return LDAP_SIZELIMIT_EXCEEDED;
	}
	if (n <= 0) {
		/* Unknown to the directory: a member of nothing. */
		ldap_msgfree(res);
		return LDAP_SUCCESS;
	}
	e = ldap_first_entry(conn.ld, res);
	if (add_values(conn.ld, e, gc->ldap_group_attribute, out) == -1 ||
	    (gc->route_attribute != NULL &&
		add_route(conn.ld, e, gc->route_attribute, out) == -1))
		rc = LDAP_NO_MEMORY;
	if (rc == LDAP_SUCCESS && gc->ldap_nested == LDAP_NESTED_IN_CHAIN &&
	    (dn = ldap_get_dn(conn.ld, e)) != NULL)
		rc = nested_in_chain(gc, dn, deadline, out, err, errlen);
	ldap_memfree(dn);
	ldap_msgfree(res);
	if (rc == LDAP_SUCCESS && gc->ldap_nested == LDAP_NESTED_WALK)
		rc = nested_walk(gc, deadline, out, err, errlen);
	if (rc == LDAP_NO_MEMORY)
		snprintf(err, errlen, "out of memory");
	return rc;
}

int
groups_ldap_query(const struct groups_conf *gc, uint64_t serial,
    const char *user, struct group_list *out, char *err, size_t errlen)
{
	uint64_t deadline = now_ms() + gc->ldap_timeout_ms;
	bool reused;
	int attempt, rc = LDAP_OTHER;

	if (gc->ldap_uri == NULL) {
		snprintf(err, errlen, "no ldap_uri");
		return -1;
	}
	for (attempt = 0; attempt < 2; attempt++) {
		reused = conn.ld != NULL && conn.serial == serial;
		if (!reused) {
			if ((rc = conn_open(gc, deadline, err, errlen)) !=
			    LDAP_SUCCESS)
				return unreachable(rc) ? GROUPS_SOURCE_DOWN :
							 -1;
			conn.serial = serial;
		}
		group_list_clear(out);
		rc = query(gc, user, deadline, out, err, errlen);
		if (rc == LDAP_SUCCESS)
			return 0;
		/* A connection the server dropped while idle: once more. */
		if (!(reused && conn_lost(rc)))
			break;
		conn_close();
	}
	if (rc == LDAP_TIMEOUT)
		snprintf(err, errlen,
		    "directory did not answer within ldap_timeout");
	group_list_clear(out);
	/* After a timeout or a lost connection its state is unknown. */
	if (unreachable(rc)) {
		conn_close();
		return GROUPS_SOURCE_DOWN;
	}
	return -1;
}
