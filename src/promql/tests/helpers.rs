//! Test helpers: promtool-like series loading and compact result rendering.

use crate::model::time::STALE_NAN;
use crate::promql::{eval_instant, eval_with, parse, EvalOptions, Value};
use crate::store::memstore::MemStore;

/// Loads `desc` (e.g. `m{job="a"}`) with values in promtool's expanding notation
/// (`1 2 _ stale 0+10x5`), one per `step_s` seconds starting at 0.
pub fn load(st: &mut MemStore, desc: &str, step_s: i64, values: &str) {
    let (name, rest) = desc.split_once('{').unwrap_or((desc, "}"));
    let mut labels: Vec<(String, String)> = vec![("__name__".into(), name.into())];
    for pair in rest
        .trim_end_matches('}')
        .split(',')
        .filter(|p| !p.is_empty())
    {
        let (k, v) = pair.split_once('=').unwrap();
        labels.push((k.trim().into(), v.trim().trim_matches('"').into()));
    }
    let mut samples = Vec::new();
    let mut i = 0i64;
    for tok in values.split_whitespace() {
        let mut push = |v: Option<f64>| {
            if let Some(v) = v {
                samples.push((i * step_s * 1000, v));
            }
            i += 1;
        };
        match tok {
            "_" => push(None),
            "stale" => push(Some(f64::from_bits(STALE_NAN))),
            _ if tok.contains('x') => {
                let (ab, n) = tok.split_once('x').unwrap();
                let pos = ab[1..].find(['+', '-']).unwrap() + 1;
                let a: f64 = ab[..pos].parse().unwrap();
                let b: f64 = ab[pos..].parse().unwrap();
                for k in 0..=n.parse::<i64>().unwrap() {
                    push(Some(a + b * k as f64));
                }
            }
            _ => push(Some(tok.parse().unwrap())),
        }
    }
    let l: Vec<(&str, &str)> = labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    st.add(&l, &samples);
}

pub fn store(defs: &[(&str, &str)]) -> MemStore {
    let mut st = MemStore::new();
    for (desc, vals) in defs {
        load(&mut st, desc, 60, vals);
    }
    st
}

pub fn eval_opts(st: &MemStore, q: &str, t_s: i64, opts: EvalOptions) -> Result<Value, String> {
    let plan = parse(q)?;
    eval_with(&plan, t_s * 1000, st, opts).map_err(|e| e.0)
}

pub fn eval(st: &MemStore, q: &str, t_s: i64) -> Result<Value, String> {
    eval_instant(&parse(q)?, t_s * 1000, st).map_err(|e| e.0)
}

/// `name{a="b"}` rendering of a label set.
pub fn render(labels: &[(String, String)]) -> String {
    let name = labels
        .iter()
        .find(|(k, _)| k == "__name__")
        .map(|(_, v)| v.as_str());
    let rest: Vec<String> = labels
        .iter()
        .filter(|(k, _)| k != "__name__")
        .map(|(k, v)| format!("{k}=\"{v}\""))
        .collect();
    format!("{}{{{}}}", name.unwrap_or(""), rest.join(","))
}

/// An instant vector result as `(labels, value)` in result order.
pub fn ordered(st: &MemStore, q: &str, t_s: i64) -> Vec<(String, f64)> {
    match eval(st, q, t_s) {
        Ok(Value::Vector(v)) => v.iter().map(|s| (render(&s.labels), s.value)).collect(),
        other => panic!("{q}: expected a vector, got {other:?}"),
    }
}

/// An instant vector result sorted by labels (Prometheus does not order most results).
pub fn vector(st: &MemStore, q: &str, t_s: i64) -> Vec<(String, f64)> {
    let mut v = ordered(st, q, t_s);
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

pub fn scalar(st: &MemStore, q: &str, t_s: i64) -> f64 {
    match eval(st, q, t_s) {
        Ok(Value::Scalar(v)) => v,
        other => panic!("{q}: expected a scalar, got {other:?}"),
    }
}

pub fn error(st: &MemStore, q: &str, t_s: i64) -> String {
    match eval(st, q, t_s) {
        Err(e) => e,
        Ok(v) => panic!("{q}: expected an error, got {v:?}"),
    }
}

/// Compares results with a relative tolerance; NaN equals NaN.
#[track_caller]
pub fn assert_vec(got: Vec<(String, f64)>, want: &[(&str, f64)]) {
    let ok = got.len() == want.len()
        && got
            .iter()
            .zip(want)
            .all(|((gl, gv), (wl, wv))| gl == wl && close(*gv, *wv));
    assert!(ok, "\n got: {got:?}\nwant: {want:?}");
}

pub fn close(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
}
