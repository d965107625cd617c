#!/bin/sh
# Runs the groups module's LDAP tests (tests/test_groups, "slapd_*") against
# a private OpenLDAP slapd on loopback: its own configuration, database and
# TLS certificates in a temporary directory, StartTLS and ldaps:// with a
# verified certificate, users and nested groups kept by the memberof
# overlay.  Exits 77 (skipped) when slapd, ldap-utils or openssl are
# missing (Debian: slapd ldap-utils openssl).
set -eu

SLAPD=${SLAPD:-/usr/sbin/slapd}
for tool in "$SLAPD" ldapadd ldapmodify openssl; do
	command -v "$tool" >/dev/null 2>&1 || {
		echo "slapd.sh: $tool not found: skipped"
		exit 77
	}
done
MODDIR=/usr/lib/ldap
SCHEMA=/etc/ldap/schema
[ -e "$MODDIR/back_mdb.la" ] && [ -e "$MODDIR/memberof.la" ] || {
	echo "slapd.sh: no back_mdb or memberof module in $MODDIR: skipped"
	exit 77
}
TEST=${TEST_GROUPS:-./tests/test_groups}
[ -x "$TEST" ] || { echo "slapd.sh: $TEST not built: skipped"; exit 77; }

T=$(mktemp -d "${TMPDIR:-/tmp}/postern-slapd.XXXXXX")
PID=
cleanup() {
	if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
		kill "$PID" 2>/dev/null || true
		sleep 0.2
	fi
	rm -rf "$T"
}
trap cleanup EXIT INT TERM

# A CA, a server certificate for 127.0.0.1 signed by it, and a second,
# unrelated CA that must not be accepted.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$T/ca.key" -out "$T/ca.pem" -days 2 -subj "/CN=Test CA" \
	2>/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$T/other.key" -out "$T/other.pem" -days 2 \
	-subj "/CN=Other CA" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$T/server.key" -out "$T/server.csr" -subj "/CN=127.0.0.1" \
	2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$T/ext"
openssl x509 -req -in "$T/server.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" \
	-CAcreateserial -days 2 -extfile "$T/ext" -out "$T/server.pem" \
	2>/dev/null

mkdir "$T/db"
cat >"$T/slapd.conf" <<EOF
include $SCHEMA/core.schema
include $SCHEMA/cosine.schema
include $SCHEMA/inetorgperson.schema
modulepath $MODDIR
moduleload back_mdb
moduleload memberof
pidfile $T/slapd.pid
TLSCACertificateFile $T/ca.pem
TLSCertificateFile $T/server.pem
TLSCertificateKeyFile $T/server.key
database mdb
maxsize 10485760
suffix "dc=example,dc=org"
rootdn "cn=admin,dc=example,dc=org"
rootpw secret
directory $T/db
overlay memberof
EOF
# ldapadd -y takes the whole file, so no newline.
printf 'secret' >"$T/bindpw"
chmod 600 "$T/bindpw"

# Two free ports in the dynamic range, tried until slapd takes them.
started=
for try in 1 2 3 4 5; do
	PORT=$((20000 + $(od -An -N2 -tu2 /dev/urandom) % 20000))
	SPORT=$((PORT + 1))
	"$SLAPD" -f "$T/slapd.conf" \
		-h "ldap://127.0.0.1:$PORT/ ldaps://127.0.0.1:$SPORT/" \
		2>"$T/slapd.err" || continue
	for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
		[ -s "$T/slapd.pid" ] && break
		sleep 0.1
	done
	PID=$(cat "$T/slapd.pid" 2>/dev/null || true)
	if [ -n "$PID" ] && ldapsearch -x -H "ldap://127.0.0.1:$PORT" \
		-b "" -s base >/dev/null 2>&1; then
		started=yes
		break
	fi
	[ -n "$PID" ] && kill "$PID" 2>/dev/null || true
	PID=
	rm -f "$T/slapd.pid"
done
if [ -z "$started" ]; then
	echo "slapd.sh: slapd did not start:"
	cat "$T/slapd.err"
	exit 1
fi

URI="ldap://127.0.0.1:$PORT"
ADMIN="-x -H $URI -D cn=admin,dc=example,dc=org -y $T/bindpw"
# Users first, then groups: the memberof overlay fills in memberOf on
# each member, nested groups included.
ldapadd $ADMIN >/dev/null <<EOF
dn: dc=example,dc=org
objectClass: dcObject
objectClass: organization
o: Example
dc: example

dn: ou=people,dc=example,dc=org
objectClass: organizationalUnit
ou: people

dn: ou=groups,dc=example,dc=org
objectClass: organizationalUnit
ou: groups

dn: uid=alice,ou=people,dc=example,dc=org
objectClass: inetOrgPerson
uid: alice
cn: Alice
sn: A

dn: uid=bob,ou=people,dc=example,dc=org
objectClass: inetOrgPerson
uid: bob
cn: Bob
sn: B

dn: uid=carol,ou=people,dc=example,dc=org
objectClass: inetOrgPerson
uid: carol
cn: Carol
sn: C

dn: uid=twin,ou=people,dc=example,dc=org
objectClass: inetOrgPerson
uid: twin
cn: Twin 1
sn: T

dn: cn=twin2,ou=people,dc=example,dc=org
objectClass: inetOrgPerson
uid: twin
cn: twin2
sn: T

dn: cn=POP3 Access,ou=groups,dc=example,dc=org
objectClass: groupOfNames
cn: POP3 Access
member: uid=alice,ou=people,dc=example,dc=org
member: uid=bob,ou=people,dc=example,dc=org

dn: cn=Staff,ou=groups,dc=example,dc=org
objectClass: groupOfNames
cn: Staff
member: uid=carol,ou=people,dc=example,dc=org

dn: cn=IMAP Access,ou=groups,dc=example,dc=org
objectClass: groupOfNames
cn: IMAP Access
member: cn=Staff,ou=groups,dc=example,dc=org
member: uid=alice,ou=people,dc=example,dc=org
EOF

export POSTERN_TEST_LDAP_URI="$URI"
export POSTERN_TEST_LDAPS_URI="ldaps://127.0.0.1:$SPORT"
export POSTERN_TEST_LDAP_CA="$T/ca.pem"
export POSTERN_TEST_LDAP_OTHER_CA="$T/other.pem"
export POSTERN_TEST_LDAP_PWFILE="$T/bindpw"
export POSTERN_TEST_LDAP_MODIFY="ldapmodify $ADMIN"
export POSTERN_TEST_SLAPD_PID="$PID"
"$TEST" --jobs 1 --filter 'groups/slapd_*'

# The directory goes away: lookups must fail, not allow.
kill "$PID"
for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
	kill -0 "$PID" 2>/dev/null || break
	sleep 0.1
done
PID=
POSTERN_TEST_SLAPD_DOWN=1 "$TEST" --jobs 1 --filter 'groups/slapd_down*'
