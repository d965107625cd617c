# contrib/deps.sh - sourced: installs the Debian packages a step needs.
#   deps_install build   compiler, autotools, libraries
#   deps_install test    + Criterion, Dovecot, clients used by the tests
#   deps_install demo    + Dovecot, curl and openssl
#   deps_install fuzz    clang and libFuzzer (--enable-fuzzing), llvm-cov
#   deps_install format  clang-format (make format, make format-check)
# Runs apt-get only when a package is missing.

deps_build=(build-essential autoconf automake pkg-config libsystemd-dev
	libevent-dev libssl-dev libinih-dev zlib1g-dev openssl libldap-dev)
deps_test=(libcriterion-dev dovecot-imapd dovecot-pop3d curl fetchmail
	openssl python3 python3-pytest python3-pytest-xdist python3-yaml procps slapd ldap-utils chromium
	haproxy isync systemd fail2ban strace
	samba samba-ad-dc samba-ad-provision winbind krb5-user dovecot-gssapi)
deps_demo=(dovecot-imapd dovecot-pop3d curl openssl procps)
deps_fuzz=(clang libclang-rt-14-dev llvm)
deps_format=(clang-format groff-base)

deps_install() {
	local want=() missing=() p
	for set in "$@"; do
		case $set in
		build) want+=("${deps_build[@]}") ;;
		test) want+=("${deps_test[@]}") ;;
		demo) want+=("${deps_demo[@]}") ;;
		fuzz) want+=("${deps_fuzz[@]}") ;;
		format) want+=("${deps_format[@]}") ;;
		esac
	done
	for p in "${want[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
			grep -q 'install ok installed' || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	local sudo=
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	echo "deps: installing ${missing[*]}"
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
		--no-install-recommends "${missing[@]}" >/dev/null
	# A package's postinst may start the system-wide Dovecot: the tests run
	# their own private instances and need the ports free.
	if [ -r /run/dovecot/master.pid ]; then
		$sudo kill "$(cat /run/dovecot/master.pid)" 2>/dev/null || true
	fi
}
