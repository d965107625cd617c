/*
 * tls_conf: the [tls] section, postern's own certificate, and the check
 * that loads it.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "conf.h"
#include "conf_table.h"
#include "privsep.h"
#include "tls.h"

/* Larger than any PEM private key (RSA 16384 is about 13 kB). */
#define KEYFILE_MAX 65536

/*
 * The files as the privileged helper read them for the reload under way
 * (tls_conf_use_files()), or NULL: the files are opened here.  Only the
 * main thread loads a configuration.
 */
static const struct privsep_files *tls_files;

void
tls_conf_use_files(const struct privsep_files *f)
{
	tls_files = f;
}

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

#define NO(f) offsetof(struct tls_name, f)

static const struct conf_key name_keys[] = {
    {"certificate", conf_key_string, NO(certificate), 0, 0, 0, NULL},
    {"private_key", conf_key_string, NO(private_key), 0, 0, 0, NULL},
};

static void *
tls_name_base(struct conf *c, unsigned inst)
{
	return &c->tls.names[inst];
}

/*
 * Whether s (lower case, no trailing dot) is a host name a client may
 * send by SNI, or "*." and one: LDH labels of 1-63 characters (RFC 1123
 * section 2.1).  The wildcard stands for exactly one whole
 * label (RFC 6125 section 6.4.3) and needs two labels after it, so that
 * it never covers a whole top-level domain.  An address is refused: SNI
 * carries host names only (RFC 6066 section 3).
 */
static const char *
tls_name_invalid(const char *s)
{
	const char *p, *label;
	bool wild = strncmp(s, "*.", 2) == 0, digits = true;
	size_t dots = 0;

	if (wild)
		s += 2;
	/* The length is checked already, with the '*.' if any. */
	if (*s == '\0')
		return "is empty";
	for (label = p = s;; p++) {
		if (*p == '.' || *p == '\0') {
			if (p == label || p - label > 63)
				return "has an empty label or one longer "
				       "than 63 characters";
			if (label[0] == '-' || p[-1] == '-')
				return "has a label that begins or ends "
				       "with '-'";
			if (*p == '\0')
				break;
			dots++;
			label = p + 1;
			digits = true;
		} else if (*p == '*')
			return "has a '*' other than a whole first label";
		else if (!(*p >= 'a' && *p <= 'z') &&
			 !(*p >= '0' && *p <= '9') && *p != '-')
			return "is not a host name (letters, digits, '-' and "
			       "'.')";
		else if (!(*p >= '0' && *p <= '9'))
			digits = false;
	}
	if (digits)
		return "is an address or ends in a numeric label: clients "
		       "send host names only";
	if (wild && dots == 0)
		return "covers a whole top-level domain";
	return NULL;
}

/* A [tls "<name>"] header; rest is what follows "tls". */
static int
tls_name_open(struct conf_loader *l, const char *rest, char *label, size_t size)
{
	struct conf *c = conf_loader_conf(l);
	struct tls_conf *t = &c->tls;
	char name[TLS_NAME_MAX + 2];
	const char *p, *q, *why;
	struct tls_name *v;
	size_t len, i;

	if ((p = conf_section_label(l, rest, "tls", "host name", &len)) == NULL)
		return -1;
	q = p + len;
	/* Names compare without case and without the root's dot. */
	if (len > 0 && p[len - 1] == '.')
		len--;
	if (len > TLS_NAME_MAX) {
		conf_error(l, conf_lineno(l),
		    "[tls \"%.40s...\"]: a host name has at most %d "
		    "characters",
		    p, TLS_NAME_MAX);
		return -1;
	}
	for (i = 0; i < len; i++)
		name[i] = (char)tolower((unsigned char)p[i]);
	name[len] = '\0';
	if ((why = tls_name_invalid(name)) != NULL) {
		conf_error(l, conf_lineno(l), "[tls \"%.*s\"]: the name %s",
		    (int)(q - p), p, why);
		return -1;
	}
	for (i = 0; i < t->nnames; i++) {
		if (strcmp(t->names[i].name, name) == 0) {
			conf_error(l, conf_lineno(l),
			    "duplicate section [tls \"%s\"] (first at line "
			    "%d)",
			    name, t->names[i].line);
			return -1;
		}
	}
	if ((v = reallocarray(t->names, t->nnames + 1, sizeof(*v))) == NULL) {
		conf_oom(l);
		return -1;
	}
	t->names = v;
	memset(&v[t->nnames], 0, sizeof(*v));
	if ((v[t->nnames].name = conf_strdup(l, name)) == NULL)
		return -1;
	v[t->nnames].line = conf_lineno(l);
	snprintf(label, size, "tls \"%s\"", name);
	return (int)t->nnames++;
}

static const char *
tls_default_name(unsigned i)
{
	(void)i;
	return "tls";
}

/*
 * A labelled section is known by the word that opens it, so [tls
 * "<name>"] is the kind named "tls", and [tls] is one fixed section of a
 * kind of its own, "tls_default", that only its header calls "tls".
 */
static const struct conf_section sections[] = {
    {"tls_default", 1, tls_default_name, NULL},
    {"tls", 0, NULL, tls_name_open}};

static const struct conf_table tables[] = {
    {"tls_default", tls_base, keys, sizeof(keys) / sizeof(keys[0])},
    {"tls", tls_name_base, name_keys,
	sizeof(name_keys) / sizeof(name_keys[0])}};

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
 * The private key of section sec (set at line) from the n bytes of buf,
 * NUL-terminated.  An encrypted key is refused with its own message:
 * postern starts unattended and cannot ask for a pass phrase.
 */
static EVP_PKEY *
tls_parse_key(struct conf_loader *l, const char *sec, const char *path,
    int line, const char *buf, size_t n)
{
	EVP_PKEY *pkey = NULL;
	BIO *bio;

	if (n > KEYFILE_MAX) {
		conf_error(l, line,
		    "[%s] private_key: '%s' is larger than %d bytes", sec, path,
		    KEYFILE_MAX);
		return NULL;
	}
	if (strstr(buf, "ENCRYPTED") != NULL) {
		conf_error(l, line,
		    "[%s] private_key: '%s' is encrypted; postern needs it "
		    "without a pass phrase",
		    sec, path);
		return NULL;
	}
	if ((bio = BIO_new_mem_buf(buf, (int)n)) != NULL) {
		pkey = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
		BIO_free(bio);
	}
	if (pkey == NULL)
		conf_error(l, line,
		    "[%s] private_key: '%s' holds no PEM private key", sec,
		    path);
	return pkey;
}

/* Reads the private key of section sec (set at line) from fp. */
static EVP_PKEY *
tls_read_key(struct conf_loader *l, const char *sec, const char *path, int line,
    FILE *fp)
{
	EVP_PKEY *pkey;
	char *buf;
	size_t n;

	if ((buf = malloc(KEYFILE_MAX + 2)) == NULL) {
		conf_oom(l);
		return NULL;
	}
	n = fread(buf, 1, KEYFILE_MAX + 1, fp);
	if (ferror(fp)) {
		conf_error(l, line, "[%s] private_key: cannot read '%s': %s",
		    sec, path, strerror(errno));
		OPENSSL_cleanse(buf, n);
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	pkey = tls_parse_key(l, sec, path, line, buf, n);
	OPENSSL_cleanse(buf, n);
	free(buf);
	return pkey;
}

/*
 * The certificate and the chain after it from the n bytes of pem into
 * ctx, as SSL_CTX_use_certificate_chain_file() reads a file: the first
 * certificate is the leaf, every further one goes to the chain, and the
 * end of the data is the only error allowed after the leaf.  Returns 1 or
 * 0 (the reason on OpenSSL's error queue).
 */
static int
tls_use_chain_mem(SSL_CTX *ctx, const unsigned char *pem, size_t n)
{
	BIO *bio;
	X509 *x, *ca;
	unsigned long e;
	int ok = 0;

	if ((bio = BIO_new_mem_buf(pem, (int)n)) == NULL)
		return 0;
	x = PEM_read_bio_X509_AUX(bio, NULL, no_passphrase, NULL);
	if (x == NULL || SSL_CTX_use_certificate(ctx, x) != 1 ||
	    SSL_CTX_clear_chain_certs(ctx) != 1)
		goto done;
	while (
	    (ca = PEM_read_bio_X509(bio, NULL, no_passphrase, NULL)) != NULL) {
		if (SSL_CTX_add0_chain_cert(ctx, ca) != 1) {
			X509_free(ca);
			goto done;
		}
	}
	e = ERR_peek_last_error();
	if (ERR_GET_LIB(e) == ERR_LIB_PEM &&
	    ERR_GET_REASON(e) == PEM_R_NO_START_LINE) {
		ERR_clear_error();
		ok = 1;
	}
done:
	X509_free(x);
	BIO_free(bio);
	return ok;
}

/*
 * The helper's copy of path when a reload runs with it: NULL to open the
 * file here, otherwise the file, whose err says why the helper could not
 * read it.
 */
static const struct privsep_file *
tls_helper_file(const char *path)
{
	return tls_files != NULL ? privsep_find(tls_files, path) : NULL;
}

/* The certificate chain of section sec from the file cert, into ctx. */
static bool
tls_load_cert(struct conf_loader *l, SSL_CTX *ctx, const char *sec,
    const char *cert, int cert_line)
{
	const struct privsep_file *pf = tls_helper_file(cert);
	bool ok = false;
	FILE *fp = NULL;

	if (pf != NULL && pf->err != 0)
		conf_error(l, cert_line,
		    "[%s] certificate: cannot open '%s': %s", sec, cert,
		    strerror(pf->err));
	else if (pf == NULL && (fp = fopen(cert, "r")) == NULL)
		conf_error(l, cert_line,
		    "[%s] certificate: cannot open '%s': %s", sec, cert,
		    strerror(errno));
	else {
		if (pf == NULL)
			fclose(fp);
		if ((pf != NULL ?
			    tls_use_chain_mem(ctx, pf->data, pf->len) :
			    SSL_CTX_use_certificate_chain_file(ctx, cert)) != 1)
			conf_error(l, cert_line,
			    "[%s] certificate: '%s' is not a PEM "
			    "certificate chain (%s)",
			    sec, cert, ssl_reason());
		else
			ok = true;
	}
	ERR_clear_error();
	return ok;
}

/* The private key of section sec from the file key, or NULL. */
static EVP_PKEY *
tls_load_key(struct conf_loader *l, const char *sec, const char *key,
    int key_line)
{
	const struct privsep_file *pf = tls_helper_file(key);
	EVP_PKEY *pkey = NULL;
	FILE *fp;

	if (pf != NULL && pf->err != 0)
		conf_error(l, key_line,
		    "[%s] private_key: cannot open '%s': %s", sec, key,
		    strerror(pf->err));
	else if (pf != NULL)
		pkey = tls_parse_key(l, sec, key, key_line,
		    (const char *)pf->data, pf->len);
	else if ((fp = fopen(key, "r")) == NULL)
		conf_error(l, key_line,
		    "[%s] private_key: cannot open '%s': %s", sec, key,
		    strerror(errno));
	else {
		pkey = tls_read_key(l, sec, key, key_line, fp);
		fclose(fp);
	}
	return pkey;
}

/*
 * Reads and checks the certificate (with its chain, as the file may
 * hold it) and key of section sec into a new server context.  NULL
 * after reporting what is wrong, or when either file is unset.
 */
static SSL_CTX *
tls_load_pair(struct conf_loader *l, const char *sec, const char *cert,
    int cert_line, const char *key, int key_line)
{
	EVP_PKEY *pkey = NULL;
	SSL_CTX *ctx;
	bool cert_ok = false, key_ok = false;

	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		conf_error(l, 0, "cannot create a TLS context: %s",
		    ssl_reason());
		ERR_clear_error();
		return NULL;
	}
	if (cert != NULL)
		cert_ok = tls_load_cert(l, ctx, sec, cert, cert_line);
	if (key != NULL &&
	    (pkey = tls_load_key(l, sec, key, key_line)) != NULL) {
		if (cert_ok && X509_check_private_key(
				   SSL_CTX_get0_certificate(ctx), pkey) != 1)
			conf_error(l, key_line,
			    "[%s] private_key: '%s' does not match "
			    "certificate '%s' (line %d)",
			    sec, key, cert, cert_line);
		else if (cert_ok)
			key_ok = SSL_CTX_use_PrivateKey(ctx, pkey) == 1;
		EVP_PKEY_free(pkey);
	}
	ERR_clear_error();
	if (cert_ok && key_ok)
		return ctx;
	SSL_CTX_free(ctx);
	return NULL;
}

/*
 * Each [tls "<name>"] section's pair.  A name needs the default [tls]
 * pair too: a client that sends no name, or one no section has, gets
 * that one.
 */
static void
tls_check_names(struct conf_loader *l, struct conf *c)
{
	struct tls_conf *t = &c->tls;
	struct tls_name *n;
	char sec[TLS_NAME_MAX + 8];
	int cline, kline;
	size_t i;

	for (i = 0; i < t->nnames; i++) {
		n = &t->names[i];
		snprintf(sec, sizeof(sec), "tls \"%s\"", n->name);
		cline = n->certificate_line =
		    conf_key_line(l, "tls", (unsigned)i, "certificate");
		kline = n->private_key_line =
		    conf_key_line(l, "tls", (unsigned)i, "private_key");
		if (n->certificate == NULL)
			conf_error(l, n->line, "[%s] has no certificate", sec);
		if (n->private_key == NULL)
			conf_error(l, n->line, "[%s] has no private_key", sec);
		n->ctx = tls_load_pair(l, sec, n->certificate, cline,
		    n->private_key, kline);
	}
	if (t->nnames > 0 && t->certificate == NULL)
		conf_error(l, t->names[0].line,
		    "[tls \"%s\"] needs the default certificate and "
		    "private_key in [tls], for clients that send no name or "
		    "another one",
		    t->names[0].name);
}

static void
tls_check(struct conf_loader *l, struct conf *c)
{
	struct tls_conf *t = &c->tls;
	SSL_CTX *ctx;

	t->certificate_line = conf_key_line(l, "tls_default", 0, "certificate");
	t->private_key_line = conf_key_line(l, "tls_default", 0, "private_key");
	if (t->certificate != NULL && t->private_key == NULL)
		conf_error(l, t->certificate_line,
		    "[tls] certificate is set but private_key is not");
	if (t->private_key != NULL && t->certificate == NULL)
		conf_error(l, t->private_key_line,
		    "[tls] private_key is set but certificate is not");
	tls_check_names(l, c);
	/* Nothing below to check: spare the costly TLS context. */
	if (t->certificate == NULL && t->private_key == NULL &&
	    t->ciphers == NULL && t->ciphersuites == NULL)
		return;

	ctx = tls_load_pair(l, "tls", t->certificate, t->certificate_line,
	    t->private_key, t->private_key_line);
	/* The ciphers are checked without a certificate too. */
	if (ctx == NULL && (ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		ERR_clear_error();
		return;
	}
	if (t->ciphers != NULL && SSL_CTX_set_cipher_list(ctx, t->ciphers) != 1)
		conf_error(l, conf_key_line(l, "tls_default", 0, "ciphers"),
		    "[tls] ciphers: OpenSSL accepts no cipher in '%s'",
		    t->ciphers);
	ERR_clear_error();
	if (t->ciphersuites != NULL &&
	    SSL_CTX_set_ciphersuites(ctx, t->ciphersuites) != 1)
		conf_error(l,
		    conf_key_line(l, "tls_default", 0, "ciphersuites"),
		    "[tls] ciphersuites: '%s' is not a valid TLS 1.3 "
		    "ciphersuite list",
		    t->ciphersuites);
	ERR_clear_error();
	/*
	 * The context that passed is the configuration's: tls_conf_setup()
	 * makes it a protocol's server context, so that the files are read
	 * and checked once, here.
	 */
	if (SSL_CTX_get0_certificate(ctx) != NULL &&
	    SSL_CTX_get0_privatekey(ctx) != NULL)
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
	for (i = 0; i < (int)c->tls.nnames; i++) {
		free(c->tls.names[i].name);
		free(c->tls.names[i].certificate);
		free(c->tls.names[i].private_key);
		SSL_CTX_free(c->tls.names[i].ctx);
	}
	free(c->tls.names);
	for (i = 0; i < PROTO_COUNT; i++) {
		if (c->server_ssl_ctx[i] != NULL)
			SSL_CTX_free(c->server_ssl_ctx[i]);
	}
}

static void
tls_dump(const struct conf *c, unsigned inst, struct conf_dump *d)
{
	(void)inst;
	conf_dump_str(d, "Certificate", c->tls.certificate);
	conf_dump_str(d, "PrivateKey", c->tls.private_key);
	conf_dump_str(d, "MinVersion",
	    conf_enum_name(tls_versions, c->tls.min_version));
	conf_dump_str(d, "Ciphers", c->tls.ciphers);
	conf_dump_str(d, "Ciphersuites", c->tls.ciphersuites);
	/* A block for each [tls "<name>"]; the caller ends the last one. */
	for (size_t i = 0; i < c->tls.nnames; i++) {
		conf_dump_block(d);
		conf_dump_str(d, "ServerName", c->tls.names[i].name);
		conf_dump_str(d, "Certificate", c->tls.names[i].certificate);
		conf_dump_str(d, "PrivateKey", c->tls.names[i].private_key);
	}
}

const struct conf_module tls_conf_module = {
    .name = "tls",
    .sections = sections,
    .nsections = 2,
    .tables = tables,
    .ntables = 2,
    .defaults = tls_defaults,
    .check = tls_check,
    .free = tls_free,
    .dump = tls_dump,
};
