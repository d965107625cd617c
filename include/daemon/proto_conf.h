/*
 * proto_conf: the settings of one protocol section, [pop3] or [imap]
 * (proto_conf.c reads them; policy_conf.c and protolog_conf.c add theirs).
 */
#ifndef POSTERN_PROTO_CONF_H
#define POSTERN_PROTO_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "protolog_conf.h"

struct addrset;
struct ssl_ctx_st;

/* Exchange's LoginType values, under the names Exchange uses. */
enum login_type {
	LOGIN_PLAINTEXT_LOGIN, /* cleartext allowed with or without TLS */
	LOGIN_PLAINTEXT_AUTHENTICATION, /* cleartext only over TLS */
	LOGIN_SECURE_LOGIN              /* nothing at all before TLS */
};

/* Whether the login-type policy refuses or only records a refusal. */
enum login_type_mode { LOGIN_MODE_ENFORCE, LOGIN_MODE_AUDIT };

/* How postern talks to the backend server. */
enum backend_tls {
	BACKEND_TLS_NONE,
	BACKEND_TLS_STARTTLS,
	BACKEND_TLS_IMPLICIT
};

/* How the real client address is handed on to the backend. */
enum forward_addr {
	FORWARD_NONE,
	FORWARD_ID,      /* IMAP: ID with x-originating-ip and friends */
	FORWARD_XCLIENT, /* POP3: XCLIENT ADDR= PORT= SESSION= */
	FORWARD_PROXY    /* a PROXY protocol v2 header on the connection */
};

/* One listening address of one protocol. */
struct binding {
	struct sockaddr_storage addr;
	socklen_t addrlen;
	bool implicit_tls; /* from ssl_bindings, else
			      unencrypted_or_tls_bindings */
	int line;          /* where it was configured (0: a default) */
};

/* The settings of one protocol section ([pop3] or [imap]). */
struct proto_conf {
	bool enabled;
	struct binding *bindings; /* plain ones first, then the TLS ones */
	size_t nbindings;
	char *banner;
	enum login_type login_type;
	enum login_type_mode login_type_mode;

	char *backend_value; /* as written: a [backend "<name>"] or host:port */
	char *backend_host;  /* name or address, as written */
	char *backend_port;  /* decimal string, for getaddrinfo */
	enum backend_tls backend_tls;
	char *backend_ca_file;     /* NULL: the system's default CA store */
	char *backend_server_name; /* name verified and sent as SNI; default:
				      host */
	bool backend_verify;
	unsigned backend_timeout_ms; /* connect + TLS + greeting + login */
	enum forward_addr forward_client_address;

	unsigned max_connections;               /* 0: unlimited */
	unsigned max_connection_from_single_ip; /* 0: unlimited */
	unsigned ipv6_prefix_length; /* IPv6 clients count per this prefix */
	unsigned max_connections_per_user; /* 0: unlimited */
	unsigned pre_auth_timeout_ms;      /* idle time before login */
	unsigned pre_auth_total_ms;        /* total time before login */
	unsigned auth_timeout_ms;
	size_t max_command_size;
	unsigned max_bad_commands;   /* bad commands before the session ends */
	unsigned max_login_attempts; /* failed logins before the session ends */
	unsigned passthru_mechs; /* relayed SASL mechanisms (saslmech.h set) */

	/* Access policy (see policy.h). */
	struct addrset *login_type_exempt_ips; /* NULL: no exemption */
	char *required_group;                  /* NULL: none required */
	/* What required_group does to a GSSAPI session, whose user a proxy
	 * never learns: refuse it (0, the default) or let it through (1). */
	int gssapi_without_group;
	/*
	 * The protocol log (protolog_conf.c); log.directory is owned here.
	 * log.enabled is as configured: conf_protolog() says whether the
	 * log is written, which needs the protocol enabled too.
	 */
	struct protolog_conf log;
	int log_line; /* where log_file_location (or the section) is */
};

#endif
