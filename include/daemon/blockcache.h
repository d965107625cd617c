/*
 * blockcache: a worker's few spare blocks of the sizes every session
 * takes and gives back (the session itself, the pre-login IMAP store, the
 * relay's buffers; also IMAP's relay readers, taken and given back around
 * the reads of a session).  Most of those sizes are too large for glibc's
 * per-thread cache: each malloc and free took its slow path, and a freed
 * 64 KiB relay buffer let the arena shrink (madvise) only to grow again
 * for the next session.  A worker's blocks are its own thread's: no lock.
 */
#ifndef POSTERN_BLOCKCACHE_H
#define POSTERN_BLOCKCACHE_H

#include <stddef.h>

/* Whether the cache keeps nothing (AddressSanitizer builds). */
#if defined(__SANITIZE_ADDRESS__)
#define BLOCKCACHE_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define BLOCKCACHE_SANITIZED 1
#endif
#endif
#ifndef BLOCKCACHE_SANITIZED
#define BLOCKCACHE_SANITIZED 0
#endif

/* How many distinct sizes are kept, and how many blocks of each.  The
 * sizes of one protocol's session are five (the session, the pre-login
 * store, the relay's buffer, the pre-login row, IMAP's readers); both
 * protocols together need more. */
#define BLOCKCACHE_SIZES 8
#define BLOCKCACHE_DEPTH 4

struct blockcache {
	struct {
		size_t size; /* 0: a free class */
		unsigned n;
		void *block[BLOCKCACHE_DEPTH];
	} cls[BLOCKCACHE_SIZES];
};

/*
 * Returns a block of size bytes, a kept one when there is one, else from
 * malloc; NULL when out of memory.  Its contents are undefined.  c may be
 * NULL (no cache: plain malloc).
 */
void *blockcache_get(struct blockcache *c, size_t size);

/*
 * Gives back p, a block of size bytes from blockcache_get() or malloc:
 * kept for the next blockcache_get() of that size, or freed when the cache
 * is full.  p and c may be NULL.  A block that held a secret is cleansed
 * by the caller first.
 */
void blockcache_put(struct blockcache *c, void *p, size_t size);

/* Frees every kept block. */
void blockcache_clear(struct blockcache *c);

#endif
