#!/bin/bash
# tests/fuzz/run.sh - runs the libFuzzer harnesses built by
# "./configure --enable-fuzzing CC=clang" for a total time, shared evenly,
# each from a temporary copy of its in-tree corpus with its dictionary, so
# that the tree is left as it was.  Fails when a harness finds a crash, a
# leak or a timeout; the input is kept and printed in base64.
#
# Usage: tests/fuzz/run.sh BUILD_DIR SECONDS [HARNESS...]
#   BUILD_DIR  the build directory configured with --enable-fuzzing
#   SECONDS    the time for all harnesses together (at least 1 each)
#   HARNESS    the harnesses to run (default: all)
set -euo pipefail
src=$(cd "$(dirname "$0")" && pwd)
build=$1 total=$2
shift 2
harnesses=("$@")
if [ ${#harnesses[@]} -eq 0 ]; then
	harnesses=(imap_preauth pop3_preauth imap_frame pop3_frame proxyproto
		sasl conf protolog_row exlog_scanners session routemap ntlm)
fi
each=$((total / ${#harnesses[@]}))
[ "$each" -ge 1 ] || each=1
work=$(mktemp -d "${TMPDIR:-/tmp}/postern-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
failed=()
for h in "${harnesses[@]}"; do
	bin=$build/tests/fuzz/$h
	[ -x "$bin" ] || { echo "fuzz: $bin is not built" >&2; exit 1; }
	mkdir -p "$work/$h/corpus" "$work/$h/found"
	cp "$src/corpus/$h/." "$work/$h/corpus/" -R
	echo "=== fuzz: $h for ${each}s"
	if "$bin" -max_total_time="$each" -timeout=10 -rss_limit_mb=2048 \
		-dict="$src/$h.dict" -artifact_prefix="$work/$h/found/" \
		-print_final_stats=1 "$work/$h/corpus" >"$work/$h/log" 2>&1; then
		grep -E '^(Done|stat::number_of_executed_units)' "$work/$h/log" || true
	else
		failed+=("$h")
		tail -n 60 "$work/$h/log"
		for f in "$work/$h/found"/*; do
			[ -e "$f" ] || continue
			echo "fuzz: $h: $(basename "$f"): $(base64 -w0 "$f")"
		done
	fi
done
if [ ${#failed[@]} -gt 0 ]; then
	echo "fuzz: failed: ${failed[*]}" >&2
	exit 1
fi
echo "fuzz: ${#harnesses[@]} harnesses, no finding"
