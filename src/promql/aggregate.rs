//! Aggregation operators with `by`/`without`, following Prometheus' per-operator arithmetic
//! (incremental mean for `avg`, Welford for `stddev`/`stdvar`, NaN-aware `min`/`max`).

use std::cmp::Ordering;
use std::collections::HashMap;

use super::eval::{err, Ctx};
use super::plan::{AggOp, AggPlan, Grouping};
use super::{EvalError, Sample, Value};
use crate::model::labels::{is_label_name, set, NAME};
use crate::model::Labels;

struct Group {
    labels: Labels,
    value: f64,
    mean: f64,
    count: f64,
    /// Members kept whole: topk/bottomk candidates, quantile inputs.
    members: Vec<Sample>,
}

pub(super) fn eval_aggregate(ctx: &Ctx, a: &AggPlan) -> Result<Vec<Sample>, EvalError> {
    let param = match &a.param {
        Some(p) => Some(ctx.eval(p)?),
        None => None,
    };
    let input = ctx.vector(&a.expr)?;
    let mut k = 0usize;
    let mut q = 0.0;
    let mut value_label = String::new();
    match (a.op, param) {
        (AggOp::Topk | AggOp::Bottomk, Some(Value::Scalar(f))) => {
            if f.is_nan() || f.abs() >= 9.2e18 {
                return err(format!("Scalar value {} overflows int64", go_float(f)));
            }
            if f < 1.0 {
                return Ok(Vec::new());
            }
            k = f as usize;
        }
        (AggOp::Quantile, Some(Value::Scalar(f))) => q = f,
        (AggOp::CountValues, Some(Value::String(s))) => {
            if !is_label_name(&s) {
                return err(format!("invalid label name {s:?}"));
            }
            value_label = s;
        }
        _ => {}
    }
    let mut groups: Vec<Group> = Vec::new();
    let mut index: HashMap<Labels, usize> = HashMap::new();
    for mut s in input {
        if a.op == AggOp::CountValues {
            set(&mut s.labels, &value_label, &go_float(s.value));
        }
        let key = group_key(&s.labels, &a.grouping, &value_label);
        let gi = match index.get(&key) {
            Some(&i) => i,
            None => {
                index.insert(key.clone(), groups.len());
                groups.push(Group {
                    labels: key,
                    value: s.value,
                    mean: s.value,
                    count: 0.0,
                    members: Vec::new(),
                });
                groups.len() - 1
            }
        };
        add(&mut groups[gi], s, a.op, k);
    }
    let mut out = Vec::new();
    for mut g in groups {
        let value = match a.op {
            AggOp::Sum | AggOp::Min | AggOp::Max => g.value,
            AggOp::Avg => g.mean,
            AggOp::Count | AggOp::CountValues => g.count,
            AggOp::Group => 1.0,
            AggOp::Stdvar => g.value / g.count,
            AggOp::Stddev => (g.value / g.count).sqrt(),
            AggOp::Quantile => {
                let mut vals: Vec<f64> = g.members.iter().map(|s| s.value).collect();
                quantile(q, &mut vals)
            }
            AggOp::Topk | AggOp::Bottomk => {
                let desc = a.op == AggOp::Topk;
                g.members.sort_by(|x, y| rank_cmp(x.value, y.value, desc));
                out.append(&mut g.members);
                continue;
            }
        };
        out.push(Sample {
            labels: g.labels,
            value,
        });
    }
    Ok(out)
}

fn group_key(labels: &Labels, g: &Grouping, value_label: &str) -> Labels {
    labels
        .iter()
        .filter(|(k, _)| match g {
            Grouping::By(names) => {
                names.contains(k) || (!value_label.is_empty() && k == value_label)
            }
            Grouping::Without(names) => k != NAME && !names.contains(k),
        })
        .cloned()
        .collect()
}

fn add(g: &mut Group, s: Sample, op: AggOp, k: usize) {
    let v = s.value;
    g.count += 1.0;
    let first = g.count == 1.0;
    match op {
        AggOp::Sum if !first => g.value += v,
        AggOp::Min if !first && (g.value > v || g.value.is_nan()) => g.value = v,
        AggOp::Max if !first && (g.value < v || g.value.is_nan()) => g.value = v,
        AggOp::Avg if !first => {
            // Once the mean is infinite, only a NaN or an opposite infinity can change it.
            if g.mean.is_infinite() {
                if v.is_infinite() && (g.mean > 0.0) == (v > 0.0) {
                    return;
                }
                if !v.is_infinite() && !v.is_nan() {
                    return;
                }
            }
            g.mean += v / g.count - g.mean / g.count;
        }
        AggOp::Stddev | AggOp::Stdvar => {
            if first {
                g.value = 0.0;
            } else {
                let delta = v - g.mean;
                g.mean += delta / g.count;
                g.value += delta * (v - g.mean);
            }
        }
        AggOp::Quantile => g.members.push(s),
        AggOp::Topk | AggOp::Bottomk => {
            let desc = op == AggOp::Topk;
            if g.members.len() < k {
                g.members.push(s);
                return;
            }
            // Replace the weakest kept member (NaN is the weakest) only by a strictly better one.
            let weakest = (0..g.members.len())
                .min_by(|&i, &j| rank_cmp(g.members[j].value, g.members[i].value, desc))
                .unwrap_or(0);
            let w = g.members[weakest].value;
            let better = if desc { w < v } else { w > v };
            if better || (w.is_nan() && !v.is_nan()) {
                g.members[weakest] = s;
            }
        }
        _ => {}
    }
}

/// Ordering for topk (desc) / bottomk (asc) output: best first, NaN last.
pub(super) fn rank_cmp(a: f64, b: f64, desc: bool) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        _ if desc => b.partial_cmp(&a).unwrap_or(Ordering::Equal),
        _ => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
    }
}

/// Go's float sort order: NaN first, then ascending.
pub(super) fn go_sort(vals: &mut [f64]) {
    vals.sort_by(|a, b| match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        _ => a.partial_cmp(b).unwrap_or(Ordering::Equal),
    });
}

/// The φ-quantile by linear interpolation between the closest ranks, as Prometheus does.
pub(super) fn quantile(q: f64, vals: &mut [f64]) -> f64 {
    if vals.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    go_sort(vals);
    let n = vals.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    vals[lower as usize] * (1.0 - weight) + vals[upper as usize] * weight
}

/// Go's `strconv.FormatFloat(v, 'f', -1, 64)`: shortest exact digits, never an exponent.
pub(super) fn go_float(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else if v == 0.0 {
        if v.is_sign_negative() { "-0" } else { "0" }.into()
    } else {
        let (d, e) = super::gomath::shortest_digits(v);
        let digits = |r: std::ops::Range<i32>| -> String {
            r.map(|i| d.get(i as usize).map_or('0', |&c| c as char))
                .collect()
        };
        let sign = if v < 0.0 { "-" } else { "" };
        let n = d.len() as i32;
        if e >= 0 {
            let frac = if n > e + 1 {
                format!(".{}", digits(e + 1..n))
            } else {
                String::new()
            };
            format!("{sign}{}{frac}", digits(0..e + 1))
        } else {
            format!("{sign}0.{}{}", "0".repeat((-e - 1) as usize), digits(0..n))
        }
    }
}
