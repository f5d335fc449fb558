//! Rule kinds in the running binary, fed by the textfile collector (whose input the test
//! controls): a `correlate` alert fires only while both of its inputs hold, shows on
//! `/api/v1/alerts` with its inputs in the annotations and resolves when one stops holding; a
//! `correlation` rule exports `telltale_correlation` and its lag on `/metrics`.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

const RULES: &str = r#"groups:
  - name: kinds
    interval: 1s
    rules:
      - alert: BothHigh
        correlate:
          inputs: {a: cc_a, b: cc_b}
          window: 3s
          condition: a > 5 && b > 5
        labels: {severity: page}
        annotations:
          summary: 'a={{ $inputs.a }} b={{ .Inputs.b }} value={{ $value }}'
      - alert: Together
        correlation: {x: cc_x, y: cc_y, window: 30s, min_points: 5, threshold: 0.9}
"#;

fn write(dir: &Path, a: f64, b: f64, i: u32) {
    let tmp = dir.join("text/cc.prom.tmp");
    // y = 3x + 1 with x wandering: r = 1 at lag 0.
    let x = f64::from(i % 7) + f64::from(i % 3);
    let text = format!(
        "cc_a{{host=\"h\"}} {a}\ncc_b{{host=\"h\"}} {b}\ncc_x{{host=\"h\"}} {x}\ncc_y{{host=\"h\"}} {}\n",
        3.0 * x + 1.0
    );
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(tmp, dir.join("text/cc.prom")).unwrap();
}

/// The value of the series printed as `series` on a `/metrics` page.
fn value(metrics: &str, series: &str) -> Option<f64> {
    (metrics.lines())
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.parse().ok())
}

fn alerts(addr: &str) -> Vec<Value> {
    let v: Value = serde_json::from_str(&common::get(addr, "/api/v1/alerts")).unwrap();
    v["data"]["alerts"].as_array().unwrap().clone()
}

fn both_high(a: &[Value]) -> Vec<Value> {
    (a.iter())
        .filter(|x| x["labels"]["alertname"] == "BothHigh")
        .cloned()
        .collect()
}

#[test]
fn correlate_fires_only_while_both_inputs_hold_and_correlation_is_exported() {
    let dir = std::env::temp_dir().join(format!("telltale-correlate-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("text")).unwrap();
    std::fs::write(
        dir.join("telltale.yml"),
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\nrule_files: [rules.yml]\n",
    )
    .unwrap();
    std::fs::write(dir.join("rules.yml"), RULES).unwrap();
    let mut i = 0;
    write(&dir, 10.0, 1.0, i);
    let args = vec![
        "--web.listen-address=127.0.0.1:{port}".to_string(),
        format!("--config={}", dir.join("telltale.yml").display()),
        "--collector.disable-defaults".into(),
        "--collector.textfile".into(),
        format!(
            "--collector.textfile.directory={}",
            dir.join("text").display()
        ),
    ];
    let p = common::spawn(&common::bin(), &args, "/-/ready");
    // Keeps the textfile changing (x and y must vary to correlate) with the given a and b
    // until `ok` holds for the BothHigh alerts.
    let mut until = |a: f64, b: f64, what: &str, ok: &dyn Fn(&[Value]) -> bool| -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            i += 1;
            write(&dir, a, b, i);
            let got = both_high(&alerts(&p.addr()));
            if ok(&got) {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {got:?}\n{}",
                p.log_text()
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    };

    // Only a holds: several evaluations pass without an alert.
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(4) {
        assert!(until(10.0, 1.0, "nothing", &|a| a.is_empty()).is_empty());
        std::thread::sleep(Duration::from_millis(300));
    }
    let rules: Value = serde_json::from_str(&common::get(&p.addr(), "/api/v1/rules")).unwrap();
    let r = &rules["data"]["groups"][0]["rules"][0];
    assert_eq!(r["health"], "ok", "{r}");
    assert_eq!(
        r["query"],
        "correlate: {a: cc_a, b: cc_b} within 3s if a > 5 && b > 5"
    );

    // Both hold: the alert fires, labelled by the join labels, with the inputs in templates.
    let fired = until(10.0, 7.0, "firing", &|a| {
        a.len() == 1 && a[0]["state"] == "firing"
    });
    assert_eq!(fired[0]["labels"]["host"], "h");
    assert_eq!(fired[0]["labels"]["severity"], "page");
    assert_eq!(fired[0]["annotations"]["summary"], "a=10 b=7 value=10");
    let m = common::wait_metrics(&p, 15, "ALERTS and telltale_correlation", |m| {
        m.contains(r#"ALERTS{alertname="BothHigh",alertstate="firing",host="h",severity="page"} 1"#)
            && value(m, r#"telltale_correlation{host="h",rule="Together"}"#)
                .is_some_and(|r| r > 0.999)
    });
    assert!(
        m.contains("# HELP telltale_correlation Correlation coefficient"),
        "{m}"
    );
    assert!(
        m.contains(r#"telltale_correlation_lag_seconds{host="h",rule="Together"} 0"#),
        "{m}"
    );
    let together: Vec<Value> = (alerts(&p.addr()).into_iter())
        .filter(|a| a["labels"]["alertname"] == "Together")
        .collect();
    assert_eq!(together.len(), 1, "{together:?}");
    assert_eq!(together[0]["state"], "firing");

    // b stops holding: the alert resolves.
    until(10.0, 2.0, "resolution", &|a| a.is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}
