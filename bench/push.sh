#!/usr/bin/env bash
# Push ingest and remote_write benchmark (issue 7).
#
# 1. Push: telltale and a real Pushgateway (/usr/bin/prometheus-pushgateway, 1.5), one after the
#    other on this machine, each fresh, host collectors off. Each gets the same payloads from
#    bench/pushload.py: NGROUPS groups of SERIES samples (one text-format batch of 1,000 samples
#    per PUT by default) over CONNS keep-alive connections for DURATION seconds. Reported: samples/s
#    accepted (only 200 answers count), request latency p50/p99, errors, and memory per series
#    (RSS after one push of every group minus RSS at start, over NGROUPS x SERIES series), then
#    the throughput ratio telltale / Pushgateway.
# 2. remote_write: telltale pushed to as above for DURATION seconds, writing everything to a local
#    Prometheus 2.42 receiver (--web.enable-remote-write-receiver); reported: samples/s delivered
#    (from telltale_remote_write_samples_sent_total, from the first push until the queue drained),
#    and failed/dropped samples.
#
#   bench/push.sh                                     # 50 groups x 1,000 series, 4 conns, 20 s
#   NGROUPS=100 SERIES=1000 CONNS=4 DURATION=30 bench/push.sh
#
# Needs python3, curl, the peers (scripts/install-peers.sh) and a release build (cargo).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
NGROUPS=${NGROUPS:-50}
SERIES=${SERIES:-1000}
CONNS=${CONNS:-4}
DURATION=${DURATION:-20}
TT_PORT=${TT_PORT:-19781}
PGW_PORT=${PGW_PORT:-19782}
PROM_PORT=${PROM_PORT:-19783}

bench_build
bench_scratch

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
ready() {
  for _ in $(seq 200); do curl -sf "http://127.0.0.1:$1/-/ready" >/dev/null && return 0; sleep 0.05; done
  echo "port $1 never became ready" >&2
  exit 1
}
metric() { # PORT SERIES -> value
  curl -s "http://127.0.0.1:$1/metrics" | awk -v s="$2" '$1 == s {print $2}'
}
load="python3 bench/pushload.py"
total=$((NGROUPS * SERIES))

cat > "$tmp/telltale.yml" <<EOF
global: {scrape_interval: 15s}
system: {enabled: false}
storage: {max_series: 10000000}
push: {max_series_per_group: 1000000, max_series_per_job: 10000000, max_series: 10000000, max_body_size: 64MiB}
EOF

# run_push NAME PORT CMD... : starts the server, fills, loads; prints "NAME rate mem p50 p99 errors"
run_push() {
  local name=$1 port=$2
  shift 2
  "$@" >"$tmp/$name.log" 2>&1 &
  local pid=$!
  pids+=("$pid")
  ready "$port"
  sleep 1
  local rss0 rss1 rss2
  rss0=$(rss_kb "$pid")
  $load fill "127.0.0.1:$port" "$NGROUPS" "$SERIES"
  sleep 2
  rss1=$(rss_kb "$pid")
  local out
  out=$($load load "127.0.0.1:$port" "$NGROUPS" "$SERIES" "$CONNS" "$DURATION")
  rss2=$(rss_kb "$pid")
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  python3 - "$name" "$out" "$rss0" "$rss1" "$rss2" "$total" <<'PY'
import json, sys
name, out, rss0, rss1, rss2, total = sys.argv[1], json.loads(sys.argv[2]), *map(int, sys.argv[3:])
per = (rss1 - rss0) * 1024 / total
print(f"{name} {out['samples_per_s']} {per:.0f} {out['p50_ms']} {out['p99_ms']} {out['errors']} {rss0} {rss1} {rss2}")
PY
}

echo "push: $NGROUPS groups x $SERIES series, batches of $SERIES samples, $CONNS keep-alive connections, ${DURATION}s each"
tt=$(run_push telltale "$TT_PORT" "$TELLTALE" --web.listen-address="127.0.0.1:$TT_PORT" \
  --config="$tmp/telltale.yml" --log.level=warn)
pgw=$(run_push pushgateway "$PGW_PORT" /usr/bin/prometheus-pushgateway \
  --web.listen-address="127.0.0.1:$PGW_PORT" --log.level=warn)
python3 - "$tt" "$pgw" <<'PY'
import sys
rows = [r.split() for r in sys.argv[1:]]
print(f"{'server':<12} {'samples/s':>11} {'B/series':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'RSS kB start/filled/after':>27}")
for r in rows:
    print(f"{r[0]:<12} {int(r[1]):>11,} {r[2]:>9} {r[3]:>8} {r[4]:>8} {r[5]:>7} {r[6] + '/' + r[7] + '/' + r[8]:>27}")
t, p = int(rows[0][1]), int(rows[1][1])
print(f"ratio telltale/pushgateway: {t / p:.1f}x" if p else "pushgateway accepted nothing")
PY

# ---- remote_write to a local Prometheus receiver
echo
echo "remote_write: the same push load for ${DURATION}s, everything written to Prometheus 2.42"
mkdir -p "$tmp/prom"
echo "global: {}" > "$tmp/prom/prometheus.yml"
/usr/bin/prometheus --config.file="$tmp/prom/prometheus.yml" --storage.tsdb.path="$tmp/prom/data" \
  --web.listen-address="127.0.0.1:$PROM_PORT" --web.enable-remote-write-receiver --log.level=warn \
  >"$tmp/prom.log" 2>&1 &
pids+=("$!")
ready "$PROM_PORT"
cat >> "$tmp/telltale.yml" <<EOF
remote_write:
  - url: http://127.0.0.1:$PROM_PORT/api/v1/write
    name: prom
    queue_capacity: 5000000
EOF
"$TELLTALE" --web.listen-address="127.0.0.1:$TT_PORT" --config="$tmp/telltale.yml" --log.level=warn \
  >"$tmp/telltale-rw.log" 2>&1 &
ttpid=$!
pids+=("$ttpid")
ready "$TT_PORT"
start=$(date +%s.%N)
$load fill "127.0.0.1:$TT_PORT" "$NGROUPS" "$SERIES"
$load load "127.0.0.1:$TT_PORT" "$NGROUPS" "$SERIES" "$CONNS" "$DURATION" > "$tmp/rw-load.json"
load_end=$(date +%s.%N)
sent_at_load_end=$(metric "$TT_PORT" 'telltale_remote_write_samples_sent_total{remote="prom"}')
for _ in $(seq 1200); do
  [ "$(metric "$TT_PORT" 'telltale_remote_write_queue_length{remote="prom"}')" = 0 ] && break
  sleep 0.1
done
end=$(date +%s.%N)
sent=$(metric "$TT_PORT" 'telltale_remote_write_samples_sent_total{remote="prom"}')
failed=$(metric "$TT_PORT" 'telltale_remote_write_samples_failed_total{remote="prom"}')
dropped=$(metric "$TT_PORT" 'telltale_remote_write_samples_dropped_total{remote="prom"}')
left=$(metric "$TT_PORT" 'telltale_remote_write_queue_length{remote="prom"}')
appended=$(curl -s "http://127.0.0.1:$PROM_PORT/metrics" | awk '$1 == "prometheus_tsdb_head_samples_appended_total{type=\"float\"}" {print $2}')
python3 - "$start" "$end" "$sent" "$failed" "$dropped" "$left" "$appended" "$load_end" "$sent_at_load_end" "$(cat "$tmp/rw-load.json")" <<'PY'
import json, sys
start, end, sent, failed, dropped, left, appended, load_end, sent_load = map(float, sys.argv[1:10])
pushed = json.loads(sys.argv[10])
secs, drain = end - start, end - load_end
print(f"pushed {pushed['samples_per_s']:,} samples/s during the load; sent {int(sent):,} samples in {secs:.1f}s "
      f"= {sent / secs:,.0f} samples/s delivered overall")
if drain > 0.5:
    print(f"after the load: {int(sent - sent_load):,} samples in {drain:.1f}s = {(sent - sent_load) / drain:,.0f} samples/s (sending alone)")
print(f"failed {int(failed)}, dropped {int(dropped)}, still queued {int(left)}; Prometheus appended {int(appended):,}")
PY
