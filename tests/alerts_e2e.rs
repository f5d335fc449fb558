//! The whole path, engine to receivers, against a real Alertmanager 0.25: a rule over a textfile
//! metric fires in telltale's engine, the alert appears in Alertmanager's own
//! `GET /api/v2/alerts` and is routed to a webhook sink, and telltale's own webhook notifier
//! delivers it too; when the condition stops holding, both resolutions arrive. A restart with
//! a state file keeps `startsAt` at Alertmanager unchanged. Ports 19380-19382.

mod common;
mod notify_support;

use notify_support::{tmpdir, wait_until, Alertmanager, Sink};

fn set_level(dir: &std::path::Path, v: f64) {
    let tmp = dir.join("text/x.prom.tmp");
    std::fs::write(
        &tmp,
        format!("e2e_disk_used_ratio{{mount=\"/data\"}} {v}\n"),
    )
    .unwrap();
    std::fs::rename(tmp, dir.join("text/x.prom")).unwrap();
}

#[test]
fn a_rule_fires_and_resolves_through_alertmanager_and_a_webhook() {
    let dir = tmpdir("alerts-e2e");
    std::fs::create_dir_all(dir.join("text")).unwrap();
    set_level(&dir, 0.97);
    let am_sink = Sink::start(19381);
    let hook = Sink::start(19382);
    let mut am = Alertmanager::new(19380, &am_sink, &dir);
    am.start();
    std::fs::write(
        dir.join("rules.yml"),
        "groups:\n  - name: disk\n    interval: 1s\n    rules:\n      - alert: DiskAlmostFull\n        expr: e2e_disk_used_ratio > 0.9\n        labels: {severity: critical}\n        annotations: {summary: '{{ $labels.mount }} is {{ $value | humanizePercentage }} full'}\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("telltale.yml"),
        format!(
            "global: {{scrape_interval: 1s, evaluation_interval: 1s, external_labels: {{site: lab}}}}\n\
rule_files: [rules.yml]\nrules: {{state_file: state.json}}\n\
alerting:\n  resend_delay: 2s\n  webhooks:\n    - {{name: direct, url: '{}', group_wait: 1s, group_interval: 1s}}\n",
            hook.url("/hook")
        ),
    )
    .unwrap();
    let args = vec![
        "--web.listen-address=127.0.0.1:{port}".to_string(),
        format!("--config={}", dir.join("telltale.yml").display()),
        format!("--alertmanager.url=http://{}", am.addr()),
        "--collector.disable-defaults".into(),
        "--collector.textfile".into(),
        format!(
            "--collector.textfile.directory={}",
            dir.join("text").display()
        ),
    ];
    let tt = common::spawn(&common::bin(), &args, "/-/ready");
    let mut starts_at = String::new();
    wait_until(
        20,
        "the alert in Alertmanager's API",
        || {
            let alerts = am.alerts();
            let Some(a) = alerts
                .iter()
                .find(|a| a["labels"]["alertname"] == "DiskAlmostFull")
            else {
                return false;
            };
            assert_eq!(a["labels"]["mount"], "/data");
            assert_eq!(a["labels"]["severity"], "critical");
            assert_eq!(a["labels"]["site"], "lab", "external labels added");
            assert_eq!(a["annotations"]["summary"], "/data is 97% full");
            assert!(a["generatorURL"]
                .as_str()
                .unwrap()
                .contains("/graph?g0.expr=e2e_disk_used_ratio+%3E+0.9&g0.tab=1"));
            starts_at = a["startsAt"].as_str().unwrap().to_string();
            true
        },
        || format!("{}\n{}", tt.log_text(), am.log()),
    );
    wait_until(
        20,
        "the firing notification routed by Alertmanager and sent by telltale's webhook",
        || {
            am_sink.count("DiskAlmostFull", "firing") > 0
                && hook.count("DiskAlmostFull", "firing") > 0
        },
        || format!("{}\n{}\n{}", am_sink.dump(), hook.dump(), tt.log_text()),
    );
    let m = common::get(&tt.addr(), "/metrics");
    assert!(
        m.lines()
            .any(|l| l.starts_with("telltale_notifications_sent_total{") && !l.ends_with(" 0")),
        "{m}"
    );

    // A restart keeps the alert's identity: same startsAt at Alertmanager.
    tt.terminate();
    let tt = common::spawn(&common::bin(), &args, "/-/ready");
    std::thread::sleep(std::time::Duration::from_secs(3));
    let alerts = am.alerts();
    let a = alerts
        .iter()
        .find(|a| a["labels"]["alertname"] == "DiskAlmostFull")
        .unwrap();
    assert_eq!(a["startsAt"].as_str().unwrap(), starts_at, "{a}");

    set_level(&dir, 0.5);
    wait_until(
        30,
        "the resolution at both sinks",
        || {
            am_sink.count("DiskAlmostFull", "resolved") > 0
                && hook.count("DiskAlmostFull", "resolved") > 0
        },
        || format!("{}\n{}\n{}", am_sink.dump(), hook.dump(), tt.log_text()),
    );
    am.stop();
}
