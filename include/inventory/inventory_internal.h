/*
 * inventory_internal: what the two halves of the inventory share.
 *
 * inventory.c keeps the records (tables, merging, finishing); invread.c
 * reads rows into sessions and hands each ended session to the records.
 * Both need the inventory's layout and the few record helpers below;
 * nothing outside src/inventory/inventory.c and src/inventory/invread.c
 * includes this header.
 */
#ifndef POSTERN_INVENTORY_INTERNAL_H
#define POSTERN_INVENTORY_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "inventory.h"

#define DAY_MS (24 * 3600 * (int64_t)1000)

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
	const char *key3; /* the software or backend, in the base table only */
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
	T_BASE,   /* client, user and the software or backend when by those */
	T_CLIENT, /* by client address */
	T_USER,   /* by user */
	T_PAIR,   /* by client and user, for INV_BY_SOFTWARE (else T_BASE) */
	T_SOFT,   /* by software, only for INV_BY_SOFTWARE */
	T_SOFTCLIENT, /* software and client pairs, only for INV_BY_SOFTWARE */
	T_BACK,       /* by backend (or mechanism), only by those */
	T_BACKUSER,   /* backend (or mechanism) and user pairs */
	T_BACKCLIENT, /* backend (or mechanism) and client pairs */
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

/* A hash of n bytes at p (splitmix64's mixer); keys need spread only. */
uint64_t inv_hash_bytes(const char *p, size_t n);

/* Writes k NUL k2 NUL k3 case-folded into buf; returns the length. */
size_t inv_fold_key(char *buf, const char *k, size_t kl, const char *k2,
    size_t k2l, const char *k3, size_t k3l);

/* Finds the record of a key in t, creating it when asked; NULL when
 * absent or out of memory. */
struct rec *inv_table_get3(struct inventory *inv, struct table *t,
    const char *k, size_t kl, const char *k2, size_t k2l, bool pair,
    const char *k3, size_t k3l, bool create);

/* Fetches the slot of hash h in t into the cache, or with record the
 * record that has that hash. */
void inv_table_prefetch(const struct table *t, uint64_t h, bool record);

/* Adds a port to a record's ports. */
void inv_rec_add_port(struct inv_record *r, uint16_t port);

/* Adds a file to the inventory's list; NULL when out of memory. */
struct inv_file_info *inv_file_add(struct inventory *inv, const char *path,
    size_t server);

/* Adds n sessions of protocol proto to a day; -1 when out of memory. */
int inv_day_add(struct inventory *inv, int64_t day, int proto, uint64_t n);

#endif
