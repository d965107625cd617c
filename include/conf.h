/*
 * conf: the configuration snapshot.
 *
 * The INI file is read once into a struct conf, validated as a whole, and
 * never changed afterwards.  Sessions hold a reference to the snapshot they
 * started with; SIGHUP builds a new snapshot and swaps it in for new
 * sessions only.  Every error names the file and line it comes from.
 */
#ifndef POSTERN_CONF_H
#define POSTERN_CONF_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

struct ssl_ctx_st;
struct addrset;

/* The protocols postern serves; also the index into conf->proto[]. */
enum proto_id {
	PROTO_POP3 = 0,
	PROTO_IMAP = 1,
	PROTO_COUNT
};

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

/* Daemon log levels, in the order syslog uses. */
enum log_level {
	LOGLEVEL_ERROR = 3,
	LOGLEVEL_WARNING = 4,
	LOGLEVEL_NOTICE = 5,
	LOGLEVEL_INFO = 6,
	LOGLEVEL_DEBUG = 7
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
	unsigned max_connections_per_user;     /* 0: unlimited */
	unsigned pre_auth_timeout_ms;
	unsigned auth_timeout_ms;
	size_t max_command_size;
	unsigned max_bad_commands;   /* bad commands before the session ends */
	unsigned max_login_attempts; /* failed logins before the session ends */

	/* Filled by the tls module, freed with the snapshot. */
	struct ssl_ctx_st *backend_ssl_ctx;

	/* Filled by server_prepare(): the backend's resolved address. */
	struct sockaddr_storage backend_addr;
	socklen_t backend_addrlen;
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

	/* Filled by the tls module, freed with the snapshot. */
	struct ssl_ctx_st *server_ssl_ctx;
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

#endif
