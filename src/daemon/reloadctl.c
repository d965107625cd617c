/*
 * reloadctl: the reload request socket (reloadctl.h).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "reloadctl.h"

/* The abstract address of pid's socket; its length for bind/connect. */
static socklen_t
reloadctl_addr(pid_t pid, struct sockaddr_un *sun)
{
	int n;

	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	/* sun_path[0] == '\0': the abstract namespace (unix(7)); the name
	 * is the bytes that follow, without a terminating NUL. */
	n = snprintf(sun->sun_path + 1, sizeof(sun->sun_path) - 1,
	    "postern-reload/%ld", (long)pid);
	return (
	    socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
}

int
reloadctl_listen(void)
{
	struct sockaddr_un sun;
	socklen_t len = reloadctl_addr(getpid(), &sun);
	int fd, saved;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -1;
	if (bind(fd, (struct sockaddr *)&sun, len) == -1 ||
	    listen(fd, 8) == -1) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

int
reloadctl_accept(int lfd, char *why, size_t whylen)
{
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	struct timeval tv = {.tv_sec = 2};
	int fd;

	why[0] = '\0';
	if ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) == -1)
		return -1;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) == -1) {
		snprintf(why, whylen,
		    "cannot read the credentials of the "
		    "asking process: %s",
		    strerror(errno));
		close(fd);
		return -1;
	}
	if (cred.uid != 0 && cred.uid != geteuid()) {
		snprintf(why, whylen,
		    "reload asked for by pid %ld, uid %ld: "
		    "only root and the user postern runs as may ask",
		    (long)cred.pid, (long)cred.uid);
		reloadctl_answer(fd, false, "not allowed for this user\n");
		return -1;
	}
	/* A client that does not read must not hold the daemon up. */
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
}

void
reloadctl_answer(int fd, bool ok, const char *reasons)
{
	char buf[RELOADCTL_ANSWER_MAX];
	size_t n, off = 0;
	ssize_t w;

	n = (size_t)snprintf(buf, sizeof(buf), "%s\n%s", ok ? "ok" : "refused",
	    reasons != NULL ? reasons : "");
	if (n >= sizeof(buf))
		n = sizeof(buf) - 1;
	while (off < n) {
		w = send(fd, buf + off, n - off, MSG_NOSIGNAL);
		if (w == -1 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	close(fd);
}

/* Writes text to errout, each line after "postern: " and ending in one
 * newline; control characters other than tabs become '?'. */
static void
print_reasons(FILE *errout, const char *text)
{
	const char *p = text;

	while (*p != '\0') {
		const char *nl = strchr(p, '\n');
		size_t len = nl != NULL ? (size_t)(nl - p) : strlen(p);

		fputs("postern: ", errout);
		for (size_t i = 0; i < len; i++)
			fputc((unsigned char)p[i] < 0x20 && p[i] != '\t' ? '?' :
									   p[i],
			    errout);
		fputc('\n', errout);
		p += len;
		if (*p == '\n')
			p++;
	}
}

int
reloadctl_request(pid_t pid, unsigned timeout_s, FILE *errout)
{
	char buf[RELOADCTL_ANSWER_MAX + 1];
	struct sockaddr_un sun;
	socklen_t len = reloadctl_addr(pid, &sun);
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	struct timeval tv = {.tv_sec = (time_t)timeout_s};
	size_t n = 0;
	ssize_t r;
	int fd;

	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		fprintf(errout, "postern: socket: %s\n", strerror(errno));
		return 1;
	}
	if (connect(fd, (struct sockaddr *)&sun, len) == -1) {
		fprintf(errout,
		    "postern: cannot ask process %ld to reload: "
		    "%s (is it a running postern, and in this network "
		    "namespace?)\n",
		    (long)pid, strerror(errno));
		close(fd);
		return 1;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) == -1 ||
	    cred.pid != pid) {
		fprintf(errout,
		    "postern: the reload socket of process %ld "
		    "belongs to process %ld: not asking it\n",
		    (long)pid, (long)cred.pid);
		close(fd);
		return 1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	while (n < sizeof(buf) - 1) {
		r = read(fd, buf + n, sizeof(buf) - 1 - n);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			fprintf(errout,
			    "postern: no answer from process %ld: "
			    "%s\n",
			    (long)pid,
			    errno == EAGAIN ? "timed out" : strerror(errno));
			close(fd);
			return 1;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	buf[n] = '\0';
	if (strncmp(buf, "ok\n", 3) == 0)
		return 0;
	if (strncmp(buf, "refused\n", 8) == 0) {
		print_reasons(errout, buf + 8);
		fprintf(errout,
		    "postern: process %ld refused the new "
		    "configuration and still runs with the previous one\n",
		    (long)pid);
		return 1;
	}
	fprintf(errout,
	    "postern: no answer from process %ld (it stopped "
	    "before it reloaded?)\n",
	    (long)pid);
	return 1;
}
