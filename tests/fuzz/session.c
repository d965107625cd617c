/*
 * session: POP3 and IMAP before login through the real session code
 * (src/daemon/session.c with pop3.c or imap.c), on a TCP connection over
 * loopback whose far end the harness writes the input to, chunk by chunk
 * (split points from the input, fuzz.h; bit 0 of the settings byte picks
 * IMAP).  The worker's event loop runs without blocking between chunks.
 * Logins go to a backend port on 127.0.0.1 that refuses connections.  The
 * protocol log is on, in a temporary directory ($TMPDIR, else /dev/shm
 * when there is one), and read after every input.
 *
 * Invariants: the daemon neither crashes nor leaks; every session ends
 * through session_close(); every line of the protocol log reads back as
 * one row of 13 fields; and no password shows up in any field: the second
 * argument of an IMAP LOGIN, the argument of a POP3 PASS, and the initial
 * response of AUTHENTICATE PLAIN or AUTH PLAIN (base64 and decoded).  A
 * password is only looked for when it holds the marker "PW-MARKER", as the
 * seeds' passwords do, and appears nowhere else in the input, in any case
 * (a user name may equal it; names are logged in lower case).
 */
#include "config.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conf.h"
#include "conn.h"
#include "exlogread.h"
#include "fuzz.h"
#include "imap.h"
#include "log.h"
#include "pop3.h"
#include "protolog.h"
#include "sasl.h"
#include "server.h"
#include "session.h"

#define PW_MIN 6
/* What the seeds' passwords hold (tests/fuzz/mkcorpus.py). */
#define MARKER "PW-MARKER"
#define PW_MAX 64

static char dir[4096];
static struct worker *w;
static int lfd = -1;
static uint32_t nconn;

/* The passwords of one input that must not reach the log. */
struct secrets {
	size_t n;
	char *v[PW_MAX];
};

/* Occurrences of v in s, in any case. */
static size_t
count(const uint8_t *s, size_t len, const char *v, size_t vlen)
{
	size_t n = 0;

	for (size_t i = 0; i + vlen <= len; i++)
		if (strncasecmp((const char *)s + i, v, vlen) == 0)
			n++;
	return n;
}

static void
secret_add(struct secrets *sec, const uint8_t *in, size_t inlen, const char *v,
    size_t len, bool raw, bool marked)
{
	if (len < PW_MIN || sec->n == PW_MAX || memchr(v, '\0', len) != NULL)
		return;
	/* Only passwords with the marker: any other string may also be a
	 * word of an answer or of the log's own text. */
	if (!marked && memmem(v, len, MARKER, strlen(MARKER)) == NULL)
		return;
	/* Elsewhere in the input it may be logged as what it is there (names
	 * are logged in lower case). */
	if (count(in, inlen, v, len) > (raw ? 1u : 0u))
		return;
	sec->v[sec->n] = malloc(len + 1);
	FUZZ_CHECK(sec->v[sec->n] != NULL);
	memcpy(sec->v[sec->n], v, len);
	sec->v[sec->n++][len] = '\0';
}

/* An initial response of SASL PLAIN: itself, and the password inside. */
static void
secret_plain(struct secrets *sec, const uint8_t *in, size_t inlen,
    const char *b64, size_t len)
{
	char buf[SASL_PLAIN_MAX + 1];
	const char *pw, *nul;
	size_t n, pwlen;

	if (sasl_b64_decode(b64, len, buf, sizeof(buf), &n) == -1)
		return;
	if ((nul = memchr(buf, '\0', n)) == NULL ||
	    (nul = memchr(nul + 1, '\0', n - (size_t)(nul + 1 - buf))) == NULL)
		return;
	pw = nul + 1;
	pwlen = n - (size_t)(pw - buf);
	/* Not when the user names hold it: they are logged. */
	if (pwlen == 0 || memmem(buf, (size_t)(pw - buf), pw, pwlen) != NULL ||
	    memmem(pw, pwlen, MARKER, strlen(MARKER)) == NULL)
		return;
	secret_add(sec, in, inlen, pw, pwlen, false, true);
	/* The base64 is as good as the password. */
	secret_add(sec, in, inlen, b64, len, true, true);
}

/* Whether a quoted value was escaped in the stream (RFC 9051 4.3). */
static bool
imap_escaped(const struct imap_value *v)
{
	return v->type == IMAP_VAL_QUOTED &&
	       (memchr(v->data, '"', v->len) != NULL ||
		   memchr(v->data, '\\', v->len) != NULL);
}

/* Whether v occurs in s in any case. */
static bool
contains(const char *s, size_t len, const char *v)
{
	return count((const uint8_t *)s, len, v, strlen(v)) > 0;
}

/*
 * Drops the secrets from first on that occur in an argument postern logs
 * as what it is there (a LOGIN's user name, an ID value): after
 * unescaping, the text of one command's password may be the text of
 * another's argument, which count() on the raw stream cannot see.  at[k]
 * is the offset of the command secret first + k came from.
 */
static void
secrets_imap_drop_logged(struct secrets *sec, size_t first, size_t *at,
    const uint8_t *s, size_t len, struct imap_parser *p)
{
	size_t i = 0, used, k;

	while (i < len && sec->n > first) {
		size_t start = i;
		enum imap_parse_result r;

		r = imap_parse(p, (const char *)s + i, len - i, &used);
		i += used;
		if (r == IMAP_PARSE_INVALID && p->cmd.fatal)
			break;
		if (r != IMAP_PARSE_COMMAND)
			continue;
		for (size_t a = 0; a < p->cmd.nargs; a++) {
			const struct imap_value *v = &p->cmd.args[a];

			if (v->type == IMAP_VAL_LIST)
				continue;
			for (k = first; k < sec->n;) {
				if ((at[k - first] == start && a == 1) ||
				    !contains(v->data, v->len, sec->v[k])) {
					k++;
					continue;
				}
				free(sec->v[k]);
				sec->v[k] = sec->v[sec->n - 1];
				at[k - first] = at[sec->n - 1 - first];
				sec->n--;
			}
		}
	}
}

static void
secrets_imap(struct secrets *sec, const uint8_t *s, size_t len)
{
	size_t cap = 10240 + 2 * SASL_PASS_MAX, i = 0, used;
	size_t first = sec->n, at[PW_MAX];
	char *store = malloc(cap);
	struct imap_parser *p = malloc(sizeof(*p));

	FUZZ_CHECK(store != NULL && p != NULL);
	FUZZ_CHECK(imap_parser_init(p, 10240, SASL_PASS_MAX, store, cap) == 0);
	while (i < len) {
		size_t start = i, n = sec->n;
		enum imap_parse_result r;

		r = imap_parse(p, (const char *)s + i, len - i, &used);
		i += used;
		if (r == IMAP_PARSE_INVALID && p->cmd.fatal)
			break;
		if (r != IMAP_PARSE_COMMAND || p->cmd.nargs != 2)
			continue;
		if (p->cmd.cmd == IMAP_CMD_LOGIN &&
		    p->cmd.args[1].type != IMAP_VAL_LIST)
			secret_add(sec, s, len, p->cmd.args[1].data,
			    p->cmd.args[1].len, !imap_escaped(&p->cmd.args[1]),
			    false);
		if (p->cmd.cmd == IMAP_CMD_AUTHENTICATE &&
		    p->cmd.args[1].type == IMAP_VAL_ATOM &&
		    strcasecmp(p->cmd.args[0].data, "PLAIN") == 0)
			secret_plain(sec, s, len, p->cmd.args[1].data,
			    p->cmd.args[1].len);
		for (; n < sec->n; n++)
			at[n - first] = start;
	}
	FUZZ_CHECK(imap_parser_init(p, 10240, SASL_PASS_MAX, store, cap) == 0);
	secrets_imap_drop_logged(sec, first, at, s, len, p);
	free(p);
	free(store);
}

static void
secrets_pop3(struct secrets *sec, const uint8_t *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		struct pop3_command cmd;

		if (pop3_parse((const char *)s + i, len - i, 1024, &cmd) !=
		    POP3_COMMAND)
			break;
		i += cmd.linelen;
		if (cmd.verb == POP3_CMD_PASS)
			secret_add(sec, s, len, cmd.arg, cmd.arglen, true,
			    false);
		if (cmd.verb == POP3_CMD_AUTH && cmd.arglen > 6 &&
		    strncasecmp(cmd.arg, "PLAIN ", 6) == 0)
			secret_plain(sec, s, len, cmd.arg + 6, cmd.arglen - 6);
	}
}

/* Reads every protocol-log file, checks its rows, and empties it. */
static void
check_logs(const struct secrets *sec, const char *sub)
{
	char path[8192];
	DIR *d;
	struct dirent *e;

	snprintf(path, sizeof(path), "%s/%s", dir, sub);
	if ((d = opendir(path)) == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		struct exlog_reader r;
		struct exlog_row row;
		enum exlog_result res;
		char file[8192 + 256], *text;
		size_t len, at = 0, used;
		FILE *fp;

		size_t nl = strlen(e->d_name);

		/* The logs only: postern.lock holds the instance's pid. */
		if (e->d_name[0] == '.' || nl < 4 ||
		    strcasecmp(e->d_name + nl - 4, ".LOG") != 0)
			continue;
		snprintf(file, sizeof(file), "%s/%s", path, e->d_name);
		FUZZ_CHECK((fp = fopen(file, "r+")) != NULL);
		FUZZ_CHECK(fseek(fp, 0, SEEK_END) == 0);
		len = (size_t)ftell(fp);
		rewind(fp);
		text = malloc(len + 1);
		FUZZ_CHECK(text != NULL);
		FUZZ_CHECK(fread(text, 1, len, fp) == len);
		/* The writer appends (O_APPEND): it goes on at the start. */
		FUZZ_CHECK(ftruncate(fileno(fp), 0) == 0);
		fclose(fp);
		FUZZ_CHECK(exlog_reader_init(&r) == 0);
		while (at < len) {
			res = exlog_read(&r, text + at, len - at, &used, &row);
			at += used;
			if (res == EXLOG_NEED_MORE)
				break;
			if (res != EXLOG_ROW || row.nfields != EXLOG_FIELDS) {
				fprintf(stderr,
				    "bad row at line %llu of:\n%.*s\n",
				    (unsigned long long)row.line, (int)len,
				    text);
				FUZZ_CHECK(
				    !"a protocol-log row does not read back");
			}
			for (int f = 0; f < EXLOG_FIELDS; f++)
				for (size_t k = 0; k < sec->n; k++)
					if (memmem(row.f[f].p, row.f[f].len,
						sec->v[k],
						strlen(sec->v[k])) != NULL) {
						fprintf(stderr,
						    "password '%s' in field %d "
						    "of:\n%.*s\n",
						    sec->v[k], f, (int)len,
						    text);
						FUZZ_CHECK(
						    !"a password in the log");
					}
		}
		/* Every line ends in CRLF: nothing is left over. */
		FUZZ_CHECK(exlog_finish(&r, &row) == EXLOG_NEED_MORE);
		exlog_reader_free(&r);
		free(text);
	}
	closedir(d);
}

static void
cleanup(void)
{
	char cmd[8192];

	if (dir[0] == '\0')
		return;
	/* Only what this process made: the mkdtemp directory. */
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
}

static void
setup(void)
{
	const char *tmp = getenv("TMPDIR");
	struct protolog_conf pl[PROTO_COUNT];
	struct sockaddr_in a;
	socklen_t alen = sizeof(a);
	char path[8192], err[512];
	unsigned short refused;
	struct conf *c;
	FILE *fp;
	int fd;

	/* The protocol log is written and read back for every input. */
	if (tmp == NULL || *tmp == '\0')
		tmp =
		    access("/dev/shm", W_OK | X_OK) == 0 ? "/dev/shm" : "/tmp";
	snprintf(dir, sizeof(dir), "%s/postern-fuzz-session.XXXXXX", tmp);
	FUZZ_CHECK(mkdtemp(dir) != NULL);
	atexit(cleanup);
	log_init(LOGLEVEL_ERROR, false);

	/* A port nothing listens on: bound, then closed again. */
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	FUZZ_CHECK((fd = socket(AF_INET, SOCK_STREAM, 0)) != -1);
	FUZZ_CHECK(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
	FUZZ_CHECK(getsockname(fd, (struct sockaddr *)&a, &alen) == 0);
	refused = ntohs(a.sin_port);
	close(fd);

	snprintf(path, sizeof(path), "%s/postern.ini", dir);
	FUZZ_CHECK((fp = fopen(path, "w")) != NULL);
	for (int p = 0; p < PROTO_COUNT; p++)
		fprintf(fp,
		    "[%s]\n"
		    "unencrypted_or_tls_bindings = 127.0.0.1:%u\n"
		    "ssl_bindings =\n"
		    "login_type = PlainTextLogin\n"
		    "backend = 127.0.0.1:%u\n"
		    "backend_timeout = 1s\n"
		    "protocol_log_enabled = yes\n"
		    "log_file_location = %s/%s\n\n",
		    p == PROTO_POP3 ? "pop3" : "imap",
		    p == PROTO_POP3 ? 1110u : 1143u, refused, dir,
		    p == PROTO_POP3 ? "Pop3" : "Imap4");
	FUZZ_CHECK(fclose(fp) == 0);
	if ((c = conf_load(path, stderr)) == NULL ||
	    server_prepare(c, stderr) == -1)
		abort();
	conf_protolog(c, pl);
	if (protolog_start(pl, 0, err, sizeof(err)) == -1) {
		fprintf(stderr, "%s\n", err);
		abort();
	}

	w = calloc(1, sizeof(*w));
	FUZZ_CHECK(w != NULL);
	FUZZ_CHECK((w->base = event_base_new()) != NULL);
	TAILQ_INIT(&w->sessions);
	w->conf = c; /* the worker's reference */
	atomic_store(&w->conf_gen, 1);

	/* Where the sessions' connections come from. */
	a.sin_port = 0;
	FUZZ_CHECK((lfd = socket(AF_INET, SOCK_STREAM, 0)) != -1);
	FUZZ_CHECK(bind(lfd, (struct sockaddr *)&a, sizeof(a)) == 0);
	FUZZ_CHECK(listen(lfd, 4) == 0);
}

/* What a pass of the loop may change, folded into one number. */
static uint64_t
fingerprint(void)
{
	uint64_t h = w->nsessions;
	struct session *s;

	for (s = TAILQ_FIRST(&w->sessions); s != NULL;
	     s = TAILQ_NEXT(s, entry)) {
		h = h * 31 + (uint64_t)s->state;
		h = h * 31 + s->bad_commands + s->failed_logins + s->client_eof;
		h = h * 31 + (uint64_t)(uintptr_t)s->backend;
		h = h * 31 + (uint64_t)(uintptr_t)s->login;
		if (s->client == NULL)
			continue;
		h = h * 31 + evbuffer_get_length(conn_input(s->client));
		h = h * 31 + evbuffer_get_length(conn_output(s->client));
	}
	return h;
}

/*
 * Runs the worker's loop until nothing is ready; reads what it wrote.
 * Until two passes in a row change nothing (no event left active, nothing
 * written to the client, no session's state or buffers changed), at most
 * 16: a fixed 16 passes for every chunk were most of the harness's time.
 */
static void
pump(int cfd)
{
	char sink[16384];
	int quiet = 0;

	for (int i = 0; i < 16 && quiet < 2; i++) {
		uint64_t before = fingerprint();
		bool got = false;
		int active;

		if (event_base_loop(w->base, EVLOOP_NONBLOCK) == -1)
			abort();
		while (recv(cfd, sink, sizeof(sink), MSG_DONTWAIT) > 0)
			got = true;
		active =
		    event_base_get_num_events(w->base, EVENT_BASE_COUNT_ACTIVE);
		if (got || active > 0 || fingerprint() != before)
			quiet = 0;
		else
			quiet++;
	}
}

/*
 * libFuzzer's SIGALRM (the -timeout watch, every timeout/2 + 1 seconds) is
 * caught without SA_RESTART: a connect() still waiting for the handshake,
 * as on a busy machine whose softirqs lag, fails with EINTR while the
 * connection goes on being made.  Wait for it to be made.
 */
static void
connect_loopback(int fd, const struct sockaddr_in *to, socklen_t len)
{
	struct pollfd pfd = {.fd = fd, .events = POLLOUT};
	socklen_t elen = sizeof(int);
	int err = 0;

	if (connect(fd, (const struct sockaddr *)to, len) == 0)
		return;
	if (errno != EINTR) {
		fprintf(stderr, "connect: %s\n", strerror(errno));
		FUZZ_CHECK(!"the harness cannot connect");
	}
	while (poll(&pfd, 1, -1) == -1)
		FUZZ_CHECK(errno == EINTR);
	FUZZ_CHECK(getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) == 0);
	if (err != 0) {
		fprintf(stderr, "connect: %s\n", strerror(err));
		FUZZ_CHECK(!"the harness cannot connect");
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_split sp;
	struct secrets sec = {0};
	struct linger lin = {1, 0};
	struct sockaddr_in a, peer, src;
	socklen_t alen = sizeof(a), plen = sizeof(peer);
	enum proto_id proto;
	size_t off = 0;
	int cfd, sfd;

	if (fuzz_split_init(&sp, data, size) == -1)
		return 0;
	if (w == NULL)
		setup();
	proto = sp.settings & 1 ? PROTO_IMAP : PROTO_POP3;
	if (proto == PROTO_IMAP)
		secrets_imap(&sec, sp.stream, sp.len);
	else
		secrets_pop3(&sec, sp.stream, sp.len);

	FUZZ_CHECK(getsockname(lfd, (struct sockaddr *)&a, &alen) == 0);
	FUZZ_CHECK((cfd = socket(AF_INET, SOCK_STREAM, 0)) != -1);
	/* A reset at the end, so that thousands of inputs a second leave
	 * no TIME_WAIT behind to use up the ephemeral ports. */
	FUZZ_CHECK(
	    setsockopt(cfd, SOL_SOCKET, SO_LINGER, &lin, sizeof(lin)) == 0);
	/* And a source address of its own in 127/8 each time: the sessions
	 * close first, and their TIME_WAITs would use up the ports of one
	 * source address within a minute at this rate. */
	memset(&src, 0, sizeof(src));
	src.sin_family = AF_INET;
	src.sin_addr.s_addr = htonl(0x7f000002u + (++nconn % 0xfffff0u));
	FUZZ_CHECK(bind(cfd, (struct sockaddr *)&src, sizeof(src)) == 0);
	connect_loopback(cfd, &a, alen);
	while ((sfd = accept(lfd, (struct sockaddr *)&peer, &plen)) == -1)
		FUZZ_CHECK(errno == EINTR);
	FUZZ_CHECK(evutil_make_socket_nonblocking(sfd) == 0);
	session_accept(w, proto, false, sfd, (struct sockaddr *)&peer, plen,
	    NULL);
	pump(cfd);

	while (off < sp.len && w->nsessions > 0) {
		size_t chunk = fuzz_split_next(&sp, sp.len - off);
		ssize_t n = send(cfd, sp.stream + off, chunk,
		    MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n <= 0) {
			if (n == -1 && errno != EAGAIN)
				break; /* the session closed the connection */
		} else
			off += (size_t)n;
		pump(cfd);
	}
	/* The client goes away: its session must end on its own. */
	shutdown(cfd, SHUT_WR);
	for (int i = 0; i < 64 && w->nsessions > 0; i++)
		pump(cfd);
	/* One may wait for a timer (the backend's answer): end it. */
	while (!TAILQ_EMPTY(&w->sessions))
		session_close(TAILQ_FIRST(&w->sessions), "fuzz input ended");
	FUZZ_CHECK(w->nsessions == 0);
	pump(cfd);
	close(cfd);

	protolog_flush();
	check_logs(&sec, "Pop3");
	check_logs(&sec, "Imap4");
	for (size_t k = 0; k < sec.n; k++)
		free(sec.v[k]);
	return 0;
}
