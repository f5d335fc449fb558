//! The series notation of `promtool test rules`: a metric with labels (`up{job="a"}`) and its
//! values in the expanding notation (`1+2x3 _ stale _x2 5x4`).

use crate::model::time::STALE_NAN;
use crate::model::Labels;

/// One input value: a sample (possibly a staleness marker) or a gap.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Item {
    Value(f64),
    Omitted,
}

/// Parses `name{l="v", ...}`, `name` or `{__name__="name", ...}` into sorted labels, the name
/// as `__name__`. Values may be quoted with `"`, `'` or backticks, with Go escapes in the first two.
pub fn parse_metric(s: &str) -> Result<Labels, String> {
    let s = s.trim();
    let bad = |why: &str| Err(format!("invalid series {s:?}: {why}"));
    let name_len = s
        .char_indices()
        .take_while(|&(i, c)| {
            c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit())
        })
        .count();
    let mut labels: Labels = Vec::new();
    // PromQL's lexer reads `Inf` and `NaN` (any case) as numbers, so promtool rejects them
    // as metric names ("unexpected number").
    if matches!(s[..name_len].to_ascii_lowercase().as_str(), "inf" | "nan") {
        return bad("a metric name cannot be Inf or NaN");
    }
    if name_len > 0 {
        labels.push(("__name__".to_string(), s[..name_len].to_string()));
    }
    let rest = s[name_len..].trim_start();
    if rest.is_empty() {
        return if name_len > 0 {
            Ok(labels)
        } else {
            bad("empty")
        };
    }
    let Some(body) = rest.strip_prefix('{') else {
        return bad("expected '{'");
    };
    let mut chars: Vec<char> = body.chars().collect();
    chars.reverse(); // pop() from the front
    loop {
        skip_ws(&mut chars);
        match chars.last() {
            Some('}') => {
                chars.pop();
                break;
            }
            None => return bad("missing '}'"),
            _ => {}
        }
        let mut name = String::new();
        while let Some(&c) = chars.last() {
            if c.is_ascii_alphanumeric() || c == '_' {
                name.push(c);
                chars.pop();
            } else {
                break;
            }
        }
        if !crate::model::labels::is_label_name(&name) {
            return bad("expected a label name");
        }
        skip_ws(&mut chars);
        if chars.pop() != Some('=') {
            return bad("expected '=' after a label name");
        }
        skip_ws(&mut chars);
        let value = quoted(&mut chars).map_err(|e| format!("invalid series {s:?}: {e}"))?;
        if labels.iter().any(|(k, _)| *k == name) {
            return bad(&format!("duplicate label {name:?}"));
        }
        labels.push((name, value));
        skip_ws(&mut chars);
        match chars.pop() {
            Some(',') => {}
            Some('}') => break,
            _ => return bad("expected ',' or '}'"),
        }
    }
    skip_ws(&mut chars);
    if !chars.is_empty() {
        return bad("trailing characters after '}'");
    }
    labels.sort();
    Ok(labels)
}

fn skip_ws(chars: &mut Vec<char>) {
    while chars.last().is_some_and(|c| c.is_whitespace()) {
        chars.pop();
    }
}

/// A quoted label value; `chars` is reversed (the next char is last).
fn quoted(chars: &mut Vec<char>) -> Result<String, String> {
    let q = chars.pop().ok_or("expected a quoted label value")?;
    if !matches!(q, '"' | '\'' | '`') {
        return Err("expected a quoted label value".into());
    }
    let mut out = String::new();
    loop {
        let c = chars.pop().ok_or("unterminated quoted string")?;
        if c == q {
            return Ok(out);
        }
        if c != '\\' || q == '`' {
            out.push(c);
            continue;
        }
        let e = chars.pop().ok_or("unterminated quoted string")?;
        out.push(match e {
            'n' => '\n',
            't' => '\t',
            'r' => '\r',
            '\\' | '"' | '\'' => e,
            'a' => '\x07',
            'b' => '\x08',
            'f' => '\x0c',
            'v' => '\x0b',
            'u' | 'x' => {
                let n = if e == 'u' { 4 } else { 2 };
                let hex: String = (0..n).filter_map(|_| chars.pop()).collect();
                u32::from_str_radix(&hex, 16)
                    .ok()
                    .and_then(char::from_u32)
                    .ok_or("invalid escape in quoted string")?
            }
            _ => return Err(format!("unknown escape sequence \\{e}")),
        });
    }
}

/// Scans a number at the start of `s` (sign, digits, fraction, exponent, or Inf/NaN);
/// returns it and the rest.
fn number(s: &str) -> Option<(f64, &str)> {
    let b = s.as_bytes();
    let mut i = usize::from(matches!(b.first(), Some(b'+' | b'-')));
    let word = s.get(i..i + 3).map(str::to_ascii_lowercase);
    if matches!(word.as_deref(), Some("inf" | "nan")) {
        i += 3;
        // The lexer reads a whole identifier first: `Infx2` or `NaN_1` is not a number.
        if b.get(i)
            .is_some_and(|&c| c.is_ascii_alphanumeric() || c == b'_' || c == b':')
        {
            return None;
        }
    } else {
        let start = i;
        while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
            i += 1;
        }
        if i == start {
            return None;
        }
        if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
            let mut j = i + 1;
            if j < b.len() && (b[j] == b'+' || b[j] == b'-') {
                j += 1;
            }
            if j < b.len() && b[j].is_ascii_digit() {
                while j < b.len() && b[j].is_ascii_digit() {
                    j += 1;
                }
                i = j;
            }
        }
    }
    let v = crate::config::yaml::parse_float(&s[..i]).or_else(|| {
        // parse_float knows `+Inf`/`NaN` spelled one way; accept any case as PromQL does.
        let t = s[..i].to_ascii_lowercase();
        let neg = t.starts_with('-');
        match t.trim_start_matches(['+', '-']) {
            "inf" if neg => Some(f64::NEG_INFINITY),
            "inf" => Some(f64::INFINITY),
            "nan" => Some(f64::NAN),
            _ => None,
        }
    })?;
    Some((v, &s[i..]))
}

fn times(s: &str) -> Result<u64, String> {
    s.parse::<u64>()
        .map_err(|_| format!("invalid repetition count {s:?}"))
}

/// Expands a `values` string: `a` one value, `axn` n+1 copies, `a+bxn` / `a-bxn` n+1 values
/// stepping by b, `_` a gap, `_xn` n gaps, `stale` a staleness marker.
pub fn parse_values(s: &str) -> Result<Vec<Item>, String> {
    let mut out = Vec::new();
    for tok in s.split_whitespace() {
        let bad = || format!("invalid value {tok:?} in series values");
        if tok == "_" {
            out.push(Item::Omitted);
            continue;
        }
        if let Some(n) = tok.strip_prefix("_x") {
            let n = times(n)?;
            out.extend((0..n).map(|_| Item::Omitted));
            continue;
        }
        if tok == "stale" {
            out.push(Item::Value(f64::from_bits(STALE_NAN)));
            continue;
        }
        let (a, rest) = number(tok).ok_or_else(bad)?;
        if rest.is_empty() {
            out.push(Item::Value(a));
            continue;
        }
        let (step, rest) = match rest.as_bytes()[0] {
            b'+' | b'-' => {
                let (b, r) = number(rest).ok_or_else(bad)?;
                (b, r)
            }
            _ => (0.0, rest),
        };
        let n = times(rest.strip_prefix('x').ok_or_else(bad)?)?;
        let mut v = a;
        for _ in 0..=n {
            out.push(Item::Value(v));
            v += step;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vals(s: &str) -> Vec<Option<f64>> {
        parse_values(s)
            .unwrap()
            .into_iter()
            .map(|i| match i {
                Item::Value(v) => Some(v),
                Item::Omitted => None,
            })
            .collect()
    }

    #[test]
    fn expanding_notation() {
        assert_eq!(vals("-2+4x3"), [-2.0, 2.0, 6.0, 10.0].map(Some));
        assert_eq!(vals("10-2x2"), [10.0, 8.0, 6.0].map(Some));
        assert_eq!(vals("7x2"), [7.0, 7.0, 7.0].map(Some));
        assert_eq!(vals("1 _x3 2"), [Some(1.0), None, None, None, Some(2.0)]);
        assert_eq!(vals("_ 1e3 0.5"), [None, Some(1000.0), Some(0.5)]);
        assert_eq!(vals("1e2+1e1x1"), [100.0, 110.0].map(Some));
        assert_eq!(
            vals("+Inf -Inf"),
            [f64::INFINITY, f64::NEG_INFINITY].map(Some)
        );
        assert!(vals("NaN")[0].unwrap().is_nan());
        assert!(vals("NaN+1x2")[2].unwrap().is_nan());
        assert_eq!(
            vals("1 Inf+1x1"),
            [1.0, f64::INFINITY, f64::INFINITY].map(Some)
        );
    }

    #[test]
    fn stale_is_the_staleness_marker() {
        let v = parse_values("1 stale").unwrap();
        assert_eq!(v[0], Item::Value(1.0));
        let Item::Value(s) = v[1] else { panic!() };
        assert_eq!(s.to_bits(), STALE_NAN);
    }

    #[test]
    fn bad_values_are_errors() {
        for bad in [
            "x", "1+", "1+2", "1x", "1xa", "1+2y3", "_xq", "stalex2", "1-x3", "Infx2", "NaNx2",
            "1+Infx2", "Inf_x",
        ] {
            assert!(parse_values(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn metrics() {
        let l = parse_metric(r#"up{job="a", instance='b:1',x=`c\d`}"#).unwrap();
        let want: Labels = [
            ("__name__", "up"),
            ("instance", "b:1"),
            ("job", "a"),
            ("x", r"c\d"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(l, want);
        assert_eq!(parse_metric("job:up:sum").unwrap()[0].1, "job:up:sum");
        assert_eq!(
            parse_metric(r#"{__name__="m",a="x\"y",}"#).unwrap()[1].1,
            "x\"y"
        );
        assert!(parse_metric("{}").unwrap().is_empty());
        assert_eq!(parse_metric("infinity").unwrap()[0].1, "infinity");
        for bad in [
            "",
            "up{",
            "up{a}",
            "up{a=b}",
            "up{a=\"1\",a=\"2\"}",
            "up{} x",
            "{1a=\"b\"}",
            "Inf",
            "nan{a=\"b\"}",
        ] {
            assert!(parse_metric(bad).is_err(), "{bad}");
        }
    }
}
