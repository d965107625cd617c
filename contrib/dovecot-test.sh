#!/bin/bash
# contrib/dovecot-test.sh - a private Dovecot on loopback for the demo and
# the integration tests.  It never touches the system's Dovecot: its own
# configuration, base_dir, users, mail, certificate and log all live in DIR.
#
# Usage:
#   dovecot-test.sh start DIR [POP3 POP3S IMAP IMAPS]
#   dovecot-test.sh stop DIR
#
# The ports may also come from DOVECOT_POP3_PORT, DOVECOT_POP3S_PORT,
# DOVECOT_IMAP_PORT and DOVECOT_IMAPS_PORT (defaults 21110, 21995, 21143,
# 21993).  POP3 and IMAP offer STARTTLS; POP3S and IMAPS are implicit TLS.
#
# Other settings from the environment:
#   DOVECOT_USERS     "name:password ..." (default "demo:demo"); a password
#                     may hold anything but blanks and colons
#   DOVECOT_HAPROXY   "IMAP POP3 IMAPS" ports of listeners that expect a
#                     PROXY header (haproxy = yes) from 127.0.0.0/8; unset:
#                     none
#   DOVECOT_BIG_SIZE  size in bytes of the large message every user gets,
#                     0 for none (default 5 MiB)
#   DOVECOT_OAUTH2_KEY  base64 of an HMAC key: Dovecot then also offers
#                     XOAUTH2 and OAUTHBEARER and checks the tokens itself
#                     as JWTs signed with it (HS256, no "kid" and no "azp":
#                     the key's file is DIR/oauth2-keys/default/HS256/default);
#                     the user is the token's "sub".  Unset: PLAIN and LOGIN
#                     only.
#   DOVECOT_TLS_RESUME  1: one long-lived login process per protocol, so
#                     that TLS sessions resume (Dovecot's default starts a
#                     process per connection, each with ticket keys and a
#                     session cache of its own, and never resumes)
#   DOVECOT_EXTRA_CONF  a file included at the end of dovecot.conf, whose
#                     settings override the ones above (another
#                     auth_mechanisms, winbind or Kerberos settings)
#
# What start leaves in DIR:
#   dovecot.conf, users           the configuration and the passwd-file
#   ca.pem, dovecot.key           the self-signed certificate (it is its own
#                                 CA: verify Dovecot with --cacert DIR/ca.pem)
#   messages/N.eml                the messages every user starts with
#                                 (1, 2 and the large 3), with CRLF line
#                                 ends: byte for byte what RETR N and
#                                 FETCH N BODY[] return
#   mail/NAME/Maildir             every user's mailbox
#   dovecot.log                   Dovecot's log
#
# Works as root (mail is owned by nobody, logins by Dovecot's own users) and
# as an ordinary user (everything runs as that user).
set -euo pipefail

die() {
	echo "dovecot-test.sh: $*" >&2
	exit 1
}

usage() {
	echo "usage: $0 start DIR [POP3 POP3S IMAP IMAPS] | stop DIR" >&2
	exit 2
}

# Waits until something accepts connections on 127.0.0.1:$1.
wait_port() {
	local i
	for i in $(seq 1 100); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
			return 0
		fi
		sleep 0.1
	done
	return 1
}

# A message with CRLF line ends: file, number, subject; body on stdin.
write_message() {
	local file=$1 n=$2 subject=$3
	{
		printf 'Return-Path: <sender@example.org>\n'
		printf 'From: Postern Test <sender@example.org>\n'
		printf 'To: Test User <user@example.org>\n'
		printf 'Subject: %s\n' "$subject"
		printf 'Date: Mon, 2 Jan 2023 10:00:0%d +0000\n' "$n"
		printf 'Message-ID: <test-%d@example.org>\n' "$n"
		printf 'MIME-Version: 1.0\n'
		printf 'Content-Type: text/plain; charset=us-ascii\n'
		printf '\n'
		cat
	} | sed 's/$/\r/' >"$file"
}

# The messages every user starts with, written once to DIR/messages.
make_messages() {
	local dir=$1 big=$2
	mkdir -p "$dir/messages"
	write_message "$dir/messages/1.eml" 1 "Welcome to postern" <<-EOF
		Hello,

		this message was fetched from a private Dovecot through postern.
		.A line that starts with a dot must come back with its dot.
		.
		The line above is a lone dot.
	EOF
	write_message "$dir/messages/2.eml" 2 "Second message" <<-EOF
		A second, short message.
	EOF
	if [ "$big" -gt 0 ]; then
		# base64 lines of 76 characters; the header makes up the rest.
		head -c $((big * 3 / 4)) /dev/urandom | base64 -w 76 |
			write_message "$dir/messages/3.eml" 3 "Large message"
	fi
}

# Copies the messages into a user's Maildir (flags and names change as the
# user reads them: compare with DIR/messages, not with the Maildir).
make_mailbox() {
	local dir=$1 user=$2 f n
	local md="$dir/mail/$user/Maildir"
	mkdir -p "$md/cur" "$md/new" "$md/tmp"
	for f in "$dir"/messages/*.eml; do
		n=$(basename "$f" .eml)
		# Dovecot trusts the size in S=.
		cp "$f" "$md/cur/170000000$n.M${n}P1.postern,S=$(stat -c %s "$f"):2,"
	done
}

start() {
	local dir=$1
	local pop3=${2:-${DOVECOT_POP3_PORT:-21110}}
	local pop3s=${3:-${DOVECOT_POP3S_PORT:-21995}}
	local imap=${4:-${DOVECOT_IMAP_PORT:-21143}}
	local imaps=${5:-${DOVECOT_IMAPS_PORT:-21993}}
	local users=${DOVECOT_USERS:-demo:demo}
	local big=${DOVECOT_BIG_SIZE:-5242880}
	local hap_imap= hap_pop3= hap_imaps= hap_trusted= hap_l_imap= hap_l_pop3=
	local login_procs=
	local mail_uid mail_gid internal internal_group login nochroot entry entries name pass p
	local mechs="plain login" oauth_passdb= pw_mechs=

	command -v dovecot >/dev/null ||
		die "dovecot is not installed (dovecot-imapd, dovecot-pop3d)"
	command -v openssl >/dev/null || die "openssl is not installed"
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	[ -e "$dir/run/master.pid" ] && die "$dir: a Dovecot is already running there"
	mkdir -p "$dir/run" "$dir/state" "$dir/mail"

	if [ "$(id -u)" -eq 0 ]; then
		# Dovecot refuses to run mail processes as root.
		mail_uid=$(id -u nobody)
		mail_gid=$(id -g nobody)
		internal=dovecot
		internal_group=dovecot
		login=dovenull
		nochroot=
		getent passwd dovecot dovenull >/dev/null ||
			die "the dovecot and dovenull users are missing"
	else
		mail_uid=$(id -u)
		mail_gid=$(id -g)
		internal=$(id -un)
		internal_group=$(id -gn)
		login=$internal
		# chroot() needs root.
		nochroot='chroot ='
	fi

	openssl req -x509 -newkey rsa:2048 -nodes -days 7 -sha256 \
		-subj "/CN=localhost" \
		-addext "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1" \
		-addext "basicConstraints=critical,CA:TRUE" \
		-keyout "$dir/dovecot.key" -out "$dir/ca.pem" 2>/dev/null ||
		die "openssl req failed"

	make_messages "$dir" "$big"
	: >"$dir/users"
	# Split on blanks only: a password may hold glob characters.
	read -r -a entries <<<"$users"
	for entry in "${entries[@]}"; do
		name=${entry%%:*}
		pass=${entry#*:}
		printf '%s:{PLAIN}%s:%s:%s::%s/mail/%s\n' "$name" "$pass" \
			"$mail_uid" "$mail_gid" "$dir" "$name" >>"$dir/users"
		make_mailbox "$dir" "$name"
	done

	# Dovecot's oauth2 passdb with local JWT validation: the key is looked
	# up in a dict as shared/<azp>/<alg>/<kid>, and the fs dict drops the
	# "shared/" (a file per key, holding the key in base64 without a line
	# end).
	if [ -n "${DOVECOT_OAUTH2_KEY:-}" ]; then
		mkdir -p "$dir/oauth2-keys/default/HS256"
		printf '%s' "$DOVECOT_OAUTH2_KEY" \
			>"$dir/oauth2-keys/default/HS256/default"
		cat >"$dir/dovecot-oauth2.conf.ext" <<-EOF
			introspection_mode = local
			local_validation_key_dict = fs:posix:prefix=$dir/oauth2-keys/
			username_attribute = sub
		EOF
		mechs="plain login xoauth2 oauthbearer"
		# The bearer tokens are the oauth2 passdb's alone; GSSAPI (of
		# DOVECOT_EXTRA_CONF) needs the passwd-file's lookup, so the
		# filter is only set here.
		pw_mechs="mechanisms = plain login"
		oauth_passdb="passdb {
		  driver = oauth2
		  mechanisms = xoauth2 oauthbearer
		  args = $dir/dovecot-oauth2.conf.ext
		}"
	fi

	# Listeners that expect a PROXY header, for forward_client_address =
	# proxy.
	if [ -n "${DOVECOT_HAPROXY:-}" ]; then
		read -r hap_imap hap_pop3 hap_imaps <<<"$DOVECOT_HAPROXY"
		hap_trusted="haproxy_trusted_networks = 127.0.0.0/8 ::1"
		hap_l_imap="inet_listener imap_haproxy {
		    port = $hap_imap
		    haproxy = yes
		  }
		  inet_listener imaps_haproxy {
		    port = $hap_imaps
		    ssl = yes
		    haproxy = yes
		  }"
		hap_l_pop3="inet_listener pop3_haproxy {
		    port = $hap_pop3
		    haproxy = yes
		  }"
	fi

	if [ "${DOVECOT_TLS_RESUME:-0}" = 1 ]; then
		login_procs="service_count = 0
		  process_limit = 1"
	fi

	cat >"$dir/dovecot.conf" <<-EOF
		# Written by contrib/dovecot-test.sh: a private test instance.
		instance_name = postern-test-$$
		base_dir = $dir/run
		state_dir = $dir/state
		protocols = pop3 imap
		listen = 127.0.0.1
		log_path = $dir/dovecot.log
		auth_verbose = yes
		default_internal_user = $internal
		default_internal_group = $internal_group
		default_login_user = $login
		first_valid_uid = 1

		ssl = yes
		ssl_cert = <$dir/ca.pem
		ssl_key = <$dir/dovecot.key
		ssl_min_protocol = TLSv1.2
		disable_plaintext_auth = no
		auth_mechanisms = $mechs

		passdb {
		  driver = passwd-file
		  $pw_mechs
		  args = username_format=%u $dir/users
		}
		$oauth_passdb
		userdb {
		  driver = passwd-file
		  args = username_format=%u $dir/users
		}
		mail_location = maildir:~/Maildir
		mailbox_idle_check_interval = 1 secs
		# postern connects from 127.0.0.1 and may forward the client's
		# address (IMAP ID, POP3 XCLIENT).
		login_trusted_networks = 127.0.0.0/8 ::1
		$hap_trusted
		mail_max_userip_connections = 200
		pop3_uidl_format = %08Xu%08Xv

		# COMPRESS=DEFLATE after login: a proxy that parses the session
		# must not let it be advertised.
		protocol imap {
		  mail_plugins = \$mail_plugins zlib imap_zlib
		}

		service imap-login {
		  $nochroot
		  $login_procs
		  inet_listener imap {
		    port = $imap
		  }
		  inet_listener imaps {
		    port = $imaps
		    ssl = yes
		  }
		  $hap_l_imap
		}
		service pop3-login {
		  $nochroot
		  $login_procs
		  inet_listener pop3 {
		    port = $pop3
		  }
		  inet_listener pop3s {
		    port = $pop3s
		    ssl = yes
		  }
		  $hap_l_pop3
		}
		service anvil {
		  $nochroot
		}
	EOF
	if [ -n "${DOVECOT_EXTRA_CONF:-}" ]; then
		printf '!include %s\n' "$DOVECOT_EXTRA_CONF" >>"$dir/dovecot.conf"
	fi

	if [ "$(id -u)" -eq 0 ]; then
		chown -R "$mail_uid:$mail_gid" "$dir/mail"
		chmod 0755 "$dir"
		chmod 0644 "$dir/users"
		[ -d "$dir/oauth2-keys" ] && chmod -R a+rX "$dir/oauth2-keys"
		# The mail processes run as nobody and must reach the Maildirs.
		setpriv --reuid="$mail_uid" --regid="$mail_gid" --clear-groups \
			test -w "$dir/mail" ||
			die "$dir: not reachable by uid $mail_uid (a parent directory is private)"
	fi

	# The daemon must not hold on to our standard output: a caller that
	# reads it to the end would wait for Dovecot to stop.
	if ! dovecot -c "$dir/dovecot.conf" </dev/null >"$dir/dovecot.out" 2>&1; then
		cat "$dir/dovecot.out" >&2
		die "dovecot did not start; see $dir/dovecot.log"
	fi
	for p in "$pop3" "$pop3s" "$imap" "$imaps"; do
		wait_port "$p" || {
			stop "$dir"
			die "dovecot does not listen on port $p; see $dir/dovecot.log"
		}
	done
}

stop() {
	local dir=$1 pid i
	[ -r "$dir/run/master.pid" ] || return 0
	pid=$(cat "$dir/run/master.pid")
	kill -TERM "$pid" 2>/dev/null || { rm -f "$dir/run/master.pid"; return 0; }
	for i in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
	rm -f "$dir/run/master.pid"
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
