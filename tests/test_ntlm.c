#include "config.h"

#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ntlm.h"
#include "sasl.h"

/*
 * Real exchanges, base64 as a SASL NTLM client sends them, captured with
 * tests/data/ntlm/capture.py: Samba's ntlm_auth as the client against
 * ntlm_auth as the server through the winbindd of the test domain
 * controller (contrib/samba-test.sh).  The server accepted T3_ALICE
 * ("AF POSTERN\alice"); the others name users it does not know, or were
 * answered to an altered Type 2, which does not matter here.
 */
static const char T1[] =
    "TlRMTVNTUAABAAAABYIIYgAAAAAoAAAAAAAAACgAAAAGAQAAAAAADw==";
static const char T2[] =
    "TlRMTVNTUAACAAAADgAOADgAAAAFgoliYz+bLtIDFocAAAAAAAAAADgAOABGAAAABgEAAAAAAA"
    "9QAE8AUwBUAEUAUgBOAAIADgBQAE8AUwBUAEUAUgBOAAEABgBEAEMAMQAEAAAAAwAEAHYAbQAH"
    "AAgAdmxs8RiG3QEAAAAA";
/* alice in POSTERN, UNICODE. */
static const char T3_ALICE[] =
    "TlRMTVNTUAADAAAAGAAYAFgAAACsAKwAcAAAAA4ADgAcAQAACgAKACoBAAAAAAAANAEAABAAEA"
    "A0AQAABYIIYgYBAAAAAAAPHm8XyKEaf+k/RVBXbXe2YwAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AJ6OI8rOoeV37EtSHv5WJngBAQAAAAAAAHZsbPEYht0BT58mQGwDtVQAAAAAAgAOAFAATwBTAF"
    "QARQBSAE4AAQAGAEQAQwAxAAQAAAADAAQAdgBtAAcACAB2bGzxGIbdAQgAMAAwAAAAAAAAAAAA"
    "AAAAAAAAnsvaTKTKjfsO7UfupGp0D0qOLFjUZHRUHt7HJv0Dbk0KABAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAABQAE8AUwBUAEUAUgBOAGEAbABpAGMAZQClwCZXzh2YIuejJLjlp+MK";
/* zoë (U+00EB) in POSTERN, UNICODE. */
static const char T3_ZOE[] =
    "TlRMTVNTUAADAAAAGAAYAFgAAACsAKwAcAAAAA4ADgAcAQAABgAGACoBAAAAAAAAMAEAABAAEA"
    "AwAQAABYIIYgYBAAAAAAAPa2Ac3wb6iOpb8rAmYArS5QAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AKFnBXb9WgBigQoJ8hiU+Z0BAQAAAAAAACRDPPIYht0BZsNZ6yp/4ZYAAAAAAgAOAFAATwBTAF"
    "QARQBSAE4AAQAGAEQAQwAxAAQAAAADAAQAdgBtAAcACAAkQzzyGIbdAQgAMAAwAAAAAAAAAAAA"
    "AAAAAAAARvupBO5XG2VBPTg3upIn7hGBndn0ewpxFf7jcK2TS94KABAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAABQAE8AUwBUAEUAUgBOAHoAbwDrANLqigAsGzouWkKqd27I6FM=";
/* u<U+1D11E>ser (a surrogate pair) in DOMÄIN, UNICODE. */
static const char T3_CLEF[] =
    "TlRMTVNTUAADAAAAGAAYAFgAAACsAKwAcAAAAAwADAAcAQAADAAMACgBAAAAAAAANAEAABAAEA"
    "A0AQAABYIIYgYBAAAAAAAP/HKnC9oJZIoXtJmo0holqAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "APeHAeUWtMXQndHs2ZPMC60BAQAAAAAAAC4zD/MYht0BAxbMZNRUkxEAAAAAAgAOAFAATwBTAF"
    "QARQBSAE4AAQAGAEQAQwAxAAQAAAADAAQAdgBtAAcACAAuMw/zGIbdAQgAMAAwAAAAAAAAAAAA"
    "AAAAAAAAlgjNrI+8DBWERMZWmCLa/KF4GnzEnjjakihKsBLtp2IKABAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAABEAE8ATQDEAEkATgB1ADTYHt1zAGUAcgAig/7TV9o0T37H38muG2dC";
/* bob in POSTERN, OEM: the client was offered OEM only. */
static const char T3_BOB_OEM[] =
    "TlRMTVNTUAADAAAAGAAYAFgAAACsAKwAcAAAAAcABwAcAQAAAwADACMBAAAAAAAAJgEAABAAEA"
    "AmAQAABoIIYgYBAAAAAAAPE/cUvyH3+tHCPZtl6hPvgQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AGH2A+P5xsqqHQ8Y4sEZquUBAQAAAAAAABYZvvMYht0BU6qwlgQDUWEAAAAAAgAOAFAATwBTAF"
    "QARQBSAE4AAQAGAEQAQwAxAAQAAAADAAQAdgBtAAcACAAWGb7zGIbdAQgAMAAwAAAAAAAAAAAA"
    "AAAAAAAA7nL4sxvXS+Xl+0hC/M63R8WLr/4JcnWJlMhR12nHGWUKABAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAABQT1NURVJOYm9iDVSKnlUkXDs2bw/iTWMlOw==";

/* Offsets of fields in a Type 3 (MS-NLMP 2.2.1.3). */
#define F_NT 20
#define F_DOMAIN 28
#define F_USER 36
#define F_SESSION_KEY 52
#define F_FLAGS 60

struct msg {
	uint8_t b[2048];
	size_t len;
};

static void
decode(const char *b64, struct msg *m)
{
	cr_assert_eq(
	    sasl_b64_decode(b64, strlen(b64), m->b, sizeof(m->b), &m->len), 0);
}

static void
put16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void
put32(uint8_t *p, uint32_t v)
{
	put16(p, v & 0xffff);
	put16(p + 2, v >> 16);
}

/* A field descriptor at m->b + at: length and offset. */
static void
set_field(struct msg *m, size_t at, unsigned len, uint32_t off)
{
	put16(m->b + at, len);
	put16(m->b + at + 2, len);
	put32(m->b + at + 4, off);
}

/*
 * A Type 3 with the given raw domain and user bytes after a 64-byte
 * header, every other field empty.
 */
static void
build(struct msg *m, uint32_t flags, const void *domain, size_t dlen,
    const void *user, size_t ulen)
{
	memset(m, 0, sizeof(*m));
	memcpy(m->b, "NTLMSSP\0", 8);
	put32(m->b + 8, 3);
	set_field(m, F_DOMAIN, (unsigned)dlen, 64);
	set_field(m, F_USER, (unsigned)ulen, (uint32_t)(64 + dlen));
	put32(m->b + F_FLAGS, flags);
	memcpy(m->b + 64, domain, dlen);
	memcpy(m->b + 64 + dlen, user, ulen);
	m->len = 64 + dlen + ulen;
}

static enum ntlm_error
names(const struct msg *m, char *user, size_t ucap, char *domain, size_t dcap)
{
	return ntlm_auth_names(m->b, m->len, user, ucap, domain, dcap, NULL);
}

static enum ntlm_error
utf16_user(const uint16_t *units, size_t n, char *user, size_t ucap)
{
	uint8_t raw[64];
	char domain[NTLM_DOMAIN_BUF];
	struct msg m;
	size_t i;

	cr_assert(n * 2 <= sizeof(raw));
	for (i = 0; i < n; i++)
		put16(raw + 2 * i, units[i]);
	build(&m, NTLM_FLAG_UNICODE, "D\0", 2, raw, n * 2);
	return names(&m, user, ucap, domain, sizeof(domain));
}

Test(ntlm, types_of_a_real_exchange)
{
	const char *b64[] = {T1, T2, T3_ALICE};
	enum ntlm_type want[] = {NTLM_NEGOTIATE, NTLM_CHALLENGE,
	    NTLM_AUTHENTICATE};
	enum ntlm_type type;
	struct msg m;
	size_t i;

	for (i = 0; i < 3; i++) {
		decode(b64[i], &m);
		type = 0;
		cr_assert_eq(ntlm_message_type(m.b, m.len, &type), NTLM_OK);
		cr_assert_eq(type, want[i]);
	}
}

Test(ntlm, real_unicode_type3_names)
{
	char user[NTLM_USER_BUF], domain[NTLM_DOMAIN_BUF];
	uint32_t flags;
	struct msg m;

	decode(T3_ALICE, &m);
	cr_assert_eq(ntlm_auth_names(m.b, m.len, user, sizeof(user), domain,
			 sizeof(domain), &flags),
	    NTLM_OK);
	cr_assert_str_eq(user, "alice");
	cr_assert_str_eq(domain, "POSTERN");
	cr_assert(flags & NTLM_FLAG_UNICODE);

	decode(T3_ZOE, &m);
	cr_assert_eq(names(&m, user, sizeof(user), domain, sizeof(domain)),
	    NTLM_OK);
	cr_assert_str_eq(user, "zo\xc3\xab");
	cr_assert_str_eq(domain, "POSTERN");

	decode(T3_CLEF, &m);
	cr_assert_eq(names(&m, user, sizeof(user), domain, sizeof(domain)),
	    NTLM_OK);
	cr_assert_str_eq(user, "u\xf0\x9d\x84\x9eser");
	cr_assert_str_eq(domain, "DOM\xc3\x84IN");
}

Test(ntlm, real_oem_type3_names)
{
	char user[NTLM_USER_BUF], domain[NTLM_DOMAIN_BUF];
	uint32_t flags;
	struct msg m;

	decode(T3_BOB_OEM, &m);
	cr_assert_eq(ntlm_auth_names(m.b, m.len, user, sizeof(user), domain,
			 sizeof(domain), &flags),
	    NTLM_OK);
	cr_assert_str_eq(user, "bob");
	cr_assert_str_eq(domain, "POSTERN");
	cr_assert_eq(flags & (NTLM_FLAG_UNICODE | NTLM_FLAG_OEM),
	    NTLM_FLAG_OEM);
}

Test(ntlm, type1_and_type2_are_not_authenticate)
{
	char user[8] = "x", domain[8] = "y";
	struct msg m;

	decode(T1, &m);
	cr_assert_eq(names(&m, user, sizeof(user), domain, sizeof(domain)),
	    NTLM_ERR_NOT_AUTH);
	cr_assert_str_eq(user, "");
	cr_assert_str_eq(domain, "");
	decode(T2, &m);
	cr_assert_eq(names(&m, user, sizeof(user), domain, sizeof(domain)),
	    NTLM_ERR_NOT_AUTH);
}

Test(ntlm, every_truncation_of_a_real_type3_is_refused)
{
	char user[NTLM_USER_BUF], domain[NTLM_DOMAIN_BUF];
	enum ntlm_error err;
	struct msg m;
	uint8_t *copy;
	size_t n;

	decode(T3_ALICE, &m);
	for (n = 0; n < m.len; n++) {
		/* A heap block of exactly n bytes: ASan sees overreads. */
		copy = malloc(n ? n : 1);
		cr_assert_not_null(copy);
		memcpy(copy, m.b, n);
		memset(user, 'x', sizeof(user));
		memset(domain, 'x', sizeof(domain));
		err = ntlm_auth_names(copy, n, user, sizeof(user), domain,
		    sizeof(domain), NULL);
		free(copy);
		if (n < 8)
			cr_assert_eq(err, NTLM_ERR_TRUNCATED, "n=%zu", n);
		else if (n < NTLM_AUTHENTICATE_MIN)
			cr_assert_eq(err, NTLM_ERR_TRUNCATED, "n=%zu", n);
		else
			cr_assert_eq(err, NTLM_ERR_FIELD_RANGE, "n=%zu", n);
		cr_assert_str_eq(user, "");
		cr_assert_str_eq(domain, "");
	}
}

Test(ntlm, signature_and_type_checked)
{
	enum ntlm_type type = 0;
	struct msg m;

	decode(T3_ALICE, &m);
	m.b[6] = 'Q';
	cr_assert_eq(ntlm_message_type(m.b, m.len, &type), NTLM_ERR_SIGNATURE);
	cr_assert_eq(ntlm_message_type("NTLMSSQ", 7, &type),
	    NTLM_ERR_SIGNATURE);
	cr_assert_eq(ntlm_message_type("NTLM", 4, &type), NTLM_ERR_TRUNCATED);
	decode(T3_ALICE, &m);
	put32(m.b + 8, 4);
	cr_assert_eq(ntlm_message_type(m.b, m.len, &type), NTLM_ERR_TYPE);
	/* A Type 2 cut inside its challenge. */
	decode(T2, &m);
	cr_assert_eq(ntlm_message_type(m.b, NTLM_CHALLENGE_MIN - 1, &type),
	    NTLM_ERR_TRUNCATED);
	cr_assert_eq(type, 0);
}

Test(ntlm, offsets_past_the_end_are_refused)
{
	char user[NTLM_USER_BUF], domain[NTLM_DOMAIN_BUF];
	struct msg m;
	uint32_t off;

	decode(T3_ALICE, &m);
	/* The user field ends exactly at the end of the message: fine. */
	off = (uint32_t)(m.len - 10);
	set_field(&m, F_USER, 10, off);
	cr_assert_eq(names(&m, user, sizeof(user), domain, sizeof(domain)),
	    NTLM_OK);
	/* One byte further is not. */
	set_field(&m, F_USER, 10, off + 1);
	cr_assert_eq(names(&m, user, sizeof(user), domain, sizeof(domain)),
	    NTLM_ERR_FIELD_RANGE);
	set_field(&m, F_USER, 10, (uint32_t)m.len);
	cr_assert_eq(names(&m, user, sizeof(user), domain, sizeof(domain)),
	    NTLM_ERR_FIELD_RANGE);
	/* An offset that wraps a 32-bit sum around. */
	set_field(&m, F_USER, 0xffff, 0xffffff00u);
	cr_assert_eq(names(&m, user, sizeof(user), domain, sizeof(domain)),
	    NTLM_ERR_FIELD_RANGE);
	cr_assert_str_eq(user, "");

	/* A field that is not read is checked all the same. */
	decode(T3_ALICE, &m);
	set_field(&m, F_NT, 0xac, (uint32_t)m.len - 0xab);
	cr_assert_eq(names(&m, user, sizeof(user), domain, sizeof(domain)),
	    NTLM_ERR_FIELD_RANGE);
	decode(T3_ALICE, &m);
	set_field(&m, F_SESSION_KEY, 16, 0x7fffffff);
	cr_assert_eq(names(&m, user, sizeof(user), domain, sizeof(domain)),
	    NTLM_ERR_FIELD_RANGE);
	/* An empty field is not read: its offset does not matter. */
	set_field(&m, F_SESSION_KEY, 0, 0xffffffffu);
	cr_assert_eq(names(&m, user, sizeof(user), domain, sizeof(domain)),
	    NTLM_OK);
	cr_assert_str_eq(user, "alice");
}

Test(ntlm, fields_inside_the_header_are_refused)
{
	char user[NTLM_USER_BUF], domain[NTLM_DOMAIN_BUF];
	struct msg m;

	decode(T3_ALICE, &m);
	/* "user" pointing at the signature. */
	set_field(&m, F_USER, 8, 0);
	cr_assert_eq(names(&m, user, sizeof(user), domain, sizeof(domain)),
	    NTLM_ERR_FIELD_OVERLAP);
	set_field(&m, F_USER, 8, NTLM_AUTHENTICATE_MIN - 1);
	cr_assert_eq(names(&m, user, sizeof(user), domain, sizeof(domain)),
	    NTLM_ERR_FIELD_OVERLAP);
	cr_assert_str_eq(user, "");
}

Test(ntlm, utf16_odd_length_and_lone_surrogates)
{
	static const uint16_t lone_high_end[] = {'a', 0xd834};
	static const uint16_t lone_high[] = {0xd834, 'a'};
	static const uint16_t lone_low[] = {'a', 0xdd1e, 'b'};
	static const uint16_t reversed[] = {0xdd1e, 0xd834};
	static const uint16_t two_high[] = {0xd834, 0xd834, 0xdd1e};
	static const uint16_t pair[] = {0xd834, 0xdd1e};
	char user[NTLM_USER_BUF], domain[NTLM_DOMAIN_BUF];
	struct msg m;

	build(&m, NTLM_FLAG_UNICODE, "D\0", 2, "a\0b", 3);
	cr_assert_eq(names(&m, user, sizeof(user), domain, sizeof(domain)),
	    NTLM_ERR_UTF16_ODD);
	build(&m, NTLM_FLAG_UNICODE, "D", 1, "a\0", 2);
	cr_assert_eq(names(&m, user, sizeof(user), domain, sizeof(domain)),
	    NTLM_ERR_UTF16_ODD);
	cr_assert_eq(utf16_user(lone_high_end, 2, user, sizeof(user)),
	    NTLM_ERR_UTF16_SURROGATE);
	cr_assert_eq(utf16_user(lone_high, 2, user, sizeof(user)),
	    NTLM_ERR_UTF16_SURROGATE);
	cr_assert_eq(utf16_user(lone_low, 3, user, sizeof(user)),
	    NTLM_ERR_UTF16_SURROGATE);
	cr_assert_eq(utf16_user(reversed, 2, user, sizeof(user)),
	    NTLM_ERR_UTF16_SURROGATE);
	cr_assert_eq(utf16_user(two_high, 3, user, sizeof(user)),
	    NTLM_ERR_UTF16_SURROGATE);
	cr_assert_str_eq(user, "");
	cr_assert_eq(utf16_user(pair, 2, user, sizeof(user)), NTLM_OK);
	cr_assert_str_eq(user, "\xf0\x9d\x84\x9e");
}

Test(ntlm, nul_and_control_characters_in_names)
{
	static const uint16_t nul[] = {'a', 0, 'b'};
	static const uint16_t cr[] = {'a', '\r', 'b'};
	static const uint16_t del[] = {'a', 0x7f};
	char user[NTLM_USER_BUF], domain[NTLM_DOMAIN_BUF];
	struct msg m;

	cr_assert_eq(utf16_user(nul, 3, user, sizeof(user)), NTLM_ERR_NUL);
	cr_assert_eq(utf16_user(cr, 3, user, sizeof(user)), NTLM_ERR_CTRL_CHAR);
	cr_assert_eq(utf16_user(del, 2, user, sizeof(user)),
	    NTLM_ERR_CTRL_CHAR);
	build(&m, NTLM_FLAG_OEM, "DOM", 3, "al\0ce", 5);
	cr_assert_eq(names(&m, user, sizeof(user), domain, sizeof(domain)),
	    NTLM_ERR_NUL);
	build(&m, NTLM_FLAG_OEM, "DO\nM", 4, "alice", 5);
	cr_assert_eq(names(&m, user, sizeof(user), domain, sizeof(domain)),
	    NTLM_ERR_CTRL_CHAR);
	cr_assert_str_eq(user, "");
	cr_assert_str_eq(domain, "");
}

Test(ntlm, oem_names_must_be_ascii)
{
	char user[NTLM_USER_BUF], domain[NTLM_DOMAIN_BUF];
	struct msg m;

	build(&m, NTLM_FLAG_OEM, "DOM", 3, "zo\x89", 3);
	cr_assert_eq(names(&m, user, sizeof(user), domain, sizeof(domain)),
	    NTLM_ERR_OEM_NON_ASCII);
	build(&m, NTLM_FLAG_OEM, "DOM", 3, "zoe", 3);
	cr_assert_eq(names(&m, user, sizeof(user), domain, sizeof(domain)),
	    NTLM_OK);
	cr_assert_str_eq(user, "zoe");
	/* UNICODE wins when both are set. */
	build(&m, NTLM_FLAG_UNICODE | NTLM_FLAG_OEM, "D\0", 2, "z\0o\0", 4);
	cr_assert_eq(names(&m, user, sizeof(user), domain, sizeof(domain)),
	    NTLM_OK);
	cr_assert_str_eq(user, "zo");
	build(&m, 0, "D\0", 2, "z\0o\0", 4);
	cr_assert_eq(names(&m, user, sizeof(user), domain, sizeof(domain)),
	    NTLM_ERR_CHARSET);
}

Test(ntlm, names_longer_than_their_buffers)
{
	char user[NTLM_USER_BUF], domain[NTLM_DOMAIN_BUF], small[7];
	uint8_t raw[2 * 300];
	struct msg m;
	size_t i;

	decode(T3_ALICE, &m);
	/* "alice" and its NUL take 6 bytes; 5 are too few. */
	cr_assert_eq(names(&m, small, 6, domain, sizeof(domain)), NTLM_OK);
	cr_assert_str_eq(small, "alice");
	memset(small, 'x', sizeof(small));
	cr_assert_eq(names(&m, small, 5, domain, sizeof(domain)),
	    NTLM_ERR_TOO_LONG);
	cr_assert_str_eq(small, "");
	cr_assert_eq(small[5], 'x');
	/* "POSTERN" needs 8. */
	cr_assert_eq(names(&m, user, sizeof(user), small, 7),
	    NTLM_ERR_TOO_LONG);
	/* A multi-byte character that does not fit whole is not cut. */
	decode(T3_ZOE, &m);
	cr_assert_eq(names(&m, small, 4, domain, sizeof(domain)),
	    NTLM_ERR_TOO_LONG);
	cr_assert_eq(names(&m, small, 5, domain, sizeof(domain)), NTLM_OK);
	/* 300 characters do not fit the recommended buffer. */
	for (i = 0; i < 300; i++)
		put16(raw + 2 * i, 'a');
	build(&m, NTLM_FLAG_UNICODE, "D\0", 2, raw, sizeof(raw));
	cr_assert_eq(names(&m, user, sizeof(user), domain, sizeof(domain)),
	    NTLM_ERR_TOO_LONG);
	build(&m, NTLM_FLAG_UNICODE, "D\0", 2, raw, 2 * (NTLM_USER_BUF - 1));
	cr_assert_eq(names(&m, user, sizeof(user), domain, sizeof(domain)),
	    NTLM_OK);
	cr_assert_eq(strlen(user), NTLM_USER_BUF - 1);
}

Test(ntlm, anonymous_type3_is_refused)
{
	char user[NTLM_USER_BUF], domain[NTLM_DOMAIN_BUF];
	struct msg m;

	build(&m, NTLM_FLAG_UNICODE, "", 0, "", 0);
	cr_assert_eq(names(&m, user, sizeof(user), domain, sizeof(domain)),
	    NTLM_ERR_EMPTY_USER);
	/* An empty domain is fine: the user may be a UPN. */
	build(&m, NTLM_FLAG_OEM, "", 0, "alice@postern.test", 18);
	cr_assert_eq(names(&m, user, sizeof(user), domain, sizeof(domain)),
	    NTLM_OK);
	cr_assert_str_eq(user, "alice@postern.test");
	cr_assert_str_eq(domain, "");
}

Test(ntlm, every_error_is_described)
{
	int e;

	for (e = NTLM_OK; e <= NTLM_ERR_TOO_LONG; e++) {
		cr_assert_not_null(ntlm_strerror((enum ntlm_error)e));
		cr_assert_str_neq(ntlm_strerror((enum ntlm_error)e),
		    "unknown NTLM error");
	}
}
