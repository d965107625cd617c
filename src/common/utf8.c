/*
 * utf8: recognising well-formed UTF-8.
 */
#include "config.h"

#include "utf8.h"

static int
in(unsigned char c, unsigned char lo, unsigned char hi)
{
	return c >= lo && c <= hi;
}

size_t
utf8_seq_len(const unsigned char *s, size_t len)
{
	unsigned char c = s[0];
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n, i;

	if (c < 0x80)
		return 1;
	/* The second byte's range is what excludes overlong forms (E0, F0),
	 * surrogates (ED) and values above U+10FFFF (F4). */
	if (in(c, 0xc2, 0xdf))
		n = 2;
	else if (in(c, 0xe0, 0xef)) {
		n = 3;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
	} else if (in(c, 0xf0, 0xf4)) {
		n = 4;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else
		return 0;
	if (len < n || !in(s[1], lo, hi))
		return 0;
	for (i = 2; i < n; i++)
		if (!in(s[i], 0x80, 0xbf))
			return 0;
	return n;
}
