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

pub trait Sink: Send + Sync {
    /// Writes one poll of `source` at `now_ms`: its series the poll no longer has go stale.
    /// New series past the series limit are refused and counted; the rest is written.
    fn ingest(&self, source: &str, families: Vec<Family>, now_ms: i64);
    /// `ingest`, but refused whole when its new series would pass the limit.
    fn try_ingest(&self, source: &str, families: Vec<Family>, now_ms: i64) -> Result<(), Full>;
    /// The families of `source`'s latest write.
    fn latest_of(&self, source: &str) -> Option<Vec<Family>>;
    /// Forgets `source`: its series go stale and it is no longer exposed.
    fn remove_source(&self, source: &str, now_ms: i64);
}
