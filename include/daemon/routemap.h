/*
 * routemap: the routing map file, which names the backend of each user
 * during a migration between two mail servers.
 *
 * One route a line, a user form and a backend name separated by blanks;
 * '#' starts a comment line:
 *
 *	alice@example.org   new     the whole login name
 *	EXAMPLE\bob         new     the whole login name
 *	carol               new     the user part of any form (username.h)
 *	@example.net        new     login names user@example.net
 *	*                   old     everybody else
 *
 * The forms are those of the access rules' user names without '*'
 * (policy_user_match()): a key with '@' or '\' is a whole login name, any
 * other the user part of "carol", "carol@domain" and "DOMAIN\carol".
 * Case is ignored (ASCII).  A lookup tries the whole login name, then its
 * user part, then "@" and its domain, then "*": the most precise entry
 * wins, whatever the order of the lines.
 *
 * The parser is pure (a byte span in, a map or errors with their lines
 * out) and the map immutable; lookups go through a hash table.  The map
 * knows backends by the numbers its caller's resolver gives their names.
 */
#ifndef POSTERN_ROUTEMAP_H
#define POSTERN_ROUTEMAP_H

#include <stddef.h>

/* The longest line of a map file, its end excluded. */
#define ROUTEMAP_LINE_MAX 1024

/* The largest map file read (about 100 bytes a route, a million routes). */
#define ROUTEMAP_FILE_MAX (64u * 1024 * 1024)

/* Which kind of entry a lookup found. */
enum routemap_match {
	ROUTEMAP_NONE,   /* no entry: the protocol's own backend applies */
	ROUTEMAP_USER,   /* the whole login name */
	ROUTEMAP_BARE,   /* the user part */
	ROUTEMAP_DOMAIN, /* "@domain" */
	ROUTEMAP_ANY     /* "*" */
};

struct routemap;

/*
 * The number of backend name, as the caller knows it (0 or more), or -1
 * when there is no backend of that name (the parser says so), or -2 when
 * the caller refuses the route and has said why itself.  name is as
 * written on line.
 */
typedef int routemap_resolve_fn(void *arg, const char *name, int line);

/* Receives one problem of the map (line 0: about the whole file). */
typedef void routemap_error_fn(void *arg, int line, const char *msg);

/*
 * Parses buf[0..len) (a whole map file).  Returns the map, or NULL after
 * calling err once per problem found: a line that is not "user backend",
 * a user form that is not one of the five, a line longer than
 * ROUTEMAP_LINE_MAX, a NUL or control byte, bytes that are not UTF-8, an
 * unknown backend (resolve said -1), a user form listed twice.  Every
 * line is checked, so that all the problems are told at once.
 */
struct routemap *routemap_parse(const char *buf, size_t len,
    routemap_resolve_fn *resolve, routemap_error_fn *err, void *arg);

/*
 * Reads the file at path (at most ROUTEMAP_FILE_MAX bytes) and parses it
 * as routemap_parse() does.
 */
struct routemap *routemap_load(const char *path, routemap_resolve_fn *resolve,
    routemap_error_fn *err, void *arg);

/*
 * The backend number of user's route, or -1 when no entry applies; *match
 * says which kind of entry it was and *line its line (both may be NULL).
 * user is the login name as the client gave it.
 */
int routemap_lookup(const struct routemap *m, const char *user,
    enum routemap_match *match, int *line);

/* The number of entries. */
size_t routemap_count(const struct routemap *m);

/* "user", "user-part", "domain", "any" or "default", for the logs. */
const char *routemap_match_name(enum routemap_match match);

/* Frees m; NULL is ignored. */
void routemap_free(struct routemap *m);

#endif
