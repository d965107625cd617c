#!/bin/bash
# bench/protolog-cost.sh - what protocol logging costs postern in CPU.
#
# Alternates a fresh postern with protocol logging off and one with
# log_detail = commands (the same configuration otherwise), ROUNDS times,
# and drives each with the shared harness's load.py: imap-login and
# pop3-login (CPU per 1000 sessions) and imap-bulk (CPU per GiB relayed).
# The private Dovecot of the harness must be running (backend.sh start).
#
#   bench/protolog-cost.sh POSTERN HARNESS_DIR [WORKDIR]
#
# Ports 35143 (IMAP) and 35110 (POP3); the log directory and the JSON
# lines go to WORKDIR (default /dev/shm/plcost, tmpfs like the harness).
# SCENARIOS narrows the run, e.g. SCENARIOS=imap-bulk:35143.
set -u
POSTERN=${1:?postern binary}
HARNESS=${2:?directory of load.py}
W=${3:-/dev/shm/plcost}
ROUNDS=${ROUNDS:-3}
SECONDS_PER=${SECONDS_PER:-15}
CONC=${CONC:-20}
SCENARIOS=${SCENARIOS:-imap-login:35143 pop3-login:35110 imap-bulk:35143}
TLS=/dev/shm/pbench/tls

mkdir -p "$W"
conf() { # conf NAME LOGGING
	cat <<EOT
[postern]
workers = 1
log_level = warning
pid_file = $W/postern.pid
[tls]
certificate = $TLS/cert.pem
private_key = $TLS/key.pem
EOT
	for p in pop3:35110:11110:Pop3 imap:35143:11143:Imap4; do
		IFS=: read -r sec port back dir <<<"$p"
		cat <<EOT
[$sec]
unencrypted_or_tls_bindings = 127.0.0.1:$port
ssl_bindings =
login_type = PlainTextLogin
backend = 127.0.0.1:$back
max_connections_per_user = 0
EOT
		if [ "$2" = on ]; then
			printf 'protocol_log_enabled = yes\nlog_detail = commands\n'
			printf 'log_file_location = %s/logs/%s\n' "$W" "$dir"
		fi
	done
}
conf x off >"$W/off.ini"
conf x on >"$W/on.ini"

start() {
	rm -f "$W/postern.pid"
	# A port of ours may be a client's ephemeral port for a moment.
	for _ in $(seq 30); do
		"$POSTERN" -c "$W/$1.ini" >>"$W/postern.out" 2>&1 &
		sleep 0.5
		[ -s "$W/postern.pid" ] && kill -0 "$(cat "$W/postern.pid")" &&
			return 0
		sleep 1
	done
	echo "postern did not start" >&2
	exit 1
}
stop() {
	local pid
	pid=$(cat "$W/postern.pid")
	kill -TERM "$pid"
	while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
}

out=$W/results.jsonl
for r in $(seq "$ROUNDS"); do
	for mode in off on; do
		rm -rf "$W/logs"
		start $mode
		pid=$(cat "$W/postern.pid")
		for sc in $SCENARIOS; do
			python3 "$HARNESS/load.py" --scenario "${sc%%:*}" \
			    --port "${sc##*:}" --seconds "$SECONDS_PER" \
			    --concurrency "$CONC" --proxy-pids "$pid" \
			    --label "$mode|${sc%%:*}|$r" --json "$out" \
			    >/dev/null 2>>"$W/load.err"
		done
		[ $mode = on ] && du -sb "$W/logs" >>"$W/logsize.txt"
		stop
	done
done
