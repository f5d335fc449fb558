//! The template functions, with Prometheus' exact output (`template/template.go` in 2.42) and
//! Go's built-ins (`eq`, `printf`, ...) with Go's type rules.

use super::gofmt::{fmt_g, sprint, sprintf, type_name};
use super::Value;

const BUILTINS: &[&str] = &[
    "and", "or", "not", "len", "index", "print", "printf", "println", "eq", "ne", "lt", "le", "gt",
    "ge",
];
const PROMETHEUS: &[&str] = &[
    "humanize",
    "humanize1024",
    "humanizeDuration",
    "humanizePercentage",
    "humanizeTimestamp",
    "title",
    "toUpper",
    "toLower",
    "stripPort",
    "match",
    "reReplaceAll",
    "externalURL",
];
/// telltale's own: `json` writes its argument as a JSON value (a string quoted and escaped, a
/// number, a map as an object), for notifier bodies that are JSON (`body_template`), so a
/// label value such as `a", "injected": "yes` stays one string.
const TELLTALE: &[&str] = &["json"];
/// Functions Prometheus has that telltale deliberately lacks: a load-time error naming them.
const UNSUPPORTED: &[&str] = &[
    "query",
    "first",
    "label",
    "value",
    "strvalue",
    "sortByLabel",
    "args",
    "safeHtml",
    "tmpl",
    "graphLink",
    "tableLink",
    "pathPrefix",
    "toTime",
    "toDuration",
    "now",
    "parseDuration",
    "urlQueryEscape",
    "stripDomain",
    "html",
    "js",
    "urlquery",
    "slice",
    "call",
];

pub fn known(name: &str) -> bool {
    BUILTINS.contains(&name) || PROMETHEUS.contains(&name) || TELLTALE.contains(&name)
}

/// `json`: the value as JSON text; a number as Go prints it, one that JSON cannot hold (NaN,
/// ±Inf) as that text in a string.
fn to_json(v: &Value) -> Result<String, String> {
    use serde_json::Value as J;
    // Go's text for a number (`2`, `1.234567e+06`) is JSON's too.
    let num = |f: f64| {
        let text = sprint(&Value::Float(f));
        match f.is_finite() {
            true => serde_json::from_str(&text).unwrap_or(J::String(text)),
            false => J::String(text),
        }
    };
    let j = match v {
        Value::Nil => J::Null,
        Value::Bool(b) => J::Bool(*b),
        Value::Int(i) => J::from(*i),
        Value::Float(f) => num(*f),
        Value::Str(x) => J::String(x.clone()),
        Value::Map(m) => J::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), J::String(v.clone())))
                .collect(),
        ),
        Value::Floats(m) => J::Object(m.iter().map(|(k, v)| (k.clone(), num(*v))).collect()),
        Value::Root => {
            return Err(format!(
                "wrong type for value; expected a string, number or map; got {}",
                type_name(v)
            ))
        }
    };
    Ok(j.to_string())
}

pub fn unsupported(name: &str) -> Option<String> {
    UNSUPPORTED
        .contains(&name)
        .then(|| format!("function {name:?} is not supported by telltale templates"))
}

/// Go's truth: false, 0, "", empty map and nil are false.
pub fn truth(v: &Value) -> bool {
    match v {
        Value::Nil => false,
        Value::Bool(b) => *b,
        Value::Int(i) => *i != 0,
        Value::Float(f) => *f != 0.0,
        Value::Str(s) => !s.is_empty(),
        Value::Map(m) => !m.is_empty(),
        Value::Floats(m) => !m.is_empty(),
        Value::Root => true,
    }
}

/// Prometheus' `convertToFloat`: numbers as they are, strings through `strconv.ParseFloat`.
fn to_float(v: &Value) -> Result<f64, String> {
    match v {
        Value::Float(f) => Ok(*f),
        Value::Int(i) => Ok(*i as f64),
        Value::Str(s) => s
            .parse::<f64>()
            .map_err(|_| format!("strconv.ParseFloat: parsing {s:?}: invalid syntax")),
        v => Err(format!("can't convert {} to float", type_name(v))),
    }
}

fn string_arg(v: &Value) -> Result<&str, String> {
    match v {
        Value::Str(s) => Ok(s),
        v => Err(format!(
            "wrong type for value; expected string; got {}",
            type_name(v)
        )),
    }
}

fn g4(v: f64) -> String {
    fmt_g(v, Some(4), false)
}

pub fn humanize(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return g4(v);
    }
    let (mut v, mut prefix) = (v, "");
    if v.abs() >= 1.0 {
        for p in ["k", "M", "G", "T", "P", "E", "Z", "Y"] {
            if v.abs() < 1000.0 {
                break;
            }
            prefix = p;
            v /= 1000.0;
        }
    } else {
        for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
            if v.abs() >= 1.0 {
                break;
            }
            prefix = p;
            v *= 1000.0;
        }
    }
    format!("{}{prefix}", g4(v))
}

pub fn humanize1024(v: f64) -> String {
    if v.abs() <= 1.0 || !v.is_finite() {
        return g4(v);
    }
    let (mut v, mut prefix) = (v, "");
    for p in ["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"] {
        if v.abs() < 1024.0 {
            break;
        }
        prefix = p;
        v /= 1024.0;
    }
    format!("{}{prefix}", g4(v))
}

pub fn humanize_duration(v: f64) -> String {
    if !v.is_finite() {
        return g4(v);
    }
    if v == 0.0 {
        return format!("{}s", g4(v));
    }
    if v.abs() >= 1.0 {
        let sign = if v < 0.0 { "-" } else { "" };
        let v = v.abs();
        // Go's int64(v): out of range gives the minimum, so huge durations come out negative.
        let n = if v < TWO63 { v as i64 } else { i64::MIN };
        let (s, m, h, d) = (n % 60, (n / 60) % 60, (n / 3600) % 24, n / 86400);
        return if d != 0 {
            format!("{sign}{d}d {h}h {m}m {s}s")
        } else if h != 0 {
            format!("{sign}{h}h {m}m {s}s")
        } else if m != 0 {
            format!("{sign}{m}m {s}s")
        } else {
            format!("{sign}{}s", g4(v))
        };
    }
    let (mut v, mut prefix) = (v, "");
    for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    format!("{}{prefix}s", g4(v))
}

/// Go's `time.Time.String()` in UTC of a unix time in seconds, truncated to milliseconds
/// (Prometheus goes through `model.Time`).
/// 2^63, Go's `float64(math.MaxInt64)`.
const TWO63: f64 = 9_223_372_036_854_775_808.0;

pub fn humanize_timestamp(v: f64) -> Result<String, String> {
    if !v.is_finite() {
        return Ok(g4(v));
    }
    // Prometheus' floatToTime: the bounds are int64's, converted to float64 (±2^63).
    let ns = v * 1e9;
    if !(-TWO63..=TWO63).contains(&ns) {
        let v = fmt_g(v, None, false);
        return Err(format!(
            "{v} cannot be represented as a nanoseconds timestamp since it overflows int64"
        ));
    }
    let ns = if ns < TWO63 { ns as i64 } else { i64::MIN }; // Go's int64() of 2^63
    let ms = ns / 1_000_000;
    let (secs, frac) = (ms.div_euclid(1000), ms.rem_euclid(1000));
    let (y, mo, d) = crate::model::time::civil_from_days(secs.div_euclid(86400));
    let sod = secs.rem_euclid(86400);
    let mut out = format!(
        "{y:04}-{mo:02}-{d:02} {:02}:{:02}:{:02}",
        sod / 3600,
        (sod / 60) % 60,
        sod % 60
    );
    if frac != 0 {
        out.push_str(format!(".{frac:03}").trim_end_matches('0'));
    }
    out.push_str(" +0000 UTC");
    Ok(out)
}

/// Go's `strings.Title`: upper-cases the first letter after each separator.
pub fn title(s: &str) -> String {
    let sep = |c: char| {
        if c.is_ascii() {
            !(c.is_ascii_alphanumeric() || c == '_')
        } else {
            !c.is_alphanumeric() && c.is_whitespace()
        }
    };
    let mut prev = ' ';
    s.chars()
        .map(|c| {
            let out = if sep(prev) {
                c.to_uppercase().next().unwrap_or(c)
            } else {
                c
            };
            prev = c;
            out
        })
        .collect()
}

fn strip_port(s: &str) -> String {
    if let Some(rest) = s.strip_prefix('[') {
        if let Some((host, port)) = rest.split_once("]:") {
            if !port.contains(':') {
                return host.to_string();
            }
        }
        return s.to_string();
    }
    match s.split_once(':') {
        Some((h, p)) if !p.contains(':') => h.to_string(),
        _ => s.to_string(),
    }
}

fn regex(p: &str) -> Result<regex::Regex, String> {
    regex::Regex::new(p).map_err(|e| format!("regexp: Compile({p:?}): {e}"))
}

/// Go's comparison built-ins: both operands must have the same basic kind. Go derives `gt` as
/// `!le` and `ge` as `!lt`, so with a NaN operand (unordered) `ne`, `gt` and `ge` are true.
fn compare(op: &str, a: &Value, b: &Value) -> Result<bool, String> {
    use std::cmp::Ordering;
    use Value::*;
    let by = |o: Option<Ordering>| match (op, o) {
        (_, None) => matches!(op, "ne" | "gt" | "ge"),
        ("eq", Some(o)) => o.is_eq(),
        ("ne", Some(o)) => o.is_ne(),
        ("lt", Some(o)) => o.is_lt(),
        ("le", Some(o)) => o.is_le(),
        ("gt", Some(o)) => o.is_gt(),
        (_, Some(o)) => o.is_ge(),
    };
    match (a, b) {
        (Int(x), Int(y)) => Ok(by(x.partial_cmp(y))),
        (Float(x), Float(y)) => Ok(by(x.partial_cmp(y))),
        (Str(x), Str(y)) => Ok(by(x.partial_cmp(y))),
        (Bool(x), Bool(y)) if op == "eq" || op == "ne" => Ok(by(x.partial_cmp(y))),
        (Int(_) | Float(_) | Str(_) | Bool(_), Int(_) | Float(_) | Str(_) | Bool(_))
            if std::mem::discriminant(a) != std::mem::discriminant(b) =>
        {
            Err("incompatible types for comparison".into())
        }
        _ => Err("invalid type for comparison".into()),
    }
}

fn want(name: &str, args: &[Value], n: usize) -> Result<(), String> {
    if args.len() == n {
        Ok(())
    } else {
        Err(format!(
            "wrong number of args for {name}: want {n} got {}",
            args.len()
        ))
    }
}

/// Go's `fmt.Sprint`: spaces between operands when neither is a string.
fn go_print(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        let is_str = |v: &Value| matches!(v, Value::Str(_));
        if i > 0 && !is_str(a) && !is_str(&args[i - 1]) {
            out.push(' ');
        }
        out.push_str(&sprint(a));
    }
    out
}

/// Calls function `name` (not `and`/`or`, which the executor short-circuits). An `Err` whose
/// text starts with "wrong" is a type error (Go does not prefix it with "error calling").
pub fn call(name: &str, args: &[Value], external_url: &str) -> Result<Value, String> {
    let s = |x: String| Ok(Value::Str(x));
    match name {
        "humanize" | "humanize1024" | "humanizeDuration" | "humanizePercentage"
        | "humanizeTimestamp" => {
            want(name, args, 1)?;
            let v = to_float(&args[0])?;
            match name {
                "humanize" => s(humanize(v)),
                "humanize1024" => s(humanize1024(v)),
                "humanizeDuration" => s(humanize_duration(v)),
                "humanizePercentage" => s(format!("{}%", g4(v * 100.0))),
                _ => s(humanize_timestamp(v)?),
            }
        }
        "title" | "toUpper" | "toLower" | "stripPort" => {
            want(name, args, 1)?;
            let a = string_arg(&args[0])?;
            match name {
                "title" => s(title(a)),
                "toUpper" => s(a.to_uppercase()),
                "toLower" => s(a.to_lowercase()),
                _ => s(strip_port(a)),
            }
        }
        "match" => {
            want(name, args, 2)?;
            let re = regex(string_arg(&args[0])?)?;
            Ok(Value::Bool(re.is_match(string_arg(&args[1])?)))
        }
        "reReplaceAll" => {
            want(name, args, 3)?;
            let re = regex(string_arg(&args[0])?)?;
            let (repl, text) = (string_arg(&args[1])?, string_arg(&args[2])?);
            s(re.replace_all(text, repl).into_owned())
        }
        "json" => {
            want(name, args, 1)?;
            s(to_json(&args[0])?)
        }
        "externalURL" => {
            want(name, args, 0)?;
            s(external_url.to_string())
        }
        "not" => {
            want(name, args, 1)?;
            Ok(Value::Bool(!truth(&args[0])))
        }
        "len" => {
            want(name, args, 1)?;
            match &args[0] {
                Value::Str(x) => Ok(Value::Int(x.len() as i64)),
                Value::Map(m) => Ok(Value::Int(m.len() as i64)),
                Value::Floats(m) => Ok(Value::Int(m.len() as i64)),
                v => Err(format!("len of type {}", type_name(v))),
            }
        }
        "index" => match args {
            [Value::Map(m), Value::Str(k)] => s(m.get(k).cloned().unwrap_or_default()),
            [Value::Floats(m), Value::Str(k)] => {
                Ok(Value::Float(m.get(k).copied().unwrap_or_default()))
            }
            [v] => Ok(v.clone()),
            [v, ..] => Err(format!("can't index item of type {}", type_name(v))),
            [] => Err("wrong number of args for index: want at least 1 got 0".into()),
        },
        "print" => s(go_print(args)),
        "println" => {
            let parts: Vec<String> = args.iter().map(sprint).collect();
            s(parts.join(" ") + "\n")
        }
        "printf" => match args.split_first() {
            Some((Value::Str(f), rest)) => s(sprintf(f, rest)),
            Some((v, _)) => Err(format!(
                "wrong type for value; expected string; got {}",
                type_name(v)
            )),
            None => Err("wrong number of args for printf: want at least 1 got 0".into()),
        },
        "eq" => {
            if args.len() < 2 {
                return Err("missing argument for comparison".into());
            }
            for b in &args[1..] {
                if compare(name, &args[0], b)? {
                    return Ok(Value::Bool(true));
                }
            }
            Ok(Value::Bool(false))
        }
        "ne" | "lt" | "le" | "gt" | "ge" => {
            want(name, args, 2)?;
            Ok(Value::Bool(compare(name, &args[0], &args[1])?))
        }
        _ => Err(format!("function {name:?} not defined")),
    }
}
