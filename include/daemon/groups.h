/*
 * groups: group membership, from a groups file and from LDAP / Active
 * Directory, with a per-user cache.
 *
 * Three parts:
 *
 * - struct group_list: the groups of one user, as names (groups file) or
 *   distinguished names (LDAP).  group_list_has() compares a configured
 *   group name with it.
 *
 * - struct groups_file: a parsed groups file, immutable.  conf_load() reads
 *   it into the configuration snapshot, so a reload that builds a new
 *   snapshot also re-reads the file, and "postern -t" checks it.
 *
 * - struct groups (groups_service.c): the lookup service, one per process,
 *   made by server_run() before the workers start and freed after they have
 *   stopped.  It owns a small pool of threads that run the LDAP queries
 *   (libldap's synchronous calls, each bounded by ldap_timeout) and the
 *   cache.  An event loop never waits for a directory.
 *
 * Delivering answers without evthread: each worker creates one struct
 * groups_port for its event_base, from its own thread.  A port holds a
 * queue of finished requests (under the service's mutex), an eventfd and
 * a persistent read event on that base.  A pool thread that finishes a
 * request appends it to its port's queue and writes the eventfd; the read
 * event then runs on the worker's thread, takes the finished requests off
 * the queue and calls their callbacks.  libevent is therefore only ever
 * called from the thread that runs the base.
 *
 * Settings come from the snapshot passed to groups_lookup() (the session's
 * own), so sessions started before a reload keep the settings they
 * started with; cache entries are tied to the snapshot's serial number, so
 * a reload starts with an empty cache.
 */
#ifndef POSTERN_GROUPS_H
#define POSTERN_GROUPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct conf;
struct groups_conf;
struct event_base;

/*
 * What the directory said of the user's [routing] ldap_route_attribute
 * (routing.h), fetched with the groups in the same search.
 */
enum group_route {
	GROUP_ROUTE_NONE,  /* no such attribute, or not asked for it */
	GROUP_ROUTE_VALUE, /* one value (or the same one several times) */
	GROUP_ROUTE_BAD    /* values that name no route: route says why */
};

/* The longest attribute value taken as a route. */
#define GROUP_ROUTE_MAX 256

/* The groups a user is a member of. */
struct group_list {
	char **v; /* group names or DNs, as the source gave them */
	size_t n, cap;
	enum group_route route_kind;
	/* GROUP_ROUTE_VALUE: the value; GROUP_ROUTE_BAD: why it is none,
	 * in words that quote none of it. */
	char *route;
};

/* Appends a copy of name; returns 0, or -1 when out of memory. */
int group_list_add(struct group_list *gl, const char *name);

/* Frees the names and the route and empties gl; gl stays usable. */
void group_list_clear(struct group_list *gl);

/*
 * Adds one value of the route attribute, len bytes that need not end in
 * NUL.  One value, or several that are the same but for case, make a
 * route; a value with a NUL or control byte, an empty one, one longer
 * than GROUP_ROUTE_MAX, or several different values make
 * GROUP_ROUTE_BAD, which no later value undoes: a directory that cannot
 * say where the mailbox is must not have one of its answers guessed.
 * Returns 0, or -1 when out of memory.
 */
int group_list_route_add(struct group_list *gl, const char *v, size_t len);

/* Copies src's route into dst (replacing dst's); 0, or -1 out of memory. */
int group_list_route_copy(struct group_list *dst, const struct group_list *src);

/*
 * Whether gl holds the group called name.  Compared case-insensitively
 * with each entry as a whole, and, for an entry that is a DN whose first
 * RDN is CN=..., with that CN value (escapes undone): "POP3 Access"
 * matches "CN=POP3 Access,OU=Groups,DC=example,DC=org".  A name that is
 * itself a DN therefore matches only that DN.
 */
bool group_list_has(const struct group_list *gl, const char *name);

/*
 * The value of the first RDN of dn when its type is CN (case-insensitive),
 * with RFC 4514 escapes undone, into buf.  Returns 0, or -1 when dn does
 * not start with CN= or the value does not fit.
 */
int groups_dn_cn(const char *dn, char *buf, size_t len);

/*
 * Writes filter with "%u" replaced by the user part of user (see
 * username_bare()), "%U" by the whole login name and "%%" by "%", the
 * inserted values escaped per RFC 4515 section 3 ('*', '(', ')', '\' and
 * NUL as \2a, \28, \29, \5c, \00).  Returns 0, or -1 when the result does
 * not fit in len or filter holds another '%' sequence.
 */
int groups_ldap_filter(const char *filter, const char *user, char *buf,
    size_t len);

/* Lower-cases s in place (ASCII), as the groups file and the cache key
 * users and members. */
void groups_lower(char *s);

/*
 * Groups file.  Lines "Group Name: user1, user2, ..."; '#' or ';' starts
 * a comment line; an indented line continues the member list of the line
 * before; a group named on several lines gets all their members.  Group
 * names are compared case-insensitively, members as the access rules
 * compare a user name pattern without '*' (a member without '@' or '\'
 * is the user part of any login form, username.h).  Lookup is a binary
 * search.
 */
struct groups_file;

/* Receives one problem of the file being loaded. */
typedef void groups_file_error_fn(void *arg, int line, const char *msg);

/*
 * Reads and parses the file at path.  Returns the parsed file, or NULL
 * after calling err once per problem (line 0: about the whole file).
 */
struct groups_file *groups_file_load(const char *path,
    groups_file_error_fn *err, void *arg);

/* Whether the file defines a group called name (case-insensitive). */
bool groups_file_has_group(const struct groups_file *gf, const char *name);

/* Number of groups the file defines. */
size_t groups_file_count(const struct groups_file *gf);

/* Appends the groups user belongs to; returns 0, or -1 out of memory. */
int groups_file_lookup(const struct groups_file *gf, const char *user,
    struct group_list *out);

/* Frees gf; NULL is ignored. */
void groups_file_free(struct groups_file *gf);

/* The lookup service. */
struct groups;
/* A worker's delivery point, see the top of this file. */
struct groups_port;
/* One pending lookup. */
struct groups_req;

/* How a lookup ended. */
enum groups_status {
	GROUPS_OK,      /* gl holds every group found (maybe none) */
	GROUPS_TEMPFAIL /* the directory is down, slow or refused us */
};

/*
 * Receives the answer on the port's thread, from its event loop.  gl is
 * valid until the callback returns (NULL unless GROUPS_OK); err says what
 * failed (NULL on GROUPS_OK) and holds no secret.  The request handle is
 * void once the callback runs: forget it, never cancel it.
 */
typedef void groups_cb(enum groups_status st, const struct group_list *gl,
    const char *err, void *arg);

/*
 * Starts the service with c's ldap_threads lookup threads (started only
 * when a lookup first needs the directory).  Returns NULL when out of
 * memory.
 */
struct groups *groups_new(const struct conf *c);

/*
 * Stops the threads and frees the service.  Every port must have been
 * freed before; a query still running in a thread is waited for, which
 * takes at most ldap_timeout.
 */
void groups_free(struct groups *g);

/*
 * Creates the port of base; call from the thread that runs base.
 * Returns NULL on failure (no eventfd, out of memory).
 */
struct groups_port *groups_port_new(struct groups *g, struct event_base *base);

/*
 * Cancels every request of the port (their callbacks never run) and frees
 * it; call from the port's thread, before freeing its event_base.
 */
void groups_port_free(struct groups_port *port);

/*
 * Looks up the groups of user under the settings of snapshot c: the
 * groups file's and, if ldap_uri is set, the directory's (from the cache
 * while fresh).  cb runs later, on the port's thread, never from inside
 * this call, even when the answer is known at once.  Returns the request
 * handle, or NULL when out of memory (the caller answers "try later").
 * c is referenced until the request ends.
 */
struct groups_req *groups_lookup(struct groups_port *port, struct conf *c,
    const char *user, groups_cb *cb, void *arg);

/*
 * Cancels a request whose callback has not run yet: the callback will
 * never run.  Call from the port's thread, e.g. when the session closes
 * while a lookup is pending.  NULL is ignored.
 */
void groups_cancel(struct groups_req *req);

/*
 * The directory query, replaceable for tests: fills out with the user's
 * groups under gc (serial identifies the snapshot, so a source can keep a
 * connection per settings) and returns 0, or returns -1 with a reason in
 * err, or GROUPS_SOURCE_DOWN (with a reason) when the directory could not
 * be reached or did not answer in time, which starts the back-off below.
 * Runs in a pool thread; returns within gc->ldap_timeout_ms.
 */
#define GROUPS_SOURCE_DOWN (-2)

typedef int groups_source_fn(const struct groups_conf *gc, uint64_t serial,
    const char *user, struct group_list *out, char *err, size_t errlen);

/* The LDAP source (groups_ldap.c), the default. */
groups_source_fn groups_ldap_query;

/* For tests: replaces the directory query and the clock (ms, monotonic). */
void groups_set_source(struct groups *g, groups_source_fn *fn);
void groups_set_clock(struct groups *g, uint64_t (*now_ms)(void));

/*
 * A directory that is down.  Without a pause, every login would open a
 * connection of its own to a server that is not there (more than a
 * thousand a second under load), each logging its failure.  Once a
 * lookup finds the directory unreachable (GROUPS_SOURCE_DOWN: no
 * connection, or no answer within ldap_timeout), lookups fail at once as
 * temporary failures for GROUPS_BACKOFF_MIN_MS; then a single lookup, the
 * probe, asks the directory again while the others go on failing fast.
 * Each failed probe doubles the pause, up to GROUPS_BACKOFF_MAX_MS; any
 * answer ends the outage.  A lookup that fails this way is never an
 * allow: the login is refused for now.
 *
 * The state, on a clock the caller passes (ms, monotonic); the service
 * keeps one per ldap_uri under its lock.
 */
#define GROUPS_BACKOFF_MIN_MS 1000
#define GROUPS_BACKOFF_MAX_MS 60000

struct groups_backoff {
	bool down;            /* the directory is taken to be unreachable */
	bool probing;         /* a probe is under way */
	uint64_t since;       /* ms: when the outage began */
	uint64_t retry_at;    /* ms: the next probe may start then */
	unsigned delay_ms;    /* the current pause */
	unsigned long failed; /* lookups failed since the outage began */
};

/* What a lookup about to start does. */
enum groups_backoff_go {
	GROUPS_BACKOFF_ASK,   /* not down: ask the directory */
	GROUPS_BACKOFF_PROBE, /* down, and this lookup is the probe */
	GROUPS_BACKOFF_FAIL   /* down: fail at once (counted in failed) */
};

/* What a lookup's end changed. */
enum groups_backoff_change {
	GROUPS_BACKOFF_SAME,
	GROUPS_BACKOFF_DOWN, /* an outage began: pause for delay_ms */
	GROUPS_BACKOFF_UP    /* it ended; since and failed still tell it */
};

/* Decides whether a lookup starting at now may ask the directory. */
enum groups_backoff_go groups_backoff_start(struct groups_backoff *b,
    uint64_t now);

/*
 * Records the end, at now, of a lookup that started as go (ASK or PROBE)
 * and found the directory reachable (it answered, even with an error) or
 * not.
 */
enum groups_backoff_change groups_backoff_end(struct groups_backoff *b,
    uint64_t now, enum groups_backoff_go go, bool reachable);

/* Per-thread LDAP connection teardown, called when a pool thread ends. */
void groups_ldap_thread_end(void);

struct conf_module;

/* The configuration of the [groups] section (groups_conf.c). */
extern const struct conf_module groups_conf_module;

#endif
