/*
 * wildmatch: '*' patterns over user names.
 */
#include "config.h"

#include <ctype.h>

#include "wildmatch.h"

/*
 * On a mismatch the last '*' takes one more character, which is enough
 * for patterns with only '*': the match is O(pattern * subject) at worst
 * and needs no recursion, so a hostile pattern or name cannot blow the
 * stack.
 */
bool
wildmatch(const char *pat, const char *s, size_t n)
{
	const char *star = NULL;
	size_t i = 0, retry = 0;

	while (i < n) {
		if (*pat == '*') {
			star = ++pat;
			retry = i;
		} else if (*pat != '\0' && tolower((unsigned char)*pat) ==
					       tolower((unsigned char)s[i])) {
			pat++;
			i++;
		} else if (star != NULL) {
			pat = star;
			i = ++retry;
		} else
			return false;
	}
	while (*pat == '*')
		pat++;
	return *pat == '\0';
}
