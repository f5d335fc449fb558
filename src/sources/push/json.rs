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
//!   checked by `model::time` (1970-01-01 to now + 10 minutes, no leap second), else refused;
//! - `value`: a number, or a string Prometheus' text format accepts (`"NaN"`, `"+Inf"`);
//! - `metadata` and unknown fields are ignored.

use std::collections::{BTreeMap, HashMap};

use serde::de::{
    DeserializeSeed, Deserializer, Error as _, IgnoredAny, MapAccess, SeqAccess, Visitor,
};
use serde::Deserialize;
use serde_json::Value as Json;

use crate::model::time::{self, Unit};
use crate::model::{Family, Labels, MetricType, Sample};

pub const HELP: &str = "Metric pushed to telltale through /api/v1/metrics.";

/// A body, `{"metrics": [...]}`, decoded with at most `.0` items: refused at the next one,
/// before the rest is decoded, so a large body never becomes a large `Vec` just to be refused.
struct Body(usize);

/// What a too-long `metrics` array's error says (see [`reason_of`]).
const TOO_MANY: &str = "exceed push.max_samples_per_request";

impl<'de> Visitor<'de> for Body {
    type Value = Vec<Item>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an object with a metrics array")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Vec<Item>, A::Error> {
        let mut metrics = None;
        while let Some(key) = map.next_key::<String>()? {
            if key == "metrics" {
                metrics = Some(map.next_value_seed(Items(self.0))?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        metrics.ok_or_else(|| A::Error::missing_field("metrics"))
    }
}

struct Items(usize);

impl<'de> DeserializeSeed<'de> for Items {
    type Value = Vec<Item>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Vec<Item>, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Items {
    type Value = Vec<Item>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an array of metrics")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Item>, A::Error> {
        let mut out = Vec::new();
        while let Some(item) = seq.next_element::<Item>()? {
            if out.len() == self.0 {
                return Err(A::Error::custom(format!(
                    "push refused: more than {0} metrics in one request {TOO_MANY} ({0})",
                    self.0
                )));
            }
            out.push(item);
        }
        Ok(out)
    }
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

fn timestamp_of(t: &Json, now_ms: i64) -> Result<Option<i64>, String> {
    let checked = match t {
        Json::Null => return Ok(None),
        Json::String(s) => time::from_rfc3339(s, now_ms),
        Json::Number(n) => time::from_number(n.as_f64().unwrap_or(f64::NAN), Unit::Seconds, now_ms),
        _ => return Err("timestamp must be RFC 3339 text or unix seconds".into()),
    };
    checked
        .map(Some)
        .map_err(|e| format!("{TIMESTAMP_ERROR} {t} {e}"))
}

/// How a refused timestamp's message starts.
const TIMESTAMP_ERROR: &str = "timestamp";

/// The HTTP status and refusal reason of a `parse` error: 413 `too_many_samples`, 400
/// `timestamp` for a timestamp outside the accepted range, 400 `malformed` for the rest.
pub fn reason_of(err: &str) -> (u16, &'static str) {
    if err.contains(TOO_MANY) {
        (413, "too_many_samples")
    } else if err.contains(&format!("): {TIMESTAMP_ERROR} ")) {
        (400, "timestamp")
    } else {
        (400, "malformed")
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

fn point(item: Item, now_ms: i64) -> Result<Point, String> {
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
            timestamp_ms: timestamp_of(&item.timestamp, now_ms)?,
        },
    })
}

/// Parses a whole body received at `now_ms`, of at most `max_items` metrics; the first problem
/// fails it, named by the item's index.
pub fn parse(body: &[u8], now_ms: i64, max_items: usize) -> Result<Vec<Point>, String> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let items = de
        .deserialize_map(Body(max_items))
        .and_then(|items| de.end().map(|()| items))
        .map_err(|e| format!("invalid JSON body: {e}"))?;
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let id = item.metric_id.clone();
            point(item, now_ms).map_err(|e| format!("metrics[{i}] ({id:?}): {e}"))
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
mod tests {
    /// 2025-12-06, the wall clock of these tests.
    const NOW: i64 = 1_765_000_000_000;
    use super::*;
    use crate::model::{encode, normalize, Format};

    const SEED: &str = r#"{"metrics": [{"metric_id": "crypto.key.access_count",
  "timestamp": "2024-01-15T10:30:00Z", "value": 42.0, "metric_type": "counter",
  "tags": {"key_type": "encryption", "algorithm": "AES-256"}}],
  "metadata": {"source": "kms", "batch": 7}}"#;

    #[test]
    fn the_seed_body_maps_to_a_counter_with_total() {
        let pts = parse(SEED.as_bytes(), NOW, 100).unwrap();
        assert_eq!(pts.len(), 1);
        let p = &pts[0];
        assert_eq!(p.name, "crypto_key_access_count_total");
        assert_eq!(p.kind, MetricType::Counter);
        assert_eq!(p.sample.value, 42.0);
        assert_eq!(p.sample.timestamp_ms, Some(1_705_314_600_000));
        let text = encode(&normalize(families(pts).unwrap()), Format::Text);
        assert_eq!(
        text,
        "# HELP crypto_key_access_count_total Metric pushed to telltale through /api/v1/metrics.\n\
# TYPE crypto_key_access_count_total counter\n\
crypto_key_access_count_total{algorithm=\"AES-256\",key_type=\"encryption\"} 42 1705314600000\n"
    );
    }

    #[test]
    fn names_and_labels_are_sanitised() {
        assert_eq!(
            metric_name("a.b-c d", MetricType::Gauge).unwrap(),
            "a_b_c_d"
        );
        assert_eq!(
            metric_name("9lives", MetricType::Untyped).unwrap(),
            "_9lives"
        );
        assert_eq!(metric_name("x:y", MetricType::Gauge).unwrap(), "x_y");
        assert_eq!(
            metric_name("http.requests_total", MetricType::Counter).unwrap(),
            "http_requests_total"
        );
        assert!(metric_name("", MetricType::Gauge).is_err());
        let body = r#"{"metrics": [{"metric_id": "m", "value": 1, "metric_type": "Gauge",
        "tags": {"key.type": "a", "2fa": true, "n": 3, "empty": ""}}]}"#;
        let p = &parse(body.as_bytes(), NOW, 100).unwrap()[0];
        assert_eq!(p.kind, MetricType::Gauge);
        let want: Labels = [("_2fa", "true"), ("key_type", "a"), ("n", "3")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(p.sample.labels, want);
        assert_eq!(p.sample.timestamp_ms, None);
    }

    #[test]
    fn timestamps_and_values_in_their_accepted_forms() {
        let one = |item: &str| parse(format!(r#"{{"metrics": [{item}]}}"#).as_bytes(), NOW, 100);
        let p = one(r#"{"metric_id": "m", "value": "NaN", "timestamp": 1705314600.25}"#).unwrap();
        assert!(p[0].sample.value.is_nan());
        assert_eq!(p[0].sample.timestamp_ms, Some(1_705_314_600_250));
        let p = one(r#"{"metric_id": "m", "value": "+Inf", "timestamp": null}"#).unwrap();
        assert_eq!(p[0].sample.value, f64::INFINITY);
        let err = |item: &str| one(item).unwrap_err();
        assert!(
            err(r#"{"metric_id": "m", "value": 1, "timestamp": 1705314600000}"#)
                .contains("is out of range")
        );
        assert!(
            err(r#"{"metric_id": "m", "value": 1, "timestamp": "yesterday"}"#)
                .contains("not RFC 3339")
        );
        // The range itself is model::time's; here, that it reaches the item's message.
        let e = err(r#"{"metric_id": "m", "value": 1, "timestamp": "2016-12-31T23:59:60Z"}"#);
        assert!(e.starts_with("metrics[0] (\"m\"): timestamp "), "{e}");
        assert!(e.contains("leap second"), "{e}");
        assert!(err(r#"{"metric_id": "m", "value": true}"#).contains("value must be a number"));
        assert!(err(r#"{"metric_id": "m", "value": "many"}"#).contains("not a number"));
        assert!(
            err(r#"{"metric_id": "m", "value": 1, "metric_type": "timer"}"#)
                .contains("not one of counter, gauge, untyped")
        );
        assert!(
            err(r#"{"metric_id": "m", "value": -1, "metric_type": "counter"}"#)
                .contains("cannot be negative")
        );
    }

    #[test]
    fn a_body_with_too_many_metrics_is_refused_at_the_first_one_too_many() {
        let item = r#"{"metric_id": "m", "value": 1}"#;
        let body = |n: usize| format!(r#"{{"metrics": [{}], "x": 1}}"#, vec![item; n].join(","));
        assert_eq!(parse(body(3).as_bytes(), NOW, 3).unwrap().len(), 3);
        let e = parse(body(4).as_bytes(), NOW, 3).unwrap_err();
        assert!(e.contains("more than 3 metrics"), "{e}");
        assert_eq!(reason_of(&e), (413, "too_many_samples"));
        // Refused before the rest is read: what follows the fourth item is never looked at.
        let cut = format!(r#"{{"metrics": [{item},{item},{item},{item}, garbage"#);
        assert_eq!(
            reason_of(&parse(cut.as_bytes(), NOW, 3).unwrap_err()).1,
            "too_many_samples"
        );
        assert_eq!(
            reason_of(&parse(b"{", NOW, 3).unwrap_err()),
            (400, "malformed")
        );
    }

    #[test]
    fn bad_items_are_named_by_index() {
        let body = r#"{"metrics": [{"metric_id": "ok", "value": 1},
        {"metric_id": "bad", "value": 1, "tags": {"__name__": "x"}}]}"#;
        let e = parse(body.as_bytes(), NOW, 100).unwrap_err();
        assert!(
            e.starts_with("metrics[1] (\"bad\"): tag \"__name__\""),
            "{e}"
        );
        let body =
            r#"{"metrics": [{"metric_id": "m", "value": 1, "tags": {"a.b": "1", "a_b": "2"}}]}"#;
        assert!(parse(body.as_bytes(), NOW, 100)
            .unwrap_err()
            .contains("also becomes the label \"a_b\""));
        let body = r#"{"metrics": [{"metric_id": "m", "value": 1, "tags": {"a": [1]}}]}"#;
        assert!(parse(body.as_bytes(), NOW, 100)
            .unwrap_err()
            .contains("string, number or boolean"));
        let e = parse(b"{\"metrics\": [{\"value\": 1}]}", NOW, 100).unwrap_err();
        assert!(e.contains("missing field `metric_id`"), "{e}");
        assert!(parse(b"not json", NOW, 100)
            .unwrap_err()
            .starts_with("invalid JSON body"));
        assert!(parse(b"{}", NOW, 100)
            .unwrap_err()
            .contains("missing field `metrics`"));
    }

    #[test]
    fn points_of_one_series_keep_the_latest_and_types_must_agree() {
        let body = r#"{"metrics": [
        {"metric_id": "m", "value": 1, "timestamp": 20, "tags": {"a": "x"}},
        {"metric_id": "m", "value": 2, "timestamp": 10, "tags": {"a": "x"}},
        {"metric_id": "m", "value": 3, "timestamp": 30, "tags": {"a": "y"}}]}"#;
        let fams = families(parse(body.as_bytes(), NOW, 100).unwrap()).unwrap();
        assert_eq!(fams.len(), 1);
        let vals: Vec<f64> = fams[0].samples.iter().map(|s| s.value).collect();
        assert_eq!(vals, vec![1.0, 3.0]);
        let body = r#"{"metrics": [{"metric_id": "m", "value": 1, "metric_type": "gauge"},
        {"metric_id": "m", "value": 1}]}"#;
        let e = families(parse(body.as_bytes(), NOW, 100).unwrap()).unwrap_err();
        assert_eq!(e, "m is pushed both as gauge and as untyped");
    }
}
