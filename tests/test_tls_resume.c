/*
 * tls_resume: the per-thread cache of backend TLS sessions, and real
 * in-memory handshakes between a backend SSL that postern makes and an
 * OpenSSL server: TLS 1.3 tickets, TLS 1.2 tickets and session ids,
 * verification on every full handshake, and keys that change with the
 * CA file's contents.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "conf.h"
#include "testcert.h"
#include "tls.h"
#include "tls_resume.h"

static char dir[] = "/tmp/test_tls_resume.XXXXXX";

static void
setup(void)
{
	tls_init();
	cr_assert_not_null(mkdtemp(dir));
}

static void
teardown(void)
{
	char cmd[64];

	tls_resume_clear();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
}

TestSuite(tls_resume, .init = setup, .fini = teardown);

/* --- the cache itself ---------------------------------------------------- */

static SSL_SESSION *
fake_session(int version, unsigned char idbyte, long timeout)
{
	SSL_SESSION *s = SSL_SESSION_new();
	unsigned char id[32];

	cr_assert_not_null(s);
	memset(id, idbyte, sizeof(id));
	cr_assert_eq(SSL_SESSION_set1_id(s, id, sizeof(id)), 1);
	cr_assert_eq(SSL_SESSION_set_protocol_version(s, version), 1);
	SSL_SESSION_set_time(s, time(NULL));
	SSL_SESSION_set_timeout(s, timeout);
	cr_assert(SSL_SESSION_is_resumable(s));
	return s;
}

static void
key(struct tls_resume_key *k, unsigned n)
{
	memset(k, 0, sizeof(*k));
	memcpy(k->id, &n, sizeof(n));
}

static unsigned char
session_byte(const SSL_SESSION *s)
{
	unsigned len;

	return SSL_SESSION_get_id(s, &len)[0];
}

Test(tls_resume, tls13_session_is_used_once_newest_first)
{
	struct tls_resume_key k, other;
	SSL_SESSION *s;

	key(&k, 1);
	key(&other, 2);
	tls_resume_put(&k, fake_session(TLS1_3_VERSION, 'a', 600));
	tls_resume_put(&k, fake_session(TLS1_3_VERSION, 'b', 600));
	cr_assert_null(tls_resume_take(&other));
	cr_assert_not_null(s = tls_resume_take(&k));
	cr_expect_eq(session_byte(s), 'b');
	SSL_SESSION_free(s);
	cr_assert_not_null(s = tls_resume_take(&k));
	cr_expect_eq(session_byte(s), 'a');
	SSL_SESSION_free(s);
	cr_expect_null(tls_resume_take(&k), "a TLS 1.3 ticket was used twice");
}

Test(tls_resume, tls12_session_stays_for_the_next_login)
{
	struct tls_resume_key k;
	SSL_SESSION *s;

	key(&k, 1);
	tls_resume_put(&k, fake_session(TLS1_2_VERSION, 'a', 600));
	for (int i = 0; i < 3; i++) {
		cr_assert_not_null(s = tls_resume_take(&k));
		SSL_SESSION_free(s);
	}
	cr_expect_eq(tls_resume_count(NULL), 1);
}

Test(tls_resume, expired_session_is_never_offered)
{
	struct tls_resume_key k;
	SSL_SESSION *s, *old;

	key(&k, 1);
	tls_resume_put(&k, fake_session(TLS1_2_VERSION, 'a', 600));
	old = fake_session(TLS1_2_VERSION, 'b', 600);
	SSL_SESSION_set_time(old, time(NULL) - 601);
	tls_resume_put(&k, old);
	/* The newest ('b') is past its lifetime: dropped, 'a' offered. */
	cr_assert_not_null(s = tls_resume_take(&k));
	cr_expect_eq(session_byte(s), 'a');
	SSL_SESSION_free(s);
	cr_expect_eq(tls_resume_count(NULL), 1);
	tls_resume_forget(&k);
	old = fake_session(TLS1_3_VERSION, 'c', 600);
	SSL_SESSION_set_time(old, time(NULL) - 601);
	tls_resume_put(&k, old);
	cr_expect_null(tls_resume_take(&k), "an expired session was offered");
	cr_expect_eq(tls_resume_count(NULL), 0);
}

Test(tls_resume, bounded_per_key_and_in_keys)
{
	struct tls_resume_key k;
	size_t keys;

	key(&k, 0);
	for (int i = 0; i < TLS_RESUME_PER_KEY + 3; i++)
		tls_resume_put(&k, fake_session(TLS1_2_VERSION, 'a', 600));
	cr_expect_eq(tls_resume_count(&keys), TLS_RESUME_PER_KEY);
	cr_expect_eq(keys, 1);
	/* The key used least recently goes first: key 0 was just used. */
	for (unsigned n = 1; n < TLS_RESUME_KEYS_MAX + 10; n++) {
		SSL_SESSION *s;

		key(&k, 0);
		s = tls_resume_take(&k);
		cr_assert_not_null(s, "key 0 was evicted at key %u", n);
		SSL_SESSION_free(s);
		key(&k, n);
		tls_resume_put(&k, fake_session(TLS1_2_VERSION, 'a', 600));
	}
	tls_resume_count(&keys);
	cr_expect_eq(keys, TLS_RESUME_KEYS_MAX);
	key(&k, 1);
	cr_expect_null(tls_resume_take(&k), "the oldest key stayed");
	tls_resume_forget(&k);
	key(&k, 0);
	tls_resume_forget(&k);
	tls_resume_count(&keys);
	cr_expect_eq(keys, TLS_RESUME_KEYS_MAX - 1);
}

/* --- real handshakes ----------------------------------------------------- */

struct cert {
	X509 *x;
	EVP_PKEY *k;
};

static void
add_ext(X509 *x, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *e;

	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	cr_assert_not_null(e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value));
	cr_assert_eq(X509_add_ext(x, e, -1), 1);
	X509_EXTENSION_free(e);
}

/* A self-signed certificate for postern.test, its own CA. */
static struct cert
make_cert(void)
{
	struct cert c = {NULL, EVP_EC_gen("P-256")};

	cr_assert_not_null(c.k);
	c.x = testcert_new(c.k);
	add_ext(c.x, NID_basic_constraints, "critical,CA:TRUE");
	add_ext(c.x, NID_subject_alt_name, "DNS:postern.test");
	testcert_sign(c.x, c.k);
	return c;
}

static void
free_cert(struct cert *c)
{
	X509_free(c->x);
	EVP_PKEY_free(c->k);
}

static void
write_ca(const char *path, const struct cert *c)
{
	FILE *fp = fopen(path, "w");

	cr_assert_not_null(fp);
	cr_assert(PEM_write_X509(fp, c->x));
	fclose(fp);
}

/* A server context with c, limited to version, tickets on or off. */
static SSL_CTX *
server_ctx(const struct cert *c, int version, bool tickets)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	cr_assert_not_null(ctx);
	cr_assert_eq(SSL_CTX_use_certificate(ctx, c->x), 1);
	cr_assert_eq(SSL_CTX_use_PrivateKey(ctx, c->k), 1);
	SSL_CTX_set_min_proto_version(ctx, version);
	SSL_CTX_set_max_proto_version(ctx, version);
	SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"t", 1);
	if (!tickets)
		SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	return ctx;
}

/* A configuration with one backend "b": server_name name, and keys. */
static struct conf *
backend_conf(const char *name, const char *keys)
{
	char ini[128];
	struct conf *c;
	FILE *fp;

	snprintf(ini, sizeof(ini), "%s/t.ini", dir);
	cr_assert_not_null(fp = fopen(ini, "w"));
	fprintf(fp,
	    "[backend \"b\"]\nimap = 127.0.0.1:993\ntls = implicit\n"
	    "server_name = %s\n%s\n"
	    "[pop3]\nenabled = no\nbackend = 127.0.0.1\nssl_bindings =\n"
	    "login_type = PlainTextLogin\n"
	    "[imap]\nbackend = b\nssl_bindings =\n"
	    "login_type = PlainTextLogin\n",
	    name, keys);
	fclose(fp);
	c = conf_load(ini, stderr);
	cr_assert_not_null(c);
	cr_assert_eq(tls_conf_setup(c, stderr), 0);
	return c;
}

static const struct backend *
the_backend(const struct conf *c)
{
	cr_assert_eq(c->routing.nnamed, 1);
	return c->routing.named[0];
}

static bool
want_more(SSL *ssl, int rc)
{
	int e = SSL_get_error(ssl, rc);

	return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE;
}

/* How a backend handshake went. */
enum outcome { FULL, RESUMED, FAILED };

/*
 * A handshake of postern's backend SSL for c's backend against a server
 * SSL of sctx, as backend.c drives it, with a byte of data from the
 * server after it (which brings TLS 1.3 tickets).
 */
static enum outcome
handshake(const struct conf *c, SSL_CTX *sctx, long *verify)
{
	const struct backend *b = the_backend(c);
	SSL *cl = tls_backend_new(b, &b->pool[PROTO_IMAP].v[0]);
	SSL *srv = SSL_new(sctx);
	bool cdone = false, sdone = false;
	enum outcome o = FAILED;
	BIO *bc, *bs;
	char byte;

	cr_assert_not_null(cl);
	cr_assert_not_null(srv);
	cr_assert_eq(BIO_new_bio_pair(&bc, 0, &bs, 0), 1);
	SSL_set_bio(cl, bc, bc);
	SSL_set_bio(srv, bs, bs);
	SSL_set_connect_state(cl);
	SSL_set_accept_state(srv);
	for (int i = 0; i < 50 && !(cdone && sdone); i++) {
		int rc;

		if (!cdone) {
			rc = SSL_do_handshake(cl);
			cdone = rc == 1;
			if (!cdone && !want_more(cl, rc))
				break;
		}
		if (!sdone) {
			rc = SSL_do_handshake(srv);
			sdone = rc == 1;
			if (!sdone && !want_more(srv, rc))
				break;
		}
	}
	*verify = SSL_get_verify_result(cl);
	if (cdone && sdone) {
		o = tls_resume_handshake_done(cl) ? RESUMED : FULL;
		cr_assert_eq(o == RESUMED, SSL_session_reused(srv) == 1);
		cr_assert_eq(SSL_write(srv, "x", 1), 1);
		cr_assert_eq(SSL_read(cl, &byte, 1), 1);
		/* No close_notify from postern's side: a backend connection
		 * ends with the protocol's logout, and OpenSSL marks the
		 * session of an SSL freed without one as not resumable. */
		SSL_shutdown(srv);
	} else
		tls_resume_handshake_failed(cl);
	ERR_clear_error();
	SSL_free(cl);
	SSL_free(srv);
	return o;
}

static void
expect_logins_resume(int version, bool tickets)
{
	struct cert crt = make_cert();
	char ca[128], keys[200];
	SSL_CTX *sctx = server_ctx(&crt, version, tickets);
	struct conf *c;
	long v;

	snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
	write_ca(ca, &crt);
	snprintf(keys, sizeof(keys), "ca_file = %s", ca);
	c = backend_conf("postern.test", keys);
	cr_expect_eq(handshake(c, sctx, &v), FULL);
	cr_expect_eq(v, X509_V_OK);
	cr_expect_gt(tls_resume_count(NULL), 0, "no session was kept");
	for (int i = 0; i < 6; i++)
		cr_expect_eq(handshake(c, sctx, &v), RESUMED,
		    "login %d was not resumed", i + 2);
	cr_expect_leq(tls_resume_count(NULL), TLS_RESUME_PER_KEY);
	conf_unref(c);
	SSL_CTX_free(sctx);
	free_cert(&crt);
}

Test(tls_resume, tls13_tickets_resume)
{
	expect_logins_resume(TLS1_3_VERSION, true);
}

Test(tls_resume, tls12_tickets_resume)
{
	expect_logins_resume(TLS1_2_VERSION, true);
}

Test(tls_resume, tls12_session_ids_resume)
{
	expect_logins_resume(TLS1_2_VERSION, false);
}

Test(tls_resume, off_keeps_nothing)
{
	struct cert crt = make_cert();
	SSL_CTX *sctx = server_ctx(&crt, TLS1_3_VERSION, true);
	struct conf *c =
	    backend_conf("postern.test", "verify = no\ntls_session_cache = no");
	long v;

	cr_expect_eq(handshake(c, sctx, &v), FULL);
	cr_expect_eq(handshake(c, sctx, &v), FULL);
	cr_expect_eq(tls_resume_count(NULL), 0);
	conf_unref(c);
	SSL_CTX_free(sctx);
	free_cert(&crt);
}

/* Without verification the identity is the address and name alone. */
Test(tls_resume, unverified_backend_resumes_too)
{
	struct cert crt = make_cert();
	SSL_CTX *sctx = server_ctx(&crt, TLS1_3_VERSION, true);
	struct conf *c = backend_conf("postern.test", "verify = no");
	long v;

	cr_expect_eq(handshake(c, sctx, &v), FULL);
	cr_expect_eq(handshake(c, sctx, &v), RESUMED);
	conf_unref(c);
	SSL_CTX_free(sctx);
	free_cert(&crt);
}

/*
 * A reload whose CA file (the same path) no longer holds the backend's
 * issuer: the session verified under the old one is not offered, the
 * full handshake fails verification, and nothing is kept from it.
 */
static void
expect_new_ca_is_not_resumed(int version)
{
	struct cert crt = make_cert(), other = make_cert();
	SSL_CTX *sctx = server_ctx(&crt, version, true);
	char ca[128], keys[200];
	struct conf *c, *c2;
	long v;

	snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
	write_ca(ca, &crt);
	snprintf(keys, sizeof(keys), "ca_file = %s", ca);
	c = backend_conf("postern.test", keys);
	cr_assert_eq(handshake(c, sctx, &v), FULL);
	cr_assert_eq(handshake(c, sctx, &v), RESUMED);
	cr_assert_gt(tls_resume_count(NULL), 0);

	write_ca(ca, &other);
	c2 = backend_conf("postern.test", keys);
	cr_expect_eq(handshake(c2, sctx, &v), FAILED,
	    "a session made under the old CA file was resumed");
	cr_expect_neq(v, X509_V_OK);
	/* What the old settings kept goes when the worker takes c2. */
	cr_expect_gt(tls_resume_count(NULL), 0);
	tls_resume_prune(c2);
	cr_expect_eq(tls_resume_count(NULL), 0);
	/* The old configuration's own sessions are not offered either:
	 * they were pruned, so the old settings start over in full. */
	cr_expect_eq(handshake(c, sctx, &v), FULL);
	conf_unref(c);
	conf_unref(c2);
	SSL_CTX_free(sctx);
	free_cert(&crt);
	free_cert(&other);
}

Test(tls_resume, tls13_changed_ca_file_is_a_full_handshake)
{
	expect_new_ca_is_not_resumed(TLS1_3_VERSION);
}

Test(tls_resume, tls12_changed_ca_file_is_a_full_handshake)
{
	expect_new_ca_is_not_resumed(TLS1_2_VERSION);
}

/* An unchanged reload keeps the sessions: its keys are the same. */
Test(tls_resume, unchanged_reload_keeps_sessions)
{
	struct cert crt = make_cert();
	SSL_CTX *sctx = server_ctx(&crt, TLS1_3_VERSION, true);
	char ca[128], keys[200];
	struct conf *c, *c2;
	long v;

	snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
	write_ca(ca, &crt);
	snprintf(keys, sizeof(keys), "ca_file = %s", ca);
	c = backend_conf("postern.test", keys);
	cr_assert_eq(handshake(c, sctx, &v), FULL);
	c2 = backend_conf("postern.test", keys);
	tls_resume_prune(c2);
	cr_expect_gt(tls_resume_count(NULL), 0);
	cr_expect_eq(handshake(c2, sctx, &v), RESUMED);
	/* Another server name is another identity. */
	conf_unref(c2);
	c2 = backend_conf("other.test", "verify = no");
	tls_resume_prune(c2);
	cr_expect_eq(tls_resume_count(NULL), 0);
	conf_unref(c);
	conf_unref(c2);
	SSL_CTX_free(sctx);
	free_cert(&crt);
}

/* A certificate that does not verify: no session is kept from it. */
Test(tls_resume, failed_verification_keeps_nothing)
{
	struct cert crt = make_cert(), other = make_cert();
	SSL_CTX *sctx = server_ctx(&crt, TLS1_2_VERSION, true);
	char ca[128], keys[200];
	struct conf *c;
	long v;

	snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
	write_ca(ca, &other);
	snprintf(keys, sizeof(keys), "ca_file = %s", ca);
	c = backend_conf("postern.test", keys);
	cr_expect_eq(handshake(c, sctx, &v), FAILED);
	cr_expect_neq(v, X509_V_OK);
	cr_expect_eq(tls_resume_count(NULL), 0);
	conf_unref(c);
	SSL_CTX_free(sctx);
	free_cert(&crt);
	free_cert(&other);
}
