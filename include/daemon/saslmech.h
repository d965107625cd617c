/*
 * saslmech: the SASL mechanisms postern relays to the backend without
 * verifying them itself (pass-through), and what postern can learn from
 * their messages: who the user is, where the mechanism lets a proxy see
 * it.  Pure functions: no I/O, no logging.
 *
 * Each mechanism has a "user" hook, called on every decoded client
 * message before that message is forwarded: message 0 is the initial
 * response, message n the answer to the backend's n-th challenge.  A
 * mechanism whose user shows only late in the exchange (NTLM's Type 3
 * message) answers SASLMECH_USER_NONE until then.
 */
#ifndef POSTERN_SASLMECH_H
#define POSTERN_SASLMECH_H

#include <stdbool.h>
#include <stddef.h>

/* The relayed mechanisms; each is a bit (1u << id) in a mechanism set. */
enum saslmech_id {
	SASLMECH_XOAUTH2,
	SASLMECH_OAUTHBEARER,
	SASLMECH_NTLM,
	SASLMECH_GSSAPI,
	SASLMECH_COUNT
};

/* What a client message says of the user. */
enum saslmech_user {
	SASLMECH_USER_FOUND,    /* the user is in it: *user is filled */
	SASLMECH_USER_NONE,     /* this message does not name the user */
	SASLMECH_USER_MISSING,  /* it should, and does not (a bearer token
				   without an identity) */
	SASLMECH_USER_MALFORMED /* not a message of the mechanism */
};

/* Which client message names the user, as far as a proxy can see. */
enum saslmech_user_at {
	SASLMECH_USER_AT_FIRST, /* the first: policy and route before the
				   backend hears of the exchange */
	SASLMECH_USER_AT_LAST,  /* a later one (NTLM's Type 3): the backend
				   is chosen without the user, whose policy
				   is applied before that message leaves */
	SASLMECH_USER_AT_NONE   /* none (GSSAPI): only rules that need no
				   user can allow the session */
};

/* Longest user name a hook returns, in bytes (sasl.h's SASL_USER_MAX). */
#define SASLMECH_USER_MAX 255

/*
 * The hook: what message number n (0: the initial response), msg[0..len)
 * decoded from base64, says of the user.  user has SASLMECH_USER_MAX + 1
 * bytes; on SASLMECH_USER_FOUND it holds the name, NUL-terminated, never
 * empty and without control characters.  *why is a fixed text for the
 * daemon log when the answer is MISSING or MALFORMED; it never holds
 * client data.
 */
typedef enum saslmech_user saslmech_user_fn(const unsigned char *msg,
    size_t len, unsigned n, char *user, const char **why);

/* A relayed mechanism. */
struct saslmech {
	enum saslmech_id id;
	const char *name; /* as in CAPA and AUTHENTICATE: "XOAUTH2" */
	/*
	 * The client sends a secret that a listener could reuse (a bearer
	 * token): for the login type it is a password in the clear.
	 * NTLM's and Kerberos's responses are not.
	 */
	bool sends_secret;
	/*
	 * Whether passthrough_mechanisms may name it yet: a mechanism is
	 * offered only once postern can see its user, or the policy knows
	 * how to treat sessions without one.
	 */
	bool available;
	enum saslmech_user_at user_at;
	/* Longest client line of its exchange, base64 without CRLF. */
	size_t line_max;
	saslmech_user_fn *user;
};

/* The mechanism id, or NULL when out of range. */
const struct saslmech *saslmech_get(enum saslmech_id id);

/* The mechanism named name[0..len) (any case), or NULL. */
const struct saslmech *saslmech_by_name(const char *name, size_t len);

/* The set of every mechanism, for a configured set's checks. */
#define SASLMECH_ALL ((1u << SASLMECH_COUNT) - 1)

/*
 * The relayed mechanisms an IMAP capability list (space-separated, as in
 * "* CAPABILITY" or "[CAPABILITY ...]") offers as AUTH=<name>: a set.
 */
unsigned saslmech_imap_caps(const char *caps, size_t len);

/*
 * The relayed mechanisms a POP3 CAPA line (without its end) offers:
 * "SASL <name> ...", a set; 0 for any other line.
 */
unsigned saslmech_pop3_capa(const char *line, size_t len);

/*
 * Writes the names in set, in the table's order, each preceded by
 * prefix (" AUTH=" for IMAP, " " for POP3), into out[0..cap),
 * NUL-terminated.  Returns 0, or -1 when they do not fit (out empty).
 */
int saslmech_list(unsigned set, const char *prefix, char *out, size_t cap);

/*
 * XOAUTH2 (Google's and Microsoft's format):
 * "user=" name ^A "auth=Bearer " token ^A ^A.  The initial response
 * names the user; any later message (the empty answer to an error
 * challenge) does not.
 */
saslmech_user_fn saslmech_xoauth2_user;

/*
 * OAUTHBEARER (RFC 7628 section 3.1): a GS2 header
 * "n,a=" authzid "," then ^A key=value pairs, "auth=Bearer " token among
 * them, ending ^A ^A.  The user is the authzid, with the RFC 5801
 * escapes "=2C" and "=3D" read back; a message without one is
 * SASLMECH_USER_MISSING (the identity is only inside the token, which a
 * proxy cannot read).
 */
saslmech_user_fn saslmech_oauthbearer_user;

/*
 * NTLM (MS-NLMP): message 0 must be a NEGOTIATE (Type 1) and names
 * nobody; message 1 must be an AUTHENTICATE (Type 3) (ntlm.h), whose
 * names give the user as "DOMAIN\\user", or as the user name alone when
 * the domain is empty (a "user@realm" UPN); anything else is malformed.
 */
saslmech_user_fn saslmech_ntlm_user;

/* GSSAPI (RFC 4752): no message names the user to a proxy. */
saslmech_user_fn saslmech_gssapi_user;

#endif
