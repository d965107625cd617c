/*
 * testcert: a certificate for postern.test made in memory, for the tests
 * that need one (a TLS context, files for the configuration).
 */
#ifndef POSTERN_TESTCERT_H
#define POSTERN_TESTCERT_H

#include <criterion/criterion.h>
#include <openssl/asn1.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

/*
 * A certificate for postern.test with k's public key, its own issuer,
 * valid from a minute ago for an hour; unsigned, for the caller to add
 * extensions to and sign (testcert_sign()).
 */
static inline X509 *
testcert_new(EVP_PKEY *k)
{
	X509 *x = X509_new();

	cr_assert_not_null(x);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, k);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
	    (const unsigned char *)"postern.test", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	return x;
}

/* Signs x with k. */
static inline void
testcert_sign(X509 *x, EVP_PKEY *k)
{
	cr_assert(X509_sign(x, k, EVP_sha256()) > 0);
}

#endif
