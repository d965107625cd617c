/*
 * routing_conf: the backends and the routing map (routing_conf.c reads
 * the [backend "<name>"] sections, [routing], and the protocols' backend
 * key; routing.h chooses a login's backend).
 */
#ifndef POSTERN_ROUTING_CONF_H
#define POSTERN_ROUTING_CONF_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "proto_conf.h"
#include "proto_id.h"

struct routemap;
struct ssl_ctx_st;

/* The length of a backend address's TLS identity digest (SHA-256). */
#define TLS_RESUME_ID_LEN 32

/* The longest backend name. */
#define BACKEND_NAME_MAX 64

/*
 * The name the protocols' own backends go by (backend = host:port in
 * [pop3] or [imap]); no [backend "<name>"] may take it.
 */
#define BACKEND_DEFAULT_NAME "default"

/* One address of a backend for one protocol. */
struct backend_addr {
	char *host; /* name or address, as written (no brackets) */
	char *port; /* decimal, for getaddrinfo */
	int line;   /* where it was configured */
	/* Filled by server_prepare(): the resolved address. */
	struct sockaddr_storage addr;
	socklen_t addrlen;
	/*
	 * Until when (ms of CLOCK_MONOTONIC) the address is passed over
	 * after a failed connection; 0: never failed.  Shared by the
	 * workers, so atomic.
	 */
	_Atomic uint64_t down_until_ms;
	/* Filled by tls_resume_conf(): what its TLS sessions are kept
	 * under (tls_resume.h). */
	unsigned char tls_id[TLS_RESUME_ID_LEN];
};

/* The addresses of one server for one protocol, tried in order. */
struct backend_pool {
	struct backend_addr *v;
	size_t n;
};

/* A backend: one mail server, reached at the addresses of its pools. */
struct backend {
	char *name;    /* as written; BACKEND_DEFAULT_NAME for a protocol's */
	int line;      /* of its section, or of the protocol's backend key */
	bool implicit; /* a protocol's backend = host:port */
	struct backend_pool pool[PROTO_COUNT];
	enum backend_tls tls;
	char *ca_file;          /* NULL: the system's default CA store */
	bool verify;            /* check the certificate and its name */
	char *server_name;      /* verified and sent as SNI; NULL: the host */
	bool tls_session_cache; /* resume earlier sessions (tls_resume.h) */
	unsigned connect_timeout_ms; /* per address */
	unsigned down_time_ms;       /* an address that failed is passed over */
	unsigned max_connections;    /* sessions at once; 0: unlimited */
	/* Filled by tls_conf_setup() when tls is not none. */
	struct ssl_ctx_st *ssl_ctx;
	/* Its sessions now, for max_connections; shared by the workers. */
	atomic_uint sessions;
	/* The relayed SASL mechanisms it offered to postern, per protocol,
	 * as last seen in a login dialogue: a saslmech.h set with
	 * BACKEND_MECHS_SEEN; 0 before any was seen. */
	atomic_uint sasl_offered[PROTO_COUNT];
};

/* In struct backend's sasl_offered: the set has been seen. */
#define BACKEND_MECHS_SEEN 0x80000000u

/* What a directory value that [route_values] does not list does. */
enum routing_unmapped {
	ROUTING_UNMAPPED_REFUSE, /* a temporary failure (the default) */
	ROUTING_UNMAPPED_DEFAULT /* the protocol's own backend */
};

/* One line of [route_values]: a directory value and its backend. */
struct route_value {
	char *value; /* as written */
	char *name;  /* the backend, as written */
	int line;
	int index; /* into named[]; nnamed for "default"; -1 unresolved */
};

/* The [routing] section and the backends. */
struct routing_conf {
	struct backend **named; /* the [backend "<name>"] sections, in order */
	size_t nnamed;
	/* Each protocol's backend = host:port, when it is not a name. */
	struct backend *implicit[PROTO_COUNT];
	/* Each protocol's own backend: a named or its implicit one. */
	struct backend *defaults[PROTO_COUNT];
	char *map_file;             /* NULL: every user goes to the default */
	int map_file_line;          /* where map_file is set */
	struct routemap *map;       /* read at load; its values index named[],
				       nnamed standing for the default */
	char *ldap_route_attribute; /* NULL: no routing by the directory */
	struct route_value *values; /* [route_values], in order */
	size_t nvalues;
	int unmapped_route; /* enum routing_unmapped */
};

#endif
