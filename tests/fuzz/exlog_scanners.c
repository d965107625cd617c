/*
 * exlog_scanners: exlogread's three line scanners (scalar, SSE2, AVX2)
 * against each other on the same bytes.  The input is a log file's bytes,
 * handed to each reader in the same chunks, cut at split points taken from
 * the input (fuzz.h); each chunk is a heap copy of exactly its size, so
 * that a scanner's wide load past the end of a block shows up.
 *
 * Invariants: every scanner the CPU has gives the same rows, field by
 * field, the same malformed lines with the same reasons and line numbers,
 * and so does the scalar scanner on the file read whole; a row has 12 or
 * 13 fields and every field fits in EXLOG_LINE_MAX.
 */
#include "config.h"

#include <stdbool.h>

#include "exlogread.h"
#include "fuzz.h"

static uint64_t
row_digest(uint64_t h, enum exlog_result res, const struct exlog_row *row)
{
	h = fuzz_hash_u64(h,
	    (uint64_t)res << 56 | (uint64_t)row->bad << 48 | row->line);
	if (res == EXLOG_NEED_MORE)
		return h;
	if (res == EXLOG_ROW) {
		FUZZ_CHECK(row->nfields >= EXLOG_MIN_FIELDS &&
			   row->nfields <= EXLOG_FIELDS);
		FUZZ_CHECK(row->bad == EXLOG_BAD_NONE);
	} else
		FUZZ_CHECK(row->bad != EXLOG_BAD_NONE);
	h = fuzz_hash_u64(h, (uint64_t)row->nfields);
	if (res != EXLOG_ROW)
		return h;
	for (int f = 0; f < EXLOG_FIELDS; f++) {
		FUZZ_CHECK(row->f[f].len <= EXLOG_LINE_MAX);
		h = fuzz_hash_u64(h, row->f[f].len);
		if (row->f[f].len > 0)
			h = fuzz_hash(h, row->f[f].p, row->f[f].len);
	}
	return h;
}

static uint64_t
run(const char *scanner, struct fuzz_split sp)
{
	struct exlog_reader r;
	struct exlog_row row;
	enum exlog_result res;
	uint64_t h = FUZZ_HASH_INIT;
	size_t off = 0;

	FUZZ_CHECK(exlog_scanner_force(scanner) == 0);
	FUZZ_CHECK(exlog_reader_init(&r) == 0);
	FUZZ_CHECK(strcmp(exlog_scanner_name(&r), scanner) == 0);
	while (off < sp.len) {
		size_t chunk = fuzz_split_next(&sp, sp.len - off);
		char *buf = fuzz_dup(sp.stream + off, chunk);
		size_t at = 0, used;

		while (at < chunk) {
			used = (size_t)-1;
			res = exlog_read(&r, buf + at, chunk - at, &used, &row);
			FUZZ_CHECK(used <= chunk - at);
			at += used;
			if (res == EXLOG_NEED_MORE) {
				FUZZ_CHECK(at == chunk);
				break;
			}
			h = row_digest(h, res, &row);
		}
		free(buf);
		off += chunk;
	}
	res = exlog_finish(&r, &row);
	h = row_digest(h, res, &row);
	h = fuzz_hash_u64(h, r.comments << 8 | (uint64_t)r.logtype);
	exlog_reader_free(&r);
	FUZZ_CHECK(exlog_scanner_force(NULL) == 0);
	return h;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const scanners[] = {"sse2", "avx2"};
	struct fuzz_split sp, whole;
	uint64_t ref;

	if (fuzz_split_init(&sp, data, size) == -1)
		return 0;
	whole = sp;
	whole.nsizes = 0;
	ref = run("scalar", sp);
	FUZZ_CHECK(run("scalar", whole) == ref);
	for (size_t i = 0; i < sizeof(scanners) / sizeof(scanners[0]); i++) {
		/* A scanner this CPU or build lacks is skipped. */
		if (exlog_scanner_force(scanners[i]) == -1)
			continue;
		FUZZ_CHECK(run(scanners[i], sp) == ref);
	}
	return 0;
}
