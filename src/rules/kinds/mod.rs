//! Rule kinds: alerting rules whose input is not one `expr` but a kind key (`anomaly:`,
//! `correlate:`, `correlation:`, …) with settings of its own. A kind decodes its key at load
//! time (problems positioned like every other rule-file problem), builds per-rule state, and at
//! each evaluation reads the sample store and hands the alert lifecycle an ordinary result, so
//! `for`, `keep_firing_for`, labels, annotations, `no_data`/`on_error`, `resolve_expr`,
//! notifications, `telltale test rules` and the state file work unchanged. What a kind learns
//! ([`Input::save`]) is saved with the alert state and restored on start and on reload.
//!
//! Adding a kind: a file here with `pub const KIND: Def = ...`, its `mod` line, and its entry
//! in [`ALL`]. Kind rules always evaluate locally, over the samples telltale holds.

mod common;
mod stats;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::Arc;

use super::alert::EvalInput;
use super::eval::{eval_rule, query_local, Outcome, RuleState};
use super::file::expr::Expr;
use super::file::Rule;
use crate::config::yaml::{Decoder, Node};
use crate::model::Labels;
use crate::promql::Plan;
use crate::store::select::Queryable;
use crate::template::FloatMap;

/// One rule kind: the key that selects it and how to decode that key's value.
pub struct Def {
    /// The rule key (`correlate`).
    pub key: &'static str,
    /// The metrics the kind writes besides `ALERTS`, with their HELP text.
    pub metrics: &'static [(&'static str, &'static str)],
    /// Decodes the key's value; every problem goes to the decoder at its position, under
    /// `path` (`group "g", rule 1, "Name": correlate`). `None` when something was wrong.
    pub decode: fn(&mut Decoder, &Node, &str) -> Option<Arc<dyn Spec>>,
}

// Every kind, by key: the one place a kind is registered.
crate::registry! { pub const ALL: &[Def] = KIND; anomaly, correlate, correlation }

/// A kind's settings as decoded from the rule file (immutable, shared by reloads of the same
/// text through the `Rule` that holds it).
pub trait Spec: Send + Sync + Debug {
    /// The evaluation state of a rule named `rule`, before its first evaluation.
    fn build(self: Arc<Self>, rule: &str) -> Box<dyn Input>;
    /// The PromQL inputs, in file order (the status page charts the first).
    fn plans(&self) -> Vec<&Plan>;
    /// A one-line summary: the rule's `query` in the rules API.
    fn text(&self) -> String;
}

/// A kind rule's evaluation state.
pub trait Input: Send + Debug {
    /// Reads the store at `t_ms` and says which alerts are present.
    fn eval(&mut self, t_ms: i64, q: &dyn Queryable) -> Output;
    /// What the kind has learnt, to be saved with the alert state; `None` for kinds that learn
    /// nothing.
    fn save(&self) -> Option<serde_json::Value> {
        None
    }
    /// Takes back what `save` returned (after a restart or a reload). An error (e.g. state of
    /// differently configured detectors) is logged and the kind starts afresh.
    fn restore(&mut self, _state: &serde_json::Value) -> Result<(), String> {
        Ok(())
    }
}

/// One evaluation of a kind.
#[derive(Debug)]
pub struct Output {
    /// As an `expr` result: one sample per present alert (its labels become the alert's
    /// labels, its value `$value`), `NoData` when the inputs are absent, or an error.
    pub result: EvalInput,
    /// Named values per result sample (keyed by its labels) that templates read as
    /// `$inputs.<name>` / `.Inputs.<name>`.
    pub inputs: BTreeMap<Labels, Arc<FloatMap>>,
    /// Series to write beside `ALERTS` (`__name__` set), whatever the alerts do; names must be
    /// listed in the kind's [`Def::metrics`].
    pub series: Vec<(Labels, f64)>,
}

impl Output {
    pub fn new(result: EvalInput) -> Self {
        Output {
            result,
            inputs: BTreeMap::new(),
            series: Vec::new(),
        }
    }
}

/// The HELP text of a metric some kind writes.
pub fn help(metric: &str) -> Option<&'static str> {
    ALL.iter()
        .flat_map(|k| k.metrics.iter())
        .find(|(name, _)| *name == metric)
        .map(|(_, help)| *help)
}

/// The evaluation state of `rule`'s kind; `None` for an `expr` rule.
pub fn build(rule: &Rule) -> Option<Box<dyn Input>> {
    match &rule.expr {
        Expr::Kind(spec) => Some(Arc::clone(spec).build(&rule.name)),
        _ => None,
    }
}

/// One evaluation of a kind rule at `t`: the kind's result goes through the alert lifecycle
/// (with its `$inputs` for templates); its series are written beside `ALERTS`.
pub fn eval(rule: &Rule, st: &mut RuleState, t: i64, q: &dyn Queryable, limit: u64) -> Outcome {
    let out = match st.kind.as_mut() {
        Some(k) => k.eval(t, q),
        None => Output::new(EvalInput::Error("rule kind without state".into())),
    };
    let resolve = (rule.resolve_expr.as_ref())
        .and_then(Expr::local)
        .map(|p| query_local(p, t, q));
    if let Some(a) = st.alert.as_mut() {
        a.inputs = out.inputs;
    }
    let mut o = eval_rule(rule, st, out.result, resolve.as_ref(), t, limit);
    if o.write {
        o.samples.extend(out.series);
    }
    o
}

/// Moves what `old` learnt into `new` (a reload that kept the rule).
pub fn carry(old: Option<&dyn Input>, new: Option<&mut Box<dyn Input>>) {
    if let (Some(o), Some(n)) = (old, new) {
        if let Some(v) = o.save() {
            if let Err(e) = n.restore(&v) {
                tracing::warn!(err = %e, "rule kind state not carried over; starting afresh");
            }
        }
    }
}
