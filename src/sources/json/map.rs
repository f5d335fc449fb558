//! Turning one decoded JSON document into metric families by a target's mappings: paths, label
//! paths, `evalexpr` value expressions, scale and timestamps. Pure (document in, families out) so
//! every rule is unit-tested without HTTP.

use evalexpr::{ContextWithMutableVariables, HashMapContext, Value as EValue};
use serde_json::Value;

use super::jsonpath::JsonPath;
use crate::model::{time, Family, MetricType, Sample};

/// A compiled `value:` expression and the variables it reads.
#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    pub text: String,
    tree: evalexpr::Node,
    vars: Vec<String>,
}

/// The variable holding the value the mapping's `path` selected.
pub const VALUE_VAR: &str = "value";

impl Expr {
    /// Compiles and dry-runs the expression (every variable = 1.0), so unknown functions,
    /// assignments and non-numeric results are config errors, not poll errors.
    pub fn compile(text: &str) -> Result<Expr, String> {
        let tree = evalexpr::build_operator_tree(text).map_err(|e| e.to_string())?;
        let mut vars: Vec<String> = tree.iter_variable_identifiers().map(String::from).collect();
        vars.sort();
        vars.dedup();
        let e = Expr {
            text: text.to_string(),
            tree,
            vars,
        };
        let ones: Vec<(String, f64)> = e.vars.iter().map(|v| (v.clone(), 1.0)).collect();
        e.eval_with(&ones)?;
        Ok(e)
    }

    fn eval_with(&self, vars: &[(String, f64)]) -> Result<f64, String> {
        let mut ctx = HashMapContext::new();
        for (k, v) in vars {
            ctx.set_value(k.clone(), EValue::Float(*v))
                .map_err(|e| e.to_string())?;
        }
        match self.tree.eval_with_context(&ctx) {
            Ok(EValue::Float(f)) => Ok(f),
            Ok(EValue::Int(i)) => Ok(i as f64),
            Ok(EValue::Boolean(b)) => Ok(f64::from(u8::from(b))),
            Ok(other) => Err(format!("the result {other} is not a number")),
            Err(e) => Err(e.to_string()),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Mapping {
    pub name: String,
    pub help: String,
    pub kind: MetricType,
    pub path: Option<JsonPath>,
    pub labels: Vec<(String, String)>,
    /// Label values from the document; `@` paths start at the element `[*]` matched.
    pub label_paths: Vec<(String, JsonPath)>,
    pub value: Option<Expr>,
    pub scale: Option<f64>,
    pub timestamp_path: Option<JsonPath>,
}

/// Why a document did not map, with its counter reason.
#[derive(Clone, Debug, PartialEq)]
pub struct MapError {
    pub reason: &'static str,
    pub msg: String,
}

impl MapError {
    pub fn missing(msg: String) -> Self {
        MapError {
            reason: "path_missing",
            msg,
        }
    }
    pub fn value_type(msg: String) -> Self {
        MapError {
            reason: "value_type",
            msg,
        }
    }
    pub fn timestamp(msg: String) -> Self {
        MapError {
            reason: "timestamp",
            msg,
        }
    }
}

/// A JSON value as a sample value: numbers, booleans as 1/0, numeric strings.
pub fn to_number(v: &Value, what: &str) -> Result<f64, MapError> {
    let bad = |k: &str| MapError::value_type(format!("{what} is {k}, not a number"));
    match v {
        Value::Number(n) => n.as_f64().ok_or_else(|| bad("an unrepresentable number")),
        Value::Bool(b) => Ok(f64::from(u8::from(*b))),
        Value::String(s) => crate::config::yaml::parse_float(s.trim())
            .ok_or_else(|| bad(&format!("the string {:?}", truncate(s)))),
        Value::Null => Err(bad("null")),
        Value::Array(_) => Err(bad("an array")),
        Value::Object(_) => Err(bad("an object")),
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(40).collect()
}

fn label_value(v: &Value, what: &str) -> Result<String, MapError> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Null => Ok(String::new()),
        _ => Err(MapError::value_type(format!(
            "{what} is an array or object, not a label value"
        ))),
    }
}


/// An expression variable: a field of the element, then of the document (`a.b` is nested).
fn lookup<'a>(name: &str, scopes: &[&'a Value]) -> Option<&'a Value> {
    scopes.iter().find_map(|s| {
        name.split('.')
            .try_fold(*s, |cur, k| cur.as_object().and_then(|m| m.get(k)))
    })
}

/// The samples of one mapping for document `doc`, each labelled `target`.
pub fn map_one(
    m: &Mapping,
    target: &str,
    target_ts: Option<&JsonPath>,
    doc: &Value,
    now_ms: i64,
) -> Result<Family, MapError> {
    let mut fam = Family::new(m.name.clone(), m.help.clone(), m.kind);
    let matches = match &m.path {
        Some(p) => p.select(doc).map_err(MapError::missing)?,
        None => vec![super::jsonpath::Match {
            element: None,
            value: doc,
        }],
    };
    for found in matches {
        let mut labels = Vec::with_capacity(1 + m.labels.len() + m.label_paths.len());
        labels.push(("target".to_string(), target.to_string()));
        labels.extend(m.labels.iter().cloned());
        for (name, p) in &m.label_paths {
            let v = p.get(doc, found.element).map_err(MapError::missing)?;
            labels.push((
                name.clone(),
                label_value(v, &format!("label {name} ({p})"))?,
            ));
        }
        let what = || match &m.path {
            Some(p) => format!("{p} for {}", m.name),
            None => m.name.clone(),
        };
        let mut value = match &m.value {
            None => to_number(found.value, &what())?,
            Some(e) => {
                let mut scopes: Vec<&Value> = found.element.into_iter().collect();
                scopes.push(doc);
                let mut vars = Vec::with_capacity(e.vars.len());
                for var in &e.vars {
                    let v = if var == VALUE_VAR && m.path.is_some() {
                        to_number(found.value, &what())?
                    } else {
                        let raw = lookup(var, &scopes).ok_or_else(|| {
                            MapError::missing(format!(
                                "variable {var} of {}'s expression not found in the response",
                                m.name
                            ))
                        })?;
                        to_number(raw, &format!("variable {var} of {}'s expression", m.name))?
                    };
                    vars.push((var.clone(), v));
                }
                e.eval_with(&vars).map_err(|err| {
                    MapError::value_type(format!("expression {:?} of {}: {err}", e.text, m.name))
                })?
            }
        };
        if let Some(s) = m.scale {
            value *= s;
        }
        let timestamp_ms = match m.timestamp_path.as_ref().or(target_ts) {
            None => None,
            Some(p) => {
                let raw = p.get(doc, found.element).map_err(MapError::missing)?;
                let v = to_number(raw, &format!("timestamp {p}"))?;
                Some(
                    time::from_number(v, time::Unit::SecondsOrMillis, now_ms)
                        .map_err(|e| MapError::timestamp(format!("timestamp {p} ({v}) {e}")))?,
                )
            }
        };
        fam.samples.push(Sample {
            labels,
            value,
            timestamp_ms,
        });
    }
    Ok(fam)
}

/// Every mapping of a target; the first failure fails the whole poll (the target is down).
pub fn map_all(
    mappings: &[Mapping],
    target: &str,
    target_ts: Option<&JsonPath>,
    doc: &Value,
    now_ms: i64,
) -> Result<Vec<Family>, MapError> {
    mappings
        .iter()
        .map(|m| map_one(m, target, target_ts, doc, now_ms))
        .collect()
}

#[cfg(test)]
mod tests {
    /// 2025-12-06, the wall clock of these tests.
    const NOW: i64 = 1_765_000_000_000;
    use super::*;
    use crate::sources::json::jsonpath::parse;
    use serde_json::json;

    fn mapping(name: &str, path: Option<&str>) -> Mapping {
        Mapping {
            name: name.into(),
            help: "h".into(),
            kind: MetricType::Gauge,
            path: path.map(|p| parse(p).unwrap()),
            labels: vec![],
            label_paths: vec![],
            value: None,
            scale: None,
            timestamp_path: None,
        }
    }

    fn samples(f: &Family) -> Vec<(String, f64, Option<i64>)> {
        f.samples
            .iter()
            .map(|s| {
                let l: Vec<String> = s.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
                (l.join(","), s.value, s.timestamp_ms)
            })
            .collect()
    }

    fn hyphenmon() -> Value {
        json!({"timestamp": 1718000000, "response_time_ms": 123, "error_rate": 0.02,
               "ok": true, "count": "42", "name": "svc",
               "items": [{"id": "a", "lat": 5, "up": false}, {"id": 7, "lat": 6.5, "up": true}]})
    }

    #[test]
    fn plain_paths_bools_and_numeric_strings() {
        let doc = hyphenmon();
        for (path, want) in [
            ("$.response_time_ms", 123.0),
            ("$.ok", 1.0),
            ("$.count", 42.0),
        ] {
            let f = map_one(&mapping("m", Some(path)), "t", None, &doc, NOW).unwrap();
            assert_eq!(samples(&f), vec![("target=t".into(), want, None)], "{path}");
        }
    }

    #[test]
    fn wildcards_with_label_paths_constants_scale_and_timestamp() {
        let mut m = mapping("lat", Some("$.items[*].lat"));
        m.labels = vec![("env".into(), "prod".into())];
        m.label_paths = vec![
            ("id".into(), parse("@.id").unwrap()),
            ("svc".into(), parse("$.name").unwrap()),
        ];
        m.scale = Some(0.5);
        let ts = parse("$.timestamp").unwrap();
        let f = map_one(&m, "t", Some(&ts), &hyphenmon(), NOW).unwrap();
        assert_eq!(
            samples(&f),
            vec![
                (
                    "target=t,env=prod,id=a,svc=svc".into(),
                    2.5,
                    Some(1_718_000_000_000)
                ),
                (
                    "target=t,env=prod,id=7,svc=svc".into(),
                    3.25,
                    Some(1_718_000_000_000)
                ),
            ]
        );
    }

    #[test]
    fn expressions_read_fields_and_value() {
        let doc = hyphenmon();
        let mut m = mapping("rt", None);
        m.value = Some(Expr::compile("response_time_ms / 1000").unwrap());
        assert_eq!(
            map_one(&m, "t", None, &doc, NOW).unwrap().samples[0].value,
            0.123
        );
        let mut m = mapping("x", Some("$.items[*].lat"));
        m.value = Some(Expr::compile("value * 2 + if(up > 0, 100, 0) + error_rate").unwrap());
        let got: Vec<f64> = map_one(&m, "t", None, &doc, NOW)
            .unwrap()
            .samples
            .iter()
            .map(|s| s.value)
            .collect();
        assert!(
            (got[0] - 10.02).abs() < 1e-9 && (got[1] - 113.02).abs() < 1e-9,
            "{got:?}"
        );
        let mut m = mapping("b", None);
        m.value = Some(Expr::compile("error_rate > 0.01").unwrap());
        assert_eq!(map_one(&m, "t", None, &doc, NOW).unwrap().samples[0].value, 1.0);
    }

    #[test]
    fn expressions_are_checked_at_compile_time() {
        assert!(Expr::compile("a / ").is_err());
        assert!(Expr::compile("nosuchfn(a)").is_err());
        assert!(Expr::compile("a = 3").is_err());
        assert!(Expr::compile("\"text\"").is_err());
        assert!(Expr::compile("math::ln(a) + b.c").is_ok());
    }

    #[test]
    fn failures_have_their_reasons() {
        let doc =
            json!({"s": "fast", "n": null, "o": {}, "items": [{"v": 1}, {"v": 2, "id": [1]}]});
        let err = |m: Mapping| map_one(&m, "t", None, &doc, NOW).unwrap_err();
        let e = err(mapping("m", Some("$.absent")));
        assert_eq!(
            (e.reason, e.msg.as_str()),
            ("path_missing", "$.absent not found")
        );
        let e = err(mapping("m", Some("$.s")));
        assert_eq!(e.reason, "value_type");
        assert!(e.msg.contains("the string \"fast\""), "{}", e.msg);
        assert_eq!(err(mapping("m", Some("$.n"))).reason, "value_type");
        assert_eq!(err(mapping("m", Some("$.o"))).reason, "value_type");
        let mut m = mapping("m", Some("$.items[*].v"));
        m.label_paths = vec![("id".into(), parse("@.id").unwrap())];
        let e = err(m.clone());
        assert_eq!(
            (e.reason, e.msg.as_str()),
            ("path_missing", "@.id not found")
        );
        let mut m = mapping("m", None);
        m.value = Some(Expr::compile("nope * 2").unwrap());
        assert_eq!(err(m).reason, "path_missing");
        let mut m = mapping("m", Some("$.items[0].v"));
        m.timestamp_path = Some(parse("$.s").unwrap());
        assert_eq!(err(m).reason, "value_type");
    }

    #[test]
    fn timestamps_are_checked_by_the_one_validation() {
        let doc = json!({"v": 1, "s": 1_718_000_000, "ms": 1_718_000_000_123u64,
            "y9999": 253_402_300_799u64, "huge": 1e308, "u64": 18_446_744_073_709_551_615u64,
            "big": 1.23e29, "y2100": 4_102_444_800u64});
        let at = |field: &str| {
            let mut m = mapping("m", Some("$.v"));
            m.timestamp_path = Some(parse(&format!("$.{field}")).unwrap());
            map_one(&m, "t", None, &doc, NOW).map(|f| f.samples[0].timestamp_ms)
        };
        assert_eq!(at("s").unwrap(), Some(1_718_000_000_000));
        assert_eq!(at("ms").unwrap(), Some(1_718_000_000_123));
        for (field, says) in [
            ("y9999", "ambiguous"),
            ("huge", "out of range"),
            ("u64", "out of range"),
            ("big", "out of range"),
            ("y2100", "too far in the future"),
        ] {
            let e = at(field).unwrap_err();
            assert_eq!(e.reason, "timestamp", "{field}");
            assert!(e.msg.contains(says), "{field}: {}", e.msg);
        }
    }

    #[test]
    fn map_all_stops_at_the_first_failure() {
        let doc = hyphenmon();
        let ok = map_all(
            &[
                mapping("a", Some("$.error_rate")),
                mapping("b", Some("$.ok")),
            ],
            "t",
            None,
            &doc,
            NOW,
        );
        assert_eq!(ok.unwrap().len(), 2);
        let bad = map_all(
            &[
                mapping("a", Some("$.error_rate")),
                mapping("b", Some("$.zz")),
            ],
            "t",
            None,
            &doc,
            NOW,
        );
        assert_eq!(bad.unwrap_err().reason, "path_missing");
    }
}
