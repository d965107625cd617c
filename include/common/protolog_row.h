/*
 * protolog_row: the row format of the protocol logs, as Exchange
 * 2016/2019 writes them under Logging\Pop3 and Logging\Imap4, so that
 * the scripts and parsers written for those logs read postern's
 * unchanged (docs/protocol-log.md): the row encoder and the context
 * builder (pure functions that turn the facts of one command into one CSV
 * line, byte for byte as Exchange writes it, plus the few changes the
 * format document asks for on client-controlled values; see
 * protolog_encode()), the file header, and the files' names and periods.
 * The daemon writes with it; exlogread.h is its reading half.
 *
 * postern's own context keys, written after Exchange's, in this order:
 *   Tls=none | STARTTLS:<version> | implicit:<version>
 *       how the client's connection was protected when the row was written
 *       (<version> as OpenSSL names it, e.g. TLSv1.3);
 *   ClientName=<name>, ClientVersion=<version>
 *       what the client announced with IMAP ID (RFC 2971 "name",
 *       "version");
 *   PeerIp=<address:port>
 *       the TCP peer, when cIp holds the address a trusted PROXY-protocol
 *       hop reported instead;
 *   Backend=<name>, Route=<source>
 *       on a login row, the backend the login went to ([backend "<name>"],
 *       or "default" for the protocol's backend = host:port) and why:
 *       map:<line>:<user|user-part|domain|any>, the routing map's entry,
 *       rule:<name>, the route of the allow rule that let it through, or
 *       default;
 *   LoginTypeAudit=<verdict>
 *       on a login that went through, what the login-type policy would
 *       have done without login_type_mode = audit (WouldDeny:SecureLogin,
 *       WouldDeny:PlainTextAuthentication), or Exempt when
 *       login_type_exempt_ips let it through;
 *   AccessRuleAudit=WouldDeny:<rule>
 *       on a login that went through, the access rule with action = audit
 *       that would have refused it;
 *   Reason=<reason>
 *       on a refused login, which is written in Exchange's shape (ErrMsg=
 *       AuthFailed:LogonDenied), why postern refused it:
 *       ProxyNotAuthenticated (the backend refused the credentials) or the
 *       access policy's reason (AccessRuleDenied:<rule>, NotInGroup:<group>);
 *       on a throttled one (ErrMsg=Throttled), the ban: ClientBanned or
 *       UserBanned.
 * The audit keys are never in ErrMsg, which log tools read as a failure.
 */
#ifndef POSTERN_PROTOLOG_ROW_H
#define POSTERN_PROTOLOG_ROW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* How often a new file starts when there is no per-file size quota. */
enum protolog_rollover {
	PROTOLOG_HOURLY, /* yyyyMMddHH, Exchange 2016/2019's default */
	PROTOLOG_DAILY,  /* yyyyMMdd */
	PROTOLOG_WEEKLY, /* yyyyMMWn, n the week of the month, 1-6 */
	PROTOLOG_MONTHLY /* yyyyMM */
};

/* Room for the values of one row's context keys, in bytes. */
#define PROTOLOG_CONTEXT_MAX 4096
/* Longest value of one context key before it is cut, in bytes. */
#define PROTOLOG_VALUE_MAX 1024
/* Longest parameters field, in characters, as Exchange cuts it. */
#define PROTOLOG_PARAMS_MAX 2048
/* Longest user field, in characters. */
#define PROTOLOG_USER_MAX 256

/*
 * The context keys, in the order they appear in a row: Exchange's first
 * (the order of its own logs), then postern's (see the top of this file),
 * then ErrMsg.  Exchange writes ErrMsg last, and tools that read its logs
 * rely on that: CrowdSec's Exchange parsers only match a row whose context
 * ends in "ErrMsg=AuthFailed:LogonDenied".
 */
enum protolog_key {
	PROTOLOG_R,
	PROTOLOG_ROWS,
	PROTOLOG_RECENT,
	PROTOLOG_TOTALSIZE,
	PROTOLOG_SEARCH,
	PROTOLOG_CLIENTIP,
	PROTOLOG_MSG,
	PROTOLOG_UNSEEN,
	PROTOLOG_FOLDERCOUNT,
	PROTOLOG_ITEMSDELETED,
	PROTOLOG_CAFEACTIVITYID,
	PROTOLOG_TLS,
	PROTOLOG_CLIENTNAME,
	PROTOLOG_CLIENTVERSION,
	PROTOLOG_PEERIP,
	PROTOLOG_BACKEND,
	PROTOLOG_ROUTE,
	PROTOLOG_LOGINTYPEAUDIT,
	PROTOLOG_ACCESSRULEAUDIT,
	PROTOLOG_REASON,
	PROTOLOG_ERRMSG,
	PROTOLOG_NKEYS
};

/*
 * The context field of one row under construction.  Values are copied in,
 * so the caller's strings need not outlive the calls.  Initialise with
 * protolog_ctx_init(); it holds no resources.
 */
struct protolog_ctx {
	uint16_t off[PROTOLOG_NKEYS];
	uint16_t len[PROTOLOG_NKEYS];
	uint32_t set; /* bit k: key k has a value */
	uint16_t used;
	char arena[PROTOLOG_CONTEXT_MAX];
};

/* The TLS state of a client connection, for the Tls key. */
enum protolog_tls {
	PROTOLOG_TLS_NONE,
	PROTOLOG_TLS_STARTTLS,
	PROTOLOG_TLS_IMPLICIT
};

/* Empties ctx. */
void protolog_ctx_init(struct protolog_ctx *ctx);

/*
 * Sets key to value (NULL removes it).  Msg accumulates: a second Msg is
 * joined to the first with ';', as Exchange joins its messages.  Values
 * are cut at PROTOLOG_VALUE_MAX bytes (on a character boundary), and a '"'
 * inside becomes '\'': Exchange does not escape inside values, so a quote
 * taken from a client or a backend answer would end the value early and
 * let it forge keys.
 */
void protolog_ctx_set(struct protolog_ctx *ctx, enum protolog_key key,
    const char *value);

/* Same, with the value formatted from fmt (not client data). */
void protolog_ctx_setf(struct protolog_ctx *ctx, enum protolog_key key,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/*
 * Sets Msg for a proxied login: "Proxy:<host>:<port>:<enc>" and, when it
 * succeeded, ";ProxySuccess".  enc is "SSL", "TLS" or "Plaintext".
 */
void protolog_ctx_proxy(struct protolog_ctx *ctx, const char *host,
    const char *port, const char *enc, bool success);

/* Sets Tls from the connection's state; version may be NULL for none. */
void protolog_ctx_tls(struct protolog_ctx *ctx, enum protolog_tls tls,
    const char *version);

/* The key's name as written ("R", "ErrMsg", "Tls"). */
const char *protolog_key_name(enum protolog_key key);

/* The key with that name (exact case), or -1. */
int protolog_key_lookup(const char *name, size_t len);

/*
 * Room for a formatted context with its NUL: values (each quote in them
 * doubled) plus keys and quotes.
 */
#define PROTOLOG_CONTEXT_STRMAX (2 * PROTOLOG_CONTEXT_MAX + 24 * PROTOLOG_NKEYS)

/*
 * Writes the context as Exchange does: "Key=Value" pairs joined by ';' in
 * key order, a value wrapped in '"' when it holds a space, ',' or ';'.
 * Writes at most cap bytes with a NUL (when cap > 0) and returns the
 * length of the whole, like snprintf.
 */
size_t protolog_ctx_format(const struct protolog_ctx *ctx, char *buf,
    size_t cap);

/* The facts of one row; NULL strings are empty fields. */
struct protolog_row {
	int64_t time_ms;     /* dateTime, ms since the epoch; 0: now */
	uint64_t session_id; /* written as 16 upper-case hex digits */
	unsigned seq;
	const char *sip; /* "192.0.2.1:993", "[2001:db8::1]:993" */
	const char *cip;
	const char *user;
	uint64_t duration_ms; /* see protolog_duration() */
	uint64_t rqsize;
	uint64_t rpsize;
	const char *command; /* lower-case verb, or OpenSession & co. */
	const char *params;  /* already masked by the caller */
	const struct protolog_ctx *context;
};

/*
 * Encodes row as one CSV line ending in CRLF, 13 fields with an empty
 * puid.  CSV as Exchange writes it: a field is quoted only when it holds
 * ',' or '"', a '"' is doubled, CR and LF become the two characters "\r"
 * and "\n".  Bytes that are not part of well-formed UTF-8, the other
 * control bytes but tab, and DEL become "\xNN" (two lowercase hex
 * digits), so that every file is valid UTF-8; well-formed UTF-8 is kept.
 * On top of that, as docs/protocol-log.md requires:
 *  - user: kept as the client sent it (DOMAIN\user, quoted like any field
 *    when it holds ',' or '"'), cut at PROTOLOG_USER_MAX characters;
 *  - parameters: cut at PROTOLOG_PARAMS_MAX characters;
 *  - user, command and parameters come from the client: when one would
 *    start with '=', '+', '-', '@' or a tab, a '\'' is put before it so
 *    that no spreadsheet takes it for a formula.
 * Writes at most cap bytes (NUL-terminated when cap > 0) and returns the
 * full length without the NUL, like snprintf.  row->time_ms must be set.
 */
size_t protolog_encode(const struct protolog_row *row, char *buf, size_t cap);

/* Formats ms since the epoch as "2026-01-02T03:04:05.678Z" (25 bytes). */
void protolog_format_time(int64_t ms, char buf[25]);

/*
 * A row's duration in whole ms from start to end: 1 when under a
 * millisecond but not zero, 0 when end is not after start.
 */
uint64_t protolog_duration(const struct timespec *start,
    const struct timespec *end);

/* The current time in ms since the epoch (CLOCK_REALTIME). */
int64_t protolog_now(void);

/* The bare field-name line that starts every file, with CRLF. */
#define PROTOLOG_FIELDS                                                        \
	"dateTime,sessionId,seqNumber,sIp,cIp,user,duration,rqsize,rpsize,"    \
	"command,parameters,context,puid"

/*
 * Writes the six header lines of a new file of the protocol named proto
 * ("POP3", "IMAP4") started at time ms; same return convention as
 * protolog_encode().
 */
size_t protolog_header(const char *proto, int64_t ms, char *buf, size_t cap);

/* Room for a file name: "IMAP4" + 10 digits + "-" + 10 digits + ".LOG". */
#define PROTOLOG_NAME_MAX 40

/*
 * Computes the date part of the file that a row written at ms belongs to
 * ("2026010203", "20260102", "202601W1", "202601"), and the period
 * [*start, *end) in ms during which that date part stays the same.  With
 * a per-file size quota the date is always the day.  Weeks start on
 * Sunday, as in .NET's invariant culture, so a month has up to six.
 */
void protolog_period(enum protolog_rollover r, uint64_t size_quota, int64_t ms,
    char date[16], int64_t *start, int64_t *end);

/* Writes "<proto><date>-<n>.LOG" ("POP32026010203-1.LOG") into buf. */
void protolog_file_name(const char *proto, const char *date, unsigned n,
    char buf[PROTOLOG_NAME_MAX]);

/*
 * Whether name is one of the log files of the protocol named proto, as
 * postern writes them: the name exactly, a date in one of the four forms,
 * '-', a number, ".LOG".  (exlogname.h reads the wider set of names that
 * Exchange writes too.)  When it is and date is not NULL, the date part
 * is copied there (16 bytes), and *n gets the number.
 */
bool protolog_name_match(const char *proto, const char *name, char *date,
    unsigned *n);

#endif
