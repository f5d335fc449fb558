#!/usr/bin/env python3
"""Push load for bench/push.sh: Pushgateway-style PUTs of text-format batches over keep-alive
connections, the same bodies to whichever server is given.

  pushload.py fill HOST:PORT GROUPS SERIES
      pushes every group once (GROUPS x SERIES distinct series) and exits; for memory figures.
  pushload.py load HOST:PORT GROUPS SERIES CONNS SECONDS
      CONNS processes, each with one keep-alive connection, PUT the groups round-robin for
      SECONDS; prints one JSON line: requests, samples, errors, seconds, samples_per_s,
      and request latency percentiles (ms).

Group g is /metrics/job/bench/instance/g; its body holds SERIES samples of one gauge family,
`bench_value{series="i",shard="g"}`, with a HELP and TYPE line. Two value variants per group
alternate, so consecutive pushes differ.
"""
import http.client
import json
import multiprocessing
import sys
import time


def body(group, series, variant):
    lines = ["# HELP bench_value A benchmark gauge.", "# TYPE bench_value gauge"]
    for i in range(series):
        lines.append(f'bench_value{{series="{i}",shard="{group}"}} {i + variant * 0.5}')
    return ("\n".join(lines) + "\n").encode()


def bodies(groups, series):
    return [[body(g, series, v) for v in (0, 1)] for g in range(groups)]


def put(conn, group, data):
    conn.request("PUT", f"/metrics/job/bench/instance/{group}", body=data,
                 headers={"Content-Type": "text/plain; version=0.0.4"})
    resp = conn.getresponse()
    resp.read()
    return resp.status


def fill(target, groups, series):
    host, port = target.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=120)
    for g, (b, _) in enumerate(bodies(groups, series)):
        status = put(conn, g, b)
        if status != 200:
            sys.exit(f"fill: group {g} answered {status}")


def worker(args):
    target, groups, series, conns, index, seconds, start_at = args
    host, port = target.split(":")
    mine = [g for g in range(groups) if g % conns == index]
    data = {g: [body(g, series, v) for v in (0, 1)] for g in mine}
    conn = http.client.HTTPConnection(host, int(port), timeout=120)
    while time.time() < start_at:
        time.sleep(0.005)
    end = start_at + seconds
    n, errors, latencies, i = 0, 0, [], 0
    while time.time() < end:
        g = mine[i % len(mine)]
        t0 = time.perf_counter()
        try:
            status = put(conn, g, data[g][(i // len(mine)) % 2])
        except (OSError, http.client.HTTPException):
            conn = http.client.HTTPConnection(host, int(port), timeout=120)
            status = 0
        latencies.append(time.perf_counter() - t0)
        if status == 200:
            n += 1
        else:
            errors += 1
        i += 1
    return n, errors, latencies


def load(target, groups, series, conns, seconds):
    start_at = time.time() + 2.0  # every worker has built its bodies by then
    args = [(target, groups, series, conns, i, seconds, start_at) for i in range(conns)]
    with multiprocessing.Pool(conns) as pool:
        results = pool.map(worker, args)
    requests = sum(r[0] for r in results)
    errors = sum(r[1] for r in results)
    lat = sorted(x for r in results for x in r[2])
    pct = lambda p: round(lat[min(len(lat) - 1, int(p * len(lat)))] * 1000, 2) if lat else None
    print(json.dumps({
        "requests": requests, "samples": requests * series, "errors": errors,
        "seconds": seconds, "samples_per_s": round(requests * series / seconds),
        "p50_ms": pct(0.5), "p99_ms": pct(0.99),
    }))


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "fill":
        fill(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif mode == "load":
        load(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6]))
    else:
        sys.exit(__doc__)
