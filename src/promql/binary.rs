//! Binary operators: scalar/scalar, vector/scalar and vector/vector with `on`/`ignoring`,
//! `group_left`/`group_right`, `bool`, and the set operators.

use std::collections::{HashMap, HashSet};

use super::eval::{err, Ctx};
use super::plan::{BinOp, BinaryPlan, Card, Kind, Matching};
use super::{EvalError, Sample, Value};
use crate::model::labels::{del, drop_name, fmt_labels, get, set, NAME};
use crate::model::Labels;

pub(super) fn eval_binary(ctx: &Ctx, b: &BinaryPlan) -> Result<Value, EvalError> {
    let op = b.op;
    match (b.lhs.kind(), b.rhs.kind()) {
        (Kind::Scalar, Kind::Scalar) => {
            let (l, r) = (ctx.scalar(&b.lhs)?, ctx.scalar(&b.rhs)?);
            let (v, keep) = elem(op, l, r);
            Ok(Value::Scalar(if op.is_comparison() {
                f64::from(u8::from(keep))
            } else {
                v
            }))
        }
        (Kind::Vector, Kind::Scalar) => {
            let (l, r) = (ctx.vector(&b.lhs)?, ctx.scalar(&b.rhs)?);
            Ok(Value::Vector(vector_scalar(l, r, op, false, b.return_bool)))
        }
        (Kind::Scalar, Kind::Vector) => {
            let (l, r) = (ctx.scalar(&b.lhs)?, ctx.vector(&b.rhs)?);
            Ok(Value::Vector(vector_scalar(r, l, op, true, b.return_bool)))
        }
        _ => {
            let (l, r) = (ctx.vector(&b.lhs)?, ctx.vector(&b.rhs)?);
            let m = &b.matching;
            Ok(Value::Vector(match op {
                BinOp::And => set_filter(l, &r, m, true),
                BinOp::Unless => set_filter(l, &r, m, false),
                BinOp::Or => or(l, r, m),
                _ => vector_vector(l, r, op, m, b.return_bool)?,
            }))
        }
    }
}

/// Applies `op`; for comparisons returns the left value and whether the comparison holds.
pub(super) fn elem(op: BinOp, l: f64, r: f64) -> (f64, bool) {
    match op {
        BinOp::Add => (l + r, true),
        BinOp::Sub => (l - r, true),
        BinOp::Mul => (l * r, true),
        BinOp::Div => (l / r, true),
        BinOp::Mod => (l % r, true),
        BinOp::Pow => (super::gomath::pow(l, r), true),
        BinOp::Atan2 => (super::gomath::atan2(l, r), true),
        BinOp::Eq => (l, l == r),
        BinOp::Ne => (l, l != r),
        BinOp::Gt => (l, l > r),
        BinOp::Lt => (l, l < r),
        BinOp::Ge => (l, l >= r),
        BinOp::Le => (l, l <= r),
        BinOp::And | BinOp::Or | BinOp::Unless => (l, false),
    }
}

/// Arithmetic drops the metric name; a filtering comparison keeps it. So does `atan2`, which
/// Prometheus 2.x leaves out of its list of name-dropping operators.
fn drops_name(op: BinOp) -> bool {
    !op.is_comparison() && !op.is_set() && op != BinOp::Atan2
}

fn vector_scalar(vs: Vec<Sample>, s: f64, op: BinOp, swap: bool, rbool: bool) -> Vec<Sample> {
    let mut out = Vec::with_capacity(vs.len());
    for smp in vs {
        let (l, r) = if swap { (s, smp.value) } else { (smp.value, s) };
        let (mut value, mut keep) = elem(op, l, r);
        // A comparison always yields the vector's value, whichever side it is on.
        if op.is_comparison() && swap {
            value = r;
        }
        if rbool {
            value = f64::from(u8::from(keep));
            keep = true;
        }
        if keep {
            let labels = if drops_name(op) || rbool {
                drop_name(smp.labels)
            } else {
                smp.labels
            };
            out.push(Sample { labels, value });
        }
    }
    out
}

/// The labels two samples are matched on.
fn signature(labels: &Labels, m: &Matching) -> Labels {
    labels
        .iter()
        .filter(|(k, _)| {
            if m.on {
                m.labels.contains(k)
            } else {
                k != NAME && !m.labels.contains(k)
            }
        })
        .cloned()
        .collect()
}

/// `and` (keep == true) and `unless` (keep == false).
fn set_filter(l: Vec<Sample>, r: &[Sample], m: &Matching, keep: bool) -> Vec<Sample> {
    let sigs: HashSet<Labels> = r.iter().map(|s| signature(&s.labels, m)).collect();
    l.into_iter()
        .filter(|s| sigs.contains(&signature(&s.labels, m)) == keep)
        .collect()
}

fn or(mut l: Vec<Sample>, r: Vec<Sample>, m: &Matching) -> Vec<Sample> {
    let sigs: HashSet<Labels> = l.iter().map(|s| signature(&s.labels, m)).collect();
    l.extend(
        r.into_iter()
            .filter(|s| !sigs.contains(&signature(&s.labels, m))),
    );
    l
}

fn vector_vector(
    l: Vec<Sample>,
    r: Vec<Sample>,
    op: BinOp,
    m: &Matching,
    rbool: bool,
) -> Result<Vec<Sample>, EvalError> {
    if l.is_empty() || r.is_empty() {
        return Ok(Vec::new());
    }
    // The "one" side is always `one` below; group_right swaps the operands.
    let (many, one) = if m.card == Card::OneToMany {
        (r, l)
    } else {
        (l, r)
    };
    let mut one_sigs: HashMap<Labels, &Sample> = HashMap::new();
    for s in &one {
        let sig = signature(&s.labels, m);
        if let Some(prev) = one_sigs.insert(sig.clone(), s) {
            let side = if m.card == Card::OneToMany {
                "left"
            } else {
                "right"
            };
            return err(format!(
                "found duplicate series for the match group {} on the {side} hand-side of the \
                 operation: [{}, {}];many-to-many matching not allowed: matching labels must be \
                 unique on one side",
                fmt_labels(&sig),
                fmt_labels(&s.labels),
                fmt_labels(&prev.labels)
            ));
        }
    }
    let mut matched: HashMap<Labels, HashSet<Labels>> = HashMap::new();
    let mut out = Vec::new();
    for ms in many {
        let sig = signature(&ms.labels, m);
        let Some(os) = one_sigs.get(&sig) else {
            continue;
        };
        let (vl, vr) = if m.card == Card::OneToMany {
            (os.value, ms.value)
        } else {
            (ms.value, os.value)
        };
        let (mut value, keep) = elem(op, vl, vr);
        if rbool {
            value = f64::from(u8::from(keep));
        } else if !keep {
            continue;
        }
        let labels = result_labels(ms.labels, &os.labels, op, m, rbool);
        let seen = matched.entry(sig).or_default();
        if m.card == Card::OneToOne {
            if !seen.is_empty() {
                return err(
                    "multiple matches for labels: many-to-one matching must be explicit \
                     (group_left/group_right)",
                );
            }
            seen.insert(Labels::new());
        } else if !seen.insert(labels.clone()) {
            return err("multiple matches for labels: grouping labels must ensure unique matches");
        }
        out.push(Sample { labels, value });
    }
    Ok(out)
}

fn result_labels(mut labels: Labels, one: &Labels, op: BinOp, m: &Matching, rbool: bool) -> Labels {
    if drops_name(op) || rbool {
        del(&mut labels, NAME);
    }
    if m.card == Card::OneToOne {
        if m.on {
            labels.retain(|(k, _)| m.labels.contains(k));
        } else {
            labels.retain(|(k, _)| !m.labels.contains(k));
        }
    }
    for name in &m.include {
        match get(one, name) {
            Some(v) => {
                let v = v.to_string();
                set(&mut labels, name, &v)
            }
            None => del(&mut labels, name),
        }
    }
    labels
}
