/*
 * sasl: decoding and checking the credentials clients send with SASL PLAIN
 * (RFC 4616), SASL LOGIN, POP3 USER/PASS and IMAP LOGIN, and encoding them
 * again for the backend.  Pure functions: no I/O, no logging.
 *
 * Every value that leaves this module has been checked: not empty, no CR,
 * LF or NUL inside (they would let a client inject commands into the
 * backend dialogue), and within the bounds below.
 */
#ifndef POSTERN_SASL_H
#define POSTERN_SASL_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Longest accepted values, in bytes.  255 is the longest user name any
 * common directory accepts (userPrincipalName is at most 256 characters
 * with the '@'); 1024 leaves room for long generated passwords and tokens
 * while bounding the work done on pre-auth input.
 */
#define SASL_USER_MAX 255
#define SASL_PASS_MAX 1024

/* Longest decoded PLAIN message: authzid NUL authcid NUL passwd. */
#define SASL_PLAIN_MAX (SASL_USER_MAX + 1 + SASL_USER_MAX + 1 + SASL_PASS_MAX)

/* Bytes that base64 of n bytes takes, without the terminating NUL. */
#define SASL_B64_LEN(n) ((((size_t)(n) + 2) / 3) * 4)

/* Longest base64 PLAIN message accepted from a client. */
#define SASL_PLAIN_B64_MAX SASL_B64_LEN(SASL_PLAIN_MAX)

/* The SASL LOGIN server challenges: base64 of "Username:" and "Password:". */
#define SASL_LOGIN_PROMPT_USER "VXNlcm5hbWU6"
#define SASL_LOGIN_PROMPT_PASS "UGFzc3dvcmQ6"

/* Why a credential was refused; SASL_OK (0) when it was not. */
enum sasl_error {
	SASL_OK = 0,
	SASL_ERR_BASE64,    /* not strict RFC 4648 base64 */
	SASL_ERR_SYNTAX,    /* PLAIN message without its two NUL separators */
	SASL_ERR_EMPTY,     /* empty user name or password */
	SASL_ERR_CTRL_CHAR, /* CR, LF or NUL inside a value */
	SASL_ERR_TOO_LONG,  /* longer than the bounds above */
	SASL_ERR_AUTHZID    /* asks to act as another identity */
};

/* Which credential a value is, which decides its length bound. */
enum sasl_field { SASL_FIELD_USER, SASL_FIELD_PASS };

/* Checked credentials, NUL-terminated; wipe with sasl_creds_clear(). */
struct sasl_creds {
	char user[SASL_USER_MAX + 1];
	char pass[SASL_PASS_MAX + 1];
	char authzid[SASL_USER_MAX + 1]; /* empty, or equal to user */
};

/*
 * Decodes strict base64 (RFC 4648 section 4: padding required, no
 * whitespace, zero pad bits) into out; returns 0 and the length in *outlen,
 * or -1 on bad input or when cap is too small.
 */
int sasl_b64_decode(const char *in, size_t inlen, void *out, size_t cap,
    size_t *outlen);

/*
 * Encodes inlen bytes as NUL-terminated base64 into out; returns 0, or -1
 * when cap is smaller than SASL_B64_LEN(inlen) + 1.
 */
int sasl_b64_encode(const void *in, size_t inlen, char *out, size_t cap);

/*
 * Decodes one client line (without CRLF) of SASL PLAIN into creds; on any
 * error creds is wiped and the reason returned.
 */
enum sasl_error sasl_plain_decode(const char *line, size_t len,
    struct sasl_creds *creds);

/*
 * Decodes one client line (without CRLF) answering a SASL LOGIN prompt into
 * the given field of creds; on error that field is wiped.
 */
enum sasl_error sasl_login_decode(const char *line, size_t len,
    enum sasl_field field, struct sasl_creds *creds);

/* Whether a line (without CRLF) is "*", the client cancelling a SASL exchange.
 */
bool sasl_is_cancel(const char *line, size_t len);

/*
 * Checks a cleartext value (USER, PASS, IMAP LOGIN arguments, already
 * unquoted) against the rules above for its field.
 */
enum sasl_error sasl_check_plain_value(enum sasl_field field, const char *value,
    size_t len);

/* Checks value like sasl_check_plain_value() and copies it into creds. */
enum sasl_error sasl_creds_set(struct sasl_creds *creds, enum sasl_field field,
    const char *value, size_t len);

/* Wipes every field of creds in a way the compiler cannot optimise out. */
void sasl_creds_clear(struct sasl_creds *creds);

/*
 * Writes base64 of "\0user\0pass" (PLAIN with an empty authzid) into out
 * for the backend; returns 0, or -1 if a value breaks the rules above or
 * cap is too small.
 */
int sasl_plain_encode(const char *user, const char *pass, char *out,
    size_t cap);

/* A fixed description of err for the daemon log; never holds client data. */
const char *sasl_strerror(enum sasl_error err);

#endif
