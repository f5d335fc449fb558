//! The sample store: every source writes its polls here; `/metrics` reads each source's latest
//! families and the rules engine reads recent samples per series. Bounded by a retention window
//! and a series limit; over the limit new series are refused and counted, never a crash.
//!
//! Samples follow Prometheus' head appender: one more than `FUTURE_TOLERANCE_MS` after the
//! ingest's time is refused (`too_far_in_future`, so a bad clock cannot freeze a series), one
//! older than the series' newest is refused (`out_of_order`), the newest timestamp again with
//! another value is refused (`duplicate_timestamp`; with the same value it is a no-op, as a
//! re-ingested push group is). Refusals are counted in `telltale_samples_rejected_total` and
//! returned to the writer ([`Ingested`]), never dropped without a word.

pub mod memstore;
pub mod select;

use std::borrow::Cow;
use std::collections::{vec_deque, BTreeMap, VecDeque};
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use crate::model::labels::fmt_labels;
use crate::model::time::{is_stale, now_ms, FUTURE_TOLERANCE_MS, STALE_NAN};
use crate::model::{Family, Labels, SUFFIX_LABEL};
use crate::sources::sink::{Full, Ingested, Refused, Rejection, Sink, HEALTH_FAMILIES};

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
    max_samples: AtomicUsize,
    refused: AtomicU64,
    /// Samples dropped to keep within `max_samples` (oldest of their series first).
    evicted: AtomicU64,
    /// Samples refused, by `Rejection::ALL`'s order.
    rejected: [AtomicU64; 3],
}

/// Whether a sample at `ts` with value `v` goes after `last`, the series' newest sample, for an
/// ingest at `now_ms`: `Ok(true)` appends, `Ok(false)` is a repeat of `last` (a no-op).
fn verdict(last: Option<&(i64, f64)>, ts: i64, v: f64, now_ms: i64) -> Result<bool, Rejection> {
    if ts > now_ms.saturating_add(FUTURE_TOLERANCE_MS) {
        return Err(Rejection::TooFarInFuture);
    }
    match last {
        Some((t, _)) if *t > ts => Err(Rejection::OutOfOrder),
        Some((t, lv)) if *t == ts && lv.to_bits() == v.to_bits() => Ok(false),
        Some((t, _)) if *t == ts => Err(Rejection::DuplicateTimestamp),
        _ => Ok(true),
    }
}

/// Notes one refused sample in `report`.
fn note(report: &mut Ingested, why: Rejection, name: &str, labels: &Labels, ts: i64) {
    report.rejected[why as usize] += 1;
    if report.first.is_none() {
        report.first = Some(format!(
            "{name}{} at {ts} ms: {}",
            fmt_labels(labels),
            why.reason()
        ));
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub retention_ms: i64,
    pub max_series: usize,
    /// The sample budget: past it each series keeps its newest `max_samples / series` samples,
    /// so the samples held (16 bytes each) have a ceiling whatever the input.
    pub max_samples: usize,
}

/// `storage.max_samples` by default: 256 MiB of samples; at the default 200,000-series limit a
/// series keeps its newest 80 (20 minutes at 15 s).
pub const DEFAULT_MAX_SAMPLES: usize = 16_000_000;

impl Store {
    pub fn new(limits: Limits) -> Self {
        Store {
            tap: RwLock::new(None),
            inner: RwLock::new(Inner::default()),
            retention_ms: AtomicI64::new(limits.retention_ms),
            max_series: AtomicUsize::new(limits.max_series),
            max_samples: AtomicUsize::new(limits.max_samples),
            refused: AtomicU64::new(0),
            evicted: AtomicU64::new(0),
            rejected: Default::default(),
        }
    }

    /// Applies new limits (a reload); a lower series limit refuses new series until old ones expire.
    pub fn set_limits(&self, limits: Limits) {
        self.retention_ms
            .store(limits.retention_ms, Ordering::Relaxed);
        self.max_series.store(limits.max_series, Ordering::Relaxed);
        self.max_samples
            .store(limits.max_samples, Ordering::Relaxed);
    }

    /// How many samples each series may keep now: the budget shared by the series held.
    fn share(&self, series: usize) -> usize {
        (self.max_samples.load(Ordering::Relaxed) / series.max(1)).max(1)
    }

    /// Records one poll of `source` taken at `now_ms`. Samples without their own timestamp get
    /// `now_ms`; series the source reported last time but not now get a staleness marker.
    pub fn ingest(&self, source: &str, families: Vec<Family>, now_ms: i64) -> Ingested {
        self.ingest_with(source, families, now_ms, Mode::default())
            .unwrap_or_default()
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
    pub fn try_ingest(
        &self,
        source: &str,
        families: Vec<Family>,
        now_ms: i64,
    ) -> Result<(), Refused> {
        let mode = Mode {
            atomic: true,
            ..Mode::default()
        };
        self.ingest_with(source, families, now_ms, mode).map(drop)
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

    /// For an all-or-nothing write: how many of the incoming series the store does not hold
    /// yet (counted only with `count_fresh`), and which samples it would refuse.
    fn precheck(
        series: &BTreeMap<Arc<str>, ByLabels>,
        families: &[Family],
        now_ms: i64,
        count_fresh: bool,
    ) -> (usize, Ingested) {
        let mut fresh = std::collections::HashSet::new();
        let mut report = Ingested::default();
        for f in families {
            for smp in &f.samples {
                let key = storage_key(&f.name, smp);
                let (name, labels): (&str, Cow<Labels>) = match &key {
                    Some((n, l)) => {
                        let mut l = l.clone();
                        l.sort();
                        (n, Cow::Owned(l))
                    }
                    None if smp.labels.is_sorted() => (&f.name, Cow::Borrowed(&smp.labels)),
                    None => {
                        let mut l = smp.labels.clone();
                        l.sort();
                        (&f.name, Cow::Owned(l))
                    }
                };
                let held = series.get(name).and_then(|m| m.get(&*labels));
                let ts = smp.timestamp_ms.unwrap_or(now_ms);
                if let Err(why) =
                    verdict(held.and_then(|s| s.samples.back()), ts, smp.value, now_ms)
                {
                    note(&mut report, why, name, &labels, ts);
                }
                if held.is_none() && count_fresh {
                    fresh.insert((name.to_string(), labels.into_owned()));
                }
            }
        }
        (fresh.len(), report)
    }

    fn ingest_with(
        &self,
        source: &str,
        mut families: Vec<Family>,
        now_ms: i64,
        mode: Mode,
    ) -> Result<Ingested, Refused> {
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
            let could_pass = *count + incoming > max_series;
            let (new, report) = Self::precheck(series, &families, now_ms, could_pass);
            if report.samples_rejected() > 0 {
                drop(inner);
                self.count_rejected(&report);
                return Err(Refused::Samples(report));
            }
            if could_pass && *count + new > max_series {
                return Err(Refused::Full(Full {
                    limit: max_series,
                    held: *count,
                    new,
                }));
            }
        }
        let mut report = Ingested::default();
        *stamp += 1;
        let stamp = *stamp;
        let mut seen = Vec::new();
        let mut refused = 0u64;
        // Samples stored under another name or labels than they are exposed with (histogram
        // parts, empty label values), stored after the fast path.
        let mut special: Vec<(String, Labels, i64, f64)> = Vec::new();
        let share = self.share(*count);
        let mut evicted = 0u64;
        let mut add =
            |name: &Arc<str>, s: &mut Series, ts: i64, v: f64, seen: &mut Vec<SeriesKey>| {
                // Samples are appended in time order; a repeat is a no-op, the rest refused.
                let append = verdict(s.samples.back(), ts, v, now_ms)
                    .map_err(|why| note(&mut report, why, name, &s.labels, ts));
                if append == Ok(true) {
                    s.samples.push_back((ts, v));
                    if s.samples.len() > share {
                        s.samples.pop_front();
                        evicted += 1;
                    }
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
                let health = !mode.atomic && HEALTH_FAMILIES.contains(&f.name.as_str());
                if *count >= max_series && !health {
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
        self.evicted.fetch_add(evicted, Ordering::Relaxed);
        if refused > 0 {
            self.refused.fetch_add(refused, Ordering::Relaxed);
            tracing::warn!(
                source,
                refused,
                limit = max_series,
                "series limit reached; new series refused"
            );
        }
        report.series_refused = refused;
        if let Some(msg) = report.rejected_message() {
            tracing::debug!(source, err = %msg, "samples refused");
        }
        self.count_rejected(&report);
        Ok(report)
    }

    fn count_rejected(&self, report: &Ingested) {
        for (c, n) in self.rejected.iter().zip(report.rejected) {
            c.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// Forgets a source that no longer exists (after a reload); its series go stale.
    pub fn remove_source(&self, source: &str, now_ms: i64) {
        let _ = self.ingest(source, Vec::new(), now_ms);
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        inner.latest.remove(source);
    }

    /// Drops samples older than the retention window, and series left empty.
    /// Then, when more samples are held than the budget, every series is cut to its share.
    pub fn compact(&self, now_ms: i64) {
        let cutoff = now_ms - self.retention_ms.load(Ordering::Relaxed);
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        let Inner { series, count, .. } = &mut *inner;
        let mut held = 0usize;
        series.retain(|_, by_labels| {
            by_labels.retain(|_, s| {
                while s.samples.front().is_some_and(|(t, _)| *t < cutoff) {
                    s.samples.pop_front();
                }
                held += s.samples.len();
                !s.samples.is_empty()
            });
            !by_labels.is_empty()
        });
        *count = series.values().map(BTreeMap::len).sum();
        if held > self.max_samples.load(Ordering::Relaxed) {
            let share = self.share(*count);
            let mut evicted = 0u64;
            for s in series.values_mut().flat_map(BTreeMap::values_mut) {
                let over = s.samples.len().saturating_sub(share);
                if over > 0 {
                    s.samples.drain(..over);
                    s.samples.shrink_to_fit();
                    evicted += over as u64;
                }
            }
            self.evicted.fetch_add(evicted, Ordering::Relaxed);
        }
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
            Family::gauge(
                "telltale_store_samples_limit",
                "The sample budget: past it each series keeps only its share of newest samples.",
            )
            .with(&[], self.max_samples.load(Ordering::Relaxed) as f64),
            Family::counter(
                "telltale_store_samples_evicted_total",
                "Samples dropped before their retention to keep within the sample budget.",
            )
            .with(&[], self.evicted.load(Ordering::Relaxed) as f64),
        ];
        let mut rejected = Family::counter(
            "telltale_samples_rejected_total",
            "Samples the store refused, by reason: too_far_in_future (more than 10m after \
             the write), out_of_order, duplicate_timestamp (same time, another value).",
        );
        for (why, n) in Rejection::ALL.iter().zip(&self.rejected) {
            rejected.add(
                &[("reason", why.reason())],
                n.load(Ordering::Relaxed) as f64,
            );
        }
        out.push(rejected);
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
    fn ingest(&self, source: &str, families: Vec<Family>, now_ms: i64) -> Ingested {
        Store::ingest(self, source, families, now_ms)
    }
    fn try_ingest(&self, source: &str, families: Vec<Family>, now_ms: i64) -> Result<(), Refused> {
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
