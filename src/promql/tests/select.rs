//! Instant and range selectors: lookback, staleness, offset, @, matchers.

use super::helpers::*;
use crate::promql::{EvalOptions, Value};

fn st() -> crate::store::memstore::MemStore {
    store(&[
        (r#"m{job="a"}"#, "1 2 3"),
        (r#"m{job="b"}"#, "10 stale"),
        (r#"n{job="a"}"#, "5"),
    ])
}

#[test]
fn lookback_takes_newest_sample() {
    let s = st();
    assert_vec(
        vector(&s, "m", 30),
        &[(r#"m{job="a"}"#, 1.0), (r#"m{job="b"}"#, 10.0)],
    );
    assert_vec(vector(&s, "m", 120), &[(r#"m{job="a"}"#, 3.0)]);
}

#[test]
fn staleness_marker_ends_series() {
    // job="b" has a stale marker at 60s: nothing from it afterwards, though 10 is within 5m.
    let s = st();
    assert_vec(vector(&s, r#"m{job="b"}"#, 60), &[]);
    assert_vec(vector(&s, r#"m{job="b"}"#, 59), &[(r#"m{job="b"}"#, 10.0)]);
}

#[test]
fn lookback_window_edge_differs_between_versions() {
    let s = st();
    // Last sample at 120s; 420s is exactly 5m later: included in Prometheus 2, not in 3.
    assert_vec(vector(&s, r#"m{job="a"}"#, 420), &[(r#"m{job="a"}"#, 3.0)]);
    assert_vec(vector(&s, r#"m{job="a"}"#, 421), &[]);
    let p3 = EvalOptions {
        prometheus3: true,
        ..EvalOptions::default()
    };
    match eval_opts(&s, r#"m{job="a"}"#, 420, p3).unwrap() {
        Value::Vector(v) => assert!(v.is_empty()),
        v => panic!("{v:?}"),
    }
}

#[test]
fn offset_and_at() {
    let s = st();
    assert_vec(vector(&s, "m offset 1m", 120), &[(r#"m{job="a"}"#, 2.0)]);
    assert_vec(vector(&s, "m offset -1m", 60), &[(r#"m{job="a"}"#, 3.0)]);
    assert_vec(
        vector(&s, r#"m{job="a"} @ 60"#, 10_000),
        &[(r#"m{job="a"}"#, 2.0)],
    );
    assert_vec(
        vector(&s, r#"m{job="a"} @ 120 offset 1m"#, 5_000),
        &[(r#"m{job="a"}"#, 2.0)],
    );
    // In an instant query start() and end() are the evaluation time.
    assert_vec(
        vector(&s, r#"m{job="a"} @ end()"#, 60),
        &[(r#"m{job="a"}"#, 2.0)],
    );
}

#[test]
fn all_four_matchers_fully_anchored() {
    let s = store(&[
        (r#"m{job="a"}"#, "1"),
        (r#"m{job="ab"}"#, "2"),
        (r#"m{job="b"}"#, "3"),
        ("m", "4"),
    ]);
    assert_vec(vector(&s, r#"m{job="a"}"#, 0), &[(r#"m{job="a"}"#, 1.0)]);
    assert_vec(
        vector(&s, r#"m{job!="a"}"#, 0),
        &[
            (r#"m{job="ab"}"#, 2.0),
            (r#"m{job="b"}"#, 3.0),
            ("m{}", 4.0),
        ],
    );
    // "b" must not match "ab": regexes are anchored at both ends.
    assert_vec(vector(&s, r#"m{job=~"b"}"#, 0), &[(r#"m{job="b"}"#, 3.0)]);
    assert_vec(
        vector(&s, r#"m{job=~"a.*"}"#, 0),
        &[(r#"m{job="a"}"#, 1.0), (r#"m{job="ab"}"#, 2.0)],
    );
    assert_vec(
        vector(&s, r#"m{job!~"a.*"}"#, 0),
        &[(r#"m{job="b"}"#, 3.0), ("m{}", 4.0)],
    );
    // A missing label matches the empty string.
    assert_vec(vector(&s, r#"m{job=""}"#, 0), &[("m{}", 4.0)]);
    assert_vec(
        vector(&s, r#"{__name__=~"m", job=~"a|b"}"#, 0),
        &[(r#"m{job="a"}"#, 1.0), (r#"m{job="b"}"#, 3.0)],
    );
}

#[test]
fn range_selector_returns_matrix_without_stale_samples() {
    let s = st();
    match eval(&s, "m[2m]", 120).unwrap() {
        Value::Matrix(m) => {
            assert_eq!(m.len(), 2);
            assert_eq!(render(&m[0].labels), r#"m{job="a"}"#);
            assert_eq!(m[0].samples, vec![(0, 1.0), (60_000, 2.0), (120_000, 3.0)]);
            assert_eq!(m[1].samples, vec![(0, 10.0)]);
        }
        v => panic!("{v:?}"),
    }
    let p3 = EvalOptions {
        prometheus3: true,
        ..EvalOptions::default()
    };
    match eval_opts(&s, r#"m{job="a"}[2m]"#, 120, p3).unwrap() {
        Value::Matrix(m) => assert_eq!(m[0].samples, vec![(60_000, 2.0), (120_000, 3.0)]),
        v => panic!("{v:?}"),
    }
}

#[test]
fn literals() {
    let s = st();
    assert_eq!(eval(&s, "42", 0).unwrap(), Value::Scalar(42.0));
    assert_eq!(eval(&s, r#""hi""#, 0).unwrap(), Value::String("hi".into()));
    assert_vec(vector(&s, r#"-m{job="a"}"#, 0), &[(r#"{job="a"}"#, -1.0)]);
    assert_eq!(
        error(&s, r#"-{__name__=~"m|n", job="a"}"#, 0),
        "vector cannot contain metrics with the same labelset"
    );
}
