#!/bin/bash
# contrib/demo.sh - postern's main job, end to end, on loopback.
#
# Installs what it needs (Debian 12), builds postern, starts a private
# Dovecot with a demo mailbox, puts postern in front of it with a freshly
# generated self-signed certificate, fetches the demo mail through postern
# with curl over POP3 STLS, POP3S, IMAP STARTTLS and IMAPS, prints what was
# fetched and stops everything.  Exits non-zero if any step fails.
#
# Usage (from the top of a checkout, as root or with sudo available):
#   bash contrib/demo.sh
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

# shellcheck source=contrib/deps.sh
. "$top/contrib/deps.sh"
deps_install build demo

say() { printf '\n=== %s\n' "$*"; }
die() {
	echo "demo.sh: $*" >&2
	exit 1
}

say "building postern"
build="$top/build/demo"
if [ ! -x "$build/postern" ]; then
	[ -x "$top/configure" ] || autoreconf -fi >/dev/null
	mkdir -p "$build"
	(cd "$build" && "$top/configure" -q)
fi
make -C "$build" -s -j"$(nproc)" postern
postern="$build/postern"
"$postern" -V

work=$(mktemp -d /tmp/postern-demo.XXXXXX)
chmod 0755 "$work"
postern_pid=
cleanup() {
	local rc=$?
	set +e
	if [ -n "$postern_pid" ] && kill -0 "$postern_pid" 2>/dev/null; then
		kill -TERM "$postern_pid"
		wait "$postern_pid"
	fi
	bash "$top/contrib/dovecot-test.sh" stop "$work/dovecot"
	if [ "$rc" -ne 0 ] && [ -r "$work/postern.log" ]; then
		echo "--- postern's log:" >&2
		cat "$work/postern.log" >&2
	fi
	rm -rf "$work"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Eight free loopback ports, found by trying to connect to each candidate.
ports=()
for p in $(seq 24110 24310); do
	(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && continue
	ports+=("$p")
	[ ${#ports[@]} -eq 8 ] && break
done
[ ${#ports[@]} -eq 8 ] || die "no free loopback ports"
read -r d_pop3 d_pop3s d_imap d_imaps p_pop3 p_pop3s p_imap p_imaps <<<"${ports[*]}"

say "starting a private Dovecot (POP3 $d_pop3, IMAP $d_imap, TLS on $d_pop3s, $d_imaps)"
user=demo
pass=demo-$RANDOM$RANDOM
DOVECOT_USERS="$user:$pass" DOVECOT_BIG_SIZE=1048576 \
	bash "$top/contrib/dovecot-test.sh" start "$work/dovecot" \
	"$d_pop3" "$d_pop3s" "$d_imap" "$d_imaps"
messages="$work/dovecot/messages"

say "generating postern's self-signed certificate"
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -sha256 -subj "/CN=localhost" \
	-addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
	-keyout "$work/postern.key" -out "$work/postern.crt" 2>/dev/null
openssl x509 -in "$work/postern.crt" -noout -subject -fingerprint -sha256

drop_to=
[ "$(id -u)" -eq 0 ] && drop_to=nobody
cat >"$work/postern.ini" <<EOF
; The demo's configuration: cleartext login only after STLS/STARTTLS,
; the backend reached over STARTTLS and verified with Dovecot's certificate.
[postern]
workers = 2
user = $drop_to
shutdown_timeout = 2s

[tls]
certificate = $work/postern.crt
private_key = $work/postern.key

[pop3]
unencrypted_or_tls_bindings = 127.0.0.1:$p_pop3
ssl_bindings = 127.0.0.1:$p_pop3s
banner = postern demo POP3 ready.
login_type = PlainTextAuthentication
backend = 127.0.0.1:$d_pop3
backend_tls = starttls
backend_ca_file = $work/dovecot/ca.pem

[imap]
unencrypted_or_tls_bindings = 127.0.0.1:$p_imap
ssl_bindings = 127.0.0.1:$p_imaps
banner = postern demo IMAP4 ready.
login_type = PlainTextAuthentication
backend = 127.0.0.1:$d_imaps
backend_tls = implicit
backend_ca_file = $work/dovecot/ca.pem
EOF

say "postern -t and postern -T"
"$postern" -t -c "$work/postern.ini"
"$postern" -T -c "$work/postern.ini" | grep -E '^(ProtocolName|LoginType |.*Bindings|ProxyTarget|BackendTls)' || true

say "starting postern (POP3 $p_pop3, POP3S $p_pop3s, IMAP $p_imap, IMAPS $p_imaps)"
"$postern" -c "$work/postern.ini" 2>"$work/postern.log" &
postern_pid=$!
# It has bound every port once it says it has started.
for i in $(seq 1 100); do
	grep -q 'started' "$work/postern.log" && break
	kill -0 "$postern_pid" 2>/dev/null || die "postern exited"
	sleep 0.1
done
grep -q 'started' "$work/postern.log" || die "postern did not start"

# curl reads the credentials from a file, not from its command line.
printf 'machine localhost login %s password %s\n' "$user" "$pass" >"$work/netrc"
chmod 0600 "$work/netrc"
curl_() {
	curl -sS --fail --max-time 30 --netrc-file "$work/netrc" \
		--cacert "$work/postern.crt" "$@"
}

# fetch WHAT URL FILE [curl options]: fetches, prints, compares with the Maildir.
failures=0
fetch() {
	local what=$1 url=$2 file=$3
	shift 3
	say "$what: $url"
	if ! curl_ "$@" "$url" >"$work/fetched"; then
		echo "FAILED: curl could not fetch $url" >&2
		failures=$((failures + 1))
		return
	fi
	if [ "$(stat -c %s "$work/fetched")" -gt 4096 ]; then
		echo "($(stat -c %s "$work/fetched") bytes, sha256 $(sha256sum <"$work/fetched" | cut -c1-16)...)"
	else
		tr -d '\r' <"$work/fetched"
	fi
	if cmp -s "$work/fetched" "$file"; then
		echo "--> identical to the message put into Dovecot's Maildir"
	else
		echo "FAILED: what came through postern differs from $file" >&2
		failures=$((failures + 1))
	fi
}
msg1="$messages/1.eml"
msg2="$messages/2.eml"
msg3="$messages/3.eml"

say "POP3 STLS: the message list"
curl_ --ssl-reqd "pop3://localhost:$p_pop3/"
fetch "POP3 with STLS (--ssl-reqd), message 1" \
	"pop3://localhost:$p_pop3/1" "$msg1" --ssl-reqd
fetch "POP3S (implicit TLS), message 3" \
	"pop3s://localhost:$p_pop3s/3" "$msg3"
fetch "IMAP with STARTTLS (--ssl-reqd), UID 2" \
	"imap://localhost:$p_imap/INBOX;UID=2" "$msg2" --ssl-reqd
fetch "IMAPS (implicit TLS), UID 1" \
	"imaps://localhost:$p_imaps/INBOX;UID=1" "$msg1"

say "postern's log"
sed 's/^<[0-9]>//' "$work/postern.log"

say "stopping postern"
kill -TERM "$postern_pid"
wait "$postern_pid" || die "postern exited with status $?"
postern_pid=

if [ "$failures" -ne 0 ]; then
	die "$failures fetch(es) failed"
fi
say "demo finished: every message came through postern intact"
