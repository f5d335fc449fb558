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
