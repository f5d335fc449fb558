//! The sample store: every source writes its polls here; `/metrics` reads each source's latest
//! families and the rules engine reads recent samples per series. Bounded by a retention window
//! and a series limit; over the limit new series are refused and counted, never a crash.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, HashSet, VecDeque};
use std::ops::Bound;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use crate::exposition::{Family, Labels, SUFFIX_LABEL};

/// Prometheus' staleness marker: a NaN with a distinct bit pattern, written when a series that a
/// source reported disappears from its next poll.
pub const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;

pub fn is_stale(v: f64) -> bool {
    v.to_bits() == STALE_NAN
}

/// A series' identity: metric name and sorted label pairs.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesKey {
    pub name: Arc<str>,
    pub labels: Arc<Labels>,
}

#[derive(Debug, Default)]
struct Series {
    /// (timestamp ms, value), oldest first.
    samples: VecDeque<(i64, f64)>,
}

#[derive(Default)]
struct Inner {
    /// Ordered by name first, so a selector with a metric name reads only that name's series.
    series: BTreeMap<SeriesKey, Series>,
    /// What each source reported in its last poll: for exposition and for staleness.
    latest: BTreeMap<String, (Vec<Family>, HashSet<SeriesKey>)>,
}

/// One sample an ingest wrote: series, timestamp (ms), value (staleness markers included).
pub type Written = (SeriesKey, i64, f64);

/// A subscriber to everything ingests write (remote_write). Called with the store locked, so
/// it must only queue.
pub trait Tap: Send + Sync {
    fn written(&self, samples: Vec<Written>);
}

/// An all-or-nothing ingest that would pass the series limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Full {
    pub limit: usize,
    pub held: usize,
    pub new: usize,
}

/// A sample's series key: a histogram or summary sample's suffix label becomes part of its
/// name (`x_bucket`), and labels with empty values are left out, as Prometheus treats an empty
/// label as an absent one.
fn key_of(name: &Arc<str>, s: &crate::exposition::Sample) -> SeriesKey {
    let mut name = Arc::clone(name);
    let mut labels: Labels = Vec::with_capacity(s.labels.len());
    for (k, v) in &s.labels {
        if k == SUFFIX_LABEL {
            name = Arc::from(format!("{name}{v}"));
        } else if !v.is_empty() {
            labels.push((k.clone(), v.clone()));
        }
    }
    if !labels.is_sorted() {
        labels.sort();
    }
    SeriesKey {
        name,
        labels: Arc::new(labels),
    }
}

pub struct Store {
    tap: RwLock<Option<Arc<dyn Tap>>>,
    inner: RwLock<Inner>,
    retention_ms: AtomicI64,
    max_series: AtomicUsize,
    refused: AtomicU64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub retention_ms: i64,
    pub max_series: usize,
}

impl Store {
    pub fn new(limits: Limits) -> Self {
        Store {
            tap: RwLock::new(None),
            inner: RwLock::new(Inner::default()),
            retention_ms: AtomicI64::new(limits.retention_ms),
            max_series: AtomicUsize::new(limits.max_series),
            refused: AtomicU64::new(0),
        }
    }

    /// Applies new limits (a reload); a lower series limit refuses new series until old ones expire.
    pub fn set_limits(&self, limits: Limits) {
        self.retention_ms
            .store(limits.retention_ms, Ordering::Relaxed);
        self.max_series.store(limits.max_series, Ordering::Relaxed);
    }

    /// Records one poll of `source` taken at `now_ms`. Samples without their own timestamp get
    /// `now_ms`; series the source reported last time but not now get a staleness marker.
    pub fn ingest(&self, source: &str, families: Vec<Family>, now_ms: i64) {
        let _ = self.ingest_with(source, families, now_ms, true, false);
    }

    /// `ingest` for samples that rules read but `/metrics` serves otherwise (the host
    /// collectors, gathered live for each scrape).
    pub fn ingest_unexposed(&self, source: &str, families: Vec<Family>, now_ms: i64) {
        let _ = self.ingest_with(source, families, now_ms, false, false);
    }

    /// `ingest`, all or nothing: when the new series would pass the series limit nothing is
    /// written (a push is applied whole or refused).
    pub fn try_ingest(&self, source: &str, families: Vec<Family>, now_ms: i64) -> Result<(), Full> {
        self.ingest_with(source, families, now_ms, true, true)
    }

    /// Sets (or with `None` removes) the one subscriber to what ingests write.
    pub fn set_tap(&self, tap: Option<Arc<dyn Tap>>) {
        *self.tap.write().unwrap_or_else(|e| e.into_inner()) = tap;
    }

    /// What `source` reported last (exposed sources only), for a writer that changes part of it.
    pub fn latest_of(&self, source: &str) -> Option<Vec<Family>> {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        inner.latest.get(source).map(|(f, _)| f.clone())
    }

    fn ingest_with(
        &self,
        source: &str,
        mut families: Vec<Family>,
        now_ms: i64,
        expose: bool,
        atomic: bool,
    ) -> Result<(), Full> {
        let tap = self.tap.read().unwrap_or_else(|e| e.into_inner()).clone();
        let mut written: Vec<Written> = Vec::new();
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        let Inner { series, latest } = &mut *inner;
        let max_series = self.max_series.load(Ordering::Relaxed);
        let mut keys: Vec<Vec<SeriesKey>> = families
            .iter()
            .map(|f| {
                let name: Arc<str> = Arc::from(f.name.as_str());
                f.samples.iter().map(|s| key_of(&name, s)).collect()
            })
            .collect();
        let incoming: usize = keys.iter().map(Vec::len).sum();
        // Only a request that could pass the limit pays for counting its new series.
        if atomic && series.len() + incoming > max_series {
            let fresh: HashSet<&SeriesKey> = keys
                .iter()
                .flatten()
                .filter(|k| !series.contains_key(*k))
                .collect();
            if series.len() + fresh.len() > max_series {
                return Err(Full {
                    limit: max_series,
                    held: series.len(),
                    new: fresh.len(),
                });
            }
        }
        let mut seen = HashSet::new();
        let mut refused = 0u64;
        for (f, fkeys) in families.iter_mut().zip(keys.iter_mut()) {
            let mut fkeys = fkeys.drain(..);
            f.samples.retain(|s| {
                let probe = fkeys.next().expect("one key per sample");
                let ts = s.timestamp_ms.unwrap_or(now_ms);
                // The stored key is reused for `seen`, so a series' labels are held once, not
                // once more per poll.
                let full = series.len() >= max_series;
                let (key, entry) = match series.entry(probe) {
                    Entry::Occupied(o) => (o.key().clone(), o.into_mut()),
                    Entry::Vacant(_) if full => {
                        refused += 1;
                        return false;
                    }
                    Entry::Vacant(v) => (v.key().clone(), v.insert(Series::default())),
                };
                // Samples are appended in time order; an older or repeated one is ignored.
                if entry.samples.back().is_none_or(|(t, _)| *t < ts) {
                    entry.samples.push_back((ts, s.value));
                    if tap.is_some() {
                        written.push((key.clone(), ts, s.value));
                    }
                }
                seen.insert(key);
                true
            });
        }
        if let Some((_, before)) = latest.get(source) {
            for gone in before.difference(&seen) {
                if let Some(s) = series.get_mut(gone) {
                    if s.samples
                        .back()
                        .is_some_and(|(t, v)| *t < now_ms && !is_stale(*v))
                    {
                        let stale = f64::from_bits(STALE_NAN);
                        s.samples.push_back((now_ms, stale));
                        if tap.is_some() {
                            written.push((gone.clone(), now_ms, stale));
                        }
                    }
                }
            }
        }
        if !expose {
            families.clear();
        }
        latest.insert(source.to_string(), (families, seen));
        // Still under the lock: the subscriber sees each series' samples in the order stored.
        if let (Some(t), false) = (&tap, written.is_empty()) {
            t.written(written);
        }
        drop(inner);
        if refused > 0 {
            self.refused.fetch_add(refused, Ordering::Relaxed);
            tracing::warn!(
                source,
                refused,
                limit = max_series,
                "series limit reached; new series refused"
            );
        }
        Ok(())
    }

    /// Forgets a source that no longer exists (after a reload); its series go stale.
    pub fn remove_source(&self, source: &str, now_ms: i64) {
        self.ingest(source, Vec::new(), now_ms);
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        inner.latest.remove(source);
    }

    /// Drops samples older than the retention window, and series left empty.
    pub fn compact(&self, now_ms: i64) {
        let cutoff = now_ms - self.retention_ms.load(Ordering::Relaxed);
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        inner.series.retain(|_, s| {
            while s.samples.front().is_some_and(|(t, _)| *t < cutoff) {
                s.samples.pop_front();
            }
            !s.samples.is_empty()
        });
    }

    /// Every source's latest families, for `/metrics`.
    pub fn latest_families(&self) -> Vec<Family> {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        inner
            .latest
            .values()
            .flat_map(|(f, _)| f.iter().cloned())
            .collect()
    }

    /// The sources that have reported at least once, by id.
    pub fn sources(&self) -> Vec<String> {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        inner.latest.keys().cloned().collect()
    }

    /// Samples in `[from_ms, to_ms]` of every series named `name` (every series, for `None`)
    /// whose key `keep` accepts, ordered by key.
    pub fn range(
        &self,
        name: Option<&str>,
        keep: impl Fn(&SeriesKey) -> bool,
        from_ms: i64,
        to_ms: i64,
    ) -> Vec<(SeriesKey, Vec<(i64, f64)>)> {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        let iter: Box<dyn Iterator<Item = (&SeriesKey, &Series)>> = match name {
            Some(n) => {
                let start = SeriesKey {
                    name: Arc::from(n),
                    labels: Arc::default(),
                };
                Box::new(
                    inner
                        .series
                        .range((Bound::Included(start), Bound::Unbounded))
                        .take_while(move |(k, _)| &*k.name == n),
                )
            }
            None => Box::new(inner.series.iter()),
        };
        iter.filter(|(k, _)| keep(k))
            .map(|(k, s)| {
                let pts = s
                    .samples
                    .iter()
                    .filter(|(t, _)| *t >= from_ms && *t <= to_ms)
                    .copied()
                    .collect();
                (k.clone(), pts)
            })
            .collect()
    }

    pub fn families(&self) -> Vec<Family> {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        let mut out = vec![
            Family::gauge("telltale_store_series", "Series held in the sample store.")
                .with(&[], inner.series.len() as f64),
            Family::gauge(
                "telltale_store_series_limit",
                "The most series the sample store accepts.",
            )
            .with(&[], self.max_series.load(Ordering::Relaxed) as f64),
            Family::counter(
                "telltale_store_series_refused_total",
                "Samples of new series refused because the store was at its series limit.",
            )
            .with(&[], self.refused.load(Ordering::Relaxed) as f64),
        ];
        let samples: usize = inner.series.values().map(|s| s.samples.len()).sum();
        out.push(
            Family::gauge(
                "telltale_store_samples",
                "Samples held in the sample store.",
            )
            .with(&[], samples as f64),
        );
        out
    }
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
