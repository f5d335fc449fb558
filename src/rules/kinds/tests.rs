//! Decoding rule kinds: good rules, every bad value with its message and position, the
//! framework's placement rules (one input, alerting rules only, no datasource group), and the
//! example and test files run through `telltale test rules`.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::{Input, Output, Spec};
use crate::model::Labels;
use crate::promql::{Plan, Sample};
use crate::rules::alert::output::RestoreOptions;
use crate::rules::alert::EvalInput;
use crate::rules::engine::{Engine, LogSink, Options};
use crate::rules::eval::{eval_group_mem, Env, RuleState};
use crate::rules::file::expr::Expr;
use crate::rules::file::RuleFile;
use crate::rules::file::{parse, parse_with};
use crate::rules::promtool;
use crate::store::memstore::MemStore;
use crate::store::select::Queryable;
use crate::store::{Limits, Store};

fn errors(text: &str) -> Vec<String> {
    match parse("r.yml", text) {
        Ok(_) => Vec::new(),
        Err(d) => d.iter().map(|x| x.to_string()).collect(),
    }
}

/// One rule whose body (indented as under `- alert: A`) follows.
fn rule(body: &str) -> String {
    format!("groups:\n  - name: g\n    rules:\n      - alert: A\n{body}")
}

const GOOD: &str = r#"groups:
  - name: g
    rules:
      - alert: Compound
        correlate:
          inputs:
            err: job:errors:ratio
            cpu: zabbix_cpu_load
          on: [instance]
          window: 10s
          condition: err > 0.5 && cpu > 4
        for: 1m
        no_data: alerting
        labels: {severity: page}
        annotations: {summary: "err {{ $inputs.err }} cpu {{ .Inputs.cpu }}"}
      - alert: Together
        correlation:
          x: rate(errors_total[5m])
          y: latency_seconds
          window: 30m
          step: 30s
          method: spearman
          max_lag: 5m
          threshold: 0.8
          abs: true
          min_points: 20
"#;

#[test]
fn good_kind_rules_decode() {
    let rf = parse("r.yml", GOOD).unwrap();
    let [c, r] = &rf.groups[0].rules[..] else {
        panic!()
    };
    assert!(c.expr.is_kind() && r.expr.is_kind());
    assert_eq!(c.no_data, Some(crate::rules::alert::Policy::Alerting));
    assert_eq!(c.for_, std::time::Duration::from_secs(60));
    assert_eq!(
        c.expr_text,
        "correlate: {err: job:errors:ratio, cpu: zabbix_cpu_load} on (instance) within 10s if err > 0.5 && cpu > 4"
    );
    assert_eq!(c.expr.plans().len(), 2);
    assert_eq!(
        r.expr_text,
        "correlation: spearman of x: rate(errors_total[5m]), y: latency_seconds over 30m, max lag 5m: |r| >= 0.8"
    );
    // Defaults: window 1m; no `on`.
    let text = rule("        correlate: {inputs: {a: up}, condition: a == 0}\n");
    let rf = parse("r.yml", &text).unwrap();
    assert_eq!(
        rf.groups[0].rules[0].expr_text,
        "correlate: {a: up} within 1m if a == 0"
    );
    let text = rule("        correlation: {x: a, y: b}\n");
    let rf = parse("r.yml", &text).unwrap();
    assert_eq!(
        rf.groups[0].rules[0].expr_text,
        "correlation: pearson of x: a, y: b over 30m, max lag 0s: r >= 0.7"
    );
}

#[test]
fn kind_rules_are_local_even_with_a_config_wide_datasource() {
    let text = "groups:\n  - name: g\n    rules:\n      - {alert: A, correlate: {inputs: {a: up}, condition: a == 0}}\n      - {alert: B, expr: 'hour() > 3'}\n";
    let rf = parse_with("r.yml", text, true).unwrap();
    assert!(rf.groups[0].rules[0].expr.is_kind());
    assert!(matches!(rf.groups[0].rules[1].expr, Expr::Remote));
}

#[test]
fn placement_problems() {
    let cases: &[(&str, &str)] = &[
        (
            "        expr: up\n        correlate: {inputs: {a: up}, condition: a > 0}\n",
            r#"r.yml:6:9: group "g", rule 1, "A": only one of 'expr' and 'correlate' must be set"#,
        ),
        (
            "        correlate: {inputs: {a: up}, condition: a > 0}\n        correlation: {x: a, y: b}\n",
            r#"r.yml:5:9: group "g", rule 1, "A": only one of 'correlation' and 'correlate' must be set"#,
        ),
        (
            "        for: 1m\n",
            r#"r.yml:4:14: group "g", rule 1, "A": field 'expr' must be set in rule"#,
        ),
    ];
    for (body, want) in cases {
        assert_eq!(errors(&rule(body)), [*want], "{body}");
    }
    let rec =
        "groups:\n  - name: g\n    rules:\n      - record: r\n        correlation: {x: a, y: b}\n";
    assert_eq!(
        errors(rec),
        [r#"r.yml:5:9: group "g", rule 1, "r": invalid field 'correlation' in recording rule"#]
    );
    let ds = "groups:\n  - name: g\n    datasource: {url: 'http://h:9090'}\n    rules:\n      - alert: A\n        correlate: {inputs: {a: up}, condition: a > 0}\n";
    assert_eq!(
        errors(ds),
        [
            r#"r.yml:6:9: group "g", rule 1, "A": correlate rules evaluate locally, over telltale's samples; they cannot be in a group with a datasource"#
        ]
    );
}

#[test]
fn bad_correlate_values_are_positioned() {
    let p = r#"group "g", rule 1, "A": correlate"#;
    let cases: Vec<(&str, String)> = vec![
        ("        correlate: 5\n", format!("r.yml:5:20: {p}: expected a mapping, found a scalar")),
        ("        correlate: {condition: 'x > 1'}\n", format!("r.yml:5:20: {p}: field 'inputs' must be set")),
        ("        correlate: {inputs: {a: up}}\n", format!("r.yml:5:20: {p}: field 'condition' must be set")),
        ("        correlate: {inputs: {}, condition: 'true'}\n", format!("r.yml:5:29: {p}: inputs: at least one input is needed")),
        ("        correlate: {inputs: [up], condition: 'true'}\n", format!("r.yml:5:29: {p}: inputs: expected a mapping, found a sequence")),
        ("        correlate: {inputs: {a-b: up}, condition: 'true'}\n", format!("r.yml:5:30: {p}: inputs: invalid input name \"a-b\" (want [a-zA-Z_][a-zA-Z0-9_]*)")),
        ("        correlate: {inputs: {true: up}, condition: 'true'}\n", format!("r.yml:5:30: {p}: inputs: invalid input name \"true\" (want [a-zA-Z_][a-zA-Z0-9_]*)")),
        ("        correlate: {inputs: {a: 'sum(up'}, condition: a > 0}\n", format!("r.yml:5:33: {p}: inputs: a: could not parse expression: ")),
        ("        correlate: {inputs: {a: ''}, condition: a > 0}\n", format!("r.yml:5:33: {p}: inputs: a: must not be empty")),
        ("        correlate: {inputs: {a: up}, condition: a > 0, on: [instance, instance]}\n", format!("r.yml:5:71: {p}: on: label \"instance\" listed twice")),
        ("        correlate: {inputs: {a: up}, condition: a > 0, on: [__name__]}\n", format!("r.yml:5:61: {p}: on: invalid label name: \"__name__\"")),
        ("        correlate: {inputs: {a: up}, condition: a > 0, on: job}\n", format!("r.yml:5:60: {p}: on: expected a sequence, found a scalar")),
        ("        correlate: {inputs: {a: up}, condition: a > 0, window: 0s}\n", format!("r.yml:5:64: {p}: window: must be greater than 0")),
        ("        correlate: {inputs: {a: up}, condition: a > 0, window: soon}\n", format!("r.yml:5:64: {p}: window: ")),
        ("        correlate: {inputs: {a: up}, condition: a > 0, extra: 1}\n", format!("r.yml:5:56: {p}: unknown field \"extra\" in correlate")),
        ("        correlate: {inputs: {a: up}, condition: 'a > (0'}\n", format!("r.yml:5:49: {p}: condition: could not parse: ")),
        ("        correlate: {inputs: {a: up}, condition: 'b > 0'}\n", format!("r.yml:5:49: {p}: condition: unknown input \"b\" (inputs: a)")),
        ("        correlate: {inputs: {a: up}, condition: 'a = 1'}\n", format!("r.yml:5:49: {p}: condition: must not assign (to \"a\")")),
        ("        correlate: {inputs: {a: up}, condition: 'nope(a) > 1'}\n", format!("r.yml:5:49: {p}: condition: unknown function \"nope\"")),
        ("        correlate: {inputs: {a: up}, condition: 'a + 1'}\n", format!("r.yml:5:49: {p}: condition: must give true or false (with every input at 1 it gives 2")),
        ("        correlate: {inputs: {a: up}, condition: 'a > \"x\"'}\n", format!("r.yml:5:49: {p}: condition: with every input at 1: ")),
        ("        correlate: {inputs: {a: up}, condition: ''}\n", format!("r.yml:5:49: {p}: condition: must not be empty")),
    ];
    check(&cases);
}

#[test]
fn bad_correlation_values_are_positioned() {
    let p = r#"group "g", rule 1, "A": correlation"#;
    let cases: Vec<(&str, String)> = vec![
        (
            "        correlation: {y: b}\n",
            format!("r.yml:5:22: {p}: field 'x' must be set"),
        ),
        (
            "        correlation: {x: a}\n",
            format!("r.yml:5:22: {p}: field 'y' must be set"),
        ),
        (
            "        correlation: {x: 'rate(a)', y: b}\n",
            format!("r.yml:5:26: {p}: x: could not parse expression: "),
        ),
        (
            "        correlation: {x: a, y: b, window: -1m}\n",
            format!("r.yml:5:43: {p}: window: "),
        ),
        (
            "        correlation: {x: a, y: b, step: 0s}\n",
            format!("r.yml:5:41: {p}: step: must be greater than 0"),
        ),
        (
            "        correlation: {x: a, y: b, method: kendall}\n",
            format!(
                "r.yml:5:43: {p}: method: unknown method \"kendall\" (want pearson or spearman)"
            ),
        ),
        (
            "        correlation: {x: a, y: b, window: 10m, max_lag: 10m}\n",
            format!("r.yml:5:57: {p}: max_lag: must be shorter than the window"),
        ),
        (
            "        correlation: {x: a, y: b, threshold: 1.5}\n",
            format!("r.yml:5:46: {p}: threshold: must be within [-1, 1]"),
        ),
        (
            "        correlation: {x: a, y: b, threshold: -0.5, abs: true}\n",
            format!("r.yml:5:46: {p}: threshold: must be >= 0 with abs: true"),
        ),
        (
            "        correlation: {x: a, y: b, threshold: high}\n",
            format!("r.yml:5:46: {p}: threshold: expected a number"),
        ),
        (
            "        correlation: {x: a, y: b, abs: 1}\n",
            format!("r.yml:5:40: {p}: abs: expected true or false"),
        ),
        (
            "        correlation: {x: a, y: b, min_points: 2}\n",
            format!("r.yml:5:47: {p}: min_points: must be at least 3"),
        ),
        (
            "        correlation: {x: a, y: b, on: [a, a]}\n",
            format!("r.yml:5:43: {p}: on: label \"a\" listed twice"),
        ),
        (
            "        correlation: {x: a, y: b, z: c}\n",
            format!("r.yml:5:35: {p}: unknown field \"z\" in correlation"),
        ),
    ];
    check(&cases);
}

/// Each rule body gives exactly one problem, starting with the text given.
fn check(cases: &[(&str, String)]) {
    let mut bad = Vec::new();
    for (body, want) in cases {
        let e = errors(&rule(body));
        if !(e.len() == 1 && e[0].starts_with(want.as_str())) {
            bad.push(format!("{body}want {want}\n got {e:?}"));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

/// Every `*_test.yml` under `dir` (relative to the crate) passes `telltale test rules`.
fn run_dir(dir: &str) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with("_test.yml"))
        .collect();
    files.sort();
    for f in &files {
        let out = promtool::run_file(f);
        assert!(
            out.errors.is_empty(),
            "{}:\n{}",
            f.display(),
            out.errors.join("\n")
        );
    }
    files.len()
}

#[test]
fn example_and_test_files_pass() {
    assert!(run_dir("rules/extensions") >= 2);
    assert!(run_dir("tests/rules/extensions") >= 2);
}

// The framework for kinds that learn, with a test kind that counts its evaluations: the
// running engine evaluates it, writes its series with their HELP, saves what it learnt in the
// state file and gives it back on restart and on reload; `telltale test rules`' evaluation
// (`eval_group_mem`) goes through the same trait.

/// Fires once it has seen `after` evaluations; exports the count (under a metric `correlation`
/// registers, so it has a HELP text here).
#[derive(Debug)]
struct CountSpec {
    after: u64,
}

#[derive(Debug)]
struct Count {
    spec: Arc<CountSpec>,
    seen: u64,
}

impl Spec for CountSpec {
    fn build(self: Arc<Self>, _rule: &str) -> Box<dyn Input> {
        Box::new(Count {
            spec: self,
            seen: 0,
        })
    }
    fn plans(&self) -> Vec<&Plan> {
        Vec::new()
    }
    fn text(&self) -> String {
        format!("count to {}", self.after)
    }
}

impl Input for Count {
    fn eval(&mut self, _t: i64, _q: &dyn Queryable) -> Output {
        self.seen += 1;
        let labels: Labels = vec![("k".into(), "v".into())];
        let present = if self.seen >= self.spec.after {
            vec![Sample {
                labels: labels.clone(),
                value: self.seen as f64,
            }]
        } else {
            Vec::new()
        };
        let mut out = Output::new(EvalInput::Ok(present));
        let mut series = labels;
        series.push(("__name__".into(), super::correlation::LAG_METRIC.into()));
        series.sort();
        out.series.push((series, self.seen as f64));
        out
    }
    fn save(&self) -> Option<serde_json::Value> {
        Some(serde_json::json!({ "seen": self.seen }))
    }
    fn restore(&mut self, v: &serde_json::Value) -> Result<(), String> {
        self.seen = v["seen"].as_u64().ok_or("no count")?;
        Ok(())
    }
}

fn file(after: u64) -> RuleFile {
    let text = "groups:\n  - name: g\n    rules:\n      - alert: Counted\n        correlate: {inputs: {a: up}, condition: a > 0}\n        annotations: {n: '{{ $value }}'}\n";
    let mut rf = parse("r.yml", text).unwrap();
    rf.groups[0].rules[0].expr = Expr::Kind(Arc::new(CountSpec { after }));
    rf
}

fn engine(after: u64, store: &Arc<Store>) -> Engine {
    let opts = Options {
        default_interval: Duration::from_secs(1),
        env: Env::default(),
        resend_delay: Duration::from_secs(60),
        restore: RestoreOptions::default(),
    };
    Engine::new(
        vec![file(after)],
        opts,
        Arc::clone(store),
        Arc::new(LogSink),
        None,
    )
    .unwrap()
}

fn seen(e: &Engine) -> serde_json::Value {
    let g = e.groups[0].state();
    g.rules[0].kind.as_ref().unwrap().save().unwrap()
}

#[test]
fn learnt_state_survives_restart_and_reload() {
    let store = Arc::new(Store::new(Limits {
        retention_ms: 3_600_000,
        max_series: 1000,
        max_samples: crate::store::DEFAULT_MAX_SAMPLES,
    }));
    let e = engine(3, &store);
    let g = Arc::clone(&e.groups[0]);
    for t in [1_000, 2_000] {
        e.eval_group(&g, t, None);
    }
    assert_eq!(
        g.state().rules[0].alert.as_ref().unwrap().alerts().count(),
        0
    );
    // The kind's series is in the store (so on /metrics) with the registered HELP.
    let fams = store.latest_families();
    let lag = (fams.iter())
        .find(|f| f.name == super::correlation::LAG_METRIC)
        .expect("kind series written");
    assert!(lag.help.starts_with("The lag of telltale_correlation"));
    assert_eq!(lag.samples[0].value, 2.0);

    let path =
        std::env::temp_dir().join(format!("telltale-kind-state-{}.json", std::process::id()));
    e.save_state(&path, 2_000).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(r#""kind_state":{"seen":2}"#), "{text}");

    // A restart: the count goes on from 2, so the third evaluation fires.
    let e2 = engine(3, &store);
    e2.restore_state(&path, 3_000);
    assert_eq!(seen(&e2), serde_json::json!({"seen": 2}));
    let g2 = Arc::clone(&e2.groups[0]);
    e2.eval_group(&g2, 3_000, None);
    let st = g2.state();
    let a: Vec<_> = st.rules[0]
        .alert
        .as_ref()
        .unwrap()
        .alerts()
        .cloned()
        .collect();
    assert_eq!(a.len(), 1);
    assert_eq!(crate::model::labels::get(&a[0].annotations, "n"), Some("3"));
    drop(st);

    // A reload keeps the rule, and what it learnt.
    let e3 = engine(3, &store);
    e3.adopt(&e2, 4_000);
    assert_eq!(seen(&e3), serde_json::json!({"seen": 3}));
    let _ = std::fs::remove_file(path);
}

#[test]
fn unit_test_evaluation_goes_through_the_trait() {
    let rf = file(2);
    let g = &rf.groups[0];
    let mut st = vec![RuleState::new(&g.rules[0], 0, &Env::default()).unwrap()];
    let mut s = MemStore::new();
    eval_group_mem(g, &mut st, 0, &mut s);
    eval_group_mem(g, &mut st, 1_000, &mut s);
    assert_eq!(st[0].alert.as_ref().unwrap().alerts().count(), 1);
    let m = crate::store::select::Matcher {
        name: "__name__".into(),
        op: crate::store::select::MatchOp::Eq(super::correlation::LAG_METRIC.into()),
    };
    assert_eq!(
        s.select(&[m], 0, 1_000)[0].samples,
        [(0, 1.0), (1_000, 2.0)]
    );
}
