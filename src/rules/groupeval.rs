//! One evaluation of one rule group over a [`MemStore`], as Prometheus' `Group.Eval` does it:
//! rules run in order at the same timestamp, each rule's output is written to the store before
//! the next rule runs (so later rules see it), series that disappear get a staleness marker, and
//! alerting rules write `ALERTS` / `ALERTS_FOR_STATE`. Used by `telltale test rules`.

use std::collections::{BTreeMap, HashSet};

use super::file::{Group, Kind, Rule};
use super::standin::{self, Alert, Candidate, State, TemplateData};
use crate::exposition::Labels;
use crate::promql::{self, MemStore, Value, STALE_NAN};

/// What persists between evaluations of one rule.
#[derive(Clone, Debug, Default)]
pub struct RuleState {
    pub alerts: BTreeMap<Labels, Alert>,
    /// The series written at the last evaluation, for staleness markers.
    last_series: HashSet<Labels>,
}

/// Values templates may refer to besides the sample's own labels and value.
pub struct Env<'a> {
    pub external_labels: &'a [(String, String)],
    pub external_url: &'a str,
}

/// Evaluates every rule of `g` at `ts` (ms); returns `(rule name, error)` for the rules that failed.
pub fn eval_group(
    g: &Group,
    states: &mut [RuleState],
    ts: i64,
    store: &mut MemStore,
    env: &Env,
) -> Vec<(String, String)> {
    let offset = g.query_offset.map_or(0, |d| d.as_millis() as i64);
    let t = ts - offset;
    let mut errors = Vec::new();
    for (rule, state) in g.rules.iter().zip(states.iter_mut()) {
        let out = match query(rule, t, store).and_then(|v| match rule.kind {
            Kind::Record => record(rule, v, g.limit),
            Kind::Alert => alert(rule, state, v, t, g.limit, env),
        }) {
            Ok(out) => out,
            Err(e) => {
                errors.push((rule.name.clone(), e));
                continue;
            }
        };
        let now: HashSet<Labels> = out.iter().map(|(l, _)| l.clone()).collect();
        for (labels, v) in &out {
            add(store, labels, t, *v);
        }
        for gone in state.last_series.difference(&now) {
            add(store, gone, t, f64::from_bits(STALE_NAN));
        }
        state.last_series = now;
    }
    errors
}

fn add(store: &mut MemStore, labels: &Labels, t: i64, v: f64) {
    let l: Vec<(&str, &str)> = labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    store.add(&l, &[(t, v)]);
}

/// The rule's expression as a vector: a scalar becomes one sample without labels.
fn query(rule: &Rule, t: i64, store: &MemStore) -> Result<Vec<promql::Sample>, String> {
    let plan = rule
        .expr
        .local()
        .ok_or("datasource rules are evaluated remotely")?;
    match promql::eval_instant(plan, t, store).map_err(|e| e.0)? {
        Value::Vector(v) => Ok(v),
        Value::Scalar(v) => Ok(vec![promql::Sample {
            labels: Vec::new(),
            value: v,
        }]),
        _ => Err("rule result is not a vector or scalar".into()),
    }
}

fn record(rule: &Rule, v: Vec<promql::Sample>, limit: u64) -> Result<Vec<(Labels, f64)>, String> {
    let mut out: Vec<(Labels, f64)> = Vec::with_capacity(v.len());
    let mut seen = HashSet::new();
    for s in v {
        let mut l = s.labels;
        promql::set(&mut l, promql::NAME, &rule.name);
        for (k, val) in &rule.labels {
            promql::set(&mut l, k, val);
        }
        if !seen.insert(l.clone()) {
            return Err(
                "vector contains metrics with the same labelset after applying rule labels".into(),
            );
        }
        out.push((l, s.value));
    }
    if limit > 0 && out.len() as u64 > limit {
        return Err(format!(
            "exceeded limit of {limit} with {} series",
            out.len()
        ));
    }
    Ok(out)
}

fn alert(
    rule: &Rule,
    state: &mut RuleState,
    v: Vec<promql::Sample>,
    t: i64,
    limit: u64,
    env: &Env,
) -> Result<Vec<(Labels, f64)>, String> {
    let mut found = Vec::with_capacity(v.len());
    let mut seen = HashSet::new();
    for s in v {
        let data = TemplateData {
            labels: &s.labels,
            value: s.value,
            external_labels: env.external_labels,
            external_url: env.external_url,
        };
        let mut l = promql::drop_name(s.labels.clone());
        for (k, text) in &rule.labels {
            promql::set(&mut l, k, &standin::expand(text, &data));
        }
        promql::set(&mut l, "alertname", &rule.name);
        let mut annotations: Labels = rule
            .annotations
            .iter()
            .map(|(k, text)| (k.clone(), standin::expand(text, &data)))
            .collect();
        annotations.sort();
        if !seen.insert(l.clone()) {
            return Err(
                "vector contains metrics with the same labelset after applying alert labels".into(),
            );
        }
        found.push(Candidate {
            labels: l,
            annotations,
            value: s.value,
        });
    }
    standin::step_alerts(&mut state.alerts, found, t, rule.for_, rule.keep_firing_for);
    let active: Vec<&Alert> = state
        .alerts
        .values()
        .filter(|a| a.state != State::Inactive)
        .collect();
    if limit > 0 && active.len() as u64 > limit {
        let n = active.len();
        state.alerts.clear();
        return Err(format!("exceeded limit of {limit} with {n} alerts"));
    }
    let mut out = Vec::with_capacity(2 * active.len());
    for a in active {
        // Un-templated rule labels under the alert's own labels, as Prometheus builds them.
        let mut base: Labels = Vec::new();
        for (k, v) in rule.labels.iter().chain(a.labels.iter()) {
            promql::set(&mut base, k, v);
        }
        let mut alerts = base.clone();
        promql::set(&mut alerts, promql::NAME, "ALERTS");
        let st = if a.state == State::Firing {
            "firing"
        } else {
            "pending"
        };
        promql::set(&mut alerts, "alertstate", st);
        out.push((alerts, 1.0));
        promql::set(&mut base, promql::NAME, "ALERTS_FOR_STATE");
        out.push((base, a.active_at.div_euclid(1000) as f64));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::promql::Queryable;

    fn group(text: &str) -> Group {
        super::super::file::parse("r.yml", text)
            .unwrap()
            .groups
            .remove(0)
    }

    fn values(store: &MemStore, name: &str) -> Vec<(i64, f64)> {
        let m = crate::promql::Matcher {
            name: "__name__".into(),
            op: crate::promql::MatchOp::Eq(name.into()),
        };
        store
            .select(&[m], i64::MIN, i64::MAX)
            .into_iter()
            .flat_map(|s| s.samples)
            .collect()
    }

    #[test]
    fn recording_output_is_written_and_marked_stale_when_gone() {
        let g = group("groups:\n  - name: g\n    rules:\n      - {record: r, expr: up}\n");
        let mut store = MemStore::new();
        store.add(&[("__name__", "up")], &[(0, 1.0)]);
        store.add(
            &[("__name__", "up")],
            &[(60_000, f64::from_bits(STALE_NAN))],
        );
        let env = Env {
            external_labels: &[],
            external_url: "",
        };
        let mut st = vec![RuleState::default()];
        for t in [0, 60_000] {
            assert!(eval_group(&g, &mut st, t, &mut store, &env).is_empty());
        }
        let v = values(&store, "r");
        assert_eq!(v[0], (0, 1.0));
        assert_eq!((v[1].0, v[1].1.to_bits()), (60_000, STALE_NAN));
    }

    #[test]
    fn limits_and_duplicates_fail_the_rule() {
        let g = group(
            "groups:\n  - name: g\n    limit: 1\n    rules:\n      - {alert: A, expr: up}\n      - {record: r, expr: sum without (i) (up)}\n",
        );
        let mut store = MemStore::new();
        store.add(&[("__name__", "up"), ("i", "1")], &[(0, 1.0)]);
        store.add(&[("__name__", "up"), ("i", "2")], &[(0, 1.0)]);
        let env = Env {
            external_labels: &[],
            external_url: "",
        };
        let mut st = vec![RuleState::default(), RuleState::default()];
        let errs = eval_group(&g, &mut st, 0, &mut store, &env);
        assert_eq!(
            errs,
            [(
                "A".to_string(),
                "exceeded limit of 1 with 2 alerts".to_string()
            )]
        );
        assert!(st[0].alerts.is_empty());
        assert_eq!(values(&store, "r"), [(0, 2.0)]);
    }
}
