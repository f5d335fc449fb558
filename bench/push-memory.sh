#!/usr/bin/env bash
# Push memory benchmark (issue 18, item 5): RSS of telltale before, peak (VmHWM) and after the
# worst-case pushes under the default `push: {}`, each case on a fresh process (VmHWM only rises):
#
#   one-put      one 15 MB PUT of 839,505 samples (under max_body_size, over
#                max_samples_per_request: refused 413)
#   six-puts     six of those PUTs at once, to six groups
#   max-parsed   one PUT of max_samples_per_request (100,000) samples: parsed whole, then refused
#                at max_series_per_group (422), the most one request makes telltale parse
#   max-accepted one PUT of max_series_per_group (10,000) samples, accepted (the most one
#                request can store)
#   json-big     one 15 MB POST /api/v1/metrics of 360,000 items (refused 413)
#
#   bench/push-memory.sh                      # bench-fast build of this checkout
#   TELLTALE=path/to/telltale bench/push-memory.sh
#
# Needs python3 and curl. Prints one line per case: status codes, RSS before/peak/after in MiB.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
PORT=${PORT:-19791}
if [ -z "${TELLTALE:-}" ]; then
  cargo build --profile bench-fast --locked -q
  TELLTALE=${CARGO_TARGET_DIR:-target}/bench-fast/telltale
fi
bench_scratch

python3 - "$tmp" <<'PY'
import sys
d = sys.argv[1]
with open(f"{d}/big.txt", "w") as f:
    for i in range(839_505):
        f.write(f'm{i}{{l="a"}} 1\n')
with open(f"{d}/max.txt", "w") as f:
    for i in range(100_000):
        f.write(f'm{i}{{l="a"}} 1\n')
with open(f"{d}/group.txt", "w") as f:
    for i in range(10_000):
        f.write(f'm{i}{{l="a"}} 1\n')
with open(f"{d}/big.json", "w") as f:
    f.write('{"metrics": [')
    f.write(",".join(f'{{"metric_id": "metric_{i:07}", "value": 1}}' for i in range(360_000)))
    f.write("]}")
PY
printf 'global: {scrape_interval: 15s}\nsystem: {enabled: false}\npush: {}\n' >"$tmp/telltale.yml"

kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }

run() { # NAME CMD... (the command pushes to $PORT)
  local name=$1; shift
  "$TELLTALE" --config="$tmp/telltale.yml" --web.listen-address="127.0.0.1:$PORT" \
    --log.level=warn >"$tmp/$name.log" 2>&1 &
  local pid=$!
  pids+=("$pid")
  for _ in $(seq 200); do curl -sf "http://127.0.0.1:$PORT/-/ready" >/dev/null && break; sleep 0.05; done
  sleep 1
  local before; before=$(kb "$pid" VmRSS)
  local codes; codes=$("$@" | sort | uniq -c | awk '{printf "%s×%s ", $1, $2}')
  sleep 2
  local peak after; peak=$(kb "$pid" VmHWM); after=$(kb "$pid" VmRSS)
  printf '%-13s %-14s before %6s MiB  peak %6s MiB  after %6s MiB\n' "$name" "$codes" \
    "$(mib "$before")" "$(mib "$peak")" "$(mib "$after")"
  kill "$pid"; wait "$pid" 2>/dev/null || true
}

put() { # FILE GROUP
  curl -s -o /dev/null -w '%{http_code}\n' -X PUT --data-binary "@$1" \
    "http://127.0.0.1:$PORT/metrics/job/$2"
}
six() {
  for g in 1 2 3 4 5 6; do put "$tmp/big.txt" "g$g" & done
  wait
}
json() {
  curl -s -o /dev/null -w '%{http_code}\n' -H 'Content-Type: application/json' \
    --data-binary "@$tmp/big.json" "http://127.0.0.1:$PORT/api/v1/metrics"
}

echo "telltale: $TELLTALE; bodies: $(du -m "$tmp/big.txt" | cut -f1) MB text, $(du -m "$tmp/big.json" | cut -f1) MB JSON"
run one-put put "$tmp/big.txt" one
run six-puts six
run max-parsed put "$tmp/max.txt" max
run max-accepted put "$tmp/group.txt" group
run json-big json
