/*
 * strcopy: a copy is cut to the store's room and always terminated, stops
 * at the source's NUL and at its length, and writes nothing into no room.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "strcopy.h"

Test(strcopy, fits_and_is_terminated)
{
	char b[8];

	cr_assert_eq(str_copy(b, sizeof(b), "USER"), 4);
	cr_assert_str_eq(b, "USER");
	cr_assert_eq(str_copy(b, sizeof(b), ""), 0);
	cr_assert_str_eq(b, "");
}

Test(strcopy, cut_to_the_room)
{
	char b[8];

	memset(b, 'x', sizeof(b));
	cr_assert_eq(str_copy(b, sizeof(b), "InvalidCommand"), 7);
	cr_assert_str_eq(b, "Invalid");
	cr_assert_eq(str_copy(b, 1, "abc"), 0);
	cr_assert_eq(b[0], '\0');
	b[0] = 'x';
	cr_assert_eq(str_copy(b, 0, "abc"), 0);
	cr_assert_eq(b[0], 'x', "wrote into a store of no room");
}

Test(strcopy, stops_at_the_length_and_at_a_nul)
{
	char b[16];
	const char line[] = "+OK ready\0hidden";

	cr_assert_eq(str_copyn(b, sizeof(b), "RETR 1\r\n", 6), 6);
	cr_assert_str_eq(b, "RETR 1");
	cr_assert_eq(str_copyn(b, sizeof(b), line, sizeof(line) - 1), 9);
	cr_assert_str_eq(b, "+OK ready");
}
