#include "config.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addrset.h"

/* A socket address from text, as accept() would fill it. */
static struct sockaddr_storage
sa(const char *text)
{
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, text, &((struct sockaddr_in *)&ss)->sin_addr) ==
	    1) {
		ss.ss_family = AF_INET;
		((struct sockaddr_in *)&ss)->sin_port = htons(12345);
	} else {
		cr_assert_eq(inet_pton(AF_INET6, text,
				 &((struct sockaddr_in6 *)&ss)->sin6_addr),
		    1, "bad test address %s", text);
		ss.ss_family = AF_INET6;
	}
	return ss;
}

static bool
has(const struct addrset *set, const char *text)
{
	struct sockaddr_storage ss = sa(text);

	return addrset_contains(set, (struct sockaddr *)&ss);
}

/* A finished set of the given tokens; every token must be accepted. */
static struct addrset *
make(const char *const *tokens, size_t n)
{
	struct addrset *set = addrset_new();
	char err[256];
	size_t i;

	cr_assert_not_null(set);
	for (i = 0; i < n; i++)
		cr_assert_eq(addrset_add(set, tokens[i], err, sizeof(err)), 0,
		    "%s: %s", tokens[i], err);
	addrset_finish(set);
	return set;
}

#define MAKE(...)                                                              \
	make((const char *const[]){__VA_ARGS__},                               \
	    sizeof((const char *const[]){__VA_ARGS__}) / sizeof(char *))

Test(addrset, single_addresses)
{
	struct addrset *set = MAKE("192.0.2.1", "2001:db8::1");

	cr_assert(has(set, "192.0.2.1"));
	cr_assert_not(has(set, "192.0.2.0"));
	cr_assert_not(has(set, "192.0.2.2"));
	cr_assert(has(set, "2001:db8::1"));
	cr_assert_not(has(set, "2001:db8::"));
	cr_assert_not(has(set, "2001:db8::2"));
	cr_assert_eq(addrset_count(set), 2);
	addrset_free(set);
}

Test(addrset, cidr_edges_ipv4)
{
	struct addrset *set = MAKE("10.0.0.0/8", "192.0.2.7/32");

	cr_assert(has(set, "10.0.0.0"));
	cr_assert(has(set, "10.255.255.255"));
	cr_assert_not(has(set, "9.255.255.255"));
	cr_assert_not(has(set, "11.0.0.0"));
	cr_assert(has(set, "192.0.2.7"));
	cr_assert_not(has(set, "192.0.2.6"));
	cr_assert_not(has(set, "192.0.2.8"));
	addrset_free(set);

	set = MAKE("0.0.0.0/0");
	cr_assert(has(set, "0.0.0.0"));
	cr_assert(has(set, "255.255.255.255"));
	cr_assert(has(set, "::ffff:1.2.3.4"));
	cr_assert_not(has(set, "::1"));
	cr_assert_not(has(set, "2001:db8::1"));
	addrset_free(set);
}

Test(addrset, cidr_edges_ipv6)
{
	struct addrset *set =
	    MAKE("2001:db8::/32", "2001:db8:ffff::1/128", "fe80::/64");

	cr_assert(has(set, "2001:db8::"));
	cr_assert(has(set, "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"));
	cr_assert_not(has(set, "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff"));
	cr_assert_not(has(set, "2001:db9::"));
	cr_assert(has(set, "fe80::ffff:ffff:ffff:ffff"));
	cr_assert_not(has(set, "fe80:0:0:1::"));
	cr_assert_not(has(set, "192.0.2.1"));
	addrset_free(set);

	set = MAKE("::/0");
	cr_assert(has(set, "::"));
	cr_assert(has(set, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
	addrset_free(set);

	/* Prefixes across the 64-bit halves. */
	set = MAKE("2001:db8:0:0:8000::/65", "2001:db8:1::/63");
	cr_assert(has(set, "2001:db8::8000:0:0:0"));
	cr_assert(has(set, "2001:db8::ffff:ffff:ffff:ffff"));
	cr_assert_not(has(set, "2001:db8::7fff:ffff:ffff:ffff"));
	cr_assert(has(set, "2001:db8:1:1:ffff:ffff:ffff:ffff"));
	cr_assert_not(has(set, "2001:db8:1:2::"));
	addrset_free(set);
}

Test(addrset, ranges)
{
	struct addrset *set = MAKE("192.0.2.10-192.0.2.20",
	    "2001:db8::a-2001:db8::1:0", "198.51.100.5-198.51.100.5");

	cr_assert_not(has(set, "192.0.2.9"));
	cr_assert(has(set, "192.0.2.10"));
	cr_assert(has(set, "192.0.2.15"));
	cr_assert(has(set, "192.0.2.20"));
	cr_assert_not(has(set, "192.0.2.21"));
	cr_assert(has(set, "198.51.100.5"));
	cr_assert_not(has(set, "198.51.100.6"));
	cr_assert_not(has(set, "2001:db8::9"));
	cr_assert(has(set, "2001:db8::ffff"));
	cr_assert(has(set, "2001:db8::1:0"));
	cr_assert_not(has(set, "2001:db8::1:1"));
	addrset_free(set);

	set = MAKE("0.0.0.0-255.255.255.255", " 2001:db8::1 ");
	cr_assert(has(set, "0.0.0.0"));
	cr_assert(has(set, "255.255.255.255"));
	cr_assert(has(set, "2001:db8::1"));
	addrset_free(set);
}

Test(addrset, finish_merges_overlapping_and_adjacent)
{
	struct addrset *set = MAKE("10.0.0.0/24", "10.0.1.0/24",
	    "10.0.0.128/25", "10.0.3.0-10.0.3.9", "10.0.2.255", "2001:db8::/64",
	    "2001:db8:0:1::/64", "2001:db8::5", "2001:db8:0:3::/64");

	/* 10.0.0.0 - 10.0.1.255, 10.0.2.255 - 10.0.3.9, and two v6. */
	cr_assert_eq(addrset_count(set), 4);
	cr_assert(has(set, "10.0.1.255"));
	cr_assert_not(has(set, "10.0.2.0"));
	cr_assert_not(has(set, "10.0.2.254"));
	cr_assert(has(set, "10.0.2.255"));
	cr_assert(has(set, "10.0.3.9"));
	cr_assert_not(has(set, "10.0.3.10"));
	cr_assert(has(set, "2001:db8:0:1:ffff:ffff:ffff:ffff"));
	cr_assert_not(has(set, "2001:db8:0:2::"));
	cr_assert(has(set, "2001:db8:0:3::"));
	addrset_free(set);

	/* Intervals that reach the top of the space merge without overflow. */
	set = MAKE("255.255.255.0/24", "255.255.255.255", "255.0.0.0/8",
	    "ffff::/16", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
	cr_assert_eq(addrset_count(set), 2);
	cr_assert(has(set, "255.1.2.3"));
	cr_assert(has(set, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
	addrset_free(set);

	/* A 64-bit carry: ::ffff:ffff:ffff:ffff + 1 is 0:0:0:1::. */
	set = MAKE("2001:db8:0:0:ffff::-2001:db8::ffff:ffff:ffff:ffff",
	    "2001:db8:0:1::/64");
	cr_assert_eq(addrset_count(set), 1);
	addrset_free(set);
}

Test(addrset, ipv4_mapped_clients_match_ipv4_entries)
{
	struct addrset *set =
	    MAKE("10.0.0.0/8", "::ffff:192.0.2.0/120", "2001:db8::/32");

	cr_assert(has(set, "::ffff:10.1.2.3"));
	cr_assert_not(has(set, "::ffff:11.1.2.3"));
	cr_assert(has(set, "192.0.2.77"));
	cr_assert(has(set, "::ffff:192.0.2.77"));
	cr_assert_not(has(set, "192.0.3.0"));
	/* IPv4-compatible (deprecated) addresses are not IPv4-mapped. */
	cr_assert_not(has(set, "::10.1.2.3"));
	addrset_free(set);
}

Test(addrset, unfinished_set_still_answers)
{
	struct addrset *set = addrset_new();

	cr_assert_eq(addrset_add(set, "10.0.0.5", NULL, 0), 0);
	cr_assert_eq(addrset_add(set, "10.0.0.1", NULL, 0), 0);
	cr_assert(has(set, "10.0.0.5"));
	cr_assert(has(set, "10.0.0.1"));
	cr_assert_not(has(set, "10.0.0.2"));
	addrset_finish(set);
	cr_assert_eq(addrset_add(set, "10.0.0.3", NULL, 0), 0);
	cr_assert(has(set, "10.0.0.3"));
	addrset_finish(set);
	cr_assert(has(set, "10.0.0.3"));
	cr_assert(has(set, "10.0.0.5"));
	addrset_free(set);
}

Test(addrset, other_families_never_match)
{
	struct addrset *set = MAKE("0.0.0.0/0", "::/0");
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof(ss));
	ss.ss_family = AF_UNIX;
	cr_assert_not(addrset_contains(set, (struct sockaddr *)&ss));
	addrset_free(set);
	addrset_free(NULL);
}

Test(addrset, bad_tokens_are_refused_with_a_reason)
{
	static const struct {
		const char *token, *reason;
	} bad[] = {
	    {"", "empty"},
	    {"   ", "empty"},
	    {"10.0.0.1/8", "host bits set after the prefix (network is "
			   "10.0.0.0/8)"},
	    {"2001:db8::1/32", "host bits set after the prefix (network is "
			       "2001:db8::/32)"},
	    {"10.0.0.0/33", "prefix length must be 0 to 32"},
	    {"2001:db8::/129", "prefix length must be 0 to 128"},
	    {"10.0.0.0/", "prefix length"},
	    {"10.0.0.0/08", "prefix length"},
	    {"10.0.0.0/-1", "range"},
	    {"10.0.0.0/+8", "prefix length"},
	    {"10.0.0.0/8/8", "prefix length"},
	    {"10.0.0.0 /8", "not an IPv4 or IPv6 address"},
	    {"10.0.0", "not an IPv4 or IPv6 address"},
	    {"10.0.0.256", "not an IPv4 or IPv6 address"},
	    {"010.0.0.1", "not an IPv4 or IPv6 address"},
	    {"example.org", "not an IPv4 or IPv6 address"},
	    {"fe80::1%eth0", "not an IPv4 or IPv6 address"},
	    {"10.0.0.9-10.0.0.1", "range starts after its end"},
	    {"2001:db8::2-2001:db8::1", "range starts after its end"},
	    {"10.0.0.1-2001:db8::1", "not the same address family"},
	    {"10.0.0.1-", "both ends of a range must be addresses"},
	    {"-10.0.0.1", "both ends of a range must be addresses"},
	    {"10.0.0.1-10.0.0.2-10.0.0.3", "must be addresses"},
	    {"10.0.0.0/8-10.0.0.9", "must be addresses"},
	    {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff-ffff:ffff:ffff:ffff:ffff:"
	     "ffff:ffff:ffff/128-and-some-more-text",
		"too long"},
	};
	struct addrset *set = addrset_new();
	char err[256];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		cr_expect_eq(addrset_add(set, bad[i].token, err, sizeof(err)),
		    -1, "accepted \"%s\"", bad[i].token);
		cr_expect_not_null(strstr(err, bad[i].reason),
		    "\"%s\": got \"%s\"", bad[i].token, err);
	}
	cr_assert_eq(addrset_count(set), 0);
	/* A short error buffer is truncated, not overrun. */
	cr_assert_eq(addrset_add(set, "10.0.0.1/8", err, 8), -1);
	cr_assert_eq(strlen(err), 7);
	addrset_free(set);
}

/* splitmix64: a small deterministic generator, so that failures repeat. */
static uint64_t rng_state;

static uint64_t
rng(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

struct ref6 {
	uint8_t lo[16], hi[16];
};

static void
fmt4(uint32_t v, char *buf)
{
	struct in_addr a = {htonl(v)};

	inet_ntop(AF_INET, &a, buf, INET6_ADDRSTRLEN);
}

Test(addrset, large_sets_agree_with_a_linear_matcher)
{
	enum { N = 10000, PROBES = 20000 };
	static uint32_t lo4[N], hi4[N];
	static struct ref6 r6[N];
	struct addrset *set = addrset_new();
	char a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN], tok[128], err[256];
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;
	size_t i, j, hits = 0;

	rng_state = 20240601;
	for (i = 0; i < N; i++) {
		/* Clustered in 10/8 so that ranges overlap and touch. */
		lo4[i] = 0x0a000000u | (uint32_t)(rng() & 0xffffff);
		hi4[i] = lo4[i] + (uint32_t)(rng() % 1024);
		fmt4(lo4[i], a);
		fmt4(hi4[i], b);
		snprintf(tok, sizeof(tok), "%s-%s", a, b);
		cr_assert_eq(addrset_add(set, tok, err, sizeof(err)), 0, "%s",
		    err);

		/* 2001:db8::/32, random in the upper 48 bits of the rest. */
		memset(&r6[i], 0, sizeof(r6[i]));
		r6[i].lo[0] = 0x20;
		r6[i].lo[1] = 0x01;
		r6[i].lo[2] = 0x0d;
		r6[i].lo[3] = 0xb8;
		r6[i].lo[4] = (uint8_t)(rng() & 0x0f);
		r6[i].lo[5] = (uint8_t)rng();
		memcpy(r6[i].hi, r6[i].lo, 16);
		r6[i].hi[6] = (uint8_t)(rng() & 0x3f);
		for (j = 7; j < 16; j++)
			r6[i].hi[j] = 0xff;
		inet_ntop(AF_INET6, r6[i].lo, a, sizeof(a));
		inet_ntop(AF_INET6, r6[i].hi, b, sizeof(b));
		snprintf(tok, sizeof(tok), "%s-%s", a, b);
		cr_assert_eq(addrset_add(set, tok, err, sizeof(err)), 0, "%s",
		    err);
	}
	addrset_finish(set);
	cr_assert_lt(addrset_count(set), 2 * N, "nothing was merged");

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	for (i = 0; i < PROBES; i++) {
		uint32_t x;
		uint8_t y[16];
		bool want = false;

		/* Half the probes just around an interval's edges. */
		if (i % 2 == 0) {
			size_t k = (size_t)(rng() % N);

			x = (rng() & 1 ? lo4[k] : hi4[k]) +
			    (uint32_t)(rng() % 3) - 1;
		} else
			x = 0x0a000000u | (uint32_t)(rng() & 0xffffff);
		for (j = 0; j < N && !want; j++)
			want = lo4[j] <= x && x <= hi4[j];
		sin.sin_addr.s_addr = htonl(x);
		cr_assert_eq(addrset_contains(set, (struct sockaddr *)&sin),
		    want, "IPv4 probe %08x", x);
		hits += want;

		memcpy(y, r6[rng() % N].lo, 16);
		y[6] = (uint8_t)rng();
		y[15] = (uint8_t)rng();
		if (rng() & 1)
			y[5] ^= 1;
		want = false;
		for (j = 0; j < N && !want; j++)
			want = memcmp(r6[j].lo, y, 16) <= 0 &&
			       memcmp(y, r6[j].hi, 16) <= 0;
		memcpy(&sin6.sin6_addr, y, 16);
		cr_assert_eq(addrset_contains(set, (struct sockaddr *)&sin6),
		    want, "IPv6 probe");
		hits += want;
	}
	/* The probes must exercise both answers. */
	cr_assert_gt(hits, PROBES / 10);
	cr_assert_lt(hits, 2 * PROBES - PROBES / 10);
	addrset_free(set);
}

/* The text addrset_write() gives for set, in a static buffer. */
static const char *
written(const struct addrset *set, size_t *ntokens)
{
	static char buf[4096];
	FILE *fp = fmemopen(buf, sizeof(buf), "w");

	cr_assert_not_null(fp);
	*ntokens = addrset_write(set, ", ", fp);
	cr_assert_eq(fclose(fp), 0);
	return buf;
}

Test(addrset, written_tokens_read_back_as_the_same_set)
{
	struct addrset *set = MAKE("192.0.2.10-192.0.2.20", "10.0.0.0/8",
	    "198.51.100.7", "2001:db8::/32", "2001:db8:1::5-2001:db8:1::9",
	    "::1", "0.0.0.0/0", "::ffff:203.0.113.0/120");
	struct addrset *again = addrset_new();
	char text[4096], *tok, *save = NULL, err[256];
	size_t n, m;

	snprintf(text, sizeof(text), "%s", written(set, &n));
	cr_assert_str_eq(text, "0.0.0.0/0, ::1, ::ffff:203.0.113.0/120, "
			       "2001:db8::/32");
	cr_assert_eq(n, 4);
	for (tok = strtok_r(text, ",", &save); tok != NULL;
	     tok = strtok_r(NULL, ",", &save))
		cr_assert_eq(addrset_add(again, tok, err, sizeof(err)), 0,
		    "%s: %s", tok, err);
	addrset_finish(again);
	cr_assert_str_eq(written(again, &m), written(set, &n));
	addrset_free(set);
	addrset_free(again);
}

Test(addrset, written_as_address_block_or_range)
{
	struct addrset *set = MAKE("192.0.2.10-192.0.2.20", "10.0.0.0/8",
	    "198.51.100.7", "2001:db8:1::5-2001:db8:1::9", "2001:db8::/127",
	    "192.0.2.128-192.0.2.255");
	size_t n;

	cr_assert_str_eq(written(set, &n),
	    "10.0.0.0/8, 192.0.2.10-192.0.2.20, 192.0.2.128/25, "
	    "198.51.100.7, 2001:db8::/127, 2001:db8:1::5-2001:db8:1::9");
	cr_assert_eq(n, 6);
	addrset_free(set);
}
