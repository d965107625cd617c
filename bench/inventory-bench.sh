#!/bin/bash
# bench/inventory-bench.sh - how fast postern-inventory reads protocol logs.
#
# Usage: bench/inventory-bench.sh [DIR] [SIZE_MB]
#   DIR      where the synthetic logs go (default: /dev/shm/postern-inventory-bench
#            when /dev/shm has room, else /tmp/postern-inventory-bench)
#   SIZE_MB  how much log to generate (default 2048)
# Environment: INVENTORY=path/to/postern-inventory (default: ./postern-inventory,
#   then build/postern-inventory), PYTHON=python3, RUNS=3.
#
# Generates (once; kept for the next run) a log set with bench/genlogs.py,
# reads it into the page cache, then times, best of RUNS:
#   postern-inventory --format json (all cores)
#   wc -l over the same files
#   bench/unique_clients.py, Python's csv module doing the migration-guide
#   job (unique client addresses), once: it is slow.
# and prints the two ratios the targets are about: Python / inventory
# (target >= 20) and inventory / wc -l (target <= 3).  It checks that the
# inventory and the Python script found the same number of clients.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
size_mb=${2:-2048}
runs=${RUNS:-3}
python=${PYTHON:-python3}

free_mb() { df -Pm "$1" | awk 'NR == 2 { print $4 }'; }

if [ $# -ge 1 ]; then
	dir=$1
elif [ "$(free_mb /dev/shm 2>/dev/null || echo 0)" -gt $((size_mb * 3 / 2)) ]; then
	dir=/dev/shm/postern-inventory-bench
else
	dir=/tmp/postern-inventory-bench
fi
inv=${INVENTORY:-}
if [ -z "$inv" ]; then
	for c in ./postern-inventory "$here/../build/postern-inventory"; do
		[ -x "$c" ] && { inv=$c; break; }
	done
fi
[ -n "$inv" ] && [ -x "$inv" ] || { echo "bench: set INVENTORY=path/to/postern-inventory" >&2; exit 1; }

mkdir -p "$dir"
parent_free=$(free_mb "$dir")
echo "bench: log set in $dir ($size_mb MB wanted, $parent_free MB free there)"
stamp="$dir/.genlogs-$size_mb"
if [ ! -e "$stamp" ]; then
	if [ "$parent_free" -lt $((size_mb + size_mb / 10 + 64)) ]; then
		echo "bench: not enough free space in $dir; give a DIR or a smaller SIZE_MB" >&2
		exit 1
	fi
	rm -rf "${dir:?}"/Pop3 "${dir:?}"/Imap4 "$dir"/.genlogs-*
	"$python" "$here/genlogs.py" "$dir" "$size_mb"
	touch "$stamp"
fi

mapfile -t files < <(find "$dir" -type f -name '*.LOG' | sort)
bytes=$(cat "${files[@]}" | wc -c)
echo "bench: ${#files[@]} files, $((bytes / 1048576)) MB; $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)"
cat "${files[@]}" > /dev/null # into the page cache

now() { date +%s.%N; }
# best_of CMD...: the shortest wall time of $runs runs, in seconds.
best_of() {
	local best= t0 t1 t i
	for ((i = 0; i < runs; i++)); do
		t0=$(now)
		"$@" > /dev/null
		t1=$(now)
		t=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
		if [ -z "$best" ] || awk -v t="$t" -v b="$best" 'BEGIN { exit !(t < b) }'; then
			best=$t
		fi
	done
	echo "$best"
}

t_wc=$(best_of wc -l "${files[@]}")
t_inv=$(best_of "$inv" -q --format json --output /dev/null "$dir")
t0=$(now)
py_clients=$("$python" "$here/unique_clients.py" "$dir")
t_py=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }')
inv_clients=$("$inv" -q --format json "$dir" |
	"$python" -c 'import json,sys; print(json.load(sys.stdin)["summary"]["clients"])')

mbs() { awk -v n="$bytes" -v t="$1" 'BEGIN { printf "%.0f", n / 1048576 / t }'; }
printf 'wc -l              %7.3f s  %6s MB/s\n' "$t_wc" "$(mbs "$t_wc")"
printf 'postern-inventory  %7.3f s  %6s MB/s  (%s clients)\n' "$t_inv" "$(mbs "$t_inv")" "$inv_clients"
printf 'unique_clients.py  %7.3f s  %6s MB/s  (%s clients)\n' "$t_py" "$(mbs "$t_py")" "$py_clients"
r_py=$(awk -v a="$t_py" -v b="$t_inv" 'BEGIN { printf "%.1f", a / b }')
r_wc=$(awk -v a="$t_inv" -v b="$t_wc" 'BEGIN { printf "%.2f", a / b }')
echo "ratio python/inventory: ${r_py}x faster (target >= 20)"
echo "ratio inventory/wc -l:  ${r_wc}x slower (target <= 3)"
if [ "$inv_clients" != "$py_clients" ]; then
	echo "bench: the client counts differ" >&2
	exit 1
fi
