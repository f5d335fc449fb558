//! Alertmanager's grouping for the notifiers that talk to people: a pure state machine advanced
//! by the timestamp passed in, so it is tested on synthetic time.
//!
//! As in Alertmanager (`dispatch/dispatch.go` aggregation groups, `notify.go` DedupStage):
//! alerts with equal values of the `group_by` labels form a group; a new group is flushed
//! `group_wait` after it appears (at once if its alert started more than `group_wait` ago),
//! then every `group_interval`. A flush notifies when a firing alert is new since the last
//! notification, when everything has resolved after something fired, when `send_resolved` is
//! set and a resolution is new, or when `repeat_interval` has passed; a group that only ever
//! held resolved alerts is never notified. Resolved alerts leave the group after each flush.
//!
//! One difference: Alertmanager records a notification once the receiver accepted it; here it
//! is recorded when the notification is queued, and the queue retries it until delivered.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::{Message, OutAlert};
use crate::model::Labels;

#[derive(Clone, Debug, PartialEq)]
pub struct GroupSettings {
    /// `None` = `...`: every label (one group per alert).
    pub group_by: Option<Vec<String>>,
    pub group_wait_ms: i64,
    pub group_interval_ms: i64,
    pub repeat_interval_ms: i64,
    pub send_resolved: bool,
}

impl Default for GroupSettings {
    /// Alertmanager's route defaults, grouped by alert name.
    fn default() -> Self {
        GroupSettings {
            group_by: Some(vec!["alertname".into()]),
            group_wait_ms: 30_000,
            group_interval_ms: 300_000,
            repeat_interval_ms: 4 * 3_600_000,
            send_resolved: true,
        }
    }
}

/// What the last notification of a group contained (Alertmanager's notification log entry).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Notified {
    firing: BTreeSet<u64>,
    resolved: BTreeSet<u64>,
    at_ms: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Group {
    #[serde(with = "super::label_map")]
    labels: Labels,
    /// By fingerprint (the alert identity, as in Alertmanager).
    alerts: BTreeMap<u64, OutAlert>,
    next_flush_ms: i64,
    flushed: bool,
    last: Option<Notified>,
}

/// The groups of one receiver.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Grouper {
    #[serde(skip)]
    settings: Option<GroupSettings>,
    groups: BTreeMap<String, Group>,
}

impl Grouper {
    pub fn new(settings: GroupSettings) -> Self {
        Grouper {
            settings: Some(settings),
            groups: BTreeMap::new(),
        }
    }

    fn s(&self) -> &GroupSettings {
        self.settings.as_ref().expect("grouper built with settings")
    }

    /// Takes the groups of a saved grouper (after a restart), keeping these settings.
    pub fn restore(&mut self, saved: Grouper) {
        self.groups = saved.groups;
    }

    #[cfg(test)]
    pub fn group_count(&self) -> usize {
        self.groups.len()
    }

    /// The `group_by` labels of an alert (absent ones left out) and the group key, written as
    /// Alertmanager writes it for its root route: `{}:{alertname="X", job="y"}`.
    pub fn key_of(&self, labels: &Labels) -> (String, Labels) {
        let picked: Labels = match &self.s().group_by {
            None => labels.clone(),
            Some(names) => labels
                .iter()
                .filter(|(k, _)| names.contains(k))
                .cloned()
                .collect(),
        };
        (
            format!("{{}}:{}", super::render::label_set_string(&picked)),
            picked,
        )
    }

    /// Adds (or updates) alerts at `now`.
    pub fn insert(&mut self, alerts: &[OutAlert], now_ms: i64) {
        let wait = self.s().group_wait_ms;
        for a in alerts {
            let (key, labels) = self.key_of(&a.labels);
            let g = self.groups.entry(key).or_insert_with(|| Group {
                labels,
                alerts: BTreeMap::new(),
                next_flush_ms: now_ms + wait,
                flushed: false,
                last: None,
            });
            g.alerts.insert(a.fingerprint(), a.clone());
            // An alert that started long ago need not wait for company.
            if !g.flushed && a.starts_at_ms + wait < now_ms {
                g.next_flush_ms = g.next_flush_ms.min(now_ms);
            }
        }
    }

    /// When `tick` next has something to do.
    pub fn next_due_ms(&self) -> Option<i64> {
        self.groups.values().map(|g| g.next_flush_ms).min()
    }

    /// Flushes every due group; returns the notifications to queue.
    pub fn tick(&mut self, now_ms: i64) -> Vec<Message> {
        let s = self.s().clone();
        let mut out = Vec::new();
        let mut empty = Vec::new();
        for (key, g) in self.groups.iter_mut() {
            if g.next_flush_ms > now_ms {
                continue;
            }
            if let Some(m) = flush(key, g, &s, now_ms) {
                out.push(m);
            }
            g.flushed = true;
            g.next_flush_ms = now_ms + s.group_interval_ms;
            g.alerts.retain(|_, a| !a.is_resolved_at(now_ms));
            if g.alerts.is_empty() && g.last.as_ref().is_none_or(|l| l.firing.is_empty()) {
                empty.push(key.clone());
            }
        }
        for k in empty {
            self.groups.remove(&k);
        }
        out
    }

    /// Shutdown: flushes every group now instead of at its timer.
    pub fn flush_all(&mut self, now_ms: i64) -> Vec<Message> {
        for g in self.groups.values_mut() {
            g.next_flush_ms = now_ms;
        }
        self.tick(now_ms)
    }
}

fn flush(key: &str, g: &mut Group, s: &GroupSettings, now: i64) -> Option<Message> {
    let mut firing = BTreeSet::new();
    let mut resolved = BTreeSet::new();
    for (fp, a) in &g.alerts {
        let set = if a.is_resolved_at(now) {
            &mut resolved
        } else {
            &mut firing
        };
        set.insert(*fp);
    }
    if !needs_update(g.last.as_ref(), &firing, &resolved, s, now) {
        return None;
    }
    g.last = Some(Notified {
        firing,
        resolved,
        at_ms: now,
    });
    let mut alerts: Vec<OutAlert> = g
        .alerts
        .values()
        .filter(|a| s.send_resolved || !a.is_resolved_at(now))
        .cloned()
        .collect();
    if alerts.is_empty() {
        return None;
    }
    alerts.sort_by(alert_order);
    Some(Message {
        seq: 0,
        group_key: key.to_string(),
        group_labels: g.labels.clone(),
        alerts,
        at_ms: now,
    })
}

/// Alertmanager's DedupStage decision.
fn needs_update(
    last: Option<&Notified>,
    firing: &BTreeSet<u64>,
    resolved: &BTreeSet<u64>,
    s: &GroupSettings,
    now: i64,
) -> bool {
    let Some(last) = last else {
        return !firing.is_empty();
    };
    if !firing.is_subset(&last.firing) {
        return true;
    }
    if firing.is_empty() {
        // Everything resolved: tell a receiver that saw it firing (whatever send_resolved says,
        // so that the firing state is cleared); one that never did need not hear of it.
        return !last.firing.is_empty();
    }
    if s.send_resolved && !resolved.is_subset(&last.resolved) {
        return true;
    }
    last.at_ms + s.repeat_interval_ms < now
}

/// Alertmanager's alert order in a notification: by `job`, then `instance` (alerts lacking one
/// after those having it), then by the whole label set.
pub fn alert_order(a: &OutAlert, b: &OutAlert) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    for key in ["job", "instance"] {
        match (a.label(key), b.label(key)) {
            (None, None) => continue,
            (None, Some(_)) => return Ordering::Greater,
            (Some(_), None) => return Ordering::Less,
            (Some(x), Some(y)) if x != y => return x.cmp(y),
            _ => {}
        }
    }
    a.labels.cmp(&b.labels)
}

#[cfg(test)]
mod tests {
    //! The grouping state machine on synthetic time (seconds written as `s(..)`).

    use super::*;

    fn s(secs: i64) -> i64 {
        secs * 1000
    }

    fn alert(name: &str, instance: &str, starts: i64, ends: i64, resolved: bool) -> OutAlert {
        OutAlert {
            labels: vec![
                ("alertname".into(), name.into()),
                ("instance".into(), instance.into()),
            ],
            annotations: Vec::new(),
            starts_at_ms: starts,
            ends_at_ms: ends,
            generator_url: String::new(),
            resolved,
        }
    }

    fn firing(name: &str, instance: &str, t: i64) -> OutAlert {
        alert(name, instance, t, t + s(100_000), false)
    }

    fn settings() -> GroupSettings {
        GroupSettings {
            group_by: Some(vec!["alertname".into()]),
            group_wait_ms: s(30),
            group_interval_ms: s(300),
            repeat_interval_ms: s(3600),
            send_resolved: true,
        }
    }

    /// (instance, resolved-in-message) of each alert of each message.
    fn summary(msgs: &[Message]) -> Vec<Vec<(String, bool)>> {
        msgs.iter()
            .map(|m| {
                m.alerts
                    .iter()
                    .map(|a| {
                        (
                            a.label("instance").unwrap().to_string(),
                            a.is_resolved_at(m.at_ms),
                        )
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn a_new_group_waits_group_wait_then_collects_its_alerts() {
        let mut g = Grouper::new(settings());
        g.insert(&[firing("Down", "a", s(100))], s(100));
        assert_eq!(g.next_due_ms(), Some(s(130)));
        g.insert(&[firing("Down", "b", s(110))], s(110));
        assert!(g.tick(s(129)).is_empty());
        let m = g.tick(s(130));
        assert_eq!(
            summary(&m),
            vec![vec![("a".into(), false), ("b".into(), false)]]
        );
        assert_eq!(m[0].group_key, "{}:{alertname=\"Down\"}");
        assert_eq!(m[0].group_labels, vec![("alertname".into(), "Down".into())]);
        assert_eq!(g.next_due_ms(), Some(s(430)));
    }

    #[test]
    fn group_by_separates_groups_and_dots_mean_every_label() {
        let mut g = Grouper::new(settings());
        g.insert(
            &[firing("Down", "a", s(0)), firing("Full", "a", s(0))],
            s(0),
        );
        assert_eq!(g.group_count(), 2);
        let mut all = Grouper::new(GroupSettings {
            group_by: None,
            ..settings()
        });
        all.insert(
            &[firing("Down", "a", s(0)), firing("Down", "b", s(0))],
            s(0),
        );
        assert_eq!(all.group_count(), 2);
        let mut none = Grouper::new(GroupSettings {
            group_by: Some(vec![]),
            ..settings()
        });
        none.insert(
            &[firing("Down", "a", s(0)), firing("Full", "b", s(0))],
            s(0),
        );
        assert_eq!(none.group_count(), 1);
        assert_eq!(none.tick(s(30))[0].group_key, "{}:{}");
    }

    #[test]
    fn an_old_alert_flushes_a_new_group_at_once() {
        let mut g = Grouper::new(settings());
        g.insert(&[firing("Down", "a", s(0))], s(100));
        assert_eq!(g.next_due_ms(), Some(s(100)));
        assert_eq!(g.tick(s(100)).len(), 1);
    }

    #[test]
    fn unchanged_groups_repeat_only_after_repeat_interval() {
        let mut g = Grouper::new(settings());
        g.insert(&[firing("Down", "a", s(0))], s(0));
        assert_eq!(g.tick(s(30)).len(), 1);
        // Re-sent by the engine every minute with a later endsAt: nothing new.
        let mut t = s(30);
        let mut sent = 0;
        while t < s(3600 + 30 + 300) {
            t += s(60);
            g.insert(&[alert("Down", "a", s(0), t + s(240), false)], t);
            sent += g.tick(t).len();
        }
        // First flush at 30 s; flushes every 300 s; the first one past 30+3600 s repeats.
        assert_eq!(sent, 1);
    }

    #[test]
    fn a_new_alert_in_a_notified_group_goes_out_at_the_next_interval() {
        let mut g = Grouper::new(settings());
        g.insert(&[firing("Down", "a", s(0))], s(0));
        assert_eq!(g.tick(s(30)).len(), 1);
        g.insert(&[firing("Down", "b", s(40))], s(40));
        assert!(g.tick(s(100)).is_empty());
        let m = g.tick(s(330));
        assert_eq!(
            summary(&m),
            vec![vec![("a".into(), false), ("b".into(), false)]]
        );
    }

    #[test]
    fn resolutions_are_sent_when_send_resolved_and_clear_the_group() {
        let mut g = Grouper::new(settings());
        g.insert(
            &[firing("Down", "a", s(0)), firing("Down", "b", s(0))],
            s(0),
        );
        g.tick(s(30));
        g.insert(&[alert("Down", "a", s(0), s(50), true)], s(60));
        let m = g.tick(s(330));
        assert_eq!(
            summary(&m),
            vec![vec![("a".into(), true), ("b".into(), false)]]
        );
        // The resolved alert left the group; the engine re-sends it: no new notification.
        g.insert(&[alert("Down", "a", s(0), s(50), true)], s(400));
        assert!(g.tick(s(630)).is_empty());
        // b resolves: everything resolved is always notified, and the group is gone.
        g.insert(&[alert("Down", "b", s(0), s(700), true)], s(700));
        let m = g.tick(s(930));
        assert_eq!(summary(&m), vec![vec![("b".into(), true)]]);
        assert_eq!(m[0].alerts[0].ends_at_ms, s(700));
        assert_eq!(g.group_count(), 0);
        assert_eq!(g.next_due_ms(), None);
    }

    #[test]
    fn without_send_resolved_partial_resolutions_are_silent() {
        let mut g = Grouper::new(GroupSettings {
            send_resolved: false,
            ..settings()
        });
        g.insert(
            &[firing("Down", "a", s(0)), firing("Down", "b", s(0))],
            s(0),
        );
        g.tick(s(30));
        g.insert(&[alert("Down", "a", s(0), s(50), true)], s(60));
        assert!(g.tick(s(330)).is_empty());
        // All resolved: the decision is to notify, but nothing firing is left to send.
        g.insert(&[alert("Down", "b", s(0), s(400), true)], s(400));
        assert!(g.tick(s(630)).is_empty());
        assert_eq!(g.group_count(), 0);
    }

    #[test]
    fn fired_and_resolved_between_flushes_is_never_notified() {
        let mut g = Grouper::new(settings());
        g.insert(&[firing("Down", "a", s(0))], s(0));
        g.insert(&[alert("Down", "a", s(0), s(10), true)], s(10));
        assert!(g.tick(s(30)).is_empty());
        assert_eq!(g.group_count(), 0);
    }

    #[test]
    fn an_alert_past_its_ends_at_counts_as_resolved() {
        let mut g = Grouper::new(settings());
        g.insert(&[alert("Down", "a", s(0), s(240), false)], s(0));
        g.tick(s(30));
        // The engine stopped re-sending (it died): at the flush after 240 s it is resolved.
        let m = g.tick(s(330));
        assert_eq!(summary(&m), vec![vec![("a".into(), true)]]);
    }

    #[test]
    fn flush_all_sends_what_is_waiting_and_state_survives_a_restore() {
        let mut g = Grouper::new(settings());
        g.insert(&[firing("Down", "a", s(0))], s(0));
        let m = g.flush_all(s(5));
        assert_eq!(m.len(), 1);
        let saved: Grouper = serde_json::from_str(&serde_json::to_string(&g).unwrap()).unwrap();
        let mut again = Grouper::new(settings());
        again.restore(saved);
        // After the restart the engine re-sends the resolution: the receiver saw it firing.
        again.insert(&[alert("Down", "a", s(0), s(60), true)], s(60));
        let m = again.tick(s(305));
        assert_eq!(summary(&m), vec![vec![("a".into(), true)]]);
    }

    #[test]
    fn alerts_are_ordered_by_job_then_instance_then_labels() {
        let mk = |pairs: &[(&str, &str)]| OutAlert {
            labels: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..firing("x", "x", 0)
        };
        let mut v = [
            mk(&[("alertname", "A"), ("instance", "b")]),
            mk(&[("alertname", "A")]),
            mk(&[("alertname", "A"), ("instance", "z"), ("job", "a")]),
            mk(&[("alertname", "A"), ("instance", "a")]),
        ];
        v.sort_by(alert_order);
        let inst: Vec<Option<&str>> = v.iter().map(|a| a.label("instance")).collect();
        assert_eq!(inst, vec![Some("z"), Some("a"), Some("b"), None]);
    }
}
