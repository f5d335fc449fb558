//! Push ingest in the running binary: the seed platform's JSON and the Pushgateway form reach
//! `/metrics` and the rules (`--rules`), survive a reload, and every limit and malformed body is
//! refused with its status and message without changing anything. (The real Python client is
//! in `push_python.rs`.)

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

const RULES: &str = r#"groups:
  - name: pushed
    interval: 1s
    rules:
      - record: pushed:level:doubled
        expr: pg_level * 2
      - record: pushed:rotations
        expr: crypto_key_rotations
      - alert: PushedLevelHigh
        expr: pg_level > 5
"#;

fn start(name: &str, push: &str) -> (common::Proc, PathBuf) {
    let dir = std::env::temp_dir().join(format!("telltale-push-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = format!(
        "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\nsystem: {{enabled: false}}\npush: {push}\n"
    );
    std::fs::write(dir.join("telltale.yml"), cfg).unwrap();
    std::fs::write(dir.join("rules.yml"), RULES).unwrap();
    let args = vec![
        "--web.listen-address=127.0.0.1:{port}".to_string(),
        format!("--config={}", dir.join("telltale.yml").display()),
        format!("--rules={}", dir.join("rules.yml").display()),
    ];
    (common::spawn(&common::bin(), &args, "/-/ready"), dir)
}

fn send(p: &common::Proc, method: &str, path: &str, body: &str) -> common::Response {
    common::http(&p.addr(), method, path, &[], body).unwrap()
}

/// The series lines of `/metrics` for pushed metrics (not telltale's own, not push times).
fn pushed(p: &common::Proc) -> Vec<String> {
    common::series(&common::get(&p.addr(), "/metrics"))
        .into_iter()
        .filter(|l| {
            !l.starts_with("telltale_") && !l.starts_with("push_") && !l.starts_with("ALERTS")
        })
        .filter(|l| !l.starts_with("pushed:") && !l.starts_with("process_"))
        .collect()
}

const SEED: &str = r#"{"metrics": [{"metric_id": "crypto.key.access_count", "timestamp": "2024-01-15T10:30:00Z", "value": 42.0, "metric_type": "counter", "tags": {"key_type": "encryption", "algorithm": "AES-256"}}], "metadata": {"source": "kms"}}"#;

#[test]
fn seed_json_and_pushgateway_forms_reach_metrics_and_rules() {
    let (p, _dir) = start("forms", "{}");
    let r = send(&p, "POST", "/api/v1/metrics", SEED);
    assert_eq!(r.status, 200, "{}", r.text());
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["data"]["accepted"], 1);
    let now_s = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let fresh = format!(
        r#"{{"metrics": [{{"metric_id": "crypto.key.rotations", "timestamp": {now_s}, "value": 3, "metric_type": "gauge", "tags": {{"key_type": "signing"}}}}]}}"#
    );
    assert_eq!(send(&p, "POST", "/api/v1/metrics", &fresh).status, 200);
    let r = send(
        &p,
        "PUT",
        "/metrics/job/batch/instance/i1",
        "# TYPE pg_level gauge\npg_level 10\npg_other 1\n",
    );
    assert_eq!((r.status, r.text()), (200, String::new()));
    let m = common::get(&p.addr(), "/metrics");
    for want in [
        "crypto_key_access_count_total{algorithm=\"AES-256\",key_type=\"encryption\"} 42 1705314600000\n",
        "# TYPE crypto_key_access_count_total counter\n",
        "# TYPE pg_level gauge\npg_level{instance=\"i1\",job=\"batch\"} 10\n",
        "push_failure_time_seconds{instance=\"i1\",job=\"batch\"} 0\n",
        "push_time_seconds{instance=\"i1\",job=\"batch\"} ",
    ] {
        assert!(m.contains(want), "{want:?} not in\n{m}");
    }
    // Rules see both forms.
    common::wait_metrics(&p, 15, "rule outputs", |m| {
        m.contains("pushed:level:doubled{instance=\"i1\",job=\"batch\"} 20")
            && m.contains("pushed:rotations{key_type=\"signing\"} 3")
            && m.contains("ALERTS{alertname=\"PushedLevelHigh\",alertstate=\"firing\",instance=\"i1\",job=\"batch\"} 1")
    });
    // POST replaces only the names it pushes; PUT the whole group; DELETE removes it.
    assert_eq!(
        send(&p, "POST", "/metrics/job/batch/instance/i1", "pg_level 2\n").status,
        200
    );
    let got = pushed(&p);
    assert!(
        got.contains(&"pg_level{instance=\"i1\",job=\"batch\"} 2".to_string()),
        "{got:?}"
    );
    assert!(
        got.contains(&"pg_other{instance=\"i1\",job=\"batch\"} 1".to_string()),
        "{got:?}"
    );
    // A reload keeps push state.
    assert_eq!(send(&p, "POST", "/-/reload", "").status, 200);
    assert!(pushed(&p).contains(&"pg_other{instance=\"i1\",job=\"batch\"} 1".to_string()));
    assert_eq!(
        send(&p, "PUT", "/metrics/job/batch/instance/i1", "pg_level 3\n").status,
        200
    );
    assert!(!pushed(&p).iter().any(|l| l.starts_with("pg_other")));
    let r = send(&p, "DELETE", "/metrics/job/batch/instance/i1", "");
    assert_eq!(r.status, 202);
    assert!(!pushed(&p).iter().any(|l| l.starts_with("pg_")));
    common::wait_metrics(&p, 15, "the alert to resolve", |m| {
        !m.contains("alertname=\"PushedLevelHigh\"")
    });
}

/// Every refusal: (method, path, body, status, words in the message, reason counted).
#[test]
fn every_limit_and_malformed_body_is_refused_whole() {
    let limits = "{max_body_size: 600B, max_samples_per_request: 6, max_series_per_group: 4, max_series_per_job: 9, max_series: 13}";
    let (p, _dir) = start("limits", limits);
    assert_eq!(
        send(&p, "PUT", "/metrics/job/a/instance/1", "keep 1\nkeep2 1\n").status,
        200
    );
    assert_eq!(
        send(&p, "PUT", "/metrics/job/b", "keep 1\nkeep2 1\nkeep3 1\n").status,
        200
    );
    let before = pushed(&p);
    let big = format!("x{{l=\"{}\"}} 1\n", "v".repeat(700));
    let seven: String = (0..7).map(|i| format!("s{i} 1\n")).collect();
    let five: String = (0..5).map(|i| format!("s{i} 1\n")).collect();
    let four: String = (0..4).map(|i| format!("s{i} 1\n")).collect();
    let three: String = (0..3).map(|i| format!("s{i} 1\n")).collect();
    let json_seven = format!(
        "{{\"metrics\": [{}]}}",
        (0..7)
            .map(|i| format!("{{\"metric_id\": \"j{i}\", \"value\": 1}}"))
            .collect::<Vec<_>>()
            .join(",")
    );
    let cases: Vec<(&str, &str, String, u16, &str, &str)> = vec![
        (
            "PUT",
            "/metrics/job/a/instance/1",
            big,
            413,
            "larger than push.max_body_size (600 bytes)",
            "body_too_large",
        ),
        (
            "PUT",
            "/metrics/job/a/instance/1",
            seven,
            413,
            "7 samples in one request exceed push.max_samples_per_request (6)",
            "too_many_samples",
        ),
        (
            "POST",
            "/api/v1/metrics",
            json_seven,
            413,
            "push.max_samples_per_request (6)",
            "too_many_samples",
        ),
        (
            "PUT",
            "/metrics/job/a/instance/1",
            five,
            422,
            "5 series would pass push.max_series_per_group (4)",
            "group_series_limit",
        ),
        (
            "PUT",
            "/metrics/job/a/instance/2",
            four,
            422,
            "10 series would pass push.max_series_per_job (9)",
            "job_series_limit",
        ),
        (
            "PUT",
            "/metrics/job/c",
            three,
            422,
            "14 series would pass push.max_series (13)",
            "series_limit",
        ),
        (
            "PUT",
            "/metrics/job/a/instance/1",
            "keep 1\nkeep 2 oops\n".into(),
            400,
            "text format parsing error in line 2: ",
            "malformed",
        ),
        (
            "PUT",
            "/metrics/job/a/instance/1",
            "keep 1\nkeep 2\n".into(),
            400,
            "was pushed twice",
            "invalid",
        ),
        (
            "PUT",
            "/metrics/job/a/instance/1",
            "keep 1 1700000000000\n".into(),
            400,
            "must not have timestamps",
            "invalid",
        ),
        (
            "PUT",
            "/metrics/job/a/instance/1",
            "# TYPE keep counter\nkeep 1\n".into(),
            400,
            "keep is untyped in another group, pushed as counter",
            "invalid",
        ),
        (
            "PUT",
            "/metrics/job/a/instance",
            "x 1\n".into(),
            400,
            "odd number of components",
            "invalid",
        ),
        (
            "PUT",
            "/metrics/job/a/x@base64/!!",
            "x 1\n".into(),
            400,
            "invalid base64 encoding for label x",
            "invalid",
        ),
        (
            "PUT",
            "/metrics/job/a/__x/1",
            "x 1\n".into(),
            400,
            "improper label name \"__x\"",
            "invalid",
        ),
        (
            "POST",
            "/api/v1/metrics",
            "{\"metrics\": [{\"metric_id\": \"a\"}]}".into(),
            400,
            "missing field `value`",
            "malformed",
        ),
        (
            "POST",
            "/api/v1/metrics",
            "{\"metrics\": [{\"metric_id\": \"a\", \"value\": 1, \"metric_type\": \"histogram\"}]}"
                .into(),
            400,
            "is not one of counter, gauge, untyped",
            "malformed",
        ),
        (
            "POST",
            "/api/v1/metrics",
            "[1,2".into(),
            400,
            "invalid JSON body",
            "malformed",
        ),
    ];
    for (method, path, body, status, words, _) in &cases {
        let r = send(&p, method, path, body);
        assert_eq!(r.status, *status, "{method} {path}: {}", r.text());
        assert!(
            r.text().contains(words),
            "{method} {path}: {words:?} not in {}",
            r.text()
        );
        assert_eq!(pushed(&p), before, "{method} {path} changed something");
    }
    let r = common::http(
        &p.addr(),
        "PUT",
        "/metrics/job/a",
        &[("Content-Type", "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited")],
        "x",
    )
    .unwrap();
    assert_eq!(r.status, 415, "{}", r.text());
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, _, _, _, _, reason) in &cases {
        *counts.entry(reason).or_default() += 1;
    }
    *counts.entry("unsupported_media_type").or_default() += 1;
    let m = common::get(&p.addr(), "/metrics");
    for (reason, n) in counts {
        let line = format!("telltale_push_rejected_total{{reason=\"{reason}\"}} {n}\n");
        assert!(m.contains(&line), "{line:?} not in\n{m}");
    }
    // The failures touched the existing group's failure time only.
    assert!(
        !m.contains("push_failure_time_seconds{instance=\"1\",job=\"a\"} 0\n"),
        "{m}"
    );
    assert!(
        m.contains("push_failure_time_seconds{instance=\"\",job=\"b\"} 0\n"),
        "{m}"
    );
    let r = send(&p, "GET", "/metrics/job/a", "");
    assert_eq!(r.status, 405);
}

/// Item by item: a timestamp outside 1970..now+10m is refused with its reason, and so is a
/// sample older than the series' newest; nothing refused is acknowledged or stored.
#[test]
fn bad_and_out_of_order_timestamps_are_refused_with_a_reason() {
    let (p, _dir) = start("timestamps", "{}");
    let one = |id: &str, ts: &str| {
        let ts = if ts.is_empty() {
            String::new()
        } else {
            format!(", \"timestamp\": {ts}")
        };
        let body = format!(r#"{{"metrics": [{{"metric_id": "{id}", "value": 1{ts}}}]}}"#);
        let r = send(&p, "POST", "/api/v1/metrics", &body);
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        (r.status, v)
    };
    for (ts, words) in [
        (r#""9999-12-31T23:59:59Z""#, "too far in the future"),
        (r#""0000-01-01T00:00:00Z""#, "before 1970"),
        (r#""1969-12-31T23:59:59Z""#, "before 1970"),
        (r#""2016-12-31T23:59:60Z""#, "leap second"),
        ("1e308", "out of range"),
    ] {
        let (status, v) = one("pj", ts);
        assert_eq!(status, 400, "{ts}: {v}");
        assert_eq!(v["reason"], "timestamp", "{ts}: {v}");
        let e = v["error"].as_str().unwrap();
        assert!(e.starts_with("metrics[0] (\"pj\"): timestamp "), "{e}");
        assert!(e.contains(words), "{ts}: {e}");
    }
    assert!(pushed(&p).iter().all(|l| !l.starts_with("pj")));
    let now_s = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    // Five minutes ahead is within the tolerance; a current sample after it is out of order.
    let (status, v) = one("pj", &format!("{}", now_s + 300));
    assert_eq!(
        (status, &v["data"]["accepted"]),
        (200, &Value::from(1)),
        "{v}"
    );
    let (status, v) = one("pj", "");
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["reason"], "samples_rejected", "{v}");
    let e = v["error"].as_str().unwrap();
    assert!(e.contains("pj{") && e.ends_with(": out_of_order"), "{e}");
    // The same sample again is no change, so no refusal.
    let (status, v) = one("pj", &format!("{}", now_s + 300));
    assert_eq!(status, 200, "{v}");
    let (status, v) = one("pj", &format!("{}", now_s - 60));
    assert_eq!(
        (status, &v["reason"]),
        (400, &Value::from("samples_rejected"))
    );
    let m = common::get(&p.addr(), "/metrics");
    for line in [
        "telltale_push_rejected_total{reason=\"timestamp\"} 5\n",
        "telltale_push_rejected_total{reason=\"samples_rejected\"} 2\n",
        "telltale_samples_rejected_total{reason=\"out_of_order\"} 2\n",
    ] {
        assert!(m.contains(line), "{line:?} not in\n{m}");
    }
    let want = format!("pj 1 {}000", now_s + 300);
    assert_eq!(pushed(&p), [want]);
}

/// VmHWM (peak) or VmRSS of a process, in MiB.
fn mib(pid: u32, key: &str) -> f64 {
    common::proc_status_bytes(pid, key) as f64 / (1 << 20) as f64
}

/// Sends `body` in a PUT from another thread (the server may answer before it is all sent) and
/// returns the status line.
fn put_raw(addr: &str, path: &str, body: std::sync::Arc<String>) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .unwrap();
    let mut w = s.try_clone().unwrap();
    let head = format!(
        "PUT {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let writer = std::thread::spawn(move || {
        let _ = w.write_all(head.as_bytes());
        let _ = w.write_all(body.as_bytes());
    });
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    drop(s);
    let _ = writer.join();
    let text = String::from_utf8_lossy(&answer).into_owned();
    text.lines().next().unwrap_or("").to_string()
}

/// Issue 18's worst case: 15 MB bodies of 839,505 samples under the default limits are refused
/// without being parsed whole, one or six at once, so the peak RSS stays near the start.
#[test]
fn a_body_over_the_sample_limit_is_refused_without_memory_growth() {
    let (p, _dir) = start("memory", "{}");
    let body: String = (0..839_505)
        .map(|i| format!("m{i}{{l=\"a\"}} 1\n"))
        .collect();
    assert!(body.len() > 14_000_000 && body.len() < 16 << 20);
    let body = std::sync::Arc::new(body);
    let pid = p.child.id();
    let start_peak = mib(pid, "VmHWM:");
    let status = put_raw(&p.addr(), "/metrics/job/one", std::sync::Arc::clone(&body));
    assert!(status.contains(" 413 "), "{status}");
    let six: Vec<_> = (0..6)
        .map(|g| {
            let (addr, body) = (p.addr(), std::sync::Arc::clone(&body));
            std::thread::spawn(move || put_raw(&addr, &format!("/metrics/job/g{g}"), body))
        })
        .collect();
    for t in six {
        let status = t.join().unwrap();
        assert!(status.contains(" 413 "), "{status}");
    }
    let grew = mib(pid, "VmHWM:") - start_peak;
    assert!(grew < 64.0, "the peak RSS grew by {grew:.1} MiB");
    let m = common::get(&p.addr(), "/metrics");
    assert!(
        m.contains("telltale_push_rejected_total{reason=\"too_many_samples\"} 7\n"),
        "{m}"
    );
    assert!(pushed(&p).is_empty());
}
