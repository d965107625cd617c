/*
 * reloadctl: "postern -R PID" asks a running postern to reload and waits
 * for its answer, so that "systemctl reload" fails when the daemon refused
 * the new configuration (SIGHUP cannot answer).
 *
 * The daemon listens on an abstract AF_UNIX stream socket named after its
 * pid ("postern-reload/PID" in the network namespace's abstract space, so
 * nothing is created on disk and nothing needs a writable directory under
 * ProtectSystem=strict).  A connection is the request; the answer is
 * "ok" or "refused", a newline, then the reasons, one per line.  Abstract
 * names have no permissions: each side checks the other's credentials
 * (SO_PEERCRED): the daemon answers only root and its own user, and the
 * client believes only the process whose pid it was given, so a process
 * that took the name first can neither trigger nor fake a reload.
 */
#ifndef POSTERN_RELOADCTL_H
#define POSTERN_RELOADCTL_H

#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

/* Longest answer, reasons included, in bytes. */
#define RELOADCTL_ANSWER_MAX 16384

/*
 * The daemon's socket for its own pid: a listening, non-blocking,
 * close-on-exec descriptor, or -1 with errno set.
 */
int reloadctl_listen(void);

/*
 * Accepts one request on the listening descriptor lfd.  Returns the
 * connection (blocking, with a send timeout) when the peer may ask for a
 * reload, or -1 when there was none or it may not (then it has been told
 * so and closed; why says which).
 */
int reloadctl_accept(int lfd, char *why, size_t whylen);

/*
 * Sends the answer on a connection from reloadctl_accept() and closes it:
 * ok, and the reasons text (lines; may be NULL), cut to
 * RELOADCTL_ANSWER_MAX.
 */
void reloadctl_answer(int fd, bool ok, const char *reasons);

/*
 * The client: asks the postern with process id pid to reload, waits up
 * to timeout_s seconds, writes the reasons of a refusal (or why there was
 * no answer) to errout.  Returns 0 when the reload was taken, 1 when it
 * was refused or could not be asked for.
 */
int reloadctl_request(pid_t pid, unsigned timeout_s, FILE *errout);

#endif
