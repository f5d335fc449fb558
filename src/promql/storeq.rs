//! The sample store as a [`Queryable`]: a selector with an equality matcher on the metric name
//! reads only that name's series (the store is ordered by name).

use super::{MatchOp, Matcher, Queryable, Series, NAME};
use crate::store::Store;

impl Queryable for Store {
    fn select(&self, matchers: &[Matcher], from_ms: i64, to_ms: i64) -> Vec<Series> {
        let name = matchers.iter().find_map(|m| match &m.op {
            MatchOp::Eq(v) if m.name == NAME => Some(v.as_str()),
            _ => None,
        });
        let full = |k: &crate::store::SeriesKey| {
            let mut labels = Vec::with_capacity(k.labels.len() + 1);
            labels.push((NAME.to_string(), k.name.to_string()));
            labels.extend(k.labels.iter().cloned());
            labels.sort();
            labels
        };
        self.range(
            name,
            |k| matchers.iter().all(|m| m.matches(&full(k))),
            from_ms,
            to_ms,
        )
        .into_iter()
        .filter(|(_, samples)| !samples.is_empty())
        .map(|(k, samples)| Series {
            labels: full(&k),
            samples,
        })
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use crate::exposition::Family;
    use crate::promql::{self, Value};
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
}
