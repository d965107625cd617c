/*
 * bench_protolog: how many rows per second the protocol-log writer takes.
 *
 *   bench/bench_protolog [threads [rows-per-thread [dir]]]
 *
 * Each thread submits typical post-login rows (a FETCH with its context)
 * as fast as it can; the time runs until protolog_stop() has written the
 * last one.  The encoder alone is timed first, on one thread.
 */
#include "config.h"

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "protolog.h"

static unsigned rows_per_thread = 200000;

static void
fill_row(struct protolog_row *r, struct protolog_ctx *ctx)
{
	memset(r, 0, sizeof(*r));
	protolog_ctx_init(ctx);
	protolog_ctx_set(ctx, PROTOLOG_R, "ok");
	protolog_ctx_tls(ctx, PROTOLOG_TLS_IMPLICIT, "TLSv1.3");
	r->sip = "192.0.2.1:993";
	r->cip = "198.51.100.23:51234";
	r->user = "someone@example.net";
	r->duration_ms = 3;
	r->rqsize = 42;
	r->rpsize = 1834;
	r->command = "uid+fetch";
	r->params = "1:* (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS "
		    "(From To Cc Subject Date Message-ID)])";
	r->context = ctx;
}

static void *
submitter(void *arg)
{
	struct protolog_row r;
	struct protolog_ctx ctx;
	unsigned i;

	fill_row(&r, &ctx);
	r.session_id = (uint64_t)(uintptr_t)arg << 32;
	for (i = 0; i < rows_per_thread; i++) {
		if (i % 50 == 0)
			r.session_id++;
		r.seq = i % 50;
		protolog_submit(PROTO_IMAP, &r);
	}
	return NULL;
}

/* Removes the files the run wrote, then the directory. */
static void
remove_dir(const char *d)
{
	char path[4096];
	struct dirent *de;
	DIR *dp;

	if ((dp = opendir(d)) == NULL)
		return;
	while ((de = readdir(dp)) != NULL)
		if (de->d_name[0] != '.') {
			snprintf(path, sizeof(path), "%s/%s", d, de->d_name);
			unlink(path);
		}
	closedir(dp);
	rmdir(d);
}

static double
seconds(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) +
	       (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

int
main(int argc, char **argv)
{
	struct protolog_conf c[PROTO_COUNT];
	struct protolog_stats st;
	struct protolog_row r;
	struct protolog_ctx ctx;
	struct timespec a, b;
	char dir[] = "/tmp/bench_protolog.XXXXXX", err[512], line[8192];
	const char *d;
	unsigned threads = 2, i;
	pthread_t *th;
	size_t n = 0;
	double s;

	if (argc > 1)
		threads = (unsigned)strtoul(argv[1], NULL, 10);
	if (argc > 2)
		rows_per_thread = (unsigned)strtoul(argv[2], NULL, 10);
	if (argc > 3)
		d = argv[3];
	else if ((d = mkdtemp(dir)) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	if (threads == 0 || rows_per_thread == 0)
		return 2;

	fill_row(&r, &ctx);
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (i = 0; i < 1000000; i++) {
		r.time_ms = 1767323045678 + i;
		r.seq = i;
		n += protolog_encode(&r, line, sizeof(line));
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	s = seconds(&a, &b);
	printf("encode: %.0f rows/s (%zu bytes per row)\n", 1e6 / s,
	    n / 1000000);

	protolog_conf_defaults(&c[PROTO_POP3], PROTO_POP3);
	protolog_conf_defaults(&c[PROTO_IMAP], PROTO_IMAP);
	c[PROTO_IMAP].enabled = true;
	c[PROTO_IMAP].directory = (char *)d;
	if (protolog_start(c, 0, err, sizeof(err)) == -1) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	th = calloc(threads, sizeof(*th));
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (i = 0; i < threads; i++)
		pthread_create(&th[i], NULL, submitter, (void *)(uintptr_t)i);
	for (i = 0; i < threads; i++)
		pthread_join(th[i], NULL);
	clock_gettime(CLOCK_MONOTONIC, &b);
	printf("submit: %.0f rows/s from %u threads\n",
	    (double)threads * rows_per_thread / seconds(&a, &b), threads);
	protolog_stop();
	clock_gettime(CLOCK_MONOTONIC, &b);
	s = seconds(&a, &b);
	protolog_get_stats(&st);
	printf("writer: %llu rows written, %llu dropped, %.0f rows/s, "
	       "%.1f MB/s, queue peak %zu bytes\n",
	    (unsigned long long)st.rows_written,
	    (unsigned long long)st.rows_dropped, (double)st.rows_written / s,
	    (double)st.bytes_written / s / 1e6, st.queue_peak);
	if (argc <= 3)
		remove_dir(d);
	free(th);
	return 0;
}
