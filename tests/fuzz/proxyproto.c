/*
 * proxyproto: the PROXY protocol v1/v2 header parser (proxyproto_parse)
 * on the bytes a connection starts with, and the v2 writer on what the
 * parser read.  The input is the connection's first bytes (no header of
 * settings: the parser is handed every byte received so far, so split
 * points do not reach it; prefixes stand in for them).
 *
 * Invariants: the parser never asks for more than PROXYPROTO_MAX_HEADER
 * bytes; a header consumes no more than it was given and a v1 header ends
 * in CRLF within 107 bytes; a refusal has a reason; a prefix that decides
 * decides the same as the whole input; addresses are TCP over IPv4/IPv6
 * unless the header says local; and what proxyproto_build_v2() writes for
 * those addresses parses back to them.
 */
#include "config.h"

#include <netinet/in.h>
#include <stdbool.h>

#include "fuzz.h"
#include "proxyproto.h"

/* An IPv4-mapped IPv6 address as the IPv4 one, for comparison. */
static void
normalise(const struct sockaddr_storage *in, struct sockaddr_in6 *out)
{
	memset(out, 0, sizeof(*out));
	out->sin6_family = AF_INET6;
	if (in->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)in;

		out->sin6_addr.s6_addr[10] = 0xff;
		out->sin6_addr.s6_addr[11] = 0xff;
		memcpy(&out->sin6_addr.s6_addr[12], &a->sin_addr, 4);
		out->sin6_port = a->sin_port;
	} else {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)in;

		FUZZ_CHECK(in->ss_family == AF_INET6);
		out->sin6_addr = a->sin6_addr;
		out->sin6_port = a->sin6_port;
	}
}

static bool
same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	struct sockaddr_in6 x, y;

	normalise(a, &x);
	normalise(b, &y);
	return memcmp(&x.sin6_addr, &y.sin6_addr, 16) == 0 &&
	       x.sin6_port == y.sin6_port;
}

static enum proxyproto_status
parse(const uint8_t *data, size_t len, struct proxyproto_result *out)
{
	uint8_t *buf = (uint8_t *)fuzz_dup(data, len);
	enum proxyproto_status st = proxyproto_parse(buf, len, out);

	free(buf);
	switch (st) {
	case PROXYPROTO_NEED_MORE:
		FUZZ_CHECK(len < PROXYPROTO_MAX_HEADER);
		break;
	case PROXYPROTO_INVALID:
		FUZZ_CHECK(out->error != PROXYPROTO_ERR_NONE);
		FUZZ_CHECK(proxyproto_strerror(out->error) != NULL);
		break;
	case PROXYPROTO_DONE:
		FUZZ_CHECK(out->consumed > 0 && out->consumed <= len);
		FUZZ_CHECK(out->consumed <= PROXYPROTO_MAX_HEADER);
		FUZZ_CHECK(out->version == 1 || out->version == 2);
		if (out->version == 1) {
			FUZZ_CHECK(out->consumed <= PROXYPROTO_V1_MAX);
			FUZZ_CHECK(data[out->consumed - 2] == '\r' &&
				   data[out->consumed - 1] == '\n');
		}
		if (out->local)
			FUZZ_CHECK(out->src.ss_family == AF_UNSPEC &&
				   out->dst.ss_family == AF_UNSPEC);
		else
			FUZZ_CHECK((out->src.ss_family == AF_INET ||
				       out->src.ss_family == AF_INET6) &&
				   out->src.ss_family == out->dst.ss_family);
		break;
	}
	return st;
}

static void
same_result(enum proxyproto_status a, const struct proxyproto_result *ra,
    enum proxyproto_status b, const struct proxyproto_result *rb)
{
	FUZZ_CHECK(a == b);
	if (a == PROXYPROTO_INVALID)
		FUZZ_CHECK(ra->error == rb->error);
	if (a != PROXYPROTO_DONE)
		return;
	FUZZ_CHECK(ra->consumed == rb->consumed && ra->version == rb->version &&
		   ra->local == rb->local);
	if (!ra->local)
		FUZZ_CHECK(same_addr(&ra->src, &rb->src) &&
			   same_addr(&ra->dst, &rb->dst));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proxyproto_result whole, part;
	enum proxyproto_status st, pst;
	size_t k;

	st = parse(data, size, &whole);
	/* Every short prefix, then the ones around the decision. */
	for (k = 0; k <= size && k <= PROXYPROTO_V1_MAX + 16; k++) {
		pst = parse(data, k, &part);
		if (pst != PROXYPROTO_NEED_MORE)
			same_result(pst, &part, st, &whole);
	}
	if (st == PROXYPROTO_DONE) {
		pst = parse(data, whole.consumed, &part);
		same_result(pst, &part, st, &whole);
		pst = parse(data, whole.consumed - 1, &part);
		FUZZ_CHECK(pst != PROXYPROTO_DONE);
	}
	if (st == PROXYPROTO_DONE && !whole.local) {
		uint8_t out[PROXYPROTO_V2_BUILD_MAX];
		struct proxyproto_result back;
		int n;

		n = proxyproto_build_v2((const struct sockaddr *)&whole.src,
		    (const struct sockaddr *)&whole.dst, out, sizeof(out));
		FUZZ_CHECK(n > 0 && (size_t)n <= sizeof(out));
		pst = parse(out, (size_t)n, &back);
		FUZZ_CHECK(pst == PROXYPROTO_DONE && back.version == 2 &&
			   !back.local && back.consumed == (size_t)n);
		FUZZ_CHECK(same_addr(&back.src, &whole.src) &&
			   same_addr(&back.dst, &whole.dst));
	}
	return 0;
}
