#!/bin/bash
# bench/backend-tls.sh - instructions per login (bench/login-instructions.sh,
# callgrind, all threads) for the routing map and backend TLS questions of
# bench/RESULTS.md ("Routing map and backend TLS resumption"):
#
#   bench/backend-tls.sh POSTERN HARNESS_DIR [N]
#
# Starts a private Dovecot of its own (contrib/dovecot-test.sh with
# DOVECOT_TLS_RESUME=1, so that its login processes live on and can resume
# TLS sessions; users user1..user100, password "pass"), writes these
# postern configurations into WORKDIR (default /dev/shm/btls) and counts
# the instructions of N logins (default 300) of imap-login and pop3-login
# through each, the client always on postern's plain port:
#
#   nomap      backend "new", Dovecot's plain ports; no [routing]
#   map        the same plus a map_file of 10,000 routes, among them
#              user1..user100 -> "new" (the same Dovecot), "*" -> "old"
#   plain      backend "dv" on Dovecot's plain ports
#   tls        backend "dv" with tls = implicit on Dovecot's IMAPS and
#              POP3S ports, verified against Dovecot's CA
#   tls-nocache  the same with tls_session_cache = no
#
# Every configuration: workers = 1, log_level = warning, throttle off, no
# protocol log, [stats] on (the same in all; its /metrics shows how many
# backend handshakes were resumed, kept as WORKDIR/*.metrics).  Needs
# valgrind and the harness's load.py; starts and stops only its own
# Dovecot and postern.
set -eu
POSTERN=$(realpath "${1:?postern binary}")
HARNESS=${2:?directory of load.py}
N=${3:-300}
here=$(cd "$(dirname "$0")" && pwd)
W=${WORKDIR:-/dev/shm/btls}
DV=$W/dovecot
# Dovecot: POP3 POP3S IMAP IMAPS; postern: IMAP POP3; /metrics.  Below
# the kernel's ephemeral ports (32768 up), which an outgoing connection
# elsewhere on the machine may hold.
D_POP3=27110 D_POP3S=27995 D_IMAP=27143 D_IMAPS=27993
P_IMAP=27243 P_POP3=27210 STATS=27291
mkdir -p "$W"

users=
for i in $(seq 100); do users="$users user$i:pass"; done
DOVECOT_USERS=$users DOVECOT_BIG_SIZE=0 DOVECOT_TLS_RESUME=1 \
	bash "$here/../contrib/dovecot-test.sh" start "$DV" \
	$D_POP3 $D_POP3S $D_IMAP $D_IMAPS
trap 'bash "$here/../contrib/dovecot-test.sh" stop "$DV"' EXIT

# The map: 10,000 routes of every form, the bench's users among them.
{
	echo "# 10,000 routes"
	for i in $(seq 100); do echo "user$i new"; done
	for i in $(seq 3300); do echo "m$i@example.org new"; done
	for i in $(seq 3300); do echo "EXAMPLE\\s$i new"; done
	for i in $(seq 3000); do echo "p$i old"; done
	for i in $(seq 299); do echo "@dom$i.example new"; done
	echo "* old"
} >"$W/routes"

# conf NAME BACKEND_KEYS [ROUTING]
conf() {
	mkdir -p "$W/$1"
	cat >"$W/$1/postern.ini" <<-EOF
		[postern]
		workers = 1
		log_level = warning
		pid_file = $W/$1/postern.pid
		[tls]
		certificate = $DV/ca.pem
		private_key = $DV/dovecot.key
		[throttle]
		enabled = no
		[stats]
		listen = 127.0.0.1:$STATS
		[pop3]
		unencrypted_or_tls_bindings = 127.0.0.1:$P_POP3
		login_type = PlainTextLogin
		backend = $4
		max_connections_per_user = 0
		[imap]
		unencrypted_or_tls_bindings = 127.0.0.1:$P_IMAP
		login_type = PlainTextLogin
		backend = $4
		max_connections_per_user = 0
		$2
		$3
	EOF
}
plain="pop3 = 127.0.0.1:$D_POP3
imap = 127.0.0.1:$D_IMAP"
tls="pop3 = 127.0.0.1:$D_POP3S
imap = 127.0.0.1:$D_IMAPS
tls = implicit
ca_file = $DV/ca.pem"
conf nomap "[backend \"new\"]
$plain
[backend \"old\"]
$plain" "" new
conf map "[backend \"new\"]
$plain
[backend \"old\"]
$plain" "[routing]
map_file = $W/routes" old
conf plain "[backend \"dv\"]
$plain" "" dv
conf tls "[backend \"dv\"]
$tls" "" dv
conf tls-nocache "[backend \"dv\"]
$tls
tls_session_cache = no" "" dv

for c in ${CONFS:-nomap map plain tls tls-nocache}; do
	for sc in imap-login pop3-login; do
		port=$P_IMAP
		[ $sc = pop3-login ] && port=$P_POP3
		WORKDIR=$W METRICS_PORT=$STATS LOAD_ARGS="--users 100" \
			bash "$here/login-instructions.sh" "$POSTERN" \
			"$W/$c/postern.ini" $port $sc plain "$N" "$HARNESS"
		m=$W/$c-postern-$sc-plain.metrics
		echo "  backend TLS handshakes (warm-up included):" \
			"$(grep '^postern_backend_tls_handshakes_total' "$m" |
				sed 's/postern_backend_tls_handshakes_total//' |
				tr '\n' ' ')"
	done
done
