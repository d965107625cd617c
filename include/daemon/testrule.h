/*
 * testrule: "postern test-rule", which tells an administrator what the
 * access policy and the routing would do with one login, without a
 * client, a backend or a running daemon.  It asks the very code the
 * daemon asks (policy.h, groups.h, routing.h), so that its answer cannot
 * drift from the daemon's.
 */
#ifndef POSTERN_TESTRULE_H
#define POSTERN_TESTRULE_H

#include <stdio.h>

/* Exit statuses: allowed (or audited), denied, could not tell. */
#define TESTRULE_ALLOW 0
#define TESTRULE_DENY 1
#define TESTRULE_ERROR 2

/*
 * Runs "postern test-rule" with argv[0] == "test-rule": prints the
 * decision to out, problems to err, and returns one of the statuses
 * above.  default_conf is the file read without -c.
 */
int testrule_main(int argc, char *argv[], const char *default_conf, FILE *out,
    FILE *err);

#endif
