#!/bin/bash
# tests/fuzz/coverage.sh - source-based coverage (clang's
# -fprofile-instr-generate -fcoverage-mapping) of the daemon's code reached
# by the fuzz harnesses' corpora: each harness runs every input of its
# corpus once (libFuzzer's -runs=0, nothing is mutated or written), and
# llvm-cov reports the lines and regions of the files that harness targets.
#
# Usage: tests/fuzz/coverage.sh BUILD_DIR [CORPUS_ROOT] [HARNESS...]
#   BUILD_DIR    a build directory of its own; configured here with
#                --enable-fuzzing and the coverage flags when it has no
#                Makefile yet, and the harnesses (re)built
#   CORPUS_ROOT  holds one directory per harness (default: the tree's
#                tests/fuzz/corpus); a long run's corpus can be given here
#   HARNESS      the harnesses to measure (default: all)
# The per-harness reports are left in BUILD_DIR/fuzz-coverage/.
# Needs clang, libFuzzer and llvm-profdata / llvm-cov (Debian: llvm, whose
# tools may carry a version suffix, as llvm-cov-14).
set -euo pipefail
src=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$src/../.." && pwd)
build=$1
shift
corpora=$src/corpus
if [ $# -gt 0 ] && [ -d "$1" ]; then
	corpora=$(cd "$1" && pwd)
	shift
fi
harnesses=("$@")
if [ ${#harnesses[@]} -eq 0 ]; then
	harnesses=(imap_preauth pop3_preauth imap_frame pop3_frame proxyproto
		sasl conf protolog_row exlog_scanners session routemap ntlm)
fi

# The daemon's files each harness is written for.
targets() {
	case $1 in
	imap_preauth) echo src/daemon/imap_parse.c src/daemon/sasl.c ;;
	pop3_preauth) echo src/daemon/pop3_parse.c src/daemon/sasl.c ;;
	imap_frame) echo src/daemon/imap_frame.c ;;
	pop3_frame) echo src/daemon/pop3_parse.c ;;
	proxyproto) echo src/daemon/proxyproto.c ;;
	sasl) echo src/daemon/sasl.c ;;
	routemap) echo src/daemon/routemap.c ;;
	ntlm) echo src/daemon/ntlm.c ;;
	conf) echo src/daemon/conf.c src/daemon/conf_value.c \
		src/daemon/server_conf.c src/daemon/proto_conf.c \
		src/daemon/tls_conf.c src/daemon/policy_conf.c \
		src/daemon/groups_conf.c src/daemon/protolog_conf.c \
		src/daemon/throttle_conf.c src/daemon/routing_conf.c \
		src/daemon/stats_conf.c ;;
	protolog_row) echo src/common/protolog_row.c src/common/exlogread.c ;;
	exlog_scanners) echo src/common/exlogread.c ;;
	session) echo src/daemon/session.c src/daemon/login.c \
		src/daemon/sesslog.c src/daemon/pop3.c src/daemon/imap.c \
		src/daemon/imap_relay.c ;;
	*)
		echo "coverage: unknown harness $1" >&2
		exit 2
		;;
	esac
}

tool() {
	local t
	for t in "$1" "$1"-{19,18,17,16,15,14}; do
		if command -v "$t" >/dev/null; then
			echo "$t"
			return
		fi
	done
	echo "coverage: $1 not found (Debian: llvm)" >&2
	exit 1
}
profdata=$(tool llvm-profdata)
cov=$(tool llvm-cov)

mkdir -p "$build"
build=$(cd "$build" && pwd)
if [ ! -f "$build/Makefile" ]; then
	flags="-g -O1 -fprofile-instr-generate -fcoverage-mapping"
	(cd "$build" && "$top/configure" -q CC=clang --enable-fuzzing \
		CFLAGS="$flags" LDFLAGS="-fprofile-instr-generate")
fi
make -C "$build" -s -j2 fuzz-build

out=$build/fuzz-coverage
mkdir -p "$out"
work=$(mktemp -d "${TMPDIR:-/tmp}/postern-fuzzcov.XXXXXX")
trap 'rm -rf "$work"' EXIT
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0}

printf '%-15s %7s %9s %9s  %s\n' harness inputs lines regions files
for h in "${harnesses[@]}"; do
	bin=$build/tests/fuzz/$h
	files=()
	for f in $(targets "$h"); do
		files+=("$top/$f")
	done
	rm -f "$out/$h".*
	# A copy: libFuzzer may write into the directory it reads.
	mkdir -p "$work/$h"
	cp -R "$corpora/$h/." "$work/$h/"
	LLVM_PROFILE_FILE="$work/$h.%p.profraw" "$bin" -runs=0 \
		-rss_limit_mb=4096 "$work/$h" >"$out/$h.run.log" 2>&1 || {
		echo "coverage: $h failed on its corpus, see $out/$h.run.log" >&2
		exit 1
	}
	"$profdata" merge -sparse -o "$out/$h.profdata" "$work/$h".*.profraw
	"$cov" report "$bin" -instr-profile="$out/$h.profdata" "${files[@]}" \
		>"$out/$h.txt"
	# The TOTAL row: regions, missed, cover, functions, missed, executed,
	# lines, missed, cover (llvm-cov 14's columns; branches follow).
	total=$(grep '^TOTAL' "$out/$h.txt")
	printf '%-15s %7s %9s %9s  %s\n' "$h" "$(ls "$work/$h" | wc -l)" \
		"$(echo "$total" | awk '{print $10}')" \
		"$(echo "$total" | awk '{print $4}')" "$(targets "$h")"
done
echo "coverage: reports in $out"
