//! `telltale demo-app` drives telltale end to end: faults switched on in the app show in
//! telltale's /metrics within one poll interval (plus slack), and clearing them restores it.

mod common;

use std::time::{Duration, Instant};

const INTERVAL: Duration = Duration::from_secs(1);
/// Scheduling, HTTP and a slow shared machine.
const SLACK: Duration = Duration::from_millis(1500);

fn value(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.split(' ').next()?.parse().ok())
}

/// Waits until `series` satisfies `ok` (None = absent) and returns how long it took.
fn wait_for(
    tt: &common::Proc,
    series: &str,
    within: Duration,
    ok: impl Fn(Option<f64>) -> bool,
) -> Duration {
    let start = Instant::now();
    loop {
        let m = common::get(&tt.addr(), "/metrics");
        if ok(value(&m, series)) {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < within,
            "{series} did not change within {within:?}; last /metrics:\n{m}\n{}",
            tt.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn post(app: &common::Proc, path: &str) -> String {
    let r = common::http(&app.addr(), "POST", path, &[], "").unwrap();
    assert_eq!(r.status, 200, "POST {path}: {}", r.text());
    r.text()
}

#[test]
fn faults_in_the_demo_app_show_within_one_interval() {
    let bin = common::bin();
    let app = common::spawn(
        &bin,
        &[
            "demo-app".into(),
            "--listen".into(),
            "127.0.0.1:{port}".into(),
        ],
        "/health",
    );
    let body = common::get(&app.addr(), "/metrics");
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    for key in ["timestamp", "response_time_ms", "error_rate"] {
        assert!(doc[key].is_number(), "{key} in {body}");
    }
    let dir = std::env::temp_dir().join(format!("telltale-demo-{}", app.port));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("telltale.yml");
    std::fs::write(
        &cfg,
        format!(
            "system: {{enabled: false}}\njson_targets:\n  - name: demo\n    url: http://{}/metrics\n    interval: 1s\n    timestamp_path: $.timestamp\n    metrics:\n      - {{name: app_error_rate, path: $.error_rate}}\n      - {{name: app_response_time_seconds, value: response_time_ms / 1000}}\n",
            app.addr()
        ),
    )
    .unwrap();
    let tt = common::spawn(
        &bin,
        &[
            format!("--config={}", cfg.display()),
            "--web.listen-address=127.0.0.1:{port}".into(),
        ],
        "/-/ready",
    );
    let rate = "app_error_rate{target=\"demo\"}";
    let seconds = "app_response_time_seconds{target=\"demo\"}";
    let up = "telltale_target_up{target=\"demo\"}";
    let normal = |v: Option<f64>| v.is_some_and(|v| v < 0.05);
    wait_for(&tt, rate, Duration::from_secs(10), normal);
    let rt = value(&common::get(&tt.addr(), "/metrics"), seconds).unwrap();
    assert!((0.05..0.2).contains(&rt), "normal response time {rt}s");

    let faults = post(&app, "/fault?error_rate=0.8&latency_ms=2500");
    assert!(faults.contains("\"error_rate\":0.8"), "{faults}");
    let took = wait_for(&tt, rate, INTERVAL + SLACK, |v| v == Some(0.8));
    eprintln!("error_rate=0.8 visible after {took:?}");
    wait_for(&tt, seconds, INTERVAL + SLACK, |v| v == Some(2.5));
    assert!(common::get(&app.addr(), "/fault").contains("\"latency_ms\":2500"));

    post(&app, "/fault/clear");
    let took = wait_for(&tt, rate, INTERVAL + SLACK, normal);
    eprintln!("cleared fault visible after {took:?}");

    // An HTTP fault takes the target down and its data series away; clearing brings them back.
    post(&app, "/fault?status=500");
    wait_for(&tt, up, INTERVAL + SLACK, |v| v == Some(0.0));
    wait_for(&tt, rate, INTERVAL + SLACK, |v| v.is_none());
    let m = common::get(&tt.addr(), "/metrics");
    assert!(
        value(
            &m,
            "telltale_target_scrape_errors_total{reason=\"http_status\",target=\"demo\"}"
        )
        .is_some_and(|n| n >= 1.0),
        "{m}"
    );
    post(&app, "/fault/clear");
    wait_for(&tt, up, INTERVAL + SLACK, |v| v == Some(1.0));
    wait_for(&tt, rate, INTERVAL + SLACK, normal);
}

#[test]
fn demo_app_faults_make_health_and_metrics_misbehave() {
    let app = common::spawn(
        &common::bin(),
        &[
            "demo-app".into(),
            "--listen".into(),
            "127.0.0.1:{port}".into(),
        ],
        "/health",
    );
    assert_eq!(common::get(&app.addr(), "/health").trim(), "ok");
    post(&app, "/fault?garbage=1");
    let body = common::get(&app.addr(), "/metrics");
    assert!(
        serde_json::from_str::<serde_json::Value>(&body).is_err(),
        "{body}"
    );
    post(&app, "/fault?garbage=0&status=503&delay_ms=300");
    let start = Instant::now();
    let r = common::http(&app.addr(), "GET", "/health", &[], "").unwrap();
    assert_eq!(r.status, 503);
    assert!(start.elapsed() >= Duration::from_millis(300));
    let r = common::http(&app.addr(), "POST", "/fault?error_rate=7", &[], "").unwrap();
    assert_eq!(r.status, 400, "{}", r.text());
    post(&app, "/fault/clear");
    assert_eq!(
        common::get(&app.addr(), "/fault"),
        r#"{"delay_ms":0,"error_rate":null,"garbage":false,"latency_ms":null,"status":null}"#
    );
}
