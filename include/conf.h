/*
 * conf: the configuration snapshot.
 *
 * The INI file is read once into a struct conf, validated as a whole, and
 * never changed afterwards.  Sessions hold a reference to the snapshot they
 * started with; SIGHUP builds a new snapshot and swaps it in for new
 * sessions only.  Every error names the file and line it comes from.
 *
 * The snapshot holds each module's settings, typed; each module reads,
 * defaults, checks, frees and prints its own (conf_table.h), and conf.c
 * is the engine that drives them.
 */
#ifndef POSTERN_CONF_H
#define POSTERN_CONF_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "log.h"
#include "proto_id.h"
#include "protolog_conf.h"

struct ssl_ctx_st;
struct addrset;
struct groups_file;

/* Exchange's LoginType values, under the names Exchange uses. */
enum login_type {
	LOGIN_PLAINTEXT_LOGIN,		/* cleartext allowed with or without TLS */
	LOGIN_PLAINTEXT_AUTHENTICATION, /* cleartext only over TLS */
	LOGIN_SECURE_LOGIN		/* nothing at all before TLS */
};

/* Whether the login-type policy refuses or only records a refusal. */
enum login_type_mode {
	LOGIN_MODE_ENFORCE,
	LOGIN_MODE_AUDIT
};

/* How postern talks to the backend server. */
enum backend_tls {
	BACKEND_TLS_NONE,
	BACKEND_TLS_STARTTLS,
	BACKEND_TLS_IMPLICIT
};

/* How the real client address is handed on to the backend. */
enum forward_addr {
	FORWARD_NONE,
	FORWARD_ID,	/* IMAP: ID with x-originating-ip and friends */
	FORWARD_XCLIENT, /* POP3: XCLIENT ADDR= PORT= SESSION= */
	FORWARD_PROXY	/* a PROXY protocol v2 header on the connection */
};

/* One listening address of one protocol. */
struct binding {
	struct sockaddr_storage addr;
	socklen_t addrlen;
	bool implicit_tls; /* from ssl_bindings, else unencrypted_or_tls_bindings */
	int line;	   /* where it was configured (0: a default) */
};

/* The settings of one protocol section ([pop3] or [imap]). */
struct proto_conf {
	bool enabled;
	struct binding *bindings; /* plain ones first, then the TLS ones */
	size_t nbindings;
	char *banner;
	enum login_type login_type;
	enum login_type_mode login_type_mode;

	char *backend_host; /* name or address, as written */
	char *backend_port; /* decimal string, for getaddrinfo */
	enum backend_tls backend_tls;
	char *backend_ca_file;	   /* NULL: the system's default CA store */
	char *backend_server_name; /* name verified and sent as SNI; default: host */
	bool backend_verify;
	unsigned backend_timeout_ms; /* connect + TLS + greeting + login */
	enum forward_addr forward_client_address;

	unsigned max_connections;	       /* 0: unlimited */
	unsigned max_connection_from_single_ip; /* 0: unlimited */
	unsigned ipv6_prefix_length; /* IPv6 clients count per this prefix */
	unsigned max_connections_per_user;     /* 0: unlimited */
	unsigned pre_auth_timeout_ms; /* idle time before login */
	unsigned pre_auth_total_ms;   /* total time before login */
	unsigned auth_timeout_ms;
	size_t max_command_size;
	unsigned max_bad_commands;   /* bad commands before the session ends */
	unsigned max_login_attempts; /* failed logins before the session ends */

	/* Filled by the tls module, freed with the snapshot. */
	struct ssl_ctx_st *backend_ssl_ctx;

	/* Filled by server_prepare(): the backend's resolved address. */
	struct sockaddr_storage backend_addr;
	socklen_t backend_addrlen;

	/* Access policy (see policy.h). */
	struct addrset *login_type_exempt_ips; /* NULL: no exemption */
	char *required_group;		       /* NULL: none required */
	/*
	 * The protocol log (protolog_conf.c); log.directory is owned here.
	 * log.enabled is as configured: conf_protolog() says whether the
	 * log is written, which needs the protocol enabled too.
	 */
	struct protolog_conf log;
	int log_line; /* where log_file_location (or the section) is */
};

/* The [tls] section: postern's own server certificate. */
struct tls_conf {
	char *certificate; /* PEM chain file */
	char *private_key; /* PEM key file */
	int certificate_line;
	int private_key_line;
	int min_version; /* an OpenSSL TLS1_x_VERSION constant */
	char *ciphers;	 /* TLS 1.2 and below; NULL: OpenSSL's default */
	char *ciphersuites; /* TLS 1.3; NULL: OpenSSL's default */
	/*
	 * The certificate and key as the load read and checked them, with
	 * the ciphers: the context tls_conf_setup() builds the protocols'
	 * server contexts from.  NULL without a certificate.
	 */
	struct ssl_ctx_st *ctx;
};

/*
 * Access policy: [rule "<name>"] sections and the [groups] section.
 * policy.h evaluates them; groups.h looks groups up.
 */

/* What an access rule does when it applies. */
enum rule_action {
	RULE_ALLOW,
	RULE_DENY,
	RULE_AUDIT /* allow, but report that the rule would have denied */
};

/* Bits of the authentication condition. */
#define RULE_AUTH_CLEARTEXT_WITHOUT_TLS 0x1u /* a login without TLS */
#define RULE_AUTH_TLS 0x2u		     /* a login over TLS */

/* A list of strings (user name patterns, group names). */
struct strlist {
	char **v;
	size_t n;
};

/*
 * The conditions of a rule, or its exceptions.  An unset condition is
 * empty (0, NULL or n == 0) and matches everything for a condition, nothing
 * for an exception.
 */
struct rule_match {
	unsigned protocols;	    /* bit (1u << proto_id) */
	struct addrset *client_ips; /* finished set */
	struct strlist usernames;   /* patterns, see policy_user_match() */
	struct strlist member_of;   /* group names */
	unsigned authentication;    /* RULE_AUTH_* bits */
};

/* One access rule. */
struct rule {
	char *name;
	int line; /* of its section header */
	unsigned priority;
	enum rule_action action;
	bool enabled;
	struct rule_match cond;	  /* all set conditions must match */
	struct rule_match except; /* any matching exception skips the rule */
};

/* How nested group memberships are found in the directory. */
enum ldap_nested {
	LDAP_NESTED_NO,	      /* the group attribute's values only */
	LDAP_NESTED_IN_CHAIN, /* AD's LDAP_MATCHING_RULE_IN_CHAIN search */
	LDAP_NESTED_WALK      /* follow the groups' own group attribute */
};

/* The [groups] section. */
struct groups_conf {
	char *file;			 /* groups file, NULL: none */
	struct groups_file *file_groups; /* its contents, read at load */

	char *ldap_uri; /* NULL: no directory */
	char *ldap_ca_file;
	bool ldap_starttls;  /* for ldap:// URIs */
	bool ldap_tls_verify;
	char *ldap_bind_dn;	  /* NULL: anonymous */
	char *ldap_bind_password_file;
	char *ldap_bind_password; /* read at load; never logged or dumped */
	char *ldap_base;
	char *ldap_user_filter;
	char *ldap_group_attribute;
	enum ldap_nested ldap_nested;
	unsigned ldap_timeout_ms; /* a whole lookup, connect and bind included */
	unsigned ldap_threads;	  /* lookup threads; not changed by a reload */
	unsigned cache_ttl_ms;	  /* 0: no caching */
};

/* A whole configuration snapshot. */
struct conf {
	atomic_uint refs;
	char *path;

	unsigned workers; /* resolved: "auto" becomes the CPU count */
	char *user;	  /* NULL: do not change user */
	char *pid_file;	  /* NULL: write none */
	enum log_level log_level;
	bool syslog;
	unsigned shutdown_timeout_ms;
	/* Where a PROXY protocol header is believed; NULL: nowhere. */
	struct addrset *trusted_proxies;

	struct tls_conf tls;
	struct proto_conf proto[PROTO_COUNT];

	/*
	 * Filled by the tls module, freed with the snapshot: one server
	 * context per protocol, so that a TLS session (its cache and ticket
	 * keys) of one protocol cannot be resumed on another.
	 */
	struct ssl_ctx_st *server_ssl_ctx[PROTO_COUNT];

	/* Access policy. */
	uint64_t serial;     /* distinct for every snapshot loaded */
	struct rule *rules;  /* enabled and disabled, by priority */
	size_t nrules;
	struct groups_conf groups;
};

/*
 * Reads and validates the file at path.  Returns a snapshot holding one
 * reference, or NULL after writing every problem found to errout as
 * "path:line: message" lines.
 */
struct conf *conf_load(const char *path, FILE *errout);

/* Takes one more reference to c and returns it. */
struct conf *conf_ref(struct conf *c);

/* Drops one reference; the last one frees the snapshot. NULL is ignored. */
void conf_unref(struct conf *c);

/* Prints the effective settings as "Name : Value" lines, per protocol. */
void conf_dump(const struct conf *c, FILE *out);

/* "POP3" or "IMAP4", the names Exchange gives the protocols. */
const char *conf_proto_name(enum proto_id p);

/*
 * Parses "30s", "1m", "2h", "1d", "500ms", a bare number of seconds, or
 * Exchange's "[d.]hh:mm:ss[.fffffff]" into ms.
 */
int conf_parse_duration(const char *s, unsigned *ms);

/* Parses "512", "64k", "10M", "1G" (powers of 1024) into bytes. */
int conf_parse_size(const char *s, uint64_t *bytes);

/*
 * Fills out[PROTO_COUNT] with c's protocol-log settings; the directories
 * point into c, which must outlive out.  A protocol that is not enabled
 * has its protocol log disabled too.
 */
void conf_protolog(const struct conf *c, struct protolog_conf *out);

#endif
