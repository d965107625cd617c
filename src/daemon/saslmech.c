/*
 * saslmech: the relayed SASL mechanisms and their user hooks.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "ntlm.h"
#include "saslmech.h"

/* Bearer tokens of the large identity providers reach a few KiB (Entra
 * ID's with many group claims); a Kerberos ticket with a PAC reaches
 * Windows' MaxTokenSize of 48000 bytes, 64000 in base64. */
#define SASLMECH_BEARER_LINE_MAX 16384
#define SASLMECH_NTLM_LINE_MAX 8192
#define SASLMECH_GSSAPI_LINE_MAX 65536

static const struct saslmech mechs[SASLMECH_COUNT] = {
    [SASLMECH_XOAUTH2] = {.id = SASLMECH_XOAUTH2,
	.name = "XOAUTH2",
	.sends_secret = true,
	.available = true,
	.user_at = SASLMECH_USER_AT_FIRST,
	.line_max = SASLMECH_BEARER_LINE_MAX,
	.user = saslmech_xoauth2_user},
    [SASLMECH_OAUTHBEARER] = {.id = SASLMECH_OAUTHBEARER,
	.name = "OAUTHBEARER",
	.sends_secret = true,
	.available = true,
	.user_at = SASLMECH_USER_AT_FIRST,
	.line_max = SASLMECH_BEARER_LINE_MAX,
	.user = saslmech_oauthbearer_user},
    [SASLMECH_NTLM] = {.id = SASLMECH_NTLM,
	.name = "NTLM",
	.sends_secret = false,
	.available = true,
	.user_at = SASLMECH_USER_AT_LAST,
	.line_max = SASLMECH_NTLM_LINE_MAX,
	.user = saslmech_ntlm_user},
    [SASLMECH_GSSAPI] = {.id = SASLMECH_GSSAPI,
	.name = "GSSAPI",
	.sends_secret = false,
	.available = true,
	.user_at = SASLMECH_USER_AT_NONE,
	.line_max = SASLMECH_GSSAPI_LINE_MAX,
	.user = saslmech_gssapi_user},
};

const struct saslmech *
saslmech_get(enum saslmech_id id)
{
	return (unsigned)id < SASLMECH_COUNT ? &mechs[id] : NULL;
}

const struct saslmech *
saslmech_by_name(const char *name, size_t len)
{
	for (size_t i = 0; i < SASLMECH_COUNT; i++)
		if (strlen(mechs[i].name) == len &&
		    strncasecmp(mechs[i].name, name, len) == 0)
			return &mechs[i];
	return NULL;
}

/* The mechanisms among the space-separated words of s[0..len). */
static unsigned
saslmech_words(const char *s, size_t len, const char *prefix)
{
	size_t plen = strlen(prefix), i = 0;
	unsigned set = 0;

	while (i < len) {
		size_t n = 0;
		const struct saslmech *m;

		while (i + n < len && s[i + n] != ' ')
			n++;
		if (n > plen && strncasecmp(s + i, prefix, plen) == 0 &&
		    (m = saslmech_by_name(s + i + plen, n - plen)) != NULL)
			set |= 1u << m->id;
		i += n + 1;
	}
	return set;
}

unsigned
saslmech_imap_caps(const char *caps, size_t len)
{
	return saslmech_words(caps, len, "AUTH=");
}

unsigned
saslmech_pop3_capa(const char *line, size_t len)
{
	if (len < 5 || strncasecmp(line, "SASL ", 5) != 0)
		return 0;
	return saslmech_words(line + 5, len - 5, "");
}

int
saslmech_list(unsigned set, const char *prefix, char *out, size_t cap)
{
	size_t n = 0;

	if (cap == 0)
		return -1;
	out[0] = '\0';
	for (size_t i = 0; i < SASLMECH_COUNT; i++) {
		int w;

		if (!(set & (1u << i)))
			continue;
		w = snprintf(out + n, cap - n, "%s%s", prefix, mechs[i].name);
		if (w < 0 || (size_t)w >= cap - n) {
			out[0] = '\0';
			return -1;
		}
		n += (size_t)w;
	}
	return 0;
}

/*
 * A user name as the policy and the logs take it: not empty, within
 * SASLMECH_USER_MAX, no control character (CR and LF above all, which
 * would let a name inject a line into a log or a backend dialogue).
 */
static bool
saslmech_name_ok(const unsigned char *p, size_t len)
{
	if (len == 0 || len > SASLMECH_USER_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (p[i] < 0x20 || p[i] == 0x7f)
			return false;
	return true;
}

/*
 * The ^A-separated key=value pairs of msg[0..len), which end with an
 * empty pair (the final ^A ^A) and nothing after it.  Finds the value of
 * "auth", which must be "Bearer" and a token; with want (may be NULL),
 * the value of that key too, which must come once at most.  Returns 0,
 * or -1 with *why set.
 */
static int
saslmech_kvpairs(const unsigned char *msg, size_t len, const char *want,
    const unsigned char **wv, size_t *wlen, const char **why)
{
	size_t i = 0;
	bool auth = false;

	if (wv != NULL)
		*wv = NULL;
	for (;;) {
		const unsigned char *k = msg + i, *eq, *end;
		size_t klen, rest = len - i;

		end = memchr(k, 0x01, rest);
		if (end == NULL) {
			*why = "the message does not end with ^A^A";
			return -1;
		}
		if (end == k) {
			/* The empty pair ends the message. */
			if (i + 1 != len) {
				*why = "bytes after the closing ^A^A";
				return -1;
			}
			break;
		}
		eq = memchr(k, '=', (size_t)(end - k));
		if (eq == NULL || eq == k) {
			*why = "a key=value pair without a key or '='";
			return -1;
		}
		klen = (size_t)(eq - k);
		for (size_t j = 0; j < klen; j++)
			if (!((k[j] >= 'a' && k[j] <= 'z') ||
				(k[j] >= 'A' && k[j] <= 'Z'))) {
				*why = "a key that is not letters";
				return -1;
			}
		if (klen == 4 && memcmp(k, "auth", 4) == 0) {
			size_t vlen = (size_t)(end - eq - 1);

			/* RFC 6750 section 2.1: "Bearer" 1*SP b64token. */
			if (auth || vlen < 8 ||
			    strncasecmp((const char *)eq + 1, "Bearer ", 7) !=
				0) {
				*why = "auth= is not one \"Bearer <token>\"";
				return -1;
			}
			auth = true;
		} else if (want != NULL && klen == strlen(want) &&
			   memcmp(k, want, klen) == 0) {
			if (*wv != NULL) {
				*why = "a key given twice";
				return -1;
			}
			*wv = eq + 1;
			*wlen = (size_t)(end - eq - 1);
		}
		i = (size_t)(end - msg) + 1;
	}
	if (!auth) {
		*why = "no auth=Bearer token";
		return -1;
	}
	return 0;
}

enum saslmech_user
saslmech_xoauth2_user(const unsigned char *msg, size_t len, unsigned n,
    char *user, const char **why)
{
	const unsigned char *v;
	size_t vlen = 0;

	*why = NULL;
	user[0] = '\0';
	/* After an error challenge (a JSON status) the client answers
	 * with an empty message; it carries nothing. */
	if (n > 0)
		return SASLMECH_USER_NONE;
	if (saslmech_kvpairs(msg, len, "user", &v, &vlen, why) == -1)
		return SASLMECH_USER_MALFORMED;
	if (v == NULL || vlen == 0) {
		*why = "the token names no user (user= is missing or empty)";
		return SASLMECH_USER_MISSING;
	}
	if (!saslmech_name_ok(v, vlen)) {
		*why = "user= holds a control character or is too long";
		return SASLMECH_USER_MALFORMED;
	}
	memcpy(user, v, vlen);
	user[vlen] = '\0';
	return SASLMECH_USER_FOUND;
}

/*
 * RFC 5801 section 4's saslname: "=2C" stands for ',', "=3D" for '=',
 * and no other '=' may appear.  Writes the name into user; returns its
 * length, or -1.
 */
static int
saslmech_saslname(const unsigned char *p, size_t len, char *user)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = p[i];

		if (c == ',')
			return -1;
		if (c == '=') {
			if (i + 3 > len)
				return -1;
			if (p[i + 1] == '2' &&
			    (p[i + 2] == 'C' || p[i + 2] == 'c'))
				c = ',';
			else if (p[i + 1] == '3' &&
				 (p[i + 2] == 'D' || p[i + 2] == 'd'))
				c = '=';
			else
				return -1;
			i += 2;
		}
		if (o >= SASLMECH_USER_MAX)
			return -1;
		user[o++] = (char)c;
	}
	user[o] = '\0';
	return (int)o;
}

enum saslmech_user
saslmech_oauthbearer_user(const unsigned char *msg, size_t len, unsigned n,
    char *user, const char **why)
{
	const unsigned char *comma, *hdr_end;
	size_t i;
	int ulen = 0;
	bool has_authzid = false;

	*why = NULL;
	user[0] = '\0';
	/* RFC 7628 section 3.2.3: after an error the client sends a lone
	 * ^A, which carries nothing. */
	if (n > 0)
		return SASLMECH_USER_NONE;
	/* gs2-cbind-flag: "n", "y" or "p=" cb-name (RFC 5801 section 4). */
	if (len < 1 || (comma = memchr(msg, ',', len)) == NULL) {
		*why = "no GS2 header";
		return SASLMECH_USER_MALFORMED;
	}
	if (!((comma - msg == 1 && (msg[0] == 'n' || msg[0] == 'y')) ||
		(comma - msg > 2 && msg[0] == 'p' && msg[1] == '='))) {
		*why = "the GS2 header has no channel binding flag";
		return SASLMECH_USER_MALFORMED;
	}
	i = (size_t)(comma - msg) + 1;
	hdr_end = memchr(msg + i, ',', len - i);
	if (hdr_end == NULL) {
		*why = "the GS2 header does not end with ','";
		return SASLMECH_USER_MALFORMED;
	}
	if (hdr_end != msg + i) {
		size_t alen = (size_t)(hdr_end - msg) - i;

		if (alen < 2 || msg[i] != 'a' || msg[i + 1] != '=' ||
		    (ulen = saslmech_saslname(msg + i + 2, alen - 2, user)) <
			0) {
			user[0] = '\0';
			*why = "the GS2 header's authorization identity is "
			       "not a=<saslname>";
			return SASLMECH_USER_MALFORMED;
		}
		has_authzid = true;
	}
	i = (size_t)(hdr_end - msg) + 1;
	/* kvsep, then the pairs. */
	if (i >= len || msg[i] != 0x01) {
		user[0] = '\0';
		*why = "no ^A after the GS2 header";
		return SASLMECH_USER_MALFORMED;
	}
	i++;
	if (saslmech_kvpairs(msg + i, len - i, NULL, NULL, NULL, why) == -1) {
		user[0] = '\0';
		return SASLMECH_USER_MALFORMED;
	}
	if (!has_authzid || ulen == 0) {
		user[0] = '\0';
		*why = "the GS2 header names no user (a= is missing or "
		       "empty)";
		return SASLMECH_USER_MISSING;
	}
	if (!saslmech_name_ok((const unsigned char *)user, (size_t)ulen)) {
		user[0] = '\0';
		*why = "a= holds a control character";
		return SASLMECH_USER_MALFORMED;
	}
	return SASLMECH_USER_FOUND;
}

/*
 * The SASL NTLM exchange (MS-NLMP section 3.1, as Dovecot and Exchange
 * run it over AUTH/AUTHENTICATE): the client's NEGOTIATE (Type 1), the
 * server's CHALLENGE (Type 2), the client's AUTHENTICATE (Type 3), which
 * alone names the user, and nothing after it.
 */
enum saslmech_user
saslmech_ntlm_user(const unsigned char *msg, size_t len, unsigned n, char *user,
    const char **why)
{
	char name[NTLM_USER_BUF], domain[NTLM_DOMAIN_BUF];
	enum ntlm_type type;
	enum ntlm_error err;
	size_t ulen, dlen;

	*why = NULL;
	user[0] = '\0';
	if (n == 0) {
		if ((err = ntlm_message_type(msg, len, &type)) != NTLM_OK) {
			*why = ntlm_strerror(err);
			return SASLMECH_USER_MALFORMED;
		}
		if (type != NTLM_NEGOTIATE) {
			*why = "the first message is not an NTLM NEGOTIATE";
			return SASLMECH_USER_MALFORMED;
		}
		return SASLMECH_USER_NONE;
	}
	if (n > 1) {
		*why = "a message after the NTLM AUTHENTICATE";
		return SASLMECH_USER_MALFORMED;
	}
	err = ntlm_auth_names(msg, len, name, sizeof(name), domain,
	    sizeof(domain), NULL);
	if (err != NTLM_OK) {
		*why = ntlm_strerror(err);
		return SASLMECH_USER_MALFORMED;
	}
	ulen = strlen(name);
	dlen = strlen(domain);
	/*
	 * The policy reads "DOMAIN\user" and "user@realm" (a UPN with an
	 * empty domain, as Windows sends it); a separator inside either
	 * part would let the client choose how the name is split, and so
	 * which rule matches it.
	 */
	if (strchr(domain, '\\') != NULL || strchr(domain, '@') != NULL ||
	    strchr(name, '\\') != NULL ||
	    (dlen > 0 && strchr(name, '@') != NULL)) {
		*why = "a separator ('\\' or '@') inside the NTLM user or "
		       "domain name";
		return SASLMECH_USER_MALFORMED;
	}
	if (dlen + (dlen > 0) + ulen > SASLMECH_USER_MAX) {
		*why = "the NTLM domain and user name are too long";
		return SASLMECH_USER_MALFORMED;
	}
	if (dlen > 0) {
		memcpy(user, domain, dlen);
		user[dlen++] = '\\';
	}
	memcpy(user + dlen, name, ulen + 1);
	return SASLMECH_USER_FOUND;
}

/*
 * Kerberos names the client only inside the ticket's encrypted part,
 * which the service's key alone opens (RFC 4120 section 5.3): no message
 * of the exchange names the user to a proxy.
 */
enum saslmech_user
saslmech_gssapi_user(const unsigned char *msg, size_t len, unsigned n,
    char *user, const char **why)
{
	(void)msg;
	(void)len;
	(void)n;
	*why = NULL;
	user[0] = '\0';
	return SASLMECH_USER_NONE;
}
