#!/bin/sh
# Regenerates the goldens of src/collector/parity_tests.rs: what the real node_exporter 1.5.0
# serves for tests/fixtures with
#   collectors-a.prom: cpu, meminfo, stat (softirq on), loadavg, vmstat, pressure, filefd, entropy,
#                      conntrack, time, timex, uname (scrape meta-series dropped);
#   collectors-b.prom: arp, diskstats, filesystem, netclass, netdev (procfs mode), netstat,
#                      sockstat, softnet, textfile, udp_queues (duration meta-series dropped).
# Exporter self-metrics are dropped. Usage: sh tests/golden/regen-collectors.sh [port]
set -eu
cd "$(dirname "$0")/../.."
port=${1:-19101}
f=tests/fixtures

scrape() { # out-file drop-regex collector-flags...
  out=$1 drop=$2
  shift 2
  prometheus-node-exporter --web.listen-address=127.0.0.1:$port \
    --path.procfs=$f/proc --path.sysfs=$f/sys --path.rootfs=$f/rootfs \
    --path.udev.data=$f/udev/data --collector.disable-defaults "$@" >/dev/null 2>&1 &
  pid=$!
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    curl -sf "127.0.0.1:$port/metrics" >/dev/null 2>&1 && break
    sleep 0.3
  done
  curl -sf "127.0.0.1:$port/metrics" | grep -Ev "$drop" > "$out"
  kill $pid
  wait $pid 2>/dev/null || true
}

scrape tests/golden/collectors-a.prom \
  '^(# (HELP|TYPE) )?(go_|process_|promhttp_|node_exporter_build_info|node_scrape_collector_)' \
  --collector.cpu --collector.meminfo --collector.stat --collector.stat.softirq \
  --collector.loadavg --collector.vmstat --collector.pressure --collector.filefd \
  --collector.entropy --collector.conntrack --collector.time --collector.timex --collector.uname

scrape tests/golden/collectors-b.prom \
  '^(# (HELP|TYPE) )?(go_|process_|promhttp_|node_scrape_collector_duration_seconds|node_exporter_build_info)' \
  --collector.arp --collector.diskstats --collector.filesystem --collector.netclass \
  --collector.netdev --no-collector.netdev.netlink --collector.netstat --collector.sockstat \
  --collector.softnet --collector.udp_queues \
  --collector.textfile --collector.textfile.directory=$f/textfile
