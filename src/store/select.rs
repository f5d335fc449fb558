//! The store's query interface: label matchers and [`Queryable`], what the PromQL evaluator and
//! the rule kinds read through, implemented by the sample store (below) and by [`MemStore`]
//! for tests and `telltale test rules`.
//!
//! [`MemStore`]: super::memstore::MemStore

use super::Store;
use crate::model::labels::{get, NAME};
use crate::model::time::is_stale;
use crate::model::Labels;

/// One label matcher; regexes are fully anchored as in Prometheus.
#[derive(Clone, Debug)]
pub struct Matcher {
    pub name: String,
    pub op: MatchOp,
}

#[derive(Clone, Debug)]
pub enum MatchOp {
    Eq(String),
    Ne(String),
    Re(regex::Regex),
    NotRe(regex::Regex),
}

impl Matcher {
    /// A missing label matches as the empty string, as in Prometheus.
    pub fn matches(&self, labels: &Labels) -> bool {
        self.matches_value(get(labels, &self.name).unwrap_or(""))
    }

    /// Whether the label's value `v` (`""` when the label is missing) matches.
    pub fn matches_value(&self, v: &str) -> bool {
        match &self.op {
            MatchOp::Eq(s) => v == s,
            MatchOp::Ne(s) => v != s,
            MatchOp::Re(r) => r.is_match(v),
            MatchOp::NotRe(r) => !r.is_match(v),
        }
    }
}

/// One stored series: labels (including `__name__`) and samples sorted by time.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub labels: Labels,
    pub samples: Vec<(i64, f64)>,
}

/// What the evaluator reads: every series matching all matchers, with its samples in
/// `[from_ms, to_ms]` (inclusive; the evaluator narrows further). Stale markers included.
pub trait Queryable {
    fn select(&self, matchers: &[Matcher], from_ms: i64, to_ms: i64) -> Vec<Series>;

    /// `select` keeping only each series' newest sample in the window: all an instant
    /// selector reads. A store can skip copying the rest.
    fn select_last(&self, matchers: &[Matcher], from_ms: i64, to_ms: i64) -> Vec<Series> {
        let mut v = self.select(matchers, from_ms, to_ms);
        for s in &mut v {
            s.samples.drain(..s.samples.len().saturating_sub(1));
        }
        v
    }

    /// Whether some matching series has a sample in the window that is not a staleness
    /// marker (the rules engine's "no data" test).
    fn any_sample(&self, matchers: &[Matcher], from_ms: i64, to_ms: i64) -> bool {
        self.select(matchers, from_ms, to_ms)
            .iter()
            .any(|s| s.samples.iter().any(|(_, v)| !is_stale(*v)))
    }
}

impl Queryable for Store {
    fn select(&self, matchers: &[Matcher], from_ms: i64, to_ms: i64) -> Vec<Series> {
        collect(self, matchers, from_ms, to_ms, false)
    }

    fn select_last(&self, matchers: &[Matcher], from_ms: i64, to_ms: i64) -> Vec<Series> {
        collect(self, matchers, from_ms, to_ms, true)
    }

    fn any_sample(&self, matchers: &[Matcher], from_ms: i64, to_ms: i64) -> bool {
        let mut found = false;
        self.for_each_range(
            name(matchers),
            from_ms,
            to_ms,
            |metric, labels, mut samples| {
                found = found
                    || (samples.any(|(_, v)| !is_stale(*v))
                        && matchers.iter().all(|m| matches(m, metric, labels)));
            },
        );
        found
    }
}

/// The metric name an equality matcher asks for: only that name's series need reading.
fn name(matchers: &[Matcher]) -> Option<&str> {
    matchers.iter().find_map(|m| match &m.op {
        MatchOp::Eq(v) if m.name == NAME => Some(v.as_str()),
        _ => None,
    })
}

fn collect(s: &Store, matchers: &[Matcher], from_ms: i64, to_ms: i64, last: bool) -> Vec<Series> {
    let mut out = Vec::new();
    s.for_each_range(name(matchers), from_ms, to_ms, |metric, labels, samples| {
        if samples.len() == 0 || !matchers.iter().all(|m| matches(m, metric, labels)) {
            return;
        }
        out.push(Series {
            labels: with_name(metric, labels),
            samples: match last {
                true => samples.last().into_iter().copied().collect(),
                false => samples.copied().collect(),
            },
        });
    });
    out
}

/// `m` against the series' labels plus `__name__`, as [`Matcher::matches`] would see them.
fn matches(m: &Matcher, metric: &str, labels: &Labels) -> bool {
    if m.name == NAME {
        m.matches_value(metric)
    } else {
        m.matches_value(get(labels, &m.name).unwrap_or(""))
    }
}

/// The sorted `labels` with `__name__` inserted at its sorted place.
fn with_name(metric: &str, labels: &Labels) -> Labels {
    let at = labels.partition_point(|(k, v)| (k.as_str(), v.as_str()) < (NAME, metric));
    let mut out = Vec::with_capacity(labels.len() + 1);
    out.extend_from_slice(&labels[..at]);
    out.push((NAME.to_string(), metric.to_string()));
    out.extend_from_slice(&labels[at..]);
    out
}

#[cfg(test)]
mod tests {
    use super::Queryable;
    use crate::model::labels;
    use crate::model::{Family, Labels};
    use crate::promql;
    use crate::promql::Value;
    use crate::store::{Limits, Store};

    #[test]
    fn rules_read_what_sources_wrote() {
        let s = Store::new(Limits {
            retention_ms: 3_600_000,
            max_series: 100,
            max_samples: crate::store::DEFAULT_MAX_SAMPLES,
        });
        let mut f = Family::gauge("m", "h");
        f.add(&[("a", "1")], 1.0).add(&[("a", "2")], 5.0);
        s.ingest(
            "src",
            vec![f, Family::gauge("other", "h").with(&[], 7.0)],
            1000,
        );
        let q = promql::parse("sum(m) + on() other").unwrap();
        let v = promql::eval_instant(&q, 2000, &s).unwrap();
        let Value::Vector(v) = v else { panic!() };
        assert_eq!(v[0].value, 13.0);
        let q = promql::parse(r#"{a=~"2|3"}"#).unwrap();
        let Value::Vector(v) = promql::eval_instant(&q, 2000, &s).unwrap() else {
            panic!()
        };
        assert_eq!(v.len(), 1);
        assert_eq!(labels::get(&v[0].labels, "__name__"), Some("m"));
    }

    #[test]
    fn last_samples_and_no_data_agree_with_select() {
        let s = Store::new(Limits {
            retention_ms: 3_600_000,
            max_series: 100,
            max_samples: crate::store::DEFAULT_MAX_SAMPLES,
        });
        let f = |v: &[(&str, f64)]| {
            let mut f = Family::gauge("m", "h");
            v.iter().for_each(|(l, x)| _ = f.add(&[("a", l)], *x));
            vec![f]
        };
        s.ingest("src", f(&[("1", 1.0), ("2", 2.0)]), 1000);
        s.ingest("src", f(&[("1", 3.0)]), 2000); // a=2 gets a staleness marker at 2000
        let m = promql::parse("m").unwrap();
        let promql::Plan::Selector(sel) = &m else {
            panic!()
        };
        let all = s.select(&sel.matchers, 0, 5000);
        assert_eq!(all[0].samples, [(1000, 1.0), (2000, 3.0)]);
        let last = s.select_last(&sel.matchers, 0, 5000);
        assert_eq!(last[0].samples, [(2000, 3.0)]);
        assert_eq!(last[1].samples.len(), 1);
        assert!(crate::model::time::is_stale(last[1].samples[0].1));
        assert_eq!(
            s.select_last(&sel.matchers, 0, 1500)[1].samples,
            [(1000, 2.0)]
        );
        assert!(s.any_sample(&sel.matchers, 1500, 5000));
        let two = promql::parse(r#"m{a="2"}"#).unwrap();
        let promql::Plan::Selector(two) = &two else {
            panic!()
        };
        assert!(!s.any_sample(&two.matchers, 1500, 5000));
        assert!(s.any_sample(&two.matchers, 0, 5000));
        assert!(!s.any_sample(&two.matchers, 3000, 5000));
    }

    #[test]
    fn labels_come_out_sorted_with_the_name_in_place() {
        let l = |p: &[(&str, &str)]| -> Labels {
            p.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let got = super::with_name("m", &l(&[("Zone", "z"), ("a", "1")]));
        assert_eq!(got, l(&[("Zone", "z"), ("__name__", "m"), ("a", "1")]));
        assert_eq!(super::with_name("m", &l(&[])), l(&[("__name__", "m")]));
    }

    #[test]
    fn matchers_see_the_name_and_missing_labels_as_empty() {
        let s = Store::new(Limits {
            retention_ms: 3_600_000,
            max_series: 100,
            max_samples: crate::store::DEFAULT_MAX_SAMPLES,
        });
        let mut f = Family::gauge("m", "h");
        f.add(&[("a", "1")], 1.0).add(&[("b", "2")], 2.0);
        s.ingest("src", vec![f, Family::gauge("n", "h").with(&[], 3.0)], 1000);
        let count = |q: &str| match promql::eval_instant(&promql::parse(q).unwrap(), 2000, &s) {
            Ok(Value::Vector(v)) => v.len(),
            other => panic!("{other:?}"),
        };
        assert_eq!(count(r#"{__name__=~"m|n"}"#), 3);
        assert_eq!(count(r#"{__name__!="m", __name__=~".+"}"#), 1);
        assert_eq!(count(r#"m{a=""}"#), 1);
        assert_eq!(count(r#"{__name__="m", a!="1"}"#), 1);
        assert_eq!(count(r#"m{c=~"x?"}"#), 2);
    }
}
