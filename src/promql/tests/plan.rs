//! Load-time validation: unsupported constructs are named, never evaluated wrongly.

use crate::promql::parse;

fn rejects(q: &str, needle: &str) {
    match parse(q) {
        Err(e) => assert!(e.contains(needle), "{q}: error {e:?} lacks {needle:?}"),
        Ok(p) => panic!("{q}: accepted as {p:?}"),
    }
}

#[test]
fn unsupported_constructs_are_named() {
    rejects("max_over_time(rate(x[1m])[5m:1m])", "subqueries");
    rejects("day_of_month(x)", "day_of_month");
    rejects("sum(x) by (a) + sgn(x)", "sgn");
    rejects(
        r#"label_replace(x, "1bad", "", "a", ".*")"#,
        "destination label",
    );
    rejects(
        r#"label_replace(x, "dst", "", "a", "(")"#,
        "invalid regular expression",
    );
    rejects(r#"label_join(x, "dst", "-", "bad-name")"#, "source label");
    rejects("limitk(2, x)", "limitk");
    rejects(r#"x{a="1" or b="2"}"#, "`or` between label matchers");
    rejects("a + fill(0) b", "fill modifiers");
}

#[test]
fn parser_errors_pass_through() {
    assert!(parse("sum(").is_err());
    assert!(parse("1 > 2").is_err());
    assert!(parse("rate(x)").is_err());
}

/// Found by fuzzing: float durations outside `Duration`'s range panicked inside the parser.
#[test]
fn out_of_range_float_durations_are_errors() {
    for q in [
        r#""s"[11e308]"#,
        "x[1e400]",
        "rate(x[1e30])",
        "x offset 1e300",
        "x[-1]",
    ] {
        if let Err(e) = parse(q) {
            assert!(!e.is_empty(), "{q}");
        }
    }
    rejects("x[1e400]", "invalid duration");
    assert!(crate::promql::check_syntax("x[1e400]").is_err());
}

#[test]
fn supported_queries_load() {
    for q in [
        "holt_winters(x[5m], 0.5, 0.5)",
        "double_exponential_smoothing(x[5m], 0.5, 0.5)",
        r#"sum by (job) (rate(http_requests_total{code=~"5.."}[5m])) > 0.5"#,
        "a / on(i) group_left(j) b",
        "a and ignoring(x) b",
        "x @ 100 offset 5m",
        "-x",
        "1 + 2",
        r#"count_values("v", x)"#,
        "histogram_quantile(0.9, sum by (le) (rate(h_bucket[5m])))",
    ] {
        assert!(parse(q).is_ok(), "{q}: {:?}", parse(q).err());
    }
}
