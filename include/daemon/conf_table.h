/*
 * conf_table: what a module gives the configuration engine, and what the
 * engine gives back.
 *
 * Each module that has settings describes them in a struct conf_module:
 * the sections it owns, its tables of keys (a table may add keys to a
 * section another module owns, as the protocol-log keys do to [pop3] and
 * [imap]), and its defaults, check, and free functions.  conf_modules.c
 * lists every module, in one array, in the order the file's sections are
 * documented; the engine (conf.c) reads the file, calls each key's value
 * parser with the key's target in the module's settings, and collects
 * the errors with their lines.  The engine knows no module: section
 * names, keys, defaults and checks all come from the tables.
 *
 * Adding a key is one row in its module's table (and a test); adding a
 * section is one struct conf_section in the module that owns it.
 */
#ifndef POSTERN_CONF_TABLE_H
#define POSTERN_CONF_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "conf.h"

struct addrset;
struct conf_loader;
struct conf_key;
struct conf_dump;

/*
 * Parses value into dst (the key's target: the table's base plus the
 * key's offset).  Reports its own errors with conf_key_error(); returns
 * 0, or -1 after an error.
 */
typedef int conf_parser(struct conf_loader *l, const struct conf_key *k,
    const char *value, void *dst);

/* A name a key accepts and the value it stands for. */
struct conf_enum {
	const char *name;
	int value;
};

/* Key flags. */
#define CONF_LIST 0x1u      /* may be repeated and continued; appends */
#define CONF_UNLIMITED 0x2u /* "unlimited" is accepted for 0 */
#define CONF_AUTO 0x4u      /* "auto" is accepted; the parser decides */
/*
 * Takes every key its section's table does not name, each line once
 * (the keys are the file's own, as in [route_values]); its parser reads
 * the line with conf_line().
 */
#define CONF_ANYKEY 0x8u

/* One key of a section. */
struct conf_key {
	const char *name;
	conf_parser *parse;
	size_t offset;     /* of the target in what the table's base returns */
	uint64_t min, max; /* numbers; milliseconds for durations */
	unsigned flags;
	const struct conf_enum *names; /* conf_key_enum() */
};

/*
 * A kind of section.  Three forms: one section named name ([tls]); one
 * section per instance, named by instance_name() ([pop3], [imap]); or
 * sections the file may repeat with a label, [name "<label>"], each
 * opened by open().
 */
struct conf_section {
	const char *name; /* tables refer to the section by it */
	unsigned count;   /* instances of a named-by-instance section */
	const char *(*instance_name)(unsigned i);
	/*
	 * A labelled section's header; rest is what follows the name.
	 * Reports what is wrong with it and returns -1, or returns the new
	 * instance's index and writes its name for messages to label.
	 */
	int (*open)(struct conf_loader *l, const char *rest, char *label,
	    size_t len);
};

/* A module's keys in one kind of section. */
struct conf_table {
	const char *section; /* a struct conf_section name */
	/* Where the keys' offsets lead, for section instance inst. */
	void *(*base)(struct conf *c, unsigned inst);
	const struct conf_key *keys;
	size_t nkeys;
};

/* What a module gives the engine. */
struct conf_module {
	const char *name;
	const struct conf_section *sections; /* the sections it owns */
	size_t nsections;
	const struct conf_table *tables;
	size_t ntables;
	size_t state_size; /* its scratch while one file is read */
	/* Sets the defaults before the file is read; -1 when out of memory. */
	int (*defaults)(struct conf_loader *l, struct conf *c);
	/* After the whole file is read: derived values and checks. */
	void (*check)(struct conf_loader *l, struct conf *c);
	/* Frees what its scratch holds (not the scratch itself); the
	 * snapshot may be gone already. */
	void (*load_end)(struct conf_loader *l);
	/* Frees its settings in c. */
	void (*free)(struct conf *c);
	/* Adds the rows of its settings of instance inst to the dump. */
	void (*dump)(const struct conf *c, unsigned inst, struct conf_dump *d);
};

/* Every module with settings, in the order of the file's sections. */
extern const struct conf_module *const conf_modules[];
extern const size_t conf_nmodules;

/* --- For modules: the file being read ------------------------------- */

/* An error at line (0: about the file as a whole). */
void conf_error(struct conf_loader *l, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* An error about k's value on the current line: "[section] key: ...". */
void conf_key_error(struct conf_loader *l, const struct conf_key *k,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Whether an error was reported at line. */
bool conf_has_error_at(const struct conf_loader *l, int line);

/* Records that memory ran out; the load then fails with that error. */
void conf_oom(struct conf_loader *l);

/* strdup() that records running out of memory. */
char *conf_strdup(struct conf_loader *l, const char *s);

/* The snapshot being built. */
struct conf *conf_loader_conf(struct conf_loader *l);

/* The line being read. */
int conf_lineno(const struct conf_loader *l);

/* The text of the line being read, whole, as the file has it. */
const char *conf_line(const struct conf_loader *l);

/*
 * The label of a [section "<label>"] header, for open(): rest is what
 * follows the section's name.  Returns the label's first character and
 * sets *len (the label may be empty), or reports "expected [section
 * "<what>"], the name in double quotes" and returns NULL.
 */
const char *conf_section_label(struct conf_loader *l, const char *rest,
    const char *section, const char *what, size_t *len);

/* The instance of the section being read (a protocol, a rule). */
unsigned conf_instance(const struct conf_loader *l);

/* The scratch of module m for this file, zeroed at the start. */
void *conf_state(struct conf_loader *l, const struct conf_module *m);

/* The line of section's header for instance inst, 0 if absent. */
int conf_section_line(const struct conf_loader *l, const char *section,
    unsigned inst);

/* The line where section instance inst first set key, 0 if never. */
int conf_key_line(const struct conf_loader *l, const char *section,
    unsigned inst, const char *key);

/* --- For modules: value parsers and what they build on --------------- */

/* Numbers: min-max, with "unlimited" (CONF_UNLIMITED) for 0. */
conf_parser conf_key_uint;
/* Durations into unsigned ms, min-max. */
conf_parser conf_key_duration;
conf_parser conf_key_bool;
/* One of k->names, case-insensitive, into an int. */
conf_parser conf_key_enum;
/* A string (char *), NULL when empty; replaces an earlier value. */
conf_parser conf_key_string;
conf_parser conf_key_abspath;
/* A file that must be readable now (CA certificates). */
conf_parser conf_key_cafile;
conf_parser conf_key_hostname;
/* Comma-separated addresses, ranges and networks into an addrset. */
conf_parser conf_key_addrset;

/*
 * Calls fn on each comma-separated item of v, blanks trimmed, skipping
 * empty items (a list may end with a comma).  An item too long for fn is
 * reported as "<what>'item...' is too long".  Returns -1 if any failed,
 * after trying them all.
 */
int conf_for_items(struct conf_loader *l, const struct conf_key *k,
    const char *v, const char *what, conf_parser *fn, void *dst);

/* Digits into *out, advancing *sp; -1 when none or on overflow. */
int conf_parse_digits(const char **sp, uint64_t *out);

/* Exchange's TimeSpan, [d.]hh:mm:ss[.fffffff], into ms. */
int conf_parse_timespan(const char *s, uint64_t *ms);

/* A port number, 1-65535, digits only. */
int conf_parse_port(const char *s, unsigned *port);

/* A host name or an IP address literal. */
bool conf_valid_hostname(const char *s);

/* The name of value in names, "?" if none. */
const char *conf_enum_name(const struct conf_enum *names, int value);

#define CONF_SEC_MS 1000u
#define CONF_MIN_MS (60 * CONF_SEC_MS)
#define CONF_HOUR_MS (60 * CONF_MIN_MS)
#define CONF_DAY_MS (24 * CONF_HOUR_MS)

/* --- For modules: the settings dump (postern -T) ---------------------- */

/*
 * The rows of the block being written: "Name : Value" lines aligned on
 * their colons; blocks are separated by a blank line.
 */
struct conf_dump;

/* Room for one row's value, its NUL included. */
#define CONF_DUMP_VALUE 512

/* A new row; returns its value buffer (CONF_DUMP_VALUE bytes, empty). */
char *conf_dump_row(struct conf_dump *d, const char *name);

/* A row with a printf-formatted value. */
void conf_dump_set(struct conf_dump *d, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A row with s, or an empty value for NULL. */
void conf_dump_str(struct conf_dump *d, const char *name, const char *s);

/* A row with True or False. */
void conf_dump_bool(struct conf_dump *d, const char *name, bool b);

/*
 * A row holding a list: the caller writes each item followed by '\n'
 * to the stream returned, then calls conf_dump_list_end().  The list is
 * wrapped as the file's continuation lines read, or with repeat, one row
 * per item (for items that may hold commas).  NULL when out of memory
 * (the row then says so).
 */
FILE *conf_dump_list(struct conf_dump *d, const char *name, bool repeat);
void conf_dump_list_end(struct conf_dump *d, FILE *fp);

/* A row listing set's ranges (none for NULL). */
void conf_dump_addrset(struct conf_dump *d, const char *name,
    const struct addrset *set);

/* A row listing sl, with repeat as conf_dump_list(). */
void conf_dump_strlist(struct conf_dump *d, const char *name,
    const struct strlist *sl, bool repeat);

/* Writes the rows so far as one block (nothing when there are none). */
void conf_dump_block(struct conf_dump *d);

/* The blocks of "postern -T", in order: conf_modules.c, by the list. */
void conf_dump_modules(const struct conf *c, struct conf_dump *d);

/* "1h", "30s", "500ms": the largest unit that divides ms exactly. */
void conf_fmt_duration(unsigned ms, char *buf, size_t len);

/* Exchange's TimeSpan display: hh:mm:ss, d.hh:mm:ss past a day. */
void conf_fmt_timespan(unsigned ms, char *buf, size_t len);

/* A limit: "unlimited" for 0. */
void conf_fmt_limit(unsigned v, char *buf, size_t len);

#endif
