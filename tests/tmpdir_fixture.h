/*
 * A directory of its own for each unit test that writes files (a
 * configuration, a groups file, a routing map): made under $TMPDIR before
 * the test and removed with everything in it after the test.  Include
 * after Criterion; the suite's .init calls tmpdir_make(), its .fini
 * tmpdir_remove().
 */
#ifndef POSTERN_TESTS_TMPDIR_FIXTURE_H
#define POSTERN_TESTS_TMPDIR_FIXTURE_H

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static char tmpdir[PATH_MAX - 64];

/* A new directory named after the test file (prefix) under $TMPDIR. */
static inline void
tmpdir_make(const char *prefix)
{
	const char *base = getenv("TMPDIR");

	snprintf(tmpdir, sizeof(tmpdir), "%s/%s.XXXXXX",
	    base != NULL && *base != '\0' ? base : P_tmpdir, prefix);
	cr_assert_not_null(mkdtemp(tmpdir), "mkdtemp: %s", strerror(errno));
}

static inline int
tmpdir_rm_entry(const char *path, const struct stat *sb, int flag,
    struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static inline void
tmpdir_remove(void)
{
	nftw(tmpdir, tmpdir_rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

/* Skips the test: Criterion runs no .fini for a skipped test. */
#define tmpdir_skip(...)                                                       \
	do {                                                                   \
		tmpdir_remove();                                               \
		cr_skip_test(__VA_ARGS__);                                     \
	} while (0)

/* The path of name in the test's directory; four calls may be in use. */
static inline const char *
tpath(const char *name)
{
	static char buf[4][PATH_MAX + 64];
	static int i;

	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", tmpdir, name);
	return buf[i];
}

/* Writes len bytes of content to name in the test's directory. */
static inline const char *
tmpdir_write(const char *name, const char *content, size_t len)
{
	const char *p = tpath(name);
	FILE *fp = fopen(p, "w");

	cr_assert_not_null(fp, "%s: %s", p, strerror(errno));
	cr_assert_eq(fwrite(content, 1, len, fp), len);
	cr_assert_eq(fclose(fp), 0);
	return p;
}

#endif
