#include "config.h"

#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "privsep.h"

/* A record header with the given fields, written by hand. */
static size_t
header(unsigned char *p, int type, uint32_t err, uint32_t plen, uint32_t dlen)
{
	uint32_t v[3] = {err, plen, dlen};

	p[0] = (unsigned char)type;
	for (int i = 0; i < 3; i++) {
		p[1 + 4 * i] = (unsigned char)(v[i] >> 24);
		p[2 + 4 * i] = (unsigned char)(v[i] >> 16);
		p[3 + 4 * i] = (unsigned char)(v[i] >> 8);
		p[4 + 4 * i] = (unsigned char)v[i];
	}
	return PRIVSEP_HEADER;
}

static enum privsep_decode
decode(const unsigned char *buf, size_t len, struct privsep_files **out,
    char *why, size_t whylen)
{
	why[0] = '\0';
	return privsep_decode(buf, len, out, why, whylen);
}

/* An answer of two files, one read and one not. */
static void
two_files(unsigned char **buf, size_t *len)
{
	static const unsigned char pem[] = "-----BEGIN PRIVATE KEY-----\n";

	*buf = NULL;
	*len = 0;
	cr_assert_eq(privsep_encode(buf, len, PRIVSEP_REC_FILE, 0, "/etc/k.pem",
			 pem, sizeof(pem) - 1),
	    0);
	cr_assert_eq(privsep_encode(buf, len, PRIVSEP_REC_FILE, 13,
			 "/etc/gone.pem", NULL, 0),
	    0);
	cr_assert_eq(
	    privsep_encode(buf, len, PRIVSEP_REC_END, 0, NULL, NULL, 0), 0);
}

Test(privsep, answer_decoded_whole)
{
	struct privsep_files *f;
	const struct privsep_file *k;
	unsigned char *buf;
	size_t len;
	char why[256];

	two_files(&buf, &len);
	cr_assert_eq(decode(buf, len, &f, why, sizeof(why)), PRIVSEP_DONE, "%s",
	    why);
	cr_assert_eq(f->n, 2);
	cr_assert_null(f->refused);
	k = privsep_find(f, "/etc/k.pem");
	cr_assert_not_null(k);
	cr_assert_eq(k->err, 0);
	cr_assert_eq(k->len, 28);
	cr_assert_eq(memcmp(k->data, "-----BEGIN PRIVATE KEY-----\n", 28), 0);
	cr_assert_eq(k->data[k->len], '\0');
	k = privsep_find(f, "/etc/gone.pem");
	cr_assert_not_null(k);
	cr_assert_eq(k->err, 13);
	cr_assert_null(k->data);
	cr_assert_null(privsep_find(f, "/etc/k.pe"));
	privsep_files_free(f);
	free(buf);
}

Test(privsep, every_truncation_needs_more)
{
	struct privsep_files *f;
	unsigned char *buf;
	size_t len;
	char why[256];

	two_files(&buf, &len);
	for (size_t n = 0; n < len; n++) {
		cr_assert_eq(decode(buf, n, &f, why, sizeof(why)),
		    PRIVSEP_NEED_MORE, "prefix %zu: %s", n, why);
		cr_assert_null(f);
	}
	free(buf);
}

Test(privsep, bytes_after_the_end_refused)
{
	struct privsep_files *f;
	unsigned char *buf, *more;
	size_t len;
	char why[256];

	two_files(&buf, &len);
	more = malloc(len + 1);
	memcpy(more, buf, len);
	more[len] = PRIVSEP_REC_END;
	cr_assert_eq(decode(more, len + 1, &f, why, sizeof(why)),
	    PRIVSEP_INVALID);
	cr_assert_null(f);
	cr_assert_str_eq(why, "1 bytes after the end record");
	free(more);
	free(buf);
}

Test(privsep, oversized_data_refused_from_its_header)
{
	unsigned char buf[PRIVSEP_HEADER + 8];
	struct privsep_files *f;
	char why[256];
	size_t n = header(buf, PRIVSEP_REC_FILE, 0, 4, PRIVSEP_FILE_MAX + 1);

	memcpy(buf + n, "/a/b", 4);
	/* Refused before the megabyte it announces is waited for. */
	cr_assert_eq(decode(buf, n, &f, why, sizeof(why)), PRIVSEP_INVALID);
	cr_assert(strstr(why, "data length") != NULL, "%s", why);
	/* The largest allowed is merely incomplete. */
	header(buf, PRIVSEP_REC_FILE, 0, 4, PRIVSEP_FILE_MAX);
	cr_assert_eq(decode(buf, n + 4, &f, why, sizeof(why)),
	    PRIVSEP_NEED_MORE);
}

Test(privsep, wrong_lengths_refused)
{
	struct {
		int type;
		uint32_t err, plen, dlen;
		const char *why;
	} bad[] = {
	    {PRIVSEP_REC_FILE, 0, 0, 3, "path length"},
	    {PRIVSEP_REC_FILE, 0, PRIVSEP_PATH_MAX + 1, 0, "path length"},
	    {PRIVSEP_REC_FILE, 0, 0xffffffffu, 0, "path length"},
	    {PRIVSEP_REC_FILE, 2, 4, 3, "data length or error"},
	    {PRIVSEP_REC_FILE, 0x80000000u, 4, 0, "data length or error"},
	    {PRIVSEP_REC_REFUSED, 0, 0, 0, "refusal"},
	    {PRIVSEP_REC_REFUSED, 0, 4, 3, "refusal"},
	    {PRIVSEP_REC_REFUSED, 0, 0, PRIVSEP_REASON_MAX + 1, "refusal"},
	    {PRIVSEP_REC_END, 0, 0, 1, "end record"},
	    {PRIVSEP_REC_END, 1, 0, 0, "end record"},
	    {'Z', 0, 0, 0, "unknown record type"},
	};
	unsigned char buf[PRIVSEP_HEADER];
	struct privsep_files *f;
	char why[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		header(buf, bad[i].type, bad[i].err, bad[i].plen, bad[i].dlen);
		cr_assert_eq(decode(buf, sizeof(buf), &f, why, sizeof(why)),
		    PRIVSEP_INVALID, "case %zu", i);
		cr_assert(strstr(why, bad[i].why) != NULL, "case %zu: %s", i,
		    why);
	}
}

Test(privsep, nul_in_path_refused)
{
	unsigned char buf[2 * PRIVSEP_HEADER + 4];
	struct privsep_files *f;
	char why[256];
	size_t n = header(buf, PRIVSEP_REC_FILE, 2, 4, 0);

	memcpy(buf + n, "/a\0b", 4);
	n += 4;
	n += header(buf + n, PRIVSEP_REC_END, 0, 0, 0);
	cr_assert_eq(decode(buf, n, &f, why, sizeof(why)), PRIVSEP_INVALID);
	cr_assert_str_eq(why, "a NUL byte in a path");
}

Test(privsep, refusal_alone_or_not_at_all)
{
	static const unsigned char reason[] = "not root's";
	struct privsep_files *f;
	unsigned char *buf = NULL;
	size_t len = 0;
	char why[256];

	cr_assert_eq(privsep_encode(&buf, &len, PRIVSEP_REC_REFUSED, 0, NULL,
			 reason, sizeof(reason) - 1),
	    0);
	cr_assert_eq(
	    privsep_encode(&buf, &len, PRIVSEP_REC_END, 0, NULL, NULL, 0), 0);
	cr_assert_eq(decode(buf, len, &f, why, sizeof(why)), PRIVSEP_DONE);
	cr_assert_str_eq(f->refused, "not root's");
	cr_assert_eq(f->n, 0);
	privsep_files_free(f);
	free(buf);

	/* A file, then a refusal: one or the other. */
	buf = NULL;
	len = 0;
	privsep_encode(&buf, &len, PRIVSEP_REC_FILE, 2, "/a", NULL, 0);
	privsep_encode(&buf, &len, PRIVSEP_REC_REFUSED, 0, NULL, reason,
	    sizeof(reason) - 1);
	privsep_encode(&buf, &len, PRIVSEP_REC_END, 0, NULL, NULL, 0);
	cr_assert_eq(decode(buf, len, &f, why, sizeof(why)), PRIVSEP_INVALID);
	cr_assert_null(f);
	free(buf);
}

Test(privsep, too_many_files_refused)
{
	struct privsep_files *f;
	unsigned char *buf = NULL;
	size_t len = 0;
	char why[256], path[32];

	for (int i = 0; i <= PRIVSEP_FILES_MAX; i++) {
		snprintf(path, sizeof(path), "/f%d", i);
		cr_assert_eq(privsep_encode(&buf, &len, PRIVSEP_REC_FILE, 2,
				 path, NULL, 0),
		    0);
	}
	privsep_encode(&buf, &len, PRIVSEP_REC_END, 0, NULL, NULL, 0);
	cr_assert_eq(decode(buf, len, &f, why, sizeof(why)), PRIVSEP_INVALID);
	cr_assert_str_eq(why, "more files than allowed");
	free(buf);
}

Test(privsep, encode_keeps_its_bounds)
{
	unsigned char *buf = NULL, *big;
	size_t len = 0;
	char path[PRIVSEP_PATH_MAX + 2];

	memset(path, 'a', sizeof(path) - 1);
	path[sizeof(path) - 1] = '\0';
	cr_assert_eq(
	    privsep_encode(&buf, &len, PRIVSEP_REC_FILE, 0, path, NULL, 0), -1);
	big = calloc(1, PRIVSEP_FILE_MAX + 1);
	cr_assert_eq(privsep_encode(&buf, &len, PRIVSEP_REC_FILE, 0, "/a", big,
			 PRIVSEP_FILE_MAX + 1),
	    -1);
	cr_assert_eq(len, 0);
	cr_assert_null(buf);
	free(big);
}

/* A file under a new private directory; returns its path (static). */
static const char *
write_conf(const char *text)
{
	static char dir[64], path[128];
	FILE *fp;

	snprintf(dir, sizeof(dir), "/tmp/test_privsep.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/postern.ini", dir);
	cr_assert_not_null(fp = fopen(path, "w"));
	fputs(text, fp);
	fclose(fp);
	chmod(path, 0644);
	return path;
}

static void
remove_conf(const char *path)
{
	char dir[128];

	snprintf(dir, sizeof(dir), "%s", path);
	*strrchr(dir, '/') = '\0';
	unlink(path);
	rmdir(dir);
}

Test(privsep, paths_of_the_tls_sections_only)
{
	const char *path = write_conf(
	    "[postern]\nuser = nobody\n"
	    "[tls]\ncertificate = /etc/c.pem\nprivate_key = /etc/k.pem\n"
	    "ciphers = HIGH\n"
	    "[tls \"mail.example.org\"]\ncertificate = /etc/m.pem\n"
	    "private_key = /etc/k.pem\n"
	    "[tlsx]\ncertificate = /etc/x.pem\n"
	    "[pop3]\ncertificate = /etc/p.pem\n"
	    "[tls \"empty.example.org\"]\ncertificate =\n");
	char **paths, why[256];
	size_t n;

	cr_assert_eq(privsep_conf_paths(path, &paths, &n, why, sizeof(why)), 0,
	    "%s", why);
	cr_assert_eq(n, 3);
	cr_assert_str_eq(paths[0], "/etc/c.pem");
	cr_assert_str_eq(paths[1], "/etc/k.pem");
	cr_assert_str_eq(paths[2], "/etc/m.pem");
	for (size_t i = 0; i < n; i++)
		free(paths[i]);
	free(paths);
	remove_conf(path);
	cr_assert_eq(privsep_conf_paths(path, &paths, &n, why, sizeof(why)),
	    -1);
	cr_assert(strstr(why, "No such file") != NULL, "%s", why);
}

Test(privsep, configuration_others_may_change_not_trusted)
{
	const char *path = write_conf("[tls]\n");
	char why[512];

	if (geteuid() != 0) {
		/* Not root's: never trusted. */
		cr_assert_eq(privsep_conf_trusted(path, why, sizeof(why)), -1);
		cr_assert(strstr(why, "may be changed by others than root"));
		remove_conf(path);
		return;
	}
	cr_assert_eq(privsep_conf_trusted(path, why, sizeof(why)), 0, "%s",
	    why);
	chmod(path, 0664);
	cr_assert_eq(privsep_conf_trusted(path, why, sizeof(why)), -1);
	cr_assert(strstr(why, "the configuration file") != NULL, "%s", why);
	chmod(path, 0644);
	cr_assert_eq(chown(path, 65534, 0), 0);
	cr_assert_eq(privsep_conf_trusted(path, why, sizeof(why)), -1);
	cr_assert_eq(chown(path, 0, 0), 0);
	{
		char dir[128];

		snprintf(dir, sizeof(dir), "%s", path);
		*strrchr(dir, '/') = '\0';
		chmod(dir, 0777);
		cr_assert_eq(privsep_conf_trusted(path, why, sizeof(why)), -1);
		cr_assert(strstr(why, "the directory") != NULL, "%s", why);
		/* Sticky, as /tmp: no one else may replace root's file. */
		chmod(dir, 01777);
		cr_assert_eq(privsep_conf_trusted(path, why, sizeof(why)), 0,
		    "%s", why);
		chmod(dir, 0700);
	}
	remove_conf(path);
}

Test(privsep, every_directory_above_and_a_links_target_count)
{
	char top[64], sub[96], conf[128], link[128], why[512];
	FILE *fp;

	if (geteuid() != 0)
		cr_skip_test("needs root: only root's files are trusted");
	snprintf(top, sizeof(top), "/tmp/test_privsep.XXXXXX");
	cr_assert_not_null(mkdtemp(top));
	snprintf(sub, sizeof(sub), "%s/etc", top);
	snprintf(conf, sizeof(conf), "%s/postern.ini", sub);
	snprintf(link, sizeof(link), "%s/link.ini", top);
	cr_assert_eq(mkdir(sub, 0755), 0);
	cr_assert_not_null(fp = fopen(conf, "w"));
	fclose(fp);
	chmod(conf, 0644);
	cr_assert_eq(symlink(conf, link), 0);
	cr_assert_eq(privsep_conf_trusted(conf, why, sizeof(why)), 0, "%s",
	    why);
	cr_assert_eq(privsep_conf_trusted(link, why, sizeof(why)), 0, "%s",
	    why);
	/* A directory two levels up that others may write to: they may
	 * rename the one below and put their own in its place. */
	chmod(top, 0777);
	cr_assert_eq(privsep_conf_trusted(conf, why, sizeof(why)), -1);
	cr_assert(strstr(why, "the directory /tmp/test_privsep.") != NULL, "%s",
	    why);
	chmod(top, 0700);
	/* Through a link, the file that is read is what counts. */
	chmod(sub, 0775);
	cr_assert_eq(privsep_conf_trusted(link, why, sizeof(why)), -1);
	cr_assert(strstr(why, "/etc may be changed") != NULL, "%s", why);
	unlink(link);
	unlink(conf);
	rmdir(sub);
	rmdir(top);
}
