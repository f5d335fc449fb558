//! A Pushgateway-style body (Prometheus text format 0.0.4, parsed by the textfile collector's
//! parser) turned into one group's families, checked as pushgateway checks it: no timestamps,
//! no series twice, the grouping labels on every sample (overriding the body's), and
//! `instance=""` where the series has no instance, so that a Prometheus scraping with
//! `honor_labels: true` does not attach telltale's own instance.

use std::collections::HashSet;

use super::grouping::GroupKey;
use crate::collector::textfile::go_float;
use crate::collector::textparse::{self, Kind, ParsedFamily, Value};
use crate::model::{Family, Labels, MetricType, Sample, SUFFIX_LABEL};

/// The families pushgateway adds to every group; a body may not push them itself.
pub const PUSH_TIME: &str = "push_time_seconds";
pub const PUSH_FAILURE_TIME: &str = "push_failure_time_seconds";

pub const DEFAULT_HELP: &str = "Metric pushed to telltale without a HELP line.";

/// Parses a body for group `key`. Errors are the parser's (`text format parsing error in line
/// N: ...`, as pushgateway words them) or pushgateway's consistency messages.
pub fn parse(body: &str, key: &GroupKey) -> Result<Vec<Family>, String> {
    let parsed = textparse::parse(body)?;
    let mut out = Vec::with_capacity(parsed.len());
    for pf in parsed {
        if pf.name == PUSH_TIME || pf.name == PUSH_FAILURE_TIME {
            return Err(format!(
                "metric name {:?} is reserved for the push times telltale records",
                pf.name
            ));
        }
        out.push(convert(pf, key)?);
    }
    // Borrowed, not cloned: a batch of a thousand series costs no copies here.
    let mut seen: HashSet<(&str, &Labels)> = HashSet::new();
    for fam in &out {
        for s in &fam.samples {
            if !seen.insert((&fam.name, &s.labels)) {
                return Err(format!(
                    "pushed metrics are invalid: metric {:?} with labels {{{}}} was pushed twice",
                    fam.name,
                    GroupKey(s.labels.clone()).display()
                ));
            }
        }
    }
    Ok(out)
}

/// Counts the sample lines of a text-format body fed in pieces as it arrives: lines that are
/// neither blank nor a `#` comment. Every such line is at least one sample, so a body with more
/// lines than `push.max_samples_per_request` is refused before it is read whole or parsed.
#[derive(Clone, Debug, Default)]
pub struct SampleLines {
    pub lines: usize,
    /// Inside a line whose kind is known.
    decided: bool,
}

impl SampleLines {
    pub fn feed(&mut self, piece: &[u8]) {
        for &b in piece {
            match (self.decided, b) {
                (_, b'\n') => self.decided = false,
                (false, b' ' | b'\t' | b'\r') => {}
                (false, b'#') => self.decided = true,
                (false, _) => {
                    self.lines += 1;
                    self.decided = true;
                }
                (true, _) => {}
            }
        }
    }
}

/// The body's labels with the grouping labels put over them, `instance` defaulted, sorted.
fn group_labels(mut labels: Labels, key: &GroupKey) -> Labels {
    labels.retain(|(k, _)| key.get(k).is_none());
    labels.extend(key.0.iter().cloned());
    if !labels.iter().any(|(k, _)| k == "instance") {
        labels.push(("instance".into(), String::new()));
    }
    labels.sort();
    labels
}

fn with_label(labels: &Labels, extra: &[(&str, String)]) -> Labels {
    let mut l = labels.clone();
    l.extend(extra.iter().map(|(k, v)| (k.to_string(), v.clone())));
    l
}

fn convert(pf: ParsedFamily, key: &GroupKey) -> Result<Family, String> {
    let kind = match pf.kind.unwrap_or(Kind::Untyped) {
        Kind::Counter => MetricType::Counter,
        Kind::Gauge => MetricType::Gauge,
        Kind::Untyped => MetricType::Untyped,
        Kind::Histogram => MetricType::Histogram,
        Kind::Summary => MetricType::Summary,
    };
    let help = pf.help.unwrap_or_else(|| DEFAULT_HELP.to_string());
    let mut fam = Family::new(pf.name, help, kind);
    let suffix = |s: &str| (SUFFIX_LABEL, s.to_string());
    for m in pf.metrics {
        if m.timestamp_ms.is_some() {
            return Err(
                "pushed metrics are invalid: pushed metrics must not have timestamps".into(),
            );
        }
        let labels = group_labels(m.labels, key);
        let mut add = |labels: Labels, value: f64| {
            fam.samples.push(Sample {
                labels,
                value,
                timestamp_ms: None,
            })
        };
        match m.value {
            Value::Simple(v) => add(labels, v),
            Value::Histogram {
                buckets,
                sum,
                count,
            } => {
                let has_inf = buckets.iter().any(|(le, _)| *le == f64::INFINITY);
                for (le, n) in &buckets {
                    add(
                        with_label(&labels, &[("le", go_float(*le)), suffix("_bucket")]),
                        *n as f64,
                    );
                }
                // The text encoders of the client libraries always write the +Inf bucket.
                if !has_inf {
                    add(
                        with_label(&labels, &[("le", "+Inf".into()), suffix("_bucket")]),
                        count as f64,
                    );
                }
                add(with_label(&labels, &[suffix("_sum")]), sum);
                add(with_label(&labels, &[suffix("_count")]), count as f64);
            }
            Value::Summary {
                quantiles,
                sum,
                count,
            } => {
                for (q, v) in &quantiles {
                    add(with_label(&labels, &[("quantile", go_float(*q))]), *v);
                }
                add(with_label(&labels, &[suffix("_sum")]), sum);
                add(with_label(&labels, &[suffix("_count")]), count as f64);
            }
        }
    }
    Ok(fam)
}

/// The group's `push_time_seconds` and `push_failure_time_seconds`, labelled as its metrics.
pub fn push_times(key: &GroupKey, ok: f64, failed: f64) -> [Family; 2] {
    let mut labels: Vec<(&str, &str)> = key.0.iter().map(|(k, v)| (&**k, &**v)).collect();
    if key.get("instance").is_none() {
        labels.push(("instance", ""));
    }
    [
        Family::gauge(
            PUSH_TIME,
            "Last Unix time when changing this group in the Pushgateway succeeded.",
        )
        .with(&labels, ok),
        Family::gauge(
            PUSH_FAILURE_TIME,
            "Last Unix time when changing this group in the Pushgateway failed.",
        )
        .with(&labels, failed),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{encode, normalize, Format};
    use crate::sources::push::state::samples_of;

    fn key(path: &str) -> GroupKey {
        crate::sources::push::grouping::parse(path).unwrap()
    }

    fn text(fams: Vec<Family>) -> String {
        encode(&normalize(fams), Format::Text)
    }

    #[test]
    fn grouping_labels_override_and_instance_defaults_to_empty() {
        let body = "# TYPE foo counter\n# HELP foo Foos.\nfoo{job=\"other\",x=\"1\"} 3\nbar 2\n";
        let got = text(parse(body, &key("job/k1")).unwrap());
        assert_eq!(
            got,
            "# HELP bar Metric pushed to telltale without a HELP line.\n# TYPE bar untyped\n\
bar{instance=\"\",job=\"k1\"} 2\n# HELP foo Foos.\n# TYPE foo counter\n\
foo{instance=\"\",job=\"k1\",x=\"1\"} 3\n"
        );
        let got = text(parse("a{instance=\"x\"} 1\n", &key("job/j")).unwrap());
        assert!(got.contains("a{instance=\"x\",job=\"j\"} 1\n"), "{got}");
        let got = text(parse("a{instance=\"x\"} 1\n", &key("job/j/instance/i")).unwrap());
        assert!(got.contains("a{instance=\"i\",job=\"j\"} 1\n"), "{got}");
    }

    #[test]
    fn histograms_and_summaries_keep_their_type() {
        let body = "# TYPE hh histogram\nhh_bucket{le=\"1\"} 1\nhh_sum 3\nhh_count 2\n\
# TYPE ss summary\nss{quantile=\"0.5\"} 1\nss_sum 2\nss_count 3\n";
        let got = text(parse(body, &key("job/k4")).unwrap());
        let want =
            "# HELP hh Metric pushed to telltale without a HELP line.\n# TYPE hh histogram\n\
hh_bucket{instance=\"\",job=\"k4\",le=\"1\"} 1\nhh_bucket{instance=\"\",job=\"k4\",le=\"+Inf\"} 2\n\
hh_sum{instance=\"\",job=\"k4\"} 3\nhh_count{instance=\"\",job=\"k4\"} 2\n\
# HELP ss Metric pushed to telltale without a HELP line.\n# TYPE ss summary\n\
ss{instance=\"\",job=\"k4\",quantile=\"0.5\"} 1\nss_sum{instance=\"\",job=\"k4\"} 2\n\
ss_count{instance=\"\",job=\"k4\"} 3\n";
        assert_eq!(got, want);
    }

    #[test]
    fn what_pushgateway_refuses_is_refused() {
        let k = key("job/j");
        let err = |b: &str| parse(b, &k).unwrap_err();
        assert!(err("foo 1 1234\n").contains("must not have timestamps"));
        assert!(
            err("a 1\na 2\n").contains("pushed twice"),
            "{}",
            err("a 1\na 2\n")
        );
        // Labels that only differ in a grouping label collapse into one series.
        assert!(err("a{job=\"x\"} 1\na{job=\"y\"} 2\n").contains("pushed twice"));
        assert_eq!(
            err("ok 1\nbad line here\n"),
            "text format parsing error in line 2: expected float as value, got \"line\""
        );
        assert!(err("push_time_seconds 1\n").contains("reserved"));
    }

    #[test]
    fn sample_lines_are_counted_across_pieces_and_never_above_the_samples() {
        let body = "# HELP a x\n# TYPE a gauge\na 1\n\n  # indented comment\nb{l=\"#\"} 2\n\
# TYPE hh histogram\nhh_bucket{le=\"1\"} 1\nhh_sum 3\nhh_count 2\nlast 1";
        let samples = samples_of(&parse(body, &key("job/j")).unwrap());
        for split in [1, 2, 7, body.len()] {
            let mut c = SampleLines::default();
            for piece in body.as_bytes().chunks(split) {
                c.feed(piece);
            }
            assert_eq!(c.lines, 6, "pieces of {split}");
        }
        // The +Inf bucket is added: never more lines than samples.
        assert_eq!(samples, 7);
    }

    #[test]
    fn an_empty_body_is_an_empty_group() {
        assert!(parse("", &key("job/j")).unwrap().is_empty());
        assert!(parse("# TYPE x gauge\n", &key("job/j")).unwrap().is_empty());
    }
}
