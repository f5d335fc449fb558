//! Functions over range vectors: rate/increase/delta with Prometheus' extrapolation, irate,
//! idelta, deriv, predict_linear, holt_winters, resets, changes and the `*_over_time` family.

use super::aggregate::quantile;
use super::eval::{err, Ctx};
use super::functions::absent_labels;
use super::plan::{Func, Plan};
use super::{EvalError, Sample, Value};
use crate::model::labels::drop_name;

pub(super) fn eval_range_fn(ctx: &Ctx, f: Func, args: &[Plan]) -> Result<Value, EvalError> {
    let m_idx = usize::from(f == Func::QuantileOverTime);
    let (series, range_ms) = ctx.matrix(&args[m_idx])?;
    let ref_end = match &args[m_idx] {
        Plan::Range(sel, _) => ctx.ref_time(sel),
        _ => ctx.t,
    };
    if f == Func::AbsentOverTime {
        return Ok(Value::Vector(if series.is_empty() {
            absent_labels(&args[0])
        } else {
            Vec::new()
        }));
    }
    let mut params = [0.0f64; 2];
    match f {
        Func::QuantileOverTime => params[0] = ctx.scalar(&args[0])?,
        Func::PredictLinear => params[0] = ctx.scalar(&args[1])?,
        Func::HoltWinters => {
            let (sf, tf) = (ctx.scalar(&args[1])?, ctx.scalar(&args[2])?);
            if sf <= 0.0 || sf >= 1.0 || sf.is_nan() {
                return err(format!(
                    "invalid smoothing factor. Expected: 0 < sf < 1, got: {sf:.6}"
                ));
            }
            if tf <= 0.0 || tf >= 1.0 || tf.is_nan() {
                return err(format!(
                    "invalid trend factor. Expected: 0 < tf < 1, got: {tf:.6}"
                ));
            }
            params = [sf, tf];
        }
        _ => {}
    }
    let w = Window {
        start: ref_end - range_ms,
        end: ref_end,
        range_ms,
        eval_t: ctx.t,
        prom3: ctx.opts.prometheus3,
    };
    let mut out = Vec::with_capacity(series.len());
    for s in series {
        if let Some(value) = apply(f, &s.samples, &w, params) {
            let labels = if f == Func::LastOverTime {
                s.labels
            } else {
                drop_name(s.labels)
            };
            out.push(Sample { labels, value });
        }
    }
    Ok(Value::Vector(out))
}

struct Window {
    start: i64,
    end: i64,
    range_ms: i64,
    /// `predict_linear` anchors its regression at the evaluation time, even under `@`.
    eval_t: i64,
    prom3: bool,
}

fn apply(f: Func, s: &[(i64, f64)], w: &Window, p: [f64; 2]) -> Option<f64> {
    let vals = || s.iter().map(|x| x.1);
    Some(match f {
        Func::Rate => extrapolated(s, w, true, true)?,
        Func::Increase => extrapolated(s, w, true, false)?,
        Func::Delta => extrapolated(s, w, false, false)?,
        Func::Irate => instant_value(s, true)?,
        Func::Idelta => instant_value(s, false)?,
        Func::Deriv => {
            if s.len() < 2 {
                return None;
            }
            linear_regression(s, s[0].0).0
        }
        Func::PredictLinear => {
            if s.len() < 2 {
                return None;
            }
            let (slope, intercept) = linear_regression(s, w.eval_t);
            slope * p[0] + intercept
        }
        Func::HoltWinters => holt_winters(s, p[0], p[1])?,
        Func::Resets => s.windows(2).filter(|x| x[1].1 < x[0].1).count() as f64,
        Func::Changes => s
            .windows(2)
            .filter(|x| x[1].1 != x[0].1 && !(x[1].1.is_nan() && x[0].1.is_nan()))
            .count() as f64,
        Func::AvgOverTime => avg(vals()),
        Func::SumOverTime => {
            let (sum, c) = vals().fold((0.0, 0.0), |(s, c), v| kahan_inc(v, s, c));
            if sum.is_infinite() {
                sum
            } else {
                sum + c
            }
        }
        Func::MinOverTime => vals().fold(s[0].1, |m, v| if v < m || m.is_nan() { v } else { m }),
        Func::MaxOverTime => vals().fold(s[0].1, |m, v| if v > m || m.is_nan() { v } else { m }),
        Func::CountOverTime => s.len() as f64,
        Func::QuantileOverTime => quantile(p[0], &mut vals().collect::<Vec<_>>()),
        Func::StdvarOverTime => variance(vals()),
        Func::StddevOverTime => variance(vals()).sqrt(),
        Func::LastOverTime => s.last()?.1,
        Func::PresentOverTime => 1.0,
        _ => return None,
    })
}

/// rate/increase/delta: the change over the samples in the window, extrapolated towards the
/// window's edges (by at most half an average sample interval when the series starts or ends
/// well inside the window), never extrapolating a counter below zero.
fn extrapolated(s: &[(i64, f64)], w: &Window, counter: bool, rate: bool) -> Option<f64> {
    if s.len() < 2 {
        return None;
    }
    let (first, last) = (s[0], s[s.len() - 1]);
    let mut result = last.1 - first.1;
    if counter {
        let mut prev = 0.0;
        for &(_, v) in s {
            if v < prev {
                result += prev;
            }
            prev = v;
        }
    }
    let mut to_start = (first.0 - w.start) as f64 / 1000.0;
    let mut to_end = (w.end - last.0) as f64 / 1000.0;
    let sampled = (last.0 - first.0) as f64 / 1000.0;
    let avg_step = sampled / (s.len() - 1) as f64;
    let threshold = avg_step * 1.1;
    let zero_clamp = |to_start: f64| {
        if counter && result > 0.0 && first.1 >= 0.0 {
            to_start.min(sampled * (first.1 / result))
        } else {
            to_start
        }
    };
    if w.prom3 {
        if to_start >= threshold {
            to_start = avg_step / 2.0;
        }
        to_start = zero_clamp(to_start);
        if to_end >= threshold {
            to_end = avg_step / 2.0;
        }
        let mut factor = (sampled + to_start + to_end) / sampled;
        if rate {
            factor /= w.range_ms as f64 / 1000.0;
        }
        return Some(result * factor);
    }
    to_start = zero_clamp(to_start);
    let mut interval = sampled;
    interval += if to_start < threshold {
        to_start
    } else {
        avg_step / 2.0
    };
    interval += if to_end < threshold {
        to_end
    } else {
        avg_step / 2.0
    };
    // One factor, divided by the range for rate, then applied once: the same rounding as
    // Prometheus 2.42 (found by the promtool differential tests: 50/300 vs 50*(1/300)).
    let mut factor = interval / sampled;
    if rate {
        factor /= w.range_ms as f64 / 1000.0;
    }
    Some(result * factor)
}

/// irate/idelta: from the last two samples only.
fn instant_value(s: &[(i64, f64)], rate: bool) -> Option<f64> {
    if s.len() < 2 {
        return None;
    }
    let (prev, last) = (s[s.len() - 2], s[s.len() - 1]);
    let mut v = if rate && last.1 < prev.1 {
        last.1
    } else {
        last.1 - prev.1
    };
    let dt = last.0 - prev.0;
    if dt == 0 {
        return None;
    }
    if rate {
        v /= dt as f64 / 1000.0;
    }
    Some(v)
}

/// Neumaier-compensated summation step, as Prometheus uses for sums over time.
fn kahan_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

/// Incremental mean, robust against overflow and keeping an infinite mean infinite.
fn avg(vals: impl Iterator<Item = f64>) -> f64 {
    let (mut mean, mut count, mut c) = (0.0f64, 0.0, 0.0);
    for v in vals {
        count += 1.0;
        if mean.is_infinite() {
            if v.is_infinite() && (mean > 0.0) == (v > 0.0) {
                continue;
            }
            if !v.is_infinite() && !v.is_nan() {
                continue;
            }
        }
        (mean, c) = kahan_inc(v / count - mean / count, mean, c);
    }
    if mean.is_infinite() {
        mean
    } else {
        mean + c
    }
}

/// Population variance by Welford's method with compensated sums.
fn variance(vals: impl Iterator<Item = f64>) -> f64 {
    let (mut count, mut mean, mut c_mean, mut aux, mut c_aux) = (0.0f64, 0.0, 0.0, 0.0, 0.0);
    for v in vals {
        count += 1.0;
        let delta = v - (mean + c_mean);
        (mean, c_mean) = kahan_inc(delta / count, mean, c_mean);
        (aux, c_aux) = kahan_inc(delta * (v - (mean + c_mean)), aux, c_aux);
    }
    (aux + c_aux) / count
}

/// Least-squares fit with x in seconds relative to `intercept_t`; a constant series has slope
/// exactly 0 (NaN if the constant is infinite).
fn linear_regression(s: &[(i64, f64)], intercept_t: i64) -> (f64, f64) {
    let init_y = s[0].1;
    let const_y = s.iter().all(|x| x.1 == init_y);
    if const_y {
        return if init_y.is_infinite() {
            (f64::NAN, f64::NAN)
        } else {
            (0.0, init_y)
        };
    }
    let n = s.len() as f64;
    let (mut sx, mut cx, mut sy, mut cy) = (0.0, 0.0, 0.0, 0.0);
    let (mut sxy, mut cxy, mut sx2, mut cx2) = (0.0, 0.0, 0.0, 0.0);
    for &(t, y) in s {
        let x = (t - intercept_t) as f64 / 1000.0;
        (sx, cx) = kahan_inc(x, sx, cx);
        (sy, cy) = kahan_inc(y, sy, cy);
        (sxy, cxy) = kahan_inc(x * y, sxy, cxy);
        (sx2, cx2) = kahan_inc(x * x, sx2, cx2);
    }
    let (sx, sy, sxy, sx2) = (sx + cx, sy + cy, sxy + cxy, sx2 + cx2);
    let cov = sxy - sx * sy / n;
    let var = sx2 - sx * sx / n;
    let slope = cov / var;
    (slope, sy / n - slope * sx / n)
}

/// Double exponential smoothing with smoothing factor `sf` and trend factor `tf`.
fn holt_winters(s: &[(i64, f64)], sf: f64, tf: f64) -> Option<f64> {
    if s.len() < 2 {
        return None;
    }
    let (mut s0, mut s1) = (0.0, s[0].1);
    let mut b = s[1].1 - s[0].1;
    for (i, &(_, v)) in s.iter().enumerate().skip(1) {
        let x = sf * v;
        if i > 1 {
            b = tf * (s1 - s0) + (1.0 - tf) * b;
        }
        let y = (1.0 - sf) * (s1 + b);
        (s0, s1) = (s1, x + y);
    }
    Some(s1)
}
