//! The framework for kinds that learn, with a test kind that counts its evaluations: the
//! running engine evaluates it, writes its series with their HELP, saves what it learnt in the
//! state file and gives it back on restart and on reload; `telltale test rules`' evaluation
//! (`eval_group_mem`) goes through the same trait.

use std::sync::Arc;
use std::time::Duration;

use super::{Input, Output, Spec};
use crate::exposition::Labels;
use crate::promql::{MemStore, Plan, Queryable, Sample};
use crate::rules::alert::EvalInput;
use crate::rules::alert_out::RestoreOptions;
use crate::rules::engine::{Engine, LogSink, Options};
use crate::rules::file::{parse, Expr, RuleFile};
use crate::rules::groupeval::{eval_group_mem, Env, RuleState};
use crate::store::{Limits, Store};

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
    assert_eq!(crate::promql::get(&a[0].annotations, "n"), Some("3"));
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
    let m = crate::promql::Matcher {
        name: "__name__".into(),
        op: crate::promql::MatchOp::Eq(super::correlation::LAG_METRIC.into()),
    };
    assert_eq!(
        s.select(&[m], 0, 1_000)[0].samples,
        [(0, 1.0), (1_000, 2.0)]
    );
}
