/*
 * routemap: the routing map parser (src/daemon/routemap.c) on a whole map
 * file, then lookups of names taken from the same input.  The first byte
 * says where the map ends: the rest after it is a list of names to look up,
 * one a line.
 *
 * Invariants: a map is refused with at least one error, every error's line
 * is in the file, and a map that is accepted holds no NUL or control byte
 * and no line over ROUTEMAP_LINE_MAX; a lookup answers -1 with no entry
 * (kind ROUTEMAP_NONE, line 0) or a number the resolver gave with the
 * line of a route in the file; the whole login name's own entry wins.
 */
#include "config.h"

#include <stdbool.h>

#include "fuzz.h"
#include "routemap.h"

static int nlines, nerrors;

static int
resolve(void *arg, const char *name, int line)
{
	(void)arg;
	FUZZ_CHECK(line >= 1 && line <= nlines);
	if (strcmp(name, "old") == 0)
		return 0;
	if (strcmp(name, "new") == 0)
		return 1;
	if (strcmp(name, "refused") == 0)
		return -2;
	return -1;
}

static void
error(void *arg, int line, const char *msg)
{
	(void)arg;
	FUZZ_CHECK(line >= 0 && line <= nlines);
	FUZZ_CHECK(msg[0] != '\0');
	nerrors++;
}

/* Whether the map text could be accepted at all. */
static bool
plausible(const uint8_t *p, size_t n)
{
	size_t i, col = 0;

	for (i = 0; i < n; i++) {
		if (p[i] == '\n') {
			col = 0;
			continue;
		}
		if (p[i] == '\0' || p[i] == 0x7f ||
		    (p[i] < 0x20 && p[i] != '\t' && p[i] != '\r'))
			return false;
		/* A line's end may be CRLF; the BOM is not counted. */
		if (++col > ROUTEMAP_LINE_MAX + 4)
			return false;
	}
	return true;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct routemap *m;
	enum routemap_match kind;
	const uint8_t *names;
	size_t maplen, i, nnames;
	char name[300];
	int v, line;

	if (size < 1)
		return 0;
	maplen = (size_t)data[0] * 8;
	data++;
	size--;
	if (maplen > size)
		maplen = size;
	nlines = 1;
	for (i = 0; i < maplen; i++)
		nlines += data[i] == '\n';
	nerrors = 0;
	m = routemap_parse((const char *)data, maplen, resolve, error, NULL);
	FUZZ_CHECK((m == NULL) == (nerrors > 0) ||
		   (m == NULL && memmem(data, maplen, "refused", 7) != NULL));
	if (m == NULL)
		return 0;
	FUZZ_CHECK(plausible(data, maplen));
	FUZZ_CHECK(routemap_count(m) <= (size_t)nlines);
	names = data + maplen;
	nnames = size - maplen;
	while (nnames > 0) {
		const uint8_t *nl = memchr(names, '\n', nnames);
		size_t n = nl ? (size_t)(nl - names) : nnames;

		if (n < sizeof(name) && memchr(names, '\0', n) == NULL) {
			memcpy(name, names, n);
			name[n] = '\0';
			v = routemap_lookup(m, name, &kind, &line);
			FUZZ_CHECK(v >= -1 && v <= 1);
			FUZZ_CHECK((v == -1) == (kind == ROUTEMAP_NONE));
			FUZZ_CHECK(
			    v == -1 ? line == 0 : line >= 1 && line <= nlines);
		}
		names += n + (nl != NULL);
		nnames -= n + (nl != NULL);
	}
	routemap_free(m);
	return 0;
}
