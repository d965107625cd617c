/*
 * blockcache: a worker's spare blocks; see blockcache.h.
 */
#include "config.h"

#include <stdlib.h>

#include "blockcache.h"

void *
blockcache_get(struct blockcache *c, size_t size)
{
	if (c != NULL && size > 0) {
		for (unsigned i = 0; i < BLOCKCACHE_SIZES; i++) {
			if (c->cls[i].size == size && c->cls[i].n > 0)
				return c->cls[i].block[--c->cls[i].n];
		}
	}
	return malloc(size);
}

void
blockcache_put(struct blockcache *c, void *p, size_t size)
{
	unsigned i, unused = BLOCKCACHE_SIZES;

	if (p == NULL)
		return;
	/* Under AddressSanitizer every block goes back to it, so that a use
	 * after free is still caught rather than landing in the next
	 * session's block. */
	if (c == NULL || size == 0 || BLOCKCACHE_SANITIZED) {
		free(p);
		return;
	}
	for (i = 0; i < BLOCKCACHE_SIZES; i++) {
		if (c->cls[i].size == size)
			break;
		if (c->cls[i].n == 0 && unused == BLOCKCACHE_SIZES)
			unused = i;
	}
	/* A size no longer asked for (a reload changed a limit) gives its
	 * empty class to a new one. */
	if (i == BLOCKCACHE_SIZES && unused < BLOCKCACHE_SIZES) {
		i = unused;
		c->cls[i].size = size;
	}
	if (i == BLOCKCACHE_SIZES || c->cls[i].n == BLOCKCACHE_DEPTH) {
		free(p);
		return;
	}
	c->cls[i].block[c->cls[i].n++] = p;
}

void
blockcache_clear(struct blockcache *c)
{
	for (unsigned i = 0; i < BLOCKCACHE_SIZES; i++) {
		while (c->cls[i].n > 0)
			free(c->cls[i].block[--c->cls[i].n]);
		c->cls[i].size = 0;
	}
}
