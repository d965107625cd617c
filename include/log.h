/*
 * log: the daemon's own messages (not the protocol logs).
 *
 * Messages go to stderr with a level prefix that journald understands
 * ("<4>"), or to syslog when configured.  Client-supplied text is always
 * passed as an argument, never as the format.
 */
#ifndef POSTERN_LOG_H
#define POSTERN_LOG_H

#include <stdbool.h>

#include "conf.h"

/* Sets the threshold and the destination; callable again on reload. */
void log_init(enum log_level level, bool use_syslog);

/* Logs at the given level; the _warn variants append strerror(errno). */
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_notice(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Whether messages at level would be written (to skip costly formatting). */
bool log_enabled(enum log_level level);

/* Logs and exits with status 1; for start-up only. */
void fatal(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

#endif
