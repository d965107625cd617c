/*
 * conf: loading, validating and printing the configuration snapshot.
 *
 * The distro inih reads lines into a 200-byte buffer and does not tell the
 * handler which line it is on.  Our reader hands inih one line at a time,
 * so the handler (which runs right after the reader returned its line, for
 * continuation lines too) knows the line number, and the reader sees every
 * line whole, so it can refuse the ones inih would silently cut in two.
 * The reader also classifies each line the way inih will, because inih
 * reports syntax errors and section headers only as one line number.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ini.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "addrset.h"
#include "conf.h"
#include "groups.h"
#include "protolog.h"

#define WORKERS_MAX 256
#define BANNER_MAX 200
#define LIMIT_MAX 1000000
#define SEC_MS 1000u
#define MIN_MS (60 * SEC_MS)
#define HOUR_MS (60 * MIN_MS)
#define DAY_MS (24 * HOUR_MS)
/* "[address%scope]:port" and its NUL, with room to spare. */
#define BINDING_STRLEN 80
/* Larger than any PEM private key (RSA 16384 is about 13 kB). */
#define KEYFILE_MAX 65536

/* The sections, in the order of section_names[]. */
enum section {
	SEC_POSTERN,
	SEC_TLS,
	SEC_POP3,
	SEC_IMAP,
	SEC_GROUPS,
	SEC_COUNT,
	SEC_RULE,   /* a [rule "<name>"] section: l->rule */
	SEC_NONE,   /* before the first section header */
	SEC_UNKNOWN /* inside a section already reported as unknown */
};

static const char *const section_names[SEC_COUNT] = {
    "postern", "tls", "pop3", "imap", "groups"};

/* What inih will make of a line; see conf_classify(). */
enum line_kind {
	LINE_BLANK, /* empty, comment, or replaced after an error */
	LINE_SECTION,
	LINE_PAIR,
	LINE_CONTINUATION,
	LINE_BAD
};

struct enum_name {
	const char *name;
	int value;
};

struct loader;
struct key;

typedef int key_parser(
    struct loader *, const struct key *, const char *, void *);

/* Which sections a key belongs to. */
#define S_POSTERN 0x1u
#define S_TLS 0x2u
#define S_PROTO 0x4u
#define S_GROUPS 0x8u
#define S_RULE 0x10u

/* Key flags. */
#define F_LIST 0x1u      /* may be repeated and continued; appends */
#define F_TLS 0x2u       /* the ssl_bindings list */
#define F_UNLIMITED 0x4u /* "unlimited" is accepted for 0 */

/*
 * One configuration key.  The target is at offset in struct conf for
 * [postern] and [tls] keys, in struct proto_conf for [pop3] and [imap].
 */
struct key {
	unsigned sections;
	const char *name;
	key_parser *parse;
	size_t offset;
	uint64_t min, max; /* numbers; milliseconds for durations */
	unsigned flags;
	const struct enum_name *names;
};

/* The binding lists of one protocol, before they are joined. */
struct blist {
	struct binding *v;
	size_t n, cap;
	bool replaced; /* the first occurrence replaced the default */
};

/*
 * One "Name : Value" line of the settings dump.  A list is kept apart,
 * items separated by '\n', so that it can be as long as it is and be
 * wrapped or repeated the way the file reads lists.
 */
struct dump_row {
	const char *name;
	char value[512];
	char *list; /* NULL: the value is in value[] */
	size_t listlen;
	bool repeat; /* one row per item: the key takes one per line */
};

struct conf_error {
	int line; /* 0: about the file as a whole */
	size_t seq;
	char *msg;
};

static key_parser p_workers, p_string, p_abspath, p_enum, p_bool, p_duration,
    p_bindings, p_banner, p_backend, p_cafile, p_hostname, p_uint, p_cmdsize;
/* protolog */
static key_parser p_logsize, p_logage;

/* Access policy keys: [rule "<name>"], [groups], and per protocol. */
static key_parser p_protocols, p_addrset, p_usernames, p_groups, p_group,
    p_auth, p_ldap_uri, p_password_file, p_ldap_filter, p_ldap_attr;

static const struct enum_name log_levels[] = {{"error", LOGLEVEL_ERROR},
    {"warning", LOGLEVEL_WARNING}, {"notice", LOGLEVEL_NOTICE},
    {"info", LOGLEVEL_INFO}, {"debug", LOGLEVEL_DEBUG}, {NULL, 0}};

static const struct enum_name tls_versions[] = {{"TLSv1", TLS1_VERSION},
    {"TLSv1.1", TLS1_1_VERSION}, {"TLSv1.2", TLS1_2_VERSION},
    {"TLSv1.3", TLS1_3_VERSION}, {NULL, 0}};

static const struct enum_name login_types[] = {
    {"PlainTextLogin", LOGIN_PLAINTEXT_LOGIN},
    {"PlainTextAuthentication", LOGIN_PLAINTEXT_AUTHENTICATION},
    {"SecureLogin", LOGIN_SECURE_LOGIN}, {NULL, 0}};

static const struct enum_name login_modes[] = {
    {"enforce", LOGIN_MODE_ENFORCE}, {"audit", LOGIN_MODE_AUDIT}, {NULL, 0}};

static const struct enum_name backend_tls_modes[] = {{"none", BACKEND_TLS_NONE},
    {"starttls", BACKEND_TLS_STARTTLS}, {"implicit", BACKEND_TLS_IMPLICIT},
    {NULL, 0}};

static const struct enum_name forward_modes[] = {{"none", FORWARD_NONE},
    {"id", FORWARD_ID}, {"xclient", FORWARD_XCLIENT},
    {"proxy", FORWARD_PROXY}, {NULL, 0}};
/* Access policy. */
static const struct enum_name rule_actions[] = {{"allow", RULE_ALLOW},
    {"deny", RULE_DENY}, {"audit", RULE_AUDIT}, {NULL, 0}};

static const struct enum_name ldap_nested_modes[] = {
    {"no", LDAP_NESTED_NO}, {"in_chain", LDAP_NESTED_IN_CHAIN},
    {"walk", LDAP_NESTED_WALK}, {NULL, 0}};

/* protolog: Exchange's LogFileRollOverSettings values, and log_detail. */
static const struct enum_name log_rollovers[] = {{"Hourly", PROTOLOG_HOURLY},
    {"Daily", PROTOLOG_DAILY}, {"Weekly", PROTOLOG_WEEKLY},
    {"Monthly", PROTOLOG_MONTHLY}, {NULL, 0}};
static const struct enum_name log_details[] = {
    {"commands", PROTOLOG_DETAIL_COMMANDS}, {"proxy", PROTOLOG_DETAIL_PROXY},
    {NULL, 0}};

#define CO(f) offsetof(struct conf, f)
#define PO(f) offsetof(struct proto_conf, f)
#define RO(f) offsetof(struct rule, f)
#define GO(f) offsetof(struct groups_conf, f)

static const struct key keys[] = {
    {S_POSTERN, "workers", p_workers, CO(workers), 1, WORKERS_MAX, 0, NULL},
    {S_POSTERN, "user", p_string, CO(user), 0, 0, 0, NULL},
    {S_POSTERN, "pid_file", p_abspath, CO(pid_file), 0, 0, 0, NULL},
    {S_POSTERN, "log_level", p_enum, CO(log_level), 0, 0, 0, log_levels},
    {S_POSTERN, "syslog", p_bool, CO(syslog), 0, 0, 0, NULL},
    {S_POSTERN, "shutdown_timeout", p_duration, CO(shutdown_timeout_ms), 0,
        HOUR_MS, 0, NULL},
    {S_POSTERN, "trusted_proxies", p_addrset, CO(trusted_proxies), 0, 0,
        F_LIST, NULL},

    {S_TLS, "certificate", p_string, CO(tls.certificate), 0, 0, 0, NULL},
    {S_TLS, "private_key", p_string, CO(tls.private_key), 0, 0, 0, NULL},
    {S_TLS, "min_version", p_enum, CO(tls.min_version), 0, 0, 0, tls_versions},
    {S_TLS, "ciphers", p_string, CO(tls.ciphers), 0, 0, 0, NULL},
    {S_TLS, "ciphersuites", p_string, CO(tls.ciphersuites), 0, 0, 0, NULL},

    {S_PROTO, "enabled", p_bool, PO(enabled), 0, 0, 0, NULL},
    {S_PROTO, "unencrypted_or_tls_bindings", p_bindings, 0, 0, 0, F_LIST, NULL},
    {S_PROTO, "ssl_bindings", p_bindings, 0, 0, 0, F_LIST | F_TLS, NULL},
    {S_PROTO, "banner", p_banner, PO(banner), 0, 0, 0, NULL},
    {S_PROTO, "login_type", p_enum, PO(login_type), 0, 0, 0, login_types},
    {S_PROTO, "login_type_mode", p_enum, PO(login_type_mode), 0, 0, 0,
        login_modes},
    {S_PROTO, "backend", p_backend, 0, 0, 0, 0, NULL},
    {S_PROTO, "backend_tls", p_enum, PO(backend_tls), 0, 0, 0,
        backend_tls_modes},
    {S_PROTO, "backend_ca_file", p_cafile, PO(backend_ca_file), 0, 0, 0, NULL},
    {S_PROTO, "backend_server_name", p_hostname, PO(backend_server_name), 0, 0,
        0, NULL},
    {S_PROTO, "backend_verify", p_bool, PO(backend_verify), 0, 0, 0, NULL},
    {S_PROTO, "backend_timeout", p_duration, PO(backend_timeout_ms), SEC_MS,
        HOUR_MS, 0, NULL},
    {S_PROTO, "forward_client_address", p_enum, PO(forward_client_address), 0,
        0, 0, forward_modes},
    {S_PROTO, "max_connections", p_uint, PO(max_connections), 0, LIMIT_MAX,
        F_UNLIMITED, NULL},
    {S_PROTO, "max_connection_from_single_ip", p_uint,
        PO(max_connection_from_single_ip), 0, LIMIT_MAX, F_UNLIMITED, NULL},
    {S_PROTO, "max_connections_per_user", p_uint, PO(max_connections_per_user),
        0, LIMIT_MAX, F_UNLIMITED, NULL},
    {S_PROTO, "pre_authenticated_connection_timeout", p_duration,
        PO(pre_auth_timeout_ms), SEC_MS, HOUR_MS, 0, NULL},
    {S_PROTO, "pre_authenticated_total_timeout", p_duration,
        PO(pre_auth_total_ms), SEC_MS, HOUR_MS, 0, NULL},
    {S_PROTO, "ipv6_prefix_length", p_uint, PO(ipv6_prefix_length), 1, 128, 0,
        NULL},
    {S_PROTO, "authenticated_connection_timeout", p_duration,
        PO(auth_timeout_ms), SEC_MS, DAY_MS, 0, NULL},
    {S_PROTO, "max_command_size", p_cmdsize, PO(max_command_size), 0, 0, 0,
        NULL},
    {S_PROTO, "max_bad_commands", p_uint, PO(max_bad_commands), 1, 1000, 0,
        NULL},
    {S_PROTO, "max_login_attempts", p_uint, PO(max_login_attempts), 1, 100, 0,
        NULL},

    /* Access policy. */
    {S_PROTO, "login_type_exempt_ips", p_addrset, PO(login_type_exempt_ips), 0,
        0, F_LIST, NULL},
    {S_PROTO, "required_group", p_group, PO(required_group), 0, 0, 0, NULL},

    {S_RULE, "priority", p_uint, RO(priority), 0, LIMIT_MAX, 0, NULL},
    {S_RULE, "action", p_enum, RO(action), 0, 0, 0, rule_actions},
    {S_RULE, "enabled", p_bool, RO(enabled), 0, 0, 0, NULL},
    {S_RULE, "protocols", p_protocols, RO(cond.protocols), 0, 0, F_LIST, NULL},
    {S_RULE, "client_ips", p_addrset, RO(cond.client_ips), 0, 0, F_LIST, NULL},
    {S_RULE, "usernames", p_usernames, RO(cond.usernames), 0, 0, F_LIST, NULL},
    {S_RULE, "member_of", p_groups, RO(cond.member_of), 0, 0, F_LIST, NULL},
    {S_RULE, "authentication", p_auth, RO(cond.authentication), 0, 0, F_LIST,
        NULL},
    {S_RULE, "except_protocols", p_protocols, RO(except.protocols), 0, 0,
        F_LIST, NULL},
    {S_RULE, "except_client_ips", p_addrset, RO(except.client_ips), 0, 0,
        F_LIST, NULL},
    {S_RULE, "except_usernames", p_usernames, RO(except.usernames), 0, 0,
        F_LIST, NULL},
    {S_RULE, "except_member_of", p_groups, RO(except.member_of), 0, 0, F_LIST,
        NULL},
    {S_RULE, "except_authentication", p_auth, RO(except.authentication), 0, 0,
        F_LIST, NULL},

    {S_GROUPS, "file", p_abspath, GO(file), 0, 0, 0, NULL},
    {S_GROUPS, "ldap_uri", p_ldap_uri, GO(ldap_uri), 0, 0, 0, NULL},
    {S_GROUPS, "ldap_ca_file", p_cafile, GO(ldap_ca_file), 0, 0, 0, NULL},
    {S_GROUPS, "ldap_starttls", p_bool, GO(ldap_starttls), 0, 0, 0, NULL},
    {S_GROUPS, "ldap_tls_verify", p_bool, GO(ldap_tls_verify), 0, 0, 0, NULL},
    {S_GROUPS, "ldap_bind_dn", p_string, GO(ldap_bind_dn), 0, 0, 0, NULL},
    {S_GROUPS, "ldap_bind_password_file", p_password_file,
        GO(ldap_bind_password_file), 0, 0, 0, NULL},
    {S_GROUPS, "ldap_base", p_string, GO(ldap_base), 0, 0, 0, NULL},
    {S_GROUPS, "ldap_user_filter", p_ldap_filter, GO(ldap_user_filter), 0, 0,
        0, NULL},
    {S_GROUPS, "ldap_group_attribute", p_ldap_attr, GO(ldap_group_attribute),
        0, 0, 0, NULL},
    {S_GROUPS, "ldap_nested", p_enum, GO(ldap_nested), 0, 0, 0,
        ldap_nested_modes},
    {S_GROUPS, "ldap_timeout", p_duration, GO(ldap_timeout_ms), 100, 5 * MIN_MS,
        0, NULL},
    {S_GROUPS, "ldap_threads", p_uint, GO(ldap_threads), 1, 64, 0, NULL},
    {S_GROUPS, "group_cache_ttl", p_duration, GO(cache_ttl_ms), 0, DAY_MS, 0,
        NULL},
    /* protolog: the protocol logs. */
    {S_PROTO, "protocol_log_enabled", p_bool, PO(protocol_log_enabled), 0, 0,
        0, NULL},
    {S_PROTO, "log_file_location", p_abspath, PO(log_file_location), 0, 0, 0,
        NULL},
    {S_PROTO, "log_file_rollover_settings", p_enum, PO(log_file_rollover), 0,
        0, 0, log_rollovers},
    {S_PROTO, "log_per_file_size_quota", p_logsize,
        PO(log_per_file_size_quota), 0, 1ULL << 40, F_UNLIMITED, NULL},
    {S_PROTO, "log_file_age_limit", p_logage, PO(log_file_age_limit_ms), 0,
        3650ULL * DAY_MS, F_UNLIMITED, NULL},
    {S_PROTO, "log_directory_size_quota", p_logsize,
        PO(log_directory_size_quota), 0, 1ULL << 50, F_UNLIMITED, NULL},
    {S_PROTO, "log_detail", p_enum, PO(log_detail), 0, 0, 0, log_details},
};

#define NKEYS (sizeof(keys) / sizeof(keys[0]))

/* Exchange's MaxCommandSize ranges and defaults, per protocol. */
static const struct {
	size_t min, max, def;
} cmdsize[PROTO_COUNT] = {{40, 1024, 512}, {1024, 16384, 10240}};

static const char *const default_bindings[PROTO_COUNT][2] = {
    {"[::]:110, 0.0.0.0:110", "[::]:995, 0.0.0.0:995"},
    {"[::]:143, 0.0.0.0:143", "[::]:993, 0.0.0.0:993"}};

static const char *const default_banners[PROTO_COUNT] = {
    "POP3 server ready.", "IMAP4 server ready."};

/* Exchange's ProxyTargetPort defaults. */
static const char *const default_backend_ports[PROTO_COUNT] = {"1995", "1993"};

struct loader {
	FILE *fp;
	const char *path;
	struct conf *c;

	char *buf; /* getline's buffer */
	size_t bufsize;
	int lineno;
	enum line_kind kind;
	bool prev_name;    /* inih's prev_name is set */
	bool prev_ignored; /* continuations of the last key are ignored */
	enum section section;
	bool read_failed;

	int section_line[SEC_COUNT];
	int seen[SEC_COUNT][NKEYS]; /* line of each key's first setting */
	struct blist lists[PROTO_COUNT][2];
	bool workers_auto;
	bool bad_bindings[PROTO_COUNT]; /* a binding was refused */

	struct conf_error *errs;
	size_t nerrs, errcap;
	bool oom;

	/* Access policy: the rule being read and what is known per rule. */
	struct rule_seen *rseen; /* parallel to c->rules */
	size_t rule, rulecap;
	char label[96]; /* "rule \"<name>\"", for messages */
};

/* Lines of a rule's keys, and of each of its member_of values. */
struct rule_seen {
	int seen[NKEYS];
	int *glines[2]; /* member_of, except_member_of */
	size_t nglines[2];
};

static void conf_free(struct conf *);
static void conf_free_policy(struct conf *);
static int conf_defaults_policy(struct loader *);
static void rule_header(struct loader *, const char *);
/* protolog */
static int conf_protolog_defaults(struct loader *, struct proto_conf *, int);
static void conf_protolog_validate(struct loader *, int);
static void dump_protolog(const struct proto_conf *, struct dump_row *,
    size_t *);

static void
conf_verror(struct loader *l, int line, const char *fmt, va_list ap)
{
	struct conf_error *e;
	va_list ap2;
	char *msg;
	int n;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0 || (msg = malloc((size_t)n + 1)) == NULL) {
		l->oom = true;
		return;
	}
	vsnprintf(msg, (size_t)n + 1, fmt, ap);
	if (l->nerrs == l->errcap) {
		size_t cap = l->errcap ? 2 * l->errcap : 16;

		e = reallocarray(l->errs, cap, sizeof(*e));
		if (e == NULL) {
			free(msg);
			l->oom = true;
			return;
		}
		l->errs = e;
		l->errcap = cap;
	}
	e = &l->errs[l->nerrs];
	e->line = line;
	e->seq = l->nerrs++;
	e->msg = msg;
}

static void conf_error(struct loader *, int, const char *, ...)
    __attribute__((format(printf, 3, 4)));

static void
conf_error(struct loader *l, int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	conf_verror(l, line, fmt, ap);
	va_end(ap);
}

static void key_error(struct loader *, const struct key *, const char *, ...)
    __attribute__((format(printf, 3, 4)));

/* The current section's name for messages: "pop3", "rule \"x\"". */
static const char *
sec_name(const struct loader *l)
{
	return l->section == SEC_RULE ? l->label : section_names[l->section];
}

/* An error about the value on the current line, prefixed "[sec] key: ". */
static void
key_error(struct loader *l, const struct key *k, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	conf_error(l, l->lineno, "[%s] %s: %s", sec_name(l), k->name, msg);
}

static bool
has_error_at(const struct loader *l, int line)
{
	size_t i;

	for (i = 0; i < l->nerrs; i++)
		if (l->errs[i].line == line)
			return true;
	return false;
}

static int
error_cmp(const void *a, const void *b)
{
	const struct conf_error *x = a, *y = b;

	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static char *
xstrdup(struct loader *l, const char *s)
{
	char *p;

	if ((p = strdup(s)) == NULL)
		l->oom = true;
	return p;
}

/* Number parsing shared by the public unit parsers: digits only. */
static int
parse_digits(const char **sp, uint64_t *out)
{
	const char *s = *sp;
	uint64_t n = 0;

	if (!isdigit((unsigned char)*s))
		return -1;
	for (; isdigit((unsigned char)*s); s++) {
		unsigned d = (unsigned)(*s - '0');

		if (n > (UINT64_MAX - d) / 10)
			return -1;
		n = n * 10 + d;
	}
	*sp = s;
	*out = n;
	return 0;
}

/* Exchange's TimeSpan form: [d.]hh:mm:ss[.fffffff]. */
static int
parse_timespan(const char *s, uint64_t *ms)
{
	uint64_t days = 0, h, m, sec, frac = 0, v;
	const char *p = s, *q;
	int digits;

	if (parse_digits(&p, &v) == -1)
		return -1;
	if (*p == '.') {
		days = v;
		p++;
		q = p;
		if (parse_digits(&p, &h) == -1 || p - q > 2)
			return -1;
	} else {
		if (p - s > 2)
			return -1;
		h = v;
	}
	if (*p++ != ':')
		return -1;
	q = p;
	if (parse_digits(&p, &m) == -1 || p - q != 2 || *p++ != ':')
		return -1;
	q = p;
	if (parse_digits(&p, &sec) == -1 || p - q != 2)
		return -1;
	if (*p == '.') {
		/* Only whole milliseconds: the rest must be zeros. */
		p++;
		for (digits = 0; isdigit((unsigned char)*p); digits++, p++) {
			if (digits < 3)
				frac = frac * 10 + (uint64_t)(*p - '0');
			else if (*p != '0')
				return -1;
		}
		if (digits == 0 || digits > 7)
			return -1;
		for (; digits < 3; digits++)
			frac *= 10;
	}
	if (*p != '\0' || h > 23 || m > 59 || sec > 59)
		return -1;
	if (days > (UINT64_MAX - DAY_MS) / DAY_MS)
		return -1;
	*ms = days * DAY_MS + h * HOUR_MS + m * MIN_MS + sec * SEC_MS + frac;
	return 0;
}

int
conf_parse_duration(const char *s, unsigned *ms)
{
	static const struct {
		const char *suffix;
		uint64_t ms;
	} units[] = {{"", SEC_MS}, {"ms", 1}, {"s", SEC_MS}, {"m", MIN_MS},
	    {"h", HOUR_MS}, {"d", DAY_MS}};
	const char *p = s;
	uint64_t n, total;
	size_t i;

	if (s == NULL)
		return -1;
	if (strchr(s, ':') != NULL) {
		if (parse_timespan(s, &total) == -1)
			return -1;
	} else {
		if (parse_digits(&p, &n) == -1)
			return -1;
		for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
			if (strcmp(p, units[i].suffix) == 0)
				break;
		if (i == sizeof(units) / sizeof(units[0]))
			return -1;
		if (n > UINT64_MAX / units[i].ms)
			return -1;
		total = n * units[i].ms;
	}
	if (total > UINT_MAX)
		return -1;
	*ms = (unsigned)total;
	return 0;
}

int
conf_parse_size(const char *s, uint64_t *bytes)
{
	const char *p = s;
	unsigned shift = 0;
	uint64_t n;

	if (s == NULL || parse_digits(&p, &n) == -1)
		return -1;
	switch (*p) {
	case '\0':
		break;
	case 'k':
	case 'K':
		shift = 10;
		break;
	case 'm':
	case 'M':
		shift = 20;
		break;
	case 'g':
	case 'G':
		shift = 30;
		break;
	default:
		return -1;
	}
	if (shift != 0 && p[1] != '\0')
		return -1;
	if (n > (UINT64_MAX >> shift))
		return -1;
	*bytes = n << shift;
	return 0;
}

static int
parse_bool(const char *s, bool *b)
{
	static const char *const yes[] = {"yes", "true", "on", "1"};
	static const char *const no[] = {"no", "false", "off", "0"};
	size_t i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*b = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*b = false;
			return 0;
		}
	}
	return -1;
}

/* A port number, 1-65535, digits only. */
static int
parse_port(const char *s, unsigned *port)
{
	const char *p = s;
	uint64_t n;

	if (parse_digits(&p, &n) == -1 || *p != '\0' || n == 0 || n > 65535)
		return -1;
	*port = (unsigned)n;
	return 0;
}

/* "1h", "30s", "500ms": the largest unit that divides ms exactly. */
static void
fmt_duration(unsigned ms, char *buf, size_t len)
{
	if (ms != 0 && ms % HOUR_MS == 0)
		snprintf(buf, len, "%uh", ms / HOUR_MS);
	else if (ms != 0 && ms % MIN_MS == 0)
		snprintf(buf, len, "%um", ms / MIN_MS);
	else if (ms % SEC_MS == 0)
		snprintf(buf, len, "%us", ms / SEC_MS);
	else
		snprintf(buf, len, "%ums", ms);
}

/* Exchange's TimeSpan display: hh:mm:ss, d.hh:mm:ss past a day. */
static void
fmt_timespan(unsigned ms, char *buf, size_t len)
{
	unsigned d = ms / DAY_MS, h = ms / HOUR_MS % 24, m = ms / MIN_MS % 60,
	         s = ms / SEC_MS % 60, f = ms % SEC_MS;
	int n;

	if (d != 0)
		n = snprintf(buf, len, "%u.%02u:%02u:%02u", d, h, m, s);
	else
		n = snprintf(buf, len, "%02u:%02u:%02u", h, m, s);
	if (f != 0 && n > 0 && (size_t)n < len)
		snprintf(buf + n, len - (size_t)n, ".%03u0000", f);
}

static void
fmt_binding(const struct binding *b, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN + 1 + IF_NAMESIZE], serv[8];

	if (getnameinfo((const struct sockaddr *)&b->addr, b->addrlen, host,
	        sizeof(host), serv, sizeof(serv),
	        NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
		snprintf(buf, len, "?");
		return;
	}
	if (b->addr.ss_family == AF_INET6)
		snprintf(buf, len, "[%s]:%s", host, serv);
	else
		snprintf(buf, len, "%s:%s", host, serv);
}

static bool
binding_equal(const struct binding *a, const struct binding *b)
{
	const struct sockaddr_in *a4, *b4;
	const struct sockaddr_in6 *a6, *b6;

	if (a->addr.ss_family != b->addr.ss_family)
		return false;
	if (a->addr.ss_family == AF_INET) {
		a4 = (const struct sockaddr_in *)&a->addr;
		b4 = (const struct sockaddr_in *)&b->addr;
		return a4->sin_port == b4->sin_port &&
		       a4->sin_addr.s_addr == b4->sin_addr.s_addr;
	}
	a6 = (const struct sockaddr_in6 *)&a->addr;
	b6 = (const struct sockaddr_in6 *)&b->addr;
	return a6->sin6_port == b6->sin6_port &&
	       a6->sin6_scope_id == b6->sin6_scope_id &&
	       memcmp(&a6->sin6_addr, &b6->sin6_addr, sizeof(a6->sin6_addr)) ==
	           0;
}

/*
 * The error for an unbracketed item with more than one ':' (colon is the
 * last): the bracket hint only for what is an IPv6 address, with or
 * without a port after it.
 */
static void
binding_colons_error(const char *s, const char *colon, char *err, size_t errlen)
{
	char host[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
	struct in6_addr a6;
	size_t hlen = (size_t)(colon - s);

	host[0] = '\0';
	if (hlen < sizeof(host)) {
		memcpy(host, s, hlen);
		host[hlen] = '\0';
	}
	/* "::1:995" is an address too; a port is required, so read it so. */
	if (host[0] != '\0' && colon[1] != '\0' &&
	    strspn(colon + 1, "0123456789") == strlen(colon + 1) &&
	    inet_pton(AF_INET6, host, &a6) == 1)
		snprintf(err, errlen,
		    "'%s': an IPv6 address needs brackets, as in [%s]:%s", s,
		    host, colon + 1);
	else if (inet_pton(AF_INET6, s, &a6) == 1)
		snprintf(err, errlen,
		    "'%s': an IPv6 address needs brackets and a port, as in "
		    "[%s]:110",
		    s, s);
	else
		snprintf(err, errlen,
		    "'%s' is not address:port or [IPv6]:port (numeric, as in "
		    "0.0.0.0:110 or [::]:110)",
		    s);
}

/*
 * Parses "a.b.c.d:port" or "[v6]:port" into b.  Numeric only: a listening
 * address that depends on DNS at start-up is a configuration bug.
 */
static int
parse_binding(const char *s, struct binding *b, char *err, size_t errlen)
{
	struct addrinfo hints, *ai;
	char host[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
	const char *orig = s, *colon, *end;
	unsigned port;
	size_t hlen;
	bool v6;

	if (s[0] == '*') {
		colon = strrchr(s, ':');
		snprintf(err, errlen,
		    "'%s': wildcard address not accepted; use 0.0.0.0%s and "
		    "[::]%s",
		    s, colon ? colon : ":port", colon ? colon : ":port");
		return -1;
	}
	/* Blanks inside an item: bindings written as a space-separated list. */
	if (strpbrk(s, " \t") != NULL) {
		snprintf(err, errlen,
		    "'%s': one address:port or [IPv6]:port per item; separate "
		    "bindings with commas, as in [::]:110, 0.0.0.0:110",
		    s);
		return -1;
	}
	v6 = s[0] == '[';
	if (v6) {
		if ((end = strchr(s, ']')) == NULL) {
			snprintf(err, errlen, "'%s': missing ']'", s);
			return -1;
		}
		if (end[1] != ':') {
			snprintf(err, errlen,
			    "'%s': missing port (write [address]:port)", s);
			return -1;
		}
		colon = end + 1;
		s++;
		hlen = (size_t)(end - s);
	} else {
		if ((colon = strrchr(s, ':')) == NULL) {
			snprintf(err, errlen,
			    "'%s': missing port (write address:port)", s);
			return -1;
		}
		if (memchr(s, ':', (size_t)(colon - s)) != NULL) {
			binding_colons_error(s, colon, err, errlen);
			return -1;
		}
		hlen = (size_t)(colon - s);
	}
	if (parse_port(colon + 1, &port) == -1) {
		snprintf(err, errlen, "'%s': port must be 1-65535", orig);
		return -1;
	}
	if (hlen == 0 || hlen >= sizeof(host)) {
		snprintf(err, errlen, "'%s': not a numeric %s address", orig,
		    v6 ? "IPv6" : "IPv4");
		return -1;
	}
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = v6 ? AF_INET6 : AF_INET;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
	if (getaddrinfo(host, colon + 1, &hints, &ai) != 0) {
		snprintf(err, errlen, "'%s': not a numeric %s address", orig,
		    v6 ? "IPv6" : "IPv4");
		return -1;
	}
	memset(b, 0, sizeof(*b));
	memcpy(&b->addr, ai->ai_addr, ai->ai_addrlen);
	b->addrlen = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

static int
blist_push(struct loader *l, struct blist *bl, const struct binding *b)
{
	struct binding *v;

	if (bl->n == bl->cap) {
		size_t cap = bl->cap ? 2 * bl->cap : 4;

		if ((v = reallocarray(bl->v, cap, sizeof(*v))) == NULL) {
			l->oom = true;
			return -1;
		}
		bl->v = v;
		bl->cap = cap;
	}
	bl->v[bl->n++] = *b;
	return 0;
}

/* A host name or an IP address literal, as a backend or SNI name. */
static bool
valid_hostname(const char *s)
{
	struct in6_addr a6;
	size_t len = strlen(s), label = 0;
	const char *p;

	if (inet_pton(AF_INET6, s, &a6) == 1)
		return true;
	if (len == 0 || len > 253)
		return false;
	for (p = s; *p != '\0'; p++) {
		if (*p == '.') {
			if (label == 0)
				return false;
			label = 0;
			continue;
		}
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_')
			return false;
		if (++label > 63)
			return false;
	}
	return label != 0 || len > 1;
}

static int
p_workers(struct loader *l, const struct key *k, const char *v, void *dst)
{
	if (strcasecmp(v, "auto") == 0) {
		l->workers_auto = true;
		return 0;
	}
	l->workers_auto = false;
	return p_uint(l, k, v, dst);
}

static int
p_uint(struct loader *l, const struct key *k, const char *v, void *dst)
{
	const char *p = v;
	uint64_t n;

	if ((k->flags & F_UNLIMITED) && strcasecmp(v, "unlimited") == 0) {
		*(unsigned *)dst = 0;
		return 0;
	}
	if (parse_digits(&p, &n) == -1 || *p != '\0') {
		if (k->parse == p_workers)
			key_error(l, k, "'%s' is not a number or 'auto'", v);
		else if (k->flags & F_UNLIMITED)
			key_error(l, k,
			    "'%s' is not a number (0 or 'unlimited': no "
			    "limit)",
			    v);
		else
			key_error(l, k, "'%s' is not a number", v);
		return -1;
	}
	if (n < k->min || n > k->max) {
		key_error(l, k, "%s is out of range (%llu-%llu)", v,
		    (unsigned long long)k->min, (unsigned long long)k->max);
		return -1;
	}
	*(unsigned *)dst = (unsigned)n;
	return 0;
}

static int
p_cmdsize(struct loader *l, const struct key *k, const char *v, void *dst)
{
	int p = l->section - SEC_POP3;
	uint64_t n;

	if (conf_parse_size(v, &n) == -1) {
		key_error(l, k, "'%s' is not a size (bytes, or with k/M/G)", v);
		return -1;
	}
	if (n < cmdsize[p].min || n > cmdsize[p].max) {
		key_error(l, k, "%s is out of range (%zu-%zu)", v,
		    cmdsize[p].min, cmdsize[p].max);
		return -1;
	}
	*(size_t *)dst = (size_t)n;
	return 0;
}

static int
p_duration(struct loader *l, const struct key *k, const char *v, void *dst)
{
	char lo[32], hi[32];
	unsigned ms;

	if (conf_parse_duration(v, &ms) == -1) {
		key_error(l, k,
		    "'%s' is not a duration (as 30s, 500ms, 5m, 2h, 1d or "
		    "hh:mm:ss)",
		    v);
		return -1;
	}
	if (ms < k->min || ms > k->max) {
		fmt_duration((unsigned)k->min, lo, sizeof(lo));
		fmt_duration((unsigned)k->max, hi, sizeof(hi));
		key_error(l, k, "%s is out of range (%s-%s)", v, lo, hi);
		return -1;
	}
	*(unsigned *)dst = ms;
	return 0;
}

static int
p_bool(struct loader *l, const struct key *k, const char *v, void *dst)
{
	if (parse_bool(v, dst) == -1) {
		key_error(l, k, "'%s' is not yes or no", v);
		return -1;
	}
	return 0;
}

static int
p_enum(struct loader *l, const struct key *k, const char *v, void *dst)
{
	char list[256];
	size_t i, n = 0;

	for (i = 0; k->names[i].name != NULL; i++) {
		if (strcasecmp(v, k->names[i].name) == 0) {
			*(int *)dst = k->names[i].value;
			return 0;
		}
	}
	list[0] = '\0';
	for (i = 0; k->names[i].name != NULL && n < sizeof(list); i++)
		n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%s",
		    i ? ", " : "", k->names[i].name);
	key_error(l, k, "'%s' is not one of %s", v, list);
	return -1;
}

static int
p_string(struct loader *l, const struct key *k, const char *v, void *dst)
{
	char **sp = dst;

	(void)k;
	free(*sp);
	*sp = NULL;
	if (*v == '\0')
		return 0;
	return (*sp = xstrdup(l, v)) == NULL ? -1 : 0;
}

static int
p_abspath(struct loader *l, const struct key *k, const char *v, void *dst)
{
	if (*v != '\0' && *v != '/') {
		key_error(l, k, "'%s' is not an absolute path", v);
		return -1;
	}
	return p_string(l, k, v, dst);
}

static int
p_cafile(struct loader *l, const struct key *k, const char *v, void *dst)
{
	int fd;

	if (*v != '\0') {
		if ((fd = open(v, O_RDONLY | O_CLOEXEC)) == -1) {
			key_error(
			    l, k, "cannot open '%s': %s", v, strerror(errno));
			return -1;
		}
		close(fd);
	}
	return p_string(l, k, v, dst);
}

static int
p_hostname(struct loader *l, const struct key *k, const char *v, void *dst)
{
	if (*v != '\0' && !valid_hostname(v)) {
		key_error(l, k, "'%s' is not a host name or address", v);
		return -1;
	}
	return p_string(l, k, v, dst);
}

static int
p_banner(struct loader *l, const struct key *k, const char *v, void *dst)
{
	const char *p;

	if (*v == '\0') {
		key_error(l, k, "must not be empty");
		return -1;
	}
	if (strlen(v) > BANNER_MAX) {
		key_error(l, k, "longer than %d characters", BANNER_MAX);
		return -1;
	}
	/* The banner goes out verbatim in the greeting line. */
	for (p = v; *p != '\0'; p++) {
		if (*p < 0x20 || *p > 0x7e) {
			key_error(l, k,
			    "must be printable ASCII (no control or non-ASCII "
			    "characters)");
			return -1;
		}
	}
	return p_string(l, k, v, dst);
}

static int
p_backend(struct loader *l, const struct key *k, const char *v, void *dst)
{
	struct proto_conf *pc = &l->c->proto[l->section - SEC_POP3];
	struct in6_addr a6;
	const char *port = NULL, *end, *colon;
	char host[256], pbuf[8];
	unsigned portnum;
	size_t hlen;

	(void)dst;
	/* A list where one server is expected: say so, not a syntax detail. */
	if (strpbrk(v, ", \t") != NULL) {
		key_error(l, k,
		    "'%s': one server only, as host, host:port or "
		    "[IPv6]:port",
		    v);
		return -1;
	}
	if (v[0] == '[') {
		if ((end = strchr(v, ']')) == NULL) {
			key_error(l, k, "'%s': missing ']'", v);
			return -1;
		}
		if (end[1] == ':')
			port = end + 2;
		else if (end[1] != '\0') {
			key_error(l, k, "'%s': expected ':port' after ']'", v);
			return -1;
		}
		hlen = (size_t)(end - v - 1);
		if (hlen >= sizeof(host))
			hlen = sizeof(host) - 1;
		memcpy(host, v + 1, hlen);
		host[hlen] = '\0';
		if (inet_pton(AF_INET6, host, &a6) != 1) {
			key_error(l, k, "'%s' is not an IPv6 address", host);
			return -1;
		}
	} else {
		colon = strchr(v, ':');
		if (colon != NULL && strchr(colon + 1, ':') != NULL) {
			colon = strrchr(v, ':');
			hlen = (size_t)(colon - v);
			if (hlen < sizeof(host)) {
				memcpy(host, v, hlen);
				host[hlen] = '\0';
			}
			if (inet_pton(AF_INET6, v, &a6) == 1)
				key_error(l, k,
				    "'%s': an IPv6 address needs brackets, as "
				    "in [%s] or [%s]:%s",
				    v, v, v,
				    default_backend_ports[l->section -
				                          SEC_POP3]);
			else if (hlen < sizeof(host) &&
			         inet_pton(AF_INET6, host, &a6) == 1)
				key_error(l, k,
				    "'%s': an IPv6 address needs brackets, as "
				    "in [%s]:%s",
				    v, host, colon + 1);
			else
				key_error(l, k,
				    "'%s' is not host, host:port or "
				    "[IPv6]:port",
				    v);
			return -1;
		}
		hlen = colon ? (size_t)(colon - v) : strlen(v);
		if (hlen >= sizeof(host))
			hlen = sizeof(host) - 1;
		memcpy(host, v, hlen);
		host[hlen] = '\0';
		if (colon != NULL)
			port = colon + 1;
		if (!valid_hostname(host)) {
			key_error(
			    l, k, "'%s' is not a host name or address", host);
			return -1;
		}
	}
	if (port != NULL) {
		if (parse_port(port, &portnum) == -1) {
			key_error(l, k, "'%s': port must be 1-65535", v);
			return -1;
		}
		snprintf(pbuf, sizeof(pbuf), "%u", portnum);
		port = pbuf;
	} else
		port = default_backend_ports[l->section - SEC_POP3];
	if ((pc->backend_host = xstrdup(l, host)) == NULL ||
	    (pc->backend_port = xstrdup(l, port)) == NULL)
		return -1;
	return 0;
}

static int
p_bindings(struct loader *l, const struct key *k, const char *v, void *dst)
{
	struct blist *bl =
	    &l->lists[l->section - SEC_POP3][(k->flags & F_TLS) ? 1 : 0];
	char item[256], err[320];
	const char *p = v, *e;
	struct binding b;
	size_t len;
	int rc = 0;

	(void)dst;
	if (!bl->replaced) {
		bl->n = 0;
		bl->replaced = true;
	}
	/* Empty items are skipped so that a list may end with a comma. */
	while (*p != '\0') {
		while (*p == ' ' || *p == '\t')
			p++;
		e = strchr(p, ',');
		len = e ? (size_t)(e - p) : strlen(p);
		while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if (len >= sizeof(item)) {
			key_error(l, k, "binding '%.20s...' is too long", p);
			rc = -1;
		} else if (len > 0) {
			memcpy(item, p, len);
			item[len] = '\0';
			if (parse_binding(item, &b, err, sizeof(err)) == -1) {
				key_error(l, k, "%s", err);
				l->bad_bindings[l->section - SEC_POP3] = true;
				rc = -1;
			} else {
				b.implicit_tls = (k->flags & F_TLS) != 0;
				b.line = l->lineno;
				if (blist_push(l, bl, &b) == -1)
					return -1;
			}
		}
		if (e == NULL)
			break;
		p = e + 1;
	}
	return rc;
}

static size_t
key_index(const char *name)
{
	size_t i;

	for (i = 0; i < NKEYS; i++)
		if (strcmp(keys[i].name, name) == 0)
			return i;
	return NKEYS;
}

static unsigned
section_mask(enum section s)
{
	switch (s) {
	case SEC_POSTERN:
		return S_POSTERN;
	case SEC_TLS:
		return S_TLS;
	case SEC_POP3:
	case SEC_IMAP:
		return S_PROTO;
	case SEC_GROUPS:
		return S_GROUPS;
	case SEC_RULE:
		return S_RULE;
	default:
		return 0;
	}
}

/* The line where sec's key was first set, 0 if never. */
static int
key_line(const struct loader *l, enum section sec, const char *name)
{
	size_t i = key_index(name);

	return i < NKEYS ? l->seen[sec][i] : 0;
}

/* Lower case, without '_', '-' and blanks: LoginType matches login_type. */
static void
normalize(const char *s, char *out, size_t len)
{
	size_t n = 0;

	for (; *s != '\0' && n + 1 < len; s++)
		if (*s != '_' && *s != '-' && *s != ' ' && *s != '\t')
			out[n++] = (char)tolower((unsigned char)*s);
	out[n] = '\0';
}

static size_t
edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i, j, prev, tmp, best;
	size_t row[64];

	if (la >= 64 || lb >= 64)
		return 64;
	for (j = 0; j <= lb; j++)
		row[j] = j;
	for (i = 1; i <= la; i++) {
		prev = row[0];
		row[0] = i;
		for (j = 1; j <= lb; j++) {
			tmp = row[j];
			best = prev + (a[i - 1] != b[j - 1]);
			if (row[j] + 1 < best)
				best = row[j] + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			prev = tmp;
		}
	}
	return row[lb];
}

/*
 * The candidate that word is a trivial misspelling of: the same once case
 * and separators are ignored, or at most two edits away from exactly one
 * candidate.  NULL when there is no such single candidate.
 */
static const char *
suggest(const char *word, const char *const *cands, size_t n)
{
	char w[128], c[128];
	const char *best = NULL;
	size_t i, d, bestd = 3;
	bool tie = false;

	normalize(word, w, sizeof(w));
	if (strlen(w) < 3)
		return NULL;
	for (i = 0; i < n; i++) {
		normalize(cands[i], c, sizeof(c));
		if (strcmp(w, c) == 0)
			return cands[i];
	}
	for (i = 0; i < n; i++) {
		normalize(cands[i], c, sizeof(c));
		/* The distance is at least the difference in length. */
		if (strlen(w) > strlen(c) + bestd ||
		    strlen(c) > strlen(w) + bestd)
			continue;
		d = edit_distance(w, c);
		if (d < bestd) {
			bestd = d;
			best = cands[i];
			tie = false;
		} else if (d == bestd)
			tie = true;
	}
	return tie ? NULL : best;
}

static void
unknown_key(struct loader *l, const char *name)
{
	const char *cands[NKEYS], *s, *where = NULL;
	unsigned mask = section_mask(l->section);
	size_t i, n = 0;

	if (*name == '\0') {
		conf_error(l, l->lineno, "missing key name before '='");
		return;
	}
	for (i = 0; i < NKEYS; i++) {
		if (keys[i].sections & mask)
			cands[n++] = keys[i].name;
		else if (strcmp(keys[i].name, name) == 0)
			where = keys[i].sections & S_POSTERN ? "[postern]"
			        : keys[i].sections & S_TLS   ? "[tls]"
			        : keys[i].sections & S_PROTO ? "[pop3] and [imap]"
			        : keys[i].sections & S_GROUPS
			            ? "[groups]"
			            : "[rule \"<name>\"] sections";
	}
	if (where != NULL) {
		conf_error(l, l->lineno,
		    "unknown key '%s' in [%s] (it belongs in %s)", name,
		    sec_name(l), where);
		return;
	}
	if ((s = suggest(name, cands, n)) != NULL)
		conf_error(l, l->lineno,
		    "unknown key '%s' in [%s]; did you mean '%s'?", name,
		    sec_name(l), s);
	else
		conf_error(l, l->lineno, "unknown key '%s' in [%s]", name,
		    sec_name(l));
}

static int
conf_handler(
    void *user, const char *section, const char *name, const char *value)
{
	struct loader *l = user;
	const struct key *k;
	unsigned mask;
	size_t i;
	void *base;
	int *seen;

	(void)section; /* the reader tracks sections, unshortened */
	if (l->kind == LINE_CONTINUATION && l->prev_ignored)
		return 1;
	l->prev_ignored = true;
	if (l->section == SEC_UNKNOWN)
		return 1;
	if (l->section == SEC_NONE) {
		conf_error(l, l->lineno,
		    "key '%s' is outside any section ([postern], [tls], "
		    "[pop3], [imap], [groups] or [rule \"<name>\"])",
		    name);
		return 1;
	}
	mask = section_mask(l->section);
	for (i = 0; i < NKEYS; i++)
		if ((keys[i].sections & mask) &&
		    strcmp(keys[i].name, name) == 0)
			break;
	if (i == NKEYS) {
		unknown_key(l, name);
		return 1;
	}
	k = &keys[i];
	seen = l->section == SEC_RULE ? &l->rseen[l->rule].seen[i]
	                              : &l->seen[l->section][i];
	if (l->kind == LINE_CONTINUATION && !(k->flags & F_LIST)) {
		conf_error(l, l->lineno,
		    "[%s] %s takes one value: is this line indented by "
		    "mistake?",
		    sec_name(l), k->name);
		return 1;
	}
	if (*seen != 0 && !(k->flags & F_LIST)) {
		conf_error(l, l->lineno,
		    "duplicate key '%s' (first set at line %d)", name, *seen);
		return 1;
	}
	if (*seen == 0)
		*seen = l->lineno;
	l->prev_ignored = false;
	base = mask == S_PROTO    ? (void *)&l->c->proto[l->section - SEC_POP3]
	       : mask == S_RULE   ? (void *)&l->c->rules[l->rule]
	       : mask == S_GROUPS ? (void *)&l->c->groups
	                          : (void *)l->c;
	k->parse(l, k, value, (char *)base + k->offset);
	return 1;
}

static char *
lskip(char *s)
{
	while (*s != '\0' && isspace((unsigned char)*s))
		s++;
	return s;
}

static void
rstrip(char *s)
{
	size_t n = strlen(s);

	while (n > 0 && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
}

/* inih's scan: up to one of chars or an inline ';' comment after a blank. */
static char *
find_chars_or_comment(char *s, const char *chars)
{
	bool was_space = false;

	while (*s != '\0' && (chars == NULL || strchr(chars, *s) == NULL) &&
	       !(was_space && *s == ';')) {
		was_space = isspace((unsigned char)*s);
		s++;
	}
	return s;
}

static void
section_header(struct loader *l, const char *name)
{
	const char *s;
	int i;

	l->prev_name = false;
	if (strncmp(name, "rule", 4) == 0 &&
	    (name[4] == ' ' || name[4] == '\t' || name[4] == '"')) {
		rule_header(l, name + 4);
		return;
	}
	for (i = 0; i < SEC_COUNT; i++)
		if (strcmp(name, section_names[i]) == 0)
			break;
	if (i == SEC_COUNT) {
		l->section = SEC_UNKNOWN;
		s = suggest(name, section_names, SEC_COUNT);
		if (s != NULL)
			conf_error(l, l->lineno,
			    "unknown section [%s]; did you mean [%s]?", name,
			    s);
		else
			conf_error(l, l->lineno,
			    "unknown section [%s] (expected [postern], [tls], "
			    "[pop3], [imap], [groups] or [rule \"<name>\"])",
			    name);
		return;
	}
	l->section = (enum section)i;
	if (l->section_line[i] != 0)
		conf_error(l, l->lineno,
		    "duplicate section [%s] (first at line %d)", name,
		    l->section_line[i]);
	else
		l->section_line[i] = l->lineno;
}

/*
 * Decides what inih will do with the line, as inih's own loop does (with
 * multi-line values and ';' inline comments, its defaults), so that section
 * headers and syntax errors are seen with their line numbers.
 */
static void
conf_classify(struct loader *l, const char *line)
{
	char *copy, *s, *end, *rest;

	if ((copy = strdup(line)) == NULL) {
		l->oom = true;
		l->kind = LINE_BAD;
		return;
	}
	rstrip(copy);
	s = lskip(copy);
	if (*s == '\0' || *s == ';' || *s == '#') {
		l->kind = LINE_BLANK;
	} else if (l->prev_name && s > copy) {
		l->kind = LINE_CONTINUATION;
	} else if (*s == '[') {
		end = find_chars_or_comment(s + 1, "]");
		if (*end != ']') {
			l->kind = LINE_BAD;
			conf_error(
			    l, l->lineno, "section header without closing ']'");
			free(copy);
			return;
		}
		*end = '\0';
		l->kind = LINE_SECTION;
		section_header(l, s + 1);
		rest = lskip(end + 1);
		if (*rest != '\0' && !(*rest == ';' && rest > end + 1))
			conf_error(l, l->lineno,
			    "unexpected text after section header: '%s'", rest);
	} else {
		end = find_chars_or_comment(s, "=:");
		if (*end == '=' || *end == ':') {
			l->kind = LINE_PAIR;
			*end = '\0';
			rstrip(s);
			l->prev_name = *s != '\0';
		} else {
			l->kind = LINE_BAD;
			conf_error(l, l->lineno,
			    "expected 'key = value', a [section] or a comment");
		}
	}
	free(copy);
}

/* inih's reader: one whole line at a time, see the top of this file. */
static char *
conf_reader(char *str, int num, void *stream)
{
	struct loader *l = stream;
	char *line, *s;
	ssize_t n;
	size_t len;

	if (num < 2)
		return NULL;
	errno = 0;
	if ((n = getline(&l->buf, &l->bufsize, l->fp)) == -1) {
		if (ferror(l->fp)) {
			conf_error(l, 0, "read error: %s", strerror(errno));
			l->read_failed = true;
		}
		return NULL;
	}
	l->lineno++;
	line = l->buf;
	len = (size_t)n;
	if (len > 0 && line[len - 1] == '\n')
		line[--len] = '\0';
	if (len > 0 && line[len - 1] == '\r')
		line[--len] = '\0';
	if (l->lineno == 1 && len >= 3 &&
	    memcmp(line, "\xEF\xBB\xBF", 3) == 0) {
		line += 3;
		len -= 3;
	}
	str[0] = '\0';
	l->kind = LINE_BAD;
	if (memchr(line, '\0', len) != NULL) {
		conf_error(l, l->lineno, "NUL byte in line");
		return str;
	}
	if (len > (size_t)num - 1) {
		/* A long comment is harmless: inih sees an empty line. */
		s = lskip(line);
		if (*s == '\0' || *s == ';' || *s == '#')
			l->kind = LINE_BLANK;
		else
			conf_error(l, l->lineno,
			    "line too long (at most %d characters); split a "
			    "list over repeated keys or continuation lines",
			    num - 1);
		return str;
	}
	memcpy(str, line, len + 1);
	conf_classify(l, str);
	if (l->kind == LINE_BAD)
		str[0] = '\0';
	return str;
}

static int
conf_defaults(struct loader *l)
{
	struct conf *c = l->c;
	char err[320];
	struct binding b;
	struct proto_conf *pc;
	const char *p, *e;
	char item[64];
	int i, t;

	l->workers_auto = true;
	if (conf_defaults_policy(l) == -1)
		return -1;
	c->log_level = LOGLEVEL_INFO;
	c->shutdown_timeout_ms = 30 * SEC_MS;
	c->tls.min_version = TLS1_2_VERSION;
	for (i = 0; i < PROTO_COUNT; i++) {
		pc = &c->proto[i];
		pc->enabled = true;
		if ((pc->banner = xstrdup(l, default_banners[i])) == NULL)
			return -1;
		pc->login_type = LOGIN_SECURE_LOGIN;
		pc->login_type_mode = LOGIN_MODE_ENFORCE;
		pc->backend_tls = BACKEND_TLS_NONE;
		pc->backend_verify = true;
		pc->backend_timeout_ms = 30 * SEC_MS;
		pc->max_connections_per_user = 16;
		pc->pre_auth_timeout_ms = MIN_MS;
		pc->pre_auth_total_ms = 3 * MIN_MS;
		pc->ipv6_prefix_length = 64;
		pc->auth_timeout_ms = 30 * MIN_MS;
		pc->max_command_size = cmdsize[i].def;
		pc->max_bad_commands = 10;
		pc->max_login_attempts = 3;
		if (conf_protolog_defaults(l, pc, i) == -1)
			return -1;
		for (t = 0; t < 2; t++) {
			for (p = default_bindings[i][t]; p != NULL;
			     p = e ? e + 1 : NULL) {
				while (*p == ' ')
					p++;
				e = strchr(p, ',');
				snprintf(item, sizeof(item), "%.*s",
				    (int)(e ? (size_t)(e - p) : strlen(p)), p);
				if (parse_binding(item, &b, err, sizeof(err)) ==
				    -1) {
					conf_error(
					    l, 0, "default binding %s", err);
					return -1;
				}
				b.implicit_tls = t == 1;
				if (blist_push(l, &l->lists[i][t], &b) == -1)
					return -1;
			}
		}
	}
	return 0;
}

/* Joins the plain and TLS binding lists of each protocol. */
static int
conf_join_bindings(struct loader *l)
{
	struct proto_conf *pc;
	struct blist *pl, *tl;
	int i;

	for (i = 0; i < PROTO_COUNT; i++) {
		pc = &l->c->proto[i];
		pl = &l->lists[i][0];
		tl = &l->lists[i][1];
		pc->nbindings = pl->n + tl->n;
		if (pc->nbindings == 0)
			continue;
		pc->bindings = calloc(pc->nbindings, sizeof(*pc->bindings));
		if (pc->bindings == NULL) {
			l->oom = true;
			return -1;
		}
		if (pl->n)
			memcpy(pc->bindings, pl->v, pl->n * sizeof(*pl->v));
		if (tl->n)
			memcpy(pc->bindings + pl->n, tl->v,
			    tl->n * sizeof(*tl->v));
	}
	return 0;
}

static const char *
binding_key(const struct binding *b)
{
	return b->implicit_tls ? "ssl_bindings" : "unencrypted_or_tls_bindings";
}

/* One binding of an enabled protocol, for the duplicate check. */
struct bref {
	const struct binding *b;
	enum section sec;
};

/* Reports second as a repeat of first, at second's line. */
static void
duplicate_binding(
    struct loader *l, const struct bref *first, const struct bref *second)
{
	char addr[BINDING_STRLEN];
	int line = second->b->line;

	if (line == 0)
		line = l->section_line[second->sec];
	fmt_binding(second->b, addr, sizeof(addr));
	if (first->b->line != 0)
		conf_error(l, line,
		    "[%s] %s: duplicate binding %s (first at line %d, [%s] %s)",
		    section_names[second->sec], binding_key(second->b), addr,
		    first->b->line, section_names[first->sec],
		    binding_key(first->b));
	else
		conf_error(l, line,
		    "[%s] %s: duplicate binding %s (also the default of [%s] "
		    "%s)",
		    section_names[second->sec], binding_key(second->b), addr,
		    section_names[first->sec], binding_key(first->b));
}

/* Two enabled protocols, or two lines, must not listen on one address. */
static void
conf_check_duplicate_bindings(struct loader *l)
{
	const struct proto_conf *pc;
	struct bref *v;
	size_t n = 0, x, y;
	int i;

	for (i = 0; i < PROTO_COUNT; i++)
		n += l->c->proto[i].nbindings;
	if ((v = calloc(n + 1, sizeof(*v))) == NULL) {
		l->oom = true;
		return;
	}
	n = 0;
	for (i = 0; i < PROTO_COUNT; i++) {
		pc = &l->c->proto[i];
		for (x = 0; pc->enabled && x < pc->nbindings; x++) {
			v[n].b = &pc->bindings[x];
			v[n++].sec = (enum section)(SEC_POP3 + i);
		}
	}
	for (x = 0; x < n; x++) {
		for (y = x + 1; y < n; y++) {
			if (!binding_equal(v[x].b, v[y].b))
				continue;
			/* Report at the later line: defaults are line 0. */
			if (v[x].b->line > v[y].b->line)
				duplicate_binding(l, &v[y], &v[x]);
			else
				duplicate_binding(l, &v[x], &v[y]);
		}
	}
	free(v);
}

static const char *
enum_label(const struct enum_name *names, int value)
{
	for (; names->name != NULL; names++)
		if (names->value == value)
			return names->name;
	return "?";
}

/*
 * Whether some enabled protocol needs postern's own certificate: implicit
 * TLS listeners do, and so does any login type that requires STARTTLS.
 */
static bool
conf_tls_needed(const struct loader *l, int *line, char *why, size_t len)
{
	const struct proto_conf *pc;
	const char *sec;
	size_t x;
	int i;

	for (i = 0; i < PROTO_COUNT; i++) {
		pc = &l->c->proto[i];
		sec = section_names[SEC_POP3 + i];
		if (!pc->enabled)
			continue;
		for (x = 0; x < pc->nbindings; x++) {
			if (!pc->bindings[x].implicit_tls)
				continue;
			*line = pc->bindings[x].line;
			if (*line == 0)
				*line = l->section_line[SEC_POP3 + i];
			snprintf(why, len,
			    "[%s] listens for implicit TLS (ssl_bindings)",
			    sec);
			return true;
		}
		if (pc->login_type != LOGIN_PLAINTEXT_LOGIN) {
			*line = key_line(l, SEC_POP3 + i, "login_type");
			if (*line == 0)
				*line = l->section_line[SEC_POP3 + i];
			snprintf(why, len, "[%s] login_type %s needs STARTTLS",
			    sec, enum_label(login_types, (int)pc->login_type));
			return true;
		}
	}
	return false;
}

static const char *
ssl_reason(void)
{
	unsigned long e = ERR_peek_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;

	return r ? r : "unknown error";
}

/* No pass phrase prompt: an encrypted key fails instead of blocking. */
static int
no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

/*
 * Reads the private key from fp.  An encrypted key is refused with its own
 * message: postern starts unattended and cannot ask for a pass phrase.
 */
static EVP_PKEY *
conf_read_key(struct loader *l, FILE *fp)
{
	const struct tls_conf *t = &l->c->tls;
	EVP_PKEY *pkey = NULL;
	char *buf;
	size_t n;
	BIO *bio;

	if ((buf = malloc(KEYFILE_MAX + 1)) == NULL) {
		l->oom = true;
		return NULL;
	}
	n = fread(buf, 1, KEYFILE_MAX + 1, fp);
	if (ferror(fp) || n > KEYFILE_MAX) {
		if (n > KEYFILE_MAX)
			conf_error(l, t->private_key_line,
			    "[tls] private_key: '%s' is larger than %d bytes",
			    t->private_key, KEYFILE_MAX);
		else
			conf_error(l, t->private_key_line,
			    "[tls] private_key: cannot read '%s': %s",
			    t->private_key, strerror(errno));
		OPENSSL_cleanse(buf, n);
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	if (strstr(buf, "ENCRYPTED") != NULL) {
		conf_error(l, t->private_key_line,
		    "[tls] private_key: '%s' is encrypted; postern needs it "
		    "without a pass phrase",
		    t->private_key);
		OPENSSL_cleanse(buf, n);
		free(buf);
		return NULL;
	}
	if ((bio = BIO_new_mem_buf(buf, (int)n)) != NULL) {
		pkey = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
		BIO_free(bio);
	}
	OPENSSL_cleanse(buf, n);
	free(buf);
	if (pkey == NULL)
		conf_error(l, t->private_key_line,
		    "[tls] private_key: '%s' holds no PEM private key",
		    t->private_key);
	return pkey;
}

static void
conf_check_tls(struct loader *l)
{
	struct tls_conf *t = &l->c->tls;
	EVP_PKEY *pkey = NULL;
	SSL_CTX *ctx;
	FILE *fp;
	bool cert_ok = false;
	char why[128];
	int line;

	t->certificate_line = key_line(l, SEC_TLS, "certificate");
	t->private_key_line = key_line(l, SEC_TLS, "private_key");
	if (t->certificate != NULL && t->private_key == NULL)
		conf_error(l, t->certificate_line,
		    "[tls] certificate is set but private_key is not");
	if (t->private_key != NULL && t->certificate == NULL)
		conf_error(l, t->private_key_line,
		    "[tls] private_key is set but certificate is not");
	if (t->certificate == NULL && t->private_key == NULL &&
	    conf_tls_needed(l, &line, why, sizeof(why)))
		conf_error(l, line,
		    "[tls] certificate and private_key are required: %s", why);
	/* Nothing below to check: spare the costly TLS context. */
	if (t->certificate == NULL && t->private_key == NULL &&
	    t->ciphers == NULL && t->ciphersuites == NULL)
		return;

	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		conf_error(
		    l, 0, "cannot create a TLS context: %s", ssl_reason());
		ERR_clear_error();
		return;
	}
	if (t->certificate != NULL) {
		if ((fp = fopen(t->certificate, "r")) == NULL)
			conf_error(l, t->certificate_line,
			    "[tls] certificate: cannot open '%s': %s",
			    t->certificate, strerror(errno));
		else {
			fclose(fp);
			if (SSL_CTX_use_certificate_chain_file(
			        ctx, t->certificate) != 1)
				conf_error(l, t->certificate_line,
				    "[tls] certificate: '%s' is not a PEM "
				    "certificate chain (%s)",
				    t->certificate, ssl_reason());
			else
				cert_ok = true;
		}
		ERR_clear_error();
	}
	if (t->private_key != NULL) {
		if ((fp = fopen(t->private_key, "r")) == NULL)
			conf_error(l, t->private_key_line,
			    "[tls] private_key: cannot open '%s': %s",
			    t->private_key, strerror(errno));
		else {
			pkey = conf_read_key(l, fp);
			fclose(fp);
			if (pkey != NULL && cert_ok &&
			    X509_check_private_key(
			        SSL_CTX_get0_certificate(ctx), pkey) != 1)
				conf_error(l, t->private_key_line,
				    "[tls] private_key: '%s' does not match "
				    "certificate '%s' (line %d)",
				    t->private_key, t->certificate,
				    t->certificate_line);
			EVP_PKEY_free(pkey);
		}
		ERR_clear_error();
	}
	if (t->ciphers != NULL && SSL_CTX_set_cipher_list(ctx, t->ciphers) != 1)
		conf_error(l, key_line(l, SEC_TLS, "ciphers"),
		    "[tls] ciphers: OpenSSL accepts no cipher in '%s'",
		    t->ciphers);
	ERR_clear_error();
	if (t->ciphersuites != NULL &&
	    SSL_CTX_set_ciphersuites(ctx, t->ciphersuites) != 1)
		conf_error(l, key_line(l, SEC_TLS, "ciphersuites"),
		    "[tls] ciphersuites: '%s' is not a valid TLS 1.3 "
		    "ciphersuite list",
		    t->ciphersuites);
	ERR_clear_error();
	SSL_CTX_free(ctx);
}

/*
 * Access policy: [rule "<name>"] sections, the [groups] section, and the
 * protocols' login_type_exempt_ips and required_group.
 */

/* Longest rule name; it appears in log rows as AccessRuleDenied:<name>. */
#define RULE_NAME_MAX 64
#define GROUP_NAME_MAX 1024
#define ITEM_MAX 256

static int
strlist_push(struct loader *l, struct strlist *sl, const char *s)
{
	char **v;

	if ((v = reallocarray(sl->v, sl->n + 1, sizeof(*v))) == NULL) {
		l->oom = true;
		return -1;
	}
	sl->v = v;
	if ((sl->v[sl->n] = xstrdup(l, s)) == NULL)
		return -1;
	sl->n++;
	return 0;
}

static void
strlist_free(struct strlist *sl)
{
	size_t i;

	for (i = 0; i < sl->n; i++)
		free(sl->v[i]);
	free(sl->v);
	sl->v = NULL;
	sl->n = 0;
}

typedef int item_fn(struct loader *, const struct key *, const char *, void *);

/*
 * Calls fn on each comma-separated item of v, blanks trimmed.  Empty
 * items are skipped so that a list may end with a comma.  Returns -1 if
 * any item failed, after trying them all.
 */
static int
for_items(struct loader *l, const struct key *k, const char *v, item_fn *fn,
    void *dst)
{
	char item[ITEM_MAX];
	const char *p = v, *e;
	size_t len;
	int rc = 0;

	while (*p != '\0') {
		while (*p == ' ' || *p == '\t')
			p++;
		e = strchr(p, ',');
		len = e ? (size_t)(e - p) : strlen(p);
		while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if (len >= sizeof(item)) {
			key_error(l, k, "'%.20s...' is too long", p);
			rc = -1;
		} else if (len > 0) {
			memcpy(item, p, len);
			item[len] = '\0';
			if (fn(l, k, item, dst) == -1)
				rc = -1;
		}
		if (e == NULL)
			break;
		p = e + 1;
	}
	return rc;
}

static int
protocol_item(struct loader *l, const struct key *k, const char *s, void *dst)
{
	if (strcasecmp(s, "pop3") == 0)
		*(unsigned *)dst |= 1u << PROTO_POP3;
	else if (strcasecmp(s, "imap") == 0 || strcasecmp(s, "imap4") == 0)
		*(unsigned *)dst |= 1u << PROTO_IMAP;
	else {
		key_error(l, k, "'%s' is not pop3 or imap", s);
		return -1;
	}
	return 0;
}

static int
p_protocols(struct loader *l, const struct key *k, const char *v, void *dst)
{
	return for_items(l, k, v, protocol_item, dst);
}

static int
addr_item(struct loader *l, const struct key *k, const char *s, void *dst)
{
	struct addrset **set = dst;
	char err[256];

	if (*set == NULL && (*set = addrset_new()) == NULL) {
		l->oom = true;
		return -1;
	}
	if (addrset_add(*set, s, err, sizeof(err)) == -1) {
		key_error(l, k, "%s", err);
		return -1;
	}
	return 0;
}

static int
p_addrset(struct loader *l, const struct key *k, const char *v, void *dst)
{
	return for_items(l, k, v, addr_item, dst);
}

static int
user_item(struct loader *l, const struct key *k, const char *s, void *dst)
{
	const char *p;

	for (p = s; *p != '\0'; p++) {
		if ((unsigned char)*p <= ' ' || *p == 0x7f) {
			key_error(l, k,
			    "'%s' is not a user name pattern (no blanks or "
			    "control characters)",
			    s);
			return -1;
		}
	}
	return strlist_push(l, dst, s);
}

static int
p_usernames(struct loader *l, const struct key *k, const char *v, void *dst)
{
	return for_items(l, k, v, user_item, dst);
}

/* A group name: a name or a DN, one per value, so commas are allowed. */
static int
check_group(struct loader *l, const struct key *k, const char *v)
{
	const char *p;

	if (*v == '\0') {
		key_error(l, k, "empty group name");
		return -1;
	}
	if (strlen(v) >= GROUP_NAME_MAX) {
		key_error(l, k, "group name longer than %d characters",
		    GROUP_NAME_MAX - 1);
		return -1;
	}
	for (p = v; *p != '\0'; p++) {
		if ((unsigned char)*p < ' ' || *p == 0x7f) {
			key_error(l, k, "control character in group name");
			return -1;
		}
	}
	return 0;
}

static int
p_group(struct loader *l, const struct key *k, const char *v, void *dst)
{
	if (check_group(l, k, v) == -1)
		return -1;
	return p_string(l, k, v, dst);
}

static int
p_groups(struct loader *l, const struct key *k, const char *v, void *dst)
{
	struct rule_seen *rs = &l->rseen[l->rule];
	int which = k->offset == RO(except.member_of) ? 1 : 0, *lines;

	if (check_group(l, k, v) == -1 || strlist_push(l, dst, v) == -1)
		return -1;
	lines = reallocarray(
	    rs->glines[which], rs->nglines[which] + 1, sizeof(*lines));
	if (lines == NULL) {
		l->oom = true;
		return -1;
	}
	lines[rs->nglines[which]++] = l->lineno;
	rs->glines[which] = lines;
	return 0;
}

static int
auth_item(struct loader *l, const struct key *k, const char *s, void *dst)
{
	if (strcasecmp(s, "cleartext_without_tls") == 0)
		*(unsigned *)dst |= RULE_AUTH_CLEARTEXT_WITHOUT_TLS;
	else if (strcasecmp(s, "tls") == 0)
		*(unsigned *)dst |= RULE_AUTH_TLS;
	else {
		key_error(
		    l, k, "'%s' is not cleartext_without_tls or tls", s);
		return -1;
	}
	return 0;
}

static int
p_auth(struct loader *l, const struct key *k, const char *v, void *dst)
{
	return for_items(l, k, v, auth_item, dst);
}

/* One or more ldap:// or ldaps:// URIs, separated by blanks. */
static int
p_ldap_uri(struct loader *l, const struct key *k, const char *v, void *dst)
{
	const char *p = v;
	int scheme = 0, s;
	size_t len;

	while (*p != '\0') {
		len = strcspn(p, " \t");
		if (len > 8 && strncasecmp(p, "ldaps://", 8) == 0)
			s = 2;
		else if (len > 7 && strncasecmp(p, "ldap://", 7) == 0)
			s = 1;
		else {
			key_error(l, k,
			    "'%.*s' is not an ldap://host or ldaps://host URI",
			    (int)len, p);
			return -1;
		}
		if (scheme != 0 && s != scheme) {
			key_error(l, k, "mixes ldap:// and ldaps:// URIs");
			return -1;
		}
		scheme = s;
		p += len;
		p += strspn(p, " \t");
	}
	return p_string(l, k, v, dst);
}

/* Reads the bind password: the file's first line, without its newline. */
static int
p_password_file(struct loader *l, const struct key *k, const char *v, void *dst)
{
	struct groups_conf *gc = &l->c->groups;
	char buf[1024];
	size_t n;
	FILE *fp;

	if ((fp = fopen(v, "re")) == NULL) {
		key_error(l, k, "cannot open '%s': %s", v, strerror(errno));
		return -1;
	}
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	if (buf[0] == '\0' || strlen(buf) != strcspn(buf, "\r\n")) {
		key_error(l, k, "'%s' holds no password on its first line", v);
		OPENSSL_cleanse(buf, sizeof(buf));
		return -1;
	}
	if (gc->ldap_bind_password != NULL) {
		OPENSSL_cleanse(
		    gc->ldap_bind_password, strlen(gc->ldap_bind_password));
		free(gc->ldap_bind_password);
	}
	gc->ldap_bind_password = xstrdup(l, buf);
	OPENSSL_cleanse(buf, sizeof(buf));
	if (gc->ldap_bind_password == NULL)
		return -1;
	return p_string(l, k, v, dst);
}

static int
p_ldap_filter(struct loader *l, const struct key *k, const char *v, void *dst)
{
	char buf[1024];
	const char *p;
	int depth = 0;

	if (groups_ldap_filter(v, "x", buf, sizeof(buf)) == -1) {
		key_error(l, k,
		    "'%s': only %%u, %%U and %%%% may follow a '%%' (or the "
		    "filter is too long)",
		    v);
		return -1;
	}
	for (p = v; *p != '\0'; p++) {
		if (*p == '(')
			depth++;
		else if (*p == ')' && --depth < 0)
			break;
	}
	if (v[0] != '(' || depth != 0) {
		key_error(l, k,
		    "'%s' is not an LDAP filter in parentheses, as "
		    "(sAMAccountName=%%u)",
		    v);
		return -1;
	}
	if (strstr(v, "%u") == NULL && strstr(v, "%U") == NULL) {
		key_error(l, k, "'%s' does not use the user name (%%u or %%U)",
		    v);
		return -1;
	}
	return p_string(l, k, v, dst);
}

/* An attribute name (RFC 4512 descr) or numeric OID. */
static int
p_ldap_attr(struct loader *l, const struct key *k, const char *v, void *dst)
{
	const char *p;
	bool ok = isalpha((unsigned char)v[0]) || isdigit((unsigned char)v[0]);

	for (p = v; ok && *p != '\0'; p++)
		ok = isalnum((unsigned char)*p) || *p == '-' ||
		     (*p == '.' && isdigit((unsigned char)v[0]));
	if (!ok) {
		key_error(l, k, "'%s' is not an attribute name", v);
		return -1;
	}
	return p_string(l, k, v, dst);
}

/* A [rule "<name>"] header; rest is what follows "rule". */
static void
rule_header(struct loader *l, const char *rest)
{
	struct conf *c = l->c;
	const char *p = rest, *q, *x;
	struct rule_seen *rs;
	struct rule *v, *r;
	size_t len, i;

	l->section = SEC_UNKNOWN;
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p != '"' || (q = strchr(p + 1, '"')) == NULL ||
	    q[1 + strspn(q + 1, " \t")] != '\0') {
		conf_error(l, l->lineno,
		    "expected [rule \"<name>\"], the name in double quotes");
		return;
	}
	p++;
	len = (size_t)(q - p);
	if (len == 0 || len > RULE_NAME_MAX || p[0] == ' ' ||
	    p[len - 1] == ' ') {
		conf_error(l, l->lineno,
		    "rule name must be 1-%d characters without blanks at "
		    "either end",
		    RULE_NAME_MAX);
		return;
	}
	for (x = p; x < q; x++) {
		if (*x < 0x20 || *x > 0x7e || *x == '\\' || *x == ';' ||
		    *x == ']') {
			conf_error(l, l->lineno,
			    "rule name must be printable ASCII without '\\', "
			    "';' or ']'");
			return;
		}
	}
	for (i = 0; i < c->nrules; i++) {
		if (strlen(c->rules[i].name) == len &&
		    strncasecmp(c->rules[i].name, p, len) == 0) {
			conf_error(l, l->lineno,
			    "duplicate rule \"%.*s\" (first at line %d)",
			    (int)len, p, c->rules[i].line);
			return;
		}
	}
	if (c->nrules == l->rulecap) {
		size_t cap = l->rulecap ? 2 * l->rulecap : 8;

		if ((v = reallocarray(c->rules, cap, sizeof(*v))) == NULL) {
			l->oom = true;
			return;
		}
		c->rules = v;
		if ((rs = reallocarray(l->rseen, cap, sizeof(*rs))) == NULL) {
			l->oom = true;
			return;
		}
		l->rseen = rs;
		l->rulecap = cap;
	}
	r = &c->rules[c->nrules];
	memset(r, 0, sizeof(*r));
	memset(&l->rseen[c->nrules], 0, sizeof(*l->rseen));
	if ((r->name = strndup(p, len)) == NULL) {
		l->oom = true;
		return;
	}
	r->line = l->lineno;
	r->enabled = true;
	l->rule = c->nrules++;
	l->section = SEC_RULE;
	snprintf(l->label, sizeof(l->label), "rule \"%s\"", r->name);
}

/* The line where the current rule's key was first set, 0 if never. */
static int
rule_key_line(const struct rule_seen *rs, const char *name)
{
	size_t i = key_index(name);

	return i < NKEYS ? rs->seen[i] : 0;
}

static void
groups_file_error(void *arg, int line, const char *msg)
{
	struct loader *l = arg;
	const struct groups_conf *gc = &l->c->groups;
	int at = key_line(l, SEC_GROUPS, "file");

	if (line > 0)
		conf_error(l, at, "[groups] file: %s:%d: %s", gc->file, line,
		    msg);
	else
		conf_error(l, at, "[groups] file: %s: %s", gc->file, msg);
}

/* A group named in the configuration must exist somewhere. */
static void
check_group_ref(struct loader *l, int line, const char *where,
    const char *key, const char *group)
{
	const struct groups_conf *gc = &l->c->groups;

	if (gc->file == NULL && gc->ldap_uri == NULL)
		conf_error(l, line,
		    "[%s] %s: group '%s' needs a group source: set file or "
		    "ldap_uri in [groups]",
		    where, key, group);
	else if (gc->ldap_uri == NULL && gc->file_groups != NULL &&
		 !groups_file_has_group(gc->file_groups, group))
		conf_error(l, line,
		    "[%s] %s: group '%s' is not in the groups file %s", where,
		    key, group, gc->file);
}

/* A condition written with no value matches nothing: refuse it. */
static void
check_empty(struct loader *l, const struct rule *r, const struct rule_seen *rs,
    const char *key, bool empty)
{
	int line = rule_key_line(rs, key);

	/* A value already refused has been reported. */
	if (line != 0 && empty && !has_error_at(l, line))
		conf_error(l, line,
		    "[rule \"%s\"] %s: no value (remove the key to leave the "
		    "condition out)",
		    r->name, key);
}

static void
check_rule_match(struct loader *l, const struct rule *r,
    const struct rule_seen *rs, const struct rule_match *m, bool except)
{
	char key[32];

#define CHECK(name, empty)                                                     \
	(snprintf(key, sizeof(key), "%s%s", except ? "except_" : "", name),   \
	    check_empty(l, r, rs, key, empty))
	CHECK("protocols", m->protocols == 0);
	CHECK("client_ips",
	    m->client_ips == NULL || addrset_count(m->client_ips) == 0);
	CHECK("usernames", m->usernames.n == 0);
	CHECK("authentication", m->authentication == 0);
#undef CHECK
	if (m->client_ips != NULL)
		addrset_finish(m->client_ips);
}

static int
rule_cmp(const void *a, const void *b)
{
	const struct rule *x = a, *y = b;

	return x->priority < y->priority ? -1 : x->priority > y->priority;
}

static void
conf_validate_policy(struct loader *l)
{
	struct conf *c = l->c;
	struct groups_conf *gc = &c->groups;
	const struct rule_seen *rs;
	const struct rule *r;
	struct proto_conf *pc;
	char where[RULE_NAME_MAX + 8];
	size_t i, j, w;
	int line;

	if (gc->file != NULL)
		gc->file_groups = groups_file_load(gc->file, groups_file_error, l);
	if (gc->ldap_uri != NULL) {
		line = key_line(l, SEC_GROUPS, "ldap_uri");
		if (gc->ldap_base == NULL)
			conf_error(l, line,
			    "[groups] ldap_uri needs ldap_base (where users "
			    "are searched)");
		if (gc->ldap_bind_dn != NULL &&
		    key_line(l, SEC_GROUPS, "ldap_bind_password_file") == 0)
			conf_error(l, key_line(l, SEC_GROUPS, "ldap_bind_dn"),
			    "[groups] ldap_bind_dn needs "
			    "ldap_bind_password_file");
		if (gc->ldap_bind_dn == NULL &&
		    key_line(l, SEC_GROUPS, "ldap_bind_password_file") != 0)
			conf_error(l,
			    key_line(l, SEC_GROUPS, "ldap_bind_password_file"),
			    "[groups] ldap_bind_password_file needs "
			    "ldap_bind_dn");
	}
	for (i = 0; i < c->nrules; i++) {
		r = &c->rules[i];
		rs = &l->rseen[i];
		snprintf(where, sizeof(where), "rule \"%s\"", r->name);
		if (rule_key_line(rs, "priority") == 0)
			conf_error(l, r->line, "[rule \"%s\"] has no priority",
			    r->name);
		if (rule_key_line(rs, "action") == 0)
			conf_error(l, r->line,
			    "[rule \"%s\"] has no action (allow, deny or "
			    "audit)",
			    r->name);
		check_rule_match(l, r, rs, &r->cond, false);
		check_rule_match(l, r, rs, &r->except, true);
		for (w = 0; w < 2; w++) {
			const struct strlist *sl =
			    w ? &r->except.member_of : &r->cond.member_of;

			for (j = 0; j < sl->n; j++)
				check_group_ref(l, rs->glines[w][j], where,
				    w ? "except_member_of" : "member_of",
				    sl->v[j]);
		}
		for (j = 0; j < i; j++) {
			if (rule_key_line(rs, "priority") == 0 ||
			    rule_key_line(&l->rseen[j], "priority") == 0 ||
			    c->rules[j].priority != r->priority)
				continue;
			conf_error(l, rule_key_line(rs, "priority"),
			    "[rule \"%s\"] priority %u is also the priority "
			    "of rule \"%s\" (line %d); priorities must be "
			    "unique",
			    r->name, r->priority, c->rules[j].name,
			    rule_key_line(&l->rseen[j], "priority"));
			break;
		}
	}
	for (i = 0; i < PROTO_COUNT; i++) {
		pc = &c->proto[i];
		if (pc->login_type_exempt_ips != NULL)
			addrset_finish(pc->login_type_exempt_ips);
		if (pc->required_group != NULL)
			check_group_ref(l,
			    key_line(l, (enum section)(SEC_POP3 + i),
				"required_group"),
			    section_names[SEC_POP3 + i], "required_group",
			    pc->required_group);
	}
	if (c->nrules > 1)
		qsort(c->rules, c->nrules, sizeof(*c->rules), rule_cmp);
}

static void
rule_match_free(struct rule_match *m)
{
	addrset_free(m->client_ips);
	strlist_free(&m->usernames);
	strlist_free(&m->member_of);
}

static void
conf_free_policy(struct conf *c)
{
	struct groups_conf *gc = &c->groups;
	size_t i;

	for (i = 0; i < c->nrules; i++) {
		free(c->rules[i].name);
		rule_match_free(&c->rules[i].cond);
		rule_match_free(&c->rules[i].except);
	}
	free(c->rules);
	for (i = 0; i < PROTO_COUNT; i++) {
		addrset_free(c->proto[i].login_type_exempt_ips);
		free(c->proto[i].required_group);
	}
	free(gc->file);
	groups_file_free(gc->file_groups);
	free(gc->ldap_uri);
	free(gc->ldap_ca_file);
	free(gc->ldap_bind_dn);
	free(gc->ldap_bind_password_file);
	if (gc->ldap_bind_password != NULL) {
		OPENSSL_cleanse(
		    gc->ldap_bind_password, strlen(gc->ldap_bind_password));
		free(gc->ldap_bind_password);
	}
	free(gc->ldap_base);
	free(gc->ldap_user_filter);
	free(gc->ldap_group_attribute);
}

static int
conf_defaults_policy(struct loader *l)
{
	struct groups_conf *gc = &l->c->groups;
	static atomic_uint_fast64_t serials;

	l->c->serial = atomic_fetch_add(&serials, 1) + 1;
	gc->ldap_starttls = true;
	gc->ldap_tls_verify = true;
	gc->ldap_nested = LDAP_NESTED_NO;
	gc->ldap_timeout_ms = 5 * SEC_MS;
	gc->ldap_threads = 4;
	gc->cache_ttl_ms = 5 * MIN_MS;
	if ((gc->ldap_user_filter = xstrdup(l, "(sAMAccountName=%u)")) == NULL ||
	    (gc->ldap_group_attribute = xstrdup(l, "memberOf")) == NULL)
		return -1;
	return 0;
}

/* The checks that need the whole file. */
static void
conf_validate(struct loader *l)
{
	struct conf *c = l->c;
	struct proto_conf *pc;
	long ncpu;
	int i, sec, line;

	if (l->workers_auto) {
		ncpu = sysconf(_SC_NPROCESSORS_ONLN);
		c->workers = ncpu < 1             ? 1
		             : ncpu > WORKERS_MAX ? WORKERS_MAX
		                                  : (unsigned)ncpu;
	}
	for (i = 0; i < PROTO_COUNT; i++) {
		pc = &c->proto[i];
		sec = SEC_POP3 + i;
		if (l->section_line[sec] == 0)
			pc->enabled = false;
		if (pc->backend_host != NULL &&
		    pc->backend_server_name == NULL &&
		    (pc->backend_server_name = xstrdup(l, pc->backend_host)) ==
		        NULL)
			return;
		if (!pc->enabled)
			continue;
		conf_protolog_validate(l, i);
		if ((pc->forward_client_address == FORWARD_ID &&
			i != PROTO_IMAP) ||
		    (pc->forward_client_address == FORWARD_XCLIENT &&
			i != PROTO_POP3))
			conf_error(l, key_line(l, sec, "forward_client_address"),
			    "[%s] forward_client_address = %s is for %s only "
			    "(use %s or proxy here)",
			    section_names[sec],
			    enum_label(forward_modes,
				(int)pc->forward_client_address),
			    i == PROTO_IMAP ? "POP3" : "IMAP",
			    i == PROTO_IMAP ? "id" : "xclient");
		if (key_line(l, sec, "backend") == 0)
			conf_error(l, l->section_line[sec],
			    "[%s] backend is required (host, host:port or "
			    "[address]:port of the server to proxy to), or "
			    "set enabled = no",
			    section_names[sec]);
		if (pc->nbindings == 0 && !l->bad_bindings[i]) {
			line = key_line(l, sec, "ssl_bindings");
			if (key_line(l, sec, "unencrypted_or_tls_bindings") >
			    line)
				line = key_line(
				    l, sec, "unencrypted_or_tls_bindings");
			conf_error(l, line,
			    "[%s] has no bindings: set "
			    "unencrypted_or_tls_bindings or ssl_bindings, or "
			    "enabled = no",
			    section_names[sec]);
		}
	}
	if (c->trusted_proxies != NULL)
		addrset_finish(c->trusted_proxies);
	if (!c->proto[PROTO_POP3].enabled && !c->proto[PROTO_IMAP].enabled)
		conf_error(l, 0,
		    "no protocol is enabled (a [pop3] or [imap] section "
		    "enables its protocol unless it says enabled = no)");
	conf_check_duplicate_bindings(l);
	conf_check_tls(l);
	conf_validate_policy(l);
}

static void
conf_report(struct loader *l, FILE *errout)
{
	size_t i;

	if (l->oom)
		conf_error(l, 0, "out of memory");
	qsort(l->errs, l->nerrs, sizeof(*l->errs), error_cmp);
	for (i = 0; i < l->nerrs; i++) {
		if (errout == NULL)
			continue;
		if (l->errs[i].line > 0)
			fprintf(errout, "%s:%d: %s\n", l->path, l->errs[i].line,
			    l->errs[i].msg);
		else
			fprintf(errout, "%s: %s\n", l->path, l->errs[i].msg);
	}
}

struct conf *
conf_load(const char *path, FILE *errout)
{
	struct loader l;
	struct conf *c;
	int i, t, rc;

	memset(&l, 0, sizeof(l));
	l.path = path;
	l.section = SEC_NONE;
	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->path = strdup(path)) == NULL) {
		free(c);
		if (errout != NULL)
			fprintf(errout, "%s: out of memory\n", path);
		return NULL;
	}
	atomic_init(&c->refs, 1);
	l.c = c;
	if ((l.fp = fopen(path, "r")) == NULL) {
		conf_error(&l, 0, "cannot open: %s", strerror(errno));
		goto done;
	}
	if (conf_defaults(&l) == -1)
		goto done;
	rc = ini_parse_stream(conf_reader, &l, conf_handler, &l);
	/* Our classification should have caught it; never let one pass. */
	if (rc > 0 && !has_error_at(&l, rc))
		conf_error(&l, rc, "syntax error");
	else if (rc == -2)
		l.oom = true;
	if (l.read_failed || l.oom)
		goto done;
	if (conf_join_bindings(&l) == 0)
		conf_validate(&l);
done:
	if (l.fp != NULL)
		fclose(l.fp);
	free(l.buf);
	for (i = 0; i < PROTO_COUNT; i++)
		for (t = 0; t < 2; t++)
			free(l.lists[i][t].v);
	for (size_t r = 0; r < c->nrules; r++)
		for (t = 0; t < 2; t++)
			free(l.rseen[r].glines[t]);
	free(l.rseen);
	if (l.nerrs != 0 || l.oom) {
		conf_report(&l, errout);
		conf_free(c);
		c = NULL;
	}
	for (size_t e = 0; e < l.nerrs; e++)
		free(l.errs[e].msg);
	free(l.errs);
	return c;
}

struct conf *
conf_ref(struct conf *c)
{
	atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
	return c;
}

static void
conf_free(struct conf *c)
{
	struct proto_conf *pc;
	int i;

	free(c->path);
	free(c->user);
	free(c->pid_file);
	free(c->tls.certificate);
	free(c->tls.private_key);
	free(c->tls.ciphers);
	free(c->tls.ciphersuites);
	addrset_free(c->trusted_proxies);
	for (i = 0; i < PROTO_COUNT; i++) {
		pc = &c->proto[i];
		free(pc->bindings);
		free(pc->banner);
		free(pc->backend_host);
		free(pc->backend_port);
		free(pc->backend_ca_file);
		free(pc->backend_server_name);
		free(pc->log_file_location);
		if (pc->backend_ssl_ctx != NULL)
			SSL_CTX_free(pc->backend_ssl_ctx);
	}
	for (i = 0; i < PROTO_COUNT; i++)
		if (c->server_ssl_ctx[i] != NULL)
			SSL_CTX_free(c->server_ssl_ctx[i]);
	conf_free_policy(c);
	free(c);
}

void
conf_unref(struct conf *c)
{
	if (c == NULL)
		return;
	/* Release and acquire in one, so the freeing thread sees every other
	 * holder's last use of the snapshot.  Not a relaxed decrement and a
	 * separate acquire fence: ThreadSanitizer does not model fences and
	 * would report the free as a race with the last reader. */
	if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1)
		return;
	conf_free(c);
}

const char *
conf_proto_name(enum proto_id p)
{
	return p == PROTO_POP3 ? "POP3" : "IMAP4";
}

/* Dump lines longer than this are wrapped, where a list allows it. */
#define DUMP_WIDTH 100

/*
 * Writes a list on the row's line and, past DUMP_WIDTH, on lines indented
 * under its value: each line but the last ends with a comma, as the
 * continuation lines of a list key in the file.
 */
static void
dump_list(FILE *out, const char *list, size_t indent)
{
	size_t col = indent, len;
	const char *p = list, *e;
	bool first = true;

	for (; *p != '\0'; p = *e ? e + 1 : e) {
		e = strchr(p, '\n');
		if (e == NULL)
			e = p + strlen(p);
		len = (size_t)(e - p);
		if (!first && col + 2 + len > DUMP_WIDTH) {
			fprintf(out, ",\n%*s", (int)indent, "");
			col = indent;
		} else if (!first) {
			fputs(", ", out);
			col += 2;
		}
		fwrite(p, 1, len, out);
		col += len;
		first = false;
	}
}

static void
dump_block(FILE *out, struct dump_row *rows, size_t n)
{
	size_t i, w = 0, len;
	const char *p, *e;

	for (i = 0; i < n; i++)
		if (strlen(rows[i].name) > w)
			w = strlen(rows[i].name);
	for (i = 0; i < n; i++) {
		struct dump_row *r = &rows[i];

		if (r->list != NULL && r->list[0] != '\0' && r->repeat) {
			for (p = r->list; *p != '\0'; p = *e ? e + 1 : e) {
				e = strchr(p, '\n');
				len = e ? (size_t)(e - p) : strlen(p);
				e = p + len;
				fprintf(out, "%-*s : %.*s\n", (int)w, r->name,
				    (int)len, p);
			}
		} else if (r->list != NULL && r->list[0] != '\0') {
			fprintf(out, "%-*s : ", (int)w, r->name);
			dump_list(out, r->list, w + 3);
			fputc('\n', out);
		} else if (r->list != NULL || r->value[0] == '\0')
			fprintf(out, "%-*s :\n", (int)w, r->name);
		else
			fprintf(out, "%-*s : %s\n", (int)w, r->name, r->value);
		free(r->list);
		r->list = NULL;
	}
}

/*
 * Makes the row a list; the caller writes its items, each followed by
 * '\n', and closes the stream.  NULL when out of memory: the row then
 * says so.
 */
static FILE *
row_list(struct dump_row *r, bool repeat)
{
	FILE *fp = open_memstream(&r->list, &r->listlen);

	r->repeat = repeat;
	if (fp == NULL) {
		r->list = NULL;
		snprintf(r->value, sizeof(r->value), "(out of memory)");
	}
	return fp;
}

static void
list_close(struct dump_row *r, FILE *fp)
{
	if (fp != NULL && fclose(fp) != 0) {
		free(r->list);
		r->list = NULL;
		snprintf(r->value, sizeof(r->value), "(out of memory)");
	}
}

/* The bindings of one kind, as the binding keys read them. */
static void
fmt_bindings(const struct proto_conf *pc, bool tls, struct dump_row *r)
{
	char addr[BINDING_STRLEN];
	FILE *fp;
	size_t i;

	if ((fp = row_list(r, false)) == NULL)
		return;
	for (i = 0; i < pc->nbindings; i++) {
		if (pc->bindings[i].implicit_tls != tls)
			continue;
		fmt_binding(&pc->bindings[i], addr, sizeof(addr));
		fprintf(fp, "%s\n", addr);
	}
	list_close(r, fp);
}

static void
fmt_limit(unsigned v, char *buf, size_t len)
{
	if (v == 0)
		snprintf(buf, len, "unlimited");
	else
		snprintf(buf, len, "%u", v);
}

/* Access policy: the dump of address sets, rules and group sources. */
static void
fmt_ranges(const struct addrset *set, struct dump_row *r)
{
	FILE *fp;

	if ((fp = row_list(r, false)) == NULL)
		return;
	if (set != NULL && addrset_write(set, "\n", fp) > 0)
		fputc('\n', fp);
	list_close(r, fp);
}

/* repeat: one row per item, for keys whose values may hold commas. */
static void
fmt_strlist(const struct strlist *sl, bool repeat, struct dump_row *r)
{
	FILE *fp;
	size_t i;

	if ((fp = row_list(r, repeat)) == NULL)
		return;
	for (i = 0; i < sl->n; i++)
		fprintf(fp, "%s\n", sl->v[i]);
	list_close(r, fp);
}

static void
fmt_protocols(unsigned bits, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%s", bits & (1u << PROTO_POP3) ? "POP3" : "",
	    bits == ((1u << PROTO_POP3) | (1u << PROTO_IMAP)) ? ", " : "",
	    bits & (1u << PROTO_IMAP) ? "IMAP4" : "");
}

static void
fmt_auth(unsigned bits, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%s",
	    bits & RULE_AUTH_CLEARTEXT_WITHOUT_TLS ? "cleartext_without_tls"
	                                           : "",
	    bits == (RULE_AUTH_CLEARTEXT_WITHOUT_TLS | RULE_AUTH_TLS) ? ", "
	                                                              : "",
	    bits & RULE_AUTH_TLS ? "tls" : "");
}

static void dump_policy(const struct conf *, FILE *);

#define ROWP(n)                                                                \
	(r = &rows[nrows++], r->name = (n), r->list = NULL, r->repeat = false, \
	    r->value[0] = '\0', r)
#define ROW(n) (ROWP(n)->value)
#define SET(n, ...) snprintf(ROW(n), sizeof(r->value), __VA_ARGS__)
#define STR(n, s) SET(n, "%s", (s) ? (s) : "")
#define BOOL(n, b) SET(n, "%s", (b) ? "True" : "False")

static void
dump_proto(const struct conf *c, enum proto_id p, FILE *out)
{
	const struct proto_conf *pc = &c->proto[p];
	struct dump_row rows[48], *r;
	size_t nrows = 0;

	STR("ProtocolName", conf_proto_name(p));
	BOOL("Enabled", pc->enabled);
	fmt_bindings(pc, false, ROWP("UnencryptedOrTLSBindings"));
	fmt_bindings(pc, true, ROWP("SSLBindings"));
	STR("Banner", pc->banner);
	STR("LoginType", enum_label(login_types, (int)pc->login_type));
	STR("LoginTypeMode", enum_label(login_modes, (int)pc->login_type_mode));
	fmt_ranges(pc->login_type_exempt_ips, ROWP("LoginTypeExemptIps"));
	STR("RequiredGroup", pc->required_group);
	/* In brackets if IPv6, so that the backend key reads it back. */
	SET("ProxyTargetHost",
	    pc->backend_host && strchr(pc->backend_host, ':') ? "[%s]" : "%s",
	    pc->backend_host ? pc->backend_host : "");
	STR("ProxyTargetPort", pc->backend_port);
	STR("BackendTls", enum_label(backend_tls_modes, (int)pc->backend_tls));
	STR("BackendCaFile", pc->backend_ca_file);
	STR("BackendServerName", pc->backend_server_name);
	BOOL("BackendVerify", pc->backend_verify);
	STR("ForwardClientAddress",
	    enum_label(forward_modes, (int)pc->forward_client_address));
	fmt_timespan(
	    pc->backend_timeout_ms, ROW("BackendTimeout"), sizeof(r->value));
	fmt_limit(pc->max_connections, ROW("MaxConnections"), sizeof(r->value));
	fmt_limit(pc->max_connection_from_single_ip,
	    ROW("MaxConnectionFromSingleIP"), sizeof(r->value));
	SET("IPv6PrefixLength", "%u", pc->ipv6_prefix_length);
	fmt_limit(pc->max_connections_per_user, ROW("MaxConnectionsPerUser"),
	    sizeof(r->value));
	fmt_timespan(pc->pre_auth_timeout_ms,
	    ROW("PreAuthenticatedConnectionTimeout"), sizeof(r->value));
	fmt_timespan(pc->pre_auth_total_ms,
	    ROW("PreAuthenticatedTotalTimeout"), sizeof(r->value));
	fmt_timespan(pc->auth_timeout_ms, ROW("AuthenticatedConnectionTimeout"),
	    sizeof(r->value));
	SET("MaxCommandSize", "%zu", pc->max_command_size);
	SET("MaxBadCommands", "%u", pc->max_bad_commands);
	SET("MaxLoginAttempts", "%u", pc->max_login_attempts);
	dump_protolog(pc, rows, &nrows);
	dump_block(out, rows, nrows);
}

void
conf_dump(const struct conf *c, FILE *out)
{
	struct dump_row rows[16], *r;
	size_t nrows = 0;
	int p;

	for (p = 0; p < PROTO_COUNT; p++) {
		dump_proto(c, (enum proto_id)p, out);
		fputc('\n', out);
	}
	SET("Workers", "%u", c->workers);
	STR("User", c->user);
	STR("PidFile", c->pid_file);
	STR("LogLevel", enum_label(log_levels, (int)c->log_level));
	BOOL("Syslog", c->syslog);
	fmt_timespan(
	    c->shutdown_timeout_ms, ROW("ShutdownTimeout"), sizeof(r->value));
	fmt_ranges(c->trusted_proxies, ROWP("TrustedProxies"));
	STR("Certificate", c->tls.certificate);
	STR("PrivateKey", c->tls.private_key);
	STR("MinVersion", enum_label(tls_versions, c->tls.min_version));
	STR("Ciphers", c->tls.ciphers);
	STR("Ciphersuites", c->tls.ciphersuites);
	dump_block(out, rows, nrows);
	dump_policy(c, out);
}

/* Access policy: one block for the group sources, one per rule. */
static void
dump_policy(const struct conf *c, FILE *out)
{
	const struct groups_conf *gc = &c->groups;
	struct dump_row rows[32], *r;
	const struct rule *rule;
	size_t nrows, i, w;

	if (gc->file != NULL || gc->ldap_uri != NULL) {
		nrows = 0;
		fputc('\n', out);
		STR("GroupsFile", gc->file);
		STR("LdapUri", gc->ldap_uri);
		STR("LdapCaFile", gc->ldap_ca_file);
		BOOL("LdapStartTls", gc->ldap_starttls);
		BOOL("LdapTlsVerify", gc->ldap_tls_verify);
		STR("LdapBindDn", gc->ldap_bind_dn);
		STR("LdapBindPasswordFile", gc->ldap_bind_password_file);
		STR("LdapBase", gc->ldap_base);
		STR("LdapUserFilter", gc->ldap_user_filter);
		STR("LdapGroupAttribute", gc->ldap_group_attribute);
		STR("LdapNested", enum_label(ldap_nested_modes, (int)gc->ldap_nested));
		fmt_timespan(gc->ldap_timeout_ms, ROW("LdapTimeout"),
		    sizeof(r->value));
		SET("LdapThreads", "%u", gc->ldap_threads);
		fmt_timespan(gc->cache_ttl_ms, ROW("GroupCacheTtl"),
		    sizeof(r->value));
		dump_block(out, rows, nrows);
	}
	for (i = 0; i < c->nrules; i++) {
		rule = &c->rules[i];
		nrows = 0;
		fputc('\n', out);
		STR("Name", rule->name);
		SET("Priority", "%u", rule->priority);
		STR("Action", enum_label(rule_actions, (int)rule->action));
		BOOL("Enabled", rule->enabled);
		for (w = 0; w < 2; w++) {
			const struct rule_match *m =
			    w ? &rule->except : &rule->cond;

			fmt_protocols(m->protocols,
			    ROW(w ? "ExceptProtocols" : "Protocols"),
			    sizeof(r->value));
			fmt_ranges(m->client_ips,
			    ROWP(w ? "ExceptClientIps" : "ClientIps"));
			fmt_strlist(&m->usernames, false,
			    ROWP(w ? "ExceptUsernames" : "Usernames"));
			/* A group name may hold commas: one per row. */
			fmt_strlist(&m->member_of, true,
			    ROWP(w ? "ExceptMemberOf" : "MemberOf"));
			fmt_auth(m->authentication,
			    ROW(w ? "ExceptAuthentication" : "Authentication"),
			    sizeof(r->value));
		}
		dump_block(out, rows, nrows);
	}
}

/* --- protolog: the protocol-log keys ------------------------------------ */

/* A size for the log quotas: bytes or k/M/G, 0 or "unlimited" for none. */
static int
p_logsize(struct loader *l, const struct key *k, const char *v, void *dst)
{
	uint64_t n;

	if (strcasecmp(v, "unlimited") == 0) {
		*(uint64_t *)dst = 0;
		return 0;
	}
	if (conf_parse_size(v, &n) == -1) {
		key_error(l, k,
		    "'%s' is not a size (bytes, or with k/M/G; 0 or "
		    "'unlimited': no quota)",
		    v);
		return -1;
	}
	if (n > k->max) {
		key_error(l, k, "%s is out of range (at most %lluG)", v,
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
p_logage(struct loader *l, const struct key *k, const char *v, void *dst)
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
		rc = parse_timespan(v, &ms);
	else if (parse_digits(&p, &n) == 0) {
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
		key_error(l, k,
		    "'%s' is not an age (as 30d, 12h, or d.hh:mm:ss; 0 or "
		    "'unlimited': no limit)",
		    v);
		return -1;
	}
	if (ms > k->max) {
		key_error(l, k, "%s is out of range (at most %llud)", v,
		    (unsigned long long)(k->max / DAY_MS));
		return -1;
	}
	*(uint64_t *)dst = ms;
	return 0;
}

static int
conf_protolog_defaults(struct loader *l, struct proto_conf *pc, int p)
{
	struct protolog_conf d;

	protolog_conf_defaults(&d, (enum proto_id)p);
	pc->protocol_log_enabled = d.enabled;
	if ((pc->log_file_location = xstrdup(l, d.directory)) == NULL)
		return -1;
	pc->log_file_rollover = (int)d.rollover;
	pc->log_per_file_size_quota = d.per_file_size_quota;
	pc->log_file_age_limit_ms = d.file_age_limit_ms;
	pc->log_directory_size_quota = d.directory_size_quota;
	pc->log_detail = (int)d.detail;
	return 0;
}

/* Below this a size quota would start a file every few rows. */
#define LOG_FILE_QUOTA_MIN 4096

static void
conf_protolog_validate(struct loader *l, int p)
{
	struct proto_conf *pc = &l->c->proto[p];
	int sec = SEC_POP3 + p, line;

	line = key_line(l, sec, "log_file_location");
	pc->log_line = line != 0 ? line : l->section_line[sec];
	if (!pc->protocol_log_enabled)
		return;
	if (pc->log_file_location == NULL)
		conf_error(l, pc->log_line,
		    "[%s] log_file_location must be set when "
		    "protocol_log_enabled = yes",
		    section_names[sec]);
	if (pc->log_per_file_size_quota != 0 &&
	    pc->log_per_file_size_quota < LOG_FILE_QUOTA_MIN)
		conf_error(l, key_line(l, sec, "log_per_file_size_quota"),
		    "[%s] log_per_file_size_quota: %llu bytes is too small "
		    "(0 for files by time, or at least %d)",
		    section_names[sec],
		    (unsigned long long)pc->log_per_file_size_quota,
		    LOG_FILE_QUOTA_MIN);
	if (pc->log_directory_size_quota != 0 &&
	    pc->log_directory_size_quota < pc->log_per_file_size_quota) {
		line = key_line(l, sec, "log_directory_size_quota");
		conf_error(l, line != 0 ? line :
		    key_line(l, sec, "log_per_file_size_quota"),
		    "[%s] log_directory_size_quota is smaller than "
		    "log_per_file_size_quota: every file would be deleted "
		    "as soon as it is full",
		    section_names[sec]);
	}
}

void
conf_protolog(const struct conf *c, struct protolog_conf *out)
{
	for (int p = 0; p < PROTO_COUNT; p++) {
		const struct proto_conf *pc = &c->proto[p];
		struct protolog_conf *o = &out[p];

		protolog_conf_defaults(o, (enum proto_id)p);
		o->enabled = pc->enabled && pc->protocol_log_enabled;
		if (pc->log_file_location != NULL)
			o->directory = pc->log_file_location;
		o->rollover = (enum protolog_rollover)pc->log_file_rollover;
		o->per_file_size_quota = pc->log_per_file_size_quota;
		o->file_age_limit_ms = pc->log_file_age_limit_ms;
		o->directory_size_quota = pc->log_directory_size_quota;
		o->detail = (enum protolog_detail)pc->log_detail;
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

/* The age limit as a TimeSpan; it may pass what fmt_timespan() holds. */
static void
fmt_age(uint64_t ms, char *buf, size_t len)
{
	char rest[32];

	if (ms == 0) {
		snprintf(buf, len, "Unlimited");
		return;
	}
	fmt_timespan((unsigned)(ms % DAY_MS), rest, sizeof(rest));
	if (ms >= DAY_MS)
		snprintf(buf, len, "%llu.%s", (unsigned long long)(ms / DAY_MS),
		    rest);
	else
		snprintf(buf, len, "%s", rest);
}

/* The rows named as Get-PopSettings names them, then postern's own. */
static void
dump_protolog(const struct proto_conf *pc, struct dump_row *rows, size_t *n)
{
	struct dump_row *r;
	size_t nrows = *n;

	BOOL("ProtocolLogEnabled", pc->protocol_log_enabled);
	STR("LogFileLocation", pc->log_file_location);
	STR("LogFileRollOverSettings",
	    enum_label(log_rollovers, pc->log_file_rollover));
	fmt_bytes(pc->log_per_file_size_quota, NULL, ROW("LogPerFileSizeQuota"),
	    sizeof(r->value));
	fmt_age(pc->log_file_age_limit_ms, ROW("LogFileAgeLimit"),
	    sizeof(r->value));
	fmt_bytes(pc->log_directory_size_quota, "Unlimited",
	    ROW("LogDirectorySizeQuota"), sizeof(r->value));
	STR("LogDetail", enum_label(log_details, pc->log_detail));
	*n = nrows;
}
