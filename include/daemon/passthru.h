/*
 * passthru: SASL pass-through, the exchange of a mechanism postern does
 * not verify (saslmech.h) relayed line by line between the client and
 * the routed backend.
 *
 * The life of an exchange:
 *  1. The client's AUTH/AUTHENTICATE names a mechanism of the protocol's
 *     passthrough_mechanisms; the protocol module applies the login type
 *     (session_mech_login_type_ok()) and calls passthru_start().
 *  2. The first client message (the initial response, or the line that
 *     answers postern's own empty "+" challenge) is read by postern, and
 *     the mechanism's user hook says who the user is.  Nothing has gone to
 *     any backend yet: the user is throttled, checked against the access
 *     policy and routed exactly as a password login is
 *     (session_login_passthru()); a refusal never lets the message leave.
 *  3. The backend session is opened as for any login (greeting, TLS,
 *     capabilities, the client's address); instead of the credentials,
 *     the protocol sends the mechanism with the first message, and from
 *     then on passes each backend challenge to passthru_challenge() and
 *     the backend's verdict to session_backend_done() as for a password.
 *  4. Each further client line goes through passthru_client_input(): "*"
 *     cancels, anything else must be base64 within the mechanism's bound
 *     and is shown to the user hook before it is forwarded.
 *
 * NTLM names its user only in its last message (saslmech.h's user_at),
 * and GSSAPI in none: their exchange starts with step 3, on the backend
 * that rules needing no user choose (the protocol's default one unless
 * such a rule routes it; the route map needs the user).  NTLM's Type 3
 * is held back while session_login_late() applies the throttle and the
 * policy to its user; then it is forwarded, or the backend gets "*"
 * instead and the client postern's refusal.
 *
 * Client messages are secrets: they are never logged, and every copy is
 * wiped.
 */
#ifndef POSTERN_PASSTHRU_H
#define POSTERN_PASSTHRU_H

#include <stdbool.h>
#include <stddef.h>

#include "proto.h"
#include "saslmech.h"

struct session;

/*
 * The relayed mechanism named mech[0..len) if the protocol of s relays
 * it (passthrough_mechanisms), else NULL.
 */
const struct saslmech *passthru_mech(const struct session *s, const char *mech,
    size_t len);

/*
 * The relayed mechanisms that s advertises in CAPA/CAPABILITY: those
 * configured that the protocol's default backend offers, as far as
 * postern has seen (passthru_backend_offers()); all configured ones
 * while it has not looked yet.  Those that send a secret
 * (saslmech.sends_secret) follow PLAIN's advertisement; the others are
 * hidden only where the login type refuses every login without TLS.
 */
unsigned passthru_advertised(const struct session *s);

/*
 * Starts relaying mechanism m for s; the protocol has applied the login
 * type and answers to ref.  ir[0..irlen) is the initial response as the
 * client wrote it (base64, or "=" for an empty one), or ir is NULL when
 * there was none: postern then asks for it with an empty challenge.
 * Returns -1 after closing the session.
 */
int passthru_start(struct session *s, const char *ref, const struct saslmech *m,
    const char *ir, size_t irlen);

/* Whether an exchange waits for a client line (the client's input goes to
 * passthru_client_input() then, not to the protocol). */
bool passthru_client_turn(const struct session *s);

/* Reads the client's next line of the exchange. */
void passthru_client_input(struct session *s);

/*
 * For the protocol's backend dialogue, once the backend's mechanisms
 * (offered, a set) are known: the mechanism's name and the first message
 * to send (base64, "" for an empty one).  Returns false when the backend
 * does not offer the mechanism (the protocol answers BACKEND_NO_MECH).
 * The message is marked sent when ir_sent says the protocol sends it as
 * the command's initial response; otherwise passthru_challenge() sends it
 * at the backend's first challenge.
 */
bool passthru_backend_begin(struct session *s, unsigned offered,
    const char **name, const char **first, size_t *firstlen);
void passthru_first_sent(struct session *s);

/*
 * A challenge of the backend, data[0..len) after "+ ": answered with the
 * first message if that was not sent as an initial response, otherwise
 * relayed to the client, whose answer is then awaited.
 */
void passthru_challenge(struct session *s, const char *data, size_t len);

/* The mechanism being relayed for s, or NULL. */
const struct saslmech *passthru_current(const struct session *s);

/* Whether the client cancelled the exchange with "*". */
bool passthru_cancelled(const struct session *s);

/*
 * Notes the relayed mechanisms (a set) the routed backend of s offers to
 * postern's protocol, for passthru_advertised().  True when s is a probe
 * (session_probe()), which has then learned what it came for: the
 * protocol answers BACKEND_PROBED.
 */
bool passthru_backend_offers(struct session *s, unsigned offered);

/* Says in the daemon log what a probe learned: the mechanisms the
 * backend offers and those configured that it does not. */
void passthru_probe_report(const struct session *s);

/* Whether a message that named the user late waits for the policy. */
bool passthru_late_pending(const struct session *s);

/* The policy allowed the held message: it goes to the backend. */
void passthru_late_forward(struct session *s);

/*
 * The policy (or the throttle: throttled is the protocol log's reason)
 * refused the held message: it is wiped, the backend is told "*", and
 * its answer ends the login with r (passthru_late_refused()).
 */
void passthru_late_refuse(struct session *s, enum login_result r,
    const char *throttled);

/* Whether the exchange ended in passthru_late_refuse(), and how. */
bool passthru_late_refused(const struct session *s, enum login_result *r,
    const char **throttled);

/* Ends the exchange of s, if any, wiping what it kept. */
void passthru_free(struct session *s);

#endif
