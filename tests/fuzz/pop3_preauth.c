/*
 * pop3_preauth: the POP3 pre-login parser (pop3_parse) as pop3.c uses it:
 * the client's bytes arrive in chunks cut at split points taken from the
 * input, gather in a buffer, and every complete line is taken off its
 * start.  The buffer handed to the parser is a heap copy of exactly the
 * bytes pending, so that ASan sees a read past them.
 *
 * Invariants: the result agrees with a plain reading (the first LF within
 * max bytes ends a command; none within max bytes of a buffer at least
 * that long is too long; otherwise more is needed); a command's verb and
 * argument lie inside its line; the split stream reads as the whole one.
 * Each line also goes through the answer classifiers and, for USER, PASS
 * and AUTH, the credential decoders, for what they do on any bytes.
 */
#include "config.h"

#include <ctype.h>
#include <stdbool.h>

#include "fuzz.h"
#include "pop3.h"
#include "sasl.h"

static uint64_t
check_command(const char *buf, size_t len, size_t max,
    const struct pop3_command *cmd, uint64_t h)
{
	const char *lf = memchr(buf, '\n', len);
	size_t end;

	FUZZ_CHECK(lf != NULL);
	FUZZ_CHECK(cmd->linelen == (size_t)(lf - buf) + 1);
	FUZZ_CHECK(cmd->linelen <= max);
	end = cmd->linelen - 1;
	if (end > 0 && buf[end - 1] == '\r')
		end--;
	FUZZ_CHECK(cmd->empty == (end == 0));
	FUZZ_CHECK(strlen(cmd->name) < sizeof(cmd->name));
	for (const char *c = cmd->name; *c != '\0'; c++)
		FUZZ_CHECK(!isupper((unsigned char)*c));
	if (!cmd->empty) {
		FUZZ_CHECK(cmd->arg >= buf && cmd->arg <= buf + end);
		FUZZ_CHECK(cmd->arg + cmd->arglen == buf + end);
	}
	h = fuzz_hash_u64(h, (uint64_t)cmd->verb << 48 | cmd->linelen);
	h = fuzz_hash(h, cmd->name, strlen(cmd->name));
	if (cmd->arg != NULL)
		h = fuzz_hash(h, cmd->arg, cmd->arglen);
	return h;
}

/* What pop3.c and backend.c do with lines: none may crash on any bytes. */
static void
classify(const char *line, size_t len, const struct pop3_command *cmd)
{
	struct pop3_capa capa = {0};
	struct sasl_creds *creds = malloc(sizeof(*creds));
	enum sasl_error e;

	FUZZ_CHECK(creds != NULL);
	memset(creds, 0, sizeof(*creds));
	(void)pop3_status(line, len);
	(void)pop3_err_is_system(line, len);
	(void)pop3_greeting_xclient(line, len);
	pop3_capa_line(&capa, line, len);
	(void)pop3_multiline(cmd);
	switch (cmd->verb) {
	case POP3_CMD_USER:
	case POP3_CMD_PASS:
		e = sasl_creds_set(creds,
		    cmd->verb == POP3_CMD_USER ? SASL_FIELD_USER :
						 SASL_FIELD_PASS,
		    cmd->arg, cmd->arglen);
		if (e == SASL_OK) {
			const char *v = cmd->verb == POP3_CMD_USER ?
					    creds->user :
					    creds->pass;

			FUZZ_CHECK(strlen(v) == cmd->arglen);
			FUZZ_CHECK(memcmp(v, cmd->arg, cmd->arglen) == 0);
			FUZZ_CHECK(memchr(v, '\r', cmd->arglen) == NULL);
		}
		break;
	case POP3_CMD_AUTH:
		/* "AUTH PLAIN <initial response>" (RFC 5034). */
		if (cmd->arglen > 6 && strncasecmp(cmd->arg, "PLAIN ", 6) == 0)
			(void)sasl_plain_decode(cmd->arg + 6, cmd->arglen - 6,
			    creds);
		break;
	default:
		break;
	}
	sasl_creds_clear(creds);
	free(creds);
}

static uint64_t
run(const uint8_t *stream, size_t len, struct fuzz_split *sp, size_t max)
{
	uint64_t h = FUZZ_HASH_INIT;
	size_t off = 0, pend = 0;
	char *pending = malloc(len ? len : 1);

	FUZZ_CHECK(pending != NULL);
	while (off < len) {
		size_t chunk =
		    sp != NULL ? fuzz_split_next(sp, len - off) : len - off;
		bool over = false;

		memcpy(pending + pend, stream + off, chunk);
		pend += chunk;
		off += chunk;
		while (pend > 0) {
			struct pop3_command cmd;
			enum pop3_parse_result r;
			char *buf = fuzz_dup(pending, pend);
			const char *lf =
			    memchr(buf, '\n', pend < max ? pend : max);

			r = pop3_parse(buf, pend, max, &cmd);
			if (lf != NULL)
				FUZZ_CHECK(r == POP3_COMMAND);
			else if (pend >= max)
				FUZZ_CHECK(r == POP3_TOO_LONG);
			else
				FUZZ_CHECK(r == POP3_NEED_MORE);
			/* NEED_MORE depends on the split, the rest not. */
			if (r != POP3_NEED_MORE)
				h = fuzz_hash_u64(h,
				    (uint64_t)r << 56 | (off - pend));
			if (r == POP3_COMMAND) {
				h = check_command(buf, pend, max, &cmd, h);
				classify(buf, cmd.linelen - 1, &cmd);
				memmove(pending, pending + cmd.linelen,
				    pend - cmd.linelen);
				pend -= cmd.linelen;
			}
			free(buf);
			if (r == POP3_TOO_LONG)
				over = true; /* pop3.c closes the connection */
			if (r != POP3_COMMAND)
				break;
		}
		if (over)
			break;
	}
	free(pending);
	return h;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_split sp;
	size_t max;

	if (fuzz_split_init(&sp, data, size) == -1)
		return 0;
	/* max_command_size may be 40 to 1024 for POP3 (conf.c). */
	max = sp.settings & 128 ? 512 : 40 + (size_t)(sp.settings & 127) * 8;
	if (max > 1024)
		max = 1024;
	FUZZ_CHECK(run(sp.stream, sp.len, &sp, max) ==
		   run(sp.stream, sp.len, NULL, max));
	return 0;
}
