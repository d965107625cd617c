#include "config.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

#include "proxyproto.h"

static const uint8_t sig[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51,
    0x55, 0x49, 0x54, 0x0a};

/* What a client sends right after the header; must never be consumed. */
static const char after[] = "A001 CAPABILITY\r\n";

/* A version 2 header with the given command/version and family bytes. */
static size_t
v2(uint8_t *out, uint8_t vercmd, uint8_t fam, const void *body, size_t blen)
{
	memcpy(out, sig, 12);
	out[12] = vercmd;
	out[13] = fam;
	out[14] = (uint8_t)(blen >> 8);
	out[15] = (uint8_t)blen;
	if (blen > 0)
		memcpy(out + 16, body, blen);
	return 16 + blen;
}

/*
 * Feeds hdr cut at every byte: every shorter prefix must ask for more, the
 * whole header must parse, and bytes after it must change nothing.
 */
static struct proxyproto_result
expect_done(const void *hdr, size_t n)
{
	uint8_t buf[PROXYPROTO_MAX_HEADER + sizeof(after)];
	struct proxyproto_result res, more;
	size_t k;

	cr_assert_leq(n, PROXYPROTO_MAX_HEADER);
	for (k = 0; k < n; k++)
		cr_assert_eq(proxyproto_parse(hdr, k, &res),
		    PROXYPROTO_NEED_MORE, "prefix of %zu of %zu bytes", k, n);
	cr_assert_eq(proxyproto_parse(hdr, n, &res), PROXYPROTO_DONE, "%s",
	    proxyproto_strerror(res.error));
	cr_assert_eq(res.consumed, n);
	cr_assert_eq(res.error, PROXYPROTO_ERR_NONE);
	memcpy(buf, hdr, n);
	memcpy(buf + n, after, sizeof(after) - 1);
	for (k = 1; k < sizeof(after); k++) {
		cr_assert_eq(proxyproto_parse(buf, n + k, &more),
		    PROXYPROTO_DONE);
		cr_assert_eq(memcmp(&res, &more, sizeof(res)), 0);
	}
	return res;
}

/*
 * Feeds hdr cut at every byte: prefixes ask for more until one is found
 * invalid, and every longer one stays invalid for the same reason.
 * Returns the length at which the header was first refused.
 */
static size_t
expect_invalid(const void *hdr, size_t n, enum proxyproto_error err)
{
	struct proxyproto_result res;
	enum proxyproto_status st;
	size_t k, first = SIZE_MAX;

	for (k = 0; k <= n; k++) {
		st = proxyproto_parse(hdr, k, &res);
		if (first != SIZE_MAX || st == PROXYPROTO_INVALID) {
			cr_assert_eq(st, PROXYPROTO_INVALID,
			    "prefix of %zu bytes, refused at %zu", k, first);
			cr_assert_eq(res.error, err, "got \"%s\" at %zu",
			    proxyproto_strerror(res.error), k);
			if (first == SIZE_MAX)
				first = k;
		} else
			cr_assert_eq(st, PROXYPROTO_NEED_MORE, "prefix %zu", k);
	}
	cr_assert_neq(first, SIZE_MAX, "never refused");
	return first;
}

static size_t
slen(const char *s)
{
	return strlen(s);
}

static void
expect_in4(const struct sockaddr_storage *ss, const char *addr, uint16_t port)
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
	char buf[INET_ADDRSTRLEN];

	cr_assert_eq(ss->ss_family, AF_INET);
	inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof(buf));
	cr_assert_str_eq(buf, addr);
	cr_assert_eq(ntohs(sin->sin_port), port);
}

static void
expect_in6(const struct sockaddr_storage *ss, const char *addr, uint16_t port)
{
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
	char buf[INET6_ADDRSTRLEN];

	cr_assert_eq(ss->ss_family, AF_INET6);
	inet_ntop(AF_INET6, &sin6->sin6_addr, buf, sizeof(buf));
	cr_assert_str_eq(buf, addr);
	cr_assert_eq(ntohs(sin6->sin6_port), port);
}

static void
expect_local(const struct proxyproto_result *r)
{
	cr_assert(r->local);
	cr_assert_eq(r->src.ss_family, AF_UNSPEC);
	cr_assert_eq(r->dst.ss_family, AF_UNSPEC);
}

Test(proxyproto, v1_tcp4)
{
	const char *h = "PROXY TCP4 192.0.2.1 198.51.100.22 56324 993\r\n";
	struct proxyproto_result r = expect_done(h, slen(h));

	cr_assert_eq(r.version, 1);
	cr_assert_not(r.local);
	expect_in4(&r.src, "192.0.2.1", 56324);
	expect_in4(&r.dst, "198.51.100.22", 993);

	h = "PROXY TCP4 0.0.0.0 255.255.255.255 0 65535\r\n";
	r = expect_done(h, slen(h));
	expect_in4(&r.src, "0.0.0.0", 0);
	expect_in4(&r.dst, "255.255.255.255", 65535);
}

Test(proxyproto, v1_tcp6)
{
	const char *h = "PROXY TCP6 2001:db8::1 2001:DB8::ffff:2 1 143\r\n";
	struct proxyproto_result r = expect_done(h, slen(h));

	cr_assert_eq(r.version, 1);
	expect_in6(&r.src, "2001:db8::1", 1);
	expect_in6(&r.dst, "2001:db8::ffff:2", 143);

	h = "PROXY TCP6 ::ffff:192.0.2.1 :: 10 20\r\n";
	r = expect_done(h, slen(h));
	expect_in6(&r.src, "::ffff:192.0.2.1", 10);
	expect_in6(&r.dst, "::", 20);
}

Test(proxyproto, v1_longest_lines)
{
	const char *h =
	    "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
	const char *u =
	    "PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
	struct proxyproto_result r;
	char longer[128];

	r = expect_done(h, slen(h));
	expect_in6(&r.src, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535);

	/* The specification's worst case: exactly 107 bytes. */
	cr_assert_eq(slen(u), PROXYPROTO_V1_MAX);
	r = expect_done(u, slen(u));
	expect_local(&r);

	/* One more byte and the line is refused, CRLF or not. */
	snprintf(longer, sizeof(longer), "PROXY UNKNOWN x%s", u + 14);
	cr_assert_eq(
	    expect_invalid(longer, slen(longer), PROXYPROTO_ERR_V1_TOO_LONG),
	    PROXYPROTO_V1_MAX);
}

Test(proxyproto, v1_unknown)
{
	const char *h = "PROXY UNKNOWN\r\n";
	struct proxyproto_result r = expect_done(h, slen(h));

	cr_assert_eq(r.version, 1);
	expect_local(&r);
	h = "PROXY UNKNOWN anything the sender likes\r\n";
	r = expect_done(h, slen(h));
	expect_local(&r);
}

Test(proxyproto, v1_refuses_bad_signatures_at_once)
{
	cr_assert_eq(
	    expect_invalid("GET / HTTP/1.1\r\n", 16, PROXYPROTO_ERR_SIGNATURE),
	    1);
	cr_assert_eq(
	    expect_invalid("A001 CAPABILITY\r\n", 17, PROXYPROTO_ERR_SIGNATURE),
	    1);
	cr_assert_eq(expect_invalid("PROXX TCP4", 10, PROXYPROTO_ERR_SIGNATURE),
	    5);
	cr_assert_eq(
	    expect_invalid("PROXY\tTCP4", 10, PROXYPROTO_ERR_SIGNATURE), 6);
	cr_assert_eq(expect_invalid("proxy TCP4", 10, PROXYPROTO_ERR_SIGNATURE),
	    1);
	cr_assert_eq(
	    expect_invalid("\x16\x03\x01\x02\x00", 5, PROXYPROTO_ERR_SIGNATURE),
	    1);
}

Test(proxyproto, v1_refuses_control_bytes_and_missing_crlf)
{
	static const char nul[] = "PROXY TCP4 192.0.2.1\0 192.0.2.2 1 2\r\n";
	char line[200];

	cr_assert_eq(
	    expect_invalid(nul, sizeof(nul) - 1, PROXYPROTO_ERR_V1_CHAR), 21);
	expect_invalid("PROXY TCP4 192.0.2.1 192.0.2.2 1 2\n", 35,
	    PROXYPROTO_ERR_V1_CHAR);
	expect_invalid("PROXY TCP4 192.0.2.1 192.0.2.2 1 2\rX", 36,
	    PROXYPROTO_ERR_V1_CHAR);
	expect_invalid("PROXY TCP4 192.0.2.1 192.0.2.2 1 2\r\r\n", 37,
	    PROXYPROTO_ERR_V1_CHAR);
	expect_invalid("PROXY TCP4\t192.0.2.1 192.0.2.2 1 2\r\n", 36,
	    PROXYPROTO_ERR_V1_CHAR);
	expect_invalid("PROXY UNKNOWN \xff\r\n", 17, PROXYPROTO_ERR_V1_CHAR);

	/* No CRLF at all: refused once 107 bytes have come. */
	memset(line, 'a', sizeof(line));
	memcpy(line, "PROXY UNKNOWN ", 14);
	cr_assert_eq(
	    expect_invalid(line, sizeof(line), PROXYPROTO_ERR_V1_TOO_LONG),
	    PROXYPROTO_V1_MAX);
}

Test(proxyproto, v1_refuses_bad_fields)
{
	static const struct {
		const char *line;
		enum proxyproto_error err;
	} bad[] = {
	    {"PROXY \r\n", PROXYPROTO_ERR_V1_SYNTAX},
	    {"PROXY TCP4\r\n", PROXYPROTO_ERR_V1_SYNTAX},
	    {"PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n", PROXYPROTO_ERR_V1_SYNTAX},
	    {"PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n", PROXYPROTO_ERR_V1_SYNTAX},
	    {"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n", PROXYPROTO_ERR_V1_SYNTAX},
	    {"PROXY UNKNOWNX\r\n", PROXYPROTO_ERR_V1_SYNTAX},
	    {"PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n", PROXYPROTO_ERR_V1_SYNTAX},
	    {"PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n", PROXYPROTO_ERR_V1_SYNTAX},
	    {"PROXY TCP4 1.2.3.4 5.6.7.8 1  2\r\n", PROXYPROTO_ERR_V1_SYNTAX},
	    {"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n", PROXYPROTO_ERR_V1_SYNTAX},
	    {"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", PROXYPROTO_ERR_V1_SYNTAX},
	    {"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n", PROXYPROTO_ERR_V1_SYNTAX},
	    {"PROXY TCP4 1.2.3.4 5.6.7.8\r\n", PROXYPROTO_ERR_V1_SYNTAX},
	    {"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", PROXYPROTO_ERR_V1_PORT},
	    {"PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n", PROXYPROTO_ERR_V1_PORT},
	    {"PROXY TCP4 1.2.3.4 5.6.7.8 0443 2\r\n", PROXYPROTO_ERR_V1_PORT},
	    {"PROXY TCP4 1.2.3.4 5.6.7.8 00 2\r\n", PROXYPROTO_ERR_V1_PORT},
	    {"PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n", PROXYPROTO_ERR_V1_PORT},
	    {"PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n", PROXYPROTO_ERR_V1_PORT},
	    {"PROXY TCP4 1.2.3.4 5.6.7.8 1a 2\r\n", PROXYPROTO_ERR_V1_PORT},
	    {"PROXY TCP4 1.2.3.4 5.6.7.8 1 0x10\r\n", PROXYPROTO_ERR_V1_PORT},
	    {"PROXY TCP4 1.2.3.4 5.6.7.8 1 123456\r\n", PROXYPROTO_ERR_V1_PORT},
	    {"PROXY TCP4 256.2.3.4 5.6.7.8 1 2\r\n", PROXYPROTO_ERR_V1_ADDRESS},
	    {"PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n", PROXYPROTO_ERR_V1_ADDRESS},
	    {"PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n", PROXYPROTO_ERR_V1_ADDRESS},
	    {"PROXY TCP4 1.2.3.4.5 5.6.7.8 1 2\r\n", PROXYPROTO_ERR_V1_ADDRESS},
	    {"PROXY TCP4 1..3.4 5.6.7.8 1 2\r\n", PROXYPROTO_ERR_V1_ADDRESS},
	    {"PROXY TCP4 1.2.3.4. 5.6.7.8 1 2\r\n", PROXYPROTO_ERR_V1_ADDRESS},
	    {"PROXY TCP4 1.2.3.4 5.6.7.8a 1 2\r\n", PROXYPROTO_ERR_V1_ADDRESS},
	    {"PROXY TCP4 1.2.3.0x4 5.6.7.8 1 2\r\n", PROXYPROTO_ERR_V1_ADDRESS},
	    {"PROXY TCP4 ::1 5.6.7.8 1 2\r\n", PROXYPROTO_ERR_V1_ADDRESS},
	    {"PROXY TCP6 1.2.3.4 ::1 1 2\r\n", PROXYPROTO_ERR_V1_ADDRESS},
	    {"PROXY TCP6 ::1 ::g 1 2\r\n", PROXYPROTO_ERR_V1_ADDRESS},
	    {"PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 1 2\r\n",
		PROXYPROTO_ERR_V1_ADDRESS},
	    {"PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n", PROXYPROTO_ERR_V1_ADDRESS},
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_log_info("%s", bad[i].line);
		/* Fields are judged only once the CRLF is there. */
		cr_assert_eq(
		    expect_invalid(bad[i].line, slen(bad[i].line), bad[i].err),
		    slen(bad[i].line), "%s", bad[i].line);
	}
}

Test(proxyproto, v2_tcp4)
{
	static const uint8_t body[12] = {192, 0, 2, 1, 198, 51, 100, 22, 0xdc,
	    0x04, 0x03, 0xe1};
	uint8_t h[64];
	struct proxyproto_result r =
	    expect_done(h, v2(h, 0x21, 0x11, body, 12));

	cr_assert_eq(r.version, 2);
	cr_assert_not(r.local);
	expect_in4(&r.src, "192.0.2.1", 56324);
	expect_in4(&r.dst, "198.51.100.22", 993);
}

Test(proxyproto, v2_tcp6_with_tlvs)
{
	uint8_t body[64], h[128];
	struct proxyproto_result r;
	size_t n;

	memset(body, 0, sizeof(body));
	inet_pton(AF_INET6, "2001:db8::1", body);
	inet_pton(AF_INET6, "2001:db8::2", body + 16);
	body[32] = 0x00;
	body[33] = 0x50;
	body[34] = 0x00;
	body[35] = 0x8f;
	n = 36;
	/* PP2_TYPE_ALPN "imap", PP2_TYPE_NOOP empty, an unknown type. */
	memcpy(body + n, "\x01\x00\x04imap", 7);
	n += 7;
	memcpy(body + n, "\x04\x00\x00", 3);
	n += 3;
	memcpy(body + n, "\xee\x00\x02zz", 5);
	n += 5;

	r = expect_done(h, v2(h, 0x21, 0x21, body, n));
	cr_assert_eq(r.version, 2);
	expect_in6(&r.src, "2001:db8::1", 80);
	expect_in6(&r.dst, "2001:db8::2", 143);
	cr_assert_eq(r.consumed, 16 + n);
}

Test(proxyproto, v2_local_and_unusable_families)
{
	uint8_t h[PROXYPROTO_MAX_HEADER], body[PROXYPROTO_V2_MAX_LEN];
	struct proxyproto_result r;

	memset(body, 0xab, sizeof(body));
	/* LOCAL: a health check from the balancer itself. */
	r = expect_done(h, v2(h, 0x20, 0x00, NULL, 0));
	cr_assert_eq(r.version, 2);
	expect_local(&r);
	/* LOCAL's block is discarded whole, even one too short for TCP4. */
	r = expect_done(h, v2(h, 0x20, 0x11, body, 5));
	expect_local(&r);
	r = expect_done(h, v2(h, 0x20, 0x00, body, PROXYPROTO_V2_MAX_LEN));
	expect_local(&r);
	cr_assert_eq(r.consumed, PROXYPROTO_MAX_HEADER);

	memset(body, 0, sizeof(body));
	r = expect_done(h, v2(h, 0x21, 0x00, NULL, 0)); /* UNSPEC */
	expect_local(&r);
	r = expect_done(h, v2(h, 0x21, 0x12, body, 12)); /* UDP4 */
	expect_local(&r);
	r = expect_done(h, v2(h, 0x21, 0x22, body, 36)); /* UDP6 */
	expect_local(&r);
	r = expect_done(h, v2(h, 0x21, 0x31, body, 216)); /* UNIX stream */
	expect_local(&r);
	r = expect_done(h, v2(h, 0x21, 0x32, body, 216)); /* UNIX dgram */
	expect_local(&r);
}

Test(proxyproto, v2_refuses_bad_headers_early)
{
	static const uint8_t fams[] = {0x01, 0x10, 0x13, 0x20, 0x23, 0x30, 0x33,
	    0x41, 0xff};
	uint8_t h[PROXYPROTO_MAX_HEADER + 16], body[64];
	size_t i, n;

	memset(body, 0, sizeof(body));
	/* Signature: refused at its first wrong byte. */
	memcpy(h, sig, 12);
	h[7] = 'q';
	cr_assert_eq(expect_invalid(h, 16, PROXYPROTO_ERR_SIGNATURE), 8);
	memcpy(h, sig, 12);
	h[11] = '\r';
	cr_assert_eq(expect_invalid(h, 16, PROXYPROTO_ERR_SIGNATURE), 12);
	cr_assert_eq(
	    expect_invalid("\r\n\r\nPROXY", 9, PROXYPROTO_ERR_SIGNATURE), 5);

	/* Version and command, at byte 13. */
	n = v2(h, 0x11, 0x11, body, 12);
	cr_assert_eq(expect_invalid(h, n, PROXYPROTO_ERR_V2_VERSION), 13);
	n = v2(h, 0x31, 0x11, body, 12);
	cr_assert_eq(expect_invalid(h, n, PROXYPROTO_ERR_V2_VERSION), 13);
	n = v2(h, 0x22, 0x11, body, 12);
	cr_assert_eq(expect_invalid(h, n, PROXYPROTO_ERR_V2_COMMAND), 13);
	n = v2(h, 0x2f, 0x11, body, 12);
	cr_assert_eq(expect_invalid(h, n, PROXYPROTO_ERR_V2_COMMAND), 13);

	/* Family, at byte 14: unassigned values must be dropped. */
	for (i = 0; i < sizeof(fams); i++) {
		n = v2(h, 0x21, fams[i], body, 36);
		cr_assert_eq(expect_invalid(h, n, PROXYPROTO_ERR_V2_FAMILY), 14,
		    "family %02x", fams[i]);
		n = v2(h, 0x20, fams[i], body, 36);
		cr_assert_eq(expect_invalid(h, n, PROXYPROTO_ERR_V2_FAMILY), 14,
		    "LOCAL family %02x", fams[i]);
	}

	/* Length, at byte 16: no waiting for a kilobyte that is never used. */
	v2(h, 0x21, 0x11, body, 12);
	h[14] = 0xff;
	h[15] = 0xff;
	cr_assert_eq(expect_invalid(h, 16, PROXYPROTO_ERR_V2_LENGTH), 16);
	h[14] = (PROXYPROTO_V2_MAX_LEN + 1) >> 8;
	h[15] = (PROXYPROTO_V2_MAX_LEN + 1) & 0xff;
	cr_assert_eq(expect_invalid(h, 16, PROXYPROTO_ERR_V2_LENGTH), 16);
	n = v2(h, 0x20, 0x00, NULL, 0);
	h[14] = 0xff;
	cr_assert_eq(expect_invalid(h, 16, PROXYPROTO_ERR_V2_LENGTH), 16);
	n = v2(h, 0x21, 0x11, body, 11);
	cr_assert_eq(expect_invalid(h, n, PROXYPROTO_ERR_V2_LENGTH), 16);
	n = v2(h, 0x21, 0x21, body, 35);
	cr_assert_eq(expect_invalid(h, n, PROXYPROTO_ERR_V2_LENGTH), 16);
	n = v2(h, 0x21, 0x21, body, 12);
	cr_assert_eq(expect_invalid(h, n, PROXYPROTO_ERR_V2_LENGTH), 16);
	n = v2(h, 0x21, 0x31, body, 36);
	cr_assert_eq(expect_invalid(h, n, PROXYPROTO_ERR_V2_LENGTH), 16);
}

Test(proxyproto, v2_refuses_truncated_tlvs)
{
	uint8_t h[128], body[64];
	size_t n;

	memset(body, 0, sizeof(body));
	/* Two stray bytes after the addresses: not even a TLV header. */
	n = v2(h, 0x21, 0x11, body, 14);
	cr_assert_eq(expect_invalid(h, n, PROXYPROTO_ERR_V2_TLV), n);
	/* A TLV announcing more than the header holds. */
	memcpy(body + 12, "\x01\x00\x05imap", 7);
	n = v2(h, 0x21, 0x11, body, 19);
	cr_assert_eq(expect_invalid(h, n, PROXYPROTO_ERR_V2_TLV), n);
	memcpy(body + 12, "\x01\xff\xff", 3);
	n = v2(h, 0x21, 0x11, body, 15);
	cr_assert_eq(expect_invalid(h, n, PROXYPROTO_ERR_V2_TLV), n);
	/* A good TLV followed by a cut one. */
	memcpy(body + 12, "\x04\x00\x00\x01\x00", 5);
	n = v2(h, 0x21, 0x11, body, 17);
	cr_assert_eq(expect_invalid(h, n, PROXYPROTO_ERR_V2_TLV), n);
}

static struct sockaddr_storage
addr(const char *text, uint16_t port)
{
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, text, &((struct sockaddr_in *)&ss)->sin_addr) ==
	    1) {
		ss.ss_family = AF_INET;
		((struct sockaddr_in *)&ss)->sin_port = htons(port);
	} else {
		cr_assert_eq(inet_pton(AF_INET6, text,
				 &((struct sockaddr_in6 *)&ss)->sin6_addr),
		    1);
		ss.ss_family = AF_INET6;
		((struct sockaddr_in6 *)&ss)->sin6_port = htons(port);
	}
	return ss;
}

static struct proxyproto_result
round_trip(const char *src, uint16_t sport, const char *dst, uint16_t dport,
    int want_len)
{
	struct sockaddr_storage s = addr(src, sport), d = addr(dst, dport);
	uint8_t out[PROXYPROTO_V2_BUILD_MAX];
	int n;

	n = proxyproto_build_v2((struct sockaddr *)&s, (struct sockaddr *)&d,
	    out, sizeof(out));
	cr_assert_eq(n, want_len);
	cr_assert_eq(memcmp(out, sig, 12), 0);
	return expect_done(out, (size_t)n);
}

Test(proxyproto, build_round_trips)
{
	struct proxyproto_result r;

	r = round_trip("192.0.2.1", 40000, "198.51.100.2", 110, 28);
	expect_in4(&r.src, "192.0.2.1", 40000);
	expect_in4(&r.dst, "198.51.100.2", 110);

	r = round_trip("2001:db8::1", 1, "2001:db8::2", 65535, 52);
	expect_in6(&r.src, "2001:db8::1", 1);
	expect_in6(&r.dst, "2001:db8::2", 65535);

	/* Mixed families: the IPv4 end goes IPv4-mapped. */
	r = round_trip("192.0.2.1", 5, "2001:db8::2", 993, 52);
	expect_in6(&r.src, "::ffff:192.0.2.1", 5);
	expect_in6(&r.dst, "2001:db8::2", 993);
	r = round_trip("2001:db8::1", 5, "192.0.2.9", 993, 52);
	expect_in6(&r.dst, "::ffff:192.0.2.9", 993);

	/* A dual-stack listener's view of an IPv4 client stays IPv4. */
	r = round_trip("::ffff:192.0.2.1", 5, "::ffff:192.0.2.2", 143, 28);
	expect_in4(&r.src, "192.0.2.1", 5);
	expect_in4(&r.dst, "192.0.2.2", 143);
	r = round_trip("::ffff:192.0.2.1", 5, "192.0.2.2", 143, 28);
	expect_in4(&r.src, "192.0.2.1", 5);
}

Test(proxyproto, build_refuses_what_it_cannot_write)
{
	struct sockaddr_storage s = addr("192.0.2.1", 1),
				d = addr("2001:db8::1", 2);
	struct sockaddr_un un;
	uint8_t out[PROXYPROTO_V2_BUILD_MAX];

	cr_assert_eq(proxyproto_build_v2((struct sockaddr *)&s,
			 (struct sockaddr *)&s, out, 27),
	    -1);
	cr_assert_eq(proxyproto_build_v2((struct sockaddr *)&s,
			 (struct sockaddr *)&s, out, 28),
	    28);
	cr_assert_eq(proxyproto_build_v2((struct sockaddr *)&s,
			 (struct sockaddr *)&d, out, 51),
	    -1);
	memset(&un, 0, sizeof(un));
	un.sun_family = AF_UNIX;
	cr_assert_eq(proxyproto_build_v2((struct sockaddr *)&un,
			 (struct sockaddr *)&s, out, sizeof(out)),
	    -1);
	cr_assert_eq(proxyproto_build_v2((struct sockaddr *)&s,
			 (struct sockaddr *)&un, out, sizeof(out)),
	    -1);
}

/* Without a client (the probe of a backend's mechanisms): a LOCAL
 * header, which HAProxy and Dovecot take as the proxy's own connection. */
Test(proxyproto, build_local_without_a_client)
{
	uint8_t out[PROXYPROTO_V2_BUILD_MAX];
	struct proxyproto_result r;
	int n;

	cr_assert_eq(proxyproto_build_v2(NULL, NULL, out, 15), -1);
	n = proxyproto_build_v2(NULL, NULL, out, sizeof(out));
	cr_assert_eq(n, 16);
	cr_assert_eq(out[12], 0x20, "version 2, LOCAL: 0x%02x", out[12]);
	cr_assert_eq(out[13], 0x00);
	cr_assert_eq(proxyproto_parse(out, (size_t)n, &r), PROXYPROTO_DONE);
	cr_assert(r.local);
	cr_assert_eq(r.consumed, 16);
}

/* splitmix64: deterministic, so that a failure can be replayed. */
static uint64_t rng_state;

static uint64_t
rng(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/*
 * The parser's contract on any input: over growing prefixes the answer
 * goes NEED_MORE... then stays DONE (same result) or INVALID (same reason),
 * and a header never claims more bytes than it was given or than the bound.
 */
static void
check_contract(const uint8_t *buf, size_t n)
{
	struct proxyproto_result first, r;
	enum proxyproto_status decided = PROXYPROTO_NEED_MORE, st;
	size_t k;

	for (k = 0; k <= n; k++) {
		st = proxyproto_parse(buf, k, &r);
		if (decided == PROXYPROTO_NEED_MORE) {
			decided = st;
			memcpy(&first, &r, sizeof(first));
			if (st == PROXYPROTO_DONE) {
				cr_assert_eq(r.consumed, k);
				cr_assert_leq(r.consumed,
				    PROXYPROTO_MAX_HEADER);
				cr_assert(r.version == 1 || r.version == 2);
			}
			if (st == PROXYPROTO_INVALID)
				cr_assert_neq(r.error, PROXYPROTO_ERR_NONE);
			continue;
		}
		cr_assert_eq(st, decided, "changed its mind at %zu", k);
		if (st == PROXYPROTO_DONE)
			cr_assert_eq(memcmp(&r, &first, sizeof(r)), 0);
		else
			cr_assert_eq(r.error, first.error);
	}
	if (n > PROXYPROTO_MAX_HEADER)
		cr_assert_neq(decided, PROXYPROTO_NEED_MORE);
}

Test(proxyproto, mutated_headers_keep_the_contract)
{
	static const char *v1[] = {
	    "PROXY TCP4 192.0.2.1 198.51.100.22 56324 993\r\n",
	    "PROXY TCP6 2001:db8::1 2001:db8::ffff:2 1 143\r\n",
	    "PROXY UNKNOWN\r\n",
	};
	uint8_t seeds[5][128], buf[PROXYPROTO_MAX_HEADER + 64];
	size_t seedlen[5], i, j, n;
	struct sockaddr_storage s = addr("2001:db8::1", 7),
				d = addr("192.0.2.1", 8);

	for (i = 0; i < 3; i++) {
		seedlen[i] = strlen(v1[i]);
		memcpy(seeds[i], v1[i], seedlen[i]);
	}
	seedlen[3] = (size_t)proxyproto_build_v2((struct sockaddr *)&s,
	    (struct sockaddr *)&d, seeds[3], sizeof(seeds[3]));
	memcpy(seeds[4], seeds[3], seedlen[3]);
	memcpy(seeds[4] + seedlen[3], "\x01\x00\x02h2\x04\x00\x00", 8);
	seeds[4][15] += 8;
	seedlen[4] = seedlen[3] + 8;

	rng_state = 0x50524f5859;
	for (i = 0; i < 20000; i++) {
		const size_t which = (size_t)(rng() % 5);
		size_t flips = 1 + (size_t)(rng() % 4), extra;

		n = seedlen[which];
		memcpy(buf, seeds[which], n);
		/* Some trailing client bytes, sometimes a lot of them. */
		extra = rng() % 4 == 0 ? sizeof(buf) - n : 8;
		for (j = 0; j < extra; j++)
			buf[n + j] = (uint8_t)rng();
		n += extra;
		while (flips-- > 0) {
			size_t at = (size_t)(rng() % (seedlen[which] + 2));

			switch (rng() % 3) {
			case 0:
				buf[at] = (uint8_t)rng();
				break;
			case 1:
				buf[at] ^= (uint8_t)(1u << (rng() % 8));
				break;
			default:
				buf[at] = (const uint8_t[]){0, '\r', '\n', ' ',
				    '0', ':', '.', 0xff}[rng() % 8];
			}
		}
		check_contract(buf, n);
	}
}

Test(proxyproto, strerror_names_every_reason)
{
	enum proxyproto_error e;

	for (e = PROXYPROTO_ERR_NONE; e <= PROXYPROTO_ERR_V2_TLV; e++)
		cr_assert_str_neq(proxyproto_strerror(e),
		    "unknown PROXY protocol error");
}
