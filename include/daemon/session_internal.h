/*
 * session_internal: what session.c and login.c share and nothing else
 * includes.  The login path (login.c) is a part of the session module
 * split out for its size; these are the session's own steps it needs.
 */
#ifndef POSTERN_SESSION_INTERNAL_H
#define POSTERN_SESSION_INTERNAL_H

#include "session.h"

/* How long a last answer may take to reach the client. */
#define SESSION_FLUSH_MS 5000

/* Keeps the policy's reason for the log rows (they hold the pointer). */
void session_policy_reason(struct session *s, const char *msg);

#endif
