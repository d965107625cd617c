/*
 * throttle_conf: the [throttle] section, brute-force protection.
 *
 * The defaults are what a mail administrator facing the internet would
 * set: the first failure waits 2 s and each further one twice as long up
 * to 15 s, as Dovecot's auth penalty does; 10 failures from one address
 * in 10 minutes, or 20 for one user from anywhere, refuse it for 10
 * minutes, fail2ban's findtime and bantime.  An office behind one NAT
 * address has room for a few users with a stale password on a phone; the
 * per-user limit is higher, since anyone who knows a name can use it up
 * (and lock that user out for the ban time), and is there for guessing
 * at one account from many addresses.
 */
#include "config.h"

#include <stdlib.h>

#include "addrset.h"
#include "conf.h"
#include "conf_table.h"
#include "throttle.h"

/* 100,000 entries of at most about 330 bytes: some 33 MB at worst. */
#define THROTTLE_ENTRIES_DEFAULT 100000u
#define THROTTLE_ENTRIES_MAX 10000000u

#define TO(f) offsetof(struct throttle_conf, f)

static const struct conf_key keys[] = {
    {"enabled", conf_key_bool, TO(enabled), 0, 0, 0, NULL},
    {"failure_delay", conf_key_duration, TO(failure_delay_ms), 0,
	THROTTLE_DELAY_CAP_MS, 0, NULL},
    {"max_failures_per_ip", conf_key_uint, TO(max_failures_per_ip), 0, 1000000,
	CONF_UNLIMITED, NULL},
    {"max_failures_per_user", conf_key_uint, TO(max_failures_per_user), 0,
	1000000, CONF_UNLIMITED, NULL},
    {"window", conf_key_duration, TO(window_ms), CONF_SEC_MS, CONF_DAY_MS, 0,
	NULL},
    {"ban_time", conf_key_duration, TO(ban_time_ms), CONF_SEC_MS, CONF_DAY_MS,
	0, NULL},
    {"exempt_ips", conf_key_addrset, TO(exempt_ips), 0, 0, CONF_LIST, NULL},
    {"max_entries", conf_key_uint, TO(max_entries), 16, THROTTLE_ENTRIES_MAX, 0,
	NULL},
};

static void *
throttle_base(struct conf *c, unsigned inst)
{
	(void)inst;
	return &c->throttle;
}

static const struct conf_section sections[] = {{"throttle", 1, NULL, NULL}};

static const struct conf_table tables[] = {
    {"throttle", throttle_base, keys, sizeof(keys) / sizeof(keys[0])}};

static int
throttle_defaults(struct conf_loader *l, struct conf *c)
{
	struct throttle_conf *tc = &c->throttle;

	(void)l;
	tc->enabled = true;
	tc->failure_delay_ms = 2 * CONF_SEC_MS;
	tc->max_failures_per_ip = 10;
	tc->max_failures_per_user = 20;
	tc->window_ms = 10 * CONF_MIN_MS;
	tc->ban_time_ms = 10 * CONF_MIN_MS;
	tc->max_entries = THROTTLE_ENTRIES_DEFAULT;
	return 0;
}

static void
throttle_check_conf(struct conf_loader *l, struct conf *c)
{
	(void)l;
	if (c->throttle.exempt_ips != NULL)
		addrset_finish(c->throttle.exempt_ips);
}

static void
throttle_free_conf(struct conf *c)
{
	addrset_free(c->throttle.exempt_ips);
}

static void
throttle_dump(const struct conf *c, unsigned inst, struct conf_dump *d)
{
	const struct throttle_conf *tc = &c->throttle;

	(void)inst;
	conf_dump_bool(d, "ThrottleEnabled", tc->enabled);
	conf_fmt_duration(tc->failure_delay_ms,
	    conf_dump_row(d, "ThrottleFailureDelay"), CONF_DUMP_VALUE);
	conf_fmt_limit(tc->max_failures_per_ip,
	    conf_dump_row(d, "ThrottleMaxFailuresPerIP"), CONF_DUMP_VALUE);
	conf_fmt_limit(tc->max_failures_per_user,
	    conf_dump_row(d, "ThrottleMaxFailuresPerUser"), CONF_DUMP_VALUE);
	conf_fmt_duration(tc->window_ms, conf_dump_row(d, "ThrottleWindow"),
	    CONF_DUMP_VALUE);
	conf_fmt_duration(tc->ban_time_ms, conf_dump_row(d, "ThrottleBanTime"),
	    CONF_DUMP_VALUE);
	conf_dump_addrset(d, "ThrottleExemptIPs", tc->exempt_ips);
	conf_dump_set(d, "ThrottleMaxEntries", "%u", tc->max_entries);
}

const struct conf_module throttle_conf_module = {
    .name = "throttle",
    .sections = sections,
    .nsections = 1,
    .tables = tables,
    .ntables = 1,
    .state_size = 0,
    .defaults = throttle_defaults,
    .check = throttle_check_conf,
    .free = throttle_free_conf,
    .dump = throttle_dump,
};
