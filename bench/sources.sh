#!/usr/bin/env bash
# Sources benchmark (issue 3): telltale polling TARGETS hyphenmon-style JSON targets every 15 s
# and one Zabbix 6.0 API stub with ITEMS numeric items every 15 s, host collectors off, so only
# the sources cost anything. Reports telltale's CPU (% of one core, per window and their median)
# and RSS (max over the samples, VmHWM at the end), the series count on /metrics, and checks that
# every target and the Zabbix source are up with all their data.
#
#   bench/sources.sh                                  # 1,000 targets, 10,000 items, 60 s + 3 x 60 s
#   TARGETS=1000 ITEMS=10000 WARMUP=60 WINDOW=60 WINDOWS=3 SAMPLE=5 PORTS=1 bench/sources.sh
#
# The store keeps 1 h of samples (storage.retention), so RSS grows for the first hour: a run of a
# few minutes shows the start-up figure; WINDOW=600 WINDOWS=6 shows the steady state.
#
# PORTS=N spreads the targets over N listening ports (127.0.0.1:JSON_PORT...+N-1): with N=TARGETS
# every target is its own "host" and keeps its own keep-alive connection, as in production where
# the apps run on different machines; with the default 1 they all share one host's pool.
#
# The JSON server and the Zabbix stub are one asyncio process (python3 stdlib) on 127.0.0.1; it is
# not measured. The stub answers like a real 6.0.14: apiinfo.version without auth, user.login
# (username/password), host.get/hostgroup.get and item.get with the session in the body's `auth`,
# every value a string, fields in the server's order; 100 items per host, each updated once a
# minute (lastclock moves, values change). Needs python3, curl and a release build (cargo).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
TARGETS=${TARGETS:-1000}
ITEMS=${ITEMS:-10000}
WARMUP=${WARMUP:-60}
WINDOW=${WINDOW:-60}
WINDOWS=${WINDOWS:-3}
SAMPLE=${SAMPLE:-5}
INTERVAL=${INTERVAL:-15s}
PORTS=${PORTS:-1}
JSON_PORT=${JSON_PORT:-19480}
ZBX_PORT=${ZBX_PORT:-19470}
TT_PORT=${TT_PORT:-19471}

bench_build
bench_scratch

# ---- the stub: JSON targets on /app/N, the Zabbix API on /api_jsonrpc.php, counters on /stats
cat > "$tmp/stub.py" <<'PY'
import asyncio, json, sys, time

TARGETS, ITEMS = int(sys.argv[1]), int(sys.argv[2])
JSON_PORT, ZBX_PORT, PORTS = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
JSON_PORTS = range(JSON_PORT, JSON_PORT + PORTS)
SESSION = "0123456789abcdef0123456789abcdef"
PER_HOST = 100
stats = {"json": 0, "rpc": {}, "item_get_items": 0, "item_get_bytes": 0, "errors": 0}

# (key, name, units, value_type) templates; 10 instances each make a host's 100 items.
TEMPLATES = [
    ('system.cpu.util[,{i},avg1]', 'CPU {i} utilization', '%', '0'),
    ('system.cpu.load[percpu{i},avg1]', 'Load average (1m avg), set {i}', '', '0'),
    ('vm.memory.size[pool{i}]', 'Memory pool {i} size', 'B', '3'),
    ('vfs.fs.size[/srv/vol{i},pused]', '/srv/vol{i}: Space utilization', '%', '0'),
    ('vfs.fs.size[/srv/vol{i},used]', '/srv/vol{i}: Used space', 'B', '3'),
    ('net.if.in["eth{i}"]', 'Interface eth{i}: Bits received', 'bps', '3'),
    ('net.if.out["eth{i}"]', 'Interface eth{i}: Bits sent', 'bps', '3'),
    ('vfs.dev.read.rate[sd{c}]', 'sd{c}: Disk read rate', '!r/s', '0'),
    ('proc.num[worker{i}]', 'Number of worker{i} processes', '', '3'),
    ('zabbix[process,poller #{i},avg,busy]', 'Utilization of poller #{i}', '%', '0'),
]
hosts = [(str(10100 + h), "bench-host-%04d" % h) for h in range((ITEMS + PER_HOST - 1) // PER_HOST)]
items = []  # (itemid, hostid, host, name, key, value_type, units)
for n in range(ITEMS):
    hostid, host = hosts[n // PER_HOST]
    key, name, units, vt = TEMPLATES[n % PER_HOST // 10]
    i = n % 10
    fmt = {"i": i, "c": "abcdefghij"[i]}
    items.append((str(50000 + n), hostid, host, name.format(**fmt), key.format(**fmt), vt, units))

def item_rows(hostids, now):
    rows = []
    for itemid, hostid, host, name, key, vt, units in items:
        if hostids is not None and hostid not in hostids:
            continue
        iid = int(itemid)
        phase = iid % 60                      # each item updated once a minute, spread out
        clock = now - (now - phase) % 60
        x = (iid * 2654435761 + clock * 40503) % 100000
        value = str(x * 1000 + iid % 997) if vt == "3" else "%.4f" % (x / 1000.0)
        rows.append({"itemid": itemid, "hostid": hostid, "name": name, "key_": key,
                     "value_type": vt, "units": units, "status": "0", "state": "0",
                     "hosts": [{"hostid": hostid, "host": host, "name": host}],
                     "lastclock": str(clock), "lastvalue": value})
    return rows

def rpc_error(rid, data, code=-32602, message="Invalid params."):
    return {"jsonrpc": "2.0", "error": {"code": code, "message": message, "data": data}, "id": rid}

def rpc(req):
    method, params, rid = req.get("method"), req.get("params") or {}, req.get("id")
    stats["rpc"][method] = stats["rpc"].get(method, 0) + 1
    if method == "apiinfo.version":
        if "auth" in req:
            return rpc_error(rid, 'The "apiinfo.version" method must be called without the "auth" parameter.')
        return {"jsonrpc": "2.0", "result": "6.0.14", "id": rid}
    if method == "user.login":
        if params.get("username") == "Admin" and params.get("password") == "zabbix":
            return {"jsonrpc": "2.0", "result": SESSION, "id": rid}
        return rpc_error(rid, "Incorrect user name or password or account is temporarily blocked.")
    if "auth" not in req:
        return rpc_error(rid, "Not authorized.")
    if req["auth"] != SESSION:
        return rpc_error(rid, "Session terminated, re-login, please.")
    if method == "hostgroup.get":
        names = (params.get("filter") or {}).get("name")
        if names is None or "Bench servers" in names:
            return {"jsonrpc": "2.0", "result": [{"groupid": "100", "name": "Bench servers"}], "id": rid}
        return {"jsonrpc": "2.0", "result": [], "id": rid}
    if method == "host.get":
        wanted = (params.get("filter") or {}).get("host")
        rows = [{"hostid": i, "host": h} for i, h in hosts if wanted is None or h in wanted]
        return {"jsonrpc": "2.0", "result": rows, "id": rid}
    if method == "item.get":
        ids = params.get("hostids")
        rows = item_rows(None if ids is None else set(map(str, ids)), int(time.time()))
        stats["item_get_items"] += len(rows)
        return {"jsonrpc": "2.0", "result": rows, "id": rid}
    return rpc_error(rid, 'Incorrect method "%s".' % method, -32601, "Method not found.")

def app_body(n):
    t = time.time()
    wobble = (n * 37 + int(t)) % 60
    return {"timestamp": int(t), "response_time_ms": 90 + wobble + n % 7,
            "error_rate": round(0.005 + (wobble % 10) / 1000.0, 4)}

def route(port, method, path, headers, body):
    if path == "/stats":
        return 200, json.dumps(stats).encode()
    if port in JSON_PORTS and method == "GET" and path.startswith("/app/"):
        try:
            n = int(path[5:])
        except ValueError:
            n = -1
        if 0 <= n < TARGETS:
            stats["json"] += 1
            return 200, json.dumps(app_body(n)).encode()
    if port == ZBX_PORT and method == "POST" and path == "/api_jsonrpc.php":
        if not headers.get("content-type", "").startswith("application/json-rpc"):
            return 412, b""
        try:
            out = json.dumps(rpc(json.loads(body)), separators=(",", ":")).encode()
        except ValueError:
            out = json.dumps(rpc_error(None, "Invalid JSON. An error occurred on the server while parsing the JSON text.", -32700, "Parse error.")).encode()
        if b'"item.get"' in body:
            stats["item_get_bytes"] += len(out)
        return 200, out
    stats["errors"] += 1
    return 404, b'{"error":"not found"}'

REASON = {200: "OK", 404: "Not Found", 412: "Precondition Failed"}

async def serve(port, reader, writer):
    try:
        while True:
            line = await reader.readline()
            if not line:
                break
            method, path, _ = line.decode("latin-1").split(" ", 2)
            headers = {}
            while True:
                h = await reader.readline()
                if h in (b"\r\n", b"\n", b""):
                    break
                k, _, v = h.decode("latin-1").partition(":")
                headers[k.strip().lower()] = v.strip()
            n = int(headers.get("content-length", "0") or 0)
            body = await reader.readexactly(n) if n else b""
            status, payload = route(port, method, path, headers, body)
            writer.write(b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                         % (status, REASON[status].encode(), len(payload)) + payload)
            await writer.drain()
            if headers.get("connection", "").lower() == "close":
                break
    except (ConnectionError, asyncio.IncompleteReadError, ValueError):
        pass
    finally:
        writer.close()

async def main():
    servers = [await asyncio.start_server(lambda r, w, p=p: serve(p, r, w), "127.0.0.1", p, backlog=1024)
               for p in (*JSON_PORTS, ZBX_PORT)]
    print("ready", flush=True)
    await asyncio.gather(*(s.serve_forever() for s in servers))

asyncio.run(main())
PY

# ---- the config: TARGETS json targets (2 mappings each) and one Zabbix source, host metrics off
python3 - "$TARGETS" "$JSON_PORT" "$ZBX_PORT" "$INTERVAL" "$PORTS" > "$tmp/telltale.yml" <<'PY'
import sys
targets, jport, zport, iv, ports = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])
print(f"""global:
  scrape_interval: {iv}
  scrape_timeout: 10s
system:
  enabled: false
zabbix:
  - name: bench
    url: http://127.0.0.1:{zport}/api_jsonrpc.php
    interval: {iv}
    username: Admin
    password: zabbix
json_targets:""")
for n in range(targets):
    print(f"""  - name: app-{n}
    url: http://127.0.0.1:{jport + n % ports}/app/{n}
    interval: {iv}
    timestamp_path: $.timestamp
    metrics:
      - name: app_response_time_seconds
        path: $.response_time_ms
        scale: 0.001
      - name: app_error_ratio
        path: $.error_rate""")
PY
"$TELLTALE" check config "$tmp/telltale.yml" >/dev/null

python3 "$tmp/stub.py" "$TARGETS" "$ITEMS" "$JSON_PORT" "$ZBX_PORT" "$PORTS" > "$tmp/stub.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do grep -q ready "$tmp/stub.log" && break; sleep 0.1; done
grep -q ready "$tmp/stub.log" || { cat "$tmp/stub.log"; exit 1; }

"$TELLTALE" --config "$tmp/telltale.yml" --web.listen-address "127.0.0.1:$TT_PORT" \
  --log.level warn > "$tmp/telltale.log" 2>&1 &
tt_pid=$!
pids+=("$tt_pid")
for _ in $(seq 50); do curl -sf -o /dev/null "http://127.0.0.1:$TT_PORT/metrics" && break; sleep 0.1; done
# A port clash would measure someone else's server: check that ours answer.
for port in "$JSON_PORT" "$ZBX_PORT"; do
  curl -sf "http://127.0.0.1:$port/stats" | grep -q item_get_items \
    || { echo "stub not answering on 127.0.0.1:$port"; cat "$tmp/stub.log"; exit 1; }
done
kill -0 "$tt_pid" 2>/dev/null && curl -sf "http://127.0.0.1:$TT_PORT/metrics" | grep -q '^telltale_' \
  || { echo "telltale not answering on 127.0.0.1:$TT_PORT"; cat "$tmp/telltale.log"; exit 1; }

echo "telltale pid $tt_pid: $TARGETS JSON targets on $PORTS port(s) + $ITEMS Zabbix items, every $INTERVAL;" \
  "warm-up ${WARMUP}s, then $WINDOWS x ${WINDOW}s windows sampled every ${SAMPLE}s"

# ---- measure: windows of CPU ticks, RSS samples, then the /metrics checks and the table
python3 - "$tt_pid" "$TT_PORT" "$JSON_PORT" "$TARGETS" "$ITEMS" "$WARMUP" "$WINDOW" "$WINDOWS" "$SAMPLE" "$INTERVAL" <<'PY'
import json, os, re, statistics, sys, time, urllib.request

pid, tt_port, json_port, targets, items = sys.argv[1], *map(int, sys.argv[2:6])
warmup, window, windows, sample = map(float, sys.argv[6:10])
interval_s = float(sys.argv[10].rstrip("s"))
hz = os.sysconf("SC_CLK_TCK")

def ticks():
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])       # utime + stime (fields 14 and 15)

def status(key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024.0   # kB -> MiB
    return 0.0

def get(url):
    with urllib.request.urlopen(url, timeout=30) as r:
        return r.read().decode()

def stub_json():
    return json.loads(get(f"http://127.0.0.1:{json_port}/stats"))["json"]

time.sleep(warmup)
rss, sample_cpu, window_cpu = [], [], []
served0 = stub_json()
t_start = time.monotonic()
for w in range(int(windows)):
    w0, c0 = time.monotonic(), ticks()
    prev_t, prev_c = w0, c0
    while time.monotonic() - w0 < window - 1e-3:
        time.sleep(min(sample, window - (time.monotonic() - w0)))
        t, c = time.monotonic(), ticks()
        rss.append(status("VmRSS"))
        sample_cpu.append((c - prev_c) / hz / (t - prev_t) * 100)
        prev_t, prev_c = t, c
    pct = (prev_c - c0) / hz / (prev_t - w0) * 100
    window_cpu.append(pct)
    print(f"window {w + 1}: CPU {pct:.2f}% of a core, RSS {rss[-1]:.1f} MiB", flush=True)
elapsed = time.monotonic() - t_start
served = stub_json() - served0
hwm = status("VmHWM")

# One scrape of /metrics, as Prometheus would do it; its cost is reported, not in the windows.
c0, t0 = ticks(), time.monotonic()
text = get(f"http://127.0.0.1:{tt_port}/metrics")
scrape_s, scrape_cpu = time.monotonic() - t0, (ticks() - c0) / hz
samples = [l for l in text.splitlines() if l and not l.startswith("#")]
def values(name):
    pat = re.compile(r"^" + name + r"(\{[^}]*\})? (\S+)")
    return [(m.group(1) or "", float(m.group(2))) for m in map(pat.match, samples) if m]
up = values("telltale_target_up")
errors = sum(v for _, v in values("telltale_target_scrape_errors_total"))
zup = values("zabbix_up")
zitems = values("zabbix_items")
zvalues = len(values("zabbix_item_value"))
zerr = sum(v for _, v in values("zabbix_poll_errors_total"))

cpu_med = statistics.median(window_cpu)
rss_max = max(rss)
expected = targets * elapsed / interval_s
rows = [
    ("CPU, median of windows", f"{cpu_med:.2f} % of a core",
     "windows " + ", ".join(f"{c:.2f}" for c in window_cpu)),
    (f"CPU, {sample:.0f}-s samples", f"{statistics.median(sample_cpu):.2f} % median",
     f"max {max(sample_cpu):.2f} %"),
    ("RSS, max of samples", f"{rss_max:.1f} MiB", f"first {rss[0]:.1f}, last {rss[-1]:.1f}"),
    ("VmHWM at the end", f"{hwm:.1f} MiB", ""),
    ("series on /metrics", f"{len(samples)}", f"scrape {scrape_s * 1000:.0f} ms, {scrape_cpu * 1000:.0f} ms CPU"),
    ("JSON targets up", f"{sum(1 for _, v in up if v == 1)}/{targets}", f"scrape errors total {errors:.0f}"),
    ("JSON polls served", f"{served}", f"expected ~{expected:.0f} in {elapsed:.0f} s"),
    ("zabbix_up", f"{zup[0][1] if zup else 'absent'}", f"poll errors total {zerr:.0f}"),
    ("Zabbix items exported", f"{zitems[0][1] if zitems else 'absent'}",
     f"{zvalues} zabbix_item_value series"),
]
print()
for name, val, note in rows:
    print(f"  {name:26}{val:>22}   {note}")
checks = [
    (f"CPU < 5% of one core", cpu_med < 5.0, f"{cpu_med:.2f} %"),
    (f"RSS < 100 MiB (samples and VmHWM)", max(rss_max, hwm) < 100.0, f"{max(rss_max, hwm):.1f} MiB"),
    (f"all {targets} targets up", len(up) == targets and all(v == 1 for _, v in up), f"{sum(1 for _, v in up if v == 1)}"),
    (f"zabbix up with {items} items", bool(zup) and zup[0][1] == 1 and bool(zitems)
     and zitems[0][1] == items and zvalues == items, f"{zvalues}"),
]
checks = [c for c in checks if not (c[0].startswith("zabbix") and items == 0)
          and not (c[0].startswith("all") and targets == 0)]
print()
for name, ok, got in checks:
    print(f"  {'PASS' if ok else 'FAIL'}  {name:32} {got}")
print(f"\n  load average during the run: {open('/proc/loadavg').read().split()[:3]} (2 cores, shared)")
sys.exit(0 if all(ok for _, ok, _ in checks) else 1)
PY
