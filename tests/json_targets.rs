//! JSON targets end to end: the binary polls fixture JSON served by an in-test HTTP server on
//! loopback. The data and health families are compared with tests/golden/json_targets.txt
//! (`UPDATE_GOLDEN=1 cargo test --test json_targets` rewrites it); every error reason is provoked
//! and seen in the counters and at /api/v1/targets; a 128 MiB body leaves the RSS flat.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

/// Size of the body `/huge` streams (the cap is the 4 MiB default).
const HUGE: usize = 128 << 20;

/// Answers to `/backwards` so far.
static BACKWARDS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Answers one request: fixtures, a 500, a stall, an endless-looking body.
fn handle(mut s: TcpStream) {
    let mut req = Vec::new();
    let mut buf = [0u8; 1024];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => req.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&req).into_owned();
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
    let respond = |s: &mut TcpStream, status: &str, body: &[u8]| {
        let _ = write!(
            s,
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let _ = s.write_all(body);
    };
    if let Some(name) = path.strip_prefix("/fixture/") {
        match std::fs::read(common::fixtures().join("json").join(name)) {
            Ok(body) => respond(&mut s, "200 OK", &body),
            Err(_) => respond(&mut s, "404 Not Found", b"no such fixture"),
        }
    } else if path == "/year2100" {
        respond(&mut s, "200 OK", b"{\"ts\": 4102444800, \"v\": 1}");
    } else if path == "/backwards" {
        // Each answer a minute older than the one before: out of order from the second on.
        let n = BACKWARDS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let body = format!("{{\"ts\": {}, \"v\": {n}}}", now - 60 * (n + 1));
        respond(&mut s, "200 OK", body.as_bytes());
    } else if path == "/status/500" {
        respond(
            &mut s,
            "500 Internal Server Error",
            b"{\"error\": \"boom\"}",
        );
    } else if path == "/stall" {
        std::thread::sleep(Duration::from_secs(5));
        respond(&mut s, "200 OK", b"{}");
    } else if path == "/huge" {
        // Chunked and without a length, so only the streaming cap can stop it.
        let _ = write!(
            s,
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        );
        let chunk = "1,".repeat(32 << 10);
        let mut sent = 0;
        while sent < HUGE {
            if write!(s, "{:x}\r\n{chunk}\r\n", chunk.len()).is_err() {
                return;
            }
            sent += chunk.len();
        }
        let _ = s.write_all(b"0\r\n\r\n");
    } else {
        respond(&mut s, "404 Not Found", b"not found");
    }
}

/// Starts the server on a loopback port; it lives as long as the test process.
fn serve() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            std::thread::spawn(move || handle(s));
        }
    });
    addr
}

fn start(config: &str) -> common::Proc {
    let dir = std::env::temp_dir().join(format!(
        "telltale-json-{}-{}",
        std::process::id(),
        common::free_port()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("telltale.yml");
    std::fs::write(&file, config).unwrap();
    common::spawn(
        &common::bin(),
        &[
            format!("--config={}", file.display()),
            "--web.listen-address=127.0.0.1:{port}".into(),
            "--log.level=debug".into(),
        ],
        "/-/ready",
    )
}

fn targets(p: &common::Proc) -> Vec<serde_json::Value> {
    let v: serde_json::Value =
        serde_json::from_str(&common::get(&p.addr(), "/api/v1/targets")).unwrap();
    v["data"]["activeTargets"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Polls until `done` holds for /api/v1/targets, or fails with what was last seen.
fn wait_targets(
    p: &common::Proc,
    what: &str,
    done: impl Fn(&[serde_json::Value]) -> bool,
) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let t = targets(p);
        if done(&t) {
            return t;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {t:#?}\n{}",
            p.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn value(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.split(' ').next()?.parse().ok())
}

#[test]
fn fixture_json_matches_the_golden_file() {
    let srv = serve();
    let cfg = format!(
        r#"system: {{enabled: false}}
json_targets:
  - name: hyphenmon
    url: http://{srv}/fixture/hyphenmon.json
    interval: 1s
    timestamp_path: $.timestamp
    metrics:
      - {{name: app_response_time_ms, path: $.response_time_ms, help: Response time in milliseconds.}}
      - {{name: app_response_time_seconds, value: response_time_ms / 1000, labels: {{unit: s}}}}
      - {{name: app_error_ratio_percent, path: $.error_rate, scale: 100}}
  - name: inventory
    url: http://{srv}/fixture/services.json
    interval: 1s
    headers: {{X-Test: golden}}
    metrics:
      - name: inv_service_latency_halved
        help: Latency per service.
        path: $.services[*].latency_ms
        scale: 0.5
        labels: {{env: test}}
        label_paths: {{service: '@.id', display: '@.name', region: $.region}}
        timestamp_path: $.generated_ms
      - name: inv_service_healthy
        path: $.services[*].healthy
        label_paths: {{service: '@.id'}}
      - name: inv_service_requests_total
        type: counter
        path: $.services[*].requests
        label_paths: {{service: '@.id'}}
      - name: inv_service_weighted_latency
        path: $.services[*]
        value: 'latency_ms * 2 + if(healthy > 0, 0, 1000)'
        label_paths: {{service: '@.id'}}
      - {{name: inv_queue_depth_first, path: '$.stats.queue.depth[0]'}}
      - {{name: inv_queue_depth_last, path: '$.stats.queue.depth[-1]'}}
      - {{name: inv_spaced, path: "$['key with space']"}}
"#
    );
    let p = start(&cfg);
    wait_targets(&p, "both targets up", |t| {
        t.len() == 2 && t.iter().all(|x| x["health"] == "up")
    });
    let metrics = common::get(&p.addr(), "/metrics");
    let keep = |l: &str| {
        let name = l
            .trim_start_matches("# HELP ")
            .trim_start_matches("# TYPE ");
        [
            "app_",
            "inv_",
            "telltale_target_up",
            "telltale_target_scrape_errors_total",
        ]
        .iter()
        .any(|p| name.starts_with(p))
    };
    let got: String = metrics
        .lines()
        .filter(|l| keep(l))
        .map(|l| format!("{l}\n"))
        .collect();
    let golden = common::root().join("tests/golden/json_targets.txt");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(golden.parent().unwrap()).unwrap();
        std::fs::write(&golden, &got).unwrap();
    }
    let want = std::fs::read_to_string(&golden).expect("golden file (UPDATE_GOLDEN=1 writes it)");
    assert_eq!(got, want, "/metrics differs from {}", golden.display());
    assert!(
        metrics.contains("telltale_target_scrape_duration_seconds{target=\"inventory\"}"),
        "{metrics}"
    );
}

#[test]
fn every_error_reason_is_counted_and_reported() {
    let srv = serve();
    let refused = common::free_port();
    let target = |name: &str, url: &str, path: &str| {
        format!(
            "  - name: {name}\n    url: {url}\n    interval: 1s\n    timeout: 500ms\n    metrics:\n      - {{name: err_value, path: '{path}'}}\n"
        )
    };
    let cases = [
        (
            "bad_json",
            format!("http://{srv}/fixture/truncated.json"),
            "$.response_time_ms",
            "decode",
            "decode: invalid JSON: EOF while parsing",
        ),
        (
            "missing",
            format!("http://{srv}/fixture/hyphenmon.json"),
            "$.nope",
            "path_missing",
            "path_missing: $.nope not found",
        ),
        (
            "wrong_type",
            format!("http://{srv}/fixture/wrong_type.json"),
            "$.response_time_ms",
            "value_type",
            "value_type: $.response_time_ms for err_value is the string \"fast\", not a number",
        ),
        (
            "status500",
            format!("http://{srv}/status/500"),
            "$.x",
            "http_status",
            "http_status: HTTP status 500 Internal Server Error",
        ),
        (
            "stall",
            format!("http://{srv}/stall"),
            "$.x",
            "timeout",
            "timeout: timed out",
        ),
        (
            "huge",
            format!("http://{srv}/huge"),
            "$.x",
            "body_too_large",
            "body_too_large: body larger than the limit of 4194304 bytes",
        ),
        (
            "refused",
            format!("http://127.0.0.1:{refused}/"),
            "$.x",
            "connect",
            "connect: connection failed",
        ),
    ];
    let mut cfg = String::from("system: {enabled: false}\njson_targets:\n");
    for (name, url, path, _, _) in &cases {
        cfg.push_str(&target(name, url, path));
    }
    let p = start(&cfg);
    let t = wait_targets(&p, "every target down", |t| {
        t.len() == cases.len() && t.iter().all(|x| x["health"] == "down")
    });
    let metrics = common::get(&p.addr(), "/metrics");
    for (name, _, _, reason, error) in &cases {
        assert_eq!(
            value(
                &metrics,
                &format!("telltale_target_up{{target=\"{name}\"}}")
            ),
            Some(0.0),
            "{name}"
        );
        for r in [
            "connect",
            "timeout",
            "http_status",
            "body_too_large",
            "decode",
            "path_missing",
            "value_type",
        ] {
            let n = value(
                &metrics,
                &format!("telltale_target_scrape_errors_total{{reason=\"{r}\",target=\"{name}\"}}"),
            )
            .unwrap_or_else(|| panic!("{name}/{r} missing:\n{metrics}"));
            if r == *reason {
                assert!(n >= 1.0, "{name}: {r} = {n}");
            } else {
                assert_eq!(n, 0.0, "{name}: {r}");
            }
        }
        let entry = t.iter().find(|x| x["labels"]["instance"] == *name).unwrap();
        let last = entry["lastError"].as_str().unwrap();
        assert!(
            last.starts_with(error),
            "{name}: lastError {last:?}, want {error:?}"
        );
    }
    // A down target exports only its health series.
    assert!(!metrics.contains("err_value"), "{metrics}");
}

/// The lastError of target `name`, once it is not empty.
fn last_error(p: &common::Proc, name: &str) -> String {
    let t = wait_targets(p, &format!("an error for {name}"), |t| {
        t.iter().any(|x| {
            x["labels"]["instance"] == name && !x["lastError"].as_str().unwrap_or("").is_empty()
        })
    });
    let entry = t.iter().find(|x| x["labels"]["instance"] == name).unwrap();
    entry["lastError"].as_str().unwrap().to_string()
}

#[test]
fn future_and_out_of_order_timestamps_are_refused_and_reported() {
    let srv = serve();
    let target = |name: &str, path: &str| {
        format!(
            "  - name: {name}\n    url: http://{srv}/{path}\n    interval: 1s\n    timestamp_path: $.ts\n    metrics:\n      - {{name: {name}_v, path: $.v}}\n"
        )
    };
    let cfg = format!(
        "system: {{enabled: false}}\njson_targets:\n{}{}",
        target("future", "year2100"),
        target("back", "backwards")
    );
    let p = start(&cfg);
    let err = last_error(&p, "future");
    assert!(
        err.starts_with("timestamp: timestamp $.ts (4102444800) is too far in the future"),
        "{err}"
    );
    let err = last_error(&p, "back");
    assert!(
        err.starts_with("samples_rejected: 1 sample(s) refused by the store, first back_v{")
            && err.ends_with(": out_of_order"),
        "{err}"
    );
    let metrics = common::wait_metrics(&p, 20, "counted refusals", |m| {
        value(
            m,
            "telltale_target_scrape_errors_total{reason=\"samples_rejected\",target=\"back\"}",
        )
        .is_some_and(|n| n >= 1.0)
    });
    assert!(
        value(
            &metrics,
            "telltale_target_scrape_errors_total{reason=\"timestamp\",target=\"future\"}"
        )
        .is_some_and(|n| n >= 1.0),
        "{metrics}"
    );
    assert!(
        value(
            &metrics,
            "telltale_samples_rejected_total{reason=\"out_of_order\"}"
        )
        .is_some_and(|n| n >= 1.0),
        "{metrics}"
    );
    assert!(!metrics.contains("future_v"), "{metrics}");
}

#[test]
fn a_target_over_the_series_limit_keeps_its_health_series() {
    let srv = serve();
    let cfg = format!(
        "system: {{enabled: false}}\nstorage: {{max_series: 2}}\njson_targets:\n  - name: wide\n    url: http://{srv}/fixture/services.json\n    interval: 1s\n    metrics:\n      - {{name: svc_latency, path: '$.services[*].latency_ms', label_paths: {{service: '@.id'}}}}\n"
    );
    let p = start(&cfg);
    let err = last_error(&p, "wide");
    assert!(err.starts_with("series_limit: "), "{err}");
    let metrics = common::wait_metrics(&p, 20, "health series", |m| {
        value(m, "telltale_target_up{target=\"wide\"}") == Some(1.0)
    });
    for series in [
        "telltale_target_scrape_duration_seconds{target=\"wide\"}",
        "telltale_target_scrape_errors_total{reason=\"series_limit\",target=\"wide\"}",
    ] {
        assert!(
            value(&metrics, series).is_some(),
            "{series} missing:\n{metrics}"
        );
    }
    let t = targets(&p);
    assert_eq!(t[0]["health"], "up", "{t:#?}");
}

#[test]
fn a_huge_body_leaves_memory_flat() {
    let srv = serve();
    let p = start(&format!(
        "system: {{enabled: false}}\njson_targets:\n  - name: huge\n    url: http://{srv}/huge\n    interval: 1s\n    timeout: 900ms\n    metrics: [{{name: x, path: $.x}}]\n"
    ));
    let series = "telltale_target_scrape_errors_total{reason=\"body_too_large\",target=\"huge\"}";
    let deadline = Instant::now() + Duration::from_secs(20);
    while value(&common::get(&p.addr(), "/metrics"), series).unwrap_or(0.0) < 3.0 {
        assert!(
            Instant::now() < deadline,
            "no body_too_large errors: {}",
            p.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let (peak, now) = (
        common::proc_status_bytes(p.child.id(), "VmHWM:"),
        common::proc_status_bytes(p.child.id(), "VmRSS:"),
    );
    eprintln!(
        "telltale after 3 polls of a {HUGE}-byte body: VmHWM {peak} bytes, VmRSS {now} bytes"
    );
    // The cap is 4 MiB and an idle telltale (debug build) holds about 14 MiB.
    assert!(
        peak < 40 << 20,
        "peak RSS {peak} bytes is not well below the {HUGE}-byte body"
    );
}
