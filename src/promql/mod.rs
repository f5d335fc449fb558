//! A local PromQL evaluator for instant queries, with Prometheus' semantics.
//!
//! `promql-parser` parses the text; `plan` translates its AST into a small validated [`Plan`]
//! so that anything we cannot evaluate faithfully is refused at load time, naming the construct.
//! Evaluation is pure: it reads samples through [`Queryable`] and never does I/O.
// The rules engine (next step of issue 4) is the consumer of this API; until it lands, parts of
// it are only used by the tests.
#![allow(dead_code)]

mod aggregate;
mod binary;
mod eval;
mod functions;
mod gomath;
mod memstore;
mod plan;
mod plan_binary;
mod range_fns;
mod storeq;
#[cfg(test)]
mod tests;

// The API the rules engine (issue 4, next step) and `telltale test rules` will call.
#[allow(unused_imports)]
pub use eval::{eval_instant, eval_with, EvalOptions};
pub(crate) use gomath::shortest_digits;
#[allow(unused_imports)]
pub use memstore::MemStore;
#[allow(unused_imports)]
pub use plan::{check_syntax, parse, Plan, Selector};

use crate::exposition::Labels;

/// Prometheus' staleness marker (see `store::STALE_NAN`).
pub const STALE_NAN: u64 = crate::store::STALE_NAN;

pub const NAME: &str = "__name__";

/// One label matcher; regexes are fully anchored as in Prometheus.
#[derive(Clone, Debug)]
pub struct Matcher {
    pub name: String,
    pub op: MatchOp,
}

#[derive(Clone, Debug)]
pub enum MatchOp {
    Eq(String),
    Ne(String),
    Re(regex::Regex),
    NotRe(regex::Regex),
}

impl Matcher {
    /// A missing label matches as the empty string, as in Prometheus.
    pub fn matches(&self, labels: &Labels) -> bool {
        self.matches_value(get(labels, &self.name).unwrap_or(""))
    }

    /// Whether the label's value `v` (`""` when the label is missing) matches.
    pub fn matches_value(&self, v: &str) -> bool {
        match &self.op {
            MatchOp::Eq(s) => v == s,
            MatchOp::Ne(s) => v != s,
            MatchOp::Re(r) => r.is_match(v),
            MatchOp::NotRe(r) => !r.is_match(v),
        }
    }
}

/// One stored series: labels (including `__name__`) and samples sorted by time.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub labels: Labels,
    pub samples: Vec<(i64, f64)>,
}

/// What the evaluator reads: every series matching all matchers, with its samples in
/// `[from_ms, to_ms]` (inclusive; the evaluator narrows further). Stale markers included.
pub trait Queryable {
    fn select(&self, matchers: &[Matcher], from_ms: i64, to_ms: i64) -> Vec<Series>;

    /// `select` keeping only each series' newest sample in the window: all an instant
    /// selector reads. A store can skip copying the rest.
    fn select_last(&self, matchers: &[Matcher], from_ms: i64, to_ms: i64) -> Vec<Series> {
        let mut v = self.select(matchers, from_ms, to_ms);
        for s in &mut v {
            s.samples.drain(..s.samples.len().saturating_sub(1));
        }
        v
    }

    /// Whether some matching series has a sample in the window that is not a staleness
    /// marker (the rules engine's "no data" test).
    fn any_sample(&self, matchers: &[Matcher], from_ms: i64, to_ms: i64) -> bool {
        self.select(matchers, from_ms, to_ms)
            .iter()
            .any(|s| s.samples.iter().any(|(_, v)| !is_stale(*v)))
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub labels: Labels,
    pub value: f64,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Scalar(f64),
    Vector(Vec<Sample>),
    Matrix(Vec<Series>),
    String(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EvalError(pub String);

impl std::fmt::Display for EvalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

pub fn is_stale(v: f64) -> bool {
    v.to_bits() == STALE_NAN
}

/// Label helpers over the sorted `Vec<(name, value)>` representation.
pub fn get<'a>(labels: &'a Labels, name: &str) -> Option<&'a str> {
    labels
        .binary_search_by(|(k, _)| k.as_str().cmp(name))
        .ok()
        .map(|i| labels[i].1.as_str())
}

/// Sets a label; an empty value deletes it (an empty label is the same as none in Prometheus).
pub fn set(labels: &mut Labels, name: &str, value: &str) {
    match labels.binary_search_by(|(k, _)| k.as_str().cmp(name)) {
        Ok(i) if value.is_empty() => {
            labels.remove(i);
        }
        Ok(i) => labels[i].1 = value.to_string(),
        Err(_) if value.is_empty() => {}
        Err(i) => labels.insert(i, (name.to_string(), value.to_string())),
    }
}

pub fn del(labels: &mut Labels, name: &str) {
    labels.retain(|(k, _)| k != name);
}

pub fn drop_name(mut labels: Labels) -> Labels {
    del(&mut labels, NAME);
    labels
}

/// `{a="x", b="y"}` for error messages.
pub fn fmt_labels(labels: &Labels) -> String {
    let parts: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", parts.join(", "))
}

/// A valid Prometheus label name: `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn valid_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}
