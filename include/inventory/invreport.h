/*
 * invreport: writes a finished inventory as a terminal table, CSV, JSON or
 * one self-contained HTML page.
 *
 * Every value that comes from a log (addresses, user names, software
 * names) is client-controlled: the table replaces control characters, CSV
 * defuses spreadsheet formulas, JSON and HTML escape.  The JSON keys are
 * stable and documented in postern-inventory(1).
 */
#ifndef POSTERN_INVREPORT_H
#define POSTERN_INVREPORT_H

#include <stdint.h>
#include <stdio.h>

#include "inventory.h"

/* The output formats (--format). */
enum invreport_format {
	INVREPORT_TABLE,
	INVREPORT_CSV,
	INVREPORT_JSON,
	INVREPORT_HTML
};

/* The version of the JSON document's layout ("schema" key). */
#define INVREPORT_JSON_SCHEMA 1

/* How to write. */
struct invreport_options {
	enum invreport_format format;
	unsigned width;      /* table: columns available, 0 for no limit */
	int64_t now_ms;      /* the time written as "generated" */
	const char *version; /* the program's version */
};

/* Parses a --format value; 0, or -1 for an unknown name. */
int invreport_parse_format(const char *s, enum invreport_format *out);

/* Writes the report; 0, or -1 when writing failed. */
int invreport_write(FILE *out, const struct inventory *inv,
    const struct invreport_options *o);

#endif /* POSTERN_INVREPORT_H */
