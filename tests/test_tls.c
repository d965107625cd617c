/*
 * tls: the socket BIO of TLS conns, on a socket pair; session resumption
 * across protocols, with in-memory handshakes.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "conf.h"
#include "testcert.h"
#include "tls.h"

static int sv[2];

static void
setup(void)
{
	tls_init();
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv),
	    0);
}

static void
teardown(void)
{
	close(sv[0]);
	close(sv[1]);
}

static bool
fd_open(int fd)
{
	return fcntl(fd, F_GETFD) != -1;
}

TestSuite(tls, .init = setup, .fini = teardown);

Test(tls, sockbio_reads_writes_and_never_tells_its_descriptor)
{
	BIO *b = tls_sockbio_new(sv[0]);
	char buf[16];

	cr_assert_not_null(b);
	cr_assert_eq(BIO_get_fd(b, NULL), -1);
	cr_assert_eq(BIO_write(b, "hello", 5), 5);
	cr_assert_eq(read(sv[1], buf, sizeof(buf)), 5);
	cr_assert_eq(memcmp(buf, "hello", 5), 0);
	/* Nothing to read: a retry, not an error or an end. */
	cr_assert_eq(BIO_read(b, buf, sizeof(buf)), -1);
	cr_assert(BIO_should_retry(b));
	cr_assert(BIO_should_read(b));
	cr_assert_eq(BIO_eof(b), 0);
	cr_assert_eq(write(sv[1], "abc", 3), 3);
	cr_assert_eq(BIO_read(b, buf, sizeof(buf)), 3);
	cr_assert_not(BIO_should_retry(b));
	cr_assert_eq(memcmp(buf, "abc", 3), 0);
	/* The peer's end is an end of file. */
	cr_assert_eq(shutdown(sv[1], SHUT_WR), 0);
	cr_assert_eq(BIO_read(b, buf, sizeof(buf)), 0);
	cr_assert_not(BIO_should_retry(b));
	cr_assert_eq(BIO_eof(b), 1);
	/* A full socket: the write is to be retried. */
	{
		static char big[1 << 16];
		int n;

		while ((n = BIO_write(b, big, sizeof(big))) > 0)
			;
		cr_assert_eq(n, -1);
		cr_assert(BIO_should_retry(b));
		cr_assert(BIO_should_write(b));
	}
	BIO_free(b);
	cr_assert(fd_open(sv[0]), "freeing the BIO closed the socket");
}

/* --- resumption across protocols ----------------------------------------- */

/* A configuration with both protocols and a fresh certificate. */
static struct conf *
resume_conf(void)
{
	char dir[] = "/tmp/test_tls.XXXXXX", cert[64], key[64], ini[64];
	EVP_PKEY *k = EVP_EC_gen("P-256");
	struct conf *c;
	X509 *x;
	FILE *fp;

	cr_assert_not_null(mkdtemp(dir));
	cr_assert_not_null(k);
	x = testcert_new(k);
	snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
	snprintf(key, sizeof(key), "%s/key.pem", dir);
	snprintf(ini, sizeof(ini), "%s/t.ini", dir);
	testcert_sign(x, k);
	cr_assert_not_null(fp = fopen(cert, "w"));
	cr_assert(PEM_write_X509(fp, x));
	fclose(fp);
	cr_assert_not_null(fp = fopen(key, "w"));
	cr_assert(PEM_write_PrivateKey(fp, k, NULL, NULL, 0, NULL, NULL));
	fclose(fp);
	cr_assert_not_null(fp = fopen(ini, "w"));
	fprintf(fp,
	    "[pop3]\nbackend = 127.0.0.1\n[imap]\nbackend = 127.0.0.1\n"
	    "[tls]\ncertificate = %s\nprivate_key = %s\n",
	    cert, key);
	fclose(fp);
	c = conf_load(ini, stderr);
	cr_assert_not_null(c);
	cr_assert_eq(tls_conf_setup(c, stderr), 0);
	unlink(cert);
	unlink(key);
	unlink(ini);
	rmdir(dir);
	X509_free(x);
	EVP_PKEY_free(k);
	return c;
}

static bool
tls_want_more(SSL *ssl, int rc)
{
	int e = SSL_get_error(ssl, rc);

	return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE;
}

/*
 * A client handshake with a postern server SSL of protocol p, offering
 * sess (NULL: none).  Returns the client's session for a later offer, and
 * in *reused whether the server resumed sess.
 */
static SSL_SESSION *
handshake(struct conf *c, enum proto_id p, SSL_CTX *cctx, SSL_SESSION *sess,
    bool *reused)
{
	SSL *cl = SSL_new(cctx), *srv = tls_server_new(c, p);
	BIO *bc, *bs;
	SSL_SESSION *got;
	bool cdone = false, sdone = false;
	char byte;

	cr_assert_not_null(cl);
	cr_assert_not_null(srv);
	cr_assert_eq(BIO_new_bio_pair(&bc, 0, &bs, 0), 1);
	SSL_set_bio(cl, bc, bc);
	SSL_set_bio(srv, bs, bs);
	SSL_set_connect_state(cl);
	SSL_set_accept_state(srv);
	if (sess != NULL)
		cr_assert_eq(SSL_set_session(cl, sess), 1);
	for (int i = 0; i < 50 && !(cdone && sdone); i++) {
		int rc;

		if (!cdone) {
			rc = SSL_do_handshake(cl);
			cdone = rc == 1;
			cr_assert(cdone || tls_want_more(cl, rc),
			    "client handshake failed");
		}
		if (!sdone) {
			rc = SSL_do_handshake(srv);
			sdone = rc == 1;
			cr_assert(sdone || tls_want_more(srv, rc),
			    "server handshake failed");
		}
	}
	cr_assert(cdone && sdone);
	/* TLS 1.3 tickets come after the handshake: a byte of data brings
	 * them to the client. */
	cr_assert_eq(SSL_write(srv, "x", 1), 1);
	cr_assert_eq(SSL_read(cl, &byte, 1), 1);
	*reused = SSL_session_reused(cl) == 1;
	cr_assert_eq(*reused, SSL_session_reused(srv) == 1);
	got = SSL_get1_session(cl);
	cr_assert_not_null(got);
	/* An SSL freed without close_notify drops its session from the
	 * caches as broken; postern's session_close() sends one too. */
	SSL_shutdown(cl);
	SSL_shutdown(srv);
	SSL_free(cl);
	SSL_free(srv);
	return got;
}

/* An IMAPS session resumes on IMAPS but never on POP3S, and back. */
static void
expect_resumption_within_protocol_only(int version, bool tickets)
{
	struct conf *c = resume_conf();
	SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
	SSL_SESSION *imap, *other;
	bool reused;

	cr_assert_not_null(cctx);
	SSL_CTX_set_min_proto_version(cctx, version);
	SSL_CTX_set_max_proto_version(cctx, version);
	SSL_CTX_set_verify(cctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_session_cache_mode(cctx, SSL_SESS_CACHE_OFF);
	if (!tickets)
		SSL_CTX_set_options(cctx, SSL_OP_NO_TICKET);

	imap = handshake(c, PROTO_IMAP, cctx, NULL, &reused);
	cr_assert_not(reused);
	cr_assert(SSL_SESSION_is_resumable(imap));
	if (version == TLS1_2_VERSION)
		cr_assert_eq(SSL_SESSION_has_ticket(imap) == 1, tickets);

	other = handshake(c, PROTO_POP3, cctx, imap, &reused);
	cr_expect_not(reused, "an IMAP session was resumed on POP3");
	SSL_SESSION_free(other);

	other = handshake(c, PROTO_IMAP, cctx, imap, &reused);
	cr_expect(reused, "an IMAP session was not resumed on IMAP");
	SSL_SESSION_free(other);
	SSL_SESSION_free(imap);

	/* And the other way round. */
	other = handshake(c, PROTO_POP3, cctx, NULL, &reused);
	imap = handshake(c, PROTO_IMAP, cctx, other, &reused);
	cr_expect_not(reused, "a POP3 session was resumed on IMAP");
	SSL_SESSION_free(imap);
	SSL_SESSION_free(other);

	SSL_CTX_free(cctx);
	conf_unref(c);
}

Test(tls, tls13_ticket_resumes_only_on_its_own_protocol)
{
	expect_resumption_within_protocol_only(TLS1_3_VERSION, true);
}

Test(tls, tls12_ticket_resumes_only_on_its_own_protocol)
{
	expect_resumption_within_protocol_only(TLS1_2_VERSION, true);
}

Test(tls, tls12_session_id_resumes_only_on_its_own_protocol)
{
	expect_resumption_within_protocol_only(TLS1_2_VERSION, false);
}

/*
 * The certificate and key are read and checked once, by the load: its
 * context becomes the first protocol's, and the other protocol gets its
 * own context (a session cache of its own) with the same certificate.
 */
Test(tls, load_context_is_reused_by_the_protocols)
{
	struct conf *c = resume_conf();
	SSL_CTX *pop = c->server_ssl_ctx[PROTO_POP3];
	SSL_CTX *imap = c->server_ssl_ctx[PROTO_IMAP];

	cr_assert_not_null(c->tls.ctx);
	cr_assert_not_null(SSL_CTX_get0_privatekey(c->tls.ctx));
	cr_expect_eq(pop, c->tls.ctx);
	cr_assert_not_null(imap);
	cr_expect_neq(imap, pop);
	cr_expect_eq(X509_cmp(SSL_CTX_get0_certificate(imap),
			 SSL_CTX_get0_certificate(pop)),
	    0);
	cr_expect_eq(EVP_PKEY_eq(SSL_CTX_get0_privatekey(imap),
			 SSL_CTX_get0_privatekey(pop)),
	    1);
	conf_unref(c);
}
