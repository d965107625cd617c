/*
 * ntlm: reading NTLMSSP messages (MS-NLMP section 2.2.1) as a proxy sees
 * them in a SASL NTLM exchange, already base64-decoded: which message a
 * blob is, and the user and domain names an AUTHENTICATE (Type 3) message
 * carries, so that the access policy can be applied before the message
 * reaches the backend.  Pure functions: no I/O, no logging, no
 * verification (that stays with the backend's domain controller).
 *
 * Every offset and length in a message is checked against the message
 * before a byte is read; names are converted to UTF-8 into the caller's
 * buffers, which always end up NUL-terminated, valid UTF-8 and within
 * their capacity.
 */
#ifndef POSTERN_NTLM_H
#define POSTERN_NTLM_H

#include <stddef.h>
#include <stdint.h>

/* The NTLMSSP message types of MS-NLMP 2.2.1. */
enum ntlm_type {
	NTLM_NEGOTIATE = 1,   /* Type 1, client to server */
	NTLM_CHALLENGE = 2,   /* Type 2, server to client */
	NTLM_AUTHENTICATE = 3 /* Type 3, client to server */
};

/* Negotiate flags (MS-NLMP 2.2.2.5) this module reads. */
#define NTLM_FLAG_UNICODE 0x00000001u /* NTLMSSP_NEGOTIATE_UNICODE */
#define NTLM_FLAG_OEM 0x00000002u     /* NTLM_NEGOTIATE_OEM */

/*
 * Shortest messages accepted, in bytes: the fixed part of each that names
 * what follows.  A Type 1 ends after its flags (early clients sent no
 * more); a Type 2 after its server challenge; a Type 3 after its flags,
 * which say how its names are encoded.
 */
#define NTLM_NEGOTIATE_MIN 16
#define NTLM_CHALLENGE_MIN 32
#define NTLM_AUTHENTICATE_MIN 64

/*
 * Buffer sizes, NUL included, that hold every name a Type 3 may carry
 * within the bounds postern accepts for a user name (sasl.h's 255 bytes)
 * and a domain (a DNS name is at most 253 bytes).
 */
#define NTLM_USER_BUF 256
#define NTLM_DOMAIN_BUF 256

/* Why a message was refused; NTLM_OK (0) when it was not. */
enum ntlm_error {
	NTLM_OK = 0,
	NTLM_ERR_SIGNATURE,     /* does not start with "NTLMSSP\0" */
	NTLM_ERR_TRUNCATED,     /* shorter than its type's fixed part */
	NTLM_ERR_TYPE,          /* a message type other than 1, 2 or 3 */
	NTLM_ERR_NOT_AUTH,      /* a valid message, but not a Type 3 */
	NTLM_ERR_FIELD_RANGE,   /* a field's offset and length leave the message
				 */
	NTLM_ERR_FIELD_OVERLAP, /* a field lies in the fixed header */
	NTLM_ERR_CHARSET,       /* neither the UNICODE nor the OEM flag */
	NTLM_ERR_UTF16_ODD,     /* a UTF-16 name of an odd byte count */
	NTLM_ERR_UTF16_SURROGATE, /* a lone or reversed UTF-16 surrogate */
	NTLM_ERR_OEM_NON_ASCII,   /* an OEM name with bytes above 0x7f */
	NTLM_ERR_NUL,             /* a NUL inside a name */
	NTLM_ERR_CTRL_CHAR,       /* another control character inside a name */
	NTLM_ERR_EMPTY_USER,      /* no user name: anonymous NTLM */
	NTLM_ERR_TOO_LONG         /* a name longer than its buffer */
};

/*
 * Tells the type of the len bytes of msg into *type; returns NTLM_OK, or
 * why msg is no NTLMSSP message (*type is then left alone).
 */
enum ntlm_error ntlm_message_type(const void *msg, size_t len,
    enum ntlm_type *type);

/*
 * Reads the user and domain names of an AUTHENTICATE (Type 3) message of
 * len bytes into user (usercap bytes) and domain (domaincap bytes, both at
 * least 1) as NUL-terminated UTF-8, and its negotiate flags into *flags
 * (may be NULL).  Names are UTF-16LE when the UNICODE flag is set, else
 * OEM, of which only ASCII is accepted (a proxy cannot know the client's
 * code page, and a guessed one could name another user).  Every field of
 * the message, read or not, must lie inside it and after the fixed
 * header.  On any error both names are empty.
 */
enum ntlm_error ntlm_auth_names(const void *msg, size_t len, char *user,
    size_t usercap, char *domain, size_t domaincap, uint32_t *flags);

/* A fixed description of err for the daemon log; never holds client data. */
const char *ntlm_strerror(enum ntlm_error err);

#endif
