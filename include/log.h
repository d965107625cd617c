/*
 * log: the daemon's own messages (not the protocol logs).
 *
 * Messages go to stderr with a level prefix that journald understands
 * ("<4>"), or to syslog when configured.  Client-supplied text is always
 * passed as an argument, never as the format; every message is escaped
 * with log_escape() on its way out, so callers pass client text raw.
 */
#ifndef POSTERN_LOG_H
#define POSTERN_LOG_H

#include <stdbool.h>
#include <stddef.h>

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

/*
 * Copies src[0..len) to dst (cap bytes, NUL-terminated when cap > 0) with
 * control bytes, DEL, backslash and every byte that is not part of
 * well-formed UTF-8 written as "\xNN" (two lowercase hex digits); stops
 * before an escape or a character that would not fit whole.  Returns the
 * bytes written, the NUL excluded.  Four bytes of dst per byte of src are
 * always enough.
 */
size_t log_escape(char *dst, size_t cap, const char *src, size_t len);

/* Whether messages at level would be written (to skip costly formatting). */
bool log_enabled(enum log_level level);

/* Logs and exits with status 1; for start-up only. */
void fatal(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

#endif
