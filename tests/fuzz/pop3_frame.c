/*
 * pop3_frame: the POP3 relay's framers after login, as relay.c drives
 * them: the client's lines (pop3_lines) are read one at a time, each is
 * parsed, and the server's answer to it (pop3_answer) is read next, single-
 * or multi-line as pop3_multiline() says.  The input's stream is the
 * client's bytes, then the server's: the first two bytes of the stream say
 * how many are the client's.  Both are cut at split points from the input.
 *
 * Invariants, each against a plain reading of the bytes:
 *  - a client line runs to its LF; what is kept of it is its start, at
 *    most POP3_LINE_KEPT bytes, and always ends in LF;
 *  - an answer's status line runs to its LF; a multi-line answer that is
 *    +OK ends after the first later line that is "." (with or without CR);
 *  - the status kept is the start of the status line, without CR LF;
 *  - the split streams give the same frames as the whole ones.
 */
#include "config.h"

#include <stdbool.h>

#include "fuzz.h"
#include "pop3.h"

/* Where the answer starting at s[0..len) ends by the plain reading; 0 when
 * it does not end within len. */
static size_t
answer_end(const uint8_t *s, size_t len, bool multiline, bool ok)
{
	const uint8_t *lf = memchr(s, '\n', len);
	size_t i;

	if (lf == NULL)
		return 0;
	i = (size_t)(lf - s) + 1;
	if (!multiline || !ok)
		return i;
	while (i < len) {
		size_t start = i;

		lf = memchr(s + i, '\n', len - i);
		if (lf == NULL)
			return 0;
		i = (size_t)(lf - s) + 1;
		if ((i - start == 2 && s[start] == '.') ||
		    (i - start == 3 && s[start] == '.' && s[start + 1] == '\r'))
			return i;
	}
	return 0;
}

struct side {
	const uint8_t *s;
	size_t len, off;
	struct fuzz_split *sp;
	char *chunk; /* a heap copy of the current chunk */
	size_t clen, cused;
};

/* Makes sure the side has unread bytes of a chunk; false at the end. */
static bool
side_fill(struct side *d)
{
	if (d->cused < d->clen)
		return true;
	free(d->chunk);
	d->chunk = NULL;
	if (d->off >= d->len)
		return false;
	d->clen = d->sp != NULL ? fuzz_split_next(d->sp, d->len - d->off) :
				  d->len - d->off;
	d->chunk = fuzz_dup(d->s + d->off, d->clen);
	d->off += d->clen;
	d->cused = 0;
	return true;
}

/* Absolute offset of the next unread byte. */
static size_t
side_pos(const struct side *d)
{
	return d->off - d->clen + d->cused;
}

static uint64_t
run(const uint8_t *cs, size_t clen, const uint8_t *ss, size_t slen,
    struct fuzz_split *sp)
{
	struct side c = {cs, clen, 0, sp, NULL, 0, 0};
	struct side s = {ss, slen, 0, sp, NULL, 0, 0};
	struct pop3_lines *l = malloc(sizeof(*l));
	struct pop3_answer *a = malloc(sizeof(*a));
	uint64_t h = FUZZ_HASH_INIT;

	FUZZ_CHECK(l != NULL && a != NULL);
	pop3_lines_init(l);
	for (;;) {
		struct pop3_command cmd;
		size_t start = side_pos(&c), used, want, astart;
		enum pop3_frame r = POP3_FRAME_MORE;
		const uint8_t *lf;
		bool multi;

		while (r == POP3_FRAME_MORE && side_fill(&c)) {
			used = (size_t)-1;
			r = pop3_lines_feed(l, c.chunk + c.cused,
			    c.clen - c.cused, &used);
			FUZZ_CHECK(used <= c.clen - c.cused);
			if (r == POP3_FRAME_MORE)
				FUZZ_CHECK(used == c.clen - c.cused);
			c.cused += used;
		}
		if (r == POP3_FRAME_MORE)
			break;
		FUZZ_CHECK(r == POP3_FRAME_LINE);
		lf = memchr(cs + start, '\n', clen - start);
		FUZZ_CHECK(lf != NULL);
		want = (size_t)(lf - cs) + 1 - start;
		FUZZ_CHECK(side_pos(&c) == start + want);
		FUZZ_CHECK(l->len == want);
		FUZZ_CHECK(l->kept >= 1 && l->kept <= POP3_LINE_KEPT + 1);
		FUZZ_CHECK(l->buf[l->kept - 1] == '\n');
		FUZZ_CHECK(memcmp(l->buf, cs + start, l->kept - 1) == 0);
		FUZZ_CHECK(want <= POP3_LINE_KEPT ? l->kept == want :
						    l->kept >= POP3_LINE_KEPT);
		if (pop3_parse(l->buf, l->kept, POP3_LINE_KEPT + 1, &cmd) !=
		    POP3_COMMAND)
			FUZZ_CHECK(!"a kept line does not parse");
		multi = pop3_multiline(&cmd);
		h = fuzz_hash_u64(h, (uint64_t)multi << 63 | start + want);

		astart = side_pos(&s);
		pop3_answer_start(a, multi);
		r = POP3_FRAME_MORE;
		while (r == POP3_FRAME_MORE && side_fill(&s)) {
			used = (size_t)-1;
			r = pop3_answer_feed(a, s.chunk + s.cused,
			    s.clen - s.cused, &used);
			FUZZ_CHECK(used <= s.clen - s.cused);
			if (r == POP3_FRAME_MORE)
				FUZZ_CHECK(used == s.clen - s.cused);
			s.cused += used;
		}
		want = answer_end(ss + astart, slen - astart, multi, a->ok);
		if (r == POP3_FRAME_MORE) {
			FUZZ_CHECK(want == 0);
			break;
		}
		FUZZ_CHECK(r == POP3_FRAME_ANSWER);
		FUZZ_CHECK(want != 0 && side_pos(&s) == astart + want);
		FUZZ_CHECK(a->statuslen <= POP3_STATUS_KEPT);
		FUZZ_CHECK(a->status[a->statuslen] == '\0');
		FUZZ_CHECK(memcmp(a->status, ss + astart, a->statuslen) == 0);
		h = fuzz_hash_u64(h, (uint64_t)a->ok << 63 | astart + want);
		h = fuzz_hash(h, a->status, a->statuslen);
	}
	free(c.chunk);
	free(s.chunk);
	free(l);
	free(a);
	return h;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_split sp, whole;
	size_t clen;

	if (fuzz_split_init(&sp, data, size) == -1 || sp.len < 2)
		return 0;
	clen = (size_t)sp.stream[0] | (size_t)sp.stream[1] << 8;
	sp.stream += 2;
	sp.len -= 2;
	if (clen > sp.len)
		clen = sp.len;
	whole = sp;
	whole.nsizes = 0;
	FUZZ_CHECK(
	    run(sp.stream, clen, sp.stream + clen, sp.len - clen, &sp) ==
	    run(sp.stream, clen, sp.stream + clen, sp.len - clen, &whole));
	return 0;
}
