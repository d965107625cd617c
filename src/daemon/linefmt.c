/*
 * linefmt: a dialogue line on the stack or the heap (linefmt.h).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include <openssl/crypto.h>

#include "linefmt.h"

bool
linefmt_v(struct linefmt *f, const char *fmt, va_list ap)
{
	va_list again;
	int n;

	va_copy(again, ap);
	f->p = f->buf;
	n = vsnprintf(f->buf, sizeof(f->buf), fmt, ap);
	if (n >= 0 && (size_t)n >= sizeof(f->buf))
		n = vasprintf(&f->p, fmt, again);
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
