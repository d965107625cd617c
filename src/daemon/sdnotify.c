/*
 * sdnotify: systemd's readiness protocol through libsystemd's sd_notify(3).
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#ifdef HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "log.h"
#include "sdnotify.h"

#ifdef HAVE_LIBSYSTEMD

/*
 * A failure to notify is logged once: systemd then times the start or the
 * reload out and says so itself, and a daemon log full of the same line
 * helps nobody.
 */
static void
notify(const char *msg)
{
	static bool warned;
	int rc;

	/* 0 keeps NOTIFY_SOCKET for the notifications that follow. */
	rc = sd_notify(0, msg);
	if (rc < 0 && !warned) {
		warned = true;
		log_warnx("cannot notify systemd: %s", strerror(-rc));
	}
}

bool
sdnotify_supported(void)
{
	return true;
}

void
sdnotify_ready(const char *status)
{
	char msg[512];

	snprintf(msg, sizeof(msg), "READY=1\nSTATUS=%s", status);
	notify(msg);
}

void
sdnotify_reloading(void)
{
	struct timespec ts;
	char msg[128];

	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(msg, sizeof(msg),
	    "RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=Reloading the "
	    "configuration",
	    (unsigned long long)ts.tv_sec * 1000000ULL +
		(unsigned long long)ts.tv_nsec / 1000ULL);
	notify(msg);
}

void
sdnotify_stopping(const char *status)
{
	char msg[512];

	snprintf(msg, sizeof(msg), "STOPPING=1\nSTATUS=%s", status);
	notify(msg);
}

void
sdnotify_status(const char *status)
{
	char msg[512];

	snprintf(msg, sizeof(msg), "STATUS=%s", status);
	notify(msg);
}

uint64_t
sdnotify_watchdog_usec(void)
{
	uint64_t usec = 0;

	/* 0 keeps WATCHDOG_USEC; it is read once, at start. */
	if (sd_watchdog_enabled(0, &usec) <= 0)
		return 0;
	return usec;
}

void
sdnotify_watchdog(void)
{
	notify("WATCHDOG=1");
}

#else /* !HAVE_LIBSYSTEMD */

bool
sdnotify_supported(void)
{
	return false;
}

void
sdnotify_ready(const char *status)
{
	(void)status;
}

void
sdnotify_reloading(void)
{
}

void
sdnotify_stopping(const char *status)
{
	(void)status;
}

void
sdnotify_status(const char *status)
{
	(void)status;
}

uint64_t
sdnotify_watchdog_usec(void)
{
	return 0;
}

void
sdnotify_watchdog(void)
{
}

#endif
