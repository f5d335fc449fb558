//! `anomaly`: decoding (defaults, positioned problems) and the kind over a `MemStore`: a step
//! and a spike fire where they happen, bounded noise does not, nothing fires during warm-up,
//! every sample is scored once whatever the evaluation cadence, and saved state continues
//! exactly (or starts afresh when the detector changed).

use std::sync::Arc;

use crate::model::{labels, Labels};
use crate::rules::alert::{AlertState, EvalInput};
use crate::rules::eval::{eval_group_mem, Env, RuleState};
use crate::rules::file::expr::Expr;
use crate::rules::file::parse;
use crate::rules::file::Group;
use crate::rules::kinds::{Input, Spec};
use crate::store::memstore::MemStore;
use crate::store::select::{MatchOp, Matcher, Queryable};

/// Fast detectors for tests: short windows, a 50-sample warm-up.
pub(super) const FAST: &str = "{mad.window: 20, shift.window: 30, shift.recent: 5, variance.window: 60, variance.recent: 10}, min_samples: 50";

/// On noise the default detector's scores stay below about 0.7 but pass NAB's swept threshold
/// (0.513) every few hundred samples, whenever some member sets a new record; a threshold of
/// 0.7 keeps these short test series quiet and still fires on a clear departure
/// (docs/anomaly.md; the rule default is 0.9).
pub(super) const QUIET: &str = "threshold: 0.7";

pub(super) fn group(rules: &str) -> Group {
    let text = format!("groups:\n  - name: g\n    rules:\n{rules}");
    parse("r.yml", &text).unwrap().groups.remove(0)
}

pub(super) fn states(g: &Group) -> Vec<RuleState> {
    (g.rules.iter())
        .map(|r| RuleState::new(r, 0, &Env::default()).unwrap())
        .collect()
}

/// Bounded noise in [-1, 1] (the mean of three uniforms, as demo-app's), from a fixed seed.
pub(super) struct Bell(pub u64);

impl Bell {
    pub(super) fn next(&mut self) -> f64 {
        let mut u = || {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 >> 11) as f64 / (1u64 << 53) as f64
        };
        (u() + u() + u()) / 1.5 - 1.0
    }
}

/// `lat{host}` once a second for `n` s: 120 ± 30 noise plus `shape(second)`.
pub(super) fn latency(s: &mut MemStore, host: &str, seed: u64, n: i64, shape: impl Fn(i64) -> f64) {
    let mut b = Bell(seed);
    let samples: Vec<(i64, f64)> = (0..n)
        .map(|i| (i * 1000, 120.0 + 30.0 * b.next() + shape(i)))
        .collect();
    s.add(&[("__name__", "lat"), ("host", host)], &samples);
}

/// The firing alerts' hosts.
pub(super) fn firing(st: &RuleState) -> Vec<String> {
    (st.alert.as_ref().unwrap().alerts())
        .filter(|a| a.state == AlertState::Firing)
        .map(|a| labels::get(&a.labels, "host").unwrap_or("").to_string())
        .collect()
}

fn scores(s: &MemStore, at: i64) -> Vec<(Labels, f64)> {
    let m = Matcher {
        name: labels::NAME.into(),
        op: MatchOp::Eq("telltale_anomaly_score".into()),
    };
    (s.select(&[m], at, at).into_iter())
        .map(|x| (labels::drop_name(x.labels), x.samples[0].1))
        .collect()
}

/// Evaluates every `every` ms from 0 to `end` ms; the times each host was first seen firing.
fn run(
    g: &Group,
    st: &mut [RuleState],
    s: &mut MemStore,
    every: i64,
    end: i64,
) -> Vec<(i64, String)> {
    let mut first = Vec::new();
    let mut t = 0;
    while t <= end {
        assert!(eval_group_mem(g, st, t, s).is_empty());
        for h in firing(&st[0]) {
            if !first.iter().any(|(_, f)| *f == h) {
                first.push((t, h));
            }
        }
        t += every;
    }
    first
}

#[test]
fn decoding_defaults_and_settings() {
    let g = group("      - alert: A\n        anomaly: {input: lat}\n");
    assert_eq!(
        g.rules[0].expr_text,
        "anomaly: ensemble{} of lat: score >= 0.9"
    );
    let g = group(
        "      - alert: A\n        anomaly: {input: 'avg(lat)', detector: mad, params: {window: 20}, min_samples: 10, threshold: 0.8, forget: 2h}\n",
    );
    assert_eq!(
        g.rules[0].expr_text,
        "anomaly: mad{min_samples=10, window=20} of avg(lat): score >= 0.8"
    );
    let Expr::Kind(k) = &g.rules[0].expr else {
        panic!()
    };
    assert_eq!(k.plans().len(), 1);
    let _ = group(&format!(
        "      - alert: A\n        anomaly: {{input: lat, params: {FAST}}}\n"
    ));
}

#[test]
fn bad_values_are_positioned() {
    let p = r#"group "g", rule 1, "A": anomaly"#;
    let cases: Vec<(&str, String)> = vec![
        ("{detector: mad}", format!("r.yml:5:18: {p}: field 'input' must be set")),
        ("{input: 'sum(x'}", format!("r.yml:5:26: {p}: input: could not parse expression")),
        ("{input: x, detector: nosuch}", format!("r.yml:5:39: {p}: detector: unknown detector \"nosuch\" (known: cusum, ensemble")),
        ("{input: x, detector: mad, params: {windo: 5}}", format!("r.yml:5:52: {p}: detector mad: unknown parameter \"windo\" (known: window, scale, memory")),
        ("{input: x, params: {mad.window: -1}}", format!("r.yml:5:37: {p}: detector mad: parameter window=\"-1\"")),
        ("{input: x, params: {window: [1]}}", format!("r.yml:5:46: {p}: params: window: expected a number or a word")),
        ("{input: x, params: 5}", format!("r.yml:5:37: {p}: params: expected a mapping, found a scalar")),
        ("{input: x, min_samples: -3}", format!("r.yml:5:42: {p}: min_samples: expected a non-negative integer")),
        ("{input: x, params: {min_samples: 5}, min_samples: 3}", format!("r.yml:5:68: {p}: min_samples: also given in params; give it once")),
        ("{input: x, threshold: 1.5}", format!("r.yml:5:40: {p}: threshold: must be within [0, 1]")),
        ("{input: x, forget: 1m}", format!("r.yml:5:37: {p}: forget: must be at least 5m")),
        ("{input: x, hold: yes}", format!("r.yml:5:35: {p}: hold: expected true or false")),
        ("{input: x, extra: 1}", format!("r.yml:5:29: {p}: unknown field \"extra\" in anomaly")),
    ];
    let mut bad = Vec::new();
    for (body, want) in &cases {
        let text = format!(
            "groups:\n  - name: g\n    rules:\n      - alert: A\n        anomaly: {body}\n"
        );
        let e: Vec<String> = match parse("r.yml", &text) {
            Ok(_) => Vec::new(),
            Err(d) => d.iter().map(|x| x.to_string()).collect(),
        };
        if !(e.len() == 1 && e[0].starts_with(want.as_str())) {
            bad.push(format!("{body}\n want {want}\n  got {e:?}"));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn a_step_fires_where_it_happens_and_noise_does_not() {
    let rule = format!(
        "      - alert: Slow\n        anomaly: {{input: lat, {QUIET}, params: {FAST}}}\n        annotations: {{s: '{{{{ printf \"%.0f\" $inputs.value }}}} vs {{{{ printf \"%.0f\" $inputs.expected }}}}'}}\n"
    );
    let g = group(&rule);
    let mut st = states(&g);
    let mut s = MemStore::new();
    latency(&mut s, "a", 7, 600, |i| if i >= 400 { 300.0 } else { 0.0 });
    latency(&mut s, "b", 9, 600, |_| 0.0);
    // Five new samples per evaluation: all of them are scored.
    let first = run(&g, &mut st, &mut s, 5_000, 599_000);
    assert_eq!(first.len(), 1, "{first:?}");
    let (t, host) = &first[0];
    assert_eq!(host, "a");
    assert!((400_000..=405_000).contains(t), "fired at {t}");
    // Every series has a score at every evaluation; b's is low.
    let sc = scores(&s, 595_000);
    assert_eq!(sc.len(), 2);
    assert!(sc
        .iter()
        .all(|(l, v)| labels::get(l, "rule") == Some("Slow") && (0.0..=1.0).contains(v)));
    assert!(sc[1].1 < 0.5, "{sc:?}");
    // The annotation shows the value and the level the detector expected.
    let mut st = states(&g);
    let mut s2 = MemStore::new();
    latency(&mut s2, "a", 7, 401, |i| if i >= 400 { 300.0 } else { 0.0 });
    run(&g, &mut st, &mut s2, 5_000, 400_000);
    let a = st[0].alert.as_ref().unwrap().alerts().next().unwrap();
    let text = labels::get(&a.annotations, "s").unwrap();
    let (v, e) = text.split_once(" vs ").unwrap();
    assert!(v.parse::<f64>().unwrap() > 380.0, "{text}");
    assert!(
        (100.0..140.0).contains(&e.parse::<f64>().unwrap()),
        "{text}"
    );
}

#[test]
fn a_spike_fires_and_long_flat_noise_does_not() {
    let g = group(&format!(
        "      - alert: Odd\n        anomaly: {{input: lat, {QUIET}, params: {FAST}}}\n"
    ));
    let mut st = states(&g);
    let mut s = MemStore::new();
    latency(
        &mut s,
        "spike",
        3,
        900,
        |i| if i == 500 { 200.0 } else { 0.0 },
    );
    latency(&mut s, "flat", 5, 900, |_| 0.0);
    let first = run(&g, &mut st, &mut s, 1_000, 899_000);
    assert_eq!(first, [(500_000, "spike".to_string())]);
}

#[test]
fn nothing_fires_during_warm_up() {
    // Threshold 0: every warmed-up series fires, so the first alert marks the warm-up's end:
    // the first member to have made 50 departures (holtwinters, which judges from the second
    // sample) after 51 samples. A 500 ms step at 30 s, within the warm-up, is learnt as normal
    // and never alerted by the same detector with a real threshold.
    let g = group(&format!(
        "      - alert: W\n        anomaly: {{input: lat, threshold: 0, params: {FAST}}}\n      - alert: S\n        anomaly: {{input: lat, {QUIET}, params: {FAST}}}\n"
    ));
    let mut st = states(&g);
    let mut s = MemStore::new();
    latency(&mut s, "a", 11, 300, |i| if i >= 30 { 500.0 } else { 0.0 });
    let mut t = 0;
    let mut first = None;
    while t < 300_000 {
        assert!(eval_group_mem(&g, &mut st, t, &mut s).is_empty());
        if first.is_none() && !firing(&st[0]).is_empty() {
            first = Some(t);
        }
        assert!(firing(&st[1]).is_empty(), "S fired at {t}");
        t += 1_000;
    }
    assert_eq!(first, Some(50_000));
}

#[test]
fn every_sample_is_scored_once_whatever_the_cadence() {
    let g = group(&format!(
        "      - alert: C\n        anomaly: {{input: lat, params: {FAST}}}\n"
    ));
    let mut s = MemStore::new();
    latency(&mut s, "a", 13, 500, |i| if i >= 300 { 100.0 } else { 0.0 });
    let mut by_cadence = Vec::new();
    for every in [1_000, 7_000, 60_000] {
        let mut st = states(&g);
        let mut m = s.clone();
        run(&g, &mut st, &mut m, every, 420_000);
        let k = st[0].kind.as_ref().unwrap().save().unwrap();
        by_cadence.push(k["series"][0]["detector"].clone());
    }
    // Samples written 3 s after their timestamp (a slow source): each evaluation finds one
    // sample older than the evaluation before it, and still scores it.
    let mut st = states(&g);
    let mut late = MemStore::new();
    let all = s.select(&[], 0, 420_000);
    for t in (0..=420).map(|i| i * 1000) {
        if t >= 3000 {
            let at = t - 3000;
            let v = all[0].samples.iter().find(|x| x.0 == at).unwrap().1;
            late.add(&[("__name__", "lat"), ("host", "a")], &[(at, v)]);
        }
        assert!(eval_group_mem(&g, &mut st, t, &mut late).is_empty());
    }
    late.add(
        &[("__name__", "lat"), ("host", "a")],
        &all[0].samples[418..=420],
    );
    assert!(eval_group_mem(&g, &mut st, 421_000, &mut late).is_empty());
    let k = st[0].kind.as_ref().unwrap().save().unwrap();
    by_cadence.push(k["series"][0]["detector"].clone());
    for (i, d) in by_cadence.iter().enumerate() {
        assert_eq!(&by_cadence[0], d, "run {i}");
    }
}

pub(super) fn spec(body: &str) -> Arc<dyn Spec> {
    let g = group(&format!("      - alert: R\n        anomaly: {body}\n"));
    match &g.rules[0].expr {
        Expr::Kind(k) => Arc::clone(k),
        _ => panic!(),
    }
}

pub(super) fn alerting(out: &crate::rules::kinds::Output) -> Vec<(Labels, f64)> {
    match &out.result {
        EvalInput::Ok(v) => v.iter().map(|x| (x.labels.clone(), x.value)).collect(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn saved_state_continues_exactly_and_a_changed_detector_starts_afresh() {
    let body = format!("{{input: lat, params: {FAST}}}");
    let mut s = MemStore::new();
    latency(&mut s, "a", 17, 600, |i| if i >= 450 { 250.0 } else { 0.0 });
    let mut a = Arc::clone(&spec(&body)).build("R");
    for t in (0..=300).map(|i| i * 1000) {
        a.eval(t, &s);
    }
    let text = serde_json::to_string(&a.save().unwrap()).unwrap();
    let mut b = Arc::clone(&spec(&body)).build("R");
    b.restore(&serde_json::from_str(&text).unwrap()).unwrap();
    let mut fired = false;
    for t in (301..600).map(|i| i * 1000) {
        let (oa, ob) = (a.eval(t, &s), b.eval(t, &s));
        assert_eq!(oa.series, ob.series, "at {t}");
        assert_eq!(alerting(&oa), alerting(&ob), "at {t}");
        fired |= !alerting(&oa).is_empty();
    }
    assert!(fired);
    // Other parameters: the state is refused (the caller logs it and starts afresh).
    let mut c = Arc::clone(&spec("{input: lat, detector: mad}")).build("R");
    let e = c
        .restore(&serde_json::from_str(&text).unwrap())
        .unwrap_err();
    assert!(e.contains("the rule now asks for mad{}"), "{e}");
    assert!(c.save().unwrap()["series"].as_array().unwrap().is_empty());
}

#[test]
fn absent_input_is_no_data_and_gone_series_are_forgotten() {
    let mut k = Arc::clone(&spec("{input: lat, forget: 10m}")).build("R");
    let mut s = MemStore::new();
    latency(&mut s, "a", 1, 60, |_| 0.0);
    latency(&mut s, "b", 2, 900, |_| 0.0);
    let series = |k: &dyn Input| k.save().unwrap()["series"].as_array().unwrap().len();
    k.eval(59_000, &s);
    assert_eq!(series(&*k), 2);
    k.eval(600_000, &s);
    assert_eq!(series(&*k), 2, "a is absent but not yet forgotten");
    k.eval(670_000, &s);
    assert_eq!(series(&*k), 1, "a forgotten after 10m");
    let out = k.eval(2_000_000, &s);
    assert!(matches!(out.result, EvalInput::NoData));
    assert_eq!(series(&*k), 0);
}

#[test]
fn an_expression_input_gives_one_sample_per_evaluation() {
    let mut k = Arc::clone(&spec("{input: 'max(lat)', detector: zscore, params: {window: 5}, min_samples: 3, threshold: 0.9}")).build("R");
    let mut s = MemStore::new();
    let vals = [
        10.0, 11.0, 10.0, 11.0, 10.0, 11.0, 10.0, 11.0, 10.0, 11.0, 50.0,
    ];
    let samples: Vec<(i64, f64)> = (0..vals.len())
        .map(|i| (i as i64 * 10_000, vals[i]))
        .collect();
    s.add(&[("__name__", "lat")], &samples);
    // Evaluated every 10 s: eleven samples, the last one far out.
    let mut last = None;
    for (t, _) in &samples {
        last = Some(k.eval(*t, &s));
    }
    let out = last.unwrap();
    assert_eq!(alerting(&out).len(), 1, "{out:?}");
    assert_eq!(
        out.series[0].0,
        vec![
            ("__name__".into(), "telltale_anomaly_score".into()),
            ("rule".into(), "R".into())
        ]
    );
}

// `anomaly` with `hold: true`: an alarm on a value outside its recent range keeps the series
// alerting until a value is back in that range; without `hold` the same departure alerts only
// while its scores are high. The hold survives a save and restore.

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
            let range = labels::get(&a.annotations, "range").unwrap();
            let (lo, hi) = range.split_once("..").unwrap();
            let (lo, hi): (f64, f64) = (lo.parse().unwrap(), hi.parse().unwrap());
            assert!(
                (90.0..115.0).contains(&lo) && hi > 125.0 && hi <= 150.0,
                "{range}"
            );
            let v: f64 = labels::get(&a.annotations, "v").unwrap().parse().unwrap();
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
