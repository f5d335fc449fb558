//! Between the rules engine and the notifiers. `submit` only takes locks for a moment and
//! wakes background tasks, so evaluation never waits on delivery. Per target: a grouping task
//! (grouping notifiers), a sender task working the target's `Queue` (one request at a time, in
//! order, with a timeout and retries), counters for the self-metrics. `flush` drains the queues
//! within a deadline on shutdown; `save`/`load` keep what is still pending across a restart.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::config::AlertingConfig;
use super::group::Grouper;
use super::queue::{Done, Next, Queue};
use super::stats::{self, Stats, TargetView};
use super::{Message, Mode, Notifier, OutAlert};
use crate::http_client::retry::SendError;
use crate::model::file;
use crate::model::time::now_ms;
use crate::model::{Family, Labels};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

struct Target {
    notifier: Arc<dyn Notifier>,
    grouper: Option<Mutex<Grouper>>,
    queue: Mutex<Queue>,
    stats: Mutex<Stats>,
    wake_sender: Notify,
    wake_grouper: Notify,
}

impl Target {
    fn name(&self) -> &str {
        self.notifier.name()
    }

    fn count_dropped(&self, n: u64) {
        if n > 0 {
            lock(&self.stats).dropped += n;
            tracing::warn!(notifier = %self.name(), dropped = n, "notification queue full; oldest alerts dropped");
        }
    }

    fn enqueue(&self, msgs: Vec<Message>) {
        if msgs.is_empty() {
            return;
        }
        let mut dropped = 0;
        {
            let mut q = lock(&self.queue);
            for m in msgs {
                dropped += q.push_message(m);
            }
        }
        self.count_dropped(dropped);
        self.wake_sender.notify_one();
    }
}

pub struct Dispatcher {
    targets: Vec<Arc<Target>>,
    external_labels: Labels,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

#[derive(Default, Serialize, Deserialize)]
struct SavedTarget {
    queue: Vec<Message>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    groups: Option<Grouper>,
}

#[derive(Default, Serialize, Deserialize)]
struct Saved {
    version: u32,
    saved_at_ms: i64,
    targets: BTreeMap<String, SavedTarget>,
}

impl Dispatcher {
    /// The targets of an `alerting:` config; `external_labels` (the global ones) are added to
    /// every alert that lacks them, as Prometheus does before queueing.
    pub fn from_config(cfg: &AlertingConfig, external_labels: &Labels) -> Result<Self, String> {
        let notifiers = super::build(cfg)?;
        Ok(Self::new(
            notifiers,
            cfg.queue_capacity,
            external_labels.clone(),
        ))
    }

    pub fn new(
        notifiers: Vec<Arc<dyn Notifier>>,
        capacity: usize,
        external_labels: Labels,
    ) -> Self {
        let targets = notifiers
            .into_iter()
            .map(|n| {
                let (batch, grouper) = match n.mode() {
                    Mode::Batch(b) => (b.max(1), None),
                    Mode::Grouped(s) => (0, Some(Mutex::new(Grouper::new(s)))),
                };
                Arc::new(Target {
                    notifier: n,
                    grouper,
                    queue: Mutex::new(Queue::new(batch, capacity)),
                    stats: Mutex::new(Stats::default()),
                    wake_sender: Notify::new(),
                    wake_grouper: Notify::new(),
                })
            })
            .collect();
        Dispatcher {
            targets,
            external_labels,
            tasks: Mutex::new(Vec::new()),
        }
    }

    /// Starts the background tasks on the current tokio runtime (once; `load` first).
    pub fn start(&self) {
        let mut tasks = lock(&self.tasks);
        if !tasks.is_empty() {
            return;
        }
        for t in &self.targets {
            let n = Arc::clone(&t.notifier);
            tasks.push(tokio::spawn(async move { n.startup_check().await }));
            tasks.push(tokio::spawn(run_sender(Arc::clone(t))));
            if t.grouper.is_some() {
                tasks.push(tokio::spawn(run_grouper(Arc::clone(t))));
            }
        }
    }

    /// Hands alerts over for delivery to every target. Never waits for delivery.
    pub fn submit(&self, mut alerts: Vec<OutAlert>) {
        if alerts.is_empty() {
            return;
        }
        for a in &mut alerts {
            for (k, v) in &self.external_labels {
                if !a.labels.iter().any(|(n, _)| n == k) {
                    a.labels.push((k.clone(), v.clone()));
                }
            }
            a.labels.sort();
        }
        let now = now_ms();
        for t in &self.targets {
            match &t.grouper {
                Some(g) => {
                    lock(g).insert(&alerts, now);
                    t.wake_grouper.notify_one();
                }
                None => {
                    let dropped = lock(&t.queue).push_alerts(alerts.clone());
                    t.count_dropped(dropped);
                    t.wake_sender.notify_one();
                }
            }
        }
    }

    /// Alerts still waiting in all queues (sending ones included).
    pub fn pending(&self) -> usize {
        self.targets.iter().map(|t| lock(&t.queue).len()).sum()
    }

    /// Shutdown: sends what grouping targets hold now, ends backoffs, and waits until every
    /// queue is empty or `deadline` passes. Returns whether everything was delivered.
    pub async fn flush(&self, deadline: Duration) -> bool {
        let end = Instant::now() + deadline;
        let now = now_ms();
        for t in &self.targets {
            if let Some(g) = &t.grouper {
                let msgs = lock(g).flush_all(now);
                t.enqueue(msgs);
            }
            lock(&t.queue).retry_now();
            t.wake_sender.notify_one();
        }
        loop {
            let pending = self.pending();
            if pending == 0 {
                return true;
            }
            if Instant::now() >= end {
                tracing::warn!(
                    pending,
                    "notification flush deadline passed; alerts still queued"
                );
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops the background tasks (what is queued stays, for `save`).
    pub fn stop(&self) {
        for t in lock(&self.tasks).drain(..) {
            t.abort();
        }
    }

    pub fn families(&self) -> Vec<Family> {
        let views: Vec<TargetView> = self
            .targets
            .iter()
            .map(|t| {
                let q = lock(&t.queue);
                TargetView {
                    name: t.name(),
                    stats: lock(&t.stats).clone(),
                    queue_length: q.len(),
                    queue_capacity: q.capacity(),
                }
            })
            .collect();
        stats::families(&views)
    }

    /// Writes the pending deliveries and the grouping state (tmp file + rename, so a crash
    /// leaves the old file or the new one, never half of one).
    pub fn save(&self, path: &Path) -> Result<(), String> {
        let mut saved = Saved {
            version: 1,
            saved_at_ms: now_ms(),
            ..Saved::default()
        };
        for t in &self.targets {
            saved.targets.insert(
                t.name().to_string(),
                SavedTarget {
                    queue: lock(&t.queue).messages(),
                    groups: t.grouper.as_ref().map(|g| lock(g).clone()),
                },
            );
        }
        let text = serde_json::to_vec(&saved).map_err(|e| e.to_string())?;
        file::write_atomic(path, &text).map_err(|e| format!("cannot write {}: {e}", path.display()))
    }

    /// Restores what `save` wrote (a missing file is a first start). Returns the number of
    /// alerts put back in queues; targets no longer configured are logged and skipped. Only a
    /// regular file is read (a FIFO there cannot block start-up); one that does not parse is
    /// moved to `<path>.corrupt-<time>` so the next save does not destroy it.
    pub fn load(&self, path: &Path) -> Result<usize, String> {
        let text = match file::read_regular(path) {
            Ok(Some(t)) => t,
            Ok(None) => return Ok(0),
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        let saved: Saved = serde_json::from_slice(&text).map_err(|e| {
            let kept = match file::set_aside(path, now_ms()) {
                Ok(p) => format!("kept as {}", p.display()),
                Err(e) => format!("not moved aside: {e}"),
            };
            format!("cannot parse {} ({kept}): {e}", path.display())
        })?;
        let mut restored = 0;
        for (name, st) in saved.targets {
            let Some(t) = self.targets.iter().find(|t| t.name() == name) else {
                let n: usize = st.queue.iter().map(|m| m.alerts.len()).sum();
                tracing::warn!(notifier = %name, alerts = n, "saved notifications for a notifier no longer configured; skipped");
                continue;
            };
            restored += st.queue.iter().map(|m| m.alerts.len()).sum::<usize>();
            let dropped = lock(&t.queue).restore(st.queue);
            t.count_dropped(dropped);
            if let (Some(g), Some(saved_groups)) = (&t.grouper, st.groups) {
                lock(g).restore(saved_groups);
            }
            t.wake_sender.notify_one();
            t.wake_grouper.notify_one();
        }
        Ok(restored)
    }
}

impl Drop for Dispatcher {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn sleep_or_wake(until_ms: Option<i64>, wake: &Notify) {
    match until_ms {
        Some(at) => {
            let wait = Duration::from_millis((at - now_ms()).max(0) as u64 + 1);
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = wake.notified() => {}
            }
        }
        None => wake.notified().await,
    }
}

async fn run_grouper(t: Arc<Target>) {
    let Some(g) = &t.grouper else { return };
    loop {
        let (msgs, next) = {
            let mut g = lock(g);
            let msgs = g.tick(now_ms());
            (msgs, g.next_due_ms())
        };
        t.enqueue(msgs);
        sleep_or_wake(next, &t.wake_grouper).await;
    }
}

async fn run_sender(t: Arc<Target>) {
    loop {
        let next = lock(&t.queue).next(now_ms());
        let m = match next {
            Next::Send(m) => m,
            Next::WaitUntil(at) => {
                sleep_or_wake(Some(at), &t.wake_sender).await;
                continue;
            }
            Next::Idle => {
                sleep_or_wake(None, &t.wake_sender).await;
                continue;
            }
        };
        let start = Instant::now();
        let timeout = t.notifier.timeout();
        let res = match tokio::time::timeout(timeout, t.notifier.send(&m)).await {
            Ok(r) => r,
            Err(_) => Err(SendError::new(
                true,
                "timeout",
                format!("no answer within {timeout:?}"),
            )),
        };
        let elapsed = start.elapsed().as_secs_f64();
        let done = lock(&t.queue).done(m.seq, &res, now_ms());
        let mut s = lock(&t.stats);
        match (done, &res) {
            (Done::Delivered(n), _) => {
                s.sent += n as u64;
                s.latency.observe(elapsed);
            }
            (Done::Failed(n), Err(e)) => {
                *s.failed.entry(e.reason).or_default() += n as u64;
                tracing::warn!(notifier = %t.name(), reason = e.reason, err = %e.message, alerts = n, "delivery failed; will retry");
            }
            (Done::Rejected(n), Err(e)) => {
                *s.failed.entry(e.reason).or_default() += n as u64;
                tracing::error!(notifier = %t.name(), reason = e.reason, err = %e.message, alerts = n, "delivery rejected; not retried");
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    //! The dispatcher with in-process notifiers: delivery, retries, rejection, metrics, flush and
    //! the state file.

    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::notify::group::GroupSettings;
    use crate::notify::SendFuture;

    /// Records what it gets; fails the first `fail_first` sends with `error`.
    struct Fake {
        name: String,
        mode: Mode,
        fail_first: usize,
        error: SendError,
        calls: AtomicUsize,
        got: Mutex<Vec<Message>>,
    }

    impl Fake {
        fn new(name: &str, mode: Mode, fail_first: usize, retryable: bool) -> Arc<Self> {
            Arc::new(Fake {
                name: name.into(),
                mode,
                fail_first,
                error: SendError::new(
                    retryable,
                    if retryable { "http_5xx" } else { "http_4xx" },
                    "no",
                ),
                calls: AtomicUsize::new(0),
                got: Mutex::new(Vec::new()),
            })
        }
        fn alerts(&self) -> Vec<String> {
            lock(&self.got)
                .iter()
                .flat_map(|m| {
                    m.alerts.iter().map(|a| {
                        a.labels
                            .iter()
                            .map(|(k, v)| format!("{k}={v}"))
                            .collect::<Vec<_>>()
                            .join(",")
                    })
                })
                .collect()
        }
    }

    impl Notifier for Fake {
        fn name(&self) -> &str {
            &self.name
        }
        fn mode(&self) -> Mode {
            self.mode.clone()
        }
        fn timeout(&self) -> Duration {
            Duration::from_secs(1)
        }
        fn send<'a>(&'a self, msg: &'a Message) -> SendFuture<'a> {
            Box::pin(async move {
                if self.calls.fetch_add(1, Ordering::SeqCst) < self.fail_first {
                    return Err(self.error.clone());
                }
                lock(&self.got).push(msg.clone());
                Ok(())
            })
        }
    }

    fn alert(name: &str) -> OutAlert {
        let now = now_ms();
        OutAlert {
            labels: vec![("alertname".into(), name.into())],
            annotations: Vec::new(),
            starts_at_ms: now - 60_000,
            ends_at_ms: now + 240_000,
            generator_url: String::new(),
            resolved: false,
        }
    }

    fn metrics(d: &Dispatcher) -> String {
        crate::model::encode(
            &crate::model::normalize(d.families()),
            crate::model::Format::Text,
        )
    }

    async fn wait_for(what: &str, f: impl Fn() -> bool) {
        for _ in 0..300 {
            if f() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("timed out waiting for {what}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn delivers_with_external_labels_and_counts() {
        let fake = Fake::new("am", Mode::Batch(64), 0, true);
        let d = Dispatcher::new(vec![fake.clone()], 100, vec![("site".into(), "lab".into())]);
        d.start();
        let mut own = alert("B");
        own.labels.push(("site".into(), "own".into()));
        d.submit(vec![alert("A"), own]);
        wait_for("delivery", || fake.alerts().len() == 2).await;
        assert_eq!(
            fake.alerts(),
            vec!["alertname=A,site=lab", "alertname=B,site=own"]
        );
        let m = metrics(&d);
        assert!(
            m.contains("telltale_notifications_sent_total{notifier=\"am\"} 2\n"),
            "{m}"
        );
        assert!(
            m.contains("telltale_notifications_queue_length{notifier=\"am\"} 0\n"),
            "{m}"
        );
        assert!(
            m.contains("telltale_notifications_latency_seconds_count{notifier=\"am\"} 1\n"),
            "{m}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn retryable_failures_are_retried_until_delivered() {
        let fake = Fake::new("am", Mode::Batch(64), 2, true);
        let d = Dispatcher::new(vec![fake.clone()], 100, Vec::new());
        d.start();
        d.submit(vec![alert("A")]);
        wait_for("delivery after two failures", || fake.alerts().len() == 1).await;
        assert_eq!(fake.calls.load(Ordering::SeqCst), 3);
        let m = metrics(&d);
        assert!(
            m.contains(
                "telltale_notifications_failed_total{notifier=\"am\",reason=\"http_5xx\"} 2\n"
            ),
            "{m}"
        );
        assert!(
            m.contains("telltale_notifications_sent_total{notifier=\"am\"} 1\n"),
            "{m}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn permanent_failures_are_not_retried() {
        let fake = Fake::new("am", Mode::Batch(64), 1, false);
        let d = Dispatcher::new(vec![fake.clone()], 100, Vec::new());
        d.start();
        d.submit(vec![alert("A")]);
        wait_for("the rejection", || d.pending() == 0).await;
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(fake.calls.load(Ordering::SeqCst), 1);
        assert!(fake.alerts().is_empty());
        assert!(metrics(&d).contains("reason=\"http_4xx\"} 1\n"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn flush_sends_grouped_alerts_before_group_wait_and_reports_leftovers() {
        let grouped = Fake::new("hook", Mode::Grouped(GroupSettings::default()), 0, true);
        let d = Dispatcher::new(vec![grouped.clone()], 100, Vec::new());
        d.start();
        d.submit(vec![alert("A")]);
        // group_wait is 30 s, but the alert started a minute ago: flushed at once.
        wait_for("the group", || grouped.alerts().len() == 1).await;
        assert_eq!(lock(&grouped.got)[0].group_key, "{}:{alertname=\"A\"}");
        let mut fresh = alert("B");
        fresh.starts_at_ms = now_ms();
        d.submit(vec![fresh]);
        assert!(d.flush(Duration::from_secs(2)).await);
        assert_eq!(grouped.alerts().len(), 2);

        let down = Fake::new("down", Mode::Batch(64), usize::MAX, true);
        let d = Dispatcher::new(vec![down], 100, Vec::new());
        d.start();
        d.submit(vec![alert("A")]);
        assert!(!d.flush(Duration::from_millis(300)).await);
        assert_eq!(d.pending(), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pending_deliveries_survive_a_restart() {
        let dir =
            std::env::temp_dir().join(format!("telltale-notify-state-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notify.json");
        let down = Fake::new("am", Mode::Batch(64), usize::MAX, true);
        let hook = Fake::new(
            "hook",
            Mode::Grouped(GroupSettings::default()),
            usize::MAX,
            true,
        );
        let d = Dispatcher::new(vec![down, hook], 100, Vec::new());
        d.start();
        d.submit(vec![alert("A"), alert("B")]);
        wait_for("the grouped message to queue", || d.pending() == 4).await;
        d.stop();
        d.save(&path).unwrap();
        assert!(!dir.join("notify.tmp").exists());

        let up = Fake::new("am", Mode::Batch(64), 0, true);
        let hook = Fake::new("hook", Mode::Grouped(GroupSettings::default()), 0, true);
        let other = Fake::new("gone", Mode::Batch(64), 0, true);
        let d2 = Dispatcher::new(
            vec![up.clone(), hook.clone(), other.clone()],
            100,
            Vec::new(),
        );
        assert_eq!(d2.load(&path).unwrap(), 4);
        d2.start();
        wait_for("restored delivery", || {
            up.alerts().len() == 2 && hook.alerts().len() == 2
        })
        .await;
        assert!(other.alerts().is_empty());
        // The restored grouping state knows both groups were notified: a resolution goes out.
        let mut r = alert("A");
        r.resolved = true;
        r.ends_at_ms = now_ms();
        d2.submit(vec![r]);
        assert!(d2.flush(Duration::from_secs(2)).await);
        assert_eq!(hook.alerts().len(), 3);
        assert_eq!(
            Dispatcher::new(vec![], 1, Vec::new())
                .load(&dir.join("missing.json"))
                .unwrap(),
            0
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_corrupt_queue_file_is_kept_aside() {
        let dir = crate::model::file::testkit::dir("notify-bad");
        let path = dir.join("notify.json");
        std::fs::write(&path, "{\"version\": 1, \"targ").unwrap();
        let d = Dispatcher::new(vec![], 1, Vec::new());
        let e = d.load(&path).unwrap_err();
        assert!(
            e.contains("kept as") && e.contains("notify.json.corrupt-"),
            "{e}"
        );
        assert!(!path.exists());
        d.save(&path).unwrap();
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 2);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn ten_thousand_alerts_go_out_in_batches_and_one_group() {
        let am = Fake::new("am", Mode::Batch(64), 0, true);
        let hook = Fake::new("hook", Mode::Grouped(GroupSettings::default()), 0, true);
        let d = Dispatcher::new(vec![am.clone(), hook.clone()], 10_000, Vec::new());
        d.start();
        let alerts: Vec<OutAlert> = (0..10_000)
            .map(|i| {
                let mut a = alert("Many");
                a.labels.push(("instance".into(), format!("host-{i}")));
                a
            })
            .collect();
        let start = Instant::now();
        d.submit(alerts);
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "submit took {:?}",
            start.elapsed()
        );
        assert!(d.flush(Duration::from_secs(30)).await, "{}", metrics(&d));
        let batches: Vec<usize> = lock(&am.got).iter().map(|m| m.alerts.len()).collect();
        assert_eq!(batches.iter().sum::<usize>(), 10_000);
        assert!(batches.iter().all(|n| *n <= 64) && batches.len() >= 157);
        let groups = lock(&hook.got);
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].alerts.len(), 10_000);
    }
}
