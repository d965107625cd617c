/*
 * ntlm: NTLMSSP message type and Type 3 names (MS-NLMP 2.2.1).
 */
#include "config.h"

#include <stdbool.h>
#include <string.h>

#include "ntlm.h"

static const uint8_t signature[8] = {'N', 'T', 'L', 'M', 'S', 'S', 'P', 0};

/*
 * Offsets in an AUTHENTICATE_MESSAGE (MS-NLMP 2.2.1.3) of its six fields,
 * each a 2-byte length, a 2-byte maximum length (ignored, as Windows
 * does) and a 4-byte offset from the start of the message, and of the
 * flags.  The Version and MIC that may follow the flags are not read, so
 * payload may start right after them: clients that echo a server's
 * NEGOTIATE_VERSION flag without sending a Version (curl) do just that.
 */
#define AUTH_LM 12
#define AUTH_NT 20
#define AUTH_DOMAIN 28
#define AUTH_USER 36
#define AUTH_WORKSTATION 44
#define AUTH_SESSION_KEY 52
#define AUTH_FLAGS 60

static uint16_t
le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t
le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

enum ntlm_error
ntlm_message_type(const void *msg, size_t len, enum ntlm_type *type)
{
	const uint8_t *m = msg;
	uint32_t t;
	size_t min;

	/* A prefix of the signature is a message cut short. */
	if (len < sizeof(signature))
		return len == 0 || memcmp(m, signature, len) == 0 ?
			   NTLM_ERR_TRUNCATED :
			   NTLM_ERR_SIGNATURE;
	if (memcmp(m, signature, sizeof(signature)) != 0)
		return NTLM_ERR_SIGNATURE;
	if (len < sizeof(signature) + 4)
		return NTLM_ERR_TRUNCATED;
	t = le32(m + 8);
	switch (t) {
	case NTLM_NEGOTIATE:
		min = NTLM_NEGOTIATE_MIN;
		break;
	case NTLM_CHALLENGE:
		min = NTLM_CHALLENGE_MIN;
		break;
	case NTLM_AUTHENTICATE:
		min = NTLM_AUTHENTICATE_MIN;
		break;
	default:
		return NTLM_ERR_TYPE;
	}
	if (len < min)
		return NTLM_ERR_TRUNCATED;
	*type = (enum ntlm_type)t;
	return NTLM_OK;
}

/*
 * Checks the field described at m + at: *off and *flen tell where it is.
 * An empty field is not read, so its offset is not held to anything
 * (clients point empty fields anywhere, even at the end of the message).
 */
static enum ntlm_error
field(const uint8_t *m, size_t len, size_t at, size_t *off, size_t *flen)
{
	*flen = le16(m + at);
	*off = le32(m + at + 4);
	if (*flen == 0)
		return NTLM_OK;
	if (*off > len || *flen > len - *off)
		return NTLM_ERR_FIELD_RANGE;
	if (*off < NTLM_AUTHENTICATE_MIN)
		return NTLM_ERR_FIELD_OVERLAP;
	return NTLM_OK;
}

/* Appends code point c as UTF-8 at out[*n], leaving room for a NUL. */
static enum ntlm_error
put_utf8(uint32_t c, char *out, size_t cap, size_t *n)
{
	uint8_t b[4];
	size_t k;

	if (c == 0)
		return NTLM_ERR_NUL;
	/*
	 * C0 controls and DEL: a name holding CR or LF could forge lines in
	 * the daemon log or in a backend dialogue, as in sasl.c.
	 */
	if (c < 0x20 || c == 0x7f)
		return NTLM_ERR_CTRL_CHAR;
	if (c < 0x80) {
		b[0] = (uint8_t)c;
		k = 1;
	} else if (c < 0x800) {
		b[0] = (uint8_t)(0xc0 | c >> 6);
		b[1] = (uint8_t)(0x80 | (c & 0x3f));
		k = 2;
	} else if (c < 0x10000) {
		b[0] = (uint8_t)(0xe0 | c >> 12);
		b[1] = (uint8_t)(0x80 | (c >> 6 & 0x3f));
		b[2] = (uint8_t)(0x80 | (c & 0x3f));
		k = 3;
	} else {
		b[0] = (uint8_t)(0xf0 | c >> 18);
		b[1] = (uint8_t)(0x80 | (c >> 12 & 0x3f));
		b[2] = (uint8_t)(0x80 | (c >> 6 & 0x3f));
		b[3] = (uint8_t)(0x80 | (c & 0x3f));
		k = 4;
	}
	if (cap - 1 - *n < k)
		return NTLM_ERR_TOO_LONG;
	memcpy(out + *n, b, k);
	*n += k;
	return NTLM_OK;
}

/* UTF-16LE (RFC 2781) to UTF-8; out holds cap bytes, cap >= 1. */
static enum ntlm_error
utf16_name(const uint8_t *p, size_t len, char *out, size_t cap)
{
	enum ntlm_error err;
	size_t i, n = 0;
	uint32_t c, lo;

	if (len % 2 != 0)
		return NTLM_ERR_UTF16_ODD;
	for (i = 0; i < len; i += 2) {
		c = le16(p + i);
		if (c >= 0xdc00 && c <= 0xdfff)
			return NTLM_ERR_UTF16_SURROGATE;
		if (c >= 0xd800 && c <= 0xdbff) {
			if (i + 2 >= len)
				return NTLM_ERR_UTF16_SURROGATE;
			lo = le16(p + i + 2);
			if (lo < 0xdc00 || lo > 0xdfff)
				return NTLM_ERR_UTF16_SURROGATE;
			c = 0x10000 + ((c - 0xd800) << 10) + (lo - 0xdc00);
			i += 2;
		}
		if ((err = put_utf8(c, out, cap, &n)) != NTLM_OK)
			return err;
	}
	out[n] = '\0';
	return NTLM_OK;
}

static enum ntlm_error
oem_name(const uint8_t *p, size_t len, char *out, size_t cap)
{
	enum ntlm_error err;
	size_t i, n = 0;

	for (i = 0; i < len; i++) {
		if (p[i] >= 0x80)
			return NTLM_ERR_OEM_NON_ASCII;
		if ((err = put_utf8(p[i], out, cap, &n)) != NTLM_OK)
			return err;
	}
	out[n] = '\0';
	return NTLM_OK;
}

static enum ntlm_error
auth_names(const uint8_t *m, size_t len, char *user, size_t usercap,
    char *domain, size_t domaincap, uint32_t *flagsp)
{
	static const size_t fields[] = {AUTH_LM, AUTH_NT, AUTH_DOMAIN,
	    AUTH_USER, AUTH_WORKSTATION, AUTH_SESSION_KEY};
	size_t i, off[6], flen[6];
	enum ntlm_error err;
	enum ntlm_type type;
	uint32_t flags;
	bool unicode;

	if ((err = ntlm_message_type(m, len, &type)) != NTLM_OK)
		return err;
	if (type != NTLM_AUTHENTICATE)
		return NTLM_ERR_NOT_AUTH;
	for (i = 0; i < 6; i++)
		if ((err = field(m, len, fields[i], &off[i], &flen[i])) !=
		    NTLM_OK)
			return err;
	flags = le32(m + AUTH_FLAGS);
	if (flagsp != NULL)
		*flagsp = flags;
	/* MS-NLMP 3.2.5.1.1: UNICODE wins when a client sets both. */
	if (flags & NTLM_FLAG_UNICODE)
		unicode = true;
	else if (flags & NTLM_FLAG_OEM)
		unicode = false;
	else
		return NTLM_ERR_CHARSET;
	/* fields[3] is the user, fields[2] the domain. */
	if (flen[3] == 0)
		return NTLM_ERR_EMPTY_USER;
	err = unicode ? utf16_name(m + off[3], flen[3], user, usercap) :
			oem_name(m + off[3], flen[3], user, usercap);
	if (err != NTLM_OK)
		return err;
	return unicode ? utf16_name(m + off[2], flen[2], domain, domaincap) :
			 oem_name(m + off[2], flen[2], domain, domaincap);
}

enum ntlm_error
ntlm_auth_names(const void *msg, size_t len, char *user, size_t usercap,
    char *domain, size_t domaincap, uint32_t *flags)
{
	enum ntlm_error err;

	user[0] = '\0';
	domain[0] = '\0';
	if (flags != NULL)
		*flags = 0;
	err = auth_names(msg, len, user, usercap, domain, domaincap, flags);
	if (err != NTLM_OK) {
		memset(user, 0, usercap);
		memset(domain, 0, domaincap);
		if (flags != NULL)
			*flags = 0;
	}
	return err;
}

const char *
ntlm_strerror(enum ntlm_error err)
{
	switch (err) {
	case NTLM_OK:
		return "no error";
	case NTLM_ERR_SIGNATURE:
		return "not an NTLMSSP message (no NTLMSSP signature)";
	case NTLM_ERR_TRUNCATED:
		return "NTLMSSP message shorter than its fixed part";
	case NTLM_ERR_TYPE:
		return "unknown NTLMSSP message type";
	case NTLM_ERR_NOT_AUTH:
		return "NTLMSSP message is not an AUTHENTICATE (Type 3)";
	case NTLM_ERR_FIELD_RANGE:
		return "NTLMSSP field offset or length outside the message";
	case NTLM_ERR_FIELD_OVERLAP:
		return "NTLMSSP field inside the message header";
	case NTLM_ERR_CHARSET:
		return "NTLMSSP message negotiates neither UNICODE nor OEM";
	case NTLM_ERR_UTF16_ODD:
		return "NTLMSSP UTF-16 name of an odd length";
	case NTLM_ERR_UTF16_SURROGATE:
		return "NTLMSSP name with an unpaired UTF-16 surrogate";
	case NTLM_ERR_OEM_NON_ASCII:
		return "NTLMSSP OEM name with non-ASCII bytes";
	case NTLM_ERR_NUL:
		return "NTLMSSP name with a NUL character";
	case NTLM_ERR_CTRL_CHAR:
		return "NTLMSSP name with a control character";
	case NTLM_ERR_EMPTY_USER:
		return "NTLMSSP AUTHENTICATE without a user name (anonymous)";
	case NTLM_ERR_TOO_LONG:
		return "NTLMSSP name too long";
	}
	return "unknown NTLM error";
}
