/*
 * main: command line, start-up, signals.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "log.h"

static void
usage(void)
{
	fprintf(stderr, "usage: postern [-c FILE] [-t] [-T] [-V]\n");
	exit(2);
}

int
main(int argc, char *argv[])
{
	int ch;

	while ((ch = getopt(argc, argv, "c:tTVh")) != -1) {
		switch (ch) {
		case 'V':
			printf("postern %s\n", PACKAGE_VERSION);
			return 0;
		default:
			usage();
		}
	}
	return 0;
}
