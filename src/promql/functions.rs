//! Instant-vector functions: math, clamping, `time`/`timestamp`, `vector`/`scalar`, `absent`,
//! the label functions, `histogram_quantile` and sorting. Range functions live in `range_fns`.

use std::collections::HashMap;

use super::aggregate::rank_cmp;
use super::eval::Ctx;
use super::plan::{Func, LabelJoin, LabelReplace, Plan};
use super::{EvalError, Sample, Value};
use crate::model::labels::{drop_name, get, set, NAME};
use crate::model::Labels;
use crate::store::select::MatchOp;

pub(super) fn eval_call(ctx: &Ctx, f: Func, args: &[Plan]) -> Result<Value, EvalError> {
    let vec = |i: usize| ctx.vector(&args[i]);
    let sc = |i: usize| ctx.scalar(&args[i]);
    let out = match f {
        Func::Time => return Ok(Value::Scalar(ctx.t_secs())),
        Func::Scalar => {
            let v = vec(0)?;
            return Ok(Value::Scalar(if v.len() == 1 {
                v[0].value
            } else {
                f64::NAN
            }));
        }
        Func::Vector => vec![Sample {
            labels: Labels::new(),
            value: sc(0)?,
        }],
        Func::Abs => map(vec(0)?, f64::abs),
        Func::Ceil => map(vec(0)?, f64::ceil),
        Func::Floor => map(vec(0)?, f64::floor),
        Func::Sqrt => map(vec(0)?, f64::sqrt),
        Func::Ln => map(vec(0)?, super::gomath::ln),
        Func::Exp => map(vec(0)?, super::gomath::exp),
        Func::Round => {
            let to_nearest = if args.len() > 1 { sc(1)? } else { 1.0 };
            let inv = 1.0 / to_nearest;
            map(vec(0)?, |v| (v * inv + 0.5).floor() / inv)
        }
        Func::Clamp => {
            let v = vec(0)?;
            let (lo, hi) = (sc(1)?, sc(2)?);
            if hi < lo {
                Vec::new()
            } else {
                map(v, |x| go_max(lo, go_min(hi, x)))
            }
        }
        Func::ClampMin => {
            let (v, lo) = (vec(0)?, sc(1)?);
            map(v, |x| go_max(lo, x))
        }
        Func::ClampMax => {
            let (v, hi) = (vec(0)?, sc(1)?);
            map(v, |x| go_min(hi, x))
        }
        Func::Timestamp => match &args[0] {
            // On a bare selector the sample's own timestamp is used; on anything else the
            // samples carry the evaluation time.
            Plan::Selector(sel) => ctx
                .instant(sel)
                .into_iter()
                .map(|(labels, ts, _)| Sample {
                    labels: drop_name(labels),
                    value: ts as f64 / 1000.0,
                })
                .collect(),
            _ => map(vec(0)?, |_| ctx.t_secs()),
        },
        Func::Sort | Func::SortDesc => {
            let mut v = vec(0)?;
            let desc = f == Func::SortDesc;
            v.sort_by(|a, b| rank_cmp(a.value, b.value, desc));
            v
        }
        Func::Absent => {
            if !vec(0)?.is_empty() {
                Vec::new()
            } else {
                absent_labels(&args[0])
            }
        }
        Func::HistogramQuantile => {
            let q = sc(0)?;
            histogram_quantile(q, vec(1)?)
        }
        _ => return super::range_fns::eval_range_fn(ctx, f, args),
    };
    Ok(Value::Vector(out))
}

fn map(v: Vec<Sample>, f: impl Fn(f64) -> f64) -> Vec<Sample> {
    v.into_iter()
        .map(|s| Sample {
            labels: drop_name(s.labels),
            value: f(s.value),
        })
        .collect()
}

/// Go's `math.Max`: +Inf wins, then NaN propagates.
pub(super) fn go_max(a: f64, b: f64) -> f64 {
    if a == f64::INFINITY || b == f64::INFINITY {
        f64::INFINITY
    } else if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

/// Go's `math.Min`: -Inf wins, then NaN propagates.
pub(super) fn go_min(a: f64, b: f64) -> f64 {
    if a == f64::NEG_INFINITY || b == f64::NEG_INFINITY {
        f64::NEG_INFINITY
    } else if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.min(b)
    }
}

/// `absent`/`absent_over_time` output: 1 with the labels of the selector's equality matchers
/// (a label matched more than once, or by another operator, is left out).
pub(super) fn absent_labels(arg: &Plan) -> Vec<Sample> {
    let matchers = match arg {
        Plan::Selector(s) | Plan::Range(s, _) => s.matchers.as_slice(),
        _ => &[],
    };
    let mut labels = Labels::new();
    let mut dropped = Vec::new();
    for m in matchers {
        if m.name == NAME {
            continue;
        }
        match &m.op {
            MatchOp::Eq(v) if get(&labels, &m.name).is_none() => set(&mut labels, &m.name, v),
            _ => dropped.push(m.name.clone()),
        }
    }
    labels.retain(|(k, _)| !dropped.contains(k));
    vec![Sample { labels, value: 1.0 }]
}

pub(super) fn label_replace(v: Vec<Sample>, lr: &LabelReplace) -> Vec<Sample> {
    v.into_iter()
        .map(|mut s| {
            let src = get(&s.labels, &lr.src).unwrap_or("").to_string();
            if let Some(caps) = lr.regex.captures(&src) {
                let mut res = String::new();
                caps.expand(&lr.replacement, &mut res);
                set(&mut s.labels, &lr.dst, &res);
            }
            s
        })
        .collect()
}

pub(super) fn label_join(v: Vec<Sample>, lj: &LabelJoin) -> Vec<Sample> {
    v.into_iter()
        .map(|mut s| {
            let vals: Vec<&str> = lj
                .srcs
                .iter()
                .map(|k| get(&s.labels, k).unwrap_or(""))
                .collect();
            let joined = vals.join(&lj.sep);
            set(&mut s.labels, &lj.dst, &joined);
            s
        })
        .collect()
}

/// Groups classic histogram buckets by their labels minus `le`.
fn histogram_quantile(q: f64, v: Vec<Sample>) -> Vec<Sample> {
    let mut groups: Vec<(Labels, Vec<(f64, f64)>)> = Vec::new();
    let mut index: HashMap<Labels, usize> = HashMap::new();
    for s in v {
        let Some(ub) = get(&s.labels, "le").and_then(parse_go_float) else {
            continue;
        };
        // The metric name stays in the grouping key (two histograms with equal labels are not
        // merged) but is dropped from the output.
        let key: Labels = s.labels.into_iter().filter(|(k, _)| k != "le").collect();
        let i = *index.entry(key.clone()).or_insert_with(|| {
            groups.push((drop_name(key), Vec::new()));
            groups.len() - 1
        });
        groups[i].1.push((ub, s.value));
    }
    groups
        .into_iter()
        .map(|(labels, mut buckets)| Sample {
            labels,
            value: bucket_quantile(q, &mut buckets),
        })
        .collect()
}

/// Go's `strconv.ParseFloat` accepts `+Inf`, `Inf`, `NaN` in any case; so does Rust's parser.
fn parse_go_float(s: &str) -> Option<f64> {
    s.parse::<f64>().ok()
}

/// Prometheus' classic-histogram quantile: linear interpolation inside the bucket holding the
/// rank, the lowest bucket starting at 0 (unless its bound is <= 0), and the +Inf bucket
/// answered by the highest finite bound.
pub(super) fn bucket_quantile(q: f64, buckets: &mut [(f64, f64)]) -> f64 {
    if q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    buckets.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal));
    match buckets.last() {
        Some(&(ub, _)) if ub == f64::INFINITY => {}
        _ => return f64::NAN,
    }
    // Coalesce buckets with the same bound, then force the counts to be monotonic.
    let mut merged: Vec<(f64, f64)> = Vec::with_capacity(buckets.len());
    for &(ub, c) in buckets.iter() {
        match merged.last_mut() {
            Some(last) if last.0 == ub => last.1 += c,
            _ => merged.push((ub, c)),
        }
    }
    let mut max = f64::NEG_INFINITY;
    for b in merged.iter_mut() {
        if b.1 > max {
            max = b.1;
        } else if b.1 < max {
            b.1 = max;
        }
    }
    let n = merged.len();
    if n < 2 {
        return f64::NAN;
    }
    let observations = merged[n - 1].1;
    if observations == 0.0 {
        return f64::NAN;
    }
    let mut rank = q * observations;
    let b = (0..n - 1).find(|&i| merged[i].1 >= rank).unwrap_or(n - 1);
    if b == n - 1 {
        return merged[n - 2].0;
    }
    if b == 0 && merged[0].0 <= 0.0 {
        return merged[0].0;
    }
    let (mut start, end, mut count) = (0.0, merged[b].0, merged[b].1);
    if b > 0 {
        start = merged[b - 1].0;
        count -= merged[b - 1].1;
        rank -= merged[b - 1].1;
    }
    start + (end - start) * (rank / count)
}
