#!/usr/bin/env python3
"""Inputs of bench/rules-engine.sh: the series (a textfile-collector .prom file) and the rules.

  rules_engine_gen.py series FILE [CYCLE]        write FILE once (atomically), values of CYCLE
  rules_engine_gen.py watch FILE SECONDS         rewrite FILE every SECONDS, CYCLE 1, 2, ...
  rules_engine_gen.py rules DIR                  write DIR/group-NN.yml

Series: NAMES metric names bench_m_0 ... each with INSTANCES series labelled
i="i00".."i99" and g="g0".."g9" (g = the instance's tens digit), so NAMES x INSTANCES series
(100,000 by default). Each value is a fixed per-series base, uniform over [0, 100), plus a small
wobble that changes every cycle, so series near a threshold cross it now and then and alerts go
pending, fire and resolve as they would in production.

Rules: 10 rules per metric name (10 x 1,000 = 10,000 by default) in RULE_GROUPS groups of
interval INTERVAL_S (one file each), a name's rules all in the same group; per name: six
threshold alerts (some with `for:`, some over `sum by (g)` / `avg by (g)`, one templated
annotation), and four recording rules (`sum by (g)`, `max`, `count(... > 80)`, and a ratio of two of them).
"""
import math
import os
import sys

NAMES = int(os.environ.get("NAMES", "1000"))
INSTANCES = int(os.environ.get("INSTANCES", "100"))
GROUPS = int(os.environ.get("RULE_GROUPS", "10"))
INTERVAL = os.environ.get("INTERVAL_S", "15s")


def base(m, i):
    h = ((m * 7919 + i * 104729 + 17) * 2654435761) & 0xFFFFFFFF
    return h / 2**32 * 100.0


def value(m, i, cycle):
    return base(m, i) + 2.0 * math.sin(cycle * 0.7 + m * 1.3 + i * 0.37)


def write_series(path, cycle):
    out = []
    for m in range(NAMES):
        out.append(f"# HELP bench_m_{m} Benchmark series {m}.\n# TYPE bench_m_{m} gauge\n")
        for i in range(INSTANCES):
            out.append(f'bench_m_{m}{{g="g{i // 10}",i="i{i:02d}"}} {value(m, i, cycle):.3f}\n')
    tmp = path + ".tmp"  # not *.prom: the collectors skip it until the rename
    with open(tmp, "w") as f:
        f.write("".join(out))
    os.replace(tmp, path)


def rules_for(m):
    s = f"bench_m_{m}"
    alert = lambda name, expr, for_=None, extra="": (
        f"      - alert: Bench{name}_{m}\n        expr: {expr}\n"
        + (f"        for: {for_}\n" if for_ else "")
        + "        labels:\n          severity: warning\n" + extra
    )
    record = lambda name, expr: f"      - record: {name}\n        expr: {expr}\n"
    summary = ("        annotations:\n"
               "          summary: '{{ $labels.i }} of " + s + " is {{ $value }}'\n")
    return [
        alert("High", f"{s} > 95", extra=summary),
        alert("HighFor", f"{s} > 90", "1m"),
        alert("Low", f"{s} < 3", "30s"),
        record(f"bench:{s}:sum_by_g", f"sum by (g) ({s})"),
        alert("GroupSum", f"sum by (g) ({s}) > 650", "1m"),
        record(f"bench:{s}:max", f"max({s})"),
        alert("Peak", f"{s} > 99.5"),
        record(f"bench:{s}:count_above_80", f"count({s} > 80)"),
        alert("GroupAvg", f"avg by (g) ({s}) > 70", "2m"),
        record(f"bench:{s}:max_ratio", f"bench:{s}:max / scalar(max(bench:{s}:sum_by_g))"),
    ]


def write_rules(d):
    os.makedirs(d, exist_ok=True)
    for g in range(GROUPS):
        body = [f"groups:\n  - name: bench-{g:02d}\n    interval: {INTERVAL}\n    rules:\n"]
        for m in range(g, NAMES, GROUPS):
            body.extend(rules_for(m))
        with open(os.path.join(d, f"group-{g:02d}.yml"), "w") as f:
            f.write("".join(body))


def main():
    cmd, *args = sys.argv[1:]
    if cmd == "series":
        write_series(args[0], int(args[1]) if len(args) > 1 else 0)
    elif cmd == "watch":
        import time
        every, cycle = float(args[1]), 1
        while True:
            time.sleep(every)
            write_series(args[0], cycle)
            cycle += 1
    elif cmd == "rules":
        write_rules(args[0])
    else:
        sys.exit(f"unknown command {cmd!r}")


if __name__ == "__main__":
    main()
