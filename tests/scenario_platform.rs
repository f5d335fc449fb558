//! The hyphenmon + Zabbix platform end to end (issue 6, scenario a): `telltale demo-app` is the
//! application (polled as a JSON target), a real Zabbix 6.0 monitors the host (telltale's
//! `zabbix:` source reads its agent items), and a `correlate` rule joins the app's error ratio
//! with Zabbix's CPU load on the host within 10 s. With the app's error fault switched on, the
//! alert is delivered as an email to a real SMTP server (aiosmtpd) and as a webhook to a sink;
//! switched off, both receive the resolution.
//!
//! Needs the Zabbix that scripts/test starts (see `scenario_support::zabbix_url`).

mod common;
mod notify_support;
mod scenario_support;

use std::time::{Duration, Instant};

use notify_support::{tmpdir, wait_until, Sink};
use scenario_support::{alerts, demo_app, fault, header, telltale, zabbix_url, Smtp};

const LOAD: &str = "system.cpu.load[all,avg1]";

/// The app runs on the host Zabbix calls "Zabbix server", so its series carry that `host`.
/// "CPU load high" is `load >= 0`, which any real reading satisfies: the machine's real load is
/// not under the test's control, and what is tested is the join of the two sources within the
/// window and the delivery, not the load. The Zabbix item is collected every 10 s, so its
/// newest sample can be a little older than the window for a moment: `no_data: keep_last`
/// keeps the alert as it is then instead of resolving it.
const RULES: &str = r#"groups:
  - name: platform
    interval: 1s
    rules:
      - alert: ErrorsUnderLoad
        correlate:
          inputs:
            err: app_error_ratio
            load: zabbix_item_value{key="system.cpu.load[all,avg1]"}
          on: [host]
          window: 10s
          condition: err > 0.5 && load >= 0
        no_data: keep_last
        labels: {severity: page}
        annotations:
          summary: '{{ $labels.host }}: error ratio {{ $value | humanizePercentage }} while the CPU load is {{ $inputs.load }}'
"#;

const CONFIG: &str = r#"global: {scrape_interval: 1s, evaluation_interval: 1s}
system: {enabled: false}
rule_files: [rules.yml]
json_targets:
  - name: demo
    url: http://APP/metrics
    interval: 1s
    metrics:
      - {name: app_error_ratio, path: $.error_rate, labels: {host: Zabbix server}}
zabbix:
  - name: real
    url: ZABBIX
    interval: 2s
    username: Admin
    password: zabbix
    hosts: [Zabbix server]
    key_patterns: ['system\.cpu\.load\[.*\]']
alerting:
  webhooks:
    - {name: hook, url: 'HOOK', group_wait: 1s, group_interval: 1s}
  email:
    - name: mail
      smarthost: 127.0.0.1:SMTP
      tls: none
      from: telltale@example.org
      to: ops@example.org
      send_resolved: true
      group_wait: 0s
      group_interval: 1s
"#;

#[test]
fn errors_under_load_across_the_app_and_zabbix_reach_email_and_a_webhook() {
    let zabbix = zabbix_url();
    let dir = tmpdir("scenario-platform");
    let app = demo_app();
    let smtp = Smtp::start(&dir);
    let hook = Sink::start(common::free_port());
    let config = CONFIG
        .replace("APP", &app.addr())
        .replace("ZABBIX", &zabbix)
        .replace("HOOK", &hook.url("/hook"))
        .replace("SMTP", &smtp.proc.port.to_string());
    let tt = telltale(&dir, &config, RULES);
    let ctx = || {
        format!(
            "telltale:\n{}\nwebhook:\n{}\nsmtp:\n{}",
            tt.log_text(),
            hook.dump(),
            smtp.proc.log_text()
        )
    };
    // Both sources deliver: the app's ratio and Zabbix's load item, on the same host.
    let item = format!("zabbix_item_value{{host=\"Zabbix server\",key=\"{LOAD}\"");
    common::wait_metrics(&tt, 90, "the app's error ratio and the Zabbix load", |m| {
        m.contains("app_error_ratio{host=\"Zabbix server\",target=\"demo\"}") && m.contains(&item)
    });

    // Normal error ratio (~1 %): several evaluations, no alert.
    let quiet = Instant::now();
    while quiet.elapsed() < Duration::from_secs(4) {
        assert!(alerts(&tt, "ErrorsUnderLoad").is_empty(), "{}", ctx());
        std::thread::sleep(Duration::from_millis(250));
    }

    fault(&app, "error_rate=0.8");
    wait_until(
        45,
        "the firing email and webhook",
        || !smtp.messages().is_empty() && hook.count("ErrorsUnderLoad", "firing") > 0,
        ctx,
    );
    let a = &alerts(&tt, "ErrorsUnderLoad")[0];
    assert_eq!(a["state"], "firing", "{a}");
    assert_eq!(a["labels"]["host"], "Zabbix server", "{a}");
    let mail = &smtp.messages()[0];
    assert_eq!(
        header(mail, "Subject"),
        Some("[FIRING:1] ErrorsUnderLoad (Zabbix server page)"),
        "{mail}"
    );
    assert!(
        mail.contains("Zabbix server: error ratio 80% while the CPU load is "),
        "{mail}"
    );
    let (_, _, payload) = (hook.alerts().into_iter())
        .find(|(n, s, _)| n == "ErrorsUnderLoad" && s == "firing")
        .unwrap();
    let sent = &payload["alerts"][0];
    assert_eq!(sent["labels"]["host"], "Zabbix server", "{payload}");
    assert_eq!(sent["labels"]["severity"], "page", "{payload}");
    let summary = sent["annotations"]["summary"].as_str().unwrap();
    let load: f64 = (summary.rsplit(' ').next().unwrap().parse())
        .unwrap_or_else(|_| panic!("no load in {summary:?}"));
    assert!(load >= 0.0, "{summary}");

    // The fault off: the condition fails at once and both receivers get the resolution.
    fault(&app, "clear");
    wait_until(
        30,
        "the resolution email and webhook",
        || {
            hook.count("ErrorsUnderLoad", "resolved") > 0
                && (smtp.messages().iter()).any(|m| {
                    header(m, "Subject") == Some("[RESOLVED] ErrorsUnderLoad (Zabbix server page)")
                })
        },
        ctx,
    );
}
