/*
 * throttle: failed logins counted across all workers, per client address
 * and per user name, for brute-force protection.
 *
 * Each failed login (the backend refused the password) within a window
 * makes the next failure answer wait longer, as Dovecot's auth penalty
 * does; past a limit the address, or the user, is refused without asking
 * the backend for a while.  The table lives in memory, outside the
 * configuration snapshots, so that a reload keeps the counts while the
 * new limits apply from the next call.  It holds at most max_entries
 * entries: a spray from millions of addresses pushes the entries touched
 * longest ago out, never the memory up.
 *
 * The functions take the time (monotonic milliseconds) from the caller,
 * so that tests need not sleep.  All are thread-safe.
 */
#ifndef POSTERN_THROTTLE_H
#define POSTERN_THROTTLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "throttle_conf.h"

struct addrset;
struct throttle;

/*
 * The longest delay before a failure answer, unless failure_delay itself
 * is longer: Dovecot's auth penalty stops at 15 s too.  Longer waits
 * would only hold connections (and places in the connection limits)
 * open; the ban is what stops a guesser that waits anyway.
 */
#define THROTTLE_DELAY_CAP_MS 15000u

/* The limits of one call: the [throttle] settings and the client's. */
struct throttle_limits {
	const struct throttle_conf *tc;
	unsigned v6prefix; /* IPv6 clients count per network of this prefix */
};

/* What a check or a failure found. */
enum throttle_verdict {
	THROTTLE_OK = 0,
	THROTTLE_BANNED_IP,  /* the client's address is refused for now */
	THROTTLE_BANNED_USER /* the user name is refused for now */
};

/* The outcome of throttle_check() and throttle_failed(). */
struct throttle_result {
	enum throttle_verdict verdict;
	uint64_t ban_left_ms;   /* of the ban found or just begun */
	unsigned delay_ms;      /* throttle_failed(): before the answer */
	unsigned ip_failures;   /* in the address's window, this one too */
	unsigned user_failures; /* in the user's window, this one too */
	bool ban_started;       /* throttle_failed(): this failure banned */
};

/* A new empty table, or NULL when out of memory. */
struct throttle *throttle_new(void);

/* Frees t; NULL is ignored. */
void throttle_free(struct throttle *t);

/* The daemon's one table, made at the first call; NULL if out of memory. */
struct throttle *throttle_shared(void);

/*
 * Whether a login of user (as the client gave it) from sa may go to the
 * backend at now: THROTTLE_OK, or which ban refuses it.  Exempt
 * addresses are always THROTTLE_OK.
 */
enum throttle_verdict throttle_check(struct throttle *t,
    const struct throttle_limits *lim, const struct sockaddr *sa,
    const char *user, uint64_t now, struct throttle_result *res);

/*
 * Counts a failed login of user from sa at now and fills res: the delay
 * before the failure answer, and whether this failure began a ban.
 * Nothing is counted for an exempt address.
 */
void throttle_failed(struct throttle *t, const struct throttle_limits *lim,
    const struct sockaddr *sa, const char *user, uint64_t now,
    struct throttle_result *res);

/*
 * A login of user from sa succeeded: the failures of user from this
 * address are taken off both the user's and the address's counts; the
 * address's failures for other users stay.
 */
void throttle_succeeded(struct throttle *t, const struct throttle_limits *lim,
    const struct sockaddr *sa, const char *user, uint64_t now);

/* The entries held now, for tests and statistics. */
size_t throttle_entries(struct throttle *t);

/* The delay before the answer to the n-th failure in a window (n >= 1). */
unsigned throttle_delay(unsigned first_ms, unsigned n);

/*
 * What postern still waits of delay_ms after a backend that took
 * backend_ms to refuse the password: the client's answer comes delay_ms
 * after the credentials went out, never later because the backend (as
 * Dovecot's auth_failure_delay does) delays failures too.  0 when the
 * backend took as long or longer.
 */
unsigned throttle_wait(unsigned delay_ms, uint64_t backend_ms);

#endif
