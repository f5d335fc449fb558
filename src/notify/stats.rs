//! The dispatcher's self-metrics, per notifier target, as exposition families.

use std::collections::BTreeMap;

use crate::model::Family;

/// Prometheus' default histogram buckets (seconds).
pub const BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Latency {
    /// Non-cumulative counts per bucket of `BUCKETS` (the +Inf overflow is `count - sum`).
    counts: [u64; 11],
    pub sum: f64,
    pub count: u64,
}

impl Latency {
    pub fn observe(&mut self, seconds: f64) {
        if let Some(i) = BUCKETS.iter().position(|b| seconds <= *b) {
            self.counts[i] += 1;
        }
        self.sum += seconds;
        self.count += 1;
    }

    /// Cumulative (bound, count) pairs.
    pub fn cumulative(&self) -> Vec<(f64, u64)> {
        let mut acc = 0;
        BUCKETS
            .iter()
            .zip(self.counts)
            .map(|(b, n)| {
                acc += n;
                (*b, acc)
            })
            .collect()
    }
}

/// Counters of one target. Counts are alerts (a webhook message of 5 alerts counts 5).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Stats {
    pub sent: u64,
    pub failed: BTreeMap<&'static str, u64>,
    pub dropped: u64,
    pub latency: Latency,
}

/// A snapshot of one target for `families`.
pub struct TargetView<'a> {
    pub name: &'a str,
    pub stats: Stats,
    pub queue_length: usize,
    pub queue_capacity: usize,
}

pub fn families(targets: &[TargetView]) -> Vec<Family> {
    let mut sent = Family::counter(
        "telltale_notifications_sent_total",
        "Alerts delivered to each notifier target.",
    );
    let mut failed = Family::counter(
        "telltale_notifications_failed_total",
        "Alerts in failed delivery attempts, by notifier target and reason (retried when the reason is connect, timeout, http_5xx, http_429 or smtp_transient).",
    );
    let mut dropped = Family::counter(
        "telltale_notifications_dropped_total",
        "Alerts dropped from a full notification queue (the oldest go first).",
    );
    let mut length = Family::gauge(
        "telltale_notifications_queue_length",
        "Alerts waiting for delivery to each notifier target.",
    );
    let mut capacity = Family::gauge(
        "telltale_notifications_queue_capacity",
        "The capacity of each notifier target's queue, in alerts.",
    );
    let mut latency = Family::histogram(
        "telltale_notifications_latency_seconds",
        "Duration of delivery requests (successful ones) to each notifier target.",
    );
    for t in targets {
        let n = [("notifier", t.name)];
        sent.add(&n, t.stats.sent as f64);
        dropped.add(&n, t.stats.dropped as f64);
        length.add(&n, t.queue_length as f64);
        capacity.add(&n, t.queue_capacity as f64);
        for (reason, v) in &t.stats.failed {
            failed.add(&[("notifier", t.name), ("reason", reason)], *v as f64);
        }
        let l = &t.stats.latency;
        latency.observe(&n, &l.cumulative(), l.sum, l.count);
    }
    vec![sent, failed, dropped, length, capacity, latency]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{encode, normalize, Format};

    #[test]
    fn families_encode_per_target() {
        let mut s = Stats {
            sent: 3,
            ..Stats::default()
        };
        s.failed.insert("connect", 2);
        s.latency.observe(0.02);
        s.latency.observe(20.0);
        assert_eq!(s.latency.cumulative()[2], (0.025, 1));
        assert_eq!(s.latency.cumulative()[10], (10.0, 1));
        let fams = families(&[TargetView {
            name: "am",
            stats: s,
            queue_length: 4,
            queue_capacity: 10,
        }]);
        let text = encode(&normalize(fams), Format::Text);
        for want in [
            "telltale_notifications_sent_total{notifier=\"am\"} 3\n",
            "telltale_notifications_failed_total{notifier=\"am\",reason=\"connect\"} 2\n",
            "telltale_notifications_queue_length{notifier=\"am\"} 4\n",
            "telltale_notifications_latency_seconds_bucket{le=\"0.025\",notifier=\"am\"} 1\n",
            "telltale_notifications_latency_seconds_bucket{le=\"+Inf\",notifier=\"am\"} 2\n",
            "telltale_notifications_latency_seconds_count{notifier=\"am\"} 2\n",
        ] {
            assert!(text.contains(want), "missing {want:?} in\n{text}");
        }
    }
}
