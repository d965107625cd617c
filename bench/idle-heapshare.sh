#!/bin/bash
# bench/idle-heapshare.sh - the heap an idle session holds, split into
# OpenSSL's own state and the rest (postern's, with libevent's), counted
# in one run rather than by subtracting a plain run from a TLS one.
#
#   bench/idle-heapshare.sh POSTERN CONF PORT MODE K HARNESS_DIR
#
# Builds bench/heapshare.c into WORKDIR (default /dev/shm/heapshare),
# starts POSTERN -c CONF with it preloaded, runs 20 logins of the
# harness's imap-login (lazy initialisation: the first handshake, the
# log's files), takes a first sample, opens K sessions of the harness's
# imap-idle (MODE plain or tls) against PORT and, once all K are
# established and 3 s have passed, a second.  A sample is glibc's live
# chunks (mallinfo2: uordblks + hblkhd), OpenSSL's live chunks (counted
# through CRYPTO_set_mem_functions) and the process's Pss, read with gdb
# and /proc.  Prints the growth per held session of each.  The harness's
# private Dovecot must be running; CONF should say workers = 1.
set -eu
POSTERN=${1:?postern binary}
CONF=${2:?configuration file}
PORT=${3:?port}
MODE=${4:?plain or tls}
K=${5:?sessions}
HARNESS=${6:?directory of load.py}
W=${WORKDIR:-/dev/shm/heapshare}
SRC=$(dirname "$(realpath "$0")")/heapshare.c
mkdir -p "$W"
cc -O2 -g -shared -fPIC -o "$W/heapshare.so" "$SRC" -lcrypto
tls=()
[ "$MODE" = tls ] && tls=(--tls)

ulimit -n "$(ulimit -Hn)"
LD_PRELOAD=$W/heapshare.so "$POSTERN" -c "$CONF" >"$W/postern.log" 2>&1 &
pp=$!
trap 'kill $pp 2>/dev/null; wait $pp 2>/dev/null || true' EXIT
for _ in $(seq 100); do
	(echo >/dev/tcp/127.0.0.1/"$PORT") 2>/dev/null && break
	sleep 0.1
done
kill -0 $pp 2>/dev/null || {
	echo "$0: postern did not start (see $W/postern.log)" >&2
	exit 1
}

# sample: "heap openssl openssl_blocks pss" in bytes
sample() {
	local pss
	pss=$(awk '/^Pss:/ { print $2 * 1024 }' "/proc/$pp/smaps_rollup")
	gdb -p "$pp" -batch -nx -ex 'call (void)heapshare_sample()' \
		-ex 'printf "%lld %lld %lld %d\n", heapshare_heap_bytes, heapshare_ossl_bytes, heapshare_ossl_blocks, heapshare_installed' \
		2>/dev/null | grep -E '^[0-9]+ [0-9]+ [0-9]+ [0-9]+$' | {
		read -r heap ossl blocks installed
		[ "$installed" = 1 ] || {
			echo "$0: OpenSSL's allocations are not counted" >&2
			exit 1
		}
		echo "$heap $ossl $blocks $pss"
	}
}

python3 "$HARNESS/load.py" --scenario imap-login --port "$PORT" "${tls[@]}" \
	--seconds 60 --concurrency 4 --max-sessions 20 --no-pss >/dev/null 2>&1
read -r h0 o0 b0 p0 <<<"$(sample)"

python3 "$HARNESS/load.py" --scenario imap-idle --port "$PORT" "${tls[@]}" \
	--idle-count "$K" --idle-hold 600 --concurrency 100 --seconds 300 \
	--no-pss >"$W/idle.json" 2>"$W/idle.log" &
lp=$!
n=0
for _ in $(seq 3000); do
	n=$(ss -Htn state established "( sport = :$PORT )" | wc -l)
	[ "$n" -ge "$K" ] && break
	kill -0 $lp 2>/dev/null || break
	sleep 0.1
done
sleep 3
read -r h1 o1 b1 p1 <<<"$(sample)"
kill $lp 2>/dev/null || true
wait $lp 2>/dev/null || true

awk -v k="$n" -v h0="$h0" -v h1="$h1" -v o0="$o0" -v o1="$o1" \
	-v b0="$b0" -v b1="$b1" -v p0="$p0" -v p1="$p1" -v mode="$MODE" 'BEGIN {
	printf "%s: %d sessions held\n", mode, k
	printf "  heap per session:           %7.0f bytes\n", (h1 - h0) / k
	printf "  of it OpenSSL'\''s:            %7.0f bytes (%.1f blocks)\n", (o1 - o0) / k, (b1 - b0) / k
	printf "  the rest (postern, libevent): %5.0f bytes\n", ((h1 - h0) - (o1 - o0)) / k
	printf "  Pss per session:            %7.0f bytes\n", (p1 - p0) / k
}'
