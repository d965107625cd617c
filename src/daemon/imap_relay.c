/*
 * imap_relay: the IMAP4 session after login.  The one reading of each
 * direction (imap_frame.c's framers) serves both the compression guard,
 * which ends a session before COMPRESS could start or a LITERAL+ could
 * run as commands, and the protocol log's row per command.
 */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "blockcache.h"
#include "imap.h"
#include "imap_internal.h"
#include "log.h"
#include "session.h"
#include "sesslog.h"

/* An IDLE that has not had its "+" yet. */
#define IMAP_LOG_IDLE 0x1u

/* The rows of a logged-in session; the reading is the session's. */
struct imap_relaylog {
	uint64_t rp; /* server bytes since the last answered command */
	struct sesslog_ring ring;
};

bool
imap_answer_ok(const char *line, size_t len)
{
	struct imap_response r;

	return imap_response_parse(line, len, &r) == 0 &&
	       r.kind == IMAP_RESP_TAGGED && r.status == IMAP_STATUS_OK;
}

int
imap_relay_log_start(struct session *s)
{
	struct imap_relaylog *rl = calloc(1, sizeof(*rl));

	if (rl == NULL)
		return -1;
	s->log->relay = rl;
	return 0;
}

/*
 * What snprintf(dst, cap, "%s", src) writes, at a fraction of its cost:
 * three of them per command were 3% of a logged login's instructions.
 */
static void
imap_relay_copy(char *dst, size_t cap, const char *src)
{
	size_t n = strnlen(src, cap - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* A command (or an IDLE's end) is complete in cf: its row waits. */
static void
imap_relay_log_push(struct imap_relaylog *rl, const struct imap_cframe *cf,
    enum imap_frame r)
{
	struct sesslog_cmd *c = sesslog_ring_push(&rl->ring);

	clock_gettime(CLOCK_MONOTONIC, &c->t0);
	c->rq = cf->bytes;
	imap_relay_copy(c->key, sizeof(c->key), cf->tag);
	imap_relay_copy(c->cmd, sizeof(c->cmd),
	    cf->verb[0] != '\0' ? cf->verb : "InvalidCommand");
	imap_relay_copy(c->params, sizeof(c->params), cf->params);
	if (r == IMAP_FRAME_COMMAND && strcmp(cf->verb, "idle") == 0)
		c->flags |= IMAP_LOG_IDLE;
}

/* The command answered now: the oldest one waiting with that tag. */
static struct sesslog_cmd *
imap_relay_log_find(struct imap_relaylog *rl, const char *tag, bool idle)
{
	for (unsigned i = 0; i < rl->ring.n; i++) {
		struct sesslog_cmd *c = sesslog_ring_at(&rl->ring, i);

		if (c->done)
			continue;
		if (idle ? (c->flags & IMAP_LOG_IDLE) != 0 :
			   strcmp(c->key, tag) == 0)
			return c;
	}
	return NULL;
}

/* Writes the row of the command a server line answered, if any. */
static void
imap_relay_log_answer(struct session *s, struct imap_relaylog *rl,
    enum imap_frame r, const struct imap_sframe *sf)
{
	struct sesslog_cmd *c;
	const char *res = "ok";

	if (r == IMAP_FRAME_TAGGED) {
		if ((c = imap_relay_log_find(rl, sf->tag, false)) == NULL)
			return;
		if (sf->status != IMAP_STATUS_OK)
			res = sf->line;
	} else {
		/* RFC 2177: "+ idling" is the answer to IDLE; other
		 * continuations belong to the command still coming. */
		if ((c = imap_relay_log_find(rl, NULL, true)) == NULL)
			return;
	}
	c->flags &= ~IMAP_LOG_IDLE;
	sesslog_row(s, c, rl->rp, res);
	rl->rp = 0;
	c->done = true;
	sesslog_ring_pop_done(&rl->ring);
}

/* The guard reads every answer, logged or not (imap_relay_guard()). */
bool
imap_relay_at_boundary(const struct session *s)
{
	const struct imap_session *is = I(s);

	/* Resting readers stand between answer lines; lost ones do not
	 * know where they are. */
	if (is->readers_lost)
		return false;
	return is->rd == NULL || imap_sframe_at_boundary(&is->rd->sf);
}

void
imap_relay_readers_start(struct session *s)
{
	struct imap_session *is = I(s);

	memset(&is->rest, 0, sizeof(is->rest));
	is->rd = NULL;
	is->readers_lost = false;
}

void
imap_relay_readers_free(struct session *s)
{
	struct imap_session *is = I(s);

	blockcache_put(session_cache(s), is->rd, sizeof(*is->rd));
	is->rd = NULL;
}

/*
 * The readers in place for bytes to read: a resting pair is woken from
 * what the session kept, as they were.  NULL when out of memory: the
 * bytes cannot be read, so they must not go on either.
 */
static struct imap_readers *
imap_relay_wake(struct session *s)
{
	struct imap_session *is = I(s);

	if (is->rd != NULL || is->readers_lost)
		return is->rd;
	if ((is->rd = blockcache_get(session_cache(s), sizeof(*is->rd))) ==
	    NULL) {
		is->readers_lost = true;
		return NULL;
	}
	imap_cframe_wake(&is->rd->cf, &is->rest);
	imap_sframe_init(&is->rd->sf);
	return is->rd;
}

/*
 * After a read: when both readers stand between commands and answer
 * lines, with no line held back, what the next command depends on stays
 * in the session and the readers go back to the worker's blocks.  That
 * is where an idle session spends its time (in IDLE, or between a
 * command's answer and the next command).
 */
static void
imap_relay_rest(struct session *s)
{
	struct imap_session *is = I(s);

	if (is->rd == NULL || !imap_cframe_can_rest(&is->rd->cf) ||
	    !imap_sframe_at_boundary(&is->rd->sf))
		return;
	imap_cframe_rest(&is->rd->cf, &is->rest);
	imap_relay_readers_free(s);
}

void
imap_relay_log_end(struct session *s)
{
	struct imap_relaylog *rl = s->log->relay;
	bool first = true;

	/* Commands the session ended before they were answered. */
	for (unsigned i = 0; i < rl->ring.n; i++) {
		struct sesslog_cmd *c = sesslog_ring_at(&rl->ring, i);

		if (c->done)
			continue;
		sesslog_row(s, c, first ? rl->rp : 0, NULL);
		first = false;
	}
	sesslog_ring_free(&rl->ring);
	free(rl);
	s->log->relay = NULL;
}

/*
 * The client's bytes after login, read once for the guard and the log.
 * Returns how many may go on now: fewer than len when a line waits for
 * the server's answer (a synchronising literal, an IDLE), or when the
 * commands waiting for answers fill the log's ring; or, with *end set,
 * when a non-synchronising literal ends the session.
 */
static size_t
imap_relay_client(struct session *s, struct imap_readers *rd, char *buf,
    size_t len, bool *end)
{
	struct imap_relaylog *rl = s->log_framed ? s->log->relay : NULL;
	size_t off = 0, n, refused = rd->cf.refused;

	while (off < len) {
		enum imap_frame r;

		/* Full: the next command waits until answers make room. */
		if (rl != NULL && imap_cframe_between(&rd->cf) &&
		    !sesslog_ring_room(&rl->ring))
			break;
		r = imap_cframe_feed(&rd->cf, buf + off, len - off, &n);
		off += n;
		if (r == IMAP_FRAME_HOLD)
			break;
		if (r == IMAP_FRAME_REFUSED) {
			/* Its row says what the client tried; the session's
			 * end says why it ended. */
			if (rl != NULL && !*end)
				imap_relay_log_push(rl, &rd->cf, r);
			*end = true;
			break;
		}
		if (rl != NULL && r != IMAP_FRAME_MORE)
			imap_relay_log_push(rl, &rd->cf, r);
	}
	s->client_logout = rd->cf.logout;
	if (rd->cf.refused > refused)
		log_info("%s: COMPRESS refused: postern relays the session "
			 "uncompressed",
		    session_tag(s));
	return off;
}

/* The backend's bytes after login: answers may end a hold. */
static void
imap_relay_backend(struct session *s, struct imap_readers *rd, char *buf,
    size_t len)
{
	struct imap_relaylog *rl = s->log_framed ? s->log->relay : NULL;
	size_t off = 0, n;

	while (off < len) {
		enum imap_frame r;

		r = imap_sframe_feed(&rd->sf, buf + off, len - off, &n);
		off += n;
		if (rl != NULL)
			rl->rp += n;
		if (r == IMAP_FRAME_MORE)
			continue;
		/* A refused literal ended its command: its row comes
		 * before the answer that ends it. */
		if (imap_cframe_answer(&rd->cf, r, rd->sf.tag) ==
			IMAP_FRAME_COMMAND &&
		    rl != NULL)
			imap_relay_log_push(rl, &rd->cf, IMAP_FRAME_COMMAND);
		if (rl != NULL)
			imap_relay_log_answer(s, rl, r, &rd->sf);
	}
}

/*
 * Every relayed byte after login passes here, logged or not: the reading
 * that frames the log is the one that keeps compression from starting
 * (RFC 4978 would hide the rest of the session from the log and from any
 * later check) and decides where literal data is.
 */
size_t
imap_relay_guard(struct session *s, bool from_client, char *buf, size_t len,
    bool *end)
{
	struct imap_readers *rd = imap_relay_wake(s);
	size_t n = len;

	if (rd == NULL) {
		/* Unread bytes would leave the log and the guard behind the
		 * stream: none go on, and the session ends. */
		*end = true;
		return 0;
	}
	if (from_client)
		n = imap_relay_client(s, rd, buf, len, end);
	else
		imap_relay_backend(s, rd, buf, len);
	if (!*end)
		imap_relay_rest(s);
	return n;
}

/*
 * A non-synchronising literal (RFC 7888) after login ends the session.
 * Its data cannot be held for an answer, and no rewriting of its header
 * is safe: a server that takes the header as invalid, or ends the command
 * before its arguments (Dovecot's NOOP, an unknown command), runs the
 * data as commands, so that a message holding "x DELETE INBOX" would
 * delete the mailbox.  The backend saw at most an unfinished line, which
 * it cannot run, and its connection is closed now.
 */
void
imap_relay_guard_end(struct session *s)
{
	if (I(s)->readers_lost) {
		log_warnx("%s: out of memory for the relay's readers: the "
			  "session ends",
		    session_tag(s));
		sesslog_close_error(s, "OutOfMemory");
		session_goodbye(s, BYE_INTERNAL, "out of memory");
		return;
	}
	log_warnx("%s: a non-synchronising literal (LITERAL+) after login: "
		  "the session ends, its data would run as commands",
	    session_tag(s));
	sesslog_close_error(s, "LiteralPlusRefused");
	session_goodbye(s, BYE_UNRELAYABLE,
	    "non-synchronising literal after login");
}
