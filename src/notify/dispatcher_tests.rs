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
    crate::exposition::encode(
        &crate::exposition::normalize(d.families()),
        crate::exposition::Format::Text,
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
        m.contains("telltale_notifications_failed_total{notifier=\"am\",reason=\"http_5xx\"} 2\n"),
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
    let dir = std::env::temp_dir().join(format!("telltale-notify-state-{}", std::process::id()));
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
