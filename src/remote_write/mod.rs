//! remote_write out: every sample the store takes in (sources' polls, the host collectors when
//! polled for rules, pushes, recording rules and `ALERTS`) reaches each configured receiver
//! through the store's tap. Per receiver: a bounded queue of samples (past its capacity the
//! oldest are dropped and counted), batches of up to `batch_size` sent once full or after
//! `flush_interval`, one request at a time so a series' samples arrive in order, and retries
//! with backoff (the notifiers' schedule) on connection errors, timeouts, 5xx and 429; any other
//! answer fails the batch at once, as a retry would get it again.
//!
//! Writers whose configuration is unchanged are kept across a reload, queue and all.

pub mod config;
pub mod proto;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tokio::task::JoinHandle;

pub use config::RemoteWriteConfig;
use proto::Series;

use crate::http_client;
use crate::http_client::retry::backoff_ms;
use crate::http_client::retry::{classify_fetch, classify_response, SendError};
use crate::model::{Family, Labels};
use crate::store::{SeriesKey, Tap, Written};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[derive(Default)]
struct Counters {
    sent: AtomicU64,
    failed: AtomicU64,
    retried: AtomicU64,
    dropped: AtomicU64,
}

/// One receiver: its queue and counters (the sending task is owned by a `Handle`).
pub struct Writer {
    cfg: RemoteWriteConfig,
    /// External labels (the entry's over the global ones), added where a series lacks them.
    external: Labels,
    client: reqwest::Client,
    queue: Mutex<VecDeque<Written>>,
    in_flight: AtomicUsize,
    wake: Notify,
    flush_now: AtomicBool,
    n: Counters,
}

impl Writer {
    fn new(cfg: &RemoteWriteConfig, global: &Labels) -> Result<Self, String> {
        let client = http_client::builder(&cfg.http)?
            .user_agent(crate::http_client::USER_AGENT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("remote_write {}: cannot build HTTP client: {e}", cfg.name))?;
        Ok(Writer {
            cfg: cfg.clone(),
            external: external_labels(cfg, global),
            client,
            queue: Mutex::new(VecDeque::new()),
            in_flight: AtomicUsize::new(0),
            wake: Notify::new(),
            flush_now: AtomicBool::new(false),
            n: Counters::default(),
        })
    }

    fn enqueue(&self, samples: &[Written]) {
        let (was_empty, len, dropped) = {
            let mut q = lock(&self.queue);
            let was_empty = q.is_empty();
            q.extend(samples.iter().cloned());
            let over = q.len().saturating_sub(self.cfg.queue_capacity);
            q.drain(..over);
            (was_empty, q.len(), over)
        };
        if dropped > 0 {
            self.n.dropped.fetch_add(dropped as u64, Ordering::Relaxed);
        }
        if was_empty || len >= self.cfg.batch_size {
            self.wake.notify_one();
        }
    }

    /// Queued plus being sent.
    pub fn pending(&self) -> usize {
        lock(&self.queue).len() + self.in_flight.load(Ordering::Relaxed)
    }

    /// The series of a batch with their full label sets, samples in queue order. Series are
    /// told apart by their key's allocation: every sample of a series carries the store's one
    /// key, and the batch keeps it alive, so no label is hashed or copied here.
    fn request<'a>(&'a self, batch: &'a [Written]) -> Vec<Series<&'a str>> {
        let mut out: Vec<Series<&str>> = Vec::with_capacity(batch.len());
        let mut index: HashMap<(*const Labels, *const u8), usize> =
            HashMap::with_capacity(batch.len());
        for (key, t, v) in batch {
            let id = (Arc::as_ptr(&key.labels), key.name.as_ptr());
            let i = *index.entry(id).or_insert_with(|| {
                out.push(Series {
                    labels: labels_for(key, &self.external),
                    samples: Vec::new(),
                });
                out.len() - 1
            });
            out[i].samples.push((*t, *v));
        }
        out
    }

    async fn send(&self, body: &[u8]) -> Result<(), SendError> {
        let req = self
            .client
            .post(&self.cfg.url)
            .header("Content-Encoding", "snappy")
            .header("Content-Type", "application/x-protobuf")
            .header("X-Prometheus-Remote-Write-Version", "0.1.0")
            .body(body.to_vec());
        let r = http_client::fetch(&self.cfg.http, req)
            .await
            .map_err(classify_fetch)?;
        classify_response(&r)
    }

    /// Sends one batch until it is delivered or refused for good.
    async fn deliver(&self, batch: &[Written]) {
        let n = batch.len() as u64;
        let body = match proto::encode_compressed(&self.request(batch)) {
            Ok(b) => b,
            Err(e) => {
                self.n.failed.fetch_add(n, Ordering::Relaxed);
                tracing::error!(remote = %self.cfg.name, err = %e, "cannot encode a remote_write batch");
                return;
            }
        };
        let mut attempt = 0;
        loop {
            match self.send(&body).await {
                Ok(()) => {
                    self.n.sent.fetch_add(n, Ordering::Relaxed);
                    if attempt > 0 {
                        tracing::info!(remote = %self.cfg.name, attempts = attempt + 1, "remote_write delivered after retries");
                    }
                    return;
                }
                Err(e) if e.retryable => {
                    self.n.retried.fetch_add(n, Ordering::Relaxed);
                    attempt += 1;
                    if attempt == 1 || attempt % 10 == 0 {
                        tracing::warn!(remote = %self.cfg.name, reason = e.reason, err = %e.message, samples = n, attempt, "remote_write failed; retrying");
                    }
                    tokio::time::sleep(Duration::from_millis(backoff_ms(attempt) as u64)).await;
                }
                Err(e) => {
                    self.n.failed.fetch_add(n, Ordering::Relaxed);
                    tracing::error!(remote = %self.cfg.name, reason = e.reason, err = %e.message, samples = n, "remote_write refused; batch dropped");
                    return;
                }
            }
        }
    }

    /// Waits for a full batch, or for `flush_interval` after the queue became non-empty.
    async fn next_batch(&self) -> Vec<Written> {
        loop {
            if lock(&self.queue).is_empty() {
                self.wake.notified().await;
                continue;
            }
            let deadline = Instant::now() + self.cfg.flush_interval;
            loop {
                let full = lock(&self.queue).len() >= self.cfg.batch_size;
                if full || self.flush_now.load(Ordering::Relaxed) || Instant::now() >= deadline {
                    break;
                }
                tokio::select! {
                    _ = tokio::time::sleep_until(deadline.into()) => {}
                    _ = self.wake.notified() => {}
                }
            }
            let mut q = lock(&self.queue);
            let n = q.len().min(self.cfg.batch_size);
            self.in_flight.store(n, Ordering::Relaxed);
            return q.drain(..n).collect();
        }
    }

    async fn run(self: Arc<Self>) {
        loop {
            let batch = self.next_batch().await;
            self.deliver(&batch).await;
            self.in_flight.store(0, Ordering::Relaxed);
        }
    }
}

fn external_labels(cfg: &RemoteWriteConfig, global: &Labels) -> Labels {
    let mut external = cfg.external_labels.clone();
    for (k, v) in global {
        if !external.iter().any(|(n, _)| n == k) {
            external.push((k.clone(), v.clone()));
        }
    }
    external
}

/// `__name__`, the series' labels, and the external labels it lacks, sorted by name.
fn labels_for<'a>(key: &'a SeriesKey, external: &'a Labels) -> Vec<(&'a str, &'a str)> {
    let mut l: Vec<(&str, &str)> = Vec::with_capacity(key.labels.len() + external.len() + 1);
    l.push(("__name__", &key.name));
    l.extend(key.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    for (k, v) in external {
        if !key.labels.iter().any(|(n, _)| n == k) {
            l.push((k, v));
        }
    }
    l.sort_unstable();
    l
}

/// A writer and its sending task, stopped when the last configuration using it is dropped.
pub struct Handle {
    writer: Arc<Writer>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        if let Some(t) = lock(&self.task).take() {
            t.abort();
        }
        let left = self.writer.pending();
        if left > 0 {
            tracing::warn!(remote = %self.writer.cfg.name, samples = left, "remote_write removed with samples still queued");
        }
    }
}

/// Every receiver of one configuration.
#[derive(Default)]
pub struct RemoteWrite {
    handles: Vec<Arc<Handle>>,
}

struct Fanout(Vec<Arc<Writer>>);

impl Tap for Fanout {
    fn written(&self, samples: Vec<Written>) {
        for w in &self.0 {
            w.enqueue(&samples);
        }
    }
}

impl RemoteWrite {
    /// Writers for `cfgs`, reusing `old`'s where the entry and the external labels are the
    /// same. Nothing starts here (see `start`).
    pub fn build(
        cfgs: &[RemoteWriteConfig],
        global: &Labels,
        old: Option<&RemoteWrite>,
    ) -> Result<Self, String> {
        let mut handles = Vec::with_capacity(cfgs.len());
        for c in cfgs {
            let external = external_labels(c, global);
            let reused = old.and_then(|o| {
                o.handles
                    .iter()
                    .find(|h| h.writer.cfg == *c && h.writer.external == external)
            });
            handles.push(match reused {
                Some(h) => Arc::clone(h),
                None => Arc::new(Handle {
                    writer: Arc::new(Writer::new(c, global)?),
                    task: Mutex::new(None),
                }),
            });
        }
        Ok(RemoteWrite { handles })
    }

    /// Starts the sending tasks not running yet; returns the tap to give the store.
    pub fn start(&self) -> Option<Arc<dyn Tap>> {
        for h in &self.handles {
            let mut t = lock(&h.task);
            if t.is_none() {
                *t = Some(tokio::spawn(Arc::clone(&h.writer).run()));
            }
        }
        if self.handles.is_empty() {
            return None;
        }
        Some(Arc::new(Fanout(
            self.handles.iter().map(|h| Arc::clone(&h.writer)).collect(),
        )))
    }

    /// Shutdown: sends what is queued without waiting for full batches, up to `deadline`.
    pub async fn flush(&self, deadline: Duration) -> bool {
        let end = Instant::now() + deadline;
        for h in &self.handles {
            h.writer.flush_now.store(true, Ordering::Relaxed);
            h.writer.wake.notify_one();
        }
        loop {
            let pending: usize = self.handles.iter().map(|h| h.writer.pending()).sum();
            if pending == 0 {
                return true;
            }
            if Instant::now() >= end {
                tracing::warn!(
                    samples = pending,
                    "remote_write flush deadline passed; samples not sent"
                );
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn families(&self, out: &mut Vec<Family>) {
        if self.handles.is_empty() {
            return;
        }
        type Get = fn(&Writer) -> f64;
        let specs: [(&str, &str, bool, Get); 6] = [
            ("telltale_remote_write_samples_sent_total", "Samples delivered to the receiver.", true, |w| w.n.sent.load(Ordering::Relaxed) as f64),
            ("telltale_remote_write_samples_failed_total", "Samples in batches the receiver refused for good (4xx other than 429), not retried.", true, |w| w.n.failed.load(Ordering::Relaxed) as f64),
            ("telltale_remote_write_samples_retried_total", "Samples in failed attempts that were retried (connection errors, timeouts, 5xx, 429); counted once per attempt.", true, |w| w.n.retried.load(Ordering::Relaxed) as f64),
            ("telltale_remote_write_samples_dropped_total", "Samples dropped because the queue was full (the oldest go first).", true, |w| w.n.dropped.load(Ordering::Relaxed) as f64),
            ("telltale_remote_write_queue_length", "Samples waiting to be sent, the batch being sent included.", false, |w| w.pending() as f64),
            ("telltale_remote_write_queue_capacity", "The most samples the queue holds.", false, |w| w.cfg.queue_capacity as f64),
        ];
        for (name, help, counter, get) in specs {
            let mut f = if counter {
                Family::counter(name, help)
            } else {
                Family::gauge(name, help)
            };
            for h in &self.handles {
                f.add(&[("remote", &h.writer.cfg.name)], get(&h.writer));
            }
            out.push(f);
        }
    }
}

#[cfg(test)]
mod tests;
