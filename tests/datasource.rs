//! Datasource mode against a real Prometheus (2.42) that scrapes telltale: a group with a
//! `datasource:` is evaluated through Prometheus' `/api/v1/query` with the full language
//! (here `hour()`, which the local evaluator does not implement), recording rules write into
//! telltale's store, `no_data: alerting` fires when the remote has no such series, and the
//! resulting `ALERTS` travel back into Prometheus through its scrape.

mod common;

use std::time::{Duration, Instant};

use serde_json::Value;

fn get_json(addr: &str, path: &str) -> Value {
    serde_json::from_str(&common::get(addr, path)).unwrap()
}

#[test]
fn datasource_rules_run_on_a_real_prometheus() {
    let prometheus = common::peer("/usr/bin/prometheus");
    let dir = std::env::temp_dir().join(format!("telltale-ds-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("text")).unwrap();
    std::fs::write(dir.join("text/e2e.prom"), "e2e_level 10\n").unwrap();
    let prom_port = common::free_port();
    std::fs::write(
        dir.join("rules.yml"),
        format!(
            r#"groups:
  - name: remote
    interval: 1s
    datasource: {{url: "http://127.0.0.1:{prom_port}", timeout: 5s}}
    rules:
      - record: e2e:remote:level
        expr: max by (job) (e2e_level) + 0 * scalar(hour())
      - alert: RemoteLevelHigh
        expr: e2e_level > 5 and on() (hour() >= 0)
        labels: {{severity: warning}}
        annotations: {{summary: "{{{{ $labels.job }}}} at {{{{ $value }}}}"}}
      - alert: RemoteInputMissing
        expr: e2e_no_such_metric > 1
        no_data: alerting
"#
        ),
    )
    .unwrap();
    let tt = common::spawn(
        &common::bin(),
        &[
            "--web.listen-address=127.0.0.1:{port}".to_string(),
            format!("--rules={}", dir.join("rules.yml").display()),
            "--collector.disable-defaults".into(),
            "--collector.textfile".into(),
            format!(
                "--collector.textfile.directory={}",
                dir.join("text").display()
            ),
        ],
        "/-/ready",
    );
    std::fs::write(
        dir.join("prometheus.yml"),
        format!(
            "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\nscrape_configs:\n  - job_name: telltale\n    static_configs: [{{targets: ['{}']}}]\n",
            tt.addr()
        ),
    )
    .unwrap();
    let prom = common::spawn_on(
        &prometheus,
        &[
            format!("--config.file={}", dir.join("prometheus.yml").display()),
            format!("--storage.tsdb.path={}", dir.join("data").display()),
            format!("--web.listen-address=127.0.0.1:{prom_port}"),
        ],
        "/-/ready",
        prom_port,
    );
    let deadline = Instant::now() + Duration::from_secs(40);
    let alerts = loop {
        let a = get_json(&tt.addr(), "/api/v1/alerts")["data"]["alerts"].clone();
        let firing = |name: &str| {
            a.as_array()
                .unwrap()
                .iter()
                .any(|x| x["labels"]["alertname"] == name && x["state"] == "firing")
        };
        if firing("RemoteLevelHigh") && firing("RemoteInputMissing") {
            break a;
        }
        assert!(
            Instant::now() < deadline,
            "remote alerts never fired: {a}\n{}\n{}",
            tt.log_text(),
            prom.log_text()
        );
        std::thread::sleep(Duration::from_millis(300));
    };
    let high = alerts
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["labels"]["alertname"] == "RemoteLevelHigh")
        .unwrap();
    assert_eq!(high["labels"]["job"], "telltale");
    assert_eq!(high["annotations"]["summary"], "telltale at 10");
    let missing = alerts
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["labels"]["alertname"] == "RemoteInputMissing")
        .unwrap();
    assert_eq!(missing["labels"]["telltale_reason"], "no_data");
    common::wait_metrics(&tt, 10, "the remote recording rule", |m| {
        m.contains("e2e:remote:level{job=\"telltale\"} 10")
    });
    // And back: Prometheus scrapes telltale's ALERTS.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = get_json(
            &prom.addr(),
            "/api/v1/query?query=ALERTS%7Balertname%3D%22RemoteLevelHigh%22%2Calertstate%3D%22firing%22%7D",
        );
        if r["data"]["result"].as_array().is_some_and(|v| v.len() == 1) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus never saw ALERTS: {r}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let rules = get_json(&tt.addr(), "/api/v1/rules");
    let r = &rules["data"]["groups"][0]["rules"];
    assert!(
        r.as_array().unwrap().iter().all(|x| x["health"] == "ok"),
        "{r}"
    );
}
