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

pub mod alertmanager;
pub mod config;
pub mod dispatcher;
pub mod group;
pub mod payload;
pub mod queue;
pub mod receiver;
pub mod render;
pub mod stats;

use std::any::Any;
use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use dispatcher::Dispatcher;

use crate::config::yaml::{Decoder, Fields};
use crate::http_client::retry::SendError;
use crate::model::Labels;
use config::ReceiverCommon;

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
    for r in &cfg.receivers {
        out.push(r.build(&cfg.external_url)?);
    }
    Ok(out)
}

/// One kind of grouping receiver under `alerting:` (Alertmanager's receiver configs): its key,
/// its defaults and how one entry is decoded. Adding one is a file with its `RECEIVER` (an
/// `XConfig`, its decoder and its [`Notifier`]) and a line in [`RECEIVERS`].
pub struct Receiver {
    pub key: &'static str,
    /// Alertmanager's `send_resolved` default for the kind.
    pub send_resolved: bool,
    /// A lone mapping is taken as a list of one (`email:`).
    pub one_or_many: bool,
    /// Decodes one entry's own keys; the common ones (`name`, grouping) are decoded already
    /// (`None` when they had a problem, which the decoder holds).
    pub decode: DecodeReceiver,
}

/// A receiver kind's decoder, see [`Receiver::decode`].
pub type DecodeReceiver =
    fn(&mut Decoder, &mut Fields, Option<ReceiverCommon>) -> Option<Arc<dyn ReceiverConfig>>;

// Every receiver kind, in one list.
crate::registry! { pub const RECEIVERS: &[Receiver] = RECEIVER; webhook, slack, email }

/// A decoded receiver entry, which builds its notifier.
pub trait ReceiverConfig: Debug + Send + Sync {
    fn build(&self, external_url: &str) -> Result<Arc<dyn Notifier>, String>;
    fn as_any(&self) -> &dyn Any;
    fn same(&self, other: &dyn ReceiverConfig) -> bool;
}

impl PartialEq for dyn ReceiverConfig {
    fn eq(&self, other: &Self) -> bool {
        self.same(other)
    }
}

/// What a receiver kind's config implements; the rest of [`ReceiverConfig`] follows.
pub trait BuildNotifier: Debug + PartialEq + Send + Sync + 'static {
    fn build(&self, external_url: &str) -> Result<Arc<dyn Notifier>, String>;
}

impl<T: BuildNotifier> ReceiverConfig for T {
    fn build(&self, external_url: &str) -> Result<Arc<dyn Notifier>, String> {
        BuildNotifier::build(self, external_url)
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn same(&self, other: &dyn ReceiverConfig) -> bool {
        other.as_any().downcast_ref::<T>() == Some(self)
    }
}

/// Serialises sorted label pairs as a JSON object (as every payload and the state file want).
pub mod label_map {
    use serde::de::{Deserializer, MapAccess, Visitor};
    use serde::ser::{SerializeMap, Serializer};

    use crate::model::Labels;

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
