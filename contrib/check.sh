#!/bin/bash
# contrib/check.sh - install what the build and the tests need (Debian 12),
# build with warnings as errors, run every test, then build again with
# AddressSanitizer + UndefinedBehaviorSanitizer and run every test again,
# then once more with ThreadSanitizer (the daemon's workers, the protocol
# log's writer and the LDAP pool are threads; Criterion cannot start under
# TSan, so there the unit tests run through tests/tsanrun's runner), then
# build and briefly run the fuzz harnesses and check the formatting and
# the modules' layering.
#
# Usage (from the top of a checkout, as root or with sudo available):
#   bash contrib/check.sh
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

# shellcheck source=contrib/deps.sh
. "$top/contrib/deps.sh"
deps_install build test
echo "=== check.sh: packages in place after ${SECONDS} s ==="

autoreconf -fi >/dev/null

run_pass() {
	local name=$1; shift
	local dir="$top/build/$name" t0=$SECONDS
	echo "=== check.sh: $name build ==="
	rm -rf "$dir"
	mkdir -p "$dir"
	(cd "$dir" && "$top/configure" -q "$@" && make -j"$(nproc)" -s &&
	 ${CHECK_WRAP:-} make -s check -j"$(nproc)" VERBOSE=1) ||
		{ echo "check.sh: the $name pass failed" >&2; return 1; }
	echo "=== check.sh: the $name pass took $((SECONDS - t0)) s ==="
}

run_pass werror --enable-werror
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	run_pass sanitizers --enable-werror --enable-sanitizers
# TSan's shadow memory needs the layout of at most 28 random mmap bits;
# where the kernel uses more (vm.mmap_rnd_bits), the tests of this pass
# run without address-space randomisation.
rnd=$(cat /proc/sys/vm/mmap_rnd_bits 2>/dev/null || echo 28)
[ "$rnd" -le 28 ] || CHECK_WRAP="setarch $(uname -m) -R"
CHECK_WRAP=${CHECK_WRAP:-} \
TSAN_OPTIONS="second_deadlock_stack=1:suppressions=$top/tests/tsan.supp" \
	run_pass tsan --enable-werror --enable-tsan

# libFuzzer harnesses (tests/fuzz): built with clang in a fourth directory
# and run for 45 seconds in all from temporary copies of their in-tree
# corpora; a crash, leak or timeout counts as a failed test.
deps_install fuzz
echo "=== check.sh: fuzz build ==="
rm -rf "$top/build/fuzz"
mkdir -p "$top/build/fuzz"
fuzz_ok=1
if ! (cd "$top/build/fuzz" &&
    "$top/configure" -q CC=clang --enable-werror --enable-fuzzing &&
    make -j"$(nproc)" -s fuzz-build); then
	echo "check.sh: the fuzz build failed" >&2
	fuzz_ok=0
elif ! bash "$top/tests/fuzz/run.sh" "$top/build/fuzz" 45; then
	echo "check.sh: a fuzz harness found a crash" >&2
	fuzz_ok=0
elif ! bash "$top/tests/fuzz/alarm.sh" "$top/build/fuzz"; then
	echo "check.sh: the session harness fails under libFuzzer's alarm" >&2
	fuzz_ok=0
fi

# Formatting: the tree as .clang-format writes it ("make format" fixes it).
deps_install format
echo "=== check.sh: format ==="
format_ok=1
if ! (cd "$top/build/werror" && make -s format-check); then
	echo "check.sh: files differ from .clang-format's layout; run make format" >&2
	format_ok=0
fi
# The manual pages as man(1) reads them: groff warns of a stray character
# or a bad request, which would show as garbage or nothing.
for page in "$top"/man/*.[15] "$top/build/werror/man/postern.8"; do
	if [ -n "$(groff -man -ww -z "$page" 2>&1)" ]; then
		groff -man -ww -z "$page" >&2 || true
		echo "check.sh: groff warns about $page" >&2
		format_ok=0
	fi
done

# Layering: the daemon's modules include each other's headers both ways
# only in the pairs contrib/include-cycles.py allows, saying why, and form
# no longer circle.
echo "=== check.sh: include cycles ==="
layers_ok=1
if ! python3 "$top/contrib/include-cycles.py"; then
	echo "check.sh: modules depend on each other both ways" >&2
	layers_ok=0
fi
# Only the descriptor table and the protocols' own files name a protocol;
# the rest asks the descriptor (HACKING.md).
if grep -rnwE 'PROTO_POP3|PROTO_IMAP' "$top/src" |
	grep -vE '/src/daemon/(proto|pop3[a-z_]*|imap[a-z_]*)\.c:'; then
	echo "check.sh: code outside the protocols tests the protocol" >&2
	layers_ok=0
fi

# One closing line over every pass, from automake's own counts.
pass=0 fail=0
for f in build/werror/test-suite.log build/sanitizers/test-suite.log \
    build/tsan/test-suite.log; do
	p=$(sed -n 's/^# PASS: *//p' "$f" | head -n1)
	x=$(sed -n 's/^# FAIL: *//p' "$f" | head -n1)
	e=$(sed -n 's/^# ERROR: *//p' "$f" | head -n1)
	pass=$((pass + ${p:-0})); fail=$((fail + ${x:-0} + ${e:-0}))
done
for ok in "$fuzz_ok" "$format_ok" "$layers_ok"; do
	if [ "$ok" -eq 1 ]; then pass=$((pass + 1)); else fail=$((fail + 1)); fi
done
echo "=== check.sh: ${SECONDS} s in all ==="
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]

