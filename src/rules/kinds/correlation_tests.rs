//! `correlation`: the coefficients on series of known r, alignment, the lag search, and the
//! kind over a `MemStore` (exported series, alerts, no value for constant or short series).

use super::stats::{align, best_lag, median_step, pearson, ranks, Method, Search};
use crate::exposition::Labels;
use crate::promql::{self, MatchOp, Matcher, MemStore, Queryable};
use crate::rules::alert::AlertState;
use crate::rules::file::parse;
use crate::rules::groupeval::{eval_group_mem, Env, RuleState};

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

/// A wiggly series with no simple shape: `sin(1.7 i) + cos(0.3 i)`.
fn wiggle(i: i64) -> f64 {
    (i as f64 * 1.7).sin() + (i as f64 * 0.3).cos()
}

#[test]
fn known_coefficients() {
    let x = [1.0, 2.0, 3.0, 4.0, 5.0];
    let y = [2.0, 4.0, 5.0, 4.0, 5.0];
    // r = 6 / sqrt(10 * 6); Spearman with tied ranks [1, 2.5, 4.5, 2.5, 4.5]: 7 / sqrt(90).
    assert!(close(pearson(&x, &y).unwrap(), 6.0 / 60f64.sqrt()));
    assert_eq!(ranks(&y), [1.0, 2.5, 4.5, 2.5, 4.5]);
    assert!(close(
        Method::Spearman.r(&x, &y).unwrap(),
        7.0 / 90f64.sqrt()
    ));
    let lin: Vec<f64> = x.iter().map(|v| -3.0 * v + 1.0).collect();
    assert!(close(pearson(&x, &lin).unwrap(), -1.0));
    // Monotonic but not linear: Spearman 1, Pearson below.
    let cube: Vec<f64> = x.iter().map(|v| v * v * v).collect();
    assert!(close(Method::Spearman.r(&x, &cube).unwrap(), 1.0));
    assert!(pearson(&x, &cube).unwrap() < 0.99);
    // Undefined: a constant side (also one with rounding noise in its mean), too few points.
    assert_eq!(pearson(&x, &[3.0; 5]), None);
    assert_eq!(
        pearson(
            &[0.1; 10],
            &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0]
        ),
        None
    );
    assert_eq!(pearson(&[1.0], &[2.0]), None);
}

#[test]
fn alignment_pairs_the_nearest_sample_within_half_a_step() {
    let x = [(0, 1.0), (10_000, 2.0), (20_000, 3.0)];
    let y4 = [(4_000, 10.0), (14_000, 20.0), (24_000, 30.0)];
    assert_eq!(
        align(&x, &y4, 0, 5_000),
        (vec![1.0, 2.0, 3.0], vec![10.0, 20.0, 30.0])
    );
    // 6 s late: x at 0 has nothing within 5 s; x at 10 s and 20 s take the nearer earlier one.
    let y6 = [(6_000, 10.0), (16_000, 20.0), (26_000, 30.0)];
    assert_eq!(align(&x, &y6, 0, 5_000), (vec![2.0, 3.0], vec![10.0, 20.0]));
    // With a lag of 10 s, x(t) pairs with y(t + 10 s).
    assert_eq!(
        align(&x, &y4, 10_000, 5_000),
        (vec![1.0, 2.0], vec![20.0, 30.0])
    );
    assert_eq!(
        median_step(&[(0, 0.0), (15_000, 0.0), (30_000, 0.0), (60_000, 0.0)]),
        Some(15_000)
    );
}

#[test]
fn the_lag_search_finds_a_lagged_copy() {
    let step = 15_000;
    let x: Vec<(i64, f64)> = (0..40).map(|i| (i * step, wiggle(i))).collect();
    // y repeats x three steps later.
    let y: Vec<(i64, f64)> = (0..40).map(|i| (i * step, wiggle(i - 3))).collect();
    let s = Search {
        method: Method::Pearson,
        step_ms: step,
        max_lag_ms: 0,
        abs: false,
        min_points: 10,
    };
    let at0 = best_lag(&x, &y, s).unwrap();
    assert!(at0.r < 0.6 && at0.lag_ms == 0, "{at0:?}");
    let b = best_lag(
        &x,
        &y,
        Search {
            max_lag_ms: 120_000,
            ..s
        },
    )
    .unwrap();
    assert_eq!((b.lag_ms, b.points), (45_000, 37));
    assert!(close(b.r, 1.0), "{b:?}");
    // y leading x is a negative lag.
    let b = best_lag(
        &y,
        &x,
        Search {
            max_lag_ms: 120_000,
            ..s
        },
    )
    .unwrap();
    assert_eq!(b.lag_ms, -45_000);
    // Too few pairs at every lag: no value.
    assert_eq!(best_lag(&x[..9], &y[..9], s), None);
    // A constant side: no value.
    let flat: Vec<(i64, f64)> = x.iter().map(|(t, _)| (*t, 4.0)).collect();
    assert_eq!(best_lag(&x, &flat, s), None);
}

fn values(s: &MemStore, name: &str) -> Vec<(Labels, f64)> {
    let m = Matcher {
        name: promql::NAME.into(),
        op: MatchOp::Eq(name.into()),
    };
    (s.select(&[m], i64::MIN, i64::MAX).into_iter())
        .map(|x| (promql::drop_name(x.labels), x.samples.last().unwrap().1))
        .collect()
}

fn l(pairs: &[(&str, &str)]) -> Labels {
    let mut v: Labels = (pairs.iter())
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    v.sort();
    v
}

#[test]
fn the_kind_exports_r_and_fires_past_the_threshold() {
    let text = r#"groups:
  - name: g
    rules:
      - alert: Raw
        correlation: {x: a, y: b, window: 10m, max_lag: 2m, threshold: 0.9}
        annotations: {summary: 'r={{ printf "%.3f" $value }} lag={{ $inputs.lag_seconds }}s n={{ $inputs.points }}'}
      - alert: Expr
        correlation: {x: a, y: 'b * 2', window: 10m, max_lag: 2m, threshold: 0.9}
"#;
    let g = parse("r.yml", text).unwrap().groups.remove(0);
    let mut st: Vec<RuleState> = (g.rules.iter())
        .map(|r| RuleState::new(r, 0, &Env::default()).unwrap())
        .collect();
    let mut s = MemStore::new();
    let step = 15_000;
    for i in 0..=40 {
        let t = i * step;
        // Host h1: b follows a by 30 s, sampled 2 s after a. Host h2: b constant. Host h3:
        // a alone.
        s.add(&[("__name__", "a"), ("host", "h1")], &[(t, wiggle(i))]);
        s.add(
            &[("__name__", "b"), ("host", "h1")],
            &[(t + 2_000, wiggle(i - 2))],
        );
        s.add(&[("__name__", "a"), ("host", "h2")], &[(t, wiggle(i))]);
        s.add(&[("__name__", "b"), ("host", "h2")], &[(t, 7.0)]);
        s.add(&[("__name__", "a"), ("host", "h3")], &[(t, wiggle(i))]);
    }
    assert!(eval_group_mem(&g, &mut st, 40 * step, &mut s).is_empty());
    // Only h1 has a value. Raw samples pair 2 s apart: lag 30 s. The expression is evaluated
    // every step, where its value is the newest `b` (from the step before): lag 45 s.
    let raw = l(&[("host", "h1"), ("rule", "Raw")]);
    let expr = l(&[("host", "h1"), ("rule", "Expr")]);
    let mut r = values(&s, "telltale_correlation");
    r.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(r.len(), 2, "{r:?}");
    assert_eq!((&r[0].0, &r[1].0), (&expr, &raw));
    assert!(r.iter().all(|(_, v)| (v - 1.0).abs() < 1e-9), "{r:?}");
    let mut lags = values(&s, "telltale_correlation_lag_seconds");
    lags.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(lags, [(expr, 45.0), (raw, 30.0)]);
    for rs in &st {
        let a: Vec<_> = rs.alert.as_ref().unwrap().alerts().cloned().collect();
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].state, AlertState::Firing);
        assert_eq!(promql::get(&a[0].labels, "host"), Some("h1"));
    }
    let a = st[0].alert.as_ref().unwrap().alerts().next().unwrap();
    let summary = promql::get(&a.annotations, "summary").unwrap();
    assert_eq!(summary, "r=1.000 lag=30s n=38");
}
