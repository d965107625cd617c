/*
 * netaddr: socket addresses with their printed forms.
 */
#ifndef POSTERN_NETADDR_H
#define POSTERN_NETADDR_H

#include <stdbool.h>
#include <sys/socket.h>

/* Room for "[ffff:...:255.255.255.255]:65535" and a NUL. */
#define NETADDR_STRLEN 56

/* An address, its length, and "192.0.2.1:993" / "[2001:db8::1]:993". */
struct netaddr {
	struct sockaddr_storage sa;
	socklen_t len;
	char str[NETADDR_STRLEN];
};

/*
 * Stores sa into na, turning an IPv4-mapped IPv6 address into plain IPv4
 * so that limits, rules and logs see one form; fills na->str.
 */
void netaddr_set(struct netaddr *na, const struct sockaddr *sa, socklen_t len);

/* Writes "host:port" ("[v6]:port") for sa into buf; returns buf. */
const char *netaddr_format(const struct sockaddr *sa, char *buf, size_t len);

/* Writes the address of sa alone ("192.0.2.1", "2001:db8::1"); returns buf. */
const char *netaddr_host(const struct sockaddr *sa, char *buf, size_t len);

/* The port of sa in host order, 0 for a family without ports. */
unsigned netaddr_port(const struct sockaddr *sa);

#endif
