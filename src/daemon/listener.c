/*
 * listener: listening sockets.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "listener.h"
#include "log.h"

#define LISTEN_BACKLOG 4096
#define ACCEPT_RETRY_MS 100

/*
 * SO_REUSEADDR only lets a restarted postern bind while connections of the
 * previous one linger in TIME_WAIT; it never lets two sockets listen on
 * one address.  SO_REUSEPORT is deliberately not set (listener.h).
 */
static int
listener_socket(const struct binding *b, bool do_listen, char *why,
    size_t whylen)
{
	int fd, err, on = 1;

	fd = socket(b->addr.ss_family,
	    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		goto fail;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == -1)
		goto fail;
	/* Dead peers must not hold sessions forever, least of all IDLE
	 * ones that wait for hours with no traffic; answers go out at once.
	 * Set here, not on every accepted socket: Linux copies both options
	 * from the listening socket to the sockets accept() returns, which
	 * saves two system calls per connection. */
	if (setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on)) == -1 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) == -1)
		goto fail;
	/* [::]:110 and 0.0.0.0:110 are separate bindings, as in Exchange. */
	if (b->addr.ss_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)) == -1)
		goto fail;
	if (bind(fd, (const struct sockaddr *)&b->addr, b->addrlen) == -1 ||
	    (do_listen && listen(fd, LISTEN_BACKLOG) == -1))
		goto fail;
	return fd;
fail:
	err = errno;
	if (err == EADDRINUSE)
		snprintf(why, whylen,
		    "%s (another postern, or another "
		    "server, listens there)",
		    strerror(err));
	else
		snprintf(why, whylen, "%s", strerror(err));
	if (fd != -1)
		close(fd);
	errno = err;
	return -1;
}

static struct listener *
listener_new(const struct binding *b, enum proto_id p, int fd)
{
	struct listener *l = calloc(1, sizeof(*l));

	if (l == NULL)
		return NULL;
	l->fd = fd;
	l->proto = p;
	l->implicit_tls = b->implicit_tls;
	netaddr_set(&l->addr, (const struct sockaddr *)&b->addr, b->addrlen);
	atomic_init(&l->refs, 1);
	return l;
}

static void
listener_ref(struct listener *l)
{
	atomic_fetch_add(&l->refs, 1);
}

static void
listener_unref(struct listener *l)
{
	if (atomic_fetch_sub(&l->refs, 1) != 1)
		return;
	close(l->fd);
	free(l);
}

static bool
listener_same_addr(const struct listener *l, const struct binding *b)
{
	return l->addr.len == b->addrlen &&
	       memcmp(&l->addr.sa, &b->addr, b->addrlen) == 0;
}

/* The listener of old on b's address, or NULL. */
static struct listener *
listener_find(const struct listener_set *old, const struct binding *b)
{
	for (size_t i = 0; old != NULL && i < old->n; i++)
		if (listener_same_addr(old->l[i], b))
			return old->l[i];
	return NULL;
}

/* Whether c serves addr with an enabled protocol. */
static bool
listener_in_conf(const struct conf *c, const struct listener *l)
{
	for (int p = 0; p < PROTO_COUNT; p++) {
		const struct proto_conf *pc = &c->proto[p];

		for (size_t i = 0; pc->enabled && i < pc->nbindings; i++)
			if (listener_same_addr(l, &pc->bindings[i]))
				return true;
	}
	return false;
}

void
listener_set_release(struct listener_set *set)
{
	for (size_t i = 0; i < set->n; i++)
		listener_unref(set->l[i]);
	free(set->l);
	memset(set, 0, sizeof(*set));
}

bool
listener_set_has(const struct listener_set *set, const struct listener *l)
{
	for (size_t i = 0; i < set->n; i++)
		if (set->l[i] == l)
			return true;
	return false;
}

int
listener_rebind(const struct conf *c, const struct listener_set *old,
    struct listener_set *set, FILE *errout)
{
	size_t total = old != NULL ? old->n : 0;

	memset(set, 0, sizeof(*set));
	for (int p = 0; p < PROTO_COUNT; p++)
		if (c->proto[p].enabled)
			total += c->proto[p].nbindings;
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
			struct listener *l = listener_find(old, b);
			char why[192];
			int fd;

			if (l != NULL && l->proto == (enum proto_id)p &&
			    l->implicit_tls == b->implicit_tls) {
				listener_ref(l);
				set->l[set->n++] = l;
				continue;
			}
			/* The address changes protocol or kind: the same
			 * socket serves under its new role, since binding
			 * again would fail while the old one listens. */
			if (l != NULL)
				fd = fcntl(l->fd, F_DUPFD_CLOEXEC, 0);
			else
				fd = listener_socket(b, true, why, sizeof(why));
			if (fd == -1) {
				struct netaddr a;

				if (l != NULL)
					snprintf(why, sizeof(why), "%s",
					    strerror(errno));
				netaddr_set(&a,
				    (const struct sockaddr *)&b->addr,
				    b->addrlen);
				fprintf(errout,
				    "%s:%d: cannot listen on %s: "
				    "%s\n",
				    c->path, b->line, a.str, why);
				goto fail;
			}
			if ((set->l[set->n] = listener_new(b, p, fd)) == NULL) {
				close(fd);
				fprintf(errout, "%s: out of memory\n", c->path);
				goto fail;
			}
			set->n++;
		}
	}
	/* A protocol disabled by this reload keeps its ports until a
	 * restart, so that its clients hear why they are turned away. */
	for (size_t i = 0; old != NULL && i < old->n; i++) {
		struct listener *l = old->l[i];

		if (!c->proto[l->proto].enabled && !listener_in_conf(c, l)) {
			listener_ref(l);
			set->l[set->n++] = l;
		}
	}
	return 0;
fail:
	listener_set_release(set);
	return -1;
}

int
listener_bind_all(const struct conf *c, struct listener_set *set, FILE *errout)
{
	return listener_rebind(c, NULL, set, errout);
}

int
listener_probe(const struct conf *c, FILE *errout)
{
	int bad = 0;

	for (int p = 0; p < PROTO_COUNT; p++) {
		const struct proto_conf *pc = &c->proto[p];

		if (!pc->enabled)
			continue;
		for (size_t i = 0; i < pc->nbindings; i++) {
			const struct binding *b = &pc->bindings[i];
			struct netaddr a;
			char why[192];
			int fd;

			fd = listener_socket(b, false, why, sizeof(why));
			if (fd != -1) {
				close(fd);
				continue;
			}
			/* A check run as an ordinary user cannot bind ports
			 * below 1024; the daemon, started as root, can. */
			if (errno != EADDRINUSE && errno != EADDRNOTAVAIL)
				continue;
			netaddr_set(&a, (const struct sockaddr *)&b->addr,
			    b->addrlen);
			fprintf(errout,
			    "%s:%d: warning: cannot listen on %s: "
			    "%s\n",
			    c->path, b->line, a.str, why);
			bad++;
		}
	}
	return bad;
}

static void
listener_accept_cb(struct evconnlistener *ev, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct acceptor *a = arg;

	(void)ev;
	/* SO_KEEPALIVE and TCP_NODELAY come from the listening socket. */
	a->accept(a->worker, a->l, fd, sa, (socklen_t)salen);
}

static void
listener_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct acceptor *a = arg;

	(void)fd;
	(void)what;
	evconnlistener_enable(a->ev);
}

/*
 * EMFILE/ENFILE leave the pending connection in the queue, so accepting
 * again at once would spin; pause this worker's accepting briefly instead.
 * (EAGAIN, which every worker but one sees when a connection wakes them
 * all, is retried by libevent itself and never reaches this callback.)
 */
static void
listener_error_cb(struct evconnlistener *ev, void *arg)
{
	struct acceptor *a = arg;
	struct timeval tv = {0, ACCEPT_RETRY_MS * 1000};
	int err = EVUTIL_SOCKET_ERROR();

	(void)ev;
	log_warnx("accept on %s: %s; pausing for %d ms", a->l->addr.str,
	    strerror(err), ACCEPT_RETRY_MS);
	evconnlistener_disable(a->ev);
	evtimer_add(a->retry, &tv);
}

int
listener_attach(struct listener *l, struct acceptor *a, struct worker *w,
    struct event_base *base, listener_accept_fn *accept)
{
	memset(a, 0, sizeof(*a));
	a->l = l;
	a->worker = w;
	a->accept = accept;
	/* No LEV_OPT_CLOSE_ON_FREE: the socket is shared (listener.h). */
	a->ev = evconnlistener_new(base, listener_accept_cb, a, 0, 0, l->fd);
	if (a->ev == NULL)
		return -1;
	evconnlistener_set_error_cb(a->ev, listener_error_cb);
	if ((a->retry = evtimer_new(base, listener_retry_cb, a)) == NULL) {
		evconnlistener_free(a->ev);
		a->ev = NULL;
		return -1;
	}
	listener_ref(l);
	return 0;
}

void
listener_detach(struct acceptor *a)
{
	if (a->ev == NULL)
		return;
	event_free(a->retry);
	evconnlistener_free(a->ev);
	a->retry = NULL;
	a->ev = NULL;
	/* Whoever lets go last closes the socket: by then no loop has it. */
	listener_unref(a->l);
}
