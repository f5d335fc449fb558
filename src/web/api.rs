//! `/api/v1/rules`, `/api/v1/alerts` and `/api/v1/targets` in Prometheus' JSON shapes (web/api/v1/api.go), so
//! Grafana and other tools that read Prometheus' rules API read telltale's unchanged.

use std::sync::Arc;

use serde_json::{json, Map, Value};

use crate::config::yaml::format_duration;
use crate::model::time::format_millis;
use crate::model::Labels;
use crate::rules::alert::{Alert, AlertState};
use crate::rules::engine::{Engine, Group};
use crate::rules::eval::RuleState;
use crate::rules::file::Kind;
use crate::sources::Source;

/// Filters of `/api/v1/rules` (`type`, `rule_name[]`, `rule_group[]`, `file[]`,
/// `exclude_alerts`).
#[derive(Debug, Default)]
pub struct RulesQuery {
    pub kind: Option<Kind>,
    pub names: Vec<String>,
    pub groups: Vec<String>,
    pub files: Vec<String>,
    pub exclude_alerts: bool,
}

impl RulesQuery {
    pub fn parse(pairs: &[(String, String)]) -> Result<RulesQuery, String> {
        let mut q = RulesQuery::default();
        for (k, v) in pairs {
            match k.as_str() {
                "type" => {
                    q.kind = match v.as_str() {
                        "alert" => Some(Kind::Alert),
                        "record" => Some(Kind::Record),
                        "" => None,
                        _ => return Err(format!("not supported value {v:?}")),
                    }
                }
                "rule_name[]" => q.names.push(v.clone()),
                "rule_group[]" => q.groups.push(v.clone()),
                "file[]" => q.files.push(v.clone()),
                "exclude_alerts" => q.exclude_alerts = v == "true",
                _ => {}
            }
        }
        Ok(q)
    }
}

pub fn success(data: Value) -> Value {
    json!({"status": "success", "data": data})
}

fn obj(l: &Labels) -> Value {
    Value::Object(
        l.iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect::<Map<_, _>>(),
    )
}

/// Go's `time.Time` zero value, which Prometheus reports for "never".
fn time_or_zero(ms: Option<i64>) -> String {
    ms.map_or_else(|| "0001-01-01T00:00:00Z".into(), format_millis)
}

/// Go's `strconv.FormatFloat(v, 'e', -1, 64)`: `1e+00`, `2.5e-03`, `NaN`, `+Inf`.
fn go_e(v: f64) -> String {
    crate::rules::promtool::go_float_e(v).replace('E', "e")
}

fn alert_json(a: &Alert) -> Value {
    let mut m = json!({
        "labels": obj(&a.labels),
        "annotations": obj(&a.annotations),
        "state": a.state.as_str(),
        "activeAt": format_millis(a.active_at_ms),
        "value": go_e(a.value),
    });
    if let Some(k) = a.keep_firing_since_ms {
        m["keepFiringSince"] = Value::String(format_millis(k));
    }
    m
}

fn rule_json(g: &Group, i: usize, st: &RuleState, exclude_alerts: bool) -> Value {
    let rule = &g.spec.rules[i];
    let labels: Labels = rule.labels.clone();
    let mut m = json!({
        "name": rule.name,
        "query": rule.expr_text,
        "labels": obj(&labels),
        "health": st.health.as_str(),
        "evaluationTime": st.last_duration.as_secs_f64(),
        "lastEvaluation": time_or_zero(st.last_eval_ms),
    });
    if let Some(e) = &st.last_error {
        m["lastError"] = Value::String(e.clone());
    }
    match &st.alert {
        None => m["type"] = "recording".into(),
        Some(a) => {
            m["type"] = "alerting".into();
            m["state"] = a.state().unwrap_or(AlertState::Inactive).as_str().into();
            m["duration"] = rule.for_.as_secs_f64().into();
            m["keepFiringFor"] = rule.keep_firing_for.as_secs_f64().into();
            m["annotations"] = obj(&rule.annotations);
            let alerts: Vec<Value> = if exclude_alerts {
                Vec::new()
            } else {
                a.active_alerts().map(alert_json).collect()
            };
            m["alerts"] = Value::Array(alerts);
        }
    }
    m
}

/// The `data` of `/api/v1/rules`.
pub fn rules(engine: &Engine, q: &RulesQuery) -> Value {
    let mut groups = Vec::new();
    for g in &engine.groups {
        if !q.groups.is_empty() && !q.groups.contains(&g.spec.name) {
            continue;
        }
        if !q.files.is_empty() && !q.files.contains(&g.file) {
            continue;
        }
        let st = g.state();
        let rules: Vec<Value> = g
            .spec
            .rules
            .iter()
            .enumerate()
            .filter(|(_, r)| q.kind.as_ref().is_none_or(|k| *k == r.kind))
            .filter(|(_, r)| q.names.is_empty() || q.names.contains(&r.name))
            .map(|(i, _)| rule_json(g, i, &st.rules[i], q.exclude_alerts))
            .collect();
        if rules.is_empty() && (q.kind.is_some() || !q.names.is_empty()) {
            continue;
        }
        groups.push(json!({
            "name": g.spec.name,
            "file": g.file,
            "rules": rules,
            "interval": g.interval.as_secs_f64(),
            "limit": g.spec.limit,
            "evaluationTime": st.stats.last_duration.as_secs_f64(),
            "lastEvaluation": time_or_zero(st.stats.last_eval_ms),
        }));
    }
    json!({ "groups": groups })
}

/// The `data` of `/api/v1/alerts`: every pending and firing alert.
pub fn alerts(engine: &Engine) -> Value {
    let mut out = Vec::new();
    for g in &engine.groups {
        let st = g.state();
        for rs in &st.rules {
            if let Some(a) = &rs.alert {
                out.extend(a.active_alerts().map(alert_json));
            }
        }
    }
    json!({ "alerts": out })
}

/// `/api/v1/targets` in Prometheus' format.
pub fn targets(sources: &[Arc<dyn Source>]) -> Value {
    let active: Vec<Value> = sources
        .iter()
        .map(|s| {
            let h = s.health();
            let health = match h.up {
                None => "unknown",
                Some(true) => "up",
                Some(false) => "down",
            };
            json!({
                "discoveredLabels": {},
                "labels": {"job": s.kind(), "instance": s.name()},
                "scrapePool": s.kind(),
                "scrapeUrl": s.url(),
                "globalUrl": s.url(),
                "lastError": h.last_error,
                "lastScrape": if h.last_poll_ms > 0 { format_millis(h.last_poll_ms) } else { "0001-01-01T00:00:00Z".to_string() },
                "lastScrapeDuration": h.last_duration.as_secs_f64(),
                "health": health,
                "scrapeInterval": format_duration(s.interval()),
                "scrapeTimeout": format_duration(s.timeout()),
            })
        })
        .collect();
    json!({"status": "success", "data": {"activeTargets": active, "droppedTargets": []}})
}
