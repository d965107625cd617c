/*
 * heapshare.so - preloaded into postern by bench/idle-heapshare.sh: counts
 * the heap OpenSSL holds apart from the rest, so that an idle TLS session's
 * memory splits into OpenSSL's own state and postern's share (with
 * libevent's) without subtracting figures of two runs.
 *
 * OpenSSL's allocations come here through CRYPTO_set_mem_functions(),
 * which works only before OpenSSL's first allocation: the constructor of a
 * preloaded library runs before postern's main().  The counts are glibc's
 * chunk sizes (malloc_usable_size() plus the 8-byte header), the unit of
 * mallinfo2()'s uordblks.  heapshare_sample() (called by the script through
 * gdb) fills the heapshare_* globals.
 *
 *   cc -O2 -g -shared -fPIC -o heapshare.so bench/heapshare.c -lcrypto
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include <openssl/crypto.h>

#define CHUNK(p) (malloc_usable_size(p) + sizeof(size_t))

static atomic_llong ossl_bytes;
static atomic_llong ossl_blocks;

/* Filled by heapshare_sample(). */
long long heapshare_ossl_bytes;  /* OpenSSL's live chunks, in bytes */
long long heapshare_ossl_blocks; /* ... and their number */
long long heapshare_heap_bytes;  /* every live chunk: uordblks + hblkhd */
int heapshare_installed;         /* CRYPTO_set_mem_functions() took */

static void
note(void *p, int sign)
{
	atomic_fetch_add(&ossl_bytes, sign * (long long)CHUNK(p));
	atomic_fetch_add(&ossl_blocks, sign);
}

static void *
hs_malloc(size_t n, const char *file, int line)
{
	void *p = malloc(n);

	(void)file;
	(void)line;
	if (p != NULL)
		note(p, 1);
	return p;
}

static void
hs_free(void *p, const char *file, int line)
{
	(void)file;
	(void)line;
	if (p == NULL)
		return;
	note(p, -1);
	free(p);
}

static void *
hs_realloc(void *p, size_t n, const char *file, int line)
{
	void *q;

	if (p == NULL)
		return hs_malloc(n, file, line);
	if (n == 0) {
		hs_free(p, file, line);
		return NULL;
	}
	atomic_fetch_sub(&ossl_bytes, (long long)CHUNK(p));
	q = realloc(p, n);
	/* A failed realloc() leaves p as it was. */
	atomic_fetch_add(&ossl_bytes, (long long)CHUNK(q != NULL ? q : p));
	return q;
}

void
heapshare_sample(void)
{
	struct mallinfo2 mi = mallinfo2();

	heapshare_heap_bytes = (long long)(mi.uordblks + mi.hblkhd);
	heapshare_ossl_bytes = atomic_load(&ossl_bytes);
	heapshare_ossl_blocks = atomic_load(&ossl_blocks);
}

__attribute__((constructor)) static void
heapshare_init(void)
{
	heapshare_installed =
	    CRYPTO_set_mem_functions(hs_malloc, hs_realloc, hs_free);
	if (!heapshare_installed)
		fputs("heapshare: OpenSSL allocated before the preload ran\n",
		    stderr);
}
