/*
 * conf_dump: the settings dump, "postern -T": blocks of "Name : Value"
 * rows that the modules add (conf_table.h), aligned and wrapped the way
 * the file reads its lists.
 */
#include "config.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "addrset.h"
#include "conf.h"
#include "conf_table.h"

/* One "Name : Value" line of the settings dump; see conf_dump_list(). */
struct dump_row {
	const char *name;
	char value[CONF_DUMP_VALUE];
	char *list; /* NULL: the value is in value[] */
	size_t listlen;
	bool repeat; /* one row per item: the key takes one per line */
};

#define DUMP_ROWS 64

struct conf_dump {
	FILE *out;
	struct dump_row rows[DUMP_ROWS];
	size_t n;
	bool written; /* a block was written: the next one needs a blank */
};

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
dump_rows(FILE *out, struct dump_row *rows, size_t n)
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

void
conf_dump_block(struct conf_dump *d)
{
	if (d->n == 0)
		return;
	if (d->written)
		fputc('\n', d->out);
	dump_rows(d->out, d->rows, d->n);
	d->n = 0;
	d->written = true;
}

/* Past DUMP_ROWS rows a block is written early: better than losing any. */
static struct dump_row *
dump_new(struct conf_dump *d, const char *name)
{
	struct dump_row *r;

	if (d->n == DUMP_ROWS) {
		dump_rows(d->out, d->rows, d->n);
		d->n = 0;
	}
	r = &d->rows[d->n++];
	r->name = name;
	r->list = NULL;
	r->listlen = 0;
	r->repeat = false;
	r->value[0] = '\0';
	return r;
}

char *
conf_dump_row(struct conf_dump *d, const char *name)
{
	return dump_new(d, name)->value;
}

void
conf_dump_set(struct conf_dump *d, const char *name, const char *fmt, ...)
{
	char *v = conf_dump_row(d, name);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(v, CONF_DUMP_VALUE, fmt, ap);
	va_end(ap);
}

void
conf_dump_str(struct conf_dump *d, const char *name, const char *s)
{
	conf_dump_set(d, name, "%s", s != NULL ? s : "");
}

void
conf_dump_bool(struct conf_dump *d, const char *name, bool b)
{
	conf_dump_set(d, name, "%s", b ? "True" : "False");
}

FILE *
conf_dump_list(struct conf_dump *d, const char *name, bool repeat)
{
	struct dump_row *r = dump_new(d, name);
	FILE *fp = open_memstream(&r->list, &r->listlen);

	r->repeat = repeat;
	if (fp == NULL) {
		r->list = NULL;
		snprintf(r->value, sizeof(r->value), "(out of memory)");
	}
	return fp;
}

void
conf_dump_list_end(struct conf_dump *d, FILE *fp)
{
	struct dump_row *r = &d->rows[d->n - 1];

	if (fp != NULL && fclose(fp) != 0) {
		free(r->list);
		r->list = NULL;
		snprintf(r->value, sizeof(r->value), "(out of memory)");
	}
}

void
conf_dump_addrset(struct conf_dump *d, const char *name,
    const struct addrset *set)
{
	FILE *fp;

	if ((fp = conf_dump_list(d, name, false)) == NULL)
		return;
	if (set != NULL && addrset_write(set, "\n", fp) > 0)
		fputc('\n', fp);
	conf_dump_list_end(d, fp);
}

void
conf_dump_strlist(struct conf_dump *d, const char *name,
    const struct strlist *sl, bool repeat)
{
	FILE *fp;
	size_t i;

	if ((fp = conf_dump_list(d, name, repeat)) == NULL)
		return;
	for (i = 0; i < sl->n; i++)
		fprintf(fp, "%s\n", sl->v[i]);
	conf_dump_list_end(d, fp);
}

void
conf_fmt_limit(unsigned v, char *buf, size_t len)
{
	if (v == 0)
		snprintf(buf, len, "unlimited");
	else
		snprintf(buf, len, "%u", v);
}

void
conf_dump(const struct conf *c, FILE *out)
{
	struct conf_dump *d;

	if ((d = calloc(1, sizeof(*d))) == NULL) {
		fprintf(out, "(out of memory)\n");
		return;
	}
	d->out = out;
	conf_dump_modules(c, d);
	conf_dump_block(d);
	free(d);
}
