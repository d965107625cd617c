/*
 * tls_resume: TLS sessions kept for resuming backend handshakes.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "conf.h"
#include "proto.h"
#include "tls_resume.h"

/* The sessions of one key, the newest last. */
struct tls_resume_entry {
	struct tls_resume_key key;
	SSL_SESSION *sess[TLS_RESUME_PER_KEY];
	unsigned n;
	uint64_t used; /* the cache's clock at its last use, for eviction */
};

/* One thread's cache. */
struct tls_resume_cache {
	struct tls_resume_entry *v;
	size_t n, cap;
	uint64_t clock;
};

/*
 * What a backend SSL carries for the new-session callback, which may run
 * long after tls_resume_attach() (a TLS 1.3 ticket arrives with the
 * backend's first data): its own copy, freed with the SSL.
 */
struct tls_resume_tag {
	struct tls_resume_key key;
	bool verify;  /* b->verify: only a verified session is kept */
	bool offered; /* a cached session was offered */
	bool flushed; /* the stale sessions of the key are gone already */
};

static pthread_once_t resume_once = PTHREAD_ONCE_INIT;
static pthread_key_t resume_tls;
static int resume_ex = -1;

static void
resume_entry_clear(struct tls_resume_entry *e)
{
	for (unsigned i = 0; i < e->n; i++)
		SSL_SESSION_free(e->sess[i]);
	e->n = 0;
}

static void
resume_cache_free(void *arg)
{
	struct tls_resume_cache *c = arg;

	if (c == NULL)
		return;
	for (size_t i = 0; i < c->n; i++)
		resume_entry_clear(&c->v[i]);
	free(c->v);
	free(c);
}

static void
resume_tag_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
    void *argp)
{
	(void)parent;
	(void)ad;
	(void)idx;
	(void)argl;
	(void)argp;
	free(ptr);
}

static void
resume_init(void)
{
	if (pthread_key_create(&resume_tls, resume_cache_free) != 0)
		return;
	resume_ex = SSL_get_ex_new_index(0, NULL, NULL, NULL, resume_tag_free);
}

/* The calling thread's cache; created when create is set (else NULL). */
static struct tls_resume_cache *
resume_cache(bool create)
{
	struct tls_resume_cache *c;

	pthread_once(&resume_once, resume_init);
	if (resume_ex < 0)
		return NULL;
	c = pthread_getspecific(resume_tls);
	if (c != NULL || !create)
		return c;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	if (pthread_setspecific(resume_tls, c) != 0) {
		free(c);
		return NULL;
	}
	return c;
}

static bool
resume_key_eq(const struct tls_resume_key *a, const struct tls_resume_key *b)
{
	return a->addrlen == b->addrlen &&
	       memcmp(a->id, b->id, sizeof(a->id)) == 0 &&
	       memcmp(&a->addr, &b->addr, a->addrlen) == 0;
}

static struct tls_resume_entry *
resume_find(struct tls_resume_cache *c, const struct tls_resume_key *k)
{
	for (size_t i = 0; i < c->n; i++)
		if (resume_key_eq(&c->v[i].key, k))
			return &c->v[i];
	return NULL;
}

static void
resume_remove(struct tls_resume_cache *c, struct tls_resume_entry *e)
{
	resume_entry_clear(e);
	*e = c->v[--c->n];
}

void
tls_resume_key_of(struct tls_resume_key *k, const struct backend_addr *a)
{
	size_t len = a->addrlen <= sizeof(k->addr) ? a->addrlen : 0;

	memset(k, 0, sizeof(*k));
	memcpy(k->id, a->tls_id, sizeof(k->id));
	memcpy(&k->addr, &a->addr, len);
	k->addrlen = (socklen_t)len;
}

void
tls_resume_put(const struct tls_resume_key *k, SSL_SESSION *sess)
{
	struct tls_resume_cache *c = resume_cache(true);
	struct tls_resume_entry *e, *v;
	size_t i, lru;

	if (c == NULL) {
		SSL_SESSION_free(sess);
		return;
	}
	if ((e = resume_find(c, k)) == NULL) {
		if (c->n == TLS_RESUME_KEYS_MAX) {
			/* Full: the key used longest ago makes room. */
			for (lru = 0, i = 1; i < c->n; i++)
				if (c->v[i].used < c->v[lru].used)
					lru = i;
			resume_remove(c, &c->v[lru]);
		}
		if (c->n == c->cap) {
			size_t cap = c->cap == 0 ? 8 : c->cap * 2;

			v = reallocarray(c->v, cap, sizeof(*v));
			if (v == NULL) {
				SSL_SESSION_free(sess);
				return;
			}
			c->v = v;
			c->cap = cap;
		}
		e = &c->v[c->n++];
		memset(e, 0, sizeof(*e));
		e->key = *k;
	}
	if (e->n == TLS_RESUME_PER_KEY) {
		SSL_SESSION_free(e->sess[0]);
		memmove(&e->sess[0], &e->sess[1],
		    (TLS_RESUME_PER_KEY - 1) * sizeof(e->sess[0]));
		e->n--;
	}
	e->sess[e->n++] = sess;
	e->used = ++c->clock;
}

/* Whether sess has outlived the lifetime its server gave it. */
static bool
resume_expired(const SSL_SESSION *sess, time_t now)
{
	return SSL_SESSION_get_time(sess) + SSL_SESSION_get_timeout(sess) <=
	       now;
}

SSL_SESSION *
tls_resume_take(const struct tls_resume_key *k)
{
	struct tls_resume_cache *c = resume_cache(false);
	struct tls_resume_entry *e;
	time_t now = time(NULL);
	SSL_SESSION *sess;

	if (c == NULL || (e = resume_find(c, k)) == NULL)
		return NULL;
	e->used = ++c->clock;
	while (e->n > 0) {
		sess = e->sess[e->n - 1];
		if (resume_expired(sess, now) ||
		    !SSL_SESSION_is_resumable(sess)) {
			SSL_SESSION_free(sess);
			e->n--;
			continue;
		}
		/* RFC 8446 appendix C.4: a client should not use a TLS 1.3
		 * ticket twice, lest its connections be linked; the
		 * resumed handshake brings new ones.  A TLS 1.2 session
		 * stays, and the connection gets a copy: OpenSSL marks the
		 * session an SSL holds as not resumable when the SSL is
		 * freed without having sent close_notify, which is how a
		 * backend connection ends after the protocol's logout. */
		if (SSL_SESSION_get_protocol_version(sess) >= TLS1_3_VERSION) {
			e->n--;
			return sess;
		}
		return SSL_SESSION_dup(sess);
	}
	return NULL;
}

void
tls_resume_forget(const struct tls_resume_key *k)
{
	struct tls_resume_cache *c = resume_cache(false);
	struct tls_resume_entry *e;

	if (c != NULL && (e = resume_find(c, k)) != NULL)
		resume_remove(c, e);
}

/* Whether c has a TLS address, with the cache on, under key k. */
static bool
resume_conf_has(const struct conf *c, const struct tls_resume_key *k)
{
	struct tls_resume_key ak;

	for (size_t i = 0; i < c->routing.nnamed + PROTO_COUNT; i++) {
		const struct backend *b =
		    i < c->routing.nnamed ?
			c->routing.named[i] :
			c->routing.implicit[i - c->routing.nnamed];

		if (b == NULL || b->ssl_ctx == NULL || !b->tls_session_cache)
			continue;
		for (int p = 0; p < PROTO_COUNT; p++)
			for (size_t j = 0; j < b->pool[p].n; j++) {
				tls_resume_key_of(&ak, &b->pool[p].v[j]);
				if (resume_key_eq(&ak, k))
					return true;
			}
	}
	return false;
}

void
tls_resume_prune(const struct conf *c)
{
	struct tls_resume_cache *cache = resume_cache(false);
	size_t i = 0;

	if (cache == NULL)
		return;
	while (i < cache->n) {
		if (resume_conf_has(c, &cache->v[i].key))
			i++;
		else /* the last entry moves to i */
			resume_remove(cache, &cache->v[i]);
	}
}

size_t
tls_resume_count(size_t *keys)
{
	struct tls_resume_cache *c = resume_cache(false);
	size_t n = 0;

	if (keys != NULL)
		*keys = c != NULL ? c->n : 0;
	if (c == NULL)
		return 0;
	for (size_t i = 0; i < c->n; i++)
		n += c->v[i].n;
	return n;
}

void
tls_resume_clear(void)
{
	struct tls_resume_cache *c = resume_cache(false);

	if (c == NULL)
		return;
	pthread_setspecific(resume_tls, NULL);
	resume_cache_free(c);
}

/*
 * OpenSSL's new-session callback: a session from a handshake of a backend
 * SSL that tls_resume_attach() prepared.  For TLS 1.2 it runs as the
 * handshake ends, for TLS 1.3 when a NewSessionTicket is read; by then
 * the certificate has been verified (the handshake fails otherwise, with
 * SSL_VERIFY_PEER), which the verify result checks once more.  The cache
 * files a copy: sess is, or becomes, the SSL's own session, which OpenSSL
 * marks as not resumable when the SSL is freed without close_notify.
 * Returns 0: OpenSSL keeps its reference to sess.
 */
static int
resume_new_session(SSL *ssl, SSL_SESSION *sess)
{
	struct tls_resume_tag *t = SSL_get_ex_data(ssl, resume_ex);
	SSL_SESSION *copy;

	if (t == NULL || !SSL_SESSION_is_resumable(sess) ||
	    (t->verify && SSL_get_verify_result(ssl) != X509_V_OK))
		return 0;
	if (t->offered && !t->flushed && !SSL_session_reused(ssl)) {
		/* Not resumed: what else the key holds is as stale. */
		tls_resume_forget(&t->key);
		t->flushed = true;
	}
	if ((copy = SSL_SESSION_dup(sess)) != NULL)
		tls_resume_put(&t->key, copy);
	return 0;
}

int
tls_resume_attach(SSL *ssl, const struct backend *b,
    const struct backend_addr *a)
{
	struct tls_resume_tag *t;
	SSL_SESSION *sess;

	if (!b->tls_session_cache)
		return 0;
	if (resume_cache(true) == NULL || (t = calloc(1, sizeof(*t))) == NULL)
		return -1;
	tls_resume_key_of(&t->key, a);
	t->verify = b->verify;
	if (SSL_set_ex_data(ssl, resume_ex, t) != 1) {
		free(t);
		return -1;
	}
	if ((sess = tls_resume_take(&t->key)) != NULL) {
		t->offered = SSL_set_session(ssl, sess) == 1;
		SSL_SESSION_free(sess);
	}
	return 0;
}

bool
tls_resume_handshake_done(SSL *ssl)
{
	struct tls_resume_tag *t;
	bool resumed = SSL_session_reused(ssl) == 1;

	if (resume_ex < 0 || (t = SSL_get_ex_data(ssl, resume_ex)) == NULL)
		return resumed;
	if (t->offered && !resumed && !t->flushed) {
		tls_resume_forget(&t->key);
		t->flushed = true;
	}
	return resumed;
}

void
tls_resume_handshake_failed(SSL *ssl)
{
	struct tls_resume_tag *t;

	if (resume_ex >= 0 && (t = SSL_get_ex_data(ssl, resume_ex)) != NULL &&
	    t->offered)
		tls_resume_forget(&t->key);
}

/*
 * The CA file's contents into the digest: the same path holding other
 * certificates after a reload is another trust store, and a session
 * verified under the old one must not be resumed under it.
 */
static int
resume_digest_file(EVP_MD_CTX *md, const char *path)
{
	unsigned char buf[8192];
	FILE *fp;
	size_t n;
	int ok = 0;

	if ((fp = fopen(path, "re")) == NULL)
		return -1;
	while ((n = fread(buf, 1, sizeof(buf), fp)) > 0)
		if (EVP_DigestUpdate(md, buf, n) != 1)
			ok = -1;
	if (ferror(fp))
		ok = -1;
	fclose(fp);
	return ok;
}

/* A string into the digest with its end, so that fields cannot merge. */
static int
resume_digest_str(EVP_MD_CTX *md, const char *s)
{
	if (s == NULL)
		s = "";
	return EVP_DigestUpdate(md, s, strlen(s) + 1) == 1 ? 0 : -1;
}

/* The tls_id of address a of backend b. */
static int
resume_id(const struct backend *b, struct backend_addr *a, FILE *errout,
    const char *path)
{
	unsigned char flags[2] = {(unsigned char)b->tls, b->verify};
	EVP_MD_CTX *md;
	unsigned len = 0;
	int ok = -1;

	if ((md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 ||
	    resume_digest_str(md, "postern backend TLS session 1") == -1 ||
	    EVP_DigestUpdate(md, flags, sizeof(flags)) != 1 ||
	    resume_digest_str(md, a->host) == -1 ||
	    resume_digest_str(md, a->port) == -1 ||
	    resume_digest_str(md,
		b->server_name != NULL ? b->server_name : a->host) == -1 ||
	    resume_digest_str(md, b->ca_file) == -1)
		fprintf(errout, "%s: backend %s: cannot compute a digest\n",
		    path, b->name);
	else if (b->verify && b->ca_file != NULL &&
		 resume_digest_file(md, b->ca_file) == -1)
		fprintf(errout, "%s: backend %s: cannot read %s: %s\n", path,
		    b->name, b->ca_file, strerror(errno));
	else if (EVP_DigestFinal_ex(md, a->tls_id, &len) != 1 ||
		 len != sizeof(a->tls_id))
		fprintf(errout, "%s: backend %s: cannot compute a digest\n",
		    path, b->name);
	else
		ok = 0;
	EVP_MD_CTX_free(md);
	return ok;
}

static int
resume_backend(const struct conf *c, struct backend *b, FILE *errout)
{
	if (b == NULL || b->tls == BACKEND_TLS_NONE || b->ssl_ctx == NULL ||
	    !b->tls_session_cache)
		return 0;
	for (int p = 0; p < PROTO_COUNT; p++)
		for (size_t i = 0; i < b->pool[p].n; i++)
			if (resume_id(b, &b->pool[p].v[i], errout, c->path) ==
			    -1)
				return -1;
	/* The client side keeps nothing itself: sessions are offered by
	 * address, which OpenSSL's internal cache knows nothing of. */
	SSL_CTX_set_session_cache_mode(b->ssl_ctx,
	    SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
	SSL_CTX_sess_set_new_cb(b->ssl_ctx, resume_new_session);
	return 0;
}

int
tls_resume_conf(struct conf *c, FILE *errout)
{
	pthread_once(&resume_once, resume_init);
	if (resume_ex < 0) {
		fprintf(errout, "%s: cannot set up the TLS session cache\n",
		    c->path);
		return -1;
	}
	for (int p = 0; p < PROTO_COUNT; p++)
		if (resume_backend(c, c->routing.implicit[p], errout) == -1)
			return -1;
	for (size_t i = 0; i < c->routing.nnamed; i++)
		if (resume_backend(c, c->routing.named[i], errout) == -1)
			return -1;
	return 0;
}
