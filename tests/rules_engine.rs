//! The rules engine in the running binary, fed by the textfile collector (whose input the test
//! controls): the lifecycle reaches firing and resolves, recording rules and `ALERTS` reach
//! `/metrics`, a reload keeps alert state, a bad reload keeps the old rules, a restart restores
//! state from the state file, and one failing rule does not stop the others.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

const RULES: &str = r#"groups:
  - name: e2e
    interval: 1s
    rules:
      - record: e2e:level:doubled
        expr: e2e_level * 2
      - alert: LevelHigh
        expr: e2e_level > 5
        for: 2s
        labels: {severity: critical}
        annotations: {summary: "level is {{ $value }}"}
      - record: e2e:multi
        expr: e2e_multi
        labels: {k: same}
"#;

struct Setup {
    dir: PathBuf,
    args: Vec<String>,
}

fn setup(name: &str) -> Setup {
    let dir = std::env::temp_dir().join(format!("telltale-rules-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("text")).unwrap();
    std::fs::write(
        dir.join("telltale.yml"),
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\nrule_files: [rules.yml]\nrules: {state_file: state.json}\n",
    )
    .unwrap();
    std::fs::write(dir.join("rules.yml"), RULES).unwrap();
    set_level(&dir, 10.0);
    let args = vec![
        "--web.listen-address=127.0.0.1:{port}".to_string(),
        format!("--config={}", dir.join("telltale.yml").display()),
        format!("--rules.state-file={}", dir.join("state.json").display()),
        "--collector.disable-defaults".into(),
        "--collector.textfile".into(),
        format!(
            "--collector.textfile.directory={}",
            dir.join("text").display()
        ),
    ];
    Setup { dir, args }
}

fn set_level(dir: &Path, v: f64) {
    let tmp = dir.join("text/e2e.prom.tmp");
    std::fs::write(
        &tmp,
        format!("e2e_level {v}\ne2e_multi{{k=\"a\"}} 1\ne2e_multi{{k=\"b\"}} 2\n"),
    )
    .unwrap();
    std::fs::rename(tmp, dir.join("text/e2e.prom")).unwrap();
}

fn json(addr: &str, path: &str) -> Value {
    serde_json::from_str(&common::get(addr, path)).unwrap()
}

fn alerts(addr: &str) -> Vec<Value> {
    json(addr, "/api/v1/alerts")["data"]["alerts"]
        .as_array()
        .unwrap()
        .clone()
}

/// Waits until `ok` holds for the alerts list; returns it.
fn wait_alerts(p: &common::Proc, what: &str, ok: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let a = alerts(&p.addr());
        if ok(&a) {
            return a;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {a:?}\n{}",
            p.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn firing(a: &[Value]) -> bool {
    a.len() == 1 && a[0]["state"] == "firing"
}

fn reload(addr: &str) -> u16 {
    common::http(addr, "POST", "/-/reload", &[], "")
        .unwrap()
        .status
}

#[test]
fn lifecycle_reload_and_restart_keep_alert_state() {
    let s = setup("life");
    let p = common::spawn(&common::bin(), &s.args, "/-/ready");
    let pending = wait_alerts(&p, "pending", |a| !a.is_empty());
    let fired = wait_alerts(&p, "firing", firing);
    let active_at = fired[0]["activeAt"].clone();
    if pending[0]["state"] == "pending" {
        assert_eq!(
            pending[0]["activeAt"], active_at,
            "pending and firing are one alert"
        );
    }
    assert_eq!(fired[0]["labels"]["severity"], "critical");
    assert_eq!(fired[0]["annotations"]["summary"], "level is 10");
    assert_eq!(fired[0]["value"], "1e+01");
    let m = common::wait_metrics(&p, 10, "rule output on /metrics", |m| {
        m.contains("e2e:level:doubled 20")
            && m.contains(
                r#"ALERTS{alertname="LevelHigh",alertstate="firing",severity="critical"} 1"#,
            )
    });
    assert!(m.contains("ALERTS_FOR_STATE{alertname=\"LevelHigh\",severity=\"critical\"}"));
    // The status page shows the firing alert, its rule with a chart of its input, and health.
    let page = common::get(&p.addr(), "/");
    for want in [
        "<tr class=\"firing\"><td>firing</td><td>LevelHigh</td>",
        "<b>summary</b>: level is 10",
        "<code>e2e_level &gt; 5</code>",
        "<polyline",
        "class=\"err\">err<br><small>vector contains metrics with the same labelset",
    ] {
        assert!(page.contains(want), "{want} not on the page:\n{page}");
    }

    // A reload with a new annotation keeps the alert (same activeAt, still firing).
    std::fs::write(s.dir.join("rules.yml"), RULES.replace("level is", "now")).unwrap();
    assert_eq!(reload(&p.addr()), 200);
    let after = wait_alerts(&p, "new annotation", |a| {
        firing(a) && a[0]["annotations"]["summary"] == "now 10"
    });
    assert_eq!(after[0]["activeAt"], active_at);

    // A bad rule file fails the reload and keeps the running rules and alerts.
    std::fs::write(s.dir.join("rules.yml"), "groups:\n  - name: [\n").unwrap();
    assert_eq!(reload(&p.addr()), 500);
    let m = common::get(&p.addr(), "/metrics");
    assert!(
        m.contains("telltale_config_last_reload_successful 0"),
        "{m}"
    );
    let rules = json(&p.addr(), "/api/v1/rules");
    assert_eq!(rules["data"]["groups"][0]["name"], "e2e");
    assert!(firing(&alerts(&p.addr())));

    // A restart restores the firing alert from the state file: no new pending period.
    std::fs::write(s.dir.join("rules.yml"), RULES).unwrap();
    p.terminate();
    let state = std::fs::read_to_string(s.dir.join("state.json")).unwrap();
    assert!(state.contains("LevelHigh"), "{state}");
    let p = common::spawn(&common::bin(), &s.args, "/-/ready");
    let restored = alerts(&p.addr());
    assert!(firing(&restored), "{restored:?}\n{}", p.log_text());
    assert_eq!(restored[0]["activeAt"], active_at);

    // The condition stops holding: the alert resolves and its series go stale.
    set_level(&s.dir, 1.0);
    wait_alerts(&p, "resolution", |a| a.is_empty());
    common::wait_metrics(&p, 10, "ALERTS gone", |m| {
        !m.contains("ALERTS{") && m.contains("e2e:level:doubled 2\n")
    });
}

#[test]
fn a_failing_rule_is_isolated_and_reported() {
    let s = setup("err");
    let p = common::spawn(&common::bin(), &s.args, "/-/ready");
    common::wait_metrics(&p, 15, "failures counted", |m| {
        m.contains("e2e:level:doubled 20")
            && m.lines().any(|l| {
                l.starts_with("telltale_rule_evaluation_failures_total{") && !l.ends_with(" 0")
            })
    });
    let rules = json(&p.addr(), "/api/v1/rules");
    let g = &rules["data"]["groups"][0];
    assert_eq!(g["interval"], 1.0);
    assert!(g["file"].as_str().unwrap().ends_with("rules.yml"));
    let r = g["rules"].as_array().unwrap();
    assert_eq!(r.len(), 3);
    assert_eq!(
        (r[0]["type"].as_str(), r[0]["health"].as_str()),
        (Some("recording"), Some("ok"))
    );
    assert_eq!(r[1]["type"], "alerting");
    assert_eq!(r[1]["duration"], 2.0);
    assert_eq!(r[1]["query"], "e2e_level > 5");
    assert_eq!(r[2]["health"], "err");
    assert!(
        r[2]["lastError"]
            .as_str()
            .unwrap()
            .contains("same labelset"),
        "{}",
        r[2]
    );
    let only_alerts = json(&p.addr(), "/api/v1/rules?type=alert");
    let r = only_alerts["data"]["groups"][0]["rules"]
        .as_array()
        .unwrap();
    assert_eq!(r.len(), 1);
    assert_eq!(r[0]["name"], "LevelHigh");
}
