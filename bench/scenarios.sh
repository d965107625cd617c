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
# Nothing is started or stopped but the posterns this script starts, and
# nginx before an idle run (below).
#
# Per round, per scenario and mode, the three targets run one after the
# other (nginx, postern with the log, postern without; the order rotates
# each round), and each postern is started just before its run and
# stopped after it: its CPU and memory are always a fresh process's.
# postern runs with workers = 1 (the harness's nginx has one worker), the
# throttle off, the log (log_detail's default, a row per command) on tmpfs
# under WORKDIR.
#
# The idle scenario (imap-idle: IDLE_K sessions logged in and left in
# IDLE, memory per held session) runs IDLE_ROUNDS rounds, and nginx is
# restarted (the harness's peers.sh) before each of its runs, since a
# worker's heap keeps its high-water mark; a postern is fresh anyway.
#
# Environment: ROUNDS (2), SECONDS_PER (10), CONC (20), BULK_CONC (4),
# SCENARIOS ("imap-login pop3-login imap-bulk imap-idle"), MODES ("plain
# tls"), IDLE_ROUNDS (1), IDLE_K (9000), IDLE_HOLD
# (5), IDLE_CONC (100), IDLE_OPEN_SECONDS (120), PORT_LOG and PORT_NOLOG
# (27 and 28: postern listens on PP143, PP110, PP993, PP995; below the
# kernel's ephemeral range, 32768 and up, where an outgoing connection's
# port can take a listener's), NGINX ("21143,21110,21993,21995"),
# WORKDIR (RUNDIR/postern-scenarios).  Output: WORKDIR/results.jsonl (one
# load.py line per run, labelled TARGET|SCENARIO|MODE|ROUND) and
# WORKDIR/report.md (report.py's table: medians and ratios to nginx; then
# the proxies' CPU per 1000 logins split into user and system time, from
# WORKDIR/cpu-split.txt, the clock ticks of /proc/PID/stat around each run).
set -eu
POSTERN=$(realpath "${1:?postern binary}")
HARNESS=$(realpath "${2:?harness directory (load.py, report.py)}")
RUNDIR=$(realpath "${3:?the harness run directory}")
ROUNDS=${ROUNDS:-2}
SECONDS_PER=${SECONDS_PER:-10}
CONC=${CONC:-20}
BULK_CONC=${BULK_CONC:-4}
SCENARIOS=${SCENARIOS:-imap-login pop3-login imap-bulk imap-idle}
IDLE_ROUNDS=${IDLE_ROUNDS:-1}
IDLE_K=${IDLE_K:-9000}
IDLE_HOLD=${IDLE_HOLD:-5}
IDLE_CONC=${IDLE_CONC:-100}
IDLE_OPEN_SECONDS=${IDLE_OPEN_SECONDS:-120}
MODES=${MODES:-plain tls}
PORT_LOG=${PORT_LOG:-27}
PORT_NOLOG=${PORT_NOLOG:-28}
NGINX=${NGINX:-21143,21110,21993,21995}
W=${WORKDIR:-$RUNDIR/postern-scenarios}
NGINX_PID=$RUNDIR/nginx/nginx.pid
DOVECOT_PID=$RUNDIR/dovecot/run/master.pid

[ -x "$POSTERN" ] || { echo "$0: $POSTERN is not executable" >&2; exit 2; }
[ -f "$HARNESS/load.py" ] || { echo "$0: no load.py in $HARNESS" >&2; exit 2; }
[ -s "$NGINX_PID" ] || { echo "$0: nginx is not running ($NGINX_PID)" >&2; exit 2; }
mkdir -p "$W"
JSONL=$W/results.jsonl
SPLIT=$W/cpu-split.txt
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

# ticks PID_OR_PIDFILE: "utime stime" of the process and its children
# (nginx's worker), in clock ticks, summed over their threads by the
# kernel: the user/system split of the run's CPU.
ticks() {
	local pid=$1 u=0 s=0 p st
	[ -f "$pid" ] && pid=$(cat "$pid")
	for p in $pid $(pgrep -P "$pid" || true); do
		st=$(cat "/proc/$p/stat" 2>/dev/null) || continue
		# After the command's closing parenthesis: utime, stime are
		# fields 12 and 13.
		read -r -a f <<<"${st##*) }"
		u=$((u + f[11])) s=$((s + f[12]))
	done
	echo "$u $s"
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
	local t=$1 sc=$2 mode=$3 r=$4 p pids args=() secs=$SECONDS_PER
	p=$(port "$t" "$sc" "$mode")
	[ "$mode" = tls ] && args+=(--tls)
	case $sc in
	imap-bulk) args+=(--concurrency "$BULK_CONC") ;;
	imap-idle)
		args+=(--idle-count "$IDLE_K" --idle-hold "$IDLE_HOLD"
			--concurrency "$IDLE_CONC")
		secs=$IDLE_OPEN_SECONDS ;;
	*) args+=(--concurrency "$CONC") ;;
	esac
	if [ "$t" = nginx ]; then
		if [ "$sc" = imap-idle ]; then
			bash "$HARNESS/peers.sh" stop "$RUNDIR" nginx >>"$LOG" 2>&1
			bash "$HARNESS/peers.sh" start "$RUNDIR" nginx >>"$LOG" 2>&1
		fi
		pids=$NGINX_PID
	else
		rm -rf "$W/$t/logs" && mkdir -p "$W/$t/logs"
		"$POSTERN" -c "$W/$t/postern.ini" >>"$LOG" 2>&1 &
		postern_pid=$!
		pids=$postern_pid
		wait_port "$p" || { echo "$t did not start" | tee -a "$LOG"; stop_postern; return 1; }
	fi
	echo "run: $t $sc $mode round $r port $p" >>"$LOG"
	local t0 t1
	t0=$(ticks "$pids")
	timeout $((secs + IDLE_HOLD + 200)) python3 "$HARNESS/load.py" \
		--scenario "$sc" --port "$p" "${args[@]}" --seconds "$secs" \
		--proxy-pids "$pids" --watch "backend=$DOVECOT_PID" \
		--label "$t|$sc|$mode|$r" --json "$JSONL" >/dev/null 2>>"$LOG" ||
		echo "run failed: $t $sc $mode round $r" | tee -a "$LOG"
	t1=$(ticks "$pids")
	echo "$t|$sc|$mode|$r $t0 $t1" >>"$SPLIT"
	stop_postern
	sleep 1
}

ulimit -n "$(ulimit -Hn)" # 9000 idle sessions are 18000 sockets
targets=(nginx postern-log postern-nolog)
# round R SCENARIO: each mode, the three targets in the round's order
round() {
	local r=$1 sc=$2 mode k t
	for mode in $MODES; do
		for k in 0 1 2; do
			t=${targets[$(((k + r - 1) % 3))]}
			echo "round $r: $sc $mode $t"
			run "$t" "$sc" "$mode" "$r"
		done
	done
}
# The idle scenario last: a Dovecot that held thousands of idle sessions
# is slower at logins for a while.
for r in $(seq "$ROUNDS"); do
	for sc in $SCENARIOS; do
		if [ "$sc" != imap-idle ]; then round "$r" "$sc"; fi
	done
done
for r in $(seq "$IDLE_ROUNDS"); do
	for sc in $SCENARIOS; do
		if [ "$sc" = imap-idle ]; then round "$r" "$sc"; fi
	done
done
python3 "$HARNESS/report.py" "$JSONL" --order "nginx postern-log postern-nolog" \
	--ref nginx >"$W/report.md"
python3 "$(dirname "$(realpath "$0")")/cpu_split_report.py" "$SPLIT" "$JSONL" \
	>>"$W/report.md"
cat "$W/report.md"
