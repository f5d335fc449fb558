//! A local PromQL evaluator for instant queries, with Prometheus' semantics.
//!
//! `promql-parser` parses the text; `plan` translates its AST into a small validated [`Plan`]
//! so that anything we cannot evaluate faithfully is refused at load time, naming the construct.
//! Evaluation is pure: it reads samples through the store's [`Queryable`] and never does I/O.
//!
//! [`Queryable`]: crate::store::select::Queryable

mod aggregate;
mod binary;
mod eval;
mod functions;
mod gomath;
mod plan;
mod plan_binary;
mod range_fns;
#[cfg(test)]
mod tests;

pub use eval::{eval_instant, eval_with, EvalOptions};
pub(crate) use gomath::shortest_digits;
pub use plan::{check_syntax, parse, Plan, Selector};

use crate::model::Labels;
use crate::store::select::Series;

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
