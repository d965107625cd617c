#!/bin/bash
# tests/integration/run.sh - the integration suite: a private Dovecot on
# loopback, postern in front of it, real clients (curl, poplib, imaplib,
# openssl s_client, fetchmail) through postern.
#
# POSTERN_BIN names the daemon under test (make check sets it); without
# it, ./postern or build/postern is used.  Extra arguments go to pytest,
# e.g. "-k imap -x".
#
# Exit status: pytest's, or 77 (skipped, in automake's terms) when Dovecot
# or pytest is not installed.
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)

# Dovecot lives in /usr/sbin, which is not on every user's PATH.
export PATH="$PATH:/usr/sbin:/sbin"

if ! command -v dovecot >/dev/null 2>&1; then
	echo "run.sh: dovecot is not installed (dovecot-imapd, dovecot-pop3d): skipped"
	exit 77
fi
# Debian's pytest is installed for Debian's Python; another python3 may
# come first on PATH.
py=
for p in /usr/bin/python3 python3; do
	if "$p" -c 'import pytest' >/dev/null 2>&1; then
		py=$p
		break
	fi
done
if [ -z "$py" ]; then
	echo "run.sh: pytest is not installed (python3-pytest): skipped"
	exit 77
fi

if [ -n "${POSTERN_BIN:-}" ]; then
	if [ ! -x "$POSTERN_BIN" ]; then
		echo "run.sh: POSTERN_BIN=$POSTERN_BIN is not an executable" >&2
		exit 99
	fi
else
	for b in "$PWD/postern" "$top/build/postern"; do
		if [ -x "$b" ]; then
			POSTERN_BIN=$b
			break
		fi
	done
	if [ -z "${POSTERN_BIN:-}" ]; then
		echo "run.sh: no postern binary: build it or set POSTERN_BIN: skipped"
		exit 77
	fi
fi
export POSTERN_BIN
echo "run.sh: testing $POSTERN_BIN with $("$py" -m pytest --version 2>&1)"

# The source tree may be read-only (make distcheck): no caches, no .pyc.
export PYTHONDONTWRITEBYTECODE=1
# Most of the suite's time is waiting (backend delays, throttle delays,
# timeouts), so two pytest workers (python3-pytest-xdist) halve it; each
# test starts its own Dovecot and postern on free ports.  POSTERN_TEST_JOBS
# sets how many (1: none); an explicit -n among the arguments wins.
jobs=()
if [ "${POSTERN_TEST_JOBS:-2}" != 1 ] && "$py" -c 'import xdist' 2>/dev/null; then
	case " $* " in
	*" -n "* | *" -n"[0-9]* | *" --numprocesses"*) ;;
	# loadgroup: the tests of one xdist_group (the Samba domain
	# controller's, whose ports are fixed) run in one worker.
	*) jobs=(-n "${POSTERN_TEST_JOBS:-2}" --dist loadgroup) ;;
	esac
fi

# A hung test must not hang make check for ever.
limit=()
command -v timeout >/dev/null && limit=(timeout --kill-after=30 1200)
cd "$here" &&
	exec "${limit[@]}" "$py" -m pytest -p no:cacheprovider \
		--rootdir="$here" -c /dev/null -q -rfEsxX --durations=5 \
		"${jobs[@]}" "$@" "$here"
