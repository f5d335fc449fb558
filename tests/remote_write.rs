//! remote_write against a real Prometheus 2.42 (`--web.enable-remote-write-receiver`): pushed,
//! recorded and `ALERTS` series arrive with their labels, the external labels and their values;
//! with the receiver stopped for a while and restarted, the samples queued meanwhile arrive; a
//! second receiver that is down does not hold up the first and counts its retries and drops.

mod common;

use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

const RULES: &str = r#"groups:
  - name: rw
    interval: 1s
    rules:
      - record: rw:level:doubled
        expr: rw_level * 2
      - alert: RwLevelHigh
        expr: rw_level > 5
"#;

fn prometheus(dir: &Path, port: u16) -> common::Proc {
    std::fs::write(dir.join("prometheus.yml"), "global: {}\n").unwrap();
    let args = vec![
        format!("--config.file={}", dir.join("prometheus.yml").display()),
        format!("--storage.tsdb.path={}", dir.join("tsdb").display()),
        "--web.listen-address=127.0.0.1:{port}".to_string(),
        "--web.enable-remote-write-receiver".to_string(),
    ];
    common::spawn_on(
        &common::peer("/usr/bin/prometheus"),
        &args,
        "/-/ready",
        port,
    )
}

fn encode(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b':' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The result of an instant query.
fn query(prom: &common::Proc, q: &str) -> Vec<Value> {
    let body = common::get(&prom.addr(), &format!("/api/v1/query?query={}", encode(q)));
    let v: Value = serde_json::from_str(&body).unwrap();
    v["data"]["result"].as_array().cloned().unwrap_or_default()
}

fn wait_query(
    prom: &common::Proc,
    q: &str,
    what: &str,
    ok: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = query(prom, q);
        if ok(&r) {
            return r;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {q} = {r:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|v| v.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("{series} not in\n{text}"))
        .parse()
        .unwrap()
}

fn now_s() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[test]
fn series_arrive_with_labels_and_survive_a_receiver_outage() {
    let dir = std::env::temp_dir().join(format!("telltale-rw-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let prom_port = common::free_port();
    let mut prom = prometheus(&dir, prom_port);
    let down = common::free_port();
    let cfg = format!(
        "global: {{scrape_interval: 1s, evaluation_interval: 1s, external_labels: {{site: lab}}}}
system: {{enabled: false}}
push: {{}}
remote_write:
  - url: http://127.0.0.1:{prom_port}/api/v1/write
    name: prom
    batch_size: 100
    flush_interval: 200ms
    external_labels: {{replica: a}}
  - url: http://127.0.0.1:{down}/api/v1/write
    name: down
    queue_capacity: 50
    batch_size: 10
    flush_interval: 100ms
"
    );
    std::fs::write(dir.join("telltale.yml"), cfg).unwrap();
    std::fs::write(dir.join("rules.yml"), RULES).unwrap();
    let args = vec![
        "--web.listen-address=127.0.0.1:{port}".to_string(),
        format!("--config={}", dir.join("telltale.yml").display()),
        format!("--rules={}", dir.join("rules.yml").display()),
    ];
    let t = common::spawn(&common::bin(), &args, "/-/ready");
    let put = |body: &str| {
        let r = common::http(&t.addr(), "PUT", "/metrics/job/app/instance/i1", &[], body).unwrap();
        assert_eq!(r.status, 200, "{}", r.text());
    };
    put("# TYPE rw_level gauge\nrw_level{shard=\"0\"} 7.5\n");
    let r = common::http(
        &t.addr(),
        "POST",
        "/api/v1/metrics",
        &[],
        r#"{"metrics": [{"metric_id": "rw.api.count", "value": 4, "metric_type": "counter", "tags": {"k": "v"}}]}"#,
    )
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());

    let got = wait_query(&prom, "rw_level", "the pushed series", |r| r.len() == 1);
    let labels = &got[0]["metric"];
    assert_eq!(
        labels,
        &serde_json::json!({"__name__": "rw_level", "instance": "i1", "job": "app", "shard": "0", "site": "lab", "replica": "a"})
    );
    assert_eq!(got[0]["value"][1], "7.5");
    let api = wait_query(&prom, "rw_api_count_total", "the JSON-pushed series", |r| {
        r.len() == 1
    });
    assert_eq!(api[0]["metric"]["k"], "v");
    assert_eq!(api[0]["value"][1], "4");
    let rec = wait_query(&prom, "rw:level:doubled", "the recorded series", |r| {
        r.len() == 1
    });
    assert_eq!(rec[0]["value"][1], "15");
    assert_eq!(rec[0]["metric"]["site"], "lab");
    let alerts = wait_query(
        &prom,
        "ALERTS{alertname=\"RwLevelHigh\",alertstate=\"firing\"}",
        "ALERTS",
        |r| r.len() == 1,
    );
    assert_eq!(alerts[0]["metric"]["shard"], "0");
    let pt = wait_query(&prom, "push_time_seconds", "push times", |r| r.len() == 1);
    assert_eq!(pt[0]["metric"]["job"], "app");

    // The receiver goes away for a while; values pushed meanwhile are queued.
    prom.signal("TERM");
    let _ = prom.child.wait();
    let stopped_at = now_s();
    for v in 1..=6 {
        std::thread::sleep(Duration::from_millis(500));
        put(&format!(
            "# TYPE rw_level gauge\nrw_level{{shard=\"0\"}} {v}\nrw_outage_step {v}\n"
        ));
    }
    let m = common::get(&t.addr(), "/metrics");
    assert!(
        metric(&m, "telltale_remote_write_queue_length{remote=\"prom\"}") > 0.0,
        "{m}"
    );
    let restarted_at = now_s();
    prom = prometheus(&dir, prom_port);
    wait_query(&prom, "rw_outage_step", "the last outage value", |r| {
        r.first().is_some_and(|s| s["value"][1] == "6")
    });
    // Every step pushed during the outage arrived, each at the time it was pushed.
    let steps = wait_query(&prom, "rw_outage_step[5m]", "the outage samples", |r| {
        r.len() == 1
    });
    let points = steps[0]["values"].as_array().unwrap();
    let values: Vec<&str> = points.iter().map(|p| p[1].as_str().unwrap()).collect();
    for v in ["1", "2", "3", "4", "5", "6"] {
        assert!(values.contains(&v), "step {v} missing: {values:?}");
    }
    let during = points
        .iter()
        .filter(|p| {
            let t = p[0].as_f64().unwrap();
            t > stopped_at && t < restarted_at
        })
        .count();
    assert!(
        during >= 6,
        "{during} samples from the outage window: {points:?}"
    );

    let m = common::wait_metrics(&t, 20, "the queue to drain", |m| {
        m.contains("telltale_remote_write_queue_length{remote=\"prom\"} 0\n")
    });
    assert!(
        metric(
            &m,
            "telltale_remote_write_samples_retried_total{remote=\"prom\"}"
        ) > 0.0
    );
    assert!(
        metric(
            &m,
            "telltale_remote_write_samples_sent_total{remote=\"prom\"}"
        ) > 0.0
    );
    assert_eq!(
        metric(
            &m,
            "telltale_remote_write_samples_dropped_total{remote=\"prom\"}"
        ),
        0.0
    );
    assert_eq!(
        metric(
            &m,
            "telltale_remote_write_samples_failed_total{remote=\"prom\"}"
        ),
        0.0
    );
    // The receiver that never came up: nothing sent, retries counted, its small queue full.
    assert_eq!(
        metric(
            &m,
            "telltale_remote_write_samples_sent_total{remote=\"down\"}"
        ),
        0.0
    );
    assert!(
        metric(
            &m,
            "telltale_remote_write_samples_retried_total{remote=\"down\"}"
        ) > 0.0
    );
    assert!(
        metric(
            &m,
            "telltale_remote_write_samples_dropped_total{remote=\"down\"}"
        ) > 0.0
    );
    assert!(metric(&m, "telltale_remote_write_queue_length{remote=\"down\"}") >= 50.0);
}
