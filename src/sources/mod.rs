//! Sources that poll on their own intervals and write into the sample store: JSON targets,
//! HTTP/TCP probes and Zabbix, behind the `Source` trait, and pushed metrics (`push`). Each
//! polled kind registers a [`Kind`] (its config key, decoder and builder) in [`ALL`], the one
//! place they are listed: the root config decodes every registered key, and `build_all` makes
//! the sources.

pub mod push;
pub mod sink;

use std::any::Any;
use std::collections::HashMap;
use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::config::common::Global;
use crate::config::yaml::{Decoder, Node};
use crate::model::time::now_ms;
use crate::model::Family;
use sink::Sink;

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
    /// Sets the last error, keeping `up` (the poll worked; the store refused part of it).
    pub fn set_error(&self, error: String) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).last_error = error;
    }
}

/// What a polled source is, for scheduling, reloads and `/api/v1/targets`.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    /// `json`, `probe` or `zabbix`.
    pub kind: &'static str,
    pub name: String,
    /// The URL as shown (APIs, status page, logs): `config::redact::url` of the configured one.
    pub url: String,
    pub interval: Duration,
    pub timeout: Duration,
    /// A fingerprint of the source's config: a reload keeps a source whose key is unchanged.
    pub key: String,
}

pub trait Source: Send + Sync {
    fn target(&self) -> &Target;
    /// One poll at `now_ms`: every family of the source, data and health alike.
    fn poll(&self, now_ms: i64) -> BoxFuture<'_, Vec<Family>>;
    fn health(&self) -> Health;
    /// What the store refused of the poll just written (nothing to do by default).
    fn ingested(&self, _report: &sink::Ingested) {}

    fn kind(&self) -> &'static str {
        self.target().kind
    }
    fn name(&self) -> &str {
        &self.target().name
    }
    fn url(&self) -> &str {
        &self.target().url
    }
    fn interval(&self) -> Duration {
        self.target().interval
    }
    fn timeout(&self) -> Duration {
        self.target().timeout
    }
    fn config_key(&self) -> String {
        self.target().key.clone()
    }
}

pub fn id(s: &dyn Source) -> String {
    format!("{}/{}", s.kind(), s.name())
}

/// One kind of polled source: the top-level config key of its section and how that section is
/// decoded (every problem to the decoder, at its position).
pub struct Kind {
    pub key: &'static str,
    pub decode: fn(&mut Decoder, &Node, &str, &Global) -> Arc<dyn Section>,
}

// Every polled kind, in one list: adding one is a file with its `KIND` and a line here.
crate::registry! { pub const ALL: &[Kind] = KIND; probe, zabbix, json }

/// One entry of a kind's section (a JSON target, a probe, a Zabbix server).
pub trait Entry: Debug + PartialEq + Send + Sync + Sized + 'static {
    /// The running sources of a whole section.
    fn build(entries: &[Self]) -> Result<Vec<Arc<dyn Source>>, String>;
}

/// A decoded section: a list of one kind's entries.
pub trait Section: Debug + Send + Sync {
    fn build(&self) -> Result<Vec<Arc<dyn Source>>, String>;
    fn as_any(&self) -> &dyn Any;
    fn same(&self, other: &dyn Section) -> bool;
}

impl<T: Entry> Section for Vec<T> {
    fn build(&self) -> Result<Vec<Arc<dyn Source>>, String> {
        T::build(self)
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn same(&self, other: &dyn Section) -> bool {
        other.as_any().downcast_ref::<Vec<T>>() == Some(self)
    }
}

/// The config's sections of polled sources, in [`ALL`]'s order (absent keys left out).
#[derive(Clone, Debug, Default)]
pub struct Sections(Vec<(&'static str, Arc<dyn Section>)>);

impl PartialEq for Sections {
    fn eq(&self, other: &Self) -> bool {
        self.0.len() == other.0.len()
            && self
                .0
                .iter()
                .zip(&other.0)
                .all(|((k, a), (l, b))| k == l && a.same(&**b))
    }
}

impl Sections {
    /// Decodes every registered key present in the root mapping.
    pub fn decode(
        d: &mut Decoder,
        root: &mut crate::config::yaml::Fields,
        global: &Global,
    ) -> Self {
        let mut out = Vec::new();
        for kind in ALL {
            if let Some(n) = root.get(kind.key) {
                out.push((kind.key, (kind.decode)(d, n, kind.key, global)));
            }
        }
        Sections(out)
    }

    /// The entries of the kind whose entry type is `T` (empty when its key is absent).
    pub fn of<T: Entry>(&self) -> &[T] {
        self.0
            .iter()
            .find_map(|(_, s)| s.as_any().downcast_ref::<Vec<T>>())
            .map_or(&[], |v| v.as_slice())
    }

    /// Makes every configured source; a reload passes the old ones so unchanged sources keep
    /// their counters and sessions.
    pub fn build_all(&self, old: &[Arc<dyn Source>]) -> Result<Vec<Arc<dyn Source>>, String> {
        let mut fresh: Vec<Arc<dyn Source>> = Vec::new();
        for (_, section) in &self.0 {
            fresh.extend(section.build()?);
        }
        let by_key: HashMap<String, &Arc<dyn Source>> =
            old.iter().map(|s| (s.config_key(), s)).collect();
        Ok(fresh
            .into_iter()
            .map(|s| by_key.get(&s.config_key()).map_or(s, |o| Arc::clone(o)))
            .collect())
    }
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

    pub fn start(sources: &[Arc<dyn Source>], sink: Arc<dyn Sink>) -> Scheduler {
        let mut tasks = Vec::new();
        for s in sources {
            let s = Arc::clone(s);
            let sink = Arc::clone(&sink);
            tasks.push(tokio::spawn(async move {
                let id = id(&*s);
                let start = tokio::time::Instant::now() + offset(&id, s.interval());
                let mut tick = tokio::time::interval_at(start, s.interval());
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
                loop {
                    tick.tick().await;
                    let now = now_ms();
                    let families = s.poll(now).await;
                    let report = sink.ingest(&id, families, now);
                    s.ingested(&report);
                }
            }));
        }
        Scheduler { tasks }
    }
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
