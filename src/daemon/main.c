/*
 * main: command line, start-up, privilege drop.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/crypto.h>

#include "conf.h"
#include "listener.h"
#include "log.h"
#include "privsep.h"
#include "proto.h"
#include "protolog.h"
#include "reloadctl.h"
#include "sdnotify.h"
#include "server.h"
#include "stats.h"
#include "stats_http.h"
#include "testrule.h"
#include "tls.h"

#define DEFAULT_CONF SYSCONFDIR "/postern/postern.ini"

static void
usage(void)
{
	fprintf(stderr,
	    "usage: postern [-c FILE] [-t] [-T] [-V] [-R PID]\n"
	    "       postern who|stats [-c FILE]\n"
	    "       postern test-rule [-c FILE] --protocol imap|pop3 "
	    "--client ADDRESS\n"
	    "               [--user NAME] [--tls]\n"
	    "  -c FILE  configuration file (default %s)\n"
	    "  -t       check the configuration and exit\n"
	    "  -T       print the effective settings and exit\n"
	    "  -V       print the version and exit\n"
	    "  -R PID   make the postern with process id PID reload its "
	    "configuration;\n"
	    "           fails when it refuses the file\n"
	    "  who      list the sessions open now ([stats] listen)\n"
	    "  stats    print the daemon's counters ([stats] listen)\n",
	    DEFAULT_CONF);
	exit(2);
}

static void
write_pid_file(const char *path)
{
	char buf[32];
	int fd, n;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd == -1)
		fatal("pid_file %s", path);
	n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (write(fd, buf, (size_t)n) != n)
		fatal("pid_file %s: write", path);
	close(fd);
}

/*
 * Every proxied session holds two descriptors; the usual soft limit of 1024
 * would cap postern at about 500 sessions when the hard limit allows more.
 */
static void
raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			log_warn("cannot raise the open files limit");
	}
}

/* Gives up root after the ports are bound and the keys are loaded. */
static void
drop_privileges(const char *user)
{
	struct passwd *pw;

	if ((pw = getpwnam(user)) == NULL)
		fatalx("user %s: no such user", user);
	if (setgroups(1, &pw->pw_gid) == -1 || setgid(pw->pw_gid) == -1 ||
	    setuid(pw->pw_uid) == -1)
		fatal("cannot change to user %s", user);
	/* A process that could become root again has dropped nothing. */
	if (pw->pw_uid != 0 && setuid(0) != -1)
		fatalx("could regain root after dropping privileges");
}

/* Whether the account user is root (drop_privileges() then drops nothing). */
static bool
user_is_root(const char *user)
{
	struct passwd *pw = getpwnam(user);

	return pw != NULL && pw->pw_uid == 0;
}

/* Whether a process running as uid:gid alone has the access want on st. */
static bool
may_access(const struct stat *st, uid_t uid, gid_t gid, mode_t want)
{
	if (uid == 0)
		return true;
	if (st->st_uid == uid)
		return ((st->st_mode >> 6) & want) == want;
	if (st->st_gid == gid)
		return ((st->st_mode >> 3) & want) == want;
	return (st->st_mode & want) == want;
}

/*
 * Creates dir and its missing parents, giving the ones it creates to
 * uid:gid, then checks that uid:gid (the only ids left after
 * drop_privileges()) can create files in dir.
 */
static int
log_dir_for_user(const char *dir, uid_t uid, gid_t gid, char *err,
    size_t errlen)
{
	char path[4096];
	struct stat st;
	size_t len = strlen(dir);

	if (len == 0 || len >= sizeof(path)) {
		snprintf(err, errlen, "invalid directory");
		return -1;
	}
	memcpy(path, dir, len + 1);
	for (char *p = path + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char c = *p;

		*p = '\0';
		if (mkdir(path, 0750) == 0) {
			if (chown(path, uid, gid) == -1) {
				snprintf(err, errlen, "chown %s: %s", path,
				    strerror(errno));
				return -1;
			}
		} else if (errno != EEXIST) {
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			return -1;
		}
		if (stat(path, &st) == -1 || !S_ISDIR(st.st_mode)) {
			snprintf(err, errlen, "%s: not a directory", path);
			return -1;
		}
		/* postern gives its user only the directories it creates:
		 * never one that was there before, which may be shared (a
		 * log_file_location of /var/log).  The directories above
		 * need not let the user pass (protolog_pin_dir()). */
		if (c == '\0' &&
		    !may_access(&st, uid, gid, S_IWOTH | S_IXOTH)) {
			snprintf(err, errlen,
			    "%s: not writable by the user of "
			    "[postern] (postern gives that user only the "
			    "directories it creates: choose a new directory, "
			    "or give this one to the user)",
			    path);
			return -1;
		}
		if (c == '\0')
			return 0;
		*p = c;
	}
}

/*
 * Protocol-log directories: the writer runs after the privileges are
 * dropped, so when postern starts as root they must belong to, or at
 * least be writable by, the user it becomes.
 */
static int
prepare_log_dirs(const struct conf *c, FILE *errout)
{
	struct protolog_conf pl[PROTO_COUNT];
	struct passwd *pw;
	char err[512];
	int rc = 0;

	if (geteuid() != 0 || c->user == NULL)
		return server_protolog_check(c, errout);
	if ((pw = getpwnam(c->user)) == NULL) {
		fprintf(errout, "%s: [postern] user %s: no such user\n",
		    c->path, c->user);
		return -1;
	}
	conf_protolog(c, pl);
	for (int p = 0; p < PROTO_COUNT; p++) {
		if (!pl[p].enabled ||
		    log_dir_for_user(pl[p].directory, pw->pw_uid, pw->pw_gid,
			err, sizeof(err)) == 0)
			continue;
		fprintf(errout, "%s:%d: [%s] log_file_location: %s\n", c->path,
		    c->proto[p].log_line, proto_get(p)->section, err);
		rc = -1;
	}
	return rc;
}

/* A file that the daemon reads again at every reload. */
struct reread {
	char what[300]; /* "[section] key"; a [tls "<name>"] is long */
	const char *path;
	int line; /* 0: not known */
	bool dir; /* a directory it writes to, not a file it reads */
};

/*
 * Collects the files a reload reads, and the directories it writes to;
 * returns how many (at most max).  With helper, the certificates and keys
 * are left out: the privileged helper reads them (privsep.h).
 */
static size_t
reread_files(const struct conf *c, bool helper, struct reread *f, size_t max)
{
	struct protolog_conf pl[PROTO_COUNT];
	size_t n = 0;

#define ADD(w, p, l, d)                                                        \
	do {                                                                   \
		if ((p) != NULL && n < max) {                                  \
			snprintf(f[n].what, sizeof(f[n].what), "%s", (w));     \
			f[n].path = (p);                                       \
			f[n].dir = (d);                                        \
			f[n++].line = (l);                                     \
		}                                                              \
	} while (0)
	ADD("the configuration file", c->path, 0, false);
	if (!helper) {
		ADD("[tls] certificate", c->tls.certificate,
		    c->tls.certificate_line, false);
		ADD("[tls] private_key", c->tls.private_key,
		    c->tls.private_key_line, false);
	}
	for (size_t i = 0; i < c->tls.nnames && !helper; i++) {
		const struct tls_name *tn = &c->tls.names[i];
		char what[300];

		snprintf(what, sizeof(what), "[tls \"%s\"] certificate",
		    tn->name);
		ADD(what, tn->certificate, tn->certificate_line, false);
		snprintf(what, sizeof(what), "[tls \"%s\"] private_key",
		    tn->name);
		ADD(what, tn->private_key, tn->private_key_line, false);
	}
	for (int p = 0; p < PROTO_COUNT; p++) {
		char what[64];

		if (!c->proto[p].enabled)
			continue;
		snprintf(what, sizeof(what), "[%s] backend_ca_file",
		    proto_get(p)->section);
		ADD(what, c->proto[p].backend_ca_file, 0, false);
	}
	for (size_t i = 0; i < c->routing.nnamed; i++) {
		char what[BACKEND_NAME_MAX + 32];

		snprintf(what, sizeof(what), "[backend \"%s\"] ca_file",
		    c->routing.named[i]->name);
		ADD(what, c->routing.named[i]->ca_file, 0, false);
	}
	ADD("[routing] map_file", c->routing.map_file, c->routing.map_file_line,
	    false);
	ADD("[groups] file", c->groups.file, 0, false);
	ADD("[groups] ldap_ca_file", c->groups.ldap_ca_file, 0, false);
	ADD("[groups] ldap_bind_password_file",
	    c->groups.ldap_bind_password_file, 0, false);
	ADD("[stats] token_file", c->stats.token_file, 0, false);
	conf_protolog(c, pl);
	for (int p = 0; p < PROTO_COUNT; p++) {
		char what[64];

		/* A directory shared by both protocols is told once. */
		if (!pl[p].enabled ||
		    (p > 0 && pl[p - 1].enabled &&
			strcmp(pl[p - 1].directory, pl[p].directory) == 0))
			continue;
		snprintf(what, sizeof(what), "[%s] log_file_location",
		    proto_get(p)->section);
		/* Into c, which outlives f. */
		ADD(what, pl[p].directory, c->proto[p].log_line, true);
	}
#undef ADD
	return n;
}

/*
 * Whether the user this process now is can do at a reload what it must
 * with f: read a file, or create files in a directory.  0, or an errno.
 */
static int
reread_check(const struct reread *f)
{
	int fd;

	if (f->dir)
		return access(f->path, W_OK | X_OK) == 0 ? 0 : errno;
	if ((fd = open(f->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) == -1)
		return errno;
	close(fd);
	return 0;
}

/*
 * "postern -t" as root with a user: a reload reads the configuration and
 * the other files again after the privileges are gone, and is refused
 * when one of them cannot be read, or a protocol-log directory cannot be
 * written to.  The certificates and keys are the exception: the
 * privileged helper reads them, for a configuration that only root may
 * change.  A child becomes the user exactly as the daemon does and tries
 * each file, so that ACLs, the directories on the way and the groups
 * count as they will.  Returns how many warnings it wrote.
 */
static int
warn_unreadable_at_reload(const struct conf *c, FILE *errout)
{
	size_t max = 24 + 2 * c->tls.nnames + c->routing.nnamed, n;
	struct reread *f;
	struct passwd *pw;
	char why[512];
	int status, nwarn = 0;
	bool helper;
	pid_t pid;

	if (geteuid() != 0 || c->user == NULL ||
	    (pw = getpwnam(c->user)) == NULL || pw->pw_uid == 0)
		return 0;
	if ((f = calloc(max, sizeof(*f))) == NULL) {
		fprintf(errout,
		    "postern: %s: warning: cannot check what user "
		    "%s can read: out of memory\n",
		    c->path, c->user);
		return 1;
	}
	helper = privsep_conf_trusted(c->path, why, sizeof(why)) == 0;
	if (!helper && (c->tls.certificate != NULL || c->tls.nnames > 0)) {
		fprintf(errout,
		    "%s: warning: %s: the privileged helper will not read the "
		    "certificates and keys for a reload, which user %s must "
		    "then read itself\n",
		    c->path, why, c->user);
		nwarn++;
	}
	n = reread_files(c, helper, f, max);
	fflush(errout);
	if ((pid = fork()) == -1) {
		fprintf(errout,
		    "postern: %s: warning: cannot check what user "
		    "%s can read: fork: %s\n",
		    c->path, c->user, strerror(errno));
		free(f);
		return nwarn + 1;
	}
	if (pid == 0) {
		int cn = 0;

		if (setgroups(1, &pw->pw_gid) == -1 ||
		    setgid(pw->pw_gid) == -1 || setuid(pw->pw_uid) == -1)
			_exit(255);
		for (size_t i = 0; i < n; i++) {
			int err = reread_check(&f[i]);

			if (err == 0)
				continue;
			if (f[i].line > 0)
				fprintf(errout, "%s:%d: ", c->path, f[i].line);
			else
				fprintf(errout, "%s: ", c->path);
			if (f[i].dir)
				fprintf(errout,
				    "warning: %s %s: user %s cannot create "
				    "files in it (%s): a reload that names it "
				    "will be refused, unless postern opened it "
				    "at its start\n",
				    f[i].what, f[i].path, c->user,
				    strerror(err));
			else
				fprintf(errout,
				    "warning: %s %s: not readable by user "
				    "%s (%s): a reload (SIGHUP, systemctl "
				    "reload) will be refused, since postern "
				    "runs as %s by then\n",
				    f[i].what, f[i].path, c->user,
				    strerror(err), c->user);
			cn++;
		}
		fflush(errout);
		_exit(cn > 254 ? 254 : cn);
	}
	free(f);
	while (waitpid(pid, &status, 0) == -1)
		if (errno != EINTR)
			return nwarn;
	if (!WIFEXITED(status) || WEXITSTATUS(status) == 255) {
		fprintf(errout,
		    "postern: %s: warning: cannot check what user "
		    "%s can read\n",
		    c->path, c->user);
		return nwarn + 1;
	}
	return nwarn + WEXITSTATUS(status);
}

/*
 * Opens the protocol-log directories while still root, so that the user
 * reaches them through those descriptors: the directories above them may
 * stay closed to it, as a root-owned 0750 /var/log/postern made by
 * systemd's LogsDirectory= is.  The way Debian's nginx opens its logs
 * before it gives up root, without changing any directory's owner or
 * mode.
 */
static int
pin_log_dirs(const struct conf *c)
{
	struct protolog_conf pl[PROTO_COUNT];
	char err[512];

	conf_protolog(c, pl);
	for (int p = 0; p < PROTO_COUNT; p++) {
		if (!pl[p].enabled ||
		    protolog_pin_dir(pl[p].directory, err, sizeof(err)) == 0)
			continue;
		fprintf(stderr, "%s:%d: [%s] log_file_location: %s\n", c->path,
		    c->proto[p].log_line, proto_get(p)->section, err);
		return -1;
	}
	return 0;
}

int
main(int argc, char *argv[])
{
	const char *path = DEFAULT_CONF;
	bool test = false, dump = false;
	struct listener_set set;
	struct conf *c;
	int ch, status;

	if (argc > 1 &&
	    (strcmp(argv[1], "who") == 0 || strcmp(argv[1], "stats") == 0))
		return stats_cli_main(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "test-rule") == 0)
		return testrule_main(argc - 1, argv + 1, DEFAULT_CONF, stdout,
		    stderr);
	while ((ch = getopt(argc, argv, "c:tTVR:")) != -1) {
		switch (ch) {
		case 'R': {
			char *end;
			long pid;

			errno = 0;
			pid = strtol(optarg, &end, 10);
			if (errno != 0 || end == optarg || *end != '\0' ||
			    pid <= 0 || pid != (pid_t)pid) {
				fprintf(stderr,
				    "postern: -R %s: not a process "
				    "id\n",
				    optarg);
				return 2;
			}
			if (optind != argc)
				usage();
			/* Longer than any reload: the daemon answers as soon
			 * as it has read the file and rebound its ports. */
			return reloadctl_request((pid_t)pid, 90, stderr);
		}
		case 'c':
			path = optarg;
			break;
		case 't':
			test = true;
			break;
		case 'T':
			dump = true;
			break;
		case 'V':
			printf("postern %s (%s, libevent %s%s)\n",
			    PACKAGE_VERSION, OpenSSL_version(OPENSSL_VERSION),
			    event_get_version(),
			    sdnotify_supported() ? ", systemd notify" : "");
			return 0;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();

	tls_init();
	if ((c = conf_load(path, stderr)) == NULL)
		return 1;
	if (tls_conf_setup(c, stderr) == -1 ||
	    server_prepare(c, stderr) == -1) {
		conf_unref(c);
		return 1;
	}
	if (!dump && prepare_log_dirs(c, stderr) == -1) {
		conf_unref(c);
		return 1;
	}
	if (test || dump) {
		if (dump)
			conf_dump(c, stdout);
		/* Only a warning: the running instance of this very file holds
		 * its ports, and "postern -t" runs before every reload. */
		if (test)
			warn_unreadable_at_reload(c, stderr);
		if (test && (listener_probe(c, stderr) +
				server_protolog_probe(c, stderr)) > 0)
			fprintf(stderr,
			    "postern: %s: warning: a postern "
			    "started with this file now would refuse to start "
			    "(fine if it is the running instance being "
			    "checked before a reload)\n",
			    path);
		if (test)
			tls_conf_warn(c, stderr);
		if (test)
			fprintf(stderr, "postern: %s: configuration is valid\n",
			    path);
		conf_unref(c);
		return 0;
	}

	log_init(c->log_level, c->syslog);
	raise_fd_limit();
	if (listener_bind_all(c, &set, stderr) == -1 ||
	    stats_bind(c, stderr) == -1) {
		conf_unref(c);
		return 1;
	}
	if (set.n == 0)
		log_warnx("%s: no protocol is enabled: nothing to serve", path);
	if (c->pid_file != NULL)
		write_pid_file(c->pid_file);
	if (c->user != NULL && geteuid() == 0 && pin_log_dirs(c) == -1) {
		conf_unref(c);
		return 1;
	}
	/* Last before the drop: the helper keeps root, and none of the
	 * descriptors opened above.  A user that is root needs no help. */
	if (c->user != NULL && geteuid() == 0 && !user_is_root(c->user) &&
	    privsep_start(path) == -1)
		log_warn("cannot start the privileged helper: a reload reads "
			 "the certificates and keys as user %s",
		    c->user);
	if (c->user != NULL)
		drop_privileges(c->user);
	else if (geteuid() == 0)
		log_warnx("running as root: set 'user' in [postern]");
	/* Now as the user the writer thread will run as. */
	if (server_protolog_check(c, stderr) == -1) {
		conf_unref(c);
		privsep_stop();
		return 1;
	}

	status = server_run(c, &set);
	privsep_stop();
	return status;
}
