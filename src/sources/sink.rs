//! Where sources write: the port the sample store implements (the collect side of Prometheus'
//! `storage.Appendable`). Sources and the push registry know nothing of how samples are kept.

use crate::model::Family;

/// An all-or-nothing write that would pass the series limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Full {
    pub limit: usize,
    pub held: usize,
    pub new: usize,
}

/// Why the store refuses a sample (Prometheus' head appender refuses the same three): the
/// `reason` label of `telltale_samples_rejected_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub enum Rejection {
    /// More than `model::time::FUTURE_TOLERANCE_MS` after the ingest's time.
    TooFarInFuture,
    /// Older than the series' newest sample.
    OutOfOrder,
    /// The series' newest timestamp again, with another value (the same value is a no-op).
    DuplicateTimestamp,
}

impl Rejection {
    pub const ALL: [Rejection; 3] = [
        Rejection::TooFarInFuture,
        Rejection::OutOfOrder,
        Rejection::DuplicateTimestamp,
    ];
    pub fn reason(self) -> &'static str {
        match self {
            Rejection::TooFarInFuture => "too_far_in_future",
            Rejection::OutOfOrder => "out_of_order",
            Rejection::DuplicateTimestamp => "duplicate_timestamp",
        }
    }
}

/// What one write refused. Empty when everything was stored.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Ingested {
    /// Samples refused, by `Rejection` (in `Rejection::ALL`'s order).
    pub rejected: [u64; 3],
    /// The first refused sample, for the sender: `name{labels} @ts: reason`.
    pub first: Option<String>,
    /// Samples of new series refused at the series limit.
    pub series_refused: u64,
}

impl Ingested {
    pub fn samples_rejected(&self) -> u64 {
        self.rejected.iter().sum()
    }
    /// The refused samples in one line, or `None` when nothing was refused.
    pub fn rejected_message(&self) -> Option<String> {
        let n = self.samples_rejected();
        let first = self.first.as_deref()?;
        Some(format!("{n} sample(s) refused by the store, first {first}"))
    }

    /// What a polled source reports of the write: (`series_limit` | `samples_rejected`,
    /// message) for each kind of refusal; empty when nothing was refused.
    pub fn errors(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if self.series_refused > 0 {
            out.push((
                "series_limit",
                format!(
                    "{} sample(s) of new series refused: the store is at storage.max_series",
                    self.series_refused
                ),
            ));
        }
        if let Some(msg) = self.rejected_message() {
            out.push(("samples_rejected", msg));
        }
        out
    }

    /// `errors` as one `lastError` line (`reason: message; ...`), or `None`.
    pub fn last_error(&self) -> Option<String> {
        let errors = self.errors();
        let msg: Vec<String> = errors.iter().map(|(r, m)| format!("{r}: {m}")).collect();
        (!msg.is_empty()).then(|| msg.join("; "))
    }
}

/// Why an all-or-nothing write wrote nothing.
#[derive(Clone, Debug, PartialEq)]
pub enum Refused {
    Full(Full),
    Samples(Ingested),
}

/// The families a polled source reports about itself: the store never refuses them at its
/// series limit (a handful per target), so a target over the limit still shows its health.
pub const HEALTH_FAMILIES: &[&str] = &[
    "telltale_target_up",
    "telltale_target_scrape_duration_seconds",
    "telltale_target_scrape_errors_total",
];

pub trait Sink: Send + Sync {
    /// Writes one poll of `source` at `now_ms`: its series the poll no longer has go stale.
    /// New series past the series limit are refused and counted, and so are samples too far
    /// in the future, out of order or duplicate; the rest is written. Says what was refused.
    fn ingest(&self, source: &str, families: Vec<Family>, now_ms: i64) -> Ingested;
    /// `ingest`, but refused whole when its new series would pass the limit or any sample
    /// would be refused.
    fn try_ingest(&self, source: &str, families: Vec<Family>, now_ms: i64) -> Result<(), Refused>;
    /// The families of `source`'s latest write.
    fn latest_of(&self, source: &str) -> Option<Vec<Family>>;
    /// Forgets `source`: its series go stale and it is no longer exposed.
    fn remove_source(&self, source: &str, now_ms: i64);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_polled_source_is_told_each_kind_of_refusal() {
        assert_eq!(Ingested::default().last_error(), None);
        let r = Ingested {
            rejected: [0, 2, 1],
            first: Some("m{} at 5 ms: out_of_order".into()),
            series_refused: 4,
        };
        let kinds: Vec<&str> = r.errors().iter().map(|e| e.0).collect();
        assert_eq!(kinds, ["series_limit", "samples_rejected"]);
        assert_eq!(
            r.last_error().unwrap(),
            "series_limit: 4 sample(s) of new series refused: the store is at \
             storage.max_series; samples_rejected: 3 sample(s) refused by the store, first \
             m{} at 5 ms: out_of_order"
        );
    }
}
