#!/usr/bin/env python3
"""Soak load for telltale (python3 stdlib only), two modes:

  soak.py app PORT TARGETS
      JSON targets on /app/N: hyphenmon-style documents whose values change every request.
  soak.py load ADDR SECONDS WARMUP PID OUT_JSON
      Drives telltale at ADDR for SECONDS over keep-alive connections: scrapers on /metrics,
      API readers (/api/v1/rules, /api/v1/alerts, /api/v1/targets, /api/v1/status/config),
      pushers on POST /api/v1/metrics when that route exists, and a config reload every 30 s.
      Samples telltale's RSS (/proc/PID/status) every 5 s. Writes latency percentiles per
      endpoint, error counts and the RSS series to OUT_JSON. With SOAK_CA=FILE it speaks TLS
      (trusting that CA) and with SOAK_AUTH=user:password it sends basic auth.
"""
import asyncio
import base64
import json
import os
import random
import sys
import time


async def serve_app(port, targets):
    async def handle(reader, writer):
        try:
            while True:
                line = await reader.readline()
                if not line:
                    return
                while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                    pass
                n = int(line.split()[1].rsplit(b"/", 1)[-1] or 0) % max(targets, 1)
                doc = {
                    "timestamp": time.time(),
                    "response_time_ms": random.uniform(5, 500),
                    "error_rate": random.random() * 0.1,
                    "requests": int(time.time()) * (n + 1),
                    "services": [
                        {"name": f"svc{i}", "latency": random.random(), "up": 1} for i in range(5)
                    ],
                }
                body = json.dumps(doc).encode()
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
                await writer.drain()
        except (ConnectionError, ValueError, IndexError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


class Conn:
    """One keep-alive HTTP/1.1 connection."""

    def __init__(self, host, port):
        self.host, self.port = host, port
        self.r = self.w = None
        self.ssl = None
        if os.environ.get("SOAK_CA"):
            import ssl
            self.ssl = ssl.create_default_context(cafile=os.environ["SOAK_CA"])
        auth = os.environ.get("SOAK_AUTH")
        self.auth = f"Authorization: Basic {base64.b64encode(auth.encode()).decode()}\r\n" if auth else ""

    async def request(self, method, path, body=b"", headers=()):
        if self.w is None:
            self.r, self.w = await asyncio.open_connection(self.host, self.port, ssl=self.ssl)
        head = (f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\n"
                f"Content-Length: {len(body)}\r\n{self.auth}")
        for k, v in headers:
            head += f"{k}: {v}\r\n"
        self.w.write(head.encode() + b"\r\n" + body)
        await self.w.drain()
        status = int((await self.r.readline()).split()[1])
        length, chunked, close = 0, False, False
        while True:
            line = await self.r.readline()
            if line in (b"\r\n", b""):
                break
            k, _, v = line.decode().partition(":")
            k, v = k.strip().lower(), v.strip().lower()
            if k == "content-length":
                length = int(v)
            elif k == "transfer-encoding" and "chunked" in v:
                chunked = True
            elif k == "connection" and v == "close":
                close = True
        if chunked:
            size = 0
            while True:
                n = int((await self.r.readline()).strip(), 16)
                if n == 0:
                    await self.r.readline()
                    break
                size += len(await self.r.readexactly(n + 2)) - 2
        else:
            size = len(await self.r.readexactly(length))
        if close:
            self.close()
        return status, size

    def close(self):
        if self.w is not None:
            self.w.close()
        self.r = self.w = None


def push_body(i):
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    metrics = [{"metric_id": f"soak.pushed.value_{k}", "timestamp": now, "value": float(i % 1000),
                "metric_type": "gauge", "tags": {"worker": str(k % 10)}} for k in range(100)]
    return json.dumps({"metrics": metrics}).encode()


async def load(addr, seconds, warmup, pid, out):
    host, port = addr.rsplit(":", 1)
    port = int(port)
    lat, errors, sizes = {}, {}, {}
    stop = time.monotonic() + seconds
    rss = []

    async def worker(paths, pause, method="GET", body_fn=None, ok=(200,), fresh=False):
        """fresh: a new connection per request (telltale closes a keep-alive connection that
        sends nothing for 30 s, so a client pausing that long reconnects, as Go's does)."""
        c = Conn(host, port)
        i = 0
        while time.monotonic() < stop:
            path = paths[i % len(paths)]
            i += 1
            body = body_fn(i) if body_fn else b""
            t0 = time.monotonic()
            try:
                status, size = await c.request(method, path, body,
                                               [("Content-Type", "application/json")] if body else ())
                if status not in ok:
                    errors[path] = errors.get(path, 0) + 1
                    print(f"soak: {method} {path} -> {status}", file=sys.stderr)
                sizes[path] = size
            except (ConnectionError, asyncio.IncompleteReadError, ValueError, IndexError) as e:
                errors[path] = errors.get(path, 0) + 1
                print(f"soak: {method} {path}: {e!r}", file=sys.stderr)
                c.close()
            lat.setdefault(path, []).append(time.monotonic() - t0)
            if fresh:
                c.close()
            if pause:
                await asyncio.sleep(pause)

    async def sample_rss():
        t0 = time.monotonic()
        while time.monotonic() < stop:
            with open(f"/proc/{pid}/status") as f:
                kb = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
            rss.append((round(time.monotonic() - t0, 1), kb))
            await asyncio.sleep(5)

    probe = Conn(host, port)
    push_status, _ = await probe.request("POST", "/api/v1/metrics", push_body(0),
                                         [("Content-Type", "application/json")])
    probe.close()
    pushing = push_status in (200, 202, 204)
    tasks = [worker(["/metrics"], 0) for _ in range(6)]
    tasks += [worker(["/api/v1/rules", "/api/v1/alerts", "/api/v1/targets",
                      "/api/v1/status/config", "/-/healthy"], 0.01) for _ in range(2)]
    if pushing:
        tasks += [worker(["/api/v1/metrics"], 0.005, "POST", push_body, (200, 202, 204))
                  for _ in range(2)]
    tasks.append(worker(["/-/reload"], 30, "POST", fresh=True))
    tasks.append(sample_rss())
    await asyncio.gather(*tasks)

    def pct(xs, p):
        xs = sorted(xs)
        return xs[min(len(xs) - 1, int(p / 100 * len(xs)))] * 1000 if xs else 0

    after_warmup = [kb for t, kb in rss if warmup <= t < warmup + 30] or [rss[0][1]]
    tail = [kb for t, kb in rss if t >= seconds - 30] or [rss[-1][1]]
    result = {
        "seconds": seconds,
        "pushing": pushing,
        "endpoints": {p: {"requests": len(v), "rps": round(len(v) / seconds, 1),
                          "p50_ms": round(pct(v, 50), 2), "p90_ms": round(pct(v, 90), 2),
                          "p99_ms": round(pct(v, 99), 2), "max_ms": round(max(v) * 1000, 2),
                          "bytes": sizes.get(p, 0)} for p, v in sorted(lat.items())},
        "errors": errors,
        "rss_kb": rss,
        "rss_after_warmup_kb": sum(after_warmup) // len(after_warmup),
        "rss_end_kb": sum(tail) // len(tail),
    }
    with open(out, "w") as f:
        json.dump(result, f, indent=1)


def main():
    mode = sys.argv[1]
    if mode == "app":
        asyncio.run(serve_app(int(sys.argv[2]), int(sys.argv[3])))
    elif mode == "load":
        addr, seconds, warmup, pid, out = sys.argv[2:7]
        asyncio.run(load(addr, int(seconds), int(warmup), int(pid), out))
    else:
        sys.exit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
