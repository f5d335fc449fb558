//! The sample store: every source writes its polls here; `/metrics` reads each source's latest
//! families and the rules engine reads recent samples per series. Bounded by a retention window
//! and a series limit; over the limit new series are refused and counted, never a crash.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::ops::Bound;
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
    /// collectors, gathered live for each scrape).
    /// With `partial` (a collector failed or timed out), series missing from this poll are
    /// not marked stale: a failed collector is no evidence that its series are gone, and rules
    /// must not resolve alerts on it.
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
        let Inner { series, latest } = &mut *inner;
        let mut seen = HashSet::new();
        let mut refused = 0u64;
        let max_series = self.max_series.load(Ordering::Relaxed);
        for f in &mut families {
            let name: Arc<str> = Arc::from(f.name.as_str());
            f.samples.retain(|s| {
                let mut labels = s.labels.clone();
                labels.sort();
                let probe = SeriesKey {
                    name: Arc::clone(&name),
                    labels: Arc::new(labels),
                };
                let ts = s.timestamp_ms.unwrap_or(now_ms);
                // The stored key is reused for `seen`, so a series' labels are held once, not
                // once more per poll.
                let key = match series.get_key_value(&probe) {
                    Some((k, _)) => k.clone(),
                    None if series.len() >= max_series => {
                        refused += 1;
                        return false;
                    }
                    None => probe,
                };
                let entry = series.entry(key.clone()).or_default();
                // Samples are appended in time order; an older or repeated one is ignored.
                if entry.samples.back().is_none_or(|(t, _)| *t < ts) {
                    entry.samples.push_back((ts, s.value));
                }
                seen.insert(key);
                true
            });
        }
        if let (Some((_, before)), true) = (latest.get(source), partial) {
            let kept: Vec<SeriesKey> = before.difference(&seen).cloned().collect();
            seen.extend(kept);
        } else if let Some((_, before)) = latest.get(source) {
            for gone in before.difference(&seen) {
                if let Some(s) = series.get_mut(gone) {
                    if s.samples
                        .back()
                        .is_some_and(|(t, v)| *t < now_ms && !is_stale(*v))
                    {
                        s.samples.push_back((now_ms, f64::from_bits(STALE_NAN)));
                    }
                }
            }
        }
        if !expose {
            families.clear();
        }
        latest.insert(source.to_string(), (families, seen));
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
mod tests {
    use super::*;

    fn fam(name: &str, series: &[(&str, f64)]) -> Family {
        let mut f = Family::gauge(name, "h");
        for (l, v) in series {
            f.add(&[("target", l)], *v);
        }
        f
    }

    fn limits(max_series: usize) -> Limits {
        Limits {
            retention_ms: 60_000,
            max_series,
        }
    }

    #[test]
    fn ingest_keeps_history_and_latest() {
        let s = Store::new(limits(100));
        s.ingest("a", vec![fam("m", &[("x", 1.0)])], 1000);
        s.ingest("a", vec![fam("m", &[("x", 2.0)])], 2000);
        let r = s.range(Some("m"), |_| true, 0, 5000);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].1, vec![(1000, 1.0), (2000, 2.0)]);
        assert_eq!(s.latest_families()[0].samples[0].value, 2.0);
    }

    #[test]
    fn a_series_labels_are_held_once_across_polls() {
        let s = Store::new(limits(100));
        s.ingest("a", vec![fam("m", &[("x", 1.0)])], 1000);
        s.ingest("a", vec![fam("m", &[("x", 2.0)])], 2000);
        let inner = s.inner.read().unwrap();
        let (stored, _) = inner.series.iter().next().unwrap();
        let seen = inner.latest["a"].1.iter().next().unwrap();
        assert!(Arc::ptr_eq(&stored.labels, &seen.labels));
    }

    #[test]
    fn vanished_series_get_a_staleness_marker() {
        let s = Store::new(limits(100));
        s.ingest("a", vec![fam("m", &[("x", 1.0), ("y", 5.0)])], 1000);
        s.ingest("a", vec![fam("m", &[("x", 1.0)])], 2000);
        let y = s.range(
            Some("m"),
            |k| k.labels.iter().any(|(_, v)| v == "y"),
            0,
            5000,
        );
        assert_eq!(y[0].1.len(), 2);
        assert!(is_stale(y[0].1[1].1));
        assert_eq!(s.latest_families()[0].samples.len(), 1);
    }

    #[test]
    fn a_partial_poll_marks_nothing_stale() {
        let s = Store::new(limits(100));
        s.ingest_unexposed("h", vec![fam("m", &[("x", 1.0), ("y", 2.0)])], 1000, false);
        s.ingest_unexposed("h", vec![fam("m", &[("x", 1.0)])], 2000, true);
        let y = s.range(
            Some("m"),
            |k| k.labels.iter().any(|(_, v)| v == "y"),
            0,
            5000,
        );
        assert_eq!(y[0].1, vec![(1000, 2.0)]);
        // A later complete poll still knows y and marks it stale.
        s.ingest_unexposed("h", vec![fam("m", &[("x", 1.0)])], 3000, false);
        let y = s.range(
            Some("m"),
            |k| k.labels.iter().any(|(_, v)| v == "y"),
            0,
            5000,
        );
        assert_eq!((y[0].1[1].0, is_stale(y[0].1[1].1)), (3000, true));
        assert!(s.latest_families().is_empty(), "unexposed");
    }

    #[test]
    fn series_over_the_limit_are_refused_and_counted() {
        let s = Store::new(limits(2));
        s.ingest(
            "a",
            vec![fam("m", &[("1", 1.0), ("2", 1.0), ("3", 1.0)])],
            1000,
        );
        assert_eq!(s.range(Some("m"), |_| true, 0, 5000).len(), 2);
        let refused = s
            .families()
            .into_iter()
            .find(|f| f.name == "telltale_store_series_refused_total")
            .unwrap();
        assert_eq!(refused.samples[0].value, 1.0);
        // Existing series still take new samples at the limit.
        s.ingest("a", vec![fam("m", &[("1", 2.0)])], 2000);
        assert_eq!(
            s.range(Some("m"), |k| k.labels[0].1 == "1", 0, 5000)[0]
                .1
                .len(),
            2
        );
    }

    #[test]
    fn retention_drops_old_samples_and_empty_series() {
        let s = Store::new(limits(100));
        s.ingest("a", vec![fam("m", &[("x", 1.0)])], 1000);
        s.ingest("a", vec![fam("m", &[("x", 2.0)])], 70_000);
        s.compact(70_000);
        assert_eq!(
            s.range(Some("m"), |_| true, 0, 100_000)[0].1,
            vec![(70_000, 2.0)]
        );
        s.remove_source("a", 80_000);
        s.compact(200_000);
        assert!(s.range(Some("m"), |_| true, 0, 300_000).is_empty());
        assert!(s.sources().is_empty());
    }

    #[test]
    fn source_timestamps_are_kept_and_out_of_order_ignored() {
        let s = Store::new(limits(100));
        let mut f = fam("m", &[("x", 1.0)]);
        f.samples[0].timestamp_ms = Some(500);
        s.ingest("z", vec![f.clone()], 1000);
        f.samples[0].timestamp_ms = Some(400);
        f.samples[0].value = 9.0;
        s.ingest("z", vec![f], 2000);
        assert_eq!(s.range(Some("m"), |_| true, 0, 5000)[0].1, vec![(500, 1.0)]);
    }

    #[test]
    fn concurrent_writers_and_readers() {
        let s = Arc::new(Store::new(limits(10_000)));
        let handles: Vec<_> = (0..4)
            .map(|w| {
                let s = Arc::clone(&s);
                std::thread::spawn(move || {
                    for i in 0..200 {
                        s.ingest(
                            &format!("src{w}"),
                            vec![fam("m", &[(&format!("{w}"), i as f64)])],
                            1000 + i,
                        );
                        let _ = s.latest_families();
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let r = s.range(Some("m"), |_| true, 0, i64::MAX);
        assert_eq!(r.len(), 4);
        assert!(r.iter().all(|(_, pts)| pts.len() == 200));
    }
}
