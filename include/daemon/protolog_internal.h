/*
 * protolog_internal: the protocol log's directories (protolog_dir.c) as
 * the writer (protolog.c) uses them.  Nothing else includes this header;
 * the public directory checks (protolog_check_dir() and its kin) are in
 * protolog.h.
 */
#ifndef POSTERN_PROTOLOG_INTERNAL_H
#define POSTERN_PROTOLOG_INTERNAL_H

#include <stddef.h>
#include <sys/types.h>

#include "proto_id.h"
#include "protolog.h"

/*
 * Opens dir for reading its entries: through the descriptor pinned
 * before the privileges were dropped when there is one (the service user
 * may not pass a parent), else by its path.  -1 with errno on failure.
 */
int protolog_dir_open(const char *dir);

/* mkdir -p with mode for the directories it creates; -1 with errno. */
int protolog_mkdirs(const char *path, mode_t mode);

/*
 * Locks the directories of the enabled protocols of conf, keeping those
 * held already; on success releases the rest, on failure changes nothing
 * and says why in err.  Called from the main thread only.
 */
int protolog_lock_dirs(const struct protolog_conf conf[PROTO_COUNT], char *err,
    size_t errlen);

/* Releases every directory (at stop). */
void protolog_unlock_dirs(void);

/* The highest number of protocol p's files dated date in dir, or 0. */
unsigned protolog_highest_n(const char *dir, enum proto_id p, const char *date);

#endif
