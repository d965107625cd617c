#include "config.h"

#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sasl.h"

/* Base64 of the n bytes of raw, in a static buffer. */
static const char *
b64(const void *raw, size_t n)
{
	static char out[SASL_B64_LEN(4096) + 1];

	cr_assert_eq(sasl_b64_encode(raw, n, out, sizeof(out)), 0);
	return out;
}

static enum sasl_error
plain(const void *raw, size_t n, struct sasl_creds *c)
{
	const char *s = b64(raw, n);

	return sasl_plain_decode(s, strlen(s), c);
}

static bool
all_zero(const void *p, size_t n)
{
	const uint8_t *b = p;
	size_t i;

	for (i = 0; i < n; i++)
		if (b[i] != 0)
			return false;
	return true;
}

/* A string of n copies of c, NUL-terminated, in buf. */
static char *
fill(char *buf, char c, size_t n)
{
	memset(buf, c, n);
	buf[n] = '\0';
	return buf;
}

Test(sasl, base64_rfc4648_vectors)
{
	static const char *v[][2] = {{"", ""}, {"f", "Zg=="}, {"fo", "Zm8="},
	    {"foo", "Zm9v"}, {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="},
	    {"foobar", "Zm9vYmFy"}};
	char enc[16], dec[16];
	size_t i, n;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		cr_assert_eq(
		    sasl_b64_encode(v[i][0], strlen(v[i][0]), enc, sizeof(enc)),
		    0);
		cr_assert_str_eq(enc, v[i][1]);
		cr_assert_eq(sasl_b64_decode(v[i][1], strlen(v[i][1]), dec,
				 sizeof(dec), &n),
		    0);
		cr_assert_eq(n, strlen(v[i][0]));
		cr_assert_eq(memcmp(dec, v[i][0], n), 0);
	}
}

Test(sasl, base64_rejects_non_canonical_input)
{
	static const char *bad[] = {"Zg",
	    "Zg=", "Zg===", "Z===", "====", "Zm9v\n", "Zm9v\r\n", " Zm9v",
	    "Zm 9v", "Zm9v ", "Zm\tv", "Zh==",      /* pad bits set */
	    "Zm9=",                                 /* pad bits set */
	    "Zg==Zg==",                             /* padding in the middle */
	    "Zm=v", "Z=9v", "Zm9v!abc", "Zm9v-_ab", /* base64url alphabet */
	    "Zm9v\x80\x80\x80\x80"};
	char out[16];
	size_t i, n;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect_eq(sasl_b64_decode(bad[i], strlen(bad[i]), out,
				 sizeof(out), &n),
		    -1, "accepted \"%s\"", bad[i]);
	/* A NUL in the middle of the span. */
	cr_expect_eq(sasl_b64_decode("Zm\0v", 4, out, sizeof(out), &n), -1);
}

Test(sasl, base64_respects_capacities)
{
	char out[8];
	size_t n;

	cr_assert_eq(sasl_b64_decode("Zm9vYmFy", 8, out, 5, &n), -1);
	cr_assert_eq(sasl_b64_decode("Zm9vYmFy", 8, out, 6, &n), 0);
	cr_assert_eq(n, 6);
	cr_assert_eq(sasl_b64_decode("Zm9vYmE=", 8, out, 4, &n), -1);
	cr_assert_eq(sasl_b64_decode("Zm9vYmE=", 8, out, 5, &n), 0);
	cr_assert_eq(sasl_b64_encode("foo", 3, out, 4), -1);
	cr_assert_eq(sasl_b64_encode("foo", 3, out, 5), 0);
	cr_assert_eq(sasl_b64_encode("", 0, out, 0), -1);
	cr_assert_eq(sasl_b64_encode("", 0, out, 1), 0);
	cr_assert_str_eq(out, "");
}

Test(sasl, base64_round_trips_every_length_and_byte)
{
	uint8_t raw[300], dec[300];
	char enc[SASL_B64_LEN(300) + 1];
	size_t len, i, n;

	srand(4616);
	for (len = 0; len <= sizeof(raw); len++) {
		for (i = 0; i < len; i++)
			raw[i] = (uint8_t)(len < 256 ? i : (size_t)rand());
		cr_assert_eq(sasl_b64_encode(raw, len, enc, sizeof(enc)), 0);
		cr_assert_eq(strlen(enc), SASL_B64_LEN(len));
		cr_assert_eq(
		    sasl_b64_decode(enc, strlen(enc), dec, sizeof(dec), &n), 0);
		cr_assert_eq(n, len);
		cr_assert_eq(memcmp(raw, dec, len), 0);
	}
}

Test(sasl, plain_decodes_user_and_password)
{
	struct sasl_creds c;

	cr_assert_eq(plain("\0alice\0s3cr et", 14, &c), SASL_OK);
	cr_assert_str_eq(c.user, "alice");
	cr_assert_str_eq(c.pass, "s3cr et");
	cr_assert_str_eq(c.authzid, "");
	sasl_creds_clear(&c);

	/* RFC 4616 section 4 example, authzid equal to authcid. */
	cr_assert_eq(plain("tim\0tim\0tanstaaftanstaaf", 24, &c), SASL_OK);
	cr_assert_str_eq(c.user, "tim");
	cr_assert_str_eq(c.pass, "tanstaaftanstaaf");
	cr_assert_str_eq(c.authzid, "tim");

	/* Non-ASCII UTF-8 passes through untouched. */
	cr_assert_eq(plain("\0j\xc3\xb6rg\0p\xc3\xa4ss", 12, &c), SASL_OK);
	cr_assert_str_eq(c.user, "j\xc3\xb6rg");
	cr_assert_str_eq(c.pass, "p\xc3\xa4ss");
}

Test(sasl, plain_refuses_other_authzid)
{
	struct sasl_creds c;

	cr_assert_eq(plain("admin\0tim\0pw", 12, &c), SASL_ERR_AUTHZID);
	cr_assert(all_zero(&c, sizeof(c)));
	cr_assert_eq(plain("tim2\0tim\0pw", 11, &c), SASL_ERR_AUTHZID);
	cr_assert_eq(plain("ti\0tim\0pw", 9, &c), SASL_ERR_AUTHZID);
}

Test(sasl, plain_refuses_bad_syntax)
{
	struct sasl_creds c;
	const char *s;

	cr_assert_eq(plain("alicepw", 7, &c), SASL_ERR_SYNTAX);
	cr_assert_eq(plain("\0alicepw", 8, &c), SASL_ERR_SYNTAX);
	cr_assert_eq(plain("", 0, &c), SASL_ERR_SYNTAX);
	cr_assert_eq(sasl_plain_decode("=", 1, &c), SASL_ERR_BASE64);
	cr_assert_eq(sasl_plain_decode("AGFsaWNlAHB3\r", 13, &c),
	    SASL_ERR_BASE64);
	s = "AGFsaWNlAHB3"; /* "\0alice\0pw" */
	cr_assert_eq(sasl_plain_decode(s, strlen(s), &c), SASL_OK);
	cr_assert_eq(sasl_plain_decode(s, strlen(s) - 1, &c), SASL_ERR_BASE64);
	cr_assert(all_zero(&c, sizeof(c)));
}

Test(sasl, plain_refuses_empty_values)
{
	struct sasl_creds c;

	cr_assert_eq(plain("\0\0pw", 4, &c), SASL_ERR_EMPTY);
	cr_assert_eq(plain("\0alice\0", 7, &c), SASL_ERR_EMPTY);
	cr_assert(all_zero(&c, sizeof(c)));
}

Test(sasl, plain_refuses_control_characters)
{
	struct sasl_creds c;

	cr_assert_eq(plain("\0ali\rce\0pw", 10, &c), SASL_ERR_CTRL_CHAR);
	cr_assert_eq(plain("\0alice\0p\nw", 10, &c), SASL_ERR_CTRL_CHAR);
	cr_assert_eq(plain("\0alice\0p\0w", 10, &c), SASL_ERR_CTRL_CHAR);
	cr_assert_eq(plain("a\r\0alice\0pw", 11, &c), SASL_ERR_CTRL_CHAR);
	cr_assert(all_zero(&c, sizeof(c)));
}

Test(sasl, plain_enforces_length_bounds)
{
	char msg[SASL_PLAIN_MAX + 2], u[SASL_USER_MAX + 2];
	struct sasl_creds c;
	size_t n;
	char *big;

	/* The longest accepted message: every field at its bound. */
	fill(u, 'u', SASL_USER_MAX);
	memcpy(msg, u, SASL_USER_MAX);
	msg[SASL_USER_MAX] = '\0';
	memcpy(msg + SASL_USER_MAX + 1, u, SASL_USER_MAX);
	msg[2 * SASL_USER_MAX + 1] = '\0';
	memset(msg + 2 * SASL_USER_MAX + 2, 'p', SASL_PASS_MAX);
	n = 2 * SASL_USER_MAX + 2 + SASL_PASS_MAX;
	cr_assert_eq(n, SASL_PLAIN_MAX);
	cr_assert_eq(plain(msg, n, &c), SASL_OK);
	cr_assert_eq(strlen(c.user), SASL_USER_MAX);
	cr_assert_eq(strlen(c.pass), SASL_PASS_MAX);

	/* One byte too many in the password. */
	memset(msg, 0, sizeof(msg));
	msg[0] = '\0';
	msg[1] = 'u';
	msg[2] = '\0';
	memset(msg + 3, 'p', SASL_PASS_MAX + 1);
	cr_assert_eq(plain(msg, 3 + SASL_PASS_MAX + 1, &c), SASL_ERR_TOO_LONG);

	/* One byte too many in the user name (short password). */
	msg[0] = '\0';
	memset(msg + 1, 'u', SASL_USER_MAX + 1);
	memcpy(msg + SASL_USER_MAX + 2, "\0pw", 3);
	cr_assert_eq(plain(msg, SASL_USER_MAX + 5, &c), SASL_ERR_TOO_LONG);

	/* And in the authzid. */
	memset(msg, 'z', SASL_USER_MAX + 1);
	memcpy(msg + SASL_USER_MAX + 1, "\0u\0pw", 5);
	cr_assert_eq(plain(msg, SASL_USER_MAX + 6, &c), SASL_ERR_TOO_LONG);

	/* Input longer than any valid message is refused before decoding. */
	big = malloc(SASL_PLAIN_B64_MAX + 5);
	cr_assert_not_null(big);
	fill(big, 'A', SASL_PLAIN_B64_MAX + 4);
	cr_assert_eq(sasl_plain_decode(big, SASL_PLAIN_B64_MAX + 4, &c),
	    SASL_ERR_TOO_LONG);
	free(big);
}

Test(sasl, login_decodes_each_prompt_answer)
{
	struct sasl_creds c;
	char enc[64];
	size_t n;

	cr_assert_eq(sasl_b64_decode(SASL_LOGIN_PROMPT_USER,
			 strlen(SASL_LOGIN_PROMPT_USER), enc, sizeof(enc), &n),
	    0);
	cr_assert_eq(memcmp(enc, "Username:", n), 0);
	cr_assert_eq(sasl_b64_decode(SASL_LOGIN_PROMPT_PASS,
			 strlen(SASL_LOGIN_PROMPT_PASS), enc, sizeof(enc), &n),
	    0);
	cr_assert_eq(memcmp(enc, "Password:", n), 0);

	sasl_creds_clear(&c);
	cr_assert_eq(
	    sasl_login_decode("dGltQGV4YW1wbGUub3Jn", 20, SASL_FIELD_USER, &c),
	    SASL_OK);
	cr_assert_str_eq(c.user, "tim@example.org");
	cr_assert_eq(sasl_login_decode("cGFzcw==", 8, SASL_FIELD_PASS, &c),
	    SASL_OK);
	cr_assert_str_eq(c.pass, "pass");
	cr_assert_str_eq(c.user, "tim@example.org");
}

Test(sasl, login_refuses_bad_answers)
{
	struct sasl_creds c;
	char raw[SASL_PASS_MAX + 2];
	const char *s;

	sasl_creds_clear(&c);
	strcpy(c.pass, "keep");
	cr_assert_eq(sasl_login_decode("", 0, SASL_FIELD_USER, &c),
	    SASL_ERR_EMPTY);
	cr_assert_eq(sasl_login_decode("dGlt\r", 5, SASL_FIELD_USER, &c),
	    SASL_ERR_BASE64);
	s = b64("ti\nm", 4);
	cr_assert_eq(sasl_login_decode(s, strlen(s), SASL_FIELD_USER, &c),
	    SASL_ERR_CTRL_CHAR);
	s = b64("ti\0m", 4);
	cr_assert_eq(sasl_login_decode(s, strlen(s), SASL_FIELD_USER, &c),
	    SASL_ERR_CTRL_CHAR);
	cr_assert(all_zero(c.user, sizeof(c.user)));
	/* A failure on the user field leaves the password alone. */
	cr_assert_str_eq(c.pass, "keep");

	fill(raw, 'p', SASL_PASS_MAX);
	s = b64(raw, SASL_PASS_MAX);
	cr_assert_eq(sasl_login_decode(s, strlen(s), SASL_FIELD_PASS, &c),
	    SASL_OK);
	cr_assert_eq(strlen(c.pass), SASL_PASS_MAX);
	s = b64(raw, SASL_USER_MAX + 1);
	cr_assert_eq(sasl_login_decode(s, strlen(s), SASL_FIELD_USER, &c),
	    SASL_ERR_TOO_LONG);
	fill(raw, 'p', SASL_PASS_MAX + 1);
	s = b64(raw, SASL_PASS_MAX + 1);
	cr_assert_eq(sasl_login_decode(s, strlen(s), SASL_FIELD_PASS, &c),
	    SASL_ERR_TOO_LONG);
	cr_assert(all_zero(c.pass, sizeof(c.pass)));
	s = b64(raw, SASL_PASS_MAX + 2);
	cr_assert_eq(sasl_login_decode(s, strlen(s), SASL_FIELD_PASS, &c),
	    SASL_ERR_TOO_LONG);
}

Test(sasl, star_cancels)
{
	cr_assert(sasl_is_cancel("*", 1));
	cr_assert_not(sasl_is_cancel("**", 2));
	cr_assert_not(sasl_is_cancel("* ", 2));
	cr_assert_not(sasl_is_cancel("", 0));
	cr_assert_not(sasl_is_cancel("Kg==", 4));
}

Test(sasl, plain_values_follow_the_same_rules)
{
	char buf[SASL_PASS_MAX + 2];
	struct sasl_creds c;

	cr_assert_eq(sasl_check_plain_value(SASL_FIELD_USER, "alice", 5),
	    SASL_OK);
	cr_assert_eq(sasl_check_plain_value(SASL_FIELD_USER, "", 0),
	    SASL_ERR_EMPTY);
	cr_assert_eq(sasl_check_plain_value(SASL_FIELD_PASS, "", 0),
	    SASL_ERR_EMPTY);
	cr_assert_eq(sasl_check_plain_value(SASL_FIELD_USER, "a\rb", 3),
	    SASL_ERR_CTRL_CHAR);
	cr_assert_eq(sasl_check_plain_value(SASL_FIELD_PASS, "a\nb", 3),
	    SASL_ERR_CTRL_CHAR);
	cr_assert_eq(sasl_check_plain_value(SASL_FIELD_PASS, "a\0b", 3),
	    SASL_ERR_CTRL_CHAR);
	fill(buf, 'x', SASL_USER_MAX);
	cr_assert_eq(
	    sasl_check_plain_value(SASL_FIELD_USER, buf, SASL_USER_MAX),
	    SASL_OK);
	cr_assert_eq(
	    sasl_check_plain_value(SASL_FIELD_USER, buf, SASL_USER_MAX + 1),
	    SASL_ERR_TOO_LONG);
	fill(buf, 'x', SASL_PASS_MAX + 1);
	cr_assert_eq(
	    sasl_check_plain_value(SASL_FIELD_PASS, buf, SASL_PASS_MAX),
	    SASL_OK);
	cr_assert_eq(
	    sasl_check_plain_value(SASL_FIELD_PASS, buf, SASL_PASS_MAX + 1),
	    SASL_ERR_TOO_LONG);

	sasl_creds_clear(&c);
	cr_assert_eq(sasl_creds_set(&c, SASL_FIELD_USER, "bob!", 3), SASL_OK);
	cr_assert_str_eq(c.user, "bob");
	cr_assert_eq(sasl_creds_set(&c, SASL_FIELD_PASS, "pw", 2), SASL_OK);
	cr_assert_str_eq(c.pass, "pw");
	cr_assert_eq(sasl_creds_set(&c, SASL_FIELD_PASS, "p\rw", 3),
	    SASL_ERR_CTRL_CHAR);
	cr_assert(all_zero(c.pass, sizeof(c.pass)));
	cr_assert_str_eq(c.user, "bob");
}

Test(sasl, creds_clear_wipes_everything)
{
	struct sasl_creds c;

	memset(&c, 'x', sizeof(c));
	sasl_creds_clear(&c);
	cr_assert(all_zero(&c, sizeof(c)));
}

Test(sasl, plain_encode_for_the_backend)
{
	char out[SASL_PLAIN_B64_MAX + 1], pw[SASL_PASS_MAX + 2];
	struct sasl_creds c;

	cr_assert_eq(sasl_plain_encode("user", "pass", out, sizeof(out)), 0);
	cr_assert_str_eq(out, "AHVzZXIAcGFzcw==");
	cr_assert_eq(sasl_plain_encode("user", "pass", out, 16), -1);
	cr_assert_eq(sasl_plain_encode("user", "pass", out, 17), 0);

	fill(pw, 'p', SASL_PASS_MAX);
	cr_assert_eq(sasl_plain_encode("tim", pw, out, sizeof(out)), 0);
	cr_assert_eq(sasl_plain_decode(out, strlen(out), &c), SASL_OK);
	cr_assert_str_eq(c.user, "tim");
	cr_assert_str_eq(c.pass, pw);
	cr_assert_str_eq(c.authzid, "");

	fill(pw, 'p', SASL_PASS_MAX + 1);
	cr_assert_eq(sasl_plain_encode("tim", pw, out, sizeof(out)), -1);
	cr_assert_eq(sasl_plain_encode("t\rim", "pw", out, sizeof(out)), -1);
	cr_assert_eq(sasl_plain_encode("tim", "p\nw", out, sizeof(out)), -1);
	cr_assert_eq(sasl_plain_encode("", "pw", out, sizeof(out)), -1);
	cr_assert_eq(sasl_plain_encode("tim", "", out, sizeof(out)), -1);
}

Test(sasl, strerror_names_every_reason)
{
	enum sasl_error e, f;

	for (e = SASL_OK; e <= SASL_ERR_AUTHZID; e++) {
		cr_assert_not_null(sasl_strerror(e));
		cr_assert_str_neq(sasl_strerror(e), "unknown SASL error");
		for (f = SASL_OK; f < e; f++)
			cr_assert_str_neq(sasl_strerror(e), sasl_strerror(f));
	}
}
