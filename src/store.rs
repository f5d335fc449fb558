//! The sample store: every source writes its polls here; `/metrics` reads each source's latest
//! families and the rules engine reads recent samples per series. Bounded by a retention window
//! and a series limit; over the limit new series are refused and counted, never a crash.

use std::borrow::Cow;
use std::collections::{vec_deque, BTreeMap, VecDeque};
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use crate::exposition::{Family, Labels};

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

#[derive(Debug)]
struct Series {
    /// The key's labels, also held here so that one lookup gives both.
    labels: Arc<Labels>,
    /// (timestamp ms, value), oldest first, timestamps strictly increasing.
    samples: VecDeque<(i64, f64)>,
    /// The last `ingest` call that reported this series (see `Inner::stamp`).
    stamp: u64,
}

/// One metric name's series, by labels.
type ByLabels = BTreeMap<Arc<Labels>, Series>;

#[derive(Default)]
struct Inner {
    /// By metric name, then labels: a selector with a metric name reads only that name's
    /// series, and a poll finds its existing series from borrowed labels, without allocating.
    series: BTreeMap<Arc<str>, ByLabels>,
    /// Series held: the sum of the inner maps' sizes.
    count: usize,
    /// Numbers `ingest` calls. Each stamps the series it reports, so "reported last time but
    /// not now" is a stamp check rather than a set difference of hashed keys.
    stamp: u64,
    /// What each source reported in its last poll (each series once): for exposition and for
    /// staleness.
    latest: BTreeMap<String, (Vec<Family>, Vec<SeriesKey>)>,
}

pub struct Store {
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
        self.ingest_with(source, families, now_ms, true, false);
    }

    /// `ingest` for samples that rules read but `/metrics` serves otherwise (the host
    /// collectors, gathered live for each scrape). With `partial` (a collector failed or timed
    /// out), series missing from this poll are not marked stale: a failed collector is no
    /// evidence that its series are gone, and rules must not resolve alerts on it.
    pub fn ingest_unexposed(
        &self,
        source: &str,
        families: Vec<Family>,
        now_ms: i64,
        partial: bool,
    ) {
        self.ingest_with(source, families, now_ms, false, partial);
    }

    fn ingest_with(
        &self,
        source: &str,
        mut families: Vec<Family>,
        now_ms: i64,
        expose: bool,
        partial: bool,
    ) {
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        let Inner {
            series,
            count,
            stamp,
            latest,
        } = &mut *inner;
        *stamp += 1;
        let stamp = *stamp;
        let mut seen = Vec::new();
        let mut refused = 0u64;
        let max_series = self.max_series.load(Ordering::Relaxed);
        for f in &mut families {
            // The stored name and labels are reused for `seen`, so a series' labels are held
            // once, not once more per poll.
            let name: Arc<str> = match series.get_key_value(f.name.as_str()) {
                Some((k, _)) => Arc::clone(k),
                None => Arc::from(f.name.as_str()),
            };
            let by_labels = series.entry(Arc::clone(&name)).or_default();
            let mut add = |s: &mut Series, ts: i64, v: f64| {
                // Samples are appended in time order; an older or repeated one is ignored.
                if s.samples.back().is_none_or(|(t, _)| *t < ts) {
                    s.samples.push_back((ts, v));
                }
                if s.stamp != stamp {
                    s.stamp = stamp;
                    seen.push(SeriesKey {
                        name: Arc::clone(&name),
                        labels: Arc::clone(&s.labels),
                    });
                }
            };
            f.samples.retain(|s| {
                let labels: Cow<Labels> = if s.labels.is_sorted() {
                    Cow::Borrowed(&s.labels)
                } else {
                    let mut l = s.labels.clone();
                    l.sort();
                    Cow::Owned(l)
                };
                let ts = s.timestamp_ms.unwrap_or(now_ms);
                if let Some(existing) = by_labels.get_mut(&*labels) {
                    add(existing, ts, s.value);
                    return true;
                }
                if *count >= max_series {
                    refused += 1;
                    return false;
                }
                *count += 1;
                let labels = Arc::new(labels.into_owned());
                let new = by_labels.entry(Arc::clone(&labels)).or_insert(Series {
                    labels,
                    samples: VecDeque::new(),
                    stamp: 0,
                });
                add(new, ts, s.value);
                true
            });
            if by_labels.is_empty() {
                series.remove(&*name);
            }
        }
        if let Some((_, before)) = latest.get(source) {
            for gone in before {
                let Some(s) = series
                    .get_mut(&*gone.name)
                    .and_then(|m| m.get_mut(&*gone.labels))
                else {
                    continue;
                };
                if partial && s.stamp != stamp {
                    s.stamp = stamp;
                    seen.push(gone.clone());
                    continue;
                }
                if s.stamp != stamp
                    && s.samples
                        .back()
                        .is_some_and(|(t, v)| *t < now_ms && !is_stale(*v))
                {
                    s.samples.push_back((now_ms, f64::from_bits(STALE_NAN)));
                }
            }
        }
        if !expose {
            families.clear();
        }
        // The previous poll is freed after the lock is released.
        let _previous = match latest.get_mut(source) {
            Some(e) => Some(std::mem::replace(e, (families, seen))),
            None => latest.insert(source.to_string(), (families, seen)),
        };
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
        let Inner { series, count, .. } = &mut *inner;
        series.retain(|_, by_labels| {
            by_labels.retain(|_, s| {
                while s.samples.front().is_some_and(|(t, _)| *t < cutoff) {
                    s.samples.pop_front();
                }
                !s.samples.is_empty()
            });
            !by_labels.is_empty()
        });
        *count = series.values().map(BTreeMap::len).sum();
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
    /// whose key `keep` accepts, ordered by key (the tests' view of the store).
    #[cfg(test)]
    pub fn range(
        &self,
        name: Option<&str>,
        keep: impl Fn(&SeriesKey) -> bool,
        from_ms: i64,
        to_ms: i64,
    ) -> Vec<(SeriesKey, Vec<(i64, f64)>)> {
        let mut out = Vec::new();
        self.for_each_range(name, from_ms, to_ms, |name, labels, samples| {
            let key = SeriesKey {
                name: Arc::clone(name),
                labels: Arc::clone(labels),
            };
            if keep(&key) {
                out.push((key, samples.copied().collect()));
            }
        });
        out
    }

    /// Calls `f` with the name, labels and samples in `[from_ms, to_ms]` of every series named
    /// `name` (every series, for `None`), ordered by key, all under one read lock: a reader
    /// copies out only what it keeps.
    pub fn for_each_range(
        &self,
        name: Option<&str>,
        from_ms: i64,
        to_ms: i64,
        mut f: impl FnMut(&Arc<str>, &Arc<Labels>, vec_deque::Iter<'_, (i64, f64)>),
    ) {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        let names: Box<dyn Iterator<Item = (&Arc<str>, &ByLabels)>> = match name {
            Some(n) => Box::new(inner.series.get_key_value(n).into_iter()),
            None => Box::new(inner.series.iter()),
        };
        for (name, by_labels) in names {
            for (labels, s) in by_labels {
                let lo = s.samples.partition_point(|(t, _)| *t < from_ms);
                let hi = s.samples.partition_point(|(t, _)| *t <= to_ms).max(lo);
                f(name, labels, s.samples.range(lo..hi));
            }
        }
    }

    pub fn families(&self) -> Vec<Family> {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        let mut out = vec![
            Family::gauge("telltale_store_series", "Series held in the sample store.")
                .with(&[], inner.count as f64),
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
        let samples: usize = (inner.series.values().flat_map(BTreeMap::values))
            .map(|s| s.samples.len())
            .sum();
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
