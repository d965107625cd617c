/*
 * Tests of the conf module: loading, every error with its line, units,
 * the TLS file checks, the dump, and the shipped sample.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <errno.h>
#include <stdarg.h>
#include <ftw.h>
#include <limits.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <arpa/inet.h>

#include "addrset.h"
#include "conf.h"
#include "groups.h"
#include "protolog.h"
#include "saslmech.h"
#include "testcert.h"
#include "tls.h"
#include "tmpdir_fixture.h"

static void
setup(void)
{
	tmpdir_make("test_conf");
}

TestSuite(conf, .init = setup, .fini = tmpdir_remove);

/* Loads content as a file; *errs receives what conf_load wrote. */
static struct conf *
load_len(const char *content, size_t len, char **errs)
{
	const char *path = tmpdir_write("t.ini", content, len);
	struct conf *c;
	size_t elen;
	FILE *err;

	err = open_memstream(errs, &elen);
	cr_assert_not_null(err);
	c = conf_load(path, err);
	fclose(err);
	return c;
}

static struct conf *
load_ok(const char *content)
{
	struct conf *c;
	char *errs;

	c = load_len(content, strlen(content), &errs);
	cr_assert_str_empty(errs, "unexpected errors:\n%s", errs);
	cr_assert_not_null(c);
	free(errs);
	return c;
}

/*
 * Asserts that content fails to load with exactly the expected lines,
 * each written without the file name (":3: message").
 */
static void
expect_errors_len(const char *content, size_t len, const char *expected)
{
	char *errs, *want, *w;
	const char *path = tpath("t.ini"), *p, *nl;
	struct conf *c;

	want = malloc(strlen(expected) * 2 + 64 * strlen(path) + 1);
	cr_assert_not_null(want);
	w = want;
	for (p = expected; *p != '\0'; p = nl + 1) {
		nl = strchr(p, '\n');
		cr_assert_not_null(nl, "expected lines end with a newline");
		w += sprintf(w, "%s%.*s\n", path, (int)(nl - p), p);
	}
	*w = '\0';
	c = load_len(content, len, &errs);
	cr_expect_null(c);
	cr_expect_str_eq(errs, want, "for input:\n%s\ngot:\n%s\nwanted:\n%s",
	    content, errs, want);
	conf_unref(c);
	free(errs);
	free(want);
}

static void
expect_errors(const char *content, const char *expected)
{
	expect_errors_len(content, strlen(content), expected);
}

/* A [pop3] section that needs no certificate (lines 1-4). */
#define NOTLS                                                                  \
	"[pop3]\nbackend = mail.example.org\nlogin_type = PlainTextLogin\n"    \
	"ssl_bindings =\n"

static void
fmt_addr(const struct binding *b, char *buf, size_t len)
{
	char host[NI_MAXHOST], serv[NI_MAXSERV];

	cr_assert_eq(getnameinfo((const struct sockaddr *)&b->addr, b->addrlen,
			 host, sizeof(host), serv, sizeof(serv),
			 NI_NUMERICHOST | NI_NUMERICSERV),
	    0);
	snprintf(buf, len, b->addr.ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s",
	    host, serv);
}

/* Asserts bindings, written "addr/tls/line" and joined by spaces. */
static void
expect_bindings(const struct proto_conf *pc, const char *want)
{
	char got[1024], addr[128];
	size_t i, n = 0;

	got[0] = '\0';
	for (i = 0; i < pc->nbindings; i++) {
		fmt_addr(&pc->bindings[i], addr, sizeof(addr));
		n += (size_t)snprintf(got + n, sizeof(got) - n, "%s%s/%s/%d",
		    i ? " " : "", addr,
		    pc->bindings[i].implicit_tls ? "ssl" : "plain",
		    pc->bindings[i].line);
	}
	cr_expect_str_eq(got, want);
}

static EVP_PKEY *
make_key(void)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");

	cr_assert_not_null(k);
	return k;
}

/* Writes a self-signed certificate for certkey and the key keyfor. */
static void
make_pair(const char *certfile, EVP_PKEY *certkey, const char *keyfile,
    EVP_PKEY *keyfor)
{
	X509 *x = testcert_new(certkey);
	FILE *fp;

	testcert_sign(x, certkey);
	cr_assert_not_null(fp = fopen(certfile, "w"));
	cr_assert(PEM_write_X509(fp, x));
	fclose(fp);
	cr_assert_not_null(fp = fopen(keyfile, "w"));
	cr_assert(PEM_write_PrivateKey(fp, keyfor, NULL, NULL, 0, NULL, NULL));
	fclose(fp);
	X509_free(x);
}

/* cert.pem and key.pem, a matching pair, in the test's directory. */
static void
make_cert(void)
{
	EVP_PKEY *k = make_key();

	make_pair(tpath("cert.pem"), k, tpath("key.pem"), k);
	EVP_PKEY_free(k);
}

static char *strfmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *
strfmt(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	cr_assert_neq(vasprintf(&s, fmt, ap), -1);
	va_end(ap);
	return s;
}

Test(conf, defaults)
{
	struct conf *c;
	struct proto_conf *p, *i;
	char *file;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	make_cert();
	file = strfmt("[pop3]\nbackend = mail.example.org\n[tls]\n"
		      "certificate = %s\nprivate_key = %s\n",
	    tpath("cert.pem"), tpath("key.pem"));
	c = load_ok(file);
	cr_expect_eq(atomic_load(&c->refs), 1);
	cr_expect_str_eq(c->path, tpath("t.ini"));
	cr_expect_eq(c->workers, (unsigned)(ncpu < 1   ? 1 :
					    ncpu > 256 ? 256 :
							 ncpu));
	cr_expect_null(c->user);
	cr_expect_null(c->pid_file);
	cr_expect_eq(c->log_level, LOGLEVEL_INFO);
	cr_expect_not(c->syslog);
	cr_expect_eq(c->shutdown_timeout_ms, 30000);
	cr_expect_str_eq(c->tls.certificate, tpath("cert.pem"));
	cr_expect_str_eq(c->tls.private_key, tpath("key.pem"));
	cr_expect_eq(c->tls.certificate_line, 4);
	cr_expect_eq(c->tls.private_key_line, 5);
	cr_expect_eq(c->tls.min_version, TLS1_2_VERSION);
	cr_expect_null(c->tls.ciphers);
	cr_expect_null(c->tls.ciphersuites);
	cr_expect_null(c->server_ssl_ctx[PROTO_POP3]);
	cr_expect_null(c->server_ssl_ctx[PROTO_IMAP]);

	p = &c->proto[PROTO_POP3];
	cr_expect(p->enabled);
	expect_bindings(p, "[::]:110/plain/0 0.0.0.0:110/plain/0 "
			   "[::]:995/ssl/0 0.0.0.0:995/ssl/0");
	cr_expect_str_eq(p->banner, "POP3 server ready.");
	cr_expect_eq(p->login_type, LOGIN_SECURE_LOGIN);
	cr_expect_eq(p->login_type_mode, LOGIN_MODE_ENFORCE);
	cr_expect_str_eq(p->backend_host, "mail.example.org");
	cr_expect_str_eq(p->backend_port, "1995");
	cr_expect_eq(p->backend_tls, BACKEND_TLS_NONE);
	cr_expect_null(p->backend_ca_file);
	cr_expect_str_eq(p->backend_server_name, "mail.example.org");
	cr_expect(p->backend_verify);
	cr_expect_eq(p->backend_timeout_ms, 30000);
	cr_expect_eq(p->max_connections, 0);
	cr_expect_eq(p->max_connection_from_single_ip, 0);
	cr_expect_eq(p->max_connections_per_user, 16);
	cr_expect_eq(p->pre_auth_timeout_ms, 60000);
	cr_expect_eq(p->pre_auth_total_ms, 180000);
	cr_expect_eq(p->ipv6_prefix_length, 64);
	cr_expect_eq(p->auth_timeout_ms, 1800000);
	cr_expect_eq(p->max_command_size, 512);
	cr_expect_eq(p->max_bad_commands, 10);
	cr_expect_eq(p->max_login_attempts, 3);
	cr_expect_null(c->routing.defaults[PROTO_POP3]->ssl_ctx);

	/* An absent section: disabled, with IMAP's own defaults. */
	i = &c->proto[PROTO_IMAP];
	cr_expect_not(i->enabled);
	expect_bindings(i, "[::]:143/plain/0 0.0.0.0:143/plain/0 "
			   "[::]:993/ssl/0 0.0.0.0:993/ssl/0");
	cr_expect_str_eq(i->banner, "IMAP4 server ready.");
	cr_expect_eq(i->max_command_size, 10240);
	cr_expect_null(i->backend_host);
	conf_unref(c);
	free(file);
}

Test(conf, no_certificate_needed_for_plaintext_only)
{
	struct conf *c = load_ok(NOTLS);

	cr_expect(c->proto[PROTO_POP3].enabled);
	expect_bindings(&c->proto[PROTO_POP3],
	    "[::]:110/plain/0 0.0.0.0:110/plain/0");
	cr_expect_null(c->tls.certificate);
	conf_unref(c);
}

Test(conf, every_key)
{
	struct conf *c;
	struct proto_conf *p, *i;
	char *file;

	make_cert();
	file = strfmt("[postern]\n"
		      "workers = 7\n"
		      "user = postern\n"
		      "pid_file = /run/postern.pid\n"
		      "log_level = debug\n"
		      "syslog = yes\n"
		      "shutdown_timeout = 2m\n"
		      "[tls]\n"
		      "certificate = %s\n"
		      "private_key = %s\n"
		      "min_version = TLSv1.3\n"
		      "ciphers = HIGH:!aNULL\n"
		      "ciphersuites = TLS_AES_256_GCM_SHA384\n"
		      "[pop3]\n"
		      "enabled = true\n"
		      "unencrypted_or_tls_bindings = 127.0.0.1:1110\n"
		      "ssl_bindings = [::1]:1995\n"
		      "banner = Hello there ; an inline comment\n"
		      "login_type = plaintextauthentication\n"
		      "login_type_mode = audit\n"
		      "backend = [2001:db8::1]:995\n"
		      "backend_tls = implicit\n"
		      "backend_ca_file = %s\n"
		      "backend_server_name = pop.example.org\n"
		      "backend_verify = off\n"
		      "backend_timeout = 00:00:10\n"
		      "max_connections = 1000\n"
		      "max_connection_from_single_ip = unlimited\n"
		      "max_connections_per_user = 0\n"
		      "pre_authenticated_connection_timeout = 30s\n"
		      "authenticated_connection_timeout = 1.00:00:00\n"
		      "max_command_size = 1k\n"
		      "max_bad_commands = 1000\n"
		      "max_login_attempts = 100\n"
		      "pre_authenticated_total_timeout = 90s\n"
		      "ipv6_prefix_length = 48\n"
		      "[imap]\n"
		      "enabled = no\n"
		      "backend = 192.0.2.7\n"
		      "login_type = PlainTextLogin\n"
		      "backend_tls = starttls\n"
		      "max_command_size = 16k\n",
	    tpath("cert.pem"), tpath("key.pem"), tpath("cert.pem"));
	c = load_ok(file);
	cr_expect_eq(c->workers, 7);
	cr_expect_str_eq(c->user, "postern");
	cr_expect_str_eq(c->pid_file, "/run/postern.pid");
	cr_expect_eq(c->log_level, LOGLEVEL_DEBUG);
	cr_expect(c->syslog);
	cr_expect_eq(c->shutdown_timeout_ms, 120000);
	cr_expect_eq(c->tls.certificate_line, 9);
	cr_expect_eq(c->tls.private_key_line, 10);
	cr_expect_eq(c->tls.min_version, TLS1_3_VERSION);
	cr_expect_str_eq(c->tls.ciphers, "HIGH:!aNULL");
	cr_expect_str_eq(c->tls.ciphersuites, "TLS_AES_256_GCM_SHA384");

	p = &c->proto[PROTO_POP3];
	cr_expect(p->enabled);
	expect_bindings(p, "127.0.0.1:1110/plain/16 [::1]:1995/ssl/17");
	cr_expect_str_eq(p->banner, "Hello there");
	cr_expect_eq(p->login_type, LOGIN_PLAINTEXT_AUTHENTICATION);
	cr_expect_eq(p->login_type_mode, LOGIN_MODE_AUDIT);
	cr_expect_str_eq(p->backend_host, "2001:db8::1");
	cr_expect_str_eq(p->backend_port, "995");
	cr_expect_eq(p->backend_tls, BACKEND_TLS_IMPLICIT);
	cr_expect_str_eq(p->backend_ca_file, tpath("cert.pem"));
	cr_expect_str_eq(p->backend_server_name, "pop.example.org");
	cr_expect_not(p->backend_verify);
	cr_expect_eq(p->backend_timeout_ms, 10000);
	cr_expect_eq(p->max_connections, 1000);
	cr_expect_eq(p->max_connection_from_single_ip, 0);
	cr_expect_eq(p->max_connections_per_user, 0);
	cr_expect_eq(p->pre_auth_timeout_ms, 30000);
	cr_expect_eq(p->auth_timeout_ms, 86400000);
	cr_expect_eq(p->max_command_size, 1024);
	cr_expect_eq(p->max_bad_commands, 1000);
	cr_expect_eq(p->max_login_attempts, 100);
	cr_expect_eq(p->pre_auth_total_ms, 90000);
	cr_expect_eq(p->ipv6_prefix_length, 48);

	i = &c->proto[PROTO_IMAP];
	cr_expect_not(i->enabled);
	cr_expect_str_eq(i->backend_host, "192.0.2.7");
	cr_expect_str_eq(i->backend_port, "1993");
	cr_expect_str_eq(i->backend_server_name, "192.0.2.7");
	cr_expect_eq(i->login_type, LOGIN_PLAINTEXT_LOGIN);
	cr_expect_eq(i->backend_tls, BACKEND_TLS_STARTTLS);
	cr_expect_eq(i->max_command_size, 16384);
	conf_unref(c);
	free(file);
}

Test(conf, missing_file)
{
	char *errs, *want;
	size_t len;
	FILE *err = open_memstream(&errs, &len);
	const char *path = tpath("absent.ini");

	cr_assert_null(conf_load(path, err));
	fclose(err);
	want = strfmt("%s: cannot open: %s\n", path, strerror(ENOENT));
	cr_expect_str_eq(errs, want);
	free(errs);
	free(want);
}

Test(conf, unreadable_file)
{
	char *errs;
	size_t len;
	FILE *err = open_memstream(&errs, &len);

	/* A directory opens but cannot be read. */
	cr_assert_null(conf_load(tmpdir, err));
	fclose(err);
	cr_expect(strstr(errs, ": read error: ") != NULL, "got %s", errs);
	free(errs);
}

Test(conf, no_protocol_enabled)
{
	static const char *const msg =
	    ": no protocol is enabled (a [pop3] or [imap] section enables its "
	    "protocol unless it says enabled = no)\n";

	expect_errors("", msg);
	expect_errors("; only a comment\n[postern]\nworkers = 2\n", msg);
	expect_errors("[pop3]\nenabled = no\n[imap]\nenabled = 0\n", msg);
}

Test(conf, unknown_sections)
{
	expect_errors(NOTLS "[pop]\nbanner = x\n[global]\nfoo = 1\n"
			    "[POP3]\n[ imap ]\n",
	    ":5: unknown section [pop]; did you mean [pop3]?\n"
	    ":7: unknown section [global] (expected [postern], [tls], "
	    "[tls \"<name>\"], [pop3], [imap], [backend \"<name>\"], "
	    "[routing], [route_values], [groups], [rule "
	    "\"<name>\"], [throttle] or [stats])\n"
	    ":9: unknown section [POP3]; did you mean [pop3]?\n"
	    ":10: unknown section [ imap ]; did you mean [imap]?\n");
}

Test(conf, unknown_keys)
{
	expect_errors(NOTLS "baner = x\n"
			    "workers = 2\n"
			    "LoginTypeMode = audit\n"
			    "frobnicate = 1\n"
			    "max_connection = 3\n"
			    "[tls]\n"
			    "backend = x\n"
			    "cert = x\n",
	    ":5: unknown key 'baner' in [pop3]; did you mean 'banner'?\n"
	    ":6: unknown key 'workers' in [pop3] (it belongs in [postern])\n"
	    ":7: unknown key 'LoginTypeMode' in [pop3]; did you mean "
	    "'login_type_mode'?\n"
	    ":8: unknown key 'frobnicate' in [pop3]\n"
	    ":9: unknown key 'max_connection' in [pop3]; did you mean "
	    "'max_connections'?\n"
	    ":11: unknown key 'backend' in [tls] (it belongs in [pop3] and "
	    "[imap])\n"
	    ":12: unknown key 'cert' in [tls]\n");
}

Test(conf, key_outside_section)
{
	expect_errors("workers = 2\n" NOTLS,
	    ":1: key 'workers' is outside any section ([postern], [tls], "
	    "[tls \"<name>\"], [pop3], [imap], [backend \"<name>\"], "
	    "[routing], [route_values], [groups], [rule "
	    "\"<name>\"], [throttle] or [stats])\n");
}

Test(conf, syntax_errors)
{
	expect_errors(NOTLS "[imap\n"
			    "just some words\n"
			    "[tls] trailing\n"
			    "= value\n"
			    "[postern] ; a comment is fine\n",
	    ":5: section header without closing ']'\n"
	    ":6: expected 'key = value', a [section] or a comment\n"
	    ":7: unexpected text after section header: 'trailing'\n"
	    ":8: missing key name before '='\n");
}

Test(conf, duplicate_key_and_section)
{
	expect_errors(NOTLS "banner = one\n"
			    "banner = two\n"
			    "[postern]\n"
			    "workers = 1\n"
			    "[pop3]\n"
			    "login_type = SecureLogin\n",
	    ":6: duplicate key 'banner' (first set at line 5)\n"
	    ":9: duplicate section [pop3] (first at line 1)\n"
	    ":10: duplicate key 'login_type' (first set at line 3)\n");
}

static char *
line_of(size_t len, const char *prefix, const char *eol)
{
	size_t plen = strlen(prefix), elen = strlen(eol);
	char *s = malloc(len + elen + 1);

	cr_assert_not_null(s);
	memcpy(s, prefix, plen);
	memset(s + plen, 'x', len - plen);
	memcpy(s + len, eol, elen + 1);
	return s;
}

Test(conf, long_lines)
{
	char *ok, *crlf, *cmt, *bad, *file;
	struct conf *c;

	/* 199 characters pass, with either line ending. */
	ok = line_of(199, "banner = ", "\n");
	crlf = line_of(199, "banner = ", "\r\n");
	file = strfmt(NOTLS "%s[imap]\r\nbackend = b\r\nlogin_type = "
			    "PlainTextLogin\r\nssl_bindings=\r\n%s",
	    ok, crlf);
	c = load_ok(file);
	cr_expect_eq(strlen(c->proto[PROTO_POP3].banner), 190);
	cr_expect_eq(strlen(c->proto[PROTO_IMAP].banner), 190);
	conf_unref(c);
	free(file);

	/* A long comment is harmless: inih never sees it. */
	cmt = line_of(400, "; ", "\n");
	file = strfmt(NOTLS "%sbanner = after\n", cmt);
	c = load_ok(file);
	cr_expect_str_eq(c->proto[PROTO_POP3].banner, "after");
	conf_unref(c);
	free(file);

	/* 200 are refused, and parsing goes on after them. */
	bad = line_of(200, "banner = ", "\n");
	file = strfmt(NOTLS "%sbanner = after\nworkers = 1\n", bad);
	expect_errors(file,
	    ":5: line too long (at most 199 characters); split a list over "
	    "repeated keys or continuation lines\n"
	    ":7: unknown key 'workers' in [pop3] (it belongs in [postern])\n");
	free(file);
	free(ok);
	free(crlf);
	free(cmt);
	free(bad);
}

Test(conf, nul_byte)
{
	static const char file[] = NOTLS "banner = a\0b\n";

	expect_errors_len(file, sizeof(file) - 1, ":5: NUL byte in line\n");
}

Test(conf, bom_and_crlf)
{
	struct conf *c = load_ok("\xEF\xBB\xBF[pop3]\r\nbackend = h\r\n"
				 "login_type = PlainTextLogin\r\n"
				 "ssl_bindings =\r\nbanner = B\r\n");

	cr_expect_str_eq(c->proto[PROTO_POP3].banner, "B");
	conf_unref(c);
}

Test(conf, list_continuation_and_repeats)
{
	struct conf *c;
	char *file;

	make_cert();
	file = strfmt("[pop3]\n"
		      "backend = h\n"
		      "login_type = PlainTextLogin\n"
		      "unencrypted_or_tls_bindings = 127.0.0.1:110,\n"
		      "    127.0.0.2:110 , [::1]:110\n"
		      "; a comment does not end the list\n"
		      "\n"
		      "\t127.0.0.3:110,\n"
		      "ssl_bindings = 127.0.0.1:995\n"
		      "unencrypted_or_tls_bindings = 127.0.0.4:110\n"
		      "ssl_bindings =\n"
		      "ssl_bindings = 127.0.0.2:995,,\n"
		      "[tls]\ncertificate = %s\nprivate_key = %s\n",
	    tpath("cert.pem"), tpath("key.pem"));
	c = load_ok(file);
	free(file);
	expect_bindings(&c->proto[PROTO_POP3],
	    "127.0.0.1:110/plain/4 127.0.0.2:110/plain/5 [::1]:110/plain/5 "
	    "127.0.0.3:110/plain/8 127.0.0.4:110/plain/10 "
	    "127.0.0.1:995/ssl/9 127.0.0.2:995/ssl/12");
	conf_unref(c);
}

Test(conf, empty_list_means_none)
{
	struct conf *c;
	char *file;

	make_cert();
	file = strfmt("[imap]\nbackend = h\nunencrypted_or_tls_bindings =\n"
		      "ssl_bindings = 127.0.0.1:993\n[tls]\ncertificate = %s\n"
		      "private_key = %s\n",
	    tpath("cert.pem"), tpath("key.pem"));
	c = load_ok(file);
	free(file);
	expect_bindings(&c->proto[PROTO_IMAP], "127.0.0.1:993/ssl/4");
	conf_unref(c);
	/* ...but then TLS is needed, and the error names the line. */
	expect_errors("[imap]\nbackend = h\nunencrypted_or_tls_bindings =\n"
		      "ssl_bindings = 127.0.0.1:993\n",
	    ":4: [tls] certificate and private_key are required: [imap] "
	    "listens for implicit TLS (ssl_bindings)\n");
	expect_errors("[imap]\nbackend = h\nssl_bindings =\n"
		      "unencrypted_or_tls_bindings =\n"
		      "login_type = PlainTextLogin\n",
	    ":4: [imap] has no bindings: set unencrypted_or_tls_bindings or "
	    "ssl_bindings, or enabled = no\n");
}

Test(conf, continuation_of_scalar_key)
{
	expect_errors(NOTLS "banner = one\n  two\n"
			    "frob = 1\n  ignored, as frob is reported\n",
	    ":6: [pop3] banner takes one value: is this line indented by "
	    "mistake?\n"
	    ":7: unknown key 'frob' in [pop3]\n");
}

Test(conf, wildcard_binding)
{
	expect_errors(NOTLS "unencrypted_or_tls_bindings = *:110\n",
	    ":5: [pop3] unencrypted_or_tls_bindings: '*:110': wildcard address "
	    "not accepted; use 0.0.0.0:110 and [::]:110\n");
}

Test(conf, binding_item_errors)
{
	expect_errors("[pop3]\nbackend = h\nlogin_type = PlainTextLogin\n"
		      "ssl_bindings = 0.0.0.0, ::1:995, [::1:995\n"
		      "  [::1], 300.0.0.1:1, localhost:110\n"
		      "  1.2.3.4:0, 1.2.3.4:65536, [::1]:x, [1.2.3.4]:5\n"
		      "  []:1, :1, *\n",
	    ":4: [pop3] ssl_bindings: '0.0.0.0': missing port (write "
	    "address:port)\n"
	    ":4: [pop3] ssl_bindings: '::1:995': an IPv6 address needs "
	    "brackets, as in [::1]:995\n"
	    ":4: [pop3] ssl_bindings: '[::1:995': missing ']'\n"
	    ":5: [pop3] ssl_bindings: '[::1]': missing port (write "
	    "[address]:port)\n"
	    ":5: [pop3] ssl_bindings: '300.0.0.1:1': not a numeric IPv4 "
	    "address\n"
	    ":5: [pop3] ssl_bindings: 'localhost:110': not a numeric IPv4 "
	    "address\n"
	    ":6: [pop3] ssl_bindings: '1.2.3.4:0': port must be 1-65535\n"
	    ":6: [pop3] ssl_bindings: '1.2.3.4:65536': port must be 1-65535\n"
	    ":6: [pop3] ssl_bindings: '[::1]:x': port must be 1-65535\n"
	    ":6: [pop3] ssl_bindings: '[1.2.3.4]:5': not a numeric IPv6 "
	    "address\n"
	    ":7: [pop3] ssl_bindings: '[]:1': not a numeric IPv6 address\n"
	    ":7: [pop3] ssl_bindings: ':1': not a numeric IPv4 address\n"
	    ":7: [pop3] ssl_bindings: '*': wildcard address not accepted; use "
	    "0.0.0.0:port and [::]:port\n");
}

Test(conf, duplicate_bindings)
{
	struct conf *c;

	/* Within one key, across keys, across protocols, against a default. */
	expect_errors("[pop3]\nbackend = h\nlogin_type = PlainTextLogin\n"
		      "unencrypted_or_tls_bindings = 127.0.0.1:110,\n"
		      "  127.0.0.1:110\n"
		      "ssl_bindings = 127.0.0.1:110, 0.0.0.0:143\n"
		      "[imap]\nbackend = h\nlogin_type = PlainTextLogin\n"
		      "ssl_bindings = [::1]:2000\n"
		      "ssl_bindings = [::1]:2000\n",
	    ":5: [pop3] unencrypted_or_tls_bindings: duplicate binding "
	    "127.0.0.1:110 (first at line 4, [pop3] "
	    "unencrypted_or_tls_bindings)\n"
	    ":6: [pop3] ssl_bindings: duplicate binding 127.0.0.1:110 (first "
	    "at line 4, [pop3] unencrypted_or_tls_bindings)\n"
	    ":6: [pop3] ssl_bindings: duplicate binding 127.0.0.1:110 (first "
	    "at line 5, [pop3] unencrypted_or_tls_bindings)\n"
	    ":6: [pop3] ssl_bindings: duplicate binding 0.0.0.0:143 (also the "
	    "default of [imap] unencrypted_or_tls_bindings)\n"
	    ":6: [tls] certificate and private_key are required: [pop3] "
	    "listens for implicit TLS (ssl_bindings)\n"
	    ":11: [imap] ssl_bindings: duplicate binding [::1]:2000 (first at "
	    "line 10, [imap] ssl_bindings)\n");

	/* [::]:110 and 0.0.0.0:110 differ; a disabled protocol binds
	 * nothing, so it cannot collide. */
	c = load_ok(NOTLS "unencrypted_or_tls_bindings = [::]:110, "
			  "0.0.0.0:110\n[imap]\nenabled = no\n"
			  "unencrypted_or_tls_bindings = 0.0.0.0:110\n");
	conf_unref(c);
}

Test(conf, value_errors_postern)
{
	expect_errors(NOTLS "[postern]\n"
			    "workers = 0\n"
			    "user = nobody\n"
			    "pid_file = run/postern.pid\n"
			    "log_level = verbose\n"
			    "syslog = maybe\n"
			    "shutdown_timeout = 2h\n",
	    ":6: [postern] workers: 0 is out of range (1-256)\n"
	    ":8: [postern] pid_file: 'run/postern.pid' is not an absolute "
	    "path\n"
	    ":9: [postern] log_level: 'verbose' is not one of error, warning, "
	    "notice, info, debug\n"
	    ":10: [postern] syslog: 'maybe' is not yes or no\n"
	    ":11: [postern] shutdown_timeout: 2h is out of range (0s-1h)\n");
	expect_errors(NOTLS "[postern]\nworkers = 257\n",
	    ":6: [postern] workers: 257 is out of range (1-256)\n");
	expect_errors(NOTLS "[postern]\nworkers = many\n",
	    ":6: [postern] workers: 'many' is not a number or 'auto'\n");
	expect_errors(NOTLS "[postern]\nshutdown_timeout = soon\n",
	    ":6: [postern] shutdown_timeout: 'soon' is not a duration (as 30s, "
	    "500ms, 5m, 2h, 1d or hh:mm:ss)\n");
}

Test(conf, value_errors_proto)
{
	expect_errors(NOTLS "enabled = perhaps\n"
			    "banner = tab\there\n"
			    "login_type_mode = enforce\n"
			    "login_type_mode = warn\n"
			    "backend_tls = ssl\n"
			    "backend_ca_file = /nonexistent/ca.pem\n"
			    "backend_server_name = bad name\n"
			    "backend_verify = 2\n"
			    "backend_timeout = 0s\n"
			    "max_connections = 1000001\n"
			    "max_connection_from_single_ip = -1\n"
			    "max_connections_per_user = lots\n"
			    "pre_authenticated_connection_timeout = 2h\n"
			    "authenticated_connection_timeout = 500ms\n"
			    "max_command_size = 39\n"
			    "max_bad_commands = 0\n"
			    "max_login_attempts = 101\n",
	    ":5: [pop3] enabled: 'perhaps' is not yes or no\n"
	    ":6: [pop3] banner: must be printable ASCII (no control or "
	    "non-ASCII characters)\n"
	    ":8: duplicate key 'login_type_mode' (first set at line 7)\n"
	    ":9: [pop3] backend_tls: 'ssl' is not one of none, starttls, "
	    "implicit\n"
	    ":10: [pop3] backend_ca_file: cannot open '/nonexistent/ca.pem': "
	    "No such file or directory\n"
	    ":11: [pop3] backend_server_name: 'bad name' is not a host name or "
	    "address\n"
	    ":12: [pop3] backend_verify: '2' is not yes or no\n"
	    ":13: [pop3] backend_timeout: 0s is out of range (1s-1h)\n"
	    ":14: [pop3] max_connections: 1000001 is out of range "
	    "(0-1000000)\n"
	    ":15: [pop3] max_connection_from_single_ip: '-1' is not a number "
	    "(0 or 'unlimited': no limit)\n"
	    ":16: [pop3] max_connections_per_user: 'lots' is not a number (0 "
	    "or 'unlimited': no limit)\n"
	    ":17: [pop3] pre_authenticated_connection_timeout: 2h is out of "
	    "range (1s-1h)\n"
	    ":18: [pop3] authenticated_connection_timeout: 500ms is out of range "
	    "(1s-24h)\n"
	    ":19: [pop3] max_command_size: 39 is out of range (40-1024)\n"
	    ":20: [pop3] max_bad_commands: 0 is out of range (1-1000)\n"
	    ":21: [pop3] max_login_attempts: 101 is out of range (1-100)\n");
}

Test(conf, value_errors_ranges)
{
	expect_errors(NOTLS "max_command_size = 1025\n"
			    "pre_authenticated_connection_timeout = 0\n"
			    "authenticated_connection_timeout = 1.00:00:01\n"
			    "max_bad_commands = 1001\n"
			    "max_login_attempts = 0\n"
			    "[imap]\nbackend = h\nlogin_type = PlainTextLogin\n"
			    "ssl_bindings =\n"
			    "max_command_size = 1023\n"
			    "[imap]\n",
	    ":5: [pop3] max_command_size: 1025 is out of range (40-1024)\n"
	    ":6: [pop3] pre_authenticated_connection_timeout: 0 is out of "
	    "range (1s-1h)\n"
	    ":7: [pop3] authenticated_connection_timeout: 1.00:00:01 is out of "
	    "range (1s-24h)\n"
	    ":8: [pop3] max_bad_commands: 1001 is out of range (1-1000)\n"
	    ":9: [pop3] max_login_attempts: 0 is out of range (1-100)\n"
	    ":14: [imap] max_command_size: 1023 is out of range "
	    "(1024-16384)\n"
	    ":15: duplicate section [imap] (first at line 10)\n");
	expect_errors(NOTLS "max_command_size = 512b\n"
			    "[imap]\nbackend = h\nlogin_type = PlainTextLogin\n"
			    "ssl_bindings =\nmax_command_size = 17k\n",
	    ":5: [pop3] max_command_size: '512b' is not a size (bytes, or with "
	    "k/M/G)\n"
	    ":10: [imap] max_command_size: 17k is out of range "
	    "(1024-16384)\n");
}

Test(conf, passthrough_mechanisms)
{
	struct conf *c = load_ok(NOTLS "passthrough_mechanisms = ntlm,GSSAPI\n"
				       "passthrough_mechanisms = XOAUTH2\n");

	cr_expect_eq(c->proto[PROTO_POP3].passthru_mechs,
	    (1u << SASLMECH_NTLM) | (1u << SASLMECH_GSSAPI) |
		(1u << SASLMECH_XOAUTH2));
	conf_unref(c);
	/* An unknown name is answered with every name saslmech.c knows;
	 * postern's own are not relayed, in whatever case. */
	expect_errors(NOTLS "passthrough_mechanisms = XOAUTH2 CRAM-MD5\n"
			    "passthrough_mechanisms = plain, LOGIN\n",
	    ":5: [pop3] passthrough_mechanisms: unknown mechanism 'CRAM-MD5' "
	    "(known: XOAUTH2, OAUTHBEARER, NTLM, GSSAPI; PLAIN and LOGIN are "
	    "postern's own)\n"
	    ":6: [pop3] passthrough_mechanisms: plain is postern's own "
	    "mechanism and is never relayed\n"
	    ":6: [pop3] passthrough_mechanisms: LOGIN is postern's own "
	    "mechanism and is never relayed\n");
}

Test(conf, pre_login_time_and_ipv6_prefix_errors)
{
	expect_errors(NOTLS "pre_authenticated_total_timeout = 0\n"
			    "ipv6_prefix_length = 0\n"
			    "[imap]\nbackend = h\nlogin_type = PlainTextLogin\n"
			    "ssl_bindings =\n"
			    "pre_authenticated_total_timeout = 01:00:01\n"
			    "ipv6_prefix_length = 129\n",
	    ":5: [pop3] pre_authenticated_total_timeout: 0 is out of range "
	    "(1s-1h)\n"
	    ":6: [pop3] ipv6_prefix_length: 0 is out of range (1-128)\n"
	    ":11: [imap] pre_authenticated_total_timeout: 01:00:01 is out of "
	    "range (1s-1h)\n"
	    ":12: [imap] ipv6_prefix_length: 129 is out of range (1-128)\n");
	expect_errors(NOTLS "pre_authenticated_total_timeout = forever\n"
			    "ipv6_prefix_length = /64\n",
	    ":5: [pop3] pre_authenticated_total_timeout: 'forever' is not a "
	    "duration (as 30s, 500ms, 5m, 2h, 1d or hh:mm:ss)\n"
	    ":6: [pop3] ipv6_prefix_length: '/64' is not a number\n");
}

Test(conf, enum_errors)
{
	expect_errors(NOTLS "[imap]\nenabled = no\nlogin_type = Kerberos\n"
			    "login_type_mode = warn\n",
	    ":7: [imap] login_type: 'Kerberos' is not one of PlainTextLogin, "
	    "PlainTextAuthentication, SecureLogin\n"
	    ":8: [imap] login_type_mode: 'warn' is not one of enforce, "
	    "audit\n");
}

Test(conf, banner_rules)
{
	expect_errors(NOTLS "banner =\n",
	    ":5: [pop3] banner: must not be empty\n");
	expect_errors(NOTLS "banner = caf\xc3\xa9\n",
	    ":5: [pop3] banner: must be printable ASCII (no control or "
	    "non-ASCII characters)\n");
}

Test(conf, backend_forms)
{
	static const struct {
		const char *value, *host, *port;
	} ok[] = {{"mail.example.org", "mail.example.org", "1995"},
	    {"mail.example.org:110", "mail.example.org", "110"},
	    {"192.0.2.1", "192.0.2.1", "1995"},
	    {"192.0.2.1:0110", "192.0.2.1", "110"},
	    {"[2001:db8::2]", "2001:db8::2", "1995"},
	    {"[::1]:1110", "::1", "1110"}, {"exch-01_b", "exch-01_b", "1995"}};
	struct conf *c;
	char *file;
	size_t i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		file = strfmt("[pop3]\nbackend = %s\nlogin_type = "
			      "PlainTextLogin\nssl_bindings =\n",
		    ok[i].value);
		c = load_ok(file);
		cr_expect_str_eq(c->proto[PROTO_POP3].backend_host, ok[i].host);
		cr_expect_str_eq(c->proto[PROTO_POP3].backend_port, ok[i].port);
		conf_unref(c);
		free(file);
	}
	expect_errors("[pop3]\nlogin_type = PlainTextLogin\nssl_bindings =\n"
		      "backend = ::1\n"
		      "[imap]\nlogin_type = PlainTextLogin\nssl_bindings =\n"
		      "backend = [::1\n"
		      "[postern]\n[imap]\n",
	    ":4: [pop3] backend: '::1': an IPv6 address needs brackets, as in "
	    "[::1] or [::1]:1995\n"
	    ":8: [imap] backend: '[::1': missing ']'\n"
	    ":10: duplicate section [imap] (first at line 5)\n");
	expect_errors(NOTLS "[imap]\nlogin_type = PlainTextLogin\n"
			    "ssl_bindings =\nbackend = [::1]x\n",
	    ":8: [imap] backend: '[::1]x': expected ':port' after ']'\n");
	expect_errors(NOTLS "[imap]\nlogin_type = PlainTextLogin\n"
			    "ssl_bindings =\nbackend = [mail]:143\n",
	    ":8: [imap] backend: 'mail' is not an IPv6 address\n");
	expect_errors(NOTLS "[imap]\nlogin_type = PlainTextLogin\n"
			    "ssl_bindings =\nbackend = h:99999\n",
	    ":8: [imap] backend: 'h:99999': port must be 1-65535\n");
	expect_errors(NOTLS "[imap]\nlogin_type = PlainTextLogin\n"
			    "ssl_bindings =\nbackend = mail/x:143\n",
	    ":8: [imap] backend: 'mail/x' is not a host name or address\n");
	expect_errors(NOTLS "[imap]\nlogin_type = PlainTextLogin\n"
			    "ssl_bindings =\nbackend = :143\n",
	    ":8: [imap] backend: '' is not a host name or address\n");
}

Test(conf, backend_required)
{
	expect_errors("[imap]\nlogin_type = PlainTextLogin\nssl_bindings =\n",
	    ":1: [imap] backend is required (host, host:port or "
	    "[address]:port of the server to proxy to), or set enabled = no\n");
	/* A backend that failed to parse is not also reported missing. */
	expect_errors("[imap]\nlogin_type = PlainTextLogin\nssl_bindings =\n"
		      "backend = a b\n",
	    ":4: [imap] backend: 'a b': one server only, as host, host:port "
	    "or [IPv6]:port\n");
}

/*
 * Lists where the key takes one server, and bindings separated by blanks,
 * are told what the key takes, not that an address lacks brackets.
 */
Test(conf, list_mistakes_say_what_the_key_takes)
{
	expect_errors("[imap]\nlogin_type = PlainTextLogin\nssl_bindings =\n"
		      "backend = 10.0.0.1:1993, 10.0.0.2:1993\n"
		      "[pop3]\nlogin_type = PlainTextLogin\nssl_bindings =\n"
		      "backend = mail1.example.org mail2.example.org\n"
		      "unencrypted_or_tls_bindings = 0.0.0.0:110 [::]:110\n"
		      "unencrypted_or_tls_bindings = 127.0.0.1:110,\n"
		      "  10.0.0.1:110\t10.0.0.2:110\n",
	    ":4: [imap] backend: '10.0.0.1:1993, 10.0.0.2:1993': one server "
	    "only, as host, host:port or [IPv6]:port\n"
	    ":8: [pop3] backend: 'mail1.example.org mail2.example.org': one "
	    "server only, as host, host:port or [IPv6]:port\n"
	    ":9: [pop3] unencrypted_or_tls_bindings: '0.0.0.0:110 [::]:110': "
	    "one address:port or [IPv6]:port per item; separate bindings with "
	    "commas, as in [::]:110, 0.0.0.0:110\n"
	    ":11: [pop3] unencrypted_or_tls_bindings: '10.0.0.1:110\t"
	    "10.0.0.2:110': one address:port or [IPv6]:port per item; "
	    "separate bindings with commas, as in [::]:110, 0.0.0.0:110\n");
	/* Colons that are no IPv6 address get no bracket hint. */
	expect_errors(NOTLS "unencrypted_or_tls_bindings = 2001:db8::1, "
			    "mail:x:110, fe80::1:110\n"
			    "[imap]\nlogin_type = PlainTextLogin\n"
			    "ssl_bindings =\nbackend = h:1:2\n"
			    "[imap]\n",
	    ":5: [pop3] unencrypted_or_tls_bindings: '2001:db8::1': an IPv6 "
	    "address needs brackets and a port, as in [2001:db8::1]:110\n"
	    ":5: [pop3] unencrypted_or_tls_bindings: 'mail:x:110' is not "
	    "address:port or [IPv6]:port (numeric, as in 0.0.0.0:110 or "
	    "[::]:110)\n"
	    ":5: [pop3] unencrypted_or_tls_bindings: 'fe80::1:110': an IPv6 "
	    "address needs brackets, as in [fe80::1]:110\n"
	    ":9: [imap] backend: 'h:1:2' is not host, host:port or "
	    "[IPv6]:port\n"
	    ":10: duplicate section [imap] (first at line 6)\n");
}

Test(conf, tls_required)
{
	/* Default ssl_bindings: the section header is the line to fix. */
	expect_errors("[postern]\n[pop3]\nbackend = h\n",
	    ":2: [tls] certificate and private_key are required: [pop3] "
	    "listens for implicit TLS (ssl_bindings)\n");
	/* No implicit TLS, but the login type needs STARTTLS. */
	expect_errors("[pop3]\nbackend = h\nssl_bindings =\n",
	    ":1: [tls] certificate and private_key are required: [pop3] "
	    "login_type SecureLogin needs STARTTLS\n");
	expect_errors("[pop3]\nbackend = h\nssl_bindings =\n"
		      "login_type = PlainTextAuthentication\n",
	    ":4: [tls] certificate and private_key are required: [pop3] "
	    "login_type PlainTextAuthentication needs STARTTLS\n");
	/* A disabled protocol needs nothing. */
	conf_unref(load_ok(NOTLS "[imap]\nenabled = no\n"));
}

Test(conf, tls_files)
{
	EVP_PKEY *a = make_key(), *b = make_key();
	char *file;
	struct conf *c;

	make_pair(tpath("a.crt"), a, tpath("b.key"), b);
	make_pair(tpath("b.crt"), b, tpath("a.key"), a);
	tmpdir_write("junk.pem", "not a PEM file\n", 15);

	file = strfmt(NOTLS "[tls]\ncertificate = %s\nprivate_key = %s\n",
	    tpath("a.crt"), tpath("a.key"));
	c = load_ok(file);
	conf_unref(c);
	free(file);

	file = strfmt(NOTLS "[tls]\ncertificate = %s\nprivate_key = %s\n",
	    tpath("a.crt"), tpath("b.key"));
	{
		char *want = strfmt(":7: [tls] private_key: '%s' does not "
				    "match certificate '%s' (line 6)\n",
		    tpath("b.key"), tpath("a.crt"));

		expect_errors(file, want);
		free(want);
	}
	free(file);

	file = strfmt(NOTLS "[tls]\ncertificate = %s\nprivate_key = %s\n",
	    tpath("none.crt"), tpath("junk.pem"));
	{
		char *want = strfmt(
		    ":6: [tls] certificate: cannot open '%s': No such file or "
		    "directory\n"
		    ":7: [tls] private_key: '%s' holds no PEM private key\n",
		    tpath("none.crt"), tpath("junk.pem"));

		expect_errors(file, want);
		free(want);
	}
	free(file);

	file = strfmt(NOTLS "[tls]\ncertificate = %s\nprivate_key = %s\n",
	    tpath("junk.pem"), tpath("none.key"));
	{
		char *want = strfmt(
		    ":6: [tls] certificate: '%s' is not a PEM certificate "
		    "chain "
		    "(no start line)\n"
		    ":7: [tls] private_key: cannot open '%s': No such file or "
		    "directory\n",
		    tpath("junk.pem"), tpath("none.key"));

		expect_errors(file, want);
		free(want);
	}
	free(file);

	/* A key encrypted with a pass phrase fails instead of prompting. */
	{
		FILE *fp = fopen(tpath("enc.key"), "w");

		cr_assert_not_null(fp);
		cr_assert(PEM_write_PrivateKey(fp, a, EVP_aes_128_cbc(),
		    (const unsigned char *)"secret", 6, NULL, NULL));
		fclose(fp);
	}
	file = strfmt(NOTLS "[tls]\ncertificate = %s\nprivate_key = %s\n",
	    tpath("a.crt"), tpath("enc.key"));
	{
		char *want = strfmt(":7: [tls] private_key: '%s' is encrypted; "
				    "postern needs it without a pass phrase\n",
		    tpath("enc.key"));

		expect_errors(file, want);
		free(want);
	}
	free(file);

	expect_errors(NOTLS "[tls]\ncertificate = /x.crt\n",
	    ":6: [tls] certificate is set but private_key is not\n"
	    ":6: [tls] certificate: cannot open '/x.crt': No such file or "
	    "directory\n");
	expect_errors(NOTLS "[tls]\nprivate_key = /x.key\n",
	    ":6: [tls] private_key is set but certificate is not\n"
	    ":6: [tls] private_key: cannot open '/x.key': No such file or "
	    "directory\n");
	EVP_PKEY_free(a);
	EVP_PKEY_free(b);
}

/* [tls] with cert.pem and key.pem after NOTLS (lines 5-7). */
#define DEFTLS(fmt) NOTLS "[tls]\ncertificate = %s\nprivate_key = %s\n" fmt

Test(conf, tls_names)
{
	struct conf *c;
	char *file, *dump, *crt, *key;
	size_t len;
	FILE *fp;

	make_cert();
	/* tpath() has four buffers: the paths are needed more often. */
	crt = strdup(tpath("cert.pem"));
	key = strdup(tpath("key.pem"));
	cr_assert(crt != NULL && key != NULL);
	file = strfmt(DEFTLS("[tls \"Mail.Example.ORG.\"]\n"
			     "certificate = %s\nprivate_key = %s\n"
			     "[tls \"*.example.org\"]\n"
			     "private_key = %s\ncertificate = %s\n"),
	    crt, key, crt, key, key, crt);
	c = load_ok(file);
	cr_assert_eq(c->tls.nnames, 2);
	cr_expect_str_eq(c->tls.names[0].name, "mail.example.org");
	cr_expect_eq(c->tls.names[0].line, 8);
	cr_expect_str_eq(c->tls.names[0].certificate, crt);
	cr_expect_str_eq(c->tls.names[1].name, "*.example.org");
	cr_expect_eq(c->tls.names[1].line, 11);
	cr_expect_str_eq(c->tls.names[1].private_key, key);
	cr_expect_not_null(c->tls.names[0].ctx);
	cr_expect_not_null(c->tls.names[1].ctx);

	/* Exact names win over the wildcard, which is one whole label. */
	cr_expect_eq(tls_name_match(&c->tls, "mail.example.org"), 0);
	cr_expect_eq(tls_name_match(&c->tls, "MAIL.example.Org."), 0);
	cr_expect_eq(tls_name_match(&c->tls, "pop.example.org"), 1);
	cr_expect_eq(tls_name_match(&c->tls, "POP.EXAMPLE.ORG."), 1);
	cr_expect_eq(tls_name_match(&c->tls, "a.pop.example.org"), -1);
	cr_expect_eq(tls_name_match(&c->tls, "example.org"), -1);
	cr_expect_eq(tls_name_match(&c->tls, ".example.org"), -1);
	cr_expect_eq(tls_name_match(&c->tls, "*.example.org"), 1);
	cr_expect_eq(tls_name_match(&c->tls, "mail.example.org.x"), -1);
	cr_expect_eq(tls_name_match(&c->tls, "xmail.example.org"), 1);
	cr_expect_eq(tls_name_match(&c->tls, "example.net"), -1);
	cr_expect_eq(tls_name_match(&c->tls, ""), -1);
	cr_expect_eq(tls_name_match(&c->tls, "."), -1);

	/* postern -T: a block per section. */
	fp = open_memstream(&dump, &len);
	cr_assert_not_null(fp);
	conf_dump(c, fp);
	fclose(fp);
	cr_expect_not_null(strstr(dump, "\n\nServerName  : mail.example.org\n"
					"Certificate : "),
	    "%s", dump);
	cr_expect_not_null(strstr(dump, "\n\nServerName  : *.example.org\n"),
	    "%s", dump);
	free(dump);

	/* postern -t: the test certificate is for postern.test only. */
	fp = open_memstream(&dump, &len);
	cr_assert_not_null(fp);
	cr_expect_eq(tls_conf_warn(c, fp), 2);
	fclose(fp);
	{
		char *want = strfmt("%s:8: warning: [tls \"mail.example.org\"] "
				    "certificate '%s' does not cover "
				    "mail.example.org",
		    tpath("t.ini"), crt);

		cr_expect_not_null(strstr(dump, want), "%s", dump);
		free(want);
	}
	free(dump);
	conf_unref(c);
	free(file);

	file = strfmt(DEFTLS("[tls \"postern.test\"]\n"
			     "certificate = %s\nprivate_key = %s\n"),
	    crt, key, crt, key);
	c = load_ok(file);
	fp = open_memstream(&dump, &len);
	cr_assert_not_null(fp);
	cr_expect_eq(tls_conf_warn(c, fp), 0);
	fclose(fp);
	cr_expect_str_empty(dump);
	free(dump);
	conf_unref(c);
	free(file);
	free(crt);
	free(key);
}

Test(conf, tls_name_errors)
{
	EVP_PKEY *b = make_key();
	char *file, *want, *crt, *key, *bcrt, *bkey, *junk;

	make_cert();
	crt = strdup(tpath("cert.pem"));
	key = strdup(tpath("key.pem"));
	bcrt = strdup(tpath("b.crt"));
	bkey = strdup(tpath("b.key"));
	junk = strdup(tpath("junk.pem"));
	cr_assert(crt && key && bcrt && bkey && junk);
	make_pair(bcrt, b, bkey, b);
	tmpdir_write("junk.pem", "not a PEM file\n", 15);

	/* A broken pair: the file and line of the key that names it. */
	file = strfmt(DEFTLS("[tls \"a.example.org\"]\n"
			     "certificate = %s\nprivate_key = %s\n"),
	    crt, key, junk, bkey);
	want = strfmt(":9: [tls \"a.example.org\"] certificate: '%s' is not "
		      "a PEM certificate chain (no start line)\n",
	    junk);
	expect_errors(file, want);
	free(want);
	free(file);

	file = strfmt(DEFTLS("[tls \"a.example.org\"]\n"
			     "certificate = %s\nprivate_key = %s\n"),
	    crt, key, bcrt, key);
	want = strfmt(":10: [tls \"a.example.org\"] private_key: '%s' does "
		      "not match certificate '%s' (line 9)\n",
	    key, bcrt);
	expect_errors(file, want);
	free(want);
	free(file);

	/* Both keys, and a section of its own kind. */
	file = strfmt(DEFTLS("[tls \"a.example.org\"]\n"
			     "certificate = %s\nmin_version = TLSv1.3\n"),
	    crt, key, crt);
	expect_errors(file,
	    ":8: [tls \"a.example.org\"] has no private_key\n"
	    ":10: unknown key 'min_version' in [tls \"a.example.org\"] (it "
	    "belongs in [tls])\n");
	free(file);

	/* Names: one each, host names only, wildcards one whole label,
	 * labels of 63 characters at most (a name of two such labels is
	 * taken: it lacks only its files).  A whole name of 253 characters
	 * does not fit on one line of the file. */
	{
		char l63[65], longest[140], toolong[80];

		memset(l63, 'a', 64);
		l63[64] = '\0';
		snprintf(toolong, sizeof(toolong), "*.%s.org", l63);
		l63[63] = '\0';
		snprintf(longest, sizeof(longest), "%s.%s.org", l63, l63);
		file = strfmt(DEFTLS("[tls \"a.example.org\"]\n"
				     "certificate = %s\nprivate_key = %s\n"
				     "[tls \"A.example.org.\"]\n"
				     "[tls \"*.org\"]\n"
				     "[tls \"a.*.org\"]\n"
				     "[tls \"f*.example.org\"]\n"
				     "[tls \"192.0.2.1\"]\n"
				     "[tls \"a..org\"]\n"
				     "[tls \"-a.org\"]\n"
				     "[tls \"a_b.org\"]\n"
				     "[tls \"\"]\n"
				     "[tls \"%s\"]\n"
				     "[tls \"%s.\"]\n"
				     "[tls a.org]\n"),
		    crt, key, crt, key, toolong, longest);
		want = strfmt(
		    ":11: duplicate section [tls \"a.example.org\"] (first at "
		    "line 8)\n"
		    ":12: [tls \"*.org\"]: the name covers a whole top-level "
		    "domain\n"
		    ":13: [tls \"a.*.org\"]: the name has a '*' other than a "
		    "whole first label\n"
		    ":14: [tls \"f*.example.org\"]: the name has a '*' other "
		    "than a whole first label\n"
		    ":15: [tls \"192.0.2.1\"]: the name is an address or ends "
		    "in a numeric label: clients send host names only\n"
		    ":16: [tls \"a..org\"]: the name has an empty label or one "
		    "longer than 63 characters\n"
		    ":17: [tls \"-a.org\"]: the name has a label that begins "
		    "or ends with '-'\n"
		    ":18: [tls \"a_b.org\"]: the name is not a host name "
		    "(letters, digits, '-' and '.')\n"
		    ":19: [tls \"\"]: the name is empty\n"
		    ":20: [tls \"%s\"]: the name has an empty label or one "
		    "longer than 63 characters\n"
		    ":21: [tls \"%s\"] has no certificate\n"
		    ":21: [tls \"%s\"] has no private_key\n"
		    ":22: expected [tls \"<host name>\"], the name in double "
		    "quotes\n",
		    toolong, longest, longest);
		expect_errors(file, want);
		free(want);
		free(file);
	}

	/* Clients that send no name need the default pair. */
	file = strfmt(NOTLS "[tls \"a.example.org\"]\n"
			    "certificate = %s\nprivate_key = %s\n",
	    crt, key);
	expect_errors(file,
	    ":5: [tls \"a.example.org\"] needs the default certificate and "
	    "private_key in [tls], for clients that send no name or another "
	    "one\n");
	free(file);
	EVP_PKEY_free(b);
	free(crt);
	free(key);
	free(bcrt);
	free(bkey);
	free(junk);
}

Test(conf, tls_ciphers)
{
	expect_errors(NOTLS "[tls]\nmin_version = SSLv3\nciphers = NOPE\n"
			    "ciphersuites = TLS_NOPE\n",
	    ":6: [tls] min_version: 'SSLv3' is not one of TLSv1, TLSv1.1, "
	    "TLSv1.2, TLSv1.3\n"
	    ":7: [tls] ciphers: OpenSSL accepts no cipher in 'NOPE'\n"
	    ":8: [tls] ciphersuites: 'TLS_NOPE' is not a valid TLS 1.3 "
	    "ciphersuite list\n");
}

Test(conf, min_versions)
{
	static const struct {
		const char *name;
		int v;
	} t[] = {{"TLSv1", TLS1_VERSION}, {"TLSv1.1", TLS1_1_VERSION},
	    {"tlsv1.2", TLS1_2_VERSION}, {"TLSv1.3", TLS1_3_VERSION}};
	struct conf *c;
	char *file;
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		file = strfmt(NOTLS "[tls]\nmin_version = %s\n", t[i].name);
		c = load_ok(file);
		cr_expect_eq(c->tls.min_version, t[i].v, "%s", t[i].name);
		conf_unref(c);
		free(file);
	}
}

Test(conf, collects_every_error)
{
	expect_errors("[pop3]\n"
		      "workers = 2\n"
		      "banner = a\n"
		      "banner = b\n"
		      "login_type = nope\n"
		      "[nothing]\n"
		      "x = y\n"
		      "[imap]\n"
		      "backend = h\n",
	    ":1: [pop3] backend is required (host, host:port or "
	    "[address]:port of the server to proxy to), or set enabled = no\n"
	    ":1: [tls] certificate and private_key are required: [pop3] "
	    "listens for implicit TLS (ssl_bindings)\n"
	    ":2: unknown key 'workers' in [pop3] (it belongs in [postern])\n"
	    ":4: duplicate key 'banner' (first set at line 3)\n"
	    ":5: [pop3] login_type: 'nope' is not one of PlainTextLogin, "
	    "PlainTextAuthentication, SecureLogin\n"
	    ":6: unknown section [nothing] (expected [postern], [tls], "
	    "[tls \"<name>\"], [pop3], [imap], [backend \"<name>\"], "
	    "[routing], [route_values], [groups], [rule "
	    "\"<name>\"], [throttle] or [stats])\n");
}

Test(conf, booleans)
{
	static const struct {
		const char *s;
		bool v;
	} t[] = {{"yes", true}, {"no", false}, {"true", true}, {"false", false},
	    {"on", true}, {"off", false}, {"1", true}, {"0", false},
	    {"YES", true}, {"False", false}};
	struct conf *c;
	char *file;
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		file = strfmt(NOTLS "backend_verify = %s\n[postern]\n"
				    "syslog = %s\n",
		    t[i].s, t[i].s);
		c = load_ok(file);
		cr_expect_eq(c->proto[PROTO_POP3].backend_verify, t[i].v, "%s",
		    t[i].s);
		cr_expect_eq(c->syslog, t[i].v, "%s", t[i].s);
		conf_unref(c);
		free(file);
	}
}

Test(conf, parse_duration)
{
	static const struct {
		const char *s;
		unsigned ms;
	} ok[] = {{"0", 0}, {"30", 30000}, {"30s", 30000}, {"1m", 60000},
	    {"2h", 7200000}, {"1d", 86400000}, {"500ms", 500}, {"0ms", 0},
	    {"00:01:00", 60000}, {"0:00:05", 5000}, {"23:59:59", 86399000},
	    {"1.00:00:00", 86400000}, {"2.03:04:05", 183845000},
	    {"00:00:00.5", 500}, {"00:00:01.2500000", 1250},
	    {"4294967295ms", 4294967295u}, {"49d", 4233600000u},
	    {"4294967s", 4294967000u}};
	static const char *const bad[] = {"", "s", "-1", "+1", " 1", "1 ",
	    "1 s", "1S", "1x", "1h30m", "1.5h", "4294967296ms", "50d",
	    "4294968s", "18446744073709551616", "99999999999999999999d",
	    "24:00:00", "00:60:00", "00:00:60", "00:1:00", "000:01:00", "1:2",
	    "01:02:03:04", "00:00:00.", "00:00:00.0001", "00:00:00.12345678",
	    "1.24:00:00", ".00:00:01", "00:00:01x", "50.00:00:00", "-00:00:01"};
	unsigned ms;
	size_t i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		ms = 12345;
		cr_expect_eq(conf_parse_duration(ok[i].s, &ms), 0, "'%s'",
		    ok[i].s);
		cr_expect_eq(ms, ok[i].ms, "'%s': %u", ok[i].s, ms);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ms = 12345;
		cr_expect_eq(conf_parse_duration(bad[i], &ms), -1, "'%s'",
		    bad[i]);
		cr_expect_eq(ms, 12345, "'%s' changed the output", bad[i]);
	}
	cr_expect_eq(conf_parse_duration(NULL, &ms), -1);
}

Test(conf, parse_size)
{
	static const struct {
		const char *s;
		uint64_t n;
	} ok[] = {{"0", 0}, {"512", 512}, {"64k", 65536}, {"64K", 65536},
	    {"10M", 10485760}, {"10m", 10485760}, {"1G", 1073741824},
	    {"1g", 1073741824}, {"18446744073709551615", UINT64_MAX},
	    {"17179869183G", 17179869183ull << 30}, {"0k", 0}};
	static const char *const bad[] = {"", "k", "-1", "+1", " 1", "1 ",
	    "1kb", "1KB", "1T", "1x", "1.5k", "18446744073709551616",
	    "17179869184G", "17592186044416M", "18014398509481984k", "1 k",
	    "0x10"};
	uint64_t n;
	size_t i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		n = 12345;
		cr_expect_eq(conf_parse_size(ok[i].s, &n), 0, "'%s'", ok[i].s);
		cr_expect_eq(n, ok[i].n, "'%s'", ok[i].s);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		n = 12345;
		cr_expect_eq(conf_parse_size(bad[i], &n), -1, "'%s'", bad[i]);
		cr_expect_eq(n, 12345, "'%s' changed the output", bad[i]);
	}
	cr_expect_eq(conf_parse_size(NULL, &n), -1);
}

static char *
dump(const struct conf *c)
{
	char *buf;
	size_t len;
	FILE *fp = open_memstream(&buf, &len);

	cr_assert_not_null(fp);
	conf_dump(c, fp);
	fclose(fp);
	return buf;
}

Test(conf, dump_known_file)
{
	struct conf *c =
	    load_ok("[postern]\nworkers = 4\nuser = mail\nlog_level = notice\n"
		    "shutdown_timeout = 90s\n"
		    "[pop3]\nbackend = [::1]\nlogin_type = PlainTextLogin\n"
		    "login_type_mode = audit\nssl_bindings =\n"
		    "max_connections = 500\nbackend_timeout = 1500ms\n"
		    "authenticated_connection_timeout = 1d\n"
		    "protocol_log_enabled = yes\n"
		    "log_file_location = /srv/log/pop\n"
		    "log_file_rollover_settings = daily\n"
		    "log_per_file_size_quota = 10M\n"
		    "log_file_age_limit = 90d\n"
		    "log_directory_size_quota = 1G\n"
		    "log_detail = proxy\n"
		    "[imap]\nenabled = no\nbackend = imap.example.org:143\n"
		    "unencrypted_or_tls_bindings = 127.0.0.1:143\n"
		    "backend_tls = starttls\n"
		    "pre_authenticated_connection_timeout = 1h\n"
		    "authenticated_connection_timeout = 12:34:56\n"
		    "pre_authenticated_total_timeout = 45s\n"
		    "ipv6_prefix_length = 56\n");
	char *out = dump(c);

	cr_expect_str_eq(out,
	    "ProtocolName                      : POP3\n"
	    "Enabled                           : True\n"
	    "UnencryptedOrTLSBindings          : [::]:110, 0.0.0.0:110\n"
	    "SSLBindings                       :\n"
	    "Banner                            : POP3 server ready.\n"
	    "LoginType                         : PlainTextLogin\n"
	    "LoginTypeMode                     : audit\n"
	    "LoginTypeExemptIps                :\n"
	    "RequiredGroup                     :\n"
	    "Backend                           : default\n"
	    "ProxyTargetHost                   : [::1]\n"
	    "ProxyTargetPort                   : 1995\n"
	    "BackendTls                        : none\n"
	    "BackendCaFile                     :\n"
	    "BackendServerName                 : ::1\n"
	    "BackendVerify                     : True\n"
	    "ForwardClientAddress              : none\n"
	    "BackendTimeout                    : 00:00:01.5000000\n"
	    "MaxConnections                    : 500\n"
	    "MaxConnectionFromSingleIP         : unlimited\n"
	    "IPv6PrefixLength                  : 64\n"
	    "MaxConnectionsPerUser             : 16\n"
	    "PreAuthenticatedConnectionTimeout : 00:01:00\n"
	    "PreAuthenticatedTotalTimeout      : 00:03:00\n"
	    "AuthenticatedConnectionTimeout    : 1.00:00:00\n"
	    "MaxCommandSize                    : 512\n"
	    "MaxBadCommands                    : 10\n"
	    "MaxLoginAttempts                  : 3\n"
	    "PassthroughMechanisms             :\n"
	    "ProtocolLogEnabled                : True\n"
	    "LogFileLocation                   : /srv/log/pop\n"
	    "LogFileRollOverSettings           : Daily\n"
	    "LogPerFileSizeQuota               : 10M ; 10 MB (10,485,760 "
	    "bytes)\n"
	    "LogFileAgeLimit                   : 90.00:00:00\n"
	    "LogDirectorySizeQuota             : 1G ; 1 GB (1,073,741,824 "
	    "bytes)\n"
	    "LogDetail                         : proxy\n"
	    "\n"
	    "ProtocolName                      : IMAP4\n"
	    "Enabled                           : False\n"
	    "UnencryptedOrTLSBindings          : 127.0.0.1:143\n"
	    "SSLBindings                       : [::]:993, 0.0.0.0:993\n"
	    "Banner                            : IMAP4 server ready.\n"
	    "LoginType                         : SecureLogin\n"
	    "LoginTypeMode                     : enforce\n"
	    "LoginTypeExemptIps                :\n"
	    "RequiredGroup                     :\n"
	    "Backend                           : default\n"
	    "ProxyTargetHost                   : imap.example.org\n"
	    "ProxyTargetPort                   : 143\n"
	    "BackendTls                        : starttls\n"
	    "BackendCaFile                     :\n"
	    "BackendServerName                 : imap.example.org\n"
	    "BackendVerify                     : True\n"
	    "ForwardClientAddress              : none\n"
	    "BackendTimeout                    : 00:00:30\n"
	    "MaxConnections                    : unlimited\n"
	    "MaxConnectionFromSingleIP         : unlimited\n"
	    "IPv6PrefixLength                  : 56\n"
	    "MaxConnectionsPerUser             : 16\n"
	    "PreAuthenticatedConnectionTimeout : 01:00:00\n"
	    "PreAuthenticatedTotalTimeout      : 00:00:45\n"
	    "AuthenticatedConnectionTimeout    : 12:34:56\n"
	    "MaxCommandSize                    : 10240\n"
	    "MaxBadCommands                    : 10\n"
	    "MaxLoginAttempts                  : 3\n"
	    "PassthroughMechanisms             :\n"
	    "ProtocolLogEnabled                : False\n"
	    "LogFileLocation                   : /var/log/postern/Imap4\n"
	    "LogFileRollOverSettings           : Hourly\n"
	    "LogPerFileSizeQuota               : 0 ; 0 B (0 bytes)\n"
	    "LogFileAgeLimit                   : 30.00:00:00\n"
	    "LogDirectorySizeQuota             : Unlimited\n"
	    "LogDetail                         : commands\n"
	    "\n"
	    "BackendName    : default\n"
	    "DefinedBy      : [pop3] backend\n"
	    "Pop3Addresses  : [::1]:1995\n"
	    "Imap4Addresses :\n"
	    "Tls            : none\n"
	    "CaFile         :\n"
	    "Verify         : True\n"
	    "TlsServerName  : ::1\n"
	    "TlsResumption  : True\n"
	    "ConnectTimeout : 00:00:01.5000000\n"
	    "DownTime       : 00:00:10\n"
	    "MaxConnections : unlimited\n"
	    "DefaultForPOP3 : True\n"
	    "\n"
	    "RoutingMapFile    :\n"
	    "RoutingMapEntries : 0\n"
	    "\n"
	    "Workers         : 4\n"
	    "User            : mail\n"
	    "PidFile         :\n"
	    "LogLevel        : notice\n"
	    "Syslog          : False\n"
	    "ShutdownTimeout : 00:01:30\n"
	    "TrustedProxies  :\n"
	    "Certificate     :\n"
	    "PrivateKey      :\n"
	    "MinVersion      : TLSv1.2\n"
	    "Ciphers         :\n"
	    "Ciphersuites    :\n"
	    "\n"
	    "ThrottleEnabled            : True\n"
	    "ThrottleFailureDelay       : 2s\n"
	    "ThrottleMaxFailuresPerIP   : 10\n"
	    "ThrottleMaxFailuresPerUser : 20\n"
	    "ThrottleWindow             : 10m\n"
	    "ThrottleBanTime            : 10m\n"
	    "ThrottleExemptIPs          :\n"
	    "ThrottleMaxEntries         : 100000\n"
	    "\n"
	    "StatsListen     :\n"
	    "StatsAllowedIPs : 127.0.0.0/8, ::1\n"
	    "StatsTokenFile  :\n");
	free(out);
	conf_unref(c);
}

/* Reads the source tree's file rel, found through POSTERN_SRCDIR. */
static char *
read_source_file(const char *rel)
{
	const char *top = getenv("POSTERN_SRCDIR");
	char path[PATH_MAX], *buf = NULL;
	size_t cap = 0;
	ssize_t n;
	FILE *fp;

	cr_assert_not_null(top, "POSTERN_SRCDIR is not set (run via make "
				"check)");
	snprintf(path, sizeof(path), "%s/%s", top, rel);
	cr_assert_not_null(fp = fopen(path, "r"), "%s: %s", path,
	    strerror(errno));
	n = getdelim(&buf, &cap, '\0', fp);
	cr_assert(n > 0);
	fclose(fp);
	return buf;
}

/* Replaces the value of every "key = ..." line that starts a line. */
static char *
set_value(char *text, const char *key, const char *value)
{
	char *prefix = strfmt("\n%s = ", key), *at, *eol, *out;

	at = strstr(text, prefix);
	cr_assert_not_null(at, "no '%s' line", key);
	at += strlen(prefix);
	eol = strchr(at, '\n');
	cr_assert_not_null(eol);
	out = strfmt("%.*s%s%s", (int)(at - text), text, value, eol);
	free(prefix);
	free(text);
	return out;
}

Test(conf, sample_loads_with_defaults)
{
	char *text = read_source_file("etc/postern.ini"), *file;
	char *got, *want;
	struct conf *c, *d;

	make_cert();
	text = set_value(text, "certificate", tpath("cert.pem"));
	text = set_value(text, "private_key", tpath("key.pem"));
	c = load_ok(text);
	cr_expect(c->proto[PROTO_POP3].enabled);
	cr_expect(c->proto[PROTO_IMAP].enabled);
	got = dump(c);

	/* Every value the sample shows is the default. */
	file = strfmt("[pop3]\nbackend = mailstore.example.org\n"
		      "[imap]\nbackend = mailstore.example.org\n"
		      "[tls]\ncertificate = %s\nprivate_key = %s\n",
	    tpath("cert.pem"), tpath("key.pem"));
	d = load_ok(file);
	want = dump(d);
	cr_expect_str_eq(got, want);
	conf_unref(c);
	conf_unref(d);
	free(got);
	free(want);
	free(file);
	free(text);
}

Test(conf, refcount_and_ssl_contexts)
{
	struct conf *c = load_ok(NOTLS);

	/* Another module fills these; the last unref frees them. */
	c->server_ssl_ctx[PROTO_IMAP] = SSL_CTX_new(TLS_server_method());
	c->routing.defaults[PROTO_POP3]->ssl_ctx =
	    SSL_CTX_new(TLS_client_method());
	cr_assert_not_null(c->server_ssl_ctx[PROTO_IMAP]);
	cr_assert_eq(conf_ref(c), c);
	cr_expect_eq(atomic_load(&c->refs), 2);
	conf_unref(c);
	cr_expect_eq(atomic_load(&c->refs), 1);
	conf_unref(c);
	conf_unref(NULL);
}

Test(conf, proto_names)
{
	cr_expect_str_eq(conf_proto_name(PROTO_POP3), "POP3");
	cr_expect_str_eq(conf_proto_name(PROTO_IMAP), "IMAP4");
}

Test(conf, throttle_section)
{
	struct conf *c;
	struct sockaddr_in in = {.sin_family = AF_INET};

	/* On by default, with Dovecot's first delay and fail2ban's times. */
	c = load_ok(NOTLS);
	cr_assert(c->throttle.enabled);
	cr_assert_eq(c->throttle.failure_delay_ms, 2000);
	cr_assert_eq(c->throttle.max_failures_per_ip, 10);
	cr_assert_eq(c->throttle.max_failures_per_user, 20);
	cr_assert_eq(c->throttle.window_ms, 600000);
	cr_assert_eq(c->throttle.ban_time_ms, 600000);
	cr_assert_eq(c->throttle.max_entries, 100000);
	cr_assert_null(c->throttle.exempt_ips);
	conf_unref(c);

	c = load_ok(
	    NOTLS "[throttle]\nfailure_delay = 500ms\n"
		  "max_failures_per_ip = 5\nmax_failures_per_user = "
		  "unlimited\nwindow = 1h\nban_time = 30s\n"
		  "exempt_ips = 127.0.0.1, 10.0.0.0/8\nmax_entries = 5000\n");
	cr_assert_eq(c->throttle.failure_delay_ms, 500);
	cr_assert_eq(c->throttle.max_failures_per_ip, 5);
	cr_assert_eq(c->throttle.max_failures_per_user, 0);
	cr_assert_eq(c->throttle.window_ms, 3600000);
	cr_assert_eq(c->throttle.ban_time_ms, 30000);
	cr_assert_eq(c->throttle.max_entries, 5000);
	inet_pton(AF_INET, "10.9.8.7", &in.sin_addr);
	cr_assert(
	    addrset_contains(c->throttle.exempt_ips, (struct sockaddr *)&in));
	conf_unref(c);

	expect_errors(NOTLS "[throttle]\nmax_entries = 3\nwindow = 0\n"
			    "failure_delay = 1m\n",
	    ":6: [throttle] max_entries: 3 is out of range (16-10000000)\n"
	    ":7: [throttle] window: 0 is out of range (1s-24h)\n"
	    ":8: [throttle] failure_delay: 1m is out of range (0s-15s)\n");
}

Test(conf, trusted_proxies)
{
	struct conf *c;
	struct sockaddr_in in = {.sin_family = AF_INET};

	c = load_ok("[postern]\ntrusted_proxies = 10.0.0.0/8, 192.0.2.10\n"
		    "trusted_proxies = 2001:db8::/32\n"
		    "    198.51.100.1-198.51.100.9\n" NOTLS);
	cr_assert_not_null(c->trusted_proxies);
	inet_pton(AF_INET, "10.1.2.3", &in.sin_addr);
	cr_assert(addrset_contains(c->trusted_proxies, (struct sockaddr *)&in));
	inet_pton(AF_INET, "198.51.100.5", &in.sin_addr);
	cr_assert(addrset_contains(c->trusted_proxies, (struct sockaddr *)&in));
	inet_pton(AF_INET, "192.0.2.11", &in.sin_addr);
	cr_assert_not(
	    addrset_contains(c->trusted_proxies, (struct sockaddr *)&in));
	conf_unref(c);

	c = load_ok(NOTLS);
	cr_assert_null(c->trusted_proxies);
	conf_unref(c);

	expect_errors("[postern]\ntrusted_proxies = 10.0.0.0/33\n" NOTLS,
	    ":2: [postern] trusted_proxies: 10.0.0.0/33: prefix length "
	    "must be 0 to 32\n");
}

Test(conf, forward_client_address)
{
	struct conf *c;

	c = load_ok(NOTLS "forward_client_address = xclient\n"
			  "[imap]\nbackend = imap.example.org\n"
			  "login_type = PlainTextLogin\nssl_bindings =\n"
			  "forward_client_address = id\n");
	cr_assert_eq(c->proto[PROTO_POP3].forward_client_address,
	    FORWARD_XCLIENT);
	cr_assert_eq(c->proto[PROTO_IMAP].forward_client_address, FORWARD_ID);
	conf_unref(c);

	c = load_ok(NOTLS "forward_client_address = proxy\n");
	cr_assert_eq(c->proto[PROTO_POP3].forward_client_address,
	    FORWARD_PROXY);
	conf_unref(c);

	expect_errors(NOTLS "forward_client_address = id\n",
	    ":5: [pop3] forward_client_address = id is for IMAP only (use "
	    "xclient or proxy here)\n");
	expect_errors(NOTLS "[imap]\nbackend = imap.example.org\n"
			    "login_type = PlainTextLogin\nssl_bindings =\n"
			    "forward_client_address = xclient\n",
	    ":9: [imap] forward_client_address = xclient is for POP3 only "
	    "(use id or proxy here)\n");
	expect_errors(NOTLS "forward_client_address = haproxy\n",
	    ":5: [pop3] forward_client_address: 'haproxy' is not one of none, "
	    "id, xclient, proxy\n");
}

/* Access policy: [rule "<name>"], [groups], exemptions, required groups. */

Test(conf, rules_and_groups_loaded)
{
	const char *groups = tmpdir_write("groups",
	    "# comment\nPOP3 Access: alice, bob\nIMAP Access: carol\n", 53);
	char *text =
	    strfmt(NOTLS "login_type_exempt_ips = 192.0.2.0/24\n"
			 "required_group = POP3 Access\n"
			 "[groups]\nfile = %s\n"
			 "[rule \"Block outside\"]\npriority = 10\n"
			 "action = deny\nprotocols = pop3, IMAP4\n"
			 "except_client_ips = 10.0.0.0/8,\n"
			 "    192.0.2.10\n"
			 "[rule \"b\"]\npriority = 5\naction = audit\n"
			 "enabled = no\nusernames = a*, b@x\n"
			 "member_of = IMAP Access\n"
			 "except_member_of = pop3 access\n"
			 "authentication = tls\n"
			 "except_authentication = cleartext_without_tls\n"
			 "except_protocols = imap\n"
			 "client_ips = 2001:db8::/32\n"
			 "except_usernames = root\n",
		groups);
	struct conf *c = load_ok(text);
	const struct rule *r;

	cr_assert_eq(c->nrules, 2);
	r = &c->rules[0];
	cr_expect_str_eq(r->name, "b");
	cr_expect_eq(r->priority, 5);
	cr_expect_eq(r->action, RULE_AUDIT);
	cr_expect_not(r->enabled);
	cr_expect_eq(r->cond.usernames.n, 2);
	cr_expect_str_eq(r->cond.usernames.v[1], "b@x");
	cr_expect_str_eq(r->cond.member_of.v[0], "IMAP Access");
	cr_expect_str_eq(r->except.member_of.v[0], "pop3 access");
	cr_expect_eq(r->cond.authentication, RULE_AUTH_TLS);
	cr_expect_eq(r->except.authentication, RULE_AUTH_CLEARTEXT_WITHOUT_TLS);
	cr_expect_eq(r->except.protocols, 1u << PROTO_IMAP);
	cr_expect_eq(addrset_count(r->cond.client_ips), 1);
	cr_expect_str_eq(r->except.usernames.v[0], "root");
	r = &c->rules[1];
	cr_expect_str_eq(r->name, "Block outside");
	cr_expect_eq(r->line, 9);
	cr_expect(r->enabled);
	cr_expect_eq(r->action, RULE_DENY);
	cr_expect_eq(r->cond.protocols, 3u);
	cr_expect_eq(addrset_count(r->except.client_ips), 2);
	cr_expect_str_eq(c->proto[PROTO_POP3].required_group, "POP3 Access");
	cr_expect_eq(addrset_count(c->proto[PROTO_POP3].login_type_exempt_ips),
	    1);
	cr_expect_not_null(c->groups.file_groups);
	cr_expect_eq(groups_file_count(c->groups.file_groups), 2);
	cr_expect_null(c->groups.ldap_uri);
	cr_expect_eq(c->groups.cache_ttl_ms, 300000);
	cr_expect_eq(c->groups.ldap_timeout_ms, 5000);
	cr_expect_str_eq(c->groups.ldap_user_filter, "(sAMAccountName=%u)");
	cr_expect_str_eq(c->groups.ldap_group_attribute, "memberOf");
	cr_expect(c->groups.ldap_starttls);
	cr_expect(c->groups.ldap_tls_verify);
	conf_unref(c);
	free(text);
}

Test(conf, serials_differ)
{
	struct conf *a = load_ok(NOTLS), *b = load_ok(NOTLS);

	cr_expect_neq(a->serial, 0);
	cr_expect_neq(a->serial, b->serial);
	conf_unref(a);
	conf_unref(b);
}

Test(conf, rule_errors)
{
	expect_errors(NOTLS "[rule \"a\"]\npriority = 10\naction = block\n"
			    "client_ips = 10.0.0.0/33\n"
			    "[rule \"b\"]\npriority = 10\naction = deny\n"
			    "protocols = smtp\nauthentication = kerberos\n"
			    "[rule \"A\"]\n"
			    "[rule x]\npriority = 1\n"
			    "[rule \"\"]\n"
			    "[rule \"c\"]\nclient_ips =\nusernames = ,\n"
			    "usernames = a b\nmember_of = G\nfoo = 1\n"
			    "priority = x\nenabled = maybe\n",
	    ":7: [rule \"a\"] action: 'block' is not one of allow, deny, "
	    "audit\n"
	    ":8: [rule \"a\"] client_ips: 10.0.0.0/33: prefix length must be "
	    "0 to 32\n"
	    ":10: [rule \"b\"] priority 10 is also the priority of rule \"a\" "
	    "(line 6); priorities must be unique\n"
	    ":12: [rule \"b\"] protocols: 'smtp' is not pop3 or imap\n"
	    ":13: [rule \"b\"] authentication: 'kerberos' is not "
	    "cleartext_without_tls or tls\n"
	    ":14: duplicate rule \"A\" (first at line 5)\n"
	    ":15: expected [rule \"<name>\"], the name in double quotes\n"
	    ":17: rule name must be 1-64 characters without blanks at either "
	    "end\n"
	    ":18: [rule \"c\"] has no action (allow, deny or audit)\n"
	    ":19: [rule \"c\"] client_ips: no value (remove the key to leave "
	    "the condition out)\n"
	    ":20: [rule \"c\"] usernames: no value (remove the key to leave "
	    "the condition out)\n"
	    ":21: [rule \"c\"] usernames: 'a b' is not a user name pattern "
	    "(no blanks or control characters)\n"
	    ":22: [rule \"c\"] member_of: group 'G' needs a group source: set "
	    "file or ldap_uri in [groups]\n"
	    ":23: unknown key 'foo' in [rule \"c\"]\n"
	    ":24: [rule \"c\"] priority: 'x' is not a number\n"
	    ":25: [rule \"c\"] enabled: 'maybe' is not yes or no\n");
	/* A rule without a priority line. */
	expect_errors(NOTLS "[rule \"d\"]\naction = allow\n",
	    ":5: [rule \"d\"] has no priority\n");
}

Test(conf, group_references)
{
	const char *groups = tmpdir_write("groups", "Known: a\n", 9);
	char *text = strfmt(NOTLS "required_group = Unknown\n"
				  "[imap]\nenabled = no\nbackend = x\n"
				  "required_group = known\n"
				  "[groups]\nfile = %s\n"
				  "[rule \"r\"]\npriority = 1\naction = deny\n"
				  "member_of = KNOWN\nmember_of = Missing\n"
				  "except_member_of = CN=x,DC=y\n",
	    groups);
	char *want = strfmt(
	    ":5: [pop3] required_group: group 'Unknown' is not in the groups "
	    "file %s\n"
	    ":16: [rule \"r\"] member_of: group 'Missing' is not in the "
	    "groups file %s\n"
	    ":17: [rule \"r\"] except_member_of: group 'CN=x,DC=y' is not in "
	    "the groups file %s\n",
	    groups, groups, groups);

	expect_errors(text, want);
	free(text);
	free(want);
}

Test(conf, groups_errors)
{
	const char *bad = tmpdir_write("groups",
	    "Good: a, b\nno colon here\n: x\n  continued\nG2: a b, ok\n", 53);
	char *text = strfmt(NOTLS "[groups]\nfile = %s\n"
				  "ldap_uri = http://dc.example.org\n"
				  "ldap_user_filter = (uid=%%x)\n"
				  "ldap_group_attribute = member of\n"
				  "ldap_nested = maybe\n"
				  "ldap_timeout = 10m\n"
				  "ldap_bind_password_file = %s\n"
				  "group_cache_ttl = 2d\n",
	    bad, tpath("missing"));
	char *want = strfmt(
	    ":6: [groups] file: %s:2: expected 'Group Name: user, user, ...'\n"
	    ":6: [groups] file: %s:3: missing group name before ':'\n"
	    ":6: [groups] file: %s:4: indented line without a group line "
	    "before it\n"
	    ":6: [groups] file: %s:5: 'a b' is not a user name (no blanks, "
	    "'*' or ':')\n"
	    ":7: [groups] ldap_uri: 'http://dc.example.org' is not an "
	    "ldap://host or ldaps://host URI\n"
	    ":8: [groups] ldap_user_filter: '(uid=%%x)': only %%u, %%U and "
	    "%%%% may follow a '%%' (or the filter is too long)\n"
	    ":9: [groups] ldap_group_attribute: 'member of' is not an "
	    "attribute name\n"
	    ":10: [groups] ldap_nested: 'maybe' is not one of no, in_chain, "
	    "walk\n"
	    ":11: [groups] ldap_timeout: 10m is out of range (100ms-5m)\n"
	    ":12: [groups] ldap_bind_password_file: cannot open '%s': No such "
	    "file or directory\n"
	    ":13: [groups] group_cache_ttl: 2d is out of range (0s-24h)\n",
	    bad, bad, bad, bad, tpath("missing"));

	expect_errors(text, want);
	free(text);
	free(want);
}

Test(conf, ldap_settings)
{
	const char *pw = tmpdir_write("pw", "s3cret\nignored\n", 15);
	char *text = strfmt(NOTLS "[groups]\n"
				  "ldap_uri = ldaps://dc1.example.org "
				  "ldaps://dc2.example.org\n"
				  "ldap_bind_dn = CN=svc,DC=example,DC=org\n"
				  "ldap_bind_password_file = %s\n"
				  "ldap_base = DC=example,DC=org\n"
				  "ldap_user_filter = (userPrincipalName=%%U)\n"
				  "ldap_nested = in_chain\n"
				  "ldap_timeout = 2s\nldap_threads = 3\n"
				  "group_cache_ttl = 0\n"
				  "[pop3]\n",
	    pw);
	struct conf *c;
	char *out;

	/* The [pop3] at the end is a duplicate; without it, it loads. */
	expect_errors(text,
	    ":15: duplicate section [pop3] (first at line 1)\n");
	text[strlen(text) - strlen("[pop3]\n")] = '\0';
	c = load_ok(text);
	cr_expect_str_eq(c->groups.ldap_bind_password, "s3cret");
	cr_expect_eq(c->groups.ldap_nested, LDAP_NESTED_IN_CHAIN);
	cr_expect_eq(c->groups.ldap_threads, 3);
	cr_expect_eq(c->groups.cache_ttl_ms, 0);
	out = dump(c);
	cr_expect_null(strstr(out, "s3cret"), "the dump shows the password");
	cr_expect_not_null(strstr(out, "LdapNested           : in_chain\n"),
	    "%s", out);
	conf_unref(c);
	free(out);

	expect_errors(NOTLS "[groups]\nldap_uri = ldap://dc\n"
			    "ldap_bind_dn = CN=x\n",
	    ":6: [groups] ldap_uri needs ldap_base (where users are "
	    "searched)\n"
	    ":7: [groups] ldap_bind_dn needs ldap_bind_password_file\n");
	free(text);
}

Test(conf, dump_rules)
{
	struct conf *c = load_ok(NOTLS "required_group = CN=G,DC=x\n"
				       "[groups]\nldap_uri = ldap://dc\n"
				       "ldap_base = DC=x\n"
				       "[rule \"r\"]\npriority = 3\n"
				       "action = deny\nprotocols = imap\n"
				       "client_ips = 10.0.0.0/8, 11.0.0.0/8\n"
				       "except_usernames = a, b\n"
				       "except_authentication = tls\n");
	char *out = dump(c);

	cr_expect_not_null(strstr(out, "RequiredGroup                     : "
				       "CN=G,DC=x\n"),
	    "%s", out);
	cr_expect_not_null(strstr(out, "\nName                 : r\n"
				       "Priority             : 3\n"
				       "Action               : deny\n"
				       "Enabled              : True\n"
				       "Protocols            : IMAP4\n"
				       "ClientIps            : 10.0.0.0/7\n"
				       "Usernames            :\n"
				       "MemberOf             :\n"
				       "Authentication       :\n"
				       "ExceptProtocols      :\n"
				       "ExceptClientIps      :\n"
				       "ExceptUsernames      : a, b\n"
				       "ExceptMemberOf       :\n"
				       "ExceptAuthentication : tls\n"),
	    "%s", out);
	free(out);
	conf_unref(c);
}

/* protolog: the protocol-log keys of a protocol section. */
Test(conf, protocol_log_keys)
{
	struct protolog_conf pl[PROTO_COUNT];
	struct conf *c;

	c = load_ok(NOTLS);
	conf_protolog(c, pl);
	cr_expect_not(pl[PROTO_POP3].enabled);
	cr_expect_str_eq(pl[PROTO_POP3].directory, "/var/log/postern/Pop3");
	cr_expect_str_eq(pl[PROTO_IMAP].directory, "/var/log/postern/Imap4");
	cr_expect_eq(pl[PROTO_POP3].rollover, PROTOLOG_HOURLY);
	cr_expect_eq(pl[PROTO_POP3].per_file_size_quota, 0);
	cr_expect_eq(pl[PROTO_POP3].file_age_limit_ms, 30ULL * 86400000);
	cr_expect_eq(pl[PROTO_POP3].directory_size_quota, 0);
	cr_expect_eq(pl[PROTO_POP3].detail, PROTOLOG_DETAIL_COMMANDS);
	conf_unref(c);

	c = load_ok(NOTLS "protocol_log_enabled = yes\n"
			  "log_file_location = /tmp/pl\n"
			  "log_file_rollover_settings = Monthly\n"
			  "log_per_file_size_quota = 64k\n"
			  "log_file_age_limit = 400d\n"
			  "log_directory_size_quota = unlimited\n"
			  "log_detail = PROXY\n");
	conf_protolog(c, pl);
	cr_expect(pl[PROTO_POP3].enabled);
	cr_expect_str_eq(pl[PROTO_POP3].directory, "/tmp/pl");
	cr_expect_eq(pl[PROTO_POP3].rollover, PROTOLOG_MONTHLY);
	cr_expect_eq(pl[PROTO_POP3].per_file_size_quota, 65536);
	/* Past the 49 days an unsigned count of milliseconds holds. */
	cr_expect_eq(pl[PROTO_POP3].file_age_limit_ms, 400ULL * 86400000);
	cr_expect_eq(pl[PROTO_POP3].directory_size_quota, 0);
	cr_expect_eq(pl[PROTO_POP3].detail, PROTOLOG_DETAIL_PROXY);
	/* The IMAP section is absent: so is its log. */
	cr_expect_not(pl[PROTO_IMAP].enabled);
	conf_unref(c);

	c = load_ok(NOTLS "log_file_age_limit = 1.12:00:00\n"
			  "log_per_file_size_quota = unlimited\n");
	conf_protolog(c, pl);
	cr_expect_eq(pl[PROTO_POP3].file_age_limit_ms, 36ULL * 3600000);
	cr_expect_eq(pl[PROTO_POP3].per_file_size_quota, 0);
	conf_unref(c);

	c = load_ok(NOTLS "log_file_age_limit = 0\n");
	conf_protolog(c, pl);
	cr_expect_eq(pl[PROTO_POP3].file_age_limit_ms, 0);
	conf_unref(c);
}

Test(conf, protocol_log_errors)
{
	expect_errors(NOTLS "log_file_location = var/log\n",
	    ":5: [pop3] log_file_location: 'var/log' is not an absolute "
	    "path\n");
	expect_errors(NOTLS "log_file_rollover_settings = yearly\n",
	    ":5: [pop3] log_file_rollover_settings: 'yearly' is not one of "
	    "Hourly, Daily, Weekly, Monthly\n");
	expect_errors(NOTLS "log_detail = everything\n",
	    ":5: [pop3] log_detail: 'everything' is not one of commands, "
	    "proxy\n");
	expect_errors(NOTLS "log_per_file_size_quota = 10X\n",
	    ":5: [pop3] log_per_file_size_quota: '10X' is not a size (bytes, "
	    "or with k/M/G; 0 or 'unlimited': no quota)\n");
	expect_errors(NOTLS "log_file_age_limit = 30x\n",
	    ":5: [pop3] log_file_age_limit: '30x' is not an age (as 30d, 12h, "
	    "or d.hh:mm:ss; 0 or 'unlimited': no limit)\n");
	expect_errors(NOTLS "log_file_age_limit = 4000d\n",
	    ":5: [pop3] log_file_age_limit: 4000d is out of range (at most "
	    "3650d)\n");
	expect_errors(NOTLS "protocol_log_enabled = maybe\n",
	    ":5: [pop3] protocol_log_enabled: 'maybe' is not yes or no\n");
	expect_errors(NOTLS "protocol_log_enabled = yes\n"
			    "log_file_location =\n",
	    ":6: [pop3] log_file_location must be set when "
	    "protocol_log_enabled = yes\n");
	expect_errors(NOTLS "protocol_log_enabled = yes\n"
			    "log_per_file_size_quota = 100\n",
	    ":6: [pop3] log_per_file_size_quota: 100 bytes is too small (0 "
	    "for files by time, or at least 4096)\n");
	expect_errors(NOTLS "protocol_log_enabled = yes\n"
			    "log_per_file_size_quota = 10M\n"
			    "log_directory_size_quota = 1M\n",
	    ":7: [pop3] log_directory_size_quota is smaller than "
	    "log_per_file_size_quota: every file would be deleted as soon as "
	    "it is full\n");
}

/*
 * Where each row of the dump reads back.  section: "proto" (the block's
 * ProtocolName says which), "postern", "tls", "tls_name" (a [tls
 * "<name>"] section: the block's ServerName), "groups" or "rule" (the
 * block's Name).  unset_if_empty: the key has no empty form (a rule's
 * conditions, a group), and an empty row means that it is not set.  A row
 * missing here fails the round trip: every value postern -T prints must be one
 * the file accepts.
 */
static const struct dump_key {
	const char *name, *section, *key;
	bool unset_if_empty;
} dump_keys[] = {
    {"Enabled", "proto", "enabled", false},
    {"UnencryptedOrTLSBindings", "proto", "unencrypted_or_tls_bindings", false},
    {"SSLBindings", "proto", "ssl_bindings", false},
    {"Banner", "proto", "banner", false},
    {"LoginType", "proto", "login_type", false},
    {"LoginTypeMode", "proto", "login_type_mode", false},
    {"LoginTypeExemptIps", "proto", "login_type_exempt_ips", false},
    {"RequiredGroup", "proto", "required_group", true},
    {"BackendTls", "proto", "backend_tls", false},
    {"BackendCaFile", "proto", "backend_ca_file", false},
    {"BackendServerName", "proto", "backend_server_name", false},
    {"BackendVerify", "proto", "backend_verify", false},
    {"ForwardClientAddress", "proto", "forward_client_address", false},
    {"BackendTimeout", "proto", "backend_timeout", false},
    {"MaxConnections", "proto", "max_connections", false},
    {"MaxConnectionFromSingleIP", "proto", "max_connection_from_single_ip",
	false},
    {"MaxConnectionsPerUser", "proto", "max_connections_per_user", false},
    {"PreAuthenticatedConnectionTimeout", "proto",
	"pre_authenticated_connection_timeout", false},
    {"PreAuthenticatedTotalTimeout", "proto", "pre_authenticated_total_timeout",
	false},
    {"IPv6PrefixLength", "proto", "ipv6_prefix_length", false},
    {"AuthenticatedConnectionTimeout", "proto",
	"authenticated_connection_timeout", false},
    {"MaxCommandSize", "proto", "max_command_size", false},
    {"MaxBadCommands", "proto", "max_bad_commands", false},
    {"MaxLoginAttempts", "proto", "max_login_attempts", false},
    {"PassthroughMechanisms", "proto", "passthrough_mechanisms", false},
    {"ProtocolLogEnabled", "proto", "protocol_log_enabled", false},
    {"LogFileLocation", "proto", "log_file_location", false},
    {"LogFileRollOverSettings", "proto", "log_file_rollover_settings", false},
    {"LogPerFileSizeQuota", "proto", "log_per_file_size_quota", false},
    {"LogFileAgeLimit", "proto", "log_file_age_limit", false},
    {"LogDirectorySizeQuota", "proto", "log_directory_size_quota", false},
    {"LogDetail", "proto", "log_detail", false},
    {"Workers", "postern", "workers", false},
    {"User", "postern", "user", false},
    {"PidFile", "postern", "pid_file", false},
    {"LogLevel", "postern", "log_level", false},
    {"Syslog", "postern", "syslog", false},
    {"ShutdownTimeout", "postern", "shutdown_timeout", false},
    {"TrustedProxies", "postern", "trusted_proxies", false},
    {"Certificate", "tls", "certificate", false},
    {"PrivateKey", "tls", "private_key", false},
    {"MinVersion", "tls", "min_version", false},
    {"Ciphers", "tls", "ciphers", false},
    {"Ciphersuites", "tls", "ciphersuites", false},
    {"Certificate", "tls_name", "certificate", false},
    {"PrivateKey", "tls_name", "private_key", false},
    {"GroupsFile", "groups", "file", false},
    {"LdapUri", "groups", "ldap_uri", false},
    {"LdapCaFile", "groups", "ldap_ca_file", false},
    {"LdapStartTls", "groups", "ldap_starttls", false},
    {"LdapTlsVerify", "groups", "ldap_tls_verify", false},
    {"LdapBindDn", "groups", "ldap_bind_dn", false},
    {"LdapBindPasswordFile", "groups", "ldap_bind_password_file", true},
    {"LdapBase", "groups", "ldap_base", false},
    {"LdapUserFilter", "groups", "ldap_user_filter", false},
    {"LdapGroupAttribute", "groups", "ldap_group_attribute", false},
    {"LdapNested", "groups", "ldap_nested", false},
    {"LdapTimeout", "groups", "ldap_timeout", false},
    {"LdapThreads", "groups", "ldap_threads", false},
    {"GroupCacheTtl", "groups", "group_cache_ttl", false},
    {"Priority", "rule", "priority", false},
    {"Action", "rule", "action", false},
    {"Protocols", "rule", "protocols", true},
    {"ClientIps", "rule", "client_ips", true},
    {"Usernames", "rule", "usernames", true},
    {"MemberOf", "rule", "member_of", true},
    {"Authentication", "rule", "authentication", true},
    {"ExceptProtocols", "rule", "except_protocols", true},
    {"ExceptClientIps", "rule", "except_client_ips", true},
    {"ExceptUsernames", "rule", "except_usernames", true},
    {"ExceptMemberOf", "rule", "except_member_of", true},
    {"ExceptAuthentication", "rule", "except_authentication", true},
    {"ThrottleEnabled", "throttle", "enabled", false},
    {"ThrottleFailureDelay", "throttle", "failure_delay", false},
    {"ThrottleMaxFailuresPerIP", "throttle", "max_failures_per_ip", false},
    {"ThrottleMaxFailuresPerUser", "throttle", "max_failures_per_user", false},
    {"ThrottleWindow", "throttle", "window", false},
    {"ThrottleBanTime", "throttle", "ban_time", false},
    {"ThrottleExemptIPs", "throttle", "exempt_ips", false},
    {"ThrottleMaxEntries", "throttle", "max_entries", false},
    {"Pop3Addresses", "backend", "pop3", true},
    {"Imap4Addresses", "backend", "imap", true},
    {"Tls", "backend", "tls", false},
    {"CaFile", "backend", "ca_file", true},
    {"Verify", "backend", "verify", false},
    {"TlsServerName", "backend", "server_name", true},
    {"TlsResumption", "backend", "tls_session_cache", false},
    {"ConnectTimeout", "backend", "connect_timeout", false},
    {"DownTime", "backend", "down_time", false},
    {"MaxConnections", "backend", "max_connections", false},
    {"RoutingMapFile", "routing", "map_file", true},
    {"StatsListen", "stats", "listen", true},
    {"StatsAllowedIPs", "stats", "allowed_ips", false},
    {"StatsTokenFile", "stats", "token_file", true},
};

/* A rule's Enabled is the rule's key, not the protocol's. */
static const struct dump_key rule_enabled = {"Enabled", "rule", "enabled",
    false};

static const struct dump_key *
dump_key(const char *name, const char *block)
{
	size_t i;

	for (i = 0; i < sizeof(dump_keys) / sizeof(dump_keys[0]); i++) {
		const char *sec = dump_keys[i].section;

		if (strcmp(dump_keys[i].name, name) == 0 &&
		    (strcmp(sec, block) == 0 ||
			(strcmp(block, "postern") == 0 &&
			    strcmp(sec, "tls") == 0)))
			return &dump_keys[i];
	}
	if (strcmp(name, "Enabled") == 0 && strcmp(block, "rule") == 0)
		return &rule_enabled;
	return NULL;
}

/*
 * The configuration file that a postern -T dump describes: each row's
 * value, as printed (continuation lines and inline comments included),
 * after its key.
 */
static char *
dump_to_file(const char *dump)
{
	char *out, *copy = strdup(dump), *line, *save = NULL, host[256] = "";
	const char *block = NULL, *sec = NULL, *name, *value;
	bool named = false;
	size_t len;
	FILE *fp = open_memstream(&out, &len);

	cr_assert_not_null(fp);
	cr_assert_not_null(copy);
	for (line = strtok_r(copy, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		const struct dump_key *k;
		char *colon;

		if (line[0] == ' ') {
			/* A list that goes on: the file's continuation line. */
			fprintf(fp, "%s\n", line);
			continue;
		}
		name = line;
		colon = line + strcspn(line, " ");
		cr_assert(*colon == ' ', "not a 'Name : Value' row: '%s'",
		    line);
		*colon++ = '\0';
		colon += strspn(colon, " ");
		cr_assert(*colon == ':', "not a 'Name : Value' row: '%s'",
		    name);
		value = colon[1] == ' ' ? colon + 2 : colon + 1;
		if (strcmp(name, "ProtocolName") == 0) {
			block = "proto";
			fprintf(fp, "[%s]\n",
			    strcmp(value, "POP3") == 0 ? "pop3" : "imap");
			sec = "proto";
			continue;
		}
		if (strcmp(name, "Name") == 0) {
			block = sec = "rule";
			fprintf(fp, "[rule \"%s\"]\n", value);
			continue;
		}
		if (strcmp(name, "ServerName") == 0) {
			block = sec = "tls_name";
			fprintf(fp, "[tls \"%s\"]\n", value);
			continue;
		}
		/* A named backend is its section; the protocols' own
		 * ("default") are their backend keys. */
		if (strcmp(name, "BackendName") == 0 &&
		    strcmp(value, "default") == 0) {
			block = "implicit";
			continue;
		}
		if (strcmp(name, "BackendName") == 0) {
			block = sec = "backend";
			fprintf(fp, "[backend \"%s\"]\n", value);
			continue;
		}
		if (block != NULL && strcmp(block, "implicit") == 0 &&
		    strcmp(name, "RoutingMapFile") != 0)
			continue;
		/* What the file implies, not a key of it. */
		if (strncmp(name, "DefaultFor", 10) == 0 ||
		    strcmp(name, "RoutingMapEntries") == 0)
			continue;
		if (strcmp(name, "RoutingMapFile") == 0)
			block = "routing";
		else if (strcmp(name, "Workers") == 0)
			block = "postern";
		else if (strcmp(name, "GroupsFile") == 0)
			block = "groups";
		else if (strcmp(name, "ThrottleEnabled") == 0)
			block = "throttle";
		else if (strcmp(name, "StatsListen") == 0)
			block = "stats";
		cr_assert_not_null(block, "row '%s' before any block", name);
		/* A protocol's backend by name: its section says the rest,
		 * and the protocol's backend_* keys are not for it. */
		if (strcmp(name, "Backend") == 0) {
			named = strcmp(value, "default") != 0;
			if (named)
				fprintf(fp, "backend = %s\n", value);
			continue;
		}
		if (named && (strcmp(name, "BackendTls") == 0 ||
				 strcmp(name, "BackendCaFile") == 0 ||
				 strcmp(name, "BackendServerName") == 0 ||
				 strcmp(name, "BackendVerify") == 0))
			continue;
		/* Exchange's two rows of the one backend key. */
		if (strcmp(name, "ProxyTargetHost") == 0) {
			snprintf(host, sizeof(host), "%s", value);
			continue;
		}
		if (strcmp(name, "ProxyTargetPort") == 0) {
			if (host[0] != '\0' && !named)
				fprintf(fp, "backend = %s:%s\n", host, value);
			continue;
		}
		k = dump_key(name, block);
		cr_assert_not_null(k,
		    "postern -T prints '%s', which no key of the file reads",
		    name);
		if (sec == NULL || strcmp(sec, k->section) != 0) {
			fprintf(fp, "[%s]\n", k->section);
			sec = k->section;
		}
		if (value[0] == '\0' && k->unset_if_empty)
			continue;
		fprintf(fp, "%s = %s\n", k->key, value);
	}
	fclose(fp);
	free(copy);
	return out;
}

static void
expect_same_addrset(const struct addrset *a, const struct addrset *b,
    const char *what)
{
	char *ta = NULL, *tb = NULL;
	size_t la, lb;
	FILE *fa = open_memstream(&ta, &la), *fb = open_memstream(&tb, &lb);

	cr_assert(fa != NULL && fb != NULL);
	if (a != NULL)
		addrset_write(a, ",", fa);
	if (b != NULL)
		addrset_write(b, ",", fb);
	fclose(fa);
	fclose(fb);
	cr_expect_str_eq(ta, tb, "%s", what);
	free(ta);
	free(tb);
}

#define SAME_STR(a, b, what)                                                   \
	cr_expect_str_eq((a) ? (a) : "(unset)", (b) ? (b) : "(unset)", "%s",   \
	    what)

static void
expect_same_strlist(const struct strlist *a, const struct strlist *b,
    const char *what)
{
	cr_expect_eq(a->n, b->n, "%s", what);
	for (size_t i = 0; i < a->n && i < b->n; i++)
		cr_expect_str_eq(a->v[i], b->v[i], "%s", what);
}

static void
expect_same_match(const struct rule_match *a, const struct rule_match *b)
{
	cr_expect_eq(a->protocols, b->protocols);
	expect_same_addrset(a->client_ips, b->client_ips, "client_ips");
	expect_same_strlist(&a->usernames, &b->usernames, "usernames");
	expect_same_strlist(&a->member_of, &b->member_of, "member_of");
	cr_expect_eq(a->authentication, b->authentication);
}

/* Every setting of a and b, field by field. */
static void
expect_same_conf(const struct conf *a, const struct conf *b)
{
	cr_expect_eq(a->workers, b->workers);
	SAME_STR(a->user, b->user, "user");
	SAME_STR(a->pid_file, b->pid_file, "pid_file");
	cr_expect_eq(a->log_level, b->log_level);
	cr_expect_eq(a->syslog, b->syslog);
	cr_expect_eq(a->shutdown_timeout_ms, b->shutdown_timeout_ms);
	expect_same_addrset(a->trusted_proxies, b->trusted_proxies,
	    "trusted_proxies");
	SAME_STR(a->tls.certificate, b->tls.certificate, "certificate");
	SAME_STR(a->tls.private_key, b->tls.private_key, "private_key");
	cr_expect_eq(a->tls.min_version, b->tls.min_version);
	SAME_STR(a->tls.ciphers, b->tls.ciphers, "ciphers");
	SAME_STR(a->tls.ciphersuites, b->tls.ciphersuites, "ciphersuites");
	cr_expect_eq(a->tls.nnames, b->tls.nnames);
	for (size_t n = 0; n < a->tls.nnames && n < b->tls.nnames; n++) {
		SAME_STR(a->tls.names[n].name, b->tls.names[n].name,
		    "tls name");
		SAME_STR(a->tls.names[n].certificate,
		    b->tls.names[n].certificate, "tls name certificate");
		SAME_STR(a->tls.names[n].private_key,
		    b->tls.names[n].private_key, "tls name private_key");
	}
	for (int p = 0; p < PROTO_COUNT; p++) {
		const struct proto_conf *x = &a->proto[p], *y = &b->proto[p];
		char bx[128], by[128];

		cr_expect_eq(x->enabled, y->enabled);
		cr_expect_eq(x->nbindings, y->nbindings, "proto %d", p);
		for (size_t i = 0; i < x->nbindings && i < y->nbindings; i++) {
			fmt_addr(&x->bindings[i], bx, sizeof(bx));
			fmt_addr(&y->bindings[i], by, sizeof(by));
			cr_expect_str_eq(bx, by);
			cr_expect_eq(x->bindings[i].implicit_tls,
			    y->bindings[i].implicit_tls);
		}
		SAME_STR(x->banner, y->banner, "banner");
		cr_expect_eq(x->login_type, y->login_type);
		cr_expect_eq(x->login_type_mode, y->login_type_mode);
		expect_same_addrset(x->login_type_exempt_ips,
		    y->login_type_exempt_ips, "login_type_exempt_ips");
		SAME_STR(x->required_group, y->required_group,
		    "required_group");
		SAME_STR(x->backend_host, y->backend_host, "backend_host");
		SAME_STR(x->backend_port, y->backend_port, "backend_port");
		cr_expect_eq(x->backend_tls, y->backend_tls);
		SAME_STR(x->backend_ca_file, y->backend_ca_file,
		    "backend_ca_file");
		SAME_STR(x->backend_server_name, y->backend_server_name,
		    "backend_server_name");
		cr_expect_eq(x->backend_verify, y->backend_verify);
		cr_expect_eq(x->backend_timeout_ms, y->backend_timeout_ms);
		cr_expect_eq(x->forward_client_address,
		    y->forward_client_address);
		cr_expect_eq(x->max_connections, y->max_connections);
		cr_expect_eq(x->max_connection_from_single_ip,
		    y->max_connection_from_single_ip);
		cr_expect_eq(x->max_connections_per_user,
		    y->max_connections_per_user);
		cr_expect_eq(x->pre_auth_timeout_ms, y->pre_auth_timeout_ms);
		cr_expect_eq(x->pre_auth_total_ms, y->pre_auth_total_ms);
		cr_expect_eq(x->ipv6_prefix_length, y->ipv6_prefix_length);
		cr_expect_eq(x->auth_timeout_ms, y->auth_timeout_ms);
		cr_expect_eq(x->max_command_size, y->max_command_size);
		cr_expect_eq(x->max_bad_commands, y->max_bad_commands);
		cr_expect_eq(x->max_login_attempts, y->max_login_attempts);
		cr_expect_eq(x->log.enabled, y->log.enabled);
		SAME_STR(x->log.directory, y->log.directory,
		    "log_file_location");
		cr_expect_eq(x->log.rollover, y->log.rollover);
		cr_expect_eq(x->log.per_file_size_quota,
		    y->log.per_file_size_quota);
		cr_expect_eq(x->log.file_age_limit_ms,
		    y->log.file_age_limit_ms);
		cr_expect_eq(x->log.directory_size_quota,
		    y->log.directory_size_quota);
		cr_expect_eq(x->log.detail, y->log.detail);
	}
	SAME_STR(a->groups.file, b->groups.file, "groups file");
	SAME_STR(a->groups.ldap_uri, b->groups.ldap_uri, "ldap_uri");
	SAME_STR(a->groups.ldap_ca_file, b->groups.ldap_ca_file,
	    "ldap_ca_file");
	cr_expect_eq(a->groups.ldap_starttls, b->groups.ldap_starttls);
	cr_expect_eq(a->groups.ldap_tls_verify, b->groups.ldap_tls_verify);
	SAME_STR(a->groups.ldap_bind_dn, b->groups.ldap_bind_dn, "bind_dn");
	SAME_STR(a->groups.ldap_bind_password_file,
	    b->groups.ldap_bind_password_file, "password file");
	SAME_STR(a->groups.ldap_bind_password, b->groups.ldap_bind_password,
	    "password");
	SAME_STR(a->groups.ldap_base, b->groups.ldap_base, "ldap_base");
	SAME_STR(a->groups.ldap_user_filter, b->groups.ldap_user_filter,
	    "ldap_user_filter");
	SAME_STR(a->groups.ldap_group_attribute, b->groups.ldap_group_attribute,
	    "ldap_group_attribute");
	cr_expect_eq(a->groups.ldap_nested, b->groups.ldap_nested);
	cr_expect_eq(a->groups.ldap_timeout_ms, b->groups.ldap_timeout_ms);
	cr_expect_eq(a->groups.ldap_threads, b->groups.ldap_threads);
	cr_expect_eq(a->groups.cache_ttl_ms, b->groups.cache_ttl_ms);
	cr_expect_eq(a->nrules, b->nrules);
	for (size_t i = 0; i < a->nrules && i < b->nrules; i++) {
		const struct rule *x = &a->rules[i], *y = &b->rules[i];

		SAME_STR(x->name, y->name, "rule name");
		cr_expect_eq(x->priority, y->priority);
		cr_expect_eq(x->action, y->action);
		cr_expect_eq(x->enabled, y->enabled);
		expect_same_match(&x->cond, &y->cond);
		expect_same_match(&x->except, &y->except);
	}
}

/*
 * postern -T's dump of a configuration that sets every key away from its
 * default (long lists, IPv6, commas inside values, sizes that are no
 * whole unit), written back into a file, loads as the same
 * configuration, and dumps the same.
 */
Test(conf, dump_reads_back_as_the_same_configuration)
{
	char *file, *dump1, *dump2, *back, *errs, *cert, *key, *groups, *secret;
	char *routes;
	struct conf *c1, *c2;

	make_cert();
	routes = strdup(tmpdir_write("routes", "alice new\n* default\n", 20));
	cert = strdup(tpath("cert.pem"));
	key = strdup(tpath("key.pem"));
	groups = strdup(tpath("groups"));
	secret = strdup(tpath("bind.secret"));
	cr_assert(cert && key && groups && secret);
	tmpdir_write("groups",
	    "POP3 Access: alice\nHelpdesk: carol\n"
	    "Partners, external: dave\n",
	    56);
	tmpdir_write("bind.secret", "s3cret\n", 7);
	file = strfmt(
	    "[postern]\nworkers = 3\nuser = mail\npid_file = /run/p/p.pid\n"
	    "log_level = notice\nsyslog = yes\nshutdown_timeout = 90s\n"
	    "trusted_proxies = 10.0.0.0/8, 192.0.2.5, 2001:db8::/48,\n"
	    "  192.0.2.10-192.0.2.20\n"
	    "[tls]\ncertificate = %s\nprivate_key = %s\n"
	    "min_version = TLSv1.3\nciphers = HIGH:!aNULL\n"
	    "ciphersuites = TLS_AES_256_GCM_SHA384\n"
	    "[tls \"*.Example.org.\"]\ncertificate = %s\nprivate_key = %s\n"
	    "[pop3]\n"
	    "unencrypted_or_tls_bindings = 127.0.0.1:1101, 127.0.0.1:1102,\n"
	    "  127.0.0.1:1103, 127.0.0.1:1104, 127.0.0.1:1105, [::1]:1106,\n"
	    "  [2001:db8::10]:1107, [2001:db8::11]:1108, 10.1.2.3:1109\n"
	    "ssl_bindings =\n"
	    "banner = Hello, this is the POP3 service.\n"
	    "login_type = PlainTextAuthentication\nlogin_type_mode = audit\n"
	    "login_type_exempt_ips = 192.0.2.10, 10.20.0.0/24, "
	    "2001:db8:1::/64\n"
	    "required_group = POP3 Access\n"
	    "backend = [2001:db8::5]:2995\nbackend_tls = implicit\n"
	    "backend_ca_file = %s\nbackend_server_name = mail.example.org\n"
	    "backend_verify = no\nbackend_timeout = 1500ms\n"
	    "forward_client_address = proxy\n"
	    "max_connections = 500\nmax_connection_from_single_ip = 20\n"
	    "max_connections_per_user = unlimited\n"
	    "pre_authenticated_connection_timeout = 45s\n"
	    "pre_authenticated_total_timeout = 150s\n"
	    "ipv6_prefix_length = 56\n"
	    "authenticated_connection_timeout = 12:34:56\n"
	    "max_command_size = 1000\nmax_bad_commands = 7\n"
	    "max_login_attempts = 2\n"
	    "protocol_log_enabled = yes\nlog_file_location = %s\n"
	    "log_file_rollover_settings = Daily\n"
	    "log_per_file_size_quota = 10M\nlog_file_age_limit = 90d\n"
	    "log_directory_size_quota = 1G\nlog_detail = proxy\n"
	    "[imap]\nenabled = no\nbackend = new\n"
	    "unencrypted_or_tls_bindings = 127.0.0.1:1143\n"
	    "ssl_bindings = 127.0.0.1:1993\n"
	    "log_per_file_size_quota = 5000\nlog_file_age_limit = 12h\n"
	    "log_directory_size_quota = 3000k\n"
	    "[groups]\nfile = %s\n"
	    "ldap_uri = ldap://dc1.example.org ldap://dc2.example.org\n"
	    "ldap_ca_file = %s\nldap_starttls = no\nldap_tls_verify = no\n"
	    "ldap_bind_dn = CN=svc,OU=Service,DC=example,DC=org\n"
	    "ldap_bind_password_file = %s\nldap_base = DC=example,DC=org\n"
	    "ldap_user_filter = (uid=%%u)\nldap_group_attribute = isMemberOf\n"
	    "ldap_nested = walk\nldap_timeout = 1500ms\nldap_threads = 2\n"
	    "group_cache_ttl = 0\n"
	    "[rule \"Partners, external\"]\npriority = 30\naction = deny\n"
	    "protocols = imap\nusernames = *@partner.example, PARTNER\\*\n"
	    "member_of = Partners, external\nmember_of = Helpdesk\n"
	    "client_ips = 198.51.100.0/24\nauthentication = "
	    "cleartext_without_tls, tls\n"
	    "except_member_of = Helpdesk\nexcept_client_ips = 10.0.0.0/8\n"
	    "[rule \"Audit\"]\npriority = 10\naction = audit\nenabled = no\n"
	    "except_protocols = pop3\nexcept_usernames = admin\n"
	    "except_authentication = tls\n"
	    "[backend \"New\"]\n"
	    "pop3 = new1.example.org, [2001:db8::6]:995 new2.example.org\n"
	    "imap = new.example.org:143\ntls = starttls\nca_file = %s\n"
	    "verify = no\nserver_name = mail.example.org\n"
	    "connect_timeout = 2s\ndown_time = 1m\nmax_connections = 50\n"
	    "[routing]\nmap_file = %s\n",
	    cert, key, cert, key, cert, tmpdir, groups, cert, secret, cert,
	    routes);
	c1 = load_ok(file);
	dump1 = dump(c1);
	cr_expect_not_null(strstr(dump1,
			       ": new1.example.org:1995 "
			       "[2001:db8::6]:995 new2.example.org:1995\n"),
	    "%s", dump1);
	cr_expect_not_null(strstr(dump1, "RoutingMapEntries : 2\n"), "%s",
	    dump1);
	back = dump_to_file(dump1);
	c2 = load_len(back, strlen(back), &errs);
	cr_assert_str_empty(errs, "the dump does not read back:\n%s\nfile:\n%s",
	    errs, back);
	cr_assert_not_null(c2);
	expect_same_conf(c1, c2);
	dump2 = dump(c2);
	cr_expect_str_eq(dump1, dump2);
	free(errs);
	free(back);
	free(dump1);
	free(dump2);
	free(file);
	free(cert);
	free(key);
	free(groups);
	free(secret);
	free(routes);
	conf_unref(c1);
	conf_unref(c2);
}

Test(conf, stats_section)
{
	struct conf *c;
	struct sockaddr_in in = {.sin_family = AF_INET};
	struct sockaddr_in6 in6 = {.sin6_family = AF_INET6};
	const char *tok;
	char text[2048], want[1024];

	/* Off by default; only loopback may ask. */
	c = load_ok(NOTLS);
	cr_assert_null(c->stats.listen);
	cr_assert_null(c->stats.token);
	inet_pton(AF_INET, "127.0.0.1", &in.sin_addr);
	cr_assert(
	    addrset_contains(c->stats.allowed_ips, (struct sockaddr *)&in));
	in6.sin6_addr = in6addr_loopback;
	cr_assert(
	    addrset_contains(c->stats.allowed_ips, (struct sockaddr *)&in6));
	inet_pton(AF_INET, "192.0.2.1", &in.sin_addr);
	cr_assert_not(
	    addrset_contains(c->stats.allowed_ips, (struct sockaddr *)&in));
	conf_unref(c);

	tok = tmpdir_write("token", "s3cr3t-T0ken\nignored\n", 21);
	snprintf(text, sizeof(text),
	    NOTLS "[stats]\nlisten = [::1]:9190\nallowed_ips = 192.0.2.0/24\n"
		  "token_file = %s\n",
	    tok);
	c = load_ok(text);
	cr_assert_str_eq(c->stats.listen, "[::1]:9190");
	cr_assert_eq(c->stats.addr.ss_family, AF_INET6);
	cr_assert_eq(ntohs(((struct sockaddr_in6 *)&c->stats.addr)->sin6_port),
	    9190);
	cr_assert_eq(c->stats.listen_line, 6);
	cr_assert_str_eq(c->stats.token, "s3cr3t-T0ken");
	cr_assert(
	    addrset_contains(c->stats.allowed_ips, (struct sockaddr *)&in));
	inet_pton(AF_INET, "127.0.0.1", &in.sin_addr);
	cr_assert_not(
	    addrset_contains(c->stats.allowed_ips, (struct sockaddr *)&in));
	conf_unref(c);

	c = load_ok(NOTLS "[stats]\nlisten = 127.0.0.1:9190\n");
	cr_assert_eq(c->stats.addr.ss_family, AF_INET);
	conf_unref(c);

	tmpdir_write("empty", "\n", 1);
	tmpdir_write("blank", "two words\n", 10);
	expect_errors(NOTLS "[stats]\nlisten = localhost:9190\n",
	    ":6: [stats] listen: 'localhost:9190' is not address:port or "
	    "[IPv6]:port (numeric, as in 127.0.0.1:9190 or [::1]:9190)\n");
	expect_errors(NOTLS "[stats]\nlisten = 127.0.0.1\n",
	    ":6: [stats] listen: '127.0.0.1' is not address:port or "
	    "[IPv6]:port (numeric, as in 127.0.0.1:9190 or [::1]:9190)\n");
	expect_errors(NOTLS "[stats]\nlisten = ::1:9190\n",
	    ":6: [stats] listen: '::1:9190' is not address:port or "
	    "[IPv6]:port (numeric, as in 127.0.0.1:9190 or [::1]:9190)\n");
	expect_errors(NOTLS "[stats]\nlisten = 127.0.0.1:0\n",
	    ":6: [stats] listen: '127.0.0.1:0': port must be 1-65535\n");
	expect_errors(NOTLS "[stats]\nallowed_ips = 10.0.0.0/33, "
			    "192.0.2.9-192.0.2.1\n",
	    ":6: [stats] allowed_ips: 10.0.0.0/33: prefix length must be 0 "
	    "to 32\n"
	    ":6: [stats] allowed_ips: 192.0.2.9-192.0.2.1: range starts "
	    "after its end\n");
	expect_errors(NOTLS "[stats]\ntoken_file = relative\n",
	    ":6: [stats] token_file: 'relative' is not an absolute path\n");
	snprintf(text, sizeof(text), NOTLS "[stats]\ntoken_file = %s\n",
	    tpath("missing"));
	snprintf(want, sizeof(want),
	    ":6: [stats] token_file: cannot read '%s': No such file or "
	    "directory\n",
	    tpath("missing"));
	expect_errors(text, want);
	snprintf(text, sizeof(text), NOTLS "[stats]\ntoken_file = %s\n",
	    tpath("empty"));
	snprintf(want, sizeof(want),
	    ":6: [stats] token_file: '%s' is empty: no token on its first "
	    "line\n",
	    tpath("empty"));
	expect_errors(text, want);
	snprintf(text, sizeof(text), NOTLS "[stats]\ntoken_file = %s\n",
	    tpath("blank"));
	snprintf(want, sizeof(want),
	    ":6: [stats] token_file: '%s': the token on its first line holds "
	    "a blank or a byte that is not visible ASCII\n",
	    tpath("blank"));
	expect_errors(text, want);
}
