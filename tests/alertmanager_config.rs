//! The shipped `alertmanager/alertmanager.yml`: valid for amtool, routes telltale's alerts by
//! tenant and severity as documented, and a real Alertmanager 0.25 running it routes what
//! telltale sends and inhibits a warning under a critical alert of the same instance.
//! Loopback ports chosen free at run time.

mod common;
mod notify_support;

use std::process::Command;

use notify_support::{alert, now_ms, tmpdir, wait_until, Driver};

fn amtool(args: &[&str]) -> (bool, String) {
    let out = Command::new(common::peer("/usr/bin/amtool"))
        .args(args)
        .current_dir(common::root())
        .output()
        .unwrap();
    let mut s = String::from_utf8_lossy(&out.stdout).into_owned();
    s.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), s)
}

#[test]
fn amtool_accepts_the_shipped_config() {
    let (ok, out) = amtool(&["check-config", "alertmanager/alertmanager.yml"]);
    assert!(ok, "{out}");
    assert!(
        out.contains("1 inhibit rules") && out.contains("1 templates"),
        "{out}"
    );
}

#[test]
fn routes_follow_tenant_and_severity() {
    for (labels, want) in [
        (&["severity=critical", "tenant=acme"][..], "acme-pager"),
        (&["severity=warning", "tenant=acme"], "acme-mail"),
        (&["severity=info", "tenant=acme"], "acme-mail"),
        (
            &["severity=critical", "tenant=globex"],
            "globex-slack,globex-webhook",
        ),
        (&["severity=warning", "tenant=globex"], "globex-webhook"),
        (&["severity=critical"], "ops-pager"),
        (&["severity=warning"], "ops-mail"),
        (&["alertname=NoSeverity"], "ops-webhook"),
    ] {
        let mut args = vec![
            "config",
            "routes",
            "test",
            "--config.file=alertmanager/alertmanager.yml",
        ];
        args.extend_from_slice(labels);
        let (ok, out) = amtool(&args);
        assert!(ok, "{out}");
        let got = out
            .lines()
            .find(|l| !l.starts_with("Warning"))
            .unwrap_or("")
            .trim();
        assert_eq!(got, want, "{labels:?}");
    }
}

#[test]
fn a_real_alertmanager_routes_and_inhibits_telltale_alerts() {
    let dir = tmpdir("am-shipped");
    let cfg = common::root().join("alertmanager/alertmanager.yml");
    let am = common::spawn(
        &common::peer("/usr/bin/prometheus-alertmanager"),
        &[
            format!("--config.file={}", cfg.display()),
            format!("--storage.path={}", dir.join("data").display()),
            "--web.listen-address=127.0.0.1:{port}".into(),
            "--cluster.listen-address=".into(),
        ],
        "/-/ready",
    );
    let tt = dir.join("telltale.yml");
    std::fs::write(
        &tt,
        format!(
            "alerting:\n  alertmanagers:\n    - url: http://{}\n",
            am.addr()
        ),
    )
    .unwrap();
    let mut d = Driver::start(&tt, None, &dir.join("driver.log"));
    let start = now_ms() - 60_000;
    let ends = now_ms() + 600_000;
    let tenant = [("tenant", "acme")];
    let mut critical = alert("DiskFull", &tenant, start, ends, false);
    critical["labels"]["severity"] = "critical".into();
    let warning = alert("DiskFull", &tenant, start, ends, false);
    let mut elsewhere = alert("DiskFull", &tenant, start, ends, false);
    elsewhere["labels"]["instance"] = "host-2:9100".into();
    d.submit(vec![critical, warning, elsewhere]);

    let get = || -> Vec<serde_json::Value> {
        common::http(&am.addr(), "GET", "/api/v2/alerts", &[], "")
            .ok()
            .and_then(|r| serde_json::from_slice(&r.body).ok())
            .unwrap_or_default()
    };
    let find = |alerts: &[serde_json::Value], sev: &str, inst: &str| {
        alerts
            .iter()
            .find(|a| a["labels"]["severity"] == sev && a["labels"]["instance"] == inst)
            .cloned()
    };
    wait_until(
        20,
        "the warning to be inhibited",
        || {
            let a = get();
            find(&a, "warning", "host-1:9100").is_some_and(|w| w["status"]["state"] == "suppressed")
        },
        || format!("{:#?}\n{}", get(), am.log_text()),
    );
    let alerts = get();
    let c = find(&alerts, "critical", "host-1:9100").unwrap();
    assert_eq!(c["status"]["state"], "active", "{c}");
    assert_eq!(c["receivers"][0]["name"], "acme-pager", "{c}");
    let w = find(&alerts, "warning", "host-1:9100").unwrap();
    assert_eq!(
        w["status"]["inhibitedBy"].as_array().unwrap().len(),
        1,
        "{w}"
    );
    assert_eq!(w["receivers"][0]["name"], "acme-mail", "{w}");
    // Another instance's warning is not inhibited.
    let other = find(&alerts, "warning", "host-2:9100").unwrap();
    assert_eq!(other["status"]["state"], "active", "{other}");
    assert!(d.finish());
}
