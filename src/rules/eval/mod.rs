//! One rule's evaluation at one timestamp, shared by `telltale test rules` and the running
//! engine: the query result goes through the rule's kind (recording: relabel; alerting: the
//! lifecycle in `alert`) and comes out as the samples the rule writes at `t`. Where they are
//! written (a [`MemStore`] here, the sample store in `engine`) is the caller's business.
//!
//! [`eval_group_mem`] is Prometheus' `Group.Eval` over a `MemStore`: rules run in order at the
//! same timestamp, each rule's output is written before the next rule runs (so later rules see
//! it), and series that disappear get a staleness marker.

pub mod remote;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use super::alert::{AlertRule, AlertRuleSpec, EvalInput};
use super::file::expr::Expr;
use super::file::{Group, Kind, Rule};
use super::kinds;
use crate::model::labels;
use crate::model::time::STALE_NAN;
use crate::model::Labels;
use crate::promql;
use crate::promql::{Plan, Value};
use crate::store::memstore::MemStore;
use crate::store::select::Queryable;
use crate::template::StrMap;

/// A rule's health as `/api/v1/rules` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Health {
    Unknown,
    Ok,
    Err,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Ok => "ok",
            Health::Err => "err",
        }
    }
}

/// Values templates may refer to besides the sample's own labels and value.
#[derive(Clone, Debug, Default)]
pub struct Env {
    pub external_labels: Arc<StrMap>,
    pub external_url: String,
}

/// What persists between evaluations of one rule.
#[derive(Debug)]
pub struct RuleState {
    /// The lifecycle of an alerting rule; `None` for a recording rule.
    pub alert: Option<AlertRule>,
    /// The evaluation state of a rule kind (`correlate:`, ...); `None` for an `expr` rule.
    pub kind: Option<Box<dyn kinds::Input>>,
    pub health: Health,
    pub last_error: Option<String>,
    pub last_eval_ms: Option<i64>,
    pub last_duration: Duration,
    /// The series written at the last successful evaluation, for staleness markers.
    last_series: HashSet<Labels>,
}

/// The result of one rule evaluation.
#[derive(Debug, Default)]
pub struct Outcome {
    /// The samples to write at `t` (`__name__` set).
    pub samples: Vec<(Labels, f64)>,
    pub error: Option<String>,
    /// False when the rule failed the way Prometheus skips sending (state untouched, nothing
    /// written).
    pub write: bool,
}

fn ms(d: Duration) -> i64 {
    d.as_millis() as i64
}

impl RuleState {
    /// The state of a rule before its first evaluation; label and annotation templates are
    /// parsed here, so a bad one is a load-time error.
    pub fn new(rule: &Rule, limit: u64, env: &Env) -> Result<Self, String> {
        let alert = match rule.kind {
            Kind::Record => None,
            Kind::Alert => {
                let mut spec = AlertRuleSpec::new(
                    &rule.name,
                    ms(rule.for_),
                    ms(rule.keep_firing_for),
                    &rule.labels,
                    &rule.annotations,
                )?;
                spec.external_labels = Arc::clone(&env.external_labels);
                spec.external_url = env.external_url.clone();
                spec.limit = limit as usize;
                spec.no_data = rule.no_data;
                spec.on_error = rule.on_error;
                Some(AlertRule::new(spec))
            }
        };
        Ok(RuleState {
            alert,
            kind: kinds::build(rule),
            health: Health::Unknown,
            last_error: None,
            last_eval_ms: None,
            last_duration: Duration::ZERO,
            last_series: HashSet::new(),
        })
    }
}

/// Evaluates `plan` at `t` over `q` as a rule input: a scalar becomes one sample without
/// labels; an empty result whose selectors all match nothing is `NoData`.
pub fn query_local(plan: &Plan, t: i64, q: &dyn Queryable) -> EvalInput {
    match promql::eval_instant(plan, t, q) {
        Ok(Value::Vector(v)) if v.is_empty() && inputs_absent(plan, t, q) => EvalInput::NoData,
        Ok(Value::Vector(v)) => EvalInput::Ok(v),
        Ok(Value::Scalar(v)) => EvalInput::Ok(vec![promql::Sample {
            labels: Vec::new(),
            value: v,
        }]),
        Ok(_) => EvalInput::Error("rule result is not a vector or scalar".into()),
        Err(e) => EvalInput::Error(e.0),
    }
}

/// A rule's input and `resolve_expr` input evaluated locally at `t` (for an `expr` rule; a
/// kind rule's input comes from its state, see [`eval_local`]).
pub fn local_inputs(rule: &Rule, t: i64, q: &dyn Queryable) -> (EvalInput, Option<EvalInput>) {
    let run = |e: &Expr| match e {
        Expr::Local(plan) => query_local(plan, t, q),
        Expr::Remote => {
            EvalInput::Error("the expression needs a datasource and none is configured".into())
        }
        Expr::Kind(_) => EvalInput::Error("a rule kind is evaluated by its state".into()),
    };
    (run(&rule.expr), rule.resolve_expr.as_ref().map(run))
}

/// One local evaluation of a rule at `t` over `q`: its expressions through [`eval_rule`], or
/// its kind (see `kinds::eval`).
pub fn eval_local(
    rule: &Rule,
    st: &mut RuleState,
    t: i64,
    q: &dyn Queryable,
    limit: u64,
) -> Outcome {
    if rule.expr.is_kind() {
        return kinds::eval(rule, st, t, q, limit);
    }
    let (input, resolve) = local_inputs(rule, t, q);
    eval_rule(rule, st, input, resolve.as_ref(), t, limit)
}

/// True when no selector of `plan` has a sample within the lookback before `t` (an expression
/// without selectors, like `vector(1) > 2`, is never "no data").
fn inputs_absent(plan: &Plan, t: i64, q: &dyn Queryable) -> bool {
    let mut sels = Vec::new();
    selectors(plan, &mut sels);
    !sels.is_empty()
        && sels.iter().all(|(s, range)| {
            let end = t - s.offset_ms;
            let from = end - range.unwrap_or(promql::EvalOptions::default().lookback_ms);
            !q.any_sample(&s.matchers, from, end)
        })
}

/// Every selector of `p` with its range (None for an instant selector), in query order.
pub fn selectors<'a>(p: &'a Plan, out: &mut Vec<(&'a promql::Selector, Option<i64>)>) {
    match p {
        Plan::Number(_) | Plan::Str(_) => {}
        Plan::Selector(s) => out.push((s, None)),
        Plan::Range(s, r) => out.push((s, Some(*r))),
        Plan::Neg(e) | Plan::LabelReplace(e, _) | Plan::LabelJoin(e, _) => selectors(e, out),
        Plan::Binary(b) => {
            selectors(&b.lhs, out);
            selectors(&b.rhs, out);
        }
        Plan::Aggregate(a) => {
            selectors(&a.expr, out);
            if let Some(p) = &a.param {
                selectors(p, out);
            }
        }
        Plan::Call(_, args) => args.iter().for_each(|a| selectors(a, out)),
    }
}

/// Applies one query result to a rule: relabels a recording rule's samples, advances an
/// alerting rule's lifecycle, and returns what to write at `t`.
pub fn eval_rule(
    rule: &Rule,
    st: &mut RuleState,
    input: EvalInput,
    resolve: Option<&EvalInput>,
    t: i64,
    limit: u64,
) -> Outcome {
    let result = match &mut st.alert {
        None => match input {
            EvalInput::Ok(v) => record(rule, v, limit),
            EvalInput::NoData => Ok(Vec::new()),
            EvalInput::Error(e) => Err(e),
        },
        Some(a) => {
            let r = a.eval_with_resolve(t, input, resolve);
            let samples = a.series().into_iter().map(|s| (s.labels, s.value));
            match r {
                Ok(()) => Ok(samples.collect()),
                Err(e) if !e.skip_send => {
                    let out = Outcome {
                        samples: samples.collect(),
                        error: Some(e.message),
                        write: true,
                    };
                    return finish(st, t, out);
                }
                Err(e) => Err(e.message),
            }
        }
    };
    let out = match result {
        Ok(samples) => Outcome {
            samples,
            error: None,
            write: true,
        },
        Err(e) => Outcome {
            samples: Vec::new(),
            error: Some(e),
            write: false,
        },
    };
    finish(st, t, out)
}

fn finish(st: &mut RuleState, t: i64, out: Outcome) -> Outcome {
    st.last_eval_ms = Some(t);
    st.health = if out.error.is_some() {
        Health::Err
    } else {
        Health::Ok
    };
    st.last_error.clone_from(&out.error);
    out
}

fn record(rule: &Rule, v: Vec<promql::Sample>, limit: u64) -> Result<Vec<(Labels, f64)>, String> {
    let mut out: Vec<(Labels, f64)> = Vec::with_capacity(v.len());
    let mut seen = HashSet::new();
    for s in v {
        let mut l = s.labels;
        labels::set(&mut l, labels::NAME, &rule.name);
        for (k, val) in &rule.labels {
            labels::set(&mut l, k, val);
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

/// Evaluates every rule of `g` at `ts` (ms) over `store`, writing each rule's output before the
/// next runs; returns `(rule name, error)` for the rules that failed.
pub fn eval_group_mem(
    g: &Group,
    states: &mut [RuleState],
    ts: i64,
    store: &mut MemStore,
) -> Vec<(String, String)> {
    let t = ts - g.query_offset.map_or(0, ms);
    let mut errors = Vec::new();
    for (rule, st) in g.rules.iter().zip(states.iter_mut()) {
        let out = eval_local(rule, st, t, store, g.limit);
        if let Some(e) = out.error {
            errors.push((rule.name.clone(), e));
        }
        if !out.write {
            continue;
        }
        let now: HashSet<Labels> = out.samples.iter().map(|(l, _)| l.clone()).collect();
        for (labels, v) in &out.samples {
            add(store, labels, t, *v);
        }
        for gone in st.last_series.difference(&now) {
            add(store, gone, t, f64::from_bits(STALE_NAN));
        }
        st.last_series = now;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn group(text: &str) -> Group {
        crate::rules::file::parse("r.yml", text)
            .unwrap()
            .groups
            .remove(0)
    }

    fn states(g: &Group) -> Vec<RuleState> {
        g.rules
            .iter()
            .map(|r| RuleState::new(r, g.limit, &Env::default()).unwrap())
            .collect()
    }

    fn values(store: &MemStore, name: &str) -> Vec<(i64, f64)> {
        let m = crate::store::select::Matcher {
            name: "__name__".into(),
            op: crate::store::select::MatchOp::Eq(name.into()),
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
        let mut st = states(&g);
        for t in [0, 60_000] {
            assert!(eval_group_mem(&g, &mut st, t, &mut store).is_empty());
        }
        let v = values(&store, "r");
        assert_eq!(v[0], (0, 1.0));
        assert_eq!((v[1].0, v[1].1.to_bits()), (60_000, STALE_NAN));
        assert_eq!(st[0].health, Health::Ok);
    }

    #[test]
    fn limits_and_duplicates_fail_the_rule() {
        let g = group(
            "groups:\n  - name: g\n    limit: 1\n    rules:\n      - {alert: A, expr: up}\n      - {record: r, expr: sum without (i) (up)}\n",
        );
        let mut store = MemStore::new();
        store.add(&[("__name__", "up"), ("i", "1")], &[(0, 1.0)]);
        store.add(&[("__name__", "up"), ("i", "2")], &[(0, 1.0)]);
        let mut st = states(&g);
        let errs = eval_group_mem(&g, &mut st, 0, &mut store);
        assert_eq!(
            errs,
            [(
                "A".to_string(),
                "exceeded limit of 1 with 2 alerts".to_string()
            )]
        );
        assert_eq!(st[0].alert.as_ref().unwrap().alerts().count(), 0);
        assert_eq!(st[0].health, Health::Err);
        assert_eq!(values(&store, "r"), [(0, 2.0)]);
    }

    #[test]
    fn no_data_only_when_every_selector_is_empty() {
        let mut store = MemStore::new();
        store.add(&[("__name__", "up")], &[(0, 0.0)]);
        let at = |q: &str, t: i64, s: &MemStore| query_local(&promql::parse(q).unwrap(), t, s);
        assert_eq!(at("up > 1", 60_000, &store), EvalInput::Ok(vec![]));
        assert_eq!(at("down > 1", 60_000, &store), EvalInput::NoData);
        assert_eq!(at("up > 1 or down", 60_000, &store), EvalInput::Ok(vec![]));
        // Past the lookback the only sample no longer counts.
        assert_eq!(at("up > 1", 301_000, &store), EvalInput::NoData);
        assert_eq!(
            at("rate(up[10m]) > 1", 301_000, &store),
            EvalInput::Ok(vec![])
        );
        assert_eq!(at("vector(1) > 2", 0, &store), EvalInput::Ok(vec![]));
    }
}
