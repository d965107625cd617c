/*
 * throttle: failed logins counted per client address and per user name.
 *
 * One chained hash table behind one mutex, with every entry also on a
 * list from the one touched longest ago to the newest: an insert into a
 * full table frees entries from the old end.  Three kinds of entry share
 * the table and its bound: a client address (or IPv6 network), a user
 * name, and the pair of both, which remembers how many of the user's
 * failures came from that address so that a success there can take them
 * back.  The critical sections are a few lookups and increments.
 */
#include "config.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "addrset.h"
#include "sasl.h"
#include "throttle.h"
#include "username.h"

#define THROTTLE_BUCKETS 65536u
/* Three lookups per failure: the entries touched by one call must all
 * stay while it runs, whatever max_entries says. */
#define THROTTLE_MIN_ENTRIES 3u
/* Kind byte, address length byte, IPv6 network, user name. */
#define THROTTLE_KEYMAX (2 + 16 + SASL_USER_MAX + 1)

enum throttle_kind { KIND_IP = 1, KIND_USER, KIND_PAIR };

struct throttle_entry {
	struct throttle_entry *hnext;         /* in its bucket */
	struct throttle_entry *older, *newer; /* by last touch */
	uint64_t window_start;                /* of the current failures */
	uint64_t ban_until;                   /* 0: not banned */
	unsigned failures;
	uint32_t hash;
	size_t keylen;
	unsigned char key[];
};

struct throttle {
	pthread_mutex_t lock;
	uint64_t seed;
	size_t n;
	struct throttle_entry *oldest, *newest;
	struct throttle_entry *bucket[THROTTLE_BUCKETS];
};

struct throttle *
throttle_new(void)
{
	struct throttle *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return NULL;
	if (pthread_mutex_init(&t->lock, NULL) != 0) {
		free(t);
		return NULL;
	}
	/* User names are the client's choice: a secret seed keeps it from
	 * choosing names that fill one bucket. */
	if (getrandom(&t->seed, sizeof(t->seed), GRND_NONBLOCK) !=
	    sizeof(t->seed))
		t->seed = (uint64_t)(uintptr_t)t ^ 0x9e3779b97f4a7c15ULL;
	return t;
}

void
throttle_free(struct throttle *t)
{
	struct throttle_entry *e, *next;

	if (t == NULL)
		return;
	for (e = t->oldest; e != NULL; e = next) {
		next = e->newer;
		free(e);
	}
	pthread_mutex_destroy(&t->lock);
	free(t);
}

static struct throttle *shared;
static pthread_once_t shared_once = PTHREAD_ONCE_INIT;

static void
throttle_shared_init(void)
{
	shared = throttle_new();
}

struct throttle *
throttle_shared(void)
{
	pthread_once(&shared_once, throttle_shared_init);
	return shared;
}

unsigned
throttle_delay(unsigned first_ms, unsigned n)
{
	uint64_t d = first_ms;
	unsigned cap =
	    first_ms > THROTTLE_DELAY_CAP_MS ? first_ms : THROTTLE_DELAY_CAP_MS;

	for (unsigned i = 1; i < n && d < cap; i++)
		d *= 2;
	return d > cap ? cap : (unsigned)d;
}

unsigned
throttle_wait(unsigned delay_ms, uint64_t backend_ms)
{
	return backend_ms >= delay_ms ? 0 : delay_ms - (unsigned)backend_ms;
}

static uint32_t
throttle_hash(const struct throttle *t, const unsigned char *k, size_t len)
{
	uint64_t h = 14695981039346656037ULL ^ t->seed;

	for (size_t i = 0; i < len; i++) {
		h ^= k[i];
		h *= 1099511628211ULL;
	}
	/* MurmurHash3's finaliser: every bit of h reaches the low bits
	 * that pick the bucket. */
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return (uint32_t)h;
}

/*
 * The client's address as a key: the IPv4 address, or the IPv6 network of
 * its first v6prefix bits, as connlimit counts connections (one IPv6 host
 * usually has a whole /64 to spread its guesses over).  Writes a length
 * byte and the bytes; returns how many were written.
 */
static size_t
throttle_ip_key(const struct sockaddr *sa, unsigned v6prefix,
    unsigned char *key)
{
	const struct in6_addr *a6;

	if (sa->sa_family == AF_INET) {
		key[0] = 4;
		memcpy(key + 1, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		return 5;
	}
	if (sa->sa_family != AF_INET6) {
		key[0] = 0;
		return 1;
	}
	a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
	/* An IPv4 client through a dual-stack socket or a PROXY header is
	 * the same client as over IPv4. */
	if (IN6_IS_ADDR_V4MAPPED(a6)) {
		key[0] = 4;
		memcpy(key + 1, &a6->s6_addr[12], 4);
		return 5;
	}
	if (v6prefix == 0 || v6prefix > 128)
		v6prefix = 128;
	key[0] = 16;
	memcpy(key + 1, a6->s6_addr, 16);
	for (unsigned bit = v6prefix; bit < 128; bit++)
		key[1 + bit / 8] &= (unsigned char)~(0x80u >> (bit % 8));
	return 17;
}

/*
 * The user as a key, normalised as the access rules match names: the
 * user part of "user@domain" or "DOMAIN\user", in lower case, so that a
 * guesser cannot start a new count by changing the form or the case.
 */
static size_t
throttle_user_key(const char *user, unsigned char *key, size_t room)
{
	size_t len, n = 0;
	const char *bare = username_bare(user, &len);

	if (len == 0) {
		bare = user;
		len = strlen(user);
	}
	for (size_t i = 0; i < len && n < room; i++) {
		unsigned char c = (unsigned char)bare[i];

		key[n++] = c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
	}
	return n;
}

static void
throttle_unlink(struct throttle *t, struct throttle_entry *e)
{
	if (e->older != NULL)
		e->older->newer = e->newer;
	else
		t->oldest = e->newer;
	if (e->newer != NULL)
		e->newer->older = e->older;
	else
		t->newest = e->older;
	e->older = e->newer = NULL;
}

static void
throttle_push_newest(struct throttle *t, struct throttle_entry *e)
{
	e->older = t->newest;
	e->newer = NULL;
	if (t->newest != NULL)
		t->newest->newer = e;
	else
		t->oldest = e;
	t->newest = e;
}

static void
throttle_remove(struct throttle *t, struct throttle_entry *e)
{
	struct throttle_entry **pp;

	pp = &t->bucket[e->hash % THROTTLE_BUCKETS];
	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	throttle_unlink(t, e);
	t->n--;
	free(e);
}

/*
 * Finds the entry for key, moving it to the new end; with create, makes
 * it when missing, first freeing the oldest entries while the table is
 * full.  NULL when missing (or out of memory).  Call with the lock held.
 */
static struct throttle_entry *
throttle_find(struct throttle *t, const struct throttle_conf *tc,
    const unsigned char *key, size_t keylen, bool create)
{
	uint32_t h = throttle_hash(t, key, keylen);
	struct throttle_entry *e;
	size_t max = tc->max_entries < THROTTLE_MIN_ENTRIES ?
			 THROTTLE_MIN_ENTRIES :
			 tc->max_entries;

	for (e = t->bucket[h % THROTTLE_BUCKETS]; e != NULL; e = e->hnext)
		if (e->hash == h && e->keylen == keylen &&
		    memcmp(e->key, key, keylen) == 0) {
			throttle_unlink(t, e);
			throttle_push_newest(t, e);
			return e;
		}
	if (!create)
		return NULL;
	/* A reload may have lowered max_entries: down to it at once. */
	while (t->n >= max && t->oldest != NULL)
		throttle_remove(t, t->oldest);
	if ((e = calloc(1, sizeof(*e) + keylen)) == NULL)
		return NULL;
	e->hash = h;
	e->keylen = keylen;
	memcpy(e->key, key, keylen);
	e->hnext = t->bucket[h % THROTTLE_BUCKETS];
	t->bucket[h % THROTTLE_BUCKETS] = e;
	throttle_push_newest(t, e);
	t->n++;
	return e;
}

/* The keys of one call: address, user, and the pair of both. */
struct throttle_keys {
	unsigned char ip[THROTTLE_KEYMAX], user[THROTTLE_KEYMAX],
	    pair[THROTTLE_KEYMAX];
	size_t iplen, userlen, pairlen;
};

static void
throttle_keys(const struct throttle_limits *lim, const struct sockaddr *sa,
    const char *user, struct throttle_keys *k)
{
	size_t n;

	k->ip[0] = KIND_IP;
	k->iplen = 1 + throttle_ip_key(sa, lim->v6prefix, k->ip + 1);
	k->user[0] = KIND_USER;
	k->userlen =
	    1 + throttle_user_key(user, k->user + 1, sizeof(k->user) - 1);
	k->pair[0] = KIND_PAIR;
	n = throttle_ip_key(sa, lim->v6prefix, k->pair + 1);
	memcpy(k->pair + 1 + n, k->user + 1, k->userlen - 1);
	k->pairlen = 1 + n + k->userlen - 1;
}

static bool
throttle_exempt(const struct throttle_limits *lim, const struct sockaddr *sa)
{
	return lim->tc->exempt_ips != NULL &&
	       addrset_contains(lim->tc->exempt_ips, sa);
}

/* The failures of e still in the window at now. */
static unsigned
throttle_live(const struct throttle_entry *e, unsigned window_ms, uint64_t now)
{
	if (e == NULL || e->failures == 0 || now - e->window_start >= window_ms)
		return 0;
	return e->failures;
}

/* Counts a failure in e; returns the failures in the window, this one too. */
static unsigned
throttle_count(struct throttle_entry *e, unsigned window_ms, uint64_t now)
{
	if (throttle_live(e, window_ms, now) == 0) {
		e->failures = 0;
		e->window_start = now;
	}
	return ++e->failures;
}

static uint64_t
throttle_ban_left(const struct throttle_entry *e, uint64_t now)
{
	return e != NULL && e->ban_until > now ? e->ban_until - now : 0;
}

enum throttle_verdict
throttle_check(struct throttle *t, const struct throttle_limits *lim,
    const struct sockaddr *sa, const char *user, uint64_t now,
    struct throttle_result *res)
{
	struct throttle_keys k;
	struct throttle_entry *e;
	uint64_t left;

	memset(res, 0, sizeof(*res));
	if (throttle_exempt(lim, sa))
		return THROTTLE_OK;
	throttle_keys(lim, sa, user, &k);
	pthread_mutex_lock(&t->lock);
	e = throttle_find(t, lim->tc, k.ip, k.iplen, false);
	if ((left = throttle_ban_left(e, now)) > 0)
		res->verdict = THROTTLE_BANNED_IP;
	else {
		e = throttle_find(t, lim->tc, k.user, k.userlen, false);
		if ((left = throttle_ban_left(e, now)) > 0)
			res->verdict = THROTTLE_BANNED_USER;
	}
	res->ban_left_ms = left;
	pthread_mutex_unlock(&t->lock);
	return res->verdict;
}

/*
 * A ban begins with a clean count: once it is over, the address (or the
 * user) has its whole allowance again, and a further ban needs as many
 * failures as the first.
 */
static void
throttle_ban(struct throttle_entry *e, unsigned ban_ms, uint64_t now)
{
	e->ban_until = now + ban_ms;
	e->failures = 0;
}

void
throttle_failed(struct throttle *t, const struct throttle_limits *lim,
    const struct sockaddr *sa, const char *user, uint64_t now,
    struct throttle_result *res)
{
	const struct throttle_conf *tc = lim->tc;
	struct throttle_keys k;
	struct throttle_entry *ip, *u, *pair;
	unsigned n;

	memset(res, 0, sizeof(*res));
	if (throttle_exempt(lim, sa))
		return;
	throttle_keys(lim, sa, user, &k);
	pthread_mutex_lock(&t->lock);
	/* Each entry is touched as it is found, so that making the next one
	 * cannot free it (at least THROTTLE_MIN_ENTRIES are kept). */
	ip = throttle_find(t, tc, k.ip, k.iplen, true);
	/* No user (a relayed GSSAPI exchange, whose user postern cannot
	 * see): only the address counts, or every such session would share
	 * the empty user's count and ban. */
	u = user[0] != '\0' ? throttle_find(t, tc, k.user, k.userlen, true) :
			      NULL;
	pair = user[0] != '\0' ? throttle_find(t, tc, k.pair, k.pairlen, true) :
				 NULL;
	if (ip != NULL)
		res->ip_failures = throttle_count(ip, tc->window_ms, now);
	if (u != NULL)
		res->user_failures = throttle_count(u, tc->window_ms, now);
	if (pair != NULL)
		throttle_count(pair, tc->window_ms, now);
	n = res->ip_failures > res->user_failures ? res->ip_failures :
						    res->user_failures;
	if (n > 0 && tc->failure_delay_ms > 0)
		res->delay_ms = throttle_delay(tc->failure_delay_ms, n);
	if (ip != NULL && tc->max_failures_per_ip != 0 &&
	    res->ip_failures >= tc->max_failures_per_ip) {
		throttle_ban(ip, tc->ban_time_ms, now);
		res->verdict = THROTTLE_BANNED_IP;
	} else if (u != NULL && tc->max_failures_per_user != 0 &&
		   res->user_failures >= tc->max_failures_per_user) {
		throttle_ban(u, tc->ban_time_ms, now);
		res->verdict = THROTTLE_BANNED_USER;
	}
	if (res->verdict != THROTTLE_OK) {
		res->ban_started = true;
		res->ban_left_ms = tc->ban_time_ms;
		if (pair != NULL)
			pair->failures = 0;
	}
	pthread_mutex_unlock(&t->lock);
}

void
throttle_succeeded(struct throttle *t, const struct throttle_limits *lim,
    const struct sockaddr *sa, const char *user, uint64_t now)
{
	const struct throttle_conf *tc = lim->tc;
	struct throttle_keys k;
	struct throttle_entry *ip, *u, *pair;
	unsigned n;

	if (throttle_exempt(lim, sa))
		return;
	throttle_keys(lim, sa, user, &k);
	pthread_mutex_lock(&t->lock);
	pair = throttle_find(t, tc, k.pair, k.pairlen, false);
	if (pair == NULL)
		goto out;
	n = throttle_live(pair, tc->window_ms, now);
	/*
	 * A user who mistyped and then got it right is no guesser, from this
	 * address; but an address that guessed at other users keeps those
	 * failures, or one account it knows would wipe its record.
	 */
	if (n > 0 && (ip = throttle_find(t, tc, k.ip, k.iplen, false)) != NULL)
		ip->failures -= n < ip->failures ? n : ip->failures;
	if (n > 0 &&
	    (u = throttle_find(t, tc, k.user, k.userlen, false)) != NULL)
		u->failures -= n < u->failures ? n : u->failures;
	throttle_remove(t, pair);
out:
	pthread_mutex_unlock(&t->lock);
}

size_t
throttle_entries(struct throttle *t)
{
	size_t n;

	pthread_mutex_lock(&t->lock);
	n = t->n;
	pthread_mutex_unlock(&t->lock);
	return n;
}
