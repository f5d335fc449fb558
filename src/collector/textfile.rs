//! `textfile`: metrics from `*.prom` files in a directory, merged across files the way node_exporter
//! 1.5 does. A file that fails to parse (or carries timestamps) is skipped and sets
//! `node_textfile_scrape_error 1`. Histograms and summaries become untyped families named per
//! sample (`x_bucket`, `x_sum`, `x_count`; `x` for quantiles): the sample lines match exactly,
//! only their TYPE lines differ, because the exposition model has no histogram/summary type.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::UNIX_EPOCH;

use super::textparse::{parse, Kind, ParsedFamily, Value};
use super::{Collector, Ctx, Opt, Spec};
use crate::model::{Family, MetricType};

pub const SPEC: Spec = Spec {
    name: "textfile",
    default_enabled: true,
    options: &[Opt {
        key: "directory",
        default: "",
        help: "Directory to read text files with metrics from.",
    }],
    build,
};

fn build(ctx: &Ctx) -> Result<Box<dyn Collector>, String> {
    Ok(Box::new(Textfile {
        dir: ctx.opt(&SPEC, "directory"),
    }))
}

struct Textfile {
    dir: String,
}

/// `dir/name` cleaned like Go's filepath.Join (the `file` label and the help text use it).
pub fn join_clean(dir: &str, name: &str) -> String {
    let joined = format!("{dir}/{name}");
    let mut parts: Vec<&str> = Vec::new();
    for p in joined.split('/') {
        match p {
            "" | "." => {}
            ".." if parts.last().is_some_and(|l| *l != "..") => {
                parts.pop();
            }
            _ => parts.push(p),
        }
    }
    let body = parts.join("/");
    if joined.starts_with('/') {
        format!("/{body}")
    } else {
        body
    }
}

/// A float as Go's `strconv.FormatFloat(f, 'g', -1, 64)` writes it (for `le`/`quantile` labels).
pub fn go_float(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    let sci = format!("{v:e}");
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if (-4..6).contains(&exp) {
        return format!("{v}");
    }
    format!("{mant}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs())
}

fn kind_of(k: Option<Kind>) -> Kind {
    k.unwrap_or(Kind::Untyped)
}

/// Converts successfully parsed files (path, families), in file order, into exposition families.
/// Help defaults to "Metric read from <files>"; a family whose help or type disagrees with the
/// first file that defined the name is dropped, as the Go registry rejects it.
pub fn merge(files: &[(String, Vec<ParsedFamily>)]) -> Vec<Family> {
    let mut sources: HashMap<&str, Vec<&str>> = HashMap::new();
    for (path, fams) in files {
        for f in fams {
            sources.entry(&f.name).or_default().push(path);
        }
    }
    let mut first: HashMap<&str, (String, Kind)> = HashMap::new();
    let mut out = Vec::new();
    for (path, fams) in files {
        for f in fams {
            let help = f.help.clone().unwrap_or_else(|| {
                format!("Metric read from {}", sources[f.name.as_str()].join(", "))
            });
            let kind = kind_of(f.kind);
            let want = first
                .entry(f.name.as_str())
                .or_insert_with(|| (help.clone(), kind));
            if *want != (help.clone(), kind) {
                tracing::error!(metric = %f.name, file = %path, "textfile metric has inconsistent help or type, dropped");
                continue;
            }
            out.extend(convert(f, &help));
        }
    }
    out
}

/// One parsed family into exposition families, padding absent labels with "" like node_exporter.
fn convert(f: &ParsedFamily, help: &str) -> Vec<Family> {
    let names: BTreeSet<&str> = f
        .metrics
        .iter()
        .flat_map(|m| m.labels.iter().map(|(k, _)| k.as_str()))
        .collect();
    let fam = |suffix: &str, kind| Family::new(format!("{}{suffix}", f.name), help, kind);
    let (mut main, mut sum, mut count) = match kind_of(f.kind) {
        Kind::Counter => (fam("", MetricType::Counter), None, None),
        Kind::Gauge => (fam("", MetricType::Gauge), None, None),
        Kind::Untyped => (fam("", MetricType::Untyped), None, None),
        Kind::Summary => (
            fam("", MetricType::Untyped),
            Some(fam("_sum", MetricType::Untyped)),
            Some(fam("_count", MetricType::Untyped)),
        ),
        Kind::Histogram => (
            fam("_bucket", MetricType::Untyped),
            Some(fam("_sum", MetricType::Untyped)),
            Some(fam("_count", MetricType::Untyped)),
        ),
    };
    for m in &f.metrics {
        let mut labels: Vec<(&str, &str)> = m
            .labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        for n in &names {
            if !labels.iter().any(|(k, _)| k == n) {
                labels.push((n, ""));
            }
        }
        let (points, s, c): (BTreeMap<u64, (f64, f64)>, f64, u64) = match &m.value {
            Value::Simple(v) => {
                main.add(&labels, *v);
                continue;
            }
            Value::Summary {
                quantiles,
                sum,
                count,
            } => (
                quantiles
                    .iter()
                    .map(|(q, v)| (q.to_bits(), (*q, *v)))
                    .collect(),
                *sum,
                *count,
            ),
            Value::Histogram {
                buckets,
                sum,
                count,
            } => {
                let mut b: BTreeMap<u64, (f64, f64)> = buckets
                    .iter()
                    .map(|(le, n)| (le.to_bits(), (*le, *n as f64)))
                    .collect();
                if !buckets.iter().any(|(le, _)| *le == f64::INFINITY) {
                    b.insert(f64::INFINITY.to_bits(), (f64::INFINITY, *count as f64));
                }
                (b, *sum, *count)
            }
        };
        let key = if kind_of(f.kind) == Kind::Summary {
            "quantile"
        } else {
            "le"
        };
        for (bound, v) in points.values() {
            let b = go_float(*bound);
            let mut l = labels.clone();
            l.push((key, &b));
            main.add(&l, *v);
        }
        if let Some(f) = sum.as_mut() {
            f.add(&labels, s);
        }
        if let Some(f) = count.as_mut() {
            f.add(&labels, c as f64);
        }
    }
    let mut out = vec![main];
    out.extend(sum);
    out.extend(count);
    out
}

/// Reads and parses one file; timestamps are refused like node_exporter does. Returns its mtime.
fn process(path: &str) -> Result<(i64, Vec<ParsedFamily>), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let fams =
        parse(&text).map_err(|e| format!("failed to parse textfile data from {path:?}: {e}"))?;
    if fams
        .iter()
        .any(|f| f.metrics.iter().any(|m| m.timestamp_ms.is_some()))
    {
        return Err(format!(
            "textfile {path:?} contains unsupported client-side timestamps, skipping entire file"
        ));
    }
    let mtime = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .map_err(|e| format!("{path}: {e}"))?;
    let secs = match mtime.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    };
    Ok((secs, fams))
}

impl Collector for Textfile {
    fn update(&self, out: &mut Vec<Family>) -> Result<(), String> {
        let mut errored = false;
        let mut names = Vec::new();
        if !self.dir.is_empty() {
            match std::fs::read_dir(&self.dir) {
                Ok(rd) => names.extend(
                    rd.flatten()
                        .map(|e| e.file_name().to_string_lossy().into_owned()),
                ),
                Err(e) => {
                    tracing::error!(path = %self.dir, err = %e, "failed to read textfile collector directory");
                    errored = true;
                }
            }
        }
        names.sort();
        let mut files = Vec::new();
        let mut mtimes = Family::gauge(
            "node_textfile_mtime_seconds",
            "Unixtime mtime of textfiles successfully read.",
        );
        for name in names.iter().filter(|n| n.ends_with(".prom")) {
            let path = join_clean(&self.dir, name);
            match process(&path) {
                Ok((mtime, fams)) => {
                    mtimes.add(&[("file", &path)], mtime as f64);
                    files.push((path, fams));
                }
                Err(e) => {
                    tracing::error!(file = %name, err = %e, "failed to collect textfile data");
                    errored = true;
                }
            }
        }
        out.extend(merge(&files));
        out.push(mtimes);
        out.push(
            Family::gauge(
                "node_textfile_scrape_error",
                "1 if there was an error opening or reading a file, 0 otherwise",
            )
            .with(&[], if errored { 1.0 } else { 0.0 }),
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(fams: &[Family], name: &str) -> Vec<(Vec<(String, String)>, f64)> {
        fams.iter()
            .filter(|f| f.name == name)
            .flat_map(|f| f.samples.iter().map(|s| (s.labels.clone(), s.value)))
            .collect()
    }

    #[test]
    fn go_float_and_paths() {
        assert_eq!(go_float(0.5), "0.5");
        assert_eq!(go_float(1e6), "1e+06");
        assert_eq!(go_float(100000.0), "100000");
        assert_eq!(go_float(1.5e-5), "1.5e-05");
        assert_eq!(go_float(0.0001), "0.0001");
        assert_eq!(go_float(f64::INFINITY), "+Inf");
        assert_eq!(join_clean("./dir/", "a.prom"), "dir/a.prom");
        assert_eq!(join_clean("/var/lib/../x", "a.prom"), "/var/x/a.prom");
    }

    #[test]
    fn merge_fills_labels_defaults_help_and_drops_conflicts() {
        let a = parse("# TYPE g gauge\ng{a=\"1\"} 1\ng 3\nu 1\n").unwrap();
        let b = parse(
            "# HELP g Other help.\n# TYPE g gauge\ng{a=\"2\"} 2\n# HELP u U.\nu{x=\"y\"} 2\n",
        )
        .unwrap();
        let fams = merge(&[("d/a.prom".into(), a), ("d/b.prom".into(), b)]);
        let g: Vec<_> = fams.iter().filter(|f| f.name == "g").collect();
        assert_eq!(g.len(), 1, "b's g has a different help and is dropped");
        assert_eq!(g[0].help, "Metric read from d/a.prom, d/b.prom");
        assert_eq!(sample(&fams, "g")[1], (vec![("a".into(), "".into())], 3.0));
        assert_eq!(sample(&fams, "u").len(), 1);
    }

    #[test]
    fn histogram_and_summary_samples() {
        let h = parse("# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"0.50\"} 1\nh_bucket{le=\"1000000\"} 2.7\nh_sum 3\nh_count 4\n# TYPE s summary\ns{quantile=\"0.5\",x=\"y\"} 1\n").unwrap();
        let fams = merge(&[("f.prom".into(), h)]);
        let b = sample(&fams, "h_bucket");
        let le = |v: &str| vec![("le".to_string(), v.to_string())];
        assert_eq!(
            b,
            vec![(le("0.5"), 1.0), (le("1e+06"), 2.0), (le("+Inf"), 4.0)]
        );
        assert_eq!(sample(&fams, "h_count"), vec![(vec![], 4.0)]);
        assert_eq!(fams.iter().find(|f| f.name == "h_sum").unwrap().help, "H.");
        assert_eq!(
            sample(&fams, "s_sum"),
            vec![(vec![("x".into(), "y".into())], 0.0)]
        );
        assert_eq!(sample(&fams, "s")[0].1, 1.0);
    }
}
