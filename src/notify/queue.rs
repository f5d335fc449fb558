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

use super::{Message, OutAlert, SendError};

pub const BACKOFF_INITIAL_MS: i64 = 250;
pub const BACKOFF_MAX_MS: i64 = 10_000;

/// Delay before retry number `attempt` (1 = the first retry): 250 ms doubling up to 10 s.
pub fn backoff_ms(attempt: u32) -> i64 {
    let shift = attempt.saturating_sub(1).min(16);
    (BACKOFF_INITIAL_MS << shift).min(BACKOFF_MAX_MS)
}

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

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
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

    /// Drops the oldest alerts (whole messages for a grouping target) past the bound; the
    /// message being sent right now is left alone.
    fn enforce_bound(&mut self) -> u64 {
        let mut dropped = 0u64;
        while self.len > self.capacity {
            let i = usize::from(self.in_flight);
            let Some(m) = self.items.get_mut(i) else {
                break;
            };
            let n = if self.batch > 0 && m.alerts.len() > 1 {
                let a = Arc::make_mut(m).alerts.remove(0);
                let seq = m.seq;
                self.unindex(&[a], seq);
                1
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

#[cfg(test)]
#[path = "queue_tests.rs"]
mod tests;
