/*
 * tls_resume: TLS sessions kept for resuming backend handshakes.
 *
 * A backend login over TLS costs postern a full handshake (the backend's
 * signature checked, its chain verified, a key exchange) unless an
 * earlier session to the same server is resumed.  Each worker thread
 * keeps its own cache, so that no lock is taken on the login path and no
 * SSL_SESSION is handed between threads.  A cached session is filed
 * under the identity it was verified as: the backend address (as written
 * and as resolved), the name checked and sent as SNI, whether the
 * certificate is verified, and the CA file's path and contents.  A
 * session is therefore never resumed against an identity, or under a
 * trust store, that did not verify it; a reload that changes any of
 * these makes new keys, and the worker drops what the old keys hold when
 * it takes the new snapshot.
 *
 * Both kinds of session are kept: a TLS 1.2 session id or ticket comes
 * at the end of the handshake, a TLS 1.3 ticket (RFC 8446 section 4.6.1)
 * some time after it, and both reach the cache through OpenSSL's
 * new-session callback, only from a handshake that succeeded and, when
 * verify is on, whose certificate verified.  A TLS 1.3 ticket is used
 * once (RFC 8446 appendix C.4); a TLS 1.2 session may be resumed again.
 */
#ifndef POSTERN_TLS_RESUME_H
#define POSTERN_TLS_RESUME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/socket.h>

#include <openssl/ssl.h>

#include "routing_conf.h"

struct conf;

/* Keys (backend addresses) a worker's cache holds at most. */
#define TLS_RESUME_KEYS_MAX 256

/* Sessions kept per key: enough for a few logins starting at once. */
#define TLS_RESUME_PER_KEY 4

/* What a cached session is filed under. */
struct tls_resume_key {
	unsigned char id[TLS_RESUME_ID_LEN]; /* backend_addr.tls_id */
	struct sockaddr_storage addr;        /* as resolved, zero-padded */
	socklen_t addrlen;
};

/*
 * Sets each TLS backend's addresses' tls_id (the digest of the identity
 * above, the CA file read for it) and makes the backend's ssl_ctx hand
 * new sessions to the cache when its tls_session_cache is on.  For
 * tls_conf_setup(), after the contexts are built.  Writes
 * "path: message" lines to errout and returns -1 on failure.
 */
int tls_resume_conf(struct conf *c, FILE *errout);

/* The key of address a (its tls_id and resolved address). */
void tls_resume_key_of(struct tls_resume_key *k, const struct backend_addr *a);

/*
 * Prepares ssl (a new client SSL for address a of backend b) for the
 * cache: offers the newest session kept for a, if any, and files the
 * sessions the handshake brings under a's key.  Does nothing when b's
 * tls_session_cache is off.  -1 when out of memory (ssl is unchanged
 * then, and usable without the cache).
 */
int tls_resume_attach(SSL *ssl, const struct backend *b,
    const struct backend_addr *a);

/*
 * The handshake of ssl succeeded: if a session was offered and the
 * backend did not resume it, the key's other sessions are stale (a
 * restarted backend, new ticket keys) and go.  Returns whether the
 * handshake was a resumption.
 */
bool tls_resume_handshake_done(SSL *ssl);

/* The handshake of ssl failed: whatever is kept for its key goes. */
void tls_resume_handshake_failed(SSL *ssl);

/* --- The calling thread's cache ------------------------------------- */

/* Files sess (the reference passes to the cache) under k. */
void tls_resume_put(const struct tls_resume_key *k, SSL_SESSION *sess);

/*
 * A session to offer under k, the newest first, or NULL: a reference the
 * caller frees.  A TLS 1.3 session leaves the cache (used once); of a
 * TLS 1.2 one the caller gets a copy; an expired one is dropped and the
 * next tried.
 */
SSL_SESSION *tls_resume_take(const struct tls_resume_key *k);

/* Drops every session under k. */
void tls_resume_forget(const struct tls_resume_key *k);

/*
 * Drops the sessions under every key that no TLS address of c with
 * tls_session_cache on has: those of backends removed or whose TLS
 * settings changed.  A worker calls it when it takes a new snapshot.
 */
void tls_resume_prune(const struct conf *c);

/* Sessions the calling thread's cache holds, and under how many keys. */
size_t tls_resume_count(size_t *keys);

/* Frees the calling thread's cache (a thread's end does it as well). */
void tls_resume_clear(void);

#endif
