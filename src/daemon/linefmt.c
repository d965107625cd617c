/*
 * linefmt: a dialogue line on the stack or the heap (linefmt.h).
 */
#include "config.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "linefmt.h"

/*
 * Whether fmt holds only the directives the dialogue's lines use (%s,
 * %.*s, %d, %u, %zu, %%), which linefmt_simple() formats without stdio.
 */
static bool
linefmt_simple_ok(const char *fmt)
{
	for (const char *p = fmt; (p = strchr(p, '%')) != NULL;) {
		p++;
		if (*p == 's' || *p == 'd' || *p == 'u' || *p == '%')
			p++;
		else if (p[0] == 'z' && p[1] == 'u')
			p += 2;
		else if (p[0] == '.' && p[1] == '*' && p[2] == 's')
			p += 3;
		else
			return false;
	}
	return true;
}

/* Appends n bytes of s at *o if they fit before end. */
static bool
linefmt_put(char **o, const char *end, const char *s, size_t n)
{
	if ((size_t)(end - *o) < n)
		return false;
	memcpy(*o, s, n);
	*o += n;
	return true;
}

/* Appends v in decimal, with a '-' when neg. */
static bool
linefmt_num(char **o, const char *end, uintmax_t v, bool neg)
{
	char d[24];
	size_t i = sizeof(d);

	do
		d[--i] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	if (neg)
		d[--i] = '-';
	return linefmt_put(o, end, d + i, sizeof(d) - i);
}

/*
 * Formats fmt (linefmt_simple_ok()) into f->buf as vsnprintf would;
 * false when it does not fit there (ap is then partly read).
 */
static bool
linefmt_simple(struct linefmt *f, const char *fmt, va_list ap)
{
	char *o = f->buf;
	const char *end = f->buf + sizeof(f->buf) - 1; /* room for the NUL */

	for (const char *p = fmt; *p != '\0'; p++) {
		const char *lit = p, *s;
		bool ok = true;
		int prec, d;

		while (*p != '\0' && *p != '%')
			p++;
		if (!linefmt_put(&o, end, lit, (size_t)(p - lit)))
			return false;
		if (*p == '\0')
			break;
		switch (*++p) {
		case '%':
			ok = linefmt_put(&o, end, "%", 1);
			break;
		case 's':
			s = va_arg(ap, const char *);
			if (s == NULL)
				s = "(null)";
			ok = linefmt_put(&o, end, s, strlen(s));
			break;
		case '.': /* %.*s */
			prec = va_arg(ap, int);
			s = va_arg(ap, const char *);
			if (s == NULL)
				s = "(null)";
			ok = linefmt_put(&o, end, s,
			    prec < 0 ? strlen(s) : strnlen(s, (size_t)prec));
			p += 2;
			break;
		case 'd':
			d = va_arg(ap, int);
			ok = linefmt_num(&o, end,
			    d < 0 ? (uintmax_t)(-(intmax_t)d) : (uintmax_t)d,
			    d < 0);
			break;
		case 'u':
			ok = linefmt_num(&o, end, va_arg(ap, unsigned), false);
			break;
		case 'z': /* %zu */
			ok = linefmt_num(&o, end, va_arg(ap, size_t), false);
			p++;
			break;
		default: /* not reached: linefmt_simple_ok() */
			return false;
		}
		if (!ok)
			return false;
	}
	*o = '\0';
	f->p = f->buf;
	f->len = (size_t)(o - f->buf);
	return true;
}

bool
linefmt_v(struct linefmt *f, const char *fmt, va_list ap)
{
	va_list again;
	int n;

	va_copy(again, ap);
	f->p = f->buf;
	if (linefmt_simple_ok(fmt)) {
		if (linefmt_simple(f, fmt, ap)) {
			va_end(again);
			return true;
		}
		/* Longer than the stack's room: the heap, as below. */
		n = vasprintf(&f->p, fmt, again);
	} else {
		n = vsnprintf(f->buf, sizeof(f->buf), fmt, ap);
		if (n >= 0 && (size_t)n >= sizeof(f->buf))
			n = vasprintf(&f->p, fmt, again);
	}
	va_end(again);
	if (n < 0) {
		f->p = f->buf;
		f->len = 0;
		return false;
	}
	f->len = (size_t)n;
	return true;
}

void
linefmt_done(struct linefmt *f, bool cleanse)
{
	if (cleanse)
		OPENSSL_cleanse(f->p, f->len);
	if (f->p != f->buf)
		free(f->p);
	f->p = f->buf;
	f->len = 0;
}
