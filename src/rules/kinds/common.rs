//! What kinds share: decoding their PromQL inputs, label lists and windows with positioned
//! problems, evaluating an input with a chosen lookback (and telling "absent" from "empty"),
//! and joining results on labels.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::config::yaml::{Decoder, Fields, Node};
use crate::model::labels;
use crate::model::Labels;
use crate::promql;
use crate::promql::{EvalOptions, Plan, Sample, Value};
use crate::rules::eval::selectors;
use crate::store::select::Queryable;

/// A PromQL input: its text and plan.
#[derive(Clone, Debug)]
pub struct Query {
    pub text: String,
    pub plan: Plan,
}

/// A non-empty string holding a locally evaluable expression.
pub fn decode_query(d: &mut Decoder, n: &Node, path: &str) -> Option<Query> {
    let text = d.string(n, path)?;
    if text.trim().is_empty() {
        d.error(n.pos, path, "must not be empty");
        return None;
    }
    match promql::parse(&text) {
        Ok(plan) => Some(Query { text, plan }),
        Err(e) => {
            d.error(n.pos, path, format!("could not parse expression: {e}"));
            None
        }
    }
}

/// `on:`: a list of distinct label names (not `__name__`, which inputs never share usefully).
pub fn decode_on(d: &mut Decoder, f: &mut Fields, path: &str) -> Option<Vec<String>> {
    let n = f.get("on")?;
    let at = format!("{path}: on");
    let mut names = Vec::new();
    for item in d.seq(n, &at) {
        let Some(name) = d.string(item, &at) else {
            continue;
        };
        if !labels::is_label_name(&name) || name == labels::NAME {
            d.error(item.pos, &at, format!("invalid label name: {name:?}"));
        } else if names.contains(&name) {
            d.error(item.pos, &at, format!("label {name:?} listed twice"));
        }
        names.push(name);
    }
    Some(names)
}

/// A duration key that must be positive; `default` when absent.
pub fn decode_positive(
    d: &mut Decoder,
    f: &mut Fields,
    path: &str,
    key: &str,
    default: Duration,
) -> Duration {
    let Some(n) = f.get(key) else { return default };
    let at = format!("{path}: {key}");
    match d.duration(n, &at) {
        Some(v) if v.is_zero() => {
            d.error(n.pos, &at, "must be greater than 0");
            default
        }
        Some(v) => v,
        None => default,
    }
}

/// Whether `s` can name an input in an `evalexpr` condition and a template (`$inputs.s`).
pub fn valid_input_name(s: &str) -> bool {
    labels::is_label_name(s) && s != "true" && s != "false"
}

/// `plan` evaluated at `t` where an instant selector takes the newest sample within
/// `lookback_ms`. A scalar is one sample without labels. `Ok(None)`: the input is absent —
/// the result is empty and every selector matched nothing within the lookback (or its range).
pub fn instant(
    plan: &Plan,
    t: i64,
    q: &dyn Queryable,
    lookback_ms: i64,
) -> Result<Option<Vec<Sample>>, String> {
    let opts = EvalOptions {
        lookback_ms,
        ..EvalOptions::default()
    };
    match promql::eval_with(plan, t, q, opts).map_err(|e| e.0)? {
        Value::Vector(v) if v.is_empty() && absent(plan, t, q, lookback_ms) => Ok(None),
        Value::Vector(v) => Ok(Some(v)),
        Value::Scalar(value) => Ok(Some(vec![Sample {
            labels: Vec::new(),
            value,
        }])),
        _ => Err("the result is not a vector or scalar".into()),
    }
}

/// True when no selector of `plan` has a sample within `lookback_ms` (instant selectors) or
/// its range (range selectors) before `t`; never for an expression without selectors.
pub fn absent(plan: &Plan, t: i64, q: &dyn Queryable, lookback_ms: i64) -> bool {
    let mut sels = Vec::new();
    selectors(plan, &mut sels);
    !sels.is_empty()
        && sels.iter().all(|(s, range)| {
            let end = t - s.offset_ms;
            let from = end - range.unwrap_or(lookback_ms);
            q.select(&s.matchers, from, end).iter().all(|series| {
                series
                    .samples
                    .iter()
                    .all(|(_, v)| crate::model::time::is_stale(*v))
            })
        })
}

/// The label names (not `__name__`) every input has on some of its series: the default `on`.
pub fn shared_names<'a>(inputs: impl IntoIterator<Item = Vec<&'a Labels>>) -> Vec<String> {
    let mut shared: Option<BTreeSet<&str>> = None;
    for labels in inputs {
        let names: BTreeSet<&str> = (labels.iter())
            .flat_map(|l| l.iter().map(|(k, _)| k.as_str()))
            .filter(|k| *k != labels::NAME)
            .collect();
        shared = Some(match shared {
            None => names,
            Some(s) => s.intersection(&names).copied().collect(),
        });
    }
    shared
        .unwrap_or_default()
        .into_iter()
        .map(String::from)
        .collect()
}

/// The labels of `labels` named in `on` (missing ones stay missing, as empty values do).
pub fn join_key(labels: &Labels, on: &[String]) -> Labels {
    let mut key: Labels = (labels.iter())
        .filter(|(k, v)| on.contains(k) && !v.is_empty())
        .cloned()
        .collect();
    key.sort();
    key
}

/// Items by join key; two items of one input with the same key cannot be paired with
/// anything unambiguously, which is an error naming the input and the key.
pub fn by_key<T>(
    input: &str,
    items: impl IntoIterator<Item = (Labels, T)>,
    on: &[String],
) -> Result<BTreeMap<Labels, T>, String> {
    let mut out = BTreeMap::new();
    for (labels, v) in items {
        let key = join_key(&labels, on);
        if out.contains_key(&key) {
            return Err(format!(
                "input {input}: several series match {} on ({}); add labels to `on` or aggregate the input",
                labels::fmt_labels(&key),
                on.join(", ")
            ));
        }
        out.insert(key, v);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::labels::sorted as l;
    use crate::store::memstore::MemStore;

    #[test]
    fn shared_names_intersect_the_inputs_label_names() {
        let a = [
            l(&[("__name__", "a"), ("instance", "x"), ("job", "j")]),
            l(&[("instance", "y"), ("mode", "idle")]),
        ];
        let b = [l(&[("__name__", "b"), ("instance", "x"), ("mode", "m")])];
        let names = shared_names([a.iter().collect(), b.iter().collect()]);
        assert_eq!(names, ["instance", "mode"]);
        assert!(shared_names(Vec::<Vec<&Labels>>::new()).is_empty());
    }

    #[test]
    fn join_keys_and_ambiguity() {
        let on = vec!["instance".to_string()];
        let k = join_key(&l(&[("instance", "x"), ("job", "j")]), &on);
        assert_eq!(k, l(&[("instance", "x")]));
        let ok = by_key("a", [(l(&[("instance", "x")]), 1), (l(&[]), 2)], &on).unwrap();
        assert_eq!(ok.len(), 2);
        let e = by_key(
            "cpu",
            [
                (l(&[("instance", "x"), ("cpu", "0")]), 1),
                (l(&[("instance", "x"), ("cpu", "1")]), 2),
            ],
            &on,
        )
        .unwrap_err();
        assert!(e.starts_with(r#"input cpu: several series match {instance="x"} on (instance)"#));
    }

    #[test]
    fn instant_uses_the_lookback_and_tells_absent_from_empty() {
        let mut s = MemStore::new();
        s.add(&[("__name__", "m")], &[(0, 3.0)]);
        let p = promql::parse("m").unwrap();
        assert_eq!(
            instant(&p, 9_000, &s, 10_000).unwrap().unwrap()[0].value,
            3.0
        );
        assert_eq!(instant(&p, 11_000, &s, 10_000).unwrap(), None);
        let gt = promql::parse("m > 5").unwrap();
        assert_eq!(instant(&gt, 9_000, &s, 10_000).unwrap(), Some(vec![]));
        let sc = promql::parse("scalar(m) * 2").unwrap();
        assert_eq!(
            instant(&sc, 1_000, &s, 10_000).unwrap().unwrap()[0].value,
            6.0
        );
    }
}
