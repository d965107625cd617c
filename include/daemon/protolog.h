/*
 * protolog: protocol logs in the format Exchange 2016/2019 writes under
 * Logging\Pop3 and Logging\Imap4, so that the scripts and parsers written
 * for those logs read postern's unchanged (docs/protocol-log.md).
 *
 * Three parts:
 *  - the row encoder and the context builder: pure functions that turn the
 *    facts of one command into one CSV line, byte for byte as Exchange
 *    writes it, plus the few changes the format document asks for on
 *    client-controlled values (see protolog_encode());
 *  - file naming, rollover and retention, also pure or confined to one
 *    directory, so that they can be tested on their own;
 *  - the writer thread: event loops hand finished rows to
 *    protolog_submit(), which only copies them into a bounded queue; one
 *    thread owns the files and does every disk operation.
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
 *       access policy's reason (AccessRuleDenied:<rule>, NotInGroup:<group>).
 * The audit keys are never in ErrMsg, which log tools read as a failure.
 */
#ifndef POSTERN_PROTOLOG_H
#define POSTERN_PROTOLOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "proto_id.h"
#include "protolog_conf.h"

/* Exchange's front end writes at most one proxy row per 30 seconds. */
#define PROTOLOG_PROXY_INTERVAL_MS 30000

/*
 * Default settings, as Exchange 2016/2019 has them; each protocol's
 * default directory is in its descriptor (proto.h).
 */
#define PROTOLOG_AGE_LIMIT_DEFAULT_MS (30ULL * 24 * 3600 * 1000)

/*
 * Fills c with the defaults for protocol p: disabled, the default
 * directory (a string constant: replace it, do not free it), hourly,
 * no size quotas, 30 days, one row per command.
 */
void protolog_conf_defaults(struct protolog_conf *c, enum proto_id p);

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
 * Writes the six header lines of a new file of protocol p started at
 * time ms; same return convention as protolog_encode().
 */
size_t protolog_header(enum proto_id p, int64_t ms, char *buf, size_t cap);

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

/* Writes "POP3<date>-<n>.LOG" or "IMAP4<date>-<n>.LOG" into buf. */
void protolog_file_name(enum proto_id p, const char *date, unsigned n,
    char buf[PROTOLOG_NAME_MAX]);

/*
 * Whether name is one of protocol p's log files, as postern writes them:
 * POP3|IMAP4, a date in one of the four forms, '-', a number, ".LOG".
 * When it is and date is not NULL, the date part is copied there (16
 * bytes), and *n gets the number.
 */
bool protolog_name_match(enum proto_id p, const char *name, char *date,
    unsigned *n);

/*
 * Applies the retention limits to protocol p's files in dir: first every
 * file last written before now_ms - age_limit_ms (when the limit is not
 * 0), then, oldest first, files until the rest fit in dir_quota bytes
 * (when not 0).  Only regular files whose names protolog_name_match()
 * accepts are counted or deleted, and never the file named keep (may be
 * NULL).  Returns the number of files deleted, or -1 if dir could not be
 * read.
 */
int protolog_retention(const char *dir, enum proto_id p, uint64_t age_limit_ms,
    uint64_t dir_quota, int64_t now_ms, const char *keep);

/*
 * Creates dir and its parents when missing (mode 0750) and checks that
 * this process may create files in it.  Returns 0, or -1 with a reason in
 * err for a configuration error.
 */
int protolog_check_dir(const char *dir, char *err, size_t errlen);

/*
 * Keeps dir open for the rest of the process, called as root before the
 * privileges are dropped: the writer then reaches it through that
 * descriptor, so the directories above it need not let the user pass (a
 * root-owned 0750 LogsDirectory=).  dir itself must still be writable by
 * the user.  A pinned directory that was removed or replaced is reached
 * by its name again.  Returns 0, or -1 with a reason in err.
 */
int protolog_pin_dir(const char *dir, char *err, size_t errlen);

/*
 * The file in each protocol log directory that the running instance holds
 * a lock on (flock(2)), with its pid: a second instance refuses the
 * directory, since two writers would interleave rows in one hourly file.
 */
#define PROTOLOG_LOCK "postern.lock"

/*
 * Whether another process holds dir's lock: 1 with a message naming dir
 * and the holder's pid in err, else 0.  For "postern -t".
 */
int protolog_dir_in_use(const char *dir, char *err, size_t errlen);

/* Counters since protolog_start(). */
struct protolog_stats {
	uint64_t rows_written;
	uint64_t rows_dropped; /* queue full: the writer could not keep up */
	uint64_t rows_failed;  /* lost to write errors */
	uint64_t bytes_written;
	uint64_t files_opened;
	uint64_t files_deleted; /* by retention */
	size_t queue_bytes;     /* now waiting */
	size_t queue_peak;
};

/* Default bound of the queue between the event loops and the writer. */
#define PROTOLOG_QUEUE_MAX_DEFAULT (32u * 1024 * 1024)
/*
 * Once a row is queued, the writer lets more gather this long (ms) before
 * it takes them: one wake-up and one write(2) for the rows of a moment.
 * Waking it for each row cost the workers more CPU (futex wake-ups,
 * context switches, contention on the queue's lock) than the rows did.
 * A queue half full, protolog_flush() and protolog_stop() cut it short.
 */
#define PROTOLOG_GATHER_MS 100

/*
 * Starts the writer thread with the settings of each protocol (an array
 * of PROTO_COUNT, indexed by enum proto_id) and a queue bound in bytes (0:
 * the default).  The directories of enabled protocols are checked first
 * and locked (PROTOLOG_LOCK) until protolog_stop() or a reconfiguration
 * that no longer uses them; one that another instance holds is refused.
 * Returns 0, or -1 with the reason in err (a configuration error).
 */
int protolog_start(const struct protolog_conf conf[PROTO_COUNT],
    size_t queue_max, char *err, size_t errlen);

/*
 * Switches to new settings (on SIGHUP): rows submitted from now on follow
 * them, rows queued before still go where the old ones said.  A new
 * directory is locked as by protolog_start().  Returns 0, or -1 with the
 * reason in err, and then nothing changes.
 */
int protolog_reconfigure(const struct protolog_conf conf[PROTO_COUNT],
    char *err, size_t errlen);

/* Whether rows of protocol p are wanted now; cheap. */
bool protolog_enabled(enum proto_id p);

/* The detail level of protocol p's logging. */
enum protolog_detail protolog_detail(enum proto_id p);

/*
 * Hands a finished row of protocol p to the writer.  Never touches the
 * disk and never waits for it: the row is encoded and queued, or, when
 * the queue is full, counted as dropped.  Callable from any thread; rows
 * from one thread keep their order.  Does nothing when p is not enabled.
 */
void protolog_submit(enum proto_id p, const struct protolog_row *row);

/* Waits until every row submitted before the call is in its file. */
void protolog_flush(void);

/* Writes every queued row, closes the files and ends the thread. */
void protolog_stop(void);

/* Copies the counters into st. */
void protolog_get_stats(struct protolog_stats *st);

struct conf_module;

/* The protocol-log keys of the protocol sections (protolog_conf.c). */
extern const struct conf_module protolog_conf_module;

#endif
