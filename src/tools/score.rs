//! `telltale score`'s file format: a `timestamp,value` CSV in, the same rows with an
//! `anomaly_score` column out. Timestamps may be NAB's `YYYY-MM-DD HH:MM:SS` (UTC), RFC 3339
//! (`2024-01-15T10:30:00Z`, `+02:00`, fractions) or unix seconds. Every problem names its line.

use std::io::{Read, Write};
use std::path::Path;

use crate::anomaly::Detector;
use std::path::PathBuf;

/// `score --detector NAME [--param k=v]... --input IN.csv --output OUT.csv` (or `--list`).
#[derive(Clone, Debug, Default)]
pub struct ScoreArgs {
    pub detector: Option<String>,
    pub params: Vec<String>,
    pub input: Option<PathBuf>,
    pub output: Option<PathBuf>,
    pub state: Option<PathBuf>,
    pub list: bool,
    /// Refuse a file whose timestamps step backwards (else such rows are scored and counted).
    pub strict_time: bool,
}

/// `telltale score`: reads the input, builds the detector, writes the scored rows (the output
/// file is only written when the whole input parsed).
pub fn run(args: &ScoreArgs) -> Result<(), String> {
    if args.list {
        print!("{}", list());
        return Ok(());
    }
    let mut d = detector(args)?;
    let input = args.input.as_deref().ok_or("--input is required")?;
    let output = args.output.as_deref().ok_or("--output is required")?;
    let text = read_input(input)?;
    let parsed = parse(&text, args.strict_time).map_err(|e| format!("{}: {e}", input.display()))?;
    if let Some(note) = parsed.order.note() {
        eprintln!("telltale score: {}: {note}", input.display());
    }
    let rows = parsed.rows;
    let out = score(&rows, &mut *d);
    if output == Path::new("-") {
        std::io::stdout()
            .write_all(out.as_bytes())
            .map_err(|e| format!("stdout: {e}"))?;
    } else {
        std::fs::write(output, out).map_err(|e| format!("{}: {e}", output.display()))?;
    }
    if !d.warmed_up() {
        eprintln!(
            "telltale score: {} is still warming up after {} rows (its scores are 0 until then)",
            d.name(),
            rows.len()
        );
    }
    if let Some(path) = &args.state {
        let text = serde_json::to_string(&crate::anomaly::save(&*d)).map_err(|e| e.to_string())?;
        std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

/// A new detector from --detector/--param, or the one saved in --state when that file exists.
fn detector(args: &ScoreArgs) -> Result<Box<dyn Detector>, String> {
    if let Some(path) = args.state.as_deref().filter(|p| p.exists()) {
        let at = |e: String| format!("{}: {e}", path.display());
        if !args.params.is_empty() {
            return Err(at(
                "the parameters come from the saved state; drop --param".into()
            ));
        }
        let text = std::fs::read_to_string(path).map_err(|e| at(e.to_string()))?;
        let saved = serde_json::from_str(&text).map_err(|e| at(e.to_string()))?;
        let d = crate::anomaly::restore(&saved).map_err(at)?;
        if let Some(want) = args.detector.as_deref().filter(|w| *w != d.name()) {
            return Err(at(format!("holds the {} detector, not {want}", d.name())));
        }
        return Ok(d);
    }
    let name = args.detector.as_deref().unwrap_or(crate::anomaly::DEFAULT);
    let given = crate::anomaly::params::parse_pairs(args.params.iter().map(String::as_str))?;
    crate::anomaly::build(name, &given)
}

fn read_input(path: &Path) -> Result<String, String> {
    if path == Path::new("-") {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| format!("stdin: {e}"))?;
        return Ok(s);
    }
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// The detectors and their parameters, for `--list`.
pub fn list() -> String {
    let mut out = String::new();
    for s in crate::anomaly::ALL {
        let default = if s.name == crate::anomaly::DEFAULT {
            " (default)"
        } else {
            ""
        };
        out.push_str(&format!("{}{default}: {}\n", s.name, s.about));
        for docs in s.docs() {
            for p in docs {
                let d = p.shown_default();
                out.push_str(&format!("    {}={d}  {}\n", p.key, p.help));
            }
        }
    }
    out
}

/// One input row: the timestamp and value as written (echoed back) and as numbers.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub ts_text: String,
    pub value_text: String,
    pub t: f64,
    pub v: f64,
}

fn unquote(s: &str) -> &str {
    let s = s.trim();
    s.strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .unwrap_or(s)
}

/// Rows whose timestamp is not after the row before: they are scored in file order all the same
/// (a clock change, two exports merged), and counted for a note on stderr.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Order {
    /// Rows with the same timestamp as the row before, and the first one's line.
    pub repeated: usize,
    pub first_repeat: Option<usize>,
    /// Rows with an earlier timestamp than the row before, and the first one's line.
    pub backwards: usize,
    pub first_backwards: Option<usize>,
}

impl Order {
    fn see(&mut self, lineno: usize, prev: f64, t: f64) {
        if t == prev {
            self.repeated += 1;
            self.first_repeat.get_or_insert(lineno);
        } else if t < prev {
            self.backwards += 1;
            self.first_backwards.get_or_insert(lineno);
        }
    }

    /// What to tell the user, when anything.
    pub fn note(&self) -> Option<String> {
        let mut parts = Vec::new();
        if let Some(l) = self.first_repeat {
            parts.push(format!(
                "{} rows repeat the timestamp of the row before (first at line {l})",
                self.repeated
            ));
        }
        if let Some(l) = self.first_backwards {
            parts.push(format!(
                "{} rows step back in time (first at line {l})",
                self.backwards
            ));
        }
        (!parts.is_empty()).then(|| {
            format!(
                "{}; scored in file order as given (--strict-time refuses files that step back)",
                parts.join(", ")
            )
        })
    }
}

/// The parsed input: its rows in file order and how their timestamps were ordered.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Parsed {
    pub rows: Vec<Row>,
    pub order: Order,
}

/// Parses the CSV. The first line is a header when its value column is not a number; a header
/// naming `timestamp` and `value` picks those columns, otherwise they are the first two. Rows
/// keep their file order; with `strict_time` a timestamp earlier than the row before is an error.
pub fn parse(text: &str, strict_time: bool) -> Result<Parsed, String> {
    let mut rows = Vec::new();
    let mut order = Order::default();
    let (mut ti, mut vi) = (0usize, 1usize);
    let mut first = true;
    let mut prev_t = f64::NEG_INFINITY;
    for (n, line) in text.lines().enumerate() {
        let lineno = n + 1;
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(unquote).collect();
        if first {
            first = false;
            let is_header = fields.get(1).is_none_or(|v| v.parse::<f64>().is_err())
                || fields[0].eq_ignore_ascii_case("timestamp");
            if is_header {
                let find = |name: &str| fields.iter().position(|f| f.eq_ignore_ascii_case(name));
                if let (Some(t), Some(v)) = (find("timestamp"), find("value")) {
                    (ti, vi) = (t, v);
                } else if fields.len() < 2 {
                    return Err(format!(
                        "line {lineno}: expected a header with timestamp and value columns, got {line:?}"
                    ));
                }
                continue;
            }
        }
        let get = |i: usize, what: &str| {
            fields.get(i).copied().ok_or_else(|| {
                format!("line {lineno}: no {what} column (expected timestamp,value): {line:?}")
            })
        };
        let (ts, val) = (get(ti, "timestamp")?, get(vi, "value")?);
        let t = parse_timestamp(ts).map_err(|e| format!("line {lineno}: {e}"))?;
        if strict_time && t < prev_t {
            return Err(format!(
                "line {lineno}: timestamp {ts:?} is earlier than the row before it"
            ));
        }
        if !rows.is_empty() {
            order.see(lineno, prev_t, t);
        }
        prev_t = t;
        let v: f64 = val
            .parse()
            .map_err(|_| format!("line {lineno}: value {val:?} is not a number"))?;
        rows.push(Row {
            ts_text: ts.to_string(),
            value_text: val.to_string(),
            t,
            v,
        });
    }
    Ok(Parsed { rows, order })
}

/// Scores every row in order with `d` and renders the output CSV.
pub fn score(rows: &[Row], d: &mut dyn Detector) -> String {
    let mut out = String::with_capacity(rows.len() * 48 + 32);
    out.push_str("timestamp,value,anomaly_score\n");
    for r in rows {
        let s = d.update(r.t, r.v);
        out.push_str(&format!("{},{},{}\n", r.ts_text, r.value_text, s));
    }
    out
}

/// Days from 1970-01-01 to the given civil date (proleptic Gregorian).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn num(s: &str, what: &str, lo: u32, hi: u32) -> Result<u32, String> {
    let v: u32 = s
        .parse()
        .ok()
        .filter(|_| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| format!("bad {what} {s:?}"))?;
    if v < lo || v > hi {
        return Err(format!("{what} {v} out of range"));
    }
    Ok(v)
}

/// Unix seconds of a timestamp: a plain number, `YYYY-MM-DD[ T]HH:MM[:SS[.frac]]` (UTC unless
/// followed by `Z` or `±HH:MM`).
pub fn parse_timestamp(s: &str) -> Result<f64, String> {
    let s = s.trim();
    if let Ok(v) = s.parse::<f64>() {
        if v.is_finite() {
            return Ok(v);
        }
    }
    let bad = |why: String| {
        format!("timestamp {s:?}: {why} (want YYYY-MM-DD HH:MM:SS, RFC 3339 or unix seconds)")
    };
    if s.len() < 16 || !s.is_char_boundary(10) || !s.is_char_boundary(11) {
        return Err(bad("not a date-time".into()));
    }
    let (date, rest) = (&s[..10], &s[11..]);
    if !matches!(s.as_bytes()[10], b' ' | b'T' | b't') {
        return Err(bad("no date/time separator".into()));
    }
    let dp: Vec<&str> = date.split('-').collect();
    if dp.len() != 3 || dp[0].len() != 4 {
        return Err(bad("bad date".into()));
    }
    let y = num(dp[0], "year", 0, 9999).map_err(bad)? as i64;
    let mo = num(dp[1], "month", 1, 12).map_err(bad)?;
    let d = num(dp[2], "day", 1, 31).map_err(bad)?;
    // Split off a zone: Z or ±HH:MM at the end.
    let (time, offset) = if let Some(t) = rest.strip_suffix(['Z', 'z']) {
        (t, 0i64)
    } else if rest.len() > 6 && matches!(rest.as_bytes()[rest.len() - 6], b'+' | b'-') {
        let (t, z) = rest.split_at(rest.len() - 6);
        let oh = num(&z[1..3], "zone hour", 0, 23).map_err(bad)? as i64;
        let om = num(&z[4..6], "zone minute", 0, 59).map_err(bad)? as i64;
        if &z[3..4] != ":" {
            return Err(bad("bad zone".into()));
        }
        let sign = if z.starts_with('-') { -1 } else { 1 };
        (t, sign * (oh * 3600 + om * 60))
    } else {
        (rest, 0)
    };
    let tp: Vec<&str> = time.split(':').collect();
    if !(2..=3).contains(&tp.len()) {
        return Err(bad("bad time".into()));
    }
    let h = num(tp[0], "hour", 0, 23).map_err(bad)?;
    let mi = num(tp[1], "minute", 0, 59).map_err(bad)?;
    let (sec, frac) = match tp.get(2) {
        None => (0, 0.0),
        Some(sf) => {
            let (whole, frac) = sf.split_once('.').unwrap_or((sf, ""));
            let f = if frac.is_empty() {
                0.0
            } else if frac.bytes().all(|b| b.is_ascii_digit()) {
                format!("0.{frac}").parse::<f64>().unwrap_or(0.0)
            } else {
                return Err(bad("bad fraction of a second".into()));
            };
            (num(whole, "second", 0, 60).map_err(bad)?, f)
        }
    };
    let days = days_from_civil(y, mo, d);
    let secs = days * 86_400 + h as i64 * 3600 + mi as i64 * 60 + sec as i64 - offset;
    Ok(secs as f64 + frac)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_in_all_three_forms() {
        assert_eq!(parse_timestamp("1970-01-01 00:00:00").unwrap(), 0.0);
        assert_eq!(
            parse_timestamp("2014-07-01 00:30:00").unwrap(),
            1_404_174_600.0
        );
        assert_eq!(
            parse_timestamp("2024-01-15T10:30:00Z").unwrap(),
            1_705_314_600.0
        );
        assert_eq!(
            parse_timestamp("2024-01-15T12:30:00+02:00").unwrap(),
            1_705_314_600.0
        );
        assert_eq!(
            parse_timestamp("2024-01-15T10:30:00.250Z").unwrap(),
            1_705_314_600.25
        );
        assert_eq!(parse_timestamp("2000-02-29 00:00").unwrap(), 951_782_400.0);
        assert_eq!(parse_timestamp("1705314600").unwrap(), 1_705_314_600.0);
        assert_eq!(parse_timestamp(" 1.5 ").unwrap(), 1.5);
        for bad in [
            "2024-13-01 00:00:00",
            "2024-01-15",
            "yesterday",
            "2024-01-15X10:30:00",
            "2024-01-15 10:30:00+0200",
            "2024-01-15 25:00:00",
            "2024-01-15 10:30:0a",
        ] {
            assert!(parse_timestamp(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn csv_with_header_and_errors_with_line_numbers() {
        let rows =
            rows_of("timestamp,value\n2014-07-01 00:00:00,10844\n\n2014-07-01 00:30:00,8127.5\n");
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1].ts_text, "2014-07-01 00:30:00");
        assert_eq!(rows[1].value_text, "8127.5");
        assert_eq!(rows[1].t - rows[0].t, 1800.0);
        // Columns by name; quotes and CRLF tolerated.
        let rows = rows_of("\"value\",\"timestamp\"\r\n3,\"100\"\r\n");
        assert_eq!((rows[0].t, rows[0].v), (100.0, 3.0));
        // No header: the first two columns.
        assert_eq!(rows_of("100,1\n160,2\n").len(), 2);
        let e = parse(
            "timestamp,value\n2014-07-01 00:00:00,1\n2014-07-01 00:05:00,abc\n",
            false,
        )
        .unwrap_err();
        assert!(e.starts_with("line 3:") && e.contains("\"abc\""), "{e}");
        let e = parse("timestamp,value\nnot a time,1\n", false).unwrap_err();
        assert!(e.starts_with("line 2: timestamp \"not a time\""), "{e}");
        let e = parse("timestamp,value\n100\n", false).unwrap_err();
        assert!(e.starts_with("line 2: no value column"), "{e}");
        assert!(parse("timestamp\n", false)
            .unwrap_err()
            .starts_with("line 1:"));
    }

    fn rows_of(text: &str) -> Vec<Row> {
        parse(text, false).unwrap().rows
    }

    #[test]
    fn repeated_and_backward_timestamps_are_scored_in_file_order_and_counted() {
        let text = "timestamp,value\n100,1\n100,2\n160,3\n50,4\n50,5\n40,6\n200,7\n";
        let p = parse(text, false).unwrap();
        let values: Vec<f64> = p.rows.iter().map(|r| r.v).collect();
        assert_eq!(values, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]);
        let order = Order {
            repeated: 2,
            first_repeat: Some(3),
            backwards: 2,
            first_backwards: Some(5),
        };
        assert_eq!(p.order, order);
        let note = p.order.note().unwrap();
        assert!(
            note.contains("2 rows repeat") && note.contains("line 3"),
            "{note}"
        );
        assert!(
            note.contains("2 rows step back") && note.contains("line 5"),
            "{note}"
        );
        assert_eq!(parse("100,1\n160,2\n", false).unwrap().order.note(), None);
        // --strict-time: the old refusal of a step back (repeats stay allowed).
        let e = parse(text, true).unwrap_err();
        assert!(e.starts_with("line 5:") && e.contains("earlier"), "{e}");
        assert_eq!(parse("100,1\n100,2\n", true).unwrap().rows.len(), 2);
    }

    #[test]
    fn every_detector_scores_every_row_of_an_unordered_file_in_range() {
        // A day of minutes, then the same day again (two exports merged), then repeats.
        let mut text = String::from("timestamp,value\n");
        for pass in 0..3 {
            for i in 0..1440 {
                let t = 1_400_000_000 + i * 60 - pass * 30;
                text.push_str(&format!("{t},{}\n", (i % 97) as f64 + pass as f64));
                if i % 100 == 0 {
                    text.push_str(&format!("{t},{}\n", i % 13));
                }
            }
        }
        let p = parse(&text, false).unwrap();
        assert_eq!(p.order.backwards, 2);
        assert!(p.order.repeated >= 40);
        for s in crate::anomaly::ALL {
            let mut d = crate::anomaly::build(s.name, &Default::default()).unwrap();
            let out = score(&p.rows, &mut *d);
            let scores: Vec<f64> = out
                .lines()
                .skip(1)
                .map(|l| l.rsplit(',').next().unwrap().parse().unwrap())
                .collect();
            assert_eq!(scores.len(), p.rows.len(), "{}", s.name);
            assert!(
                scores.iter().all(|x| (0.0..=1.0).contains(x)),
                "{} out of range",
                s.name
            );
        }
    }

    #[test]
    fn output_echoes_rows_with_scores() {
        let rows = rows_of("timestamp,value\n2014-07-01 00:00:00,1\n2014-07-01 00:05:00,2\n");
        let mut d = crate::anomaly::build("zscore", &Default::default()).unwrap();
        let out = score(&rows, &mut *d);
        assert_eq!(
            out,
            "timestamp,value,anomaly_score\n2014-07-01 00:00:00,1,0\n2014-07-01 00:05:00,2,0\n"
        );
    }
}
