/*
 * proxyproto: PROXY protocol v1/v2 parsing and v2 building.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "proxyproto.h"

static const uint8_t v2_sig[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a,
    0x51, 0x55, 0x49, 0x54, 0x0a};
static const char v1_sig[] = "PROXY ";
#define V1_SIG_LEN (sizeof(v1_sig) - 1)
#define V2_HDR_LEN 16

/* v2 byte 13: version in the high nibble, command in the low one. */
#define V2_VERSION 0x2
#define V2_CMD_LOCAL 0x0
#define V2_CMD_PROXY 0x1

/* v2 byte 14: address family and transport, the only assigned values. */
#define V2_UNSPEC 0x00
#define V2_TCP4 0x11
#define V2_UDP4 0x12
#define V2_TCP6 0x21
#define V2_UDP6 0x22
#define V2_UNIX_STREAM 0x31
#define V2_UNIX_DGRAM 0x32

static enum proxyproto_status
invalid(struct proxyproto_result *out, enum proxyproto_error err)
{
	out->error = err;
	return PROXYPROTO_INVALID;
}

/*
 * A decimal number of at most maxdigits digits and value max, without the
 * leading zeros that the specification forbids (they could be read as octal).
 */
static int
parse_decimal(const char *s, size_t maxdigits, unsigned max, unsigned *v)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > maxdigits || (s[0] == '0' && n > 1))
		return -1;
	*v = 0;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		*v = *v * 10 + (unsigned)(s[i] - '0');
	}
	return *v <= max ? 0 : -1;
}

/* Exactly four dot-separated decimal octets, as the specification says. */
static int
parse_ipv4(char *s, struct in_addr *addr)
{
	uint8_t b[4];
	unsigned v;
	char *dot;
	int i;

	for (i = 0; i < 4; i++) {
		dot = strchr(s, '.');
		if ((i < 3) != (dot != NULL))
			return -1;
		if (dot != NULL)
			*dot = '\0';
		if (parse_decimal(s, 3, 255, &v) == -1)
			return -1;
		b[i] = (uint8_t)v;
		if (dot != NULL)
			s = dot + 1;
	}
	memcpy(&addr->s_addr, b, 4);
	return 0;
}

static int
v1_address(int family, char *addr, char *port, struct sockaddr_storage *ss,
    enum proxyproto_error *err)
{
	unsigned p;

	if (parse_decimal(port, 5, 65535, &p) == -1) {
		*err = PROXYPROTO_ERR_V1_PORT;
		return -1;
	}
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)p);
		if (parse_ipv4(addr, &sin->sin_addr) == 0)
			return 0;
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)p);
		if (inet_pton(AF_INET6, addr, &sin6->sin6_addr) == 1)
			return 0;
	}
	*err = PROXYPROTO_ERR_V1_ADDRESS;
	return -1;
}

/* The complete line, CRLF excluded, is buf[0..eol). */
static enum proxyproto_status
v1_line(const uint8_t *buf, size_t eol, struct proxyproto_result *out)
{
	char line[PROXYPROTO_V1_MAX + 1], *field[5], *p, *sp;
	enum proxyproto_error err;
	int family, n;

	/* parse_v1() finds the CRLF within the limit; the copy checks its
	 * room all the same. */
	if (eol + 2 > PROXYPROTO_V1_MAX)
		return invalid(out, PROXYPROTO_ERR_V1_TOO_LONG);
	memcpy(line, buf, eol);
	line[eol] = '\0';
	out->version = 1;
	out->consumed = eol + 2;
	p = line + V1_SIG_LEN;

	/*
	 * UNKNOWN: the sender could not tell the addresses; whatever
	 * follows it on the line is to be ignored.
	 */
	if (strncmp(p, "UNKNOWN", 7) == 0 && (p[7] == '\0' || p[7] == ' ')) {
		out->local = true;
		return PROXYPROTO_DONE;
	}

	/* "TCP4"/"TCP6" SP src SP dst SP sport SP dport, single spaces. */
	for (n = 0;; n++) {
		if (n == 5 || *p == '\0' || *p == ' ')
			return invalid(out, PROXYPROTO_ERR_V1_SYNTAX);
		field[n] = p;
		if ((sp = strchr(p, ' ')) == NULL)
			break;
		*sp = '\0';
		p = sp + 1;
	}
	if (n != 4)
		return invalid(out, PROXYPROTO_ERR_V1_SYNTAX);
	if (strcmp(field[0], "TCP4") == 0)
		family = AF_INET;
	else if (strcmp(field[0], "TCP6") == 0)
		family = AF_INET6;
	else
		return invalid(out, PROXYPROTO_ERR_V1_SYNTAX);
	if (v1_address(family, field[1], field[3], &out->src, &err) == -1 ||
	    v1_address(family, field[2], field[4], &out->dst, &err) == -1) {
		memset(&out->src, 0, sizeof(out->src));
		memset(&out->dst, 0, sizeof(out->dst));
		return invalid(out, err);
	}
	return PROXYPROTO_DONE;
}

static enum proxyproto_status
parse_v1(const uint8_t *buf, size_t len, struct proxyproto_result *out)
{
	size_t i, lim = len < PROXYPROTO_V1_MAX ? len : PROXYPROTO_V1_MAX;

	/* Decide on every byte, so that garbage is refused at once. */
	for (i = V1_SIG_LEN; i < lim; i++) {
		if (buf[i] == '\r') {
			if (i + 1 >= PROXYPROTO_V1_MAX)
				return invalid(out, PROXYPROTO_ERR_V1_TOO_LONG);
			if (i + 1 >= len)
				return PROXYPROTO_NEED_MORE;
			if (buf[i + 1] != '\n')
				return invalid(out, PROXYPROTO_ERR_V1_CHAR);
			return v1_line(buf, i, out);
		}
		if (buf[i] < 0x20 || buf[i] > 0x7e)
			return invalid(out, PROXYPROTO_ERR_V1_CHAR);
	}
	if (len >= PROXYPROTO_V1_MAX)
		return invalid(out, PROXYPROTO_ERR_V1_TOO_LONG);
	return PROXYPROTO_NEED_MORE;
}

/* Length of the address block of a v2 family byte. */
static size_t
v2_addr_len(uint8_t fam)
{
	switch (fam) {
	case V2_TCP4:
	case V2_UDP4:
		return 12;
	case V2_TCP6:
	case V2_UDP6:
		return 36;
	case V2_UNIX_STREAM:
	case V2_UNIX_DGRAM:
		return 216;
	default:
		return 0;
	}
}

static enum proxyproto_status
parse_v2(const uint8_t *buf, size_t len, struct proxyproto_result *out)
{
	const uint8_t *a;
	size_t blen, alen, off;
	uint8_t cmd, fam;

	if (len < 13)
		return PROXYPROTO_NEED_MORE;
	if (buf[12] >> 4 != V2_VERSION)
		return invalid(out, PROXYPROTO_ERR_V2_VERSION);
	cmd = buf[12] & 0x0f;
	if (cmd != V2_CMD_LOCAL && cmd != V2_CMD_PROXY)
		return invalid(out, PROXYPROTO_ERR_V2_COMMAND);
	if (len < 14)
		return PROXYPROTO_NEED_MORE;
	fam = buf[13];
	if (fam != V2_UNSPEC && v2_addr_len(fam) == 0)
		return invalid(out, PROXYPROTO_ERR_V2_FAMILY);
	if (len < V2_HDR_LEN)
		return PROXYPROTO_NEED_MORE;
	blen = (size_t)buf[14] << 8 | buf[15];
	alen = v2_addr_len(fam);
	if (blen > PROXYPROTO_V2_MAX_LEN ||
	    (cmd == V2_CMD_PROXY && blen < alen))
		return invalid(out, PROXYPROTO_ERR_V2_LENGTH);
	if (len < V2_HDR_LEN + blen)
		return PROXYPROTO_NEED_MORE;

	out->version = 2;
	out->consumed = V2_HDR_LEN + blen;
	/* LOCAL: the proxy's own connection (a health check); block ignored. */
	if (cmd == V2_CMD_LOCAL) {
		out->local = true;
		return PROXYPROTO_DONE;
	}
	/* Whatever follows the addresses is TLVs: type, 16-bit length, value.
	 */
	for (off = alen; off < blen;) {
		size_t tlen;

		if (blen - off < 3)
			return invalid(out, PROXYPROTO_ERR_V2_TLV);
		tlen = (size_t)buf[V2_HDR_LEN + off + 1] << 8 |
		       buf[V2_HDR_LEN + off + 2];
		if (blen - off - 3 < tlen)
			return invalid(out, PROXYPROTO_ERR_V2_TLV);
		off += 3 + tlen;
	}

	a = buf + V2_HDR_LEN;
	if (fam == V2_TCP4) {
		struct sockaddr_in *s = (struct sockaddr_in *)&out->src;
		struct sockaddr_in *d = (struct sockaddr_in *)&out->dst;

		s->sin_family = d->sin_family = AF_INET;
		memcpy(&s->sin_addr, a, 4);
		memcpy(&d->sin_addr, a + 4, 4);
		memcpy(&s->sin_port, a + 8, 2);
		memcpy(&d->sin_port, a + 10, 2);
	} else if (fam == V2_TCP6) {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&out->src;
		struct sockaddr_in6 *d = (struct sockaddr_in6 *)&out->dst;

		s->sin6_family = d->sin6_family = AF_INET6;
		memcpy(&s->sin6_addr, a, 16);
		memcpy(&d->sin6_addr, a + 16, 16);
		memcpy(&s->sin6_port, a + 32, 2);
		memcpy(&d->sin6_port, a + 34, 2);
	} else {
		/*
		 * UNSPEC, UDP and AF_UNIX: nothing postern can use as a
		 * client address; the specification says to fall back to the
		 * connection's own addresses.
		 */
		out->local = true;
	}
	return PROXYPROTO_DONE;
}

enum proxyproto_status
proxyproto_parse(const uint8_t *buf, size_t len, struct proxyproto_result *out)
{
	memset(out, 0, sizeof(*out));
	if (len == 0)
		return PROXYPROTO_NEED_MORE;
	/* The two signatures differ in their first byte. */
	if (buf[0] == v2_sig[0]) {
		if (memcmp(buf, v2_sig, len < 12 ? len : 12) != 0)
			return invalid(out, PROXYPROTO_ERR_SIGNATURE);
		return len < 12 ? PROXYPROTO_NEED_MORE :
				  parse_v2(buf, len, out);
	}
	if (memcmp(buf, v1_sig, len < V1_SIG_LEN ? len : V1_SIG_LEN) != 0)
		return invalid(out, PROXYPROTO_ERR_SIGNATURE);
	return len < V1_SIG_LEN ? PROXYPROTO_NEED_MORE :
				  parse_v1(buf, len, out);
}

/* An address as IPv4 when it is one (mapped or not), and as IPv6. */
struct endpoint {
	bool is4;
	uint8_t v4[4];
	uint8_t v6[16];
	uint8_t port[2];
};

static int
endpoint_get(const struct sockaddr *sa, struct endpoint *e)
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff,
	    0xff};

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;

		e->is4 = true;
		memcpy(e->v4, &sin->sin_addr, 4);
		memcpy(e->v6, mapped, 12);
		memcpy(e->v6 + 12, e->v4, 4);
		memcpy(e->port, &sin->sin_port, 2);
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 =
		    (const struct sockaddr_in6 *)sa;

		memcpy(e->v6, &sin6->sin6_addr, 16);
		e->is4 = memcmp(e->v6, mapped, 12) == 0;
		memcpy(e->v4, e->v6 + 12, 4);
		memcpy(e->port, &sin6->sin6_port, 2);
		return 0;
	}
	return -1;
}

int
proxyproto_build_v2(const struct sockaddr *src, const struct sockaddr *dst,
    uint8_t *out, size_t cap)
{
	struct endpoint s, d;
	uint8_t *a = out + V2_HDR_LEN;
	size_t alen;
	bool v4;

	if (src == NULL) {
		if (cap < V2_HDR_LEN)
			return -1;
		memcpy(out, v2_sig, sizeof(v2_sig));
		out[12] = V2_VERSION << 4 | V2_CMD_LOCAL;
		out[13] = V2_UNSPEC;
		out[14] = out[15] = 0;
		return V2_HDR_LEN;
	}
	if (endpoint_get(src, &s) == -1 || endpoint_get(dst, &d) == -1)
		return -1;
	v4 = s.is4 && d.is4;
	alen = v4 ? 12 : 36;
	if (cap < V2_HDR_LEN + alen)
		return -1;
	memcpy(out, v2_sig, sizeof(v2_sig));
	out[12] = V2_VERSION << 4 | V2_CMD_PROXY;
	out[13] = v4 ? V2_TCP4 : V2_TCP6;
	out[14] = 0;
	out[15] = (uint8_t)alen;
	if (v4) {
		memcpy(a, s.v4, 4);
		memcpy(a + 4, d.v4, 4);
		memcpy(a + 8, s.port, 2);
		memcpy(a + 10, d.port, 2);
	} else {
		memcpy(a, s.v6, 16);
		memcpy(a + 16, d.v6, 16);
		memcpy(a + 32, s.port, 2);
		memcpy(a + 34, d.port, 2);
	}
	return (int)(V2_HDR_LEN + alen);
}

const char *
proxyproto_strerror(enum proxyproto_error err)
{
	switch (err) {
	case PROXYPROTO_ERR_NONE:
		return "no error";
	case PROXYPROTO_ERR_SIGNATURE:
		return "not a PROXY protocol header";
	case PROXYPROTO_ERR_V1_TOO_LONG:
		return "PROXY v1 line longer than 107 bytes";
	case PROXYPROTO_ERR_V1_CHAR:
		return "PROXY v1 line with a control character or bare CR";
	case PROXYPROTO_ERR_V1_SYNTAX:
		return "malformed PROXY v1 line";
	case PROXYPROTO_ERR_V1_ADDRESS:
		return "bad address in PROXY v1 line";
	case PROXYPROTO_ERR_V1_PORT:
		return "bad port in PROXY v1 line";
	case PROXYPROTO_ERR_V2_VERSION:
		return "unsupported PROXY v2 version";
	case PROXYPROTO_ERR_V2_COMMAND:
		return "unknown PROXY v2 command";
	case PROXYPROTO_ERR_V2_FAMILY:
		return "unknown PROXY v2 address family";
	case PROXYPROTO_ERR_V2_LENGTH:
		return "bad PROXY v2 length";
	case PROXYPROTO_ERR_V2_TLV:
		return "truncated PROXY v2 TLV";
	}
	return "unknown PROXY protocol error";
}
