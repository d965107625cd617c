/*
 * exlogread: the streaming row reader for Exchange-format protocol logs.
 *
 * Speed matters here (the inventory reads gigabytes of logs): a line is
 * looked at in one pass that finds its commas, a quote and its end
 * together, 32 bytes at a time with AVX2 where the CPU has it (chosen at
 * run time), else 16 with SSE2, else a byte at a time.  A line without
 * quotes, which is most of them, is split by that pass alone.  A quote
 * sends the rest of the line to a slower path that undoes the doubled
 * quotes; a line that crosses a block boundary is collected in the carry
 * buffer first and split from there.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#if defined(__SSE2__) && defined(__GNUC__)
#define EXLOG_SSE2 1
#include <emmintrin.h>
#endif
#if defined(__x86_64__) && defined(__GNUC__)
#define EXLOG_AVX2 1
#include <immintrin.h>
#endif

#include "exlogread.h"

/* A line being collected across blocks: the longest line there may be,
 * and the CR before its LF, which exlog_line() strips before it counts. */
#define CARRY_MAX (EXLOG_LINE_MAX + 1)

enum { SCAN_SCALAR, SCAN_SSE2, SCAN_AVX2 };

static const char *const scan_names[] = {"scalar", "sse2", "avx2"};

/* Set by exlog_scanner_force(), for tests; -1 is the CPU's best. */
static int scan_forced = -1;

static bool
scan_available(int which)
{
	switch (which) {
	case SCAN_SCALAR:
		return true;
#ifdef EXLOG_SSE2
	case SCAN_SSE2:
		return true;
#endif
#ifdef EXLOG_AVX2
	case SCAN_AVX2:
		/* This also checks that the kernel saves the AVX state. */
		return __builtin_cpu_supports("avx2");
#endif
	}
	return false;
}

int
exlog_scanner_force(const char *name)
{
	if (name == NULL) {
		scan_forced = -1;
		return 0;
	}
	for (int i = 0; i < (int)(sizeof(scan_names) / sizeof(scan_names[0]));
	     i++) {
		if (strcmp(name, scan_names[i]) != 0)
			continue;
		if (!scan_available(i))
			return -1;
		scan_forced = i;
		return 0;
	}
	return -1;
}

const char *
exlog_scanner_name(const struct exlog_reader *r)
{
	return scan_names[r->scanner];
}

int
exlog_reader_init(struct exlog_reader *r)
{
	memset(r, 0, sizeof(*r));
	r->carry = malloc(CARRY_MAX);
	r->scratch = malloc(EXLOG_LINE_MAX);
	if (r->carry == NULL || r->scratch == NULL) {
		exlog_reader_free(r);
		return -1;
	}
	if (scan_forced >= 0)
		r->scanner = scan_forced;
	else if (scan_available(SCAN_AVX2))
		r->scanner = SCAN_AVX2;
	else if (scan_available(SCAN_SSE2))
		r->scanner = SCAN_SSE2;
	else
		r->scanner = SCAN_SCALAR;
	return 0;
}

void
exlog_reader_free(struct exlog_reader *r)
{
	free(r->carry);
	free(r->scratch);
	memset(r, 0, sizeof(*r));
}

const char *
exlog_bad_name(enum exlog_bad bad)
{
	switch (bad) {
	case EXLOG_BAD_NONE:
		return "ok";
	case EXLOG_BAD_FIELDS:
		return "wrong number of fields";
	case EXLOG_BAD_QUOTE:
		return "broken quoting";
	case EXLOG_BAD_TOOLONG:
		return "line too long";
	case EXLOG_BAD_TIME:
		return "bad dateTime";
	}
	return "?";
}

/*
 * The general splitter, for lines with quotes: splits s[from..len) into
 * fields n and on, where from is the start of field n.  A quoted field
 * without doubled quotes points into the line; one with them is copied,
 * undone, into the reader's scratch buffer (never longer than the line).
 */
static enum exlog_bad
split_quoted(const char *s, size_t len, size_t from, int n,
    struct exlog_row *row, char *scratch)
{
	const char *p = s + from, *end = s + len;
	char *w = scratch;

	for (;;) {
		const char *start, *stop;

		if (n == EXLOG_FIELDS) {
			row->nfields = n;
			return EXLOG_BAD_FIELDS;
		}
		if (p < end && *p == '"') {
			const char *q = p + 1, *dq;
			char *w0 = NULL;

			for (;;) {
				dq = memchr(q, '"', (size_t)(end - q));
				if (dq == NULL) {
					row->nfields = n;
					return EXLOG_BAD_QUOTE;
				}
				if (dq + 1 < end && dq[1] == '"') {
					/* A doubled quote: from here on the
					 * field is built in scratch. */
					if (w0 == NULL) {
						w0 = w;
						memcpy(w, p + 1,
						    (size_t)(dq - p - 1));
						w += dq - p - 1;
					} else {
						memcpy(w, q, (size_t)(dq - q));
						w += dq - q;
					}
					*w++ = '"';
					q = dq + 2;
					continue;
				}
				break;
			}
			if (w0 != NULL) {
				memcpy(w, q, (size_t)(dq - q));
				w += dq - q;
				start = w0;
				stop = w;
			} else {
				start = p + 1;
				stop = dq;
			}
			p = dq + 1;
			if (p < end && *p != ',') {
				row->nfields = n;
				return EXLOG_BAD_QUOTE;
			}
		} else {
			start = p;
			stop = memchr(p, ',', (size_t)(end - p));
			if (stop == NULL)
				stop = end;
			p = stop;
		}
		row->f[n].p = start;
		row->f[n].len = (size_t)(stop - start);
		n++;
		if (p == end)
			break;
		p++; /* the comma */
	}
	row->nfields = n;
	return EXLOG_BAD_NONE;
}

/*
 * A scanner's progress through a line: the fields it has found go
 * straight into the row.
 */
struct scan {
	const char *s;        /* the line */
	struct exlog_span *f; /* the row's fields */
	size_t start;         /* where the field being read starts */
	int n;                /* fields found, that is commas seen */
};

/*
 * Records the comma at offset pos.  Returns true when it makes too many
 * fields.
 */
static inline bool
scan_comma(struct scan *sc, size_t pos)
{
	sc->f[sc->n].p = sc->s + sc->start;
	sc->f[sc->n].len = pos - sc->start;
	sc->start = pos + 1;
	return ++sc->n == EXLOG_FIELDS;
}

/*
 * Records the commas in mask m (bit i: offset base + i).  Returns true
 * at the comma that makes too many fields, with its offset in *stop.
 */
static inline bool
scan_commas(struct scan *sc, uint32_t m, size_t base, size_t *stop)
{
	while (m != 0) {
		size_t pos = base + (size_t)__builtin_ctz(m);

		if (scan_comma(sc, pos)) {
			*stop = pos;
			return true;
		}
		m &= m - 1;
	}
	return false;
}

/*
 * The scanners look at s[i..len), the commas before i recorded in sc, and
 * return the offset of the first '\n' or '"', or of the comma that makes
 * too many fields (sc->n is then EXLOG_FIELDS), or len when there is none
 * of them; sc then holds the fields before that offset.
 */
static size_t
scan_scalar(const char *s, size_t len, size_t i, struct scan *sc)
{
	for (; i < len; i++) {
		if (s[i] == '\n' || s[i] == '"')
			return i;
		if (s[i] == ',' && scan_comma(sc, i))
			return i;
	}
	return len;
}

#ifdef EXLOG_SSE2
static size_t
scan_sse2(const char *s, size_t len, size_t i, struct scan *sc)
{
	const __m128i comma = _mm_set1_epi8(','), quote = _mm_set1_epi8('"'),
		      lf = _mm_set1_epi8('\n');
	size_t stop;

	for (; i + 16 <= len; i += 16) {
		__m128i v =
		    _mm_loadu_si128((const __m128i *)(const void *)(s + i));
		uint32_t c, e;

		c = (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v, comma));
		e = (uint32_t)_mm_movemask_epi8(_mm_or_si128(
		    _mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, lf)));
		/* Only the commas before the first LF or quote count (with
		 * none, the mask keeps them all). */
		if (scan_commas(sc, c & ((e & -e) - 1), i, &stop))
			return stop;
		if (e != 0)
			return i + (size_t)__builtin_ctz(e);
	}
	return scan_scalar(s, len, i, sc);
}
#endif

#ifdef EXLOG_AVX2
__attribute__((target("avx2"))) static size_t
scan_avx2(const char *s, size_t len, size_t i, struct scan *sc)
{
	const __m256i comma = _mm256_set1_epi8(','),
		      quote = _mm256_set1_epi8('"'),
		      lf = _mm256_set1_epi8('\n');
	size_t stop;

	for (; i + 32 <= len; i += 32) {
		__m256i v =
		    _mm256_loadu_si256((const __m256i *)(const void *)(s + i));
		uint32_t c, e;

		c = (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(v, comma));
		e = (uint32_t)_mm256_movemask_epi8(_mm256_or_si256(
		    _mm256_cmpeq_epi8(v, quote), _mm256_cmpeq_epi8(v, lf)));
		if (scan_commas(sc, c & ((e & -e) - 1), i, &stop))
			return stop;
		if (e != 0)
			return i + (size_t)__builtin_ctz(e);
	}
	/* The last bytes of a block, where 32 would read past its end. */
	return scan_scalar(s, len, i, sc);
}
#endif

/* Runs the reader's scanner over s[0..len), filling in row's fields. */
static inline size_t
scan(const struct exlog_reader *r, const char *s, size_t len,
    struct exlog_row *row, struct scan *sc)
{
	sc->s = s;
	sc->f = row->f;
	sc->start = 0;
	sc->n = 0;
	switch (r->scanner) {
#ifdef EXLOG_AVX2
	case SCAN_AVX2:
		return scan_avx2(s, len, 0, sc);
#endif
#ifdef EXLOG_SSE2
	case SCAN_SSE2:
		return scan_sse2(s, len, 0, sc);
#endif
	default:
		return scan_scalar(s, len, 0, sc);
	}
}

/*
 * Finishes the row of a complete line s[0..len) (no LF, no CR, not a
 * comment) that the scanner has been over: stop is where it stopped, len
 * or more when it met neither a quote nor too many fields.
 */
static void
split_line(struct exlog_reader *r, const char *s, size_t len,
    const struct scan *sc, size_t stop, struct exlog_row *row)
{
	row->line = r->line;
	if (len > EXLOG_LINE_MAX) {
		row->nfields = 0;
		row->bad = EXLOG_BAD_TOOLONG;
	} else if (sc->n == EXLOG_FIELDS) {
		row->nfields = EXLOG_FIELDS - 1;
		row->bad = EXLOG_BAD_FIELDS;
	} else if (stop < len) {
		/* A quote: the fields before it stand, the rest is split anew.
		 */
		row->bad =
		    split_quoted(s, len, sc->start, sc->n, row, r->scratch);
	} else {
		row->f[sc->n].p = s + sc->start;
		row->f[sc->n].len = len - sc->start;
		row->nfields = sc->n + 1;
		row->bad = EXLOG_BAD_NONE;
	}
	/* Only the fields a short row lacks need clearing. */
	for (int i = row->nfields; i < EXLOG_FIELDS; i++) {
		row->f[i].p = s;
		row->f[i].len = 0;
	}
	if (row->bad == EXLOG_BAD_NONE && row->nfields < EXLOG_MIN_FIELDS)
		row->bad = EXLOG_BAD_FIELDS;
}

static bool
prefix_ci(const char *s, size_t len, const char *pfx)
{
	size_t n = strlen(pfx);

	return len >= n && strncasecmp(s, pfx, n) == 0;
}

/*
 * Looks at one complete line (without its LF).  Returns true when it is a
 * row (good or bad) for the caller, false when it is to be skipped.
 */
static bool
exlog_line(struct exlog_reader *r, const char *s, size_t len,
    struct exlog_row *row)
{
	static const char bom[] = "\xef\xbb\xbf";
	struct scan sc;
	size_t stop;

	r->line++;
	if (len > 0 && s[len - 1] == '\r')
		len--;
	if (r->line == 1 && len >= 3 && memcmp(s, bom, 3) == 0) {
		s += 3;
		len -= 3;
	}
	if (len == 0 || s[0] == '#' ||
	    ((s[0] | 0x20) == 'd' && prefix_ci(s, len, "dateTime,"))) {
		if (prefix_ci(s, len, "#Log-type:")) {
			const char *v = s + 10;
			size_t vl = len - 10;

			while (vl > 0 && *v == ' ') {
				v++;
				vl--;
			}
			if (prefix_ci(v, vl, "POP3"))
				r->logtype = EXLOG_TYPE_POP3;
			else if (prefix_ci(v, vl, "IMAP4"))
				r->logtype = EXLOG_TYPE_IMAP4;
		}
		r->comments++;
		return false;
	}
	if (len > EXLOG_LINE_MAX) {
		/* Not worth scanning. */
		stop = len;
		sc.n = 0;
	} else
		stop = scan(r, s, len, row, &sc);
	split_line(r, s, len, &sc, stop, row);
	return true;
}

enum exlog_result
exlog_read(struct exlog_reader *r, const char *buf, size_t len, size_t *used,
    struct exlog_row *row)
{
	size_t off = 0;

	while (off < len) {
		const char *p = buf + off, *nl;
		size_t avail = len - off, n;

		if (r->carry_len == 0 && !r->discarding && r->line > 0 &&
		    p[0] != '#' && (p[0] | 0x20) != 'd' && p[0] != '\r' &&
		    p[0] != '\n') {
			/*
			 * A line that starts in this block and is no comment,
			 * field-name or empty line (the first line, which may
			 * start with a BOM, goes the general way): split it
			 * while looking for its end.
			 */
			struct scan sc;
			size_t stop = scan(r, p, avail, row, &sc);

			if (stop == avail)
				nl = NULL;
			else if (p[stop] == '\n')
				nl = p + stop;
			else
				nl = memchr(p + stop, '\n', avail - stop);
			if (nl != NULL) {
				n = (size_t)(nl - p);
				off += n + 1;
				r->line++;
				if (p[n - 1] == '\r')
					n--;
				split_line(r, p, n, &sc, stop, row);
				*used = off;
				return row->bad == EXLOG_BAD_NONE ? EXLOG_ROW :
								    EXLOG_BAD;
			}
		} else
			nl = memchr(p, '\n', avail);
		if (r->carry_len > 0 || r->discarding) {
			/* Completing a line that started in an earlier block.
			 */
			n = nl != NULL ? (size_t)(nl - p) : avail;
			if (!r->discarding && r->carry_len + n <= CARRY_MAX) {
				memcpy(r->carry + r->carry_len, p, n);
				r->carry_len += n;
			} else {
				r->discarding = true;
				r->carry_len = 0;
			}
			off += nl != NULL ? n + 1 : n;
			if (nl == NULL)
				break;
			if (r->discarding) {
				r->discarding = false;
				r->line++;
				memset(row, 0, sizeof(*row));
				row->line = r->line;
				row->bad = EXLOG_BAD_TOOLONG;
				*used = off;
				return EXLOG_BAD;
			}
			n = r->carry_len;
			r->carry_len = 0;
			if (exlog_line(r, r->carry, n, row)) {
				*used = off;
				return row->bad == EXLOG_BAD_NONE ? EXLOG_ROW :
								    EXLOG_BAD;
			}
			continue;
		}
		if (nl == NULL) {
			/* Keep the start of the line for the next block. */
			if (avail <= CARRY_MAX) {
				memcpy(r->carry, p, avail);
				r->carry_len = avail;
			} else
				r->discarding = true;
			off = len;
			break;
		}
		n = (size_t)(nl - p);
		off += n + 1;
		if (exlog_line(r, p, n, row)) {
			*used = off;
			return row->bad == EXLOG_BAD_NONE ? EXLOG_ROW :
							    EXLOG_BAD;
		}
	}
	*used = off;
	return EXLOG_NEED_MORE;
}

enum exlog_result
exlog_finish(struct exlog_reader *r, struct exlog_row *row)
{
	size_t n = r->carry_len;

	if (r->discarding) {
		r->discarding = false;
		r->line++;
		memset(row, 0, sizeof(*row));
		row->line = r->line;
		row->bad = EXLOG_BAD_TOOLONG;
		return EXLOG_BAD;
	}
	if (n == 0)
		return EXLOG_NEED_MORE;
	r->carry_len = 0;
	if (!exlog_line(r, r->carry, n, row))
		return EXLOG_NEED_MORE;
	return row->bad == EXLOG_BAD_NONE ? EXLOG_ROW : EXLOG_BAD;
}

int64_t
exlog_days_from_civil(int y, unsigned m, unsigned d)
{
	/* H. Hinnant's days_from_civil: March-based years make the leap
	 * day the last day of the year. */
	int64_t yy = (int64_t)y - (m <= 2);
	int64_t era = (yy >= 0 ? yy : yy - 399) / 400;
	unsigned yoe = (unsigned)(yy - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? (unsigned)-3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

	return era * 146097 + (int64_t)doe - 719468;
}

static int
digits(const char *p, size_t n, unsigned *out)
{
	unsigned v = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned c = (unsigned char)p[i] - '0';

		if (c > 9)
			return -1;
		v = v * 10 + c;
	}
	*out = v;
	return 0;
}

int
exlog_time(const char *p, size_t len, int64_t *ms)
{
	static const unsigned char mdays[] = {31, 29, 31, 30, 31, 30, 31, 31,
	    30, 31, 30, 31};
	unsigned y, mo, d, h, mi, s, frac = 0;
	size_t i, fd;

	if (len < 20 || p[4] != '-' || p[7] != '-' || p[10] != 'T' ||
	    p[13] != ':' || p[16] != ':' || p[len - 1] != 'Z')
		return -1;
	if (digits(p, 4, &y) < 0 || digits(p + 5, 2, &mo) < 0 ||
	    digits(p + 8, 2, &d) < 0 || digits(p + 11, 2, &h) < 0 ||
	    digits(p + 14, 2, &mi) < 0 || digits(p + 17, 2, &s) < 0)
		return -1;
	if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 ||
	    mi > 59 || s > 60)
		return -1;
	if (mo == 2 && d == 29 &&
	    !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
		return -1;
	if (len > 20) {
		/* ".fff": Exchange writes 3 digits; accept 1 to 7. */
		if (p[19] != '.' || len - 21 < 1 || len - 21 > 7)
			return -1;
		fd = len - 21;
		for (i = 0; i < fd; i++) {
			unsigned c = (unsigned char)p[20 + i] - '0';

			if (c > 9)
				return -1;
			if (i < 3)
				frac = frac * 10 + c;
		}
		for (; i < 3; i++)
			frac *= 10;
	}
	*ms = ((exlog_days_from_civil((int)y, mo, d) * 24 + h) * 60 + mi) *
		  60000 +
	      (int64_t)s * 1000 + frac;
	return 0;
}

size_t
exlog_unescape(const char *p, size_t len, char *out, size_t cap)
{
	size_t i, n = 0;

	for (i = 0; i < len; i++) {
		char c = p[i];

		if (c == '\\' && i + 1 < len &&
		    (p[i + 1] == 'r' || p[i + 1] == 'n')) {
			c = p[i + 1] == 'r' ? '\r' : '\n';
			i++;
		}
		if (n + 1 < cap)
			out[n] = c;
		n++;
	}
	if (cap > 0)
		out[n < cap ? n : cap - 1] = '\0';
	return n;
}

bool
exlog_context_get(const char *ctx, size_t len, const char *key,
    struct exlog_span *value)
{
	size_t klen = strlen(key), i = 0;

	/* Pairs are "Key=Value" joined by ';'; a value holding a space, a
	 * quote, ',' or ';' is wrapped in quotes, a quote inside doubled
	 * (Exchange's own values never hold one). */
	while (i < len) {
		size_t ks = i, vs, ve;
		bool match;

		while (i < len && ctx[i] != '=' && ctx[i] != ';')
			i++;
		match = i - ks == klen && strncasecmp(ctx + ks, key, klen) == 0;
		if (i >= len || ctx[i] == ';') {
			i++;
			continue;
		}
		i++; /* '=' */
		if (i < len && ctx[i] == '"') {
			const char *q;

			vs = i + 1;
			q = memchr(ctx + vs, '"', len - vs);
			while (q != NULL && (size_t)(q - ctx) + 1 < len &&
			       q[1] == '"')
				q = memchr(q + 2, '"',
				    len - (size_t)(q + 2 - ctx));
			ve = q != NULL ? (size_t)(q - ctx) : len;
			i = q != NULL ? ve + 1 : len;
			while (i < len && ctx[i] != ';')
				i++;
		} else {
			vs = i;
			while (i < len && ctx[i] != ';')
				i++;
			ve = i;
		}
		if (match) {
			value->p = ctx + vs;
			value->len = ve - vs;
			return true;
		}
		i++; /* ';' */
	}
	return false;
}

size_t
exlog_context_value(const struct exlog_span *v, char *out, size_t cap)
{
	size_t i, o = 0;

	if (cap == 0)
		return 0;
	for (i = 0; i < v->len && o + 1 < cap; i++) {
		out[o++] = v->p[i];
		if (v->p[i] == '"' && i + 1 < v->len && v->p[i + 1] == '"')
			i++;
	}
	out[o] = '\0';
	return o;
}

static const char *const mech_names[EXLOG_MECH_COUNT] = {
    [EXLOG_MECH_NONE] = "",
    [EXLOG_MECH_USER] = "USER",
    [EXLOG_MECH_LOGIN] = "LOGIN",
    [EXLOG_MECH_PLAIN] = "PLAIN",
    [EXLOG_MECH_APOP] = "APOP",
    [EXLOG_MECH_CRAM_MD5] = "CRAM-MD5",
    [EXLOG_MECH_DIGEST_MD5] = "DIGEST-MD5",
    [EXLOG_MECH_SCRAM_SHA_1] = "SCRAM-SHA-1",
    [EXLOG_MECH_SCRAM_SHA_256] = "SCRAM-SHA-256",
    [EXLOG_MECH_EXTERNAL] = "EXTERNAL",
    [EXLOG_MECH_NTLM] = "NTLM",
    [EXLOG_MECH_GSSAPI] = "GSSAPI",
    [EXLOG_MECH_XOAUTH2] = "XOAUTH2",
    [EXLOG_MECH_OAUTHBEARER] = "OAUTHBEARER",
    [EXLOG_MECH_OTHER] = "other",
};

const char *
exlog_mech_name(enum exlog_mech m)
{
	return (unsigned)m < EXLOG_MECH_COUNT ? mech_names[m] : "";
}

static bool
span_eq_ci(const char *p, size_t len, const char *s)
{
	return len == strlen(s) && strncasecmp(p, s, len) == 0;
}

enum exlog_mech
exlog_mechanism(const struct exlog_span *command,
    const struct exlog_span *params)
{
	const char *p = params->p, *e = params->p + params->len, *w;

	if (span_eq_ci(command->p, command->len, "pass"))
		return EXLOG_MECH_USER;
	if (span_eq_ci(command->p, command->len, "apop"))
		return EXLOG_MECH_APOP;
	if (span_eq_ci(command->p, command->len, "login"))
		return EXLOG_MECH_LOGIN;
	if (!span_eq_ci(command->p, command->len, "auth") &&
	    !span_eq_ci(command->p, command->len, "authenticate"))
		return EXLOG_MECH_NONE;
	while (p < e && *p == ' ')
		p++;
	if (p == e)
		return span_eq_ci(command->p, command->len, "auth") ?
			   EXLOG_MECH_NONE :
			   EXLOG_MECH_OTHER;
	/*
	 * The first word only: what follows it (an initial response that
	 * should not have been logged, RFC 4959 SASL-IR) is never looked at.
	 */
	for (w = p; w < e && *w != ' '; w++)
		;
	for (int m = EXLOG_MECH_USER + 1; m < EXLOG_MECH_OTHER; m++)
		if (m != EXLOG_MECH_APOP &&
		    span_eq_ci(p, (size_t)(w - p), mech_names[m]))
			return (enum exlog_mech)m;
	return EXLOG_MECH_OTHER;
}
