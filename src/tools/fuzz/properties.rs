//! Property tests (proptest) for every parser of input telltale does not control, beside the
//! mutation fuzzer: no parser panics on any input, and where an encoder exists the parser gives
//! back what it wrote. Inputs are both arbitrary text or bytes and text shaped like the format,
//! so the properties reach past the first syntax check. `PROPTEST_CASES` sets the cases per
//! property (256 by default).

use proptest::prelude::*;

use crate::collector::textparse;
use crate::config::yaml;
use crate::model::time::{format_millis, parse_rfc3339};
use crate::model::{encode, Family, Format, MetricType};

/// Text that looks like the exposition format: names, labels, values, comments.
fn exposition_like() -> impl Strategy<Value = String> {
    let line = prop_oneof![
        "# (HELP|TYPE) [a-z_:]{1,6} (counter|gauge|histogram|summary|untyped|[a-z ]{0,6})",
        "[a-z_:]{1,6}(\\{([a-z_]{1,3}=\"[a-z\\\\\" ]{0,4}\",?){0,3}\\})? (-?[0-9]{1,5}(\\.[0-9]{1,3})?|NaN|[+-]Inf|[0-9e+-]{1,6})( -?[0-9]{1,13})?",
        "[a-z_]{1,6}_(bucket|sum|count)\\{le=\"(\\+Inf|[0-9.]{1,4})\"\\} [0-9]{1,3}",
        ".{0,12}",
    ];
    proptest::collection::vec(line, 0..12).prop_map(|l| l.join("\n"))
}

fn metric_name() -> impl Strategy<Value = String> {
    "[a-zA-Z_:][a-zA-Z0-9_:]{0,10}"
}

fn label_pairs() -> impl Strategy<Value = Vec<(String, String)>> {
    proptest::collection::btree_map("[a-zA-Z][a-zA-Z0-9_]{0,6}", ".{0,8}", 0..4)
        .prop_map(|m| m.into_iter().collect())
}

/// Families of gauges and counters with distinct label sets and any finite value.
fn families() -> impl Strategy<Value = Vec<Family>> {
    let family = (
        metric_name(),
        any::<bool>(),
        proptest::collection::btree_map(label_pairs(), -1e300f64..1e300, 1..4),
    )
        .prop_map(|(name, counter, series)| {
            let kind = if counter {
                MetricType::Counter
            } else {
                MetricType::Gauge
            };
            let mut f = Family::new(name, "help text", kind);
            for (labels, v) in series {
                let l: Vec<(&str, &str)> = labels
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                f.add(&l, v);
            }
            f
        });
    proptest::collection::btree_map(metric_name(), family, 0..4).prop_map(|m| {
        m.into_iter()
            .map(|(n, mut f)| {
                f.name = n;
                f
            })
            .collect()
    })
}

proptest! {
    #[test]
    fn exposition_parser_never_panics(text in prop_oneof![".{0,200}", exposition_like()]) {
        let _ = textparse::parse(&text);
    }

    #[test]
    fn exposition_round_trips(fams in families()) {
        let text = encode(&fams, Format::Text);
        let parsed = textparse::parse(&text).map_err(TestCaseError::fail)?;
        let written: usize = fams.iter().map(|f| f.samples.len()).sum();
        let read: usize = parsed.iter().map(|f| f.metrics.len()).sum();
        prop_assert_eq!(written, read, "{}", text);
        for f in &parsed {
            for m in &f.metrics {
                let textparse::Value::Simple(v) = m.value else {
                    return Err(TestCaseError::fail(format!("not a simple value in {text}")));
                };
                let src = fams.iter().find(|s| s.name == f.name).expect("family written");
                let sample = src
                    .samples
                    .iter()
                    .find(|s| s.labels == m.labels)
                    .expect("labels written");
                prop_assert_eq!(sample.value.to_bits(), v.to_bits(), "{}", text);
            }
        }
    }

    #[test]
    fn yaml_and_config_decoders_never_panic(text in prop_oneof![
        ".{0,200}",
        "([a-z_]{1,8}: ?(\\[|\\{|[a-z0-9:/.${}]{0,8}|- )?\n {0,4}){0,8}",
    ]) {
        let _ = yaml::parse("p.yml", &text);
        let _ = crate::app::config::parse("p.yml", &text);
        let _ = crate::rules::file::parse("p.rules.yml", &text);
        let _ = crate::rules::promtool::testfile::parse("p_test.yml", &text);
    }

    #[test]
    fn durations_round_trip(ms in 0u64..(400 * 24 * 3_600_000)) {
        let d = std::time::Duration::from_millis(ms);
        let text = yaml::format_duration(d);
        prop_assert_eq!(yaml::parse_duration(&text), Ok(d), "{}", text);
    }

    #[test]
    fn duration_and_number_parsers_never_panic(text in ".{0,24}") {
        let _ = yaml::parse_duration(&text);
        let _ = yaml::parse_float(&text);
        let _ = crate::http_client::parse_size(&text);
    }

    #[test]
    fn rfc3339_round_trips(ms in 0i64..253_402_300_800_000) {
        let text = format_millis(ms);
        prop_assert_eq!(parse_rfc3339(&text), Some(ms), "{}", text);
    }

    #[test]
    fn rfc3339_parser_never_panics(text in prop_oneof![
        ".{0,32}",
        "[0-9]{1,5}-[0-9]{1,2}-[0-9]{1,2}T[0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}(\\.[0-9]{0,12})?(Z|[+-][0-9]{2}:[0-9]{2})?",
    ]) {
        let _ = parse_rfc3339(&text);
    }

    #[test]
    fn promql_and_template_parsers_never_panic(text in prop_oneof![
        ".{0,80}",
        "([a-z_]{1,6}(\\{[a-z]{1,3}(=|!=|=~|!~)\"[a-z.*]{0,3}\"\\})?(\\[[0-9]{1,2}[smhd](:[0-9]?[smh]?)?\\])?|[()+*/^ ,-]|sum|rate|by|on|offset|@ ?[0-9]|[0-9.e]{1,4}){0,10}",
        "(\\{\\{ ?(\\.|\\$[a-z]{0,6}|if|end|range|printf|query|[a-z]{1,6}|\"[^\"]{0,4}\"|\\|| ){0,5} ?\\}\\}|[a-z ]{0,6}){0,6}",
    ]) {
        let _ = crate::promql::parse(&text);
        let _ = crate::promql::check_syntax(&text);
        let _ = crate::template::Template::parse("p", &text);
    }

    #[test]
    fn jsonpath_parser_never_panics(text in prop_oneof![
        ".{0,40}",
        "(\\$|@)(\\.[a-z*]{0,4}|\\[([0-9*:,-]{0,5}|'[a-z]{0,3}'|\\?\\(@\\.[a-z]{1,3} ?(==|<|>) ?[0-9a-z']{1,3}\\))\\]|\\.\\.){0,6}",
    ]) {
        let _ = crate::sources::json::jsonpath::parse(&text);
    }

    #[test]
    fn push_parsers_never_panic(
        body in prop_oneof![
            ".{0,120}",
            "\\{\"metrics\": ?\\[(\\{\"metric_id\": ?\"[a-z.*-]{0,8}\", ?\"value\": ?(-?[0-9.e]{1,6}|\"[a-z0-9]{0,3}\"|null)(, ?\"timestamp\": ?(\"[0-9T:Z-]{0,22}\"|[0-9]{1,14}))?\\},?){0,3}\\]\\}",
        ],
        path in "(/[a-zA-Z0-9_@=.%+-]{0,8}){0,6}",
        text in exposition_like(),
    ) {
        let now_ms = crate::model::time::now_ms();
        if let Ok(points) = crate::sources::push::json::parse(body.as_bytes(), now_ms, 1_000) {
            let _ = crate::sources::push::json::families(points);
        }
        if let Ok(key) = crate::sources::push::grouping::parse(&path) {
            let _ = crate::sources::push::text::parse(&text, &key);
        }
    }

    #[test]
    fn promtool_series_notation_never_panics(
        metric in "([a-z_]{0,6}(\\{([a-z]{1,3}=\"[a-z]{0,3}\",?){0,3}\\}?)?|.{0,16})",
        values in "((-?[0-9.]{1,3}|_|stale)([+-][0-9]{1,2}x[0-9]{1,2}|x[0-9]{1,2})? ?){0,6}",
    ) {
        let _ = crate::rules::promtool::series::parse_metric(&metric);
        let _ = crate::rules::promtool::series::parse_values(&values);
    }

    #[test]
    fn binary_decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = crate::sources::probe::x509::validity(&bytes);
        let _ = crate::sources::zabbix::api::decode_response(&bytes);
    }
}
