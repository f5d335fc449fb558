//! Metric families and their two text encodings: Prometheus text 0.0.4 and OpenMetrics 1.0.
//! Output is sorted (families by name, samples by labels) so goldens are stable.

use std::fmt::Write;

use super::labels::Labels;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricType {
    Counter,
    Gauge,
    Untyped,
    /// Samples carry `SUFFIX_LABEL` (`_bucket`, `_sum`, `_count`), see `Family::observe`.
    Histogram,
    /// Quantile samples (a `quantile` label, no suffix) and `_sum`/`_count` by `SUFFIX_LABEL`.
    Summary,
}

/// A reserved label (Prometheus never exposes `__` labels) naming the sample-name suffix of a
/// histogram's samples; the encoders append it to the family name and leave the label out.
pub const SUFFIX_LABEL: &str = "__suffix__";

impl MetricType {
    /// The type word of the text format (`counter`, `gauge`, ...).
    pub fn text(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Untyped => "untyped",
            MetricType::Histogram => "histogram",
            MetricType::Summary => "summary",
        }
    }
    fn openmetrics(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Untyped => "unknown",
            MetricType::Histogram => "histogram",
            MetricType::Summary => "summary",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub labels: Labels,
    pub value: f64,
    /// Milliseconds since the epoch, when the source gives one (Zabbix's lastclock).
    pub timestamp_ms: Option<i64>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Family {
    pub name: String,
    pub help: String,
    pub kind: MetricType,
    pub samples: Vec<Sample>,
}

impl Family {
    pub fn new(name: impl Into<String>, help: impl Into<String>, kind: MetricType) -> Self {
        Family {
            name: name.into(),
            help: help.into(),
            kind,
            samples: Vec::new(),
        }
    }
    pub fn gauge(name: impl Into<String>, help: impl Into<String>) -> Self {
        Self::new(name, help, MetricType::Gauge)
    }
    pub fn counter(name: impl Into<String>, help: impl Into<String>) -> Self {
        Self::new(name, help, MetricType::Counter)
    }
    pub fn untyped(name: impl Into<String>, help: impl Into<String>) -> Self {
        Self::new(name, help, MetricType::Untyped)
    }

    /// Adds a sample; label pairs are given as `&[("cpu", "0"), ("mode", "idle")]`.
    pub fn add(&mut self, labels: &[(&str, &str)], value: f64) -> &mut Self {
        self.samples.push(Sample {
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            value,
            timestamp_ms: None,
        });
        self
    }

    pub fn histogram(name: impl Into<String>, help: impl Into<String>) -> Self {
        Self::new(name, help, MetricType::Histogram)
    }

    /// Adds one histogram series: cumulative `buckets` as (upper bound, count) in increasing
    /// order (`+Inf` is added from `count`), then `_sum` and `_count`.
    pub fn observe(
        &mut self,
        labels: &[(&str, &str)],
        buckets: &[(f64, u64)],
        sum: f64,
        count: u64,
    ) -> &mut Self {
        let mut bounds: Vec<(String, f64)> = buckets
            .iter()
            .map(|(le, n)| {
                let mut s = String::new();
                write_value(&mut s, *le);
                (s, *n as f64)
            })
            .collect();
        bounds.push(("+Inf".into(), count as f64));
        for (le, n) in bounds {
            let mut l: Vec<(&str, &str)> = labels.to_vec();
            l.push(("le", &le));
            l.push((SUFFIX_LABEL, "_bucket"));
            self.add(&l, n);
        }
        for (suffix, v) in [("_sum", sum), ("_count", count as f64)] {
            let mut l: Vec<(&str, &str)> = labels.to_vec();
            l.push((SUFFIX_LABEL, suffix));
            self.add(&l, v);
        }
        self
    }

    /// Builder form of `add` for one-sample families.
    pub fn with(mut self, labels: &[(&str, &str)], value: f64) -> Self {
        self.add(labels, value);
        self
    }
}

/// Sorts families by name and samples by label pairs, and merges families that share a name.
pub fn normalize(mut families: Vec<Family>) -> Vec<Family> {
    families.sort_by(|a, b| a.name.cmp(&b.name));
    let mut out: Vec<Family> = Vec::with_capacity(families.len());
    for f in families {
        match out.last_mut() {
            Some(last) if last.name == f.name => last.samples.extend(f.samples),
            _ => out.push(f),
        }
    }
    for f in &mut out {
        for s in &mut f.samples {
            s.labels.sort();
        }
        if matches!(f.kind, MetricType::Histogram | MetricType::Summary) {
            // One series' buckets or quantiles (by bound), sum and count together, as both
            // formats want.
            f.samples
                .sort_by(|a, b| histogram_key(&a.labels).cmp(&histogram_key(&b.labels)));
        } else {
            f.samples.sort_by(|a, b| a.labels.cmp(&b.labels));
        }
        f.samples.dedup_by(|a, b| a.labels == b.labels);
    }
    out
}

/// Sort key of a histogram sample: its series labels, then bucket bound, `_sum`, `_count`.
fn histogram_key(labels: &Labels) -> (Vec<&(String, String)>, u8, OrdF64) {
    let series: Vec<&(String, String)> = labels
        .iter()
        .filter(|(k, _)| k != SUFFIX_LABEL && k != "le" && k != "quantile")
        .collect();
    let get = |n: &str| labels.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
    let rank = match get(SUFFIX_LABEL) {
        Some("_sum") => 1,
        Some("_count") => 2,
        _ => 0,
    };
    let le = get("le").or(get("quantile")).map_or(0.0, |v| {
        if v == "+Inf" {
            f64::INFINITY
        } else {
            v.parse().unwrap_or(0.0)
        }
    });
    (series, rank, OrdF64(le))
}

struct OrdF64(f64);
impl PartialEq for OrdF64 {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o).is_eq()
    }
}
impl Eq for OrdF64 {}
impl PartialOrd for OrdF64 {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for OrdF64 {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&o.0)
    }
}

/// The sample name (family name plus a histogram suffix) and whether the sample has one.
fn suffixed_name<'a>(base: &'a str, s: &'a Sample) -> (std::borrow::Cow<'a, str>, bool) {
    match s.labels.iter().find(|(k, _)| k == SUFFIX_LABEL) {
        Some((_, suffix)) => (format!("{base}{suffix}").into(), true),
        None => (base.into(), false),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    OpenMetrics,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }

    /// Picks the format from an `Accept` header by its q-values, as Prometheus' client libraries do.
    pub fn negotiate(accept: Option<&str>) -> Format {
        let Some(accept) = accept else {
            return Format::Text;
        };
        let mut best = (Format::Text, -1.0f64);
        for part in accept.split(',') {
            let mut params = part.split(';').map(str::trim);
            let media = params.next().unwrap_or("");
            let mut q = 1.0;
            let mut version = None;
            for p in params {
                if let Some(v) = p.strip_prefix("q=") {
                    q = v.parse().unwrap_or(0.0);
                } else if let Some(v) = p.strip_prefix("version=") {
                    version = Some(v);
                }
            }
            let fmt = match media {
                "application/openmetrics-text" if matches!(version, None | Some("1.0.0")) => {
                    Format::OpenMetrics
                }
                "text/plain" | "*/*" => Format::Text,
                _ => continue,
            };
            if q > best.1 {
                best = (fmt, q);
            }
        }
        best.0
    }
}

/// Encodes already-normalized families.
pub fn encode(families: &[Family], format: Format) -> String {
    let mut out = String::with_capacity(families.len() * 160);
    for f in families {
        if f.samples.is_empty() {
            continue;
        }
        match format {
            Format::Text => encode_text(&mut out, f),
            Format::OpenMetrics => encode_openmetrics(&mut out, f),
        }
    }
    if format == Format::OpenMetrics {
        out.push_str("# EOF\n");
    }
    out
}

fn encode_text(out: &mut String, f: &Family) {
    out.push_str("# HELP ");
    out.push_str(&f.name);
    out.push(' ');
    escape_help(out, &f.help, false);
    out.push_str("\n# TYPE ");
    out.push_str(&f.name);
    out.push(' ');
    out.push_str(f.kind.text());
    out.push('\n');
    for s in &f.samples {
        let (name, _) = suffixed_name(&f.name, s);
        out.push_str(&name);
        write_labels(out, &s.labels, false);
        out.push(' ');
        write_value(out, s.value);
        if let Some(ts) = s.timestamp_ms {
            let _ = write!(out, " {ts}");
        }
        out.push('\n');
    }
}

fn encode_openmetrics(out: &mut String, f: &Family) {
    // OpenMetrics names a counter family without `_total` and its sample with it.
    let (family, sample_name) = match f.kind {
        MetricType::Counter => match f.name.strip_suffix("_total") {
            Some(base) => (base.to_string(), f.name.clone()),
            None => (f.name.clone(), format!("{}_total", f.name)),
        },
        _ => (f.name.clone(), f.name.clone()),
    };
    let _ = write!(out, "# HELP {family} ");
    escape_help(out, &f.help, true);
    let _ = writeln!(out, "\n# TYPE {family} {}", f.kind.openmetrics());
    for s in &f.samples {
        match suffixed_name(&f.name, s) {
            (name, true) => out.push_str(&name),
            _ => out.push_str(&sample_name),
        }
        write_labels(out, &s.labels, true);
        out.push(' ');
        write_value(out, s.value);
        if let Some(ts) = s.timestamp_ms {
            let _ = write!(out, " {}.{:03}", ts.div_euclid(1000), ts.rem_euclid(1000));
        }
        out.push('\n');
    }
}

fn escape_help(out: &mut String, help: &str, quotes: bool) {
    for c in help.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if quotes => out.push_str("\\\""),
            _ => out.push(c),
        }
    }
}

/// Writes `{k="v",...}`, leaving out the suffix label; OpenMetrics wants `le` bounds as
/// canonical floats (`1.0`, not `1`).
fn write_labels(out: &mut String, labels: &Labels, openmetrics: bool) {
    let mut first = true;
    for (k, v) in labels {
        if k == SUFFIX_LABEL {
            continue;
        }
        out.push(if first { '{' } else { ',' });
        first = false;
        out.push_str(k);
        out.push_str("=\"");
        let canonical;
        let v = if openmetrics && k == "le" && !v.contains(['.', 'e', 'I', 'N']) {
            canonical = format!("{v}.0");
            &canonical
        } else {
            v
        };
        for c in v.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                '\n' => out.push_str("\\n"),
                _ => out.push(c),
            }
        }
        out.push('"');
    }
    if !first {
        out.push('}');
    }
}

/// Writes a float the way Go's client libraries do (`1e+06`-style exponents past 1e21 only
/// matter for readability; both forms parse everywhere).
pub fn write_value(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else if v == v.trunc() && v.abs() < 1e15 {
        let _ = write!(out, "{}", v as i64);
    } else if v.abs() >= 1e-4 && v.abs() < 1e15 {
        let _ = write!(out, "{v}");
    } else {
        let _ = write!(out, "{v:e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<Family> {
        let mut c = Family::counter(
            "node_cpu_seconds_total",
            "Seconds the CPUs spent in each mode.",
        );
        c.add(&[("mode", "user"), ("cpu", "1")], 2.5);
        c.add(&[("cpu", "0"), ("mode", "idle")], 100.0);
        let g = Family::gauge("a_gauge", "Help with \\ and\nnewline.").with(&[("l", "q\"v")], 1e-7);
        normalize(vec![c, g])
    }

    #[test]
    fn text_format_is_sorted_and_escaped() {
        let got = encode(&sample(), Format::Text);
        let want = "# HELP a_gauge Help with \\\\ and\\nnewline.\n# TYPE a_gauge gauge\n\
a_gauge{l=\"q\\\"v\"} 1e-7\n\
# HELP node_cpu_seconds_total Seconds the CPUs spent in each mode.\n# TYPE node_cpu_seconds_total counter\n\
node_cpu_seconds_total{cpu=\"0\",mode=\"idle\"} 100\n\
node_cpu_seconds_total{cpu=\"1\",mode=\"user\"} 2.5\n";
        assert_eq!(got, want);
    }

    #[test]
    fn openmetrics_strips_total_from_family_and_ends_with_eof() {
        let got = encode(&sample(), Format::OpenMetrics);
        assert!(got.contains("# TYPE node_cpu_seconds counter\n"));
        assert!(got.contains("node_cpu_seconds_total{cpu=\"0\",mode=\"idle\"} 100\n"));
        assert!(got.ends_with("# EOF\n"));
    }

    #[test]
    fn histograms_encode_buckets_in_order_then_sum_and_count() {
        let mut h = Family::histogram("x_seconds", "Latency.");
        h.observe(&[("n", "b")], &[(0.5, 1), (10.0, 2)], 3.5, 2);
        h.observe(&[("n", "a")], &[(0.5, 0), (10.0, 0)], 0.0, 0);
        let fams = normalize(vec![h]);
        let text = encode(&fams, Format::Text);
        let want_b =
            "x_seconds_bucket{le=\"0.5\",n=\"b\"} 1\nx_seconds_bucket{le=\"10\",n=\"b\"} 2\n\
x_seconds_bucket{le=\"+Inf\",n=\"b\"} 2\nx_seconds_sum{n=\"b\"} 3.5\nx_seconds_count{n=\"b\"} 2\n";
        assert!(text.contains("# TYPE x_seconds histogram\n"), "{text}");
        assert!(text.ends_with(want_b), "{text}");
        assert!(text.contains("x_seconds_count{n=\"a\"} 0\nx_seconds_bucket{le=\"0.5\",n=\"b\"}"));
        let om = encode(&fams, Format::OpenMetrics);
        assert!(
            om.contains("x_seconds_bucket{le=\"10.0\",n=\"b\"} 2\n"),
            "{om}"
        );
        assert!(om.contains("x_seconds_sum{n=\"b\"} 3.5\n"), "{om}");
    }

    #[test]
    fn negotiation_follows_q_values() {
        let prom = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(Format::negotiate(Some(prom)), Format::OpenMetrics);
        assert_eq!(
            Format::negotiate(Some("text/plain;version=0.0.4")),
            Format::Text
        );
        assert_eq!(
            Format::negotiate(Some("application/openmetrics-text;q=0.2,text/plain")),
            Format::Text
        );
        assert_eq!(Format::negotiate(None), Format::Text);
        assert_eq!(Format::negotiate(Some("application/json")), Format::Text);
    }

    #[test]
    fn values_format_like_prometheus_clients() {
        let f = |v: f64| {
            let mut s = String::new();
            write_value(&mut s, v);
            s
        };
        assert_eq!(f(8253952000.0), "8253952000");
        assert_eq!(f(0.25), "0.25");
        assert_eq!(f(f64::INFINITY), "+Inf");
        assert_eq!(f(f64::NAN), "NaN");
        assert_eq!(f(-3.0), "-3");
        assert_eq!(f(1.5e300), "1.5e300");
    }
}
