#!/bin/sh
# Checks that the tests/tsanrun runner (the unit tests' runner under
# ThreadSanitizer) gives every kind of test its verdict: runs the tests of
# runner_tests.c, whose names start with the verdict they must get, and
# checks what ran in each child.  Only in the --enable-tsan build.
set -u

PROG=${TSANRUN_TESTS:-./tests/tsanrun/runner_tests}
[ -x "$PROG" ] || { echo "runner_tests.sh: $PROG not built: skipped"; exit 77; }
out=$(mktemp "${TMPDIR:-/tmp}/postern-tsanrun.XXXXXX")
trap 'rm -f "$out"' EXIT INT TERM

"$PROG" >"$out" 2>&1
rc=$?
cat "$out"
fail=0
bad() { echo "runner_tests.sh: $*"; fail=1; }

[ "$rc" -eq 1 ] || bad "the runner exited $rc, not 1, with failing tests"

# Every test of the file, with the verdict its name asks for.
want=$(sed -n 's/^\(Parameterized\)\{0,1\}Test(\([a-z]*\), \([a-z_]*\).*/\2\/\3/p' \
    "$(dirname "$0")/runner_tests.c" | grep -v '/param$' | sort)
got=$(sed -n 's/^\[\(PASS\|FAIL\|SKIP\)\] //p' "$out" | grep -v '/param\[' | sort)
[ "$want" = "$got" ] || bad "tests run: $(echo $got), not: $(echo $want)"
for v in PASS FAIL SKIP; do
	prefix=$(echo "$v" | tr 'A-Z' 'a-z')
	sed -n "s/^\[$v\] //p" "$out" | grep -v '/param\[' | while read -r t; do
		case ${t#*/} in
		"$prefix"_*) ;;
		*) echo "runner_tests.sh: $t got $v" ;;
		esac
	done | grep . && fail=1
done

# The parameterized test: each element a test of its own.
for l in "[PASS] selftest/param[0]" "[FAIL] selftest/param[1]" \
    "[PASS] selftest/param[2]" \
    "[====] Synthesis: Tested: 18 | Passing: 5 | Failing: 12 | Skipped: 1" \
    "mark: after the failed expectation" \
    "mark: fail_assert_stops_the_test fini" \
    "  selftest/fail_on_a_data_race: exit status 66 (a ThreadSanitizer report)" \
    "  selftest/fail_on_a_crash: crashed: Aborted" \
    "  selftest/fail_on_an_early_exit: exited before the end of the test" \
    "  selftest/fail_in_a_thread_of_the_test: fatal failure outside the test's thread" \
    "  selftest/fail_in_the_setup: set-up failed"; do
	grep -qxF "$l" "$out" || bad "no line: $l"
done
# What must not have run.
for l in "mark: after the failed assertion" "mark: after the skip" \
    "mark: body after a failed set-up" \
    "mark: after the thread's failed assertion"; do
	grep -qxF "$l" "$out" && bad "ran: $l"
done
order=$(sed -n 's/^mark: order //p' "$out" | tr '\n' ' ')
[ "$order" = "suite-init test-init test test-fini suite-fini " ] ||
	bad "set-up and tear-down order: $order"
[ "$fail" -eq 0 ] && echo "runner_tests.sh: every verdict as expected"
exit "$fail"
