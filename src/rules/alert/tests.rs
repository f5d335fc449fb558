//! The alert lifecycle on synthetic time: every transition of alerting.go's `Eval`, sending,
//! ALERTS series, restore, and the no_data / on_error / hysteresis extensions.

use super::output::*;
use super::*;
use crate::model::labels::sorted as lbls;
use crate::model::Labels;
use crate::promql::Sample;

const S: i64 = 1000;
const M: i64 = 60 * S;

fn smp(instance: &str, v: f64) -> Sample {
    Sample {
        labels: lbls(&[("__name__", "cpu"), ("instance", instance)]),
        value: v,
    }
}

fn rule(for_ms: i64, kff_ms: i64) -> AlertRule {
    let labels = [("severity".to_string(), "page".to_string())];
    let ann = [(
        "summary".to_string(),
        "{{ $labels.instance }} at {{ $value }}".to_string(),
    )];
    AlertRule::new(AlertRuleSpec::new("High", for_ms, kff_ms, &labels, &ann).unwrap())
}

fn ok(v: &[Sample]) -> EvalInput {
    EvalInput::Ok(v.to_vec())
}

fn only(r: &AlertRule) -> Alert {
    let all: Vec<&Alert> = r.alerts().collect();
    assert_eq!(all.len(), 1, "{all:?}");
    all[0].clone()
}

#[test]
fn pending_fires_exactly_at_active_at_plus_for() {
    let mut r = rule(5 * M, 0);
    assert_eq!(r.state(), None);
    for i in 0..5 {
        r.eval(i * M, ok(&[smp("a", 90.0)])).unwrap();
        assert_eq!(only(&r).state, AlertState::Pending, "at {i}m");
    }
    assert_eq!(r.state(), Some(AlertState::Pending));
    r.eval(5 * M, ok(&[smp("a", 91.0)])).unwrap();
    let a = only(&r);
    assert_eq!(
        (a.state, a.active_at_ms, a.fired_at_ms),
        (AlertState::Firing, 0, Some(5 * M))
    );
    assert_eq!(a.value, 91.0);
    assert_eq!(
        a.labels,
        lbls(&[
            ("alertname", "High"),
            ("instance", "a"),
            ("severity", "page")
        ])
    );
    assert_eq!(a.annotations, lbls(&[("summary", "a at 91")]));
}

#[test]
fn for_zero_fires_at_once_and_missing_pending_is_deleted() {
    let mut r = rule(0, 0);
    r.eval(0, ok(&[smp("a", 1.0)])).unwrap();
    assert_eq!(only(&r).state, AlertState::Firing);
    let mut r = rule(5 * M, 0);
    r.eval(0, ok(&[smp("a", 1.0)])).unwrap();
    r.eval(M, ok(&[])).unwrap();
    assert_eq!(r.alerts().count(), 0);
    assert_eq!(r.state(), Some(AlertState::Inactive));
    // Back again: a new alert, `for` starts over.
    r.eval(2 * M, ok(&[smp("a", 1.0)])).unwrap();
    assert_eq!(only(&r).active_at_ms, 2 * M);
}

#[test]
fn firing_resolves_and_is_kept_fifteen_minutes() {
    let mut r = rule(0, 0);
    r.eval(0, ok(&[smp("a", 1.0)])).unwrap();
    r.eval(M, ok(&[])).unwrap();
    let a = only(&r);
    assert_eq!((a.state, a.resolved_at_ms), (AlertState::Inactive, Some(M)));
    r.eval(16 * M, ok(&[])).unwrap(); // exactly 15 m after: still kept
    assert_eq!(only(&r).resolved_at_ms, Some(M));
    r.eval(16 * M + 1, ok(&[])).unwrap();
    assert_eq!(r.alerts().count(), 0);
    // A resolved alert whose series returns is replaced by a new pending one.
    let mut r = rule(2 * M, 0);
    r.eval(0, ok(&[smp("a", 1.0)])).unwrap();
    r.eval(2 * M, ok(&[smp("a", 1.0)])).unwrap();
    r.eval(3 * M, ok(&[])).unwrap();
    r.eval(4 * M, ok(&[smp("a", 1.0)])).unwrap();
    let a = only(&r);
    assert_eq!(
        (a.state, a.active_at_ms, a.resolved_at_ms),
        (AlertState::Pending, 4 * M, None)
    );
}

#[test]
fn keep_firing_for_holds_then_resolves() {
    let mut r = rule(0, 3 * M);
    r.eval(0, ok(&[smp("a", 1.0)])).unwrap();
    for t in [M, 2 * M, 3 * M] {
        r.eval(t, ok(&[])).unwrap();
        let a = only(&r);
        assert_eq!(
            (a.state, a.keep_firing_since_ms),
            (AlertState::Firing, Some(M)),
            "at {t}"
        );
    }
    r.eval(4 * M, ok(&[])).unwrap();
    assert_eq!(only(&r).resolved_at_ms, Some(4 * M));
    // Reappearing resets keep_firing_since.
    let mut r = rule(0, 3 * M);
    r.eval(0, ok(&[smp("a", 1.0)])).unwrap();
    r.eval(M, ok(&[])).unwrap();
    r.eval(2 * M, ok(&[smp("a", 1.0)])).unwrap();
    assert_eq!(only(&r).keep_firing_since_ms, None);
    r.eval(3 * M, ok(&[])).unwrap();
    assert_eq!(only(&r).keep_firing_since_ms, Some(3 * M));
    // Pending alerts are not held.
    let mut r = rule(5 * M, 3 * M);
    r.eval(0, ok(&[smp("a", 1.0)])).unwrap();
    r.eval(M, ok(&[])).unwrap();
    assert_eq!(r.alerts().count(), 0);
}

#[test]
fn labels_templates_and_duplicates() {
    let labels = [
        (
            "instance".to_string(),
            "{{ $labels.instance | toUpper }}".to_string(),
        ),
        ("empty".to_string(), "{{ $labels.nope }}".to_string()),
    ];
    let mut r = AlertRule::new(AlertRuleSpec::new("X", 0, 0, &labels, &[]).unwrap());
    r.eval(0, ok(&[smp("a", 1.0)])).unwrap();
    assert_eq!(
        only(&r).labels,
        lbls(&[("alertname", "X"), ("instance", "A")])
    );
    // ALERTS base = raw rule labels overlaid with alert labels (the empty one stays raw).
    let s = r.series();
    assert_eq!(
        s[0].labels,
        lbls(&[
            ("__name__", "ALERTS"),
            ("alertname", "X"),
            ("alertstate", "firing"),
            ("empty", "{{ $labels.nope }}"),
            ("instance", "A")
        ])
    );
    // `a` and `A` collide after the rule label: an error, state untouched.
    let before: Vec<Alert> = r.alerts().cloned().collect();
    let e = r.eval(M, ok(&[smp("a", 1.0), smp("A", 2.0)])).unwrap_err();
    assert!(e
        .message
        .contains("same labelset after applying alert labels"));
    assert!(e.skip_send);
    assert_eq!(r.alerts().cloned().collect::<Vec<_>>(), before);
    // __name__ alone distinguishing two series is a duplicate too.
    let mut r = rule(0, 0);
    let mut other = smp("a", 2.0);
    other.labels[0].1 = "mem".into();
    assert!(r.eval(0, ok(&[smp("a", 1.0), other])).is_err());
    assert!(
        AlertRuleSpec::new("Y", 0, 0, &[], &[("d".into(), "{{ nope }}".into())])
            .unwrap_err()
            .starts_with("annotation \"d\": error parsing template __alert_Y")
    );
}

#[test]
fn resend_timing_and_ends_at() {
    let mut r = rule(0, 0);
    r.eval(0, ok(&[smp("a", 1.0)])).unwrap();
    let n = r.due_notifications(0, M, 30 * S);
    assert_eq!(n.len(), 1);
    assert_eq!(
        (n[0].starts_at_ms, n[0].ends_at_ms, n[0].resolved),
        (0, 4 * M, false)
    );
    // Re-sent only once last_sent + delay < t (strictly): not at 1 m, at 1 m 30 s.
    assert!(r.due_notifications(30 * S, M, 30 * S).is_empty());
    assert!(r.due_notifications(M, M, 30 * S).is_empty());
    let n = r.due_notifications(M + 30 * S, M, 30 * S);
    assert_eq!(n[0].ends_at_ms, M + 30 * S + 4 * M);
    // endsAt uses max(resend delay, interval).
    let n = r.due_notifications(5 * M, M, 2 * M);
    assert_eq!(n[0].ends_at_ms, 5 * M + 8 * M);
    // Resolution is sent at once with its resolve time, then re-sent during retention.
    r.eval(5 * M + 10 * S, ok(&[])).unwrap();
    let n = r.due_notifications(5 * M + 10 * S, M, 30 * S);
    assert_eq!(
        (n[0].resolved, n[0].ends_at_ms, n[0].starts_at_ms),
        (true, 5 * M + 10 * S, 0)
    );
    assert!(r.due_notifications(6 * M, M, 30 * S).is_empty());
    assert_eq!(r.due_notifications(6 * M + 11 * S, M, 30 * S).len(), 1);
    // Pending alerts are never sent.
    let mut r = rule(5 * M, 0);
    r.eval(0, ok(&[smp("a", 1.0)])).unwrap();
    assert!(r.due_notifications(0, M, M).is_empty());
}

#[test]
fn alerts_series() {
    let mut r = rule(M, 0);
    r.eval(90 * S, ok(&[smp("a", 1.0)])).unwrap();
    let s = r.series();
    assert_eq!(s.len(), 2);
    assert_eq!(
        s[0].labels,
        lbls(&[
            ("__name__", "ALERTS"),
            ("alertname", "High"),
            ("alertstate", "pending"),
            ("instance", "a"),
            ("severity", "page")
        ])
    );
    assert_eq!(s[0].value, 1.0);
    assert_eq!(
        s[1].labels,
        lbls(&[
            ("__name__", "ALERTS_FOR_STATE"),
            ("alertname", "High"),
            ("instance", "a"),
            ("severity", "page")
        ])
    );
    assert_eq!(s[1].value, 90.0);
    r.eval(150 * S, ok(&[smp("a", 1.0)])).unwrap();
    assert_eq!(
        crate::model::labels::get(&r.series()[0].labels, "alertstate"),
        Some("firing")
    );
    r.eval(210 * S, ok(&[])).unwrap();
    assert!(
        r.series().is_empty(),
        "resolved alerts have no ALERTS series"
    );
    r.eval(270 * S, ok(&[smp("a", 1.0)])).unwrap();
    r.restored = false;
    assert!(r.series().is_empty());
}

// Restore, persistence and the extensions beyond Prometheus (no_data, on_error, hysteresis,
// limit), on synthetic time.

/// A rule without labels whose summary is just the value.
fn plain_rule(for_ms: i64, kff_ms: i64) -> AlertRule {
    let ann = [("summary".to_string(), "{{ $value }}".to_string())];
    AlertRule::new(AlertRuleSpec::new("High", for_ms, kff_ms, &[], &ann).unwrap())
}

fn states(r: &AlertRule) -> Vec<(String, AlertState)> {
    r.alerts()
        .map(|a| {
            let tag = crate::model::labels::get(&a.labels, "instance")
                .or(crate::model::labels::get(&a.labels, REASON_LABEL))
                .unwrap_or("")
                .to_string();
            (tag, a.state)
        })
        .collect()
}

fn firing(r: &AlertRule) -> bool {
    r.alerts().any(|a| a.state == AlertState::Firing)
}

#[test]
fn restore_keeps_for_and_firing_state() {
    // Pending 3 m of a 10 m `for`, down 5 m: with telltale's default grace (0) it fires 7 m
    // after the restart.
    let mut r = plain_rule(10 * M, 2 * M);
    r.eval(0, ok(&[smp("a", 1.0)])).unwrap();
    r.eval(3 * M, ok(&[smp("a", 1.0)])).unwrap();
    let json = serde_json::to_string(&r.snapshot(3 * M)).unwrap();
    let snap: RuleSnapshot = serde_json::from_str(&json).unwrap();
    let mut fresh = plain_rule(10 * M, 2 * M);
    assert_eq!(
        fresh.restore(&snap, 8 * M, RestoreOptions::default()),
        Ok(1)
    );
    fresh.eval(14 * M, ok(&[smp("a", 1.0)])).unwrap();
    assert!(!firing(&fresh));
    fresh.eval(15 * M, ok(&[smp("a", 1.0)])).unwrap();
    assert!(firing(&fresh));
    // Prometheus' options: remaining 7 m < grace 10 m, so it fires 10 m after the restart.
    let mut p = plain_rule(10 * M, 0);
    p.restore(&snap_of(&r, 3 * M), 8 * M, RestoreOptions::PROMETHEUS)
        .unwrap();
    assert_eq!(p.alerts().next().unwrap().active_at_ms, 8 * M);
    // A firing alert keeps fired_at, keep_firing_since and last_sent_at.
    let mut f = plain_rule(0, 5 * M);
    f.eval(0, ok(&[smp("a", f64::NAN)])).unwrap();
    f.due_notifications(0, M, M);
    f.eval(M, ok(&[])).unwrap();
    let json = serde_json::to_string(&f.snapshot(M)).unwrap();
    assert!(json.contains("\"value\":null"), "{json}");
    let mut g = plain_rule(0, 5 * M);
    g.restore(
        &serde_json::from_str(&json).unwrap(),
        3 * M,
        RestoreOptions::default(),
    )
    .unwrap();
    let a = g.alerts().next().unwrap().clone();
    assert!(a.value.is_nan());
    assert_eq!(
        (a.state, a.fired_at_ms, a.keep_firing_since_ms),
        (AlertState::Firing, Some(0), Some(M))
    );
    g.eval(6 * M, ok(&[])).unwrap(); // keep_firing_for counted from before the restart
    assert_eq!(g.alerts().next().unwrap().resolved_at_ms, Some(6 * M));
    assert_eq!(g.due_notifications(6 * M, M, M)[0].starts_at_ms, 0);
    // Beyond the outage tolerance nothing is restored; another rule's state is refused.
    let mut h = plain_rule(0, 5 * M);
    assert_eq!(
        h.restore(&f.snapshot(M), M + 61 * M, RestoreOptions::default()),
        Ok(0)
    );
    assert_eq!(h.alerts().count(), 0);
    let other = AlertRule::new(AlertRuleSpec::new("Other", 0, 0, &[], &[]).unwrap());
    assert!(h
        .restore(&other.snapshot(0), M, RestoreOptions::default())
        .is_err());
}

fn snap_of(r: &AlertRule, t: i64) -> RuleSnapshot {
    r.snapshot(t)
}

#[test]
fn restored_pending_alert_already_due_fires_next_eval() {
    let mut r = plain_rule(5 * M, 0);
    r.eval(0, ok(&[smp("a", 1.0)])).unwrap();
    r.eval(4 * M, ok(&[smp("a", 1.0)])).unwrap();
    let mut snap = r.snapshot(4 * M);
    snap.saved_at_ms = 6 * M; // as if evaluated without data loss up to 6 m
    let mut g = plain_rule(5 * M, 0);
    g.restore(&snap, 7 * M, RestoreOptions::PROMETHEUS).unwrap();
    g.eval(7 * M, ok(&[smp("a", 1.0)])).unwrap();
    assert!(firing(&g));
}

#[test]
fn no_data_policies() {
    let start = |p: Option<Policy>| {
        let mut r = plain_rule(0, 0);
        r.spec.no_data = p;
        r.eval(0, ok(&[smp("a", 1.0)])).unwrap();
        r
    };
    // Prometheus (None) and `ok`: absent input resolves.
    for p in [None, Some(Policy::Ok)] {
        let mut r = start(p);
        r.eval(M, EvalInput::NoData).unwrap();
        assert_eq!(states(&r), vec![("a".into(), AlertState::Inactive)]);
    }
    // keep_last: stays firing and keeps being re-sent.
    let mut r = start(Some(Policy::KeepLast));
    r.due_notifications(0, M, M);
    for t in [M, 2 * M, 3 * M] {
        r.eval(t, EvalInput::NoData).unwrap();
    }
    assert_eq!(states(&r), vec![("a".into(), AlertState::Firing)]);
    assert_eq!(r.due_notifications(3 * M, M, M).len(), 1);
    // alerting: existing alerts stay, plus a rule-level no_data alert through `for`.
    let mut r = plain_rule(2 * M, 0);
    r.spec.no_data = Some(Policy::Alerting);
    r.eval(0, ok(&[smp("a", 1.0)])).unwrap();
    r.eval(M, EvalInput::NoData).unwrap();
    assert_eq!(
        states(&r),
        vec![
            ("a".into(), AlertState::Pending),
            ("no_data".into(), AlertState::Pending)
        ]
    );
    r.eval(3 * M, EvalInput::NoData).unwrap();
    assert_eq!(
        states(&r),
        vec![
            ("a".into(), AlertState::Firing),
            ("no_data".into(), AlertState::Firing)
        ]
    );
    // Data back without `a`: both resolve.
    r.eval(4 * M, ok(&[])).unwrap();
    assert!(r.alerts().all(|a| a.state == AlertState::Inactive));
}

#[test]
fn on_error_policies() {
    let start = |p: Option<Policy>| {
        let mut r = plain_rule(0, 0);
        r.spec.on_error = p;
        r.eval(0, ok(&[smp("a", 1.0)])).unwrap();
        r.due_notifications(0, M, M);
        r
    };
    let boom = || EvalInput::Error("query timed out".into());
    // Prometheus: error, state untouched, nothing to send this cycle.
    let mut r = start(None);
    let before: Vec<Alert> = r.alerts().cloned().collect();
    let e = r.eval(2 * M, boom()).unwrap_err();
    assert_eq!((e.message.as_str(), e.skip_send), ("query timed out", true));
    assert_eq!(r.alerts().cloned().collect::<Vec<_>>(), before);
    // keep_last: still an error (rule health), but firing alerts keep being sent.
    let mut r = start(Some(Policy::KeepLast));
    let e = r.eval(2 * M, boom()).unwrap_err();
    assert!(!e.skip_send);
    assert_eq!(r.due_notifications(2 * M, M, M).len(), 1);
    // ok: resolves.
    let mut r = start(Some(Policy::Ok));
    assert!(r.eval(M, boom()).is_err());
    assert_eq!(states(&r), vec![("a".into(), AlertState::Inactive)]);
    // alerting: an error alert carrying the message.
    let mut r = start(Some(Policy::Alerting));
    assert!(r.eval(M, boom()).is_err());
    assert_eq!(
        states(&r),
        vec![
            ("a".into(), AlertState::Firing),
            ("error".into(), AlertState::Firing)
        ]
    );
    let err_alert = r
        .alerts()
        .find(|a| a.labels.iter().any(|(k, _)| k == REASON_LABEL))
        .unwrap();
    let ann: Labels = vec![
        ("summary".into(), "NaN".into()),
        ("telltale_error".into(), "query timed out".into()),
    ];
    assert_eq!(err_alert.annotations, ann);
}

#[test]
fn hysteresis_holds_until_resolve_condition() {
    let mut r = plain_rule(0, 0);
    r.eval(0, ok(&[smp("a", 95.0), smp("b", 95.0)])).unwrap();
    // Main condition gone for both; resolve condition holds for `b` only.
    let resolve = ok(&[smp("b", 60.0)]);
    r.eval_with_resolve(M, ok(&[]), Some(&resolve)).unwrap();
    assert_eq!(
        states(&r),
        vec![
            ("a".into(), AlertState::Firing),
            ("b".into(), AlertState::Inactive)
        ]
    );
    // A failed or empty resolve query never resolves.
    r.eval_with_resolve(2 * M, ok(&[]), Some(&EvalInput::Error("x".into())))
        .unwrap();
    r.eval_with_resolve(3 * M, ok(&[]), Some(&ok(&[]))).unwrap();
    assert_eq!(states(&r)[0], ("a".into(), AlertState::Firing));
    r.eval_with_resolve(4 * M, ok(&[]), Some(&ok(&[smp("a", 50.0)])))
        .unwrap();
    assert_eq!(states(&r)[0], ("a".into(), AlertState::Inactive));
    // Pending alerts are unaffected.
    let mut r = plain_rule(5 * M, 0);
    r.eval(0, ok(&[smp("a", 95.0)])).unwrap();
    r.eval_with_resolve(M, ok(&[]), Some(&ok(&[]))).unwrap();
    assert_eq!(r.alerts().count(), 0);
}

#[test]
fn limit_clears_all_alerts() {
    let mut r = plain_rule(0, 0);
    r.spec.limit = 1;
    r.eval(0, ok(&[smp("a", 1.0)])).unwrap();
    let e = r.eval(M, ok(&[smp("a", 1.0), smp("b", 1.0)])).unwrap_err();
    assert_eq!(e.message, "exceeded limit of 1 with 2 alerts");
    assert_eq!(r.alerts().count(), 0);
}
