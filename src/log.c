/*
 * log: the daemon's own messages.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "log.h"

static enum log_level log_threshold = LOGLEVEL_INFO;
static bool log_syslog;

void
log_init(enum log_level level, bool use_syslog)
{
	if (use_syslog && !log_syslog)
		openlog("postern", LOG_PID | LOG_NDELAY, LOG_MAIL);
	else if (!use_syslog && log_syslog)
		closelog();
	log_threshold = level;
	log_syslog = use_syslog;
}

bool
log_enabled(enum log_level level)
{
	return level <= log_threshold;
}

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
	if (log_syslog) {
		syslog((int)level, "%s", msg);
		return;
	}
	/* One fprintf call per line, so that threads do not interleave. */
	fprintf(stderr, "<%d>%s\n", (int)level, msg);
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
