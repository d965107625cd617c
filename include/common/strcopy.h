/*
 * strcopy: a string into a fixed store, cut to its room and always
 * terminated, as snprintf(dst, cap, "%.*s", n, src) but without the
 * format engine (a few hundred instructions a call on the login path).
 */
#ifndef POSTERN_STRCOPY_H
#define POSTERN_STRCOPY_H

#include <stddef.h>
#include <string.h>

/*
 * Copies at most n bytes of src, up to its first NUL, into dst of cap
 * bytes, cut to cap - 1 and terminated; returns the bytes copied.  Nothing
 * is written when cap is 0.
 */
static inline size_t
str_copyn(char *dst, size_t cap, const char *src, size_t n)
{
	if (cap == 0)
		return 0;
	n = strnlen(src, n);
	if (n > cap - 1)
		n = cap - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
	return n;
}

/* str_copyn() of the whole of src. */
static inline size_t
str_copy(char *dst, size_t cap, const char *src)
{
	return str_copyn(dst, cap, src, (size_t)-1);
}

#endif /* POSTERN_STRCOPY_H */
