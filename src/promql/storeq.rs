//! The sample store as a [`Queryable`]: a selector with an equality matcher on the metric name
//! reads only that name's series (the store is ordered by name). Matchers are checked against
//! the stored key in place, so only the series selected get their labels copied out.

use super::{get, is_stale, MatchOp, Matcher, Queryable, Series, NAME};
use crate::exposition::Labels;
use crate::store::Store;

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
    use crate::exposition::{Family, Labels};
    use crate::promql::{self, Queryable, Value};
    use crate::store::{Limits, Store};

    #[test]
    fn rules_read_what_sources_wrote() {
        let s = Store::new(Limits {
            retention_ms: 3_600_000,
            max_series: 100,
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
        assert_eq!(promql::get(&v[0].labels, "__name__"), Some("m"));
    }

    #[test]
    fn last_samples_and_no_data_agree_with_select() {
        let s = Store::new(Limits {
            retention_ms: 3_600_000,
            max_series: 100,
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
        assert!(promql::is_stale(last[1].samples[0].1));
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
