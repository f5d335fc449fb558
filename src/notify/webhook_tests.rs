use super::*;
use crate::notify::config::ReceiverCommon;
use crate::notify::group::GroupSettings;
use crate::notify::OutAlert;

fn alert(instance: &str, ends: i64, resolved: bool) -> OutAlert {
    OutAlert {
        labels: vec![
            ("alertname".into(), "InstanceDown".into()),
            ("instance".into(), instance.into()),
            ("job".into(), "node".into()),
        ],
        annotations: vec![("summary".into(), format!("{instance} down"))],
        starts_at_ms: 1_787_306_700_000,
        ends_at_ms: ends,
        generator_url: "http://t:8465/graph?g0.expr=up+%3D%3D+0&g0.tab=1".into(),
        resolved,
    }
}

fn message() -> Message {
    Message {
        seq: 7,
        group_key: "{}:{alertname=\"InstanceDown\"}".into(),
        group_labels: vec![("alertname".into(), "InstanceDown".into())],
        alerts: vec![
            alert("a:9100", 1_787_306_940_000, false),
            alert("b:9100", 1_787_306_760_500, true),
        ],
        at_ms: 1_787_306_800_000,
    }
}

fn hook(max_alerts: usize, body_template: Option<&str>) -> Webhook {
    let cfg = WebhookConfig {
        common: ReceiverCommon {
            name: "team-x".into(),
            group: GroupSettings::default(),
            max_alerts,
        },
        url: "http://127.0.0.1:1/hook".into(),
        http: HttpConfig::default(),
        body_template: body_template.map(String::from),
    };
    Webhook::new(&cfg, "http://telltale:8465").unwrap()
}

#[test]
fn version_4_payload_golden() {
    let body = hook(0, None).body(&message()).unwrap();
    let want = concat!(
        r#"{"receiver":"team-x","status":"firing","alerts":["#,
        r#"{"status":"firing","labels":{"alertname":"InstanceDown","instance":"a:9100","job":"node"},"#,
        r#""annotations":{"summary":"a:9100 down"},"startsAt":"2026-08-21T10:05:00Z","endsAt":"0001-01-01T00:00:00Z","#,
        r#""generatorURL":"http://t:8465/graph?g0.expr=up+%3D%3D+0&g0.tab=1","fingerprint":"FP_A"},"#,
        r#"{"status":"resolved","labels":{"alertname":"InstanceDown","instance":"b:9100","job":"node"},"#,
        r#""annotations":{"summary":"b:9100 down"},"startsAt":"2026-08-21T10:05:00Z","endsAt":"2026-08-21T10:06:00.5Z","#,
        r#""generatorURL":"http://t:8465/graph?g0.expr=up+%3D%3D+0&g0.tab=1","fingerprint":"FP_B"}],"#,
        r#""groupLabels":{"alertname":"InstanceDown"},"commonLabels":{"alertname":"InstanceDown","job":"node"},"#,
        r#""commonAnnotations":{},"externalURL":"http://telltale:8465","version":"4","#,
        r#""groupKey":"{}:{alertname=\"InstanceDown\"}","truncatedAlerts":0}"#
    );
    let m = message();
    let want = want
        .replace("FP_A", &format!("{:016x}", m.alerts[0].fingerprint()))
        .replace("FP_B", &format!("{:016x}", m.alerts[1].fingerprint()));
    assert_eq!(body, want);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["alerts"][0]["fingerprint"].as_str().unwrap().len(), 16);
}

#[test]
fn max_alerts_truncates_and_counts() {
    let body = hook(1, None).body(&message()).unwrap();
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["alerts"].as_array().unwrap().len(), 1);
    assert_eq!(v["truncatedAlerts"], 1);
    // Common labels are those of the alerts sent.
    assert_eq!(v["commonLabels"]["instance"], "a:9100");
}

#[test]
fn all_resolved_is_a_resolved_notification() {
    let mut m = message();
    m.alerts.remove(0);
    let v: serde_json::Value = serde_json::from_str(&hook(0, None).body(&m).unwrap()).unwrap();
    assert_eq!(v["status"], "resolved");
    assert_eq!(v["commonAnnotations"]["summary"], "b:9100 down");
}

#[test]
fn a_custom_body_template_sees_the_notification() {
    let t = r#"{"text": "{{ $labels.alertname }} {{ .ExternalLabels.status }} {{ $value }} via {{ $externalLabels.receiver }}", "alerts": {{ $externalLabels.alerts }}}"#;
    let body = hook(0, Some(t)).body(&message()).unwrap();
    let v: serde_json::Value = serde_json::from_str(&body).expect("the template makes JSON");
    assert_eq!(v["text"], "InstanceDown firing 2 via team-x");
    assert_eq!(v["alerts"][1]["status"], "resolved");
    let bad = hook(0, Some("{{ index .Labels 1 }}")).body(&message());
    let e = bad.unwrap_err();
    assert!(!e.retryable && e.reason == "template", "{e:?}");
}
