#!/usr/bin/env bash
# Rules benchmark (issue 4): one generated `promtool test rules` file, timed under
# `promtool test rules` and `telltale test rules` on this machine, runs alternating.
#
#   bench/rules.sh                              # 1,000 series x 1 day at 1 m, 500 rules, 3 runs
#   SERIES=1000 RULES=500 HOURS=24 RUNS=3 bench/rules.sh
#   KEEP=/tmp/rules-bench bench/rules.sh        # keep the generated files there
#
# bench/rules_gen.py writes the rule file (recording rules and alerts over rate, increase,
# irate, sum/avg/max/count/stddev/topk by, *_over_time, deriv, predict_linear, resets,
# group_left) and the test file. Its expectations come from promtool: a first promtool run on
# the file without expectations reports what it got, and the file is written again with those.
# Every timed run must then pass (exit 0) under both tools, or the script stops. Reported:
# medians of wall time, CPU time (user + sys) and peak RSS, and promtool / telltale for each.
# The machine is shared: CPU time is the steadier figure.
#
# Needs python3, GNU time (/usr/bin/time), promtool (Debian's prometheus package) and a release
# build (cargo).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
SERIES=${SERIES:-1000}
RULES=${RULES:-500}
HOURS=${HOURS:-24}
RUNS=${RUNS:-3}
PROMTOOL=${PROMTOOL:-/usr/bin/promtool}

[ -x "$PROMTOOL" ] || scripts/install-peers.sh
bench_build
if [ -n "${KEEP:-}" ]; then
  mkdir -p "$KEEP"
  dir=$KEEP
  tmp=$(mktemp -d)
else
  tmp=$(mktemp -d)
  dir=$tmp
fi
trap 'rm -rf "$tmp"' EXIT

gen=(python3 bench/rules_gen.py "$dir" --series "$SERIES" --rules "$RULES" --hours "$HOURS")
"${gen[@]}" >/dev/null
for tool in "$PROMTOOL" "$TELLTALE"; do
  "$tool" check rules "$dir/bench.rules.yml" >/dev/null 2>"$tmp/check" \
    || { echo "$tool check rules failed:"; cat "$tmp/check"; exit 1; }
done

echo "expectations: promtool on the file without them (not timed) ..."
if "$PROMTOOL" test rules "$dir/bench_test.yml" >"$tmp/report" 2>&1; then
  echo "promtool passed a file without expectations: nothing fires, the benchmark is wrong" >&2
  exit 1
fi
"${gen[@]}" --fill "$tmp/report"
ls -l "$dir/bench.rules.yml" "$dir/bench_test.yml" | awk '{print "  " $5 " bytes  " $9}'

# One timed run: "name wall_s cpu_s maxrss_kib" appended to $tmp/results.
run() {
  local name=$1 tool=$2
  if ! /usr/bin/time -f "%e %U %S %M" -o "$tmp/time" "$tool" test rules "$dir/bench_test.yml" \
      >"$tmp/out" 2>&1; then
    echo "$name test rules failed:"; head -c 4000 "$tmp/out"; exit 1
  fi
  grep -q SUCCESS "$tmp/out" || { echo "$name did not report SUCCESS:"; cat "$tmp/out"; exit 1; }
  awk -v n="$name" '{printf "%s %s %.2f %s\n", n, $1, $2 + $3, $4}' "$tmp/time" | tee -a "$tmp/results"
}

: > "$tmp/results"
echo "timed runs (tool, wall s, CPU s, max RSS KiB):"
for _ in $(seq "$RUNS"); do
  run promtool "$PROMTOOL"
  run telltale "$TELLTALE"
done

python3 - "$tmp/results" "$RUNS" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
med = {who: [statistics.median(float(r[i]) for r in rows if r[0] == who) for i in (1, 2, 3)]
       for who in ("promtool", "telltale")}
p, t = med["promtool"], med["telltale"]
print(f"\nmedians of {sys.argv[2]} runs  {'promtool':>12}{'telltale':>12}{'promtool/telltale':>20}")
print(f"{'wall s':24}{p[0]:12.2f}{t[0]:12.2f}{p[0] / t[0]:20.2f}")
print(f"{'CPU s (user+sys)':24}{p[1]:12.2f}{t[1]:12.2f}{p[1] / t[1]:20.2f}")
print(f"{'max RSS MiB':24}{p[2] / 1024:12.1f}{t[2] / 1024:12.1f}{p[2] / t[2]:20.2f}")
print("target: telltale >= 5x faster than promtool on the same file")
PY
echo "  load average: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores)"
