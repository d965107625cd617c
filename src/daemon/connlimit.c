/*
 * connlimit: connection counters shared by all workers.
 *
 * Two chained hash tables (client hosts, user names), each behind one
 * mutex.  The critical sections are a hash lookup and an increment; an
 * entry lives only while its count is above zero, so the tables hold no
 * more entries than there are sessions.
 */
#include "config.h"

#include <ctype.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "connlimit.h"

#define CONNLIMIT_BUCKETS 4096
#define CONNLIMIT_KEYMAX 258 /* proto byte + up to 256 key bytes + spare */

struct connlimit_entry {
	struct connlimit_entry *next;
	unsigned count;
	size_t keylen;
	unsigned char key[];
};

struct connlimit_table {
	pthread_mutex_t lock;
	struct connlimit_entry *bucket[CONNLIMIT_BUCKETS];
};

static struct connlimit_table by_ip = {.lock = PTHREAD_MUTEX_INITIALIZER};
static struct connlimit_table by_user = {.lock = PTHREAD_MUTEX_INITIALIZER};
static atomic_uint totals[PROTO_COUNT];

void
connlimit_init(void)
{
	for (int i = 0; i < PROTO_COUNT; i++)
		atomic_store(&totals[i], 0);
}

static uint32_t
connlimit_hash(const unsigned char *k, size_t len)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < len; i++) {
		h ^= k[i];
		h *= 16777619u;
	}
	return h;
}

/* Finds or (create != 0) makes the entry for key; call with the lock held. */
static struct connlimit_entry **
connlimit_find(struct connlimit_table *t, const unsigned char *key,
    size_t keylen)
{
	struct connlimit_entry **pp;

	pp = &t->bucket[connlimit_hash(key, keylen) % CONNLIMIT_BUCKETS];
	for (; *pp != NULL; pp = &(*pp)->next)
		if ((*pp)->keylen == keylen &&
		    memcmp((*pp)->key, key, keylen) == 0)
			break;
	return pp;
}

static enum connlimit_result
connlimit_acquire(struct connlimit_table *t, const unsigned char *key,
    size_t keylen, unsigned max, enum connlimit_result over)
{
	struct connlimit_entry **pp, *e;
	enum connlimit_result r = CONNLIMIT_OK;

	pthread_mutex_lock(&t->lock);
	pp = connlimit_find(t, key, keylen);
	if ((e = *pp) == NULL) {
		/* A failed allocation counts as "over the limit": refusing
		 * one connection is better than not counting it. */
		e = malloc(sizeof(*e) + keylen);
		if (e == NULL) {
			r = over;
			goto out;
		}
		e->next = NULL;
		e->count = 0;
		e->keylen = keylen;
		memcpy(e->key, key, keylen);
		*pp = e;
	}
	if (max != 0 && e->count >= max)
		r = over;
	else
		e->count++;
	if (e->count == 0) {
		*pp = e->next;
		free(e);
	}
out:
	pthread_mutex_unlock(&t->lock);
	return r;
}

static void
connlimit_release(struct connlimit_table *t, const unsigned char *key,
    size_t keylen)
{
	struct connlimit_entry **pp, *e;

	pthread_mutex_lock(&t->lock);
	pp = connlimit_find(t, key, keylen);
	if ((e = *pp) != NULL && --e->count == 0) {
		*pp = e->next;
		free(e);
	}
	pthread_mutex_unlock(&t->lock);
}

/*
 * The key of a client: the protocol, then the IPv4 address (4 bytes) or
 * the IPv6 network, its address with the bits past the prefix cleared
 * (16 bytes).  The lengths keep the two families apart.
 */
static size_t
connlimit_ip_key(enum proto_id p, const struct sockaddr *sa, unsigned v6prefix,
    unsigned char *key)
{
	const struct in6_addr *a6;

	key[0] = (unsigned char)p;
	if (sa->sa_family == AF_INET) {
		memcpy(key + 1, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		return 5;
	}
	if (sa->sa_family != AF_INET6)
		return 1;
	a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
	/* An IPv4 client seen through a dual-stack socket or a PROXY
	 * header is the same client as when it comes over IPv4. */
	if (IN6_IS_ADDR_V4MAPPED(a6)) {
		memcpy(key + 1, &a6->s6_addr[12], 4);
		return 5;
	}
	if (v6prefix == 0 || v6prefix > 128)
		v6prefix = 128;
	memcpy(key + 1, a6->s6_addr, 16);
	for (unsigned bit = v6prefix; bit < 128; bit++)
		key[1 + bit / 8] &= (unsigned char)~(0x80u >> (bit % 8));
	return 17;
}

/* The key of a user: the protocol, then the name in lower case. */
static size_t
connlimit_user_key(enum proto_id p, const char *user, unsigned char *key)
{
	size_t n = 1;

	key[0] = (unsigned char)p;
	for (; *user != '\0' && n < CONNLIMIT_KEYMAX; user++)
		key[n++] = (unsigned char)tolower((unsigned char)*user);
	return n;
}

enum connlimit_result
connlimit_acquire_ip(enum proto_id p, const struct sockaddr *sa,
    unsigned v6prefix, unsigned max_total, unsigned max_ip)
{
	unsigned char key[CONNLIMIT_KEYMAX];
	size_t len = connlimit_ip_key(p, sa, v6prefix, key);
	unsigned prev;
	enum connlimit_result r;

	prev = atomic_fetch_add(&totals[p], 1);
	if (max_total != 0 && prev >= max_total) {
		atomic_fetch_sub(&totals[p], 1);
		return CONNLIMIT_TOTAL;
	}
	r = connlimit_acquire(&by_ip, key, len, max_ip, CONNLIMIT_IP);
	if (r != CONNLIMIT_OK)
		atomic_fetch_sub(&totals[p], 1);
	return r;
}

void
connlimit_release_ip(enum proto_id p, const struct sockaddr *sa,
    unsigned v6prefix)
{
	unsigned char key[CONNLIMIT_KEYMAX];
	size_t len = connlimit_ip_key(p, sa, v6prefix, key);

	connlimit_release(&by_ip, key, len);
	atomic_fetch_sub(&totals[p], 1);
}

enum connlimit_result
connlimit_acquire_user(enum proto_id p, const char *user, unsigned max)
{
	unsigned char key[CONNLIMIT_KEYMAX];
	size_t len = connlimit_user_key(p, user, key);

	return connlimit_acquire(&by_user, key, len, max, CONNLIMIT_USER);
}

void
connlimit_release_user(enum proto_id p, const char *user)
{
	unsigned char key[CONNLIMIT_KEYMAX];
	size_t len = connlimit_user_key(p, user, key);

	connlimit_release(&by_user, key, len);
}

unsigned
connlimit_total(enum proto_id p)
{
	return atomic_load(&totals[p]);
}
