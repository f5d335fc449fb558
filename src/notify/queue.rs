//! One target's pending deliveries as plain data, advanced by the times passed in: FIFO
//! messages, a bound counted in alerts (the oldest dropped past it), and retry with exponential
//! backoff of the message at the front. Order is kept: a later state of an alert never
//! overtakes an earlier one, so a resolution cannot arrive before its firing.
//!
//! For batching targets, an alert re-sent by the engine (every resend delay) replaces its latest
//! queued copy when that copy is in the same state (same labels, `startsAt` and resolved flag)
//! instead of queueing again, so an outage of several resend periods costs one slot per alert
//! state, and what is finally delivered carries the latest `endsAt` and annotations. A firing
//! copy is never replaced by the resolution: the receiver must see both.
//!
//! Messages are shared (`Arc`) with the sender, so handing out the front message costs no copy
//! of its alerts; a queued message is only changed while no sender holds it (`Arc::make_mut`).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use super::{Message, OutAlert};
use crate::http_client::retry::backoff_ms;
use crate::http_client::retry::SendError;

/// What the sender should do now.
#[derive(Debug, PartialEq)]
pub enum Next {
    Send(Arc<Message>),
    /// Nothing before this time (a backoff); or nothing at all queued (`Idle`).
    WaitUntil(i64),
    Idle,
}

/// The outcome of one send, for the counters.
#[derive(Debug, PartialEq)]
pub enum Done {
    Delivered(usize),
    /// Will be retried.
    Failed(usize),
    /// Dropped: a permanent failure.
    Rejected(usize),
}

#[derive(Clone, Debug, Default)]
pub struct Queue {
    items: VecDeque<Arc<Message>>,
    /// Alerts per message for batching targets; 0 = grouping target (messages kept whole).
    batch: usize,
    capacity: usize,
    len: usize,
    next_seq: u64,
    /// The front message is being sent right now.
    in_flight: bool,
    attempts: u32,
    not_before_ms: i64,
    /// An alert's fingerprint → the message holding its latest queued copy, and that copy's
    /// (startsAt, resolved).
    latest: HashMap<u64, (u64, (i64, bool))>,
    pub dropped: u64,
}

impl Queue {
    pub fn new(batch: usize, capacity: usize) -> Self {
        Queue {
            batch,
            capacity: capacity.max(1),
            next_seq: 1,
            ..Queue::default()
        }
    }

    /// Queued alerts (the in-flight ones included).
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Where message `seq` is (seqs increase from front to back).
    fn position(&self, seq: u64) -> Option<usize> {
        self.items.binary_search_by_key(&seq, |m| m.seq).ok()
    }

    fn sealed(&self, i: usize) -> bool {
        i == 0 && self.in_flight
    }

    /// Appends alerts (batching target). Returns how many old alerts were dropped.
    pub fn push_alerts(&mut self, alerts: Vec<OutAlert>) -> u64 {
        for a in alerts {
            let fp = a.fingerprint();
            let state = (a.starts_at_ms, a.resolved);
            // The same state as the alert's latest queued copy: replace that copy.
            if let Some(&(seq, st)) = self.latest.get(&fp) {
                if st == state {
                    if let Some(i) = self.position(seq).filter(|i| !self.sealed(*i)) {
                        let m = Arc::make_mut(&mut self.items[i]);
                        let slot = m.alerts.iter_mut().rev().find(|x| {
                            x.labels == a.labels && (x.starts_at_ms, x.resolved) == state
                        });
                        if let Some(slot) = slot {
                            *slot = a;
                            continue;
                        }
                    }
                }
            }
            let last = self.items.len().wrapping_sub(1);
            let room = self
                .items
                .back()
                .is_some_and(|m| m.alerts.len() < self.batch)
                && !self.sealed(last);
            if !room {
                let seq = self.next_seq;
                self.next_seq += 1;
                let mut m = Message::batch(Vec::new());
                m.seq = seq;
                self.items.push_back(Arc::new(m));
            }
            let back = Arc::make_mut(self.items.back_mut().expect("a message to append to"));
            self.latest.insert(fp, (back.seq, state));
            back.alerts.push(a);
            self.len += 1;
        }
        self.enforce_bound()
    }

    /// Forgets the index entries of alerts leaving message `seq`.
    fn unindex(&mut self, alerts: &[OutAlert], seq: u64) {
        for a in alerts {
            let fp = a.fingerprint();
            if self.latest.get(&fp).is_some_and(|(s, _)| *s == seq) {
                self.latest.remove(&fp);
            }
        }
    }

    /// Appends a whole message (grouping target). Returns how many alerts were dropped.
    pub fn push_message(&mut self, mut m: Message) -> u64 {
        m.seq = self.next_seq;
        self.next_seq += 1;
        self.len += m.alerts.len();
        self.items.push_back(Arc::new(m));
        self.enforce_bound()
    }

    /// Drops the oldest alerts past the bound, the same way for both kinds of target: whole
    /// messages from the front while they fit in the excess, then the oldest alerts of the next
    /// one (the first queued of a batch; those with the earliest `startsAt` of a group's
    /// notification, which is in Alertmanager's job/instance order), so a 200-alert group over
    /// a bound of 50 keeps its 50 newest. The message being sent right now is left alone.
    fn enforce_bound(&mut self) -> u64 {
        let mut dropped = 0u64;
        while self.len > self.capacity {
            let excess = self.len - self.capacity;
            let i = usize::from(self.in_flight);
            let Some(m) = self.items.get_mut(i) else {
                break;
            };
            let n = if m.alerts.len() > excess {
                let m = Arc::make_mut(m);
                let gone: Vec<OutAlert> = if self.batch > 0 {
                    m.alerts.drain(..excess).collect()
                } else {
                    take_oldest(&mut m.alerts, excess)
                };
                let seq = m.seq;
                self.unindex(&gone, seq);
                excess
            } else {
                let m = self.items.remove(i).expect("index checked");
                self.unindex(&m.alerts, m.seq);
                if i == 0 {
                    self.attempts = 0;
                    self.not_before_ms = 0;
                }
                m.alerts.len()
            };
            self.len -= n;
            dropped += n as u64;
        }
        self.dropped += dropped;
        dropped
    }

    /// The next message to send at `now`, marked in flight; or when to ask again.
    pub fn next(&mut self, now_ms: i64) -> Next {
        if self.in_flight {
            return Next::Idle;
        }
        let Some(front) = self.items.front() else {
            return Next::Idle;
        };
        if now_ms < self.not_before_ms {
            return Next::WaitUntil(self.not_before_ms);
        }
        self.in_flight = true;
        Next::Send(Arc::clone(front))
    }

    /// Records the outcome of sending message `seq` at `now`.
    pub fn done(&mut self, seq: u64, result: &Result<(), SendError>, now_ms: i64) -> Done {
        self.in_flight = false;
        let n = self.position(seq).map_or(0, |i| self.items[i].alerts.len());
        match result {
            Err(e) if e.retryable => {
                self.attempts += 1;
                self.not_before_ms = now_ms + backoff_ms(self.attempts);
                Done::Failed(n)
            }
            other => {
                self.attempts = 0;
                self.not_before_ms = 0;
                if self.items.front().is_some_and(|m| m.seq == seq) {
                    let m = self.items.pop_front().expect("front checked");
                    self.len -= m.alerts.len();
                    self.unindex(&m.alerts, seq);
                }
                if other.is_ok() {
                    Done::Delivered(n)
                } else {
                    Done::Rejected(n)
                }
            }
        }
    }

    /// Ends a backoff now (shutdown flush: one more try at once).
    pub fn retry_now(&mut self) {
        self.not_before_ms = 0;
    }

    /// The queued messages, for the state file.
    pub fn messages(&self) -> Vec<Message> {
        self.items.iter().map(|m| Message::clone(m)).collect()
    }

    /// Puts saved messages before anything queued since the start (they are older). Call it
    /// before sending starts. Returns how many alerts did not fit.
    pub fn restore(&mut self, saved: Vec<Message>) -> u64 {
        let before = self.dropped;
        self.in_flight = false;
        let current: Vec<Message> = self.items.drain(..).map(Arc::unwrap_or_clone).collect();
        self.len = 0;
        self.latest.clear();
        let batch = self.batch;
        for m in saved.into_iter().chain(current) {
            if batch > 0 {
                self.push_alerts(m.alerts);
            } else {
                self.push_message(m);
            }
        }
        self.dropped - before
    }
}

/// Removes and returns the `k` alerts with the earliest `startsAt` (the first of equals), the
/// others keeping their order.
fn take_oldest(alerts: &mut Vec<OutAlert>, k: usize) -> Vec<OutAlert> {
    let mut order: Vec<usize> = (0..alerts.len()).collect();
    order.sort_by_key(|&i| (alerts[i].starts_at_ms, i));
    let mut gone = vec![false; alerts.len()];
    for &i in order.iter().take(k) {
        gone[i] = true;
    }
    let (out, kept): (Vec<_>, Vec<_>) = alerts.drain(..).zip(gone).partition(|(_, g)| *g);
    *alerts = kept.into_iter().map(|(a, _)| a).collect();
    out.into_iter().map(|(a, _)| a).collect()
}

#[cfg(test)]
mod tests {
    //! Queue bound, coalescing, ordering and retry/backoff on synthetic time.
    use crate::http_client::retry::BACKOFF_MAX_MS;

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
        assert_eq!(q.len(), 0);
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
        assert_eq!(q.len(), 0);
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
    fn grouping_targets_drop_the_oldest_alerts_too() {
        let mut q = Queue::new(0, 3);
        let msg = |g: &str, n: i64| Message {
            group_key: g.into(),
            ..Message::batch(
                (0..n)
                    .map(|i| a(&format!("{g}{i}"), 10 - i, 20, false))
                    .collect(),
            )
        };
        q.push_message(msg("g", 2));
        assert_eq!(q.push_message(msg("h", 1)), 0);
        // One over: the oldest alert of the oldest message goes (g1 started before g0).
        assert_eq!(q.push_message(msg("i", 1)), 1);
        assert_eq!(q.len(), 3);
        let all: Vec<String> = q.messages().iter().flat_map(names).collect();
        assert_eq!(all, vec!["g0+", "h0+", "i0+"]);
        // Two over with a one-alert front message: it goes whole, then one more.
        assert_eq!(q.push_message(msg("j", 2)), 2);
        let all: Vec<String> = q.messages().iter().flat_map(names).collect();
        assert_eq!(all, vec!["i0+", "j0+", "j1+"]);
        assert_eq!(q.dropped, 3);
    }

    /// The case: `queue_capacity: 50` and 201 alerts at once keep the 50 newest, for an
    /// Alertmanager's queue and a webhook's alike.
    #[test]
    fn both_kinds_keep_the_newest_alerts_of_an_oversized_burst() {
        // Alert i started at i: the newest 50 are 151..=200.
        let burst: Vec<OutAlert> = (0..201)
            .map(|i| a(&format!("A{i}"), i, 1000, false))
            .collect();
        let want: Vec<String> = (151..201).map(|i| format!("A{i}+")).collect();
        let mut am = Queue::new(64, 50);
        assert_eq!(am.push_alerts(burst.clone()), 151);
        let mut hook = Queue::new(0, 50);
        let mut shuffled = burst;
        shuffled.reverse();
        assert_eq!(hook.push_message(Message::batch(shuffled)), 151);
        for q in [&am, &hook] {
            assert_eq!((q.len(), q.dropped), (50, 151));
            let mut got: Vec<String> = q.messages().iter().flat_map(names).collect();
            got.sort_by_key(|n| n[1..n.len() - 1].parse::<u32>().unwrap());
            assert_eq!(got, want);
        }
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
}
