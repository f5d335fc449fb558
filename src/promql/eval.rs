//! The evaluator core: dispatch, selectors (lookback, staleness, `offset`, `@`) and unary minus.

use std::collections::HashSet;

use super::plan::{At, Plan, Selector};
use super::{EvalError, Sample, Value};
use crate::model::labels::drop_name;
use crate::model::time::is_stale;
use crate::model::Labels;
use crate::store::select::{Queryable, Series};

/// Knobs where Prometheus versions differ. The default is Prometheus 2.x, which is what the
/// promtool used for differential tests (2.42) implements.
#[derive(Clone, Copy, Debug)]
pub struct EvalOptions {
    /// How far back an instant selector looks for a sample (Prometheus' default: 5 minutes).
    pub lookback_ms: i64,
    /// Prometheus 3 semantics: lookback and range windows exclude their left edge, and
    /// `rate`'s zero-point clamp is applied after the extrapolation threshold.
    pub prometheus3: bool,
}

impl Default for EvalOptions {
    fn default() -> Self {
        EvalOptions {
            lookback_ms: 5 * 60 * 1000,
            prometheus3: false,
        }
    }
}

/// Evaluates `expr` as an instant query at `t_ms` with default options.
pub fn eval_instant(expr: &Plan, t_ms: i64, q: &dyn Queryable) -> Result<Value, EvalError> {
    eval_with(expr, t_ms, q, EvalOptions::default())
}

pub fn eval_with(
    expr: &Plan,
    t_ms: i64,
    q: &dyn Queryable,
    opts: EvalOptions,
) -> Result<Value, EvalError> {
    Ctx { t: t_ms, q, opts }.eval(expr)
}

pub(super) struct Ctx<'a> {
    pub t: i64,
    pub q: &'a dyn Queryable,
    pub opts: EvalOptions,
}

pub(super) fn err<T>(msg: impl Into<String>) -> Result<T, EvalError> {
    Err(EvalError(msg.into()))
}

impl Ctx<'_> {
    pub fn eval(&self, p: &Plan) -> Result<Value, EvalError> {
        let v = match p {
            Plan::Number(n) => return Ok(Value::Scalar(*n)),
            Plan::Str(s) => return Ok(Value::String(s.clone())),
            Plan::Selector(sel) => {
                let samples = self.instant(sel).into_iter();
                return Ok(Value::Vector(
                    samples
                        .map(|(labels, _, value)| Sample { labels, value })
                        .collect(),
                ));
            }
            Plan::Range(sel, range) => return Ok(Value::Matrix(self.range(sel, *range))),
            Plan::Neg(e) => match self.eval(e)? {
                Value::Scalar(v) => return Ok(Value::Scalar(-v)),
                Value::Vector(vs) => Value::Vector(
                    vs.into_iter()
                        .map(|s| Sample {
                            labels: drop_name(s.labels),
                            value: -s.value,
                        })
                        .collect(),
                ),
                _ => return err("unary minus needs a scalar or an instant vector"),
            },
            Plan::Binary(b) => super::binary::eval_binary(self, b)?,
            Plan::Aggregate(a) => Value::Vector(super::aggregate::eval_aggregate(self, a)?),
            Plan::Call(f, args) => super::functions::eval_call(self, *f, args)?,
            Plan::LabelReplace(e, lr) => {
                Value::Vector(super::functions::label_replace(self.vector(e)?, lr))
            }
            Plan::LabelJoin(e, lj) => {
                Value::Vector(super::functions::label_join(self.vector(e)?, lj))
            }
        };
        if let Value::Vector(vs) = &v {
            check_unique(vs)?;
        }
        Ok(v)
    }

    pub fn vector(&self, p: &Plan) -> Result<Vec<Sample>, EvalError> {
        match self.eval(p)? {
            Value::Vector(v) => Ok(v),
            _ => err(format!("expected an instant vector, got {:?}", p.kind())),
        }
    }

    pub fn scalar(&self, p: &Plan) -> Result<f64, EvalError> {
        match self.eval(p)? {
            Value::Scalar(v) => Ok(v),
            _ => err(format!("expected a scalar, got {:?}", p.kind())),
        }
    }

    pub fn matrix(&self, p: &Plan) -> Result<(Vec<Series>, i64), EvalError> {
        match p {
            Plan::Range(sel, range) => Ok((self.range(sel, *range), *range)),
            _ => err(format!("expected a range vector, got {:?}", p.kind())),
        }
    }

    /// The time a selector looks at: `@` replaces the evaluation time, then `offset` shifts back.
    pub fn ref_time(&self, sel: &Selector) -> i64 {
        let base = match sel.at {
            Some(At::Ms(ms)) => ms,
            Some(At::EvalTime) | None => self.t,
        };
        base - sel.offset_ms
    }

    fn in_window(&self, ts: i64, start: i64, end: i64) -> bool {
        let after_start = if self.opts.prometheus3 {
            ts > start
        } else {
            ts >= start
        };
        after_start && ts <= end
    }

    /// Instant selector: the newest sample within the lookback window, unless it is a staleness
    /// marker (which ends the series). Returns (labels, sample time, value).
    pub fn instant(&self, sel: &Selector) -> Vec<(Labels, i64, f64)> {
        let end = self.ref_time(sel);
        let start = end - self.opts.lookback_ms;
        let mut out = Vec::new();
        for s in self.q.select_last(&sel.matchers, start, end) {
            let last = s.samples.iter().rev().find(|(ts, _)| *ts <= end);
            if let Some(&(ts, v)) = last {
                if self.in_window(ts, start, end) && !is_stale(v) {
                    out.push((s.labels, ts, v));
                }
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Range selector: all non-stale samples within the range ending at the reference time.
    pub fn range(&self, sel: &Selector, range_ms: i64) -> Vec<Series> {
        let end = self.ref_time(sel);
        let start = end - range_ms;
        let mut out: Vec<Series> = self
            .q
            .select(&sel.matchers, start, end)
            .into_iter()
            .map(|mut s| {
                s.samples
                    .retain(|(ts, v)| self.in_window(*ts, start, end) && !is_stale(*v));
                s
            })
            .filter(|s| !s.samples.is_empty())
            .collect();
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        out
    }

    /// The evaluation time in seconds, as `time()` and friends see it.
    pub fn t_secs(&self) -> f64 {
        self.t as f64 / 1000.0
    }
}

/// Prometheus refuses a result vector with two identical label sets (e.g. after dropping
/// `__name__` from two metrics that differ only by name).
/// Small vectors (most rule results) are compared pairwise, which is cheaper than hashing.
pub(super) fn check_unique(vs: &[Sample]) -> Result<(), EvalError> {
    const DUP: &str = "vector cannot contain metrics with the same labelset";
    if vs.len() <= 16 {
        for (i, a) in vs.iter().enumerate() {
            if vs[i + 1..].iter().any(|b| b.labels == a.labels) {
                return err(DUP);
            }
        }
        return Ok(());
    }
    let mut seen = HashSet::with_capacity(vs.len());
    for s in vs {
        if !seen.insert(&s.labels) {
            return err(DUP);
        }
    }
    Ok(())
}
