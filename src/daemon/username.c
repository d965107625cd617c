/*
 * username: the forms of a login name.
 */
#include "config.h"

#include <string.h>

#include "username.h"

const char *
username_bare(const char *user, size_t *len)
{
	const char *p;

	if ((p = strchr(user, '\\')) != NULL) {
		*len = strlen(p + 1);
		return p + 1;
	}
	if ((p = strrchr(user, '@')) != NULL) {
		*len = (size_t)(p - user);
		return user;
	}
	*len = strlen(user);
	return user;
}
