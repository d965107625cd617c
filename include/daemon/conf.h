/*
 * conf: the configuration snapshot.
 *
 * The INI file is read once into a struct conf, validated as a whole, and
 * never changed afterwards.  Sessions hold a reference to the snapshot they
 * started with; a reload (SIGHUP, postern -R) builds a new snapshot and
 * swaps it in for new sessions only.  Every error names the file and line
 * it comes from.
 *
 * The snapshot holds each module's settings, typed; each module reads,
 * defaults, checks, frees and prints its own (conf_table.h), and conf.c
 * is the engine that drives them.
 */
#ifndef POSTERN_CONF_H
#define POSTERN_CONF_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "groups_conf.h"
#include "log.h"
#include "policy_conf.h"
#include "proto_conf.h"
#include "proto_id.h"
#include "routing_conf.h"
#include "stats_conf.h"
#include "throttle_conf.h"
#include "tls_conf.h"

struct ssl_ctx_st;
struct addrset;

/*
 * A whole configuration snapshot: each module's settings, in the struct
 * its own header declares (tls_conf.h, proto_conf.h with protolog_conf.h,
 * policy_conf.h, groups_conf.h, throttle_conf.h, routing_conf.h,
 * stats_conf.h); the [postern] keys are the fields at the top.
 */
struct conf {
	atomic_uint refs;
	char *path;

	unsigned workers; /* resolved: "auto" becomes the CPU count */
	char *user;       /* NULL: do not change user */
	char *pid_file;   /* NULL: write none */
	enum log_level log_level;
	bool syslog;
	unsigned shutdown_timeout_ms;
	/* Where a PROXY protocol header is believed; NULL: nowhere. */
	struct addrset *trusted_proxies;

	struct tls_conf tls;
	struct proto_conf proto[PROTO_COUNT];

	/*
	 * Filled by the tls module, freed with the snapshot: one server
	 * context per protocol, so that a TLS session (its cache and ticket
	 * keys) of one protocol cannot be resumed on another.
	 */
	struct ssl_ctx_st *server_ssl_ctx[PROTO_COUNT];

	/* Access policy. */
	uint64_t serial;    /* distinct for every snapshot loaded */
	struct rule *rules; /* enabled and disabled, by priority */
	size_t nrules;
	struct groups_conf groups;
	struct throttle_conf throttle;
	struct routing_conf routing;
	struct stats_conf stats;
};

/*
 * Reads and validates the file at path.  Returns a snapshot holding one
 * reference, or NULL after writing every problem found to errout as
 * "path:line: message" lines.
 */
struct conf *conf_load(const char *path, FILE *errout);

/* Takes one more reference to c and returns it. */
struct conf *conf_ref(struct conf *c);

/* Drops one reference; the last one frees the snapshot. NULL is ignored. */
void conf_unref(struct conf *c);

/* Prints the effective settings as "Name : Value" lines, per protocol. */
void conf_dump(const struct conf *c, FILE *out);

/* "POP3" or "IMAP4", the names Exchange gives the protocols. */
const char *conf_proto_name(enum proto_id p);

/*
 * Parses "30s", "1m", "2h", "1d", "500ms", a bare number of seconds, or
 * Exchange's "[d.]hh:mm:ss[.fffffff]" into ms.
 */
int conf_parse_duration(const char *s, unsigned *ms);

/* Parses "512", "64k", "10M", "1G" (powers of 1024) into bytes. */
int conf_parse_size(const char *s, uint64_t *bytes);

/*
 * Fills out[PROTO_COUNT] with c's protocol-log settings; the directories
 * point into c, which must outlive out.  A protocol that is not enabled
 * has its protocol log disabled too.
 */
void conf_protolog(const struct conf *c, struct protolog_conf *out);

#endif
