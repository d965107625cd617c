/*
 * server_conf: the [postern] section, the process's own settings.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "addrset.h"
#include "conf.h"
#include "conf_table.h"
#include "server.h"

#define WORKERS_MAX 256

/* While a file is read. */
struct server_load {
	bool workers_auto;
};

static const struct conf_enum log_levels[] = {{"error", LOGLEVEL_ERROR},
    {"warning", LOGLEVEL_WARNING}, {"notice", LOGLEVEL_NOTICE},
    {"info", LOGLEVEL_INFO}, {"debug", LOGLEVEL_DEBUG}, {NULL, 0}};

/* A number of workers, or "auto": one per CPU, resolved by the check. */
static int
p_workers(struct conf_loader *l, const struct conf_key *k, const char *v,
    void *dst)
{
	struct server_load *st = conf_state(l, &server_conf_module);

	if (strcasecmp(v, "auto") == 0) {
		st->workers_auto = true;
		return 0;
	}
	st->workers_auto = false;
	return conf_key_uint(l, k, v, dst);
}

#define CO(f) offsetof(struct conf, f)

static const struct conf_key keys[] = {
    {"workers", p_workers, CO(workers), 1, WORKERS_MAX, CONF_AUTO, NULL},
    {"user", conf_key_string, CO(user), 0, 0, 0, NULL},
    {"pid_file", conf_key_abspath, CO(pid_file), 0, 0, 0, NULL},
    {"log_level", conf_key_enum, CO(log_level), 0, 0, 0, log_levels},
    {"syslog", conf_key_bool, CO(syslog), 0, 0, 0, NULL},
    {"shutdown_timeout", conf_key_duration, CO(shutdown_timeout_ms), 0,
	CONF_HOUR_MS, 0, NULL},
    {"trusted_proxies", conf_key_addrset, CO(trusted_proxies), 0, 0, CONF_LIST,
	NULL},
};

static void *
server_base(struct conf *c, unsigned inst)
{
	(void)inst;
	return c;
}

static const struct conf_section sections[] = {{"postern", 1, NULL, NULL}};

static const struct conf_table tables[] = {
    {"postern", server_base, keys, sizeof(keys) / sizeof(keys[0])}};

static int
server_defaults(struct conf_loader *l, struct conf *c)
{
	struct server_load *st = conf_state(l, &server_conf_module);

	st->workers_auto = true;
	c->log_level = LOGLEVEL_INFO;
	c->shutdown_timeout_ms = 30 * CONF_SEC_MS;
	return 0;
}

static void
server_check(struct conf_loader *l, struct conf *c)
{
	struct server_load *st = conf_state(l, &server_conf_module);
	long ncpu;

	if (st->workers_auto) {
		ncpu = sysconf(_SC_NPROCESSORS_ONLN);
		c->workers = ncpu < 1           ? 1 :
			     ncpu > WORKERS_MAX ? WORKERS_MAX :
						  (unsigned)ncpu;
	}
	if (c->trusted_proxies != NULL)
		addrset_finish(c->trusted_proxies);
}

static void
server_free(struct conf *c)
{
	free(c->user);
	free(c->pid_file);
	addrset_free(c->trusted_proxies);
}

static void
server_dump(const struct conf *c, unsigned inst, struct conf_dump *d)
{
	(void)inst;
	conf_dump_set(d, "Workers", "%u", c->workers);
	conf_dump_str(d, "User", c->user);
	conf_dump_str(d, "PidFile", c->pid_file);
	conf_dump_str(d, "LogLevel",
	    conf_enum_name(log_levels, (int)c->log_level));
	conf_dump_bool(d, "Syslog", c->syslog);
	conf_fmt_timespan(c->shutdown_timeout_ms,
	    conf_dump_row(d, "ShutdownTimeout"), CONF_DUMP_VALUE);
	conf_dump_addrset(d, "TrustedProxies", c->trusted_proxies);
}

const struct conf_module server_conf_module = {
    .name = "server",
    .sections = sections,
    .nsections = 1,
    .tables = tables,
    .ntables = 1,
    .state_size = sizeof(struct server_load),
    .defaults = server_defaults,
    .check = server_check,
    .free = server_free,
    .dump = server_dump,
};
