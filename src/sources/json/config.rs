//! Strict decoding of the `json_targets:` section: every path parsed, every expression compiled
//! and every name checked at load, each problem reported with its position.

use std::collections::HashMap;

use super::jsonpath::{self, JsonPath};
use super::map::{Expr, Mapping};
use super::JsonTarget;
use crate::config::common::Global;
use crate::config::yaml;
use crate::config::yaml::{Decoder, Fields, Node, Value};
use crate::model::labels::is_label_name;
use crate::model::labels::is_metric_name;
use crate::model::MetricType;

/// Decodes `json_targets` (a sequence of targets).
pub fn decode(d: &mut Decoder, n: &Node, path: &str, global: &Global) -> Vec<JsonTarget> {
    let mut out: Vec<JsonTarget> = Vec::new();
    let mut names: HashMap<String, yaml::Pos> = HashMap::new();
    // Metric name → type, so one name never has two types across targets.
    let mut kinds: HashMap<String, MetricType> = HashMap::new();
    for (i, item) in d.seq(n, path).iter().enumerate() {
        let p = format!("{path}[{i}]");
        if let Some(t) = decode_target(d, item, &p, global, &mut kinds) {
            let pos = item.value_pos("name");
            if let Some(first) = names.insert(t.name.clone(), pos) {
                d.error(
                    pos,
                    &format!("{p}.name"),
                    format!(
                        "duplicate json target name {:?} (first at line {})",
                        t.name, first.line
                    ),
                );
            }
            out.push(t);
        }
    }
    out
}

fn required(d: &mut Decoder, f: &mut Fields, key: &str, what: &str) -> Option<String> {
    match f.get(key) {
        Some(n) => d.string(n, &f.at(key)),
        None => {
            d.error(f.pos, &f.path, format!("{what} needs a {key}"));
            None
        }
    }
}

/// A JSONPath from a node; `relative_ok` allows `@` paths.
fn path_of(d: &mut Decoder, n: &Node, at: &str, relative_ok: bool) -> Option<JsonPath> {
    let text = d.string(n, at)?;
    match jsonpath::parse(&text) {
        Ok(p) if p.relative && !relative_ok => {
            d.error(n.pos, at, format!("{text:?} must start with '$' here"));
            None
        }
        Ok(p) => Some(p),
        Err(e) => {
            d.error(n.pos, at, format!("invalid JSONPath {text:?}: {e}"));
            None
        }
    }
}

fn decode_target(
    d: &mut Decoder,
    n: &Node,
    path: &str,
    global: &Global,
    kinds: &mut HashMap<String, MetricType>,
) -> Option<JsonTarget> {
    let mut f = d.map(n, path)?;
    let name = required(d, &mut f, "name", "a json target");
    if let Some(nm) = &name {
        if nm.is_empty() {
            d.error(f.pos, &f.at("name"), "must not be empty");
        }
    }
    let url = required(d, &mut f, "url", "a json target");
    if let (Some(u), Some(node)) = (&url, f.get("url")) {
        match reqwest::Url::parse(u) {
            Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => {}
            Ok(_) => d.error(node.pos, &f.at("url"), "the URL must be http or https"),
            Err(e) => {
                let shown = crate::config::redact::url(u);
                d.error(node.pos, &f.at("url"), format!("invalid URL {shown:?}: {e}"));
            }
        }
    }
    let mut interval = global.scrape_interval;
    if let Some(iv) = f.get("interval") {
        match d.duration(iv, &f.at("interval")) {
            Some(v) if v.is_zero() => d.error(iv.pos, &f.at("interval"), "must be greater than 0"),
            Some(v) => interval = v,
            None => {}
        }
    }
    let http = crate::http_client::decode(d, &mut f, global.scrape_timeout.min(interval));
    if http.timeout > interval || http.timeout.is_zero() {
        let pos = f.get("timeout").map_or(f.pos, |t| t.pos);
        let msg = if http.timeout.is_zero() {
            "must be greater than 0".to_string()
        } else {
            format!(
                "timeout ({}) greater than interval ({})",
                yaml::format_duration(http.timeout),
                yaml::format_duration(interval)
            )
        };
        d.error(pos, &f.at("timeout"), msg);
    }
    let mut method = "GET".to_string();
    if let Some(m) = f.get("method") {
        if let Some(v) = d.string(m, &f.at("method")) {
            match v.to_ascii_uppercase().as_str() {
                up @ ("GET" | "POST") => method = up.to_string(),
                _ => d.error(
                    m.pos,
                    &f.at("method"),
                    format!("method must be GET or POST, not {v:?}"),
                ),
            }
        }
    }
    let body_node = f.get("body");
    let body = body_node.and_then(|b| d.string(b, &f.at("body")));
    if let (Some(b), true) = (body_node, method != "POST") {
        d.error(b.pos, &f.at("body"), "a body needs method: POST");
    }
    let timestamp_path = f
        .get("timestamp_path")
        .and_then(|t| path_of(d, t, &f.at("timestamp_path"), false));
    let mut metrics = Vec::new();
    match f.get("metrics") {
        None => d.error(f.pos, &f.path, "a json target needs metrics"),
        Some(ms) => {
            let mp = f.at("metrics");
            let mut series: HashMap<(String, Vec<(String, String)>), usize> = HashMap::new();
            let items = d.seq(ms, &mp);
            if items.is_empty() && matches!(ms.value, Value::Seq(_)) {
                d.error(ms.pos, &mp, "must list at least one metric");
            }
            for (i, m) in items.iter().enumerate() {
                let at = format!("{mp}[{i}]");
                if let Some(mapping) = decode_mapping(d, m, &at, kinds) {
                    // Two fixed-label mappings of one name would give the same series twice.
                    let fixed = mapping.label_paths.is_empty()
                        && !mapping.path.as_ref().is_some_and(JsonPath::has_wildcard);
                    if fixed {
                        let mut labels = mapping.labels.clone();
                        labels.sort();
                        if let Some(j) = series.insert((mapping.name.clone(), labels), i) {
                            d.error(m.pos, &at, format!("same metric and labels as {mp}[{j}]"));
                        }
                    }
                    metrics.push(mapping);
                }
            }
        }
    }
    f.finish(d, "json target");
    Some(JsonTarget {
        name: name?,
        url: url?,
        interval,
        method,
        body,
        http,
        timestamp_path,
        metrics,
    })
}

fn check_label(d: &mut Decoder, pos: yaml::Pos, at: &str, name: &str, seen: &mut Vec<String>) {
    if !is_label_name(name) || name.starts_with("__") {
        d.error(pos, at, format!("invalid label name {name:?}"));
    } else if name == "target" {
        d.error(
            pos,
            at,
            "label \"target\" is reserved (telltale sets it to the target's name)",
        );
    } else if seen.iter().any(|s| s == name) {
        d.error(pos, at, format!("label {name:?} given twice"));
    }
    seen.push(name.to_string());
}

/// The entries of a mapping node with their keys (positions kept for messages).
fn entries<'n>(d: &mut Decoder, n: &'n Node, at: &str) -> Vec<(&'n Node, &'n Node)> {
    if d.map(n, at).is_none() {
        return Vec::new();
    }
    match &n.value {
        Value::Map(e) => e
            .iter()
            .filter(|(k, _)| k.scalar().is_some())
            .map(|(k, v)| (k, v))
            .collect(),
        _ => Vec::new(),
    }
}

fn decode_mapping(
    d: &mut Decoder,
    n: &Node,
    at: &str,
    kinds: &mut HashMap<String, MetricType>,
) -> Option<Mapping> {
    let mut f = d.map(n, at)?;
    let name = required(d, &mut f, "name", "a metric");
    if let Some(nm) = &name {
        let pos = f.get("name").map_or(f.pos, |x| x.pos);
        if !is_metric_name(nm) {
            d.error(pos, &f.at("name"), format!("invalid metric name {nm:?}"));
        } else if nm.starts_with("telltale_target_") {
            d.error(
                pos,
                &f.at("name"),
                "names starting with telltale_target_ are reserved",
            );
        }
    }
    let mut kind = MetricType::Gauge;
    if let Some(t) = f.get("type") {
        match d.string(t, &f.at("type")).as_deref() {
            Some("gauge") => {}
            Some("counter") => kind = MetricType::Counter,
            Some(other) => d.error(
                t.pos,
                &f.at("type"),
                format!("type must be gauge or counter, not {other:?}"),
            ),
            None => {}
        }
    }
    if let Some(nm) = &name {
        match kinds.get(nm) {
            Some(k) if *k != kind => {
                let pos = f.get("type").map_or(f.pos, |t| t.pos);
                d.error(
                    pos,
                    &f.at("type"),
                    format!("metric {nm} has another type elsewhere"),
                );
            }
            Some(_) => {}
            None => {
                kinds.insert(nm.clone(), kind);
            }
        }
    }
    let path = f
        .get("path")
        .and_then(|p| path_of(d, p, &f.at("path"), false));
    let value = f.get("value").and_then(|v| {
        let text = d.string(v, &f.at("value"))?;
        match Expr::compile(&text) {
            Ok(e) => Some(e),
            Err(e) => {
                d.error(
                    v.pos,
                    &f.at("value"),
                    format!("invalid expression {text:?}: {e}"),
                );
                None
            }
        }
    });
    if f.get("path").is_none() && f.get("value").is_none() {
        d.error(
            f.pos,
            &f.path,
            "a metric needs a path, a value expression or both",
        );
    }
    let mut seen = Vec::new();
    let mut labels = Vec::new();
    if let Some(l) = f.get("labels") {
        let lp = f.at("labels");
        for (k, v) in entries(d, l, &lp) {
            let key = k.scalar().unwrap_or_default();
            check_label(d, k.pos, &lp, key, &mut seen);
            if let Some(val) = d.string(v, &format!("{lp}.{key}")) {
                labels.push((key.to_string(), val));
            }
        }
    }
    let mut label_paths = Vec::new();
    if let Some(l) = f.get("label_paths") {
        let lp = f.at("label_paths");
        for (k, v) in entries(d, l, &lp) {
            let key = k.scalar().unwrap_or_default();
            check_label(d, k.pos, &lp, key, &mut seen);
            let vp = format!("{lp}.{key}");
            if let Some(p) = path_of(d, v, &vp, true) {
                if p.has_wildcard() {
                    d.error(v.pos, &vp, "a label path selects one value: no [*]");
                } else {
                    label_paths.push((key.to_string(), p));
                }
            }
        }
    }
    let mut scale = None;
    if let Some(s) = f.get("scale") {
        match d.f64(s, &f.at("scale")) {
            Some(v) if v.is_finite() => scale = Some(v),
            Some(_) => d.error(s.pos, &f.at("scale"), "scale must be a finite number"),
            None => {}
        }
    }
    let timestamp_path = f.get("timestamp_path").and_then(|t| {
        let p = path_of(d, t, &f.at("timestamp_path"), true)?;
        if p.has_wildcard() {
            d.error(
                t.pos,
                &f.at("timestamp_path"),
                "a timestamp path selects one value: no [*]",
            );
            return None;
        }
        Some(p)
    });
    let help = match f.get("help") {
        Some(h) => d.string(h, &f.at("help"))?,
        None => match (&path, &value) {
            (_, Some(e)) => format!("JSON target value: {}", e.text),
            (Some(p), None) => format!("JSON target value at {p}"),
            (None, None) => String::new(),
        },
    };
    f.finish(d, "metric");
    Some(Mapping {
        name: name?,
        help,
        kind,
        path,
        labels,
        label_paths,
        value,
        scale,
        timestamp_path,
    })
}

/// Each error message is covered by tests/config/bad/json_target_*.yml (run by check_config).
#[cfg(test)]
mod tests {
    use crate::app::config::parse;
    use std::time::Duration;

    #[test]
    fn decodes_a_full_target_with_defaults() {
        let c = parse(
            "c.yml",
            r#"global: {scrape_interval: 30s, scrape_timeout: 20s}
json_targets:
  - name: app
    url: http://127.0.0.1:5001/metrics
    interval: 10s
    timestamp_path: $.timestamp
    headers: {X-Key: k}
    metrics:
      - {name: app_response_seconds, path: $.response_time_ms, scale: 0.001}
      - name: app_errors_total
        type: counter
        path: $.items[*].errors
        labels: {env: prod}
        label_paths: {id: '@.id'}
      - {name: app_up, value: 'error_rate < 0.5', help: Healthy.}
"#,
        )
        .unwrap();
        let t = &c.sources.of::<crate::sources::json::JsonTarget>()[0];
        assert_eq!(t.interval, Duration::from_secs(10));
        assert_eq!(t.http.timeout, Duration::from_secs(10));
        assert_eq!(t.method, "GET");
        assert_eq!(t.http.body_size_limit, 4 << 20);
        assert_eq!(t.metrics.len(), 3);
        assert_eq!(t.metrics[0].help, "JSON target value at $.response_time_ms");
        assert_eq!(t.metrics[0].scale, Some(0.001));
        assert_eq!(t.metrics[1].label_paths[0].1.to_string(), "@.id");
        assert_eq!(t.metrics[2].help, "Healthy.");
    }
}
