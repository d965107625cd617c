/*
 * invread: sessions from rows, handed to the records as they end.
 *
 * The per-row path is kept short because it runs hundreds of millions of
 * times: the dateTime field is parsed against a cached date, the session
 * is found by its numeric id (the last one is remembered, since rows of a
 * session tend to follow each other), and the command is compared by
 * length first.  Everything else (addresses, users, hashing of keys) is
 * done once per session, when it ends.
 */
#include "config.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#if defined(__SSE2__) && defined(__GNUC__)
#include <emmintrin.h>
#endif

#include "inventory_internal.h"
#include "wildmatch.h"

#define SESSION_USER_MAX 255
#define SESSION_CIP_MAX 63
#define SESSION_SOFT_MAX 127
/* A backend's name is at most 64 bytes; a host:port from Msg=Proxy can be
 * longer and is cut, which still tells backends apart in practice. */
#define SESSION_BACKEND_MAX 127

_Static_assert(EXLOG_MECH_COUNT <= 16, "a session's mechanisms fit 16 bits");

/* What a user or client field that holds SASL data is shown as. */
#define SESSION_WITHHELD "(withheld)"

/* One session being read. */
struct session {
	uint64_t id;
	bool used;
	uint8_t proto_hint; /* INV_POP3/INV_IMAP4 from verbs, 0 unknown */
	uint8_t tls;        /* enum inv_tls */
	bool dele;
	uint16_t port;
	int64_t last_seq; /* highest seqNumber seen, -1 before any */
	int64_t first_ms, last_ms;
	uint32_t logins_ok, logins_failed;
	uint32_t cleartext_ok, cleartext_failed, implicit_ok, starttls_ok;
	uint32_t cleartext_password_ok;
	uint16_t mechs; /* bit (1 << enum exlog_mech) of every login row */
	uint8_t mech;   /* enum exlog_mech of the last login row */
	uint8_t ciplen, softlen, backendlen; /* backendlen 0: no backend */
	uint16_t userlen;
	char cip[SESSION_CIP_MAX + 1];
	char user[SESSION_USER_MAX + 1];
	char soft[SESSION_SOFT_MAX + 1];
	char backend[SESSION_BACKEND_MAX + 1];
};

/*
 * Sessions that ended wait in a ring for INV_PIPE more to end before they
 * are added to the records: meanwhile their record's slot, then the
 * record, are fetched into the cache (see session_defer()).
 */
#define INV_PIPE 16

struct inv_file {
	struct inventory *inv;
	size_t index, server;
	enum exlog_proto nameproto;
	struct session *slot;
	size_t cap, n;
	struct session *last;
	struct session pipe[INV_PIPE];
	uint64_t pipe_hash[INV_PIPE];
	enum exlog_logtype pipe_lt[INV_PIPE];
	unsigned pipe_n, pipe_next;
	char date[10];
	bool date_ok;
	int64_t date_ms;
};

/* ---- sessions ---- */

static struct session *
session_find(struct inv_file *f, uint64_t id)
{
	size_t i;

	if (f->last != NULL && f->last->id == id)
		return f->last;
	if (f->cap == 0)
		return NULL;
	for (i = (id * 0x9e3779b97f4a7c15ull >> 20) & (f->cap - 1);
	     f->slot[i].used; i = (i + 1) & (f->cap - 1))
		if (f->slot[i].id == id)
			return f->last = &f->slot[i];
	return NULL;
}

static int
session_grow(struct inv_file *f)
{
	size_t ncap = f->cap ? f->cap * 2 : 64, i, j;
	struct session *ns = calloc(ncap, sizeof(*ns));

	if (ns == NULL)
		return -1;
	for (i = 0; i < f->cap; i++) {
		if (!f->slot[i].used)
			continue;
		for (j = (f->slot[i].id * 0x9e3779b97f4a7c15ull >> 20) &
			 (ncap - 1);
		     ns[j].used; j = (j + 1) & (ncap - 1))
			;
		ns[j] = f->slot[i];
	}
	free(f->slot);
	f->slot = ns;
	f->cap = ncap;
	f->last = NULL;
	return 0;
}

/* Removes a session, shifting later entries of its probe run back so that
 * lookups need no tombstones. */
static void
session_delete(struct inv_file *f, struct session *s)
{
	size_t i = (size_t)(s - f->slot), j = i, k, mask = f->cap - 1;

	f->slot[i].used = false;
	for (;;) {
		j = (j + 1) & mask;
		if (!f->slot[j].used)
			break;
		k = (f->slot[j].id * 0x9e3779b97f4a7c15ull >> 20) & mask;
		/* Move j back to i unless its home k lies cyclically in (i, j].
		 */
		if ((j > i && (k <= i || k > j)) ||
		    (j < i && (k <= i && k > j))) {
			f->slot[i] = f->slot[j];
			f->slot[j].used = false;
			i = j;
		}
	}
	f->n--;
	f->last = NULL;
}

static bool
is_b64(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '+' || c == '/' || c == '=';
}

/*
 * Whether a field that should hold a name or an address holds SASL data:
 * a row written wrongly (an initial response in the user column, a
 * continuation line shifted into another field) must not make the report
 * print an NTLM response or a bearer token.  Decoded, XOAUTH2 and
 * OAUTHBEARER carry "auth=Bearer" and NTLM its "NTLMSSP" signature;
 * base64, they begin with the encodings of "NTLMSSP\0", "user=", "n,a=",
 * "n,," and a GSSAPI token's DER tag (60 82), and they are long runs of
 * base64 letters, which no account name or address is.
 */
static bool
looks_like_sasl(const char *p, size_t len)
{
	static const char *const b64_starts[] = {"TlRMTVNTUA", "dXNlcj1",
	    "bixhPS", "biws", "YII"};
	size_t i;

	if ((len >= 11 && memmem(p, len, "auth=Bearer", 11) != NULL) ||
	    (len >= 11 && memmem(p, len, "auth=bearer", 11) != NULL) ||
	    (len >= 7 && memmem(p, len, "NTLMSSP", 7) != NULL))
		return true;
	for (i = 0; i < len && is_b64(p[i]); i++)
		;
	if (i < len || len < 20)
		return false;
	if (len >= 64)
		return true;
	for (i = 0; i < sizeof(b64_starts) / sizeof(b64_starts[0]); i++)
		if (strncmp(p, b64_starts[i], strlen(b64_starts[i])) == 0)
			return true;
	return false;
}

static void
span_copy(char *dst, size_t cap, const char *p, size_t len, size_t *outlen)
{
	if (len > cap - 1)
		len = cap - 1;
	memcpy(dst, p, len);
	dst[len] = '\0';
	*outlen = len;
}

/* "192.0.2.1:1234" -> "192.0.2.1", "[2001:db8::1]:993" -> "2001:db8::1". */
static void
addr_split(const struct exlog_span *a, const char **host, size_t *hl,
    uint16_t *port)
{
	const char *p = a->p, *c;
	size_t n = a->len;
	unsigned v = 0;

	*port = 0;
	if (n > 0 && p[0] == '[') {
		c = memchr(p, ']', n);
		if (c == NULL) {
			*host = p;
			*hl = n;
			return;
		}
		*host = p + 1;
		*hl = (size_t)(c - p - 1);
		c++;
	} else {
		c = NULL;
		for (size_t i = n; i > 0; i--)
			if (p[i - 1] == ':') {
				c = p + i - 1;
				break;
			}
		/* A bare IPv6 address has several colons and no port. */
		if (c != NULL && memchr(p, ':', (size_t)(c - p)) != NULL)
			c = NULL;
		*host = p;
		*hl = c != NULL ? (size_t)(c - p) : n;
	}
	if (c == NULL || c >= p + n || *c != ':')
		return;
	for (c++; c < p + n && *c >= '0' && *c <= '9'; c++)
		v = v * 10 + (unsigned)(*c - '0');
	if (c == p + n && v <= 65535)
		*port = (uint16_t)v;
}

static struct session *
session_new(struct inv_file *f, uint64_t id, const struct exlog_row *row)
{
	struct session *s;
	const char *host;
	size_t i, hl, n;
	uint16_t sport;

	if ((f->n + 1) * 2 > f->cap && session_grow(f) < 0) {
		f->inv->nomem = true;
		return NULL;
	}
	for (i = (id * 0x9e3779b97f4a7c15ull >> 20) & (f->cap - 1);
	     f->slot[i].used; i = (i + 1) & (f->cap - 1))
		;
	s = &f->slot[i];
	memset(s, 0, offsetof(struct session, cip));
	s->used = true;
	s->id = id;
	s->first_ms = INT64_MAX;
	s->last_ms = INT64_MIN;
	s->last_seq = -1;
	addr_split(&row->f[EXLOG_CIP], &host, &hl, &sport);
	if (looks_like_sasl(host, hl)) {
		host = SESSION_WITHHELD;
		hl = sizeof(SESSION_WITHHELD) - 1;
	}
	span_copy(s->cip, sizeof(s->cip), host, hl, &n);
	s->ciplen = (uint8_t)n;
	addr_split(&row->f[EXLOG_SIP], &host, &hl, &s->port);
	/* Exchange's implicit-TLS ports: 993/995 on the front end, 1993/1995
	 * on the back end.  postern says so itself in its Tls key. */
	switch (s->port) {
	case 993:
	case 995:
	case 1993:
	case 1995:
		s->tls = INV_TLS_IMPLICIT;
		break;
	}
	s->user[0] = s->soft[0] = s->backend[0] = '\0';
	f->n++;
	return f->last = s;
}

static unsigned
port_proto(uint16_t port)
{
	switch (port) {
	case 110:
	case 995:
	case 1110:
	case 1995:
		return INV_POP3;
	case 143:
	case 993:
	case 1143:
	case 1993:
		return INV_IMAP4;
	}
	return 0;
}

static unsigned
session_proto(const struct inv_file *f, const struct session *s,
    enum exlog_logtype lt)
{
	unsigned p;

	if (f->nameproto == EXLOG_PROTO_POP3)
		return INV_POP3;
	if (f->nameproto == EXLOG_PROTO_IMAP4)
		return INV_IMAP4;
	if (lt == EXLOG_TYPE_POP3)
		return INV_POP3;
	if (lt == EXLOG_TYPE_IMAP4)
		return INV_IMAP4;
	if (s->proto_hint != 0)
		return s->proto_hint;
	if ((p = port_proto(s->port)) != 0)
		return p;
	return 0;
}

static void
rec_add_session(struct inventory *inv, struct rec *r, const struct session *s,
    unsigned proto, size_t server)
{
	struct inv_record *p = &r->pub;

	p->protocols |= proto;
	inv_rec_add_port(p, s->port);
	p->sessions++;
	p->logins_ok += s->logins_ok;
	p->logins_failed += s->logins_failed;
	p->cleartext_ok += s->cleartext_ok;
	p->cleartext_failed += s->cleartext_failed;
	p->cleartext_password_ok += s->cleartext_password_ok;
	p->mechanisms |= s->mechs;
	p->implicit_ok += s->implicit_ok;
	p->starttls_ok += s->starttls_ok;
	if (proto == INV_POP3) {
		if (s->dele)
			p->pop3_dele_sessions++;
		else if (s->logins_ok > 0)
			p->pop3_leave_sessions++;
	}
	if (s->first_ms < p->first_ms)
		p->first_ms = s->first_ms;
	if (s->last_ms > p->last_ms)
		p->last_ms = s->last_ms;
	if (server < inv->opt.nservers)
		p->servers[server / 64] |= (uint64_t)1 << (server % 64);
}

bool
inventory_user_match(const char *pattern, const char *user, size_t len)
{
	return wildmatch(pattern, user, len);
}

/* Whether the session's user is one the report leaves out. */
static bool
session_excluded(const struct inventory *inv, const struct session *s)
{
	if (s->userlen == 0)
		return false;
	for (size_t i = 0; i < inv->opt.nexclude_users; i++)
		if (inventory_user_match(inv->opt.exclude_users[i], s->user,
			s->userlen))
			return true;
	return false;
}

/* Whether the records are keyed by backend: only then is it looked for,
 * since that costs more scans of the context of every login row. */
static bool
by_backend(const struct inventory *inv)
{
	return inv->opt.by == INV_BY_BACKEND ||
	       inv->opt.by == INV_BY_BACKEND_USER;
}

/*
 * The third part of a session's record key: the software when the report
 * is by software, the backend (empty when none) when by backend, else
 * none, since it would split records for nothing.
 */
static void
session_key3(const struct inventory *inv, const struct session *s,
    const char **k3, size_t *k3l)
{
	static const char none[] = "(none)";

	switch (inv->opt.by) {
	case INV_BY_SOFTWARE:
		*k3 = s->softlen > 0 ? s->soft : none;
		*k3l = s->softlen > 0 ? s->softlen : sizeof(none) - 1;
		break;
	case INV_BY_BACKEND:
	case INV_BY_BACKEND_USER:
		*k3 = s->backend;
		*k3l = s->backendlen;
		break;
	case INV_BY_MECHANISM:
		*k3 = s->mech != EXLOG_MECH_NONE ?
			  exlog_mech_name((enum exlog_mech)s->mech) :
			  INV_MECH_NONE_KEY;
		*k3l = strlen(*k3);
		break;
	default:
		*k3 = NULL;
		*k3l = 0;
		break;
	}
}

/* Adds a finished session to every table. */
static void
session_end(struct inv_file *f, struct session *s, enum exlog_logtype lt)
{
	struct inventory *inv = f->inv;
	unsigned proto = session_proto(f, s, lt);
	const char *k3;
	size_t k3l;
	struct rec *r;
	int pi;

	if (s->first_ms == INT64_MAX)
		return;
	/* A session whose protocol nothing tells is kept only when every
	 * protocol is wanted. */
	if (proto == 0 ? inv->opt.protocols != (INV_POP3 | INV_IMAP4) :
			 (proto & inv->opt.protocols) == 0)
		return;
	if (session_excluded(inv, s)) {
		inv->sum.sessions_excluded++;
		return;
	}
	inv->sum.sessions++;
	if (proto != 0) {
		pi = proto == INV_POP3 ? INV_PROTO_POP3 : INV_PROTO_IMAP4;
		inv->sum.proto[pi].sessions++;
		inv->sum.proto[pi].logins_ok += s->logins_ok;
		inv->sum.proto[pi].logins_failed += s->logins_failed;
		inv->sum.proto[pi].cleartext_ok += s->cleartext_ok;
		if (inv_day_add(inv,
			s->first_ms >= 0 ? s->first_ms / DAY_MS :
					   (s->first_ms + 1) / DAY_MS - 1,
			pi, 1) < 0)
			inv->nomem = true;
	}
	session_key3(inv, s, &k3, &k3l);
	if (by_backend(inv) && s->backendlen == 0)
		inv->sum.sessions_no_backend++;
	if ((r = inv_table_get3(inv, &inv->t[T_BASE], s->cip, s->ciplen,
		 s->user, s->userlen, true, k3, k3l, true)) != NULL)
		rec_add_session(inv, r, s, proto, f->server);
}

/* The record key of a finished session, as session_end() builds it. */
static uint64_t
session_key_hash(const struct inventory *inv, const struct session *s)
{
	const char *k3;
	size_t k3l, flen;
	char fk[FKEY_MAX];

	session_key3(inv, s, &k3, &k3l);
	flen =
	    inv_fold_key(fk, s->cip, s->ciplen, s->user, s->userlen, k3, k3l);
	return inv_hash_bytes(fk, flen);
}

/*
 * Ends a session some sessions later.  Adding a session to its record
 * starts with two cache misses (the table slot, then the record): with
 * 90,000 records they were a fifth of the run time on large log sets.
 * So a finished session is copied into a ring, its slot is fetched now,
 * its record when it is half way through the ring, and it is added when
 * it leaves the ring, by then without waiting.  The order sessions are
 * added in changes nothing: every sum, minimum and sample is order-free.
 */
static void
session_defer(struct inv_file *f, const struct session *s,
    enum exlog_logtype lt)
{
	struct inventory *inv = f->inv;
	const struct table *t = &inv->t[T_BASE];
	unsigned i = f->pipe_next, half = (i + INV_PIPE / 2) % INV_PIPE;
	struct session *d = &f->pipe[i];

	if (f->pipe_n == INV_PIPE)
		session_end(f, d, f->pipe_lt[i]);
	else
		f->pipe_n++;
	/* The strings are copied only as long as they are. */
	memcpy(d, s, offsetof(struct session, cip));
	memcpy(d->cip, s->cip, (size_t)s->ciplen + 1);
	memcpy(d->user, s->user, (size_t)s->userlen + 1);
	memcpy(d->soft, s->soft, (size_t)s->softlen + 1);
	memcpy(d->backend, s->backend, (size_t)s->backendlen + 1);
	f->pipe_lt[i] = lt;
	f->pipe_next = (i + 1) % INV_PIPE;
	f->pipe_hash[i] = session_key_hash(inv, d);
	inv_table_prefetch(t, f->pipe_hash[i], false);
	if (f->pipe_n > INV_PIPE / 2)
		inv_table_prefetch(t, f->pipe_hash[half], true);
}

/* Adds what waits in the ring, oldest first. */
static void
session_drain(struct inv_file *f)
{
	unsigned i = (f->pipe_next + INV_PIPE - f->pipe_n) % INV_PIPE;

	for (; f->pipe_n > 0; f->pipe_n--, i = (i + 1) % INV_PIPE)
		session_end(f, &f->pipe[i], f->pipe_lt[i]);
}

/* ---- rows ---- */

struct inv_file *
inv_file_begin(struct inventory *inv, const char *path, size_t server,
    enum exlog_proto proto)
{
	struct inv_file *f = calloc(1, sizeof(*f));

	if (f == NULL || inv_file_add(inv, path, server) == NULL) {
		free(f);
		inv->nomem = true;
		return NULL;
	}
	f->inv = inv;
	f->index = inv->files_n - 1;
	f->server = server;
	f->nameproto = proto;
	inv->sum.files++;
	return f;
}

void
inv_file_bytes(struct inv_file *f, uint64_t bytes)
{
	f->inv->sum.bytes += bytes;
}

void
inv_file_bad(struct inv_file *f, uint64_t line, enum exlog_bad why)
{
	struct inventory *inv = f->inv;

	inv->files[f->index].bad++;
	inv->sum.rows_bad++;
	if (inv->bad_n < INV_BAD_KEEP) {
		inv->bad[inv->bad_n].file = f->index;
		inv->bad[inv->bad_n].line = line;
		inv->bad[inv->bad_n].why = why;
		inv->bad_n++;
	}
}

static inline unsigned
d2(const char *p)
{
	return (unsigned)(p[0] - '0') * 10 + (unsigned)(p[1] - '0');
}

static inline bool
isdig(char c)
{
	return (unsigned char)(c - '0') <= 9;
}

/* dateTime, fast when the date is the one of the previous row. */
static int
row_time(struct inv_file *f, const struct exlog_span *sp, int64_t *ms)
{
	const char *p = sp->p;

	if (sp->len == 24 && f->date_ok && memcmp(p, f->date, 10) == 0 &&
	    p[10] == 'T' && p[13] == ':' && p[16] == ':' && p[19] == '.' &&
	    p[23] == 'Z' && isdig(p[11]) && isdig(p[12]) && isdig(p[14]) &&
	    isdig(p[15]) && isdig(p[17]) && isdig(p[18]) && isdig(p[20]) &&
	    isdig(p[21]) && isdig(p[22])) {
		unsigned h = d2(p + 11), mi = d2(p + 14), s = d2(p + 17);

		if (h > 23 || mi > 59 || s > 60)
			return -1;
		*ms = f->date_ms + ((int64_t)h * 3600 + mi * 60 + s) * 1000 +
		      d2(p + 20) * 10 + (p[22] - '0');
		return 0;
	}
	if (exlog_time(p, sp->len, ms) < 0)
		return -1;
	memcpy(f->date, p, 10);
	f->date_ms = *ms - (((*ms % DAY_MS) + DAY_MS) % DAY_MS);
	f->date_ok = true;
	return 0;
}

#if defined(__SSE2__) && defined(__GNUC__)
/*
 * Exchange's 16 hex digits, without a branch per digit (random digits
 * made the loop below mispredict about every third one).  Each byte's
 * value is its low nibble, plus 9 for a letter; the nibbles are then
 * packed pairwise, most significant first.  False when a byte is no hex
 * digit.
 */
static bool
hex16(const char *p, uint64_t *out)
{
	const __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
	const __m128i lc = _mm_or_si128(v, _mm_set1_epi8(0x20));
	const __m128i digit =
	    _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8('0' - 1)),
		_mm_cmplt_epi8(v, _mm_set1_epi8('9' + 1)));
	const __m128i letter =
	    _mm_and_si128(_mm_cmpgt_epi8(lc, _mm_set1_epi8('a' - 1)),
		_mm_cmplt_epi8(lc, _mm_set1_epi8('f' + 1)));
	__m128i nib;
	uint64_t half[2], r = 0;

	if (_mm_movemask_epi8(_mm_or_si128(digit, letter)) != 0xffff)
		return false;
	nib = _mm_add_epi8(_mm_and_si128(v, _mm_set1_epi8(0x0f)),
	    _mm_and_si128(letter, _mm_set1_epi8(9)));
	_mm_storeu_si128((__m128i *)(void *)half, nib);
	for (int i = 0; i < 2; i++) {
		uint64_t x = half[i];

		/* Bytes n0..n7 (n0 first in the text, lowest in x). */
		x = ((x & 0x000f000f000f000full) << 4) |
		    ((x >> 8) & 0x000f000f000f000full);
		x = ((x & 0x000000ff000000ffull) << 8) |
		    ((x >> 16) & 0x000000ff000000ffull);
		x = ((x & 0xffffull) << 16) | ((x >> 32) & 0xffffull);
		r = r << 32 | x;
	}
	*out = r;
	return true;
}
#endif

static uint64_t
session_id(const struct exlog_span *sp)
{
	uint64_t v = 0;
	size_t i;

#if defined(__SSE2__) && defined(__GNUC__)
	if (sp->len == 16 && hex16(sp->p, &v))
		return v;
	v = 0;
#endif
	if (sp->len <= 16) {
		for (i = 0; i < sp->len; i++) {
			unsigned char c = (unsigned char)sp->p[i];
			unsigned d;

			if (c >= '0' && c <= '9')
				d = c - '0';
			else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
				d = (c | 0x20) - 'a' + 10;
			else
				break;
			v = v << 4 | d;
		}
		if (i == sp->len)
			return v;
	}
	/* Not the usual 16 hex digits: hash it (collisions only merge two
	 * odd sessions). */
	return inv_hash_bytes(sp->p, sp->len);
}

/* seqNumber, or -1 when it is not a number. */
static int64_t
row_seq(const struct exlog_span *sp)
{
	int64_t v = 0;

	if (sp->len == 0 || sp->len > 9)
		return -1;
	for (size_t i = 0; i < sp->len; i++) {
		if (!isdig(sp->p[i]))
			return -1;
		v = v * 10 + (sp->p[i] - '0');
	}
	return v;
}

static bool
span_is(const struct exlog_span *sp, const char *s, size_t n)
{
	return sp->len == n && strncasecmp(sp->p, s, n) == 0;
}

/* Case-insensitive, for values inside the context field. */
#define SPAN_IS(sp, lit) span_is((sp), lit, sizeof(lit) - 1)

/* Exact, for the command column: the spec has verbs in lower case, and
 * this runs on every row. */
#define CMD_IS(sp, lit)                                                        \
	((sp)->len == sizeof(lit) - 1 &&                                       \
	    memcmp((sp)->p, lit, sizeof(lit) - 1) == 0)

static bool
has_prefix_ci(const char *p, size_t len, const char *s)
{
	size_t n = strlen(s);

	return len >= n && strncasecmp(p, s, n) == 0;
}

/* 1 when the row says its command succeeded, 0 failed, -1 unknown. */
static int
row_outcome(const struct exlog_span *ctx)
{
	struct exlog_span v;
	const char *sp;

	if (exlog_context_get(ctx->p, ctx->len, "R", &v)) {
		if (SPAN_IS(&v, "ok") || has_prefix_ci(v.p, v.len, "+OK"))
			return 1;
		/* "+ <challenge>": a step of a SASL exchange, no outcome; the
		 * challenge is data, not a word to look at. */
		if (v.len > 0 && v.p[0] == '+')
			return -1;
		if (SPAN_IS(&v, "no") || SPAN_IS(&v, "bad") ||
		    SPAN_IS(&v, "err") || has_prefix_ci(v.p, v.len, "-ERR"))
			return 0;
		/* A full IMAP answer: "<tag> OK ...". */
		if ((sp = memchr(v.p, ' ', v.len)) != NULL) {
			size_t rest = v.len - (size_t)(sp + 1 - v.p);

			if (has_prefix_ci(sp + 1, rest, "OK"))
				return 1;
			if (has_prefix_ci(sp + 1, rest, "NO") ||
			    has_prefix_ci(sp + 1, rest, "BAD"))
				return 0;
		}
	}
	if (ctx->len >= 12 &&
	    memmem(ctx->p, ctx->len, "ProxySuccess", 12) != NULL)
		return 1;
	if (exlog_context_get(ctx->p, ctx->len, "ErrMsg", &v))
		return 0;
	return -1;
}

/* postern's own key: Tls=none|starttls|implicit, maybe ":<version>". */
static int
row_tls(const struct exlog_span *ctx)
{
	struct exlog_span v;

	if (!exlog_context_get(ctx->p, ctx->len, "Tls", &v))
		return -1;
	if (has_prefix_ci(v.p, v.len, "none") ||
	    has_prefix_ci(v.p, v.len, "no"))
		return INV_TLS_NONE;
	if (has_prefix_ci(v.p, v.len, "implicit"))
		return INV_TLS_IMPLICIT;
	if (has_prefix_ci(v.p, v.len, "starttls") ||
	    has_prefix_ci(v.p, v.len, "stls"))
		return INV_TLS_STARTTLS;
	return -1;
}

static void
session_set_user(struct session *s, const char *p, size_t len)
{
	size_t n;

	if (looks_like_sasl(p, len)) {
		p = SESSION_WITHHELD;
		len = sizeof(SESSION_WITHHELD) - 1;
	}
	span_copy(s->user, sizeof(s->user), p, len, &n);
	s->userlen = (uint16_t)n;
}

/* IMAP LOGIN's first argument, for rows whose user column is empty. */
static void
login_user(struct session *s, const struct exlog_span *params)
{
	const char *p = params->p, *e = p + params->len, *q;

	if (p < e && *p == '"') {
		p++;
		q = memchr(p, '"', (size_t)(e - p));
	} else
		q = memchr(p, ' ', (size_t)(e - p));
	if (q == NULL)
		q = e;
	if (q > p)
		session_set_user(s, p, (size_t)(q - p));
}

/* One token of an IMAP ID list: a quoted string, NIL or an atom. */
static const char *
id_token(const char *p, const char *e, const char **tp, size_t *tl)
{
	while (p < e && (*p == ' ' || *p == '(' || *p == ')'))
		p++;
	if (p >= e)
		return NULL;
	if (*p == '"') {
		const char *q = ++p;

		while (q < e && *q != '"')
			q += *q == '\\' && q + 1 < e ? 2 : 1;
		*tp = p;
		*tl = (size_t)((q < e ? q : e) - p);
		return q < e ? q + 1 : e;
	}
	*tp = p;
	while (p < e && *p != ' ' && *p != '(' && *p != ')')
		p++;
	*tl = (size_t)(p - *tp);
	return p;
}

/*
 * The software a session announced: name and version (at most 64 and 48
 * bytes of them), control characters shown as '?'.
 */
static void
session_set_software(struct session *s, const char *name, size_t nl,
    const char *ver, size_t verl)
{
	size_t n = nl > 64 ? 64 : nl;

	memcpy(s->soft, name, n);
	if (verl > 0) {
		if (verl > 48)
			verl = 48;
		s->soft[n++] = ' ';
		memcpy(s->soft + n, ver, verl);
		n += verl;
	}
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s->soft[i] < 0x20 || s->soft[i] == 0x7f)
			s->soft[i] = '?';
	s->soft[n] = '\0';
	s->softlen = (uint8_t)n;
}

/*
 * An ID string's value with RFC 3501's quoted-string escapes undone.  Only
 * a backslash before a quote or a backslash is IMAP's (section 9,
 * quoted-specials); any other is the log's own \xNN for a byte and stays.
 */
static size_t
id_unquote(const char *p, size_t len, char *out, size_t cap)
{
	size_t i, o = 0;

	for (i = 0; i < len && o + 1 < cap; i++) {
		if (p[i] == '\\' && i + 1 < len &&
		    (p[i + 1] == '"' || p[i + 1] == '\\'))
			i++;
		out[o++] = p[i];
	}
	out[o] = '\0';
	return o;
}

/* The client's software from the parameters of an IMAP ID command
 * (RFC 2971): ("name" "Thunderbird" "version" "115.3.1"). */
static void
id_software(struct session *s, const struct exlog_span *params)
{
	const char *p = params->p, *e = p + params->len, *k, *v;
	const char *name = NULL, *ver = NULL;
	size_t kl, vl, nl = 0, verl = 0;
	char nbuf[128], vbuf[128];

	while ((p = id_token(p, e, &k, &kl)) != NULL &&
	       (p = id_token(p, e, &v, &vl)) != NULL) {
		if (kl == 4 && strncasecmp(k, "name", 4) == 0) {
			name = v;
			nl = vl;
		} else if (kl == 7 && strncasecmp(k, "version", 7) == 0) {
			ver = v;
			verl = vl;
		}
	}
	if (name == NULL || nl == 0 ||
	    (nl == 3 && strncasecmp(name, "NIL", 3) == 0))
		return;
	if (ver != NULL && verl == 3 && strncasecmp(ver, "NIL", 3) == 0)
		ver = NULL;
	nl = id_unquote(name, nl, nbuf, sizeof(nbuf));
	verl = ver != NULL ? id_unquote(ver, verl, vbuf, sizeof(vbuf)) : 0;
	session_set_software(s, nbuf, nl, vbuf, verl);
}

/* postern's ClientName and ClientVersion keys, from IMAP ID. */
static void
ctx_software(struct session *s, const struct exlog_span *ctx)
{
	struct exlog_span name, ver;
	char nbuf[128], vbuf[128];
	size_t nl, verl = 0;

	if (!exlog_context_get(ctx->p, ctx->len, "ClientName", &name) ||
	    name.len == 0)
		return;
	nl = exlog_context_value(&name, nbuf, sizeof(nbuf));
	if (exlog_context_get(ctx->p, ctx->len, "ClientVersion", &ver))
		verl = exlog_context_value(&ver, vbuf, sizeof(vbuf));
	session_set_software(s, nbuf, nl, vbuf, verl);
}

/*
 * The address of Msg=Proxy:<host>:<port>:<enc>, which Exchange's front
 * end and postern write on a login they proxied, as "<host>:<port>" (an
 * IPv6 host in brackets) into buf; returns its length, 0 when the row
 * has none.
 */
static size_t
msg_proxy_backend(const struct exlog_span *ctx, char *buf, size_t cap)
{
	struct exlog_span v;
	size_t i, end, c1 = 0, c2 = 0, hl, pl;
	const char *p;
	int n;

	if (!exlog_context_get(ctx->p, ctx->len, "Msg", &v))
		return 0;
	/* Several messages are joined by ';' ("Proxy:...;ProxySuccess"). */
	for (i = 0;; i = end + 1) {
		if (i >= v.len)
			return 0;
		p = memchr(v.p + i, ';', v.len - i);
		end = p != NULL ? (size_t)(p - v.p) : v.len;
		if (end - i > 6 && strncasecmp(v.p + i, "Proxy:", 6) == 0)
			break;
	}
	p = v.p + i + 6;
	end -= i + 6;
	/* The last two colons end the host and the port: an IPv6 host has
	 * colons of its own. */
	for (i = end; i > 0; i--)
		if (p[i - 1] == ':') {
			if (c2 == 0)
				c2 = i - 1;
			else {
				c1 = i - 1;
				break;
			}
		}
	if (c1 == 0 || c2 == c1 + 1 || c2 - c1 - 1 > 5)
		return 0;
	hl = c1;
	pl = c2 - c1 - 1;
	for (i = 0; i < pl; i++)
		if (!isdig(p[c1 + 1 + i]))
			return 0;
	n = snprintf(buf, cap,
	    memchr(p, ':', hl) != NULL && p[0] != '[' ? "[%.*s]:%.*s" :
							"%.*s:%.*s",
	    (int)hl, p, (int)pl, p + c1 + 1);
	if (n < 0)
		return 0;
	return (size_t)n < cap ? (size_t)n : cap - 1;
}

/*
 * The backend a row names: postern's Backend key (the [backend] section,
 * or "default"), else the address of Msg=Proxy; 0 when it names none.
 */
static size_t
row_backend(const struct exlog_span *ctx, char *buf, size_t cap)
{
	struct exlog_span v;

	if (exlog_context_get(ctx->p, ctx->len, "Backend", &v) && v.len > 0)
		return exlog_context_value(&v, buf, cap);
	return msg_proxy_backend(ctx, buf, cap);
}

static void
session_set_backend(struct session *s, const char *p, size_t len)
{
	size_t n;

	span_copy(s->backend, sizeof(s->backend), p, len, &n);
	s->backendlen = (uint8_t)n;
}

/*
 * The backend of a session is that of its last login, as its user is.
 * postern names the backend of every login that reached one, so a login
 * row of postern's (it carries the Tls key) that names none was refused
 * by postern itself (a policy, a throttle, a connection limit) and
 * reached no backend; unless it succeeded, which only a login that
 * reached one does.  Exchange names the backend only on its front end's
 * proxied logins; its other logins went somewhere the log does not say.
 */
static void
session_login_backend(struct session *s, const struct exlog_span *ctx, int ok)
{
	char buf[SESSION_BACKEND_MAX + 1];
	struct exlog_span v;
	size_t n = row_backend(ctx, buf, sizeof(buf));

	if (n > 0)
		session_set_backend(s, buf, n);
	else if (ok != 1 && exlog_context_get(ctx->p, ctx->len, "Tls", &v))
		session_set_backend(s, "", 0);
	else
		session_set_backend(s, INV_BACKEND_UNKNOWN,
		    sizeof(INV_BACKEND_UNKNOWN) - 1);
}

/*
 * A login row.  A SASL exchange of several steps (NTLM's three messages)
 * may be logged as one row per step: only a row with an outcome is a
 * login, so the steps before it count nothing, and the session's
 * mechanism is a set, so that it is counted once however many rows name
 * it.
 */
static void
session_login(const struct inventory *inv, struct session *s,
    const struct exlog_row *row)
{
	const struct exlog_span *ctx = &row->f[EXLOG_CONTEXT];
	int ok = row_outcome(ctx), tls = row_tls(ctx);
	enum exlog_mech mech =
	    exlog_mechanism(&row->f[EXLOG_COMMAND], &row->f[EXLOG_PARAMETERS]);

	if (mech != EXLOG_MECH_NONE) {
		s->mechs |= (uint16_t)(1u << mech);
		s->mech = (uint8_t)mech;
	}

	if (s->softlen == 0)
		ctx_software(s, ctx);
	if (by_backend(inv))
		session_login_backend(s, ctx, ok);

	if (tls < 0)
		tls = s->tls;
	if (ok == 1) {
		s->logins_ok++;
		if (tls == INV_TLS_NONE) {
			s->cleartext_ok++;
			if (inv_mech_plaintextauth_refuses(mech))
				s->cleartext_password_ok++;
		} else if (tls == INV_TLS_IMPLICIT)
			s->implicit_ok++;
		else
			s->starttls_ok++;
	} else if (ok == 0) {
		s->logins_failed++;
		if (tls == INV_TLS_NONE)
			s->cleartext_failed++;
	}
}

static bool
params_blank(const struct exlog_span *sp)
{
	for (size_t i = 0; i < sp->len; i++)
		if (sp->p[i] != ' ')
			return false;
	return true;
}

void
inv_file_row(struct inv_file *f, const struct exlog_row *row,
    enum exlog_logtype lt)
{
	struct inventory *inv = f->inv;
	const struct exlog_span *cmd = &row->f[EXLOG_COMMAND];
	const struct exlog_span *user = &row->f[EXLOG_USER];
	struct session *s;
	uint64_t id;
	int64_t ts, seq;
	bool open = false, close = false;

	if (row_time(f, &row->f[EXLOG_DATETIME], &ts) < 0) {
		inv_file_bad(f, row->line, EXLOG_BAD_TIME);
		return;
	}
	if (ts < inv->opt.since_ms || ts >= inv->opt.until_ms) {
		inv->sum.rows_filtered++;
		return;
	}
	inv->sum.rows++;
	inv->files[f->index].rows++;
	if (ts < inv->sum.first_ms)
		inv->sum.first_ms = ts;
	if (ts > inv->sum.last_ms)
		inv->sum.last_ms = ts;
	id = session_id(&row->f[EXLOG_SESSIONID]);
	if (cmd->len == 11 && memcmp(cmd->p, "OpenSession", 11) == 0)
		open = true;
	else if (cmd->len == 12 && memcmp(cmd->p, "CloseSession", 12) == 0)
		close = true;
	s = session_find(f, id);
	seq = row_seq(&row->f[EXLOG_SEQNUMBER]);
	/* A row number the session has had already is the same row again
	 * (files joined twice, copies of rows): count it, do not add it.
	 * An OpenSession for a session past its first row is a restart. */
	if (s != NULL && seq >= 0 && seq <= s->last_seq &&
	    !(open && s->last_seq > 0)) {
		inv->sum.rows_repeated++;
		inv->files[f->index].repeated++;
		return;
	}
	if (s != NULL && open) {
		/* The id came round again (a restart): the old one is over. */
		session_defer(f, s, lt);
		session_delete(f, s);
		s = NULL;
	}
	if (s == NULL && (s = session_new(f, id, row)) == NULL)
		return;
	if (seq > s->last_seq)
		s->last_seq = seq;
	if (ts < s->first_ms)
		s->first_ms = ts;
	if (ts > s->last_ms)
		s->last_ms = ts;
	if (s->userlen == 0 && user->len > 0)
		session_set_user(s, user->p, user->len);
	if (open) {
		int tls = row_tls(&row->f[EXLOG_CONTEXT]);

		if (tls >= 0)
			s->tls = (uint8_t)tls;
		return;
	}
	if (close) {
		session_defer(f, s, lt);
		session_delete(f, s);
		return;
	}
	switch (cmd->len) {
	case 2:
		if (CMD_IS(cmd, "id")) {
			s->proto_hint = INV_IMAP4;
			id_software(s, &row->f[EXLOG_PARAMETERS]);
			if (s->softlen == 0)
				ctx_software(s, &row->f[EXLOG_CONTEXT]);
		}
		break;
	case 4:
		if (CMD_IS(cmd, "dele")) {
			s->proto_hint = INV_POP3;
			s->dele = true;
		} else if (CMD_IS(cmd, "pass") || CMD_IS(cmd, "apop") ||
			   (CMD_IS(cmd, "auth") &&
			       !params_blank(&row->f[EXLOG_PARAMETERS]))) {
			s->proto_hint = INV_POP3;
			if (user->len > 0)
				session_set_user(s, user->p, user->len);
			session_login(inv, s, row);
		} else if (CMD_IS(cmd, "stls")) {
			s->proto_hint = INV_POP3;
			if (row_outcome(&row->f[EXLOG_CONTEXT]) != 0)
				s->tls = INV_TLS_STARTTLS;
		} else if (CMD_IS(cmd, "user")) {
			char buf[SESSION_BACKEND_MAX + 1];
			size_t n;

			/* postern names the backend on PASS; a front end
			 * that proxies at USER may name it here. */
			s->proto_hint = INV_POP3;
			if (by_backend(inv) &&
			    (n = row_backend(&row->f[EXLOG_CONTEXT], buf,
				 sizeof(buf))) > 0)
				session_set_backend(s, buf, n);
		} else if (CMD_IS(cmd, "retr") || CMD_IS(cmd, "capa") ||
			   CMD_IS(cmd, "uidl") || CMD_IS(cmd, "stat") ||
			   CMD_IS(cmd, "quit"))
			s->proto_hint = INV_POP3;
		break;
	case 5:
		if (CMD_IS(cmd, "login")) {
			s->proto_hint = INV_IMAP4;
			if (user->len > 0)
				session_set_user(s, user->p, user->len);
			else
				login_user(s, &row->f[EXLOG_PARAMETERS]);
			session_login(inv, s, row);
		} else if (CMD_IS(cmd, "fetch"))
			s->proto_hint = INV_IMAP4;
		break;
	case 8:
		if (CMD_IS(cmd, "starttls")) {
			s->proto_hint = INV_IMAP4;
			if (row_outcome(&row->f[EXLOG_CONTEXT]) != 0)
				s->tls = INV_TLS_STARTTLS;
		}
		break;
	case 12:
		if (CMD_IS(cmd, "authenticate")) {
			s->proto_hint = INV_IMAP4;
			if (user->len > 0)
				session_set_user(s, user->p, user->len);
			session_login(inv, s, row);
		}
		break;
	default:
		if (s->proto_hint == 0 &&
		    (CMD_IS(cmd, "capability") || CMD_IS(cmd, "select") ||
			CMD_IS(cmd, "logout") ||
			(cmd->len > 4 && memcmp(cmd->p, "uid+", 4) == 0)))
			s->proto_hint = INV_IMAP4;
		break;
	}
}

int
inv_file_end(struct inv_file *f)
{
	struct inventory *inv = f->inv;
	size_t i;

	session_drain(f);
	for (i = 0; i < f->cap; i++)
		if (f->slot[i].used)
			session_end(f, &f->slot[i], EXLOG_TYPE_UNKNOWN);
	free(f->slot);
	free(f);
	return inv->nomem ? -1 : 0;
}
