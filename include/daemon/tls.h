/*
 * tls: OpenSSL contexts and the TLS side of bufferevents.
 *
 * The server context (postern's certificate, for clients) and the client
 * contexts (for backends) are separate objects built from one snapshot and
 * freed with it.
 */
#ifndef POSTERN_TLS_H
#define POSTERN_TLS_H

#include <stdbool.h>
#include <stdio.h>

#include <event2/bufferevent.h>
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
 * A BIO on socket fd for the direct relay: reads and writes as OpenSSL's
 * socket BIO does, never closes fd and never tells it (BIO_get_fd() is
 * -1), so that a bufferevent freed after the SSL moved to this BIO
 * leaves the socket alone.  NULL when out of memory.
 */
BIO *tls_sockbio_new(int fd);

/*
 * Frees a TLS bufferevent (made with BEV_OPT_CLOSE_ON_FREE on socket fd)
 * but keeps its SSL and the socket for the caller, who then owns both
 * (SSL_free(), close()).  libevent's free, which it may defer, closes the
 * socket the SSL's BIO names and drops its reference to the SSL: the SSL
 * gets a tls_sockbio_new() BIO and one more reference first.  -1, with
 * nothing changed, when out of memory.
 */
int tls_bufferevent_release(struct bufferevent *bev, evutil_socket_t fd);

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
