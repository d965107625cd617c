#!/bin/sh
# Opens postern-inventory's HTML report in headless Chromium: the page must
# render its summary and its SVG chart, its inline script must run to the
# end (it marks the table data-sortable="ready"), and at 1280 pixels wide
# the page must not scroll sideways.  The page and a
# screenshot are left in inventory-html/ under the build directory.
# Skipped (77) when Chromium is not installed.
top=${POSTERN_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
prog=${INVENTORY:-./postern-inventory}
browser=
for b in chromium chromium-browser google-chrome; do
	command -v "$b" >/dev/null 2>&1 && { browser=$b; break; }
done
[ -n "$browser" ] || { echo "SKIP: no chromium"; exit 77; }
[ -x "$prog" ] || { echo "FAIL: $prog not built"; exit 1; }
samples=${POSTERN_TESTDATA:-$top/tests/data}/exchange-logs
out=inventory-html
rm -rf "$out"
mkdir -p "$out"
"$prog" -q --format html --output "$out/inventory.html" "$samples"/*.log ||
	{ echo "FAIL: postern-inventory"; exit 1; }
page="file://$(cd "$out" && pwd)/inventory.html"
# Running as root (containers, CI) needs --no-sandbox.
set -- --headless --no-sandbox --disable-gpu --no-first-run \
	--user-data-dir="$(pwd)/$out/profile" --window-size=1280,1600
timeout 120 "$browser" "$@" --dump-dom "$page" > "$out/dom.html" 2> "$out/chromium.log"
timeout 120 "$browser" "$@" --screenshot="$(pwd)/$out/inventory.png" "$page" \
	>> "$out/chromium.log" 2>&1
# The same page with a probe that records, once laid out, how wide the
# document is against the window: wide tables must scroll inside their
# own box, never widen the page.
sed 's|</body>|<script>document.body.setAttribute("data-probe", document.documentElement.scrollWidth + "x" + window.innerWidth);</script></body>|' \
	"$out/inventory.html" > "$out/probe.html"
timeout 120 "$browser" "$@" --dump-dom "file://$(cd "$out" && pwd)/probe.html" \
	> "$out/probe-dom.html" 2>> "$out/chromium.log"
rm -rf "$out/profile"
fail=0
probe=$(sed -n 's/.*data-probe="\([0-9]*x[0-9]*\)".*/\1/p' "$out/probe-dom.html")
doc_w=${probe%x*} win_w=${probe#*x}
if [ -z "$probe" ]; then
	echo "FAIL: the width probe did not run"; fail=1
elif [ "$win_w" -ne 1280 ]; then
	echo "FAIL: the window is $win_w pixels wide, not 1280"; fail=1
elif [ "$doc_w" -gt "$win_w" ]; then
	echo "FAIL: the page is $doc_w pixels wide in a $win_w pixel window"
	fail=1
fi
check() {
	grep -q "$1" "$out/dom.html" || { echo "FAIL: rendered page lacks $1"; fail=1; }
}
check 'id="summary"'
check '<svg id="chart"'
check '<rect class="imap4"'
check 'data-sortable="ready"'
[ -s "$out/inventory.png" ] || { echo "FAIL: no screenshot"; fail=1; }
if grep -q "Uncaught" "$out/chromium.log"; then
	echo "FAIL: script error"; grep "Uncaught" "$out/chromium.log"; fail=1
fi
[ $fail -eq 0 ] && echo "PASS: rendered in $browser, screenshot $out/inventory.png"
exit $fail
