#!/usr/bin/env python3
"""Generates the rules benchmark: a rule file and a `promtool test rules` file over it.

    rules_gen.py DIR [--series N] [--rules N] [--hours H] [--fill PROMTOOL_OUTPUT]

Writes DIR/bench.rules.yml (RULES rules in groups of 50: recording rules first, then alerts)
and DIR/bench_test.yml (SERIES input series at 1-minute resolution over HOURS hours, one
alert_rule_test per alert name sampled and a few promql_expr_test, at four times of the run).

Expectations are not computed here: the first run writes empty ones; promtool's FAILED report on
that file lists what it got, and `--fill` that report writes the file again with those as the
expectations. bench/rules.sh does both steps and checks that promtool then passes.
Deterministic: the same arguments give the same files.
"""
import argparse
import random
import re
import sys

RULES_PER_SHARD = 25  # 11 recording rules and 14 alerts per shard of the series
SHARDS_PER_GROUP = 2


def series_counts(total):
    """Counters, CPU gauges and latency gauges: 40 %, 30 %, 30 %."""
    c = total * 4 // 10
    g = (total - c) // 2
    return c, g, total - c - g


def counter_values(rng, n):
    """A counter over n samples: rate changes every 1-4 h, sometimes a reset."""
    toks, left, v = [], n, rng.randint(0, 10000)
    while left > 0:
        seg = min(left, rng.randint(60, 240))
        inc = rng.randint(30, 1200)
        if toks and rng.random() < 0.08:
            v = 0  # a restart: the counter begins again
        toks.append(f"{v}+{inc}x{seg - 1}")
        v += inc * seg
        left -= seg
    return " ".join(toks)


def gauge_values(rng, n, lo, hi, scale, gaps):
    """A gauge as linear pieces within [lo, hi]; with `gaps`, one stale marker and a gap."""
    toks, left = [], n
    gap_at = rng.randint(n // 4, n // 2) if gaps else -1
    while left > 0:
        if gap_at >= 0 and n - left >= gap_at:
            toks += ["stale", "_x29"]
            left -= 30
            gap_at = -1
            continue
        seg = min(left, rng.randint(30, 180))
        a = rng.randint(int(lo * scale), int(hi * scale))
        b = rng.randint(int(lo * scale), int(hi * scale))
        step = (b - a) // max(seg - 1, 1)
        a_s = a / scale
        st = abs(step) / scale
        toks.append(f"{a_s:g}{'-' if step < 0 else '+'}{st:g}x{seg - 1}")
        left -= seg
    return " ".join(toks)


def gen_series(rng, total, n):
    counters, cpus, lats = series_counts(total)
    jobs = ["api", "db", "web", "cache"]
    out = []
    for k in range(counters):
        labels = (f'job="{jobs[k % 4]}", instance="host-{k % (counters // 2):03d}", '
                  f'shard="s{k % 20:02d}", code="{"500" if k % 3 == 0 else "200"}"')
        out.append((f"bench_requests_total{{{labels}}}", counter_values(rng, n)))
    for fam, count, lo, hi, scale in (("bench_cpu_usage", cpus, 0, 100, 10),
                                      ("bench_latency_seconds", lats, 0.05, 2.5, 1000)):
        for k in range(count):
            labels = f'job="{jobs[k % 4]}", instance="host-{k:03d}", shard="s{k % 20:02d}"'
            out.append((f"{fam}{{{labels}}}", gauge_values(rng, n, lo, hi, scale, k % 60 == 7)))
    return out


def shard_rules(s):
    """The 25 rules of one shard: (kind, name, expr, for, extra labels)."""
    m = f'shard="{s}"'
    rec = [
        ("record", "bench:requests:rate5m", f"sum by (job, shard) (rate(bench_requests_total{{{m}}}[5m]))"),
        ("record", "bench:requests:increase1h", f"sum by (shard) (increase(bench_requests_total{{{m}}}[1h]))"),
        ("record", "bench:requests:irate", f"sum by (shard) (irate(bench_requests_total{{{m}}}[5m]))"),
        ("record", "bench:cpu:avg10m", f"avg_over_time(bench_cpu_usage{{{m}}}[10m])"),
        ("record", "bench:cpu:p90_30m", f"quantile_over_time(0.9, bench_cpu_usage{{{m}}}[30m])"),
        ("record", "bench:cpu:stddev", f"stddev by (job) (bench_cpu_usage{{{m}}})"),
        ("record", "bench:cpu:top3", f"topk(3, bench_cpu_usage{{{m}}})"),
        ("record", "bench:cpu:busy_count", f"count by (shard) (bench_cpu_usage{{{m}}} > 50)"),
        ("record", "bench:latency:max", f"max by (job, shard) (bench_latency_seconds{{{m}}})"),
        ("record", "bench:latency:avg", f"avg by (job) (bench_latency_seconds{{{m}}})"),
        ("record", "bench:latency:deriv15m", f"deriv(bench_latency_seconds{{{m}}}[15m])"),
    ]
    alerts = [
        ("alert", f"CpuAbove70_{s}", f"bench_cpu_usage{{{m}}} > 70", "5m"),
        ("alert", f"CpuAbove80_{s}", f"bench_cpu_usage{{{m}}} > 80", "5m"),
        ("alert", f"CpuAbove90_{s}", f"bench_cpu_usage{{{m}}} > 90", "2m"),
        ("alert", f"CpuAvgHigh_{s}", f'bench:cpu:avg10m{{{m}}} > 75', "10m"),
        ("alert", f"CpuMinHigh_{s}", f"min_over_time(bench_cpu_usage{{{m}}}[15m]) > 60", "5m"),
        ("alert", f"CpuTrend_{s}", f"predict_linear(bench_cpu_usage{{{m}}}[1h], 3600) > 100", "10m"),
        ("alert", f"LatencyHigh_{s}", f"bench_latency_seconds{{{m}}} > 1.5", "2m"),
        ("alert", f"LatencyAvgHigh_{s}", f"avg_over_time(bench_latency_seconds{{{m}}}[30m]) > 1", "15m"),
        ("alert", f"LatencyPerCpu_{s}",
         f"bench_latency_seconds{{{m}}} * on (instance) group_left () (bench_cpu_usage{{{m}}} / 100) > 1", "5m"),
        ("alert", f"RequestRateHigh_{s}", f"rate(bench_requests_total{{{m}}}[5m]) > 15", "5m"),
        ("alert", f"ShardRateHigh_{s}", f"bench:requests:rate5m{{{m}}} > 150", "0s"),
        ("alert", f"ErrorRatioHigh_{s}",
         f'sum by (shard) (rate(bench_requests_total{{{m}, code="500"}}[5m]))'
         f" / sum by (shard) (rate(bench_requests_total{{{m}}}[5m])) > 0.4", "5m"),
        ("alert", f"CounterReset_{s}", f"resets(bench_requests_total{{{m}}}[1h]) > 0", "0s"),
        ("alert", f"ShardBusyHour_{s}", f"bench:requests:increase1h{{{m}}} > 1000000", "5m"),
    ]
    return rec, alerts


def rule_file(shards):
    out = ["groups:"]
    count = 0
    for g in range(0, len(shards), SHARDS_PER_GROUP):
        out.append(f"  - name: bench-{g // SHARDS_PER_GROUP:02d}")
        out.append("    rules:")
        recs, alerts = [], []
        for s in shards[g:g + SHARDS_PER_GROUP]:
            r, a = shard_rules(s)
            recs += [(*x, s) for x in r]
            alerts += a
        for _, name, expr, shard in recs:
            out.append(f"      - record: {name}")
            out.append(f"        expr: '{expr}'")
            # The shard label keeps each rule's output apart (and promtool's duplicate lint quiet).
            out.append(f"        labels: {{shard: {shard}}}")
            count += 1
        for i, (_, name, expr, hold) in enumerate(alerts):
            sev = ["warning", "critical"][i % 2]
            out.append(f"      - alert: {name}")
            out.append(f"        expr: '{expr}'")
            out.append(f"        for: {hold}")
            out.append(f"        labels: {{severity: {sev}}}")
            out.append("        annotations:")
            out.append("          summary: '{{ $labels.instance }} {{ $labels.job }} at {{ $value | humanize }}'")
            count += 1
    return "\n".join(out) + "\n", count


# ---- expectations from promtool's FAILED report

LABELS = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def parse_labels(text):
    return [(k, v.encode().decode("unicode_escape")) for k, v in LABELS.findall(text)]


def parse_report(text):
    """{(alertname, time): [(labels, annotations)]} and {(expr, time): [(labels, value)]}."""
    alerts, exprs = {}, {}
    for m in re.finditer(r"alertname: (\S+), time: (\S+), \n\s+exp:.*?\n\s+got:(\[\]|\[\n.*?\n\s+\])", text, re.S):
        got = []
        for lm in re.finditer(r"Labels:(\{.*?\})\n\s+Annotations:(\{.*?\})(?:,|\n)", m.group(3)):
            got.append((parse_labels(lm.group(1)), parse_labels(lm.group(2))))
        alerts[(m.group(1), minutes(m.group(2)))] = got
    for m in re.finditer(r'expr: (".*?"), time: (\S+),\n\s+exp: .*?\n\s+got: (.*)', text):
        got = []
        if m.group(3) != "nil":
            for sm in re.finditer(r"(\{[^}]*\}) (\S+?)(?:, |$)", m.group(3)):
                got.append((parse_labels(sm.group(1)), float(sm.group(2))))
        exprs[(bytes(m.group(1)[1:-1], "utf-8").decode("unicode_escape"), minutes(m.group(2)))] = got
    return alerts, exprs


def quote(s):
    return "'" + s.replace("'", "''") + "'"


UNITS_MS = {"ms": 1, "s": 1000, "m": 60000, "h": 3600000, "d": 86400000, "w": 604800000,
            "y": 31536000000}


def minutes(duration):
    """Minutes in a duration as promtool prints eval times (Prometheus' `6h`, `1d`, `1h30m`)."""
    ms = sum(int(n) * UNITS_MS[u] for n, u in re.findall(r"(\d+)(ms|[smhdwy])", duration))
    return ms // 60000


def test_file(series, shards, hours, alerts_exp=None, exprs_exp=None):
    times = [hours * 60 // 4, hours * 60 // 2, hours * 60 * 3 // 4, hours * 60]
    names = []
    for i, s in enumerate(shards):
        for _, name, _, _ in shard_rules(s)[1]:
            if (hash_name(name) + i) % 7 == 0:
                names.append(name)
    exprs = [
        # promtool sums in series-creation order, which follows Go map order when it loads the
        # input: a sum of many non-integers varies in its last bits between its own runs.
        "round(sum(bench:requests:rate5m))",
        "bench:requests:increase1h",
        'bench:cpu:avg10m{shard="s03"}',
        "count(ALERTS)",
        'count by (alertstate) (ALERTS{alertname=~"Cpu.*"})',
        "max(bench:latency:max)",
        'bench:cpu:top3{shard="s11"}',
        "sum by (shard) (bench:cpu:busy_count)",
    ]
    out = ["# Generated by bench/rules_gen.py; expectations come from promtool.",
           "rule_files: [bench.rules.yml]", "evaluation_interval: 1m", "tests:",
           "  - interval: 1m", "    input_series:"]
    for s, v in series:
        out.append(f"      - series: {quote(s)}")
        out.append(f"        values: {quote(v)}")
    out.append("    alert_rule_test:")
    for t in times:
        for name in names:
            out.append(f"      - eval_time: {t}m")
            out.append(f"        alertname: {name}")
            got = (alerts_exp or {}).get((name, t), [])
            if not got:
                out.append("        exp_alerts: []")
                continue
            out.append("        exp_alerts:")
            for labels, annotations in got:
                ls = ", ".join(f"{k}: {quote(v)}" for k, v in labels if k != "alertname")
                an = ", ".join(f"{k}: {quote(v)}" for k, v in annotations)
                out.append(f"          - exp_labels: {{{ls}}}")
                out.append(f"            exp_annotations: {{{an}}}")
    out.append("    promql_expr_test:")
    for t in times:
        for e in exprs:
            out.append(f"      - expr: {quote(e)}")
            out.append(f"        eval_time: {t}m")
            got = (exprs_exp or {}).get((e, t), [])
            if not got:
                out.append("        exp_samples: []")
                continue
            out.append("        exp_samples:")
            for labels, value in got:
                name = dict(labels).get("__name__", "")
                rest = ", ".join(f'{k}="{v}"' for k, v in labels if k != "__name__")
                out.append(f"          - labels: {quote(name + '{' + rest + '}')}")
                out.append(f"            value: {value!r}")
    return "\n".join(out) + "\n", len(names) * len(times), len(exprs) * len(times)


def hash_name(name):
    return sum(name.encode()) % 1000


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--series", type=int, default=1000)
    ap.add_argument("--rules", type=int, default=500)
    ap.add_argument("--hours", type=int, default=24)
    ap.add_argument("--fill", help="promtool's output on the file without expectations")
    a = ap.parse_args()
    if a.rules % (RULES_PER_SHARD * SHARDS_PER_GROUP) or a.rules // RULES_PER_SHARD > 20:
        sys.exit(f"--rules must be a multiple of {RULES_PER_SHARD * SHARDS_PER_GROUP}, at most {20 * RULES_PER_SHARD}")
    rng = random.Random(42)
    shards = [f"s{i:02d}" for i in range(a.rules // RULES_PER_SHARD)]
    series = gen_series(rng, a.series, a.hours * 60 + 1)
    rules, nrules = rule_file(shards)
    alerts_exp = exprs_exp = None
    if a.fill:
        alerts_exp, exprs_exp = parse_report(open(a.fill).read())
    test, nalert, nexpr = test_file(series, shards, a.hours, alerts_exp, exprs_exp)
    with open(f"{a.dir}/bench.rules.yml", "w") as f:
        f.write(rules)
    with open(f"{a.dir}/bench_test.yml", "w") as f:
        f.write(test)
    filled = ""
    if a.fill:
        firing = sum(len(v) for v in alerts_exp.values())
        filled = f"; expectations: {firing} firing alerts, {sum(len(v) for v in exprs_exp.values())} samples"
    print(f"{len(series)} series x {a.hours * 60 + 1} samples, {nrules} rules, "
          f"{nalert} alert tests, {nexpr} expression tests{filled}")


if __name__ == "__main__":
    main()
