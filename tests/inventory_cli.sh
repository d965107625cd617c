#!/bin/sh
# End-to-end test of postern-inventory (see tests/inventory_check.py and
# tests/inventory_backend_check.py): the built program on the real Exchange
# samples and on generated log sets.
# Run by "make check" from the build directory.
top=${POSTERN_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
prog=${INVENTORY:-./postern-inventory}
command -v python3 >/dev/null 2>&1 || { echo "SKIP: no python3"; exit 77; }
[ -x "$prog" ] || { echo "FAIL: $prog not built"; exit 1; }
samples=
for d in "${POSTERN_TESTDATA:-}" "$top/tests/data"; do
	if [ -n "$d" ] && [ -d "$d/exchange-logs" ]; then
		samples=$d/exchange-logs
		break
	fi
done
[ -n "$samples" ] || { echo "FAIL: no exchange-logs samples; set POSTERN_TESTDATA"; exit 1; }
python3 "$top/tests/inventory_check.py" "$prog" "$samples" || exit 1
python3 "$top/tests/inventory_mech_check.py" "$prog" "$samples" || exit 1
exec python3 "$top/tests/inventory_backend_check.py" "$prog" "$samples"
