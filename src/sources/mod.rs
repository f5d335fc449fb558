//! Sources that poll on their own intervals and write into the sample store: JSON targets,
//! HTTP/TCP probes and Zabbix. Each kind is one file behind the `Source` trait; `build_all` is the
//! one place they are made from the config.

pub mod json;
pub mod probe;
pub mod push;
pub mod zabbix;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::app::config::Config;
use crate::model::time::now_ms;
use crate::model::Family;
use crate::store::Store;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The last poll's outcome, for `/api/v1/targets` and the status page.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Health {
    /// None until the first poll finishes.
    pub up: Option<bool>,
    pub last_error: String,
    pub last_poll_ms: i64,
    pub last_duration: Duration,
}

/// Shared bookkeeping for a source's health.
#[derive(Default)]
pub struct HealthCell(Mutex<Health>);

impl HealthCell {
    pub fn set(&self, up: bool, error: String, now_ms: i64, took: Duration) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Health {
            up: Some(up),
            last_error: error,
            last_poll_ms: now_ms,
            last_duration: took,
        };
    }
    pub fn get(&self) -> Health {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

pub trait Source: Send + Sync {
    /// `json`, `probe` or `zabbix`.
    fn kind(&self) -> &'static str;
    fn name(&self) -> &str;
    fn url(&self) -> &str;
    fn interval(&self) -> Duration;
    fn timeout(&self) -> Duration;
    /// A fingerprint of the source's config: a reload keeps a source whose fingerprint is unchanged.
    fn config_key(&self) -> String;
    /// One poll at `now_ms`: every family of the source, data and health alike.
    fn poll(&self, now_ms: i64) -> BoxFuture<'_, Vec<Family>>;
    fn health(&self) -> Health;
}

pub fn id(s: &dyn Source) -> String {
    format!("{}/{}", s.kind(), s.name())
}

/// Makes every configured source; a reload passes the old ones so unchanged sources keep their
/// counters and sessions.
pub fn build_all(cfg: &Config, old: &[Arc<dyn Source>]) -> Result<Vec<Arc<dyn Source>>, String> {
    let mut fresh: Vec<Arc<dyn Source>> = Vec::new();
    fresh.extend(probe::sources(&cfg.probes)?);
    fresh.extend(zabbix::build(&cfg.zabbix)?);
    fresh.extend(json::build(&cfg.json_targets)?);
    let by_key: HashMap<String, &Arc<dyn Source>> =
        old.iter().map(|s| (s.config_key(), s)).collect();
    Ok(fresh
        .into_iter()
        .map(|s| by_key.get(&s.config_key()).map_or(s, |o| Arc::clone(o)))
        .collect())
}

/// Runs each source on its interval, writing polls into the store; dropping it stops them.
pub struct Scheduler {
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Where in its interval a source first polls: spread by a hash of its id so a thousand targets
/// with the same interval do not all fire at once.
fn offset(id: &str, interval: Duration) -> Duration {
    let h = id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    let ms = interval.as_millis().max(1) as u64;
    Duration::from_millis(h % ms)
}

impl Scheduler {
    /// Adds a task that stops with the scheduler.
    pub fn add(&mut self, task: tokio::task::JoinHandle<()>) {
        self.tasks.push(task);
    }

    pub fn start(sources: &[Arc<dyn Source>], store: Arc<Store>) -> Scheduler {
        let mut tasks = Vec::new();
        for s in sources {
            let s = Arc::clone(s);
            let store = Arc::clone(&store);
            tasks.push(tokio::spawn(async move {
                let id = id(&*s);
                let start = tokio::time::Instant::now() + offset(&id, s.interval());
                let mut tick = tokio::time::interval_at(start, s.interval());
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
                loop {
                    tick.tick().await;
                    let now = now_ms();
                    let families = s.poll(now).await;
                    store.ingest(&id, families, now);
                }
            }));
        }
        let compactor = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(30));
            loop {
                tick.tick().await;
                compactor.compact(now_ms());
            }
        }));
        Scheduler { tasks }
    }
}

/// `/api/v1/targets` in Prometheus' format.
pub fn targets_json(sources: &[Arc<dyn Source>]) -> serde_json::Value {
    let active: Vec<serde_json::Value> = sources
        .iter()
        .map(|s| {
            let h = s.health();
            let health = match h.up {
                None => "unknown",
                Some(true) => "up",
                Some(false) => "down",
            };
            serde_json::json!({
                "discoveredLabels": {},
                "labels": {"job": s.kind(), "instance": s.name()},
                "scrapePool": s.kind(),
                "scrapeUrl": s.url(),
                "globalUrl": s.url(),
                "lastError": h.last_error,
                "lastScrape": if h.last_poll_ms > 0 { crate::model::time::format_millis(h.last_poll_ms) } else { "0001-01-01T00:00:00Z".to_string() },
                "lastScrapeDuration": h.last_duration.as_secs_f64(),
                "health": health,
                "scrapeInterval": crate::config::yaml::format_duration(s.interval()),
                "scrapeTimeout": crate::config::yaml::format_duration(s.timeout()),
            })
        })
        .collect();
    serde_json::json!({"status": "success", "data": {"activeTargets": active, "droppedTargets": []}})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_spread_and_stay_within_the_interval() {
        let iv = Duration::from_secs(15);
        let offs: Vec<Duration> = (0..100)
            .map(|i| offset(&format!("json/t{i}"), iv))
            .collect();
        assert!(offs.iter().all(|o| *o < iv));
        let distinct: std::collections::HashSet<_> = offs.iter().collect();
        assert!(distinct.len() > 90);
    }
}
