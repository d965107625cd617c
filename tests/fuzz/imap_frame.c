/*
 * imap_frame: the IMAP relay's framers (imap_cframe, imap_sframe) and its
 * compression guard (imap_guard_client, imap_guard_server) over one
 * direction of a session after login, cut at split points taken from the
 * input.  Bit 0 of the settings byte picks the direction: 0 the client's
 * commands, 1 the server's answers.
 *
 * The checks hold whatever the framers decide about literals:
 *  - a framer consumes every byte unless it has a result, and a command's
 *    byte count is the distance from the end of the one before;
 *  - what is kept (tag, verb, parameters, the start of a tagged line) fits
 *    its array and ends in its NUL;
 *  - LOGIN keeps no parameter and AUTHENTICATE nothing after its
 *    mechanism (its first word): only the mask "*****" may follow;
 *  - the guard changes no byte count; each byte it changes is the space
 *    after a client's COMPRESS or the '=' of a server's COMPRESS=, and it
 *    counts them right;
 *  - the split stream gives the same frames and the same guarded bytes as
 *    the whole one.
 * Every server line also goes through imap_response_parse(), whose spans
 * must stay inside the line.
 */
#include "config.h"

#include <ctype.h>
#include <stdbool.h>
#include <strings.h>

#include "fuzz.h"
#include "imap.h"

static void
check_span(const struct imap_span *s, const char *line, size_t len)
{
	if (s->len == 0)
		return;
	FUZZ_CHECK(s->p >= line && s->p + s->len <= line + len);
}

/* The server's lines, one by one, through the response classifier. */
static void
responses(const uint8_t *stream, size_t len)
{
	size_t i = 0;

	while (i < len) {
		const uint8_t *lf = memchr(stream + i, '\n', len - i);
		size_t next = lf != NULL ? (size_t)(lf - stream) + 1 : len;
		size_t n = (lf != NULL ? next - 1 : len) - i;
		char *line;
		struct imap_response r;

		if (n > 0 && stream[i + n - 1] == '\r')
			n--;
		line = fuzz_dup(stream + i, n);
		memset(&r, 0, sizeof(r));
		if (imap_response_parse(line, n, &r) == 0) {
			check_span(&r.tag, line, n);
			check_span(&r.code, line, n);
			check_span(&r.text, line, n);
			if (r.has_caps) {
				char out[512];

				check_span(&r.caps, line, n);
				(void)imap_caps_has(r.caps.p, r.caps.len,
				    "IMAP4rev1");
				if (imap_caps_filter(r.caps.p, r.caps.len, out,
					sizeof(out)) == 0)
					FUZZ_CHECK(strlen(out) < sizeof(out));
			}
		}
		free(line);
		i = next;
	}
}

static bool
word_before(const char *buf, size_t at, const char *word)
{
	size_t n = strlen(word);

	return at >= n && strncasecmp(buf + at - n, word, n) == 0;
}

/* The client's commands; returns a digest of the frames. */
static uint64_t
client(const uint8_t *stream, size_t len, struct fuzz_split *sp)
{
	struct imap_cframe *f = malloc(sizeof(*f));
	uint64_t h = FUZZ_HASH_INIT;
	size_t off = 0, last = 0;

	FUZZ_CHECK(f != NULL);
	imap_cframe_init(f);
	while (off < len) {
		size_t chunk = sp != NULL ? fuzz_split_next(sp, len - off) :
					    len - off;
		char *buf = fuzz_dup(stream + off, chunk);
		size_t i = 0;

		while (i < chunk) {
			size_t used = (size_t)-1;
			enum imap_frame r;
			const char *sp1;

			r = imap_cframe_feed(f, buf + i, chunk - i, &used);
			FUZZ_CHECK(used <= chunk - i);
			i += used;
			if (r == IMAP_FRAME_MORE) {
				FUZZ_CHECK(i == chunk);
				continue;
			}
			FUZZ_CHECK(r == IMAP_FRAME_COMMAND ||
			    r == IMAP_FRAME_DONE);
			FUZZ_CHECK(used > 0);
			FUZZ_CHECK(f->bytes == off + i - last);
			last = off + i;
			FUZZ_CHECK(strlen(f->tag) <= IMAP_TAG_MAX);
			FUZZ_CHECK(strlen(f->verb) < sizeof(f->verb));
			FUZZ_CHECK(strlen(f->params) < sizeof(f->params));
			for (const char *c = f->verb; *c != '\0'; c++)
				FUZZ_CHECK(!isupper((unsigned char)*c));
			/* No secret in what goes to the protocol log. */
			if (strcmp(f->verb, "login") == 0)
				FUZZ_CHECK(f->params[0] == '\0' ||
				    strcmp(f->params, "*****") == 0);
			/* AUTHENTICATE: one word, the mechanism (after a
			 * space the framer keeps when the client sent two). */
			sp1 = f->params + (f->params[0] == ' ');
			if (strcmp(f->verb, "authenticate") == 0 &&
			    (sp1 = strchr(sp1, ' ')) != NULL)
				FUZZ_CHECK(strcmp(sp1, " *****") == 0);
			h = fuzz_hash_u64(h, (uint64_t)r << 56 | last);
			h = fuzz_hash(h, f->tag, strlen(f->tag) + 1);
			h = fuzz_hash(h, f->verb, strlen(f->verb) + 1);
			h = fuzz_hash(h, f->params, strlen(f->params) + 1);
		}
		free(buf);
		off += chunk;
	}
	free(f);
	return h;
}

static uint64_t
server(const uint8_t *stream, size_t len, struct fuzz_split *sp)
{
	struct imap_sframe *f = malloc(sizeof(*f));
	uint64_t h = FUZZ_HASH_INIT;
	size_t off = 0;

	FUZZ_CHECK(f != NULL);
	imap_sframe_init(f);
	while (off < len) {
		size_t chunk = sp != NULL ? fuzz_split_next(sp, len - off) :
					    len - off;
		char *buf = fuzz_dup(stream + off, chunk);
		size_t i = 0;

		while (i < chunk) {
			size_t used = (size_t)-1;
			enum imap_frame r;

			r = imap_sframe_feed(f, buf + i, chunk - i, &used);
			FUZZ_CHECK(used <= chunk - i);
			i += used;
			if (r == IMAP_FRAME_MORE) {
				FUZZ_CHECK(i == chunk);
				continue;
			}
			FUZZ_CHECK(r == IMAP_FRAME_TAGGED ||
			    r == IMAP_FRAME_CONTINUATION);
			FUZZ_CHECK(used > 0);
			/* A line ends with its LF. */
			FUZZ_CHECK(buf[i - 1] == '\n');
			h = fuzz_hash_u64(h, (uint64_t)r << 56 | (off + i));
			if (r == IMAP_FRAME_TAGGED) {
				FUZZ_CHECK(f->linelen <= IMAP_LINE_KEPT);
				FUZZ_CHECK(f->line[f->linelen] == '\0');
				FUZZ_CHECK(strlen(f->tag) <= IMAP_TAG_MAX);
				h = fuzz_hash(h, f->tag, strlen(f->tag) + 1);
				h = fuzz_hash(h, f->line, f->linelen);
				h = fuzz_hash_u64(h, f->status);
			}
		}
		free(buf);
		off += chunk;
	}
	free(f);
	return h;
}

/* The guard over the stream; returns a digest of the bytes it left. */
static uint64_t
guard(const uint8_t *stream, size_t len, struct fuzz_split *sp, bool srv)
{
	struct imap_guard g;
	char *out = fuzz_dup(stream, len);
	size_t off = 0, changes = 0, seen = 0;
	uint64_t h;

	imap_guard_init(&g);
	while (off < len) {
		size_t chunk = sp != NULL ? fuzz_split_next(sp, len - off) :
					    len - off;
		char *buf = fuzz_dup(stream + off, chunk);

		changes += srv ? imap_guard_server(&g, buf, chunk) :
				 imap_guard_client(&g, buf, chunk);
		memcpy(out + off, buf, chunk);
		free(buf);
		off += chunk;
	}
	for (size_t i = 0; i < len; i++) {
		if (out[i] == (char)stream[i])
			continue;
		seen++;
		if (srv)
			FUZZ_CHECK(stream[i] == '=' && out[i] == '-' &&
			    word_before((const char *)stream, i, "COMPRESS"));
		else
			FUZZ_CHECK(stream[i] == ' ' && out[i] == 'X' &&
			    word_before((const char *)stream, i, "COMPRESS"));
	}
	FUZZ_CHECK(seen == changes);
	h = fuzz_hash(FUZZ_HASH_INIT, out, len);
	free(out);
	return fuzz_hash_u64(h, changes);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_split sp, whole;
	bool srv;

	if (fuzz_split_init(&sp, data, size) == -1)
		return 0;
	whole = sp;
	whole.nsizes = 0;
	srv = sp.settings & 1;
	if (srv) {
		FUZZ_CHECK(server(sp.stream, sp.len, &sp) ==
		    server(sp.stream, sp.len, &whole));
		responses(sp.stream, sp.len);
	} else
		FUZZ_CHECK(client(sp.stream, sp.len, &sp) ==
		    client(sp.stream, sp.len, &whole));
	sp.next = 0;
	FUZZ_CHECK(guard(sp.stream, sp.len, &sp, srv) ==
	    guard(sp.stream, sp.len, &whole, srv));
	return 0;
}
