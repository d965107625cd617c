/*
 * imap_preauth: the IMAP pre-login parser (imap_parse, imap_parse_sasl)
 * over a client's byte stream cut at split points taken from the input.
 *
 * The store is allocated with exactly the capacity the parser is told, as
 * imap.c sizes it (max_command_size plus two literals), so that ASan sees
 * any write past it.  The settings byte picks max_command_size over its
 * whole configurable range: a small one makes the store small enough for
 * the fuzzer to fill.
 *
 * Bit 7 of the settings byte refuses every AUTHENTICATE without an
 * initial response, as the login-type policy does, so that the next line
 * goes through imap_parse_refused().
 *
 * Invariants: the store never holds more than its capacity; every value
 * lies inside it and ends in its NUL; a refused command carries no values
 * and a reason; the parser consumes everything unless it has a result;
 * and the stream read whole gives the same results as the stream split.
 */
#include "config.h"

#include <stdbool.h>
#include <strings.h>

#include "fuzz.h"
#include "imap.h"
#include "sasl.h"

/* imap.c: a literal before login is at most a password long. */
#define LITERAL_MAX SASL_PASS_MAX

static bool
atom_char(unsigned char c)
{
	return c > 0x20 && c < 0x7f && strchr("(){\"", c) == NULL;
}

static uint64_t
check_command(const struct imap_parser *p, enum imap_parse_result r, uint64_t h)
{
	const struct imap_command *cmd = &p->cmd;

	FUZZ_CHECK(strlen(cmd->tag) <= IMAP_TAG_MAX);
	FUZZ_CHECK(strlen(cmd->name) < sizeof(cmd->name));
	FUZZ_CHECK(cmd->nargs <= IMAP_ARGS_MAX);
	if (r == IMAP_PARSE_INVALID)
		FUZZ_CHECK(cmd->nargs == 0 && cmd->error != IMAP_ERR_NONE);
	if (r == IMAP_PARSE_COMMAND)
		FUZZ_CHECK(cmd->error == IMAP_ERR_NONE);
	if (r == IMAP_PARSE_SASL_RESPONSE || r == IMAP_PARSE_SASL_CANCEL)
		FUZZ_CHECK(cmd->nargs == 1);
	h = fuzz_hash(h, cmd->tag, strlen(cmd->tag) + 1);
	h = fuzz_hash(h, cmd->name, strlen(cmd->name) + 1);
	h = fuzz_hash_u64(h,
	    (uint64_t)cmd->cmd << 32 | cmd->error << 1 | cmd->fatal);
	h = fuzz_hash_u64(h, cmd->nargs);
	for (size_t i = 0; i < cmd->nargs; i++) {
		const struct imap_value *v = &cmd->args[i];

		h = fuzz_hash_u64(h, (uint64_t)v->type << 48 | v->len);
		if (v->type == IMAP_VAL_LIST) {
			FUZZ_CHECK(v->len <= cmd->nargs - i - 1);
			continue;
		}
		FUZZ_CHECK(v->data >= p->store);
		FUZZ_CHECK(v->len < p->cap);
		FUZZ_CHECK((size_t)(v->data - p->store) + v->len < p->cap);
		FUZZ_CHECK(v->data[v->len] == '\0');
		h = fuzz_hash(h, v->data, v->len);
		switch (v->type) {
		case IMAP_VAL_LITERAL:
			FUZZ_CHECK(v->len <= LITERAL_MAX);
			break;
		case IMAP_VAL_QUOTED:
			for (size_t k = 0; k < v->len; k++)
				FUZZ_CHECK(v->data[k] != '\r' &&
					   v->data[k] != '\n' &&
					   v->data[k] != '\0');
			break;
		case IMAP_VAL_ATOM:
		case IMAP_VAL_NIL:
			if (r != IMAP_PARSE_COMMAND)
				break;
			for (size_t k = 0; k < v->len; k++)
				FUZZ_CHECK(
				    atom_char((unsigned char)v->data[k]));
			break;
		case IMAP_VAL_LIST:
			break;
		}
	}
	return h;
}

/* Parses stream[0..len), in chunks when sp is not NULL; returns a digest. */
static uint64_t
run(const uint8_t *stream, size_t len, struct fuzz_split *sp, size_t max_line,
    bool refuse)
{
	size_t cap = max_line + 2 * LITERAL_MAX, off = 0;
	char *store = malloc(cap);
	struct imap_parser *p = malloc(sizeof(*p));
	uint64_t h = FUZZ_HASH_INIT;
	int sasl_lines = 0;
	bool over = false, refused = false;

	FUZZ_CHECK(store != NULL && p != NULL);
	FUZZ_CHECK(imap_parser_init(p, max_line, LITERAL_MAX, store, cap) == 0);
	while (off < len && !over) {
		size_t chunk =
		    sp != NULL ? fuzz_split_next(sp, len - off) : len - off;
		char *buf = fuzz_dup(stream + off, chunk);
		size_t i = 0;

		while (i < chunk && !over) {
			enum imap_parse_result r;
			size_t used = (size_t)-1;
			bool sasl = sasl_lines > 0, wasrefused = refused;

			if (refused)
				r = imap_parse_refused(p, buf + i, chunk - i,
				    &used);
			else if (sasl)
				r = imap_parse_sasl(p, buf + i, chunk - i,
				    &used);
			else
				r = imap_parse(p, buf + i, chunk - i, &used);
			FUZZ_CHECK(used <= chunk - i);
			FUZZ_CHECK(p->used <= p->cap);
			if (r == IMAP_PARSE_NEED_MORE)
				FUZZ_CHECK(used == chunk - i);
			else
				FUZZ_CHECK(used > 0);
			i += used;
			/* Where NEED_MORE comes depends on the split. */
			if (r != IMAP_PARSE_NEED_MORE)
				h = fuzz_hash_u64(h,
				    (uint64_t)r << 56 | (off + i));
			switch (r) {
			case IMAP_PARSE_NEED_MORE:
			case IMAP_PARSE_LITERAL_WAIT:
				continue;
			case IMAP_PARSE_COMMAND:
			case IMAP_PARSE_INVALID:
			case IMAP_PARSE_SASL_RESPONSE:
			case IMAP_PARSE_SASL_CANCEL:
				h = check_command(p, r, h);
				break;
			case IMAP_PARSE_SASL_DISCARD:
				/* Only a refused exchange discards, and then
				 * nothing of the line stays in the command. */
				FUZZ_CHECK(wasrefused);
				FUZZ_CHECK(p->cmd.nargs == 0);
				break;
			}
			if (wasrefused && r != IMAP_PARSE_NEED_MORE &&
			    r != IMAP_PARSE_LITERAL_WAIT)
				refused = false;
			if (p->cmd.fatal) {
				/* imap.c closes the connection. */
				over = true;
				break;
			}
			if (sasl)
				sasl_lines = r == IMAP_PARSE_SASL_RESPONSE ?
						 sasl_lines - 1 :
						 0;
			else if (r == IMAP_PARSE_COMMAND &&
				 p->cmd.cmd == IMAP_CMD_AUTHENTICATE &&
				 p->cmd.nargs == 1) {
				if (refuse)
					refused = true;
				else
					/* LOGIN asks twice, PLAIN once
					 * (RFC 4616). */
					sasl_lines =
					    strcasecmp(p->cmd.args[0].data,
						"LOGIN") == 0 ?
						2 :
						1;
			}
		}
		free(buf);
		off += chunk;
	}
	free(p);
	free(store);
	return h;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_split sp;
	size_t max_line;

	if (fuzz_split_init(&sp, data, size) == -1)
		return 0;
	/* max_command_size may be 1024 to 16384 for IMAP (conf.c). */
	max_line = 1024 + (size_t)(sp.settings & 63) * 244;
	if (max_line > 16384)
		max_line = 16384;
	if (sp.settings & 64)
		max_line = 10240; /* the default */
	FUZZ_CHECK(run(sp.stream, sp.len, &sp, max_line, sp.settings & 128) ==
		   run(sp.stream, sp.len, NULL, max_line, sp.settings & 128));
	return 0;
}
