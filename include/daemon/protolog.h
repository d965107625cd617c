/*
 * protolog: postern's protocol logs, in the format Exchange 2016/2019
 * writes under Logging\Pop3 and Logging\Imap4 (docs/protocol-log.md).
 * The row format itself (the encoder, the context keys, file names and
 * periods) is protolog_row.h, shared with the programs that read the
 * logs; this part is the daemon's:
 *  - the directories, confined to one directory at a time (retention,
 *    the lock of a running instance);
 *  - the writer thread: event loops hand finished rows to
 *    protolog_submit(), which only copies them into a bounded queue; one
 *    thread owns the files and does every disk operation.
 */
#ifndef POSTERN_PROTOLOG_H
#define POSTERN_PROTOLOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "proto_id.h"
#include "protolog_conf.h"
#include "protolog_row.h"

/* Exchange's front end writes at most one proxy row per 30 seconds. */
#define PROTOLOG_PROXY_INTERVAL_MS 30000

/*
 * Default settings, as Exchange 2016/2019 has them; each protocol's
 * default directory is in its descriptor (proto.h).
 */
#define PROTOLOG_AGE_LIMIT_DEFAULT_MS (30ULL * 24 * 3600 * 1000)

/*
 * Fills c with the defaults for protocol p: disabled, the default
 * directory (a string constant: replace it, do not free it), hourly,
 * no size quotas, 30 days, one row per command.
 */
void protolog_conf_defaults(struct protolog_conf *c, enum proto_id p);

/*
 * Applies the retention limits to protocol p's files in dir: first every
 * file last written before now_ms - age_limit_ms (when the limit is not
 * 0), then, oldest first, files until the rest fit in dir_quota bytes
 * (when not 0).  Only regular files whose names protolog_name_match()
 * accepts are counted or deleted, and never the file named keep (may be
 * NULL).  Returns the number of files deleted, or -1 if dir could not be
 * read.
 */
int protolog_retention(const char *dir, enum proto_id p, uint64_t age_limit_ms,
    uint64_t dir_quota, int64_t now_ms, const char *keep);

/*
 * Creates dir and its parents when missing (mode 0750) and checks that
 * this process may create files in it.  Returns 0, or -1 with a reason in
 * err for a configuration error.
 */
int protolog_check_dir(const char *dir, char *err, size_t errlen);

/*
 * Keeps dir open for the rest of the process, called as root before the
 * privileges are dropped: the writer then reaches it through that
 * descriptor, so the directories above it need not let the user pass (a
 * root-owned 0750 LogsDirectory=).  dir itself must still be writable by
 * the user.  A pinned directory that was removed or replaced is reached
 * by its name again.  Returns 0, or -1 with a reason in err.
 */
int protolog_pin_dir(const char *dir, char *err, size_t errlen);

/*
 * The file in each protocol log directory that the running instance holds
 * a lock on (flock(2)), with its pid: a second instance refuses the
 * directory, since two writers would interleave rows in one hourly file.
 */
#define PROTOLOG_LOCK "postern.lock"

/*
 * Whether another process holds dir's lock: 1 with a message naming dir
 * and the holder's pid in err, else 0.  For "postern -t".
 */
int protolog_dir_in_use(const char *dir, char *err, size_t errlen);

/* Counters since protolog_start(). */
struct protolog_stats {
	uint64_t rows_written;
	uint64_t rows_dropped; /* queue full: the writer could not keep up */
	uint64_t rows_failed;  /* lost to write errors */
	uint64_t bytes_written;
	uint64_t files_opened;
	uint64_t files_deleted; /* by retention */
	size_t queue_bytes;     /* now waiting */
	size_t queue_peak;
};

/* Default bound of the queue between the event loops and the writer. */
#define PROTOLOG_QUEUE_MAX_DEFAULT (32u * 1024 * 1024)
/*
 * Once a row is queued, the writer lets more gather this long (ms) before
 * it takes them: one wake-up and one write(2) for the rows of a moment.
 * Waking it for each row cost the workers more CPU (futex wake-ups,
 * context switches, contention on the queue's lock) than the rows did.
 * A queue half full, protolog_flush() and protolog_stop() cut it short.
 */
#define PROTOLOG_GATHER_MS 100

/*
 * Starts the writer thread with the settings of each protocol (an array
 * of PROTO_COUNT, indexed by enum proto_id) and a queue bound in bytes (0:
 * the default).  The directories of enabled protocols are checked first
 * and locked (PROTOLOG_LOCK) until protolog_stop() or a reconfiguration
 * that no longer uses them; one that another instance holds is refused.
 * Returns 0, or -1 with the reason in err (a configuration error).
 */
int protolog_start(const struct protolog_conf conf[PROTO_COUNT],
    size_t queue_max, char *err, size_t errlen);

/*
 * Switches to new settings (on a reload): rows submitted from now on follow
 * them, rows queued before still go where the old ones said.  A new
 * directory is locked as by protolog_start().  Returns 0, or -1 with the
 * reason in err, and then nothing changes.
 */
int protolog_reconfigure(const struct protolog_conf conf[PROTO_COUNT],
    char *err, size_t errlen);

/* Whether rows of protocol p are wanted now; cheap. */
bool protolog_enabled(enum proto_id p);

/* The detail level of protocol p's logging. */
enum protolog_detail protolog_detail(enum proto_id p);

/*
 * Hands a finished row of protocol p to the writer.  Never touches the
 * disk and never waits for it: the row is encoded and queued, or, when
 * the queue is full, counted as dropped.  Callable from any thread; rows
 * from one thread keep their order.  Does nothing when p is not enabled.
 */
void protolog_submit(enum proto_id p, const struct protolog_row *row);

/* Waits until every row submitted before the call is in its file. */
void protolog_flush(void);

/* Writes every queued row, closes the files and ends the thread. */
void protolog_stop(void);

/* Copies the counters into st. */
void protolog_get_stats(struct protolog_stats *st);

struct conf_module;

/* The protocol-log keys of the protocol sections (protolog_conf.c). */
extern const struct conf_module protolog_conf_module;

#endif
