/*
 * protolog_conf: the protocol-log settings of one protocol, as the
 * configuration holds them and the protocol-log writer takes them.
 * protolog_conf.c reads them from the protocol sections.
 */
#ifndef POSTERN_PROTOLOG_CONF_H
#define POSTERN_PROTOLOG_CONF_H

#include <stdbool.h>
#include <stdint.h>

#include "protolog_row.h"

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
