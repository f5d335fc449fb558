//! `anomaly` with `hold: true`: an alarm on a value outside its recent range keeps the series
//! alerting until a value is back in that range; without `hold` the same departure alerts only
//! while its scores are high. The hold survives a save and restore.

use std::sync::Arc;

use super::anomaly_tests::{alerting, firing, group, latency, spec, states, FAST, QUIET};
use crate::promql::{self, MemStore};
use crate::rules::groupeval::eval_group_mem;

/// 2.5 s instead of ~120 ms from 400 s to 429 s.
fn fault(i: i64) -> Option<f64> {
    (400..430).contains(&i).then_some(2500.0)
}

#[test]
fn a_held_alert_lasts_until_the_value_is_back_in_its_normal_range() {
    let g = group(&format!(
        "      - alert: Held\n        anomaly: {{input: lat, hold: true, {QUIET}, params: {FAST}}}\n        annotations: {{range: '{{{{ $inputs.normal_low }}}}..{{{{ $inputs.normal_high }}}}', v: '{{{{ $value }}}}'}}\n      - alert: Plain\n        anomaly: {{input: lat, {QUIET}, params: {FAST}}}\n"
    ));
    assert!(g.rules[0]
        .expr_text
        .ends_with("score >= 0.7, held until normal"));
    let mut st = states(&g);
    let mut s = MemStore::new();
    // The fault's samples replace the noise (a later sample at the same time wins).
    latency(&mut s, "a", 21, 600, |_| 0.0);
    let f: Vec<(i64, f64)> = (0..600)
        .filter_map(|i| fault(i).map(|v| (i * 1000, v)))
        .collect();
    s.add(&[("__name__", "lat"), ("host", "a")], &f);
    let (mut held, mut plain) = (Vec::new(), Vec::new());
    for t in (0..600).map(|i| i * 1000) {
        assert!(eval_group_mem(&g, &mut st, t, &mut s).is_empty());
        if !firing(&st[0]).is_empty() {
            held.push(t / 1000);
        }
        if !firing(&st[1]).is_empty() {
            plain.push(t / 1000);
        }
        if t == 410_000 {
            let a = st[0].alert.as_ref().unwrap().alerts().next().unwrap();
            let range = promql::get(&a.annotations, "range").unwrap();
            let (lo, hi) = range.split_once("..").unwrap();
            let (lo, hi): (f64, f64) = (lo.parse().unwrap(), hi.parse().unwrap());
            assert!(
                (90.0..115.0).contains(&lo) && hi > 125.0 && hi <= 150.0,
                "{range}"
            );
            let v: f64 = promql::get(&a.annotations, "v").unwrap().parse().unwrap();
            assert!(v > 0.99, "$value is the alarm's score: {v}");
        }
    }
    // Held: every second of the fault, and not after the first normal value.
    assert_eq!(held, (400..430).collect::<Vec<_>>());
    // Plain: only while the scores are high, at the fault's start.
    assert!(plain.first() == Some(&400) && plain.len() < 10, "{plain:?}");
}

#[test]
fn a_hold_survives_save_and_restore() {
    let body = format!("{{input: lat, hold: true, {QUIET}, params: {FAST}}}");
    let mut s = MemStore::new();
    latency(&mut s, "a", 23, 600, |i| {
        fault(i).map_or(0.0, |v| v - 120.0)
    });
    let mut a = Arc::clone(&spec(&body)).build("R");
    for t in (0..=410).map(|i| i * 1000) {
        a.eval(t, &s);
    }
    let saved = a.save().unwrap();
    assert!(saved["series"][0]["held"]["low"].is_number(), "{saved}");
    let mut b = Arc::clone(&spec(&body)).build("R");
    b.restore(&saved).unwrap();
    for t in (411..600).map(|i| i * 1000) {
        let (oa, ob) = (a.eval(t, &s), b.eval(t, &s));
        assert_eq!(oa.series, ob.series, "at {t}");
        assert_eq!(alerting(&oa), alerting(&ob), "at {t}");
        assert_eq!(alerting(&ob).is_empty(), t >= 430_000, "at {t}");
    }
}
