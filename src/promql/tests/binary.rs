//! Binary operators, vector matching and its errors.

use super::helpers::*;
use crate::store::memstore::MemStore;

fn st() -> MemStore {
    store(&[
        (r#"a{i="1",j="x"}"#, "10"),
        (r#"a{i="2",j="y"}"#, "20"),
        (r#"b{i="1"}"#, "2"),
        (r#"b{i="2"}"#, "4"),
        (r#"c{i="1",k="p"}"#, "1"),
        (r#"c{i="1",k="q"}"#, "3"),
        (r#"d{i="1"}"#, "1"),
        (r#"e{i="1"}"#, "2"),
        (r#"nv{i="1"}"#, "NaN"),
    ])
}

#[test]
fn scalar_arithmetic_and_bool() {
    let s = st();
    assert_eq!(scalar(&s, "1 + 2 * 3", 0), 7.0);
    assert_eq!(scalar(&s, "2 ^ 3 ^ 2", 0), 512.0); // right-associative
    assert_eq!(scalar(&s, "5 % 3", 0), 2.0);
    assert_eq!(scalar(&s, "-5 % 3", 0), -2.0); // sign of the dividend, like Go's math.Mod
    assert_eq!(scalar(&s, "1 > bool 2", 0), 0.0);
    assert_eq!(scalar(&s, "1 == bool 1", 0), 1.0);
    assert_eq!(scalar(&s, "1 / 0", 0), f64::INFINITY);
    assert!(scalar(&s, "0 / 0", 0).is_nan());
}

#[test]
fn vector_scalar() {
    let s = st();
    // Arithmetic drops the metric name.
    assert_vec(
        vector(&s, "a * 2", 0),
        &[(r#"{i="1",j="x"}"#, 20.0), (r#"{i="2",j="y"}"#, 40.0)],
    );
    assert_vec(
        vector(&s, "2 - a", 0),
        &[(r#"{i="1",j="x"}"#, -8.0), (r#"{i="2",j="y"}"#, -18.0)],
    );
    // A filtering comparison keeps the name and the vector's value, on either side.
    assert_vec(vector(&s, "a > 15", 0), &[(r#"a{i="2",j="y"}"#, 20.0)]);
    assert_vec(vector(&s, "15 < a", 0), &[(r#"a{i="2",j="y"}"#, 20.0)]);
    // bool yields 0/1 for every element and drops the name.
    assert_vec(
        vector(&s, "a > bool 15", 0),
        &[(r#"{i="1",j="x"}"#, 0.0), (r#"{i="2",j="y"}"#, 1.0)],
    );
    // NaN compares false.
    assert_vec(vector(&s, "nv > 0", 0), &[]);
    assert_vec(vector(&s, "nv == bool nv", 0), &[(r#"{i="1"}"#, 0.0)]);
    assert_vec(vector(&s, "nv != bool 0", 0), &[(r#"{i="1"}"#, 1.0)]);
    assert_vec(
        vector(&s, "b / 0", 0),
        &[(r#"{i="1"}"#, f64::INFINITY), (r#"{i="2"}"#, f64::INFINITY)],
    );
}

#[test]
fn one_to_one_matching() {
    let s = st();
    // Default matching uses all labels but the name: a has j, b does not.
    assert_vec(vector(&s, "a / b", 0), &[]);
    assert_vec(
        vector(&s, "a / on(i) b", 0),
        &[(r#"{i="1"}"#, 5.0), (r#"{i="2"}"#, 5.0)],
    );
    assert_vec(
        vector(&s, "a / ignoring(j) b", 0),
        &[(r#"{i="1"}"#, 5.0), (r#"{i="2"}"#, 5.0)],
    );
    // on() keeps only the matching labels, even for a filtering comparison.
    assert_vec(
        vector(&s, "a > on(i) b", 0),
        &[(r#"{i="1"}"#, 10.0), (r#"{i="2"}"#, 20.0)],
    );
    assert_vec(
        vector(&s, "a > ignoring(j) b", 0),
        &[(r#"a{i="1"}"#, 10.0), (r#"a{i="2"}"#, 20.0)],
    );
    assert_vec(
        vector(&s, "b >= bool on(i) a", 0),
        &[(r#"{i="1"}"#, 0.0), (r#"{i="2"}"#, 0.0)],
    );
}

#[test]
fn group_left_and_right() {
    let s = st();
    assert_vec(
        vector(&s, "c * on(i) group_left b", 0),
        &[(r#"{i="1",k="p"}"#, 2.0), (r#"{i="1",k="q"}"#, 6.0)],
    );
    assert_vec(
        vector(&s, "b * on(i) group_right c", 0),
        &[(r#"{i="1",k="p"}"#, 2.0), (r#"{i="1",k="q"}"#, 6.0)],
    );
    // Extra labels are copied from the "one" side.
    assert_vec(
        vector(&s, "c * on(i) group_left(j) a", 0),
        &[
            (r#"{i="1",j="x",k="p"}"#, 10.0),
            (r#"{i="1",j="x",k="q"}"#, 30.0),
        ],
    );
    // group_right with a comparison keeps the left ("one") side's value.
    assert_vec(
        vector(&s, "b < on(i) group_right c", 0),
        &[(r#"c{i="1",k="q"}"#, 2.0)],
    );
}

#[test]
fn matching_errors() {
    let s = st();
    assert_eq!(
        error(&s, "c * on(i) b", 0),
        "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)"
    );
    let e = error(&s, "b * on(i) c", 0);
    assert!(
        e.starts_with(
            r#"found duplicate series for the match group {i="1"} on the right hand-side"#
        ),
        "{e}"
    );
    assert!(e.ends_with(
        "many-to-many matching not allowed: matching labels must be unique on one side"
    ));
    let e = error(&s, "c * on(i) group_right b", 0);
    assert!(e.contains("on the left hand-side"), "{e}");
    assert_eq!(
        error(&s, r#"{__name__=~"d|e"} * on(i) group_left b"#, 0),
        "multiple matches for labels: grouping labels must ensure unique matches"
    );
    assert_eq!(
        error(&s, r#"{__name__=~"d|e"} * 2"#, 0),
        "vector cannot contain metrics with the same labelset"
    );
    // Nothing to match on one side: no error even with duplicates on the other.
    assert_vec(vector(&s, "c * on(i) nothing", 0), &[]);
}

#[test]
fn set_operators() {
    let s = st();
    assert_vec(vector(&s, "a and b", 0), &[]);
    assert_vec(
        vector(&s, "a and on(i) b", 0),
        &[(r#"a{i="1",j="x"}"#, 10.0), (r#"a{i="2",j="y"}"#, 20.0)],
    );
    assert_vec(
        vector(&s, r#"a and on(i) b{i="1"}"#, 0),
        &[(r#"a{i="1",j="x"}"#, 10.0)],
    );
    assert_vec(
        vector(&s, r#"a unless on(i) b{i="1"}"#, 0),
        &[(r#"a{i="2",j="y"}"#, 20.0)],
    );
    assert_vec(vector(&s, r#"b unless d"#, 0), &[(r#"b{i="2"}"#, 4.0)]);
    assert_vec(
        ordered(&s, "b or a", 0),
        &[
            (r#"b{i="1"}"#, 2.0),
            (r#"b{i="2"}"#, 4.0),
            (r#"a{i="1",j="x"}"#, 10.0),
            (r#"a{i="2",j="y"}"#, 20.0),
        ],
    );
    assert_vec(
        vector(&s, "b or on(i) a", 0),
        &[(r#"b{i="1"}"#, 2.0), (r#"b{i="2"}"#, 4.0)],
    );
    assert_vec(
        ordered(&s, r#"b{i="1"} or on(i) a"#, 0),
        &[(r#"b{i="1"}"#, 2.0), (r#"a{i="2",j="y"}"#, 20.0)],
    );
}

#[test]
fn pow_is_gos_math_pow() {
    let s = st();
    // Go's math.Pow, not a correctly rounded pow: these are promtool 2.42's answers.
    assert_eq!(scalar(&s, "2 ^ 2.5", 0), 5.65685424949238);
    assert_eq!(scalar(&s, "2 ^ -7", 0), 0.0078125);
    assert_eq!(scalar(&s, "4 ^ 0.5", 0), 2.0);
    assert_eq!(scalar(&s, "(-8) ^ 3", 0), -512.0);
    assert!(scalar(&s, "(-8) ^ 0.5", 0).is_nan());
    assert_eq!(scalar(&s, "0 ^ -1", 0), f64::INFINITY);
    assert_eq!(scalar(&s, "2 ^ 1100", 0), f64::INFINITY);
    assert_eq!(scalar(&s, "2 ^ -1074", 0), 5e-324);
    assert_eq!(scalar(&s, "2 ^ -1080", 0), 0.0);
    assert_eq!(scalar(&s, "NaN ^ 0", 0), 1.0);
}

#[test]
fn atan2_is_gos_math_atan2() {
    let s = st();
    // promtool 2.42's answers; glibc's atan2 gives 1.987710757845668 for the first.
    for (q, want) in [
        ("vector(73.0) atan2 vector(-32.33)", 1.9877107578456679),
        ("vector(1) atan2 vector(1)", std::f64::consts::FRAC_PI_4),
        ("vector(-0.0) atan2 vector(-1)", -std::f64::consts::PI),
        (
            "vector(Inf) atan2 vector(-Inf)",
            3.0 * std::f64::consts::FRAC_PI_4,
        ),
        ("vector(3) atan2 vector(-Inf)", std::f64::consts::PI),
    ] {
        assert_eq!(vector(&s, q, 0)[0].1, want, "{q}");
    }
}

#[test]
fn atan2_keeps_the_metric_name() {
    let s = st();
    // Prometheus 2.x drops the name only for + - * / % ^ (promtool 2.42 agrees).
    let got = vector(&s, r#"b{i="1"} atan2 ignoring(j) a"#, 0);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, r#"b{i="1"}"#);
    let got = vector(&s, r#"b{i="1"} atan2 2"#, 0);
    assert_eq!(got[0].0, r#"b{i="1"}"#);
    assert_eq!(
        vector(&s, r#"b{i="1"} atan2 on(i) a"#, 0)[0].0,
        r#"{i="1"}"#
    );
}
