use super::*;
use crate::exposition::{encode, normalize, Format};

const SEED: &str = r#"{"metrics": [{"metric_id": "crypto.key.access_count",
  "timestamp": "2024-01-15T10:30:00Z", "value": 42.0, "metric_type": "counter",
  "tags": {"key_type": "encryption", "algorithm": "AES-256"}}],
  "metadata": {"source": "kms", "batch": 7}}"#;

#[test]
fn the_seed_body_maps_to_a_counter_with_total() {
    let pts = parse(SEED.as_bytes()).unwrap();
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
    let p = &parse(body.as_bytes()).unwrap()[0];
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
    let one = |item: &str| parse(format!(r#"{{"metrics": [{item}]}}"#).as_bytes());
    let p = one(r#"{"metric_id": "m", "value": "NaN", "timestamp": 1705314600.25}"#).unwrap();
    assert!(p[0].sample.value.is_nan());
    assert_eq!(p[0].sample.timestamp_ms, Some(1_705_314_600_250));
    let p = one(r#"{"metric_id": "m", "value": "+Inf", "timestamp": null}"#).unwrap();
    assert_eq!(p[0].sample.value, f64::INFINITY);
    let err = |item: &str| one(item).unwrap_err();
    assert!(
        err(r#"{"metric_id": "m", "value": 1, "timestamp": 1705314600000}"#)
            .contains("not unix seconds")
    );
    assert!(
        err(r#"{"metric_id": "m", "value": 1, "timestamp": "yesterday"}"#).contains("not RFC 3339")
    );
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
fn bad_items_are_named_by_index() {
    let body = r#"{"metrics": [{"metric_id": "ok", "value": 1},
        {"metric_id": "bad", "value": 1, "tags": {"__name__": "x"}}]}"#;
    let e = parse(body.as_bytes()).unwrap_err();
    assert!(
        e.starts_with("metrics[1] (\"bad\"): tag \"__name__\""),
        "{e}"
    );
    let body = r#"{"metrics": [{"metric_id": "m", "value": 1, "tags": {"a.b": "1", "a_b": "2"}}]}"#;
    assert!(parse(body.as_bytes())
        .unwrap_err()
        .contains("also becomes the label \"a_b\""));
    let body = r#"{"metrics": [{"metric_id": "m", "value": 1, "tags": {"a": [1]}}]}"#;
    assert!(parse(body.as_bytes())
        .unwrap_err()
        .contains("string, number or boolean"));
    let e = parse(b"{\"metrics\": [{\"value\": 1}]}").unwrap_err();
    assert!(e.contains("missing field `metric_id`"), "{e}");
    assert!(parse(b"not json")
        .unwrap_err()
        .starts_with("invalid JSON body"));
    assert!(parse(b"{}")
        .unwrap_err()
        .contains("missing field `metrics`"));
}

#[test]
fn points_of_one_series_keep_the_latest_and_types_must_agree() {
    let body = r#"{"metrics": [
        {"metric_id": "m", "value": 1, "timestamp": 20, "tags": {"a": "x"}},
        {"metric_id": "m", "value": 2, "timestamp": 10, "tags": {"a": "x"}},
        {"metric_id": "m", "value": 3, "timestamp": 30, "tags": {"a": "y"}}]}"#;
    let fams = families(parse(body.as_bytes()).unwrap()).unwrap();
    assert_eq!(fams.len(), 1);
    let vals: Vec<f64> = fams[0].samples.iter().map(|s| s.value).collect();
    assert_eq!(vals, vec![1.0, 3.0]);
    let body = r#"{"metrics": [{"metric_id": "m", "value": 1, "metric_type": "gauge"},
        {"metric_id": "m", "value": 1}]}"#;
    let e = families(parse(body.as_bytes()).unwrap()).unwrap_err();
    assert_eq!(e, "m is pushed both as gauge and as untyped");
}
