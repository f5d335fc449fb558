//! The `promtool test rules` file format, decoded strictly (like promtool's `UnmarshalStrict`).

use std::time::Duration;

use crate::config::yaml;
use crate::config::yaml::{Decoder, Diag, Node, Pos};

#[derive(Clone, Debug)]
pub struct TestFile {
    pub rule_files: Vec<String>,
    pub evaluation_interval: Duration,
    /// Group names in the order they run at each evaluation; the others follow in file order.
    pub group_eval_order: Vec<String>,
    pub tests: Vec<TestGroup>,
}

#[derive(Clone, Debug, Default)]
pub struct TestGroup {
    pub name: String,
    /// Spacing of input samples; defaults to the evaluation interval.
    pub interval: Option<Duration>,
    pub input_series: Vec<InputSeries>,
    pub alert_rule_test: Vec<AlertTest>,
    pub promql_expr_test: Vec<ExprTest>,
    pub external_labels: Vec<(String, String)>,
    pub external_url: String,
}

#[derive(Clone, Debug)]
pub struct InputSeries {
    pub series: String,
    pub values: String,
    pub pos: Pos,
}

#[derive(Clone, Debug)]
pub struct AlertTest {
    pub eval_time: Duration,
    pub alertname: String,
    pub exp_alerts: Vec<ExpAlert>,
}

#[derive(Clone, Debug, Default)]
pub struct ExpAlert {
    pub exp_labels: Vec<(String, String)>,
    pub exp_annotations: Vec<(String, String)>,
}

#[derive(Clone, Debug)]
pub struct ExprTest {
    pub expr: String,
    pub eval_time: Duration,
    pub exp_samples: Vec<ExpSample>,
}

#[derive(Clone, Debug)]
pub struct ExpSample {
    pub labels: String,
    pub value: f64,
}

pub fn parse(file: &str, text: &str) -> Result<TestFile, Vec<Diag>> {
    let root = yaml::parse(file, text).map_err(|d| vec![d])?;
    let mut d = Decoder::new(file);
    let tf = decode(&mut d, &root);
    if d.ok() {
        Ok(tf)
    } else {
        Err(d.diags)
    }
}

fn decode(d: &mut Decoder, root: &Node) -> TestFile {
    let mut tf = TestFile {
        rule_files: Vec::new(),
        evaluation_interval: Duration::from_secs(60),
        group_eval_order: Vec::new(),
        tests: Vec::new(),
    };
    let Some(mut f) = d.map(root, "") else {
        return tf;
    };
    if let Some(n) = f.get("rule_files") {
        tf.rule_files = d.string_list(n, "rule_files");
    }
    if let Some(n) = f.get("evaluation_interval") {
        if let Some(v) = d.duration(n, "evaluation_interval") {
            if v.is_zero() {
                d.error(n.pos, "evaluation_interval", "must be greater than 0");
            }
            tf.evaluation_interval = v;
        }
    }
    if let Some(n) = f.get("group_eval_order") {
        tf.group_eval_order = d.string_list(n, "group_eval_order");
    }
    if let Some(n) = f.get("tests") {
        for (i, t) in d.seq(n, "tests").iter().enumerate() {
            tf.tests.push(decode_group(d, t, &format!("tests[{i}]")));
        }
    }
    f.finish(d, "test file");
    tf
}

fn decode_group(d: &mut Decoder, n: &Node, path: &str) -> TestGroup {
    let mut g = TestGroup::default();
    let Some(mut f) = d.map(n, path) else {
        return g;
    };
    if let Some(v) = f.get("name") {
        g.name = d.string(v, &f.at("name")).unwrap_or_default();
    }
    if let Some(v) = f.get("interval") {
        g.interval = d.duration(v, &f.at("interval"));
        if g.interval == Some(Duration::ZERO) {
            d.error(v.pos, &f.at("interval"), "must be greater than 0");
        }
    }
    if let Some(v) = f.get("external_labels") {
        g.external_labels = d.string_map(v, &f.at("external_labels"));
    }
    if let Some(v) = f.get("external_url") {
        g.external_url = d.string(v, &f.at("external_url")).unwrap_or_default();
    }
    if let Some(v) = f.get("input_series") {
        let p = f.at("input_series");
        for (i, s) in d.seq(v, &p).iter().enumerate() {
            let p = format!("{p}[{i}]");
            let Some(mut sf) = d.map(s, &p) else { continue };
            let series = sf.get("series").and_then(|x| d.string(x, &sf.at("series")));
            let values = sf.get("values").and_then(|x| d.string(x, &sf.at("values")));
            sf.finish(d, "input series");
            g.input_series.push(InputSeries {
                series: series.unwrap_or_default(),
                values: values.unwrap_or_default(),
                pos: s.pos,
            });
        }
    }
    if let Some(v) = f.get("alert_rule_test") {
        let p = f.at("alert_rule_test");
        for (i, t) in d.seq(v, &p).iter().enumerate() {
            g.alert_rule_test
                .push(decode_alert_test(d, t, &format!("{p}[{i}]")));
        }
    }
    if let Some(v) = f.get("promql_expr_test") {
        let p = f.at("promql_expr_test");
        for (i, t) in d.seq(v, &p).iter().enumerate() {
            g.promql_expr_test
                .push(decode_expr_test(d, t, &format!("{p}[{i}]")));
        }
    }
    f.finish(d, "test group");
    g
}

/// A YAML float, including YAML's `.inf`, `-.inf` and `.nan` spellings.
fn yaml_float(d: &mut Decoder, n: &Node, path: &str) -> Option<f64> {
    match n.scalar() {
        Some(".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF") => Some(f64::INFINITY),
        Some("-.inf" | "-.Inf" | "-.INF") => Some(f64::NEG_INFINITY),
        Some(".nan" | ".NaN" | ".NAN") => Some(f64::NAN),
        _ => d.f64(n, path),
    }
}

fn eval_time(d: &mut Decoder, n: Option<&Node>, path: &str) -> Duration {
    n.and_then(|v| d.duration(v, path)).unwrap_or_default()
}

fn decode_alert_test(d: &mut Decoder, n: &Node, path: &str) -> AlertTest {
    let mut t = AlertTest {
        eval_time: Duration::ZERO,
        alertname: String::new(),
        exp_alerts: Vec::new(),
    };
    let Some(mut f) = d.map(n, path) else {
        return t;
    };
    t.eval_time = eval_time(d, f.get("eval_time"), &f.at("eval_time"));
    if let Some(v) = f.get("alertname") {
        t.alertname = d.string(v, &f.at("alertname")).unwrap_or_default();
    }
    if let Some(v) = f.get("exp_alerts") {
        let p = f.at("exp_alerts");
        for (i, a) in d.seq(v, &p).iter().enumerate() {
            let p = format!("{p}[{i}]");
            let Some(mut af) = d.map(a, &p) else { continue };
            let mut e = ExpAlert::default();
            if let Some(x) = af.get("exp_labels") {
                e.exp_labels = d.string_map(x, &af.at("exp_labels"));
            }
            if let Some(x) = af.get("exp_annotations") {
                e.exp_annotations = d.string_map(x, &af.at("exp_annotations"));
            }
            af.finish(d, "expected alert");
            t.exp_alerts.push(e);
        }
    }
    f.finish(d, "alert test");
    t
}

fn decode_expr_test(d: &mut Decoder, n: &Node, path: &str) -> ExprTest {
    let mut t = ExprTest {
        expr: String::new(),
        eval_time: Duration::ZERO,
        exp_samples: Vec::new(),
    };
    let Some(mut f) = d.map(n, path) else {
        return t;
    };
    if let Some(v) = f.get("expr") {
        t.expr = d.string(v, &f.at("expr")).unwrap_or_default();
    }
    t.eval_time = eval_time(d, f.get("eval_time"), &f.at("eval_time"));
    if let Some(v) = f.get("exp_samples") {
        let p = f.at("exp_samples");
        for (i, s) in d.seq(v, &p).iter().enumerate() {
            let p = format!("{p}[{i}]");
            let Some(mut sf) = d.map(s, &p) else { continue };
            let labels = sf.get("labels").and_then(|x| d.string(x, &sf.at("labels")));
            let value = sf
                .get("value")
                .and_then(|x| yaml_float(d, x, &sf.at("value")));
            sf.finish(d, "expected sample");
            t.exp_samples.push(ExpSample {
                labels: labels.unwrap_or_default(),
                value: value.unwrap_or(0.0),
            });
        }
    }
    f.finish(d, "expression test");
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_every_field_with_defaults() {
        let tf = parse(
            "t.yml",
            "rule_files: [a.yml]
group_eval_order: [g2, g1]
tests:
  - name: one
    interval: 30s
    external_labels: {site: eu}
    external_url: http://x
    input_series:
      - {series: 'up{job=\"a\"}', values: '1 0'}
    alert_rule_test:
      - eval_time: 2m
        alertname: Down
        exp_alerts:
          - exp_labels: {severity: page}
            exp_annotations: {summary: s}
    promql_expr_test:
      - expr: up
        eval_time: 1m
        exp_samples:
          - {labels: 'up{job=\"a\"}', value: .inf}
",
        )
        .unwrap();
        assert_eq!(tf.evaluation_interval, Duration::from_secs(60));
        assert_eq!(tf.group_eval_order, ["g2", "g1"]);
        let g = &tf.tests[0];
        assert_eq!(
            (g.name.as_str(), g.interval),
            ("one", Some(Duration::from_secs(30)))
        );
        assert_eq!(g.external_labels[0].1, "eu");
        assert_eq!(g.input_series[0].values, "1 0");
        assert_eq!(g.input_series[0].pos.line, 9);
        assert_eq!(g.alert_rule_test[0].exp_alerts[0].exp_annotations[0].1, "s");
        assert_eq!(g.promql_expr_test[0].exp_samples[0].value, f64::INFINITY);
    }

    #[test]
    fn unknown_fields_are_errors() {
        let e = parse("t.yml", "tests:\n  - interval: 1m\n    input_serie: []\n").unwrap_err();
        assert_eq!(
            e[0].to_string(),
            "t.yml:3:5: tests[0]: unknown field \"input_serie\" in test group"
        );
    }
}
