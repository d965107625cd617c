/*
 * Unit tests of a worker's spare blocks.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "blockcache.h"

Test(blockcache, reuses_a_block_of_the_same_size)
{
	if (BLOCKCACHE_SANITIZED)
		cr_skip_test("keeps nothing under AddressSanitizer");
	struct blockcache c;
	void *p, *q;

	memset(&c, 0, sizeof(c));
	p = blockcache_get(&c, 65536);
	cr_assert_not_null(p);
	memset(p, 'x', 65536);
	blockcache_put(&c, p, 65536);
	q = blockcache_get(&c, 65536);
	cr_assert_eq(q, p);
	blockcache_put(&c, q, 65536);
	blockcache_clear(&c);
}

Test(blockcache, another_size_is_not_served_from_the_kept_blocks)
{
	if (BLOCKCACHE_SANITIZED)
		cr_skip_test("keeps nothing under AddressSanitizer");
	struct blockcache c;
	void *p, *q;

	memset(&c, 0, sizeof(c));
	p = blockcache_get(&c, 4096);
	blockcache_put(&c, p, 4096);
	q = blockcache_get(&c, 8192);
	cr_assert_neq(q, p);
	memset(q, 0, 8192);
	blockcache_put(&c, q, 8192);
	cr_assert_eq(blockcache_get(&c, 4096), p);
	blockcache_put(&c, p, 4096);
	blockcache_clear(&c);
}

Test(blockcache, keeps_at_most_its_depth_and_frees_the_rest)
{
	if (BLOCKCACHE_SANITIZED)
		cr_skip_test("keeps nothing under AddressSanitizer");
	struct blockcache c;
	void *p[BLOCKCACHE_DEPTH + 2];

	memset(&c, 0, sizeof(c));
	for (unsigned i = 0; i < BLOCKCACHE_DEPTH + 2; i++)
		p[i] = blockcache_get(&c, 2000);
	for (unsigned i = 0; i < BLOCKCACHE_DEPTH + 2; i++)
		blockcache_put(&c, p[i], 2000);
	for (unsigned i = 0; i < BLOCKCACHE_SIZES; i++) {
		if (c.cls[i].size == 2000)
			cr_assert_eq(c.cls[i].n, BLOCKCACHE_DEPTH);
	}
	/* The kept ones come back last in, first out. */
	cr_assert_eq(blockcache_get(&c, 2000), p[BLOCKCACHE_DEPTH - 1]);
	blockcache_put(&c, p[BLOCKCACHE_DEPTH - 1], 2000);
	blockcache_clear(&c);
	for (unsigned i = 0; i < BLOCKCACHE_SIZES; i++)
		cr_assert_eq(c.cls[i].n, 0);
}

Test(blockcache, an_emptied_size_makes_room_for_a_new_one)
{
	if (BLOCKCACHE_SANITIZED)
		cr_skip_test("keeps nothing under AddressSanitizer");
	struct blockcache c;
	void *p, *q;

	memset(&c, 0, sizeof(c));
	for (size_t i = 0; i < BLOCKCACHE_SIZES; i++)
		blockcache_put(&c, blockcache_get(&c, 1000 + i), 1000 + i);
	/* Every class is taken: a fifth size is freed, not kept. */
	p = blockcache_get(&c, 5000);
	blockcache_put(&c, p, 5000);
	for (unsigned i = 0; i < BLOCKCACHE_SIZES; i++)
		cr_assert_neq(c.cls[i].size, 5000);
	/* Once a size's blocks are all taken, its class may change. */
	p = blockcache_get(&c, 1000);
	q = blockcache_get(&c, 6000);
	blockcache_put(&c, q, 6000);
	cr_assert_eq(blockcache_get(&c, 6000), q);
	free(q);
	free(p);
	blockcache_clear(&c);
}

Test(blockcache, keeps_nothing_under_address_sanitizer)
{
	struct blockcache c;
	void *p;

	if (!BLOCKCACHE_SANITIZED)
		cr_skip_test("not an AddressSanitizer build");
	memset(&c, 0, sizeof(c));
	p = blockcache_get(&c, 4096);
	blockcache_put(&c, p, 4096);
	for (unsigned i = 0; i < BLOCKCACHE_SIZES; i++)
		cr_assert_eq(c.cls[i].n, 0);
}

Test(blockcache, without_a_cache_it_is_malloc_and_free)
{
	void *p = blockcache_get(NULL, 100);

	cr_assert_not_null(p);
	blockcache_put(NULL, p, 100);
	blockcache_put(NULL, NULL, 100);
}
