//! Aggregation operators.

use super::helpers::*;
use crate::store::memstore::MemStore;

fn st() -> MemStore {
    store(&[
        (r#"v{g="a",i="1"}"#, "1"),
        (r#"v{g="a",i="2"}"#, "2"),
        (r#"v{g="a",i="3"}"#, "6"),
        (r#"v{g="b",i="1"}"#, "10"),
        (r#"w{i="1"}"#, "1"),
        (r#"w{i="2"}"#, "1"),
        (r#"w{i="3"}"#, "2.5"),
        (r#"n{i="1"}"#, "NaN"),
        (r#"n{i="2"}"#, "3"),
        (r#"infs{i="1"}"#, "Inf"),
        (r#"infs{i="2"}"#, "1"),
        (r#"infs{i="3"}"#, "-Inf"),
    ])
}

#[test]
fn sum_avg_min_max_count_group() {
    let s = st();
    assert_vec(vector(&s, "sum(v)", 0), &[("{}", 19.0)]);
    assert_vec(
        vector(&s, "sum by (g) (v)", 0),
        &[(r#"{g="a"}"#, 9.0), (r#"{g="b"}"#, 10.0)],
    );
    assert_vec(
        vector(&s, "sum without (i) (v)", 0),
        &[(r#"{g="a"}"#, 9.0), (r#"{g="b"}"#, 10.0)],
    );
    assert_vec(vector(&s, "sum by (__name__) (v)", 0), &[("v{}", 19.0)]);
    assert_vec(
        vector(&s, "avg by (g) (v)", 0),
        &[(r#"{g="a"}"#, 3.0), (r#"{g="b"}"#, 10.0)],
    );
    assert_vec(
        vector(&s, "min by (g) (v)", 0),
        &[(r#"{g="a"}"#, 1.0), (r#"{g="b"}"#, 10.0)],
    );
    assert_vec(
        vector(&s, "max by (g) (v)", 0),
        &[(r#"{g="a"}"#, 6.0), (r#"{g="b"}"#, 10.0)],
    );
    assert_vec(
        vector(&s, "count by (g) (v)", 0),
        &[(r#"{g="a"}"#, 3.0), (r#"{g="b"}"#, 1.0)],
    );
    assert_vec(
        vector(&s, "group by (g) (v)", 0),
        &[(r#"{g="a"}"#, 1.0), (r#"{g="b"}"#, 1.0)],
    );
    assert_vec(vector(&s, "sum(nothing)", 0), &[]);
}

#[test]
fn stddev_stdvar() {
    let s = st();
    // 1, 2, 6: mean 3, squared deviations 4 + 1 + 9 = 14, population variance 14/3.
    assert_vec(vector(&s, r#"stdvar(v{g="a"})"#, 0), &[("{}", 14.0 / 3.0)]);
    assert_vec(
        vector(&s, r#"stddev(v{g="a"})"#, 0),
        &[("{}", (14.0f64 / 3.0).sqrt())],
    );
    assert_vec(vector(&s, r#"stddev(v{g="b"})"#, 0), &[("{}", 0.0)]);
}

#[test]
fn topk_bottomk() {
    let s = st();
    assert_vec(
        ordered(&s, "topk(2, v)", 0),
        &[(r#"v{g="b",i="1"}"#, 10.0), (r#"v{g="a",i="3"}"#, 6.0)],
    );
    assert_vec(
        ordered(&s, "bottomk(1, v) by (g)", 0),
        &[(r#"v{g="a",i="1"}"#, 1.0), (r#"v{g="b",i="1"}"#, 10.0)],
    );
    assert_vec(
        ordered(&s, "bottomk(2, v)", 0),
        &[(r#"v{g="a",i="1"}"#, 1.0), (r#"v{g="a",i="2"}"#, 2.0)],
    );
    assert_vec(vector(&s, "topk(0, v)", 0), &[]);
    // NaN ranks below every number, and is taken only when nothing else is left.
    assert_vec(ordered(&s, "topk(1, n)", 0), &[(r#"n{i="2"}"#, 3.0)]);
    assert_vec(ordered(&s, "bottomk(1, n)", 0), &[(r#"n{i="2"}"#, 3.0)]);
    assert_vec(
        ordered(&s, "topk(5, n)", 0),
        &[(r#"n{i="2"}"#, 3.0), (r#"n{i="1"}"#, f64::NAN)],
    );
    assert!(error(&s, "topk(scalar(n), v)", 0).contains("overflows int64"));
}

#[test]
fn quantile_aggregation() {
    let s = st();
    // 1 2 6 10: rank 0.5 * 3 = 1.5, halfway between 2 and 6.
    assert_vec(vector(&s, "quantile(0.5, v)", 0), &[("{}", 4.0)]);
    assert_vec(
        vector(&s, "quantile by (g) (0.5, v)", 0),
        &[(r#"{g="a"}"#, 2.0), (r#"{g="b"}"#, 10.0)],
    );
    assert_vec(
        vector(&s, "quantile(0.9, v)", 0),
        &[("{}", 6.0 + 0.7 * 4.0)],
    );
    assert_vec(vector(&s, "quantile(2, v)", 0), &[("{}", f64::INFINITY)]);
    assert_vec(
        vector(&s, "quantile(-1, v)", 0),
        &[("{}", f64::NEG_INFINITY)],
    );
}

#[test]
fn count_values() {
    let s = st();
    assert_vec(
        vector(&s, r#"count_values("x", w)"#, 0),
        &[(r#"{x="1"}"#, 2.0), (r#"{x="2.5"}"#, 1.0)],
    );
    assert_vec(
        vector(&s, r#"count_values by (i) ("x", w)"#, 0),
        &[
            (r#"{i="1",x="1"}"#, 1.0),
            (r#"{i="2",x="1"}"#, 1.0),
            (r#"{i="3",x="2.5"}"#, 1.0),
        ],
    );
    assert_vec(
        vector(&s, r#"count_values("x", infs{i="1"})"#, 0),
        &[(r#"{x="+Inf"}"#, 1.0)],
    );
    assert_eq!(
        error(&s, r#"count_values("1x", w)"#, 0),
        r#"invalid label name "1x""#
    );
}

#[test]
fn nan_and_inf() {
    let s = st();
    // min/max skip NaN unless it is all there is; sum propagates it.
    assert_vec(vector(&s, "max(n)", 0), &[("{}", 3.0)]);
    assert_vec(vector(&s, "min(n)", 0), &[("{}", 3.0)]);
    assert_vec(vector(&s, r#"max(n{i="1"})"#, 0), &[("{}", f64::NAN)]);
    assert_vec(vector(&s, "sum(n)", 0), &[("{}", f64::NAN)]);
    assert_vec(
        vector(&s, r#"avg(infs{i!="3"})"#, 0),
        &[("{}", f64::INFINITY)],
    );
    assert_vec(vector(&s, "avg(infs)", 0), &[("{}", f64::NAN)]);
}

#[test]
fn count_values_breaks_shortest_digit_ties_to_even() {
    // Exactly halfway between two shortest candidates: Go (promtool 2.42) takes the even one,
    // Rust's `{}` the upper one (…031.3, …189.13).
    let s = store(&[
        (r#"t{i="1"}"#, "-794854348598031.25"),
        (r#"t{i="2"}"#, "227128182372189.125"),
        (r#"t{i="3"}"#, "1008873735564237.75"),
        (r#"t{i="4"}"#, "0.000001"),
        (r#"t{i="5"}"#, "1e21"),
    ]);
    assert_vec(
        vector(&s, r#"count_values("v", t)"#, 0),
        &[
            (r#"{v="-794854348598031.2"}"#, 1.0),
            (r#"{v="0.000001"}"#, 1.0),
            (r#"{v="1000000000000000000000"}"#, 1.0),
            (r#"{v="1008873735564237.8"}"#, 1.0),
            (r#"{v="227128182372189.12"}"#, 1.0),
        ],
    );
}
