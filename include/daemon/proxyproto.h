/*
 * proxyproto: the HAProxy PROXY protocol, versions 1 (text) and 2 (binary),
 * as written in haproxy's doc/proxy-protocol.txt.  Pure functions: no I/O,
 * no logging.
 *
 * proxyproto_parse() is given every byte received so far on a connection
 * and answers NEED_MORE until it can decide; it never asks for more than
 * PROXYPROTO_MAX_HEADER bytes, and answers INVALID as soon as the bytes
 * seen cannot start a valid header.  The caller removes out->consumed
 * bytes and hands the rest to the next layer (TLS or the protocol).
 */
#ifndef POSTERN_PROXYPROTO_H
#define POSTERN_PROXYPROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Longest version 1 line, CRLF included (the specification's limit). */
#define PROXYPROTO_V1_MAX 107

/*
 * Largest version 2 length field accepted: the 216-byte AF_UNIX address
 * block plus room for TLVs (authority, unique id, SSL details).
 */
#define PROXYPROTO_V2_MAX_LEN 1024

/* Most bytes a header can take: the 16-byte version 2 prologue plus that. */
#define PROXYPROTO_MAX_HEADER (16 + PROXYPROTO_V2_MAX_LEN)

/* Longest header proxyproto_build_v2() writes (TCP over IPv6). */
#define PROXYPROTO_V2_BUILD_MAX (16 + 36)

/* The answer of proxyproto_parse(). */
enum proxyproto_status {
	PROXYPROTO_NEED_MORE,
	PROXYPROTO_DONE,
	PROXYPROTO_INVALID
};

/* Why a header is invalid. */
enum proxyproto_error {
	PROXYPROTO_ERR_NONE = 0,
	PROXYPROTO_ERR_SIGNATURE,   /* neither "PROXY " nor the v2 signature */
	PROXYPROTO_ERR_V1_TOO_LONG, /* no CRLF within 107 bytes */
	PROXYPROTO_ERR_V1_CHAR,     /* control byte, or CR without LF */
	PROXYPROTO_ERR_V1_SYNTAX,   /* unknown protocol, wrong field count */
	PROXYPROTO_ERR_V1_ADDRESS,  /* address not valid for the family */
	PROXYPROTO_ERR_V1_PORT,     /* port not decimal 0-65535 */
	PROXYPROTO_ERR_V2_VERSION,  /* version nibble other than 2 */
	PROXYPROTO_ERR_V2_COMMAND,  /* command other than LOCAL or PROXY */
	PROXYPROTO_ERR_V2_FAMILY,   /* unassigned family/transport byte */
	PROXYPROTO_ERR_V2_LENGTH,   /* too long, or too short for addresses */
	PROXYPROTO_ERR_V2_TLV       /* a TLV runs past the header */
};

/* What a complete header says. */
struct proxyproto_result {
	size_t consumed; /* header length, CRLF included for version 1 */
	int version;     /* 1 or 2 */
	/*
	 * true for v2 LOCAL, v1 UNKNOWN and v2 families other than TCP
	 * over IPv4/IPv6: use the connection's own addresses; src and dst
	 * are then zero (AF_UNSPEC).
	 */
	bool local;
	struct sockaddr_storage src; /* the client, port included */
	struct sockaddr_storage dst; /* the address the client connected to */
	enum proxyproto_error error; /* set with PROXYPROTO_INVALID */
};

/* Parses the start of buf; out is filled on DONE, out->error on INVALID. */
enum proxyproto_status proxyproto_parse(const uint8_t *buf, size_t len,
    struct proxyproto_result *out);

/*
 * Writes a version 2 PROXY header for a TCP connection from src to dst
 * into out; returns its length, or -1 if a family is not AF_INET/AF_INET6
 * or cap is too small.  IPv4-mapped addresses are sent as IPv4 when both
 * ends are IPv4; otherwise an IPv4 end is sent IPv4-mapped in TCP6.
 * With src NULL it is a LOCAL header instead (no client: a connection of
 * the proxy's own, such as a health check), and dst is not read.
 */
int proxyproto_build_v2(const struct sockaddr *src, const struct sockaddr *dst,
    uint8_t *out, size_t cap);

/* A fixed description of err for the daemon log. */
const char *proxyproto_strerror(enum proxyproto_error err);

#endif
