/*
 * protolog_row: the protocol-log row encoder (src/daemon/protolog_row.c)
 * against the reader (src/common/exlogread.c).  The input is the facts of one
 * row:
 *
 *   40 bytes  time, session id, sequence, duration, request and reply
 *             sizes (little-endian; the time is taken modulo year 10000)
 *   then      NUL-separated strings: sIp, cIp, user, command, parameters,
 *             then context pairs, each a key byte and a value
 *
 * The row is encoded into a buffer of exactly its size (and once into one
 * too small, which must be cut, not overrun), then read back by
 * exlog_read(), cut at split points taken from the key bytes.
 *
 * Invariants: the row reads back as one well-formed row of 13 fields; each
 * field holds the value the encoder was given, changed only as
 * postern-log(5) says (CR and LF as "\r" and "\n", other control bytes,
 * DEL and bytes that are not UTF-8 as "\xNN", an apostrophe before a
 * formula, user and parameters cut); the context gives back every key
 * that was set, with its value,
 * and no key that was not (a value must not forge one).
 */
#include "config.h"

#include <stdbool.h>

#include "exlogread.h"
#include "fuzz.h"
#include "protolog.h"

#define MAX_MS 253402300799999LL /* 9999-12-31T23:59:59.999Z */

static uint64_t
le(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = n - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/*
 * The length of the well-formed UTF-8 sequence at s[0..len) (RFC 3629:
 * no overlong forms, no surrogates, nothing above U+10FFFF), 0 if there is
 * none.  Written apart from the daemon's own reading on purpose.
 */
static size_t
seq(const unsigned char *s, size_t len)
{
	size_t n, i;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (len < n)
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return n;
}

/* Bytes of the first max characters of s (a byte that is no UTF-8 counts
 * as one character). */
static size_t
chars_prefix(const char *s, size_t max)
{
	size_t i = 0, chars = 0, len = strlen(s), n;

	while (i < len) {
		if (chars++ == max)
			return i;
		n = seq((const unsigned char *)s + i, len - i);
		i += n == 0 ? 1 : n;
	}
	return i;
}

enum kind { PLAIN, CLIENT };

/*
 * What the reader must give back for value s written as a field of kind:
 * CR and LF as \r and \n; other control bytes but tab, DEL and bytes that
 * are not UTF-8 as \xNN; a client's leading formula character behind an
 * apostrophe (postern-log(5)).
 */
static size_t
expect(const char *s, enum kind kind, size_t maxchars, char *out)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *u = (const unsigned char *)s;
	size_t n = maxchars > 0 ? chars_prefix(s, maxchars) : strlen(s);
	size_t o = 0, i = 0, k;

	if (n > 0 && kind != PLAIN && strchr("=+-@\t", s[0]) != NULL)
		out[o++] = '\'';
	while (i < n) {
		unsigned char c = u[i];

		if (c == '\r' || c == '\n') {
			out[o++] = '\\';
			out[o++] = c == '\r' ? 'r' : 'n';
			i++;
		} else if ((c < 0x20 && c != '\t') || c == 0x7f ||
			   (k = seq(u + i, n - i)) == 0) {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 0xf];
			i++;
		} else {
			memcpy(out + o, s + i, k);
			o += k;
			i += k;
		}
	}
	return o;
}

static void
check_field(const struct exlog_row *row, int f, const char *s, enum kind kind,
    size_t maxchars)
{
	char *want = malloc(4 * strlen(s) + 2);
	size_t n;

	FUZZ_CHECK(want != NULL);
	n = expect(s, kind, maxchars, want);
	FUZZ_CHECK(row->f[f].len == n);
	FUZZ_CHECK(memcmp(row->f[f].p, want, n) == 0);
	free(want);
}

static bool
span_eq(struct exlog_span s, const char *t)
{
	return s.len == strlen(t) && memcmp(s.p, t, s.len) == 0;
}

/* Takes the next NUL-ended string of the input, "" at its end. */
static const char *
next_str(const char **p, const char *end)
{
	const char *s = *p;
	const char *nul;

	if (s >= end)
		return "";
	nul = memchr(s, '\0', (size_t)(end - s));
	*p = nul != NULL ? nul + 1 : end;
	return s;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct protolog_row row;
	struct protolog_ctx *ctx = malloc(sizeof(*ctx));
	struct exlog_reader r;
	struct exlog_row back;
	char *text, *copy, *fmt, *want;
	const char *p, *end, *sip, *cip, *user, *cmd, *params;
	uint8_t splits[16];
	size_t n, nsplits = 0, off, used, fmtlen;
	int rows = 0;
	int64_t ms;

	FUZZ_CHECK(ctx != NULL);
	if (size < 40) {
		free(ctx);
		return 0;
	}
	/* The strings need their NULs: work on a NUL-ended copy. */
	copy = malloc(size + 1);
	FUZZ_CHECK(copy != NULL);
	memcpy(copy, data, size);
	copy[size] = '\0';
	p = copy + 40;
	end = copy + size;
	sip = next_str(&p, end);
	cip = next_str(&p, end);
	user = next_str(&p, end);
	cmd = next_str(&p, end);
	params = next_str(&p, end);
	protolog_ctx_init(ctx);
	while (p < end) {
		unsigned k = (unsigned char)*p++;
		const char *v = next_str(&p, end);

		if (nsplits < sizeof(splits))
			splits[nsplits++] = (uint8_t)k;
		protolog_ctx_set(ctx, (enum protolog_key)(k % PROTOLOG_NKEYS),
		    v);
	}

	memset(&row, 0, sizeof(row));
	ms = (int64_t)(le(data, 8) % (uint64_t)(MAX_MS + 1));
	row.time_ms = ms;
	row.session_id = le(data + 8, 8);
	row.seq = (unsigned)le(data + 16, 4);
	row.duration_ms = le(data + 20, 8);
	row.rqsize = le(data + 28, 6);
	row.rpsize = le(data + 34, 6);
	row.sip = sip;
	row.cip = cip;
	row.user = user;
	row.command = cmd;
	row.params = params;
	row.context = ctx;

	n = protolog_encode(&row, NULL, 0);
	text = malloc(n + 1);
	FUZZ_CHECK(text != NULL);
	FUZZ_CHECK(protolog_encode(&row, text, n + 1) == n);
	FUZZ_CHECK(strlen(text) == n && n >= 2);
	FUZZ_CHECK(text[n - 2] == '\r' && text[n - 1] == '\n');
	FUZZ_CHECK(memchr(text, '\n', n - 1) == NULL);
	FUZZ_CHECK(memchr(text, '\r', n - 2) == NULL);
	{
		/* Cut short: the start of the row, NUL-ended, nothing past. */
		size_t cap = n / 2 + 1;
		char *small = malloc(cap);

		FUZZ_CHECK(small != NULL);
		FUZZ_CHECK(protolog_encode(&row, small, cap) == n);
		FUZZ_CHECK(strlen(small) == cap - 1 &&
			   memcmp(small, text, cap - 1) == 0);
		free(small);
	}

	FUZZ_CHECK(exlog_reader_init(&r) == 0);
	off = 0;
	for (size_t s = 0; off < n; s++) {
		size_t chunk = nsplits ? splits[s % nsplits] + 1u : n;
		char *buf;
		size_t at = 0;

		if (chunk > n - off)
			chunk = n - off;
		buf = fuzz_dup(text + off, chunk);
		while (at < chunk) {
			enum exlog_result res;

			res =
			    exlog_read(&r, buf + at, chunk - at, &used, &back);
			FUZZ_CHECK(used <= chunk - at);
			at += used;
			if (res == EXLOG_NEED_MORE)
				break;
			FUZZ_CHECK(res == EXLOG_ROW);
			FUZZ_CHECK(++rows == 1);
			FUZZ_CHECK(back.nfields == EXLOG_FIELDS);
			FUZZ_CHECK(back.bad == EXLOG_BAD_NONE);

			/* Numbers and the time, as given. */
			{
				char num[32];
				int64_t t = -1;

				FUZZ_CHECK(
				    exlog_time(back.f[EXLOG_DATETIME].p,
					back.f[EXLOG_DATETIME].len, &t) == 0 &&
				    t == ms);
				snprintf(num, sizeof(num), "%016llX",
				    (unsigned long long)row.session_id);
				FUZZ_CHECK(
				    span_eq(back.f[EXLOG_SESSIONID], num));
				snprintf(num, sizeof(num), "%u", row.seq);
				FUZZ_CHECK(
				    span_eq(back.f[EXLOG_SEQNUMBER], num));
				snprintf(num, sizeof(num), "%llu",
				    (unsigned long long)row.duration_ms);
				FUZZ_CHECK(
				    span_eq(back.f[EXLOG_DURATION], num));
				snprintf(num, sizeof(num), "%llu",
				    (unsigned long long)row.rqsize);
				FUZZ_CHECK(span_eq(back.f[EXLOG_RQSIZE], num));
				snprintf(num, sizeof(num), "%llu",
				    (unsigned long long)row.rpsize);
				FUZZ_CHECK(span_eq(back.f[EXLOG_RPSIZE], num));
			}
			check_field(&back, EXLOG_SIP, sip, PLAIN, 0);
			check_field(&back, EXLOG_CIP, cip, PLAIN, 0);
			check_field(&back, EXLOG_USER, user, CLIENT,
			    PROTOLOG_USER_MAX);
			check_field(&back, EXLOG_COMMAND, cmd, CLIENT,
			    PROTOLOG_PARAMS_MAX);
			check_field(&back, EXLOG_PARAMETERS, params, CLIENT,
			    PROTOLOG_PARAMS_MAX);
			FUZZ_CHECK(back.f[EXLOG_PUID].len == 0);

			/* The context: the formatted pairs, then each key. */
			fmt = malloc(PROTOLOG_CONTEXT_STRMAX);
			want = malloc(2 * PROTOLOG_CONTEXT_STRMAX);
			FUZZ_CHECK(fmt != NULL && want != NULL);
			fmtlen = protolog_ctx_format(ctx, fmt,
			    PROTOLOG_CONTEXT_STRMAX);
			FUZZ_CHECK(fmtlen < PROTOLOG_CONTEXT_STRMAX);
			check_field(&back, EXLOG_CONTEXT, fmt, PLAIN, 0);
			for (int k = 0; k < PROTOLOG_NKEYS; k++) {
				struct exlog_span v;
				bool set = ctx->set & (1u << k);
				bool got =
				    exlog_context_get(back.f[EXLOG_CONTEXT].p,
					back.f[EXLOG_CONTEXT].len,
					protolog_key_name(k), &v);
				char *val, *undone;
				size_t wl, ul;

				FUZZ_CHECK(got == set);
				if (!set)
					continue;
				val = malloc(ctx->len[k] + 1u);
				FUZZ_CHECK(val != NULL);
				memcpy(val, ctx->arena + ctx->off[k],
				    ctx->len[k]);
				val[ctx->len[k]] = '\0';
				/* A quote inside a value comes back doubled
				 * in the span, single once read. */
				undone = malloc(v.len + 1);
				FUZZ_CHECK(undone != NULL);
				ul = exlog_context_value(&v, undone, v.len + 1);
				wl = expect(val, PLAIN, 0, want);
				FUZZ_CHECK(
				    ul == wl && memcmp(undone, want, wl) == 0);
				free(undone);
				free(val);
			}
			free(fmt);
			free(want);
		}
		free(buf);
		off += chunk;
	}
	FUZZ_CHECK(exlog_finish(&r, &back) == EXLOG_NEED_MORE);
	FUZZ_CHECK(rows == 1);
	exlog_reader_free(&r);
	free(text);
	free(copy);
	free(ctx);
	return 0;
}
