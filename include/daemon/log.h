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
#include <stdint.h>

/* Daemon log levels, in the order syslog uses. */
enum log_level {
	LOGLEVEL_ERROR = 3,
	LOGLEVEL_WARNING = 4,
	LOGLEVEL_NOTICE = 5,
	LOGLEVEL_INFO = 6,
	LOGLEVEL_DEBUG = 7
};

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

/*
 * log_info() and log_debug() test the level before their arguments are
 * evaluated, as nginx's debug macros do: a session's tag (session_tag(),
 * an snprintf) and the like cost nothing on the login path when the line
 * is not written.
 */
#define log_info(...)                                                          \
	do {                                                                   \
		if (log_enabled(LOGLEVEL_INFO))                                \
			(log_info)(__VA_ARGS__);                               \
	} while (0)
#define log_debug(...)                                                         \
	do {                                                                   \
		if (log_enabled(LOGLEVEL_DEBUG))                               \
			(log_debug)(__VA_ARGS__);                              \
	} while (0)

/*
 * Repeated messages.  When a backend or the directory is down, every
 * login fails the same way, and one warning per session would flood the
 * log (and the disk under it).  log_limited() writes a message at most
 * once per LOG_LIMIT_INTERVAL_MS for each key, in the whole process (all
 * workers together); the messages it holds back are counted, and the
 * count is written as " (N similar messages suppressed in the last S s)"
 * after the next message of that key that goes out, or by
 * log_limit_flush().  The key is the message without what differs from
 * session to session (its tag, the user name), so that different reasons
 * are still each written once.  Only the daemon log is limited: the
 * protocol log keeps one row per session.
 */
#define LOG_LIMIT_INTERVAL_MS 10000
/* Keys followed at once; the last slot is shared by every key beyond. */
#define LOG_LIMIT_KEYS 64
/* Longest key kept (longer keys are compared on their start). */
#define LOG_LIMIT_KEY_MAX 200

/* Logs like log_warnx() and the others, limited per key as above. */
void log_limited(enum log_level level, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Writes the count of each key whose held-back messages are due (all:
 * every key with a count, for shutdown; otherwise those whose interval
 * has passed since their last line).  Called every second by the main
 * loop and once at exit.
 */
void log_limit_flush(bool all);

/*
 * The limiter behind log_limited(), on a clock the caller passes (ms,
 * monotonic), so that tests need not sleep.  Thread-safe.
 */
struct log_limit;

/* A limiter for nkeys keys (at least 2), or NULL when out of memory. */
struct log_limit *log_limit_new(unsigned interval_ms, size_t nkeys);

/* Frees ll; NULL is ignored. */
void log_limit_free(struct log_limit *ll);

/*
 * Whether a message of key may be written at now.  When it may,
 * *suppressed is the number of messages of key held back since the last
 * one written and *span_s the seconds since that one (at least 1);
 * otherwise this one is counted.  level is kept for the report.
 */
bool log_limit_check(struct log_limit *ll, const char *key, int level,
    uint64_t now, unsigned long *suppressed, unsigned *span_s);

/* Receives one key's count from log_limit_report(). */
typedef void log_limit_report_fn(void *arg, const char *key, int level,
    unsigned long suppressed, unsigned span_s);

/*
 * Calls fn for each key with held-back messages whose interval has
 * passed at now (or every such key when all is set) and starts its count
 * again.  fn runs under ll's lock: it must not use ll.
 */
void log_limit_report(struct log_limit *ll, uint64_t now, bool all,
    log_limit_report_fn *fn, void *arg);

/* Logs and exits with status 1; for start-up only. */
void fatal(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

#endif
