/*
 * inventory: turns protocol log rows into the answer a migration team
 * needs: which clients, users and programs still use POP3 and IMAP4, how
 * (ports, TLS, login mechanisms), and which would break under one of
 * Exchange's login types (postern's login_type): SecureLogin refuses every
 * login without TLS, PlainTextAuthentication those without TLS whose
 * mechanism sends a password or a bearer token, PlainTextLogin none.
 *
 * Rows are fed one file at a time (inv_file_begin / inv_file_row /
 * inv_file_end).  Rows are grouped into sessions by sessionId inside a
 * file; a session is added to the aggregates when its CloseSession row
 * arrives or the file ends.  Memory grows with the number of sessions open
 * at once and the number of distinct clients, users and programs, never
 * with the number of rows.
 *
 * One inventory is not thread-safe: each thread fills its own and
 * inventory_merge() adds them up at the end.
 */
#ifndef POSTERN_INVENTORY_H
#define POSTERN_INVENTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "exlogname.h"
#include "exlogread.h"

/* What the records are keyed by (--by). */
enum inv_by {
	INV_BY_CLIENT,      /* the client's address, without its port */
	INV_BY_USER,        /* the login name, compared case-insensitively */
	INV_BY_CLIENT_USER, /* each pair of the two */
	INV_BY_SOFTWARE,    /* the IMAP ID name and version, "(none)" without */
	INV_BY_BACKEND,     /* the backend the logins went to */
	INV_BY_BACKEND_USER, /* each pair of backend and user */
	INV_BY_MECHANISM     /* the mechanism of a session's last login */
};

/* The login type whose refusals make a record "would break". */
enum inv_login_type {
	INV_LOGIN_SECURE,          /* SecureLogin, the default */
	INV_LOGIN_PLAINTEXT_AUTH,  /* PlainTextAuthentication */
	INV_LOGIN_PLAINTEXT_LOGIN, /* PlainTextLogin: refuses nothing */
	INV_LOGIN_TYPES
};

/* The key of the sessions without any login, by mechanism. */
#define INV_MECH_NONE_KEY "(none)"

/*
 * The backend of a login that names none (Exchange's own logs, and logins
 * of postern's logs that succeeded without saying where).
 */
#define INV_BACKEND_UNKNOWN "(unknown)"

/* Protocol bits, and the index of each in per-protocol arrays. */
#define INV_POP3 1u
#define INV_IMAP4 2u
#define INV_PROTO_POP3 0
#define INV_PROTO_IMAP4 1
#define INV_NPROTO 2

/* How a login's connection was protected. */
enum inv_tls { INV_TLS_NONE, INV_TLS_IMPLICIT, INV_TLS_STARTTLS };

/* Most server ports and sample names kept per record. */
#define INV_PORTS_MAX 8
#define INV_SAMPLES 4

/* Most malformed rows remembered (all are counted). */
#define INV_BAD_KEEP 200

/* What to count; filled in by the caller. */
struct inv_options {
	int64_t since_ms;   /* rows earlier than this are left out */
	int64_t until_ms;   /* rows at or after this are left out */
	unsigned protocols; /* INV_POP3 | INV_IMAP4 */
	enum inv_by by;
	const char *const
	    *servers; /* server names, indexed by inv_file_begin() */
	size_t nservers;
	/* Sessions of users matching one of these (inventory_user_match())
	 * are left out: Exchange's health probes, service accounts. */
	const char *const *exclude_users;
	size_t nexclude_users;
	enum inv_login_type login_type; /* what "would break" means */
};

/*
 * One line of the report.  A login "without TLS" is one on a connection
 * that was neither implicit TLS nor upgraded with STARTTLS/STLS before
 * it: SecureLogin refuses those, so a record with cleartext_ok > 0 is a
 * client that would break under it; PlainTextAuthentication refuses those
 * counted in cleartext_password_ok (see inv_mech_plaintextauth_refuses()).
 */
struct inv_record {
	const char *key;  /* client address, user, software or backend */
	const char *key2; /* the user, for the pairs' reports; else NULL */
	unsigned protocols;
	uint16_t ports[INV_PORTS_MAX]; /* server ports, ascending */
	unsigned nports;
	bool ports_more; /* more ports than INV_PORTS_MAX */
	uint64_t sessions;
	uint64_t logins_ok, logins_failed;
	uint64_t cleartext_ok;       /* successful logins without TLS */
	uint64_t cleartext_failed;   /* failed logins without TLS */
	uint64_t implicit_ok;        /* successful logins over implicit TLS */
	uint64_t starttls_ok;        /* successful logins after STARTTLS/STLS */
	uint64_t pop3_dele_sessions; /* POP3 sessions that sent DELE */
	uint64_t pop3_leave_sessions; /* logged-in POP3 sessions without DELE */
	/* Successful logins without TLS whose mechanism sends a password or a
	 * bearer token: PlainTextAuthentication refuses them. */
	uint64_t cleartext_password_ok;
	unsigned mechanisms; /* bit (1 << enum exlog_mech) of every login */
	int64_t first_ms, last_ms;
	/*
	 * By client: the users seen from it; by user: the clients it came
	 * from; by software: the clients that ran it; by backend: the users
	 * that logged in through it; by backend and user: the clients the
	 * user came from.  Count and the first few in sort order.
	 */
	uint64_t nrelated;
	const char *related[INV_SAMPLES];
	/* By backend: the clients that logged in through it; else none. */
	uint64_t nrelated2;
	const char *related2[INV_SAMPLES];
	uint64_t *servers; /* bitset over inv_options.servers */
	uint64_t hash;     /* internal */
};

/* Totals of one protocol. */
struct inv_proto_totals {
	uint64_t sessions, logins_ok, logins_failed, cleartext_ok;
	uint64_t clients, users;
};

/* The summary at the top of every report. */
struct inv_summary {
	uint64_t files, files_skipped, files_failed, bytes;
	uint64_t rows, rows_bad, rows_filtered, sessions;
	uint64_t rows_repeated;     /* a session's row seen again: left out */
	uint64_t sessions_excluded; /* of an excluded user: left out */
	/* By backend: counted sessions that reached no backend (no login,
	 * or one refused before any backend was asked). */
	uint64_t sessions_no_backend;
	int64_t first_ms, last_ms; /* INT64_MAX / INT64_MIN when no row */
	uint64_t clients, clients_would_break, users, users_would_break;
	uint64_t records, records_would_break;
	struct inv_proto_totals proto[INV_NPROTO];
};

/* Sessions that started on one UTC day, per protocol. */
struct inv_day {
	int64_t day; /* days since 1970-01-01 */
	uint64_t sessions[INV_NPROTO];
};

/* One input file and what came of it. */
struct inv_file_info {
	const char *path;
	size_t server;
	uint64_t rows, bad, repeated;
	bool skipped; /* left out whole by the date in its name */
	bool failed;  /* could not be read */
};

/* One malformed row. */
struct inv_bad_row {
	size_t file; /* index into inventory_files() */
	uint64_t line;
	enum exlog_bad why;
};

struct inventory;
struct inv_file;

/* Creates an empty inventory; NULL when out of memory.  opts is copied. */
struct inventory *inventory_new(const struct inv_options *opts);

/* Frees an inventory and everything it handed out. */
void inventory_free(struct inventory *inv);

/*
 * True when a file whose name parsed as nm cannot hold a row inside
 * [since, until) and need not be read.
 */
bool inventory_skip_name(const struct inventory *inv,
    const struct exlog_name *nm);

/*
 * Notes a file left out (skipped by its name's date) or unreadable
 * (failed), so that the summary and the file list account for it.
 */
void inventory_note_file(struct inventory *inv, const char *path, size_t server,
    bool skipped, bool failed);

/*
 * Starts reading one file of the given server.  proto is what its name
 * says (EXLOG_PROTO_UNKNOWN for a name that says nothing); backend is
 * true for Exchange back-end logs.  NULL when out of memory.
 */
struct inv_file *inv_file_begin(struct inventory *inv, const char *path,
    size_t server, enum exlog_proto proto);

/* Adds one well-formed row; logtype is what the file's header said. */
void inv_file_row(struct inv_file *f, const struct exlog_row *row,
    enum exlog_logtype logtype);

/* Counts one malformed row and remembers where it was. */
void inv_file_bad(struct inv_file *f, uint64_t line, enum exlog_bad why);

/* Adds the bytes read so far to the summary (for the size of the input). */
void inv_file_bytes(struct inv_file *f, uint64_t bytes);

/* Ends the file: its open sessions are counted as they stand.  Returns 0,
 * or -1 when memory ran out while adding them up. */
int inv_file_end(struct inv_file *f);

/* Adds everything src counted to dst; src is left unchanged.  0 or -1. */
int inventory_merge(struct inventory *dst, const struct inventory *src);

/*
 * Computes the related counts and the summary and sorts the records:
 * would-break first (most cleartext logins first), then by sessions, then
 * by key.  Call once, after the last file or merge.  0 or -1.
 */
int inventory_finish(struct inventory *inv);

/* The options the inventory was made with. */
const struct inv_options *inventory_options(const struct inventory *inv);

/* The summary (complete after inventory_finish()). */
const struct inv_summary *inventory_summary(const struct inventory *inv);

/* The sorted records (after inventory_finish()); returns their number. */
size_t inventory_records(const struct inventory *inv,
    const struct inv_record *const **out);

/* The days with sessions, oldest first (after inventory_finish()). */
size_t inventory_days(const struct inventory *inv, const struct inv_day **out);

/* The files read or left out; in path order once finished. */
size_t inventory_files(const struct inventory *inv,
    const struct inv_file_info **out);

/* Up to INV_BAD_KEEP malformed rows, in file and line order. */
size_t inventory_bad_rows(const struct inventory *inv,
    const struct inv_bad_row **out);

/*
 * Parses a --since or --until value into ms since the epoch: a span before
 * now_ms ("30d", "12h", "2w", "90m", "45s") or a UTC time ("2024-01-31",
 * "2024-01-31T08:00", "2024-01-31T08:00:00Z").  A bare date stands for
 * the start of that day, or with end set for the end of it (so that
 * "--until 2024-01-31" takes in the 31st).  Returns 0 or -1.
 */
int inventory_parse_when(const char *s, int64_t now_ms, bool end, int64_t *out);

/*
 * Whether the user name (len bytes) matches pattern as a whole: '*'
 * stands for any run of characters, and letters match in either case, as
 * Windows account names do.
 */
bool inventory_user_match(const char *pattern, const char *user, size_t len);

/* Parses a --by value; 0 or -1. */
int inventory_parse_by(const char *s, enum inv_by *out);

/* True when a record would break under SecureLogin. */
bool inv_record_would_break(const struct inv_record *r);

/* True when a record would break under login type lt. */
bool inv_would_break(const struct inv_record *r, enum inv_login_type lt);

/*
 * The successful logins of a record that login type lt would refuse:
 * cleartext_ok, cleartext_password_ok or none.
 */
uint64_t inv_refused_logins(const struct inv_record *r, enum inv_login_type lt);

/*
 * Whether PlainTextAuthentication refuses mechanism m without TLS: every
 * mechanism but NTLM and GSSAPI, which never send the password.  Bearer
 * tokens (XOAUTH2, OAUTHBEARER) are secrets in the clear like passwords,
 * and a mechanism postern does not know is counted with them, so that an
 * unknown client is listed rather than missed.
 */
bool inv_mech_plaintextauth_refuses(enum exlog_mech m);

/* Exchange's name of a login type ("SecureLogin"). */
const char *inv_login_type_name(enum inv_login_type lt);

/* Parses a --login-type value (Exchange's names, any case); 0 or -1. */
int inventory_parse_login_type(const char *s, enum inv_login_type *out);

/*
 * The names of a set of mechanisms (inv_record.mechanisms) joined by sep
 * into buf, in enum exlog_mech order; "-" for none.
 */
void inv_mechanisms_text(unsigned set, char *buf, size_t cap, char sep);

/* The protocol names of a bit set: "pop3", "imap4", "pop3+imap4", "-". */
const char *inv_protocols_name(unsigned protocols);

/* Formats ms since the epoch as "2023-01-09T13:16:59Z" into buf (>= 21 bytes).
 */
void inv_format_time(int64_t ms, char *buf, size_t cap);

/* Formats a day number as "2023-01-09" into buf (>= 11 bytes). */
void inv_format_day(int64_t day, char *buf, size_t cap);

#endif /* POSTERN_INVENTORY_H */
