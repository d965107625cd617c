/*
 * addrset: IPv4/IPv6 address sets as sorted, disjoint intervals.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addrset.h"

/* An IPv6 address as a 128-bit number, compared as (hi, lo). */
struct u128 {
	uint64_t hi, lo;
};

struct range4 {
	uint32_t lo, hi;
};

struct range6 {
	struct u128 lo, hi;
};

struct addrset {
	struct range4 *v4;
	size_t n4, cap4;
	struct range6 *v6;
	size_t n6, cap6;
	bool finished;
};

/* The IPv4-mapped block ::ffff:0.0.0.0 - ::ffff:255.255.255.255. */
static const struct u128 mapped_lo = {0, 0x0000ffff00000000ULL};
static const struct u128 mapped_hi = {0, 0x0000ffffffffffffULL};

static int
u128_cmp(struct u128 a, struct u128 b)
{
	if (a.hi != b.hi)
		return a.hi < b.hi ? -1 : 1;
	if (a.lo != b.lo)
		return a.lo < b.lo ? -1 : 1;
	return 0;
}

static struct u128
u128_from_bytes(const uint8_t b[16])
{
	struct u128 v = {0, 0};
	int i;

	for (i = 0; i < 8; i++) {
		v.hi = v.hi << 8 | b[i];
		v.lo = v.lo << 8 | b[i + 8];
	}
	return v;
}

/* The mask of a /prefix, prefix in 0..128. */
static struct u128
u128_mask(unsigned prefix)
{
	struct u128 m = {0, 0};

	if (prefix >= 64) {
		m.hi = UINT64_MAX;
		if (prefix > 64)
			m.lo = UINT64_MAX << (128 - prefix);
	} else if (prefix > 0)
		m.hi = UINT64_MAX << (64 - prefix);
	return m;
}

static void seterr(char *errbuf, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
seterr(char *errbuf, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (errbuf == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(errbuf, errlen, fmt, ap);
	va_end(ap);
}

static int
grow(void **arr, size_t *cap, size_t n, size_t size)
{
	size_t ncap;
	void *p;

	if (n < *cap)
		return 0;
	ncap = *cap == 0 ? 16 : *cap * 2;
	if (ncap > SIZE_MAX / size)
		return -1;
	if ((p = realloc(*arr, ncap * size)) == NULL)
		return -1;
	*arr = p;
	*cap = ncap;
	return 0;
}

static int
push4(struct addrset *set, uint32_t lo, uint32_t hi)
{
	if (grow((void **)&set->v4, &set->cap4, set->n4, sizeof(*set->v4)) ==
	    -1)
		return -1;
	set->v4[set->n4].lo = lo;
	set->v4[set->n4].hi = hi;
	set->n4++;
	set->finished = false;
	return 0;
}

static int
push6(struct addrset *set, struct u128 lo, struct u128 hi)
{
	struct u128 a, b;

	if (grow((void **)&set->v6, &set->cap6, set->n6, sizeof(*set->v6)) ==
	    -1)
		return -1;
	set->v6[set->n6].lo = lo;
	set->v6[set->n6].hi = hi;
	set->n6++;
	set->finished = false;

	/* Whatever part of the interval lies in ::ffff:0:0/96 is IPv4 too. */
	a = u128_cmp(lo, mapped_lo) > 0 ? lo : mapped_lo;
	b = u128_cmp(hi, mapped_hi) < 0 ? hi : mapped_hi;
	if (u128_cmp(a, b) <= 0)
		return push4(set, (uint32_t)a.lo, (uint32_t)b.lo);
	return 0;
}

/* One parsed address: family AF_INET (in v.lo) or AF_INET6. */
struct addr {
	int family;
	struct u128 v;
};

static int
parse_addr(const char *s, struct addr *a)
{
	struct in_addr in4;
	struct in6_addr in6;

	if (inet_pton(AF_INET, s, &in4) == 1) {
		a->family = AF_INET;
		a->v.hi = 0;
		a->v.lo = ntohl(in4.s_addr);
		return 0;
	}
	if (inet_pton(AF_INET6, s, &in6) == 1) {
		a->family = AF_INET6;
		a->v = u128_from_bytes(in6.s6_addr);
		return 0;
	}
	return -1;
}

/* A prefix length: decimal, no sign, no leading zero, at most max. */
static int
parse_prefix(const char *s, unsigned max, unsigned *prefix)
{
	unsigned v = 0;
	size_t i, n = strlen(s);

	if (n == 0 || n > 3 || (s[0] == '0' && n > 1))
		return -1;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v > max)
		return -1;
	*prefix = v;
	return 0;
}

static void
u128_to_in6(struct u128 v, struct in6_addr *in6)
{
	int i;

	for (i = 0; i < 8; i++) {
		in6->s6_addr[i] = (uint8_t)(v.hi >> (56 - 8 * i));
		in6->s6_addr[i + 8] = (uint8_t)(v.lo >> (56 - 8 * i));
	}
}

/* An entry as an interval; IPv4 values sit in the low 32 bits of lo/hi. */
struct entry {
	int family;
	struct u128 lo, hi;
};

static int
parse_cidr(char *tok, char *slash, struct entry *e, char *errbuf, size_t errlen)
{
	struct addr a;
	struct u128 m;
	unsigned prefix, max;
	char net[INET6_ADDRSTRLEN];

	*slash = '\0';
	if (parse_addr(tok, &a) == -1) {
		seterr(errbuf, errlen, "%s: not an IPv4 or IPv6 address", tok);
		return -1;
	}
	max = a.family == AF_INET ? 32 : 128;
	if (parse_prefix(slash + 1, max, &prefix) == -1) {
		seterr(errbuf, errlen, "%s/%s: prefix length must be 0 to %u",
		    tok, slash + 1, max);
		return -1;
	}
	/* An IPv4 /p is the /(96 + p) of its 32 bits. */
	m = u128_mask(a.family == AF_INET ? prefix + 96 : prefix);
	e->family = a.family;
	e->lo.hi = a.v.hi & m.hi;
	e->lo.lo = a.v.lo & m.lo;
	e->hi.hi = a.v.hi | ~m.hi;
	e->hi.lo = a.v.lo | ~m.lo;
	if (a.family == AF_INET) {
		e->hi.hi = 0;
		e->hi.lo &= UINT32_MAX;
	}
	/* A typo in a mask must not silently widen or shift the entry. */
	if (u128_cmp(e->lo, a.v) != 0) {
		if (a.family == AF_INET) {
			struct in_addr in4 = {htonl((uint32_t)e->lo.lo)};

			inet_ntop(AF_INET, &in4, net, sizeof(net));
		} else {
			struct in6_addr in6;

			u128_to_in6(e->lo, &in6);
			inet_ntop(AF_INET6, &in6, net, sizeof(net));
		}
		seterr(errbuf, errlen,
		    "%s/%u: host bits set after the prefix (network is %s/%u)",
		    tok, prefix, net, prefix);
		return -1;
	}
	return 0;
}

static int
parse_range(char *tok, char *dash, struct entry *e, char *errbuf, size_t errlen)
{
	struct addr a, b;
	const char *end = dash + 1;

	*dash = '\0';
	if (parse_addr(tok, &a) == -1 || parse_addr(end, &b) == -1) {
		seterr(errbuf, errlen,
		    "%s-%s: both ends of a range must be addresses", tok, end);
		return -1;
	}
	if (a.family != b.family) {
		seterr(errbuf, errlen,
		    "%s-%s: range ends are not the same address family", tok,
		    end);
		return -1;
	}
	if (u128_cmp(a.v, b.v) > 0) {
		seterr(errbuf, errlen, "%s-%s: range starts after its end", tok,
		    end);
		return -1;
	}
	e->family = a.family;
	e->lo = a.v;
	e->hi = b.v;
	return 0;
}

static int
parse_token(char *tok, struct entry *e, char *errbuf, size_t errlen)
{
	struct addr a;
	char *p;

	if ((p = strchr(tok, '-')) != NULL)
		return parse_range(tok, p, e, errbuf, errlen);
	if ((p = strchr(tok, '/')) != NULL)
		return parse_cidr(tok, p, e, errbuf, errlen);
	if (parse_addr(tok, &a) == -1) {
		seterr(errbuf, errlen, "%s: not an IPv4 or IPv6 address", tok);
		return -1;
	}
	e->family = a.family;
	e->lo = e->hi = a.v;
	return 0;
}

struct addrset *
addrset_new(void)
{
	return calloc(1, sizeof(struct addrset));
}

int
addrset_add(struct addrset *set, const char *token, char *errbuf, size_t errlen)
{
	/* Two IPv6 addresses and a dash, or an address and a prefix. */
	char tok[2 * INET6_ADDRSTRLEN + 2];
	struct entry e;
	size_t n;
	int rc;

	while (*token == ' ' || *token == '\t')
		token++;
	n = strlen(token);
	while (n > 0 && (token[n - 1] == ' ' || token[n - 1] == '\t'))
		n--;
	if (n == 0) {
		seterr(errbuf, errlen, "empty address");
		return -1;
	}
	if (n >= sizeof(tok)) {
		seterr(errbuf, errlen, "%.40s...: too long for an address",
		    token);
		return -1;
	}
	memcpy(tok, token, n);
	tok[n] = '\0';
	if (parse_token(tok, &e, errbuf, errlen) == -1)
		return -1;
	if (e.family == AF_INET)
		rc = push4(set, (uint32_t)e.lo.lo, (uint32_t)e.hi.lo);
	else
		rc = push6(set, e.lo, e.hi);
	if (rc == -1)
		seterr(errbuf, errlen, "out of memory");
	return rc;
}

static int
cmp4(const void *a, const void *b)
{
	const struct range4 *x = a, *y = b;

	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	return 0;
}

static int
cmp6(const void *a, const void *b)
{
	const struct range6 *x = a, *y = b;

	return u128_cmp(x->lo, y->lo);
}

void
addrset_finish(struct addrset *set)
{
	size_t i, n;

	if (set->n4 > 0) {
		qsort(set->v4, set->n4, sizeof(*set->v4), cmp4);
		for (n = 0, i = 1; i < set->n4; i++) {
			struct range4 *cur = &set->v4[n], *nx = &set->v4[i];

			/* Overlapping or adjacent: one interval. */
			if (cur->hi == UINT32_MAX || nx->lo <= cur->hi + 1) {
				if (nx->hi > cur->hi)
					cur->hi = nx->hi;
			} else
				set->v4[++n] = *nx;
		}
		set->n4 = n + 1;
	}
	if (set->n6 > 0) {
		qsort(set->v6, set->n6, sizeof(*set->v6), cmp6);
		for (n = 0, i = 1; i < set->n6; i++) {
			struct range6 *cur = &set->v6[n], *nx = &set->v6[i];
			struct u128 next = cur->hi;

			/* next = cur->hi + 1, unless cur reaches the top. */
			if (++next.lo == 0)
				next.hi++;
			if ((cur->hi.hi == UINT64_MAX &&
				cur->hi.lo == UINT64_MAX) ||
			    u128_cmp(nx->lo, next) <= 0) {
				if (u128_cmp(nx->hi, cur->hi) > 0)
					cur->hi = nx->hi;
			} else
				set->v6[++n] = *nx;
		}
		set->n6 = n + 1;
	}
	set->finished = true;
}

static bool
contains4(const struct addrset *set, uint32_t x)
{
	size_t lo = 0, hi = set->n4, i;

	if (!set->finished) {
		for (i = 0; i < set->n4; i++)
			if (set->v4[i].lo <= x && x <= set->v4[i].hi)
				return true;
		return false;
	}
	/* Find the last interval starting at or below x. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (set->v4[mid].lo <= x)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo > 0 && x <= set->v4[lo - 1].hi;
}

static bool
contains6(const struct addrset *set, struct u128 x)
{
	size_t lo = 0, hi = set->n6, i;

	if (!set->finished) {
		for (i = 0; i < set->n6; i++)
			if (u128_cmp(set->v6[i].lo, x) <= 0 &&
			    u128_cmp(x, set->v6[i].hi) <= 0)
				return true;
		return false;
	}
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (u128_cmp(set->v6[mid].lo, x) <= 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo > 0 && u128_cmp(x, set->v6[lo - 1].hi) <= 0;
}

bool
addrset_contains(const struct addrset *set, const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;

		return contains4(set, ntohl(sin->sin_addr.s_addr));
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 =
		    (const struct sockaddr_in6 *)sa;
		struct u128 v = u128_from_bytes(sin6->sin6_addr.s6_addr);

		if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr))
			return contains4(set, (uint32_t)v.lo);
		return contains6(set, v);
	}
	return false;
}

size_t
addrset_count(const struct addrset *set)
{
	return set->n4 + set->n6;
}

/* The number whose low k bits are set, k in 0..128. */
static struct u128
u128_low(unsigned k)
{
	struct u128 m = {0, 0};

	if (k >= 64) {
		m.lo = UINT64_MAX;
		if (k > 64)
			m.hi = UINT64_MAX >> (128 - k);
	} else if (k > 0)
		m.lo = UINT64_MAX >> (64 - k);
	return m;
}

/* The prefix length if [lo, hi] is one CIDR block of a bits-wide space. */
static int
block_prefix(struct u128 lo, struct u128 hi, unsigned bits)
{
	for (unsigned k = 0; k <= bits; k++) {
		struct u128 m = u128_low(k);

		if ((lo.hi & m.hi) == 0 && (lo.lo & m.lo) == 0 &&
		    (hi.hi & m.hi) == m.hi && (hi.lo & m.lo) == m.lo &&
		    (lo.hi & ~m.hi) == (hi.hi & ~m.hi) &&
		    (lo.lo & ~m.lo) == (hi.lo & ~m.lo))
			return (int)(bits - k);
	}
	return -1;
}

static void
u128_ntop(int family, struct u128 v, char *buf, size_t len)
{
	if (family == AF_INET) {
		struct in_addr in4 = {htonl((uint32_t)v.lo)};

		inet_ntop(AF_INET, &in4, buf, (socklen_t)len);
	} else {
		struct in6_addr in6;

		u128_to_in6(v, &in6);
		inet_ntop(AF_INET6, &in6, buf, (socklen_t)len);
	}
}

static void
write_range(int family, struct u128 lo, struct u128 hi, const char *sep,
    FILE *out)
{
	char a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN];
	int prefix;

	u128_ntop(family, lo, a, sizeof(a));
	fputs(sep, out);
	if (u128_cmp(lo, hi) == 0) {
		fputs(a, out);
	} else if ((prefix = block_prefix(lo, hi,
			family == AF_INET ? 32 : 128)) >= 0) {
		fprintf(out, "%s/%d", a, prefix);
	} else {
		u128_ntop(family, hi, b, sizeof(b));
		fprintf(out, "%s-%s", a, b);
	}
}

size_t
addrset_write(const struct addrset *set, const char *sep, FILE *out)
{
	size_t i, n = 0;

	for (i = 0; i < set->n4; i++, n++)
		write_range(AF_INET, (struct u128){0, set->v4[i].lo},
		    (struct u128){0, set->v4[i].hi}, n ? sep : "", out);
	for (i = 0; i < set->n6; i++, n++)
		write_range(AF_INET6, set->v6[i].lo, set->v6[i].hi,
		    n ? sep : "", out);
	return n;
}

void
addrset_free(struct addrset *set)
{
	if (set == NULL)
		return;
	free(set->v4);
	free(set->v6);
	free(set);
}
