#!/bin/bash
# bench/scenarios.sh - postern with and without the protocol log against
# nginx's mail proxy, in one interleaved run, a fresh postern per scenario.
#
#   bench/scenarios.sh POSTERN HARNESS_DIR RUNDIR
#
# HARNESS_DIR is the shared benchmark harness (load.py, report.py); RUNDIR
# its run directory, where its Dovecot (IMAP 127.0.0.1:11143, POP3 :11110),
# its nginx (IMAP 21143, POP3 21110, IMAPS 21993, POP3S 21995, pid file
# RUNDIR/nginx/nginx.pid) and its certificate (RUNDIR/tls) must be ready.
# Nothing is started or stopped but the posterns this script starts.
#
# Per round, per scenario and mode, the three targets run one after the
# other (nginx, postern with the log, postern without; the order rotates
# each round), and each postern is started just before its run and
# stopped after it: its CPU and memory are always a fresh process's.
# postern runs with workers = 1 (the harness's nginx has one worker), the
# throttle off, the log (log_detail's default, a row per command) on tmpfs
# under WORKDIR.
#
# Environment: ROUNDS (2), SECONDS_PER (10), CONC (20), BULK_CONC (4),
# SCENARIOS ("imap-login pop3-login imap-bulk"), MODES ("plain tls"; bulk
# runs plain only), PORT_LOG and PORT_NOLOG (37 and 38: postern listens
# on PP143, PP110, PP993, PP995), NGINX ("21143,21110,21993,21995"),
# WORKDIR (RUNDIR/postern-scenarios).  Output: WORKDIR/results.jsonl (one
# load.py line per run, labelled TARGET|SCENARIO|MODE|ROUND) and
# WORKDIR/report.md (report.py's table: medians and ratios to nginx).
set -eu
POSTERN=$(realpath "${1:?postern binary}")
HARNESS=$(realpath "${2:?harness directory (load.py, report.py)}")
RUNDIR=$(realpath "${3:?the harness run directory}")
ROUNDS=${ROUNDS:-2}
SECONDS_PER=${SECONDS_PER:-10}
CONC=${CONC:-20}
BULK_CONC=${BULK_CONC:-4}
SCENARIOS=${SCENARIOS:-imap-login pop3-login imap-bulk}
MODES=${MODES:-plain tls}
PORT_LOG=${PORT_LOG:-37}
PORT_NOLOG=${PORT_NOLOG:-38}
NGINX=${NGINX:-21143,21110,21993,21995}
W=${WORKDIR:-$RUNDIR/postern-scenarios}
NGINX_PID=$RUNDIR/nginx/nginx.pid
DOVECOT_PID=$RUNDIR/dovecot/run/master.pid

[ -x "$POSTERN" ] || { echo "$0: $POSTERN is not executable" >&2; exit 2; }
[ -f "$HARNESS/load.py" ] || { echo "$0: no load.py in $HARNESS" >&2; exit 2; }
[ -s "$NGINX_PID" ] || { echo "$0: nginx is not running ($NGINX_PID)" >&2; exit 2; }
mkdir -p "$W"
JSONL=$W/results.jsonl
LOG=$W/run.log
: >"$LOG"

# conf NAME PORTPREFIX LOG(yes|no): writes WORKDIR/NAME/postern.ini
conf() {
	local d=$W/$1 p=$2
	mkdir -p "$d/logs"
	cat >"$d/postern.ini" <<EOF
[postern]
workers = 1
log_level = warning
pid_file = $d/postern.pid
[tls]
certificate = $RUNDIR/tls/cert.pem
private_key = $RUNDIR/tls/key.pem
[throttle]
enabled = no
[pop3]
unencrypted_or_tls_bindings = 127.0.0.1:${p}110
ssl_bindings = 127.0.0.1:${p}995
login_type = PlainTextLogin
backend = 127.0.0.1:11110
max_connections_per_user = 0
protocol_log_enabled = $3
log_file_location = $d/logs/Pop3
[imap]
unencrypted_or_tls_bindings = 127.0.0.1:${p}143
ssl_bindings = 127.0.0.1:${p}993
login_type = PlainTextLogin
backend = 127.0.0.1:11143
max_connections_per_user = 0
protocol_log_enabled = $3
log_file_location = $d/logs/Imap4
EOF
}
conf postern-log "$PORT_LOG" yes
conf postern-nolog "$PORT_NOLOG" no

# port TARGET SCENARIO MODE
port() {
	local i p
	case $2:$3 in
	imap-*:plain) i=0 ;; pop3-*:plain) i=1 ;;
	imap-*:tls) i=2 ;; pop3-*:tls) i=3 ;;
	esac
	case $1 in
	nginx) IFS=, read -ra p <<<"$NGINX"; echo "${p[$i]}" ;;
	postern-log | postern-nolog)
		p=$PORT_LOG
		[ "$1" = postern-nolog ] && p=$PORT_NOLOG
		echo "$p$(echo 143 110 993 995 | cut -d' ' -f$((i + 1)))" ;;
	esac
}

wait_port() {
	for _ in $(seq 100); do
		(echo >/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

postern_pid=
stop_postern() {
	[ -n "$postern_pid" ] || return 0
	kill "$postern_pid" 2>/dev/null || true
	wait "$postern_pid" 2>/dev/null || true
	postern_pid=
}
trap stop_postern EXIT

# run TARGET SCENARIO MODE ROUND
run() {
	local t=$1 sc=$2 mode=$3 r=$4 p pids args=()
	p=$(port "$t" "$sc" "$mode")
	[ "$mode" = tls ] && args+=(--tls)
	case $sc in
	imap-bulk) args+=(--concurrency "$BULK_CONC") ;;
	*) args+=(--concurrency "$CONC") ;;
	esac
	if [ "$t" = nginx ]; then
		pids=$NGINX_PID
	else
		rm -rf "$W/$t/logs" && mkdir -p "$W/$t/logs"
		"$POSTERN" -c "$W/$t/postern.ini" >>"$LOG" 2>&1 &
		postern_pid=$!
		pids=$postern_pid
		wait_port "$p" || { echo "$t did not start" | tee -a "$LOG"; stop_postern; return 1; }
	fi
	echo "run: $t $sc $mode round $r port $p" >>"$LOG"
	timeout $((SECONDS_PER + 120)) python3 "$HARNESS/load.py" \
		--scenario "$sc" --port "$p" "${args[@]}" --seconds "$SECONDS_PER" \
		--proxy-pids "$pids" --watch "backend=$DOVECOT_PID" \
		--label "$t|$sc|$mode|$r" --json "$JSONL" >/dev/null 2>>"$LOG" ||
		echo "run failed: $t $sc $mode round $r" | tee -a "$LOG"
	stop_postern
	sleep 1
}

targets=(nginx postern-log postern-nolog)
for r in $(seq "$ROUNDS"); do
	for sc in $SCENARIOS; do
		for mode in $MODES; do
			[ "$sc" = imap-bulk ] && [ "$mode" != plain ] && continue
			for k in 0 1 2; do
				t=${targets[$(((k + r - 1) % 3))]}
				echo "round $r: $sc $mode $t"
				run "$t" "$sc" "$mode" "$r"
			done
		done
	done
done
python3 "$HARNESS/report.py" "$JSONL" --order "nginx postern-log postern-nolog" \
	--ref nginx >"$W/report.md"
cat "$W/report.md"
