//! Instant-vector functions.

use super::helpers::*;
use crate::store::memstore::MemStore;

fn st() -> MemStore {
    store(&[
        (r#"x{i="1"}"#, "-2.5"),
        (r#"x{i="2"}"#, "2.5"),
        (r#"x{i="3"}"#, "1.234"),
        (r#"m{job="a",inst="h:1"}"#, "_ 7"),
        (r#"s{i="1"}"#, "3"),
        (r#"s{i="2"}"#, "NaN"),
        (r#"s{i="3"}"#, "1"),
        (r#"s{i="4"}"#, "2"),
    ])
}

#[test]
fn math() {
    let s = st();
    assert_vec(vector(&s, r#"abs(x{i="1"})"#, 0), &[(r#"{i="1"}"#, 2.5)]);
    assert_vec(vector(&s, r#"ceil(x{i="3"})"#, 0), &[(r#"{i="3"}"#, 2.0)]);
    assert_vec(vector(&s, r#"floor(x{i="1"})"#, 0), &[(r#"{i="1"}"#, -3.0)]);
    // Ties round up, also for negative numbers.
    assert_vec(
        vector(&s, "round(x)", 0),
        &[
            (r#"{i="1"}"#, -2.0),
            (r#"{i="2"}"#, 3.0),
            (r#"{i="3"}"#, 1.0),
        ],
    );
    assert_vec(
        vector(&s, r#"round(x{i="3"}, 0.1)"#, 0),
        &[(r#"{i="3"}"#, 1.2)],
    );
    assert_vec(
        vector(&s, r#"sqrt(x{i="2"})"#, 0),
        &[(r#"{i="2"}"#, 2.5f64.sqrt())],
    );
    assert_vec(
        vector(&s, r#"sqrt(x{i="1"})"#, 0),
        &[(r#"{i="1"}"#, f64::NAN)],
    );
    assert_vec(
        vector(&s, r#"ln(x{i="2"})"#, 0),
        &[(r#"{i="2"}"#, 2.5f64.ln())],
    );
    assert_vec(
        vector(&s, r#"exp(x{i="2"})"#, 0),
        &[(r#"{i="2"}"#, 2.5f64.exp())],
    );
}

#[test]
fn clamping() {
    let s = st();
    assert_vec(
        vector(&s, "clamp(x, 0, 2)", 0),
        &[
            (r#"{i="1"}"#, 0.0),
            (r#"{i="2"}"#, 2.0),
            (r#"{i="3"}"#, 1.234),
        ],
    );
    assert_vec(vector(&s, "clamp(x, 2, 1)", 0), &[]);
    assert_vec(
        vector(&s, r#"clamp_min(x{i="1"}, 0)"#, 0),
        &[(r#"{i="1"}"#, 0.0)],
    );
    assert_vec(
        vector(&s, r#"clamp_max(x{i="2"}, 1)"#, 0),
        &[(r#"{i="2"}"#, 1.0)],
    );
    // NaN propagates through Go's math.Max/Min.
    assert_vec(
        vector(&s, r#"clamp_min(s{i="2"}, 0)"#, 0),
        &[(r#"{i="2"}"#, f64::NAN)],
    );
}

#[test]
fn time_timestamp_vector_scalar() {
    let s = st();
    assert_eq!(scalar(&s, "time()", 120), 120.0);
    // On a selector: the sample's own time (60s), not the evaluation time.
    assert_vec(
        vector(&s, "timestamp(m)", 100),
        &[(r#"{inst="h:1",job="a"}"#, 60.0)],
    );
    assert_vec(
        vector(&s, "timestamp(m offset 30s)", 100),
        &[(r#"{inst="h:1",job="a"}"#, 60.0)],
    );
    // On anything else: the evaluation time.
    assert_vec(
        vector(&s, "timestamp(-m)", 100),
        &[(r#"{inst="h:1",job="a"}"#, 100.0)],
    );
    assert_vec(vector(&s, "vector(3)", 0), &[("{}", 3.0)]);
    assert_vec(vector(&s, "vector(time())", 5), &[("{}", 5.0)]);
    assert_eq!(scalar(&s, r#"scalar(x{i="2"})"#, 0), 2.5);
    assert!(scalar(&s, "scalar(x)", 0).is_nan());
    assert!(scalar(&s, "scalar(nothing)", 0).is_nan());
}

#[test]
fn absent() {
    let s = st();
    assert_vec(vector(&s, "absent(m)", 60), &[]);
    assert_vec(
        vector(&s, r#"absent(nope{job="x", inst=~"h.*"})"#, 0),
        &[(r#"{job="x"}"#, 1.0)],
    );
    // A label matched twice by equality is left out.
    assert_vec(
        vector(&s, r#"absent(nope{job="x", job="y", a="b"})"#, 0),
        &[(r#"{a="b"}"#, 1.0)],
    );
    assert_vec(vector(&s, "absent(sum(nope))", 0), &[("{}", 1.0)]);
}

#[test]
fn label_replace_and_join() {
    let s = st();
    assert_vec(
        vector(
            &s,
            r#"label_replace(m, "host", "$1", "inst", "(.*):.*")"#,
            60,
        ),
        &[(r#"m{host="h",inst="h:1",job="a"}"#, 7.0)],
    );
    assert_vec(
        vector(
            &s,
            r#"label_replace(m, "host", "${1}x", "inst", "(.*):(\\d+)")"#,
            60,
        ),
        &[(r#"m{host="hx",inst="h:1",job="a"}"#, 7.0)],
    );
    // No match: unchanged. A partial match is no match (anchored).
    assert_vec(
        vector(&s, r#"label_replace(m, "host", "$1", "inst", "h")"#, 60),
        &[(r#"m{inst="h:1",job="a"}"#, 7.0)],
    );
    // An empty result deletes the label; the name can be rewritten too.
    assert_vec(
        vector(&s, r#"label_replace(m, "job", "", "job", ".*")"#, 60),
        &[(r#"m{inst="h:1"}"#, 7.0)],
    );
    assert_vec(
        vector(
            &s,
            r#"label_replace(m, "__name__", "n_$1", "job", "(.*)")"#,
            60,
        ),
        &[(r#"n_a{inst="h:1",job="a"}"#, 7.0)],
    );
    assert_vec(
        vector(
            &s,
            r#"label_join(m, "both", "-", "job", "inst", "none")"#,
            60,
        ),
        &[(r#"m{both="a-h:1-",inst="h:1",job="a"}"#, 7.0)],
    );
    assert_eq!(
        error(&s, r#"label_replace(x, "i", "same", "", ".*")"#, 0),
        "vector cannot contain metrics with the same labelset"
    );
}

#[test]
fn histogram_quantile() {
    let s = store(&[
        (r#"h_bucket{job="a",le="1"}"#, "10"),
        (r#"h_bucket{job="a",le="2"}"#, "15"),
        (r#"h_bucket{job="a",le="4"}"#, "20"),
        (r#"h_bucket{job="a",le="+Inf"}"#, "25"),
        (r#"noinf_bucket{le="1"}"#, "1"),
        (r#"zero_bucket{le="1"}"#, "0"),
        (r#"zero_bucket{le="+Inf"}"#, "0"),
        (r#"nm_bucket{le="1"}"#, "10"),
        (r#"nm_bucket{le="2"}"#, "8"),
        (r#"nm_bucket{le="+Inf"}"#, "20"),
        (r#"neg_bucket{le="-1"}"#, "5"),
        (r#"neg_bucket{le="+Inf"}"#, "10"),
    ]);
    let hq = |q: f64, sel: &str| vector(&s, &format!("histogram_quantile({q}, {sel})"), 0);
    // rank 0.4*25 = 10 falls at the top of the first bucket [0, 1].
    assert_vec(hq(0.4, "h_bucket"), &[(r#"{job="a"}"#, 1.0)]);
    // rank 12.5: bucket (1, 2] holds 5 observations, 2.5 of them needed: 1 + 0.5.
    assert_vec(hq(0.5, "h_bucket"), &[(r#"{job="a"}"#, 1.5)]);
    // rank 18: bucket (2, 4] holds 5, 3 needed: 2 + 2 * 0.6.
    assert_vec(hq(0.72, "h_bucket"), &[(r#"{job="a"}"#, 3.2)]);
    // rank 22.5 lands in +Inf: the highest finite bound.
    assert_vec(hq(0.9, "h_bucket"), &[(r#"{job="a"}"#, 4.0)]);
    assert_vec(hq(1.5, "h_bucket"), &[(r#"{job="a"}"#, f64::INFINITY)]);
    assert_vec(hq(-0.5, "h_bucket"), &[(r#"{job="a"}"#, f64::NEG_INFINITY)]);
    assert_vec(hq(0.5, "noinf_bucket"), &[("{}", f64::NAN)]);
    assert_vec(hq(0.5, "zero_bucket"), &[("{}", f64::NAN)]);
    // Non-monotonic counts are raised to the running maximum: 10, 10, 20 -> rank 10 in [0, 1].
    assert_vec(hq(0.5, "nm_bucket"), &[("{}", 1.0)]);
    // A lowest bucket with a bound <= 0 answers with that bound.
    assert_vec(hq(0.25, "neg_bucket"), &[("{}", -1.0)]);
    // Same labels under two metric names: two groups, one output label set.
    assert_eq!(
        error(
            &s,
            r#"histogram_quantile(0.5, {__name__=~"nm_bucket|neg_bucket"})"#,
            0
        ),
        "vector cannot contain metrics with the same labelset"
    );
}

#[test]
fn sorting() {
    let s = st();
    assert_vec(
        ordered(&s, "sort(s)", 0),
        &[
            (r#"s{i="3"}"#, 1.0),
            (r#"s{i="4"}"#, 2.0),
            (r#"s{i="1"}"#, 3.0),
            (r#"s{i="2"}"#, f64::NAN),
        ],
    );
    assert_vec(
        ordered(&s, "sort_desc(s)", 0),
        &[
            (r#"s{i="1"}"#, 3.0),
            (r#"s{i="4"}"#, 2.0),
            (r#"s{i="3"}"#, 1.0),
            (r#"s{i="2"}"#, f64::NAN),
        ],
    );
}

#[test]
fn exp_ln_and_pow_follow_go_on_amd64() {
    let s = MemStore::new();
    // promtool 2.42's answers where glibc's correctly rounded exp/pow differ in the last bit.
    for (q, want) in [
        ("exp(vector(10.756223))", 46921.11188732732),
        ("exp(vector(-1.938941))", 0.14385621286959466),
        ("exp(vector(-745))", 5e-324),
        ("exp(vector(-740.123))", 3.7e-322),
        ("exp(vector(-1000))", 0.0),
        ("exp(vector(709.79))", f64::INFINITY),
        ("vector(10 ^ 0.3)", 1.9952623149688797),
        ("vector(7 ^ -2.25)", 0.012546696999005394),
        ("vector(540.69 ^ 2.4)", 3623064.0339662563),
        ("vector(387.978312 ^ -1.85855)", 1.5437320304219432e-05),
        ("ln(vector(387.978312))", 5.960949441153767),
        ("ln(vector(3.17709075))", 1.15596591956308),
        ("ln(vector(5.4988814))", 1.7045446897353567),
        // Go's assembly reads the exponent from the bits: subnormals come out wrong, as here.
        ("ln(vector(5e-324))", -709.0895657128241),
        ("ln(vector(0))", f64::NEG_INFINITY),
    ] {
        let got = vector(&s, q, 0);
        assert_eq!(got.len(), 1, "{q}");
        assert_eq!(got[0].1, want, "{q}");
    }
}

#[test]
fn duplicate_label_sets_are_found_in_large_results_too() {
    // 20 series per name: above the size where check_unique switches from pairs to a hash set.
    let mut defs = Vec::new();
    for i in 0..20 {
        defs.push((format!("a{{i=\"{i}\"}}"), "1"));
        defs.push((format!("b{{i=\"{i}\"}}"), "2"));
    }
    let defs: Vec<(&str, &str)> = defs.iter().map(|(d, v)| (d.as_str(), *v)).collect();
    let s = store(&defs);
    assert_eq!(
        error(&s, r#"abs({__name__=~"a|b"})"#, 0),
        "vector cannot contain metrics with the same labelset"
    );
    assert_eq!(
        vector(&s, r#"abs({__name__=~"a|b", i="7"} > 1)"#, 0).len(),
        1
    );
    assert_eq!(vector(&s, "abs(a) + abs(b)", 0).len(), 20);
}
