/*
 * imap_frame: the two readers of an IMAP session after login
 * (imap_cframe, imap_sframe), driven the way the relay drives them
 * (imap_relay_guard() in src/daemon/imap.c), and imap_response_parse() over
 * every server line.
 *
 * After the fuzz.h header (the settings byte is unused) the stream is a
 * series of steps, each a byte h and the bytes it announces:
 *   h & 0x80   the direction: 0 the client's bytes, 1 the server's
 *   h & 0x7f   how many bytes follow (0 counts as 128; the last step
 *              takes what is left)
 * The header's chunk sizes cut each step again, as a second reading.
 *
 * The client's bytes wait in a queue: they go to imap_cframe_feed until it
 * returns HOLD (the rest waits until the server's bytes of a later step
 * were read, as the relay retries them) or REFUSED (no client byte goes
 * on).  The server's bytes go to imap_sframe_feed, and each tagged answer
 * or continuation to imap_cframe_answer.
 *
 * Checked besides memory safety:
 *  - every byte a reader changes is one the header comment of
 * include/daemon/imap.h documents (the client's byte after COMPRESS becomes
 * "X"; a server capability list's "COMPRESS=" becomes "COMPRESS-", "LITERAL+"
 * and "LITERAL-" "LITERALX"), inside what it consumed, and counted;
 *  - *consumed never exceeds the length; without a result everything is
 *    consumed; a result consumes at least its LF;
 *  - a command's byte count is the distance from the end of the one before;
 *    after a result the reader is between commands (or at a boundary);
 *  - what is kept (tag, verb, parameters, a tagged line's start) fits its
 *    array and ends in its NUL;
 *  - LOGIN keeps no parameter and AUTHENTICATE nothing after its mechanism:
 *    only the mask "*****" may follow;
 *  - after REFUSED every feed says REFUSED again, consuming nothing;
 *  - the stream cut differently gives the same results and the same bytes,
 *    the readers of the cut one resting (imap_cframe_rest, then a fresh
 *    pair woken from what was kept) wherever the relay would let them.
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

/*
 * Whether the client's byte at c[at] ends the name COMPRESS.  The reader
 * keeps the name as a C string: a NUL ends the name it compares
 * ("COMPRESS\0x y" is COMPRESS to it), and a CR ends the name without
 * ending the line ("COMPRESS\r\r" has both CRs changed).  The server takes
 * neither as COMPRESS, so neither is dangerous, but that is what the
 * reader does: the name is what follows the tag's space up to a NUL, CRs
 * left out.
 */
static bool
compress_before(const char *c, size_t at)
{
	size_t start = at, n = 0;
	char name[16];

	while (start > 0 && c[start - 1] != ' ' && c[start - 1] != '\n')
		start--;
	if (start == 0 || c[start - 1] != ' ')
		return false;
	/* The tag's space is the line's first. */
	for (size_t i = start - 1; i > 0 && c[i - 1] != '\n'; i--)
		if (c[i - 1] == ' ')
			return false;
	for (size_t i = start; i < at && c[i] != '\0'; i++) {
		if (c[i] == '\r')
			continue;
		if (n + 1 >= sizeof(name))
			return false;
		name[n++] = c[i];
	}
	name[n] = '\0';
	return strcasecmp(name, "compress") == 0;
}

/* One reading of the whole session. */
struct run {
	struct imap_cframe cf;
	struct imap_sframe sf;
	char *c, *s;         /* each direction's bytes, edited in place */
	char *c0, *s0;       /* the same as they came */
	size_t clen, slen;   /* arrived so far */
	size_t csent, ssent; /* consumed so far */
	size_t clast;        /* where the last command ended */
	bool refused;
	bool rest;  /* the readers rest between reads where they may */
	uint64_t h; /* digest of the results, in order */
};

static bool
nul_in(const char *a, size_t size)
{
	return memchr(a, '\0', size) != NULL;
}

/* A client command (or IDLE's end) is complete at r->csent. */
static void
client_result(struct run *r, enum imap_frame k)
{
	struct imap_cframe *f = &r->cf;
	const char *sp1;

	FUZZ_CHECK(nul_in(f->tag, sizeof(f->tag)));
	FUZZ_CHECK(nul_in(f->verb, sizeof(f->verb)));
	FUZZ_CHECK(nul_in(f->params, sizeof(f->params)));
	FUZZ_CHECK(strlen(f->tag) <= IMAP_TAG_MAX);
	for (const char *c = f->verb; *c != '\0'; c++)
		FUZZ_CHECK(!isupper((unsigned char)*c));
	/* No secret in what goes to the protocol log. */
	if (strcmp(f->verb, "login") == 0)
		FUZZ_CHECK(
		    f->params[0] == '\0' || strcmp(f->params, "*****") == 0);
	/* AUTHENTICATE: one word, the mechanism (after a space the reader
	 * keeps when the client sent two). */
	sp1 = f->params + (f->params[0] == ' ');
	if (strcmp(f->verb, "authenticate") == 0 &&
	    (sp1 = strchr(sp1, ' ')) != NULL)
		FUZZ_CHECK(strcmp(sp1, " *****") == 0);
	r->h = fuzz_hash_u64(r->h, (uint64_t)k << 56);
	r->h = fuzz_hash(r->h, f->tag, strlen(f->tag) + 1);
	r->h = fuzz_hash(r->h, f->verb, strlen(f->verb) + 1);
	r->h = fuzz_hash(r->h, f->params, strlen(f->params) + 1);
	if (k == IMAP_FRAME_REFUSED)
		return; /* where it stops depends on the cuts: see imap.h */
	FUZZ_CHECK(f->bytes == r->csent - r->clast);
	FUZZ_CHECK(imap_cframe_between(f));
	r->clast = r->csent;
	r->h = fuzz_hash_u64(r->h, r->csent);
}

/*
 * The client's waiting bytes, as the relay hands them: a heap copy of
 * exactly those, so that ASan sees a read past their end.
 */
static void
client_feed(struct run *r)
{
	while (r->csent < r->clen) {
		size_t len = r->clen - r->csent, used = (size_t)-1;
		size_t changed = r->cf.refused;
		char *buf = fuzz_dup(r->c + r->csent, len);
		enum imap_frame k;

		k = imap_cframe_feed(&r->cf, buf, len, &used);
		FUZZ_CHECK(used <= len);
		if (r->refused) {
			FUZZ_CHECK(k == IMAP_FRAME_REFUSED && used == 0);
			FUZZ_CHECK(memcmp(buf, r->c + r->csent, len) == 0);
			free(buf);
			return;
		}
		/* Only the byte after COMPRESS changes, to "X", and only in
		 * what was consumed. */
		for (size_t i = 0; i < len; i++) {
			size_t at = r->csent + i;

			if (buf[i] == r->c[at])
				continue;
			FUZZ_CHECK(i < used);
			FUZZ_CHECK(buf[i] == 'X' &&
				   (r->c[at] == ' ' || r->c[at] == '\r'));
			FUZZ_CHECK(compress_before(r->c0, at));
			changed++;
		}
		FUZZ_CHECK(changed == r->cf.refused);
		memcpy(r->c + r->csent, buf, len);
		free(buf);
		r->csent += used;
		switch (k) {
		case IMAP_FRAME_MORE:
			FUZZ_CHECK(used == len);
			break;
		case IMAP_FRAME_COMMAND:
		case IMAP_FRAME_DONE:
			FUZZ_CHECK(used > 0 && r->c[r->csent - 1] == '\n');
			client_result(r, k);
			break;
		case IMAP_FRAME_HOLD:
			/* Held: the rest waits for the server.  Not in the
			 * digest: each piece that arrives meanwhile says so
			 * again. */
			return;
		case IMAP_FRAME_REFUSED:
			r->refused = true;
			client_result(r, k);
			/* Says so again, whatever follows. */
			k = imap_cframe_feed(&r->cf, r->c + r->csent, 0, &used);
			FUZZ_CHECK(k == IMAP_FRAME_REFUSED && used == 0);
			return;
		default:
			FUZZ_CHECK(!"a client result of the server's");
		}
	}
}

/*
 * Whether a server byte at s[at] that became now was one to hide: the
 * end of a capability's name, which the reader matches from the last
 * space with CRs left out (harmless: no client takes "LIT\rERAL+").
 */
static bool
cap_change(const char *s, size_t at, char was, char now)
{
	const char *want;
	size_t start = at, n = 0;
	char name[16];

	if (was == '=' && now == '-')
		want = "COMPRESS";
	else if ((was == '+' || was == '-') && now == 'X')
		want = "LITERAL";
	else
		return false;
	while (start > 0 && s[start - 1] != ' ' && s[start - 1] != '\n')
		start--;
	if (start == 0 || s[start - 1] != ' ')
		return false;
	for (size_t i = start; i < at; i++) {
		if (s[i] == '\r')
			continue;
		if (n + 1 >= sizeof(name))
			return false;
		name[n++] = s[i];
	}
	name[n] = '\0';
	return strcasecmp(name, want) == 0;
}

static void
server_feed(struct run *r)
{
	while (r->ssent < r->slen) {
		size_t len = r->slen - r->ssent, used = (size_t)-1;
		size_t changed = r->sf.hidden;
		char *buf = fuzz_dup(r->s + r->ssent, len);
		enum imap_frame k, a;

		k = imap_sframe_feed(&r->sf, buf, len, &used);
		FUZZ_CHECK(used <= len);
		for (size_t i = 0; i < len; i++) {
			size_t at = r->ssent + i;

			if (buf[i] == r->s[at])
				continue;
			FUZZ_CHECK(i < used);
			FUZZ_CHECK(cap_change(r->s0, at, r->s0[at], buf[i]));
			changed++;
		}
		FUZZ_CHECK(changed == r->sf.hidden);
		memcpy(r->s + r->ssent, buf, len);
		free(buf);
		r->ssent += used;
		if (k == IMAP_FRAME_MORE) {
			FUZZ_CHECK(used == len);
			continue;
		}
		FUZZ_CHECK(
		    k == IMAP_FRAME_TAGGED || k == IMAP_FRAME_CONTINUATION);
		FUZZ_CHECK(used > 0 && r->s[r->ssent - 1] == '\n');
		FUZZ_CHECK(imap_sframe_at_boundary(&r->sf));
		r->h = fuzz_hash_u64(r->h, (uint64_t)k << 56 | r->ssent);
		if (k == IMAP_FRAME_TAGGED) {
			FUZZ_CHECK(r->sf.linelen <= IMAP_LINE_KEPT);
			FUZZ_CHECK(r->sf.line[r->sf.linelen] == '\0');
			FUZZ_CHECK(nul_in(r->sf.tag, sizeof(r->sf.tag)));
			r->h =
			    fuzz_hash(r->h, r->sf.tag, strlen(r->sf.tag) + 1);
			r->h = fuzz_hash(r->h, r->sf.line, r->sf.linelen);
			r->h = fuzz_hash_u64(r->h, r->sf.status);
		}
		/* As imap_relay_backend(): an answer may end a hold, or
		 * complete a held command whose literal it refused. */
		a = imap_cframe_answer(&r->cf, k, r->sf.tag);
		FUZZ_CHECK(a == IMAP_FRAME_MORE || a == IMAP_FRAME_COMMAND);
		if (a == IMAP_FRAME_COMMAND) {
			FUZZ_CHECK(!r->refused);
			client_result(r, a);
		}
		if (r->refused) {
			size_t n = (size_t)-1;

			FUZZ_CHECK(imap_cframe_feed(&r->cf, r->c, 0, &n) ==
				   IMAP_FRAME_REFUSED);
			FUZZ_CHECK(n == 0);
		}
	}
}

/*
 * As imap_relay_rest() after each read: readers between commands and
 * answer lines go, and a fresh pair reads on from what the client's kept
 * (left in garbage first, so that nothing else can carry over).
 */
static void
run_rest(struct run *r)
{
	struct imap_cframe_rest k;

	if (!r->rest || !imap_cframe_can_rest(&r->cf) ||
	    !imap_sframe_at_boundary(&r->sf))
		return;
	FUZZ_CHECK(!r->refused);
	imap_cframe_rest(&r->cf, &k);
	memset(&r->cf, 0xa5, sizeof(r->cf));
	memset(&r->sf, 0x5a, sizeof(r->sf));
	imap_cframe_wake(&r->cf, &k);
	imap_sframe_init(&r->sf);
	FUZZ_CHECK(imap_cframe_between(&r->cf));
}

/*
 * Reads the session; with sp, each step arrives in pieces of sp's sizes;
 * with rest, the readers rest between the pieces where they may.
 * Returns a digest of the results and of the bytes as edited.
 */
static uint64_t
session(const uint8_t *stream, size_t len, size_t clen, size_t slen,
    struct fuzz_split *sp, bool rest)
{
	struct run *r = calloc(1, sizeof(*r));
	size_t i = 0;
	uint64_t h;

	FUZZ_CHECK(r != NULL);
	imap_cframe_init(&r->cf);
	imap_sframe_init(&r->sf);
	FUZZ_CHECK(imap_cframe_between(&r->cf));
	FUZZ_CHECK(imap_sframe_at_boundary(&r->sf));
	r->c = malloc(clen ? clen : 1);
	r->s = malloc(slen ? slen : 1);
	r->c0 = malloc(clen ? clen : 1);
	r->s0 = malloc(slen ? slen : 1);
	FUZZ_CHECK(r->c != NULL && r->s != NULL);
	FUZZ_CHECK(r->c0 != NULL && r->s0 != NULL);
	r->h = FUZZ_HASH_INIT;
	r->rest = rest;
	while (i < len) {
		bool srv = stream[i] & 0x80;
		size_t n = stream[i] & 0x7f, off = 0;

		i++;
		if (n == 0)
			n = 128;
		if (n > len - i)
			n = len - i;
		while (off < n) {
			size_t piece =
			    sp != NULL ? fuzz_split_next(sp, n - off) : n - off;

			if (srv) {
				memcpy(r->s + r->slen, stream + i + off, piece);
				memcpy(r->s0 + r->slen, stream + i + off,
				    piece);
				r->slen += piece;
				server_feed(r);
				run_rest(r);
			} else {
				memcpy(r->c + r->clen, stream + i + off, piece);
				memcpy(r->c0 + r->clen, stream + i + off,
				    piece);
				r->clen += piece;
				client_feed(r);
				run_rest(r);
			}
			off += piece;
		}
		/* The relay tries the held bytes again once the server's
		 * bytes were read. */
		if (srv) {
			client_feed(r);
			run_rest(r);
		}
		i += n;
	}
	FUZZ_CHECK(r->clen == clen && r->slen == slen);
	/* Every server byte is read; a client's only up to a hold. */
	FUZZ_CHECK(r->ssent == slen);
	h = fuzz_hash(r->h, r->c, clen);
	h = fuzz_hash(h, r->s, slen);
	h = fuzz_hash_u64(h, r->refused);
	free(r->c);
	free(r->s);
	free(r->c0);
	free(r->s0);
	free(r);
	return h;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_split sp, whole;
	size_t i = 0, clen = 0, slen = 0;
	uint8_t *server;

	if (fuzz_split_init(&sp, data, size) == -1)
		return 0;
	whole = sp;
	whole.nsizes = 0;
	/* How many bytes each direction has, and the server's alone. */
	server = malloc(sp.len ? sp.len : 1);
	FUZZ_CHECK(server != NULL);
	while (i < sp.len) {
		size_t n = sp.stream[i] & 0x7f;
		bool srv = sp.stream[i] & 0x80;

		i++;
		if (n == 0)
			n = 128;
		if (n > sp.len - i)
			n = sp.len - i;
		if (srv) {
			memcpy(server + slen, sp.stream + i, n);
			slen += n;
		} else
			clen += n;
		i += n;
	}
	FUZZ_CHECK(session(sp.stream, sp.len, clen, slen, &sp, true) ==
		   session(sp.stream, sp.len, clen, slen, &whole, false));
	responses(server, slen);
	free(server);
	return 0;
}
