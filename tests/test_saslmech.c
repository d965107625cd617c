#include "config.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "saslmech.h"
#include "sasl.h"

static char user[SASLMECH_USER_MAX + 1];
static const char *why;

static enum saslmech_user
x2(const char *msg, size_t len)
{
	return saslmech_xoauth2_user((const unsigned char *)msg, len, 0, user,
	    &why);
}

static enum saslmech_user
ob(const char *msg, size_t len)
{
	return saslmech_oauthbearer_user((const unsigned char *)msg, len, 0,
	    user, &why);
}

#define X2(lit) x2(lit, sizeof(lit) - 1)
#define OB(lit) ob(lit, sizeof(lit) - 1)

/* Google's documented example (developers.google.com, "OAuth 2.0
 * Mechanism"), the one Thunderbird and Outlook send. */
Test(saslmech, xoauth2_user_from_googles_example)
{
	cr_assert_eq(X2("user=someuser@example.com\1auth=Bearer "
			"ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg\1\1"),
	    SASLMECH_USER_FOUND);
	cr_assert_str_eq(user, "someuser@example.com");
	cr_assert_null(why);
}

Test(saslmech, xoauth2_pairs_in_any_order)
{
	cr_assert_eq(X2("auth=Bearer abc\1user=bob\1\1"), SASLMECH_USER_FOUND);
	cr_assert_str_eq(user, "bob");
	/* "Bearer" is a scheme name: case does not matter (RFC 7235). */
	cr_assert_eq(X2("user=bob\1auth=bearer abc\1\1"), SASLMECH_USER_FOUND);
}

Test(saslmech, xoauth2_without_user_is_missing)
{
	cr_assert_eq(X2("auth=Bearer abc\1\1"), SASLMECH_USER_MISSING);
	cr_assert_not_null(why);
	cr_assert_eq(X2("user=\1auth=Bearer abc\1\1"), SASLMECH_USER_MISSING);
	cr_assert_str_eq(user, "");
}

Test(saslmech, xoauth2_malformed_forms)
{
	static const struct {
		const char *m;
		size_t n;
	} bad[] = {
#define B(lit) {lit, sizeof(lit) - 1}
	    B(""),
	    B("user=bob"),                       /* no ^A at all */
	    B("user=bob\1auth=Bearer abc\1"),    /* no closing ^A */
	    B("user=bob\1auth=Bearer abc"),      /* cut */
	    B("user=bob\1auth=Bearer abc\1\1x"), /* bytes after the end */
	    B("user=bob\1\1"),                   /* no token */
	    B("user=bob\1auth=Basic abc\1\1"),   /* not a bearer token */
	    B("user=bob\1auth=Bearer \1\1"),     /* empty token */
	    B("user=bob\1auth=Bearer a\1auth=Bearer b\1\1"),
	    B("user=a\1user=b\1auth=Bearer abc\1\1"),
	    B("user=bo\rb\1auth=Bearer abc\1\1"), /* CR in the name */
	    B("user=bo\0b\1auth=Bearer abc\1\1"), /* NUL in the name */
	    B("=x\1auth=Bearer abc\1\1"),         /* empty key */
	    B("us er=x\1auth=Bearer abc\1\1"),    /* key not letters */
	    B("\1\1"),
#undef B
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(x2(bad[i].m, bad[i].n), SASLMECH_USER_MALFORMED,
		    "case %zu", i);
		cr_assert_not_null(why, "case %zu", i);
		cr_assert_str_eq(user, "", "case %zu", i);
	}
}

Test(saslmech, xoauth2_user_at_the_bound)
{
	char msg[600];
	int n;

	memset(user, 'u', SASLMECH_USER_MAX);
	n = snprintf(msg, sizeof(msg), "user=%.*s\1auth=Bearer t\1\1",
	    SASLMECH_USER_MAX, user);
	cr_assert_eq(x2(msg, (size_t)n), SASLMECH_USER_FOUND);
	cr_assert_eq(strlen(user), SASLMECH_USER_MAX);
	memset(user, 'u', SASLMECH_USER_MAX);
	n = snprintf(msg, sizeof(msg), "user=%.*su\1auth=Bearer t\1\1",
	    SASLMECH_USER_MAX, user);
	cr_assert_eq(x2(msg, (size_t)n), SASLMECH_USER_MALFORMED);
}

Test(saslmech, later_messages_name_nobody)
{
	cr_assert_eq(
	    saslmech_xoauth2_user((const unsigned char *)"", 0, 1, user, &why),
	    SASLMECH_USER_NONE);
	cr_assert_eq(saslmech_oauthbearer_user((const unsigned char *)"\1", 1,
			 1, user, &why),
	    SASLMECH_USER_NONE);
}

/* RFC 7628 section 4.1's example. */
Test(saslmech, oauthbearer_user_from_rfc7628_example)
{
	cr_assert_eq(OB("n,a=user@example.com,\1host=server.example.com\1"
			"port=143\1auth=Bearer "
			"vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\1\1"),
	    SASLMECH_USER_FOUND);
	cr_assert_str_eq(user, "user@example.com");
}

Test(saslmech, oauthbearer_saslname_escapes)
{
	cr_assert_eq(OB("y,a=a=2Cb=3Dc,\1auth=Bearer t\1\1"),
	    SASLMECH_USER_FOUND);
	cr_assert_str_eq(user, "a,b=c");
	cr_assert_eq(OB("n,a=a=2cb=3dc,\1auth=Bearer t\1\1"),
	    SASLMECH_USER_FOUND);
	cr_assert_str_eq(user, "a,b=c");
}

/* RFC 7628 section 3.1 makes the authzid optional; the token alone says
 * who the user is, and postern cannot read it. */
Test(saslmech, oauthbearer_without_authzid_is_missing)
{
	cr_assert_eq(OB("n,,\1auth=Bearer t\1\1"), SASLMECH_USER_MISSING);
	cr_assert_eq(OB("n,a=,\1auth=Bearer t\1\1"), SASLMECH_USER_MISSING);
}

Test(saslmech, oauthbearer_malformed_forms)
{
	static const struct {
		const char *m;
		size_t n;
	} bad[] = {
#define B(lit) {lit, sizeof(lit) - 1}
	    B(""), B("n"),
	    B("x,a=bob,\1auth=Bearer t\1\1"),   /* bad cbind flag */
	    B("nn,a=bob,\1auth=Bearer t\1\1"),  /* bad cbind flag */
	    B("n,a=bob\1auth=Bearer t\1\1"),    /* header not closed */
	    B("n,b=bob,\1auth=Bearer t\1\1"),   /* not a= */
	    B("n,a=b=4Fb,\1auth=Bearer t\1\1"), /* bad escape */
	    B("n,a=bob=2,\1auth=Bearer t\1\1"), /* cut escape */
	    B("n,a=bob=,\1auth=Bearer t\1\1"),  /* cut escape */
	    B("n,a=bob,auth=Bearer t\1\1"),     /* no kvsep */
	    B("n,a=bob,\1auth=Bearer t\1"),     /* not closed */
	    B("n,a=bob,\1host=x\1\1"),          /* no token */
	    B("n,a=bob,"),
	    B("n,a=b\nob,\1auth=Bearer t\1\1"), /* LF in the name */
#undef B
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(ob(bad[i].m, bad[i].n), SASLMECH_USER_MALFORMED,
		    "case %zu", i);
		cr_assert_not_null(why, "case %zu", i);
		cr_assert_str_eq(user, "", "case %zu", i);
	}
}

Test(saslmech, oauthbearer_long_authzid_refused)
{
	char msg[700], name[SASLMECH_USER_MAX];
	int n;

	memset(name, 'u', sizeof(name));
	n = snprintf(msg, sizeof(msg), "n,a=%.*su,\1auth=Bearer t\1\1",
	    SASLMECH_USER_MAX, name);
	cr_assert_eq(ob(msg, (size_t)n), SASLMECH_USER_MALFORMED);
	n = snprintf(msg, sizeof(msg), "n,a=%.*s,\1auth=Bearer t\1\1",
	    SASLMECH_USER_MAX, name);
	cr_assert_eq(ob(msg, (size_t)n), SASLMECH_USER_FOUND);
}

/* A message cut at every byte never yields a user, and never reads past
 * its end (ASan watches the heap copy of exactly that size). */
Test(saslmech, every_prefix_refused)
{
	static const char x[] = "user=bob\1auth=Bearer abc\1\1";
	static const char o[] = "n,a=bob,\1auth=Bearer abc\1\1";

	for (size_t n = 0; n < sizeof(x) - 1; n++) {
		char *p = malloc(n ? n : 1);

		memcpy(p, x, n);
		cr_assert_neq(x2(p, n), SASLMECH_USER_FOUND, "cut at %zu", n);
		free(p);
	}
	for (size_t n = 0; n < sizeof(o) - 1; n++) {
		char *p = malloc(n ? n : 1);

		memcpy(p, o, n);
		cr_assert_neq(ob(p, n), SASLMECH_USER_FOUND, "cut at %zu", n);
		free(p);
	}
}

Test(saslmech, names_and_capabilities)
{
	char out[128];

	cr_assert_eq(saslmech_by_name("xoauth2", 7)->id, SASLMECH_XOAUTH2);
	cr_assert_null(saslmech_by_name("PLAIN", 5));
	cr_assert_null(saslmech_by_name("XOAUTH", 6));
	cr_assert_eq(saslmech_imap_caps("IMAP4rev1 SASL-IR AUTH=PLAIN "
					"AUTH=XOAUTH2 AUTH=oauthbearer",
			 strlen("IMAP4rev1 SASL-IR AUTH=PLAIN AUTH=XOAUTH2 "
				"AUTH=oauthbearer")),
	    1u << SASLMECH_XOAUTH2 | 1u << SASLMECH_OAUTHBEARER);
	cr_assert_eq(saslmech_imap_caps("XOAUTH2 AUTH=", 13), 0);
	cr_assert_eq(saslmech_pop3_capa("SASL PLAIN NTLM XOAUTH2", 23),
	    1u << SASLMECH_NTLM | 1u << SASLMECH_XOAUTH2);
	cr_assert_eq(saslmech_pop3_capa("USER XOAUTH2", 12), 0);
	cr_assert_eq(
	    saslmech_list(1u << SASLMECH_XOAUTH2 | 1u << SASLMECH_OAUTHBEARER,
		" AUTH=", out, sizeof(out)),
	    0);
	cr_assert_str_eq(out, " AUTH=XOAUTH2 AUTH=OAUTHBEARER");
	cr_assert_eq(saslmech_list(SASLMECH_ALL, " ", out, 10), -1);
	cr_assert_str_eq(out, "");
}

/*
 * NTLM: the Type 1 and Type 3 of a real exchange (tests/data/ntlm, the
 * same capture as test_ntlm.c): alice in POSTERN, UNICODE.
 */
static const char NT1[] =
    "TlRMTVNTUAABAAAABYIIYgAAAAAoAAAAAAAAACgAAAAGAQAAAAAADw==";
static const char NT2[] =
    "TlRMTVNTUAACAAAADgAOADgAAAAFgoliYz+bLtIDFocAAAAAAAAAADgAOABGAAAABgEAAAAAAA"
    "9QAE8AUwBUAEUAUgBOAAIADgBQAE8AUwBUAEUAUgBOAAEABgBEAEMAMQAEAAAAAwAEAHYAbQAH"
    "AAgAdmxs8RiG3QEAAAAA";
static const char NT3[] =
    "TlRMTVNTUAADAAAAGAAYAFgAAACsAKwAcAAAAA4ADgAcAQAACgAKACoBAAAAAAAANAEAABAAEA"
    "A0AQAABYIIYgYBAAAAAAAPHm8XyKEaf+k/RVBXbXe2YwAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AJ6OI8rOoeV37EtSHv5WJngBAQAAAAAAAHZsbPEYht0BT58mQGwDtVQAAAAAAgAOAFAATwBTAF"
    "QARQBSAE4AAQAGAEQAQwAxAAQAAAADAAQAdgBtAAcACAB2bGzxGIbdAQgAMAAwAAAAAAAAAAAA"
    "AAAAAAAAnsvaTKTKjfsO7UfupGp0D0qOLFjUZHRUHt7HJv0Dbk0KABAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAABQAE8AUwBUAEUAUgBOAGEAbABpAGMAZQClwCZXzh2YIuejJLjlp+MK";

static unsigned char nbuf[2048];

static size_t
nt_decode(const char *b64)
{
	size_t len;

	cr_assert_eq(
	    sasl_b64_decode(b64, strlen(b64), nbuf, sizeof(nbuf), &len), 0);
	return len;
}

static enum saslmech_user
nt(size_t len, unsigned n)
{
	return saslmech_ntlm_user(nbuf, len, n, user, &why);
}

/* A Type 3 whose domain and user are the given OEM (ASCII) bytes. */
static size_t
nt_type3(const char *domain, const char *name)
{
	size_t dlen = strlen(domain), ulen = strlen(name);

	memset(nbuf, 0, 64);
	memcpy(nbuf, "NTLMSSP\0", 8);
	nbuf[8] = 3;
	nbuf[28] = nbuf[30] = (unsigned char)dlen;
	nbuf[32] = 64;
	nbuf[36] = nbuf[38] = (unsigned char)ulen;
	nbuf[40] = (unsigned char)(64 + dlen);
	nbuf[60] = 0x02; /* NTLM_NEGOTIATE_OEM */
	memcpy(nbuf + 64, domain, dlen);
	memcpy(nbuf + 64 + dlen, name, ulen);
	return 64 + dlen + ulen;
}

Test(saslmech, ntlm_user_from_the_type3_only)
{
	size_t len;

	len = nt_decode(NT1);
	cr_assert_eq(nt(len, 0), SASLMECH_USER_NONE);
	cr_assert_str_eq(user, "");
	len = nt_decode(NT3);
	cr_assert_eq(nt(len, 1), SASLMECH_USER_FOUND);
	cr_assert_str_eq(user, "POSTERN\\alice");
	/* NTLM ends with the Type 3: nothing may follow it. */
	cr_assert_eq(nt(len, 2), SASLMECH_USER_MALFORMED);
	cr_assert_not_null(why);
}

Test(saslmech, ntlm_messages_out_of_order_are_malformed)
{
	size_t len;

	/* A Type 3 (or Type 2) where the Type 1 belongs, and the reverse. */
	len = nt_decode(NT3);
	cr_assert_eq(nt(len, 0), SASLMECH_USER_MALFORMED);
	len = nt_decode(NT2);
	cr_assert_eq(nt(len, 0), SASLMECH_USER_MALFORMED);
	cr_assert_eq(nt(len, 1), SASLMECH_USER_MALFORMED);
	len = nt_decode(NT1);
	cr_assert_eq(nt(len, 1), SASLMECH_USER_MALFORMED);
	cr_assert_str_eq(user, "");
	cr_assert_eq(nt(0, 0), SASLMECH_USER_MALFORMED);
	memcpy(nbuf, "not ntlm at all", 15);
	cr_assert_eq(nt(15, 0), SASLMECH_USER_MALFORMED);
}

Test(saslmech, ntlm_type3_offsets_past_the_end_are_malformed)
{
	size_t len = nt_decode(NT3);

	/* The user field's offset (bytes 40..43) one past the end. */
	nbuf[40] = (unsigned char)(len - 9);
	nbuf[41] = (unsigned char)((len - 9) >> 8);
	cr_assert_eq(nt(len, 1), SASLMECH_USER_MALFORMED);
	cr_assert_str_eq(user, "");
	cr_assert_not_null(why);
	/* Every cut of the real Type 3 is refused (ASan watches reads). */
	len = nt_decode(NT3);
	for (size_t n = 0; n < len; n++) {
		unsigned char *p = malloc(n ? n : 1);

		memcpy(p, nbuf, n);
		cr_assert_eq(saslmech_ntlm_user(p, n, 1, user, &why),
		    SASLMECH_USER_MALFORMED, "cut at %zu", n);
		free(p);
	}
}

Test(saslmech, ntlm_name_forms)
{
	/* A UPN comes with an empty domain, and stays as it is. */
	cr_assert_eq(nt(nt_type3("", "bob@postern.test"), 1),
	    SASLMECH_USER_FOUND);
	cr_assert_str_eq(user, "bob@postern.test");
	cr_assert_eq(nt(nt_type3("", "bob"), 1), SASLMECH_USER_FOUND);
	cr_assert_str_eq(user, "bob");
	cr_assert_eq(nt(nt_type3("D", "bob"), 1), SASLMECH_USER_FOUND);
	cr_assert_str_eq(user, "D\\bob");
	/* A separator inside a part would let the client choose the split. */
	cr_assert_eq(nt(nt_type3("D", "x\\bob"), 1), SASLMECH_USER_MALFORMED);
	cr_assert_eq(nt(nt_type3("D\\E", "bob"), 1), SASLMECH_USER_MALFORMED);
	cr_assert_eq(nt(nt_type3("D", "bob@e"), 1), SASLMECH_USER_MALFORMED);
	cr_assert_eq(nt(nt_type3("D@E", "bob"), 1), SASLMECH_USER_MALFORMED);
	cr_assert_str_eq(user, "");
}

Test(saslmech, ntlm_domain_and_user_within_the_bound)
{
	char d[200], u[200];

	memset(d, 'd', sizeof(d));
	memset(u, 'u', sizeof(u));
	/* 100 + 1 + 154 = 255 bytes fit; one more does not. */
	d[100] = '\0';
	u[154] = '\0';
	cr_assert_eq(nt(nt_type3(d, u), 1), SASLMECH_USER_FOUND);
	cr_assert_eq(strlen(user), SASLMECH_USER_MAX);
	u[154] = 'u';
	u[155] = '\0';
	cr_assert_eq(nt(nt_type3(d, u), 1), SASLMECH_USER_MALFORMED);
	cr_assert_str_eq(user, "");
}

Test(saslmech, gssapi_names_nobody)
{
	cr_assert_eq(saslmech_gssapi_user((const unsigned char *)"\x60\x82", 2,
			 0, user, &why),
	    SASLMECH_USER_NONE);
	cr_assert_eq(
	    saslmech_gssapi_user((const unsigned char *)"", 0, 3, user, &why),
	    SASLMECH_USER_NONE);
	cr_assert_eq(saslmech_get(SASLMECH_GSSAPI)->user_at,
	    SASLMECH_USER_AT_NONE);
	cr_assert_eq(saslmech_get(SASLMECH_NTLM)->user_at,
	    SASLMECH_USER_AT_LAST);
	cr_assert_eq(saslmech_get(SASLMECH_XOAUTH2)->user_at,
	    SASLMECH_USER_AT_FIRST);
}
