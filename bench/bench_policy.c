/*
 * bench_policy: what the access policy of a configuration costs a login.
 *
 *   bench/bench_policy FILE [logins]
 *
 * Decides logins of user1..user20000 from 127.0.0.1 without TLS, as a
 * session does: the connect-time rules, the groups from the groups file
 * when a rule or requirement needs them, the login-time rules; POP3 and
 * IMAP in turn.  Prints the time per login, which bench/RESULTS.md sets
 * against the CPU a whole proxied login costs.  Every login must be
 * allowed (the benchmark's clients must get through); anything else is
 * an error, so that a rule that stops the evaluation early cannot make
 * the figure look good.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conf.h"
#include "groups.h"
#include "policy.h"

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
	struct conf *c;
	struct sockaddr_in sin;
	struct policy_facts f;
	struct policy_decision d;
	struct group_list gl = {0};
	char user[32];
	unsigned long i, n = 1000000;
	double t0, t;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: bench_policy FILE [logins]\n");
		return 2;
	}
	if (argc == 3)
		n = strtoul(argv[2], NULL, 10);
	if ((c = conf_load(argv[1], stderr)) == NULL)
		return 1;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

	t0 = now();
	for (i = 0; i < n; i++) {
		memset(&f, 0, sizeof(f));
		f.proto = (i & 1) ? PROTO_IMAP : PROTO_POP3;
		f.client = (const struct sockaddr *)&sin;
		if (policy_connect(c, &f, &d) == POLICY_OUTCOME_DENY)
			goto refused;
		snprintf(user, sizeof(user), "user%lu", i % 20000 + 1);
		f.user = user;
		if (policy_needs_groups(c, &f)) {
			group_list_clear(&gl);
			if (c->groups.file_groups == NULL ||
			    groups_file_lookup(c->groups.file_groups, user,
				&gl) == -1) {
				fprintf(stderr, "bench_policy: groups: no file "
						"or out of memory\n");
				return 1;
			}
			f.groups = &gl;
		}
		if (policy_login(c, &f, &d) != POLICY_OUTCOME_ALLOW)
			goto refused;
	}
	t = now() - t0;
	printf("%s: %lu rules, %lu logins in %.3f s: %.2f us per login\n",
	    argv[1], (unsigned long)c->nrules, n, t, t * 1e6 / n);
	group_list_clear(&gl);
	conf_unref(c);
	return 0;

refused:
	fprintf(stderr, "bench_policy: login %lu (%s) not allowed: %s %s\n", i,
	    f.user != NULL ? f.user : "(connect)",
	    policy_outcome_name(d.verdict), d.name != NULL ? d.name : "");
	return 1;
}
