#!/usr/bin/env bash
# Delivery benchmark (issue 5): how soon an alert that starts firing reaches a real Alertmanager
# 0.25 and a webhook receiver, and how fast 10,000 simultaneously firing alerts get there; the
# same through Prometheus 2.42 as the anchor, in the same run. One rule group (interval 1s, no
# `for`) over textfile metrics that this script writes:
#
# - latency: ALERTS instances of `bench_delivery_flag{n="..."}` switched on and off together for
#   ROUNDS rounds (ON s on, OFF s off). For every firing episode: arrival at Alertmanager (its own
#   `updatedAt` in `GET /api/v2/alerts`, polled every 100 ms) minus the alert's `startsAt` (the
#   evaluation timestamp in which it fired); arrival at a webhook receiver (receive time at the
#   sink) minus `startsAt`; and, for both engines, the path through Alertmanager's own webhook.
# - throughput: BURST series of `bench_delivery_burst` switched on at once, BURSTS times (fresh
#   processes each time): evaluation to the last alert received by Alertmanager, and to the last
#   alert at the webhook sink, in one grouped notification (group_by [alertname]) and, for
#   telltale, as BURST notifications (group_by ['...']).
#
#   bench/delivery.sh                                   # 50 alerts x 8 rounds, 3 x 10,000 alerts
#   ALERTS=50 ROUNDS=8 ON=4 OFF=4 BURST=10000 BURSTS=3 ANCHOR=1 bench/delivery.sh
#
# The engines run one after the other, never together (telltale alone; then Prometheus scraping
# node_exporter), each phase on a fresh Alertmanager; ANCHOR=0 leaves Prometheus out.
#
# Receivers group with group_wait 0s and group_interval 1s (telltale's webhooks and
# Alertmanager's route alike). Loopback ports: telltale 19370, Alertmanager 19371, the sink
# 19373, Prometheus 19374, node_exporter 19375 (the exporter Prometheus scrapes for the same
# textfile metrics). The sink is a python3 asyncio HTTP server, not measured. Needs a build:
# PROFILE=release (default) or PROFILE=bench-fast (no LTO; quicker to build), or TELLTALE=path.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
ALERTS=${ALERTS:-50}
ROUNDS=${ROUNDS:-8}
ON=${ON:-4}
OFF=${OFF:-4}
BURST=${BURST:-10000}
BURSTS=${BURSTS:-3}
ANCHOR=${ANCHOR:-1}
PROFILE=${PROFILE:-release}
TT_PORT=19370 AM_PORT=19371 SINK_PORT=19373 PROM_PORT=19374 NE_PORT=19375
export TT_PORT AM_PORT SINK_PORT PROM_PORT
AM=/usr/bin/prometheus-alertmanager PROM=/usr/bin/prometheus NE=/usr/bin/prometheus-node-exporter
[ -x "$AM" ] || scripts/install-peers.sh

if [ -z "${TELLTALE:-}" ]; then
  cargo build --profile "$PROFILE" --locked -q
  TELLTALE=${CARGO_TARGET_DIR:-target}/$PROFILE/telltale
fi
bench_scratch
cp bench/delivery.py "$tmp/bench.py"
mkdir -p "$tmp/text" "$tmp/results"

# ---- configuration shared by both engines
cat > "$tmp/rules.yml" <<'YML'
groups:
  - name: delivery
    interval: 1s
    rules:
      - alert: DeliveryBench
        expr: bench_delivery_flag > 0
        labels: {severity: warning}
        annotations: {summary: 'bench alert {{ $labels.n }}'}
      - alert: DeliveryBurst
        expr: bench_delivery_burst > 0
        labels: {severity: warning}
        annotations: {summary: 'burst alert {{ $labels.n }}'}
YML
cat > "$tmp/alertmanager.yml" <<YML
route:
  receiver: sink
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
  routes:
    - matchers: ['alertname="DeliveryBench"']
      group_by: ['...']
receivers:
  - name: sink
    webhook_configs:
      - url: http://127.0.0.1:$SINK_PORT/am
        send_resolved: true
YML
tt_config() { # webhook group_by -> telltale.yml
  cat > "$tmp/telltale.yml" <<YML
global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: [rules.yml]
alerting:
  webhooks:
    - {name: hook, url: 'http://127.0.0.1:$SINK_PORT/tt', group_by: $1, group_wait: 0s, group_interval: 1s}
YML
}
cat > "$tmp/prometheus.yml" <<YML
global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: [rules.yml]
scrape_configs:
  - job_name: node
    static_configs: [{targets: ['127.0.0.1:$NE_PORT']}]
alerting:
  alertmanagers:
    - static_configs: [{targets: ['127.0.0.1:$AM_PORT']}]
YML

start() { # logname command... (records the pid)
  local log=$1; shift
  "$@" >"$tmp/$log.log" 2>&1 &
  pids+=($!)
}
stop_all() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
  start sink python3 "$tmp/bench.py" sink "$SINK_PORT"
}
ready() { # url: waits up to 30 s for 200
  for _ in $(seq 300); do curl -sf -o /dev/null "$1" && return 0; sleep 0.1; done
  echo "not ready: $1" >&2; tail -n 30 "$tmp"/*.log >&2; exit 1
}
bench() { python3 "$tmp/bench.py" "$@"; }

# An engine with a fresh Alertmanager; with `burst` the burst series exist (at 0) from the start.
up() { # engine(tt|prom) [webhook group_by]
  rm -rf "$tmp/am-data" "$tmp/prom-data"
  start am "$AM" --config.file="$tmp/alertmanager.yml" --storage.path="$tmp/am-data" \
    --web.listen-address=127.0.0.1:$AM_PORT --cluster.listen-address= --log.level=warn
  ready "http://127.0.0.1:$AM_PORT/-/ready"
  if [ "$1" = tt ]; then
    tt_config "${2:-"['...']"}"
    start tt "$TELLTALE" --web.listen-address=127.0.0.1:$TT_PORT --config="$tmp/telltale.yml" \
      --alertmanager.url=http://127.0.0.1:$AM_PORT --collector.disable-defaults \
      --collector.textfile --collector.textfile.directory="$tmp/text"
    ready "http://127.0.0.1:$TT_PORT/-/ready"
  else
    start ne "$NE" --web.listen-address=127.0.0.1:$NE_PORT --collector.disable-defaults \
      --collector.textfile --collector.textfile.directory="$tmp/text" --web.disable-exporter-metrics
    start prom "$PROM" --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/prom-data" \
      --web.listen-address=127.0.0.1:$PROM_PORT --log.level=warn
    ready "http://127.0.0.1:$PROM_PORT/-/ready"
  fi
  sleep 4   # scraped and evaluated at least twice with everything off
  curl -s -o /dev/null "http://127.0.0.1:$SINK_PORT/take"
}

engines=(tt)
[ "$ANCHOR" = 1 ] && engines+=(prom)
stop_all
ready "http://127.0.0.1:$SINK_PORT/take"
am_check=$(command -v amtool >/dev/null && amtool check-config "$tmp/alertmanager.yml" >/dev/null 2>&1 && echo ok || echo "not checked")
echo "alertmanager.yml: $am_check; telltale: $TELLTALE"

for e in "${engines[@]}"; do
  bench flags "$tmp/text" "$ALERTS" 0; bench burst-file "$tmp/text" 0 0
  up "$e"
  echo "latency: $e, $ALERTS alerts x $ROUNDS rounds"
  bench latency "$tmp/text" "$ALERTS" "$ROUNDS" "$ON" "$OFF" > "$tmp/results/latency-$e.json"
  stop_all
  for b in $(seq "$BURSTS"); do
    for g in alertname each; do
      [ "$g" = each ] && [ "$e" = prom ] && continue
      bench flags "$tmp/text" 0 0; bench burst-file "$tmp/text" "$BURST" 0
      if [ "$g" = each ]; then up "$e" "['...']"; else up "$e" "[alertname]"; fi
      echo "throughput: $e, $BURST alerts (webhook grouped by $g), run $b"
      mode=$g; [ "$e" = prom ] && mode=am-only
      bench burst "$tmp/text" "$BURST" "$mode" > "$tmp/results/burst-$e-$mode-$b.json"
      stop_all
    done
  done
done
bench report "$tmp/results"
