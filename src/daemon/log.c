/*
 * log: the daemon's own messages.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "log.h"
#include "utf8.h"

/*
 * A reload (SIGHUP, main thread) changes both while workers log: atomics,
 * so that a worker sees either the old or the new value.  Relaxed order is
 * enough: nothing else is published through them, and glibc's syslog()
 * and openlog() take their own lock.
 */
static atomic_int log_threshold = LOGLEVEL_INFO;
static atomic_bool log_syslog;

void
log_init(enum log_level level, bool use_syslog)
{
	bool was = atomic_load_explicit(&log_syslog, memory_order_relaxed);

	if (use_syslog && !was)
		openlog("postern", LOG_PID | LOG_NDELAY, LOG_MAIL);
	atomic_store_explicit(&log_threshold, (int)level, memory_order_relaxed);
	atomic_store_explicit(&log_syslog, use_syslog, memory_order_relaxed);
	/* After the switch, so that few workers still use syslog; one that
	 * does gets its message through, as syslog() reconnects by itself. */
	if (!use_syslog && was)
		closelog();
}

bool
log_enabled(enum log_level level)
{
	return (int)level <=
	       atomic_load_explicit(&log_threshold, memory_order_relaxed);
}

size_t
log_escape(char *dst, size_t cap, const char *src, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *u = (const unsigned char *)src;
	size_t i = 0, o = 0, n;

	if (cap == 0)
		return 0;
	while (i < len) {
		n = utf8_seq_len(u + i, len - i);
		if (n == 1 && (u[i] < 0x20 || u[i] == 0x7f || u[i] == '\\'))
			n = 0;
		if (n > 0) {
			if (cap - o <= n)
				break;
			memcpy(dst + o, src + i, n);
			o += n;
			i += n;
			continue;
		}
		if (cap - o <= 4)
			break;
		dst[o++] = '\\';
		dst[o++] = 'x';
		dst[o++] = hex[u[i] >> 4];
		dst[o++] = hex[u[i] & 0xf];
		i++;
	}
	dst[o] = '\0';
	return o;
}

/*
 * Every message is escaped here, whole, rather than each client-supplied
 * argument by its caller: a caller that forgets cannot let a client write
 * a line of its own (CR, LF), move the cursor of the terminal that shows
 * the log (ESC) or leave bytes that are not UTF-8 in the journal.
 * postern's own wording never needs the bytes that are escaped.
 */
static void
log_put(enum log_level level, const char *msg)
{
	char out[4 * 1024];

	log_escape(out, sizeof(out), msg, strlen(msg));
	if (atomic_load_explicit(&log_syslog, memory_order_relaxed)) {
		syslog((int)level, "%s", out);
		return;
	}
	/* One fprintf call per line, so that threads do not interleave. */
	fprintf(stderr, "<%d>%s\n", (int)level, out);
}

static void log_vwrite(enum log_level, int, const char *, va_list)
    __attribute__((format(printf, 3, 0)));

static void
log_vwrite(enum log_level level, int errnum, const char *fmt, va_list ap)
{
	char msg[1024];
	int n;

	if (!log_enabled(level))
		return;
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (n < 0)
		return;
	if (errnum != 0 && (size_t)n < sizeof(msg))
		snprintf(msg + n, sizeof(msg) - n, ": %s", strerror(errnum));
	log_put(level, msg);
}

#define LOG_FUNC(name, level, use_errno)                                       \
	void(name)(const char *fmt, ...)                                       \
	{                                                                      \
		int saved = errno;                                             \
		va_list ap;                                                    \
		va_start(ap, fmt);                                             \
		log_vwrite(level, use_errno ? saved : 0, fmt, ap);             \
		va_end(ap);                                                    \
		errno = saved;                                                 \
	}

LOG_FUNC(log_error, LOGLEVEL_ERROR, 0)
LOG_FUNC(log_warn, LOGLEVEL_WARNING, 1)
LOG_FUNC(log_warnx, LOGLEVEL_WARNING, 0)
LOG_FUNC(log_notice, LOGLEVEL_NOTICE, 0)
LOG_FUNC(log_info, LOGLEVEL_INFO, 0)
LOG_FUNC(log_debug, LOGLEVEL_DEBUG, 0)

/*
 * The limiter.  A slot per key, found by a linear search: the keys are
 * few (a backend or a directory and the ways it fails), and a search
 * happens only when something fails.  The last slot takes every key that
 * finds no room, so that even a flood of distinct keys stays bounded.
 */
struct log_limit_slot {
	char key[LOG_LIMIT_KEY_MAX];
	bool used;
	int level;
	uint64_t since; /* ms: when the last line of this key was written */
	unsigned long suppressed;
};

struct log_limit {
	pthread_mutex_t mu;
	unsigned interval_ms;
	size_t n;
	struct log_limit_slot *slot;
};

static const char overflow_key[] = "other repeated messages";

struct log_limit *
log_limit_new(unsigned interval_ms, size_t nkeys)
{
	struct log_limit *ll;

	if (nkeys < 2 || (ll = calloc(1, sizeof(*ll))) == NULL)
		return NULL;
	if ((ll->slot = calloc(nkeys, sizeof(*ll->slot))) == NULL) {
		free(ll);
		return NULL;
	}
	pthread_mutex_init(&ll->mu, NULL);
	ll->interval_ms = interval_ms;
	ll->n = nkeys;
	return ll;
}

void
log_limit_free(struct log_limit *ll)
{
	if (ll == NULL)
		return;
	pthread_mutex_destroy(&ll->mu);
	free(ll->slot);
	free(ll);
}

static bool
slot_due(const struct log_limit *ll, const struct log_limit_slot *s,
    uint64_t now)
{
	return now >= s->since && now - s->since >= ll->interval_ms;
}

static unsigned
span_s(const struct log_limit_slot *s, uint64_t now)
{
	uint64_t ms = now > s->since ? now - s->since : 0;

	return ms < 1000 ? 1 : (unsigned)((ms + 500) / 1000);
}

/* The slot of key: its own, a free one, or the shared last one. */
static struct log_limit_slot *
slot_find(struct log_limit *ll, const char *key, uint64_t now)
{
	struct log_limit_slot *s, *spare = NULL;
	size_t i;

	for (i = 0; i + 1 < ll->n; i++) {
		s = &ll->slot[i];
		if (s->used && strncmp(s->key, key, sizeof(s->key) - 1) == 0)
			return s;
		/* A key quiet for a whole interval has nothing to report:
		 * its slot may go to another. */
		if (spare == NULL &&
		    (!s->used || (s->suppressed == 0 && slot_due(ll, s, now))))
			spare = s;
	}
	if (spare != NULL) {
		spare->used = false;
		snprintf(spare->key, sizeof(spare->key), "%s", key);
		return spare;
	}
	s = &ll->slot[ll->n - 1];
	if (!s->used)
		snprintf(s->key, sizeof(s->key), "%s", overflow_key);
	return s;
}

bool
log_limit_check(struct log_limit *ll, const char *key, int level, uint64_t now,
    unsigned long *suppressed, unsigned *span)
{
	struct log_limit_slot *s;
	bool ok = true;

	*suppressed = 0;
	*span = 0;
	pthread_mutex_lock(&ll->mu);
	s = slot_find(ll, key, now);
	if (!s->used) {
		s->used = true;
		s->since = now;
		s->suppressed = 0;
	} else if (slot_due(ll, s, now)) {
		*suppressed = s->suppressed;
		*span = span_s(s, now);
		s->suppressed = 0;
		s->since = now;
	} else {
		s->suppressed++;
		ok = false;
	}
	s->level = level;
	pthread_mutex_unlock(&ll->mu);
	return ok;
}

void
log_limit_report(struct log_limit *ll, uint64_t now, bool all,
    log_limit_report_fn *fn, void *arg)
{
	struct log_limit_slot *s;
	size_t i;

	pthread_mutex_lock(&ll->mu);
	for (i = 0; i < ll->n; i++) {
		s = &ll->slot[i];
		if (!s->used || s->suppressed == 0 ||
		    !(all || slot_due(ll, s, now)))
			continue;
		fn(arg, s->key, s->level, s->suppressed, span_s(s, now));
		s->suppressed = 0;
		s->since = now;
	}
	pthread_mutex_unlock(&ll->mu);
}

static struct log_limit_slot limit_slots[LOG_LIMIT_KEYS];
static struct log_limit limit = {PTHREAD_MUTEX_INITIALIZER,
    LOG_LIMIT_INTERVAL_MS, LOG_LIMIT_KEYS, limit_slots};

static uint64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Room kept at the end of a message for the count. */
#define LIMIT_SUFFIX_MAX 80

static void
suffix(char *buf, size_t len, unsigned long n, unsigned span)
{
	snprintf(buf, len,
	    " (%lu similar message%s suppressed in the last %u s)", n,
	    n == 1 ? "" : "s", span);
}

void
log_limited(enum log_level level, const char *key, const char *fmt, ...)
{
	char msg[1024];
	unsigned long n;
	unsigned span;
	va_list ap;
	int saved = errno, len;

	if (!log_enabled(level) ||
	    !log_limit_check(&limit, key, (int)level, mono_ms(), &n, &span))
		return;
	va_start(ap, fmt);
	len = vsnprintf(msg, sizeof(msg) - LIMIT_SUFFIX_MAX, fmt, ap);
	va_end(ap);
	if (len < 0)
		goto out;
	if ((size_t)len >= sizeof(msg) - LIMIT_SUFFIX_MAX)
		len = (int)(sizeof(msg) - LIMIT_SUFFIX_MAX - 1);
	if (n > 0)
		suffix(msg + len, sizeof(msg) - (size_t)len, n, span);
	log_put(level, msg);
out:
	errno = saved;
}

static void
flush_one(void *arg, const char *key, int level, unsigned long n, unsigned span)
{
	char msg[LOG_LIMIT_KEY_MAX + LIMIT_SUFFIX_MAX];
	size_t len;

	(void)arg;
	if (!log_enabled((enum log_level)level))
		return;
	len = (size_t)snprintf(msg, sizeof(msg), "%s", key);
	suffix(msg + len, sizeof(msg) - len, n, span);
	log_put((enum log_level)level, msg);
}

void
log_limit_flush(bool all)
{
	int saved = errno;

	log_limit_report(&limit, mono_ms(), all, flush_one, NULL);
	errno = saved;
}

void
fatal(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOGLEVEL_ERROR, saved, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOGLEVEL_ERROR, 0, fmt, ap);
	va_end(ap);
	exit(1);
}
