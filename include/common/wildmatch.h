/*
 * wildmatch: the '*' patterns of user names, shared by the daemon's access
 * rules and the inventory's --exclude-user.
 */
#ifndef POSTERN_WILDMATCH_H
#define POSTERN_WILDMATCH_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Whether s[0..n) matches the NUL-ended pattern pat as a whole: '*' stands
 * for any run of characters, and ASCII letters match in either case, as
 * Windows account names do.
 */
bool wildmatch(const char *pat, const char *s, size_t n);

#endif
