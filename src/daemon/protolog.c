/*
 * protolog: the writer thread, the files, rollover and retention.
 *
 * Event loops call protolog_submit(), which encodes the row, takes a
 * mutex for a few instructions and appends to a FIFO list: rows from one
 * worker, hence from one session, keep their order.  The writer thread
 * takes the whole list at once, groups consecutive rows of a file into
 * one write(2), and is the only code that touches the log directories.
 * When the disk stalls the list grows up to a bound; beyond it rows are
 * counted and dropped, so that a full or hung disk never holds up mail.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blockcache.h"
#include "log.h"
#include "proto.h"
#include "protolog.h"
#include "protolog_internal.h"

/* Bytes gathered per protocol before one write(2). */
#define WRITE_BUF_SIZE (64 * 1024)
/* At most one warning per minute about the same trouble. */
#define COMPLAIN_INTERVAL_MS (60 * 1000)
/* How often retention runs besides when a file is started. */
#define RETENTION_INTERVAL_MS (10 * 60 * 1000)
/*
 * Rows finish out of order by a few ms across workers.  A row a little
 * older than the newest one goes into the newest one's file, so that a
 * file is never reopened for a straggler; a clock set back by more than
 * this is followed.
 */
#define CLOCK_SLACK_MS (5 * 60 * 1000)

enum entry_kind { ENTRY_ROW, ENTRY_CONF };

/*
 * Rows go from the workers to the writer thread, which frees them: every
 * row would be a malloc() in one thread and a free() in another, glibc's
 * slow path both times (about 5% of a logged login's instructions).
 * Entries of one size, which holds nearly every row, go back to a list of
 * spares instead, up to a bound.  AddressSanitizer builds keep none, so
 * that a use after the writer is done is still seen.
 */
#define ENTRY_SPARE_SIZE 512
/* A variable rather than a macro: with none kept, a comparison with
 * a constant 0 would be one that is always false. */
static const size_t entry_spare_max = BLOCKCACHE_SANITIZED ? 0 : 256;

/* One item of the queue: an encoded row or a change of settings. */
struct entry {
	struct entry *next;
	enum entry_kind kind;
	enum proto_id proto;
	int64_t time_ms;
	size_t len;
	struct protolog_conf *conf; /* ENTRY_CONF: PROTO_COUNT of them */
	bool spare_sized; /* ENTRY_SPARE_SIZE bytes: may become a spare */
	char data[];
};

/* What the writer knows of one protocol's current file. */
struct plfile {
	enum proto_id proto;
	struct protolog_conf conf; /* directory owned here */
	int fd;                    /* -1: none open */
	char name[PROTOLOG_NAME_MAX];
	char date[16];
	unsigned n;
	int64_t pstart, pend; /* the period of the open file */
	int64_t last_ms;      /* time of the newest row */
	uint64_t size;        /* of the file, with the bytes in buf */
	bool has_rows;
	char *buf;
	size_t buflen;
	unsigned bufrows;
	int64_t complained_ms; /* last warning about this file */
	int64_t retention_ms;  /* next periodic retention */
	/* Rows lost to write errors; see lost_report(). */
	uint64_t lost_total;      /* since start-up */
	uint64_t lost_unreported; /* not yet in a message */
	int64_t warned_ms;        /* last "cannot write" about lost rows */
	int64_t noticed_ms;       /* last "writing again" */
	bool failing;             /* the last attempt to write failed */
	bool recovered;           /* wrote again since, not yet said */
	const char *fail_what;    /* how the last attempt failed ... */
	int fail_errno;           /* ... and why */
};

static struct {
	pthread_mutex_t mu;
	pthread_cond_t wake; /* the writer waits for rows */
	pthread_cond_t done; /* protolog_flush() waits for the writer */
	pthread_t thread;
	bool running;
	bool stopping;
	bool flush_wanted; /* protolog_flush() waits: no gathering */
	struct entry *head, **tail;
	size_t queue_bytes, queue_peak, queue_max;
	struct entry *spare; /* entries of ENTRY_SPARE_SIZE for new rows */
	size_t nspare;
	uint64_t queued_seq, done_seq;

	atomic_bool enabled[PROTO_COUNT];
	atomic_int detail[PROTO_COUNT];
	atomic_uint_fast64_t dropped, written, failed, bytes, opened, deleted;

	/* The writer thread's own. */
	struct plfile files[PROTO_COUNT];
	uint64_t drop_logged, drop_base, drop_seen;
	int64_t drop_log_ms;
} pl = {
    .mu = PTHREAD_MUTEX_INITIALIZER,
    .wake = PTHREAD_COND_INITIALIZER,
    .done = PTHREAD_COND_INITIALIZER,
};

/* Files. */

static void
file_complain(struct plfile *f, int64_t now, const char *what)
{
	int saved = errno;

	if (now - f->complained_ms < COMPLAIN_INTERVAL_MS)
		return;
	f->complained_ms = now;
	errno = saved;
	log_warn("%s protocol log: %s %s/%s", proto_name(f->proto), what,
	    f->conf.directory, f->name[0] ? f->name : "");
}

/* An attempt to open or write failed: remembered for lost_report(). */
static void
file_failed(struct plfile *f, const char *what)
{
	f->fail_what = what;
	f->fail_errno = errno;
}

/*
 * The daemon log hears of lost rows with their number, so that the
 * numbers of all the messages add up to every row lost: while writing
 * fails, at most once a minute; when writing works again, at most once a
 * minute too, so that a disk that stays nearly full, taking some writes
 * and refusing others, does not fill the daemon log instead (a recovery
 * within the minute is told when it is over, from periodic(), unless
 * writing failed again meanwhile); and, whatever the minute says, at
 * reload and at exit (when, non-NULL) if any row was ever lost.
 */
static void
lost_report(struct plfile *f, int64_t now, const char *when)
{
	const char *proto = proto_name(f->proto);
	unsigned long long n = f->lost_unreported, all = f->lost_total;

	if (when != NULL) {
		if (all == 0)
			return;
		log_warnx("%s protocol log: %s: %llu rows lost since the last "
			  "report, %llu in all",
		    proto, when, n, all);
		f->recovered = false;
	} else if (f->failing && n > 0) {
		if (now - f->warned_ms < COMPLAIN_INTERVAL_MS)
			return;
		f->warned_ms = now;
		log_warnx("%s protocol log: %s %s/%s: %s; %llu rows lost since "
			  "the last report, %llu in all",
		    proto, f->fail_what != NULL ? f->fail_what : "cannot write",
		    f->conf.directory != NULL ? f->conf.directory : "", f->name,
		    strerror(f->fail_errno), n, all);
	} else if (f->recovered) {
		if (now - f->noticed_ms < COMPLAIN_INTERVAL_MS)
			return;
		f->noticed_ms = now;
		log_notice("%s protocol log: writing again to %s/%s; %llu rows "
			   "lost since the last report, %llu in all",
		    proto, f->conf.directory != NULL ? f->conf.directory : "",
		    f->name, n, all);
		f->recovered = false;
	} else
		return;
	f->lost_unreported = 0;
}

/* rows could not be written: counted here, and only here. */
static void
file_lost(struct plfile *f, uint64_t rows)
{
	atomic_fetch_add(&pl.failed, rows);
	f->lost_total += rows;
	f->lost_unreported += rows;
	f->failing = true;
	f->recovered = false;
	lost_report(f, protolog_now(), NULL);
}

/* Rows reached the file. */
static void
file_wrote(struct plfile *f)
{
	if (!f->failing)
		return;
	f->failing = false;
	f->recovered = true;
	lost_report(f, protolog_now(), NULL);
}

static void
file_retention(struct plfile *f, int64_t now)
{
	int n;

	f->retention_ms = now + RETENTION_INTERVAL_MS;
	n = protolog_retention(f->conf.directory, f->proto,
	    f->conf.file_age_limit_ms, f->conf.directory_size_quota, now,
	    f->fd >= 0 ? f->name : NULL);
	if (n > 0) {
		atomic_fetch_add(&pl.deleted, (uint64_t)n);
		log_info("%s protocol log: deleted %d old file(s) in %s",
		    proto_name(f->proto), n, f->conf.directory);
	}
}

/* Writes all of buf; 0, or -1 with errno. */
static int
write_all(int fd, const char *buf, size_t len)
{
	ssize_t n;

	while (len > 0) {
		if ((n = write(fd, buf, len)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0) {
			errno = EIO;
			return -1;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static void
file_close(struct plfile *f)
{
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
}

/* Writes the buffered rows; on failure they are lost and counted. */
static void
file_flush(struct plfile *f)
{
	uint64_t before = f->size - f->buflen;

	if (f->buflen == 0)
		return;
	if (f->fd >= 0 && write_all(f->fd, f->buf, f->buflen) == 0) {
		atomic_fetch_add(&pl.written, f->bufrows);
		atomic_fetch_add(&pl.bytes, f->buflen);
		file_wrote(f);
	} else {
		file_failed(f, "cannot write");
		/* Cut what got written of a partial row, so that the next
		 * row starts on a line of its own: the rows of the buffer
		 * are then wholly lost, as they are counted. */
		if (f->fd >= 0 && ftruncate(f->fd, (off_t)before) == -1)
			file_complain(f, protolog_now(), "cannot truncate");
		file_lost(f, f->bufrows);
		f->size = before;
		/* Reopen for the next row: the directory may have been
		 * replaced or made writable again meanwhile. */
		file_close(f);
	}
	f->buflen = 0;
	f->bufrows = 0;
}

/*
 * Opens the file numbered n (0: the highest existing one, or 1) of date
 * f->date, and writes the header when it is empty.
 */
static int
file_open(struct plfile *f, unsigned n, int64_t ms)
{
	char hdr[1024];
	struct stat st;
	size_t hlen;
	int fd, dfd;

	/* The directory may have been removed meanwhile: made again. */
	dfd = protolog_dir_open(f->conf.directory);
	if (dfd == -1 && errno == ENOENT &&
	    protolog_mkdirs(f->conf.directory, 0750) == 0)
		dfd = protolog_dir_open(f->conf.directory);
	if (dfd == -1) {
		file_failed(f, "cannot open");
		return -1;
	}
	if (n == 0) {
		n = protolog_highest_n(f->conf.directory, f->proto, f->date);
		if (n == 0)
			n = 1;
		else if (f->conf.per_file_size_quota > 0) {
			protolog_file_name(proto_name(f->proto), f->date, n,
			    f->name);
			if (fstatat(dfd, f->name, &st, 0) == 0 &&
			    (uint64_t)st.st_size >= f->conf.per_file_size_quota)
				n++;
		}
	}
	f->n = n;
	protolog_file_name(proto_name(f->proto), f->date, n, f->name);
	fd = openat(dfd, f->name,
	    O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
	close(dfd);
	if (fd == -1) {
		file_failed(f, "cannot open");
		return -1;
	}
	if (fstat(fd, &st) == -1) {
		file_failed(f, "cannot stat");
		close(fd);
		return -1;
	}
	f->size = (uint64_t)st.st_size;
	f->has_rows = f->size > 0;
	if (f->size == 0) {
		hlen =
		    protolog_header(proto_name(f->proto), ms, hdr, sizeof(hdr));
		if (write_all(fd, hdr, hlen) == -1) {
			file_failed(f, "cannot write");
			/* Never leave half a header behind. */
			if (ftruncate(fd, 0) == -1)
				file_complain(f, protolog_now(),
				    "cannot truncate");
			close(fd);
			return -1;
		}
		f->size = hlen;
	}
	f->fd = fd;
	atomic_fetch_add(&pl.opened, 1);
	file_retention(f, protolog_now());
	return 0;
}

/* Puts one row into the file it belongs to. */
static void
file_row(struct plfile *f, const struct entry *e)
{
	int64_t ms = e->time_ms;
	char date[16];

	if (!f->conf.enabled)
		return;
	if (ms < f->last_ms && f->last_ms - ms < CLOCK_SLACK_MS)
		ms = f->last_ms;
	f->last_ms = ms;
	if (f->fd < 0 || ms < f->pstart || ms >= f->pend) {
		protolog_period(f->conf.rollover, f->conf.per_file_size_quota,
		    ms, date, &f->pstart, &f->pend);
		if (f->fd < 0 || strcmp(date, f->date) != 0) {
			file_flush(f);
			file_close(f);
			memcpy(f->date, date, sizeof(date));
			if (file_open(f, 0, ms) == -1)
				goto lost;
		}
	}
	/* A file passes its quota by at most one row. */
	if (f->conf.per_file_size_quota > 0 && f->has_rows &&
	    f->size >= f->conf.per_file_size_quota) {
		file_flush(f);
		file_close(f);
		if (file_open(f, f->n + 1, ms) == -1)
			goto lost;
	}
	if (f->buflen + e->len > WRITE_BUF_SIZE)
		file_flush(f);
	if (f->fd < 0)
		goto lost;
	if (e->len > WRITE_BUF_SIZE) {
		if (write_all(f->fd, e->data, e->len) == 0) {
			atomic_fetch_add(&pl.written, 1);
			atomic_fetch_add(&pl.bytes, e->len);
			f->size += e->len;
			f->has_rows = true;
			file_wrote(f);
			return;
		}
		file_failed(f, "cannot write");
		if (ftruncate(f->fd, (off_t)f->size) == -1)
			file_complain(f, protolog_now(), "cannot truncate");
		file_close(f);
		goto lost;
	}
	memcpy(f->buf + f->buflen, e->data, e->len);
	f->buflen += e->len;
	f->bufrows++;
	f->size += e->len;
	f->has_rows = true;
	return;
lost:
	file_lost(f, 1);
}

/* Takes over c (a PROTO_COUNT array whose directories it owns). */
static void
files_configure(struct protolog_conf *c)
{
	struct plfile *f;
	int p;

	for (p = 0; p < PROTO_COUNT; p++) {
		f = &pl.files[p];
		file_flush(f);
		file_close(f);
		lost_report(f, protolog_now(), "at reload");
		free(f->conf.directory);
		f->conf = c[p];
		f->date[0] = '\0';
		f->name[0] = '\0';
		f->pstart = f->pend = 0;
		f->retention_ms = 0;
	}
	free(c);
}

/* The daemon log hears of dropped rows once a minute, and when they stop. */
static void
report_drops(int64_t now)
{
	uint64_t d = atomic_load(&pl.dropped);

	if (d > pl.drop_logged &&
	    now - pl.drop_log_ms >= COMPLAIN_INTERVAL_MS) {
		log_warnx("protocol log: writer behind, %llu rows dropped",
		    (unsigned long long)(d - pl.drop_base));
		pl.drop_logged = d;
		pl.drop_log_ms = now;
	} else if (d > pl.drop_base && d == pl.drop_seen) {
		log_notice("protocol log: writer caught up, %llu rows were "
			   "dropped",
		    (unsigned long long)(d - pl.drop_base));
		pl.drop_base = pl.drop_logged = d;
	}
	pl.drop_seen = d;
}

static void
periodic(void)
{
	int64_t now = protolog_now();
	struct plfile *f;
	int p;

	report_drops(now);
	for (p = 0; p < PROTO_COUNT; p++) {
		f = &pl.files[p];
		lost_report(f, now, NULL);
		if (f->conf.enabled && now >= f->retention_ms &&
		    f->conf.directory != NULL)
			file_retention(f, now);
	}
}

static void *
writer_main(void *arg)
{
	struct entry *batch, *e, *next, *keep;
	struct timespec ts;
	uint64_t seq;
	int p;

	(void)arg;
	pthread_mutex_lock(&pl.mu);
	for (;;) {
		while (pl.head == NULL && !pl.stopping) {
			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_sec += 1;
			pthread_cond_timedwait(&pl.wake, &pl.mu, &ts);
			if (pl.head == NULL) {
				pthread_mutex_unlock(&pl.mu);
				periodic();
				pthread_mutex_lock(&pl.mu);
			}
		}
		if (pl.head == NULL && pl.stopping)
			break;
		/* Rows go to the file in well under a second all the same. */
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += PROTOLOG_GATHER_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		while (
		    !pl.stopping && !pl.flush_wanted &&
		    pl.queue_bytes <= pl.queue_max / 2 &&
		    pthread_cond_timedwait(&pl.wake, &pl.mu, &ts) != ETIMEDOUT)
			;
		pl.flush_wanted = false;
		batch = pl.head;
		pl.head = NULL;
		pl.tail = &pl.head;
		pl.queue_bytes = 0;
		seq = pl.queued_seq;
		pthread_mutex_unlock(&pl.mu);

		keep = NULL;
		for (e = batch; e != NULL; e = next) {
			next = e->next;
			if (e->kind == ENTRY_CONF)
				files_configure(e->conf);
			else
				file_row(&pl.files[e->proto], e);
			if (e->spare_sized) {
				e->next = keep;
				keep = e;
			} else
				free(e);
		}
		for (p = 0; p < PROTO_COUNT; p++)
			file_flush(&pl.files[p]);
		periodic();

		pthread_mutex_lock(&pl.mu);
		while (keep != NULL && pl.nspare < entry_spare_max) {
			e = keep;
			keep = e->next;
			e->next = pl.spare;
			pl.spare = e;
			pl.nspare++;
		}
		for (; keep != NULL; keep = next) {
			next = keep->next;
			free(keep);
		}
		pl.done_seq = seq;
		pthread_cond_broadcast(&pl.done);
	}
	pthread_mutex_unlock(&pl.mu);
	for (p = 0; p < PROTO_COUNT; p++) {
		file_flush(&pl.files[p]);
		file_close(&pl.files[p]);
		lost_report(&pl.files[p], protolog_now(), "at exit");
	}
	pl.drop_seen = atomic_load(&pl.dropped);
	report_drops(protolog_now());
	return NULL;
}

/* Control. */

/* Checks the settings and copies them, directories included. */
static struct protolog_conf *
conf_copy(const struct protolog_conf conf[PROTO_COUNT], char *err,
    size_t errlen)
{
	struct protolog_conf *c;
	int p;

	for (p = 0; p < PROTO_COUNT; p++)
		if (conf[p].enabled &&
		    protolog_check_dir(conf[p].directory, err, errlen) == -1)
			return NULL;
	if ((c = calloc(PROTO_COUNT, sizeof(*c))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	for (p = 0; p < PROTO_COUNT; p++) {
		c[p] = conf[p];
		c[p].directory = NULL;
		if (conf[p].directory != NULL &&
		    (c[p].directory = strdup(conf[p].directory)) == NULL) {
			while (p-- > 0)
				free(c[p].directory);
			free(c);
			snprintf(err, errlen, "out of memory");
			return NULL;
		}
	}
	return c;
}

/* Makes c the settings that submit() follows; with pl.mu held. */
static void
publish(const struct protolog_conf *c)
{
	int p;

	for (p = 0; p < PROTO_COUNT; p++) {
		atomic_store(&pl.detail[p], (int)c[p].detail);
		atomic_store(&pl.enabled[p], c[p].enabled);
	}
}

/* Frees the writer's files' buffers and settings and the directories'
 * locks, once the writer thread is gone (or never started). */
static void
files_release(void)
{
	for (int p = 0; p < PROTO_COUNT; p++) {
		free(pl.files[p].buf);
		free(pl.files[p].conf.directory);
		pl.files[p].buf = NULL;
		pl.files[p].conf.directory = NULL;
	}
	protolog_unlock_dirs();
}

int
protolog_start(const struct protolog_conf conf[PROTO_COUNT], size_t queue_max,
    char *err, size_t errlen)
{
	struct protolog_conf *c;
	pthread_condattr_t ca;
	sigset_t all, old;
	int p, rc;

	if (pl.running) {
		snprintf(err, errlen, "protocol log writer already running");
		return -1;
	}
	if ((c = conf_copy(conf, err, errlen)) == NULL)
		return -1;
	if (protolog_lock_dirs(conf, err, errlen) == -1) {
		for (p = 0; p < PROTO_COUNT; p++)
			free(c[p].directory);
		free(c);
		return -1;
	}
	memset(pl.files, 0, sizeof(pl.files));
	for (p = 0; p < PROTO_COUNT; p++) {
		pl.files[p].proto = (enum proto_id)p;
		pl.files[p].fd = -1;
		if ((pl.files[p].buf = malloc(WRITE_BUF_SIZE)) == NULL) {
			while (p-- > 0)
				free(pl.files[p].buf);
			for (p = 0; p < PROTO_COUNT; p++)
				free(c[p].directory);
			free(c);
			protolog_unlock_dirs();
			snprintf(err, errlen, "out of memory");
			return -1;
		}
	}
	files_configure(c);

	/* The writer's timed waits must not jump with the wall clock. */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_destroy(&pl.wake);
	pthread_cond_init(&pl.wake, &ca);
	pthread_condattr_destroy(&ca);

	pl.head = NULL;
	pl.tail = &pl.head;
	pl.queue_bytes = pl.queue_peak = 0;
	pl.queue_max = queue_max > 0 ? queue_max : PROTOLOG_QUEUE_MAX_DEFAULT;
	pl.queued_seq = pl.done_seq = 0;
	pl.stopping = false;
	pl.flush_wanted = false;
	atomic_store(&pl.dropped, 0);
	atomic_store(&pl.written, 0);
	atomic_store(&pl.failed, 0);
	atomic_store(&pl.bytes, 0);
	atomic_store(&pl.opened, 0);
	atomic_store(&pl.deleted, 0);
	pl.drop_logged = pl.drop_base = pl.drop_seen = 0;
	pl.drop_log_ms = 0;

	/* Signals are for the main thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&pl.thread, NULL, writer_main, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		snprintf(err, errlen, "protocol log writer: %s", strerror(rc));
		files_release();
		return -1;
	}
	pthread_mutex_lock(&pl.mu);
	pl.running = true;
	publish(conf);
	pthread_mutex_unlock(&pl.mu);
	return 0;
}

int
protolog_reconfigure(const struct protolog_conf conf[PROTO_COUNT], char *err,
    size_t errlen)
{
	struct protolog_conf *c;
	struct entry *e;

	if ((c = conf_copy(conf, err, errlen)) == NULL)
		return -1;
	if ((e = calloc(1, sizeof(*e))) == NULL) {
		for (int p = 0; p < PROTO_COUNT; p++)
			free(c[p].directory);
		free(c);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (protolog_lock_dirs(conf, err, errlen) == -1) {
		for (int p = 0; p < PROTO_COUNT; p++)
			free(c[p].directory);
		free(c);
		free(e);
		return -1;
	}
	e->kind = ENTRY_CONF;
	e->conf = c;
	pthread_mutex_lock(&pl.mu);
	if (!pl.running) {
		pthread_mutex_unlock(&pl.mu);
		protolog_unlock_dirs();
		for (int p = 0; p < PROTO_COUNT; p++)
			free(c[p].directory);
		free(c);
		free(e);
		snprintf(err, errlen, "protocol log writer not running");
		return -1;
	}
	/* A change of settings is never dropped: it is small and rare. */
	*pl.tail = e;
	pl.tail = &e->next;
	pl.queued_seq++;
	publish(conf);
	pthread_cond_signal(&pl.wake);
	pthread_mutex_unlock(&pl.mu);
	return 0;
}

bool
protolog_enabled(enum proto_id p)
{
	return (unsigned)p < PROTO_COUNT && atomic_load(&pl.enabled[p]);
}

enum protolog_detail
protolog_detail(enum proto_id p)
{
	if ((unsigned)p >= PROTO_COUNT)
		return PROTOLOG_DETAIL_COMMANDS;
	return (enum protolog_detail)atomic_load(&pl.detail[p]);
}

/* An entry with room for a row of n bytes and its NUL; a spare if any. */
static struct entry *
entry_new(size_t n)
{
	struct entry *e = NULL;

	if (sizeof(*e) + n + 1 > ENTRY_SPARE_SIZE) {
		if ((e = malloc(sizeof(*e) + n + 1)) != NULL)
			e->spare_sized = false;
		return e;
	}
	pthread_mutex_lock(&pl.mu);
	if ((e = pl.spare) != NULL) {
		pl.spare = e->next;
		pl.nspare--;
	}
	pthread_mutex_unlock(&pl.mu);
	if (e == NULL && (e = malloc(ENTRY_SPARE_SIZE)) == NULL)
		return NULL;
	e->spare_sized = true;
	return e;
}

void
protolog_submit(enum proto_id p, const struct protolog_row *row)
{
	struct protolog_row r;
	char line[4096];
	struct entry *e;
	size_t n, cost;
	bool was_empty;

	if (!protolog_enabled(p))
		return;
	r = *row;
	if (r.time_ms == 0)
		r.time_ms = protolog_now();
	n = protolog_encode(&r, line, sizeof(line));
	if ((e = entry_new(n)) == NULL) {
		atomic_fetch_add(&pl.dropped, 1);
		return;
	}
	if (n < sizeof(line))
		memcpy(e->data, line, n);
	else
		protolog_encode(&r, e->data, n + 1);
	e->next = NULL;
	e->kind = ENTRY_ROW;
	e->proto = p;
	e->time_ms = r.time_ms;
	e->len = n;
	e->conf = NULL;
	cost = sizeof(*e) + n;

	pthread_mutex_lock(&pl.mu);
	if (!pl.running || pl.stopping ||
	    pl.queue_bytes + cost > pl.queue_max) {
		pthread_mutex_unlock(&pl.mu);
		atomic_fetch_add(&pl.dropped, 1);
		free(e);
		return;
	}
	was_empty = pl.head == NULL;
	*pl.tail = e;
	pl.tail = &e->next;
	pl.queue_bytes += cost;
	if (pl.queue_bytes > pl.queue_peak)
		pl.queue_peak = pl.queue_bytes;
	pl.queued_seq++;
	/* The writer sleeps on an empty queue, then gathers rows until
	 * PROTOLOG_GATHER_MS passed or the queue is half full. */
	if (was_empty || (pl.queue_bytes > pl.queue_max / 2 &&
			     pl.queue_bytes - cost <= pl.queue_max / 2))
		pthread_cond_signal(&pl.wake);
	pthread_mutex_unlock(&pl.mu);
}

void
protolog_flush(void)
{
	uint64_t target;

	pthread_mutex_lock(&pl.mu);
	target = pl.queued_seq;
	if (pl.done_seq < target)
		pl.flush_wanted = true;
	pthread_cond_signal(&pl.wake);
	while (pl.running && pl.done_seq < target)
		pthread_cond_wait(&pl.done, &pl.mu);
	pthread_mutex_unlock(&pl.mu);
}

void
protolog_stop(void)
{
	int p;

	pthread_mutex_lock(&pl.mu);
	if (!pl.running) {
		pthread_mutex_unlock(&pl.mu);
		return;
	}
	for (p = 0; p < PROTO_COUNT; p++)
		atomic_store(&pl.enabled[p], false);
	pl.stopping = true;
	pthread_cond_signal(&pl.wake);
	pthread_mutex_unlock(&pl.mu);
	pthread_join(pl.thread, NULL);

	pthread_mutex_lock(&pl.mu);
	pl.running = false;
	pl.stopping = false;
	while (pl.spare != NULL) {
		struct entry *e = pl.spare;

		pl.spare = e->next;
		free(e);
	}
	pl.nspare = 0;
	pthread_cond_broadcast(&pl.done);
	pthread_mutex_unlock(&pl.mu);
	files_release();
}

void
protolog_get_stats(struct protolog_stats *st)
{
	st->rows_written = atomic_load(&pl.written);
	st->rows_dropped = atomic_load(&pl.dropped);
	st->rows_failed = atomic_load(&pl.failed);
	st->bytes_written = atomic_load(&pl.bytes);
	st->files_opened = atomic_load(&pl.opened);
	st->files_deleted = atomic_load(&pl.deleted);
	pthread_mutex_lock(&pl.mu);
	st->queue_bytes = pl.queue_bytes;
	st->queue_peak = pl.queue_peak;
	pthread_mutex_unlock(&pl.mu);
}
