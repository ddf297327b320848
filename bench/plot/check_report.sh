#!/usr/bin/env bash
# Check a report.html in headless Chromium (Debian: apt-get install chromium), offline:
# the page must load with no console output, and every chart container must be drawn.
# Also saves a screenshot next to the page (report.png) to look at.
#
#   bash bench/plot/check_report.sh results/exp1/report.html
#
# The test crates/llmsweep/tests/report_chromium.rs does the same on the fixtures when
# chromium is installed.
set -euo pipefail
page=$(realpath "${1:?usage: check_report.sh REPORT.html}")
browser=${CHROMIUM:-chromium}
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
flags=(--headless --no-sandbox --disable-gpu --disable-background-networking
       --disable-component-update --no-first-run --user-data-dir="$profile"
       --window-size=1400,2400 --virtual-time-budget=10000)

dom=$(timeout 120 "$browser" "${flags[@]}" --enable-logging=stderr --v=0 --dump-dom \
      "file://$page" 2>"$profile/stderr")
console=$(grep ':CONSOLE' "$profile/stderr" || true)
charts=$(grep -o 'class="chart"' <<<"$dom" | wc -l)
drawn=$(grep -o 'data-drawn="1"' <<<"$dom" | wc -l)
canvases=$(grep -o '<canvas' <<<"$dom" | wc -l)
timeout 120 "$browser" "${flags[@]}" --screenshot="${page%.html}.png" "file://$page" \
  >/dev/null 2>&1 || true

echo "charts: $charts, drawn: $drawn, canvases: $canvases"
status=0
if [[ -n "$console" ]]; then
  echo "FAIL: console output:"; echo "$console"; status=1
fi
if [[ "$drawn" != "$charts" || "$canvases" -lt "$charts" ]]; then
  echo "FAIL: not every chart was drawn"; status=1
fi
[[ $status == 0 ]] && echo "OK: no console output, every chart drawn; screenshot ${page%.html}.png"
exit $status
