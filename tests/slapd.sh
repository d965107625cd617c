#!/bin/sh
# Runs the groups module's LDAP tests (tests/test_groups, "slapd_*") against
# a private OpenLDAP slapd on loopback: its own configuration, database and
# TLS certificates in a temporary directory, StartTLS and ldaps:// with a
# verified certificate, users and nested groups kept by the memberof
# overlay (contrib/slapd-test.sh starts and stops it).  Exits 77 (skipped)
# when slapd, ldap-utils or openssl are missing (Debian: slapd ldap-utils
# openssl).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
SLAPD_TEST="$here/../contrib/slapd-test.sh"
TEST=${TEST_GROUPS:-./tests/test_groups}
[ -x "$TEST" ] || { echo "slapd.sh: $TEST not built: skipped"; exit 77; }

T=$(mktemp -d "${TMPDIR:-/tmp}/postern-slapd.XXXXXX")
cleanup() {
	sh "$SLAPD_TEST" stop "$T"
	rm -rf "$T"
}
trap cleanup EXIT INT TERM

# Users first, then groups: the memberof overlay fills in memberOf on
# each member, nested groups included.
cat >"$T/test.ldif" <<EOF
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
# Skipped (77) when slapd or its tools are missing.
rc=0
sh "$SLAPD_TEST" start "$T" "$T/test.ldif" || rc=$?
[ $rc -eq 0 ] || exit $rc
. "$T/env"
URI=$SLAPD_URI
PID=$(cat "$T/slapd.pid")
ADMIN="-x -H $URI -D $SLAPD_ADMIN_DN -y $SLAPD_ADMIN_PWFILE"

export POSTERN_TEST_LDAP_URI="$URI"
export POSTERN_TEST_LDAPS_URI="$SLAPD_LDAPS_URI"
export POSTERN_TEST_LDAP_CA="$SLAPD_CA"
export POSTERN_TEST_LDAP_OTHER_CA="$SLAPD_OTHER_CA"
export POSTERN_TEST_LDAP_PWFILE="$SLAPD_ADMIN_PWFILE"
export POSTERN_TEST_LDAP_MODIFY="ldapmodify $ADMIN"
export POSTERN_TEST_SLAPD_PID="$PID"
"$TEST" --jobs 1 --filter 'groups/slapd_*'

# The directory goes away: lookups must fail, not allow.
sh "$SLAPD_TEST" stop "$T"
POSTERN_TEST_SLAPD_DOWN=1 "$TEST" --jobs 1 --filter 'groups/slapd_down*'
