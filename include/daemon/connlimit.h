/*
 * connlimit: connection counters shared by all workers.
 *
 * (Named connlimit, not limits, so that it cannot shadow <limits.h>.)
 * Counts are per protocol: in total, per client address and per user, the
 * way Exchange's MaxConnections, MaxConnectionFromSingleIP and
 * MaxConnectionsPerUser count per service.
 */
#ifndef POSTERN_CONNLIMIT_H
#define POSTERN_CONNLIMIT_H

#include <sys/socket.h>

#include "conf.h"

/* What connlimit_acquire_ip() found. */
enum connlimit_result {
	CONNLIMIT_OK = 0,
	CONNLIMIT_TOTAL, /* max_connections reached */
	CONNLIMIT_IP,    /* max_connection_from_single_ip reached */
	CONNLIMIT_USER   /* max_connections_per_user reached */
};

/* Sets up the counters; call once before any worker starts. */
void connlimit_init(void);

/*
 * Counts one more connection of protocol p from the client sa unless a
 * limit (0: none) would be passed; on CONNLIMIT_OK the caller must later
 * call connlimit_release_ip() with the same sa and v6prefix.  An IPv4
 * client (also one written as ::ffff:a.b.c.d) counts per address, an IPv6
 * client per network of its first v6prefix bits (1-128): one host is
 * usually given a whole /64, and counting per address would let it open
 * max_ip connections from each of its 2^64 addresses.
 */
enum connlimit_result connlimit_acquire_ip(enum proto_id p,
    const struct sockaddr *sa, unsigned v6prefix, unsigned max_total,
    unsigned max_ip);

/* Gives back what connlimit_acquire_ip() counted. */
void connlimit_release_ip(enum proto_id p, const struct sockaddr *sa,
    unsigned v6prefix);

/*
 * Counts one more session of user (compared case-insensitively) unless max
 * (0: none) would be passed.
 */
enum connlimit_result connlimit_acquire_user(enum proto_id p, const char *user,
    unsigned max);

/* Gives back what connlimit_acquire_user() counted. */
void connlimit_release_user(enum proto_id p, const char *user);

/* The current total of protocol p, for status messages and tests. */
unsigned connlimit_total(enum proto_id p);

#endif
