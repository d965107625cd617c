/*
 * sdnotify: tells systemd (sd_notify(3)) when postern is ready, reloading
 * and stopping, what it is doing (STATUS=), and that it is alive (the
 * watchdog).
 *
 * Built without libsystemd (configure found no libsystemd.pc), every call
 * does nothing and the unit is generated with Type=exec instead of
 * Type=notify.  Outside systemd (no NOTIFY_SOCKET) every call does nothing
 * either.
 */
#ifndef POSTERN_SDNOTIFY_H
#define POSTERN_SDNOTIFY_H

#include <stdbool.h>
#include <stdint.h>

/* Whether this build can notify systemd at all (for postern -V). */
bool sdnotify_supported(void);

/* READY=1 with STATUS=status: the listeners accept connections. */
void sdnotify_ready(const char *status);

/*
 * RELOADING=1 with MONOTONIC_USEC= (systemd 253 matches the reload it
 * asked for by that time; older ones ignore the field) and STATUS=.
 * Every call must be followed by sdnotify_ready(), whether the reload was
 * taken or refused.
 */
void sdnotify_reloading(void);

/* STOPPING=1 with STATUS=status: shutdown has begun. */
void sdnotify_stopping(const char *status);

/* STATUS=status alone. */
void sdnotify_status(const char *status);

/*
 * The watchdog interval systemd asked this process for (WatchdogSec=), in
 * microseconds, or 0 when there is none.
 */
uint64_t sdnotify_watchdog_usec(void);

/* WATCHDOG=1: the daemon is alive and its workers answer. */
void sdnotify_watchdog(void);

#endif
