use super::*;
use crate::yaml;

fn parse(text: &str) -> Result<AlertingConfig, Vec<String>> {
    let root = yaml::parse("a.yml", text).unwrap();
    let mut d = Decoder::new("a.yml");
    let c = decode(&mut d, &root, "alerting");
    if d.ok() {
        Ok(c)
    } else {
        Err(d.diags.iter().map(|x| x.to_string()).collect())
    }
}

#[test]
fn defaults_follow_prometheus_and_alertmanager() {
    let c = parse("").unwrap();
    assert_eq!(c.resend_delay, Duration::from_secs(60));
    assert_eq!(c.queue_capacity, 10_000);
    assert_eq!(c.batch_size, 64);
    assert!(c.is_empty());
    let c = parse(
        "webhooks: [{name: w, url: 'http://h/x'}]\n\
         email: {name: m, smarthost: 'mx:25', from: a@b.c, to: 'x@y.z, q@y.z'}\n\
         slack: [{name: s, url: 'http://h/s'}]\n",
    )
    .unwrap();
    let w = &c.webhooks[0].common;
    assert!(w.group.send_resolved);
    assert_eq!(w.group.group_wait_ms, 30_000);
    assert_eq!(w.group.group_interval_ms, 300_000);
    assert_eq!(w.group.repeat_interval_ms, 4 * 3_600_000);
    assert_eq!(w.group.group_by, Some(vec!["alertname".to_string()]));
    let e = &c.email[0];
    assert!(!e.common.group.send_resolved);
    assert!(!c.slack[0].common.group.send_resolved);
    assert_eq!(e.to, vec!["x@y.z", "q@y.z"]);
    assert_eq!(
        (e.host.as_str(), e.port, e.tls),
        ("mx", 25, SmtpTls::StartTls)
    );
    assert_eq!(e.hello, "localhost");
}

#[test]
fn a_full_section_decodes() {
    let c = parse(
        "external_url: http://telltale:8465/\n\
         resend_delay: 30s\nqueue_capacity: 100\nbatch_size: 10\n\
         alertmanagers:\n\
         - url: http://am1:9093/\n  path_prefix: /am/\n  timeout: 3s\n  basic_auth: {username: u, password: p}\n\
         - url: https://am2:9093\n  bearer_token: t\n  tls_config: {insecure_skip_verify: true}\n\
         webhooks:\n\
         - name: hook\n  url: http://h:1/x\n  group_by: ['...']\n  group_wait: 0s\n  group_interval: 1s\n  repeat_interval: 1h\n  send_resolved: false\n  max_alerts: 5\n  body_template: '{\"n\": \"{{ $value }}\"}'\n\
         slack:\n- {name: chat, url: 'https://hooks.example/T', channel: '#ops'}\n\
         email:\n- name: mail\n  smarthost: 'mail:465'\n  from: telltale@example.org\n  to: [ops@example.org]\n  auth_username: u\n  auth_password: p\n  subject: '{{ $labels.alertname }}'\n",
    )
    .unwrap();
    assert_eq!(c.external_url, "http://telltale:8465");
    assert_eq!(c.resend_delay, Duration::from_secs(30));
    assert_eq!((c.queue_capacity, c.batch_size), (100, 10));
    assert_eq!(
        c.alertmanagers[0].api("alerts"),
        "http://am1:9093/am/api/v2/alerts"
    );
    assert_eq!(c.alertmanagers[0].http.timeout, Duration::from_secs(3));
    assert_eq!(c.alertmanagers[1].http.bearer_token.as_deref(), Some("t"));
    let w = &c.webhooks[0];
    assert_eq!(w.common.group.group_by, None);
    assert_eq!(w.common.group.group_wait_ms, 0);
    assert!(!w.common.group.send_resolved);
    assert_eq!(w.common.max_alerts, 5);
    assert!(w.body_template.is_some());
    assert_eq!(c.slack[0].channel.as_deref(), Some("#ops"));
    let e = &c.email[0];
    assert_eq!(e.tls, SmtpTls::Implicit);
    assert_eq!(e.auth, Some(("u".into(), "p".into())));
}

#[test]
fn every_problem_is_reported_with_its_position() {
    let got = parse(
        "resend_delay: 0s\nqueue_capacity: 0\nbogus: 1\n\
         alertmanagers:\n- url: ftp://am\n  path_prefix: am\n  extra: 1\n\
         webhooks:\n- url: http://h\n- name: w\n  url: http://h\n  group_by: [bad-label]\n  body_template: '{{ nosuch }}'\n\
         - name: w\n  url: http://h\n\
         email:\n  name: m\n  smarthost: mail\n  from: not-an-address\n  to: []\n  tls: ssl\n",
    )
    .unwrap_err();
    let want = [
        "a.yml:1:15: alerting.resend_delay: must be greater than 0",
        "a.yml:2:17: alerting.queue_capacity: must be greater than 0",
        "a.yml:3:1: alerting: unknown field \"bogus\" in alerting",
        "a.yml:5:8: alerting.alertmanagers[0].url: not an http(s) URL: \"ftp://am\"",
        "a.yml:6:16: alerting.alertmanagers[0].path_prefix: must start with /",
        "a.yml:7:3: alerting.alertmanagers[0]: unknown field \"extra\" in alertmanager",
        "a.yml:9:6: alerting.webhooks[0]: a receiver needs a name",
        "a.yml:12:13: alerting.webhooks[1].group_by: invalid label name \"bad-label\"",
        "a.yml:14:9: alerting.webhooks[2].name: duplicate notifier \"w\"",
    ];
    for w in want {
        assert!(got.iter().any(|g| g == w), "missing {w:?} in {got:#?}");
    }
    for part in [
        "alerting.webhooks[1].body_template: error parsing template",
        "alerting.email.smarthost: want host:port, got \"mail\"",
        "alerting.email.from: invalid address \"not-an-address\"",
        "alerting.email.to: needs at least one address",
        "alerting.email.tls: unknown tls mode \"ssl\"",
    ] {
        assert!(
            got.iter().any(|g| g.contains(part)),
            "missing {part:?} in {got:#?}"
        );
    }
}

#[test]
fn a_bad_ca_file_fails_the_load() {
    let got =
        parse("alertmanagers:\n- url: https://am\n  tls_config: {ca_file: /nonexistent/ca.pem}\n")
            .unwrap_err();
    assert!(
        got[0].contains("tls_config.ca_file: cannot read ca_file /nonexistent/ca.pem"),
        "{got:?}"
    );
    let got = parse(
        "email: {name: m, smarthost: 'h:25', from: a@b.c, to: d@e.f, tls_config: {ca_file: /nonexistent/ca.pem}}\n",
    )
    .unwrap_err();
    assert!(got[0].contains("cannot read ca_file"), "{got:?}");
}
