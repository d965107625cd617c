/*
 * username: the forms of a login name, for the access rules (policy) and
 * the group sources (groups), which both need them and must not need
 * each other for it.
 *
 * A login name has one of three forms: "user", "user@domain" or
 * "DOMAIN\user"; its user part is "user" (after the first '\' if there
 * is one, else before the last '@', else all of it).
 */
#ifndef POSTERN_USERNAME_H
#define POSTERN_USERNAME_H

#include <stddef.h>

/* The user part of a login name: start, and length in *len. */
const char *username_bare(const char *user, size_t *len);

#endif
