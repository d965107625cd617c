/*
 * tls_conf: the [tls] section, postern's own certificate, and the check
 * that loads it.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "conf.h"
#include "conf_table.h"
#include "tls.h"

/* Larger than any PEM private key (RSA 16384 is about 13 kB). */
#define KEYFILE_MAX 65536

static const struct conf_enum tls_versions[] = {{"TLSv1", TLS1_VERSION},
    {"TLSv1.1", TLS1_1_VERSION}, {"TLSv1.2", TLS1_2_VERSION},
    {"TLSv1.3", TLS1_3_VERSION}, {NULL, 0}};

#define TO(f) offsetof(struct tls_conf, f)

static const struct conf_key keys[] = {
    {"certificate", conf_key_string, TO(certificate), 0, 0, 0, NULL},
    {"private_key", conf_key_string, TO(private_key), 0, 0, 0, NULL},
    {"min_version", conf_key_enum, TO(min_version), 0, 0, 0, tls_versions},
    {"ciphers", conf_key_string, TO(ciphers), 0, 0, 0, NULL},
    {"ciphersuites", conf_key_string, TO(ciphersuites), 0, 0, 0, NULL},
};

static void *
tls_base(struct conf *c, unsigned inst)
{
	(void)inst;
	return &c->tls;
}

static const struct conf_section sections[] = {{"tls", 1, NULL, NULL}};

static const struct conf_table tables[] = {
    {"tls", tls_base, keys, sizeof(keys) / sizeof(keys[0])}};

static int
tls_defaults(struct conf_loader *l, struct conf *c)
{
	(void)l;
	c->tls.min_version = TLS1_2_VERSION;
	return 0;
}

static const char *
ssl_reason(void)
{
	unsigned long e = ERR_peek_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;

	return r ? r : "unknown error";
}

/* No pass phrase prompt: an encrypted key fails instead of blocking. */
static int
no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

/*
 * Reads the private key from fp.  An encrypted key is refused with its own
 * message: postern starts unattended and cannot ask for a pass phrase.
 */
static EVP_PKEY *
tls_read_key(struct conf_loader *l, const struct tls_conf *t, FILE *fp)
{
	EVP_PKEY *pkey = NULL;
	char *buf;
	size_t n;
	BIO *bio;

	if ((buf = malloc(KEYFILE_MAX + 1)) == NULL) {
		conf_oom(l);
		return NULL;
	}
	n = fread(buf, 1, KEYFILE_MAX + 1, fp);
	if (ferror(fp) || n > KEYFILE_MAX) {
		if (n > KEYFILE_MAX)
			conf_error(l, t->private_key_line,
			    "[tls] private_key: '%s' is larger than %d bytes",
			    t->private_key, KEYFILE_MAX);
		else
			conf_error(l, t->private_key_line,
			    "[tls] private_key: cannot read '%s': %s",
			    t->private_key, strerror(errno));
		OPENSSL_cleanse(buf, n);
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	if (strstr(buf, "ENCRYPTED") != NULL) {
		conf_error(l, t->private_key_line,
		    "[tls] private_key: '%s' is encrypted; postern needs it "
		    "without a pass phrase",
		    t->private_key);
		OPENSSL_cleanse(buf, n);
		free(buf);
		return NULL;
	}
	if ((bio = BIO_new_mem_buf(buf, (int)n)) != NULL) {
		pkey = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
		BIO_free(bio);
	}
	OPENSSL_cleanse(buf, n);
	free(buf);
	if (pkey == NULL)
		conf_error(l, t->private_key_line,
		    "[tls] private_key: '%s' holds no PEM private key",
		    t->private_key);
	return pkey;
}

static void
tls_check(struct conf_loader *l, struct conf *c)
{
	struct tls_conf *t = &c->tls;
	EVP_PKEY *pkey = NULL;
	SSL_CTX *ctx;
	FILE *fp;
	bool cert_ok = false, key_ok = false;

	t->certificate_line = conf_key_line(l, "tls", 0, "certificate");
	t->private_key_line = conf_key_line(l, "tls", 0, "private_key");
	if (t->certificate != NULL && t->private_key == NULL)
		conf_error(l, t->certificate_line,
		    "[tls] certificate is set but private_key is not");
	if (t->private_key != NULL && t->certificate == NULL)
		conf_error(l, t->private_key_line,
		    "[tls] private_key is set but certificate is not");

	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		conf_error(
		    l, 0, "cannot create a TLS context: %s", ssl_reason());
		ERR_clear_error();
		return;
	}
	if (t->certificate != NULL) {
		if ((fp = fopen(t->certificate, "r")) == NULL)
			conf_error(l, t->certificate_line,
			    "[tls] certificate: cannot open '%s': %s",
			    t->certificate, strerror(errno));
		else {
			fclose(fp);
			if (SSL_CTX_use_certificate_chain_file(
			        ctx, t->certificate) != 1)
				conf_error(l, t->certificate_line,
				    "[tls] certificate: '%s' is not a PEM "
				    "certificate chain (%s)",
				    t->certificate, ssl_reason());
			else
				cert_ok = true;
		}
		ERR_clear_error();
	}
	if (t->private_key != NULL) {
		if ((fp = fopen(t->private_key, "r")) == NULL)
			conf_error(l, t->private_key_line,
			    "[tls] private_key: cannot open '%s': %s",
			    t->private_key, strerror(errno));
		else {
			pkey = tls_read_key(l, t, fp);
			fclose(fp);
			if (pkey != NULL && cert_ok &&
			    X509_check_private_key(
			        SSL_CTX_get0_certificate(ctx), pkey) != 1)
				conf_error(l, t->private_key_line,
				    "[tls] private_key: '%s' does not match "
				    "certificate '%s' (line %d)",
				    t->private_key, t->certificate,
				    t->certificate_line);
			else if (pkey != NULL && cert_ok)
				key_ok = SSL_CTX_use_PrivateKey(ctx, pkey) == 1;
			EVP_PKEY_free(pkey);
		}
		ERR_clear_error();
	}
	if (t->ciphers != NULL && SSL_CTX_set_cipher_list(ctx, t->ciphers) != 1)
		conf_error(l, conf_key_line(l, "tls", 0, "ciphers"),
		    "[tls] ciphers: OpenSSL accepts no cipher in '%s'",
		    t->ciphers);
	ERR_clear_error();
	if (t->ciphersuites != NULL &&
	    SSL_CTX_set_ciphersuites(ctx, t->ciphersuites) != 1)
		conf_error(l, conf_key_line(l, "tls", 0, "ciphersuites"),
		    "[tls] ciphersuites: '%s' is not a valid TLS 1.3 "
		    "ciphersuite list",
		    t->ciphersuites);
	ERR_clear_error();
	/*
	 * The context that passed is the configuration's: tls_conf_setup()
	 * makes it a protocol's server context, so that the files are read
	 * and checked once, here.
	 */
	if (cert_ok && key_ok)
		t->ctx = ctx;
	else
		SSL_CTX_free(ctx);
}


static void
tls_free(struct conf *c)
{
	int i;

	free(c->tls.certificate);
	free(c->tls.private_key);
	free(c->tls.ciphers);
	free(c->tls.ciphersuites);
	if (c->tls.ctx != NULL)
		SSL_CTX_free(c->tls.ctx);
	for (i = 0; i < PROTO_COUNT; i++) {
		if (c->server_ssl_ctx[i] != NULL)
			SSL_CTX_free(c->server_ssl_ctx[i]);
		if (c->proto[i].backend_ssl_ctx != NULL)
			SSL_CTX_free(c->proto[i].backend_ssl_ctx);
	}
}

static void
tls_dump(const struct conf *c, unsigned inst, struct conf_dump *d)
{
	(void)inst;
	conf_dump_str(d, "Certificate", c->tls.certificate);
	conf_dump_str(d, "PrivateKey", c->tls.private_key);
	conf_dump_str(
	    d, "MinVersion", conf_enum_name(tls_versions, c->tls.min_version));
	conf_dump_str(d, "Ciphers", c->tls.ciphers);
	conf_dump_str(d, "Ciphersuites", c->tls.ciphersuites);
}

const struct conf_module tls_conf_module = {
    .name = "tls",
    .sections = sections,
    .nsections = 1,
    .tables = tables,
    .ntables = 1,
    .defaults = tls_defaults,
    .check = tls_check,
    .free = tls_free,
    .dump = tls_dump,
};
