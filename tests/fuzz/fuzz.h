/*
 * fuzz.h: what the libFuzzer harnesses share.
 *
 * Every harness that feeds a resumable parser takes the split points from
 * the input itself, so that the fuzzer steers them like any other byte:
 *
 *   byte 0        harness-specific settings
 *   byte 1        n = byte & 15, the number of chunk sizes that follow
 *   bytes 2..n+1  chunk sizes (0 counts as 256), used in turn, cyclically
 *   the rest      the stream
 *
 * A seed file of plain traffic starts with two zero bytes: the stream then
 * arrives whole.  Harnesses check their invariants with FUZZ_CHECK, which
 * aborts, so that libFuzzer keeps the input as a crash.
 */
#ifndef POSTERN_FUZZ_H
#define POSTERN_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: invariant broken: %s\n",       \
			    __FILE__, __LINE__, #cond);                        \
			abort();                                               \
		}                                                              \
	} while (0)

/* The chunking of a stream, read from the input's header. */
struct fuzz_split {
	uint8_t settings;
	uint8_t sizes[15];
	size_t nsizes, next;
	const uint8_t *stream;
	size_t len;
};

/* Reads the header; returns -1 when the input is too short to have one. */
static inline int
fuzz_split_init(struct fuzz_split *s, const uint8_t *data, size_t size)
{
	size_t n;

	if (size < 2)
		return -1;
	s->settings = data[0];
	n = data[1] & 15u;
	if (size < 2 + n)
		return -1;
	memcpy(s->sizes, data + 2, n);
	s->nsizes = n;
	s->next = 0;
	s->stream = data + 2 + n;
	s->len = size - 2 - n;
	return 0;
}

/* The size of the next chunk of what is left (rest bytes), at least 1. */
static inline size_t
fuzz_split_next(struct fuzz_split *s, size_t rest)
{
	size_t n;

	if (s->nsizes == 0)
		return rest;
	n = s->sizes[s->next++ % s->nsizes];
	if (n == 0)
		n = 256;
	return n < rest ? n : rest;
}

/* FNV-1a, to compare what two readings of one stream produced. */
static inline uint64_t
fuzz_hash(uint64_t h, const void *p, size_t len)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < len; i++) {
		h ^= b[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

#define FUZZ_HASH_INIT 0xcbf29ce484222325ULL

static inline uint64_t
fuzz_hash_u64(uint64_t h, uint64_t v)
{
	return fuzz_hash(h, &v, sizeof(v));
}

/* A heap copy of data, so that ASan sees a read past its end. */
static inline char *
fuzz_dup(const void *data, size_t len)
{
	char *p = malloc(len ? len : 1);

	if (p == NULL)
		abort();
	if (len)
		memcpy(p, data, len);
	return p;
}

#endif
