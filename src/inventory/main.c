/*
 * postern-inventory: who still uses POP3 and IMAP4, and who would break if
 * cleartext login without TLS were refused.  Reads postern's and
 * Exchange's protocol logs; see postern-inventory(1).
 *
 * Files are read in parallel, one file per task, each thread filling its
 * own inventory; the inventories are added up at the end.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "exlogname.h"
#include "exlogread.h"
#include "inventory.h"
#include "invreport.h"

#define PROGNAME "postern-inventory"

/* Big enough that the per-call cost of read() vanishes, small enough to
 * stay in the second-level cache of most machines. */
#define READ_BLOCK (1024 * 1024)

/* Input larger than this gets a progress line on a terminal. */
#define PROGRESS_MIN_BYTES (256ull * 1024 * 1024)

#define MAX_THREADS 64

struct job {
	char *path;
	size_t server;
	enum exlog_proto proto;
	off_t size;
};

struct jobs {
	struct job *v;
	size_t n, cap;
};

struct servers {
	char **v;
	size_t n, cap;
};

struct worker {
	pthread_t tid;
	struct inventory *inv;
	int failed; /* files that could not be read */
};

/* Shared by the workers: the next job to take, and progress counters. */
static struct jobs jobs;
static atomic_size_t next_job;
static atomic_uint_fast64_t bytes_done;
static atomic_size_t files_done;
static atomic_int workers_left;
static struct inv_options inv_opts;
static bool quiet;

static void
usage(FILE *fp)
{
	fprintf(fp,
	    "usage: " PROGNAME
	    " [--since 30d] [--until DATE] [--protocol pop3|imap]\n"
	    "           [--by client|user|client,user|software|backend|\n"
	    "                 backend,user|mechanism]\n"
	    "           [--login-type SecureLogin|PlainTextAuthentication|\n"
	    "                         PlainTextLogin]\n"
	    "           [--format table|csv|json|html] [--output FILE]\n"
	    "           [--exclude-user PATTERN]... [--threads N] [--quiet]\n"
	    "           [--server-name NAME] PATH...\n"
	    "\n"
	    "Reads POP3/IMAP4 protocol logs written by postern or Microsoft Exchange\n"
	    "(files or directories, searched recursively for\n"
	    "POP3|POP3BE|IMAP4|IMAP4BE<date>-<N>.LOG, also .gz) and reports who still\n"
	    "uses POP3 and IMAP4, how they log in, and who would break under the\n"
	    "login type (default SecureLogin: every login without TLS refused).\n"
	    "--server-name names the server of the PATH after it.\n"
	    "See postern-inventory(1).\n");
}

/* "postern-inventory: PATH: WHAT" unless --quiet. */
static void
warn_path(const char *path, const char *what)
{
	if (quiet)
		return;
	fprintf(stderr, PROGNAME ": %s: %s\n", path, what);
}

static int
servers_add(struct servers *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->v[i], name) == 0)
			return (int)i;
	if (s->n == s->cap) {
		size_t ncap = s->cap ? s->cap * 2 : 8;
		char **nv = realloc(s->v, ncap * sizeof(*nv));

		if (nv == NULL)
			return -1;
		s->v = nv;
		s->cap = ncap;
	}
	if ((s->v[s->n] = strdup(name)) == NULL)
		return -1;
	return (int)s->n++;
}

static int
jobs_add(const char *path, size_t server, enum exlog_proto proto, off_t size)
{
	if (jobs.n == jobs.cap) {
		size_t ncap = jobs.cap ? jobs.cap * 2 : 256;
		struct job *nv = realloc(jobs.v, ncap * sizeof(*nv));

		if (nv == NULL)
			return -1;
		jobs.v = nv;
		jobs.cap = ncap;
	}
	if ((jobs.v[jobs.n].path = strdup(path)) == NULL)
		return -1;
	jobs.v[jobs.n].server = server;
	jobs.v[jobs.n].proto = proto;
	jobs.v[jobs.n].size = size;
	jobs.n++;
	return 0;
}

/* The default server name of a path: a directory's own name, or the name
 * of the directory a file is in. */
static void
server_name_of(const char *path, bool isdir, char *buf, size_t cap)
{
	char tmp[PATH_MAX], *p, *end;

	if (realpath(path, tmp) == NULL)
		snprintf(tmp, sizeof(tmp), "%s", path);
	if (!isdir && (p = strrchr(tmp, '/')) != NULL)
		*p = '\0';
	end = tmp + strlen(tmp);
	while (end > tmp + 1 && end[-1] == '/')
		*--end = '\0';
	p = strrchr(tmp, '/');
	snprintf(buf, cap, "%s", p != NULL && p[1] != '\0' ? p + 1 : tmp);
}

/*
 * Adds the log files under a directory, or notes them as skipped when the
 * date in their name lies outside --since/--until.
 */
static int
walk(struct inventory *notes, const char *dir, size_t server, int depth)
{
	DIR *d;
	struct dirent *de;
	int rc = 0;

	if (depth > 32)
		return 0;
	if ((d = opendir(dir)) == NULL) {
		warn_path(dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		char path[PATH_MAX];
		struct exlog_name nm;
		struct stat st;

		if (de->d_name[0] == '.' &&
		    (de->d_name[1] == '\0' ||
			(de->d_name[1] == '.' && de->d_name[2] == '\0')))
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir,
			de->d_name) >= sizeof(path))
			continue;
		if (de->d_type == DT_DIR ||
		    (de->d_type == DT_UNKNOWN && stat(path, &st) == 0 &&
			S_ISDIR(st.st_mode))) {
			if (walk(notes, path, server, depth + 1) < 0)
				rc = -1;
			continue;
		}
		if (exlog_name_parse(de->d_name, &nm) < 0)
			continue;
		if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
			continue;
		if (inventory_skip_name(notes, &nm)) {
			inventory_note_file(notes, path, server, true, false);
			continue;
		}
		if (jobs_add(path, server, nm.proto, st.st_size) < 0) {
			rc = -1;
			break;
		}
	}
	closedir(d);
	return rc;
}

static void
feed(struct inv_file *f, struct exlog_reader *r, const char *buf, size_t n)
{
	struct exlog_row row;
	size_t off = 0, used;

	while (off < n) {
		enum exlog_result res =
		    exlog_read(r, buf + off, n - off, &used, &row);

		off += used;
		if (res == EXLOG_ROW)
			inv_file_row(f, &row, r->logtype);
		else if (res == EXLOG_BAD)
			inv_file_bad(f, row.line, row.bad);
		else
			break;
	}
}

/*
 * Reads a plain file through a read-only mapping, which spares the copy
 * read() makes; returns false (nothing read) for gzip files and when the
 * file cannot be mapped, so that the caller reads it the ordinary way.
 */
static bool
map_file(struct worker *w, const struct job *j, int fd, struct inv_file *f,
    struct exlog_reader *r)
{
	struct stat st;
	const char *m;
	size_t size, off;

	(void)w;
	(void)j;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size < 2 ||
	    (uint64_t)st.st_size > SIZE_MAX)
		return false;
	size = (size_t)st.st_size;
	m = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (m == MAP_FAILED)
		return false;
	if ((unsigned char)m[0] == 0x1f && (unsigned char)m[1] == 0x8b) {
		munmap((void *)(uintptr_t)m, size);
		return false;
	}
	(void)madvise((void *)(uintptr_t)m, size, MADV_SEQUENTIAL);
	(void)madvise((void *)(uintptr_t)m, size, MADV_WILLNEED);
	/* In steps, so that the progress line moves. */
	for (off = 0; off < size; off += READ_BLOCK * 4) {
		size_t n =
		    size - off < READ_BLOCK * 4 ? size - off : READ_BLOCK * 4;

		feed(f, r, m + off, n);
		atomic_fetch_add(&bytes_done, (uint_fast64_t)n);
	}
	inv_file_bytes(f, size);
	munmap((void *)(uintptr_t)m, size);
	return true;
}

/* Reads one file, plain or gzip, into the worker's inventory. */
static void
read_file(struct worker *w, const struct job *j, char *buf)
{
	struct exlog_reader r;
	struct exlog_row row;
	enum exlog_result res;
	struct inv_file *f;
	ssize_t n;
	int fd, err = 0;

	if ((fd = open(j->path, O_RDONLY | O_CLOEXEC)) < 0) {
		warn_path(j->path, strerror(errno));
		inventory_note_file(w->inv, j->path, j->server, false, true);
		w->failed++;
		return;
	}
	if (exlog_reader_init(&r) < 0 || (f = inv_file_begin(w->inv, j->path,
					      j->server, j->proto)) == NULL) {
		warn_path(j->path, strerror(ENOMEM));
		exlog_reader_free(&r);
		close(fd);
		w->failed++;
		return;
	}
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	if (map_file(w, j, fd, f, &r)) {
		close(fd);
		goto done;
	}
	n = read(fd, buf, READ_BLOCK);
	if (n >= 2 && (unsigned char)buf[0] == 0x1f &&
	    (unsigned char)buf[1] == 0x8b) {
		gzFile gz;
		int gn;

		/* gzip: start over through zlib, which reads the magic itself.
		 */
		if (lseek(fd, 0, SEEK_SET) < 0 ||
		    (gz = gzdopen(fd, "rb")) == NULL) {
			err = errno ? errno : ENOMEM;
			close(fd);
		} else {
			fd = -1;
			gzbuffer(gz, 256 * 1024);
			while ((gn = gzread(gz, buf, READ_BLOCK)) > 0) {
				feed(f, &r, buf, (size_t)gn);
				atomic_fetch_add(&bytes_done,
				    (uint_fast64_t)(gn / 8 + 1));
			}
			if (gn < 0) {
				int zerr;
				const char *msg = gzerror(gz, &zerr);

				warn_path(j->path, msg);
				w->failed++;
			}
			inv_file_bytes(f, (uint64_t)gzoffset(gz));
			gzclose(gz);
		}
	} else {
		uint64_t total = 0;

		while (n > 0) {
			feed(f, &r, buf, (size_t)n);
			total += (uint64_t)n;
			atomic_fetch_add(&bytes_done, (uint_fast64_t)n);
			n = read(fd, buf, READ_BLOCK);
		}
		if (n < 0)
			err = errno;
		inv_file_bytes(f, total);
		close(fd);
	}
	if (err != 0) {
		warn_path(j->path, strerror(err));
		w->failed++;
	}
done:
	if ((res = exlog_finish(&r, &row)) == EXLOG_ROW)
		inv_file_row(f, &row, r.logtype);
	else if (res == EXLOG_BAD)
		inv_file_bad(f, row.line, row.bad);
	exlog_reader_free(&r);
	if (inv_file_end(f) < 0)
		w->failed++;
	atomic_fetch_add(&files_done, 1);
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	char *buf = malloc(READ_BLOCK);
	size_t i;

	if (buf != NULL)
		while ((i = atomic_fetch_add(&next_job, 1)) < jobs.n)
			read_file(w, &jobs.v[i], buf);
	else
		w->failed++;
	free(buf);
	atomic_fetch_sub(&workers_left, 1);
	return NULL;
}

static int
job_cmp(const void *a, const void *b)
{
	const struct job *x = a, *y = b;

	/* Largest first, so that no thread is left with a big file at the
	 * end while the others idle. */
	if (x->size != y->size)
		return x->size > y->size ? -1 : 1;
	return strcmp(x->path, y->path);
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
progress(uint64_t total, bool final)
{
	uint64_t done = atomic_load(&bytes_done);

	if (final) {
		fprintf(stderr, "\r%60s\r", "");
		return;
	}
	fprintf(stderr,
	    "\r" PROGNAME ": %" PRIu64 "/%" PRIu64 " MB (%u%%), %zu/%zu files ",
	    done >> 20, total >> 20,
	    total ? (unsigned)(done * 100 / total) : 100u,
	    atomic_load(&files_done), jobs.n);
}

/* Writes the malformed rows to stderr, a few per file. */
static void
report_bad(const struct inventory *inv)
{
	const struct inv_bad_row *bad;
	const struct inv_file_info *files;
	size_t nb = inventory_bad_rows(inv, &bad), i;
	size_t nf = inventory_files(inv, &files);
	size_t *shown = calloc(nf ? nf : 1, sizeof(*shown));

	if (quiet || shown == NULL) {
		free(shown);
		return;
	}
	for (i = 0; i < nb; i++) {
		if (shown[bad[i].file]++ >= 10)
			continue;
		fprintf(stderr, PROGNAME ": %s:%" PRIu64 ": %s, row skipped\n",
		    files[bad[i].file].path, bad[i].line,
		    exlog_bad_name(bad[i].why));
	}
	for (i = 0; i < nf; i++)
		if (files[i].bad > shown[i] ||
		    (files[i].bad > 0 && shown[i] > 10))
			fprintf(stderr,
			    PROGNAME ": %s: %" PRIu64
				     " malformed rows in all\n",
			    files[i].path, files[i].bad);
	free(shown);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"since", required_argument, NULL, 's'},
	    {"until", required_argument, NULL, 'u'},
	    {"protocol", required_argument, NULL, 'p'},
	    {"by", required_argument, NULL, 'b'},
	    {"login-type", required_argument, NULL, 'L'},
	    {"format", required_argument, NULL, 'f'},
	    {"output", required_argument, NULL, 'o'},
	    {"server-name", required_argument, NULL, 'n'},
	    {"exclude-user", required_argument, NULL, 'x'},
	    {"threads", required_argument, NULL, 'j'},
	    {"quiet", no_argument, NULL, 'q'}, {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'}, {NULL, 0, NULL, 0}};
	struct invreport_options ro = {.format = INVREPORT_TABLE,
	    .version = PACKAGE_VERSION};
	struct servers servers = {0};
	struct worker workers[MAX_THREADS];
	struct inventory *notes = NULL, *total;
	const char *output = NULL, *server_name = NULL;
	const char *since = NULL, *until = NULL;
	char **paths = NULL;
	const char **pnames = NULL, **excludes = NULL;
	size_t npaths = 0, i;
	long want_threads = 0, nthreads = 0; /* workers[0..nthreads) set up */
	uint64_t total_bytes = 0;
	int c, rc = 0, failed = 0;
	FILE *out = stdout;

	inv_opts.since_ms = INT64_MIN;
	inv_opts.until_ms = INT64_MAX;
	inv_opts.protocols = INV_POP3 | INV_IMAP4;
	inv_opts.by = INV_BY_CLIENT;
	ro.now_ms = now_ms();
	if ((paths = calloc((size_t)argc, sizeof(*paths))) == NULL ||
	    (pnames = calloc((size_t)argc, sizeof(*pnames))) == NULL ||
	    (excludes = calloc((size_t)argc, sizeof(*excludes))) == NULL) {
		fprintf(stderr, PROGNAME ": out of memory\n");
		rc = 1;
		goto finish;
	}
	/* A leading '-' hands back the paths in order (as option 1), so that
	 * --server-name applies to the path that follows it. */
	while ((c = getopt_long(argc, argv, "-s:u:p:b:L:f:o:n:x:j:qhV",
		    longopts, NULL)) != -1) {
		switch (c) {
		case 1:
			paths[npaths] = optarg;
			pnames[npaths++] = server_name;
			server_name = NULL;
			break;
		case 's':
			since = optarg;
			break;
		case 'u':
			until = optarg;
			break;
		case 'p':
			if (strcasecmp(optarg, "pop3") == 0 ||
			    strcasecmp(optarg, "pop") == 0)
				inv_opts.protocols = INV_POP3;
			else if (strcasecmp(optarg, "imap") == 0 ||
				 strcasecmp(optarg, "imap4") == 0)
				inv_opts.protocols = INV_IMAP4;
			else {
				fprintf(stderr,
				    PROGNAME ": --protocol: pop3 or imap\n");
				rc = 2;
				goto finish;
			}
			break;
		case 'b':
			if (inventory_parse_by(optarg, &inv_opts.by) < 0) {
				fprintf(stderr,
				    PROGNAME ": --by: client, user, "
					     "client,user, software, backend, "
					     "backend,user or mechanism\n");
				rc = 2;
				goto finish;
			}
			break;
		case 'L':
			if (inventory_parse_login_type(optarg,
				&inv_opts.login_type) < 0) {
				fprintf(stderr,
				    PROGNAME ": --login-type: SecureLogin, "
					     "PlainTextAuthentication or "
					     "PlainTextLogin\n");
				rc = 2;
				goto finish;
			}
			break;
		case 'f':
			if (invreport_parse_format(optarg, &ro.format) < 0) {
				fprintf(stderr,
				    PROGNAME ": --format: table, csv, "
					     "json or html\n");
				rc = 2;
				goto finish;
			}
			break;
		case 'o':
			output = optarg;
			break;
		case 'n':
			server_name = optarg;
			break;
		case 'x':
			if (optarg[0] == '\0') {
				fprintf(stderr, PROGNAME ": --exclude-user: "
							 "empty pattern\n");
				rc = 2;
				goto finish;
			}
			excludes[inv_opts.nexclude_users++] = optarg;
			break;
		case 'j': {
			char *ep;

			want_threads = strtol(optarg, &ep, 10);
			if (*ep != '\0' || want_threads < 1 ||
			    want_threads > MAX_THREADS) {
				fprintf(stderr,
				    PROGNAME ": --threads: 1 to %d\n",
				    MAX_THREADS);
				rc = 2;
				goto finish;
			}
			break;
		}
		case 'q':
			quiet = true;
			break;
		case 'h':
			usage(stdout);
			rc = 0;
			goto finish;
		case 'V':
			printf(PROGNAME " (postern) %s\n", PACKAGE_VERSION);
			rc = 0;
			goto finish;
		default:
			usage(stderr);
			rc = 2;
			goto finish;
		}
	}
	if (npaths == 0 || server_name != NULL) {
		if (server_name != NULL)
			fprintf(stderr, PROGNAME ": --server-name must come "
						 "before the PATH it names\n");
		usage(stderr);
		rc = 2;
		goto finish;
	}
	if (since != NULL && inventory_parse_when(since, ro.now_ms, false,
				 &inv_opts.since_ms) < 0) {
		fprintf(stderr, PROGNAME ": --since: not a time: %s\n", since);
		rc = 2;
		goto finish;
	}
	if (until != NULL && inventory_parse_when(until, ro.now_ms, true,
				 &inv_opts.until_ms) < 0) {
		fprintf(stderr, PROGNAME ": --until: not a time: %s\n", until);
		rc = 2;
		goto finish;
	}

	/* An empty window is a mistake, not a question with no answer. */
	if (since != NULL && until != NULL &&
	    inv_opts.since_ms >= inv_opts.until_ms) {
		char a[32], b[32];

		inv_format_time(inv_opts.since_ms, a, sizeof(a));
		inv_format_time(inv_opts.until_ms, b, sizeof(b));
		fprintf(stderr,
		    PROGNAME ": --since %s (from %s) is not before --until %s "
			     "(up to %s): no time left to report on\n",
		    since, a, until, b);
		rc = 2;
		goto finish;
	}
	inv_opts.exclude_users = excludes;

	/* First the servers, so that every inventory knows all of them. */
	for (i = 0; i < npaths; i++) {
		char name[256];
		struct stat st;

		if (stat(paths[i], &st) < 0) {
			fprintf(stderr, PROGNAME ": %s: %s\n", paths[i],
			    strerror(errno));
			rc = 1;
			goto finish;
		}
		server_name_of(paths[i], S_ISDIR(st.st_mode), name,
		    sizeof(name));
		if (servers_add(&servers, pnames[i] ? pnames[i] : name) < 0) {
			fprintf(stderr, PROGNAME ": out of memory\n");
			rc = 1;
			goto finish;
		}
	}
	inv_opts.servers = (const char *const *)servers.v;
	inv_opts.nservers = servers.n;
	if ((notes = inventory_new(&inv_opts)) == NULL) {
		fprintf(stderr, PROGNAME ": out of memory\n");
		rc = 1;
		goto finish;
	}
	for (i = 0; i < npaths; i++) {
		char name[256];
		struct stat st;
		size_t srv;

		if (stat(paths[i], &st) < 0)
			continue;
		server_name_of(paths[i], S_ISDIR(st.st_mode), name,
		    sizeof(name));
		srv =
		    (size_t)servers_add(&servers, pnames[i] ? pnames[i] : name);
		if (S_ISDIR(st.st_mode)) {
			if (walk(notes, paths[i], srv, 0) < 0)
				failed++;
		} else {
			struct exlog_name nm;
			const char *base = strrchr(paths[i], '/');

			/* A file named on the command line is read whatever
			 * its name; its name's date still skips it. */
			base = base ? base + 1 : paths[i];
			if (exlog_name_parse(base, &nm) == 0 &&
			    inventory_skip_name(notes, &nm))
				inventory_note_file(notes, paths[i], srv, true,
				    false);
			else if (jobs_add(paths[i], srv,
				     exlog_name_parse(base, &nm) == 0 ?
					 nm.proto :
					 EXLOG_PROTO_UNKNOWN,
				     st.st_size) < 0) {
				fprintf(stderr, PROGNAME ": out of memory\n");
				rc = 1;
				goto finish;
			}
		}
	}
	if (jobs.n == 0 && inventory_summary(notes)->files_skipped == 0) {
		fprintf(stderr, PROGNAME ": no protocol log files found\n");
		rc = 1;
		goto finish;
	}
	if (jobs.n > 0)
		qsort(jobs.v, jobs.n, sizeof(*jobs.v), job_cmp);
	for (i = 0; i < jobs.n; i++)
		total_bytes += (uint64_t)jobs.v[i].size;

	if (want_threads == 0) {
		want_threads = sysconf(_SC_NPROCESSORS_ONLN);
		if (want_threads < 1)
			want_threads = 1;
		if (want_threads > MAX_THREADS)
			want_threads = MAX_THREADS;
	}
	if ((size_t)want_threads > jobs.n)
		want_threads = jobs.n > 0 ? (long)jobs.n : 1;
	for (i = 0; i < (size_t)want_threads; i++) {
		workers[i].failed = 0;
		workers[i].inv = NULL;
	}
	nthreads = want_threads;
	atomic_store(&workers_left, (int)nthreads);
	for (i = 0; i < (size_t)nthreads; i++) {
		if ((workers[i].inv = inventory_new(&inv_opts)) == NULL) {
			fprintf(stderr, PROGNAME ": out of memory\n");
			rc = 1;
			goto finish;
		}
	}
	for (i = 1; i < (size_t)nthreads; i++)
		if (pthread_create(&workers[i].tid, NULL, worker_main,
			&workers[i]) != 0) {
			/* Fewer threads do the same work, only slower. */
			atomic_fetch_sub(&workers_left,
			    (int)((size_t)nthreads - i));
			nthreads = (long)i;
			break;
		}
	if (!quiet && isatty(STDERR_FILENO) &&
	    total_bytes >= PROGRESS_MIN_BYTES && nthreads > 1) {
		/* The main thread watches; the others work. */
		while (atomic_load(&workers_left) > 1) {
			struct timespec ts = {0, 250 * 1000 * 1000};

			progress(total_bytes, false);
			nanosleep(&ts, NULL);
		}
		worker_main(&workers[0]);
		progress(total_bytes, true);
	} else
		worker_main(&workers[0]);
	for (i = 1; i < (size_t)nthreads; i++)
		pthread_join(workers[i].tid, NULL);

	total = workers[0].inv;
	failed += workers[0].failed;
	for (i = 1; i < (size_t)nthreads; i++) {
		failed += workers[i].failed;
		if (inventory_merge(total, workers[i].inv) < 0) {
			fprintf(stderr, PROGNAME ": out of memory\n");
			rc = 1;
			goto finish;
		}
		inventory_free(workers[i].inv);
		workers[i].inv = NULL;
	}
	if (inventory_merge(total, notes) < 0 || inventory_finish(total) < 0) {
		fprintf(stderr, PROGNAME ": out of memory\n");
		rc = 1;
		goto finish;
	}
	inventory_free(notes);
	notes = NULL;
	report_bad(total);

	if (output != NULL && strcmp(output, "-") != 0) {
		if ((out = fopen(output, "w")) == NULL) {
			fprintf(stderr, PROGNAME ": %s: %s\n", output,
			    strerror(errno));
			rc = 1;
			goto finish;
		}
	}
	if (ro.format == INVREPORT_TABLE && out == stdout &&
	    isatty(STDOUT_FILENO)) {
		struct winsize ws;

		ro.width = ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 &&
				   ws.ws_col > 0 ?
			       ws.ws_col :
			       80;
	} else if (ro.format == INVREPORT_TABLE && getenv("COLUMNS") != NULL)
		ro.width = (unsigned)strtoul(getenv("COLUMNS"), NULL, 10);
	if (invreport_write(out, total, &ro) < 0 ||
	    (out != stdout && fclose(out) != 0)) {
		fprintf(stderr, PROGNAME ": %s: write error\n",
		    output ? output : "stdout");
		rc = 1;
	}
	if (failed > 0)
		rc = 1;
finish:
	for (i = 0; i < (size_t)nthreads; i++)
		inventory_free(workers[i].inv);
	inventory_free(notes);
	for (i = 0; i < jobs.n; i++)
		free(jobs.v[i].path);
	free(jobs.v);
	for (i = 0; i < servers.n; i++)
		free(servers.v[i]);
	free(servers.v);
	free(paths);
	free(pnames);
	free(excludes);
	return rc;
}
