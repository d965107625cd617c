/*
 * inventory: sessions from rows, and records from sessions.
 *
 * The per-row path is kept short because it runs hundreds of millions of
 * times: the dateTime field is parsed against a cached date, the session
 * is found by its numeric id (the last one is remembered, since rows of a
 * session tend to follow each other), and the command is compared by
 * length first.  Everything else (addresses, users, hashing of keys) is
 * done once per session, when it ends.
 */
#include "config.h"

#include <ctype.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>

#if defined(__SSE2__) && defined(__GNUC__)
#include <emmintrin.h>
#endif

#include "inventory.h"
#include "wildmatch.h"

#define DAY_MS (24 * 3600 * (int64_t)1000)

#define SESSION_USER_MAX 255
#define SESSION_CIP_MAX 63
#define SESSION_SOFT_MAX 127

/* A bump allocator: records and strings live as long as the inventory. */
struct arena_chunk {
	struct arena_chunk *next;
	size_t used, cap;
	_Alignas(max_align_t) char data[];
};

struct arena {
	struct arena_chunk *head;
};

/*
 * A record with what the hash table needs besides the public part.  The
 * key is kept case-folded, its parts joined by NULs, in the same block of
 * memory as the record, so that a lookup touches as few cache lines as
 * possible.
 */
struct rec {
	struct inv_record pub; /* first: pointers convert both ways */
	size_t keylen, key2len, key3len;
	const char *key3; /* the software, in the base table only */
	const char *fkey; /* folded key */
	size_t flen;
};

/* Longest folded key: every part is bounded by the session's buffers. */
#define FKEY_MAX 1024

/* Open addressing, linear probing; cap is a power of two.  The hash sits
 * next to the pointer so that probing does not follow pointers. */
struct slot {
	uint64_t hash;
	struct rec *r;
};

struct table {
	struct slot *slot;
	size_t cap, n;
};

struct dayent {
	struct inv_day d;
	bool used;
};

/*
 * The tables an inventory keeps.  Sessions go into the base table only,
 * one lookup per session; the others are added up from it at the end,
 * since every count is a sum, a minimum, a maximum or a union.
 */
enum {
	T_BASE,	      /* client, user and (for INV_BY_SOFTWARE) software */
	T_CLIENT,     /* by client address */
	T_USER,	      /* by user */
	T_PAIR,	      /* by client and user, for INV_BY_SOFTWARE (else T_BASE) */
	T_SOFT,	      /* by software, only for INV_BY_SOFTWARE */
	T_SOFTCLIENT, /* software and client pairs, only for INV_BY_SOFTWARE */
	T_COUNT
};

struct inventory {
	struct inv_options opt;
	struct arena arena;
	size_t server_words;
	struct table t[T_COUNT];
	struct dayent *days;
	size_t days_cap, days_n;
	struct inv_day *days_sorted;
	struct inv_file_info *files;
	size_t files_n, files_cap;
	struct inv_bad_row bad[INV_BAD_KEEP];
	size_t bad_n;
	struct inv_summary sum;
	const struct inv_record **sorted;
	size_t sorted_n;
	bool nomem;
};

/* One session being read. */
struct session {
	uint64_t id;
	bool used;
	uint8_t proto_hint; /* INV_POP3/INV_IMAP4 from verbs, 0 unknown */
	uint8_t tls;	    /* enum inv_tls */
	bool dele;
	uint16_t port;
	int64_t last_seq; /* highest seqNumber seen, -1 before any */
	int64_t first_ms, last_ms;
	uint32_t logins_ok, logins_failed;
	uint32_t cleartext_ok, cleartext_failed, implicit_ok, starttls_ok;
	uint8_t ciplen, softlen;
	uint16_t userlen;
	char cip[SESSION_CIP_MAX + 1];
	char user[SESSION_USER_MAX + 1];
	char soft[SESSION_SOFT_MAX + 1];
};

/*
 * Sessions that ended wait in a ring for INV_PIPE more to end before they
 * are added to the records: meanwhile their record's slot, then the
 * record, are fetched into the cache (see session_defer()).
 */
#define INV_PIPE 16

struct inv_file {
	struct inventory *inv;
	size_t index, server;
	enum exlog_proto nameproto;
	struct session *slot;
	size_t cap, n;
	struct session *last;
	struct session pipe[INV_PIPE];
	uint64_t pipe_hash[INV_PIPE];
	enum exlog_logtype pipe_lt[INV_PIPE];
	unsigned pipe_n, pipe_next;
	char date[10];
	bool date_ok;
	int64_t date_ms;
};

/* ---- memory ---- */

/*
 * Memory for the large tables and the record arena.  Lookups jump
 * at random over tens of megabytes: in 2 MiB pages, where the kernel has
 * them, they miss the TLB far less often.
 */
#define HUGE_PAGE (2u << 20)

static void *
big_alloc(size_t n, bool zero)
{
	size_t len = (n + HUGE_PAGE - 1) & ~(size_t)(HUGE_PAGE - 1);
	void *p;

	if (n < HUGE_PAGE)
		return zero ? calloc(1, n) : malloc(n);
	if ((p = aligned_alloc(HUGE_PAGE, len)) == NULL)
		return NULL;
#ifdef MADV_HUGEPAGE
	(void)madvise(p, len, MADV_HUGEPAGE);
#endif
	if (zero)
		memset(p, 0, len);
	return p;
}

static void *
arena_alloc(struct arena *a, size_t n)
{
	struct arena_chunk *c = a->head;
	void *p;

	n = (n + 15) & ~(size_t)15;
	if (c == NULL || c->cap - c->used < n) {
		/* A small inventory keeps to one ordinary chunk. */
		size_t cap = c == NULL ? (1u << 20) : HUGE_PAGE - sizeof(*c);

		if (cap < n)
			cap = n;
		if ((c = big_alloc(sizeof(*c) + cap, false)) == NULL)
			return NULL;
		c->next = a->head;
		c->used = 0;
		c->cap = cap;
		a->head = c;
	}
	p = c->data + c->used;
	c->used += n;
	memset(p, 0, n);
	return p;
}

static char *
arena_strndup(struct arena *a, const char *s, size_t n)
{
	char *p = arena_alloc(a, n + 1);

	if (p != NULL) {
		memcpy(p, s, n);
		p[n] = '\0';
	}
	return p;
}

static void
arena_free(struct arena *a)
{
	struct arena_chunk *c, *next;

	for (c = a->head; c != NULL; c = next) {
		next = c->next;
		free(c);
	}
	a->head = NULL;
}

/* ---- keys ---- */

static inline unsigned char
fold(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

/* A multiply-and-shift hash eight bytes at a time (splitmix64's mixer).
 * Keys are logged values, not secrets; the table only needs spread. */
static uint64_t
inv_hash_bytes(const char *p, size_t n)
{
	uint64_t h = 0x9e3779b97f4a7c15ull ^ n, w;

	while (n >= 8) {
		memcpy(&w, p, 8);
		h = (h ^ w) * 0xbf58476d1ce4e5b9ull;
		h ^= h >> 31;
		p += 8;
		n -= 8;
	}
	w = 0;
	memcpy(&w, p, n);
	h = (h ^ w) * 0x94d049bb133111ebull;
	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ull;
	return h ^ (h >> 32);
}

/* Writes k NUL k2 NUL k3 case-folded into buf; returns the length. */
static size_t
inv_fold_key(char *buf, const char *k, size_t kl, const char *k2, size_t k2l,
    const char *k3, size_t k3l)
{
	const char *part[3] = {k, k2, k3};
	size_t len[3] = {kl, k2l, k3l}, n = 0;

	for (int i = 0; i < 3; i++) {
		if (len[i] > FKEY_MAX / 3 - 1)
			len[i] = FKEY_MAX / 3 - 1;
		for (size_t j = 0; j < len[i]; j++)
			buf[n++] = (char)fold((unsigned char)part[i][j]);
		buf[n++] = '\0';
	}
	return n;
}

static int
table_grow(struct table *t)
{
	size_t ncap = t->cap ? t->cap * 2 : 256, i, j;
	struct slot *ns = big_alloc(ncap * sizeof(*ns), true);

	if (ns == NULL)
		return -1;
	for (i = 0; i < t->cap; i++) {
		if (t->slot[i].r == NULL)
			continue;
		for (j = t->slot[i].hash & (ncap - 1); ns[j].r != NULL;
		    j = (j + 1) & (ncap - 1))
			;
		ns[j] = t->slot[i];
	}
	free(t->slot);
	t->slot = ns;
	t->cap = ncap;
	return 0;
}

/* The record of folded key fk (flen bytes) with hash h, or NULL. */
static struct rec *
table_find(const struct table *t, uint64_t h, const char *fk, size_t flen)
{
	struct rec *r;
	size_t i;

	if (t->cap == 0)
		return NULL;
	for (i = h & (t->cap - 1); (r = t->slot[i].r) != NULL;
	    i = (i + 1) & (t->cap - 1))
		if (t->slot[i].hash == h && r->flen == flen &&
		    memcmp(r->fkey, fk, flen) == 0)
			return r;
	return NULL;
}

/* Finds the record of a key, creating it when asked; NULL when absent or
 * out of memory. */
static struct rec *
inv_table_get3(struct inventory *inv, struct table *t, const char *k, size_t kl,
    const char *k2, size_t k2l, bool pair, const char *k3, size_t k3l,
    bool create)
{
	char fk[FKEY_MAX];
	size_t flen = inv_fold_key(fk, k, kl, k2, k2l, k3, k3l), i, sz;
	uint64_t h = inv_hash_bytes(fk, flen);
	struct rec *r;
	char *p;

	if ((r = table_find(t, h, fk, flen)) != NULL)
		return r;
	if (!create)
		return NULL;
	if ((t->n + 1) * 4 > t->cap * 3 && table_grow(t) < 0)
		goto nomem;
	/* One block: record, server bitset, folded key, the three parts. */
	sz = sizeof(*r) + inv->server_words * sizeof(uint64_t) + flen + kl +
	    k2l + k3l + 3;
	if ((r = arena_alloc(&inv->arena, sz)) == NULL)
		goto nomem;
	p = (char *)(r + 1);
	if (inv->server_words > 0) {
		r->pub.servers = (uint64_t *)(void *)p;
		p += inv->server_words * sizeof(uint64_t);
	}
	memcpy(p, fk, flen);
	r->fkey = p;
	r->flen = flen;
	p += flen;
	r->pub.hash = h;
	r->pub.first_ms = INT64_MAX;
	r->pub.last_ms = INT64_MIN;
	r->keylen = kl;
	r->key2len = k2l;
	r->key3len = k3l;
	memcpy(p, k, kl);
	r->pub.key = p;
	p += kl + 1;
	if (pair) {
		memcpy(p, k2, k2l);
		r->pub.key2 = p;
	}
	p += k2l + 1;
	if (k3 != NULL) {
		memcpy(p, k3, k3l);
		r->key3 = p;
	}
	for (i = h & (t->cap - 1); t->slot[i].r != NULL; i = (i + 1) & (t->cap - 1))
		;
	t->slot[i].hash = h;
	t->slot[i].r = r;
	t->n++;
	return r;
nomem:
	inv->nomem = true;
	return NULL;
}

static struct rec *
table_get(struct inventory *inv, struct table *t, const char *k, size_t kl,
    const char *k2, size_t k2l, bool pair, bool create)
{
	return inv_table_get3(inv, t, k, kl, k2, k2l, pair, NULL, 0, create);
}

/*
 * Fetches the slot of hash h into the cache, or (once the slot is there)
 * the record with that hash: the slots of a probe run lie next to each
 * other, and the record's block holds the counters, the lookup's fields
 * at its end and the folded key after it.
 */
static void
inv_table_prefetch(const struct table *t, uint64_t h, bool record)
{
	size_t j, mask = t->cap - 1;
	const struct rec *r;

	if (t->cap == 0)
		return;
	if (!record) {
		__builtin_prefetch(&t->slot[h & mask]);
		return;
	}
	for (j = h & mask; (r = t->slot[j].r) != NULL; j = (j + 1) & mask)
		if (t->slot[j].hash == h) {
			for (size_t o = 0; o < sizeof(*r) + 64; o += 64)
				__builtin_prefetch((const char *)r + o);
			return;
		}
}

/* How many base records ahead the client and user records are fetched. */
#define DERIVE_AHEAD 16

static void
inv_rec_add_port(struct inv_record *r, uint16_t port)
{
	unsigned i;

	if (port == 0)
		return;
	for (i = 0; i < r->nports && r->ports[i] < port; i++)
		;
	if (i < r->nports && r->ports[i] == port)
		return;
	if (r->nports == INV_PORTS_MAX) {
		r->ports_more = true;
		return;
	}
	memmove(r->ports + i + 1, r->ports + i,
	    (r->nports - i) * sizeof(r->ports[0]));
	r->ports[i] = port;
	r->nports++;
}

/* Keeps the INV_SAMPLES smallest names, so that the sample does not
 * depend on the order files were read in. */
static void
rec_add_sample(struct inv_record *r, const char *name)
{
	int i, n = 0;

	while (n < INV_SAMPLES && r->related[n] != NULL)
		n++;
	for (i = 0; i < n; i++) {
		int c = strcmp(name, r->related[i]);

		if (c == 0)
			return;
		if (c < 0)
			break;
	}
	if (i == INV_SAMPLES)
		return;
	if (n == INV_SAMPLES)
		n--;
	memmove(r->related + i + 1, r->related + i,
	    (size_t)(n - i) * sizeof(r->related[0]));
	r->related[i] = name;
}

static void
rec_merge(struct inventory *inv, struct inv_record *d, const struct inv_record *s)
{
	unsigned i;

	d->protocols |= s->protocols;
	for (i = 0; i < s->nports; i++)
		inv_rec_add_port(d, s->ports[i]);
	d->ports_more |= s->ports_more;
	d->sessions += s->sessions;
	d->logins_ok += s->logins_ok;
	d->logins_failed += s->logins_failed;
	d->cleartext_ok += s->cleartext_ok;
	d->cleartext_failed += s->cleartext_failed;
	d->implicit_ok += s->implicit_ok;
	d->starttls_ok += s->starttls_ok;
	d->pop3_dele_sessions += s->pop3_dele_sessions;
	d->pop3_leave_sessions += s->pop3_leave_sessions;
	if (s->first_ms < d->first_ms)
		d->first_ms = s->first_ms;
	if (s->last_ms > d->last_ms)
		d->last_ms = s->last_ms;
	for (i = 0; i < inv->server_words; i++)
		d->servers[i] |= s->servers[i];
}

/* ---- the inventory ---- */

struct inventory *
inventory_new(const struct inv_options *opts)
{
	struct inventory *inv = calloc(1, sizeof(*inv));

	if (inv == NULL)
		return NULL;
	inv->opt = *opts;
	if (inv->opt.protocols == 0)
		inv->opt.protocols = INV_POP3 | INV_IMAP4;
	inv->server_words = (opts->nservers + 63) / 64;
	inv->sum.first_ms = INT64_MAX;
	inv->sum.last_ms = INT64_MIN;
	return inv;
}

void
inventory_free(struct inventory *inv)
{
	if (inv == NULL)
		return;
	for (int i = 0; i < T_COUNT; i++)
		free(inv->t[i].slot);
	free(inv->days);
	free(inv->days_sorted);
	free(inv->files);
	free(inv->sorted);
	arena_free(&inv->arena);
	free(inv);
}

const struct inv_options *
inventory_options(const struct inventory *inv)
{
	return &inv->opt;
}

bool
inventory_skip_name(const struct inventory *inv, const struct exlog_name *nm)
{
	return nm->end_ms <= inv->opt.since_ms || nm->start_ms >= inv->opt.until_ms;
}

static struct inv_file_info *
inv_file_add(struct inventory *inv, const char *path, size_t server)
{
	struct inv_file_info *fi;

	if (inv->files_n == inv->files_cap) {
		size_t ncap = inv->files_cap ? inv->files_cap * 2 : 64;
		struct inv_file_info *nf =
		    realloc(inv->files, ncap * sizeof(*nf));

		if (nf == NULL)
			return NULL;
		inv->files = nf;
		inv->files_cap = ncap;
	}
	fi = &inv->files[inv->files_n];
	memset(fi, 0, sizeof(*fi));
	if ((fi->path = arena_strndup(&inv->arena, path, strlen(path))) == NULL)
		return NULL;
	fi->server = server;
	inv->files_n++;
	return fi;
}

void
inventory_note_file(struct inventory *inv, const char *path, size_t server,
    bool skipped, bool failed)
{
	struct inv_file_info *fi = inv_file_add(inv, path, server);

	if (fi == NULL) {
		inv->nomem = true;
		return;
	}
	fi->skipped = skipped;
	fi->failed = failed;
	if (skipped)
		inv->sum.files_skipped++;
	if (failed)
		inv->sum.files_failed++;
}

static int
inv_day_add(struct inventory *inv, int64_t day, int proto, uint64_t n)
{
	size_t i;

	if ((inv->days_n + 1) * 2 > inv->days_cap) {
		size_t ncap = inv->days_cap ? inv->days_cap * 2 : 64;
		struct dayent *nd = calloc(ncap, sizeof(*nd));

		if (nd == NULL)
			return -1;
		for (i = 0; i < inv->days_cap; i++) {
			size_t j;

			if (!inv->days[i].used)
				continue;
			for (j = (size_t)inv->days[i].d.day & (ncap - 1);
			    nd[j].used; j = (j + 1) & (ncap - 1))
				;
			nd[j] = inv->days[i];
		}
		free(inv->days);
		inv->days = nd;
		inv->days_cap = ncap;
	}
	for (i = (size_t)day & (inv->days_cap - 1); inv->days[i].used;
	    i = (i + 1) & (inv->days_cap - 1))
		if (inv->days[i].d.day == day)
			break;
	if (!inv->days[i].used) {
		inv->days[i].used = true;
		inv->days[i].d.day = day;
		inv->days_n++;
	}
	inv->days[i].d.sessions[proto] += n;
	return 0;
}

/* ---- sessions ---- */

static struct session *
session_find(struct inv_file *f, uint64_t id)
{
	size_t i;

	if (f->last != NULL && f->last->id == id)
		return f->last;
	if (f->cap == 0)
		return NULL;
	for (i = (id * 0x9e3779b97f4a7c15ull >> 20) & (f->cap - 1);
	    f->slot[i].used; i = (i + 1) & (f->cap - 1))
		if (f->slot[i].id == id)
			return f->last = &f->slot[i];
	return NULL;
}

static int
session_grow(struct inv_file *f)
{
	size_t ncap = f->cap ? f->cap * 2 : 64, i, j;
	struct session *ns = calloc(ncap, sizeof(*ns));

	if (ns == NULL)
		return -1;
	for (i = 0; i < f->cap; i++) {
		if (!f->slot[i].used)
			continue;
		for (j = (f->slot[i].id * 0x9e3779b97f4a7c15ull >> 20) &
			 (ncap - 1);
		    ns[j].used; j = (j + 1) & (ncap - 1))
			;
		ns[j] = f->slot[i];
	}
	free(f->slot);
	f->slot = ns;
	f->cap = ncap;
	f->last = NULL;
	return 0;
}

/* Removes a session, shifting later entries of its probe run back so that
 * lookups need no tombstones. */
static void
session_delete(struct inv_file *f, struct session *s)
{
	size_t i = (size_t)(s - f->slot), j = i, k, mask = f->cap - 1;

	f->slot[i].used = false;
	for (;;) {
		j = (j + 1) & mask;
		if (!f->slot[j].used)
			break;
		k = (f->slot[j].id * 0x9e3779b97f4a7c15ull >> 20) & mask;
		/* Move j back to i unless its home k lies cyclically in (i, j]. */
		if ((j > i && (k <= i || k > j)) || (j < i && (k <= i && k > j))) {
			f->slot[i] = f->slot[j];
			f->slot[j].used = false;
			i = j;
		}
	}
	f->n--;
	f->last = NULL;
}

static void
span_copy(char *dst, size_t cap, const char *p, size_t len, size_t *outlen)
{
	if (len > cap - 1)
		len = cap - 1;
	memcpy(dst, p, len);
	dst[len] = '\0';
	*outlen = len;
}

/* "192.0.2.1:1234" -> "192.0.2.1", "[2001:db8::1]:993" -> "2001:db8::1". */
static void
addr_split(const struct exlog_span *a, const char **host, size_t *hl,
    uint16_t *port)
{
	const char *p = a->p, *c;
	size_t n = a->len;
	unsigned v = 0;

	*port = 0;
	if (n > 0 && p[0] == '[') {
		c = memchr(p, ']', n);
		if (c == NULL) {
			*host = p;
			*hl = n;
			return;
		}
		*host = p + 1;
		*hl = (size_t)(c - p - 1);
		c++;
	} else {
		c = NULL;
		for (size_t i = n; i > 0; i--)
			if (p[i - 1] == ':') {
				c = p + i - 1;
				break;
			}
		/* A bare IPv6 address has several colons and no port. */
		if (c != NULL && memchr(p, ':', (size_t)(c - p)) != NULL)
			c = NULL;
		*host = p;
		*hl = c != NULL ? (size_t)(c - p) : n;
	}
	if (c == NULL || c >= p + n || *c != ':')
		return;
	for (c++; c < p + n && *c >= '0' && *c <= '9'; c++)
		v = v * 10 + (unsigned)(*c - '0');
	if (c == p + n && v <= 65535)
		*port = (uint16_t)v;
}

static struct session *
session_new(struct inv_file *f, uint64_t id, const struct exlog_row *row)
{
	struct session *s;
	const char *host;
	size_t i, hl, n;
	uint16_t sport;

	if ((f->n + 1) * 2 > f->cap && session_grow(f) < 0) {
		f->inv->nomem = true;
		return NULL;
	}
	for (i = (id * 0x9e3779b97f4a7c15ull >> 20) & (f->cap - 1);
	    f->slot[i].used; i = (i + 1) & (f->cap - 1))
		;
	s = &f->slot[i];
	memset(s, 0, offsetof(struct session, cip));
	s->used = true;
	s->id = id;
	s->first_ms = INT64_MAX;
	s->last_ms = INT64_MIN;
	s->last_seq = -1;
	addr_split(&row->f[EXLOG_CIP], &host, &hl, &sport);
	span_copy(s->cip, sizeof(s->cip), host, hl, &n);
	s->ciplen = (uint8_t)n;
	addr_split(&row->f[EXLOG_SIP], &host, &hl, &s->port);
	/* Exchange's implicit-TLS ports: 993/995 on the front end, 1993/1995
	 * on the back end.  postern says so itself in its Tls key. */
	switch (s->port) {
	case 993:
	case 995:
	case 1993:
	case 1995:
		s->tls = INV_TLS_IMPLICIT;
		break;
	}
	s->user[0] = s->soft[0] = '\0';
	f->n++;
	return f->last = s;
}

static unsigned
port_proto(uint16_t port)
{
	switch (port) {
	case 110:
	case 995:
	case 1110:
	case 1995:
		return INV_POP3;
	case 143:
	case 993:
	case 1143:
	case 1993:
		return INV_IMAP4;
	}
	return 0;
}

static unsigned
session_proto(const struct inv_file *f, const struct session *s,
    enum exlog_logtype lt)
{
	unsigned p;

	if (f->nameproto == EXLOG_PROTO_POP3)
		return INV_POP3;
	if (f->nameproto == EXLOG_PROTO_IMAP4)
		return INV_IMAP4;
	if (lt == EXLOG_TYPE_POP3)
		return INV_POP3;
	if (lt == EXLOG_TYPE_IMAP4)
		return INV_IMAP4;
	if (s->proto_hint != 0)
		return s->proto_hint;
	if ((p = port_proto(s->port)) != 0)
		return p;
	return 0;
}

static void
rec_add_session(struct inventory *inv, struct rec *r, const struct session *s,
    unsigned proto, size_t server)
{
	struct inv_record *p = &r->pub;

	p->protocols |= proto;
	inv_rec_add_port(p, s->port);
	p->sessions++;
	p->logins_ok += s->logins_ok;
	p->logins_failed += s->logins_failed;
	p->cleartext_ok += s->cleartext_ok;
	p->cleartext_failed += s->cleartext_failed;
	p->implicit_ok += s->implicit_ok;
	p->starttls_ok += s->starttls_ok;
	if (proto == INV_POP3) {
		if (s->dele)
			p->pop3_dele_sessions++;
		else if (s->logins_ok > 0)
			p->pop3_leave_sessions++;
	}
	if (s->first_ms < p->first_ms)
		p->first_ms = s->first_ms;
	if (s->last_ms > p->last_ms)
		p->last_ms = s->last_ms;
	if (server < inv->opt.nservers)
		p->servers[server / 64] |= (uint64_t)1 << (server % 64);
}

bool
inventory_user_match(const char *pattern, const char *user, size_t len)
{
	return wildmatch(pattern, user, len);
}

/* Whether the session's user is one the report leaves out. */
static bool
session_excluded(const struct inventory *inv, const struct session *s)
{
	if (s->userlen == 0)
		return false;
	for (size_t i = 0; i < inv->opt.nexclude_users; i++)
		if (inventory_user_match(
		        inv->opt.exclude_users[i], s->user, s->userlen))
			return true;
	return false;
}

/* Adds a finished session to every table. */
static void
session_end(struct inv_file *f, struct session *s, enum exlog_logtype lt)
{
	struct inventory *inv = f->inv;
	static const char none[] = "(none)";
	unsigned proto = session_proto(f, s, lt);
	const char *soft = s->softlen > 0 ? s->soft : none;
	size_t softlen = s->softlen > 0 ? s->softlen : sizeof(none) - 1;
	struct rec *r;
	int pi;

	if (s->first_ms == INT64_MAX)
		return;
	/* A session whose protocol nothing tells is kept only when every
	 * protocol is wanted. */
	if (proto == 0 ? inv->opt.protocols != (INV_POP3 | INV_IMAP4) :
			 (proto & inv->opt.protocols) == 0)
		return;
	if (session_excluded(inv, s)) {
		inv->sum.sessions_excluded++;
		return;
	}
	inv->sum.sessions++;
	if (proto != 0) {
		pi = proto == INV_POP3 ? INV_PROTO_POP3 : INV_PROTO_IMAP4;
		inv->sum.proto[pi].sessions++;
		inv->sum.proto[pi].logins_ok += s->logins_ok;
		inv->sum.proto[pi].logins_failed += s->logins_failed;
		inv->sum.proto[pi].cleartext_ok += s->cleartext_ok;
		if (inv_day_add(inv, s->first_ms >= 0 ? s->first_ms / DAY_MS :
						    (s->first_ms + 1) / DAY_MS - 1,
			pi, 1) < 0)
			inv->nomem = true;
	}
	/* The software is part of the key only when the report is by
	 * software: otherwise it would split records for nothing. */
	if (inv->opt.by != INV_BY_SOFTWARE) {
		soft = NULL;
		softlen = 0;
	}
	if ((r = inv_table_get3(inv, &inv->t[T_BASE], s->cip, s->ciplen, s->user,
		 s->userlen, true, soft, softlen, true)) != NULL)
		rec_add_session(inv, r, s, proto, f->server);
}

/* The record key of a finished session, as session_end() builds it. */
static uint64_t
session_key_hash(const struct inventory *inv, const struct session *s)
{
	static const char none[] = "(none)";
	const char *k3 = NULL;
	size_t k3l = 0, flen;
	char fk[FKEY_MAX];

	if (inv->opt.by == INV_BY_SOFTWARE) {
		k3 = s->softlen > 0 ? s->soft : none;
		k3l = s->softlen > 0 ? s->softlen : sizeof(none) - 1;
	}
	flen = inv_fold_key(fk, s->cip, s->ciplen, s->user, s->userlen, k3, k3l);
	return inv_hash_bytes(fk, flen);
}

/*
 * Ends a session some sessions later.  Adding a session to its record
 * starts with two cache misses (the table slot, then the record): with
 * 90,000 records they were a fifth of the run time on large log sets.
 * So a finished session is copied into a ring, its slot is fetched now,
 * its record when it is half way through the ring, and it is added when
 * it leaves the ring, by then without waiting.  The order sessions are
 * added in changes nothing: every sum, minimum and sample is order-free.
 */
static void
session_defer(struct inv_file *f, const struct session *s,
    enum exlog_logtype lt)
{
	struct inventory *inv = f->inv;
	const struct table *t = &inv->t[T_BASE];
	unsigned i = f->pipe_next, half = (i + INV_PIPE / 2) % INV_PIPE;
	struct session *d = &f->pipe[i];

	if (f->pipe_n == INV_PIPE)
		session_end(f, d, f->pipe_lt[i]);
	else
		f->pipe_n++;
	/* The strings are copied only as long as they are. */
	memcpy(d, s, offsetof(struct session, cip));
	memcpy(d->cip, s->cip, (size_t)s->ciplen + 1);
	memcpy(d->user, s->user, (size_t)s->userlen + 1);
	memcpy(d->soft, s->soft, (size_t)s->softlen + 1);
	f->pipe_lt[i] = lt;
	f->pipe_next = (i + 1) % INV_PIPE;
	f->pipe_hash[i] = session_key_hash(inv, d);
	inv_table_prefetch(t, f->pipe_hash[i], false);
	if (f->pipe_n > INV_PIPE / 2)
		inv_table_prefetch(t, f->pipe_hash[half], true);
}

/* Adds what waits in the ring, oldest first. */
static void
session_drain(struct inv_file *f)
{
	unsigned i = (f->pipe_next + INV_PIPE - f->pipe_n) % INV_PIPE;

	for (; f->pipe_n > 0; f->pipe_n--, i = (i + 1) % INV_PIPE)
		session_end(f, &f->pipe[i], f->pipe_lt[i]);
}

/* ---- rows ---- */

struct inv_file *
inv_file_begin(struct inventory *inv, const char *path, size_t server,
    enum exlog_proto proto)
{
	struct inv_file *f = calloc(1, sizeof(*f));

	if (f == NULL || inv_file_add(inv, path, server) == NULL) {
		free(f);
		inv->nomem = true;
		return NULL;
	}
	f->inv = inv;
	f->index = inv->files_n - 1;
	f->server = server;
	f->nameproto = proto;
	inv->sum.files++;
	return f;
}

void
inv_file_bytes(struct inv_file *f, uint64_t bytes)
{
	f->inv->sum.bytes += bytes;
}

void
inv_file_bad(struct inv_file *f, uint64_t line, enum exlog_bad why)
{
	struct inventory *inv = f->inv;

	inv->files[f->index].bad++;
	inv->sum.rows_bad++;
	if (inv->bad_n < INV_BAD_KEEP) {
		inv->bad[inv->bad_n].file = f->index;
		inv->bad[inv->bad_n].line = line;
		inv->bad[inv->bad_n].why = why;
		inv->bad_n++;
	}
}

static inline unsigned
d2(const char *p)
{
	return (unsigned)(p[0] - '0') * 10 + (unsigned)(p[1] - '0');
}

static inline bool
isdig(char c)
{
	return (unsigned char)(c - '0') <= 9;
}

/* dateTime, fast when the date is the one of the previous row. */
static int
row_time(struct inv_file *f, const struct exlog_span *sp, int64_t *ms)
{
	const char *p = sp->p;

	if (sp->len == 24 && f->date_ok && memcmp(p, f->date, 10) == 0 &&
	    p[10] == 'T' && p[13] == ':' && p[16] == ':' && p[19] == '.' &&
	    p[23] == 'Z' && isdig(p[11]) && isdig(p[12]) && isdig(p[14]) &&
	    isdig(p[15]) && isdig(p[17]) && isdig(p[18]) && isdig(p[20]) &&
	    isdig(p[21]) && isdig(p[22])) {
		unsigned h = d2(p + 11), mi = d2(p + 14), s = d2(p + 17);

		if (h > 23 || mi > 59 || s > 60)
			return -1;
		*ms = f->date_ms + ((int64_t)h * 3600 + mi * 60 + s) * 1000 +
		    d2(p + 20) * 10 + (p[22] - '0');
		return 0;
	}
	if (exlog_time(p, sp->len, ms) < 0)
		return -1;
	memcpy(f->date, p, 10);
	f->date_ms = *ms - (((*ms % DAY_MS) + DAY_MS) % DAY_MS);
	f->date_ok = true;
	return 0;
}

#if defined(__SSE2__) && defined(__GNUC__)
/*
 * Exchange's 16 hex digits, without a branch per digit (random digits
 * made the loop below mispredict about every third one).  Each byte's
 * value is its low nibble, plus 9 for a letter; the nibbles are then
 * packed pairwise, most significant first.  False when a byte is no hex
 * digit.
 */
static bool
hex16(const char *p, uint64_t *out)
{
	const __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
	const __m128i lc = _mm_or_si128(v, _mm_set1_epi8(0x20));
	const __m128i digit = _mm_and_si128(
	    _mm_cmpgt_epi8(v, _mm_set1_epi8('0' - 1)),
	    _mm_cmplt_epi8(v, _mm_set1_epi8('9' + 1)));
	const __m128i letter = _mm_and_si128(
	    _mm_cmpgt_epi8(lc, _mm_set1_epi8('a' - 1)),
	    _mm_cmplt_epi8(lc, _mm_set1_epi8('f' + 1)));
	__m128i nib;
	uint64_t half[2], r = 0;

	if (_mm_movemask_epi8(_mm_or_si128(digit, letter)) != 0xffff)
		return false;
	nib = _mm_add_epi8(_mm_and_si128(v, _mm_set1_epi8(0x0f)),
	    _mm_and_si128(letter, _mm_set1_epi8(9)));
	_mm_storeu_si128((__m128i *)(void *)half, nib);
	for (int i = 0; i < 2; i++) {
		uint64_t x = half[i];

		/* Bytes n0..n7 (n0 first in the text, lowest in x). */
		x = ((x & 0x000f000f000f000full) << 4) |
		    ((x >> 8) & 0x000f000f000f000full);
		x = ((x & 0x000000ff000000ffull) << 8) |
		    ((x >> 16) & 0x000000ff000000ffull);
		x = ((x & 0xffffull) << 16) | ((x >> 32) & 0xffffull);
		r = r << 32 | x;
	}
	*out = r;
	return true;
}
#endif

static uint64_t
session_id(const struct exlog_span *sp)
{
	uint64_t v = 0;
	size_t i;

#if defined(__SSE2__) && defined(__GNUC__)
	if (sp->len == 16 && hex16(sp->p, &v))
		return v;
	v = 0;
#endif
	if (sp->len <= 16) {
		for (i = 0; i < sp->len; i++) {
			unsigned char c = (unsigned char)sp->p[i];
			unsigned d;

			if (c >= '0' && c <= '9')
				d = c - '0';
			else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
				d = (c | 0x20) - 'a' + 10;
			else
				break;
			v = v << 4 | d;
		}
		if (i == sp->len)
			return v;
	}
	/* Not the usual 16 hex digits: hash it (collisions only merge two
	 * odd sessions). */
	return inv_hash_bytes(sp->p, sp->len);
}

/* seqNumber, or -1 when it is not a number. */
static int64_t
row_seq(const struct exlog_span *sp)
{
	int64_t v = 0;

	if (sp->len == 0 || sp->len > 9)
		return -1;
	for (size_t i = 0; i < sp->len; i++) {
		if (!isdig(sp->p[i]))
			return -1;
		v = v * 10 + (sp->p[i] - '0');
	}
	return v;
}

static bool
span_is(const struct exlog_span *sp, const char *s, size_t n)
{
	return sp->len == n && strncasecmp(sp->p, s, n) == 0;
}

/* Case-insensitive, for values inside the context field. */
#define SPAN_IS(sp, lit) span_is((sp), lit, sizeof(lit) - 1)

/* Exact, for the command column: the spec has verbs in lower case, and
 * this runs on every row. */
#define CMD_IS(sp, lit)                                                        \
	((sp)->len == sizeof(lit) - 1 && memcmp((sp)->p, lit, sizeof(lit) - 1) == 0)

static bool
has_prefix_ci(const char *p, size_t len, const char *s)
{
	size_t n = strlen(s);

	return len >= n && strncasecmp(p, s, n) == 0;
}

/* 1 when the row says its command succeeded, 0 failed, -1 unknown. */
static int
row_outcome(const struct exlog_span *ctx)
{
	struct exlog_span v;
	const char *sp;

	if (exlog_context_get(ctx->p, ctx->len, "R", &v)) {
		if (SPAN_IS(&v, "ok") || has_prefix_ci(v.p, v.len, "+OK"))
			return 1;
		if (SPAN_IS(&v, "no") || SPAN_IS(&v, "bad") ||
		    SPAN_IS(&v, "err") || has_prefix_ci(v.p, v.len, "-ERR"))
			return 0;
		/* A full IMAP answer: "<tag> OK ...". */
		if ((sp = memchr(v.p, ' ', v.len)) != NULL) {
			size_t rest = v.len - (size_t)(sp + 1 - v.p);

			if (has_prefix_ci(sp + 1, rest, "OK"))
				return 1;
			if (has_prefix_ci(sp + 1, rest, "NO") ||
			    has_prefix_ci(sp + 1, rest, "BAD"))
				return 0;
		}
	}
	if (ctx->len >= 12 && memmem(ctx->p, ctx->len, "ProxySuccess", 12) != NULL)
		return 1;
	if (exlog_context_get(ctx->p, ctx->len, "ErrMsg", &v))
		return 0;
	return -1;
}

/* postern's own key: Tls=none|starttls|implicit, maybe ":<version>". */
static int
row_tls(const struct exlog_span *ctx)
{
	struct exlog_span v;

	if (!exlog_context_get(ctx->p, ctx->len, "Tls", &v))
		return -1;
	if (has_prefix_ci(v.p, v.len, "none") || has_prefix_ci(v.p, v.len, "no"))
		return INV_TLS_NONE;
	if (has_prefix_ci(v.p, v.len, "implicit"))
		return INV_TLS_IMPLICIT;
	if (has_prefix_ci(v.p, v.len, "starttls") ||
	    has_prefix_ci(v.p, v.len, "stls"))
		return INV_TLS_STARTTLS;
	return -1;
}

static void
session_set_user(struct session *s, const char *p, size_t len)
{
	size_t n;

	span_copy(s->user, sizeof(s->user), p, len, &n);
	s->userlen = (uint16_t)n;
}

/* IMAP LOGIN's first argument, for rows whose user column is empty. */
static void
login_user(struct session *s, const struct exlog_span *params)
{
	const char *p = params->p, *e = p + params->len, *q;

	if (p < e && *p == '"') {
		p++;
		q = memchr(p, '"', (size_t)(e - p));
	} else
		q = memchr(p, ' ', (size_t)(e - p));
	if (q == NULL)
		q = e;
	if (q > p)
		session_set_user(s, p, (size_t)(q - p));
}

/* One token of an IMAP ID list: a quoted string, NIL or an atom. */
static const char *
id_token(const char *p, const char *e, const char **tp, size_t *tl)
{
	while (p < e && (*p == ' ' || *p == '(' || *p == ')'))
		p++;
	if (p >= e)
		return NULL;
	if (*p == '"') {
		const char *q = ++p;

		while (q < e && *q != '"')
			q += *q == '\\' && q + 1 < e ? 2 : 1;
		*tp = p;
		*tl = (size_t)((q < e ? q : e) - p);
		return q < e ? q + 1 : e;
	}
	*tp = p;
	while (p < e && *p != ' ' && *p != '(' && *p != ')')
		p++;
	*tl = (size_t)(p - *tp);
	return p;
}

/*
 * The software a session announced: name and version (at most 64 and 48
 * bytes of them), control characters shown as '?'.
 */
static void
session_set_software(struct session *s, const char *name, size_t nl,
    const char *ver, size_t verl)
{
	size_t n = nl > 64 ? 64 : nl;

	memcpy(s->soft, name, n);
	if (verl > 0) {
		if (verl > 48)
			verl = 48;
		s->soft[n++] = ' ';
		memcpy(s->soft + n, ver, verl);
		n += verl;
	}
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s->soft[i] < 0x20 || s->soft[i] == 0x7f)
			s->soft[i] = '?';
	s->soft[n] = '\0';
	s->softlen = (uint8_t)n;
}

/*
 * An ID string's value with RFC 3501's quoted-string escapes undone.  Only
 * a backslash before a quote or a backslash is IMAP's (section 9,
 * quoted-specials); any other is the log's own \xNN for a byte and stays.
 */
static size_t
id_unquote(const char *p, size_t len, char *out, size_t cap)
{
	size_t i, o = 0;

	for (i = 0; i < len && o + 1 < cap; i++) {
		if (p[i] == '\\' && i + 1 < len &&
		    (p[i + 1] == '"' || p[i + 1] == '\\'))
			i++;
		out[o++] = p[i];
	}
	out[o] = '\0';
	return o;
}

/* The client's software from the parameters of an IMAP ID command
 * (RFC 2971): ("name" "Thunderbird" "version" "115.3.1"). */
static void
id_software(struct session *s, const struct exlog_span *params)
{
	const char *p = params->p, *e = p + params->len, *k, *v;
	const char *name = NULL, *ver = NULL;
	size_t kl, vl, nl = 0, verl = 0;
	char nbuf[128], vbuf[128];

	while ((p = id_token(p, e, &k, &kl)) != NULL &&
	    (p = id_token(p, e, &v, &vl)) != NULL) {
		if (kl == 4 && strncasecmp(k, "name", 4) == 0) {
			name = v;
			nl = vl;
		} else if (kl == 7 && strncasecmp(k, "version", 7) == 0) {
			ver = v;
			verl = vl;
		}
	}
	if (name == NULL || nl == 0 || (nl == 3 && strncasecmp(name, "NIL", 3) == 0))
		return;
	if (ver != NULL && verl == 3 && strncasecmp(ver, "NIL", 3) == 0)
		ver = NULL;
	nl = id_unquote(name, nl, nbuf, sizeof(nbuf));
	verl = ver != NULL ? id_unquote(ver, verl, vbuf, sizeof(vbuf)) : 0;
	session_set_software(s, nbuf, nl, vbuf, verl);
}

/* postern's ClientName and ClientVersion keys, from IMAP ID. */
static void
ctx_software(struct session *s, const struct exlog_span *ctx)
{
	struct exlog_span name, ver;
	char nbuf[128], vbuf[128];
	size_t nl, verl = 0;

	if (!exlog_context_get(ctx->p, ctx->len, "ClientName", &name) ||
	    name.len == 0)
		return;
	nl = exlog_context_value(&name, nbuf, sizeof(nbuf));
	if (exlog_context_get(ctx->p, ctx->len, "ClientVersion", &ver))
		verl = exlog_context_value(&ver, vbuf, sizeof(vbuf));
	session_set_software(s, nbuf, nl, vbuf, verl);
}

static void
session_login(struct session *s, const struct exlog_row *row)
{
	const struct exlog_span *ctx = &row->f[EXLOG_CONTEXT];
	int ok = row_outcome(ctx), tls = row_tls(ctx);

	if (s->softlen == 0)
		ctx_software(s, ctx);

	if (tls < 0)
		tls = s->tls;
	if (ok == 1) {
		s->logins_ok++;
		if (tls == INV_TLS_NONE)
			s->cleartext_ok++;
		else if (tls == INV_TLS_IMPLICIT)
			s->implicit_ok++;
		else
			s->starttls_ok++;
	} else if (ok == 0) {
		s->logins_failed++;
		if (tls == INV_TLS_NONE)
			s->cleartext_failed++;
	}
}

static bool
params_blank(const struct exlog_span *sp)
{
	for (size_t i = 0; i < sp->len; i++)
		if (sp->p[i] != ' ')
			return false;
	return true;
}

void
inv_file_row(struct inv_file *f, const struct exlog_row *row,
    enum exlog_logtype lt)
{
	struct inventory *inv = f->inv;
	const struct exlog_span *cmd = &row->f[EXLOG_COMMAND];
	const struct exlog_span *user = &row->f[EXLOG_USER];
	struct session *s;
	uint64_t id;
	int64_t ts, seq;
	bool open = false, close = false;

	if (row_time(f, &row->f[EXLOG_DATETIME], &ts) < 0) {
		inv_file_bad(f, row->line, EXLOG_BAD_TIME);
		return;
	}
	if (ts < inv->opt.since_ms || ts >= inv->opt.until_ms) {
		inv->sum.rows_filtered++;
		return;
	}
	inv->sum.rows++;
	inv->files[f->index].rows++;
	if (ts < inv->sum.first_ms)
		inv->sum.first_ms = ts;
	if (ts > inv->sum.last_ms)
		inv->sum.last_ms = ts;
	id = session_id(&row->f[EXLOG_SESSIONID]);
	if (cmd->len == 11 && memcmp(cmd->p, "OpenSession", 11) == 0)
		open = true;
	else if (cmd->len == 12 && memcmp(cmd->p, "CloseSession", 12) == 0)
		close = true;
	s = session_find(f, id);
	seq = row_seq(&row->f[EXLOG_SEQNUMBER]);
	/* A row number the session has had already is the same row again
	 * (files joined twice, copies of rows): count it, do not add it.
	 * An OpenSession for a session past its first row is a restart. */
	if (s != NULL && seq >= 0 && seq <= s->last_seq &&
	    !(open && s->last_seq > 0)) {
		inv->sum.rows_repeated++;
		inv->files[f->index].repeated++;
		return;
	}
	if (s != NULL && open) {
		/* The id came round again (a restart): the old one is over. */
		session_defer(f, s, lt);
		session_delete(f, s);
		s = NULL;
	}
	if (s == NULL && (s = session_new(f, id, row)) == NULL)
		return;
	if (seq > s->last_seq)
		s->last_seq = seq;
	if (ts < s->first_ms)
		s->first_ms = ts;
	if (ts > s->last_ms)
		s->last_ms = ts;
	if (s->userlen == 0 && user->len > 0)
		session_set_user(s, user->p, user->len);
	if (open) {
		int tls = row_tls(&row->f[EXLOG_CONTEXT]);

		if (tls >= 0)
			s->tls = (uint8_t)tls;
		return;
	}
	if (close) {
		session_defer(f, s, lt);
		session_delete(f, s);
		return;
	}
	switch (cmd->len) {
	case 2:
		if (CMD_IS(cmd, "id")) {
			s->proto_hint = INV_IMAP4;
			id_software(s, &row->f[EXLOG_PARAMETERS]);
			if (s->softlen == 0)
				ctx_software(s, &row->f[EXLOG_CONTEXT]);
		}
		break;
	case 4:
		if (CMD_IS(cmd, "dele")) {
			s->proto_hint = INV_POP3;
			s->dele = true;
		} else if (CMD_IS(cmd, "pass") || CMD_IS(cmd, "apop") ||
		    (CMD_IS(cmd, "auth") &&
			!params_blank(&row->f[EXLOG_PARAMETERS]))) {
			s->proto_hint = INV_POP3;
			if (user->len > 0)
				session_set_user(s, user->p, user->len);
			session_login(s, row);
		} else if (CMD_IS(cmd, "stls")) {
			s->proto_hint = INV_POP3;
			if (row_outcome(&row->f[EXLOG_CONTEXT]) != 0)
				s->tls = INV_TLS_STARTTLS;
		} else if (CMD_IS(cmd, "user") || CMD_IS(cmd, "retr") ||
		    CMD_IS(cmd, "capa") || CMD_IS(cmd, "uidl") ||
		    CMD_IS(cmd, "stat") || CMD_IS(cmd, "quit"))
			s->proto_hint = INV_POP3;
		break;
	case 5:
		if (CMD_IS(cmd, "login")) {
			s->proto_hint = INV_IMAP4;
			if (user->len > 0)
				session_set_user(s, user->p, user->len);
			else
				login_user(s, &row->f[EXLOG_PARAMETERS]);
			session_login(s, row);
		} else if (CMD_IS(cmd, "fetch"))
			s->proto_hint = INV_IMAP4;
		break;
	case 8:
		if (CMD_IS(cmd, "starttls")) {
			s->proto_hint = INV_IMAP4;
			if (row_outcome(&row->f[EXLOG_CONTEXT]) != 0)
				s->tls = INV_TLS_STARTTLS;
		}
		break;
	case 12:
		if (CMD_IS(cmd, "authenticate")) {
			s->proto_hint = INV_IMAP4;
			if (user->len > 0)
				session_set_user(s, user->p, user->len);
			session_login(s, row);
		}
		break;
	default:
		if (s->proto_hint == 0 &&
		    (CMD_IS(cmd, "capability") || CMD_IS(cmd, "select") ||
			CMD_IS(cmd, "logout") ||
			(cmd->len > 4 && memcmp(cmd->p, "uid+", 4) == 0)))
			s->proto_hint = INV_IMAP4;
		break;
	}
}

int
inv_file_end(struct inv_file *f)
{
	struct inventory *inv = f->inv;
	size_t i;

	session_drain(f);
	for (i = 0; i < f->cap; i++)
		if (f->slot[i].used)
			session_end(f, &f->slot[i], EXLOG_TYPE_UNKNOWN);
	free(f->slot);
	free(f);
	return inv->nomem ? -1 : 0;
}

/* ---- merging and finishing ---- */

int
inventory_merge(struct inventory *dst, const struct inventory *src)
{
	size_t i, off = dst->files_n;
	int t, p;

	/* Only the base table: the others are derived from it at the end.
	 * A record's hash is the same in both: the slot it will find in
	 * dst, then the record there, are fetched a few records ahead. */
	for (t = T_BASE; t <= T_BASE; t++) {
		const struct table *st = &src->t[t];

		for (i = 0; i < st->cap; i++) {
			const struct rec *r = st->slot[i].r;
			struct rec *d;

			if (i + 2 * DERIVE_AHEAD < st->cap &&
			    st->slot[i + 2 * DERIVE_AHEAD].r != NULL)
				inv_table_prefetch(&dst->t[t],
				    st->slot[i + 2 * DERIVE_AHEAD].hash, false);
			if (i + DERIVE_AHEAD < st->cap &&
			    st->slot[i + DERIVE_AHEAD].r != NULL)
				inv_table_prefetch(&dst->t[t],
				    st->slot[i + DERIVE_AHEAD].hash, true);
			if (r == NULL)
				continue;
			/* Same folded key, same hash: no need to make them. */
			d = table_find(&dst->t[t], r->pub.hash, r->fkey, r->flen);
			if (d == NULL)
				d = inv_table_get3(dst, &dst->t[t], r->pub.key,
				    r->keylen, r->pub.key2, r->key2len,
				    r->pub.key2 != NULL, r->key3, r->key3len, true);
			if (d == NULL)
				return -1;
			rec_merge(dst, &d->pub, &r->pub);
		}
	}
	for (i = 0; i < src->days_cap; i++)
		for (p = 0; p < INV_NPROTO && src->days[i].used; p++)
			if (inv_day_add(dst, src->days[i].d.day, p,
				src->days[i].d.sessions[p]) < 0)
				return -1;
	for (i = 0; i < src->files_n; i++) {
		const struct inv_file_info *sf = &src->files[i];
		struct inv_file_info *df = inv_file_add(dst, sf->path, sf->server);

		if (df == NULL)
			return -1;
		df->rows = sf->rows;
		df->bad = sf->bad;
		df->repeated = sf->repeated;
		df->skipped = sf->skipped;
		df->failed = sf->failed;
	}
	for (i = 0; i < src->bad_n && dst->bad_n < INV_BAD_KEEP; i++) {
		dst->bad[dst->bad_n] = src->bad[i];
		dst->bad[dst->bad_n].file += off;
		dst->bad_n++;
	}
	dst->sum.files += src->sum.files;
	dst->sum.files_skipped += src->sum.files_skipped;
	dst->sum.files_failed += src->sum.files_failed;
	dst->sum.bytes += src->sum.bytes;
	dst->sum.rows += src->sum.rows;
	dst->sum.rows_bad += src->sum.rows_bad;
	dst->sum.rows_filtered += src->sum.rows_filtered;
	dst->sum.rows_repeated += src->sum.rows_repeated;
	dst->sum.sessions_excluded += src->sum.sessions_excluded;
	dst->sum.sessions += src->sum.sessions;
	if (src->sum.first_ms < dst->sum.first_ms)
		dst->sum.first_ms = src->sum.first_ms;
	if (src->sum.last_ms > dst->sum.last_ms)
		dst->sum.last_ms = src->sum.last_ms;
	for (p = 0; p < INV_NPROTO; p++) {
		dst->sum.proto[p].sessions += src->sum.proto[p].sessions;
		dst->sum.proto[p].logins_ok += src->sum.proto[p].logins_ok;
		dst->sum.proto[p].logins_failed += src->sum.proto[p].logins_failed;
		dst->sum.proto[p].cleartext_ok += src->sum.proto[p].cleartext_ok;
	}
	return dst->nomem ? -1 : 0;
}

bool
inv_record_would_break(const struct inv_record *r)
{
	return r->cleartext_ok > 0;
}

static int
rec_cmp(const void *a, const void *b)
{
	const struct inv_record *x = *(const struct inv_record *const *)a;
	const struct inv_record *y = *(const struct inv_record *const *)b;
	int c;

	if (x->cleartext_ok != y->cleartext_ok)
		return x->cleartext_ok > y->cleartext_ok ? -1 : 1;
	if (x->sessions != y->sessions)
		return x->sessions > y->sessions ? -1 : 1;
	if ((c = strcmp(x->key, y->key)) != 0)
		return c;
	if (x->key2 != NULL && y->key2 != NULL)
		return strcmp(x->key2, y->key2);
	return 0;
}

static int
day_cmp(const void *a, const void *b)
{
	const struct inv_day *x = a, *y = b;

	return x->day < y->day ? -1 : x->day > y->day;
}

/* Counts, for each record of table `to`, the distinct partners found in
 * the pair table (keyed by that record's key first), and keeps a few of
 * their names. */
static void
relate(struct inventory *inv, int pairs, int to)
{
	const struct table *pt = &inv->t[pairs];

	for (size_t i = 0; i < pt->cap; i++) {
		const struct rec *p = pt->slot[i].r;
		struct rec *r;

		if (p == NULL || p->keylen == 0 || p->key2len == 0)
			continue;
		r = table_get(inv, &inv->t[to], p->pub.key, p->keylen, NULL, 0,
		    false, false);
		if (r == NULL)
			continue;
		r->pub.nrelated++;
		rec_add_sample(&r->pub, p->pub.key2);
	}
}

/* Adds base record b into the record of key (k, k2) of table t. */
static struct rec *
derive(struct inventory *inv, int t, const struct rec *b, const char *k,
    size_t kl, const char *k2, size_t k2l)
{
	struct rec *r = table_get(inv, &inv->t[t], k, kl, k2, k2l, k2 != NULL, true);

	if (r != NULL)
		rec_merge(inv, &r->pub, &b->pub);
	return r;
}

/* The hash of a one-part key, as table_get() computes it. */
static uint64_t
key_hash(const char *k, size_t kl)
{
	char fk[FKEY_MAX];

	return inv_hash_bytes(fk, inv_fold_key(fk, k, kl, NULL, 0, NULL, 0));
}

/*
 * Adds every base record into the client and user views, and (by
 * software) the software views.  Without software in the key a base
 * record is one client and user pair, so the base table is the pairs'
 * view itself, and the users seen from a client (or the clients of a
 * user) are counted here from it.  The lookups are random over tables
 * larger than the cache: the slot and then the record of each are
 * fetched while earlier base records are added.
 */
static int
derive_all(struct inventory *inv)
{
	const struct table *bt = &inv->t[T_BASE];
	bool soft = inv->opt.by == INV_BY_SOFTWARE;
	const struct rec **list;
	uint64_t *hc, *hu;
	size_t i, n = 0;
	int rc = -1;

	if (bt->n == 0)
		return 0;
	list = malloc(bt->n * sizeof(*list));
	hc = malloc(bt->n * sizeof(*hc));
	hu = malloc(bt->n * sizeof(*hu));
	if (list == NULL || hc == NULL || hu == NULL)
		goto out;
	for (i = 0; i < bt->cap; i++)
		if (bt->slot[i].r != NULL)
			list[n++] = bt->slot[i].r;
	for (i = 0; i < n; i++) {
		const struct rec *b = list[i];
		struct rec *c, *u;
		size_t a = i + DERIVE_AHEAD, h = i + DERIVE_AHEAD / 2;

		if (a < n) {
			hc[a] = key_hash(list[a]->pub.key, list[a]->keylen);
			hu[a] = key_hash(list[a]->pub.key2, list[a]->key2len);
			inv_table_prefetch(&inv->t[T_CLIENT], hc[a], false);
			inv_table_prefetch(&inv->t[T_USER], hu[a], false);
		}
		if (h < n && h >= DERIVE_AHEAD) {
			inv_table_prefetch(&inv->t[T_CLIENT], hc[h], true);
			inv_table_prefetch(&inv->t[T_USER], hu[h], true);
		}
		if ((c = derive(inv, T_CLIENT, b, b->pub.key, b->keylen, NULL,
			 0)) == NULL ||
		    (u = derive(inv, T_USER, b, b->pub.key2, b->key2len, NULL,
			 0)) == NULL)
			goto out;
		if (soft) {
			if (derive(inv, T_PAIR, b, b->pub.key, b->keylen,
				b->pub.key2, b->key2len) == NULL ||
			    derive(inv, T_SOFT, b, b->key3, b->key3len, NULL,
				0) == NULL ||
			    derive(inv, T_SOFTCLIENT, b, b->key3, b->key3len,
				b->pub.key, b->keylen) == NULL)
				goto out;
			continue;
		}
		if (b->keylen == 0 || b->key2len == 0)
			continue;
		if (inv->opt.by == INV_BY_CLIENT) {
			c->pub.nrelated++;
			rec_add_sample(&c->pub, b->pub.key2);
		} else if (inv->opt.by == INV_BY_USER) {
			u->pub.nrelated++;
			rec_add_sample(&u->pub, b->pub.key);
		}
	}
	rc = 0;
out:
	free(list);
	free(hc);
	free(hu);
	return rc;
}

struct file_order {
	struct inv_file_info fi;
	size_t old;
};

static int
file_order_cmp(const void *a, const void *b)
{
	const struct file_order *x = a, *y = b;
	int c = strcmp(x->fi.path, y->fi.path);

	if (c != 0)
		return c;
	if (x->fi.server != y->fi.server)
		return x->fi.server < y->fi.server ? -1 : 1;
	return x->old < y->old ? -1 : x->old > y->old;
}

static int
bad_row_cmp(const void *a, const void *b)
{
	const struct inv_bad_row *x = a, *y = b;

	if (x->file != y->file)
		return x->file < y->file ? -1 : 1;
	return x->line < y->line ? -1 : x->line > y->line;
}

/*
 * Files, and the malformed rows that name them, in path order: threads
 * finish files in any order, and two runs over the same logs should
 * print the same report.
 */
static int
files_sort(struct inventory *inv)
{
	struct file_order *o;
	size_t *to, i, n = inv->files_n;

	if (n == 0)
		return 0;
	o = calloc(n, sizeof(*o));
	to = calloc(n, sizeof(*to));
	if (o == NULL || to == NULL) {
		free(o);
		free(to);
		return -1;
	}
	for (i = 0; i < n; i++) {
		o[i].fi = inv->files[i];
		o[i].old = i;
	}
	qsort(o, n, sizeof(*o), file_order_cmp);
	for (i = 0; i < n; i++) {
		inv->files[i] = o[i].fi;
		to[o[i].old] = i;
	}
	for (i = 0; i < inv->bad_n; i++)
		inv->bad[i].file = to[inv->bad[i].file];
	if (inv->bad_n > 0)
		qsort(inv->bad, inv->bad_n, sizeof(*inv->bad), bad_row_cmp);
	free(o);
	free(to);
	return 0;
}

int
inventory_finish(struct inventory *inv)
{
	/* Without software in the key, the base table is the pairs' view. */
	static const int which[] = {[INV_BY_CLIENT] = T_CLIENT,
	    [INV_BY_USER] = T_USER, [INV_BY_CLIENT_USER] = T_BASE,
	    [INV_BY_SOFTWARE] = T_SOFT};
	const struct table *t;
	size_t i, n = 0;
	int p;

	if (files_sort(inv) < 0 || derive_all(inv) < 0)
		return -1;
	if (inv->opt.by == INV_BY_SOFTWARE)
		relate(inv, T_SOFTCLIENT, T_SOFT);
	t = &inv->t[T_CLIENT];
	for (i = 0; i < t->cap; i++) {
		const struct inv_record *r = t->slot[i].r ? &t->slot[i].r->pub : NULL;

		if (r == NULL)
			continue;
		inv->sum.clients++;
		inv->sum.clients_would_break += inv_record_would_break(r);
		for (p = 0; p < INV_NPROTO; p++)
			inv->sum.proto[p].clients += (r->protocols >> p) & 1;
	}
	t = &inv->t[T_USER];
	for (i = 0; i < t->cap; i++) {
		const struct rec *r = t->slot[i].r;

		if (r == NULL || r->keylen == 0)
			continue;
		inv->sum.users++;
		inv->sum.users_would_break += inv_record_would_break(&r->pub);
		for (p = 0; p < INV_NPROTO; p++)
			inv->sum.proto[p].users += (r->pub.protocols >> p) & 1;
	}
	t = &inv->t[which[inv->opt.by]];
	if (t->n > 0 &&
	    (inv->sorted = malloc(t->n * sizeof(*inv->sorted))) == NULL)
		return -1;
	for (i = 0; i < t->cap; i++)
		if (t->slot[i].r != NULL) {
			inv->sorted[n++] = &t->slot[i].r->pub;
			inv->sum.records_would_break +=
			    inv_record_would_break(&t->slot[i].r->pub);
		}
	if (n > 0)
		qsort(inv->sorted, n, sizeof(*inv->sorted), rec_cmp);
	inv->sorted_n = n;
	inv->sum.records = n;
	if (inv->days_n > 0) {
		inv->days_sorted = malloc(inv->days_n * sizeof(*inv->days_sorted));
		if (inv->days_sorted == NULL)
			return -1;
		for (i = 0, n = 0; i < inv->days_cap; i++)
			if (inv->days[i].used)
				inv->days_sorted[n++] = inv->days[i].d;
		qsort(inv->days_sorted, n, sizeof(*inv->days_sorted), day_cmp);
	}
	return inv->nomem ? -1 : 0;
}

const struct inv_summary *
inventory_summary(const struct inventory *inv)
{
	return &inv->sum;
}

size_t
inventory_records(const struct inventory *inv, const struct inv_record *const **out)
{
	*out = inv->sorted;
	return inv->sorted_n;
}

size_t
inventory_days(const struct inventory *inv, const struct inv_day **out)
{
	*out = inv->days_sorted;
	return inv->days_sorted != NULL ? inv->days_n : 0;
}

size_t
inventory_files(const struct inventory *inv, const struct inv_file_info **out)
{
	*out = inv->files;
	return inv->files_n;
}

size_t
inventory_bad_rows(const struct inventory *inv, const struct inv_bad_row **out)
{
	*out = inv->bad;
	return inv->bad_n;
}

const char *
inv_protocols_name(unsigned protocols)
{
	switch (protocols & (INV_POP3 | INV_IMAP4)) {
	case INV_POP3:
		return "pop3";
	case INV_IMAP4:
		return "imap4";
	case INV_POP3 | INV_IMAP4:
		return "pop3+imap4";
	}
	return "-";
}

void
inv_format_day(int64_t day, char *buf, size_t cap)
{
	/* H. Hinnant's civil_from_days. */
	int64_t z = day + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t y = (int64_t)yoe + era * 400;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	unsigned d = doy - (153 * mp + 2) / 5 + 1;
	unsigned m = mp < 10 ? mp + 3 : mp - 9;

	snprintf(buf, cap, "%04lld-%02u-%02u", (long long)(y + (m <= 2)), m, d);
}

void
inv_format_time(int64_t ms, char *buf, size_t cap)
{
	int64_t day = ms >= 0 ? ms / DAY_MS : -((-ms + DAY_MS - 1) / DAY_MS);
	int64_t rest = (ms - day * DAY_MS) / 1000;
	char d[16];

	if (ms == INT64_MAX || ms == INT64_MIN) {
		snprintf(buf, cap, "-");
		return;
	}
	inv_format_day(day, d, sizeof(d));
	snprintf(buf, cap, "%sT%02d:%02d:%02dZ", d, (int)(rest / 3600),
	    (int)(rest / 60 % 60), (int)(rest % 60));
}

int
inventory_parse_when(const char *s, int64_t now_ms, bool end, int64_t *out)
{
	size_t len = strlen(s);
	char *ep;
	unsigned long long v;
	int64_t unit, ms;
	char buf[32];

	if (len >= 2 && s[0] >= '0' && s[0] <= '9' && strchr("smhdw", s[len - 1]) &&
	    strspn(s, "0123456789") == len - 1) {
		v = strtoull(s, &ep, 10);
		switch (s[len - 1]) {
		case 's':
			unit = 1000;
			break;
		case 'm':
			unit = 60 * 1000;
			break;
		case 'h':
			unit = 3600 * 1000;
			break;
		case 'd':
			unit = DAY_MS;
			break;
		default:
			unit = 7 * DAY_MS;
			break;
		}
		if (v > (unsigned long long)(INT64_MAX / 2 / unit))
			return -1;
		*out = now_ms - (int64_t)v * unit;
		return 0;
	}
	if (len == 10) {
		/* A bare date. */
		snprintf(buf, sizeof(buf), "%sT00:00:00Z", s);
		if (exlog_time(buf, strlen(buf), &ms) < 0)
			return -1;
		*out = end ? ms + DAY_MS : ms;
		return 0;
	}
	if (len == 16 || (len == 17 && s[16] == 'Z')) {
		snprintf(buf, sizeof(buf), "%.16s:00Z", s);
	} else if (len == 19 || (len == 20 && s[19] == 'Z')) {
		snprintf(buf, sizeof(buf), "%.19sZ", s);
	} else
		return -1;
	if (buf[10] == ' ')
		buf[10] = 'T';
	if (exlog_time(buf, strlen(buf), out) < 0)
		return -1;
	return 0;
}

int
inventory_parse_by(const char *s, enum inv_by *out)
{
	if (strcmp(s, "client") == 0)
		*out = INV_BY_CLIENT;
	else if (strcmp(s, "user") == 0)
		*out = INV_BY_USER;
	else if (strcmp(s, "client,user") == 0 || strcmp(s, "user,client") == 0)
		*out = INV_BY_CLIENT_USER;
	else if (strcmp(s, "software") == 0)
		*out = INV_BY_SOFTWARE;
	else
		return -1;
	return 0;
}
