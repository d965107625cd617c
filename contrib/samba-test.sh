#!/bin/bash
# contrib/samba-test.sh - a private Samba Active Directory domain controller
# on loopback for the integration tests: LDAP (with StartTLS), Kerberos and
# NTLM through winbindd, as a real Exchange estate's directory answers.  It
# never touches the system's Samba: its configuration, databases, sockets,
# certificates and logs all live in DIR.
#
# Usage:
#   samba-test.sh start DIR [GROUPS_FILE]
#   samba-test.sh stop DIR
#
# The first start in DIR provisions the domain POSTERN.TEST (NetBIOS name
# POSTERN, DC1 its controller) into DIR (samba-tool domain provision
# --targetdir, its own smb.conf), adds the users of SAMBA_USERS
# ("name:password ..."; a password may hold anything but blanks and
# colons) and the groups of GROUPS_FILE, one a line:
#     Group Name: member member ...
# where a member is a user or a group defined on an earlier line (which
# makes nested groups, as AD keeps them: the group's member attribute
# names the inner group, and the users' memberOf names only their direct
# groups).  Provisioning takes 20-60 s; a later start in the same DIR
# (after stop) starts the same domain again in a few seconds.
#
# Ports: Samba's LDAP server has its ports built in (389, 636 for LDAPS,
# 3268 and 3269 for the global catalog), and so has the RPC endpoint
# mapper (135): those must be free on 127.0.0.1; the KDC (krb5 port) and
# kpasswd listen on free ports chosen here.  Only the ldap, kdc, rpc and
# winbindd services run (no SMB file service, no NetBIOS, no DNS).
#
# What start leaves in DIR:
#   env            shell assignments: SAMBA_CONF (the smb.conf),
#                  SAMBA_REALM, SAMBA_DOMAIN, SAMBA_BASE, SAMBA_LDAP_URI,
#                  SAMBA_CA (the CA of the LDAP certificate),
#                  SAMBA_ADMIN_DN, SAMBA_ADMIN_PWFILE, SAMBA_KRB5_CONF,
#                  SAMBA_KDC_PORT, SAMBA_WINBIND_DIR (winbindd's socket
#                  directory), SAMBA_NTLM_AUTH (a wrapper of ntlm_auth with
#                  this smb.conf, for Dovecot's auth_winbind_helper_path),
#                  SAMBA_KEYTAB (the keys of imap/localhost and
#                  pop/localhost, the account mailsrv's service names;
#                  imap/127.0.0.1 and pop/127.0.0.1 belong to another
#                  account, othermail, whose keys it does not hold)
#   inns           runs a command (wbinfo, ntlm_auth) so that it finds this
#                  DC's winbindd (see below why that takes a wrapper)
#   samba.pid      the daemon's pid while it runs
#   samba.log      its log
#
# Exits 77 (skipped, in automake's terms) when samba, samba-tool, the AD
# provisioning files or ldapsearch are missing (Debian: samba samba-ad-dc
# samba-ad-provision winbind ldap-utils), when not run as root (Samba's
# AD DC runs only as root), when no mount namespace can be made (see
# inns), or when one of those fixed ports is taken (before the start, or
# by another DC that won the race for it).
set -euo pipefail

REALM=POSTERN.TEST
DOMAIN=POSTERN
BASE="DC=postern,DC=test"
ADMIN_DN="CN=Administrator,CN=Users,$BASE"
# Ports built into Samba: LDAP, LDAPS, the global catalog (plain and TLS)
# and the RPC endpoint mapper.
FIXED_PORTS="389 636 3268 3269 135"

die() {
	echo "samba-test.sh: $*" >&2
	exit 1
}

skip() {
	echo "samba-test.sh: $*: skipped"
	exit 77
}

usage() {
	echo "usage: $0 start DIR [GROUPS_FILE] | stop DIR" >&2
	exit 2
}

check_tools() {
	local tool
	for tool in samba samba-tool ntlm_auth wbinfo ldapsearch openssl unshare; do
		command -v "$tool" >/dev/null 2>&1 || skip "$tool not found"
	done
	[ -d /usr/share/samba/setup/ad-schema ] ||
		skip "no AD schema (Debian: samba-ad-provision)"
	[ "$(id -u)" -eq 0 ] || skip "Samba's AD DC needs root"
	# Samba's clients reach winbindd through a mount namespace (below).
	unshare --mount --propagation private true 2>/dev/null ||
		skip "cannot make a mount namespace (unshare --mount)"
}

# Whether something listens on 127.0.0.1:$1.
port_taken() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# A free port for the KDC and kpasswd, below the kernel's ephemeral range:
# the other tests' ports (bound to port 0) and outgoing connections come
# from that range, and could take the port before samba binds it.
free_port() {
	local p lo
	lo=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null) || lo=32768
	[ "$lo" -gt 21024 ] 2>/dev/null || lo=32768
	while :; do
		p=$((20000 + $(od -An -N2 -tu2 /dev/urandom) % (lo - 20000)))
		port_taken "$p" || break
	done
	echo "$p"
}

# A CA and a certificate for the controller's name and 127.0.0.1, so that
# LDAP clients can verify it as they would verify a real DC.
make_certs() {
	local d=$1/tls
	mkdir -p "$d"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$d/ca.key" -out "$d/ca.pem" -days 7 \
		-subj "/CN=Postern Test Domain CA" 2>/dev/null
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$d/dc.key" -out "$d/dc.csr" \
		-subj "/CN=dc1.postern.test" 2>/dev/null
	printf 'subjectAltName=IP:127.0.0.1,DNS:dc1.postern.test,DNS:localhost\n' \
		>"$d/ext"
	openssl x509 -req -in "$d/dc.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" \
		-CAcreateserial -days 7 -extfile "$d/ext" \
		-out "$d/dc.pem" 2>/dev/null
	chmod 600 "$d/dc.key" "$d/ca.key"
}

provision() {
	local d=$1 kdc=$2 kpasswd=$3
	mkdir -p "$d/etc" "$d/run" "$d/winbindd" "$d/ncalrpc" "$d/log"
	make_certs "$d"
	# An smb.conf of its own from the start: provision would otherwise
	# take the system's smb.conf as its template.
	: >"$d/etc/smb.conf"
	samba-tool domain provision -s "$d/etc/smb.conf" \
		--targetdir="$d" --server-role=dc --dns-backend=NONE \
		--realm="$REALM" --domain="$DOMAIN" --host-name=dc1 \
		--adminpass="$(cat "$d/adminpw")" --use-rfc2307 \
		--option="interfaces = 127.0.0.1" \
		--option="bind interfaces only = yes" \
		--option="server services = ldap, kdc, rpc, winbindd" \
		--option="krb5 port = $kdc" \
		--option="kpasswd port = $kpasswd" \
		--option="pid directory = $d/run" \
		--option="winbindd socket directory = $d/winbindd" \
		--option="ncalrpc dir = $d/ncalrpc" \
		--option="ntp signd socket directory = $d/ntp_signd" \
		--option="log file = $d/log/log.%m" \
		--option="tls enabled = yes" \
		--option="tls keyfile = $d/tls/dc.key" \
		--option="tls certfile = $d/tls/dc.pem" \
		--option="tls cafile = $d/tls/ca.pem" \
		--option="ntlm auth = mschapv2-and-ntlmv2-only" \
		>"$d/provision.log" 2>&1 ||
		die "provision failed: $(tail -n 20 "$d/provision.log")"
}

# Adds the users of SAMBA_USERS and the groups of $2 in one process, with
# Samba's own Python bindings on the database while the DC is stopped.
add_directory() {
	local d=$1 groups=${2:-}
	local py
	# Samba's bindings are there for the Python samba-tool runs with.
	py=$(sed -n '1s/^#! *//p' "$(command -v samba-tool)")
	# -I: not the caller's directory, which may hold a samba.py of its own.
	SAMBA_USERS=${SAMBA_USERS:-} $py -I - "$d/etc/smb.conf" \
		"$d/private/sam.ldb" "$groups" "$d/mail.keytab" <<'EOF'
import os
import secrets
import sys

import ldb
import samba.net
import samba.param
from samba import dckeytab  # noqa: F401 (adds Net.export_keytab)
from samba.auth import system_session
from samba.samdb import SamDB

conf, url, groups_file, keytab_file = sys.argv[1:5]
lp = samba.param.LoadParm()
lp.load(conf)
db = SamDB(url=url, session_info=system_session(), lp=lp)
# A test domain: passwords as the tests make them, never expiring.
dom = ldb.Message(ldb.Dn(db, db.domain_dn()))
for attr, value in (("pwdProperties", "0"), ("minPwdLength", "0"),
                    ("maxPwdAge", "0"), ("minPwdAge", "0")):
    dom[attr] = ldb.MessageElement(value, ldb.FLAG_MOD_REPLACE, attr)
db.modify(dom)
for entry in os.environ["SAMBA_USERS"].split():
    name, _, password = entry.partition(":")
    db.newuser(name, password, givenname=name.capitalize(), surname="Test",
               mailaddress="%s@postern.test" % name)
# The mail server's account: the Kerberos service names IMAP and POP3
# clients ask tickets for (RFC 4752: imap/host, pop/host), AES keys only
# (msDS-SupportedEncryptionTypes 0x18; without it AD issues RC4 tickets),
# exported to the keytab Dovecot accepts with.  othermail holds the names
# of another mail host (the address 127.0.0.1): a ticket for it is real
# but sealed with a key that keytab lacks.
for name, spns, keytab in (
        ("mailsrv", ["imap/localhost", "pop/localhost"], keytab_file),
        ("othermail", ["imap/127.0.0.1", "pop/127.0.0.1"], None)):
    db.newuser(name, "Svc-" + secrets.token_hex(12))
    svc = ldb.Message(ldb.Dn(db, "CN=%s,CN=Users,%s" % (name,
                                                        db.domain_dn())))
    svc["servicePrincipalName"] = ldb.MessageElement(
        spns, ldb.FLAG_MOD_ADD, "servicePrincipalName")
    svc["msDS-SupportedEncryptionTypes"] = ldb.MessageElement(
        "24", ldb.FLAG_MOD_REPLACE, "msDS-SupportedEncryptionTypes")
    db.modify(svc)
    # What samba-tool domain exportkeytab does, without a second
    # interpreter start per name.
    for spn in spns if keytab else ():
        samba.net.Net(None, lp).export_keytab(keytab=keytab, principal=spn)
if groups_file:
    with open(groups_file) as f:
        for line in f:
            if not line.strip() or line.startswith("#"):
                continue
            group, _, members = line.partition(":")
            db.newgroup(group.strip())
            if members.split():
                db.add_remove_group_members(group.strip(), members.split(),
                                            add_members_operation=True)
EOF
}

# Starts samba; false when it did not come up (its log says why).
run_samba() {
	local d=$1 i pid
	rm -f "$d/samba.pid"
	setsid samba -s "$d/etc/smb.conf" --foreground --no-process-group \
		--debug-stdout -d 1 </dev/null >"$d/samba.log" 2>&1 &
	pid=$!
	echo "$pid" >"$d/samba.pid"
	for i in $(seq 1 300); do
		kill -0 "$pid" 2>/dev/null || return 1
		if ldapsearch -x -H ldap://127.0.0.1 -b "" -s base \
			>/dev/null 2>&1 &&
			"$d/inns" wbinfo --ping-dc >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.2
	done
	return 1
}

start() {
	local d=$1 groups=${2:-} kdc kpasswd t0 t1 p
	check_tools
	[ -d "$d" ] || die "$d: no such directory"
	d=$(cd "$d" && pwd)
	[ -z "$groups" ] || groups=$(cd "$(dirname "$groups")" && pwd)/$(basename "$groups")
	for p in $FIXED_PORTS; do
		! port_taken "$p" || skip "127.0.0.1:$p is taken (Samba's LDAP and RPC ports are fixed)"
	done
	if [ ! -r "$d/env" ]; then
		t0=$(date +%s.%N)
		kdc=$(free_port)
		kpasswd=$(free_port)
		printf 'Adm1n-%s' "$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')" \
			>"$d/adminpw"
		chmod 600 "$d/adminpw"
		provision "$d" "$kdc" "$kpasswd"
		add_directory "$d" "$groups" >>"$d/provision.log" 2>&1 ||
			die "adding users and groups failed: $(tail -n 20 "$d/provision.log")"
		# Samba's clients (ntlm_auth, wbinfo) reach winbindd only at
		# the socket directory built into them, /run/samba/winbindd:
		# they ignore smb.conf's "winbindd socket directory" (and the
		# environment variable of Samba's own test suite works only
		# under its nss_wrapper).  So they run in a mount namespace of
		# their own whose /run holds just that directory, bound to
		# this DC's; the system's /run is left alone.
		cat >"$d/inns" <<-EOF
			#!/bin/sh
			# Runs a command that sees this DC's winbindd at
			# /run/samba/winbindd.
			exec unshare --mount --propagation private sh -c '
			    mount -t tmpfs -o size=64k,mode=0755 tmpfs /run &&
			    mkdir -p /run/samba/winbindd &&
			    mount --bind "\$0" /run/samba/winbindd &&
			    exec "\$@"' "$d/winbindd" "\$@"
		EOF
		cat >"$d/ntlm_auth" <<-EOF
			#!/bin/sh
			# ntlm_auth against the private domain controller.
			exec "$d/inns" ntlm_auth --configfile="$d/etc/smb.conf" "\$@"
		EOF
		chmod 755 "$d/inns"
		chmod 755 "$d/ntlm_auth"
		# For clients (kinit, GSSAPI) and acceptors (Dovecot): this
		# realm, its KDC on its port, no DNS; service names as written
		# (imap/localhost), not canonicalised through the resolver.
		cat >"$d/krb5.conf" <<-EOF
			[libdefaults]
			default_realm = $REALM
			dns_lookup_kdc = false
			dns_lookup_realm = false
			rdns = false
			dns_canonicalize_hostname = false

			[realms]
			$REALM = {
				kdc = 127.0.0.1:$kdc
			}

			[domain_realm]
			localhost = $REALM
			.postern.test = $REALM
		EOF
		t1=$(date +%s.%N)
		awk "BEGIN { printf \"provisioned in %.1f s\\n\", $t1 - $t0 }" \
			>>"$d/timing"
		cat >"$d/env" <<-EOF
			SAMBA_CONF=$d/etc/smb.conf
			SAMBA_REALM=$REALM
			SAMBA_DOMAIN=$DOMAIN
			SAMBA_BASE=$BASE
			SAMBA_LDAP_URI=ldap://127.0.0.1
			SAMBA_CA=$d/tls/ca.pem
			SAMBA_ADMIN_DN=$ADMIN_DN
			SAMBA_ADMIN_PWFILE=$d/adminpw
			SAMBA_KRB5_CONF=$d/krb5.conf
			SAMBA_KDC_PORT=$kdc
			SAMBA_WINBIND_DIR=$d/winbindd
			SAMBA_NTLM_AUTH=$d/ntlm_auth
			SAMBA_KEYTAB=$d/mail.keytab
		EOF
	fi
	t0=$(date +%s.%N)
	run_samba "$d" || {
		stop "$d"
		# Another DC took a port between the check above and now.
		p=$(sed -n 's/.*Failed to listen on 127\.0\.0\.1:\([0-9]*\) - NT_STATUS_ADDRESS_ALREADY_ASSOCIATED.*/\1/p' \
			"$d/samba.log" | head -n 1)
		case " $FIXED_PORTS " in
		*" $p "*) skip "127.0.0.1:$p is taken (Samba's LDAP and RPC ports are fixed)" ;;
		esac
		die "samba did not start: $(tail -n 30 "$d/samba.log")"
	}
	t1=$(date +%s.%N)
	awk "BEGIN { printf \"started in %.1f s\\n\", $t1 - $t0 }" >>"$d/timing"
}

stop() {
	local d=$1 pid i
	[ -r "$d/samba.pid" ] || return 0
	pid=$(cat "$d/samba.pid")
	rm -f "$d/samba.pid"
	# samba ends its children (winbindd, the service processes) itself;
	# the group (setsid above) is for one that hangs.
	kill -TERM "$pid" 2>/dev/null || return 0
	for i in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL -- "-$pid" 2>/dev/null || true
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
