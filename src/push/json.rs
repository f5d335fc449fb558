//! The JSON push body of `POST /api/v1/metrics`:
//! `{"metrics": [{"metric_id", "timestamp", "value", "metric_type", "tags"}], "metadata": {...}}`.
//!
//! Mapping (docs/push.md says the same):
//! - `metric_id`: every character outside `[A-Za-z0-9_]` becomes `_` (`crypto.key.access_count`
//!   → `crypto_key_access_count`); a leading digit gets a `_` before it;
//! - `metric_type`: `counter`, `gauge` or `untyped` (any case; absent = untyped). A counter's
//!   name gets `_total` unless it already ends so (Prometheus' and OpenMetrics' naming rule);
//! - `tags` → labels: names sanitised like ids, a name starting with `__` is refused (reserved),
//!   two tags that sanitise to one name are refused; string values as they are, numbers and
//!   booleans as their JSON text, an empty value leaves the label out;
//! - `timestamp`: RFC 3339 text or unix seconds (a number, fractions allowed); absent = none;
//! - `value`: a number, or a string Prometheus' text format accepts (`"NaN"`, `"+Inf"`);
//! - `metadata` and unknown fields are ignored.

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;
use serde_json::Value as Json;

use crate::exposition::{Family, Labels, MetricType, Sample};

pub const HELP: &str = "Metric pushed to telltale through /api/v1/metrics.";

#[derive(Deserialize)]
struct Body {
    metrics: Vec<Item>,
}

#[derive(Deserialize)]
struct Item {
    metric_id: String,
    #[serde(default)]
    timestamp: Json,
    value: Json,
    #[serde(default)]
    metric_type: Option<String>,
    #[serde(default)]
    tags: BTreeMap<String, Json>,
}

/// One pushed point: its family's name and type, and the sample.
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    pub name: String,
    pub kind: MetricType,
    pub sample: Sample,
}

/// `[A-Za-z0-9_]` kept, everything else `_`, a leading digit prefixed with `_`.
pub fn sanitize(id: &str) -> String {
    let mut out: String = id
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// The Prometheus name of a `metric_id` of type `kind`.
pub fn metric_name(id: &str, kind: MetricType) -> Result<String, String> {
    if id.is_empty() {
        return Err("metric_id is empty".into());
    }
    let mut name = sanitize(id);
    if kind == MetricType::Counter && !name.ends_with("_total") {
        name.push_str("_total");
    }
    Ok(name)
}

fn kind_of(t: Option<&str>) -> Result<MetricType, String> {
    match t.map(str::to_ascii_lowercase).as_deref() {
        None | Some("untyped") => Ok(MetricType::Untyped),
        Some("counter") => Ok(MetricType::Counter),
        Some("gauge") => Ok(MetricType::Gauge),
        Some(other) => Err(format!(
            "metric_type {other:?} is not one of counter, gauge, untyped"
        )),
    }
}

fn labels_of(tags: BTreeMap<String, Json>) -> Result<Labels, String> {
    let mut out: Labels = Vec::with_capacity(tags.len());
    for (tag, v) in tags {
        if tag.is_empty() {
            return Err("a tag has an empty name".into());
        }
        let name = sanitize(&tag);
        if name.starts_with("__") {
            return Err(format!(
                "tag {tag:?}: label names starting with __ are reserved"
            ));
        }
        let value = match v {
            Json::String(s) => s,
            Json::Number(n) => n.to_string(),
            Json::Bool(b) => b.to_string(),
            _ => {
                return Err(format!(
                    "tag {tag:?}: the value must be a string, number or boolean"
                ))
            }
        };
        if let Some((_, _)) = out.iter().find(|(k, _)| *k == name) {
            return Err(format!(
                "tag {tag:?}: another tag also becomes the label {name:?}"
            ));
        }
        out.push((name, value));
    }
    out.retain(|(_, v)| !v.is_empty());
    out.sort();
    Ok(out)
}

fn timestamp_of(t: &Json) -> Result<Option<i64>, String> {
    match t {
        Json::Null => Ok(None),
        Json::String(s) => crate::timefmt::parse_rfc3339(s)
            .map(Some)
            .ok_or_else(|| format!("timestamp {s:?} is not RFC 3339 (2024-01-15T10:30:00Z)")),
        Json::Number(n) => {
            let secs = n.as_f64().unwrap_or(f64::NAN);
            // Past 1e11 seconds (year 5138) the number is almost surely in milliseconds.
            if !(0.0..1e11).contains(&secs) {
                return Err(format!("timestamp {n} is not unix seconds"));
            }
            Ok(Some((secs * 1000.0).round() as i64))
        }
        _ => Err("timestamp must be RFC 3339 text or unix seconds".into()),
    }
}

fn value_of(v: &Json) -> Result<f64, String> {
    match v {
        Json::Number(n) => n
            .as_f64()
            .ok_or_else(|| format!("value {n} is not a float")),
        Json::String(s) => crate::collector::textparse::parse_float(s)
            .map_err(|_| format!("value {s:?} is not a number")),
        _ => Err("value must be a number".into()),
    }
}

fn point(item: Item) -> Result<Point, String> {
    let kind = kind_of(item.metric_type.as_deref())?;
    let name = metric_name(&item.metric_id, kind)?;
    let value = value_of(&item.value)?;
    if kind == MetricType::Counter && value < 0.0 {
        return Err(format!("a counter cannot be negative ({value})"));
    }
    Ok(Point {
        name,
        kind,
        sample: Sample {
            labels: labels_of(item.tags)?,
            value,
            timestamp_ms: timestamp_of(&item.timestamp)?,
        },
    })
}

/// Parses a whole body; the first problem fails it, named by the item's index.
pub fn parse(body: &[u8]) -> Result<Vec<Point>, String> {
    let b: Body = serde_json::from_slice(body).map_err(|e| format!("invalid JSON body: {e}"))?;
    b.metrics
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let id = item.metric_id.clone();
            point(item).map_err(|e| format!("metrics[{i}] ({id:?}): {e}"))
        })
        .collect()
}

/// Points as families (one per name, in first-seen order); a later point of the same series
/// replaces an earlier one unless it is older.
pub fn families(points: Vec<Point>) -> Result<Vec<Family>, String> {
    let mut out: Vec<Family> = Vec::new();
    let mut by_name: HashMap<String, usize> = HashMap::new();
    let mut by_series: HashMap<(usize, Labels), usize> = HashMap::new();
    for p in points {
        let fi = *by_name.entry(p.name.clone()).or_insert_with(|| {
            out.push(Family::new(p.name.clone(), HELP, p.kind));
            out.len() - 1
        });
        let fam = &mut out[fi];
        if fam.kind != p.kind {
            return Err(format!(
                "{} is pushed both as {} and as {}",
                p.name,
                fam.kind.text(),
                p.kind.text()
            ));
        }
        match by_series.get(&(fi, p.sample.labels.clone())) {
            Some(&si) => {
                let s = &mut fam.samples[si];
                if s.timestamp_ms <= p.sample.timestamp_ms {
                    *s = p.sample;
                }
            }
            None => {
                by_series.insert((fi, p.sample.labels.clone()), fam.samples.len());
                fam.samples.push(p.sample);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
#[path = "json_tests.rs"]
mod tests;
