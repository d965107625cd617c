/*
 * tls_conf: the [tls] section (tls_conf.c reads and checks it).
 */
#ifndef POSTERN_TLS_CONF_H
#define POSTERN_TLS_CONF_H

#include <stddef.h>

#include "proto_id.h"

struct ssl_ctx_st;
struct tls_conf;

/* The longest host name (RFC 1035 section 2.3.4, without the root dot). */
#define TLS_NAME_MAX 253

/*
 * A [tls "<name>"] section: the certificate for clients that ask for
 * name by SNI.  name is in lower case without a trailing dot, an exact
 * host name or "*.<domain>" (one label, RFC 6125 section 6.4.3).
 */
struct tls_name {
	char *name;
	int line; /* of the section header */
	char *certificate;
	char *private_key;
	int certificate_line;
	int private_key_line;
	/* The pair as the load read and checked it; NULL until then. */
	struct ssl_ctx_st *ctx;
};

/* The server contexts' callback argument: the names, per protocol. */
struct tls_hello {
	const struct tls_conf *tls;
	enum proto_id proto;
};

/* The [tls] section: postern's own server certificate. */
struct tls_conf {
	char *certificate; /* PEM chain file */
	char *private_key; /* PEM key file */
	int certificate_line;
	int private_key_line;
	int min_version;    /* an OpenSSL TLS1_x_VERSION constant */
	char *ciphers;      /* TLS 1.2 and below; NULL: OpenSSL's default */
	char *ciphersuites; /* TLS 1.3; NULL: OpenSSL's default */
	/*
	 * The certificate and key as the load read and checked them, with
	 * the ciphers: the context tls_conf_setup() builds the protocols'
	 * server contexts from.  NULL without a certificate.
	 */
	struct ssl_ctx_st *ctx;
	/* The [tls "<name>"] sections, in the file's order. */
	struct tls_name *names;
	size_t nnames;
	struct tls_hello hello[PROTO_COUNT];
};

#endif
