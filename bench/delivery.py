"""The python3 half of bench/delivery.sh (stdlib only): the webhook sink, the textfile writers, the
two drivers (latency rounds, throughput bursts) and the report. Subcommands:

  sink PORT                     HTTP sink: POSTs recorded with their receive time; GET /take
                                returns what arrived since the last /take (parsed) and forgets it
  flags DIR N V                 bench_delivery_flag{n=...} V for N instances (textfile, atomic)
  burst-file DIR N V            bench_delivery_burst{n=...} V for N instances
  latency DIR N ROUNDS ON OFF   switches the flags, polls Alertmanager; JSON on stdout
  burst DIR N MODE              switches the burst series on, waits for delivery; JSON on stdout
                                (MODE: the webhook's group_by, alertname or each; am-only for
                                Prometheus, which has no webhooks of its own)
  report DIR                    the tables from the JSON results in DIR
"""
import asyncio, json, os, re, statistics, sys, time, urllib.parse, urllib.request
from datetime import datetime

AM = "http://127.0.0.1:%s" % os.environ.get("AM_PORT", "19371")
SINK = "http://127.0.0.1:%s" % os.environ.get("SINK_PORT", "19373")
TT = "http://127.0.0.1:%s" % os.environ.get("TT_PORT", "19370")
PROM = "http://127.0.0.1:%s" % os.environ.get("PROM_PORT", "19374")


def ts(s):
    """RFC 3339 with any number of fraction digits (Go writes nanoseconds) -> unix seconds."""
    m = re.match(r"(.*T\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$", s)
    base, frac, zone = m.groups()
    t = datetime.fromisoformat(base + ("+00:00" if zone == "Z" else zone)).timestamp()
    return t + (float(frac) if frac else 0.0)


def get(url, timeout=30):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read()


# ---- the sink
def sink(port):
    records = []  # (receive time, path, body bytes); parsed on /take, off the receive path

    def parse(t, path, body):
        try:
            doc = json.loads(body)
        except ValueError:
            return [t, path, []]
        alerts = [[a["labels"].get("alertname", ""), a["labels"].get("n", ""), a.get("status", ""),
                   a.get("startsAt", "")] for a in doc.get("alerts", [])]
        return [t, path, alerts]

    async def serve(reader, writer):
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                method, path, _ = line.decode("latin-1").split(" ", 2)
                length = 0
                while True:
                    h = await reader.readline()
                    if h in (b"\r\n", b"\n", b""):
                        break
                    k, _, v = h.decode("latin-1").partition(":")
                    if k.strip().lower() == "content-length":
                        length = int(v.strip())
                body = await reader.readexactly(length) if length else b""
                out = b""
                if method == "POST":
                    records.append((time.time(), path, body))
                elif path == "/take":
                    taken = records[:]
                    records.clear()
                    out = json.dumps([parse(*r) for r in taken]).encode()
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             b"Content-Length: %d\r\n\r\n" % len(out) + out)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            writer.close()

    async def main():
        srv = await asyncio.start_server(serve, "127.0.0.1", port, backlog=1024)
        await srv.serve_forever()

    asyncio.run(main())


def take():
    return json.loads(get(SINK + "/take"))


# ---- textfiles
def write_metric(d, file, name, n, v):
    tmp = os.path.join(d, file + ".tmp")
    with open(tmp, "w") as f:
        f.write("# HELP %s Switched by bench/delivery.sh.\n# TYPE %s gauge\n" % (name, name))
        f.writelines('%s{n="%05d"} %s\n' % (name, i, v) for i in range(n))
    os.rename(tmp, os.path.join(d, file))


# ---- Alertmanager
def am_alerts(alertname):
    q = urllib.parse.quote('alertname="%s"' % alertname)
    return json.loads(get(AM + "/api/v2/alerts?filter=" + q))


def am_received():
    """alertmanager_alerts_received_total over every status (cheap to poll, unlike the API)."""
    total = 0.0
    for line in get(AM + "/metrics").decode().splitlines():
        if line.startswith("alertmanager_alerts_received_total{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def arrivals(records, alertname, path):
    """(n, startsAt) -> first receive time of the firing alert at the sink under `path`."""
    out = {}
    for t, p, alerts in records:
        if p != path:
            continue
        for name, n, status, starts in alerts:
            if name == alertname and status == "firing":
                k = (n, starts)
                out[k] = min(out.get(k, t), t)
    return out


def latencies_ms(first):
    return sorted((t - ts(k[1])) * 1000 for k, t in first.items())


# ---- the drivers
def latency(d, n, rounds, on, off):
    updated, seen, records = {}, {}, []

    def poll():
        now = time.time()
        for a in am_alerts("DeliveryBench"):
            k = (a["labels"]["n"], a["startsAt"])
            u = ts(a["updatedAt"])
            updated[k] = min(updated.get(k, u), u)
            seen.setdefault(k, now)

    for _ in range(rounds):
        for v, dur in ((1, on), (0, off)):
            write_metric(d, "flags.prom", "bench_delivery_flag", n, v)
            end = time.time() + dur
            while time.time() < end:
                poll()
                time.sleep(0.1)
            records += take()
    time.sleep(2)
    records += take()
    return {"episodes": n * rounds, "am": latencies_ms(updated), "am_seen": latencies_ms(seen),
            "hook": latencies_ms(arrivals(records, "DeliveryBench", "/tt")),
            "am_hook": latencies_ms(arrivals(records, "DeliveryBench", "/am"))}


def group_duration(engine):
    """The rule group's last evaluation time, s (the engine's own gauge)."""
    url, name = {"tt": (TT + "/metrics", "telltale_rule_group_last_duration_seconds{"),
                 "prom": (PROM + "/metrics", "prometheus_rule_group_last_duration_seconds{")}[engine]
    for line in get(url).decode().splitlines():
        if line.startswith(name):
            return float(line.rsplit(" ", 1)[1])
    return None


def burst(d, n, mode):
    base = am_received()
    # Prometheus has no webhooks of its own: only Alertmanager's.
    want_hooks = {"alertname": ("/tt", "/am"), "each": ("/tt",), "am-only": ("/am",)}[mode]
    first = {p: {} for p in want_hooks}  # path -> (n, startsAt) -> first receive time
    posts = {p: 0 for p in want_hooks}
    write_metric(d, "burst.prom", "bench_delivery_burst", n, 1)
    am_done = None
    deadline = time.time() + 300
    while time.time() < deadline:
        for t, p, alerts in take():  # in arrival order
            if p in first:
                posts[p] += 1
                for name, i, status, starts in alerts:
                    if name == "DeliveryBurst" and status == "firing":
                        first[p].setdefault((i, starts), t)
        if am_done is None and am_received() - base >= n:
            am_done = time.time()
        if am_done and all(len(f) >= n for f in first.values()):
            break
        time.sleep(0.2)
    eval_s = group_duration("prom" if mode == "am-only" else "tt")
    alerts = am_alerts("DeliveryBurst")
    starts = [ts(a["startsAt"]) for a in alerts]
    upd = [ts(a["updatedAt"]) for a in alerts]
    out = {"n": n, "mode": mode, "am_visible": len(alerts), "eval": min(starts) if starts else 0,
           "startsAt_distinct": len(set(starts)), "eval_s": eval_s}
    if alerts:
        out["am_first"] = min(upd) - out["eval"]
        out["am_last"] = max(upd) - out["eval"]
    for p, got in first.items():
        key = "hook" if p == "/tt" else "am_hook"
        out[key + "_count"] = len({k[0] for k in got})
        out[key + "_posts"] = posts[p]
        if got:
            out[key + "_last"] = max(t - ts(k[1]) for k, t in got.items())
    return out


# ---- the report
def q(v, p):
    return v[min(len(v) - 1, int(p * len(v)))] if v else float("nan")


def report(d):
    res = {f[:-5]: json.load(open(os.path.join(d, f))) for f in sorted(os.listdir(d))}
    engines = [e for e in ("tt", "prom") if "latency-" + e in res]
    print("\nLatency, evaluation timestamp (startsAt) to arrival, ms: median / p90 (count)")
    rows = [("at Alertmanager (its updatedAt)", "am"), ("at Alertmanager (first seen, 100 ms polls)", "am_seen"),
            ("at the webhook sink, direct", "hook"), ("at the webhook sink, through Alertmanager", "am_hook")]
    print("%-44s%22s%22s%8s" % ("", "telltale", "Prometheus 2.42", "ratio"))
    for label, key in rows:
        cells, meds = [], []
        for e in ("tt", "prom"):
            v = res.get("latency-" + e, {}).get(key, [])
            cells.append("%.0f / %.0f (%d)" % (q(v, .5), q(v, .9), len(v)) if v else "-")
            meds.append(statistics.median(v) if v else None)
        ratio = "%.2f" % (meds[0] / meds[1]) if all(meds) else ""
        print("%-44s%22s%22s%8s" % (label, cells[0], cells[1], ratio))
    for e in engines:
        print("  %s: %d firing episodes expected" % (e, res["latency-" + e]["episodes"]))

    print("\nThroughput, evaluation to the last alert, s (alerts/s); median over runs")
    rows = [("first alert at Alertmanager", "alertname", "am_first"),
            ("at Alertmanager", "alertname", "am_last"),
            ("webhook, one notification, direct", "alertname", "hook_last"),
            ("webhook, through Alertmanager", "alertname", "am_hook_last"),
            ("webhook, one notification per alert", "each", "hook_last"),
            ("(a group evaluation, all firing)", "alertname", "eval_s")]
    print("%-40s%24s%24s%8s" % ("", "telltale", "Prometheus 2.42", "ratio"))
    for label, mode, key in rows:
        cells, meds = [], []
        for e in ("tt", "prom"):
            m = "am-only" if e == "prom" and mode == "alertname" else mode
            runs = [r for k, r in res.items() if k.startswith("burst-%s-%s-" % (e, m))]
            v = [r[key] for r in runs if key in r]
            count = key.replace("_last", "_count") if key.startswith(("hook", "am_hook")) else "am_visible"
            complete = all(r["am_visible"] == r["n"] and r.get(count) == r["n"] for r in runs if key in r)
            if v:
                m = statistics.median(v)
                rate = " (%.0f/s)" % (runs[0]["n"] / m) if key.endswith("_last") else ""
                cells.append("%.3f%s%s" % (m, rate, "" if complete else " INCOMPLETE"))
                meds.append(m)
            else:
                cells.append("-")
                meds.append(None)
        ratio = "%.2f" % (meds[0] / meds[1]) if all(meds) else ""
        print("%-40s%24s%24s%8s" % (label, cells[0], cells[1], ratio))
    print("  ratios are telltale / Prometheus (medians): below 1 means telltale is faster")
    for k, r in res.items():
        if k.startswith("burst-"):
            print("  %s: %s" % (k, json.dumps({x: (round(y, 3) if isinstance(y, float) else y)
                                                for x, y in r.items() if x != "eval"})))


def main(a):
    cmd = a[0]
    if cmd == "sink":
        sink(int(a[1]))
    elif cmd == "flags":
        write_metric(a[1], "flags.prom", "bench_delivery_flag", int(a[2]), a[3])
    elif cmd == "burst-file":
        write_metric(a[1], "burst.prom", "bench_delivery_burst", int(a[2]), a[3])
    elif cmd == "latency":
        print(json.dumps(latency(a[1], int(a[2]), int(a[3]), float(a[4]), float(a[5]))))
    elif cmd == "burst":
        print(json.dumps(burst(a[1], int(a[2]), a[3])))
    elif cmd == "report":
        report(a[1])


if __name__ == "__main__":
    main(sys.argv[1:])
