/*
 * protolog_conf: the protocol-log settings of one protocol, as the
 * configuration holds them and the protocol-log writer takes them.
 * protolog_conf.c reads them from the protocol sections.
 */
#ifndef POSTERN_PROTOLOG_CONF_H
#define POSTERN_PROTOLOG_CONF_H

#include <stdbool.h>
#include <stdint.h>

/* How often a new file starts when there is no per-file size quota. */
enum protolog_rollover {
	PROTOLOG_HOURLY, /* yyyyMMddHH, Exchange 2016/2019's default */
	PROTOLOG_DAILY,  /* yyyyMMdd */
	PROTOLOG_WEEKLY, /* yyyyMMWn, n the week of the month, 1-6 */
	PROTOLOG_MONTHLY /* yyyyMM */
};

/* What is logged after a successful login. */
enum protolog_detail {
	PROTOLOG_DETAIL_COMMANDS, /* one row per client command (default) */
	PROTOLOG_DETAIL_PROXY     /* Exchange's front-end "proxy" rows */
};

/* The protocol-log settings of one protocol. */
struct protolog_conf {
	bool enabled;
	char *directory; /* copied by protolog_start()/_reconfigure() */
	enum protolog_rollover rollover;
	uint64_t per_file_size_quota;  /* bytes; 0: files by time only */
	uint64_t file_age_limit_ms;    /* 0: never delete by age */
	uint64_t directory_size_quota; /* bytes; 0: no limit */
	enum protolog_detail detail;
};

#endif
