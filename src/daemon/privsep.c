/*
 * privsep: the privileged helper that reads certificates and keys for a
 * reload (privsep.h).  The way OpenSMTPD's parent and nginx's master keep
 * root, reduced to one question with a fixed answer: the helper takes no
 * path from the daemon, only the request.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/capability.h>

#include <ini.h>
#include <openssl/crypto.h>

#include "privsep.h"

/* The whole answer: every file at its largest would not fit, and need not. */
#define PRIVSEP_ANSWER_MAX (32 * 1024 * 1024)
/* How long a reload waits for the helper's answer. */
#define PRIVSEP_TIMEOUT_MS 10000

static int helper_fd = -1;
static pid_t helper_pid = -1;

/* --- The answer's records (pure) -------------------------------------- */

static void
put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static uint32_t
get32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Frees *p after wiping its n bytes: a buffer may have held a key. */
static void
wipe_free(void *p, size_t n)
{
	if (p == NULL)
		return;
	OPENSSL_cleanse(p, n);
	free(p);
}

int
privsep_encode(unsigned char **buf, size_t *len, int type, int err,
    const char *path, const unsigned char *data, size_t datalen)
{
	size_t plen = path != NULL ? strlen(path) : 0, need;
	unsigned char *nb, *p;

	if (plen > PRIVSEP_PATH_MAX || datalen > PRIVSEP_FILE_MAX || err < 0 ||
	    (datalen > 0 && data == NULL))
		return -1;
	need = *len + PRIVSEP_HEADER + plen + datalen;
	if (need > PRIVSEP_ANSWER_MAX || (nb = malloc(need)) == NULL)
		return -1;
	/* No realloc(): the old copy may hold a key and must be wiped. */
	if (*len > 0)
		memcpy(nb, *buf, *len);
	wipe_free(*buf, *len);
	p = nb + *len;
	p[0] = (unsigned char)type;
	put32(p + 1, (uint32_t)err);
	put32(p + 5, (uint32_t)plen);
	put32(p + 9, (uint32_t)datalen);
	if (plen > 0)
		memcpy(p + PRIVSEP_HEADER, path, plen);
	if (datalen > 0)
		memcpy(p + PRIVSEP_HEADER + plen, data, datalen);
	*buf = nb;
	*len = need;
	return 0;
}

void
privsep_files_free(struct privsep_files *f)
{
	if (f == NULL)
		return;
	for (size_t i = 0; i < f->n; i++) {
		free(f->v[i].path);
		wipe_free(f->v[i].data, f->v[i].len + 1);
	}
	free(f->v);
	free(f->refused);
	free(f);
}

const struct privsep_file *
privsep_find(const struct privsep_files *f, const char *path)
{
	if (f == NULL)
		return NULL;
	for (size_t i = 0; i < f->n; i++)
		if (strcmp(f->v[i].path, path) == 0)
			return &f->v[i];
	return NULL;
}

/* A copy of n bytes with a NUL after them, or NULL when out of memory. */
static void *
dup_nul(const unsigned char *p, size_t n)
{
	unsigned char *d = malloc(n + 1);

	if (d != NULL) {
		memcpy(d, p, n);
		d[n] = '\0';
	}
	return d;
}

/* Checks one record's header at p; its total size into *size. */
static int
record_check(const unsigned char *p, size_t *size, char *why, size_t whylen)
{
	uint32_t err = get32(p + 1), plen = get32(p + 5), dlen = get32(p + 9);

	switch (p[0]) {
	case PRIVSEP_REC_FILE:
		if (plen == 0 || plen > PRIVSEP_PATH_MAX) {
			snprintf(why, whylen,
			    "a file record's path length "
			    "is out of bounds");
			return -1;
		}
		if (dlen > PRIVSEP_FILE_MAX || (err != 0 && dlen != 0) ||
		    err > 4095) {
			snprintf(why, whylen,
			    "a file record's data length "
			    "or error is out of bounds");
			return -1;
		}
		break;
	case PRIVSEP_REC_REFUSED:
		if (plen != 0 || err != 0 || dlen == 0 ||
		    dlen > PRIVSEP_REASON_MAX) {
			snprintf(why, whylen,
			    "a refusal record's lengths are out of bounds");
			return -1;
		}
		break;
	case PRIVSEP_REC_END:
		if (err != 0 || plen != 0 || dlen != 0) {
			snprintf(why, whylen, "the end record is not empty");
			return -1;
		}
		break;
	default:
		snprintf(why, whylen, "unknown record type %u", p[0]);
		return -1;
	}
	*size = PRIVSEP_HEADER + (size_t)plen + dlen;
	return 0;
}

/* Adds the record at p (checked, whole) to f; -1 with why when it cannot. */
static int
record_add(struct privsep_files *f, const unsigned char *p, char *why,
    size_t whylen)
{
	uint32_t err = get32(p + 1), plen = get32(p + 5), dlen = get32(p + 9);
	const unsigned char *path = p + PRIVSEP_HEADER, *data = path + plen;
	struct privsep_file *v, *nf;

	if (p[0] == PRIVSEP_REC_REFUSED) {
		if (f->refused != NULL || f->n > 0) {
			snprintf(why, whylen, "a refusal among other records");
			return -1;
		}
		if (memchr(data, '\0', dlen) != NULL) {
			snprintf(why, whylen, "a NUL byte in a refusal");
			return -1;
		}
		if ((f->refused = dup_nul(data, dlen)) == NULL)
			goto oom;
		return 0;
	}
	if (f->refused != NULL || f->n == PRIVSEP_FILES_MAX) {
		snprintf(why, whylen,
		    f->refused != NULL ? "a file record after a refusal" :
					 "more files than allowed");
		return -1;
	}
	if (memchr(path, '\0', plen) != NULL) {
		snprintf(why, whylen, "a NUL byte in a path");
		return -1;
	}
	if ((v = reallocarray(f->v, f->n + 1, sizeof(*v))) == NULL)
		goto oom;
	f->v = v;
	nf = &v[f->n];
	memset(nf, 0, sizeof(*nf));
	if ((nf->path = dup_nul(path, plen)) == NULL)
		goto oom;
	nf->err = (int)err;
	if (err == 0 && (nf->data = dup_nul(data, dlen)) == NULL) {
		free(nf->path);
		goto oom;
	}
	nf->len = err == 0 ? dlen : 0;
	f->n++;
	return 0;
oom:
	snprintf(why, whylen, "out of memory");
	return -1;
}

enum privsep_decode
privsep_decode(const unsigned char *buf, size_t len, struct privsep_files **out,
    char *why, size_t whylen)
{
	struct privsep_files *f;
	size_t at = 0, size;

	*out = NULL;
	if (len > PRIVSEP_ANSWER_MAX) {
		snprintf(why, whylen, "the answer is larger than %d bytes",
		    PRIVSEP_ANSWER_MAX);
		return PRIVSEP_INVALID;
	}
	/* First the headers alone: an answer still arriving costs no copy. */
	for (;;) {
		if (len - at < PRIVSEP_HEADER)
			return PRIVSEP_NEED_MORE;
		if (record_check(buf + at, &size, why, whylen) == -1)
			return PRIVSEP_INVALID;
		if (len - at < size)
			return PRIVSEP_NEED_MORE;
		at += size;
		if (buf[at - size] == PRIVSEP_REC_END)
			break;
	}
	if (at != len) {
		snprintf(why, whylen, "%zu bytes after the end record",
		    len - at);
		return PRIVSEP_INVALID;
	}
	if ((f = calloc(1, sizeof(*f))) == NULL) {
		snprintf(why, whylen, "out of memory");
		return PRIVSEP_INVALID;
	}
	for (at = 0; buf[at] != PRIVSEP_REC_END; at += size) {
		record_check(buf + at, &size, why, whylen);
		if (record_add(f, buf + at, why, whylen) == -1) {
			privsep_files_free(f);
			return PRIVSEP_INVALID;
		}
	}
	*out = f;
	return PRIVSEP_DONE;
}

/* --- What the configuration names (the helper's side) ---------------- */

/* Whether only root may change what st is (see privsep_conf_trusted()). */
static bool
root_only(const struct stat *st)
{
	/* A directory of root's with the sticky bit (/tmp) still lets no
	 * one else rename or remove root's entries in it. */
	return st->st_uid == 0 &&
	       ((st->st_mode & (S_IWGRP | S_IWOTH)) == 0 ||
		   (S_ISDIR(st->st_mode) && (st->st_mode & S_ISVTX) != 0));
}

int
privsep_conf_trusted(const char *path, char *why, size_t whylen)
{
	char *real, *p;
	struct stat st;
	bool first;

	/* The file that is read, and every directory above it: whoever may
	 * change one of them may put another file in its place. */
	if ((real = realpath(path, NULL)) == NULL) {
		snprintf(why, whylen, "%s: %s", path, strerror(errno));
		return -1;
	}
	for (p = real + strlen(real), first = true;; *p = '\0', first = false) {
		const char *what =
		    first ? "the configuration file" : "the directory";

		if (stat(p == real ? "/" : real, &st) == -1) {
			snprintf(why, whylen, "%s: %s", real, strerror(errno));
			free(real);
			return -1;
		}
		if (!root_only(&st)) {
			snprintf(why, whylen,
			    "%s %s may be changed by others than root", what,
			    p == real ? "/" : real);
			free(real);
			return -1;
		}
		if (p == real)
			break;
		while (p > real && *--p != '/')
			;
	}
	free(real);
	return 0;
}

struct paths {
	char **v;
	size_t n;
	bool full, oom;
};

static int
paths_handler(void *user, const char *section, const char *name,
    const char *value)
{
	struct paths *ps = user;
	char **v;

	/* [tls] and [tls "<name>"], as the configuration engine reads them. */
	if (strncmp(section, "tls", 3) != 0 ||
	    (section[3] != '\0' && section[3] != ' ' && section[3] != '\t' &&
		section[3] != '"'))
		return 1;
	/* A longer path cannot be sent: the daemon opens it itself. */
	if ((strcmp(name, "certificate") != 0 &&
		strcmp(name, "private_key") != 0) ||
	    *value == '\0' || strlen(value) > PRIVSEP_PATH_MAX)
		return 1;
	for (size_t i = 0; i < ps->n; i++)
		if (strcmp(ps->v[i], value) == 0)
			return 1;
	if (ps->n == PRIVSEP_FILES_MAX) {
		ps->full = true;
		return 1;
	}
	if ((v = reallocarray(ps->v, ps->n + 1, sizeof(*v))) == NULL ||
	    (v[ps->n] = strdup(value)) == NULL) {
		if (v != NULL)
			ps->v = v;
		ps->oom = true;
		return 0;
	}
	ps->v = v;
	ps->n++;
	return 1;
}

int
privsep_conf_paths(const char *path, char ***paths, size_t *n, char *why,
    size_t whylen)
{
	struct paths ps = {NULL, 0, false, false};
	FILE *fp;

	*paths = NULL;
	*n = 0;
	if ((fp = fopen(path, "re")) == NULL) {
		snprintf(why, whylen, "%s: %s", path, strerror(errno));
		return -1;
	}
	/* Syntax errors are the daemon's to report: it reads the file too. */
	ini_parse_file(fp, paths_handler, &ps);
	fclose(fp);
	if (ps.oom || ps.full) {
		snprintf(why, whylen, "%s: %s", path,
		    ps.oom ? "out of memory" : "too many files");
		for (size_t i = 0; i < ps.n; i++)
			free(ps.v[i]);
		free(ps.v);
		return -1;
	}
	*paths = ps.v;
	*n = ps.n;
	return 0;
}

/*
 * Reads the regular file at path, up to PRIVSEP_FILE_MAX bytes, into
 * *data (wipe and free it).  O_NONBLOCK: a FIFO named as a key must not
 * hang the helper.  Returns 0 or an errno.
 */
static int
read_file(const char *path, unsigned char **data, size_t *len)
{
	struct stat st;
	unsigned char *buf;
	size_t n = 0;
	ssize_t r;
	int fd, err;

	*data = NULL;
	*len = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)) ==
	    -1)
		return errno;
	if (fstat(fd, &st) == -1)
		err = errno;
	else if (!S_ISREG(st.st_mode))
		err = EINVAL;
	else if (st.st_size > PRIVSEP_FILE_MAX)
		err = EFBIG;
	else
		err = 0;
	if (err != 0) {
		close(fd);
		return err;
	}
	if ((buf = malloc(PRIVSEP_FILE_MAX + 1)) == NULL) {
		close(fd);
		return ENOMEM;
	}
	/* One byte more than allowed: a file that grew is seen. */
	while (n <= PRIVSEP_FILE_MAX &&
	       (r = read(fd, buf + n, PRIVSEP_FILE_MAX + 1 - n)) != 0) {
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			err = errno;
			close(fd);
			wipe_free(buf, PRIVSEP_FILE_MAX + 1);
			return err;
		}
		n += (size_t)r;
	}
	close(fd);
	if (n > PRIVSEP_FILE_MAX) {
		wipe_free(buf, PRIVSEP_FILE_MAX + 1);
		return EFBIG;
	}
	*data = buf;
	*len = n;
	return 0;
}

/* The answer to one request, into *buf of *len bytes. */
static int
helper_answer(const char *conf_path, unsigned char **buf, size_t *len)
{
	char why[PRIVSEP_REASON_MAX], **paths = NULL;
	size_t n = 0;
	int rc = 0;

	if (privsep_conf_trusted(conf_path, why, sizeof(why)) == -1 ||
	    privsep_conf_paths(conf_path, &paths, &n, why, sizeof(why)) == -1) {
		if (privsep_encode(buf, len, PRIVSEP_REC_REFUSED, 0, NULL,
			(const unsigned char *)why, strlen(why)) == -1)
			return -1;
		return privsep_encode(buf, len, PRIVSEP_REC_END, 0, NULL, NULL,
		    0);
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char *data = NULL;
		size_t dlen = 0;
		int err = read_file(paths[i], &data, &dlen);

		if (rc == 0 && privsep_encode(buf, len, PRIVSEP_REC_FILE, err,
				   paths[i], data, dlen) == -1)
			rc = -1;
		wipe_free(data, dlen);
		free(paths[i]);
	}
	free(paths);
	if (rc == 0)
		rc =
		    privsep_encode(buf, len, PRIVSEP_REC_END, 0, NULL, NULL, 0);
	return rc;
}

static int
write_all(int fd, const unsigned char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w == -1 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/*
 * Root's own files, as certbot writes them, need no capability: uid 0
 * owns them.  The helper keeps only CAP_DAC_READ_SEARCH, when it has it,
 * for a key of another owner; never the rights to bind, to change ids or
 * owners, or anything else root may have.
 */
static void
helper_drop_caps(void)
{
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3];

	if (syscall(SYS_capget, &h, d) == -1)
		return;
	for (int i = 0; i < _LINUX_CAPABILITY_U32S_3; i++) {
		uint32_t keep = CAP_TO_INDEX(CAP_DAC_READ_SEARCH) == i ?
				    CAP_TO_MASK(CAP_DAC_READ_SEARCH) :
				    0;

		d[i].effective &= keep;
		d[i].permitted &= keep;
		d[i].inheritable = 0;
	}
	syscall(SYS_capset, &h, d);
}

/* The helper's life: one answer per request until the daemon is gone. */
static void __attribute__((noreturn)) helper_main(int fd, const char *conf_path)
{
	unsigned char req, *buf;
	size_t len;
	ssize_t r;

	/* The daemon's signals are for the daemon: a hangup or ^C sent to the
	 * whole group must not leave it without its helper.  It ends by
	 * itself when the daemon does. */
	signal(SIGHUP, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	prctl(PR_SET_NAME, "postern-priv", 0, 0, 0);
	helper_drop_caps();
	for (;;) {
		r = read(fd, &req, 1);
		if (r == -1 && errno == EINTR)
			continue;
		if (r != 1 || req != PRIVSEP_REQUEST)
			_exit(0);
		buf = NULL;
		len = 0;
		if (helper_answer(conf_path, &buf, &len) == -1) {
			/* Too much to send: say so rather than a part. */
			static const char msg[] = "the files are too many or "
						  "too large to send";

			wipe_free(buf, len);
			buf = NULL;
			len = 0;
			if (privsep_encode(&buf, &len, PRIVSEP_REC_REFUSED, 0,
				NULL, (const unsigned char *)msg,
				sizeof(msg) - 1) == -1 ||
			    privsep_encode(&buf, &len, PRIVSEP_REC_END, 0, NULL,
				NULL, 0) == -1)
				_exit(1);
		}
		r = write_all(fd, buf, len);
		wipe_free(buf, len);
		if (r == -1)
			_exit(0);
	}
}

/* --- The daemon's side ------------------------------------------------ */

int
privsep_start(const char *conf_path)
{
	int sv[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		return -1;
	fflush(NULL);
	if ((pid = fork()) == -1) {
		int e = errno;

		close(sv[0]);
		close(sv[1]);
		errno = e;
		return -1;
	}
	if (pid == 0) {
		/* Only standard input, output, error and the socket stay:
		 * never a listening socket, a log directory or the pid
		 * file. */
		if (dup2(sv[1], 3) == -1)
			_exit(1);
		if (close_range(4, ~0U, 0) == -1) {
			long max = sysconf(_SC_OPEN_MAX);

			for (long fd = 4; fd < (max > 0 ? max : 65536); fd++)
				close((int)fd);
		}
		helper_main(3, conf_path);
	}
	close(sv[1]);
	helper_fd = sv[0];
	helper_pid = pid;
	return 0;
}

bool
privsep_running(void)
{
	return helper_fd != -1;
}

/*
 * Closes the daemon's end, which ends the helper, and reaps it; how it
 * ended goes to how ("killed by signal 9") when how is not NULL.
 */
static void
helper_end(char *how, size_t howlen)
{
	struct timespec ts = {0, 10 * 1000 * 1000};
	int status = 0;
	pid_t r = 0;

	if (helper_fd != -1)
		close(helper_fd);
	helper_fd = -1;
	if (helper_pid == -1)
		return;
	/* It ends as soon as it reads the end of the socket. */
	for (int i = 0; i < 300 && r != helper_pid; i++) {
		r = waitpid(helper_pid, &status, WNOHANG);
		if (r == -1 && errno != EINTR)
			break;
		if (r != helper_pid)
			nanosleep(&ts, NULL);
	}
	if (r == 0) {
		kill(helper_pid, SIGKILL);
		while ((r = waitpid(helper_pid, &status, 0)) == -1 &&
		       errno == EINTR)
			;
	}
	helper_pid = -1;
	if (how == NULL)
		return;
	if (r == -1)
		snprintf(how, howlen, "not found");
	else if (WIFSIGNALED(status))
		snprintf(how, howlen, "killed by signal %d", WTERMSIG(status));
	else
		snprintf(how, howlen, "exited with status %d",
		    WEXITSTATUS(status));
}

void
privsep_stop(void)
{
	helper_end(NULL, 0);
}

static long
ms_since(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t0->tv_sec) * 1000 +
	       (now.tv_nsec - t0->tv_nsec) / 1000000;
}

int
privsep_fetch(struct privsep_files **out, char *err, size_t errlen)
{
	unsigned char req = PRIVSEP_REQUEST, *buf = NULL, *nb;
	size_t len = 0, cap = 0;
	enum privsep_decode d = PRIVSEP_NEED_MORE;
	char why[256] = "", how[64] = "";
	struct timespec t0;
	bool gone = false;

	*out = NULL;
	if (helper_fd == -1) {
		snprintf(err, errlen, "no privileged helper");
		return -1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (write_all(helper_fd, &req, 1) == -1)
		gone = true;
	while (!gone && d == PRIVSEP_NEED_MORE) {
		struct pollfd pfd = {helper_fd, POLLIN, 0};
		long left = PRIVSEP_TIMEOUT_MS - ms_since(&t0);
		ssize_t r;
		int pr;

		if (left <= 0 || (pr = poll(&pfd, 1, (int)left)) == 0) {
			snprintf(why, sizeof(why), "no answer in %d s",
			    PRIVSEP_TIMEOUT_MS / 1000);
			break;
		}
		if (pr == -1) {
			if (errno == EINTR)
				continue;
			snprintf(why, sizeof(why), "poll: %s", strerror(errno));
			break;
		}
		if (len == cap) {
			size_t ncap = cap ? 2 * cap : 65536;

			if (ncap > PRIVSEP_ANSWER_MAX + 1)
				ncap = PRIVSEP_ANSWER_MAX + 1;
			if (ncap == cap || (nb = malloc(ncap)) == NULL) {
				snprintf(why, sizeof(why), "%s",
				    ncap == cap ? "answer too large" :
						  "out of memory");
				break;
			}
			if (len > 0)
				memcpy(nb, buf, len);
			wipe_free(buf, cap);
			buf = nb;
			cap = ncap;
		}
		r = read(helper_fd, buf + len, cap - len);
		if (r == -1 && errno == EINTR)
			continue;
		/* The end of the socket, or a reset: it is gone. */
		if (r <= 0) {
			gone = true;
			break;
		}
		len += (size_t)r;
		d = privsep_decode(buf, len, out, why, sizeof(why));
	}
	wipe_free(buf, cap);
	if (d == PRIVSEP_DONE)
		return 0;
	/* Out of step with it, or it is gone: it is not asked again. */
	helper_end(how, sizeof(how));
	if (gone)
		snprintf(err, errlen, "the privileged helper is gone (%s)",
		    how);
	else
		snprintf(err, errlen, "the privileged helper %s: %s (stopped)",
		    d == PRIVSEP_INVALID ? "sent a malformed answer" : "failed",
		    why);
	return -1;
}
