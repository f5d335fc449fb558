#!/usr/bin/env bash
# Scrape benchmark: telltale against node_exporter 1.5 on this host, same collectors, one run.
# Reports medians over ROUNDS of: CPU seconds per scrape (process utime+stime around a fixed
# number of sequential keep-alive scrapes by ab), scrapes per second at saturation (wrk, 4 connections), and RSS
# after the load; then the ratios telltale / node_exporter. The floor is the kernel's share: the
# system CPU of a minimal reader that preads the procfs/sysfs files telltale holds open (its
# /proc/PID/fd after warm-up) as often, in the same run; telltale / floor is reported too.
#
#   bench/scrape.sh [ROUNDS] [SCRAPES]     (defaults 5 and 2000)
#   COLLECTORS="cpu meminfo" bench/scrape.sh   (default: node_exporter 1.5's default collectors)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-5}
SCRAPES=${2:-2000}
COLLECTORS=${COLLECTORS:-"arp bcache bonding btrfs conntrack cpu cpufreq diskstats dmi edac entropy fibrechannel filefd filesystem hwmon infiniband ipvs loadavg mdadm meminfo netclass netdev netstat nfs nfsd nvme os powersupplyclass pressure rapl schedstat selinux sockstat softnet stat tapestats textfile thermal_zone time timex udp_queues uname vmstat xfs zfs"}

if ! command -v wrk >/dev/null || ! command -v ab >/dev/null; then
  apt-get update -qq && apt-get install -y -qq --no-install-recommends wrk apache2-utils >/dev/null
fi
NE=/usr/bin/prometheus-node-exporter
[ -x "$NE" ] || scripts/install-peers.sh
# shellcheck source=bench/lib.sh
. bench/lib.sh
bench_build   # TELLTALE=path/to/telltale skips the release build
TT=$TELLTALE

tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT
printf '# HELP bench_value A value.\n# TYPE bench_value gauge\nbench_value 1\n' > "$tmp/bench.prom"
flags=(--collector.disable-defaults --collector.textfile.directory="$tmp" --log.level=error)
for c in $COLLECTORS; do flags+=("--collector.$c"); done

cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

measure() { # name pid port -> "cpu_per_scrape_s rps rss_kib"
  local pid=$2 port=$3 hz t0 t1
  hz=$(getconf CLK_TCK)
  for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$port/metrics"; done   # warm up
  t0=$(cpu_ticks "$pid")
  ab -q -k -n "$SCRAPES" -c 1 "http://127.0.0.1:$port/metrics" >/dev/null 2>&1
  t1=$(cpu_ticks "$pid")
  local cpu; cpu=$(python3 -c "print(($t1-$t0)/$hz/$SCRAPES)")
  local rps; rps=$(wrk -t2 -c4 -d5s "http://127.0.0.1:$port/metrics" 2>/dev/null | awk '/Requests\/sec/ {print $2}')
  echo "$cpu $rps $(rss_kib "$pid")"
}

floor() { # pid -> "kernel_cpu_per_scrape_s files": the same preads, the reader's system time only
  python3 - "$1" "$SCRAPES" <<'PY'
import os, sys
pid, n = sys.argv[1], int(sys.argv[2])
paths = set()
for fd in os.listdir(f"/proc/{pid}/fd"):
    try:
        target = os.readlink(f"/proc/{pid}/fd/{fd}")
    except OSError:
        continue
    if target.startswith(("/proc/", "/sys/")):
        paths.add(target)
fds = []
for p in sorted(paths):
    try:
        fds.append(os.open(p, os.O_RDONLY))
    except OSError:
        pass
t0 = os.times()
for _ in range(n):
    for fd in fds:
        off = 0
        while True:  # as telltale reads: 16 KiB positioned reads until a short one
            try:
                b = os.pread(fd, 16384, off)
            except OSError:  # attributes that answer EINVAL (a down link's speed), as telltale sees
                break
            off += len(b)
            if len(b) + 4096 < 16384:
                break
t1 = os.times()
print((t1.system - t0.system) / n, len(fds))
PY
}

"$NE" --web.listen-address=127.0.0.1:19190 --web.disable-exporter-metrics "${flags[@]}" --no-collector.netdev.netlink >"$tmp/ne.log" 2>&1 &
ne_pid=$!
"$TT" --web.listen-address=127.0.0.1:19191 "${flags[@]}" >"$tmp/tt.log" 2>&1 &
tt_pid=$!
sleep 1
ne_series=$(curl -s http://127.0.0.1:19190/metrics | grep -vc '^#')
tt_series=$(curl -s http://127.0.0.1:19191/metrics | grep -vc '^#')
echo "series per scrape: node_exporter $ne_series, telltale $tt_series"

: > "$tmp/results"
for r in $(seq "$ROUNDS"); do
  echo "ne $(measure ne $ne_pid 19190)" >> "$tmp/results"
  echo "tt $(measure tt $tt_pid 19191)" >> "$tmp/results"
  echo "floor $(floor $tt_pid)" >> "$tmp/results"
  echo "round $r done"
done

python3 - "$tmp/results" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
med = {}
for who in ("ne", "tt"):  # the floor rows are read below
    r = [list(map(float, x[1:])) for x in rows if x[0] == who]
    med[who] = [statistics.median(c[i] for c in r) for i in range(3)]
ne, tt = med["ne"], med["tt"]
fl = [list(map(float, x[1:])) for x in rows if x[0] == "floor"]
floor, files = statistics.median(f[0] for f in fl), int(fl[0][1])
print(f"{'':24}{'node_exporter':>16}{'telltale':>16}{'ratio':>10}")
print(f"{'CPU ms per scrape':24}{ne[0]*1e3:16.3f}{tt[0]*1e3:16.3f}{tt[0]/ne[0]:10.3f}")
print(f"{'scrapes/s (4 conns)':24}{ne[1]:16.0f}{tt[1]:16.0f}{tt[1]/ne[1]:10.2f}")
print(f"{'RSS MiB':24}{ne[2]/1024:16.1f}{tt[2]/1024:16.1f}{tt[2]/ne[2]:10.3f}")
print(f"floor (kernel CPU of the same preads of {files} files): {floor*1e3:.3f} ms per scrape; "
      f"telltale / floor {tt[0]/floor:.2f}, node_exporter / floor {ne[0]/floor:.2f} (target <= 1.25)")
print("targets: CPU ratio <= 0.2, scrapes/s ratio >= 5, RSS ratio <= 0.5 (medians of", len(rows)//3, "rounds)")
PY
