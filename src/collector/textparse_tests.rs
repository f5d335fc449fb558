//! Unit tests of the text-format parser: accepted shapes and the errors Go's parser also raises.

use super::*;

fn one(text: &str) -> ParsedFamily {
    let mut f = parse(text).unwrap();
    assert_eq!(f.len(), 1, "{f:?}");
    f.remove(0)
}

#[test]
fn help_type_and_escapes() {
    let f = one("# HELP a_b Help with \\\\ and \\n.\n# TYPE a_b gauge\na_b{x=\"q\\\"v\",y=\"C:\\\\d\\n\"} 1.5\n");
    assert_eq!(f.help.as_deref(), Some("Help with \\ and \n."));
    assert_eq!(f.kind, Some(Kind::Gauge));
    assert_eq!(
        f.metrics[0].labels,
        vec![("x".into(), "q\"v".into()), ("y".into(), "C:\\d\n".into())]
    );
    assert_eq!(f.metrics[0].value, Value::Simple(1.5));
}

#[test]
fn untyped_default_timestamps_and_specials() {
    let fams =
        parse("a 1 1700000000000\nb{} +Inf\nc NaN\n\n  # just a comment\nd{l=\"v\",} -3e2\n")
            .unwrap();
    assert_eq!(fams.len(), 4);
    assert_eq!(fams[0].kind, Some(Kind::Untyped));
    assert_eq!(fams[0].metrics[0].timestamp_ms, Some(1_700_000_000_000));
    assert_eq!(fams[1].metrics[0].value, Value::Simple(f64::INFINITY));
    assert!(matches!(fams[2].metrics[0].value, Value::Simple(v) if v.is_nan()));
    assert_eq!(fams[3].metrics[0].value, Value::Simple(-300.0));
}

#[test]
fn help_without_text_is_unset_and_empty_families_vanish() {
    let fams = parse("# HELP g\n# TYPE empty counter\ng 1\n").unwrap();
    assert_eq!(fams.len(), 1);
    assert_eq!(fams[0].help, None);
}

#[test]
fn histograms_and_summaries_group_by_labels() {
    let h = one("# TYPE h histogram\nh_bucket{le=\"1\",a=\"x\"} 1\nh_bucket{a=\"x\",le=\"+Inf\"} 2.9\nh_sum{a=\"x\"} 3\nh_count{a=\"x\"} 2\n");
    assert_eq!(h.metrics.len(), 1);
    assert_eq!(h.metrics[0].labels, vec![("a".into(), "x".into())]);
    assert_eq!(
        h.metrics[0].value,
        Value::Histogram {
            buckets: vec![(1.0, 1), (f64::INFINITY, 2)],
            sum: 3.0,
            count: 2
        }
    );
    let s = one(
        "# TYPE s summary\ns{quantile=\"0.5\"} 0.1\ns_sum 9\ns_count 4\ns{quantile=\"0.9\"} 0.2\n",
    );
    assert_eq!(
        s.metrics[0].value,
        Value::Summary {
            quantiles: vec![(0.5, 0.1), (0.9, 0.2)],
            sum: 9.0,
            count: 4
        }
    );
    // Without a summary TYPE, `_sum` is a family of its own.
    assert_eq!(parse("x 1\nx_sum 2\n").unwrap().len(), 2);
}

#[test]
fn errors_match_go_parser() {
    for bad in [
        "m{l=\"unterminated} 1\n",
        "# TYPE m gauge\n# TYPE m gauge\n",
        "m 1\n# TYPE m gauge\n",
        "# HELP m a\n# HELP m b\n",
        "# TYPE m gaugeish\n",
        "m{l=\"a\",l=\"b\"} 1\n",
        "m{l=\"\\x\"} 1\n",
        "m{1l=\"a\"} 1\n",
        "m{l \"a\"} 1\n",
        "m{l=\"a\" x=\"b\"} 1\n",
        "m{__name__=\"a\"} 1\n",
        "m one\n",
        "m 1_000\n",
        "m 1 2 3\n",
        "m 1 1.5\n",
        "m\n",
        "{l=\"a\"} 1\n",
        "# HELP 1m x\n",
        "# HELP m bad \\t escape\n",
        "# TYPE h histogram\nh_bucket{le=\"x\"} 1\n",
    ] {
        let err = parse(bad).expect_err(bad);
        assert!(
            err.starts_with("text format parsing error in line"),
            "{err}"
        );
    }
}
