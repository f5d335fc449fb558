//! `telltale test rules`: runs `promtool test rules` files unchanged, with promtool's semantics
//! (cmd/promtool/unittest.go): every rule group is evaluated at each `evaluation_interval` step
//! from 0 to the largest `eval_time`; an alert test at `eval_time` looks at the evaluation at
//! `ts <= eval_time < ts + interval` and sees only firing alerts; expression tests run after all
//! evaluations, at their exact `eval_time`, over the inputs plus everything the rules wrote.

pub mod series;
pub mod testfile;

use std::path::Path;
use std::time::Duration;

use self::series::Item;
use self::testfile::{AlertTest, TestFile, TestGroup};
use super::alert::AlertState;
use super::eval::{eval_group_mem, Env, RuleState};
use super::file::globs;
use super::file::{self, Group, Kind, RuleFile};
use crate::model::labels;
use crate::model::Labels;
use crate::promql;
use crate::promql::Value;
use crate::store::memstore::MemStore;

/// The result of one test file: no errors means it passed.
pub struct Outcome {
    pub errors: Vec<String>,
}

/// Loads and runs one test file.
pub fn run_file(path: &Path) -> Outcome {
    let fail = |errors: Vec<String>| Outcome { errors };
    let name = path.display().to_string();
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => return fail(vec![format!("  cannot read {name}: {e}")]),
    };
    let tf = match testfile::parse(&name, &text) {
        Ok(t) => t,
        Err(diags) => return fail(diags.iter().map(|d| format!("  {d}")).collect()),
    };
    let base = path.parent().unwrap_or(Path::new("."));
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for pattern in &tf.rule_files {
        match globs::resolve(base, pattern) {
            Ok(paths) => {
                for p in paths {
                    match file::load(&p).and_then(file::RuleFile::local_only) {
                        Ok(rf) => files.push(rf),
                        Err(diags) => errors.extend(diags.iter().map(|d| format!("  {d}"))),
                    }
                }
            }
            Err(e) => errors.push(format!("  {e}")),
        }
    }
    if !errors.is_empty() {
        return fail(errors);
    }
    let groups = ordered_groups(&files, &tf.group_eval_order);
    for tg in &tf.tests {
        errors.extend(run_group(&tf, tg, &groups));
    }
    fail(errors)
}

/// Groups named in `group_eval_order` first, in that order; the rest in file order.
fn ordered_groups<'a>(files: &'a [RuleFile], order: &[String]) -> Vec<&'a Group> {
    let mut all: Vec<&Group> = files.iter().flat_map(|f| f.groups.iter()).collect();
    all.sort_by_key(|g| {
        order
            .iter()
            .position(|n| *n == g.name)
            .unwrap_or(order.len())
    });
    all
}

/// Go's `time.Duration` formatting for whole milliseconds (`0s`, `1m0s`, `1h2m3s`, `500ms`).
fn go_duration(ms: i64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let (h, m, s) = (ms / 3_600_000, ms / 60_000 % 60, ms % 60_000);
    let secs = if s % 1000 == 0 {
        format!("{}s", s / 1000)
    } else {
        format!("{}s", s as f64 / 1000.0)
    };
    match (h, m) {
        (0, 0) => secs,
        (0, m) => format!("{m}m{secs}"),
        (h, m) => format!("{h}h{m}m{secs}"),
    }
}

fn ms(d: Duration) -> i64 {
    d.as_millis() as i64
}

/// The input series, parsed; their samples enter the store as evaluation reaches them.
struct Inputs {
    series: Vec<(Labels, Vec<(i64, f64)>)>,
    /// Per series, how many samples are in the store.
    fed: Vec<usize>,
}

impl Inputs {
    fn parse(tg: &TestGroup, interval: i64) -> Result<Inputs, String> {
        let mut series = Vec::new();
        for s in &tg.input_series {
            let at = |e: String| format!("{}:{}: {e}", s.pos.line, s.pos.col);
            let labels = series::parse_metric(&s.series).map_err(at)?;
            let values = series::parse_values(&s.values).map_err(at)?;
            let samples: Vec<(i64, f64)> = (0i64..)
                .zip(values)
                .filter_map(|(i, item)| match item {
                    Item::Value(v) => Some((i * interval, v)),
                    Item::Omitted => None,
                })
                .collect();
            series.push((labels, samples));
        }
        let fed = vec![0; series.len()];
        Ok(Inputs { series, fed })
    }

    /// promtool loads input lazily (`WithSamplesTill`): at a step `ts` only samples at or
    /// before `ts` exist, so a negative offset or a future `@` cannot see past the step, and the
    /// expression tests see nothing after the last step.
    fn feed_until(&mut self, ts: i64, store: &mut MemStore) {
        for ((labels, samples), fed) in self.series.iter().zip(self.fed.iter_mut()) {
            let upto = *fed + samples[*fed..].partition_point(|(t, _)| *t <= ts);
            if upto > *fed {
                let l: Vec<(&str, &str)> = labels
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                store.add(&l, &samples[*fed..upto]);
                *fed = upto;
            }
        }
    }
}

fn run_group(tf: &TestFile, tg: &TestGroup, groups: &[&Group]) -> Vec<String> {
    let eval_every = ms(tf.evaluation_interval);
    let interval = tg.interval.map_or(eval_every, ms);
    let mut inputs = match Inputs::parse(tg, interval) {
        Ok(s) => s,
        Err(e) => return vec![format!("    {e}")],
    };
    let mut store = MemStore::new();
    let name = if tg.name.is_empty() {
        String::new()
    } else {
        format!("    name: {},\n", tg.name)
    };
    let env = Env {
        external_labels: std::sync::Arc::new(tg.external_labels.iter().cloned().collect()),
        external_url: tg.external_url.clone(),
    };
    let maxt = tg
        .alert_rule_test
        .iter()
        .map(|t| ms(t.eval_time))
        .chain(tg.promql_expr_test.iter().map(|t| ms(t.eval_time)))
        .max()
        .unwrap_or(0);
    let mut alert_times: Vec<i64> = tg.alert_rule_test.iter().map(|t| ms(t.eval_time)).collect();
    alert_times.sort();
    alert_times.dedup();
    let states: Result<Vec<Vec<RuleState>>, String> = groups
        .iter()
        .map(|g| {
            g.rules
                .iter()
                .map(|r| RuleState::new(r, g.limit, &env))
                .collect()
        })
        .collect();
    let mut states = match states {
        Ok(s) => s,
        Err(e) => return vec![format!("    {e}")],
    };
    let mut errs = Vec::new();
    let mut curr = 0;
    let mut ts = 0;
    while ts <= maxt {
        inputs.feed_until(ts, &mut store);
        let mut eval_errs = Vec::new();
        for (g, st) in groups.iter().zip(states.iter_mut()) {
            for (rule, e) in eval_group_mem(g, st, ts, &mut store) {
                eval_errs.push(format!(
                    "    rule: {rule}, time: {}, err: {e}",
                    go_duration(ts)
                ));
            }
        }
        if !eval_errs.is_empty() {
            errs.extend(eval_errs);
            return errs;
        }
        while curr < alert_times.len()
            && ts <= alert_times[curr]
            && alert_times[curr] < ts + eval_every
        {
            let t = alert_times[curr];
            for test in tg.alert_rule_test.iter().filter(|x| ms(x.eval_time) == t) {
                if let Some(e) = check_alerts(test, groups, &states) {
                    errs.push(format!("{name}{e}"));
                }
            }
            curr += 1;
        }
        ts += eval_every;
    }
    for test in &tg.promql_expr_test {
        if let Some(e) = check_expr(test, &store) {
            errs.push(format!("{name}{e}"));
        }
    }
    errs
}

/// `(labels, annotations)` of one alert, compared and printed as promtool does.
type LabelsAndAnnotations = (Labels, Labels);

fn sorted(mut l: Vec<(String, String)>) -> Labels {
    l.sort();
    l
}

fn check_alerts(test: &AlertTest, groups: &[&Group], states: &[Vec<RuleState>]) -> Option<String> {
    let mut got: Vec<LabelsAndAnnotations> = Vec::new();
    for (g, st) in groups.iter().zip(states) {
        for (rule, rs) in g.rules.iter().zip(st) {
            if rule.kind != Kind::Alert || rule.name != test.alertname {
                continue;
            }
            let alerts = rs.alert.iter().flat_map(|a| a.alerts());
            for a in alerts.filter(|a| a.state == AlertState::Firing) {
                got.push((a.labels.clone(), sorted(a.annotations.clone())));
            }
        }
    }
    let mut exp: Vec<LabelsAndAnnotations> = test
        .exp_alerts
        .iter()
        .map(|a| {
            let mut l: Vec<(String, String)> = a
                .exp_labels
                .iter()
                .filter(|(k, _)| k != "alertname")
                .cloned()
                .collect();
            l.push(("alertname".into(), test.alertname.clone()));
            (sorted(l), sorted(a.exp_annotations.clone()))
        })
        .collect();
    got.sort();
    exp.sort();
    if got == exp {
        return None;
    }
    Some(format!(
        "    alertname: {}, time: {}, \n        exp:{}, \n        got:{}",
        test.alertname,
        crate::config::yaml::format_duration(test.eval_time),
        indent_lines(&alerts_string(&exp), "            "),
        indent_lines(&alerts_string(&got), "            "),
    ))
}

fn indent_lines(s: &str, indent: &str) -> String {
    s.split('\n')
        .collect::<Vec<_>>()
        .join(&format!("\n{indent}"))
}

fn alerts_string(la: &[LabelsAndAnnotations]) -> String {
    if la.is_empty() {
        return "[]".into();
    }
    let items: Vec<String> = la
        .iter()
        .enumerate()
        .map(|(i, (l, a))| {
            let body = format!(
                "\nLabels:{}\nAnnotations:{}",
                labels::fmt_labels(l),
                labels::fmt_labels(a)
            );
            format!("{i}:{}", indent_lines(&body, "  "))
        })
        .collect();
    format!("[\n{}\n]", items.join(",\n"))
}

/// Go's `strconv.FormatFloat(v, 'E', -1, 64)`: `3E+00`, `1.5E-07`, `+Inf`.
pub fn go_float_e(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    let s = format!("{v:E}");
    let (mant, e) = s.split_once('E').unwrap_or((&s, "0"));
    let (sign, digits) = e.strip_prefix('-').map_or(("+", e), |d| ("-", d));
    format!("{mant}E{sign}{digits:0>2}")
}

fn samples_string(s: &[(Labels, f64)]) -> String {
    if s.is_empty() {
        return "nil".into();
    }
    let parts: Vec<String> = s
        .iter()
        .map(|(l, v)| format!("{} {}", labels::fmt_labels(l), go_float_e(*v)))
        .collect();
    parts.join(", ")
}

fn check_expr(test: &testfile::ExprTest, store: &MemStore) -> Option<String> {
    let time = crate::config::yaml::format_duration(test.eval_time);
    let head = format!("    expr: {:?}, time: {time}", test.expr);
    let got = promql::parse(&test.expr)
        .map_err(|e| format!("1:1: parse error: {e}"))
        .and_then(|p| promql::eval_instant(&p, ms(test.eval_time), store).map_err(|e| e.0))
        .and_then(|v| match v {
            Value::Vector(v) => Ok(v.into_iter().map(|s| (s.labels, s.value)).collect()),
            Value::Scalar(v) => Ok(vec![(Vec::new(), v)]),
            _ => Err("rule result is not a vector or scalar".into()),
        });
    let mut got: Vec<(Labels, f64)> = match got {
        Ok(g) => g,
        Err(e) => return Some(format!("{head}, err: {e}")),
    };
    let mut exp = Vec::new();
    for s in &test.exp_samples {
        match series::parse_metric(&s.labels) {
            Ok(l) => exp.push((l, s.value)),
            Err(e) => return Some(format!("{head}, err: labels {:?}: {e}", s.labels)),
        }
    }
    let by_labels = |a: &(Labels, f64), b: &(Labels, f64)| a.0.cmp(&b.0);
    got.sort_by(by_labels);
    exp.sort_by(by_labels);
    // Exact comparison, as promtool's reflect.DeepEqual: NaN never equals NaN.
    let same =
        got.len() == exp.len() && got.iter().zip(&exp).all(|(g, e)| g.0 == e.0 && g.1 == e.1);
    if same {
        return None;
    }
    Some(format!(
        "{head},\n        exp: {}\n        got: {}",
        samples_string(&exp),
        samples_string(&got)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_formats() {
        assert_eq!(go_float_e(3.0), "3E+00");
        assert_eq!(go_float_e(1234.5), "1.2345E+03");
        assert_eq!(go_float_e(-0.00015), "-1.5E-04");
        assert_eq!(go_duration(0), "0s");
        assert_eq!(go_duration(60_000), "1m0s");
        assert_eq!(go_duration(3_723_000), "1h2m3s");
        assert_eq!(go_duration(1_500), "1.5s");
    }
}
