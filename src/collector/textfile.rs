//! `textfile`: metrics from `*.prom` files in a directory, merged across files the way node_exporter
//! 1.5 does. A file that fails to parse (or carries timestamps) is skipped and sets
//! `node_textfile_scrape_error 1`. Histograms and summaries keep their type: one family whose
//! `_bucket`/`_sum`/`_count` samples are told apart by the exposition's suffix label.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::UNIX_EPOCH;

use super::textparse::{parse, Kind, ParsedFamily, Value};
use super::{Collector, Ctx, Opt, Spec};
use crate::model::{Family, MetricType, SUFFIX_LABEL};

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
            out.push(convert(f, &help));
        }
    }
    out
}

/// Bucket or quantile bounds (by bit pattern, for a stable order) → (bound, value).
type Points = BTreeMap<u64, (f64, f64)>;

/// One parsed family into one exposition family of the same type, padding absent labels with ""
/// like node_exporter. Histogram and summary samples carry their `_bucket`/`_sum`/`_count` suffix
/// in `SUFFIX_LABEL`, so the family keeps its type (one `histogram`/`summary` family).
fn convert(f: &ParsedFamily, help: &str) -> Family {
    let names: BTreeSet<&str> = f
        .metrics
        .iter()
        .flat_map(|m| m.labels.iter().map(|(k, _)| k.as_str()))
        .collect();
    let kind = match kind_of(f.kind) {
        Kind::Counter => MetricType::Counter,
        Kind::Gauge => MetricType::Gauge,
        Kind::Untyped => MetricType::Untyped,
        Kind::Summary => MetricType::Summary,
        Kind::Histogram => MetricType::Histogram,
    };
    let mut fam = Family::new(f.name.clone(), help, kind);
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
        let (points, s, c, key, suffix): (Points, f64, u64, &str, &str) = match &m.value {
            Value::Simple(v) => {
                fam.add(&labels, *v);
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
                "quantile",
                "",
            ),
            Value::Histogram {
                buckets,
                sum,
                count,
            } => {
                let mut b: Points = buckets
                    .iter()
                    .map(|(le, n)| (le.to_bits(), (*le, *n as f64)))
                    .collect();
                if !buckets.iter().any(|(le, _)| *le == f64::INFINITY) {
                    b.insert(f64::INFINITY.to_bits(), (f64::INFINITY, *count as f64));
                }
                (b, *sum, *count, "le", "_bucket")
            }
        };
        for (bound, v) in points.values() {
            let b = go_float(*bound);
            let mut l = labels.clone();
            l.push((key, &b));
            if !suffix.is_empty() {
                l.push((SUFFIX_LABEL, suffix));
            }
            fam.add(&l, *v);
        }
        for (suffix, v) in [("_sum", s), ("_count", c as f64)] {
            let mut l = labels.clone();
            l.push((SUFFIX_LABEL, suffix));
            fam.add(&l, v);
        }
    }
    fam
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

/// Whether a path has Go `filepath.Match` metacharacters.
fn has_meta(p: &str) -> bool {
    p.contains(['*', '?', '[', '\\'])
}

/// One path element of a Go glob pattern as an anchored regex (`*`, `?`, `[...]`, `\\x`).
fn element_regex(pat: &str) -> Option<regex::Regex> {
    let mut re = String::from("^");
    let mut chars = pat.chars();
    while let Some(c) = chars.next() {
        match c {
            '*' => re.push_str("[^/]*"),
            '?' => re.push_str("[^/]"),
            '\\' => re.push_str(&regex::escape(&chars.next()?.to_string())),
            '[' => {
                re.push('[');
                let mut first = true;
                loop {
                    match chars.next()? {
                        ']' if !first => break,
                        '^' if first => re.push('^'),
                        '\\' => re.push_str(&regex::escape(&chars.next()?.to_string())),
                        c @ ('[' | '&' | '~') => {
                            re.push('\\');
                            re.push(c);
                        }
                        c => re.push(c),
                    }
                    first = false;
                }
                re.push(']');
            }
            c => re.push_str(&regex::escape(&c.to_string())),
        }
    }
    re.push('$');
    regex::Regex::new(&re).ok()
}

/// Go's `filepath.Glob`: the existing paths matching `pattern`, each level in name order; a
/// pattern without metacharacters is itself when it exists. Malformed patterns match nothing.
pub fn glob(pattern: &str) -> Vec<String> {
    if !has_meta(pattern) {
        return if std::fs::symlink_metadata(pattern).is_ok() {
            vec![pattern.to_string()]
        } else {
            Vec::new()
        };
    }
    let (dir, file) = match pattern.rfind('/') {
        Some(i) => (&pattern[..i], &pattern[i + 1..]),
        None => ("", pattern),
    };
    let dir = match dir {
        "" if pattern.starts_with('/') => "/".to_string(),
        "" => ".".to_string(),
        d => join_clean(d, ""),
    };
    let Some(re) = element_regex(file) else {
        return Vec::new();
    };
    let dirs = if has_meta(&dir) {
        glob(&dir)
    } else {
        vec![dir]
    };
    let mut out = Vec::new();
    for d in dirs {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        let mut names: Vec<String> = rd
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| re.is_match(n))
            .collect();
        names.sort();
        let prefix = if pattern.contains('/') {
            d.as_str()
        } else {
            ""
        };
        out.extend(names.iter().map(|n| {
            if prefix.is_empty() {
                n.clone()
            } else {
                join_clean(prefix, n)
            }
        }));
    }
    out
}

impl Collector for Textfile {
    fn update(&self, out: &mut Vec<Family>) -> Result<(), String> {
        let mut errored = false;
        // node_exporter 1.5 globs the directory flag; no match means "read it as one directory".
        let mut dirs = glob(&self.dir);
        if dirs.is_empty() {
            dirs.push(self.dir.clone());
        }
        let mut paths = Vec::new();
        for dir in dirs.iter().filter(|d| !d.is_empty()) {
            match std::fs::read_dir(dir) {
                Ok(rd) => {
                    let mut names: Vec<String> = rd
                        .flatten()
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .filter(|n| n.ends_with(".prom"))
                        .collect();
                    names.sort();
                    paths.extend(names.iter().map(|n| (join_clean(dir, n), n.clone())));
                }
                Err(e) => {
                    tracing::error!(path = %dir, err = %e, "failed to read textfile collector directory");
                    errored = true;
                }
            }
        }
        let mut files = Vec::new();
        let mut mtimes = Family::gauge(
            "node_textfile_mtime_seconds",
            "Unixtime mtime of textfiles successfully read.",
        );
        for (path, name) in paths {
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
    fn histogram_and_summary_keep_their_type() {
        let h = parse("# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"0.50\"} 1\nh_bucket{le=\"1000000\"} 2.7\nh_sum 3\nh_count 4\n# TYPE s summary\ns{quantile=\"0.5\",x=\"y\"} 1\n").unwrap();
        let fams = merge(&[("f.prom".into(), h)]);
        assert_eq!(fams.len(), 2, "one family each: {fams:?}");
        let text = crate::model::encode(
            &crate::model::normalize(fams),
            crate::model::Format::Text,
        );
        assert_eq!(
            text,
            "# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"0.5\"} 1\nh_bucket{le=\"1e+06\"} 2\n\
             h_bucket{le=\"+Inf\"} 4\nh_sum 3\nh_count 4\n\
             # HELP s Metric read from f.prom\n# TYPE s summary\ns{quantile=\"0.5\",x=\"y\"} 1\n\
             s_sum{x=\"y\"} 0\ns_count{x=\"y\"} 0\n"
        );
    }

    #[test]
    fn go_glob_patterns() {
        let m = |p: &str, n: &str| element_regex(p).unwrap().is_match(n);
        assert!(m("*.d", "x.d") && !m("*.d", "x.dd") && m("a?c", "abc"));
        assert!(m("[a-c]x", "bx") && !m("[^a-c]x", "bx") && m("[^a-c]x", "dx"));
        assert!(m("\\*", "*") && !m("\\*", "a") && m("a.b", "a.b") && !m("a.b", "axb"));
        assert!(element_regex("[ab").is_none(), "unterminated class");
        let dir = env!("CARGO_MANIFEST_DIR");
        let got = glob(&format!("{dir}/tests/fixtures/textfile*"));
        assert_eq!(
            got,
            vec![
                format!("{dir}/tests/fixtures/textfile"),
                format!("{dir}/tests/fixtures/textfile-extra")
            ]
        );
        assert_eq!(
            glob(&format!("{dir}/tests/fixtures/text*/extra.prom")),
            vec![format!("{dir}/tests/fixtures/textfile-extra/extra.prom")]
        );
        assert!(glob(&format!("{dir}/tests/fixtures/nothing*")).is_empty());
        assert_eq!(glob("Cargo.toml"), vec!["Cargo.toml".to_string()]);
    }

    #[test]
    fn a_glob_directory_reads_every_match() {
        let dir = env!("CARGO_MANIFEST_DIR");
        let t = Textfile {
            dir: format!("{dir}/tests/fixtures/textfile*"),
        };
        let mut out = Vec::new();
        t.update(&mut out).unwrap();
        let files: Vec<String> = out
            .iter()
            .filter(|f| f.name == "node_textfile_mtime_seconds")
            .flat_map(|f| f.samples.iter().map(|s| s.labels[0].1.clone()))
            .collect();
        assert_eq!(files.len(), 3, "good, more and extra: {files:?}");
        assert!(files
            .iter()
            .any(|f| f.ends_with("textfile-extra/extra.prom")));
        assert!(out.iter().any(|f| f.name == "node_textfile_extra_value"));
    }
}
