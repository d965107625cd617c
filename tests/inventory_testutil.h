/*
 * Helpers shared by the inventory tests: finding the real Exchange sample
 * logs, feeding text to the row reader in pieces, and building an
 * inventory from log text.
 */
#ifndef POSTERN_INVENTORY_TESTUTIL_H
#define POSTERN_INVENTORY_TESTUTIL_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "exlogread.h"
#include "inventory.h"

/*
 * The directory of real Exchange log samples: $POSTERN_TESTDATA/exchange-logs,
 * else tests/data/exchange-logs in the source tree.  Fails the test when
 * there is none.
 */
static inline const char *
samples_dir(void)
{
	static char buf[2048];
	const char *env = getenv("POSTERN_TESTDATA");
	const char *src = getenv("POSTERN_SRCDIR");
	const char *cand[2] = {NULL, NULL};
	char c1[1024];
	struct stat st;

	if (src == NULL)
		src = ".";
	snprintf(c1, sizeof(c1), "%s/tests/data", src);
	cand[0] = env;
	cand[1] = c1;
	for (int i = 0; i < 2; i++) {
		if (cand[i] == NULL)
			continue;
		snprintf(buf, sizeof(buf), "%s/exchange-logs", cand[i]);
		if (stat(buf, &st) == 0 && S_ISDIR(st.st_mode))
			return buf;
	}
	cr_assert_fail(
	    "no exchange-logs sample directory: set POSTERN_TESTDATA");
	return NULL;
}

static inline char *
slurp(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	char *buf;
	long n;

	cr_assert_not_null(fp, "cannot open %s", path);
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	fseek(fp, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	cr_assert_not_null(buf);
	cr_assert_eq(fread(buf, 1, (size_t)n, fp), (size_t)n);
	buf[n] = '\0';
	fclose(fp);
	*len = (size_t)n;
	return buf;
}

/* A growing string the reader's results are written into. */
struct strbuf {
	char *p;
	size_t len, cap;
};

static inline void
sb_add(struct strbuf *sb, const char *s, size_t n)
{
	if (sb->len + n + 1 > sb->cap) {
		sb->cap = (sb->len + n + 1) * 2;
		sb->p = realloc(sb->p, sb->cap);
		cr_assert_not_null(sb->p);
	}
	memcpy(sb->p + sb->len, s, n);
	sb->len += n;
	sb->p[sb->len] = '\0';
}

static inline void
sb_str(struct strbuf *sb, const char *s)
{
	sb_add(sb, s, strlen(s));
}

/* Writes one result as a line: "ROW <line>: f0|f1|...", "BAD <line> <why>". */
static inline void
sb_result(struct strbuf *sb, enum exlog_result res, const struct exlog_row *row)
{
	char tmp[64];

	if (res == EXLOG_BAD) {
		snprintf(tmp, sizeof(tmp), "BAD %llu %d\n",
		    (unsigned long long)row->line, (int)row->bad);
		sb_str(sb, tmp);
		return;
	}
	snprintf(tmp, sizeof(tmp),
	    "ROW %llu %d:", (unsigned long long)row->line, row->nfields);
	sb_str(sb, tmp);
	for (int i = 0; i < row->nfields; i++) {
		sb_str(sb, "|");
		sb_add(sb, row->f[i].p, row->f[i].len);
	}
	sb_str(sb, "\n");
}

/*
 * Reads text through a fresh reader, fed as two pieces split at `split`
 * (or in pieces of `step` bytes when step > 0), and returns the results
 * as lines (caller frees).
 */
static inline char *
read_text(const char *text, size_t len, size_t split, size_t step,
    enum exlog_logtype *lt)
{
	struct exlog_reader r;
	struct exlog_row row;
	struct strbuf sb = {0};
	char *copy = malloc(len + 1);
	size_t pos = 0;

	cr_assert_not_null(copy);
	memcpy(copy, text, len);
	cr_assert_eq(exlog_reader_init(&r), 0);
	sb_str(&sb, "");
	while (pos < len) {
		size_t end =
		    step > 0 ? pos + step : (pos < split ? split : len);
		size_t off = pos, used;

		if (end > len)
			end = len;
		/* Each piece is handed over in a buffer of its own size, so
		 * that a read past its end shows up under the sanitizers. */
		char *piece = malloc(end - pos + 1);

		cr_assert_not_null(piece);
		memcpy(piece, copy + pos, end - pos);
		while (off < end) {
			enum exlog_result res = exlog_read(&r,
			    piece + (off - pos), end - off, &used, &row);

			cr_assert_leq(used, end - off);
			off += used;
			if (res == EXLOG_NEED_MORE) {
				cr_assert_eq(off, end);
				break;
			}
			sb_result(&sb, res, &row);
		}
		free(piece);
		pos = end;
	}
	{
		enum exlog_result res = exlog_finish(&r, &row);

		if (res != EXLOG_NEED_MORE)
			sb_result(&sb, res, &row);
	}
	if (lt != NULL)
		*lt = r.logtype;
	exlog_reader_free(&r);
	free(copy);
	return sb.p;
}

/* Feeds log text (one file) into an inventory, as postern-inventory does. */
static inline void
inv_add_text(struct inventory *inv, const char *path, size_t server,
    enum exlog_proto proto, const char *text)
{
	struct exlog_reader r;
	struct exlog_row row;
	enum exlog_result res;
	size_t len = strlen(text), off = 0, used;
	char *copy = strdup(text);
	struct inv_file *f = inv_file_begin(inv, path, server, proto);

	cr_assert_not_null(copy);
	cr_assert_not_null(f);
	cr_assert_eq(exlog_reader_init(&r), 0);
	while (off < len) {
		res = exlog_read(&r, copy + off, len - off, &used, &row);
		off += used;
		if (res == EXLOG_ROW)
			inv_file_row(f, &row, r.logtype);
		else if (res == EXLOG_BAD)
			inv_file_bad(f, row.line, row.bad);
	}
	res = exlog_finish(&r, &row);
	if (res == EXLOG_ROW)
		inv_file_row(f, &row, r.logtype);
	else if (res == EXLOG_BAD)
		inv_file_bad(f, row.line, row.bad);
	inv_file_bytes(f, len);
	exlog_reader_free(&r);
	cr_assert_eq(inv_file_end(f), 0);
	free(copy);
}

/* Finds the record with the given key (and key2) in a finished inventory. */
static inline const struct inv_record *
find_rec(const struct inventory *inv, const char *key, const char *key2)
{
	const struct inv_record *const *recs;
	size_t n = inventory_records(inv, &recs);

	for (size_t i = 0; i < n; i++)
		if (strcmp(recs[i]->key, key) == 0 &&
		    (key2 == NULL || (recs[i]->key2 != NULL &&
					 strcmp(recs[i]->key2, key2) == 0)))
			return recs[i];
	return NULL;
}

#endif /* POSTERN_INVENTORY_TESTUTIL_H */
