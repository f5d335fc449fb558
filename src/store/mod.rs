//! The sample store: every source writes its polls here; `/metrics` reads each source's latest
//! families and the rules engine reads recent samples per series. Bounded by a retention window
//! and a series limit; over the limit new series are refused and counted, never a crash.

pub mod memstore;
pub mod select;

use std::borrow::Cow;
use std::collections::{vec_deque, BTreeMap, VecDeque};
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use crate::model::time::{is_stale, now_ms, STALE_NAN};
use crate::model::{Family, Labels, SUFFIX_LABEL};
use crate::sources::sink::{Full, Sink};

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

/// One sample an ingest wrote: series, timestamp (ms), value (staleness markers included).
pub type Written = (SeriesKey, i64, f64);

/// A subscriber to everything ingests write (remote_write). Called with the store locked, so
/// it must only queue.
pub trait Tap: Send + Sync {
    fn written(&self, samples: Vec<Written>);
}

/// Where a sample is stored: a histogram sample's suffix label becomes part of its name
/// (`x_bucket`), and labels with empty values are left out, as Prometheus treats an empty label
/// as an absent one. `None` for the common case of a sample stored as it is.
fn storage_key(family: &str, s: &crate::model::Sample) -> Option<(String, Labels)> {
    let special = s
        .labels
        .iter()
        .any(|(k, v)| k == SUFFIX_LABEL || v.is_empty());
    if !special {
        return None;
    }
    let mut name = family.to_string();
    let mut labels: Labels = Vec::with_capacity(s.labels.len());
    for (k, v) in &s.labels {
        if k == SUFFIX_LABEL {
            name.push_str(v);
        } else if !v.is_empty() {
            labels.push((k.clone(), v.clone()));
        }
    }
    Some((name, labels))
}

/// How one ingest treats its samples.
#[derive(Clone, Copy, Debug, Default)]
struct Mode {
    /// Stored for rules, not served on `/metrics`.
    hidden: bool,
    /// Missing series are not marked stale (see `ingest_unexposed`).
    partial: bool,
    /// All or nothing against the series limit (see `try_ingest`).
    atomic: bool,
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
        let _ = self.ingest_with(source, families, now_ms, Mode::default());
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
        let mode = Mode {
            hidden: true,
            partial,
            atomic: false,
        };
        let _ = self.ingest_with(source, families, now_ms, mode);
    }

    /// `ingest`, all or nothing: when the new series would pass the series limit nothing is
    /// written (a push is applied whole or refused).
    pub fn try_ingest(&self, source: &str, families: Vec<Family>, now_ms: i64) -> Result<(), Full> {
        let mode = Mode {
            atomic: true,
            ..Mode::default()
        };
        self.ingest_with(source, families, now_ms, mode)
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

    /// How many of the incoming series the store does not hold yet.
    fn fresh_series(series: &BTreeMap<Arc<str>, ByLabels>, families: &[Family]) -> usize {
        let mut fresh = std::collections::HashSet::new();
        for f in families {
            for smp in &f.samples {
                let (name, mut labels) = storage_key(&f.name, smp)
                    .unwrap_or_else(|| (f.name.clone(), smp.labels.clone()));
                labels.sort();
                let held = series
                    .get(name.as_str())
                    .is_some_and(|m| m.contains_key(&labels));
                if !held {
                    fresh.insert((name, labels));
                }
            }
        }
        fresh.len()
    }

    fn ingest_with(
        &self,
        source: &str,
        mut families: Vec<Family>,
        now_ms: i64,
        mode: Mode,
    ) -> Result<(), Full> {
        let tap = self.tap.read().unwrap_or_else(|e| e.into_inner()).clone();
        let mut written: Vec<Written> = Vec::new();
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        let Inner {
            series,
            count,
            stamp,
            latest,
        } = &mut *inner;
        let max_series = self.max_series.load(Ordering::Relaxed);
        if mode.atomic {
            let incoming: usize = families.iter().map(|f| f.samples.len()).sum();
            // Only a request that could pass the limit pays for counting its new series.
            if *count + incoming > max_series {
                let new = Self::fresh_series(series, &families);
                if *count + new > max_series {
                    return Err(Full {
                        limit: max_series,
                        held: *count,
                        new,
                    });
                }
            }
        }
        *stamp += 1;
        let stamp = *stamp;
        let mut seen = Vec::new();
        let mut refused = 0u64;
        // Samples stored under another name or labels than they are exposed with (histogram
        // parts, empty label values), stored after the fast path.
        let mut special: Vec<(String, Labels, i64, f64)> = Vec::new();
        let mut add =
            |name: &Arc<str>, s: &mut Series, ts: i64, v: f64, seen: &mut Vec<SeriesKey>| {
                // Samples are appended in time order; an older or repeated one is ignored.
                if s.samples.back().is_none_or(|(t, _)| *t < ts) {
                    s.samples.push_back((ts, v));
                    if tap.is_some() {
                        let key = SeriesKey {
                            name: Arc::clone(name),
                            labels: Arc::clone(&s.labels),
                        };
                        written.push((key, ts, v));
                    }
                }
                if s.stamp != stamp {
                    s.stamp = stamp;
                    seen.push(SeriesKey {
                        name: Arc::clone(name),
                        labels: Arc::clone(&s.labels),
                    });
                }
            };
        for f in &mut families {
            // The stored name and labels are reused for `seen`, so a series' labels are held
            // once, not once more per poll.
            let name: Arc<str> = match series.get_key_value(f.name.as_str()) {
                Some((k, _)) => Arc::clone(k),
                None => Arc::from(f.name.as_str()),
            };
            let by_labels = series.entry(Arc::clone(&name)).or_default();
            f.samples.retain(|s| {
                let ts = s.timestamp_ms.unwrap_or(now_ms);
                if let Some((n, l)) = storage_key(&f.name, s) {
                    special.push((n, l, ts, s.value));
                    return true;
                }
                let labels: Cow<Labels> = if s.labels.is_sorted() {
                    Cow::Borrowed(&s.labels)
                } else {
                    let mut l = s.labels.clone();
                    l.sort();
                    Cow::Owned(l)
                };
                if let Some(existing) = by_labels.get_mut(&*labels) {
                    add(&name, existing, ts, s.value, &mut seen);
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
                add(&name, new, ts, s.value, &mut seen);
                true
            });
            if by_labels.is_empty() {
                series.remove(&*name);
            }
        }
        for (n, mut labels, ts, v) in special {
            labels.sort();
            let name: Arc<str> = match series.get_key_value(n.as_str()) {
                Some((k, _)) => Arc::clone(k),
                None => Arc::from(n.as_str()),
            };
            let by_labels = series.entry(Arc::clone(&name)).or_default();
            if !by_labels.contains_key(&labels) {
                if *count >= max_series {
                    refused += 1;
                    if by_labels.is_empty() {
                        series.remove(&*name);
                    }
                    continue;
                }
                *count += 1;
            }
            let labels = Arc::new(labels);
            let s = by_labels.entry(Arc::clone(&labels)).or_insert(Series {
                labels,
                samples: VecDeque::new(),
                stamp: 0,
            });
            add(&name, s, ts, v, &mut seen);
        }
        if let Some((_, before)) = latest.get(source) {
            for gone in before {
                let Some(s) = series
                    .get_mut(&*gone.name)
                    .and_then(|m| m.get_mut(&*gone.labels))
                else {
                    continue;
                };
                if mode.partial && s.stamp != stamp {
                    s.stamp = stamp;
                    seen.push(gone.clone());
                    continue;
                }
                if s.stamp != stamp
                    && s.samples
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
        if mode.hidden {
            families.clear();
        }
        // The previous poll is freed after the lock is released.
        let _previous = match latest.get_mut(source) {
            Some(e) => Some(std::mem::replace(e, (families, seen))),
            None => latest.insert(source.to_string(), (families, seen)),
        };
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

/// The store is where sources write.
impl Sink for Store {
    fn ingest(&self, source: &str, families: Vec<Family>, now_ms: i64) {
        Store::ingest(self, source, families, now_ms)
    }
    fn try_ingest(&self, source: &str, families: Vec<Family>, now_ms: i64) -> Result<(), Full> {
        Store::try_ingest(self, source, families, now_ms)
    }
    fn latest_of(&self, source: &str) -> Option<Vec<Family>> {
        Store::latest_of(self, source)
    }
    fn remove_source(&self, source: &str, now_ms: i64) {
        Store::remove_source(self, source, now_ms)
    }
}

/// Runs [`Store::compact`] every 30 s until the task is aborted.
pub fn spawn_compactor(store: Arc<Store>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(30));
        loop {
            tick.tick().await;
            store.compact(now_ms());
        }
    })
}

#[cfg(test)]
mod tests;
