/*
 * ntlm: the NTLMSSP reader (src/daemon/ntlm.c) on a decoded message, as a
 * client's base64 line decodes to.  Byte 0 of the input picks the
 * capacities of the two name buffers (1 to 64 bytes, or the full
 * NTLM_USER_BUF / NTLM_DOMAIN_BUF); the rest is the message, in a heap
 * copy of its exact size, and each buffer is a heap block of exactly its
 * capacity, so that ASan sees any read or write past either.
 *
 * Invariants: both names are always NUL-terminated inside their buffers
 * and valid UTF-8 (shortest forms, no surrogates) without control
 * characters; a refusal leaves them empty; an accepted message is a Type 3
 * by ntlm_message_type, has a user name, and reads the same with the full
 * buffers; a TOO_LONG refusal with small buffers is never another error
 * with the full ones.
 */
#include "config.h"

#include <stdbool.h>

#include "fuzz.h"
#include "ntlm.h"

/* Checks that s (inside cap bytes) is NUL-terminated, strict UTF-8
 * (RFC 3629) and free of C0 controls and DEL. */
static void
check_name(const char *s, size_t cap)
{
	const uint8_t *p = (const uint8_t *)s;
	size_t n = strnlen(s, cap), i, k;
	uint32_t c, min;

	FUZZ_CHECK(n < cap);
	for (i = 0; i < n; i += k) {
		c = p[i];
		if (c < 0x80) {
			FUZZ_CHECK(c >= 0x20 && c != 0x7f);
			k = 1;
			continue;
		}
		if ((c & 0xe0) == 0xc0) {
			k = 2;
			c &= 0x1f;
			min = 0x80;
		} else if ((c & 0xf0) == 0xe0) {
			k = 3;
			c &= 0x0f;
			min = 0x800;
		} else {
			FUZZ_CHECK((c & 0xf8) == 0xf0);
			k = 4;
			c &= 0x07;
			min = 0x10000;
		}
		FUZZ_CHECK(i + k <= n);
		for (size_t j = 1; j < k; j++) {
			FUZZ_CHECK((p[i + j] & 0xc0) == 0x80);
			c = c << 6 | (p[i + j] & 0x3f);
		}
		FUZZ_CHECK(c >= min && c <= 0x10ffff);
		FUZZ_CHECK(c < 0xd800 || c > 0xdfff);
	}
}

static char *
alloc(size_t n)
{
	char *p = malloc(n);

	FUZZ_CHECK(p != NULL);
	memset(p, 'x', n);
	return p;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum ntlm_error err, full_err;
	enum ntlm_type type = 0;
	size_t ucap, dcap, len;
	char *msg, *user, *domain, *fuser, *fdomain;
	uint32_t flags = 0xdeadbeef;

	if (size < 1)
		return 0;
	ucap = (data[0] & 7) == 7 ? NTLM_USER_BUF : 1 + (data[0] & 7) * 9;
	dcap = (data[0] >> 3 & 7) == 7 ? NTLM_DOMAIN_BUF :
					 1 + (data[0] >> 3 & 7) * 9;
	len = size - 1;
	msg = alloc(len ? len : 1);
	memcpy(msg, data + 1, len);
	user = alloc(ucap);
	domain = alloc(dcap);
	fuser = alloc(NTLM_USER_BUF);
	fdomain = alloc(NTLM_DOMAIN_BUF);

	err = ntlm_auth_names(msg, len, user, ucap, domain, dcap,
	    (data[0] & 0x40) ? NULL : &flags);
	check_name(user, ucap);
	check_name(domain, dcap);
	full_err = ntlm_auth_names(msg, len, fuser, NTLM_USER_BUF, fdomain,
	    NTLM_DOMAIN_BUF, NULL);
	check_name(fuser, NTLM_USER_BUF);
	check_name(fdomain, NTLM_DOMAIN_BUF);
	FUZZ_CHECK(ntlm_strerror(err) != NULL);

	if (err == NTLM_OK) {
		FUZZ_CHECK(ntlm_message_type(msg, len, &type) == NTLM_OK);
		FUZZ_CHECK(type == NTLM_AUTHENTICATE);
		FUZZ_CHECK(user[0] != '\0');
		FUZZ_CHECK(full_err == NTLM_OK);
		FUZZ_CHECK(strcmp(user, fuser) == 0);
		FUZZ_CHECK(strcmp(domain, fdomain) == 0);
		if (!(data[0] & 0x40))
			FUZZ_CHECK(flags & (NTLM_FLAG_UNICODE | NTLM_FLAG_OEM));
	} else {
		FUZZ_CHECK(user[0] == '\0' && domain[0] == '\0');
		if (!(data[0] & 0x40))
			FUZZ_CHECK(flags == 0);
		/* Only the room can differ between the two calls. */
		if (err != NTLM_ERR_TOO_LONG)
			FUZZ_CHECK(full_err == err);
		else
			FUZZ_CHECK(full_err == NTLM_OK ||
				   full_err == NTLM_ERR_TOO_LONG ||
				   full_err == NTLM_ERR_NUL ||
				   full_err == NTLM_ERR_CTRL_CHAR ||
				   full_err == NTLM_ERR_UTF16_SURROGATE ||
				   full_err == NTLM_ERR_OEM_NON_ASCII ||
				   full_err == NTLM_ERR_UTF16_ODD);
		if (full_err == NTLM_OK)
			FUZZ_CHECK(fuser[0] != '\0');
	}
	if (ntlm_message_type(msg, len, &type) == NTLM_OK)
		FUZZ_CHECK(type >= NTLM_NEGOTIATE && type <= NTLM_AUTHENTICATE);
	free(msg);
	free(user);
	free(domain);
	free(fuser);
	free(fdomain);
	return 0;
}
