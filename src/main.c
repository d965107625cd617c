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
#include <unistd.h>

#include <event2/event.h>
#include <openssl/crypto.h>

#include "conf.h"
#include "listener.h"
#include "log.h"
#include "server.h"
#include "tls.h"

#define DEFAULT_CONF SYSCONFDIR "/postern/postern.ini"

static void
usage(void)
{
	fprintf(stderr,
	    "usage: postern [-c FILE] [-t] [-T] [-V]\n"
	    "  -c FILE  configuration file (default %s)\n"
	    "  -t       check the configuration and exit\n"
	    "  -T       print the effective settings and exit\n"
	    "  -V       print the version and exit\n",
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

int
main(int argc, char *argv[])
{
	const char *path = DEFAULT_CONF;
	bool test = false, dump = false;
	struct listener_set set;
	struct conf *c;
	int ch, status;

	while ((ch = getopt(argc, argv, "c:tTV")) != -1) {
		switch (ch) {
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
			printf("postern %s (%s, libevent %s)\n",
			    PACKAGE_VERSION, OpenSSL_version(OPENSSL_VERSION),
			    event_get_version());
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
	if (test || dump) {
		if (dump)
			conf_dump(c, stdout);
		if (test)
			fprintf(stderr, "postern: %s: configuration is valid\n",
			    path);
		conf_unref(c);
		return 0;
	}

	log_init(c->log_level, c->syslog);
	raise_fd_limit();
	if (listener_bind_all(c, c->workers, &set, stderr) == -1) {
		conf_unref(c);
		return 1;
	}
	if (set.n == 0)
		log_warnx("%s: no protocol is enabled: nothing to serve", path);
	if (c->pid_file != NULL)
		write_pid_file(c->pid_file);
	if (c->user != NULL)
		drop_privileges(c->user);
	else if (geteuid() == 0)
		log_warnx("running as root: set 'user' in [postern]");

	status = server_run(c, &set);
	return status;
}
