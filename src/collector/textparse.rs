//! A parser for the Prometheus text exposition format 0.0.4, strict where Go's `expfmt.TextParser`
//! (which node_exporter's textfile collector uses) is strict, so the same files are rejected.

use std::collections::HashMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Untyped,
    Histogram,
    Summary,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Simple(f64),
    /// Quantiles in file order, `_sum`, `_count` (Go keeps the count as uint64).
    Summary {
        quantiles: Vec<(f64, f64)>,
        sum: f64,
        count: u64,
    },
    /// Buckets (upper bound, cumulative count) in file order, `_sum`, `_count`.
    Histogram {
        buckets: Vec<(f64, u64)>,
        sum: f64,
        count: u64,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Metric {
    pub labels: Vec<(String, String)>,
    pub value: Value,
    pub timestamp_ms: Option<i64>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ParsedFamily {
    pub name: String,
    pub help: Option<String>,
    pub kind: Option<Kind>,
    pub metrics: Vec<Metric>,
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':'
}
fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

/// Splits a leading metric (or, without ':', label) name off `s`.
fn take_name(s: &str, colon: bool) -> (&str, &str) {
    let ok = |c: char| is_name_char(c) && (colon || c != ':');
    if !s.starts_with(|c| is_name_start(c) && (colon || c != ':')) {
        return ("", s);
    }
    let end = s.find(|c| !ok(c)).unwrap_or(s.len());
    s.split_at(end)
}

fn unescape(s: &str, quote: bool) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('"') if quote => out.push('"'),
            other => {
                return Err(format!(
                    "invalid escape sequence '\\{}'",
                    other.unwrap_or(' ')
                ))
            }
        }
    }
    Ok(out)
}

/// Go's expfmt float: strconv.ParseFloat without hex exponents or underscores.
pub fn parse_float(s: &str) -> Result<f64, String> {
    if s.is_empty() || s.contains(['p', 'P', '_']) {
        return Err(format!("expected float as value, got {s:?}"));
    }
    s.parse::<f64>()
        .map_err(|_| format!("expected float as value, got {s:?}"))
}

fn trim_blank(s: &str) -> &str {
    s.trim_start_matches([' ', '\t'])
}

#[derive(Default)]
struct Parser {
    fams: Vec<ParsedFamily>,
    index: HashMap<String, usize>,
    /// Per summary/histogram family: label set → metric index, to group their samples.
    groups: HashMap<(usize, Vec<(String, String)>), usize>,
}

impl Parser {
    fn family(&mut self, name: &str) -> usize {
        if let Some(&i) = self.index.get(name) {
            return i;
        }
        self.fams.push(ParsedFamily {
            name: name.to_string(),
            help: None,
            kind: None,
            metrics: Vec::new(),
        });
        self.index.insert(name.to_string(), self.fams.len() - 1);
        self.fams.len() - 1
    }

    /// Which family a sample name belongs to, and its suffix role for summaries/histograms.
    fn resolve(&mut self, name: &str) -> (usize, &'static str) {
        if let Some(&i) = self.index.get(name) {
            return (i, "");
        }
        for (suffix, kinds) in [
            ("_sum", &[Kind::Summary, Kind::Histogram][..]),
            ("_count", &[Kind::Summary, Kind::Histogram][..]),
            ("_bucket", &[Kind::Histogram][..]),
        ] {
            if let Some(base) = name.strip_suffix(suffix) {
                if let Some(&i) = self.index.get(base) {
                    if self.fams[i].kind.is_some_and(|k| kinds.contains(&k)) {
                        return (i, suffix);
                    }
                }
            }
        }
        (self.family(name), "")
    }

    fn comment(&mut self, rest: &str) -> Result<(), String> {
        let rest = trim_blank(rest);
        let (keyword, rest) = rest.split_at(rest.find([' ', '\t']).unwrap_or(rest.len()));
        if keyword != "HELP" && keyword != "TYPE" {
            return Ok(());
        }
        let (name, rest) = take_name(trim_blank(rest), true);
        if name.is_empty() && !trim_blank(rest).is_empty() {
            return Err("invalid metric name in comment".into());
        }
        if rest.is_empty() {
            return Ok(());
        }
        if !rest.starts_with([' ', '\t']) {
            return Err("invalid metric name in comment".into());
        }
        let i = self.family(name);
        let text = trim_blank(rest);
        if text.is_empty() {
            return Ok(());
        }
        let f = &mut self.fams[i];
        if keyword == "HELP" {
            if f.help.is_some() {
                return Err(format!("second HELP line for metric name {name:?}"));
            }
            f.help = Some(unescape(text, false)?);
            return Ok(());
        }
        if f.kind.is_some() {
            return Err(format!(
                "second TYPE line for metric name {name:?}, or TYPE reported after samples"
            ));
        }
        let word = text.split([' ', '\t']).next().unwrap_or("");
        f.kind = Some(match word.to_ascii_lowercase().as_str() {
            "counter" => Kind::Counter,
            "gauge" => Kind::Gauge,
            "untyped" => Kind::Untyped,
            "histogram" => Kind::Histogram,
            "summary" => Kind::Summary,
            _ => return Err(format!("unknown metric type {word:?}")),
        });
        Ok(())
    }

    fn sample(&mut self, line: &str) -> Result<(), String> {
        let (name, mut rest) = take_name(line, true);
        if name.is_empty() {
            return Err("invalid metric name".into());
        }
        let (fi, suffix) = self.resolve(name);
        let kind = *self.fams[fi].kind.get_or_insert(Kind::Untyped);
        let special = match kind {
            Kind::Summary => "quantile",
            Kind::Histogram => "le",
            _ => "",
        };
        let mut labels: Vec<(String, String)> = Vec::new();
        let mut bound = None;
        rest = trim_blank(rest);
        if let Some(mut l) = rest.strip_prefix('{') {
            loop {
                l = trim_blank(l);
                if let Some(after) = l.strip_prefix('}') {
                    rest = after;
                    break;
                }
                let (lname, after) = take_name(l, false);
                if lname.is_empty() {
                    return Err(format!("invalid label name for metric {name:?}"));
                }
                if lname == "__name__" {
                    return Err("label name \"__name__\" is reserved".into());
                }
                let after = trim_blank(after)
                    .strip_prefix('=')
                    .ok_or("expected '=' after label name")?;
                let after = trim_blank(after)
                    .strip_prefix('"')
                    .ok_or("expected '\"' at start of label value")?;
                let end = closing_quote(after)
                    .ok_or_else(|| format!("label value {after:?} contains unescaped new-line"))?;
                let value = unescape(&after[..end], true)?;
                if lname == special {
                    bound = Some(parse_float(&value).map_err(|_| {
                        format!("expected float as value for {special:?} label, got {value:?}")
                    })?);
                } else {
                    if labels.iter().any(|(k, _)| k == lname) {
                        return Err(format!("duplicate label names for metric {name:?}"));
                    }
                    labels.push((lname.to_string(), value));
                }
                l = trim_blank(&after[end + 1..]);
                if let Some(next) = l.strip_prefix(',') {
                    l = next;
                } else if !l.starts_with('}') {
                    return Err("unexpected end of label value".into());
                }
            }
        }
        let mut tokens = trim_blank(rest)
            .split([' ', '\t'])
            .filter(|t| !t.is_empty());
        let value = parse_float(tokens.next().unwrap_or(""))?;
        let timestamp_ms = match tokens.next() {
            Some(t) => Some(
                t.parse::<i64>()
                    .map_err(|_| format!("expected integer as timestamp, got {t:?}"))?,
            ),
            None => None,
        };
        if tokens.next().is_some() {
            return Err("spurious string after timestamp".into());
        }
        self.record(fi, kind, suffix, labels, bound, value, timestamp_ms);
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn record(
        &mut self,
        fi: usize,
        kind: Kind,
        suffix: &str,
        labels: Vec<(String, String)>,
        bound: Option<f64>,
        value: f64,
        ts: Option<i64>,
    ) {
        let fam = &mut self.fams[fi];
        let empty = match kind {
            Kind::Summary => Value::Summary {
                quantiles: vec![],
                sum: 0.0,
                count: 0,
            },
            Kind::Histogram => Value::Histogram {
                buckets: vec![],
                sum: 0.0,
                count: 0,
            },
            _ => {
                fam.metrics.push(Metric {
                    labels,
                    value: Value::Simple(value),
                    timestamp_ms: ts,
                });
                return;
            }
        };
        let mi = *self.groups.entry((fi, labels.clone())).or_insert_with(|| {
            fam.metrics.push(Metric {
                labels,
                value: empty,
                timestamp_ms: None,
            });
            fam.metrics.len() - 1
        });
        let m = &mut fam.metrics[mi];
        m.timestamp_ms = m.timestamp_ms.or(ts);
        match (&mut m.value, suffix) {
            (Value::Summary { sum, .. } | Value::Histogram { sum, .. }, "_sum") => *sum = value,
            (Value::Summary { count, .. } | Value::Histogram { count, .. }, "_count") => {
                *count = value as u64
            }
            (Value::Summary { quantiles, .. }, "") => quantiles.extend(bound.map(|q| (q, value))),
            (Value::Histogram { buckets, .. }, "_bucket" | "") => {
                buckets.extend(bound.map(|b| (b, value as u64)))
            }
            _ => {}
        }
    }
}

/// Index of the unescaped closing quote of a label value.
fn closing_quote(s: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => return Some(i),
            _ => {}
        }
    }
    None
}

/// Parses a whole file; families without samples are dropped, as expfmt does.
pub fn parse(text: &str) -> Result<Vec<ParsedFamily>, String> {
    let mut p = Parser::default();
    for (n, line) in text.split('\n').enumerate() {
        let line = trim_blank(line);
        let res = if let Some(rest) = line.strip_prefix('#') {
            p.comment(rest)
        } else if line.is_empty() {
            Ok(())
        } else {
            p.sample(line)
        };
        res.map_err(|e| format!("text format parsing error in line {}: {e}", n + 1))?;
    }
    p.fams.retain(|f| !f.metrics.is_empty());
    Ok(p.fams)
}

#[cfg(test)]
/// Unit tests of the text-format parser: accepted shapes and the errors Go's parser also raises.
mod tests {
    use super::*;

    fn one(text: &str) -> ParsedFamily {
        let mut f = parse(text).unwrap();
        assert_eq!(f.len(), 1, "{f:?}");
        f.remove(0)
    }

    #[test]
    fn help_type_and_escapes() {
        let f = one("# HELP a_b Help with \\\\ and \\n.\n# TYPE a_b gauge\na_b{x=\"q\\\"v\",y=\"C:\\\\d\\n\"} 1.5\n");
        assert_eq!(f.help.as_deref(), Some("Help with \\ and \n."));
        assert_eq!(f.kind, Some(Kind::Gauge));
        assert_eq!(
            f.metrics[0].labels,
            vec![("x".into(), "q\"v".into()), ("y".into(), "C:\\d\n".into())]
        );
        assert_eq!(f.metrics[0].value, Value::Simple(1.5));
    }

    #[test]
    fn untyped_default_timestamps_and_specials() {
        let fams =
            parse("a 1 1700000000000\nb{} +Inf\nc NaN\n\n  # just a comment\nd{l=\"v\",} -3e2\n")
                .unwrap();
        assert_eq!(fams.len(), 4);
        assert_eq!(fams[0].kind, Some(Kind::Untyped));
        assert_eq!(fams[0].metrics[0].timestamp_ms, Some(1_700_000_000_000));
        assert_eq!(fams[1].metrics[0].value, Value::Simple(f64::INFINITY));
        assert!(matches!(fams[2].metrics[0].value, Value::Simple(v) if v.is_nan()));
        assert_eq!(fams[3].metrics[0].value, Value::Simple(-300.0));
    }

    #[test]
    fn help_without_text_is_unset_and_empty_families_vanish() {
        let fams = parse("# HELP g\n# TYPE empty counter\ng 1\n").unwrap();
        assert_eq!(fams.len(), 1);
        assert_eq!(fams[0].help, None);
    }

    #[test]
    fn histograms_and_summaries_group_by_labels() {
        let h = one("# TYPE h histogram\nh_bucket{le=\"1\",a=\"x\"} 1\nh_bucket{a=\"x\",le=\"+Inf\"} 2.9\nh_sum{a=\"x\"} 3\nh_count{a=\"x\"} 2\n");
        assert_eq!(h.metrics.len(), 1);
        assert_eq!(h.metrics[0].labels, vec![("a".into(), "x".into())]);
        assert_eq!(
            h.metrics[0].value,
            Value::Histogram {
                buckets: vec![(1.0, 1), (f64::INFINITY, 2)],
                sum: 3.0,
                count: 2
            }
        );
        let s = one(
            "# TYPE s summary\ns{quantile=\"0.5\"} 0.1\ns_sum 9\ns_count 4\ns{quantile=\"0.9\"} 0.2\n",
        );
        assert_eq!(
            s.metrics[0].value,
            Value::Summary {
                quantiles: vec![(0.5, 0.1), (0.9, 0.2)],
                sum: 9.0,
                count: 4
            }
        );
        // Without a summary TYPE, `_sum` is a family of its own.
        assert_eq!(parse("x 1\nx_sum 2\n").unwrap().len(), 2);
    }

    #[test]
    fn errors_match_go_parser() {
        for bad in [
            "m{l=\"unterminated} 1\n",
            "# TYPE m gauge\n# TYPE m gauge\n",
            "m 1\n# TYPE m gauge\n",
            "# HELP m a\n# HELP m b\n",
            "# TYPE m gaugeish\n",
            "m{l=\"a\",l=\"b\"} 1\n",
            "m{l=\"\\x\"} 1\n",
            "m{1l=\"a\"} 1\n",
            "m{l \"a\"} 1\n",
            "m{l=\"a\" x=\"b\"} 1\n",
            "m{__name__=\"a\"} 1\n",
            "m one\n",
            "m 1_000\n",
            "m 1 2 3\n",
            "m 1 1.5\n",
            "m\n",
            "{l=\"a\"} 1\n",
            "# HELP 1m x\n",
            "# HELP m bad \\t escape\n",
            "# TYPE h histogram\nh_bucket{le=\"x\"} 1\n",
        ] {
            let err = parse(bad).expect_err(bad);
            assert!(
                err.starts_with("text format parsing error in line"),
                "{err}"
            );
        }
    }
}
