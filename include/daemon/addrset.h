/*
 * addrset: sets of IPv4 and IPv6 addresses (trusted proxies, exemption
 * lists, access-rule client addresses).
 *
 * Entries are single addresses, CIDR blocks or "a-b" ranges.  The set is
 * built with addrset_add(), then addrset_finish() sorts and merges it into
 * disjoint intervals so that addrset_contains() is a binary search, even
 * for lists of thousands of entries.  A finished set is read-only and may
 * be shared between threads.
 *
 * IPv4-mapped IPv6 addresses (::ffff:a.b.c.d, as a dual-stack socket
 * reports IPv4 clients) are the same addresses as their IPv4 form: a client
 * ::ffff:10.1.2.3 is in 10.0.0.0/8, and an IPv6 entry covering part of
 * ::ffff:0:0/96 also covers the matching IPv4 addresses.
 */
#ifndef POSTERN_ADDRSET_H
#define POSTERN_ADDRSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/socket.h>

struct addrset;

/* Returns a new empty set, or NULL when out of memory. */
struct addrset *addrset_new(void);

/*
 * Adds one token: "192.0.2.1", "2001:db8::1", "10.0.0.0/8",
 * "2001:db8::/32" or "192.0.2.10-192.0.2.20" (blanks around the token are
 * ignored).  Returns 0, or -1 with a reason naming the token in errbuf.
 */
int addrset_add(struct addrset *set, const char *token, char *errbuf,
    size_t errlen);

/* Sorts and merges overlapping and adjacent entries; call after the adds. */
void addrset_finish(struct addrset *set);

/*
 * Whether the address of sa (AF_INET or AF_INET6; the port is ignored) is
 * in the set.  An unfinished set is searched linearly, a finished one in
 * O(log n).  Other families are never in a set.
 */
bool addrset_contains(const struct addrset *set, const struct sockaddr *sa);

/* Number of intervals held: entries added, or after finish, merged ranges. */
size_t addrset_count(const struct addrset *set);

/*
 * Writes the set to out as addrset_add() tokens separated by sep (an
 * address, a CIDR block where the interval is one, else an "a-b" range),
 * IPv4 first; adding them all to a new set gives the same set once both
 * are finished.  Returns the number of tokens written.
 */
size_t addrset_write(const struct addrset *set, const char *sep, FILE *out);

/* Frees the set; NULL is ignored. */
void addrset_free(struct addrset *set);

#endif
