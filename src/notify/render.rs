//! What the grouping notifiers share when they render a group notification: status, common
//! labels, Alertmanager's subject line and label-set syntax, Go's time formats, and the data a
//! custom template sees.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{Message, OutAlert};
use crate::model::Labels;
use crate::template;
use crate::template::{StrMap, Template};

/// `firing` if any alert of the message is, else `resolved`.
pub fn status(m: &Message) -> &'static str {
    if m.alerts.iter().any(|a| !a.is_resolved_at(m.at_ms)) {
        "firing"
    } else {
        "resolved"
    }
}

pub fn alert_status(m: &Message, a: &OutAlert) -> &'static str {
    if a.is_resolved_at(m.at_ms) {
        "resolved"
    } else {
        "firing"
    }
}

pub fn counts(m: &Message) -> (usize, usize) {
    let firing = m
        .alerts
        .iter()
        .filter(|a| !a.is_resolved_at(m.at_ms))
        .count();
    (firing, m.alerts.len() - firing)
}

/// The pairs every alert has (Alertmanager's `commonLabels` / `commonAnnotations`).
pub fn common<'a>(sets: impl Iterator<Item = &'a Labels>) -> Labels {
    let mut out: Option<Labels> = None;
    for set in sets {
        out = Some(match out {
            None => set.clone(),
            Some(c) => c.into_iter().filter(|p| set.contains(p)).collect(),
        });
    }
    out.unwrap_or_default()
}

/// A label set as Alertmanager prints one: `{alertname="X", job="y"}`, values Go-quoted.
pub fn label_set_string(labels: &Labels) -> String {
    let mut sorted = labels.clone();
    sorted.sort();
    let parts: Vec<String> = sorted
        .iter()
        .map(|(k, v)| format!("{k}={}", go_quote(v)))
        .collect();
    format!("{{{}}}", parts.join(", "))
}

/// Go's `strconv.Quote` for the characters label values contain.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Go's `time.RFC3339Nano` of a UTC millisecond time: the fraction without trailing zeros.
pub fn rfc3339_nano(ms: i64) -> String {
    let full = crate::model::time::format_millis(ms);
    // `YYYY-MM-DDTHH:MM:SS.mmmZ`
    let (head, frac) = full.split_at(19);
    let digits = frac.trim_start_matches('.').trim_end_matches('Z');
    let digits = digits.trim_end_matches('0');
    if digits.is_empty() {
        format!("{head}Z")
    } else {
        format!("{head}.{digits}Z")
    }
}

/// Go's zero `time.Time`, which Alertmanager's payloads give a still-firing alert as `endsAt`.
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// Alertmanager's default subject: `[FIRING:2] Down node (prod)`: the status with the firing
/// count, the group label values, and in parentheses the common label values that are not
/// group labels.
pub fn subject(m: &Message) -> String {
    let st = status(m);
    let mut s = format!("[{}", st.to_uppercase());
    if st == "firing" {
        s.push_str(&format!(":{}", counts(m).0));
    }
    s.push(']');
    let group_values: Vec<&str> = m.group_labels.iter().map(|(_, v)| v.as_str()).collect();
    if !group_values.is_empty() {
        s.push(' ');
        s.push_str(&group_values.join(" "));
    }
    let common = common(m.alerts.iter().map(|a| &a.labels));
    let rest: Vec<&str> = common
        .iter()
        .filter(|(k, _)| !m.group_labels.iter().any(|(g, _)| g == k))
        .map(|(_, v)| v.as_str())
        .collect();
    if !rest.is_empty() {
        s.push_str(&format!(" ({})", rest.join(" ")));
    }
    s
}

/// Parses a custom body or subject template (a load-time error if it does not parse).
pub fn parse_template(what: &str, text: &str) -> Result<Template, String> {
    Template::parse(what, text)
}

/// What a custom template sees. The crate's template language knows maps of strings, not lists,
/// so a group notification is presented as: `.Labels` / `$labels` = the common labels;
/// `.ExternalLabels` / `$externalLabels` = the notification's fields (`receiver`, `status`,
/// `groupKey`, `externalURL`, `firing` and `resolved` counts, `truncatedAlerts`, `alerts` = the
/// alerts as the JSON array of the webhook payload, `payload` = the whole webhook payload) and
/// `annotation_<name>` for each common annotation; `$externalURL` = the external URL; `.Value`
/// / `$value` = the number of alerts.
pub fn template_data(
    m: &Message,
    receiver: &str,
    external_url: &str,
    alerts_json: &str,
    payload_json: &str,
    truncated: usize,
) -> template::Data {
    let common_labels = common(m.alerts.iter().map(|a| &a.labels));
    let common_ann = common(m.alerts.iter().map(|a| &a.annotations));
    let (firing, resolved) = counts(m);
    let mut fields: StrMap = BTreeMap::new();
    for (k, v) in [
        ("receiver", receiver.to_string()),
        ("status", status(m).to_string()),
        ("groupKey", m.group_key.clone()),
        ("externalURL", external_url.to_string()),
        ("firing", firing.to_string()),
        ("resolved", resolved.to_string()),
        ("truncatedAlerts", truncated.to_string()),
        ("alerts", alerts_json.to_string()),
        ("payload", payload_json.to_string()),
    ] {
        fields.insert(k.to_string(), v);
    }
    for (k, v) in common_ann {
        fields.insert(format!("annotation_{k}"), v);
    }
    template::Data {
        labels: Arc::new(common_labels.into_iter().collect()),
        external_labels: Arc::new(fields),
        external_url: external_url.to_string(),
        value: m.alerts.len() as f64,
        inputs: Arc::default(),
    }
}

/// Data of a made-up notification, for checking a template at load time.
pub fn sample_data() -> template::Data {
    let a = OutAlert {
        labels: vec![("alertname".into(), "Example".into())],
        annotations: vec![("summary".into(), "example".into())],
        starts_at_ms: 0,
        ends_at_ms: i64::MAX,
        generator_url: String::new(),
        resolved: false,
    };
    let m = Message {
        group_key: "{}:{alertname=\"Example\"}".into(),
        group_labels: a.labels.clone(),
        ..Message::batch(vec![a])
    };
    template_data(&m, "receiver", "", "[]", "{}", 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(pairs: &[(&str, &str)], resolved: bool) -> OutAlert {
        OutAlert {
            labels: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            annotations: vec![("summary".into(), "s".into())],
            starts_at_ms: 0,
            ends_at_ms: 1_000_000,
            generator_url: String::new(),
            resolved,
        }
    }

    fn msg(alerts: Vec<OutAlert>) -> Message {
        Message {
            seq: 0,
            group_key: "{}:{alertname=\"Down\"}".into(),
            group_labels: vec![("alertname".into(), "Down".into())],
            alerts,
            at_ms: 10,
        }
    }

    #[test]
    fn times_follow_go() {
        assert_eq!(rfc3339_nano(1_705_314_600_000), "2024-01-15T10:30:00Z");
        assert_eq!(rfc3339_nano(1_705_314_600_120), "2024-01-15T10:30:00.12Z");
        assert_eq!(rfc3339_nano(1_705_314_600_001), "2024-01-15T10:30:00.001Z");
    }

    #[test]
    fn label_sets_print_like_alertmanager() {
        let l = vec![
            ("job".to_string(), "n\"x".to_string()),
            ("alertname".to_string(), "A".to_string()),
        ];
        assert_eq!(label_set_string(&l), r#"{alertname="A", job="n\"x"}"#);
        assert_eq!(label_set_string(&Vec::new()), "{}");
        assert_eq!(go_quote("a\nb\u{1}"), r#""a\nb\x01""#);
    }

    #[test]
    fn subject_status_and_common_labels() {
        let m = msg(vec![
            a(&[("alertname", "Down"), ("env", "prod"), ("i", "1")], false),
            a(&[("alertname", "Down"), ("env", "prod"), ("i", "2")], true),
        ]);
        assert_eq!(status(&m), "firing");
        assert_eq!(counts(&m), (1, 1));
        assert_eq!(subject(&m), "[FIRING:1] Down (prod)");
        let resolved = msg(vec![a(&[("alertname", "Down")], true)]);
        assert_eq!(subject(&resolved), "[RESOLVED] Down");
        let d = template_data(&m, "team", "http://t", "[]", "{}", 0);
        assert_eq!(d.labels.get("env").map(String::as_str), Some("prod"));
        assert!(!d.labels.contains_key("i"));
        assert_eq!(
            d.external_labels
                .get("annotation_summary")
                .map(String::as_str),
            Some("s")
        );
        assert_eq!(d.value, 2.0);
    }
}
