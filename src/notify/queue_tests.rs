//! Queue bound, coalescing, ordering and retry/backoff on synthetic time.

use super::*;

fn a(name: &str, starts: i64, ends: i64, resolved: bool) -> OutAlert {
    OutAlert {
        labels: vec![("alertname".into(), name.into())],
        annotations: Vec::new(),
        starts_at_ms: starts,
        ends_at_ms: ends,
        generator_url: String::new(),
        resolved,
    }
}

fn names(m: &Message) -> Vec<String> {
    m.alerts
        .iter()
        .map(|x| format!("{}{}", x.labels[0].1, if x.resolved { "-" } else { "+" }))
        .collect()
}

fn send(q: &mut Queue, now: i64) -> Arc<Message> {
    match q.next(now) {
        Next::Send(m) => m,
        other => panic!("expected a message, got {other:?}"),
    }
}

fn err(retryable: bool) -> Result<(), SendError> {
    Err(SendError::new(retryable, "x", "x"))
}

#[test]
fn backoff_doubles_up_to_the_cap() {
    let got: Vec<i64> = (1..=8).map(backoff_ms).collect();
    assert_eq!(got, vec![250, 500, 1000, 2000, 4000, 8000, 10_000, 10_000]);
    assert_eq!(backoff_ms(1000), BACKOFF_MAX_MS);
}

#[test]
fn alerts_are_batched_up_to_the_batch_size() {
    let mut q = Queue::new(2, 100);
    q.push_alerts((0..5).map(|i| a(&format!("A{i}"), 0, 10, false)).collect());
    assert_eq!(q.len(), 5);
    let m = send(&mut q, 0);
    assert_eq!(names(&m), vec!["A0+", "A1+"]);
    // While a batch is in flight, nothing else goes out and new alerts queue behind it.
    assert_eq!(q.next(0), Next::Idle);
    assert_eq!(q.done(m.seq, &Ok(()), 0), Done::Delivered(2));
    assert_eq!(q.len(), 3);
    assert_eq!(names(&send(&mut q, 0)), vec!["A2+", "A3+"]);
}

#[test]
fn retryable_failures_back_off_and_keep_order() {
    let mut q = Queue::new(10, 100);
    q.push_alerts(vec![a("A", 0, 10, false)]);
    let m = send(&mut q, 1000);
    assert_eq!(q.done(m.seq, &err(true), 1000), Done::Failed(1));
    q.push_alerts(vec![a("A", 0, 500, true)]);
    assert_eq!(q.next(1100), Next::WaitUntil(1250));
    let m = send(&mut q, 1250);
    // The retried batch now holds the resolution too, after the firing copy.
    assert_eq!(names(&m), vec!["A+", "A-"]);
    q.done(m.seq, &err(true), 1250);
    assert_eq!(q.next(1250), Next::WaitUntil(1750));
    let m = send(&mut q, 1750);
    assert_eq!(q.done(m.seq, &Ok(()), 1760), Done::Delivered(2));
    assert!(q.is_empty());
    // Success resets the backoff.
    q.push_alerts(vec![a("B", 0, 10, false)]);
    assert!(matches!(q.next(1760), Next::Send(_)));
}

#[test]
fn permanent_failures_drop_the_message_without_retry() {
    let mut q = Queue::new(10, 100);
    q.push_alerts(vec![a("A", 0, 10, false), a("B", 0, 10, false)]);
    let m = send(&mut q, 0);
    assert_eq!(q.done(m.seq, &err(false), 0), Done::Rejected(2));
    assert!(q.is_empty());
    assert_eq!(q.next(0), Next::Idle);
}

#[test]
fn a_re_sent_firing_alert_replaces_its_queued_copy_but_not_its_resolution() {
    let mut q = Queue::new(10, 100);
    q.push_alerts(vec![a("A", 0, 240, false)]);
    q.push_alerts(vec![a("A", 0, 300, false)]);
    q.push_alerts(vec![a("A", 0, 360, false)]);
    assert_eq!(q.len(), 1);
    q.push_alerts(vec![a("A", 0, 370, true)]);
    // Resolutions are re-sent too (for 15 minutes): one copy stays queued.
    q.push_alerts(vec![a("A", 0, 370, true)]);
    assert_eq!(q.len(), 2);
    q.push_alerts(vec![a("A", 400, 640, false)]);
    assert_eq!(q.len(), 3);
    // An older state arriving after a newer one is queued again, never moved back in time.
    q.push_alerts(vec![a("A", 0, 370, true)]);
    assert_eq!(q.len(), 4);
    let dup = q.messages()[0].alerts.pop();
    assert_eq!(dup.map(|x| x.resolved), Some(true));
    let m = send(&mut q, 0);
    assert_eq!(names(&m), vec!["A+", "A-", "A+", "A-"]);
    assert_eq!(m.alerts[0].ends_at_ms, 360);
    // An alert in a batch that is being sent is not touched: the copy queues behind it.
    q.push_alerts(vec![a("A", 400, 700, false)]);
    assert_eq!(q.len(), 5);
    q.done(m.seq, &Ok(()), 0);
    let m = send(&mut q, 0);
    assert_eq!(m.alerts[0].ends_at_ms, 700);
}

#[test]
fn past_the_bound_the_oldest_alerts_are_dropped_and_counted() {
    let mut q = Queue::new(3, 4);
    q.push_alerts((0..4).map(|i| a(&format!("A{i}"), 0, 10, false)).collect());
    assert_eq!(q.push_alerts(vec![a("A4", 0, 10, false)]), 1);
    assert_eq!(q.push_alerts(vec![a("A5", 0, 10, false)]), 1);
    assert_eq!(q.len(), 4);
    assert_eq!(q.dropped, 2);
    let m = send(&mut q, 0);
    assert_eq!(names(&m), vec!["A2+"]);
    // The batch in flight is never dropped.
    q.push_alerts((6..10).map(|i| a(&format!("A{i}"), 0, 10, false)).collect());
    assert_eq!(q.len(), 4);
    assert_eq!(q.done(m.seq, &Ok(()), 0), Done::Delivered(1));
    let all: Vec<String> = q.messages().iter().flat_map(names).collect();
    assert_eq!(all, vec!["A7+", "A8+", "A9+"]);
}

#[test]
fn grouping_targets_keep_messages_whole() {
    let mut q = Queue::new(0, 3);
    let msg = |n: usize| Message {
        group_key: format!("g{n}"),
        ..Message::batch((0..n).map(|i| a(&format!("A{i}"), 0, 10, false)).collect())
    };
    q.push_message(msg(2));
    assert_eq!(q.push_message(msg(1)), 0);
    assert_eq!(q.push_message(msg(1)), 2);
    assert_eq!(q.len(), 2);
    assert_eq!(send(&mut q, 0).group_key, "g1");
}

#[test]
fn saved_messages_go_before_new_ones() {
    let mut q = Queue::new(10, 100);
    q.push_alerts(vec![a("A", 0, 10, false), a("B", 0, 10, true)]);
    let saved: Vec<Message> =
        serde_json::from_str(&serde_json::to_string(&q.messages()).unwrap()).unwrap();
    let mut fresh = Queue::new(10, 100);
    fresh.push_alerts(vec![a("C", 0, 10, false)]);
    assert_eq!(fresh.restore(saved), 0);
    assert_eq!(names(&send(&mut fresh, 0)), vec!["A+", "B-", "C+"]);
}

#[test]
fn the_message_handed_out_is_shared_and_later_changes_leave_it_alone() {
    let mut q = Queue::new(10, 100);
    q.push_alerts(vec![a("A", 0, 10, false)]);
    let m = send(&mut q, 0);
    assert_eq!(
        Arc::strong_count(&m),
        2,
        "handed out without copying its alerts"
    );
    // After a failure the sender may still hold it while a re-send replaces the queued copy.
    assert_eq!(q.done(m.seq, &err(true), 0), Done::Failed(1));
    q.push_alerts(vec![a("A", 0, 20, false)]);
    assert_eq!(m.alerts[0].ends_at_ms, 10);
    let again = send(&mut q, 1000);
    assert_eq!((again.seq, again.alerts[0].ends_at_ms), (m.seq, 20));
    assert_eq!(q.len(), 1);
}
