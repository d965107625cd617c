#!/bin/sh
# contrib/slapd-test.sh - a private OpenLDAP slapd on loopback for the
# tests (tests/slapd.sh, tests/integration).  It never touches the system's
# slapd: its configuration, database, certificates and pid file all live in
# DIR.
#
# Usage:
#   slapd-test.sh start DIR [LDIF...]
#   slapd-test.sh stop DIR
#
# The first start in DIR makes a CA, a certificate for 127.0.0.1 signed by
# it and a second, unrelated CA; writes the configuration; starts slapd on
# two free ports (ldap:// with StartTLS, and ldaps://); adds the base
# entries dc=example,dc=org, ou=people and ou=groups, then each LDIF file
# (with ldapadd, as the administrator: users before groups, so that the
# memberof overlay fills in memberOf, of nested groups too).  A later start
# in the same DIR (after stop) starts slapd again on the same ports with
# the same database.
#
# Access: the root DSE is public; userPassword is only for binding;
# everything else is readable by any bound user and by no anonymous one.
#
# What start leaves in DIR:
#   env          shell assignments: SLAPD_URI (ldap://), SLAPD_LDAPS_URI,
#                SLAPD_CA, SLAPD_OTHER_CA, SLAPD_BASE, SLAPD_ADMIN_DN,
#                SLAPD_ADMIN_PWFILE (the password, without a newline, as
#                ldapmodify -y wants it)
#   slapd.pid    the daemon's pid while it runs
#   slapd.err    its standard error
#
# Exits 77 (skipped, in automake's terms) when slapd, ldap-utils, openssl
# or slapd's mdb and memberof modules are missing (Debian: slapd
# ldap-utils openssl).
set -eu

SLAPD=${SLAPD:-/usr/sbin/slapd}
MODDIR=${SLAPD_MODDIR:-/usr/lib/ldap}
SCHEMA=${SLAPD_SCHEMA:-/etc/ldap/schema}
BASE="dc=example,dc=org"
ADMIN_DN="cn=admin,$BASE"

die() {
	echo "slapd-test.sh: $*" >&2
	exit 1
}

usage() {
	echo "usage: $0 start DIR [LDIF...] | stop DIR" >&2
	exit 2
}

check_tools() {
	for tool in "$SLAPD" ldapadd ldapmodify ldapsearch openssl; do
		command -v "$tool" >/dev/null 2>&1 || {
			echo "slapd-test.sh: $tool not found: skipped"
			exit 77
		}
	done
	[ -e "$MODDIR/back_mdb.la" ] && [ -e "$MODDIR/memberof.la" ] || {
		echo "slapd-test.sh: no back_mdb or memberof module in $MODDIR: skipped"
		exit 77
	}
}

# A CA, a server certificate for 127.0.0.1 signed by it, and a second,
# unrelated CA that must not be accepted.
make_certs() {
	d=$1
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$d/ca.key" -out "$d/ca.pem" -days 2 \
		-subj "/CN=Test CA" 2>/dev/null
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$d/other.key" -out "$d/other.pem" -days 2 \
		-subj "/CN=Other CA" 2>/dev/null
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$d/server.key" -out "$d/server.csr" \
		-subj "/CN=127.0.0.1" 2>/dev/null
	printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$d/ext"
	openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" \
		-CAkey "$d/ca.key" -CAcreateserial -days 2 -extfile "$d/ext" \
		-out "$d/server.pem" 2>/dev/null
}

write_conf() {
	d=$1
	mkdir -p "$d/db"
	cat >"$d/slapd.conf" <<EOF
include $SCHEMA/core.schema
include $SCHEMA/cosine.schema
include $SCHEMA/inetorgperson.schema
modulepath $MODDIR
moduleload back_mdb
moduleload memberof
pidfile $d/slapd.pid
TLSCACertificateFile $d/ca.pem
TLSCertificateFile $d/server.pem
TLSCertificateKeyFile $d/server.key
database mdb
maxsize 10485760
suffix "$BASE"
rootdn "$ADMIN_DN"
rootpw secret
directory $d/db
overlay memberof
access to dn.base="" by * read
access to dn.base="cn=Subschema" by * read
access to attrs=userPassword by anonymous auth by * none
access to * by users read by * none
EOF
	# ldapadd -y takes the whole file, so no newline.
	printf 'secret' >"$d/bindpw"
	chmod 600 "$d/bindpw"
}

# Starts slapd on ldap://127.0.0.1:$2 and ldaps://127.0.0.1:$3; false when
# it cannot (a port taken).
run_slapd() {
	d=$1
	rm -f "$d/slapd.pid"
	"$SLAPD" -f "$d/slapd.conf" \
		-h "ldap://127.0.0.1:$2/ ldaps://127.0.0.1:$3/" \
		</dev/null >/dev/null 2>"$d/slapd.err" || return 1
	i=0
	while [ $i -lt 50 ]; do
		[ -s "$d/slapd.pid" ] && break
		sleep 0.1
		i=$((i + 1))
	done
	pid=$(cat "$d/slapd.pid" 2>/dev/null || true)
	[ -n "$pid" ] || return 1
	i=0
	while [ $i -lt 50 ]; do
		if ldapsearch -x -H "ldap://127.0.0.1:$2" -b "" -s base \
			>/dev/null 2>&1; then
			return 0
		fi
		kill -0 "$pid" 2>/dev/null || return 1
		sleep 0.1
		i=$((i + 1))
	done
	kill "$pid" 2>/dev/null || true
	return 1
}

start() {
	d=$1
	shift
	check_tools
	[ -d "$d" ] || die "$d: no such directory"
	d=$(cd "$d" && pwd)
	if [ -r "$d/env" ]; then
		. "$d/env"
		port=${SLAPD_URI##*:}
		sport=${SLAPD_LDAPS_URI##*:}
		run_slapd "$d" "$port" "$sport" ||
			die "slapd did not start again: $(cat "$d/slapd.err")"
		return 0
	fi

	make_certs "$d"
	write_conf "$d"
	# Two free ports in the dynamic range, tried until slapd takes them.
	started=
	for try in 1 2 3 4 5; do
		port=$((20000 + $(od -An -N2 -tu2 /dev/urandom) % 20000))
		sport=$((port + 1))
		if run_slapd "$d" "$port" "$sport"; then
			started=yes
			break
		fi
	done
	[ -n "$started" ] || die "slapd did not start: $(cat "$d/slapd.err")"

	admin="-x -H ldap://127.0.0.1:$port -D $ADMIN_DN -y $d/bindpw"
	ldapadd $admin >/dev/null <<EOF || { stop "$d"; die "base entries"; }
dn: $BASE
objectClass: dcObject
objectClass: organization
o: Example
dc: example

dn: ou=people,$BASE
objectClass: organizationalUnit
ou: people

dn: ou=groups,$BASE
objectClass: organizationalUnit
ou: groups
EOF
	for f in "$@"; do
		ldapadd $admin -f "$f" >/dev/null || {
			stop "$d"
			die "$f: ldapadd failed"
		}
	done
	cat >"$d/env" <<EOF
SLAPD_URI=ldap://127.0.0.1:$port
SLAPD_LDAPS_URI=ldaps://127.0.0.1:$sport
SLAPD_CA=$d/ca.pem
SLAPD_OTHER_CA=$d/other.pem
SLAPD_BASE=$BASE
SLAPD_ADMIN_DN=$ADMIN_DN
SLAPD_ADMIN_PWFILE=$d/bindpw
EOF
}

stop() {
	d=$1
	[ -r "$d/slapd.pid" ] || return 0
	pid=$(cat "$d/slapd.pid")
	rm -f "$d/slapd.pid"
	kill -TERM "$pid" 2>/dev/null || return 0
	i=0
	while [ $i -lt 100 ]; do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
		i=$((i + 1))
	done
	kill -KILL "$pid" 2>/dev/null || true
	return 0
}

[ $# -ge 2 ] || usage
cmd=$1
shift
case $cmd in
start) start "$@" ;;
stop) stop "$1" ;;
*) usage ;;
esac
