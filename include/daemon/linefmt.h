/*
 * linefmt: a line of the dialogue (an answer to the client, a command to
 * the backend) formatted on the stack, or on the heap when it is longer
 * than the stack's room.  Used by session_printf() and backend_printf().
 */
#ifndef POSTERN_LINEFMT_H
#define POSTERN_LINEFMT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

struct linefmt {
	char buf[1024]; /* the line, when it fits */
	char *p;        /* the line: buf, or an allocation */
	size_t len;
};

/* Formats fmt into f; false (nothing to free) when vsnprintf fails or
 * memory is short. */
bool linefmt_v(struct linefmt *f, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/* Frees what linefmt_v() allocated; with cleanse, the line's bytes are
 * overwritten first (it may hold a SASL response). */
void linefmt_done(struct linefmt *f, bool cleanse);

#endif /* POSTERN_LINEFMT_H */
