/*
 * inventory: records from sessions.
 *
 * Sessions come from the reader (invread.c), one lookup in the base table
 * each; the other tables are added up from the base table at the end, and
 * inventories read in parallel are merged before that.
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

#include "inventory_internal.h"

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
uint64_t
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
size_t
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
struct rec *
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
	for (i = h & (t->cap - 1); t->slot[i].r != NULL;
	     i = (i + 1) & (t->cap - 1))
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
void
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

void
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

/* Keeps the INV_SAMPLES smallest names in sample, so that it does not
 * depend on the order files were read in. */
static void
sample_add(const char **sample, const char *name)
{
	int i, n = 0;

	while (n < INV_SAMPLES && sample[n] != NULL)
		n++;
	for (i = 0; i < n; i++) {
		int c = strcmp(name, sample[i]);

		if (c == 0)
			return;
		if (c < 0)
			break;
	}
	if (i == INV_SAMPLES)
		return;
	if (n == INV_SAMPLES)
		n--;
	memmove(sample + i + 1, sample + i, (size_t)(n - i) * sizeof(*sample));
	sample[i] = name;
}

static void
rec_add_sample(struct inv_record *r, const char *name)
{
	sample_add(r->related, name);
}

static void
rec_merge(struct inventory *inv, struct inv_record *d,
    const struct inv_record *s)
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
	d->cleartext_password_ok += s->cleartext_password_ok;
	d->mechanisms |= s->mechanisms;
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
	return nm->end_ms <= inv->opt.since_ms ||
	       nm->start_ms >= inv->opt.until_ms;
}

struct inv_file_info *
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

int
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
			d = table_find(&dst->t[t], r->pub.hash, r->fkey,
			    r->flen);
			if (d == NULL)
				d = inv_table_get3(dst, &dst->t[t], r->pub.key,
				    r->keylen, r->pub.key2, r->key2len,
				    r->pub.key2 != NULL, r->key3, r->key3len,
				    true);
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
		struct inv_file_info *df =
		    inv_file_add(dst, sf->path, sf->server);

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
	dst->sum.sessions_no_backend += src->sum.sessions_no_backend;
	dst->sum.sessions += src->sum.sessions;
	if (src->sum.first_ms < dst->sum.first_ms)
		dst->sum.first_ms = src->sum.first_ms;
	if (src->sum.last_ms > dst->sum.last_ms)
		dst->sum.last_ms = src->sum.last_ms;
	for (p = 0; p < INV_NPROTO; p++) {
		dst->sum.proto[p].sessions += src->sum.proto[p].sessions;
		dst->sum.proto[p].logins_ok += src->sum.proto[p].logins_ok;
		dst->sum.proto[p].logins_failed +=
		    src->sum.proto[p].logins_failed;
		dst->sum.proto[p].cleartext_ok +=
		    src->sum.proto[p].cleartext_ok;
	}
	return dst->nomem ? -1 : 0;
}

bool
inv_mech_plaintextauth_refuses(enum exlog_mech m)
{
	return m != EXLOG_MECH_NTLM && m != EXLOG_MECH_GSSAPI;
}

uint64_t
inv_refused_logins(const struct inv_record *r, enum inv_login_type lt)
{
	switch (lt) {
	case INV_LOGIN_SECURE:
		return r->cleartext_ok;
	case INV_LOGIN_PLAINTEXT_AUTH:
		return r->cleartext_password_ok;
	case INV_LOGIN_PLAINTEXT_LOGIN:
	case INV_LOGIN_TYPES:
		break;
	}
	return 0;
}

bool
inv_would_break(const struct inv_record *r, enum inv_login_type lt)
{
	return inv_refused_logins(r, lt) > 0;
}

bool
inv_record_would_break(const struct inv_record *r)
{
	return inv_would_break(r, INV_LOGIN_SECURE);
}

static const char *const login_type_names[INV_LOGIN_TYPES] = {
    [INV_LOGIN_SECURE] = "SecureLogin",
    [INV_LOGIN_PLAINTEXT_AUTH] = "PlainTextAuthentication",
    [INV_LOGIN_PLAINTEXT_LOGIN] = "PlainTextLogin"};

const char *
inv_login_type_name(enum inv_login_type lt)
{
	return (unsigned)lt < INV_LOGIN_TYPES ? login_type_names[lt] : "?";
}

int
inventory_parse_login_type(const char *s, enum inv_login_type *out)
{
	for (int i = 0; i < INV_LOGIN_TYPES; i++)
		if (strcasecmp(s, login_type_names[i]) == 0) {
			*out = (enum inv_login_type)i;
			return 0;
		}
	return -1;
}

void
inv_mechanisms_text(unsigned set, char *buf, size_t cap, char sep)
{
	size_t n = 0;

	if (cap == 0)
		return;
	buf[0] = '\0';
	for (int m = EXLOG_MECH_NONE + 1; m < EXLOG_MECH_COUNT && n < cap; m++)
		if (set >> m & 1)
			n += (size_t)snprintf(buf + n, cap - n, "%s%s",
			    n > 0 ? (char[]){sep, 0} : "",
			    exlog_mech_name((enum exlog_mech)m));
	if (n == 0)
		snprintf(buf, cap, "-");
}

/* A record to sort, with the logins its login type refuses. */
struct rec_sort {
	uint64_t refused;
	const struct inv_record *r;
};

static int
rec_cmp(const void *a, const void *b)
{
	const struct rec_sort *xs = a, *ys = b;
	const struct inv_record *x = xs->r, *y = ys->r;
	int c;

	if (xs->refused != ys->refused)
		return xs->refused > ys->refused ? -1 : 1;
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
 * their names: in related, or with second in related2. */
static void
relate(struct inventory *inv, int pairs, int to, bool second)
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
		if (second) {
			r->pub.nrelated2++;
			sample_add(r->pub.related2, p->pub.key2);
		} else {
			r->pub.nrelated++;
			rec_add_sample(&r->pub, p->pub.key2);
		}
	}
}

/* Adds base record b into the record of key (k, k2) of table t. */
static struct rec *
derive(struct inventory *inv, int t, const struct rec *b, const char *k,
    size_t kl, const char *k2, size_t k2l)
{
	struct rec *r =
	    table_get(inv, &inv->t[t], k, kl, k2, k2l, k2 != NULL, true);

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
	/* By mechanism uses the backend's tables, with the mechanism for the
	 * backend: a report has one key. */
	bool back = inv->opt.by == INV_BY_BACKEND ||
		    inv->opt.by == INV_BY_BACKEND_USER ||
		    inv->opt.by == INV_BY_MECHANISM;
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
		if (back) {
			struct rec *bu;

			/* A session that reached no backend is in the
			 * summary only. */
			if (b->key3len == 0)
				continue;
			if (derive(inv, T_BACK, b, b->key3, b->key3len, NULL,
				0) == NULL ||
			    (bu = derive(inv, T_BACKUSER, b, b->key3,
				 b->key3len, b->pub.key2, b->key2len)) ==
				NULL ||
			    derive(inv, T_BACKCLIENT, b, b->key3, b->key3len,
				b->pub.key, b->keylen) == NULL)
				goto out;
			/* A base record is one client of the backend and user
			 * pair: their client, user and backend are its key. */
			if (inv->opt.by == INV_BY_BACKEND_USER &&
			    b->keylen > 0) {
				bu->pub.nrelated++;
				rec_add_sample(&bu->pub, b->pub.key);
			}
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
	    [INV_BY_USER] = T_USER,
	    [INV_BY_CLIENT_USER] = T_BASE,
	    [INV_BY_SOFTWARE] = T_SOFT,
	    [INV_BY_BACKEND] = T_BACK,
	    [INV_BY_BACKEND_USER] = T_BACKUSER,
	    [INV_BY_MECHANISM] = T_BACK};
	enum inv_login_type lt = inv->opt.login_type;
	struct rec_sort *sorting = NULL;
	const struct table *t;
	size_t i, n = 0;
	int p;

	if (files_sort(inv) < 0 || derive_all(inv) < 0)
		return -1;
	if (inv->opt.by == INV_BY_SOFTWARE)
		relate(inv, T_SOFTCLIENT, T_SOFT, false);
	if (inv->opt.by == INV_BY_BACKEND || inv->opt.by == INV_BY_MECHANISM) {
		relate(inv, T_BACKUSER, T_BACK, false);
		relate(inv, T_BACKCLIENT, T_BACK, true);
	}
	t = &inv->t[T_CLIENT];
	for (i = 0; i < t->cap; i++) {
		const struct inv_record *r =
		    t->slot[i].r ? &t->slot[i].r->pub : NULL;

		if (r == NULL)
			continue;
		inv->sum.clients++;
		inv->sum.clients_would_break += inv_would_break(r, lt);
		for (p = 0; p < INV_NPROTO; p++)
			inv->sum.proto[p].clients += (r->protocols >> p) & 1;
	}
	t = &inv->t[T_USER];
	for (i = 0; i < t->cap; i++) {
		const struct rec *r = t->slot[i].r;

		if (r == NULL || r->keylen == 0)
			continue;
		inv->sum.users++;
		inv->sum.users_would_break += inv_would_break(&r->pub, lt);
		for (p = 0; p < INV_NPROTO; p++)
			inv->sum.proto[p].users += (r->pub.protocols >> p) & 1;
	}
	t = &inv->t[which[inv->opt.by]];
	if (t->n > 0 &&
	    ((inv->sorted = malloc(t->n * sizeof(*inv->sorted))) == NULL ||
		(sorting = malloc(t->n * sizeof(*sorting))) == NULL))
		return -1;
	for (i = 0; i < t->cap; i++)
		if (t->slot[i].r != NULL) {
			sorting[n].r = &t->slot[i].r->pub;
			sorting[n].refused =
			    inv_refused_logins(&t->slot[i].r->pub, lt);
			inv->sum.records_would_break += sorting[n].refused > 0;
			n++;
		}
	if (n > 0)
		qsort(sorting, n, sizeof(*sorting), rec_cmp);
	for (i = 0; i < n; i++)
		inv->sorted[i] = sorting[i].r;
	free(sorting);
	inv->sorted_n = n;
	inv->sum.records = n;
	if (inv->days_n > 0) {
		inv->days_sorted =
		    malloc(inv->days_n * sizeof(*inv->days_sorted));
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
inventory_records(const struct inventory *inv,
    const struct inv_record *const **out)
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

	if (len >= 2 && s[0] >= '0' && s[0] <= '9' &&
	    strchr("smhdw", s[len - 1]) && strspn(s, "0123456789") == len - 1) {
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
	else if (strcmp(s, "backend") == 0)
		*out = INV_BY_BACKEND;
	else if (strcmp(s, "backend,user") == 0 ||
		 strcmp(s, "user,backend") == 0)
		*out = INV_BY_BACKEND_USER;
	else if (strcmp(s, "mechanism") == 0)
		*out = INV_BY_MECHANISM;
	else
		return -1;
	return 0;
}
