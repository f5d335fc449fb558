//! An in-memory [`Queryable`] for tests and for `telltale test rules`.
//!
//! `telltale test rules` evaluates every rule at every step over all input series plus what the
//! rules wrote, so the store is indexed: label set → series (for `add`), and an inverted index
//! label pair → series ids (for `select`, which starts from the smallest posting list of its
//! equality matchers instead of testing every series). Samples stay sorted by time, so a window
//! is two binary searches.

use std::collections::HashMap;

use super::select::{MatchOp, Matcher, Queryable, Series};

#[derive(Clone, Debug, Default)]
pub struct MemStore {
    /// In creation order; `select` returns series in this order.
    series: Vec<Series>,
    /// [`hash_labels`] → ids of the series with that hash (collisions are compared in full).
    ids: HashMap<u64, Vec<usize>>,
    /// label name → label value → ids of the series that carry it, ascending.
    postings: HashMap<String, HashMap<String, Vec<usize>>>,
}

impl MemStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds samples to the series with these labels (`__name__` included), creating it if needed.
    /// Samples are kept sorted by time; a later sample at the same time replaces the earlier.
    pub fn add(&mut self, labels: &[(&str, &str)], samples: &[(i64, f64)]) {
        let mut l: Vec<(&str, &str)> = labels
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .copied()
            .collect();
        if !l.is_sorted() {
            l.sort();
        }
        // Found by hash without allocating: the rules write the same series at every step.
        let key = hash_labels(&l);
        let same = |s: &Series| {
            s.labels.len() == l.len()
                && s.labels
                    .iter()
                    .zip(&l)
                    .all(|((k, v), (k2, v2))| k == k2 && v == v2)
        };
        let found = self
            .ids
            .get(&key)
            .and_then(|ids| ids.iter().copied().find(|&i| same(&self.series[i])));
        let idx = match found {
            Some(i) => i,
            None => {
                let i = self.series.len();
                for (k, v) in &l {
                    self.postings
                        .entry(k.to_string())
                        .or_default()
                        .entry(v.to_string())
                        .or_default()
                        .push(i);
                }
                self.ids.entry(key).or_default().push(i);
                self.series.push(Series {
                    labels: l
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                    samples: Vec::new(),
                });
                i
            }
        };
        let s = &mut self.series[idx].samples;
        for &(t, v) in samples {
            // Rules and input series append in time order: check the end first.
            match s.last() {
                Some(&(last, _)) if last < t => s.push((t, v)),
                None => s.push((t, v)),
                _ => match s.binary_search_by_key(&t, |x| x.0) {
                    Ok(i) => s[i].1 = v,
                    Err(i) => s.insert(i, (t, v)),
                },
            }
        }
    }

    /// Ids of the series that may match: the intersection of the posting lists of the equality
    /// matchers on a non-empty value (`l=""` also matches series without `l`, so it cannot
    /// narrow), or `None` (every series) when there is no such matcher.
    fn candidates(&self, matchers: &[Matcher]) -> Option<Vec<usize>> {
        let mut lists: Vec<&[usize]> = Vec::new();
        for m in matchers {
            let MatchOp::Eq(v) = &m.op else { continue };
            if v.is_empty() {
                continue;
            }
            let list = self
                .postings
                .get(&m.name)
                .and_then(|vals| vals.get(v))
                .map_or(&[][..], |ids| ids.as_slice());
            lists.push(list);
        }
        lists.sort_by_key(|l| l.len());
        let (first, rest) = lists.split_first()?;
        let mut out = first.to_vec();
        for list in rest {
            // Both ascending: one merge pass.
            let mut j = 0;
            out.retain(|&id| {
                while j < list.len() && list[j] < id {
                    j += 1;
                }
                j < list.len() && list[j] == id
            });
        }
        Some(out)
    }
}

/// FNV-1a over the sorted label pairs, with separators so that `("ab","c")` ≠ `("a","bc")`.
fn hash_labels(l: &[(&str, &str)]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (k, v) in l {
        for b in k.bytes().chain([0xff]).chain(v.bytes()).chain([0xfe]) {
            h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

impl Queryable for MemStore {
    fn select(&self, matchers: &[Matcher], from_ms: i64, to_ms: i64) -> Vec<Series> {
        let pick = |s: &Series| -> Option<Series> {
            if !matchers.iter().all(|m| m.matches(&s.labels)) {
                return None;
            }
            let lo = s.samples.partition_point(|(t, _)| *t < from_ms);
            let hi = s.samples.partition_point(|(t, _)| *t <= to_ms);
            (lo < hi).then(|| Series {
                labels: s.labels.clone(),
                samples: s.samples[lo..hi].to_vec(),
            })
        };
        match self.candidates(matchers) {
            Some(ids) => ids.iter().filter_map(|&i| pick(&self.series[i])).collect(),
            None => self.series.iter().filter_map(pick).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(name: &str, op: MatchOp) -> Matcher {
        Matcher {
            name: name.into(),
            op,
        }
    }

    fn names(v: &[Series]) -> Vec<String> {
        v.iter()
            .map(|s| {
                s.labels
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .collect()
    }

    fn store() -> MemStore {
        let mut st = MemStore::new();
        st.add(&[("__name__", "a"), ("x", "1")], &[(0, 1.0), (60, 2.0)]);
        st.add(&[("__name__", "b"), ("x", "1")], &[(0, 3.0)]);
        st.add(&[("__name__", "a"), ("x", "2"), ("y", "")], &[(30, 4.0)]);
        st.add(&[("__name__", "a")], &[(0, 5.0)]);
        st
    }

    #[test]
    fn select_narrows_by_the_index_and_keeps_creation_order() {
        let st = store();
        let eq = |n: &str, v: &str| m(n, MatchOp::Eq(v.into()));
        let got = st.select(&[eq("__name__", "a")], 0, 100);
        assert_eq!(
            names(&got),
            ["__name__=a,x=1", "__name__=a,x=2", "__name__=a"]
        );
        let got = st.select(&[eq("__name__", "a"), eq("x", "1")], 0, 100);
        assert_eq!(names(&got), ["__name__=a,x=1"]);
        // `x=""` matches the series without x; `y` was never stored (empty value).
        let got = st.select(&[eq("__name__", "a"), eq("x", "")], 0, 100);
        assert_eq!(names(&got), ["__name__=a"]);
        assert!(st.select(&[eq("y", "z")], 0, 100).is_empty());
        assert!(st.select(&[eq("__name__", "nope")], 0, 100).is_empty());
        let re = regex::Regex::new("^(?:a|b)$").unwrap();
        let got = st.select(&[m("__name__", MatchOp::Re(re)), eq("x", "1")], 0, 100);
        assert_eq!(names(&got), ["__name__=a,x=1", "__name__=b,x=1"]);
        let got = st.select(&[m("x", MatchOp::Ne("1".into()))], 0, 100);
        assert_eq!(names(&got), ["__name__=a,x=2", "__name__=a"]);
    }

    #[test]
    fn windows_are_inclusive_and_series_without_samples_there_are_left_out() {
        let st = store();
        let eq = |n: &str, v: &str| m(n, MatchOp::Eq(v.into()));
        let got = st.select(&[eq("x", "1"), eq("__name__", "a")], 60, 60);
        assert_eq!(got[0].samples, [(60, 2.0)]);
        let got = st.select(&[eq("__name__", "a")], 1, 59);
        assert_eq!(names(&got), ["__name__=a,x=2"]);
        assert!(st.select(&[eq("__name__", "a")], 61, 1000).is_empty());
    }

    #[test]
    fn add_keeps_time_order_and_replaces_equal_times() {
        let mut st = MemStore::new();
        let l = [("__name__", "a")];
        st.add(&l, &[(60, 1.0), (0, 2.0), (120, 3.0)]);
        st.add(&l, &[(60, 9.0), (30, 4.0), (180, 5.0)]);
        let got = st.select(&[m("__name__", MatchOp::Eq("a".into()))], 0, 1000);
        assert_eq!(
            got[0].samples,
            [(0, 2.0), (30, 4.0), (60, 9.0), (120, 3.0), (180, 5.0)]
        );
        assert_eq!(got.len(), 1, "same labels, same series");
    }

    #[test]
    fn label_sets_are_told_apart_and_found_in_any_order() {
        let mut st = MemStore::new();
        st.add(&[("__name__", "m"), ("ab", "c")], &[(0, 1.0)]);
        st.add(&[("__name__", "m"), ("a", "bc")], &[(0, 2.0)]);
        st.add(&[("ab", "c"), ("__name__", "m")], &[(60, 3.0)]);
        assert_ne!(hash_labels(&[("ab", "c")]), hash_labels(&[("a", "bc")]));
        let got = st.select(&[m("__name__", MatchOp::Eq("m".into()))], 0, 100);
        assert_eq!(names(&got), ["__name__=m,ab=c", "__name__=m,a=bc"]);
        assert_eq!(got[0].samples, [(0, 1.0), (60, 3.0)]);
    }
}
