/*
 * throttle_conf: the [throttle] section (throttle_conf.c reads it).
 */
#ifndef POSTERN_THROTTLE_CONF_H
#define POSTERN_THROTTLE_CONF_H

#include <stdbool.h>

struct addrset;

/* The [throttle] section: brute-force protection (throttle.h). */
struct throttle_conf {
	bool enabled;
	unsigned failure_delay_ms;    /* the first delay; doubles per failure */
	unsigned max_failures_per_ip; /* 0: no ban of addresses */
	unsigned max_failures_per_user; /* 0: no ban of user names */
	unsigned window_ms;             /* failures older than this are gone */
	unsigned ban_time_ms;
	unsigned max_entries;       /* addresses, users and pairs together */
	struct addrset *exempt_ips; /* never counted, delayed or refused */
};

struct conf_module;

/* The configuration of the [throttle] section. */
extern const struct conf_module throttle_conf_module;

#endif
