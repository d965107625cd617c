/*
 * stats_conf: the [stats] section (stats_conf.c reads it).
 */
#ifndef POSTERN_STATS_CONF_H
#define POSTERN_STATS_CONF_H

#include <stdbool.h>
#include <sys/socket.h>

struct addrset;

/* The [stats] section: the statistics and health server (stats.h). */
struct stats_conf {
	char *listen;                 /* as written; NULL: no server */
	struct sockaddr_storage addr; /* listen, parsed */
	socklen_t addrlen;
	int listen_line;
	/* Who may ask; the default (NULL in the file) is loopback only. */
	struct addrset *allowed_ips;
	char *token_file; /* NULL: no token asked for */
	char *token;      /* its first line, read at every load */
};

struct conf_module;

/* The configuration of the [stats] section. */
extern const struct conf_module stats_conf_module;

#endif
