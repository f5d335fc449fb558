#!/usr/bin/env python3
"""False alarms of a detector on pure noise (issue 15): writes noise series at several sampling
intervals, scores each with `telltale score` and counts the samples whose score reaches each
threshold, per series per day (the warm-up, whose scores are 0, counts as time).

    noise.py TELLTALE [--days-1s D] [--days-15s D] [--days-60s D] [--threshold T]...
             [--param K=V]... [--seed N]

The noise: Gaussian, uniform (bounded, like a response time of 120 +- 30 ms) and Laplace (heavier
tails), each around 100, fixed seeds so runs repeat.
"""
import argparse
import math
import os
import random
import subprocess
import sys
import tempfile


def noise(kind, rng):
    if kind == "gaussian":
        return rng.gauss(0.0, 1.0)
    if kind == "uniform":
        return rng.uniform(-1.0, 1.0)
    u = rng.random() - 0.5
    return -math.copysign(1.0, u) * math.log(1.0 - 2.0 * abs(u))  # laplace


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("telltale")
    ap.add_argument("--days-1s", type=float, default=2.0)
    ap.add_argument("--days-15s", type=float, default=14.0)
    ap.add_argument("--days-60s", type=float, default=60.0)
    ap.add_argument("--threshold", type=float, action="append")
    ap.add_argument("--param", action="append", default=[])
    ap.add_argument("--detector", default="ensemble")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    thresholds = a.threshold or [0.513, 0.7, 0.8, 0.9]
    print("| sampling | noise | days | samples | max score | %s |" % " | ".join(
        "alarms/day at %g" % t for t in thresholds))
    print("|---|---|---|---|---|" + "---|" * len(thresholds))
    with tempfile.TemporaryDirectory() as tmp:
        for step, days in ((1, a.days_1s), (15, a.days_15s), (60, a.days_60s)):
            n = int(days * 86400 / step)
            for kind in ("gaussian", "uniform", "laplace"):
                rng = random.Random(a.seed * 1000 + step * 10 + len(kind))
                src = os.path.join(tmp, "in.csv")
                with open(src, "w") as fh:
                    fh.write("timestamp,value\n")
                    t0 = 1_700_000_000
                    for i in range(n):
                        fh.write("%d,%.6f\n" % (t0 + i * step, 100.0 + noise(kind, rng)))
                out = os.path.join(tmp, "out.csv")
                cmd = [a.telltale, "score", "--detector", a.detector, "--input", src,
                       "--output", out]
                for p in a.param:
                    cmd += ["--param", p]
                subprocess.run(cmd, check=True, stderr=subprocess.DEVNULL)
                with open(out) as fh:
                    next(fh)
                    scores = [float(line.rsplit(",", 1)[1]) for line in fh]
                counts = [sum(1 for s in scores if s >= t) for t in thresholds]
                print("| %d s | %s | %g | %d | %.3f | %s |" % (
                    step, kind, days, n, max(scores),
                    " | ".join("%.2f" % (c / days) for c in counts)))
                sys.stdout.flush()


if __name__ == "__main__":
    main()
