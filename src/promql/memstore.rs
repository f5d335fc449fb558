//! An in-memory [`Queryable`] for tests and for `telltale test rules`.

use super::{Matcher, Queryable, Series};
use crate::exposition::Labels;

#[derive(Clone, Debug, Default)]
pub struct MemStore {
    series: Vec<Series>,
}

impl MemStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds samples to the series with these labels (`__name__` included), creating it if needed.
    /// Samples are kept sorted by time; a later sample at the same time replaces the earlier.
    pub fn add(&mut self, labels: &[(&str, &str)], samples: &[(i64, f64)]) {
        let mut l: Labels = labels
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        l.sort();
        let idx = match self.series.iter().position(|s| s.labels == l) {
            Some(i) => i,
            None => {
                self.series.push(Series {
                    labels: l,
                    samples: Vec::new(),
                });
                self.series.len() - 1
            }
        };
        let s = &mut self.series[idx].samples;
        for &(t, v) in samples {
            match s.binary_search_by_key(&t, |x| x.0) {
                Ok(i) => s[i].1 = v,
                Err(i) => s.insert(i, (t, v)),
            }
        }
    }
}

impl Queryable for MemStore {
    fn select(&self, matchers: &[Matcher], from_ms: i64, to_ms: i64) -> Vec<Series> {
        self.series
            .iter()
            .filter(|s| matchers.iter().all(|m| m.matches(&s.labels)))
            .map(|s| Series {
                labels: s.labels.clone(),
                samples: s
                    .samples
                    .iter()
                    .filter(|(t, _)| *t >= from_ms && *t <= to_ms)
                    .copied()
                    .collect(),
            })
            .filter(|s| !s.samples.is_empty())
            .collect()
    }
}
