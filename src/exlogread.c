/*
 * exlogread: the streaming row reader for Exchange-format protocol logs.
 *
 * Speed matters here (the inventory reads gigabytes of logs): lines are
 * found with memchr(), and a line without quotes, which is most of them,
 * is split in one pass that looks at 16 bytes at a time.  Quoted fields
 * take a slower path that undoes the doubled quotes in place.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "exlogread.h"

int
exlog_reader_init(struct exlog_reader *r)
{
	memset(r, 0, sizeof(*r));
	r->carry = malloc(EXLOG_LINE_MAX);
	r->scratch = malloc(EXLOG_LINE_MAX);
	if (r->carry == NULL || r->scratch == NULL) {
		exlog_reader_free(r);
		return -1;
	}
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
 * The general splitter, for lines with quotes.  A quoted field without
 * doubled quotes points into the line; one with them is copied, undone,
 * into the reader's scratch buffer (never longer than the line).
 */
static enum exlog_bad
split_quoted(const char *s, size_t len, struct exlog_row *row, char *scratch)
{
	const char *p = s, *end = s + len;
	char *w = scratch;
	int n = 0;

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
						memcpy(w, p + 1, (size_t)(dq - p - 1));
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
 * The fast splitter for lines without any quote.  Returns -1 when it
 * meets a quote (the caller starts over with split_quoted()), else 0 with
 * row->bad set.
 */
static int
split_plain(const char *s, size_t len, struct exlog_row *row)
{
	size_t i = 0, start = 0;
	int n = 0;

#if defined(__SSE2__) && defined(__GNUC__)
	const __m128i comma = _mm_set1_epi8(','), quote = _mm_set1_epi8('"');

	for (; i + 16 <= len; i += 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
		unsigned m;

		if (_mm_movemask_epi8(_mm_cmpeq_epi8(v, quote)) != 0)
			return -1;
		m = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, comma));
		while (m != 0) {
			size_t pos = i + (size_t)__builtin_ctz(m);

			if (n == EXLOG_FIELDS - 1) {
				row->nfields = n;
				row->bad = EXLOG_BAD_FIELDS;
				return 0;
			}
			row->f[n].p = s + start;
			row->f[n].len = pos - start;
			n++;
			start = pos + 1;
			m &= m - 1;
		}
	}
#endif
	for (; i < len; i++) {
		if (s[i] == '"')
			return -1;
		if (s[i] != ',')
			continue;
		if (n == EXLOG_FIELDS - 1) {
			row->nfields = n;
			row->bad = EXLOG_BAD_FIELDS;
			return 0;
		}
		row->f[n].p = s + start;
		row->f[n].len = i - start;
		n++;
		start = i + 1;
	}
	row->f[n].p = s + start;
	row->f[n].len = len - start;
	row->nfields = n + 1;
	row->bad = EXLOG_BAD_NONE;
	return 0;
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
	row->line = r->line;
	row->nfields = 0;
	if (len > EXLOG_LINE_MAX) {
		row->bad = EXLOG_BAD_TOOLONG;
	} else if (split_plain(s, len, row) < 0)
		row->bad = split_quoted(s, len, row, r->scratch);
	/* Only the fields a short row lacks need clearing. */
	for (int i = row->nfields; i < EXLOG_FIELDS; i++) {
		row->f[i].p = s;
		row->f[i].len = 0;
	}
	if (row->bad == EXLOG_BAD_NONE && row->nfields < EXLOG_MIN_FIELDS)
		row->bad = EXLOG_BAD_FIELDS;
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

		nl = memchr(p, '\n', avail);
		if (r->carry_len > 0 || r->discarding) {
			/* Completing a line that started in an earlier block. */
			n = nl != NULL ? (size_t)(nl - p) : avail;
			if (!r->discarding && r->carry_len + n <= EXLOG_LINE_MAX) {
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
			if (avail <= EXLOG_LINE_MAX) {
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
			return row->bad == EXLOG_BAD_NONE ? EXLOG_ROW : EXLOG_BAD;
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
	static const unsigned char mdays[] = {
	    31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
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
	if (mo == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
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

		if (c == '\\' && i + 1 < len && (p[i + 1] == 'r' || p[i + 1] == 'n')) {
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
	 * quote, ',' or ';' is wrapped in quotes with no escaping inside. */
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
