//! The alert lifecycle on synthetic time: every transition of alerting.go's `Eval`, sending,
//! ALERTS series, restore, and the no_data / on_error / hysteresis extensions.

use super::alert::*;
use crate::exposition::Labels;
use crate::promql::Sample;

const S: i64 = 1000;
const M: i64 = 60 * S;

fn lbls(l: &[(&str, &str)]) -> Labels {
    let mut v: Labels = l
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    v.sort();
    v
}

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
        crate::promql::get(&r.series()[0].labels, "alertstate"),
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
