#!/bin/sh
# Regenerates collectors-a.prom: what the real node_exporter 1.5.0 serves for tests/fixtures with
# the cpu, meminfo, stat, loadavg, vmstat, pressure, filefd, entropy, conntrack, time, timex and
# uname collectors (stat.softirq on). Exporter self-metrics and per-collector scrape meta-series
# are dropped. Usage: sh tests/golden/regen-collectors-a.sh [port]
set -eu
cd "$(dirname "$0")/../.."
port=${1:-19101}
prometheus-node-exporter --web.listen-address=127.0.0.1:$port \
  --path.procfs=tests/fixtures/proc --path.sysfs=tests/fixtures/sys --path.rootfs=tests/fixtures/rootfs \
  --collector.disable-defaults --collector.cpu --collector.meminfo --collector.stat \
  --collector.stat.softirq --collector.loadavg --collector.vmstat --collector.pressure \
  --collector.filefd --collector.entropy --collector.conntrack --collector.time \
  --collector.timex --collector.uname >/dev/null 2>&1 &
pid=$!
trap 'kill $pid' EXIT
for _ in 1 2 3 4 5 6 7 8 9 10; do
  curl -sf "127.0.0.1:$port/metrics" >/dev/null 2>&1 && break
  sleep 0.3
done
curl -sf "127.0.0.1:$port/metrics" \
  | grep -Ev '^(# (HELP|TYPE) )?(go_|process_|promhttp_|node_exporter_build_info|node_scrape_collector_)' \
  > tests/golden/collectors-a.prom
