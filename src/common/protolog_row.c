/*
 * protolog_row: the protocol logs' row format (protolog_row.h): rows,
 * contexts, headers and file names.  No I/O, no locks, nothing of the
 * daemon's: the protocol is passed in by its name.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protolog_row.h"
#include "strcopy.h"
#include "utf8.h"

/* An snprintf-like output: counts everything, stores what fits. */
struct obuf {
	char *p;
	size_t cap;   /* bytes that may be stored, the NUL excluded */
	size_t len;   /* bytes produced so far */
	bool has_nul; /* room for a NUL: the caller's cap was not 0 */
};

static void
ob_init(struct obuf *o, char *buf, size_t cap)
{
	o->p = buf;
	o->cap = cap > 0 ? cap - 1 : 0;
	o->len = 0;
	o->has_nul = cap > 0;
}

static void
ob_put(struct obuf *o, const char *s, size_t n)
{
	if (o->len < o->cap) {
		size_t room = o->cap - o->len;

		memcpy(o->p + o->len, s, n < room ? n : room);
	}
	o->len += n;
}

static void
ob_putc(struct obuf *o, char c)
{
	if (o->len < o->cap)
		o->p[o->len] = c;
	o->len++;
}

static size_t
ob_end(struct obuf *o)
{
	if (o->has_nul)
		o->p[o->len < o->cap ? o->len : o->cap] = '\0';
	return o->len;
}

static void
ob_uint(struct obuf *o, uint64_t v)
{
	char tmp[20];
	size_t i = sizeof(tmp);

	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	ob_put(o, tmp + i, sizeof(tmp) - i);
}

/*
 * Bytes of the longest prefix of s[0..len) with at most max characters of
 * UTF-8.  Bytes that are not valid UTF-8 count as one character each, so
 * the bound holds for any input.
 */
static size_t
utf8_prefix_chars(const char *s, size_t len, size_t max)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i, n, chars = 0;

	/* No character is shorter than a byte. */
	if (len <= max)
		return len;
	for (i = 0; i < len; i += n) {
		if (chars++ == max)
			return i;
		n = utf8_seq_len(u + i, len - i);
		if (n == 0)
			n = 1;
	}
	return len;
}

/* The longest prefix of s[0..len) within max bytes, on a character start. */
static size_t
utf8_prefix_bytes(const char *s, size_t len, size_t max)
{
	if (len <= max)
		return len;
	while (max > 0 && ((unsigned char)s[max] & 0xc0) == 0x80)
		max--;
	return max;
}

/* How a field's value is treated beyond Exchange's CSV rules. */
enum field_kind {
	FIELD_PLAIN, /* written by postern itself */
	FIELD_CLIENT /* from the client: no formula */
};

/*
 * The length of the run at s[0..len) that a field copies as it is: up to
 * the first byte that csv_field() must rewrite.  Besides the CSV rules,
 * these are bytes that are not part of well-formed UTF-8, control bytes
 * other than tab, and DEL: every file stays valid UTF-8 (a strict reader
 * such as Import-Csv or Python's csv over a decoded file takes all of it)
 * and shows no client's terminal escape sequence to whoever pages it.
 */
static size_t
csv_plain_run(const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, n;

	while (i < len) {
		unsigned char b = u[i];

		/* Printable ASCII, nearly every byte of a row, needs no
		 * look at UTF-8. */
		if (b >= 0x20 && b < 0x7f && b != '"') {
			i++;
			continue;
		}
		if (b == '"' || (b < 0x20 && b != '\t') || b == 0x7f)
			return i;
		if ((n = utf8_seq_len(u + i, len - i)) == 0)
			return i;
		i += n;
	}
	return i;
}

/*
 * The bytes a field cannot be copied over without a closer look: ',' and
 * '"' (the field is quoted), control bytes but tab, DEL and every byte of
 * 0x80 and above (csv_plain_run() checks the UTF-8).  A field without any,
 * nearly every field of a row, is copied in one pass.
 */
/* clang-format off */
static const unsigned char csv_special[256] = {
	1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
};
/* clang-format on */

/* Writes one field's value with the CSV rules; see protolog_encode(). */
static void
csv_field(struct obuf *o, const char *s, size_t len, enum field_kind kind)
{
	const unsigned char *u = (const unsigned char *)s;
	bool quote = false;
	size_t i, j;

	if (len == 0)
		return;
	for (i = 0; i < len && !csv_special[u[i]]; i++)
		;
	if (i == len) {
		/* OWASP's list of the characters that start a spreadsheet
		 * formula (also below). */
		if (kind != FIELD_PLAIN && strchr("=+-@\t", s[0]) != NULL)
			ob_putc(o, '\'');
		ob_put(o, s, len);
		return;
	}
	for (i = 0; i < len && !quote; i++)
		quote = s[i] == ',' || s[i] == '"';
	if (quote)
		ob_putc(o, '"');
	/* OWASP's list of the characters that start a spreadsheet formula. */
	if (kind != FIELD_PLAIN && strchr("=+-@\t", s[0]) != NULL)
		ob_putc(o, '\'');
	for (i = 0; i < len; i = j + 1) {
		j = i + csv_plain_run(s + i, len - i);
		ob_put(o, s + i, j - i);
		if (j == len)
			break;
		switch (s[j]) {
		case '"':
			ob_put(o, "\"\"", 2);
			break;
		case '\r':
			ob_put(o, "\\r", 2);
			break;
		case '\n':
			ob_put(o, "\\n", 2);
			break;
		default: {
			static const char hex[] = "0123456789abcdef";
			unsigned char b = (unsigned char)s[j];
			char x[4] = {'\\', 'x', hex[b >> 4], hex[b & 0xf]};

			ob_put(o, x, sizeof(x));
			break;
		}
		}
	}
	if (quote)
		ob_putc(o, '"');
}

static void
csv_str(struct obuf *o, const char *s, enum field_kind kind, size_t maxchars)
{
	size_t len;

	if (s == NULL)
		return;
	len = strlen(s);
	if (maxchars > 0)
		len = utf8_prefix_chars(s, len, maxchars);
	csv_field(o, s, len, kind);
}

/* Writes v as exactly width decimal digits at p; returns the end. */
static char *
digits(char *p, int v, int width)
{
	int i;

	if (v < 0)
		v = 0;
	for (i = width - 1; i >= 0; i--) {
		p[i] = (char)('0' + v % 10);
		v /= 10;
	}
	return p + width;
}

/*
 * The date and time up to the seconds change once a second; rows come
 * many per second on each worker, so each thread keeps the last one.
 */
static _Thread_local int64_t time_cache_sec = -1;
static _Thread_local char time_cache[20];

void
protolog_format_time(int64_t ms, char buf[25])
{
	int64_t sec;
	unsigned frac;

	if (ms < 0)
		ms = 0;
	sec = ms / 1000;
	frac = (unsigned)(ms % 1000);
	if (sec != time_cache_sec) {
		time_t t = (time_t)sec;
		struct tm tm;
		char *p = time_cache;

		gmtime_r(&t, &tm);
		p = digits(p, tm.tm_year + 1900, 4);
		*p++ = '-';
		p = digits(p, tm.tm_mon + 1, 2);
		*p++ = '-';
		p = digits(p, tm.tm_mday, 2);
		*p++ = 'T';
		p = digits(p, tm.tm_hour, 2);
		*p++ = ':';
		p = digits(p, tm.tm_min, 2);
		*p++ = ':';
		p = digits(p, tm.tm_sec, 2);
		time_cache_sec = sec;
	}
	memcpy(buf, time_cache, 19);
	buf[19] = '.';
	buf[20] = (char)('0' + frac / 100);
	buf[21] = (char)('0' + frac / 10 % 10);
	buf[22] = (char)('0' + frac % 10);
	buf[23] = 'Z';
	buf[24] = '\0';
}

size_t
protolog_encode(const struct protolog_row *row, char *buf, size_t cap)
{
	static const char hex[] = "0123456789ABCDEF";
	struct obuf o;
	char tmp[PROTOLOG_CONTEXT_STRMAX];
	size_t n;
	int i;

	ob_init(&o, buf, cap);
	protolog_format_time(row->time_ms, tmp);
	ob_put(&o, tmp, 24);
	ob_putc(&o, ',');
	for (i = 15; i >= 0; i--)
		tmp[15 - i] = hex[(row->session_id >> (i * 4)) & 0xf];
	ob_put(&o, tmp, 16);
	ob_putc(&o, ',');
	ob_uint(&o, row->seq);
	ob_putc(&o, ',');
	csv_str(&o, row->sip, FIELD_PLAIN, 0);
	ob_putc(&o, ',');
	csv_str(&o, row->cip, FIELD_PLAIN, 0);
	ob_putc(&o, ',');
	/*
	 * The user as Exchange writes it, DOMAIN\user with its backslash and
	 * quoted when it holds ',' or '"', so that the log matches the
	 * directory's names.  cIp, the column scripts take by position, comes
	 * before it and never needs quoting.
	 */
	csv_str(&o, row->user, FIELD_CLIENT, PROTOLOG_USER_MAX);
	ob_putc(&o, ',');
	ob_uint(&o, row->duration_ms);
	ob_putc(&o, ',');
	ob_uint(&o, row->rqsize);
	ob_putc(&o, ',');
	ob_uint(&o, row->rpsize);
	ob_putc(&o, ',');
	csv_str(&o, row->command, FIELD_CLIENT, PROTOLOG_PARAMS_MAX);
	ob_putc(&o, ',');
	csv_str(&o, row->params, FIELD_CLIENT, PROTOLOG_PARAMS_MAX);
	ob_putc(&o, ',');
	if (row->context != NULL) {
		n = protolog_ctx_format(row->context, tmp, sizeof(tmp));
		if (n >= sizeof(tmp))
			n = sizeof(tmp) - 1;
		csv_field(&o, tmp, n, FIELD_PLAIN);
	}
	/* The empty puid of Exchange 2016/2019. */
	ob_put(&o, ",\r\n", 3);
	return ob_end(&o);
}

uint64_t
protolog_duration(const struct timespec *start, const struct timespec *end)
{
	int64_t ns;

	ns = ((int64_t)end->tv_sec - (int64_t)start->tv_sec) * 1000000000 +
	     ((int64_t)end->tv_nsec - (int64_t)start->tv_nsec);
	if (ns <= 0)
		return 0;
	if (ns < 1000000)
		return 1;
	return (uint64_t)(ns / 1000000);
}

int64_t
protolog_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Context. */

static const char *const key_names[PROTOLOG_NKEYS] = {
    [PROTOLOG_R] = "R",
    [PROTOLOG_ROWS] = "Rows",
    [PROTOLOG_RECENT] = "Recent",
    [PROTOLOG_TOTALSIZE] = "TotalSize",
    [PROTOLOG_SEARCH] = "Search",
    [PROTOLOG_CLIENTIP] = "ClientIp",
    [PROTOLOG_MSG] = "Msg",
    [PROTOLOG_UNSEEN] = "Unseen",
    [PROTOLOG_FOLDERCOUNT] = "FolderCount",
    [PROTOLOG_ITEMSDELETED] = "ItemsDeleted",
    [PROTOLOG_CAFEACTIVITYID] = "CafeActivityId",
    [PROTOLOG_TLS] = "Tls",
    [PROTOLOG_CLIENTNAME] = "ClientName",
    [PROTOLOG_CLIENTVERSION] = "ClientVersion",
    [PROTOLOG_PEERIP] = "PeerIp",
    [PROTOLOG_BACKEND] = "Backend",
    [PROTOLOG_ROUTE] = "Route",
    [PROTOLOG_LOGINTYPEAUDIT] = "LoginTypeAudit",
    [PROTOLOG_ACCESSRULEAUDIT] = "AccessRuleAudit",
    [PROTOLOG_REASON] = "Reason",
    [PROTOLOG_ERRMSG] = "ErrMsg",
};

const char *
protolog_key_name(enum protolog_key key)
{
	return (unsigned)key < PROTOLOG_NKEYS ? key_names[key] : NULL;
}

int
protolog_key_lookup(const char *name, size_t len)
{
	int k;

	for (k = 0; k < PROTOLOG_NKEYS; k++)
		if (strlen(key_names[k]) == len &&
		    memcmp(key_names[k], name, len) == 0)
			return k;
	return -1;
}

void
protolog_ctx_init(struct protolog_ctx *ctx)
{
	ctx->set = 0;
	ctx->used = 0;
}

/* Appends s[0..len) to the arena as it is; returns the bytes stored. */
static size_t
ctx_append(struct protolog_ctx *ctx, const char *s, size_t len, size_t max)
{
	size_t room = sizeof(ctx->arena) - ctx->used;

	if (max > room)
		max = room;
	len = utf8_prefix_bytes(s, len, max);
	memcpy(ctx->arena + ctx->used, s, len);
	ctx->used += (uint16_t)len;
	return len;
}

void
protolog_ctx_set(struct protolog_ctx *ctx, enum protolog_key key,
    const char *value)
{
	size_t start = ctx->used, n = 0;
	uint32_t bit;

	if ((unsigned)key >= PROTOLOG_NKEYS)
		return;
	bit = 1u << key;
	if (value == NULL) {
		ctx->set &= ~bit;
		return;
	}
	if (key == PROTOLOG_MSG && (ctx->set & bit) && ctx->len[key] > 0) {
		/* Copy the earlier messages to the end, then add this one. */
		if (ctx->len[key] + 1 >= PROTOLOG_VALUE_MAX ||
		    sizeof(ctx->arena) - ctx->used < (size_t)ctx->len[key] + 1)
			return;
		memmove(ctx->arena + ctx->used, ctx->arena + ctx->off[key],
		    ctx->len[key]);
		ctx->used += ctx->len[key];
		ctx->arena[ctx->used++] = ';';
		n = ctx->len[key] + 1u;
	}
	n += ctx_append(ctx, value, strlen(value), PROTOLOG_VALUE_MAX - n);
	ctx->off[key] = (uint16_t)start;
	ctx->len[key] = (uint16_t)n;
	ctx->set |= bit;
}

void
protolog_ctx_setf(struct protolog_ctx *ctx, enum protolog_key key,
    const char *fmt, ...)
{
	char buf[PROTOLOG_VALUE_MAX + 1];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	protolog_ctx_set(ctx, key, buf);
}

/*
 * Sets key to the n strings of parts joined, cut as protolog_ctx_setf()
 * cuts: the values of every login's rows, joined without stdio.
 */
static void
ctx_set_joined(struct protolog_ctx *ctx, enum protolog_key key,
    const char *const *parts, size_t n)
{
	char buf[PROTOLOG_VALUE_MAX + 1];
	size_t len = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n; i++)
		len += str_copy(buf + len, sizeof(buf) - len,
		    parts[i] != NULL ? parts[i] : "(null)");
	protolog_ctx_set(ctx, key, buf);
}

void
protolog_ctx_proxy(struct protolog_ctx *ctx, const char *host, const char *port,
    const char *enc, bool success)
{
	const char *parts[] = {"Proxy:", host, ":", port, ":", enc};

	ctx_set_joined(ctx, PROTOLOG_MSG, parts,
	    sizeof(parts) / sizeof(*parts));
	if (success)
		protolog_ctx_set(ctx, PROTOLOG_MSG, "ProxySuccess");
}

void
protolog_ctx_tls(struct protolog_ctx *ctx, enum protolog_tls tls,
    const char *version)
{
	const char *mode;

	switch (tls) {
	case PROTOLOG_TLS_STARTTLS:
		mode = "STARTTLS";
		break;
	case PROTOLOG_TLS_IMPLICIT:
		mode = "implicit";
		break;
	default:
		protolog_ctx_set(ctx, PROTOLOG_TLS, "none");
		return;
	}
	if (version != NULL) {
		const char *parts[] = {mode, ":", version};

		ctx_set_joined(ctx, PROTOLOG_TLS, parts,
		    sizeof(parts) / sizeof(*parts));
	} else
		protolog_ctx_set(ctx, PROTOLOG_TLS, mode);
}

size_t
protolog_ctx_format(const struct protolog_ctx *ctx, char *buf, size_t cap)
{
	struct obuf o;
	const char *v;
	size_t vlen, i;
	bool quote;
	int k;

	ob_init(&o, buf, cap);
	for (k = 0; k < PROTOLOG_NKEYS; k++) {
		if (!(ctx->set & (1u << k)))
			continue;
		if (o.len > 0)
			ob_putc(&o, ';');
		ob_put(&o, key_names[k], strlen(key_names[k]));
		ob_putc(&o, '=');
		v = ctx->arena + ctx->off[k];
		vlen = ctx->len[k];
		quote = false;
		for (i = 0; i < vlen && !quote; i++)
			quote = v[i] == ' ' || v[i] == ',' || v[i] == ';' ||
				v[i] == '"';
		if (!quote) {
			ob_put(&o, v, vlen);
			continue;
		}
		/*
		 * A quote inside a value is doubled, as CSV does and as the
		 * context field's own quotes are: the value stays exactly what
		 * the client or the backend sent (an IMAP ID version such as
		 * 16.0 "x"), and no value can end its quotes early to forge a
		 * key.
		 */
		ob_putc(&o, '"');
		for (i = 0; i < vlen; i++) {
			if (v[i] == '"')
				ob_putc(&o, '"');
			ob_putc(&o, v[i]);
		}
		ob_putc(&o, '"');
	}
	return ob_end(&o);
}

/* Headers and names. */

size_t
protolog_header(const char *proto, int64_t ms, char *buf, size_t cap)
{
	char date[25];
	int n;

	protolog_format_time(ms, date);
	n = snprintf(buf, cap,
	    PROTOLOG_FIELDS "\r\n"
			    "#Software: postern %s\r\n"
			    "#Version: 15.0.0.0\r\n"
			    "#Log-type: %s Log\r\n"
			    "#Date: %s\r\n"
			    "#Fields: " PROTOLOG_FIELDS "\r\n",
	    PACKAGE_VERSION, proto, date);
	return n < 0 ? 0 : (size_t)n;
}

void
protolog_period(enum protolog_rollover r, uint64_t size_quota, int64_t ms,
    char date[16], int64_t *start, int64_t *end)
{
	time_t t, day, mstart, mend, wstart;
	struct tm tm, m;
	int first_wday;
	char *p;

	if (ms < 0)
		ms = 0;
	t = (time_t)(ms / 1000);
	gmtime_r(&t, &tm);
	if (size_quota > 0)
		r = PROTOLOG_DAILY;
	day = t - t % 86400;
	memset(&m, 0, sizeof(m));
	m.tm_year = tm.tm_year;
	m.tm_mon = tm.tm_mon;
	m.tm_mday = 1;
	mstart = timegm(&m);
	m.tm_mon++;
	mend = timegm(&m);
	switch (r) {
	case PROTOLOG_HOURLY:
		*digits(digits(digits(digits(date, tm.tm_year + 1900, 4),
				   tm.tm_mon + 1, 2),
			    tm.tm_mday, 2),
		    tm.tm_hour, 2) = '\0';
		*start = (int64_t)(t - t % 3600) * 1000;
		*end = *start + 3600 * 1000;
		break;
	case PROTOLOG_DAILY:
		*digits(digits(digits(date, tm.tm_year + 1900, 4),
			    tm.tm_mon + 1, 2),
		    tm.tm_mday, 2) = '\0';
		*start = (int64_t)day * 1000;
		*end = *start + 86400 * 1000;
		break;
	case PROTOLOG_WEEKLY:
		/* The weekday of the 1st, then the row of the calendar. */
		first_wday = (tm.tm_wday - (tm.tm_mday - 1) % 7 + 7) % 7;
		p = digits(digits(date, tm.tm_year + 1900, 4), tm.tm_mon + 1,
		    2);
		*p++ = 'W';
		*digits(p, (tm.tm_mday - 1 + first_wday) / 7 + 1, 1) = '\0';
		wstart = day - (time_t)tm.tm_wday * 86400;
		*start = (int64_t)(wstart > mstart ? wstart : mstart) * 1000;
		wstart += 7 * 86400;
		*end = (int64_t)(wstart < mend ? wstart : mend) * 1000;
		break;
	case PROTOLOG_MONTHLY:
	default:
		*digits(digits(date, tm.tm_year + 1900, 4), tm.tm_mon + 1, 2) =
		    '\0';
		*start = (int64_t)mstart * 1000;
		*end = (int64_t)mend * 1000;
		break;
	}
}

void
protolog_file_name(const char *proto, const char *date, unsigned n,
    char buf[PROTOLOG_NAME_MAX])
{
	snprintf(buf, PROTOLOG_NAME_MAX, "%s%s-%u.LOG", proto, date, n);
}

static size_t
count_digits(const char *s)
{
	size_t n = 0;

	while (s[n] >= '0' && s[n] <= '9')
		n++;
	return n;
}

bool
protolog_name_match(const char *proto, const char *name, char *date,
    unsigned *n)
{
	const char *prefix = proto, *s, *d;
	size_t plen = strlen(prefix), nd, dlen;
	unsigned long num;

	if (strncmp(name, prefix, plen) != 0)
		return false;
	d = s = name + plen;
	nd = count_digits(s);
	if (nd == 6 && s[6] == 'W' && s[7] >= '1' && s[7] <= '6')
		nd = 8;
	else if (nd != 6 && nd != 8 && nd != 10)
		return false;
	dlen = nd;
	s += nd;
	if (*s++ != '-')
		return false;
	nd = count_digits(s);
	if (nd == 0 || nd > 9 || strcmp(s + nd, ".LOG") != 0)
		return false;
	num = strtoul(s, NULL, 10);
	if (date != NULL) {
		memcpy(date, d, dlen);
		date[dlen] = '\0';
	}
	if (n != NULL)
		*n = (unsigned)num;
	return true;
}
