#!/bin/bash
# bench/perdition-backend-tls.sh - instructions per IMAP login of Debian's
# perdition with a plain and with an implicit-TLS backend, counted by
# callgrind like bench/login-instructions.sh counts postern's:
#
#   bench/perdition-backend-tls.sh HARNESS_DIR [N]
#
# Starts a private Dovecot (contrib/dovecot-test.sh, DOVECOT_TLS_RESUME=1,
# users user1..user100 / pass) and perdition (IMAP4, static
# outgoing_server, no map, as the shared harness configures it) under
# valgrind, runs N imap-login sessions (default 100) at concurrency 4 with
# the client on perdition's plain port, and prints the instructions of all
# of perdition's processes per session.  perdition forks a process per
# connection, which does the login and the relay and exits: the figure is
# the sum over the children that logged a user in (the listening parent,
# which only accepts and forks, is left out).
# "tls" is ssl_mode ssl_outgoing to Dovecot's IMAPS port, the certificate
# verified against Dovecot's CA.
set -eu
HARNESS=${1:?directory of load.py}
N=${2:-100}
here=$(cd "$(dirname "$0")" && pwd)
W=${WORKDIR:-/dev/shm/perdtls}
DV=$W/dovecot
D_POP3=29110 D_POP3S=29995 D_IMAP=29143 D_IMAPS=29993 P_IMAP=29243
command -v perdition >/dev/null || {
	echo "$0: perdition is not installed" >&2
	exit 2
}
mkdir -p "$W"
users=
for i in $(seq 100); do users="$users user$i:pass"; done
DOVECOT_USERS=$users DOVECOT_BIG_SIZE=0 DOVECOT_TLS_RESUME=1 \
	bash "$here/../contrib/dovecot-test.sh" start "$DV" \
	$D_POP3 $D_POP3S $D_IMAP $D_IMAPS
trap 'bash "$here/../contrib/dovecot-test.sh" stop "$DV"' EXIT
# perdition's children run as nobody and write their own profiles.
chmod 755 "$DV"
chmod 644 "$DV/ca.pem"

for mode in plain tls; do
	d=$W/$mode
	rm -rf "$d"
	mkdir -p "$d/cg"
	chmod 1777 "$d/cg"
	if [ $mode = plain ]; then
		out="outgoing_server 127.0.0.1:$D_IMAP
ssl_mode none"
	else
		# The certificate names localhost (and 127.0.0.1 as an IP
		# address, which perdition's name check does not read).
		out="outgoing_server localhost:$D_IMAPS
ssl_mode ssl_outgoing
ssl_ca_file $DV/ca.pem"
	fi
	cat >"$d/imap4.conf" <<-EOF
		protocol IMAP4
		no_daemon
		bind_address 127.0.0.1:$P_IMAP
		$out
		map_library ""
		no_lookup
		no_bind_banner
		log_facility $d/imap4.log
		connection_limit 0
		username nobody
		group nogroup
	EOF
	touch "$d/imap4.log"
	chown nobody "$d/imap4.log"
	(
		ulimit -n 1024
		exec valgrind --tool=callgrind \
			--callgrind-out-file="$d/cg/perdition.%p" \
			perdition -f "$d/imap4.conf" </dev/null >"$d/valgrind.log" 2>&1
	) &
	vp=$!
	# Not by connecting: that would be a child of its own, counted.
	for _ in $(seq 120); do
		ss -Hltn "sport = :$P_IMAP" | grep -q . && break
		sleep 1
	done
	python3 "$HARNESS/load.py" --scenario imap-login --port $P_IMAP \
		--seconds 3600 --concurrency 4 --max-sessions "$N" --users 100 \
		--no-pss >"$d/load.json" 2>"$d/load.log"
	ok=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["ok"])' \
		"$d/load.json")
	# A child writes its profile as it exits, slowly under valgrind.
	for _ in $(seq 60); do
		[ "$(find "$d/cg" -type f | wc -l)" -ge "$ok" ] && break
		sleep 1
	done
	kill "$vp"
	wait "$vp" 2>/dev/null || true
	# The children that logged someone in (perdition's log names them
	# by pid, as callgrind names their profiles).
	total=0 n=0
	for f in "$d"/cg/perdition.*; do
		grep -q "perdition\[${f##*.}\]: Auth:" "$d/imap4.log" || continue
		ir=$(sed -n 's/^summary: //p' "$f")
		total=$((total + ${ir:-0}))
		n=$((n + 1))
	done
	echo "perdition $mode: $total instructions in $n processes for $ok sessions: $((total / ok)) per session"
done
