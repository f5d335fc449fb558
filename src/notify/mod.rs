//! Delivery of alerts: the rules engine hands `OutAlert`s to the `Dispatcher`, which queues them
//! per notifier target and delivers them in the background (evaluation never waits), with
//! retries, a bounded queue, self-metrics and persistence of what is still pending.
//!
//! Two kinds of notifier:
//! - batching (`Mode::Batch`): Alertmanager's `POST /api/v2/alerts`, every alert as it comes,
//!   several per request; Alertmanager groups and routes;
//! - grouping (`Mode::Grouped`): webhooks, email and Slack, which talk to people or to receivers
//!   built for Alertmanager, so telltale groups as Alertmanager would (`group`).
//!
//! Notifiers are built from the `alerting:` config in one place, `build`.
#![allow(dead_code)] // The engine (another branch) calls the API; the tests drive it meanwhile.

pub mod alertmanager;
pub mod config;
mod config_email;
mod config_receivers;
pub mod dispatcher;
pub mod driver;
pub mod email;
pub mod group;
pub mod queue;
pub mod render;
pub mod slack;
pub mod stats;
pub mod webhook;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use dispatcher::Dispatcher;

use crate::exposition::Labels;

/// One alert on its way out: `rules::alert_out::Notification` plus the link to its rule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OutAlert {
    #[serde(with = "label_map")]
    pub labels: Labels,
    #[serde(with = "label_map", default)]
    pub annotations: Labels,
    pub starts_at_ms: i64,
    pub ends_at_ms: i64,
    #[serde(default)]
    pub generator_url: String,
    #[serde(default)]
    pub resolved: bool,
}

impl OutAlert {
    pub fn from_notification(n: &crate::rules::alert_out::Notification, url: &str) -> Self {
        OutAlert {
            labels: n.labels.clone(),
            annotations: n.annotations.clone(),
            starts_at_ms: n.starts_at_ms,
            ends_at_ms: n.ends_at_ms,
            generator_url: url.to_string(),
            resolved: n.resolved,
        }
    }

    /// Resolved by the engine, or past its `endsAt` (the engine stopped re-sending it).
    pub fn is_resolved_at(&self, now_ms: i64) -> bool {
        self.resolved || self.ends_at_ms <= now_ms
    }

    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn fingerprint(&self) -> u64 {
        fingerprint(&self.labels)
    }
}

/// Prometheus' `generatorURL`: `<external_url>/graph?g0.expr=<expr, query-escaped as Go's
/// url.QueryEscape does>&g0.tab=1`.
pub fn generator_url(external_url: &str, expr: &str) -> String {
    let mut q = String::with_capacity(expr.len() * 3);
    for b in expr.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                q.push(b as char)
            }
            b' ' => q.push('+'),
            _ => q.push_str(&format!("%{b:02X}")),
        }
    }
    format!(
        "{}/graph?g0.expr={q}&g0.tab=1",
        external_url.trim_end_matches('/')
    )
}

/// The identity of a label set, as 16 hex digits in payloads.
///
/// FNV-1a (64 bit) over the label pairs sorted by name, each name and value followed by the byte
/// 0xff (a byte that never occurs in UTF-8, so `a="bc"` and `ab="c"` differ). This is the
/// scheme of Prometheus' `model.LabelSet.Fingerprint`, chosen so that the fingerprints in
/// telltale's webhook payloads equal the ones Alertmanager shows for the same alert (the
/// integration test checks this against a real Alertmanager).
pub fn fingerprint(labels: &Labels) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h = OFFSET;
    let mut add = |(k, v): &(String, String)| {
        for part in [k.as_bytes(), &[0xff], v.as_bytes(), &[0xff]] {
            for b in part {
                h ^= u64::from(*b);
                h = h.wrapping_mul(PRIME);
            }
        }
    };
    // Alerts carry sorted labels (the dispatcher sorts them once): no copy to sort then.
    if labels.is_sorted() {
        labels.iter().for_each(&mut add);
    } else {
        let mut sorted: Vec<&(String, String)> = labels.iter().collect();
        sorted.sort();
        sorted.into_iter().for_each(add);
    }
    h
}

/// What one `send` delivers: a batch of alerts (batching notifiers), or one group's
/// notification (grouping notifiers; `group_key` and `group_labels` set).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Assigned by the queue; identifies the message across retries.
    #[serde(default)]
    pub seq: u64,
    #[serde(default)]
    pub group_key: String,
    #[serde(with = "label_map", default)]
    pub group_labels: Labels,
    pub alerts: Vec<OutAlert>,
    /// When the group was flushed: an alert is resolved in this message if it was at that time.
    #[serde(default)]
    pub at_ms: i64,
}

impl Message {
    pub fn batch(alerts: Vec<OutAlert>) -> Self {
        Message {
            seq: 0,
            group_key: String::new(),
            group_labels: Vec::new(),
            alerts,
            at_ms: 0,
        }
    }
}

/// Why a delivery failed. `reason` is a bounded set of values for the failure counter:
/// `connect`, `timeout`, `http_5xx`, `http_429`, `http_4xx`, `http_other`, `smtp_transient`,
/// `smtp_permanent`, `tls`, `encode`.
#[derive(Clone, Debug, PartialEq)]
pub struct SendError {
    /// Worth trying again (connection refused, timeout, 5xx, 429, SMTP 4xx); otherwise the
    /// message is dropped after counting, as a retry would get the same answer.
    pub retryable: bool,
    pub reason: &'static str,
    pub message: String,
}

impl SendError {
    pub fn new(retryable: bool, reason: &'static str, message: impl Into<String>) -> Self {
        SendError {
            retryable,
            reason,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.reason)
    }
}

/// The result of an HTTP POST: 2xx is delivered; 429 and 5xx are worth a retry; any other
/// status is permanent (a malformed payload or bad credentials do not heal by themselves).
pub fn classify_status(status: u16, body: &[u8]) -> Result<(), SendError> {
    let text = || {
        let b = String::from_utf8_lossy(&body[..body.len().min(256)]);
        format!("bad response status {status}: {}", b.trim())
    };
    match status {
        200..=299 => Ok(()),
        429 => Err(SendError::new(true, "http_429", text())),
        500..=599 => Err(SendError::new(true, "http_5xx", text())),
        400..=499 => Err(SendError::new(false, "http_4xx", text())),
        _ => Err(SendError::new(false, "http_other", text())),
    }
}

/// A transport failure from `sources::http::fetch`: all worth a retry.
pub fn classify_fetch(e: crate::sources::http::FetchError) -> SendError {
    use crate::sources::http::FetchError;
    match e {
        FetchError::Timeout => SendError::new(true, "timeout", "request timed out"),
        FetchError::BodyTooLarge(n) => {
            SendError::new(false, "http_other", format!("response over {n} bytes"))
        }
        other => SendError::new(true, "connect", other.to_string()),
    }
}

pub type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<(), SendError>> + Send + 'a>>;

/// How the dispatcher feeds a notifier.
#[derive(Clone, Debug, PartialEq)]
pub enum Mode {
    /// Alerts as they come, up to this many per `send`.
    Batch(usize),
    /// Grouped as Alertmanager groups, one group notification per `send`.
    Grouped(group::GroupSettings),
}

/// One delivery target (one Alertmanager instance, one webhook URL, one mail route, ...).
pub trait Notifier: Send + Sync {
    /// The `notifier` label of the self-metrics; unique among targets.
    fn name(&self) -> &str;
    fn mode(&self) -> Mode;
    /// The deadline of one `send`.
    fn timeout(&self) -> Duration;
    fn send<'a>(&'a self, msg: &'a Message) -> SendFuture<'a>;
    /// Runs once in the background when the dispatcher starts (e.g. an API version check).
    fn startup_check(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(async {})
    }
}

/// Every notifier the config describes: the one place where notifier kinds are registered.
pub fn build(cfg: &config::AlertingConfig) -> Result<Vec<Arc<dyn Notifier>>, String> {
    let mut out: Vec<Arc<dyn Notifier>> = Vec::new();
    for c in &cfg.alertmanagers {
        out.push(Arc::new(alertmanager::Alertmanager::new(
            c,
            cfg.batch_size,
        )?));
    }
    for c in &cfg.webhooks {
        out.push(Arc::new(webhook::Webhook::new(c, &cfg.external_url)?));
    }
    for c in &cfg.email {
        out.push(Arc::new(email::Email::new(c, &cfg.external_url)?));
    }
    for c in &cfg.slack {
        out.push(Arc::new(slack::Slack::new(c, &cfg.external_url)?));
    }
    Ok(out)
}

/// Serialises sorted label pairs as a JSON object (as every payload and the state file want).
pub mod label_map {
    use serde::de::{Deserializer, MapAccess, Visitor};
    use serde::ser::{SerializeMap, Serializer};

    use crate::exposition::Labels;

    pub fn serialize<S: Serializer>(labels: &Labels, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(labels.len()))?;
        for (k, v) in labels {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Labels, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Labels;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object of strings")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Labels, A::Error> {
                let mut out = Labels::new();
                while let Some((k, v)) = a.next_entry::<String, String>()? {
                    out.push((k, v));
                }
                out.sort();
                out.dedup_by(|a, b| a.0 == b.0);
                Ok(out)
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn fingerprint_is_order_independent_and_separates_pairs() {
        let a = fingerprint(&l(&[("alertname", "A"), ("job", "node")]));
        let b = fingerprint(&l(&[("job", "node"), ("alertname", "A")]));
        assert_eq!(a, b);
        assert_ne!(
            fingerprint(&l(&[("a", "bc")])),
            fingerprint(&l(&[("ab", "c")]))
        );
        // The empty label set hashes to the FNV offset basis.
        assert_eq!(fingerprint(&Vec::new()), 0xcbf2_9ce4_8422_2325);
        assert_eq!(format!("{:016x}", fingerprint(&l(&[("a", "b")]))).len(), 16);
    }

    #[test]
    fn generator_urls_escape_like_go() {
        assert_eq!(
            generator_url("http://prom:9090/", "up == 0"),
            "http://prom:9090/graph?g0.expr=up+%3D%3D+0&g0.tab=1"
        );
        assert_eq!(
            generator_url("", r#"rate(x{a="b/c"}[5m]) > 0.5"#),
            "/graph?g0.expr=rate%28x%7Ba%3D%22b%2Fc%22%7D%5B5m%5D%29+%3E+0.5&g0.tab=1"
        );
    }

    #[test]
    fn status_classification_decides_retries() {
        assert!(classify_status(200, b"").is_ok());
        assert!(classify_status(204, b"").is_ok());
        let e = classify_status(503, b"down").unwrap_err();
        assert!(e.retryable && e.reason == "http_5xx" && e.message.contains("down"));
        let e = classify_status(429, b"").unwrap_err();
        assert!(e.retryable && e.reason == "http_429");
        let e = classify_status(400, b"bad alert").unwrap_err();
        assert!(!e.retryable && e.reason == "http_4xx");
        let e = classify_status(401, b"").unwrap_err();
        assert!(!e.retryable);
        let e = classify_status(302, b"").unwrap_err();
        assert!(!e.retryable && e.reason == "http_other");
        use crate::sources::http::FetchError;
        let e = classify_fetch(FetchError::Connect("refused".into()));
        assert!(e.retryable && e.reason == "connect");
        assert_eq!(classify_fetch(FetchError::Timeout).reason, "timeout");
    }

    #[test]
    fn alerts_round_trip_through_json_with_label_objects() {
        let a = OutAlert {
            labels: l(&[("b", "2"), ("a", "1")]),
            annotations: Vec::new(),
            starts_at_ms: 1,
            ends_at_ms: 2,
            generator_url: String::new(),
            resolved: false,
        };
        let j = serde_json::to_string(&a).unwrap();
        assert!(j.starts_with(r#"{"labels":{"b":"2","a":"1"}"#), "{j}");
        let back: OutAlert = serde_json::from_str(&j).unwrap();
        assert_eq!(back.labels, l(&[("a", "1"), ("b", "2")]));
        assert!(!back.is_resolved_at(1) && back.is_resolved_at(2));
    }
}
