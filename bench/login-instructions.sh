#!/bin/bash
# bench/login-instructions.sh - instructions postern executes per session,
# counted by valgrind's callgrind: a figure that does not depend on what
# else the machine is doing, unlike CPU time on a shared machine.
#
#   bench/login-instructions.sh POSTERN CONF PORT SCENARIO MODE N HARNESS_DIR
#
# Starts POSTERN -c CONF under callgrind (CONF should say workers = 1),
# runs 50 sessions of the harness's SCENARIO (imap-login or pop3-login)
# against PORT to get past lazy initialisation, zeroes the counters, runs
# N more sessions (concurrency 4) and prints the instructions of all
# threads (the workers and the protocol log's writer) per session.  MODE
# is plain or tls.  The harness's private Dovecot must be running.
# The callgrind output stays in WORKDIR (default /dev/shm/loginir) for
# callgrind_annotate.  LOAD_ARGS adds arguments to load.py (say, --users
# 100 against a backend with fewer users than the harness's); with
# METRICS_PORT set, postern's /metrics on that port is kept in
# WORKDIR/TAG.metrics before postern stops (it counts the warm-up too).
set -eu
POSTERN=${1:?postern binary}
CONF=${2:?configuration file}
PORT=${3:?port}
SCENARIO=${4:?imap-login or pop3-login}
MODE=${5:?plain or tls}
N=${6:?sessions}
HARNESS=${7:?directory of load.py}
W=${WORKDIR:-/dev/shm/loginir}
mkdir -p "$W"
tag=$(basename "$(dirname "$CONF")")-$(basename "$CONF" .ini)-$SCENARIO-$MODE
rm -f "$W/$tag".*
tls=()
[ "$MODE" = tls ] && tls=(--tls)

valgrind --tool=callgrind --callgrind-out-file="$W/$tag.%p" \
	"$POSTERN" -c "$CONF" >"$W/$tag.valgrind.log" 2>&1 &
vp=$!
trap 'kill $vp 2>/dev/null || true' EXIT
for _ in $(seq 120); do
	(echo >/dev/tcp/127.0.0.1/"$PORT") 2>/dev/null && break
	sleep 1
done
kill -0 $vp 2>/dev/null || {
	echo "$0: postern did not start (see $W/$tag.valgrind.log)" >&2
	exit 1
}
load() { # load SESSIONS
	# LOAD_ARGS is split into words on purpose.
	# shellcheck disable=SC2086
	python3 "$HARNESS/load.py" --scenario "$SCENARIO" --port "$PORT" \
		"${tls[@]}" --seconds 300 --concurrency 4 --max-sessions "$1" \
		--no-pss ${LOAD_ARGS:-}
}
load 50 >/dev/null 2>&1
callgrind_control -z "$vp" >/dev/null 2>&1
load "$N" >"$W/$tag.load.json" 2>"$W/$tag.load.log"
callgrind_control -d "$vp" >/dev/null 2>&1
# The dump is written when valgrind next looks, later on a busy machine.
for _ in $(seq 60); do
	compgen -G "$W/$tag.[0-9]*.[0-9]*" >/dev/null && break
	sleep 1
done
if [ -n "${METRICS_PORT:-}" ]; then
	python3 -c 'import sys, urllib.request
sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=30).read().decode())' \
		"http://127.0.0.1:$METRICS_PORT/metrics" >"$W/$tag.metrics"
fi
sleep 1
kill "$vp"
wait "$vp" 2>/dev/null || true
trap - EXIT
dump=$(ls -t "$W/$tag".[0-9]*.[0-9]* | head -n 1)
ir=$(callgrind_annotate "$dump" | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1; exit}')
ok=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["ok"])' \
	"$W/$tag.load.json")
echo "$tag: $ir instructions for $ok sessions: $((ir / ok)) per session ($dump)"
