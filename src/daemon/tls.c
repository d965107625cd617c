/*
 * tls: OpenSSL contexts.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "log.h"
#include "proto.h"
#include "tls.h"
#include "tls_resume.h"

static BIO_METHOD *sockbio_method;
static BIO_METHOD *tls_sockbio_method(void);

void
tls_init(void)
{
	OPENSSL_init_ssl(OPENSSL_INIT_LOAD_SSL_STRINGS |
			     OPENSSL_INIT_LOAD_CRYPTO_STRINGS,
	    NULL);
	if (sockbio_method == NULL)
		sockbio_method = tls_sockbio_method();
}

/*
 * The socket BIO of TLS conns.  It reads and writes like OpenSSL's own,
 * with send() (MSG_NOSIGNAL: a gone peer is an error, not a signal) and
 * recv(), and leaves the descriptor to the conn, which closes it.
 */
static int
sockbio_fd(BIO *b)
{
	return (int)(intptr_t)BIO_get_data(b);
}

static int
sockbio_write(BIO *b, const char *buf, int len)
{
	ssize_t n;

	do
		n = send(sockbio_fd(b), buf, (size_t)len, MSG_NOSIGNAL);
	while (n == -1 && errno == EINTR);
	BIO_clear_retry_flags(b);
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
		BIO_set_retry_write(b);
	return (int)n;
}

static int
sockbio_read(BIO *b, char *buf, int len)
{
	ssize_t n;

	do
		n = recv(sockbio_fd(b), buf, (size_t)len, 0);
	while (n == -1 && errno == EINTR);
	BIO_clear_retry_flags(b);
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
		BIO_set_retry_read(b);
	else if (n == 0)
		BIO_set_flags(b, BIO_FLAGS_IN_EOF);
	return (int)n;
}

static long
sockbio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	(void)num;
	(void)ptr;
	switch (cmd) {
	case BIO_CTRL_FLUSH:
		return 1;
	case BIO_CTRL_EOF:
		return BIO_test_flags(b, BIO_FLAGS_IN_EOF) != 0;
	case BIO_C_GET_FD:
		return -1;
	default:
		return 0;
	}
}

static int
sockbio_create(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}

static BIO_METHOD *
tls_sockbio_method(void)
{
	BIO_METHOD *m;

	m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK,
	    "postern relay socket");
	if (m == NULL || BIO_meth_set_write(m, sockbio_write) != 1 ||
	    BIO_meth_set_read(m, sockbio_read) != 1 ||
	    BIO_meth_set_ctrl(m, sockbio_ctrl) != 1 ||
	    BIO_meth_set_create(m, sockbio_create) != 1) {
		BIO_meth_free(m);
		return NULL;
	}
	return m;
}

BIO *
tls_sockbio_new(int fd)
{
	BIO *b;

	if (sockbio_method == NULL || (b = BIO_new(sockbio_method)) == NULL)
		return NULL;
	BIO_set_data(b, (void *)(intptr_t)fd);
	return b;
}

bool
tls_read_eof(int err, int n)
{
	unsigned long e;

	if (err == SSL_ERROR_ZERO_RETURN)
		return true;
	e = ERR_peek_error();
	/* A peer that closes without close_notify ends the stream: IMAP
	 * and POP3 frame their own data, so this is no truncation. */
	if (err == SSL_ERROR_SYSCALL && e == 0 && (n == 0 || errno == 0))
		return true;
	return err == SSL_ERROR_SSL && ERR_GET_LIB(e) == ERR_LIB_SSL &&
	       ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING;
}

const char *
tls_error(char *buf, size_t len)
{
	unsigned long e = ERR_get_error();

	if (e == 0)
		snprintf(buf, len, "unknown error");
	else
		ERR_error_string_n(e, buf, len);
	ERR_clear_error();
	return buf;
}

/*
 * Settings both kinds of context share.  SSL_MODE_RELEASE_BUFFERS lets an
 * idle connection give back OpenSSL's two 16 KB record buffers, which is
 * most of what an idle IMAP session would otherwise cost.  Read-ahead
 * reads what the socket holds into the record buffer at once, where
 * OpenSSL would otherwise make two recv() calls per record (its header,
 * then its body); a conn reads until WANT_READ, so what is read ahead is
 * never left waiting for an edge.
 */
static void
tls_ctx_common(SSL_CTX *ctx, int min_version)
{
	SSL_CTX_set_min_proto_version(ctx, min_version);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS |
				  SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
				  SSL_MODE_ENABLE_PARTIAL_WRITE);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION |
				     SSL_OP_NO_RENEGOTIATION |
				     SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_read_ahead(ctx, 1);
}

/*
 * A server context with the certificate, chain and key of base (the
 * configuration's, which the load read and checked), without reading
 * the files again.
 */
static SSL_CTX *
tls_ctx_copy(SSL_CTX *base)
{
	STACK_OF(X509) *chain = NULL;
	SSL_CTX *ctx;

	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL)
		return NULL;
	if (SSL_CTX_use_certificate(ctx, SSL_CTX_get0_certificate(base)) != 1 ||
	    SSL_CTX_use_PrivateKey(ctx, SSL_CTX_get0_privatekey(base)) != 1 ||
	    SSL_CTX_get0_chain_certs(base, &chain) != 1 ||
	    (chain != NULL && SSL_CTX_set1_chain(ctx, chain) != 1)) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

/*
 * The server context of protocol p.  Each protocol has its own, and with
 * it its own session cache, ticket keys (random per context) and session
 * id context: a session negotiated for IMAPS must not be resumed on POP3S,
 * where it would skip a handshake that was never made for that service
 * (the class of CVE-2013-4584).  A protocol's implicit TLS and STARTTLS
 * listeners share one, since their settings are the same.  The first
 * protocol takes the configuration's own context (c->tls.ctx); the
 * others get a copy of its certificate and key.
 */
static SSL_CTX *
tls_server_ctx(const struct conf *c, enum proto_id p, bool first, FILE *errout)
{
	const struct tls_conf *t = &c->tls;
	char err[256], sid_ctx[32];
	SSL_CTX *ctx;

	if (first && SSL_CTX_up_ref(t->ctx) == 1)
		ctx = t->ctx;
	else if ((ctx = tls_ctx_copy(t->ctx)) == NULL) {
		fprintf(errout, "%s: cannot create a TLS context: %s\n",
		    c->path, tls_error(err, sizeof(err)));
		return NULL;
	}
	tls_ctx_common(ctx, t->min_version);
	if (t->ciphers != NULL &&
	    SSL_CTX_set_cipher_list(ctx, t->ciphers) != 1) {
		fprintf(errout, "%s: ciphers not accepted: %s\n", c->path,
		    tls_error(err, sizeof(err)));
		goto fail;
	}
	if (t->ciphersuites != NULL &&
	    SSL_CTX_set_ciphersuites(ctx, t->ciphersuites) != 1) {
		fprintf(errout, "%s: ciphersuites not accepted: %s\n", c->path,
		    tls_error(err, sizeof(err)));
		goto fail;
	}
	/* Resumption: OpenSSL's internal cache (TLS 1.2 session ids) and
	 * stateless tickets (TLS 1.3 and 1.2); both are per context, so a
	 * reload starts a new cache, which is harmless.  OpenSSL resumes a
	 * session only under the session id context it was made in. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
	SSL_CTX_sess_set_cache_size(ctx, 20480);
	snprintf(sid_ctx, sizeof(sid_ctx), "postern-%s", proto_get(p)->section);
	SSL_CTX_set_session_id_context(ctx, (const unsigned char *)sid_ctx,
	    strlen(sid_ctx));
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

int
tls_name_match(const struct tls_conf *t, const char *sni)
{
	char name[TLS_NAME_MAX + 2];
	const char *dot;
	size_t len = strlen(sni), i;

	if (len > 0 && sni[len - 1] == '.')
		len--;
	if (len == 0 || len > TLS_NAME_MAX)
		return -1;
	for (i = 0; i < len; i++)
		name[i] = (char)tolower((unsigned char)sni[i]);
	name[len] = '\0';
	for (i = 0; i < t->nnames; i++)
		if (strcmp(t->names[i].name, name) == 0)
			return (int)i;
	/* "*.example.org" stands for one whole label: "a.example.org", but
	 * neither "example.org" nor "a.b.example.org" (RFC 6125 6.4.3). */
	if ((dot = strchr(name, '.')) == NULL || dot == name)
		return -1;
	for (i = 0; i < t->nnames; i++)
		if (t->names[i].name[0] == '*' &&
		    strcmp(t->names[i].name + 1, dot) == 0)
			return (int)i;
	return -1;
}

/*
 * The host name of a ClientHello's server_name extension (RFC 6066
 * section 3) into name, or -1 if there is none or it does not fit.
 * OpenSSL checks the extension itself later and fails a malformed one;
 * until then it is only read, within its bounds.
 */
static int
tls_hello_name(SSL *ssl, char *name, size_t size)
{
	const unsigned char *p;
	size_t len, list, n;

	if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &p, &len) !=
		1 ||
	    len < 2)
		return -1;
	list = (size_t)p[0] << 8 | p[1];
	if (list != len - 2 || list < 3)
		return -1;
	p += 2;
	/* One entry, of type host_name (0): the only one there is. */
	n = (size_t)p[1] << 8 | p[2];
	if (p[0] != TLSEXT_NAMETYPE_host_name || n + 3 > list || n == 0 ||
	    n >= size || memchr(p + 3, '\0', n) != NULL)
		return -1;
	memcpy(name, p + 3, n);
	name[n] = '\0';
	return 0;
}

/*
 * Chooses the certificate by the name the client asks for.  This runs
 * first in the handshake, before OpenSSL looks at a session the client
 * offers: the servername callback would run after a TLS 1.2 session was
 * resumed already.  A name's certificate comes with a session id context
 * of its own, the protocol's with the section's index: OpenSSL resumes
 * a session (cached, ticket, or TLS 1.3 PSK) only under the context it
 * was made in, so a session made for one name, which never showed this
 * name's certificate, gets a full handshake here instead.  The index is
 * enough: a reload makes new contexts and with them new ticket keys and
 * caches, so no session outlives its snapshot.
 */
static int
tls_hello_cb(SSL *ssl, int *alert, void *arg)
{
	const struct tls_hello *h = arg;
	const struct tls_name *n;
	STACK_OF(X509) *chain = NULL;
	char name[TLS_NAME_MAX + 2], sid_ctx[SSL_MAX_SID_CTX_LENGTH];
	int i, len;

	if (tls_hello_name(ssl, name, sizeof(name)) == -1 ||
	    (i = tls_name_match(h->tls, name)) < 0)
		return SSL_CLIENT_HELLO_SUCCESS;
	n = &h->tls->names[i];
	len = snprintf(sid_ctx, sizeof(sid_ctx), "postern-%s/%d",
	    proto_get(h->proto)->section, i);
	/* The protocol's own certificates go, whatever their key types:
	 * OpenSSL would otherwise choose among both by signature
	 * algorithm. */
	SSL_certs_clear(ssl);
	if (SSL_CTX_get0_chain_certs(n->ctx, &chain) != 1 ||
	    SSL_use_cert_and_key(ssl, SSL_CTX_get0_certificate(n->ctx),
		SSL_CTX_get0_privatekey(n->ctx), chain, 1) != 1 ||
	    len < 0 || (size_t)len >= sizeof(sid_ctx) ||
	    SSL_set_session_id_context(ssl, (const unsigned char *)sid_ctx,
		(unsigned)len) != 1) {
		*alert = SSL_AD_INTERNAL_ERROR;
		return SSL_CLIENT_HELLO_ERROR;
	}
	return SSL_CLIENT_HELLO_SUCCESS;
}

int
tls_conf_warn(const struct conf *c, FILE *out)
{
	const struct tls_name *n;
	int warned = 0;

	for (size_t i = 0; i < c->tls.nnames; i++) {
		n = &c->tls.names[i];
		/* OpenSSL's wildcard also matches a literal "*", so a
		 * "*.example.org" section is checked as it is written. */
		if (X509_check_host(SSL_CTX_get0_certificate(n->ctx), n->name,
			0, 0, NULL) == 1)
			continue;
		fprintf(out,
		    "%s:%d: warning: [tls \"%s\"] certificate '%s' "
		    "does not cover %s: clients that check it will refuse "
		    "it\n",
		    c->path, n->line, n->name, n->certificate, n->name);
		warned++;
	}
	ERR_clear_error();
	return warned;
}

/* The section that configures b, for messages: "[pop3]", "[backend "x"]". */
static void
tls_backend_where(const struct conf *c, const struct backend *b, char *buf,
    size_t len)
{
	for (int p = 0; p < PROTO_COUNT; p++) {
		if (c->routing.implicit[p] == b) {
			snprintf(buf, len, "[%s]", proto_get(p)->section);
			return;
		}
	}
	snprintf(buf, len, "[backend \"%s\"]", b->name);
}

static SSL_CTX *
tls_backend_ctx(const struct conf *c, const struct backend *b, FILE *errout)
{
	char err[256];
	SSL_CTX *ctx;

	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		fprintf(errout, "%s: cannot create a TLS context: %s\n",
		    c->path, tls_error(err, sizeof(err)));
		return NULL;
	}
	tls_ctx_common(ctx, TLS1_2_VERSION);
	if (b->verify) {
		int ok =
		    b->ca_file != NULL ?
			SSL_CTX_load_verify_locations(ctx, b->ca_file, NULL) :
			SSL_CTX_set_default_verify_paths(ctx);

		if (ok != 1) {
			char where[BACKEND_NAME_MAX + 16];

			tls_backend_where(c, b, where, sizeof(where));
			fprintf(errout,
			    "%s: %s cannot load the CA "
			    "certificates %s: %s\n",
			    c->path, where,
			    b->ca_file != NULL ? b->ca_file :
						 "(system default)",
			    tls_error(err, sizeof(err)));
			SSL_CTX_free(ctx);
			return NULL;
		}
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	} else
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	return ctx;
}

int
tls_conf_setup(struct conf *c, FILE *errout)
{
	bool first = true;
	struct backend *b;

	for (int p = 0; p < PROTO_COUNT; p++) {
		struct proto_conf *pc = &c->proto[p];

		if (!pc->enabled)
			continue;
		if (c->tls.ctx != NULL) {
			c->server_ssl_ctx[p] =
			    tls_server_ctx(c, p, first, errout);
			if (c->server_ssl_ctx[p] == NULL)
				return -1;
			first = false;
			c->tls.hello[p].tls = &c->tls;
			c->tls.hello[p].proto = p;
			if (c->tls.nnames > 0)
				SSL_CTX_set_client_hello_cb(
				    c->server_ssl_ctx[p], tls_hello_cb,
				    &c->tls.hello[p]);
		}
		b = c->routing.implicit[p];
		if (b == NULL || b->tls == BACKEND_TLS_NONE)
			continue;
		if ((b->ssl_ctx = tls_backend_ctx(c, b, errout)) == NULL)
			return -1;
	}
	for (size_t i = 0; i < c->routing.nnamed; i++) {
		b = c->routing.named[i];
		if (b->tls == BACKEND_TLS_NONE)
			continue;
		if ((b->ssl_ctx = tls_backend_ctx(c, b, errout)) == NULL)
			return -1;
	}
	return tls_resume_conf(c, errout);
}

SSL *
tls_server_new(const struct conf *c, enum proto_id p)
{
	if (c->server_ssl_ctx[p] == NULL)
		return NULL;
	return SSL_new(c->server_ssl_ctx[p]);
}

SSL *
tls_backend_new(const struct backend *b, const struct backend_addr *a)
{
	const char *name = b->server_name != NULL ? b->server_name : a->host;
	unsigned char tmp[16];
	bool is_ip;
	SSL *ssl;

	if (b->ssl_ctx == NULL || (ssl = SSL_new(b->ssl_ctx)) == NULL)
		return NULL;
	is_ip = inet_pton(AF_INET, name, tmp) == 1 ||
		inet_pton(AF_INET6, name, tmp) == 1;
	/* RFC 6066 section 3: SNI carries host names, never addresses. */
	if (!is_ip && SSL_set_tlsext_host_name(ssl, name) != 1)
		goto fail;
	if (b->verify) {
		if (is_ip) {
			X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);

			if (X509_VERIFY_PARAM_set1_ip_asc(vp, name) != 1)
				goto fail;
		} else if (SSL_set1_host(ssl, name) != 1)
			goto fail;
	}
	/* Without the cache (out of memory) the handshake is a full one. */
	(void)tls_resume_attach(ssl, b, a);
	return ssl;
fail:
	SSL_free(ssl);
	return NULL;
}

const char *
tls_version(SSL *ssl)
{
	return ssl != NULL ? SSL_get_version(ssl) : "none";
}
