#!/usr/bin/env bash
# Load and soak: telltale with the default host collectors, TARGETS JSON targets polled every
# second and rule groups evaluated every second over them, while bench/soak.py scrapes /metrics
# on six keep-alive connections, reads the rules/alerts/targets/config APIs on two, pushes on two
# (when POST /api/v1/metrics exists) and reloads the config every 30 s, for MINUTES.
#
#   bench/soak.sh [MINUTES]            # default 10; WARMUP seconds (default 180) before RSS counts
#   TELLTALE=path/to/telltale TARGETS=100 bench/soak.sh 10
#   SOAK_TLS=1 bench/soak.sh          # the same over TLS with basic auth (a --web.config.file)
#
# Fails when any request errors, any JSON target poll or rule evaluation fails, or the RSS
# averaged over the last 30 s is more than 10% above the RSS averaged over the 30 s after the
# warm-up. The store keeps 1 minute of samples here (storage.retention), so it is full before the
# warm-up ends; RSS settles about 3 minutes in. Prints latency percentiles per endpoint and the
# RSS series; needs python3, curl and a release build.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
MINUTES=${1:-10}
WARMUP=${WARMUP:-180}
TARGETS=${TARGETS:-100}
APP_PORT=${APP_PORT:-19580}
TT_PORT=${TT_PORT:-19581}
SECONDS_TOTAL=$((MINUTES * 60))

if [ -z "${TELLTALE:-}" ]; then
  cargo build --release --locked -q
  TELLTALE="$(cargo metadata --locked --format-version 1 --no-deps |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')/release/telltale"
fi
bench_scratch

python3 bench/soak.py app "$APP_PORT" "$TARGETS" &
pids+=($!)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$APP_PORT/app/0" >/dev/null && break; sleep 0.1; done

{
  echo "global: {scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}"
  echo "storage: {retention: 1m}"
  echo "rule_files: [$tmp/soak.rules.yml]"
  echo "json_targets:"
  for i in $(seq 0 $((TARGETS - 1))); do
    cat <<EOF
  - name: app$i
    url: http://127.0.0.1:$APP_PORT/app/$i
    timestamp_path: \$.timestamp
    metrics:
      - {name: app_response_time_seconds, path: \$.response_time_ms, scale: 0.001}
      - {name: app_error_ratio, path: \$.error_rate}
      - {name: app_requests_total, path: \$.requests, type: counter}
      - {name: app_service_latency_seconds, path: '\$.services[*].latency', label_paths: {service: '@.name'}}
      - {name: app_healthy, value: 'error_rate < 0.05 && response_time_ms < 400'}
EOF
  done
} > "$tmp/telltale.yml"
cat > "$tmp/soak.rules.yml" <<'EOF'
groups:
  - name: soak-recording
    interval: 1s
    rules:
      - record: target:app_response_time_seconds:max
        expr: max by (target) (app_response_time_seconds)
      - record: job:app_requests:rate30s
        expr: sum(rate(app_requests_total[30s]))
      - record: service:app_service_latency_seconds:avg
        expr: avg by (service) (app_service_latency_seconds)
      - record: instance:node_cpu:rate30s
        expr: sum without (cpu) (rate(node_cpu_seconds_total[30s]))
  - name: soak-alerts
    interval: 1s
    rules:
      - alert: SlowApp
        expr: target:app_response_time_seconds:max > 0.3
        for: 5s
        labels: {severity: warning}
        annotations: {summary: '{{ $labels.target }} answers in {{ $value | humanizeDuration }}'}
      - alert: Unhealthy
        expr: app_healthy == 0
        annotations: {summary: '{{ $labels.target }} unhealthy'}
      - alert: ServiceSlow
        expr: service:app_service_latency_seconds:avg > 0.6
EOF

web=()
scheme=http
curl_opts=()
if [ "${SOAK_TLS:-0}" = 1 ]; then
  # A self-signed certificate for 127.0.0.1; user soak, password soak-pw (bcrypt, cost 10).
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj /CN=soak -addext subjectAltName=IP:127.0.0.1 -keyout "$tmp/key.pem" -out "$tmp/cert.pem" 2>/dev/null
  cat > "$tmp/web.yml" <<'EOF'
tls_server_config: {cert_file: cert.pem, key_file: key.pem}
basic_auth_users:
  soak: $2b$10$J0qdpD1BOnec5aefXkLC6Os6G2d.1KipnuL.eHu.mGKj2hCsEi1QK
EOF
  web=(--web.config.file="$tmp/web.yml")
  scheme=https
  curl_opts=(--cacert "$tmp/cert.pem" -u soak:soak-pw)
  export SOAK_CA="$tmp/cert.pem" SOAK_AUTH=soak:soak-pw
fi

"$TELLTALE" --config "$tmp/telltale.yml" --web.listen-address="127.0.0.1:$TT_PORT" "${web[@]}" \
  --log.level=warn > "$tmp/telltale.log" 2>&1 &
tt=$!
pids+=("$tt")
for _ in $(seq 100); do
  curl -sf "${curl_opts[@]}" "$scheme://127.0.0.1:$TT_PORT/-/ready" >/dev/null && break
  sleep 0.1
done

echo "soak: $MINUTES min, $TARGETS JSON targets every 1s, 2 rule groups every 1s, warm-up ${WARMUP}s, $scheme"
python3 bench/soak.py load "127.0.0.1:$TT_PORT" "$SECONDS_TOTAL" "$WARMUP" "$tt" "$tmp/result.json"
curl -sf "${curl_opts[@]}" "$scheme://127.0.0.1:$TT_PORT/metrics" > "$tmp/final.prom"

python3 - "$tmp/result.json" "$tmp/final.prom" "$tmp/telltale.log" <<'PY'
import json, re, sys
r = json.load(open(sys.argv[1]))
final = open(sys.argv[2]).read()
log = open(sys.argv[3]).read()
def total(name):
    return sum(float(m.group(1)) for m in re.finditer(rf"^{name}(?:{{[^}}]*}})? (\S+)$", final, re.M))
print(f"\n{'endpoint':28} {'requests':>9} {'req/s':>7} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'max ms':>8} {'bytes':>8}")
for p, e in r["endpoints"].items():
    print(f"{p:28} {e['requests']:9} {e['rps']:7} {e['p50_ms']:8} {e['p90_ms']:8} {e['p99_ms']:8} {e['max_ms']:8} {e['bytes']:8}")
print("pushing:", r["pushing"])
print("RSS (MiB) every 5 s:", " ".join(f"{kb/1024:.0f}" for _, kb in r["rss_kb"]))
w, e = r["rss_after_warmup_kb"], r["rss_end_kb"]
print(f"RSS after warm-up {w/1024:.1f} MiB, at the end {e/1024:.1f} MiB ({(e - w) / w * 100:+.1f}%)")
problems = []
if r["errors"]:
    problems.append(f"request errors: {r['errors']}")
polls_failed = total("telltale_target_scrape_errors_total")
evals = total("telltale_rule_evaluations_total")
evals_failed = total("telltale_rule_evaluation_failures_total")
missed = total("telltale_rule_group_iterations_missed_total")
up = total("telltale_target_up")
print(f"JSON targets up {up:.0f}, poll errors {polls_failed:.0f}; rule evaluations {evals:.0f}, "
      f"failed {evals_failed:.0f}, group iterations missed {missed:.0f}")
if polls_failed:
    reasons = {}
    for m in re.finditer(r'^telltale_target_scrape_errors_total{([^}]*)} (\S+)$', final, re.M):
        reason = re.search(r'reason="([^"]*)"', m.group(1)).group(1)
        reasons[reason] = reasons.get(reason, 0) + float(m.group(2))
    problems.append(f"{polls_failed:.0f} JSON target polls failed: "
                    + ", ".join(f"{k} {v:.0f}" for k, v in reasons.items() if v))
if evals == 0 or evals_failed:
    problems.append(f"rule evaluations {evals:.0f}, failed {evals_failed:.0f}")
if e > w * 1.10:
    problems.append(f"RSS grew {(e - w) / w * 100:.1f}% after warm-up (limit 10%)")
if re.search(r"level=error", log):
    problems.append("errors in telltale's log:\n" + "\n".join(l for l in log.splitlines() if "level=error" in l)[:2000])
if problems:
    print("SOAK FAILED:\n  " + "\n  ".join(problems))
    sys.exit(1)
print("soak passed")
PY
