/*
 * sasl: SASL PLAIN / LOGIN credential decoding and checking.
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "sasl.h"

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int
b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int
sasl_b64_decode(const char *in, size_t inlen, void *out, size_t cap,
    size_t *outlen)
{
	const unsigned char *s = (const unsigned char *)in;
	uint8_t *o = out;
	size_t i, n = 0;

	if (inlen % 4 != 0)
		return -1;
	for (i = 0; i < inlen; i += 4) {
		int v[4], k, pad = 0;
		bool last = i + 4 == inlen;

		for (k = 0; k < 4; k++) {
			if (s[i + k] == '=' && last && k >= 2) {
				v[k] = 0;
				pad++;
				continue;
			}
			/* Data after a '=' (as in "ab=c") is not canonical. */
			if (pad > 0)
				return -1;
			if ((v[k] = b64_value(s[i + k])) < 0)
				return -1;
		}
		/*
		 * RFC 4648 section 3.5: the bits that the padding leaves
		 * unused must be zero, or two encodings decode to one value.
		 */
		if ((pad == 2 && (v[1] & 0x0f) != 0) ||
		    (pad == 1 && (v[2] & 0x03) != 0))
			return -1;
		if (cap - n < (size_t)(3 - pad))
			return -1;
		o[n++] = (uint8_t)(v[0] << 2 | v[1] >> 4);
		if (pad < 2)
			o[n++] = (uint8_t)((v[1] & 0x0f) << 4 | v[2] >> 2);
		if (pad < 1)
			o[n++] = (uint8_t)((v[2] & 0x03) << 6 | v[3]);
	}
	*outlen = n;
	return 0;
}

int
sasl_b64_encode(const void *in, size_t inlen, char *out, size_t cap)
{
	const uint8_t *s = in;
	size_t i, n = 0;

	if (inlen > SIZE_MAX / 4 * 3 - 3 || cap < SASL_B64_LEN(inlen) + 1)
		return -1;
	for (i = 0; i + 2 < inlen; i += 3) {
		out[n++] = b64_alphabet[s[i] >> 2];
		out[n++] = b64_alphabet[(s[i] & 0x03) << 4 | s[i + 1] >> 4];
		out[n++] = b64_alphabet[(s[i + 1] & 0x0f) << 2 | s[i + 2] >> 6];
		out[n++] = b64_alphabet[s[i + 2] & 0x3f];
	}
	if (inlen - i == 1) {
		out[n++] = b64_alphabet[s[i] >> 2];
		out[n++] = b64_alphabet[(s[i] & 0x03) << 4];
		out[n++] = '=';
		out[n++] = '=';
	} else if (inlen - i == 2) {
		out[n++] = b64_alphabet[s[i] >> 2];
		out[n++] = b64_alphabet[(s[i] & 0x03) << 4 | s[i + 1] >> 4];
		out[n++] = b64_alphabet[(s[i + 1] & 0x0f) << 2];
		out[n++] = '=';
	}
	out[n] = '\0';
	return 0;
}

static size_t
field_max(enum sasl_field field)
{
	return field == SASL_FIELD_PASS ? SASL_PASS_MAX : SASL_USER_MAX;
}

static char *
field_buf(struct sasl_creds *creds, enum sasl_field field)
{
	return field == SASL_FIELD_PASS ? creds->pass : creds->user;
}

/* Length and control-character rules shared by every value. */
static enum sasl_error
check_value(const char *v, size_t len, size_t max, bool may_be_empty)
{
	if (len == 0)
		return may_be_empty ? SASL_OK : SASL_ERR_EMPTY;
	if (len > max)
		return SASL_ERR_TOO_LONG;
	if (memchr(v, '\r', len) != NULL || memchr(v, '\n', len) != NULL ||
	    memchr(v, '\0', len) != NULL)
		return SASL_ERR_CTRL_CHAR;
	return SASL_OK;
}

enum sasl_error
sasl_check_plain_value(enum sasl_field field, const char *value, size_t len)
{
	return check_value(value, len, field_max(field), false);
}

enum sasl_error
sasl_creds_set(struct sasl_creds *creds, enum sasl_field field,
    const char *value, size_t len)
{
	char *dst = field_buf(creds, field);
	enum sasl_error err;

	if ((err = sasl_check_plain_value(field, value, len)) != SASL_OK) {
		explicit_bzero(dst, field_max(field) + 1);
		return err;
	}
	memcpy(dst, value, len);
	dst[len] = '\0';
	return SASL_OK;
}

enum sasl_error
sasl_plain_decode(const char *line, size_t len, struct sasl_creds *creds)
{
	uint8_t msg[SASL_PLAIN_MAX];
	const char *authzid, *authcid, *pass, *nul1, *nul2;
	size_t n, zlen, clen, plen;
	enum sasl_error err;

	sasl_creds_clear(creds);
	if (len > SASL_PLAIN_B64_MAX)
		return SASL_ERR_TOO_LONG;
	if (sasl_b64_decode(line, len, msg, sizeof(msg), &n) == -1) {
		explicit_bzero(msg, sizeof(msg));
		return SASL_ERR_BASE64;
	}

	/* RFC 4616 section 2: [authzid] NUL authcid NUL passwd. */
	authzid = (const char *)msg;
	if ((nul1 = memchr(authzid, '\0', n)) == NULL ||
	    (nul2 = memchr(nul1 + 1, '\0', n - (nul1 + 1 - authzid))) == NULL) {
		err = SASL_ERR_SYNTAX;
		goto out;
	}
	authcid = nul1 + 1;
	pass = nul2 + 1;
	zlen = (size_t)(nul1 - authzid);
	clen = (size_t)(nul2 - authcid);
	plen = n - (size_t)(pass - authzid);

	if ((err = check_value(authzid, zlen, SASL_USER_MAX, true)) !=
		SASL_OK ||
	    (err = sasl_creds_set(creds, SASL_FIELD_USER, authcid, clen)) !=
		SASL_OK ||
	    (err = sasl_creds_set(creds, SASL_FIELD_PASS, pass, plen)) !=
		SASL_OK)
		goto out;
	/*
	 * postern logs in to the backend as the client's own identity; a
	 * request to act for someone else is refused, not silently dropped.
	 */
	if (zlen != 0 &&
	    (zlen != clen || memcmp(authzid, authcid, zlen) != 0)) {
		err = SASL_ERR_AUTHZID;
		goto out;
	}
	memcpy(creds->authzid, authzid, zlen);
	creds->authzid[zlen] = '\0';
out:
	explicit_bzero(msg, sizeof(msg));
	if (err != SASL_OK)
		sasl_creds_clear(creds);
	return err;
}

enum sasl_error
sasl_login_decode(const char *line, size_t len, enum sasl_field field,
    struct sasl_creds *creds)
{
	/* Base64 of the longest value may decode to two bytes more. */
	uint8_t buf[SASL_B64_LEN(SASL_PASS_MAX) / 4 * 3];
	size_t n;
	enum sasl_error err;

	if (len > SASL_B64_LEN(field_max(field)))
		err = SASL_ERR_TOO_LONG;
	else if (sasl_b64_decode(line, len, buf, sizeof(buf), &n) == -1)
		err = SASL_ERR_BASE64;
	else
		err = sasl_creds_set(creds, field, (const char *)buf, n);
	if (err != SASL_OK)
		explicit_bzero(field_buf(creds, field), field_max(field) + 1);
	explicit_bzero(buf, sizeof(buf));
	return err;
}

bool
sasl_is_cancel(const char *line, size_t len)
{
	/* RFC 4954 section 4, RFC 5034 section 4, RFC 3501 section 6.2.2. */
	return len == 1 && line[0] == '*';
}

void
sasl_creds_clear(struct sasl_creds *creds)
{
	explicit_bzero(creds, sizeof(*creds));
}

int
sasl_plain_encode(const char *user, const char *pass, char *out, size_t cap)
{
	char msg[SASL_PLAIN_MAX];
	size_t ulen = strlen(user), plen = strlen(pass);
	int rc;

	if (sasl_check_plain_value(SASL_FIELD_USER, user, ulen) != SASL_OK ||
	    sasl_check_plain_value(SASL_FIELD_PASS, pass, plen) != SASL_OK)
		return -1;
	msg[0] = '\0';
	memcpy(msg + 1, user, ulen);
	msg[1 + ulen] = '\0';
	memcpy(msg + 2 + ulen, pass, plen);
	rc = sasl_b64_encode(msg, 2 + ulen + plen, out, cap);
	/* What was written; the rest was never touched. */
	explicit_bzero(msg, 2 + ulen + plen);
	return rc;
}

const char *
sasl_strerror(enum sasl_error err)
{
	switch (err) {
	case SASL_OK:
		return "no error";
	case SASL_ERR_BASE64:
		return "invalid base64";
	case SASL_ERR_SYNTAX:
		return "malformed SASL PLAIN message";
	case SASL_ERR_EMPTY:
		return "empty user name or password";
	case SASL_ERR_CTRL_CHAR:
		return "CR, LF or NUL inside a credential";
	case SASL_ERR_TOO_LONG:
		return "credential too long";
	case SASL_ERR_AUTHZID:
		return "authorization identity differs from the user name";
	}
	return "unknown SASL error";
}
