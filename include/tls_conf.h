/*
 * tls_conf: the [tls] section (tls_conf.c reads and checks it).
 */
#ifndef POSTERN_TLS_CONF_H
#define POSTERN_TLS_CONF_H

struct ssl_ctx_st;

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

#endif
