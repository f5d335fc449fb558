#!/usr/bin/env bash
# Rules-engine benchmark: the steady-state cost of 10,000 threshold rules over 100,000 series per
# evaluation in the running binary, telltale against Prometheus 2.42 evaluating the same rule
# files over the same series, side by side in one run.
#
#   bench/rules-engine.sh                       # 100,000 series, 10,000 rules, 10 groups, 15 s
#   WARMUP=660 CYCLES=8 NAMES=1000 INSTANCES=100 RULE_GROUPS=10 INTERVAL=15 bench/rules-engine.sh
#   TELLTALE=path/to/telltale bench/rules-engine.sh      # skip the release build
#
# The series (bench/rules_engine_gen.py: NAMES metric names x INSTANCES series, values moving a
# little every interval) are one textfile-collector file. telltale reads it itself
# (--collector.textfile, every scrape_interval into its store) and evaluates the rules; a second
# telltale with the textfile only and no rules serves it to Prometheus, which scrapes it every
# interval and evaluates the same rule files. After WARMUP seconds (default: telltale's 10-minute
# retention plus one, so its store holds a full window and compaction runs), CYCLES windows of
# exactly one evaluation interval are measured: CPU seconds per interval from /proc/PID/stat
# (utime+stime; telltale's includes reading the textfile, Prometheus' its scrape and ingestion)
# and per 1,000 rule evaluations done (each side's rule_evaluations_total: comparable even when
# one side overruns its interval and skips evaluations), RSS at the end of each window, and,
# between windows (so their cost is outside the CPU windows), every group's last evaluation
# duration from each side's own self-metrics. Prints medians and the
# telltale / Prometheus ratios, and checks that both sides wrote the same number of samples per
# group, that neither had a failed rule evaluation and that telltale missed no group evaluation
# (Prometheus' missed evaluations are reported). Needs python3, curl, /usr/bin/prometheus.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
export NAMES=${NAMES:-1000} INSTANCES=${INSTANCES:-100} RULE_GROUPS=${RULE_GROUPS:-10}
INTERVAL=${INTERVAL:-15}
export INTERVAL_S="${INTERVAL}s"
WARMUP=${WARMUP:-660}
CYCLES=${CYCLES:-8}
TT_PORT=${TT_PORT:-19561}
FEED_PORT=${FEED_PORT:-19562}
PROM_PORT=${PROM_PORT:-19563}
PROM=${PROMETHEUS:-/usr/bin/prometheus}
[ -x "$PROM" ] || scripts/install-peers.sh

bench_build
bench_scratch

# ---- inputs: the series file (rewritten every interval) and the rule files
mkdir -p "$tmp/textfile" "$tmp/prom"
gen=bench/rules_engine_gen.py
python3 "$gen" series "$tmp/textfile/bench.prom"
python3 "$gen" rules "$tmp/rules"
python3 "$gen" watch "$tmp/textfile/bench.prom" "$INTERVAL" &
pids+=($!)

cat > "$tmp/telltale.yml" <<EOF
global: {scrape_interval: ${INTERVAL}s, evaluation_interval: ${INTERVAL}s}
storage: {retention: 10m, max_series: 1000000}
rule_files: ["rules/*.yml"]
EOF
cat > "$tmp/prometheus.yml" <<EOF
global: {scrape_interval: ${INTERVAL}s, evaluation_interval: ${INTERVAL}s, scrape_timeout: 10s}
rule_files: ["rules/*.yml"]
scrape_configs:
  - job_name: bench
    static_configs: [{targets: ["127.0.0.1:$FEED_PORT"]}]
EOF
"$TELLTALE" check config "$tmp/telltale.yml" >/dev/null
/usr/bin/promtool check config "$tmp/prometheus.yml" >/dev/null

textfile=(--collector.disable-defaults --collector.textfile --collector.textfile.directory="$tmp/textfile")
"$TELLTALE" --config "$tmp/telltale.yml" --web.listen-address "127.0.0.1:$TT_PORT" "${textfile[@]}" \
  --log.level warn > "$tmp/telltale.log" 2>&1 &
tt_pid=$!
pids+=("$tt_pid")
"$TELLTALE" --web.listen-address "127.0.0.1:$FEED_PORT" "${textfile[@]}" --web.disable-exporter-metrics \
  --log.level warn > "$tmp/feeder.log" 2>&1 &
pids+=($!)
"$PROM" --config.file "$tmp/prometheus.yml" --storage.tsdb.path "$tmp/prom" \
  --web.listen-address "127.0.0.1:$PROM_PORT" --log.level warn > "$tmp/prometheus.log" 2>&1 &
prom_pid=$!
pids+=("$prom_pid")

# A port clash would measure someone else's server: check that ours answer.
for _ in $(seq 100); do
  curl -sf -o /dev/null "http://127.0.0.1:$TT_PORT/metrics" \
    && curl -sf -o /dev/null "http://127.0.0.1:$PROM_PORT/-/ready" && break
  sleep 0.2
done
# (Saved, then grepped: grep -q closing the pipe early would fail curl under pipefail.)
answers() { curl -sf -o "$tmp/check" "http://127.0.0.1:$1/metrics" && grep -q "$2" "$tmp/check"; }
answers "$TT_PORT" '^telltale_rule_group_rules' && kill -0 "$tt_pid" \
  || { echo "telltale not answering on 127.0.0.1:$TT_PORT"; cat "$tmp/telltale.log"; exit 1; }
answers "$PROM_PORT" '^prometheus_rule_group_rules' && kill -0 "$prom_pid" \
  || { echo "prometheus not answering on 127.0.0.1:$PROM_PORT"; cat "$tmp/prometheus.log"; exit 1; }
answers "$FEED_PORT" '^bench_m_0{' \
  || { echo "feeder not answering on 127.0.0.1:$FEED_PORT"; cat "$tmp/feeder.log"; exit 1; }

echo "telltale pid $tt_pid, prometheus pid $prom_pid: $((NAMES * INSTANCES)) series," \
  "$((NAMES * 10)) rules in $RULE_GROUPS groups every ${INTERVAL}s; warm-up ${WARMUP}s, then $CYCLES windows"

# ---- measure
python3 - "$tt_pid" "$prom_pid" "$TT_PORT" "$PROM_PORT" "$INTERVAL" "$WARMUP" "$CYCLES" <<'PY'
import os, re, statistics, sys, time, urllib.request

tt_pid, prom_pid, tt_port, prom_port = sys.argv[1:5]
interval, warmup, cycles = float(sys.argv[5]), float(sys.argv[6]), int(sys.argv[7])
hz = os.sysconf("SC_CLK_TCK")
SIDES = {"tt": (tt_pid, tt_port, "telltale"), "prom": (prom_pid, prom_port, "prometheus")}

def ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])       # utime + stime (fields 14 and 15)

def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return 0.0

LINE = re.compile(r'^(\w+)\{rule_group="([^"]*)"\} (\S+)$')
WANT = ("rule_group_last_duration_seconds", "rule_group_last_evaluation_samples",
        "rule_group_iterations_missed_total", "rule_evaluation_failures_total",
        "rule_group_last_evaluation_timestamp_seconds", "rule_evaluations_total")

SERIES = {"tt": "telltale_store_series ", "prom": "prometheus_tsdb_head_series "}

def self_metrics(side):
    """{metric suffix: {group: value}} from the side's /metrics (group = the group name),
    plus "series": the series it holds."""
    prefix = SIDES[side][2] + "_"
    with urllib.request.urlopen(f"http://127.0.0.1:{SIDES[side][1]}/metrics", timeout=60) as r:
        text = r.read().decode()
    out = {w: {} for w in WANT}
    for line in text.splitlines():
        if line.startswith(SERIES[side]):
            out["series"] = float(line.split()[1])
        if not line.startswith(prefix + "rule_"):
            continue
        m = LINE.match(line)
        if m and m.group(1)[len(prefix):] in out:
            out[m.group(1)[len(prefix):]][m.group(2).rsplit(";", 1)[1]] = float(m.group(3))
    return out

def snapshot(s):
    m = self_metrics(s)
    return m, time.monotonic(), ticks(SIDES[s][0])

time.sleep(warmup)
cpu = {"tt": [], "prom": []}        # CPU s per interval
evals = {"tt": [], "prom": []}      # rule evaluations completed per interval
rss = {"tt": [], "prom": []}
dur = {"tt": [], "prom": []}        # every group's last duration, every window
total = {"tt": [], "prom": []}      # sum over groups, per window
seen = {"tt": set(), "prom": set()}
prev = {s: snapshot(s) for s in SIDES}
for w in range(cycles):
    time.sleep(interval)
    for s in SIDES:
        # The window runs from the end of the last scrape of self-metrics to the start of
        # this one, so their cost is not in it; evaluations are counted scrape to scrape.
        pm, pt, pc = prev[s]
        t0, c0 = time.monotonic(), ticks(SIDES[s][0])
        m, t1, c1 = prev[s] = snapshot(s)
        cpu_rate = (c0 - pc) / hz / (t0 - pt)
        done = sum(m["rule_evaluations_total"].values()) - sum(pm["rule_evaluations_total"].values())
        eval_rate = done / (t1 - pt)
        cpu[s].append(cpu_rate * interval)
        evals[s].append(eval_rate * interval)
        rss[s].append(rss_mib(SIDES[s][0]))
        d = m["rule_group_last_duration_seconds"]
        # A group counts once per evaluation: skip a value already seen (same timestamp).
        stamp = m["rule_group_last_evaluation_timestamp_seconds"]
        fresh = [g for g in d if (g, stamp.get(g)) not in seen[s]]
        seen[s].update((g, stamp.get(g)) for g in d)
        dur[s].extend(d[g] for g in fresh)
        total[s].append(sum(d.values()))
    print(f"window {w + 1}: CPU s telltale {cpu['tt'][-1]:.3f}, prometheus {cpu['prom'][-1]:.3f};"
          f" rules evaluated {evals['tt'][-1]:.0f} / {evals['prom'][-1]:.0f};"
          f" sum of group durations s {total['tt'][-1]:.3f} / {total['prom'][-1]:.3f};"
          f" RSS MiB {rss['tt'][-1]:.0f} / {rss['prom'][-1]:.0f}", flush=True)

end = {s: self_metrics(s) for s in SIDES}
med = lambda xs: statistics.median(xs) if xs else float("nan")
mean = lambda xs: sum(xs) / len(xs)
# Over the whole run: a window holds one or two evaluations of a group depending on where
# its slot falls, so a per-window ratio of CPU to evaluations is noisy.
per_k = lambda s: sum(cpu[s]) / sum(evals[s]) * 1000
rows = [
    ("median group evaluation duration, ms", lambda s: med(dur[s]) * 1e3),
    ("median sum of groups' durations, ms", lambda s: med(total[s]) * 1e3),
    ("median CPU s per interval", lambda s: med(cpu[s])),
    ("mean rule evaluations per interval", lambda s: mean(evals[s])),
    ("CPU ms per 1,000 rule evaluations", lambda s: per_k(s) * 1e3),
    ("median RSS MiB", lambda s: med(rss[s])),
]
print()
print(f"{'':38}{'telltale':>12}{'Prometheus':>12}{'ratio':>9}")
for name, f in rows:
    a, b = f("tt"), f("prom")
    print(f"{name:38}{a:12.3f}{b:12.3f}{a / b:9.3f}")
print(f"(group durations: {len(dur['tt'])} / {len(dur['prom'])} distinct evaluations;"
      f" CPU and RSS: {cycles} windows of {interval:.0f} s)")

def per_group(s, key):
    return end[s][key]
print(f"series held: telltale store {end['tt'].get('series', 0):.0f},"
      f" Prometheus head {end['prom'].get('series', 0):.0f}")
checks = []
ts, ps = per_group("tt", "rule_group_last_evaluation_samples"), per_group("prom", "rule_group_last_evaluation_samples")
print("\nsamples written at the last evaluation, per group (telltale / Prometheus):")
print("  " + ", ".join(f"{g} {ts.get(g, 0):.0f}/{ps.get(g, 0):.0f}" for g in sorted(ps)))
close = all(abs(ts.get(g, 0) - ps[g]) <= 0.02 * ps[g] + 5 for g in ps) and len(ts) == len(ps)
checks.append(("same output per group (within 2 %)", close))
for s in SIDES:
    f = sum(per_group(s, "rule_evaluation_failures_total").values())
    checks.append((f"{SIDES[s][2]}: no failed rule evaluations ({f:.0f})", f == 0))
    missed = sum(per_group(s, "rule_group_iterations_missed_total").values())
    # Only telltale's are a failure; Prometheus' are reported (they mean it did less work).
    if s == "tt":
        checks.append((f"telltale: no missed group evaluations ({missed:.0f})", missed == 0))
    else:
        print(f"Prometheus missed {missed:.0f} group evaluations (overran the interval)")
print()
for name, ok in checks:
    print(f"  {'PASS' if ok else 'FAIL'}  {name}")
print(f"\n  load average during the run: {open('/proc/loadavg').read().split()[:3]} (2 cores, shared)")
sys.exit(0 if all(ok for _, ok in checks) else 1)
PY
