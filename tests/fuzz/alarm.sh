#!/bin/bash
# tests/fuzz/alarm.sh - runs a harness over its seed corpus while SIGALRM
# arrives every few tens of microseconds.  libFuzzer catches SIGALRM (its
# -timeout watch) without SA_RESTART, so every blocking call of a harness
# may fail with EINTR; the session harness once aborted on such a
# connect().  Fails when the harness does.
#
# Usage: tests/fuzz/alarm.sh BUILD_DIR [HARNESS [ROUNDS]]
#   BUILD_DIR  the build directory configured with --enable-fuzzing
#   HARNESS    default: session
#   ROUNDS     how many times each seed runs (default: enough for about
#              500 runs in all, at least one per seed)
set -euo pipefail
src=$(cd "$(dirname "$0")" && pwd)
build=$1 h=${2:-session} rounds=${3:-}
bin=$build/tests/fuzz/$h
[ -x "$bin" ] || { echo "alarm: $bin is not built" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/postern-alarm.XXXXXX")
trap 'rm -rf "$work"' EXIT
cp -R "$src/corpus/$h/." "$work/"
n=$(find "$work" -type f | wc -l)
if [ -z "$rounds" ]; then
	rounds=$((n < 500 ? (500 + n - 1) / n : 1))
fi

ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1} \
	nice -n 19 "$bin" -timeout=600 -runs="$rounds" "$work"/* \
	>"$work.log" 2>&1 &
pid=$!
# Not before libFuzzer has its handler: SIGALRM's default ends a process.
for _ in $(seq 100); do
	grep -q '^Running: ' "$work.log" 2>/dev/null && break
	sleep 0.1
done
python3 - "$pid" <<'EOF'
import os, signal, sys, time
pid = int(sys.argv[1])
n = 0
while True:
    n += 1
    try:
        # An ended child stays a zombie until the shell waits for it.
        if n % 64 == 0:
            with open("/proc/%d/stat" % pid) as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    break
        os.kill(pid, signal.SIGALRM)
    except (ProcessLookupError, FileNotFoundError):
        break
    time.sleep(0.00002)
EOF
rc=0
wait "$pid" || rc=$?
if [ "$rc" -ne 0 ]; then
	grep -m3 -E 'invariant broken|ERROR|connect:' "$work.log" >&2 || true
	echo "alarm: $h failed (status $rc) under SIGALRM" >&2
	rm -f "$work.log"
	exit 1
fi
rm -f "$work.log"
echo "alarm: $h ran each of its $n seeds $rounds time(s) under SIGALRM"
