/*
 * protolog_conf: the protocol-log keys of the protocol sections, under
 * the snake_case names of Exchange's Set-PopSettings/Set-ImapSettings
 * parameters.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conf.h"
#include "conf_table.h"
#include "proto.h"
#include "protolog.h"

#define SEC_MS CONF_SEC_MS
#define MIN_MS CONF_MIN_MS
#define HOUR_MS CONF_HOUR_MS
#define DAY_MS CONF_DAY_MS

/* Exchange's LogFileRollOverSettings values, and log_detail. */
void
protolog_conf_defaults(struct protolog_conf *c, enum proto_id p)
{
	memset(c, 0, sizeof(*c));
	c->enabled = false;
	c->directory = (char *)proto_get(p)->log_directory;
	c->rollover = PROTOLOG_HOURLY;
	c->file_age_limit_ms = PROTOLOG_AGE_LIMIT_DEFAULT_MS;
	c->detail = PROTOLOG_DETAIL_COMMANDS;
}

static const struct conf_enum log_rollovers[] = {{"Hourly", PROTOLOG_HOURLY},
    {"Daily", PROTOLOG_DAILY}, {"Weekly", PROTOLOG_WEEKLY},
    {"Monthly", PROTOLOG_MONTHLY}, {NULL, 0}};
static const struct conf_enum log_details[] = {
    {"commands", PROTOLOG_DETAIL_COMMANDS}, {"proxy", PROTOLOG_DETAIL_PROXY},
    {NULL, 0}};

/* A size for the log quotas: bytes or k/M/G, 0 or "unlimited" for none. */
static int
p_logsize(struct conf_loader *l, const struct conf_key *k, const char *v,
    void *dst)
{
	uint64_t n;

	if (strcasecmp(v, "unlimited") == 0) {
		*(uint64_t *)dst = 0;
		return 0;
	}
	if (conf_parse_size(v, &n) == -1) {
		conf_key_error(l, k,
		    "'%s' is not a size (bytes, or with k/M/G; 0 or "
		    "'unlimited': no quota)",
		    v);
		return -1;
	}
	if (n > k->max) {
		conf_key_error(l, k, "%s is out of range (at most %lluG)", v,
		    (unsigned long long)(k->max >> 30));
		return -1;
	}
	*(uint64_t *)dst = n;
	return 0;
}

/*
 * The age limit, which may pass the 49 days that conf_parse_duration()'s
 * unsigned milliseconds hold: a number with a unit, or Exchange's TimeSpan.
 */
static int
p_logage(struct conf_loader *l, const struct conf_key *k, const char *v,
    void *dst)
{
	static const struct {
		const char *suffix;
		uint64_t ms;
	} units[] = {{"s", SEC_MS}, {"m", MIN_MS}, {"h", HOUR_MS},
	    {"d", DAY_MS}};
	const char *p = v;
	uint64_t n, ms = 0;
	size_t i;
	int rc = -1;

	if (strcasecmp(v, "unlimited") == 0) {
		*(uint64_t *)dst = 0;
		return 0;
	}
	if (strchr(v, ':') != NULL)
		rc = conf_parse_timespan(v, &ms);
	else if (conf_parse_digits(&p, &n) == 0) {
		if (*p == '\0' && n == 0) {
			ms = 0;
			rc = 0;
		}
		for (i = 0; rc == -1 && i < sizeof(units) / sizeof(units[0]);
		     i++)
			if (strcmp(p, units[i].suffix) == 0 &&
			    n <= UINT64_MAX / units[i].ms) {
				ms = n * units[i].ms;
				rc = 0;
			}
	}
	if (rc == -1) {
		conf_key_error(l, k,
		    "'%s' is not an age (as 30d, 12h, or d.hh:mm:ss; 0 or "
		    "'unlimited': no limit)",
		    v);
		return -1;
	}
	if (ms > k->max) {
		conf_key_error(l, k, "%s is out of range (at most %llud)", v,
		    (unsigned long long)(k->max / DAY_MS));
		return -1;
	}
	*(uint64_t *)dst = ms;
	return 0;
}

#define PO(f) offsetof(struct proto_conf, f)

static const struct conf_key keys[] = {
    {"protocol_log_enabled", conf_key_bool, PO(log.enabled), 0, 0, 0, NULL},
    {"log_file_location", conf_key_abspath, PO(log.directory), 0, 0, 0, NULL},
    {"log_file_rollover_settings", conf_key_enum, PO(log.rollover), 0, 0, 0,
	log_rollovers},
    {"log_per_file_size_quota", p_logsize, PO(log.per_file_size_quota), 0,
	1ULL << 40, CONF_UNLIMITED, NULL},
    {"log_file_age_limit", p_logage, PO(log.file_age_limit_ms), 0,
	3650ULL * DAY_MS, CONF_UNLIMITED, NULL},
    {"log_directory_size_quota", p_logsize, PO(log.directory_size_quota), 0,
	1ULL << 50, CONF_UNLIMITED, NULL},
    {"log_detail", conf_key_enum, PO(log.detail), 0, 0, 0, log_details},
};

static void *
protolog_base(struct conf *c, unsigned inst)
{
	return &c->proto[inst];
}

static const struct conf_table tables[] = {
    {"protocol", protolog_base, keys, sizeof(keys) / sizeof(keys[0])}};

static int
protolog_defaults(struct conf_loader *l, struct conf *c)
{
	struct protolog_conf *pl;
	int p;

	for (p = 0; p < PROTO_COUNT; p++) {
		pl = &c->proto[p].log;
		protolog_conf_defaults(pl, (enum proto_id)p);
		if ((pl->directory = conf_strdup(l, pl->directory)) == NULL)
			return -1;
	}
	return 0;
}

/* Below this a size quota would start a file every few rows. */
#define LOG_FILE_QUOTA_MIN 4096

static void
protolog_check(struct conf_loader *l, struct conf *c)
{
	struct proto_conf *pc;
	const char *sec;
	unsigned p;
	int line;

	for (p = 0; p < PROTO_COUNT; p++) {
		pc = &c->proto[p];
		sec = proto_get((enum proto_id)p)->section;
		if (!pc->enabled)
			continue;
		line = conf_key_line(l, "protocol", p, "log_file_location");
		pc->log_line =
		    line != 0 ? line : conf_section_line(l, "protocol", p);
		if (!pc->log.enabled)
			continue;
		if (pc->log.directory == NULL)
			conf_error(l, pc->log_line,
			    "[%s] log_file_location must be set when "
			    "protocol_log_enabled = yes",
			    sec);
		if (pc->log.per_file_size_quota != 0 &&
		    pc->log.per_file_size_quota < LOG_FILE_QUOTA_MIN)
			conf_error(l,
			    conf_key_line(l, "protocol", p,
				"log_per_file_size_quota"),
			    "[%s] log_per_file_size_quota: %llu bytes is too "
			    "small (0 for files by time, or at least %d)",
			    sec,
			    (unsigned long long)pc->log.per_file_size_quota,
			    LOG_FILE_QUOTA_MIN);
		if (pc->log.directory_size_quota != 0 &&
		    pc->log.directory_size_quota <
			pc->log.per_file_size_quota) {
			line = conf_key_line(l, "protocol", p,
			    "log_directory_size_quota");
			conf_error(l,
			    line != 0 ? line :
					conf_key_line(l, "protocol", p,
					    "log_per_file_size_quota"),
			    "[%s] log_directory_size_quota is smaller than "
			    "log_per_file_size_quota: every file would be "
			    "deleted as soon as it is full",
			    sec);
		}
	}
}

static void
protolog_conf_free(struct conf *c)
{
	int p;

	for (p = 0; p < PROTO_COUNT; p++)
		free(c->proto[p].log.directory);
}

void
conf_protolog(const struct conf *c, struct protolog_conf *out)
{
	for (int p = 0; p < PROTO_COUNT; p++) {
		out[p] = c->proto[p].log;
		out[p].enabled = c->proto[p].enabled && c->proto[p].log.enabled;
	}
}

/*
 * A size as the quota keys read it (bytes, or k/M/G when exact), then in
 * a comment, which the file ignores, Exchange's ByteQuantifiedSize
 * display: "10M ; 10 MB (10,485,760 bytes)".  zero, if not NULL, is what
 * 0 means, which the keys read as well ("Unlimited").
 */
static void
fmt_bytes(uint64_t n, const char *zero, char *buf, size_t len)
{
	static const char *const units[] = {"B", "KB", "MB", "GB", "TB", "PB"};
	static const char file_units[] = {'\0', 'k', 'M', 'G'};
	char digits[32], grouped[48];
	size_t nd, i, j = 0;
	unsigned u = 0;
	uint64_t whole = n;

	if (n == 0 && zero != NULL) {
		snprintf(buf, len, "%s", zero);
		return;
	}
	while (u + 1 < sizeof(units) / sizeof(units[0]) && whole >= 1024 &&
	       whole % 1024 == 0) {
		whole /= 1024;
		u++;
	}
	nd = (size_t)snprintf(digits, sizeof(digits), "%llu",
	    (unsigned long long)n);
	for (i = 0; i < nd; i++) {
		if (i > 0 && (nd - i) % 3 == 0)
			grouped[j++] = ',';
		grouped[j++] = digits[i];
	}
	grouped[j] = '\0';
	if (u < sizeof(file_units))
		snprintf(buf, len, "%llu%.1s ; %llu %s (%s bytes)",
		    (unsigned long long)whole, &file_units[u],
		    (unsigned long long)whole, units[u], grouped);
	else
		snprintf(buf, len, "%lluG ; %llu %s (%s bytes)",
		    (unsigned long long)(n >> 30), (unsigned long long)whole,
		    units[u], grouped);
}

/* The age limit as a TimeSpan; it may pass what conf_fmt_timespan() holds. */
static void
fmt_age(uint64_t ms, char *buf, size_t len)
{
	char rest[32];

	if (ms == 0) {
		snprintf(buf, len, "Unlimited");
		return;
	}
	conf_fmt_timespan((unsigned)(ms % DAY_MS), rest, sizeof(rest));
	if (ms >= DAY_MS)
		snprintf(buf, len, "%llu.%s", (unsigned long long)(ms / DAY_MS),
		    rest);
	else
		snprintf(buf, len, "%s", rest);
}

/* The rows named as Get-PopSettings names them. */
static void
protolog_dump(const struct conf *c, unsigned p, struct conf_dump *d)
{
	const struct proto_conf *pc = &c->proto[p];

	conf_dump_bool(d, "ProtocolLogEnabled", pc->log.enabled);
	conf_dump_str(d, "LogFileLocation", pc->log.directory);
	conf_dump_str(d, "LogFileRollOverSettings",
	    conf_enum_name(log_rollovers, (int)pc->log.rollover));
	fmt_bytes(pc->log.per_file_size_quota, NULL,
	    conf_dump_row(d, "LogPerFileSizeQuota"), CONF_DUMP_VALUE);
	fmt_age(pc->log.file_age_limit_ms, conf_dump_row(d, "LogFileAgeLimit"),
	    CONF_DUMP_VALUE);
	fmt_bytes(pc->log.directory_size_quota, "Unlimited",
	    conf_dump_row(d, "LogDirectorySizeQuota"), CONF_DUMP_VALUE);
	conf_dump_str(d, "LogDetail",
	    conf_enum_name(log_details, (int)pc->log.detail));
}

const struct conf_module protolog_conf_module = {
    .name = "protolog",
    .tables = tables,
    .ntables = 1,
    .defaults = protolog_defaults,
    .check = protolog_check,
    .free = protolog_conf_free,
    .dump = protolog_dump,
};
