/*
 * netaddr: socket addresses with their printed forms.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "netaddr.h"
#include "strcopy.h"

void
netaddr_set(struct netaddr *na, const struct sockaddr *sa, socklen_t len)
{
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;

	memset(na, 0, sizeof(*na));
	na->sa.sa.sa_family = AF_UNSPEC;
	/* Each copy is of its family's fixed size, which the union holds,
	 * and only from a caller's address that long. */
	if (sa->sa_family == AF_INET6 && len >= sizeof(*s6) &&
	    IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
		na->sa.in.sin_family = AF_INET;
		na->sa.in.sin_port = s6->sin6_port;
		memcpy(&na->sa.in.sin_addr, &s6->sin6_addr.s6_addr[12], 4);
		na->len = sizeof(na->sa.in);
	} else if (sa->sa_family == AF_INET6 && len >= sizeof(*s6)) {
		memcpy(&na->sa.in6, sa, sizeof(na->sa.in6));
		na->len = sizeof(na->sa.in6);
	} else if (sa->sa_family == AF_INET &&
		   len >= sizeof(struct sockaddr_in)) {
		memcpy(&na->sa.in, sa, sizeof(na->sa.in));
		na->len = sizeof(na->sa.in);
	}
	netaddr_format(&na->sa.sa, na->str, sizeof(na->str));
}

/*
 * Writes open host close ":" port into buf (len bytes), cut to fit and
 * terminated, as snprintf() would but without its format engine: every
 * accepted connection formats its client's address.
 */
static void
host_port(char *buf, size_t len, const char *host, const char *open,
    const char *close, unsigned port)
{
	char tmp[INET6_ADDRSTRLEN + 10], digits[8];
	size_t n = 0, d = 0;

	do
		digits[d++] = (char)('0' + port % 10);
	while ((port /= 10) != 0 && d < sizeof(digits));
	n += str_copy(tmp + n, sizeof(tmp) - n, open);
	n += str_copy(tmp + n, sizeof(tmp) - n, host);
	n += str_copy(tmp + n, sizeof(tmp) - n, close);
	if (n < sizeof(tmp) - 1)
		tmp[n++] = ':';
	while (d > 0 && n < sizeof(tmp) - 1)
		tmp[n++] = digits[--d];
	tmp[n] = '\0';
	str_copy(buf, len, tmp);
}

/*
 * An IPv4 address in dotted decimal, as inet_ntop() writes it but
 * without the sprintf() it calls per address: every accepted connection
 * formats its client's.  host has room for 16 bytes.
 */
static void
ipv4_str(const struct in_addr *in, char *host)
{
	const unsigned char *b = (const unsigned char *)&in->s_addr;
	size_t n = 0;

	for (int i = 0; i < 4; i++) {
		unsigned v = b[i];

		if (v >= 100)
			host[n++] = (char)('0' + v / 100);
		if (v >= 10)
			host[n++] = (char)('0' + v / 10 % 10);
		host[n++] = (char)('0' + v % 10);
		host[n++] = i < 3 ? '.' : '\0';
	}
}

const char *
netaddr_format(const struct sockaddr *sa, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN];

	switch (sa->sa_family) {
	case AF_INET: {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;

		ipv4_str(&s4->sin_addr, host);
		host_port(buf, len, host, "", "", ntohs(s4->sin_port));
		break;
	}
	case AF_INET6: {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;

		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
		host_port(buf, len, host, "[", "]", ntohs(s6->sin6_port));
		break;
	}
	default:
		snprintf(buf, len, "unknown");
	}
	return buf;
}

unsigned
netaddr_port(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)sa)->sin_port);
	if (sa->sa_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
	return 0;
}

const char *
netaddr_host(const struct sockaddr *sa, char *buf, size_t len)
{
	const void *a;

	if (sa->sa_family == AF_INET && len >= INET_ADDRSTRLEN) {
		ipv4_str(&((const struct sockaddr_in *)sa)->sin_addr, buf);
		return buf;
	}
	if (sa->sa_family == AF_INET)
		a = &((const struct sockaddr_in *)sa)->sin_addr;
	else if (sa->sa_family == AF_INET6)
		a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
	else
		a = NULL;
	if (a == NULL ||
	    inet_ntop(sa->sa_family, a, buf, (socklen_t)len) == NULL)
		snprintf(buf, len, "unknown");
	return buf;
}

bool
netaddr_is_any(const struct netaddr *na)
{
	switch (na->sa.sa.sa_family) {
	case AF_INET:
		return na->sa.in.sin_addr.s_addr == htonl(INADDR_ANY);
	case AF_INET6:
		return IN6_IS_ADDR_UNSPECIFIED(&na->sa.in6.sin6_addr);
	default:
		return false;
	}
}
