//! The push registry: what the checks need about every group, the limits, and the writes.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use super::config::PushConfig;
use super::grouping::GroupKey;
use super::refusal::{Mode, Refusal, REASONS};
use super::text::{push_times, PUSH_FAILURE_TIME, PUSH_TIME};
use super::SOURCE_PREFIX;
use crate::model::{Family, Labels, MetricType};
use crate::sources::sink::{Refused, Sink};

mod api_group;

/// The store source of `/api/v1/metrics` pushes (one group without grouping labels).
pub(super) const API_SOURCE: &str = "push:api";

pub(super) struct Group {
    key: GroupKey,
    /// Pushed families by name: type and series count (push times not included).
    names: BTreeMap<String, (MetricType, usize)>,
    /// Series held, push times included.
    series: usize,
    push_time: f64,
    failure_time: f64,
    updated_ms: i64,
}

#[derive(Default)]
pub(super) struct State {
    groups: BTreeMap<String, Group>,
    /// Metric name → its type and how many groups push it (pushgateway keeps a name's type
    /// the same across groups).
    types: HashMap<String, (MetricType, usize)>,
    series: usize,
    per_job: HashMap<String, usize>,
    /// When each `/api/v1/metrics` series was last pushed (for expiry), by name and labels.
    api_pushed: HashMap<(String, Labels), i64>,
}

pub struct Registry {
    store: Arc<dyn Sink>,
    cfg: RwLock<(Option<PushConfig>, Duration)>,
    state: Mutex<State>,
    rejected: Mutex<BTreeMap<&'static str, u64>>,
    accepted: AtomicU64,
    /// One per request being read, parsed and checked (see [`INGEST_CONCURRENCY`]).
    permits: tokio::sync::Semaphore,
}

/// Push requests read, parsed and checked at once; the others wait, their bodies unread. With
/// the body and sample limits this bounds the memory push ingest can take (docs/push.md).
pub const INGEST_CONCURRENCY: usize = 2;

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub(super) fn samples_of(fams: &[Family]) -> usize {
    fams.iter().map(|f| f.samples.len()).sum()
}

fn series_of(fams: &[Family]) -> usize {
    fams.iter()
        .filter(|f| f.name != PUSH_TIME && f.name != PUSH_FAILURE_TIME)
        .map(|f| f.samples.len())
        .sum()
}

impl Registry {
    pub fn new(store: Arc<dyn Sink>) -> Self {
        Registry {
            store,
            cfg: RwLock::new((None, Duration::from_secs(15))),
            state: Mutex::new(State::default()),
            rejected: Mutex::new(REASONS.iter().map(|r| (*r, 0)).collect()),
            accepted: AtomicU64::new(0),
            permits: tokio::sync::Semaphore::new(INGEST_CONCURRENCY),
        }
    }

    /// Applies a configuration (start and each reload); `None` turns push off and deletes the
    /// groups. `refresh` is how often groups are re-ingested (the scrape interval).
    pub fn configure(&self, cfg: Option<PushConfig>, refresh: Duration, now_ms: i64) {
        if cfg.is_none() {
            let mut st = lock(&self.state);
            for id in std::mem::take(&mut st.groups).into_keys() {
                self.store.remove_source(&id, now_ms);
            }
            *st = State::default();
        }
        *self.cfg.write().unwrap_or_else(|e| e.into_inner()) = (cfg, refresh);
    }

    pub fn config(&self) -> Option<PushConfig> {
        self.cfg.read().unwrap_or_else(|e| e.into_inner()).0.clone()
    }

    pub fn refresh_interval(&self) -> Duration {
        self.cfg.read().unwrap_or_else(|e| e.into_inner()).1
    }

    /// Waits for a turn to read, parse and check one request (held until dropped).
    pub async fn ingest_permit(&self) -> Option<tokio::sync::SemaphorePermit<'_>> {
        self.permits.acquire().await.ok()
    }

    /// Counts a refusal and hands it back (for `?`).
    pub fn refuse(&self, r: Refusal) -> Refusal {
        *lock(&self.rejected).entry(r.reason).or_default() += 1;
        tracing::debug!(reason = r.reason, err = %r.message, "push refused");
        r
    }

    fn enabled(&self) -> Result<PushConfig, Refusal> {
        self.config().ok_or_else(|| {
            Refusal::new(
                404,
                "disabled",
                "push is not enabled: add a push: section to the config\n",
            )
        })
    }

    fn check_request(&self, cfg: &PushConfig, fams: &[Family]) -> Result<(), Refusal> {
        let n = samples_of(fams);
        if n > cfg.max_samples_per_request {
            return Err(Refusal::new(
                413,
                "too_many_samples",
                format!(
                    "push refused: {n} samples in one request exceed push.max_samples_per_request ({})",
                    cfg.max_samples_per_request
                ),
            ));
        }
        Ok(())
    }

    /// A pushgateway-style push to group `key`.
    pub fn push(
        &self,
        key: &GroupKey,
        fams: Vec<Family>,
        mode: Mode,
        now_ms: i64,
    ) -> Result<usize, Refusal> {
        let cfg = self.enabled()?;
        let id = format!("{SOURCE_PREFIX}{}", key.display());
        let samples = samples_of(&fams);
        let mut st = lock(&self.state);
        let res = self.check_request(&cfg, &fams).and_then(|()| {
            let pushed: HashSet<String> = fams.iter().map(|f| f.name.clone()).collect();
            let mut all = match mode {
                Mode::Replace => fams,
                Mode::Merge => {
                    let mut cur = self.store.latest_of(&id).unwrap_or_default();
                    cur.retain(|f| !pushed.contains(&f.name));
                    cur.extend(fams);
                    cur
                }
            };
            all.retain(|f| f.name != PUSH_TIME && f.name != PUSH_FAILURE_TIME);
            self.write(&mut st, &cfg, &id, key, all, now_ms)
        });
        match res {
            Ok(_) => {
                self.accepted.fetch_add(samples as u64, Ordering::Relaxed);
                Ok(samples)
            }
            Err(r) => {
                self.record_failure(&mut st, &id, now_ms);
                Err(self.refuse(r))
            }
        }
    }

    /// Checks and writes a group's complete new family set (push times added here).
    fn write(
        &self,
        st: &mut State,
        cfg: &PushConfig,
        id: &str,
        key: &GroupKey,
        mut all: Vec<Family>,
        now_ms: i64,
    ) -> Result<usize, Refusal> {
        let old = st.groups.get(id);
        for f in &all {
            if let Some((kind, users)) = st.types.get(&f.name) {
                let own = old.and_then(|g| g.names.get(&f.name)).is_some();
                if *kind != f.kind && *users > usize::from(own) {
                    return Err(Refusal::new(
                        400,
                        "invalid",
                        format!(
                            "pushed metrics are inconsistent with existing metrics: {} is {} in another group, pushed as {}",
                            f.name,
                            kind.text(),
                            f.kind.text()
                        ),
                    ));
                }
            }
        }
        let series = series_of(&all);
        // A group's push times are series too: they count toward the job and total limits
        // (so empty groups cannot pile up), not toward the group's own.
        let held = series + if key.0.is_empty() { 0 } else { 2 };
        let old_series = old.map_or(0, |g| g.series);
        let job = key.job().to_string();
        let job_series = st.per_job.get(&job).copied().unwrap_or(0) - old_series + held;
        let total = st.series - old_series + held;
        let over = |what: &str, reason, have: usize, limit: usize| {
            Refusal::new(
                422,
                reason,
                format!("push refused: {have} series would pass {what} ({limit})"),
            )
        };
        if series > cfg.max_series_per_group {
            return Err(over(
                "push.max_series_per_group",
                "group_series_limit",
                series,
                cfg.max_series_per_group,
            ));
        }
        if !job.is_empty() && job_series > cfg.max_series_per_job {
            return Err(over(
                "push.max_series_per_job",
                "job_series_limit",
                job_series,
                cfg.max_series_per_job,
            ));
        }
        if total > cfg.max_series {
            return Err(over(
                "push.max_series",
                "series_limit",
                total,
                cfg.max_series,
            ));
        }
        let names: BTreeMap<String, (MetricType, usize)> = all
            .iter()
            .map(|f| (f.name.clone(), (f.kind, f.samples.len())))
            .collect();
        let now_s = now_ms as f64 / 1000.0;
        let failure_time = old.map_or(0.0, |g| g.failure_time);
        if !key.0.is_empty() {
            all.extend(push_times(key, now_s, failure_time));
        }
        self.store
            .try_ingest(id, all, now_ms)
            .map_err(|r| match r {
                Refused::Full(full) => Refusal::new(
                    422,
                    "storage_full",
                    format!(
                        "push refused: {} new series would pass storage.max_series ({}; {} held)",
                        full.new, full.limit, full.held
                    ),
                ),
                Refused::Samples(report) => Refusal::new(
                    400,
                    "samples_rejected",
                    format!(
                        "push refused: {}",
                        report.rejected_message().unwrap_or_default()
                    ),
                ),
            })?;
        if let Some(g) = st.groups.remove(id) {
            st.series -= g.series;
            *st.per_job.entry(g.key.job().to_string()).or_default() -= g.series;
            for name in g.names.keys() {
                forget_type(&mut st.types, name);
            }
        }
        for (name, (kind, _)) in &names {
            st.types.entry(name.clone()).or_insert((*kind, 0)).1 += 1;
        }
        st.series += held;
        *st.per_job.entry(job).or_default() += held;
        st.groups.insert(
            id.to_string(),
            Group {
                key: key.clone(),
                names,
                series: held,
                push_time: now_s,
                failure_time,
                updated_ms: now_ms,
            },
        );
        Ok(series)
    }

    /// Pushgateway records a failed change in the group's `push_failure_time_seconds`. Only
    /// existing groups are touched: failed pushes never create state.
    fn record_failure(&self, st: &mut State, id: &str, now_ms: i64) {
        let Some(g) = st.groups.get_mut(id) else {
            return;
        };
        g.failure_time = now_ms as f64 / 1000.0;
        if g.key.0.is_empty() {
            return;
        }
        let mut fams = self.store.latest_of(id).unwrap_or_default();
        fams.retain(|f| f.name != PUSH_TIME && f.name != PUSH_FAILURE_TIME);
        fams.extend(push_times(&g.key, g.push_time, g.failure_time));
        let _ = self.store.ingest(id, fams, now_ms);
    }

    /// Deletes a group (its series go stale). Deleting a group that does not exist is no error.
    pub fn delete(&self, key: &GroupKey, now_ms: i64) -> Result<(), Refusal> {
        self.enabled()?;
        let id = format!("{SOURCE_PREFIX}{}", key.display());
        let mut st = lock(&self.state);
        self.remove(&mut st, &id, now_ms);
        Ok(())
    }

    fn remove(&self, st: &mut State, id: &str, now_ms: i64) {
        if let Some(g) = st.groups.remove(id) {
            st.series -= g.series;
            *st.per_job.entry(g.key.job().to_string()).or_default() -= g.series;
            for name in g.names.keys() {
                forget_type(&mut st.types, name);
            }
            self.store.remove_source(id, now_ms);
        }
    }

    /// Expires what was not pushed for `expire_after`, then re-ingests every group at `now`.
    pub fn tick(&self, now_ms: i64) {
        let Some(cfg) = self.config() else { return };
        let mut st = lock(&self.state);
        if let Some(exp) = cfg.expire_after {
            let cutoff = now_ms - exp.as_millis() as i64;
            let old: Vec<String> = st
                .groups
                .iter()
                .filter(|(id, g)| id.as_str() != API_SOURCE && g.updated_ms < cutoff)
                .map(|(id, _)| id.clone())
                .collect();
            for id in old {
                tracing::info!(group = %id, "push group expired");
                self.remove(&mut st, &id, now_ms);
            }
            self.expire_api(&mut st, &cfg, cutoff, now_ms);
        }
        let ids: Vec<String> = st.groups.keys().cloned().collect();
        for id in ids {
            if let Some(fams) = self.store.latest_of(&id) {
                let _ = self.store.ingest(&id, fams, now_ms);
            }
        }
    }

    /// Self-metrics, while push is enabled.
    pub fn families(&self, out: &mut Vec<Family>) {
        if self.config().is_none() {
            return;
        }
        let (groups, series) = {
            let st = lock(&self.state);
            (st.groups.len(), st.series)
        };
        out.push(
            Family::gauge("telltale_push_groups", "Push groups held.").with(&[], groups as f64),
        );
        out.push(
            Family::gauge("telltale_push_series", "Series held by push groups.")
                .with(&[], series as f64),
        );
        out.push(
            Family::counter(
                "telltale_push_samples_total",
                "Samples accepted by push requests.",
            )
            .with(&[], self.accepted.load(Ordering::Relaxed) as f64),
        );
        let mut rej = Family::counter(
            "telltale_push_rejected_total",
            "Push requests refused, by reason (the limit or check that refused them).",
        );
        for (reason, n) in lock(&self.rejected).iter() {
            rej.add(&[("reason", reason)], *n as f64);
        }
        out.push(rej);
    }
}

fn forget_type(types: &mut HashMap<String, (MetricType, usize)>, name: &str) {
    if let Some(e) = types.get_mut(name) {
        e.1 -= 1;
        if e.1 == 0 {
            types.remove(name);
        }
    }
}
