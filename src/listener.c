/*
 * listener: listening sockets.
 */
#include "config.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "listener.h"
#include "log.h"
#include "server.h"
#include "session.h"

#define LISTEN_BACKLOG 4096
#define ACCEPT_RETRY_MS 100

static int
listener_open(const struct binding *b, char *why, size_t whylen)
{
	int fd, on = 1;

	fd = socket(b->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (fd == -1)
		goto fail;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) == -1)
		goto fail;
	/* [::]:110 and 0.0.0.0:110 are separate bindings, as in Exchange. */
	if (b->addr.ss_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)) == -1)
		goto fail;
	if (bind(fd, (const struct sockaddr *)&b->addr, b->addrlen) == -1 ||
	    listen(fd, LISTEN_BACKLOG) == -1)
		goto fail;
	return fd;
fail:
	snprintf(why, whylen, "%s", strerror(errno));
	if (fd != -1)
		close(fd);
	return -1;
}

int
listener_bind_all(const struct conf *c, unsigned nworkers,
    struct listener_set *set, FILE *errout)
{
	size_t total = 0, n = 0;

	memset(set, 0, sizeof(*set));
	for (int p = 0; p < PROTO_COUNT; p++)
		if (c->proto[p].enabled)
			total += c->proto[p].nbindings * nworkers;
	if (total == 0)
		return 0;
	if ((set->l = calloc(total, sizeof(*set->l))) == NULL) {
		fprintf(errout, "%s: out of memory\n", c->path);
		return -1;
	}
	for (int p = 0; p < PROTO_COUNT; p++) {
		const struct proto_conf *pc = &c->proto[p];

		if (!pc->enabled)
			continue;
		for (size_t i = 0; i < pc->nbindings; i++) {
			const struct binding *b = &pc->bindings[i];

			for (unsigned w = 0; w < nworkers; w++) {
				struct listener *l = &set->l[n];
				char why[128];

				netaddr_set(&l->addr,
				    (const struct sockaddr *)&b->addr,
				    b->addrlen);
				l->proto = p;
				l->implicit_tls = b->implicit_tls;
				l->fd = listener_open(b, why, sizeof(why));
				if (l->fd == -1) {
					fprintf(errout, "%s:%d: cannot listen "
					    "on %s: %s\n", c->path, b->line,
					    l->addr.str, why);
					goto fail;
				}
				n++;
			}
		}
	}
	set->n = n;
	return 0;
fail:
	for (size_t i = 0; i < n; i++)
		close(set->l[i].fd);
	free(set->l);
	memset(set, 0, sizeof(*set));
	return -1;
}

static void
listener_accept_cb(struct evconnlistener *ev, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct listener *l = arg;
	int on = 1;

	(void)ev;
	/* Dead peers must not hold sessions forever, least of all IDLE
	 * ones that wait for hours with no traffic. */
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
	session_accept(l->worker, l->proto, l->implicit_tls, fd, sa,
	    (socklen_t)salen);
}

static void
listener_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct listener *l = arg;

	(void)fd;
	(void)what;
	evconnlistener_enable(l->ev);
}

/*
 * EMFILE/ENFILE leave the pending connection in the queue, so accepting
 * again at once would spin; pause this listener briefly instead.
 */
static void
listener_error_cb(struct evconnlistener *ev, void *arg)
{
	struct listener *l = arg;
	struct timeval tv = {0, ACCEPT_RETRY_MS * 1000};
	int err = EVUTIL_SOCKET_ERROR();

	(void)ev;
	log_warnx("accept on %s: %s; pausing for %d ms", l->addr.str,
	    strerror(err), ACCEPT_RETRY_MS);
	evconnlistener_disable(l->ev);
	evtimer_add(l->retry, &tv);
}

int
listener_attach(struct listener *l, struct worker *w, struct event_base *base)
{
	l->worker = w;
	l->ev = evconnlistener_new(base, listener_accept_cb, l,
	    LEV_OPT_REUSEABLE, 0, l->fd);
	if (l->ev == NULL)
		return -1;
	evconnlistener_set_error_cb(l->ev, listener_error_cb);
	l->retry = evtimer_new(base, listener_retry_cb, l);
	return l->retry == NULL ? -1 : 0;
}

void
listener_close(struct listener *l)
{
	if (l->retry != NULL) {
		event_free(l->retry);
		l->retry = NULL;
	}
	if (l->ev != NULL) {
		evconnlistener_free(l->ev);
		l->ev = NULL;
	}
	if (l->fd != -1) {
		close(l->fd);
		l->fd = -1;
	}
}

bool
listener_same_bindings(const struct conf *a, const struct conf *b)
{
	for (int p = 0; p < PROTO_COUNT; p++) {
		const struct proto_conf *x = &a->proto[p], *y = &b->proto[p];
		size_t nx = x->enabled ? x->nbindings : 0;
		size_t ny = y->enabled ? y->nbindings : 0;

		if (nx != ny)
			return false;
		for (size_t i = 0; i < nx; i++)
			if (x->bindings[i].implicit_tls !=
				y->bindings[i].implicit_tls ||
			    x->bindings[i].addrlen != y->bindings[i].addrlen ||
			    memcmp(&x->bindings[i].addr, &y->bindings[i].addr,
				x->bindings[i].addrlen) != 0)
				return false;
	}
	return true;
}
