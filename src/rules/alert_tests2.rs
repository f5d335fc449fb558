//! Restore, persistence and the extensions beyond Prometheus (no_data, on_error, hysteresis,
//! limit), on synthetic time.

use super::alert::*;
use super::alert_out::*;
use crate::exposition::Labels;
use crate::promql::Sample;

const M: i64 = 60_000;

fn smp(instance: &str, v: f64) -> Sample {
    Sample {
        labels: vec![
            ("__name__".into(), "cpu".into()),
            ("instance".into(), instance.into()),
        ],
        value: v,
    }
}

fn rule(for_ms: i64, kff_ms: i64) -> AlertRule {
    let ann = [("summary".to_string(), "{{ $value }}".to_string())];
    AlertRule::new(AlertRuleSpec::new("High", for_ms, kff_ms, &[], &ann).unwrap())
}

fn ok(v: &[Sample]) -> EvalInput {
    EvalInput::Ok(v.to_vec())
}

fn states(r: &AlertRule) -> Vec<(String, AlertState)> {
    r.alerts()
        .map(|a| {
            let tag = crate::promql::get(&a.labels, "instance")
                .or(crate::promql::get(&a.labels, REASON_LABEL))
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
    let mut r = rule(10 * M, 2 * M);
    r.eval(0, ok(&[smp("a", 1.0)])).unwrap();
    r.eval(3 * M, ok(&[smp("a", 1.0)])).unwrap();
    let json = serde_json::to_string(&r.snapshot(3 * M)).unwrap();
    let snap: RuleSnapshot = serde_json::from_str(&json).unwrap();
    let mut fresh = rule(10 * M, 2 * M);
    assert_eq!(
        fresh.restore(&snap, 8 * M, RestoreOptions::default()),
        Ok(1)
    );
    fresh.eval(14 * M, ok(&[smp("a", 1.0)])).unwrap();
    assert!(!firing(&fresh));
    fresh.eval(15 * M, ok(&[smp("a", 1.0)])).unwrap();
    assert!(firing(&fresh));
    // Prometheus' options: remaining 7 m < grace 10 m, so it fires 10 m after the restart.
    let mut p = rule(10 * M, 0);
    p.restore(&snap_of(&r, 3 * M), 8 * M, RestoreOptions::PROMETHEUS)
        .unwrap();
    assert_eq!(p.alerts().next().unwrap().active_at_ms, 8 * M);
    // A firing alert keeps fired_at, keep_firing_since and last_sent_at.
    let mut f = rule(0, 5 * M);
    f.eval(0, ok(&[smp("a", f64::NAN)])).unwrap();
    f.due_notifications(0, M, M);
    f.eval(M, ok(&[])).unwrap();
    let json = serde_json::to_string(&f.snapshot(M)).unwrap();
    assert!(json.contains("\"value\":null"), "{json}");
    let mut g = rule(0, 5 * M);
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
    let mut h = rule(0, 5 * M);
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
    let mut r = rule(5 * M, 0);
    r.eval(0, ok(&[smp("a", 1.0)])).unwrap();
    r.eval(4 * M, ok(&[smp("a", 1.0)])).unwrap();
    let mut snap = r.snapshot(4 * M);
    snap.saved_at_ms = 6 * M; // as if evaluated without data loss up to 6 m
    let mut g = rule(5 * M, 0);
    g.restore(&snap, 7 * M, RestoreOptions::PROMETHEUS).unwrap();
    g.eval(7 * M, ok(&[smp("a", 1.0)])).unwrap();
    assert!(firing(&g));
}

#[test]
fn no_data_policies() {
    let start = |p: Option<Policy>| {
        let mut r = rule(0, 0);
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
    let mut r = rule(2 * M, 0);
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
        let mut r = rule(0, 0);
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
    let mut r = rule(0, 0);
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
    let mut r = rule(5 * M, 0);
    r.eval(0, ok(&[smp("a", 95.0)])).unwrap();
    r.eval_with_resolve(M, ok(&[]), Some(&ok(&[]))).unwrap();
    assert_eq!(r.alerts().count(), 0);
}

#[test]
fn limit_clears_all_alerts() {
    let mut r = rule(0, 0);
    r.spec.limit = 1;
    r.eval(0, ok(&[smp("a", 1.0)])).unwrap();
    let e = r.eval(M, ok(&[smp("a", 1.0), smp("b", 1.0)])).unwrap_err();
    assert_eq!(e.message, "exceeded limit of 1 with 2 alerts");
    assert_eq!(r.alerts().count(), 0);
}
