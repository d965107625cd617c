/*
 * privsep: the privileged helper that reads the certificates and keys for
 * a reload.
 *
 * postern starts as root, binds its ports and reads its keys, then becomes
 * the user of [postern].  A reload (SIGHUP, postern -R) runs as that user,
 * who cannot read a key that only root may read, as certbot writes them.
 * Before giving up root, postern forks this helper, which keeps root and
 * does one thing: when the daemon asks over their socket pair, it reads
 * the configuration file again (the path fixed at start, never one the
 * daemon sends: a daemon taken over must not make it read /etc/shadow),
 * and sends back the contents of every certificate and private_key file
 * that the [tls] and [tls "<name>"] sections name, or why one could not be
 * read.  It holds no other descriptor, and ends when the daemon's end of
 * the socket closes.
 *
 * The request is one byte, PRIVSEP_REQUEST.  The answer is a series of
 * records, each a 13-byte header (type, then three 32-bit big-endian
 * numbers: errno, path length, data length) and the path and data bytes:
 * PRIVSEP_REC_FILE for each file (errno 0 with its contents, or the error
 * with no data), PRIVSEP_REC_REFUSED when the helper reads nothing (its
 * reason as data, no path), and PRIVSEP_REC_END, with every field 0,
 * last.
 */
#ifndef POSTERN_PRIVSEP_H
#define POSTERN_PRIVSEP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PRIVSEP_REQUEST 'R'
#define PRIVSEP_REC_FILE 'F'
#define PRIVSEP_REC_REFUSED 'X'
#define PRIVSEP_REC_END 'E'
#define PRIVSEP_HEADER 13

/* Limits: a longer path, a larger file or more of them is refused. */
#define PRIVSEP_PATH_MAX 4096
#define PRIVSEP_FILE_MAX (1024 * 1024)
#define PRIVSEP_FILES_MAX 1024
#define PRIVSEP_REASON_MAX 1024

/* One file as the helper read it. */
struct privsep_file {
	char *path;
	int err;             /* 0, or the errno of the failed read */
	unsigned char *data; /* NUL-terminated beyond len; NULL on error */
	size_t len;
};

/* An answer of the helper. */
struct privsep_files {
	struct privsep_file *v;
	size_t n;
	char *refused; /* NULL, or why the helper read nothing */
};

/* What privsep_decode() made of a buffer. */
enum privsep_decode {
	PRIVSEP_NEED_MORE, /* the answer goes on */
	PRIVSEP_DONE,      /* the whole answer, in *out */
	PRIVSEP_INVALID    /* not an answer: why says how */
};

/*
 * Forks the helper (as root, before the privileges are dropped) for the
 * configuration at conf_path.  Returns 0, or -1 with errno; the daemon
 * then reads the files itself at a reload.
 */
int privsep_start(const char *conf_path);

/* Whether a helper was started and has not been found gone. */
bool privsep_running(void);

/*
 * Asks the helper for the files; blocks the calling (main) thread until
 * it answers, at most ten seconds.  Returns 0 and a new *out
 * (privsep_files_free()), or -1 with the reason in err; a helper found
 * gone is reaped and not asked again.
 */
int privsep_fetch(struct privsep_files **out, char *err, size_t errlen);

/* The file of path in f, or NULL when the answer does not hold it. */
const struct privsep_file *privsep_find(const struct privsep_files *f,
    const char *path);

/* Wipes the contents (keys) and frees f; NULL is ignored. */
void privsep_files_free(struct privsep_files *f);

/* Closes the daemon's end, which ends the helper, and reaps it. */
void privsep_stop(void);

/*
 * Decodes an answer from buf[0..len): the whole of what was received so
 * far.  PRIVSEP_DONE fills *out (new; privsep_files_free()) only when the
 * answer ends exactly at len.  Pure: the unit tests feed it every prefix
 * and every corruption.
 */
enum privsep_decode privsep_decode(const unsigned char *buf, size_t len,
    struct privsep_files **out, char *why, size_t whylen);

/*
 * Appends one record to the buffer *buf of *len bytes (grown as needed,
 * the old copy wiped).  Returns 0, or -1 when out of memory or when a
 * field is out of its bounds.
 */
int privsep_encode(unsigned char **buf, size_t *len, int type, int err,
    const char *path, const unsigned char *data, size_t datalen);

/*
 * Whether the helper may trust the configuration at path: owned by root
 * and writable by no one else, as is its directory.  Otherwise a user who
 * may change it could name any file as a key and have the helper read it.
 * Returns 0, or -1 with the reason in why.
 */
int privsep_conf_trusted(const char *path, char *why, size_t whylen);

/*
 * The paths that the [tls] and [tls "<name>"] sections of the file at path
 * name as certificate or private_key, each once, into *paths (n of them;
 * free each and the array).  Returns 0, or -1 with the reason in why.
 */
int privsep_conf_paths(const char *path, char ***paths, size_t *n, char *why,
    size_t whylen);

#endif
