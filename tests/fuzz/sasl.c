/*
 * sasl: the credential decoders (src/daemon/sasl.c) on a client's line: strict
 * base64, SASL PLAIN, SASL LOGIN, cleartext values; and the relayed
 * mechanisms' user hooks (src/daemon/saslmech.c) on the input as a decoded
 * XOAUTH2, OAUTHBEARER, NTLM or GSSAPI message, with the capability scanners on
 * it as a capability list.  The input is the line (without CRLF), in a heap
 * copy of its exact size.
 *
 * Invariants: base64 that decodes is canonical (it encodes back to the
 * same text) and never writes past the room it is given; raw bytes
 * survive encode then decode; credentials that pass hold no CR, LF or NUL,
 * are not empty, keep their bounds, and an authzid is empty or the user;
 * what sasl_plain_encode() writes for them decodes to them again.
 */
#include "config.h"

#include <stdbool.h>

#include "fuzz.h"
#include "sasl.h"
#include "saslmech.h"

static void
check_value(const char *v, size_t max)
{
	size_t n = strlen(v);

	FUZZ_CHECK(n > 0 && n <= max);
	FUZZ_CHECK(strchr(v, '\r') == NULL && strchr(v, '\n') == NULL);
}

static void
check_creds(const struct sasl_creds *c)
{
	check_value(c->user, SASL_USER_MAX);
	check_value(c->pass, SASL_PASS_MAX);
	FUZZ_CHECK(c->authzid[0] == '\0' || strcmp(c->authzid, c->user) == 0);
}

static void
base64(const char *in, size_t len)
{
	size_t cap = len / 4 * 3, n = (size_t)-1;
	uint8_t *out = malloc(cap ? cap : 1);
	char *again;

	FUZZ_CHECK(out != NULL);
	if (sasl_b64_decode(in, len, out, cap, &n) == 0) {
		FUZZ_CHECK(n <= cap);
		again = malloc(SASL_B64_LEN(n) + 1);
		FUZZ_CHECK(again != NULL);
		FUZZ_CHECK(
		    sasl_b64_encode(out, n, again, SASL_B64_LEN(n) + 1) == 0);
		FUZZ_CHECK(strlen(again) == len && memcmp(again, in, len) == 0);
		free(again);
		/* One byte less room than the value needs must fail. */
		if (n > 0)
			FUZZ_CHECK(
			    sasl_b64_decode(in, len, out, n - 1, &n) == -1);
	}
	free(out);

	/* Raw bytes: encode, then decode. */
	again = malloc(SASL_B64_LEN(len) + 1);
	out = malloc(len ? len : 1);
	FUZZ_CHECK(again != NULL && out != NULL);
	FUZZ_CHECK(sasl_b64_encode(in, len, again, SASL_B64_LEN(len) + 1) == 0);
	FUZZ_CHECK(sasl_b64_decode(again, strlen(again), out, len, &n) == 0);
	FUZZ_CHECK(n == len && memcmp(out, in, len) == 0);
	/* Too little room to encode must fail, not write. */
	FUZZ_CHECK(sasl_b64_encode(in, len, again, SASL_B64_LEN(len)) == -1);
	free(again);
	free(out);
}

/*
 * A user hook's answer: a user only with FOUND, and then not empty,
 * within its bound and free of control characters; a reason with
 * MISSING and MALFORMED; nothing but NONE for a later message.
 */
static void
user_hook(saslmech_user_fn *fn, const char *msg, size_t size, bool xoauth2)
{
	char user[SASLMECH_USER_MAX + 1];
	const char *why = NULL;
	enum saslmech_user r;
	size_t n;

	memset(user, 'X', sizeof(user));
	r = fn((const unsigned char *)msg, size, 0, user, &why);
	FUZZ_CHECK(r != SASLMECH_USER_NONE);
	if (r != SASLMECH_USER_FOUND) {
		FUZZ_CHECK(why != NULL && user[0] == '\0');
		return;
	}
	n = strlen(user);
	FUZZ_CHECK(n > 0 && n <= SASLMECH_USER_MAX);
	for (size_t i = 0; i < n; i++)
		FUZZ_CHECK((unsigned char)user[i] >= 0x20 && user[i] != 0x7f);
	/* The message ends with its empty pair, and names a bearer token. */
	FUZZ_CHECK(size >= 2 && msg[size - 1] == 1 && msg[size - 2] == 1);
	if (xoauth2) {
		/* The name is the value of a user= pair, byte for byte. */
		char *pair = malloc(n + 7);

		FUZZ_CHECK(pair != NULL);
		memcpy(pair, "user=", 5);
		memcpy(pair + 5, user, n);
		pair[5 + n] = 1;
		FUZZ_CHECK(memmem(msg, size, pair, n + 6) != NULL);
		free(pair);
	} else
		FUZZ_CHECK(msg[0] == 'n' || msg[0] == 'y' || msg[0] == 'p');
	FUZZ_CHECK(fn((const unsigned char *)msg, size, 1, user, &why) ==
		   SASLMECH_USER_NONE);
}

/*
 * NTLM's hook: the first message never names a user; the second may,
 * within the bound, free of control characters and with one separator
 * at most; a third is always refused.  GSSAPI's names nobody.
 */
static void
ntlm_hook(const char *msg, size_t size)
{
	const unsigned char *m = (const unsigned char *)msg;
	char user[SASLMECH_USER_MAX + 1];
	const char *why = NULL;
	enum saslmech_user r;
	size_t n, seps = 0;

	r = saslmech_ntlm_user(m, size, 0, user, &why);
	FUZZ_CHECK(r == SASLMECH_USER_NONE || r == SASLMECH_USER_MALFORMED);
	FUZZ_CHECK(user[0] == '\0');
	FUZZ_CHECK(r == SASLMECH_USER_NONE || why != NULL);
	FUZZ_CHECK(saslmech_ntlm_user(m, size, 2, user, &why) ==
		   SASLMECH_USER_MALFORMED);
	FUZZ_CHECK(
	    saslmech_gssapi_user(m, size, 0, user, &why) == SASLMECH_USER_NONE);
	memset(user, 'X', sizeof(user));
	r = saslmech_ntlm_user(m, size, 1, user, &why);
	FUZZ_CHECK(r == SASLMECH_USER_FOUND || r == SASLMECH_USER_MALFORMED);
	if (r != SASLMECH_USER_FOUND) {
		FUZZ_CHECK(why != NULL && user[0] == '\0');
		return;
	}
	n = strlen(user);
	FUZZ_CHECK(n > 0 && n <= SASLMECH_USER_MAX);
	for (size_t i = 0; i < n; i++) {
		FUZZ_CHECK((unsigned char)user[i] >= 0x20 && user[i] != 0x7f);
		seps += user[i] == '\\' || user[i] == '@';
	}
	FUZZ_CHECK(seps <= 1);
}

/* The scanners find only relayed mechanisms, and read back a listing. */
static void
mech_lists(const char *s, size_t size)
{
	unsigned set = saslmech_imap_caps(s, size);
	char out[128];

	FUZZ_CHECK((set & ~SASLMECH_ALL) == 0);
	FUZZ_CHECK((saslmech_pop3_capa(s, size) & ~SASLMECH_ALL) == 0);
	FUZZ_CHECK(saslmech_list(set, " AUTH=", out, sizeof(out)) == 0);
	FUZZ_CHECK(saslmech_imap_caps(out, strlen(out)) == set);
	if (saslmech_by_name(s, size) != NULL)
		FUZZ_CHECK(size <= 11);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *line = fuzz_dup(data, size);
	struct sasl_creds *c = malloc(sizeof(*c)), *back = malloc(sizeof(*c));
	char enc[SASL_PLAIN_B64_MAX + 1];

	FUZZ_CHECK(c != NULL && back != NULL);
	base64(line, size);

	memset(c, 0, sizeof(*c));
	if (sasl_plain_decode(line, size, c) == SASL_OK) {
		check_creds(c);
		FUZZ_CHECK(
		    sasl_plain_encode(c->user, c->pass, enc, sizeof(enc)) == 0);
		memset(back, 0, sizeof(*back));
		FUZZ_CHECK(
		    sasl_plain_decode(enc, strlen(enc), back) == SASL_OK);
		FUZZ_CHECK(strcmp(back->user, c->user) == 0 &&
			   strcmp(back->pass, c->pass) == 0 &&
			   back->authzid[0] == '\0');
	} else
		/* A refusal wipes what was decoded. */
		FUZZ_CHECK(c->user[0] == '\0' && c->pass[0] == '\0');

	memset(c, 0, sizeof(*c));
	if (sasl_login_decode(line, size, SASL_FIELD_USER, c) == SASL_OK)
		check_value(c->user, SASL_USER_MAX);
	if (sasl_login_decode(line, size, SASL_FIELD_PASS, c) == SASL_OK)
		check_value(c->pass, SASL_PASS_MAX);
	(void)sasl_is_cancel(line, size);
	if (sasl_creds_set(c, SASL_FIELD_PASS, line, size) == SASL_OK) {
		check_value(c->pass, SASL_PASS_MAX);
		FUZZ_CHECK(strlen(c->pass) == size);
	}
	FUZZ_CHECK(sasl_strerror(sasl_check_plain_value(SASL_FIELD_USER, line,
		       size)) != NULL);
	user_hook(saslmech_xoauth2_user, line, size, true);
	user_hook(saslmech_oauthbearer_user, line, size, false);
	ntlm_hook(line, size);
	mech_lists(line, size);
	sasl_creds_clear(c);
	free(c);
	free(back);
	free(line);
	return 0;
}
