//! Range-vector functions: extrapolation, counter resets, *_over_time.

use super::helpers::*;
use crate::promql::{EvalOptions, Value};
use crate::store::memstore::MemStore;

fn one(s: &MemStore, q: &str, t: i64) -> f64 {
    let v = vector(s, q, t);
    assert_eq!(v.len(), 1, "{q}: {v:?}");
    v[0].1
}

fn one_p3(s: &MemStore, q: &str, t: i64) -> f64 {
    let opts = EvalOptions {
        prometheus3: true,
        ..EvalOptions::default()
    };
    match eval_opts(s, q, t, opts).unwrap() {
        Value::Vector(v) if v.len() == 1 => v[0].value,
        v => panic!("{q}: {v:?}"),
    }
}

#[track_caller]
fn approx(got: f64, want: f64) {
    assert!(close(got, want), "got {got}, want {want}");
}

#[test]
fn rate_increase_aligned_samples() {
    // 0, 10, ..., 50 at 0s..300s: the samples span the whole [0, 300] window.
    let s = store(&[("c", "0+10x5")]);
    approx(one(&s, "increase(c[5m])", 300), 50.0);
    approx(one(&s, "rate(c[5m])", 300), 50.0 / 300.0);
    // Prometheus 3 drops the sample at the left edge (0s), then extrapolates 60s back to it.
    approx(one_p3(&s, "increase(c[5m])", 300), 50.0);
    assert_vec(vector(&s, "rate(c[5m])", 300), &[("{}", 50.0 / 300.0)]);
}

#[test]
fn extrapolation_to_window_edges() {
    let mut s = MemStore::new();
    // Samples at 30s..270s every 60s: 30s short of each edge, within 1.1 intervals.
    s.add(
        &[("__name__", "c")],
        &[
            (30_000, 5.0),
            (90_000, 15.0),
            (150_000, 25.0),
            (210_000, 35.0),
            (270_000, 45.0),
        ],
    );
    approx(one(&s, "increase(c[5m])", 300), 40.0 * 300.0 / 240.0);
    approx(one(&s, "rate(c[5m])", 300), 50.0 / 300.0);
    approx(one(&s, "delta(c[5m])", 300), 50.0);
}

#[test]
fn extrapolation_limited_to_half_interval_and_zero_point() {
    let mut s = MemStore::new();
    // Series starts 150s into the window: too far, so only half an interval (30s) is added.
    s.add(
        &[("__name__", "late")],
        &[(150_000, 100.0), (210_000, 110.0), (270_000, 120.0)],
    );
    approx(one(&s, "increase(late[5m])", 300), 20.0 * 180.0 / 120.0);
    approx(one(&s, "delta(late[5m])", 300), 30.0);
    // A counter is not extrapolated below zero: 1 -> 21 over 120s reaches 0 6s before.
    s.add(
        &[("__name__", "z")],
        &[(150_000, 1.0), (210_000, 11.0), (270_000, 21.0)],
    );
    approx(one(&s, "increase(z[5m])", 300), 20.0 * 156.0 / 120.0);
    // delta() has no such limit.
    approx(one(&s, "delta(z[5m])", 300), 30.0);
    // Zero point 48s back: Prometheus 2 takes it (< 1.1 intervals), 3 caps at half an interval.
    s.add(
        &[("__name__", "y")],
        &[(150_000, 8.0), (210_000, 18.0), (270_000, 28.0)],
    );
    approx(one(&s, "increase(y[5m])", 300), 20.0 * 198.0 / 120.0);
    approx(one_p3(&s, "increase(y[5m])", 300), 20.0 * 180.0 / 120.0);
}

#[test]
fn counter_resets() {
    let s = store(&[("c", "10 20 5 15 25 35")]);
    // 35 - 10 + 20 (the value before the reset).
    approx(one(&s, "increase(c[5m])", 300), 45.0);
    approx(one(&s, "resets(c[5m])", 300), 1.0);
    approx(one(&s, "changes(c[5m])", 300), 5.0);
    // delta() ignores resets.
    approx(one(&s, "delta(c[5m])", 300), 25.0);
    approx(one(&s, "irate(c[5m])", 120), 5.0 / 60.0);
    approx(one(&s, "idelta(c[5m])", 120), -15.0);
    approx(one(&s, "irate(c[5m])", 300), 10.0 / 60.0);
}

#[test]
fn too_few_samples_and_names() {
    let s = store(&[("c", "1"), (r#"c1{a="1"}"#, "1 2"), (r#"c2{a="1"}"#, "1 2")]);
    assert_vec(vector(&s, "rate(c[5m])", 60), &[]);
    assert_vec(vector(&s, "irate(c[5m])", 60), &[]);
    assert_vec(vector(&s, "deriv(c[5m])", 60), &[]);
    assert_vec(vector(&s, "changes(c[5m])", 60), &[("{}", 0.0)]);
    assert_eq!(
        error(&s, r#"rate({__name__=~"c1|c2"}[5m])"#, 60),
        "vector cannot contain metrics with the same labelset"
    );
    // Window [-240s, 60s]: 1 -> 2 over 60s, extrapolated back to the zero point (60s): 2.
    assert_vec(
        vector(&s, "increase(c1[5m] offset 1m)", 120),
        &[(r#"{a="1"}"#, 2.0)],
    );
    assert_vec(
        vector(&s, "increase(c1[5m] @ 60)", 6000),
        &[(r#"{a="1"}"#, 2.0)],
    );
    assert_vec(
        vector(&s, "increase(c1[1m] @ 60)", 6000),
        &[(r#"{a="1"}"#, 1.0)],
    );
}

#[test]
fn deriv_predict_linear() {
    let s = store(&[("g", "0 60 120"), ("k", "5 5 5")]);
    approx(one(&s, "deriv(g[5m])", 120), 1.0);
    approx(one(&s, "predict_linear(g[5m], 60)", 120), 180.0);
    // The regression is anchored at the evaluation time, 30s after the last sample.
    approx(one(&s, "predict_linear(g[5m], 0)", 150), 150.0);
    assert_eq!(one(&s, "deriv(k[5m])", 120), 0.0);
    assert_eq!(one(&s, "predict_linear(k[5m], 3600)", 120), 5.0);
}

#[test]
fn holt_winters() {
    let s = store(&[("lin", "1 2 3"), ("h", "1 4 2")]);
    approx(one(&s, "holt_winters(lin[5m], 0.5, 0.5)", 120), 3.0);
    // s1=1, b=3; then s1 = 0.5*4 + 0.5*(1+3) = 4; b = 0.5*(4-1) + 0.5*3 = 3;
    // s1 = 0.5*2 + 0.5*(4+3) = 4.5.
    approx(one(&s, "holt_winters(h[5m], 0.5, 0.5)", 120), 4.5);
    approx(
        one(&s, "double_exponential_smoothing(h[5m], 0.5, 0.5)", 120),
        4.5,
    );
    assert!(error(&s, "holt_winters(h[5m], 1, 0.5)", 120).contains("invalid smoothing factor"));
    assert!(error(&s, "holt_winters(h[5m], 0.5, 0)", 120).contains("invalid trend factor"));
}

#[test]
fn over_time() {
    let s = store(&[
        (r#"o{i="1"}"#, "1 2 6"),
        ("st", "1 stale 3"),
        ("inf", "1 Inf 2"),
    ]);
    let q = |f: &str| one(&s, &format!("{f}(o[2m])"), 120);
    approx(q("avg_over_time"), 3.0);
    approx(q("sum_over_time"), 9.0);
    approx(q("min_over_time"), 1.0);
    approx(q("max_over_time"), 6.0);
    approx(q("count_over_time"), 3.0);
    approx(q("stdvar_over_time"), 14.0 / 3.0);
    approx(q("stddev_over_time"), (14.0f64 / 3.0).sqrt());
    approx(q("last_over_time"), 6.0);
    approx(q("present_over_time"), 1.0);
    approx(one(&s, "quantile_over_time(0.5, o[2m])", 120), 2.0);
    approx(one(&s, "quantile_over_time(0.25, o[2m])", 120), 1.5);
    // Only last_over_time keeps the metric name.
    assert_vec(
        vector(&s, "last_over_time(o[2m])", 120),
        &[(r#"o{i="1"}"#, 6.0)],
    );
    assert_vec(
        vector(&s, "max_over_time(o[2m])", 120),
        &[(r#"{i="1"}"#, 6.0)],
    );
    // Stale markers are not samples.
    approx(one(&s, "count_over_time(st[2m])", 120), 2.0);
    approx(
        one(&s, r#"avg_over_time({__name__="inf"}[2m])"#, 120),
        f64::INFINITY,
    );
    assert_vec(vector(&s, "absent_over_time(o[2m])", 120), &[]);
    assert_vec(
        vector(&s, r#"absent_over_time(nope{a="b"}[2m])"#, 120),
        &[(r#"{a="b"}"#, 1.0)],
    );
}
