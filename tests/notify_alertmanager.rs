//! Delivery against a real Alertmanager 0.25: telltale's dispatcher (through the hidden
//! `notify-driver` subcommand) posts to Alertmanager, which routes to a local webhook sink;
//! telltale's own webhook notifier posts to a second sink, and the two payloads are compared
//! field by field. Ports 19390-19392.

mod common;
mod notify_support;

use notify_support::{alert, now_ms, tmpdir, wait_until, Alertmanager, Driver, Sink};
use serde_json::Value;

/// The JSON type of each field of an object.
fn field_types(v: &Value) -> Vec<(String, &'static str)> {
    let mut out: Vec<(String, &'static str)> = v
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            let t = match v {
                Value::Null => "null",
                Value::Bool(_) => "bool",
                Value::Number(_) => "number",
                Value::String(_) => "string",
                Value::Array(_) => "array",
                Value::Object(_) => "object",
            };
            (k.clone(), t)
        })
        .collect();
    out.sort();
    out
}

/// Compares telltale's webhook payload with Alertmanager's for the same group: the same fields
/// with the same types, and equal values wherever the two must agree.
fn compare(am: &Value, ours: &Value) {
    assert_eq!(
        field_types(am),
        field_types(ours),
        "top-level fields\nam:   {am}\nours: {ours}"
    );
    let (a, o) = (&am["alerts"][0], &ours["alerts"][0]);
    assert_eq!(
        field_types(a),
        field_types(o),
        "alert fields\nam:   {a}\nours: {o}"
    );
    for key in [
        "status",
        "groupLabels",
        "commonLabels",
        "commonAnnotations",
        "version",
        "groupKey",
        "truncatedAlerts",
    ] {
        assert_eq!(am[key], ours[key], "{key}\nam:   {am}\nours: {ours}");
    }
    for key in [
        "status",
        "labels",
        "annotations",
        "startsAt",
        "endsAt",
        "generatorURL",
        "fingerprint",
    ] {
        assert_eq!(a[key], o[key], "alerts[0].{key}\nam:   {a}\nours: {o}");
    }
}

#[test]
fn alerts_fire_and_resolve_through_a_real_alertmanager() {
    let dir = tmpdir("notify-am");
    let am_sink = Sink::start(19391);
    let our_sink = Sink::start(19392);
    let mut am = Alertmanager::new(19390, &am_sink, &dir);
    am.start();
    let cfg = dir.join("telltale.yml");
    std::fs::write(
        &cfg,
        format!(
            "global:\n  external_labels: {{site: lab}}\n\
             alerting:\n  external_url: http://telltale.test:8465\n\
             \x20 alertmanagers:\n    - url: http://{}\n\
             \x20   - url: {}\n      path_prefix: /second/\n      basic_auth: {{username: u, password: p}}\n\
             \x20 webhooks:\n    - name: direct\n      url: {}\n      group_wait: 1s\n      group_interval: 1s\n\
             \x20 slack:\n    - name: chat\n      url: {}\n      group_wait: 1s\n      group_interval: 1s\n",
            am.addr(),
            our_sink.url(""),
            our_sink.url("/hook"),
            our_sink.url("/slack"),
        ),
    )
    .unwrap();
    let mut d = Driver::start(&cfg, None, &dir.join("driver.log"));
    let log = |d: &Driver| format!("driver:\n{}\nalertmanager:\n{}", d.log_text(), am.log());

    // startsAt with milliseconds, as telltale sends it.
    let start = now_ms() / 1000 * 1000 - 4_321;
    d.submit(vec![alert(
        "TelltaleDown",
        &[],
        start,
        now_ms() + 240_000,
        false,
    )]);
    let mut ours_fp = String::new();
    wait_until(
        20,
        "the alert at Alertmanager",
        || {
            let alerts = am.alerts();
            let Some(a) = alerts
                .iter()
                .find(|a| a["labels"]["alertname"] == "TelltaleDown")
            else {
                return false;
            };
            assert_eq!(a["labels"]["site"], "lab", "external label added: {a}");
            assert_eq!(a["annotations"]["summary"], "TelltaleDown on host-1");
            assert_eq!(
                a["generatorURL"],
                "http://telltale.test:8465/graph?g0.expr=TelltaleDown&g0.tab=1"
            );
            assert_eq!(a["status"]["state"], "active");
            ours_fp = a["fingerprint"].as_str().unwrap().to_string();
            true
        },
        || log(&d),
    );
    wait_until(
        20,
        "the firing notification at both sinks",
        || {
            am_sink.count("TelltaleDown", "firing") > 0
                && our_sink.count("TelltaleDown", "firing") > 0
        },
        || {
            format!(
                "{}\nam sink: {}\nour sink: {}",
                log(&d),
                am_sink.dump(),
                our_sink.dump()
            )
        },
    );
    let am_payload = am_sink.alerts()[0].2.clone();
    let our_payload = our_sink.alerts()[0].2.clone();
    assert_eq!(am_payload["alerts"][0]["labels"]["instance"], "host-1:9100");
    assert_eq!(am_payload["alerts"][0]["labels"]["site"], "lab");
    assert_eq!(am_payload["alerts"][0]["fingerprint"], ours_fp.as_str());
    compare(&am_payload, &our_payload);

    // HA fan-out: the second "Alertmanager" (the sink, under a path prefix, with basic auth)
    // got the same alert in the API v2 shape.
    let second: Vec<_> = our_sink
        .posts()
        .into_iter()
        .filter(|p| p.path == "/second/api/v2/alerts")
        .collect();
    assert!(!second.is_empty(), "{}", our_sink.dump());
    assert!(second[0]
        .headers
        .iter()
        .any(|(k, v)| k == "authorization" && v == "Basic dTpw"));
    assert_eq!(second[0].body[0]["labels"]["alertname"], "TelltaleDown");
    assert_eq!(
        second[0].body[0]["startsAt"],
        am_payload["alerts"][0]["startsAt"]
    );
    // Slack: text plus blocks.
    wait_until(
        10,
        "the Slack message",
        || our_sink.posts().iter().any(|p| p.path == "/slack"),
        || our_sink.dump(),
    );
    let slack = our_sink
        .posts()
        .into_iter()
        .find(|p| p.path == "/slack")
        .unwrap();
    assert_eq!(
        slack.body["text"], "[FIRING:1] TelltaleDown (host-1:9100 warning lab)",
        "{}",
        slack.body
    );
    assert_eq!(slack.body["blocks"][0]["type"], "header");
    assert!(slack.body["blocks"][1]["text"]["text"]
        .as_str()
        .unwrap()
        .contains("TelltaleDown on host-1"));
    assert_eq!(our_payload["externalURL"], "http://telltale.test:8465");
    assert_eq!(our_payload["receiver"], "direct");

    // The rule stops holding: the resolution reaches Alertmanager and the sinks.
    d.submit(vec![alert(
        "TelltaleDown",
        &[],
        start,
        now_ms() - 500,
        true,
    )]);
    wait_until(
        20,
        "the resolution at both sinks",
        || {
            am_sink.count("TelltaleDown", "resolved") > 0
                && our_sink.count("TelltaleDown", "resolved") > 0
        },
        || {
            format!(
                "{}\nam sink: {}\nour sink: {}",
                log(&d),
                am_sink.dump(),
                our_sink.dump()
            )
        },
    );
    assert!(am
        .alerts()
        .iter()
        .all(|a| a["labels"]["alertname"] != "TelltaleDown"));
    let am_resolved = am_sink
        .alerts()
        .into_iter()
        .find(|(_, s, _)| s == "resolved")
        .unwrap()
        .2;
    let our_resolved = our_sink
        .alerts()
        .into_iter()
        .find(|(_, s, _)| s == "resolved")
        .unwrap()
        .2;
    compare(&am_resolved, &our_resolved);
    assert_ne!(am_resolved["alerts"][0]["endsAt"], "0001-01-01T00:00:00Z");

    let am_name = format!("http://{}/api/v2/alerts", am.addr());
    assert_eq!(
        d.metric(&format!(
            "telltale_notifications_sent_total{{notifier=\"{am_name}\"}}"
        )),
        2.0
    );
    assert_eq!(
        d.metric("telltale_notifications_sent_total{notifier=\"direct\"}"),
        2.0
    );
    assert_eq!(
        d.metric(&format!(
            "telltale_notifications_latency_seconds_count{{notifier=\"{am_name}\"}}"
        )),
        2.0
    );
    // The start-up API check: the real one is v2, the sink is no Alertmanager at all.
    let log_text = d.log_text();
    assert!(
        log_text.contains("Alertmanager API v2 reachable") && log_text.contains("version=0.25"),
        "{log_text}"
    );
    assert!(log_text.contains("not JSON"), "{log_text}");
    // telltale's POSTs (all but its start-up GET of /api/v2/status) are JSON.
    for p in our_sink
        .posts()
        .iter()
        .filter(|p| !p.path.ends_with("/status"))
    {
        assert!(
            p.headers
                .iter()
                .any(|(k, v)| k == "content-type" && v == "application/json"),
            "{p:?}"
        );
    }
    // The self-metrics (a histogram among them) pass promtool's checks.
    let text = d.metrics();
    assert_eq!(
        common::promtool_unexpected(&text),
        Vec::<String>::new(),
        "{text}"
    );
    assert!(d.finish());
}
