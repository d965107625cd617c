/*
 * tls: OpenSSL contexts, and the socket BIO of TLS conns (conn.h).
 *
 * The server context (postern's certificate, for clients) and the client
 * contexts (for backends) are separate objects built from one snapshot and
 * freed with it.
 */
#ifndef POSTERN_TLS_H
#define POSTERN_TLS_H

#include <stdbool.h>
#include <stdio.h>

#include <openssl/ssl.h>

#include "conf.h"

/* Initialises OpenSSL once, before any context is built. */
void tls_init(void);

/*
 * Builds each enabled protocol's server_ssl_ctx (when a certificate is
 * configured: from c->tls.ctx, which the load built and checked, so the
 * files are not read again) and each backend's ssl_ctx (when its tls
 * is not none).
 * Writes "path:line: message" lines to errout and returns -1 on failure.
 */
int tls_conf_setup(struct conf *c, FILE *errout);

/*
 * The [tls "<name>"] section that a client asking for sni by SNI gets:
 * its index in c->tls.names, or -1 for the default certificate.  Exact
 * names win over wildcards; case and a trailing dot do not matter.
 */
int tls_name_match(const struct tls_conf *t, const char *sni);

/*
 * For "postern -t": writes a "path:line: warning" to out for each [tls
 * "<name>"] whose certificate does not cover its name; returns how many.
 */
int tls_conf_warn(const struct conf *c, FILE *out);

/* A new server-side SSL for a client connection of protocol p, or NULL. */
SSL *tls_server_new(const struct conf *c, enum proto_id p);

/*
 * A new client-side SSL for address a of backend b, with SNI and name
 * checks (b's server_name, else a's host), or NULL.
 */
SSL *tls_backend_new(const struct backend *b, const struct backend_addr *a);

/*
 * A BIO on socket fd for a TLS conn (conn.h), which the relay takes over
 * with it: reads and writes as OpenSSL's socket BIO does, with send() and
 * recv(), and never closes fd (the conn does).  NULL when out of memory.
 */
BIO *tls_sockbio_new(int fd);

/* "TLSv1.3" and the like, for the daemon log. */
const char *tls_version(SSL *ssl);

/*
 * Whether an SSL_read() that returned n with SSL_get_error() err is the
 * end of the stream: a close_notify, or a peer that closed without one
 * (IMAP and POP3 frame their own data, so this is no truncation).  Reads
 * the error queue, which the caller clears.
 */
bool tls_read_eof(int err, int n);

/* Writes the OpenSSL error queue (or "unknown") into buf; clears the queue. */
const char *tls_error(char *buf, size_t len);

struct privsep_files;

/*
 * Makes the configuration loads that follow take the certificate and key
 * files from f, as the privileged helper read them (privsep.h), rather
 * than open them; a file f does not hold is still opened.  NULL: open
 * them all again.  For the reload, in the main thread.
 */
void tls_conf_use_files(const struct privsep_files *f);

struct conf_module;

/* The configuration of the [tls] section (tls_conf.c). */
extern const struct conf_module tls_conf_module;

#endif
