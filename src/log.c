/*
 * log: the daemon's own messages.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

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
log_vwrite(enum log_level level, int errnum, const char *fmt, va_list ap)
{
	char msg[1024], out[4 * sizeof(msg)];
	int n;

	if (!log_enabled(level))
		return;
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (n < 0)
		return;
	if (errnum != 0 && (size_t)n < sizeof(msg))
		snprintf(msg + n, sizeof(msg) - n, ": %s", strerror(errnum));
	log_escape(out, sizeof(out), msg, strlen(msg));
	if (atomic_load_explicit(&log_syslog, memory_order_relaxed)) {
		syslog((int)level, "%s", out);
		return;
	}
	/* One fprintf call per line, so that threads do not interleave. */
	fprintf(stderr, "<%d>%s\n", (int)level, out);
}

#define LOG_FUNC(name, level, use_errno)                                  \
	void name(const char *fmt, ...)                                   \
	{                                                                 \
		int saved = errno;                                        \
		va_list ap;                                               \
		va_start(ap, fmt);                                        \
		log_vwrite(level, use_errno ? saved : 0, fmt, ap);        \
		va_end(ap);                                               \
		errno = saved;                                            \
	}

LOG_FUNC(log_error, LOGLEVEL_ERROR, 0)
LOG_FUNC(log_warn, LOGLEVEL_WARNING, 1)
LOG_FUNC(log_warnx, LOGLEVEL_WARNING, 0)
LOG_FUNC(log_notice, LOGLEVEL_NOTICE, 0)
LOG_FUNC(log_info, LOGLEVEL_INFO, 0)
LOG_FUNC(log_debug, LOGLEVEL_DEBUG, 0)

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
