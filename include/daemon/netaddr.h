/*
 * netaddr: socket addresses with their printed forms.
 */
#ifndef POSTERN_NETADDR_H
#define POSTERN_NETADDR_H

#include <netinet/in.h>
#include <stdbool.h>
#include <sys/socket.h>

/* Room for "[ffff:...:255.255.255.255]:65535" and a NUL. */
#define NETADDR_STRLEN 56

/*
 * Room for the only families postern listens on, connects from or takes
 * from a PROXY header (which reduces every other family to its TCP peer):
 * a sockaddr_storage would be 100 bytes more, twice in every session.
 */
union netaddr_sa {
	struct sockaddr sa;
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
};

/* An address, its length, and "192.0.2.1:993" / "[2001:db8::1]:993". */
struct netaddr {
	union netaddr_sa sa;
	socklen_t len;
	char str[NETADDR_STRLEN];
};

/*
 * Stores sa into na, turning an IPv4-mapped IPv6 address into plain IPv4
 * so that limits, rules and logs see one form; fills na->str.  An address
 * of another family, or one shorter than its family's, is stored as
 * AF_UNSPEC with length 0 and "unknown".
 */
void netaddr_set(struct netaddr *na, const struct sockaddr *sa, socklen_t len);

/* Writes "host:port" ("[v6]:port") for sa into buf; returns buf. */
const char *netaddr_format(const struct sockaddr *sa, char *buf, size_t len);

/* Writes the address of sa alone ("192.0.2.1", "2001:db8::1"); returns buf. */
const char *netaddr_host(const struct sockaddr *sa, char *buf, size_t len);

/* Whether na is the wildcard address (0.0.0.0 or ::) of its family. */
bool netaddr_is_any(const struct netaddr *na);

/* The port of sa in host order, 0 for a family without ports. */
unsigned netaddr_port(const struct sockaddr *sa);

#endif
