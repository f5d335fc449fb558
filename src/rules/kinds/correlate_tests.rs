//! `correlate` evaluated over a `MemStore`: joining, the time window, the condition, `$value`
//! and `$inputs` in templates, absent inputs and ambiguous joins.

use crate::exposition::Labels;
use crate::promql::MemStore;
use crate::rules::alert::{AlertState, EvalInput};
use crate::rules::file::{parse, Group};
use crate::rules::groupeval::{eval_group_mem, Env, Health, RuleState};

fn group(correlate: &str, extra: &str) -> Group {
    let text = format!(
        "groups:\n  - name: g\n    rules:\n      - alert: Both\n        correlate: {correlate}\n{extra}        annotations: {{summary: 'err={{{{ $inputs.err }}}} cpu={{{{ .Inputs.cpu }}}} v={{{{ $value }}}}'}}\n"
    );
    parse("r.yml", &text).unwrap().groups.remove(0)
}

fn state(g: &Group) -> Vec<RuleState> {
    vec![RuleState::new(&g.rules[0], 0, &Env::default()).unwrap()]
}

/// (labels, state, summary) of every alert.
fn alerts(st: &[RuleState]) -> Vec<(Labels, AlertState, String)> {
    let a = st[0].alert.as_ref().unwrap();
    a.alerts()
        .map(|a| {
            let summary = crate::promql::get(&a.annotations, "summary").unwrap_or("");
            (a.labels.clone(), a.state, summary.to_string())
        })
        .collect()
}

fn l(pairs: &[(&str, &str)]) -> Labels {
    let mut v: Labels = (pairs.iter())
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    v.sort();
    v
}

const TWO: &str =
    "{inputs: {err: err_ratio, cpu: cpu_load}, window: 10s, condition: err > 0.5 && cpu > 4}";

#[test]
fn fires_per_joined_label_set_where_the_condition_holds() {
    let g = group(TWO, "");
    let mut s = MemStore::new();
    // Host a: both high, sampled 8 s apart. Host b: only err high. Host c: cpu only.
    s.add(
        &[("__name__", "err_ratio"), ("instance", "a"), ("job", "app")],
        &[(0, 0.7)],
    );
    s.add(
        &[("__name__", "cpu_load"), ("instance", "a"), ("cpu", "all")],
        &[(8_000, 6.0)],
    );
    s.add(
        &[("__name__", "err_ratio"), ("instance", "b"), ("job", "app")],
        &[(0, 0.9)],
    );
    s.add(
        &[("__name__", "cpu_load"), ("instance", "b"), ("cpu", "all")],
        &[(8_000, 1.0)],
    );
    s.add(
        &[("__name__", "cpu_load"), ("instance", "c"), ("cpu", "all")],
        &[(8_000, 9.0)],
    );
    let mut st = state(&g);
    assert!(eval_group_mem(&g, &mut st, 9_000, &mut s).is_empty());
    // The default `on` is what both inputs share: instance (not job, not cpu).
    assert_eq!(
        alerts(&st),
        [(
            l(&[("alertname", "Both"), ("instance", "a")]),
            AlertState::Firing,
            "err=0.7 cpu=6 v=0.7".to_string()
        )]
    );
    // 11 s: err's sample (t=0) left the 10 s window, so err is absent: no data, which
    // (without `no_data`) resolves like an empty result.
    assert!(eval_group_mem(&g, &mut st, 11_000, &mut s).is_empty());
    let a = alerts(&st);
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].1, AlertState::Inactive);
}

#[test]
fn explicit_on_ambiguity_and_no_data() {
    let on_job =
        "{inputs: {err: err_ratio, cpu: cpu_load}, on: [job], condition: err > 0.5 && cpu > 4}";
    let g = group(on_job, "        no_data: alerting\n");
    let mut s = MemStore::new();
    s.add(
        &[("__name__", "err_ratio"), ("job", "app"), ("i", "1")],
        &[(0, 0.7)],
    );
    s.add(&[("__name__", "cpu_load"), ("job", "app")], &[(0, 5.0)]);
    let mut st = state(&g);
    eval_group_mem(&g, &mut st, 0, &mut s);
    assert_eq!(
        alerts(&st)[0].0,
        l(&[("alertname", "Both"), ("job", "app")])
    );
    // A second err series for job="app": which one pairs with cpu? An error, not a guess.
    s.add(
        &[("__name__", "err_ratio"), ("job", "app"), ("i", "2")],
        &[(1_000, 0.1)],
    );
    let errs = eval_group_mem(&g, &mut st, 1_000, &mut s);
    assert_eq!(errs.len(), 1);
    assert!(
        errs[0]
            .1
            .starts_with(r#"input err: several series match {job="app"} on (job)"#),
        "{errs:?}"
    );
    assert_eq!(st[0].health, Health::Err);
    // Both inputs gone past the window: `no_data: alerting` raises the reason alert.
    eval_group_mem(&g, &mut st, 200_000, &mut s);
    let a = alerts(&st);
    assert!(
        a.iter()
            .any(|(l, _, _)| crate::promql::get(l, "telltale_reason") == Some("no_data")),
        "{a:?}"
    );
}

#[test]
fn the_kind_output_feeds_the_lifecycle() {
    use crate::promql::Queryable;
    let g = group(TWO, "        for: 2m\n");
    let mut st = state(&g);
    let mut s = MemStore::new();
    for t in (0..=180_000).step_by(10_000) {
        s.add(&[("__name__", "err_ratio")], &[(t, 0.8)]);
        s.add(&[("__name__", "cpu_load")], &[(t + 5_000, 5.0)]);
    }
    let q: &dyn Queryable = &s;
    let k = st[0].kind.as_mut().unwrap();
    let out = k.eval(60_000, q);
    assert_eq!(
        out.result,
        EvalInput::Ok(vec![crate::promql::Sample {
            labels: vec![],
            value: 0.8
        }])
    );
    assert_eq!(out.inputs[&Vec::new()].get("cpu"), Some(&5.0));
    assert!(out.series.is_empty() && k.save().is_none());
    // `for: 2m`: pending until two minutes of the condition holding.
    for (t, want) in [
        (60_000, AlertState::Pending),
        (150_000, AlertState::Pending),
        (180_000, AlertState::Firing),
    ] {
        eval_group_mem(&g, &mut st, t, &mut s);
        assert_eq!(alerts(&st)[0].1, want, "at {t}");
    }
}
