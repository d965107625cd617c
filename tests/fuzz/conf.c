/*
 * conf: the configuration loader (conf_load) on any file.  The input is
 * written to one temporary file per process, which conf_load() reads as
 * the daemon would; a file it accepts is dumped (postern -T) and its
 * protocol-log settings taken, then released.
 *
 * Invariants: the loader returns (it neither exits nor aborts), leaks
 * nothing (libFuzzer's leak check runs after every input), and a refusal
 * writes at least one "path:line: message" line.  The file lies in $TMPDIR,
 * or else in /dev/shm when there is one.
 *
 * Inputs that name files under dev/, proc/ or sys/ are skipped: a
 * certificate of /dev/zero or /dev/stdin would make the loader read
 * without end, which is an administrator's problem, not a client's.
 */
#include "config.h"

#include <stdbool.h>
#include <unistd.h>

#include "conf.h"
#include "fuzz.h"
#include "protolog.h"

static char path[4096];
static FILE *sink;

static bool
names_device(const uint8_t *data, size_t size)
{
	static const char *const bad[] = {"dev/", "proc/", "sys/"};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (memmem(data, size, bad[i], strlen(bad[i])) != NULL)
			return true;
	return false;
}

static void
cleanup(void)
{
	if (path[0] != '\0')
		unlink(path);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct protolog_conf pl[PROTO_COUNT];
	struct conf *c;
	FILE *fp;
	char *err = NULL;
	size_t errlen = 0;

	if (names_device(data, size))
		return 0;
	if (path[0] == '\0') {
		const char *dir = getenv("TMPDIR");
		int fd;

		/*
		 * The file is written for every input: on a disk's file system
		 * the open, truncate and close cost more than the loading.
		 */
		if (dir == NULL || *dir == '\0')
			dir = access("/dev/shm", W_OK | X_OK) == 0 ?
				  "/dev/shm" :
				  "/tmp";
		snprintf(path, sizeof(path), "%s/postern-fuzz-conf.XXXXXX",
		    dir);
		if ((fd = mkstemp(path)) == -1)
			abort();
		close(fd);
		atexit(cleanup);
		if ((sink = fopen("/dev/null", "w")) == NULL)
			abort();
	}
	if ((fp = fopen(path, "w")) == NULL)
		abort();
	FUZZ_CHECK(fwrite(data, 1, size, fp) == size);
	FUZZ_CHECK(fclose(fp) == 0);

	fp = open_memstream(&err, &errlen);
	FUZZ_CHECK(fp != NULL);
	c = conf_load(path, fp);
	FUZZ_CHECK(fclose(fp) == 0);
	if (c == NULL) {
		/* Every refusal says where, in the file's name. */
		FUZZ_CHECK(errlen > 0 && strncmp(err, path, strlen(path)) == 0);
	} else {
		conf_dump(c, sink);
		conf_protolog(c, pl);
		FUZZ_CHECK(conf_ref(c) == c);
		conf_unref(c);
		conf_unref(c);
	}
	free(err);
	return 0;
}
