/*
 * protolog_dir: the protocol log's directories: pinned before the
 * privileges are dropped, checked, created, locked against a second
 * instance, and kept within their age and size limits (retention).
 * The writer thread (protolog.c) is the only caller once it runs, but
 * for the locks, which the main thread takes at start and reload.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "proto.h"
#include "protolog.h"
#include "protolog_internal.h"

/*
 * The lock on one log directory.  Two instances appending to one hourly
 * file would interleave their rows; each holds flock(2) on PROTOLOG_LOCK
 * in its directories, and a second one refuses them.  flock() locks of
 * two open(2)s of one file conflict even in one process, so a directory
 * shared by the protocols is locked once (matched by device and inode).
 */
struct dirlock {
	int fd; /* -1: none */
	dev_t dev;
	ino_t ino;
};

/* The directories this instance holds (none yet: a descriptor 0 here
 * would be closed as a lock); the main thread's. */
static struct dirlock locks[PROTO_COUNT] = {{.fd = -1}, {.fd = -1}};
_Static_assert(PROTO_COUNT == 2, "locks is initialised for two");

/*
 * Directories opened as root before the privileges were dropped
 * (protolog_pin_dir()); written only before the threads start, read-only
 * afterwards.
 */
static struct {
	char *path;
	int fd;
} pins[PROTO_COUNT];
static size_t npins;

int
protolog_pin_dir(const char *dir, char *err, size_t errlen)
{
	int fd;

	for (size_t i = 0; i < npins; i++)
		if (strcmp(pins[i].path, dir) == 0)
			return 0;
	if (npins == PROTO_COUNT) {
		snprintf(err, errlen,
		    "protocol log directory %s: too many "
		    "directories",
		    dir);
		return -1;
	}
	/* O_PATH: root may lack CAP_DAC_OVERRIDE (the unit's bounding set)
	 * and so may not read a directory that is already the user's; it
	 * needs only to pass the parents, which are root's. */
	fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1) {
		snprintf(err, errlen, "protocol log directory %s: %s", dir,
		    strerror(errno));
		return -1;
	}
	if ((pins[npins].path = strdup(dir)) == NULL) {
		close(fd);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	pins[npins++].fd = fd;
	return 0;
}

/*
 * A new descriptor of directory dir (close it), or -1 with errno: the
 * pinned one while it is still the directory of that name, otherwise dir
 * opened by its name.  When the name cannot be looked up (the user may not
 * pass a parent), the pinned directory is trusted if it has not been
 * removed.
 */
int
protolog_dir_open(const char *dir)
{
	struct stat ps, fs;

	for (size_t i = 0; i < npins; i++) {
		if (strcmp(pins[i].path, dir) != 0)
			continue;
		if (fstat(pins[i].fd, &fs) == -1 || fs.st_nlink == 0)
			break;
		if (stat(dir, &ps) == 0 &&
		    (ps.st_dev != fs.st_dev || ps.st_ino != fs.st_ino))
			break;
		/* As the user, who owns the directory itself. */
		return openat(pins[i].fd, ".",
		    O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	return open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

/* mkdir -p with mode for the directories it creates. */
int
protolog_mkdirs(const char *path, mode_t mode)
{
	char tmp[4096];
	size_t len = strlen(path), i;

	if (len == 0 || len >= sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(tmp, path, len + 1);
	for (i = 1; i <= len; i++) {
		if (tmp[i] != '/' && tmp[i] != '\0')
			continue;
		tmp[i] = '\0';
		if (mkdir(tmp, mode) == -1 && errno != EEXIST)
			return -1;
		tmp[i] = path[i];
	}
	return 0;
}

int
protolog_check_dir(const char *dir, char *err, size_t errlen)
{
	struct stat st;
	int dfd;

	if (dir == NULL || dir[0] == '\0') {
		snprintf(err, errlen, "protocol log directory not set");
		return -1;
	}
	if ((dfd = protolog_dir_open(dir)) == -1 && errno == ENOTDIR) {
		snprintf(err, errlen,
		    "protocol log directory %s: not a directory", dir);
		return -1;
	}
	if (dfd == -1 && (protolog_mkdirs(dir, 0750) == -1 ||
			     (dfd = protolog_dir_open(dir)) == -1)) {
		snprintf(err, errlen, "protocol log directory %s: %s", dir,
		    strerror(errno));
		return -1;
	}
	/* Through the descriptor: a pinned directory's parents need not
	 * let this process pass. */
	if (fstat(dfd, &st) == -1 ||
	    faccessat(dfd, ".", W_OK | X_OK, 0) == -1) {
		snprintf(err, errlen, "protocol log directory %s: %s", dir,
		    strerror(errno));
		close(dfd);
		return -1;
	}
	close(dfd);
	return 0;
}

/* The pid written in dir's lock file, or 0 when it cannot be read. */
static long
lock_pid(int fd)
{
	char buf[24];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

	if (n <= 0)
		return 0;
	buf[n] = '\0';
	return strtol(buf, NULL, 10);
}

/* Describes who holds dir's lock, for the error message. */
static void
lock_refused(int fd, const char *dir, char *err, size_t errlen)
{
	long pid = lock_pid(fd);

	if (pid > 0)
		snprintf(err, errlen,
		    "protocol log directory %s: in use by "
		    "another postern (pid %ld, lock file %s)",
		    dir, pid, PROTOLOG_LOCK);
	else
		snprintf(err, errlen,
		    "protocol log directory %s: in use by "
		    "another postern (lock file %s)",
		    dir, PROTOLOG_LOCK);
}

int
protolog_dir_in_use(const char *dir, char *err, size_t errlen)
{
	char path[PATH_MAX];
	int fd, rc = 0;

	if (snprintf(path, sizeof(path), "%s/%s", dir, PROTOLOG_LOCK) >=
	    (int)sizeof(path))
		return 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return 0;
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		if (errno == EWOULDBLOCK) {
			lock_refused(fd, dir, err, errlen);
			rc = 1;
		}
	} else
		flock(fd, LOCK_UN);
	close(fd);
	return rc;
}

/* Whether fd is one of the locks in set. */
static bool
lock_in(int fd, const struct dirlock set[PROTO_COUNT])
{
	for (int p = 0; p < PROTO_COUNT; p++)
		if (set[p].fd == fd)
			return true;
	return false;
}

/* Takes dir's lock into l, or the one held already in old[]. */
static int
lock_dir(const char *dir, struct dirlock *l, const struct dirlock *old,
    const struct dirlock *taken, size_t ntaken, char *err, size_t errlen)
{
	char pid[24];
	struct stat st;
	size_t i;
	int fd, n, dfd;

	if ((dfd = protolog_dir_open(dir)) == -1 || fstat(dfd, &st) == -1) {
		snprintf(err, errlen, "protocol log directory %s: %s", dir,
		    strerror(errno));
		if (dfd != -1)
			close(dfd);
		return -1;
	}
	for (i = 0; i < ntaken; i++)
		if (taken[i].fd != -1 && taken[i].dev == st.st_dev &&
		    taken[i].ino == st.st_ino) {
			close(dfd);
			return 0; /* shared with another protocol */
		}
	for (i = 0; i < PROTO_COUNT; i++)
		if (old[i].fd != -1 && old[i].dev == st.st_dev &&
		    old[i].ino == st.st_ino) {
			close(dfd);
			*l = old[i];
			return 0;
		}
	fd = openat(dfd, PROTOLOG_LOCK, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
	close(dfd);
	if (fd == -1) {
		snprintf(err, errlen, "protocol log directory %s: %s: %s", dir,
		    PROTOLOG_LOCK, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		if (errno == EWOULDBLOCK)
			lock_refused(fd, dir, err, errlen);
		else
			snprintf(err, errlen,
			    "protocol log directory %s: "
			    "lock %s: %s",
			    dir, PROTOLOG_LOCK, strerror(errno));
		close(fd);
		return -1;
	}
	/* The pid is only for the message of a refused instance. */
	n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) == -1 || pwrite(fd, pid, (size_t)n, 0) != n)
		log_warn("protocol log directory %s: %s", dir, PROTOLOG_LOCK);
	l->fd = fd;
	l->dev = st.st_dev;
	l->ino = st.st_ino;
	return 0;
}

/*
 * Locks the directories of the enabled protocols of conf, keeping those
 * held already; on success releases the rest, on failure changes nothing.
 */
int
protolog_lock_dirs(const struct protolog_conf conf[PROTO_COUNT], char *err,
    size_t errlen)
{
	struct dirlock next[PROTO_COUNT];
	int p;

	for (p = 0; p < PROTO_COUNT; p++)
		next[p].fd = -1;
	for (p = 0; p < PROTO_COUNT; p++) {
		if (!conf[p].enabled)
			continue;
		if (lock_dir(conf[p].directory, &next[p], locks, next,
			(size_t)p, err, errlen) == -1) {
			for (p = 0; p < PROTO_COUNT; p++)
				if (next[p].fd != -1 &&
				    !lock_in(next[p].fd, locks))
					close(next[p].fd);
			return -1;
		}
	}
	for (p = 0; p < PROTO_COUNT; p++)
		if (locks[p].fd != -1 && !lock_in(locks[p].fd, next))
			close(locks[p].fd);
	memcpy(locks, next, sizeof(next));
	return 0;
}

/* Releases every directory (at stop). */
void
protolog_unlock_dirs(void)
{
	for (int p = 0; p < PROTO_COUNT; p++) {
		if (locks[p].fd != -1)
			close(locks[p].fd);
		locks[p].fd = -1;
	}
}

/* The highest number of protocol p's files dated date in dir, or 0. */
unsigned
protolog_highest_n(const char *dir, enum proto_id p, const char *date)
{
	DIR *d;
	struct dirent *de;
	char fdate[16];
	unsigned n, max = 0;
	int dfd;

	if ((dfd = protolog_dir_open(dir)) == -1)
		return 0;
	if ((d = fdopendir(dfd)) == NULL) {
		close(dfd);
		return 0;
	}
	while ((de = readdir(d)) != NULL)
		if (protolog_name_match(proto_name(p), de->d_name, fdate, &n) &&
		    strcmp(fdate, date) == 0 && n > max)
			max = n;
	closedir(d);
	return max;
}

/* Retention. */

struct rfile {
	char name[PROTOLOG_NAME_MAX];
	int64_t mtime_ms;
	uint64_t size;
	bool gone;
};

static int
rfile_cmp(const void *a, const void *b)
{
	const struct rfile *x = a, *y = b;

	if (x->mtime_ms != y->mtime_ms)
		return x->mtime_ms < y->mtime_ms ? -1 : 1;
	return strcmp(x->name, y->name);
}

static bool
rfile_unlink(int dfd, const char *dir, struct rfile *r)
{
	if (unlinkat(dfd, r->name, 0) == -1) {
		if (errno != ENOENT)
			log_warn("protocol log: cannot delete %s/%s", dir,
			    r->name);
		return false;
	}
	r->gone = true;
	return true;
}

int
protolog_retention(const char *dir, enum proto_id p, uint64_t age_limit_ms,
    uint64_t dir_quota, int64_t now_ms, const char *keep)
{
	struct rfile *files = NULL, *nf;
	size_t nfiles = 0, cap = 0, i;
	uint64_t total = 0;
	struct dirent *de;
	struct stat st;
	int dfd, deleted = 0;
	DIR *d;

	if (age_limit_ms == 0 && dir_quota == 0)
		return 0;
	if ((dfd = protolog_dir_open(dir)) == -1)
		return -1;
	if ((d = fdopendir(dfd)) == NULL) {
		close(dfd);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (strlen(de->d_name) >= PROTOLOG_NAME_MAX ||
		    !protolog_name_match(proto_name(p), de->d_name, NULL, NULL))
			continue;
		/* Never follow a link out of the directory. */
		if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1 ||
		    !S_ISREG(st.st_mode))
			continue;
		if (nfiles == cap) {
			cap = cap ? cap * 2 : 64;
			if ((nf = realloc(files, cap * sizeof(*files))) ==
			    NULL) {
				log_warnx("protocol log: out of memory");
				break;
			}
			files = nf;
		}
		snprintf(files[nfiles].name, PROTOLOG_NAME_MAX, "%s",
		    de->d_name);
		files[nfiles].mtime_ms = (int64_t)st.st_mtim.tv_sec * 1000 +
					 st.st_mtim.tv_nsec / 1000000;
		files[nfiles].size = (uint64_t)st.st_size;
		files[nfiles].gone = false;
		total += (uint64_t)st.st_size;
		nfiles++;
	}
	if (nfiles > 0)
		qsort(files, nfiles, sizeof(*files), rfile_cmp);
	for (i = 0; i < nfiles && age_limit_ms > 0; i++) {
		if (keep != NULL && strcmp(files[i].name, keep) == 0)
			continue;
		if (files[i].mtime_ms >= now_ms - (int64_t)age_limit_ms)
			break;
		if (rfile_unlink(dfd, dir, &files[i])) {
			total -= files[i].size;
			deleted++;
		}
	}
	for (i = 0; i < nfiles && dir_quota > 0 && total > dir_quota; i++) {
		if (files[i].gone ||
		    (keep != NULL && strcmp(files[i].name, keep) == 0))
			continue;
		if (rfile_unlink(dfd, dir, &files[i])) {
			total -= files[i].size;
			deleted++;
		}
	}
	closedir(d);
	free(files);
	return deleted;
}
